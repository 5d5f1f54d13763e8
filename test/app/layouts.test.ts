/**
 * Orchestration of real layouts on the recording fake: a system on two pools in one transaction
 * (with a fault injected at every step), a tmpfs root, and hostile mount targets (symlinks at
 * every depth). The fake resolves mount targets as the kernel does, so an escape would show up
 * as a mount outside /mnt.
 */
import { readFileSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { phaseOf } from "../../agent/src/app/detect.js";
import { isReadOnlyCommand } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import type { FakeSystem } from "../helpers/fake-system.js";
import { fixture, ZFS_FSTAB } from "../helpers/fixtures.js";
import { registerSecret } from "../helpers/secrets.js";
import { mountedTargets, rig, SEED_TARGETS } from "./harness.js";

const LIVE = new Set(["/", "/proc"]);
/** Every mount the fake holds that is neither the live system's nor under /mnt. */
const outside = (sys: FakeSystem) =>
  sys.mounts.filter((m) => !LIVE.has(m.target) && m.target !== "/mnt" && !m.target.startsWith("/mnt/"));

/** A fault probe: records every point a mutating command can fail (each entry of a wave included). */
const failurePoints = () => {
  const steps: string[] = [];
  const fail = (file: string, args: readonly string[]) => {
    if (!isReadOnlyCommand(file, args)) steps.push([file, ...args].join(" "));
    return undefined;
  };
  return { steps, fail };
};

describe("a system on two pools (two-pools capture: nvmepool + tank; the fstab mounts tank/data)", () => {
  const fstab = `${ZFS_FSTAB}tank/data /srv/data zfs defaults 0 0\n`;
  const prepare = async (dir: string) => {
    await mkdir(join(dir, "mnt/srv/data"), { recursive: true });
    await mkdir(join(dir, "mnt/srv/backups"), { recursive: true });
  };

  it("imports both pools read-only in one transaction; tank's own mountpoint is mounted too (zfsutil)", async () => {
    const r = await rig("two-pools", { tree: { fstab } });
    await prepare(r.dir);
    const res = await r.mounts.mount();
    expect(res.plan?.pools).toEqual(["nvmepool", "tank"]);
    expect(r.sys.imported.get("tank")).toMatchObject({ readonly: true, altroot: "/mnt", forced: false });
    expect(mountedTargets(r.sys)).toEqual([
      "/mnt",
      "/mnt/nix",
      "/mnt/home",
      "/mnt/var",
      "/mnt/boot",
      "/mnt/srv/data",
      "/mnt/srv/backups",
    ]);
    expect(r.sys.mounts.find((m) => m.target === "/mnt/srv/backups")).toMatchObject({
      source: "tank/backups",
      options: expect.arrayContaining(["ro", "nodev", "nosuid", "noexec"]),
    });
    // tank/data and tank/backups are siblings under /srv: one wave, ZFS by mount(2) as `zfs mount` does
    expect(r.sys.waveTables.flat()).toContain(
      "tank/backups /mnt/srv/backups zfs ro,zfsutil,nodev,nosuid,noexec,mntpoint=/mnt/srv/backups 0 0",
    );
    expect(r.sys.commandLines().some((l) => l.includes(" -f"))).toBe(false);
    // Unmount + export hands back both pools.
    const out = await r.mounts.unmount({ export: true });
    expect(out.exported.sort()).toEqual(["nvmepool", "tank"]);
    expect(r.sys.imported.size).toBe(0);
  });

  it("an unmount stopped by a busy mount puts back all it took down, tank's own-mountpoint dataset too", async () => {
    const r = await rig("two-pools", {
      tree: { fstab },
      fake: {
        fail: (file, args) =>
          file === "umount" && args[0] === "/mnt"
            ? { exitCode: 32, stderr: "umount: /mnt: target is busy.\n" }
            : undefined,
      },
    });
    await prepare(r.dir);
    await r.mounts.mount();
    const before = r.sys.mounts.map((m) => `${m.source} ${m.target} ${m.options.includes("ro")}`).sort();
    const from = r.sys.calls.length;
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("target-busy");
    expect(err.extras.state).toBe("rolled-back");
    // mount.zfs would refuse tank/backups (a mountpoint of its own): put back by mount(2), as mounted
    const back = r.sys.calls.slice(from).filter((c) => c.file === "mount");
    expect(back.length).toBe(6);
    for (const c of back.filter((c) => c.args.includes("zfs"))) expect(c.args).toContain("--internal-only");
    expect(r.sys.mounts.map((m) => `${m.source} ${m.target} ${m.options.includes("ro")}`).sort()).toEqual(
      before,
    );
    expect(r.sys.imported.size).toBe(2);
  });

  it("a fault at every mutating step rolls back everything (but tank's import: tank skipped, the rest mounted)", async () => {
    const { steps, fail } = failurePoints();
    const probe = await rig("two-pools", { tree: { fstab }, fake: { fail } });
    await prepare(probe.dir);
    await probe.mounts.mount();
    expect(steps.length).toBeGreaterThan(8);
    for (let i = 0; i < steps.length; i++) {
      let n = 0;
      const r = await rig("two-pools", {
        tree: { fstab },
        fake: {
          fail: (file, args) =>
            isReadOnlyCommand(file, args)
              ? undefined
              : n++ === i
                ? { exitCode: 32, stderr: `injected failure at step ${i}\n` }
                : undefined,
        },
      });
      await prepare(r.dir);
      if (/^zpool import .*(tank|17239120421616948929)$/.test(steps[i] ?? "")) {
        // A pool the fstab names besides the root's: its failure skips it (and its lines), never the system.
        const res = await r.mounts.mount();
        expect(
          res.skipped.map((e) => [e.kind, e.path, e.source]),
          `step ${i}`,
        ).toEqual([
          ["fstab", "/srv/data", "tank/data"],
          ["pool", "", "tank"],
        ]);
        expect(r.sys.imported.has("tank"), `step ${i}`).toBe(false);
        expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
        expect(outside(r.sys), `step ${i}`).toEqual([]);
        continue;
      }
      const err = await rejection(r.mounts.mount());
      expect(err.extras.state, `step ${i}: ${steps[i]}`).toBe("rolled-back");
      expect(mountedTargets(r.sys), `step ${i}`).toEqual([]);
      expect(r.sys.imported.size, `step ${i}: ${steps[i]}`).toBe(0);
      expect(r.sys.hostid, `step ${i}`).toBe("00bab10c");
      expect(outside(r.sys), `step ${i}`).toEqual([]);
    }
  });

  it("a data pool last used by yet another host: skipped with the reason (never forced), the root pool mounted", async () => {
    const r = await rig("two-pools", { tree: { fstab } });
    await prepare(r.dir);
    const tank = r.sys.cfg.pools.find((p) => p.name === "tank");
    if (tank) tank.lastHostId = "deadbeef";
    const res = await r.mounts.mount({ force: true });
    expect(res.skipped[0]).toMatchObject({ kind: "fstab", path: "/srv/data" });
    expect(res.skipped[0]?.reason).toMatch(/pool tank cannot be imported \(pool tank was last used by/);
    expect(res.skipped[1]).toMatchObject({ kind: "pool", source: "tank", essential: false });
    expect(res.skipped[1]?.reason).toMatch(/^pool tank was last used by atlas/);
    expect(res.pools.map((p) => [p.pool, p.importedBecause])).toEqual([["nvmepool", "root"]]);
    expect([...r.sys.imported.keys()]).toEqual(["nvmepool"]);
    // `force` is for the pool the operator mounts, never for one the disk names.
    expect(r.sys.commandLines().filter((l) => l.startsWith("zpool import") && l.includes(" -f"))).toEqual([]);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
    // Read-write without acknowledging it: refused, nothing left behind; with it: mounted.
    const rw = await rig("two-pools", { tree: { fstab } });
    await prepare(rw.dir);
    const t2 = rw.sys.cfg.pools.find((p) => p.name === "tank");
    if (t2) t2.lastHostId = "deadbeef";
    const err = await rejection(rw.mounts.mount({ readonly: false }));
    expect(err.code).toBe("skipped-entries");
    expect(err.status).toBe(409);
    expect(err.extras).toMatchObject({ state: "rolled-back", skipped: [{ kind: "pool", source: "tank" }] });
    expect(rw.sys.imported.size).toBe(0);
    const ok = await rw.mounts.mount({ readonly: false, acceptSkipped: ["tank", "/srv/data"] });
    expect(ok.readonly).toBe(false);
    expect(ok.skipped.map((e) => e.path || e.source)).toEqual(["/srv/data", "tank"]);
  });
});

describe("a root that is not on disk (nix-community/impermanence: tmpfs /, the pool holds /nix and /persist)", () => {
  // Listing in `zfs list -H -p` form under -R /mnt; constructed from impermanence's README layout
  // until the QEMU "layouts" scenario captures it.
  const listing =
    "nvmepool\tnone\toff\toff\t-\t2670592\nnvmepool/nix\tlegacy\ton\toff\t-\t1785856\nnvmepool/persist\tlegacy\ton\toff\t-\t98304\n";
  const fstab =
    "none / tmpfs defaults,size=25%,mode=755 0 0\nnvmepool/nix /nix zfs x-initrd.mount 0 0\nnvmepool/persist /persist zfs x-initrd.mount 0 0\n";

  it("tmpfs at the root, /nix, the fstab of the profile, /persist; the tmpfs ends read-only with the fstab's options", async () => {
    const r = await rig("single", { tree: { fstab }, fake: {} });
    r.sys.cfg.outputs.zfsListHp = listing;
    await rm(join(r.dir, "mnt/etc/NIXOS"));
    const res = await r.mounts.mount({ requireNixos: true });
    expect(res.nixos?.markers).toEqual(["/nix/var/nix/profiles/system"]);
    expect(mountedTargets(r.sys)).toEqual(["/mnt", "/mnt/nix", "/mnt/persist"]);
    expect(r.sys.mounts.find((m) => m.target === "/mnt")).toMatchObject({
      source: "tmpfs",
      fstype: "tmpfs",
      options: ["ro", "size=25%", "mode=755", "nodev", "nosuid", "noexec"],
    });
    // /persist did not exist on the tmpfs: created there (not on the disk), even read-only.
    expect(r.sys.calls.filter((c) => c.op === "mkdir").map((c) => c.file)).toEqual(["/mnt/persist"]);
    expect(phaseOf(await r.detection.refresh())).toBe("mounted-ro");
    const out = await r.mounts.unmount({ export: true });
    expect(out.unmounted).toEqual(["/mnt/persist", "/mnt/nix", "/mnt"]);
  });
});

describe("hostile mount targets: symlinks and non-directories at every depth", () => {
  const cases: [string, string, (dir: string) => Promise<void>][] = [
    ["/srv (depth 1) → /etc on the rescue side", "/srv", async (d) => symlink("/etc", join(d, "mnt/srv"))],
    [
      "/srv/data (depth 2) → ../../../etc",
      "/srv/data",
      async (d) => {
        await mkdir(join(d, "mnt/srv"), { recursive: true });
        await symlink("../../../etc", join(d, "mnt/srv/data"));
      },
    ],
    [
      "/srv/a/data (depth 3) → /root",
      "/srv/a/data",
      async (d) => {
        await mkdir(join(d, "mnt/srv/a"), { recursive: true });
        await symlink("/root", join(d, "mnt/srv/a/data"));
      },
    ],
    ["/srv (depth 1) is a file", "/srv/data", async (d) => writeFile(join(d, "mnt/srv"), "not a directory")],
  ];
  for (const [name, target, plant] of cases) {
    it(`${name}: skipped and named, everything else mounted, nothing outside /mnt; read-write needs it acknowledged`, async () => {
      const fstab = `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B ${target} vfat umask=0077 0 2\n`;
      const r = await rig("single", { tree: { fstab } });
      await mkdir(join(r.dir, "etc"), { recursive: true });
      await plant(r.dir);
      const res = await r.mounts.mount();
      expect(res.skipped).toHaveLength(1);
      expect(res.skipped[0]).toMatchObject({ kind: "fstab", path: target, essential: false });
      expect(res.skipped[0]?.reason).toMatch(/refused/);
      expect(outside(r.sys)).toEqual([]);
      expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
      expect(r.mounts.lastReport?.skipped.map((e) => e.path)).toEqual([target]);

      const rw = await rig("single", { tree: { fstab } });
      await mkdir(join(rw.dir, "etc"), { recursive: true });
      await plant(rw.dir);
      const err = await rejection(rw.mounts.mount({ readonly: false }));
      expect(err.code, name).toBe("skipped-entries");
      expect(err.status).toBe(409);
      expect(err.extras.state).toBe("rolled-back");
      expect((err.extras.skipped as { path: string }[]).map((e) => e.path)).toEqual([target]);
      expect(outside(rw.sys)).toEqual([]);
      expect(mountedTargets(rw.sys)).toEqual([]);
      expect(rw.sys.imported.size).toBe(0);
      const ok = await rw.mounts.mount({ readonly: false, acceptSkipped: [target] });
      expect(ok.skipped.map((e) => e.path)).toEqual([target]);
      expect(outside(rw.sys)).toEqual([]);
    });
  }

  it("a dataset whose own mountpoint runs through a link (tank/backups at /srv/backups, /srv → /etc): skipped, the rest mounted", async () => {
    const r = await rig("two-pools", {
      tree: { fstab: `${ZFS_FSTAB}tank/data /srv/data zfs defaults 0 0\n` },
    });
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    const res = await r.mounts.mount();
    expect(res.skipped.map((e) => [e.kind, e.path, e.source])).toEqual([
      ["fstab", "/srv/data", "tank/data"],
      ["dataset", "/srv/backups", "tank/backups"],
    ]);
    expect(res.pools.map((p) => [p.pool, p.importedBecause])).toEqual([
      ["nvmepool", "root"],
      ["tank", "fstab"],
    ]);
    expect(outside(r.sys)).toEqual([]);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("the fake models the kernel: a naive mount through the same link lands outside the root", async () => {
    const r = await rig("single");
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/data"));
    await r.sys.run("mount", ["-t", "vfat", "/dev/nvme0n1p1", "/mnt/data"]);
    expect(outside(r.sys).map((m) => m.target)).toEqual(["/etc"]);
  });
});

describe("the read-only promise rests on blkid's type", () => {
  it("an ext4 root listed as `auto` gets ro,noload (the captured ext4 case)", async () => {
    const r = await rig("ext4", {
      tree: {
        fstab:
          "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7 / auto defaults 0 1\n/dev/disk/by-uuid/2922-9BB5 /boot auto fmask=0022 0 2\n",
      },
    });
    await r.mounts.mount();
    expect(r.sys.mounts.find((m) => m.target === "/mnt")).toMatchObject({
      fstype: "ext4",
      options: expect.arrayContaining(["ro", "noload"]),
    });
    expect(r.sys.mounts.find((m) => m.target === "/mnt/boot")?.fstype).toBe("vfat");
    expect(fixture("ext4", "lsblk-json-cols")).toContain("b49dfb2e-68df-4dcf-9beb-c7932824fef7");
  });
});

registerSecret("luks-passphrase-for-test");

describe("auto-mount never stands in the operator's way (LUKS, ZFS keys)", () => {
  const V = join(import.meta.dirname, "..", "fixtures", "vm-captured", "ext4-luks");
  const cap = (n: string) => readFileSync(join(V, `${n}.stdout`), "utf8");
  // The lab's ext4-luks layout (vm-captured): ESP 41D6-57E7, LUKS2 on p2 holding ext4 53d1c9be-….
  const fstab =
    "/dev/disk/by-uuid/53d1c9be-5e05-4ce0-b067-df1c86661211 / ext4 defaults 0 1\n/dev/disk/by-uuid/41D6-57E7 /boot vfat umask=0077 0 2\n";

  it("a locked LUKS container: it stops at once, names the device, holds no lock; an unlock resumes it", async () => {
    const r = await rig("single", {
      tree: { fstab },
      autoMount: "readonly",
      fake: {
        outputs: { lsblk: cap("lsblk-json-locked") },
        pools: [],
        luks: { "/dev/nvme0n1p2": "luks-passphrase-for-test" },
      },
    });
    const run = r.sys.run.bind(r.sys);
    r.sys.run = async (file, args, opts) => {
      const res = await run(file, args, opts);
      if (
        file === "cryptsetup" &&
        args[0] === "open" &&
        !args.includes("--test-passphrase") &&
        res.exitCode === 0
      )
        r.sys.cfg.outputs.lsblk = cap("lsblk-json-open");
      return res;
    };
    await r.auto.run();
    expect(r.auto.state.state).toBe("waiting");
    expect(r.auto.state.detail).toContain("/dev/nvme0n1p2 (POST /v1/luks/nvme0n1p2/open)");
    expect(r.lock.busy).toBeNull();
    expect(r.sys.mutations()).toEqual([]);
    // The operator's unlock is never answered 409 by the auto-mount…
    await r.mounts.openLuks("nvme0n1p2", "luks-passphrase-for-test");
    // …and the auto-mount resumes by itself.
    await vi.waitFor(() => expect(r.auto.state.state).toBe("mounted"), { timeout: 5_000, interval: 10 });
    expect(r.sys.mounts.find((m) => m.target === "/mnt")).toMatchObject({
      source: "/dev/mapper/cryptroot",
      fstype: "ext4",
      options: expect.arrayContaining(["ro", "noload", "nodev", "nosuid", "noexec"]),
    });
  });

  it("a locked ZFS key: waits naming the key, resumes after the key is loaded", async () => {
    const r = await rig("encrypted", { autoMount: "readonly" });
    await r.auto.run();
    expect(r.auto.state).toMatchObject({ state: "waiting" });
    expect(r.auto.state.detail).toContain("key-not-loaded");
    expect(r.lock.busy).toBeNull();
    await r.mounts.loadKey("nvmepool", "correct-horse-battery");
    await vi.waitFor(() => expect(r.auto.state.state).toBe("mounted"), { timeout: 5_000, interval: 10 });
    expect(mountedTargets(r.sys)).toContain("/mnt/nix");
  });
});

describe("the fake's mount.zfs refuses what the real one refuses (vm-captured/fd-targets)", () => {
  it("a dataset with its own mountpoint needs zfsutil; a legacy one must not have it", async () => {
    const r = await rig("two-pools");
    await r.sys.run("zpool", ["import", "-N", "-R", "/mnt", "-o", "readonly=on", "-f", "tank"]);
    await mkdir(join(r.dir, "mnt/srv/backups"), { recursive: true });
    const plain = await r.sys.run("mount", ["-t", "zfs", "-o", "ro", "tank/backups", "/mnt/srv/backups"]);
    expect(plain).toMatchObject({ exitCode: 1 });
    expect(plain.stderr).toBe(
      readFileSync(
        join(
          import.meta.dirname,
          "..",
          "fixtures",
          "vm-captured",
          "fd-targets",
          "mount-nonlegacy-no-zfsutil.stderr",
        ),
        "utf8",
      ),
    );
    const legacy = await r.sys.run("mount", [
      "-t",
      "zfs",
      "-o",
      "ro,zfsutil",
      "tank/data",
      "/mnt/srv/backups",
    ]);
    expect(legacy.stderr).toContain("cannot be mounted using 'zfs mount'");
    expect(
      (await r.sys.run("mount", ["-t", "zfs", "-o", "ro,zfsutil", "tank/backups", "/mnt/srv/backups"]))
        .exitCode,
    ).toBe(0);
  });
});
