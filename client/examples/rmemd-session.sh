# rmemd-session.sh: a throwaway rmemd for demo.sh and bench.sh (sourced).
#
# The caller sets `build` and `me` (its name for messages) and may set
# RMEMD_ARGS; start_server starts BUILD/rmemd on a free loopback port and
# sets `server` to HOST:PORT; the EXIT trap stops it (SIGTERM, then SIGKILL
# after 10 s) and removes the temporary folder, also on failure or
# interrupt.  stop_server sets `server_status` to rmemd's exit status.
tmp=
pid=

say() { printf '%s\n' "$*"; }
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 1; }

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
        say "$me: rmemd did not exit 10 s after SIGTERM; killing it" >&2
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

# Prints rmemd's log when it did not stop cleanly.
report_server() {
    if [ "$server_status" -ne 0 ]; then
        say "$me: rmemd exited with status $server_status after SIGTERM; its log:" >&2
        cat "$tmp/rmemd.err" >&2
    fi
}

start_server() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmem-$me.XXXXXX") || die "mktemp failed"
    # shellcheck disable=SC2086  # RMEMD_ARGS is a list of words
    "$build/rmemd" --listen 127.0.0.1:0 ${RMEMD_ARGS:-} \
        >"$tmp/rmemd.out" 2>"$tmp/rmemd.err" &
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
}
