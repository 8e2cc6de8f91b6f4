/* Counting the system calls a benchmark run makes, by kind, without
 * tracing them: perf counters on the raw_syscalls:sys_enter tracepoint
 * (every call) and on the syscalls:sys_enter_{ioctl,madvise} tracepoints,
 * opened before librmem starts its threads and inherited by them.  A read
 * of an inherited counter sums the live threads' counts, so two samples
 * around the timed part give what it cost.
 *
 * Best effort: without tracefs or without the privilege for tracepoint
 * counters (perf_event_paranoid, CAP_PERFMON) the counts read as -1 and
 * rmem-bench prints them as such. */
#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

static const char *const events[SYSCOUNT_KINDS] = {
    "raw_syscalls/sys_enter", "syscalls/sys_enter_ioctl",
    "syscalls/sys_enter_madvise",
};

static long tracepoint_id(const char *event)
{
    static const char *const roots[] = {"/sys/kernel/tracing/events",
                                        "/sys/kernel/debug/tracing/events"};
    char path[256];
    long id = -1;

    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]) && id < 0; i++) {
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s/id", roots[i], event);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fscanf(f, "%ld", &id) != 1)
            id = -1;
        fclose(f);
    }
    return id;
}

void syscount_open(struct syscount *sc)
{
    for (int k = 0; k < SYSCOUNT_KINDS; k++) {
        struct perf_event_attr a;
        long id = tracepoint_id(events[k]);

        sc->fd[k] = -1;
        if (id < 0)
            continue;
        memset(&a, 0, sizeof(a));
        a.type = PERF_TYPE_TRACEPOINT;
        a.size = sizeof(a);
        a.config = (uint64_t)id;
        a.inherit = 1;              /* the threads librmem starts later */
        a.exclude_kernel = 0;
        sc->fd[k] = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1,
                                 PERF_FLAG_FD_CLOEXEC);
    }
}

void syscount_read(const struct syscount *sc, int64_t out[SYSCOUNT_KINDS])
{
    for (int k = 0; k < SYSCOUNT_KINDS; k++) {
        uint64_t v;

        out[k] = -1;
        if (sc->fd[k] >= 0 && read(sc->fd[k], &v, sizeof(v)) == sizeof(v))
            out[k] = (int64_t)v;
    }
}

void syscount_close(struct syscount *sc)
{
    for (int k = 0; k < SYSCOUNT_KINDS; k++) {
        if (sc->fd[k] >= 0)
            close(sc->fd[k]);
        sc->fd[k] = -1;
    }
}
