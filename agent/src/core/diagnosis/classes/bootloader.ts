import type { JournalRecord } from "../../journalBoots.js";
import { neverInstalled } from "../boots.js";
import type { BootFacts, Finding } from "../types.js";
import { rebuildBoot } from "./config.js";
import { type ClassContext, journalEvidence } from "./context.js";

/** What a failed boot-loader installation prints (nixos-rebuild, switch-to-configuration, systemd-boot-builder, GRUB's install-grub.pl). */
const INSTALL_FAILED =
  /No space left on device|cannot copy \S+ to \/boot|error\(s\) occurred while switching to the new configuration|Failed to install|systemd-boot-builder|install-grub/;
const ENOSPC = /No space left on device/;
const REBUILD_UNITS = /^(?:nixos-upgrade|nixos-rebuild[^.]*)\.service$/;

/** The boot that was running when the generation was made (its profile link's time). */
function runningAt(c: ClassContext, date: string): BootFacts | null {
  const t = Date.parse(date);
  const cands = c.input.boots.filter((b) => b.first !== null && Date.parse(b.first) <= t);
  return cands.sort((a, b) => Date.parse(b.first as string) - Date.parse(a.first as string))[0] ?? null;
}

/**
 * The boot loader was never updated for a generation: it has no entry (systemd-boot), so it never
 * booted, and its cause is in the boot of the generation that built it: the ESP full during
 * nixos-rebuild or the automatic upgrade. Public reports: https://github.com/NixOS/nixpkgs/issues/23926
 * ("When /boot is full, system rebuilds fail"), https://github.com/nakato/nixos-bpir3-example/issues/8
 * (nixos-upgrade.service: "No space left on device", "error(s) occurred while switching").
 */
export function bootloaderNotUpdated(c: ClassContext): Finding[] {
  const out: Finding[] = [];
  for (const g of c.bad) {
    if (!neverInstalled(c.input, g) || !g.date) continue;
    const boot = runningAt(c, g.date);
    const view = boot ? c.boots.find((b) => b.bootId === boot.bootId) : undefined;
    const lines: JournalRecord[] = (boot?.notable ?? []).filter((r) => INSTALL_FAILED.test(r.message));
    const units = boot?.failedUnits.filter((f) => REBUILD_UNITS.test(f.unit)) ?? [];
    const full = lines.find((r) => ENOSPC.test(r.message));
    const who =
      view?.generation !== null && view?.generation !== undefined
        ? `generation ${view.generation}`
        : "the system";
    const cause = full
      ? `Generation ${g.number} never got a boot-loader entry, so it never booted: installing it failed in the boot of ${who} that built it because /boot (the ESP) was full ("${full.message}").`
      : lines.length || units.length
        ? `Generation ${g.number} never got a boot-loader entry, so it never booted: installing the boot loader failed in the boot of ${who} that built it (${(lines[0] ?? units[0])?.message}).`
        : `Generation ${g.number} never got a boot-loader entry, so it never booted: it was built (nixos-rebuild build or test, or an installation that failed) but never installed for booting.`;
    out.push({
      class: "bootloader-not-updated",
      generation: g.number,
      cause,
      confidence: full ? "high" : lines.length || units.length ? "medium" : "low",
      evidence: [
        {
          kind: "boot-entry",
          ref: `nixos-generation-${g.number}`,
          detail: `generation ${g.number} (${g.date}) has no entry`,
        },
        ...units.map(journalEvidence),
        ...lines.slice(0, 4).map(journalEvidence),
      ],
      fixes: full
        ? [
            {
              ...rebuildBoot(`installs generation ${g.number}'s configuration again, once /boot has room`),
              caution:
                "fails again while /boot is full: the kernels and initrds of generations no longer needed (in /boot/EFI/nixos) must be removed first, which Lifeboat does not do yet; lowering boot.loader.systemd-boot.configurationLimit keeps it from filling again",
            },
          ]
        : [rebuildBoot(`installs the boot loader entry for the configuration as it is now`)],
      needs: full
        ? ["the ESP's free space and which files in /boot/EFI/nixos no entry uses"]
        : [
            "the output of the nixos-rebuild that made it (in the journal only when it ran as a unit, such as nixos-upgrade.service)",
            "whether /boot was mounted when it ran (an unmounted /boot gets the files on the root file system instead)",
          ],
    });
  }
  return out;
}
