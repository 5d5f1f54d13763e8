import type { Candidate } from "../core/candidates.js";
import type { BlockDevice } from "../core/lsblk.js";
import { parseFstab } from "../core/mounts.js";
import { planMount } from "../core/plan.js";
import type { Dataset } from "../core/zfs.js";
import type { System } from "../system/system.js";
import type { Detection } from "./detect.js";
import { InstalledSystem } from "./installed.js";
import { readBootUnits, readSystemFstab } from "./layout.js";
import type { MountService } from "./mount.js";

/**
 * A server's fstab as NixOS writes one for root on ZFS (legacy datasets, the ESP by UUID, a swap
 * partition): planned beside the rescue system's own fstab, whose lines (tmpfs, the ISO's
 * squashfs and overlay) take other branches of the planner than a server's do. Made up; nothing
 * of any disk.
 */
const SERVER_FSTAB = [
  "tank/root / zfs zfsutil 0 0",
  "tank/nix /nix zfs zfsutil 0 0",
  "tank/home /home zfs zfsutil 0 0",
  "tank/var /var zfs zfsutil 0 0",
  "/dev/disk/by-uuid/0000-0001 /boot vfat fmask=0022,dmask=0022 0 2",
  "/dev/disk/by-partuuid/00000000-0000-0000-0000-000000000002 none swap defaults 0 0",
].join("\n");

/**
 * Readying the mount path while the agent waits for its operator. A fresh agent's first mount
 * request ran its code for the first time: V8 compiled each function on its first call and ran it
 * in its interpreter, and the route's validator and serializer were made on the spot. Under QEMU's
 * emulation that made the first mount ~0.5 s slower than the next (the fstab read alone 190 ms
 * against 70). So once the first detection is over and nothing else runs, the agent walks the same
 * code once on the rescue system's own files (`root`, normally `/`: nothing of the disks): its
 * system profile's fstab (or /etc/fstab) and boot units through the confined reader, its identity
 * and os-release (a link), a directory opened as a mount target is, and a plan made from what it
 * read. Nothing is mounted, run or
 * written; a failure only means the first mount is as cold as before.
 */
export async function warmMountPath(
  sys: System,
  root = "/",
): Promise<{ fstab: string | null; steps: number; serverSteps: number; warnings: number }> {
  const installed = new InstalledSystem(sys, root);
  const warnings: string[] = [];
  const fstab = await readSystemFstab(installed, warnings);
  const units = fstab ? await readBootUnits(installed, fstab.path, warnings) : null;
  // what the mount reads last (the system's identity), and a link followed (os-release is one on
  // NixOS and on most other systems), for rescue systems whose fstab is not behind links
  await installed.identify().catch(() => null);
  await installed.readText("/etc/os-release", 4096).catch(() => null);
  await (await sys.openDirInRoot(root, "/tmp", { create: false })).dir.close();
  const made = (name: string, mountpoint = "legacy"): Dataset => ({
    name,
    pool: "tank",
    mountpoint,
    canmount: "on",
    encryption: "off",
    keystatus: null,
    used: "0",
    encryptionRoot: null,
  });
  const candidate = {
    kind: "zfs",
    id: "zfs:tank",
    pool: "tank",
    imported: true,
    disks: [],
  } as unknown as Candidate;
  const datasets = ["root", "nix", "home", "var"].map((d) => made(`tank/${d}`));
  const plan = planMount({
    root,
    candidate,
    readonly: true,
    devices: [],
    datasets: [made("tank", "none"), ...datasets.slice(0, 2), made("tank/home", "/home")],
    fstab: fstab ? [...fstab.entries, ...(units?.binds ?? [])] : null,
    bootPools: units?.pools ?? [],
  });
  const esp: BlockDevice = {
    name: "vda1",
    path: "/dev/vda1",
    type: "part",
    fstype: "vfat",
    label: null,
    uuid: "0000-0001",
    parttype: null,
    partlabel: null,
    partuuid: null,
    size: null,
    mountpoints: [],
    children: [],
  };
  const server = planMount({
    root,
    candidate,
    readonly: true,
    devices: [esp],
    datasets: [made("tank", "none"), ...datasets],
    fstab: parseFstab(SERVER_FSTAB),
  });
  return {
    fstab: fstab?.path ?? null,
    steps: plan.steps.length,
    serverSteps: server.steps.length,
    warnings: warnings.length,
  };
}

/**
 * The mount request's own preparation while nothing is mounted (the auto-mount off or failed): the
 * candidate chosen, the run made and a plan by convention, as GET /v1/mount/plan does (no command,
 * no file of the disk: with nothing mounted the preview reads none). Skipped once something is
 * mounted at the root (a preview would then read the installed fstab; the mount made then has run
 * that code anyway). A failure (no system found) only leaves that code cold.
 */
export async function warmMountRequest(
  mounts: MountService,
  current: () => Promise<Detection>,
  root: string,
) {
  if ((await current()).mounts.some((m) => m.target === root)) return false;
  return mounts.preview().then(
    () => true,
    () => false,
  );
}
