import {
  type Dataset,
  isDatasetName,
  parseZfsGet,
  parseZfsListHp,
  withEncryptionRoots,
  ZFS_LIST_COLUMNS,
} from "../core/zfs.js";
import type { CommandResult, System } from "../system/system.js";

/**
 * A listing of the pools still running after this long is of a big pool: it gives way to the split
 * listing (measured in the lab on ~2,000 datasets, docs/performance.md: `zfs list -r` takes ~50 s
 * there under TCG, the seed's six datasets ~0.2 s).
 */
export const SPLIT_AFTER_MS = 2_000;
/** At most this many `zfs list -d 1` side by side in the split listing. */
const SPLIT_WIDTH = 4;
/**
 * How long a listing of the pools just imported is waited for: it only reads, and a big pool's
 * cold listing took 80 s in the lab and more than the default two minutes on a loaded host (the one
 * started during the import also waits for the import's end). Killed, the mount would stop there.
 */
const LIST_TIMEOUT_MS = 1_800_000;
/**
 * `zfs list` of datasets, script-readable: `-t filesystem,volume`, never snapshots, even on a pool
 * with listsnapshots=on (zfs-list(8)). The detection lists with it too.
 */
export const LIST = ["list", "-H", "-p", "-t", "filesystem,volume"] as const;

export interface ListOptions {
  /** When the whole listing gives way to the split one (tests set it; SPLIT_AFTER_MS otherwise). */
  splitAfterMs?: number;
  /** The whole listing of exactly these pools, started during their import (listDuringImport). */
  running?: RunningListing | null;
}

/** One directory per pool the kernel holds (OpenZFS kstats): a pool imported or exported by hand shows here too. */
export const POOL_KSTATS = "/proc/spl/kstat/zfs";
/** How often a listing waiting for its pool's import looks for the pool. */
const IMPORT_POLL_MS = 10;

/** A whole listing already running, and how to stop it (it only reads). */
export interface RunningListing {
  result: Promise<CommandResult>;
  stop(): void;
}

/** A listing waiting for an import (listDuringImport). */
export interface ImportListing {
  /**
   * The import ended: `imported`, it succeeded and the listing started meanwhile (if any) is its
   * pool's; otherwise the listing is stopped and awaited. Null: none to take.
   */
  take(imported: boolean): Promise<RunningListing | null>;
}

/**
 * The whole listing of one pool being imported, started as soon as the kernel holds the pool. The
 * import adds the pool to the namespace, kstat directory included (`spa_add`), under the namespace
 * lock it keeps until the pool is loaded, and opening a pool takes that lock (OpenZFS
 * module/zfs/spa.c `spa_import`, spa_misc.c `spa_add`, `spa_open_common`): the listing's process
 * starts while the import ends and its first question waits for the import's end. In the lab guest
 * (docs/performance.md) the pool shows ~150 ms before `zpool import` exits and such a listing ends
 * ~40 ms after it, where one started after the import takes ~210 ms. Nothing starts when the
 * directory is there before the import (a pool of that name already held: the import fails) or when
 * the name cannot be a pool's; the listing counts only if the import succeeded (take).
 */
export function listDuringImport(sys: System, pool: string): ImportListing {
  const stop = new AbortController();
  let ended = false;
  let wake: (() => void) | null = null;
  let running: Promise<CommandResult> | null = null;
  const path = `${POOL_KSTATS}/${pool}`;
  const pause = () =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, IMPORT_POLL_MS);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const watch = (async () => {
    if (!isDatasetName(pool) || pool.includes("/") || (await sys.lstat(path)) !== null) return;
    while (!ended) {
      await pause();
      if (ended) return;
      const held = (await sys.lstat(path))?.type === "dir";
      if (held && !ended) {
        const run = sys.run("zfs", WHOLE([pool]), { signal: stop.signal, timeoutMs: LIST_TIMEOUT_MS });
        // handled here too: it may end before the import does and take() awaits it
        run.catch(() => undefined);
        running = run;
        return;
      }
    }
  })().catch(() => undefined);
  return {
    async take(imported) {
      ended = true;
      (wake as (() => void) | null)?.();
      await watch;
      const r = running as Promise<CommandResult> | null;
      if (!r) return null;
      if (imported) return { result: r, stop: () => stop.abort() };
      stop.abort();
      await r.catch(() => undefined);
      return null;
    },
  };
}

/**
 * Datasets of just these pools, right after Lifeboat imported them: one `zfs list -r` (on a big
 * pool, the split listing: splitListing), plus one `zfs get -j` of the encryption properties when
 * something is encrypted. A mount needs nothing else from a detection (no device scan, no pool
 * listing) between importing and mounting.
 */
export async function listDatasets(
  sys: System,
  pools: readonly string[],
  warnings: string[],
  opts: ListOptions = {},
): Promise<Dataset[]> {
  if (pools.length === 0) return [];
  const r = await listRows(sys, pools, opts.splitAfterMs ?? SPLIT_AFTER_MS, opts.running ?? null);
  if (r.exitCode !== 0) {
    warnings.push(`zfs list ${pools.join(" ")} failed: ${r.stderr.trim().split("\n")[0] ?? ""}`);
    return [];
  }
  let datasets = parseZfsListHp(r.stdout, warnings);
  const encrypted = [...new Set(datasets.filter((d) => d.encryption !== "off").map((d) => d.pool))];
  if (encrypted.length === 0) return datasets;
  const get = await sys.run("zfs", [
    "get",
    "-j",
    "-r",
    "-t",
    "filesystem,volume",
    "encryption,keystatus,keyformat,keylocation,encryptionroot",
    ...encrypted,
  ]);
  if (get.exitCode === 0) {
    try {
      datasets = withEncryptionRoots(datasets, parseZfsGet(get.stdout));
    } catch (err) {
      warnings.push(`zfs get -j: ${(err as Error).message}`);
    }
  }
  return datasets;
}

const WHOLE = (pools: readonly string[]) => [...LIST, "-r", "-o", ZFS_LIST_COLUMNS.join(","), ...pools];

/**
 * `zfs list -r` of the pools (or the one `running` since their import); still running after
 * `splitAfterMs`, it is stopped (it only reads) and the split listing takes over. The split listing
 * failing anywhere, the whole listing runs again to its end: its answer is the one that counts then.
 * A listing started during the import that failed is run again as if there had been none.
 */
async function listRows(
  sys: System,
  pools: readonly string[],
  splitAfterMs: number,
  running: RunningListing | null,
): Promise<Pick<CommandResult, "exitCode" | "stdout" | "stderr">> {
  const stop = new AbortController();
  const whole =
    running?.result ?? sys.run("zfs", WHOLE(pools), { signal: stop.signal, timeoutMs: LIST_TIMEOUT_MS });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), splitAfterMs);
  });
  const first = await Promise.race([whole, late]);
  clearTimeout(timer);
  if (first && running && first.exitCode !== 0) return listRows(sys, pools, splitAfterMs, null);
  if (first) return first;
  if (running) running.stop();
  else stop.abort();
  // It may have ended as it was stopped: then its answer is the whole one.
  const ended = await whole;
  if (ended.exitCode === 0 && !ended.timedOut) return ended;
  const split = await splitListing(sys, pools);
  return split === null
    ? sys.run("zfs", WHOLE(pools), { timeoutMs: LIST_TIMEOUT_MS })
    : { exitCode: 0, stdout: split, stderr: "" };
}

/** What `zfs list -o space` breaks a dataset's `used` into (zfsprops(7)). */
const BREAKDOWN = ["usedbydataset", "usedbysnapshots", "usedbyrefreservation", "usedbychildren"] as const;

/**
 * A leaf by the pool's own accounting: `usedbychildren` 0 and `used` exactly its other three parts
 * (every child takes space: its own objset at least). Anything else, "-" included (a pool without
 * the breakdown), may have children.
 */
function leaf(used: string, parts: readonly string[]): boolean {
  if (parts[3] !== "0" || !parts.every((x) => /^\d+$/.test(x)) || !/^\d+$/.test(used)) return false;
  return BigInt(used) === parts.reduce((t, x) => t + BigInt(x), 0n);
}

/**
 * The pools' datasets level by level, up to SPLIT_WIDTH `zfs list -d 1` side by side: each lists
 * some datasets and their children; a child that is not a leaf by its accounting (leaf()) is
 * listed the same way. Leaves are never asked for children, where `zfs list -r` asks every
 * dataset (in the lab, cold: the 1,600 homes by `-d 1` of their parent 22 s, the whole pool's 2,009
 * datasets by `-r` 55 s). The text is the whole listing's (ZFS_LIST_COLUMNS, sorted by name, each
 * dataset once, lines of another shape kept for the parse to name); null if a part failed.
 */
async function splitListing(sys: System, pools: readonly string[]): Promise<string | null> {
  const columns = [...ZFS_LIST_COLUMNS, ...BREAKDOWN].join(",");
  const own = ZFS_LIST_COLUMNS.length;
  const usedAt = ZFS_LIST_COLUMNS.indexOf("used");
  /** Lines that are not the shape asked for: kept, so that the parse names them as it always does. */
  const odd: string[] = [];
  const rows = new Map<string, string>();
  const queue = [...pools];
  const queued = new Set(pools);
  const active = new Set<Promise<void>>();
  let failed = false;
  const part = async (names: string[]) => {
    const r = await sys.run("zfs", [...LIST, "-d", "1", "-o", columns, ...names], {
      timeoutMs: LIST_TIMEOUT_MS,
    });
    if (r.exitCode !== 0) {
      failed = true;
      return;
    }
    for (const line of r.stdout.split("\n")) {
      if (line.trim() === "") continue;
      const cols = line.replace(/\r$/, "").split("\t");
      if (cols.length !== own + BREAKDOWN.length) {
        odd.push(line);
        continue;
      }
      const name = cols[0] as string;
      rows.set(name, cols.slice(0, own).join("\t"));
      if (!leaf(cols[usedAt] as string, cols.slice(own)) && !queued.has(name)) {
        queued.add(name);
        queue.push(name);
      }
    }
  };
  for (;;) {
    while (queue.length > 0 && active.size < SPLIT_WIDTH && !failed) {
      const take = Math.ceil(queue.length / (SPLIT_WIDTH - active.size));
      const p: Promise<void> = part(queue.splice(0, take)).finally(() => active.delete(p));
      active.add(p);
    }
    if (active.size === 0) break;
    await Promise.race(active);
  }
  if (failed) return null;
  // By code unit: dataset names are ASCII (zfs_namecheck.c), so this is zfs's byte order.
  const names = [...rows.keys()].sort();
  return [...names.map((n) => rows.get(n)), ...odd].map((l) => `${l}\n`).join("");
}
