#!/bin/sh
# Installs the Debian packages rmem builds and tests with, only those missing.
# Idempotent: a machine that has them all runs no apt-get at all.
#
#   install-deps.sh         what make and make test need
#   install-deps.sh bench   what make bench-compare needs besides: memcached
#                           (a page store to compare with), util-linux's
#                           mkswap/swapon and kmod's modprobe (zram)
set -eu

PKGS="build-essential pkg-config libuv1-dev libprotobuf-c-dev protobuf-c-compiler
libssl-dev libnuma-dev liblz4-dev check"
if [ "${1:-}" = bench ]; then
    PKGS="memcached util-linux kmod"
fi

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing packages:$missing (run as root or install them)" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing >/dev/null
