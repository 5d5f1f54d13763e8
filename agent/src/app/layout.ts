import {
  bindEntriesOf,
  importUnitPools,
  MAX_MOUNT_UNITS,
  MAX_UNIT_NAMES,
  type MountUnit,
  parseMountUnit,
} from "../core/bootUnits.js";
import { type FstabEntry, parseFstab } from "../core/mounts.js";
import type { BlockLayout, RefusedLine } from "../core/plan.js";
import { linkToLookUp } from "../core/sources.js";
import type { System } from "../system/system.js";
import type { InstalledSystem } from "./installed.js";

/**
 * Where the fstab of the generation the system profile points at lives (the one the next boot
 * uses), then the activated one behind /etc/fstab (an older or newer generation after
 * `nixos-rebuild boot` without a switch). Both resolve their store links inside the root.
 */
/** The fstab of the generation the system profile points at: tried first. */
export const SYSTEM_FSTAB = "/nix/var/nix/profiles/system/etc/fstab";
/** The activated generation's fstab: the fallback when the profile's cannot mount the root. */
export const ACTIVATED_FSTAB = "/etc/fstab";
const FSTABS = [SYSTEM_FSTAB, ACTIVATED_FSTAB];

export interface SystemFstab {
  path: string;
  entries: FstabEntry[];
}

/** The installed system's fstab; a line that does not parse becomes a warning, not the loss of the file. */
export async function readSystemFstab(
  installed: InstalledSystem,
  warnings: string[],
  paths: readonly string[] = FSTABS,
): Promise<SystemFstab | null> {
  for (const path of paths) {
    let text: string | null = null;
    try {
      text = await installed.readText(path);
    } catch (err) {
      warnings.push(`could not read ${path}: ${(err as Error).message}`);
    }
    if (text !== null) return { path, entries: parseFstab(text, warnings) };
  }
  return null;
}

export interface BootUnits {
  /** Pools (or guids) the system imports at boot (`zfs-import-<pool>.service`). */
  pools: string[];
  /** Bind mounts its mount units make at boot (impermanence), as fstab lines. */
  binds: FstabEntry[];
  /** Mount units systemd itself would refuse (Where= not the unit's name): skipped entries. */
  skipped: RefusedLine[];
}

/**
 * The systemd units of the same generation as the fstab (its `etc/systemd/system`, read through
 * the confined door): the names of its pool import units, and the bind mounts of the .mount units
 * local-fs.target pulls in. Capped (names, units, bytes); an unreadable part is a warning.
 */
export async function readBootUnits(
  installed: InstalledSystem,
  fstabPath: string,
  warnings: string[],
): Promise<BootUnits> {
  const dir = `${fstabPath.replace(/\/fstab$/, "")}/systemd/system`;
  const names = async (path: string): Promise<string[]> => {
    try {
      const l = await installed.files.list(path, { max: MAX_UNIT_NAMES });
      if (l?.truncated) warnings.push(`${path}: more than ${MAX_UNIT_NAMES} entries, the rest not looked at`);
      return (l?.entries ?? []).map((e) => e.name);
    } catch (err) {
      warnings.push(`could not list ${path}: ${(err as Error).message}`);
      return [];
    }
  };
  const all = await names(dir);
  if (all.length === 0) return { pools: [], binds: [], skipped: [] };
  const wanted = new Set<string>();
  for (const t of ["local-fs.target.wants", "local-fs.target.requires"])
    if (all.includes(t)) for (const n of await names(`${dir}/${t}`)) if (n.endsWith(".mount")) wanted.add(n);
  const units: MountUnit[] = [];
  const skipped: RefusedLine[] = [];
  const list = [...wanted].sort();
  if (list.length > MAX_MOUNT_UNITS)
    warnings.push(
      `${list.length} mount units wanted by local-fs.target: only the first ${MAX_MOUNT_UNITS} read`,
    );
  for (const n of list.slice(0, MAX_MOUNT_UNITS)) {
    try {
      const text = await installed.readText(`${dir}/${n}`);
      const u = text === null ? null : parseMountUnit(n, text, warnings, skipped);
      if (u) units.push(u);
    } catch (err) {
      warnings.push(`could not read ${dir}/${n}: ${(err as Error).message}`);
    }
  }
  return { pools: importUnitPools(all), binds: bindEntriesOf(units), skipped };
}

/** Normalise a link target relative to the link's directory (`../../sda2` from /dev/disk/by-id). */
function joinLink(linkPath: string, target: string): string {
  const base = target.startsWith("/") ? [] : linkPath.split("/").slice(1, -1);
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") base.pop();
    else base.push(seg);
  }
  return `/${base.join("/")}`;
}

/**
 * Look up, on the rescue side, the udev links an fstab names (by-id, by-path, /dev/<vg>/<lv>,
 * /dev/md/<name>): one readlink each, never a path walk; a device-mapper node is named by its
 * /sys/block/dm-N/dm/name, the way lsblk shows it. The installed system's fstab only picks which
 * names are looked up; the planner then accepts only devices of the inventory.
 */
export async function lookUpLinks(sys: System, entries: readonly FstabEntry[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const wanted = new Set(entries.map((e) => linkToLookUp(e.source)).filter((x): x is string => x !== null));
  for (const spec of [...wanted].slice(0, 64)) {
    const target = await sys.readlink(spec).catch(() => null);
    if (target === null) continue;
    let dev = joinLink(spec, target);
    const dm = /^\/dev\/(dm-\d+)$/.exec(dev);
    if (dm) {
      const name = (await sys.readFile(`/sys/block/${dm[1]}/dm/name`).catch(() => null))
        ?.toString("utf8")
        .trim();
      if (name && /^[^/\0]+$/.test(name)) dev = `/dev/mapper/${name}`;
    }
    out.set(spec, dev);
  }
  return out;
}

/** Does `path` exist as a chain of real directories (no symlink anywhere) in the tree at `root`? */
export async function dirExists(sys: System, root: string, path: string): Promise<boolean> {
  try {
    const o = await sys.openDirInRoot(root, path, { create: false });
    await o.dir.close();
    return true;
  } catch {
    return false;
  }
}

/** btrfs subvolume names of the common schemes (`@`, `@nix`; disko's examples; NixOS wiki's `root`/`nix`). */
const ROOT_SUBVOLS = ["@", "root", "@root", "rootfs", "nixos", "@nixos"];
const NIX_SUBVOLS = ["@nix", "nix"];

/**
 * With a block filesystem mounted as it is (its default subvolume) at `root`, tell how the system
 * lies on it: the root itself ("as-is"), a /nix-only filesystem under a tmpfs root
 * (nix-community/impermanence), or btrfs subvolumes (`@`/`@nix`). Reads directory names only.
 */
export async function probeLayout(sys: System, root: string, fstype: string): Promise<BlockLayout | "as-is"> {
  const has = (p: string) => dirExists(sys, root, p);
  if ((await has("/nix/var/nix/profiles")) || (await has("/etc"))) return "as-is";
  if ((await has("/store")) && (await has("/var/nix/profiles")))
    return { rootSubvol: null, tmpfsRoot: true, nixSubvol: "" };
  if (fstype !== "btrfs") return "as-is";
  const names = new Set((await sys.readdir(root)) ?? []);
  let rootSubvol: string | null = null;
  for (const n of ROOT_SUBVOLS)
    if (names.has(n) && ((await has(`/${n}/etc`)) || (await has(`/${n}/nix`)))) {
      rootSubvol = n;
      break;
    }
  let nixSubvol: string | null = null;
  for (const n of NIX_SUBVOLS)
    if (names.has(n) && (await has(`/${n}/store`))) {
      nixSubvol = n;
      break;
    }
  if (rootSubvol) {
    const ownStore = await has(`/${rootSubvol}/nix/store`);
    return { rootSubvol, tmpfsRoot: false, nixSubvol: ownStore ? null : nixSubvol };
  }
  if (nixSubvol) return { rootSubvol: null, tmpfsRoot: true, nixSubvol };
  return "as-is";
}
