import type { Logger } from "pino";
import { LifeboatError, ParseError } from "../core/errors.js";
import { type BlockDevice, LSBLK_COLUMNS, parseLsblk } from "../core/lsblk.js";
import {
  isMdType,
  LV_TYPE,
  LVM_READ_CONFIG,
  LVS_FIELDS,
  lvmReadOnlyConfig,
  type MdMember,
  mdAssembleArgs,
  PVS_FIELDS,
  parseLvsReport,
  parseMdadmExamine,
  parsePvsReport,
  pendingMdMembers,
  pendingPvs,
  planMdAssemblies,
  stackBottomUp,
  vgsToActivate,
} from "../core/stacks.js";
import type { CommandResult, System } from "../system/system.js";
import { stderrLine } from "./importer.js";
import type { Transaction } from "./transaction.js";

export interface BringUpReport {
  /** Arrays assembled read-only: `/dev/md/<name> (<members>)`. */
  assembled: string[];
  /** VGs whose LVs were activated read-only. */
  activated: string[];
  warnings: string[];
  /** Something was assembled or activated: the device tree changed. */
  changed: boolean;
}

interface Assembled {
  target: string;
  uuid: string;
  readonly: boolean;
}

/**
 * md arrays and LVM VGs under the installed system, brought up READ-ONLY by the agent (the rescue
 * system's boot assembles and activates nothing: iso/storage-stacks.nix), switched to read-write
 * one device at a time for a read-write mount (in that mount's transaction, so a failure switches
 * it back), and taken down again at hand-back. Only what the agent brought up is ever switched or
 * taken down.
 */
export class StackService {
  /** Assembled arrays by their kernel device (/dev/mdNNN) and their /dev/md/<name>. */
  private readonly arrays = new Map<string, Assembled>();
  /** VGs activated by the agent. */
  private readonly vgs = new Set<string>();
  /** LVs switched to read-write: /dev/mapper path → vg/lv. */
  private readonly writable = new Map<string, string>();
  /** Handed back (export): no automatic bring-up until a mount or an unlock asks again. */
  private held = false;
  /** Members and PVs tried without success: not tried again by every detection, only on resume(). */
  private readonly tried = new Set<string>();

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
  ) {}

  /** Anything to assemble or activate in this device tree (and not handed back). */
  wants(devices: BlockDevice[]): boolean {
    if (this.held) return false;
    const fresh = (list: BlockDevice[]) => list.some((d) => !this.tried.has(d.path));
    return fresh(pendingMdMembers(devices)) || fresh(pendingPvs(devices));
  }

  /**
   * A mount request or an unlock: bring-up is allowed, and failed devices are tried, again. True when
   * there is something to try again (the caller then detects afresh).
   */
  resume(): boolean {
    const again = this.held || this.tried.size > 0;
    this.held = false;
    this.tried.clear();
    return again;
  }

  private async lsblk(): Promise<BlockDevice[]> {
    const r = await this.sys.run("lsblk", ["--json", "-o", LSBLK_COLUMNS]);
    if (r.exitCode !== 0) throw new LifeboatError("command-failed", `lsblk failed: ${stderrLine(r)}`);
    return parseLsblk(r.stdout);
  }

  /** Assemble md arrays, then activate VGs (a PV may sit on an array), read-only. Never throws on a device. */
  async bringUp(devices: BlockDevice[]): Promise<BringUpReport> {
    const report: BringUpReport = { assembled: [], activated: [], warnings: [], changed: false };
    if (this.held) return report;
    await this.assembleArrays(devices, report);
    const after = report.changed ? await this.lsblk() : devices;
    await this.activateVgs(after, report);
    if (report.changed) this.log.info({ ...report }, "md arrays / LVM brought up read-only");
    return report;
  }

  private async assembleArrays(devices: BlockDevice[], report: BringUpReport): Promise<void> {
    const pending = pendingMdMembers(devices).filter((d) => !this.tried.has(d.path));
    if (pending.length === 0) return;
    for (const d of pending) this.tried.add(d.path);
    const members: MdMember[] = [];
    for (const d of pending) {
      const r = await this.sys.run("mdadm", ["--examine", "--export", d.path]);
      if (r.exitCode !== 0) {
        report.warnings.push(`mdadm --examine ${d.path}: ${stderrLine(r)}`);
        continue;
      }
      try {
        members.push(parseMdadmExamine(d.path, r.stdout));
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        report.warnings.push(err.message);
      }
    }
    for (const a of planMdAssemblies(members)) {
      const r = await this.sys.run("mdadm", mdAssembleArgs(a), { timeoutMs: 60_000 });
      if (r.exitCode !== 0) {
        report.warnings.push(`could not assemble ${a.target} read-only: ${stderrLine(r)}`);
        continue;
      }
      const link = await this.sys.readlink(a.target);
      const kernel = link ? `/dev/${link.split("/").pop()}` : a.target;
      const entry = { target: a.target, uuid: a.uuid, readonly: true };
      this.arrays.set(kernel, entry);
      this.arrays.set(a.target, entry);
      report.assembled.push(
        `${a.target} (${a.members.join(", ")}${a.degraded ? `; degraded: ${a.members.length} of ${a.raidDevices}` : ""})`,
      );
      report.changed = true;
    }
  }

  private async lvm(args: string[]): Promise<CommandResult> {
    return this.sys.run("lvm", args, { timeoutMs: 60_000 });
  }

  private async activateVgs(devices: BlockDevice[], report: BringUpReport): Promise<void> {
    const pending = pendingPvs(devices).filter((d) => !this.tried.has(d.path));
    if (pending.length === 0) return;
    for (const d of pending) this.tried.add(d.path);
    const pvs = await this.lvm([
      "pvs",
      "--reportformat",
      "json",
      "--config",
      LVM_READ_CONFIG,
      "-o",
      PVS_FIELDS,
      ...pending.map((d) => d.path),
    ]);
    if (pvs.exitCode !== 0) {
      report.warnings.push(`lvm pvs: ${stderrLine(pvs)}`);
      return;
    }
    let found: ReturnType<typeof vgsToActivate>;
    try {
      found = vgsToActivate(pending, parsePvsReport(pvs.stdout));
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      report.warnings.push(err.message);
      return;
    }
    for (const v of found.refused)
      report.warnings.push(`VG with a name LVM would not create, left alone: ${v}`);
    if (found.vgs.length === 0) return;
    const r = await this.lvm([
      "vgchange",
      "--activate",
      "y",
      "--monitor",
      "n",
      "--config",
      lvmReadOnlyConfig(found.vgs),
      ...found.vgs,
    ]);
    // Exit 5 with some LVs active (a missing PV, a thin pool that fails its check): keep what came up.
    if (r.exitCode !== 0)
      report.warnings.push(`lvm vgchange -ay (read-only) ${found.vgs.join(" ")}: ${stderrLine(r)}`);
    for (const v of found.vgs) this.vgs.add(v);
    report.activated.push(...found.vgs);
    report.changed = true;
  }

  /** The VGs' LVs as LVM reports them now (read-only command). */
  private async lvs(): Promise<ReturnType<typeof parseLvsReport>> {
    if (this.vgs.size === 0) return [];
    const r = await this.lvm([
      "lvs",
      "--reportformat",
      "json",
      "--config",
      LVM_READ_CONFIG,
      "-o",
      LVS_FIELDS,
      ...this.vgs,
    ]);
    if (r.exitCode !== 0) throw new LifeboatError("command-failed", `lvm lvs failed: ${stderrLine(r)}`);
    return parseLvsReport(r.stdout);
  }

  /**
   * Before a read-write mount of `source`: switch the arrays and LVs it sits on (that the agent
   * brought up) to read-write, lowest first, each recorded in `tx` with its way back.
   */
  async makeWritable(source: string, tx: Transaction): Promise<void> {
    if (this.arrays.size === 0 && this.vgs.size === 0) return;
    const r = await this.sys.run("lsblk", ["--json", "-s", "-o", "NAME,PATH,TYPE", source]);
    if (r.exitCode !== 0) return; // not a block device (tmpfs, a bind): nothing under it
    const stack = stackBottomUp(parseLsblk(r.stdout));
    let lvs: ReturnType<typeof parseLvsReport> | null = null;
    for (const d of stack) {
      const md = isMdType(d.type) ? await this.arrayAt(d.path) : undefined;
      if (md?.readonly) await this.arrayWritable(d.path, md, tx);
      if (d.type === LV_TYPE && !this.writable.has(d.path)) {
        lvs ??= await this.lvs();
        const lv = lvs.find((x) => x.dmPath === d.path);
        if (lv && this.vgs.has(lv.vg) && lv.readonly) await this.lvWritable(d.path, `${lv.vg}/${lv.lv}`, tx);
      }
    }
  }

  /** The array the agent assembled that is kernel device `path` (its /dev/md/<name> link read again if need be). */
  private async arrayAt(path: string): Promise<Assembled | undefined> {
    const known = this.arrays.get(path);
    if (known) return known;
    for (const md of new Set(this.arrays.values())) {
      const link = await this.sys.readlink(md.target);
      if (link && `/dev/${link.split("/").pop()}` === path) {
        this.arrays.set(path, md);
        return md;
      }
    }
    return undefined;
  }

  private async arrayWritable(path: string, md: Assembled, tx: Transaction): Promise<void> {
    const r = await this.sys.run("mdadm", ["--readwrite", path]);
    if (r.exitCode !== 0)
      throw new LifeboatError("command-failed", `mdadm --readwrite ${path} failed: ${stderrLine(r)}`, {
        failedStep: `switch ${md.target} to read-write`,
      });
    md.readonly = false;
    tx.record(`switched ${md.target} to read-write`, {
      label: `switched ${md.target} back to read-only`,
      fn: async () => {
        const back = await this.sys.run("mdadm", ["--readonly", path]);
        if (back.exitCode !== 0) throw new Error(`mdadm --readonly ${path}: ${stderrLine(back)}`);
        md.readonly = true;
      },
    });
  }

  /** Re-activate one LV with a writable table: deactivate (nothing holds it yet), activate again. */
  private async lvWritable(dmPath: string, name: string, tx: Transaction): Promise<void> {
    const vg = name.split("/")[0] as string;
    const step = `activate LV ${name} read-write`;
    const must = async (args: string[], label: string) => {
      const r = await this.lvm(args);
      if (r.exitCode !== 0)
        throw new LifeboatError("command-failed", `${label} failed: ${stderrLine(r)}`, { failedStep: step });
    };
    const off = ["lvchange", "--activate", "n", "--config", LVM_READ_CONFIG, name];
    const roOn = ["lvchange", "--activate", "y", "--monitor", "n", "--config", lvmReadOnlyConfig([vg]), name];
    await must(off, `lvm lvchange -an ${name}`);
    try {
      await must(
        ["lvchange", "--activate", "y", "--monitor", "n", "--config", LVM_READ_CONFIG, name],
        `lvm lvchange -ay ${name}`,
      );
    } catch (err) {
      await this.lvm(roOn);
      throw err;
    }
    this.writable.set(dmPath, name);
    tx.record(`activated LV ${name} read-write`, {
      label: `activated LV ${name} read-only again`,
      fn: async () => {
        await must(off, `lvm lvchange -an ${name}`);
        await must(roOn, `lvm lvchange -ay ${name} (read-only)`);
        this.writable.delete(dmPath);
      },
    });
  }

  /**
   * Hand-back: deactivate the VGs and stop the arrays the agent brought up (LVs first: a PV may be
   * on an array). Holds further automatic bring-up. Returns what it took down; what it could not is
   * in `failures` (the caller reports it).
   */
  async release(): Promise<{ deactivated: string[]; stopped: string[]; failures: string[] }> {
    this.held = true;
    const out = { deactivated: [] as string[], stopped: [] as string[], failures: [] as string[] };
    for (const vg of [...this.vgs]) {
      const r = await this.lvm(["vgchange", "--activate", "n", "--config", LVM_READ_CONFIG, vg]);
      if (r.exitCode === 0) {
        out.deactivated.push(vg);
        this.vgs.delete(vg);
      } else out.failures.push(`vgchange -an ${vg}: ${stderrLine(r)}`);
    }
    for (const [p, name] of [...this.writable])
      if (!this.vgs.has(name.split("/")[0] as string)) this.writable.delete(p);
    const stoppedTargets = new Set<string>();
    for (const [path, md] of this.arrays) {
      if (path !== md.target || stoppedTargets.has(md.target)) continue;
      const r = await this.sys.run("mdadm", ["--stop", md.target]);
      if (r.exitCode === 0) {
        out.stopped.push(md.target);
        stoppedTargets.add(md.target);
      } else out.failures.push(`mdadm --stop ${md.target}: ${stderrLine(r)}`);
    }
    for (const [path, md] of [...this.arrays]) if (stoppedTargets.has(md.target)) this.arrays.delete(path);
    if (out.deactivated.length || out.stopped.length) this.log.info(out, "md arrays / LVM taken down");
    return out;
  }
}
