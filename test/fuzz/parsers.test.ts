/**
 * Fuzzing of the pool parsers in agent/src/core (zpool text and JSON, failure classifiers): ≥ 10,000
 * generated inputs each, seeded from the real captures in test/fixtures/captured, plus every
 * truncation of every seed and 25 huge inputs. Property: data or a typed ParseError, never
 * another exception, and no input keeps a parser busier than the hang guard (mutate.ts: HANG_MS).
 * Other parsers: zfs-parsers, system-parsers, rescue-parsers, planner (same harness and seed).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseJsonLossless } from "../../agent/src/core/json.js";
import { classifyLoadKeyFailure } from "../../agent/src/core/zfs.js";
import { classifyImportFailure, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { parseZpoolList, parseZpoolStatus } from "../../agent/src/core/zpoolJson.js";
import { fuzzParser, opts } from "./fuzz.js";
import { RUNS, seeds } from "./mutate.js";

const isStr = (v: unknown) => typeof v === "string";

fuzzParser("parseZpoolImport", seeds(/zpool-import-list.*\.stdout$/), parseZpoolImport, {
  check: (pools) => {
    for (const p of pools) {
      expect(p.id).toMatch(/^\d+$/);
      expect(p.name).not.toBe("");
      if (p.lastHost?.hostid) expect(p.lastHost.hostid).toMatch(/^[0-9a-f]{8}$/);
    }
  },
});

fuzzParser("classifyImportFailure", seeds(/\.stderr$/), classifyImportFailure, {
  check: (f) =>
    expect(["in-use-elsewhere", "no-such-pool", "missing-devices", "name-exists", "other"]).toContain(f.kind),
});

fuzzParser("classifyLoadKeyFailure", seeds(/\.stderr$/), classifyLoadKeyFailure, {
  allowed: null,
  check: (f) => expect(["wrong-passphrase", "already-loaded", "not-encryption-root", "other"]).toContain(f),
});

fuzzParser("parseZpoolList", seeds(/zpool-list-j.*\.stdout$/), parseZpoolList, {
  json: true,
  check: (pools) => {
    for (const p of pools) expect(isStr(p.guid) && isStr(p.state) && isStr(p.name)).toBe(true);
  },
});

fuzzParser("parseZpoolStatus", seeds(/zpool-status-j.*\.stdout$/), parseZpoolStatus, {
  json: true,
  check: (pools) => {
    for (const p of pools) expect(isStr(p.guid) && Array.isArray(p.vdevs)).toBe(true);
  },
});

describe("parseJsonLossless precision", () => {
  it(`${RUNS} documents: integers keep every digit (strings when unsafe), everything else as JSON.parse`, () => {
    const big = fc.bigInt({ min: -(2n ** 130n), max: 2n ** 130n });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.array(big, { maxLength: 5 }), (v, ints) => {
        const text = JSON.stringify({ v, ints: "INTS" }).replace('"INTS"', `[${ints.join(",")}]`);
        const r = parseJsonLossless(text, "fuzz") as { v: unknown; ints: unknown[] };
        expect(r.ints).toEqual(ints.map((n) => (Number.isSafeInteger(Number(n)) ? Number(n) : n.toString())));
        // Safe and non-integer values are untouched; unsafe integer literals become their digits.
        const norm = JSON.parse(JSON.stringify(v), (_k, x) =>
          typeof x === "number" && Number.isInteger(x) && !Number.isSafeInteger(x) && !/e/i.test(String(x))
            ? JSON.stringify(x)
            : x,
        );
        expect(r.v).toEqual(norm);
      }),
      opts,
    );
  });
});
