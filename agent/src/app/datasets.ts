import {
  type Dataset,
  parseZfsGet,
  parseZfsListHp,
  withEncryptionRoots,
  ZFS_LIST_COLUMNS,
} from "../core/zfs.js";
import type { CommandResult, System } from "../system/system.js";

/** `zfs list` of filesystems and volumes with the columns a plan reads: of whole pools, or of names. */
const WHOLE = ["list", "-H", "-p", "-r", "-t", "filesystem,volume", "-o", ZFS_LIST_COLUMNS.join(",")];
const NAMED = WHOLE.filter((a) => a !== "-r");

export interface ListingOptions {
  /**
   * A listing of the whole pool still running after this long is of a big pool (or slow disks):
   * it is then made in parts side by side (see listInParts). Default SPLIT_AFTER_MS.
   */
  splitAfterMs?: number;
  /** Fewer datasets than this are not worth splitting: the whole listing is awaited. Default 64. */
  splitMin?: number;
}

/**
 * The seed's pool lists in 0.15-0.3 s under TCG; ~2,000 datasets took 75-82 s cold (one ioctl after
 * another, each waiting for its metadata to be read), as long as all of their mounts. A listing
 * still running after this long is worth a second process or four.
 */
export const SPLIT_AFTER_MS = 2_000;
/** Parts listed side by side: more reads in flight than CPUs, as `zfs mount -a`'s threads have. */
const PARTS = 4;
/** Bytes of dataset names per `zfs list` (well under the kernel's 2 MiB for arguments). */
const PART_BYTES = 256 * 1024;

/**
 * Datasets of just these pools, right after Lifeboat imported them: one `zfs list -r`, plus one
 * `zfs get -j` of the encryption properties when something is encrypted. A mount needs nothing
 * else from a detection (no device scan, no pool listing) between importing and mounting.
 */
export async function listDatasets(
  sys: System,
  pools: readonly string[],
  warnings: string[],
  opts: ListingOptions = {},
): Promise<Dataset[]> {
  if (pools.length === 0) return [];
  const stdout = await listing(
    sys,
    pools,
    warnings,
    opts.splitAfterMs ?? SPLIT_AFTER_MS,
    opts.splitMin ?? 64,
  );
  if (stdout === null) return [];
  let datasets = parseZfsListHp(stdout, warnings);
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

/**
 * The text of `zfs list -r <pools>` (null when it failed, with a warning). `-t filesystem,volume`:
 * never snapshots, even on a pool with listsnapshots=on (a pool can hold tens of thousands of them;
 * zfs-list(8): without -t that property decides).
 *
 * `zfs list` reads every dataset before it prints the first line (cmd/zfs/zfs_iter.c zfs_for_each
 * sorts them all), one dataset after another. When the whole listing is still running after
 * `splitAfterMs`, the names are listed alone (`-o name` only: OpenZFS's simple iteration, which
 * reads no property: zfs_main.c zfs_do_list, ZFS_ITER_SIMPLE), the whole listing is stopped, and
 * the names' properties are listed in PARTS processes side by side, their texts joined in the names'
 * order: the same lines the whole listing prints. Any part failing (a dataset gone in between)
 * makes it one whole listing again.
 */
async function listing(
  sys: System,
  pools: readonly string[],
  warnings: string[],
  splitAfterMs: number,
  splitMin: number,
): Promise<string | null> {
  const stop = new AbortController();
  const whole = sys.run("zfs", [...WHOLE, ...pools], { signal: stop.signal });
  let done: CommandResult | null = null;
  whole.then(
    (r) => {
      done = r;
    },
    () => undefined,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    timer = setTimeout(() => resolve("late"), splitAfterMs);
  });
  const first = await Promise.race([whole, late]);
  clearTimeout(timer);
  if (first !== "late") return wholeText(first, pools, warnings);
  const named = await sys.run("zfs", ["list", "-H", "-r", "-t", "filesystem,volume", "-o", "name", ...pools]);
  const names = named.exitCode === 0 ? named.stdout.split("\n").filter((n) => n !== "") : [];
  if (done !== null || names.length < splitMin) return wholeText(await whole, pools, warnings);
  stop.abort();
  await whole.catch(() => undefined);
  const parts = await listInParts(sys, names);
  if (parts !== null) return parts;
  return wholeText(await sys.run("zfs", [...WHOLE, ...pools]), pools, warnings);
}

function wholeText(r: CommandResult, pools: readonly string[], warnings: string[]): string | null {
  if (r.exitCode === 0) return r.stdout;
  warnings.push(`zfs list ${pools.join(" ")} failed: ${r.stderr.trim().split("\n")[0] ?? ""}`);
  return null;
}

/** The names in contiguous parts, PARTS at a time; their texts in order, or null if one failed. */
async function listInParts(sys: System, names: readonly string[]): Promise<string | null> {
  const bytes = names.reduce((t, n) => t + n.length + 1, 0);
  const count = Math.max(PARTS, Math.ceil(bytes / PART_BYTES));
  const size = Math.ceil(names.length / count);
  const parts: string[][] = [];
  for (let i = 0; i < names.length; i += size) parts.push(names.slice(i, i + size));
  const texts: (string | null)[] = new Array(parts.length).fill(null);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < parts.length) {
      const i = next++;
      const r = await sys.run("zfs", [...NAMED, ...(parts[i] as string[])]);
      if (r.exitCode !== 0) failed = true;
      else texts[i] = r.stdout;
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS, parts.length) }, worker));
  return failed ? null : texts.join("");
}
