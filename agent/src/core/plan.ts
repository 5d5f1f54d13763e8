import type { Candidate } from "./candidates.js";
import type { BlockDevice } from "./lsblk.js";
import { depthOf } from "./mountOrder.js";
import type { FstabEntry } from "./mounts.js";
import { Planner } from "./planner.js";
import { isBootloaderPath } from "./planPaths.js";
import { indexDevices, resolveSource } from "./sources.js";
import type { Dataset } from "./zfs.js";

export { cleanTarget, isBootloaderPath, joinRoot, roleOf } from "./planPaths.js";

export type MountRole = "root" | "nix" | "home" | "var" | "boot" | "esp" | "other";

export type PlanStep =
  | {
      kind: "import-pool";
      pool: string;
      guid: string | null;
      readonly: boolean;
      altroot: string;
      /** Why the system needs it: its root, or what its fstab mounts from it. */
      reason: string;
      /** `root`, `fstab`, `extraPools unit zfs-import-<pool>.service` or `request` (PoolReason). */
      importedBecause: string;
    }
  | {
      kind: "mount";
      role: MountRole;
      /** Dataset name, live device path, "tmpfs", or (bind) the host path of the source. */
      source: string;
      /** Absolute path on the live system (under the rescue root). */
      target: string;
      /** Path inside the installed system ("/", "/nix", "/boot"). */
      path: string;
      fstype: string;
      options: string[];
      /** `mount -t <fstype>` onto the verified target, or a bind mount of `from`. */
      method: "mount" | "bind";
      origin: "fstab" | "datasets" | "esp-guess" | "device" | "tmpfs-root";
      /** Bind mounts: the directory inside the installed system that is shown at `path`. */
      from?: string;
      /** Path of the planned mount this one lands on (null for the root). */
      parent: string | null;
      /** A bind made by this mount unit of the generation (not by an fstab line). */
      unit?: string;
    };

export type MountStep = Extract<PlanStep, { kind: "mount" }>;
export type ImportStep = Extract<PlanStep, { kind: "import-pool" }>;

/** What a skipped entry of the installed system is: where the agent found it. */
export type SkippedKind = "fstab" | "mount-unit" | "dataset" | "pool";

/**
 * An entry of the installed system that is not mounted (or, for a pool, not imported): unsafe,
 * broken or locked. Everything else still mounts; `essential` ones (`/`, `/nix`) stop the mount.
 */
export interface RefusedLine {
  /** Path inside the installed system ("" for a pool none of whose mounts is known yet). */
  path: string;
  /** fstab source, dataset, mount unit name, or pool name. */
  source: string;
  reason: string;
  /** The system cannot be used without it (`/`, `/nix`). */
  essential: boolean;
  kind: SkippedKind;
}
export type SkippedEntry = RefusedLine;

/** Why a pool is part of the system: its root, an fstab line, a boot-time import unit, the request. */
export interface PoolReason {
  pool: string;
  /** `root`, `fstab`, `extraPools unit zfs-import-<pool>.service`, or `request`. */
  importedBecause: string;
  /** The longer sentence (what the fstab mounts from it…). */
  reason: string;
  /** Imported read-only whatever the request says (pools only a boot unit names). */
  readonly: boolean;
}

export interface MountPlan {
  candidate: string;
  readonly: boolean;
  root: string;
  /** Where the mount list came from. */
  source: "fstab" | "fallback";
  /** False while facts are missing (datasets before import, fstab before the root is mounted). */
  complete: boolean;
  /** Every pool the system needs, its root pool first. */
  pools: string[];
  steps: PlanStep[];
  /**
   * Entries not mounted because they are unsafe, cannot be resolved or are locked (fstab lines,
   * mount units, datasets): skipped, everything else mounts. Children of a skipped path are
   * skipped when the plan runs.
   */
  refused: RefusedLine[];
  /** Why each pool of `pools` is part of the system. */
  poolReasons: PoolReason[];
  /** Locked datasets the plan would mount (their entries are in `refused`). */
  locked: { path: string; dataset: string; essential: boolean }[];
  notes: string[];
  /**
   * Read-only → read-write: what is released first (every mount under the root, newest first, then
   * the pools exported), before the read-write import and the mounts of `steps`.
   */
  release?: { kind: "unmount" | "export-pool"; target: string }[];
}

export interface PoolFacts {
  name: string;
  guid: string | null;
  imported: boolean;
  importable: boolean;
  altroot: string | null;
  /** Why Lifeboat's import of it failed in this run (it is then not importable). */
  failure?: string;
}

/** How a block-device system is laid out, when the caller probed it (no fstab read yet). */
export interface BlockLayout {
  /** btrfs subvolume holding `/` (null: the filesystem's default). */
  rootSubvol: string | null;
  /** `/` is not on the disk: a tmpfs, as with nix-community/impermanence. */
  tmpfsRoot: boolean;
  /** /nix is another subvolume of the same filesystem, or the filesystem itself (`""`). */
  nixSubvol: string | null;
}

export interface PlanInput {
  root: string;
  candidate: Candidate;
  readonly: boolean;
  devices: BlockDevice[];
  /** Datasets of the imported pools (those of pools not imported yet are listed after import). */
  datasets: Dataset[];
  /** The installed system's fstab, null when not (yet) readable. */
  fstab: FstabEntry[] | null;
  /** Imported and importable pools, to plan imports of the other pools the fstab mounts. */
  pools?: PoolFacts[];
  /** Rescue-side device links (by-id, by-path, /dev/<vg>/<lv>) → kernel device path. */
  links?: ReadonlyMap<string, string>;
  /** Block-device systems: the layout found by probing (btrfs subvolumes, /nix-only filesystems). */
  layout?: BlockLayout;
  /**
   * ZFS systems: the root (and /nix) datasets the app settled on when names and mountpoints do
   * not tell: the pool's bootfs, the operator's pick, or a read-only look into the datasets.
   */
  chosen?: { root: string | null; nix: string | null };
  /**
   * Pools (names or guids) the installed system imports at boot by its `zfs-import-<pool>.service`
   * units (nixpkgs zfs.nix: data pools and boot.zfs.extraPools): part of the system even when no
   * fstab line names them; their ZFS-mounted datasets inside the tree are mounted.
   */
  bootPools?: string[];
  /** The operator named the root pool in the request (`importedBecause: "request"`). */
  requested?: boolean;
}

/** Back-compat: the device path an fstab spec resolves to in the inventory, or null. */
export function resolveDeviceSpec(spec: string, devices: BlockDevice[]): string | null {
  const r = resolveSource(spec, indexDevices(devices));
  return r.ok ? r.device.path : null;
}

/**
 * Build the ordered mount plan. Pure: fed detection facts and, once the root (and /nix) are
 * mounted, the installed system's own fstab. With the fstab, the system is everything its lines
 * need (pools included) plus the datasets ZFS itself mounts for those pools; without it, the
 * conventional layout (a root dataset or the probed block layout, /nix, legacy home/var, the ESP
 * at /boot). Lines that are unsafe or cannot be resolved are listed in `refused`, never mounted.
 */
export function planMount(input: PlanInput): MountPlan {
  const p = new Planner(input);
  const { candidate } = input;
  if (input.fstab) {
    for (const e of input.fstab) p.fstabLine(e);
    for (const pool of input.bootPools ?? []) p.bootPool(pool);
  } else {
    p.complete = false;
    p.note(
      "the installed system's fstab is read once its root and /nix are mounted; until then the conventional layout is assumed",
    );
    if (candidate.kind === "zfs") {
      const listed = input.datasets.some((d) => d.pool === candidate.pool);
      if (listed) p.zfsConvention(candidate.pool);
      else p.note(`datasets of ${candidate.pool} are listed after the pool is imported`);
    } else p.blockConvention(candidate);
  }
  const unlisted = p.systemPools.filter((pool) => !input.datasets.some((d) => d.pool === pool));
  if (unlisted.length > 0) {
    p.complete = false;
    if (input.fstab) p.note(`datasets of ${unlisted.join(", ")} are listed after import`);
  }
  p.zfsMounts();
  if (!input.fstab && !p.drafts.some((d) => isBootloaderPath(d.path) && d.fstype === "vfat")) p.espGuess();
  const steps = p.steps();
  if (!steps.some((s) => s.kind === "mount" && s.path === "/")) p.complete = false;
  return {
    candidate: candidate.id,
    readonly: input.readonly,
    root: input.root,
    source: input.fstab ? "fstab" : "fallback",
    complete: p.complete,
    pools: p.systemPools,
    steps,
    refused: p.refused,
    poolReasons: p.systemPools.map((pool) => p.poolReason(pool)),
    locked: p.locked,
    notes: p.finishNotes(),
  };
}

export { depthOf };
