import type { Finding, Proposal } from "../types.js";
import { bootloaderNotUpdated } from "./bootloader.js";
import { withConsole } from "./console.js";
import type { ClassContext } from "./context.js";
import { firewallBlocksSsh } from "./firewall.js";
import { generationsGone } from "./gone.js";
import { hostidChanged } from "./hostid.js";
import { storageDriverMissing, zfsModuleMissing } from "./initrdModules.js";
import { loginsRefused } from "./logins.js";
import { mountFailed } from "./mounts.js";
import { networkMissing } from "./network.js";
import { poolInUseElsewhere } from "./poolLabel.js";
import { rootDeviceMissing } from "./rootDevice.js";
import { spaceFull } from "./space.js";
import { sshdFailed } from "./sshd.js";
import { stage1Module } from "./stage1.js";

export type { ClassContext } from "./context.js";

/** Every failure class, in the order they are tried (the journal's direct evidence before inference). */
const CLASSES: ((c: ClassContext) => Finding[])[] = [
  mountFailed,
  sshdFailed,
  networkMissing,
  loginsRefused,
  firewallBlocksSsh,
  rootDeviceMissing,
  zfsModuleMissing,
  storageDriverMissing,
  hostidChanged,
  poolInUseElsewhere,
  bootloaderNotUpdated,
  stage1Module,
  generationsGone,
  spaceFull,
];

const RANK = { high: 0, medium: 1, low: 2 } as const;

/** What needs saying when no class explains a bad generation. */
function undecided(c: ClassContext): Finding[] {
  if (c.bad.length === 0) return [];
  const needs: string[] = [];
  const g = c.bad[0];
  const v = c.gens.find((x) => x.number === g?.number);
  if (v?.status === "no-boot")
    needs.push(
      `a console capture of a boot of generation ${g?.number} (a boot that stops in stage 1 writes no journal)`,
      "the block devices the rescue system sees and the generation's fstab (a wrong UUID or label)",
      "both generations' initrds (a module added or a storage driver dropped)",
    );
  else if (v?.status === "failed")
    needs.push(`the errors of generation ${g?.number}'s boot (priority err and worse, sshd's lines)`);
  else needs.push("a boot of the bad generation in the journal");
  return [
    {
      class: "undecided",
      generation: g?.number ?? null,
      cause: `No known failure class explains generation ${g?.number}.`,
      confidence: "low",
      evidence: [],
      fixes: c.proposals.filter((p) => p.kind === "loader-default"),
      needs,
    },
  ];
}

/** The findings, most likely first, and the proposals with the first findings' fixes in front. */
export function classify(c: ClassContext): { findings: Finding[]; proposals: Proposal[] } {
  let findings = CLASSES.flatMap((f) => f(c));
  findings = findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => RANK[a.f.confidence] - RANK[b.f.confidence] || a.i - b.i)
    .map((x) => x.f);
  if (findings.length === 0) findings = undecided(c);
  // the operator's console capture bears out (and raises) the findings it shows
  const byToplevel = new Map(c.input.generations.map((g) => [g.toplevel, g.number]));
  findings = withConsole(findings, c.input.console, (t) => byToplevel.get(t) ?? null);
  findings = findings
    .map((f, i) => ({ f, i }))
    .sort((a, b) => RANK[a.f.confidence] - RANK[b.f.confidence] || a.i - b.i)
    .map((x) => x.f);
  const seen = new Set<string>();
  const proposals: Proposal[] = [];
  for (const p of [...findings.flatMap((f) => f.fixes), ...c.proposals])
    if (!seen.has(p.id)) {
      seen.add(p.id);
      proposals.push(p);
    }
  return { findings, proposals };
}
