#!/bin/bash
# mkbig.sh USERS CONTAINERS SNAPSHOTS — runs INSIDE the lab guest booted as the server `atlas` (hostid
# 8425e349) with one blank NVMe disk. Issue 13's big pool: a NixOS root on ZFS laid out as the OpenZFS
# guide does it, grown the way a shared server grows it, then left like a server that died (pool
# still imported, nothing exported). Writes /host/out/case.json and /host/out/generated/*.
#
# What it models (sources read with the lab's search tools; facts, not code):
#   - openzfs/openzfs-docs "NixOS Root on ZFS" (2-system-installation.rst @2766cb7): rpool with
#     -O mountpoint=/ -O canmount=off, rpool/nixos (canmount=off, mountpoint=none), rpool/nixos/root
#     at /, rpool/nixos/home at /home, rpool/nixos/var (canmount=off) with var/lib and var/log; the
#     guide's sed adds options = [ "zfsutil" "X-mount.mkdir" ] to the generated zfs fileSystems.
#     Here on ONE disk (ESP + rpool, systemd-boot at /boot), with /nix on its own dataset.
#   - per-user home datasets, one per account (the openzfs-docs "Ubuntu Root on ZFS" guide's
#     `zfs create rpool/USERDATA/<user>` per user; a lab or university shell server has thousands):
#     rpool/nixos/home/<user>, mountpoint inherited (/home/<user>), created after the install, so
#     NOT in hardware-configuration.nix: ZFS mounts them at boot (zfs-mount.service, `zfs mount -a`).
#   - per-container datasets for NixOS containers (nixos/modules/virtualisation/nixos-containers.nix
#     keeps each container's root in /var/lib/nixos-containers/<name>): rpool/nixos/var/lib/
#     nixos-containers/<name>, inherited mountpoints, mounted by ZFS as well.
#   - recursive snapshots (every dataset in one txg, as `zfs snapshot -r` for zfs-auto-snapshot and
#     sanoid takes them; here by a channel program, see below): SNAPSHOTS of them, so every dataset
#     has SNAPSHOTS snapshots.
# Datasets are created with `zfs create -u` (not mounted), in parallel (xargs -P: many creates share a
# txg); the mountpoint directories a first boot's `zfs mount -a` would have made in the parents are
# made with one mkdir, so a read-only mount finds them (nothing may be created on a read-only disk).
set -euo pipefail
USERS=${1:-1600} CONTAINERS=${2:-400} SNAPS=${3:-10}
HOST=$(hostname) HOSTID=$(hostid) M=/mnt
OUT=/host/out; rm -rf "$OUT"; mkdir -p "$OUT/generated"
T0=$SECONDS
step() { echo "=== $((SECONDS - T0)) s: $*"; }
settle() { udevadm settle -t 30; }
D=/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_LBVM0000

step "partitions"
sgdisk --zap-all "$D" >/dev/null
sgdisk -n1:1M:+512M -t1:EF00 -c1:ESP -n2:0:0 -t2:BF00 -c2:zfs "$D" >/dev/null
udevadm trigger --action=change "$(readlink -f "$D")"; settle
mkfs.fat -F 32 -n boot "$D-part1" >/dev/null 2>&1; settle
ESP_UUID=$(blkid -s UUID -o value "$D-part1")

step "rpool (the guide's properties)"
zpool create -f -o ashift=12 -o autotrim=on -R "$M" -O acltype=posixacl -O canmount=off -O compression=zstd \
  -O dnodesize=auto -O normalization=formD -O relatime=on -O xattr=sa -O mountpoint=/ rpool "$D-part2"
zfs create -o canmount=off -o mountpoint=none rpool/nixos
zfs create -o canmount=on -o mountpoint=/ rpool/nixos/root
zfs create -o canmount=on -o mountpoint=/nix rpool/nixos/nix
zfs create -o canmount=on -o mountpoint=/home rpool/nixos/home
zfs create -o canmount=off -o mountpoint=/var rpool/nixos/var
zfs create -o canmount=on rpool/nixos/var/lib
zfs create -o canmount=on rpool/nixos/var/log
mkdir -p "$M/boot"; mount -t vfat -o fmask=0022,dmask=0022 "$D-part1" "$M/boot"
settle

step "the NixOS tree (nixos-generate-config sees / /nix /home /var/lib /var/log /boot)"
# shellcheck source=nixos-tree.sh
. "$(dirname "${BASH_SOURCE[0]}")/nixos-tree.sh"
FS=() NT_FAITHFUL=1 NT_BOOT=systemd-boot NT_ESP=/boot NT_HW_LUKS=() NT_CONF_IMPORTS=() NT_CONF_BOOT=()
NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;')
KPARAMS="nohibernate loglevel=4"
nt_scan_mounts
GENERATED=("${FS[@]}")
for i in "${!FS[@]}"; do IFS='|' read -r m d t o <<<"${FS[$i]}"
  [ "$t" = zfs ] && FS[$i]="$m|$d|zfs|zfsutil,X-mount.mkdir"; done
nt_store_base
nt_generations
nt_etc
mkdir -p "$M/var/lib/nixos-containers"
ALL=("${FS[@]}"); FS=("${GENERATED[@]}")
nt_hardware_config >"$M/etc/nixos/hardware-configuration.nix"
FS=("${ALL[@]}")
sed -i 's|fsType = "zfs";|fsType = "zfs"; options = [ "zfsutil" "X-mount.mkdir" ];|g' \
  "$M/etc/nixos/hardware-configuration.nix"
nt_configuration >"$M/etc/nixos/configuration.nix"

step "$USERS home datasets, $CONTAINERS container datasets (zfs create -u, xargs -P 8)"
zfs create -o canmount=on rpool/nixos/var/lib/nixos-containers
NAMES=/tmp/mkbig.names
{ for ((i = 1; i <= USERS; i++)); do printf 'rpool/nixos/home/u%04d\n' "$i"; done
  for ((i = 1; i <= CONTAINERS; i++)); do printf 'rpool/nixos/var/lib/nixos-containers/ct%03d\n' "$i"; done
} >"$NAMES"
xargs -P 8 -n 1 zfs create -u <"$NAMES"
# the mountpoints a first `zfs mount -a` makes in the parents (one process), with a file in each home
( cd "$M/home" && seq -f 'u%04g' 1 "$USERS" | xargs mkdir -p )
( cd "$M/var/lib/nixos-containers" && seq -f 'ct%03g' 1 "$CONTAINERS" | xargs mkdir -p )
echo "$(zfs list -H -t filesystem -o name | wc -l) filesystems"

cp "$M"/etc/nixos/*.nix "$OUT/generated/"
cp "$M$ETC/etc/fstab" "$OUT/generated/fstab"
sed -n '/^# Filesystems/,/^# Swap/p' "$OUT/generated/fstab"

step "crash-like stop: unmount, $SNAPS recursive snapshots, sync, pool left imported"
umount -R "$M"
# `zfs snapshot -r` walks the tree in userspace (libzfs): under TCG one took 30-120 s here, slower with
# every round. The same recursive snapshot (every dataset, one txg) as a ZFS channel program walks it in
# the kernel (zfs-program(8): zfs.list.children, zfs.sync.snapshot), one program per snapshot name.
cat >/tmp/snap.lua <<'LUA'
local name = ...
name = name["argv"][1]
local function walk(ds)
  local err = zfs.sync.snapshot(ds .. "@" .. name)
  if err ~= 0 then error("snapshot " .. ds .. "@" .. name .. ": " .. err) end
  for child in zfs.list.children(ds) do walk(child) end
end
walk("rpool")
LUA
for ((s = 1; s <= SNAPS; s++)); do
  n="autosnap_2025-01-$(printf %02d "$s")_00:00:00_daily"
  zfs program -t 100000000 -m 100000000 rpool /tmp/snap.lua "$n" >/dev/null || zfs snapshot -r "rpool@$n"
done
echo "$(zfs list -H -t snapshot -o name -s name rpool/nixos/home/u0001 | wc -l) snapshots of rpool/nixos/home/u0001"
zpool sync; sync
cat >"$OUT/case.json" <<JSON
{
  "case": "big",
  "pools": ["rpool"],
  "users": $USERS,
  "containers": $CONTAINERS,
  "snapshotsPerDataset": $SNAPS,
  "filesystems": $(zfs list -H -t filesystem -o name | wc -l),
  "serverHostname": "$HOST",
  "serverHostid": "$HOSTID",
  "machineId": "$MID",
  "espUuid": "$ESP_UUID",
  "toplevel": "$TOPLEVEL"
}
JSON
step "mkbig: done"
