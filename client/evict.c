/* Eviction: the client's swap-out path.
 *
 * Victims come off the inactive tail in batches of at most one WRITE.
 * Dirty victims are write-protected first (one ioctl per contiguous run),
 * so a store racing with the write-back raises a fault instead of being
 * lost; their bytes then go to the server straight from the mapping (one
 * iovec per run, no copy).  Only after the server acknowledged them are the
 * pages dropped with MADV_DONTNEED, again one call per run.  Clean victims
 * whose server copy is current, and clean pages that were never written,
 * are dropped without any transfer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

static int cmp_page_addr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)a);
    uintptr_t y = (uintptr_t)rmem__page_addr(*(struct rmem__page *const *)b);

    return x < y ? -1 : x > y;
}

static bool next_in_run(const struct rmem__page *prev, const struct rmem__page *p)
{
    return p->vma == prev->vma && p == prev + 1;
}

/* Length of the run of victims[i..] that are contiguous and agree on
 * `want_dirty` (or any state when want_dirty < 0). */
static size_t run_len(struct rmem__page **v, size_t i, size_t n, int want_dirty)
{
    size_t j = i + 1;

    while (j < n && next_in_run(v[j - 1], v[j]) &&
           (want_dirty < 0 || !!(v[j]->flags & RP_DIRTY) == want_dirty))
        j++;
    return j - i;
}

/* Sends the dirty victims of one segment, [i, end), in one WRITE. */
static int write_back_vma(rmem_client *c, struct rmem__page **v, size_t i,
                          size_t end, uint64_t *sent)
{
    Rmem__PageRange rbuf[FRAME_MAX_IO_PAGES], *rptr[FRAME_MAX_IO_PAGES];
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    size_t nr = 0, pages = 0, start = i;
    int err;

    while (i < end) {
        size_t len;

        if (!(v[i]->flags & RP_DIRTY)) {
            i++;
            continue;
        }
        len = run_len(v, i, end, 1);
        rmem__page_range__init(&rbuf[nr]);
        rbuf[nr].first = rmem__page_index(v[i]);
        rbuf[nr].count = (uint32_t)len;
        rptr[nr] = &rbuf[nr];
        c->iov[nr] = (struct iovec){rmem__page_addr(v[i]), len * RMEM_PAGE_SIZE};
        err = rmem__uffd_writeprotect(c->uffd, c->iov[nr].iov_base,
                                      c->iov[nr].iov_len, true, false);
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
    err = rmem__conn_rpc(&c->fconn, &req, c->iov, (int)nr, &resp, NULL, 0, NULL);
    if (err)
        return err;
    /* Acknowledged: the server copy is current from here on. */
    for (size_t k = start; k < end; k++)
        if (v[k]->flags & RP_DIRTY)
            v[k]->flags = (v[k]->flags & ~(uint32_t)RP_DIRTY) | RP_REMOTE;
    *sent += pages;
    return 0;
}

static void drop_pages(rmem_client *c, struct rmem__page **v, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t len = run_len(v, i, n, -1);

        /* Cannot fail: the range is ours, mapped and page-aligned. */
        madvise(rmem__page_addr(v[i]), len * RMEM_PAGE_SIZE, MADV_DONTNEED);
        for (size_t k = i; k < i + len; k++)
            v[k]->flags &= ~(uint32_t)RP_RESIDENT;
        i += len;
    }
    c->resident -= n;
    c->stat.evictions += n;
}

/* Puts victims whose write-back was not acknowledged on the LRU again; they stay
 * resident, dirty and write-protected (the next store unprotects them). */
static void putback_dirty(rmem_client *c, struct rmem__page **v, size_t n,
                          size_t *kept)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (v[i]->flags & RP_DIRTY)
            rmem__lru_add(&c->lru, v[i]);
        else
            v[k++] = v[i];
    }
    *kept = k;
}

static int evict_batch(rmem_client *c, struct rmem__page **v, size_t n)
{
    uint64_t sent = 0;
    int err = 0;

    qsort(v, n, sizeof(*v), cmp_page_addr);
    for (size_t i = 0; i < n && !err;) {
        size_t end = i + 1;

        while (end < n && v[end]->vma == v[i]->vma)
            end++;
        err = write_back_vma(c, v, i, end, &sent);
        i = end;
    }
    if (err) {
        /* Keep what was not acknowledged; clean victims still go. */
        fprintf(stderr, "librmem: write-back failed: %s; keeping dirty pages "
                "resident\n", strerror(-err));
        putback_dirty(c, v, n, &n);
    }
    c->stat.writebacks += sent;
    c->stat.bytes_out += sent * RMEM_PAGE_SIZE;
    drop_pages(c, v, n);
    return err;
}

int rmem__evict(rmem_client *c, uint64_t target)
{
    while (c->resident > target) {
        uint64_t want = c->resident - target;
        size_t n;
        int err;

        if (want > c->fconn.max_io_pages)
            want = c->fconn.max_io_pages;
        n = rmem__lru_isolate(&c->lru, c->victims, (size_t)want);
        if (n == 0)
            return -ENOMEM;
        err = evict_batch(c, c->victims, n);
        if (err)
            return err;
    }
    return 0;
}

void rmem__evict_forget_vma(rmem_client *c, struct rmem__vma *vma)
{
    for (uint64_t i = 0; i < vma->npages; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & RP_RESIDENT) {
            rmem__lru_del(&c->lru, p);
            c->resident--;
        }
        p->flags = 0;
    }
}
