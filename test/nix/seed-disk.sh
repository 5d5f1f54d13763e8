# shellcheck shell=bash
# lifeboat-seed-disk DISK
# Runs inside the iso-boots test VM, playing the server "atlas" (hostid 8425e349): lays out DISK
# like a NixOS-on-ZFS install (the layout of ../shared/vmlab's seed disks: ESP + one ZFS
# partition, pool nvmepool with root/nix/home/var as legacy mounts) with a small, structurally
# faithful NixOS tree, then leaves the pool imported, the way a server that died leaves it.
set -euo pipefail

disk=$1
pool=nvmepool
server_hostid=8425e349

# Play the server: pools record the hostid of the system that imported them.
modprobe zfs
echo "0x$server_hostid" >/sys/module/spl/parameters/spl_hostid

sgdisk --zap-all "$disk" >/dev/null
sgdisk -n1:1M:+256M -t1:EF00 -c1:ESP -n2:0:0 -t2:BF00 -c2:zfs "$disk"
udevadm settle
esp=${disk}1
zpart=${disk}2
mkfs.fat -F 32 -n boot "$esp"

zpool create -f -o ashift=12 -o autotrim=on \
  -O acltype=posixacl -O xattr=sa -O dnodesize=auto -O compression=lz4 \
  -O normalization=formD -O relatime=on -O mountpoint=none -O canmount=off \
  "$pool" "$zpart"
for ds in root nix home var; do zfs create -o mountpoint=legacy "$pool/$ds"; done

target=$(mktemp -d)
mount -t zfs "$pool/root" "$target"
mkdir -p "$target"/{nix,home,var,boot}
for ds in nix home var; do mount -t zfs "$pool/$ds" "$target/$ds"; done
mount -t vfat -o fmask=0022,dmask=0022 "$esp" "$target/boot"

# One generation of a system profile (fake store contents, real NixOS structure).
toplevel=/nix/store/8ws2m8w7m3mcv9ypsf8jdrpz2b6zcwkk-nixos-system-atlas-25.11.20251201.abcdef0
mkdir -p "$target$toplevel" "$target/nix/var/nix/profiles" "$target/etc/nixos"
echo -n "25.11.20251201.abcdef0 (Xantusia)" >"$target$toplevel/nixos-version"
echo -n "init=$toplevel/init nohibernate loglevel=4" >"$target$toplevel/kernel-params"
ln -s "$toplevel" "$target/nix/var/nix/profiles/system-1-link"
ln -s system-1-link "$target/nix/var/nix/profiles/system"
touch "$target/etc/NIXOS"
cat >"$target/etc/nixos/configuration.nix" <<NIX
{
  boot.supportedFilesystems = [ "zfs" ];
  boot.zfs.forceImportRoot = false;
  networking.hostName = "atlas";
  networking.hostId = "$server_hostid";
  fileSystems."/" = { device = "$pool/root"; fsType = "zfs"; };
  fileSystems."/nix" = { device = "$pool/nix"; fsType = "zfs"; };
  fileSystems."/home" = { device = "$pool/home"; fsType = "zfs"; };
  fileSystems."/var" = { device = "$pool/var"; fsType = "zfs"; };
  system.stateVersion = "25.11";
}
NIX
mkdir -p "$target/boot/loader/entries"
printf 'title NixOS\nversion Generation 1\nlinux /EFI/nixos/kernel.efi\noptions init=%s/init\n' "$toplevel" \
  >"$target/boot/loader/entries/nixos-generation-1.conf"

# Crash, do not export: the pool stays ACTIVE and owned by hostid 8425e349.
umount -R "$target"
zpool sync "$pool"
echo "seeded $disk: pool $pool, last imported by hostid $server_hostid"
