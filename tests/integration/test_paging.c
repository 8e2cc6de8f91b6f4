/* Paging end to end: librmem against a real rmemd on loopback, with local
 * limits far below the working set, checking every byte that comes back. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul
#define UFFD_USER_MODE_ONLY_FLAG 1

static struct rmemd srv;

static void start_server(void)
{
    const char *args[] = {"--pool", "256M", NULL};

    ck_assert_int_eq(rmemd_start(&srv, args), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

static rmem_client *connect_prefetch(size_t limit, unsigned prefetch_max)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = limit;
    o.prefetch_max = prefetch_max;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
}

static rmem_client *connect_limit(size_t limit)
{
    return connect_prefetch(limit, 64);
}

static void *map_anon(rmem_client *c, size_t len)
{
    void *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    return p;
}

/* A page's expected contents: its index and a generation, spread over the
 * page so a torn or misplaced page shows. */
static void stamp(uint64_t *page, uint64_t idx, uint64_t gen)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        page[i] = idx * 0x9e3779b97f4a7c15ull ^ gen ^ i;
    page[PAGE / 8 - 1] = idx ^ (gen << 32);
}

static int stamp_ok(const uint64_t *page, uint64_t idx, uint64_t gen)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        if (page[i] != (idx * 0x9e3779b97f4a7c15ull ^ gen ^ i))
            return 0;
    return page[PAGE / 8 - 1] == (idx ^ (gen << 32));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

START_TEST(test_fill_rewrite_verify_128m_through_16m)
{
    const size_t len = 128 * MiB, npages = len / PAGE;
    rmem_client *c = connect_limit(16 * MiB);
    uint32_t *gen = calloc(npages, sizeof(*gen));
    struct rmem_stat st;
    uint64_t seed = 42;
    char *p = map_anon(c, len);

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 0);
    for (size_t k = 0; k < npages / 2; k++) {
        size_t i = xorshift(&seed) % npages;

        stamp((uint64_t *)(p + i * PAGE), i, ++gen[i]);
    }
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, gen[i]),
                      "page %zu lost its contents", i);

    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.total_vm, len);
    ck_assert_uint_le(st.rss, 16 * MiB);
    ck_assert_uint_gt(st.evictions, npages);
    ck_assert_uint_gt(st.writebacks, npages);
    ck_assert_uint_gt(st.faults_remote, 0);
    ck_assert_uint_eq(st.faults, st.faults_zero + st.faults_remote + st.faults_wp);
    ck_assert_uint_gt(st.remote_usage, 64 * MiB);
    ck_assert_uint_gt(st.fault_ns_p50, 0);
    ck_assert_uint_ge(st.fault_ns_p99, st.fault_ns_p50);
    ck_assert_uint_eq(st.bytes_out, st.writebacks * PAGE);
    ck_assert_uint_eq(st.bytes_in % PAGE, 0);
    ck_assert_uint_ge(st.bytes_in, st.faults_remote * PAGE);

    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.total_vm, 0);
    ck_assert_uint_eq(st.rss, 0);
    ck_assert_uint_eq(st.remote_usage, 0);
    rmem_disconnect(c);
    free(gen);
}
END_TEST

/* Whether this kernel offers asynchronous write protection with
 * UFFDIO_MOVE (Linux 6.8), which librmem uses unless RMEM_WP=sync. */
static int kernel_has_wp_async(void)
{
    const uint64_t want = (1u << 15) | (1u << 16);   /* WP_ASYNC, MOVE */
    struct uffdio_api api = {.api = UFFD_API, .features = want};
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY_FLAG);
    int ok;

    if (fd < 0)
        return 0;
    ok = ioctl(fd, UFFDIO_API, &api) == 0;
    close(fd);
    return ok;
}

/* Connects with RMEM_WP=sync in the environment, or without it. */
static rmem_client *connect_wp(size_t limit, int sync)
{
    rmem_client *c;

    if (sync)
        ck_assert_int_eq(setenv("RMEM_WP", "sync", 1), 0);
    else
        ck_assert_int_eq(unsetenv("RMEM_WP"), 0);
    c = connect_limit(limit);
    unsetenv("RMEM_WP");
    return c;
}

/* A page first read maps the zero page write-protected; the store that
 * follows must mark it dirty, or eviction would drop it as clean.  In
 * both write-protect modes (_i: 0 asynchronous, 1 synchronous). */
START_TEST(test_read_zero_then_write_survives_eviction)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    int sync = _i || !kernel_has_wp_async();
    rmem_client *c = connect_wp(4 * MiB, sync);
    volatile char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++) {
        ck_assert_int_eq(p[i * PAGE + 100], 0);
        p[i * PAGE + 100] = (char)(i % 251 + 1);
    }
    for (size_t i = 0; i < npages; i++)
        ck_assert_int_eq(p[i * PAGE + 100], (char)(i % 251 + 1));
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_ge(st.faults_zero, npages);
    if (sync) {
        /* Most stores hit a resident zero page (one WP fault each); a page
         * the evictor dropped in between faults in writable instead. */
        ck_assert_uint_gt(st.faults_wp, npages / 2);
    } else {
        /* The kernel lets the stores through; write-back found them. */
        ck_assert_uint_eq(st.faults_wp, 0);
        ck_assert_uint_ge(st.writebacks, npages - 4 * MiB / PAGE);
    }
    rmem_disconnect(c);
}
END_TEST

/* With asynchronous write protection, reading then writing a resident
 * page costs the one fault that brought it in, whether it came as zeros
 * or from the server. */
START_TEST(test_read_then_write_costs_one_fault)
{
    const size_t len = 8 * MiB, npages = len / PAGE;
    rmem_client *c;
    volatile char *p;
    struct rmem_stat st0, st;

    if (!kernel_has_wp_async()) {
        fprintf(stderr, "paging: no UFFD_FEATURE_WP_ASYNC|MOVE here: "
                "checking the synchronous count instead\n");
    }
    c = connect_wp(0, 0);
    p = map_anon(c, len);
    for (size_t i = 0; i < npages; i++) {
        ck_assert_int_eq(p[i * PAGE + 8], 0);
        p[i * PAGE + 8] = (char)(i % 13 + 1);
    }
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    if (!kernel_has_wp_async()) {
        ck_assert_uint_eq(st.faults, 2 * npages);
        rmem_disconnect(c);
        return;
    }
    ck_assert_uint_eq(st.faults, npages);
    ck_assert_uint_eq(st.faults_zero, npages);
    ck_assert_uint_eq(st.faults_wp, 0);
    /* Out to the server and back: a remote read then a write, one fault. */
    ck_assert_int_eq(rmem_madvise(c, (void *)p, len, MADV_PAGEOUT), 0);
    ck_assert_int_eq(rmem_stat(c, &st0), 0);
    ck_assert_uint_eq(st0.rss, 0);
    ck_assert_uint_eq(st0.writebacks, npages);
    ck_assert_int_eq(rmem_madvise(c, (void *)p, len, MADV_RANDOM), 0);
    for (size_t i = 0; i < npages; i++) {
        ck_assert_int_eq(p[i * PAGE + 8], (char)(i % 13 + 1));
        p[i * PAGE + 8] = (char)(i % 13 + 2);
    }
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.faults - st0.faults, npages);
    ck_assert_uint_eq(st.faults_remote - st0.faults_remote, npages);
    ck_assert_uint_eq(st.faults_wp, 0);
    /* And the stores were seen: msync sends every page once. */
    ck_assert_int_eq(rmem_msync(c, (void *)p, len, MS_SYNC), 0);
    ck_assert_int_eq(rmem_stat(c, &st0), 0);
    ck_assert_uint_eq(st0.writebacks - st.writebacks, npages);
    ck_assert_int_eq(rmem_msync(c, (void *)p, len, MS_SYNC), 0);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.writebacks, st0.writebacks);
    ck_assert_int_eq(rmem_madvise(c, (void *)p, len, MADV_PAGEOUT), 0);
    for (size_t i = 0; i < npages; i++)
        ck_assert_int_eq(p[i * PAGE + 8], (char)(i % 13 + 2));
    rmem_disconnect(c);
}
END_TEST

/* Stores racing with eviction and with msync from other threads: every
 * page written is the page read back.  Writers own disjoint pages and
 * stamp a new generation each time; a third thread keeps calling msync
 * and MADV_PAGEOUT over the whole mapping.  _i picks the mode. */
struct racer {
    char *map;
    size_t npages, first, stride;
    uint32_t *gen;
    uint64_t seed;
    rmem_client *c;
    volatile int *stop;
};

static void *race_writer(void *arg)
{
    struct racer *r = arg;

    for (int round = 0; round < 6; round++)
        for (size_t i = r->first; i < r->npages; i += r->stride) {
            size_t k = (i + xorshift(&r->seed) % 7) % r->npages;

            if (k % r->stride != r->first)
                k = i;
            stamp((uint64_t *)(r->map + k * PAGE), k, ++r->gen[k]);
        }
    return NULL;
}

static void *race_syncer(void *arg)
{
    struct racer *r = arg;
    size_t len = r->npages * PAGE;

    while (!*r->stop) {
        if (rmem_msync(r->c, r->map, len, MS_SYNC) < 0 ||
            rmem_madvise(r->c, r->map + len / 2, len / 4, MADV_PAGEOUT) < 0)
            return (void *)1;
    }
    return NULL;
}

START_TEST(test_stores_race_with_writeback)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    int sync = _i || !kernel_has_wp_async();
    rmem_client *c = connect_wp(4 * MiB, sync);
    char *p = map_anon(c, len);
    uint32_t *gen = calloc(npages, sizeof(*gen));
    volatile int stop = 0;
    struct racer w[2], s = {p, npages, 0, 1, gen, 0, c, &stop};
    pthread_t tw[2], ts;
    void *ret;

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 0);
    for (int t = 0; t < 2; t++) {
        w[t] = (struct racer){p, npages, (size_t)t, 2, gen, 77 + (uint64_t)t, c, &stop};
        ck_assert_int_eq(pthread_create(&tw[t], NULL, race_writer, &w[t]), 0);
    }
    ck_assert_int_eq(pthread_create(&ts, NULL, race_syncer, &s), 0);
    for (int t = 0; t < 2; t++)
        ck_assert_int_eq(pthread_join(tw[t], NULL), 0);
    stop = 1;
    ck_assert_int_eq(pthread_join(ts, &ret), 0);
    ck_assert_ptr_null(ret);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, gen[i]),
                      "page %zu lost generation %u", i, gen[i]);
    rmem_disconnect(c);
    free(gen);
}
END_TEST

/* The first store to never-written memory costs one fault, not a missing
 * fault followed by a write-protect fault. */
START_TEST(test_first_write_is_one_fault)
{
    const size_t len = 8 * MiB, npages = len / PAGE;
    rmem_client *c = connect_prefetch(0, 0);
    char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++)
        p[i * PAGE] = 1;
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.faults, npages);
    ck_assert_uint_eq(st.faults_zero, npages);
    ck_assert_uint_eq(st.faults_wp, 0);
    ck_assert_uint_eq(st.rss, len);
    rmem_disconnect(c);
}
END_TEST

/* With readahead, a stream of first writes maps zero pages in windows:
 * fewer faults than pages, still no write-protect fault, and the data
 * survives eviction. */
START_TEST(test_sequential_streams_use_readahead)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_client *c = connect_prefetch(4 * MiB, 64);
    char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 3);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_lt(st.faults, npages / 8);
    ck_assert_uint_eq(st.faults_wp, 0);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, 3), "page %zu", i);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_lt(st.faults_remote, npages / 8);
    ck_assert_uint_gt(st.prefetched, npages / 2);
    ck_assert_uint_gt(st.prefetch_hits, npages / 2);
    rmem_disconnect(c);
}
END_TEST

/* Descending scans get readahead too: windows below the fault, every page
 * in its place.  First one descending read of pages that live on the
 * server, then the two ends of a quicksort partition moving towards each
 * other, which read and write both. */
START_TEST(test_descending_streams_use_readahead)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_client *c = connect_prefetch(4 * MiB, 64);
    char *p = map_anon(c, len);
    struct rmem_stat a, b;

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 1);
    ck_assert_int_eq(rmem_stat(c, &a), 0);
    for (size_t i = npages; i-- > 0;)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, 1), "page %zu", i);
    ck_assert_int_eq(rmem_stat(c, &b), 0);
    ck_assert_uint_lt(b.faults_remote - a.faults_remote, npages / 8);
    ck_assert_uint_gt(b.prefetch_hits - a.prefetch_hits, npages / 2);

    for (size_t i = 0, j = npages - 1; i < j; i++, j--) {
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, 1), "page %zu", i);
        ck_assert_msg(stamp_ok((uint64_t *)(p + j * PAGE), j, 1), "page %zu", j);
        stamp((uint64_t *)(p + i * PAGE), i, 2);
        stamp((uint64_t *)(p + j * PAGE), j, 2);
    }
    ck_assert_int_eq(rmem_stat(c, &a), 0);
    ck_assert_uint_lt(a.faults_remote - b.faults_remote, npages / 8);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, 2), "page %zu", i);
    rmem_disconnect(c);
}
END_TEST

/* RMEM_BUSY_POLL sets rmem_options.busy_poll (µs); a bad value keeps the
 * default. */
START_TEST(test_busy_poll_option)
{
    rmem_options o;

    ck_assert_int_eq(unsetenv("RMEM_BUSY_POLL"), 0);
    rmem_options_init(&o);
    ck_assert_uint_eq(o.busy_poll, 50);
    ck_assert_int_eq(setenv("RMEM_BUSY_POLL", "0", 1), 0);
    rmem_options_init(&o);
    ck_assert_uint_eq(o.busy_poll, 0);
    ck_assert_int_eq(setenv("RMEM_BUSY_POLL", "200", 1), 0);
    rmem_options_init(&o);
    ck_assert_uint_eq(o.busy_poll, 200);
    ck_assert_int_eq(setenv("RMEM_BUSY_POLL", "20ms", 1), 0);
    rmem_options_init(&o);
    ck_assert_uint_eq(o.busy_poll, 50);
    unsetenv("RMEM_BUSY_POLL");
}
END_TEST

/* Every way a fault thread waits serves faults alike: sleeping at once
 * (busy_poll 0), spinning (1000 µs), and a client started on a single CPU,
 * where it must not spin since the server and the program need that CPU
 * (_i: 0, 1, 2). */
START_TEST(test_busy_poll_modes_page_intact)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    uint32_t *gen = calloc(npages, sizeof(*gen));
    cpu_set_t all, one;
    rmem_options o;
    rmem_client *c;
    uint64_t seed = 7;
    char *p;

    ck_assert_int_eq(sched_getaffinity(0, sizeof(all), &all), 0);
    if (_i == 2) {
        CPU_ZERO(&one);
        for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &all)) {
                CPU_SET(cpu, &one);
                break;
            }
        ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
    }
    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = 4 * MiB;
    o.busy_poll = _i == 0 ? 0 : 1000;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    p = map_anon(c, len);
    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 0);
    for (size_t k = 0; k < npages; k++) {
        size_t i = xorshift(&seed) % npages;

        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, gen[i]), "page %zu", i);
        if (k & 1)
            stamp((uint64_t *)(p + i * PAGE), i, ++gen[i]);
    }
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, gen[i]), "page %zu", i);
    rmem_disconnect(c);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(all), &all), 0);
    free(gen);
}
END_TEST

/* The librmem thread named `comm` ("rmem-fault"), or 0. */
static pid_t librmem_thread(const char *comm)
{
    char path[300], name[32];
    pid_t tid = 0;
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;

    ck_assert_ptr_nonnull(d);
    while (!tid && (e = readdir(d))) {
        FILE *f;

        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        f = fopen(path, "r");
        if (f && fgets(name, sizeof(name), f) && strncmp(name, comm, strlen(comm)) == 0)
            tid = (pid_t)atoi(e->d_name);
        if (f)
            fclose(f);
    }
    closedir(d);
    return tid;
}

/* Cpus_allowed_list of thread tid, as /proc prints it ("0-1", "1"). */
static void allowed_cpus(pid_t tid, char out[static 256])
{
    char path[64], line[256];
    FILE *f;

    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "Cpus_allowed_list: %255s", out) == 1)
            break;
    fclose(f);
}

static void *touch_64_pages(void *arg)
{
    char *p = arg;

    for (size_t i = 0; i < 64; i++)
        p[i * PAGE] = 2;
    return NULL;
}

/* Fault steering: after a run of faults from one thread the fault thread
 * runs on that thread's CPU; a fault from another thread gives it back all
 * the CPUs it started with.  On a single CPU nothing moves. */
START_TEST(test_fault_thread_follows_the_faulting_thread)
{
    const size_t len = 8 * MiB;
    char home[256], now[256], want[16];
    cpu_set_t all, one;
    rmem_options o;
    rmem_client *c;
    pthread_t other;
    pid_t fault_tid;
    int last = -1;
    char *p;

    ck_assert_int_eq(sched_getaffinity(0, sizeof(all), &all), 0);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &all))
            last = cpu;
    rmem_options_init(&o);
    o.server = srv.addr;
    o.prefetch_max = 0;
    o.busy_poll = 50;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    fault_tid = librmem_thread("rmem-fault");
    ck_assert_int_gt(fault_tid, 0);
    allowed_cpus(fault_tid, home);
    CPU_ZERO(&one);
    CPU_SET(last, &one);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);

    p = map_anon(c, len);
    for (size_t i = 0; i < 512; i++)
        p[i * PAGE] = 1;
    allowed_cpus(fault_tid, now);
    snprintf(want, sizeof(want), "%d", last);
    ck_assert_str_eq(now, CPU_COUNT(&all) > 1 ? want : home);

    ck_assert_int_eq(pthread_create(&other, NULL, touch_64_pages, p + 1024 * PAGE), 0);
    ck_assert_int_eq(pthread_join(other, NULL), 0);
    allowed_cpus(fault_tid, now);
    ck_assert_str_eq(now, home);
    ck_assert_int_eq(sched_setaffinity(0, sizeof(all), &all), 0);
    rmem_disconnect(c);
}
END_TEST

/* Several fault threads (rmem_options.fault_threads) serve the faults of
 * several program threads at once, each fetching without the client lock:
 * every page comes back intact through eviction, readahead windows
 * included, and no page is fetched twice at the same time. */
struct toucher {
    char *map;
    size_t npages, first, stride;
    int pass;
};

static void *touch_pages(void *arg)
{
    struct toucher *t = arg;

    for (size_t i = t->first; i < t->npages; i += t->stride) {
        if (t->pass == 0)
            stamp((uint64_t *)(t->map + i * PAGE), i, 5);
        else if (!stamp_ok((uint64_t *)(t->map + i * PAGE), i, 5))
            return (void *)(uintptr_t)(i + 1);
    }
    return NULL;
}

START_TEST(test_fault_threads_serve_concurrent_faults)
{
    const size_t len = 64 * MiB, npages = len / PAGE;
    rmem_options o;
    rmem_client *c;
    struct rmem_stat st;
    struct toucher t[4];
    pthread_t tid[4];
    char *p;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = 8 * MiB;
    o.prefetch_max = 16;
    o.fault_threads = 3;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    p = map_anon(c, len);
    for (int pass = 0; pass < 3; pass++) {
        for (int k = 0; k < 4; k++) {
            /* Pass 2 strides by 1 from four offsets: neighbouring faults
             * from different threads, overlapping readahead windows. */
            t[k] = (struct toucher){p, npages, (size_t)k, pass == 2 ? 1 : 4,
                                    pass == 0 ? 0 : 1};
            if (pass == 2)
                t[k].first = (size_t)k * 3;
            ck_assert_int_eq(pthread_create(&tid[k], NULL, touch_pages, &t[k]), 0);
        }
        for (int k = 0; k < 4; k++) {
            void *bad;

            ck_assert_int_eq(pthread_join(tid[k], &bad), 0);
            ck_assert_msg(bad == NULL, "pass %d: page %zu lost its contents",
                          pass, (size_t)(uintptr_t)bad - 1);
        }
    }
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_gt(st.faults_remote, npages / 16);
    ck_assert_uint_le(st.rss, 8 * MiB);
    ck_assert_uint_eq(st.faults, st.faults_zero + st.faults_remote + st.faults_wp);
    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.rss, 0);
    rmem_disconnect(c);
}
END_TEST

/* The kernel itself faults on rmem pages in read(2) and write(2). */
START_TEST(test_read_write_syscalls_on_nonresident_pages)
{
    const size_t len = 16 * MiB, npages = len / PAGE;
    rmem_client *c = connect_limit(2 * MiB);
    char *src = map_anon(c, len), *dst = map_anon(c, len);
    char path[] = "/tmp/rmem-test-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    unlink(path);
    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(src + i * PAGE), i, 7);
    /* src is now mostly evicted: write(2) must fault it back in. */
    ck_assert_int_eq(write(fd, src, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    /* dst was never touched: read(2) fills it through zero-page faults. */
    ck_assert_int_eq(read(fd, dst, len), (ssize_t)len);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(dst + i * PAGE), i, 7),
                      "page %zu wrong after read(2)", i);
    close(fd);
    rmem_disconnect(c);
}
END_TEST

static int client_process(const char *addr, uint64_t tag)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_options o;
    rmem_client *c;
    char *p;

    rmem_options_init(&o);
    o.server = addr;
    o.local_limit = 4 * MiB;
    c = rmem_connect(&o);
    if (!c)
        return 2;
    p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    if (p == MAP_FAILED)
        return 3;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < npages; i++) {
            if (pass == 0)
                stamp((uint64_t *)(p + i * PAGE), i, tag);
            else if (!stamp_ok((uint64_t *)(p + i * PAGE), i, tag))
                return 4;
        }
    rmem_disconnect(c);
    return 0;
}

START_TEST(test_two_clients_at_once)
{
    pid_t pids[2];

    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(client_process(srv.addr, 1000 + (uint64_t)i));
    }
    for (int i = 0; i < 2; i++) {
        int status;

        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "client %d failed with status %#x", i, status);
    }
}
END_TEST

START_TEST(test_killed_client_does_not_stop_server)
{
    int ready[2];
    char b;
    pid_t pid;

    ck_assert_int_eq(pipe(ready), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rmem_client *c = connect_limit(1 * MiB);
        char *p = map_anon(c, 8 * MiB);

        memset(p, 0x5a, 8 * MiB);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)                /* keep faulting until killed */
            memset(p, 0x11, 8 * MiB);
    }
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_int_eq(client_process(srv.addr, 77), 0);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

/* A page that can no longer be fetched is a bus error for the thread that
 * touches it, not a hang. */
START_TEST(test_server_gone_faults_raise_sigbus)
{
    int ready[2], go[2], status;
    char b;
    pid_t pid;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rmem_client *c = connect_limit(1 * MiB);
        volatile char *p = map_anon(c, 8 * MiB);

        for (size_t i = 0; i < 8 * MiB; i += PAGE)
            p[i] = 1;               /* the first pages are now on the server */
        if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(1);
        (void)p[0];
        _exit(0);                   /* should not get here */
    }
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    rmemd_kill(&srv);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
                  "child status %#x, expected SIGBUS", status);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    start_server();                 /* for the fixture's stop */
}
END_TEST

START_TEST(test_bad_arguments)
{
    rmem_client *c = connect_limit(0);
    rmem_options o;

    errno = 0;
    ck_assert_ptr_eq(rmem_mmap(c, NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                               NULL, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(c, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
                               NULL, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(c, NULL, PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, NULL, PAGE), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_munmap(c, (void *)(uintptr_t)PAGE, PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    rmem_disconnect(c);

    rmem_options_init(&o);
    o.server = "127.0.0.1:1";
    ck_assert_ptr_null(rmem_connect(&o));
    ck_assert_int_eq(errno, ECONNREFUSED);
}
END_TEST

Suite *paging_suite(void)
{
    Suite *s = suite_create("paging");
    TCase *tc = tcase_create("paging");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fill_rewrite_verify_128m_through_16m);
    tcase_add_loop_test(tc, test_read_zero_then_write_survives_eviction, 0, 2);
    tcase_add_test(tc, test_read_then_write_costs_one_fault);
    tcase_add_loop_test(tc, test_stores_race_with_writeback, 0, 2);
    tcase_add_test(tc, test_first_write_is_one_fault);
    tcase_add_test(tc, test_sequential_streams_use_readahead);
    tcase_add_test(tc, test_descending_streams_use_readahead);
    tcase_add_test(tc, test_busy_poll_option);
    tcase_add_loop_test(tc, test_busy_poll_modes_page_intact, 0, 3);
    tcase_add_test(tc, test_fault_thread_follows_the_faulting_thread);
    tcase_add_test(tc, test_read_write_syscalls_on_nonresident_pages);
    tcase_add_test(tc, test_fault_threads_serve_concurrent_faults);
    tcase_add_test(tc, test_two_clients_at_once);
    tcase_add_test(tc, test_killed_client_does_not_stop_server);
    tcase_add_test(tc, test_server_gone_faults_raise_sigbus);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
