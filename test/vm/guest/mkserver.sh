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
# store path names: 32 chars of the nix base32 alphabet (no e o u t), derived from the name
B32=0123456789abcdfghijklmnpqrsvwxyz
h32() { local x; x=$(printf '%s' "$1" | sha256sum | cut -c1-64); local r= i
  for ((i = 0; i < 32; i++)); do r+=${B32:$((16#${x:$((2 * i)):2} % 32)):1}; done; echo "$r"; }
store() { echo "/nix/store/$(h32 "$1")-$1"; }
M=/mnt
MID=$(printf 'machine-id of %s' "$HOST" | md5sum | cut -c1-32)
BUSYBOX=$(store busybox-1.36.1) COREUTILS=$(store coreutils-9.5) BASH=$(store bash-interactive-5.2p37)
SYSTEMD=$(store systemd-256.10) ZFSPKG=$(store zfs-user-2.2.7)
mkdir -p $M$BUSYBOX/bin $M$COREUTILS/bin $M$BASH/bin $M$SYSTEMD/{bin,lib/systemd} $M$ZFSPKG/bin
cp /bin/busybox $M$BUSYBOX/bin/busybox                       # static: really runs under chroot
for t in ls cat cp mv rm ln mkdir readlink id uname env echo true false sleep chmod chown df du head tail; do
  ln -s $BUSYBOX/bin/busybox $M$COREUTILS/bin/$t; done
ln -s $BUSYBOX/bin/busybox $M$BASH/bin/sh; ln -s $BUSYBOX/bin/busybox $M$BASH/bin/bash
printf '\177ELF (stand-in for systemd 256.10)\n' >$M$SYSTEMD/lib/systemd/systemd
for t in systemctl journalctl; do printf '\177ELF (stand-in for %s)\n' $t >$M$SYSTEMD/bin/$t; done
for t in zpool zfs; do printf '\177ELF (stand-in for %s 2.2.7)\n' $t >$M$ZFSPKG/bin/$t; done
mkdir -p $M/nix/var/nix/{db,gcroots/auto,profiles/per-user/root,temproots,userpool}
printf 'SQLite format 3\0' >$M/nix/var/nix/db/db.sqlite

fstab() {
  printf '%s\n' '# This is a generated file.  Do not edit!' '#' \
    '# To make changes, edit the fileSystems and swapDevices NixOS options' \
    '# in your /etc/nixos/configuration.nix file.' '#' \
    '# <file system> <mount point>   <type>  <options>       <dump>  <pass>' '' '# Filesystems.'
  local f m d t o pass
  for f in "${FS[@]}"; do IFS='|' read -r m d t o <<<"$f"
    if [ "$t" = zfs ]; then pass=0; elif [ "$m" = / ]; then pass=1; else pass=2; fi
    echo "$d $m $t $o 0 $pass"; done
  printf '\n\n\n# Swap devices.\n\n'
}
KPARAMS="loglevel=4"; ((ZFS)) && KPARAMS="nohibernate loglevel=4"
generation() { # N nixos-version kernel-version date
  local n=$1 ver=$2 kv=$3 when=$4 rel=${2%.*.*}
  local code=vicuna Code=Vicuna; [ "$rel" = 24.05 ] && code=uakari Code=Uakari
  local K=$(store linux-$kv) I=$(store initrd-linux-$kv) MODS=$(store linux-$kv-modules-shrunk)
  local E=$(store "etc-$ver") SW=$(store "system-path-$ver") TOP=$(store nixos-system-$HOST-$ver)
  mkdir -p $M$K $M$I $M$MODS/lib/modules/$kv $M$E/etc/systemd $M$SW/bin $M$TOP/{bin,specialisation}
  printf 'MZ\x00 (stand-in bzImage, Linux %s)\n' "$kv" >$M$K/bzImage
  printf '\x1f\x8b (stand-in initrd for Linux %s)\n' "$kv" >$M$I/initrd
  for t in $M$COREUTILS/bin/* $M$BASH/bin/*; do ln -sf "${t#$M}" $M$SW/bin/; done
  ln -sf $ZFSPKG/bin/zpool $M$SW/bin/zpool; ln -sf $ZFSPKG/bin/zfs $M$SW/bin/zfs
  ln -sf $SYSTEMD/bin/systemctl $M$SW/bin/systemctl
  fstab >$M$E/etc/fstab
  echo "$HOST" >$M$E/etc/hostname
  cat >$M$E/etc/os-release <<OS
ANSI_COLOR="0;38;2;126;186;228"
BUG_REPORT_URL="https://github.com/NixOS/nixpkgs/issues"
BUILD_ID="$ver"
DOCUMENTATION_URL="https://nixos.org/learn.html"
HOME_URL="https://nixos.org/"
ID=nixos
IMAGE_ID=""
IMAGE_VERSION=""
LOGO="nix-snowflake"
NAME=NixOS
PRETTY_NAME="NixOS $rel ($Code)"
SUPPORT_URL="https://nixos.org/community.html"
VERSION="$rel ($Code)"
VERSION_CODENAME=$code
VERSION_ID="$rel"
OS
  printf '[Journal]\nStorage=persistent\n' >$M$E/etc/systemd/journald.conf
  ln -s $K/bzImage $M$TOP/kernel; ln -s $I/initrd $M$TOP/initrd; ln -s $MODS $M$TOP/kernel-modules
  ln -s $E/etc $M$TOP/etc; ln -s $SW $M$TOP/sw; ln -s $SYSTEMD $M$TOP/systemd
  printf '#! %s/bin/sh\n# NixOS stage 2 (stand-in)\nexec %s/lib/systemd/systemd\n' "$BASH" "$SYSTEMD" >$M$TOP/init
  printf '#! %s/bin/sh\necho "activating the configuration... (stand-in)"\n' "$BASH" >$M$TOP/activate
  printf '#! %s/bin/sh\necho "switch-to-configuration $*: stand-in" >&2; exit 1\n' "$BASH" >$M$TOP/bin/switch-to-configuration
  chmod 555 $M$TOP/init $M$TOP/activate $M$TOP/bin/switch-to-configuration
  printf '%s' "$KPARAMS" >$M$TOP/kernel-params
  printf '%s (%s)' "$ver" "$Code" >$M$TOP/nixos-version
  printf 'x86_64-linux' >$M$TOP/system
  local kp; kp=$(printf '"%s",' $KPARAMS); kp=${kp%,}
  printf '{"org.nixos.bootspec.v1":{"init":"%s/init","initrd":"%s/initrd","kernel":"%s/bzImage","kernelParams":[%s],"label":"NixOS %s (Linux %s)","system":"x86_64-linux","toplevel":"%s"},"org.nixos.specialisation.v1":{}}\n' \
    "$TOP" "$I" "$K" "$kp" "$ver" "$kv" "$TOP" >$M$TOP/boot.json
  ln -s "$TOP" $M/nix/var/nix/profiles/system-$n-link
  touch -h -d "$when" $M/nix/var/nix/profiles/system-$n-link
  # what systemd-boot-builder.py puts on the ESP
  local kefi=${K#/nix/store/}-bzImage.efi iefi=${I#/nix/store/}-initrd.efi
  mkdir -p $M/boot/EFI/nixos $M/boot/loader/entries
  cp $M$K/bzImage $M/boot/EFI/nixos/$kefi; cp $M$I/initrd $M/boot/EFI/nixos/$iefi
  cat >$M/boot/loader/entries/nixos-generation-$n.conf <<ENTRY
title NixOS
sort-key nixos
version Generation $n NixOS $rel ($Code $ver), Linux Kernel $kv, Built on ${when%% *}
linux /EFI/nixos/$kefi
initrd /EFI/nixos/$iefi
options init=$TOP/init $KPARAMS
machine-id $MID
ENTRY
  TOPLEVEL=$TOP ETC=$E
}
generation 1 24.05.20240610.abc1234 6.6.32 "2024-06-12 10:14:03"
generation 2 24.11.20241203.55d1f92 6.6.63 "2024-12-05 18:40:11"
generation 3 24.11.20250107.7dc3f5e 6.6.69 "2025-01-09 09:02:57"
ln -s system-3-link $M/nix/var/nix/profiles/system
printf 'timeout 5\ndefault nixos-generation-3.conf\nconsole-mode keep\n' >$M/boot/loader/loader.conf
echo type1 >$M/boot/loader/entries.srel
mkdir -p $M/boot/EFI/BOOT $M/boot/EFI/systemd
printf 'MZ\x00 (stand-in systemd-boot 256.10)\n' | tee $M/boot/EFI/BOOT/BOOTX64.EFI >$M/boot/EFI/systemd/systemd-bootx64.efi

step "/etc, /home, /var"
mkdir -p $M/etc/nixos $M/etc/ssh $M/bin $M/usr/bin $M/root $M/tmp $M/var/lib/nixos $M/var/log $M/run
[ "$FAULT" = home-is-a-file ] || mkdir -p $M/home/alice
touch $M/etc/NIXOS
ln -s $ETC/etc $M/etc/static
for f in fstab hostname os-release; do ln -s /etc/static/$f $M/etc/$f; done
mkdir -p $M/etc/systemd; ln -s /etc/static/systemd/journald.conf $M/etc/systemd/journald.conf
ln -s $BASH/bin/sh $M/bin/sh; ln -s $COREUTILS/bin/env $M/usr/bin/env
echo "$MID" >$M/etc/machine-id
printf 'root:x:0:0:System administrator:/root:/run/current-system/sw/bin/bash\nalice:x:1000:100::/home/alice:/run/current-system/sw/bin/bash\n' >$M/etc/passwd
printf 'root:x:0:\nwheel:x:1:alice\nusers:x:100:alice\n' >$M/etc/group
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTheLabOnly root@%s\n' "$HOST" >$M/etc/ssh/ssh_host_ed25519_key.pub
if [ -d $M/home/alice ]; then
  printf 'todo: renew the certificates before friday\n' >$M/home/alice/notes.txt
  chown -R 1000:100 $M/home/alice
fi
printf 'alice:1000\n' >$M/var/lib/nixos/uid-map

HW=$M/etc/nixos/hardware-configuration.nix
{
  printf '%s\n' "# Do not modify this file!  It was generated by ‘nixos-generate-config’" \
    '# and may be overwritten by future invocations.  Please make changes' \
    '# to /etc/nixos/configuration.nix instead.' \
    '{ config, lib, pkgs, modulesPath, ... }:' '' '{' \
    '  imports =' '    [ (modulesPath + "/profiles/qemu-guest.nix")' '    ];' '' \
    '  boot.initrd.availableKernelModules = [ "ahci" "xhci_pci" "virtio_pci" "nvme" "sr_mod" "virtio_blk" ];' \
    '  boot.initrd.kernelModules = [ ];' '  boot.kernelModules = [ "kvm-amd" ];' '  boot.extraModulePackages = [ ];'
  for f in "${FS[@]}"; do IFS='|' read -r m d t o <<<"$f"
    printf '\n  fileSystems."%s" =\n    { device = "%s";\n      fsType = "%s";\n' "$m" "$d" "$t"
    [ "$o" != defaults ] && printf '      options = [ %s ];\n' "$(printf '"%s" ' ${o//,/ })"
    printf '    };\n'
    if [ "$m" = / ] && ((LUKS)); then
      printf '\n  boot.initrd.luks.devices."cryptroot".device = "/dev/disk/by-uuid/%s";\n' "$LUKS_UUID"
    fi
  done
  printf '\n  swapDevices = [ ];\n\n'
  printf '%s\n' '  # Enables DHCP on each ethernet and wireless interface. In case of scripted networking' \
    "  # (the default) this is the recommended approach. When using systemd-networkd it's" \
    "  # still possible to use this option, but it's recommended to use it in conjunction" \
    '  # with explicit per-interface declarations with `networking.interfaces.<interface>.useDHCP`.' \
    '  networking.useDHCP = lib.mkDefault true;' '  # networking.interfaces.eth0.useDHCP = lib.mkDefault true;' '' \
    '  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";' '}'
} >$HW
{
  printf '%s\n' '# Edit this configuration file to define what should be installed on' \
    '# your system.  Help is available in the configuration.nix(5) man page' \
    "# and in the NixOS manual (accessible by running ‘nixos-help’)." '' \
    '{ config, pkgs, ... }:' '' '{' '  imports =' '    [ # Include the results of the hardware scan.' \
    '      ./hardware-configuration.nix' '    ];' '' \
    '  boot.loader.systemd-boot.enable = true;' '  boot.loader.efi.canTouchEfiVariables = true;'
  ((ZFS)) && printf '%s\n' '  boot.supportedFilesystems = [ "zfs" ];' '  boot.zfs.forceImportRoot = false;'
  [ -n "$PASS" ] && ((ZFS)) && printf '%s\n' '  boot.zfs.requestEncryptionCredentials = true;'
  ((TANK)) && printf '%s\n' '  boot.zfs.extraPools = [ "tank" ];'
  printf '\n  networking.hostName = "%s";\n  networking.hostId = "%s";\n\n' "$HOST" "$HOSTID"
  printf '%s\n' '  users.users.alice = {' '    isNormalUser = true;' '    extraGroups = [ "wheel" ];' '  };' '' \
    '  services.openssh.enable = true;' '' '  system.stateVersion = "24.05"; # Did you read the comment?' '}'
} >$M/etc/nixos/configuration.nix

step "a real journal in /var/log/journal/$MID"
JOURNAL=none
if [ -d $M/var ] && command -v /lib/systemd/systemd-journald >/dev/null; then
  pkill -x systemd-journal || true
  while pgrep -x systemd-journal >/dev/null; do sleep 0.1; done
  rm -rf /run/systemd/journal; mkdir -p /run/systemd/journal      # no stale sockets from the old one
  echo "$MID" >/etc/machine-id
  mkdir -p $M/var/log/journal /var/log; mount --bind $M/var/log /var/log
  mkdir -p /etc/systemd/journald.conf.d; printf '[Journal]\nStorage=persistent\n' >/etc/systemd/journald.conf.d/lab.conf
  /lib/systemd/systemd-journald & JPID=$!
  for i in $(seq 200); do journalctl --flush 2>/dev/null && break; sleep 0.1; done
  journalctl --flush
  logger -t systemd -p daemon.info "Startup finished in 2.101s (kernel) + 4.822s (initrd) + 9.301s (userspace) = 16.225s."
  logger -t sshd -p auth.info "Server listening on 0.0.0.0 port 22."
  logger -t zed -p daemon.info "ZFS Event Daemon 2.2.7-1 (PID 1187)"
  echo "nginx: [emerg] bind() to 0.0.0.0:443 failed (98: Address already in use)" | systemd-cat -t nginx -p err
  logger -t kernel -p kern.warning "nvme nvme0: I/O 512 QID 3 timeout, aborting"
  logger -t systemd -p daemon.err "nginx.service: Failed with result 'exit-code'."
  journalctl --sync
  kill -TERM $JPID; wait $JPID || true
  umount /var/log
  JOURNAL=$(ls $M/var/log/journal/$MID/ 2>/dev/null | tr '\n' ' ')
  echo "journal files: $JOURNAL"
  /lib/systemd/systemd-journald >/dev/null 2>&1 &                 # back to the volatile one
fi

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
