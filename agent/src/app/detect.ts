import type { Logger } from "pino";
import {
  type Candidate,
  type EspCandidate,
  findCandidates,
  findEsps,
  findLuks,
  type LuksContainer,
} from "../core/candidates.js";
import { ParseError } from "../core/errors.js";
import { parseHostIdOutput } from "../core/hostid.js";
import { type BlockDevice, LSBLK_COLUMNS, mergeBlkid, parseBlkidExport, parseLsblk } from "../core/lsblk.js";
import { isReadOnly, type MountEntry, mountsUnder, parseProcMounts } from "../core/mounts.js";
import {
  type Dataset,
  parseZfsGet,
  parseZfsListHp,
  withEncryptionRoots,
  ZFS_LIST_COLUMNS,
} from "../core/zfs.js";
import { type ImportablePool, parseZpoolImport } from "../core/zpoolImport.js";
import { type ImportedPool, type PoolStatus, parseZpoolList, parseZpoolStatus } from "../core/zpoolJson.js";
import type { System } from "../system/system.js";

export interface ZfsAvailability {
  available: boolean;
  version: string | null;
  reason: string | null;
}

export interface Detection {
  at: string;
  root: string;
  zfs: ZfsAvailability;
  hostid: string | null;
  devices: BlockDevice[];
  esps: EspCandidate[];
  luks: LuksContainer[];
  importable: ImportablePool[];
  imported: ImportedPool[];
  poolStatus: PoolStatus[];
  datasets: Dataset[];
  /** Everything mounted at or below the rescue root. */
  mounts: MountEntry[];
  candidates: Candidate[];
  warnings: string[];
}

export type Phase = "nothing-found" | "found" | "imported" | "locked" | "mounted-ro" | "mounted-rw";

export function phaseOf(d: Detection): Phase {
  const rootMount = d.mounts.find((m) => m.target === d.root);
  if (rootMount) return isReadOnly(rootMount) ? "mounted-ro" : "mounted-rw";
  const ours = d.imported.filter((p) => p.altroot === d.root);
  if (ours.length > 0) {
    const locked = d.datasets.some(
      (x) => ours.some((p) => p.name === x.pool) && x.keystatus === "unavailable",
    );
    return locked ? "locked" : "imported";
  }
  if (d.candidates.length > 0) return "found";
  return d.luks.some((l) => !l.opened) ? "locked" : "nothing-found";
}

/**
 * Read-only inventory of the machine: block devices, pools (importable and imported), datasets,
 * mounts. Runs only listing commands (asserted by tests on the recorded command log).
 */
/**
 * Parse, but let one unreadable output cost only its own part of the detection: a ParseError
 * becomes a warning (and a log line) and the fallback is used; any other error still throws.
 */
function lenient(warnings: string[], log: Logger) {
  return <T>(what: string, fallback: T, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      if (!(err instanceof ParseError)) throw err;
      warnings.push(`${what}: ${err.message}`);
      log.warn({ what, err: err.message }, "parse failed");
      return fallback;
    }
  };
}

export class DetectionService {
  private inflight: Promise<Detection> | null = null;
  private queued: Promise<Detection> | null = null;
  private last: Detection | null = null;
  /** True while a change runs (the operation lock): readers then get the last detection. */
  private busy: () => boolean = () => false;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly root: string,
    private readonly maxAgeMs = 3_000,
  ) {}

  /**
   * `zpool import` without arguments scans every device; run next to an import it makes that
   * import fail ("pool already exists" / "no such pool available", seen on OpenZFS 2.3.2). So while
   * a change holds the lock, readers (status polling) never start a scan: they get the last
   * detection, and the change refreshes it itself, in sequence with its own commands.
   */
  pauseWhile(busy: () => boolean): void {
    this.busy = busy;
  }

  /** Latest detection, refreshed when older than maxAge (concurrent readers share one run). */
  async current(fresh = false): Promise<Detection> {
    if (this.last && this.busy()) return this.last;
    if (!fresh && this.last && Date.now() - Date.parse(this.last.at) < this.maxAgeMs) return this.last;
    return this.inflight ?? this.refresh();
  }

  /**
   * A detection that starts after this call: when one is already running (it may have begun
   * before the caller's last change), the new one is queued behind it.
   */
  refresh(): Promise<Detection> {
    if (!this.inflight) return this.start();
    this.queued ??= this.inflight
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.start();
      });
    return this.queued;
  }

  private start(): Promise<Detection> {
    const run = this.detect().finally(() => {
      if (this.inflight === run) this.inflight = null;
    });
    this.inflight = run;
    return run;
  }

  private async detect(): Promise<Detection> {
    const warnings: string[] = [];
    const soft = lenient(warnings, this.log);
    const [lsblk, blkid, hostid, procMounts, zfs] = await Promise.all([
      this.sys.run("lsblk", ["--json", "-o", LSBLK_COLUMNS]),
      this.sys.run("blkid", ["-o", "export"]),
      this.sys.run("hostid", []),
      this.sys.readFile("/proc/mounts"),
      this.zfsState(),
    ]);
    let devices: BlockDevice[] = [];
    if (lsblk.exitCode === 0) devices = soft("lsblk", [], () => parseLsblk(lsblk.stdout));
    else warnings.push(`lsblk failed: ${lsblk.stderr.trim() || `exit ${lsblk.exitCode}`}`);
    // blkid exits 2 when it finds nothing, and sees less without root: enrichment only.
    if (blkid.exitCode === 0)
      devices = mergeBlkid(
        devices,
        soft("blkid", new Map(), () => parseBlkidExport(blkid.stdout)),
      );
    const mounts = procMounts ? parseProcMounts(procMounts.toString("utf8")) : [];
    const candidates = findCandidates({
      devices,
      importable: zfs.importable,
      imported: zfs.imported,
      datasets: zfs.datasets,
      mounts,
      root: this.root,
    });
    const detection: Detection = {
      at: new Date().toISOString(),
      root: this.root,
      zfs: zfs.availability,
      hostid: hostid.exitCode === 0 ? soft("hostid", null, () => parseHostIdOutput(hostid.stdout)) : null,
      devices,
      esps: findEsps(devices),
      luks: findLuks(devices),
      importable: zfs.importable,
      imported: zfs.imported,
      poolStatus: zfs.status,
      datasets: zfs.datasets,
      mounts: mountsUnder(mounts, this.root),
      candidates,
      warnings: [...warnings, ...zfs.warnings],
    };
    this.last = detection;
    return detection;
  }

  private async zfsState() {
    const warnings: string[] = [];
    const empty = {
      importable: [] as ImportablePool[],
      imported: [] as ImportedPool[],
      status: [] as PoolStatus[],
      datasets: [] as Dataset[],
    };
    const list = await this.sys.run("zpool", ["import"]);
    if (list.notFound) {
      return {
        ...empty,
        warnings,
        availability: { available: false, version: null, reason: "zpool is not installed on this machine" },
      };
    }
    if (list.exitCode !== 0) {
      const reason = list.stderr.trim().split("\n")[0] || `zpool import exited ${list.exitCode}`;
      return { ...empty, warnings, availability: { available: false, version: null, reason } };
    }
    const guard = lenient(warnings, this.log);
    const [listJ, statusJ, version] = await Promise.all([
      this.sys.run("zpool", ["list", "-j"]),
      this.sys.run("zpool", ["status", "-j"]),
      this.sys.readFile("/sys/module/zfs/version"),
    ]);
    const importable = guard("zpool import", [], () => parseZpoolImport(list.stdout));
    const imported =
      listJ.exitCode === 0 ? guard("zpool list -j", [], () => parseZpoolList(listJ.stdout)) : [];
    const status =
      statusJ.exitCode === 0 ? guard("zpool status -j", [], () => parseZpoolStatus(statusJ.stdout)) : [];
    let datasets: Dataset[] = [];
    if (imported.length > 0) {
      const ds = await this.sys.run("zfs", ["list", "-H", "-p", "-o", ZFS_LIST_COLUMNS.join(",")]);
      if (ds.exitCode === 0) datasets = guard("zfs list", [], () => parseZfsListHp(ds.stdout));
      const encrypted = [...new Set(datasets.filter((d) => d.encryption !== "off").map((d) => d.pool))];
      if (encrypted.length > 0) {
        const get = await this.sys.run("zfs", [
          "get",
          "-j",
          "-r",
          "encryption,keystatus,keyformat,keylocation,encryptionroot",
          ...encrypted,
        ]);
        if (get.exitCode === 0)
          datasets = withEncryptionRoots(
            datasets,
            guard<ReadonlyMap<string, Record<string, string>>>("zfs get -j", new Map(), () =>
              parseZfsGet(get.stdout),
            ),
          );
      }
    }
    return {
      importable,
      imported,
      status,
      datasets,
      warnings,
      availability: { available: true, version: version?.toString("utf8").trim() || null, reason: null },
    };
  }
}
