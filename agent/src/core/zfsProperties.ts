/**
 * The ZFS properties of the installed system's pools and what Lifeboat does with each: the disk
 * sets them, so none may make the rescue side write, share, fetch or execute anything. Pure data,
 * checked property by property by test/unit/zfs-properties.test.ts and described for operators in
 * docs/degraded-mounts.md.
 *
 * What OpenZFS itself would do, read in its source (openzfs/zfs at OPENZFS_READ.commit):
 * - `zpool import` without `-N` mounts every dataset AND shares it: cmd/zpool/zpool_main.c
 *   do_import() calls zpool_enable_datasets() unless ZFS_IMPORT_ONLY (`-N`), and
 *   lib/libzfs/libzfs_mount.c zpool_enable_datasets() runs zfs_share_one() (sharenfs/sharesmb)
 *   over every mounted dataset. Lifeboat always imports with `-N`.
 * - `zfs mount` never shares, with or without `-a`: cmd/zfs/zfs_main.c share_mount_one() calls
 *   zfs_share() only for OP_SHARE (`zfs share`); OP_MOUNT calls zfs_mount() alone. `zfs mount -l`
 *   (MS_CRYPT) loads keys from keylocation (libzfs_mount.c zfs_mount_at). Lifeboat runs neither
 *   `zfs mount` nor `zfs share`: it mounts with mount(8) onto verified targets (app/mountExec.ts).
 * - cmd/mount_zfs.c (mount.zfs, what `mount -t zfs` runs) neither shares nor loads keys.
 * - `zfs load-key` without `-L` takes the dataset's keylocation: lib/libzfs/libzfs_crypto.c
 *   zfs_crypto_load_key() reads ZFS_PROP_KEYLOCATION unless alt_keylocation (`-L`) is given;
 *   get_key_material() then opens `file://` paths and fetches `http(s)://` URLs through libfetch
 *   (get_key_material_https). With `-L prompt` and stdin not a terminal it reads the key from
 *   stdin (get_key_material_stream). Lifeboat always passes `-L prompt` and the operator's
 *   passphrase on stdin.
 */

export const OPENZFS_READ = {
  repo: "openzfs/zfs",
  commit: "be7657e3f2788c4e5edb635d0bc5c24eff9eb2db",
  date: "2026-08-21",
  files: [
    "cmd/zfs/zfs_main.c",
    "cmd/zpool/zpool_main.c",
    "cmd/mount_zfs.c",
    "lib/libzfs/libzfs_mount.c",
    "lib/libzfs/libzfs_crypto.c",
  ],
} as const;

/** `zfs load-key` as Lifeboat runs it: the key material comes from stdin, never from keylocation. */
export function loadKeyArgs(encryptionRoot: string): string[] {
  return ["load-key", "-L", "prompt", encryptionRoot];
}

/** The only `zfs` / `zpool` subcommands the agent runs (test/unit/zfs-properties.test.ts scans agent/src). */
/** (`destroy`: only of snapshots the operator named, app/space.ts; `sync`: after that destroy.) */
export const ZFS_VERBS = ["list", "get", "load-key", "snapshot", "rollback", "destroy"] as const;
export const ZPOOL_VERBS = ["import", "export", "list", "status", "get", "sync"] as const;
/** Never run: they share, mount by ZFS's own resolution of mountpoint, load keys from keylocation, or write properties. */
export const NEVER_RUN = [
  "zfs share",
  "zfs mount",
  "zfs set",
  "zfs change-key",
  "zfs inherit",
  "zpool set",
  "zpool upgrade",
] as const;

export type PropertyEffect = "write" | "share" | "network" | "exec";

export interface PropertyRule {
  /** A property name, or a family (`<module>:<name>` user properties). */
  property: string;
  /** Read by Lifeboat (`zfs list -o`, `zfs get`, `zpool get`)? */
  read: boolean;
  /** What OpenZFS's own tools would do with it if they were let act on it. */
  openzfs: string;
  /** What Lifeboat does with it. */
  lifeboat: string;
  /** What of that can reach the rescue side: always none. */
  effects: readonly PropertyEffect[];
}

export const ZFS_PROPERTIES: readonly PropertyRule[] = [
  {
    property: "mountpoint",
    read: true,
    openzfs: "zfs mount / zpool import (without -N) mount the dataset there, following links on the way",
    lifeboat:
      "the path inside the installed system (altroot stripped); must be a plain absolute path; resolved component by component inside /mnt, no link followed, the mount made through the opened directory; otherwise the dataset is skipped with its reason",
    effects: [],
  },
  {
    property: "canmount",
    read: true,
    openzfs: "on: mounted by zfs mount -a; noauto: only when named; off: never",
    lifeboat:
      "on: mounted (as zfs-mount.service would); noauto and off: not mounted unless chosen as the root or named by the fstab",
    effects: [],
  },
  {
    property: "keylocation",
    read: true,
    openzfs:
      "zfs load-key without -L reads file:// paths and fetches http(s):// URLs named here; zfs mount -l and zpool import -l do too",
    lifeboat:
      "shown only; zfs load-key always runs with -L prompt and the operator's passphrase on stdin; -l is never passed",
    effects: [],
  },
  {
    property: "keyformat",
    read: true,
    openzfs: "how the key material is read (passphrase, hex, raw)",
    lifeboat: "shown only; the operator's passphrase is given on stdin as it is",
    effects: [],
  },
  {
    property: "encryption / keystatus / encryptionroot",
    read: true,
    openzfs: "whether a key must be loaded and for which dataset",
    lifeboat:
      "which encryption root to load; a locked dataset the system needs for / or /nix pauses the mount until its key is loaded, any other locked dataset is skipped with its reason",
    effects: [],
  },
  {
    property: "sharenfs / sharesmb",
    read: false,
    openzfs: "zpool import (without -N) and zfs share export the dataset over NFS/SMB",
    lifeboat: "never read; pools are imported with -N; zfs share and zfs mount are never run",
    effects: [],
  },
  {
    property: "readonly",
    read: false,
    openzfs: "mounts the dataset read-only when on",
    lifeboat:
      "never trusted either way: a read-only mount imports with -o readonly=on and mounts with ro; read-write only when the request asks for it",
    effects: [],
  },
  {
    property: "exec / setuid / devices",
    read: false,
    openzfs: "mount flags the kernel module applies (zfs_vfsops.c) unless the mount options say otherwise",
    lifeboat:
      "overridden on every mount: nodev,nosuid always, noexec unless a read-write rebuild needs exec on / and /nix",
    effects: [],
  },
  {
    property: "overlay",
    read: false,
    openzfs: "zfs mount may mount over a non-empty directory",
    lifeboat:
      "not consulted: mount(8) on Linux mounts over non-empty directories; the target is verified either way",
    effects: [],
  },
  {
    property: "atime / relatime",
    read: false,
    openzfs: "access times written on reads",
    lifeboat: "no effect read-only: the pool is imported readonly=on, nothing is written",
    effects: [],
  },
  {
    property: "snapdir",
    read: false,
    openzfs:
      "visible: .zfs is listed; a lookup under .zfs/snapshot makes the kernel mount that snapshot (read-only) there",
    lifeboat:
      "not consulted; a snapshot the kernel mounts on access is read-only and lands inside the mounted dataset (mntpoint= is passed for it)",
    effects: [],
  },
  {
    property: "bootfs (pool)",
    read: true,
    openzfs: "the boot loader's default root dataset",
    lifeboat: "a hint for which dataset is / when several could be",
    effects: [],
  },
  {
    property: "user properties (<module>:<name>: org.nixos:*, com.sun:auto-snapshot, …)",
    read: false,
    openzfs: "nothing by themselves; read by other programs (zfs-auto-snapshot, sanoid, NixOS scripts)",
    lifeboat: "never read, never passed to anything",
    effects: [],
  },
];

/** The dataset properties the agent reads (zfs list -o / zfs get): nothing else is ever asked for. */
export const PROPERTIES_READ = [
  "name",
  "mountpoint",
  "canmount",
  "encryption",
  "keystatus",
  "keyformat",
  "keylocation",
  "encryptionroot",
  "used",
  "creation",
  "bootfs",
] as const;
