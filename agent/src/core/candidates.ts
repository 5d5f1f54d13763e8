import { type BlockDevice, ESP_PARTTYPE, flattenDevices, LINUX_ROOT_FSTYPES } from "./lsblk.js";
import type { MountEntry } from "./mounts.js";
import { rootDatasetsOf } from "./systemRoot.js";
import { type Dataset, systemPathOf } from "./zfs.js";
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
      /** Imported under the root with a mounted system from another pool: its boot or data pool. */
      partOfSystem: boolean;
      /** Named like a boot pool: only chosen when asked for by name. */
      bootPool: boolean;
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
      /** Mounted inside the system at the root (e.g. its /home partition). */
      partOfSystem: boolean;
      bootPool: boolean;
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
  return (
    flattenDevices(tree)
      // An md member (an ESP mirrored with metadata 1.0 keeps the ESP type) is the array's, never an ESP itself.
      .filter((d) => d.type === "part" && d.fstype !== "linux_raid_member")
      .filter((d) => d.parttype === ESP_PARTTYPE || d.fstype === "vfat")
      .map((d) => ({
        device: d.path,
        disk: disks.get(d.path) ?? null,
        uuid: d.uuid,
        label: d.label,
        evidence: d.parttype === ESP_PARTTYPE ? ("parttype" as const) : ("vfat" as const),
        mounted: d.mountpoints,
      }))
  );
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
/** The OpenZFS guide's boot pool (`bpool`, `compatibility=grub2`) and the usual variants. */
const BOOT_POOL = /^(bpool|boot|bootpool|boot-pool)([-_].*)?$/i;

/** Altroot of each imported pool (pools imported by Lifeboat carry the rescue root). */
export type Altroots = ReadonlyMap<string, string | null>;

/**
 * The dataset a pool's system is mounted from at `/`: a dataset whose mountpoint (altroot taken
 * off) is `/` and that can be mounted (`canmount=on`, or `noauto` as the OpenZFS guide and boot
 * environments set it: the initrd mounts it by name), else a legacy dataset named like a root.
 * Among several, `canmount=on` first, then the shallowest; boot environments at the same depth:
 * the first by name here (scoring only; the mount picks by bootfs or asks, core/systemRoot.ts).
 */
export function rootDatasetOf(datasets: Dataset[], pool: string, altroots?: Altroots): Dataset | null {
  return rootDatasetsOf(datasets, pool, altroots)[0] ?? null;
}

/** The dataset holding /nix (mountpoint /nix, or a legacy dataset named …/nix): NixOS lives wherever /nix does. */
export function nixDatasetOf(datasets: Dataset[], pool: string, altroots?: Altroots): Dataset | null {
  const altroot = altroots?.get(pool) ?? null;
  let legacy: Dataset | null = null;
  for (const d of datasets) {
    if (d.pool !== pool || d.canmount === "off") continue;
    if (d.mountpoint === "legacy") {
      if (d.name.split("/").pop() === "nix" && (!legacy || d.name.length < legacy.name.length)) legacy = d;
    } else if (systemPathOf(d.mountpoint, altroot) === "/nix") return d;
  }
  return legacy;
}

/** A pool that, by its name, holds only /boot (the OpenZFS guide's bpool): never a system of its own. */
export function isBootPoolName(name: string): boolean {
  return BOOT_POOL.test(name);
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

  const altroots: Altroots = new Map(input.imported.map((p) => [p.name, p.altroot]));
  // Once a system is mounted at the root, the other pools imported under it and the devices
  // mounted inside it (its boot pool, data pools, /home partition) belong to it.
  const root = input.root.replace(/\/+$/, "") || "/";
  const rootMount = input.mounts.find((m) => m.target === root);
  const rootPool = rootMount?.fstype === "zfs" ? rootMount.source.split("/")[0] : null;
  const partOf = (pool: string) =>
    rootMount !== undefined && pool !== rootPool && altroots.get(pool) === root;
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
    if (isBootPoolName(pool)) {
      score -= 5;
      reasons.push("named like a boot pool (bpool): only /boot of a system");
    }
    if (imported) {
      const rootDs = rootDatasetOf(input.datasets, pool, altroots);
      const nixDs = rootDs ? null : nixDatasetOf(input.datasets, pool, altroots);
      const roots = rootDatasetsOf(input.datasets, pool, altroots);
      if (roots.length > 1) {
        score += 4;
        reasons.push(
          `has ${roots.length} root datasets (boot environments: ${roots
            .slice(0, 8)
            .map((d) => d.name)
            .join(", ")}): the pool's bootfs is mounted, else name one as "pool": "<dataset>"`,
        );
      } else if (rootDs) {
        score += 4;
        reasons.push(`has a root-like dataset ${rootDs.name}`);
      } else if (nixDs) {
        score += 4;
        reasons.push(`has a /nix dataset ${nixDs.name} (the root may be a tmpfs)`);
      } else {
        score -= 4;
        reasons.push("no dataset looks like a root filesystem or /nix");
      }
    }
    if (partOf(pool)) reasons.push(`part of the system mounted at ${input.root}`);
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
      partOfSystem: partOf(pool),
      bootPool: isBootPoolName(pool),
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
    const inside = rootMount !== undefined && rootMount.source !== d.path && d.mountpoints.length > 0;
    if (inside) reasons.push(`part of the system mounted at ${input.root}`);
    if (d.label === "nixos") {
      score += 3;
      reasons.push("filesystem label is 'nixos' (the NixOS manual's label)");
    }
    // An LV named root (the NixOS manual's LUKS-on-LVM install, disko's lvm examples) over its siblings.
    if (d.type === "lvm" && /-root$/.test(d.name)) {
      score += 2;
      reasons.push("LVM logical volume named root");
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
      partOfSystem: inside,
      bootPool: false,
    });
  }
  return out.sort((a, b) => b.score - a.score || a.id.localeCompare(b.id));
}

/**
 * What a request's `pool` names: a pool or device (as it is), or one root dataset of a pool
 * (`rpool/ROOT/b`, also as the candidate id `zfs:rpool/ROOT/b`): then its pool, and the dataset.
 */
export function splitWanted(wanted: string | undefined): { wanted?: string; rootDataset: string | null } {
  if (!wanted) return { rootDataset: null };
  const name = wanted.startsWith("zfs:") ? wanted.slice(4) : wanted;
  if (name.startsWith("/") || !name.includes("/")) return { wanted, rootDataset: null };
  return { wanted: name.slice(0, name.indexOf("/")), rootDataset: name };
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
  // A boot pool or a pool/partition that belongs to the mounted system is not a second system.
  const systems = candidates.filter((c) => !c.partOfSystem && !c.bootPool);
  const pool = systems.length > 0 ? systems : candidates.filter((c) => !c.partOfSystem);
  const usable = pool.filter((c) => c.kind !== "zfs" || c.importable);
  if (usable.length === 0) {
    const broken = pool.filter((c) => c.kind === "zfs" && !c.importable);
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
