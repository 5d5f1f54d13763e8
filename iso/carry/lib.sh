# shellcheck shell=bash
# Shared by the kexec run script (../kexec/run.sh) and the ESP entry's `lifeboat rescue-reboot`
# (../rescue-entry/reboot.sh): what the rescue system takes over at its next boot (./restore.sh via
# ../carry.nix), packed as an extra initramfs ("newc" cpio, written here: no cpio binary needed).
# Functions only; the caller sets `set -euo pipefail` and `umask 077`.

# carry_capture DIR SYSROOT — the network configuration, DNS servers and root's SSH keys of the running
# system (SYSROOT prefixes /etc/resolv.conf, /run and /root/.ssh for tests; "" on a real system).
# Sets CARRY_KEYS (number of keys) and CARRY_DNS (number of servers). `ip` must be callable.
carry_capture() {
  local dir=$1 sysroot=$2 resolv k
  mkdir -p "$dir"
  ip -j address show >"$dir/addresses.json"
  ip -j -4 route show table main >"$dir/routes4.json"
  ip -j -6 route show table main >"$dir/routes6.json" 2>/dev/null || echo '[]' >"$dir/routes6.json"
  resolv=$sysroot/etc/resolv.conf
  # systemd-resolved's stub (127.0.0.53) means nothing to the rescue system: take its upstreams.
  if grep -qs '^nameserver 127\.0\.0\.53' "$resolv" && [ -s "$sysroot/run/systemd/resolve/resolv.conf" ]; then
    resolv=$sysroot/run/systemd/resolve/resolv.conf
  fi
  { grep -s '^nameserver[[:space:]]' "$resolv" || true; } | awk '{print $2}' | { grep -v '^127\.' || true; } >"$dir/nameservers"
  # shellcheck disable=SC2034 # read by the callers
  CARRY_DNS=$(wc -l <"$dir/nameservers")
  # shellcheck disable=SC2034 # read by the callers
  CARRY_KEYS=0
  for k in "$sysroot/root/.ssh/authorized_keys" "$sysroot/root/.ssh/authorized_keys2"; do
    if [ -s "$k" ]; then
      cat "$k" >>"$dir/authorized_keys"
      CARRY_KEYS=$((CARRY_KEYS + $(grep -cv '^[[:space:]]*\(#\|$\)' "$k" || true)))
    fi
  done
}

# carry_new_token — 256 random bits, URL-safe base64 (as the agent's own tokens).
carry_new_token() {
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'
}

# carry_cpio DIR — writes, to stdout, a newc archive of DIR as `lifeboat-carry/` (0700, files 0600).
carry_cpio() {
  local dir=$1 f
  _carry_ino=1000
  _carry_entry lifeboat-carry $((8#040700))
  for f in "$dir"/*; do
    [ -f "$f" ] || continue
    _carry_entry "lifeboat-carry/${f##*/}" $((8#0100600)) "$f"
  done
  _carry_entry TRAILER!!! 0
}
# carry_initrd INITRD CARRY — writes INITRD, zero bytes up to a multiple of 4, then CARRY: the initrd
# to load when CARRY is to arrive. The kernel (init/initramfs.c, unpack_to_rootfs) takes an
# uncompressed "070701" archive only at a 4-byte-aligned offset of the whole initrd and skips zero
# bytes between members; after a compressed member of odd length (a NixOS initrd usually is) the
# archive would be refused ("invalid magic at start of compressed archive") and nothing carried.
carry_initrd() {
  cat "$1"
  _carry_pad "$(wc -c <"$1")"
  cat "$2"
}
_carry_pad() { # zero bytes up to a multiple of 4 after N bytes
  local n=$(($1 % 4))
  [ "$n" = 0 ] || head -c $((4 - n)) /dev/zero
}
_carry_entry() { # NAME MODE [FILE]
  local name=$1 mode=$2 file=${3:-} size=0 nlink=2
  if [ -n "$file" ]; then
    size=$(wc -c <"$file")
    nlink=1
  fi
  _carry_ino=$((_carry_ino + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    "$_carry_ino" "$mode" 0 0 "$nlink" 0 "$size" 0 0 0 0 $((${#name} + 1)) 0
  printf '%s\0' "$name"
  _carry_pad $((110 + ${#name} + 1))
  if [ -n "$file" ]; then
    cat "$file"
    _carry_pad "$size"
  fi
}
