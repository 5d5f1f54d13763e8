import { ParseError } from "./errors.js";
import { normalizeHostId } from "./zpoolImport.js";

/**
 * /etc/hostid holds the 32-bit hostid as 4 bytes in host byte order (little-endian on x86_64 and
 * aarch64), which is what `zgenhostid` writes and what the SPL module reads.
 */
export function encodeHostIdFile(hostid: string): Uint8Array {
  const n = Number.parseInt(normalizeHostId(hostid), 16);
  const buf = new Uint8Array(4);
  new DataView(buf.buffer).setUint32(0, n, true);
  return buf;
}

export function decodeHostIdFile(bytes: Uint8Array): string {
  if (bytes.length < 4) throw new ParseError("/etc/hostid", `expected 4 bytes, got ${bytes.length}`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return n.toString(16).padStart(8, "0");
}

/** The `hostid` command prints 8 hex digits. */
export function parseHostIdOutput(stdout: string): string {
  return normalizeHostId(stdout.trim());
}

/** Value for /sys/module/spl/parameters/spl_hostid (the kernel parses it with base 0). */
export function splHostIdParam(hostid: string): string {
  return `0x${normalizeHostId(hostid)}`;
}
