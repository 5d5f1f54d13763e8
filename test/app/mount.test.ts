import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { phaseOf } from "../../agent/src/app/detect.js";
import { flattenDevices } from "../../agent/src/core/lsblk.js";
import { isReadOnlyCommand } from "../../agent/src/system/system.js";
import { rejection } from "../helpers/assert.js";
import { outputsOf, ZFS_FSTAB } from "../helpers/fixtures.js";
import { mountedTargets, rig, SEED_MOUNT_COMMANDS, SEED_TARGETS } from "./harness.js";

describe("detection is read-only", () => {
  for (const kase of [
    "single",
    "mirror",
    "degraded",
    "stripe-missing",
    "encrypted",
    "two-pools",
    "ext4",
    "nodisks",
  ]) {
    it(`${kase}: only listing commands, no writes`, async () => {
      const r = await rig(kase);
      const d = await r.detection.refresh();
      expect(r.sys.mutations()).toEqual([]);
      expect(r.sys.calls.every((c) => c.op === "run" && isReadOnlyCommand(c.file, c.args))).toBe(true);
      expect(d.zfs.available).toBe(true);
      expect(phaseOf(d)).toBe(kase === "nodisks" ? "nothing-found" : "found");
    });
  }
});

describe("mount: the seed's server (single disk, pool left imported by atlas)", () => {
  it("imports read-only after adopting the pool's hostid, mounts from the installed fstab", async () => {
    const r = await rig("single");
    const res = await r.mounts.mount();
    expect(res).toMatchObject({ result: "mounted", pool: "nvmepool", readonly: true, forced: false });
    expect(res.hostid).toMatchObject({
      action: "adopted",
      previous: "00bab10c",
      current: "8425e349",
      lastHost: "atlas",
    });
    expect(res.plan?.source).toBe("fstab");
    expect(res.nixos).toMatchObject({ nixos: true, version: "24.11.20250103" });
    const mutating = r.sys
      .mutations()
      .map((c) => (c.op === "run" ? [c.file, ...c.args].join(" ") : `${c.op} ${c.file}`));
    // Targets are verified directories handed to mount(8) as /proc/<pid>/fd/<n> (shown here as
    // the path the kernel resolved them to); every mount is nodev,nosuid, and noexec read-only.
    expect(mutating).toEqual([
      // the pool's own device (the last look: ONLINE, one leaf, one zfs_member with its guid), no scan
      "zpool import -N -R /mnt -o readonly=on -d /dev/nvme0n1p2 6816711904690617069",
      "writeFile /etc/hostid",
      "writeFile /sys/module/spl/parameters/spl_hostid",
      "zpool import -N -R /mnt -o readonly=on -d /dev/nvme0n1p2 6816711904690617069",
      // ZFS by mount(2) without mount.zfs (as `zfs mount` does), with the mntpoint= it would add
      "mount --no-canonicalize --internal-only -t zfs -o ro,nodev,nosuid,noexec,mntpoint=/mnt nvmepool/root /mnt",
      "mount --no-canonicalize --internal-only -t zfs -o ro,nodev,nosuid,noexec,mntpoint=/mnt/nix nvmepool/nix /mnt/nix",
      // the three siblings at once: one table of verified targets, one `mount --all --fork`
      "mkdir /run/lifeboat",
      "writeFile /run/lifeboat/mount-wave.fstab",
      "mount --all --fork --no-canonicalize --internal-only --fstab /run/lifeboat/mount-wave.fstab",
      "removeFile /run/lifeboat/mount-wave.fstab",
    ]);
    const raw = r.sys.calls
      .filter((c) => c.file === "mount" && !c.args.includes("--all"))
      .map((c) => c.raw?.at(-1));
    expect(raw.every((t) => /^\/proc\/\d+\/fd\/\d+$/.test(t ?? ""))).toBe(true);
    expect(r.sys.waveTables).toEqual([
      [
        "nvmepool/home /mnt/home zfs ro,nodev,nosuid,noexec,mntpoint=/mnt/home 0 0",
        "nvmepool/var /mnt/var zfs ro,nodev,nosuid,noexec,mntpoint=/mnt/var 0 0",
        "/dev/nvme0n1p1 /mnt/boot vfat ro,fmask=0022,dmask=0022,errors=remount-ro,nodev,nosuid,noexec 0 0",
      ],
    ]);
    expect(r.sys.commandLines().some((l) => l.includes(" -f"))).toBe(false);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
    expect(phaseOf(await r.detection.refresh())).toBe("mounted-ro");
  });

  it("NixOS live system: /etc/hostid is a store symlink; it is replaced by a file, and put back on rollback", async () => {
    const r = await rig("single", { fake: { hostidLink: "/etc/static/hostid" } });
    const res = await r.mounts.mount();
    expect(res.hostid.action).toBe("adopted");
    expect(r.sys.hostidLink).toBeNull();
    expect(r.sys.hostid).toBe("8425e349");
    const r2 = await rig("single", {
      fake: {
        hostidLink: "/etc/static/hostid",
        fail: (f, a) => (f === "mount" && a.includes("/mnt/var") ? { exitCode: 32 } : undefined),
      },
    });
    const err = await rejection(r2.mounts.mount());
    expect(err.extras.state).toBe("rolled-back");
    expect(r2.sys.hostidLink).toBe("/etc/static/hostid");
    expect(r2.sys.hostid).toBe("00bab10c");
  });

  it("mounting again is a no-op", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const before = r.sys.mutations().length;
    const again = await r.mounts.mount();
    expect(again.result).toBe("already-mounted");
    expect(r.sys.mutations().length).toBe(before);
  });

  it("read-only → read-write re-imports read-write (export first), then unmount+export hands the pool back", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const rw = await r.mounts.mount({ readonly: false });
    expect(rw).toMatchObject({ result: "mounted", readonly: false });
    expect(r.sys.imported.get("nvmepool")?.readonly).toBe(false);
    expect(r.sys.mounts.find((m) => m.target === "/mnt")?.options).not.toContain("ro");
    const out = await r.mounts.unmount({ export: true });
    expect(out.unmounted).toEqual(["/mnt/boot", "/mnt/var", "/mnt/home", "/mnt/nix", "/mnt"]);
    expect(out.exported).toEqual(["nvmepool"]);
    expect(r.sys.imported.size).toBe(0);
    expect(mountedTargets(r.sys)).toEqual([]);
    // A clean export: the server's next boot imports without -f.
    expect(r.sys.cfg.pools[0]?.lastHostId).toBeNull();
  });

  it("without adoption or force: clear error naming the last host; nothing imported or changed", async () => {
    const r = await rig("single");
    const err = await rejection(r.mounts.mount({ adoptHostId: false }));
    expect(err.code).toBe("pool-in-use-elsewhere");
    expect(err.status).toBe(409);
    expect(err.message).toContain("atlas");
    expect(err.extras).toMatchObject({ lastHost: "atlas", lastHostId: "8425e349", state: "rolled-back" });
    expect(r.sys.imported.size).toBe(0);
    expect(r.sys.hostid).toBe("00bab10c");
    expect(r.sys.mutations().filter((c) => c.op !== "run")).toEqual([]);
  });

  it("force: imports with -f and says so", async () => {
    const r = await rig("single");
    const res = await r.mounts.mount({ adoptHostId: false, force: true });
    expect(res.forced).toBe(true);
    expect(res.hostid.action).toBe("kept");
    expect(r.sys.commandLines()).toContain(
      "zpool import -N -R /mnt -o readonly=on -f -d /dev/nvme0n1p2 6816711904690617069",
    );
  });

  it("the pool's own devices only for a read-only import, and only while they hold: a device the last look did not see, the usual scan", async () => {
    // read-write: the scan, as the operator's `zpool import` (nothing narrows what gets imported)
    const rw = await rig("single");
    await rw.mounts.mount({ readonly: false });
    expect(rw.sys.commandLines().filter((l) => l.startsWith("zpool import -N"))).toEqual([
      "zpool import -N -R /mnt 6816711904690617069",
      "zpool import -N -R /mnt 6816711904690617069",
    ]);
    // the device moved since the last look (another name now): not found by -d, found by the scan
    const moved = await rig("single");
    await moved.detection.current();
    moved.sys.cfg.outputs.lsblk = moved.sys.cfg.outputs.lsblk.replaceAll("nvme0n1p2", "nvme1n1p2");
    const res = await moved.mounts.mount();
    expect(res.result).toBe("mounted");
    expect(moved.sys.commandLines().filter((l) => l.startsWith("zpool import -N"))).toEqual([
      "zpool import -N -R /mnt -o readonly=on -d /dev/nvme0n1p2 6816711904690617069",
      "zpool import -N -R /mnt -o readonly=on 6816711904690617069",
      "zpool import -N -R /mnt -o readonly=on 6816711904690617069",
    ]);
  });

  it("a failure at any mutating step rolls everything back (nothing mounted or imported, hostid restored)", async () => {
    // Every point a mutating command can fail, each entry of a `mount --all --fork` wave included
    // (each is its own child: one fails while its siblings land).
    const steps: string[] = [];
    const probe = await rig("single", {
      fake: {
        fail: (file, args) => {
          if (!isReadOnlyCommand(file, args)) steps.push([file, ...args].join(" "));
          return undefined;
        },
      },
    });
    await probe.mounts.mount();
    expect(steps.filter((l) => l.includes("/mnt/home") || l.includes("/mnt/boot"))).toHaveLength(2);
    expect(steps.length).toBeGreaterThan(5);
    for (let i = 0; i < steps.length; i++) {
      let n = 0;
      const r = await rig("single", {
        fake: {
          fail: (file, args) =>
            isReadOnlyCommand(file, args)
              ? undefined
              : n++ === i
                ? { exitCode: 32, stderr: `injected failure at step ${i}\n` }
                : undefined,
        },
      });
      const err = await rejection(r.mounts.mount());
      expect(err.extras.state, `step ${i}: ${steps[i]}`).toBe("rolled-back");
      expect(err.extras.failedStep, `step ${i}`).toBeTruthy();
      expect(mountedTargets(r.sys), `step ${i}`).toEqual([]);
      expect(r.sys.imported.size, `step ${i}`).toBe(0);
      expect(r.sys.hostid, `step ${i}`).toBe("00bab10c");
    }
  });

  it("a failing mount step names the step and what was undone", async () => {
    const r = await rig("single", {
      fake: {
        fail: (f, a) =>
          f === "mount" && a.includes("/mnt/home")
            ? { exitCode: 32, stderr: "mount: /mnt/home: wrong fs type\n" }
            : undefined,
      },
    });
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("mount-failed");
    expect(err.extras.failedStep).toBe("mount nvmepool/home at /mnt/home");
    expect(err.message).toContain("wrong fs type");
    // /home's siblings in the same wave (/var, /boot) landed: undone as well
    expect(err.extras.rolledBack).toEqual([
      "unmounted /mnt/boot",
      "unmounted /mnt/var",
      "unmounted /mnt/nix",
      "unmounted /mnt",
      "exported nvmepool",
      "restored hostid 00bab10c",
    ]);
  });

  it("read-only: a mount the kernel shows read-write is refused and everything rolled back", async () => {
    const r = await rig("single", { fake: { landsReadWrite: (source) => source === "nvmepool/home" } });
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("mount-failed");
    expect(err.extras.failedStep).toBe("mount nvmepool/home at /mnt/home");
    expect(err.message).toMatch(/read-write in a read-only mount/);
    expect(err.extras.rolledBack).toContain("unmounted /mnt/home");
    expect(mountedTargets(r.sys)).toEqual([]);
  });

  it("no fstab in the installed system: conventional layout (legacy root/nix/home/var, the ESP at /boot)", async () => {
    const r = await rig("single", { tree: { fstab: null } });
    await r.sys.removeFile("/mnt/etc/fstab");
    const res = await r.mounts.mount();
    expect(res.plan?.source).toBe("fallback");
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("auto-mount requires NixOS markers: a non-NixOS root is rolled back and the agent waits", async () => {
    const r = await rig("single", { tree: false, autoMount: "readonly" });
    for (const d of ["/mnt/nix", "/mnt/home", "/mnt/var", "/mnt/boot"]) await r.sys.mkdir(d);
    await r.auto.run();
    expect(r.auto.state.state).toBe("waiting");
    expect(r.auto.state.detail).toContain("not a NixOS system");
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(r.sys.imported.size).toBe(0);
  });

  it("auto-mount mounts read-only when exactly one system is found", async () => {
    const r = await rig("single", { autoMount: "readonly" });
    await r.auto.run();
    expect(r.auto.state).toMatchObject({ state: "mounted" });
    expect(r.sys.imported.get("nvmepool")?.readonly).toBe(true);
  });
});

describe("other disk sets", () => {
  it("degraded mirror: still mountable", async () => {
    const r = await rig("degraded");
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
  });

  it("stripe with a missing disk: refused before any import, clear code", async () => {
    const r = await rig("stripe-missing");
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("pool-unavailable");
    expect(r.sys.mutations()).toEqual([]);
  });

  it("two pools: the root pool is chosen and the data pool is never touched", async () => {
    const r = await rig("two-pools");
    const res = await r.mounts.mount();
    expect(res.pool).toBe("nvmepool");
    expect(r.sys.commandLines().filter((l) => /tank|17239120421616948929/.test(l))).toEqual([]);
    expect(r.sys.imported.has("tank")).toBe(false);
  });

  it("encrypted: locked → wrong passphrase 422 → right one → mounted; the passphrase is never recorded or logged", async () => {
    const r = await rig("encrypted");
    const locked = await rejection(r.mounts.mount());
    expect(locked.code).toBe("key-not-loaded");
    expect(locked.extras.encryptionRoots).toEqual(["nvmepool"]);
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(phaseOf(await r.detection.refresh())).toBe("locked");
    const wrong = await rejection(r.mounts.loadKey("nvmepool", "wrongpassphrase"));
    expect(wrong.code).toBe("wrong-passphrase");
    expect(wrong.status).toBe(422);
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(await r.mounts.loadKey("nvmepool", "correct-horse-battery")).toEqual({
      pool: "nvmepool",
      loaded: ["nvmepool"],
    });
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    const recorded = JSON.stringify(r.sys.calls);
    expect(recorded).not.toContain("correct-horse-battery");
    expect(recorded).not.toContain("wrongpassphrase");
    expect(r.logs.text).not.toContain("correct-horse-battery");
    expect(r.logs.text).not.toContain("wrongpassphrase");
    expect(
      r.sys.calls
        .filter((c) => c.file === "zfs" && c.args[0] === "load-key")
        .every((c) => c.input === "<secret>"),
    ).toBe(true);
  });

  it("keylocation=file:///<rescue-side file holding the key>: never read; a wrong passphrase fails, the key stays unloaded", async () => {
    const r = await rig("encrypted");
    const keyFile = join(r.dir, "rescue-side-key");
    writeFileSync(keyFile, "correct-horse-battery\n");
    const pool = r.sys.cfg.pools.find((p) => p.name === "nvmepool");
    if (pool) pool.keylocation = `file://${keyFile}`;
    expect((await rejection(r.mounts.mount())).code).toBe("key-not-loaded");
    const wrong = await rejection(r.mounts.loadKey("nvmepool", "wrongpassphrase"));
    expect(wrong.code).toBe("wrong-passphrase");
    expect(r.sys.keysLoaded.has("nvmepool")).toBe(false);
    const calls = r.sys.calls.filter((c) => c.file === "zfs" && c.args[0] === "load-key");
    expect(calls.map((c) => c.args)).toEqual([["load-key", "-L", "prompt", "nvmepool"]]);
    // The operator's passphrase (stdin) is what loads it.
    expect((await r.mounts.loadKey("nvmepool", "correct-horse-battery")).loaded).toEqual(["nvmepool"]);
  });

  it("ext4 root on a plain partition: mounted without journal replay", async () => {
    const fstab =
      "/dev/disk/by-uuid/b49dfb2e-68df-4dcf-9beb-c7932824fef7 / ext4 defaults 0 1\n/dev/disk/by-uuid/2922-9BB5 /boot vfat fmask=0022,dmask=0022 0 2\n";
    const r = await rig("ext4", { tree: { fstab } });
    const res = await r.mounts.mount();
    expect(res).toMatchObject({ result: "mounted", candidate: "block:/dev/nvme0n1p2", pool: null });
    expect(r.sys.commandLines()).toContain(
      "mount --no-canonicalize -t ext4 -o ro,noload,errors=remount-ro,nodev,nosuid,noexec /dev/nvme0n1p2 /mnt",
    );
    expect(r.sys.commandLines()).toContain(
      "mount --no-canonicalize -t vfat -o ro,fmask=0022,dmask=0022,errors=remount-ro,nodev,nosuid,noexec /dev/nvme0n1p1 /mnt/boot",
    );
  });

  it("no disks: a clear no-system-found, nothing run that changes anything", async () => {
    const r = await rig("nodisks", { tree: false });
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("no-system-found");
    expect(r.sys.mutations()).toEqual([]);
  });
});

describe("one mutating operation at a time", () => {
  it("a second mount while one runs gets busy (409)", async () => {
    const r = await rig("single");
    const first = r.mounts.mount();
    const second = await rejection(r.mounts.mount());
    expect(second.code).toBe("busy");
    expect(second.status).toBe(409);
    expect((await first).result).toBe("mounted");
  });
});

describe("an import that outlives its deadline", () => {
  const lateImport = (f: string, a: readonly string[]) =>
    f === "zpool" && a[0] === "import" && a.includes("-N");

  it("the kernel finished it: counted as imported and recorded, the mount goes on", async () => {
    const r = await rig("single", { fake: { timesOut: lateImport } });
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    expect(res.steps).toContain("imported nvmepool read-only");
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("a later step fails: the import is undone with the rest (the pool exported, not left imported)", async () => {
    const r = await rig("single", {
      fake: {
        timesOut: lateImport,
        fail: (f, a) =>
          f === "mount" && a.includes("--all") ? { exitCode: 32, stderr: "mount: failed\n" } : undefined,
      },
    });
    const err = await rejection(r.mounts.mount());
    expect(err.extras.state).toBe("rolled-back");
    expect(r.sys.imported.size).toBe(0);
    expect(mountedTargets(r.sys)).toEqual([]);
  });

  it("nothing imported after all: the failure stands (timed out), nothing to undo", async () => {
    const r = await rig("single", {
      fake: {
        fail: (f, a) => (lateImport(f, a) ? { exitCode: 124, timedOut: true, stderr: "" } : undefined),
      },
    });
    const err = await rejection(r.mounts.mount());
    expect(err.message).toMatch(/timed out|import nvmepool failed/);
    expect(r.sys.imported.size).toBe(0);
  });
});

describe("unmount", () => {
  it("a busy unmount is rolled back (remounted) and says so", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    r.sys.cfg.fail = (f, a) =>
      f === "umount" && a[0] === "/mnt/home"
        ? { exitCode: 32, stderr: "umount: /mnt/home: target is busy.\n" }
        : undefined;
    const err = await rejection(r.mounts.unmount({ export: true }));
    // "target is busy" is a 409 naming who holds it (nobody here: /proc of the fake is empty).
    expect(err.code).toBe("target-busy");
    expect(err.status).toBe(409);
    expect(err.extras.holders).toEqual([]);
    expect(err.extras.state).toBe("rolled-back");
    expect(mountedTargets(r.sys).sort()).toEqual(["/mnt", "/mnt/boot", "/mnt/home", "/mnt/nix", "/mnt/var"]);
    expect(r.sys.imported.has("nvmepool")).toBe(true);
  });
});

describe("unmount in one process (umount --recursive)", () => {
  it("the whole tree comes down with one umount, every mount recorded", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const before = r.sys.calls.length;
    const res = await r.mounts.unmount({ export: true });
    const umounts = r.sys.calls.slice(before).filter((c) => c.file === "umount");
    expect(umounts.map((c) => c.args)).toEqual([["--recursive", "/mnt"]]);
    expect([...res.unmounted].sort()).toEqual(["/mnt", "/mnt/boot", "/mnt/home", "/mnt/nix", "/mnt/var"]);
    expect(mountedTargets(r.sys)).toEqual([]);
  });

  it("stopped part-way (a submount busy): what came down is mounted again, the busy one named", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const order = mountedTargets(r.sys);
    // the last submount in the table: every one before it comes down first
    const busy = order.filter((t) => t !== "/mnt").at(-1) as string;
    r.sys.cfg.fail = (f, a) =>
      f === "umount" && a[0] === busy
        ? { exitCode: 32, stderr: `umount: ${busy}: target is busy.\n` }
        : undefined;
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("target-busy");
    expect(err.extras.target).toBe(busy);
    expect(err.extras.state).toBe("rolled-back");
    expect(mountedTargets(r.sys).sort()).toEqual([...order].sort());
    expect(r.sys.imported.has("nvmepool")).toBe(true);
  });
});

describe("export while the kernel still holds the pool (a cancelled jailed reader's namespace going away)", () => {
  const BUSY = { exitCode: 1, stderr: "cannot export 'nvmepool': pool is busy\n" };

  it("a pool busy for a moment is exported on a later try", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    let tries = 0;
    r.sys.cfg.fail = (f, a) => (f === "zpool" && a[0] === "export" && ++tries <= 2 ? BUSY : undefined);
    const res = await r.mounts.unmount({ export: true });
    expect(res.exported).toEqual(["nvmepool"]);
    expect(tries).toBe(3);
    expect(r.sys.imported.size).toBe(0);
    expect(mountedTargets(r.sys)).toEqual([]);
  });

  it("a pool that stays busy: 409 pool-busy after 15 s, everything remounted as it was", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    let tries = 0;
    r.sys.cfg.fail = (f, a) => (f === "zpool" && a[0] === "export" && ++tries > 0 ? BUSY : undefined);
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("pool-busy");
    expect(err.extras.state).toBe("rolled-back");
    expect(tries).toBe(10);
    expect(mountedTargets(r.sys).sort()).toEqual(["/mnt", "/mnt/boot", "/mnt/home", "/mnt/nix", "/mnt/var"]);
    expect(r.sys.imported.has("nvmepool")).toBe(true);
  }, 40_000);

  it("a pool that stays busy names the processes whose own mount namespace still holds it", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    // /proc as the kernel shows it: the agent's namespace, a `nixos-enter` shell in its own one with
    // the pool's /var still mounted, and a process in a namespace holding another pool only.
    const proc = (p: string) => join(r.sys.cfg.sandbox, "proc", p);
    const ns = (pid: string, id: number) => {
      mkdirSync(proc(`${pid}/ns`), { recursive: true });
      symlinkSync(`mnt:[${id}]`, proc(`${pid}/ns/mnt`));
    };
    ns("self", 1);
    ns("1", 1);
    ns("4242", 7);
    writeFileSync(proc("4242/mounts"), "tmpfs / tmpfs rw 0 0\nnvmepool/var /mnt/var zfs ro,xattr 0 0\n");
    writeFileSync(proc("4242/comm"), "bash\n");
    ns("4243", 7);
    writeFileSync(proc("4243/comm"), "less\n");
    ns("5000", 9);
    writeFileSync(proc("5000/mounts"), "otherpool/x /srv/x zfs rw 0 0\n");
    r.sys.cfg.fail = (f, a) => (f === "zpool" && a[0] === "export" ? BUSY : undefined);
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("pool-busy");
    expect(err.extras.state).toBe("rolled-back");
    expect(err.extras.holders).toEqual([
      { pid: 4242, command: "bash", uses: ["mount nvmepool/var at /mnt/var"] },
      { pid: 4243, command: "less", uses: ["mount nvmepool/var at /mnt/var"] },
    ]);
    expect(err.message).toMatch(/other mount namespaces: 4242 \(bash: mount nvmepool\/var at \/mnt\/var\)/);
  }, 40_000);

  it("a dataset still mounted is not waited for: it fails at once", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    let tries = 0;
    r.sys.cfg.fail = (f, a) =>
      f === "zpool" && a[0] === "export" && ++tries > 0
        ? { exitCode: 1, stderr: "cannot unmount '/srv/x': pool or dataset is busy\n" }
        : undefined;
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("pool-busy");
    expect(tries).toBe(1);
  });
});

describe("restart after a half-done mount (agent killed mid-mount)", () => {
  it("mount again completes what is missing instead of a no-op", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    // Simulate the kill: /mnt/var and /mnt/boot never got mounted.
    r.sys.mounts = r.sys.mounts.filter((m) => m.target !== "/mnt/var" && m.target !== "/mnt/boot");
    const res = await r.mounts.mount();
    expect(res.result).toBe("completed");
    expect(res.steps).toEqual([
      "mounted nvmepool/var at /mnt/var (read-only)",
      "mounted /dev/nvme0n1p1 at /mnt/boot (read-only)",
    ]);
    expect(mountedTargets(r.sys).sort()).toEqual(["/mnt", "/mnt/boot", "/mnt/home", "/mnt/nix", "/mnt/var"]);
    expect((await r.mounts.mount()).result).toBe("already-mounted");
  });
});

describe("auto-mount when disks appear late", () => {
  it("looks again while nothing is found, then mounts", async () => {
    const { AutoMounter } = await import("../../agent/src/app/automount.js");
    const r = await rig("single");
    const real = r.sys.cfg.outputs.lsblk;
    const list = r.sys.cfg.outputs.zpoolImportList;
    r.sys.cfg.outputs.lsblk = '{"blockdevices": []}';
    r.sys.cfg.outputs.zpoolImportList = "";
    let polls = 0;
    const pino = (await import("pino")).default;
    const auto = new AutoMounter("readonly", r.mounts, pino({ level: "silent" }), {
      attempts: 5,
      delayMs: 1,
    });
    const origRun = r.sys.run.bind(r.sys);
    r.sys.run = async (file, args, opts) => {
      if (file === "lsblk" && ++polls === 3) {
        r.sys.cfg.outputs.lsblk = real;
        r.sys.cfg.outputs.zpoolImportList = list;
      }
      return origRun(file, args, opts);
    };
    await auto.run();
    expect(auto.state.state).toBe("mounted");
    expect(polls).toBeGreaterThanOrEqual(3);
  });
});

describe("LUKS containers (captures from cryptsetup 2.6.1 on this host)", () => {
  const L = join(import.meta.dirname, "..", "fixtures", "host-captured", "luks");
  const cap = (n: string) => readFileSync(join(L, n), "utf8");
  const luksRig = (openFails: boolean) =>
    rig("single", {
      tree: false,
      fake: {
        outputs: {
          lsblk: cap("lsblk-json-cols.stdout"),
          blkid: cap("blkid-export.stdout"),
          luksWrongStderr: cap("test-passphrase-wrong.stderr"),
          ...(openFails ? { luksOpenStderr: cap("open-no-dm.stderr") } : {}),
        },
        pools: [],
        luks: { "/dev/loop0": "lifeboat-luks-pass" },
      },
    });

  it("detected (lsblk without udev + blkid), status locked, wrong passphrase → 422 before anything is opened", async () => {
    const r = await luksRig(false);
    const d = await r.detection.refresh();
    expect(d.luks).toEqual([
      { device: "/dev/loop0", name: "loop0", uuid: "a278ede8-98b0-47a1-903a-e1febc49f935", opened: null },
    ]);
    expect(phaseOf(d)).toBe("locked");
    const err = await rejection(r.mounts.openLuks("loop0", "wrong-pass"));
    expect(err.code).toBe("wrong-passphrase");
    expect(err.status).toBe(422);
    expect(r.sys.mutations()).toEqual([]);
    const ok = await r.mounts.openLuks("loop0", "lifeboat-luks-pass");
    expect(ok).toEqual({ device: "/dev/loop0", mapper: "/dev/mapper/lifeboat-loop0", alreadyOpen: false });
    expect(r.sys.commandLines().filter((l) => l.startsWith("cryptsetup"))).toEqual([
      "cryptsetup open --test-passphrase --type luks --key-file=- /dev/loop0",
      "cryptsetup open --test-passphrase --type luks --key-file=- /dev/loop0",
      "cryptsetup open --type luks --key-file=- /dev/loop0 lifeboat-loop0",
    ]);
    expect(JSON.stringify(r.sys.calls)).not.toContain("lifeboat-luks-pass");
    expect(r.logs.text).not.toContain("lifeboat-luks-pass");
  });

  it("a failing open (no device-mapper, as on this host) is a clear command-failed", async () => {
    const r = await luksRig(true);
    const err = await rejection(r.mounts.openLuks("loop0", "lifeboat-luks-pass"));
    expect(err.code).toBe("command-failed");
    expect(err.message).toContain("Cannot initialize device-mapper");
    expect((await rejection(r.mounts.openLuks("sdz9", "x"))).code).toBe("device-not-found");
  });
});

describe("detection never scans next to a change (zpool import scans break a concurrent import)", () => {
  it("while a change holds the lock, status readers get the last detection and run nothing", async () => {
    const r = await rig("single");
    await r.detection.refresh();
    const release = r.lock.acquire("test change");
    const before = r.sys.calls.length;
    await r.detection.current(true);
    await r.detection.current();
    expect(r.sys.calls.length).toBe(before);
    release();
    await r.detection.current(true);
    expect(r.sys.commandLines().slice(before)).toContain("zpool import");
  });

  it("after a mount the next detection skips the device scan (an import adds no pool); after an export it scans", async () => {
    const r = await rig("single");
    await r.detection.refresh();
    await r.mounts.mount();
    const before = r.sys.commandLines().length;
    const d = await r.detection.current();
    const after = r.sys.commandLines().slice(before);
    expect(after).not.toContain("zpool import");
    expect(after).toContain("zpool list -j");
    expect(phaseOf(d)).toBe("mounted-ro");
    expect(d.importable.map((p) => p.name)).not.toContain("nvmepool");
    // The export asks for a scan (the pool is importable again); the hand-back's own refresh may run it.
    const mark = r.sys.commandLines().length;
    await r.mounts.unmount({ export: true });
    const e = await r.detection.current();
    expect(r.sys.commandLines().slice(mark)).toContain("zpool import");
    expect(e.importable.map((p) => p.name)).toContain("nvmepool");
  });

  it("the dataset listings of a mount never list snapshots (listsnapshots=on pools hold thousands)", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    const zfs = r.sys.commandLines().filter((l) => /^zfs (list|get)/.test(l));
    expect(zfs.length).toBeGreaterThan(0);
    for (const l of zfs) expect(l, l).toMatch(/ -t filesystem,volume /);
  });

  it("refresh() after a change always starts a new detection, even if one was running", async () => {
    const r = await rig("single");
    const first = r.detection.refresh();
    const second = r.detection.refresh();
    const [a, b] = await Promise.all([first, second]);
    expect(b.at >= a.at).toBe(true);
    expect(r.sys.commandLines().filter((l) => l === "zpool import")).toHaveLength(2);
  });
});

/** Fault injection: the n-th `mount --all` of a run fails as a whole (exit 32, nothing mounted). */
function failingWave(n: number): (f: string, a: readonly string[]) => { exitCode: number } | undefined {
  let waves = 0;
  return (f, a) => (f === "mount" && a.includes("--all") && ++waves === n ? { exitCode: 32 } : undefined);
}

/**
 * The seed's server with per-user datasets under nvmepool/home: the captured listing plus rows in
 * its `zfs list -H -p` shape (each with its own mountpoint, under the altroot /mnt as zfs list
 * prints it), every home's directory made.
 */
async function homesRig(
  users: readonly string[],
  fake: {
    fail?: (f: string, a: readonly string[]) => { exitCode: number } | undefined;
    landsReadWrite?: (source: string) => boolean;
    hold?: (f: string, a: readonly string[]) => Promise<void> | undefined;
  },
) {
  const base = outputsOf("single");
  const rows = users.map((u) => `nvmepool/home/${u}\t/mnt/home/${u}\ton\toff\t-\t98304\n`).join("");
  const r = await rig("single", {
    fake: { outputs: { ...base, zfsListHp: `${base.zfsListHp ?? ""}${rows}` }, ...fake },
  });
  for (const u of users) mkdirSync(join(r.dir, "mnt", "home", u), { recursive: true });
  return r;
}

describe("many sibling datasets (issue 13: thousands of /home/<user>)", () => {
  const USERS = 40;
  const users = Array.from({ length: USERS }, (_, i) => `u${String(i + 1).padStart(3, "0")}`);
  const manyRig = (
    fail?: (f: string, a: readonly string[]) => { exitCode: number } | undefined,
    landsReadWrite?: (source: string) => boolean,
  ) => homesRig(users, { fail, landsReadWrite });

  it("mounts them with one mount --all over verified targets, each checked in the kernel's table", async () => {
    const r = await manyRig();
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    const targets = mountedTargets(r.sys);
    for (const u of users) expect(targets).toContain(`/mnt/home/${u}`);
    const all = r.sys.calls.filter((c) => c.file === "mount" && c.args.includes("--all"));
    expect(all).toHaveLength(2);
    // kernel-mounted types: mount(2) without a mount.zfs per dataset; the table file does not outlive the wave
    for (const c of all) expect(c.args).toEqual(expect.arrayContaining(["--fork", "--internal-only"]));
    expect(existsSync(join(r.dir, "run", "lifeboat", "mount-wave.fstab"))).toBe(false);
    // root and /nix (phase 1) one by one, then /home /var /boot as one wave, then the users' wave
    // once /home is mounted (their targets must be opened inside the mounted home dataset)
    expect(r.sys.calls.filter((c) => c.file === "mount" && !c.args.includes("--all"))).toHaveLength(2);
    expect(r.sys.waveTables.map((t) => t.length)).toEqual([3, USERS]);
    // every user mount is read-only, nodev, nosuid, noexec, with zfsutil for its own mountpoint
    for (const m of r.sys.mounts.filter((x) => x.target.startsWith("/mnt/home/")))
      expect(m.options).toEqual(expect.arrayContaining(["ro", "nodev", "nosuid", "noexec"]));
    expect(res.steps.filter((s) => s.startsWith("mounted nvmepool/home/u"))).toHaveLength(USERS);
  });

  it("a wave member the kernel shows read-write in a read-only run: refused, all rolled back", async () => {
    const r = await manyRig(undefined, (source) => source === "nvmepool/home/u007");
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("mount-failed");
    expect(err.extras.failedStep).toBe("mount nvmepool/home/u007 at /mnt/home/u007");
    expect(err.message).toMatch(/read-write in a read-only mount/);
    expect(mountedTargets(r.sys)).toEqual([]);
  });

  it("a failed wave rolls the whole mount back and names a step", async () => {
    const r = await manyRig(failingWave(2));
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("mount-failed");
    expect(err.extras.state).toBe("rolled-back");
    expect(String(err.extras.failedStep)).toMatch(/^mount nvmepool\/home\/u\d{3} at \/mnt\/home\/u\d{3}$/);
    expect(mountedTargets(r.sys)).toEqual([]);
  });
});

describe("more siblings than one wave holds: parts of 256, the next part's targets opened while one mounts", () => {
  const USERS = 600;
  const users = Array.from({ length: USERS }, (_, i) => `u${String(i + 1).padStart(4, "0")}`);
  /** Descriptors of this process still open on something in the sandbox (the mount targets' handles). */
  function openInto(dir: string): string[] {
    const fds = readdirSync("/proc/self/fd");
    const targets = fds.map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return "";
      }
    });
    return targets.filter((t) => t.startsWith(dir));
  }
  const partsRig = (
    fail?: (f: string, a: readonly string[]) => { exitCode: number } | undefined,
    hold?: (f: string, a: readonly string[]) => Promise<void> | undefined,
  ) => homesRig(users, { fail, hold });

  it("mounts every part, each target verified and open while its part mounts, every handle closed after", async () => {
    const r = await partsRig();
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    expect(r.sys.waveTables.map((t) => t.length)).toEqual([3, 256, 256, 88]);
    // each line's target was resolved through an open /proc/<pid>/fd/<n> as the part mounted
    expect(r.sys.waveTables.slice(1).flat()).toHaveLength(USERS);
    const targets = mountedTargets(r.sys);
    for (const u of users) expect(targets).toContain(`/mnt/home/${u}`);
    expect(res.steps.filter((s) => s.startsWith("mounted nvmepool/home/u"))).toHaveLength(USERS);
    expect(openInto(r.dir)).toEqual([]);
  });

  it("while a part mounts, the next part's targets are already open (and only then)", async () => {
    let release: (() => void) | null = null;
    let waves = 0;
    const r = await partsRig(undefined, (f, a) =>
      f === "mount" && a.includes("--all") && ++waves === 2
        ? new Promise<void>((res) => {
            release = res;
          })
        : undefined,
    );
    const mounting = r.mounts.mount();
    const part = (t: string) => Math.ceil(Number(/\/mnt\/home\/u(\d{4})$/.exec(t)?.[1] ?? 0) / 256);
    const openParts = () => openInto(r.dir).map(part);
    try {
      // the first part's `mount --all` runs (held here)…
      await vi.waitFor(() => expect(release).not.toBeNull(), { timeout: 10_000, interval: 10 });
      // …and the second part's targets are open meanwhile
      await vi.waitFor(() => expect(openParts().filter((p) => p === 2)).toHaveLength(256), {
        timeout: 10_000,
        interval: 10,
      });
      // one part ahead, not more
      expect(openParts().filter((p) => p === 3)).toEqual([]);
    } finally {
      (release as (() => void) | null)?.();
    }
    expect((await mounting).result).toBe("mounted");
    expect(openInto(r.dir)).toEqual([]);
  });

  it("the second part fails: everything rolled back, the third part's opened targets closed", async () => {
    const r = await partsRig(failingWave(3));
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("mount-failed");
    expect(err.extras.state).toBe("rolled-back");
    // a step of the second part (users 257-512)
    const n = Number(/^mount nvmepool\/home\/u(\d{4}) at /.exec(String(err.extras.failedStep))?.[1]);
    expect(n).toBeGreaterThanOrEqual(257);
    expect(n).toBeLessThanOrEqual(512);
    // the failing command never read its table; the third part's was never written
    expect(r.sys.waveTables.map((t) => t.length)).toEqual([3, 256]);
    expect(r.sys.calls.filter((c) => c.file === "mount" && c.args.includes("--all"))).toHaveLength(3);
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(openInto(r.dir)).toEqual([]);
  });

  it("a target in a later part is a link out of the system: that one skipped, named; the rest mounted", async () => {
    const r = await partsRig();
    const victim = join(r.dir, "mnt", "home", "u0555");
    rmSync(victim, { recursive: true });
    symlinkSync("/etc", victim);
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    expect(res.skipped).toEqual([
      expect.objectContaining({ path: "/home/u0555", source: "nvmepool/home/u0555", kind: "dataset" }),
    ]);
    const targets = mountedTargets(r.sys);
    expect(targets).not.toContain("/mnt/home/u0555");
    expect(targets.filter((t) => t.startsWith("/mnt/home/u"))).toHaveLength(USERS - 1);
    expect(openInto(r.dir)).toEqual([]);
  });
});

describe("concurrent wave mounts (`mount --all --fork`): any entries failing, any landing wrong", () => {
  // Whichever children of a wave fail (each entry is mounted by its own forked child, side by side),
  // and whichever of those that landed the kernel shows read-write in a read-only run, the mount
  // fails naming one step, and EVERYTHING is undone: the siblings that did land, the earlier
  // phases, the import and the adopted hostid.
  const USERS = 12;
  const users = Array.from({ length: USERS }, (_, i) => `u${String(i + 1).padStart(3, "0")}`);
  const rows = users.map((u) => `nvmepool/home/${u}\t/mnt/home/${u}\ton\toff\t-\t98304\n`).join("");
  const targets = ["/mnt/home", "/mnt/var", "/mnt/boot", ...users.map((u) => `/mnt/home/${u}`)];
  const sources = [
    "nvmepool/home",
    "nvmepool/var",
    "/dev/nvme0n1p1",
    ...users.map((u) => `nvmepool/home/${u}`),
  ];

  it("rolls back completely, the entries that landed included", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(targets.map((_, i) => i)),
        fc.subarray(sources.map((_, i) => i)),
        async (failing, landRw) => {
          fc.pre(failing.length > 0 || landRw.length > 0);
          const failTargets = new Set(failing.map((i) => targets[i]));
          const rwSources = new Set(landRw.map((i) => sources[i]));
          const base = outputsOf("single");
          const r = await rig("single", {
            fake: {
              outputs: { ...base, zfsListHp: `${base.zfsListHp ?? ""}${rows}` },
              fail: (f, a) =>
                f === "mount" && !a.includes("--all") && failTargets.has(a.at(-1) ?? "")
                  ? { exitCode: 32, stderr: "mount: injected failure\n" }
                  : undefined,
              landsReadWrite: (source) => rwSources.has(source),
            },
          });
          for (const u of users) mkdirSync(join(r.dir, "mnt", "home", u), { recursive: true });
          const err = await rejection(r.mounts.mount());
          expect(["mount-failed", "unsafe-mountpoint"]).toContain(err.code);
          expect(err.extras.state).toBe("rolled-back");
          expect(String(err.extras.failedStep)).toMatch(/^mount \S+ at \/mnt/);
          expect(mountedTargets(r.sys)).toEqual([]);
          expect(r.sys.imported.size).toBe(0);
          expect(r.sys.hostid).toBe("00bab10c");
          // every mount that landed was undone (the rollback list names each one)
          const landed = (err.extras.done as string[]).filter((l) => l.startsWith("mounted "));
          const undone = (err.extras.rolledBack as string[]).filter((l) => l.startsWith("unmounted "));
          expect(undone).toHaveLength(landed.length);
        },
      ),
      { seed: 2212, numRuns: 40 },
    );
  });
});

describe("a mount request after a hand-back runs no detection of its own (nothing md/LVM to bring up)", () => {
  it("mount → hand-back → fresh detection → mount: the second mount request runs only import, listing and mounts", async () => {
    const r = await rig("single");
    await r.mounts.mount();
    await r.mounts.unmount({ export: true });
    await r.detection.refresh();
    const mark = r.sys.commandLines().length;
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    const ran = r.sys.commandLines().slice(mark);
    expect(ran.filter((l) => /^(lsblk|blkid|hostid|zpool (list|status)|zpool import$)/.test(l))).toEqual([]);
    expect(ran.map((l) => l.split(" ").slice(0, 2).join(" "))).toEqual(SEED_MOUNT_COMMANDS);
  });
});

describe("a mount of a pool mounted before in this boot: phase 1 by the last listing while the fresh one runs", () => {
  /** mount → hand-back → mount again, the listing of the second mount held until it is released. */
  async function remount(
    change?: (listing: string) => string,
    { failList = false, phase1 = 2, noFstab = false } = {},
  ) {
    let release: () => void = () => undefined;
    let holding = false;
    const r = await rig("single", {
      ...(noFstab ? { tree: { fstab: null } } : {}),
      fake: {
        hold: (file, args) =>
          holding && file === "zfs" && args[0] === "list"
            ? new Promise<void>((res) => {
                release = res;
              })
            : undefined,
        fail: (file, args) =>
          holding && failList && file === "zfs" && args[0] === "list"
            ? { stderr: "internal error: Input/output error\n" }
            : undefined,
      },
    });
    if (noFstab) await r.sys.removeFile("/mnt/etc/fstab");
    await r.mounts.mount();
    await r.mounts.unmount({ export: true });
    await r.detection.refresh();
    const o = r.sys.cfg.outputs;
    if (change) o.zfsListHp = change(o.zfsListHp ?? "");
    const mark = r.sys.commandLines().length;
    holding = true;
    const mounting = r.mounts.mount();
    mounting.catch(() => undefined);
    if (!failList) {
      // the root and /nix are mounted (tried) while the listing runs; nothing of phase 2 until it ended
      await vi.waitFor(() =>
        expect(
          r.sys
            .commandLines()
            .slice(mark)
            .filter((l) => l.startsWith("mount ")),
        ).toHaveLength(phase1),
      );
      expect(
        r.sys
          .commandLines()
          .slice(mark)
          .some((l) => l.startsWith("mount --all")),
      ).toBe(false);
      release();
    }
    return { r, mounting, mark };
  }

  it("the same datasets: mounted as before, the listing run once, side by side with phase 1", async () => {
    const { r, mounting, mark } = await remount();
    expect((await mounting).result).toBe("mounted");
    expect(
      r.sys
        .commandLines()
        .slice(mark)
        .map((l) => l.split(" ").slice(0, 2).join(" ")),
    ).toEqual(SEED_MOUNT_COMMANDS);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("the root dataset renamed since (no fstab: the layout by names): phase 1 done again by the fresh listing", async () => {
    // the remembered root no longer exists: its mount fails while the listing runs
    const { r, mounting } = await remount((l) => l.replaceAll("nvmepool/root\t", "nvmepool/nixos\t"), {
      phase1: 1,
      noFstab: true,
    });
    const res = await mounting;
    expect(res.result).toBe("mounted");
    expect(res.plan?.steps.some((s) => s.kind === "mount" && s.source === "nvmepool/nixos")).toBe(true);
    expect(r.sys.mounts.some((m) => m.source === "nvmepool/root")).toBe(false);
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
    expect(r.logs.text).toContain("datasets changed since the last mount: phase 1 again");
  });

  it("a property changed since (home no longer mounted at boot): the fresh listing's plan is mounted", async () => {
    const { r, mounting } = await remount((l) => l.replace(/^(nvmepool\/home)\tlegacy\ton/m, "$1\tnone\ton"));
    const res = await mounting;
    expect(res.result).toBe("mounted");
    expect(r.logs.text).toContain("datasets changed since the last mount: phase 1 again");
    expect(mountedTargets(r.sys)).toEqual(SEED_TARGETS);
  });

  it("a failure at any mutating step of the re-mount rolls it back (the listing still running included)", async () => {
    const count = async (failAt: number | null) => {
      let n = 0;
      let armed = false;
      const steps: string[] = [];
      const r = await rig("single", {
        fake: {
          // the listing answers late, so the mounts by the remembered one run before it ends
          hold: (file, args) =>
            armed && file === "zfs" && args[0] === "list"
              ? new Promise<void>((res) => setTimeout(res, 20))
              : undefined,
          fail: (file, args) => {
            if (!armed || isReadOnlyCommand(file, args)) return undefined;
            steps.push([file, ...args].join(" "));
            return n++ === failAt
              ? { exitCode: 32, stderr: `injected failure at step ${failAt}\n` }
              : undefined;
          },
        },
      });
      await r.mounts.mount();
      await r.mounts.unmount({ export: true });
      await r.detection.refresh();
      armed = true;
      return { r, steps, mounting: r.mounts.mount() };
    };
    const probe = await count(null);
    expect((await probe.mounting).result).toBe("mounted");
    expect(probe.steps.length).toBeGreaterThan(3);
    for (let i = 0; i < probe.steps.length; i++) {
      const { r, mounting } = await count(i);
      const err = await rejection(mounting);
      expect(err.extras.state, `step ${i}: ${probe.steps[i]}`).toBe("rolled-back");
      expect(mountedTargets(r.sys), `step ${i}`).toEqual([]);
      expect(r.sys.imported.size, `step ${i}`).toBe(0);
    }
  });

  it("the fresh listing fails: what the remembered one mounted is rolled back, the pool exported, a clear error", async () => {
    const { r, mounting } = await remount(undefined, { failList: true });
    const err = await rejection(mounting);
    expect(err.code).toBe("no-system-found");
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(r.sys.imported.size).toBe(0);
  });
});

describe("identifying the system while phase 2 mounts, only when phase 2 cannot change what it reads", () => {
  async function identifyMoment(fstab?: string) {
    const { InstalledSystem } = await import("../../agent/src/app/installed.js");
    const r = await rig("single", fstab ? { tree: { fstab } } : {});
    await mkdir(join(r.dir, "mnt", "srv", "etc"), { recursive: true });
    await mkdir(join(r.dir, "mnt", "etc", "nixos"), { recursive: true });
    const waves: number[] = [];
    const orig = InstalledSystem.prototype.identify;
    InstalledSystem.prototype.identify = function (this: InstanceType<typeof InstalledSystem>) {
      waves.push(r.sys.waveTables.length);
      return orig.call(this);
    };
    try {
      const res = await r.mounts.mount();
      return { res, wavesBefore: waves[0], r };
    } finally {
      InstalledSystem.prototype.identify = orig;
    }
  }

  it("the seed's server: read before the wave of /home, /var, /boot has run", async () => {
    const { res, wavesBefore } = await identifyMoment();
    expect(res.nixos).toMatchObject({ nixos: true });
    expect(wavesBefore).toBe(0);
  });

  it("a bind onto /etc/nixos in phase 2: read only after every mount", async () => {
    const fstab = `${ZFS_FSTAB}/srv/etc /etc/nixos none bind 0 0\n`;
    const { res, wavesBefore, r } = await identifyMoment(fstab);
    expect(mountedTargets(r.sys)).toContain("/mnt/etc/nixos");
    expect(res.nixos).toMatchObject({ nixos: true });
    expect(wavesBefore).toBe(1);
  });
});

describe("the detection after a read-only mount: the devices' last listing, with their mount points moved", () => {
  async function withUdev(opts: Parameters<typeof rig>[1] = {}) {
    const r = await rig("single", opts);
    // what the cheap look reads: block devices, udev's database, the pools' kstats
    for (const d of ["sys/class/block/nvme0n1", "run/udev/data", "proc/spl/kstat/zfs"])
      await mkdir(join(r.dir, d), { recursive: true });
    await r.detection.refresh();
    return r;
  }
  const listings = (r: Awaited<ReturnType<typeof rig>>, mark: number) =>
    r.sys
      .commandLines()
      .slice(mark)
      .filter((l) => /^(lsblk|blkid) /.test(l));
  const espOf = (d: { devices: Parameters<typeof flattenDevices>[0] }) =>
    flattenDevices(d.devices).find((x) => x.fstype === "vfat");

  it("read-only: no lsblk or blkid, the ESP shows where it is mounted; the release after it: listed again", async () => {
    const r = await withUdev();
    expect(espOf(await r.detection.current())?.mountpoints).toEqual([]);
    await r.mounts.mount();
    const mark = r.sys.commandLines().length;
    const d = await r.detection.current();
    expect(listings(r, mark)).toEqual([]);
    expect(espOf(d)?.mountpoints).toEqual(["/mnt/boot"]);
    expect(r.logs.text).toContain("block devices unchanged but for their mounts");
    // the next change of the mounts (a release) is not a read-only mount's: listed again
    const after = r.sys.commandLines().length;
    await r.mounts.unmount({ export: true });
    await r.detection.current();
    expect(listings(r, after)).toHaveLength(2);
  });

  it("read-only, but a device came during the mount: listed again", async () => {
    const r = await withUdev();
    await r.mounts.mount();
    await mkdir(join(r.dir, "sys/class/block/sdb"));
    const mark = r.sys.commandLines().length;
    await r.detection.current();
    expect(listings(r, mark)).toHaveLength(2);
  });

  it("read-write: listed again (a read-write import rewrites the pool's labels)", async () => {
    const r = await withUdev();
    await r.mounts.mount({ readonly: false });
    const mark = r.sys.commandLines().length;
    await r.detection.current();
    expect(listings(r, mark)).toHaveLength(2);
  });
});
