import { type BlockDevice, flattenDevices } from "./lsblk.js";

/**
 * Where an fstab line's device spec points, decided from the inventory only: the installed
 * system's fstab never makes Lifeboat mount a path it names. A spec must resolve to one device of
 * the lsblk/blkid inventory, by tag (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/disk/by-uuid/…),
 * by its exact kernel path, or through a link the rescue side's udev made (by-id, by-path,
 * /dev/<vg>/<lv>, /dev/md/<name>), looked up by the caller and passed in as `links`.
 */
export interface DeviceIndex {
  byPath: Map<string, BlockDevice>;
  byTag: Map<string, BlockDevice[]>;
  all: BlockDevice[];
}

const TAGS = ["uuid", "label", "partuuid", "partlabel"] as const;
type Tag = (typeof TAGS)[number];

function tagKey(tag: Tag, value: string): string {
  // UUIDs are case-insensitive (blkid prints lower case, fstab may not); labels are not.
  return `${tag}=${tag === "uuid" || tag === "partuuid" ? value.toLowerCase() : value}`;
}

export function indexDevices(devices: BlockDevice[]): DeviceIndex {
  const all = flattenDevices(devices);
  const byPath = new Map<string, BlockDevice>();
  const byTag = new Map<string, BlockDevice[]>();
  for (const d of all) {
    byPath.set(d.path, d);
    for (const tag of TAGS) {
      const v = d[tag];
      if (v === null || v === "") continue;
      const k = tagKey(tag, v);
      const list = byTag.get(k);
      if (list) list.push(d);
      else byTag.set(k, [d]);
    }
  }
  return { byPath, byTag, all };
}

/** udev escapes characters of by-label/by-partlabel link names as \xNN. */
function unescapeUdev(s: string): string {
  return s.replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
}

/** A canonical absolute path: no empty, `.` or `..` segment, no NUL. */
export function isCanonicalPath(p: string): boolean {
  if (!p.startsWith("/") || p.includes("\0")) return false;
  const segs = p.slice(1).split("/");
  return segs.every((s) => s !== "" && s !== "." && s !== "..");
}

/** Device links the caller should look up on the rescue side for this spec (by-id, by-path, /dev/<dir>/<name>). */
export function linkToLookUp(spec: string): string | null {
  if (!isCanonicalPath(spec) || !spec.startsWith("/dev/")) return null;
  const segs = spec.split("/").slice(2);
  if (
    segs[0] === "disk" &&
    segs.length === 3 &&
    /^by-(id|path|diskseq|loop-ref|loop-inode)$/.test(segs[1] as string)
  )
    return spec;
  // /dev/<vg>/<lv>, /dev/md/<name>, /dev/mapper/<name> not in the inventory under that path.
  if (segs.length === 2 && segs[0] !== "disk") return spec;
  return null;
}

export type Resolved = { ok: true; device: BlockDevice; note?: string } | { ok: false; reason: string };

/**
 * Resolve an fstab device spec against the inventory. `links` maps a spec (see linkToLookUp) to
 * the kernel path its rescue-side link points at.
 */
export function resolveSource(
  spec: string,
  index: DeviceIndex,
  links: ReadonlyMap<string, string> = new Map(),
  fstype = "auto",
): Resolved {
  const m =
    /^(?:\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/|(UUID|LABEL|PARTUUID|PARTLABEL)=)(.+)$/.exec(spec);
  if (m) {
    const tag = (m[1] ?? (m[2] as string).toLowerCase()) as Tag;
    let value = m[3] as string;
    if (m[1]) {
      if (value.includes("/") || value === "." || value === "..")
        return { ok: false, reason: `${spec} is not a device link name` };
      value = unescapeUdev(value);
    } else value = value.replace(/^"(.*)"$/, "$1");
    const found = index.byTag.get(tagKey(tag, value)) ?? [];
    if (found.length === 1) return { ok: true, device: found[0] as BlockDevice };
    if (found.length > 1)
      return {
        ok: false,
        reason: `${tag.toUpperCase()} ${value} matches ${found.length} devices (${found.map((d) => d.path).join(", ")}): ambiguous`,
      };
    return { ok: false, reason: `no device with ${tag.toUpperCase()} ${value} on this machine` };
  }
  if (!spec.startsWith("/dev/")) return { ok: false, reason: `${spec} is not a device` };
  if (!isCanonicalPath(spec)) return { ok: false, reason: `${spec} is not a plain device path` };
  const direct = index.byPath.get(spec);
  if (direct) return { ok: true, device: direct };
  const viaLink = links.get(spec);
  if (viaLink) {
    const d = index.byPath.get(viaLink);
    if (d) return { ok: true, device: d };
    return {
      ok: false,
      reason: `${spec} points at ${viaLink}, which is not a disk, partition or mapping of the inventory`,
    };
  }
  // A LUKS mapping opened here has Lifeboat's name, not the one the installed system gives it
  // (disko's `/dev/mapper/crypted`): exactly one open mapping with a matching filesystem is it.
  if (spec.startsWith("/dev/mapper/")) {
    const open = index.all.filter(
      (d) => d.type === "crypt" && d.fstype !== null && (fstype === "auto" || d.fstype === fstype),
    );
    if (open.length === 1) {
      const d = open[0] as BlockDevice;
      return {
        ok: true,
        device: d,
        note: `${spec} is taken to be ${d.path}, the only open LUKS mapping with a ${d.fstype} filesystem`,
      };
    }
  }
  return { ok: false, reason: `device ${spec} not found on this machine` };
}
