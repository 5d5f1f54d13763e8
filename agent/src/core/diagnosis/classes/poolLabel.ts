import type { Evidence, Finding, GenerationFacts, Proposal } from "../types.js";
import { findLine } from "./config.js";
import type { ClassContext } from "./context.js";

/** nixpkgs PR #495581: forceImportRoot defaults to false from system.stateVersion 26.11 on. */
const NO_FORCE_SINCE = [26, 11] as const;

/** Whether the configuration leaves the root pool's import unforced: the line that says so, or null. */
export function forceImportOff(
  files: { path: string; text: string }[],
): { path: string; line: number; text: string } | null {
  const off = findLine(files, /forceImportRoot\s*=\s*false/);
  if (off) return off;
  if (findLine(files, /forceImportRoot\s*=\s*true/)) return null;
  const sv = findLine(files, /stateVersion\s*=\s*"\d+\.\d+"/);
  const m = sv ? /"(\d+)\.(\d+)"/.exec(sv.text) : null;
  if (!sv || !m) return null;
  const [y, mo] = [Number(m[1]), Number(m[2])];
  return y > NO_FORCE_SINCE[0] || (y === NO_FORCE_SINCE[0] && mo >= NO_FORCE_SINCE[1]) ? sv : null;
}

/**
 * The root pool was last imported by another host and never exported (the installer the system was
 * installed from, another machine the disks came from, a rescue that imported it with -f): the
 * generations agree on the hostid, but the pool's label names another one, so stage 1 without -f
 * (`boot.zfs.forceImportRoot = false`) stops at "cannot import 'rpool': pool was previously in use
 * from another system". The label is the one the rescue saw before it imported the pool (after its
 * own import, the label is Lifeboat's doing). Public reports:
 * https://github.com/nix-community/nixos-anywhere/issues/156 (installed, not exported, stage 1 fails
 * with forceImportRoot off), https://github.com/NixOS/nixpkgs/pull/36882 (the remedies: `zpool
 * export`, `zfs_force=1`), https://github.com/nix-community/infra/issues/1362 ("All it needed was a
 * zpool import -f"). nixpkgs nixos/modules/tasks/filesystems/zfs.nix (read at 00f7b4bd) turns
 * `zfs_force=1` on the command line into `zpool import -f` in stage 1; OpenZFS cmd/zpool/zpool_main.c
 * do_import() checks the label's hostid only for a pool whose state is not EXPORTED.
 */
export function poolInUseElsewhere(c: ClassContext): Finding[] {
  const label = c.input.poolLabel;
  if (!label?.lastHostId) return [];
  const def = [...c.input.generations].sort((a, b) => b.number - a.number).find((g) => g.bootDefault);
  // the generation that fails: the first bad one that never booted, else the boot default (every
  // generation fails alike when the label is another host's)
  const noBoot = c.bad.filter((g) => c.gens.find((v) => v.number === g.number)?.status === "no-boot");
  const target: GenerationFacts | undefined = noBoot[0] ?? (c.bad.length === 0 ? def : undefined);
  if (!target?.hostid || target.hostid === label.lastHostId) return [];
  const good = c.lastGood;
  // a hostid change between the generations with the label still the last good one's: hostid-changed
  if (good?.hostid && good.hostid !== target.hostid && good.hostid === label.lastHostId) return [];
  const noForce = forceImportOff(c.input.configFiles);
  const never = noBoot.some((g) => g.number === target.number);
  const who = `${label.lastHost ?? "another system"} (hostid ${label.lastHostId})`;
  const evidence: Evidence[] = [
    {
      kind: "file",
      ref: `zpool import ${label.pool}`,
      detail: `${label.message ?? `last accessed by ${who}`} (read ${label.seenAt}, before the rescue imported the pool; the rescue's hostid was ${label.liveHostId ?? "unknown"})`,
    },
    {
      kind: "store-path",
      ref: `${target.toplevel ?? "?"}/etc/hostid`,
      detail: `generation ${target.number}: ${target.hostid}`,
    },
  ];
  if (good?.hostid && good.number !== target.number)
    evidence.push({
      kind: "store-path",
      ref: `${good.toplevel ?? "?"}/etc/hostid`,
      detail: `generation ${good.number}: ${good.hostid}`,
    });
  if (noForce)
    evidence.push({
      kind: "file",
      ref: `/etc/nixos/${noForce.path}`,
      detail: `line ${noForce.line}: ${noForce.text}${/stateVersion/.test(noForce.text) ? " (forceImportRoot defaults to false from 26.11 on)" : ""}`,
    });
  if (never)
    evidence.push({
      kind: "boot-entry",
      ref: target.bootEntry ?? `generation ${target.number}`,
      detail: `generation ${target.number} has no boot in the journal: it stopped before the root was mounted`,
    });
  const fixes: Proposal[] = [handBack(label.pool, who, target)];
  if (target.bootEntry)
    fixes.push({
      id: `zfs-force-${target.number}`,
      kind: "kernel-param",
      title: `Force the root pool's import once: zfs_force=1 on generation ${target.number}'s entry`,
      why: `the pool's label names ${who}, not this server (${target.hostid}); stage 1 imports it without -f and refuses`,
      basis: "evidence",
      needsReadWrite: true,
      caution:
        "only if that other system is really off; the import then writes this server's hostid into the label. Take zfs_force=1 off again afterwards (…/revert or the next rebuild): it forces every later import too",
      evidence: [],
      requests: [
        {
          method: "POST",
          path: `/v1/boot/entries/${target.bootEntry}/kernel-params`,
          body: { add: ["zfs_force=1"] },
        },
      ],
    });
  return [
    {
      class: "pool-in-use-elsewhere",
      generation: target.number,
      cause: `The root pool ${label.pool} was last imported by ${who} and not exported, while generation ${target.number}'s hostid is ${target.hostid}${noForce ? " and the root pool's import is not forced (boot.zfs.forceImportRoot = false)" : ""}: its stage 1 stops at "cannot import '${label.pool}': pool was previously in use from another system".`,
      confidence: noForce && (never || c.bad.length === 0) ? "high" : noForce ? "medium" : "low",
      evidence,
      fixes,
      needs: noForce
        ? [
            "to make it last: export the pool from any other system before booting the server (an installer: zpool export -a before its reboot)",
          ]
        : [
            "boot.zfs.forceImportRoot is true by default (before system.stateVersion 26.11), which imports the root pool anyway: a console capture of the failed boot would show what stopped it",
          ],
    },
  ];
}

/**
 * The clean hand-back: a read-write import (with the label's hostid adopted) and the export, which
 * leaves the pool EXPORTED, a state OpenZFS imports without -f on any host.
 */
function handBack(pool: string, who: string, g: GenerationFacts): Proposal {
  return {
    id: `hand-back-${pool}`,
    kind: "hand-back",
    title: `Hand ${pool} back exported: mount read-write, then export (last, after the other fixes)`,
    why: `an exported pool is imported without -f by any host, so generation ${g.number}'s stage 1 (hostid ${g.hostid}) imports it although ${who} used it last; after that boot the label carries the server's own hostid`,
    basis: "evidence",
    needsReadWrite: false,
    caution:
      "the read-write mount imports the pool with the label's hostid adopted (no -f); the export unmounts everything, so send it last. A read-only import cannot do this: it writes nothing to the label",
    evidence: [],
    requests: [
      { method: "POST", path: "/v1/mount", body: { readonly: false } },
      { method: "POST", path: "/v1/export", body: {} },
    ],
  };
}
