// Generations 41 and 42 of host atlas laid out in the fake system's sandbox as nixos-rebuild leaves
// them: toplevel (bootspec, kernel, kernel-params, etc with fstab and units), the profile links
// (their mtimes are the generation dates), systemd-boot entries on the ESP and loader.conf.
import { execFileSync } from "node:child_process";
import { lutimes, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { encodeHostIdFile } from "../../agent/src/core/hostid.js";
import { storeHash } from "./export.js";

export interface GenerationSpec {
  n: number;
  /** ISO date of the profile link. */
  date: string;
  kernel: string;
  params: string[];
  fstab: string;
  units: string[];
  /** Has a systemd-boot entry (default true): false for a generation the boot loader never got. */
  entry?: boolean;
  /** networking.hostId: etc/hostid as NixOS writes it (4 bytes, little-endian). */
  hostid?: string;
  /**
   * Its initrd, made with the real cpio and zstd as nixpkgs' make-initrd-ng.sh does: the module
   * closure (`modules`: path under lib/modules/<kernel>/ without .ko.xz) and the scripted stage 1's
   * module loop (`loaded`: boot.initrd.kernelModules). Absent: no initrd file (its link dangles).
   */
  initrd?: { modules: string[]; loaded: string[] };
}

/** Module files where the kernel and nixpkgs' out-of-tree packages put them (name → path under lib/modules/<v>/). */
export const MODULE_PATHS: Record<string, string> = {
  nvme: "kernel/drivers/nvme/host/nvme",
  nvme_core: "kernel/drivers/nvme/host/nvme-core",
  ahci: "kernel/drivers/ata/ahci",
  libahci: "kernel/drivers/ata/libahci",
  sd_mod: "kernel/drivers/scsi/sd_mod",
  xhci_pci: "kernel/drivers/usb/host/xhci-pci",
  usbhid: "kernel/drivers/hid/usbhid/usbhid",
  virtio_blk: "kernel/drivers/block/virtio_blk",
  virtio_pci: "kernel/drivers/virtio/virtio_pci",
  dm_mod: "kernel/drivers/md/dm-mod",
  zfs: "extra/zfs",
  spl: "extra/spl",
};

/** The initrd archive: a stage-1 tree packed by GNU cpio (newc, sorted, reproducible) and zstd. */
async function makeInitrd(kernel: string, spec: { modules: string[]; loaded: string[] }): Promise<Buffer> {
  const d = await mkdtemp(join(tmpdir(), "lifeboat-initrd-"));
  try {
    const M = `nix/store/${storeHash(`modules-${kernel}`)}-linux-${kernel}-modules-shrunk/lib/modules/${kernel}`;
    for (const m of spec.modules) {
      const rel = MODULE_PATHS[m] ?? `kernel/drivers/${m}`;
      await mkdir(dirname(join(d, M, rel)), { recursive: true });
      await writeFile(join(d, M, `${rel}.ko.xz`), `stand-in ${m}\n`);
    }
    await mkdir(join(d, "nix/store"), { recursive: true });
    const I = `nix/store/${storeHash(`stage1-${kernel}-${spec.loaded.join(",")}`)}-stage-1-init.sh`;
    await writeFile(
      join(d, I),
      `#! /nix/store/${storeHash("extra-utils")}-extra-utils/bin/ash\n\ntargetRoot=/mnt-root\n\n# Load the required kernel modules.\necho /nix/store/${storeHash("extra-utils")}-extra-utils/bin/modprobe > /proc/sys/kernel/modprobe\nfor i in ${spec.loaded.join(" ")}; do\n    info "loading module $(basename $i)..."\n    modprobe $i\ndone\n`,
    );
    await symlink(`/${I}`, join(d, "init"));
    return execFileSync(
      "sh",
      [
        "-c",
        "find . -print0 | sort -z | cpio --quiet -o -H newc -R +0:+0 --reproducible --null | zstd -q -c",
      ],
      { cwd: d, maxBuffer: 64 << 20 },
    );
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}

export const toplevel = (n: number) =>
  `/nix/store/${storeHash(`atlas-${n}`)}-nixos-system-atlas-24.11.202502${String(n - 30).padStart(2, "0")}.3a2f1b4`;

export async function layGenerations(
  root: string,
  gens: GenerationSpec[],
  config: Record<string, string>,
): Promise<void> {
  const w = async (p: string, data: string | Buffer) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await writeFile(join(root, p), data);
  };
  const l = async (p: string, target: string) => {
    await mkdir(dirname(join(root, p)), { recursive: true });
    await rm(join(root, p), { force: true });
    await symlink(target, join(root, p));
  };
  for (const g of gens) {
    const top = toplevel(g.n);
    const s = (name: string) => `/nix/store/${storeHash(`${g.n}-${name}`)}-${name}`;
    const K = s(`linux-${g.kernel}`);
    const I = s(`initrd-linux-${g.kernel}`);
    const E = s("etc");
    const U = s("system-units");
    await w(`${K}/bzImage`, "MZ");
    await l(`${top}/kernel`, `${K}/bzImage`);
    await l(`${top}/initrd`, `${I}/initrd`);
    if (g.initrd) await w(`${I}/initrd`, await makeInitrd(g.kernel, g.initrd));
    await w(`${top}/kernel-params`, g.params.join(" "));
    await w(`${top}/nixos-version`, top.split("-").at(-1) as string);
    await w(
      `${top}/boot.json`,
      JSON.stringify({
        "org.nixos.bootspec.v1": {
          init: `${top}/init`,
          initrd: `${I}/initrd`,
          kernel: `${K}/bzImage`,
          kernelParams: g.params,
          label: `NixOS 24.11 (Linux ${g.kernel})`,
          system: "x86_64-linux",
          toplevel: top,
        },
        "org.nixos.specialisation.v1": {},
      }),
    );
    await l(`${top}/etc`, `${E}/etc`);
    await w(`${E}/etc/fstab`, g.fstab);
    if (g.hostid) await w(`${E}/etc/hostid`, Buffer.from(encodeHostIdFile(g.hostid)));
    await l(`${E}/etc/systemd/system`, U);
    for (const u of g.units) {
      await w(`${s(`unit-${u}`)}/${u}`, "[Unit]\n");
      await l(`${U}/${u}`, `${s(`unit-${u}`)}/${u}`);
    }
    await l(`nix/var/nix/profiles/system-${g.n}-link`, top);
    const d = new Date(g.date);
    await lutimes(join(root, `nix/var/nix/profiles/system-${g.n}-link`), d, d);
    if (g.entry !== false)
      await w(
        `boot/loader/entries/nixos-generation-${g.n}.conf`,
        `title NixOS\nversion Generation ${g.n} NixOS 24.11 (Linux ${g.kernel}), built on ${g.date.slice(0, 10)}\nlinux /EFI/nixos/${storeHash(`${g.n}-k`)}-linux-${g.kernel}-bzImage.efi\ninitrd /EFI/nixos/${storeHash(`${g.n}-i`)}-initrd-linux-${g.kernel}-initrd.efi\noptions init=${top}/init ${g.params.join(" ")}\nmachine-id 4e94ca0830aecd9a467e26d22b49108a\nsort-key nixos\n`,
      );
  }
  const newest = Math.max(...gens.map((g) => g.n));
  await l("nix/var/nix/profiles/system", `system-${newest}-link`);
  await w(
    "boot/loader/loader.conf",
    `timeout 5\ndefault nixos-generation-${newest}.conf\nconsole-mode keep\n`,
  );
  for (const [path, text] of Object.entries(config)) await w(`etc/nixos/${path}`, text);
}
