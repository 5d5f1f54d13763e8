import { knownAddresses, knownUsers, unreachableReasons } from "./classes/reach.js";
import type {
  BootView,
  DiagnosisInput,
  Evidence,
  GenerationFacts,
  GenerationStatus,
  GenerationView,
} from "./types.js";
import { day, plural } from "./words.js";

export function mapBoots(input: DiagnosisInput): BootView[] {
  const owner = new Map<string, number>();
  for (const g of input.generations) {
    if (g.toplevel) owner.set(g.toplevel, g.number);
    for (const s of g.specialisations) owner.set(s, g.number);
  }
  const users = knownUsers(input.boots);
  const addrs = knownAddresses(input.boots);
  return input.boots.map((b) => {
    let toplevel: string | null = null;
    if (b.cmdline)
      for (const w of b.cmdline.value.split(/\s+/))
        if (w.startsWith("init="))
          toplevel = /^(\/nix\/store\/[0-9a-z]{32}-[^/]+)\/init$/.exec(w.slice(5))?.[1] ?? null;
    const evidence: Evidence[] = [];
    if (b.cmdline)
      evidence.push({
        kind: "journal",
        ref: b.cmdline.cursor,
        detail: `kernel: Command line: ${b.cmdline.value}`,
      });
    const m = b.milestones;
    for (const x of [m.multiUser, m.startupFinished, m.shutdown])
      if (x) evidence.push({ kind: "journal", ref: x.cursor, detail: x.value });
    for (const f of b.failedUnits) evidence.push({ kind: "journal", ref: f.cursor, detail: f.message });
    if (!m.shutdown && b.lastEntry)
      evidence.push({ kind: "journal", ref: b.lastEntry.cursor, detail: `last entry: ${b.lastEntry.value}` });
    const unreachable = unreachableReasons(b, users, addrs);
    return {
      bootId: b.bootId,
      index: b.index,
      first: b.first,
      last: b.last,
      generation: toplevel ? (owner.get(toplevel) ?? null) : null,
      toplevel,
      cmdline: b.cmdline?.value ?? null,
      reached: m.multiUser || m.startupFinished ? "multi-user" : "stage-2",
      ended: m.shutdown ? "shutdown" : "abrupt",
      failedUnits: b.failedUnits.map((f) => ({ unit: f.unit, message: f.message, count: f.count })),
      kernelErrors: b.kernelErrors.map((k) => k.value),
      // reached multi-user and nothing says it could not be reached or logged into
      reachable: (m.multiUser !== null || m.startupFinished !== null) && unreachable.length === 0,
      unreachable,
      evidence,
    };
  });
}

export function bootWords(b: BootView): string {
  const reached = b.reached === "multi-user" ? "reached multi-user" : "reached stage 2 but not multi-user";
  const ended = b.ended === "shutdown" ? "clean shutdown" : "the journal ends abruptly";
  const units = b.failedUnits.length ? `; failed: ${b.failedUnits.map((f) => f.unit).join(", ")}` : "";
  const reach = b.reachable ? "" : `; could not be reached: ${b.unreachable.join("; ")}`;
  return `${reached}, ${ended}${units}${reach}`;
}

/** systemd-boot: a generation without an entry while others have one was never installed for booting. */
export function neverInstalled(input: DiagnosisInput, g: GenerationFacts): boolean {
  return (
    input.loader === "systemd-boot" &&
    g.bootEntry === null &&
    input.generations.some((x) => x.bootEntry !== null)
  );
}

export function generationViews(input: DiagnosisInput, boots: BootView[]): GenerationView[] {
  const journalOk = input.journal.state === "ok";
  const firstEntry = input.journal.firstEntry;
  return [...input.generations]
    .sort((a, b) => b.number - a.number)
    .map((g) => {
      // journal order: index 0 is the newest boot
      const mine = boots.filter((b) => b.generation === g.number).sort((a, b) => b.index - a.index);
      const last = mine[mine.length - 1] ?? null;
      let status: GenerationStatus;
      let words: string;
      if (!journalOk) {
        status = "unknown";
        words = "no journal to tell whether it booted";
      } else if (last) {
        const ok = (b: BootView) => b.reached === "multi-user" && b.reachable;
        const good = mine.some(ok);
        status = ok(last) ? "booted" : "failed";
        words = `${mine.length} ${plural(mine.length, "boot", "boots")}, the last on ${day(last.first)}: ${bootWords(last)}${status === "failed" && good ? " (earlier boots of it reached multi-user and could be reached)" : ""}`;
      } else if (firstEntry && g.date && g.date < firstEntry) {
        status = "before-journal";
        words = `built ${day(g.date)}, before the journal's first entry (${day(firstEntry)}): its boots were rotated away`;
      } else {
        status = "no-boot";
        words = neverInstalled(input, g)
          ? "no boot-loader entry: it was never booted (the boot loader was not updated for it)"
          : "no boot in the journal";
      }
      if (!g.closurePresent) words += "; its closure is not in the store (garbage-collected): it cannot boot";
      return {
        number: g.number,
        date: g.date,
        status,
        closurePresent: g.closurePresent,
        current: g.current,
        bootDefault: g.bootDefault,
        boots: mine.map((b) => b.bootId),
        lastBoot: last?.bootId ?? null,
        words,
      };
    });
}
