import { Writable } from "node:stream";
import pino from "pino";
import type { AutoMounter } from "../../agent/src/app/automount.js";
import type { DetectionService } from "../../agent/src/app/detect.js";
import type { OperationLock } from "../../agent/src/app/lock.js";
import type { MountService } from "../../agent/src/app/mount.js";
import { createServices, type Services } from "../../agent/src/app/services.js";
import type { AutoMount } from "../../agent/src/config.js";
import { buildServer } from "../../agent/src/http/server.js";
import { REDACT_PATHS } from "../../agent/src/logger.js";
import type { checkReach } from "../../agent/src/system/reach.js";
import type { System } from "../../agent/src/system/system.js";
import { type FakeConfig, FakeSystem } from "../helpers/fake-system.js";
import { fakeConfig, makeNixosTree, sandbox, type TreeOptions } from "../helpers/fixtures.js";
import { capture, recordResponses } from "../helpers/secrets.js";

/** Every log line the services wrote, kept for secret scans. */
export class LogSink extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    const text = chunk.toString("utf8");
    capture("log", text);
    this.lines.push(...text.split("\n").filter(Boolean));
    cb();
  }
  get text(): string {
    return this.lines.join("\n");
  }
}

export interface Rig {
  sys: FakeSystem;
  services: Services;
  detection: DetectionService;
  mounts: MountService;
  lock: OperationLock;
  auto: AutoMounter;
  logs: LogSink;
  dir: string;
}

export interface RigOptions {
  tree?: TreeOptions | false;
  fake?: Partial<FakeConfig>;
  autoMount?: AutoMount;
  reach?: typeof checkReach;
  /** The diagnosis in the background after mounts and changes, as the agent does (off by default here). */
  backgroundDiagnosis?: boolean;
}

/** Network check stand-in: tests never reach the internet. */
export const offline: typeof checkReach = async (urls) =>
  urls.map((url) => ({ url, host: new URL(url).hostname, dns: null, http: null, error: "ENOTFOUND", ms: 0 }));

export async function rig(kase: string, opts: RigOptions = {}): Promise<Rig> {
  const dir = await sandbox();
  if (opts.tree !== false) await makeNixosTree(`${dir}/mnt`, opts.tree ?? {});
  const sys = new FakeSystem(fakeConfig(kase, dir, opts.fake));
  const logs = new LogSink();
  const log = pino({ level: "trace", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs);
  const services = createServices(
    sys,
    log,
    {
      root: "/mnt",
      version: "test",
      autoMount: opts.autoMount ?? "off",
      urls: () => ["http://192.0.2.10:8080/"],
      detectionMaxAgeMs: 0,
      jobGraceMs: 200,
      rebootDelayMs: 0,
      backgroundDiagnosis: opts.backgroundDiagnosis ?? false,
    },
    opts.reach ?? offline,
  );
  return {
    sys,
    services,
    detection: services.detection,
    mounts: services.mounts,
    lock: services.lock,
    auto: services.auto,
    logs,
    dir,
  };
}

/** What the seed's server mounts under /mnt, in order. */
export const SEED_TARGETS = ["/mnt", "/mnt/nix", "/mnt/home", "/mnt/var", "/mnt/boot"];
/** The seed's mount request, command by command (program and first argument): import, listing, `/`, `/nix`, the wave. */
export const SEED_MOUNT_COMMANDS = [
  "zpool import",
  "zfs list",
  "mount --no-canonicalize",
  "mount --no-canonicalize",
  "mount --all",
];

export function mountedTargets(sys: FakeSystem): string[] {
  return sys.mounts.filter((m) => m.target === "/mnt" || m.target.startsWith("/mnt/")).map((m) => m.target);
}

/**
 * The agent as the hostile-disk suites drive it (test/app/hostile, test/host/hostile,
 * test/fuzz/api-disk): the services on `sys` (given the logger, for RealSystem), auto-mount off,
 * no detection cache, an info logger with redaction into a LogSink, the HTTP server with every
 * response recorded for the secret scan.
 */
export async function hostileAgent(
  makeSys: (log: pino.Logger) => System,
  token: string,
  o: { root?: string; fileTimeoutMs?: number } = {},
): Promise<{ app: Awaited<ReturnType<typeof buildServer>>; services: Services; logs: LogSink }> {
  const logs = new LogSink();
  const log = pino({ level: "info", redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, logs);
  const services = createServices(
    makeSys(log),
    log,
    {
      root: o.root ?? "/mnt",
      version: "test",
      autoMount: "off",
      urls: () => [],
      detectionMaxAgeMs: 0,
      jobGraceMs: 200,
      fileTimeoutMs: o.fileTimeoutMs,
      backgroundDiagnosis: false,
    },
    offline,
  );
  const app = await buildServer({ token, logger: log, services });
  recordResponses(app);
  return { app, services, logs };
}
