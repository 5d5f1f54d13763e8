#!/usr/bin/env bash
# lifeboat-carry-restore CARRY_DIR TOKEN_FILE SSH_DIR NM_DIR
# Run once at boot of the rescue system (iso/carry.nix) when kexec (iso/kexec/run.sh) or the ESP
# entry (iso/rescue-entry/reboot.sh) left /run/lifeboat-carry (packed by ./lib.sh): takes over the token, root's SSH keys and the network
# configuration of the system that was running before.
#  - token -> TOKEN_FILE (0600; the agent then uses it instead of generating one);
#  - authorized_keys -> SSH_DIR/authorized_keys (appended, 0600; SSH_DIR 0700);
#  - addresses.json, routes4.json, routes6.json (`ip -j` output), nameservers -> one NetworkManager
#    keyfile per ethernet interface that had a global address, in NM_DIR (0600), matched by MAC
#    address (interface names may differ under the rescue kernel): an interface that got an address by
#    DHCP/SLAAC ("dynamic") stays automatic, with its static addresses added; one with only static
#    addresses becomes manual with its gateway; routes via a gateway and DNS servers are kept.
set -euo pipefail
umask 077
carry=${1:?carry dir} token_file=${2:?token file} ssh_dir=${3:?ssh dir} nm_dir=${4:?NetworkManager dir}

if [ -s "$carry/token" ]; then
  mkdir -p "$(dirname "$token_file")"
  install -m 600 "$carry/token" "$token_file"
  echo "token: taken over"
fi

if [ -s "$carry/authorized_keys" ]; then
  mkdir -p "$ssh_dir"
  chmod 700 "$ssh_dir"
  cat "$carry/authorized_keys" >>"$ssh_dir/authorized_keys"
  chmod 600 "$ssh_dir/authorized_keys"
  echo "ssh: $(grep -cv '^[[:space:]]*\(#\|$\)' "$carry/authorized_keys" || true) key(s) of root taken over"
fi

[ -s "$carry/addresses.json" ] || exit 0
mkdir -p "$nm_dir"
routes4=$carry/routes4.json routes6=$carry/routes6.json
[ -s "$routes4" ] || routes4=/dev/null
[ -s "$routes6" ] || routes6=/dev/null
nameservers=$(jq -R -s 'split("\n") | map(select(length > 0))' <"${carry}/nameservers" 2>/dev/null || echo '[]')

# The ethernet interfaces that had a global address, then one keyfile each.
# shellcheck disable=SC2016 # a jq program: its $names are jq variables
program='
  def section(fam; routes; nsfilter; $dev):
    [ .addr_info[] | select(.family == fam and .scope == "global") ] as $a
    | if ($a | length) == 0 then
        (if fam == "inet" then "[ipv4]\nmethod=disabled\n" else "[ipv6]\nmethod=ignore\n" end)
      else
        ($a | map(select(.dynamic != true))) as $static
        | ($a | any(.dynamic == true)) as $dhcp
        | (routes | map(select(.dev == $dev))) as $rs
        | ($rs | map(select(.dst == "default")) | first) as $gw
        | ($rs | map(select(.dst != "default" and .gateway != null))) as $via
        | (if fam == "inet" then "[ipv4]\n" else "[ipv6]\n" end)
          + (if $dhcp then "method=auto\n" else "method=manual\n" end)
          + ([ $static | to_entries[] | "address\(.key + 1)=\(.value.local)/\(.value.prefixlen)\n" ] | add // "")
          + (if ($dhcp | not) and $gw != null and $gw.gateway != null then "gateway=\($gw.gateway)\n" else "" end)
          + ([ $via | to_entries[] | "route\(.key + 1)=\(.value.dst),\(.value.gateway)\n" ] | add // "")
          + (($ns | map(select(nsfilter))) as $d
             | if ($d | length) > 0 then "dns=\($d | join(";"));\n" else "" end)
      end;
  def carried: .link_type == "ether" and (.addr_info | map(select(.scope == "global")) | length) > 0;
  if $only == "" then .[] | select(carried) | .ifname
  else
    .[] | select(.ifname == $only) | .ifname as $dev
    | "[connection]\nid=lifeboat-carried-\($dev)\ntype=ethernet\nautoconnect=true\nautoconnect-priority=100\n\n"
      + "[ethernet]\nmac-address=\(.address)\n\n"
      + section("inet"; $r4; test(":") | not; $dev) + "\n"
      + section("inet6"; $r6; test(":"); $dev)
  end'
r4=$(jq -s 'add // []' "$routes4")
r6=$(jq -s 'add // []' "$routes6")
# -r: one interface name per line; -j: the keyfile text as it is
keyfile() { jq "$1" --arg only "$2" --argjson r4 "$r4" --argjson r6 "$r6" --argjson ns "$nameservers" "$program" "$carry/addresses.json"; }
keyfile -r "" | while read -r dev; do
  case $dev in *[!A-Za-z0-9_.@-]*) echo "network: skipping interface with an odd name" >&2; continue ;; esac
  out=$nm_dir/lifeboat-carried-$dev.nmconnection
  keyfile -j "$dev" >"$out"
  chmod 600 "$out"
  echo "network: $dev taken over ($out)"
done
