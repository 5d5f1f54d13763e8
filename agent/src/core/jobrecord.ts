import { ParseError } from "./errors.js";

export type JobState = "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

/** A job as the API shows it and as its record on the rescued system keeps it. */
export interface JobRecord {
  id: string;
  kind: string;
  title: string;
  state: JobState;
  exitCode: number | null;
  createdAt: string;
  endedAt: string | null;
  durationMs: number | null;
  /** `shown`: the command as an operator would type it (core/chroot.ts shownCommand). */
  steps: { label: string; command: string[]; shown?: string }[];
  currentStep: number;
  lines: number;
  droppedLines: number;
  who: string;
}

const STATES: readonly JobState[] = ["running", "succeeded", "failed", "cancelled", "interrupted"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WHAT = "job record";

function str(v: unknown, field: string, max: number): string {
  if (typeof v !== "string" || v.length > max)
    throw new ParseError(WHAT, `${field} is not a string of at most ${max} characters`);
  return v;
}

function orNull<T>(v: unknown, f: (x: unknown) => T): T | null {
  return v === null ? null : f(v);
}

function int(v: unknown, field: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < -1_000_000_000)
    throw new ParseError(WHAT, `${field} is not an integer`);
  return v;
}

function count(v: unknown, field: string): number {
  const n = int(v, field);
  if (n < 0) throw new ParseError(WHAT, `${field} is negative`);
  return n;
}

function time(v: unknown, field: string): string {
  const s = str(v, field, 40);
  if (!Number.isFinite(Date.parse(s))) throw new ParseError(WHAT, `${field} is not a time`);
  return s;
}

/**
 * A job record read back from the rescued system (<root>/var/log/lifeboat/jobs/<id>.json). The disk
 * is untrusted: every field is checked and copied, unknown ones are dropped, and anything that does
 * not have the shape the API promises is a ParseError (the record is skipped, never served half).
 */
export function parseJobRecord(text: string): JobRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // Not the engine's message: it quotes the text, and the text came from an untrusted disk.
    throw new ParseError(WHAT, "not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc))
    throw new ParseError(WHAT, "not an object");
  const r = doc as Record<string, unknown>;
  const id = str(r.id, "id", 36);
  if (!UUID.test(id)) throw new ParseError(WHAT, "id is not a UUID");
  if (!STATES.includes(r.state as JobState)) throw new ParseError(WHAT, "unknown state");
  if (!Array.isArray(r.steps) || r.steps.length > 64) throw new ParseError(WHAT, "steps is not a list");
  const steps = r.steps.map((s, i) => {
    if (typeof s !== "object" || s === null) throw new ParseError(WHAT, `step ${i} is not an object`);
    const { label, command } = s as Record<string, unknown>;
    if (!Array.isArray(command) || command.length > 256)
      throw new ParseError(WHAT, `step ${i} has no command list`);
    return {
      label: str(label, `steps[${i}].label`, 200),
      command: command.map((c, j) => str(c, `steps[${i}].command[${j}]`, 4096)),
    };
  });
  const durationMs = orNull(r.durationMs, (v) => {
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new ParseError(WHAT, "durationMs is not a number");
    return v;
  });
  return {
    id,
    kind: str(r.kind, "kind", 64),
    title: str(r.title, "title", 1000),
    state: r.state as JobState,
    exitCode: orNull(r.exitCode, (v) => int(v, "exitCode")),
    createdAt: time(r.createdAt, "createdAt"),
    endedAt: orNull(r.endedAt, (v) => time(v, "endedAt")),
    durationMs,
    steps,
    currentStep: count(r.currentStep, "currentStep"),
    lines: count(r.lines, "lines"),
    droppedLines: count(r.droppedLines, "droppedLines"),
    who: str(r.who, "who", 200),
  };
}
