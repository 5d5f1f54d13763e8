import { type BigIntStats, close, constants, fstat, fsync, open, read, write } from "node:fs";
import { lstat, mkdir, opendir, readlink, rename, unlink } from "node:fs/promises";
import type { DirFs, NodeKind, NodeStat, OpenHow } from "./system.js";

// Descriptor-level calls (node:fs/promises only has FileHandles, which own their descriptor).
const cb = <T>(f: (done: (err: NodeJS.ErrnoException | null, v: T) => void) => void) =>
  new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));
const p = {
  open: (path: string, flags: number, mode: number) => cb<number>((d) => open(path, flags, mode, d)),
  close: (fd: number) => cb<void>((d) => close(fd, (e) => d(e, undefined))),
  fstat: (fd: number) => cb<BigIntStats>((d) => fstat(fd, { bigint: true }, d)),
  fsync: (fd: number) => cb<void>((d) => fsync(fd, (e) => d(e, undefined))),
  read: (fd: number, buf: Buffer, off: number, len: number, pos: number) =>
    cb<number>((d) => read(fd, buf, off, len, pos, (e, n) => d(e, n))),
  write: (fd: number, data: Uint8Array, off: number, len: number) =>
    cb<number>((d) => write(fd, data, off, len, null, (e, n) => d(e, n))),
};

const C = constants;
// libuv opens every file with O_CLOEXEC on Linux; O_NONBLOCK keeps a FIFO from blocking the open
// (and a worker thread with it), O_NOCTTY keeps a planted tty node from becoming ours.
const SAFE = C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;
const FLAGS: Record<OpenHow, number> = {
  dir: C.O_RDONLY | C.O_DIRECTORY | SAFE,
  read: C.O_RDONLY | SAFE,
  create: C.O_WRONLY | C.O_CREAT | C.O_EXCL | SAFE,
  append: C.O_WRONLY | C.O_APPEND | C.O_CREAT | SAFE,
};

function kindOf(s: BigIntStats): NodeKind {
  if (s.isSymbolicLink()) return "link";
  if (s.isDirectory()) return "dir";
  if (s.isFile()) return "file";
  if (s.isCharacterDevice()) return "char";
  if (s.isBlockDevice()) return "block";
  if (s.isFIFO()) return "fifo";
  return "socket";
}

function statOf(s: BigIntStats): NodeStat {
  return {
    kind: kindOf(s),
    id: `${s.dev}:${s.ino}`,
    size: Number(s.size),
    mode: Number(s.mode & 0o7777n),
    nlink: Number(s.nlink),
    mtimeMs: Number(s.mtimeMs),
    gid: Number(s.gid),
  };
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * openat(2) for Node: Node has no *at() calls, so a name is reached through the magic link
 * /proc/self/fd/<dir>: the kernel follows it to the very directory the descriptor holds (even if
 * it was renamed or replaced by a link since), then looks up `name` in it without following a
 * final symlink (O_NOFOLLOW, lstat, readlink, rename, unlink never follow the last component).
 * Needs /proc, which the ISO and every Linux test host mount.
 */
export class NodeDirFs implements DirFs {
  private at(dir: number, name: string): string {
    if (!Number.isInteger(dir) || dir < 0)
      throw Object.assign(new Error("bad descriptor"), { code: "EBADF" });
    if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0"))
      throw Object.assign(new Error(`not one path component: ${JSON.stringify(name)}`), { code: "EINVAL" });
    return `/proc/self/fd/${dir}/${name}`;
  }

  async openRoot(path: string): Promise<number> {
    return p.open(path, FLAGS.dir, 0);
  }

  async lstatAt(dir: number, name: string): Promise<NodeStat | null> {
    try {
      return statOf(await lstat(this.at(dir, name), { bigint: true }));
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return null;
      throw err;
    }
  }

  async readlinkAt(dir: number, name: string): Promise<string | null> {
    try {
      return await readlink(this.at(dir, name), "utf8");
    } catch (err) {
      if (errno(err) === "ENOENT" || errno(err) === "ENOTDIR") return null;
      throw err;
    }
  }

  openAt(dir: number, name: string, how: OpenHow, mode = 0o644): Promise<number> {
    return p.open(this.at(dir, name), FLAGS[how], mode);
  }

  async fstat(fd: number): Promise<NodeStat> {
    return statOf(await p.fstat(fd));
  }

  async read(fd: number, max: number): Promise<Buffer> {
    const buf = Buffer.alloc(Math.max(0, max));
    let got = 0;
    while (got < buf.length) {
      const n = await p.read(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  }

  async write(fd: number, data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) done += await p.write(fd, data, done, data.length - done);
  }

  async fsync(fd: number): Promise<void> {
    await p.fsync(fd);
  }

  async close(fd: number): Promise<void> {
    await p.close(fd);
  }

  async readdir(dir: number, max: number): Promise<Buffer[]> {
    // opendir streams the directory: a planted directory with millions of entries costs `max`.
    const d = await opendir(`/proc/self/fd/${dir}`, { encoding: "buffer" as BufferEncoding, bufferSize: 64 });
    const out: Buffer[] = [];
    try {
      for (let e = await d.read(); e !== null && out.length < max; e = await d.read())
        out.push(e.name as unknown as Buffer);
    } finally {
      await d.close().catch(() => undefined);
    }
    return out;
  }

  async mkdirAt(dir: number, name: string, mode: number): Promise<void> {
    await mkdir(this.at(dir, name), { mode });
  }

  async renameAt(dir: number, from: string, to: string): Promise<void> {
    await rename(this.at(dir, from), this.at(dir, to));
  }

  async unlinkAt(dir: number, name: string): Promise<void> {
    await unlink(this.at(dir, name));
  }
}
