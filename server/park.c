/* Requests parked on swap I/O: a request that needs the swap file - its
 * pages read in (swapin.c), or pages written out before it can have new
 * ones (direct reclaim, swap.c) - waits for a libuv worker, not on the loop
 * thread, so that one tenant's swap traffic does not stall the others.
 *
 * The design choice: a parked request is run again rather than resumed
 * from saved state.  Its frame stays first in the connection's receive
 * buffer; the connection parses no later frame and stops reading (so
 * replies keep their requests' order), and when the I/O it waits for is
 * done, conn_park_done() handles the frame anew: segment looked up again,
 * checked again, its pages read again - a READ's answer is what the last
 * run finds.  A WRITE keeps one number, the pages it has written
 * (park_progress), and skips them: its pages are whole, so nothing else
 * of it can go stale.  A connection that closes while parked leaves
 * nothing to free here: it only leaves the list, and the I/O finishes by
 * itself (its job owns the pages and pins, and is freed by its own
 * completion).
 *
 * What a request waits for is an address: its swap-in job, its write-out
 * job, or server_park_any - any write-out in flight, when direct reclaim
 * found nothing to write but writeback under way will free pages (Linux's
 * reclaim_throttle).  Handlers bound their rounds (conn's park_rounds)
 * and then stop waiting: see rpc_read and rpc_write.  An error from the
 * I/O (a failed swap-in) is kept for the run that follows to answer. */
#include "internal.h"

#include <errno.h>

const char server_park_any;

void server_park(struct rpc_ctx *ctx, const void *on)
{
    struct conn *c = ctx->conn;

    struct conn **p = &c->srv->parked;

    ctx->deferred = true;
    c->park_on = on;
    c->park_next = NULL;
    while (*p)                          /* oldest first when woken */
        p = &(*p)->park_next;
    *p = c;
}

static void unlink_conn(struct conn *c)
{
    for (struct conn **p = &c->srv->parked; *p; p = &(*p)->park_next) {
        if (*p == c) {
            *p = c->park_next;
            break;
        }
    }
    c->park_next = NULL;
}

void server_park_wake(struct server *srv, const void *on, bool writeout,
                      int err)
{
    struct conn *woken = NULL, **tail = &woken;
    bool any = writeout && on != &server_park_any;

    /* Taken off first: a request run again may park again at once. */
    for (struct conn **p = &srv->parked; *p;) {
        struct conn *c = *p;

        if (c->park_on == on || (any && c->park_on == &server_park_any)) {
            *p = c->park_next;
            c->park_next = NULL;
            *tail = c;
            tail = &c->park_next;
        } else {
            p = &c->park_next;
        }
    }
    while (woken) {
        struct conn *c = woken;

        woken = c->park_next;
        c->park_next = NULL;
        c->park_on = NULL;
        c->park_err = err;
        c->park_rounds++;
        conn_park_done(c);
    }
}

void server_park_move(struct server *srv, const void *from, const void *to)
{
    for (struct conn *c = srv->parked; c; c = c->park_next)
        if (c->park_on == from)
            c->park_on = to;
}

void server_park_conn_closed(struct conn *c)
{
    if (c->park_on)
        unlink_conn(c);
    c->park_on = NULL;
}
