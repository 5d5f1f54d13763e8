// What a generation's systemd units add at boot (core/bootUnits.ts): nixpkgs zfs.nix's
// zfs-import-<pool>.service per data pool (boot.zfs.extraPools included) and impermanence's bind
// .mount units. Real unit files: the ones test/vm/guest/mklayouts.sh writes into the layouts'
// generations (copied from the layouts disk set's generated/units into vm-captured/<layout>/units).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  bindEntriesOf,
  importUnitPools,
  parseMountUnit,
  pathOfMountUnit,
} from "../../agent/src/core/bootUnits.js";

const V = join(import.meta.dirname, "..", "fixtures", "vm-captured");
const units = (layout: string) => join(V, layout, "units");

describe("zfs-import-<pool>.service names", () => {
  it("the btrfs-zfs-data generation imports tank at boot (boot.zfs.extraPools)", () => {
    expect(importUnitPools(readdirSync(units("btrfs-zfs-data")))).toEqual(["tank"]);
  });

  it("names as nixpkgs makes them from pool names or guids; anything else is not a pool", () => {
    expect(
      importUnitPools([
        "zfs-import-tank.service",
        "zfs-import-odd-pool.v2:x.service",
        "zfs-import-12868727788343670485.service",
        "zfs-import.target",
        "zfs-import-.service",
        "zfs-import-a b.service",
        "zfs-import-../x.service",
        "zfs-import-tank.service.d",
        "zfs-mount.service",
        "zfs-import-tank.service",
      ]),
    ).toEqual(["12868727788343670485", "odd-pool.v2:x", "tank"]);
  });
});

describe("mount units (systemd.mount(5))", () => {
  it("names are escaped paths (systemd-escape --path)", () => {
    expect(pathOfMountUnit("etc-nixos.mount")).toBe("/etc/nixos");
    expect(pathOfMountUnit("var-lib-nixos.mount")).toBe("/var/lib/nixos");
    expect(pathOfMountUnit("srv-my\\x2ddata.mount")).toBe("/srv/my-data");
    expect(pathOfMountUnit("srv-donn\\xc3\\xa9es.mount")).toBe("/srv/données");
    expect(pathOfMountUnit("-.mount")).toBe("/");
    for (const bad of ["etc--x.mount", "-etc.mount", "etc-.mount", "e\\x2.mount", "a b.mount", "x.service"])
      expect(pathOfMountUnit(bad), bad).toBeNull();
  });

  it("impermanence's units (real files of the layout) are binds from /persistent, wanted by local-fs.target", () => {
    const wanted = readdirSync(join(units("impermanence"), "local-fs.target.wants")).filter((n) =>
      n.endsWith(".mount"),
    );
    expect(wanted.sort()).toEqual(["etc-nixos.mount", "var-lib-nixos.mount", "var-log.mount"]);
    const parsed = wanted.map((n) => parseMountUnit(n, readFileSync(join(units("impermanence"), n), "utf8")));
    expect(
      bindEntriesOf(parsed.filter((u) => u !== null)).map((e) => [e.target, e.source, e.fstype, e.options]),
    ).toEqual([
      ["/etc/nixos", "/persistent/etc/nixos", "none", ["bind"]],
      ["/var/lib/nixos", "/persistent/var/lib/nixos", "none", ["bind"]],
      ["/var/log", "/persistent/var/log", "none", ["bind"]],
    ]);
  });

  it("a Where= that is not the unit's name is refused (systemd refuses to load it), as is a unit without one", () => {
    const w: string[] = [];
    expect(parseMountUnit("etc-nixos.mount", "[Mount]\nWhat=/persistent/etc\nWhere=/etc\n", w)).toBeNull();
    expect(parseMountUnit("etc-nixos.mount", "[Mount]\nWhat=/persistent/etc\n", w)).toBeNull();
    expect(w).toHaveLength(2);
    expect(w[0]).toContain("does not match the unit name");
  });

  it("last assignment wins, comments and other sections are ignored; only binds become fstab lines", () => {
    const u = parseMountUnit(
      "srv.mount",
      "[Unit]\nWhat=/nope\n# What=/comment\n[Mount]\nWhat=/a\nWhat=/persist/srv\nWhere=/srv/\nType=none\nOptions=rbind,x-gvfs-hide,ro\n",
    );
    expect(u).toMatchObject({ what: "/persist/srv", where: "/srv", type: "none" });
    expect(bindEntriesOf(u ? [u] : [])).toEqual([
      {
        source: "/persist/srv",
        target: "/srv",
        fstype: "none",
        options: ["bind", "ro"],
        freq: 0,
        passno: 0,
        unit: "srv.mount",
      },
    ]);
    const nfs = parseMountUnit("mnt-nas.mount", "[Mount]\nWhat=nas:/x\nWhere=/mnt/nas\nType=nfs\n");
    const tmp = parseMountUnit(
      "tmp.mount",
      "[Mount]\nWhat=tmpfs\nWhere=/tmp\nType=tmpfs\nOptions=mode=1777\n",
    );
    expect(bindEntriesOf([nfs, tmp].filter((x) => x !== null))).toEqual([]);
  });
});
