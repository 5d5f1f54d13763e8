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

/**
 * A dataset name as OpenZFS accepts it (module/zcommon/zfs_namecheck.c): components of
 * `[A-Za-z0-9-_.: %]`, no empty component, no leading or trailing slash, the pool component starting
 * with a letter, shorter than 256 bytes. Spaces, dots, colons and dashes are all legal.
 */
export function isDatasetName(name: string): boolean {
  if (name.length === 0 || name.length >= 256) return false;
  if (!/^[A-Za-z]/.test(name)) return false;
  return name.split("/").every((c) => /^[A-Za-z0-9\-_.: %]+$/.test(c));
}

/**
 * `zfs list -H -p -o name,mountpoint,canmount,encryption,keystatus,used` (tab-separated, '-' =
 * none). With a `warnings` sink a line that does not parse is skipped and described there (one bad
 * line never costs the whole listing); without one it is a ParseError.
 */
export function parseZfsListHp(stdout: string, warnings?: string[]): Dataset[] {
  const out: Dataset[] = [];
  let skipped = 0;
  const bad = (detail: string) => {
    if (!warnings) throw new ParseError("zfs list -H -p", detail);
    if (skipped++ < 20) warnings.push(`zfs list: skipped a line: ${detail}`);
  };
  for (const line of stdout.split("\n")) {
    if (line.trim() === "") continue;
    const cols = line.replace(/\r$/, "").split("\t");
    if (cols.length !== ZFS_LIST_COLUMNS.length) {
      bad(`expected ${ZFS_LIST_COLUMNS.length} columns, got ${cols.length}`);
      continue;
    }
    const [name, mountpoint, canmount, encryption, keystatus, used] = cols as [
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (!isDatasetName(name)) {
      bad(`bad dataset name ${JSON.stringify(name.slice(0, 80))}`);
      continue;
    }
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
  if (warnings && skipped > 20) warnings.push(`zfs list: ${skipped - 20} more lines skipped`);
  return out;
}

/**
 * Where a dataset with its own mountpoint is mounted inside the installed system: its `mountpoint`
 * property with the pool's altroot taken off (`zfs list` prints `<altroot><mountpoint>`; "/" under
 * altroot /mnt prints as "/mnt"). Null for legacy, none and anything not an absolute path.
 */
export function systemPathOf(mountpoint: string, altroot: string | null): string | null {
  if (!mountpoint.startsWith("/")) return null;
  const r =
    altroot === null || altroot === "/" ? "" : altroot.endsWith("/") ? altroot.replace(/\/+$/, "") : altroot;
  if (r === "") return mountpoint;
  if (mountpoint === r) return "/";
  if (mountpoint.startsWith(`${r}/`)) return mountpoint.slice(r.length);
  // Imported with that altroot, yet outside it: not a path of this system.
  return null;
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
