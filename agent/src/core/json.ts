import { ParseError } from "./errors.js";

/**
 * JSON.parse that never loses precision: integer literals outside the safe range (pool and vdev
 * guids from `--json-int`) become strings before parsing. Literals inside strings are left alone.
 */
export function parseJsonLossless(text: string, what: string): unknown {
  // Fast path: no bare integer literal long enough to lose precision (the usual `-j` output,
  // where numbers are strings). Anything that looks like one takes the careful scan below.
  if (!/[:[,]\s*-?\d{16}/.test(text)) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ParseError(what, (err as Error).message);
    }
  }
  let out = "";
  let i = 0;
  let inString = false;
  let last = 0;
  while (i < text.length) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i += 2;
      else {
        if (c === '"') inString = false;
        i++;
      }
      continue;
    }
    if (c === '"') {
      inString = true;
      i++;
      continue;
    }
    if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
      let j = i + 1;
      while (j < text.length && /[0-9.eE+-]/.test(text[j] as string)) j++;
      const literal = text.slice(i, j);
      if (/^-?\d+$/.test(literal) && !Number.isSafeInteger(Number(literal))) {
        out += `${text.slice(last, i)}"${literal}"`;
        last = j;
      }
      i = j;
      continue;
    }
    i++;
  }
  out += text.slice(last);
  try {
    return JSON.parse(out);
  } catch (err) {
    throw new ParseError(what, (err as Error).message);
  }
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
