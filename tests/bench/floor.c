/* The floor of a remote fault, measured on the machine that runs the
 * bench: one userfaultfd missing fault resolved by a handler thread with
 * one UFFDIO_COPY of a local page, and one READ of one 4 KiB page from
 * rmemd over its loopback TCP connection.  A pager that fetches each page
 * over TCP cannot serve a fault faster than the two added together; the
 * ratio of rmem's remote-fault p50 to that sum is how much the fault path
 * itself adds.  Both wait as librmem's fault thread does, with the
 * busy polling rmem_options.busy_poll asks for (busypoll.c), so the floor
 * is that of the same mechanism.  Both are timed sample by sample and
 * reported as medians (p50) and p99 of many, since single system calls
 * here vary a lot. */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static void percentiles(uint64_t *ns, uint64_t n, uint64_t *p50, uint64_t *p99)
{
    qsort(ns, n, sizeof(*ns), cmp_u64);
    *p50 = ns[n / 2];
    *p99 = ns[n * 99 / 100];
}

/* ---- one userfaultfd copy fault --------------------------------------- */

struct uffd_floor {
    int uffd, stop_efd;
    void *src;
    int err;                       /* first handler failure, -errno */
    uint64_t spin_ns;              /* busy poll, as librmem's */
    uint32_t pages;                /* a fault maps this many pages */
    _Atomic bool stop;
};

/* The handler waits as librmem's fault thread does: spinning for up to
 * spin_ns after the last fault (busypoll.c), then in poll(2). */
static int handler_wait(struct uffd_floor *u, struct uffd_msg *msg)
{
    struct pollfd pfd[2] = {{u->uffd, POLLIN, 0}, {u->stop_efd, POLLIN, 0}};
    uint64_t end = now_ns() + u->spin_ns;
    int n;

    while (u->spin_ns && now_ns() < end) {
        if ((n = rmem__uffd_read(u->uffd, msg, 1)) != 0)
            return n;
        if (atomic_load(&u->stop))
            return -ECANCELED;
        sched_yield();
    }
    if (poll(pfd, 2, -1) < 0)
        return errno == EINTR ? 0 : -errno;
    if (pfd[1].revents)
        return -ECANCELED;
    return rmem__uffd_read(u->uffd, msg, 1);
}

static void *uffd_handler(void *arg)
{
    struct uffd_floor *u = arg;
    struct uffd_msg msg;
    int n;

    while ((n = handler_wait(u, &msg)) >= 0) {
        if (n != 1 || msg.event != UFFD_EVENT_PAGEFAULT)
            continue;
        void *dst = (void *)(uintptr_t)(msg.arg.pagefault.address &
                                        ~(uint64_t)(BENCH_PAGE - 1));
        int err = rmem__uffd_copy(u->uffd, dst, u->src,
                                  (size_t)u->pages * BENCH_PAGE, false);

        if (err && err != -EEXIST && !u->err)
            u->err = err;
    }
    if (n != -ECANCELED && !u->err)
        u->err = n;
    return NULL;
}

static int floor_uffd(uint64_t samples, uint32_t pages, uint64_t *ns,
                      uint64_t spin_ns)
{
    struct uffd_floor u = {.uffd = -1, .stop_efd = -1, .spin_ns = spin_ns,
                           .pages = pages};
    size_t len = samples * pages * BENCH_PAGE;
    pthread_t thr;
    char *map;
    int err;

    map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED)
        return -errno;
    u.src = aligned_alloc(BENCH_PAGE, (size_t)pages * BENCH_PAGE);
    if (!u.src) {
        err = -ENOMEM;
        goto out_unmap;
    }
    memset(u.src, 0x5a, (size_t)pages * BENCH_PAGE);
    u.uffd = rmem__uffd_open(NULL);
    if (u.uffd < 0) {
        err = u.uffd;
        goto out_free;
    }
    u.stop_efd = eventfd(0, EFD_CLOEXEC);
    if (u.stop_efd < 0) {
        err = -errno;
        goto out_close_uffd;
    }
    err = rmem__uffd_register(u.uffd, map, len, true);
    if (err)
        goto out_close_efd;
    err = -pthread_create(&thr, NULL, uffd_handler, &u);
    if (err)
        goto out_unregister;
    for (uint64_t i = 0; i < samples; i++) {
        uint64_t t0 = now_ns();

        /* A write, so the page is mapped writable in one fault. */
        *(volatile char *)(map + i * pages * BENCH_PAGE) = 1;
        ns[i] = now_ns() - t0;
    }
    atomic_store(&u.stop, true);
    eventfd_write(u.stop_efd, 1);
    pthread_join(thr, NULL);
    err = u.err;
out_unregister:
    rmem__uffd_unregister(u.uffd, map, len);
out_close_efd:
    close(u.stop_efd);
out_close_uffd:
    close(u.uffd);
out_free:
    free(u.src);
out_unmap:
    munmap(map, len);
    return err;
}

/* ---- one READ round trip to rmemd ------------------------------------ */

static int rtt_segment(struct rmem__conn *cn, uint32_t pages, uint64_t *seg)
{
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    sc.name = "";
    sc.size = (uint64_t)pages * BENCH_PAGE;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    err = rmem__conn_rpc(cn, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (err)
        return err;
    if (resp->body_case != RMEM__RESPONSE__BODY_SEGMENT_CREATE)
        return -EPROTO;
    *seg = resp->segment_create->segment;
    return 0;
}

/* Writes the pages first, so every READ carries real pages back. */
static int rtt_write(struct rmem__conn *cn, uint64_t seg, void *buf, uint32_t pages)
{
    Rmem__PageRange range = RMEM__PAGE_RANGE__INIT, *ranges[1] = {&range};
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    struct iovec iov = {buf, (size_t)pages * BENCH_PAGE};

    range.first = 0;
    range.count = pages;
    w.segment = seg;
    w.n_ranges = 1;
    w.ranges = ranges;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    return rmem__conn_rpc(cn, &req, &iov, 1, &resp, NULL, 0, NULL);
}

static int rtt_read(struct rmem__conn *cn, uint64_t seg, void *buf, uint32_t pages)
{
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    size_t got, len = (size_t)pages * BENCH_PAGE;
    int err;

    rd.segment = seg;
    rd.first = 0;
    rd.count = pages;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    err = rmem__conn_rpc(cn, &req, NULL, 0, &resp, buf, len, &got);
    return err ? err : got == len ? 0 : -EPROTO;
}

static int rtt_free(struct rmem__conn *cn, uint64_t seg)
{
    Rmem__SegmentFree sf = RMEM__SEGMENT_FREE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    sf.segment = seg;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_FREE;
    req.segment_free = &sf;
    return rmem__conn_rpc(cn, &req, NULL, 0, &resp, NULL, 0, NULL);
}

static int floor_rtt(const rmem_options *ro, uint64_t samples, uint32_t pages,
                     uint64_t *ns)
{
    struct rmem__conn_target t = {ro->server, ro->tenant, ro->token,
                                  "rmem-bench --floor", 0, NULL};
    size_t len = (size_t)pages * BENCH_PAGE;
    struct rmem__conn cn;
    uint64_t seg;
    char *buf;
    int err;

    buf = aligned_alloc(BENCH_PAGE, len);
    if (!buf)
        return -ENOMEM;
    memset(buf, 0xa5, len);
    err = rmem__tls_ctx_new(ro->tls_ca, ro->tls_cert, ro->tls_key, &t.tls);
    if (!err)
        err = rmem__conn_open(&cn, &t);
    if (err)
        goto out_free;
    cn.busy_poll_ns = rmem__busy_poll_ns(ro->busy_poll);
    err = rtt_segment(&cn, pages, &seg);
    if (err)
        goto out_close;
    err = rtt_write(&cn, seg, buf, pages);
    for (uint64_t i = 0; i < samples && !err; i++) {
        uint64_t t0 = now_ns();

        err = rtt_read(&cn, seg, buf, pages);
        ns[i] = now_ns() - t0;
    }
    if (!err && ((unsigned char *)buf)[len - 1] != 0xa5)
        err = -EIO;
    if (rtt_free(&cn, seg) && !err)
        err = -EIO;
out_close:
    rmem__conn_close(&cn);
out_free:
    rmem__tls_ctx_free(t.tls);
    free(buf);
    return err;
}

/* One fault of `pages` pages: p50 and p99 of its userfaultfd part and of
 * its READ. */
static int floor_of(const rmem_options *ro, uint64_t samples, uint32_t pages,
                    uint64_t *ns, struct bench_floor_cost *fc)
{
    int err = floor_uffd(samples, pages, ns, rmem__busy_poll_ns(ro->busy_poll));

    if (err) {
        fprintf(stderr, "rmem-bench: floor: userfaultfd copy fault of %u pages: "
                "%s\n", pages, strerror(-err));
        return err;
    }
    percentiles(ns, samples, &fc->uffd_ns_p50, &fc->uffd_ns_p99);
    err = floor_rtt(ro, samples, pages, ns);
    if (err) {
        fprintf(stderr, "rmem-bench: floor: READ of %u pages from %s: %s\n",
                pages, ro->server, strerror(-err));
        return err;
    }
    percentiles(ns, samples, &fc->rtt_ns_p50, &fc->rtt_ns_p99);
    return 0;
}

int bench_floor_measure(const rmem_options *ro, uint64_t samples,
                        struct bench_floor *f)
{
    uint64_t *ns = calloc(samples, sizeof(*ns));
    uint32_t window = ro->prefetch_max > 1 ? ro->prefetch_max : 1;
    int err;

    if (!ns || samples < 8) {
        free(ns);
        return -EINVAL;
    }
    f->samples = samples;
    f->window = window;
    err = floor_of(ro, samples, 1, ns, &f->page);
    /* A window costs more per sample and maps window pages each: fewer. */
    if (!err)
        err = floor_of(ro, samples / 8, window, ns, &f->win);
    free(ns);
    return err;
}
