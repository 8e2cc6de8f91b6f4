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
#include <signal.h>
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

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Readahead: two faults in a row on neighbouring pages start a stream
 * (MADV_SEQUENTIAL: every fault starts one at full size; MADV_RANDOM: none);
 * each fault that lands just past a stream's window doubles the window (up
 * to prefetch_max); a fault that continues no stream takes over the oldest
 * slot.  The pages of a window count as hits when their stream continues
 * past them. */
#define RA_INITIAL 4

static struct rmem__stream *stream_of(struct rmem__vma *vma, uint64_t idx,
                                      bool *continues)
{
    struct rmem__stream *s;

    for (unsigned i = 0; i < RMEM__RA_STREAMS; i++) {
        s = &vma->ra[i];
        if (s->window > 1 && idx == s->next) {
            *continues = true;
            return s;
        }
        if (idx == s->last && s->last) {
            *continues = false;
            return s;
        }
    }
    *continues = false;
    s = &vma->ra[vma->ra_clock++ % RMEM__RA_STREAMS];
    s->window = 0;
    s->last = s->next = 0;
    return s;
}

static uint32_t readahead_window(rmem_client *c, struct rmem__vma *vma,
                                 struct rmem__stream *s, uint64_t idx,
                                 bool continues)
{
    uint32_t w = 1;

    if (c->prefetch_max > 1 && vma->advice != MADV_RANDOM) {
        if (continues) {
            c->stat.prefetch_hits += s->window - 1;
            w = s->window * 2;
        } else if (vma->advice == MADV_SEQUENTIAL) {
            w = c->prefetch_max;        /* told: no need to detect it */
        } else if (s->last && idx == s->last) {
            w = RA_INITIAL;
        }
        if (w > c->prefetch_max)
            w = c->prefetch_max;
    }
    s->last = idx + 1;
    return w;
}

/* Pages from idx that can be brought in together: absent, all on the
 * server or all never written, at most max. */
static uint32_t run_of_absent(const struct rmem__vma *vma, uint64_t idx,
                              uint32_t max)
{
    uint32_t remote = vma->pages[idx].flags & RP_REMOTE, n = 1;

    while (n < max && idx + n < vma->npages &&
           (vma->pages[idx + n].flags & (RP_RESIDENT | RP_REMOTE | RP_FETCHING)) ==
           remote)
        n++;
    return n;
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

/* Maps pages [idx, idx+count) from src.  A write fault gets its own page
 * writable and dirty at once; every other page is mapped write-protected
 * so that its first store is seen. */
static int copy_pages(rmem_client *c, struct rmem__vma *vma, uint64_t idx,
                      uint32_t count, const char *src, bool write, bool dirty_all)
{
    char *dst = vma->start + idx * RMEM_PAGE_SIZE;
    int err;

    if (dirty_all)
        return rmem__uffd_copy(c->uffd, dst, src, count * RMEM_PAGE_SIZE, false);
    err = rmem__uffd_copy(c->uffd, dst, src, RMEM_PAGE_SIZE, !write);
    if (!err && count > 1)
        err = rmem__uffd_copy(c->uffd, dst + RMEM_PAGE_SIZE, src + RMEM_PAGE_SIZE,
                              (count - 1) * RMEM_PAGE_SIZE, true);
    return err;
}

/* The mapped pages join the LRU (their reservation already counts in
 * resident when fetched without the lock). */
static void pages_resident(rmem_client *c, struct rmem__vma *vma, uint64_t idx,
                           uint32_t count, bool write, bool dirty_all)
{
    for (uint32_t k = 0; k < count; k++) {
        struct rmem__page *p = &vma->pages[idx + k];

        p->flags = (p->flags & ~(uint32_t)RP_FETCHING) | RP_RESIDENT;
        if (dirty_all || (k == 0 && write))
            p->flags |= RP_DIRTY;
        rmem__lru_add(&c->lru, p);
    }
}

static int map_pages(rmem_client *c, struct rmem__vma *vma, uint64_t idx,
                     uint32_t count, const char *src, bool write, bool dirty_all)
{
    int err = copy_pages(c, vma, idx, count, src, write, dirty_all);

    if (err)
        return err;
    pages_resident(c, vma, idx, count, write, dirty_all);
    c->resident += count;
    return 0;
}

/* Reads and maps a window of server pages with the lock dropped: the pages
 * are RP_FETCHING meanwhile, so nothing else touches them, and the mapping
 * stays (munmap waits for c->fetching to drain).  Called and returns with
 * c->lock held. */
static int fetch_unlocked(rmem_client *c, struct rmem__fault_worker *w,
                          struct rmem__vma *vma, uint64_t idx, uint32_t count,
                          bool write)
{
    size_t got = 0;
    int err;

    for (uint32_t k = 0; k < count; k++)
        vma->pages[idx + k].flags |= RP_FETCHING;
    c->resident += count;
    c->fetching += count;
    pthread_mutex_unlock(&c->lock);
    err = read_pages(&w->conn, w->iobuf, vma->segment, vma->pgoff + idx, count,
                     &got);
    if (!err)
        err = copy_pages(c, vma, idx, count, w->iobuf, write, false);
    pthread_mutex_lock(&c->lock);
    c->fetching -= count;
    c->stat.bytes_in += got;
    if (err) {
        for (uint32_t k = 0; k < count; k++)
            vma->pages[idx + k].flags &= ~(uint32_t)RP_FETCHING;
        c->resident -= count;
    } else {
        pages_resident(c, vma, idx, count, write, false);
    }
    pthread_cond_broadcast(&c->room_cond);
    return err;
}

/* Brings an absent page in, with its readahead window.  A stream of
 * first writes to never-written pages gets its window of zero pages
 * mapped writable (they are about to be written); reads of never-written
 * pages get only their own page. */
static int fault_in(rmem_client *c, struct rmem__fault_worker *w,
                    struct rmem__page *p, bool write)
{
    struct rmem__vma *vma = p->vma;
    uint64_t idx = rmem__page_index(p), t0 = now_ns();
    bool remote = p->flags & RP_REMOTE, continues;
    struct rmem__stream *s = stream_of(vma, idx, &continues);
    uint32_t count = readahead_window(c, vma, s, idx, continues);
    int err;

    if (!remote && !write)
        count = 1;
    count = rmem__evict_wait_room(c, run_of_absent(vma, idx, count));
    /* Waiting for room dropped the lock: another fault thread or a range
     * call may have brought the page or its neighbours in meanwhile. */
    if (p->flags & (RP_RESIDENT | RP_FETCHING | RP_WRITEBACK) ||
        (p->flags & RP_REMOTE) != (remote ? RP_REMOTE : 0))
        return FAULT_RETRY;
    count = run_of_absent(vma, idx, count);
    s->window = count;
    s->next = idx + count;
    if (remote)
        err = fetch_unlocked(c, w, vma, idx, count, write);
    else
        err = map_pages(c, vma, idx, count, c->zeros, write, count > 1);
    if (err)
        return err;
    if (remote) {
        c->stat.faults_remote++;
        rmem__hist_add(&c->remote_ns, now_ns() - t0);
    } else {
        c->stat.faults_zero++;
    }
    c->stat.prefetched += count - 1;
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
        n = run_of_absent(vma, i, (uint32_t)(end - i < c->ctl.max_io_pages ?
                                             end - i : c->ctl.max_io_pages));
        n = rmem__evict_wait_room(c, n);
        err = fetch_remote(c, &c->ctl, c->ctlbuf, vma, i, n);
        if (!err)
            err = map_pages(c, vma, i, n, c->ctlbuf, false, false);
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

static void *fault_thread(void *arg)
{
    struct rmem__fault_worker *w = arg;
    rmem_client *c = w->c;
    struct uffd_msg msgs[FAULT_BATCH];
    struct pollfd pfd[2] = {{.fd = c->uffd, .events = POLLIN},
                            {.fd = c->stop_efd, .events = POLLIN}};

    for (;;) {
        int n;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "librmem: fault thread: poll: %s\n", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break;
        n = rmem__uffd_read(c->uffd, msgs, FAULT_BATCH);
        if (n < 0) {
            fprintf(stderr, "librmem: fault thread: read: %s\n", strerror(-n));
            break;
        }
        for (int i = 0; i < n; i++)
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                handle_fault(w, &msgs[i]);
    }
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
    if (write(c->stop_efd, &one, sizeof(one)) != sizeof(one))
        fprintf(stderr, "librmem: cannot stop fault threads: %s\n", strerror(errno));
    for (unsigned i = 0; i < c->nfault; i++) {
        if (c->fault[i].started)
            pthread_join(c->fault[i].thread, NULL);
        c->fault[i].started = false;
    }
}
