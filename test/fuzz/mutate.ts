/**
 * Mutation fuzzing on top of fast-check: inputs are real captured outputs (seeds) run through a
 * chain of mutations (truncation, insertion of hostile strings, byte/line edits, huge numbers, CRLF,
 * NUL, deep nesting…). Everything is driven by fast-check, so a failure shrinks to a short chain
 * and replays from the printed seed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { LifeboatError, ParseError } from "../../agent/src/core/errors.js";
import { FIXTURES, ZFS_FSTAB } from "../helpers/fixtures.js";

/** One seed for every fuzz property: a failure is replayed with the same inputs on every machine. */
export const SEED = 0x11feb0a7;
export const RUNS = 10_000;
/** Hang guard, not a performance threshold: no single input may keep a parser busy this long. */
export const HANG_MS = 1_000;

export interface Seed {
  name: string;
  text: string;
}

/** Fixture files whose path relative to one of `roots` (default: test/fixtures/captured) matches `re`. */
export function seeds(re: RegExp, roots: string[] = [FIXTURES]): Seed[] {
  const out: Seed[] = [];
  for (const root of roots) {
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const full = join(entry.parentPath, entry.name);
      const rel = full.slice(root.length + 1);
      if (re.test(rel)) out.push({ name: rel, text: readFileSync(full, "utf8") });
    }
  }
  out.sort((a, b) => a.name.localeCompare(b.name));
  return out;
}

/** fstab seeds: the fstab NixOS generates (shape used across the tests) and the ext4 case's layout. */
export const FSTABS: Seed[] = [
  { name: "ZFS_FSTAB", text: ZFS_FSTAB },
  {
    name: "ext4-fstab",
    text: "# Filesystems.\n/dev/disk/by-label/nixos / ext4 defaults 0 1\n/dev/disk/by-label/boot /boot vfat fmask=0077,dmask=0077 0 2\n\n# Swap devices.\n/dev/disk/by-label/swap none swap defaults\n",
  },
];

/** Kernel command lines of the rescue ISO's shape (NixOS boot entry + lifeboat.* settings). */
export const CMDLINES: Seed[] = [
  {
    name: "nixos-iso",
    text: "BOOT_IMAGE=(hd0,gpt1)//kernels/abc-linux-6.6-bzImage init=/nix/store/xyz-nixos-system-lifeboat-24.11/init root=LABEL=lifeboat boot.shell_on_fail console=ttyS0,115200n8 console=tty0 loglevel=4 lifeboat.automount=readonly lifeboat.token=0123456789abcdef0123\n",
  },
  {
    name: "quoted",
    text: 'initrd=\\initrd quiet lifeboat.token="a b c d e f g h i j" lifeboat.listen=[::]:8080 lifeboat.root=/mnt lifeboat.loglevel=debug lifeboat.flag\n',
  },
];

/** Strings that have broken parsers before: huge and odd numbers, quoting, separators, encodings. */
export const NASTY: string[] = [
  "18446744073709551616",
  "18446744073709551615",
  "340282366920938463463374607431768211457",
  "99999999999999999999999999999999999999999999999999999999999999999999999999999999",
  "-9223372036854775809",
  "9007199254740993",
  "1e309",
  "-1e-400",
  "-0",
  "0x10",
  "0o17",
  "NaN",
  "Infinity",
  "1.7976931348623157e+309",
  "\u0000",
  "\r\n",
  "\r",
  "\n",
  "\t",
  "\v\f",
  " ",
  "\n\n",
  "\u00a0",
  "\u2028",
  "\u2029",
  "\u00e9",
  "e\u0301",
  "\u{1f4a9}",
  "\u202e",
  "\ufeff",
  "\ud800",
  "\udfff",
  "\uffff",
  "\\",
  "\\\\",
  '\\"',
  "\\u0000",
  "\\ud800",
  "\\040",
  "\\011",
  "\\134",
  '"',
  "'",
  "`",
  "{",
  "}",
  "[",
  "]",
  "{}",
  "[]",
  ",",
  ":",
  "=",
  "==",
  "/",
  "//",
  "..",
  "../",
  "/../../..",
  "@",
  "#",
  "%",
  "%00",
  "%2e%2e%2f",
  "$(reboot)",
  "; rm -rf /",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "null",
  "true",
  "false",
  "undefined",
  "-",
  "legacy",
  "none",
  "ONLINE",
  "UNAVAIL",
  "FAULTED",
  "DEGRADED",
  "  pool: x",
  "    id: 1",
  " state: ONLINE",
  "config:",
  "errors: No known data errors",
  "\tmirror-0  ONLINE",
  "\t  logs",
  "last accessed by atlas (hostid=8425e349)",
  "Last accessed by h (hostid=123456789) at now",
  "hostid: 0xffffffff",
  "DEVNAME=",
  "=x",
  "lifeboat.",
  'lifeboat.token="',
  '"pools":',
  '"pool_guid":',
  '"blockdevices":',
  '"children":[',
  '"vdevs":{',
  '"datasets":',
  '"properties":',
  '"output_version":{"command":"zpool list"}',
  '"value":',
  "\u0000\u0000\u0000\u0000",
];

export type Mutation =
  | { k: "truncate"; at: number }
  | { k: "insert"; at: number; s: string }
  | { k: "delete"; at: number; n: number }
  | { k: "char"; at: number; c: number }
  | { k: "flip"; at: number; bit: number }
  | { k: "dupLine"; line: number; times: number }
  | { k: "dropLine"; line: number }
  | { k: "swapLines"; a: number; b: number }
  | { k: "crlf" }
  | { k: "cr" }
  | { k: "numbers"; s: string }
  | { k: "word"; index: number; s: string }
  | { k: "repeat"; at: number; n: number; times: number }
  | { k: "splice"; at: number; other: number; from: number; n: number };

const pos = fc.nat({ max: 1 << 20 });
const hostile = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 1,
    arbitrary: fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((n) => n.toString()),
  },
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ k: fc.constant("truncate" as const), at: pos }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant("insert" as const), at: pos, s: hostile }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("delete" as const), at: pos, n: fc.integer({ min: 1, max: 64 }) }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("char" as const),
      at: pos,
      c: fc.oneof(fc.integer({ min: 0, max: 0x7f }), fc.integer({ min: 0, max: 0xffff })),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("flip" as const), at: pos, bit: fc.integer({ min: 0, max: 15 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("dupLine" as const),
      line: pos,
      times: fc.integer({ min: 1, max: 20 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("dropLine" as const), line: pos }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("swapLines" as const), a: pos, b: pos }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("crlf" as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant("cr" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant("numbers" as const),
      s: fc.oneof(
        fc.constantFrom(...NASTY.slice(0, 14)),
        fc.bigInt({ min: 2n ** 53n, max: 2n ** 256n }).map(String),
      ),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("word" as const), index: pos, s: hostile }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("repeat" as const),
      at: pos,
      n: fc.integer({ min: 1, max: 100 }),
      times: fc.integer({ min: 2, max: 100 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("splice" as const),
      at: pos,
      other: pos,
      from: pos,
      n: fc.integer({ min: 1, max: 400 }),
    }),
  },
);

/** Inputs never grow past this (a mutation that would is skipped): keeps each run cheap. */
const MAX_LEN = 16 * 1024;

function lines(s: string): string[] {
  return s.split("\n");
}

export function applyMutation(text: string, m: Mutation, pool: readonly Seed[]): string {
  const len = text.length;
  const at = (n: number) => (len === 0 ? 0 : n % (len + 1));
  switch (m.k) {
    case "truncate":
      return text.slice(0, at(m.at));
    case "insert": {
      const i = at(m.at);
      return text.slice(0, i) + m.s + text.slice(i);
    }
    case "delete": {
      const i = at(m.at);
      return text.slice(0, i) + text.slice(i + m.n);
    }
    case "char": {
      if (len === 0) return String.fromCharCode(m.c);
      const i = m.at % len;
      return text.slice(0, i) + String.fromCharCode(m.c) + text.slice(i + 1);
    }
    case "flip": {
      if (len === 0) return text;
      const i = m.at % len;
      return text.slice(0, i) + String.fromCharCode(text.charCodeAt(i) ^ (1 << m.bit)) + text.slice(i + 1);
    }
    case "dupLine": {
      const ls = lines(text);
      const i = m.line % ls.length;
      const copies = Array<string>(m.times).fill(ls[i] as string);
      if (len + copies.join("\n").length > MAX_LEN) return text;
      ls.splice(i, 0, ...copies);
      return ls.join("\n");
    }
    case "dropLine": {
      const ls = lines(text);
      ls.splice(m.line % ls.length, 1);
      return ls.join("\n");
    }
    case "swapLines": {
      const ls = lines(text);
      const a = m.a % ls.length;
      const b = m.b % ls.length;
      [ls[a], ls[b]] = [ls[b] as string, ls[a] as string];
      return ls.join("\n");
    }
    case "crlf":
      return text.replace(/\r?\n/g, "\r\n");
    case "cr":
      return text.replace(/\r?\n/g, "\r");
    case "numbers": {
      // Every run of digits of one randomly chosen length becomes the given (huge/odd) number.
      const runs = text.match(/\d+/g);
      if (!runs) return text;
      const target = runs[m.s.length % runs.length] as string;
      return text.split(target).join(m.s);
    }
    case "word": {
      const parts = text.split(/(\s+)/);
      const words = parts.map((p, i) => (/\S/.test(p) ? i : -1)).filter((i) => i >= 0);
      if (words.length === 0) return m.s;
      parts[words[m.index % words.length] as number] = m.s;
      return parts.join("");
    }
    case "repeat": {
      const i = at(m.at);
      const chunk = text.slice(i, i + m.n);
      if (len + chunk.length * m.times > MAX_LEN) return text;
      return text.slice(0, i) + chunk.repeat(m.times) + text.slice(i);
    }
    case "splice": {
      if (pool.length === 0) return text;
      const other = pool[m.other % pool.length] as Seed;
      const from = other.text.length === 0 ? 0 : m.from % other.text.length;
      const i = at(m.at);
      return text.slice(0, i) + other.text.slice(from, from + m.n) + text.slice(i);
    }
  }
}

/** A seed run through 1–6 mutations (sometimes none: the real capture itself). */
export function mutated(pool: readonly Seed[], maxMutations = 6): fc.Arbitrary<string> {
  if (pool.length === 0) throw new Error("no seeds");
  return fc
    .tuple(fc.nat({ max: pool.length - 1 }), fc.array(mutation, { minLength: 0, maxLength: maxMutations }))
    .map(([i, ms]) => ms.reduce((t, m) => applyMutation(t, m, pool), (pool[i] as Seed).text));
}

/** Seeds, mutated seeds, and pure noise. */
export function inputs(pool: readonly Seed[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: mutated(pool) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 200 }) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...NASTY), { maxLength: 30 }).map((a) => a.join("")) },
  );
}

export interface Outcome {
  ok: boolean;
  ms: number;
}

function show(input: unknown): string {
  const s = typeof input === "string" ? input : JSON.stringify(input);
  return JSON.stringify(s === undefined ? String(input) : s.length > 300 ? `${s.slice(0, 300)}…` : s);
}

/**
 * Run `fn(input)`: it may return anything or throw an error of the `allowed` class (default:
 * ParseError). Anything else, or running longer than HANG_MS, fails with the input shown.
 */
export function expectTyped<T>(
  what: string,
  fn: (input: T) => unknown,
  input: T,
  allowed: abstract new (...args: never[]) => Error = ParseError,
): unknown {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = fn(input);
  } catch (err) {
    if (!(err instanceof allowed)) {
      const e = err as Error;
      throw new Error(
        `${what} threw ${e?.constructor?.name ?? typeof err} (${String(e?.message).slice(0, 200)}) on ${show(input)}`,
      );
    }
    if (!(err instanceof LifeboatError) || typeof err.code !== "string")
      throw new Error(`${what} threw an untyped error on ${show(input)}`);
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS)
    throw new Error(`${what} took ${ms.toFixed(0)} ms (hang guard ${HANG_MS} ms) on ${show(input)}`);
  return result;
}

/** Async variant of expectTyped. */
export async function expectTypedAsync<T>(
  what: string,
  fn: (input: T) => Promise<unknown>,
  input: T,
  allowed: abstract new (...args: never[]) => Error = LifeboatError,
): Promise<unknown> {
  const t0 = performance.now();
  let result: unknown;
  try {
    result = await fn(input);
  } catch (err) {
    if (!(err instanceof allowed)) {
      const e = err as Error;
      throw new Error(
        `${what} threw ${e?.constructor?.name ?? typeof err} (${String(e?.message).slice(0, 200)}) on ${show(input)}`,
      );
    }
  }
  const ms = performance.now() - t0;
  if (ms > HANG_MS)
    throw new Error(`${what} took ${ms.toFixed(0)} ms (hang guard ${HANG_MS} ms) on ${show(input)}`);
  return result;
}

/** Results must survive JSON (the API serializes them): no BigInt, no cycles. */
export function jsonSafe(v: unknown): void {
  JSON.stringify(v, (_k, x) => (x instanceof Map ? Object.fromEntries(x) : x));
}

/**
 * Big inputs (up to ~1 MiB): a seed's lines replicated, then mutated. Few runs: this is the hang
 * guard's real target (quadratic loops, regex backtracking), not a throughput measure.
 */
export function huge(pool: readonly Seed[], maxLen = 1 << 20): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.nat({ max: pool.length - 1 }),
      fc.integer({ min: 16, max: maxLen }),
      fc.array(mutation, { maxLength: 3 }),
    )
    .map(([i, size, ms]) => {
      const seed = (pool[i] as Seed).text || "x";
      const big = seed.repeat(Math.max(1, Math.ceil(size / seed.length))).slice(0, size);
      return ms.reduce(
        (t, m) => (m.k === "dupLine" || m.k === "repeat" ? t : applyMutation(t, m, pool)),
        big,
      );
    });
}
