/**
 * `lifeboat rescue-reboot` (iso/rescue-entry/reboot.sh) on a server with services.lifeboat.rescueEntry:
 * run here with a fake ESP directory and fake `systemctl` / `grub-reboot` that record their
 * arguments. Checked: the carry-over archive on the ESP is replaced in one step with the token, root's
 * keys and this host's real network configuration; the one-shot reboot into the entry; refusals
 * change nothing.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { registerSecret } from "../helpers/secrets.js";
import { have, repo, tempDirs } from "./shell.js";

const REBOOT = join(repo, "iso", "rescue-entry", "reboot.sh");
const LIB = join(repo, "iso", "carry", "lib.sh");
const EMPTY = "070701 empty carry-over stand-in\n";
const tempDir = tempDirs("lifeboat-rescue-reboot-");

function rig(loader: "systemd-boot" | "grub") {
  const d = tempDir();
  const esp = join(d, "boot");
  const bin = join(d, "bin");
  mkdirSync(join(esp, "loader/entries"), { recursive: true });
  mkdirSync(join(esp, "efi/lifeboat"), { recursive: true });
  mkdirSync(bin);
  writeFileSync(join(esp, "loader/entries/lifeboat-rescue.conf"), "title Lifeboat rescue\n");
  writeFileSync(join(esp, "efi/lifeboat/carry.cpio"), EMPTY);
  for (const tool of ["systemctl", "grub-reboot"])
    writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $*" >>${d}/calls\n`, { mode: 0o755 });
  // findmnt -n -o FSTYPE,SOURCE -T <dir of grubenv>: what ${d}/grubenv-fs says (a plain vfat ESP
  // unless a test writes another answer)
  writeFileSync(join(d, "grubenv-fs"), "vfat /dev/vda1\n");
  writeFileSync(
    join(bin, "findmnt"),
    `#!/bin/sh\necho "findmnt $*" >>${d}/findmnt-calls\ncat ${d}/grubenv-fs\n`,
    {
      mode: 0o755,
    },
  );
  const env = {
    PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
    LIFEBOAT_LOADER: loader,
    LIFEBOAT_ENTRY_ID: loader === "grub" ? "lifeboat-rescue" : "lifeboat-rescue.conf",
    LIFEBOAT_ENTRY_FILE: join(esp, "loader/entries/lifeboat-rescue.conf"),
    LIFEBOAT_CARRY_FILE: join(esp, "efi/lifeboat/carry.cpio"),
    LIFEBOAT_CARRY_LIB: LIB,
    LIFEBOAT_GRUBENV: join(esp, "grub/grubenv"),
  };
  const run = (args: string[]) => {
    const r = spawnSync("bash", [REBOOT, ...args], { encoding: "utf8", env, input: "" });
    const token = /API token: (\S+)/.exec(r.stdout)?.[1];
    if (token) registerSecret(token);
    return { ...r, token };
  };
  const calls = () => (existsSync(join(d, "calls")) ? readFileSync(join(d, "calls"), "utf8") : "");
  return { d, esp, env, run, calls, carry: join(esp, "efi/lifeboat/carry.cpio") };
}

describe.skipIf(process.getuid?.() !== 0 || !have("cpio") || !have("ip"))("lifeboat rescue-reboot", () => {
  it("systemd-boot: writes the carry-over to the ESP, prints the token, one-shot reboot into the entry", () => {
    const r = rig("systemd-boot");
    const tokenFile = join(r.d, "lifeboat-token");
    const res = r.run(["--yes", "--token-file", tokenFile]);
    expect(res.status, res.stderr).toBe(0);
    expect(r.calls()).toBe("systemctl reboot --boot-loader-entry=lifeboat-rescue.conf\n");
    expect(res.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(tokenFile, "utf8")).toBe(`${res.token}\n`);
    const out = join(r.d, "x");
    mkdirSync(out);
    const x = spawnSync("cpio", ["-idm", "--quiet", "--no-absolute-filenames"], {
      cwd: out,
      input: readFileSync(r.carry),
    });
    expect(x.status, String(x.stderr)).toBe(0);
    const files = readdirSync(join(out, "lifeboat-carry")).sort();
    expect(files).toEqual(
      expect.arrayContaining(["addresses.json", "nameservers", "routes4.json", "routes6.json", "token"]),
    );
    expect(readFileSync(join(out, "lifeboat-carry/token"), "utf8")).toBe(`${res.token}\n`);
    expect(readdirSync(join(r.esp, "efi/lifeboat"))).toEqual(["carry.cpio"]);
  });

  it("GRUB: grub-reboot the entry id, then reboot", () => {
    const r = rig("grub");
    const res = r.run(["--yes", "--token-file", join(r.d, "t")]);
    expect(res.status, res.stderr).toBe(0);
    expect(r.calls()).toBe("grub-reboot lifeboat-rescue\nsystemctl reboot\n");
  });

  // GNU GRUB manual, "The GRUB environment block": save_env only writes to a plain disk (no LVM or
  // RAID) and a non-checksumming file system (no ZFS; btrfs neither). GRUB could not clear the
  // one-shot next_entry there, and every later boot would start the rescue entry.
  it.each([
    ["zfs bpool/boot", /GRUB cannot clear .* on zfs/],
    ["btrfs /dev/vda2", /GRUB cannot clear .* on btrfs/],
    ["ext4 /dev/md127", /GRUB cannot clear .* on \/dev\/md127/],
    ["ext4 /dev/mapper/vg-boot", /GRUB cannot clear .* on \/dev\/mapper\/vg-boot/],
  ])("GRUB: refuses when its environment block is on %s (nothing changed, no reboot)", (fs, message) => {
    const r = rig("grub");
    writeFileSync(join(r.d, "grubenv-fs"), `${fs}\n`);
    const res = r.run(["--yes", "--token-file", join(r.d, "t")]);
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).toMatch(/choose "Lifeboat rescue" in the GRUB menu/);
    expect(readFileSync(join(r.d, "findmnt-calls"), "utf8")).toBe(
      `findmnt -n -o FSTYPE,SOURCE -T ${join(r.esp, "grub")}\n`,
    );
    expect(r.calls()).toBe("");
    expect(readFileSync(r.carry, "utf8")).toBe(EMPTY);
    expect(existsSync(join(r.d, "t"))).toBe(false);
  });

  it("refuses without the entry, or without confirmation: nothing changed, no reboot", () => {
    const r = rig("systemd-boot");
    rmSync(join(r.esp, "loader/entries/lifeboat-rescue.conf"));
    const missing = r.run(["--yes"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/rescue entry is not installed/);
    const r2 = rig("systemd-boot");
    const unconfirmed = r2.run([]);
    expect(unconfirmed.status).toBe(1);
    expect(unconfirmed.stderr).toMatch(/not confirmed: run with --yes/);
    for (const x of [r, r2]) {
      expect(x.calls()).toBe("");
      expect(readFileSync(x.carry, "utf8")).toBe(EMPTY);
    }
  });
});
