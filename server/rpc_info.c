/* Stat and Info: what a tenant's client and an operator can read.  Stat is
 * the tenant's memory cgroup as cgroup v1 names it plus the session's
 * segment count; Info is the server-wide picture (Redis INFO): pool, zones
 * with their buddy free lists, and the server's counters. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

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

/* One allocation for the zone messages, their pointers and free lists. */
struct info_scratch {
    Rmem__ZoneInfo zones[MM_MAX_ZONES];
    Rmem__ZoneInfo *zone_ptrs[MM_MAX_ZONES];
    uint64_t free_per_order[MM_MAX_ZONES][MM_NR_ORDERS];
    Rmem__MemZoneStat zone_stats[MM_MAX_ZONES];        /* rpc_mem.c fills */
    Rmem__MemZoneStat *zone_stat_ptrs[MM_MAX_ZONES];
};

int rpc_info(struct rpc_ctx *ctx)
{
    struct server *srv = ctx->srv;
    Rmem__InfoReply *r = &ctx->reply.info;
    struct info_scratch *sc;
    struct mm_stat st;
    unsigned nz = 0;

    sc = mm_kvzalloc(srv->mm, sizeof(*sc));
    if (!sc)
        return rpc_fail(ctx, -ENOMEM, "no memory for the info reply");
    ctx->scratch = sc;
    mm_get_stat(srv->mm, &st);

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

    for (unsigned z = 0; z < st.zones && nz < MM_MAX_ZONES; z++) {
        struct mm_zone_info zi;
        Rmem__ZoneInfo *m = &sc->zones[nz];

        if (mm_zone_info(srv->mm, z, &zi))
            continue;
        rmem__zone_info__init(m);
        m->node = (uint32_t)zi.node;
        m->name = (char *)zi.name;
        for (unsigned o = 0; o < MM_NR_ORDERS; o++)
            sc->free_per_order[nz][o] = zi.nr_free[o];
        m->n_free_per_order = MM_NR_ORDERS;
        m->free_per_order = sc->free_per_order[nz];
        m->managed_pages = zi.managed_pages;
        m->free_pages = zi.free_pages;
        m->min_pages = zi.min_pages;
        m->low_pages = zi.low_pages;
        m->high_pages = zi.high_pages;
        rpc_mem_zone_stat(&zi, &sc->zone_stats[nz]);
        sc->zone_stat_ptrs[nz] = &sc->zone_stats[nz];
        sc->zone_ptrs[nz++] = m;
    }
    r->n_zones = nz;
    r->zones = sc->zone_ptrs;
    r->n_zone_stats = nz;
    r->zone_stats = sc->zone_stat_ptrs;
    rpc_mem_info(srv, r);
    ctx->resp.body_case = RMEM__RESPONSE__BODY_INFO;
    ctx->resp.info = r;
    return 0;
}
