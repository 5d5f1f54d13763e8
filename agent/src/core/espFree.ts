/**
 * Freeing a full ESP (systemd-boot): which boot entries go, and which of NixOS's kernel and initrd
 * copies under EFI/nixos/ only those entries use. Pure: fed the entries, returns what to remove.
 * nixpkgs' systemd-boot-builder copies a generation's kernel and initrd as
 * EFI/nixos/<hash>-<name>.efi (nixos/modules/system/boot/loader/systemd-boot/systemd-boot-builder.py).
 */
export interface EspEntryRefs {
  /** The entry's file name under loader/entries/. */
  file: string;
  /** Its linux and initrd paths as written in the entry (ESP-relative, "/" first). */
  paths: string[];
}

export interface EspFreePlan {
  entries: string[];
  /** ESP-relative paths ("EFI/nixos/…efi") no kept entry uses. */
  files: string[];
}

const NIXOS_COPY = /^EFI\/nixos\/[A-Za-z0-9._+-]{1,200}\.efi$/i;

const norm = (p: string) => p.replace(/\\/g, "/").replace(/^\/+/, "");

export function planEspFree(all: EspEntryRefs[], remove: ReadonlySet<string>): EspFreePlan {
  const kept = new Set(
    all.filter((e) => !remove.has(e.file)).flatMap((e) => e.paths.map((p) => norm(p).toLowerCase())),
  );
  const files = new Set<string>();
  for (const e of all.filter((x) => remove.has(x.file)))
    for (const p of e.paths.map(norm)) if (NIXOS_COPY.test(p) && !kept.has(p.toLowerCase())) files.add(p);
  return { entries: all.filter((e) => remove.has(e.file)).map((e) => e.file), files: [...files].sort() };
}
