import { constants } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { execa } from "execa";
import type { Logger } from "pino";
import { type OpenedDir, openDirInRoot } from "./mounttarget.js";
import { NodeDirFs } from "./rootfs-node.js";
import type {
  CommandResult,
  FileInfo,
  OutputLine,
  RunOptions,
  Spawned,
  SpawnOptions,
  System,
} from "./system.js";

const DEFAULT_TIMEOUT_MS = 120_000;
/** Longest output line kept whole (a process fed by disk data can print anything). */
const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Split a byte stream into lines (LF, CRLF) without ever holding more than `max` bytes of one
 * line: the rest of an overlong line is dropped and the line is flagged `truncated`.
 */
function eachLine(s: Readable, max: number, emit: (text: string, truncated: boolean) => void): Promise<void> {
  let parts: Buffer[] = [];
  let size = 0;
  let cut = false;
  const flush = () => {
    const text = Buffer.concat(parts).toString("utf8");
    emit(text.endsWith("\r") ? text.slice(0, -1) : text, cut);
    parts = [];
    size = 0;
    cut = false;
  };
  const keep = (b: Buffer) => {
    const room = max - size;
    if (b.length > room) cut = true;
    const part = b.length > room ? b.subarray(0, Math.max(0, room)) : b;
    if (part.length > 0) {
      parts.push(part);
      size += part.length;
    }
  };
  return new Promise((resolve) => {
    s.on("data", (chunk: Buffer) => {
      let from = 0;
      for (let nl = chunk.indexOf(10); nl >= 0; nl = chunk.indexOf(10, from)) {
        keep(chunk.subarray(from, nl));
        flush();
        from = nl + 1;
      }
      if (from < chunk.length) keep(chunk.subarray(from));
    });
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (size > 0 || cut) flush();
      resolve();
    };
    s.on("end", end);
    s.on("close", end);
    s.on("error", end);
  });
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export class RealSystem implements System {
  readonly dirfs = new NodeDirFs();
  constructor(private readonly log: Logger) {}

  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const started = performance.now();
    const r = await execa(file, args, {
      reject: false,
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      input: opts.input ?? "",
      stripFinalNewline: false,
      env: { LC_ALL: "C", ...opts.env },
      forceKillAfterDelay: 5_000,
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    });
    const result: CommandResult = {
      exitCode: r.exitCode ?? (r.timedOut ? 124 : 1),
      stdout: String(r.stdout ?? ""),
      stderr: String(r.stderr ?? ""),
      timedOut: r.timedOut === true,
      notFound:
        errno(r.cause) === "ENOENT" ||
        (r.failed && r.exitCode === undefined && /ENOENT/.test(String(r.message))),
      durationMs: Math.round(performance.now() - started),
    };
    // Arguments are logged, stdin never is (it may carry a passphrase).
    this.log.debug(
      { cmd: [file, ...args], exitCode: result.exitCode, ms: result.durationMs, timedOut: result.timedOut },
      "command",
    );
    return result;
  }

  spawn(file: string, args: readonly string[], opts: SpawnOptions = {}): Spawned {
    const child = execa(file, args, {
      reject: false,
      buffer: false,
      input: opts.input ?? "",
      env: { LC_ALL: "C", ...opts.env },
    });
    this.log.debug({ cmd: [file, ...args], pid: child.pid }, "spawned");
    const listeners: ((l: OutputLine) => void)[] = [];
    const emit = (line: OutputLine) => {
      for (const l of listeners) l(line);
    };
    const closed: Promise<void>[] = [];
    for (const stream of ["stdout", "stderr"] as const) {
      const s = child[stream];
      if (!s) continue;
      closed.push(
        eachLine(s, MAX_LINE_BYTES, (text, truncated) =>
          emit(truncated ? { stream, text, truncated } : { stream, text }),
        ),
      );
    }
    const done = child.then(async (r) => {
      await Promise.all(closed);
      return {
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        notFound: errno(r.cause) === "ENOENT",
      };
    });
    return {
      onLine: (l) => listeners.push(l),
      done,
      kill: (signal) => child.kill(signal),
    };
  }

  async readFile(path: string): Promise<Buffer | null> {
    try {
      return await readFile(path);
    } catch (err) {
      if (["ENOENT", "ENOTDIR", "EISDIR"].includes(errno(err) ?? "")) return null;
      throw err;
    }
  }

  async writeFile(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
    // The mode applies when the file is created (sysfs parameters keep theirs).
    await writeFile(path, data, { mode });
  }

  async removeFile(path: string): Promise<void> {
    await rm(path, { force: true });
  }

  async readlink(path: string): Promise<string | null> {
    try {
      return await readlink(path);
    } catch (err) {
      if (["EINVAL", "ENOENT", "ENOTDIR"].includes(errno(err) ?? "")) return null;
      throw err;
    }
  }

  async lstat(path: string): Promise<FileInfo | null> {
    try {
      const s = await lstat(path);
      const type = s.isSymbolicLink() ? "link" : s.isDirectory() ? "dir" : s.isFile() ? "file" : "other";
      return { type, size: s.size, mode: s.mode & 0o7777, mtimeMs: s.mtimeMs };
    } catch (err) {
      if (["ENOENT", "ENOTDIR"].includes(errno(err) ?? "")) return null;
      throw err;
    }
  }

  async readdir(path: string): Promise<string[] | null> {
    try {
      return (await readdir(path)).sort();
    } catch (err) {
      if (["ENOENT", "ENOTDIR"].includes(errno(err) ?? "")) return null;
      throw err;
    }
  }

  async mkdir(path: string): Promise<void> {
    await mkdir(path, {
      recursive: true,
      mode: constants.S_IRWXU | constants.S_IRGRP | constants.S_IXGRP | constants.S_IROTH | constants.S_IXOTH,
    });
  }

  async symlink(target: string, path: string): Promise<void> {
    await symlink(target, path);
  }

  async rename(from: string, to: string): Promise<void> {
    await rename(from, to);
  }

  openDirInRoot(root: string, path: string, opts: { create: boolean }): Promise<OpenedDir> {
    return openDirInRoot(root, path, opts);
  }
}
