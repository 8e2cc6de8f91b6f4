/* Fault steering: a fault thread that serves one program thread's faults
 * moves to the CPU that thread runs on, as Linux's receive flow steering
 * moves a flow's packet processing to the CPU of the thread that reads it.
 *
 * A userfault hands over twice between the faulting thread and the fault
 * thread: the fault itself, and the UFFDIO_COPY that wakes the faulting
 * thread again.  Across CPUs each hand-over is an interrupt to a CPU
 * that halted, which on the virtual machines here costs more than the
 * round trip to rmemd (tests/bench/FAULT-PATH.md: a copy fault takes 7 µs
 * with both threads on one CPU, 14-17 µs with a spinning handler on the
 * other, 37-56 µs with a sleeping one).  On the faulting thread's own CPU
 * the busy-polling fault thread runs the moment the faulting thread
 * blocks, and its wake-up is a local one.
 *
 * So once STEER_AFTER faults in a row come from one thread, the fault
 * thread pins itself to the CPU that thread last ran on, read from
 * /proc/self/task/TID/stat, and looks again every STEER_RECHECK faults,
 * since the scheduler may move the program.  A fault from another thread
 * unpins it at once: pinned to a CPU that another busy program thread
 * holds, it would wait for that thread's time slice.  Steering only runs
 * with busy polling (the spin, yielding at each turn, is what lets the
 * pinned fault thread share the program's CPU) and only onto CPUs the
 * fault thread was started with. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define STEER_AFTER 64
#define STEER_RECHECK 256

void rmem__steer_init(struct rmem__steer *st, bool enabled)
{
    memset(st, 0, sizeof(*st));
    st->cpu = -1;
    st->enabled = enabled && sched_getaffinity(0, sizeof(st->home), &st->home) == 0;
}

/* The CPU thread tid of this process last ran on (field 39 of its stat
 * line), or -1.  No allocation: this runs on the fault thread. */
static int thread_cpu(pid_t tid)
{
    char path[48], buf[1024], *p;
    ssize_t n;
    int fd, field = 2;

    snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    p = strrchr(buf, ')');          /* the command name may hold anything */
    if (!p)
        return -1;
    while (*p && field < 39)
        if (*p++ == ' ')
            field++;
    return *p ? atoi(p) : -1;
}

static void steer_to(struct rmem__steer *st, int cpu)
{
    cpu_set_t one;

    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0)
        st->cpu = cpu;
}

static void unsteer(struct rmem__steer *st)
{
    if (sched_setaffinity(0, sizeof(st->home), &st->home) == 0)
        st->cpu = -1;
}

void rmem__steer_fault(struct rmem__steer *st, pid_t tid)
{
    int cpu;

    if (!st->enabled || tid <= 0)
        return;
    if (tid != st->tid) {
        st->tid = tid;
        st->run = 0;
        if (st->cpu >= 0)
            unsteer(st);
        return;
    }
    if (++st->run < STEER_AFTER || (st->run - STEER_AFTER) % STEER_RECHECK)
        return;
    cpu = thread_cpu(tid);
    if (cpu >= 0 && cpu < CPU_SETSIZE && cpu != st->cpu && CPU_ISSET(cpu, &st->home))
        steer_to(st, cpu);
}
