/* Calls on ranges of mapped memory: rmem_msync, rmem_madvise, rmem_mlock
 * and rmem_munlock, with Linux's meaning for a private mapping, and for a
 * MAP_SHARED one of a named segment as for a shared file mapping.
 *
 * A range may span several mappings but must be mapped throughout
 * (ENOMEM otherwise, as mmap's family says).  Work that talks to the
 * server here uses the control connection, never the fault thread's, so a
 * long msync does not stall faults; pages under write-back are waited for,
 * not touched. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

typedef int (*range_fn)(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                        uint64_t count, int arg);

/* Runs fn on the part of every mapping that [addr, addr+len) covers, after
 * checking that it covers mapped memory only.  Holds c->lock. */
static int for_each_range(rmem_client *c, const void *addr, size_t len,
                          range_fn fn, int arg)
{
    const char *start = addr, *end, *at;
    struct rmem__vma *vma;
    int err;

    if (((uintptr_t)addr & (RMEM_PAGE_SIZE - 1)) || len == 0)
        return -EINVAL;
    len = (len + RMEM_PAGE_SIZE - 1) & ~(size_t)(RMEM_PAGE_SIZE - 1);
    end = start + len;
    for (at = start; at < end; at = vma->start + vma->len) {
        vma = rmem__vma_find(c->vmas, at);
        if (!vma)
            return -ENOMEM;
    }
    for (at = start; at < end; at = vma->start + vma->len) {
        const char *stop;

        vma = rmem__vma_find(c->vmas, at);
        stop = end < vma->start + vma->len ? end : vma->start + vma->len;
        err = fn(c, vma, (uint64_t)(at - vma->start) / RMEM_PAGE_SIZE,
                 (uint64_t)(stop - at) / RMEM_PAGE_SIZE, arg);
        if (err)
            return err;
    }
    return 0;
}

/* Takes ctl_lock then lock (the documented order), runs the range walk,
 * and turns the result into the POSIX convention. */
static int range_call(rmem_client *c, const void *addr, size_t len,
                      range_fn fn, int arg)
{
    int err;

    if (!c) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&c->ctl_lock);
    pthread_mutex_lock(&c->lock);
    err = for_each_range(c, addr, len, fn, arg);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->ctl_lock);
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}

static int msync_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                       uint64_t count, int flags)
{
    return rmem__writeback_range(c, &c->range_wb, vma, first, count,
                                 flags & MS_INVALIDATE);
}

/* MS_SYNC and MS_ASYNC both write the dirty pages back before returning
 * (Linux's MS_ASYNC does nothing; doing the work is never wrong);
 * MS_INVALIDATE also drops the resident copies, so the next access reads
 * the server's. */
int rmem_msync(rmem_client *c, void *addr, size_t length, int flags)
{
    if ((flags & ~(MS_SYNC | MS_ASYNC | MS_INVALIDATE)) ||
        ((flags & MS_SYNC) && (flags & MS_ASYNC))) {
        errno = EINVAL;
        return -1;
    }
    return range_call(c, addr, length, msync_range, flags);
}

/* MADV_DONTNEED: the pages are gone here and on the server; they read as
 * zeros again.  Locked pages refuse it (EINVAL), as VM_LOCKED does.  On a
 * MAP_SHARED mapping only the local copies go, as Linux drops a shared
 * file mapping's PTEs but not the page cache: dirty pages are written back
 * first, and the segment keeps its contents.  A MAP_PRIVATE mapping of a
 * named segment keeps its private copy's contents the same way: Linux
 * would revert the pages to the file's, which the copy no longer knows. */
static int dontneed_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                          uint64_t count)
{
    Rmem__Discard d = RMEM__DISCARD__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    for (uint64_t i = first; i < first + count; i++) {
        struct rmem__page *p = &vma->pages[i];

        while (p->flags & (RP_WRITEBACK | RP_FETCHING))
            pthread_cond_wait(&c->room_cond, &c->lock);
        if (p->flags & RP_LOCKED)
            return -EINVAL;
    }
    if (vma->name)
        return rmem__writeback_range(c, &c->range_wb, vma, first, count, true);
    madvise(vma->start + first * RMEM_PAGE_SIZE, count * RMEM_PAGE_SIZE,
            MADV_DONTNEED);
    for (uint64_t i = first; i < first + count; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & RP_RESIDENT) {
            rmem__lru_del(&c->lru, p);
            c->resident--;
        }
        p->flags = 0;
    }
    d.segment = vma->segment;
    d.first = vma->pgoff + first;
    d.count = count;
    req.body_case = RMEM__REQUEST__BODY_DISCARD;
    req.discard = &d;
    return rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
}

/* MADV_MERGEABLE / MADV_UNMERGEABLE: KSM works on whole server segments,
 * so the segment behind the mapping is marked (once per mapping the range
 * touches); the pages resident here are unaffected - merging happens to
 * the server's copies, and a write-back of a merged page copies it there. */
static int ksm_advise(rmem_client *c, struct rmem__vma *vma, bool mergeable)
{
    Rmem__KsmMadvise m = RMEM__KSM_MADVISE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    m.segment = vma->segment;
    m.mergeable = mergeable;
    req.body_case = RMEM__REQUEST__BODY_KSM_MADVISE;
    req.ksm_madvise = &m;
    return rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
}

static int advise_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                        uint64_t count, int advice)
{
    switch (advice) {
    case MADV_NORMAL:
    case MADV_SEQUENTIAL:
    case MADV_RANDOM:
        vma->advice = advice;   /* per mapping, as Linux keeps it per VMA */
        return 0;
    case MADV_WILLNEED:
        return rmem__prefetch_range(c, vma, first, count);
    case MADV_PAGEOUT:
        return rmem__writeback_range(c, &c->range_wb, vma, first, count, true);
    case MADV_DONTNEED:
        return dontneed_range(c, vma, first, count);
    case MADV_MERGEABLE:
    case MADV_UNMERGEABLE:
        return ksm_advise(c, vma, advice == MADV_MERGEABLE);
    default:
        return -EINVAL;
    }
}

int rmem_madvise(rmem_client *c, void *addr, size_t length, int advice)
{
    switch (advice) {
    case MADV_NORMAL: case MADV_SEQUENTIAL: case MADV_RANDOM:
    case MADV_WILLNEED: case MADV_PAGEOUT: case MADV_DONTNEED:
    case MADV_MERGEABLE: case MADV_UNMERGEABLE:
        return range_call(c, addr, length, advise_range, advice);
    default:
        errno = EINVAL;
        return -1;
    }
}

/* Pins the resident pages of the range: off the LRU, never evicted.
 * Returns -EAGAIN when some page is not resident yet (the caller touches
 * the range and tries again) and -ENOMEM when pinning would leave no room
 * under the local limit. */
static int lock_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                      uint64_t count, int check_only)
{
    uint64_t more = 0;

    for (uint64_t i = first; i < first + count; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (!(p->flags & RP_RESIDENT) || (p->flags & RP_WRITEBACK))
            return -EAGAIN;
        more += !(p->flags & RP_LOCKED);
    }
    if (c->limit && c->locked + more > c->limit - (c->limit > 8 ? 8 : 0))
        return -ENOMEM;
    if (check_only)
        return 0;
    for (uint64_t i = first; i < first + count; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (!(p->flags & RP_LOCKED)) {
            rmem__lru_del(&c->lru, p);
            p->flags |= RP_LOCKED;
            c->locked++;
        }
    }
    return 0;
}

static int unlock_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                        uint64_t count, int arg)
{
    (void)arg;
    for (uint64_t i = first; i < first + count; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & RP_LOCKED) {
            p->flags &= ~(uint32_t)RP_LOCKED;
            c->locked--;
            rmem__lru_add(&c->lru, p);
        }
    }
    rmem__evict_kick(c, false);
    return 0;
}

/* Faults the range in from this thread (the fault thread serves it), then
 * pins it if nothing was evicted meanwhile; a few rounds at most. */
int rmem_mlock(rmem_client *c, const void *addr, size_t length)
{
    const volatile char *p = addr;
    int err = -EAGAIN;

    if (!c || ((uintptr_t)addr & (RMEM_PAGE_SIZE - 1)) || length == 0) {
        errno = EINVAL;
        return -1;
    }
    for (int round = 0; round < 8 && err == -EAGAIN; round++) {
        pthread_mutex_lock(&c->lock);
        err = for_each_range(c, addr, length, lock_range, 1);
        pthread_mutex_unlock(&c->lock);
        if (err == -ENOMEM || err == -EINVAL)
            break;
        if (err == -EAGAIN)
            for (size_t off = 0; off < length; off += RMEM_PAGE_SIZE)
                (void)p[off];
        pthread_mutex_lock(&c->lock);
        err = for_each_range(c, addr, length, lock_range, 0);
        pthread_mutex_unlock(&c->lock);
    }
    if (err) {
        errno = err == -EAGAIN ? ENOMEM : -err;
        return -1;
    }
    return 0;
}

int rmem_munlock(rmem_client *c, const void *addr, size_t length)
{
    if (!c) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    int err = for_each_range(c, addr, length, unlock_range, 0);
    pthread_mutex_unlock(&c->lock);
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}
