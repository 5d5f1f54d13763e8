/**
 * The string-level model of resolving a path inside a root (the agent's old resolver, kept as a
 * test oracle): the planner fuzz compares what the kernel really resolves with it. The agent
 * itself resolves through system/rootfs.ts (descriptors) and system/mounttarget.ts (O_PATH).
 */
import { LifeboatError } from "../../agent/src/core/errors.js";

/** How the resolver looks at one path component (injected, so the algorithm stays pure). */
export interface LinkReader {
  /** Target of a symlink, or null when the path is not a symlink (or does not exist). */
  readlink(hostPath: string): Promise<string | null>;
}

const MAX_LINKS = 40;

function segments(path: string): string[] {
  return path.split("/").filter((s) => s !== "" && s !== ".");
}

/**
 * Resolve `path` as the installed system would see it, with `root` as its "/": absolute symlinks
 * (NixOS store links) and `..` are interpreted inside the root, so nothing can escape it.
 * Returns the host path. The final component is followed too unless `followLast` is false.
 */
export async function resolveInRoot(
  root: string,
  path: string,
  reader: LinkReader,
  followLast = true,
): Promise<string> {
  if (path.includes("\0")) throw new LifeboatError("path-escape", "path contains a NUL byte");
  const rootClean = root.replace(/\/+$/, "") || "";
  let pending = segments(path);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const seg = pending.shift() as string;
    if (seg === "..") {
      done.pop(); // ".." at the top stays at the top, as in a chroot
      continue;
    }
    done.push(seg);
    if (pending.length === 0 && !followLast) break;
    const target = await reader.readlink(`${rootClean}/${done.join("/")}`);
    if (target === null) continue;
    if (++links > MAX_LINKS)
      throw new LifeboatError("path-escape", `too many levels of symbolic links at /${done.join("/")}`);
    done.pop();
    const rest = segments(target);
    if (target.startsWith("/")) done.length = 0;
    pending = [...rest, ...pending];
  }
  return `${rootClean}/${done.join("/")}`;
}

/**
 * Validate a request path relative to a directory inside the root (e.g. "/etc/nixos") and return
 * its resolved host path; refuse anything that resolves outside that directory.
 */
export async function resolveConfined(
  root: string,
  base: string,
  rel: string,
  reader: LinkReader,
): Promise<string> {
  if (rel.includes("\0")) throw new LifeboatError("path-escape", "path contains a NUL byte");
  const baseHost = await resolveInRoot(root, base, reader);
  const full = await resolveInRoot(root, `${base}/${rel}`, reader);
  if (full !== baseHost && !full.startsWith(`${baseHost}/`))
    throw new LifeboatError("path-escape", `${rel} resolves outside ${base}`, { path: rel });
  return full;
}
