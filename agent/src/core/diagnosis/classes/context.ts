import type { JournalRecord } from "../../journalBoots.js";
import type {
  BootFacts,
  BootView,
  Changes,
  DiagnosisInput,
  Evidence,
  GenerationFacts,
  GenerationView,
  Proposal,
} from "../types.js";

/** What every failure class reads: the facts, the planner's views, and the general proposals. */
export interface ClassContext {
  input: DiagnosisInput;
  boots: BootView[];
  gens: GenerationView[];
  lastGood: GenerationFacts | null;
  bad: GenerationFacts[];
  changes: Changes | null;
  /** The planner's own proposals (boot the last good generation, blacklist, open config, roll back). */
  proposals: Proposal[];
}

export const journalEvidence = (r: JournalRecord | { cursor: string; message: string }): Evidence => ({
  kind: "journal",
  ref: r.cursor,
  detail: r.message,
});

/** The newest boot of a generation, with its raw facts (journal order: index 0 is the newest). */
export function lastBootOf(c: ClassContext, generation: number): { view: BootView; facts: BootFacts } | null {
  const view = c.boots
    .filter((b) => b.generation === generation)
    .sort((a, b) => b.index - a.index)
    .at(-1);
  const facts = view ? c.input.boots.find((b) => b.bootId === view.bootId) : undefined;
  return view && facts ? { view, facts } : null;
}

/** The newest good boot of the last good generation. */
export function goodBootOf(c: ClassContext): { view: BootView; facts: BootFacts } | null {
  if (!c.lastGood) return null;
  const n = c.lastGood.number;
  const view = c.boots
    .filter((b) => b.generation === n && b.reached === "multi-user" && b.reachable)
    .sort((a, b) => b.index - a.index)
    .at(-1);
  const facts = view ? c.input.boots.find((b) => b.bootId === view.bootId) : undefined;
  return view && facts ? { view, facts } : null;
}

/** The planner's "boot the last good generation" proposal, when there is one. */
export const bootLastGood = (c: ClassContext): Proposal[] =>
  c.proposals.filter((p) => p.kind === "loader-default");

/** The bad generations whose newest boot reached stage 2 (their journal says something). */
export function badBoots(c: ClassContext): { g: GenerationFacts; view: BootView; facts: BootFacts }[] {
  const out: { g: GenerationFacts; view: BootView; facts: BootFacts }[] = [];
  for (const g of c.bad) {
    const b = lastBootOf(c, g.number);
    if (b) out.push({ g, ...b });
  }
  return out;
}

/** systemd's unit-name unescaping (systemd-escape --unescape --path): `mnt-extern.mount` → `/mnt/extern`. */
export function unitPath(unit: string): string {
  const stem = unit.replace(/\.[a-z]+$/, "");
  const path = stem
    .split("-")
    .map((p) =>
      p.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16))),
    )
    .join("/");
  return `/${path === "" ? "" : path}`.replace(/^\/\/$/, "/");
}
