/**
 * Hostile disks on real loop devices (root only): an ext4 "installed system" whose mount targets
 * are symlinked out of the root at depth 1 to 3, an ext4 root listed as `fsType auto` with a
 * journal that needs recovery, and fstab lines with rbind/loop/X-mount options and `/dev/../`
 * sources. Each case checks what the kernel did (/proc/self/mountinfo: nothing outside the root),
 * a canary tree on the rescue side (hashed before and after), and, read-only, the image's bytes.
 */
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DetectionService } from "../../agent/src/app/detect.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import { MountService } from "../../agent/src/app/mount.js";
import { LifeboatError } from "../../agent/src/core/errors.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { makeNixosTree } from "../helpers/fixtures.js";
import { hostTurn } from "./serial.js";

const isRoot = process.getuid?.() === 0;
const need = ["losetup", "mkfs.ext4", "mount", "umount", "blkid", "debugfs"];
const have = await Promise.all(need.map((t) => execa("sh", ["-c", `command -v ${t}`], { reject: false })));
const why = !isRoot
  ? "needs root (loop devices, mount)"
  : have.some((r) => r.exitCode !== 0)
    ? `needs ${need.join(", ")}`
    : "";
if (why) console.warn(`host mount-confinement test SKIPPED: ${why}`);

const decodeOctal = (s: string) =>
  s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** /proc/self/mountinfo as (mount point, source) pairs, octal escapes decoded. */
async function mountInfo(): Promise<{ point: string; source: string }[]> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [left = "", right = ""] = l.split(" - ");
      return { point: decodeOctal(left.split(" ")[4] ?? ""), source: decodeOctal(right.split(" ")[1] ?? "") };
    });
}

/** Mount points (other processes on this machine may mount too: callers filter to what is theirs). */
async function mountPoints(): Promise<string[]> {
  return (await mountInfo()).map((m) => m.point);
}

async function hashTree(dir: string): Promise<string> {
  const h = createHash("sha256");
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      const p = join(d, e.name);
      h.update(`${p}\0${e.isDirectory() ? "d" : "f"}\0`);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) h.update(await readFile(p));
    }
  };
  await walk(dir);
  return h.digest("hex");
}

async function hashFile(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

describe.skipIf(!!why)("host: hostile ext4 disks on loop devices", () => {
  let dir = "";
  let canary = "";
  let canaryHash = "";
  const loops: string[] = [];
  const log = pino({ level: "silent" });
  /** Mounts this suite is answerable for: from its loop devices, or on its dirs (the canary included). */
  const ours = async () =>
    (await mountInfo()).filter(
      (m) => loops.includes(m.source) || m.point === dir || m.point.startsWith(`${dir}/`),
    );

  async function image(name: string, label: string): Promise<{ img: string; dev: string; uuid: string }> {
    const img = join(dir, `${name}.img`);
    await execa("truncate", ["-s", "32M", img]);
    await execa("mkfs.ext4", ["-q", "-L", label, img]);
    const { stdout } = await execa("losetup", ["-f", "--show", img]);
    const dev = stdout.trim();
    loops.push(dev);
    const { stdout: uuid } = await execa("blkid", ["-c", "/dev/null", "-s", "UUID", "-o", "value", dev]);
    return { img, dev, uuid: uuid.trim() };
  }

  /** Lay out an installed NixOS on `dev` (fstab given), then `plant` into it, then unmount. */
  async function install(
    dev: string,
    fstab: string,
    plant: (root: string) => Promise<void> = async () => {},
  ) {
    const stage = await mkdtemp(join(dir, "stage-"));
    await execa("mount", [dev, stage]);
    try {
      await makeNixosTree(stage, { fstab });
      await plant(stage);
    } finally {
      await execa("umount", [stage]);
    }
  }

  function service(mnt: string) {
    const sys = new RealSystem(log);
    const detection = new DetectionService(sys, log, mnt, 0);
    return new MountService(sys, detection, new OperationLock(), log, mnt);
  }

  let done: () => Promise<void> = async () => {};
  beforeAll(async () => {
    done = await hostTurn();
    dir = await mkdtemp(join(tmpdir(), "lifeboat-confine-"));
    canary = join(dir, "canary");
    await mkdir(join(canary, "etc/ssh"), { recursive: true });
    await writeFile(join(canary, "etc/ssh/authorized_keys"), "ssh-ed25519 AAAA rescue-side key\n");
    await writeFile(join(canary, "marker"), "rescue side\n");
    canaryHash = await hashTree(canary);
  }, 60_000);

  afterAll(async () => {
    for (const m of (await mountPoints()).filter((p) => p.startsWith(dir)).reverse())
      await execa("umount", [m], { reject: false });
    for (const l of loops) await execa("losetup", ["-d", l], { reject: false });
    await rm(dir, { recursive: true, force: true });
    await done();
  });

  const depths: [string, string, (root: string) => Promise<void>][] = [
    ["depth 1: /srv → the canary (absolute)", "/srv", async (r) => symlink(canary, join(r, "srv"))],
    [
      "depth 2: /srv/data → the canary",
      "/srv/data",
      async (r) => {
        await mkdir(join(r, "srv"));
        await symlink(canary, join(r, "srv/data"));
      },
    ],
    [
      "depth 3: /a/b/c → ../../../../canary (relative, out through the stage)",
      "/a/b/c",
      async (r) => {
        await mkdir(join(r, "a/b"), { recursive: true });
        await symlink("../../../../../../../../../..".concat(canary), join(r, "a/b/c"));
      },
    ],
  ];

  for (const [name, target, plant] of depths) {
    it(`a target symlinked out of the root, ${name}: skipped and named (read-write: 409 until acknowledged), the root mounted, nothing outside, canary unchanged`, async () => {
      const root = await image(`root-${target.replace(/\//g, "_")}`, "lbt-root");
      const data = await image(`data-${target.replace(/\//g, "_")}`, "lbt-data");
      await install(
        root.dev,
        `/dev/disk/by-uuid/${root.uuid} / ext4 defaults 0 1\n/dev/disk/by-uuid/${data.uuid} ${target} ext4 defaults 0 2\n`,
        plant,
      );
      const mnt = join(dir, `mnt-${loops.length}`);
      const svc = service(mnt);
      const res = await svc.mount({ pool: root.dev, readonly: true });
      expect(res.skipped.map((e) => [e.kind, e.path])).toEqual([["fstab", target]]);
      expect(res.skipped[0]?.reason).toMatch(/symbolic link/);
      // The root only: not the data disk, not over the canary, nothing elsewhere.
      expect((await ours()).map((m) => m.point)).toEqual([mnt]);
      expect(await hashTree(canary)).toBe(canaryHash);
      await svc.unmount();
      const err = await service(mnt)
        .mount({ pool: root.dev, readonly: false })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(LifeboatError);
      expect((err as LifeboatError).code).toBe("skipped-entries");
      expect((err as LifeboatError).status).toBe(409);
      expect((err as LifeboatError).extras.state).toBe("rolled-back");
      // Nothing of ours is mounted anywhere: not in the root, not over the canary, not elsewhere.
      expect(await ours()).toEqual([]);
      expect(await hashTree(canary)).toBe(canaryHash);
    }, 60_000);
  }

  it("fsType auto on an ext4 whose journal needs recovery: mounted ro,noload, the image's bytes unchanged", async () => {
    const root = await image("dirty", "lbt-dirty");
    await install(root.dev, `/dev/disk/by-uuid/${root.uuid} / auto defaults 0 1\n`);
    await execa("losetup", ["-d", root.dev]);
    // Mark the journal as needing recovery (what a crash leaves): a plain read-only mount replays it.
    await execa("debugfs", ["-w", "-R", "feature needs_recovery", root.img]);
    const control = join(dir, "control.img");
    await execa("cp", [root.img, control]);
    const controlDev = (await execa("losetup", ["-f", "--show", control])).stdout.trim();
    loops.push(controlDev);
    const controlMnt = await mkdtemp(join(dir, "control-"));
    const before = await hashFile(control);
    await execa("mount", ["-o", "ro", controlDev, controlMnt]);
    await execa("umount", [controlMnt]);
    // (A copy has the same UUID: Lifeboat would rightly call `/` ambiguous while both are attached.)
    await execa("losetup", ["-d", controlDev]);
    // The control proves the test is not vacuous: `ro` alone wrote to the disk.
    expect(await hashFile(control)).not.toBe(before);

    const dev = (await execa("losetup", ["-f", "--show", root.img])).stdout.trim();
    loops.push(dev);
    const imgBefore = await hashFile(root.img);
    const mnt = join(dir, "mnt-dirty");
    const svc = service(mnt);
    const res = await svc.mount({ pool: dev, readonly: true });
    expect(res.result).toBe("mounted");
    const line = (await readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .find((l) => l.split(" ")[4] === mnt);
    // ext4 shows noload as norecovery; nodev,nosuid,noexec on the mount itself.
    expect(line).toMatch(/ ro,nosuid,nodev,noexec[, ]/);
    expect(line).toContain("norecovery");
    await svc.unmount();
    expect(await hashFile(root.img)).toBe(imgBefore);
    expect(await hashTree(canary)).toBe(canaryHash);
  }, 60_000);

  it("rbind, loop, X-mount.subdir and /dev/../ sources are refused (warnings), the rest mounts inside the root", async () => {
    const root = await image("opts", "lbt-opts");
    const data = await image("opts-data", "lbt-optsdata");
    const fstab = [
      `/dev/disk/by-uuid/${root.uuid} / ext4 defaults 0 1`,
      `/dev/disk/by-uuid/${data.uuid} /srv/ok ext4 defaults,exec,suid,dev,errors=panic 0 2`,
      `/dev/..${canary} /srv/a auto defaults 0 2`,
      `${canary} /srv/b none rbind 0 0`,
      `/etc/NIXOS /srv/c ext4 loop 0 0`,
      `/dev/disk/by-uuid/${data.uuid} /srv/d ext4 X-mount.subdir=lost+found 0 2`,
      `/dev/disk/by-uuid/${data.uuid} /srv/e ext4 remount 0 2`,
    ].join("\n");
    await install(root.dev, `${fstab}\n`, async (r) => {
      for (const d of ["ok", "a", "b", "c", "d", "e"]) await mkdir(join(r, "srv", d), { recursive: true });
    });
    const mnt = join(dir, "mnt-opts");
    const svc = service(mnt);
    const res = await svc.mount({ pool: root.dev, readonly: true });
    expect((await ours()).map((m) => m.point)).toEqual([mnt, `${mnt}/srv/ok`]);
    expect(res.plan?.refused.map((r) => r.path).sort()).toEqual([
      "/srv/a",
      "/srv/b",
      "/srv/c",
      "/srv/d",
      "/srv/e",
    ]);
    const ok = (await readFile("/proc/self/mountinfo", "utf8"))
      .split("\n")
      .find((l) => l.split(" ")[4] === `${mnt}/srv/ok`);
    expect(ok).toMatch(/ ro,nosuid,nodev,noexec[, ]/);
    expect(ok).not.toContain("errors=panic");
    await svc.unmount();
    expect(await ours()).toEqual([]);
    expect(await hashTree(canary)).toBe(canaryHash);
  }, 60_000);
});
