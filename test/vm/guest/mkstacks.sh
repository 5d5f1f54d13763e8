#!/bin/bash
# mkstacks.sh LUKS_PASSPHRASE — runs INSIDE the lab guest booted as the server `atlas` (hostid
# 8425e349) with blank NVMe disks whose serials name the layout (LVM0; MDADM0, MDADM1). Lays out the
# md RAID and LVM layouts the way disko does, with the NixOS tree of nixos-tree.sh (sourced, read-only)
# and the fstab NixOS renders from disko's fileSystems; then stops like a crash: filesystems
# unmounted, arrays still running, the VG still active, the LUKS mapping still open.
# Writes /host/out/<layout>/case.json and /host/out/<layout>/generated/* (fstab, /etc/nixos files).
#
# Sources (read with the lab's search tools):
#   luks-lvm  nix-community/disko example/luks-lvm.nix @04452cf (ESP vfat /boot, LUKS "crypted" →
#             lvm_pv → VG "pool" → LVs root ext4 /, home ext4 /home; the NixOS manual's encrypted
#             install adds swap, here an LV "swap"), lib/types/{gpt,luks,lvm_pv,lvm_vg,filesystem}.nix:
#             partlabels disk-<disk>-<part>, fileSystems device /dev/<vg>/<lv>, LUKS2 (argon2id at
#             64 MiB, 4 passes instead of the default benchmark, which costs minutes under TCG).
#   mdadm     nix-community/disko example/mdadm.nix (stored version with the `boot` array): an ESP
#             partition on each disk in md `boot` (RAID1, metadata 1.0: the superblock at the end, so
#             firmware sees a plain FAT) holding vfat /boot, and md `raid1` (metadata 1.2) holding the
#             root; disko's lib/types/mdadm.nix creates with --homehost=any (MD_NAME without a host),
#             fileSystems device /dev/md/<name>. Left out: the GPT disko puts inside `raid1` (root is
#             ext4 on the array itself) and the bios_grub partition.
set -euo pipefail
PASS=${1:?luks passphrase}
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=nixos-tree.sh
. "$HERE/nixos-tree.sh"
HOST=$(hostname) HOSTID=$(hostid)
OUTROOT=/host/out; rm -rf "$OUTROOT"; mkdir -p "$OUTROOT"
M=/mnt
step() { echo "=== $*"; }
settle() { udevadm settle -t 30; }
byid() { echo "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_$1"; }
uuid() { blkid -s UUID -o value "$1"; }
reprobe() { udevadm trigger --action=change "$(readlink -f "$1")"; settle; }

begin() {
  L=$1 OUT=$OUTROOT/$1; mkdir -p "$OUT/generated"
  FS=() NT_FAITHFUL=1 NT_BOOT=systemd-boot NT_ESP=/boot NT_GRUB_ROOT='' NT_GRUB_SEARCH='' NT_HW_NOFS=1
  NT_HW_LUKS=() NT_CONF_IMPORTS=('./disko-config.nix') NT_CONF_BOOT=() NT_CONF_EXTRA=() DISKS=() EXTRA_JSON=
  KPARAMS="loglevel=4"; T0=$SECONDS
  step "layout $L"
}
tree() { nt_store_base; nt_generations; nt_etc; }   # as mkserver.sh builds it
finish() {
  mkdir -p "$M/etc/nixos"
  nt_hardware_config >"$M/etc/nixos/hardware-configuration.nix"
  nt_configuration >"$M/etc/nixos/configuration.nix"
  cp "$M"/etc/nixos/*.nix "$OUT/generated/"
  cp "$M$ETC/etc/fstab" "$OUT/generated/fstab"
  local p s=(); for p in "${DISKS[@]}"; do s+=("\"$p\""); done
  cat >"$OUT/case.json" <<JSON
{
  "layout": "$L",
  "disks": [$(IFS=,; echo "${s[*]}")],
  "serverHostname": "$HOST",
  "serverHostid": "$HOSTID",
  "machineId": "$MID",
  "toplevel": "$TOPLEVEL"$EXTRA_JSON
}
JSON
  sed -n '/^# Filesystems/,/^# Swap/p' "$OUT/generated/fstab"
  umount -R "$M"
  sync
  echo "layout $L: $((SECONDS - T0)) s"
}

# ---------------------------------------------------------------------------------------------------
# a. disko example/luks-lvm.nix: gpt (ESP 256M EF00, luks 100%), luksFormat + open as "crypted",
#    pvcreate, vgcreate pool, lvcreate root/home/swap, mkfs; disko --mode mount mounts by mount point.
layout_lukslvm() {
  begin luks-lvm; DISKS=(LVM0)
  local D; D=$(byid LVM0)
  sgdisk --clear "$D" >/dev/null
  sgdisk --align-end --new=1:0:+256M --change-name=1:disk-main-ESP --typecode=1:EF00 "$D" >/dev/null
  sgdisk --align-end --new=2:0:-0 --change-name=2:disk-main-luks --typecode=2:8300 "$D" >/dev/null
  reprobe "$D"
  local ESP=/dev/disk/by-partlabel/disk-main-ESP LUKS=/dev/disk/by-partlabel/disk-main-luks
  mkfs.vfat "$ESP" >/dev/null
  printf '%s' "$PASS" | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf argon2id --pbkdf-memory 65536 \
    --pbkdf-parallel 1 --pbkdf-force-iterations 4 "$LUKS" -
  printf '%s' "$PASS" | cryptsetup open --allow-discards --key-file - "$LUKS" crypted
  settle
  pvcreate -q /dev/mapper/crypted
  vgcreate -q pool /dev/mapper/crypted
  lvcreate -q -y -L 400M -n root pool
  lvcreate -q -y -L 100M -n home pool
  lvcreate -q -y -L 64M -n swap pool
  settle
  mkfs.ext4 -q /dev/pool/root; mkfs.ext4 -q /dev/pool/home; mkswap -q /dev/pool/swap
  mount -o X-mount.mkdir -t ext4 /dev/pool/root "$M/"
  mount -o X-mount.mkdir,umask=0077 -t vfat "$ESP" "$M/boot"
  mount -o X-mount.mkdir -t ext4 /dev/pool/home "$M/home"
  # disko's fileSystems: device by the path it created, options = mountOptions (default [ "defaults" ])
  FS=("/|/dev/pool/root|ext4|defaults" "/boot|$ESP|vfat|umask=0077" "/home|/dev/pool/home|ext4|defaults")
  tree
  NT_CONF_EXTRA=('  swapDevices = [ { device = "/dev/pool/swap"; } ];')
  mkdir -p "$M/etc/nixos"
  cat >"$M/etc/nixos/disko-config.nix" <<'NIX'
{
  disko.devices = {
    disk.main = {
      type = "disk";
      device = "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_LVM0";
      content = {
        type = "gpt";
        partitions = {
          ESP = { size = "256M"; type = "EF00"; content = { type = "filesystem"; format = "vfat"; mountpoint = "/boot"; mountOptions = [ "umask=0077" ]; }; };
          luks = {
            size = "100%";
            content = {
              type = "luks";
              name = "crypted";
              settings.allowDiscards = true;
              content = { type = "lvm_pv"; vg = "pool"; };
            };
          };
        };
      };
    };
    lvm_vg.pool = {
      type = "lvm_vg";
      lvs = {
        root = { size = "400M"; content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; }; };
        home = { size = "100M"; content = { type = "filesystem"; format = "ext4"; mountpoint = "/home"; }; };
        swap = { size = "64M"; content = { type = "swap"; }; };
      };
    };
  };
}
NIX
  EXTRA_JSON=",
  \"luks\": { \"partition\": 2, \"uuid\": \"$(cryptsetup luksUUID "$LUKS")\", \"mapper\": \"crypted\" },
  \"vg\": \"pool\",
  \"lvs\": { \"root\": \"$(uuid /dev/pool/root)\", \"home\": \"$(uuid /dev/pool/home)\" },
  \"esp\": \"$(uuid "$ESP")\""
  finish
  # crash-like: the VG stays active and the mapping open (a power cut)
}

# ---------------------------------------------------------------------------------------------------
# b. disko example/mdadm.nix: on both disks an ESP partition (EF00) in md `boot` (metadata 1.0) and the
#    rest in md `raid1`; mdadm --create as disko's lib/types/mdadm.nix does (--homehost=any).
layout_mdadm() {
  begin mdadm; DISKS=(MDADM0 MDADM1)
  local s D parts_boot=() parts_root=()
  for s in MDADM0 MDADM1; do
    D=$(byid "$s")
    sgdisk --clear "$D" >/dev/null
    sgdisk --align-end --new=1:0:+128M --change-name=1:disk-$s-ESP --typecode=1:EF00 "$D" >/dev/null
    sgdisk --align-end --new=2:0:-0 --change-name=2:disk-$s-mdadm --typecode=2:FD00 "$D" >/dev/null
    reprobe "$D"
    parts_boot+=("$D-part1") parts_root+=("$D-part2")
  done
  mdadm --create /dev/md/boot --run --level=1 --raid-devices=2 --metadata=1.0 --homehost=any "${parts_boot[@]}"
  mdadm --create /dev/md/raid1 --run --level=1 --raid-devices=2 --metadata=1.2 --homehost=any "${parts_root[@]}"
  settle
  mkfs.vfat /dev/md/boot >/dev/null
  mkfs.ext4 -q /dev/md/raid1
  mount -o X-mount.mkdir -t ext4 /dev/md/raid1 "$M/"
  mount -o X-mount.mkdir -t vfat /dev/md/boot "$M/boot"
  FS=("/|/dev/md/raid1|ext4|defaults" "/boot|/dev/md/boot|vfat|defaults")
  tree
  NT_CONF_EXTRA=('  boot.swraid.enable = true;' '  boot.swraid.mdadmConf = "MAILADDR root";')
  mkdir -p "$M/etc/nixos"
  cat >"$M/etc/nixos/disko-config.nix" <<'NIX'
{
  disko.devices = {
    disk = {
      one = { type = "disk"; device = "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_MDADM0";
        content = { type = "gpt"; partitions = {
          ESP = { size = "128M"; type = "EF00"; content = { type = "mdraid"; name = "boot"; }; };
          mdadm = { size = "100%"; content = { type = "mdraid"; name = "raid1"; }; };
        }; }; };
      two = { type = "disk"; device = "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_MDADM1";
        content = { type = "gpt"; partitions = {
          ESP = { size = "128M"; type = "EF00"; content = { type = "mdraid"; name = "boot"; }; };
          mdadm = { size = "100%"; content = { type = "mdraid"; name = "raid1"; }; };
        }; }; };
    };
    mdadm = {
      boot = { type = "mdadm"; level = 1; metadata = "1.0";
        content = { type = "filesystem"; format = "vfat"; mountpoint = "/boot"; }; };
      raid1 = { type = "mdadm"; level = 1;
        content = { type = "filesystem"; format = "ext4"; mountpoint = "/"; }; };
    };
  };
}
NIX
  EXTRA_JSON=",
  \"arrays\": { \"boot\": \"$(mdadm --detail --export /dev/md/boot | sed -n 's/^MD_UUID=//p')\", \"raid1\": \"$(mdadm --detail --export /dev/md/raid1 | sed -n 's/^MD_UUID=//p')\" },
  \"root\": \"$(uuid /dev/md/raid1)\""
  finish
  # crash-like: the arrays keep running (no --stop)
}

layout_lukslvm
layout_mdadm
cat /proc/mdstat
lvs -o vg_name,lv_name,lv_attr
echo "mkstacks: done in $SECONDS s"
