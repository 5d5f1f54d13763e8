// What each layout of guest/mklayouts.sh IS, as data: its source, the pools its system needs and the
// exact set of mounts a read-only rescue of it must produce under the root (the current generation's
// fstab + the datasets ZFS itself mounts for it + what the boot loader needs), parents before children.
// Pure data, no lab code: the QEMU scenarios (2N-*.test.ts), the capture (capture.test.ts) and the
// planner's unit tests on the captures (test/unit/layouts.test.ts) all read it.

export type LayoutName =
  | "disko-zfs"
  | "openzfs-guide"
  | "impermanence"
  | "odd-names"
  | "luks-zfs"
  | "btrfs-subvol"
  | "tmpfs-bpool"
  | "btrfs-zfs-data"
  | "hostile-zfs";

/** The disks of each layout, by NVMe serial (= /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_<serial>) */
export const LAYOUT_DISKS: Record<LayoutName, string[]> = {
  "disko-zfs": ["DISKO0"],
  "openzfs-guide": ["GUIDE0", "GUIDE1"],
  impermanence: ["IMPERM0"],
  "odd-names": ["ODD0"],
  "luks-zfs": ["LUKSZ0"],
  "btrfs-subvol": ["BTRFS0"],
  "tmpfs-bpool": ["TMPFS0"],
  "btrfs-zfs-data": ["BTRZ0", "BTRZ1"],
  "hostile-zfs": ["HOSTILE0"],
};
export const LAYOUTS = Object.keys(LAYOUT_DISKS) as LayoutName[];

/** Where a mount comes from. A partition is named by its disk's NVMe serial (stable across boots). */
export type MountSource =
  | { zfs: string }
  | { part: string; n: number }
  | { tmpfs: true }
  /**
   * a bind mount of this path inside the system (fstab fsType none, options bind; or an impermanence
   * .mount unit): what is mounted there, or a directory of the mount holding it
   */
  | { bind: string };

export interface ExpectedMount {
  /** path inside the installed system */
  path: string;
  fstype: "zfs" | "vfat" | "btrfs" | "tmpfs" | "ext4";
  src: MountSource;
  /** btrfs: the subvolume mountinfo shows as the mount's root ("/@nix") */
  subvol?: string;
  /**
   * fstab: a line of the current generation's fstab; zfs: a dataset ZFS mounts itself (canmount=on);
   * unit: a .mount unit of the generation's etc/systemd/system that local-fs.target wants
   */
  via: "fstab" | "zfs" | "unit";
}

export interface LayoutExpectation {
  name: LayoutName;
  /** the public source it follows (or "own mix" and why) */
  source: string;
  /** pools the system needs (on-disk names) */
  pools: string[];
  mounts: ExpectedMount[];
  /** datasets that exist but must stay unmounted (mountpoint=none, canmount=noauto/off) */
  unmounted?: string[];
  /** how an operator asks for it when several systems are attached (POST /v1/mount body) */
  request: { pool: string } | { device: { part: string; n: number } };
  /** a LUKS container to open first (POST /v1/luks/{device}/open) */
  luks?: { part: string; n: number };
}

const esp = (part: string, n = 1, path = "/boot"): ExpectedMount => ({
  path,
  fstype: "vfat",
  src: { part, n },
  via: "fstab",
});
const ds = (path: string, name: string, via: "fstab" | "zfs" = "fstab"): ExpectedMount => ({
  path,
  fstype: "zfs",
  src: { zfs: name },
  via,
});
const sub = (path: string, part: string, n: number, subvol: string): ExpectedMount => ({
  path,
  fstype: "btrfs",
  src: { part, n },
  subvol,
  via: "fstab",
});
const ODD = "odd-pool.v2:x";

export const LAYOUT_EXPECTATIONS: Record<Exclude<LayoutName, "hostile-zfs">, LayoutExpectation> = {
  "disko-zfs": {
    name: "disko-zfs",
    source:
      "nix-community/disko example/zfs.nix + lib/types/{gpt,zpool,zfs_fs,filesystem}.nix (datasets with mountpoint=/, /nix, /home, fileSystems with zfsutil; datasets without a disko mountpoint are mounted by ZFS)",
    pools: ["zroot"],
    mounts: [
      ds("/", "zroot/root"),
      esp("DISKO0"),
      ds("/home", "zroot/home"),
      ds("/home/alice", "zroot/home/alice", "zfs"),
      ds("/nix", "zroot/nix"),
      ds("/srv/data", "zroot/data", "zfs"),
    ],
    unmounted: ["zroot", "zroot/reserved"],
    request: { pool: "zroot" },
  },
  "openzfs-guide": {
    name: "openzfs-guide",
    source:
      'openzfs/openzfs-docs "NixOS Root on ZFS" @2766cb7 (bpool compatibility=grub2 for /boot + rpool, mountpoint=/ datasets with zfsutil, mirrored ESPs at /boot/efis/<disk>-part1, /boot/efi a bind of the first)',
    pools: ["bpool", "rpool"],
    mounts: [
      ds("/", "rpool/nixos/root"),
      ds("/boot", "bpool/nixos"),
      esp("GUIDE0", 1, "/boot/efis/nvme-QEMU_NVMe_Ctrl_GUIDE0-part1"),
      {
        path: "/boot/efi",
        fstype: "vfat",
        src: { bind: "/boot/efis/nvme-QEMU_NVMe_Ctrl_GUIDE0-part1" },
        via: "fstab",
      },
      esp("GUIDE1", 1, "/boot/efis/nvme-QEMU_NVMe_Ctrl_GUIDE1-part1"),
      ds("/home", "rpool/nixos/home"),
      ds("/var/lib", "rpool/nixos/var/lib"),
      ds("/var/log", "rpool/nixos/var/log"),
    ],
    unmounted: ["bpool", "rpool", "rpool/nixos", "rpool/nixos/var"],
    request: { pool: "rpool" },
  },
  impermanence: {
    name: "impermanence",
    source:
      'nix-community/impermanence README.org "tmpfs" + nixos.nix @7b1d382 (/ is a tmpfs; btrfs subvolumes nix and persistent, /persistent neededForBoot; persisted directories bind-mounted by systemd .mount units)',
    pools: [],
    mounts: [
      { path: "/", fstype: "tmpfs", src: { tmpfs: true }, via: "fstab" },
      esp("IMPERM0"),
      sub("/nix", "IMPERM0", 2, "/nix"),
      sub("/persistent", "IMPERM0", 2, "/persistent"),
      // environment.persistence."/persistent".directories: nixos.nix's systemd.mounts (bind units)
      { path: "/etc/nixos", fstype: "btrfs", src: { bind: "/persistent/etc/nixos" }, via: "unit" },
      { path: "/var/lib/nixos", fstype: "btrfs", src: { bind: "/persistent/var/lib/nixos" }, via: "unit" },
      { path: "/var/log", fstype: "btrfs", src: { bind: "/persistent/var/log" }, via: "unit" },
    ],
    request: { device: { part: "IMPERM0", n: 2 } },
  },
  "odd-names": {
    name: "odd-names",
    source:
      "own: names ZFS accepts (zfs_namecheck: alphanumerics, _ - . : and space), non-ASCII mount points, fstab \\040 escapes (nixpkgs filesystems.nix escape)",
    pools: [ODD],
    mounts: [
      ds("/", `${ODD}/nixos root`),
      esp("ODD0"),
      ds("/nix", `${ODD}/nix.store-2025:a`),
      ds("/srv/données partagées", `${ODD}/srv data`, "zfs"),
      ds("/srv/Ünïcode files", `${ODD}/my files`),
    ],
    unmounted: [ODD],
    request: { pool: ODD },
  },
  "luks-zfs": {
    name: "luks-zfs",
    source:
      'openzfs/openzfs-docs "NixOS Root on ZFS" @b0f9846, LUKS only (rpool on /dev/mapper/luks-rpool-<disk>-part2, legacy rpool/root + rpool/home)',
    pools: ["rpool"],
    mounts: [ds("/", "rpool/root"), esp("LUKSZ0"), ds("/home", "rpool/home")],
    unmounted: ["rpool"],
    request: { pool: "rpool" },
    luks: { part: "LUKSZ0", n: 2 },
  },
  "btrfs-subvol": {
    name: "btrfs-subvol",
    source:
      "wiki.nixos.org/wiki/Btrfs (subvolumes, compress=zstd, noatime) with the @, @nix, @home names; /home by subvolid=",
    pools: [],
    mounts: [
      sub("/", "BTRFS0", 2, "/@"),
      esp("BTRFS0"),
      sub("/home", "BTRFS0", 2, "/@home"),
      sub("/nix", "BTRFS0", 2, "/@nix"),
    ],
    request: { device: { part: "BTRFS0", n: 2 } },
  },
  "tmpfs-bpool": {
    name: "tmpfs-bpool",
    source:
      "own mix: a tmpfs root (impermanence) on a grub2-compatible boot pool + root pool (OpenZFS guide); /home mounted by ZFS itself",
    pools: ["bpool", "rpool"],
    mounts: [
      { path: "/", fstype: "tmpfs", src: { tmpfs: true }, via: "fstab" },
      ds("/boot", "bpool/nixos/boot"),
      esp("TMPFS0", 1, "/boot/efi"),
      ds("/home", "rpool/safe/home", "zfs"),
      ds("/nix", "rpool/nixos/nix"),
      ds("/persist", "rpool/safe/persist"),
    ],
    unmounted: ["bpool", "bpool/nixos", "rpool", "rpool/nixos", "rpool/safe"],
    request: { pool: "rpool" },
  },
  "btrfs-zfs-data": {
    name: "btrfs-zfs-data",
    source:
      "own mix: btrfs root (@, @nix) + a ZFS data pool only in boot.zfs.extraPools (no fstab line: nixpkgs' zfs-import-tank.service), tank/media and tank/backup mounted by ZFS",
    pools: ["tank"],
    mounts: [
      sub("/", "BTRZ0", 2, "/@"),
      esp("BTRZ0"),
      sub("/nix", "BTRZ0", 2, "/@nix"),
      ds("/srv/backup", "tank/backup", "zfs"),
      ds("/srv/media", "tank/media", "zfs"),
    ],
    unmounted: ["tank", "tank/scratch"],
    request: { device: { part: "BTRZ0", n: 2 } },
  },
};

/** issue 10 in QEMU: the rescue side's canary (made before the agent starts) the disk's links aim at */
export const HOSTILE = {
  source:
    "issue 10: dataset mountpoints through links planted in a parent dataset (depth 1: /escape1 -> canary, depth 2: rpool/srv holds www -> canary), a dataset over the rescue's /root/.ssh via /keys -> /root/.ssh, an fstab line /data -> canary/fstab",
  canaryDirs: ["/var/lib/rescue-canary", "/root/.ssh"],
  /** paths, types, modes, link targets, then content hashes of the canary tree */
  canaryCmd:
    "find /var/lib/rescue-canary /root/.ssh -printf '%p %y %m %l\\n' | sort; find /var/lib/rescue-canary /root/.ssh -type f -exec sha256sum {} + | sort",
  /** agent.sh runs this before the agent: the canary exists, and is hashed, before auto-mount starts */
  get prelude(): string {
    return [
      "mkdir -p /var/lib/rescue-canary/fstab /var/lib/rescue-canary/data /root/.ssh",
      "echo 'rescue side, must not change' >/var/lib/rescue-canary/README",
      "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyOfTheRescueSide operator@laptop' >/root/.ssh/authorized_keys",
      "chmod 700 /root/.ssh; chmod 600 /root/.ssh/authorized_keys",
      `(${this.canaryCmd}) >/run/canary.before`,
    ].join("\n");
  },
  /** the datasets whose mountpoints lead out, and the one the fstab sends out */
  escaping: ["rpool/e1", "rpool/web", "rpool/keys", "rpool/data"],
};

/** Parent before child: every mount comes after the mount whose path is its closest ancestor. */
export function parentsFirst(paths: string[]): boolean {
  return paths.every((p, i) => {
    const parents = paths.filter((q) => q !== p && (q === "/" || p.startsWith(`${q}/`)));
    return parents.every((q) => paths.indexOf(q) < i);
  });
}

/** Join a path inside the system to the rescue root */
export function under(root: string, p: string): string {
  return p === "/" ? root : `${root}${p}`;
}

/** One line of /proc/self/mountinfo (proc(5)), octal escapes undone */
export interface MountInfo {
  target: string;
  /** the path inside the filesystem that is mounted (btrfs subvolume, bind source) */
  root: string;
  options: string[];
  fstype: string;
  source: string;
  superOptions: string[];
}

const unesc = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));

/** /proc/self/mountinfo; the kernel escapes space, tab, newline, backslash; other bytes come raw (UTF-8) */
export function parseMountinfo(text: string): MountInfo[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const f = l.split(" ");
      const dash = f.indexOf("-");
      return {
        target: unesc(f[4] ?? ""),
        root: unesc(f[3] ?? ""),
        options: (f[5] ?? "").split(","),
        fstype: f[dash + 1] ?? "",
        source: unesc(f[dash + 2] ?? ""),
        superOptions: (f[dash + 3] ?? "").split(","),
      };
    });
}

/** A mount as mountinfo shows it; source "*" = any (a tmpfs's name), root only checked when set */
export interface Row {
  target: string;
  fstype: string;
  source: string;
  root?: string;
}

/** The table a layout must show under `root`, with a boot's partition names */
export function expectedRows(
  exp: LayoutExpectation,
  root: string,
  part: (serial: string, n: number) => string,
): Row[] {
  const byPath = new Map(exp.mounts.map((m) => [m.path, m]));
  /** the mount holding `p` (the closest one at or above it) and the rest of the path below it */
  const holder = (p: string): { m: ExpectedMount; rest: string } => {
    for (let q = p; ; q = q.slice(0, Math.max(1, q.lastIndexOf("/")))) {
      const m = byPath.get(q);
      if (m) return { m, rest: q === "/" ? p : p.slice(q.length) };
      if (q === "/") throw new Error(`bind of ${p}: no mount holds it`);
    }
  };
  const sourceOf = (m: ExpectedMount): string => {
    const s = m.src;
    if ("zfs" in s) return s.zfs;
    if ("part" in s) return part(s.part, s.n);
    if ("bind" in s) return sourceOf(holder(s.bind).m);
    return "*";
  };
  return exp.mounts.map((m) => {
    const row: Row = { target: under(root, m.path), fstype: m.fstype, source: sourceOf(m) };
    if (m.subvol) row.root = m.subvol;
    if ("bind" in m.src) {
      // mountinfo's root of a bind: the path inside the filesystem (btrfs: below the subvolume)
      const { m: from, rest } = holder(m.src.bind);
      row.root = `${(from.subvol ?? "").replace(/\/+$/, "")}${rest}` || "/";
    }
    return row;
  });
}

/**
 * Differences between the mounts under `root` and the expected table: missing / unexpected mounts,
 * a child mounted before its parent, a disk-backed mount not read-only, a mount without nodev/nosuid.
 * (A tmpfs root holds no disk bytes: it may stay writable so the mount points of the rest can be made.)
 */
export function tableProblems(got: MountInfo[], want: Row[], root: string): string[] {
  const problems: string[] = [];
  const key = (r: Row) => `${r.target} | ${r.fstype} | ${r.source}${r.root ? ` | ${r.root}` : ""}`;
  const gotKeys = got.map((m) => {
    const w = want.find((r) => r.target === m.target);
    return key({
      target: m.target,
      fstype: m.fstype,
      source: w?.source === "*" ? "*" : m.source,
      root: w?.root ? m.root : undefined,
    });
  });
  const wantKeys = want.map(key);
  for (const k of wantKeys) if (!gotKeys.includes(k)) problems.push(`missing: ${k}`);
  for (const k of gotKeys) if (!wantKeys.includes(k)) problems.push(`unexpected: ${k}`);
  const paths = got.map((m) => m.target.slice(root.length) || "/");
  if (!parentsFirst(paths)) problems.push(`not parents first: ${paths.join(", ")}`);
  for (const m of got) {
    if (!(m.fstype === "tmpfs" && m.target === root) && !m.options.includes("ro"))
      problems.push(`${m.target}: not read-only (${m.options.join(",")})`);
    for (const o of ["nosuid", "nodev"])
      if (!m.options.includes(o)) problems.push(`${m.target}: no ${o} (${m.options.join(",")})`);
  }
  return problems;
}
