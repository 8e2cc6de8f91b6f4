/* SlabInfo and the memory-by-use part of Info: what rmemctl's slabinfo,
 * meminfo, zoneinfo and numastat print.  SlabInfo lists every slab cache
 * as /proc/slabinfo does; the Info fields 20-29 and 120-129 add the
 * pool's pages by use (data, tables, slab, kvmalloc runs, the LRU lists)
 * per zone and in total, with the numastat counters each zone keeps.
 * MemAvailable is Linux's si_mem_available() reduced to what a pool has:
 * free pages above the zones' high watermarks, plus empty slabs that can
 * be handed back at once.  Named segments are rmem's shared memory, so
 * their pages are Shmem (and Cached, as Linux counts shmem there); the
 * rest of the data pages are AnonPages.  Field 34 is the swap cache
 * (SwapCached): data pages still holding the slot they came from. */
#include "internal.h"

#include <errno.h>

int rpc_slab_info(struct rpc_ctx *ctx)
{
    struct mm *mm = ctx->srv->mm;
    Rmem__SlabInfoReply *r = &ctx->reply.slab_info;
    struct mm_slab_info si;
    Rmem__SlabCacheInfo *caches, **ptrs;
    unsigned n = 0;
    void *buf;

    while (mm_slab_info(mm, n, &si) == 0)
        n++;
    buf = mm_kvzalloc(mm, (size_t)n * (sizeof(*caches) + sizeof(*ptrs)));
    if (!buf)
        return rpc_fail(ctx, -ENOMEM, "no memory for the slabinfo reply");
    ctx->scratch = buf;
    caches = buf;
    ptrs = (Rmem__SlabCacheInfo **)(caches + n);
    for (unsigned i = 0; i < n; i++) {
        Rmem__SlabCacheInfo *m = &caches[i];

        if (mm_slab_info(mm, i, &si))
            break;
        rmem__slab_cache_info__init(m);
        /* The name lives in the cache, which outlives the reply. */
        m->name = (char *)si.name;
        m->active_objs = si.active_objs;
        m->num_objs = si.num_objs;
        m->objsize = si.objsize;
        m->objperslab = si.objperslab;
        m->pagesperslab = si.pagesperslab;
        m->active_slabs = si.active_slabs;
        m->num_slabs = si.num_slabs;
        ptrs[i] = m;
    }
    rmem__slab_info_reply__init(r);
    r->n_caches = n;
    r->caches = ptrs;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_SLAB_INFO;
    ctx->resp.slab_info = r;
    return 0;
}

void rpc_mem_zone_stat(const struct mm_zone_info *zi, Rmem__MemZoneStat *m)
{
    rmem__mem_zone_stat__init(m);
    m->node = (uint32_t)zi->node;
    m->name = (char *)zi->name;
    m->start_pfn = zi->start_pfn;
    m->data_pages = zi->data_pages;
    m->table_pages = zi->table_pages;
    m->slab_pages = zi->slab_pages;
    m->slab_reclaimable_pages = zi->slab_reclaimable_pages;
    m->numa_hit = zi->numa_hit;
    m->numa_miss = zi->numa_miss;
    m->numa_foreign = zi->numa_foreign;
    m->interleave_hit = zi->interleave_hit;
    m->local_node = zi->local_node;
    m->other_node = zi->other_node;
}

void rpc_mem_info(struct server *srv, Rmem__InfoReply *r)
{
    struct mm_stat st;
    uint64_t high = 0, avail;

    mm_get_stat(srv->mm, &st);
    for (unsigned z = 0; z < st.zones; z++) {
        struct mm_zone_info zi;

        if (mm_zone_info(srv->mm, z, &zi) == 0)
            high += zi.high_pages;
    }
    avail = st.free_pages > high ? st.free_pages - high : 0;
    avail += st.slab_reclaimable_pages;
    r->data_bytes = st.data_pages * MM_PAGE_SIZE;
    r->slab_bytes = st.slab_pages * MM_PAGE_SIZE;
    r->slab_reclaimable_bytes = st.slab_reclaimable_pages * MM_PAGE_SIZE;
    r->available_bytes = avail * MM_PAGE_SIZE;
    r->active_anon_bytes = st.active_anon_pages * MM_PAGE_SIZE;
    r->inactive_anon_bytes = st.inactive_anon_pages * MM_PAGE_SIZE;
    r->active_file_bytes = st.active_file_pages * MM_PAGE_SIZE;
    r->inactive_file_bytes = st.inactive_file_pages * MM_PAGE_SIZE;
    r->shmem_bytes = r->active_file_bytes + r->inactive_file_bytes;
    r->anon_bytes = r->data_bytes - r->shmem_bytes;
    r->writeback_bytes = st.writeback_pages * MM_PAGE_SIZE;
    r->swap_cached_bytes = st.swapcache_pages * MM_PAGE_SIZE;
    r->kvmalloc_bytes = st.kvmalloc_pages * MM_PAGE_SIZE;
    r->kvmalloc_heap_bytes = st.kvmalloc_heap_bytes;
}
