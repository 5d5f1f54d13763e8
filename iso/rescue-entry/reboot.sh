# shellcheck shell=bash
# lifeboat rescue-reboot [--yes] [--token-file PATH]
# On a server with services.lifeboat.rescueEntry: reboot ONCE into the Lifeboat rescue entry on this
# server's ESP, carrying over what an operator needs to reach it (the network configuration, root's
# SSH keys) and a fresh API token, printed here and written to --token-file (default
# /root/lifeboat-token) before the reboot. The next normal boot is unchanged: systemd-boot's
# one-shot entry (`systemctl reboot --boot-loader-entry=`), or GRUB's `grub-reboot`.
# Set by the `lifeboat` wrapper (iso/rescue-entry.nix): LIFEBOAT_LOADER (systemd-boot|grub),
# LIFEBOAT_ENTRY_ID, LIFEBOAT_ENTRY_FILE (the installed entry, to check it is there),
# LIFEBOAT_CARRY_FILE (the extra initrd the entry loads), LIFEBOAT_CARRY_LIB (../carry/lib.sh),
# LIFEBOAT_GRUBENV (GRUB: its environment block, where grub-reboot writes).
set -euo pipefail
umask 077
yes=0
token_file=/root/lifeboat-token
die() {
  echo "lifeboat rescue-reboot: $*" >&2
  echo "lifeboat rescue-reboot: nothing was changed." >&2
  exit 1
}
while [ "$#" -gt 0 ]; do
  case $1 in
    --yes) yes=1 ;;
    --token-file)
      [ "$#" -ge 2 ] || die "--token-file needs a path"
      token_file=$2
      shift
      ;;
    *) die "unknown argument: $1 (usage: lifeboat rescue-reboot [--yes] [--token-file PATH])" ;;
  esac
  shift
done
: "${LIFEBOAT_LOADER:?}" "${LIFEBOAT_ENTRY_ID:?}" "${LIFEBOAT_ENTRY_FILE:?}" "${LIFEBOAT_CARRY_FILE:?}" "${LIFEBOAT_CARRY_LIB:?}"
# shellcheck source=iso/carry/lib.sh
. "$LIFEBOAT_CARRY_LIB"

[ "$(id -u)" = 0 ] || die "run this as root"
[ -e "$LIFEBOAT_ENTRY_FILE" ] ||
  die "the rescue entry is not installed ($LIFEBOAT_ENTRY_FILE is missing): rebuild with services.lifeboat.rescueEntry.enable (nixos-rebuild boot)"
[ -d "$(dirname "$LIFEBOAT_CARRY_FILE")" ] || die "$(dirname "$LIFEBOAT_CARRY_FILE") is missing: is the ESP mounted?"
if [ "$LIFEBOAT_LOADER" = grub ]; then
  # grub-reboot sets next_entry in GRUB's environment block; NixOS's grub.cfg boots it once and
  # clears it with save_env, which GRUB only does on a plain disk (no LVM or RAID) and a
  # non-checksumming file system (GNU GRUB manual, "The GRUB environment block"). Elsewhere the
  # one-shot entry would stay, and every later boot would start the rescue system.
  envdir=$(dirname "${LIFEBOAT_GRUBENV:?}")
  read -r envfs envsrc < <(findmnt -n -o FSTYPE,SOURCE -T "$envdir" 2>/dev/null || true) || true
  case "${envfs:-}:${envsrc:-}" in
    zfs:* | btrfs:* | *:/dev/md* | *:/dev/mapper/* | *:/dev/dm-*)
      where=$envfs
      case $envfs in zfs | btrfs) ;; *) where=$envsrc ;; esac
      die "GRUB cannot clear a one-shot entry in $LIFEBOAT_GRUBENV on $where (its save_env writes only to plain disks and file systems without checksums): every later boot would start the rescue system. Reboot and choose \"Lifeboat rescue\" in the GRUB menu at the console instead."
      ;;
  esac
fi
if [ "$yes" = 0 ]; then
  [ -t 0 ] || die "not confirmed: run with --yes"
  printf 'Reboot this server once into the Lifeboat rescue system now? Type yes: '
  read -r answer
  [ "$answer" = yes ] || die "not confirmed"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
carry_capture "$work/carry" ""
token=$(carry_new_token)
printf '%s\n' "$token" >"$work/carry/token"
carry_cpio "$work/carry" >"$work/carry.cpio"
# Replace the entry's (empty) carry archive in one step; the next normal boot empties it again.
cp "$work/carry.cpio" "$LIFEBOAT_CARRY_FILE.new"
mv "$LIFEBOAT_CARRY_FILE.new" "$LIFEBOAT_CARRY_FILE"
printf '%s\n' "$token" >"$token_file"
chmod 600 "$token_file"

cat <<MSG
Rebooting once into the Lifeboat rescue system.
  API token: $token
  (also in $token_file until the reboot; the rescue console shows it too)
  Carried over: addresses and routes of every interface, $CARRY_DNS DNS server(s), $CARRY_KEYS SSH key(s) of root
  The next boot after the rescue is this system again.
MSG
sync
case $LIFEBOAT_LOADER in
  systemd-boot) exec systemctl reboot --boot-loader-entry="$LIFEBOAT_ENTRY_ID" ;;
  grub) grub-reboot "$LIFEBOAT_ENTRY_ID" && exec systemctl reboot ;;
  *) die "unknown boot loader $LIFEBOAT_LOADER" ;;
esac
