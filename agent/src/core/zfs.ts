import { ParseError } from "./errors.js";
import { exact, isRecord, LossyNumber, parseJson, parseJsonQuoted, str } from "./json.js";

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
 * `zfs get -j …`: dataset name → property → value (source dropped), read on demand.
 *
 * One native JSON.parse; nothing else at parse time but the shape of the top level. A pool with
 * 100,000 datasets makes the `datasets` object a 100,000-key dictionary, and enumerating it costs a
 * fifth of the parse again: callers that know their names (detection has them from `zfs list`)
 * look them up instead (`get`), and only the datasets they ask for are read. A dataset entry
 * that is not the expected shape reads as absent (its neighbours still count). Values keep every
 * digit: the first number that may have been rounded makes the view re-read the text with those
 * literals quoted (parseJsonQuoted), once.
 */
export class ZfsProperties implements ReadonlyMap<string, Record<string, string>> {
  private datasets: Record<string, unknown>;
  private quoted = false;

  constructor(private readonly text: string) {
    this.datasets = ZfsProperties.datasetsOf(parseJson(text, "zfs get -j"));
  }

  private static datasetsOf(doc: unknown): Record<string, unknown> {
    if (!isRecord(doc)) throw new ParseError("zfs get -j", "top level is not an object");
    if (doc.datasets === undefined) return {};
    if (!isRecord(doc.datasets)) throw new ParseError("zfs get -j", "datasets is not an object");
    return doc.datasets;
  }

  /**
   * A name that is a member of Object.prototype ("constructor", "toString", "__proto__") finds a
   * function or Object.prototype, neither of which has `properties`: it reads as absent, as it is.
   */
  private propertiesOf(name: string): Record<string, unknown> | undefined {
    const ds = this.datasets[name];
    const properties = isRecord(ds) ? ds.properties : undefined;
    return isRecord(properties) ? properties : undefined;
  }

  get(name: string): Record<string, string> | undefined {
    const properties = this.propertiesOf(name);
    if (!properties) return undefined;
    // No prototype: a property named "__proto__" is just a name.
    const props: Record<string, string> = Object.create(null);
    try {
      for (const k in properties) {
        const v = properties[k];
        // Once re-read with integer literals quoted, a number left is a float literal: its own text.
        const value = isRecord(v) ? (this.quoted ? str(v.value) : exact(v.value)) : undefined;
        if (value !== undefined) props[k] = value;
      }
    } catch (err) {
      if (!(err instanceof LossyNumber) || this.quoted) throw err;
      this.requote();
      return this.get(name);
    }
    return props;
  }

  /** One property of one dataset (what detection reads per dataset), without copying the rest. */
  value(name: string, property: string): string | undefined {
    const v = this.propertiesOf(name)?.[property];
    if (!isRecord(v)) return undefined;
    if (this.quoted) return str(v.value);
    try {
      return exact(v.value);
    } catch (err) {
      if (!(err instanceof LossyNumber)) throw err;
      this.requote();
      return this.value(name, property);
    }
  }

  private requote(): void {
    this.quoted = true;
    this.datasets = ZfsProperties.datasetsOf(parseJsonQuoted(this.text, "zfs get -j"));
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Enumerates every dataset: for tools and tests, not for 100,000-dataset hot paths. */
  *entries(): MapIterator<[string, Record<string, string>]> {
    for (const name of Object.keys(this.datasets)) {
      const props = this.get(name);
      if (props !== undefined) yield [name, props];
    }
  }
  *keys(): MapIterator<string> {
    for (const [name] of this.entries()) yield name;
  }
  *values(): MapIterator<Record<string, string>> {
    for (const [, props] of this.entries()) yield props;
  }
  [Symbol.iterator](): MapIterator<[string, Record<string, string>]> {
    return this.entries();
  }
  forEach(
    fn: (
      value: Record<string, string>,
      key: string,
      map: ReadonlyMap<string, Record<string, string>>,
    ) => void,
  ) {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
  get size(): number {
    let n = 0;
    for (const _ of this.entries()) n++;
    return n;
  }
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

export function parseZfsGet(text: string): ZfsProperties {
  return new ZfsProperties(text);
}

/** Fill `encryptionRoot` from a `zfs get -j encryptionroot` result (looked up by name). */
export function withEncryptionRoots(
  datasets: Dataset[],
  props: Pick<ReadonlyMap<string, Record<string, string>>, "get">,
): Dataset[] {
  return datasets.map((d) => {
    const root =
      props instanceof ZfsProperties
        ? props.value(d.name, "encryptionroot")
        : props.get(d.name)?.encryptionroot;
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

/**
 * Do two listings of the same pools say the same about what a mount reads (names, mountpoints,
 * canmount, encryption and key status, in order)? `used` is left out: it moves with every write
 * and decides nothing a mount does.
 */
export function sameListing(a: readonly Dataset[], b: readonly Dataset[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    return (
      y !== undefined &&
      x.name === y.name &&
      x.pool === y.pool &&
      x.mountpoint === y.mountpoint &&
      x.canmount === y.canmount &&
      x.encryption === y.encryption &&
      x.keystatus === y.keystatus &&
      x.encryptionRoot === y.encryptionRoot
    );
  });
}
