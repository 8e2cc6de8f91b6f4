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
tmp=
pid=

say() { printf '%s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

stop_server() {
    server_status=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "bench: rmemd did not exit 10 s after SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    server_status=$?
    pid=
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    stop_server
    [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

for f in rmemd rmemctl rmem-bench; do
    [ -x "$build/$f" ] || die "$build/$f is missing: run make first"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmem-bench.XXXXXX") || die "mktemp failed"

"$build/rmemd" --listen 127.0.0.1:0 >"$tmp/rmemd.out" 2>"$tmp/rmemd.err" &
pid=$!
port=
i=0
while [ $i -lt 100 ]; do
    port=$(sed -n 's/^rmemd: listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
           "$tmp/rmemd.out")
    [ -n "$port" ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        pid=
        cat "$tmp/rmemd.err" >&2
        die "rmemd exited before listening"
    fi
    sleep 0.1
    i=$((i + 1))
done
[ -n "$port" ] || { cat "$tmp/rmemd.err" >&2; die "rmemd did not listen within 10 s"; }
server=127.0.0.1:$port
say "== rmemd listening on $server (pid $pid)"

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
if [ "$server_status" -ne 0 ]; then
    say "bench: rmemd exited with status $server_status after SIGTERM; its log:" >&2
    cat "$tmp/rmemd.err" >&2
    [ $status -eq 0 ] && status=1
fi
exit $status
