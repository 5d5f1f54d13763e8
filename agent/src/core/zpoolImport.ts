import { ParseError } from "./errors.js";
import { type BlockDevice, flattenDevices } from "./lsblk.js";

/** One vdev line of the `config:` tree of a `zpool import` listing. */
export interface ImportVdev {
  name: string;
  state: string | null;
  /** Trailing text after the state, e.g. "insufficient replicas", "corrupted data". */
  message: string | null;
  /** Section the vdev sits in: normal, logs, cache, spares, special, dedup. */
  section: string;
  children: ImportVdev[];
}

export interface ImportablePool {
  name: string;
  /** Pool guid as printed (decimal), kept as a string: it does not fit a JS number. */
  id: string;
  state: string;
  status: string | null;
  action: string | null;
  see: string | null;
  comment: string | null;
  config: ImportVdev[];
  /** The listing says the pool was last used (not exported) by another system. */
  lastAccessedByOtherSystem: boolean;
  /** Present when the text names the last host (newer OpenZFS / multihost pools). */
  lastHost: { hostname: string; hostid: string | null } | null;
  /** True when the action text says the pool cannot be imported. */
  importable: boolean;
}

const FIELD = /^\s*(pool|id|state|status|action|see|comment|config|errors|scan|hostid|hostname):\s?(.*)$/;
const SECTIONS = new Set(["logs", "cache", "spares", "special", "dedup"]);

/**
 * Parse the human listing of `zpool import` (no JSON form exists). Exit code is 0 even when there
 * is nothing to import ("no pools available to import" on stderr), so an empty stdout is [].
 */
export function parseZpoolImport(stdout: string): ImportablePool[] {
  const text = stdout.replace(/\r\n/g, "\n");
  const blocks: string[][] = [];
  for (const line of text.split("\n")) {
    if (/^\s*pool:\s/.test(line)) blocks.push([line]);
    else if (blocks.length > 0) (blocks[blocks.length - 1] as string[]).push(line);
    else if (line.trim() !== "")
      throw new ParseError(
        "zpool import listing",
        `unexpected line before first pool: ${JSON.stringify(line.slice(0, 80))}`,
      );
  }
  return blocks.map(parseBlock);
}

function parseBlock(lines: string[]): ImportablePool {
  const fields = new Map<string, string>();
  const configLines: string[] = [];
  let current: string | null = null;
  for (const line of lines) {
    if (current === "config") {
      if (/^\s*errors:/.test(line)) current = null;
      else {
        configLines.push(line);
        continue;
      }
    }
    const m = FIELD.exec(line);
    if (m) {
      current = m[1] as string;
      fields.set(current, (m[2] ?? "").trim());
      continue;
    }
    if (current && line.trim() !== "") {
      // Continuation of a wrapped status/action paragraph (tab-indented).
      fields.set(current, `${fields.get(current) ?? ""} ${line.trim()}`.trim());
    }
  }
  const name = fields.get("pool");
  const id = fields.get("id");
  const state = fields.get("state");
  if (!name || !id || !state)
    throw new ParseError("zpool import listing", "pool block without pool/id/state");
  if (!/^\d+$/.test(id)) throw new ParseError("zpool import listing", `pool id is not a number: ${id}`);
  const status = fields.get("status") || null;
  const action = fields.get("action") || null;
  const all = lines.join("\n");
  const host = /last accessed by (\S+) \(hostid=([0-9a-fA-Fx]+)\)/i.exec(all);
  const hostname = fields.get("hostname");
  const hostid = fields.get("hostid");
  let lastHost: ImportablePool["lastHost"] = null;
  if (host) lastHost = { hostname: host[1] as string, hostid: normalizeHostId(host[2] as string) };
  else if (hostname) lastHost = { hostname, hostid: hostid ? normalizeHostId(hostid) : null };
  return {
    name,
    id,
    state,
    status,
    action,
    see: fields.get("see") || null,
    comment: fields.get("comment") || null,
    config: parseConfig(configLines),
    lastAccessedByOtherSystem: /(last accessed|currently imported) by another system/i.test(status ?? ""),
    lastHost,
    importable: !/cannot be imported/i.test(action ?? "") && state !== "UNAVAIL" && state !== "FAULTED",
  };
}

function parseConfig(lines: string[]): ImportVdev[] {
  const roots: ImportVdev[] = [];
  const stack: { depth: number; vdev: ImportVdev }[] = [];
  let section = "normal";
  for (const raw of lines) {
    if (raw.trim() === "") continue;
    const body = raw.replace(/^\t/, "");
    const indent = /^ */.exec(body)?.[0].length ?? 0;
    const tokens = body.trim().split(/\s+/);
    const name = tokens[0] as string;
    if (indent === 0 && tokens.length === 1 && SECTIONS.has(name)) {
      section = name;
      stack.length = 0;
      continue;
    }
    const vdev: ImportVdev = {
      name,
      state: tokens[1] ?? null,
      message: tokens.length > 2 ? tokens.slice(2).join(" ") : null,
      section,
      children: [],
    };
    const depth = indent / 2;
    while (stack.length > 0 && (stack[stack.length - 1] as { depth: number }).depth >= depth) stack.pop();
    const parent = stack[stack.length - 1];
    if (parent) parent.vdev.children.push(vdev);
    else roots.push(vdev);
    stack.push({ depth, vdev });
  }
  return roots;
}

function hostIdOrNull(raw: string): string | null {
  try {
    return normalizeHostId(raw);
  } catch {
    return null;
  }
}

export function normalizeHostId(raw: string): string {
  const hex = raw.toLowerCase().replace(/^0x/, "");
  if (!/^[0-9a-f]{1,8}$/.test(hex)) throw new ParseError("hostid", `not a 32-bit hex value: ${raw}`);
  return hex.padStart(8, "0");
}

/** What a failed `zpool import` said, classified. */
export type ImportFailure =
  | {
      kind: "in-use-elsewhere";
      pool: string | null;
      lastHost: string | null;
      lastHostId: string | null;
      lastAccessed: string | null;
    }
  | { kind: "no-such-pool"; pool: string | null }
  | { kind: "missing-devices"; pool: string | null }
  | { kind: "name-exists"; pool: string | null }
  | { kind: "other"; pool: string | null; message: string };

export function classifyImportFailure(stderr: string): ImportFailure {
  const pool = /cannot import '([^']+)'/.exec(stderr)?.[1] ?? null;
  const message = stderr.trim().split("\n")[0] ?? "";
  if (
    /previously in use from another system|currently imported on another system|in use by another system/i.test(
      stderr,
    )
  ) {
    const m = /Last accessed by (\S+) \(hostid=([0-9a-fA-Fx]+)\)(?: at (.+))?/i.exec(stderr);
    return {
      kind: "in-use-elsewhere",
      pool,
      lastHost: m?.[1] ?? null,
      lastHostId: m?.[2] ? hostIdOrNull(m[2]) : null,
      lastAccessed: m?.[3]?.trim() ?? null,
    };
  }
  if (/a pool with that name already exists/.test(stderr)) return { kind: "name-exists", pool };
  if (/no such pool available/.test(stderr)) return { kind: "no-such-pool", pool };
  if (
    /no such pool or dataset|one or more devices is currently unavailable|insufficient replicas/.test(stderr)
  )
    return { kind: "missing-devices", pool };
  return { kind: "other", pool, message };
}

/**
 * The devices a read-only import can be pointed at (`zpool import -d <device>…`) instead of the
 * scan of every device blkid knows (zutil_import_os.c: `zpool_find_import_blkid`, then each
 * label read), or null to scan as usual. Only when nothing can be left out: the last listing shows
 * the pool ONLINE with data vdevs only (no log, cache, spare, special or dedup device, whose
 * absence would change the import), every leaf ONLINE, and the block devices carrying the pool's
 * guid (blkid: TYPE zfs_member, UUID = pool guid) are exactly as many as those leaves (a device
 * under two parents in lsblk's tree, an md array under each member, counts once).
 */
export function importDevices(pool: ImportablePool, devices: readonly BlockDevice[]): string[] | null {
  if (!pool.importable || pool.state !== "ONLINE" || pool.config.length !== 1) return null;
  const leaves: ImportVdev[] = [];
  const walk = (v: ImportVdev): boolean => {
    if (v.section !== "normal" || v.state !== "ONLINE") return false;
    if (v.children.length === 0) leaves.push(v);
    return v.children.every(walk);
  };
  const top = pool.config[0] as ImportVdev;
  if (top.children.length === 0 || !top.children.every(walk)) return null;
  const members = flattenDevices(devices)
    .filter((d) => d.fstype === "zfs_member" && d.uuid === pool.id)
    .map((d) => d.path)
    .sort();
  return members.length === leaves.length ? members : null;
}
