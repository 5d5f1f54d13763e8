import { Writable } from "node:stream";
import pino from "pino";
import { AutoMounter } from "../../agent/src/app/automount.js";
import { DetectionService } from "../../agent/src/app/detect.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import { MountService } from "../../agent/src/app/mount.js";
import type { AutoMount } from "../../agent/src/config.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import { type FakeConfig, FakeSystem } from "../../agent/src/system/fake.js";
import { fakeConfig, makeNixosTree, sandbox, type TreeOptions } from "../helpers/fixtures.js";

/** Every log line the services wrote, kept for secret scans. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    this.lines.push(...chunk.toString("utf8").split("\n").filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join("\n");
  }
}

export interface Rig {
  sys: FakeSystem;
  detection: DetectionService;
  mounts: MountService;
  lock: OperationLock;
  auto: AutoMounter;
  logs: LogSink;
  dir: string;
}

export async function rig(
  kase: string,
  opts: { tree?: TreeOptions | false; fake?: Partial<FakeConfig>; autoMount?: AutoMount } = {},
): Promise<Rig> {
  const dir = await sandbox();
  if (opts.tree !== false) await makeNixosTree(`${dir}/mnt`, opts.tree ?? {});
  const sys = new FakeSystem(fakeConfig(kase, dir, opts.fake));
  const logs = new LogSink();
  const log = pino({ level: "trace", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs);
  const detection = new DetectionService(sys, log, "/mnt", 0);
  const lock = new OperationLock();
  const mounts = new MountService(sys, detection, lock, log, "/mnt");
  const auto = new AutoMounter(opts.autoMount ?? "off", mounts, log);
  return { sys, detection, mounts, lock, auto, logs, dir };
}

export function mountedTargets(sys: FakeSystem): string[] {
  return sys.mounts.filter((m) => m.target === "/mnt" || m.target.startsWith("/mnt/")).map((m) => m.target);
}
