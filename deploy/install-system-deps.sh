#!/bin/sh
# Installs the Debian / Raspberry Pi OS packages Tapfleet needs, only when missing.
# Runs as root directly, through sudo when available, and otherwise says what to install.
set -eu
PKGS="python3 python3-venv mosquitto mosquitto-clients libzbar0 libusb-1.0-0 chromium fonts-noto-cjk"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "tapfleet: installing system packages:$missing"
if [ "$(id -u)" = "0" ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "tapfleet: please install these packages first: apt-get install$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || echo "tapfleet: apt-get update failed, trying the cached package lists" >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
