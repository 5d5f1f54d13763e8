// A pool's space and the destroy plan, on REAL outputs of OpenZFS 2.3 captured in QEMU
// (test/fixtures/vm-captured/space: three "write 768 MiB, snapshot -r, delete" rounds, then ENOSPC).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LifeboatError } from "../../agent/src/core/errors.js";
import {
  destroyArgs,
  freeTarget,
  groupSnapshots,
  humanBytes,
  isFull,
  newestLifeboatSnapshot,
  parseDatasetSpace,
  parseDestroyDryRun,
  parseSnapshotSpace,
  planSnapshotDestroy,
} from "../../agent/src/core/zfsSpace.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured", "space");
const read = (name: string, stream = "stdout") => readFileSync(join(V, `${name}.${stream}`), "utf8");
const D = (n: number) => `zfs-auto-snap_daily-2026-12-0${n}-0000`;

const refusal = (f: () => unknown): LifeboatError => {
  try {
    f();
  } catch (e) {
    if (e instanceof LifeboatError) return e;
    throw e;
  }
  throw new Error("not refused");
};

describe("parsers on real zfs outputs", () => {
  it("zfs list -o space of the full pool: nothing available, the snapshots hold home's space", () => {
    const ds = parseDatasetSpace(read("space-full"));
    expect(ds.map((d) => d.name)).toEqual([
      "nvmepool",
      "nvmepool/home",
      "nvmepool/nix",
      "nvmepool/root",
      "nvmepool/var",
    ]);
    const root = ds[0];
    expect(root).toMatchObject({ avail: 0, used: 3356033024 });
    expect(ds[1]).toMatchObject({ usedBySnapshots: 2416984064, usedByDataset: 934731776 });
    expect(isFull(root?.avail ?? -1, root?.used ?? 0)).toBe(true);
    const freed = parseDatasetSpace(read("space-freed"))[0];
    expect(isFull(freed?.avail ?? 0, freed?.used ?? 0)).toBe(false);
  });

  it("snapshots oldest first (createtxg), grouped by name across the datasets", () => {
    const snaps = parseSnapshotSpace(read("snapshots-full"));
    expect(snaps).toHaveLength(15);
    expect(snaps[1]).toMatchObject({
      name: `nvmepool/home@${D(1)}`,
      dataset: "nvmepool/home",
      createtxg: 108,
      created: "2026-12-07T02:54:20.000Z",
      used: 805650432,
      holds: 0,
      clones: [],
    });
    const groups = groupSnapshots(snaps);
    expect(groups.map((g) => g.snapshot)).toEqual([D(1), D(2), D(3)]);
    expect(groups[0]?.datasets).toHaveLength(5);
    // each round's file is held by its own snapshot alone: `used` (zfsprops(7)) is what it frees
    expect(groups[0]?.used).toBe(805650432 + 98304);
  });

  it("a held snapshot: userrefs 1", () => {
    const g = groupSnapshots(parseSnapshotSpace(read("snapshots-held")));
    expect(g[1]?.held).toEqual([`nvmepool/home@${D(2)}`]);
  });

  it("zfs destroy -n -v -p: the snapshots and ZFS's own reclaim figure", () => {
    expect(parseDestroyDryRun(read("destroy-dry-1"))).toEqual({
      destroy: ["nvmepool", "nvmepool/home", "nvmepool/nix", "nvmepool/var", "nvmepool/root"].map(
        (d) => `${d}@${D(1)}`,
      ),
      reclaim: 805748736,
    });
    // two at once free more than the sum of their `used` can say in general: here exactly both files
    expect(parseDestroyDryRun(read("destroy-dry-12")).reclaim).toBe(1611481088);
    // a name no dataset has is skipped (cmd/zfs gather_snapshots: ENOENT ignored)
    expect(parseDestroyDryRun(read("destroy-dry-missing")).reclaim).toBe(805748736);
    expect(() => parseDestroyDryRun("would destroy x\n")).toThrow(/unexpected line/);
  });

  it("the real destroy of a held snapshot destroyed none of the batch (lzc_destroy_snaps)", () => {
    expect(read("destroy-held", "stderr")).toMatch(/it's being held/);
    expect(read("snapshots-after-held")).toBe(read("snapshots-held"));
  });

  it("a full pool takes no snapshot: a destroy cannot be preceded by one", () => {
    expect(read("snapshot-on-full", "stderr")).toBe(
      "cannot create snapshots : out of space\nno snapshots were created\n",
    );
  });
});

describe("planSnapshotDestroy", () => {
  const groups = groupSnapshots(parseSnapshotSpace(read("snapshots-full")));
  const none = new Map<string, string>();
  const plan = (req: string[], protect = none, keep = 1) =>
    planSnapshotDestroy("nvmepool", req, groups, protect, keep);

  it("<pool>@<name> is that name on every dataset: one zfs destroy -r, never -f/-R/-d", () => {
    const p = plan([`nvmepool@${D(2)}`, `nvmepool@${D(1)}`]);
    expect(p.snapshots).toEqual([D(1), D(2)]);
    expect(p.names).toHaveLength(10);
    expect(p.remaining).toBe(1);
    expect(destroyArgs(p, false)).toEqual(["destroy", "-v", "-p", "-r", `nvmepool@${D(1)},${D(2)}`]);
    expect(destroyArgs(p, true)).toEqual(["destroy", "-n", "-v", "-p", "-r", `nvmepool@${D(1)},${D(2)}`]);
  });

  it("every dataset's copy named one by one is the same plan", () => {
    const all = ["nvmepool", "nvmepool/home", "nvmepool/nix", "nvmepool/root", "nvmepool/var"];
    expect(plan(all.map((d) => `${d}@${D(1)}`)).snapshots).toEqual([D(1)]);
  });

  it("refusals, each with its stable code", () => {
    expect(refusal(() => plan([])).code).toBe("validation-failed");
    expect(refusal(() => plan(["nvmepool@a,b"])).code).toBe("validation-failed");
    expect(refusal(() => plan(["nvmepool@a%b"])).code).toBe("validation-failed");
    expect(refusal(() => plan(["nvmepool"])).code).toBe("validation-failed");
    expect(refusal(() => plan([`tank@${D(1)}`])).code).toBe("snapshot-other-pool");
    expect(refusal(() => plan([`nvmepoolx/home@${D(1)}`])).code).toBe("snapshot-other-pool");
    expect(refusal(() => plan(["nvmepool@nosuch"])).code).toBe("snapshot-unknown");
    expect(refusal(() => plan([`nvmepool/nosuch@${D(1)}`])).code).toBe("snapshot-unknown");
    const partial = refusal(() => plan([`nvmepool/home@${D(1)}`]));
    expect(partial.code).toBe("snapshot-partial");
    expect(partial.message).toMatch(/name nvmepool@zfs-auto-snap_daily-2026-12-01-0000/);
    const prot = refusal(() => plan([`nvmepool@${D(1)}`], new Map([[D(1), "a fix relies on it"]])));
    expect(prot.code).toBe("snapshot-protected");
    expect(refusal(() => plan([1, 2, 3].map((n) => `nvmepool@${D(n)}`))).code).toBe("snapshot-keep");
    expect(
      plan(
        [1, 2, 3].map((n) => `nvmepool@${D(n)}`),
        none,
        0,
      ).remaining,
    ).toBe(0);
    const held = groupSnapshots(parseSnapshotSpace(read("snapshots-held")));
    const h = refusal(() => planSnapshotDestroy("nvmepool", [`nvmepool@${D(2)}`], held, none, 1));
    expect(h.code).toBe("snapshot-held");
    expect(h.extras.held).toEqual([`nvmepool/home@${D(2)}`]);
    const cloned = groups.map((g, i) => (i === 2 ? { ...g, clones: ["nvmepool/varclone"] } : g));
    expect(refusal(() => planSnapshotDestroy("nvmepool", [`nvmepool@${D(3)}`], cloned, none, 1)).code).toBe(
      "snapshot-has-clones",
    );
  });

  it("Lifeboat's newest own snapshot", () => {
    const g = [
      { ...groups[0], snapshot: "lifeboat-20261207T010000Z-kernel-params" },
      { ...groups[1], snapshot: "lifeboat-20261207T020000Z" },
      { ...groups[2] },
    ] as typeof groups;
    expect(newestLifeboatSnapshot(g)).toBe("lifeboat-20261207T020000Z");
    expect(newestLifeboatSnapshot(groups)).toBeNull();
  });

  it("sizes and targets", () => {
    expect(humanBytes(805748736)).toBe("768 MiB");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(freeTarget(0, 3356033024)).toBeCloseTo(335603302.4);
    expect(freeTarget(0, 1024 ** 5)).toBe(10 * 1024 ** 3);
  });
});
