import { parseFstab } from "../../mounts.js";
import type { DeviceFacts, Evidence, Finding, GenerationFacts, Proposal } from "../types.js";
import { type ConfigFile, configEdit, findLine, rebuildBoot } from "./config.js";
import { bootLastGood, type ClassContext } from "./context.js";
import { deviceRef, findDevice } from "./devices.js";

/**
 * Stage 1 cannot reach the root because its initrd lacks a module the last good generation's had:
 * the storage driver of the root's disk (`boot.initrd.availableKernelModules` after a hardware
 * change or a hardware-configuration.nix from another machine), or ZFS itself (a kernel newer than
 * the ZFS package supports, `boot.kernelPackages = pkgs.linuxPackages_latest`). Both stop before a
 * journal is written; the evidence is the two initrds' module lists (read from the archives) and
 * the disks present. Stage-1 texts: nixpkgs nixos/modules/system/boot/stage-1-init.sh ("waiting for
 * device … to appear"), nixos/modules/tasks/filesystems/zfs.nix ("importing root ZFS pool"), kmod
 * ("modprobe: FATAL: Module zfs not found in directory /lib/modules/<v>").
 */

/** The kernel's block-device names and the driver that makes them (drivers/nvme/host, virtio_blk, xen-blkfront, mmc_block). */
const DISK_DRIVERS: [RegExp, string, string][] = [
  [/^\/dev\/nvme\d+n\d+(p\d+)?$/, "nvme", "an NVMe disk"],
  [/^\/dev\/vd[a-z]+\d*$/, "virtio_blk", "a virtio disk"],
  [/^\/dev\/xvd[a-z]+\d*$/, "xen_blkfront", "a Xen disk"],
  [/^\/dev\/mmcblk\d+(p\d+)?$/, "mmc_block", "an MMC/SD card"],
  [/^\/dev\/sd[a-z]+\d*$/, "sd_mod", "a SCSI/SATA/USB disk"],
];

/** Storage controller drivers (kernel drivers/ata, scsi, nvme, virtio, usb storage): their removal can hide the root disk. */
const STORAGE = new Set([
  "nvme",
  "nvme_core",
  "vmd",
  "ahci",
  "ata_piix",
  "sd_mod",
  "virtio_blk",
  "virtio_scsi",
  "virtio_pci",
  "xen_blkfront",
  "mmc_block",
  "sdhci_pci",
  "usb_storage",
  "uas",
  "xhci_pci",
  "mpt3sas",
  "megaraid_sas",
  "hpsa",
  "smartpqi",
  "aacraid",
  "hv_storvsc",
  "isci",
]);

const entries = (text: string | null | undefined) => {
  try {
    return text ? parseFstab(text) : [];
  } catch {
    return [];
  }
};

/** The root file system of a generation and the disks it is on (a ZFS pool's members by label, else the fstab device). */
function rootOf(g: GenerationFacts, devices: DeviceFacts[]) {
  const root = entries(g.fstab).find((e) => e.target === "/");
  if (!root) return null;
  if (root.fstype === "zfs") {
    const pool = root.source.split("/")[0] as string;
    return {
      root,
      pool,
      disks: devices.filter((d) => d.fstype === "zfs_member" && d.label === pool),
    };
  }
  const ref = deviceRef(root.source);
  const d = ref ? findDevice(ref, devices) : null;
  return { root, pool: null, disks: d ? [d] : [] };
}

const noBoot = (c: ClassContext, g: GenerationFacts) =>
  c.gens.find((x) => x.number === g.number)?.status === "no-boot";

const initrdEvidence = (g: GenerationFacts, detail: string): Evidence => ({
  kind: "store-path",
  ref: g.initrd.path ?? `${g.toplevel ?? "?"}/initrd`,
  detail,
});

/** Add modules to the first `boot.initrd.availableKernelModules = [` of /etc/nixos. */
function addToAvailable(files: ConfigFile[], mods: string[]) {
  const hit = findLine(files, /availableKernelModules\s*=\s*\[/);
  const file = hit ? files.find((f) => f.path === hit.path) : undefined;
  if (!hit || !file) return null;
  const lines = file.text.split("\n");
  const quoted = mods.map((m) => `"${m}"`).join(" ");
  lines[hit.line - 1] = (lines[hit.line - 1] as string).replace(
    /availableKernelModules\s*=\s*\[/,
    (m) => `${m} ${quoted}`,
  );
  return { hit, file, after: lines.join("\n") };
}

export function storageDriverMissing(c: ClassContext): Finding[] {
  const good = c.lastGood;
  const devices = c.input.devices;
  const gi = good?.initrd.info;
  if (!good || !gi || !devices?.length) return [];
  const out: Finding[] = [];
  for (const g of c.bad) {
    const bi = g.initrd.info;
    if (!bi || !noBoot(c, g)) continue;
    const removed = gi.modules.filter((m) => !bi.modules.includes(m));
    const storage = removed.filter((m) => STORAGE.has(m));
    if (storage.length === 0) continue;
    const r = rootOf(g, devices);
    const needed = new Map<string, DeviceFacts>();
    for (const d of r?.disks ?? [])
      for (const [re, driver] of DISK_DRIVERS) if (re.test(d.path)) needed.set(driver, d);
    const missing = [...needed.keys()].filter((m) => removed.includes(m));
    const mods = missing.length ? missing : storage;
    const disk = missing.length ? needed.get(missing[0] as string) : undefined;
    const kind = disk ? DISK_DRIVERS.find(([re]) => re.test(disk.path))?.[2] : undefined;
    const what = r?.pool ? `the root pool ${r.pool}'s disk` : "the root's disk";
    const stops = r?.pool
      ? `its stage 1 never sees the disk ("importing root ZFS pool "${r.pool}"…", then "cannot import '${r.pool}': no such pool available")`
      : `its stage 1 never sees the disk ("waiting for device ${r?.root.source ?? "…"} to appear…")`;
    const edit = addToAvailable(c.input.configFiles, mods);
    const fixes: Proposal[] = [...bootLastGood(c)];
    if (edit)
      fixes.push(
        configEdit(edit.file, edit.after, {
          id: `initrd-add-${mods.join("-")}`,
          title: `Add ${mods.join(", ")} to boot.initrd.availableKernelModules in /etc/nixos/${edit.file.path}`,
          why: `generation ${good.number}'s initrd had ${mods.join(", ")} and booted; generation ${g.number}'s has not`,
          line: edit.hit.line,
          evidence: [
            {
              kind: "file",
              ref: `/etc/nixos/${edit.file.path}`,
              detail: `line ${edit.hit.line}: ${edit.hit.text}`,
            },
          ],
        }),
        rebuildBoot("the driver is in the initrd of the new generation"),
      );
    out.push({
      class: "storage-driver-missing",
      generation: g.number,
      cause: disk
        ? `Generation ${g.number}'s initrd lacks ${mods.join(", ")}, the driver of ${what} ${disk.path} (${kind}), which generation ${good.number}'s initrd had: ${stops} and gives up before the root is mounted.`
        : `Generation ${g.number}'s initrd lacks the storage driver${mods.length > 1 ? "s" : ""} ${mods.join(", ")} that generation ${good.number}'s initrd had: if the root's disk needs ${mods.length > 1 ? "them" : "it"}, its stage 1 never sees the disk and gives up before the root is mounted.`,
      confidence: disk ? "high" : "medium",
      evidence: [
        initrdEvidence(good, `generation ${good.number}'s initrd: ${mods.join(", ")} present`),
        initrdEvidence(
          g,
          `generation ${g.number}'s initrd: ${mods.join(", ")} absent (${bi.modules.length} modules)`,
        ),
        ...(disk
          ? [
              {
                kind: "file" as const,
                ref: "block devices",
                detail: `${disk.path} (${disk.fstype ?? "?"}${disk.label ? ` ${disk.label}` : ""}) is ${kind}: driver ${mods[0]}`,
              },
            ]
          : []),
      ],
      fixes,
      needs: disk
        ? [`a console capture of a boot of generation ${g.number} would show stage 1 waiting for the disk`]
        : [
            "which driver the root's disk uses (the last good boot's kernel messages, or the disk's controller under /sys/block)",
          ],
    });
  }
  return out;
}

export function zfsModuleMissing(c: ClassContext): Finding[] {
  const good = c.lastGood;
  const gi = good?.initrd.info;
  if (!good || !gi?.modules.includes("zfs")) return [];
  const out: Finding[] = [];
  for (const g of c.bad) {
    const bi = g.initrd.info;
    if (!bi || !noBoot(c, g) || bi.modules.includes("zfs")) continue;
    const zfsFs = entries(g.fstab).filter((e) => e.fstype === "zfs");
    const root = zfsFs.find((e) => e.target === "/");
    if (!root) continue;
    const pool = root.source.split("/")[0] as string;
    const kv = g.kernelVersion ?? bi.kernelVersions[0] ?? "?";
    const loads = bi.loaded?.includes("zfs") ?? false;
    const latest = findLine(c.input.configFiles, /kernelPackages\s*=.*linuxPackages_latest\b/);
    const file = latest ? c.input.configFiles.find((f) => f.path === latest.path) : undefined;
    const fixes: Proposal[] = [...bootLastGood(c)];
    if (latest && file) {
      const lines = file.text.split("\n");
      lines[latest.line - 1] = (lines[latest.line - 1] as string).replace(
        /linuxPackages_latest\b/,
        "linuxPackages",
      );
      fixes.push(
        configEdit(file, lines.join("\n"), {
          id: "kernel-packages-zfs",
          title: `Use the default kernel (pkgs.linuxPackages, which ZFS supports) in /etc/nixos/${file.path}`,
          why: `linuxPackages_latest gave generation ${g.number} kernel ${kv}, for which there is no zfs module; generation ${good.number}'s kernel ${good.kernelVersion ?? "?"} had one`,
          line: latest.line,
          evidence: [
            { kind: "file", ref: `/etc/nixos/${file.path}`, detail: `line ${latest.line}: ${latest.text}` },
          ],
        }),
        rebuildBoot("the new generation gets a kernel with a zfs module"),
      );
    }
    out.push({
      class: "zfs-module-missing",
      generation: g.number,
      cause: `Generation ${g.number}'s initrd has no zfs module for its kernel ${kv} (generation ${good.number}'s, kernel ${good.kernelVersion ?? "?"}, had one), yet its root is the ZFS pool ${pool}: its stage 1 stops at "modprobe: FATAL: Module zfs not found in directory /lib/modules/${kv}" and cannot import the pool${latest ? "; boot.kernelPackages = linuxPackages_latest chose a kernel newer than the ZFS package supports" : ""}.`,
      confidence: "high",
      evidence: [
        initrdEvidence(
          good,
          `generation ${good.number}'s initrd (kernel ${gi.kernelVersions.join(", ")}): zfs present`,
        ),
        initrdEvidence(
          g,
          `generation ${g.number}'s initrd (kernel ${bi.kernelVersions.join(", ")}): no zfs module${loads ? `; its stage 1 loads zfs (${bi.loadedFrom ?? "/init"})` : ""}`,
        ),
        { kind: "store-path", ref: `${g.toplevel ?? "?"}/etc/fstab`, detail: `${root.source} / zfs` },
        ...(latest
          ? [
              {
                kind: "file" as const,
                ref: `/etc/nixos/${latest.path}`,
                detail: `line ${latest.line}: ${latest.text}`,
              },
            ]
          : []),
      ],
      fixes,
      needs: latest
        ? []
        : ["which option chose generation's kernel (boot.kernelPackages in /etc/nixos was not found)"],
    });
  }
  return out;
}
