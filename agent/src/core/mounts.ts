import { ParseError } from "./errors.js";

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

export interface FstabEntry extends MountEntry {
  freq: number;
  passno: number;
  /** Made from this mount unit of the generation (core/bootUnits.ts), not read from the fstab. */
  unit?: string;
}

/** Undo the octal escapes the kernel and fstab use for space, tab, newline and backslash. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Collects skipped lines as warnings (capped) instead of failing the whole text. */
function sink(what: string, warnings: string[] | undefined) {
  let n = 0;
  return (detail: string) => {
    if (!warnings) throw new ParseError(what, detail);
    if (n++ < 20) warnings.push(`${what}: skipped ${detail}`);
  };
}

/**
 * /proc/mounts (= /proc/self/mounts). With a `warnings` sink a line that does not parse is skipped
 * and described there; without one it is a ParseError.
 */
export function parseProcMounts(text: string, warnings?: string[]): MountEntry[] {
  const out: MountEntry[] = [];
  const bad = sink("/proc/mounts", warnings);
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 4) {
      bad(`short line ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    out.push({
      source: unescapeOctal(f[0] as string),
      target: unescapeOctal(f[1] as string),
      fstype: f[2] as string,
      options: (f[3] as string).split(","),
    });
  }
  return out;
}

/**
 * fstab(5), as NixOS generates it in /etc/fstab of a system closure (nixos/modules/tasks/
 * filesystems.nix: device and mount point with space and tab escaped as \040 and \011). With a
 * `warnings` sink a line that does not parse is skipped and described there.
 */
export function parseFstab(text: string, warnings?: string[]): FstabEntry[] {
  const out: FstabEntry[] = [];
  const bad = sink("fstab", warnings);
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(/\s+/);
    if (f.length < 3) {
      bad(`an entry with fewer than 3 fields: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    out.push({
      source: unescapeOctal(f[0] as string),
      target: unescapeOctal(f[1] as string),
      fstype: f[2] as string,
      options: (f[3] ?? "defaults").split(","),
      freq: Number.parseInt(f[4] ?? "0", 10) || 0,
      passno: Number.parseInt(f[5] ?? "0", 10) || 0,
    });
  }
  return out;
}

/** Whether `path` is `root` or lies below it (a trailing slash on `root` does not count). */
export function within(path: string, root: string): boolean {
  const r = root.replace(/\/+$/, "") || "/";
  return path === r || path.startsWith(r === "/" ? "/" : `${r}/`);
}

/** Mounts at or below `root`, in /proc/mounts order (parents before children). */
export function mountsUnder(mounts: MountEntry[], root: string): MountEntry[] {
  return mounts.filter((m) => within(m.target, root));
}

const lineKey = (m: MountEntry): string => `${m.source}\0${m.target}\0${m.fstype}`;

/** Entries of `after` that `before` does not have (counted: the same line may be mounted twice). */
export function addedSince(before: readonly MountEntry[], after: readonly MountEntry[]): MountEntry[] {
  const seen = new Map<string, number>();
  for (const m of before) seen.set(lineKey(m), (seen.get(lineKey(m)) ?? 0) + 1);
  const added: MountEntry[] = [];
  for (const m of after) {
    const n = seen.get(lineKey(m)) ?? 0;
    if (n > 0) seen.set(lineKey(m), n - 1);
    else added.push(m);
  }
  return added;
}

export function isReadOnly(m: MountEntry): boolean {
  return m.options.includes("ro");
}

/** The per-mount flags mount(8) turns into mount(2) flags: what a mount keeps when it is put back. */
const VFS_FLAGS = new Set([
  "ro",
  "rw",
  "nosuid",
  "nodev",
  "noexec",
  "sync",
  "dirsync",
  "noatime",
  "nodiratime",
  "relatime",
  "strictatime",
  "lazytime",
]);

/**
 * `mntpoint=` as mount.zfs passes it to the kernel (OpenZFS cmd/mount_zfs: the target's real path,
 * for .zfs/snapshot), for ZFS mounted without the helper; none for a path libmount would split (a
 * comma or whitespace).
 */
export function zfsMntpoint(target: string): string[] {
  return /[,\s]/.test(target) ? [] : [`mntpoint=${target}`];
}

/**
 * mount(8) arguments that put back a mount the kernel's table showed (`m`), onto the verified
 * directory `target` (a /proc/<pid>/fd/<n> path). ZFS is mounted as the mount itself did, without
 * mount.zfs (`--internal-only`): the helper refuses a dataset whose mountpoint is not legacy ("cannot
 * be mounted using 'mount'", OpenZFS cmd/mount_zfs), the layout of most ZFS guides. It gets the
 * table's mount flags and `mntpoint=` as mount.zfs would give it; the rest of what the table shows
 * for ZFS (xattr, posixacl, casesensitive…) is the dataset's own properties, which the kernel
 * applies by itself. Other types get the table's options back, through mount(8) as usual.
 */
export function remountArgs(m: MountEntry, target: string): string[] {
  if (m.fstype !== "zfs")
    return ["--no-canonicalize", "-t", m.fstype, "-o", m.options.join(","), m.source, target];
  const flags = [...m.options.filter((o) => VFS_FLAGS.has(o)), ...zfsMntpoint(m.target)];
  return ["--no-canonicalize", "--internal-only", "-t", "zfs", "-o", flags.join(","), m.source, target];
}

/** Where a mount is, which filesystem (`dev`, major:minor) and which directory of it (`root`). */
export interface MountPlace {
  target: string;
  root: string;
  dev: string;
}

/**
 * /proc/self/mountinfo (proc(5)): the fields /proc/mounts lacks, the filesystem a mount shows and
 * the directory of it at its root (a bind of a subdirectory, a btrfs subvolume). Lines that do not
 * parse are left out.
 */
export function parseMountInfo(text: string): MountPlace[] {
  const out: MountPlace[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 10 || !/^\d+:\d+$/.test(f[2] as string)) continue;
    out.push({
      dev: f[2] as string,
      root: unescapeOctal(f[3] as string),
      target: unescapeOctal(f[4] as string),
    });
  }
  return out;
}

/**
 * Where the mount at `target` takes its files from when it is a bind of an earlier mount: the last
 * mount before it (`places` in mount order) of the same filesystem whose directory holds its own,
 * and the path below that mount's target. Null: none (a mount of its own). Putting such a mount
 * back from its device would show the filesystem's root, not the bound directory.
 */
export function bindSource(places: readonly MountPlace[], target: string): string | null {
  let i = places.length - 1;
  while (i >= 0 && (places[i] as MountPlace).target !== target) i--;
  const me = places[i];
  if (!me) return null;
  for (let j = i - 1; j >= 0; j--) {
    const p = places[j] as MountPlace;
    if (p.dev !== me.dev) continue;
    if (p.root !== me.root && !me.root.startsWith(p.root === "/" ? "/" : `${p.root}/`)) continue;
    const rest = p.root === "/" ? me.root : me.root.slice(p.root.length);
    const base = p.target.replace(/\/+$/, "");
    return rest === "/" || rest === "" ? p.target : `${base}${rest}`;
  }
  return null;
}
