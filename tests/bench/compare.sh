#!/bin/bash
# shellcheck disable=SC2317  # stop_pid and cleanup run from the EXIT trap
# compare.sh BUILD_DIR: rmem side by side with the kernel's own paging and
# with memcached, on this machine, in one run (make bench-compare).
#
# Configurations, each running the same rmem-bench workloads (seq, random,
# zipf, sort) over BENCH_SIZE of memory with BENCH_LIMIT resident:
#   local      plain anonymous memory, no limit (what the work costs in RAM)
#   rmem       librmem with the local limit, pages on an rmemd on loopback
#   swapfile   plain anonymous memory in a memory cgroup limited to
#              BENCH_LIMIT, swap on a swap file made for the run
#   zram       the same with a zram device made for the run as the swap
#   memcached  a naive userfaultfd pager (tests/bench/mcpager.c) with the
#              local limit, one GET/SET per page to a memcached on loopback
# The cgroup runs move a child process into the cgroup (cgroup.procs) and
# exec rmem-bench there, so only it is limited; only one swap device is on
# at a time.  Repetitions alternate: for each round, each workload, each
# configuration in turn, so that a slow spell of the machine hits all of
# them alike.  `rmem-bench --floor` runs once a round.
#
# Environment (defaults in brackets):
#   BENCH_SIZE [1G]  BENCH_LIMIT [256M]  BENCH_REPS [3]
#   BENCH_WORKLOADS [seq,random,zipf,sort]
#   BENCH_CONFIGS [local,rmem,swapfile,zram,memcached]
#   BENCH_TIMEOUT [3600]  seconds one rmem-bench run may take
#   BENCH_DIR [/var/tmp]  where the swap file goes (a disk, not tmpfs)
#   BENCH_OUT             also write the report (markdown) to this file
# Quick try: BENCH_SIZE=256M BENCH_LIMIT=64M BENCH_REPS=1 make bench-compare
#
# Needs root (swapon, zram, cgroups).  Leaves no swap on, no zram device, no
# cgroup, no process and no file behind, also when interrupted.  Exits 1 if an
# rmem run failed or two configurations disagree on a workload's checksum; a
# baseline's failed runs show in the table's runs column and in the report.
set -u

build=${1:-build}
size=${BENCH_SIZE:-1G}
limit=${BENCH_LIMIT:-256M}
reps=${BENCH_REPS:-3}
workloads=${BENCH_WORKLOADS:-seq,random,zipf,sort}
configs=${BENCH_CONFIGS:-local,rmem,swapfile,zram,memcached}
run_timeout=${BENCH_TIMEOUT:-3600}
swapdir=${BENCH_DIR:-/var/tmp}

tmp='' swapfile='' swapfile_on='' zdev='' zdev_on='' cgroup='' mc_pid='' rmemd_pid='' run_pid=''
tracefs_mounted=''
declare -A skip=()

say() { printf '%s\n' "$*" >&2; }
die() { say "bench-compare: $*"; exit 1; }

bytes() {       # 256M -> 268435456
    local n=${1%[KkMmGg]} u=${1: -1}
    case $u in
    [Kk]) echo $((n << 10)) ;; [Mm]) echo $((n << 20)) ;; [Gg]) echo $((n << 30)) ;;
    *) echo "$1" ;;
    esac
}

stop_pid() {    # pid: TERM, then KILL after 10 s
    local pid=$1 i=0
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# shellcheck disable=SC2317  # called from the trap
cleanup() {
    trap '' INT TERM HUP
    stop_pid "$run_pid"
    [ -n "$swapfile_on" ] && swapoff "$swapfile" 2>/dev/null
    [ -n "$swapfile" ] && rm -f "$swapfile"
    if [ -n "$zdev" ]; then
        [ -n "$zdev_on" ] && swapoff "/dev/zram$zdev" 2>/dev/null
        echo 1 >"/sys/block/zram$zdev/reset" 2>/dev/null
        echo "$zdev" >/sys/class/zram-control/hot_remove 2>/dev/null
    fi
    if [ -n "$cgroup" ]; then
        local i=0
        while [ -d "$cgroup" ] && ! rmdir "$cgroup" 2>/dev/null && [ "$i" -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
        [ -d "$cgroup" ] && say "bench-compare: could not remove $cgroup"
    fi
    stop_pid "$mc_pid"
    stop_pid "$rmemd_pid"
    [ -n "$tracefs_mounted" ] && umount /sys/kernel/tracing 2>/dev/null
    [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---- checks ---------------------------------------------------------------

[ "$(id -u)" = 0 ] || die "needs root: it turns swap on and off, creates a zram
device and a memory cgroup.  Run it as root (sudo make bench-compare)."
for f in rmemd rmem-bench; do
    [ -x "$build/$f" ] || die "$build/$f is missing: run make first"
done
if [ -n "$(swapon --noheadings --show 2>/dev/null)" ]; then
    die "swap is already on ($(swapon --noheadings --show=NAME | tr '\n' ' ')): the
cgroup runs would page to it too.  Turn it off (swapoff -a) and run again."
fi
size_b=$(bytes "$size")
limit_b=$(bytes "$limit")
if ! [ "$size_b" -gt 0 ] 2>/dev/null || ! [ "$limit_b" -gt 0 ] 2>/dev/null; then
    die "BENCH_SIZE and BENCH_LIMIT must be sizes like 1G, 256M"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rmem-compare.XXXXXX") || die "mktemp failed"

# ---- set up ---------------------------------------------------------------

want() { [[ ",$configs," == *",$1,"* ]] && [ -z "${skip[$1]:-}" ]; }

setup_cgroup() {
    if [ -f /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        cgroup=/sys/fs/cgroup/memory/rmem-bench.$$
        mkdir "$cgroup" || return 1
        echo "$limit_b" >"$cgroup/memory.limit_in_bytes" || return 1
        cg_kind="cgroup v1 memory.limit_in_bytes"
    elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
        cgroup=/sys/fs/cgroup/rmem-bench.$$
        mkdir "$cgroup" || return 1
        echo "$limit_b" >"$cgroup/memory.max" || return 1
        cg_kind="cgroup v2 memory.max"
    else
        return 1
    fi
}

setup_swapfile() {
    swapfile=$swapdir/rmem-bench.$$.swap
    local bytes_=$((size_b + limit_b + (64 << 20)))
    { fallocate -l "$bytes_" "$swapfile" 2>/dev/null ||
      dd if=/dev/zero of="$swapfile" bs=1M count=$((bytes_ >> 20)) status=none; } &&
        chmod 600 "$swapfile" && mkswap "$swapfile" >/dev/null &&
        swapon "$swapfile" && swapoff "$swapfile"
}

setup_zram() {
    if [ ! -e /sys/class/zram-control/hot_add ] && command -v modprobe >/dev/null; then
        modprobe zram num_devices=0 2>/dev/null || modprobe zram 2>/dev/null
    fi
    [ -e /sys/class/zram-control/hot_add ] || return 1
    zdev=$(cat /sys/class/zram-control/hot_add) || { zdev=; return 1; }
    local i=0
    while [ ! -b "/dev/zram$zdev" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    echo $((size_b + limit_b + (64 << 20))) >"/sys/block/zram$zdev/disksize" &&
        mkswap "/dev/zram$zdev" >/dev/null
}

free_port() {
    local p
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        p=$((20000 + RANDOM % 40000))
        ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && { echo "$p"; return; }
    done
    echo 0
}

setup_memcached() {
    command -v memcached >/dev/null || return 1
    local mb=$(( (size_b >> 20) * 2 + 64 )) i=0
    mc_port=$(free_port)
    memcached -l 127.0.0.1 -p "$mc_port" -U 0 -m "$mb" -t 2 -u nobody \
        >"$tmp/memcached.log" 2>&1 &
    mc_pid=$!
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$mc_port") 2>/dev/null; do
        kill -0 "$mc_pid" 2>/dev/null && [ "$i" -lt 100 ] || return 1
        sleep 0.1
        i=$((i + 1))
    done
}

setup_rmemd() {
    local pool=$(( (size_b >> 20) * 2 + 256 ))M i=0
    "$build/rmemd" --listen 127.0.0.1:0 --pool "$pool" \
        >"$tmp/rmemd.out" 2>"$tmp/rmemd.err" &
    rmemd_pid=$!
    while [ "$i" -lt 100 ]; do
        rmem_port=$(sed -n 's/^rmemd: listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
                    "$tmp/rmemd.out")
        [ -n "$rmem_port" ] && return 0
        kill -0 "$rmemd_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    cat "$tmp/rmemd.err" >&2
    return 1
}

# rmem-bench counts system calls with tracepoint counters, which need
# tracefs; mount it for the run where the machine has not.
if [ ! -e /sys/kernel/tracing/events/raw_syscalls ] &&
   mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
    tracefs_mounted=1
fi

cg_kind=
if want swapfile || want zram; then
    setup_cgroup || { skip[swapfile]="no memory cgroup controller";
                      skip[zram]="no memory cgroup controller"; }
fi
if want swapfile; then
    setup_swapfile || skip[swapfile]="could not make a swap file in $swapdir"
fi
if want zram; then
    setup_zram || skip[zram]="this kernel has no zram (no /sys/class/zram-control; modprobe zram failed or is missing)"
fi
if want memcached; then
    setup_memcached || skip[memcached]="memcached is not installed or did not start (see make bench-compare's install step)"
fi
setup_rmemd || die "rmemd did not start"
server=127.0.0.1:$rmem_port

# ---- runs -----------------------------------------------------------------

# run CONFIG WORKLOAD ROUND: one rmem-bench run, its result lines tagged and
# appended to $tmp/results.  The run is a background child so that a signal
# reaches our trap at once.
# The memory cgroup's count of OOM kills (v1 memory.oom_control, v2
# memory.events), or 0 without a cgroup.
oom_kills() {
    local f=$cgroup/memory.oom_control
    [ -f "$f" ] || f=$cgroup/memory.events
    if [ -z "$cgroup" ] || [ ! -f "$f" ]; then
        echo 0
        return
    fi
    awk '$1 == "oom_kill" { print $2; found = 1 } END { if (!found) print 0 }' "$f"
}

run() {
    local cfg=$1 wl=$2 round=$3 status why kills
    local args=(--workload "$wl" --size "$size" --limit "$limit")
    local cmd=(timeout --kill-after=10 "$run_timeout")
    case $cfg in
    local)     cmd+=("$build/rmem-bench" "${args[@]}" --backend local) ;;
    rmem)      cmd+=("$build/rmem-bench" "${args[@]}" --backend rmem -s "$server") ;;
    memcached) cmd+=("$build/rmem-bench" "${args[@]}" --backend memcached
                     --memcached "127.0.0.1:$mc_port") ;;
    swapfile|zram)
        # shellcheck disable=SC2016  # $$ and $@ are the child shell's
        cmd+=(bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cgroup"
              "$build/rmem-bench" "${args[@]}" --backend local) ;;
    esac
    if [ "$cfg" = swapfile ]; then swapon "$swapfile" && swapfile_on=1; fi
    if [ "$cfg" = zram ]; then swapon "/dev/zram$zdev" && zdev_on=1; fi
    kills=$(oom_kills)
    "${cmd[@]}" >"$tmp/run.out" 2>"$tmp/run.err" &
    run_pid=$!
    wait "$run_pid"
    status=$?
    run_pid=
    if [ "$cfg" = swapfile ]; then swapoff "$swapfile"; swapfile_on=; fi
    if [ "$cfg" = zram ]; then
        swapoff "/dev/zram$zdev"
        zdev_on=
    fi
    if [ $status -ne 0 ] || ! grep -q '^result ' "$tmp/run.out"; then
        why=status_$status
        case $cfg in swapfile|zram)
            [ "$(oom_kills)" -gt "$kills" ] && why=cgroup_oom_kill ;;
        esac
        say "bench-compare: $cfg $wl round $round failed (status $status, $why):"
        sed 's/^/    /' "$tmp/run.err" >&2
        echo "failed config=$cfg workload=$wl round=$round why=$why" >>"$tmp/results"
        return 1
    fi
    sed -n "s/^result /result config=$cfg round=$round /p" "$tmp/run.out" >>"$tmp/results"
    say "   $(printf '%-9s %-6s' "$cfg" "$wl") $(sed -n 's/.* seconds=\([0-9.]*\).*/\1 s/p' "$tmp/run.out")"
}

status=0
: >"$tmp/results"
say "bench-compare: $size through $limit, $reps round(s), rmemd on $server"
for c in ${configs//,/ }; do
    [ -n "${skip[$c]:-}" ] && say "bench-compare: skipping $c: ${skip[$c]}"
done
for round in $(seq 1 "$reps"); do
    say "== round $round of $reps"
    if "$build/rmem-bench" --floor -s "$server" >"$tmp/floor.out" 2>"$tmp/run.err"; then
        sed -n "s/^floor /floor round=$round /p" "$tmp/floor.out" >>"$tmp/results"
    else
        say "bench-compare: rmem-bench --floor failed:"; cat "$tmp/run.err" >&2
        status=1
    fi
    for wl in ${workloads//,/ }; do
        for cfg in ${configs//,/ }; do
            want "$cfg" || continue
            # A baseline that fails (the kernel's OOM killer takes the
            # cgroup runs now and then) is a result, shown as such in the
            # table; rmem failing is an error.
            run "$cfg" "$wl" "$round" || { [ "$cfg" = rmem ] && status=1; }
        done
    done
done

# ---- report ---------------------------------------------------------------

cores=$(nproc)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
{
    echo "# rmem against swap, zram and memcached"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $cores cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $mem memory, kernel $(uname -r)"
    echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "- command: BENCH_SIZE=$size BENCH_LIMIT=$limit BENCH_REPS=$reps BENCH_WORKLOADS=$workloads BENCH_CONFIGS=$configs make bench-compare"
    echo "- limit by: ${cg_kind:-no cgroup} for swapfile/zram; the local limit of librmem and of the memcached pager for rmem/memcached${zdev:+; zram compressor $(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/zram$zdev/comp_algorithm" 2>/dev/null)}"
    for c in ${configs//,/ }; do
        [ -n "${skip[$c]:-}" ] && echo "- skipped $c: ${skip[$c]}"
    done
    echo
    awk -f "$(dirname "$0")/report.awk" "$tmp/results"
} >"$tmp/report.md"
awk_status=$?
cat "$tmp/report.md"
[ -n "${BENCH_OUT:-}" ] && cp "$tmp/report.md" "$BENCH_OUT"
grep -q '^checksum mismatch' "$tmp/report.md" && status=1
[ $awk_status -ne 0 ] && status=1
exit $status
