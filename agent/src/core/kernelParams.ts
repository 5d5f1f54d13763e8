import { LifeboatError } from "./errors.js";

/**
 * Kernel parameters a NixOS boot entry cannot boot without: `init=` (stage 2 of the generation:
 * `init=/nix/store/…-nixos-system-…/init`, written by the boot loader installer from the bootspec's
 * `init`), and the root file system's `root=` / `zfs=` (what stage 1 mounts as /, when the entry
 * names it there).
 */
export const PROTECTED_PARAM = /^(init|root|zfs)=/;

/** The parameters of `options` that may not be removed. */
export function protectedParams(options: readonly string[]): string[] {
  return options.filter((p) => PROTECTED_PARAM.test(p));
}

/** Refuse removing a protected parameter (422 `protected-kernel-param`, naming them). */
export function refuseProtected(remove: readonly string[], options: readonly string[]): void {
  const hit = remove.filter((p) => options.includes(p) && PROTECTED_PARAM.test(p));
  if (hit.length > 0)
    throw new LifeboatError(
      "protected-kernel-param",
      `the system cannot boot without ${hit.join(" ")}: it is kept`,
      { protected: hit },
    );
}
