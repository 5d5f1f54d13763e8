import type { Finding } from "../types.js";
import type { ClassContext } from "./context.js";

/**
 * The generations that booted were garbage-collected (nix.gc --delete-older-than): nothing good is
 * left to boot. Public report: https://lukadeka.com/blog/recovering-nixos-stuck-on-stage-1-boot
 * ("I garbage collected in between, so there isn't an old version to boot into" also in
 * https://flo-the.dev/posts/udev).
 */
export function generationsGone(c: ClassContext): Finding[] {
  const lg = c.lastGood;
  if (!lg || lg.closurePresent) return [];
  const rollback = c.proposals.filter((p) => p.kind === "snapshot-rollback");
  return [
    {
      class: "generations-gone",
      generation: lg.number,
      cause: `Generation ${lg.number}, the last one that booted, was garbage-collected: its closure is not in the store, so it cannot be booted again.`,
      confidence: "high",
      evidence: lg.toplevel ? [{ kind: "store-path", ref: lg.toplevel, detail: "not in the store" }] : [],
      fixes: rollback,
      needs: rollback.length
        ? []
        : ["a snapshot from before the bad generation, or a fix of the newest generation itself"],
    },
  ];
}
