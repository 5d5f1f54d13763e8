import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { lstat, mkdir, readdir, readFile, readlink, rename, rm, symlink, writeFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import { execa } from "execa";
import type { Logger } from "pino";
import type { InitrdInfo } from "../core/initrd.js";
import { Decoders } from "./decoders.js";
import {
  findTools,
  type JailOptions,
  type JailProfileName,
  JailRefused,
  jailArgv,
  limitsOf,
  systemLayout,
} from "./jail.js";
import { type OpenedDir, openDirInRoot } from "./mounttarget.js";
import { NodeDirFs } from "./rootfs-node.js";
import type {
  CommandResult,
  FileInfo,
  JailedResult,
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

/** The environment variable bwrap sets in every jail: its value marks one jail's processes. */
const JAIL_MARK = "LIFEBOAT_JAIL";

export class RealSystem implements System {
  readonly dirfs = new NodeDirFs();
  private readonly decoders: Decoders;
  /**
   * `decoderEntry`: the file decoder workers start (system/decoders.ts); in the bundle, the bundle
   * itself. Tests that run the sources give a built entry (test/helpers/decoder-entry.ts).
   */
  constructor(
    private readonly log: Logger,
    decoderEntry: URL | string = new URL(import.meta.url),
  ) {
    this.decoders = new Decoders(decoderEntry);
  }

  decodeInitrd(bytes: Buffer): Promise<InitrdInfo> {
    return this.decoders.initrd(bytes);
  }

  async run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<CommandResult> {
    const started = performance.now();
    const r = await execa(file, args, {
      reject: false,
      timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      // No input: stdin is /dev/null (EOF at once, as an empty input), without a pipe to make and feed.
      ...(opts.input === undefined ? { stdin: "ignore" as const } : { input: opts.input }),
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
    return this.lines(child);
  }

  /** A spawned child's output as lines; `cap`: stop (SIGKILL) once this many bytes came out. */
  private lines(child: ReturnType<typeof execa>, cap?: { bytes: number; deadlineMs: number }): Spawned {
    const listeners: ((l: OutputLine) => void)[] = [];
    let seen = 0;
    let truncated = false;
    const timer = cap
      ? setTimeout(() => {
          truncated = true;
          child.kill("SIGKILL");
        }, cap.deadlineMs)
      : null;
    const emit = (line: OutputLine) => {
      if (truncated) return;
      seen += Buffer.byteLength(line.text) + 1;
      if (cap && seen > cap.bytes) {
        truncated = true;
        child.kill("SIGKILL");
        return;
      }
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
      if (timer) clearTimeout(timer);
      return {
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        notFound: errno(r.cause) === "ENOENT",
        ...(cap ? { truncated } : {}),
      };
    });
    return {
      onLine: (l) => listeners.push(l),
      done,
      kill: (signal) => child.kill(signal),
    };
  }

  /** The jail's command line, or why the program cannot be run jailed here. */
  private jail(
    profile: JailProfileName,
    file: string,
    args: readonly string[],
    opts: JailOptions,
  ): { bwrap: string; argv: string[]; mark: string } | { notFound: boolean; why: string } {
    const tools = findTools(file);
    if ("missing" in tools)
      return tools.missing === file
        ? { notFound: true, why: `${file}: not found` }
        : {
            notFound: false,
            why: `the jail cannot run: ${tools.missing} is not installed on the rescue system, and ${file} is never given disk data outside it`,
          };
    try {
      // The jail's mark in bwrap's command line (and its program's environment): what sweepJail
      // finds a jail's processes by when it was stopped early.
      const mark = randomBytes(8).toString("hex");
      return {
        bwrap: tools.bwrap,
        argv: [
          "--setenv",
          JAIL_MARK,
          mark,
          ...jailArgv(tools, systemLayout(), limitsOf(profile, opts), args, opts),
        ],
        mark,
      };
    } catch (err) {
      if (err instanceof JailRefused)
        return { notFound: false, why: `the jail refused ${file}: ${err.message}` };
      throw err;
    }
  }

  async runJailed(
    profile: JailProfileName,
    file: string,
    args: readonly string[],
    opts: JailOptions,
  ): Promise<JailedResult> {
    const started = performance.now();
    const limits = limitsOf(profile, opts);
    const j = this.jail(profile, file, args, opts);
    if ("why" in j)
      return {
        exitCode: j.notFound ? 127 : 126,
        stdout: "",
        stderr: `${j.why}\n`,
        timedOut: false,
        notFound: j.notFound,
        durationMs: 0,
        truncated: false,
      };
    const sub = execa(j.bwrap, j.argv, {
      reject: false,
      timeout: limits.deadlineMs,
      killSignal: "SIGKILL",
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      maxBuffer: limits.maxOutputBytes,
      input: "",
      stripFinalNewline: false,
      extendEnv: false,
      env: { LC_ALL: "C", PATH: "/usr/bin:/bin", ...opts.env },
    });
    // Swept as soon as bwrap is killed: what it left would keep its output pipes open, and the run
    // would never end (nor the namespace holding the mounts).
    sub.once("exit", (_code, signal) => {
      if (signal !== null) void this.sweepJail(j.mark);
    });
    const r = await sub;
    const result: JailedResult = {
      exitCode: r.exitCode ?? (r.timedOut ? 124 : 137),
      stdout: String(r.stdout ?? ""),
      stderr: String(r.stderr ?? ""),
      timedOut: r.timedOut === true,
      notFound: false,
      durationMs: Math.round(performance.now() - started),
      truncated: r.isMaxBuffer === true,
    };
    if (result.truncated) result.stderr += `\n${file}: output cut at ${limits.maxOutputBytes} bytes\n`;
    if (result.timedOut) result.stderr += `\n${file}: killed after ${limits.deadlineMs} ms\n`;
    this.log.debug(
      {
        cmd: [file, ...args],
        jail: profile,
        data: opts.data,
        exitCode: result.exitCode,
        ms: result.durationMs,
        timedOut: result.timedOut,
        truncated: result.truncated,
      },
      "jailed command",
    );
    return result;
  }

  spawnJailed(profile: JailProfileName, file: string, args: readonly string[], opts: JailOptions): Spawned {
    const limits = limitsOf(profile, opts);
    const j = this.jail(profile, file, args, opts);
    if ("why" in j) {
      const listeners: ((l: OutputLine) => void)[] = [];
      const done = new Promise<void>((r) => setImmediate(r)).then(() => {
        for (const l of listeners) l({ stream: "stderr", text: j.why });
        return { exitCode: j.notFound ? 127 : 126, signal: null, notFound: j.notFound, truncated: false };
      });
      return { onLine: (l) => listeners.push(l), done, kill: () => {} };
    }
    const child = execa(j.bwrap, j.argv, {
      reject: false,
      buffer: false,
      input: "",
      extendEnv: false,
      env: { LC_ALL: "C", PATH: "/usr/bin:/bin", ...opts.env },
    });
    this.log.debug({ cmd: [file, ...args], jail: profile, data: opts.data, pid: child.pid }, "jailed spawn");
    child.once("exit", (_code, signal) => {
      if (signal !== null) void this.sweepJail(j.mark);
    });
    return this.lines(child, {
      bytes: limits.maxOutputBytes,
      deadlineMs: limits.deadlineMs,
    });
  }

  /**
   * The processes of a jail stopped early (cancelled, past its deadline or its output cap), killed.
   * Killing bwrap alone is not enough: a bwrap killed while it starts leaves its child (the PID
   * namespace's init, with the installed system's mounts in its own mount namespace) running, as
   * `--die-with-parent` takes effect only once that child has set it (seen on Debian's bubblewrap
   * 0.8.0: 60 starts killed within 5 ms left 66 inits and programs behind). That child has
   * bwrap's command line, mark included; killing it ends every process of its PID namespace.
   */
  private async sweepJail(mark: string): Promise<void> {
    const needle = Buffer.from(`\0${JAIL_MARK}\0${mark}\0`);
    for (let pass = 0; pass < 3; pass++) {
      let found = 0;
      for (const pid of await readdir("/proc").catch(() => [] as string[])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmd = await readFile(`/proc/${pid}/cmdline`).catch(() => null);
        if (!cmd?.includes(needle)) continue;
        try {
          process.kill(Number(pid), "SIGKILL");
          found++;
        } catch {}
      }
      if (found === 0) return;
      this.log.debug({ mark, killed: found }, "jail's leftover processes killed");
      await new Promise((r) => setTimeout(r, 20));
    }
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
