/** Vitest side of the fuzz harness: one helper that gives a parser its three fuzz tests. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expectTyped, huge, inputs, jsonSafe, RUNS, SEED, type Seed } from "./mutate.js";

export const opts = { seed: SEED, numRuns: RUNS } as const;

export interface FuzzOptions<T> {
  /** Invariants on a successful result. */
  check?: (r: T) => void;
  /** JSON parsers: CRLF variants add nothing (JSON whitespace), so truncations skip them. */
  json?: boolean;
  /** Domain bound for the huge inputs (e.g. PATH_MAX for a symlink target). Default 1 MiB. */
  maxLen?: number;
  /** Errors the function may throw (default ParseError); `null`: it must never throw. */
  allowed?: (abstract new (...args: never[]) => Error) | null;
  /** Share of runs that must parse successfully (mutants that all fail prove little). Default 1/50. */
  minParsed?: number;
}

class NeverThrows extends Error {}

/** RUNS mutated seeds, every truncation of every seed, and 25 huge inputs. */
export function fuzzParser<T>(
  name: string,
  pool: Seed[],
  fn: (s: string) => T,
  o: FuzzOptions<T> = {},
): void {
  const allowed = o.allowed === null ? NeverThrows : o.allowed;
  describe(name, () => {
    it(`${RUNS} mutated inputs: data or a typed error, never slower than the hang guard`, () => {
      expect(pool.length).toBeGreaterThan(0);
      let parsed = 0;
      fc.assert(
        fc.property(inputs(pool), (text) => {
          const r = expectTyped(name, fn, text, allowed) as T | undefined;
          if (r !== undefined) {
            parsed++;
            jsonSafe(r);
            o.check?.(r);
          }
        }),
        opts,
      );
      expect(parsed).toBeGreaterThan(RUNS * (o.minParsed ?? 1 / 50));
    });
    it(`every truncation of every seed${o.json ? "" : " (and of its CRLF form)"}`, () => {
      let n = 0;
      for (const s of pool)
        for (const text of o.json ? [s.text] : [s.text, s.text.replace(/\n/g, "\r\n")])
          for (let i = 0; i <= text.length; i++, n++) expectTyped(name, fn, text.slice(0, i), allowed);
      expect(n).toBeGreaterThan(0);
    });
    it(`25 huge inputs (replicated seeds up to ${o.maxLen ?? "1 MiB"}, mutated): the hang guard`, () => {
      fc.assert(
        fc.property(huge(pool, o.maxLen), (text) => void expectTyped(name, fn, text, allowed)),
        { ...opts, numRuns: 25 },
      );
    });
  });
}
