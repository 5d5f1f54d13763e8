import type { DeviceFacts } from "../types.js";

/**
 * Paths NixOS mounts in stage 1 (nixpkgs nixos/lib/utils.nix `pathsNeededForBoot`, read from
 * nixos-24.11): a missing device for one of these stops the boot before any journal is written.
 */
export const STAGE1_PATHS = [
  "/",
  "/nix",
  "/nix/store",
  "/var",
  "/var/log",
  "/var/lib",
  "/var/lib/nixos",
  "/etc",
  "/usr",
];

export interface DeviceRef {
  by: "uuid" | "label" | "partuuid" | "partlabel" | "path";
  id: string;
}

/** /dev/disk/by-uuid/X, UUID=X, /dev/disk/by-label/X, LABEL=X, …; null for datasets, tmpfs and the like. */
export function deviceRef(source: string): DeviceRef | null {
  const m = /^\/dev\/disk\/by-(uuid|label|partuuid|partlabel)\/(.+)$/.exec(source);
  if (m)
    return {
      by: m[1] as DeviceRef["by"],
      id: (m[2] as string).replace(/\\x([0-9a-fA-F]{2})/g, (_x, h: string) =>
        String.fromCharCode(Number.parseInt(h, 16)),
      ),
    };
  const t = /^(UUID|LABEL|PARTUUID|PARTLABEL)=(.+)$/.exec(source);
  if (t) return { by: (t[1] as string).toLowerCase() as DeviceRef["by"], id: t[2] as string };
  if (/^\/dev\/[^/]/.test(source) && !source.startsWith("/dev/disk/")) return { by: "path", id: source };
  return null;
}

/** The device a reference names among those present; null: none has it. UUIDs compare case-insensitively (blkid prints FAT's in capitals). */
export function findDevice(ref: DeviceRef, devices: DeviceFacts[]): DeviceFacts | null {
  const eq = (a: string | null) =>
    a !== null &&
    (ref.by === "uuid" || ref.by === "partuuid" ? a.toLowerCase() === ref.id.toLowerCase() : a === ref.id);
  return (
    devices.find((d) =>
      ref.by === "uuid"
        ? eq(d.uuid)
        : ref.by === "label"
          ? eq(d.label)
          : ref.by === "partuuid"
            ? eq(d.partuuid)
            : ref.by === "partlabel"
              ? eq(d.partlabel)
              : d.path === ref.id,
    ) ?? null
  );
}
