/**
 * What the root file system holds under the ESP's mount point, on real file systems (root only):
 * an ext4 "installed root" on a loop device whose own /boot holds what a nixos-rebuild left there
 * while the ESP was not mounted (an entry, a kernel, plus hostile entries: a link out of the root,
 * a directory link out, a FIFO, a device node), with a second ext4 (the "ESP": this host has no vfat
 * module) mounted over /boot and a tmpfs over /nix. system/underneath.ts must show the root's own
 * /boot (not the ESP's, not /nix's tmpfs), follow no link out, open no FIFO or device, write not
 * even an access time (strictatime on the root mount), and leave no mount behind.
 */
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { underEsp } from "../../agent/src/app/underEsp.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { hostTurn } from "./serial.js";

const isRoot = process.getuid?.() === 0;
const need = ["losetup", "mkfs.ext4", "mount", "umount", "mknod", "mkfifo"];
const have = await Promise.all(need.map((t) => execa("sh", ["-c", `command -v ${t}`], { reject: false })));
const why = !isRoot
  ? "needs root (loop devices, mount)"
  : have.some((r) => r.exitCode !== 0)
    ? `needs ${need.join(", ")}`
    : "";
if (why) console.warn(`host underneath test SKIPPED: ${why}`);

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" });

async function ownMounts(prefix: string): Promise<string[]> {
  return (await readFile("/proc/self/mountinfo", "utf8"))
    .split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .filter((p) => p.startsWith(prefix));
}

describe.skipIf(!!why)("host: the root file system's own /boot under the mounted ESP", () => {
  let dir = "";
  let mnt = "";
  const loops: string[] = [];
  let done: () => Promise<void> = async () => undefined;
  const sys = new RealSystem(pino({ level: "silent" }));

  beforeAll(async () => {
    done = await hostTurn();
    dir = await mkdtemp(join(tmpdir(), "lifeboat-underneath-"));
    mnt = join(dir, "mnt");
    await mkdir(mnt);
    const img = async (name: string, mb: number) => {
      const f = join(dir, name);
      sh("truncate", ["-s", `${mb}M`, f]);
      sh("mkfs.ext4", ["-q", "-F", f]);
      const loop = sh("losetup", ["--find", "--show", f]).trim();
      loops.push(loop);
      return loop;
    };
    const root = await img("root.img", 32);
    const esp = await img("esp.img", 16);
    // the installed root, as a nixos-rebuild with /boot unmounted left it
    sh("mount", ["-o", "strictatime", root, mnt]);
    const b = join(mnt, "boot");
    await mkdir(join(b, "loader/entries"), { recursive: true });
    await mkdir(join(b, "EFI/nixos"), { recursive: true });
    await writeFile(
      join(b, "loader/entries/nixos-generation-42.conf"),
      "title NixOS\nversion Generation 42\n",
    );
    await writeFile(join(b, "loader/loader.conf"), "default nixos-generation-42.conf\n");
    await writeFile(join(b, "EFI/nixos/aaaa-linux-6.6.80-bzImage.efi"), "MZ");
    // hostile: a link out of the root, a directory link out, a FIFO, a device node
    await symlink("/etc/hostname", join(b, "loader/entries/out.conf"));
    await symlink("/etc", join(b, "grub"));
    sh("mkfifo", [join(b, "EFI/nixos/fifo.efi")]);
    sh("mknod", [join(b, "EFI/nixos/zero.efi"), "c", "1", "5"]);
    await mkdir(join(mnt, "nix"));
    // the ESP over /boot, with its own (different) files; a tmpfs over /nix
    sh("mount", [esp, b]);
    await mkdir(join(b, "loader/entries"), { recursive: true });
    await writeFile(
      join(b, "loader/entries/nixos-generation-41.conf"),
      "title NixOS\nversion Generation 41\n",
    );
    sh("mount", ["-t", "tmpfs", "tmpfs", join(mnt, "nix")]);
  });

  afterAll(async () => {
    for (const t of ["nix", "boot", ""]) await execa("umount", [join(mnt, t)], { reject: false });
    for (const l of loops) await execa("losetup", ["-d", l], { reject: false });
    if (dir) await rm(dir, { recursive: true, force: true });
    await done();
  });

  it("lists the root's own /boot: the entry of 42, none of the ESP's, no link followed, no FIFO or device opened", async () => {
    const got = await underEsp(sys, mnt, "/boot");
    expect(got.files?.map((f) => f.path).sort()).toEqual([
      "/boot/EFI/nixos/aaaa-linux-6.6.80-bzImage.efi",
      "/boot/loader/entries/nixos-generation-42.conf",
      "/boot/loader/loader.conf",
    ]);
    expect(got.files?.find((f) => f.path.endsWith("generation-42.conf"))?.size).toBe(34);
    // the directory link out of the root is refused, not followed
    expect(got.notes.join("\n")).toMatch(/\/boot\/grub/);
    // the view is gone: nothing of it left mounted
    expect(await ownMounts("/run/lifeboat/underneath")).toEqual([]);
  });

  it("reads through a read-only view: not even an access time written on the root (strictatime)", async () => {
    // the root's own /boot/loader/entries (under the ESP), its atime read through a bind of our own
    const peek = join(dir, "peek");
    await mkdir(peek);
    sh("mount", ["--bind", "-o", "ro", mnt, peek]);
    const atime = async () => (await stat(join(peek, "boot/loader/entries"))).atimeMs;
    try {
      const t0 = await atime();
      const got = await underEsp(sys, mnt, "/boot");
      expect(got.files?.length).toBe(3);
      expect(await atime()).toBe(t0);
    } finally {
      sh("umount", [peek]);
    }
  });
});
