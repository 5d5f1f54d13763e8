import { LifeboatError } from "../core/errors.js";
import {
  type DatasetSpace,
  destroyArgs,
  groupSnapshots,
  isFull,
  newestLifeboatSnapshot,
  parseDatasetSpace,
  parseDestroyDryRun,
  parseSnapshotSpace,
  planSnapshotDestroy,
  type SnapshotGroup,
  SPACE_COLUMNS,
  snapshotSpaceArgs,
} from "../core/zfsSpace.js";
import type { MountedRoot, RescueContext } from "./context.js";

/** How many of the oldest snapshot names get a dry-run figure in the view (one `zfs destroy -n` each). */
const DRY_RUNS = 16;

export interface SnapshotRow {
  /** `<pool>@<name>`: what the destroy request takes for this name on every dataset. */
  name: string;
  snapshot: string;
  created: string;
  datasets: string[];
  /** Sum of the datasets' `used`: what destroying this one name alone frees. */
  used: number;
  written: number;
  /** Why it cannot be destroyed by the request (held, cloned, protected), null when it can. */
  kept: string | null;
  /**
   * ZFS's dry run (`zfs destroy -n -v -p`) of destroying this name and every older one that can be
   * destroyed: what that frees together. Null when kept or past the oldest few.
   */
  freesWithOlder: number | null;
}

export interface PoolSpace {
  pool: string;
  avail: number;
  used: number;
  usedBySnapshots: number;
  full: boolean;
  datasets: DatasetSpace[];
  /** Oldest first. */
  snapshots: SnapshotRow[];
}

/**
 * The space of a pool of the installed system (read-only) and the one request that frees it:
 * destroying exactly the snapshots the operator names, in one `zfs destroy` call.
 *
 * That call is all-or-nothing: cmd/zfs/zfs_main.c zfs_do_destroy() gathers every named snapshot of
 * `<pool>@a,b,…` and its descendants (-r) into one nvlist and passes it to one
 * zfs_destroy_snaps_nvl() → lzc_destroy_snaps() (lib/libzfs_core/libzfs_core.c: "The snapshots must
 * all be in the same pool … If a snapshot has user holds or clones, the destroy operation will fail
 * and none of the snapshots will be destroyed"). A destroy cannot be undone, so no snapshot is taken
 * before it (one could not bring the destroyed ones back, and it would pin space on a full pool):
 * completeness comes from checking everything before the call (core/zfsSpace.ts planSnapshotDestroy)
 * and from ZFS refusing the whole call when any one snapshot cannot go.
 */
export class SpaceService {
  constructor(
    private readonly ctx: RescueContext,
    /** Snapshots a pending fix relies on (the diagnosis's rollback target): name → why. */
    private readonly pinned: () => Promise<Map<string, string>> = async () => new Map(),
  ) {}

  /** The snapshots pending fixes rely on (none when the diagnosis cannot be had). */
  pins(): Promise<Map<string, string>> {
    return this.pinned().catch(() => new Map<string, string>());
  }

  /** A pool with a dataset mounted under the installed root (the pools this rescue may change). */
  private async poolOf(pool: string): Promise<MountedRoot> {
    const m = await this.ctx.mounted();
    const pools = new Set(
      m.mounts.filter((x) => x.fstype === "zfs").map((x) => x.source.split("/")[0] as string),
    );
    if (!pools.has(pool))
      throw new LifeboatError(
        "pool-not-found",
        `no pool ${pool} is mounted for the installed system${pools.size ? ` (${[...pools].join(", ")})` : ": its store is not on ZFS, there is no snapshot to destroy"}`,
      );
    return m;
  }

  private async zfs(args: string[], what: string): Promise<string> {
    const r = await this.ctx.sys.run("zfs", args);
    if (r.exitCode !== 0)
      throw new LifeboatError(
        "command-failed",
        `${what} failed: ${r.stderr.trim().split("\n")[0] ?? r.exitCode}`,
      );
    return r.stdout;
  }

  /**
   * The datasets' space and the snapshots'. `snapshotsWhenFull`: the snapshots only when the pool
   * is full (listing a big pool's tens of thousands takes minutes, with the pool held all along).
   */
  private async read(
    pool: string,
    snapshotsWhenFull = false,
  ): Promise<{ datasets: DatasetSpace[]; groups: SnapshotGroup[] }> {
    const listDatasets = this.zfs(
      ["list", "-H", "-p", "-o", SPACE_COLUMNS.join(","), "-t", "filesystem,volume", "-r", pool],
      `zfs list -o space ${pool}`,
    );
    const listSnapshots = () => this.zfs(snapshotSpaceArgs(pool), `listing the snapshots of ${pool}`);
    if (snapshotsWhenFull) {
      const datasets = parseDatasetSpace(await listDatasets);
      const root = datasets.find((d) => d.name === pool);
      if (!root || !isFull(root.avail, root.used)) return { datasets, groups: [] };
      return { datasets, groups: groupSnapshots(parseSnapshotSpace(await listSnapshots())) };
    }
    const [ds, snaps] = await Promise.all([listDatasets, listSnapshots()]);
    return { datasets: parseDatasetSpace(ds), groups: groupSnapshots(parseSnapshotSpace(snaps)) };
  }

  /** What must not be destroyed, and why: a pending fix's snapshot, Lifeboat's newest own snapshot. */
  async protectedSnapshots(
    groups: readonly SnapshotGroup[],
    pinned: ReadonlyMap<string, string>,
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>(pinned);
    const own = newestLifeboatSnapshot(groups);
    if (own && !out.has(own))
      out.set(own, "Lifeboat's newest snapshot before a change: the undo of the last change");
    return out;
  }

  /** Why a name cannot be destroyed by the request, null when it can. */
  private keptWhy(g: SnapshotGroup, protect: ReadonlyMap<string, string>): string | null {
    return (
      protect.get(g.snapshot) ??
      (g.held.length ? `held (${g.held.join(", ")})` : null) ??
      (g.clones.length ? `origin of ${g.clones.join(", ")}` : null)
    );
  }

  /** ZFS's own figure: what destroying these names of `pool` frees together (one dry run). */
  async reclaim(pool: string, snapshots: string[]): Promise<number | null> {
    if (snapshots.length === 0) return 0;
    const out = await this.zfs(destroyArgs({ pool, snapshots }, true), `zfs destroy -n ${pool}`);
    return parseDestroyDryRun(out).reclaim;
  }

  /**
   * GET /v1/pools/{pool}/space: avail, what snapshots hold, per dataset; the snapshots oldest first
   * with what destroying each (with the older ones) frees. Read-only (the dry runs write nothing).
   */
  async view(
    pool: string,
    pinned?: ReadonlyMap<string, string>,
    /**
     * The diagnosis: a pool with room needs no figures: no snapshot listing, no dry runs, unless
     * the pool is full.
     */
    opts: { whenFullOnly?: boolean } = {},
  ): Promise<PoolSpace> {
    await this.poolOf(pool);
    // (the diagnosis passes its own rollback target: asking it here would wait on itself)
    const pins = pinned ?? (await this.pins());
    const { datasets, groups } = await this.read(pool, opts.whenFullOnly);
    const root = datasets.find((d) => d.name === pool);
    if (!root) throw new LifeboatError("pool-not-found", `zfs list shows no dataset ${pool}`);
    const protect = await this.protectedSnapshots(groups, pins);
    const full = isFull(root.avail, root.used);
    const dryRuns = full || !opts.whenFullOnly ? DRY_RUNS : 0;
    const rows: SnapshotRow[] = [];
    const free: string[] = [];
    for (const g of groups) {
      const kept = this.keptWhy(g, protect);
      let freesWithOlder: number | null = null;
      if (!kept && free.length < dryRuns) {
        free.push(g.snapshot);
        freesWithOlder = await this.reclaim(pool, free).catch(() => null);
      }
      rows.push({
        name: `${pool}@${g.snapshot}`,
        snapshot: g.snapshot,
        created: g.created,
        datasets: g.datasets,
        used: g.used,
        written: g.written,
        kept,
        freesWithOlder,
      });
    }
    return {
      pool,
      avail: root.avail,
      used: root.used,
      usedBySnapshots: datasets.reduce((n, d) => n + d.usedBySnapshots, 0),
      full,
      datasets,
      snapshots: rows,
    };
  }

  /**
   * POST /v1/pools/{pool}/snapshots/destroy: exactly the named snapshots, in one `zfs destroy -r
   * <pool>@a,b,…` (never -f, -R or -d), on a read-write mount, one change at a time; audited.
   */
  async destroy(pool: string, body: { snapshots: string[]; confirm?: string; keep?: number }, who: string) {
    if (body.confirm !== pool)
      throw new LifeboatError(
        "confirm-mismatch",
        `destroyed snapshots cannot be brought back: send {"confirm": "${pool}"} to proceed`,
      );
    const keep = body.keep ?? 1;
    // Read before the lock: the diagnosis this may compute takes the readers' side.
    const pinned = await this.pins();
    return this.ctx.lock.run("snapshot-destroy", async () => {
      let plan: ReturnType<typeof planSnapshotDestroy> | null = null;
      let availBefore: number | null = null;
      try {
        await this.ctx.writable();
        await this.poolOf(pool);
        const { datasets, groups } = await this.read(pool);
        availBefore = datasets.find((d) => d.name === pool)?.avail ?? null;
        const protect = await this.protectedSnapshots(groups, pinned);
        plan = planSnapshotDestroy(pool, body.snapshots, groups, protect, keep);
        const estimate = await this.reclaim(pool, plan.snapshots).catch(() => null);
        const r = await this.ctx.sys.run("zfs", destroyArgs(plan, false));
        if (r.exitCode !== 0)
          throw new LifeboatError(
            "command-failed",
            `zfs destroy refused: ${r.stderr.trim().split("\n").slice(0, 3).join("; ")}; ZFS destroys all of them or none (lzc_destroy_snaps): nothing was destroyed`,
            { destroyed: [] },
          );
        // Freed blocks are returned as the next transaction groups sync (async_destroy).
        await this.ctx.sys.run("zpool", ["sync", pool]);
        const after = await this.read(pool);
        const availAfter = after.datasets.find((d) => d.name === pool)?.avail ?? null;
        const left = new Set(after.groups.map((g) => g.snapshot));
        const still = plan.snapshots.filter((s) => left.has(s));
        if (still.length)
          throw new LifeboatError(
            "command-failed",
            `zfs destroy answered success but ${still.map((s) => `${pool}@${s}`).join(", ")} still exist`,
          );
        const result = {
          pool,
          destroyed: plan.names,
          snapshots: plan.snapshots.map((s) => `${pool}@${s}`),
          reclaimEstimate: estimate,
          availBefore,
          availAfter,
          freed: availBefore !== null && availAfter !== null ? availAfter - availBefore : null,
          remaining: plan.remaining,
        };
        await this.ctx.audit.record({
          who,
          action: "snapshot-destroy",
          target: pool,
          result: "ok",
          detail: { snapshot: null, result },
        });
        return result;
      } catch (err) {
        const e = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
        await this.ctx.audit.record({
          who,
          action: "snapshot-destroy",
          target: pool,
          result: "failed",
          detail: {
            code: e.code,
            error: e.message,
            snapshots: plan?.snapshots ?? body.snapshots.slice(0, 20),
          },
        });
        throw e;
      } finally {
        if (plan) this.ctx.changed();
      }
    });
  }
}
