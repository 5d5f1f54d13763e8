import { neverInstalled } from "../boots.js";
import type { Finding } from "../types.js";
import { plural, ranges } from "../words.js";
import { bootLastGood, type ClassContext, lastBootOf } from "./context.js";

/**
 * Stage 1 hangs or panics on a kernel module new in the generation's initrd (the seed: vfio_pci
 * loaded unconditionally). Stage 1 runs before the root is mounted: such a boot leaves no journal,
 * so the generation shows "no boot". Public report:
 * https://lukadeka.com/blog/recovering-nixos-stuck-on-stage-1-boot (vfio_pci, NixOS on ZFS).
 */
export function stage1Module(c: ClassContext): Finding[] {
  const p = c.proposals.find((x) => x.kind === "kernel-param");
  if (!p || !c.changes) return [];
  const forced = c.changes.initrd.loadedAdded;
  const mods = forced.length ? forced : c.changes.initrd.modulesAdded.slice(0, 5);
  const noBoot = c.bad
    .filter((g) => c.gens.find((v) => v.number === g.number)?.status === "no-boot")
    .map((g) => g.number);
  const stage2 = c.bad.flatMap((g) => {
    const b = lastBootOf(c, g.number);
    return b && b.view.failedUnits.length
      ? [
          `generation ${g.number} reached stage 2, where ${b.view.failedUnits.map((f) => f.unit).join(", ")} failed`,
        ]
      : [];
  });
  const parts = [
    `${mods.join(", ")} ${plural(mods.length, "is", "are")} new in generation ${c.changes.to}'s initrd${forced.length ? " and loaded unconditionally in stage 1" : ""}`,
    ...(noBoot.length
      ? [`${ranges(noBoot)} never got as far as mounting the root (no boot in the journal)`]
      : []),
    ...stage2,
  ];
  return [
    {
      class: "stage1-module",
      generation: noBoot[0] ?? c.changes.to,
      cause: `A kernel module stops the boot in stage 1: ${parts.join("; ")}.`,
      confidence: forced.length ? "medium" : "low",
      evidence: p.evidence,
      fixes: [...bootLastGood(c), p],
      needs: [
        `a console capture of a boot of generation ${c.changes.to} (stage 1 prints "loading module …" to the console only; no journal is written before the root is mounted)`,
      ],
    },
  ];
}
