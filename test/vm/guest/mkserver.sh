#!/bin/bash
# mkserver.sh CASE [PASSPHRASE] — runs INSIDE the lab guest booted as the original server
# (kernel args lbvm.hostid=8425e349 lbvm.hostname=atlas) with blank NVMe disks attached. Lays the disks
# out the way a NixOS install leaves them, then leaves them like a server that died: filesystems
# unmounted and synced, the pool still imported (never exported) unless CASE says otherwise.
# Writes /host/out/case.json and /host/out/generated/* (the generated NixOS config files).
#
# CASE: single | mirror | degraded | encrypted | two-pools | ext4 | ext4-luks | exported | fault
#   mirror/degraded: nvmepool = mirror(nvme0n1p2, nvme1n1p1)  (the host drops disk1 for "degraded")
#   two-pools: + pool tank on nvme1n1p1 (tank/data legacy at /srv/data, tank/backups at /srv/backups)
#   encrypted: aes-256-gcm, keyformat=passphrase on the pool root (every dataset inherits it)
#   ext4: ESP + ext4 root labelled nixos;  ext4-luks: the same ext4 inside LUKS2 on nvme0n1p2
#   fault: like single, but /home on the root dataset is a regular FILE, so mounting nvmepool/home
#          on it fails half way through the installed system's fstab
set -euo pipefail
CASE=${1:?case}; PASS=${2:-}
HOST=$(hostname) HOSTID=$(hostid) POOL=nvmepool
OUT=/host/out; rm -rf "$OUT"; mkdir -p "$OUT/generated"
step() { echo "=== $*"; }
settle() { udevadm settle -t 30; }
id_of() { # stable /dev/disk/by-id name of a partition, as nixos users (and zpool create) use
  local want; want=$(readlink -f "$1")
  for l in /dev/disk/by-id/nvme-*; do
    case $l in *_1-part*|*eui.*|*nvme-nvme.*) continue;; esac
    [ "$(readlink -f "$l")" = "$want" ] && { echo "$l"; return; }
  done
  echo "$1"
}
ZFS=1; LUKS=0; VDEV=single; TANK=0; EXPORT=0; FAULT=
case $CASE in
  single) ;; mirror|degraded) VDEV=mirror;; two-pools) TANK=1;; exported) EXPORT=1;;
  encrypted) [ -n "$PASS" ] || { echo "encrypted needs a passphrase"; exit 2; };;
  ext4) ZFS=0;; ext4-luks) ZFS=0; LUKS=1;; fault) FAULT=home-is-a-file;;
  *) echo "unknown case $CASE"; exit 2;;
esac

step "partitions (GPT)"
D0=/dev/nvme0n1
sgdisk --zap-all "$D0" >/dev/null
if ((ZFS)); then p2type=BF01 p2name=zfs; else p2type=8300 p2name=root; fi
((LUKS)) && p2type=8309
sgdisk -n 1:1MiB:+512MiB -t 1:EF00 -c 1:ESP -n "2:0:0" -t "2:$p2type" -c "2:$p2name" "$D0"
if [ "$VDEV" = mirror ] || ((TANK)); then
  sgdisk --zap-all /dev/nvme1n1 >/dev/null
  sgdisk -n 1:1MiB:0 -t 1:BF01 -c 1:zfs /dev/nvme1n1
fi
partprobe 2>/dev/null || true; udevadm trigger --subsystem-match=block --action=change; settle
for p in "${D0}p1" "${D0}p2"; do [ -b "$p" ] || { echo "missing $p"; exit 1; }; done

step "ESP"
mkfs.fat -F 32 -n boot "${D0}p1" 2>&1        # the NixOS manual's label (mkfs warns about lowercase)
settle
ESP_UUID=$(blkid -s UUID -o value "${D0}p1")

ROOT_DEV= ROOT_UUID= LUKS_UUID= FS=()       # FS: "mountpoint|device|fstype|options"
if ((ZFS)); then
  step "pool $POOL ($VDEV)"
  V=("$(id_of "${D0}p2")")
  [ "$VDEV" = mirror ] && V=(mirror "${V[0]}" "$(id_of /dev/nvme1n1p1)")
  OPTS=(-o ashift=12 -o autotrim=on -O acltype=posixacl -O xattr=sa -O dnodesize=auto -O compression=lz4
        -O normalization=formD -O relatime=on -O mountpoint=none -O canmount=off)
  [ -n "$PASS" ] && OPTS+=(-O encryption=aes-256-gcm -O keyformat=passphrase -O keylocation=prompt)
  printf '%s\n' "$PASS" | zpool create -f "${OPTS[@]}" "$POOL" "${V[@]}"
  for ds in root nix home var; do zfs create -o mountpoint=legacy "$POOL/$ds"; done
  zfs set com.sun:auto-snapshot=true "$POOL/home"
  mount -t zfs "$POOL/root" /mnt
  mkdir -p /mnt/nix /mnt/var /mnt/boot
  if [ "$FAULT" = home-is-a-file ]; then
    echo "this should have been a directory" >/mnt/home          # the planted fault
  else
    mkdir -p /mnt/home; mount -t zfs "$POOL/home" /mnt/home
  fi
  mount -t zfs "$POOL/nix" /mnt/nix; mount -t zfs "$POOL/var" /mnt/var
  FS=("/|$POOL/root|zfs|defaults" "/nix|$POOL/nix|zfs|defaults" "/home|$POOL/home|zfs|defaults" "/var|$POOL/var|zfs|defaults")
  if ((TANK)); then
    step "data pool tank"
    zpool create -f -o ashift=12 -O compression=zstd -O mountpoint=none -O canmount=off tank "$(id_of /dev/nvme1n1p1)"
    zfs create -o mountpoint=legacy tank/data
    zfs create -o mountpoint=/srv/backups -o canmount=noauto tank/backups
    mkdir -p /mnt/srv/data; mount -t zfs tank/data /mnt/srv/data
    echo "customer database dump 2025-01-08" >/mnt/srv/data/README
    FS+=("/srv/data|tank/data|zfs|defaults")
  fi
else
  ROOT_DEV=${D0}p2
  if ((LUKS)); then
    step "LUKS2 on ${D0}p2"
    printf '%s' "$PASS" | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf argon2id \
      --pbkdf-memory 65536 --iter-time 500 --label cryptroot --key-file - "${D0}p2"
    printf '%s' "$PASS" | cryptsetup open --key-file - "${D0}p2" cryptroot
    LUKS_UUID=$(cryptsetup luksUUID "${D0}p2")
    ROOT_DEV=/dev/mapper/cryptroot
  fi
  step "ext4 root on $ROOT_DEV"
  mkfs.ext4 -q -F -L nixos "$ROOT_DEV"; settle
  ROOT_UUID=$(blkid -s UUID -o value "$ROOT_DEV")
  mount "$ROOT_DEV" /mnt; mkdir -p /mnt/boot
  FS=("/|/dev/disk/by-uuid/$ROOT_UUID|ext4|defaults")
fi
mount -t vfat -o fmask=0022,dmask=0022 "${D0}p1" /mnt/boot
FS+=("/boot|/dev/disk/by-uuid/$ESP_UUID|vfat|fmask=0022,dmask=0022")

step "NixOS tree"
M=/mnt
# shellcheck source=nixos-tree.sh
. "$(dirname "${BASH_SOURCE[0]}")/nixos-tree.sh"
nt_store_base
KPARAMS="loglevel=4"; ((ZFS)) && KPARAMS="nohibernate loglevel=4"
nt_generations

step "/etc, /home, /var"
if [ "$FAULT" = home-is-a-file ]; then nt_etc nohome; else nt_etc; fi
NT_HW_LUKS=()
((LUKS)) && NT_HW_LUKS=("  boot.initrd.luks.devices.\"cryptroot\".device = \"/dev/disk/by-uuid/$LUKS_UUID\";")
nt_hardware_config >$M/etc/nixos/hardware-configuration.nix
NT_CONF_EXTRA=()
((ZFS)) && NT_CONF_EXTRA+=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;')
[ -n "$PASS" ] && ((ZFS)) && NT_CONF_EXTRA+=('  boot.zfs.requestEncryptionCredentials = true;')
((TANK)) && NT_CONF_EXTRA+=('  boot.zfs.extraPools = [ "tank" ];')
nt_configuration >$M/etc/nixos/configuration.nix

step "a real journal in /var/log/journal/$MID"
nt_journal

cp $M/etc/nixos/*.nix $M/boot/loader/loader.conf $M/boot/loader/entries/nixos-generation-3.conf "$OUT/generated/"
cp $M$ETC/etc/fstab "$OUT/generated/fstab"
find $M -xdev -maxdepth 2 | sort | head -40

step "crash-like stop: unmount, sync, pool left imported"
umount -R /mnt
((LUKS)) && cryptsetup close cryptroot
if ((ZFS)); then
  zpool sync
  zpool status -P
  zfs list -o name,mountpoint,canmount,encryption
  ((EXPORT)) && zpool export -a
fi
sync
POOLS='[]'; ((ZFS)) && POOLS='["nvmepool"]'; ((TANK)) && POOLS='["nvmepool","tank"]'
cat >"$OUT/case.json" <<JSON
{
  "case": "$CASE",
  "layout": "$( ((ZFS)) && echo zfs || echo ext4)",
  "vdev": "$VDEV",
  "pools": $POOLS,
  "luks": $( ((LUKS)) && echo true || echo false),
  "passphrase": "$PASS",
  "serverHostname": "$HOST",
  "serverHostid": "$HOSTID",
  "machineId": "$MID",
  "espUuid": "$ESP_UUID",
  "rootUuid": "$ROOT_UUID",
  "luksUuid": "$LUKS_UUID",
  "toplevel": "$TOPLEVEL",
  "exported": $( ((EXPORT)) && echo true || echo false),
  "fault": "$FAULT",
  "journal": "$JOURNAL"
}
JSON
echo "mkserver: $CASE done"
