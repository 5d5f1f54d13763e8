import { ParseError } from "./errors.js";

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string[];
}

export interface FstabEntry extends MountEntry {
  freq: number;
  passno: number;
  /** Made from this mount unit of the generation (core/bootUnits.ts), not read from the fstab. */
  unit?: string;
}

/** Undo the octal escapes the kernel and fstab use for space, tab, newline and backslash. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** Collects skipped lines as warnings (capped) instead of failing the whole text. */
function sink(what: string, warnings: string[] | undefined) {
  let n = 0;
  return (detail: string) => {
    if (!warnings) throw new ParseError(what, detail);
    if (n++ < 20) warnings.push(`${what}: skipped ${detail}`);
  };
}

/**
 * /proc/mounts (= /proc/self/mounts). With a `warnings` sink a line that does not parse is skipped
 * and described there; without one it is a ParseError.
 */
export function parseProcMounts(text: string, warnings?: string[]): MountEntry[] {
  const out: MountEntry[] = [];
  const bad = sink("/proc/mounts", warnings);
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 4) {
      bad(`short line ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    out.push({
      source: unescapeOctal(f[0] as string),
      target: unescapeOctal(f[1] as string),
      fstype: f[2] as string,
      options: (f[3] as string).split(","),
    });
  }
  return out;
}

/**
 * fstab(5), as NixOS generates it in /etc/fstab of a system closure (nixos/modules/tasks/
 * filesystems.nix: device and mount point with space and tab escaped as \040 and \011). With a
 * `warnings` sink a line that does not parse is skipped and described there.
 */
export function parseFstab(text: string, warnings?: string[]): FstabEntry[] {
  const out: FstabEntry[] = [];
  const bad = sink("fstab", warnings);
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    const f = line.split(/\s+/);
    if (f.length < 3) {
      bad(`an entry with fewer than 3 fields: ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    out.push({
      source: unescapeOctal(f[0] as string),
      target: unescapeOctal(f[1] as string),
      fstype: f[2] as string,
      options: (f[3] ?? "defaults").split(","),
      freq: Number.parseInt(f[4] ?? "0", 10) || 0,
      passno: Number.parseInt(f[5] ?? "0", 10) || 0,
    });
  }
  return out;
}

/** Whether `path` is `root` or lies below it (a trailing slash on `root` does not count). */
export function within(path: string, root: string): boolean {
  const r = root.replace(/\/+$/, "") || "/";
  return path === r || path.startsWith(r === "/" ? "/" : `${r}/`);
}

/** Mounts at or below `root`, in /proc/mounts order (parents before children). */
export function mountsUnder(mounts: MountEntry[], root: string): MountEntry[] {
  return mounts.filter((m) => within(m.target, root));
}

const lineKey = (m: MountEntry): string => `${m.source}\0${m.target}\0${m.fstype}`;

/** Entries of `after` that `before` does not have (counted: the same line may be mounted twice). */
export function addedSince(before: readonly MountEntry[], after: readonly MountEntry[]): MountEntry[] {
  const seen = new Map<string, number>();
  for (const m of before) seen.set(lineKey(m), (seen.get(lineKey(m)) ?? 0) + 1);
  const added: MountEntry[] = [];
  for (const m of after) {
    const n = seen.get(lineKey(m)) ?? 0;
    if (n > 0) seen.set(lineKey(m), n - 1);
    else added.push(m);
  }
  return added;
}

export function isReadOnly(m: MountEntry): boolean {
  return m.options.includes("ro");
}
