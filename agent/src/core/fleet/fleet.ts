import { ParseError } from "../errors.js";
import { isRecord } from "../json.js";
import { type FleetReport, parseReport, problemsOf } from "./report.js";

/**
 * The collector's fleet list, pure: which reports to accept (replays refused), where each agent is
 * reached, and the Prometheus service-discovery document. The collector stores only the last
 * report of every server; the state of each server lives in its own agent.
 */
export interface FleetEntry {
  /** Stable identity of the machine (see hostKey). */
  key: string;
  report: FleetReport;
  receivedAt: string;
  /** Address the report came from, as the collector saw it. */
  source: string;
  /** Which of the collector's keys verified the signature. */
  keyId: string;
  /** Where the agent's API is reached (advertised URL, else derived from the report's source). */
  url: string | null;
  /** Runs of the agent whose reports are superseded: their replays are refused. */
  pastBoots: string[];
}

export interface FleetState {
  hosts: FleetEntry[];
}

export const MAX_HOSTS = 10_000;
const MAX_PAST_BOOTS = 16;

const PLACEHOLDER_SERIALS = new Set(
  [
    "",
    "0",
    "none",
    "n/a",
    "na",
    "not specified",
    "not applicable",
    "default string",
    "system serial number",
    "to be filled by o.e.m.",
    "0123456789",
    "123456789",
    "chassis serial number",
  ].map((s) => s.toLowerCase()),
);

function plausibleSerial(s: string | null): s is string {
  if (!s) return false;
  const t = s.trim().toLowerCase();
  return t.length >= 3 && !PLACEHOLDER_SERIALS.has(t) && !/^(.)\1*$/.test(t);
}

/**
 * The machine, across reboots into the rescue system: the name it was given (`lifeboat.name=`),
 * else its DMI serial when it is a real one (firmware
 * often says "To Be Filled By O.E.M."), else the DMI product UUID (not all zeros/ones), else the
 * lowest MAC address, else this run of the agent. The installed system's machine-id is no key: it
 * is known only once mounted, and disk clones share it.
 */
export function hostKey(r: FleetReport): string {
  if (r.host.name) return `name:${r.host.name}`;
  if (plausibleSerial(r.host.dmiSerial)) return `serial:${r.host.dmiSerial.trim()}`;
  const uuid = r.host.productUuid?.toLowerCase();
  if (uuid && !/^[0-]+$/.test(uuid) && !/^[f-]+$/.test(uuid)) return `uuid:${uuid}`;
  const mac = [...r.host.macs].filter((m) => m !== "00:00:00:00:00:00").sort()[0];
  if (mac) return `mac:${mac}`;
  return `boot:${r.bootId}`;
}

function hostOf(u: string): string {
  return new URL(u).hostname.replace(/^\[|\]$/g, "");
}

/** Where to reach the agent: its advertised URL, else its URL on the address the report came from. */
export function agentUrl(r: FleetReport, source: string): string | null {
  if (r.agent.advertise) return r.agent.advertise;
  const src = source.replace(/^::ffff:/, "");
  // With HTTPS on, its URLs first: the client pins them to the reported fingerprint.
  const urls = r.agent.tlsFingerprint
    ? [
        ...r.agent.urls.filter((u) => u.startsWith("https:")),
        ...r.agent.urls.filter((u) => !u.startsWith("https:")),
      ]
    : r.agent.urls;
  const same = urls.find((u) => hostOf(u) === src);
  if (same) return same;
  const first = urls[0];
  if (!first) return null;
  // Behind NAT the report's source is the router: the agent's own addresses are all we know.
  if (/^(127\.|::1$)/.test(src)) return first;
  const u = new URL(first);
  u.hostname = src.includes(":") ? `[${src}]` : src;
  return u.toString();
}

export type Acceptance =
  | { ok: true; state: FleetState; entry: FleetEntry; changed: boolean }
  | { ok: false; reason: string };

/**
 * Take a verified report into the fleet list. Refused: an older or equal `seq` of the run already
 * known (a replay), or any report of a run that a newer run of the same machine superseded.
 */
export function acceptReport(
  state: FleetState,
  report: FleetReport,
  meta: { source: string; keyId: string; now: Date },
): Acceptance {
  const key = hostKey(report);
  const prev = state.hosts.find((h) => h.key === key);
  let pastBoots = prev?.pastBoots ?? [];
  if (prev) {
    if (pastBoots.includes(report.bootId))
      return { ok: false, reason: `report of an earlier run of the agent on ${key} (replay?)` };
    if (prev.report.bootId === report.bootId && report.seq <= prev.report.seq)
      return {
        ok: false,
        reason: `report ${report.seq} of this run is not newer than ${prev.report.seq} (replay?)`,
      };
    if (prev.report.bootId !== report.bootId)
      pastBoots = [prev.report.bootId, ...pastBoots].slice(0, MAX_PAST_BOOTS);
  }
  const entry: FleetEntry = {
    key,
    report,
    receivedAt: meta.now.toISOString(),
    source: meta.source,
    keyId: meta.keyId,
    url: agentUrl(report, meta.source),
    pastBoots,
  };
  const others = state.hosts.filter((h) => h.key !== key);
  const hosts = [...others, entry]
    .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))
    .slice(0, MAX_HOSTS)
    .sort((a, b) => a.key.localeCompare(b.key));
  const changed =
    !prev ||
    prev.report.phase !== report.phase ||
    prev.url !== entry.url ||
    prev.report.host.hostname !== report.host.hostname;
  return { ok: true, state: { hosts }, entry, changed };
}

/** One row of the fleet list as the collector serves it (GET /v1/fleet, the page, the client). */
export function fleetView(e: FleetEntry, now: Date) {
  const r = e.report;
  return {
    key: e.key,
    name: r.host.name ?? r.host.hostname ?? e.key,
    url: e.url,
    phase: r.phase,
    summary: r.summary,
    problems: problemsOf(r),
    tlsFingerprint: r.agent.tlsFingerprint,
    tokenId: r.agent.tokenId,
    keyId: e.keyId,
    version: r.agent.version,
    machineId: r.host.machineId,
    addresses: r.host.addresses,
    source: e.source,
    receivedAt: e.receivedAt,
    ageSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(e.receivedAt)) / 1000)),
    reason: r.reason,
    autoMount: r.autoMount,
    busy: r.busy,
    pools: r.pools,
  };
}
export type FleetHost = ReturnType<typeof fleetView>;

/**
 * Prometheus http_sd / file_sd: one target group per agent (host:port), scheme and path as labels;
 * identity labels only (the phase is a metric, not a label, so series do not churn).
 */
export function serviceDiscovery(state: FleetState): { targets: string[]; labels: Record<string, string> }[] {
  const groups: { targets: string[]; labels: Record<string, string> }[] = [];
  for (const e of state.hosts) {
    if (!e.url) continue;
    const u = new URL(e.url);
    const port = u.port || (u.protocol === "https:" ? "443" : "80");
    groups.push({
      targets: [`${u.hostname}:${port}`],
      labels: {
        __scheme__: u.protocol.replace(":", ""),
        __metrics_path__: "/metrics",
        lifeboat_host: e.report.host.name ?? e.report.host.hostname ?? e.key,
        lifeboat_key: e.key,
        ...(e.report.host.machineId ? { lifeboat_machine_id: e.report.host.machineId } : {}),
      },
    });
  }
  return groups;
}

/** The collector's state file, read back: every report re-checked, anything unreadable dropped. */
export function parseFleetState(text: string): { state: FleetState; dropped: number } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ParseError("fleet state", (err as Error).message);
  }
  if (!isRecord(raw) || !Array.isArray(raw.hosts)) throw new ParseError("fleet state", "no hosts list");
  const hosts: FleetEntry[] = [];
  let dropped = 0;
  for (const h of raw.hosts.slice(0, MAX_HOSTS)) {
    try {
      if (!isRecord(h)) throw new Error("not an object");
      const report = parseReport(JSON.stringify(h.report));
      const s = (v: unknown) => (typeof v === "string" && v.length < 300 ? v : null);
      const receivedAt = s(h.receivedAt);
      if (!receivedAt || Number.isNaN(Date.parse(receivedAt))) throw new Error("receivedAt");
      const source = s(h.source) ?? "";
      hosts.push({
        key: hostKey(report),
        report,
        receivedAt,
        source,
        keyId: s(h.keyId) ?? "",
        url: agentUrl(report, source),
        pastBoots: Array.isArray(h.pastBoots)
          ? h.pastBoots.filter((b): b is string => typeof b === "string").slice(0, MAX_PAST_BOOTS)
          : [],
      });
    } catch {
      dropped++;
    }
  }
  return { state: { hosts }, dropped };
}
