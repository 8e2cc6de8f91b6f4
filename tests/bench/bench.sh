#!/bin/sh
# bench.sh BUILD_DIR [RMEM-BENCH OPTIONS]: rmem-bench against a fresh rmemd.
#
# Starts BUILD_DIR/rmemd on 127.0.0.1 (a free port, built-in defaults
# otherwise), runs BUILD_DIR/rmem-bench with the sequential and the random
# pattern (256 MiB through a 32 MiB local limit unless options say
# otherwise, e.g. --size 1G --passes 3 --json), prints its figures and the
# server's rmemctl info, and stops the server with SIGTERM.  Exits with
# rmem-bench's status (1 if a page failed to verify), or 1 if the server
# did not stop cleanly.  Leaves no server and no temporary file behind.
set -u

build=${1:-build}
[ $# -gt 0 ] && shift
# shellcheck disable=SC2034  # used by rmemd-session.sh
me=bench
# shellcheck source=client/examples/rmemd-session.sh
. "$(dirname "$0")/../../client/examples/rmemd-session.sh"

for f in rmemd rmemctl rmem-bench; do
    [ -x "$build/$f" ] || die "$build/$f is missing: run make first"
done
start_server

status=0
for pattern in seq random; do
    say ""
    say "== rmem-bench --pattern $pattern $*"
    "$build/rmem-bench" -s "$server" --size 256M --limit 32M --pattern "$pattern" "$@" ||
        { status=$?; break; }
done

say ""
say "== rmemctl info (after the runs)"
"$build/rmemctl" -s "$server" info

# mm/ microbenchmarks: the allocators alone, no server, no network.
if [ $status -eq 0 ] && [ -x "$build/mm-bench" ]; then
    say ""
    say "== mm-bench (buddy, slab and glibc malloc, ns per alloc+free)"
    "$build/mm-bench" || status=$?
fi

stop_server
report_server
if [ "$server_status" -ne 0 ]; then
    [ $status -eq 0 ] && status=1
fi
exit $status
