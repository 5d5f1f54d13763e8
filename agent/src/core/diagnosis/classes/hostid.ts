import type { Finding, Proposal } from "../types.js";
import { configEdit, findLine, rebuildBoot } from "./config.js";
import { bootLastGood, type ClassContext } from "./context.js";

/**
 * The root pool does not import in stage 1: the generation's `networking.hostId` differs from the
 * one the pool was last used with, and NixOS imports the root pool without -f when
 * `boot.zfs.forceImportRoot = false` ("cannot import 'rpool': pool was previously in use from
 * another system"). nixpkgs nixos/modules/tasks/filesystems/zfs.nix reads `zfs_force=1` on the
 * kernel command line to force it once. Public reports: https://github.com/NixOS/nixpkgs/pull/526302
 * (the message), https://github.com/nix-community/srvos/pull/465 (hostid changes "cause unbootable machines").
 */
export function hostidChanged(c: ClassContext): Finding[] {
  const good = c.lastGood;
  if (!good?.hostid) return [];
  const out: Finding[] = [];
  const noForce = findLine(c.input.configFiles, /forceImportRoot\s*=\s*false/);
  for (const g of c.bad) {
    const v = c.gens.find((x) => x.number === g.number);
    if (v?.status !== "no-boot" || !g.hostid || g.hostid === good.hostid) continue;
    const fixes: Proposal[] = [...bootLastGood(c)];
    if (g.bootEntry)
      fixes.push({
        id: `zfs-force-${g.number}`,
        kind: "kernel-param",
        title: `Force the root pool's import once: zfs_force=1 on generation ${g.number}'s entry`,
        why: `generation ${g.number}'s hostid ${g.hostid} is not the one the pool was last used with (${good.hostid}, generation ${good.number}); stage 1 then refuses the import without -f`,
        basis: "evidence",
        needsReadWrite: true,
        caution:
          "forcing the import is safe only if no other machine has the pool imported; after booting, the pool carries the new hostid. The original entry is kept (…/revert)",
        evidence: [],
        requests: [
          {
            method: "POST",
            path: `/v1/boot/entries/${g.bootEntry}/kernel-params`,
            body: { add: ["zfs_force=1"] },
          },
        ],
      });
    const hit = findLine(c.input.configFiles, new RegExp(`hostId\\s*=\\s*"${g.hostid}"`));
    const file = hit ? c.input.configFiles.find((f) => f.path === hit.path) : undefined;
    if (hit && file) {
      const lines = file.text.split("\n");
      lines[hit.line - 1] = (lines[hit.line - 1] as string).replace(`"${g.hostid}"`, `"${good.hostid}"`);
      fixes.push(
        configEdit(file, lines.join("\n"), {
          id: `hostid-${good.hostid}`,
          title: `Set networking.hostId back to "${good.hostid}" in /etc/nixos/${file.path}`,
          why: `the pool was last used with hostid ${good.hostid} (generation ${good.number})`,
          line: hit.line,
          evidence: [
            { kind: "file", ref: `/etc/nixos/${file.path}`, detail: `line ${hit.line}: ${hit.text}` },
          ],
        }),
        rebuildBoot("the restored hostid takes effect in a new generation"),
      );
    }
    // the pool's label as the rescue read it before importing it: the last good generation's hostid
    const label = c.input.poolLabel;
    const labelSays = label?.lastHostId === good.hostid ? label : null;
    out.push({
      class: "hostid-changed",
      generation: g.number,
      cause: `Generation ${g.number} changed networking.hostId from ${good.hostid} to ${g.hostid}${noForce ? " and boot.zfs.forceImportRoot is false" : ""}: its stage 1 finds the root pool last used by another system and does not import it.`,
      confidence: noForce ? "high" : "low",
      evidence: [
        {
          kind: "store-path",
          ref: `${good.toplevel ?? "?"}/etc/hostid`,
          detail: `generation ${good.number}: ${good.hostid}`,
        },
        {
          kind: "store-path",
          ref: `${g.toplevel ?? "?"}/etc/hostid`,
          detail: `generation ${g.number}: ${g.hostid}`,
        },
        ...(labelSays
          ? [
              {
                kind: "file" as const,
                ref: `zpool import ${labelSays.pool}`,
                detail: `${labelSays.message ?? `last accessed by ${labelSays.lastHost ?? "?"} (hostid=${labelSays.lastHostId})`} (read before the rescue imported the pool)`,
              },
            ]
          : []),
        ...(noForce
          ? [
              {
                kind: "file" as const,
                ref: `/etc/nixos/${noForce.path}`,
                detail: `line ${noForce.line}: ${noForce.text}`,
              },
            ]
          : []),
      ],
      fixes,
      needs: noForce
        ? labelSays
          ? []
          : [
              "the hostid in the pool's label (zpool import shows it as 'last accessed by … (hostid=…)' before the rescue imports it)",
            ]
        : [
            "boot.zfs.forceImportRoot is true by default, which imports the root pool anyway: a console capture of the failed boot ('pool was previously in use from another system') would confirm",
          ],
    });
  }
  return out;
}
