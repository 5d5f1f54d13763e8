# shellcheck shell=bash
# lifeboat-console-banner TOKEN_FILE PORT
# Run by lifeboat-banner.service (see console.nix): puts the output of `lifeboat banner` into
# /etc/issue.d (shown above every login prompt) and on tty1, when it changed since the last run.
set -euo pipefail

token_file=$1
port=$2
last=${RUNTIME_DIRECTORY:-/run/lifeboat-console}/banner
issue=/etc/issue.d/lifeboat.issue

if [[ ! -s $token_file ]]; then
  echo "no token in $token_file yet (agent not started?); the timer tries again"
  exit 0
fi

banner=$(lifeboat banner --token-file "$token_file" --port "$port")

if [[ -f $last && $banner == "$(<"$last")" ]]; then
  exit 0
fi
printf '%s\n' "$banner" >"$last"

mkdir -p /etc/issue.d
# agetty expands backslash escapes (\4, \n, ...) in issue files: double every backslash so the
# banner is printed as is. Mode 0600 (UMask): it holds the token; agetty runs as root.
printf '%s\n' "${banner//\\/\\\\}" >"$issue"
# Prompts not yet in use redraw with the new banner.
agetty --reload 2>/dev/null || true

if [[ -w /dev/tty1 ]]; then
  printf '\n%s\n' "$banner" >/dev/tty1 || true
fi
echo "console banner updated"
