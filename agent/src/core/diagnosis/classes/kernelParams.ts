import { PROTECTED_PARAM } from "../../kernelParams.js";
import type { Evidence, Finding, Proposal } from "../types.js";
import { escapeRegExp, plural, ranges } from "../words.js";
import { findLine } from "./config.js";
import { bootLastGood, type ClassContext } from "./context.js";

/**
 * Stage 1 hangs or panics on a kernel parameter: the bad generation's command line (its bootspec's
 * `kernelParams`, i.e. `boot.kernelParams`) adds or drops parameters the last good one had, and it
 * never got as far as mounting the root (no boot in the journal). Typical: `intel_iommu=on
 * iommu=pt` added for PCI passthrough (the seed's report,
 * https://lukadeka.com/blog/recovering-nixos-stuck-on-stage-1-boot), or a parameter that decides
 * whether a driver hangs the kernel at boot (https://github.com/NixOS/nixpkgs/issues/97167:
 * `nomodeset`, `intel_iommu=on`). The fix undoes exactly the change on the failed entries (the
 * original entry is kept); init=, root= and zfs= are never touched (the boot-entry request refuses
 * them, and they are the generation's own).
 */
export function stage1KernelParam(c: ClassContext): Finding[] {
  const ch = c.changes;
  if (!ch || !c.lastGood) return [];
  const own = (p: string) => !PROTECTED_PARAM.test(p);
  const added = ch.kernelParams.added.filter(own);
  const removed = ch.kernelParams.removed.filter(own);
  if (added.length + removed.length === 0) return [];
  // A change of the initrd's modules is the stronger suspect (stage1-module, storage-driver-missing,
  // zfs-module-missing say it, with the parameters among what changed): this class speaks only when
  // the command line is what changed for stage 1.
  const i = ch.initrd;
  if (i.loadedAdded.length + i.modulesAdded.length + i.modulesRemoved.length > 0) return [];
  const noBoot = c.bad.filter((g) => c.gens.find((v) => v.number === g.number)?.status === "no-boot");
  if (noBoot.length === 0) return [];
  const entries = noBoot.filter((g) => g.bootEntry !== null);
  const changed = [...added.map((p) => `+${p}`), ...removed.map((p) => `-${p}`)];
  const bad = c.bad.find((g) => g.number === ch.to);
  const evidence: Evidence[] = [
    {
      kind: "boot-entry",
      ref: bad?.bootEntry ?? `generation ${ch.to}`,
      detail: `kernel parameters of generation ${ch.to} against generation ${ch.from}: ${changed.join(" ")}`,
    },
  ];
  for (const p of added) {
    const name = p.split("=")[0] as string;
    const hit = findLine(c.input.configFiles, new RegExp(`kernelParams[^\\n]*"${escapeRegExp(name)}[="]`));
    const detail = hit ? `line ${hit.line}: ${hit.text}` : "";
    if (hit && !evidence.some((e) => e.detail === detail))
      evidence.push({ kind: "file", ref: `/etc/nixos/${hit.path}`, detail });
  }
  const fixes: Proposal[] = [...bootLastGood(c)];
  if (entries.length > 0)
    fixes.push({
      id: `params-undo-${ch.to}`,
      kind: "kernel-param",
      title: `Undo the kernel parameter change (${changed.join(" ")}) on the boot ${plural(entries.length, "entry", "entries")} of ${ranges(entries.map((g) => g.number))}`,
      why: `generation ${ch.to}'s command line differs from generation ${ch.from}'s only by ${changed.join(" ")}, and ${ranges(noBoot.map((g) => g.number))} never got as far as mounting the root`,
      basis: "evidence",
      needsReadWrite: true,
      caution:
        "boots the new generation with the old command line; the original entry is kept and can be restored (…/revert); the next nixos-rebuild rewrites entries, so remove the parameter from boot.kernelParams too",
      evidence,
      requests: entries.map((g) => ({
        method: "POST",
        path: `/v1/boot/entries/${g.bootEntry}/kernel-params`,
        body: { ...(removed.length ? { add: removed } : {}), ...(added.length ? { remove: added } : {}) },
      })),
    });
  return [
    {
      class: "stage1-kernel-param",
      generation: noBoot[0]?.number ?? ch.to,
      cause: `Generation ${ch.to} changed the kernel command line (${changed.join(" ")}) and ${ranges(noBoot.map((g) => g.number))} never got as far as mounting the root: the kernel or stage 1 hangs or panics with ${plural(changed.length, "this parameter", "these parameters")}.`,
      confidence: "medium",
      evidence,
      fixes,
      needs: [
        `a console capture of a boot of generation ${ch.to} (a kernel that hangs or panics in stage 1 writes no journal)`,
      ],
    },
  ];
}
