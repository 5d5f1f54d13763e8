import type { JournalRecord } from "../../journalBoots.js";
import { neverInstalled } from "../boots.js";
import type { Finding } from "../types.js";
import type { ClassContext } from "./context.js";
import { journalEvidence } from "./context.js";

/** ENOSPC as the C library words it (strerror), and ZFS's own "out of space". */
const ENOSPC = /No space left on device|: out of space$/;

/**
 * The installed system's file system (the pool, or the file system holding /nix) is full: Nix
 * cannot write to the store ("error: writing to file: No space left on device"), so upgrades and
 * rebuilds fail and services that write fail with it. On ZFS, deleting files or garbage-collecting
 * the store frees nothing that a snapshot still holds; the space comes back by destroying old
 * snapshots first. Public reports: https://github.com/NixOS/nixpkgs/issues/12241 (nixos-rebuild:
 * "writing to file: No space left on device"), https://github.com/NixOS/nixpkgs/issues/107688
 * (nix-collect-garbage fails on a full ZFS system), https://github.com/openzfs/zfs/issues/4412
 * ("delete old snapshots you no longer need"). A full ESP (/boot) is bootloader-not-updated's.
 */
export function spaceFull(c: ClassContext): Finding[] {
  if (c.input.generations.some((g) => neverInstalled(c.input, g))) return [];
  for (const b of [...c.input.boots].sort((x, y) => x.index - y.index)) {
    const hits: JournalRecord[] = (b.notable ?? []).filter(
      (r) => ENOSPC.test(r.message) && !/\/boot\b/.test(r.message),
    );
    if (!hits.length) continue;
    const view = c.boots.find((v) => v.bootId === b.bootId);
    const g = view?.generation ?? null;
    const units = [...new Set(hits.map((r) => r.unit).filter((u): u is string => u !== null))];
    const snaps = c.input.snapshots?.length ?? 0;
    return [
      {
        class: "space-full",
        generation: g,
        cause: `The installed system ran out of space: ${hits.length} write${hits.length === 1 ? "" : "s"} failed with "No space left on device" in the ${b.index === 0 ? "last" : "newest such"} boot${g !== null ? ` (generation ${g})` : ""}${units.length ? `, in ${units.join(", ")}` : ""} ("${hits[0]?.message}"): upgrades and rebuilds cannot write to the store until space is freed.`,
        confidence: "medium",
        evidence: hits.slice(0, 4).map(journalEvidence),
        fixes: [],
        needs: [
          "the pool's free space and what holds it (zpool list; zfs list -o space; zfs list -t snapshot -o name,used)",
          `a request that frees space does not exist yet: on ZFS, destroy the oldest snapshots first (${snaps} recursive snapshot${snaps === 1 ? "" : "s"} of the root pool seen): deleting old generations and collecting garbage frees nothing a snapshot still holds`,
        ],
      },
    ];
  }
  return [];
}
