import { bootWords, generationViews, mapBoots, neverInstalled } from "./boots.js";
import { changesBetween } from "./changes.js";
import { classify } from "./classes/index.js";
import { proposals } from "./proposals.js";
import type {
  BootView,
  Diagnosis,
  DiagnosisInput,
  GenerationFacts,
  GenerationView,
  JournalFacts,
  Proposal,
} from "./types.js";
import { day, plural, ranges } from "./words.js";

function journalWords(j: JournalFacts): string {
  if (j.state === "missing")
    return `the installed system has no persistent journal${j.dir ? ` (${j.dir})` : ""}${j.detail ? `: ${j.detail}` : ""}`;
  if (j.state === "volatile")
    return `the installed system keeps its journal in memory only${j.detail ? ` (${j.detail})` : ""}`;
  if (j.state === "empty") return "the installed system's journal holds no boots";
  if (j.state === "unreadable")
    return `the installed system's journal could not be read${j.detail ? `: ${j.detail}` : ""}`;
  return "";
}

export function diagnose(input: DiagnosisInput): Diagnosis {
  const boots = mapBoots(input);
  const gens = generationViews(input, boots);
  const facts = new Map(input.generations.map((g) => [g.number, g]));
  const notes: string[] = [];
  const journalOk = input.journal.state === "ok";
  if (journalOk && input.journal.bootsExamined < input.journal.bootsTotal)
    notes.push(
      `the journal has ${input.journal.bootsTotal} boots; the newest ${input.journal.bootsExamined} were examined`,
    );
  // Generations that are gone: boots of toplevels no generation link points to any more.
  const gone: Diagnosis["gone"] = [];
  for (const b of boots)
    if (b.generation === null && b.toplevel && !gone.some((x) => x.toplevel === b.toplevel))
      gone.push({
        generation: null,
        toplevel: b.toplevel,
        detail: `booted ${day(b.first)} (${bootWords(b)}); no generation links to it any more (deleted, its closure probably garbage-collected)`,
      });
  for (const g of input.generations)
    if (!g.closurePresent)
      gone.push({
        generation: g.number,
        toplevel: g.toplevel ?? "",
        detail: `generation ${g.number}'s closure is not in the store (garbage-collected): it cannot boot`,
      });
  // The last good generation: the one of the newest boot that reached multi-user.
  const good = boots
    .filter((b) => b.reached === "multi-user" && b.reachable && b.generation !== null)
    .sort((a, b) => b.index - a.index)[0];
  let lastGood = good ? (facts.get(good.generation as number) ?? null) : null;
  let basis: Proposal["basis"] = "evidence";
  const newest = [...input.generations].sort((a, b) => b.number - a.number);
  if (!lastGood && !journalOk) {
    // No journal: the newest generation before the boot default is the best guess.
    const def = newest.find((g) => g.bootDefault) ?? newest[0];
    lastGood = def ? (newest.find((g) => g.number < def.number && g.closurePresent) ?? null) : null;
    basis = "guess";
  }
  const bad = lastGood ? newest.filter((g) => g.number > (lastGood as GenerationFacts).number).reverse() : [];
  const firstBad = bad[0] ?? null;
  const changes = lastGood && firstBad ? changesBetween(input, lastGood, firstBad) : null;
  // One sentence.
  let sentence: string;
  const goodView = lastGood ? gens.find((g) => g.number === lastGood?.number) : undefined;
  const goodBoot = good ? boots.find((b) => b.bootId === good.bootId) : undefined;
  if (!journalOk) {
    const head = journalWords(input.journal);
    const def = newest.find((g) => g.bootDefault) ?? newest[0];
    sentence = `${head.charAt(0).toUpperCase()}${head.slice(1)}: boots cannot be matched to generations.${
      def ? ` The boot default is generation ${def.number} (${day(def.date)})` : ""
    }${lastGood ? `; without evidence, generation ${lastGood.number}, the one before it, is the one to fall back to.` : "."}`;
  } else if (!good) {
    sentence =
      boots.length === 0
        ? "The journal has no boots."
        : `No boot in the journal reached multi-user with a known generation${boots.some((b) => b.generation === null) ? " (the boots' command lines name no current generation)" : ""}.`;
  } else {
    const gv = goodView as GenerationView;
    const later = boots.some((b) => b.index > (goodBoot?.index ?? 0));
    const head = `Generation ${gv.number} booted last${later ? " successfully" : ""} (${day(goodBoot?.first ?? null)}, ${goodBoot?.ended === "shutdown" ? "clean shutdown" : "the journal ends abruptly"})`;
    if (bad.length === 0)
      sentence = `${head}; it is the newest generation: no newer configuration explains a failure.`;
    else {
      const parts: string[] = [];
      const noEntry = bad
        .filter(
          (g) => gens.find((x) => x.number === g.number)?.status === "no-boot" && neverInstalled(input, g),
        )
        .map((g) => g.number);
      const noBoot = bad
        .filter(
          (g) => gens.find((x) => x.number === g.number)?.status === "no-boot" && !noEntry.includes(g.number),
        )
        .map((g) => g.number);
      for (const g of bad) {
        const v = gens.find((x) => x.number === g.number) as GenerationView;
        if (v.status === "failed") {
          const last = boots.find((b) => b.bootId === v.lastBoot) as BootView;
          parts.push(
            last.reached === "multi-user" && !last.reachable
              ? `generation ${g.number} booted on ${day(last.first)} to multi-user but could not be reached: ${last.unreachable.join("; ")}`
              : `generation ${g.number} booted on ${day(last.first)} but ${last.failedUnits.length ? `${last.failedUnits.map((f) => f.unit).join(", ")} failed and ` : "did not reach multi-user and "}${last.ended === "shutdown" ? "it was shut down" : "the journal ends abruptly"}`,
          );
        } else if (v.status === "booted")
          parts.push(
            `generation ${g.number} booted to multi-user too (${day(boots.find((b) => b.bootId === v.lastBoot)?.first ?? null)})`,
          );
      }
      if (noEntry.length)
        parts.push(
          `${ranges(noEntry)} ${plural(noEntry.length, "has", "have")} no boot-loader entry: never booted (the boot loader was not updated for ${plural(noEntry.length, "it", "them")})`,
        );
      if (noBoot.length)
        parts.push(
          `${ranges(noBoot)} ${plural(noBoot.length, "has", "have")} no boot in the journal: ${plural(noBoot.length, "it hangs", "they hang")} before the root is mounted`,
        );
      sentence = `${head}; ${parts.join("; ")}.`;
    }
  }
  if (lastGood && !lastGood.closurePresent)
    sentence += ` Generation ${lastGood.number}'s closure is no longer in the store: it cannot be booted again.`;
  // The paragraph.
  const para: string[] = [sentence];
  if (changes) {
    const c = changes;
    const bits: string[] = [];
    if (c.kernel) bits.push(`kernel ${c.kernel.before ?? "?"} → ${c.kernel.after ?? "?"}`);
    if (c.kernelParams.added.length || c.kernelParams.removed.length)
      bits.push(
        `kernel parameters ${[...c.kernelParams.added.map((p) => `+${p}`), ...c.kernelParams.removed.map((p) => `-${p}`)].join(" ")}`,
      );
    if (c.initrd.loadedAdded.length) bits.push(`stage 1 now loads ${c.initrd.loadedAdded.join(", ")}`);
    else if (c.initrd.modulesAdded.length)
      bits.push(`initrd modules added: ${c.initrd.modulesAdded.slice(0, 8).join(", ")}`);
    if (c.units && (c.units.added.length || c.units.removed.length))
      bits.push(
        `units ${[...c.units.added.map((u) => `+${u}`), ...c.units.removed.map((u) => `-${u}`)].slice(0, 8).join(" ")}`,
      );
    if (c.units?.changed.length)
      bits.push(`${c.units.changed.length} ${plural(c.units.changed.length, "unit", "units")} changed`);
    if (c.packages) {
      const p = c.packages;
      const n = p.added.length + p.removed.length + p.changed.length;
      if (n)
        bits.push(
          `packages: ${[...p.changed.slice(0, 4).map((x) => `${x.pname} ${x.before.join("/")}→${x.after.join("/")}`), ...p.added.slice(0, 3).map((x) => `+${x.pname}`), ...p.removed.slice(0, 3).map((x) => `-${x.pname}`)].join(", ")}${n > 10 ? ` (${n} in all)` : ""}`,
        );
    }
    if (c.commits.length)
      bits.push(`${c.commits.length} ${plural(c.commits.length, "commit", "commits")} in /etc/nixos`);
    para.push(
      bits.length
        ? `From ${c.from} to ${c.to}: ${bits.join("; ")}.`
        : `Nothing readable differs between ${c.from} and ${c.to}.`,
    );
  }
  const general = proposals(input, gens, boots, lastGood, bad, changes, basis);
  const { findings, proposals: props } = classify({
    input,
    boots,
    gens,
    lastGood,
    bad,
    changes,
    proposals: general,
  });
  const cause = findings[0] && findings[0].class !== "undecided" ? findings[0].cause : null;
  if (cause) para.splice(1, 0, `Cause (${findings[0]?.confidence}): ${cause}`);
  if (props.length)
    para.push(
      `Proposed, nothing done yet: ${props.map((p) => p.title.charAt(0).toLowerCase() + p.title.slice(1)).join("; ")}.`,
    );
  if (gone.length && !(lastGood && !lastGood.closurePresent))
    para.push(
      `Gone: ${gone
        .map((g) =>
          g.generation !== null
            ? `generation ${g.generation}`
            : g.toplevel.replace(/^\/nix\/store\/[0-9a-z]{32}-/, ""),
        )
        .join(", ")}.`,
    );
  return {
    summary: para.join(" "),
    sentence,
    journal: input.journal,
    lastGood: lastGood?.number ?? null,
    firstBad: firstBad?.number ?? null,
    bad: bad.map((g) => g.number),
    gone,
    boots,
    generations: gens,
    changes,
    proposals: props,
    findings,
    cause,
    notes,
  };
}
