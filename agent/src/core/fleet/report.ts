import { ParseError } from "../errors.js";
import { isRecord } from "../json.js";

/**
 * The phone-home report: what a rescued server tells the fleet's collector about itself. Built
 * here from plain data (pure), sent by app/phonehome.ts, parsed back by the collector — which
 * treats it as untrusted input even once its signature checks out.
 */
export const REPORT_VERSION = 1;
export const REPORT_MAX_BYTES = 64 * 1024;

export const PHASES = ["nothing-found", "found", "imported", "locked", "mounted-ro", "mounted-rw"] as const;
export type ReportPhase = (typeof PHASES)[number];
export const REASONS = ["start", "address", "phase", "auto-mount", "change", "heartbeat"] as const;
export type ReportReason = (typeof REASONS)[number];

export interface ReportPool {
  name: string;
  state: string;
  imported: boolean;
}

export interface ReportJob {
  id: string;
  kind: string;
  state: string;
  title: string;
}

export interface FleetReport {
  v: typeof REPORT_VERSION;
  /** Random per agent start: with `seq` it orders the reports of one run (replays are refused). */
  bootId: string;
  seq: number;
  sentAt: string;
  reason: ReportReason;
  agent: {
    version: string;
    /** Where the API answers, as the agent sees itself; `advertise` first when configured. */
    urls: string[];
    advertise: string | null;
    /** SHA-256 of the agent's self-signed certificate when HTTPS is on (pin it in the client). */
    tlsFingerprint: string | null;
    /** Public id of the API token (tok-xxxxxxxx, as in the audit), never the token. */
    tokenId: string;
    metricsTokenId: string | null;
  };
  host: {
    /** A name given to this server by whoever booted it (`lifeboat.name=`, e.g. from the PXE server). */
    name: string | null;
    /** /etc/machine-id of the installed system, when it is mounted. */
    machineId: string | null;
    /** The installed system's /etc/hostname, when mounted (NixOS: networking.hostName). */
    hostname: string | null;
    dmiSerial: string | null;
    productUuid: string | null;
    macs: string[];
    addresses: string[];
  };
  phase: ReportPhase;
  summary: string;
  autoMount: { state: string; detail: string | null };
  busy: string | null;
  pools: ReportPool[];
  mounted: { source: string; readonly: boolean; count: number } | null;
  warnings: string[];
  jobs: ReportJob[];
}

export type ReportParts = Omit<FleetReport, "v">;

const LIMITS = { text: 512, list: 32, warnings: 50, jobs: 10 };

/** Control characters (C0, DEL, C1): a report carries none. */
const CONTROL = /\p{Cc}/gu;

/** Cut to `n` characters, control characters (from disks and stderr, newlines too) as spaces. */
const clip = (s: string, n = LIMITS.text) => {
  const t = s.replace(CONTROL, " ");
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
};

/** A report within bounds (long warnings and lists are cut, so it always fits REPORT_MAX_BYTES). */
export function buildReport(p: ReportParts): FleetReport {
  const texts = (l: string[], n = LIMITS.list) => l.slice(0, n).map((x) => clip(x));
  return {
    v: REPORT_VERSION,
    bootId: p.bootId,
    seq: p.seq,
    sentAt: p.sentAt,
    reason: p.reason,
    agent: {
      version: clip(p.agent.version, 64),
      urls: texts(p.agent.urls),
      advertise: p.agent.advertise,
      tlsFingerprint: p.agent.tlsFingerprint,
      tokenId: p.agent.tokenId,
      metricsTokenId: p.agent.metricsTokenId,
    },
    host: {
      name: p.host.name === null ? null : clip(p.host.name, 64),
      machineId: p.host.machineId,
      hostname: p.host.hostname === null ? null : clip(p.host.hostname, 253),
      dmiSerial: p.host.dmiSerial === null ? null : clip(p.host.dmiSerial, 128),
      productUuid: p.host.productUuid,
      macs: texts(p.host.macs),
      addresses: texts(p.host.addresses),
    },
    phase: p.phase,
    summary: clip(p.summary),
    autoMount: { state: clip(p.autoMount.state, 32), detail: p.autoMount.detail && clip(p.autoMount.detail) },
    busy: p.busy && clip(p.busy, 128),
    pools: p.pools
      .slice(0, LIMITS.list)
      .map((x) => ({ name: clip(x.name, 256), state: clip(x.state, 32), imported: x.imported })),
    mounted: p.mounted && { ...p.mounted, source: clip(p.mounted.source, 256) },
    warnings: texts(p.warnings, LIMITS.warnings),
    jobs: p.jobs.slice(0, LIMITS.jobs).map((j) => ({
      id: clip(j.id, 64),
      kind: clip(j.kind, 32),
      state: clip(j.state, 32),
      title: clip(j.title),
    })),
  };
}

/** What the fleet page calls "what is wrong": empty when nothing needs a human. */
export function problemsOf(r: FleetReport): string[] {
  const out: string[] = [];
  if (r.phase === "nothing-found") out.push("no installed system found");
  if (r.phase === "locked") out.push("encrypted data is locked");
  if (r.autoMount.state === "failed" || r.autoMount.state === "waiting")
    out.push(`auto-mount ${r.autoMount.state}${r.autoMount.detail ? `: ${r.autoMount.detail}` : ""}`);
  for (const p of r.pools) if (p.state !== "ONLINE") out.push(`pool ${p.name} is ${p.state}`);
  for (const j of r.jobs)
    if (j.state === "failed" || j.state === "interrupted") out.push(`${j.kind} job ${j.state}`);
  for (const w of r.warnings) if (!out.some((o) => w.startsWith(o))) out.push(w);
  return out;
}

// ---------------------------------------------------------------- parsing an untrusted report

const fail = (detail: string): never => {
  throw new ParseError("report", detail);
};

function text(v: unknown, field: string, max = LIMITS.text): string {
  if (typeof v !== "string") return fail(`${field} is not a string`);
  if (v.length > max) return fail(`${field} is longer than ${max}`);
  if (/\p{Cc}/u.test(v)) return fail(`${field} has control characters`);
  return v;
}
function textOrNull(v: unknown, field: string, max = LIMITS.text): string | null {
  return v === null ? null : text(v, field, max);
}
function list<T>(v: unknown, field: string, max: number, item: (x: unknown, f: string) => T): T[] {
  if (!Array.isArray(v)) return fail(`${field} is not a list`);
  if (v.length > max) return fail(`${field} has more than ${max} items`);
  return v.map((x, i) => item(x, `${field}[${i}]`));
}
function record(v: unknown, field: string): Record<string, unknown> {
  if (!isRecord(v)) return fail(`${field} is not an object`);
  return v;
}
function oneOf<T extends string>(v: unknown, field: string, allowed: readonly T[]): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v))
    return fail(`${field} is not one of ${allowed.join(", ")}`);
  return v as T;
}
function pattern(v: unknown, field: string, re: RegExp): string {
  if (typeof v !== "string" || !re.test(v)) return fail(`${field} has an unexpected form`);
  return v;
}
function patternOrNull(v: unknown, field: string, re: RegExp): string | null {
  return v === null ? null : pattern(v, field, re);
}
function url(v: unknown, field: string): string {
  const s = text(v, field, 300);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return fail(`${field} is not a URL`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password)
    return fail(`${field} must be an http(s) URL without credentials`);
  return s;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TOKEN_ID = /^tok-[0-9a-f]{8}$/;
const FINGERPRINT = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$/;
/** A server name as a PXE server would give it: a host name or a label, no spaces. */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The report in a collector's request body: shape, types and bounds checked; anything else throws. */
export function parseReport(body: string): FleetReport {
  if (Buffer.byteLength(body) > REPORT_MAX_BYTES) fail(`larger than ${REPORT_MAX_BYTES} bytes`);
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return fail((err as Error).message);
  }
  const r = record(raw, "report");
  if (r.v !== REPORT_VERSION) fail(`unknown version ${JSON.stringify(r.v)}`);
  const agent = record(r.agent, "agent");
  const host = record(r.host, "host");
  const auto = record(r.autoMount, "autoMount");
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) fail("seq is not a positive integer");
  const mounted = r.mounted === null ? null : record(r.mounted, "mounted");
  if (mounted && (typeof mounted.readonly !== "boolean" || !Number.isSafeInteger(mounted.count)))
    fail("mounted has an unexpected form");
  return {
    v: REPORT_VERSION,
    bootId: pattern(r.bootId, "bootId", UUID),
    seq: r.seq as number,
    sentAt: pattern(r.sentAt, "sentAt", ISO),
    reason: oneOf(r.reason, "reason", REASONS),
    agent: {
      version: text(agent.version, "agent.version", 64),
      urls: list(agent.urls, "agent.urls", LIMITS.list, url),
      advertise: agent.advertise === null ? null : url(agent.advertise, "agent.advertise"),
      tlsFingerprint: patternOrNull(agent.tlsFingerprint, "agent.tlsFingerprint", FINGERPRINT),
      tokenId: pattern(agent.tokenId, "agent.tokenId", TOKEN_ID),
      metricsTokenId: patternOrNull(agent.metricsTokenId, "agent.metricsTokenId", TOKEN_ID),
    },
    host: {
      name: patternOrNull(host.name, "host.name", NAME),
      machineId: patternOrNull(host.machineId, "host.machineId", /^[0-9a-f]{32}$/),
      hostname: textOrNull(host.hostname, "host.hostname", 253),
      dmiSerial: textOrNull(host.dmiSerial, "host.dmiSerial", 128),
      productUuid: patternOrNull(host.productUuid, "host.productUuid", UUID),
      macs: list(host.macs, "host.macs", LIMITS.list, (x, f) =>
        pattern(x, f, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/),
      ),
      addresses: list(host.addresses, "host.addresses", LIMITS.list, (x, f) => text(x, f, 64)),
    },
    phase: oneOf(r.phase, "phase", PHASES),
    summary: text(r.summary, "summary"),
    autoMount: {
      state: text(auto.state, "autoMount.state", 32),
      detail: textOrNull(auto.detail, "autoMount.detail"),
    },
    busy: textOrNull(r.busy, "busy", 128),
    pools: list(r.pools, "pools", LIMITS.list, (x, f) => {
      const p = record(x, f);
      if (typeof p.imported !== "boolean") fail(`${f}.imported is not a boolean`);
      return {
        name: text(p.name, `${f}.name`, 256),
        state: text(p.state, `${f}.state`, 32),
        imported: p.imported as boolean,
      };
    }),
    mounted: mounted && {
      source: text(mounted.source, "mounted.source", 256),
      readonly: mounted.readonly as boolean,
      count: mounted.count as number,
    },
    warnings: list(r.warnings, "warnings", LIMITS.warnings, (x, f) => text(x, f)),
    jobs: list(r.jobs, "jobs", LIMITS.jobs, (x, f) => {
      const j = record(x, f);
      return {
        id: text(j.id, `${f}.id`, 64),
        kind: text(j.kind, `${f}.kind`, 32),
        state: text(j.state, `${f}.state`, 32),
        title: text(j.title, `${f}.title`),
      };
    }),
  };
}
