import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import pino from "pino";
import { beforeAll, describe, expect, it } from "vitest";
import { LifeboatError } from "../../agent/src/core/errors.js";
import { RealSystem } from "../../agent/src/system/real.js";
import { makeNixosTree, sandbox } from "../helpers/fixtures.js";
import { resolveConfined, resolveInRoot } from "../helpers/paths-model.js";

const sys = new RealSystem(pino({ level: "silent" }));
const reader = { readlink: (p: string) => sys.readlink(p) };
let root = "";

beforeAll(async () => {
  root = join(await sandbox(), "mnt");
  await makeNixosTree(root);
  await mkdir(join(root, "etc/nixos/sub"), { recursive: true });
  await writeFile(join(root, "etc/nixos/sub/host.nix"), "{}");
  await symlink("/", join(root, "etc/nixos/to-root"));
  await symlink("../../../../../../../etc/passwd", join(root, "etc/nixos/dotdot"));
  await symlink("/etc/shadow", join(root, "etc/nixos/abs-out"));
  await symlink("/etc/nixos/sub", join(root, "etc/nixos/abs-in"));
  await symlink("loop2", join(root, "etc/nixos/loop1"));
  await symlink("loop1", join(root, "etc/nixos/loop2"));
});

describe("resolving paths inside the installed system", () => {
  it("absolute store links resolve under the root (profile → generation → store → etc)", async () => {
    const fstab = await resolveInRoot(root, "/etc/fstab", reader);
    expect(fstab.startsWith(`${root}/nix/store/`)).toBe(true);
    expect(fstab.endsWith("-etc/etc/fstab")).toBe(true);
    const sysPath = await resolveInRoot(root, "/nix/var/nix/profiles/system", reader);
    expect(sysPath).toMatch(new RegExp(`^${root}/nix/store/[0-9a-z]{32}-nixos-system-atlas-`));
  });
  it("'..' and absolute links cannot leave the root", async () => {
    expect(await resolveInRoot(root, "/../../../etc/passwd", reader)).toBe(`${root}/etc/passwd`);
    expect(await resolveInRoot(root, "/etc/nixos/dotdot", reader)).toBe(`${root}/etc/passwd`);
    expect(await resolveInRoot(root, "/etc/nixos/to-root/etc/shadow", reader)).toBe(`${root}/etc/shadow`);
  });
  it("confined to /etc/nixos: escapes refused, inside links allowed", async () => {
    const base = "/etc/nixos";
    expect(await resolveConfined(root, base, "sub/host.nix", reader)).toBe(`${root}/etc/nixos/sub/host.nix`);
    expect(await resolveConfined(root, base, "abs-in/host.nix", reader)).toBe(
      `${root}/etc/nixos/sub/host.nix`,
    );
    for (const bad of [
      "../passwd",
      "../../etc/shadow",
      "to-root",
      "to-root/etc/shadow",
      "dotdot",
      "abs-out",
      "sub/../../fstab",
      "/../../etc",
      "a\0b",
    ]) {
      await expect(resolveConfined(root, base, bad, reader), bad).rejects.toThrow(LifeboatError);
    }
  });
  it("symlink loops end with a clear error", async () => {
    await expect(resolveInRoot(root, "/etc/nixos/loop1", reader)).rejects.toThrow(/too many levels/);
  });
});
