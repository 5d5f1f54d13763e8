import { packageDiff, unitDiff } from "../closure.js";
import type { Changes, DiagnosisInput, Evidence, GenerationFacts, InitrdFacts } from "./types.js";

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

export function changesBetween(input: DiagnosisInput, from: GenerationFacts, to: GenerationFacts): Changes {
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
