/**
 * Fuzzing of the dataset parsers (zfs -H -p text, zfs -j JSON) and the lossless JSON reader: same
 * harness, property and fixed seed as parsers.test.ts (split only to keep each file short).
 */
import { expect } from "vitest";
import { parseJsonLossless } from "../../agent/src/core/json.js";
import {
  isDatasetName,
  parseSnapshots,
  parseZfsColumns,
  parseZfsGet,
  parseZfsListHp,
} from "../../agent/src/core/zfs.js";
import { fuzzParser } from "./fuzz.js";
import { type Seed, seeds } from "./mutate.js";

const isStr = (v: unknown) => typeof v === "string";

// Every name OpenZFS accepts (spaces, colons, dots included: zfs_namecheck.c), nothing else.
fuzzParser("parseZfsListHp", seeds(/zfs-list-Hp.*\.stdout$/), (s) => parseZfsListHp(s), {
  check: (ds) => {
    for (const d of ds) {
      expect(d.name.startsWith(d.pool)).toBe(true);
      expect(isDatasetName(d.name)).toBe(true);
      expect(d.name).not.toMatch(/[\t\n@#]/);
    }
  },
});

// The lenient form (detection): never throws, a bad line is a warning.
fuzzParser("parseZfsListHp (lenient)", seeds(/zfs-list-Hp.*\.stdout$/), (s) => parseZfsListHp(s, []), {
  check: (ds) => expect(ds.every((d) => isDatasetName(d.name))).toBe(true),
});

fuzzParser(
  "parseZfsColumns",
  seeds(/zfs-get-Hp.*\.stdout$/),
  (s) => parseZfsColumns(s, ["name", "property", "value", "source"] as const),
  { check: (rows) => expect(rows.every((r) => isStr(r.name) && isStr(r.source))).toBe(true) },
);

const SNAPSHOTS: Seed[] = [
  {
    // Shape of `zfs list -H -p -t snapshot -o name,creation,used` (names as the agent creates them).
    name: "snapshots",
    text: "nvmepool/root@lifeboat-20261125T210000Z\t1764104400\t0\nnvmepool/nix@lifeboat-20261125T210000Z\t1764104400\t32768\nnvmepool/home@autosnap_2026-11-25_00:00:00_daily\t1764028800\t155648\n",
  },
];
fuzzParser("parseSnapshots", SNAPSHOTS, parseSnapshots, {
  check: (ss) => {
    for (const s of ss) expect(`${s.dataset}@${s.snapshot}`).toBe(s.name);
  },
});

fuzzParser("parseZfsGet", seeds(/zfs-(get|list)-j.*\.stdout$/), parseZfsGet, {
  json: true,
  check: (m) => {
    for (const props of m.values()) for (const v of Object.values(props)) expect(isStr(v)).toBe(true);
  },
});

// Every JSON capture goes through parseJsonLossless via its own parser above; truncations here
// cover the JSON captures no other parser reads (lsblk -O, findmnt).
fuzzParser(
  "parseJsonLossless",
  seeds(/lsblk-json-O.*\.stdout$|findmnt-J.*\.stdout$/),
  (s) => parseJsonLossless(s, "fuzz"),
  { json: true },
);
