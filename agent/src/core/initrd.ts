import { gunzipSync } from "node:zlib";
import { Decompress } from "fzstd";

/**
 * What a NixOS initrd says about its kernel modules, read from the archive itself (the initrd file of
 * a generation, in the store or on the ESP). Pure: bytes in, data out.
 *
 * Shape, per nixpkgs: `makeInitrd`/`makeInitrdNG` write newc cpio archives (GNU cpio `-H newc`),
 * compressed with `boot.initrd.compressor` (zstd by default on current kernels, gzip before; xz and
 * others are possible) and possibly preceded by uncompressed archives (`boot.initrd.prepend`, e.g.
 * CPU microcode). The archive holds the module closure of `availableKernelModules ++ kernelModules`
 * (`…-linux-<v>-modules-shrunk/lib/modules/<v>/…/*.ko*`). Which modules stage 1 loads by itself
 * (`boot.initrd.kernelModules`) is in the scripted stage 1's `/init` (stage-1-init.sh:
 * `for i in <modules>; do … modprobe $i`) or, with systemd in stage 1, in
 * `/etc/modules-load.d/nixos.conf` (nixos/modules/system/boot/systemd/initrd.nix).
 */
export interface InitrdInfo {
  /** Segments in file order: "cpio", "gzip", "zstd", or an unreadable format. */
  segments: string[];
  kernelVersions: string[];
  /** Every module file in the archive (module names, `-` written as `_`), sorted. */
  modules: string[];
  /** Modules stage 1 loads unconditionally (boot.initrd.kernelModules); null when not found. */
  loaded: string[] | null;
  stage1: "scripted" | "systemd" | "unknown";
  /** Where `loaded` was read from, inside the archive. */
  loadedFrom: string | null;
  entries: number;
  notes: string[];
}

const MAX_OUTPUT = 512 * 1024 * 1024;
const KEEP_DATA = 256 * 1024;

interface CpioEntry {
  type: "file" | "dir" | "link" | "other";
  size: number;
  data: Buffer | null;
  link: string | null;
}

const MAGIC: [string, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["lz4", [0x02, 0x21, 0x4c, 0x18]],
  ["lzma", [0x5d, 0x00, 0x00]],
];

function formatAt(buf: Buffer, off: number): string | null {
  if (buf.toString("latin1", off, off + 6) === "070701" || buf.toString("latin1", off, off + 6) === "070702")
    return "cpio";
  for (const [name, bytes] of MAGIC) if (bytes.every((b, i) => buf[off + i] === b)) return name;
  return null;
}

function zstdDecompress(data: Buffer): Buffer {
  const chunks: Uint8Array[] = [];
  let total = 0;
  const d = new Decompress((chunk) => {
    total += chunk.length;
    if (total > MAX_OUTPUT) throw new Error("decompressed initrd larger than 512 MiB");
    chunks.push(chunk);
  });
  d.push(data, true);
  return Buffer.concat(chunks);
}

/** Parse newc cpio archives from `buf` at `off` (one or more, zero padding between). */
function readCpio(buf: Buffer, start: number, out: Map<string, CpioEntry>): number {
  let off = start;
  while (off < buf.length) {
    while (off < buf.length && buf[off] === 0) off++;
    if (off >= buf.length || formatAt(buf, off) !== "cpio") return off;
    if (off + 110 > buf.length) throw new Error("cpio archive cut short in a header");
    const hex = (i: number) => Number.parseInt(buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = hex(1);
    const size = hex(6);
    const nameSize = hex(11);
    if (!Number.isFinite(mode) || !Number.isFinite(size) || !Number.isFinite(nameSize) || nameSize < 1)
      throw new Error(`bad cpio header at byte ${off}`);
    const nameEnd = off + 110 + nameSize;
    if (nameEnd > buf.length) throw new Error("cpio archive cut short in a file name");
    const name = buf
      .toString("utf8", off + 110, nameEnd - 1)
      .replace(/^\.?\/+/, "")
      .replace(/\/+$/, "");
    const dataStart = (nameEnd + 3) & ~3;
    const dataEnd = dataStart + size;
    if (dataEnd > buf.length)
      throw new Error(`cpio archive cut short in ${JSON.stringify(name.slice(0, 80))}`);
    off = (dataEnd + 3) & ~3;
    if (name === "TRAILER!!!") continue;
    const kind = mode & 0o170000;
    const type =
      kind === 0o100000 ? "file" : kind === 0o040000 ? "dir" : kind === 0o120000 ? "link" : "other";
    out.set(name, {
      type,
      size,
      data: type === "file" && size <= KEEP_DATA ? buf.subarray(dataStart, dataEnd) : null,
      link: type === "link" ? buf.toString("utf8", dataStart, dataEnd) : null,
    });
  }
  return off;
}

/** Follow links inside the archive (absolute targets are archive-relative, as after switch_root). */
function resolve(entries: Map<string, CpioEntry>, path: string): { name: string; entry: CpioEntry } | null {
  let parts = path.split("/").filter(Boolean);
  for (let hops = 0; hops < 40; hops++) {
    let changed = false;
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      const e = entries.get(prefix);
      if (e?.type === "link" && e.link !== null) {
        const target = e.link.split("/").filter(Boolean);
        const base = e.link.startsWith("/") ? [] : parts.slice(0, i - 1);
        const joined: string[] = [];
        for (const s of [...base, ...target, ...parts.slice(i)]) {
          if (s === "..") joined.pop();
          else if (s !== ".") joined.push(s);
        }
        parts = joined;
        changed = true;
        break;
      }
    }
    if (!changed) {
      const name = parts.join("/");
      const entry = entries.get(name);
      return entry ? { name, entry } : null;
    }
  }
  return null;
}

const MODULE = /(?:^|\/)lib\/modules\/([^/]+)\/(?:.+\/)?([^/]+)\.ko(?:\.(?:xz|zst|gz))?$/;

export const moduleName = (m: string): string => m.replace(/-/g, "_");

/** Modules a scripted stage 1 loads: the substituted `for i in @kernelModules@; do` of stage-1-init.sh. */
export function scriptedStage1Modules(script: string): string[] | null {
  const m = /# Load the required kernel modules\.[\s\S]{0,400}?\n\s*for i in ([^;\n]*); do/.exec(script);
  if (!m) return null;
  return (m[1] as string).split(/\s+/).filter(Boolean).map(moduleName);
}

export function readInitrd(buf: Buffer): InitrdInfo {
  const entries = new Map<string, CpioEntry>();
  const segments: string[] = [];
  const notes: string[] = [];
  let off = 0;
  while (off < buf.length) {
    while (off < buf.length && buf[off] === 0) off++;
    if (off >= buf.length) break;
    const fmt = formatAt(buf, off);
    if (fmt === "cpio") {
      segments.push("cpio");
      try {
        off = readCpio(buf, off, entries);
      } catch (err) {
        notes.push(`the cpio archive at byte ${off} is not readable: ${(err as Error).message}`);
        break;
      }
      continue;
    }
    if (fmt === "gzip" || fmt === "zstd") {
      segments.push(fmt);
      let plain: Buffer;
      try {
        plain =
          fmt === "gzip"
            ? gunzipSync(buf.subarray(off), { maxOutputLength: MAX_OUTPUT })
            : zstdDecompress(buf.subarray(off));
      } catch (err) {
        notes.push(`the ${fmt} part at byte ${off} could not be decompressed: ${(err as Error).message}`);
        break;
      }
      try {
        readCpio(plain, 0, entries);
      } catch (err) {
        notes.push(
          `the ${fmt} part at byte ${off} is not a readable cpio archive: ${(err as Error).message}`,
        );
      }
      break; // a compressed stream runs to the end of the file (further members are inside it)
    }
    segments.push(fmt ?? "unknown");
    notes.push(
      fmt
        ? `the ${fmt}-compressed part at byte ${off} cannot be read here (gzip and zstd can): its modules are not listed`
        : `unrecognised data at byte ${off}: not a cpio archive or a known compression`,
    );
    break;
  }
  const kernels = new Set<string>();
  const modules = new Set<string>();
  for (const name of entries.keys()) {
    const m = MODULE.exec(name);
    if (!m) continue;
    kernels.add(m[1] as string);
    modules.add(moduleName(m[2] as string));
  }
  let loaded: string[] | null = null;
  let loadedFrom: string | null = null;
  let stage1: InitrdInfo["stage1"] = "unknown";
  const modulesLoad = resolve(entries, "etc/modules-load.d/nixos.conf");
  const init = resolve(entries, "init");
  const initText = init?.entry.data ? init.entry.data.toString("utf8") : null;
  if (initText?.startsWith("#!")) {
    stage1 = "scripted";
    loaded = scriptedStage1Modules(initText);
    if (loaded) loadedFrom = `/${init?.name}`;
    else notes.push(`/init (${init?.name}) has no module loading loop: which modules it loads is unknown`);
  } else if (modulesLoad?.entry.data) {
    stage1 = "systemd";
    loaded = modulesLoad.entry.data
      .toString("utf8")
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#") && !l.startsWith(";"))
      .map(moduleName);
    loadedFrom = `/${modulesLoad.name}`;
  } else if (entries.size > 0) notes.push("neither a stage-1 script nor modules-load.d/nixos.conf was found");
  return {
    segments,
    kernelVersions: [...kernels].sort(),
    modules: [...modules].sort(),
    loaded,
    stage1,
    loadedFrom,
    entries: entries.size,
    notes,
  };
}
