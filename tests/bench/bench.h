/* Declarations rmem-bench shares with its helpers in tests/bench/: the
 * workloads every paging system runs (workload.c), the memcached-backed
 * pager it compares against (mcpager.c) and the fault floor (floor.c). */
#ifndef RMEM_BENCH_H
#define RMEM_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../client/internal.h"

#define BENCH_PAGE RMEM_PAGE_SIZE
#define BENCH_WORDS (BENCH_PAGE / sizeof(uint64_t))

/* workload.c: the same program logic for every backend.  A workload gets
 * a mapping of `pages` pages that it fills itself (untimed), then runs its
 * timed part.  Page contents are 64-bit words holding 32-bit pseudo-random
 * values, so pages compress about as well as ordinary heap data instead of
 * being all zeros (which zram stores for free) or pure noise. */
enum bench_workload { WL_SEQ, WL_RANDOM, WL_ZIPF, WL_SORT, WL_COUNT };

struct bench_result {
    double seconds;                /* the timed part only */
    uint64_t checksum;             /* equal across backends for one seed */
    uint64_t touches;              /* page accesses (sort: elements) */
};

const char *bench_workload_name(enum bench_workload w);
int  bench_workload_parse(const char *s, enum bench_workload *w);
/* Fills the mapping; returns the sum of the words written. */
uint64_t bench_workload_fill(enum bench_workload w, uint64_t *map,
                             uint64_t pages, uint64_t seed);
/* Runs the timed part. */
void bench_workload_run(enum bench_workload w, uint64_t *map, uint64_t pages,
                        uint64_t seed, struct bench_result *res);
/* Afterwards (untimed) checks what can be checked - the sort's order and
 * keys - and sets the sort's checksum: 0, or -1 after printing why. */
int  bench_workload_check(enum bench_workload w, const uint64_t *map,
                          uint64_t pages, uint64_t fill_sum,
                          struct bench_result *res);
double bench_now(void);

/* syscount.c: system calls of this process and the threads it starts
 * after syscount_open, by kind (all, ioctl, madvise); -1 where the kernel
 * would not count. */
enum { SYSCOUNT_ALL, SYSCOUNT_IOCTL, SYSCOUNT_MADVISE, SYSCOUNT_KINDS };
struct syscount {
    int fd[SYSCOUNT_KINDS];
};
void syscount_open(struct syscount *sc);
void syscount_read(const struct syscount *sc, int64_t out[SYSCOUNT_KINDS]);
void syscount_close(struct syscount *sc);

/* mcpager.c: a naive pager that keeps pages in memcached.  One
 * userfaultfd handler thread; a missing fault is one GET (or zeros for a
 * page never stored), and once `limit` pages are resident the oldest one
 * (FIFO) is stored with one SET and dropped - always, dirty or not, since
 * it tracks no writes. */
struct mcpager;

struct mcpager_stat {
    uint64_t faults;               /* missing faults resolved */
    uint64_t gets;                 /* pages fetched from memcached */
    uint64_t sets;                 /* pages stored to memcached */
    uint64_t get_ns_p50, get_ns_p99;   /* fault service time with a GET */
};

/* Maps `size` bytes managed by a new pager that keeps at most `limit`
 * bytes resident; NULL + errno (a message is printed). */
struct mcpager *mcpager_open(const char *server, size_t size, size_t limit);
void *mcpager_addr(struct mcpager *m);
void  mcpager_stat(struct mcpager *m, struct mcpager_stat *st);
/* Stops the thread, unmaps, closes.  Returns 0, or -1 if the handler
 * thread failed a fault (it prints why, and the faulting access is left
 * waiting - the run is then killed by compare.sh's timeout). */
int   mcpager_close(struct mcpager *m);

/* floor.c: the cost below which no userfaultfd pager over TCP can go. */
struct bench_floor_cost {
    uint64_t uffd_ns_p50, uffd_ns_p99;     /* one fault resolved by UFFDIO_COPY */
    uint64_t rtt_ns_p50, rtt_ns_p99;       /* one READ from rmemd */
};

/* A fault of one page, and one that brings a whole readahead window of
 * prefetch_max pages (what seq and sort faults mostly are). */
struct bench_floor {
    uint64_t samples;                      /* one-page samples; window: 1/8 */
    uint32_t window;                       /* pages */
    struct bench_floor_cost page, win;
};

/* 0, or -errno (a message is printed). */
int bench_floor_measure(const rmem_options *ro, uint64_t samples,
                        struct bench_floor *f);

#endif
