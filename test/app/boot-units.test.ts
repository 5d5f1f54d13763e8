/**
 * The installed generation's systemd units on the recording fake (issue 12): a data pool only in
 * boot.zfs.extraPools (nixpkgs zfs.nix: zfs-import-<pool>.service, no fstab line) and
 * impermanence's persisted directories (bind .mount units wanted by local-fs.target). The units
 * sit where NixOS puts them: the profile's generation's etc/systemd/system, links into the store.
 */

import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rejection } from "../helpers/assert.js";
import { ZFS_FSTAB } from "../helpers/fixtures.js";
import { mountedTargets, rig } from "./harness.js";

/** Write units into every generation's etc/systemd/system (a store dir of links, as NixOS does). */
async function units(dir: string, files: Record<string, string>, wants: Record<string, string[]> = {}) {
  const store = join(dir, "mnt/nix/store");
  const U = "/nix/store/0000000000000000000000000000000a-system-units";
  await mkdir(join(dir, "mnt", U), { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    const S = `/nix/store/0000000000000000000000000000000b-unit-${name}`;
    await mkdir(join(dir, "mnt", S), { recursive: true });
    await writeFile(join(dir, "mnt", S, name), text);
    await symlink(`${S}/${name}`, join(dir, "mnt", U, name));
  }
  for (const [target, list] of Object.entries(wants)) {
    await mkdir(join(dir, "mnt", U, target), { recursive: true });
    for (const n of list) await symlink(`../${n}`, join(dir, "mnt", U, target, n));
  }
  for (const e of readdirSync(store).filter((n) => n.endsWith("-etc")))
    await symlink(U, join(store, e, "etc/systemd/system")).catch(async () => {
      await mkdir(join(store, e, "etc/systemd"), { recursive: true });
      await symlink(U, join(store, e, "etc/systemd/system"));
    });
}

const IMPORT_TANK = `[Unit]
Description=Import ZFS pool "tank"
DefaultDependencies=no

[Service]
Type=oneshot
ExecStart=/nix/store/00000000000000000000000000000000-unit-script-zfs-import-tank-start/bin/zfs-import-tank-start
`;

describe("a pool only in boot.zfs.extraPools (two-pools capture; the fstab names nvmepool only)", () => {
  it("without the unit, tank is not the system's: not imported", async () => {
    const r = await rig("two-pools", { tree: { fstab: ZFS_FSTAB } });
    const res = await r.mounts.mount();
    expect(res.plan?.pools).toEqual(["nvmepool"]);
    expect(r.sys.imported.has("tank")).toBe(false);
  });

  it("with zfs-import-tank.service: imported read-only under /mnt, its ZFS-mounted dataset mounted, the legacy one not", async () => {
    const r = await rig("two-pools", { tree: { fstab: ZFS_FSTAB } });
    await units(
      r.dir,
      { "zfs-import-tank.service": IMPORT_TANK },
      { "zfs-import.target.requires": ["zfs-import-tank.service"] },
    );
    await mkdir(join(r.dir, "mnt/srv/backups"), { recursive: true });
    const res = await r.mounts.mount();
    expect(res.plan?.pools).toEqual(["nvmepool", "tank"]);
    // the import was planned once the units were read (the plan before the import names its reason)
    expect(res.steps.filter((l) => l.includes("tank"))[0]).toMatch(/^imported tank/);
    expect(r.sys.imported.get("tank")).toMatchObject({ readonly: true, altroot: "/mnt", forced: false });
    expect(mountedTargets(r.sys)).toContain("/mnt/srv/backups");
    expect(r.sys.mounts.some((m) => m.source === "tank/data")).toBe(false);
    const out = await r.mounts.unmount({ export: true });
    expect(out.exported.sort()).toEqual(["nvmepool", "tank"]);
  });

  it("a unit for a pool that is not here is a note, not a failure", async () => {
    const r = await rig("single", { tree: {} });
    await units(r.dir, { "zfs-import-archive.service": IMPORT_TANK.replaceAll("tank", "archive") });
    const res = await r.mounts.mount();
    expect(res.warnings.join("\n")).toContain(
      "the system imports pool archive at boot (zfs-import-archive.service) but it is not here",
    );
  });
});

describe("impermanence: persisted directories bind-mounted by .mount units (tmpfs /, the pool holds /nix and /persist)", () => {
  const listing =
    "nvmepool\tnone\toff\toff\t-\t2670592\nnvmepool/nix\tlegacy\ton\toff\t-\t1785856\nnvmepool/persist\tlegacy\ton\toff\t-\t98304\n";
  const fstab =
    "none / tmpfs defaults,size=25%,mode=755 0 0\nnvmepool/nix /nix zfs x-initrd.mount 0 0\nnvmepool/persist /persist zfs x-initrd.mount 0 0\n";
  const mountUnit = (where: string, what = `/persist${where}`) =>
    `[Unit]\nBefore=local-fs.target\nDefaultDependencies=false\n\n[Mount]\nOptions=bind,x-gvfs-hide\nType=none\nWhat=${what}\nWhere=${where}\n`;

  async function imperm() {
    const r = await rig("single", { tree: { fstab } });
    r.sys.cfg.outputs.zfsListHp = listing;
    for (const d of ["etc/nixos", "var/log", "var/lib/nixos"])
      await mkdir(join(r.dir, "mnt/persist", d), { recursive: true });
    return r;
  }

  it("each wanted unit is a bind from /persist, after /persist, parents first; an unwanted or mismatched one is not", async () => {
    const r = await imperm();
    await units(
      r.dir,
      {
        "etc-nixos.mount": mountUnit("/etc/nixos"),
        "var-log.mount": mountUnit("/var/log"),
        "var-lib-nixos.mount": mountUnit("/var/lib/nixos"),
        // not wanted by local-fs.target: systemd does not mount it at boot
        "srv.mount": mountUnit("/srv"),
        // Where= is not the name: systemd refuses the unit
        "home.mount": mountUnit("/etc"),
      },
      { "local-fs.target.wants": ["etc-nixos.mount", "var-log.mount", "var-lib-nixos.mount", "home.mount"] },
    );
    const res = await r.mounts.mount({ requireNixos: true });
    expect(mountedTargets(r.sys)).toEqual([
      "/mnt",
      "/mnt/nix",
      "/mnt/persist",
      "/mnt/etc/nixos",
      "/mnt/var/log",
      "/mnt/var/lib/nixos",
    ]);
    for (const d of ["etc/nixos", "var/log", "var/lib/nixos"])
      expect(r.sys.mounts.find((m) => m.target === `/mnt/${d}`)).toMatchObject({
        source: `/mnt/persist/${d}`,
        options: expect.arrayContaining(["ro", "nodev", "nosuid"]),
      });
    expect(res.warnings.join("\n")).toContain('home.mount: Where="/etc" does not match the unit name');
  });

  it("an unmount stopped by a busy root puts each bind back as the same directory bound again", async () => {
    const r = await imperm();
    await units(
      r.dir,
      { "etc-nixos.mount": mountUnit("/etc/nixos"), "var-log.mount": mountUnit("/var/log") },
      { "local-fs.target.wants": ["etc-nixos.mount", "var-log.mount"] },
    );
    await r.mounts.mount({ requireNixos: true });
    const view = async () =>
      ((await r.sys.readFile("/proc/self/mountinfo"))?.toString("utf8") ?? "")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ").slice(2, 5).join(" "))
        .sort();
    const before = await view();
    // the binds show the directory of nvmepool/persist they come from
    expect(before.filter((l) => l.endsWith("/mnt/etc/nixos") || l.endsWith("/mnt/var/log"))).toHaveLength(2);
    r.sys.cfg.fail = (f, a) =>
      f === "umount" && a[0] === "/mnt"
        ? { exitCode: 32, stderr: "umount: /mnt: target is busy.\n" }
        : undefined;
    const from = r.sys.calls.length;
    const err = await rejection(r.mounts.unmount({ export: true }));
    expect(err.code).toBe("target-busy");
    expect(err.extras.state).toBe("rolled-back");
    expect(await view()).toEqual(before);
    const binds = r.sys.calls.slice(from).filter((c) => c.file === "mount" && c.args.includes("--bind"));
    expect(binds).toHaveLength(2);
  });

  it("a unit's What= through a symlink on the disk: that unit skipped and named, the safe ones mounted, nothing outside /mnt", async () => {
    const r = await imperm();
    await rm(join(r.dir, "mnt/persist/etc/nixos"), { recursive: true });
    await symlink("/root", join(r.dir, "mnt/persist/etc/nixos"));
    await units(
      r.dir,
      { "etc-nixos.mount": mountUnit("/etc/nixos"), "var-log.mount": mountUnit("/var/log") },
      { "local-fs.target.wants": ["etc-nixos.mount", "var-log.mount"] },
    );
    const res = await r.mounts.mount();
    expect(res.skipped).toHaveLength(1);
    expect(res.skipped[0]).toMatchObject({
      kind: "mount-unit",
      path: "/etc/nixos",
      source: "etc-nixos.mount",
    });
    expect(res.skipped[0]?.reason).toMatch(/symbolic link .*refusing to mount through it/);
    expect(mountedTargets(r.sys)).toEqual(["/mnt", "/mnt/nix", "/mnt/persist", "/mnt/var/log"]);
    // Read-write: refused until acknowledged, rolled back, nothing left mounted.
    const rw = await imperm();
    await rm(join(rw.dir, "mnt/persist/etc/nixos"), { recursive: true });
    await symlink("/root", join(rw.dir, "mnt/persist/etc/nixos"));
    await units(
      rw.dir,
      { "etc-nixos.mount": mountUnit("/etc/nixos") },
      { "local-fs.target.wants": ["etc-nixos.mount"] },
    );
    const err = await rejection(rw.mounts.mount({ readonly: false }));
    expect(err.code).toBe("skipped-entries");
    expect(err.extras.state).toBe("rolled-back");
    expect(rw.sys.mounts.filter((m) => m.target !== "/" && m.target !== "/proc")).toEqual([]);
  });

  it("a unit whose Where= runs through a link out of the root, one whose Where= is not its name: both skipped and named, the rest mounted", async () => {
    const r = await rig("single", { tree: { fstab: ZFS_FSTAB } });
    await mkdir(join(r.dir, "mnt/persist/data"), { recursive: true });
    await mkdir(join(r.dir, "mnt/opt/x"), { recursive: true });
    await mkdir(join(r.dir, "etc"), { recursive: true });
    await symlink("/etc", join(r.dir, "mnt/srv"));
    await units(
      r.dir,
      {
        "srv-www.mount": mountUnit("/srv/www", "/persist/data"),
        "opt-x.mount": mountUnit("/opt/x", "/persist/data"),
        "opt-y.mount": mountUnit("/root", "/persist/data"),
      },
      { "local-fs.target.wants": ["srv-www.mount", "opt-x.mount", "opt-y.mount"] },
    );
    const res = await r.mounts.mount();
    expect(res.skipped.map((e) => [e.kind, e.path, e.source])).toEqual([
      ["mount-unit", "/opt/y", "opt-y.mount"],
      ["mount-unit", "/srv/www", "srv-www.mount"],
    ]);
    expect(res.skipped[0]?.reason).toMatch(/does not match the unit name/);
    expect(mountedTargets(r.sys)).toEqual([
      "/mnt",
      "/mnt/nix",
      "/mnt/home",
      "/mnt/var",
      "/mnt/boot",
      "/mnt/opt/x",
    ]);
    expect(
      r.sys.mounts.filter((m) => !["/", "/proc"].includes(m.target) && !m.target.startsWith("/mnt")),
    ).toEqual([]);
  });

  it("hostile unit files (a FIFO, a huge file, a link out of the root, a directory) are warnings; the rest mounts, nothing hangs", async () => {
    const r = await imperm();
    await units(
      r.dir,
      { "etc-nixos.mount": mountUnit("/etc/nixos"), "var-log.mount": "x".repeat(200_000) },
      {
        "local-fs.target.wants": ["etc-nixos.mount", "var-log.mount", "fifo.mount", "out.mount", "dir.mount"],
      },
    );
    const U = join(r.dir, "mnt/nix/store/0000000000000000000000000000000a-system-units");
    execFileSync("mkfifo", [join(U, "fifo.mount")]);
    await symlink("/proc/self/mounts", join(U, "out.mount"));
    await mkdir(join(U, "dir.mount"));
    const res = await r.mounts.mount();
    expect(mountedTargets(r.sys)).toEqual(["/mnt", "/mnt/nix", "/mnt/persist", "/mnt/etc/nixos"]);
    const w = res.warnings.join("\n");
    for (const n of ["var-log.mount", "fifo.mount", "dir.mount"]) expect(w).toContain(`/${n}:`);
  });
});
