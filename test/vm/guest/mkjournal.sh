#!/bin/bash
# mkjournal.sh STEP — the diagnosis disk sets (issue 14), on top of mkserver.sh's `single` set.
#
#   toplevel N   (on the host) print generation N's toplevel store path; lab.ts puts
#                `init=<it>/init` on the kernel command line of the guest boot that plays that boot
#   good         (guest booted as atlas with init=<generation 4>/init): adds generations 4-6 to the
#                installed system, then lets the REAL systemd-journald of this guest boot write a boot
#                of generation 4 into /var/log/journal: the kernel's own messages (read from /dev/kmsg,
#                "Command line: … init=…-nixos-system-atlas-…/init"), the milestones PID 1 logs (same
#                MESSAGE_ID/UNIT fields as systemd's, sent with logger --journald), a clean stop
#                ("Journal stopped"); generations 5 and 6 are made after that boot. 5 adds vfio_pci,
#                vfio and vfio_iommu_type1 to stage 1 (boot.initrd.kernelModules), intel_iommu=on
#                iommu=pt, vfio-bind.service, qemu and nginx 1.26.3; 6 adds htop.
#   bad          (guest booted with init=<generation 5>/init, on a copy of the `good` set): generation 5
#                reaches stage 2, vfio-bind.service fails, a kernel error is logged, and the host then
#                pulls the plug (the journal ends abruptly).
#
# The initrds are real newc cpio archives made the way nixpkgs' make-initrd-ng does (GNU cpio
# -H newc --reproducible, `boot.initrd.compressor = "gzip -9n"`: the guest has no zstd), holding a
# scripted stage 1 (stage-1-init.sh's module loop) and a module closure; module files are stand-ins.
set -euo pipefail
STEP=${1:?step}
B32=0123456789abcdfghijklmnpqrsvwxyz
h32() { local x; x=$(printf '%s' "$1" | sha256sum | cut -c1-64); local r='' i
  for ((i = 0; i < 32; i++)); do r+=${B32:$((16#${x:$((2 * i)):2} % 32)):1}; done; echo "$r"; }
store() { echo "/nix/store/$(h32 "$1")-$1"; }
HOST=atlas
ver() { case $1 in 4) echo 24.11.20250210.3a2f1b4;; 5) echo 24.11.20250301.5c1d2e3;; 6) echo 24.11.20250302.6d2e3f4;; esac; }
kver() { case $1 in 4) echo 6.6.74;; *) echo 6.6.80;; esac; }
top() { store "nixos-system-$HOST-$(ver "$1")"; }
if [ "$STEP" = toplevel ]; then top "${2:?generation}"; exit 0; fi

POOL=nvmepool M=/mnt
OUT=/host/out; rm -rf "$OUT"; mkdir -p "$OUT"
step() { echo "=== $*"; }
mountall() {
  zpool import -N "$POOL" 2>/dev/null || zpool list "$POOL" >/dev/null
  mountpoint -q $M || mount -t zfs $POOL/root $M
  for d in nix var; do mountpoint -q $M/$d || mount -t zfs $POOL/$d $M/$d; done
  mountpoint -q $M/boot || mount -t vfat -o fmask=0022,dmask=0022 /dev/nvme0n1p1 $M/boot
}
# journald of this guest boot writing to the installed system's /var/log/journal, reading /dev/kmsg
# from the start (no volatile journal to flush, no kernel-seqnum: every kernel message exactly once)
journal_start() {
  local mid; mid=$(cat $M/etc/machine-id)
  pkill -x systemd-journal || true
  while pgrep -x systemd-journal >/dev/null; do sleep 0.1; done
  rm -rf /run/systemd/journal /run/log/journal; mkdir -p /run/systemd/journal
  echo "$mid" >/etc/machine-id
  mkdir -p $M/var/log/journal /var/log; mount --bind $M/var/log /var/log
  mkdir -p /etc/systemd/journald.conf.d; printf '[Journal]\nStorage=persistent\n' >/etc/systemd/journald.conf.d/lab.conf
  /lib/systemd/systemd-journald & JPID=$!
  for _ in $(seq 200); do journalctl --flush 2>/dev/null && break; sleep 0.1; done
}
# PID 1's structured messages (fields as src/core/job.c and src/core/manager.c log them)
sd() { # MESSAGE_ID UNIT PRIORITY MESSAGE [FIELD=VALUE...]
  local id=$1 unit=$2 prio=$3 msg=$4; shift 4
  { echo "MESSAGE=$msg"; echo "MESSAGE_ID=$id"; echo "PRIORITY=$prio"; echo "SYSLOG_IDENTIFIER=systemd"
    echo "SYSLOG_FACILITY=3"; [ -n "$unit" ] && echo "UNIT=$unit"; for f in "$@"; do echo "$f"; done; } | logger --journald
}
STARTED=39f53479d3a045ac8e11786248231fbf FINISHED=b07a249cd024414a82dd00cd181378ff
FAILED=be02cf6855d2428ba40df7e9d022f03d RESULT=d9b373ed55a64feb8242e02dbe79a49c
SHUTDOWN=98268866d1d54a499c4e98921d93bc40 STOPPING=de5b426a63be47a7b6ac3eaac82e2f6f EXITED=98e322203f7a4ed290d09fe03c09fe15

generation() { # N
  local n=$1 v; v=$(ver "$1"); local kv; kv=$(kver "$1"); local rel=${v%.*.*}
  local TOP; TOP=$(top "$n")
  local K I MODS KM E U SW SYSTEMD S1
  K=$(store "linux-$kv") I=$(store "initrd-linux-$kv") MODS=$(store "linux-$kv-modules-shrunk")
  KM=$(store "linux-$kv-modules") E=$(store "etc-$v") U=$(store "system-units-$v") SW=$(store "system-path-$v")
  SYSTEMD=$(store systemd-256.10) S1=$(store "stage-1-init.sh-$v")
  local forced="" params="nohibernate loglevel=4"
  local mods="nvme ahci xhci_pci virtio_pci virtio_blk sd_mod spl zfs"
  local pkgs="coreutils-9.5 bash-interactive-5.2p37 zfs-user-2.2.7 openssh-9.9p1 nginx-1.26.2"
  local units="sshd.service nginx.service zfs-import-nvmepool.service zfs-mount.service"
  if ((n >= 5)); then
    forced="vfio_pci vfio vfio_iommu_type1"; mods="$mods vfio-pci vfio vfio_iommu_type1"
    params="intel_iommu=on iommu=pt nohibernate loglevel=4"
    pkgs="${pkgs/nginx-1.26.2/nginx-1.26.3} qemu-9.2.0"; units="$units vfio-bind.service"
  fi
  ((n >= 6)) && pkgs="$pkgs htop-3.3.0"
  mkdir -p $M$K $M$KM/lib/modules/$kv $M$I $M$E/etc/systemd $M$U $M$SW/bin $M$TOP/specialisation $M$TOP/bin
  printf 'MZ\x00 (stand-in bzImage, Linux %s)\n' "$kv" >$M$K/bzImage
  # the initrd, as make-initrd-ng lays it out: store paths + /init -> the stage-1 script
  local R; R=$(mktemp -d)
  mkdir -p "$R/nix/store" "$R$MODS/lib/modules/$kv/kernel/drivers" "$R/etc/modprobe.d"
  cat >"$R$S1" <<S1
#! /nix/store/$(h32 extra-utils)-extra-utils/bin/ash

targetRoot=/mnt-root
# (stand-in: the part of stage-1-init.sh that loads modules, substituted as nixpkgs does)

# Load the required kernel modules.
echo /nix/store/$(h32 extra-utils)-extra-utils/bin/modprobe > /proc/sys/kernel/modprobe
for i in $forced; do
    info "loading module \$(basename \$i)..."
    modprobe \$i
done
S1
  chmod 555 "$R$S1"; ln -s "$S1" "$R/init"
  for m in $mods; do
    printf '\xfd7zXZ\x00 (stand-in module %s for Linux %s)\n' "$m" "$kv" >"$R$MODS/lib/modules/$kv/kernel/drivers/$m.ko.xz"
  done
  printf 'blacklist pcspkr\n' >"$R/etc/modprobe.d/nixos.conf"
  (cd "$R" && find . -exec touch -h -d '@1' '{}' + && find . -print0 | sort -z |
    cpio --quiet -o -H newc -R +0:+0 --reproducible --null | gzip -9n >"$M$I/initrd")
  rm -rf "$R"
  # units: etc/systemd/system -> system-units, each unit a link into its own store path
  for u in $units; do
    local UF; UF=$(store "unit-$u-$v"); [ "$u" != nginx.service ] && UF=$(store "unit-$u-$(kver "$n")")
    mkdir -p $M$UF
    printf '[Unit]\nDescription=%s\n\n[Service]\nExecStart=%s/bin/true\n' "$u" "$SW" >$M$UF/$u
    ln -sfn $UF/$u $M$U/$u
  done
  ln -sfn $U $M$E/etc/systemd/system
  echo $HOST >$M$E/etc/hostname
  printf '[Journal]\nStorage=persistent\n' >$M$E/etc/systemd/journald.conf
  for p in $pkgs; do
    local P; P=$(store "$p"); mkdir -p $M$P/bin
    local b=${p%%-[0-9]*}; printf '\177ELF (stand-in %s)\n' "$p" >$M$P/bin/$b
    ln -sfn $P/bin/$b $M$SW/bin/$b
  done
  ln -s $K/bzImage $M$TOP/kernel; ln -s $I/initrd $M$TOP/initrd; ln -s $KM $M$TOP/kernel-modules
  ln -s $E/etc $M$TOP/etc; ln -s $SW $M$TOP/sw; ln -s $SYSTEMD $M$TOP/systemd
  printf '#! %s/bin/sh\n# NixOS stage 2 (stand-in)\n' "$(store bash-interactive-5.2p37)" >$M$TOP/init; chmod 555 $M$TOP/init
  printf '%s' "$params" >$M$TOP/kernel-params
  printf '%s (Vicuna)' "$v" >$M$TOP/nixos-version
  printf 'x86_64-linux' >$M$TOP/system
  local kp; kp=$(printf '      "%s",\n' $params); kp=${kp%,}
  # boot.json as nixpkgs' bootspec.nix writes it (jq --sort-keys, pretty-printed)
  cat >$M$TOP/boot.json <<JSON
{
  "org.nixos.bootspec.v1": {
    "init": "$TOP/init",
    "initrd": "$I/initrd",
    "kernel": "$K/bzImage",
    "kernelParams": [
$kp
    ],
    "label": "NixOS 24.11 (Vicuna) $v (Linux $kv)",
    "system": "x86_64-linux",
    "toplevel": "$TOP"
  },
  "org.nixos.specialisation.v1": {},
  "org.nixos.systemd-boot": {
    "sortKey": "nixos"
  }
}
JSON
  rm -f $M/nix/var/nix/profiles/system-$n-link; ln -s "$TOP" $M/nix/var/nix/profiles/system-$n-link
  local kefi=${K#/nix/store/}-bzImage.efi iefi=${I#/nix/store/}-initrd.efi
  cp $M$K/bzImage $M/boot/EFI/nixos/$kefi; cp $M$I/initrd $M/boot/EFI/nixos/$iefi
  cat >$M/boot/loader/entries/nixos-generation-$n.conf <<ENTRY
title NixOS
sort-key nixos
version Generation $n NixOS $rel (Vicuna $v), Linux Kernel $kv, Built on $(date -u +%F)
linux /EFI/nixos/$kefi
initrd /EFI/nixos/$iefi
options init=$TOP/init $params
machine-id $(cat $M/etc/machine-id)
ENTRY
  echo "{\"generation\":$n,\"toplevel\":\"$TOP\",\"initrd\":\"$I/initrd\"}" >"$OUT/generation-$n.json"
}

case $STEP in
  good)
    mountall
    step "generation 4 (the one this boot plays)"
    generation 4
    touch -h -d "@$(($(date +%s) - 86400))" $M/nix/var/nix/profiles/system-4-link
    ln -sfn system-4-link $M/nix/var/nix/profiles/system
    sed -i 's/^default .*/default nixos-generation-4.conf/' $M/boot/loader/loader.conf
    step "a boot of generation 4, written by this guest's journald"
    grep -o 'init=[^ ]*' /proc/cmdline
    journal_start
    sd $STARTED multi-user.target 6 "Reached target Multi-User System." JOB_TYPE=start JOB_RESULT=done
    sd $FINISHED "" 6 "Startup finished in 2.101s (kernel) + 4.822s (initrd) + 9.301s (userspace) = 16.225s." \
      KERNEL_USEC=2101000 INITRD_USEC=4822000 USERSPACE_USEC=9301000
    logger -t sshd -p auth.info "Server listening on 0.0.0.0 port 22."
    printf 'MESSAGE=System is powering down.\nMESSAGE_ID=%s\nPRIORITY=5\nSYSLOG_IDENTIFIER=systemd-logind\n' $SHUTDOWN | logger --journald
    sd $STOPPING systemd-journal-flush.service 6 "Stopping Flush Journal to Persistent Storage..." JOB_TYPE=stop
    journalctl --sync
    kill -TERM $JPID; wait $JPID || true               # journald: "Journal stopped"
    umount /var/log
    step "generations 5 and 6, made after that boot"
    sleep 1
    generation 5; generation 6
    touch -h -d "@$(($(date +%s) + 10))" $M/nix/var/nix/profiles/system-5-link
    touch -h -d "@$(($(date +%s) + 20))" $M/nix/var/nix/profiles/system-6-link
    ln -sfn system-6-link $M/nix/var/nix/profiles/system
    sed -i 's/^default .*/default nixos-generation-6.conf/' $M/boot/loader/loader.conf
    sed -i '$ d' $M/etc/nixos/configuration.nix            # the closing brace; the block goes before it
    cat >>$M/etc/nixos/configuration.nix <<'NIX'

  # GPU passthrough (added for generation 5)
  boot.initrd.kernelModules = [ "vfio_pci" "vfio" "vfio_iommu_type1" ];
  boot.kernelParams = [ "intel_iommu=on" "iommu=pt" ];
  systemd.services.vfio-bind = {
    wantedBy = [ "multi-user.target" ];
    script = "echo 0000:01:00.0 > /sys/bus/pci/drivers/vfio-pci/bind";
  };
}
NIX
    ;;
  bad)
    mountall
    step "a boot of generation 5 that reaches stage 2; vfio-bind.service fails"
    grep -o 'init=[^ ]*' /proc/cmdline
    journal_start
    echo '<3>vfio-pci 0000:01:00.0: BAR 0: can'"'"'t reserve [mem 0xf0000000-0xf7ffffff 64bit pref]' >/dev/kmsg
    sd $EXITED vfio-bind.service 5 "vfio-bind.service: Main process exited, code=exited, status=1/FAILURE" \
      EXIT_CODE=exited EXIT_STATUS=1
    sd $RESULT vfio-bind.service 4 "vfio-bind.service: Failed with result 'exit-code'." UNIT_RESULT=exit-code
    sd $FAILED vfio-bind.service 3 "Failed to start vfio-bind.service." JOB_TYPE=start JOB_RESULT=failed
    journalctl --sync
    echo "journal synced; the host pulls the plug now"
    ;;
  *) echo "unknown step $STEP"; exit 2;;
esac
sync; zpool sync "$POOL" || true
ls -la $M/nix/var/nix/profiles/ $M/boot/loader/entries/
journalctl -D $M/var/log/journal --list-boots --no-pager || true
echo "mkjournal: $STEP done"
