#!/bin/bash
# mklayouts.sh LUKS_PASSPHRASE [LAYOUT...] — runs INSIDE the lab guest booted as the server `atlas`
# (hostid 8425e349) with blank NVMe disks whose serials name the layout they are for (disk() below).
# Lays out every layout issue 12 lists, each on its own disks, the way its public source does it,
# with a structurally faithful NixOS tree (nixos-tree.sh) and the fstab NixOS generates for it; then
# leaves each like a server that died: filesystems unmounted, pools still imported (never exported).
# Writes /host/out/<layout>/case.json and /host/out/<layout>/generated/* (fstab, /etc/nixos files).
#
# Sources (read with the lab's search tools; cited per layout below):
#   disko         nix-community/disko @878ec37: example/zfs.nix, lib/types/{gpt,zpool,zfs_fs,filesystem}.nix
#   openzfs-guide openzfs/openzfs-docs @2766cb7 "NixOS Root on ZFS" 2-system-installation.rst +
#                 3-system-configuration.rst (bpool compatibility=grub2 + rpool, mountpoint=/ datasets,
#                 mirrored ESPs at /boot/efis/<disk>-part1, zfsutil added to hardware-configuration.nix)
#   luks-zfs      openzfs/openzfs-docs @b0f9846 "NixOS Root on ZFS" (LUKS only: rpool on dm-crypt)
#   impermanence  nix-community/impermanence @7b1d382 README.org "tmpfs" (/, /nix, /persistent)
#   btrfs         wiki.nixos.org/wiki/Btrfs (subvolumes + compress=zstd/noatime), with the @ names
#   nixpkgs       nixos/modules/tasks/filesystems.nix, nixos/lib/utils.nix, nixos-generate-config.pl,
#                 nixos/modules/tasks/filesystems/zfs.nix (createImportService: zfs-import-<pool>.service
#                 for every data pool, i.e. the pools of non-neededForBoot zfs fileSystems and
#                 boot.zfs.extraPools; requiredBy zfs-import.target), nixos/lib/systemd-lib.nix
#                 (generateUnits: etc/systemd/system is one store path of unit links, wantedBy /
#                 requiredBy as <target>.wants|requires/<unit> -> ../<unit>)
# Pools that share a name on real machines (rpool, bpool) get a temporary in-core name here
# (zpool create -t, made for "pools for other systems"): their labels carry the real name.
set -euo pipefail
if [ -n "${LAYOUTS_TRACE:-}" ]; then PS4='+ $EPOCHREALTIME '; set -x; fi   # timed trace (profiling)
PASS=${1:?luks passphrase}; shift
ONLY=" ${*:-all} "
HERE=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=nixos-tree.sh
. "$HERE/nixos-tree.sh"
HOST=$(hostname) HOSTID=$(hostid)
# as on the installer: with the module (and /dev/btrfs-control) udev's "btrfs ready" succeeds and makes
# the /dev/disk/by-uuid links of new btrfs filesystems, which nixos-generate-config then writes
modprobe btrfs
OUTROOT=/host/out; rm -rf "$OUTROOT"; mkdir -p "$OUTROOT"
M=/mnt
step() { echo "=== $*"; }
settle() { udevadm settle -t 30; }
byid() { echo "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_$1"; }     # the stable name the guides use
disk() { readlink -f "$(byid "$1")"; }
part() { echo "$(disk "$1")p$2"; }
uuid() { blkid -s UUID -o value "$1"; }
want() { [[ $ONLY == *" all "* || $ONLY == *" $1 "* ]]; }
# new partition table: re-read it and let udev (re)make the by-id/by-partlabel links of THIS disk only
# (a change event for every block device of the guest costs seconds per call under TCG)
reprobe() { udevadm trigger --action=change "$(readlink -f "$1")"; settle; }   # sgdisk re-read the table
# a new btrfs: udev's by-uuid link comes with a change event processed while the module is loaded
mkbtrfs() { mkfs.btrfs -q -f "$@"; local d=${*: -1}; udevadm trigger --action=change "$(readlink -f "$d")"; settle; }

begin() { # LAYOUT: fresh per-layout state
  L=$1 OUT=$OUTROOT/$1; mkdir -p "$OUT/generated"
  FS=() NT_FAITHFUL=1 NT_BOOT=systemd-boot NT_ESP=/boot NT_GRUB_ROOT='' NT_GRUB_SEARCH='' NT_HW_NOFS=0
  NT_HW_LUKS=() NT_CONF_IMPORTS=() NT_CONF_BOOT=() NT_CONF_EXTRA=() POOLS=() DISKS=() EXTRA_JSON=
  KPARAMS="loglevel=4"; T0=$SECONDS
  step "layout $L"
}
# the parts every layout shares (store, profiles, /etc, /home) are made once in the guest's tmpfs and
# copied (cp -a: one process; forks are what costs under TCG), then the layout's own parts are written
NT_TEMPLATE=/tmp/nixos-tree-template
tree() {
  if [ ! -d $NT_TEMPLATE ]; then
    local keep=$M; M=$NT_TEMPLATE; mkdir -p "$M"
    nt_store_base; NT_PART=store nt_generations; nt_etc
    M=$keep
  fi
  nt_names
  cp -a $NT_TEMPLATE/. "$M/"
  NT_PART=vary nt_generations
}
configs() { # hardware-configuration.nix + configuration.nix into $1 (default $M/etc/nixos)
  local d=${1:-$M/etc/nixos}; mkdir -p "$d"
  nt_hardware_config >"$d/hardware-configuration.nix"
  nt_configuration >"$d/configuration.nix"
}
finish() { # copy what was generated, record the case, stop like a crash (pools stay imported)
  local d=$M/etc/nixos; [ -n "${ETCNIXOS:-}" ] && d=$ETCNIXOS
  cp "$d"/*.nix "$OUT/generated/"
  cp "$M$ETC/etc/fstab" "$OUT/generated/fstab"
  local p q=() s=(); for p in "${POOLS[@]}"; do q+=("\"$p\""); done; for p in "${DISKS[@]}"; do s+=("\"$p\""); done
  cat >"$OUT/case.json" <<JSON
{
  "layout": "$L",
  "disks": [$(IFS=,; echo "${s[*]}")],
  "pools": [$(IFS=,; echo "${q[*]}")],
  "serverHostname": "$HOST",
  "serverHostid": "$HOSTID",
  "machineId": "$MID",
  "toplevel": "$TOPLEVEL"$EXTRA_JSON
}
JSON
  sed -n '/^# Filesystems/,/^# Swap/p' "$OUT/generated/fstab"
  umount -R "$M"
  zpool sync 2>/dev/null || true
  sync
  unset ETCNIXOS
  echo "layout $L: $((SECONDS - T0)) s"
}

# systemd units of the generations (NixOS renders each unit into its own store path, links them all
# into one "system-units" store path, and every generation's etc/systemd/system points there)
# unit NAME REL TEXT: REL = "" or <target>.wants / <target>.requires (wantedBy / requiredBy)
# (a copy of each goes to $OUT/generated/units/ for the record, links relative as in the store)
unit() {
  local U S G=$OUT/generated/units; storeto U system-units; storeto S "unit-$1"
  mkdir -p "$M$S" "$M$U" "$G"; printf '%s' "$3" >"$M$S/$1"; ln -sfn "$S/$1" "$M$U/$1"; cp "$M$S/$1" "$G/$1"
  if [ -n "$2" ]; then mkdir -p "$M$U/$2" "$G/$2"; ln -sfn "../$1" "$M$U/$2/$1"; ln -sfn "../$1" "$G/$2/$1"; fi
}
link_units() { # every generation's etc/systemd/system -> the units
  local U e; storeto U system-units
  for e in "$M"/nix/store/*-etc-*/etc; do ln -sfn "$U" "$e/systemd/system"; done
}
# nixpkgs zfs.nix createImportService, rendered the way systemd-lib does (sorted keys, one per line)
zfs_import_unit() {
  local S; storeto S "unit-script-zfs-import-$1-start"
  unit "zfs-import-$1.service" zfs-import.target.requires "[Unit]
After=systemd-udev-settle.service
After=systemd-modules-load.service
After=systemd-ask-password-console.service
Before=shutdown.target
Before=zfs-import.target
Conflicts=shutdown.target
DefaultDependencies=no
Description=Import ZFS pool \"$1\"
Wants=systemd-udev-settle.service

[Service]
Environment=\"ZFS_FORCE=\"
ExecStart=$S/bin/zfs-import-$1-start
RemainAfterExit=true
Type=oneshot
"
}

# ---------------------------------------------------------------------------------------------------
# a. disko: what `disko --mode disko` runs for this config (written to /etc/nixos/disko-config.nix),
#    fileSystems from disko's _config: zfs datasets with a `mountpoint` get device=<dataset>,
#    options = mountOptions ++ [ "zfsutil" ] (non-legacy); datasets without one are not in fstab and
#    ZFS mounts them itself (home/alice inherits /home/alice; data has options.mountpoint=/srv/data).
layout_disko() {
  begin disko-zfs; DISKS=(DISKO0)
  local D; D=$(byid DISKO0)
  sgdisk --clear "$D" >/dev/null
  # gpt.nix: partitions by priority (ESP 1000, the 100% one 9001), label disk-<disk>-<partition>
  sgdisk --align-end --new=1:0:+512M --partition-guid=1:R --change-name=1:disk-main-ESP --typecode=1:EF00 \
    --attributes=1:=:0 "$D" >/dev/null
  sgdisk --align-end --new=2:0:-0 --partition-guid=2:R --change-name=2:disk-main-zfs --typecode=2:8300 \
    --attributes=2:=:0 "$D" >/dev/null
  reprobe "$D"
  local ESP=/dev/disk/by-partlabel/disk-main-ESP ZDEV=/dev/disk/by-partlabel/disk-main-zfs
  mkfs.vfat "$ESP" >/dev/null                                        # filesystem.nix: no label
  # zpool.nix: -o options, -O rootFsOptions (-m none only when rootFsOptions.canmount = "off")
  zpool create -f zroot -R "$M" -o ashift=12 -O compression=zstd -O acltype=posixacl -O xattr=sa \
    -O com.sun:auto-snapshot=false -O mountpoint=none "$ZDEV"
  # zfs_fs.nix: zfs create -up <name> -o mountpoint=<mountpoint> -o <options>
  zfs create -up zroot/root -o canmount=noauto -o mountpoint=/
  zfs create -up zroot/nix -o atime=off -o mountpoint=/nix
  zfs create -up zroot/home -o com.sun:auto-snapshot=true -o mountpoint=/home
  zfs create -up zroot/home/alice
  zfs create -up zroot/data -o mountpoint=/srv/data
  zfs create -up zroot/reserved -o mountpoint=none -o refreservation=64M
  # disko --mode mount: by mount point, `mount <dataset> <root><mp> -o X-mount.mkdir -o defaults -o zfsutil -t zfs`
  mount zroot/root "$M/" -o X-mount.mkdir -o defaults -o zfsutil -t zfs
  mount "$ESP" "$M/boot" -t vfat -o umask=0077 -o X-mount.mkdir
  mount zroot/home "$M/home" -o X-mount.mkdir -o defaults -o zfsutil -t zfs
  mount zroot/nix "$M/nix" -o X-mount.mkdir -o defaults -o zfsutil -t zfs
  # what the installed system's zfs-mount.service mounted on its first boot (alice's files live there)
  zfs mount zroot/home/alice; zfs mount zroot/data
  FS=("/|zroot/root|zfs|defaults,zfsutil" "/boot|$ESP|vfat|umask=0077"
      "/home|zroot/home|zfs|defaults,zfsutil" "/nix|zroot/nix|zfs|defaults,zfsutil")
  KPARAMS="nohibernate loglevel=4"
  tree
  echo "backups of the shop database" >"$M/srv/data/README"
  NT_HW_NOFS=1 NT_CONF_IMPORTS=('./disko-config.nix' '"${builtins.fetchTarball "https://github.com/nix-community/disko/archive/master.tar.gz"}/module.nix"')
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;')
  configs
  cat >"$M/etc/nixos/disko-config.nix" <<'NIX'
{
  disko.devices = {
    disk.main = {
      type = "disk";
      device = "/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_DISKO0";
      content = {
        type = "gpt";
        partitions = {
          ESP = {
            size = "512M";
            type = "EF00";
            content = {
              type = "filesystem";
              format = "vfat";
              mountpoint = "/boot";
              mountOptions = [ "umask=0077" ];
            };
          };
          zfs = {
            size = "100%";
            content = {
              type = "zfs";
              pool = "zroot";
            };
          };
        };
      };
    };
    zpool.zroot = {
      type = "zpool";
      options.ashift = "12";
      rootFsOptions = {
        compression = "zstd";
        acltype = "posixacl";
        xattr = "sa";
        "com.sun:auto-snapshot" = "false";
        mountpoint = "none";
      };
      datasets = {
        root = {
          type = "zfs_fs";
          mountpoint = "/";
          options.canmount = "noauto";
        };
        nix = {
          type = "zfs_fs";
          mountpoint = "/nix";
          options.atime = "off";
        };
        home = {
          type = "zfs_fs";
          mountpoint = "/home";
          options."com.sun:auto-snapshot" = "true";
        };
        "home/alice" = {
          type = "zfs_fs";
        };
        data = {
          type = "zfs_fs";
          options.mountpoint = "/srv/data";
        };
        reserved = {
          type = "zfs_fs";
          options = {
            mountpoint = "none";
            refreservation = "64M";
          };
        };
      };
    };
  };
}
NIX
  POOLS=(zroot)
  finish
}

# ---------------------------------------------------------------------------------------------------
# b. OpenZFS "NixOS Root on ZFS" (2022-07, @2766cb7), two disks mirrored, no swap; partition sizes
#    scaled to the lab's 4 GB disks (ESP 1G -> 256M, bpool 4G -> 512M).
layout_guide() {
  begin openzfs-guide; DISKS=(GUIDE0 GUIDE1)
  local DISK i; DISK="$(byid GUIDE0) $(byid GUIDE1)"
  for i in $DISK; do
    sgdisk --zap-all "$i" >/dev/null
    sgdisk -n1:1M:+256M -t1:EF00 "$i" >/dev/null
    sgdisk -n2:0:+512M -t2:BE00 "$i" >/dev/null
    sgdisk -n3:0:0 -t3:BF00 "$i" >/dev/null
    sgdisk -a1 -n5:24K:+1000K -t5:EF02 "$i" >/dev/null
    reprobe "$i"
  done
  # shellcheck disable=SC2046
  zpool create -o compatibility=grub2 -o ashift=12 -o autotrim=on -O acltype=posixacl -O canmount=off \
    -O compression=lz4 -O devices=off -O normalization=formD -O relatime=on -O xattr=sa -O mountpoint=/boot \
    -R "$M" bpool mirror $(for i in ${DISK}; do printf '%s ' "$i-part2"; done)
  # shellcheck disable=SC2046
  zpool create -o ashift=12 -o autotrim=on -R "$M" -O acltype=posixacl -O canmount=off -O compression=zstd \
    -O dnodesize=auto -O normalization=formD -O relatime=on -O xattr=sa -O mountpoint=/ \
    rpool mirror $(for i in ${DISK}; do printf '%s ' "$i-part3"; done)
  zfs create -o canmount=off -o mountpoint=none rpool/nixos
  zfs create -o canmount=on -o mountpoint=/ rpool/nixos/root
  zfs create -o canmount=on -o mountpoint=/home rpool/nixos/home
  zfs create -o canmount=off -o mountpoint=/var rpool/nixos/var
  zfs create -o canmount=on rpool/nixos/var/lib
  zfs create -o canmount=on rpool/nixos/var/log
  zfs create -o canmount=on -o mountpoint=/boot bpool/nixos
  for i in ${DISK}; do
    mkfs.vfat -n EFI "$i-part1" >/dev/null
    mkdir -p "$M/boot/efis/${i##*/}-part1"
    mount -t vfat "$i-part1" "$M/boot/efis/${i##*/}-part1"
  done
  mkdir -p "$M/boot/efi"
  mount -t vfat "$(echo "$DISK" | cut -f1 -d\ )-part1" "$M/boot/efi"
  settle
  # 3-system-configuration: "Disable cache", nixos-generate-config --root /mnt (below, configs), then
  # the guide's sed adds options = [ "zfsutil" "X-mount.mkdir" ] to every fsType = "zfs"
  mkdir -p "$M/state/etc/zfs"; touch "$M/state/etc/zfs/zpool.cache"
  nt_scan_mounts
  local -a generated=("${FS[@]}"); local m d t o
  for i in "${!FS[@]}"; do IFS='|' read -r m d t o <<<"${FS[$i]}"
    [ "$t" = zfs ] && FS[$i]="$m|$d|zfs|zfsutil,X-mount.mkdir"; done
  KPARAMS="nohibernate loglevel=4"
  local bguid; bguid=$(printf '%016x' "$(zpool get -H -p -o value guid bpool)")
  NT_BOOT=grub NT_GRUB_ROOT='($drive1)/nixos@' NT_GRUB_SEARCH="  search --set=drive1 --fs-uuid $bguid"
  tree
  # grub efiInstallAsRemovable on /boot/efi, then extraInstallCommands copies EFI/ to every /boot/efis/*
  mkdir -p "$M/boot/efi/EFI/BOOT"; printf 'MZ\x00 (stand-in GRUB 2.12 EFI)\n' >"$M/boot/efi/EFI/BOOT/BOOTX64.EFI"
  local mirror; mirror=$(mktemp -d); cp -r "$M/boot/efi/EFI" "$mirror"
  for i in "$M"/boot/efis/*; do cp -r "$mirror/EFI" "$i"; done
  rm -rf "$mirror"
  NT_CONF_IMPORTS=('./zfs.nix') NT_CONF_BOOT=('  # boot loader: see zfs.nix')
  local all=("${FS[@]}"); FS=("${generated[@]}"); configs; FS=("${all[@]}")
  sed -i 's|fsType = "zfs";|fsType = "zfs"; options = [ "zfsutil" "X-mount.mkdir" ];|g' \
    "$M/etc/nixos/hardware-configuration.nix"
  { printf '{ config, pkgs, ... }:\n\n{ boot.supportedFilesystems = [ "zfs" ];\n  networking.hostId = "%s";\n' "$HOSTID"
    printf '  boot.kernelPackages = config.boot.zfs.package.latestCompatibleLinuxPackages;\n'
    printf '%s\n' 'boot.loader.efi.efiSysMountPoint = "/boot/efi";' 'boot.loader.efi.canTouchEfiVariables = false;' \
      'boot.loader.generationsDir.copyKernels = true;' 'boot.loader.grub.efiInstallAsRemovable = true;' \
      'boot.loader.grub.enable = true;' 'boot.loader.grub.version = 2;' 'boot.loader.grub.copyKernels = true;' \
      'boot.loader.grub.efiSupport = true;' 'boot.loader.grub.zfsSupport = true;' \
      "boot.loader.grub.extraPrepareConfig = ''" '  mkdir -p /boot/efis' '  for i in  /boot/efis/*; do mount $i ; done' '' \
      '  mkdir -p /boot/efi' '  mount /boot/efi' "'';" "boot.loader.grub.extraInstallCommands = ''" \
      'ESP_MIRROR=$(mktemp -d)' 'cp -r /boot/efi/EFI $ESP_MIRROR' 'for i in /boot/efis/*; do' ' cp -r $ESP_MIRROR/EFI $i' \
      'done' 'rm -rf $ESP_MIRROR' "'';" 'boot.loader.grub.devices = ['
    for i in $DISK; do printf '      "%s"\n' "$i"; done
    printf '    ];\n'
    printf 'users.users.root.initialHashedPassword = "%s";\n}\n' '$6$lab$notarealhashjustthelabsstandin'
  } >"$M/etc/nixos/zfs.nix"
  POOLS=(bpool rpool)
  finish
}

# ---------------------------------------------------------------------------------------------------
# c. impermanence README "tmpfs": / is a tmpfs; btrfs subvolumes nix and persistent (the README's
#    LVM volume root_vg/root is a plain GPT partition here: the lab guest has no LVM).
#    /persistent keeps /etc/nixos, /var/log, /var/lib/nixos and /etc/machine-id (environment.persistence).
layout_impermanence() {
  begin impermanence; DISKS=(IMPERM0)
  local D; D=$(byid IMPERM0)
  sgdisk --zap-all "$D" >/dev/null
  sgdisk -n1:1M:+512M -t1:EF00 -c1:ESP -n2:0:0 -t2:8300 -c2:root "$D" >/dev/null
  reprobe "$D"
  mkfs.fat -F 32 -n boot "$D-part1" >/dev/null 2>&1
  mkbtrfs "$D-part2"
  mount "$D-part2" "$M"; btrfs -q subvolume create "$M/nix"; btrfs -q subvolume create "$M/persistent"; umount "$M"
  mount -t tmpfs -o size=25%,mode=755 none "$M"
  mkdir -p "$M/nix" "$M/persistent" "$M/boot"
  mount -o subvol=nix "$D-part2" "$M/nix"
  mount -o subvol=persistent "$D-part2" "$M/persistent"
  mount -o umask=0077 "$D-part1" "$M/boot"
  local B E; B=/dev/disk/by-uuid/$(uuid "$D-part2") E=/dev/disk/by-uuid/$(uuid "$D-part1")
  FS=("/|none|tmpfs|defaults,size=25%,mode=755" "/persistent|$B|btrfs|subvol=persistent|nfb"
      "/nix|$B|btrfs|subvol=nix" "/boot|$E|vfat|")
  tree
  # environment.persistence."/persistent": what survives a reboot
  local P=$M/persistent
  mkdir -p "$P/etc" "$P/var/lib" "$P/var/log/journal/$MID"
  cp -a "$M/etc/nixos" "$P/etc/"; cp "$M/etc/machine-id" "$P/etc/"; cp -a "$M/var/lib/nixos" "$P/var/lib/"
  NT_CONF_IMPORTS=('"${builtins.fetchTarball "https://github.com/nix-community/impermanence/archive/master.tar.gz"}/nixos.nix"')
  NT_CONF_EXTRA=('' '  environment.persistence."/persistent" = {' '    hideMounts = true;' \
    '    directories = [ "/etc/nixos" "/var/log" "/var/lib/nixos" ];' '    files = [ "/etc/machine-id" ];' '  };')
  configs "$P/etc/nixos"; ETCNIXOS=$P/etc/nixos
  # what nixos.nix @7b1d382 makes of it: systemd.mounts per directory (<escaped where>.mount, Type=none,
  # Options=bind + x-gvfs-hide for hideMounts, wantedBy local-fs.target; not in the fstab), and a
  # persist-<escaped target>.service per file (mount-file.bash binds or links it at activation)
  local d n
  for d in /etc/nixos /var/log /var/lib/nixos; do
    n=${d#/}; n=${n//-/\\x2d}; n=${n//\//-}
    unit "$n.mount" local-fs.target.wants "[Unit]
Before=local-fs.target
DefaultDependencies=false

[Mount]
Options=bind,x-gvfs-hide
Type=none
What=/persistent$d
Where=$d
"
  done
  local MF; storeto MF persistence-mount-file
  unit 'persist-persistent-etc-machine\x2did.service' local-fs.target.wants "[Unit]
Before=local-fs.target
DefaultDependencies=false
Description=Bind mount or link /persistent/etc/machine-id to /etc/machine-id

[Service]
ExecStart=$MF /etc/machine-id /persistent/etc/machine-id
RemainAfterExit=true
Type=oneshot
"
  link_units
  finish
}

# ---------------------------------------------------------------------------------------------------
# d. odd names (no guide: every name ZFS, util-linux and the kernel accept): a pool name with dash,
#    dot, colon; dataset names with spaces, dots, colons; non-ASCII and space in mount points; the
#    fstab escapes them as \040 (nixpkgs filesystems.nix `escape`); one dataset ZFS mounts itself.
ODDPOOL='odd-pool.v2:x'
layout_oddnames() {
  begin odd-names; DISKS=(ODD0)
  local D; D=$(byid ODD0)
  sgdisk --zap-all "$D" >/dev/null
  sgdisk -n1:1M:+256M -t1:EF00 -c1:"EFI system" -n2:0:0 -t2:BF00 -c2:"zfs: odd-pool" "$D" >/dev/null
  reprobe "$D"
  mkfs.fat -F 32 -n ESP "$D-part1" >/dev/null 2>&1
  zpool create -f -o ashift=12 -O mountpoint=none -O canmount=off -O acltype=posixacl -O xattr=sa \
    -R "$M" "$ODDPOOL" "$D-part2"
  zfs create -o mountpoint=legacy "$ODDPOOL/nixos root"
  zfs create -o mountpoint=legacy "$ODDPOOL/nix.store-2025:a"
  zfs create -o mountpoint=legacy "$ODDPOOL/my files"
  mount -t zfs "$ODDPOOL/nixos root" "$M"
  mkdir -p "$M/nix" "$M/boot" "$M/srv/Ünïcode files"
  mount -t zfs "$ODDPOOL/nix.store-2025:a" "$M/nix"
  mount -t zfs "$ODDPOOL/my files" "$M/srv/Ünïcode files"
  mount -o umask=0077 "$D-part1" "$M/boot"
  settle; nt_scan_mounts          # nixos-generate-config: devices and mount points unescaped from mountinfo
  KPARAMS="nohibernate loglevel=4"
  tree
  echo "quarterly report" >"$M/srv/Ünïcode files/rapport.txt"
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;')
  configs
  # created later by the admin, never in hardware-configuration.nix: ZFS mounts it itself
  zfs create -o mountpoint="/srv/données partagées" "$ODDPOOL/srv data"
  echo "partagé" >"$M/srv/données partagées/lisez-moi.txt"
  POOLS=("$ODDPOOL")
  finish
}

# ---------------------------------------------------------------------------------------------------
# e. OpenZFS "NixOS Root on ZFS" (@b0f9846), "LUKS only": rpool on /dev/mapper/luks-rpool-<disk>-part2,
#    rpool/root (canmount=noauto, legacy) and rpool/home (legacy), ESP at /boot; single disk, no swap.
#    luksFormat with argon2id at 64 MiB and 4 passes, no benchmark (the guide's defaults cost minutes
#    under TCG).
layout_lukszfs() {
  begin luks-zfs; DISKS=(LUKSZ0)
  local i; i=$(byid LUKSZ0)
  sgdisk --zap-all "$i" >/dev/null
  sgdisk -n1:1M:+512M -t1:EF00 -c1:EFI -n2:0:0 -t2:8309 -c2:rpool "$i" >/dev/null
  reprobe "$i"
  local dm=luks-rpool-${i##*/}-part2
  printf '%s' "$PASS" | cryptsetup luksFormat --batch-mode --type luks2 --pbkdf argon2id --pbkdf-memory 65536 \
    --pbkdf-parallel 1 --pbkdf-force-iterations 4 "$i-part2" -
  printf '%s' "$PASS" | cryptsetup luksOpen --key-file - "$i-part2" "$dm"
  settle
  zpool create -t rpool_e -o ashift=12 -o autotrim=on -R "$M" -O acltype=posixacl -O canmount=off \
    -O dnodesize=auto -O normalization=formD -O relatime=on -O xattr=sa -O mountpoint=none \
    rpool "/dev/mapper/$dm"
  zfs create -o canmount=noauto -o mountpoint=legacy rpool_e/root
  zfs create -o mountpoint=legacy rpool_e/home
  mount -o X-mount.mkdir -t zfs rpool_e/root "$M"
  mount -o X-mount.mkdir -t zfs rpool_e/home "$M/home"
  mkfs.vfat -n EFI "$i-part1" >/dev/null
  mount -t vfat -o fmask=0077,dmask=0077,iocharset=iso8859-1,X-mount.mkdir "$i-part1" "$M/boot"
  settle; nt_scan_mounts
  local k; for k in "${!FS[@]}"; do FS[$k]=${FS[$k]//rpool_e/rpool}; done   # the system sees "rpool"
  KPARAMS="nohibernate loglevel=4"
  tree
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;'
    '  boot.initrd.luks.devices = {' "    \"$dm\".device = \"$i-part2\";" '  };')
  configs
  POOLS=(rpool)
  EXTRA_JSON=",
  \"luks\": [{ \"partition\": 2, \"uuid\": \"$(cryptsetup luksUUID "$i-part2")\", \"mapper\": \"$dm\" }],
  \"inCoreName\": \"rpool_e\""
  finish
  # the pool stays imported on the open mapping: both go with the "crash", like a power cut
}

# ---------------------------------------------------------------------------------------------------
# f. btrfs subvolumes @, @nix, @home (wiki.nixos.org/wiki/Btrfs, @-named): nixos-generate-config writes
#    subvol=@...; the wiki's "manually add mount options" adds compress=zstd / noatime; /home was
#    hand-edited to subvolid= (both forms are valid btrfs options).
layout_btrfs() {
  begin btrfs-subvol; DISKS=(BTRFS0)
  local D; D=$(byid BTRFS0)
  sgdisk --zap-all "$D" >/dev/null
  sgdisk -n1:1M:+512M -t1:EF00 -n2:0:0 -t2:8300 "$D" >/dev/null
  reprobe "$D"
  mkfs.fat -F 32 "$D-part1" >/dev/null
  mkbtrfs -L nixos "$D-part2"
  mount "$D-part2" "$M"
  btrfs -q subvolume create "$M/@"; btrfs -q subvolume create "$M/@home"; btrfs -q subvolume create "$M/@nix"
  umount "$M"
  mount -o compress=zstd,subvol=@ "$D-part2" "$M"
  mkdir "$M/home" "$M/nix"
  mount -o compress=zstd,subvol=@home "$D-part2" "$M/home"
  mount -o compress=zstd,noatime,subvol=@nix "$D-part2" "$M/nix"
  mkdir "$M/boot"; mount "$D-part1" "$M/boot"
  settle; nt_scan_mounts          # settle: the by-uuid links of the new filesystems
  local homeid; homeid=$(btrfs subvolume list "$M" | awk '$NF == "@home" { print $2 }')
  local k m d t o; for k in "${!FS[@]}"; do IFS='|' read -r m d t o <<<"${FS[$k]}"
    case $m in
      /) FS[$k]="$m|$d|$t|$o,compress=zstd";;
      /home) FS[$k]="$m|$d|$t|subvolid=$homeid,compress=zstd";;
      /nix) FS[$k]="$m|$d|$t|$o,compress=zstd,noatime";;
    esac; done
  tree
  configs
  EXTRA_JSON=",
  \"btrfs\": { \"uuid\": \"$(uuid "$D-part2")\", \"homeSubvolid\": $homeid }"
  finish
}

# ---------------------------------------------------------------------------------------------------
# g1. (no guide) a tmpfs root on a boot pool + root pool: bpool/nixos/boot at /boot (grub2-compatible
#     pool), the ESP at /boot/efi inside it, rpool/nixos/nix at /nix and rpool/safe/persist at
#     /persist (zfsutil, neededForBoot), rpool/safe/home at /home mounted by ZFS itself (not in fstab).
layout_tmpfsbpool() {
  begin tmpfs-bpool; DISKS=(TMPFS0)
  local D; D=$(byid TMPFS0)
  sgdisk --zap-all "$D" >/dev/null
  sgdisk -n1:1M:+256M -t1:EF00 -n2:0:+512M -t2:BE00 -n3:0:0 -t3:BF00 "$D" >/dev/null
  reprobe "$D"
  zpool create -t bpool_g -o compatibility=grub2 -o ashift=12 -O canmount=off -O devices=off -O mountpoint=none \
    -R "$M" bpool "$D-part2"
  zpool create -t rpool_g -o ashift=12 -O canmount=off -O mountpoint=none -O compression=zstd -O xattr=sa \
    -O acltype=posixacl -R "$M" rpool "$D-part3"
  zfs create -o canmount=off bpool_g/nixos
  zfs create -u -o mountpoint=/boot bpool_g/nixos/boot
  zfs create -o canmount=off rpool_g/nixos
  zfs create -u -o mountpoint=/nix rpool_g/nixos/nix
  zfs create -o canmount=off rpool_g/safe
  zfs create -u -o mountpoint=/persist rpool_g/safe/persist
  zfs create -u -o mountpoint=/home rpool_g/safe/home
  mount -t tmpfs -o size=2G,mode=755 none "$M"
  local ds; for ds in bpool_g/nixos/boot rpool_g/nixos/nix rpool_g/safe/persist rpool_g/safe/home; do zfs mount "$ds"; done
  mkfs.vfat -n EFI "$D-part1" >/dev/null
  mkdir -p "$M/boot/efi"; mount -o umask=0077 "$D-part1" "$M/boot/efi"
  FS=("/|none|tmpfs|defaults,size=2G,mode=755" "/boot|bpool/nixos/boot|zfs|zfsutil"
      "/boot/efi|/dev/disk/by-uuid/$(uuid "$D-part1")|vfat|fmask=0077,dmask=0077"
      "/nix|rpool/nixos/nix|zfs|zfsutil" "/persist|rpool/safe/persist|zfs|zfsutil|nfb")
  KPARAMS="nohibernate loglevel=4"
  local bguid; bguid=$(printf '%016x' "$(zpool get -H -p -o value guid bpool_g)")
  NT_BOOT=grub NT_GRUB_ROOT='($drive1)/nixos/boot@' NT_GRUB_SEARCH="  search --set=drive1 --fs-uuid $bguid"
  tree
  mkdir -p "$M/boot/efi/EFI/BOOT"; printf 'MZ\x00 (stand-in GRUB 2.12 EFI)\n' >"$M/boot/efi/EFI/BOOT/BOOTX64.EFI"
  local P=$M/persist
  mkdir -p "$P/etc" "$P/var/lib" "$P/var/log"
  cp -a "$M/etc/nixos" "$P/etc/"; cp "$M/etc/machine-id" "$P/etc/"; cp -a "$M/var/lib/nixos" "$P/var/lib/"
  NT_CONF_BOOT=('  boot.loader.grub.enable = true;' '  boot.loader.grub.efiSupport = true;' \
    '  boot.loader.grub.zfsSupport = true;' '  boot.loader.grub.device = "nodev";' \
    '  boot.loader.efi.efiSysMountPoint = "/boot/efi";')
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;'
    '  environment.etc."nixos".source = "/persist/etc/nixos";' '  environment.etc."machine-id".source = "/persist/etc/machine-id";')
  configs "$P/etc/nixos"; ETCNIXOS=$P/etc/nixos
  POOLS=(bpool rpool)
  EXTRA_JSON=",
  \"inCoreNames\": [\"bpool_g\", \"rpool_g\"]"
  finish
}

# ---------------------------------------------------------------------------------------------------
# g2. (no guide) btrfs root (@, @nix) + a ZFS data pool on a second disk the system imports only through
#     boot.zfs.extraPools (no fstab line names it: nixpkgs' zfs-import-tank.service is the only record):
#     tank/media and tank/backup mounted by ZFS itself, tank/scratch canmount=noauto (mounted by nobody).
layout_btrfszfs() {
  begin btrfs-zfs-data; DISKS=(BTRZ0 BTRZ1)
  local D T; D=$(byid BTRZ0) T=$(byid BTRZ1)
  sgdisk --zap-all "$D" >/dev/null; sgdisk --zap-all "$T" >/dev/null
  sgdisk -n1:1M:+512M -t1:EF00 -n2:0:0 -t2:8300 "$D" >/dev/null
  sgdisk -n1:1M:0 -t1:BF01 -c1:tank "$T" >/dev/null
  reprobe "$D"; reprobe "$T"
  mkfs.fat -F 32 "$D-part1" >/dev/null
  mkbtrfs "$D-part2"
  mount "$D-part2" "$M"; btrfs -q subvolume create "$M/@"; btrfs -q subvolume create "$M/@nix"; umount "$M"
  mount -o subvol=@ "$D-part2" "$M"; mkdir -p "$M/nix" "$M/boot" "$M/srv/media"
  mount -o subvol=@nix "$D-part2" "$M/nix"
  mount "$D-part1" "$M/boot"
  zpool create -f -o ashift=12 -O compression=zstd -O mountpoint=none -O canmount=off -R "$M" tank "$T-part1"
  zfs create -o mountpoint=/srv/media tank/media
  zfs create -o mountpoint=/srv/backup tank/backup
  zfs create -o mountpoint=/srv/scratch -o canmount=noauto tank/scratch
  settle; nt_scan_mounts
  local k; for k in "${!FS[@]}"; do [[ ${FS[$k]} == /srv/* ]] && unset 'FS[k]'; done  # ZFS mounts them
  FS=("${FS[@]}")
  tree
  echo "holiday videos" >"$M/srv/media/index.txt"; echo "nightly" >"$M/srv/backup/last.txt"
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.extraPools = [ "tank" ];')
  configs
  zfs_import_unit tank; link_units
  POOLS=(tank)
  finish
}

# ---------------------------------------------------------------------------------------------------
# h. issue 10, hostile: a NixOS system whose datasets and fstab lead out of the root through links
#    planted on disk (the rescue side's canary lives at /var/lib/rescue-canary and /root/.ssh):
#      /escape1 -> /var/lib/rescue-canary          rpool/e1    mountpoint=/escape1/data  (link at depth 1)
#      rpool/srv (at /srv) holds www -> /var/lib/rescue-canary
#                                                  rpool/web   mountpoint=/srv/www/site  (link at depth 2)
#      /keys -> /root/.ssh                         rpool/keys  mountpoint=/keys  (over the rescue's keys)
#      /data -> /var/lib/rescue-canary/fstab       fstab: rpool/data /data zfs (a legacy dataset)
layout_hostile() {
  begin hostile-zfs; DISKS=(HOSTILE0)
  local D; D=$(byid HOSTILE0)
  sgdisk --zap-all "$D" >/dev/null
  sgdisk -n1:1M:+256M -t1:EF00 -n2:0:0 -t2:BF00 "$D" >/dev/null
  reprobe "$D"
  mkfs.fat -F 32 -n boot "$D-part1" >/dev/null 2>&1
  zpool create -t rpool_h -f -o ashift=12 -O mountpoint=none -O canmount=off -R "$M" rpool "$D-part2"
  local ds; for ds in root nix data; do zfs create -o mountpoint=legacy "rpool_h/$ds"; done
  mount -t zfs rpool_h/root "$M"; mkdir -p "$M/nix" "$M/boot"
  mount -t zfs rpool_h/nix "$M/nix"; mount -o umask=0077 "$D-part1" "$M/boot"
  FS=("/|rpool/root|zfs|" "/nix|rpool/nix|zfs|" "/boot|/dev/disk/by-uuid/$(uuid "$D-part1")|vfat|fmask=0077,dmask=0077"
      "/data|rpool/data|zfs|")
  KPARAMS="nohibernate loglevel=4"
  tree
  NT_CONF_EXTRA=('  boot.supportedFilesystems = [ "zfs" ];')
  configs
  # the planted links, then datasets created unmounted (-u): mounting them here would follow the links
  ln -s /var/lib/rescue-canary "$M/escape1"
  ln -s /root/.ssh "$M/keys"
  ln -s /var/lib/rescue-canary/fstab "$M/data"
  zfs create -u -o mountpoint=/srv rpool_h/srv
  zfs mount rpool_h/srv; ln -s /var/lib/rescue-canary "$M/srv/www"; zfs unmount rpool_h/srv
  zfs create -u -o mountpoint=/escape1/data rpool_h/e1
  zfs create -u -o mountpoint=/srv/www/site rpool_h/web
  zfs create -u -o mountpoint=/keys rpool_h/keys
  local m; for m in e1 web keys data; do
    mkdir -p "/tmp/plant-$m"; mount -t zfs -o zfsutil "rpool_h/$m" "/tmp/plant-$m" 2>/dev/null ||
      mount -t zfs "rpool_h/$m" "/tmp/plant-$m"
    printf 'planted by the disk (%s)\n' "$m" >"/tmp/plant-$m/PLANTED"
    [ "$m" = keys ] && printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyFromTheDisk attacker@disk\n' >/tmp/plant-$m/authorized_keys
    umount "/tmp/plant-$m"
  done
  POOLS=(rpool)
  EXTRA_JSON=",
  \"inCoreName\": \"rpool_h\""
  finish
}

want disko-zfs && layout_disko
want openzfs-guide && layout_guide
want impermanence && layout_impermanence
want odd-names && layout_oddnames
want luks-zfs && layout_lukszfs
want btrfs-subvol && layout_btrfs
want tmpfs-bpool && layout_tmpfsbpool
want btrfs-zfs-data && layout_btrfszfs
want hostile-zfs && layout_hostile
step "pools left imported (crash-like)"
zpool list -H -o name,health,altroot
echo "mklayouts: done in $SECONDS s"
