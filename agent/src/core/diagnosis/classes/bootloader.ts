import type { JournalRecord } from "../../journalBoots.js";
import { neverInstalled } from "../boots.js";
import type { BootFacts, Finding, Proposal } from "../types.js";
import { ranges } from "../words.js";
import { rebuildBoot } from "./config.js";
import { type ClassContext, journalEvidence } from "./context.js";

/** What a failed boot-loader installation prints (nixos-rebuild, switch-to-configuration, systemd-boot-builder, GRUB's install-grub.pl). */
const INSTALL_FAILED =
  /No space left on device|cannot copy \S+ to \/boot|error\(s\) occurred while switching to the new configuration|Failed to install|systemd-boot-builder|install-grub|^Couldn't find EFI system partition/;
const ENOSPC = /No space left on device/;
/** bootctl (systemd src/shared/find-esp.c) when the path it is given is not the ESP: /boot was not mounted. */
const NO_ESP = /^Couldn't find EFI system partition/;
const ESP_UNIT = /^(?:boot|efi|boot-efi)\.mount$/;
/** systemd's words (mount.c, job.c) for the ESP's mount unit going away or never coming. */
const ESP_GONE = /^(?:Unmounted|Failed to mount|Dependency failed for) /;

/** The last thing systemd said of the ESP's mount unit before `until`, when that left it unmounted. */
function espUnmounted(boot: BootFacts | null, until: number): JournalRecord | null {
  const said = (boot?.notable ?? []).filter(
    (r) => r.unit !== null && ESP_UNIT.test(r.unit) && (r.time === null || Date.parse(r.time) <= until),
  );
  said.sort((a, b) => Date.parse(a.time ?? "0") - Date.parse(b.time ?? "0"));
  const last = said.at(-1);
  return last && ESP_GONE.test(last.message) ? last : null;
}
const REBUILD_UNITS = /^(?:nixos-upgrade|nixos-rebuild[^.]*)\.service$/;

/** Remove the entries (and kernels only they use) of generations older than the last good one, never the default. */
function freeEsp(c: ClassContext, bad: number): Proposal[] {
  const lg = c.lastGood;
  if (!lg) return [];
  const old = c.input.generations
    .filter((x) => x.bootEntry !== null && x.number < lg.number && !x.bootDefault)
    .map((x) => x.number)
    .sort((a, b) => a - b);
  if (old.length === 0) return [];
  return [
    {
      id: "esp-free",
      kind: "esp-free",
      title: `Free /boot: remove the boot entries of generations ${ranges(old)} and the kernels and initrds only they use`,
      why: `/boot was too full to install generation ${bad}; these entries are older than generation ${lg.number}, the last that booted`,
      basis: "evidence",
      needsReadWrite: true,
      caution: `generations ${ranges(old)} can then no longer be picked in the boot menu (their closures stay in the store); every removed file is copied to the installed root first (/var/lib/lifeboat/esp-removed/), after a snapshot`,
      evidence: [],
      requests: [{ method: "POST", path: "/v1/boot/esp/free", body: { generations: old } }],
    },
  ];
}

const rebuildAfterFree = (bad: number): Proposal => ({
  ...rebuildBoot(`installs generation ${bad}'s configuration again, now that /boot has room`),
  caution:
    "runs nixos-rebuild boot inside nixos-enter as a job (network check and snapshot first); lowering boot.loader.systemd-boot.configurationLimit keeps /boot from filling again",
});

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
    const noEsp = lines.find((r) => NO_ESP.test(r.message));
    const unmounted = espUnmounted(boot, Date.parse(g.date));
    const who =
      view?.generation !== null && view?.generation !== undefined
        ? `generation ${view.generation}`
        : "the system";
    const notMounted = !full && (unmounted !== null || noEsp !== undefined);
    const cause = notMounted
      ? `Generation ${g.number} never got a boot-loader entry, so it never booted: /boot (the ESP) was not mounted when the boot of ${who} built it${unmounted ? ` ("${unmounted.message}")` : ""}${noEsp ? `, so installing the boot loader found no ESP ("${noEsp.message}")` : ""}.`
      : full
        ? `Generation ${g.number} never got a boot-loader entry, so it never booted: installing it failed in the boot of ${who} that built it because /boot (the ESP) was full ("${full.message}").`
        : lines.length || units.length
          ? `Generation ${g.number} never got a boot-loader entry, so it never booted: installing the boot loader failed in the boot of ${who} that built it (${(lines[0] ?? units[0])?.message}).`
          : `Generation ${g.number} never got a boot-loader entry, so it never booted: it was built (nixos-rebuild build or test, or an installation that failed) but never installed for booting.`;
    out.push({
      class: "bootloader-not-updated",
      generation: g.number,
      cause,
      confidence:
        full || (unmounted && noEsp) ? "high" : lines.length || units.length || notMounted ? "medium" : "low",
      evidence: [
        {
          kind: "boot-entry",
          ref: `nixos-generation-${g.number}`,
          detail: `generation ${g.number} (${g.date}) has no entry`,
        },
        ...(unmounted ? [journalEvidence(unmounted)] : []),
        ...units.map(journalEvidence),
        ...lines.slice(0, 4).map(journalEvidence),
      ],
      fixes: full
        ? [...freeEsp(c, g.number), rebuildAfterFree(g.number)]
        : [
            rebuildBoot(
              notMounted
                ? "installs the boot loader on the ESP, which the rescue system mounts at /boot inside nixos-enter"
                : "installs the boot loader entry for the configuration as it is now",
            ),
          ],
      needs: notMounted
        ? [
            "what that nixos-rebuild left under /boot on the root file system (the mounted ESP hides it): entries and kernels that belong on the ESP",
          ]
        : full
          ? ["the ESP's free space (the rescue system can read it with df once /boot is mounted)"]
          : [
              "the output of the nixos-rebuild that made it (in the journal only when it ran as a unit, such as nixos-upgrade.service)",
              "whether /boot was mounted when it ran (an unmounted /boot gets the files on the root file system instead)",
            ],
    });
  }
  return out;
}
