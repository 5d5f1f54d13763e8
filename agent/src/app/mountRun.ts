import type { Logger } from "pino";
import type { Candidate } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import type { MountEntry } from "../core/mounts.js";
import { type BlockLayout, type MountPlan, type MountStep, type PoolFacts, planMount } from "../core/plan.js";
import type { Dataset } from "../core/zfs.js";
import type { System } from "../system/system.js";
import { listDatasets } from "./datasets.js";
import type { Detection } from "./detect.js";
import { type ImportRequest, PoolImporter } from "./importer.js";
import { InstalledSystem } from "./installed.js";
import {
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
  readonly exec: MountExecutor;
  readonly importer: PoolImporter;
  private pools: PoolFacts[];
  private datasets: Dataset[];
  private layout: BlockLayout | undefined;
  private fstab: SystemFstab | null = null;
  private links = new Map<string, string>();
  /** What the generation's systemd units add at boot (pool imports, bind mounts). */
  private units: BootUnits = { pools: [], binds: [] };
  /** What phase 1 mounted (and the transaction mark before it). */
  private early: MountStep[] = [];
  private earlyMark = 0;
  /** The root is Lifeboat's own tmpfs (mounted in this run). */
  private tmpfsRoot = false;
  private readonly devices: Detection["devices"];
  /** ZFS: the root and /nix datasets settled on before the fstab (bootfs, operator, probe). */
  private chosen: { root: string | null; nix: string | null } | undefined;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly root: string,
    private candidate: Candidate,
    d: Detection,
    private readonly req: ImportRequest,
    /** The operator's pick among a pool's root datasets (`"pool": "rpool/ROOT/b"`). */
    private readonly rootDataset: string | null = null,
  ) {
    this.tx = new Transaction(log);
    this.exec = new MountExecutor(sys, root, this.tx, req.readonly);
    this.importer = new PoolImporter(sys, log, root, this.tx, d.hostid, req);
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
    });
  }

  /** The units' binds whose target no fstab line mounts (the fstab wins). */
  private unitBinds(entries: readonly { target: string }[]) {
    const taken = new Set(entries.map((e) => e.target.replace(/\/+$/, "") || "/"));
    return this.units.binds.filter((b) => !taken.has(b.target));
  }

  /** Import pools (in order) and list their datasets; a locked dataset stops the run (key-not-loaded). */
  async importPools(pools: { pool: string; guid: string | null }[]): Promise<void> {
    if (pools.length === 0) return;
    for (const p of pools) {
      await this.importer.importPool(p.pool, p.guid);
      this.pools = this.pools.map((x) =>
        x.name === p.pool ? { ...x, imported: true, altroot: this.root } : x,
      );
    }
    const names = pools.map((p) => p.pool);
    const fresh = await listDatasets(this.sys, names, this.warnings);
    this.datasets = [...this.datasets.filter((d) => !names.includes(d.pool)), ...fresh];
    if (this.candidate.kind === "zfs" && names.includes(this.candidate.pool))
      this.candidate = { ...this.candidate, imported: true };
    for (const p of names) this.checkKeys(p);
  }

  checkKeys(pool: string): void {
    const locked = this.datasets.filter(
      (x) => x.pool === pool && x.keystatus === "unavailable" && x.canmount !== "off",
    );
    if (locked.length === 0) return;
    const roots = [...new Set(locked.map((x) => x.encryptionRoot ?? x.pool))];
    throw new LifeboatError(
      "key-not-loaded",
      `${pool} is encrypted and locked: load the key of ${roots.join(", ")} (POST /v1/pools/${pool}/load-key), then mount again`,
      { pool, encryptionRoots: roots, locked: locked.slice(0, 50).map((x) => x.name) },
    );
  }

  /** Phase 1: the root (a dataset, a device, or a tmpfs when the disk holds only /nix) and /nix. */
  async bootstrap(): Promise<void> {
    this.lap("imported and listed");
    if (this.candidate.kind === "zfs")
      this.chosen = await settleRoot(this.rootContext(), this.candidate.pool, this.rootDataset);
    this.lap("root chosen");
    this.earlyMark = this.tx.mark();
    const first = this.plan(null);
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
  async readFstabOnly(): Promise<SystemFstab | null> {
    const installed = new InstalledSystem(this.sys, this.root);
    this.lap("phase 1 done");
    // The boot units of the system profile's generation are read side by side with its fstab (the
    // usual place: readSystemFstab tries it first); their warnings are kept only if that fstab is
    // the one found, else they are read again next to the fstab found.
    const unitWarnings: string[] = [];
    const [fstab, profileUnits] = await Promise.all([
      readSystemFstab(installed, this.warnings),
      readBootUnits(installed, SYSTEM_FSTAB, unitWarnings).catch(() => null),
    ]);
    this.fstab = fstab;
    this.lap("fstab read");
    if (fstab) {
      const sameGeneration = fstab.path === SYSTEM_FSTAB && profileUnits !== null;
      if (sameGeneration) this.warnings.push(...unitWarnings);
      [this.links, this.units] = await Promise.all([
        lookUpLinks(this.sys, fstab.entries),
        sameGeneration ? profileUnits : readBootUnits(installed, fstab.path, this.warnings),
      ]);
      this.lap("links and boot units read");
    }
    return this.fstab;
  }

  /** Phase 2 planning: the fstab, the device links it names, and the other pools it needs. */
  async planFromFstab(): Promise<MountPlan> {
    await this.readFstabOnly();
    let plan = this.plan(this.fstab);
    const more = plan.steps.flatMap((s) =>
      s.kind === "import-pool" ? [{ pool: s.pool, guid: s.guid }] : [],
    );
    if (more.length > 0) {
      await this.importPools(more);
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

  /** Phase 2: mount the plan (after re-doing phase 1 if the fstab disagrees with it). */
  async mountPlan(plan: MountPlan, mounted: ReadonlySet<string> = new Set()): Promise<void> {
    const essential = plan.refused.filter((r) => r.essential);
    if (essential.length > 0)
      throw new LifeboatError(
        "unsafe-fstab",
        `the installed fstab's ${essential.map((r) => `${r.path} (${r.reason})`).join("; ")} cannot be mounted safely`,
        { refused: plan.refused, failedStep: `plan ${essential[0]?.path}` },
      );
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
