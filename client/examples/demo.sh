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
tmp=
pid=

say() { printf '%s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# Stops the server: SIGTERM, up to 10 s to drain, then SIGKILL.  Sets
# server_status to its exit status.
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
        say "demo: rmemd did not exit 10 s after SIGTERM; killing it" >&2
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

for f in rmemd rmemctl examples/sort; do
    [ -x "$build/$f" ] || die "$build/$f is missing: run make first"
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmem-demo.XXXXXX") || die "mktemp failed"

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
if [ "$server_status" -ne 0 ]; then
    say "demo: rmemd exited with status $server_status after SIGTERM; its log:" >&2
    cat "$tmp/rmemd.err" >&2
fi
say "== rmemd stopped (status $server_status)"

if [ "$sort_status" -ne 0 ]; then
    die "the sort failed (status $sort_status)"
fi
[ "$ctl_status" -eq 0 ] || die "rmemctl failed (status $ctl_status)"
[ "$server_status" -eq 0 ] || die "rmemd did not stop cleanly"
say "demo: the sort verified: $size sorted through a $limit local limit"
exit 0
