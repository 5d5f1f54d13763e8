/**
 * md RAID and LVM under the installed system: what is there to assemble or activate, read-only.
 * Pure: fed the outputs of `lsblk --json`, `mdadm --examine --export`, `lvm pvs|lvs --reportformat
 * json`; returns data and the exact argument lists (app/stacks.ts runs them).
 *
 * Read-only, by the tools' own documentation:
 * - mdadm(8) `--assemble --readonly`: the array starts read-only, "no resync, recovery, or reshape
 *   will be started"; `--run` starts a degraded array (still read-only). No --force, no --update
 *   (both rewrite superblocks), members named explicitly (no --scan, so mdadm.conf's `AUTO -all` on
 *   the ISO does not apply and no other array is touched).
 * - lvm.conf(5) `activation/read_only_volume_list`: LVs matching an entry are activated read-only
 *   (the device-mapper table is loaded read-only; the LV's metadata is not changed, unlike
 *   `lvchange -p r`, which rewrites the VG metadata). `global/metadata_read_only = 1`: "no operations
 *   that change on-disk metadata are permitted" (no repair, no archive). `--monitor n`: no dmeventd.
 */
import { ParseError } from "./errors.js";
import { isRecord, str } from "./json.js";
import { type BlockDevice, flattenDevices } from "./lsblk.js";

/** lsblk TYPE of an assembled md array (md.c personality names) and of an LVM LV. */
const MD_TYPES = /^(raid\d+|linear|md|multipath)$/;
export const isMdType = (type: string): boolean => MD_TYPES.test(type);
export const LV_TYPE = "lvm";

export interface MdMember {
  device: string;
  uuid: string;
  /** MD_NAME as on the disk (`host:name`): untrusted text. */
  name: string | null;
  level: string | null;
  /** Raid disks the array has when complete. */
  raidDevices: number | null;
  metadata: string | null;
}

const MD_UUID = /^[0-9a-f]{8}(:[0-9a-f]{8}){3}$/i;

/** `mdadm --examine --export <device>`: KEY=value lines (mdadm's Detail.c/super1.c export_examine_super). */
export function parseMdadmExamine(device: string, text: string): MdMember {
  const rec: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    rec[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  const uuid = rec.MD_UUID;
  if (!uuid || !MD_UUID.test(uuid))
    throw new ParseError("mdadm --examine --export", `no valid MD_UUID for ${device}`);
  const n = Number(rec.MD_DEVICES);
  return {
    device,
    uuid: uuid.toLowerCase(),
    name: rec.MD_NAME ?? null,
    level: rec.MD_LEVEL ?? null,
    raidDevices: Number.isInteger(n) && n > 0 ? n : null,
    metadata: rec.MD_METADATA ?? null,
  };
}

/** md members no running array uses yet (no md child in the lsblk tree), not mounted anywhere. */
export function pendingMdMembers(devices: BlockDevice[]): BlockDevice[] {
  return flattenDevices(devices).filter(
    (d) =>
      d.fstype === "linux_raid_member" &&
      d.mountpoints.length === 0 &&
      !d.children.some((c) => isMdType(c.type)),
  );
}

/** LVM PVs with no active LV on them yet. */
export function pendingPvs(devices: BlockDevice[]): BlockDevice[] {
  return flattenDevices(devices).filter(
    (d) => d.fstype === "LVM2_member" && !d.children.some((c) => c.type === LV_TYPE),
  );
}

export interface MdAssembly {
  uuid: string;
  /** /dev/md/<name>: the array's own name when it is a plain one, else lifeboat-<uuid prefix>. */
  target: string;
  members: string[];
  level: string | null;
  raidDevices: number | null;
  degraded: boolean;
}

const SAFE_MD_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$/;

/** The name under /dev/md/ for an array: the part of MD_NAME after the homehost, if it is plain. */
export function mdTargetName(m: Pick<MdMember, "uuid" | "name">): string {
  const short = m.name?.split(":").pop() ?? "";
  return SAFE_MD_NAME.test(short) ? short : `lifeboat-${m.uuid.slice(0, 8)}`;
}

/** One assembly per array UUID, members sorted; two arrays wanting one name: the second gets its UUID. */
export function planMdAssemblies(members: MdMember[]): MdAssembly[] {
  const byUuid = new Map<string, MdMember[]>();
  for (const m of members) byUuid.set(m.uuid, [...(byUuid.get(m.uuid) ?? []), m]);
  const taken = new Set<string>();
  const out: MdAssembly[] = [];
  for (const [uuid, list] of [...byUuid].sort(([a], [b]) => a.localeCompare(b))) {
    const first = list[0] as MdMember;
    let name = mdTargetName(first);
    if (taken.has(name)) name = `lifeboat-${uuid.slice(0, 8)}`;
    taken.add(name);
    const raidDevices = first.raidDevices;
    out.push({
      uuid,
      target: `/dev/md/${name}`,
      members: list.map((m) => m.device).sort(),
      level: first.level,
      raidDevices,
      degraded: raidDevices !== null && list.length < raidDevices,
    });
  }
  return out;
}

/** mdadm(8) argv: assemble one array read-only from exactly these members. */
export function mdAssembleArgs(a: MdAssembly): string[] {
  return ["--assemble", "--readonly", "--run", `--uuid=${a.uuid}`, a.target, ...a.members];
}

// ── LVM ─────────────────────────────────────────────────────────────────────────────────────────

/** lvm(8) names: [A-Za-z0-9+_.-], not starting with '-' (lib/misc/lvm-string.c validate_name). */
const LVM_NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$/;
export const isLvmName = (s: string): boolean => LVM_NAME.test(s) && s !== "." && s !== "..";

/** For every lvm command: never change on-disk metadata (no repair, no archive, no backup). */
export const LVM_READ_CONFIG = "global { metadata_read_only = 1 }";

/** Activation config: the named VGs' LVs come up read-only; metadata untouched. */
export function lvmReadOnlyConfig(vgs: string[]): string {
  for (const v of vgs) if (!isLvmName(v)) throw new Error(`not an LVM name: ${v}`);
  const list = vgs.map((v) => `"${v}"`).join(", ");
  return `${LVM_READ_CONFIG} activation { read_only_volume_list = [ ${list} ] }`;
}

export const PVS_FIELDS = "pv_name,vg_name";
export const LVS_FIELDS = "vg_name,lv_name,lv_attr,lv_dm_path";

function reportRows(text: string, kind: "pv" | "lv", what: string): Record<string, unknown>[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ParseError(what, (err as Error).message);
  }
  if (!isRecord(doc) || !Array.isArray(doc.report)) throw new ParseError(what, "no report array");
  const rows: Record<string, unknown>[] = [];
  for (const r of doc.report) {
    if (!isRecord(r)) continue;
    const list = r[kind];
    if (Array.isArray(list)) for (const x of list) if (isRecord(x)) rows.push(x);
  }
  return rows;
}

export interface LvmPv {
  pv: string;
  vg: string | null;
}

/** `lvm pvs --reportformat json -o pv_name,vg_name`. */
export function parsePvsReport(text: string): LvmPv[] {
  return reportRows(text, "pv", "lvm pvs --reportformat json").flatMap((r) => {
    const pv = str(r.pv_name);
    if (!pv) return [];
    const vg = str(r.vg_name);
    return [{ pv, vg: vg ? vg : null }];
  });
}

export interface LvmLv {
  vg: string;
  lv: string;
  attr: string;
  /** /dev/mapper/<vg>-<lv> (empty in the report when the LV is not active). */
  dmPath: string | null;
  active: boolean;
  /** Active with a read-only table (lv_attr permission 'R', or 'r' = read-only LV). */
  readonly: boolean;
}

/** `lvm lvs --reportformat json -o vg_name,lv_name,lv_attr,lv_dm_path` (lvs(8): lv_attr). */
export function parseLvsReport(text: string): LvmLv[] {
  return reportRows(text, "lv", "lvm lvs --reportformat json").flatMap((r) => {
    const vg = str(r.vg_name);
    const lv = str(r.lv_name);
    const attr = str(r.lv_attr) ?? "";
    if (!vg || !lv) return [];
    return [
      {
        vg,
        lv,
        attr,
        dmPath: str(r.lv_dm_path) || null,
        active: attr[4] === "a",
        readonly: attr[1] === "R" || attr[1] === "r",
      },
    ];
  });
}

/** The VGs to activate: those of the pending PVs, valid names only, sorted. */
export function vgsToActivate(pending: BlockDevice[], pvs: LvmPv[]): { vgs: string[]; refused: string[] } {
  const paths = new Set(pending.map((d) => d.path));
  const names = [...new Set(pvs.filter((p) => paths.has(p.pv) && p.vg).map((p) => p.vg as string))].sort();
  return { vgs: names.filter(isLvmName), refused: names.filter((n) => !isLvmName(n)) };
}

/** Post-order walk of an inverse (`lsblk -s`) tree: the lowest device of the stack first. */
export function stackBottomUp(tree: BlockDevice[]): BlockDevice[] {
  const out: BlockDevice[] = [];
  const seen = new Set<string>();
  const walk = (list: BlockDevice[]) => {
    for (const d of list) {
      walk(d.children);
      if (!seen.has(d.path)) {
        seen.add(d.path);
        out.push(d);
      }
    }
  };
  walk(tree);
  return out;
}
