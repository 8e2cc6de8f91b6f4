/* Eviction: the client's swap-out path, run by its own thread.
 *
 * The evictor wakes when the resident pages pass the high watermark (one
 * batch below the local limit) and works down to the low watermark (two
 * batches below), so the fault thread rarely waits for room: it only
 * blocks when the limit itself is reached.  It has its own connection, so
 * write-back traffic never queues in front of a demand READ.
 *
 * A batch comes off the inactive tail under the lock and is marked
 * RP_WRITEBACK; the slow part runs unlocked.  Two ways to keep a store
 * that races with the write-back from being lost, one per write-protect
 * mode (uffd.c):
 *
 * - synchronous: dirty victims are write-protected first (one ioctl per
 *   contiguous run), so a racing store raises a fault, which waits for the
 *   write-back; their bytes go to the server straight from the mapping
 *   and only then are the pages dropped.
 * - asynchronous: a store cannot be held off, so the pages are taken out
 *   of the mapping instead.  Clean victims are copied aside first; one
 *   PAGEMAP_SCAN over the batch's span then says which pages were written
 *   (and protects them again); UFFDIO_MOVE moves each run into a staging
 *   area, after which any access faults and waits; a clean victim whose
 *   moved bytes differ from its copy was written between the scan and the
 *   move.  Dirty pages go to the server from the staging area, which is
 *   emptied with one MADV_DONTNEED per batch.  No write-protect fault and
 *   no write-protect ioctl.
 *
 * Clean victims whose server copy is current, and clean pages never
 * written, are dropped without any transfer; scattered runs are dropped
 * with one process_madvise where the kernel allows it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static int cmp_page_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)a);
    uintptr_t y = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)b);

    return x < y ? -1 : x > y;
}

/* Length of the run of v[i..n) that is contiguous in one mapping and, when
 * `dirty` is given, agrees with dirty[i] throughout. */
static size_t run_len(struct rmem__page **v, size_t i, size_t n,
                      const bool *dirty)
{
    size_t j = i + 1;

    while (j < n && v[j]->vma == v[j - 1]->vma && v[j] == v[j - 1] + 1 &&
           (!dirty || dirty[j] == dirty[i]))
        j++;
    return j - i;
}

/* Sends the dirty victims of one mapping, v[i..end), in one WRITE; the
 * bytes of v[k] are at base + (k - i) pages when base is given (the
 * staging area), else in the mapping.  In synchronous mode the runs are
 * write-protected first: a store then faults and waits for us. */
static int send_dirty(rmem_client *c, struct rmem__wb *wb, size_t i, size_t end,
                      char *base, uint64_t *sent)
{
    struct rmem__page **v = wb->pages;
    Rmem__PageRange rbuf[FRAME_MAX_IO_PAGES], *rptr[FRAME_MAX_IO_PAGES];
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    size_t nr = 0, pages = 0, first = i;
    int err;

    while (i < end) {
        size_t len;

        if (!wb->dirty[i]) {
            i++;
            continue;
        }
        len = run_len(v, i, end, wb->dirty);
        rmem__page_range__init(&rbuf[nr]);
        rbuf[nr].first = v[i]->vma->pgoff + rmem__page_index(v[i]);
        rbuf[nr].count = (uint32_t)len;
        rptr[nr] = &rbuf[nr];
        wb->iov[nr] = (struct iovec){
            base ? base + (i - first) * RMEM_PAGE_SIZE : rmem__page_addr(v[i]),
            len * RMEM_PAGE_SIZE};
        if (!c->wp_async) {
            err = rmem__uffd_writeprotect(c->uffd, wb->iov[nr].iov_base,
                                          wb->iov[nr].iov_len, true, false);
            if (err)
                return err;
        }
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

/* Drops the runs of v[i..end) from the mapping: one process_madvise for
 * all of them, or one madvise per run where that is refused.  Cannot fail:
 * the ranges are ours, mapped and page-aligned. */
static void drop_runs(rmem_client *c, struct rmem__wb *wb, size_t i, size_t end)
{
    struct rmem__page **v = wb->pages;
    size_t nr = 0, bytes = 0;

    for (size_t k = i; k < end;) {
        size_t len = run_len(v, k, end, NULL);

        wb->iov[nr++] = (struct iovec){rmem__page_addr(v[k]), len * RMEM_PAGE_SIZE};
        bytes += len * RMEM_PAGE_SIZE;
        k += len;
    }
    if (nr > 1 && c->self_pidfd >= 0) {
        long done = syscall(SYS_process_madvise, c->self_pidfd, wb->iov, nr,
                            MADV_DONTNEED, 0);

        if (done == (long)bytes)
            return;
        if (done < 0 && errno == EINVAL)
            c->self_pidfd = -1;     /* an older kernel: not for DONTNEED */
    }
    for (size_t r = 0; r < nr; r++)
        madvise(wb->iov[r].iov_base, wb->iov[r].iov_len, MADV_DONTNEED);
}

/* ---- asynchronous write protection ---------------------------------- */

struct scan_ctx {
    rmem_client *c;
    struct rmem__vma *vma;
};

/* PAGEMAP_SCAN callback: the bits the scan just reset survive as
 * RP_DIRTY, on victims and bystanders alike; a bystander on the LRU was
 * referenced.  Pages a fault thread is mapping count as well: the program
 * may store to them before the thread marks them resident.  A page
 * dropped since the scan is skipped; one dropped and fetched again is
 * marked for nothing, which costs a write-back, not data. */
static void mark_written(void *arg, char *start, size_t len)
{
    struct scan_ctx *sc = arg;
    struct rmem__vma *vma = sc->vma;
    uint64_t first, end;

    if (start < vma->start)
        start = vma->start;
    first = (uint64_t)(start - vma->start) / RMEM_PAGE_SIZE;
    end = first + len / RMEM_PAGE_SIZE;
    if (end > vma->npages)
        end = vma->npages;
    pthread_mutex_lock(&sc->c->lock);
    for (uint64_t i = first; i < end; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & (RP_RESIDENT | RP_FETCHING))
            p->flags |= RP_DIRTY | RP_REFERENCED;
    }
    pthread_mutex_unlock(&sc->c->lock);
}

/* Folds the written bits of v[i..end) (one mapping) into RP_DIRTY and
 * dirty[].  The scan walks the whole span of the batch, which for
 * scattered victims is most of the mapping, so it runs without c->lock:
 * faults go on meanwhile.  Nothing else decides from RP_DIRTY while we
 * hold wb_lock, and the mapping stays while its victims are under
 * write-back, so the bits need only reach the flags before the victims'
 * are read. */
static int scan_written(rmem_client *c, struct rmem__wb *wb, size_t i, size_t end)
{
    struct rmem__page **v = wb->pages;
    struct scan_ctx sc = {c, v[i]->vma};
    char *lo = rmem__page_addr(v[i]);
    size_t len = (size_t)(rmem__page_addr(v[end - 1]) - lo) + RMEM_PAGE_SIZE;
    int err = rmem__pagemap_scan_written(c->pagemap, lo, len, mark_written, &sc);

    pthread_mutex_lock(&c->lock);
    for (size_t k = i; k < end; k++)
        wb->dirty[k] = v[k]->flags & RP_DIRTY;
    pthread_mutex_unlock(&c->lock);
    return err;
}

/* Puts the first `pages` moved pages of v[i..) back from the staging area
 * at base. */
static void unmove_pages(rmem_client *c, struct rmem__wb *wb, size_t i,
                         size_t pages, char *base)
{
    struct rmem__page **v = wb->pages;

    for (size_t k = i; k < i + pages;) {
        size_t len = run_len(v, k, i + pages, NULL), done;
        char *src = base + (k - i) * RMEM_PAGE_SIZE;
        int err = rmem__uffd_move(c->uffd, rmem__page_addr(v[k]), src,
                                  len * RMEM_PAGE_SIZE, &done);

        if (err)    /* should not happen; a copy keeps the bytes anyway */
            err = rmem__uffd_copy(c->uffd, rmem__page_addr(v[k]) + done,
                                  src + done, len * RMEM_PAGE_SIZE - done, false);
        if (err)
            fprintf(stderr, "librmem: cannot put back %zu evicted pages at %p: "
                    "%s\n", len, (void *)rmem__page_addr(v[k]), strerror(-err));
        k += len;
    }
    madvise(base, pages * RMEM_PAGE_SIZE, MADV_DONTNEED);
}

/* Writes back (and with `drop` evicts) v[i..end), one writable mapping,
 * in asynchronous mode; the staging area and shadow are ours (wb_lock).
 * Slot k - i of both belongs to v[k]. */
static int write_back_vma_async(rmem_client *c, struct rmem__wb *wb, size_t i,
                                size_t end, bool drop, uint64_t *sent)
{
    struct rmem__page **v = wb->pages;
    char *staging = c->staging, *shadow = c->shadow;
    size_t moved = 0;                   /* pages of v[i..] in the staging area */
    int err;

    /* The flags of isolated pages change only under wb_lock: no race. */
    for (size_t k = i; drop && k < end; k++)
        if (!(v[k]->flags & RP_DIRTY))
            memcpy(shadow + (k - i) * RMEM_PAGE_SIZE, rmem__page_addr(v[k]),
                   RMEM_PAGE_SIZE);
    err = scan_written(c, wb, i, end);
    if (err || !drop)
        return err ? err : send_dirty(c, wb, i, end, NULL, sent);

    while (i + moved < end) {
        size_t len = run_len(v, i + moved, end, NULL), done;

        err = rmem__uffd_move(c->uffd, staging + moved * RMEM_PAGE_SIZE,
                              rmem__page_addr(v[i + moved]), len * RMEM_PAGE_SIZE,
                              &done);
        moved += done / RMEM_PAGE_SIZE;
        if (err)
            goto err_unmove;
    }
    for (size_t k = i; k < end; k++) {
        size_t off = (k - i) * RMEM_PAGE_SIZE;

        if (!wb->dirty[k] && memcmp(staging + off, shadow + off, RMEM_PAGE_SIZE))
            wb->dirty[k] = true;    /* written between the scan and the move */
    }
    err = send_dirty(c, wb, i, end, staging, sent);
    if (err)
        goto err_unmove;
    madvise(staging, (end - i) * RMEM_PAGE_SIZE, MADV_DONTNEED);
    return 0;

err_unmove:
    unmove_pages(c, wb, i, moved, staging);
    return err;
}

/* Writes back wb->pages[0..n), sorted here by address, and with `drop`
 * unmaps them; unlocked.  On return pages[0..*done) are written (and gone);
 * the rest could not be written.  dirty[k] says which pages were sent. */
static int write_back_pages(rmem_client *c, struct rmem__wb *wb, size_t n,
                            bool drop, size_t *done, uint64_t *sent)
{
    struct rmem__page **v = wb->pages;
    int err = 0;
    size_t i = 0;

    qsort(v, n, sizeof(*v), cmp_page_addr);
    for (size_t k = 0; k < n; k++)
        wb->dirty[k] = v[k]->flags & RP_DIRTY;
    while (i < n) {
        size_t end = i + 1;
        bool writable = v[i]->vma->prot & PROT_WRITE;

        while (end < n && v[end]->vma == v[i]->vma)
            end++;
        if (c->wp_async && writable) {
            err = write_back_vma_async(c, wb, i, end, drop, sent);
        } else {
            /* Synchronous, or a mapping no store can reach. */
            err = send_dirty(c, wb, i, end, NULL, sent);
            if (!err && drop)
                drop_runs(c, wb, i, end);
        }
        if (err)
            break;
        i = end;
    }
    *done = i;
    return err;
}

/* Under the lock: written pages are now clean copies of the server's
 * (dropped, or kept write-protected); pages whose write-back failed go back
 * on the LRU, still dirty (the next store unprotects them). */
static void finish_pages(rmem_client *c, struct rmem__wb *wb, size_t n,
                         size_t done, bool drop, uint64_t sent)
{
    for (size_t i = 0; i < n; i++) {
        struct rmem__page *p = wb->pages[i];

        p->flags &= ~(uint32_t)RP_WRITEBACK;
        if (i < done && wb->dirty[i])
            p->flags = (p->flags & ~(uint32_t)RP_DIRTY) | RP_REMOTE;
        else if (i >= done && wb->dirty[i])
            p->flags |= RP_DIRTY;   /* its written bit was consumed by a scan */
        if (i < done && drop)
            p->flags &= ~(uint32_t)(RP_RESIDENT | RP_DIRTY);
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
    if (c->wp_async)
        pthread_mutex_lock(&c->wb_lock);
    err = write_back_pages(c, wb, n, drop, &done, &sent);
    pthread_mutex_lock(&c->lock);
    /* Still under wb_lock: a scan between our send and clearing RP_DIRTY
     * would fold a newer store into the bit we are about to clear. */
    finish_pages(c, wb, n, done, drop, sent);
    if (c->wp_async)
        pthread_mutex_unlock(&c->wb_lock);
    if (err)
        fprintf(stderr, "librmem: write-back failed: %s; keeping dirty pages "
                "resident\n", strerror(-err));
    return err;
}

/* With asynchronous write protection RP_DIRTY is not the whole truth
 * until a scan, so msync takes every resident page of the range and lets
 * the scan sort them; clean ones go back on the LRU. */
int rmem__writeback_range(rmem_client *c, struct rmem__wb *wb,
                          struct rmem__vma *vma, uint64_t first, uint64_t count,
                          bool drop)
{
    uint64_t i = first, end = first + count;
    bool all = drop || c->wp_async;
    int err = 0;

    while (i < end && !err) {
        size_t n = 0;

        while (i < end && n < wb->conn->max_io_pages) {
            struct rmem__page *p = &vma->pages[i];

            /* A page being fetched may already hold a store of the
             * thread its fault woke: wait for it as for a write-back. */
            if (p->flags & (RP_WRITEBACK | RP_FETCHING)) {
                if (n)
                    break;          /* send what we have first */
                pthread_cond_wait(&c->room_cond, &c->lock);
                continue;
            }
            i++;
            if (!(p->flags & RP_RESIDENT) || (p->flags & RP_LOCKED) ||
                (!all && !(p->flags & RP_DIRTY)))
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
        /* evict_stop again: a write-back dropped the lock, and the stop
         * signal may have come meanwhile, with nobody waiting for it. */
        if (failed)
            wait_retry(c);
        else if (c->evict_stalled && !c->evict_stop)
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
    pthread_setname_np(c->evict_thread, "rmem-evict");
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
    while (c->writeback > 0 || c->fetching > 0)
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
