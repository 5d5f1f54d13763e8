#!/bin/bash
# Stand-in for nixpkgs' `nixos-enter`, installed on the RESCUE side of the QEMU lab by
# test/vm/11-nixos-enter.test.ts (the Debian guest has no Nix). Written for this lab from what the
# real script does — nixpkgs pkgs/by-name/ni/nixos-enter/nixos-enter.sh (nixos-25.11; read at the
# stored versions 35c631acafbc and, for nixos/modules/installer/tools/nixos-enter.sh, 5b249ff4ae1b):
#
#  1. re-executes itself once in new mount, UTS and PID namespaces with a fresh /proc
#     (`unshare --fork --mount --uts --mount-proc --pid`), then makes every mount private, so its
#     bind mounts vanish with it and never show on the rescue side;
#  2. options: --root DIR (default /mnt), --system PROFILE (default /nix/var/nix/profiles/system),
#     -c/--command STR (= "$system/sw/bin/bash" -c STR: NOT a login shell), --silent, `--` CMD…
#     (default command: "$system/sw/bin/bash" --login); an unknown option exits 1;
#  3. refuses (exit 126) a root without etc/NIXOS;
#  4. creates ROOT/dev and ROOT/sys (0755) and bind-mounts /dev and /sys recursively; NOT /proc
#     (the target's activation mounts it) and NOT /run;
#  5. binds the rescue side's /etc/resolv.conf over ROOT/etc/resolv.conf; if that is a symlink, over
#     its target inside ROOT (one level, absolute or relative to ROOT/etc), creating an empty file
#     there first (`install -Dm644 /dev/null`) when missing;
#  6. runs the target's "$system/activate" under chroot with LOCALE_ARCHIVE and IN_NIXOS_ENTER=1,
#     stdout to stderr, failure ignored; then "$system/sw/bin/systemd-tmpfiles --create --remove -E"
#     under chroot, errors hidden, failure ignored (stderr of both hidden with --silent);
#  7. unsets TMPDIR and `exec chroot ROOT CMD…` with the CALLER's environment: a bare command name is
#     searched in the rescue side's PATH inside ROOT, and chroot exits 127 when it is not there.
set -e

if [ -z "${NIXOS_ENTER_REEXEC:-}" ]; then
  export NIXOS_ENTER_REEXEC=1
  flags=()
  [ "$(id -u)" = 0 ] || flags=(-r)
  exec unshare --fork --mount --uts --mount-proc --pid "${flags[@]}" -- "$0" "$@"
fi
mount --make-rprivate /

root=/mnt
system=/nix/var/nix/profiles/system
cmd=("$system/sw/bin/bash" --login)
silent=0
while [ "$#" -gt 0 ]; do
  opt=$1
  shift
  case $opt in
    --root) root=$1; shift ;;
    --system) system=$1; shift ;;
    --help) echo "$0: see nixos-enter(8)"; exit 1 ;;
    -c | --command) cmd=("$system/sw/bin/bash" -c "$1"); shift ;;
    --silent) silent=1 ;;
    --) cmd=("$@"); break ;;
    *) echo "$0: unknown option \`$opt'"; exit 1 ;;
  esac
done

if [[ ! -e $root/etc/NIXOS ]]; then
  echo "$0: '$root' is not a NixOS installation" >&2
  exit 126
fi

mkdir -p "$root/dev" "$root/sys"
chmod 0755 "$root/dev" "$root/sys"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"

bind_resolv_conf() {
  local dest="$root/etc/resolv.conf" link
  [[ -e /etc/resolv.conf ]] || return 0
  if [[ -L $dest ]]; then
    link=$(readlink "$dest")
    case $link in
      /*) dest=$root$link ;;
      *) dest=$root/etc/$link ;;
    esac
  fi
  if [[ ! -f $dest ]]; then
    install -Dm644 /dev/null "$dest" || return 1
  fi
  mount --bind /etc/resolv.conf "$dest"
}
bind_resolv_conf || echo "$0: failed to set up resolv.conf" >&2

(
  if [ "$silent" -eq 1 ]; then exec 2>/dev/null; fi
  LOCALE_ARCHIVE="$system/sw/lib/locale/locale-archive" IN_NIXOS_ENTER=1 \
    chroot "$root" "$system/activate" 1>&2 || true
  chroot "$root" "$system/sw/bin/systemd-tmpfiles" --create --remove -E 2>/dev/null || true
)

unset TMPDIR
exec chroot "$root" "${cmd[@]}"
