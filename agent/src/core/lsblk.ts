import { ParseError } from "./errors.js";
import { isRecord, str } from "./json.js";
import type { MountEntry } from "./mounts.js";

export const LSBLK_COLUMNS = "NAME,PATH,TYPE,FSTYPE,LABEL,UUID,PARTTYPE,PARTLABEL,SIZE,MOUNTPOINTS";

export const ESP_PARTTYPE = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";
/** Filesystems that can hold a NixOS root outside ZFS. */
export const LINUX_ROOT_FSTYPES = new Set(["ext4", "ext3", "ext2", "btrfs", "xfs", "f2fs", "bcachefs"]);

export interface BlockDevice {
  name: string;
  path: string;
  type: string;
  fstype: string | null;
  label: string | null;
  uuid: string | null;
  parttype: string | null;
  partlabel: string | null;
  partuuid: string | null;
  size: string | null;
  mountpoints: string[];
  children: BlockDevice[];
}

/** `lsblk --json -o NAME,PATH,TYPE,FSTYPE,LABEL,UUID,PARTTYPE,PARTLABEL,SIZE,MOUNTPOINTS`. */
export function parseLsblk(text: string): BlockDevice[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ParseError("lsblk --json", (err as Error).message);
  }
  if (!isRecord(doc) || !Array.isArray(doc.blockdevices))
    throw new ParseError("lsblk --json", "no blockdevices array");
  return doc.blockdevices.map((d) => parseDevice(d));
}

/** Deeper than any real device stack (disk → part → crypt → lvm → …): refuse, don't recurse on. */
const MAX_DEPTH = 64;

function parseDevice(v: unknown, depth = 0): BlockDevice {
  if (depth > MAX_DEPTH) throw new ParseError("lsblk --json", `devices nested deeper than ${MAX_DEPTH}`);
  if (!isRecord(v)) throw new ParseError("lsblk --json", "device is not an object");
  const name = str(v.name);
  if (!name) throw new ParseError("lsblk --json", "device without a name");
  const mps = Array.isArray(v.mountpoints) ? v.mountpoints : v.mountpoint !== undefined ? [v.mountpoint] : [];
  return {
    name,
    path: str(v.path) ?? `/dev/${name}`,
    type: str(v.type) ?? "unknown",
    fstype: str(v.fstype) ?? null,
    label: str(v.label) ?? null,
    uuid: str(v.uuid) ?? null,
    parttype: str(v.parttype)?.toLowerCase() ?? null,
    partlabel: str(v.partlabel) ?? null,
    partuuid: str(v.partuuid)?.toLowerCase() ?? null,
    size: str(v.size) ?? null,
    mountpoints: mps.filter((m): m is string => typeof m === "string"),
    children: Array.isArray(v.children) ? v.children.map((c) => parseDevice(c, depth + 1)) : [],
  };
}

/** Depth-first list of every device in the tree (a device under two parents, e.g. a mirror member of md, once). */
export function flattenDevices(tree: readonly BlockDevice[]): BlockDevice[] {
  const seen = new Set<string>();
  const out: BlockDevice[] = [];
  const walk = (list: readonly BlockDevice[]) => {
    for (const d of list) {
      if (!seen.has(d.path)) {
        seen.add(d.path);
        out.push(d);
      }
      walk(d.children);
    }
  };
  walk(tree);
  return out;
}

/** `blkid -o export`: blank-line separated blocks of KEY=value; DEVNAME keys each block. */
export function parseBlkidExport(text: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const block of text.replace(/\r\n/g, "\n").split(/\n\s*\n/)) {
    const rec: Record<string, string> = {};
    for (const line of block.split("\n")) {
      if (line.trim() === "") continue;
      const eq = line.indexOf("=");
      if (eq <= 0)
        throw new ParseError("blkid -o export", `line without '=': ${JSON.stringify(line.slice(0, 60))}`);
      // blkid escapes shell-special characters in values with a backslash.
      rec[line.slice(0, eq)] = line.slice(eq + 1).replace(/\\(.)/g, "$1");
    }
    if (Object.keys(rec).length === 0) continue;
    if (!rec.DEVNAME) throw new ParseError("blkid -o export", "block without DEVNAME");
    out.set(rec.DEVNAME, rec);
  }
  return out;
}

/** lsblk tree enriched with what only blkid knows (PARTUUID; TYPE for devices lsblk could not probe). */
export function mergeBlkid(tree: BlockDevice[], blkid: Map<string, Record<string, string>>): BlockDevice[] {
  return tree.map((d) => {
    const b = blkid.get(d.path);
    return {
      ...d,
      fstype: d.fstype ?? b?.TYPE ?? null,
      label: d.label ?? b?.LABEL ?? null,
      uuid: d.uuid ?? b?.UUID ?? null,
      partuuid: d.partuuid ?? b?.PARTUUID?.toLowerCase() ?? null,
      children: mergeBlkid(d.children, blkid),
    };
  });
}

/**
 * lsblk's MOUNTPOINTS carried from one mount table to the next without listing the devices again:
 * the targets of mounts gone are taken off their device, those of new mounts put on the device
 * whose path is the mount's source. Mounts of anything that is not under /dev (datasets, tmpfs,
 * proc) are not lsblk's. Null when a mount gone or new names a /dev source that is no device's
 * path (a link, an alias, a device lsblk has not seen): only lsblk can tell then.
 */
export function moveMountpoints(
  tree: readonly BlockDevice[],
  before: readonly MountEntry[],
  after: readonly MountEntry[],
): BlockDevice[] | null {
  const key = (m: MountEntry) => `${m.source}\0${m.target}`;
  const was = new Set(before.map(key));
  const now = new Set(after.map(key));
  const paths = new Set(flattenDevices(tree).map((d) => d.path));
  const changes = new Map<string, { gone: Set<string>; added: string[] }>();
  const change = (m: MountEntry, gone: boolean): boolean => {
    if (!m.source.startsWith("/dev/")) return true;
    if (!paths.has(m.source)) return false;
    const c = changes.get(m.source) ?? { gone: new Set<string>(), added: [] };
    if (gone) c.gone.add(m.target);
    else c.added.push(m.target);
    changes.set(m.source, c);
    return true;
  };
  for (const m of before) if (!now.has(key(m)) && !change(m, true)) return null;
  for (const m of after) if (!was.has(key(m)) && !change(m, false)) return null;
  const moved = (d: BlockDevice): BlockDevice => {
    const c = changes.get(d.path);
    const children = d.children.map(moved);
    if (!c) return { ...d, children };
    const kept = d.mountpoints.filter((t) => !c.gone.has(t));
    return { ...d, mountpoints: [...kept, ...c.added.filter((t) => !kept.includes(t))], children };
  };
  return tree.map(moved);
}
