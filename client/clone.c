/* Copy-on-write clones of named segments from the client's side:
 * rmem_segment_clone, and the private copy rmem_mmap(MAP_PRIVATE) maps.
 * The server clones what it holds (SegmentClone), so pages dirty in some
 * client's cache are not in the snapshot.  Within this client a clone
 * should still see what it wrote, as a process's MAP_PRIVATE mapping of a
 * file sees its own earlier writes through a MAP_SHARED one: so before
 * asking, the dirty pages of this client's MAP_SHARED mappings of the
 * source are written back, as rmem_msync(MS_SYNC) would.  ctl_lock is
 * held from that write-back to the reply, so no other call of this client
 * slips between them; a thread writing to the mapping meanwhile races
 * with the clone as it would with an msync. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Caller holds ctl_lock (range_wb is the API calls' write-back state). */
static int writeback_named(rmem_client *c, const char *name)
{
    int err = 0;

    pthread_mutex_lock(&c->lock);
    /* munmap needs ctl_lock, so no mapping goes away while the lock is
     * dropped for a batch on the wire. */
    for (struct rmem__vma *vma = c->vmas; vma && !err; vma = vma->next)
        if ((vma->flags & MAP_TYPE) == MAP_SHARED && vma->name &&
            strcmp(vma->name, name) == 0)
            err = rmem__writeback_range(c, &c->range_wb, vma, 0, vma->npages,
                                        false);
    pthread_mutex_unlock(&c->lock);
    return err;
}

int rmem__named_clone(rmem_client *c, const char *src, const char *dst,
                      bool reserve, uint64_t *segment, uint64_t *pages)
{
    Rmem__SegmentClone sc = RMEM__SEGMENT_CLONE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    sc.src = (char *)src;
    sc.dst = dst ? (char *)dst : "";
    sc.reserve = reserve;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CLONE;
    req.segment_clone = &sc;
    pthread_mutex_lock(&c->ctl_lock);
    err = writeback_named(c, src);
    if (!err)
        err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (!err && resp->body_case != RMEM__RESPONSE__BODY_SEGMENT_CLONE)
        err = -EPROTO;
    if (!err) {
        *segment = resp->segment_clone->segment;
        *pages = resp->segment_clone->pages;
    }
    pthread_mutex_unlock(&c->ctl_lock);
    return err;
}

int rmem_segment_clone(rmem_client *c, const char *src, const char *dst)
{
    uint64_t handle, pages;
    int err;

    if (!c) {
        errno = EINVAL;
        return -1;
    }
    err = rmem__named_check_name(src);
    if (!err)
        err = rmem__named_check_name(dst);
    if (!err)
        err = rmem__named_clone(c, src, dst, false, &handle, &pages);
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}
