#!/bin/sh
# demo.sh BUILD_DIR: a program bigger than its local limit, paged through rmemd.
#
# Starts BUILD_DIR/rmemd on 127.0.0.1 (a free port, built-in defaults
# otherwise), sorts 256 MiB of integers with BUILD_DIR/examples/sort through
# a 32 MiB local limit, shows what the server saw with rmemctl info and
# buddyinfo, and stops the server with SIGTERM.  Exits 0 only if the sort
# verified and the server stopped cleanly; the trap leaves no server and no
# temporary file behind, also on failure or interrupt.
set -u

build=${1:-build}
size=${DEMO_SIZE:-256M}
limit=${DEMO_LIMIT:-32M}
# shellcheck disable=SC2034  # used by rmemd-session.sh
me=demo
# shellcheck source=client/examples/rmemd-session.sh
. "$(dirname "$0")/rmemd-session.sh"

for f in rmemd rmemctl examples/sort; do
    [ -x "$build/$f" ] || die "$build/$f is missing: run make first"
done
start_server

say "== sort $size of 64-bit integers in remote memory, local limit $limit"
"$build/examples/sort" -s "$server" --size "$size" --limit "$limit"
sort_status=$?

say ""
say "== rmemctl info"
"$build/rmemctl" -s "$server" info
ctl_status=$?
say ""
say "== rmemctl buddyinfo"
"$build/rmemctl" -s "$server" buddyinfo || ctl_status=$?

say ""
stop_server
report_server
say "== rmemd stopped (status $server_status)"

if [ "$sort_status" -ne 0 ]; then
    die "the sort failed (status $sort_status)"
fi
[ "$ctl_status" -eq 0 ] || die "rmemctl failed (status $ctl_status)"
[ "$server_status" -eq 0 ] || die "rmemd did not stop cleanly"
say "demo: the sort verified: $size sorted through a $limit local limit"
exit 0
