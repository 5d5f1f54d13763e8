import type { UnderMountFacts } from "../core/diagnosis.js";
import type { RootFs } from "../system/rootfs.js";
import type { System } from "../system/system.js";
import { underneath } from "../system/underneath.js";

/** The boot loaders' own places under the ESP's mount point (systemd-boot's builder, GRUB's install-grub.pl). */
const PLACES = ["loader/entries", "loader", "EFI/nixos", "EFI/systemd", "EFI/BOOT", "grub", "kernels"];
const MAX_PER_DIR = 200;

/** The regular files of the boot loaders' places under `mountPoint` in a view of the root file system alone. */
export async function bootFilesIn(view: RootFs, mountPoint: string): Promise<UnderMountFacts> {
  const files: UnderMountFacts["files"] = [];
  const notes: string[] = [];
  const top = await view.stat(mountPoint, { follow: false }).catch((err: Error) => {
    notes.push(`${mountPoint}: ${err.message}`);
    return null;
  });
  if (top?.kind === "dir")
    for (const place of PLACES) {
      const dir = `${mountPoint}/${place}`;
      const listing = await view.list(dir, { max: MAX_PER_DIR, within: mountPoint }).catch((err: Error) => {
        notes.push(`${dir}: ${err.message}`);
        return null;
      });
      for (const e of listing?.entries ?? [])
        if (e.kind === "file")
          files.push({ path: `${dir}/${e.name}`, size: e.size, mtime: new Date(e.mtimeMs).toISOString() });
      if (listing?.truncated) notes.push(`${dir}: more than ${MAX_PER_DIR} entries, the first read`);
    }
  return { mountPoint, files, notes };
}

/**
 * What the installed root file system holds under the ESP's mount point, which the mounted ESP
 * hides: read in a read-only view of the root file system alone (system/underneath.ts).
 */
export async function underEsp(
  sys: System,
  root: string,
  mountPoint: string,
  timeoutMs?: number,
): Promise<UnderMountFacts> {
  try {
    return await underneath(sys, root, (view) => bootFilesIn(view, mountPoint), { timeoutMs });
  } catch (err) {
    return { mountPoint, files: null, notes: [(err as Error).message] };
  }
}
