/* The fault thread: reads userfaults and resolves each from the page's
 * state (internal.h).
 *
 *   absent, never written  -> zeros; write-protected unless the fault is a
 *                             write, then writable and dirty at once
 *   absent, on the server  -> READ on this thread's connection, the reply
 *                             lands in the copy buffer, one UFFDIO_COPY
 *   resident, write fault  -> the PTE dirty bit: mark dirty, unprotect
 *                             (synchronous write protection only; in
 *                             asynchronous mode the kernel resolves these)
 *   resident, other        -> already resolved by an earlier message: wake
 *
 * A page is made resident only after room was made for it (eviction runs
 * in its own thread, never in one that must read events for it to finish).
 * The thread never touches managed memory except pages it knows resident,
 * and all its buffers are allocated and locked before it starts.
 *
 * rmem_options.fault_threads threads read the one userfaultfd, each with
 * its own connection and page buffer.  A remote fault reserves its window
 * under the client lock (pages RP_FETCHING, counted resident), then drops
 * the lock for the READ round trip and the UFFDIO_COPY, so the evictor,
 * range calls and the other fault threads are not held up by the network;
 * a fault on a page being fetched waits for it. */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define FAULT_BATCH 64

/* fault_in's answer when the page's state changed while it waited. */
#define FAULT_RETRY 1

/* Readahead: two faults in a row on neighbouring pages start a stream,
 * ascending or descending (the two ends of a quicksort partition);
 * MADV_SEQUENTIAL makes every fault start one at full size, MADV_RANDOM
 * none.  Each fault that lands just beyond a stream's window, in its
 * direction, doubles the window (up to prefetch_max); a fault that
 * continues no stream takes over the oldest slot.  The pages of a window
 * count as hits when their stream continues past them. */
#define RA_INITIAL 4

enum ra_match { RA_NEW, RA_NEIGHBOUR, RA_CONTINUES };

static struct rmem__stream *stream_of(struct rmem__vma *vma, uint64_t idx,
                                      enum ra_match *m)
{
    struct rmem__stream *s;

    for (unsigned i = 0; i < RMEM__RA_STREAMS; i++) {
        s = &vma->ra[i];
        if (s->window > 1 && s->next && idx + 1 == s->next) {
            *m = RA_CONTINUES;
            return s;
        }
        if (s->last && (idx == s->last || idx + 2 == s->last)) {
            s->dir = idx == s->last ? 1 : -1;
            *m = RA_NEIGHBOUR;
            return s;
        }
    }
    *m = RA_NEW;
    s = &vma->ra[vma->ra_clock++ % RMEM__RA_STREAMS];
    *s = (struct rmem__stream){.dir = 1};
    return s;
}

static uint32_t readahead_window(rmem_client *c, struct rmem__vma *vma,
                                 struct rmem__stream *s, uint64_t idx,
                                 enum ra_match m)
{
    uint32_t w = 1;

    if (c->prefetch_max > 1 && vma->advice != MADV_RANDOM) {
        if (m == RA_CONTINUES) {
            c->stat.prefetch_hits += s->window - 1;
            w = s->window * 2;
        } else if (vma->advice == MADV_SEQUENTIAL) {
            w = c->prefetch_max;        /* told: no need to detect it */
        } else if (m == RA_NEIGHBOUR) {
            w = RA_INITIAL;
        }
        if (w > c->prefetch_max)
            w = c->prefetch_max;
    }
    s->last = idx + 1;
    return w;
}

/* The pages one fault brings in: [first, first+count), the faulting page
 * at first + at. */
struct window {
    uint64_t first;
    uint32_t count, at;
};

static bool absent_like(const struct rmem__vma *vma, uint64_t i, uint32_t remote)
{
    return (vma->pages[i].flags & (RP_RESIDENT | RP_REMOTE | RP_FETCHING)) == remote;
}

/* Pages from idx in direction dir that can be brought in together:
 * absent, all on the server or all never written, at most max. */
static struct window window_at(const struct rmem__vma *vma, uint64_t idx,
                               int dir, uint32_t max)
{
    uint32_t remote = vma->pages[idx].flags & RP_REMOTE, n = 1;

    if (dir > 0) {
        while (n < max && idx + n < vma->npages && absent_like(vma, idx + n, remote))
            n++;
        return (struct window){idx, n, 0};
    }
    while (n < max && idx >= n && absent_like(vma, idx - n, remote))
        n++;
    return (struct window){idx - (n - 1), n, n - 1};
}

/* One READ of [first, first+count) into buf; *got bytes arrived. */
static int read_pages(struct rmem__conn *cn, void *buf, uint64_t segment,
                      uint64_t first, uint32_t count, size_t *got)
{
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    rd.segment = segment;
    rd.first = first;
    rd.count = count;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    err = rmem__conn_rpc(cn, &req, NULL, 0, &resp, buf, FRAME_MAX_PAYLOAD, got);
    if (err)
        return err;
    return *got == (size_t)count * RMEM_PAGE_SIZE ? 0 : -EPROTO;
}

static int fetch_remote(rmem_client *c, struct rmem__conn *cn, void *buf,
                        struct rmem__vma *vma, uint64_t first, uint32_t count)
{
    size_t got = 0;
    int err = read_pages(cn, buf, vma->segment, vma->pgoff + first, count, &got);

    c->stat.bytes_in += got;
    return err;
}

/* Maps window w from src.  A write fault gets its own page writable and
 * dirty at once, and the program it wakes goes on before the rest of the
 * window is in; every other page is mapped write-protected so that its
 * first store is seen. */
static int copy_pages(rmem_client *c, struct rmem__vma *vma, struct window w,
                      const char *src, bool write, bool dirty_all)
{
    char *dst = vma->start + w.first * RMEM_PAGE_SIZE;
    size_t at = (size_t)w.at * RMEM_PAGE_SIZE, end = (size_t)w.count * RMEM_PAGE_SIZE;
    int err;

    if (dirty_all || !write)
        return rmem__uffd_copy(c->uffd, dst, src, end, !dirty_all);
    err = rmem__uffd_copy(c->uffd, dst + at, src + at, RMEM_PAGE_SIZE, false);
    if (!err && at)
        err = rmem__uffd_copy(c->uffd, dst, src, at, true);
    if (!err && at + RMEM_PAGE_SIZE < end)
        err = rmem__uffd_copy(c->uffd, dst + at + RMEM_PAGE_SIZE,
                              src + at + RMEM_PAGE_SIZE, end - at - RMEM_PAGE_SIZE,
                              true);
    return err;
}

/* The mapped pages join the LRU (their reservation already counts in
 * resident when fetched without the lock). */
static void pages_resident(rmem_client *c, struct rmem__vma *vma, struct window w,
                           bool write, bool dirty_all)
{
    for (uint32_t k = 0; k < w.count; k++) {
        struct rmem__page *p = &vma->pages[w.first + k];

        p->flags = (p->flags & ~(uint32_t)RP_FETCHING) | RP_RESIDENT;
        if (dirty_all || (k == w.at && write))
            p->flags |= RP_DIRTY;
        rmem__lru_add(&c->lru, p);
    }
}

static int map_pages(rmem_client *c, struct rmem__vma *vma, struct window w,
                     const char *src, bool write, bool dirty_all)
{
    int err = copy_pages(c, vma, w, src, write, dirty_all);

    if (err)
        return err;
    pages_resident(c, vma, w, write, dirty_all);
    c->resident += w.count;
    return 0;
}

/* Reads and maps a window of server pages with the lock dropped: the pages
 * are RP_FETCHING meanwhile, so nothing else touches them, and the mapping
 * stays (munmap waits for c->fetching to drain).  Called and returns with
 * c->lock held. */
static int fetch_unlocked(rmem_client *c, struct rmem__fault_worker *fw,
                          struct rmem__vma *vma, struct window w, bool write)
{
    size_t got = 0;
    int err;

    for (uint32_t k = 0; k < w.count; k++)
        vma->pages[w.first + k].flags |= RP_FETCHING;
    c->resident += w.count;
    c->fetching += w.count;
    pthread_mutex_unlock(&c->lock);
    err = read_pages(&fw->conn, fw->iobuf, vma->segment, vma->pgoff + w.first,
                     w.count, &got);
    if (!err)
        err = copy_pages(c, vma, w, fw->iobuf, write, false);
    pthread_mutex_lock(&c->lock);
    c->fetching -= w.count;
    c->stat.bytes_in += got;
    if (err) {
        for (uint32_t k = 0; k < w.count; k++)
            vma->pages[w.first + k].flags &= ~(uint32_t)RP_FETCHING;
        c->resident -= w.count;
    } else {
        pages_resident(c, vma, w, write, false);
    }
    pthread_cond_broadcast(&c->room_cond);
    return err;
}

/* Brings an absent page in, with its readahead window.  A stream of
 * first writes to never-written pages gets its window of zero pages
 * mapped writable (they are about to be written); reads of never-written
 * pages get only their own page. */
static int fault_in(rmem_client *c, struct rmem__fault_worker *fw,
                    struct rmem__page *p, bool write)
{
    struct rmem__vma *vma = p->vma;
    uint64_t idx = rmem__page_index(p), t0 = rmem__now_ns();
    bool remote = p->flags & RP_REMOTE;
    enum ra_match m;
    struct rmem__stream *s = stream_of(vma, idx, &m);
    uint32_t count = readahead_window(c, vma, s, idx, m);
    struct window w;
    int err;

    if (!remote && !write)
        count = 1;
    count = rmem__evict_wait_room(c, window_at(vma, idx, s->dir, count).count);
    /* Waiting for room dropped the lock: another fault thread or a range
     * call may have brought the page or its neighbours in meanwhile. */
    if (p->flags & (RP_RESIDENT | RP_FETCHING | RP_WRITEBACK) ||
        (p->flags & RP_REMOTE) != (remote ? RP_REMOTE : 0))
        return FAULT_RETRY;
    w = window_at(vma, idx, s->dir, count);
    s->window = w.count;
    s->next = s->dir > 0 ? w.first + w.count + 1 : w.first;
    if (remote)
        err = fetch_unlocked(c, fw, vma, w, write);
    else
        err = map_pages(c, vma, w, c->zeros, write, w.count > 1);
    if (err)
        return err;
    if (remote) {
        c->stat.faults_remote++;
        rmem__hist_add(&c->remote_ns, rmem__now_ns() - t0);
    } else {
        c->stat.faults_zero++;
    }
    c->stat.prefetched += w.count - 1;
    c->stat.faults++;
    rmem__evict_kick(c, false);
    return 0;
}

int rmem__prefetch_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                         uint64_t count)
{
    uint64_t i = first, end = first + count;

    while (i < end) {
        struct rmem__page *p = &vma->pages[i];
        uint32_t n;
        int err;

        if ((p->flags & (RP_RESIDENT | RP_REMOTE | RP_WRITEBACK | RP_FETCHING)) !=
            RP_REMOTE) {
            i++;
            continue;
        }
        n = window_at(vma, i, 1, (uint32_t)(end - i < c->ctl.max_io_pages ?
                                            end - i : c->ctl.max_io_pages)).count;
        n = rmem__evict_wait_room(c, n);
        err = fetch_remote(c, &c->ctl, c->ctlbuf, vma, i, n);
        if (!err)
            err = map_pages(c, vma, (struct window){i, n, 0}, c->ctlbuf, false,
                            false);
        if (err)
            return err;
        c->stat.prefetched += n;
        rmem__evict_kick(c, false);
        i += n;
    }
    return 0;
}

static int fault_wp(rmem_client *c, struct rmem__page *p)
{
    int err = rmem__uffd_writeprotect(c->uffd, rmem__page_addr(p), RMEM_PAGE_SIZE,
                                      false, true);
    if (err)
        return err;
    if (!(p->flags & RP_DIRTY)) {
        p->flags |= RP_DIRTY;
        c->stat.faults_wp++;
        c->stat.faults++;
    }
    rmem__lru_mark_referenced(&c->lru, p);
    return 0;
}

/* A page that cannot be produced - the server is gone, or killed the
 * segment (EOWNERDEAD) - is a bus error, as a failed swap-in is in Linux:
 * the faulting thread gets SIGBUS instead of waiting forever. */
static void fault_fail(char *addr, pid_t tid, int err)
{
    fprintf(stderr, "librmem: cannot resolve fault at %p: %s; sending SIGBUS "
            "to thread %d\n", (void *)addr, strerror(-err), (int)tid);
    if (tid <= 0 || syscall(SYS_tgkill, getpid(), tid, SIGBUS) < 0)
        fprintf(stderr, "librmem: cannot signal thread %d: %s\n", (int)tid,
                strerror(errno));
}

/* The page addr is in, or NULL if no mapping holds it any more.  Waits
 * (dropping the lock) while the page is under write-back or being fetched
 * by another fault thread, so the state it returns is settled. */
static struct rmem__page *settled_page(rmem_client *c, char *addr)
{
    for (;;) {
        struct rmem__vma *vma = rmem__vma_find(c->vmas, addr);
        struct rmem__page *p;

        if (!vma)
            return NULL;
        p = &vma->pages[(uint64_t)(addr - vma->start) / RMEM_PAGE_SIZE];
        if (!(p->flags & (RP_WRITEBACK | RP_FETCHING)))
            return p;
        pthread_cond_wait(&c->room_cond, &c->lock);
    }
}

static void handle_fault(struct rmem__fault_worker *w, const struct uffd_msg *m)
{
    rmem_client *c = w->c;
    char *addr = (char *)(uintptr_t)(m->arg.pagefault.address &
                                     ~(uint64_t)(RMEM_PAGE_SIZE - 1));
    bool write = m->arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE |
                                           UFFD_PAGEFAULT_FLAG_WP);
    struct rmem__page *p;
    bool was_resident;
    int err;

    pthread_mutex_lock(&c->lock);
    do {
        p = settled_page(c, addr);
        if (!p) {
            /* Unmapped while the message was queued: nothing waits on it. */
            pthread_mutex_unlock(&c->lock);
            return;
        }
        was_resident = p->flags & RP_RESIDENT;
        err = was_resident ? 0 : fault_in(c, w, p, write);
    } while (err == FAULT_RETRY);
    /* Resident already: a write-protect fault, or resolved by an earlier
     * message (another thread's fault, a readahead window). */
    if (!err && was_resident)
        err = write && !c->wp_async ? fault_wp(c, p) :
              rmem__uffd_wake(c->uffd, addr, RMEM_PAGE_SIZE);
    pthread_mutex_unlock(&c->lock);
    if (err)
        fault_fail(addr, (pid_t)m->arg.pagefault.feat.ptid, err);
}

/* Waits for userfaults: spins for up to busy_poll after the last batch
 * (busypoll.c), then sleeps in poll(2).  Returns how many were read into
 * msgs (0: call again), -ECANCELED when the thread is to stop, or -errno. */
static int wait_faults(rmem_client *c, struct uffd_msg *msgs, struct pollfd *pfd)
{
    int n;

    if (c->busy_poll_ns) {
        uint64_t end = rmem__now_ns() + c->busy_poll_ns;

        do {
            n = rmem__uffd_read(c->uffd, msgs, FAULT_BATCH);
            if (n)
                return n;
            if (atomic_load(&c->fault_stop))
                return -ECANCELED;
            sched_yield();
        } while (rmem__now_ns() < end);
    }
    if (poll(pfd, 2, -1) < 0)
        return errno == EINTR ? 0 : -errno;
    if (pfd[1].revents)
        return -ECANCELED;
    return rmem__uffd_read(c->uffd, msgs, FAULT_BATCH);
}

static void *fault_thread(void *arg)
{
    struct rmem__fault_worker *w = arg;
    rmem_client *c = w->c;
    struct uffd_msg msgs[FAULT_BATCH];
    struct pollfd pfd[2] = {{.fd = c->uffd, .events = POLLIN},
                            {.fd = c->stop_efd, .events = POLLIN}};
    int n;

    rmem__steer_init(&w->steer, c->busy_poll_ns != 0);
    while ((n = wait_faults(c, msgs, pfd)) >= 0) {
        for (int i = 0; i < n; i++) {
            if (msgs[i].event != UFFD_EVENT_PAGEFAULT)
                continue;
            rmem__steer_fault(&w->steer, (pid_t)msgs[i].arg.pagefault.feat.ptid);
            handle_fault(w, &msgs[i]);
        }
    }
    if (n != -ECANCELED)
        fprintf(stderr, "librmem: fault thread stops: %s\n", strerror(-n));
    return NULL;
}

int rmem__fault_start(rmem_client *c)
{
    for (unsigned i = 0; i < c->nfault; i++) {
        struct rmem__fault_worker *w = &c->fault[i];
        int err = pthread_create(&w->thread, NULL, fault_thread, w);

        if (err) {
            rmem__fault_stop(c);
            return -err;
        }
        /* Named here, so it has its name when rmem_connect returns. */
        pthread_setname_np(w->thread, "rmem-fault");
        w->started = true;
    }
    return 0;
}

/* The stop eventfd stays readable once written: every thread sees it. */
void rmem__fault_stop(rmem_client *c)
{
    uint64_t one = 1;
    bool any = false;

    for (unsigned i = 0; i < c->nfault; i++)
        any |= c->fault[i].started;
    if (!any)
        return;
    atomic_store(&c->fault_stop, true);
    if (write(c->stop_efd, &one, sizeof(one)) != sizeof(one))
        fprintf(stderr, "librmem: cannot stop fault threads: %s\n", strerror(errno));
    for (unsigned i = 0; i < c->nfault; i++) {
        if (c->fault[i].started)
            pthread_join(c->fault[i].thread, NULL);
        c->fault[i].started = false;
    }
}
