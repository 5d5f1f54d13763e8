// Several roots in one pool (the OpenZFS guide's boot environments: rpool/ROOT/a, rpool/ROOT/b, both
// mountpoint=/ canmount=noauto): the pool's bootfs decides, else the operator picks. Real output of
// `zpool get -H -p bootfs` and `zfs list -H -p` recorded in the lab guest (OpenZFS 2.3.2), see
// test/fixtures/vm-captured/boot-environments/index.tsv and PROVENANCE.md.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findCandidates, rootDatasetOf, splitWanted } from "../../agent/src/core/candidates.js";
import { planMount } from "../../agent/src/core/plan.js";
import {
  parseBootfs,
  pickRoot,
  probeOrder,
  rolesFromProbes,
  rootDatasetsOf,
} from "../../agent/src/core/systemRoot.js";
import { parseZfsListHp } from "../../agent/src/core/zfs.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured", "boot-environments");
const v = (name: string) => readFileSync(join(V, `${name}.stdout`), "utf8");
const ALTROOTS = new Map([["rpool", "/mnt"]]);
const datasets = parseZfsListHp(v("zfs-list-Hp"));

describe("zpool get -H -p bootfs (real output)", () => {
  it("set (also after a read-only import), unset, and a missing pool", () => {
    expect(parseBootfs(v("zpool-get-bootfs"), "rpool")).toBe("rpool/ROOT/b");
    expect(parseBootfs(v("zpool-get-bootfs-ro"), "rpool")).toBe("rpool/ROOT/b");
    expect(parseBootfs(v("zpool-get-bootfs-unset"), "rpool")).toBeNull();
    expect(parseBootfs(v("zpool-get-bootfs-nopool"), "nosuchpool")).toBeNull();
  });

  it("a bootfs of another pool, or a line about another pool, is not taken", () => {
    expect(parseBootfs(v("zpool-get-bootfs"), "tank")).toBeNull();
    expect(parseBootfs("rpool\tbootfs\ttank/ROOT/x\tlocal\n", "rpool")).toBeNull();
  });
});

describe("choosing among boot environments", () => {
  it("both environments are roots (mountpoint=/ under the altroot, canmount=noauto); /nix is not", () => {
    expect(rootDatasetsOf(datasets, "rpool", ALTROOTS).map((d) => d.name)).toEqual([
      "rpool/ROOT/a",
      "rpool/ROOT/b",
    ]);
  });

  it("the bootfs among them is mounted, and said so", () => {
    const roots = rootDatasetsOf(datasets, "rpool", ALTROOTS);
    const picked = pickRoot(roots, parseBootfs(v("zpool-get-bootfs"), "rpool"));
    expect(picked.root?.name).toBe("rpool/ROOT/b");
    expect(picked.note).toContain("bootfs rpool/ROOT/b");
  });

  it("without a bootfs (or one that is none of them) nothing is guessed: the operator picks", () => {
    const roots = rootDatasetsOf(datasets, "rpool", ALTROOTS);
    expect(pickRoot(roots, null)).toEqual({ root: null, ambiguous: ["rpool/ROOT/a", "rpool/ROOT/b"] });
    expect(pickRoot(roots, "rpool/nix").root).toBeNull();
  });

  it("one root is taken as it is, whatever bootfs says", () => {
    const one = datasets.filter((d) => d.name !== "rpool/ROOT/a");
    expect(pickRoot(rootDatasetsOf(one, "rpool", ALTROOTS), null).root?.name).toBe("rpool/ROOT/b");
  });

  it("canmount=on beats noauto (ZFS mounts that one itself); a shallower root beats a deeper one", () => {
    const on = datasets.map((d) => (d.name === "rpool/ROOT/a" ? { ...d, canmount: "on" } : d));
    expect(rootDatasetsOf(on, "rpool", ALTROOTS).map((d) => d.name)).toEqual(["rpool/ROOT/a"]);
    const deeper = datasets.map((d) => (d.name === "rpool/ROOT/b" ? { ...d, name: "rpool/ROOT/b/x" } : d));
    expect(rootDatasetsOf(deeper, "rpool", ALTROOTS).map((d) => d.name)).toEqual(["rpool/ROOT/a"]);
  });

  it("the chosen environment is what the plan mounts at / (with zfsutil: it has its own mountpoint)", () => {
    const candidate = {
      kind: "zfs" as const,
      id: "zfs:rpool",
      pool: "rpool",
      guid: null,
      state: "ONLINE",
      imported: true,
      importable: true,
      disks: [],
      score: 4,
      reasons: [],
      partOfSystem: false,
      bootPool: false,
    };
    const pools = [{ name: "rpool", guid: null, imported: true, importable: true, altroot: "/mnt" }];
    const base = { root: "/mnt", candidate, readonly: true, devices: [], datasets, fstab: null, pools };
    const mounted = (chosen?: { root: string | null; nix: string | null }) =>
      planMount({ ...base, ...(chosen ? { chosen } : {}) })
        .steps.filter((s) => s.kind === "mount")
        .map((s) => [s.path, s.source, s.options.includes("zfsutil")]);
    expect(mounted({ root: "rpool/ROOT/b", nix: null })).toEqual([
      ["/", "rpool/ROOT/b", true],
      ["/nix", "rpool/nix", true],
    ]);
    // rootDatasetOf (candidate scoring only) still finds a root-like dataset in the pool
    expect(rootDatasetOf(datasets, "rpool", ALTROOTS)?.name).toBe("rpool/ROOT/a");
  });

  it("detection says so in the candidate's reasons (imported pool)", () => {
    const [c] = findCandidates({
      devices: [],
      importable: [],
      imported: [
        {
          name: "rpool",
          guid: "1",
          state: "ONLINE",
          health: "ONLINE",
          altroot: "/mnt",
        } as unknown as Parameters<typeof findCandidates>[0]["imported"][number],
      ],
      datasets,
      mounts: [],
      root: "/mnt",
    });
    expect(c?.reasons.join("; ")).toContain(
      "2 root datasets (boot environments: rpool/ROOT/a, rpool/ROOT/b)",
    );
  });

  it("a request names an environment as pool/dataset or as the offered candidate id", () => {
    expect(splitWanted("rpool/ROOT/b")).toEqual({ wanted: "rpool", rootDataset: "rpool/ROOT/b" });
    expect(splitWanted("zfs:rpool/ROOT/b")).toEqual({ wanted: "rpool", rootDataset: "rpool/ROOT/b" });
    expect(splitWanted("rpool")).toEqual({ wanted: "rpool", rootDataset: null });
    expect(splitWanted("/dev/nvme0n1p2")).toEqual({ wanted: "/dev/nvme0n1p2", rootDataset: null });
    expect(splitWanted(undefined)).toEqual({ rootDataset: null });
  });
});

describe("content probes decide only from what they found", () => {
  it("two datasets each with /etc/NIXOS: ambiguous, not a guess; errors are notes, not roots", () => {
    const none = { etcNixos: false, systemProfile: false, nixDir: false, store: false, profiles: false };
    const r = rolesFromProbes([
      { dataset: "p/a", ...none, etcNixos: true },
      { dataset: "p/b", ...none, systemProfile: true },
      { dataset: "p/c", ...none, etcNixos: true, error: "mount failed" },
    ]);
    expect(r).toMatchObject({ root: null, ambiguous: ["p/a", "p/b"] });
    expect(r.notes).toEqual(["could not look into p/c: mount failed"]);
  });

  it("a dataset with a store at its top is /nix, never the root; an empty /nix mountpoint alone needs a /nix found", () => {
    const none = { etcNixos: false, systemProfile: false, nixDir: false, store: false, profiles: false };
    expect(
      rolesFromProbes([{ dataset: "p/n", ...none, store: true, profiles: true, etcNixos: true }]),
    ).toMatchObject({
      root: null,
      nix: "p/n",
    });
    expect(rolesFromProbes([{ dataset: "p/r", ...none, nixDir: true }])).toMatchObject({
      root: null,
      nix: null,
    });
  });

  it("probes are capped and ordered shallow first; locked, off and auto-mounted datasets are skipped", () => {
    const many = Array.from({ length: 20 }, (_, i) => ({
      name: `p/d${String(i).padStart(2, "0")}`,
      pool: "p",
      mountpoint: "legacy",
      canmount: "on",
      encryption: "off",
      keystatus: null,
      used: "0",
      encryptionRoot: null,
    }));
    const first = many[0] as (typeof many)[number];
    const odd = [
      { ...first, name: "p/locked", keystatus: "unavailable" },
      { ...first, name: "p/off", canmount: "off" },
      { ...first, name: "p/auto", mountpoint: "/mnt/srv" },
      { ...first, name: "p/noauto", mountpoint: "/mnt/", canmount: "noauto" },
    ];
    const { order, capped } = probeOrder([...many, ...odd], "p");
    expect(order).toHaveLength(16);
    expect(capped).toBe(5);
    expect(order.map((d) => d.name)).not.toContain("p/locked");
    expect(order.map((d) => d.name)).not.toContain("p/off");
    expect(order.map((d) => d.name)).not.toContain("p/auto");
    expect(order.map((d) => d.name)[0]).toBe("p/d00");
  });
});
