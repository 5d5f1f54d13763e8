/**
 * NixOS found by its content (issue 12): a legacy root not named …/root or …/nixos, and /nix on a
 * dataset not named …/nix (vm-captured/odd-names: `odd-pool.v2:x/nixos root`,
 * `odd-pool.v2:x/nix.store-2025:a`). The agent mounts the pool's legacy datasets one at a time,
 * read-only, on a private directory outside /mnt, looks for the markers, unmounts, and then
 * mounts the system. The fake below models what a mount shows: each dataset's files (laid out
 * the way test/vm/guest/mklayouts.sh layout_oddnames fills them) appear at the mount's target
 * while it is mounted, and nowhere else, so a probe that looked in the wrong place, or a mount
 * left behind, fails the test.
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Detection } from "../../agent/src/app/detect.js";
import { MountRun } from "../../agent/src/app/mountRun.js";
import { PROBE_DIR } from "../../agent/src/app/rootChoice.js";
import { createServices } from "../../agent/src/app/services.js";
import type { Candidate } from "../../agent/src/core/candidates.js";
import type { CommandResult, RunOptions } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { type FakeConfig, type FakePool, FakeSystem } from "../helpers/fake-system.js";
import { makeNixosTree, outputsOf, sandbox } from "../helpers/fixtures.js";
import { offline } from "./harness.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured");
const vc = (kase: string, name: string) => readFileSync(join(V, kase, `${name}.stdout`), "utf8");
const ODD = "odd-pool.v2:x";

/** Every dataset's files live in <sandbox>/.datasets/<n> and are shown where it is mounted. */
class ContentFake extends FakeSystem {
  constructor(
    cfg: FakeConfig,
    private readonly contents: Map<string, string>,
  ) {
    super(cfg);
  }

  private hostOf(p: string): string {
    return `${this.cfg.sandbox}${p}`;
  }

  override async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    if (file === "umount") {
      const target = this.kernelPath(args[args.length - 1] as string);
      const top = [...this.mounts].reverse().find((m) => m.target === target);
      const r = await super.run(file, args, opts);
      const dir = top ? this.contents.get(top.source) : undefined;
      if (r.exitCode === 0 && dir) {
        await rename(this.hostOf(target), dir);
        await mkdir(this.hostOf(target));
      }
      return r;
    }
    const before = this.mounts.length;
    const r = await super.run(file, args, opts);
    // every mount the call added (a wave's `mount --all` adds several, some even when it fails)
    if (file === "mount")
      for (const m of this.mounts.slice(before)) {
        const dir = this.contents.get(m.source);
        // rename(2) onto the empty mountpoint directory: the dataset's files are what is seen there
        if (dir) await rename(dir, this.hostOf(m.target));
      }
    return r;
  }
}

interface Agent {
  sys: ContentFake;
  dir: string;
  services: ReturnType<typeof createServices>;
}

/** The odd-names capture on the fake; `plant` changes the datasets' files before the agent starts. */
async function oddNames(plant?: (ds: (name: string) => string) => Promise<void>): Promise<Agent> {
  const dir = await sandbox();
  const ds = (name: string) => join(dir, ".datasets", name.replaceAll("/", "%"));
  // the whole system as one tree, then split the way the layout's datasets hold it
  const all = join(dir, ".whole");
  await makeNixosTree(all, { fstab: vc("odd-names", "fstab") });
  await mkdir(join(dir, ".datasets"), { recursive: true });
  await rename(join(all, "nix"), ds(`${ODD}/nix.store-2025:a`));
  await mkdir(join(all, "nix"));
  await mkdir(join(all, "srv", "Ünïcode files"), { recursive: true });
  await mkdir(join(all, "srv", "données partagées"), { recursive: true });
  await rename(all, ds(`${ODD}/nixos root`));
  await mkdir(ds(`${ODD}/my files`));
  await writeFile(join(ds(`${ODD}/my files`), "notes.txt"), "alice\n");
  await mkdir(ds(`${ODD}/srv data`));
  await mkdir(join(dir, "mnt"));
  if (plant) await plant(ds);
  const outputs = {
    ...outputsOf("single"),
    lsblk: vc("odd-names", "lsblk-json"),
    blkid: vc("odd-names", "blkid-export"),
    zpoolImportList: vc("odd-names", "zpool-import-list"),
    zpoolListJ: vc("odd-names", "zpool-list-j"),
    zpoolStatusJ: vc("odd-names", "zpool-status-j"),
    zfsListHp: vc("odd-names", "zfs-list-Hp"),
    zfsGetCrypto: undefined,
  };
  const pools: FakePool[] = [...outputs.zpoolImportList.matchAll(/pool: (\S+)\n\s+id: (\d+)/g)].map((m) => ({
    name: m[1] as string,
    guid: m[2] as string,
    lastHostId: null,
  }));
  const contents = new Map(
    [`${ODD}/nixos root`, `${ODD}/nix.store-2025:a`, `${ODD}/my files`, `${ODD}/srv data`].map((n) => [
      n,
      ds(n),
    ]),
  );
  const sys = new ContentFake({ outputs, pools, hostid: "8425e349", sandbox: dir }, contents);
  const services = createServices(
    sys,
    pino({ level: "silent" }),
    {
      root: "/mnt",
      version: "test",
      autoMount: "off",
      urls: () => [],
      detectionMaxAgeMs: 0,
      jobGraceMs: 200,
      rebootDelayMs: 0,
    },
    offline,
  );
  return { sys, dir, services };
}

const mountLines = (sys: FakeSystem) =>
  sys.calls.filter((c) => c.op === "run" && (c.file === "mount" || c.file === "umount")).map((c) => c.args);
const probeMounts = (sys: FakeSystem) =>
  sys.calls.filter((c) => c.file === "mount" && c.args[c.args.length - 1] === PROBE_DIR);

describe("a legacy root not named …/root (odd-names): NixOS found by its content", () => {
  it("probes the legacy datasets one at a time, read-only, outside /mnt; then mounts the system as its fstab says", async () => {
    const { sys, services } = await oddNames();
    const res = await services.mounts.mount({ pool: ODD });
    expect(res.nixos?.nixos).toBe(true);
    expect(sys.mounts.filter((m) => m.target.startsWith("/mnt")).map((m) => [m.target, m.source])).toEqual([
      ["/mnt", `${ODD}/nixos root`],
      ["/mnt/nix", `${ODD}/nix.store-2025:a`],
      ["/mnt/boot", expect.stringMatching(/^\/dev\/nvme\dn1p1$/)],
      ["/mnt/srv/Ünïcode files", `${ODD}/my files`],
      ["/mnt/srv/données partagées", `${ODD}/srv data`],
    ]);
    // shallow first, by name; each probe read-only with nodev,nosuid,noexec, unmounted before the next
    const probes = probeMounts(sys);
    expect(probes.map((c) => c.args[c.args.length - 2])).toEqual([
      `${ODD}/my files`,
      `${ODD}/nix.store-2025:a`,
      `${ODD}/nixos root`,
    ]);
    for (const p of probes) expect(p.args).toContain(`ro,nodev,nosuid,noexec,mntpoint=${PROBE_DIR}`);
    const lines = mountLines(sys) as string[][];
    for (let i = 0; i < lines.length; i++)
      if (lines[i]?.at(-1) === PROBE_DIR && lines[i]?.includes("-t"))
        expect(lines[i + 1], "a probe is unmounted before anything else").toEqual([PROBE_DIR]);
    expect(sys.mounts.some((m) => m.target === PROBE_DIR)).toBe(false);
    expect(res.warnings).toEqual(
      expect.arrayContaining([
        `${ODD}/nixos root holds a NixOS root (found by its content)`,
        `${ODD}/nix.store-2025:a holds /nix (found by its content)`,
      ]),
    );
    // read-only throughout: the only changes are the read-only import and the mounts
    const changes = sys
      .mutations()
      .filter((c) => c.op === "run" && c.file !== "mount" && c.file !== "umount");
    expect(changes.map((c) => c.args.slice(0, 6).join(" "))).toEqual([`import -N -R /mnt -o readonly=on`]);
    const out = await services.mounts.unmount({ export: true });
    expect(out.exported).toEqual([ODD]);
  });

  it("the operator can name the root dataset: no probe for it", async () => {
    const { sys, services } = await oddNames();
    const res = await services.mounts.mount({ pool: `${ODD}/nixos root` });
    expect(res.result).toBe("mounted");
    expect(res.warnings).toContain(`/ is ${ODD}/nixos root, as asked`);
    // /nix is still looked for by content (the root's /nix is an empty mountpoint)
    expect(probeMounts(sys).map((c) => c.args[c.args.length - 2])).toEqual([
      `${ODD}/my files`,
      `${ODD}/nix.store-2025:a`,
    ]);
    expect(sys.mounts.find((m) => m.target === "/mnt/nix")?.source).toBe(`${ODD}/nix.store-2025:a`);
  });

  it("hostile markers do not fool it: a symlinked etc and a FIFO NIXOS are no root; nothing is mounted, all undone", async () => {
    const { sys, services } = await oddNames(async (ds) => {
      const root = ds(`${ODD}/nixos root`);
      // no system profile: only /etc could tell
      await rm(join(root, "nix"), { recursive: true });
      await mkdir(join(root, "nix"));
      await rm(join(root, "etc"), { recursive: true });
      await symlink("/srv", join(root, "etc"));
      await writeFile(join(root, "srv", "NIXOS"), "");
      // another dataset with a FIFO where /etc/NIXOS would be
      await mkdir(join(ds(`${ODD}/my files`), "etc"));
      execFileSync("mkfifo", [join(ds(`${ODD}/my files`), "etc", "NIXOS")]);
      // and the store is gone: nothing else says NixOS
      await rm(ds(`${ODD}/nix.store-2025:a`), { recursive: true });
      await mkdir(ds(`${ODD}/nix.store-2025:a`));
    });
    const err = await rejection(services.mounts.mount({ pool: ODD }));
    expect(err.code).toBe("no-system-found");
    expect(err.extras.state).toBe("rolled-back");
    expect(sys.mounts.filter((m) => m.target.startsWith("/mnt") || m.target === PROBE_DIR)).toEqual([]);
    expect(sys.imported.size).toBe(0);
    expect(probeMounts(sys)).toHaveLength(3);
  });

  it("a probe that cannot be unmounted stops the run: unmount-failed, the rest rolled back", async () => {
    const { sys, services } = await oddNames();
    sys.cfg.fail = (file, args) =>
      file === "umount" && args[args.length - 1] === PROBE_DIR
        ? { exitCode: 32, stderr: `umount: ${PROBE_DIR}: target is busy.\n` }
        : undefined;
    const err = await rejection(services.mounts.mount({ pool: ODD }));
    expect(err.code).toBe("unmount-failed");
    expect(probeMounts(sys)).toHaveLength(1);
    expect(sys.mounts.filter((m) => m.target.startsWith("/mnt"))).toEqual([]);
    // the stuck probe is tried again by the rollback and reported as left over, not hidden
    expect(err.extras.state).toBe("rollback-incomplete");
    expect(JSON.stringify(err.extras.rollbackFailures)).toContain(PROBE_DIR);
    expect(sys.imported.size).toBe(1);
  });
});

describe("boot environments (rpool/ROOT/a, rpool/ROOT/b; vm-captured/boot-environments)", () => {
  const be = (name: string) => vc("boot-environments", name);
  /** Phase 1 of a mount of rpool with the given `zpool get -H -p bootfs` answer (real captures). */
  async function phase1(bootfs: string, rootDataset: string | null = null) {
    const dir = await sandbox();
    await mkdir(join(dir, "mnt", "nix"), { recursive: true });
    const sys = new FakeSystem({
      outputs: { ...outputsOf("single"), zfsListHp: be("zfs-list-Hp"), zfsGetCrypto: undefined },
      pools: [{ name: "rpool", guid: "4242", lastHostId: null }],
      hostid: "8425e349",
      sandbox: dir,
      extra: (file, args) =>
        file === "zpool" && args[0] === "get"
          ? { exitCode: 0, stdout: bootfs, stderr: "", timedOut: false, notFound: false, durationMs: 1 }
          : undefined,
    });
    const candidate: Candidate = {
      kind: "zfs",
      id: "zfs:rpool",
      pool: "rpool",
      guid: "4242",
      state: "ONLINE",
      imported: false,
      importable: true,
      disks: [],
      score: 2,
      reasons: [],
      partOfSystem: false,
      bootPool: false,
    };
    const d = {
      imported: [],
      importable: [],
      datasets: [],
      devices: [],
      hostid: "8425e349",
    } as unknown as Detection;
    const run = new MountRun(
      sys,
      pino({ level: "silent" }),
      "/mnt",
      candidate,
      d,
      { readonly: true },
      rootDataset,
    );
    await run.importPools([{ pool: "rpool", guid: "4242" }]);
    return { sys, run };
  }
  const at = (sys: FakeSystem) =>
    sys.mounts.filter((m) => m.target.startsWith("/mnt")).map((m) => [m.target, m.source]);

  it("the pool's bootfs is mounted at / (zpool get -H -p bootfs), and the choice is said", async () => {
    const { sys, run } = await phase1(be("zpool-get-bootfs"));
    await run.bootstrap();
    expect(at(sys)).toEqual([
      ["/mnt", "rpool/ROOT/b"],
      ["/mnt/nix", "rpool/nix"],
    ]);
    expect(sys.commandLines()).toContain("zpool get -H -p bootfs rpool");
    expect(run.warnings.join("\n")).toContain("bootfs rpool/ROOT/b is mounted");
  });

  it("no bootfs: ambiguous-system offering each environment, nothing mounted", async () => {
    const { sys, run } = await phase1(be("zpool-get-bootfs-unset"));
    const err = await rejection(run.bootstrap());
    expect(err.code).toBe("ambiguous-system");
    expect(err.extras.candidates).toEqual(["zfs:rpool/ROOT/a", "zfs:rpool/ROOT/b"]);
    expect(at(sys)).toEqual([]);
  });

  it("the operator's pick wins over bootfs; bootfs is not even read", async () => {
    const { sys, run } = await phase1(be("zpool-get-bootfs"), "rpool/ROOT/a");
    await run.bootstrap();
    expect(at(sys)[0]).toEqual(["/mnt", "rpool/ROOT/a"]);
    expect(sys.commandLines().some((l) => l.startsWith("zpool get"))).toBe(false);
  });

  it("a pick that is no mountable dataset of the pool is refused", async () => {
    const { run } = await phase1(be("zpool-get-bootfs"), "rpool/ROOT");
    expect((await rejection(run.bootstrap())).code).toBe("no-system-found");
  });
});
