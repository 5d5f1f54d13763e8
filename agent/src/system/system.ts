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
}

export interface OutputLine {
  stream: "stdout" | "stderr";
  text: string;
}

/** A long-running process whose output is consumed line by line (rebuild jobs, journal paging). */
export interface Spawned {
  /** Called for each output line, in order, until the process ends. */
  onLine(listener: (line: OutputLine) => void): void;
  /** Resolves when the process has ended (never rejects). */
  done: Promise<{ exitCode: number | null; signal: string | null; notFound: boolean }>;
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
}

/** Commands the agent may run and whether each one changes anything. Detection may only use `read`. */
export const READ_ONLY_COMMANDS: Record<string, (args: readonly string[]) => boolean> = {
  lsblk: () => true,
  blkid: () => true,
  hostid: () => true,
  findmnt: () => true,
  zfs: (a) => ["list", "get", "version"].includes(a[0] ?? ""),
  // `zpool import` with no pool argument only lists; with one it imports.
  zpool: (a) =>
    ["list", "status", "version", "get"].includes(a[0] ?? "") || (a[0] === "import" && a.length === 1),
  cryptsetup: (a) =>
    ["isLuks", "luksDump", "status"].includes(a[0] ?? "") ||
    (a[0] === "open" && a.includes("--test-passphrase")),
  journalctl: () => true,
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
