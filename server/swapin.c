/* Swap-in off the event loop: a READ whose pages are in the swap file
 * waits for them on a libuv worker, not on the loop thread, so that one
 * tenant's swap-ins do not stall every other tenant's requests.
 *
 * rpc_read asks mm with segment_read_nowait(); when part of the range is
 * in the file, mm hands back a request - new pages allocated, the slots
 * pinned (mm/swap.c) - which a job takes over: a worker runs the preadv
 * (mm_swapin_run, one per run of adjacent slots), and back on the loop
 * mm_swapin_done() maps what is still wanted.  The READ itself is parked
 * (park.c) and runs again from the start once its pages are in: the
 * segment may have been freed, killed or written meanwhile, and whatever
 * that run finds is the answer.
 *
 * Mapping a page charges it, and a charge at the tenant's limit reclaims:
 * that reclaim queues its writes for a worker too (swap.c), and a charge
 * that must wait for them (-EAGAIN) frees the page it read - the slot
 * still holds it - and leaves the READ parked on the write-out instead.
 *
 * A job belongs to no connection: one that closes while its READ waits
 * only leaves the park list, and the job, finishing by itself, releases
 * its pages and pins.  The loop does not end while a job is queued, so
 * every request is done before mm_destroy(). */
#include "internal.h"

#include <errno.h>
#include <string.h>

/* A worker: only the pages being read and the swap file are touched. */
static void swapin_work(uv_work_t *work)
{
    struct server_swapin *w = work->data;

    mm_swapin_run(&w->req);
}

static void swapin_done(uv_work_t *work, int status)
{
    struct server_swapin *w = work->data;
    struct server *srv = w->srv;
    const void *on = NULL;
    int err = 0;

    if (status) {                       /* never ran: nothing was read */
        mm_swapin_cancel(srv->mm, &w->req);
    } else {
        struct server_writeout *job = server_reclaim_begin(srv, MM_RECLAIM_ASYNC);

        err = mm_swapin_done(srv->mm, &w->req);
        on = server_reclaim_end(srv, job);
    }
    if (err == -EAGAIN && on)
        server_park_move(srv, w, on);
    else
        server_park_wake(srv, w, false, err == -EAGAIN ? -ENOMEM : err);
    mm_kfree(srv->mm, w);
}

int server_swapin_start(struct rpc_ctx *ctx)
{
    struct server *srv = ctx->srv;
    struct server_swapin *w = mm_kmalloc(srv->mm, sizeof(*w));
    int err;

    if (!w) {
        mm_swapin_cancel(srv->mm, &srv->swapin_req);
        return -ENOMEM;
    }
    w->srv = srv;
    w->req = srv->swapin_req;
    srv->swapin_req.nr = 0;
    w->work.data = w;
    err = uv_queue_work(srv->loop, &w->work, swapin_work, swapin_done);
    if (err) {
        log_warn("swap-in: cannot queue a read (%s)", uv_strerror(err));
        mm_swapin_cancel(srv->mm, &w->req);
        mm_kfree(srv->mm, w);
        return err;
    }
    server_park(ctx, w);
    return 0;
}
