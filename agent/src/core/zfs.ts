import { ParseError } from "./errors.js";
import { isRecord, parseJsonLossless, str } from "./json.js";

export interface Dataset {
  name: string;
  pool: string;
  mountpoint: string;
  canmount: string;
  encryption: string;
  keystatus: string | null;
  /** Bytes, as a decimal string (`-p`). */
  used: string;
  encryptionRoot: string | null;
}

/** Columns the adapter asks for, in order: `zfs list -H -p -o <this>`. */
export const ZFS_LIST_COLUMNS = [
  "name",
  "mountpoint",
  "canmount",
  "encryption",
  "keystatus",
  "used",
] as const;

/** Any `zfs list|get -H -p -o a,b,c` output: one record per line, keyed by the requested columns. */
export function parseZfsColumns<const C extends readonly string[]>(
  stdout: string,
  columns: C,
): Record<C[number], string>[] {
  const out: Record<C[number], string>[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const cols = line.replace(/\r$/, "").split("\t");
    if (cols.length !== columns.length)
      throw new ParseError("zfs -H -p", `expected ${columns.length} columns, got ${cols.length}`);
    out.push(Object.fromEntries(columns.map((c, i) => [c, cols[i] as string])) as Record<C[number], string>);
  }
  return out;
}

export interface Snapshot {
  name: string;
  dataset: string;
  snapshot: string;
  /** Seconds since the epoch (`-p`). */
  created: string;
  used: string;
}

export const SNAPSHOT_COLUMNS = ["name", "creation", "used"] as const;

/** `zfs list -H -p -t snapshot -o name,creation,used`. */
export function parseSnapshots(stdout: string): Snapshot[] {
  return parseZfsColumns(stdout, SNAPSHOT_COLUMNS).map((r) => {
    const at = r.name.indexOf("@");
    if (at <= 0)
      throw new ParseError("zfs list -t snapshot", `not a snapshot name: ${JSON.stringify(r.name)}`);
    return {
      name: r.name,
      dataset: r.name.slice(0, at),
      snapshot: r.name.slice(at + 1),
      created: r.creation,
      used: r.used,
    };
  });
}

/** `zfs list -H -p -o name,mountpoint,canmount,encryption,keystatus,used` (tab-separated, '-' = none). */
export function parseZfsListHp(stdout: string): Dataset[] {
  const out: Dataset[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const cols = line.replace(/\r$/, "").split("\t");
    if (cols.length !== ZFS_LIST_COLUMNS.length)
      throw new ParseError(
        "zfs list -H -p",
        `expected ${ZFS_LIST_COLUMNS.length} columns, got ${cols.length}`,
      );
    const [name, mountpoint, canmount, encryption, keystatus, used] = cols as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!/^[^@#/\s][^\s@#]*$/.test(name))
      throw new ParseError("zfs list -H -p", `bad dataset name ${JSON.stringify(name)}`);
    out.push({
      name,
      pool: name.split("/")[0] as string,
      mountpoint,
      canmount,
      encryption,
      keystatus: keystatus === "-" ? null : keystatus,
      used,
      encryptionRoot: null,
    });
  }
  return out;
}

/** `zfs get -j …`: dataset name → property → value (source dropped). */
export function parseZfsGet(text: string): Map<string, Record<string, string>> {
  const doc = parseJsonLossless(text, "zfs get -j");
  if (!isRecord(doc)) throw new ParseError("zfs get -j", "top level is not an object");
  const out = new Map<string, Record<string, string>>();
  if (doc.datasets === undefined) return out;
  if (!isRecord(doc.datasets)) throw new ParseError("zfs get -j", "datasets is not an object");
  for (const [name, ds] of Object.entries(doc.datasets)) {
    if (!isRecord(ds) || !isRecord(ds.properties))
      throw new ParseError("zfs get -j", `dataset ${name} has no properties`);
    const props: Record<string, string> = {};
    for (const [k, v] of Object.entries(ds.properties)) {
      const value = isRecord(v) ? str(v.value) : undefined;
      if (value !== undefined) props[k] = value;
    }
    out.set(name, props);
  }
  return out;
}

/** Fill `encryptionRoot` from a `zfs get -j encryptionroot` result. */
export function withEncryptionRoots(
  datasets: Dataset[],
  props: Map<string, Record<string, string>>,
): Dataset[] {
  return datasets.map((d) => {
    const root = props.get(d.name)?.encryptionroot;
    return { ...d, encryptionRoot: root && root !== "-" ? root : null };
  });
}

/** Classify a `zfs load-key` failure (exit 255). */
export type LoadKeyFailure = "wrong-passphrase" | "already-loaded" | "not-encryption-root" | "other";
export function classifyLoadKeyFailure(stderr: string): LoadKeyFailure {
  if (/Incorrect key provided/i.test(stderr)) return "wrong-passphrase";
  if (/Key already loaded/i.test(stderr)) return "already-loaded";
  if (/Keys must be loaded for encryption root/i.test(stderr)) return "not-encryption-root";
  return "other";
}
