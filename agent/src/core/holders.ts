/** Processes that keep a mount busy: pure helpers over what /proc tells (app/holders.ts reads it). */

/** A process that keeps a mount busy, and what it holds there (as `fuser -vm` would tell). */
export interface Holder {
  pid: number;
  command: string;
  /** "cwd /mnt/home/alice", "fd 3 /mnt/var/log/journal/x.journal", "mmap /mnt/nix/store/…/libc.so.6" */
  uses: string[];
}

/** Paths a /proc/<pid>/maps text maps, deduplicated (the 6th column). */
export function mappedPaths(maps: string): string[] {
  const out = new Set<string>();
  for (const line of maps.split("\n")) {
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\d+\s+(\/.*)$/.exec(line);
    if (m?.[1]) out.add(m[1].replace(/ \(deleted\)$/, ""));
  }
  return [...out];
}

/** "1234 (bash: cwd /mnt/home), 99 (less: fd 3 /mnt/etc/x)" */
export function describeHolders(holders: readonly Holder[]): string {
  return holders.map((h) => `${h.pid} (${h.command}: ${h.uses.join(", ")})`).join("; ");
}

/** A mount of `pool`'s datasets in a /proc/<pid>/mounts table: "nvmepool/var at /mnt/var". */
export function poolMountsIn(
  mounts: readonly { source: string; target: string; fstype: string }[],
  pool: string,
) {
  return mounts
    .filter((m) => m.fstype === "zfs" && (m.source === pool || m.source.startsWith(`${pool}/`)))
    .map((m) => `mount ${m.source} at ${m.target}`);
}
