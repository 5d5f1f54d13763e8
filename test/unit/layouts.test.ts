// Parsers, candidates and the mount planner on REAL captures of the layouts of issue 12
// (test/fixtures/vm-captured/<layout>/, made by test/vm/capture.test.ts in the QEMU lab from the disks
// of test/vm/guest/mklayouts.sh; see PROVENANCE.md). The expected system of each layout is
// LAYOUT_EXPECTATIONS in test/vm/layouts.ts, the same table the QEMU scenarios 20-24 assert on.
// The planner is driven the way the agent drives it: a plan before the import (which pools), then the
// plan with the imported pools' datasets and the installed system's own fstab (which mounts).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  bindEntriesOf,
  importUnitPools,
  type MountUnit,
  parseMountUnit,
} from "../../agent/src/core/bootUnits.js";
import {
  type Candidate,
  chooseCandidate,
  findCandidates,
  nixDatasetOf,
} from "../../agent/src/core/candidates.js";
import { type BlockDevice, mergeBlkid, parseBlkidExport, parseLsblk } from "../../agent/src/core/lsblk.js";
import { type MountEntry, parseFstab, parseProcMounts } from "../../agent/src/core/mounts.js";
import { type MountStep, planMount } from "../../agent/src/core/plan.js";
import {
  type ProbeResult,
  probeOrder,
  rolesFromProbes,
  rootDatasetsOf,
} from "../../agent/src/core/systemRoot.js";
import { parseZfsListHp } from "../../agent/src/core/zfs.js";
import { parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { parseZpoolList } from "../../agent/src/core/zpoolJson.js";
import {
  expectedRows,
  LAYOUT_EXPECTATIONS,
  type LayoutExpectation,
  parentsFirst,
  parseMountinfo,
  tableProblems,
} from "../vm/layouts.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured");
const has = (layout: string, name: string) => existsSync(join(V, layout, `${name}.stdout`));
const v = (layout: string, name: string) => readFileSync(join(V, layout, `${name}.stdout`), "utf8");
const ROOT = "/mnt";

type Shared = Exclude<keyof typeof LAYOUT_EXPECTATIONS, never>;
const NAMES = Object.keys(LAYOUT_EXPECTATIONS) as Shared[];

/** serial + partition number -> device path in the capture boot (its /dev/disk/by-id links) */
function partOf(layout: string): (serial: string, n: number) => string {
  const links = new Map(
    v(layout, "disk-serials")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ") as [string, string]),
  );
  return (serial, n) => {
    const p = links.get(`nvme-QEMU_NVMe_Ctrl_${serial}-part${n}`);
    if (!p) throw new Error(`${layout}: no partition ${n} on ${serial}`);
    return p;
  };
}

/**
 * What the generation's systemd units add (app/layout.ts readBootUnits): the unit files
 * mklayouts.sh wrote into the layout's generations, kept in vm-captured/<layout>/units/.
 */
function unitsOf(layout: string): { pools: string[]; binds: ReturnType<typeof bindEntriesOf> } {
  const dir = join(V, layout, "units");
  if (!existsSync(dir)) return { pools: [], binds: [] };
  const names = readdirSync(dir);
  const wanted = existsSync(join(dir, "local-fs.target.wants"))
    ? readdirSync(join(dir, "local-fs.target.wants")).filter((n) => n.endsWith(".mount"))
    : [];
  const units = wanted
    .sort()
    .map((n) => parseMountUnit(n, readFileSync(join(dir, n), "utf8")))
    .filter((u): u is MountUnit => u !== null);
  return { pools: importUnitPools(names), binds: bindEntriesOf(units) };
}

/** What detection knows about a layout's capture boot, before and after its pools are imported */
function facts(layout: string) {
  const luks = has(layout, "lsblk-json-luks-open");
  const devices: BlockDevice[] = mergeBlkid(
    parseLsblk(v(layout, luks ? "lsblk-json-luks-open" : "lsblk-json")),
    parseBlkidExport(v(layout, luks ? "blkid-export-luks-open" : "blkid-export")),
  );
  const importable = parseZpoolImport(v(layout, luks ? "zpool-import-list-luks-open" : "zpool-import-list"));
  const imported = has(layout, "zpool-list-j") ? parseZpoolList(v(layout, "zpool-list-j")) : [];
  const datasets = has(layout, "zfs-list-Hp") ? parseZfsListHp(v(layout, "zfs-list-Hp")) : [];
  const units = unitsOf(layout);
  // the fstab as the planner gets it from app/mountRun.ts: its lines, then the units' binds
  const fstab = [...parseFstab(v(layout, "fstab")), ...units.binds];
  return { devices, importable, imported, datasets, fstab, bootPools: units.pools };
}

/** Candidates once the layout's pools are imported (nothing left to import), given what is mounted. */
function candidatesImported(f: ReturnType<typeof facts>, mounts: MountEntry[] = []) {
  return findCandidates({
    devices: f.devices,
    importable: [],
    imported: f.imported,
    datasets: f.datasets,
    mounts,
    root: ROOT,
  });
}

function wanted(exp: LayoutExpectation, part: (s: string, n: number) => string): string | undefined {
  // alone in their capture boot, the auto-mount layouts are chosen without being named
  if (["openzfs-guide", "impermanence", "tmpfs-bpool"].includes(exp.name)) return undefined;
  return "pool" in exp.request ? exp.request.pool : part(exp.request.device.part, exp.request.device.n);
}

/** The agent's two planning moments for a layout, summarised */
function plans(name: Shared) {
  const exp = LAYOUT_EXPECTATIONS[name];
  const part = partOf(name);
  const f = facts(name);
  const before = findCandidates({
    devices: f.devices,
    importable: f.importable,
    imported: [],
    datasets: [],
    mounts: [],
    root: ROOT,
  });
  const choice = chooseCandidate(before, wanted(exp, part));
  if (!choice.ok) return { exp, part, f, before, choice, preview: null, plan: null };
  // what the app hands the planner about pools (app/mountRun.ts): importable before, imported after
  const importable = f.importable.map((p) => ({
    name: p.name,
    guid: p.id,
    imported: false,
    importable: p.importable,
    altroot: ROOT,
  }));
  const preview = planMount({
    root: ROOT,
    candidate: choice.candidate,
    readonly: true,
    devices: f.devices,
    datasets: [],
    fstab: f.fstab,
    pools: importable,
    bootPools: f.bootPools,
  });
  const after = candidatesImported(f);
  const candidate = after.find((c) => c.id === choice.candidate.id) ?? choice.candidate;
  const plan = planMount({
    root: ROOT,
    candidate,
    readonly: true,
    devices: f.devices,
    datasets: f.datasets,
    fstab: f.fstab,
    bootPools: f.bootPools,
    pools: [
      ...f.imported.map((p) => ({
        name: p.name,
        guid: p.guid,
        imported: true,
        importable: true,
        altroot: ROOT,
      })),
      ...importable.filter((p) => !f.imported.some((i) => i.name === p.name)),
    ],
  });
  return { exp, part, f, before, choice, preview, plan };
}

const mountsOf = (steps: { kind: string }[]) => steps.filter((s): s is MountStep => s.kind === "mount");

describe("layouts: parsers on the real captures", () => {
  it("odd names: zfs list keeps every dataset (spaces, dots, colons), the fstab and mountinfo are unescaped", () => {
    const ds = parseZfsListHp(v("odd-names", "zfs-list-Hp")).map((d) => d.name);
    expect(ds).toEqual(
      expect.arrayContaining([
        "odd-pool.v2:x/nixos root",
        "odd-pool.v2:x/nix.store-2025:a",
        "odd-pool.v2:x/my files",
        "odd-pool.v2:x/srv data",
      ]),
    );
    const fstab = parseFstab(v("odd-names", "fstab"));
    expect(fstab.map((e) => [e.source, e.target])).toEqual(
      expect.arrayContaining([
        ["odd-pool.v2:x/nixos root", "/"],
        ["odd-pool.v2:x/my files", "/srv/Ünïcode files"],
      ]),
    );
    const mounts = parseProcMounts(v("odd-names", "proc-mounts")).map((m) => m.target);
    expect(mounts).toEqual(expect.arrayContaining(["/mnt/srv/Ünïcode files", "/mnt/srv/données partagées"]));
    expect(parseZpoolImport(v("odd-names", "zpool-import-list")).map((p) => p.name)).toContain(
      "odd-pool.v2:x",
    );
  });

  it("every layout's listing, pools and fstab parse (nothing dropped)", () => {
    for (const name of NAMES) {
      const f = facts(name);
      const exp = LAYOUT_EXPECTATIONS[name];
      const names = [...f.importable.map((p) => p.name), ...f.imported.map((p) => p.name)];
      for (const p of exp.pools) expect(names, `${name}: pool ${p}`).toContain(p);
      expect(f.fstab.length, name).toBeGreaterThan(0);
      for (const m of exp.mounts.filter((x) => x.via === "zfs" && "zfs" in x.src))
        expect(
          f.datasets.map((d) => d.name),
          `${name}: ${JSON.stringify(m.src)}`,
        ).toContain((m.src as { zfs: string }).zfs);
    }
  });

  it("fstab as nixpkgs writes it: x-initrd.mount on what stage 1 mounts, zfsutil, subvol=/subvolid=, \\040", () => {
    const guide = parseFstab(v("openzfs-guide", "fstab"));
    expect(guide.find((e) => e.target === "/")?.options).toEqual([
      "x-initrd.mount",
      "zfsutil",
      "X-mount.mkdir",
    ]);
    expect(guide.find((e) => e.target === "/boot/efi")).toMatchObject({ fstype: "none", options: ["bind"] });
    const btrfs = parseFstab(v("btrfs-subvol", "fstab"));
    expect(btrfs.find((e) => e.target === "/home")?.options[0]).toMatch(/^subvolid=\d+$/);
    expect(btrfs.find((e) => e.target === "/nix")?.options).toContain("subvol=@nix");
    const imp = parseFstab(v("impermanence", "fstab"));
    expect(imp.find((e) => e.target === "/")).toMatchObject({ source: "none", fstype: "tmpfs" });
  });
});

describe("layouts: the expected tables against the real mounts", () => {
  // the capture mounted each system by hand, read-only, the way its fstab and ZFS say: the scenarios'
  // check (tableProblems) must find exactly the expected table there
  for (const name of NAMES) {
    it(`${name}: the hand-made read-only mount is exactly the expected table`, () => {
      const got = parseMountinfo(v(name, "proc-self-mountinfo")).filter(
        (m) => m.target === ROOT || m.target.startsWith(`${ROOT}/`),
      );
      const want = expectedRows(LAYOUT_EXPECTATIONS[name], ROOT, partOf(name));
      expect(tableProblems(got, want, ROOT)).toEqual([]);
    });
  }
});

describe("layouts: candidates", () => {
  for (const name of NAMES) {
    it(`${name}: the system is found and chosen; its boot/data pools are not offered as other systems`, () => {
      const { exp, f, before, choice } = plans(name);
      expect(choice.ok, JSON.stringify(before.map((c) => [c.id, c.score, c.reasons]))).toBe(true);
      // once the system is mounted (the capture's own mount table), a pool it needs besides its root
      // pool belongs to it; a boot pool is never a system of its own, mounted or not
      const mounted = candidatesImported(
        f,
        parseProcMounts(v(name, "proc-mounts")).filter(
          (m) => m.target === ROOT || m.target.startsWith(`${ROOT}/`),
        ),
      );
      const companions = exp.pools.filter((p) => p === "bpool" || p === "tank");
      for (const p of companions) {
        const offered = (list: Candidate[]) =>
          list.filter((c) => c.kind === "zfs" && c.pool === p && !c.bootPool && !c.partOfSystem);
        if (p === "bpool") expect(offered(before), `${name}: ${p} before the mount`).toEqual([]);
        expect(offered(mounted), `${name}: ${p} with the system mounted`).toEqual([]);
      }
    });
  }
});

describe("layouts: the mount plan", () => {
  for (const name of NAMES) {
    const exp = LAYOUT_EXPECTATIONS[name];
    it(`${name}: imports every pool the system needs, read-only (${exp.source.slice(0, 60)}…)`, () => {
      const { preview } = plans(name);
      expect(preview, "no system chosen").not.toBeNull();
      const imports = (preview?.steps ?? []).filter((s) => s.kind === "import-pool");
      expect(imports.map((s) => (s as { pool: string }).pool).sort()).toEqual([...exp.pools].sort());
      for (const s of imports) expect(s).toMatchObject({ readonly: true, altroot: ROOT });
    });

    it(`${name}: mounts exactly the system, parents first, read-only`, () => {
      const { plan, part } = plans(name);
      expect(plan, "no system chosen").not.toBeNull();
      const mounts = mountsOf(plan?.steps ?? []);
      const src = (m: (typeof exp.mounts)[number]): string => {
        const s = m.src;
        if ("zfs" in s) return s.zfs;
        if ("part" in s) return part(s.part, s.n);
        return "*";
      };
      expect(
        mounts.map((m) => m.path).sort(),
        JSON.stringify(
          mounts.map((m) => [m.path, m.source, m.fstype]),
          null,
          1,
        ),
      ).toEqual(exp.mounts.map((m) => m.path).sort());
      for (const m of exp.mounts) {
        const got = mounts.find((x) => x.path === m.path);
        if ("bind" in m.src || "tmpfs" in m.src) {
          expect(got, m.path).toBeDefined();
          continue;
        }
        expect({ source: got?.source, fstype: got?.fstype }, m.path).toEqual({
          source: src(m),
          fstype: m.fstype,
        });
        expect(got?.options, `${m.path} read-only`).toContain("ro");
        if (m.fstype === "btrfs")
          expect(
            got?.options.some((o) => /^subvol(id)?=/.test(o)),
            m.path,
          ).toBe(true);
      }
      expect(parentsFirst(mounts.map((m) => m.path))).toBe(true);
    });
  }
});

describe("layouts: before the fstab is read (phase 1: the root and /nix, to find the fstab)", () => {
  // The fstab lives in the store, under /nix: the agent first mounts what it can tell is / and /nix
  // from the imported pools' datasets alone. ZFS layouts only (block ones are probed on the disk).
  const ZFS_ROOTS = ["disko-zfs", "openzfs-guide", "odd-names", "luks-zfs", "tmpfs-bpool"] as const;
  /**
   * What a read-only look into each legacy dataset finds (agent/src/app/rootProbe.ts), per layout
   * whose names do not tell: odd-names' datasets hold what test/vm/guest/mklayouts.sh
   * layout_oddnames puts there (the root gets nixos-tree.sh's /etc/NIXOS and an empty /nix
   * mountpoint, the /nix dataset the store and /var/nix/profiles, "my files" one report).
   * test/app/root-probe.test.ts runs the probe itself on the fake; QEMU scenario 23 on the disk.
   */
  const LOOKS: Partial<Record<(typeof ZFS_ROOTS)[number], Omit<ProbeResult, "dataset">[]>> = {
    "odd-names": [
      // my files, nix.store-2025:a, nixos root: probeOrder's order (shallow first, by name)
      { etcNixos: false, systemProfile: false, nixDir: false, store: false, profiles: false },
      { etcNixos: false, systemProfile: false, nixDir: false, store: true, profiles: true },
      { etcNixos: true, systemProfile: false, nixDir: true, store: false, profiles: false },
    ],
  };
  for (const name of ZFS_ROOTS) {
    it(`${name}: the datasets alone (and, when their names do not tell, a look inside) give / (or a tmpfs) and /nix`, () => {
      const exp = LAYOUT_EXPECTATIONS[name];
      const f = facts(name);
      const after = candidatesImported(f);
      const choice = chooseCandidate(after, exp.pools.includes("rpool") ? "rpool" : exp.pools[0]);
      expect(choice.ok).toBe(true);
      if (!choice.ok || choice.candidate.kind !== "zfs") return;
      const pool = choice.candidate.pool;
      const altroots = new Map(f.imported.map((p) => [p.name, p.altroot]));
      const byName = rootDatasetsOf(f.datasets, pool, altroots);
      const looks = LOOKS[name];
      // the agent looks inside exactly when names and mountpoints find neither / nor /nix
      expect(byName.length === 0 && !nixDatasetOf(f.datasets, pool, altroots), "a look is needed").toBe(
        looks !== undefined,
      );
      let chosen: { root: string | null; nix: string | null } | undefined;
      if (looks) {
        const { order, capped } = probeOrder(f.datasets, pool);
        expect(capped).toBe(0);
        expect(order).toHaveLength(looks.length);
        const found = rolesFromProbes(
          order.map((d, i) => ({ dataset: d.name, ...(looks[i] as Omit<ProbeResult, "dataset">) })),
        );
        chosen = { root: found.root, nix: found.nix };
      }
      const plan = planMount({
        root: ROOT,
        candidate: choice.candidate,
        readonly: true,
        devices: f.devices,
        datasets: f.datasets,
        fstab: null,
        ...(chosen ? { chosen } : {}),
      });
      const got = new Map(mountsOf(plan.steps).map((m) => [m.path, m.source]));
      for (const path of ["/", "/nix"]) {
        // no /nix line: the store is in the root's dataset
        const want = exp.mounts.find((m) => m.path === path);
        const src = want === undefined ? undefined : "zfs" in want.src ? want.src.zfs : "tmpfs";
        expect(got.get(path), `${path} (${plan.notes.join("; ")})`).toBe(src);
      }
    });
  }
});

describe("layouts: issue 10's hostile datasets (real capture)", () => {
  // The planner is pure: it cannot see links on the disk. It maps every mountpoint inside the root
  // (altroot taken off, never `..`); the mount-time walk refuses a target that goes through a link
  // (QEMU scenario 24 asserts that on the real kernel). Here: the planned targets stay under /mnt and
  // name the paths the planted links sit on, so that walk is what decides.
  it("plans the escaping datasets at their paths inside the root, nothing outside", () => {
    const datasets = parseZfsListHp(v("hostile-zfs", "zfs-list-Hp"));
    const links = v("hostile-zfs", "planted-links")
      .split("\n")
      .filter(Boolean)
      .map((l) => /^'\/mnt([^']*)' -> '([^']*)'/.exec(l)?.[1])
      .filter((x): x is string => !!x);
    expect(links.sort()).toEqual(["/data", "/escape1", "/keys", "/srv/www"]);
    const fstab = parseFstab(v("hostile-zfs", "fstab"));
    const imported = parseZpoolList(v("hostile-zfs", "zpool-list-j"));
    const devices = mergeBlkid(
      parseLsblk(v("hostile-zfs", "lsblk-json")),
      parseBlkidExport(v("hostile-zfs", "blkid-export")),
    );
    const [c] = findCandidates({ devices, importable: [], imported, datasets, mounts: [], root: ROOT });
    expect(c).toBeDefined();
    if (!c) return;
    const plan = planMount({ root: ROOT, candidate: c, readonly: true, devices, datasets, fstab });
    const mounts = mountsOf(plan.steps);
    for (const m of mounts) expect(m.target === ROOT || m.target.startsWith(`${ROOT}/`), m.target).toBe(true);
    for (const m of mounts) expect(m.path.split("/").includes(".."), m.path).toBe(false);
    const through = (p: string) => links.some((l) => p === l || p.startsWith(`${l}/`));
    expect([...mounts.map((m) => m.path), ...plan.refused.map((r) => r.path)].filter(through).sort()).toEqual(
      ["/data", "/escape1/data", "/keys", "/srv/www/site"],
    );
  });
});
