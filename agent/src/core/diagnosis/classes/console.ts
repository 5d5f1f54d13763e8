import type { ConsoleFacts, ConsoleKind, ConsoleLine } from "../../consoleLog.js";
import type { Evidence, FailureClass, Finding } from "../types.js";

/** Which console lines bear out which class (core/consoleLog.ts reads them). */
const SUPPORTS: Partial<Record<FailureClass, ConsoleKind[]>> = {
  "stage1-module": ["kernel-stop"],
  "hostid-changed": ["pool-in-use", "pool-last-host"],
  "pool-in-use-elsewhere": ["pool-in-use", "pool-last-host"],
  "zfs-module-missing": ["module-not-found"],
  "storage-driver-missing": ["pool-import", "no-such-pool", "device-wait", "device-timeout"],
  "root-device-missing": ["device-wait", "device-timeout"],
  "mount-failed": ["emergency-shell"],
};
const UP = { low: "medium", medium: "high", high: "high" } as const;

export const consoleEvidence = (l: ConsoleLine): Evidence => ({
  kind: "console",
  ref: `console line ${l.line}`,
  detail: l.text,
});

/** The console lines that bear out a finding (none: the console says nothing of it). */
function support(f: Finding, c: ConsoleFacts): ConsoleLine[] {
  const kinds = SUPPORTS[f.class];
  if (!kinds) return [];
  let lines = c.found.filter((l) => kinds.includes(l.kind));
  if (f.class === "stage1-module") {
    // the module stage 1 was loading when the kernel stopped must be one the finding names
    if (!c.stuckModule || !new RegExp(`\\b${c.stuckModule}\\b`).test(f.cause)) return [];
    const loading = c.found.filter((l) => l.kind === "module-loading" && l.subject === c.stuckModule).at(-1);
    lines = [...(loading ? [loading] : []), ...lines];
  }
  if (f.class === "zfs-module-missing") lines = lines.filter((l) => l.subject === "zfs");
  if (f.class === "storage-driver-missing" && !lines.some((l) => l.kind !== "pool-import")) return [];
  return lines.slice(0, 4);
}

/**
 * The operator's console capture of a failed boot, applied to the findings: each finding its lines
 * bear out cites them and is one step surer, and no longer asks for a console capture. A capture
 * whose command line names another generation's toplevel is not applied to this one's findings.
 */
export function withConsole(
  findings: Finding[],
  c: ConsoleFacts | null | undefined,
  generationOf: (toplevel: string) => number | null,
): Finding[] {
  if (!c || c.found.length === 0) return findings;
  const booted = c.toplevel ? generationOf(c.toplevel) : null;
  const stage1Stop = c.found.find((l) => l.kind === "stage1-error" || l.kind === "emergency-shell");
  return findings.map((f) => {
    if (booted !== null && f.generation !== null && booted !== f.generation) return f;
    const lines = f.class === "undecided" ? c.found.filter((l) => l.kind !== "command-line") : support(f, c);
    if (lines.length === 0) return f;
    const cited = [...lines, ...(stage1Stop && !lines.includes(stage1Stop) ? [stage1Stop] : [])].slice(0, 6);
    return {
      ...f,
      confidence: f.class === "undecided" ? f.confidence : UP[f.confidence],
      evidence: [...f.evidence, ...cited.map(consoleEvidence)],
      needs: f.needs.filter((n) => !/console capture/.test(n)),
    };
  });
}
