/* Busy polling: a fault thread that has just served a fault keeps looking
 * for the next one, and for the reply to its READ, for a short while
 * before it goes to sleep in poll(2) or read(2).
 *
 * Waking a sleeping thread on another CPU is the dearest step of a remote
 * fault on a virtual machine: the wake-up is an interrupt to a halted
 * virtual CPU, 10-30 µs where a whole 4 KiB round trip to the server
 * takes 15 (tests/bench/FAULT-PATH.md).  Faults come in storms, so a
 * thread that spins between them is never woken during one.  Each turn of
 * the spin yields the CPU (sched_yield), so the thread it waits for - the
 * server on loopback, the program about to fault - still runs when they
 * share a CPU; and a thread that may only run on one CPU does not spin at
 * all, since nothing it waits for could run meanwhile.  The spin ends
 * busy_poll µs after the last event, as Linux's net.core.busy_poll bounds
 * a socket's.  A TLS connection spins on the socket with MSG_PEEK
 * (rmem__busy_wait), after tls.c has looked in the engine's buffer. */
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"

uint64_t rmem__now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t rmem__busy_poll_ns(unsigned busy_poll_us)
{
    cpu_set_t set;

    if (!busy_poll_us || sched_getaffinity(0, sizeof(set), &set) < 0 ||
        CPU_COUNT(&set) < 2)
        return 0;
    return (uint64_t)busy_poll_us * 1000u;
}

static int busy_recv(int fd, void *buf, size_t cap, int flags, uint64_t ns)
{
    uint64_t end = rmem__now_ns() + ns;

    do {
        ssize_t n = recv(fd, buf, cap, flags | MSG_DONTWAIT);

        if (n > 0)
            return (int)n;
        if (n == 0)
            return -ECONNRESET;
        if (errno != EAGAIN && errno != EINTR)
            return -errno;
        sched_yield();
    } while (rmem__now_ns() < end);
    return 0;
}

int rmem__busy_recv(int fd, void *buf, size_t cap, uint64_t ns)
{
    return busy_recv(fd, buf, cap, 0, ns);
}

int rmem__busy_wait(int fd, uint64_t ns)
{
    char byte;

    return busy_recv(fd, &byte, 1, MSG_PEEK, ns);
}
