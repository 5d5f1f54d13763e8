import type { Candidate } from "../core/candidates.js";
import { planMount } from "../core/plan.js";
import type { Dataset } from "../core/zfs.js";
import type { System } from "../system/system.js";
import { InstalledSystem } from "./installed.js";
import { readBootUnits, readSystemFstab } from "./layout.js";

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
): Promise<{ fstab: string | null; steps: number; warnings: number }> {
  const installed = new InstalledSystem(sys, root);
  const warnings: string[] = [];
  const fstab = await readSystemFstab(installed, warnings);
  const units = fstab ? await readBootUnits(installed, fstab.path, warnings) : null;
  // what the mount reads last (the system's identity), and a link followed (os-release is one on
  // NixOS and on most other systems), for rescue systems whose fstab is not behind links
  await installed.identify().catch(() => null);
  await installed.readText("/etc/os-release", 4096).catch(() => null);
  await (await sys.openDirInRoot(root, "/tmp", { create: false })).dir.close();
  const ds = (name: string, mountpoint = "legacy"): Dataset => ({
    name,
    pool: "tank",
    mountpoint,
    canmount: "on",
    encryption: "off",
    keystatus: null,
    used: "0",
    encryptionRoot: null,
  });
  const plan = planMount({
    root,
    candidate: {
      kind: "zfs",
      id: "zfs:tank",
      pool: "tank",
      imported: true,
      disks: [],
    } as unknown as Candidate,
    readonly: true,
    devices: [],
    datasets: [ds("tank", "none"), ds("tank/root"), ds("tank/nix"), ds("tank/home", "/home")],
    fstab: fstab ? [...fstab.entries, ...(units?.binds ?? [])] : null,
    bootPools: units?.pools ?? [],
  });
  return { fstab: fstab?.path ?? null, steps: plan.steps.length, warnings: warnings.length };
}
