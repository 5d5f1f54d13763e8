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

/** Inflated bytes read from a compressed part; more ends the read with InitrdTooLarge. */
export const MAX_INFLATED = 256 * 1024 * 1024;
/** Archive entries kept; more ends the read with InitrdTooLarge. */
export const MAX_ENTRIES = 200_000;
const KEEP_DATA = 256 * 1024;
const MAX_NAME = 4096;

/** The initrd inflates (or lists) past the caps: a bomb, or not an initrd worth reading. */
export class InitrdTooLarge extends Error {}

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

/** mode, size and name size of the newc header at `off` (110 bytes available). */
function cpioHeader(buf: Buffer, off: number): { mode: number; size: number; nameSize: number } {
  const hex = (i: number) => Number.parseInt(buf.toString("latin1", off + 6 + i * 8, off + 14 + i * 8), 16);
  const mode = hex(1);
  const size = hex(6);
  const nameSize = hex(11);
  if (!Number.isFinite(mode) || !Number.isFinite(size) || !Number.isFinite(nameSize) || nameSize < 1)
    throw new Error(`bad cpio header at byte ${off}`);
  return { mode, size, nameSize };
}

function entryOf(mode: number, size: number, data: Buffer | null): CpioEntry {
  const kind = mode & 0o170000;
  const type = kind === 0o100000 ? "file" : kind === 0o040000 ? "dir" : kind === 0o120000 ? "link" : "other";
  return {
    type,
    size,
    data: type === "file" && data ? data : null,
    link: type === "link" && data ? data.toString("utf8") : null,
  };
}

function keep(entries: Map<string, CpioEntry>, name: string, e: CpioEntry): void {
  if (name === "TRAILER!!!") return;
  entries.set(name, e);
  if (entries.size > MAX_ENTRIES) throw new InitrdTooLarge(`more than ${MAX_ENTRIES} archive entries`);
}

/**
 * newc cpio archives read as a stream of inflated chunks: only headers, names and the small files
 * it looks into (KEEP_DATA) are held, so an archive inflating to any size costs no more memory
 * than its entry list. Inflated bytes are counted against MAX_INFLATED.
 */
class CpioStream {
  private pos = 0;
  private phase: "seek" | "header" | "name" | "pad" | "data" | "skip" | "stop" = "seek";
  private need = 0;
  private acc: Buffer[] = [];
  private accLen = 0;
  private head = { mode: 0, size: 0, nameSize: 0 };
  private name = "";
  private after: "data" | "seek" = "seek";
  error: string | null = null;
  constructor(private readonly entries: Map<string, CpioEntry>) {}

  push(chunk: Uint8Array): void {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.pos + buf.length > MAX_INFLATED)
      throw new InitrdTooLarge(`it inflates past ${MAX_INFLATED / 1024 / 1024} MiB`);
    let i = 0;
    while (i < buf.length && this.phase !== "stop") {
      if (this.phase === "seek") {
        if (buf[i] === 0) {
          i++;
          this.pos++;
          continue;
        }
        this.phase = "header";
        this.need = 110;
      }
      if (this.phase === "pad" || this.phase === "skip") {
        const n = Math.min(this.need, buf.length - i);
        i += n;
        this.pos += n;
        this.need -= n;
        if (this.need === 0) this.next(null);
        continue;
      }
      const n = Math.min(this.need - this.accLen, buf.length - i);
      this.acc.push(buf.subarray(i, i + n));
      this.accLen += n;
      i += n;
      this.pos += n;
      if (this.accLen === this.need) {
        const whole = Buffer.concat(this.acc);
        this.acc = [];
        this.accLen = 0;
        this.next(whole);
      }
    }
  }

  /** A phase's bytes are complete: go on to the next. */
  private next(bytes: Buffer | null): void {
    const align = () => (4 - (this.pos % 4)) % 4;
    const skipThen = (n: number, then: "data" | "seek"): void => {
      this.after = then;
      if (n === 0) this.startAfter();
      else {
        this.phase = "pad";
        this.need = n;
      }
    };
    switch (this.phase) {
      case "header": {
        const b = bytes as Buffer;
        if (formatAt(b, 0) !== "cpio") {
          this.error = `not a cpio archive at inflated byte ${this.pos - 110}`;
          this.phase = "stop";
          return;
        }
        this.head = cpioHeader(b, 0);
        if (this.head.nameSize > MAX_NAME) throw new Error(`a file name of ${this.head.nameSize} bytes`);
        this.phase = "name";
        this.need = this.head.nameSize;
        return;
      }
      case "name":
        this.name = (bytes as Buffer)
          .toString("utf8", 0, this.head.nameSize - 1)
          .replace(/^\.?\/+/, "")
          .replace(/\/+$/, "");
        skipThen(align(), "data");
        return;
      case "pad":
        this.startAfter();
        return;
      case "data":
        keep(this.entries, this.name, entryOf(this.head.mode, this.head.size, bytes));
        skipThen(align(), "seek");
        return;
      case "skip":
        keep(this.entries, this.name, entryOf(this.head.mode, this.head.size, null));
        skipThen(align(), "seek");
        return;
    }
  }

  private startAfter(): void {
    if (this.after === "seek") {
      this.phase = "seek";
      return;
    }
    const { mode, size } = this.head;
    const kind = mode & 0o170000;
    const wanted = (kind === 0o100000 && size <= KEEP_DATA) || (kind === 0o120000 && size <= MAX_NAME);
    if (size === 0) {
      keep(this.entries, this.name, entryOf(mode, size, wanted ? Buffer.alloc(0) : null));
      this.phase = "seek";
      return;
    }
    this.phase = wanted ? "data" : "skip";
    this.need = size;
  }

  /** The stream ended: an archive cut short is a note. */
  end(): void {
    if (this.error) return;
    if (this.phase !== "seek" && this.phase !== "stop")
      this.error = `cpio archive cut short (in ${this.phase === "name" || this.phase === "header" ? "a header" : JSON.stringify(this.name.slice(0, 80))})`;
  }
}

/** Inflate a zstd or gzip stream into `cpio`, chunk by chunk. */
function inflateInto(fmt: "gzip" | "zstd", data: Buffer, cpio: CpioStream): void {
  if (fmt === "zstd") {
    const d = new Decompress((chunk) => cpio.push(chunk));
    d.push(data, true);
    return;
  }
  // zlib has no synchronous streaming: the output is capped instead (MAX_INFLATED + 1 bytes at most).
  let plain: Buffer;
  try {
    plain = gunzipSync(data, { maxOutputLength: MAX_INFLATED + 1 });
  } catch (err) {
    if ((err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE")
      throw new InitrdTooLarge(`it inflates past ${MAX_INFLATED / 1024 / 1024} MiB`);
    throw err;
  }
  cpio.push(plain);
}

/** Parse newc cpio archives from `buf` at `off` (one or more, zero padding between). */
function readCpio(buf: Buffer, start: number, out: Map<string, CpioEntry>): number {
  let off = start;
  while (off < buf.length) {
    while (off < buf.length && buf[off] === 0) off++;
    if (off >= buf.length || formatAt(buf, off) !== "cpio") return off;
    if (off + 110 > buf.length) throw new Error("cpio archive cut short in a header");
    const { mode, size, nameSize } = cpioHeader(buf, off);
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
    const kind = mode & 0o170000;
    const wanted = (kind === 0o100000 && size <= KEEP_DATA) || kind === 0o120000;
    keep(out, name, entryOf(mode, size, wanted ? buf.subarray(dataStart, dataEnd) : null));
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

/**
 * Read an initrd file. Throws InitrdTooLarge past MAX_INFLATED inflated bytes or MAX_ENTRIES
 * entries (a decompression bomb). Runs off the event loop, in a decoder worker (system/decoders.ts).
 */
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
      const cpio = new CpioStream(entries);
      try {
        inflateInto(fmt, buf.subarray(off), cpio);
        cpio.end();
      } catch (err) {
        if (err instanceof InitrdTooLarge) throw err;
        notes.push(`the ${fmt} part at byte ${off} could not be decompressed: ${(err as Error).message}`);
        break;
      }
      if (cpio.error)
        notes.push(`the ${fmt} part at byte ${off} is not a readable cpio archive: ${cpio.error}`);
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
