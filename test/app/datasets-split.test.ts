// The listing of a big pool: `zfs list -r` still running after a while gives way to the split
// listing (`zfs list -d 1` level by level, side by side, leaves never asked for children), whose
// answer must be exactly the whole listing's, for any tree.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { listDatasets } from "../../agent/src/app/datasets.js";
import type { Dataset } from "../../agent/src/core/zfs.js";
import { FakeSystem } from "../helpers/fake-system.js";
import { outputsOf, sandbox } from "../helpers/fixtures.js";

/** `zfs list -H -p` rows (the captured six columns) of a tree of dataset names, sorted by name as zfs prints them. */
function rowsOf(names: readonly string[]): string {
  return [...names]
    .sort()
    .map((n, i) => `${n}\t/mnt/${n.slice(6)}\ton\toff\t-\t${98304 + i}\n`)
    .join("");
}

const WAIT = 30;

/**
 * A machine with these datasets imported. `rows`: their `zfs list -H -p` rows as given (captured
 * ones) instead of made up from the names; `pools`: the imported pools (rpool by default).
 */
async function system(
  names: readonly string[],
  opts: {
    slow?: boolean;
    failOn?: string;
    space?: Record<string, string>;
    rows?: string;
    pools?: readonly string[];
  } = {},
) {
  let wholes = 0;
  const pools = opts.pools ?? ["rpool"];
  const sys = new FakeSystem({
    outputs: {
      ...outputsOf("single"),
      zfsListHp: opts.rows ?? rowsOf(names),
      zfsGetCrypto: undefined,
      zfsSpaceBreakdown: opts.space,
    },
    pools: pools.map((name, i) => ({ name, guid: String(4242 + i), lastHostId: null })),
    hostid: "8425e349",
    sandbox: await sandbox(),
    // the whole listing of a big pool: still running when the split one starts (killed then); a
    // second whole listing (after a failed split) is not held
    hold: (file, args) =>
      opts.slow && file === "zfs" && args.includes("-r") && wholes++ === 0
        ? new Promise<void>(() => undefined)
        : undefined,
    fail: (file, args) =>
      opts.failOn && file === "zfs" && args.includes("-d") && args.includes(opts.failOn)
        ? { exitCode: 1, stderr: "injected\n" }
        : undefined,
  });
  for (const p of pools) sys.imported.set(p, { readonly: true, altroot: "/mnt", forced: false });
  return sys;
}

const lists = (sys: FakeSystem) =>
  sys.calls.filter((c) => c.file === "zfs" && c.args[0] === "list").map((c) => c.args);

/** The tree of the lab's big pool, smaller: nested levels, two wide parents. */
const BIG = [
  "rpool",
  "rpool/nixos",
  "rpool/nixos/root",
  "rpool/nixos/nix",
  "rpool/nixos/home",
  ...Array.from({ length: 60 }, (_, i) => `rpool/nixos/home/u${String(i).padStart(4, "0")}`),
  "rpool/nixos/var",
  "rpool/nixos/var/lib",
  "rpool/nixos/var/lib/nixos-containers",
  ...Array.from(
    { length: 20 },
    (_, i) => `rpool/nixos/var/lib/nixos-containers/ct${String(i).padStart(3, "0")}`,
  ),
  "rpool/nixos/var/log",
];

async function whole(names: readonly string[]): Promise<Dataset[]> {
  const sys = await system(names);
  return listDatasets(sys, ["rpool"], []);
}

describe("the listing of a big pool", () => {
  it("a pool listed in time: one `zfs list -r`, nothing else", async () => {
    const sys = await system(BIG);
    const ds = await listDatasets(sys, ["rpool"], [], { splitAfterMs: 60_000 });
    expect(ds.map((d) => d.name)).toEqual([...BIG].sort());
    expect(lists(sys)).toHaveLength(1);
    expect(lists(sys)[0]).toContain("-r");
  });

  it("still running: stopped, then level by level; leaves never asked for children; the same answer", async () => {
    const sys = await system(BIG, { slow: true });
    const warnings: string[] = [];
    const ds = await listDatasets(sys, ["rpool"], warnings, { splitAfterMs: WAIT });
    expect(ds).toEqual(await whole(BIG));
    expect(warnings).toEqual([]);
    const parts = lists(sys).slice(1);
    expect(parts.every((a) => a.includes("-d") && a[a.indexOf("-d") + 1] === "1")).toBe(true);
    const asked = parts.flatMap((a) => a.slice(a.indexOf("-o") + 2));
    // every parent once, no leaf
    expect(asked.sort()).toEqual(
      [
        "rpool",
        "rpool/nixos",
        "rpool/nixos/home",
        "rpool/nixos/var",
        "rpool/nixos/var/lib",
        "rpool/nixos/var/lib/nixos-containers",
      ].sort(),
    );
    // the whole listing was stopped, not left running
    expect(sys.running.size).toBe(0);
  });

  it("a part fails: the whole listing runs again to its end and its answer counts", async () => {
    const sys = await system(BIG, { slow: true, failOn: "rpool/nixos/var/lib" });
    const warnings: string[] = [];
    const ds = await listDatasets(sys, ["rpool"], warnings, { splitAfterMs: WAIT });
    expect(lists(sys).filter((a) => a.includes("-r"))).toHaveLength(2);
    expect(ds).toEqual(await whole(BIG));
    expect(warnings).toEqual([]);
  });

  it("the pool's accounting decides: 0 for children but a `used` that does not add up, or '-': asked anyway", async () => {
    const home = "rpool/nixos/home";
    const used = 98304 + [...BIG].sort().indexOf(home);
    for (const space of [`${used - 1}\t0\t0\t0`, "-\t-\t-\t-"]) {
      const sys = await system(BIG, { slow: true, space: { [home]: space } });
      const ds = await listDatasets(sys, ["rpool"], [], { splitAfterMs: 0 });
      expect(ds).toEqual(await whole(BIG));
      expect(lists(sys).some((a) => a.at(-1) === home || a.includes(home))).toBe(true);
    }
  });

  it("a pool whose accounting says a parent has no children, and adds up: its children are not listed", async () => {
    // docs/security.md: a pool can hide its own datasets from the big-pool listing this way, no more
    const home = "rpool/nixos/home";
    const used = 98304 + [...BIG].sort().indexOf(home);
    const sys = await system(BIG, { slow: true, space: { [home]: `${used}\t0\t0\t0` } });
    const ds = await listDatasets(sys, ["rpool"], [], { splitAfterMs: 0 });
    expect(ds.map((d) => d.name)).toEqual([...BIG].sort().filter((n) => !n.startsWith(`${home}/`)));
  });

  it("any tree: the split listing's answer is the whole listing's", async () => {
    const segment = fc.constantFrom("a", "b", "c", "home", "var", "x-y", "x.y", "x_y", "x:y");
    const tree = fc
      .uniqueArray(fc.array(segment, { minLength: 1, maxLength: 4 }), { maxLength: 40 })
      .map((paths) => {
        // every ancestor of a dataset exists (zfs create -p)
        const all = new Set<string>(["rpool"]);
        for (const p of paths)
          for (let i = 1; i <= p.length; i++) all.add(`rpool/${p.slice(0, i).join("/")}`);
        return [...all];
      });
    await fc.assert(
      fc.asyncProperty(tree, async (names) => {
        const split = await system(names, { slow: true });
        const got = await listDatasets(split, ["rpool"], [], { splitAfterMs: 0 });
        expect(got).toEqual(await whole(names));
        // each dataset asked for its children at most once, and only one that has children
        const asked = lists(split)
          .slice(1)
          .flatMap((a) => a.slice(a.indexOf("-o") + 2));
        expect(new Set(asked).size).toBe(asked.length);
        for (const n of asked) expect(n === "rpool" || names.some((m) => m.startsWith(`${n}/`))).toBe(true);
      }),
      { seed: 1207, numRuns: 60 },
    );
  });
});

describe("the listing in parts on the pools of real layouts (their own accounting, captured in the lab)", () => {
  const CAPTURED = join(import.meta.dirname, "..", "fixtures", "vm-captured");
  const layouts = readdirSync(CAPTURED).filter((d) => existsSync(join(CAPTURED, d, "zfs-list-space.stdout")));

  it("the captures are there (every layout with a pool)", () => {
    expect(layouts.length).toBeGreaterThanOrEqual(6);
  });

  for (const layout of layouts) {
    it(`${layout}: the parts give the whole listing, and only parents are asked for their children`, async () => {
      const rows = readFileSync(join(CAPTURED, layout, "zfs-list-space.stdout"), "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split("\t"));
      expect(rows.every((r) => r.length === 10)).toBe(true);
      const names = rows.map((r) => r[0] as string);
      const pools = names.filter((n) => !n.includes("/"));
      const captured = {
        pools,
        rows: rows.map((r) => `${r.slice(0, 6).join("\t")}\n`).join(""),
        space: Object.fromEntries(rows.map((r) => [r[0] as string, r.slice(6).join("\t")])),
      };
      const whole = await listDatasets(await system(names, captured), pools, [], { splitAfterMs: 60_000 });
      const sys = await system(names, { ...captured, slow: true });
      const warnings: string[] = [];
      expect(await listDatasets(sys, pools, warnings, { splitAfterMs: 0 })).toEqual(whole);
      expect(warnings).toEqual([]);
      const asked = lists(sys)
        .slice(1)
        .flatMap((a) => a.slice(a.indexOf("-o") + 2));
      const parents = names.filter((n) => names.some((m) => m.startsWith(`${n}/`)));
      // every parent asked once (a pool always: it is where the listing starts), no leaf
      expect(asked.sort()).toEqual([...new Set([...pools, ...parents])].sort());
    });
  }
});
