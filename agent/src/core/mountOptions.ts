/**
 * Mount options of the installed system's fstab are untrusted: only options on an allowlist per
 * filesystem type reach mount(8). What makes a mount read-only without journal/log replay, and the
 * hardening every mount of the installed system gets, are decided here, never taken from the disk.
 */

/** Filesystem types whose read-only mount writes nothing, and the options that make it so. */
const READONLY: Record<string, string[]> = {
  // ext2 has no journal; ext3/ext4 would replay theirs without `noload` (ext4(5)).
  ext2: ["ro"],
  ext3: ["ro", "noload"],
  ext4: ["ro", "noload"],
  // xfs(5): `norecovery` "must be used with a read-only mount".
  xfs: ["ro", "norecovery"],
  // btrfs(5): `rescue=nologreplay` needs a read-only mount.
  btrfs: ["ro", "rescue=nologreplay"],
  // f2fs (kernel Documentation/filesystems/f2fs.rst): `norecovery` with `ro`.
  f2fs: ["ro", "norecovery"],
  // No journal: nothing to replay.
  vfat: ["ro"],
  exfat: ["ro"],
  // The pool itself is imported readonly=on.
  zfs: ["ro"],
};

/** The read-only options for a filesystem type, or null when no read-only mount of it is known to write nothing. */
export function readonlyOptionsFor(fstype: string): string[] | null {
  return READONLY[fstype] ?? null;
}

/** Every type the planner can mount (read-write too): the read-only table plus our own tmpfs root. */
export function isMountableType(fstype: string): boolean {
  return fstype in READONLY || fstype === "tmpfs";
}

const NUM = /^\d{1,12}$/;
const OCTAL = /^0?[0-7]{1,4}$/;
const SIZE = /^\d{1,15}[kKmMgGtTpPeE%]?$/;
const TOKEN = /^[A-Za-z0-9_.:+-]{1,64}$/;

type ValueCheck = RegExp | readonly string[];

/** key → allowed value (RegExp, list, or null for a flag without value). */
type Allow = Record<string, ValueCheck | null>;

const COMMON: Allow = {
  noatime: null,
  atime: null,
  relatime: null,
  norelatime: null,
  strictatime: null,
  nostrictatime: null,
  nodiratime: null,
  diratime: null,
  lazytime: null,
  nolazytime: null,
  sync: null,
  async: null,
  dirsync: null,
  nosymfollow: null,
  iversion: null,
  noiversion: null,
};

const EXT: Allow = {
  acl: null,
  noacl: null,
  user_xattr: null,
  nouser_xattr: null,
  barrier: /^[01]?$/,
  nobarrier: null,
  commit: NUM,
  discard: null,
  nodiscard: null,
  journal_checksum: null,
  nojournal_checksum: null,
  delalloc: null,
  nodelalloc: null,
  auto_da_alloc: null,
  noauto_da_alloc: null,
  stripe: NUM,
  inode_readahead_blks: NUM,
  max_batch_time: NUM,
  min_batch_time: NUM,
  journal_ioprio: /^[0-7]$/,
  resuid: NUM,
  resgid: NUM,
  sb: NUM,
  quota: null,
  noquota: null,
  usrquota: null,
  grpquota: null,
  prjquota: null,
  grpid: null,
  bsdgroups: null,
  nogrpid: null,
  sysvgroups: null,
  dioread_nolock: null,
  dioread_lock: null,
  i_version: null,
  nombcache: null,
  block_validity: null,
  noblock_validity: null,
  noinit_itable: null,
};

const XFS: Allow = {
  inode32: null,
  inode64: null,
  largeio: null,
  nolargeio: null,
  attr2: null,
  noattr2: null,
  logbufs: NUM,
  logbsize: SIZE,
  allocsize: SIZE,
  swalloc: null,
  sunit: NUM,
  swidth: NUM,
  wsync: null,
  discard: null,
  nodiscard: null,
  grpid: null,
  bsdgroups: null,
  nogrpid: null,
  sysvgroups: null,
  filestreams: null,
  ikeep: null,
  noikeep: null,
  noalign: null,
  quota: null,
  noquota: null,
  uquota: null,
  usrquota: null,
  uqnoenforce: null,
  qnoenforce: null,
  gquota: null,
  grpquota: null,
  gqnoenforce: null,
  pquota: null,
  prjquota: null,
  pqnoenforce: null,
};

const BTRFS: Allow = {
  // Subvolume names may hold any character but the separators mount(8) itself parses.
  subvol: /^[^,"'\\\0\n]{1,4095}$/,
  subvolid: NUM,
  compress: /^(zlib|lzo|zstd|no|none)?(:\d{1,2})?$|^$/,
  "compress-force": /^(zlib|lzo|zstd)(:\d{1,2})?$/,
  space_cache: /^v[12]$/,
  nospace_cache: null,
  ssd: null,
  nossd: null,
  ssd_spread: null,
  nossd_spread: null,
  discard: /^(sync|async)?$/,
  nodiscard: null,
  autodefrag: null,
  noautodefrag: null,
  commit: NUM,
  datacow: null,
  nodatacow: null,
  datasum: null,
  nodatasum: null,
  acl: null,
  noacl: null,
  barrier: null,
  nobarrier: null,
  flushoncommit: null,
  noflushoncommit: null,
  thread_pool: NUM,
  max_inline: SIZE,
  user_subvol_rm_allowed: null,
  degraded: null,
  skip_balance: null,
  treelog: null,
  notreelog: null,
  metadata_ratio: NUM,
};

const VFAT: Allow = {
  fmask: OCTAL,
  dmask: OCTAL,
  umask: OCTAL,
  uid: NUM,
  gid: NUM,
  codepage: NUM,
  iocharset: TOKEN,
  shortname: ["lower", "win95", "winnt", "mixed"],
  utf8: /^[01]?$/,
  flush: null,
  tz: ["UTC"],
  time_offset: /^-?\d{1,5}$/,
  quiet: null,
  showexec: null,
  allow_utime: OCTAL,
  discard: null,
  check: ["r", "n", "s", "relaxed", "normal", "strict"],
  sys_immutable: null,
  dos1xfloppy: null,
  rodir: null,
  usefree: null,
  nocase: null,
};

const EXFAT: Allow = {
  uid: NUM,
  gid: NUM,
  umask: OCTAL,
  dmask: OCTAL,
  fmask: OCTAL,
  allow_utime: OCTAL,
  iocharset: TOKEN,
  discard: null,
  time_offset: /^-?\d{1,5}$/,
};

const F2FS: Allow = {
  acl: null,
  noacl: null,
  user_xattr: null,
  nouser_xattr: null,
  discard: null,
  nodiscard: null,
};

const ZFS: Allow = {
  xattr: null,
  noxattr: null,
  saxattr: null,
  dirxattr: null,
  acl: null,
  noacl: null,
  posixacl: null,
  noposixacl: null,
};

const TMPFS: Allow = {
  size: SIZE,
  nr_blocks: SIZE,
  nr_inodes: SIZE,
  mode: OCTAL,
  uid: NUM,
  gid: NUM,
  huge: ["never", "always", "within_size", "advise", "deny", "force"],
  noswap: null,
  inode32: null,
  inode64: null,
};

const BY_TYPE: Record<string, Allow> = {
  ext2: EXT,
  ext3: EXT,
  ext4: EXT,
  xfs: XFS,
  btrfs: BTRFS,
  vfat: VFAT,
  exfat: EXFAT,
  f2fs: F2FS,
  zfs: ZFS,
  tmpfs: TMPFS,
};

/**
 * Options that make the line something else than "mount this filesystem here": a loop device, a
 * moved or re-mounted tree, a recursive bind, a sub-directory or id-mapped mount, an external
 * helper. The line is not mounted at all.
 */
const REFUSE_LINE: Record<string, string> = {
  rbind: "a recursive bind could carry other mounts into the system",
  move: "moves an existing mount",
  rmove: "moves an existing mount",
  remount: "changes an existing mount",
  loop: "would attach a file of the installed system as a loop device",
  offset: "loop device option",
  sizelimit: "loop device option",
  encryption: "loop device option",
  helper: "runs another mount helper",
  "X-mount.subdir": "mounts a sub-directory of the filesystem",
  "X-mount.idmap": "creates an id-mapped mount",
  "x-mount.subdir": "mounts a sub-directory of the filesystem",
  "x-mount.idmap": "creates an id-mapped mount",
  logdev: "names an external log device",
  rtdev: "names an external realtime device",
  device: "names another device of a multi-device filesystem",
};

/**
 * Read by the boot (fstab, systemd, mount(8) as a user) or decided by Lifeboat itself, never
 * passed to the kernel: read-only and no-replay options, nodev/nosuid/noexec, error policies (an
 * `errors=panic` from the disk would panic the rescue system), zfsutil (set from the dataset's
 * own mountpoint property).
 */
const DECIDED = new Set([
  "defaults",
  "auto",
  "noauto",
  "nofail",
  "_netdev",
  "user",
  "nouser",
  "users",
  "owner",
  "group",
  "ro",
  "rw",
  "exec",
  "noexec",
  "suid",
  "nosuid",
  "dev",
  "nodev",
  "bind",
  "zfsutil",
  "noload",
  "norecovery",
  "nologreplay",
  "usebackuproot",
  "recovery",
  "rescue",
  "errors",
  "fatal_errors",
  "data",
  "init_itable",
  "clear_cache",
  "dax",
  "context",
  "fscontext",
  "defcontext",
  "rootcontext",
  "shared",
  "rshared",
  "private",
  "rprivate",
  "slave",
  "rslave",
  "unbindable",
  "runbindable",
  "silent",
  "loud",
  "nobootwait",
  "sw",
  "pri",
]);

export interface FstabOptions {
  /** Filesystem options on the allowlist for this type, in fstab order. */
  kept: string[];
  /** Options not passed, with why (for the plan's notes). */
  dropped: string[];
  /** The whole line is refused (reason), or null. */
  refused: string | null;
  bind: boolean;
  noauto: boolean;
  /** systemd mounts it on first access (x-systemd.automount): it is part of the system. */
  automount: boolean;
}

function keyOf(opt: string): { key: string; value: string | null } {
  const eq = opt.indexOf("=");
  return eq < 0 ? { key: opt, value: null } : { key: opt.slice(0, eq), value: opt.slice(eq + 1) };
}

function valueOk(check: ValueCheck | null, value: string | null): boolean {
  if (check === null) return value === null;
  if (value === null) return Array.isArray(check) ? false : (check as RegExp).test("");
  return Array.isArray(check) ? check.includes(value) : (check as RegExp).test(value);
}

/**
 * Sort an fstab line's options into what reaches the kernel (the allowlist of `fstype`), what is
 * dropped, and whether the line is refused. `fstype` is the type Lifeboat mounts it as (blkid's).
 */
export function classifyOptions(options: readonly string[], fstype: string): FstabOptions {
  const allow = BY_TYPE[fstype] ?? {};
  const out: FstabOptions = {
    kept: [],
    dropped: [],
    refused: null,
    bind: false,
    noauto: false,
    automount: false,
  };
  for (const opt of options) {
    if (opt === "") continue;
    const { key, value } = keyOf(opt);
    const refuse = Object.hasOwn(REFUSE_LINE, key) ? REFUSE_LINE[key] : undefined;
    if (refuse !== undefined || key.startsWith("loop")) {
      out.refused ??= `option ${opt.slice(0, 60)}: ${refuse ?? "loop device option"}`;
      continue;
    }
    if (key === "bind") out.bind = true;
    if (key === "noauto") out.noauto = true;
    if (key === "x-systemd.automount") out.automount = true;
    if (DECIDED.has(key)) continue;
    // Userspace-only: x-systemd.*, x-initrd.*, x-gvfs-*, X-mount.mkdir/owner/group/mode, comments.
    if (/^[xX]-/.test(key) || key === "comment") continue;
    const check = Object.hasOwn(allow, key) ? allow[key] : undefined;
    if (check === undefined && Object.hasOwn(COMMON, key) && value === null) out.kept.push(opt);
    else if (check !== undefined && valueOk(check, value)) out.kept.push(opt);
    else out.dropped.push(opt.slice(0, 60));
  }
  return out;
}

export interface MountHardening {
  readonly: boolean;
  /** The rebuild chroot executes from / and /nix (and builds under /tmp on /): only those keep exec, and only read-write. */
  exec: boolean;
}

/**
 * Final `-o` list: read-only options first (when read-only), then the kept fstab options (plus
 * `zfsutil` for a dataset with its own mountpoint, which the planner adds), then the error policy
 * and nodev,nosuid(,noexec). Null when a read-only mount of this type is not known to be
 * write-free (the caller refuses it).
 */
export function finalOptions(fstype: string, kept: readonly string[], h: MountHardening): string[] | null {
  const head: string[] = [];
  if (h.readonly && fstype !== "tmpfs") {
    const ro = readonlyOptionsFor(fstype);
    if (!ro) return null;
    head.push(...ro);
  }
  const tail: string[] = [];
  // ext2/3/4, vfat, exfat: override an `errors=panic` stored in the superblock.
  if (/^ext[234]$/.test(fstype) || fstype === "vfat" || fstype === "exfat") tail.push("errors=remount-ro");
  tail.push("nodev", "nosuid");
  if (!h.exec) tail.push("noexec");
  return [...new Set([...head, ...kept, ...tail])];
}
