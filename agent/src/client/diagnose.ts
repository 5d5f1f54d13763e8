import { readFile } from "node:fs/promises";
import { table } from "./format.js";
import { ClientError, type Connection } from "./http.js";
import { withProgress } from "./progress.js";

interface Proposal {
  id: string;
  kind: string;
  title: string;
  why: string;
  basis: string;
  caution: string | null;
  evidence: { kind: string; ref: string; detail: string }[];
  requests: {
    method: string;
    path: string;
    body?: Record<string, unknown>;
    headers?: Record<string, string>;
  }[];
  config?: { path: string; line: number };
  diff?: string;
  /** This rescue already made the change it asks for. */
  done?: { at: string; snapshot: string | null } | null;
}
interface Diagnosis {
  summary: string;
  sentence: string;
  generations: { number: number; date: string | null; status: string; words: string }[];
  changes: unknown;
  proposals: Proposal[];
  findings?: {
    class: string;
    confidence: string;
    needs: string[];
    evidence?: { kind: string; ref: string; detail: string }[];
  }[];
  notes: string[];
}

export interface DiagnoseIO {
  out: (s: string) => void;
  err: (s: string) => void;
  confirm: (q: string) => Promise<boolean>;
}

const req = (r: Proposal["requests"][number]) =>
  `${r.method} ${r.path}${r.body ? ` ${r.method === "PUT" ? "(the edited file, diff shown)" : JSON.stringify(r.body)}` : ""}`;
const indent = (text: string, pad: string) =>
  text
    .trimEnd()
    .split("\n")
    .map((l) => `${pad}${l}\n`)
    .join("");

/** At most what the agent reads of a console capture (core/consoleLog.ts MAX_CONSOLE_BYTES). */
const MAX_CONSOLE = 1024 * 1024;

/** `--console FILE`: the console text of a failed boot (a serial log, a pasted capture), sent for the diagnosis to read. */
async function giveConsole(c: Connection, io: DiagnoseIO, file: string): Promise<void> {
  let text: string;
  try {
    const buf = await readFile(file);
    // a longer serial log: its end is where the boot stopped
    text = buf.subarray(Math.max(0, buf.length - MAX_CONSOLE)).toString("utf8");
  } catch (err) {
    throw new ClientError(`--console ${file}: ${(err as Error).message}`, 0, "usage");
  }
  const r = await c.json<{ lines: number; found: { line: number; text: string }[] }>(
    "POST",
    "/v1/diagnosis/console",
    { text },
  );
  io.err(`console: ${r.lines} lines read, ${r.found.length} the diagnosis can cite\n`);
}

/**
 * `lifeboat client diagnose [--console FILE] [--apply N] [--json] [--yes]`: the diagnosis, and (with --apply) the
 * requests of proposal N after showing them and asking.
 */
export async function diagnoseCommand(
  c: Connection,
  io: DiagnoseIO,
  opts: { json: boolean; yes: boolean; apply: string | undefined; console?: string },
): Promise<number> {
  if (opts.console !== undefined) await giveConsole(c, io, opts.console);
  // Computed once per state of the installed system; while it runs, its progress goes to stderr.
  const d = await withProgress(c, io.err, c.json<Diagnosis>("GET", "/v1/diagnosis"));
  if (opts.apply === undefined) {
    if (opts.json) {
      io.out(`${JSON.stringify(d, null, 2)}\n`);
      return 0;
    }
    io.out(`${d.summary}\n\n`);
    io.out(
      table(
        ["GEN", "DATE", "STATUS", ""],
        d.generations.map((g) => [String(g.number), (g.date ?? "").slice(0, 10), g.status, g.words]),
      ),
    );
    if (d.proposals.length) io.out("\nProposed (nothing runs until you confirm: diagnose --apply N):\n");
    for (const [i, p] of d.proposals.entries()) {
      io.out(`  ${i + 1}. ${p.title}${p.basis === "guess" ? " (a guess: no journal evidence)" : ""}\n`);
      if (p.done)
        io.out(
          `     already done at ${p.done.at.slice(11, 19)}${p.done.snapshot ? ` (snapshot before: ${p.done.snapshot})` : ""}\n`,
        );
      io.out(`     why: ${p.why}\n`);
      if (p.diff) io.out(indent(p.diff, "     | "));
      for (const r of p.requests) io.out(`     ${req(r)}\n`);
      if (p.config)
        io.out(`     then: lifeboat client config edit ${p.config.path}   (line ${p.config.line})\n`);
      for (const e of p.evidence.slice(0, 3)) io.out(`     evidence: ${e.detail} [${e.kind} ${e.ref}]\n`);
    }
    for (const e of (d.findings?.[0]?.evidence ?? []).filter((x) => x.kind === "console"))
      io.out(`console: ${e.detail} [${e.ref}]\n`);
    for (const n of d.findings?.[0]?.needs ?? []) io.out(`would decide: ${n}\n`);
    for (const n of d.notes) io.out(`note: ${n}\n`);
    return 0;
  }
  const n = Number(opts.apply);
  const p = d.proposals[n - 1];
  if (!Number.isInteger(n) || !p)
    throw new ClientError(`--apply takes a proposal number (1–${d.proposals.length})`, 0, "usage");
  if (p.done) {
    io.err(`Already done at ${p.done.at.slice(11, 19)}: ${p.title}. Nothing sent.\n`);
    return 0;
  }
  if (p.kind === "open-config") {
    io.err(
      `Nothing to apply: run  lifeboat client config edit ${p.config?.path ?? ""}  (line ${p.config?.line ?? "?"})\n`,
    );
    return 0;
  }
  io.err(`${p.title}\n  why: ${p.why}\n${p.caution ? `  caution: ${p.caution}\n` : ""}`);
  if (p.diff) io.err(indent(p.diff, "  | "));
  for (const r of p.requests) io.err(`  ${req(r)}\n`);
  if (!opts.yes && !(await io.confirm("Send these requests?"))) {
    io.err("Nothing done (answer y to proceed, or pass --yes).\n");
    return 1;
  }
  const results: unknown[] = [];
  for (const r of p.requests) results.push(await c.json(r.method, r.path, r.body ?? {}, r.headers ?? {}));
  io.out(opts.json ? `${JSON.stringify(results, null, 2)}\n` : `done: ${p.title}\n`);
  return 0;
}
