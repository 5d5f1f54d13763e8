import { ParseError } from "./errors.js";

/**
 * JSON without losing 64-bit integers (pool and vdev guids from `--json-int`), at JSON.parse speed.
 *
 * The text is parsed once, natively. Precision can only have been lost where a number came out as
 * an integer beyond 2^53 (or overflowed): such a document — rare: `-j` output writes numbers as
 * strings, only `--json-int` writes guids as numbers — is parsed again with exactly those literals
 * quoted, so they arrive as their digits. The quoting is one regular-expression pass that steps
 * over whole string tokens, so digits inside strings are never touched. No per-character scan in
 * JavaScript and no pre-scan of the text on the usual path.
 */
/** One native parse, nothing else: for readers that take numbers through `exact()`. */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ParseError(what, (err as Error).message);
  }
}

/** A number JSON.parse could not have kept exactly (an integer past 2^53, or an overflow). */
function lossy(v: number): boolean {
  return !Number.isSafeInteger(v) && (Number.isInteger(v) || !Number.isFinite(v));
}

/** Strings (skipped whole, escapes included) or number literals. */
const TOKENS = /"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g;

/**
 * Valid JSON text, parsed with every integer literal that does not fit a double exactly turned
 * into a string of its digits (safe integers stay numbers).
 */
export function parseJsonQuoted(text: string, what: string): unknown {
  return parseJson(
    text.replace(TOKENS, (t) =>
      t.charCodeAt(0) !== 34 && /^-?\d+$/.test(t) && !Number.isSafeInteger(Number(t)) ? `"${t}"` : t,
    ),
    what,
  );
}

/** True when some number in the parsed document may have lost digits (iterative: any depth). */
function hasLossyNumber(doc: unknown): boolean {
  const stack: unknown[] = [doc];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "number") {
      if (lossy(v)) return true;
    } else if (typeof v === "object" && v !== null) {
      if (Array.isArray(v)) for (const x of v) stack.push(x);
      else for (const k in v) stack.push((v as Record<string, unknown>)[k]);
    }
  }
  return false;
}

/**
 * The whole document, unsafe integer literals as strings (safe ones stay numbers). Readers of big
 * documents that look at a few values use `parseJson` and `exact()` instead, sparing this walk.
 */
export function parseJsonLossless(text: string, what: string): unknown {
  const doc = parseJson(text, what);
  return hasLossyNumber(doc) ? parseJsonQuoted(text, what) : doc;
}

/** Thrown by `exact` for a number JSON.parse may have rounded: read that text with parseJsonQuoted. */
export class LossyNumber extends ParseError {
  constructor() {
    super("JSON", "an integer does not fit a double");
  }
}

/**
 * A value as a string, for readers of `parseJson` documents: strings as they are, numbers as
 * their digits — unless JSON.parse may have rounded them (LossyNumber: read the quoted text).
 */
export function exact(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number") {
    if (lossy(v)) throw new LossyNumber();
    return String(v);
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Read a field as a string whatever JSON type carried it (zfs -j gives strings, --json-int numbers). */
export function str(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return undefined;
}
