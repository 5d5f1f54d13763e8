import type {
  BootView,
  Changes,
  DiagnosisInput,
  Evidence,
  GenerationFacts,
  GenerationView,
  Proposal,
} from "./types.js";
import { day, escapeRegExp, plural, ranges } from "./words.js";

export function configHits(
  files: { path: string; text: string }[],
  words: string[],
): { path: string; line: number; text: string; word: string }[] {
  const out: { path: string; line: number; text: string; word: string }[] = [];
  for (const w of words) {
    const esc = escapeRegExp(w);
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

export function proposals(
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
    const hung = gens.some(
      (g) => bad.some((b) => b.number === g.number && b.bootEntry !== null) && g.status === "no-boot",
    );
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
