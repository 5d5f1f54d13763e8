import type { Logger } from "pino";
import { LifeboatError } from "../core/errors.js";
import { classifyImportFailure } from "../core/zpoolImport.js";
import { parseZpoolList } from "../core/zpoolJson.js";
import type { CommandResult, System } from "../system/system.js";
import { adoptHostId, restoreHostId } from "./hostid.js";
import type { PoolLabels } from "./poolLabels.js";
import type { Transaction } from "./transaction.js";

/**
 * How long a `zpool import` is waited for. Not the default two minutes: a big pool's import took
 * 40 s in the lab on a quiet host and over two minutes on a loaded one (docs/performance.md), and a
 * slow or damaged disk takes longer; killing it helps nothing, the kernel finishes it regardless.
 */
export const IMPORT_TIMEOUT_MS = 1_800_000;

export interface HostIdReport {
  action: "adopted" | "unchanged" | "not-needed" | "kept";
  previous: string | null;
  current: string | null;
  lastHost: string | null;
  lastHostId: string | null;
  splParameterWritten?: boolean;
}

export interface ImportRequest {
  readonly: boolean;
  force?: boolean;
  adoptHostId?: boolean;
}

export function stderrLine(r: CommandResult): string {
  if (r.timedOut) return "timed out";
  return r.stderr.trim().split("\n")[0] || r.stdout.trim().split("\n")[0] || `exit code ${r.exitCode}`;
}

export function hostidReport(
  action: HostIdReport["action"],
  live: string | null,
  extra: Partial<HostIdReport> = {},
): HostIdReport {
  return { action, previous: live, current: live, lastHost: null, lastHostId: null, ...extra };
}

/**
 * Imports every pool of one system in one transaction, with the same rules for each: `-N -R
 * <root>`, `readonly=on` unless read-write was asked for, no `-f` unless forced, and a pool last
 * used by another host imported by adopting that host's hostid on the live system (ZFSBootMenu's
 * way). The hostid is adopted at most once: a second pool last used by yet another host is
 * refused (its import would need a different live hostid than the pools already imported).
 */
export class PoolImporter {
  forced = false;
  hostid: HostIdReport;
  readonly imported: string[] = [];
  /** Where the first word of each pool's label is kept for the diagnosis (app/poolLabels.ts). */
  labels: PoolLabels | null = null;
  /**
   * The devices a read-only import of a pool (by guid) names with -d, when the last look says
   * nothing can be left out (core/zpoolImport.ts importDevices); null: the usual scan.
   */
  devicesOf: ((guid: string) => string[] | null) | null = null;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly root: string,
    private readonly tx: Transaction,
    private readonly live: string | null,
    private readonly req: ImportRequest,
  ) {
    this.hostid = hostidReport("not-needed", live);
  }

  private args(id: string, force: boolean, readonly: boolean, devices: readonly string[] | null): string[] {
    return [
      "import",
      "-N",
      "-R",
      this.root,
      ...(readonly ? ["-o", "readonly=on"] : []),
      ...(force ? ["-f"] : []),
      ...(devices ?? []).flatMap((d) => ["-d", d]),
      id,
    ];
  }

  /**
   * The first import: read-only with the pool's own devices when they are known (no scan of every
   * other device: ~90 ms less under TCG). Not found with them, or devices missing (what a device
   * the last look missed would cause), the usual scan decides instead; any other answer stands.
   * Returns the devices the next tries use.
   */
  private async first(
    id: string,
    guid: string | null,
    readonly: boolean,
  ): Promise<{ r: CommandResult; devices: string[] | null }> {
    const devices = readonly && guid ? (this.devicesOf?.(guid) ?? null) : null;
    const r = await this.runImport(id, this.args(id, false, readonly, devices));
    const kind = r.exitCode === 0 ? null : classifyImportFailure(r.stderr).kind;
    if (!devices || (kind !== "no-such-pool" && kind !== "missing-devices")) return { r, devices };
    return { r: await this.runImport(id, this.args(id, false, readonly, null)), devices: null };
  }

  /**
   * One `zpool import`, waited for up to IMPORT_TIMEOUT_MS. Ended by its deadline all the same, the
   * kernel may have finished the import (the ioctl is not interrupted; the process is killed once
   * it returns): then the pool is imported and counts as such, recorded with its undo (the export),
   * instead of a failure that would leave it imported and unrecorded.
   */
  private async runImport(id: string, args: string[]): Promise<CommandResult> {
    const r = await this.sys.run("zpool", args, { timeoutMs: IMPORT_TIMEOUT_MS });
    if (!r.timedOut) return r;
    const held = await this.sys.run("zpool", ["list", "-j"]);
    let now: { name: string; guid: string }[] = [];
    try {
      now = held.exitCode === 0 ? parseZpoolList(held.stdout) : [];
    } catch {
      // an answer that does not parse shows no pool: the failure stands
    }
    return now.some((p) => p.name === id || p.guid === id) ? { ...r, exitCode: 0, timedOut: false } : r;
  }

  private done(pool: string, forced: boolean, readonly: boolean): void {
    this.imported.push(pool);
    this.labels?.imported(pool);
    this.forced ||= forced;
    this.tx.record(`imported ${pool}${readonly ? " read-only" : ""}${forced ? " with -f (forced)" : ""}`, {
      label: `exported ${pool}`,
      kind: "import",
      fn: async () => {
        const r = await this.sys.run("zpool", ["export", pool]);
        if (r.exitCode !== 0)
          throw new LifeboatError("command-failed", `export ${pool} failed: ${stderrLine(r)}`);
      },
    });
  }

  /**
   * `opts`: pools the disk names besides the root's (its fstab, its import units) are never forced
   * (`force: false`), and those only an import unit names are read-only whatever the request.
   */
  async importPool(
    pool: string,
    guid: string | null,
    opts: { readonly?: boolean; force?: boolean } = {},
  ): Promise<void> {
    const id = guid ?? pool;
    const readonly = opts.readonly ?? this.req.readonly;
    const mayForce = opts.force ?? this.req.force ?? false;
    const failedStep = `import ${pool}`;
    const tried = await this.first(id, guid, readonly);
    const devices = tried.devices;
    let r = tried.r;
    if (r.exitCode === 0) return this.done(pool, false, readonly);
    let failure = classifyImportFailure(r.stderr);
    if (failure.kind === "in-use-elsewhere") {
      this.labels?.refused(pool, failure, this.hostid.current, r.stderr);
      const current = this.hostid.current;
      const adopt = this.req.adoptHostId ?? true;
      if (adopt && this.hostid.action !== "adopted" && failure.lastHostId && failure.lastHostId !== current) {
        const { backup, splWritten } = await adoptHostId(this.sys, failure.lastHostId);
        this.tx.record(`adopted hostid ${failure.lastHostId} (was ${this.live ?? "unset"})`, {
          label: `restored hostid ${this.live ?? "(none)"}`,
          kind: "hostid",
          fn: () => restoreHostId(this.sys, backup),
        });
        this.hostid = {
          action: "adopted",
          previous: this.live,
          current: failure.lastHostId,
          lastHost: failure.lastHost,
          lastHostId: failure.lastHostId,
          splParameterWritten: splWritten,
        };
        r = await this.runImport(id, this.args(id, false, readonly, devices));
        if (r.exitCode === 0) return this.done(pool, false, readonly);
        failure = classifyImportFailure(r.stderr);
      } else if (this.hostid.action !== "adopted") {
        this.hostid = hostidReport("kept", this.live, {
          lastHost: failure.lastHost,
          lastHostId: failure.lastHostId,
        });
      }
      if (failure.kind === "in-use-elsewhere" && mayForce) {
        r = await this.runImport(id, this.args(id, true, readonly, devices));
        if (r.exitCode === 0) return this.done(pool, true, readonly);
        failure = classifyImportFailure(r.stderr);
      }
      if (failure.kind === "in-use-elsewhere") {
        const who = failure.lastHost
          ? `${failure.lastHost} (hostid ${failure.lastHostId ?? "?"})`
          : "another system";
        const again =
          this.hostid.action === "adopted" && failure.lastHostId !== this.hostid.current
            ? ` The live hostid was already adopted for another pool of this system (${this.hostid.current}).`
            : "";
        throw new LifeboatError(
          "pool-in-use-elsewhere",
          `pool ${pool} was last used by ${who} and not exported.${again} Import it by adopting that hostid (adoptHostId: true) or with force: true — only if that machine is really off.`,
          {
            pool,
            lastHost: failure.lastHost,
            lastHostId: failure.lastHostId,
            lastAccessed: failure.lastAccessed,
            failedStep,
          },
        );
      }
    }
    if (failure.kind === "missing-devices" || failure.kind === "no-such-pool")
      throw new LifeboatError("pool-unavailable", `cannot import ${pool}: ${stderrLine(r)}`, {
        pool,
        failedStep,
      });
    if (failure.kind === "name-exists")
      throw new LifeboatError(
        "pool-name-conflict",
        `a pool named ${pool} is already imported on this machine`,
        {
          pool,
          failedStep,
        },
      );
    this.log.debug({ pool, exitCode: r.exitCode }, "import failed");
    throw new LifeboatError("command-failed", `import ${pool} failed: ${stderrLine(r)}`, {
      pool,
      failedStep,
      hostid: this.hostid,
    });
  }
}
