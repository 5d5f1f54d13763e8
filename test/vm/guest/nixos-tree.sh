# nixos-tree.sh — sourced by mkserver.sh and mklayouts.sh (inside the lab guest): writes a structurally
# faithful NixOS tree (fake content) under $M, the way an install leaves it: store paths with nix
# base32 hashes, three system generations, profiles, the boot loader's files, /etc, the generated
# /etc/nixos files, the fstab NixOS generates from fileSystems, and optionally a real journal.
#
# Globals read (set them before calling):
#   M          root of the tree being written (mounted filesystems below it)
#   HOST       host name                          HOSTID   networking.hostId
#   FS         fileSystems, one "mountPoint|device|fsType|options[|nfb]" per element, options as the
#              NixOS option list joined with commas ("" = none set); nfb = neededForBoot
#   NT_FAITHFUL 1: the fstab as nixpkgs >= 23.05 writes it (x-initrd.mount on file systems needed for
#              boot, options replace "defaults", entries topologically sorted by mount point) and
#              hardware-configuration.nix formatted exactly as nixos-generate-config does;
#              0 (default): entries in FS order with their options verbatim (the original disk sets)
#   NT_BOOT    systemd-boot (default) | grub     NT_ESP  where systemd-boot's ESP is, inside $M (/boot)
#   NT_GRUB_ROOT  grub.cfg's path prefix for /boot (e.g. "/nixos/root@" when /boot is a ZFS dataset)
#   KPARAMS    kernel params of the generations
# Sources followed: nixpkgs nixos/modules/tasks/filesystems.nix (makeFstabEntries: escape " " as \040
# and tab as \011 in device, mount point and options; pass 0 for zfs/btrfs/tmpfs/none/bind, 1 for /,
# else 2; x-initrd.mount via utils.fsNeededForBoot), nixos/lib/utils.nix (pathsNeededForBoot, fsBefore),
# lib.toposort; nixos-generate-config.pl (hardware-configuration.nix layout); systemd-boot-builder.py
# (ESP entries); nixos/modules/system/boot/loader/grub (grub.cfg menu entries, copyKernels).

NT_FAITHFUL=${NT_FAITHFUL:-0} NT_BOOT=${NT_BOOT:-systemd-boot} NT_ESP=${NT_ESP:-/boot}
NT_GRUB_ROOT=${NT_GRUB_ROOT:-}

# store path names: 32 chars of the nix base32 alphabet (no e o u t), derived from the name
B32=0123456789abcdfghijklmnpqrsvwxyz
h32() { local x; x=$(printf '%s' "$1" | sha256sum | cut -c1-64); local r='' i
  for ((i = 0; i < 32; i++)); do r+=${B32:$((16#${x:$((2 * i)):2} % 32)):1}; done; echo "$r"; }
declare -A NT_STORE=()   # memo: a path costs forks (sha256sum, cut), and forks are slow under TCG
store() { [ -n "${NT_STORE[$1]:-}" ] || NT_STORE[$1]="/nix/store/$(h32 "$1")-$1"; echo "${NT_STORE[$1]}"; }
storeto() { [ -n "${NT_STORE[$2]:-}" ] || NT_STORE[$2]="/nix/store/$(h32 "$2")-$2"; printf -v "$1" '%s' "${NT_STORE[$2]}"; }

nt_names() { # the machine-id and the store paths every generation refers to
  MID=$(printf 'machine-id of %s' "$HOST" | md5sum | cut -c1-32)
  storeto BUSYBOX busybox-1.36.1; storeto COREUTILS coreutils-9.5; storeto BASH bash-interactive-5.2p37
  storeto SYSTEMD systemd-256.10; storeto ZFSPKG zfs-user-2.2.7
}
nt_store_base() { # busybox-backed tools that really run under chroot, stand-ins for the rest, /nix/var
  nt_names
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
}

# --- fstab ------------------------------------------------------------------------------------------
nt_escape() { local s=${1// /\\040}; printf '%s' "${s//$'\t'/\\011}"; }
nt_needed_for_boot() { # utils.fsNeededForBoot: neededForBoot, or one of pathsNeededForBoot
  case "|$1|" in "|/|"|"|/nix|"|"|/nix/store|"|"|/var|"|"|/var/log|"|"|/var/lib|"|"|/var/lib/nixos|"|"|/etc|"|"|/usr|") return 0;; esac
  [ "${2:-}" = nfb ]
}
nt_before() { # utils.fsBefore a b: a's mount point is a prefix of b's device or mount point (paths
  local am=${1%%|*} bm=${2%%|*} bd=${2#*|}   # normalised with a trailing slash); no forks
  bd=${bd%%|*}
  [[ $am == */ ]] || am+=/; [[ $bm == */ ]] || bm+=/; [[ $bd == */ ]] || bd+=/
  [[ $bm == "$am"* || $bd == "$am"* ]]
}
nt_toposort() { # lib.toposort nt_before over "$@" (attrValues order), result in NT_SORTED
  local -a list=("$@") visited rest right wrong; local us x
  NT_SORTED=()
  while ((${#list[@]} >= 2)); do
    us=${list[0]} visited=() rest=("${list[@]:1}")
    while :; do
      for x in "${visited[@]}"; do nt_before "$x" "$us" && { echo "fileSystems cycle at $us" >&2; return 1; }; done
      right=() wrong=()
      for x in "${rest[@]}"; do if nt_before "$x" "$us"; then right+=("$x"); else wrong+=("$x"); fi; done
      ((${#right[@]} == 0)) && break
      visited=("$us" "${visited[@]}") us=${right[0]} rest=("${right[@]:1}" "${wrong[@]}")
    done
    NT_SORTED+=("$us") list=("${visited[@]}" "${rest[@]}")
  done
  NT_SORTED+=("${list[@]}")
}
nt_fstab() { # what environment.etc.fstab.text renders
  printf '%s\n' '# This is a generated file.  Do not edit!' '#' \
    '# To make changes, edit the fileSystems and swapDevices NixOS options' \
    '# in your /etc/nixos/configuration.nix file.' '#' \
    '# <file system> <mount point>   <type>  <options>       <dump>  <pass>' '' '# Filesystems.'
  local f m d t o flag pass entries=("${FS[@]}") opts
  if ((NT_FAITHFUL)); then # attrValues sorts by name (byte order), then toposort
    mapfile -t entries <<<"$(printf '%s\n' "${FS[@]}" | LC_ALL=C sort -t'|' -k1,1)"  # no /dev/fd in the guest
    nt_toposort "${entries[@]}"; entries=("${NT_SORTED[@]}")
  fi
  for f in "${entries[@]}"; do IFS='|' read -r m d t o flag <<<"$f"
    opts=$o
    if ((NT_FAITHFUL)); then
      opts=''; nt_needed_for_boot "$m" "$flag" && opts='x-initrd.mount'
      [ -n "$o" ] && opts=${opts:+$opts,}$o
      opts=${opts:-defaults}
      case "$t,$d" in zfs,*|btrfs,*|tmpfs,*|none,*|auto,*|*,none) pass=0;; *) pass=2;; esac
      [ "$pass" = 2 ] && [ "$m" = / ] && pass=1
      [[ ",$opts," == *,bind,* ]] && pass=0
    elif [ "$t" = zfs ]; then pass=0; elif [ "$m" = / ]; then pass=1; else pass=2; fi
    echo "$(nt_escape "$d") $(nt_escape "$m") $t $(nt_escape "$opts") 0 $pass"; done
  printf '\n\n\n# Swap devices.\n\n'
}

# --- generations --------------------------------------------------------------------------------------
# NT_PART: all (default) | store (what all layouts share: can be made once and copied) | vary (what
# depends on the layout: fstab, kernel-params, boot.json, the boot loader's entries)
nt_generation() { # N nixos-version kernel-version date
  local n=$1 ver=$2 kv=$3 when=$4 rel=${2%.*.*}
  local code=vicuna Code=Vicuna; [ "$rel" = 24.05 ] && code=uakari Code=Uakari
  local K I MODS E SW TOP
  storeto K "linux-$kv"; storeto I "initrd-linux-$kv"; storeto MODS "linux-$kv-modules-shrunk"
  storeto E "etc-$ver"; storeto SW "system-path-$ver"; storeto TOP "nixos-system-$HOST-$ver"
  if [ "${NT_PART:-all}" != vary ]; then
  mkdir -p $M$K $M$I $M$MODS/lib/modules/$kv $M$E/etc/systemd $M$SW/bin $M$TOP/{bin,specialisation}
  printf 'MZ\x00 (stand-in bzImage, Linux %s)\n' "$kv" >$M$K/bzImage
  printf '\x1f\x8b (stand-in initrd for Linux %s)\n' "$kv" >$M$I/initrd
  local tools=("$M$COREUTILS"/bin/* "$M$BASH"/bin/*); ln -sf "${tools[@]#"$M"}" "$M$SW/bin/"   # one fork
  ln -sf $ZFSPKG/bin/zpool $M$SW/bin/zpool; ln -sf $ZFSPKG/bin/zfs $M$SW/bin/zfs
  ln -sf $SYSTEMD/bin/systemctl $M$SW/bin/systemctl
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
  printf '%s (%s)' "$ver" "$Code" >$M$TOP/nixos-version
  printf 'x86_64-linux' >$M$TOP/system
  ln -s "$TOP" $M/nix/var/nix/profiles/system-$n-link
  touch -h -d "$when" $M/nix/var/nix/profiles/system-$n-link
  fi
  if [ "${NT_PART:-all}" != store ]; then
  printf '%s' "$NT_FSTAB_TEXT" >$M$E/etc/fstab
  printf '%s' "$KPARAMS" >$M$TOP/kernel-params
  local kp; kp=$(printf '"%s",' $KPARAMS); kp=${kp%,}
  printf '{"org.nixos.bootspec.v1":{"init":"%s/init","initrd":"%s/initrd","kernel":"%s/bzImage","kernelParams":[%s],"label":"NixOS %s (Linux %s)","system":"x86_64-linux","toplevel":"%s"},"org.nixos.specialisation.v1":{}}\n' \
    "$TOP" "$I" "$K" "$kp" "$ver" "$kv" "$TOP" >$M$TOP/boot.json
  if [ "$NT_BOOT" = grub ]; then # grub with copyKernels: kernels under /boot/kernels, one menu entry each
    local kk=${K#/nix/store/}-bzImage ik=${I#/nix/store/}-initrd
    mkdir -p $M/boot/kernels; cp $M$K/bzImage $M/boot/kernels/$kk; cp $M$I/initrd $M/boot/kernels/$ik
    NT_GRUB_ENTRIES+=("$(printf 'menuentry "NixOS - Configuration %s (%s - %s)" --class nixos {\n%s\n  linux %s/kernels/%s init=%s/init %s\n  initrd %s/kernels/%s\n}' \
      "$n" "${when%% *}" "$ver" "$NT_GRUB_SEARCH" "$NT_GRUB_ROOT" "$kk" "$TOP" "$KPARAMS" "$NT_GRUB_ROOT" "$ik")")
  else # what systemd-boot-builder.py puts on the ESP
    local kefi=${K#/nix/store/}-bzImage.efi iefi=${I#/nix/store/}-initrd.efi B=$M$NT_ESP
    mkdir -p $B/EFI/nixos $B/loader/entries
    cp $M$K/bzImage $B/EFI/nixos/$kefi; cp $M$I/initrd $B/EFI/nixos/$iefi
    cat >$B/loader/entries/nixos-generation-$n.conf <<ENTRY
title NixOS
sort-key nixos
version Generation $n NixOS $rel ($Code $ver), Linux Kernel $kv, Built on ${when%% *}
linux /EFI/nixos/$kefi
initrd /EFI/nixos/$iefi
options init=$TOP/init $KPARAMS
machine-id $MID
ENTRY
  fi
  fi
  # shellcheck disable=SC2034 # for the caller
  TOPLEVEL=$TOP ETC=$E
}

nt_generations() { # the three generations, the profile, the boot loader's own files
  NT_GRUB_ENTRIES=()
  if [ "${NT_PART:-all}" != store ]; then   # once for the three ("." keeps the trailing newlines)
    NT_FSTAB_TEXT=$(nt_fstab; echo .); NT_FSTAB_TEXT=${NT_FSTAB_TEXT%.}
  fi
  nt_generation 1 24.05.20240610.abc1234 6.6.32 "2024-06-12 10:14:03"
  nt_generation 2 24.11.20241203.55d1f92 6.6.63 "2024-12-05 18:40:11"
  nt_generation 3 24.11.20250107.7dc3f5e 6.6.69 "2025-01-09 09:02:57"
  [ "${NT_PART:-all}" = vary ] || ln -s system-3-link $M/nix/var/nix/profiles/system
  if [ "${NT_PART:-all}" = store ]; then
    :
  elif [ "$NT_BOOT" = grub ]; then
    mkdir -p $M/boot/grub
    { printf '# Automatically generated.  DO NOT EDIT THIS FILE!\n'
      printf 'set default=0\nset timeout=5\n\n'
      local i; for ((i = ${#NT_GRUB_ENTRIES[@]} - 1; i >= 0; i--)); do printf '%s\n\n' "${NT_GRUB_ENTRIES[$i]}"; done
    } >$M/boot/grub/grub.cfg
  else
    local B=$M$NT_ESP
    printf 'timeout 5\ndefault nixos-generation-3.conf\nconsole-mode keep\n' >$B/loader/loader.conf
    echo type1 >$B/loader/entries.srel
    mkdir -p $B/EFI/BOOT $B/EFI/systemd
    printf 'MZ\x00 (stand-in systemd-boot 256.10)\n' | tee $B/EFI/BOOT/BOOTX64.EFI >$B/EFI/systemd/systemd-bootx64.efi
  fi
}

# --- /etc and the users' files -------------------------------------------------------------------------
nt_etc() { # $1 = "nohome" to leave /home/alice out (a planted fault made /home a file)
  mkdir -p $M/etc/nixos $M/etc/ssh $M/bin $M/usr/bin $M/root $M/tmp $M/var/lib/nixos $M/var/log $M/run
  [ "${1:-}" = nohome ] || mkdir -p $M/home/alice
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
}

# fileSystems the way nixos-generate-config.pl derives them from /proc/self/mountinfo (mount order):
# mounts under $M; zfs: the dataset; btrfs: + subvol=<path `btrfs subvol show` prints first>; vfat: the
# fmask/dmask super options; a second mount of a device seen before (not a btrfs subvolume) becomes
# { device = "<first mount point><root>"; fsType = "none"; options = [ "bind" ]; }; devices by the
# first /dev/disk/by-uuid, /dev/mapper, /dev/disk/by-label link with the same rdev. Appends to FS.
nt_stable_dev() {
  [ -e "$1" ] || { printf '%s' "$1"; return; }
  local want l; want=$(stat -L -c %t:%T "$1")
  for l in /dev/disk/by-uuid/* /dev/mapper/* /dev/disk/by-label/*; do
    [ -e "$l" ] && [ "$(stat -L -c %t:%T "$l")" = "$want" ] && [ -b "$l" ] && { printf '%s' "$l"; return; }
  done
  printf '%s' "$1"
}
nt_scan_mounts() {
  local -A seen=(); local line mp root majmin fstype dev sup n opts sv x
  local -a f
  while IFS= read -r line; do
    read -r -a f <<<"$line"
    majmin=${f[2]} root=${f[3]} mp=${f[4]//\\040/ }; mp=${mp//\\011/$'\t'}
    [[ $mp == "$M" || $mp == "$M"/* ]] || continue
    mp=${mp#"$M"}; mp=${mp:-/}
    for ((n = 6; n < ${#f[@]}; n++)); do [ "${f[$n]}" = - ] && break; done
    fstype=${f[$((n + 1))]} dev=${f[$((n + 2))]//\\040/ } sup=${f[$((n + 3))]}
    if [ -n "${seen[$majmin]:-}" ] && ! btrfs subvolume show "$M$mp" >/dev/null 2>&1; then
      x=${seen[$majmin]}; [ "$x" = / ] && x=; [ "$root" = / ] && root=
      FS+=("$mp|$x$root|none|bind"); continue
    fi
    seen[$majmin]=$mp
    opts=
    if [ "$fstype" = btrfs ]; then
      sv=$(btrfs subvolume show "$M$mp" 2>/dev/null | head -1)
      [ -n "$sv" ] && [ "$sv" != / ] && opts=subvol=$sv
    fi
    if [ "$fstype" = vfat ]; then
      for x in ${sup//,/ }; do [[ $x == fmask=* || $x == dmask=* ]] && opts=${opts:+$opts,}$x; done
    fi
    [ "$mp" = /tmp ] && [ "$fstype" = tmpfs ] && continue
    FS+=("$mp|$(nt_stable_dev "$dev")|$fstype|$opts")
  done </proc/self/mountinfo
  return 0
}

# hardware-configuration.nix as nixos-generate-config writes it. NT_HW_NOFS=1: --no-filesystems (disko
# users: disko's module declares fileSystems); NT_HW_LUKS: lines printed after the "/" entry.
nt_hardware_config() {
  local f m d t o flag
  printf '%s\n' "# Do not modify this file!  It was generated by ‘nixos-generate-config’" \
    '# and may be overwritten by future invocations.  Please make changes' \
    '# to /etc/nixos/configuration.nix instead.' \
    '{ config, lib, pkgs, modulesPath, ... }:' '' '{' \
    '  imports =' '    [ (modulesPath + "/profiles/qemu-guest.nix")' '    ];' '' \
    '  boot.initrd.availableKernelModules = [ "ahci" "xhci_pci" "virtio_pci" "nvme" "sr_mod" "virtio_blk" ];' \
    '  boot.initrd.kernelModules = [ ];' '  boot.kernelModules = [ "kvm-amd" ];' '  boot.extraModulePackages = [ ];'
  if [ "${NT_HW_NOFS:-0}" != 1 ]; then
    for f in "${FS[@]}"; do IFS='|' read -r m d t o flag <<<"$f"
      printf '\n  fileSystems."%s" =\n    { device = "%s";\n      fsType = "%s";\n' "$m" "$d" "$t"
      if [ -n "$o" ] && [ "$o" != defaults ]; then
        local q; q=$(IFS=,; for x in $o; do printf '"%s" ' "$x"; done)
        ((NT_FAITHFUL)) && q=${q% }
        printf '      options = [ %s ];\n' "$q"
      fi
      [ "$flag" = nfb ] && printf '      neededForBoot = true;\n'
      printf '    };\n'
      if [ "$m" = / ]; then for x in "${NT_HW_LUKS[@]}"; do printf '\n%s\n' "$x"; done; fi
    done
    printf '\n  swapDevices = [ ];\n\n'
  else
    printf '\n'
  fi
  printf '%s\n' '  # Enables DHCP on each ethernet and wireless interface. In case of scripted networking' \
    "  # (the default) this is the recommended approach. When using systemd-networkd it's" \
    "  # still possible to use this option, but it's recommended to use it in conjunction" \
    '  # with explicit per-interface declarations with `networking.interfaces.<interface>.useDHCP`.' \
    '  networking.useDHCP = lib.mkDefault true;' '  # networking.interfaces.eth0.useDHCP = lib.mkDefault true;' '' \
    '  nixpkgs.hostPlatform = lib.mkDefault "x86_64-linux";' '}'
}

# configuration.nix: NT_CONF_IMPORTS (extra files), NT_CONF_BOOT (boot loader lines, default
# systemd-boot), NT_CONF_EXTRA (lines after the boot loader's)
nt_configuration() {
  local boot=("${NT_CONF_BOOT[@]}")
  ((${#boot[@]})) || boot=('  boot.loader.systemd-boot.enable = true;' '  boot.loader.efi.canTouchEfiVariables = true;')
  printf '%s\n' '# Edit this configuration file to define what should be installed on' \
    '# your system.  Help is available in the configuration.nix(5) man page' \
    "# and in the NixOS manual (accessible by running ‘nixos-help’)." '' \
    '{ config, pkgs, ... }:' '' '{' '  imports =' '    [ # Include the results of the hardware scan.' \
    '      ./hardware-configuration.nix'
  local x; for x in "${NT_CONF_IMPORTS[@]}"; do printf '      %s\n' "$x"; done
  printf '%s\n' '    ];' '' "${boot[@]}"
  for x in "${NT_CONF_EXTRA[@]}"; do printf '%s\n' "$x"; done
  printf '\n  networking.hostName = "%s";\n  networking.hostId = "%s";\n\n' "$HOST" "$HOSTID"
  printf '%s\n' '  users.users.alice = {' '    isNormalUser = true;' '    extraGroups = [ "wheel" ];' '  };' '' \
    '  services.openssh.enable = true;' '' '  system.stateVersion = "24.05"; # Did you read the comment?' '}'
}

# A real journal written by systemd-journald (Storage=persistent) into $M/var/log/journal/$MID.
# Prints the journal file names (or "none").
nt_journal() {
  local J=none
  if [ -d $M/var ] && command -v /lib/systemd/systemd-journald >/dev/null; then
    pkill -x systemd-journal || true
    while pgrep -x systemd-journal >/dev/null; do sleep 0.1; done
    rm -rf /run/systemd/journal; mkdir -p /run/systemd/journal      # no stale sockets from the old one
    echo "$MID" >/etc/machine-id
    mkdir -p $M/var/log/journal /var/log; mount --bind $M/var/log /var/log
    mkdir -p /etc/systemd/journald.conf.d; printf '[Journal]\nStorage=persistent\n' >/etc/systemd/journald.conf.d/lab.conf
    /lib/systemd/systemd-journald & local JPID=$!
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
    J=$(ls $M/var/log/journal/$MID/ 2>/dev/null | tr '\n' ' ')
    echo "journal files: $J"
    /lib/systemd/systemd-journald >/dev/null 2>&1 &                 # back to the volatile one
  fi
  # shellcheck disable=SC2034 # for the caller
  JOURNAL=$J
}
