/**
 * The planner on the layouts people install. Device inventories are real captures (QEMU lab,
 * test/fixtures/captured); dataset listings and fstabs are written in the exact formats of
 * `zfs list -H -p` (under `zpool import -R /mnt`: mountpoints carry the altroot) and of the fstab
 * NixOS generates (nixos/modules/tasks/filesystems.nix), following the public source named in each
 * test. The "layouts" QEMU scenarios replace them with captures of the same layouts.
 */
import { describe, expect, it } from "vitest";
import { type Candidate, chooseCandidate, findCandidates } from "../../agent/src/core/candidates.js";
import { type BlockDevice, parseLsblk } from "../../agent/src/core/lsblk.js";
import { classifyOptions, finalOptions } from "../../agent/src/core/mountOptions.js";
import { orderMounts } from "../../agent/src/core/mountOrder.js";
import { parseFstab } from "../../agent/src/core/mounts.js";
import { type MountStep, type PlanInput, type PoolFacts, planMount } from "../../agent/src/core/plan.js";
import { indexDevices, resolveSource } from "../../agent/src/core/sources.js";
import { parseZfsListHp } from "../../agent/src/core/zfs.js";
import { fixture } from "../helpers/fixtures.js";

const DEVICES = parseLsblk(fixture("single", "lsblk-json-cols"));
const ESP_UUID = "3302-674B";

/** `zfs list -H -p -o name,mountpoint,canmount,encryption,keystatus,used` rows. */
function zfsList(rows: [name: string, mountpoint: string, canmount: string][]) {
  return parseZfsListHp(rows.map(([n, m, c]) => `${n}\t${m}\t${c}\toff\t-\t98304\n`).join(""));
}

/** A captured inventory with one device changed (what a layout's partition would show instead). */
function withDevice(devices: BlockDevice[], path: string, patch: Partial<BlockDevice>): BlockDevice[] {
  return devices.map((d) => ({
    ...d,
    ...(d.path === path ? patch : {}),
    children: withDevice(d.children, path, patch),
  }));
}

function zfsCandidate(pool: string, imported = true): Candidate {
  return {
    kind: "zfs",
    id: `zfs:${pool}`,
    pool,
    guid: "6816711904690617069",
    state: "ONLINE",
    imported,
    importable: true,
    disks: ["/dev/nvme0n1"],
    score: 5,
    reasons: [],
    partOfSystem: false,
    bootPool: false,
  };
}

function pools(...spec: [name: string, imported: boolean][]): PoolFacts[] {
  return spec.map(([name, imported]) => ({
    name,
    guid: null,
    imported,
    importable: true,
    altroot: imported ? "/mnt" : null,
  }));
}

function plan(over: Partial<PlanInput> & Pick<PlanInput, "candidate">) {
  const p = planMount({ root: "/mnt", readonly: true, devices: DEVICES, datasets: [], fstab: null, ...over });
  const mounts = p.steps.filter((s): s is MountStep => s.kind === "mount");
  return { plan: p, mounts, at: (path: string) => mounts.find((m) => m.path === path) };
}

const RO = ["ro", "nodev", "nosuid", "noexec"];

describe("OpenZFS 'NixOS Root on ZFS' (openzfs-docs, 2-system-installation.rst): bpool + rpool, own mountpoints", () => {
  // zpool create -o compatibility=grub2 … -O canmount=off -O mountpoint=/boot -R /mnt bpool
  // zpool create … -O canmount=off -O mountpoint=/ -R /mnt rpool
  // zfs create -o canmount=off -o mountpoint=none rpool/nixos
  // zfs create -o canmount=on -o mountpoint=/ rpool/nixos/root (…/home, var canmount=off, var/lib, var/log)
  // zfs create -o canmount=off -o mountpoint=none bpool/nixos; -o canmount=on -o mountpoint=/boot bpool/nixos/root
  const rpool = zfsList([
    ["rpool", "/mnt", "off"],
    ["rpool/nixos", "none", "off"],
    ["rpool/nixos/root", "/mnt", "on"],
    ["rpool/nixos/home", "/mnt/home", "on"],
    ["rpool/nixos/var", "/mnt/var", "off"],
    ["rpool/nixos/var/lib", "/mnt/var/lib", "on"],
    ["rpool/nixos/var/log", "/mnt/var/log", "on"],
  ]);
  const bpool = zfsList([
    ["bpool", "/mnt/boot", "off"],
    ["bpool/nixos", "none", "off"],
    ["bpool/nixos/root", "/mnt/boot", "on"],
  ]);
  // What nixos-generate-config writes for these (zfsutil: not legacy) and the guide's ESP mount.
  const fstab = parseFstab(
    [
      "rpool/nixos/root / zfs zfsutil,X-mount.mkdir 0 0",
      "rpool/nixos/home /home zfs zfsutil 0 0",
      "rpool/nixos/var/lib /var/lib zfs zfsutil 0 0",
      "rpool/nixos/var/log /var/log zfs zfsutil 0 0",
      "bpool/nixos/root /boot zfs zfsutil 0 0",
      `/dev/disk/by-uuid/${ESP_UUID} /boot/efis/nvme0n1-part1 vfat iocharset=iso8859-1,x-systemd.idle-timeout=1min,x-systemd.automount,noauto 0 2`,
    ].join("\n"),
  );

  it("without the fstab: root by its mountpoint (altroot taken off), zfsutil, nothing of bpool yet", () => {
    const { plan: p, at } = plan({
      candidate: zfsCandidate("rpool"),
      datasets: rpool,
      pools: pools(["rpool", true]),
    });
    expect(at("/")).toMatchObject({
      source: "rpool/nixos/root",
      options: ["ro", "zfsutil", "nodev", "nosuid", "noexec"],
    });
    expect(p.complete).toBe(false);
  });

  it("the fstab names bpool: one import step for it, every mount in parent-first order, ESP mirror included", () => {
    const { plan: p, mounts } = plan({
      candidate: zfsCandidate("rpool"),
      datasets: rpool,
      fstab,
      pools: pools(["rpool", true], ["bpool", false]),
    });
    expect(p.pools).toEqual(["rpool", "bpool"]);
    expect(p.steps[0]).toMatchObject({ kind: "import-pool", pool: "bpool", readonly: true, altroot: "/mnt" });
    expect(p.complete).toBe(false); // bpool's datasets are listed once it is imported
    expect(mounts.map((m) => m.path)).toEqual([
      "/",
      "/home",
      "/boot",
      "/var/lib",
      "/var/log",
      "/boot/efis/nvme0n1-part1",
    ]);
  });

  it("with bpool imported and listed: complete; ESP after /boot, noexec everywhere read-only", () => {
    const {
      plan: p,
      mounts,
      at,
    } = plan({
      candidate: zfsCandidate("rpool"),
      datasets: [...rpool, ...bpool],
      fstab,
      pools: pools(["rpool", true], ["bpool", true]),
    });
    expect(p.complete).toBe(true);
    expect(p.steps.every((s) => s.kind === "mount")).toBe(true);
    expect(at("/boot")).toMatchObject({ source: "bpool/nixos/root", role: "boot", parent: "/" });
    expect(at("/boot/efis/nvme0n1-part1")).toMatchObject({
      source: "/dev/nvme0n1p1",
      role: "esp",
      parent: "/boot",
      options: ["ro", "iocharset=iso8859-1", "errors=remount-ro", "nodev", "nosuid", "noexec"],
    });
    for (const m of mounts) expect(m.options).toEqual(expect.arrayContaining(RO));
    const paths = mounts.map((m) => m.path);
    for (const m of mounts) if (m.parent) expect(paths.indexOf(m.parent)).toBeLessThan(paths.indexOf(m.path));
  });

  it("canmount=noauto root (the initrd mounts it by name): found without the fstab; canmount=on preferred", () => {
    const be = zfsList([
      ["rpool", "/mnt", "off"],
      ["rpool/ROOT", "none", "off"],
      ["rpool/ROOT/nixos-old", "/mnt", "noauto"],
      ["rpool/ROOT/nixos", "/mnt", "on"],
      ["rpool/nix", "/mnt/nix", "on"],
    ]);
    const { at } = plan({ candidate: zfsCandidate("rpool"), datasets: be, pools: pools(["rpool", true]) });
    expect(at("/")?.source).toBe("rpool/ROOT/nixos");
    expect(at("/nix")?.source).toBe("rpool/nix");
    const only = plan({
      candidate: zfsCandidate("rpool"),
      datasets: be.filter((d) => d.name !== "rpool/ROOT/nixos"),
      pools: pools(["rpool", true]),
    });
    expect(only.at("/")?.source).toBe("rpool/ROOT/nixos-old");
  });

  it("read-write: exec kept on / and /nix only (the rebuild chroot), nodev,nosuid everywhere", () => {
    const { mounts } = plan({
      candidate: zfsCandidate("rpool"),
      readonly: false,
      datasets: [...rpool, ...bpool],
      fstab,
      pools: pools(["rpool", true], ["bpool", true]),
    });
    for (const m of mounts) {
      expect(m.options).toEqual(expect.arrayContaining(["nodev", "nosuid"]));
      expect(m.options.includes("noexec")).toBe(m.path !== "/" && m.path !== "/nix");
      expect(m.options).not.toContain("ro");
    }
  });
});

describe("OpenZFS 'NixOS Root on ZFS' (openzfs-docs, Root on ZFS.rst, current): everything legacy, bpool at /boot", () => {
  const datasets = [
    ...zfsList([
      ["rpool", "/mnt", "off"],
      ["rpool/nixos", "none", "off"],
      ["rpool/nixos/root", "legacy", "on"],
      ["rpool/nixos/home", "legacy", "on"],
      ["rpool/nixos/var", "none", "on"],
      ["rpool/nixos/var/lib", "legacy", "on"],
      ["rpool/nixos/var/log", "legacy", "on"],
      ["rpool/nixos/empty", "legacy", "on"],
    ]),
    ...zfsList([
      ["bpool", "/mnt/boot", "off"],
      ["bpool/nixos", "none", "on"],
      ["bpool/nixos/root", "legacy", "on"],
    ]),
  ];
  const fstab = parseFstab(
    "rpool/nixos/root / zfs X-mount.mkdir 0 0\nrpool/nixos/home /home zfs X-mount.mkdir 0 0\nrpool/nixos/var/lib /var/lib zfs X-mount.mkdir 0 0\nrpool/nixos/var/log /var/log zfs X-mount.mkdir 0 0\nbpool/nixos/root /boot zfs X-mount.mkdir 0 0\n",
  );

  it("legacy datasets: no zfsutil; `mountpoint=none` and `empty` are not mounted", () => {
    const { mounts, plan: p } = plan({
      candidate: zfsCandidate("rpool"),
      datasets,
      fstab,
      pools: pools(["rpool", true], ["bpool", true]),
    });
    expect(p.complete).toBe(true);
    expect(mounts.map((m) => [m.path, m.source])).toEqual([
      ["/", "rpool/nixos/root"],
      ["/home", "rpool/nixos/home"],
      ["/boot", "bpool/nixos/root"],
      ["/var/lib", "rpool/nixos/var/lib"],
      ["/var/log", "rpool/nixos/var/log"],
    ]);
    for (const m of mounts) expect(m.options).not.toContain("zfsutil");
  });
});

describe("disko example/zfs.nix (nix-community/disko): pool root dataset at /, zfsutil, ZFS-mounted datasets", () => {
  // disko's zpool `mountpoint = "/"` is the pool's own dataset; zfs_fs with `mountpoint` gets
  // options [ "defaults" "zfsutil" ] in fileSystems (lib/types/zfs_fs.nix).
  const datasets = zfsList([
    ["zroot", "/mnt", "on"],
    ["zroot/zfs_fs", "/mnt/zfs_fs", "on"],
    ["zroot/zfs_unmounted_fs", "none", "on"],
    ["zroot/zfs_legacy_fs", "legacy", "on"],
    ["zroot/encrypted", "none", "on"],
    ["zroot/encrypted/test", "/mnt/zfs_crypted", "on"],
    ["zroot/not_in_fstab", "/mnt/srv/extra", "on"],
  ]);
  const fstab = parseFstab(
    [
      "zroot / zfs defaults,zfsutil 0 0",
      "zroot/zfs_fs /zfs_fs zfs defaults,zfsutil 0 0",
      "zroot/zfs_legacy_fs /zfs_legacy_fs zfs defaults 0 0",
      "zroot/encrypted/test /zfs_crypted zfs defaults,zfsutil 0 0",
      `/dev/disk/by-partlabel/ESP /boot vfat umask=0077 0 2`,
    ].join("\n"),
  );

  it("fstab lines plus what `zfs mount -a` would add; zfsutil from the dataset's property", () => {
    const { mounts, at } = plan({
      candidate: zfsCandidate("zroot"),
      datasets,
      fstab,
      pools: pools(["zroot", true]),
    });
    expect(at("/")?.options).toContain("zfsutil");
    expect(at("/zfs_legacy_fs")?.options).not.toContain("zfsutil");
    expect(at("/boot")).toMatchObject({
      source: "/dev/nvme0n1p1",
      options: ["ro", "umask=0077", "errors=remount-ro", ...RO.slice(1)],
    });
    expect(at("/srv/extra")).toMatchObject({ source: "zroot/not_in_fstab", origin: "datasets" });
    expect(mounts.some((m) => m.source === "zroot/zfs_unmounted_fs")).toBe(false);
  });
});

describe("nix-community/impermanence (README): `/` is a tmpfs, the disk holds /nix and /persist", () => {
  const datasets = zfsList([
    ["rpool", "none", "off"],
    ["rpool/local", "none", "off"],
    ["rpool/local/nix", "legacy", "on"],
    ["rpool/safe", "none", "off"],
    ["rpool/safe/persist", "legacy", "on"],
  ]);
  const fstab = parseFstab(
    "none / tmpfs defaults,size=25%,mode=755 0 0\nrpool/local/nix /nix zfs x-initrd.mount 0 0\nrpool/safe/persist /persist zfs x-initrd.mount 0 0\n/persist/var/log /var/log none bind 0 0\n",
  );

  it("without the fstab: a tmpfs root and the /nix dataset (NixOS is wherever /nix lives)", () => {
    const { at } = plan({ candidate: zfsCandidate("rpool"), datasets, pools: pools(["rpool", true]) });
    expect(at("/")).toMatchObject({
      source: "tmpfs",
      fstype: "tmpfs",
      origin: "tmpfs-root",
      options: ["mode=755", "nodev", "nosuid", "noexec"],
    });
    expect(at("/nix")?.source).toBe("rpool/local/nix");
  });

  it("with the fstab: the tmpfs gets its options, the bind follows the mount holding its source", () => {
    const { mounts, at } = plan({
      candidate: zfsCandidate("rpool"),
      datasets,
      fstab,
      pools: pools(["rpool", true]),
    });
    expect(at("/")?.options).toEqual(["size=25%", "mode=755", "nodev", "nosuid", "noexec"]);
    expect(at("/var/log")).toMatchObject({
      method: "bind",
      from: "/persist/var/log",
      source: "/mnt/persist/var/log",
    });
    const paths = mounts.map((m) => m.path);
    expect(paths.indexOf("/persist")).toBeLessThan(paths.indexOf("/var/log"));
  });

  it("a candidate pool with only /nix is a system (scored like one with a root dataset)", () => {
    const imported = [
      {
        name: "rpool",
        guid: "1",
        state: "ONLINE",
        health: "ONLINE",
        size: null,
        allocated: null,
        free: null,
        altroot: "/mnt",
      },
    ];
    const [c] = findCandidates({
      devices: DEVICES,
      importable: [],
      imported,
      datasets,
      mounts: [],
      root: "/mnt",
    });
    expect(c?.reasons.join(" ")).toContain("has a /nix dataset");
  });
});

describe("disko example/btrfs-subvolumes.nix: subvolumes by name, read-only without log replay", () => {
  // fileSystems.<mountpoint> = { device = /dev/disk/by-partlabel/…; fsType = "btrfs"; options = mountOptions ++ [ "subvol=…" ]; }
  const devices = withDevice(DEVICES, "/dev/nvme0n1p2", { fstype: "btrfs", partlabel: "disk-main-root" });
  const btrfs: Candidate = {
    kind: "block",
    id: "block:/dev/nvme0n1p2",
    device: "/dev/nvme0n1p2",
    fstype: "btrfs",
    label: null,
    uuid: null,
    disks: ["/dev/nvme0n1"],
    score: 1,
    reasons: [],
    partOfSystem: false,
    bootPool: false,
  };
  const fstab = parseFstab(
    [
      "/dev/disk/by-partlabel/disk-main-root / btrfs subvol=/rootfs 0 0",
      "/dev/disk/by-partlabel/disk-main-root /home btrfs compress=zstd,subvol=/home 0 0",
      "/dev/disk/by-partlabel/disk-main-root /nix btrfs compress=zstd,noatime,subvol=/nix 0 0",
      "/dev/disk/by-partlabel/disk-main-root /partition-root btrfs defaults 0 0",
      "/dev/disk/by-partlabel/ESP /boot vfat umask=0077 0 2",
    ].join("\n"),
  );

  it("the probed layout (no fstab yet): subvolumes for / and /nix", () => {
    const { at } = plan({
      candidate: btrfs,
      devices,
      layout: { rootSubvol: "rootfs", tmpfsRoot: false, nixSubvol: "nix" },
    });
    expect(at("/")?.options).toEqual(["ro", "rescue=nologreplay", "subvol=rootfs", ...RO.slice(1)]);
    expect(at("/nix")?.options).toContain("subvol=nix");
  });

  it("the fstab: subvol= kept, compress dropped of nothing, rescue=nologreplay added", () => {
    const { at, plan: p } = plan({ candidate: btrfs, devices, fstab });
    expect(p.refused).toEqual([]);
    expect(at("/")?.options).toEqual(["ro", "rescue=nologreplay", "subvol=/rootfs", ...RO.slice(1)]);
    expect(at("/nix")?.options).toEqual([
      "ro",
      "rescue=nologreplay",
      "compress=zstd",
      "noatime",
      "subvol=/nix",
      ...RO.slice(1),
    ]);
    expect(at("/partition-root")?.options).toEqual(["ro", "rescue=nologreplay", ...RO.slice(1)]);
  });
});

describe("names ZFS, util-linux and the kernel accept", () => {
  it("a space (fstab's \\040), dots, colons and a non-ASCII mountpoint", () => {
    const datasets = zfsList([
      ["rpool", "none", "off"],
      ["rpool/root", "legacy", "on"],
      ["rpool/my data", "/mnt/srv/my data", "on"],
      ["rpool/v1.2:x", "/mnt/srv/café", "on"],
    ]);
    const fstab = parseFstab(
      "rpool/root / zfs defaults 0 0\nrpool/my\\040data /srv/my\\040data zfs zfsutil 0 0\n",
    );
    const { at } = plan({ candidate: zfsCandidate("rpool"), datasets, fstab, pools: pools(["rpool", true]) });
    expect(at("/srv/my data")).toMatchObject({
      source: "rpool/my data",
      target: "/mnt/srv/my data",
      origin: "fstab",
    });
    expect(at("/srv/café")).toMatchObject({ source: "rpool/v1.2:x", origin: "datasets" });
  });

  it("one unparseable zfs list line is a warning, the rest of the listing stays", () => {
    const warnings: string[] = [];
    const ds = parseZfsListHp(
      "rpool\tnone\toff\toff\t-\t1\nbroken line\nrpool/root\tlegacy\ton\toff\t-\t1\n/x\tlegacy\ton\toff\t-\t1\n",
      warnings,
    );
    expect(ds.map((d) => d.name)).toEqual(["rpool", "rpool/root"]);
    expect(warnings).toHaveLength(2);
  });
});

describe("the fstab is untrusted: sources, options, types", () => {
  const datasets = zfsList([
    ["nvmepool", "none", "off"],
    ["nvmepool/root", "legacy", "on"],
  ]);
  const run = (lines: string, readonly = true) =>
    plan({
      candidate: zfsCandidate("nvmepool"),
      readonly,
      datasets,
      fstab: parseFstab(`nvmepool/root / zfs defaults 0 0\n${lines}`),
      pools: pools(["nvmepool", true]),
    });

  it.each([
    ["/dev/../some/host/dir /srv ext4 defaults 0 0", "not a plain device path"],
    ["/some/host/dir /srv none rbind 0 0", "recursive bind"],
    ["/some/host/dir /srv none bind,move 0 0", "moves an existing mount"],
    ["/nix/store/x.img /srv ext4 loop 0 0", "loop"],
    [`UUID=${ESP_UUID} /srv vfat X-mount.subdir=EFI 0 0`, "sub-directory"],
    [`UUID=${ESP_UUID} /srv vfat helper=udisks2 0 0`, "another mount helper"],
    ["/dev/vda /srv ext4 defaults 0 0", "in use by the rescue system"],
    ["/dev/sdz9 /srv ext4 defaults 0 0", "not found"],
    ["/etc /srv none bind 0 0", null],
    ["/srv/a /srv none bind 0 0", "contain each other"],
    ["/ /srv none bind 0 0", "contain each other"],
    ["nvmepool/root /../etc zfs defaults 0 0", "plain absolute path"],
  ])("%s", (line, why) => {
    const { plan: p, mounts } = run(line);
    if (why === null) {
      // A bind of a path *inside* the system is fine: it is resolved in the root, never outside.
      expect(mounts.find((m) => m.path === "/srv")).toMatchObject({ method: "bind", source: "/mnt/etc" });
      return;
    }
    expect(mounts.map((m) => m.path)).toEqual(["/"]);
    expect(p.refused.map((r) => r.reason).join(" ")).toContain(why);
  });

  it("fstype auto on an ext4 (blkid's type decides): ro,noload", () => {
    const devices = parseLsblk(fixture("ext4", "lsblk-json-cols"));
    const { at } = plan({
      candidate: zfsCandidate("nvmepool"),
      devices,
      datasets,
      fstab: parseFstab("nvmepool/root / zfs defaults 0 0\n/dev/nvme0n1p2 /data auto defaults 0 2\n"),
      pools: pools(["nvmepool", true]),
    });
    expect(at("/data")).toMatchObject({
      fstype: "ext4",
      options: ["ro", "noload", "errors=remount-ro", ...RO.slice(1)],
    });
  });

  it("a device blkid cannot type is refused read-only, and an essential one stops the plan", () => {
    const devices = withDevice(parseLsblk(fixture("ext4", "lsblk-json-cols")), "/dev/nvme0n1p2", {
      fstype: null,
    });
    const { plan: p } = plan({
      candidate: zfsCandidate("nvmepool"),
      devices,
      datasets,
      fstab: parseFstab("/dev/nvme0n1p2 / auto defaults 0 1\n"),
      pools: pools(["nvmepool", true]),
    });
    expect(p.refused[0]).toMatchObject({ path: "/", essential: true });
    expect(p.refused[0]?.reason).toContain("could replay a journal");
    expect(p.complete).toBe(false);
  });

  it("options: allowlisted per type, errors=panic and exec/suid/dev never passed", () => {
    const o = classifyOptions(
      ["errors=panic", "exec", "suid", "dev", "data=journal", "commit=60", "x-systemd.automount", "weird=1"],
      "ext4",
    );
    expect(o.kept).toEqual(["commit=60"]);
    expect(o.dropped).toEqual(["weird=1"]);
    expect(finalOptions("ext4", o.kept, { readonly: true, exec: false })).toEqual([
      "ro",
      "noload",
      "commit=60",
      "errors=remount-ro",
      "nodev",
      "nosuid",
      "noexec",
    ]);
    expect(finalOptions("ntfs3", [], { readonly: true, exec: false })).toBeNull();
  });

  it("device specs resolve only to inventory devices (by tag, exact path, or a looked-up link)", () => {
    const idx = indexDevices(DEVICES);
    expect(resolveSource(`UUID=${ESP_UUID.toLowerCase()}`, idx)).toMatchObject({
      ok: true,
      device: { path: "/dev/nvme0n1p1" },
    });
    expect(resolveSource("/dev/disk/by-partlabel/ESP", idx)).toMatchObject({ ok: true });
    expect(
      resolveSource(
        "/dev/disk/by-id/nvme-QEMU_x-part1",
        idx,
        new Map([["/dev/disk/by-id/nvme-QEMU_x-part1", "/dev/nvme0n1p1"]]),
      ),
    ).toMatchObject({ ok: true });
    expect(
      resolveSource(
        "/dev/disk/by-id/nvme-QEMU_x-part1",
        idx,
        new Map([["/dev/disk/by-id/nvme-QEMU_x-part1", "/etc/passwd"]]),
      ),
    ).toMatchObject({ ok: false });
    expect(resolveSource("/dev/disk/by-label/../../../etc", idx)).toMatchObject({ ok: false });
    expect(resolveSource("/dev//nvme0n1p1", idx)).toMatchObject({ ok: false });
  });
});

describe("several pools: data pools the fstab mounts, boot pools, candidates", () => {
  it("a data pool the fstab mounts is imported in the same plan; one on no fstab line is left alone", () => {
    const datasets = zfsList([
      ["nvmepool", "none", "off"],
      ["nvmepool/root", "legacy", "on"],
    ]);
    const fstab = parseFstab("nvmepool/root / zfs defaults 0 0\ntank/data /srv/data zfs defaults 0 0\n");
    const { plan: p } = plan({
      candidate: zfsCandidate("nvmepool"),
      datasets,
      fstab,
      pools: [...pools(["nvmepool", true], ["tank", false], ["other", false])],
    });
    expect(p.pools).toEqual(["nvmepool", "tank"]);
    expect(
      p.steps.filter((s) => s.kind === "import-pool").map((s) => (s.kind === "import-pool" ? s.pool : "")),
    ).toEqual(["tank"]);
  });

  it("a boot pool (bpool) is not offered as a second system", () => {
    const importable = ["rpool", "bpool"].map((name, i) => ({
      name,
      id: String(i + 1),
      state: "ONLINE",
      status: null,
      action: null,
      see: null,
      comment: null,
      config: [],
      lastAccessedByOtherSystem: false,
      lastHost: null,
      importable: true,
    }));
    const cands = findCandidates({
      devices: [],
      importable,
      imported: [],
      datasets: [],
      mounts: [],
      root: "/mnt",
    });
    const choice = chooseCandidate(cands);
    expect(choice.ok && choice.candidate.id).toBe("zfs:rpool");
    expect(cands.find((c) => c.id === "zfs:bpool")?.bootPool).toBe(true);
    expect(chooseCandidate(cands, "bpool")).toMatchObject({ ok: true });
  });

  it("once mounted, pools imported under the root belong to the system", () => {
    const imported = ["nvmepool", "tank"].map((name) => ({
      name,
      guid: name,
      state: "ONLINE",
      health: "ONLINE",
      size: null,
      allocated: null,
      free: null,
      altroot: "/mnt",
    }));
    const cands = findCandidates({
      devices: [],
      importable: [],
      imported,
      datasets: zfsList([
        ["nvmepool/root", "legacy", "on"],
        ["tank/data", "legacy", "on"],
      ]),
      mounts: [{ source: "nvmepool/root", target: "/mnt", fstype: "zfs", options: ["ro"] }],
      root: "/mnt",
    });
    expect(cands.find((c) => c.id === "zfs:tank")?.partOfSystem).toBe(true);
    expect(chooseCandidate(cands)).toMatchObject({ ok: true, candidate: { id: "zfs:nvmepool" } });
  });
});

describe("order", () => {
  it("parents before children, binds after their source, cycles refused", () => {
    const { ordered, cyclic } = orderMounts([
      { path: "/var/log/journal" },
      { path: "/var/log", from: "/persist/var/log" },
      { path: "/persist" },
      { path: "/" },
      { path: "/a", from: "/b/x" },
      { path: "/b", from: "/a/y" },
    ]);
    expect(ordered.map((m) => m.path)).toEqual(["/", "/persist", "/var/log", "/var/log/journal"]);
    expect(cyclic.map((m) => m.path)).toEqual(["/a", "/b"]);
  });
});
