import { ParseError } from "./errors.js";
import { isRecord, parseJsonLossless } from "./json.js";

export interface JournalBoot {
  index: number;
  bootId: string;
  first: string | null;
  last: string | null;
}

export interface JournalEntry {
  cursor: string;
  time: string | null;
  bootId: string | null;
  priority: number | null;
  unit: string | null;
  identifier: string | null;
  message: string;
}

function usToIso(v: unknown): string | null {
  const n = typeof v === "string" ? Number(v) : typeof v === "number" ? v : Number.NaN;
  return Number.isFinite(n) && Math.abs(n / 1000) <= 8.64e15
    ? new Date(Math.floor(n / 1000)).toISOString()
    : null;
}

/** `journalctl --list-boots -o json`: one array; timestamps in µs since the epoch. */
export function parseListBoots(text: string): JournalBoot[] {
  if (text.trim() === "") return [];
  const doc = parseJsonLossless(text, "journalctl --list-boots -o json");
  if (!Array.isArray(doc)) throw new ParseError("journalctl --list-boots -o json", "not an array");
  return doc.map((b) => {
    if (!isRecord(b) || typeof b.boot_id !== "string")
      throw new ParseError("journalctl --list-boots -o json", "boot without boot_id");
    return {
      index: Number(b.index),
      bootId: b.boot_id,
      first: usToIso(b.first_entry),
      last: usToIso(b.last_entry),
    };
  });
}

/** A journal field: a string, or an array of bytes when it is not valid UTF-8 / has control chars. */
function field(v: unknown): string | null {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "number"))
    return Buffer.from(v as number[]).toString("utf8");
  return null;
}

/** The entries of `journalctl -o json` (one object per line), each with its cursor. */
export function journalObjects(text: string): (Record<string, unknown> & { __CURSOR: string })[] {
  const out: (Record<string, unknown> & { __CURSOR: string })[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const e = parseJsonLossless(line, "journalctl -o json");
    if (!isRecord(e) || typeof e.__CURSOR !== "string")
      throw new ParseError("journalctl -o json", "entry without __CURSOR");
    out.push(e as Record<string, unknown> & { __CURSOR: string });
  }
  return out;
}

/** `journalctl -o json`: one object per line. */
export function parseJournalJson(text: string): JournalEntry[] {
  return journalObjects(text).map((e) => {
    const prio = field(e.PRIORITY);
    return {
      cursor: e.__CURSOR,
      time: usToIso(e.__REALTIME_TIMESTAMP),
      bootId: field(e._BOOT_ID),
      priority: prio !== null && /^[0-7]$/.test(prio) ? Number(prio) : null,
      unit: field(e._SYSTEMD_UNIT) ?? field(e.UNIT),
      identifier: field(e.SYSLOG_IDENTIFIER),
      message: field(e.MESSAGE) ?? "",
    };
  });
}

export type JournalFailure = "no-such-boot" | "bad-cursor" | "no-journal" | "other";
export function classifyJournalFailure(stderr: string): JournalFailure {
  if (/No such boot ID|specified boot .* is not available/i.test(stderr)) return "no-such-boot";
  if (/Failed to seek to cursor/i.test(stderr)) return "bad-cursor";
  if (/Failed to open .*No such file or directory|No journal files were found/i.test(stderr))
    return "no-journal";
  return "other";
}
