#!/usr/bin/env bash
# build.sh — cached build of the Lifeboat rescue test guest (needs root: apt, debootstrap, chroot).
# Prints the guest directory (vmlinuz, initrd.img, rootfs.ext4, guest.env) as the LAST line of stdout;
# progress goes to stderr. Two cache levels under ${LIFEBOAT_VM_CACHE:-/var/cache/lifeboat-vm}:
#   rootfs-<hash of rootfs.sh>/    Debian tree + kernel + DKMS-built OpenZFS   (cold: 10-30 min)
#   guest-<hash of all inputs>/    bootable images made from that tree         (~1 min)
# Older entries are pruned when a new one is complete. Concurrent callers serialize on a lock.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${LIFEBOAT_VM_CACHE:-/var/cache/lifeboat-vm}
RESCUE_HOSTID=00bab10c
log() { printf '[vm-build %(%T)T] %s\n' -1 "$*" >&2; }
[ "$(id -u)" = 0 ] || { echo "build.sh: must run as root (apt-get, debootstrap, chroot)" >&2; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"; flock 9
T0=$SECONDS

# -- host tools (GNU cpio: the initrd must be newc made by GNU cpio)
missing=()
for p in qemu-system-x86 qemu-utils debootstrap zstd cpio dosfstools e2fsprogs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

MIRROR=${LIFEBOAT_VM_MIRROR:-}
if [ -z "$MIRROR" ]; then
  MIRROR=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '$2 ~ /debian\/?$/ {print $2; exit}')
  [ -n "$MIRROR" ] || MIRROR=$(awk '$1=="deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
fi

hash() { cat "$@" | sha256sum | cut -c1-12; }
NODE=${LIFEBOAT_VM_NODE:-$(command -v node)}
BKEY=$(hash "$HERE/rootfs.sh")
GKEY=$( (cat "$HERE/rootfs.sh" "$HERE/build.sh" "$HERE/init.sh"; sha256sum "$NODE"; echo "$RESCUE_HOSTID") | sha256sum | cut -c1-12)
BASE=$CACHE/rootfs-$BKEY GUEST=$CACHE/guest-$GKEY

if [ ! -e "$BASE/.complete" ]; then
  log "cold build of the guest tree ($BASE): debootstrap + kernel + zfs-dkms, this takes 10-30 min"
  rm -rf "$BASE"
  if ! bash "$HERE/rootfs.sh" "$BASE" "$MIRROR" >"$CACHE/rootfs-$BKEY.log" 2>&1; then
    tail -40 "$CACHE/rootfs-$BKEY.log" >&2; echo "build.sh: rootfs.sh failed, log: $CACHE/rootfs-$BKEY.log" >&2; exit 1
  fi
  touch "$BASE/.complete"
  log "guest tree done after $((SECONDS - T0))s"
fi

if [ ! -e "$GUEST/.complete" ]; then
  log "guest images -> $GUEST"
  rm -rf "$GUEST"; mkdir -p "$GUEST"
  KVER=$(ls "$BASE/lib/modules" | sort -V | tail -1)
  install -m 755 "$HERE/init.sh" "$BASE/sbin/lifeboat-vm-init"
  install -m 755 "$NODE" "$BASE/usr/local/bin/node"
  chroot "$BASE" zgenhostid -f "$RESCUE_HOSTID"
  echo rescue >"$BASE/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\trescue\n' >"$BASE/etc/hosts"
  : >"$BASE/etc/machine-id"
  mkdir -p "$BASE/host" "$BASE/lab" "$BASE/mnt"
  # The rescue ISO is NixOS: after booting, its post-boot commands touch /etc/NIXOS and set the
  # system profile to the running system (nixpkgs nixos/modules/installer/cd-dvd/iso-image.nix,
  # boot.postBootCommands), whose etc/fstab lists the ISO's file systems (isoFileSystems there,
  # written as nixos/modules/tasks/filesystems.nix makeFstabEntries does). The agent's warm-up walks
  # these while it waits (app/warmup.ts); the same shape here (made-up store paths, no Nix), so the
  # guest's first mount after a start is as warm as the ISO's.
  ISO_SYSTEM=/nix/store/00000000000000000000000000000000-nixos-system-lifeboat-25.11
  ISO_ETC=/nix/store/11111111111111111111111111111111-etc
  rm -rf "$BASE/nix"
  mkdir -p "$BASE$ISO_SYSTEM" "$BASE$ISO_ETC/etc" "$BASE/nix/var/nix/profiles"
  ln -s "$ISO_ETC/etc" "$BASE$ISO_SYSTEM/etc"
  echo 25.11 >"$BASE$ISO_SYSTEM/nixos-version"
  cat >"$BASE$ISO_ETC/etc/fstab" <<'FSTAB'
# This is a generated file.  Do not edit!

# Filesystems.
tmpfs / tmpfs mode=0755,x-initrd.mount 0 0
/dev/root /iso auto x-initrd.mount 0 0
/iso/nix-store.squashfs /nix/.ro-store squashfs loop,threads=multi,x-initrd.mount 0 0
tmpfs /nix/.rw-store tmpfs mode=0755,x-initrd.mount 0 0
overlay /nix/store overlay lowerdir=/nix/.ro-store,upperdir=/nix/.rw-store/store,workdir=/nix/.rw-store/work,x-initrd.mount 0 0
FSTAB
  ln -s "$ISO_SYSTEM" "$BASE/nix/var/nix/profiles/system-1-link"
  ln -s system-1-link "$BASE/nix/var/nix/profiles/system"
  touch "$BASE/etc/NIXOS"
  # initrd: static busybox + the modules needed to reach the ext4 root on virtio-blk
  I=$(mktemp -d)
  mkdir -p "$I/bin" "$I/mods" "$I/proc" "$I/dev" "$I/root"
  cp "$BASE/bin/busybox" "$I/bin/busybox"
  for a in sh mount umount insmod sleep switch_root cat; do ln -s busybox "$I/bin/$a"; done
  chroot "$BASE" modprobe -S "$KVER" --show-depends -a virtio_pci virtio_blk crc32c_generic ext4 |
    awk '$1 == "insmod" {print $2}' | while read -r m; do
      [ -e "$I/mods/$(basename "$m")" ] && continue
      cp "$BASE$m" "$I/mods/"; basename "$m" >>"$I/mods/order"
    done
  cat >"$I/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc; mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod "/mods/$m" 2>/dev/null; done
n=0; while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
mount -t ext4 -o rw /dev/vda /root || { echo "lifeboat-vm initrd: cannot mount /dev/vda" >/dev/console; sleep 5; exit 1; }
umount /proc; umount /dev
exec switch_root /root /sbin/lifeboat-vm-init
INIT
  chmod 755 "$I/init"
  (cd "$I" && find . | cpio -o -H newc --quiet | gzip -1) >"$GUEST/initrd.img"
  rm -rf "$I"
  cp "$BASE/boot/vmlinuz-$KVER" "$GUEST/vmlinuz"
  MB=$(( $(du -sm --exclude=./proc "$BASE" | cut -f1) + 512 ))
  truncate -s "${MB}M" "$GUEST/rootfs.ext4"
  mkfs.ext4 -q -F -L lifeboat-vm -E root_owner=0:0 -d "$BASE" "$GUEST/rootfs.ext4"
  ZFSV=$(ls "$BASE/usr/src" | sed -n 's/^zfs-//p' | head -1)
  UTILV=$(chroot "$BASE" dpkg-query -W -f='${Version}' util-linux)
  ZFSPKG=$(chroot "$BASE" dpkg-query -W -f='${Version}' zfsutils-linux)
  CSV=$(chroot "$BASE" dpkg-query -W -f='${Version}' cryptsetup-bin)
  SDV=$(chroot "$BASE" dpkg-query -W -f='${Version}' systemd)
  cat >"$GUEST/guest.env" <<ENV
KERNEL=$KVER
ZFS=$ZFSV
ZFSUTILS_DEB=$ZFSPKG
UTIL_LINUX_DEB=$UTILV
CRYPTSETUP_DEB=$CSV
SYSTEMD_DEB=$SDV
NODE=$("$NODE" --version)
RESCUE_HOSTID=$RESCUE_HOSTID
BASE_KEY=$BKEY
ENV
  touch "$GUEST/.complete"
  log "images done ($(du -sh "$GUEST" | cut -f1))"
fi

# prune what the current inputs no longer use
for d in "$CACHE"/rootfs-* "$CACHE"/guest-*; do
  [ -d "$d" ] || continue
  case $d in "$BASE" | "$GUEST") ;; *) log "pruning stale $d"; rm -rf "$d";; esac
done
log "guest ready in $((SECONDS - T0))s"
echo "$GUEST"
