/**
 * Degrade, don't refuse (the recording fake): an entry of the installed system that is unsafe,
 * locked or whose pool fails is skipped with its reason, and everything else still mounts
 * read-only. One test per class: an fstab line whose target links out, a dataset whose mountpoint
 * runs through a link, a mount unit with a bad Where= (test/app/boot-units.test.ts), a locked
 * dataset the system does not mount at boot, a locked dataset in a pool only an import unit names,
 * and such a pool that fails to import. Read-write needs each skipped entry acknowledged.
 */
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rejection } from "../helpers/assert.js";
import type { FakeSystem } from "../helpers/fake-system.js";
import { ZFS_FSTAB } from "../helpers/fixtures.js";
import { mountedTargets, rig, SEED_TARGETS } from "./harness.js";

const outside = (sys: FakeSystem) =>
  sys.mounts.filter(
    (m) => !["/", "/proc"].includes(m.target) && m.target !== "/mnt" && !m.target.startsWith("/mnt/"),
  );

/** zfs-import-tank.service in the generation the profile points at (as nixpkgs' zfs.nix names it). */
async function importUnit(dir: string, pool: string) {
  const store = join(dir, "mnt/nix/store");
  const U = "/nix/store/0000000000000000000000000000000a-system-units";
  await mkdir(join(dir, "mnt", U), { recursive: true });
  await writeFile(
    join(dir, "mnt", U, `zfs-import-${pool}.service`),
    `[Unit]\nDescription=Import ZFS pool "${pool}"\n`,
  );
  const { readdirSync } = await import("node:fs");
  for (const e of readdirSync(store).filter((n) => n.endsWith("-etc"))) {
    await mkdir(join(store, e, "etc/systemd"), { recursive: true });
    await symlink(U, join(store, e, "etc/systemd/system"));
  }
}

const ROOT_MOUNTS = SEED_TARGETS;

describe("degrade, don't refuse", () => {
  it("a locked dataset the system does not mount at boot (canmount=noauto) no longer blocks the mount: named in a warning", async () => {
    const r = await rig("single", { tree: { fstab: ZFS_FSTAB } });
    r.sys.cfg.outputs.zfsListHp = `${r.sys.cfg.outputs.zfsListHp}nvmepool/vault\t/mnt/vault\tnoauto\taes-256-gcm\tunavailable\t98304\n`;
    const res = await r.mounts.mount();
    expect(res.result).toBe("mounted");
    expect(res.warnings.join("\n")).toContain("left locked: nvmepool/vault");
    expect(mountedTargets(r.sys)).toEqual(ROOT_MOUNTS);
  });

  it("a pool only boot.zfs.extraPools names: imported read-only even for a read-write mount, never forced, importedBecause its unit", async () => {
    const r = await rig("two-pools", { tree: { fstab: ZFS_FSTAB } });
    await importUnit(r.dir, "tank");
    await mkdir(join(r.dir, "mnt/srv/backups"), { recursive: true });
    const res = await r.mounts.mount({ readonly: false, force: true });
    expect(res.pools).toEqual([
      expect.objectContaining({ pool: "nvmepool", importedBecause: "root", readonly: false }),
      expect.objectContaining({
        pool: "tank",
        importedBecause: "extraPools unit zfs-import-tank.service",
        readonly: true,
      }),
    ]);
    const imports = r.sys
      .commandLines()
      .filter((l) => l.startsWith("zpool import") && /tank|17239120421616948929/.test(l));
    expect(imports).toEqual([expect.stringContaining("-o readonly=on")]);
    expect(imports.some((l) => l.includes(" -f"))).toBe(false);
    expect(r.sys.mounts.find((m) => m.target === "/mnt/srv/backups")?.options).toContain("ro");
    expect(r.mounts.lastReport?.pools.map((p) => p.importedBecause)).toEqual([
      "root",
      "extraPools unit zfs-import-tank.service",
    ]);
  });

  it("a locked dataset in a pool only an import unit names: skipped and named, the root's mount goes on", async () => {
    const r = await rig("two-pools", { tree: { fstab: ZFS_FSTAB } });
    await importUnit(r.dir, "tank");
    await mkdir(join(r.dir, "mnt/srv/backups"), { recursive: true });
    r.sys.cfg.outputs.zfsListHp = (r.sys.cfg.outputs.zfsListHp ?? "").replace(
      "tank/backups\t/mnt/srv/backups\ton\toff\t-",
      "tank/backups\t/mnt/srv/backups\ton\taes-256-gcm\tunavailable",
    );
    const res = await r.mounts.mount();
    expect(res.skipped).toEqual([
      expect.objectContaining({
        kind: "dataset",
        path: "/srv/backups",
        source: "tank/backups",
        essential: false,
      }),
    ]);
    expect(res.skipped[0]?.reason).toMatch(/locked: the encryption key of tank is not loaded/);
    expect(mountedTargets(r.sys)).toEqual(ROOT_MOUNTS);
    expect(r.sys.imported.get("tank")).toMatchObject({ readonly: true, forced: false });
  });

  it("a pool only an import unit names that fails to import (another host's, devices missing): skipped, the root's mount goes on", async () => {
    for (const fault of ["hostid", "missing"] as const) {
      const r = await rig("two-pools", { tree: { fstab: ZFS_FSTAB } });
      await importUnit(r.dir, "tank");
      const tank = r.sys.cfg.pools.find((p) => p.name === "tank");
      if (tank && fault === "hostid") tank.lastHostId = "deadbeef";
      if (tank && fault === "missing") tank.unavailable = true;
      const res = await r.mounts.mount({ force: true });
      expect(res.skipped, fault).toEqual([
        expect.objectContaining({ kind: "pool", source: "tank", path: "" }),
      ]);
      expect(res.pools.map((p) => p.pool)).toEqual(["nvmepool"]);
      expect(mountedTargets(r.sys)).toEqual(ROOT_MOUNTS);
      expect(r.sys.imported.has("tank")).toBe(false);
      expect(r.sys.commandLines().filter((l) => l.includes(" -f"))).toEqual([]);
    }
  });

  it("a child of a skipped mountpoint is skipped too (parents first), named with its parent", async () => {
    const fstab = `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B /srv vfat umask=0077 0 2\n/dev/disk/by-uuid/3302-674B /srv/www vfat umask=0077 0 2\n/dev/disk/by-uuid/3302-674B /opt vfat umask=0077 0 2\n`;
    const r = await rig("single", { tree: { fstab } });
    await mkdir(join(r.dir, "etc/www"), { recursive: true });
    await mkdir(join(r.dir, "mnt/opt"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    const res = await r.mounts.mount();
    expect(res.skipped.map((e) => [e.path, e.kind])).toEqual([
      ["/srv", "fstab"],
      ["/srv/www", "fstab"],
    ]);
    expect(res.skipped[1]?.reason).toBe("it lands on /srv, which is skipped");
    expect(mountedTargets(r.sys)).toEqual([...ROOT_MOUNTS, "/mnt/opt"]);
    expect(outside(r.sys)).toEqual([]);
  });

  it("the root itself unsafe: nothing can be mounted, refused as before", async () => {
    const fstab = ZFS_FSTAB.replace("nvmepool/root / zfs defaults", "nvmepool/root / zfs X-mount.subdir=etc");
    const r = await rig("single", { tree: { fstab } });
    const err = await rejection(r.mounts.mount());
    expect(err.code).toBe("unsafe-fstab");
    expect(err.extras.state).toBe("rolled-back");
    expect(mountedTargets(r.sys)).toEqual([]);
    expect(r.sys.imported.size).toBe(0);
  });
});

describe("a rebuild needs every entry it may depend on, or the operator's word", () => {
  it("after a read-write mount that acknowledged a skipped entry: the rebuild starts; an entry nobody acknowledged: 409 skipped-entries, nothing done", async () => {
    const fstab = `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B /srv/data vfat umask=0077 0 2\n`;
    const r = await rig("single", {
      tree: { fstab },
      fake: {
        spawnScript: (file, args) =>
          file === "nixos-enter" && args.includes("nixos-rebuild") ? { lines: [], exitCode: 0 } : undefined,
      },
    });
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    await r.mounts.mount({ readonly: false, acceptSkipped: ["/srv/data"] });
    // Drop the acknowledgment, as if the entry had been skipped without the operator's word.
    const report = r.mounts.lastReport;
    if (report) report.accepted.length = 0;
    const before = r.sys.commandLines().length;
    const err = await rejection(r.services.rebuild.start({ action: "build" }, "test"));
    expect(err.code).toBe("skipped-entries");
    expect(err.extras.skipped).toEqual([expect.objectContaining({ path: "/srv/data" })]);
    expect(
      r.sys
        .commandLines()
        .slice(before)
        .filter((l) => l.startsWith("zfs snapshot")),
    ).toEqual([]);
    const job = await r.services.rebuild.start({ action: "build", acceptSkipped: ["/srv/data"] }, "test");
    expect((await r.services.jobs.wait(job.id)).state).toBe("succeeded");
  });
});

describe("auto-mount in read-write mode with an entry that would be skipped", () => {
  it("degrades to a read-only mount and says what read-write needs", async () => {
    const { AutoMounter } = await import("../../agent/src/app/automount.js");
    const pino = (await import("pino")).default;
    const fstab = `${ZFS_FSTAB}/dev/disk/by-uuid/3302-674B /srv/data vfat umask=0077 0 2\n`;
    const r = await rig("single", { tree: { fstab } });
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    const auto = new AutoMounter("readwrite", r.mounts, pino({ level: "silent" }), {
      attempts: 1,
      delayMs: 1,
    });
    await auto.run();
    expect(auto.state.state).toBe("mounted");
    expect(auto.state.detail).toMatch(/\(read-only\); read-write would leave out entries/);
    expect(r.sys.mounts.find((m) => m.target === "/mnt")?.options).toContain("ro");
    expect(r.mounts.lastReport?.skipped.map((e) => e.path)).toEqual(["/srv/data"]);
  });
});
