#!/usr/bin/env bash
# lifeboat-kexec/run — start the Lifeboat rescue system from a running x86_64 Linux with kexec.
#
# Run as root from the unpacked tarball (`tar xzf lifeboat-kexec-*.tar.gz && ./lifeboat-kexec/run`).
# What it does, in this order:
#  1. checks that kexec can work here and refuses with a clear message otherwise (root, x86_64,
#     kexec-tools, a kernel with kexec, not disabled by sysctl or lockdown, enough memory, the
#     tarball's files) — nothing is changed when it refuses;
#  2. captures what an operator needs to reach the machine again: every interface's addresses
#     (`ip -j address`), the IPv4 and IPv6 routes, the DNS servers, and root's SSH authorized_keys;
#  3. generates a fresh API token, prints it and writes it next to this script (0600), so that a
#     remote caller has it before the machine disappears; the rescue console shows it too;
#  4. packs 2. and 3. into a small extra initramfs after the rescue system's own (../carry/lib.sh,
#     shipped as carry-lib.sh; the rescue system takes them over at boot: ../carry.nix) and
#     `kexec --load`s the rescue kernel;
#  5. executes it (`kexec -e`), by default one second later in the background so that an SSH session
#     running this script gets its output and exit status first (`--foreground`: right away).
#
# Options: --foreground, --token-file PATH, --dry-run (everything but the kexec calls), --help.
# Environment (tests): LIFEBOAT_KEXEC_SYSROOT prefixes /proc, /sys, /etc/resolv.conf, /run and
# /root/.ssh when reading the running system.
set -euo pipefail
umask 077

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ -r "$here/carry-lib.sh" ] || { echo "lifeboat-kexec: missing $here/carry-lib.sh: unpack the whole tarball" >&2; exit 1; }
# shellcheck source=iso/carry/lib.sh
. "$here/carry-lib.sh"
sysroot=${LIFEBOAT_KEXEC_SYSROOT:-}
foreground=0
dry_run=0
token_file=$here/token

die() {
  echo "lifeboat-kexec: $*" >&2
  echo "lifeboat-kexec: nothing was changed." >&2
  exit 1
}
usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ "$#" -gt 0 ]; do
  case $1 in
    --foreground) foreground=1 ;;
    --dry-run) dry_run=1 ;;
    --token-file)
      [ "$#" -ge 2 ] || die "--token-file needs a path"
      token_file=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

# ---------------------------------------------------------------- 1. can kexec work here?
[ "$(id -u)" = 0 ] || die "run this as root (kexec needs CAP_SYS_BOOT)"
[ "$(uname -s)" = Linux ] || die "this is not Linux"
arch=$(uname -m)
[ "$arch" = x86_64 ] || die "this rescue system is for x86_64, this machine is $arch"

kexec=
if [ -x "$here/kexec" ]; then kexec=$here/kexec; else kexec=$(command -v kexec || true); fi
[ -n "$kexec" ] || die "no kexec binary: install kexec-tools (or use a tarball that bundles it)"

[ -e "$sysroot/sys/kernel/kexec_loaded" ] ||
  die "this kernel has no kexec support (no /sys/kernel/kexec_loaded: CONFIG_KEXEC is off)"
if [ "$(cat "$sysroot/proc/sys/kernel/kexec_load_disabled" 2>/dev/null || echo 0)" = 1 ]; then
  die "kexec is disabled on this kernel (kernel.kexec_load_disabled = 1; only a reboot resets it)"
fi
lockdown=$(cat "$sysroot/sys/kernel/security/lockdown" 2>/dev/null || true)
case $lockdown in
  *"[integrity]"* | *"[confidentiality]"*)
    die "the kernel is locked down (${lockdown}): it only kexecs signed kernels; boot the rescue system another way (USB stick, netboot)"
    ;;
esac

for f in bzImage initrd cmdline; do
  [ -s "$here/$f" ] || die "missing $here/$f: unpack the whole tarball"
done
size_kib() { echo $(($(wc -c <"$1") / 1024)); }
need_kib=$((3 * ($(size_kib "$here/bzImage") + $(size_kib "$here/initrd")) + 262144))
have_kib=$(awk '/^MemTotal:/ {print $2}' "$sysroot/proc/meminfo" 2>/dev/null || echo 0)
[ "$have_kib" -ge "$need_kib" ] ||
  die "not enough memory: the rescue system runs from RAM and needs about $((need_kib / 1024)) MiB, this machine has $((have_kib / 1024)) MiB"
command -v ip >/dev/null || [ -x "$here/ip" ] || die "no ip command (iproute2) to read the network configuration"
ip() { if [ -x "$here/ip" ]; then "$here/ip" "$@"; else command ip "$@"; fi; }

# ---------------------------------------------------------------- 2. + 3. what to carry over
work=$(mktemp -d "${TMPDIR:-/tmp}/lifeboat-kexec.XXXXXX")
loaded=0
cleanup() {
  rm -rf "$work"
  if [ "$loaded" = 0 ] && [ -n "${token_written:-}" ]; then rm -f "$token_file"; fi
}
trap cleanup EXIT
carry=$work/lifeboat-carry
mkdir -p "$carry"

carry_capture "$carry" "$sysroot"

token=$(carry_new_token)
printf '%s\n' "$token" >"$carry/token"
printf '%s\n' "$token" >"$token_file"
token_written=1
chmod 600 "$token_file"

# ---------------------------------------------------------------- 4. extra initramfs, kexec --load
carry_cpio "$carry" >"$work/carry.cpio"
# The kernel unpacks concatenated archives in order: the rescue initrd, then ours, which it only
# finds at a 4-byte-aligned offset (carry_initrd pads with zero bytes).
carry_initrd "$here/initrd" "$work/carry.cpio" >"$work/initrd"

cmdline="$(tr '\n' ' ' <"$here/cmdline" | sed 's/[[:space:]]*$//') lifeboat.kexec=1"
# kexec_file_load first, kexec_load as the fallback, on kernels from 6.1 on (as nixos-images does:
# older kernels often fail kexec_file_load).
syscall=()
if printf '%s\n' 6.1 "$(uname -r)" | sort -c -V 2>/dev/null; then syscall=(--kexec-syscall-auto); fi
if [ "$dry_run" = 0 ]; then
  if ! "$kexec" --load "$here/bzImage" ${syscall[@]+"${syscall[@]}"} --initrd="$work/initrd" --command-line="$cmdline"; then
    "$kexec" --unload >/dev/null 2>&1 || true
    die "kexec --load failed (see above)"
  fi
fi
loaded=1

# ---------------------------------------------------------------- tell the caller, then go
addrs=$(ip -o address show scope global | awk '{sub(/\/.*/, "", $4); print $4}' | tr '\n' ' ')
cat <<MSG
Lifeboat rescue system loaded; this machine now switches to it.
  API token: $token
  (also in $token_file; the rescue console shows it too)
  Carried over: addresses and routes of every interface, $CARRY_DNS DNS server(s), $CARRY_KEYS SSH key(s) of root
  In about a minute: http://<address>:8080/ with one of: ${addrs:-(no global address found)}
  or: lifeboat client --host <address> status    (token in \$LIFEBOAT_TOKEN)
MSG
[ "$dry_run" = 0 ] || { echo "(dry run: kexec not called)"; exit 0; }
sync
if [ "$foreground" = 1 ]; then
  cleanup
  trap - EXIT
  exec "$kexec" -e
fi
# Background: this shell returns (so an SSH caller sees the above), then the switch happens.
if command -v setsid >/dev/null; then
  # shellcheck disable=SC2016
  nohup setsid sh -c 'sleep 1; exec "$0" -e' "$kexec" >/dev/null 2>&1 &
else
  (sleep 1 && exec "$kexec" -e) >/dev/null 2>&1 &
fi
