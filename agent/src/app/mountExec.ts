import { LifeboatError } from "../core/errors.js";
import {
  addedSince,
  isReadOnly,
  type MountEntry,
  parseProcMounts,
  within,
  zfsMntpoint,
} from "../core/mounts.js";
import type { MountStep } from "../core/plan.js";
import type { DirHandle, OpenedDir } from "../system/mounttarget.js";
import type { CommandResult, System } from "../system/system.js";
import { stderrLine } from "./importer.js";
import type { Transaction } from "./transaction.js";

/** The mount table Lifeboat's own process sees (the kernel's view: real paths, octal escapes). */
export const MOUNT_TABLE = "/proc/self/mounts";
/** The same table with each mount's filesystem and directory of it (binds, subvolumes). */
export const MOUNT_INFO = "/proc/self/mountinfo";

/** A wave's targets as openWave left them: one outcome per step, the handles to close. */
interface OpenedWave {
  steps: readonly MountStep[];
  opened: PromiseSettledResult<OpenedDir>[];
  handles: DirHandle[];
}

/** Close handles side by side (each close is its own system call; none can fail the run). */
async function closeAll(handles: readonly DirHandle[]): Promise<void> {
  await Promise.all(handles.map((h) => h.close()));
}

/** Paths without which the installed system is unusable: never skipped, their failure fails the mount. */
const ESSENTIAL = new Set(["/", "/nix", "/nix/store"]);

/** Failures of one entry that skip it (degrade) instead of failing the run. */
const SKIPPABLE = new Set<string>(["unsafe-mountpoint", "key-not-loaded"]);

/**
 * Sibling mounts at least this many go as one `mount --all --fork` (mountWave); a lone step goes by
 * itself. Measured in the lab (docs/performance.md): one process for the seed's /home, /var and
 * /boot instead of three, and each entry mounted in its own forked child, side by side.
 */
export const BATCH_MIN = 2;
/** At most this many entries per `mount --all` (open directory handles, one command's run time). */
const BATCH_MAX = 256;
const WAVE_TIMEOUT_MS = 600_000;
/** Where a wave's table is written (the rescue system's own tmpfs, root only). */
const WAVE_TABLE_DIR = "/run/lifeboat";
const WAVE_TABLE = `${WAVE_TABLE_DIR}/mount-wave.fstab`;

/**
 * Filesystems the kernel mounts by itself: mount(8) runs no helper for them (util-linux has no
 * mount.<type> for these, the kernel takes every option the planner gives), except ZFS, whose
 * helper mount.zfs only checks the `zfsutil`/legacy pairing the planner already settled and then
 * calls mount(2) with the same flags (cmd/mount_zfs): `zfs mount` itself mounts without it. These
 * are mounted with `--internal-only` (no helper process, and no helper found on PATH ever runs).
 */
const KERNEL_MOUNTED = new Set(["zfs", "vfat", "ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs"]);

/** The options a step is mounted with: with `--internal-only`, ZFS gets what mount.zfs would add. */
function mountOptions(s: MountStep, internal: boolean): string[] {
  const options = s.options.filter((x) => x !== "noauto");
  if (internal && s.fstype === "zfs") options.push(...zfsMntpoint(s.target));
  return options;
}

/** An fstab(5) field: whitespace, `#` and `\` as the octal escapes libmount decodes. */
function fstabField(s: string): string {
  return s.replace(/[ \t\n\r\v\f#\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/**
 * Runs mount steps onto targets opened by `System.openDirInRoot` (no symlink followed, mounted
 * through /proc/<pid>/fd/<n>), then checks the kernel's mount table: the new mount must be where
 * the plan said, inside the root. Anything else is unmounted again and refused. Each step is
 * recorded in the transaction with its undo.
 */
export class MountExecutor {
  private table: MountEntry[] | null = null;
  /**
   * Read-write runs: called with a device source before it is mounted (app/stacks.ts switches the
   * md arrays and LVs under it to read-write, recorded in the same transaction).
   */
  beforeWritableMount: ((source: string) => Promise<void>) | null = null;
  /**
   * Degrade, don't refuse: called when a step that is not `/` or `/nix` cannot be mounted safely
   * (target or bind source refused by the door, the mount failing, a key not loaded) or lands on a
   * skipped path. It records the skip, or throws (a read-write run without the operator's
   * acknowledgment). Null: every failure fails the run.
   */
  skipper: ((s: MountStep, reason: string) => void) | null = null;
  /** Paths skipped in this run (the plan's refused entries and the steps skipped here). */
  private readonly skippedPaths = new Set<string>();
  /** Failures found after the kernel mounted something (misplaced, wrong access): never skipped. */
  private readonly fatal = new WeakSet<object>();

  constructor(
    private readonly sys: System,
    private readonly root: string,
    private readonly tx: Transaction,
    /** Read-only mounts never create directories on the disk; our own tmpfs root is not the disk. */
    private readonly readonly: boolean,
  ) {}

  async mountTable(fresh = false): Promise<MountEntry[]> {
    if (this.table && !fresh) return this.table;
    const text = (await this.sys.readFile(MOUNT_TABLE))?.toString("utf8") ?? "";
    this.table = parseProcMounts(text, []);
    return this.table;
  }

  /** The directories a target's walk created, recorded in the transaction as done steps. */
  private recordCreated(opened: OpenedDir): void {
    for (const c of opened.created) this.tx.record(`created mountpoint ${c}`);
  }

  /** May directories be created for this step: read-write, or landing on Lifeboat's own tmpfs. */
  private mayCreate(s: MountStep, tmpfsRoot: boolean): boolean {
    if (!this.readonly) return true;
    return tmpfsRoot && s.parent === "/";
  }

  /** Paths the plan already skipped: whatever would land on them or bind from them is skipped too. */
  skipPaths(paths: Iterable<string>): void {
    for (const p of paths) if (p && !ESSENTIAL.has(p)) this.skippedPaths.add(p);
  }

  /** The skipped path this step lands on (or binds from), if any; the step is then skipped too. */
  private skippedAbove(s: MountStep): boolean {
    if (this.skippedPaths.size === 0 || ESSENTIAL.has(s.path)) return false;
    const inside = (p: string, q: string) => p === q || p.startsWith(`${q}/`);
    for (const q of this.skippedPaths) {
      const on = s.path.startsWith(`${q}/`);
      const from = s.method === "bind" && s.from !== undefined && inside(s.from, q);
      if (!on && !from) continue;
      this.skip(s, on ? `it lands on ${q}, which is skipped` : `its source is on ${q}, which is skipped`);
      return true;
    }
    return false;
  }

  private skip(s: MountStep, reason: string): void {
    if (!this.skipper) throw new LifeboatError("mount-failed", `mount ${s.source} at ${s.target}: ${reason}`);
    this.skipper(s, reason);
    this.skippedPaths.add(s.path);
  }

  /**
   * A failed step that may be skipped: not essential, refused before anything was mounted (its
   * target or bind source unsafe: the disk's doing; its mountpoint missing read-only) or locked. A mount command that fails for
   * another reason, or a mount the kernel made in the wrong place, fails the whole run (rolled
   * back): that says the machine, not one entry, is in trouble.
   */
  private maySkip(s: MountStep, err: unknown): boolean {
    if (
      !this.skipper ||
      ESSENTIAL.has(s.path) ||
      !(err instanceof LifeboatError) ||
      !(SKIPPABLE.has(err.code) || err.extras.missingMountpoint === true) ||
      this.fatal.has(err)
    )
      return false;
    this.skip(s, err.message);
    return true;
  }

  async mount(s: MountStep, tmpfsRoot: boolean): Promise<void> {
    if (this.skippedAbove(s)) return;
    try {
      await this.mountOne(s, tmpfsRoot);
    } catch (err) {
      if (!this.maySkip(s, err)) throw err;
    }
  }

  private async mountOne(s: MountStep, tmpfsRoot: boolean): Promise<void> {
    const label = `mount ${s.source} at ${s.target}`;
    const handles: DirHandle[] = [];
    try {
      const opened = await this.sys
        .openDirInRoot(this.root, s.path, { create: s.path === "/" || this.mayCreate(s, tmpfsRoot) })
        .catch((err: unknown) => {
          throw err instanceof LifeboatError
            ? new LifeboatError(err.code, `${label} refused: ${err.message}`, {
                ...err.extras,
                failedStep: label,
              })
            : err;
        });
      handles.push(opened.dir);
      this.recordCreated(opened);
      let args: string[];
      if (s.method === "bind") {
        const from = await this.sys.openDirInRoot(this.root, s.from ?? "/", { create: false });
        handles.push(from.dir);
        // No options: the bind keeps the flags of the mount it comes from (ro, nodev, nosuid…).
        args = ["--no-canonicalize", "--bind", from.dir.procPath, opened.dir.procPath];
      } else {
        // ZFS without mount.zfs (one process less per dataset, as `zfs mount` does): KERNEL_MOUNTED.
        const internal = s.fstype === "zfs";
        const options = internal ? mountOptions(s, true) : s.options;
        args = [
          "--no-canonicalize",
          ...(internal ? ["--internal-only"] : []),
          // mount(8): without -w, a read-write mount of a write-protected device quietly falls back
          // to read-only; a request for read-write must fail instead of being told it got it.
          ...(this.wantsWritable(s) ? ["-w"] : []),
          "-t",
          s.fstype,
          ...(options.length ? ["-o", options.join(",")] : []),
          s.source,
          opened.dir.procPath,
        ];
      }
      if (!this.readonly && s.method !== "bind" && s.source.startsWith("/dev/"))
        await this.beforeWritableMount?.(s.source);
      const before = await this.mountTable();
      const r = await this.sys.run("mount", args);
      if (r.exitCode !== 0) {
        if (/encryption key not loaded/.test(r.stderr))
          throw new LifeboatError("key-not-loaded", `${s.source} is locked: load its encryption key first`, {
            failedStep: label,
          });
        throw new LifeboatError("mount-failed", `${label} failed: ${stderrLine(r)}`, { failedStep: label });
      }
      await this.landed(s, before, label).catch((err: unknown) => {
        if (err instanceof Error) this.fatal.add(err);
        throw err;
      });
    } finally {
      for (const h of handles) await h.close();
    }
  }

  /** Find the mount the kernel made, record its undo where it really is, refuse it if misplaced. */
  private async landed(s: MountStep, before: MountEntry[], label: string): Promise<void> {
    const added = addedSince(before, await this.mountTable(true));
    for (const m of added) this.recordMount(s.source, m);
    const stray = added.find((m) => !within(m.target, this.root));
    if (stray)
      throw new LifeboatError(
        "unsafe-mountpoint",
        `${label} ended up at ${stray.target}, outside ${this.root}: unmounted again`,
        { failedStep: label, path: s.path },
      );
    const mine = added.find((m) => m.target === s.target);
    if (!mine)
      throw new LifeboatError(
        "mount-failed",
        `${label}: the mount table does not show it at ${s.target}${added[0] ? ` (it shows ${added[0].target})` : ""}`,
        { failedStep: label },
      );
    this.checkAccess(s, mine, label);
  }

  /** A mount the kernel shows, recorded in the transaction with its undo (unmount where it really is). */
  private recordMount(source: string, m: MountEntry): void {
    this.tx.record(`mounted ${source} at ${m.target}${this.readonly ? " (read-only)" : ""}`, {
      label: `unmounted ${m.target}`,
      kind: "mount",
      fn: async () => {
        const r = await this.sys.run("umount", [m.target]);
        if (r.exitCode !== 0)
          throw new LifeboatError("unmount-failed", `unmount ${m.target} failed: ${stderrLine(r)}`);
        this.table = null;
      },
    });
  }

  /** A read-write step of a read-write mount: not told `ro` by the plan. */
  private wantsWritable(s: MountStep): boolean {
    return !this.readonly && s.method !== "bind" && !s.options.includes("ro");
  }

  /**
   * The kernel's word on read-only (/proc/self/mounts says `ro` when the mount or its superblock is):
   * in a read-only run every disk filesystem must be read-only (a tmpfs holds nothing of the disk),
   * and a read-write step must not have landed read-only. Either way the step fails and the
   * transaction rolls back.
   */
  private checkAccess(s: MountStep, m: MountEntry, label: string): void {
    if (this.readonly && s.fstype !== "tmpfs" && !isReadOnly(m))
      throw new LifeboatError(
        "mount-failed",
        `${label}: the kernel shows it read-write in a read-only mount: unmounted again`,
        { failedStep: label },
      );
    if (this.wantsWritable(s) && isReadOnly(m))
      throw new LifeboatError(
        "mount-failed",
        `${label}: asked read-write, the kernel mounted it read-only (a read-only device?): unmounted again`,
        { failedStep: label },
      );
  }

  /**
   * Mount the steps in plan order. Runs of steps none of which lands on another (siblings such as a
   * thousand /home/<user> datasets) go together as one wave: at least BATCH_MIN of them are mounted
   * by one `mount --all` over a table of verified targets (mountWave); shorter runs one by one.
   */
  async mountAll(steps: readonly MountStep[], tmpfsRoot: boolean): Promise<void> {
    let wave: MountStep[] = [];
    const paths = new Set<string>();
    const flush = async () => {
      wave = wave.filter((s) => !this.skippedAbove(s));
      if (wave.length >= BATCH_MIN) await this.mountWaves(wave, tmpfsRoot);
      else for (const s of wave) await this.mount(s, tmpfsRoot);
      wave = [];
      paths.clear();
    };
    for (const s of steps) {
      const alone = s.method === "bind";
      if (alone || paths.has(s.path) || (s.parent !== null && paths.has(s.parent))) await flush();
      if (alone) {
        await this.mount(s, tmpfsRoot);
        continue;
      }
      wave.push(s);
      paths.add(s.path);
    }
    await flush();
  }

  /**
   * Siblings by the thousand go BATCH_MAX at a time, pipelined: the next part's targets are opened
   * while the current part's `mount` runs (siblings: opening one never depends on another's mount),
   * and a part's handles are closed while the next one mounts. A part that fails closes what the
   * next one opened (recording the directories it created) before the error goes up.
   */
  private async mountWaves(steps: readonly MountStep[], tmpfsRoot: boolean): Promise<void> {
    const parts: MountStep[][] = [];
    for (let i = 0; i < steps.length; i += BATCH_MAX) parts.push(steps.slice(i, i + BATCH_MAX));
    const closing: Promise<void>[] = [];
    let next: Promise<OpenedWave> | null = this.openWave(parts[0] ?? [], tmpfsRoot);
    try {
      for (let k = 0; next; k++) {
        const cur: OpenedWave = await next;
        const after = parts[k + 1];
        next = after ? this.openWave(after, tmpfsRoot) : null;
        try {
          await this.mountWave(cur);
        } finally {
          closing.push(closeAll(cur.handles));
        }
      }
    } catch (err) {
      const left = await next;
      if (left) {
        for (const o of left.opened) if (o.status === "fulfilled") this.recordCreated(o.value);
        closing.push(closeAll(left.handles));
      }
      throw err;
    } finally {
      await Promise.all(closing);
    }
  }

  /**
   * A wave's targets, opened side by side as for a single mount (each walk is its own chain of
   * handles; no symlink followed). Never rejects: each open's outcome is kept, every handle that
   * opened is listed for closing even when another open failed.
   */
  private async openWave(steps: readonly MountStep[], tmpfsRoot: boolean): Promise<OpenedWave> {
    const opened = await Promise.allSettled(
      steps.map((s) => this.sys.openDirInRoot(this.root, s.path, { create: this.mayCreate(s, tmpfsRoot) })),
    );
    const handles: DirHandle[] = [];
    for (const o of opened) if (o.status === "fulfilled") handles.push(o.value.dir);
    return { steps, opened, handles };
  }

  /**
   * One wave of sibling mounts with one command onto targets opened by openWave
   * (/proc/<pid>/fd/<n>): one fstab(5) table of them in a rescue-side file, `mount --all --fork
   * --no-canonicalize` (util-linux forks one child per entry, each mounting it exactly as `mount -t
   * <type> -o <options> <source> <target>` would, side by side as `zfs mount -a` does with its
   * threads, and waits for them all), then ONE read of the kernel's table: every new mount is
   * recorded with its undo, whichever children succeeded; a mount outside the root or missing from
   * where the plan said fails the wave like a single mount would (and the caller rolls back).
   * Siblings only (none lands on another), so the order the children finish in does not matter.
   * The caller closes the handles.
   */
  private async mountWave({ steps, opened }: OpenedWave): Promise<void> {
    // Kernel-mounted types only (KERNEL_MOUNTED): mount(2) straight from util-linux
    // (`--internal-only`), as `zfs mount -a` does from libzfs, instead of one mount.zfs process per
    // dataset. The kernel (module/os/linux/zfs/zfs_vfsops.c zfsvfs_parse_options) takes
    // ro/nodev/nosuid/noexec as flags, `mntpoint=` as mount.zfs passes it, and ignores `zfsutil`
    // (mount.zfs's own legacy check, already done by the planner); the target is still the
    // verified /proc/<pid>/fd/<n>, resolved by the kernel.
    const internal = steps.every((s) => KERNEL_MOUNTED.has(s.fstype) && s.method === "mount");
    // `-w` applies to every entry of `mount --all`: only when every step asks for read-write (a
    // read-write step that landed read-only is caught by checkAccess either way).
    const writable = steps.every((s) => this.wantsWritable(s));
    const lines: string[] = [];
    const tried: MountStep[] = [];
    for (const [i, s] of steps.entries()) {
      const o = opened[i] as PromiseSettledResult<OpenedDir>;
      const label = `mount ${s.source} at ${s.target}`;
      if (o.status === "rejected") {
        const err: unknown = o.reason;
        const e =
          err instanceof LifeboatError
            ? new LifeboatError(err.code, `${label} refused: ${err.message}`, {
                ...err.extras,
                failedStep: label,
              })
            : err;
        if (this.maySkip(s, e)) continue;
        throw e;
      }
      tried.push(s);
      this.recordCreated(o.value);
      const options = mountOptions(s, internal);
      lines.push(
        `${fstabField(s.source)} ${o.value.dir.procPath} ${fstabField(s.fstype)} ${fstabField(options.join(",") || "defaults")} 0 0`,
      );
    }
    if (tried.length === 0) return;
    // Read-write runs: md arrays and LVs under the devices switched first, one at a time, each
    // recorded in the transaction (as for a single mount).
    if (!this.readonly)
      for (const s of tried) if (s.source.startsWith("/dev/")) await this.beforeWritableMount?.(s.source);
    const before = await this.mountTable();
    // A regular file on the rescue side: libmount parses no pipe as a table ("failed to parse").
    await this.sys.mkdir(WAVE_TABLE_DIR);
    await this.sys.writeFile(WAVE_TABLE, `${lines.join("\n")}\n`, 0o600);
    let r: CommandResult;
    try {
      const args = [
        "--all",
        "--fork",
        "--no-canonicalize",
        ...(internal ? ["--internal-only"] : []),
        ...(writable ? ["-w"] : []),
        "--fstab",
        WAVE_TABLE,
      ];
      r = await this.sys.run("mount", args, {
        timeoutMs: WAVE_TIMEOUT_MS,
      });
    } finally {
      await this.sys.removeFile(WAVE_TABLE);
    }
    const added = await this.landedAll(tried, before).catch((err: unknown) => {
      if (err instanceof Error) this.fatal.add(err);
      throw err;
    });
    for (const missing of tried.filter((s) => !added.has(s.target))) {
      const label = `mount ${missing.source} at ${missing.target}`;
      const e = /encryption key not loaded/.test(r.stderr)
        ? new LifeboatError("key-not-loaded", `${missing.source} is locked: load its encryption key first`, {
            failedStep: label,
          })
        : new LifeboatError(
            "mount-failed",
            `${label} failed${r.exitCode !== 0 ? `: ${stderrLine(r)}` : ": the mount table does not show it"}`,
            { failedStep: label },
          );
      if (!this.maySkip(missing, e)) throw e;
    }
  }

  /** What a wave added to the kernel's table: each recorded with its undo; refused if outside the root. */
  private async landedAll(steps: readonly MountStep[], before: MountEntry[]): Promise<Set<string>> {
    // By target first: btrfs subvolumes of one device are siblings with the same source.
    const byTarget = new Map(steps.map((s) => [s.target, s]));
    const bySource = new Map(steps.map((s) => [s.source, s]));
    const stepOf = (m: MountEntry) => byTarget.get(m.target) ?? bySource.get(m.source);
    const targets = new Set<string>();
    const fresh: MountEntry[] = [];
    let stray: MountEntry | undefined;
    for (const m of addedSince(before, await this.mountTable(true))) {
      this.recordMount(stepOf(m)?.source ?? m.source, m);
      if (!within(m.target, this.root)) stray ??= m;
      else {
        targets.add(m.target);
        fresh.push(m);
      }
    }
    if (stray) {
      const s = bySource.get(stray.source);
      throw new LifeboatError(
        "unsafe-mountpoint",
        `mount ${stray.source} ended up at ${stray.target}, outside ${this.root}: unmounted again`,
        { failedStep: `mount ${stray.source} at ${s?.target ?? "?"}`, path: s?.path ?? null },
      );
    }
    // Read-only as the run says, by the kernel's flags, for every mount the wave made.
    for (const m of fresh) {
      const s = stepOf(m);
      if (s) this.checkAccess(s, m, `mount ${s.source} at ${s.target}`);
      else if (this.readonly && m.fstype !== "tmpfs" && !isReadOnly(m))
        throw new LifeboatError(
          "mount-failed",
          `mount ${m.source} at ${m.target}: the kernel shows it read-write in a read-only mount: unmounted again`,
          { failedStep: `mount ${m.source} at ${m.target}` },
        );
    }
    return targets;
  }

  /** Re-apply options to a mount Lifeboat made (its tmpfs root): remount through a fresh handle. */
  async remount(path: string, options: string[]): Promise<void> {
    const label = `remount ${path} with ${options.join(",")}`;
    const opened = await this.sys.openDirInRoot(this.root, path, { create: false });
    try {
      const r = await this.sys.run("mount", [
        "--no-canonicalize",
        "-o",
        ["remount", ...options].join(","),
        opened.dir.procPath,
      ]);
      if (r.exitCode !== 0)
        throw new LifeboatError("mount-failed", `${label} failed: ${stderrLine(r)}`, { failedStep: label });
      this.table = null;
      this.tx.record(`remounted ${this.root}${path === "/" ? "" : path} (${options.join(",")})`);
    } finally {
      await opened.dir.close();
    }
  }
}
