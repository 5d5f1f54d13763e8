import { randomBytes } from "node:crypto";
import { LifeboatError } from "../core/errors.js";
import type { DirFs, NodeKind, NodeStat } from "./system.js";

/**
 * The one door to the installed system's files. Nothing else in the agent reads or writes under
 * the root (/mnt).
 *
 * Modelled on systemd's chase() and openat2(RESOLVE_IN_ROOT): a path is walked one component at a
 * time on directory descriptors, each component lstat'ed first; absolute symlinks restart at the
 * root (NixOS store links are absolute), `..` stops at the root, at most 40 links are followed.
 * Only regular files and directories are ever opened: device nodes, FIFOs and sockets are refused
 * (`unsafe-file`) before an open could block or reach a device. Every open adds O_NOFOLLOW and
 * O_NONBLOCK, and fstat checks that the object opened is the one resolved (dev:ino) and of the
 * expected type. Reads are capped, every operation has a deadline, temp files are created
 * exclusively under random names and renamed within the directory they were verified in.
 *
 * Paths given and returned are the installed system's ("/etc/nixos/configuration.nix"), never
 * host paths, except `hostDir` (for tools that take a directory, e.g. journalctl -D).
 */

export const DEFAULT_MAX_READ = 1024 * 1024;
const MAX_LINKS = 40; // like the kernel and chase()
const MAX_DEPTH = 256;
const DEFAULT_TIMEOUT_MS = 15_000;
const DIR_MODE = 0o755;

export interface RootEntry {
  /** Canonical path inside the root (every link resolved). */
  path: string;
  kind: NodeKind;
  size: number;
  mode: number;
  nlink: number;
  mtimeMs: number;
  /** Owning group, when the primitives report it. */
  gid?: number;
}

export interface ListEntry {
  name: string;
  kind: NodeKind;
  size: number;
  mtimeMs: number;
}

export interface Listing {
  entries: ListEntry[];
  /** Names left out, rendered safely (not UTF-8). */
  skipped: string[];
  /** More entries than `max`. */
  truncated: boolean;
}

export interface ReadResult {
  data: Buffer;
  /** The file is longer than the cap and `truncate` was asked for. */
  truncated: boolean;
  path: string;
}

export interface RootFsOptions {
  /** Deadline of each operation (default 15 s). */
  timeoutMs?: number;
}

interface CommonOpts {
  /** Refuse (`path-escape`) anything that resolves outside this directory of the installed system. */
  within?: string;
}

interface Located {
  /** Verified directory holding the object (the root for the root itself). */
  dir: number;
  /** Entry name in `dir`; null for the root itself. */
  name: string | null;
  /** null: the entry does not exist (its directory does). */
  st: NodeStat | null;
  /** Canonical path inside the root (up to the first missing directory when incomplete). */
  path: string;
  /** false: a directory on the way does not exist (or is not one); nothing below it does. */
  complete: boolean;
}

function segments(path: string): string[] {
  return path.split("/").filter((s) => s !== "" && s !== ".");
}

function join(parts: readonly string[]): string {
  return `/${parts.join("/")}`;
}

function inside(path: string, base: string): boolean {
  return base === "/" || path === base || path.startsWith(`${base}/`);
}

function describe(kind: NodeKind): string {
  return {
    file: "a regular file",
    dir: "a directory",
    link: "a symbolic link",
    char: "a character device node",
    block: "a block device node",
    fifo: "a FIFO",
    socket: "a socket",
  }[kind];
}

function unsafe(path: string, found: NodeKind | "changed" | "links" | "deep" | "hardlinked", what: string) {
  return new LifeboatError("unsafe-file", `${path}: ${what}; refused`, { path, found });
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A Node fs error as a typed problem: what the disk did, never a stack or a host path. */
function fromErrno(err: unknown, what: string, path: string): LifeboatError {
  if (err instanceof LifeboatError) return err;
  const code = errno(err) ?? "EIO";
  if (code === "ELOOP") return unsafe(path, "link", "is a symbolic link (not followed)");
  if (code === "ENXIO") return unsafe(path, "fifo", "is a FIFO or device without a reader");
  if (code === "EROFS")
    return new LifeboatError("read-only-mount", `${what} ${path} failed: the filesystem is read-only`, {
      path,
      errno: code,
    });
  if (code === "ENOENT" || code === "ENOTDIR")
    return new LifeboatError("not-found", `${what} ${path} failed: no such file or directory`, { path });
  return new LifeboatError("file-failed", `${what} ${path} failed: ${code}`, { path, errno: code });
}

/** One operation: its descriptors are closed when it ends, however it ends. */
class Op {
  private readonly fds: number[] = [];
  rootFd = -1;
  rootSt: NodeStat | null = null;
  constructor(private readonly fs: DirFs) {}
  track(fd: number): number {
    this.fds.push(fd);
    return fd;
  }
  /** Side by side: a walk holds a descriptor per level, and each close is a round trip of its own. */
  async close(): Promise<void> {
    await Promise.all(this.fds.splice(0).map((fd) => this.fs.close(fd).catch(() => undefined)));
  }
}

export class RootFs {
  private readonly timeoutMs: number;
  constructor(
    private readonly fs: DirFs,
    /** Host path of the installed system's "/" (e.g. /mnt). */
    readonly root: string,
    opts: RootFsOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  // ── running an operation: descriptors, deadline, errors ───────────────────────────────────────

  private run<T>(what: string, path: string, fn: (o: Op) => Promise<T>): Promise<T> {
    if (path.includes("\0"))
      return Promise.reject(new LifeboatError("path-escape", "path contains a NUL byte"));
    const o = new Op(this.fs);
    const work = (async () => {
      try {
        return await fn(o);
      } catch (err) {
        throw fromErrno(err, what, path);
      } finally {
        await o.close();
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new LifeboatError(
              "file-timeout",
              `${what} ${path} did not finish within ${this.timeoutMs / 1000} s (the disk does not answer); it may still complete`,
              { path },
            ),
          ),
        this.timeoutMs,
      );
      timer.unref?.();
    });
    work.catch(() => undefined); // a late failure after the deadline is not unhandled
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  private async openRoot(o: Op): Promise<number> {
    if (o.rootFd >= 0) return o.rootFd;
    o.rootFd = o.track(await this.fs.openRoot(this.root));
    o.rootSt = await this.fs.fstat(o.rootFd);
    if (o.rootSt.kind !== "dir") throw unsafe("/", o.rootSt.kind, "the root is not a directory");
    return o.rootFd;
  }

  /** Open `name` in `dir` as a directory and check it is the one lstat saw. */
  private async enter(o: Op, dir: number, name: string, st: NodeStat, path: string): Promise<number> {
    const fd = o.track(await this.fs.openAt(dir, name, "dir"));
    const now = await this.fs.fstat(fd);
    if (now.id !== st.id || now.kind !== "dir")
      throw unsafe(path, "changed", "changed while it was resolved");
    return fd;
  }

  /**
   * A directory on the way, entered straight away: one open (O_DIRECTORY, O_NOFOLLOW) instead of
   * lstat, open and fstat. It refuses a link, and anything that is not a directory before opening
   * it (a FIFO or a device node is never opened); null then, or when there is nothing by that
   * name, and the walk looks with lstat as it does for the last component.
   */
  private async enterNow(o: Op, dir: number, name: string): Promise<number | null> {
    try {
      return o.track(await this.fs.openAt(dir, name, "dir"));
    } catch (err) {
      const code = errno(err);
      if (code === "ELOOP" || code === "ENOTDIR" || code === "ENOENT") return null;
      throw err;
    }
  }

  /**
   * chase(): resolve `path` inside the root. Returns where the last component lives, or, when
   * a directory on the way does not exist (or is not a directory), where the walk stopped
   * (`complete: false`). `follow` follows a symlink in
   * the last component; `create` makes missing directories on the way ("parents") or the whole
   * path as directories ("all"), only inside `createWithin` when given.
   */
  private async chase(
    o: Op,
    path: string,
    opts: { follow: boolean; create?: "parents" | "all"; createWithin?: string },
  ): Promise<Located> {
    const root = await this.openRoot(o);
    // Each level of the walk: its name and its open, verified descriptor.
    let stack: { name: string; fd: number }[] = [];
    const cur = () => stack[stack.length - 1]?.fd ?? root;
    const here = (name?: string) =>
      join(name === undefined ? stack.map((s) => s.name) : [...stack.map((s) => s.name), name]);
    const descend = (name: string, fd: number, p: string) => {
      stack.push({ name, fd });
      if (stack.length > MAX_DEPTH) throw unsafe(p, "deep", `more than ${MAX_DEPTH} levels deep`);
    };
    let pending = segments(path);
    let links = 0;
    while (pending.length > 0) {
      const seg = pending.shift() as string;
      if (seg === "..") {
        stack.pop(); // ".." at the top stays at the top, as in a chroot
        continue;
      }
      const last = pending.length === 0;
      const p = here(seg);
      if (!last) {
        const fd = await this.enterNow(o, cur(), seg);
        if (fd !== null) {
          descend(seg, fd, p);
          continue;
        }
      }
      let st = await this.fs.lstatAt(cur(), seg);
      if (st === null && opts.create && (!last || opts.create === "all")) {
        if (opts.createWithin && !inside(p, opts.createWithin))
          throw new LifeboatError("path-escape", `${p} is outside ${opts.createWithin}: not created`, {
            path: p,
          });
        await this.fs.mkdirAt(cur(), seg, DIR_MODE).catch((err) => {
          if (errno(err) !== "EEXIST") throw err;
        });
        st = await this.fs.lstatAt(cur(), seg);
      }
      if (st === null) return { dir: cur(), name: seg, st: null, path: p, complete: last };
      if (st.kind === "link" && (!last || opts.follow)) {
        if (++links > MAX_LINKS) throw unsafe(p, "links", "too many levels of symbolic links");
        const target = await this.fs.readlinkAt(cur(), seg);
        if (target === null) throw unsafe(p, "changed", "changed while it was resolved");
        if (target.includes("\0")) throw unsafe(p, "link", "symbolic link with a NUL byte");
        if (target.startsWith("/")) stack = []; // absolute links are re-rooted
        pending = [...segments(target), ...pending];
        continue;
      }
      if (last) return { dir: cur(), name: seg, st, path: p, complete: true };
      if (st.kind !== "dir") {
        if (opts.create) throw unsafe(p, st.kind, `is ${describe(st.kind)}, not a directory`);
        return { dir: cur(), name: seg, st: null, path: p, complete: false }; // ENOTDIR
      }
      descend(seg, await this.enter(o, cur(), seg, st, p), p);
    }
    // The path ended on a directory reached through ".." (or is the root itself).
    const top = stack.pop();
    if (!top) return { dir: root, name: null, st: o.rootSt, path: "/", complete: true };
    const st = await this.fs.fstat(top.fd);
    return { dir: cur(), name: top.name, st, path: here(top.name), complete: true };
  }

  /** `within` resolved in the same operation, then the located path checked against it. */
  private async base(o: Op, within: string | undefined): Promise<string | undefined> {
    if (within === undefined) return undefined;
    const b = await this.chase(o, within, { follow: true });
    if (!b.st) throw new LifeboatError("not-found", `${within} does not exist in the installed system`);
    if (b.st.kind !== "dir") throw unsafe(b.path, b.st.kind, `is ${describe(b.st.kind)}, not a directory`);
    return b.path;
  }

  private confine(loc: Located, base: string | undefined, asked: string): void {
    if (base !== undefined && !inside(loc.path, base))
      throw new LifeboatError("path-escape", `${asked} resolves outside ${base}`, { path: asked });
  }

  /** Open the located directory (or the root) as a descriptor. */
  private async openDir(o: Op, loc: Located): Promise<number> {
    if (!loc.st) throw new LifeboatError("not-found", `${loc.path} does not exist`, { path: loc.path });
    if (loc.st.kind !== "dir")
      throw unsafe(loc.path, loc.st.kind, `is ${describe(loc.st.kind)}, not a directory`);
    if (loc.name === null) return loc.dir;
    return this.enter(o, loc.dir, loc.name, loc.st, loc.path);
  }

  private expectFile(loc: Located, forWrite: boolean): void {
    const st = loc.st as NodeStat;
    if (st.kind !== "file") throw unsafe(loc.path, st.kind, `is ${describe(st.kind)}, not a regular file`);
    if (forWrite && st.nlink > 1)
      throw unsafe(loc.path, "hardlinked", `has ${st.nlink} hard links (writing would change the others)`);
  }

  // ── reading ───────────────────────────────────────────────────────────────────────────────────

  /** Lstat (or stat, following links inside the root); null when it does not exist. */
  stat(path: string, opts: CommonOpts & { follow?: boolean } = {}): Promise<RootEntry | null> {
    return this.run("stat", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: opts.follow ?? true });
      this.confine(loc, base, path);
      if (!loc.st) return null;
      const { kind, size, mode, nlink, mtimeMs, gid } = loc.st;
      return { path: loc.path, kind, size, mode, nlink, mtimeMs, ...(gid !== undefined ? { gid } : {}) };
    });
  }

  /** Where `path` leads inside the root (every link followed), or null when it does not exist. */
  async realpath(path: string): Promise<string | null> {
    return (await this.stat(path))?.path ?? null;
  }

  /** Target of the symlink at `path` (not followed), or null when it is not a symlink. */
  readlink(path: string): Promise<string | null> {
    return this.run("readlink", path, async (o) => {
      const loc = await this.chase(o, path, { follow: false });
      if (loc.st?.kind !== "link" || loc.name === null) return null;
      return this.fs.readlinkAt(loc.dir, loc.name);
    });
  }

  /**
   * A regular file's bytes, at most `max`: a longer file is refused (`file-too-large`) unless
   * `truncate` asks for its first `max` bytes. null when it does not exist.
   */
  read(
    path: string,
    opts: CommonOpts & { max?: number; truncate?: boolean; follow?: boolean } = {},
  ): Promise<ReadResult | null> {
    const max = opts.max ?? DEFAULT_MAX_READ;
    return this.run("read", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: opts.follow ?? true });
      this.confine(loc, base, path);
      if (!loc.st) return null;
      if (loc.name === null) throw unsafe("/", "dir", "is a directory, not a regular file");
      this.expectFile(loc, false);
      if (loc.st.size > max && !opts.truncate) throw this.tooLarge(loc.path, loc.st.size, max);
      const fd = o.track(await this.fs.openAt(loc.dir, loc.name, "read"));
      const now = await this.fs.fstat(fd);
      if (now.id !== loc.st.id || now.kind !== "file")
        throw unsafe(loc.path, "changed", "changed while it was opened");
      const data = await this.fs.read(fd, max + 1);
      if (data.length > max && !opts.truncate) throw this.tooLarge(loc.path, data.length, max);
      return {
        data: data.subarray(0, max),
        truncated: data.length > max || now.size > max,
        path: loc.path,
      };
    });
  }

  private tooLarge(path: string, size: number, max: number): LifeboatError {
    return new LifeboatError("file-too-large", `${path} is larger than ${max} bytes (${size}); not read`, {
      path,
      size,
      max,
    });
  }

  async readFile(
    path: string,
    opts: CommonOpts & { max?: number; follow?: boolean } = {},
  ): Promise<Buffer | null> {
    return (await this.read(path, opts))?.data ?? null;
  }

  async readText(
    path: string,
    opts: CommonOpts & { max?: number; follow?: boolean } = {},
  ): Promise<string | null> {
    return (await this.readFile(path, opts))?.toString("utf8") ?? null;
  }

  /** Entries of a directory (lstat: links are reported, not followed); null when it does not exist. */
  list(path: string, opts: CommonOpts & { max?: number } = {}): Promise<Listing | null> {
    const max = opts.max ?? 10_000;
    return this.run("list", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: true });
      this.confine(loc, base, path);
      if (!loc.st) return null;
      const fd = await this.openDir(o, loc);
      const raw = await this.fs.readdir(fd, max + 1);
      const out: Listing = { entries: [], skipped: [], truncated: raw.length > max };
      for (const b of raw.slice(0, max)) {
        const name = b.toString("utf8");
        if (!Buffer.from(name, "utf8").equals(b) || name.includes("/")) {
          out.skipped.push(`${JSON.stringify(b.toString("latin1"))} (name is not UTF-8)`);
          continue;
        }
        const st = await this.fs.lstatAt(fd, name);
        if (st) out.entries.push({ name, kind: st.kind, size: st.size, mtimeMs: st.mtimeMs });
      }
      out.entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return out;
    });
  }

  /**
   * Host path of a directory of the installed system, for a tool that takes a path (journalctl
   * -D): every component was checked to be a real directory, so the path has no symlink left.
   */
  async hostDir(path: string): Promise<string | null> {
    const e = await this.stat(path);
    if (!e) return null;
    if (e.kind !== "dir") throw unsafe(e.path, e.kind, `is ${describe(e.kind)}, not a directory`);
    return e.path === "/" ? this.root : `${this.root.replace(/\/+$/, "")}${e.path}`;
  }

  // ── writing ───────────────────────────────────────────────────────────────────────────────────

  /**
   * Create `path` and the directories on the way, one component at a time; returns its canonical
   * path. `follow: false` refuses a symlink as the last component (a directory that is ours).
   */
  mkdirs(path: string, opts: CommonOpts & { follow?: boolean } = {}): Promise<string> {
    return this.run("mkdir", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, {
        follow: opts.follow ?? true,
        create: "all",
        createWithin: base,
      });
      this.confine(loc, base, path);
      if (!loc.st) throw new LifeboatError("not-found", `${path} could not be created`, { path });
      if (loc.st.kind !== "dir")
        throw unsafe(loc.path, loc.st.kind, `is ${describe(loc.st.kind)}, not a directory`);
      return loc.path;
    });
  }

  /**
   * Replace a file atomically: a temp file created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW) under a
   * random name in the verified directory, written, fsynced, renamed over the file. A reader sees
   * the old or the new file, never half. Keeps the old file's permission bits. Returns the
   * canonical path written.
   */
  replace(
    path: string,
    data: string | Uint8Array,
    opts: CommonOpts & { follow?: boolean; createParents?: boolean; mode?: number } = {},
  ): Promise<string> {
    return this.run("write", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, {
        follow: opts.follow ?? true,
        create: opts.createParents ? "parents" : undefined,
        createWithin: base,
      });
      this.confine(loc, base, path);
      if (!loc.complete || loc.name === null)
        throw new LifeboatError("not-found", `the directory of ${path} does not exist`, { path });
      if (loc.st) this.expectFile(loc, true);
      const tmp = await this.createTemp(loc.dir, loc.name, data, opts.mode ?? loc.st?.mode ?? 0o644);
      try {
        await this.fs.renameAt(loc.dir, tmp, loc.name);
      } catch (err) {
        await this.fs.unlinkAt(loc.dir, tmp).catch(() => undefined);
        throw err;
      }
      await this.fs.fsync(loc.dir).catch(() => undefined);
      return loc.path;
    });
  }

  private async createTemp(dir: number, name: string, data: string | Uint8Array, mode: number) {
    const tmp = `.${name.slice(0, 80)}.lifeboat-tmp-${randomBytes(8).toString("hex")}`;
    const fd = await this.fs.openAt(dir, tmp, "create", mode);
    try {
      await this.fs.write(fd, typeof data === "string" ? Buffer.from(data) : data);
      await this.fs.fsync(fd);
    } catch (err) {
      await this.fs.close(fd).catch(() => undefined);
      await this.fs.unlinkAt(dir, tmp).catch(() => undefined);
      throw err;
    }
    await this.fs.close(fd);
    return tmp;
  }

  /**
   * Create a new file, exclusively (O_CREAT|O_EXCL|O_NOFOLLOW): nothing that exists at `path` —
   * file, link, FIFO, device node — is opened. Answers what is there instead when it exists.
   */
  createNew(
    path: string,
    data: string | Uint8Array,
    opts: CommonOpts & { mode?: number } = {},
  ): Promise<{ created: true; path: string } | { created: false; path: string; existing: NodeKind }> {
    return this.run("create", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: false });
      this.confine(loc, base, path);
      if (!loc.complete || loc.name === null)
        throw new LifeboatError("not-found", `the directory of ${path} does not exist`, { path });
      if (loc.st) return { created: false, path: loc.path, existing: loc.st.kind };
      let fd: number;
      try {
        fd = o.track(await this.fs.openAt(loc.dir, loc.name, "create", opts.mode ?? 0o644));
      } catch (err) {
        if (errno(err) !== "EEXIST") throw err;
        const st = await this.fs.lstatAt(loc.dir, loc.name);
        return { created: false, path: loc.path, existing: st?.kind ?? "file" };
      }
      try {
        await this.fs.write(fd, typeof data === "string" ? Buffer.from(data) : data);
        await this.fs.fsync(fd);
      } catch (err) {
        await this.fs.unlinkAt(loc.dir, loc.name).catch(() => undefined);
        throw err;
      }
      return { created: true, path: loc.path };
    });
  }

  /**
   * Append to a regular file (created when missing): O_APPEND|O_CREAT|O_NOFOLLOW|O_NONBLOCK; a
   * symlink, FIFO, device node or hard-linked file at `path` is refused, never written through.
   */
  append(
    path: string,
    data: string | Uint8Array,
    opts: CommonOpts & { mode?: number } = {},
  ): Promise<string> {
    return this.run("append", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: false });
      this.confine(loc, base, path);
      if (!loc.complete || loc.name === null)
        throw new LifeboatError("not-found", `the directory of ${path} does not exist`, { path });
      if (loc.st) this.expectFile(loc, true);
      const fd = o.track(await this.fs.openAt(loc.dir, loc.name, "append", opts.mode ?? 0o600));
      const now = await this.fs.fstat(fd);
      if (now.kind !== "file" || (loc.st && now.id !== loc.st.id) || now.nlink > 1)
        throw unsafe(loc.path, "changed", "changed while it was opened");
      await this.fs.write(fd, typeof data === "string" ? Buffer.from(data) : data);
      return loc.path;
    });
  }

  /** Remove a file or link (never a directory, never what a link points to); false when absent. */
  remove(path: string, opts: CommonOpts = {}): Promise<boolean> {
    return this.run("remove", path, async (o) => {
      const base = await this.base(o, opts.within);
      const loc = await this.chase(o, path, { follow: false });
      this.confine(loc, base, path);
      if (!loc.st || loc.name === null) return false;
      if (loc.st.kind === "dir") throw unsafe(loc.path, "dir", "is a directory, not removed");
      await this.fs.unlinkAt(loc.dir, loc.name);
      return true;
    });
  }
}
