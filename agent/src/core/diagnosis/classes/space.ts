import type { JournalRecord } from "../../journalBoots.js";
import { freeTarget, humanBytes, isFull } from "../../zfsSpace.js";
import { neverInstalled } from "../boots.js";
import type { Evidence, Finding, Proposal, SpaceFacts } from "../types.js";
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
  const space = c.input.space ?? null;
  const fullNow = space !== null && isFull(space.avail, space.used);
  let hits: JournalRecord[] = [];
  let boot: (typeof c.input.boots)[number] | null = null;
  for (const b of [...c.input.boots].sort((x, y) => x.index - y.index)) {
    hits = (b.notable ?? []).filter((r) => ENOSPC.test(r.message) && !/\/boot\b/.test(r.message));
    if (hits.length) {
      boot = b;
      break;
    }
  }
  if (!boot && !fullNow) return [];
  const view = boot ? c.boots.find((v) => v.bootId === boot?.bootId) : undefined;
  const g = view?.generation ?? null;
  const units = [...new Set(hits.map((r) => r.unit).filter((u): u is string => u !== null))];
  const fix = space && fullNow ? freeSpace(c, space) : null;
  const poolWords = space
    ? `pool ${space.pool} has ${humanBytes(space.avail)} free, ${humanBytes(space.usedBySnapshots)} of its ${humanBytes(space.used)} held by snapshots`
    : null;
  const journalWords = boot
    ? `${hits.length} write${hits.length === 1 ? "" : "s"} failed with "No space left on device" in the ${boot.index === 0 ? "last" : "newest such"} boot${g !== null ? ` (generation ${g})` : ""}${units.length ? `, in ${units.join(", ")}` : ""} ("${hits[0]?.message}")`
    : null;
  const cause = `The installed system ${fullNow ? "is out of space" : "ran out of space"}: ${[journalWords, fullNow ? poolWords : null].filter(Boolean).join("; ")}: upgrades and rebuilds cannot write to the store until space is freed.`;
  const snapEvidence: Evidence[] = space
    ? [
        {
          kind: "snapshot",
          ref: space.pool,
          detail: `${humanBytes(space.avail)} available, ${humanBytes(space.usedBySnapshots)} used by snapshots (zfs list -o space)`,
        },
      ]
    : [];
  const needs: string[] = [];
  if (!space)
    needs.push(
      "the store is not on ZFS (or its pool could not be read): there is no snapshot to destroy; deleting old generations and collecting garbage (nix-collect-garbage --delete-older-than inside nixos-enter) frees it, which Lifeboat does not run: it runs the installed system's own code",
    );
  else if (!fullNow)
    needs.push(
      `${space.pool} has ${humanBytes(space.avail)} free now: what failed for lack of space can be run again`,
    );
  else if (!fix)
    needs.push(
      `no snapshot of ${space.pool} can be destroyed to free it (${space.snapshots.length === 0 ? "it has none" : "each is kept: held, cloned, relied on by another fix, or Lifeboat's newest"}): the space is held by the files themselves`,
    );
  return [
    {
      class: "space-full",
      generation: g,
      cause,
      confidence: boot && fullNow ? "high" : "medium",
      evidence: [...hits.slice(0, 4).map(journalEvidence), ...snapEvidence],
      fixes: fix ? [fix] : [],
      needs,
    },
  ];
}

/**
 * Destroy the oldest snapshots, oldest first, until ZFS's dry run says the pool would have
 * freeTarget() free; never the snapshot another proposal relies on (a rollback), nor those the
 * space view keeps (held, cloned, Lifeboat's newest), and always leaving one snapshot.
 */
function freeSpace(c: ClassContext, space: SpaceFacts): Proposal | null {
  const relied = new Set(
    c.proposals.flatMap((p) => p.evidence.filter((e) => e.kind === "snapshot").map((e) => e.ref)),
  );
  const target = freeTarget(space.avail, space.used);
  const need = Math.max(0, target - space.avail);
  const chosen: SpaceFacts["snapshots"] = [];
  let frees = 0;
  for (const s of space.snapshots) {
    if (s.kept !== null || relied.has(s.snapshot) || s.freesWithOlder === null) continue;
    if (chosen.length + 1 >= space.snapshots.length) break; // keep one to roll back to
    chosen.push(s);
    frees = s.freesWithOlder;
    if (frees >= need) break;
  }
  if (chosen.length === 0 || frees === 0) return null;
  const names = chosen.map((s) => `${space.pool}@${s.snapshot}`);
  const enough = frees >= need;
  return {
    id: `free-${space.pool}`,
    kind: "snapshot-destroy",
    title: `Free ${humanBytes(frees)} on ${space.pool}: destroy ${chosen.length === 1 ? "its oldest snapshot" : `its ${chosen.length} oldest snapshots`} (${chosen.map((s) => s.snapshot).join(", ")})`,
    why: `${space.pool} has ${humanBytes(space.avail)} free and its snapshots hold ${humanBytes(space.usedBySnapshots)}: deleting files or old generations frees nothing a snapshot still holds; ${enough ? `these free ${humanBytes(frees)} (ZFS's dry run), enough for ${humanBytes(target)} free` : `these free ${humanBytes(frees)} (ZFS's dry run), less than the ${humanBytes(target)} wanted: the rest is held by the files themselves`}`,
    basis: "evidence",
    needsReadWrite: true,
    caution:
      "a destroyed snapshot cannot be brought back: the pool can no longer be rolled back to these moments. All are destroyed in one zfs destroy call (all or none); at least one snapshot is kept",
    evidence: chosen.map((s) => ({
      kind: "snapshot" as const,
      ref: `${space.pool}@${s.snapshot}`,
      detail: `created ${s.created}; frees ${humanBytes(s.used)} alone, ${humanBytes(s.freesWithOlder ?? 0)} with the older ones`,
    })),
    requests: [
      {
        method: "POST",
        path: `/v1/pools/${encodeURIComponent(space.pool)}/snapshots/destroy`,
        body: { snapshots: names, confirm: space.pool, keep: 1 },
      },
    ],
  };
}
