import type { Candidate } from "../core/candidates.js";
import { isReadOnly } from "../core/mounts.js";
import { unhealthyVdevs } from "../core/zpoolJson.js";
import { type Detection, type DetectionAge, type Phase, phaseOf } from "./detect.js";
import type { DiagnosisState } from "./diagnosisCache.js";
import type { Busy } from "./lock.js";
import type { MountReport } from "./mount.js";
import type { Reading } from "./readers.js";

export interface AutoMountState {
  mode: string;
  state: "off" | "pending" | "running" | "retrying" | "mounted" | "waiting" | "failed" | "superseded";
  detail: string | null;
}

function candidateView(c: Candidate) {
  return c.kind === "zfs"
    ? {
        id: c.id,
        kind: c.kind,
        pool: c.pool,
        state: c.state,
        imported: c.imported,
        importable: c.importable,
        disks: c.disks,
        score: c.score,
        reasons: c.reasons,
      }
    : {
        id: c.id,
        kind: c.kind,
        device: c.device,
        fstype: c.fstype,
        disks: c.disks,
        score: c.score,
        reasons: c.reasons,
      };
}

function summary(phase: Phase, d: Detection, locked: string[]): string {
  switch (phase) {
    case "mounted-ro":
      return `The installed system is mounted read-only at ${d.root}.`;
    case "mounted-rw":
      return `The installed system is mounted read-write at ${d.root}.`;
    case "locked":
      return locked.length > 0
        ? `Encrypted data is locked (${locked[0]}${locked.length > 1 ? ", …" : ""}): load its key.`
        : "A LUKS container is locked: open it with its passphrase.";
    case "imported":
      return `A pool is imported at ${d.root} but nothing is mounted.`;
    case "found":
      return d.candidates.length === 1
        ? `Found ${d.candidates[0]?.id}; not mounted yet.`
        : `Found ${d.candidates.length} possible systems; choose one to mount.`;
    default:
      if (!d.zfs.available)
        return `No installed system found, and ZFS is unavailable here (${d.zfs.reason ?? "unknown"}).`;
      return d.devices.length === 0 ? "No disks found." : "No installed system found on the disks.";
  }
}

/** The part of the status that depends on the detection alone: made once per detection. */
function detectionFacts(d: Detection) {
  const phase = phaseOf(d);
  const rootMount = d.mounts.find((m) => m.target === d.root);
  const locked = d.datasets.filter((x) => x.keystatus === "unavailable").map((x) => x.name);
  const warnings = [...d.warnings];
  for (const p of d.importable) {
    const bad = unhealthyVdevs(p.config);
    if (p.state !== "ONLINE")
      warnings.push(`pool ${p.name} is ${p.state}${bad.length ? `: ${bad.join(", ")}` : ""}`);
  }
  for (const p of d.poolStatus) {
    const bad = unhealthyVdevs(p.vdevs);
    if (p.state !== "ONLINE")
      warnings.push(`pool ${p.name} is ${p.state}${bad.length ? `: ${bad.join(", ")}` : ""}`);
  }
  return {
    phase,
    summary: summary(phase, d, locked),
    root: d.root,
    zfs: d.zfs,
    hostid: { live: d.hostid },
    mounted: rootMount
      ? {
          pool: rootMount.fstype === "zfs" ? (rootMount.source.split("/")[0] ?? null) : null,
          source: rootMount.source,
          readonly: isReadOnly(rootMount),
          mounts: d.mounts,
        }
      : null,
    candidates: d.candidates.map(candidateView),
    pools: { importable: d.importable.map((p) => p.name), imported: d.imported.map((p) => p.name) },
    esps: d.esps.map((e) => e.device),
    luks: d.luks,
    locked,
    warnings,
    detectedAt: d.at,
  };
}

/** Status polling asks the same detection many times: its facts are kept with it (and go with it). */
const factsOf = new WeakMap<Detection, ReturnType<typeof detectionFacts>>();

/** What `GET /v1/status` shows: derived from a detection, nothing stored but a cache of it. */
export function buildStatus(
  d: Detection,
  extra: {
    version: string;
    busy: (Busy & { kind: "change" | "reading" }) | null;
    /** Readers of the installed system now (diagnosis, journal, files). */
    reading?: Reading[];
    diagnosis?: DiagnosisState;
    /** What the installed system keeps: null when not mounted (or not looked at yet). */
    installed?: { journal: "persistent" | "none" } | null;
    autoMount: AutoMountState;
    urls: string[];
    tls?: { fingerprint: string } | null;
    /** How old `d` is; without it, as old as it says it is and no refresh known. */
    detection?: DetectionAge;
    /** What the mount in place skipped and why each pool is imported (MountService.lastReport). */
    mount?: MountReport | null;
  },
) {
  let facts = factsOf.get(d);
  if (!facts) {
    facts = detectionFacts(d);
    factsOf.set(d, facts);
  }
  return {
    version: extra.version,
    ...facts,
    busy: extra.busy,
    reading: extra.reading ?? [],
    diagnosis: extra.diagnosis ?? { state: "none", since: null, step: null, computedAt: null, error: null },
    installed: extra.installed ?? null,
    autoMount: extra.autoMount,
    urls: extra.urls,
    tls: extra.tls ?? null,
    skipped: facts.mounted ? (extra.mount?.skipped ?? []) : [],
    systemPools: facts.mounted ? (extra.mount?.pools ?? []) : [],
    detection: extra.detection ?? {
      at: d.at,
      ageMs: Math.max(0, Date.now() - Date.parse(d.at)),
      refreshing: false,
    },
  };
}

export function poolsView(d: Detection) {
  return {
    importable: d.importable.map((p) => ({ ...p, unhealthy: unhealthyVdevs(p.config) })),
    imported: d.imported.map((p) => {
      const st = d.poolStatus.find((s) => s.name === p.name);
      return { ...p, vdevs: st?.vdevs ?? [], unhealthy: st ? unhealthyVdevs(st.vdevs) : [] };
    }),
  };
}

export { candidateView };

/**
 * `busy` as status shows it: the change that runs (with its step, what it finished and the readers
 * it waits for), else the readers of the installed system (the diagnosis with its step).
 */
export function busyView(
  change: Busy | null,
  reading: Reading[],
  diagnosisStep: string | null,
): (Busy & { kind: "change" | "reading" }) | null {
  if (change) return { ...change, kind: "change" };
  const first = reading[0];
  if (!first) return null;
  const names = [...new Set(reading.map((r) => r.name))];
  return {
    name: names.join(", "),
    since: first.since,
    step: names.includes("diagnosis") ? diagnosisStep : null,
    steps: [],
    waitingFor: [],
    kind: "reading",
  };
}
