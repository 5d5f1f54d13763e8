/**
 * The idle agent's warm-up (app/warmup.ts): it walks the mount path on the rescue system's own
 * files, mounting and running nothing.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { warmMountPath } from "../../agent/src/app/warmup.js";
import { RealSystem } from "../../agent/src/system/real.js";

describe("warm-up of the mount path", () => {
  let dir = "";
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("reads the rescue system's profile fstab and units through the confined reader; runs no command", async () => {
    // a rescue system as NixOS lays it out: the profile a link into the store
    dir = await mkdtemp(join(tmpdir(), "lifeboat-warm-"));
    const store = "/nix/store/0000-nixos-system-rescue";
    await mkdir(join(dir, store, "etc/systemd/system"), { recursive: true });
    await mkdir(join(dir, "nix/var/nix/profiles"), { recursive: true });
    await mkdir(join(dir, "tmp"));
    await writeFile(
      join(dir, store, "etc/fstab"),
      "tmpfs / tmpfs mode=0755 0 0\n/dev/root /iso auto ro 0 0\n",
    );
    await writeFile(join(dir, store, "etc/systemd/system/zfs-import-tank.service"), "[Unit]\n");
    await symlink(store, join(dir, "nix/var/nix/profiles/system-1-link"));
    await symlink("system-1-link", join(dir, "nix/var/nix/profiles/system"));
    const sys = new RealSystem(pino({ level: "silent" }));
    const run = vi.spyOn(sys, "run");
    const spawn = vi.spyOn(sys, "spawn");
    const openRoot = vi.spyOn(sys.dirfs, "openRoot");
    const walked = await warmMountPath(sys, dir);
    expect(walked).toMatchObject({ fstab: "/nix/var/nix/profiles/system/etc/fstab", warnings: 0 });
    expect(walked.steps).toBeGreaterThan(0);
    expect(run).not.toHaveBeenCalled();
    expect(spawn).not.toHaveBeenCalled();
    expect(openRoot.mock.calls.length).toBeGreaterThan(0);
    for (const [root] of openRoot.mock.calls) expect(root).toBe(dir);
  });

  it("a rescue system without /nix (another distribution) is walked by its /etc/fstab", async () => {
    dir = await mkdtemp(join(tmpdir(), "lifeboat-warm-"));
    await mkdir(join(dir, "etc"));
    await mkdir(join(dir, "tmp"));
    await writeFile(join(dir, "etc/fstab"), "/dev/vda1 / ext4 defaults 0 1\n");
    const walked = await warmMountPath(new RealSystem(pino({ level: "silent" })), dir);
    expect(walked).toMatchObject({ fstab: "/etc/fstab", warnings: 0 });
  });
});
