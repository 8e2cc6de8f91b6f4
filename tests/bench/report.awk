# report.awk: compare.sh's results file -> one markdown table.
#
# Input lines (key=value after a tag):
#   result config=C round=N workload=W seconds=S majflt=.. remote_faults=..
#          prefetch_hits=.. writebacks=.. p50_ns=.. p99_ns=.. checksum=..
#   floor round=N uffd_p50_ns=.. rtt_p50_ns=.. floor_p50_ns=.. window=W
#         win_uffd_p50_ns=.. win_rtt_p50_ns=.. win_floor_p50_ns=..
#   failed config=C workload=W round=N why=cgroup_oom_kill|status_N
# Per workload and configuration: median and min-max of the wall time of
# the timed part, the ratio of its median to rmem's (above 1: rmem is
# faster), and medians of the counters.  Pager counters exist only for
# the userfaultfd pagers (rmem, memcached); the kernel's paths show "-".
# Plain awk (mawk has no asort): a small insertion sort does the medians.

function kv(line, key,    re, s) {
    re = " " key "="
    s = " " line
    if (!match(s, re "[^ ]*"))
        return ""
    return substr(s, RSTART + length(re), RLENGTH - length(re))
}

# Sorts v[1..n] (numbers) in place.
function sort_nums(v, n,    i, j, t) {
    for (i = 2; i <= n; i++) {
        t = v[i]
        for (j = i - 1; j >= 1 && v[j] > t; j--)
            v[j + 1] = v[j]
        v[j + 1] = t
    }
}

# Median of the values stored as list "a b c".
function median(list,    v, n) {
    n = split(list, v, " ")
    if (n == 0)
        return ""
    sort_nums(v, n)
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}

function minmax(list,    v, n) {
    n = split(list, v, " ")
    sort_nums(v, n)
    return sprintf("%.3f–%.3f", v[1], v[n])
}

function add(key, val) {
    vals[key] = (key in vals) ? vals[key] " " val : val
}

function us(ns) {
    return ns == "" ? "-" : sprintf("%.0f", ns / 1000)
}

$1 == "result" {
    c = kv($0, "config"); w = kv($0, "workload")
    if (!(w in wseen)) { wseen[w] = 1; worder[++nw] = w }
    if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
    k = w SUBSEP c
    runs[k]++
    add(k SUBSEP "seconds", kv($0, "seconds"))
    add(k SUBSEP "majflt", kv($0, "majflt"))
    add(k SUBSEP "sys", kv($0, "syscalls"))
    if (kv($0, "backend") != "local") {
        pager[c] = 1
        add(k SUBSEP "remote", kv($0, "remote_faults"))
        add(k SUBSEP "hits", kv($0, "prefetch_hits"))
        add(k SUBSEP "wb", kv($0, "writebacks"))
        add(k SUBSEP "p50", kv($0, "p50_ns"))
        add(k SUBSEP "p99", kv($0, "p99_ns"))
    }
    sum = kv($0, "checksum")
    if (!(w in checksum)) {
        checksum[w] = sum; checksum_by[w] = c
    } else if (checksum[w] != sum) {
        mismatch[w] = mismatch[w] sprintf(" %s %s (round %s) vs %s %s;", c, sum,
                                          kv($0, "round"), checksum_by[w], checksum[w])
    }
}
$1 == "floor" {
    add("floor_uffd", kv($0, "uffd_p50_ns"))
    add("floor_rtt", kv($0, "rtt_p50_ns"))
    add("floor", kv($0, "floor_p50_ns"))
    add("wfloor_uffd", kv($0, "win_uffd_p50_ns"))
    add("wfloor_rtt", kv($0, "win_rtt_p50_ns"))
    add("wfloor", kv($0, "win_floor_p50_ns"))
    window = kv($0, "window")
}
$1 == "failed" {
    c = kv($0, "config"); w = kv($0, "workload")
    if (!(w in wseen)) { wseen[w] = 1; worder[++nw] = w }
    if (!(c in cseen)) { cseen[c] = 1; corder[++nc] = c }
    failed[w SUBSEP c]++
    why = kv($0, "why")
    why = why == "cgroup_oom_kill" ? "killed by the memory cgroup's OOM killer" : \
          why != "" ? "exit " substr(why, 8) : "failed"
    failures = failures sprintf("\n- %s %s, round %s: %s", kv($0, "config"),
                                kv($0, "workload"), kv($0, "round"), why)
}

END {
    print "| workload | config | median s | min–max s | ×rmem | runs | major faults | syscalls | remote faults | prefetch hits | write-backs | fault p50 µs | fault p99 µs |"
    print "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for (i = 1; i <= nw; i++) {
        w = worder[i]
        base = ((w SUBSEP "rmem") in runs) ? median(vals[w SUBSEP "rmem" SUBSEP "seconds"]) : ""
        for (j = 1; j <= nc; j++) {
            c = corder[j]; k = w SUBSEP c
            if (!(k in runs)) {
                printf "| %s | %s | failed | | | 0/%d | | | | | | | |\n", w, c, failed[k]
                continue
            }
            m = median(vals[k SUBSEP "seconds"])
            ratio = base > 0 ? sprintf("%.2f", m / base) : "-"
            runs_s = runs[k] (failed[k] ? "/" runs[k] + failed[k] : "")
            sys = median(vals[k SUBSEP "sys"])
            sys = sys == "" || sys < 0 ? "-" : sprintf("%d", sys)
            if (c in pager)
                printf "| %s | %s | %.3f | %s | %s | %s | %d | %s | %d | %d | %d | %s | %s |\n",
                       w, c, m, minmax(vals[k SUBSEP "seconds"]), ratio, runs_s,
                       median(vals[k SUBSEP "majflt"]), sys, median(vals[k SUBSEP "remote"]),
                       median(vals[k SUBSEP "hits"]), median(vals[k SUBSEP "wb"]),
                       us(median(vals[k SUBSEP "p50"])), us(median(vals[k SUBSEP "p99"]))
            else
                printf "| %s | %s | %.3f | %s | %s | %s | %d | %s | - | - | - | - | - |\n",
                       w, c, m, minmax(vals[k SUBSEP "seconds"]), ratio, runs_s,
                       median(vals[k SUBSEP "majflt"]), sys
        }
    }
    print ""
    print "×rmem: the configuration's median time over rmem's (above 1: rmem is faster)."
    print "Remote faults, write-backs and fault times are the pager's own counters"
    print "(rmem_stat for rmem; GETs, SETs and GET-fault times for memcached); major"
    print "faults are the kernel's count for the benchmark process (getrusage);"
    print "syscalls, the benchmark process's system calls over the timed part, its"
    print "pager's threads included (a spinning fault thread's non-blocking reads and"
    print "yields among them; - where the kernel would not count them)."
    if ("floor" in vals) {
        f = median(vals["floor"])
        wf = ("wfloor" in vals) ? median(vals["wfloor"]) : 0
        printf "\nFloor (rmem-bench --floor, median of rounds): one userfaultfd copy fault %s µs + one 4 KiB READ round trip to rmemd %s µs = %s µs",
               us(median(vals["floor_uffd"])), us(median(vals["floor_rtt"])), us(f)
        if (wf > 0)
            printf "; for a %s-page readahead window, %s µs + %s µs = %s µs",
                   window, us(median(vals["wfloor_uffd"])), us(median(vals["wfloor_rtt"])),
                   us(wf)
        print "."
        line = ""
        for (i = 1; i <= nw; i++) {
            k = worder[i] SUBSEP "rmem" SUBSEP "p50"
            if (!(k in vals) || f <= 0 || median(vals[k]) <= 0)
                continue
            line = line sprintf("%s %s %.2f×", line == "" ? "" : ",", worder[i],
                                median(vals[k]) / f)
            if (wf > 0)
                line = line sprintf(" (%.2f× the window's)", median(vals[k]) / wf)
        }
        if (line != "")
            print "rmem remote-fault p50 over the floor:" line "."
    }
    if (failures != "")
        print "\nRuns that did not finish:" failures
    bad = 0
    for (w in mismatch) {
        print "checksum mismatch: " w ":" mismatch[w]
        bad = 1
    }
    if (!bad && nw > 0)
        print "\nEvery configuration computed the same checksum for each workload."
    exit bad
}
