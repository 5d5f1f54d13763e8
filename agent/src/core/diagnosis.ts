import { type PackageDiff, packageDiff, type UnitDiff, unitDiff } from "./closure.js";
import type { ChangedLine, GitCommit } from "./gitlog.js";
import type { InitrdInfo } from "./initrd.js";
import type { BootMilestones, FailedUnit, Located } from "./journalBoots.js";

/**
 * The diagnosis planner: boots ↔ generations, what changed between the last good generation and
 * the first bad one, and which existing API requests would fix it. Pure: fed facts, returns data.
 */

/** Where a claim comes from: a journal entry (cursor), a file or store path, a snapshot, a commit. */
export interface Evidence {
  kind: "journal" | "file" | "store-path" | "snapshot" | "git" | "boot-entry";
  ref: string;
  detail: string;
}

export interface BootFacts {
  bootId: string;
  index: number;
  first: string | null;
  last: string | null;
  cmdline: Located<string> | null;
  milestones: BootMilestones;
  failedUnits: FailedUnit[];
  kernelErrors: Located<string>[];
  lastEntry: Located<string> | null;
}

export interface InitrdFacts {
  path: string | null;
  info: InitrdInfo | null;
  note: string | null;
}

export interface GenerationFacts {
  number: number;
  date: string | null;
  toplevel: string | null;
  closurePresent: boolean;
  current: boolean;
  bootDefault: boolean;
  nixosVersion: string | null;
  kernelVersion: string | null;
  kernelParams: string[];
  /** Toplevels of its specialisations (a boot of one counts for the generation). */
  specialisations: string[];
  /** systemd-boot entry id (`nixos-generation-N`), null without one. */
  bootEntry: string | null;
  initrd: InitrdFacts;
  /** etc/systemd/system: unit → link target; null when unreadable. */
  units: Map<string, string> | null;
  /** Store paths the generation links to (toplevel links + sw); null when unreadable. */
  packages: string[] | null;
}

export type JournalState = "ok" | "missing" | "volatile" | "unreadable" | "empty";

export interface JournalFacts {
  state: JournalState;
  dir: string | null;
  detail: string | null;
  bootsTotal: number;
  bootsExamined: number;
  firstEntry: string | null;
}

export interface GitFacts {
  state: "ok" | "no-repository" | "unavailable" | "refused" | "failed";
  detail: string | null;
  commits: GitCommit[];
  changes: ChangedLine[];
}

export interface DiagnosisInput {
  journal: JournalFacts;
  boots: BootFacts[];
  generations: GenerationFacts[];
  loader: "systemd-boot" | "grub" | "unknown";
  /** Recursive snapshots of the root pool (null: not ZFS or unreadable). */
  snapshots: { snapshot: string; created: string | null }[] | null;
  configFiles: { path: string; text: string }[];
  git: GitFacts;
}

export type BootOutcome = "multi-user" | "stage-2";

export interface BootView {
  bootId: string;
  index: number;
  first: string | null;
  last: string | null;
  generation: number | null;
  toplevel: string | null;
  cmdline: string | null;
  reached: BootOutcome;
  ended: "shutdown" | "abrupt";
  failedUnits: { unit: string; message: string; count: number }[];
  kernelErrors: string[];
  evidence: Evidence[];
}

export type GenerationStatus = "booted" | "failed" | "no-boot" | "before-journal" | "unknown";

export interface GenerationView {
  number: number;
  date: string | null;
  status: GenerationStatus;
  closurePresent: boolean;
  current: boolean;
  bootDefault: boolean;
  boots: string[];
  lastBoot: string | null;
  words: string;
}

export interface Changes {
  from: number;
  to: number;
  kernel: { before: string | null; after: string | null } | null;
  kernelParams: { added: string[]; removed: string[] };
  initrd: {
    loadedAdded: string[];
    loadedRemoved: string[];
    modulesAdded: string[];
    modulesRemoved: string[];
    notes: string[];
  };
  units: UnitDiff | null;
  packages: (PackageDiff & { method: string }) | null;
  commits: GitCommit[];
  configChanges: ChangedLine[];
  evidence: Evidence[];
  notes: string[];
}

export interface ApiRequest {
  method: "GET" | "POST";
  path: string;
  body?: Record<string, unknown>;
}

export interface Proposal {
  id: string;
  kind: "loader-default" | "kernel-param" | "snapshot-rollback" | "open-config";
  title: string;
  why: string;
  /** "evidence": the journal and the closures support it; "guess": they cannot (no journal). */
  basis: "evidence" | "guess";
  needsReadWrite: boolean;
  caution: string | null;
  evidence: Evidence[];
  requests: ApiRequest[];
  /** For open-config: the file (under /etc/nixos) and line to look at. */
  config?: { path: string; line: number };
}

export interface Diagnosis {
  summary: string;
  sentence: string;
  journal: JournalFacts;
  lastGood: number | null;
  firstBad: number | null;
  bad: number[];
  gone: { generation: number | null; toplevel: string; detail: string }[];
  boots: BootView[];
  generations: GenerationView[];
  changes: Changes | null;
  proposals: Proposal[];
  notes: string[];
}

const day = (iso: string | null) => (iso ? iso.slice(0, 10) : "an unknown date");

/** 41, 42, 43, 45 → "41–43, 45". */
export function ranges(ns: number[]): string {
  const s = [...new Set(ns)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < s.length; ) {
    let j = i;
    while (j + 1 < s.length && (s[j + 1] as number) === (s[j] as number) + 1) j++;
    out.push(j === i ? String(s[i]) : `${s[i]}–${s[j]}`);
    i = j + 1;
  }
  return out.join(", ");
}

const plural = (n: number, one: string, many: string) => (n === 1 ? one : many);

function mapBoots(input: DiagnosisInput): BootView[] {
  const owner = new Map<string, number>();
  for (const g of input.generations) {
    if (g.toplevel) owner.set(g.toplevel, g.number);
    for (const s of g.specialisations) owner.set(s, g.number);
  }
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
      evidence,
    };
  });
}

function bootWords(b: BootView): string {
  const reached = b.reached === "multi-user" ? "reached multi-user" : "reached stage 2 but not multi-user";
  const ended = b.ended === "shutdown" ? "clean shutdown" : "the journal ends abruptly";
  const units = b.failedUnits.length ? `; failed: ${b.failedUnits.map((f) => f.unit).join(", ")}` : "";
  return `${reached}, ${ended}${units}`;
}

function generationViews(input: DiagnosisInput, boots: BootView[]): GenerationView[] {
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
        const good = mine.some((b) => b.reached === "multi-user");
        status = last.reached === "multi-user" ? "booted" : "failed";
        words = `${mine.length} ${plural(mine.length, "boot", "boots")}, the last on ${day(last.first)}: ${bootWords(last)}${status === "failed" && good ? " (earlier boots of it reached multi-user)" : ""}`;
      } else if (firstEntry && g.date && g.date < firstEntry) {
        status = "before-journal";
        words = `built ${day(g.date)}, before the journal's first entry (${day(firstEntry)}): its boots were rotated away`;
      } else {
        status = "no-boot";
        words = "no boot in the journal";
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

function diffInitrd(a: InitrdFacts, b: InitrdFacts): Changes["initrd"] {
  const minus = (x: string[], y: string[]) => x.filter((m) => !y.includes(m));
  const ai = a.info;
  const bi = b.info;
  return {
    loadedAdded: ai?.loaded && bi?.loaded ? minus(bi.loaded, ai.loaded) : [],
    loadedRemoved: ai?.loaded && bi?.loaded ? minus(ai.loaded, bi.loaded) : [],
    modulesAdded: ai && bi ? minus(bi.modules, ai.modules) : [],
    modulesRemoved: ai && bi ? minus(ai.modules, bi.modules) : [],
    notes: [],
  };
}

function changesBetween(input: DiagnosisInput, from: GenerationFacts, to: GenerationFacts): Changes {
  const notes: string[] = [];
  const evidence: Evidence[] = [];
  for (const g of [from, to]) {
    if (g.toplevel) evidence.push({ kind: "store-path", ref: g.toplevel, detail: `generation ${g.number}` });
    if (g.initrd.path)
      evidence.push({ kind: "store-path", ref: g.initrd.path, detail: `generation ${g.number}'s initrd` });
    if (!g.closurePresent)
      notes.push(
        `generation ${g.number}'s closure is not in the store (garbage-collected): only what its boot entry and profile link say is known`,
      );
  }
  const initrd = diffInitrd(from.initrd, to.initrd);
  for (const [g, f] of [
    [from, from.initrd],
    [to, to.initrd],
  ] as const) {
    if (f.note) initrd.notes.push(`generation ${g.number}: ${f.note}`);
    for (const x of f.info?.notes ?? []) initrd.notes.push(`generation ${g.number}'s initrd: ${x}`);
    if (f.info && f.info.loaded === null)
      initrd.notes.push(`generation ${g.number}: which modules its stage 1 loads by itself is not readable`);
  }
  const paramsA = from.kernelParams;
  const paramsB = to.kernelParams;
  let packages: Changes["packages"] = null;
  if (from.packages && to.packages)
    packages = { ...packageDiff(from.packages, to.packages), method: "store-path-names" };
  else notes.push("package versions: a closure is missing, so no package comparison");
  const commits = input.git.commits;
  return {
    from: from.number,
    to: to.number,
    kernel:
      from.kernelVersion !== to.kernelVersion
        ? { before: from.kernelVersion, after: to.kernelVersion }
        : null,
    kernelParams: {
      added: paramsB.filter((p) => !paramsA.includes(p)),
      removed: paramsA.filter((p) => !paramsB.includes(p)),
    },
    initrd,
    units: from.units && to.units ? unitDiff(from.units, to.units) : null,
    packages,
    commits,
    configChanges: input.git.changes,
    evidence,
    notes,
  };
}

/** Lines of /etc/nixos that name one of `words` (as a whole word or quoted string). */
function configHits(
  files: { path: string; text: string }[],
  words: string[],
): { path: string; line: number; text: string; word: string }[] {
  const out: { path: string; line: number; text: string; word: string }[] = [];
  for (const w of words) {
    const esc = w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    const re = new RegExp(`(^|[^A-Za-z0-9_-])${esc}($|[^A-Za-z0-9_-])`);
    for (const f of files) {
      const lines = f.text.split("\n");
      const i = lines.findIndex((l) => re.test(l) && !/^\s*#/.test(l));
      if (i >= 0) {
        out.push({ path: f.path, line: i + 1, text: (lines[i] as string).trim().slice(0, 200), word: w });
        break;
      }
    }
  }
  return out;
}

function proposals(
  input: DiagnosisInput,
  gens: GenerationView[],
  boots: BootView[],
  lastGood: GenerationFacts | null,
  bad: GenerationFacts[],
  changes: Changes | null,
  basis: Proposal["basis"],
): Proposal[] {
  const out: Proposal[] = [];
  const goodBoot = lastGood
    ? boots
        .filter((b) => b.generation === lastGood.number && b.reached === "multi-user")
        .sort((a, b) => a.index - b.index)
        .at(-1)
    : undefined;
  const badWords = bad.length
    ? `generation${bad.length > 1 ? "s" : ""} ${ranges(bad.map((g) => g.number))}`
    : "";
  if (lastGood?.closurePresent && bad.length > 0) {
    const ev: Evidence[] = goodBoot ? goodBoot.evidence.slice(0, 3) : [];
    if (lastGood.toplevel)
      ev.push({ kind: "store-path", ref: lastGood.toplevel, detail: `generation ${lastGood.number}` });
    const systemdBoot = input.loader === "systemd-boot" && lastGood.bootEntry !== null;
    out.push({
      id: `boot-generation-${lastGood.number}`,
      kind: "loader-default",
      title: `Boot generation ${lastGood.number} by default`,
      why:
        basis === "evidence"
          ? `generation ${lastGood.number} is the last one that booted to multi-user (${day(goodBoot?.first ?? null)}); ${badWords} did not`
          : `without a journal nothing shows which generation worked: ${lastGood.number} is the newest one before the boot default`,
      basis,
      needsReadWrite: true,
      caution: systemdBoot
        ? "changes loader.conf's default only (a backup is kept; a snapshot is taken first); the next nixos-rebuild resets it"
        : "switches the system profile and reinstalls the boot loader in nixos-enter (a job; a snapshot is taken first)",
      evidence: ev,
      requests: [
        {
          method: "POST",
          path: "/v1/boot/default",
          body: systemdBoot
            ? { generation: lastGood.number }
            : { generation: lastGood.number, mode: "profile" },
        },
      ],
    });
  }
  if (changes && input.loader === "systemd-boot") {
    const forced = changes.initrd.loadedAdded;
    const mods = forced.length ? forced : changes.initrd.modulesAdded.slice(0, 5);
    const hung = gens.some((g) => bad.some((b) => b.number === g.number) && g.status === "no-boot");
    const entries = bad.filter((g) => g.bootEntry !== null);
    if (mods.length && entries.length && (hung || forced.length)) {
      const param = `module_blacklist=${mods.join(",")}`;
      const to = bad.find((g) => g.number === changes.to);
      const ev: Evidence[] = [];
      if (to?.initrd.path)
        ev.push({
          kind: "store-path",
          ref: to.initrd.path,
          detail: forced.length
            ? `stage 1 of generation ${changes.to} loads ${forced.join(", ")} (${to.initrd.info?.loadedFrom ?? "?"} in the initrd); generation ${changes.from}'s does not`
            : `generation ${changes.to}'s initrd carries ${mods.join(", ")}; generation ${changes.from}'s does not`,
        });
      if (lastGood?.initrd.path)
        ev.push({
          kind: "store-path",
          ref: lastGood.initrd.path,
          detail: `generation ${lastGood.number}'s initrd`,
        });
      for (const g of gens.filter((x) => bad.some((b) => b.number === x.number) && x.status === "no-boot"))
        ev.push({
          kind: "boot-entry",
          ref: `nixos-generation-${g.number}`,
          detail: `generation ${g.number}: no boot in the journal`,
        });
      out.push({
        id: `blacklist-${mods.join("-")}`,
        kind: "kernel-param",
        title: `Add ${param} to the boot ${plural(entries.length, "entry", "entries")} of ${ranges(entries.map((g) => g.number))}`,
        why: forced.length
          ? `${mods.join(", ")} ${plural(mods.length, "is", "are")} new in generation ${changes.to}'s initrd and loaded unconditionally in stage 1; ${hung ? `${badWords} never got as far as mounting the root` : `${badWords} did not boot to multi-user`}`
          : `${mods.join(", ")} ${plural(mods.length, "is", "are")} new in generation ${changes.to}'s initrd (loaded when matching hardware appears); ${badWords} never got as far as mounting the root`,
        basis,
        needsReadWrite: true,
        caution:
          "the kernel then refuses to load these modules at all; harmless unless the root device needs them. The original entry is kept and can be restored (…/revert); the next nixos-rebuild rewrites entries",
        evidence: ev,
        requests: entries.map((g) => ({
          method: "POST",
          path: `/v1/boot/entries/${g.bootEntry}/kernel-params`,
          body: { add: [param] },
        })),
      });
    }
  }
  // The configuration: the line that names a new module or a failing unit, or a changed line.
  // failing units first (the stronger evidence), then the modules new in the initrd
  const words = new Set<string>();
  const failing = new Set<string>();
  for (const b of boots)
    if (b.generation !== null && bad.some((g) => g.number === b.generation))
      for (const f of b.failedUnits) failing.add(f.unit);
  for (const u of failing) words.add(u.replace(/\.(service|socket|timer|mount|target)$/, ""));
  if (changes) for (const m of [...changes.initrd.loadedAdded, ...changes.initrd.modulesAdded]) words.add(m);
  const hits = configHits(input.configFiles, [...words]);
  const seen = new Set<string>();
  for (const hit of hits.slice(0, 4)) {
    const key = `${hit.path}:${hit.line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const isUnit = [...failing].some((u) => u.startsWith(`${hit.word}.`));
    out.push({
      id: `config-${hit.path}-${hit.line}`,
      kind: "open-config",
      title: `Open /etc/nixos/${hit.path} at line ${hit.line}`,
      why: isUnit
        ? `it configures ${hit.word}, which failed in ${badWords}`
        : `it names ${hit.word}, new in generation ${changes?.to ?? "?"}'s initrd`,
      basis,
      needsReadWrite: false,
      caution:
        "reading it changes nothing; saving needs a read-write mount, and a rebuild makes a new generation",
      evidence: [{ kind: "file", ref: `/etc/nixos/${hit.path}`, detail: `line ${hit.line}: ${hit.text}` }],
      requests: [
        { method: "GET", path: `/v1/config/${hit.path.split("/").map(encodeURIComponent).join("/")}` },
      ],
      config: { path: hit.path, line: hit.line },
    });
  }
  if (changes && hits.length === 0)
    for (const c of changes.configChanges.slice(0, 2)) {
      const rel = c.file.replace(/^\/?etc\/nixos\//, "");
      out.push({
        id: `config-${rel}-${c.line}`,
        kind: "open-config",
        title: `Open /etc/nixos/${rel} at line ${c.line}`,
        why: `this line changed between generation ${changes.from} and ${changes.to} (git)`,
        basis,
        needsReadWrite: false,
        caution: "reading it changes nothing",
        evidence: [{ kind: "git", ref: `${rel}:${c.line}`, detail: c.added.join(" ⏎ ").slice(0, 200) }],
        requests: [{ method: "GET", path: `/v1/config/${rel.split("/").map(encodeURIComponent).join("/")}` }],
        config: { path: rel, line: c.line },
      });
    }
  // A snapshot from before the first bad generation: the heavy hammer, last.
  const firstBad = bad
    .map((g) => g.date)
    .filter((d): d is string => d !== null)
    .sort()[0];
  if (input.snapshots && firstBad) {
    const before = input.snapshots
      .filter((s) => s.created !== null && (s.created as string) < firstBad)
      .sort((a, b) => ((a.created as string) < (b.created as string) ? 1 : -1))[0];
    if (before)
      out.push({
        id: `rollback-${before.snapshot}`,
        kind: "snapshot-rollback",
        title: `Roll the pool back to snapshot ${before.snapshot}`,
        why: `it was taken ${day(before.created)}, before ${badWords} existed (${day(firstBad)})`,
        basis,
        needsReadWrite: true,
        caution:
          "DESTRUCTIVE: every dataset of the pool returns to that moment; everything written since (and later snapshots) is lost",
        evidence: [{ kind: "snapshot", ref: before.snapshot, detail: `created ${before.created}` }],
        requests: [
          {
            method: "POST",
            path: `/v1/snapshots/${encodeURIComponent(before.snapshot)}/rollback`,
            body: { confirm: before.snapshot },
          },
        ],
      });
  }
  return out;
}

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
    .filter((b) => b.reached === "multi-user" && b.generation !== null)
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
      const noBoot = bad
        .filter((g) => gens.find((x) => x.number === g.number)?.status === "no-boot")
        .map((g) => g.number);
      for (const g of bad) {
        const v = gens.find((x) => x.number === g.number) as GenerationView;
        if (v.status === "failed") {
          const last = boots.find((b) => b.bootId === v.lastBoot) as BootView;
          parts.push(
            `generation ${g.number} booted on ${day(last.first)} but ${last.failedUnits.length ? `${last.failedUnits.map((f) => f.unit).join(", ")} failed and ` : "did not reach multi-user and "}${last.ended === "shutdown" ? "it was shut down" : "the journal ends abruptly"}`,
          );
        } else if (v.status === "booted")
          parts.push(
            `generation ${g.number} booted to multi-user too (${day(boots.find((b) => b.bootId === v.lastBoot)?.first ?? null)})`,
          );
      }
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
  const props = proposals(input, gens, boots, lastGood, bad, changes, basis);
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
    notes,
  };
}
