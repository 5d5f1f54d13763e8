import { constants } from "node:fs";
import { type FileHandle, lstat, mkdir, open, readlink } from "node:fs/promises";
import { LifeboatError } from "../core/errors.js";

/**
 * Mount targets inside the installed system, opened the way systemd's chase() walks a path: one
 * component at a time from the rescue root, each opened relative to the directory fd before it
 * (`/proc/self/fd/<dir>/<name>`, the kernel's openat), never following a symlink
 * (O_NOFOLLOW|O_DIRECTORY: a link or a non-directory anywhere on the way fails with ENOTDIR or
 * ELOOP). The result is an O_PATH fd of the verified directory; mount(8) is given
 * `/proc/<agent pid>/fd/<n>` with --no-canonicalize, so the kernel mounts onto that very
 * directory and nothing re-resolves the path (checked on Linux 6.18 / util-linux 2.38: the mount
 * table then shows the directory's real path).
 */

/** Linux O_PATH (asm-generic/fcntl.h: 010000000); Node passes numeric flags through to open(2). */
export const O_PATH = 0o10000000;
const WALK = O_PATH | constants.O_NOFOLLOW | constants.O_DIRECTORY;

export interface DirHandle {
  /** What mount(8) is given: /proc/<pid>/fd/<n>. */
  readonly procPath: string;
  /** Host path it was opened as (for messages; the kernel's view is in the mount table). */
  readonly path: string;
  close(): Promise<void>;
}

export interface OpenedDir {
  dir: DirHandle;
  /** Directories created on the way (host paths), in order. */
  created: string[];
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The segments of a path inside the installed system; refuses `.`/`..`, NUL and empty names. */
export function segmentsOf(path: string): string[] {
  if (!path.startsWith("/") || path.includes("\0"))
    throw new LifeboatError(
      "unsafe-mountpoint",
      `${JSON.stringify(path.slice(0, 100))} is not an absolute path`,
    );
  const segs = path.split("/").filter((s) => s !== "");
  if (segs.some((s) => s === "." || s === ".."))
    throw new LifeboatError(
      "unsafe-mountpoint",
      `${JSON.stringify(path.slice(0, 100))} has . or .. segments`,
    );
  return segs;
}

function handle(fh: FileHandle, path: string): DirHandle {
  return {
    procPath: `/proc/${process.pid}/fd/${fh.fd}`,
    path,
    close: () => fh.close().catch(() => undefined),
  };
}

async function describe(at: string, shown: string): Promise<LifeboatError> {
  const st = await lstat(at).catch(() => null);
  if (st?.isSymbolicLink()) {
    const to = await readlink(at).catch(() => "?");
    return new LifeboatError(
      "unsafe-mountpoint",
      `${shown} is a symbolic link (to ${JSON.stringify(to.slice(0, 100))}) in the installed system: refusing to mount through it`,
      { path: shown },
    );
  }
  return new LifeboatError("unsafe-mountpoint", `${shown} is not a directory in the installed system`, {
    path: shown,
  });
}

/**
 * Open `path` (inside the installed system) under `hostRoot` (the rescue root, trusted, created
 * when missing) without following any symlink. Missing directories are created (0755) only when
 * `create` is set; otherwise a missing one is a `mount-failed` problem naming it. `shownRoot` is
 * what messages call the root (the fake system maps its sandbox back).
 */
export async function openDirInRoot(
  hostRoot: string,
  path: string,
  opts: { create: boolean; shownRoot?: string },
): Promise<OpenedDir> {
  const segs = segmentsOf(path);
  const shownRoot = (opts.shownRoot ?? hostRoot).replace(/\/+$/, "");
  const root = hostRoot.replace(/\/+$/, "") || "/";
  await mkdir(root, { recursive: true, mode: 0o755 });
  // The rescue root is configuration, not disk data: opened as configured (a mount on it is fine).
  let cur = await open(root, O_PATH | constants.O_DIRECTORY);
  const created: string[] = [];
  let shown = shownRoot;
  try {
    for (const seg of segs) {
      const at = `/proc/self/fd/${cur.fd}/${seg}`;
      shown = `${shown}/${seg}`;
      let next: FileHandle | null = null;
      for (let attempt = 0; next === null; attempt++) {
        try {
          next = await open(at, WALK);
        } catch (err) {
          const code = errno(err);
          if (code === "ENOENT" && opts.create && attempt === 0) {
            try {
              await mkdir(at, { mode: 0o755 });
              created.push(shown);
            } catch (e) {
              if (errno(e) !== "EEXIST") throw e;
            }
            continue;
          }
          if (code === "ENOENT")
            throw new LifeboatError(
              "mount-failed",
              `mountpoint ${shown} does not exist in the installed system (read-only: not created)`,
              { path: shown, missingMountpoint: true },
            );
          if (code === "ENOTDIR" || code === "ELOOP") throw await describe(at, shown);
          throw err;
        }
      }
      // not waited for: the walk goes on with the next level while the last one is closed
      void cur.close().catch(() => undefined);
      cur = next;
    }
  } catch (err) {
    await cur.close().catch(() => undefined);
    throw err;
  }
  return { dir: handle(cur, shown), created };
}
