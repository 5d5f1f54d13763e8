import { type BlockDevice, ESP_PARTTYPE, flattenDevices, LINUX_ROOT_FSTYPES } from "./lsblk.js";
import type { MountEntry } from "./mounts.js";
import type { Dataset } from "./zfs.js";
import type { ImportablePool } from "./zpoolImport.js";
import type { ImportedPool } from "./zpoolJson.js";

export interface EspCandidate {
  device: string;
  disk: string | null;
  uuid: string | null;
  label: string | null;
  /** "parttype" when the GPT type GUID says ESP; "vfat" when only the filesystem suggests it. */
  evidence: "parttype" | "vfat";
  mounted: string[];
}

export interface LuksContainer {
  device: string;
  name: string;
  uuid: string | null;
  /** Mapper device when already opened (a crypt child in the tree). */
  opened: string | null;
}

export type Candidate =
  | {
      kind: "zfs";
      id: string;
      pool: string;
      guid: string | null;
      state: string;
      imported: boolean;
      importable: boolean;
      disks: string[];
      score: number;
      reasons: string[];
    }
  | {
      kind: "block";
      id: string;
      device: string;
      fstype: string;
      label: string | null;
      uuid: string | null;
      disks: string[];
      score: number;
      reasons: string[];
    };

/** Parent disk of every device, by walking the lsblk tree. */
export function diskOf(tree: BlockDevice[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (list: BlockDevice[], disk: string | null) => {
    for (const d of list) {
      const top = disk ?? d.path;
      out.set(d.path, top);
      walk(d.children, top);
    }
  };
  walk(tree, null);
  return out;
}

export function findEsps(tree: BlockDevice[]): EspCandidate[] {
  const disks = diskOf(tree);
  return flattenDevices(tree)
    .filter((d) => d.type === "part" && (d.parttype === ESP_PARTTYPE || d.fstype === "vfat"))
    .map((d) => ({
      device: d.path,
      disk: disks.get(d.path) ?? null,
      uuid: d.uuid,
      label: d.label,
      evidence: d.parttype === ESP_PARTTYPE ? ("parttype" as const) : ("vfat" as const),
      mounted: d.mountpoints,
    }));
}

export function findLuks(tree: BlockDevice[]): LuksContainer[] {
  return flattenDevices(tree)
    .filter((d) => d.fstype === "crypto_LUKS")
    .map((d) => ({
      device: d.path,
      name: d.name,
      uuid: d.uuid,
      opened: d.children.find((c) => c.type === "crypt")?.path ?? null,
    }));
}

/** Devices holding the live system itself (or anything mounted outside the rescue root). */
function inUseOutside(d: BlockDevice, root: string): boolean {
  return d.mountpoints.some((m) => m !== root && !m.startsWith(`${root}/`));
}

const ROOTISH_POOL = /^(rpool|zroot)$|root|nixos|system/i;
const ROOTISH_DATASET = /\/(root|nixos|ROOT(\/[^/]+)?)$/;

/** Does this pool's dataset list look like it holds a root filesystem? */
export function rootDatasetOf(datasets: Dataset[], pool: string): Dataset | null {
  const mine = datasets.filter((d) => d.pool === pool);
  const slash = mine.find((d) => d.mountpoint === "/" && d.canmount !== "off");
  if (slash) return slash;
  const legacy = mine
    .filter((d) => d.mountpoint === "legacy" && ROOTISH_DATASET.test(d.name))
    .sort((a, b) => a.name.split("/").length - b.name.split("/").length);
  return legacy[0] ?? null;
}

export interface CandidateInput {
  devices: BlockDevice[];
  importable: ImportablePool[];
  imported: ImportedPool[];
  datasets: Dataset[];
  mounts: MountEntry[];
  root: string;
}

/**
 * Everything that might be the installed system's root, scored. Pure: no pool is imported and no
 * filesystem is mounted to decide; the NixOS markers are checked after a read-only mount.
 */
export function findCandidates(input: CandidateInput): Candidate[] {
  const all = flattenDevices(input.devices);
  const disks = diskOf(input.devices);
  const espDisks = new Set(
    findEsps(input.devices)
      .filter((e) => e.evidence === "parttype")
      .map((e) => e.disk),
  );
  const memberDisks = (poolName: string, guid: string | null) =>
    [
      ...new Set(
        all
          .filter((d) => d.fstype === "zfs_member" && (d.uuid === guid || d.label === poolName))
          .map((d) => disks.get(d.path) ?? d.path),
      ),
    ].sort();

  const out: Candidate[] = [];
  const seenPools = new Set<string>();
  const zfsCandidate = (
    pool: string,
    guid: string | null,
    state: string,
    imported: boolean,
    importable: boolean,
  ) => {
    const reasons: string[] = [];
    let score = 0;
    const memberOn = memberDisks(pool, guid);
    if (memberOn.some((d) => espDisks.has(d))) {
      score += 3;
      reasons.push("shares a disk with an EFI system partition");
    }
    if (ROOTISH_POOL.test(pool)) {
      score += 2;
      reasons.push("pool name suggests a root pool");
    }
    if (imported) {
      const rootDs = rootDatasetOf(input.datasets, pool);
      if (rootDs) {
        score += 4;
        reasons.push(`has a root-like dataset ${rootDs.name}`);
      } else {
        score -= 4;
        reasons.push("no dataset looks like a root filesystem");
      }
    }
    if (!importable) reasons.push(`cannot be imported (state ${state})`);
    out.push({
      kind: "zfs",
      id: `zfs:${pool}`,
      pool,
      guid,
      state,
      imported,
      importable,
      disks: memberOn,
      score,
      reasons,
    });
  };
  for (const p of input.imported) {
    seenPools.add(p.name);
    zfsCandidate(p.name, p.guid, p.health ?? p.state, true, true);
  }
  for (const p of input.importable) {
    if (seenPools.has(p.name)) continue;
    seenPools.add(p.name);
    zfsCandidate(p.name, p.id, p.state, false, p.importable);
  }
  for (const d of all) {
    if (!d.fstype || !LINUX_ROOT_FSTYPES.has(d.fstype)) continue;
    if (inUseOutside(d, input.root)) continue;
    const reasons: string[] = [];
    let score = 0;
    if (d.label === "nixos") {
      score += 3;
      reasons.push("filesystem label is 'nixos' (the NixOS manual's label)");
    }
    const disk = disks.get(d.path) ?? d.path;
    if (espDisks.has(disk)) {
      score += 1;
      reasons.push("shares a disk with an EFI system partition");
    }
    out.push({
      kind: "block",
      id: `block:${d.path}`,
      device: d.path,
      fstype: d.fstype,
      label: d.label,
      uuid: d.uuid,
      disks: [disk],
      score,
      reasons,
    });
  }
  return out.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
}

export type Choice =
  | { ok: true; candidate: Candidate }
  | { ok: false; reason: "none" | "ambiguous" | "not-found" | "unavailable"; candidates: Candidate[] };

/** Pick the system to mount: the one asked for, else the single best-scored importable candidate. */
export function chooseCandidate(candidates: Candidate[], wanted?: string): Choice {
  if (wanted) {
    const c = candidates.find(
      (x) => (x.kind === "zfs" ? x.pool === wanted : x.device === wanted) || x.id === wanted,
    );
    if (!c) return { ok: false, reason: "not-found", candidates };
    if (c.kind === "zfs" && !c.importable) return { ok: false, reason: "unavailable", candidates: [c] };
    return { ok: true, candidate: c };
  }
  const usable = candidates.filter((c) => c.kind !== "zfs" || c.importable);
  if (usable.length === 0) {
    const broken = candidates.filter((c) => c.kind === "zfs" && !c.importable);
    return broken.length > 0
      ? { ok: false, reason: "unavailable", candidates: broken }
      : { ok: false, reason: "none", candidates };
  }
  const [first, second] = usable;
  if (!second || (first as Candidate).score > second.score)
    return { ok: true, candidate: first as Candidate };
  return {
    ok: false,
    reason: "ambiguous",
    candidates: usable.filter((c) => c.score === (first as Candidate).score),
  };
}
