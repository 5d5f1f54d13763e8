/**
 * Real layouts on loop devices (root only): btrfs with the `@`/`@nix`/`@home` subvolume scheme
 * (found by probing, mounted ro,rescue=nologreplay), and a root that is not on disk
 * (nix-community/impermanence: a tmpfs `/`, an ext4 holding only /nix, another /persist).
 */
import { cp, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DetectionService } from "../../agent/src/app/detect.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import { MountService } from "../../agent/src/app/mount.js";
import { parseProcMounts } from "../../agent/src/core/mounts.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { makeNixosTree } from "../helpers/fixtures.js";
import { hostTurn } from "./serial.js";

const isRoot = process.getuid?.() === 0;
const need = ["losetup", "mkfs.ext4", "mkfs.btrfs", "btrfs", "mount", "umount", "blkid"];
const have = await Promise.all(need.map((t) => execa("sh", ["-c", `command -v ${t}`], { reject: false })));
const why = !isRoot
  ? "needs root (loop devices, mount)"
  : have.some((r) => r.exitCode !== 0)
    ? `needs ${need.join(", ")} (apt-get install btrfs-progs)`
    : "";
if (why) console.warn(`host layouts test SKIPPED: ${why}`);

describe.skipIf(!!why)("host: layouts on loop devices", () => {
  let dir = "";
  const loops: string[] = [];
  const log = pino({ level: "silent" });

  async function loop(name: string, mkfs: string[]): Promise<{ dev: string; uuid: string }> {
    const img = join(dir, `${name}.img`);
    await execa("truncate", ["-s", "128M", img]);
    await execa(mkfs[0] as string, [...mkfs.slice(1), img]);
    const dev = (await execa("losetup", ["-f", "--show", img])).stdout.trim();
    loops.push(dev);
    const uuid = (await execa("blkid", ["-c", "/dev/null", "-s", "UUID", "-o", "value", dev])).stdout.trim();
    return { dev, uuid };
  }

  const underMnt = async (mnt: string) =>
    parseProcMounts(await readFile("/proc/self/mounts", "utf8")).filter(
      (m) => m.target === mnt || m.target.startsWith(`${mnt}/`),
    );

  function service(mnt: string) {
    const sys = new RealSystem(log);
    return new MountService(sys, new DetectionService(sys, log, mnt, 0), new OperationLock(), log, mnt);
  }

  let done: () => Promise<void> = async () => {};
  beforeAll(async () => {
    done = await hostTurn();
    dir = await mkdtemp(join(tmpdir(), "lifeboat-layouts-"));
  });

  afterAll(async () => {
    for (const m of (await underMnt(dir)).reverse()) await execa("umount", [m.target], { reject: false });
    for (const l of loops) await execa("losetup", ["-d", l], { reject: false });
    await rm(dir, { recursive: true, force: true });
    await done();
  });

  it("btrfs @ / @nix / @home (the common subvolume scheme): probed, then mounted as the fstab says, ro,rescue=nologreplay", async () => {
    const { dev, uuid } = await loop("btrfs", ["mkfs.btrfs", "-q", "-L", "nixos-btrfs"]);
    const top = await mkdtemp(join(dir, "top-"));
    await execa("mount", [dev, top]);
    try {
      for (const s of ["@", "@nix", "@home"]) await execa("btrfs", ["subvolume", "create", join(top, s)]);
      const fstab = [
        `/dev/disk/by-uuid/${uuid} / btrfs subvol=@,compress=zstd,noatime 0 0`,
        `/dev/disk/by-uuid/${uuid} /nix btrfs subvol=@nix,compress=zstd,noatime 0 0`,
        `/dev/disk/by-uuid/${uuid} /home btrfs subvol=@home 0 0`,
      ].join("\n");
      // nixos-install leaves the store in @nix and the rest of / in @.
      const stage = join(dir, "stage-btrfs");
      await makeNixosTree(stage, { fstab: `${fstab}\n`, esp: false });
      await cp(join(stage, "nix"), join(top, "@nix"), { recursive: true, verbatimSymlinks: true });
      await rm(join(stage, "nix"), { recursive: true });
      await mkdir(join(stage, "nix"));
      await cp(stage, join(top, "@"), { recursive: true, verbatimSymlinks: true });
    } finally {
      await execa("umount", [top]);
    }
    const mnt = join(dir, "mnt-btrfs");
    const svc = service(mnt);
    const res = await svc.mount({ pool: dev, readonly: true });
    expect(res.nixos?.nixos).toBe(true);
    const mounts = await underMnt(mnt);
    expect(mounts.map((m) => m.target)).toEqual([mnt, `${mnt}/nix`, `${mnt}/home`]);
    for (const m of mounts) {
      expect(m.fstype).toBe("btrfs");
      expect(m.options).toEqual(
        expect.arrayContaining(["ro", "nodev", "nosuid", "noexec", "rescue=nologreplay"]),
      );
    }
    expect(mounts.map((m) => m.options.find((o) => o.startsWith("subvol=")))).toEqual([
      "subvol=/@",
      "subvol=/@nix",
      "subvol=/@home",
    ]);
    await svc.unmount();
    expect(await underMnt(mnt)).toEqual([]);
  }, 120_000);

  it("impermanence: a tmpfs `/`, /nix and /persist on ext4; the tmpfs ends read-only with the fstab's options", async () => {
    const nix = await loop("nix", ["mkfs.ext4", "-q", "-L", "nix"]);
    const persist = await loop("persist", ["mkfs.ext4", "-q", "-L", "persist"]);
    const fstab = [
      "none / tmpfs defaults,size=64M,mode=755 0 0",
      `/dev/disk/by-uuid/${nix.uuid} /nix ext4 defaults 0 2`,
      `/dev/disk/by-uuid/${persist.uuid} /persist ext4 defaults 0 2`,
    ].join("\n");
    const stage = join(dir, "stage-imp");
    await makeNixosTree(stage, { fstab: `${fstab}\n`, esp: false });
    const m = await mkdtemp(join(dir, "fill-"));
    await execa("mount", [nix.dev, m]);
    try {
      await cp(join(stage, "nix"), m, { recursive: true, verbatimSymlinks: true });
    } finally {
      await execa("umount", [m]);
    }
    const mnt = join(dir, "mnt-imp");
    const svc = service(mnt);
    const res = await svc.mount({ pool: nix.dev, readonly: true, requireNixos: true });
    expect(res.nixos?.markers).toEqual(["/nix/var/nix/profiles/system"]);
    const mounts = await underMnt(mnt);
    expect(mounts.map((x) => [x.target, x.fstype])).toEqual([
      [mnt, "tmpfs"],
      [`${mnt}/nix`, "ext4"],
      [`${mnt}/persist`, "ext4"],
    ]);
    expect(mounts[0]?.options).toEqual(
      expect.arrayContaining(["ro", "nosuid", "nodev", "noexec", "size=65536k", "mode=755"]),
    );
    for (const x of mounts.slice(1))
      expect(x.options).toEqual(expect.arrayContaining(["ro", "nosuid", "nodev", "noexec"]));
    await svc.unmount();
    expect(await underMnt(mnt)).toEqual([]);
  }, 120_000);
});
