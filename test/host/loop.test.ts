import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DetectionService } from "../../agent/src/app/detect.js";
import { OperationLock } from "../../agent/src/app/lock.js";
import { MountService } from "../../agent/src/app/mount.js";
import { flattenDevices, mergeBlkid, parseBlkidExport, parseLsblk } from "../../agent/src/core/lsblk.js";
import { parseProcMounts } from "../../agent/src/core/mounts.js";
import type { JailOptions, JailProfileName } from "../../agent/src/system/jail.js";
import { RealSystem } from "../../agent/src/system/real.js";
import {
  isReadOnlyCommand,
  type RunOptions,
  type SpawnOptions,
  type System,
} from "../../agent/src/system/system.js";
import { makeNixosTree } from "../helpers/fixtures.js";
import { hostTurn } from "./serial.js";

const HOST = join(import.meta.dirname, "..", "fixtures", "host-captured");

describe("lsblk without udev (captured on this host)", () => {
  it("lsblk has no fstype/label; blkid fills them in", async () => {
    const lsblk = parseLsblk(await readFile(join(HOST, "lsblk-loop-no-udev.stdout"), "utf8"));
    expect(lsblk[0]).toMatchObject({ type: "loop", fstype: null, label: null });
    const merged = flattenDevices(
      mergeBlkid(lsblk, parseBlkidExport(await readFile(join(HOST, "blkid-loop.stdout"), "utf8"))),
    );
    expect(merged[0]).toMatchObject({ fstype: "ext4", label: "nixos" });
  });
});

const isRoot = process.getuid?.() === 0;
const tools = await Promise.all(
  ["losetup", "mkfs.ext4", "mount", "umount", "lsblk", "blkid"].map((t) =>
    execa("sh", ["-c", `command -v ${t}`], { reject: false }),
  ),
);
const haveTools = tools.every((r) => r.exitCode === 0);
const why = !isRoot
  ? "needs root (loop devices, mount)"
  : !haveTools
    ? "needs losetup, mkfs.ext4, mount, lsblk, blkid"
    : "";
if (why) console.warn(`host integration test SKIPPED: ${why}`);

/** RealSystem that also records every command, to check detection ran no mutating one. */
class Recording implements System {
  readonly commands: { file: string; args: string[] }[] = [];
  constructor(private readonly inner: RealSystem) {}
  get dirfs() {
    return this.inner.dirfs;
  }
  run(file: string, args: readonly string[], opts?: RunOptions) {
    this.commands.push({ file, args: [...args] });
    return this.inner.run(file, args, opts);
  }
  spawn(file: string, args: readonly string[], opts?: SpawnOptions) {
    this.commands.push({ file, args: [...args] });
    return this.inner.spawn(file, args, opts);
  }
  runJailed(profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions) {
    this.commands.push({ file, args: [...args] });
    return this.inner.runJailed(profile, file, args, opts);
  }
  spawnJailed(profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions) {
    this.commands.push({ file, args: [...args] });
    return this.inner.spawnJailed(profile, file, args, opts);
  }
  decodeInitrd = (b: Buffer) => this.inner.decodeInitrd(b);
  readFile = (p: string) => this.inner.readFile(p);
  writeFile = (p: string, d: string | Uint8Array, m?: number) => this.inner.writeFile(p, d, m);
  removeFile = (p: string) => this.inner.removeFile(p);
  readlink = (p: string) => this.inner.readlink(p);
  lstat = (p: string) => this.inner.lstat(p);
  readdir = (p: string) => this.inner.readdir(p);
  mkdir = (p: string) => this.inner.mkdir(p);
  symlink = (t: string, p: string) => this.inner.symlink(t, p);
  rename = (a: string, b: string) => this.inner.rename(a, b);
  openDirInRoot = (r: string, p: string, o: { create: boolean }) => this.inner.openDirInRoot(r, p, o);
}

describe.skipIf(!!why)("host integration: ext4 'NixOS' on loop devices", () => {
  let dir = "";
  let rootDev = "";
  let homeDev = "";
  let mnt = "";
  const loops: string[] = [];

  async function loop(name: string, label: string): Promise<string> {
    const img = join(dir, `${name}.img`);
    await execa("truncate", ["-s", "64M", img]);
    await execa("mkfs.ext4", ["-q", "-L", label, img]);
    const { stdout } = await execa("losetup", ["-f", "--show", img]);
    loops.push(stdout.trim());
    return stdout.trim();
  }

  let done: () => Promise<void> = async () => {};
  beforeAll(async () => {
    done = await hostTurn();
    dir = await mkdtemp(join(tmpdir(), "lifeboat-host-"));
    mnt = join(dir, "mnt");
    rootDev = await loop("root", "lbt-root");
    homeDev = await loop("home", "lbt-home");
    const { stdout: homeUuid } = await execa("blkid", [
      "-c",
      "/dev/null",
      "-s",
      "UUID",
      "-o",
      "value",
      homeDev,
    ]);
    // Lay out the installed system on the device, like nixos-install would, then unmount it.
    const stage = join(dir, "stage");
    await mkdir(stage);
    await execa("mount", [rootDev, stage]);
    try {
      await makeNixosTree(stage, {
        fstab: `# Filesystems.\n/dev/disk/by-label/lbt-root / ext4 defaults 0 1\n/dev/disk/by-uuid/${homeUuid.trim()} /home ext4 defaults 0 2\ntmpfs /tmp tmpfs mode=1777 0 0\n`,
      });
    } finally {
      await execa("umount", [stage]);
    }
    await execa("mount", [homeDev, stage]);
    await writeFile(join(stage, "marker"), "home");
    await execa("umount", [stage]);
  }, 60_000);

  afterAll(async () => {
    await execa("umount", ["-R", mnt], { reject: false });
    for (const l of loops) await execa("losetup", ["-d", l], { reject: false });
    await rm(dir, { recursive: true, force: true });
    await done();
  });

  it("detects read-only, plans from the installed fstab, mounts read-only at a temp root, unmounts", async () => {
    const log = pino({ level: "silent" });
    const sys = new Recording(new RealSystem(log));
    const detection = new DetectionService(sys, log, mnt, 0);
    const d = await detection.refresh();
    expect(sys.commands.every((c) => isReadOnlyCommand(c.file, c.args))).toBe(true);
    expect(d.candidates.map((c) => c.id)).toContain(`block:${rootDev}`);
    const mounts = new MountService(sys, detection, new OperationLock(), log, mnt);
    const res = await mounts.mount({ pool: rootDev });
    expect(res).toMatchObject({ result: "mounted", readonly: true });
    expect(res.plan?.source).toBe("fstab");
    expect(res.nixos?.nixos).toBe(true);
    const proc = parseProcMounts(await readFile("/proc/mounts", "utf8")).filter(
      (m) => m.target === mnt || m.target.startsWith(`${mnt}/`),
    );
    expect(proc.map((m) => [m.source, m.target])).toEqual([
      [rootDev, mnt],
      [homeDev, `${mnt}/home`],
    ]);
    expect(proc.every((m) => m.options.includes("ro"))).toBe(true);
    expect(await readFile(join(mnt, "home", "marker"), "utf8")).toBe("home");
    expect((await mounts.mount({ pool: rootDev })).result).toBe("already-mounted");
    const out = await mounts.unmount();
    expect(out.unmounted).toEqual([`${mnt}/home`, mnt]);
    const after = parseProcMounts(await readFile("/proc/mounts", "utf8")).filter((m) =>
      m.target.startsWith(mnt),
    );
    expect(after).toEqual([]);
  }, 60_000);

  // A real busy mount: a process with its working directory in /mnt/home (as a shell left there
  // would be). umount(8) says "target is busy"; the agent answers 409 target-busy naming the
  // process from /proc, rolls back, and unmounts once it is gone.
  it("'target is busy' from another process: 409 naming it (pid, command, cwd), rolled back", async () => {
    const log = pino({ level: "silent" });
    const sys = new Recording(new RealSystem(log));
    const detection = new DetectionService(sys, log, mnt, 0);
    await detection.refresh();
    const mounts = new MountService(sys, detection, new OperationLock(), log, mnt);
    await mounts.mount({ pool: rootDev });
    const holder = execa("sleep", ["600"], { cwd: join(mnt, "home"), reject: false });
    try {
      const err = await mounts.unmount().then(
        () => null,
        (e: unknown) => e as { code?: string; status?: number; extras?: Record<string, unknown> },
      );
      expect(err?.code).toBe("target-busy");
      expect(err?.status).toBe(409);
      expect(err?.extras?.holders).toEqual([
        { pid: holder.pid, command: "sleep", uses: [`cwd ${mnt}/home`] },
      ]);
      expect(err?.extras?.state).toBe("rolled-back");
      const still = parseProcMounts(await readFile("/proc/mounts", "utf8")).filter((m) =>
        m.target.startsWith(mnt),
      );
      expect(still.map((m) => m.target)).toEqual([mnt, `${mnt}/home`]);
    } finally {
      holder.kill("SIGKILL");
      await holder;
    }
    expect((await mounts.unmount()).unmounted).toEqual([`${mnt}/home`, mnt]);
  }, 60_000);

  // mount(8) falls back to read-only on a write-protected device unless told -w (util-linux 2.38,
  // seen here: "WARNING: source write-protected, mounted read-only."); a read-write request must
  // then fail and roll back, not report a read-write mount that is not.
  it("a read-write mount of a write-protected device fails and rolls back", async () => {
    const log = pino({ level: "silent" });
    const sys = new Recording(new RealSystem(log));
    const detection = new DetectionService(sys, log, mnt, 0);
    await detection.refresh();
    const mounts = new MountService(sys, detection, new OperationLock(), log, mnt);
    await execa("blockdev", ["--setro", homeDev]);
    try {
      const err = await mounts.mount({ pool: rootDev, readonly: false }).then(
        () => null,
        (e: unknown) => e as { code?: string; message?: string },
      );
      expect(err?.code).toBe("mount-failed");
      expect(err?.message).toMatch(/write-protected|read-only/);
      const left = parseProcMounts(await readFile("/proc/mounts", "utf8")).filter((m) =>
        m.target.startsWith(mnt),
      );
      expect(left).toEqual([]);
    } finally {
      await execa("blockdev", ["--setrw", homeDev]);
    }
  }, 60_000);
});
