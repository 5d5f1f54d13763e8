import type { Finding } from "../types.js";
import { bootLastGood, type ClassContext } from "./context.js";

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
  return [
    {
      class: "stage1-module",
      generation: c.changes.to,
      cause: `Generation ${c.changes.to}'s stage 1 hangs on a kernel module new in its initrd: ${p.why}.`,
      confidence: forced.length ? "medium" : "low",
      evidence: p.evidence,
      fixes: [...bootLastGood(c), p],
      needs: [
        `a console capture of a boot of generation ${c.changes.to} (stage 1 prints "loading module …" to the console only; no journal is written before the root is mounted)`,
      ],
    },
  ];
}
