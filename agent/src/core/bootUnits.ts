import type { FstabEntry } from "./mounts.js";
import type { RefusedLine } from "./plan.js";

/**
 * What the installed system's systemd units add to its fstab at boot. Pure: fed unit names and
 * unit file texts read from the generation's `etc/systemd/system`.
 *
 * - nixpkgs `nixos/modules/tasks/filesystems/zfs.nix` makes one `zfs-import-<pool>.service`
 *   (createImportService: `nameValuePair "zfs-import-${pool}"`) for every data pool:
 *   `dataPools = allPools − rootPools`, `allPools = pools of the zfs fileSystems ++
 *   boot.zfs.extraPools` (a pool name or guid). A pool only in extraPools is in no fstab line:
 *   its unit is the only record that the system imports it.
 * - nix-community/impermanence `nixos.nix` (@7b1d382) makes each persisted directory a
 *   `systemd.mounts` entry: a `<escaped where>.mount` unit, `Type=none`, `Options=bind[,x-gvfs-*]`,
 *   `What=<persistent path><dir>`, wanted by local-fs.target. Not in the fstab either.
 */

/** At most this many unit names are looked at, and this many .mount units read. */
export const MAX_UNIT_NAMES = 8192;
export const MAX_MOUNT_UNITS = 256;

const IMPORT_UNIT = /^zfs-import-(.+)\.service$/;
/** ZFS pool names as zpool(8) accepts them (a leading letter; no space in a unit name), or a guid. */
const POOL_NAME = /^([A-Za-z][A-Za-z0-9_.:-]{0,254}|\d{1,20})$/;

/** Pools (or guids) the system imports at boot, from its `zfs-import-<pool>.service` unit names. */
export function importUnitPools(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names.slice(0, MAX_UNIT_NAMES)) {
    const m = IMPORT_UNIT.exec(n);
    if (m?.[1] && POOL_NAME.test(m[1])) out.add(m[1]);
  }
  return [...out].sort();
}

/** The path a mount unit's name stands for (systemd-escape --path undone: `-` is `/`, `\xNN` a byte). */
export function pathOfMountUnit(name: string): string | null {
  if (!name.endsWith(".mount")) return null;
  const body = name.slice(0, -".mount".length);
  if (body === "-") return "/";
  if (body === "" || body.startsWith("-") || body.endsWith("-") || body.includes("--")) return null;
  const bytes: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string;
    if (c === "-") bytes.push(0x2f);
    else if (c === "\\") {
      const hex = /^x([0-9a-fA-F]{2})/.exec(body.slice(i + 1));
      if (!hex) return null;
      bytes.push(Number.parseInt(hex[1] as string, 16));
      i += 3;
    } else if (/[A-Za-z0-9:_.]/.test(c)) bytes.push(c.charCodeAt(0));
    else return null;
  }
  const path = `/${Buffer.from(bytes).toString("utf8")}`;
  return path.includes("\0") ? null : path;
}

export interface MountUnit {
  name: string;
  what: string;
  where: string;
  type: string;
  options: string[];
}

/**
 * The [Mount] section of a unit file (systemd.mount(5), systemd.syntax(7): the last assignment
 * wins, `#`/`;` comments, no line continuations written by NixOS). A unit whose Where= does not
 * match its name is one systemd itself refuses to load: refused here too.
 */
export function parseMountUnit(
  name: string,
  text: string,
  warnings: string[] = [],
  skipped: RefusedLine[] = [],
): MountUnit | null {
  let section = "";
  const kv = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      section = line;
      continue;
    }
    if (section !== "[Mount]") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const where = (kv.get("Where") ?? "").replace(/\/+$/, "") || "/";
  const what = kv.get("What") ?? "";
  if (!what || !kv.has("Where")) {
    warnings.push(`${name}: no What= or Where=: skipped`);
    return null;
  }
  if (pathOfMountUnit(name) !== where) {
    const reason = `Where=${JSON.stringify(where.slice(0, 100))} does not match the unit name (systemd refuses it)`;
    warnings.push(`${name}: ${reason}: skipped`);
    skipped.push({
      path: pathOfMountUnit(name) ?? "",
      source: name,
      reason,
      essential: false,
      kind: "mount-unit",
    });
    return null;
  }
  return {
    name,
    what,
    where,
    type: kv.get("Type") ?? "",
    options: (kv.get("Options") ?? "").split(",").filter(Boolean),
  };
}

/**
 * The bind mounts among the units, as fstab lines (fsType none, option bind) the planner treats
 * like the fstab's own binds (confined targets, parents first, read-only from their source).
 * Other mount units (systemd's own API filesystems, network mounts) are not the system's disks.
 */
export function bindEntriesOf(units: readonly MountUnit[]): FstabEntry[] {
  return units
    .filter(
      (u) => (u.type === "" || u.type === "none") && u.options.some((o) => o === "bind" || o === "rbind"),
    )
    .map((u) => ({
      source: u.what,
      target: u.where,
      fstype: "none",
      options: ["bind", ...u.options.filter((o) => o !== "bind" && o !== "rbind" && !o.startsWith("x-"))],
      freq: 0,
      passno: 0,
      unit: u.name,
    }));
}
