#!/usr/bin/env bash
# rootfs.sh ROOT MIRROR — the slow, rarely-changing half of the rescue guest: a Debian bookworm
# tree with the bookworm kernel and OpenZFS 2.3 (bookworm-backports, zfs-dkms compiled for that
# kernel), plus the userland the agent and the scenarios use. Called by build.sh; the cache entry is
# keyed by this file's hash, so any edit here means a full rebuild (~10-30 min, mostly DKMS).
set -euo pipefail
ROOT=$1 MIRROR=$2
PKGS=(
  udev kmod systemd systemd-journal-remote   # udev for /dev/disk/by-*, journald for real journals
  util-linux mount fdisk gdisk e2fsprogs dosfstools cryptsetup-bin btrfs-progs xfsprogs
  iproute2 procps psmisc busybox-static libstdc++6 ca-certificates less mdadm lvm2
  bubblewrap git zstd cpio xz-utils   # the jail for programs fed disk data; real git/decoders on disk data
)
debootstrap --variant=minbase --include="$(IFS=,; echo "${PKGS[*]}")" bookworm "$ROOT" "$MIRROR"

cat >"$ROOT/etc/apt/sources.list.d/bookworm-backports.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: bookworm-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
cleanup() { for d in dev/pts dev sys proc; do umount -l "$ROOT/$d" 2>/dev/null || true; done; }
trap cleanup EXIT
for d in proc sys dev dev/pts; do mount --bind "/$d" "$ROOT/$d"; done
chroot "$ROOT" /bin/bash -euxo pipefail -c '
  export DEBIAN_FRONTEND=noninteractive
  # we boot with our own tiny initrd: never let kernel/zfs postinst build an initramfs
  dpkg-divert --local --rename --add /usr/sbin/update-initramfs
  ln -sf /bin/true /usr/sbin/update-initramfs
  apt-get update -q
  apt-get install -y -q --no-install-recommends linux-image-amd64 linux-headers-amd64
  apt-get install -y -q --no-install-recommends -t bookworm-backports zfs-dkms zfsutils-linux
  K=$(ls /lib/modules | sort -V | tail -1)
  if ! ls /lib/modules/$K/updates/dkms/zfs.ko* >/dev/null 2>&1; then dkms autoinstall -k "$K"; fi
  ls /lib/modules/$K/updates/dkms/zfs.ko*
  apt-get clean
  rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale
'
