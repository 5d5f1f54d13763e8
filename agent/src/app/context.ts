import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { LifeboatError } from "../core/errors.js";
import { isReadOnly, type MountEntry } from "../core/mounts.js";
import { parseSnapshots, SNAPSHOT_COLUMNS } from "../core/zfs.js";
import type { System } from "../system/system.js";
import type { Audit } from "./audit.js";
import { backupBootState } from "./backup.js";
import type { DetectionService } from "./detect.js";
import { InstalledSystem } from "./installed.js";
import type { OperationLock } from "./lock.js";

export interface MountedRoot {
  installed: InstalledSystem;
  rootMount: MountEntry;
  readonly: boolean;
  /** Pool of the root dataset, null for a non-ZFS root. */
  pool: string | null;
  mounts: MountEntry[];
}

export interface ChangeResult<T> {
  result: T;
  snapshot: string | null;
  /** The change would change nothing: nothing was written and no snapshot taken. */
  unchanged: boolean;
}

/** Where a read-only refusal points: the request that re-mounts read-write (for clients, not people). */
export const NEEDS_READ_WRITE = {
  needs: { readonly: false },
  fix: { method: "POST", path: "/v1/mount", body: { readonly: false } },
} as const;

/** ISO 8601 basic format, valid in a ZFS snapshot name: 20261125T210000Z. */
export function snapshotStamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** In-root path of the mounted ESP (vfat at /boot, /efi or /boot/efi under the root). */
export function espOf(root: string, mounts: readonly { target: string; fstype: string }[]): string | null {
  for (const p of ["/boot", "/efi", "/boot/efi"])
    if (mounts.some((x) => x.target === `${root}${p}` && x.fstype === "vfat")) return p;
  return null;
}

/** What every rescue action shares: the mounted system, the lock, snapshot-first and the audit. */
export class RescueContext {
  constructor(
    readonly sys: System,
    readonly detection: DetectionService,
    readonly lock: OperationLock,
    readonly audit: Audit,
    readonly log: Logger,
    readonly root: string,
    /** Deadline of each file operation on the installed system (RootFs' default when unset). */
    private readonly fileTimeoutMs?: number,
  ) {}

  private readonly changedListeners: (() => void)[] = [];

  /** Told after every change (done or failed) and job end: the diagnosis is recomputed. */
  onChanged(listener: () => void): void {
    this.changedListeners.push(listener);
  }

  changed(): void {
    for (const l of this.changedListeners) l();
  }

  async mounted(): Promise<MountedRoot> {
    const d = await this.detection.current();
    const rootMount = d.mounts.find((m) => m.target === this.root);
    if (!rootMount)
      throw new LifeboatError(
        "not-mounted",
        `the installed system is not mounted at ${this.root}: POST /v1/mount first`,
      );
    return {
      installed: new InstalledSystem(this.sys, this.root, { timeoutMs: this.fileTimeoutMs }),
      rootMount,
      readonly: isReadOnly(rootMount),
      pool: rootMount.fstype === "zfs" ? (rootMount.source.split("/")[0] ?? null) : null,
      mounts: d.mounts,
    };
  }

  async writable(): Promise<MountedRoot> {
    const m = await this.mounted();
    if (m.readonly)
      throw new LifeboatError(
        "read-only-mount",
        "the installed system is mounted read-only: re-mount it read-write first",
        { ...NEEDS_READ_WRITE },
      );
    return m;
  }

  /**
   * `zfs snapshot -r pool@lifeboat-<stamp>[-<change>]`, named after the change it comes before;
   * null for a non-ZFS root.
   */
  async snapshot(pool: string | null, change?: string): Promise<string | null> {
    if (!pool) return null;
    const name = `${pool}@lifeboat-${snapshotStamp()}${change ? `-${change.replace(/[^A-Za-z0-9_.:-]/g, "-")}` : ""}`;
    const r = await this.sys.run("zfs", ["snapshot", "-r", name]);
    if (r.exitCode !== 0) {
      if (/dataset already exists/.test(r.stderr)) return name;
      throw new LifeboatError(
        "command-failed",
        `snapshot ${name} failed: ${r.stderr.trim().split("\n")[0] ?? r.exitCode}`,
        { failedStep: `snapshot ${name}` },
      );
    }
    return name;
  }

  /**
   * Before a rebuild or a profile switch (the installed system's own code then runs as root in
   * the chroot): the audit directory is checked, then a recursive snapshot (ZFS) or, for a root
   * without ZFS, a backup of the boot state (profile links, loader.conf, boot entries, grub.cfg)
   * under /var/log/lifeboat/backups. Either failing refuses the change before anything is done.
   */
  async safeguard(
    m: MountedRoot,
    label: string,
  ): Promise<{ snapshot: string | null; backup: string | null }> {
    await this.audit.ready();
    if (m.pool) return { snapshot: await this.snapshot(m.pool, label), backup: null };
    const backup = await backupBootState(
      m.installed.files,
      espOf(this.root, m.mounts),
      `${snapshotStamp()}-${label}-${randomBytes(3).toString("hex")}`,
    );
    return { snapshot: null, backup };
  }

  /**
   * The pool's snapshots; `own`: those of its top dataset only (`-d 1`: pool@name, what a recursive
   * snapshot of the whole pool is named by), never the tens of thousands of a big pool's datasets.
   */
  async listSnapshots(pool: string, opts: { own?: boolean } = {}) {
    const r = await this.sys.run("zfs", [
      "list",
      "-H",
      "-p",
      "-t",
      "snapshot",
      "-o",
      SNAPSHOT_COLUMNS.join(","),
      ...(opts.own ? ["-d", "1"] : ["-r"]),
      pool,
    ]);
    if (r.exitCode !== 0)
      throw new LifeboatError("command-failed", `listing snapshots of ${pool} failed: ${r.stderr.trim()}`);
    return parseSnapshots(r.stdout);
  }

  /**
   * A change to the installed system: one at a time, read-write mount required, recursive
   * snapshot first (ZFS, named after the change), audited whether it succeeds or not (a refusal
   * too). `unchanged`: what the change would find already so (then nothing is written, no
   * snapshot is taken, and the answer says `unchanged`).
   */
  async change<T>(
    action: string,
    target: string | null,
    who: string,
    fn: (m: MountedRoot) => Promise<T>,
    opts: { unchanged?: (m: MountedRoot) => Promise<T | null> } = {},
  ): Promise<ChangeResult<T>> {
    return this.lock.run(action, async () => {
      let snapshot: string | null = null;
      let touched = false;
      try {
        const m = await this.writable();
        await this.audit.ready(); // a planted FIFO or link at the audit log refuses the change up front
        const same = opts.unchanged ? await opts.unchanged(m) : null;
        if (same !== null) {
          await this.audit.record({
            who,
            action,
            target,
            result: "ok",
            detail: { unchanged: true, result: same },
          });
          return { result: same, snapshot: null, unchanged: true };
        }
        touched = true;
        snapshot = await this.snapshot(m.pool, action);
        const result = await fn(m);
        await this.audit.record({ who, action, target, result: "ok", detail: { snapshot, result } });
        return { result, snapshot, unchanged: false };
      } catch (err) {
        const e = err instanceof LifeboatError ? err : new LifeboatError("internal", (err as Error).message);
        await this.audit.record({
          who,
          action,
          target,
          result: "failed",
          detail: { snapshot, code: e.code, error: e.message },
        });
        throw new LifeboatError(e.code, e.message, { ...e.extras, snapshot });
      } finally {
        if (touched) this.changed();
      }
    });
  }
}
