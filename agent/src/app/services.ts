import type { Logger } from "pino";
import type { AutoMount } from "../config.js";
import { parseJobRecord } from "../core/jobrecord.js";
import type { System } from "../system/system.js";
import { AUDIT_DIR, Audit } from "./audit.js";
import { AutoMounter } from "./automount.js";
import { BootService } from "./boot.js";
import { cancellable } from "./cancel.js";
import { RescueContext } from "./context.js";
import { DetectionService } from "./detect.js";
import { DiagnosisService } from "./diagnosis.js";
import { DiagnosisCache } from "./diagnosisCache.js";
import { InstalledSystem } from "./installed.js";
import { JobManager, type JobView } from "./jobs.js";
import { JournalService } from "./journal.js";
import { OperationLock } from "./lock.js";
import { MountService } from "./mount.js";
import { ConfigService } from "./nixconfig.js";
import { PowerService } from "./power.js";
import { ReaderGate } from "./readers.js";
import { RebuildService } from "./rebuild.js";
import { SnapshotService } from "./snapshots.js";
import { SpaceService } from "./space.js";
import { StackService } from "./stacks.js";
import type { AutoMountState } from "./status.js";

export interface Services {
  version: string;
  detection: DetectionService;
  mounts: MountService;
  lock: OperationLock;
  jobs: JobManager;
  audit: Audit;
  boot: BootService;
  config: ConfigService;
  rebuild: RebuildService;
  snapshots: SnapshotService;
  /** A pool's space and the destroy of named snapshots that frees it. */
  space: SpaceService;
  journal: JournalService;
  diagnosis: DiagnosisService;
  /** The diagnosis computed once per state of the installed system (background, cancellable). */
  diagnoses: DiagnosisCache;
  /** Readers of the mounted system, ordered with the changes of the mounts. */
  readers: ReaderGate;
  power: PowerService;
  auto: AutoMounter;
  autoMount: () => AutoMountState;
  urls: () => string[];
  /** SHA-256 fingerprint of the self-signed certificate when HTTPS is on. */
  tls: { fingerprint: string } | null;
}

export interface ServiceOptions {
  root: string;
  version: string;
  autoMount: AutoMount;
  urls: () => string[];
  tlsFingerprint?: string | null;
  /** Detection results younger than this are reused (ms). */
  detectionMaxAgeMs?: number;
  jobGraceMs?: number;
  /** Deadline of each file operation on the installed system (tests shorten it). */
  fileTimeoutMs?: number;
  rebootDelayMs?: number;
  /** Compute the diagnosis in the background after a mount and after each change (default: on). */
  backgroundDiagnosis?: boolean;
}

/** Wiring of every use case on one System (real or fake): used by main and by the tests alike. */
export function createServices(
  machine: System,
  log: Logger,
  o: ServiceOptions,
  reach?: ConstructorParameters<typeof RebuildService>[2],
): Services {
  // Commands a cancelled reader started are stopped (app/cancel.ts); all others run as they are.
  const sys = cancellable(machine);
  const readers = new ReaderGate();
  const detection = new DetectionService(
    sys,
    log.child({ component: "detect" }),
    o.root,
    o.detectionMaxAgeMs ?? 3_000,
  );
  const lock = new OperationLock();
  detection.pauseWhile(() => lock.busy !== null);
  const mounts = new MountService(sys, detection, lock, log.child({ component: "mount" }), o.root, readers);
  const stacks = new StackService(sys, log.child({ component: "stacks" }));
  detection.useStacks(stacks);
  mounts.useStacks(stacks);
  const files = { timeoutMs: o.fileTimeoutMs };
  const writableRoot = async () => {
    const d = await detection.current();
    const m = d.mounts.find((x) => x.target === o.root);
    return m && !m.options.includes("ro") ? new InstalledSystem(sys, o.root, files) : null;
  };
  const audit = new Audit(log.child({ component: "audit" }), writableRoot);
  const mountedRoot = async () =>
    (await detection.current()).mounts.some((x) => x.target === o.root)
      ? new InstalledSystem(sys, o.root, files)
      : null;
  // A job (rebuild, profile switch) changed the installed system: told once the context exists.
  let jobEnded = () => {};
  const jobs = new JobManager(sys, lock, log.child({ component: "jobs" }), {
    graceMs: o.jobGraceMs,
    store: {
      save: async (job) => void (await audit.put(`jobs/${job.id}.json`, `${JSON.stringify(job)}\n`)),
      load: async () => {
        const { files, warnings } = await audit.readAll("jobs", ".json", mountedRoot);
        const jobs: JobView[] = [];
        for (const f of files) {
          try {
            const job = parseJobRecord(f.text);
            if (`${job.id}.json` !== f.name) throw new Error(`it names another job (${job.id})`);
            jobs.push(job);
          } catch (err) {
            warnings.push(`${AUDIT_DIR}/jobs/${f.name} skipped: ${(err as Error).message}`);
          }
        }
        return { jobs, warnings };
      },
    },
    onEnd: async (job, lines) => {
      jobEnded();
      await audit.append(`jobs/${job.id}.log`, lines.map((l) => `${l.at} ${l.stream} ${l.text}\n`).join(""));
      await audit.record({
        who: job.who,
        action: `${job.kind}-end`,
        target: job.title,
        result: job.state === "succeeded" ? "ok" : "failed",
        detail: { job: job.id, state: job.state, exitCode: job.exitCode },
      });
    },
  });
  const ctx = new RescueContext(
    sys,
    detection,
    lock,
    audit,
    log.child({ component: "rescue" }),
    o.root,
    o.fileTimeoutMs,
  );
  const auto = new AutoMounter(o.autoMount, mounts, log.child({ component: "auto-mount" }));
  const boot = new BootService(ctx, jobs);
  const config = new ConfigService(ctx);
  // The snapshots a pending fix of the diagnosis rolls back to: never destroyed to free space.
  const space = new SpaceService(ctx, async () => {
    const d = await diagnoses.get();
    const out = new Map<string, string>();
    for (const p of d.proposals)
      if (p.kind === "snapshot-rollback" && !p.done)
        for (const e of p.evidence)
          if (e.kind === "snapshot") out.set(e.ref, `the diagnosis proposes rolling back to it (${p.id})`);
    return out;
  });
  const diagnosis = new DiagnosisService(ctx, boot, config, space);
  const diagnoses = new DiagnosisCache(
    diagnosis,
    readers,
    lock,
    audit,
    log.child({ component: "diagnosis" }),
    async () => (await detection.current()).mounts.some((x) => x.target === o.root),
  );
  jobEnded = () => ctx.changed();
  // Every change of the installed system makes the diagnosis stale; a mount starts it at once.
  const warm = () => {
    if (o.backgroundDiagnosis !== false) diagnoses.warm();
  };
  ctx.onChanged(() => {
    diagnoses.invalidate();
    warm();
  });
  mounts.observe(async (e) => {
    await audit.record({
      who: e.who,
      action: e.action,
      target: e.target,
      result: e.result,
      detail: e.detail,
    });
    auto.noteChange(e);
    diagnoses.invalidate();
    if (e.result === "ok" && (e.action === "mount" || e.action === "remount-rw")) warm();
  });
  return {
    version: o.version,
    detection,
    mounts,
    lock,
    jobs,
    audit,
    boot,
    config,
    rebuild: new RebuildService(ctx, jobs, reach, () => mounts.lastReport),
    snapshots: new SnapshotService(ctx),
    space,
    journal: new JournalService(ctx),
    diagnosis,
    diagnoses,
    readers,
    power: new PowerService(sys, mounts, jobs, audit, log.child({ component: "power" }), o.rebootDelayMs),
    auto,
    autoMount: () => auto.state,
    urls: o.urls,
    tls: o.tlsFingerprint ? { fingerprint: o.tlsFingerprint } : null,
  };
}
