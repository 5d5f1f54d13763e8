import type { InitrdInfo } from "../core/initrd.js";
import type { JailOptions, JailProfileName } from "./jail.js";
import type { OpenedDir } from "./mounttarget.js";

/**
 * The only door to the machine. Services talk to this interface; `RealSystem` runs commands with
 * execa (argument arrays, never a shell) and touches files; `FakeSystem` (tests) records every call.
 */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** The program does not exist on this machine. */
  notFound: boolean;
  durationMs: number;
}

export interface RunOptions {
  /** Written to the command's stdin (passphrases go here, never into arguments). */
  input?: string;
  /** Mark input as secret: it is never logged or recorded. */
  secretInput?: boolean;
  timeoutMs?: number;
  env?: Record<string, string>;
  /** Stop the command when this aborts (a reader cancelled by a change of the mounts). */
  signal?: AbortSignal;
  /**
   * Runs to its end even inside a cancelled reader: a mount the reader made and its undo come in
   * pairs, so neither is refused or killed half-way by the cancellation.
   */
  uncancelled?: boolean;
}

export interface OutputLine {
  stream: "stdout" | "stderr";
  text: string;
  /** The line was longer than the line cap: `text` is its beginning only. */
  truncated?: boolean;
}

/** A jailed program's result (system/jail.ts). */
export interface JailedResult extends CommandResult {
  /** The output passed the profile's cap: it was cut and the jail killed. */
  truncated: boolean;
}

/** A long-running process whose output is consumed line by line (rebuild jobs, journal paging). */
export interface Spawned {
  /** Called for each output line, in order, until the process ends. */
  onLine(listener: (line: OutputLine) => void): void;
  /** Resolves when the process has ended (never rejects). */
  done: Promise<{ exitCode: number | null; signal: string | null; notFound: boolean; truncated?: boolean }>;
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  input?: string;
  secretInput?: boolean;
}

export interface FileInfo {
  type: "file" | "dir" | "link" | "other";
  size: number;
  mode: number;
  mtimeMs: number;
}

export interface System {
  run(file: string, args: readonly string[], opts?: RunOptions): Promise<CommandResult>;
  spawn(file: string, args: readonly string[], opts?: SpawnOptions): Spawned;
  /**
   * Run a program on disk data in the jail (system/jail.ts): the only way a program is given the
   * installed system's data. `opts.data` is the one directory it may read, resolved through
   * system/rootfs.ts. Without the jail's tools the program is not run (exit 126, stderr says why).
   */
  runJailed(
    profile: JailProfileName,
    file: string,
    args: readonly string[],
    opts: JailOptions,
  ): Promise<JailedResult>;
  /** The same, streaming (journal paging); the profile's deadline and output cap hold. */
  spawnJailed(profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions): Spawned;
  /**
   * What an initrd file holds, decoded off the event loop (system/decoders.ts: a worker with a heap
   * cap and a deadline). Throws LifeboatError `too-large` for a bomb.
   */
  decodeInitrd(bytes: Buffer): Promise<InitrdInfo>;
  /** null when the file does not exist. */
  readFile(path: string): Promise<Buffer | null>;
  writeFile(path: string, data: string | Uint8Array, mode?: number): Promise<void>;
  removeFile(path: string): Promise<void>;
  /** Symlink target, or null when the path is not a symlink or does not exist. */
  readlink(path: string): Promise<string | null>;
  lstat(path: string): Promise<FileInfo | null>;
  readdir(path: string): Promise<string[] | null>;
  mkdir(path: string): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  // ── Confined file access: fd-relative primitives for system/rootfs.ts (the only user) ──
  readonly dirfs: DirFs;
  /**
   * Open directory `path` of the installed system mounted at `root` for mounting on (or binding
   * from): component by component, no symlink followed, optionally creating what is missing.
   * The handle's procPath is what mount(8) gets (system/mounttarget.ts).
   */
  openDirInRoot(root: string, path: string, opts: { create: boolean }): Promise<OpenedDir>;
}

// ── Confined file access (issue 10) ────────────────────────────────────────────────────────────
// Files of the installed system are reached only through system/rootfs.ts, which walks a path one
// component at a time on directory descriptors (like systemd's chase() / openat2(RESOLVE_IN_ROOT)).
// These are the openat(2)-style primitives it needs; RealSystem implements them with node:fs
// (system/rootfs-node.ts), the recording fake maps openRoot() into its sandbox and uses the same.

/** What lstat/fstat found: device nodes, FIFOs and sockets are told apart so they can be refused. */
export type NodeKind = "file" | "dir" | "link" | "char" | "block" | "fifo" | "socket";

export interface NodeStat {
  kind: NodeKind;
  /** `dev:ino`: the object's identity, to check that what was opened is what was resolved. */
  id: string;
  size: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  nlink: number;
  mtimeMs: number;
  /** Owning group (the jail keeps it as the one supplementary group for data only that group reads). */
  gid?: number;
}

/**
 * What an open is for. Every open adds O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY:
 * - dir: O_RDONLY | O_DIRECTORY
 * - read: O_RDONLY
 * - create: O_WRONLY | O_CREAT | O_EXCL (never opens anything that exists)
 * - append: O_WRONLY | O_APPEND | O_CREAT
 */
export type OpenHow = "dir" | "read" | "create" | "append";

/**
 * openat(2)-style primitives relative to a directory descriptor. `name` is always one path
 * component (never "", ".", "..", nor containing "/"); none of them follows a symlink in `name`.
 * Errors are Node's (`code` = errno); lstatAt/readlinkAt answer null for ENOENT/ENOTDIR.
 */
export interface DirFs {
  /** Open a directory of the rescue system (the installed root, e.g. /mnt) as a descriptor. */
  openRoot(path: string): Promise<number>;
  lstatAt(dir: number, name: string): Promise<NodeStat | null>;
  /** Target of a symlink; null when `name` does not exist. */
  readlinkAt(dir: number, name: string): Promise<string | null>;
  openAt(dir: number, name: string, how: OpenHow, mode?: number): Promise<number>;
  fstat(fd: number): Promise<NodeStat>;
  /** At most `max` bytes from the start of the file (fewer at its end). */
  read(fd: number, max: number): Promise<Buffer>;
  write(fd: number, data: Uint8Array): Promise<void>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  /** Names in a directory descriptor, as bytes (names need not be UTF-8); at most `max`. */
  readdir(dir: number, max: number): Promise<Buffer[]>;
  mkdirAt(dir: number, name: string, mode: number): Promise<void>;
  /** rename(2) of one entry to another name in the same directory. */
  renameAt(dir: number, from: string, to: string): Promise<void>;
  unlinkAt(dir: number, name: string): Promise<void>;
}

/** Commands the agent may run and whether each one changes anything. Detection may only use `read`. */
export const READ_ONLY_COMMANDS: Record<string, (args: readonly string[]) => boolean> = {
  lsblk: () => true,
  blkid: () => true,
  hostid: () => true,
  findmnt: () => true,
  // `zfs destroy -n` is zfs-destroy(8)'s dry run: it only reads what a destroy would reclaim
  zfs: (a) => ["list", "get", "version"].includes(a[0] ?? "") || (a[0] === "destroy" && a[1] === "-n"),
  // `zpool import` with no pool argument only lists; with one it imports.
  zpool: (a) =>
    ["list", "status", "version", "get"].includes(a[0] ?? "") || (a[0] === "import" && a.length === 1),
  cryptsetup: (a) =>
    ["isLuks", "luksDump", "status"].includes(a[0] ?? "") ||
    (a[0] === "open" && a.includes("--test-passphrase")),
  journalctl: () => true,
  // superblock and metadata reports; assembling/activating (even read-only) changes the machine's state
  mdadm: (a) => ["--examine", "--detail"].includes(a[0] ?? ""),
  lvm: (a) => ["pvs", "vgs", "lvs"].includes(a[0] ?? ""),
  // the diagnosis reads /etc/nixos's history: log, rev-list and diff only read
  git: (a) => {
    const sub = a.find((x, i) => !x.startsWith("-") && a[i - 1] !== "-c");
    return ["log", "rev-list", "diff"].includes(sub ?? "");
  },
};

export function isReadOnlyCommand(file: string, args: readonly string[]): boolean {
  const base = file.split("/").pop() ?? file;
  return READ_ONLY_COMMANDS[base]?.(args) ?? false;
}
