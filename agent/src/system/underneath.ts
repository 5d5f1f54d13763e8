import { LifeboatError } from "../core/errors.js";
import { RootFs, type RootFsOptions } from "./rootfs.js";
import type { System } from "./system.js";

/**
 * Where the view of the root file system alone is attached while it is read (one look at a time:
 * the diagnosis, its only reader, runs one computation at a time), like PROBE_DIR beside it.
 */
export const UNDERNEATH_DIR = "/run/lifeboat/underneath";

/**
 * What the installed root file system itself holds under its mount points, where another file
 * system (the ESP at /boot) now covers it: `nixos-rebuild` run while /boot was not mounted wrote
 * the boot loader's files into the root's own /boot, which the mounted ESP hides.
 *
 * How: a non-recursive bind of the root mount (`mount --bind`, not `--rbind`: the submounts, the
 * ESP among them, are not carried along) to a private directory under /run/lifeboat, read-only
 * (`ro`: not even an access time is written through it; nosuid, nodev, noexec), made private so
 * that no mount elsewhere propagates into it while it exists; read through the one door to the
 * installed system's files (RootFs rooted at the view: every path resolved inside it, no link
 * followed out, device nodes and FIFOs refused, reads capped); detached again, also on error.
 * Why not a directory descriptor kept from before the ESP was mounted: the mount flow would have to
 * hold one open for every mount point, for the lifetime of the mount, for a question asked rarely.
 */
export async function underneath<T>(
  sys: System,
  root: string,
  fn: (view: RootFs) => Promise<T>,
  opts: RootFsOptions = {},
): Promise<T> {
  const dir = UNDERNEATH_DIR;
  await sys.mkdir(dir);
  // The bind and its undo run even when the reader is cancelled meanwhile (`uncancelled`): a bind
  // left behind would hold the root dataset after the operator's unmount.
  const m = await sys.run("mount", ["--bind", "--make-private", "-o", "ro,nosuid,nodev,noexec", root, dir], {
    uncancelled: true,
  });
  if (m.exitCode !== 0)
    throw new LifeboatError(
      "command-failed",
      `could not look under the mounts of ${root}: ${m.stderr.trim().split("\n")[0] ?? `exit ${m.exitCode}`}`,
    );
  try {
    return await fn(new RootFs(sys.dirfs, dir, opts));
  } finally {
    const u = await sys.run("umount", [dir], { uncancelled: true });
    // a reader of the view still busy (a deadline passed): detach it lazily, never leave it behind
    if (u.exitCode !== 0) await sys.run("umount", ["--lazy", dir], { uncancelled: true });
  }
}
