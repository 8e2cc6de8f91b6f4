/* Swap-in off the event loop: a READ whose pages are in the swap file
 * waits for them on a libuv worker, not on the loop thread, so that one
 * tenant's swap-ins do not stall every other tenant's requests.
 *
 * rpc_read asks mm with segment_read_nowait(); when part of the range is
 * in the file, mm hands back a request - new pages allocated, the slots
 * pinned (mm/swap.c) - and the READ is parked here: a worker runs the
 * preadv (mm_swapin_run, one per run of adjacent slots), and back on the
 * loop mm_swapin_done() maps what is still wanted and the READ runs again
 * from the segment lookup on (the segment may have been freed, killed or
 * written meanwhile: whatever the second run finds is the answer).
 * Replies on a connection stay in request order: while its READ waits,
 * the connection parses no further frame and stops reading; the frames
 * behind it are handled once it is answered (conn_swapin_done).  Other
 * connections are served meanwhile.
 *
 * Bounded: a READ needs ceil(count / MM_SWAPIN_BATCH) rounds for its own
 * pages; one that keeps finding pages newly swapped out (reclaim taking
 * what the last round brought in, under a tight memory limit) gets
 * SWAPIN_EXTRA_ROUNDS more and then reads synchronously on the loop, as
 * it does when no worker or no memory for the wait can be had.
 *
 * A connection that closes while its READ waits leaves the wait to finish
 * by itself: the completion still runs mm_swapin_done, which releases
 * the pages and pins, and frees the wait.  The loop does not end while a
 * wait is queued, so every request is done before mm_destroy(). */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SWAPIN_EXTRA_ROUNDS 4

static void swapin_done(uv_work_t *work, int status);

/* A worker: only the pages being read and the swap file are touched. */
static void swapin_work(uv_work_t *work)
{
    struct server_swapin *w = work->data;

    mm_swapin_run(&w->req);
}

static int swapin_queue(struct server_swapin *w)
{
    w->work.data = w;
    return uv_queue_work(w->srv->loop, &w->work, swapin_work, swapin_done);
}

static void swapin_free(struct server_swapin *w)
{
    free(w->buf);
    mm_kfree(w->srv->mm, w);
}

int server_swapin_wait(struct rpc_ctx *ctx, uint64_t segment, uint64_t first,
                       uint32_t count, void *buf)
{
    struct server *srv = ctx->srv;
    struct server_swapin *w = mm_kmalloc(srv->mm, sizeof(*w));
    int err;

    if (!w) {
        mm_swapin_cancel(srv->mm, &srv->swapin_req);
        return -ENOMEM;
    }
    memset(w, 0, offsetof(struct server_swapin, req));
    w->srv = srv;
    w->conn = ctx->conn;
    w->id = ctx->resp.id;
    w->segment = segment;
    w->first = first;
    w->count = count;
    w->max_rounds = (count + MM_SWAPIN_BATCH - 1) / MM_SWAPIN_BATCH +
                    SWAPIN_EXTRA_ROUNDS;
    w->req = srv->swapin_req;
    srv->swapin_req.nr = 0;
    err = swapin_queue(w);
    if (err) {
        log_warn("swap-in: cannot queue a read (%s); reading inline",
                 uv_strerror(err));
        mm_swapin_cancel(srv->mm, &w->req);
        mm_kfree(srv->mm, w);
        return -EAGAIN;
    }
    w->buf = buf;
    ctx->conn->swapin = w;
    ctx->deferred = true;
    return 0;
}

void server_swapin_conn_closed(struct server_swapin *w)
{
    w->conn = NULL;
}

/* The READ again, its pages read: 0 or an errno as segment_read gives,
 * or -EINPROGRESS with the next round queued. */
static int swapin_reread(struct server_swapin *w)
{
    struct mm *mm = w->srv->mm;
    struct segment *seg = session_segment_find(w->conn->session, w->segment);
    int err;

    if (!seg)
        return -ENOENT;
    if (++w->rounds >= w->max_rounds)
        return segment_read(seg, w->first, w->count, w->buf);
    err = segment_read_nowait(seg, w->first, w->count, w->buf, &w->req);
    log_debug("conn %llu: READ %llu of %u pages: round %u of %u: %s, %u reads",
              (unsigned long long)w->conn->id, (unsigned long long)w->id,
              w->count, w->rounds, w->max_rounds,
              err == -EINPROGRESS ? "waits again" : "done", w->req.nr);
    if (err != -EINPROGRESS)
        return err;
    err = swapin_queue(w);
    if (err == 0)
        return -EINPROGRESS;
    mm_swapin_cancel(mm, &w->req);
    return segment_read(seg, w->first, w->count, w->buf);
}

static void swapin_answer(struct server_swapin *w, int err)
{
    struct rpc_ctx ctx;

    rpc_ctx_init(&ctx, w->conn, w->id);
    if (err == -ENOENT)
        err = rpc_fail(&ctx, err, "no segment %llu in this session",
                       (unsigned long long)w->segment);
    else
        err = rpc_read_finish(&ctx, w->segment, w->count, w->buf, err);
    w->buf = NULL;                      /* the reply's, or freed */
    rpc_reply(&ctx, err, "Read");
}

static void swapin_done(uv_work_t *work, int status)
{
    struct server_swapin *w = work->data;
    struct mm *mm = w->srv->mm;
    struct conn *c = w->conn;
    int err;

    if (status) {                       /* never ran: nothing was read */
        mm_swapin_cancel(mm, &w->req);
        err = 0;
    } else {
        err = mm_swapin_done(mm, &w->req);
    }
    if (!c) {
        swapin_free(w);
        return;
    }
    if (!err)
        err = swapin_reread(w);
    if (err == -EINPROGRESS)
        return;
    swapin_answer(w, err);
    c->swapin = NULL;
    swapin_free(w);
    conn_swapin_done(c);
}
