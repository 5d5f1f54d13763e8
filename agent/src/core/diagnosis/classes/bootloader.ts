import type { JournalRecord } from "../../journalBoots.js";
import { neverInstalled } from "../boots.js";
import type { BootFacts, Evidence, Finding, Proposal } from "../types.js";
import { ranges } from "../words.js";
import { rebuildBoot } from "./config.js";
import { type ClassContext, journalEvidence } from "./context.js";

/** What a failed boot-loader installation prints (nixos-rebuild, switch-to-configuration, systemd-boot-builder, GRUB's install-grub.pl). */
const INSTALL_FAILED =
  /No space left on device|cannot copy \S+ to \/boot|error\(s\) occurred while switching to the new configuration|Failed to install|systemd-boot-builder|install-grub|^Couldn't find EFI system partition|is not a mounted partition\. Is the path configured/;
const ENOSPC = /No space left on device/;
/**
 * /boot was not mounted: bootctl (systemd src/shared/find-esp.c) finds no ESP there, or nixpkgs'
 * systemd-boot.nix check-mountpoints refuses it ("efiSysMountPoint = '/boot' is not a mounted partition").
 */
const NO_ESP =
  /^Couldn't find EFI system partition|is not a mounted partition\. Is the path configured correctly\?$/;
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
    // what the installation left on the root file system under the ESP's mount point (the ESP hides it)
    const under = c.input.underEsp ?? null;
    const mp = under?.mountPoint ?? "/boot";
    const stray = under?.files?.find(
      (f) => f.path === `${mp}/loader/entries/nixos-generation-${g.number}.conf`,
    );
    const strays = (under?.files ?? []).filter((f) => f !== stray);
    const notMounted = !full && (unmounted !== null || noEsp !== undefined || stray !== undefined);
    const onDisk: Evidence[] = under?.files
      ? under.files.length
        ? [stray, ...strays]
            .filter((f): f is NonNullable<typeof f> => f !== undefined)
            .slice(0, 4)
            .map((f) => ({
              kind: "file" as const,
              ref: `${f.path} (on the root file system, under the mounted ESP)`,
              detail: `${f.size} bytes, written ${f.mtime}`,
            }))
        : [
            {
              kind: "file" as const,
              ref: `${mp} (on the root file system, under the mounted ESP)`,
              detail: "no boot-loader files: nothing was installed onto the root file system",
            },
          ]
      : [];
    const cause = stray
      ? `Generation ${g.number} never got a boot-loader entry on the ESP, so it never booted: /boot (the ESP) was not mounted when it was installed, and its entry was written to the root file system's own ${mp} instead (${stray.path}, ${stray.mtime.slice(0, 16).replace("T", " ")}), which the mounted ESP hides${unmounted ? ` ("${unmounted.message}")` : ""}.`
      : notMounted
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
        full || (unmounted && noEsp) || stray
          ? "high"
          : lines.length || units.length || notMounted
            ? "medium"
            : "low",
      evidence: [
        {
          kind: "boot-entry",
          ref: `nixos-generation-${g.number}`,
          detail: `generation ${g.number} (${g.date}) has no entry`,
        },
        ...(unmounted ? [journalEvidence(unmounted)] : []),
        ...units.map(journalEvidence),
        ...lines.slice(0, 4).map(journalEvidence),
        ...onDisk,
      ],
      fixes: full
        ? [...freeEsp(c, g.number), rebuildAfterFree(g.number)]
        : [
            rebuildBoot(
              notMounted
                ? `installs the boot loader on the ESP, which the rescue system mounts at /boot inside nixos-enter${stray ? `; what the earlier installation left on the root file system under ${mp} stays as it is (hidden by the ESP, it does no harm): nothing is moved` : ""}`
                : "installs the boot loader entry for the configuration as it is now",
            ),
          ],
      needs: notMounted
        ? under?.files
          ? []
          : [
              `what that nixos-rebuild left under ${mp} on the root file system (the mounted ESP hides it${under ? `; not readable: ${under.notes[0] ?? "?"}` : ""}): entries and kernels that belong on the ESP`,
            ]
        : full
          ? ["the ESP's free space (the rescue system can read it with df once /boot is mounted)"]
          : [
              "the output of the nixos-rebuild that made it (in the journal only when it ran as a unit, such as nixos-upgrade.service)",
              ...(under?.files
                ? []
                : [
                    "whether /boot was mounted when it ran (an unmounted /boot gets the files on the root file system instead)",
                  ]),
            ],
    });
  }
  return out;
}
