// Only the two classes used, from the library's own modules: its index (prom-client/index.js)
// also loads every other metric type, the Pushgateway, the cluster aggregator, the default
// Node.js metrics, tdigest/bintrees and @opentelemetry/api (exemplars): ~60 KB of the bundle.
import Gauge from "prom-client/lib/gauge.js";
import Registry from "prom-client/lib/registry.js";
import { type Detection, phaseOf } from "../app/detect.js";
import type { JobView } from "../app/jobs.js";
import type { Services } from "../app/services.js";
import type { AutoMountState } from "../app/status.js";
import { isReadOnly } from "../core/mounts.js";
import { unhealthyVdevs } from "../core/zpoolJson.js";
import type { PhoneHomeStats } from "../fleet/phonehome.js";

const PHASES = ["nothing-found", "found", "imported", "locked", "mounted-ro", "mounted-rw"] as const;
const AUTO = ["off", "pending", "running", "retrying", "mounted", "waiting", "failed"] as const;
const JOB_STATES = ["running", "succeeded", "failed", "cancelled", "interrupted"] as const;

interface Snapshot {
  d: Detection;
  busy: boolean;
  auto: AutoMountState;
  jobs: JobView[];
  now: number;
}

/**
 * The agent's state in Prometheus text format, made with prom-client (the Prometheus project's
 * Node client: exposition format, escaping and types are its job, not ours). A private registry,
 * gauges filled from one snapshot per scrape: nothing is kept here that the agent does not know.
 */
export function createMetrics(
  s: Pick<Services, "detection" | "lock" | "jobs" | "autoMount" | "version">,
  phoneHome?: () => PhoneHomeStats,
) {
  const registry = new Registry();
  let snap: Snapshot | null = null;
  const gauge = <L extends string>(
    name: string,
    help: string,
    labelNames: readonly L[],
    fill: (g: Gauge<L>, x: Snapshot) => void,
  ) =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        if (snap) fill(this, snap);
      },
    });

  gauge("lifeboat_info", "The agent's version (always 1).", ["version"], (g) =>
    g.set({ version: s.version }, 1),
  );
  gauge(
    "lifeboat_phase",
    "Where the rescue stands: 1 for the current phase, 0 for the others.",
    ["phase"],
    (g, x) => {
      const cur = phaseOf(x.d);
      for (const p of PHASES) g.set({ phase: p }, p === cur ? 1 : 0);
    },
  );
  gauge("lifeboat_busy", "1 while a change or a job holds the operation lock.", [], (g, x) =>
    g.set(x.busy ? 1 : 0),
  );
  gauge(
    "lifeboat_auto_mount_state",
    "The boot-time auto-mount: 1 for its current state.",
    ["state"],
    (g, x) => {
      for (const st of AUTO) g.set({ state: st }, st === x.auto.state ? 1 : 0);
    },
  );
  gauge(
    "lifeboat_last_detection_age_seconds",
    "Seconds since the disks and pools were last looked at.",
    [],
    (g, x) => g.set(Math.max(0, (x.now - Date.parse(x.d.at)) / 1000)),
  );
  gauge("lifeboat_zfs_available", "1 when ZFS works on the rescue system.", [], (g, x) =>
    g.set(x.d.zfs.available ? 1 : 0),
  );
  gauge(
    "lifeboat_pool_health",
    "Pools seen (imported or importable): 1 for the pool's state (ONLINE, DEGRADED, FAULTED, UNAVAIL…).",
    ["pool", "state", "imported"],
    (g, x) => {
      for (const p of x.d.poolStatus) g.set({ pool: p.name, state: p.state, imported: "true" }, 1);
      for (const p of x.d.importable)
        if (!x.d.poolStatus.some((q) => q.name === p.name))
          g.set({ pool: p.name, state: p.state, imported: "false" }, 1);
    },
  );
  gauge("lifeboat_pool_unhealthy_vdevs", "Devices of the pool that are not ONLINE.", ["pool"], (g, x) => {
    for (const p of x.d.poolStatus) g.set({ pool: p.name }, unhealthyVdevs(p.vdevs).length);
    for (const p of x.d.importable)
      if (!x.d.poolStatus.some((q) => q.name === p.name))
        g.set({ pool: p.name }, unhealthyVdevs(p.config).length);
  });
  gauge("lifeboat_mounts", "File systems mounted under the rescue root, by mode.", ["mode"], (g, x) => {
    const ro = x.d.mounts.filter((m) => isReadOnly(m)).length;
    g.set({ mode: "ro" }, ro);
    g.set({ mode: "rw" }, x.d.mounts.length - ro);
  });
  gauge("lifeboat_warnings", "Warnings of the last detection.", [], (g, x) => g.set(x.d.warnings.length));
  gauge("lifeboat_jobs", "Jobs this agent knows, by state.", ["state"], (g, x) => {
    for (const st of JOB_STATES) g.set({ state: st }, x.jobs.filter((j) => j.state === st).length);
  });
  gauge(
    "lifeboat_job_duration_seconds",
    "Duration of each known job (so far, while it runs); the agent keeps the last 50.",
    // Not `job`: Prometheus attaches that label itself (the scrape job).
    ["job_id", "kind", "state"],
    (g, x) => {
      for (const j of x.jobs)
        g.set(
          { job_id: j.id, kind: j.kind, state: j.state },
          (j.durationMs ?? x.now - Date.parse(j.createdAt)) / 1000,
        );
    },
  );
  if (phoneHome) {
    gauge("lifeboat_callback_reports_sent", "Phone-home reports the collector accepted.", [], (g) =>
      g.set(phoneHome().sent),
    );
    gauge(
      "lifeboat_callback_failed_attempts",
      "Phone-home attempts that failed (each retry counts).",
      [],
      (g) => g.set(phoneHome().failedAttempts),
    );
    gauge(
      "lifeboat_callback_last_success_timestamp_seconds",
      "When the collector last accepted a report (0: never).",
      [],
      (g) => {
        const t = phoneHome().lastSuccessAt;
        g.set(t ? Date.parse(t) / 1000 : 0);
      },
    );
  }
  // No collectDefaultMetrics(): three of its Node.js gauges end in _total, which promtool's lint
  // rejects (a gauge is not a counter); what matters here is the rescue, not the agent process.
  // Scrapes one after the other: the snapshot is shared by the gauges of one scrape.
  let queue: Promise<unknown> = Promise.resolve();

  return {
    contentType: registry.contentType,
    /** One scrape: the current detection (shared with /v1/status, refreshed when stale), then the text. */
    render(): Promise<string> {
      const run = queue.then(async () => {
        const d = await s.detection.current();
        snap = { d, busy: s.lock.busy !== null, auto: s.autoMount(), jobs: s.jobs.list(), now: Date.now() };
        try {
          return await registry.metrics();
        } finally {
          snap = null;
        }
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
