import type { MountRole } from "./plan.js";

/** Paths inside the installed system, and where they land under the rescue root. */

export function joinRoot(root: string, path: string): string {
  const r = root.replace(/\/+$/, "");
  if (path === "/" || path === "") return r || "/";
  return `${r}/${path.replace(/^\/+/, "").replace(/\/+$/, "")}`;
}

/** Paths the boot loader lives on: /boot, the ESP, and mirrored ESPs (/boot-fallback, /boot1, /boot/efis/…). */
export function isBootloaderPath(path: string): boolean {
  return /^\/(boot|efi)([0-9]*|-[^/]+)?(\/(efi|EFI|efis\/[^/]+))?$/.test(path);
}

export function roleOf(path: string, fstype: string): MountRole {
  if (path === "/") return "root";
  if (path === "/nix") return "nix";
  if (path === "/home") return "home";
  if (path === "/var") return "var";
  if (isBootloaderPath(path)) return fstype === "vfat" ? "esp" : "boot";
  return "other";
}

/**
 * An absolute path inside the installed system, normalised (`//` and a trailing `/` folded), or
 * null when it is not absolute or has `.`/`..` segments: such a target could leave the root.
 */
export function cleanTarget(p: string): string | null {
  if (!p.startsWith("/") || p.includes("\0")) return null;
  // Already canonical (the usual case): no `//`, no `.`/`..` segment, no trailing slash.
  if (p === "/" || !/\/\/|\/\.\.?(\/|$)|\/$/.test(p)) return p;
  const segs = p.split("/").filter(Boolean);
  if (segs.some((s) => s === "." || s === "..")) return null;
  return `/${segs.join("/")}`;
}
