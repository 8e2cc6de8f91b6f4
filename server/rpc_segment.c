/* Segment RPCs: create and free anonymous segments (named ones: rpc_named.c),
 * READ and WRITE pages.
 * Handles are looked up in the caller's session only, so a segment of
 * another session or tenant is indistinguishable from one that never
 * existed (ENOENT).  Every range is checked before any page moves: a WRITE
 * is either rejected whole or attempted range by range.
 *
 * SegmentCreate with `reserve` charges the whole size to the tenant's memsw
 * limit at once (ENOMEM past it).  A segment the OOM killer took answers
 * every READ and WRITE with EOWNERDEAD until its owner frees it. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PARK_EXTRA_ROUNDS 4             /* a READ's, beyond one per batch */
#define PARK_STALL_ROUNDS 8             /* a WRITE's, without progress */

static int segment_dead(struct rpc_ctx *ctx, uint64_t id)
{
    return rpc_fail(ctx, -EOWNERDEAD, "segment %llu was killed by the OOM killer "
                    "of tenant '%s' (memory.oom_control) and its contents are "
                    "gone; unmap it", (unsigned long long)id,
                    ctx->conn->session->tenant->name);
}

static int lookup(struct rpc_ctx *ctx, uint64_t id, struct segment **out)
{
    *out = session_segment_find(ctx->conn->session, id);
    if (!*out)
        return rpc_fail(ctx, -ENOENT, "no segment %llu in this session",
                        (unsigned long long)id);
    if (segment_is_dead(*out))
        return segment_dead(ctx, id);
    return 0;
}

static bool range_inside(const struct segment *seg, uint64_t first, uint64_t count)
{
    uint64_t n = segment_npages(seg);

    return first < n && count <= n - first;
}

int rpc_segment_create(struct rpc_ctx *ctx)
{
    const Rmem__SegmentCreate *sc = ctx->req->segment_create;
    struct session *s = ctx->conn->session;
    struct segment *seg;
    uint64_t pages, id;
    int err;

    if (sc->name && sc->name[0])
        return rpc_named_create(ctx);
    if (sc->size == 0)
        return rpc_fail(ctx, -EINVAL, "segment size 0");
    pages = sc->size / RMEM_PAGE_SIZE + (sc->size % RMEM_PAGE_SIZE != 0);
    if (pages > SERVER_MAX_SEGMENT_PAGES)
        return rpc_fail(ctx, -EFBIG, "segment of %llu pages exceeds the limit of %llu",
                        (unsigned long long)pages, SERVER_MAX_SEGMENT_PAGES);
    /* sc->flags: none defined yet; ignored so clients can send hints. */
    err = segment_create(ctx->srv->mm, s->tenant->memcg, pages, &seg);
    if (err)
        return rpc_fail(ctx, err, "cannot create a segment of %llu pages: %s",
                        (unsigned long long)pages, strerror(-err));
    if (sc->reserve) {
        err = segment_reserve(seg);
        if (err) {
            segment_destroy(seg);
            return rpc_fail(ctx, err, "cannot reserve %llu bytes: tenant '%s' "
                            "would exceed memory.memsw.limit_in_bytes (map with "
                            "MAP_NORESERVE to skip the reservation)",
                            (unsigned long long)pages * RMEM_PAGE_SIZE,
                            s->tenant->name);
        }
    }
    err = session_segment_add(s, seg, &id);
    if (err) {
        segment_destroy(seg);
        return rpc_fail(ctx, err, "cannot register the segment: %s", strerror(-err));
    }
    rmem__segment_create_reply__init(&ctx->reply.segment_create);
    ctx->reply.segment_create.segment = id;
    ctx->reply.segment_create.pages = pages;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_SEGMENT_CREATE;
    ctx->resp.segment_create = &ctx->reply.segment_create;
    return 0;
}

int rpc_segment_free(struct rpc_ctx *ctx)
{
    uint64_t id = ctx->req->segment_free->segment;

    if (session_segment_free(ctx->conn->session, id))
        return rpc_fail(ctx, -ENOENT, "no segment %llu in this session",
                        (unsigned long long)id);
    return 0;
}

int rpc_discard(struct rpc_ctx *ctx)
{
    const Rmem__Discard *d = ctx->req->discard;
    struct segment *seg;
    int err;

    err = lookup(ctx, d->segment, &seg);
    if (err)
        return err;
    if (d->count == 0 || !range_inside(seg, d->first, d->count))
        return rpc_fail(ctx, -ERANGE, "discard of pages %llu+%llu outside segment "
                        "%llu of %llu pages", (unsigned long long)d->first,
                        (unsigned long long)d->count, (unsigned long long)d->segment,
                        (unsigned long long)segment_npages(seg));
    err = segment_discard(seg, d->first, d->count);
    if (err)
        return rpc_fail(ctx, err, "discard of segment %llu: %s",
                        (unsigned long long)d->segment, strerror(-err));
    return 0;
}

/* Rounds a request for `pages` pages may be parked on swap I/O: one per
 * batch of its own pages, and a few more for pages that reclaim took
 * back, or others took, between rounds. */
static unsigned max_rounds(uint64_t pages)
{
    return (unsigned)((pages + MM_SWAP_IO_BATCH - 1) / MM_SWAP_IO_BATCH) +
           PARK_EXTRA_ROUNDS;
}

/* -EAGAIN: direct reclaim started writes (or found writeback under way)
 * for pages this request needs: park it until they are done. */
static int park_on_reclaim(struct rpc_ctx *ctx, const void *on, int err)
{
    if (err != -EAGAIN)
        return err;
    if (!on)
        return -ENOMEM;
    server_park(ctx, on);
    return 0;
}

static int read_answer(struct rpc_ctx *ctx, uint64_t segment, uint32_t count,
                       void *buf, int err)
{
    if (err) {
        free(buf);
        if (err == -EOWNERDEAD)
            return segment_dead(ctx, segment);
        return rpc_fail(ctx, err, "read failed: %s", strerror(-err));
    }
    ctx->out_payload = buf;
    ctx->out_len = count * RMEM_PAGE_SIZE;
    ctx->srv->stats[SERVER_STAT_pages_read] += count;
    return 0;
}

/* Pages in the swap file are read on a worker (swapin.c) and the READ
 * runs again once they are in; a charge that must wait for direct
 * reclaim's writes parks it on them.  After its rounds, or with no job
 * to be had, it reads synchronously, reclaiming as it goes: a READ larger
 * than its tenant's limit can finish no other way, since each round's
 * pages push out the last round's. */
int rpc_read(struct rpc_ctx *ctx)
{
    const Rmem__Read *r = ctx->req->read;
    struct server *srv = ctx->srv;
    struct server_writeout *job;
    struct segment *seg;
    const void *on;
    bool waits;
    void *buf;
    int err;

    if (r->count == 0 || r->count > FRAME_MAX_IO_PAGES)
        return rpc_fail(ctx, -EINVAL, "read of %u pages; 1..%u allowed", r->count,
                        FRAME_MAX_IO_PAGES);
    err = ctx->conn->park_err;
    if (err)
        return read_answer(ctx, r->segment, r->count, NULL, err);
    err = lookup(ctx, r->segment, &seg);
    if (err)
        return err;
    if (!range_inside(seg, r->first, r->count))
        return rpc_fail(ctx, -ERANGE, "pages %llu+%u outside segment %llu of %llu pages",
                        (unsigned long long)r->first, r->count,
                        (unsigned long long)r->segment,
                        (unsigned long long)segment_npages(seg));
    buf = malloc((size_t)r->count * RMEM_PAGE_SIZE);
    if (!buf)
        return rpc_fail(ctx, -ENOMEM, "no memory for a %u-page reply", r->count);
    waits = ctx->conn->park_rounds < max_rounds(r->count);
    job = server_reclaim_begin(srv, waits ? MM_RECLAIM_ASYNC : MM_RECLAIM_SYNC);
    err = segment_read_nowait(seg, r->first, r->count, buf, &srv->swapin_req);
    if (err == -EINPROGRESS) {
        err = waits ? server_swapin_start(ctx) : -EAGAIN;
        if (err) {
            uint64_t t0 = uv_hrtime();

            mm_swapin_cancel(srv->mm, &srv->swapin_req);
            err = segment_read(seg, r->first, r->count, buf);
            log_debug("conn %llu: READ of %u pages read on the loop after %u "
                      "rounds: %llu us", (unsigned long long)ctx->conn->id,
                      r->count, ctx->conn->park_rounds,
                      (unsigned long long)(uv_hrtime() - t0) / 1000);
        }
    }
    on = server_reclaim_end(srv, job);
    if (!ctx->deferred)
        err = park_on_reclaim(ctx, on, err);
    if (ctx->deferred) {
        free(buf);
        return 0;
    }
    return read_answer(ctx, r->segment, r->count, buf, err);
}

/* Direct reclaim's writes go to a worker and the WRITE waits for them
 * parked.  It resumes where it stopped rather than from the start: a
 * WRITE larger than its tenant's limit would otherwise push its own first
 * pages out and write them again forever.  Parked PARK_STALL_ROUNDS times
 * in a row without writing a page, it reclaims only what needs no write,
 * and fails with ENOMEM if that is not enough. */
int rpc_write(struct rpc_ctx *ctx)
{
    const Rmem__Write *w = ctx->req->write;
    const uint8_t *src = ctx->payload;
    struct server *srv = ctx->srv;
    struct conn *c = ctx->conn;
    struct server_writeout *job;
    const Rmem__PageRange *r = NULL;
    struct segment *seg;
    uint64_t done = c->park_progress, k = 0;
    const void *on;
    int err;

    /* Counts and the payload length were checked with the frame. */
    err = lookup(ctx, w->segment, &seg);
    if (err)
        return err;
    for (size_t i = 0; i < w->n_ranges; i++)
        if (!range_inside(seg, w->ranges[i]->first, w->ranges[i]->count))
            return rpc_fail(ctx, -ERANGE, "range %zu (pages %llu+%u) outside segment "
                            "%llu of %llu pages", i,
                            (unsigned long long)w->ranges[i]->first,
                            w->ranges[i]->count, (unsigned long long)w->segment,
                            (unsigned long long)segment_npages(seg));
    job = server_reclaim_begin(srv, c->park_rounds < PARK_STALL_ROUNDS ?
                                    MM_RECLAIM_ASYNC : MM_RECLAIM_NOIO);
    for (size_t i = 0; i < w->n_ranges && !err; i++) {
        r = w->ranges[i];
        for (uint32_t p = 0; p < r->count && !err; p++, k++) {
            if (k < c->park_progress)
                continue;
            err = segment_write(seg, r->first + p, 1, src + (size_t)p * RMEM_PAGE_SIZE);
            c->park_progress += !err;
        }
        src += (size_t)r->count * RMEM_PAGE_SIZE;
    }
    on = server_reclaim_end(srv, job);
    err = park_on_reclaim(ctx, on, err);
    if (ctx->deferred) {
        if (c->park_progress > done)
            c->park_rounds = 0;         /* a stall is rounds without progress */
        return 0;
    }
    srv->stats[SERVER_STAT_pages_written] += c->park_progress;
    if (err == -EOWNERDEAD)
        return segment_dead(ctx, w->segment);
    if (err == -ENOMEM) {
        struct memcg *cg = c->session->tenant->memcg;

        return rpc_fail(ctx, err, "out of memory writing pages %llu+%u: tenant "
                        "'%s' uses %llu of %llu bytes, or the pool is full",
                        (unsigned long long)r->first, r->count,
                        c->session->tenant->name,
                        (unsigned long long)memcg_usage_bytes(cg),
                        (unsigned long long)memcg_limit_bytes(cg));
    }
    if (err)
        return rpc_fail(ctx, err, "write failed: %s", strerror(-err));
    return 0;
}
