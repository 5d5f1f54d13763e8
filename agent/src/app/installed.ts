import { LifeboatError } from "../core/errors.js";
import { type FstabEntry, parseFstab } from "../core/mounts.js";
import { RootFs, type RootFsOptions } from "../system/rootfs.js";
import type { System } from "../system/system.js";

export interface NixosIdentity {
  nixos: boolean;
  markers: string[];
  version: string | null;
  /** Store path of the current system profile, as the installed system sees it. */
  system: string | null;
}

/** Caps for what the agent reads from the installed system (a disk can hold anything). */
export const MAX_FSTAB = 256 * 1024;
export const MAX_SMALL = 64 * 1024;

/**
 * The installed system mounted at `root`: every file access goes through its confined door
 * (`files`, system/rootfs.ts), which resolves absolute store links inside the root.
 */
export class InstalledSystem {
  readonly files: RootFs;
  constructor(
    sys: System,
    readonly root: string,
    opts: RootFsOptions = {},
  ) {
    this.files = new RootFs(sys.dirfs, root, opts);
  }

  /** Text of a regular file (at most `max` bytes, else `file-too-large`); null when absent. */
  readText(path: string, max = MAX_SMALL): Promise<string | null> {
    return this.files.readText(path, { max });
  }

  async exists(path: string): Promise<boolean> {
    return (await this.files.stat(path)) !== null;
  }

  /**
   * The system's own fstab: /etc/fstab (a link into the store), else the current profile's copy.
   * A hostile or broken first candidate does not hide the second; when none is readable, the
   * first error is thrown (the caller falls back to the conventional layout and says why).
   */
  async readFstab(): Promise<{ path: string; entries: FstabEntry[] } | null> {
    let first: unknown = null;
    for (const path of ["/etc/fstab", "/nix/var/nix/profiles/system/etc/fstab"]) {
      try {
        const text = await this.files.readText(path, { max: MAX_FSTAB });
        if (text !== null) return { path, entries: parseFstab(text) };
      } catch (err) {
        first ??= err;
      }
    }
    if (first) throw first;
    return null;
  }

  /** NixOS markers, version and current system; never throws on what the disk holds. */
  async identify(): Promise<NixosIdentity> {
    const markers: string[] = [];
    const quiet = <T>(p: Promise<T>, fallback: T) =>
      p.catch((err) => {
        if (err instanceof LifeboatError) return fallback;
        throw err;
      });
    if (await quiet(this.exists("/etc/NIXOS"), false)) markers.push("/etc/NIXOS");
    const system = await quiet(this.files.realpath("/nix/var/nix/profiles/system"), null);
    if (system !== null) markers.push("/nix/var/nix/profiles/system");
    const version =
      (
        await quiet(this.files.readText("/nix/var/nix/profiles/system/nixos-version", { max: 4096 }), null)
      )?.trim() || null;
    return { nixos: markers.length > 0, markers, version, system };
  }
}
