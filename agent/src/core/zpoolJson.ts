import { ParseError } from "./errors.js";
import { isRecord, parseJsonLossless, str } from "./json.js";

export interface ImportedPool {
  name: string;
  guid: string;
  state: string;
  health: string | null;
  size: string | null;
  allocated: string | null;
  free: string | null;
  altroot: string | null;
}

export interface StatusVdev {
  name: string;
  type: string;
  state: string;
  path: string | null;
  guid: string | null;
  /** Last known path of a device that is gone (the JSON names it by guid then). */
  was: string | null;
  notPresent: boolean;
  errors: { read: string; write: string; checksum: string };
  children: StatusVdev[];
}

export interface PoolStatus {
  name: string;
  guid: string;
  state: string;
  errorCount: string | null;
  vdevs: StatusVdev[];
}

function pools(text: string, command: string): [string, Record<string, unknown>][] {
  // With no pool imported, `zpool list -j` prints nothing at all (exit 0).
  if (text.trim() === "") return [];
  const doc = parseJsonLossless(text, `${command} -j`);
  if (!isRecord(doc)) throw new ParseError(`${command} -j`, "top level is not an object");
  const version = doc.output_version;
  if (isRecord(version) && version.command !== command)
    throw new ParseError(`${command} -j`, `output is from '${String(version.command)}'`);
  // `zpool list -j` with no pool imported prints {"output_version":…} without "pools".
  if (doc.pools === undefined) return [];
  if (!isRecord(doc.pools)) throw new ParseError(`${command} -j`, "pools is not an object");
  return Object.entries(doc.pools).map(([k, v]) => {
    if (!isRecord(v)) throw new ParseError(`${command} -j`, `pool ${k} is not an object`);
    return [k, v];
  });
}

function prop(props: unknown, key: string): string | null {
  if (!isRecord(props)) return null;
  const p = props[key];
  return isRecord(p) ? (str(p.value) ?? null) : null;
}

function required(v: unknown, what: string, command: string): string {
  const s = str(v);
  if (s === undefined) throw new ParseError(`${command} -j`, `missing ${what}`);
  return s;
}

/** `zpool list -j [--json-int]`. */
export function parseZpoolList(text: string): ImportedPool[] {
  return pools(text, "zpool list").map(([key, p]) => ({
    name: str(p.name) ?? key,
    guid: required(p.pool_guid, "pool_guid", "zpool list"),
    state: required(p.state, "state", "zpool list"),
    health: prop(p.properties, "health"),
    size: prop(p.properties, "size"),
    allocated: prop(p.properties, "allocated"),
    free: prop(p.properties, "free"),
    altroot: nullDash(prop(p.properties, "altroot")),
  }));
}

function nullDash(v: string | null): string | null {
  return v === null || v === "-" ? null : v;
}

/** `zpool status -j [--json-int]`: vdev trees with states, so a missing mirror half is named. */
export function parseZpoolStatus(text: string): PoolStatus[] {
  return pools(text, "zpool status").map(([key, p]) => {
    const vdevs = isRecord(p.vdevs) ? Object.values(p.vdevs).map((v) => parseVdev(v)) : [];
    // The pool's own root vdev carries the pool name; expose its children as the tree.
    const root = vdevs.length === 1 && vdevs[0]?.type === "root" ? (vdevs[0] as StatusVdev).children : vdevs;
    return {
      name: str(p.name) ?? key,
      guid: required(p.pool_guid, "pool_guid", "zpool status"),
      state: required(p.state, "state", "zpool status"),
      errorCount: str(p.error_count) ?? null,
      vdevs: root,
    };
  });
}

/** Deeper than any real vdev tree (root → raidz/mirror → disk, plus draid/spares): refuse. */
const MAX_VDEV_DEPTH = 32;

function parseVdev(v: unknown, depth = 0): StatusVdev {
  if (depth > MAX_VDEV_DEPTH)
    throw new ParseError("zpool status -j", `vdevs nested deeper than ${MAX_VDEV_DEPTH}`);
  if (!isRecord(v)) throw new ParseError("zpool status -j", "vdev is not an object");
  return {
    name: required(v.name, "vdev name", "zpool status"),
    type: str(v.vdev_type) ?? "unknown",
    state: str(v.state) ?? "UNKNOWN",
    path: str(v.path) ?? null,
    guid: str(v.guid) ?? null,
    was: str(v.was) ?? null,
    notPresent: v.not_present !== undefined && str(v.not_present) !== "0",
    errors: {
      read: str(v.read_errors) ?? "0",
      write: str(v.write_errors) ?? "0",
      checksum: str(v.checksum_errors) ?? "0",
    },
    children: isRecord(v.vdevs) ? Object.values(v.vdevs).map((c) => parseVdev(c, depth + 1)) : [],
  };
}

/** Names of leaf vdevs that are not ONLINE (e.g. the missing half of a degraded mirror). */
export function unhealthyVdevs(
  vdevs: { name: string; state: string | null; was?: string | null; children: unknown[] }[],
): string[] {
  const out: string[] = [];
  const walk = (list: typeof vdevs) => {
    for (const v of list) {
      const kids = v.children as typeof vdevs;
      if (kids.length === 0 && v.state !== "ONLINE" && v.state !== "AVAIL")
        out.push(`${v.name} (${v.state ?? "?"}${v.was ? `, was ${v.was}` : ""})`);
      walk(kids);
    }
  };
  walk(vdevs);
  return out;
}
