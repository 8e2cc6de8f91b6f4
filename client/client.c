/* The client handle and the mapping calls of the public API: connect,
 * rmem_mmap / rmem_munmap, rmem_stat, disconnect.
 *
 * A client has several connections in one server session: `ctl` for API
 * calls, one per fault thread for demand reads and `econn` for the
 * evictor, so a slow call or a write-back never delays a fault.
 * Anonymous segments belong to the session; the server frees them if the
 * process dies without unmapping.  A MAP_SHARED mapping holds a handle on
 * a named segment (named.c) instead, and writes its dirty pages back when
 * it goes; a MAP_PRIVATE one of a named segment maps an anonymous
 * copy-on-write clone of it (clone.c), private like any anonymous one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void *alloc_locked(size_t len)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

    if (p == MAP_FAILED)
        return NULL;
    mlock(p, len);      /* best effort: RLIMIT_MEMLOCK may be small */
    return p;
}

static void free_client(rmem_client *c)
{
    for (unsigned i = 0; i < RMEM__MAX_FAULT_THREADS; i++) {
        if (c->fault[i].iobuf)
            munmap(c->fault[i].iobuf, FRAME_MAX_PAYLOAD);
        rmem__conn_close(&c->fault[i].conn);
    }
    if (c->zeros)
        munmap(c->zeros, FRAME_MAX_PAYLOAD);
    if (c->ctlbuf)
        munmap(c->ctlbuf, FRAME_MAX_PAYLOAD);
    if (c->staging)
        munmap(c->staging, FRAME_MAX_PAYLOAD);
    if (c->shadow)
        munmap(c->shadow, FRAME_MAX_PAYLOAD);
    free(c->evict_wb.iov);
    free(c->evict_wb.pages);
    free(c->evict_wb.dirty);
    free(c->range_wb.iov);
    free(c->range_wb.pages);
    free(c->range_wb.dirty);
    if (c->uffd >= 0)
        close(c->uffd);
    if (c->pagemap >= 0)
        close(c->pagemap);
    if (c->self_pidfd >= 0)
        close(c->self_pidfd);
    if (c->stop_efd >= 0)
        close(c->stop_efd);
    rmem__conn_close(&c->econn);
    rmem__conn_close(&c->ctl);
    pthread_cond_destroy(&c->evict_cond);
    pthread_cond_destroy(&c->room_cond);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->ctl_lock);
    pthread_mutex_destroy(&c->wb_lock);
    free(c->server);
    free(c->tenant);
    free(c->token);
    rmem__tls_ctx_free(c->tls);
    free(c);
}

static int open_conns(rmem_client *c)
{
    struct rmem__conn_target t = {c->server, c->tenant, c->token, "librmem", 0,
                                  c->tls};
    int err = rmem__conn_open(&c->ctl, &t);

    t.session = c->ctl.session;
    for (unsigned i = 0; !err && i < c->nfault; i++) {
        err = rmem__conn_open(&c->fault[i].conn, &t);
        c->fault[i].conn.busy_poll_ns = c->busy_poll_ns;
    }
    if (!err)
        err = rmem__conn_open(&c->econn, &t);
    if (err && (c->ctl.error[0] || c->fault[0].conn.error[0]))
        fprintf(stderr, "librmem: %s refused the connection: %s\n", c->server,
                c->ctl.error[0] ? c->ctl.error : c->fault[0].conn.error);
    return err;
}

/* Asynchronous write protection needs a place to move evicted pages to:
 * an ordinary mapping registered with the same descriptor (UFFDIO_MOVE's
 * rule), never touched except where a page was just moved in.  Without
 * that, or without /proc/self/pagemap, the client stays synchronous - which
 * it can only be told before anything is registered, so the descriptor is
 * reopened in synchronous mode. */
static int setup_dirty_tracking(rmem_client *c)
{
    int err;

    c->uffd = rmem__uffd_open(&c->wp_async);
    if (c->uffd < 0)
        return c->uffd;
    if (!c->wp_async)
        return 0;
    c->pagemap = rmem__pagemap_open();
    c->staging = mmap(NULL, FRAME_MAX_PAYLOAD, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    c->shadow = mmap(NULL, FRAME_MAX_PAYLOAD, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (c->staging == MAP_FAILED)
        c->staging = NULL;
    if (c->shadow == MAP_FAILED)
        c->shadow = NULL;
    if (c->staging) {
        madvise(c->staging, FRAME_MAX_PAYLOAD, MADV_DONTFORK);
        madvise(c->staging, FRAME_MAX_PAYLOAD, MADV_NOHUGEPAGE);
    }
    err = c->pagemap < 0 || !c->staging || !c->shadow ? -ENOMEM :
          rmem__uffd_register(c->uffd, c->staging, FRAME_MAX_PAYLOAD, false);
    if (!err)
        return 0;
    fprintf(stderr, "librmem: asynchronous write protection unusable (%s); "
            "using write-protect faults\n", strerror(-err));
    close(c->uffd);
    c->wp_async = false;
    c->uffd = rmem__uffd_open(NULL);
    return c->uffd < 0 ? c->uffd : 0;
}

rmem_client *rmem_connect(const rmem_options *o)
{
    rmem_options defaults;
    rmem_client *c;
    int err = -ENOMEM;

    if (!o) {
        rmem_options_init(&defaults);
        o = &defaults;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->uffd = c->stop_efd = c->pagemap = -1;
    c->ctl.fd = c->econn.fd = -1;
    c->nfault = o->fault_threads < 1 ? 1 :
                o->fault_threads > RMEM__MAX_FAULT_THREADS ?
                RMEM__MAX_FAULT_THREADS : o->fault_threads;
    for (unsigned i = 0; i < RMEM__MAX_FAULT_THREADS; i++) {
        c->fault[i].c = c;
        c->fault[i].conn.fd = -1;
    }
    /* Eviction drops scattered runs with one process_madvise where the
     * kernel takes MADV_DONTNEED for ourselves (6.13), else one madvise each. */
    c->self_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->wb_lock, NULL);
    pthread_cond_init(&c->evict_cond, NULL);
    pthread_cond_init(&c->room_cond, NULL);
    pthread_mutex_init(&c->ctl_lock, NULL);
    rmem__lru_init(&c->lru);
    c->server = dup_or_null(o->server ? o->server : "127.0.0.1:7070");
    c->tenant = dup_or_null(o->tenant ? o->tenant : "default");
    c->token = dup_or_null(o->token);
    err = rmem__tls_ctx_new(o->tls_ca, o->tls_cert, o->tls_key, &c->tls);
    if (err)
        goto err_free;
    err = -ENOMEM;
    for (unsigned i = 0; i < c->nfault; i++) {
        c->fault[i].iobuf = alloc_locked(FRAME_MAX_PAYLOAD);
        if (!c->fault[i].iobuf)
            goto err_free;
    }
    c->zeros = alloc_locked(FRAME_MAX_PAYLOAD);
    c->ctlbuf = alloc_locked(FRAME_MAX_PAYLOAD);
    c->evict_wb = (struct rmem__wb){&c->econn,
        calloc(FRAME_MAX_IO_PAGES, sizeof(struct iovec)),
        calloc(FRAME_MAX_IO_PAGES, sizeof(struct rmem__page *)),
        calloc(FRAME_MAX_IO_PAGES, sizeof(bool))};
    c->range_wb = (struct rmem__wb){&c->ctl,
        calloc(FRAME_MAX_IO_PAGES, sizeof(struct iovec)),
        calloc(FRAME_MAX_IO_PAGES, sizeof(struct rmem__page *)),
        calloc(FRAME_MAX_IO_PAGES, sizeof(bool))};
    if (!c->server || !c->tenant || (o->token && !c->token) ||
        !c->zeros || !c->ctlbuf || !c->evict_wb.iov || !c->evict_wb.pages ||
        !c->evict_wb.dirty || !c->range_wb.iov || !c->range_wb.pages ||
        !c->range_wb.dirty)
        goto err_free;

    rmem__evict_set_limit(c, o->local_limit && o->local_limit < RMEM_PAGE_SIZE ?
                             1 : o->local_limit / RMEM_PAGE_SIZE);
    c->prefetch_max = o->prefetch_max < FRAME_MAX_IO_PAGES ?
                      o->prefetch_max : FRAME_MAX_IO_PAGES;
    c->busy_poll_ns = rmem__busy_poll_ns(o->busy_poll);

    err = open_conns(c);
    if (err)
        goto err_free;
    err = setup_dirty_tracking(c);
    if (err)
        goto err_free;
    c->stop_efd = eventfd(0, EFD_CLOEXEC);
    if (c->stop_efd < 0) {
        err = -errno;
        goto err_free;
    }
    err = rmem__evict_start(c);
    if (err)
        goto err_free;
    err = rmem__fault_start(c);
    if (err)
        goto err_stop_evictor;
    return c;

err_stop_evictor:
    rmem__evict_stop(c);
err_free:
    free_client(c);
    errno = -err;
    return NULL;
}

/* reserve: the server charges all of len to the tenant's memsw limit now
 * (ENOMEM past it), so that writing pages back later cannot fail for lack
 * of quota; MAP_NORESERVE mappings skip it, as Linux overcommit does. */
static int segment_create(rmem_client *c, size_t len, bool reserve,
                          uint64_t *segment)
{
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    sc.name = "";
    sc.size = len;
    sc.reserve = reserve;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (!err && resp->body_case != RMEM__RESPONSE__BODY_SEGMENT_CREATE)
        err = -EPROTO;
    if (!err)
        *segment = resp->segment_create->segment;
    pthread_mutex_unlock(&c->ctl_lock);
    return err;
}

/* MAP_PRIVATE|MAP_ANONYMOUS with no segment, or MAP_SHARED or MAP_PRIVATE
 * of a named segment; the offset only with a segment, page-aligned. */
static int check_mmap_args(size_t length, int prot, int flags,
                           const char *segment, off_t offset)
{
    if (length == 0 || (prot & ~(PROT_READ | PROT_WRITE)))
        return -EINVAL;
    if (flags & ~(MAP_SHARED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                  MAP_FIXED | MAP_FIXED_NOREPLACE))
        return -EINVAL;
    if ((flags & MAP_TYPE) == MAP_SHARED) {
        if (!segment || (flags & MAP_ANONYMOUS))
            return -EINVAL;     /* a shared anonymous mapping: not supported */
        if (offset < 0 || (offset & (RMEM_PAGE_SIZE - 1)))
            return -EINVAL;
        return 0;
    }
    if ((flags & MAP_TYPE) != MAP_PRIVATE)
        return -EINVAL;
    if (segment && !(flags & MAP_ANONYMOUS))    /* copy-on-write (clone.c) */
        return offset < 0 || (offset & (RMEM_PAGE_SIZE - 1)) ? -EINVAL : 0;
    if (segment || !(flags & MAP_ANONYMOUS) || offset != 0)
        return -EINVAL;
    return 0;
}

/* A handle on segment `name` whose pages [offset, offset+length) exist:
 * EINVAL for a range past its end, as for a mapping beyond a file (where
 * Linux would map and SIGBUS later; failing now is kinder).  MAP_PRIVATE:
 * the handle is on a private copy-on-write clone of it (clone.c). */
static int open_named_range(rmem_client *c, const char *name, size_t length,
                            off_t offset, int flags, uint64_t *seg)
{
    uint64_t pages, first = (uint64_t)offset / RMEM_PAGE_SIZE;
    int err = rmem__named_check_name(name);

    if (err)
        return err;
    if ((flags & MAP_TYPE) == MAP_PRIVATE)
        err = rmem__named_clone(c, name, NULL, !(flags & MAP_NORESERVE), seg,
                                &pages);
    else
        err = rmem__named_open(c, name, seg, &pages);
    if (err)
        return err;
    if (first > pages || length / RMEM_PAGE_SIZE > pages - first) {
        rmem__segment_free(c, *seg);
        return -EINVAL;
    }
    return 0;
}

void *rmem_mmap(rmem_client *c, void *addr, size_t length, int prot, int flags,
                const char *segment, off_t offset)
{
    struct rmem__vma *vma;
    uint64_t seg;
    void *p;
    int err;

    if (!c) {
        errno = EINVAL;
        return MAP_FAILED;
    }
    err = check_mmap_args(length, prot, flags, segment, offset);
    if (err)
        goto out_err;
    length = (length + RMEM_PAGE_SIZE - 1) & ~(size_t)(RMEM_PAGE_SIZE - 1);
    if (segment)
        err = open_named_range(c, segment, length, offset, flags, &seg);
    else
        err = segment_create(c, length, !(flags & MAP_NORESERVE), &seg);
    if (err)
        goto out_err;
    p = mmap(addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
             (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)), -1, 0);
    if (p == MAP_FAILED) {
        err = -errno;
        goto err_free_segment;
    }
    /* A child would see non-resident pages as zeros; huge pages would
     * defeat page-granular faults. */
    madvise(p, length, MADV_DONTFORK);
    madvise(p, length, MADV_NOHUGEPAGE);
    vma = rmem__vma_alloc(p, length, prot, flags, seg);
    if (!vma) {
        err = -ENOMEM;
        goto err_unmap;
    }
    if (segment) {
        /* Another client may have written any page, or the clone holds
         * it: fetch each one. */
        vma->name = strdup(segment);
        if (!vma->name) {
            err = -ENOMEM;
            goto err_free_vma;
        }
        vma->pgoff = (uint64_t)offset / RMEM_PAGE_SIZE;
        for (uint64_t i = 0; i < vma->npages; i++)
            vma->pages[i].flags = RP_REMOTE;
    }
    err = rmem__uffd_register(c->uffd, p, length, true);
    if (err)
        goto err_free_vma;
    pthread_mutex_lock(&c->lock);
    rmem__vma_insert(&c->vmas, vma);
    c->stat.total_vm += length;
    pthread_mutex_unlock(&c->lock);
    return p;

err_free_vma:
    rmem__vma_free(vma);
err_unmap:
    munmap(p, length);
err_free_segment:
    rmem__segment_free(c, seg);
out_err:
    errno = -err;
    return MAP_FAILED;
}

/* munmap of a shared mapping writes its dirty pages back first, as
 * Linux's does in the end: what reached the server is what the next client
 * sees.  mlocked pages are unpinned for it.  Caller holds ctl_lock and
 * c->lock (dropped while pages are on the wire). */
static int flush_shared(rmem_client *c, struct rmem__vma *vma)
{
    for (uint64_t i = 0; i < vma->npages; i++) {
        struct rmem__page *p = &vma->pages[i];

        if (p->flags & RP_LOCKED) {
            p->flags &= ~(uint32_t)RP_LOCKED;
            c->locked--;
            rmem__lru_add(&c->lru, p);
        }
    }
    return rmem__writeback_range(c, &c->range_wb, vma, 0, vma->npages, false);
}

/* Tears one mapping down; caller holds c->lock and has unlinked it. */
static void vma_teardown(rmem_client *c, struct rmem__vma *vma)
{
    rmem__evict_forget_vma(c, vma);
    rmem__uffd_unregister(c->uffd, vma->start, vma->len);
    munmap(vma->start, vma->len);
    c->stat.total_vm -= vma->len;
}

int rmem_munmap(rmem_client *c, void *addr, size_t length)
{
    struct rmem__vma *vma;
    uint64_t seg;
    int err = 0;

    if (!c || ((uintptr_t)addr & (RMEM_PAGE_SIZE - 1)) || length == 0) {
        errno = EINVAL;
        return -1;
    }
    length = (length + RMEM_PAGE_SIZE - 1) & ~(size_t)(RMEM_PAGE_SIZE - 1);
    pthread_mutex_lock(&c->ctl_lock);
    pthread_mutex_lock(&c->lock);
    vma = rmem__vma_find(c->vmas, addr);
    /* Whole mappings only in this version. */
    if (!vma || vma->start != (char *)addr || vma->len != length) {
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->ctl_lock);
        errno = EINVAL;
        return -1;
    }
    if (vma->flags & MAP_SHARED)
        err = flush_shared(c, vma);
    /* The evictor holds pointers into a batch's mappings until it ends. */
    rmem__evict_wait_idle(c);
    rmem__vma_unlink(&c->vmas, vma);
    vma_teardown(c, vma);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->ctl_lock);
    if (err)
        fprintf(stderr, "librmem: munmap of %p: dirty pages of the shared "
                "mapping not written back: %s\n", addr, strerror(-err));
    seg = vma->segment;
    rmem__vma_free(vma);
    if (rmem__segment_free(c, seg) < 0)
        fprintf(stderr, "librmem: segment %llu not freed on the server; it goes "
                "with the session\n", (unsigned long long)seg);
    return 0;
}

static int remote_stat(rmem_client *c, struct rmem_stat *st)
{
    Rmem__Stat s = RMEM__STAT__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    req.body_case = RMEM__REQUEST__BODY_STAT;
    req.stat = &s;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (!err && resp->body_case != RMEM__RESPONSE__BODY_STAT)
        err = -EPROTO;
    if (!err) {
        st->remote_usage = resp->stat->usage;
        st->remote_limit = resp->stat->limit;
    }
    pthread_mutex_unlock(&c->ctl_lock);
    return err;
}

int rmem_stat(rmem_client *c, struct rmem_stat *out)
{
    struct rmem_stat st;
    int err;

    if (!c || !out) {
        errno = EINVAL;
        return -1;
    }
    pthread_mutex_lock(&c->lock);
    /* A fault thread wakes the faulting thread before it retakes the lock
     * to count the fault: let every resolved fault be counted. */
    while (c->fetching)
        pthread_cond_wait(&c->room_cond, &c->lock);
    st = c->stat;
    st.rss = c->resident * RMEM_PAGE_SIZE;
    st.locked_vm = c->locked * RMEM_PAGE_SIZE;
    st.fault_ns_p50 = rmem__hist_percentile(&c->remote_ns, 50);
    st.fault_ns_p99 = rmem__hist_percentile(&c->remote_ns, 99);
    pthread_mutex_unlock(&c->lock);
    err = remote_stat(c, &st);
    if (err) {
        errno = -err;
        return -1;
    }
    /* Written only now: out may itself live in rmem-managed memory. */
    *out = st;
    return 0;
}

void rmem_disconnect(rmem_client *c)
{
    struct rmem__vma *gone = NULL;

    if (!c)
        return;
    rmem__fault_stop(c);
    rmem__evict_stop(c);
    pthread_mutex_lock(&c->ctl_lock);
    pthread_mutex_lock(&c->lock);
    while (c->vmas) {
        struct rmem__vma *vma = c->vmas;

        if ((vma->flags & MAP_SHARED) && flush_shared(c, vma))
            fprintf(stderr, "librmem: disconnect: dirty pages of the shared "
                    "mapping at %p not written back\n", (void *)vma->start);
        rmem__vma_unlink(&c->vmas, vma);
        vma_teardown(c, vma);
        vma->next = gone;
        gone = vma;
    }
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->ctl_lock);
    while (gone) {
        struct rmem__vma *vma = gone;

        gone = vma->next;
        rmem__segment_free(c, vma->segment);
        rmem__vma_free(vma);
    }
    free_client(c);
}
