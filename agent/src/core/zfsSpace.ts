import { LifeboatError, ParseError } from "./errors.js";
import { parseZfsColumns } from "./zfs.js";

/**
 * A pool's space and its snapshots, and the plan of a snapshot destroy: pure (fed the outputs of
 * `zfs list -H -p` and `zfs destroy -n -v -p`, returns data).
 *
 * What a snapshot's `used` means (OpenZFS man/man7/zfsprops.7, `used`): "When snapshots are created,
 * their space is initially shared between the snapshot and the file system, and possibly with
 * previous snapshots. As the file system changes, space that was previously shared becomes unique to
 * the snapshot, and counted in the snapshot's space used. Additionally, deleting snapshots can
 * increase the amount of space that is unique to (and thus used by) other snapshots." So `used` is
 * what destroying that one snapshot alone frees; what destroying several frees together can be more
 * (blocks only they share): that figure is ZFS's own dry run, `zfs destroy -n -v -p`, whose `reclaim`
 * line cmd/zfs/zfs_main.c sums from lzc_snaprange_space() over each dataset's runs of named snapshots.
 */

/** `zfs list -H -p -o <this> -t filesystem,volume -r <pool>` (the columns of `zfs list -o space`). */
export const SPACE_COLUMNS = [
  "name",
  "avail",
  "used",
  "usedbysnapshots",
  "usedbydataset",
  "usedbychildren",
  "usedbyrefreservation",
] as const;

/** `zfs list -H -p -t snapshot -o <this> -s createtxg -r <pool>`: oldest first. */
export const SNAPSHOT_SPACE_COLUMNS = [
  "name",
  "createtxg",
  "creation",
  "used",
  "written",
  "userrefs",
  "clones",
] as const;

/** `zfs list` arguments of a pool's snapshots with their space, oldest (by creation txg) first. */
export const snapshotSpaceArgs = (pool: string): string[] => [
  "list",
  "-H",
  "-p",
  "-t",
  "snapshot",
  "-o",
  SNAPSHOT_SPACE_COLUMNS.join(","),
  "-s",
  "createtxg",
  "-r",
  pool,
];

/** Bytes as numbers: exact up to 2^53 (8 PiB), more than any pool this rescues. */
export interface DatasetSpace {
  name: string;
  avail: number;
  used: number;
  usedBySnapshots: number;
  usedByDataset: number;
  usedByChildren: number;
  usedByRefreservation: number;
}

export interface SnapshotSpace {
  name: string;
  dataset: string;
  snapshot: string;
  createtxg: number;
  /** ISO 8601 (from seconds since the epoch). */
  created: string;
  used: number;
  written: number;
  /** User holds (`userrefs`): `zfs destroy` refuses a held snapshot. */
  holds: number;
  /** Clones of this snapshot (`clones`): `zfs destroy` refuses without -R, which Lifeboat never uses. */
  clones: string[];
}

const bytes = (what: string, v: string): number => {
  if (!/^\d+$/.test(v)) throw new ParseError(what, `not a byte count: ${JSON.stringify(v)}`);
  return Number(v);
};

export function parseDatasetSpace(stdout: string): DatasetSpace[] {
  return parseZfsColumns(stdout, SPACE_COLUMNS).map((r) => ({
    name: r.name,
    avail: bytes("zfs list -o space", r.avail),
    used: bytes("zfs list -o space", r.used),
    usedBySnapshots: bytes("zfs list -o space", r.usedbysnapshots),
    usedByDataset: bytes("zfs list -o space", r.usedbydataset),
    usedByChildren: bytes("zfs list -o space", r.usedbychildren),
    usedByRefreservation: bytes("zfs list -o space", r.usedbyrefreservation),
  }));
}

export function parseSnapshotSpace(stdout: string): SnapshotSpace[] {
  const what = "zfs list -t snapshot";
  return parseZfsColumns(stdout, SNAPSHOT_SPACE_COLUMNS).map((r) => {
    const at = r.name.indexOf("@");
    if (at <= 0) throw new ParseError(what, `not a snapshot name: ${JSON.stringify(r.name)}`);
    return {
      name: r.name,
      dataset: r.name.slice(0, at),
      snapshot: r.name.slice(at + 1),
      createtxg: bytes(what, r.createtxg),
      created: new Date(bytes(what, r.creation) * 1000).toISOString(),
      used: bytes(what, r.used),
      written: bytes(what, r.written),
      holds: bytes(what, r.userrefs),
      clones: r.clones === "-" || r.clones === "" ? [] : r.clones.split(","),
    };
  });
}

/** `zfs destroy -n -v -p …`: the snapshots it would destroy and what it would reclaim (bytes). */
export function parseDestroyDryRun(stdout: string): { destroy: string[]; reclaim: number | null } {
  const destroy: string[] = [];
  let reclaim: number | null = null;
  for (const line of stdout.split("\n")) {
    if (line === "") continue;
    const [k, v] = line.split("\t");
    if (k === "destroy" && v) destroy.push(v);
    else if (k === "reclaim" && v !== undefined) reclaim = bytes("zfs destroy -n -v -p", v);
    else throw new ParseError("zfs destroy -n -v -p", `unexpected line ${JSON.stringify(line.slice(0, 80))}`);
  }
  return { destroy, reclaim };
}

/** One snapshot name of the pool across its datasets (a recursive snapshot, or one dataset's). */
export interface SnapshotGroup {
  snapshot: string;
  /** The oldest of its members' transaction groups: the order ZFS made them in. */
  createtxg: number;
  created: string;
  datasets: string[];
  /** Sum of the members' `used`: what destroying this name alone frees at least. */
  used: number;
  written: number;
  held: string[];
  clones: string[];
}

/** The snapshots grouped by name, oldest first. */
export function groupSnapshots(snaps: readonly SnapshotSpace[]): SnapshotGroup[] {
  const by = new Map<string, SnapshotGroup>();
  for (const s of snaps) {
    let g = by.get(s.snapshot);
    if (!g) {
      g = {
        snapshot: s.snapshot,
        createtxg: s.createtxg,
        created: s.created,
        datasets: [],
        used: 0,
        written: 0,
        held: [],
        clones: [],
      };
      by.set(s.snapshot, g);
    }
    if (s.createtxg < g.createtxg) {
      g.createtxg = s.createtxg;
      g.created = s.created;
    }
    g.datasets.push(s.dataset);
    g.used += s.used;
    g.written += s.written;
    if (s.holds > 0) g.held.push(s.name);
    g.clones.push(...s.clones);
  }
  return [...by.values()].sort((a, b) => a.createtxg - b.createtxg || a.snapshot.localeCompare(b.snapshot));
}

/** Lifeboat's own pre-change snapshots (app/context.ts snapshot()): `lifeboat-<stamp>[-<change>]`. */
export const isLifeboatSnapshot = (snapshot: string) => /^lifeboat-\d{8}T\d{6}Z(?:-|$)/.test(snapshot);

/** The newest of Lifeboat's own snapshots: the undo of the last change, never destroyed by a request. */
export function newestLifeboatSnapshot(groups: readonly SnapshotGroup[]): string | null {
  return groups.filter((g) => isLifeboatSnapshot(g.snapshot)).at(-1)?.snapshot ?? null;
}

/** A snapshot name as zfs_namecheck allows it, minus the space (a comma or % would split ZFS's list). */
const SNAP_NAME = /^[A-Za-z0-9_.:-]{1,200}$/;
const DATASET = /^[A-Za-z][A-Za-z0-9_.:/-]{0,250}$/;

export interface DestroyPlan {
  pool: string;
  /** The snapshot names (after the @), oldest first: `zfs destroy -r <pool>@a,b,c` destroys exactly these. */
  snapshots: string[];
  /** Every dataset snapshot that goes. */
  names: string[];
  /** The names left afterwards. */
  remaining: number;
}

export const MAX_DESTROY = 100;

/**
 * Checks a request to destroy snapshots of `pool` and says exactly what one `zfs destroy -r
 * <pool>@a,b,…` call will destroy. Each requested item is `<pool>@<name>` (that name on every
 * dataset of the pool: a recursive snapshot) or `<dataset>@<name>` (that dataset's). Refused:
 * malformed names, another pool's, unknown ones, a name given for only some of the datasets that
 * have it (the one call destroys it on all of them), held or cloned snapshots, `protect`ed ones (the
 * snapshot a pending fix relies on, Lifeboat's newest own one), and leaving fewer than `keep` names.
 */
export function planSnapshotDestroy(
  pool: string,
  requested: readonly string[],
  groups: readonly SnapshotGroup[],
  protect: ReadonlyMap<string, string>,
  keep: number,
): DestroyPlan {
  if (requested.length === 0) throw new LifeboatError("validation-failed", "name at least one snapshot");
  if (requested.length > MAX_DESTROY)
    throw new LifeboatError("validation-failed", `at most ${MAX_DESTROY} snapshots in one request`);
  const wanted = new Map<string, Set<string>>();
  for (const item of requested) {
    const at = item.indexOf("@");
    const ds = at > 0 ? item.slice(0, at) : "";
    const snap = at > 0 ? item.slice(at + 1) : "";
    if (!DATASET.test(ds) || !SNAP_NAME.test(snap))
      throw new LifeboatError(
        "validation-failed",
        `not a snapshot name: ${JSON.stringify(item.slice(0, 80))} (give <dataset>@<snapshot>)`,
      );
    if (ds !== pool && !ds.startsWith(`${pool}/`))
      throw new LifeboatError("snapshot-other-pool", `${item} is not a snapshot of pool ${pool}`, {
        snapshot: item,
      });
    const g = groups.find((x) => x.snapshot === snap);
    // <pool>@<name>: that name on every dataset (as `zfs destroy -r` takes it); else the one dataset's
    const all = !g ? [] : ds === pool ? g.datasets : [ds];
    if (!g || all.length === 0 || !all.every((d) => g.datasets.includes(d)))
      throw new LifeboatError("snapshot-unknown", `no snapshot ${item} in pool ${pool}`, { snapshot: item });
    const set = wanted.get(snap) ?? new Set<string>();
    for (const d of all) set.add(d);
    wanted.set(snap, set);
  }
  const chosen = groups.filter((g) => wanted.has(g.snapshot));
  for (const g of chosen) {
    const set = wanted.get(g.snapshot) as Set<string>;
    const missing = g.datasets.filter((d) => !set.has(d));
    if (missing.length)
      throw new LifeboatError(
        "snapshot-partial",
        `@${g.snapshot} is also on ${missing.join(", ")}: one destroy removes it from every dataset of ${pool}; name ${pool}@${g.snapshot} (or each dataset's)`,
        { snapshot: g.snapshot, datasets: g.datasets },
      );
    const why = protect.get(g.snapshot);
    if (why)
      throw new LifeboatError("snapshot-protected", `${pool}@${g.snapshot} is kept: ${why}`, {
        snapshot: g.snapshot,
      });
    if (g.held.length)
      throw new LifeboatError(
        "snapshot-held",
        `${g.held.join(", ")} ${g.held.length === 1 ? "has" : "have"} a user hold (zfs holds): release it first, or keep the snapshot`,
        { snapshot: g.snapshot, held: g.held },
      );
    if (g.clones.length)
      throw new LifeboatError(
        "snapshot-has-clones",
        `@${g.snapshot} is the origin of ${g.clones.join(", ")}: destroying it would need destroying those datasets (-R), which this request never does`,
        { snapshot: g.snapshot, clones: g.clones },
      );
  }
  const remaining = groups.length - chosen.length;
  if (remaining < keep)
    throw new LifeboatError(
      "snapshot-keep",
      `that would leave ${remaining} snapshot${remaining === 1 ? "" : "s"} of ${pool} to roll back to; keep is ${keep} (send "keep": 0 to allow it)`,
      { remaining, keep },
    );
  return {
    pool,
    snapshots: chosen.map((g) => g.snapshot),
    names: chosen.flatMap((g) => g.datasets.map((d) => `${d}@${g.snapshot}`)),
    remaining,
  };
}

/** The one `zfs destroy` argument list (add -n for the dry run): -v -p for the parsable report, never -f/-R/-d. */
export function destroyArgs(plan: Pick<DestroyPlan, "pool" | "snapshots">, dryRun: boolean): string[] {
  return ["destroy", ...(dryRun ? ["-n"] : []), "-v", "-p", "-r", `${plan.pool}@${plan.snapshots.join(",")}`];
}

/** A pool counts as full when what is left is below 1% of it (at least 64 MiB, at most 1 GiB). */
export function isFull(avail: number, used: number): boolean {
  const limit = Math.min(1024 ** 3, Math.max(64 * 1024 ** 2, (avail + used) / 100));
  return avail < limit;
}

/** What freeing should reach: 10% of the pool free (at most 10 GiB). */
export function freeTarget(avail: number, used: number): number {
  return Math.min(10 * 1024 ** 3, (avail + used) / 10);
}

/** 1536 → "1.5 KiB", as people read sizes. */
export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v >= 10 ? 0 : 1)} ${units[i]}`;
}
