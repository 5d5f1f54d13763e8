import type { Logger } from "pino";
import { type Candidate, chooseCandidate } from "../core/candidates.js";
import { LifeboatError } from "../core/errors.js";
import { isReadOnly, type MountEntry } from "../core/mounts.js";
import { type MountPlan, type MountStep, planMount } from "../core/plan.js";
import { classifyLoadKeyFailure } from "../core/zfs.js";
import { classifyImportFailure } from "../core/zpoolImport.js";
import type { CommandResult, System } from "../system/system.js";
import type { Detection, DetectionService } from "./detect.js";
import { adoptHostId, restoreHostId } from "./hostid.js";
import { InstalledSystem, type NixosIdentity } from "./installed.js";
import type { OperationLock } from "./lock.js";
import { Transaction } from "./transaction.js";

export interface MountRequest {
  readonly?: boolean;
  force?: boolean;
  pool?: string;
  adoptHostId?: boolean;
  /** Auto-mount at start: give up (and roll back) unless the root really is NixOS. */
  requireNixos?: boolean;
}

export interface HostIdReport {
  action: "adopted" | "unchanged" | "not-needed" | "kept";
  previous: string | null;
  current: string | null;
  lastHost: string | null;
  lastHostId: string | null;
  splParameterWritten?: boolean;
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
}

interface ImportOutcome {
  forced: boolean;
  hostid: HostIdReport;
}

function stderrLine(r: CommandResult): string {
  if (r.timedOut) return "timed out";
  return r.stderr.trim().split("\n")[0] || r.stdout.trim().split("\n")[0] || `exit code ${r.exitCode}`;
}

/** Orchestrates import, mount, unmount and export with rollback; one operation at a time. */
export class MountService {
  constructor(
    private readonly sys: System,
    private readonly detection: DetectionService,
    private readonly lock: OperationLock,
    private readonly log: Logger,
    readonly root: string,
  ) {}

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

  /** The plan a mount would follow now (read-only; nothing runs). */
  async preview(req: MountRequest = {}): Promise<MountPlan> {
    const d = await this.detection.current();
    const choice = chooseCandidate(d.candidates, req.pool);
    if (!choice.ok) throw this.choiceError(choice.reason, choice.candidates, req.pool, d);
    const c = choice.candidate;
    const mounted = d.mounts.some((m) => m.target === this.root);
    const fstab = mounted
      ? await new InstalledSystem(this.sys, this.root).readFstab().catch(() => null)
      : null;
    return planMount({
      root: this.root,
      candidate: c,
      readonly: req.readonly ?? true,
      devices: d.devices,
      datasets: c.kind === "zfs" ? d.datasets.filter((x) => x.pool === c.pool) : [],
      fstab: fstab?.entries ?? null,
    });
  }

  mount(req: MountRequest = {}): Promise<MountResult> {
    return this.lock.run("mount", () => this.mountLocked(req));
  }

  private async mountLocked(req: MountRequest): Promise<MountResult> {
    const readonly = req.readonly ?? true;
    let d = await this.detection.refresh();
    const warnings: string[] = [];
    const rootMount = d.mounts.find((m) => m.target === this.root);
    if (rootMount) {
      const mountedRo = isReadOnly(rootMount);
      if (readonly || !mountedRo) {
        if (readonly && !mountedRo)
          warnings.push("already mounted read-write; a read-only request does not downgrade it");
        return this.completeMount(d, mountedRo, warnings);
      }
      // Read-only → read-write: release everything (unmount + export), then import read-write.
      await this.releaseLocked(true);
      warnings.push("released the read-only mount and export to re-import read-write");
      d = await this.detection.refresh();
    }
    const choice = chooseCandidate(d.candidates, req.pool);
    if (!choice.ok) throw this.choiceError(choice.reason, choice.candidates, req.pool, d);
    const candidate = choice.candidate;
    const tx = new Transaction(this.log);
    let outcome: ImportOutcome = { forced: false, hostid: this.hostidReport("not-needed", d.hostid) };
    let plan: MountPlan | null = null;
    try {
      if (candidate.kind === "zfs") {
        if (!candidate.imported) {
          outcome = await this.importPool(candidate, readonly, req, tx);
          d = await this.detection.refresh();
        } else if (!readonly) {
          warnings.push(`${candidate.pool} was already imported; kept as it is`);
        }
        this.checkKeys(candidate, d);
      }
      if (candidate.kind === "zfs" && !d.zfs.available)
        throw new LifeboatError("zfs-unavailable", d.zfs.reason ?? "ZFS is not available");
      const fresh = d.candidates.find((c) => c.id === candidate.id) ?? candidate;
      const datasets = candidate.kind === "zfs" ? d.datasets.filter((x) => x.pool === candidate.pool) : [];
      // Phase 1: the root (and /nix, where the store holding fstab lives), by convention.
      const first = planMount({
        root: this.root,
        candidate: fresh,
        readonly,
        devices: d.devices,
        datasets,
        fstab: null,
      });
      const early = first.steps.filter(
        (s): s is MountStep => s.kind === "mount" && (s.role === "root" || s.role === "nix"),
      );
      if (!early.some((s) => s.role === "root")) {
        throw new LifeboatError("no-system-found", `no root filesystem found in ${candidate.id}`, {
          notes: first.notes,
        });
      }
      for (const s of early) await this.mountStep(s, readonly, tx);
      // Phase 2: the installed system's own fstab decides the rest.
      const installed = new InstalledSystem(this.sys, this.root);
      const fstab = await installed.readFstab().catch((err: Error) => {
        warnings.push(`could not read the installed fstab: ${err.message}`);
        return null;
      });
      plan = planMount({
        root: this.root,
        candidate: fresh,
        readonly,
        devices: d.devices,
        datasets,
        fstab: fstab?.entries ?? null,
      });
      if (!fstab)
        plan = {
          ...plan,
          notes: [...plan.notes, "the installed system has no readable fstab: used the conventional layout"],
        };
      const mountedPaths = new Set(early.map((s) => s.path));
      const root = plan.steps.find((s): s is MountStep => s.kind === "mount" && s.path === "/");
      const earlyRoot = early.find((s) => s.role === "root");
      if (root && earlyRoot && root.source !== earlyRoot.source)
        warnings.push(`fstab mounts ${root.source} at /, but ${earlyRoot.source} was mounted as the root`);
      for (const s of plan.steps) {
        if (s.kind !== "mount" || mountedPaths.has(s.path)) continue;
        await this.mountStep(s, readonly, tx);
      }
      const nixos = await installed.identify();
      if (!nixos.nixos) {
        if (req.requireNixos)
          throw new LifeboatError(
            "no-system-found",
            `${candidate.id} is not a NixOS system (no /etc/NIXOS, no system profile)`,
          );
        warnings.push("no NixOS markers found (/etc/NIXOS, /nix/var/nix/profiles/system)");
      }
      d = await this.detection.refresh();
      this.log.info(
        { candidate: candidate.id, readonly, forced: outcome.forced, hostid: outcome.hostid.action },
        "mounted",
      );
      return {
        result: "mounted",
        candidate: candidate.id,
        pool: candidate.kind === "zfs" ? candidate.pool : null,
        readonly,
        forced: outcome.forced,
        hostid: outcome.hostid,
        plan,
        steps: tx.done,
        mounts: d.mounts,
        nixos,
        warnings: [...warnings, ...plan.notes],
      };
    } catch (err) {
      // A locked dataset is a pause, not a failure: keep the (read-only, write-free) import so the
      // key can be loaded, and say so.
      if (err instanceof LifeboatError && err.code === "key-not-loaded") {
        this.detection.refresh().catch(() => undefined);
        throw new LifeboatError(err.code, err.message, { ...err.extras, done: tx.done, kept: tx.done });
      }
      const e = await this.rolledBack(tx, err);
      const code = e.code === "command-failed" ? "mount-failed" : e.code;
      this.log.warn(
        { code, failedStep: e.extras.failedStep, state: e.extras.state },
        "mount failed, rolled back",
      );
      throw code === e.code ? e : new LifeboatError(code, e.message, e.extras);
    }
  }

  /**
   * Undo a failed operation's completed steps, refresh the view of the machine, and describe it
   * all in the error: what failed, what was undone, what could not be (`rollback-incomplete`).
   */
  private async rolledBack(
    tx: Transaction,
    err: unknown,
    extras: Record<string, unknown> = {},
    leftOver: string[] = [],
  ): Promise<LifeboatError> {
    const report = await tx.rollback();
    report.rollbackFailures.push(...leftOver);
    await this.detection.refresh().catch(() => undefined);
    const base = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
    return new LifeboatError(base.code, base.message, {
      ...base.extras,
      state: report.rollbackFailures.length === 0 ? "rolled-back" : "rollback-incomplete",
      ...extras,
      done: tx.done,
      ...report,
    });
  }

  private hostidReport(
    action: HostIdReport["action"],
    live: string | null,
    extra: Partial<HostIdReport> = {},
  ): HostIdReport {
    return { action, previous: live, current: live, lastHost: null, lastHostId: null, ...extra };
  }

  private async importPool(
    c: Extract<Candidate, { kind: "zfs" }>,
    readonly: boolean,
    req: MountRequest,
    tx: Transaction,
  ): Promise<ImportOutcome> {
    const id = c.guid ?? c.pool;
    const args = (force: boolean) => [
      "import",
      "-N",
      "-R",
      this.root,
      ...(readonly ? ["-o", "readonly=on"] : []),
      ...(force ? ["-f"] : []),
      id,
    ];
    const live = (await this.detection.current()).hostid;
    const exportUndo = {
      label: `exported ${c.pool}`,
      fn: async () => void (await this.must(`export ${c.pool}`, "zpool", ["export", c.pool])),
    };
    const ok = (r: CommandResult) => r.exitCode === 0;
    let r = await this.sys.run("zpool", args(false));
    if (ok(r)) {
      tx.record(`imported ${c.pool}${readonly ? " read-only" : ""}`, exportUndo);
      return { forced: false, hostid: this.hostidReport("not-needed", live) };
    }
    let failure = classifyImportFailure(r.stderr);
    let hostid = this.hostidReport("kept", live);
    if (failure.kind === "in-use-elsewhere") {
      hostid = this.hostidReport("kept", live, {
        lastHost: failure.lastHost,
        lastHostId: failure.lastHostId,
      });
      const adopt = req.adoptHostId ?? true;
      if (adopt && failure.lastHostId && failure.lastHostId !== live) {
        const { backup, splWritten } = await adoptHostId(this.sys, failure.lastHostId);
        tx.record(`adopted hostid ${failure.lastHostId} (was ${live ?? "unset"})`, {
          label: `restored hostid ${live ?? "(none)"}`,
          fn: () => restoreHostId(this.sys, backup),
        });
        hostid = {
          action: "adopted",
          previous: live,
          current: failure.lastHostId,
          lastHost: failure.lastHost,
          lastHostId: failure.lastHostId,
          splParameterWritten: splWritten,
        };
        r = await this.sys.run("zpool", args(false));
        if (ok(r)) {
          tx.record(`imported ${c.pool}${readonly ? " read-only" : ""}`, exportUndo);
          return { forced: false, hostid };
        }
        failure = classifyImportFailure(r.stderr);
      }
      if (failure.kind === "in-use-elsewhere" && req.force) {
        r = await this.sys.run("zpool", args(true));
        if (ok(r)) {
          tx.record(`imported ${c.pool}${readonly ? " read-only" : ""} with -f (forced)`, exportUndo);
          return { forced: true, hostid };
        }
        failure = classifyImportFailure(r.stderr);
      }
      if (failure.kind === "in-use-elsewhere") {
        const who = failure.lastHost
          ? `${failure.lastHost} (hostid ${failure.lastHostId ?? "?"})`
          : "another system";
        throw new LifeboatError(
          "pool-in-use-elsewhere",
          `pool ${c.pool} was last used by ${who} and not exported. Import it by adopting that hostid (adoptHostId: true) or with force: true — only if that machine is really off.`,
          {
            pool: c.pool,
            lastHost: failure.lastHost,
            lastHostId: failure.lastHostId,
            lastAccessed: failure.lastAccessed,
            failedStep: `import ${c.pool}`,
          },
        );
      }
    }
    if (failure.kind === "missing-devices" || failure.kind === "no-such-pool")
      throw new LifeboatError("pool-unavailable", `cannot import ${c.pool}: ${stderrLine(r)}`, {
        pool: c.pool,
        failedStep: `import ${c.pool}`,
      });
    if (failure.kind === "name-exists")
      throw new LifeboatError(
        "pool-name-conflict",
        `a pool named ${c.pool} is already imported on this machine`,
        { pool: c.pool, failedStep: `import ${c.pool}` },
      );
    throw new LifeboatError("command-failed", `import ${c.pool} failed: ${stderrLine(r)}`, {
      pool: c.pool,
      failedStep: `import ${c.pool}`,
      hostid,
    });
  }

  private checkKeys(c: Extract<Candidate, { kind: "zfs" }>, d: Detection): void {
    const locked = d.datasets.filter(
      (x) => x.pool === c.pool && x.keystatus === "unavailable" && x.canmount !== "off",
    );
    if (locked.length === 0) return;
    const roots = [...new Set(locked.map((x) => x.encryptionRoot ?? x.pool))];
    throw new LifeboatError(
      "key-not-loaded",
      `${c.pool} is encrypted and locked: load the key of ${roots.join(", ")} (POST /v1/pools/${c.pool}/load-key), then mount again`,
      {
        pool: c.pool,
        encryptionRoots: roots,
        locked: locked.map((x) => x.name),
      },
    );
  }

  private async mountStep(s: MountStep, readonly: boolean, tx: Transaction): Promise<void> {
    const label = `mount ${s.source} at ${s.target}`;
    if (s.target === this.root) await this.sys.mkdir(this.root);
    else if (!(await this.sys.lstat(s.target))) {
      if (readonly)
        throw new LifeboatError(
          "mount-failed",
          `${label} failed: mountpoint ${s.path} does not exist in the installed system (read-only: not created)`,
          { failedStep: label },
        );
      await this.sys.mkdir(s.target);
      tx.record(`created mountpoint ${s.target}`);
    }
    const args =
      s.method === "zfs-mount"
        ? ["mount", ...(s.options.length ? ["-o", s.options.join(",")] : []), s.source]
        : ["-t", s.fstype, ...(s.options.length ? ["-o", s.options.join(",")] : []), s.source, s.target];
    const r = await this.sys.run(s.method === "zfs-mount" ? "zfs" : "mount", args);
    if (r.exitCode !== 0) {
      if (/encryption key not loaded/.test(r.stderr))
        throw new LifeboatError("key-not-loaded", `${s.source} is locked: load its encryption key first`, {
          failedStep: label,
        });
      throw new LifeboatError("mount-failed", `${label} failed: ${stderrLine(r)}`, { failedStep: label });
    }
    tx.record(`mounted ${s.source} at ${s.target}${readonly ? " (read-only)" : ""}`, {
      label: `unmounted ${s.target}`,
      fn: async () => void (await this.must(`unmount ${s.target}`, "umount", [s.target])),
    });
  }

  /**
   * The root is mounted already (e.g. the agent was killed mid-mount and restarted): mount what the
   * plan still lacks, or report "already-mounted" when nothing is missing.
   */
  private async completeMount(d: Detection, readonly: boolean, warnings: string[]): Promise<MountResult> {
    const rootMount = d.mounts.find((m) => m.target === this.root) as MountEntry;
    const pool = rootMount.fstype === "zfs" ? (rootMount.source.split("/")[0] ?? null) : null;
    const candidate = d.candidates.find((c) =>
      pool ? c.kind === "zfs" && c.pool === pool : c.kind === "block" && c.device === rootMount.source,
    );
    if (!candidate) return this.alreadyMounted(d, readonly, warnings);
    const fstab = await new InstalledSystem(this.sys, this.root).readFstab().catch(() => null);
    const plan = planMount({
      root: this.root,
      candidate,
      readonly,
      devices: d.devices,
      datasets: pool ? d.datasets.filter((x) => x.pool === pool) : [],
      fstab: fstab?.entries ?? null,
    });
    const mounted = new Set(d.mounts.map((m) => m.target));
    const missing = plan.steps.filter((s): s is MountStep => s.kind === "mount" && !mounted.has(s.target));
    if (missing.length === 0) return this.alreadyMounted(d, readonly, warnings);
    const tx = new Transaction(this.log);
    try {
      for (const s of missing) await this.mountStep(s, readonly, tx);
    } catch (err) {
      throw await this.rolledBack(tx, err, {
        note: "the mounts that existed before this request were left as they were",
      });
    }
    const after = await this.detection.refresh();
    this.log.info({ completed: tx.done }, "completed a partial mount");
    return {
      ...this.alreadyMounted(after, readonly, [
        ...warnings,
        `completed a partial mount: ${missing.map((s) => s.path).join(", ")}`,
      ]),
      result: "completed",
      plan,
      steps: tx.done,
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
      hostid: this.hostidReport("unchanged", d.hostid),
      plan: null,
      steps: [],
      mounts: d.mounts,
      nixos: null,
      warnings,
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

  unmount(req: { export?: boolean } = {}): Promise<{ unmounted: string[]; exported: string[] }> {
    return this.lock.run("unmount", () => this.releaseLocked(req.export ?? false));
  }

  /** Unmount everything under the root (deepest first), then optionally export our pools. */
  private async releaseLocked(exportPools: boolean): Promise<{ unmounted: string[]; exported: string[] }> {
    const d = await this.detection.refresh();
    const tx = new Transaction(this.log);
    const depth = (p: string) => p.split("/").length;
    const mounts = d.mounts
      .map((m, i) => ({ m, i }))
      .sort((a, b) => depth(b.m.target) - depth(a.m.target) || b.i - a.i)
      .map((x) => x.m);
    const unmounted: string[] = [];
    const exported: string[] = [];
    try {
      for (const m of mounts) {
        const r = await this.sys.run("umount", [m.target]);
        if (r.exitCode !== 0) {
          throw new LifeboatError("unmount-failed", `unmount ${m.target} failed: ${stderrLine(r)}`, {
            failedStep: `unmount ${m.target}`,
          });
        }
        unmounted.push(m.target);
        tx.record(`unmounted ${m.target}`, {
          label: `remounted ${m.source} at ${m.target}`,
          fn: async () =>
            void (await this.must(`remount ${m.target}`, "mount", [
              "-t",
              m.fstype,
              "-o",
              m.options.join(","),
              m.source,
              m.target,
            ])),
        });
      }
      if (exportPools) {
        const pools = new Set([
          ...d.imported.filter((p) => p.altroot === this.root).map((p) => p.name),
          ...mounts.filter((m) => m.fstype === "zfs").map((m) => m.source.split("/")[0] as string),
        ]);
        for (const p of pools) {
          const r = await this.sys.run("zpool", ["export", p]);
          if (r.exitCode !== 0)
            throw new LifeboatError("pool-busy", `export ${p} failed: ${stderrLine(r)}`, {
              failedStep: `export ${p}`,
              pool: p,
            });
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
    await this.detection.refresh();
    this.log.info({ unmounted, exported }, "released");
    return { unmounted, exported };
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
        const r = await this.sys.run("zfs", ["load-key", root], {
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
      await this.detection.refresh();
      this.log.info({ device: c.device, mapper: `/dev/mapper/${name}` }, "LUKS container opened");
      return { device: c.device, mapper: `/dev/mapper/${name}`, alreadyOpen: false };
    });
  }
}
