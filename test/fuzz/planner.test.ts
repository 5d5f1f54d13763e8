/**
 * Fuzzing of the pure planners: findCandidates + planMount fed with parsed (mutated) real captures
 * and generated fstabs, and resolveInRoot/resolveConfined with an in-memory symlink world.
 * Planners are total: any exception is a bug. Same fixed seed as the parser fuzzing.
 */
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Candidate, chooseCandidate, findCandidates } from "../../agent/src/core/candidates.js";
import { LifeboatError, ParseError } from "../../agent/src/core/errors.js";
import { type BlockDevice, mergeBlkid, parseBlkidExport, parseLsblk } from "../../agent/src/core/lsblk.js";
import {
  type FstabEntry,
  type MountEntry,
  parseFstab,
  parseProcMounts,
} from "../../agent/src/core/mounts.js";
import { type MountStep, planMount } from "../../agent/src/core/plan.js";
import { type Dataset, parseZfsListHp, withEncryptionRoots } from "../../agent/src/core/zfs.js";
import { type ImportablePool, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { type ImportedPool, parseZpoolList } from "../../agent/src/core/zpoolJson.js";
import { mountedTargets, rig } from "../app/harness.js";
import { outputsOf, ZFS_FSTAB } from "../helpers/fixtures.js";
import { type LinkReader, resolveConfined, resolveInRoot } from "../helpers/paths-model.js";
import { opts } from "./fuzz.js";
import { expectTyped, expectTypedAsync, FSTABS, mutated, NASTY, RUNS, seeds } from "./mutate.js";

class NeverThrows extends Error {}

const CASES = ["single", "mirror", "degraded", "stripe-missing", "encrypted", "two-pools", "ext4", "nodisks"];
const CASE_OUTPUTS = CASES.map((k) => outputsOf(k));
const PROC_MOUNTS = seeds(/proc-mounts.*\.stdout$/);
const ROOTS = ["/mnt", "/mnt/", "/", "/rescue/root", "/a b", "/mnt//x"];

/** Fstab targets the planner must cope with; `..` ones are a reported bug (known-bugs.test.ts). */
const ODD_TARGETS = ["/nix/", "//", "/./nix", "/a\\040b", "relative", "/srv/data", "/proc", "none"];

const fstabLine = fc
  .record({
    source: fc.oneof(
      fc.constantFrom(
        "nvmepool/root",
        "nvmepool/nix",
        "nvmepool/home",
        "nvmepool/var",
        "tank/backups",
        "rpool/ROOT/nixos",
        "/dev/disk/by-uuid/3302-674B",
        "/dev/disk/by-label/nixos",
        "/dev/disk/by-label/x\\x20y",
        "UUID=3302-674B",
        "LABEL=boot",
        "PARTUUID=00000000-0000-0000-0000-000000000000",
        "PARTLABEL=disk-main-ESP",
        "/dev/nvme0n1p1",
        "/dev/nvme0n1p2",
        "/dev/vda",
        "tmpfs",
        "none",
      ),
      fc.constantFrom(...NASTY).filter((s) => /^\S+$/.test(s)),
    ),
    target: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("/", "/nix", "/home", "/var", "/boot", "/boot/efi", "/efi") },
      { weight: 1, arbitrary: fc.constantFrom(...ODD_TARGETS) },
    ),
    fstype: fc.constantFrom(
      "zfs",
      "vfat",
      "ext4",
      "xfs",
      "btrfs",
      "swap",
      "none",
      "tmpfs",
      "nfs",
      "auto",
      "9p",
    ),
    options: fc.constantFrom(
      "defaults",
      "zfsutil",
      "fmask=0022,dmask=0022",
      "ro",
      "noauto",
      "bind",
      "x-systemd.automount,nofail",
      "rw,noatime,compress=zstd",
      "",
    ),
  })
  .map((e) => `${e.source} ${e.target} ${e.fstype} ${e.options} 0 0`);

const fstabText = fc.oneof(
  fc.array(fstabLine, { maxLength: 8 }).map((ls) => ls.join("\n")),
  mutated(FSTABS, 3),
);

interface Scenario {
  lsblk: string;
  blkid: string;
  importList: string;
  zpoolList: string;
  zfsList: string;
  fstab: string | null;
  procMounts: string;
  root: string;
  readonly: boolean;
}

function parsedOr<T>(fn: (s: string) => T, text: string, fallback: T): T {
  try {
    return fn(text);
  } catch (err) {
    if (err instanceof ParseError) return fallback;
    throw err;
  }
}

const scenario: fc.Arbitrary<Scenario> = fc.nat({ max: CASES.length - 1 }).chain((kase) => {
  const o = CASE_OUTPUTS[kase] as (typeof CASE_OUTPUTS)[number];
  const seed = (name: string, text: string | undefined) =>
    fc.oneof({ weight: 3, arbitrary: fc.constant(text ?? "") }, mutated([{ name, text: text ?? "" }], 3));
  return fc.record({
    lsblk: seed("lsblk", o.lsblk),
    blkid: seed("blkid", o.blkid),
    importList: seed("import", o.zpoolImportList),
    zpoolList: seed("zpool-list", o.zpoolListJ),
    zfsList: seed("zfs-list", o.zfsListHp),
    fstab: fc.option(fstabText, { nil: null }),
    procMounts: fc.oneof(fc.constant(""), mutated(PROC_MOUNTS, 3)),
    root: fc.constantFrom(...ROOTS),
    readonly: fc.boolean(),
  });
});

interface Facts {
  devices: BlockDevice[];
  importable: ImportablePool[];
  imported: ImportedPool[];
  datasets: Dataset[];
  fstab: FstabEntry[] | null;
  mounts: MountEntry[];
}

function facts(s: Scenario): Facts {
  const devices = parsedOr(parseLsblk, s.lsblk, []);
  const blkid = parsedOr(parseBlkidExport, s.blkid, new Map());
  return {
    devices: mergeBlkid(devices, blkid),
    importable: parsedOr(parseZpoolImport, s.importList, []),
    imported: parsedOr(parseZpoolList, s.zpoolList, []),
    datasets: withEncryptionRoots(parsedOr(parseZfsListHp, s.zfsList, []), new Map()),
    fstab: s.fstab === null ? null : parsedOr(parseFstab, s.fstab, null),
    mounts: parsedOr(parseProcMounts, s.procMounts, []),
  };
}

const depth = (p: string) => (p === "/" ? 0 : p.split("/").filter(Boolean).length);

function plansOf(s: Scenario) {
  const f = facts(s);
  const candidates = findCandidates({ ...f, root: s.root });
  const plans = candidates.map((candidate: Candidate) =>
    planMount({
      root: s.root,
      candidate,
      readonly: s.readonly,
      devices: f.devices,
      datasets: f.datasets,
      fstab: f.fstab,
    }),
  );
  return { candidates, plans, choice: chooseCandidate(candidates) };
}

describe("findCandidates + planMount on parsed, mutated real captures", () => {
  it(`${RUNS} scenarios: total, targets under the root, ordered by depth, one mount per path`, () => {
    let planned = 0;
    fc.assert(
      fc.property(scenario, (s) => {
        const { candidates, plans, choice } = expectTyped(
          "findCandidates/planMount",
          plansOf,
          s,
          NeverThrows,
        ) as ReturnType<typeof plansOf>;
        const ids = candidates.map((c) => c.id);
        expect(new Set(ids).size).toBe(ids.length);
        for (let i = 1; i < candidates.length; i++)
          expect((candidates[i - 1] as Candidate).score).toBeGreaterThanOrEqual(
            (candidates[i] as Candidate).score,
          );
        if (choice.ok) expect(ids).toContain(choice.candidate.id);
        const r = s.root.replace(/\/+$/, "");
        for (const plan of plans) {
          planned++;
          const mounts = plan.steps.filter((x): x is MountStep => x.kind === "mount");
          const firstMount = plan.steps.findIndex((x) => x.kind === "mount");
          if (firstMount >= 0)
            expect(plan.steps.slice(firstMount).every((x) => x.kind === "mount")).toBe(true);
          for (const m of mounts) {
            expect(m.target === (r || "/") || m.target.startsWith(`${r}/`), m.target).toBe(true);
            if (m.origin === "fstab") expect(m.path.startsWith("/")).toBe(true);
          }
          for (let i = 1; i < mounts.length; i++)
            expect(depth((mounts[i - 1] as MountStep).path)).toBeLessThanOrEqual(
              depth((mounts[i] as MountStep).path),
            );
          const paths = mounts.map((m) => m.path);
          expect(new Set(paths).size).toBe(paths.length);
          if (!mounts.some((m) => m.path === "/")) expect(plan.complete).toBe(false);
          // Every mount lands on the planned mount it names, which comes first; binds come from
          // inside the root; read-only plans never ask for writes, exec, devices or setuid.
          const seen = new Set<string>();
          for (const m of mounts) {
            if (m.parent !== null) expect(seen.has(m.parent), `${m.path} before ${m.parent}`).toBe(true);
            seen.add(m.path);
            // A bind keeps the flags of the planned mount its source is on.
            if (m.method === "bind") {
              expect(inside(m.source, s.root)).toBe(true);
              continue;
            }
            expect(m.options).toEqual(expect.arrayContaining(["nodev", "nosuid"]));
            if (s.readonly && m.fstype !== "tmpfs") expect(m.options[0]).toBe("ro");
            if (s.readonly) expect(m.options).toContain("noexec");
            for (const o of m.options)
              expect(o).not.toMatch(
                /^(rw|exec|suid|dev|rbind|move|remount|loop.*|errors=panic|X-mount\..*)$/,
              );
          }
        }
      }),
      opts,
    );
    expect(planned).toBeGreaterThan(RUNS / 2);
  });
});

// ── resolveInRoot / resolveConfined with an in-memory link reader ───────────────────────────────

const SEGS = ["a", "b", "etc", "nix", "store", "..", ".", "", "x y", "\u00e9", "..."];
const relPath = fc.array(fc.constantFrom(...SEGS), { maxLength: 7 }).map((a) => a.join("/"));
const anyPath = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.boolean(), relPath).map(([abs, p]) => (abs ? `/${p}` : p)) },
  { weight: 1, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

interface LinkWorld {
  root: string;
  links: [string, string][];
  path: string;
  followLast: boolean;
}
const linkWorld: fc.Arbitrary<LinkWorld> = fc.record({
  root: fc.constantFrom("/mnt", "/mnt/", "/", "/r/x", "/mnt//"),
  links: fc.array(fc.tuple(relPath, anyPath), { maxLength: 12 }),
  path: anyPath,
  followLast: fc.boolean(),
});

/** Links keyed by host path under the root; the reader fails the test if asked about anything outside. */
function reader(w: LinkWorld): LinkReader {
  const r = w.root.replace(/\/+$/, "");
  const map = new Map<string, string>();
  for (const [p, target] of w.links) {
    const segs = p.split("/").filter((x) => x !== "" && x !== "." && x !== "..");
    if (segs.length > 0) map.set(`${r}/${segs.join("/")}`, target);
  }
  return {
    async readlink(hostPath) {
      if (!(hostPath === r || hostPath.startsWith(`${r}/`)))
        throw new Error(`resolver looked outside the root: ${hostPath}`);
      return map.get(hostPath) ?? null;
    },
  };
}

function inside(result: string, root: string): boolean {
  if (root.replace(/\/+$/, "") === "") return result.startsWith("/") && !result.split("/").includes("..");
  const r = root.replace(/\/+$/, "");
  if (!(result === `${r}/` || result.startsWith(`${r}/`))) return false;
  return !result
    .slice(r.length)
    .split("/")
    .some((s) => s === ".." || s === ".");
}

describe("resolveInRoot / resolveConfined (in-memory symlinks)", () => {
  it(`${RUNS} link worlds: resolves inside the root or throws path-escape, never reads outside`, async () => {
    await fc.assert(
      fc.asyncProperty(linkWorld, async (w) => {
        const rd = reader(w);
        const res = await expectTypedAsync(
          "resolveInRoot",
          (x: LinkWorld) => resolveInRoot(x.root, x.path, rd, x.followLast),
          w,
        );
        if (res === undefined) return;
        expect(inside(res as string, w.root), `${res} outside ${w.root}`).toBe(true);
      }),
      opts,
    );
  });

  it(`${RUNS} link worlds: resolveConfined stays inside its base or throws path-escape`, async () => {
    await fc.assert(
      fc.asyncProperty(linkWorld, relPath, async (w, base) => {
        const rd = reader(w);
        const b = `/${base}`;
        const res = await expectTypedAsync(
          "resolveConfined",
          (x: LinkWorld) => resolveConfined(x.root, b, x.path, rd),
          w,
        );
        if (res === undefined) return;
        const baseHost = await resolveInRoot(w.root, b, rd);
        expect(res === baseHost || (res as string).startsWith(`${baseHost}/`)).toBe(true);
      }),
      opts,
    );
  });
});

// ── confinement on resolved paths: the whole mount on the kernel-modelling fake ─────────────────

/** Places a disk could plant a link (or a file) on the way to a mount target. */
const SPOTS = [
  "srv",
  "srv/data",
  "srv/a",
  "srv/a/b",
  "data",
  "boot",
  "home",
  "var",
  "var/lib",
  "var/log",
  "opt",
];
/** Where those links point: the rescue side (absolute), up and out (relative), back inside. */
const AIMS = [
  "/etc",
  "/",
  "/root",
  "..",
  "../..",
  "../../..",
  "/mnt/../etc",
  "/tmp",
  "home",
  "/mnt/home",
  "srv",
];
const TARGETS = [
  "/srv/data",
  "/srv/a/b/c",
  "/data",
  "/boot",
  "/boot/efi",
  "/home",
  "/var/lib",
  "/var/log/x",
  "/opt/y",
];
const SOURCES = [
  "/dev/disk/by-uuid/3302-674B vfat umask=0077",
  "nvmepool/home zfs defaults",
  "nvmepool/var zfs defaults",
  "/dev/nvme0n1p1 auto defaults",
  "/srv none bind",
  "/home none bind",
];

interface Hostile {
  plants: { spot: string; aim: string | null }[];
  lines: { source: string; target: string }[];
  readonly: boolean;
}

const hostile: fc.Arbitrary<Hostile> = fc.record({
  plants: fc.array(
    fc.record({ spot: fc.constantFrom(...SPOTS), aim: fc.option(fc.constantFrom(...AIMS), { nil: null }) }),
    { minLength: 1, maxLength: 4 },
  ),
  lines: fc.array(fc.record({ source: fc.constantFrom(...SOURCES), target: fc.constantFrom(...TARGETS) }), {
    minLength: 1,
    maxLength: 4,
  }),
  readonly: fc.boolean(),
});

describe("mount on the fake with planted links: confinement on the paths the kernel resolves", () => {
  it("300 hostile trees: every mount the kernel model records is under /mnt, a failure leaves nothing", async () => {
    let refused = 0;
    let mounted = 0;
    await fc.assert(
      fc.asyncProperty(hostile, async (h) => {
        const fstab = `${ZFS_FSTAB}${h.lines
          .map((l) => {
            const [src, type, o] = l.source.split(" ");
            return `${src} ${l.target} ${type} ${o} 0 0`;
          })
          .join("\n")}\n`;
        const r = await rig("single", { tree: { fstab } });
        await mkdir(join(r.dir, "etc"), { recursive: true });
        await mkdir(join(r.dir, "root"), { recursive: true });
        for (const p of h.plants) {
          const at = join(r.dir, "mnt", p.spot);
          await rm(at, { recursive: true, force: true }).catch(() => undefined);
          await mkdir(dirname(at), { recursive: true }).catch(() => undefined);
          if (p.aim === null) await writeFile(at, "x").catch(() => undefined);
          else await symlink(p.aim, at).catch(() => undefined);
        }
        const outcome = await r.mounts.mount({ readonly: h.readonly }).then(
          () => "mounted" as const,
          (err: unknown) => {
            expect(err).toBeInstanceOf(LifeboatError);
            expect((err as LifeboatError).extras.state ?? "rolled-back").toBe("rolled-back");
            return "refused" as const;
          },
        );
        if (outcome === "mounted") mounted++;
        else refused++;
        const stray = r.sys.mounts.filter(
          (m) =>
            m.target !== "/" && m.target !== "/proc" && m.target !== "/mnt" && !m.target.startsWith("/mnt/"),
        );
        expect(stray).toEqual([]);
        // under the root, or the rescue side's own directory for a wave's table of targets
        for (const c of r.sys.calls.filter((x) => x.op === "mkdir"))
          expect(c.file.startsWith("/mnt/") || c.file === "/run/lifeboat", c.file).toBe(true);
        if (outcome === "refused") {
          expect(mountedTargets(r.sys)).toEqual([]);
          expect(r.sys.imported.size).toBe(0);
        }
        await rm(r.dir, { recursive: true, force: true });
      }),
      { seed: opts.seed, numRuns: 300 },
    );
    // Both outcomes happen: the property is not vacuous.
    expect(refused).toBeGreaterThan(30);
    expect(mounted).toBeGreaterThan(10);
  }, 240_000);
});
