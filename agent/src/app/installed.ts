import { type FstabEntry, parseFstab } from "../core/mounts.js";
import { type LinkReader, resolveInRoot } from "../core/paths.js";
import type { System } from "../system/system.js";

export interface NixosIdentity {
  nixos: boolean;
  markers: string[];
  version: string | null;
  /** Store path of the current system profile, as the installed system sees it. */
  system: string | null;
}

/** Reads the installed system mounted at `root`, resolving its absolute store links inside the root. */
export class InstalledSystem {
  readonly reader: LinkReader;
  constructor(
    private readonly sys: System,
    readonly root: string,
  ) {
    this.reader = { readlink: (p) => sys.readlink(p) };
  }

  resolve(path: string): Promise<string> {
    return resolveInRoot(this.root, path, this.reader);
  }

  async readText(path: string): Promise<string | null> {
    const buf = await this.sys.readFile(await this.resolve(path));
    return buf ? buf.toString("utf8") : null;
  }

  async exists(path: string): Promise<boolean> {
    return (await this.sys.lstat(await this.resolve(path))) !== null;
  }

  /** The system's own fstab: /etc/fstab (a link into the store), else the current profile's copy. */
  async readFstab(): Promise<{ path: string; entries: FstabEntry[] } | null> {
    for (const path of ["/etc/fstab", "/nix/var/nix/profiles/system/etc/fstab"]) {
      const text = await this.readText(path);
      if (text !== null) return { path, entries: parseFstab(text) };
    }
    return null;
  }

  async identify(): Promise<NixosIdentity> {
    const markers: string[] = [];
    if (await this.exists("/etc/NIXOS")) markers.push("/etc/NIXOS");
    let system: string | null = null;
    const profile = await this.resolve("/nix/var/nix/profiles/system");
    if (await this.sys.lstat(profile)) {
      markers.push("/nix/var/nix/profiles/system");
      system = profile.slice(this.root.replace(/\/+$/, "").length) || "/";
    }
    const version = (await this.readText("/nix/var/nix/profiles/system/nixos-version"))?.trim() || null;
    return { nixos: markers.length > 0, markers, version, system };
  }
}
