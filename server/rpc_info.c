/* Stat and Info: what a tenant's client and an operator can read.  Stat is
 * the tenant's memory cgroup as cgroup v1 names it plus the session's
 * segment count; Info is the server-wide picture (Redis INFO): pool, zones
 * with their buddy free lists, and the server's counters. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rpc_stat(struct rpc_ctx *ctx)
{
    struct session *s = ctx->conn->session;
    struct memcg *cg = s->tenant->memcg;
    Rmem__StatReply *r = &ctx->reply.stat;

    rmem__stat_reply__init(r);
    r->usage = memcg_usage_bytes(cg);
    r->limit = memcg_limit_bytes(cg);
    r->max_usage = memcg_max_usage_bytes(cg);
    r->failcnt = memcg_failcnt(cg);
    r->segments = s->segments.len;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_STAT;
    ctx->resp.stat = r;
    return 0;
}

/* A zone's messages and free lists; the reply's scratch holds one per
 * zone, then the two pointer arrays, sized for the zones there are so
 * that it is one kmalloc object. */
struct info_zone {
    Rmem__ZoneInfo zone;
    Rmem__MemZoneStat stat;             /* rpc_mem.c fills */
    uint64_t free_per_order[MM_NR_ORDERS];
};

int rpc_info(struct rpc_ctx *ctx)
{
    struct server *srv = ctx->srv;
    Rmem__InfoReply *r = &ctx->reply.info;
    struct info_zone *iz;
    Rmem__ZoneInfo **zone_ptrs;
    Rmem__MemZoneStat **stat_ptrs;
    struct mm_stat st;
    unsigned nz = 0;

    mm_get_stat(srv->mm, &st);
    iz = mm_kvzalloc(srv->mm, st.zones * (sizeof(*iz) + sizeof(*zone_ptrs) +
                                          sizeof(*stat_ptrs)));
    if (!iz)
        return rpc_fail(ctx, -ENOMEM, "no memory for the info reply");
    ctx->scratch = iz;
    zone_ptrs = (Rmem__ZoneInfo **)(iz + st.zones);
    stat_ptrs = (Rmem__MemZoneStat **)(zone_ptrs + st.zones);
    mm_get_stat(srv->mm, &st);          /* the scratch may have taken a slab */

    rmem__info_reply__init(r);
    r->version = (char *)RMEMD_VERSION;
    r->uptime_s = (uv_hrtime() - srv->start_ns) / 1000000000u;
    r->page_size = RMEM_PAGE_SIZE;
    r->pool_bytes = st.total_pages * MM_PAGE_SIZE;
    r->free_bytes = st.free_pages * MM_PAGE_SIZE;
    r->used_bytes = (st.total_pages - st.free_pages) * MM_PAGE_SIZE;
    r->table_bytes = st.table_pages * MM_PAGE_SIZE;
    r->numa_nodes = st.numa_nodes;
    r->tenants = srv->ntenants;
    r->segments = st.segments;
    r->connections = srv->stats[SERVER_STAT_connections];
    r->total_connections = srv->stats[SERVER_STAT_total_connections];
    r->requests = srv->stats[SERVER_STAT_requests];
    r->pages_read = srv->stats[SERVER_STAT_pages_read];
    r->pages_written = srv->stats[SERVER_STAT_pages_written];
    r->bytes_in = srv->stats[SERVER_STAT_bytes_in];
    r->bytes_out = srv->stats[SERVER_STAT_bytes_out];
    r->bad_frames = srv->stats[SERVER_STAT_bad_frames];
    rpc_swap_fill_info(srv, r);

    for (unsigned z = 0; z < st.zones; z++) {
        struct mm_zone_info zi;
        Rmem__ZoneInfo *m = &iz[nz].zone;

        if (mm_zone_info(srv->mm, z, &zi))
            continue;
        rmem__zone_info__init(m);
        m->node = (uint32_t)zi.node;
        m->name = (char *)zi.name;
        for (unsigned o = 0; o < MM_NR_ORDERS; o++)
            iz[nz].free_per_order[o] = zi.nr_free[o];
        m->n_free_per_order = MM_NR_ORDERS;
        m->free_per_order = iz[nz].free_per_order;
        m->managed_pages = zi.managed_pages;
        m->free_pages = zi.free_pages;
        m->min_pages = zi.min_pages;
        m->low_pages = zi.low_pages;
        m->high_pages = zi.high_pages;
        rpc_mem_zone_stat(&zi, &iz[nz].stat);
        stat_ptrs[nz] = &iz[nz].stat;
        zone_ptrs[nz++] = m;
    }
    r->n_zones = nz;
    r->zones = zone_ptrs;
    r->n_zone_stats = nz;
    r->zone_stats = stat_ptrs;
    rpc_mem_info(srv, r);
    if (ctx->req->info->anon_huge) {
        int err = mm_anon_huge_bytes(srv->mm, &r->anon_huge_bytes);

        if (err)
            return rpc_fail(ctx, err, "cannot read /proc/self/smaps: %s",
                            strerror(-err));
    }
    ctx->resp.body_case = RMEM__RESPONSE__BODY_INFO;
    ctx->resp.info = r;
    return 0;
}
