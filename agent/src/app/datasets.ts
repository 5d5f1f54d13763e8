import {
  type Dataset,
  parseZfsGet,
  parseZfsListHp,
  withEncryptionRoots,
  ZFS_LIST_COLUMNS,
} from "../core/zfs.js";
import type { System } from "../system/system.js";

/**
 * Datasets of just these pools, right after Lifeboat imported them: one `zfs list -r`, plus one
 * `zfs get -j` of the encryption properties when something is encrypted. A mount needs nothing
 * else from a detection (no device scan, no pool listing) between importing and mounting.
 */
export async function listDatasets(
  sys: System,
  pools: readonly string[],
  warnings: string[],
): Promise<Dataset[]> {
  if (pools.length === 0) return [];
  // `-t filesystem,volume`: never snapshots, even on a pool with listsnapshots=on (a pool can hold
  // tens of thousands of them; zfs-list(8): without -t that property decides).
  const r = await sys.run("zfs", [
    "list",
    "-H",
    "-p",
    "-r",
    "-t",
    "filesystem,volume",
    "-o",
    ZFS_LIST_COLUMNS.join(","),
    ...pools,
  ]);
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
