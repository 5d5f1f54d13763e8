import type { Logger } from "pino";
import type { Candidate } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import type { MountEntry } from "../core/mounts.js";
import {
  type BlockLayout,
  type MountPlan,
  type MountStep,
  type PoolFacts,
  planMount,
  type SkippedEntry,
  type SkippedKind,
} from "../core/plan.js";
import { type Dataset, sameListing } from "../core/zfs.js";
import { importDevices } from "../core/zpoolImport.js";
import type { System } from "../system/system.js";
import { type ImportListing, listDatasets, listDuringImport, type RunningListing } from "./datasets.js";
import type { Detection } from "./detect.js";
import { type ImportRequest, PoolImporter } from "./importer.js";
import { InstalledSystem } from "./installed.js";
import {
  ACTIVATED_FSTAB,
  type BootUnits,
  dirExists,
  lookUpLinks,
  probeLayout,
  readBootUnits,
  readSystemFstab,
  SYSTEM_FSTAB,
  type SystemFstab,
} from "./layout.js";
import { MountExecutor } from "./mountExec.js";
import { nixByContent, type RootContext, settleRoot } from "./rootChoice.js";
import { Transaction } from "./transaction.js";

const isMount = (s: MountPlan["steps"][number]): s is MountStep => s.kind === "mount";
const ESSENTIAL = new Set(["/", "/nix", "/nix/store"]);

function kindOfStep(s: MountStep): SkippedKind {
  if (s.unit) return "mount-unit";
  return s.origin === "fstab" ? "fstab" : "dataset";
}

/** An entry the operator acknowledged by its path inside the system, its source, or its pool name. */
function acknowledged(e: SkippedEntry, accept: ReadonlySet<string>): boolean {
  return (
    (e.path !== "" && accept.has(e.path)) || accept.has(e.source) || accept.has(e.source.split(" ")[0] ?? "")
  );
}

function subvolOf(s: MountStep): string | null {
  const o = s.options.find((x) => x.startsWith("subvol="));
  return o ? o.slice(7).replace(/^\/+|\/+$/g, "") : null;
}

/** Did phase 1 mount what the fstab says is at this path? */
function same(a: MountStep | undefined, b: MountStep | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.source !== b.source || a.fstype !== b.fstype) return false;
  const sa = subvolOf(a);
  const sb = subvolOf(b);
  return sa === null || sb === null || sa === sb;
}

/**
 * One mount of the installed system, start to end, in one transaction: import its root pool,
 * mount / and /nix by convention (phase 1), read the fstab of the generation the system profile
 * points at, import every other pool it needs, then mount everything in plan order (phase 2).
 * Every mutating step is recorded with its undo; the caller rolls back on any failure.
 */
export class MountRun {
  readonly tx: Transaction;
  readonly warnings: string[] = [];
  /** Entries skipped while the plan ran (pools that failed to import, steps that could not mount). */
  readonly skipped: SkippedEntry[] = [];
  readonly exec: MountExecutor;
  readonly importer: PoolImporter;
  private pools: PoolFacts[];
  private datasets: Dataset[];
  private layout: BlockLayout | undefined;
  private fstab: SystemFstab | null = null;
  private links = new Map<string, string>();
  /** What the generation's systemd units add at boot (pool imports, bind mounts). */
  private units: BootUnits = { pools: [], binds: [], skipped: [] };
  /** What phase 1 mounted (and the transaction mark before it). */
  private early: MountStep[] = [];
  private earlyMark = 0;
  /** The root is Lifeboat's own tmpfs (mounted in this run). */
  private tmpfsRoot = false;
  private readonly devices: Detection["devices"];
  /** ZFS: the root and /nix datasets settled on before the fstab (bootfs, operator, probe). */
  private chosen: { root: string | null; nix: string | null } | undefined;
  /**
   * The root pool's datasets as an earlier mount of the same pool (name and guid) in this boot
   * listed them (the re-mount after a release, the read-write mount after the read-only one).
   * Phase 1 mounts by it while the fresh listing runs; the fresh one decides (see bootstrap).
   */
  remembered: Dataset[] | null = null;
  /** The fresh listing still running while phase 1 mounts by the remembered one. */
  private pending: { pools: string[]; used: Dataset[]; fresh: Promise<Dataset[] | null> } | null = null;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly root: string,
    private candidate: Candidate,
    d: Detection,
    private readonly req: ImportRequest & { acceptSkipped?: readonly string[]; requested?: boolean },
    /** The operator's pick among a pool's root datasets (`"pool": "rpool/ROOT/b"`). */
    private readonly rootDataset: string | null = null,
  ) {
    this.tx = new Transaction(log);
    this.exec = new MountExecutor(sys, root, this.tx, req.readonly);
    this.exec.skipper = (s, reason) => {
      const e: SkippedEntry = {
        path: s.path,
        source: s.unit ?? s.source,
        reason,
        essential: false,
        kind: kindOfStep(s),
      };
      this.acknowledge([e]);
      this.skipped.push(e);
    };
    this.importer = new PoolImporter(sys, log, root, this.tx, d.hostid, req);
    this.importer.devicesOf = (guid) => {
      const listed = d.importable.find((p) => p.id === guid);
      return listed ? importDevices(listed, d.devices) : null;
    };
    const r = root.replace(/\/+$/, "") || "/";
    this.pools = [
      ...d.imported.map((p) => ({
        name: p.name,
        guid: p.guid,
        imported: true,
        importable: true,
        altroot: p.altroot ?? null,
      })),
      ...d.importable
        .filter((p) => !d.imported.some((i) => i.name === p.name))
        .map((p) => ({ name: p.name, guid: p.id, imported: false, importable: p.importable, altroot: r })),
    ];
    this.datasets = d.datasets;
    this.devices = d.devices;
  }

  private stepAt = performance.now();
  /** Debug: how long the agent's own work since the last mark took (the command log has the commands'). */
  lap(step: string): void {
    const now = performance.now();
    this.log.debug({ step, ms: Math.round(now - this.stepAt) }, "mount step");
    this.stepAt = now;
  }

  get pool(): string | null {
    return this.candidate.kind === "zfs" ? this.candidate.pool : null;
  }

  plan(fstab: SystemFstab | null): MountPlan {
    return planMount({
      root: this.root,
      candidate: this.candidate,
      readonly: this.req.readonly,
      devices: this.devices,
      datasets: this.datasets,
      fstab: fstab ? [...fstab.entries, ...this.unitBinds(fstab.entries)] : null,
      pools: this.pools,
      links: this.links,
      layout: this.layout,
      ...(this.chosen ? { chosen: this.chosen } : {}),
      ...(fstab && this.units.pools.length > 0 ? { bootPools: this.units.pools } : {}),
      ...(this.req.requested ? { requested: true } : {}),
    });
  }

  /**
   * Read-only runs skip what is unsafe, broken or locked and mount the rest. A read-write run
   * writes to the system as a whole: it needs every entry, or the operator's acknowledgment of
   * each skipped one (`acceptSkipped`: its path, source or pool); otherwise 409 skipped-entries.
   */
  private acknowledge(entries: readonly SkippedEntry[]): void {
    if (this.req.readonly) return;
    const accept = new Set(this.req.acceptSkipped ?? []);
    const missing = entries.filter((e) => !acknowledged(e, accept));
    if (missing.length === 0) return;
    throw new LifeboatError(
      "skipped-entries",
      `a read-write mount would leave out ${missing.map((e) => `${e.path || e.source} (${e.reason})`).join("; ")}: mount read-only, fix them, or acknowledge them with "acceptSkipped": [${missing.map((e) => JSON.stringify(e.path || e.source)).join(", ")}]`,
      { skipped: missing },
    );
  }

  /** The units' binds whose target no fstab line mounts (the fstab wins). */
  private unitBinds(entries: readonly { target: string }[]) {
    const taken = new Set(entries.map((e) => e.target.replace(/\/+$/, "") || "/"));
    return this.units.binds.filter((b) => !taken.has(b.target));
  }

  /**
   * Import pools (in order) and list their datasets. The root pool: a locked dataset it mounts at
   * boot stops the run (key-not-loaded). Any other pool the disk names (`others`: its fstab, its
   * import units) is never forced, and its failure (missing, hostid, broken) skips it with its
   * reason unless it holds `/` or `/nix`; its locked datasets are skipped by the plan.
   */
  async importPools(
    pools: { pool: string; guid: string | null; readonly?: boolean; essential?: boolean }[],
    others = false,
  ): Promise<void> {
    if (pools.length === 0) return;
    const names: string[] = [];
    const early = others ? null : this.listingDuringImport(pools);
    let running: RunningListing | null = null;
    try {
      await this.importEach(pools, others, names);
    } finally {
      // Started during the import, it stands only for the one pool the import brought in.
      running = (await early?.take(names.length === 1)) ?? null;
    }
    if (names.length === 0) return;
    const remembered = others ? null : this.rememberedFor(names);
    if (remembered) {
      // Start the listing and go on by the remembered one: it is checked before phase 2.
      const fresh = listDatasets(this.sys, names, this.warnings, { running }).catch(() => null);
      this.pending = { pools: names, used: remembered, fresh };
    }
    const fresh = remembered ?? (await listDatasets(this.sys, names, this.warnings, { running }));
    this.datasets = [...this.datasets.filter((d) => !names.includes(d.pool)), ...fresh];
    if (this.candidate.kind === "zfs" && names.includes(this.candidate.pool))
      this.candidate = { ...this.candidate, imported: true };
    if (!others) for (const p of names) this.checkKeys(p);
  }

  /**
   * The root pool's listing, started while it is imported (datasets.ts listDuringImport): one pool,
   * none of that name held by the kernel yet.
   */
  private listingDuringImport(pools: readonly { pool: string }[]): ImportListing | null {
    const [only] = pools;
    if (!only || pools.length !== 1 || this.pools.some((x) => x.name === only.pool && x.imported))
      return null;
    return listDuringImport(this.sys, only.pool);
  }

  /** Import each pool in order; `names` gets the ones imported (an other pool that fails is skipped). */
  private async importEach(
    pools: readonly { pool: string; guid: string | null; readonly?: boolean; essential?: boolean }[],
    others: boolean,
    names: string[],
  ): Promise<void> {
    for (const p of pools) {
      try {
        await this.importer.importPool(
          p.pool,
          p.guid,
          others ? { force: false, readonly: p.readonly || this.req.readonly } : {},
        );
      } catch (err) {
        if (!others || p.essential || !(err instanceof LifeboatError)) throw err;
        const e: SkippedEntry = {
          path: "",
          source: p.pool,
          reason: err.message,
          essential: false,
          kind: "pool",
        };
        this.acknowledge([e]);
        this.skipped.push(e);
        this.pools = this.pools.map((x) =>
          x.name === p.pool ? { ...x, importable: false, failure: err.message } : x,
        );
        continue;
      }
      names.push(p.pool);
      this.pools = this.pools.map((x) =>
        x.name === p.pool ? { ...x, imported: true, altroot: this.root } : x,
      );
    }
  }

  /**
   * The root pool's locked datasets that ZFS mounts at boot (canmount=on with a mountpoint of
   * its own): the mount waits for their key. A locked dataset the system does not mount at boot
   * (canmount=noauto, legacy ones no fstab line names) is skipped by the plan instead; a locked
   * `/` or `/nix` stops the run in bootstrap/mountPlan (lockedEssential).
   */
  checkKeys(pool: string): void {
    const idle = this.datasets.filter(
      (x) => x.pool === pool && x.keystatus === "unavailable" && x.canmount === "noauto",
    );
    if (idle.length > 0)
      this.warnings.push(
        `locked, not mounted at boot (canmount=noauto), left locked: ${idle
          .slice(0, 20)
          .map((x) => x.name)
          .join(", ")}${idle.length > 20 ? ", …" : ""}`,
      );
    const locked = this.datasets.filter(
      (x) =>
        x.pool === pool &&
        x.keystatus === "unavailable" &&
        x.canmount === "on" &&
        x.mountpoint !== "legacy" &&
        x.mountpoint !== "none",
    );
    this.keyNotLoaded(pool, locked);
  }

  private keyNotLoaded(pool: string, locked: Dataset[]): void {
    if (locked.length === 0) return;
    const roots = [...new Set(locked.map((x) => x.encryptionRoot ?? x.pool))];
    throw new LifeboatError(
      "key-not-loaded",
      `${pool} is encrypted and locked: load the key of ${roots.join(", ")} (POST /v1/pools/${pool}/load-key), then mount again`,
      { pool, encryptionRoots: roots, locked: locked.slice(0, 50).map((x) => x.name) },
    );
  }

  /**
   * The remembered listing, when it may stand in for the fresh one during phase 1: one pool, all
   * of it, nothing encrypted (a key loaded then may be unloaded after the import; keys are checked
   * on the fresh listing only).
   */
  private rememberedFor(pools: readonly string[]): Dataset[] | null {
    const r = this.remembered;
    if (!r || pools.length !== 1 || r.length === 0) return null;
    if (r.some((d) => d.pool !== pools[0] || d.encryption !== "off")) return null;
    return r;
  }

  /**
   * Was phase 1 mounted by a listing the fresh one agrees with? Takes the fresh listing either way
   * (a failed listing leaves the pool's datasets empty, as without a remembered one).
   */
  private async listingHeld(): Promise<boolean> {
    const p = this.pending;
    if (!p) return true;
    this.pending = null;
    const fresh = await p.fresh;
    this.datasets = [...this.datasets.filter((d) => !p.pools.includes(d.pool)), ...(fresh ?? [])];
    if (fresh && sameListing(fresh, p.used)) return true;
    this.log.debug({ pools: p.pools }, "datasets changed since the last mount: phase 1 again");
    return false;
  }

  /** Let a listing still running end (before a rollback exports its pool). */
  async settle(): Promise<void> {
    await this.pending?.fresh;
  }

  /**
   * Phase 1: the root (a dataset, a device, or a tmpfs when the disk holds only /nix) and /nix.
   * Mounted by a remembered listing, it waits for the fresh one before it returns; when that one
   * differs (or phase 1 failed and it differs), phase 1 is undone and done again by the fresh one.
   */
  async bootstrap(): Promise<void> {
    if (!this.pending) return this.bootstrapBy();
    const mark = this.tx.mark();
    try {
      await this.bootstrapBy();
    } catch (err) {
      if (await this.listingHeld()) throw err;
      return this.again(mark);
    }
    if (!(await this.listingHeld())) return this.again(mark);
  }

  private async again(mark: number): Promise<void> {
    await this.undoTo(mark);
    this.early = [];
    this.chosen = undefined;
    this.tmpfsRoot = false;
    if (this.candidate.kind === "zfs") this.checkKeys(this.candidate.pool);
    return this.bootstrapBy();
  }

  /** Datasets of one imported pool as this run knows them (what the next mount may remember). */
  datasetsOf(pool: string): Dataset[] {
    return this.datasets.filter((d) => d.pool === pool);
  }

  private async bootstrapBy(): Promise<void> {
    this.lap("imported and listed");
    if (this.candidate.kind === "zfs")
      this.chosen = await settleRoot(this.rootContext(), this.candidate.pool, this.rootDataset);
    this.lap("root chosen");
    this.earlyMark = this.tx.mark();
    const first = this.plan(null);
    this.lockedEssential(first);
    let early = first.steps.filter(isMount).filter((s) => s.path === "/" || s.path === "/nix");
    const rootStep = early.find((s) => s.path === "/");
    if (!rootStep)
      throw new LifeboatError(
        "no-system-found",
        `no root filesystem (or /nix) found in ${this.candidate.id}`,
        {
          notes: first.notes,
        },
      );
    if (this.candidate.kind === "block") {
      // Mount the filesystem as it is, then look: the root, a /nix-only filesystem, btrfs subvolumes.
      await this.exec.mount(rootStep, false);
      const layout = await probeLayout(this.sys, this.root, rootStep.fstype);
      if (layout === "as-is") {
        this.early = [rootStep];
        return;
      }
      await this.undoTo(this.earlyMark);
      this.layout = layout;
      early = this.plan(null)
        .steps.filter(isMount)
        .filter((s) => s.path === "/" || s.path === "/nix");
    }
    this.tmpfsRoot = early.some((s) => s.path === "/" && s.fstype === "tmpfs");
    for (const s of early) await this.exec.mount(s, this.tmpfsRoot);
    this.early = early;
    if (this.candidate.kind === "zfs") await this.findNix(this.candidate.pool);
  }

  private altroots(): Map<string, string | null> {
    const r = this.root.replace(/\/+$/, "") || "/";
    const m = new Map(this.pools.map((p) => [p.name, p.imported ? p.altroot : r]));
    // as the planner does: the candidate's pool is imported by Lifeboat under the root
    if (this.candidate.kind === "zfs" && !m.has(this.candidate.pool)) m.set(this.candidate.pool, r);
    return m;
  }

  /**
   * A root dataset without its store and no /nix dataset by name or mountpoint: look into the
   * pool's other legacy/noauto datasets for the one holding /nix, and mount it there.
   */
  private async findNix(pool: string): Promise<void> {
    const rootStep = this.early.find((s) => s.path === "/");
    if (rootStep?.fstype !== "zfs" || this.early.some((s) => s.path === "/nix")) return;
    if (await dirExists(this.sys, this.root, "/nix/store")) return;
    const nix = await nixByContent(this.rootContext(), pool, rootStep.source);
    if (!nix) return;
    this.chosen = { root: rootStep.source, nix };
    const nixStep = this.plan(null)
      .steps.filter(isMount)
      .find((s) => s.path === "/nix");
    if (!nixStep) return;
    await this.exec.mount(nixStep, this.tmpfsRoot);
    this.early = [...this.early, nixStep];
  }

  private rootContext(): RootContext {
    return {
      sys: this.sys,
      tx: this.tx,
      datasets: this.datasets,
      altroots: this.altroots(),
      warnings: this.warnings,
    };
  }

  private async undoTo(mark: number): Promise<void> {
    const r = await this.tx.rollbackTo(mark);
    if (r.rollbackFailures.length > 0)
      throw new LifeboatError(
        "unmount-failed",
        `could not undo a probe mount: ${r.rollbackFailures.join("; ")}`,
        {
          failedStep: "undo probe mount",
        },
      );
  }

  /** The installed fstab and the links it names, for a preview of an existing mount (nothing imported). */
  async readFstabOnly(paths?: readonly string[]): Promise<SystemFstab | null> {
    const installed = new InstalledSystem(this.sys, this.root);
    this.lap("phase 1 done");
    // The boot units of the generation whose fstab is tried first are read side by side with that
    // fstab (readSystemFstab tries it first); their warnings are kept only if that fstab is the one
    // found, else they are read again next to the fstab found.
    const first = paths?.[0] ?? SYSTEM_FSTAB;
    const unitWarnings: string[] = [];
    const [fstab, firstUnits] = await Promise.all([
      readSystemFstab(installed, this.warnings, paths),
      readBootUnits(installed, first, unitWarnings).catch(() => null),
    ]);
    this.fstab = fstab;
    this.lap("fstab read");
    if (fstab) {
      const sameGeneration = fstab.path === first && firstUnits !== null;
      if (sameGeneration) this.warnings.push(...unitWarnings);
      [this.links, this.units] = await Promise.all([
        lookUpLinks(this.sys, fstab.entries),
        sameGeneration ? firstUnits : readBootUnits(installed, fstab.path, this.warnings),
      ]);
      this.lap("links and boot units read");
    }
    return this.fstab;
  }

  /** Phase 2 planning: the fstab, the device links it names, and the other pools it needs. */
  async planFromFstab(): Promise<MountPlan> {
    await this.readFstabOnly();
    let plan = this.plan(this.fstab);
    // A new generation whose fstab names a root device no disk has (a wrong UUID in
    // hardware-configuration.nix) never booted; the activated one behind /etc/fstab did. Mount by
    // that one rather than refuse the whole system (the diagnosis then explains the new one).
    const profileFstab = this.fstab;
    if (profileFstab && profileFstab.path !== ACTIVATED_FSTAB && plan.refused.some((r) => r.essential)) {
      const alt = await this.readFstabOnly([ACTIVATED_FSTAB]);
      const altPlan = alt ? this.plan(alt) : null;
      if (altPlan && !altPlan.refused.some((r) => r.essential)) {
        const why = plan.refused
          .filter((r) => r.essential)
          .map((r) => `${r.path} (${r.reason})`)
          .join("; ");
        plan = {
          ...altPlan,
          notes: [...altPlan.notes, `${profileFstab.path}: ${why}; mounted by ${ACTIVATED_FSTAB} instead`],
        };
        this.warnings.push(
          `the system profile's fstab cannot mount ${why}: used ${ACTIVATED_FSTAB} (the activated generation)`,
        );
      } else {
        await this.readFstabOnly();
        plan = this.plan(this.fstab);
      }
    }
    const holds = (pool: string) =>
      plan.steps.some(
        (s) =>
          s.kind === "mount" &&
          ESSENTIAL.has(s.path) &&
          s.fstype === "zfs" &&
          s.source.split("/")[0] === pool,
      );
    const more = plan.steps.flatMap((s) =>
      s.kind === "import-pool"
        ? [{ pool: s.pool, guid: s.guid, readonly: s.readonly, essential: holds(s.pool) }]
        : [],
    );
    if (more.length > 0) {
      await this.importPools(more, true);
      plan = this.plan(this.fstab);
    }
    this.lap("planned");
    if (!this.fstab)
      plan = {
        ...plan,
        notes: [...plan.notes, "the installed system has no readable fstab: used the conventional layout"],
      };
    else plan = { ...plan, notes: [`fstab: ${this.fstab.path}`, ...plan.notes] };
    return plan;
  }

  /** A locked `/` or `/nix`: nothing can be mounted until its key is loaded (the mount waits for it). */
  private lockedEssential(plan: MountPlan): void {
    const names = new Set(plan.locked.filter((l) => l.essential).map((l) => l.dataset));
    if (names.size === 0) return;
    const locked = this.datasets.filter((d) => names.has(d.name));
    const pool = locked[0]?.pool ?? [...names][0]?.split("/")[0] ?? "";
    this.keyNotLoaded(pool, locked);
  }

  /** Phase 2: mount the plan (after re-doing phase 1 if the fstab disagrees with it). */
  async mountPlan(plan: MountPlan, mounted: ReadonlySet<string> = new Set()): Promise<void> {
    this.lockedEssential(plan);
    const essential = plan.refused.filter((r) => r.essential);
    if (essential.length > 0)
      throw new LifeboatError(
        "unsafe-fstab",
        `the installed fstab's ${essential.map((r) => `${r.path} (${r.reason})`).join("; ")} cannot be mounted safely`,
        { refused: plan.refused, failedStep: `plan ${essential[0]?.path}` },
      );
    // Everything else the plan skipped: acknowledged (read-write), and whatever lands on it skipped too.
    this.acknowledge([...plan.refused, ...this.units.skipped]);
    this.skipped.push(...this.units.skipped);
    this.exec.skipPaths(plan.refused.map((r) => r.path));
    const steps = plan.steps.filter(isMount);
    const at = (list: MountStep[], p: string) => list.find((s) => s.path === p);
    if (!at(steps, "/"))
      throw new LifeboatError(
        "no-system-found",
        `the installed system's fstab mounts / from something that is not available here`,
        { notes: plan.notes, refused: plan.refused, failedStep: "plan /" },
      );
    if (
      this.early.length > 0 &&
      (!same(at(this.early, "/"), at(steps, "/")) || !same(at(this.early, "/nix"), at(steps, "/nix")))
    ) {
      this.warnings.push(
        "the installed fstab mounts / or /nix from elsewhere than first assumed: mounted again as the fstab says",
      );
      await this.undoTo(this.earlyMark);
      this.early = [];
      this.tmpfsRoot = false;
    }
    const done = new Set([...mounted, ...this.early.map((s) => s.target)]);
    const rootStep = at(steps, "/");
    if (this.early.length === 0 && rootStep?.fstype === "tmpfs" && !done.has(rootStep.target))
      this.tmpfsRoot = true;
    await this.exec.mountAll(
      steps.filter((s) => !done.has(s.target)),
      this.tmpfsRoot,
    );
    // The tmpfs root gets the fstab's options, and is made read-only once its mountpoints exist.
    if (this.tmpfsRoot && rootStep?.fstype === "tmpfs") {
      const base = this.early.find((s) => s.path === "/")?.options ?? [];
      const want = [...(this.req.readonly ? ["ro"] : []), ...rootStep.options];
      if (this.req.readonly || want.join(",") !== base.join(",")) await this.exec.remount("/", want);
    }
  }

  /**
   * May the installed system be identified (/etc/NIXOS, the system profile under /nix) while phase 2
   * mounts? Only when nothing phase 2 mounts can change what those paths show: phase 1's / and /nix
   * are the fstab's (nothing is mounted again), no bind mount (impermanence binds /etc), no tmpfs
   * root, and no step at /, at /etc or /nix, or under them.
   */
  identifiesDuringPhase2(plan: MountPlan): boolean {
    const steps = plan.steps.filter(isMount);
    const at = (list: MountStep[], p: string) => list.find((s) => s.path === p);
    if (this.tmpfsRoot || this.early.length === 0) return false;
    if (!same(at(this.early, "/"), at(steps, "/")) || !same(at(this.early, "/nix"), at(steps, "/nix")))
      return false;
    const done = new Set(this.early.map((s) => s.path));
    const touches = (p: string) =>
      p === "/" || ["/etc", "/nix"].some((d) => p === d || p.startsWith(`${d}/`));
    return steps.every((s) => done.has(s.path) || (s.method !== "bind" && !touches(s.path)));
  }

  async mountTable(): Promise<MountEntry[]> {
    return this.exec.mountTable(true);
  }
}
