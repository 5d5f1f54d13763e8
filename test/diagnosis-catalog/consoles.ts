// Console captures of failed boots for the tests: the stage-1 lines are the programs' own messages:
// nixpkgs nixos/modules/system/boot/stage-1-init.sh ("<<< NixOS Stage 1 >>>", `loading module
// $(basename $i)...`, `waiting for device $device to appear...` plus one dot a second, "Timed out
// waiting for device $device, trying to mount anyway.", the fail() text),
// nixos/modules/tasks/filesystems/zfs.nix (`importing root ZFS pool "$pool"...`), OpenZFS's refusal
// as `zpool import` printed it (../shared/fixtures/single/zpool-import-no-f.stderr), kmod's modprobe
// ("modprobe: FATAL: Module %s not found in directory %s"), the kernel's hung_task.c and the x86
// "Command line: " of setup_arch.
import { fixture } from "../helpers/fixtures.js";

export const TOP = "/nix/store/ip9yk0s67w2gjiklkvjnrpvj6dn7zxw9-nixos-system-atlas-24.11.20250301.5c1d2e3";

/** Lines as a serial console shows them: CRLF, the kernel's timestamps on its own lines. */
export const serial = (lines: string[]) => `${lines.join("\r\n")}\r\n`;
const STAGE1_FAIL = [
  "",
  "An error occurred in stage 1 of the boot process, which must mount the",
  "root filesystem on `/mnt-root' and then start stage 2.  Press one",
  "of the following keys:",
  "",
  "  r) to reboot immediately",
  "  *) to ignore the error and continue",
];

export const CONSOLES = {
  /** vfio_pci hangs stage 1: the kernel reports the blocked modprobe. */
  vfio: serial([
    `[    0.000000] Command line: initrd=\\EFI\\nixos\\initrd.efi init=${TOP}/init intel_iommu=on iommu=pt nohibernate loglevel=4`,
    "",
    "<<< NixOS Stage 1 >>>",
    "",
    "loading module zfs...",
    "loading module vfio_pci...",
    "[  245.316411] INFO: task modprobe:212 blocked for more than 122 seconds.",
  ]),
  /** The root pool last used by another host, refused without -f. */
  poolInUse: serial([
    "<<< NixOS Stage 1 >>>",
    "",
    "loading module zfs...",
    "running udev...",
    "starting device mapper and LVM...",
    'importing root ZFS pool "nvmepool"...',
    ...fixture("single", "zpool-import-no-f", "stderr").trimEnd().split("\n"),
    ...STAGE1_FAIL,
  ]),
  zfsMissing: serial([
    "<<< NixOS Stage 1 >>>",
    "loading module zfs...",
    "modprobe: FATAL: Module zfs not found in directory /lib/modules/6.13.2",
    "running udev...",
    'importing root ZFS pool "nvmepool"............................................................',
    "cannot import 'nvmepool': no such pool available",
    ...STAGE1_FAIL,
  ]),
  deviceWait: serial([
    "<<< NixOS Stage 1 >>>",
    "running udev...",
    "waiting for device /dev/disk/by-uuid/0f3c6a0e-8d1b-4c1e-9a57-2b7d9e4c5a10 to appear....................",
    "Timed out waiting for device /dev/disk/by-uuid/0f3c6a0e-8d1b-4c1e-9a57-2b7d9e4c5a10, trying to mount anyway.",
    ...STAGE1_FAIL,
  ]),
};
