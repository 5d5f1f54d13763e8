import { type Holder, mappedPaths, poolMountsIn } from "../core/holders.js";
import { parseProcMounts, within } from "../core/mounts.js";
import type { System } from "../system/system.js";

export type { Holder } from "../core/holders.js";
export { describeHolders } from "../core/holders.js";

const MAX_PIDS = 4_096;
const MAX_USES = 8;
const MAX_MAPS = 1024 * 1024;

/** The processes /proc lists now (at most MAX_PIDS). */
async function processIds(sys: System): Promise<string[]> {
  return ((await sys.readdir("/proc").catch(() => null)) ?? [])
    .filter((n) => /^\d+$/.test(n))
    .slice(0, MAX_PIDS);
}

/** A process's command name, "?" when it cannot be read (it ended meanwhile). */
async function commandOf(sys: System, pid: string): Promise<string> {
  return (await sys.readFile(`/proc/${pid}/comm`).catch(() => null))?.toString("utf8").trim() ?? "?";
}

/**
 * Which processes use files under `target`: their working directory, root, executable, open file
 * descriptors and mapped files, read from /proc (nothing is run). Processes that end meanwhile, or
 * that cannot be read, are skipped.
 */
export async function holdersOf(sys: System, target: string): Promise<Holder[]> {
  const pids = await processIds(sys);
  const out: Holder[] = [];
  for (const pid of pids) {
    const base = `/proc/${pid}`;
    const uses: string[] = [];
    const link = async (name: string, label: string) => {
      const t = await sys.readlink(`${base}/${name}`).catch(() => null);
      if (t && within(t, target) && uses.length < MAX_USES) uses.push(`${label} ${t}`);
    };
    await link("cwd", "cwd");
    await link("root", "root");
    await link("exe", "exe");
    for (const fd of (await sys.readdir(`${base}/fd`).catch(() => null)) ?? []) {
      if (uses.length >= MAX_USES) break;
      await link(`fd/${fd}`, `fd ${fd}`);
    }
    const maps = await sys.readFile(`${base}/maps`).catch(() => null);
    if (maps && maps.length <= MAX_MAPS)
      for (const p of mappedPaths(maps.toString("utf8")))
        if (within(p, target) && uses.length < MAX_USES) uses.push(`mmap ${p}`);
    if (uses.length === 0) continue;
    out.push({ pid: Number(pid), command: await commandOf(sys, pid), uses });
  }
  return out;
}

/**
 * Which processes keep `pool` from being exported although nothing of it is mounted where the
 * agent looks: their own mount namespace (a `nixos-enter` shell, `unshare -m`, a container, a
 * sandbox) still has one of its datasets mounted, so ZFS says "pool is busy". Read from /proc (each
 * process's namespace, one mount table per namespace); the agent's own namespace is not counted
 * (`zpool export` unmounts what is mounted there itself).
 */
export async function poolHoldersOf(sys: System, pool: string): Promise<Holder[]> {
  const own = await sys.readlink("/proc/self/ns/mnt").catch(() => null);
  const pids = await processIds(sys);
  const held = new Map<string, string[]>();
  const out: Holder[] = [];
  for (const pid of pids) {
    const ns = await sys.readlink(`/proc/${pid}/ns/mnt`).catch(() => null);
    if (ns === null || ns === own) continue;
    let uses = held.get(ns);
    if (!uses) {
      const table = await sys.readFile(`/proc/${pid}/mounts`).catch(() => null);
      uses = table ? poolMountsIn(parseProcMounts(table.toString("utf8"), []), pool).slice(0, MAX_USES) : [];
      held.set(ns, uses);
    }
    if (uses.length === 0) continue;
    out.push({ pid: Number(pid), command: await commandOf(sys, pid), uses });
  }
  return out;
}
