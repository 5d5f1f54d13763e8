import { describe, expect, it } from "vitest";
import { findCandidates } from "../../agent/src/core/candidates.js";
import { parseKernelCmdline } from "../../agent/src/core/cmdline.js";
import { ParseError } from "../../agent/src/core/errors.js";
import {
  decodeHostIdFile,
  encodeHostIdFile,
  parseHostIdOutput,
  splHostIdParam,
} from "../../agent/src/core/hostid.js";
import { parseJsonLossless } from "../../agent/src/core/json.js";
import { flattenDevices, mergeBlkid, parseBlkidExport, parseLsblk } from "../../agent/src/core/lsblk.js";
import {
  bindSource,
  type MountEntry,
  mountsUnder,
  parseFstab,
  parseMountInfo,
  parseProcMounts,
  remountArgs,
} from "../../agent/src/core/mounts.js";
import {
  classifyLoadKeyFailure,
  parseZfsGet,
  parseZfsListHp,
  withEncryptionRoots,
} from "../../agent/src/core/zfs.js";
import { classifyImportFailure, parseZpoolImport } from "../../agent/src/core/zpoolImport.js";
import { parseZpoolList, parseZpoolStatus, unhealthyVdevs } from "../../agent/src/core/zpoolJson.js";
import { exitCodeOf, fixture, fixtureIndex, ZFS_FSTAB } from "../helpers/fixtures.js";

describe("zpool import listing (text)", () => {
  it("single: one pool last used by another system, guid kept as a string", () => {
    const [p, ...rest] = parseZpoolImport(fixture("single", "zpool-import-list"));
    expect(rest).toHaveLength(0);
    expect(p).toMatchObject({
      name: "nvmepool",
      id: "6816711904690617069",
      state: "ONLINE",
      lastAccessedByOtherSystem: true,
      importable: true,
    });
    expect(p?.action).toBe(
      "The pool can be imported using its name or numeric identifier and the '-f' flag.",
    );
    expect(p?.see).toBe("https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-EY");
    expect(p?.config).toEqual([
      {
        name: "nvmepool",
        state: "ONLINE",
        message: null,
        section: "normal",
        children: [
          {
            name: "nvme-QEMU_NVMe_Ctrl_VMLAB0-part2",
            state: "ONLINE",
            message: null,
            section: "normal",
            children: [],
          },
        ],
      },
    ]);
  });

  it("clean export: no 'another system' status", () => {
    const [p] = parseZpoolImport(fixture("single", "zpool-import-list-clean"));
    expect(p).toMatchObject({
      name: "nvmepool",
      status: null,
      lastAccessedByOtherSystem: false,
      importable: true,
    });
  });

  it("mirror: nested vdev tree", () => {
    const [p] = parseZpoolImport(fixture("mirror", "zpool-import-list"));
    const mirror = p?.config[0]?.children[0];
    expect(mirror?.name).toBe("mirror-0");
    expect(mirror?.children.map((c) => c.name)).toEqual([
      "nvme-QEMU_NVMe_Ctrl_VMLAB0-part2",
      "nvme-QEMU_NVMe_Ctrl_VMLAB1-part1",
    ]);
    expect(unhealthyVdevs(p?.config ?? [])).toEqual([]);
  });

  it("degraded: importable, the missing half is named", () => {
    const [p] = parseZpoolImport(fixture("degraded", "zpool-import-list"));
    expect(p).toMatchObject({ state: "DEGRADED", importable: true });
    expect(p?.action).toContain("despite missing or damaged devices");
    expect(unhealthyVdevs(p?.config ?? [])).toEqual(["nvme-QEMU_NVMe_Ctrl_VMLAB1-part1 (UNAVAIL)"]);
  });

  it("stripe with a missing disk: not importable, root vdev message kept", () => {
    const [p] = parseZpoolImport(fixture("stripe-missing", "zpool-import-list"));
    expect(p).toMatchObject({ state: "UNAVAIL", importable: false });
    expect(p?.config[0]).toMatchObject({
      name: "nvmepool",
      state: "UNAVAIL",
      message: "insufficient replicas",
    });
  });

  it("two pools, encrypted listing", () => {
    expect(parseZpoolImport(fixture("two-pools", "zpool-import-list")).map((p) => [p.name, p.id])).toEqual([
      ["tank", "17239120421616948929"],
      ["nvmepool", "17857142475122594770"],
    ]);
    expect(parseZpoolImport(fixture("encrypted", "zpool-import-list"))).toHaveLength(1);
  });

  it("nothing to import: empty stdout, message on stderr, exit 0", () => {
    for (const [kase, name] of [
      ["nodisks", "zpool-import-list"],
      ["ext4", "zpool-import-list"],
      ["single", "zpool-import-list-while-imported"],
    ] as const) {
      expect(exitCodeOf(kase, name)).toBe(0);
      expect(parseZpoolImport(fixture(kase, name))).toEqual([]);
      expect(fixture(kase, name, "stderr")).toContain("no pools available to import");
    }
  });

  it("garbage is a typed parse error", () => {
    expect(() => parseZpoolImport("hello\n")).toThrow(ParseError);
    expect(() => parseZpoolImport("  pool: x\n    id: notanumber\n state: ONLINE\n")).toThrow(ParseError);
  });
});

describe("zpool import failures (stderr)", () => {
  it("hostid mismatch names the last host and its hostid", () => {
    expect(exitCodeOf("single", "zpool-import-no-f")).toBe(1);
    expect(classifyImportFailure(fixture("single", "zpool-import-no-f", "stderr"))).toEqual({
      kind: "in-use-elsewhere",
      pool: "nvmepool",
      lastHost: "atlas",
      lastHostId: "8425e349",
      lastAccessed: "Wed Nov 25 19:13:10 2026",
    });
  });
  it("wrong name, already imported, missing devices", () => {
    expect(classifyImportFailure(fixture("single", "zpool-import-wrong-name", "stderr"))).toEqual({
      kind: "no-such-pool",
      pool: "wrongpool",
    });
    expect(classifyImportFailure(fixture("ext4", "zpool-import-f", "stderr"))).toEqual({
      kind: "no-such-pool",
      pool: "nvmepool",
    });
    expect(classifyImportFailure(fixture("single", "zpool-import-again", "stderr"))).toEqual({
      kind: "name-exists",
      pool: "nvmepool",
    });
    expect(classifyImportFailure(fixture("stripe-missing", "zpool-import-f", "stderr"))).toEqual({
      kind: "missing-devices",
      pool: "nvmepool",
    });
    expect(classifyImportFailure(fixture("stripe-missing", "zpool-import-f-readonly", "stderr"))).toEqual({
      kind: "missing-devices",
      pool: "nvmepool",
    });
  });
  it("unknown text is kept as 'other'", () => {
    expect(classifyImportFailure("cannot import 'x': I/O error\n")).toEqual({
      kind: "other",
      pool: "x",
      message: "cannot import 'x': I/O error",
    });
  });
});

describe("zpool list/status -j", () => {
  it("list: string numbers and --json-int numbers give the same guid string", () => {
    const a = parseZpoolList(fixture("single", "zpool-list-j"));
    const b = parseZpoolList(fixture("single", "zpool-list-j-int"));
    expect(a[0]).toMatchObject({
      name: "nvmepool",
      guid: "6816711904690617069",
      health: "ONLINE",
      altroot: "/mnt",
    });
    expect(b[0]?.guid).toBe("6816711904690617069");
  });
  it("list with nothing imported prints nothing (exit 0)", () => {
    expect(fixture("ext4", "zpool-list-j")).toBe("");
    expect(parseZpoolList(fixture("ext4", "zpool-list-j"))).toEqual([]);
  });
  it("two pools", () => {
    expect(
      parseZpoolList(fixture("two-pools", "zpool-list-j"))
        .map((p) => p.name)
        .sort(),
    ).toEqual(["nvmepool", "tank"]);
  });
  it("status: vdev tree, big guids exact with --json-int", () => {
    const [s] = parseZpoolStatus(fixture("single", "zpool-status-j"));
    expect(s?.vdevs[0]).toMatchObject({
      name: "nvme-QEMU_NVMe_Ctrl_VMLAB0-part2",
      type: "disk",
      state: "ONLINE",
      guid: "17247998915135320399",
    });
    const [si] = parseZpoolStatus(fixture("single", "zpool-status-j-int"));
    expect(si?.vdevs[0]?.guid).toBe("17247998915135320399");
    expect(si?.guid).toBe("6816711904690617069");
  });
  it("status: degraded mirror names the missing vdev", () => {
    const [s] = parseZpoolStatus(fixture("degraded", "zpool-status-j"));
    expect(s?.state).toBe("DEGRADED");
    const bad = unhealthyVdevs(s?.vdevs ?? []);
    // The JSON names a missing device by guid, state CANT_OPEN (the text says UNAVAIL), with "was".
    expect(bad).toEqual([
      "16074472132556282538 (CANT_OPEN, was /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_VMLAB1-part1)",
    ]);
    expect(unhealthyVdevs(parseZpoolStatus(fixture("mirror", "zpool-status-j"))[0]?.vdevs ?? [])).toEqual([]);
  });
  it("output of another command is refused", () => {
    expect(() => parseZpoolList(fixture("single", "zpool-status-j"))).toThrow(ParseError);
    expect(() => parseZpoolStatus("{not json")).toThrow(ParseError);
  });
});

describe("lossless JSON", () => {
  it("keeps 64-bit integers exact and leaves strings alone", () => {
    expect(
      parseJsonLossless(
        '{"a":17857142475122594770,"b":"17857142475122594770","c":[1,2.5,-3],"d":"x:12345678901234567890,"}',
        "t",
      ),
    ).toEqual({
      a: "17857142475122594770",
      b: "17857142475122594770",
      c: [1, 2.5, -3],
      d: "x:12345678901234567890,",
    });
  });
});

describe("zfs list / get", () => {
  it("single: -H -p columns", () => {
    const ds = parseZfsListHp(fixture("single", "zfs-list-Hp"));
    expect(ds.map((d) => [d.name, d.mountpoint, d.canmount])).toEqual([
      ["nvmepool", "none", "off"],
      ["nvmepool/home", "legacy", "on"],
      ["nvmepool/nix", "legacy", "on"],
      ["nvmepool/root", "legacy", "on"],
      ["nvmepool/var", "legacy", "on"],
    ]);
    expect(ds[3]).toMatchObject({ encryption: "off", keystatus: null, used: "135168", pool: "nvmepool" });
  });
  it("encrypted: locked, then unlocked; encryption roots from zfs get -j", () => {
    const locked = parseZfsListHp(fixture("encrypted", "zfs-list-Hp"));
    expect(locked.every((d) => d.keystatus === "unavailable" && d.encryption === "aes-256-gcm")).toBe(true);
    expect(
      parseZfsListHp(fixture("encrypted", "zfs-list-Hp-unlocked")).every((d) => d.keystatus === "available"),
    ).toBe(true);
    const withRoots = withEncryptionRoots(locked, parseZfsGet(fixture("encrypted", "zfs-get-j-crypto")));
    expect(withRoots.every((d) => d.encryptionRoot === "nvmepool")).toBe(true);
  });
  it("two pools: altroot-prefixed mountpoint of a non-legacy dataset", () => {
    const ds = parseZfsListHp(fixture("two-pools", "zfs-list-Hp"));
    expect(ds.find((d) => d.name === "tank/backups")?.mountpoint).toBe("/mnt/srv/backups");
  });
  it("zfs get -j: subset and all", () => {
    const sub = parseZfsGet(fixture("single", "zfs-get-j-subset"));
    expect(sub.get("nvmepool/root")).toMatchObject({
      mountpoint: "legacy",
      canmount: "on",
      mounted: "no",
      encryption: "off",
    });
    const all = parseZfsGet(fixture("single", "zfs-get-j-all-root"));
    expect(all.get("nvmepool/root")?.type).toBe("filesystem");
  });
  it("no datasets: JSON with an empty map", () => {
    expect(parseZfsGet(fixture("ext4", "zfs-list-j")).size).toBe(0);
  });
  it("wrong column count is a parse error", () => {
    expect(() => parseZfsListHp("nvmepool\tnone\n")).toThrow(ParseError);
  });
  it("load-key failures (exit 255) are classified", () => {
    expect(exitCodeOf("encrypted", "zfs-load-key-wrong")).toBe(255);
    expect(classifyLoadKeyFailure(fixture("encrypted", "zfs-load-key-wrong", "stderr"))).toBe(
      "wrong-passphrase",
    );
    expect(classifyLoadKeyFailure(fixture("encrypted", "zfs-load-key-again", "stderr"))).toBe(
      "already-loaded",
    );
    expect(classifyLoadKeyFailure(fixture("encrypted", "zfs-load-key-child", "stderr"))).toBe(
      "not-encryption-root",
    );
    expect(classifyLoadKeyFailure(fixture("encrypted", "zfs-unload-key-busy", "stderr"))).toBe("other");
  });
});

describe("lsblk / blkid", () => {
  it("single: ESP and zfs member under the disk", () => {
    const tree = parseLsblk(fixture("single", "lsblk-json-cols"));
    const all = flattenDevices(tree);
    expect(all.map((d) => d.path)).toEqual(["/dev/vda", "/dev/nvme0n1", "/dev/nvme0n1p1", "/dev/nvme0n1p2"]);
    expect(all[2]).toMatchObject({
      fstype: "vfat",
      label: "boot",
      uuid: "3302-674B",
      parttype: "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
      mountpoints: [],
    });
    expect(all[0]?.mountpoints).toEqual(["/"]);
  });
  it("every captured lsblk parses (incl. -O and mounted)", () => {
    for (const r of fixtureIndex().filter((x) => x.name.startsWith("lsblk-json"))) {
      expect(parseLsblk(fixture(r.kase, r.name)).length).toBeGreaterThan(0);
    }
    const mounted = flattenDevices(parseLsblk(fixture("single", "lsblk-json-cols-mounted")));
    expect(mounted.find((d) => d.path === "/dev/nvme0n1p1")?.mountpoints).toEqual(["/mnt/boot"]);
  });
  it("blkid adds PARTUUID", () => {
    const b = parseBlkidExport(fixture("single", "blkid-export"));
    expect(b.get("/dev/nvme0n1p1")).toMatchObject({
      TYPE: "vfat",
      LABEL: "boot",
      PARTUUID: "dbbe7710-a245-441d-b858-ef15c632ab0f",
    });
    const merged = flattenDevices(mergeBlkid(parseLsblk(fixture("single", "lsblk-json-cols")), b));
    expect(merged.find((d) => d.path === "/dev/nvme0n1p1")?.partuuid).toBe(
      "dbbe7710-a245-441d-b858-ef15c632ab0f",
    );
    expect(parseBlkidExport(fixture("ext4", "blkid-export")).get("/dev/nvme0n1p2")?.LABEL).toBe("nixos");
  });
  it("bad input is a parse error", () => {
    expect(() => parseLsblk("{}")).toThrow(ParseError);
    expect(() => parseBlkidExport("garbage")).toThrow(ParseError);
  });
});

describe("mounts and fstab", () => {
  it("/proc/mounts with the installed system under /mnt", () => {
    const m = parseProcMounts(fixture("single", "proc-mounts"));
    expect(mountsUnder(m, "/mnt").map((x) => x.target)).toEqual([
      "/mnt",
      "/mnt/nix",
      "/mnt/home",
      "/mnt/var",
      "/mnt/boot",
    ]);
    expect(
      mountsUnder(parseProcMounts(fixture("single", "proc-mounts-after-failed-export")), "/mnt").length,
    ).toBeGreaterThan(0);
  });
  it("octal escapes are decoded", () => {
    expect(parseProcMounts("/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\n")[0]?.target).toBe("/mnt/my disk");
  });
  it("NixOS-generated fstab", () => {
    const f = parseFstab(ZFS_FSTAB);
    expect(f.map((e) => [e.source, e.target, e.fstype])).toEqual([
      ["nvmepool/root", "/", "zfs"],
      ["nvmepool/nix", "/nix", "zfs"],
      ["nvmepool/home", "/home", "zfs"],
      ["nvmepool/var", "/var", "zfs"],
      ["/dev/disk/by-uuid/3302-674B", "/boot", "vfat"],
    ]);
    expect(f[4]?.options).toEqual(["fmask=0022", "dmask=0022"]);
    expect(() => parseFstab("onlyonefield\n")).toThrow(ParseError);
  });
  it("a line that does not parse is a warning, not the loss of the file (fstab, /proc/mounts)", () => {
    const warnings: string[] = [];
    const f = parseFstab(`onlyonefield\n${ZFS_FSTAB}two fields\n`, warnings);
    expect(f).toHaveLength(5);
    expect(warnings).toHaveLength(2);
    const w2: string[] = [];
    const m = parseProcMounts(`${fixture("single", "proc-mounts")}garbage\n`, w2);
    expect(mountsUnder(m, "/mnt")).toHaveLength(5);
    expect(w2).toEqual(['/proc/mounts: skipped short line "garbage"']);
  });
  it("a mount put back as the table showed it: ZFS without mount.zfs, its flags and mntpoint=; others as shown", () => {
    const [zfs, vfat] = parseProcMounts(
      "rpool/nixos/home /mnt/home zfs ro,nosuid,nodev,noexec,relatime,xattr,posixacl,casesensitive 0 0\n" +
        "/dev/vda1 /mnt/boot vfat ro,nosuid,nodev,noexec,relatime,fmask=0022,dmask=0022,errors=remount-ro 0 0\n",
    );
    // mount.zfs refuses a dataset with its own mountpoint ("cannot be mounted using 'mount'")
    expect(remountArgs(zfs as MountEntry, "/proc/9/fd/20")).toEqual([
      "--no-canonicalize",
      "--internal-only",
      "-t",
      "zfs",
      "-o",
      "ro,nosuid,nodev,noexec,relatime,mntpoint=/mnt/home",
      "rpool/nixos/home",
      "/proc/9/fd/20",
    ]);
    expect(remountArgs(vfat as MountEntry, "/proc/9/fd/21")).toEqual([
      "--no-canonicalize",
      "-t",
      "vfat",
      "-o",
      "ro,nosuid,nodev,noexec,relatime,fmask=0022,dmask=0022,errors=remount-ro",
      "/dev/vda1",
      "/proc/9/fd/21",
    ]);
    // libmount splits options on commas: such a path goes without mntpoint=
    const [odd] = parseProcMounts("tank/a /mnt/a,b zfs rw,relatime,xattr 0 0\n");
    expect(remountArgs(odd as MountEntry, "/proc/9/fd/22")[5]).toBe("rw,relatime");
  });
  it("mountinfo says which mounts are binds, and of which directory (not a btrfs subvolume of its own)", () => {
    const places = parseMountInfo(
      [
        "22 1 0:21 / / rw shared:1 - ext4 /dev/vda rw",
        "40 22 0:40 / /mnt rw - tmpfs none rw",
        "41 40 0:41 /nix /mnt/nix ro shared:5 - btrfs /dev/vdb2 ro,subvol=/nix",
        "42 40 0:41 /persistent /mnt/persistent ro - btrfs /dev/vdb2 ro,subvol=/persistent",
        "43 40 0:41 /persistent/etc/nixos /mnt/etc/nixos ro - btrfs /dev/vdb2 ro,subvol=/persistent",
        "44 40 0:50 / /mnt/boot/efis/a ro - vfat /dev/vda1 ro",
        "45 40 0:50 / /mnt/boot/efi ro - vfat /dev/vda1 ro",
        "46 40 0:51 /my\\040dir /mnt/srv/a\\040b ro - zfs tank/x ro",
        "short line",
      ].join("\n"),
    );
    expect(places).toHaveLength(8);
    expect(places[7]).toEqual({ dev: "0:51", root: "/my dir", target: "/mnt/srv/a b" });
    expect(bindSource(places, "/mnt/nix")).toBeNull();
    expect(bindSource(places, "/mnt/persistent")).toBeNull();
    expect(bindSource(places, "/mnt/etc/nixos")).toBe("/mnt/persistent/etc/nixos");
    expect(bindSource(places, "/mnt/boot/efi")).toBe("/mnt/boot/efis/a");
    expect(bindSource(places, "/mnt/boot/efis/a")).toBeNull();
    expect(bindSource(places, "/mnt/nowhere")).toBeNull();
  });
  it("NixOS escapes space and tab in device and mount point as \\040 and \\011 (filesystems.nix)", () => {
    const [e] = parseFstab("/dev/disk/by-label/my\\040disk /srv/a\\011b\\040c ext4 defaults 0 2\n");
    expect(e).toMatchObject({ source: "/dev/disk/by-label/my disk", target: "/srv/a\tb c" });
  });
});

describe("names ZFS accepts (zfs_namecheck.c)", () => {
  it("spaces, colons, dots, dashes and % are dataset characters; a pool starts with a letter", () => {
    const ds = parseZfsListHp(
      "tank\tnone\ton\toff\t-\t1\ntank/my data:v1.2-x%\t/mnt/srv/caf\u00e9\ton\toff\t-\t1\n",
    );
    expect(ds.map((d) => [d.name, d.pool, d.mountpoint])).toEqual([
      ["tank", "tank", "none"],
      ["tank/my data:v1.2-x%", "tank", "/mnt/srv/caf\u00e9"],
    ]);
    for (const bad of [
      "1tank\tnone\ton\toff\t-\t1\n",
      "tank//x\tnone\ton\toff\t-\t1\n",
      "tank/x@s\tnone\ton\toff\t-\t1\n",
    ])
      expect(() => parseZfsListHp(bad)).toThrow(ParseError);
  });
  it("every captured listing parses the same strictly and leniently", () => {
    for (const k of ["single", "two-pools", "encrypted"]) {
      const w: string[] = [];
      expect(parseZfsListHp(fixture(k, "zfs-list-Hp"), w)).toEqual(parseZfsListHp(fixture(k, "zfs-list-Hp")));
      expect(w).toEqual([]);
    }
  });
});

describe("hostid and kernel command line", () => {
  it("captured hostid output; /etc/hostid is 4 little-endian bytes", () => {
    expect(parseHostIdOutput(fixture("single", "versions").trim().split("\n").pop() as string)).toBe(
      "00bab10c",
    );
    expect([...encodeHostIdFile("8425e349")]).toEqual([0x49, 0xe3, 0x25, 0x84]);
    expect(decodeHostIdFile(encodeHostIdFile("8425e349"))).toBe("8425e349");
    expect(splHostIdParam("bab10c")).toBe("0x00bab10c");
    expect(() => encodeHostIdFile("xyz")).toThrow(ParseError);
  });
  it("lifeboat.* keys from /proc/cmdline", () => {
    expect(
      parseKernelCmdline(
        'BOOT_IMAGE=/boot/bzImage init=/nix/store/x/init lifeboat.token="abc def" lifeboat.automount=readonly quiet lifeboat.debug',
      ),
    ).toEqual({
      token: "abc def",
      automount: "readonly",
      debug: "1",
    });
  });
});

describe("candidates from real detection data", () => {
  it("two pools: the pool sharing a disk with the ESP wins, the data pool scores lower", () => {
    // Two captures combined: single's lsblk (nvmepool member next to the ESP; members match by pool
    // label) with two-pools' listing (tank is on a disk that lsblk capture does not show).
    const c = findCandidates({
      devices: parseLsblk(fixture("single", "lsblk-json-cols")),
      importable: parseZpoolImport(fixture("two-pools", "zpool-import-list")),
      imported: [],
      datasets: [],
      mounts: [],
      root: "/mnt",
    });
    expect(c.map((x) => x.id)).toEqual(["zfs:nvmepool", "zfs:tank"]);
    expect(c[0]?.score).toBeGreaterThan(c[1]?.score ?? 0);
  });
  it("ext4: the label 'nixos' partition, not the live system's own root", () => {
    const c = findCandidates({
      devices: parseLsblk(fixture("ext4", "lsblk-json-cols")),
      importable: [],
      imported: [],
      datasets: [],
      mounts: [],
      root: "/mnt",
    });
    expect(c.map((x) => x.id)).toEqual(["block:/dev/nvme0n1p2"]);
  });
  it("no disks: nothing", () => {
    expect(
      findCandidates({
        devices: parseLsblk(fixture("nodisks", "lsblk-json-cols")),
        importable: [],
        imported: [],
        datasets: [],
        mounts: [],
        root: "/mnt",
      }),
    ).toEqual([]);
  });
});
