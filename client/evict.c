/* Eviction: the client's swap-out path, run by its own thread.
 *
 * The evictor wakes when the resident pages pass the high watermark (one
 * batch below the local limit) and works down to the low watermark (two
 * batches below), so the fault thread rarely waits for room: it only
 * blocks when the limit itself is reached.  It has its own connection, so
 * write-back traffic never queues in front of a demand READ.
 *
 * A batch comes off the inactive tail under the lock and is marked
 * RP_WRITEBACK; the slow part runs unlocked.  Dirty victims are
 * write-protected first (one ioctl per contiguous run), so a store racing
 * with the write-back raises a fault - which waits for the write-back -
 * instead of being lost; their bytes go to the server straight from the
 * mapping (one iovec per run, no copy).  Only after the server acknowledged
 * them are the pages dropped with MADV_DONTNEED, one call per run.  Clean
 * victims whose server copy is current, and clean pages never written, are
 * dropped without any transfer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "internal.h"

static int cmp_page_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)a);
    uintptr_t y = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)b);

    return x < y ? -1 : x > y;
}

/* Length of the run of v[i..n) that is contiguous in one mapping and, when
 * `dirty` >= 0, agrees with it on the dirty bit. */
static size_t run_len(struct rmem__page **v, size_t i, size_t n, int dirty)
{
    size_t j = i + 1;

    while (j < n && v[j]->vma == v[j - 1]->vma && v[j] == v[j - 1] + 1 &&
           (dirty < 0 || !!(v[j]->flags & RP_DIRTY) == dirty))
        j++;
    return j - i;
}

/* Sends the dirty victims of one mapping, v[i..end), in one WRITE.  The
 * dirty bits cannot change meanwhile: a fault on a page under write-back
 * waits. */
static int write_back_vma(rmem_client *c, struct rmem__wb *wb, size_t i,
                          size_t end, uint64_t *sent)
{
    struct rmem__page **v = wb->pages;
    Rmem__PageRange rbuf[FRAME_MAX_IO_PAGES], *rptr[FRAME_MAX_IO_PAGES];
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    size_t nr = 0, pages = 0;
    int err;

    while (i < end) {
        size_t len;

        if (!(v[i]->flags & RP_DIRTY)) {
            i++;
            continue;
        }
        len = run_len(v, i, end, 1);
        rmem__page_range__init(&rbuf[nr]);
        rbuf[nr].first = v[i]->vma->pgoff + rmem__page_index(v[i]);
        rbuf[nr].count = (uint32_t)len;
        rptr[nr] = &rbuf[nr];
        wb->iov[nr] = (struct iovec){rmem__page_addr(v[i]), len * RMEM_PAGE_SIZE};
        err = rmem__uffd_writeprotect(c->uffd, wb->iov[nr].iov_base,
                                      wb->iov[nr].iov_len, true, false);
        if (err)
            return err;
        nr++;
        pages += len;
        i += len;
    }
    if (!nr)
        return 0;
    w.segment = v[end - 1]->vma->segment;
    w.n_ranges = nr;
    w.ranges = rptr;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    err = rmem__conn_rpc(wb->conn, &req, wb->iov, (int)nr, &resp, NULL, 0, NULL);
    if (err)
        return err;
    *sent += pages;
    return 0;
}

/* Writes back wb->pages[0..n), sorted here by address, and with `drop`
 * unmaps them; unlocked.  On return pages[0..*done) are written (and gone);
 * the rest could not be written. */
static int write_back_pages(rmem_client *c, struct rmem__wb *wb, size_t n,
                            bool drop, size_t *done, uint64_t *sent)
{
    struct rmem__page **v = wb->pages;
    int err = 0;
    size_t i = 0;

    qsort(v, n, sizeof(*v), cmp_page_addr);
    while (i < n) {
        size_t end = i + 1;

        while (end < n && v[end]->vma == v[i]->vma)
            end++;
        err = write_back_vma(c, wb, i, end, sent);
        if (err)
            break;
        for (size_t k = i; drop && k < end;) {
            size_t len = run_len(v, k, end, -1);

            /* Cannot fail: the range is ours, mapped and page-aligned. */
            madvise(rmem__page_addr(v[k]), len * RMEM_PAGE_SIZE, MADV_DONTNEED);
            k += len;
        }
        i = end;
    }
    *done = i;
    return err;
}

/* Under the lock: written pages are now clean copies of the server's
 * (dropped, or kept write-protected); pages whose write-back failed go back
 * on the LRU, still dirty and write-protected (the next store unprotects
 * them). */
static void finish_pages(rmem_client *c, struct rmem__wb *wb, size_t n,
                         size_t done, bool drop, uint64_t sent)
{
    for (size_t i = 0; i < n; i++) {
        struct rmem__page *p = wb->pages[i];

        p->flags &= ~(uint32_t)RP_WRITEBACK;
        if (i < done && (p->flags & RP_DIRTY))
            p->flags = (p->flags & ~(uint32_t)RP_DIRTY) | RP_REMOTE;
        if (i < done && drop)
            p->flags &= ~(uint32_t)RP_RESIDENT;
        else
            rmem__lru_add(&c->lru, p);
    }
    if (drop) {
        c->resident -= done;
        c->stat.evictions += done;
    }
    c->writeback -= n;
    c->stat.writebacks += sent;
    c->stat.bytes_out += sent * RMEM_PAGE_SIZE;
    pthread_cond_broadcast(&c->room_cond);
}

/* Takes n pages already off the LRU through write-back; called and returns
 * with c->lock held, drops it while the batch is on the wire. */
static int write_back_isolated(rmem_client *c, struct rmem__wb *wb, size_t n,
                               bool drop)
{
    uint64_t sent = 0;
    size_t done;
    int err;

    for (size_t i = 0; i < n; i++)
        wb->pages[i]->flags |= RP_WRITEBACK;
    c->writeback += n;
    pthread_mutex_unlock(&c->lock);
    err = write_back_pages(c, wb, n, drop, &done, &sent);
    pthread_mutex_lock(&c->lock);
    finish_pages(c, wb, n, done, drop, sent);
    if (err)
        fprintf(stderr, "librmem: write-back failed: %s; keeping dirty pages "
                "resident\n", strerror(-err));
    return err;
}

int rmem__writeback_range(rmem_client *c, struct rmem__wb *wb,
                          struct rmem__vma *vma, uint64_t first, uint64_t count,
                          bool drop)
{
    uint64_t i = first, end = first + count;
    int err = 0;

    while (i < end && !err) {
        size_t n = 0;

        while (i < end && n < wb->conn->max_io_pages) {
            struct rmem__page *p = &vma->pages[i];

            if (p->flags & RP_WRITEBACK) {
                if (n)
                    break;          /* send what we have first */
                pthread_cond_wait(&c->room_cond, &c->lock);
                continue;
            }
            i++;
            if (!(p->flags & RP_RESIDENT) || (p->flags & RP_LOCKED) ||
                (!drop && !(p->flags & RP_DIRTY)))
                continue;
            rmem__lru_del(&c->lru, p);
            wb->pages[n++] = p;
        }
        if (n)
            err = write_back_isolated(c, wb, n, drop);
    }
    return err;
}

static size_t isolate_batch(rmem_client *c)
{
    uint64_t want;

    if (c->resident <= c->locked + c->wmark_low)
        return 0;
    want = c->resident - c->locked - c->wmark_low;
    if (want > c->econn.max_io_pages)
        want = c->econn.max_io_pages;
    return rmem__lru_isolate(&c->lru, c->evict_wb.pages, (size_t)want);
}

static bool above_high(const rmem_client *c)
{
    return c->limit && c->resident > c->wmark_high;
}

/* After a failed write-back (the server out of memory, say) the evictor
 * waits this long before trying again, instead of resending a batch on
 * every fault; meanwhile the process runs over its limit. */
#define EVICT_RETRY_NS 100000000ull

static void wait_retry(rmem_client *c)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)EVICT_RETRY_NS;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (!c->evict_stop &&
           pthread_cond_timedwait(&c->evict_cond, &c->lock, &ts) != ETIMEDOUT)
        ;
}

static void *evict_thread(void *arg)
{
    rmem_client *c = arg;

    pthread_mutex_lock(&c->lock);
    while (!c->evict_stop) {
        bool failed = false;
        size_t n;

        if (!above_high(c) && !c->evict_urgent) {
            pthread_cond_wait(&c->evict_cond, &c->lock);
            continue;
        }
        c->evict_urgent = false;
        while (!c->evict_stop && c->resident > c->wmark_low &&
               (n = isolate_batch(c)) > 0) {
            if (write_back_isolated(c, &c->evict_wb, n, true)) {
                failed = true;
                break;
            }
        }
        /* Nothing more can go: let waiters go over the limit. */
        c->evict_stalled = c->resident > c->wmark_low;
        pthread_cond_broadcast(&c->room_cond);
        if (failed)
            wait_retry(c);
        else if (c->evict_stalled)
            pthread_cond_wait(&c->evict_cond, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

void rmem__evict_kick(rmem_client *c, bool urgent)
{
    if (urgent)
        c->evict_urgent = true;
    if (urgent || above_high(c))
        pthread_cond_signal(&c->evict_cond);
}

uint32_t rmem__evict_wait_room(rmem_client *c, uint32_t count)
{
    struct timespec deadline;

    if (!c->limit)
        return count;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    while (c->resident >= c->limit && !c->evict_stalled) {
        rmem__evict_kick(c, true);
        if (pthread_cond_timedwait(&c->room_cond, &c->lock, &deadline) == ETIMEDOUT) {
            fprintf(stderr, "librmem: no room under the local limit after 2 s; "
                    "going over it\n");
            break;
        }
    }
    if (c->resident + count <= c->limit)
        return count;
    return c->resident < c->limit ? (uint32_t)(c->limit - c->resident) : 1;
}

void rmem__evict_set_limit(rmem_client *c, uint64_t limit)
{
    uint64_t batch;

    c->limit = limit;
    /* An eighth of the limit a batch: big enough to batch the write-back,
     * small enough not to throw out the working set. */
    batch = limit / 8 ? limit / 8 : 1;
    if (batch > FRAME_MAX_IO_PAGES)
        batch = FRAME_MAX_IO_PAGES;
    c->wmark_high = limit > batch ? limit - batch : 0;
    c->wmark_low = limit > 2 * batch ? limit - 2 * batch : 0;
}

int rmem__evict_start(rmem_client *c)
{
    int err = pthread_create(&c->evict_thread, NULL, evict_thread, c);

    if (err)
        return -err;
    c->evict_started = true;
    return 0;
}

void rmem__evict_stop(rmem_client *c)
{
    if (!c->evict_started)
        return;
    pthread_mutex_lock(&c->lock);
    c->evict_stop = true;
    pthread_cond_signal(&c->evict_cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->evict_thread, NULL);
    c->evict_started = false;
}

void rmem__evict_wait_idle(rmem_client *c)
{
    while (c->writeback > 0)
        pthread_cond_wait(&c->room_cond, &c->lock);
}

void rmem__evict_forget_vma(rmem_client *c, struct rmem__vma *vma)
{
    for (uint64_t i = 0; i < vma->npages; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & RP_LOCKED)
            c->locked--;
        else if (p->flags & RP_RESIDENT)
            rmem__lru_del(&c->lru, p);
        if (p->flags & RP_RESIDENT)
            c->resident--;
        p->flags = 0;
    }
}
