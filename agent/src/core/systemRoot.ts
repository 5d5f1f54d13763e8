import type { Altroots } from "./candidates.js";
import { type Dataset, systemPathOf } from "./zfs.js";

/**
 * Which dataset of a pool is the installed system's `/` (and which its /nix) before the fstab is
 * read. Pure: fed the pool's datasets, its `bootfs` and, when names and mountpoints do not tell,
 * what a read-only look into each legacy/noauto dataset found (the caller mounts, this decides).
 */

/** At most this many datasets are mounted one by one to look for NixOS in them. */
export const MAX_PROBES = 16;

/** What a read-only look at the top of one dataset found (lstat-style: no link followed, no file opened). */
export interface ProbeResult {
  dataset: string;
  /** `/etc/NIXOS` is a regular file under a real `/etc` directory. */
  etcNixos: boolean;
  /** `/nix/var/nix/profiles/system` exists (a link) under real directories. */
  systemProfile: boolean;
  /** `/nix` is a directory (a mountpoint for a /nix dataset when empty). */
  nixDir: boolean;
  /** `/store` is a directory at the top: the dataset is a /nix. */
  store: boolean;
  /** `/var/nix/profiles` is a directory at the top: the dataset is a /nix. */
  profiles: boolean;
  /** The probe could not mount or look (the dataset then counts as neither). */
  error?: string;
}

export interface RootDecision {
  root: string | null;
  nix: string | null;
  /** Several datasets are each a root and nothing says which: the operator picks. */
  ambiguous: string[];
  notes: string[];
}

const depth = (name: string) => name.split("/").length;

/** A legacy dataset named like a root: …/root, …/nixos, …/ROOT, …/ROOT/<name>. */
const ROOTISH_DATASET = /\/(root|nixos|ROOT(\/[^/]+)?)$/;
export function isRootishDatasetName(name: string): boolean {
  return ROOTISH_DATASET.test(name);
}

/**
 * Every dataset that can be `/` by mountpoint or name, best tier only: `mountpoint=/` ones first
 * (`canmount=on` before `noauto`), else legacy ones named like a root; within a tier the
 * shallowest. More than one means boot environments (the OpenZFS guide's rpool/ROOT/a, …/b).
 */
export function rootDatasetsOf(datasets: Dataset[], pool: string, altroots?: Altroots): Dataset[] {
  const altroot = altroots?.get(pool) ?? null;
  const mine = datasets.filter((d) => d.pool === pool && d.canmount !== "off");
  const at = mine.filter((d) => d.mountpoint !== "legacy" && systemPathOf(d.mountpoint, altroot) === "/");
  const legacy = mine.filter((d) => d.mountpoint === "legacy" && isRootishDatasetName(d.name));
  const tier = at.length > 0 ? at : legacy;
  const on = tier.filter((d) => d.canmount === "on");
  const best = on.length > 0 ? on : tier;
  const min = Math.min(...best.map((d) => depth(d.name)));
  return best.filter((d) => depth(d.name) === min).sort((a, b) => a.name.localeCompare(b.name));
}

/** `zpool get -H -p bootfs <pool>`: `pool\tbootfs\t<dataset or ->\t<source>`; null when unset or unreadable. */
export function parseBootfs(text: string, pool: string): string | null {
  for (const line of text.split("\n")) {
    const [name, prop, value] = line.split("\t");
    if (name === pool && prop === "bootfs" && value && value !== "-" && value.startsWith(`${pool}/`))
      return value;
  }
  return null;
}

/** Among several roots: the pool's `bootfs` when it is one of them, else none (never a silent guess). */
export function pickRoot(
  roots: Dataset[],
  bootfs: string | null,
): { root: Dataset | null; ambiguous: string[]; note?: string } {
  if (roots.length <= 1) return { root: roots[0] ?? null, ambiguous: [] };
  const names = roots.map((d) => d.name);
  const chosen = bootfs ? roots.find((d) => d.name === bootfs) : undefined;
  if (chosen)
    return {
      root: chosen,
      ambiguous: [],
      note: `${names.length} root datasets (${names.join(", ")}): the pool's bootfs ${chosen.name} is mounted`,
    };
  return { root: null, ambiguous: names };
}

/**
 * Datasets worth a look, in order (shallow first, then by name): filesystems of the pool that
 * ZFS does not mount by itself at a path (`mountpoint=legacy`, or `canmount=noauto`), unlocked.
 * The list is capped at MAX_PROBES; `capped` says how many were left out.
 */
export function probeOrder(
  datasets: Dataset[],
  pool: string,
  skip: ReadonlySet<string> = new Set(),
): { order: Dataset[]; capped: number } {
  const all = datasets
    .filter(
      (d) =>
        d.pool === pool &&
        d.name !== pool &&
        !skip.has(d.name) &&
        d.keystatus !== "unavailable" &&
        (d.mountpoint === "legacy" || (d.canmount === "noauto" && d.mountpoint.startsWith("/"))) &&
        d.canmount !== "off",
    )
    .sort((a, b) => depth(a.name) - depth(b.name) || a.name.localeCompare(b.name));
  return { order: all.slice(0, MAX_PROBES), capped: Math.max(0, all.length - MAX_PROBES) };
}

const isNix = (r: ProbeResult) => !r.error && r.store && r.profiles;
const isRoot = (r: ProbeResult) => !r.error && !isNix(r) && (r.etcNixos || r.systemProfile);

/**
 * NixOS by its content: a root has /etc/NIXOS or a system profile (or is, alone, the parent of a
 * /nix mountpoint when a /nix dataset was found); a /nix has a store and profiles at its top.
 * Several roots: ambiguous (the operator picks); several /nix: the shallowest, said in a note.
 */
export function rolesFromProbes(results: ProbeResult[]): RootDecision {
  const notes: string[] = [];
  const nixes = results.filter(isNix);
  let roots = results.filter(isRoot);
  if (roots.length === 0 && nixes.length > 0) {
    const parents = results.filter((r) => !r.error && !isNix(r) && r.nixDir);
    if (parents.length === 1) roots = parents;
  }
  const nix = nixes[0]?.dataset ?? null;
  if (nixes.length > 1)
    notes.push(`several datasets hold a Nix store (${nixes.map((r) => r.dataset).join(", ")}): ${nix} used`);
  for (const r of results.filter((x) => x.error)) notes.push(`could not look into ${r.dataset}: ${r.error}`);
  if (roots.length > 1) return { root: null, nix, ambiguous: roots.map((r) => r.dataset), notes };
  const root = roots[0]?.dataset ?? null;
  if (root) notes.push(`${root} holds a NixOS root (found by its content)`);
  if (nix) notes.push(`${nix} holds /nix (found by its content)`);
  return { root, nix, ambiguous: [], notes };
}
