import { ParseError } from "./errors.js";
import { isRecord, parseJsonLossless } from "./json.js";

/** `system-12-link` → 12 (profile generation links in /nix/var/nix/profiles). */
export function generationOfLink(name: string): number | null {
  const m = /^system-(\d{1,9})-link$/.exec(name);
  return m ? Number(m[1]) : null;
}

/** `/nix/store/<hash>-nixos-system-atlas-24.11.20250107.7dc3f5e` → host and version. */
export function parseSystemStorePath(path: string): { host: string | null; version: string | null } {
  const m = /\/nix\/store\/[0-9a-z]{32}-nixos-system-(.+)-(\d{2}\.\d{2}[^/]*)$/.exec(
    path.replace(/\/+$/, ""),
  );
  return m ? { host: m[1] ?? null, version: m[2] ?? null } : { host: null, version: null };
}

/** Kernel version from the `kernel` link target, e.g. `/nix/store/<hash>-linux-6.6.69/bzImage`. */
export function kernelVersionOf(kernelTarget: string): string | null {
  return /-linux-(\d+\.\d+(?:\.\d+)?[^/]*)\//.exec(kernelTarget)?.[1] ?? null;
}

/** The `kernel-params` file of a system closure: one line, space separated. */
export function parseKernelParams(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

export interface BootSpec {
  label: string | null;
  kernel: string | null;
  initrd: string | null;
  init: string | null;
  kernelParams: string[];
  toplevel: string | null;
}

/** `boot.json` of a system closure (bootspec RFC 0125, key "org.nixos.bootspec.v1"). */
export function parseBootspec(text: string): BootSpec {
  const doc = parseJsonLossless(text, "boot.json");
  if (!isRecord(doc)) throw new ParseError("boot.json", "not an object");
  const v1 = doc["org.nixos.bootspec.v1"];
  if (!isRecord(v1)) throw new ParseError("boot.json", "no org.nixos.bootspec.v1 section");
  const s = (k: string) => (typeof v1[k] === "string" ? (v1[k] as string) : null);
  const params = Array.isArray(v1.kernelParams)
    ? v1.kernelParams.filter((p): p is string => typeof p === "string")
    : [];
  return {
    label: s("label"),
    kernel: s("kernel"),
    initrd: s("initrd"),
    init: s("init"),
    kernelParams: params,
    toplevel: s("toplevel"),
  };
}
