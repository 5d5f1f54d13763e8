import type { Logger } from "pino";
import { type Candidate, chooseCandidate, splitWanted } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import {
  addedSince,
  bindSource,
  isReadOnly,
  type MountEntry,
  mountsUnder,
  parseMountInfo,
  parseProcMounts,
  remountArgs,
  within,
} from "../core/mounts.js";
import type { MountPlan, PoolReason, SkippedEntry } from "../core/plan.js";
import { classifyLoadKeyFailure, type Dataset } from "../core/zfs.js";
import { loadKeyArgs } from "../core/zfsProperties.js";
import { parseZpoolList } from "../core/zpoolJson.js";
import type { CommandResult, System } from "../system/system.js";
import type { Detection, DetectionService } from "./detect.js";
import { describeHolders, holdersOf, poolHoldersOf } from "./holders.js";
import { type HostIdReport, hostidReport, stderrLine } from "./importer.js";
import { InstalledSystem, type NixosIdentity } from "./installed.js";
import type { OperationLock } from "./lock.js";
import { MOUNT_INFO, MOUNT_TABLE } from "./mountExec.js";
import { MountRun } from "./mountRun.js";
import { ReaderGate } from "./readers.js";
import type { StackService } from "./stacks.js";
import { Transaction } from "./transaction.js";

export type { HostIdReport } from "./importer.js";

/** Waits between `zpool export` attempts while the pool is busy (15 s in all). */
const EXPORT_BUSY_RETRY_MS = [100, 200, 400, 800, 1500, 2000, 3000, 3000, 4000];
/** What `zpool export` says when the kernel refuses with EBUSY (the pool still held). */
const POOL_BUSY = /pool is busy\s*$/m;

export interface MountRequest {
  readonly?: boolean;
  force?: boolean;
  pool?: string;
  adoptHostId?: boolean;
  /** Auto-mount at start: give up (and roll back) unless the root really is NixOS. */
  requireNixos?: boolean;
  /**
   * Read-write: the skipped entries (paths inside the system, sources, pool names) the operator
   * accepts to leave out; without them a read-write mount that would skip anything is refused.
   */
  acceptSkipped?: string[];
}

/** What the last mount left out and why each pool is there: kept until the system is released. */
export interface MountReport {
  skipped: SkippedEntry[];
  pools: PoolReason[];
  /** The skipped entries the operator acknowledged for read-write. */
  accepted: string[];
}

export interface MountResult {
  result: "mounted" | "already-mounted" | "completed";
  candidate: string;
  pool: string | null;
  readonly: boolean;
  forced: boolean;
  hostid: HostIdReport;
  plan: MountPlan | null;
  steps: string[];
  mounts: MountEntry[];
  nixos: NixosIdentity | null;
  warnings: string[];
  /** Entries not mounted (unsafe, broken, locked) with their reasons; everything else is mounted. */
  skipped: SkippedEntry[];
  /** Why each pool of the system was imported. */
  pools: PoolReason[];
  /** What was done on the way, for information (not warnings). */
  notes?: string[];
}

/** A change of the mounts, as the audit and the auto-mount line are told of it. */
export interface MountEvent {
  who: string;
  action: "mount" | "remount-rw" | "unmount" | "export";
  target: string | null;
  result: "ok" | "failed";
  detail: Record<string, unknown>;
}

/** Orchestrates import, mount, unmount and export with rollback; one operation at a time. */
export class MountService {
  private readonly unlockListeners: (() => void)[] = [];
  private readonly observers: ((e: MountEvent) => Promise<void> | void)[] = [];
  /** md arrays and LVM brought up read-only by detection (app/stacks.ts); null: none on this machine. */
  private stacks: StackService | null = null;
  /** The last mount's skipped entries and pool reasons (null once released). */
  private report: MountReport | null = null;
  /** Each root pool's datasets as its last mount listed them, by name and guid (MountRun.remembered). */
  private readonly listings = new Map<string, Dataset[]>();

  /** What the mount in place left out, and why each pool is imported (GET /v1/status). */
  get lastReport(): MountReport | null {
    return this.report;
  }

  private remember(plan: MountPlan | null, run: MountRun, accepted: readonly string[] = []): MountReport {
    const report: MountReport = {
      skipped: [...(plan?.refused ?? []), ...run.skipped],
      pools: plan?.poolReasons ?? [],
      accepted: [...accepted],
    };
    this.report = report;
    return report;
  }

  constructor(
    private readonly sys: System,
    readonly detection: DetectionService,
    private readonly lock: OperationLock,
    private readonly log: Logger,
    readonly root: string,
    /** Readers of the mounts (diagnosis, journal, files): a change waits for them or cancels them. */
    readonly readers: ReaderGate = new ReaderGate(),
  ) {}

  /** Told of every mount, re-mount, unmount and export requested (done or failed), inside the lock. */
  observe(listener: (e: MountEvent) => Promise<void> | void): void {
    this.observers.push(listener);
  }

  private async tell(e: MountEvent): Promise<void> {
    for (const o of this.observers) {
      try {
        await o(e);
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, "mount observer failed");
      }
    }
  }

  /** Run `fn` holding the lock and the mounts to itself: readers are cancelled or waited for first. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(name, () => this.readers.exclusive(name, fn, (names) => this.lock.waiting(names)));
  }

  useStacks(stacks: StackService): void {
    this.stacks = stacks;
  }

  /** Called after a LUKS container was opened or a ZFS key loaded (auto-mount resumes on it). */
  onUnlock(listener: () => void): void {
    this.unlockListeners.push(listener);
  }

  private unlocked(): void {
    for (const l of this.unlockListeners) setImmediate(l);
  }

  private async must(label: string, file: string, args: string[]): Promise<CommandResult> {
    const r = await this.sys.run(file, args);
    if (r.exitCode !== 0) {
      throw new LifeboatError(
        r.timedOut ? "command-timeout" : "command-failed",
        `${label} failed: ${stderrLine(r)}`,
        { failedStep: label },
      );
    }
    return r;
  }

  /** The kernel's mount table now, under the root (a file read, no command). */
  private async mountedNow(): Promise<MountEntry[]> {
    const text = (await this.sys.readFile(MOUNT_TABLE))?.toString("utf8") ?? "";
    return mountsUnder(parseProcMounts(text, []), this.root);
  }

  /** The plan a mount would follow now (read-only; nothing runs). */
  async preview(req: MountRequest = {}): Promise<MountPlan> {
    const d = await this.detection.current();
    const wanted = splitWanted(req.pool);
    const choice = chooseCandidate(d.candidates, wanted.wanted);
    if (!choice.ok) throw this.choiceError(choice.reason, choice.candidates, req.pool, d);
    const run = new MountRun(
      this.sys,
      this.log,
      this.root,
      choice.candidate,
      d,
      { readonly: req.readonly ?? true, requested: req.pool !== undefined },
      wanted.rootDataset,
    );
    const rootMount = d.mounts.find((m) => m.target === this.root);
    if (!rootMount) return run.plan(null);
    const fstab = await run.readFstabOnly();
    const plan = run.plan(fstab);
    if (req.readonly !== false || !isReadOnly(rootMount)) return plan;
    // Read-only → read-write releases everything first, as mount() will.
    const mounted = d.mounts.filter((m) => m.target === this.root || m.target.startsWith(`${this.root}/`));
    const pools = [
      ...new Set(mounted.filter((m) => m.fstype === "zfs").map((m) => m.source.split("/")[0] as string)),
    ];
    // The pools come back read-write: their imports are part of the plan again.
    const imports = pools
      .filter((p) => !plan.steps.some((x) => x.kind === "import-pool" && x.pool === p))
      .map((p) => ({
        kind: "import-pool" as const,
        pool: p,
        guid: null,
        readonly: false,
        altroot: this.root,
        reason: "imported again read-write",
        importedBecause: "request",
      }));
    return {
      ...plan,
      steps: [...imports, ...plan.steps],
      release: [
        ...[...mounted].reverse().map((m) => ({ kind: "unmount" as const, target: m.target })),
        ...pools.map((p) => ({ kind: "export-pool" as const, target: p })),
      ],
    };
  }

  /** `who`: the requester, for the audit (the auto-mount at start when absent). */
  mount(req: MountRequest = {}, who = "auto-mount"): Promise<MountResult> {
    return this.exclusive("mount", async () => {
      // Read once under the lock: nothing mounts meanwhile (a detection on the way mounts nothing).
      const table = await this.mountedNow();
      const before = table.find((m) => m.target === this.root);
      const action = before && isReadOnly(before) && req.readonly === false ? "remount-rw" : "mount";
      try {
        const r = await this.mountLocked(req, table);
        await this.tell({
          who,
          action,
          target: r.candidate,
          result: "ok",
          detail: { result: r.result, readonly: r.readonly, steps: r.steps },
        });
        return r;
      } catch (err) {
        const e = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
        await this.tell({
          who,
          action,
          target: req.pool ?? null,
          result: "failed",
          detail: { readonly: req.readonly ?? true, code: e.code, error: e.message, state: e.extras.state },
        });
        throw err;
      }
    });
  }

  /** `table`: the kernel's mount table under the root, read after the lock was taken. */
  private async mountLocked(req: MountRequest, table: readonly MountEntry[]): Promise<MountResult> {
    const readonly = req.readonly ?? true;
    // The last detection is enough to choose unless a change made it stale (the commands below
    // fail cleanly if the machine changed under it); what is mounted is read fresh from the kernel.
    // After a hand-back the md arrays and VGs are down: a mount request brings them up again. It
    // detects again for that only when the last detection shows md members or PVs to bring up (a
    // machine without any pays no second detection inside its mount request).
    const again = this.stacks?.resume() ?? false;
    let d = await this.detection.forChange();
    if (again && this.stacks?.wants(d.devices)) d = await this.detection.refresh({ scan: false });
    const warnings: string[] = [];
    /** Information, not warnings: what was done on the way. */
    const notes: string[] = [];
    const rootMount = table.find((m) => m.target === this.root);
    if (rootMount) {
      const mountedRo = isReadOnly(rootMount);
      if (readonly || !mountedRo) {
        if (readonly && !mountedRo)
          warnings.push("already mounted read-write; a read-only request does not downgrade it");
        return this.completeMount(d, rootMount, mountedRo, warnings);
      }
      // Read-only → read-write: release everything (unmount + export), then import read-write.
      this.lock.progress("release the read-only mount");
      await this.releaseLocked(true);
      notes.push("released the read-only mount and exported the pools, to import them read-write");
      d = await this.detection.refresh();
    }
    const wanted = splitWanted(req.pool);
    const choice = chooseCandidate(d.candidates, wanted.wanted);
    if (!choice.ok) throw this.choiceError(choice.reason, choice.candidates, req.pool, d);
    const candidate = choice.candidate;
    if (candidate.kind === "zfs" && !d.zfs.available)
      throw new LifeboatError("zfs-unavailable", d.zfs.reason ?? "ZFS is not available");
    const run = new MountRun(
      this.sys,
      this.log,
      this.root,
      candidate,
      d,
      {
        readonly,
        force: req.force,
        adoptHostId: req.adoptHostId,
        acceptSkipped: req.acceptSkipped,
        requested: req.pool !== undefined,
      },
      wanted.rootDataset,
    );
    run.importer.labels = this.detection.labels;
    const stacks = this.stacks;
    if (stacks) run.exec.beforeWritableMount = (source) => stacks.makeWritable(source, run.tx);
    run.tx.onRecord = (label) => this.lock.stepDone(label);
    const listed = candidate.kind === "zfs" ? `${candidate.pool}\0${candidate.guid ?? ""}` : null;
    if (listed && candidate.kind === "zfs" && candidate.guid && !candidate.imported)
      run.remembered = this.listings.get(listed) ?? null;
    let plan: MountPlan | null = null;
    /** The identification read side by side with phase 2 (it holds directories of the root open). */
    let early: Promise<NixosIdentity> | null = null;
    try {
      if (candidate.kind === "zfs") {
        this.lock.progress(`import ${candidate.pool}${readonly ? " read-only" : " read-write"}`);
        if (!candidate.imported) await run.importPools([{ pool: candidate.pool, guid: candidate.guid }]);
        else {
          if (!readonly) notes.push(`${candidate.pool} was already imported; kept as it is`);
          run.checkKeys(candidate.pool);
        }
      }
      this.lock.progress("mount the root and read its fstab");
      await run.bootstrap();
      plan = await run.planFromFstab();
      this.lock.progress("mount the file systems");
      const identify = () => new InstalledSystem(this.sys, this.root).identify();
      // Read side by side with phase 2's mounts when they cannot change what it reads (mountRun.ts).
      early = run.identifiesDuringPhase2(plan) ? identify() : null;
      early?.catch(() => undefined);
      await run.mountPlan(plan);
      run.lap("phase 2 mounted");
      const nixos = early ? await early : await identify();
      run.lap("identified");
      if (!nixos.nixos) {
        if (req.requireNixos)
          throw new LifeboatError(
            "no-system-found",
            `${candidate.id} is not a NixOS system (no /etc/NIXOS, no system profile)`,
          );
        warnings.push("no NixOS markers found (/etc/NIXOS, /nix/var/nix/profiles/system)");
      }
      const mounts = mountsUnder(await run.mountTable(), this.root);
      const report = this.remember(plan, run, req.acceptSkipped);
      if (listed && candidate.kind === "zfs") this.listings.set(listed, run.datasetsOf(candidate.pool));
      // No device scan for the next detection: an import adds no pool or device, and the last
      // scan's importable pools less the ones imported now is exactly what is left (detect.ts).
      // Read-only, nothing was written to a device either: lsblk and blkid would say what they
      // said, but for the mount points.
      if (readonly) this.detection.keepDevices();
      this.detection.invalidate(mounts, { scan: false });
      this.log.info(
        {
          candidate: candidate.id,
          readonly,
          forced: run.importer.forced,
          hostid: run.importer.hostid.action,
          pools: plan.pools,
        },
        "mounted",
      );
      return {
        result: "mounted",
        candidate: candidate.id,
        pool: candidate.kind === "zfs" ? candidate.pool : null,
        readonly,
        forced: run.importer.forced,
        hostid: run.importer.hostid,
        plan,
        steps: run.tx.done,
        mounts,
        nixos,
        // Which fstab was read is information; the plan's other notes (not mounted, locked…) warn.
        warnings: [...warnings, ...run.warnings, ...plan.notes.filter((n) => !n.startsWith("fstab: "))],
        notes: [...notes, ...plan.notes.filter((n) => n.startsWith("fstab: "))],
        skipped: report.skipped,
        pools: report.pools,
      };
    } catch (err) {
      // Its open directories would keep the root busy: the rollback unmounts only once it is done.
      await early?.catch(() => undefined);
      await run.settle();
      throw await this.failed(run.tx, err);
    }
  }

  /**
   * A failed mount: a locked dataset is a pause (the read-only, write-free imports stay so the
   * key can be loaded; what was mounted is unmounted); anything else rolls everything back.
   */
  private async failed(tx: Transaction, err: unknown): Promise<LifeboatError> {
    if (err instanceof LifeboatError && err.code === "key-not-loaded") {
      const report = await tx.rollbackKind("mount");
      this.detection.invalidate(await this.mountedNow().catch(() => undefined));
      return new LifeboatError(err.code, err.message, {
        ...err.extras,
        done: tx.done,
        kept: tx.done.filter((l) => !l.startsWith("mounted ") && !l.startsWith("created ")),
        ...report,
      });
    }
    const e = await this.rolledBack(tx, err);
    const code = e.code === "command-failed" ? "mount-failed" : e.code;
    this.log.warn(
      { code, failedStep: e.extras.failedStep, state: e.extras.state },
      "mount failed, rolled back",
    );
    return code === e.code ? e : new LifeboatError(code, e.message, e.extras);
  }

  /**
   * Undo a failed operation's completed steps, mark the view of the machine stale, and describe
   * it all in the error: what failed, what was undone, what could not be (`rollback-incomplete`).
   */
  private async rolledBack(
    tx: Transaction,
    err: unknown,
    extras: Record<string, unknown> = {},
    leftOver: string[] = [],
  ): Promise<LifeboatError> {
    const report = await tx.rollback();
    report.rollbackFailures.push(...leftOver);
    this.detection.invalidate(await this.mountedNow().catch(() => undefined));
    const base = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
    return new LifeboatError(base.code, base.message, {
      ...base.extras,
      state: report.rollbackFailures.length === 0 ? "rolled-back" : "rollback-incomplete",
      ...extras,
      done: tx.done,
      ...report,
    });
  }

  /**
   * The root is mounted already (e.g. the agent was killed mid-mount and restarted): mount what the
   * plan still lacks (importing the other pools it needs), or report "already-mounted".
   */
  private async completeMount(
    d: Detection,
    rootMount: MountEntry,
    readonly: boolean,
    warnings: string[],
  ): Promise<MountResult> {
    const pool = rootMount.fstype === "zfs" ? (rootMount.source.split("/")[0] ?? null) : null;
    let candidate: Candidate | undefined = d.candidates.find((c) =>
      pool ? c.kind === "zfs" && c.pool === pool : c.kind === "block" && c.device === rootMount.source,
    );
    // A tmpfs root: the system is the pool (or device) holding /nix.
    if (!candidate && rootMount.fstype === "tmpfs") {
      const nix = (await this.mountedNow()).find((m) => m.target === `${this.root.replace(/\/+$/, "")}/nix`);
      const nixPool = nix?.fstype === "zfs" ? nix.source.split("/")[0] : null;
      candidate = d.candidates.find((c) =>
        nixPool ? c.kind === "zfs" && c.pool === nixPool : c.kind === "block" && c.device === nix?.source,
      );
    }
    if (!candidate) return this.alreadyMounted(d, readonly, warnings);
    const run = new MountRun(this.sys, this.log, this.root, candidate, d, {
      readonly,
      acceptSkipped: this.report?.accepted,
    });
    run.importer.labels = this.detection.labels;
    const stacks = this.stacks;
    if (stacks) run.exec.beforeWritableMount = (source) => stacks.makeWritable(source, run.tx);
    const mounted = new Set((await this.mountedNow()).map((m) => m.target));
    let plan: MountPlan;
    try {
      plan = await run.planFromFstab();
      const missing = plan.steps.filter((s) => s.kind === "mount" && !mounted.has(s.target));
      if (missing.length === 0 && run.tx.done.length === 0) return this.alreadyMounted(d, readonly, warnings);
      await run.mountPlan(plan, mounted);
      if (run.tx.done.length === 0) {
        this.remember(plan, run, this.report?.accepted);
        return this.alreadyMounted(d, readonly, [...warnings, ...run.warnings]);
      }
    } catch (err) {
      throw await this.rolledBack(run.tx, err, {
        note: "the mounts that existed before this request were left as they were",
      });
    }
    const mounts = mountsUnder(await run.mountTable(), this.root);
    const report = this.remember(plan, run, this.report?.accepted);
    this.detection.invalidate(mounts, { scan: false });
    this.log.info({ completed: run.tx.done }, "completed a partial mount");
    return {
      ...this.alreadyMounted({ ...d, mounts }, readonly, [
        ...warnings,
        ...run.warnings,
        `completed a partial mount: ${run.tx.done.join("; ")}`,
      ]),
      result: "completed",
      plan,
      steps: run.tx.done,
      skipped: report.skipped,
      pools: report.pools,
    };
  }

  private alreadyMounted(d: Detection, readonly: boolean, warnings: string[]): MountResult {
    const rootMount = d.mounts.find((m) => m.target === this.root);
    const pool = rootMount?.fstype === "zfs" ? (rootMount.source.split("/")[0] ?? null) : null;
    return {
      result: "already-mounted",
      candidate: pool ? `zfs:${pool}` : `block:${rootMount?.source ?? "?"}`,
      pool,
      readonly,
      forced: false,
      hostid: hostidReport("unchanged", d.hostid),
      plan: null,
      steps: [],
      mounts: d.mounts,
      nixos: null,
      warnings,
      skipped: this.report?.skipped ?? [],
      pools: this.report?.pools ?? [],
    };
  }

  private choiceError(
    reason: "none" | "ambiguous" | "not-found" | "unavailable",
    candidates: Candidate[],
    wanted: string | undefined,
    d: Detection,
  ): LifeboatError {
    const ids = candidates.map((c) => c.id);
    switch (reason) {
      case "not-found":
        return new LifeboatError("pool-not-found", `no pool or device named ${wanted} was found`, {
          candidates: d.candidates.map((c) => c.id),
        });
      case "unavailable":
        return new LifeboatError(
          "pool-unavailable",
          `${ids.join(", ")} cannot be imported: devices are missing (${candidates.map((c) => (c.kind === "zfs" ? c.state : "")).join(", ")})`,
          { candidates: ids },
        );
      case "ambiguous":
        return new LifeboatError(
          "ambiguous-system",
          `several systems could be the installed one: ${ids.join(", ")}; say which with "pool"`,
          { candidates: ids },
        );
      default:
        if (!d.zfs.available)
          return new LifeboatError(
            "no-system-found",
            `no installed system found, and ZFS is unavailable here (${d.zfs.reason ?? "unknown"})`,
            { zfs: d.zfs, found: d.candidates.length },
          );
        return new LifeboatError(
          "no-system-found",
          "no installed system found: no importable pool and no Linux root filesystem",
          { found: d.candidates.length },
        );
    }
  }

  /** `who`: the requester, audited here (export and reboot audit themselves: none given). */
  unmount(
    req: { export?: boolean } = {},
    who?: string,
  ): Promise<{ unmounted: string[]; exported: string[]; deactivated?: string[] }> {
    const action = req.export ? "export" : "unmount";
    return this.exclusive(action, async () => {
      try {
        const r = await this.unmountLocked(req);
        if (who)
          await this.tell({ who, action, target: r.exported.join(", ") || null, result: "ok", detail: r });
        return r;
      } catch (err) {
        const e = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
        if (who)
          await this.tell({
            who,
            action,
            target: null,
            result: "failed",
            detail: { code: e.code, error: e.message, state: e.extras.state },
          });
        throw err;
      }
    });
  }

  private async unmountLocked(req: {
    export?: boolean;
  }): Promise<{ unmounted: string[]; exported: string[]; deactivated?: string[] }> {
    {
      const r = await this.releaseLocked(req.export ?? false);
      if (!req.export || !this.stacks) return r;
      // Hand-back: the VGs and arrays the agent brought up go down too (after the unmounts).
      const s = await this.stacks.release();
      await this.detection.refresh({ scan: false });
      if (s.failures.length > 0)
        throw new LifeboatError("command-failed", `could not take down: ${s.failures.join("; ")}`, {
          failedStep: "deactivate md/LVM",
          ...r,
          deactivated: [...s.deactivated, ...s.stopped],
        });
      return s.deactivated.length || s.stopped.length
        ? { ...r, deactivated: [...s.deactivated, ...s.stopped] }
        : r;
    }
  }

  /**
   * `zpool export`, again for up to 15 s while ZFS says the pool itself is busy (EBUSY from the
   * kernel, not a mounted dataset): a process just killed (a cancelled reader's jail, whose mount
   * namespace held a copy of the installed system's mounts) may not be gone yet, and whatever holds
   * it longer is named (poolHoldersOf). A failed export changes nothing, so trying again is safe;
   * anything else fails at once.
   */
  private async exportPool(pool: string): Promise<CommandResult> {
    let r = await this.sys.run("zpool", ["export", pool]);
    for (const [i, ms] of EXPORT_BUSY_RETRY_MS.entries()) {
      if (r.exitCode === 0 || !POOL_BUSY.test(r.stderr)) return r;
      if (i === 0) {
        const holders = await poolHoldersOf(this.sys, pool).catch(() => []);
        this.log.info(
          { pool, holders: describeHolders(holders) || "none found" },
          "pool busy on export: trying again",
        );
      }
      await new Promise((res) => setTimeout(res, ms));
      r = await this.sys.run("zpool", ["export", pool]);
    }
    return r;
  }

  /** An export ZFS refused: "pool is busy" names the processes whose own mount namespace holds it. */
  private async exportFailure(pool: string, r: CommandResult): Promise<LifeboatError> {
    const why = stderrLine(r);
    const holders = POOL_BUSY.test(r.stderr) ? await poolHoldersOf(this.sys, pool).catch(() => []) : [];
    return new LifeboatError(
      "pool-busy",
      holders.length > 0
        ? `export ${pool} failed: ${why}; its datasets are still mounted in other mount namespaces: ${describeHolders(holders)}; end them, then try again`
        : `export ${pool} failed: ${why}`,
      { failedStep: `export ${pool}`, pool, holders },
    );
  }

  /** Unmount everything under the root (deepest first), then optionally export the pools imported under it. */
  private async releaseLocked(exportPools: boolean): Promise<{ unmounted: string[]; exported: string[] }> {
    const mounts = (await this.mountedNow()).reverse();
    // which of them are binds (and of what), for putting back what a failed unmount took down
    const places =
      mounts.length > 0 ? parseMountInfo((await this.sys.readFile(MOUNT_INFO))?.toString("utf8") ?? "") : [];
    const tx = new Transaction(this.log);
    tx.onRecord = (label) => this.lock.stepDone(label);
    const unmounted: string[] = [];
    const exported: string[] = [];
    try {
      // One `umount --recursive` per top of the tree (the root), as `umount -R /mnt` by hand: the
      // submounts first, each before its parent, stopping at the first that fails (util-linux
      // umount_do_recurse). One process for the ~2,000 datasets of a big pool instead of one each.
      // What it took down is read back from the kernel's table and recorded, each with its undo.
      for (const top of topsOf(mounts)) {
        this.lock.progress(`unmount ${top.target}`);
        const r = await this.sys.run("umount", ["--recursive", top.target], {
          timeoutMs: umountTimeoutMs(mountsUnder(mounts, top.target).length),
        });
        const gone = addedSince(await this.mountedNow(), mountsUnder(mounts, top.target));
        for (const m of gone) {
          unmounted.push(m.target);
          const from = bindSource(places, m.target);
          const bind = from !== null && from !== m.target && within(from, this.root);
          tx.record(`unmounted ${m.target}`, {
            label: bind ? `bound ${from} at ${m.target} again` : `remounted ${m.source} at ${m.target}`,
            fn: () => (bind ? this.rebind(from, m) : this.remountAt(m)),
          });
        }
        if (r.exitCode !== 0) {
          const why = stderrLine(r);
          throw await this.unmountFailure(/^umount: (.+): [^:]+$/.exec(why)?.[1] ?? top.target, why);
        }
      }
      if (exportPools) {
        const listed = await this.sys.run("zpool", ["list", "-j"]);
        const imported = listed.exitCode === 0 ? parseZpoolList(listed.stdout) : [];
        const pools = new Set([
          ...imported.filter((p) => p.altroot === this.root).map((p) => p.name),
          ...mounts.filter((m) => m.fstype === "zfs").map((m) => m.source.split("/")[0] as string),
        ]);
        for (const p of pools) {
          this.lock.progress(`export ${p}`);
          const r = await this.exportPool(p);
          if (r.exitCode !== 0) throw await this.exportFailure(p, r);
          exported.push(p);
          tx.record(`exported ${p}`);
        }
      }
    } catch (err) {
      throw await this.rolledBack(
        tx,
        err,
        {},
        exported.length > 0
          ? [`already exported (import again with POST /v1/mount): ${exported.join(", ")}`]
          : [],
      );
    }
    this.report = null;
    this.detection.invalidate(await this.mountedNow());
    this.log.info({ unmounted, exported }, "released");
    return { unmounted, exported };
  }

  /**
   * An unmount refused: "target is busy" names the processes that hold it (from /proc, as fuser
   * would): a 409 the operator can act on (close that shell, stop that program), never a 500.
   */
  private async unmountFailure(target: string, why: string): Promise<LifeboatError> {
    if (!/busy/i.test(why))
      return new LifeboatError("unmount-failed", `unmount ${target} failed: ${why}`, {
        failedStep: `unmount ${target}`,
      });
    const holders = await holdersOf(this.sys, target).catch(() => []);
    return new LifeboatError(
      "target-busy",
      holders.length > 0
        ? `${target} is in use: ${describeHolders(holders)}; end or leave them, then try again`
        : `${target} is in use (${why}), and no process holds files there: a mount inside it, or the kernel (e.g. a swap file or a loop device)`,
      { failedStep: `unmount ${target}`, target, holders },
    );
  }

  /** A host path under the root as the installed system sees it (`/mnt/home` → `/home`). */
  private inside(path: string): string {
    const r = this.root.replace(/\/+$/, "");
    return path === r ? "/" : path.slice(r.length);
  }

  /**
   * Put back a bind a failed unmount had taken down: the same directory bound again, both ends
   * verified directories inside the root (its source was put back before it: mount order). A bind
   * keeps the flags of the mount it comes from, as when it was made.
   */
  private async rebind(from: string, m: MountEntry): Promise<void> {
    const src = await this.sys.openDirInRoot(this.root, this.inside(from), { create: false });
    try {
      const dst = await this.sys.openDirInRoot(this.root, this.inside(m.target), { create: false });
      try {
        await this.must(`bind ${m.target} again`, "mount", [
          "--no-canonicalize",
          "--bind",
          src.dir.procPath,
          dst.dir.procPath,
        ]);
      } finally {
        await dst.dir.close();
      }
    } finally {
      await src.dir.close();
    }
  }

  /** Put back a mount a failed unmount sequence had taken down, onto the same verified directory. */
  private async remountAt(m: MountEntry): Promise<void> {
    const opened = await this.sys.openDirInRoot(this.root, this.inside(m.target), { create: false });
    try {
      await this.must(`remount ${m.target}`, "mount", remountArgs(m, opened.dir.procPath));
    } finally {
      await opened.dir.close();
    }
  }

  loadKey(pool: string, passphrase: string): Promise<{ pool: string; loaded: string[] }> {
    return this.lock.run("load-key", async () => {
      const d = await this.detection.refresh();
      if (!d.imported.some((p) => p.name === pool)) {
        if (d.importable.some((p) => p.name === pool))
          throw new LifeboatError(
            "not-mounted",
            `pool ${pool} is not imported yet: POST /v1/mount first (it stops at the locked dataset)`,
            { pool },
          );
        throw new LifeboatError("pool-not-found", `no imported pool named ${pool}`, { pool });
      }
      const mine = d.datasets.filter((x) => x.pool === pool && x.encryption !== "off");
      if (mine.length === 0)
        throw new LifeboatError("not-encryption-root", `pool ${pool} has no encrypted dataset`, { pool });
      const roots = [
        ...new Set(mine.filter((x) => x.keystatus === "unavailable").map((x) => x.encryptionRoot ?? pool)),
      ];
      if (roots.length === 0)
        throw new LifeboatError("key-already-loaded", `the keys of ${pool} are already loaded`, { pool });
      const loaded: string[] = [];
      for (const root of roots) {
        // `-L prompt`: the passphrase comes from the operator on stdin, never from where the disk's
        // keylocation points (file:///… on the rescue side, https://… fetched): core/zfsProperties.ts.
        const r = await this.sys.run("zfs", loadKeyArgs(root), {
          input: `${passphrase}\n`,
          secretInput: true,
          timeoutMs: 60_000,
        });
        if (r.exitCode === 0) {
          loaded.push(root);
          continue;
        }
        const kind = classifyLoadKeyFailure(r.stderr);
        await this.detection.refresh();
        if (kind === "wrong-passphrase")
          throw new LifeboatError("wrong-passphrase", `wrong passphrase for ${root}`, {
            pool,
            encryptionRoot: root,
            loaded,
          });
        if (kind === "already-loaded") {
          loaded.push(root);
          continue;
        }
        if (kind === "not-encryption-root")
          throw new LifeboatError("not-encryption-root", `${root} is not an encryption root`, {
            pool,
            encryptionRoot: root,
          });
        throw new LifeboatError("command-failed", `zfs load-key ${root} failed (exit ${r.exitCode})`, {
          pool,
          encryptionRoot: root,
        });
      }
      await this.detection.refresh();
      this.log.info({ pool, loaded }, "keys loaded");
      this.unlocked();
      return { pool, loaded };
    });
  }

  openLuks(
    device: string,
    passphrase: string,
  ): Promise<{ device: string; mapper: string; alreadyOpen: boolean }> {
    return this.lock.run("luks-open", async () => {
      const d = await this.detection.refresh();
      const c = d.luks.find((l) => l.name === device || l.device === device || l.device === `/dev/${device}`);
      if (!c)
        throw new LifeboatError("device-not-found", `no LUKS container ${device}`, {
          device,
          luks: d.luks.map((l) => l.name),
        });
      if (c.opened) return { device: c.device, mapper: c.opened, alreadyOpen: true };
      const name = `lifeboat-${c.name}`;
      // Check the passphrase first without creating anything: exit 2 means "no key available with
      // this passphrase", a clear 422; other failures of the real open are reported as they are.
      const test = await this.sys.run(
        "cryptsetup",
        ["open", "--test-passphrase", "--type", "luks", "--key-file=-", c.device],
        {
          input: passphrase,
          secretInput: true,
          timeoutMs: 120_000,
        },
      );
      if (test.exitCode === 2)
        throw new LifeboatError("wrong-passphrase", `wrong passphrase for ${c.device}`, { device: c.device });
      if (test.exitCode !== 0)
        throw new LifeboatError(
          "command-failed",
          `cryptsetup could not check ${c.device}: ${stderrLine(test)}`,
          { device: c.device },
        );
      const r = await this.sys.run("cryptsetup", ["open", "--type", "luks", "--key-file=-", c.device, name], {
        input: passphrase,
        secretInput: true,
        timeoutMs: 120_000,
      });
      if (r.exitCode === 2)
        throw new LifeboatError("wrong-passphrase", `wrong passphrase for ${c.device}`, { device: c.device });
      if (r.exitCode !== 0)
        throw new LifeboatError("command-failed", `cryptsetup open ${c.device} failed: ${stderrLine(r)}`, {
          device: c.device,
        });
      this.stacks?.resume();
      await this.detection.refresh();
      this.log.info({ device: c.device, mapper: `/dev/mapper/${name}` }, "LUKS container opened");
      this.unlocked();
      return { device: c.device, mapper: `/dev/mapper/${name}`, alreadyOpen: false };
    });
  }
}

/**
 * How long one `umount --recursive` may take: two minutes, and a quarter of a second more for each
 * mount it takes down. A big pool's ~2,000 datasets took 71-90 s on a quiet lab host and more than
 * 120 s on a loaded one (docs/performance.md); a timeout there unmounts part of the tree and puts
 * it all back.
 */
function umountTimeoutMs(mounts: number): number {
  return 120_000 + 250 * mounts;
}

/** The mounts of `mounts` no other of them lies under: where one `umount --recursive` starts. */
function topsOf(mounts: readonly MountEntry[]): MountEntry[] {
  const tops = mounts.filter((m) => !mounts.some((o) => o.target !== m.target && within(m.target, o.target)));
  return [...new Map(tops.map((m) => [m.target, m])).values()];
}
