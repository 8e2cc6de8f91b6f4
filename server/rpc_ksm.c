/* KSM RPCs: a tenant marks its own segments mergeable or not (madvise's
 * MADV_MERGEABLE / MADV_UNMERGEABLE, for the whole segment the range lies
 * in), the admin role switches KSM (/sys/kernel/mm/ksm/run) and reads its
 * counters.  The counters are server-wide, so only the admin sees them:
 * a tenant learning how much merges elsewhere is the very side channel
 * that keeps merging within a tenant (a tenant's own figure is
 * ksm_merging_pages in its memory.stat). */
#include "internal.h"

#include <errno.h>
#include <string.h>

int rpc_ksm_madvise(struct rpc_ctx *ctx)
{
    const Rmem__KsmMadvise *m = ctx->req->ksm_madvise;
    struct segment *seg = session_segment_find(ctx->conn->session, m->segment);
    int err;

    if (!seg)
        return rpc_fail(ctx, -ENOENT, "no segment %llu in this session",
                        (unsigned long long)m->segment);
    err = mm_ksm_madvise(seg, m->mergeable);
    if (err)
        return rpc_fail(ctx, err, "%s of segment %llu: %s",
                        m->mergeable ? "MADV_MERGEABLE" : "MADV_UNMERGEABLE",
                        (unsigned long long)m->segment, strerror(-err));
    return 0;
}

static int reply_info(struct rpc_ctx *ctx)
{
    Rmem__KsmInfoReply *r = &ctx->reply.ksm_info;
    struct mm_ksm_info ki;

    mm_ksm_info(ctx->srv->mm, &ki);
    rmem__ksm_info_reply__init(r);
    r->run = ctx->srv->ksm.run;
    r->pages_to_scan = ctx->srv->cfg->ksm_pages_to_scan;
    r->sleep_millisecs = ctx->srv->cfg->ksm_sleep_ms;
    r->max_page_sharing = ki.max_page_sharing;
    r->pages_shared = ki.pages_shared;
    r->pages_sharing = ki.pages_sharing;
    r->pages_unshared = ki.pages_unshared;
    r->pages_volatile = ki.pages_volatile;
    r->pages_skipped = ki.pages_skipped;
    r->pages_scanned = ki.pages_scanned;
    r->full_scans = ki.full_scans;
    r->general_profit = ki.general_profit;
    r->pages_swapped = ki.pages_swapped;
    r->mergeable_segments = ki.mergeable_segments;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_KSM_INFO;
    ctx->resp.ksm_info = r;
    return 0;
}

int rpc_ksm_set(struct rpc_ctx *ctx)
{
    unsigned run = ctx->req->ksm_set->run;
    int err;

    if (run > KSM_RUN_UNMERGE)
        return rpc_fail(ctx, -EINVAL, "ksm run %u: 0 (stop), 1 (run) or 2 "
                        "(unmerge all) only", run);
    err = server_ksm_set_run(ctx->srv, run);
    if (err)
        return rpc_fail(ctx, err, "ksm unmerge: %s; pages still merged stay so",
                        strerror(-err));
    return reply_info(ctx);
}

int rpc_ksm_info(struct rpc_ctx *ctx)
{
    return reply_info(ctx);
}
