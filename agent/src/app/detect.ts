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
import { decodeHostIdFile, parseHostIdOutput } from "../core/hostid.js";
import {
  type BlockDevice,
  LSBLK_COLUMNS,
  mergeBlkid,
  moveMountpoints,
  parseBlkidExport,
  parseLsblk,
} from "../core/lsblk.js";
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
import { LIST, POOL_KSTATS } from "./datasets.js";
import { HOSTID_FILE } from "./hostid.js";
import { PoolLabels } from "./poolLabels.js";
import type { StackService } from "./stacks.js";

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

/** How fresh the detection a reader got is (GET /v1/status shows it). */
export interface DetectionAge {
  at: string;
  ageMs: number;
  /** A newer detection is being made, or looked for, in the background. */
  refreshing: boolean;
}

export interface RefreshOptions {
  /**
   * Also run the device scan (`zpool import` without a pool, which reads every disk's labels).
   * Default true: the change may have added or removed pools or devices (an export, a LUKS open).
   * A change that cannot have (a mount step, a key load) passes false: the importable list is
   * then the last scan's, less the pools that are imported now.
   */
  scan?: boolean;
}

/** Directories whose entries and times change when a block device appears or goes (cheap to read). */
const DEVICE_WATCH = ["/sys/class/block", "/dev/disk/by-id", "/dev/mapper"] as const;
/**
 * udev's database: one file per device, rewritten by a rename for every event udev handles (a device
 * added, changed or probed again after a write: mkfs, cryptsetup, a partition table), so the
 * directory's time moves with every change lsblk could see. Absent without udev.
 */
const UDEV_DB = "/run/udev/data";

/** What a cheap look at the machine sees; a difference is a reason to detect again. */
interface Signature {
  /** Block devices: a difference also calls for the device scan. */
  devices: string;
  /** Mounts and imported pools. */
  state: string;
  /** /proc/mounts as read (the detection parses this very text). */
  mounts: string | null;
  /**
   * What lsblk and blkid would answer from: the block devices, udev's database time, the imported
   * pools and the mounts. Null without udev (nothing then says a device's content is unchanged).
   */
  blocks: string | null;
  /** The same without the mounts and the imported pools: the devices and udev's database only. */
  devicesOnly: string | null;
}

export interface DetectionOptions {
  /** Clock (tests). */
  now?: () => number;
  /** Older than this, a reader's look finds no difference, and still a full detection runs (ms). */
  fullAgeMs?: number;
}

/**
 * The machine's inventory, stale-while-revalidate:
 * - a reader gets the last detection at once, with its age. Once it is `maxAgeMs` old, a reader
 *   starts a cheap look in the background — no command: the entries of /sys/class/block and
 *   /proc/spl/kstat/zfs, the times of /dev/disk/by-id and /dev/mapper, /proc/mounts — and a full
 *   detection only if that differs from what the last detection started from, or once the last
 *   detection is `fullAgeMs` old (pool health changes without any of those). So polling costs
 *   no process at all while nothing changes. One detection at a time, none while a change holds
 *   the lock.
 * - a change calls `refresh()` (or `invalidate()`), after which readers wait for a detection that
 *   started after the call: the next reader sees the change.
 * - the device scan (`zpool import`, which reads every disk's labels) runs only when something may
 *   have changed: the first detection, after a change (unless it says it added no pool or device),
 *   `?refresh=1`, or a difference in the block devices. Never because time passed.
 * `maxAgeMs: 0` serves nothing stale: every reader waits for a detection (tests that change the
 * fake machine behind the agent's back).
 */
export class DetectionService {
  /** What each pool's label said of its last host before Lifeboat imported it (the diagnosis reads it). */
  readonly labels = new PoolLabels();
  /** Bumped by every refresh(): a detection that started before the last bump is out of date. */
  private generation = 0;
  private running: { promise: Promise<Detection>; generation: number } | null = null;
  private queued: Promise<Detection> | null = null;
  private last: Detection | null = null;
  /** `last.at` as a number (readers ask for its age on every request). */
  private lastAt = 0;
  private lastGeneration = -1;
  /** The next detection runs the device scan. */
  private scanWanted = true;
  /** What the last detection started from, and when a reader's look last confirmed it. */
  private seen: Signature | null = null;
  private lookedAt = 0;
  private looking = false;
  private readonly now: () => number;
  private readonly fullAgeMs: number;
  /** True while a change runs (the operation lock): readers then get the last detection. */
  private busy: () => boolean = () => false;
  /** The last block listing that went without a failure, and the signature it started from. */
  private listed: {
    blocks: string;
    devicesOnly: string | null;
    devices: BlockDevice[];
    /** The mount table the devices were listed with (whose mount points lsblk gave). */
    mounts: MountEntry[];
  } | null = null;
  /** The next detection may carry the last listing over to the new mounts (keepDevices). */
  private keepListed = false;
  /** Brings md arrays and LVM VGs it sees up read-only (app/stacks.ts); unset: never. */
  private stacks: StackService | null = null;

  constructor(
    private readonly sys: System,
    private readonly log: Logger,
    private readonly root: string,
    private readonly maxAgeMs = 3_000,
    opts: DetectionOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.fullAgeMs = opts.fullAgeMs ?? 60_000;
  }

  /**
   * `zpool import` without arguments scans every device; run next to an import it makes that
   * import fail ("pool already exists" / "no such pool available", seen on OpenZFS 2.3.2). So while
   * a change holds the lock, readers (status polling) never start a scan: they get the last
   * detection, and the change refreshes it itself, in sequence with its own commands.
   */
  pauseWhile(busy: () => boolean): void {
    this.busy = busy;
  }

  useStacks(stacks: StackService): void {
    this.stacks = stacks;
  }

  /** Start the first detection (with the device scan) in the background: the agent calls it once listening. */
  start(): void {
    if (!this.last && !this.running) this.schedule().catch(() => undefined);
  }

  /**
   * The latest detection. `fresh` (`?refresh=1`): a new one, with the device scan. Otherwise the
   * last valid one at once — kicking a background refresh when it is old — or, when a change has
   * made it invalid (or there is none yet), the next one.
   */
  async current(fresh = false): Promise<Detection> {
    const last = this.last;
    if (last && this.busy()) return last;
    if (fresh) return this.refresh({ scan: true });
    if (last && this.lastGeneration === this.generation && this.maxAgeMs > 0) {
      this.revalidate(last);
      return last;
    }
    if (this.queued) return this.queued;
    if (this.running && this.running.generation === this.generation) return this.running.promise;
    return this.schedule();
  }

  /** In the background: a full detection when old enough, else a cheap look for differences. */
  private revalidate(last: Detection): void {
    if (this.running || this.queued || this.looking) return;
    const now = this.now();
    const at = last === this.last ? this.lastAt : Date.parse(last.at);
    if (now - at < this.maxAgeMs || now - this.lookedAt < this.maxAgeMs || this.busy()) return;
    if (now - at >= this.fullAgeMs) {
      this.schedule().catch(() => undefined);
      return;
    }
    this.looking = true;
    this.lookedAt = now;
    this.signature()
      .then((sig) => {
        if (this.running || this.queued || this.busy()) return;
        if (this.seen && sig.devices === this.seen.devices && sig.state === this.seen.state) return;
        this.schedule().catch(() => undefined);
      })
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, "could not look for changes"))
      .finally(() => {
        this.looking = false;
      });
  }

  /** The age of a detection a reader got, and whether a newer one is on its way. */
  age(d: Detection): DetectionAge {
    return {
      at: d.at,
      ageMs: Math.max(0, this.now() - (d === this.last ? this.lastAt : Date.parse(d.at))),
      refreshing: this.running !== null || this.queued !== null || this.looking,
    };
  }

  /**
   * After a change: a detection that starts after this call (when one is already running — it may
   * have begun before the change — the new one is queued behind it). Until it is done, readers
   * wait for it rather than get what was true before the change.
   */
  refresh(opts: RefreshOptions = {}): Promise<Detection> {
    this.generation++;
    if (opts.scan ?? true) this.scanWanted = true;
    return this.schedule();
  }

  /**
   * A read-only mount changed the mounts and imported pools, nothing lsblk or blkid read but the
   * mount points (a read-only import writes no label): the next detection carries the last
   * listing over instead of listing again, unless a device or udev's database changed meanwhile.
   */
  keepDevices(): void {
    this.keepListed = true;
  }

  /**
   * After a change that read the new state itself: mark the last detection out of date without
   * starting one (the next reader that may scan does). `mounts`: the mount table the change read
   * from the kernel, shown until then (readers get the last detection while a change holds the
   * lock). Device scan as for refresh().
   */
  invalidate(mounts?: MountEntry[], opts: RefreshOptions = {}): void {
    this.generation++;
    if (opts.scan ?? true) this.scanWanted = true;
    if (mounts && this.last) this.last = { ...this.last, mounts };
  }

  /**
   * For the holder of the change lock, before it changes anything: the last detection unless a
   * change made it out of date (then a new one; nothing else detects while the lock is held).
   */
  forChange(): Promise<Detection> {
    if (this.last && this.lastGeneration === this.generation) return Promise.resolve(this.last);
    return this.refresh({ scan: false });
  }

  private schedule(): Promise<Detection> {
    if (!this.running) return this.run();
    this.queued ??= this.running.promise
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.run();
      });
    return this.queued;
  }

  private run(): Promise<Detection> {
    const generation = this.generation;
    const scan = this.scanWanted;
    this.scanWanted = false;
    const promise = this.detect(scan).then(
      (d) => {
        if (generation >= this.lastGeneration) {
          this.last = d;
          this.lastAt = Date.parse(d.at);
          this.lastGeneration = generation;
        }
        return d;
      },
      (err: unknown) => {
        if (scan) this.scanWanted = true;
        throw err;
      },
    );
    const entry = { promise, generation };
    this.running = entry;
    const clear = () => {
      if (this.running === entry) this.running = null;
    };
    promise.then(clear, clear);
    return promise;
  }

  /** A cheap look: no command, a few directory listings and times, and /proc/mounts. */
  private async signature(): Promise<Signature> {
    const [blocks, byId, mapper, pools, mounts, udev] = await Promise.all([
      this.sys.readdir(DEVICE_WATCH[0]),
      this.sys.lstat(DEVICE_WATCH[1]),
      this.sys.lstat(DEVICE_WATCH[2]),
      this.sys.readdir(POOL_KSTATS),
      this.sys.readFile("/proc/mounts"),
      this.sys.lstat(UDEV_DB),
    ]);
    const mountsText = mounts?.toString("utf8") ?? null;
    const devices = JSON.stringify([blocks, byId?.mtimeMs ?? null, mapper?.mtimeMs ?? null]);
    const state = JSON.stringify([pools, mountsText]);
    const known = udev?.type === "dir" && blocks !== null && pools !== null && mountsText !== null;
    return {
      devices,
      state,
      mounts: mountsText,
      blocks: known ? JSON.stringify([devices, udev.mtimeMs, state]) : null,
      devicesOnly: known ? JSON.stringify([devices, udev.mtimeMs]) : null,
    };
  }

  private async detect(scanWanted: boolean): Promise<Detection> {
    const startedAt = this.now();
    const warnings: string[] = [];
    const soft = lenient(warnings, this.log);
    // `zpool import` (the scan) is the longest command of a detection: when a scan is wanted anyway
    // it starts first, before the signature is read and before lsblk and blkid.
    const scanning = scanWanted ? this.zfsState() : null;
    scanning?.catch(() => undefined);
    const seen = await this.signature();
    const scan = scanWanted || this.seen === null || seen.devices !== this.seen.devices;
    const mounts = seen.mounts !== null ? parseProcMounts(seen.mounts, warnings) : [];
    const [zfs, listed, hostid] = await Promise.all([
      scanning ?? (scan ? this.zfsState() : this.zfsState(this.last)),
      this.blockDevices(soft, warnings, seen, mounts),
      this.liveHostId(soft),
    ]);
    let devices = listed;
    // md members and LVM PVs nobody assembled or activated (nothing at boot does:
    // iso/storage-stacks.nix): bring them up read-only, then list again to see the arrays and LVs.
    if (this.stacks?.wants(devices)) {
      const up = await this.stacks.bringUp(devices);
      warnings.push(...up.warnings);
      if (up.changed) devices = await this.blockDevices(soft, warnings, null, mounts);
    }
    const candidates = findCandidates({
      devices,
      importable: zfs.importable,
      imported: zfs.imported,
      datasets: zfs.datasets,
      mounts,
      root: this.root,
    });
    // what each label said before Lifeboat imported anything (frozen per pool once it does)
    for (const p of zfs.importable) this.labels.listed(p, hostid, new Date(startedAt).toISOString());
    const detection: Detection = {
      at: new Date(startedAt).toISOString(),
      root: this.root,
      zfs: zfs.availability,
      hostid,
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
    this.seen = seen;
    return detection;
  }

  /**
   * Is any pool imported? OpenZFS keeps one directory per imported pool in POOL_KSTATS, next to its
   * global kstats (regular files: arcstats, dbgmsg, zil…). False only when that directory was read
   * and holds no directory at all; anything unreadable or unexpected counts as "maybe".
   */
  private async anyPoolImported(): Promise<boolean> {
    const names = await this.sys.readdir(POOL_KSTATS);
    if (names === null) return true;
    const infos = await Promise.all(names.map((n) => this.sys.lstat(`${POOL_KSTATS}/${n}`)));
    return infos.some((i) => i === null || i.type !== "file");
  }

  /**
   * The live hostid as `hostid` prints it: glibc's gethostid() reads /etc/hostid (4 bytes, host
   * order; core/hostid.ts), so the file read gives the same answer without a process. Without the
   * file (gethostid() then derives one from the host's address), the command runs as before.
   */
  private async liveHostId(soft: ReturnType<typeof lenient>): Promise<string | null> {
    const file = await this.sys.readFile(HOSTID_FILE).catch(() => null);
    if (file && file.length >= 4) return soft("/etc/hostid", null, () => decodeHostIdFile(file));
    const r = await this.sys.run("hostid", []);
    return r.exitCode === 0 ? soft("hostid", null, () => parseHostIdOutput(r.stdout)) : null;
  }

  /**
   * lsblk's tree with what blkid adds. `seen` (the signature): when its `blocks` equals the one of
   * the last listing that went without a failure, that listing is still what both would answer (no
   * device came or went, udev handled no event, no pool was imported or exported, nothing was
   * mounted or unmounted since), and two processes are spared; null: always list. After a
   * read-only mount (keepDevices) the same holds but for the mount points, when the devices and
   * udev's database are unchanged: the last listing with its mount points carried over to the
   * kernel's table now (core/lsblk.ts moveMountpoints).
   */
  private async blockDevices(
    soft: ReturnType<typeof lenient>,
    warnings: string[],
    seen: Pick<Signature, "blocks" | "devicesOnly"> | null,
    mounts: MountEntry[],
  ): Promise<BlockDevice[]> {
    const kept = this.listed;
    const carry = this.keepListed;
    this.keepListed = false;
    const blocks = seen?.blocks ?? null;
    if (blocks !== null && kept?.blocks === blocks) {
      this.log.debug("block devices unchanged: lsblk, blkid not run");
      return kept.devices;
    }
    if (carry && blocks !== null && kept && seen?.devicesOnly === kept.devicesOnly) {
      const devices = moveMountpoints(kept.devices, kept.mounts, mounts);
      if (devices) {
        this.listed = { blocks, devicesOnly: kept.devicesOnly, devices, mounts };
        this.log.debug("block devices unchanged but for their mounts: lsblk, blkid not run");
        return devices;
      }
    }
    this.listed = null;
    const before = warnings.length;
    const [lsblk, blkid] = await Promise.all([
      this.sys.run("lsblk", ["--json", "-o", LSBLK_COLUMNS]),
      // `-c /dev/null`: probe, never answer from /run/blkid's cache (it kept TYPE=btrfs for a loop
      // device re-attached to an ext4, seen on util-linux 2.38): read-only options follow this type.
      this.sys.run("blkid", ["-c", "/dev/null", "-o", "export"]),
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
    if (blocks !== null && lsblk.exitCode === 0 && blkid.exitCode === 0 && warnings.length === before)
      this.listed = { blocks, devicesOnly: seen?.devicesOnly ?? null, devices, mounts };
    return devices;
  }

  /**
   * Pools and datasets. With `previous` (no device scan wanted): its importable pools, less those
   * imported now, instead of `zpool import`; nothing at all when ZFS was unavailable.
   */
  private async zfsState(previous?: Detection | null) {
    const warnings: string[] = [];
    const empty = {
      importable: [] as ImportablePool[],
      imported: [] as ImportedPool[],
      status: [] as PoolStatus[],
      datasets: [] as Dataset[],
    };
    if (previous && !previous.zfs.available) return { ...empty, warnings, availability: previous.zfs };
    const list = previous ? null : await this.sys.run("zpool", ["import"]);
    if (list?.notFound) {
      return {
        ...empty,
        warnings,
        availability: { available: false, version: null, reason: "zpool is not installed on this machine" },
      };
    }
    if (list && list.exitCode !== 0) {
      const reason = list.stderr.trim().split("\n")[0] || `zpool import exited ${list.exitCode}`;
      return { ...empty, warnings, availability: { available: false, version: null, reason } };
    }
    const guard = lenient(warnings, this.log);
    // No pool imported (the kernel's kstats say so for certain): nothing for `zpool list`/`status`
    // to show, two processes fewer (the rescue system's state at boot and after a hand-back).
    const none = { exitCode: 0, stdout: "", stderr: "" };
    const pools = await this.anyPoolImported();
    // Filesystems and volumes only (datasets.ts LIST: never snapshots, which a pool with
    // listsnapshots=on would list by the tens of thousands), and only the columns detection reads.
    // Side by side with the pools' listing and status: every imported pool's datasets.
    const [listJ, statusJ, version, ds] = await Promise.all([
      pools ? this.sys.run("zpool", ["list", "-j"]) : none,
      pools ? this.sys.run("zpool", ["status", "-j"]) : none,
      this.sys.readFile("/sys/module/zfs/version"),
      pools ? this.sys.run("zfs", [...LIST, "-o", ZFS_LIST_COLUMNS.join(",")]) : none,
    ]);
    const imported =
      pools && listJ.exitCode === 0 ? guard("zpool list -j", [], () => parseZpoolList(listJ.stdout)) : [];
    const importable = list
      ? guard("zpool import", [], () => parseZpoolImport(list.stdout))
      : (previous?.importable ?? []).filter(
          (p) => !imported.some((i) => i.name === p.name || i.guid === p.id),
        );
    const status =
      pools && statusJ.exitCode === 0
        ? guard("zpool status -j", [], () => parseZpoolStatus(statusJ.stdout))
        : [];
    let datasets: Dataset[] = [];
    if (imported.length > 0) {
      if (ds.exitCode === 0) datasets = guard("zfs list", [], () => parseZfsListHp(ds.stdout, warnings));
      const encrypted = [...new Set(datasets.filter((d) => d.encryption !== "off").map((d) => d.pool))];
      if (encrypted.length > 0) {
        // Only what `zfs list` cannot give: the encryption root (read by name: ZfsProperties).
        const get = await this.sys.run("zfs", [
          "get",
          "-j",
          "-r",
          "-t",
          "filesystem,volume",
          "encryptionroot",
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
