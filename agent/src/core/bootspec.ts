import { ParseError } from "./errors.js";
import { isRecord, parseJsonLossless } from "./json.js";

/**
 * A generation's bootspec (`<toplevel>/boot.json`, RFC 0125), as nixpkgs writes it
 * (nixos/modules/system/activation/bootspec.nix, `jq --sort-keys`):
 *
 * - NixOS 23.05 and later: `{"org.nixos.bootspec.v1": {system, kernel, kernelParams, label,
 *   initrd?, initrdSecrets?, toplevel, init}, "org.nixos.specialisation.v1": {<name>: <document>},
 *   …extensions}` — extensions sit beside the v1 key (e.g. `org.nixos.systemd-boot` {sortKey}).
 *   `initrd` is absent when `boot.initrd.enable = false`.
 * - The preview before the RFC was merged (nixpkgs early 2023, `boot.bootspec.enable`):
 *   `{"v1": {kernel, kernelParams, initrd, initrdSecrets, label, extensions, toplevel, init,
 *   specialisation: {<name>: <v1 object>}}}`.
 */
export interface Bootspec {
  format: "org.nixos.bootspec.v1" | "v1-preview";
  system: string | null;
  kernel: string | null;
  kernelParams: string[];
  initrd: string | null;
  initrdSecrets: string | null;
  init: string | null;
  toplevel: string | null;
  label: string | null;
  /** Specialisation name → its bootspec. */
  specialisations: Record<string, Bootspec>;
  /** Keys of extensions beside the v1 document (new format) or in `extensions` (preview). */
  extensions: string[];
}

function v1Fields(
  v1: Record<string, unknown>,
  format: Bootspec["format"],
): Omit<Bootspec, "specialisations" | "extensions"> {
  const s = (k: string) => (typeof v1[k] === "string" ? (v1[k] as string) : null);
  return {
    format,
    system: s("system"),
    kernel: s("kernel"),
    kernelParams: Array.isArray(v1.kernelParams)
      ? v1.kernelParams.filter((p): p is string => typeof p === "string")
      : [],
    initrd: s("initrd"),
    initrdSecrets: s("initrdSecrets"),
    init: s("init"),
    toplevel: s("toplevel"),
    label: s("label"),
  };
}

function fromDocument(doc: unknown, depth: number): Bootspec {
  if (!isRecord(doc)) throw new ParseError("boot.json", "not an object");
  const v1 = doc["org.nixos.bootspec.v1"];
  if (isRecord(v1)) {
    const specs: Record<string, Bootspec> = {};
    const sp = doc["org.nixos.specialisation.v1"];
    if (isRecord(sp) && depth < 2)
      for (const [name, child] of Object.entries(sp)) {
        try {
          specs[name] = fromDocument(child, depth + 1);
        } catch {
          // an unreadable specialisation does not make the generation unreadable
        }
      }
    return {
      ...v1Fields(v1, "org.nixos.bootspec.v1"),
      specialisations: specs,
      extensions: Object.keys(doc)
        .filter((k) => k !== "org.nixos.bootspec.v1" && k !== "org.nixos.specialisation.v1")
        .sort(),
    };
  }
  const pre = doc.v1;
  if (isRecord(pre)) return fromPreview(pre, depth);
  throw new ParseError("boot.json", "neither org.nixos.bootspec.v1 nor the preview's v1 section");
}

function fromPreview(v1: Record<string, unknown>, depth: number): Bootspec {
  const specs: Record<string, Bootspec> = {};
  if (isRecord(v1.specialisation) && depth < 2)
    for (const [name, child] of Object.entries(v1.specialisation))
      if (isRecord(child)) specs[name] = fromPreview(child, depth + 1);
  return {
    ...v1Fields(v1, "v1-preview"),
    specialisations: specs,
    extensions: isRecord(v1.extensions) ? Object.keys(v1.extensions).sort() : [],
  };
}

export function parseBootspecDocument(text: string): Bootspec {
  return fromDocument(parseJsonLossless(text, "boot.json"), 0);
}
