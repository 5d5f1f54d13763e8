// md RAID and LVM parsing and planning (agent/src/core/stacks.ts) on outputs captured in the QEMU lab
// (test/fixtures/vm-captured/stacks, see its PROVENANCE.md: Debian bookworm's mdadm 4.2, lvm2 2.03.16,
// util-linux 2.38.1; disks made by test/vm/guest/mkstacks.sh as disko's examples lay them out).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { findCandidates, findEsps } from "../../agent/src/core/candidates.js";
import { ParseError } from "../../agent/src/core/errors.js";
import { parseLsblk } from "../../agent/src/core/lsblk.js";
import {
  isLvmName,
  lvmReadOnlyConfig,
  mdAssembleArgs,
  mdTargetName,
  parseLvsReport,
  parseMdadmExamine,
  parsePvsReport,
  pendingMdMembers,
  pendingPvs,
  planMdAssemblies,
  stackBottomUp,
  vgsToActivate,
} from "../../agent/src/core/stacks.js";
import { isReadOnlyCommand } from "../../agent/src/system/system.js";

const S = join(import.meta.dirname, "..", "fixtures", "vm-captured", "stacks");
const f = (name: string) => readFileSync(join(S, name), "utf8");
const noCandidates = { importable: [], imported: [], datasets: [], mounts: [], root: "/mnt" };

describe("md RAID (disko mdadm.nix, one of two disks attached)", () => {
  const idle = parseLsblk(f("mdadm-degraded-idle.lsblk.json"));
  const esp = parseMdadmExamine("/dev/nvme0n1p1", f("mdadm-esp-member.examine.txt"));
  const root = parseMdadmExamine("/dev/nvme0n1p2", f("mdadm-root-member.examine.txt"));

  it("finds the two idle members, and takes neither for an ESP (metadata 1.0 keeps the ESP type)", () => {
    expect(pendingMdMembers(idle).map((d) => d.path)).toEqual(["/dev/nvme0n1p1", "/dev/nvme0n1p2"]);
    expect(idle[1]?.children[0]?.parttype).toBe("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
    expect(findEsps(idle)).toEqual([]);
    expect(findCandidates({ devices: idle, ...noCandidates })).toEqual([]);
  });

  it("reads each member's superblock: array UUID, name, level, raid disks, metadata", () => {
    expect(esp).toEqual({
      device: "/dev/nvme0n1p1",
      uuid: "6fdcb33b:919ca61d:28ab2ad3:498e3dd4",
      name: "any:boot",
      level: "raid1",
      raidDevices: 2,
      metadata: null,
    });
    expect(root).toMatchObject({ uuid: "c0e5536f:008f9d59:998ccc22:9807895e", name: "any:raid1" });
  });

  it("a device without an md superblock prints nothing: refused, not guessed", () => {
    expect(() => parseMdadmExamine("/dev/nvme0n1", f("mdadm-bare-disk.examine.txt"))).toThrow(ParseError);
  });

  it("plans one read-only assembly per array, degraded ones with --run, never --force/--update/--scan", () => {
    const plan = planMdAssemblies([root, esp]);
    expect(plan).toEqual([
      {
        uuid: "6fdcb33b:919ca61d:28ab2ad3:498e3dd4",
        target: "/dev/md/boot",
        members: ["/dev/nvme0n1p1"],
        level: "raid1",
        raidDevices: 2,
        degraded: true,
      },
      {
        uuid: "c0e5536f:008f9d59:998ccc22:9807895e",
        target: "/dev/md/raid1",
        members: ["/dev/nvme0n1p2"],
        level: "raid1",
        raidDevices: 2,
        degraded: true,
      },
    ]);
    const args = mdAssembleArgs(plan[0] as (typeof plan)[number]);
    expect(args).toEqual([
      "--assemble",
      "--readonly",
      "--run",
      "--uuid=6fdcb33b:919ca61d:28ab2ad3:498e3dd4",
      "/dev/md/boot",
      "/dev/nvme0n1p1",
    ]);
    for (const bad of ["--force", "--update", "--scan", "-f", "-U", "-s"]) expect(args).not.toContain(bad);
    expect(isReadOnlyCommand("mdadm", args)).toBe(false);
    expect(isReadOnlyCommand("mdadm", ["--examine", "--export", "/dev/nvme0n1p1"])).toBe(true);
  });

  it("names from the disk are used only when plain; two arrays never get one name", () => {
    expect(mdTargetName({ uuid: "6fdcb33b:919ca61d:28ab2ad3:498e3dd4", name: "any:boot" })).toBe("boot");
    for (const hostile of ["../../etc", "a b", "", "x:.hidden", "-rf", "boot/../x", "é"])
      expect(mdTargetName({ uuid: "6fdcb33b:0:0:0", name: hostile })).toBe("lifeboat-6fdcb33b");
    const twins = planMdAssemblies([
      { ...esp, device: "/dev/a" },
      { ...root, device: "/dev/b", name: "other:boot" },
    ]);
    expect(twins.map((a) => a.target)).toEqual(["/dev/md/boot", "/dev/md/lifeboat-c0e5536f"]);
  });

  it("after the agent's assembly: arrays in the tree (under the member), the root on md a candidate", () => {
    const up = parseLsblk(f("mdadm-degraded-assembled.lsblk.json"));
    expect(pendingMdMembers(up)).toEqual([]);
    const c = findCandidates({ devices: up, ...noCandidates });
    expect(c.map((x) => x.id)).toEqual(["block:/dev/md126"]);
    expect(f("mdadm-degraded-readonly.mdstat.txt")).toMatch(
      /md126 : active \(read-only\) raid1 nvme0n1p2\[0\]/,
    );
  });

  it("lsblk -s of a mounted source: the array first, then what it sits on (bottom-up walk)", () => {
    const stack = stackBottomUp(parseLsblk(f("mdadm-root.inverse.json")));
    expect(stack.map((d) => [d.path, d.type])).toEqual([
      ["/dev/nvme0n1", "disk"],
      ["/dev/nvme0n1p2", "part"],
      ["/dev/md126", "raid1"],
    ]);
  });
});

describe("LVM inside LUKS2 (disko luks-lvm.nix), after POST /v1/luks/{device}/open", () => {
  const idle = parseLsblk(f("luks-lvm-idle.lsblk.json"));
  const active = parseLsblk(f("luks-lvm-active.lsblk.json"));

  it("the opened container holds an idle PV: the VG to activate is found by pvs", () => {
    expect(pendingPvs(idle).map((d) => d.path)).toEqual(["/dev/mapper/lifeboat-nvme0n1p2"]);
    expect(findCandidates({ devices: idle, ...noCandidates })).toEqual([]);
    const pvs = parsePvsReport(f("luks-lvm.pvs.json"));
    expect(pvs).toEqual([{ pv: "/dev/mapper/lifeboat-nvme0n1p2", vg: "pool" }]);
    expect(vgsToActivate(pendingPvs(idle), pvs)).toEqual({ vgs: ["pool"], refused: [] });
    // a PV not among the idle ones (another system's, already active) is not activated
    expect(vgsToActivate([], pvs)).toEqual({ vgs: [], refused: [] });
  });

  it("once activated: no idle PV left, the LV named root is THE system (home is not a second one)", () => {
    expect(pendingPvs(active)).toEqual([]);
    const [first, second] = findCandidates({ devices: active, ...noCandidates });
    expect(first?.id).toBe("block:/dev/mapper/pool-root");
    expect(first?.reasons).toContain("LVM logical volume named root");
    expect(second?.id).toBe("block:/dev/mapper/pool-home");
    expect(first?.score).toBeGreaterThan(second?.score ?? 0);
  });

  it("lv_attr: read-only activation ('R'), inactive, and the device-mapper paths", () => {
    expect(parseLvsReport(f("luks-lvm-readonly.lvs.json"))).toEqual([
      {
        vg: "pool",
        lv: "home",
        attr: "-Ri-ao----",
        dmPath: "/dev/mapper/pool-home",
        active: true,
        readonly: true,
      },
      {
        vg: "pool",
        lv: "root",
        attr: "-Ri-ao----",
        dmPath: "/dev/mapper/pool-root",
        active: true,
        readonly: true,
      },
      {
        vg: "pool",
        lv: "swap",
        attr: "-Ri-a-----",
        dmPath: "/dev/mapper/pool-swap",
        active: true,
        readonly: true,
      },
    ]);
    expect(parseLvsReport(f("luks-lvm-inactive.lvs.json")).map((l) => [l.lv, l.active, l.readonly])).toEqual([
      ["home", false, false],
      ["root", false, false],
      ["swap", false, false],
    ]);
  });

  it("reports that are not lvm's JSON are refused", () => {
    expect(() => parseLvsReport("  LV   VG   Attr\n  root pool -wi-a-----\n")).toThrow(ParseError);
    expect(() => parsePvsReport('{"report": 3}')).toThrow(ParseError);
  });

  it("lsblk -s of the root LV: disk, partition, LUKS mapping, then the LV", () => {
    expect(stackBottomUp(parseLsblk(f("luks-lvm-root.inverse.json"))).map((d) => d.type)).toEqual([
      "disk",
      "part",
      "crypt",
      "lvm",
    ]);
  });
});

describe("LVM names and read-only configuration", () => {
  it("only names LVM itself would create reach a --config string", () => {
    for (const ok of ["pool", "vg0", "my.vg_1+x"]) expect(isLvmName(ok)).toBe(true);
    for (const bad of ['a" ] } global { x', "-vg", "a b", "..", "", "é"]) expect(isLvmName(bad)).toBe(false);
    expect(() => lvmReadOnlyConfig(['a" ]'])).toThrow();
    expect(lvmReadOnlyConfig(["pool", "data"])).toBe(
      'global { metadata_read_only = 1 } activation { read_only_volume_list = [ "pool", "data" ] }',
    );
    expect(isReadOnlyCommand("lvm", ["lvs", "--reportformat", "json"])).toBe(true);
    expect(isReadOnlyCommand("lvm", ["vgchange", "--activate", "y"])).toBe(false);
  });
});
