#!/bin/bash
# nixos-target-tools.sh ROOT — run on the rescue side of the QEMU lab by test/vm/11-nixos-enter.test.ts,
# with the installed system (a tree made by mkserver.sh) mounted read-write at ROOT. Gives that tree
# what a real NixOS system has and the rebuild/profile-switch jobs need, living only INSIDE it:
#
#  - /nix/store/…-nixos-rebuild-ng-25.11/bin/nixos-rebuild and /nix/store/…-nix-2.28.4/bin/nix-env,
#    linked from every generation's system-path (sw/bin), as environment.systemPackages does;
#  - each generation's `activate` models what NixOS activation does first under nixos-enter (the
#    specialfs snippet: /proc and a tmpfs /run, which it mounts because they are not mount points in
#    the chroot) and last (/run/current-system -> the toplevel);
#  - each generation's bin/switch-to-configuration only records (the real one installs the boot
#    loader; mkserver's stand-in exits 1).
#
# Every stand-in prints one line `lab-standin <tool>: …` with its argv, the environment variables
# that matter (PATH, NIX_PATH, IN_NIXOS_ENTER, NIXOS_ENTER_REEXEC, LOCALE_ARCHIVE) and the
# nameservers it sees in /etc/resolv.conf, and appends the same line to ROOT/tmp/lifeboat-lab.log.
# They run under the installed system's busybox (static), so they work under chroot; nothing of the
# rescue side (its PATH, its store) can reach them.
set -euo pipefail
ROOT=${1:?usage: nixos-target-tools.sh ROOT}
[ -e "$ROOT/etc/NIXOS" ] || { echo "$ROOT is not a NixOS tree" >&2; exit 1; }

PROFILES=/nix/var/nix/profiles
SH=$PROFILES/system/sw/bin/sh
# the installed system's busybox: system -> system-N-link -> toplevel; sw/bin/ls -> …-coreutils/bin/ls
# -> …-busybox/bin/busybox
current=$(readlink "$ROOT$(readlink "$ROOT$PROFILES/system" | sed "s|^[^/]|$PROFILES/&|")")
BB=$(readlink "$ROOT$(readlink "$ROOT$(readlink "$ROOT$current/sw")/bin/ls")")
[ -x "$ROOT$BB" ] || { echo "no busybox at $BB in $ROOT" >&2; exit 1; }
REBUILD=/nix/store/2y8xh1qd3s5w7wlm7dlnqcf6z0dbb4yx-nixos-rebuild-ng-25.11
NIX=/nix/store/0lbyqc7mpvh1yiq4w55gs6n5dgkd79y8-nix-2.28.4

# record TOOL ARGS… : the common preamble of every stand-in (sourced text, busybox sh)
record=$(
  cat <<EOF
BB=$BB
lab_record() {
  tool=\$1; shift
  argv=""; for a in "\$@"; do argv="\$argv [\$a]"; done
  ns=\$(\$BB grep '^nameserver' /etc/resolv.conf 2>/dev/null | \$BB tr '\n' ' ')
  line="lab-standin \$tool: argv=\$argv; PATH=\${PATH-}; NIX_PATH=\${NIX_PATH-}; IN_NIXOS_ENTER=\${IN_NIXOS_ENTER-}; NIXOS_ENTER_REEXEC=\${NIXOS_ENTER_REEXEC-}; LOCALE_ARCHIVE=\${LOCALE_ARCHIVE-}; resolv=\$ns"
  echo "\$line"
  echo "\$line" >>/tmp/lifeboat-lab.log
}
EOF
)

put() { # put PATH-IN-ROOT MODE CONTENT
  mkdir -p "$(dirname "$ROOT$1")"
  printf '%s\n' "$3" >"$ROOT$1"
  chmod "$2" "$ROOT$1"
}

put "$REBUILD/bin/nixos-rebuild" 555 "#!$SH
# lab stand-in for nixos-rebuild (nixos-rebuild-ng 25.11): records, then succeeds
$record
lab_record nixos-rebuild \"\$@\"
[ -e /etc/NIXOS ] || { echo 'lab-standin nixos-rebuild: not inside the installed system' >&2; exit 1; }
echo 'building the system configuration...' >&2"

put "$NIX/bin/nix-env" 555 "#!$SH
# lab stand-in for nix-env: records; implements -p PROFILE --switch-generation N like nix-env does
$record
lab_record nix-env \"\$@\"
profile=\$HOME/.nix-profile; gen=
while [ \$# -gt 0 ]; do
  case \$1 in
    -p | --profile) profile=\$2; shift 2 ;;
    -G | --switch-generation) gen=\$2; shift 2 ;;
    *) shift ;;
  esac
done
[ -n \"\$gen\" ] || { echo 'lab-standin nix-env: only --switch-generation is modelled' >&2; exit 1; }
dir=\${profile%/*}; name=\${profile##*/}
[ -e \"\$dir/\$name-\$gen-link\" ] || { echo \"error: generation \$gen does not exist\" >&2; exit 1; }
cur=\$(\$BB readlink \"\$profile\"); cur=\${cur#\$name-}; cur=\${cur%-link}
echo \"switching profile from version \$cur to \$gen\" >&2
\$BB ln -sfn \"\$name-\$gen-link\" \"\$profile\""

for link in "$ROOT$PROFILES"/system-*-link; do
  top=$(readlink "$link")
  sw=$(readlink "$ROOT$top/sw")
  ln -sfn "$REBUILD/bin/nixos-rebuild" "$ROOT$sw/bin/nixos-rebuild"
  ln -sfn "$NIX/bin/nix-env" "$ROOT$sw/bin/nix-env"
  put "$top/activate" 555 "#!$SH
# lab stand-in for $top/activate
$record
lab_record activate
\$BB mkdir -p /proc /run
[ -e /proc/self ] || \$BB mount -t proc proc /proc
\$BB grep -q ' /run ' /proc/mounts || \$BB mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
\$BB ln -sfn $top /run/current-system
echo 'activating the configuration... (lab stand-in)'"
  put "$top/bin/switch-to-configuration" 555 "#!$SH
# lab stand-in for $top/bin/switch-to-configuration: records which generation's copy ran
$record
lab_record \"switch-to-configuration($top)\" \"\$@\""
done
echo "target tools installed in $ROOT (busybox $BB)"
