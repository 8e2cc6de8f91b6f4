/* numa.c - the pool: one arena per NUMA node, one zone per arena.
 *
 * The pool is split over the nodes by policy (interleave: evenly; local:
 * all on rmemd's node; bind: evenly over the nodes of a mask), in whole
 * max-order blocks so that every zone is a whole number of buddy blocks.
 * Each arena has a single zone, "Normal": there is no DMA or highmem here.
 *
 * Allocation (mm_alloc_pages, Linux's __alloc_pages) starts at the
 * preferred zone (the local node's; for interleave the next zone in turn)
 * and falls back to the others, first keeping every zone above its low
 * watermark, then above min.  The reserve below min is for page-table
 * and slab pages only: a write that has its data page must not fail for
 * want of the table page to map it, a full pool must not refuse the
 * connection that would free it, and reclaim must not need memory to free
 * memory.  Optional allocations (swap readahead) go down to min like data,
 * but their callers never reclaim for them; so do kvmalloc's runs, whose
 * caller takes the C heap instead.  Watermarks are computed as
 * Linux does (see set_watermarks).
 * Where an allocation lands is counted per zone as numastat shows it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

#define BLOCK_BYTES ((uint64_t)MAX_ORDER_NR_PAGES * MM_PAGE_SIZE)

static int topo_index_of(const struct numa_topology *topo, int node)
{
    for (unsigned i = 0; i < topo->nr_nodes; i++)
        if (topo->node_ids[i] == node)
            return (int)i;
    return -1;
}

static bool node_in_mask(uint64_t mask, int node)
{
    return node >= 0 && node < 64 && (mask >> node & 1);
}

/* node_pages[i] receives the pages of topo->node_ids[i]; the sum is the
 * pool rounded down to whole max-order blocks. */
int numa_split_pool(uint64_t pool_bytes, const struct mm_config *cfg,
                    const struct numa_topology *topo, uint64_t *node_pages)
{
    uint64_t blocks = pool_bytes / BLOCK_BYTES;
    bool eligible[MM_MAX_ZONES] = { false };
    unsigned nr_eligible = 0, k = 0;
    int local;

    if (blocks == 0 || topo->nr_nodes == 0 || topo->nr_nodes > MM_MAX_ZONES)
        return -EINVAL;
    switch (cfg->policy) {
    case MM_NUMA_INTERLEAVE:
        for (unsigned i = 0; i < topo->nr_nodes; i++)
            eligible[i] = true;
        break;
    case MM_NUMA_LOCAL:
        local = topo_index_of(topo, topo->local_node);
        eligible[local >= 0 ? local : 0] = true;
        break;
    case MM_NUMA_BIND:
        for (unsigned i = 0; i < topo->nr_nodes; i++)
            eligible[i] = node_in_mask(cfg->bind_mask, topo->node_ids[i]);
        break;
    default:
        return -EINVAL;
    }
    for (unsigned i = 0; i < topo->nr_nodes; i++)
        nr_eligible += eligible[i];
    if (nr_eligible == 0)
        return -EINVAL;
    /* The first blocks % nr_eligible nodes get one block more. */
    for (unsigned i = 0; i < topo->nr_nodes; i++) {
        node_pages[i] = 0;
        if (!eligible[i])
            continue;
        node_pages[i] = (blocks / nr_eligible + (k < blocks % nr_eligible)) *
                        MAX_ORDER_NR_PAGES;
        k++;
    }
    return 0;
}

static uint64_t int_sqrt(uint64_t x)
{
    uint64_t r = 0;

    for (uint64_t bit = 1ull << 62; bit; bit >>= 2) {
        if (x >= r + bit) {
            x -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
    }
    return r;
}

/* Linux's init_per_zone_wmark_min(): min_free_kbytes = sqrt(16 * KiB of
 * memory), clamped to [128 KiB, 256 MiB]: 4 MiB for 1 GiB, 0.4%, a
 * shrinking fraction as memory grows. */
uint64_t numa_min_free_pages(uint64_t total_pages)
{
    uint64_t kbytes = total_pages * (MM_PAGE_SIZE / 1024);
    uint64_t min_kbytes = int_sqrt(kbytes * 16);

    if (min_kbytes < 128)
        min_kbytes = 128;
    if (min_kbytes > 262144)
        min_kbytes = 262144;
    return min_kbytes / (MM_PAGE_SIZE / 1024);
}

/* Linux's __setup_per_zone_wmarks(): each zone gets its share of min by
 * size; low = min * 5/4 and high = min * 3/2.  Background reclaim
 * (mm_background_reclaim) wakes below low and runs until high; ordinary
 * allocations stop at min. */
static void set_watermarks(struct mm *mm)
{
    uint64_t min_pages = numa_min_free_pages(mm->nr_pages);

    for (unsigned i = 0; i < mm->nr_zones; i++) {
        struct zone *zone = &mm->zones[i];
        uint64_t min = min_pages * zone->managed_pages / mm->nr_pages;

        zone->watermark[WMARK_MIN] = min;
        zone->watermark[WMARK_LOW] = min + min / 4;
        zone->watermark[WMARK_HIGH] = min + min / 2;
    }
}

static void unmap_arenas(struct mm *mm, unsigned nr)
{
    for (unsigned i = 0; i < nr; i++) {
        buddy_fini_zone(&mm->zones[i]);
        os_arena_unmap(mm->zones[i].base,
                       mm->zones[i].managed_pages * MM_PAGE_SIZE);
    }
}

static int init_zones(struct mm *mm, const uint64_t *node_pages)
{
    pfn_t start = 0;
    unsigned z = 0;
    int err;

    for (unsigned i = 0; i < mm->topo.nr_nodes; i++) {
        struct zone *zone;

        if (!node_pages[i])
            continue;
        zone = &mm->zones[z];
        zone->mm = mm;
        zone->name = "Normal";
        zone->node = mm->topo.node_ids[i];
        zone->id = (uint8_t)z;
        zone->start_pfn = start;
        zone->managed_pages = node_pages[i];
        err = os_arena_map(node_pages[i] * MM_PAGE_SIZE, zone->node,
                           mm->topo.bind_memory, (void **)&zone->base);
        if (err)
            goto err_unmap_arenas;
        if (!mm->thp_err)
            mm->thp_err = os_arena_advise_huge(zone->base,
                                               node_pages[i] * MM_PAGE_SIZE);
        err = buddy_init_zone(zone);
        if (err) {
            os_arena_unmap(zone->base, node_pages[i] * MM_PAGE_SIZE);
            goto err_unmap_arenas;
        }
        start += (pfn_t)node_pages[i];
        z++;
    }
    return 0;

err_unmap_arenas:
    unmap_arenas(mm, z);
    return err;
}

int mm_create_topology(const struct mm_config *cfg,
                       const struct numa_topology *topo, struct mm **out)
{
    uint64_t node_pages[MM_MAX_ZONES];
    struct mm *mm;
    int err;

    if (!cfg || !topo || !out)
        return -EINVAL;
    err = numa_split_pool(cfg->pool_bytes, cfg, topo, node_pages);
    if (err)
        return err;
    mm = calloc(1, sizeof(*mm));
    if (!mm)
        return -ENOMEM;
    mm->cfg = *cfg;
    mm->topo = *topo;
    idr_init(&mm->segments, mm);
    idr_init(&mm->memcgs, mm);
    idr_init_fixed(&mm->slab_caches, mm->slab_cache_slots, SLAB_MAX_CACHES);
    for (unsigned i = 0; i < topo->nr_nodes; i++) {
        mm->nr_pages += node_pages[i];
        mm->nr_zones += node_pages[i] != 0;
    }
    err = -EINVAL;
    if (mm->nr_pages >= MM_MAX_PFNS)
        goto err_free_mm;
    err = -ENOMEM;
    mm->zones = calloc(mm->nr_zones, sizeof(*mm->zones));
    if (!mm->zones)
        goto err_free_mm;
    mm->memmap = calloc(mm->nr_pages, sizeof(*mm->memmap));
    if (!mm->memmap)
        goto err_free_zones;
    err = init_zones(mm, node_pages);
    if (err)
        goto err_free_memmap;
    set_watermarks(mm);
    err = slab_init(mm);
    if (err)
        goto err_unmap_arenas;
    *out = mm;
    return 0;

err_unmap_arenas:
    unmap_arenas(mm, mm->nr_zones);
err_free_memmap:
    free(mm->memmap);
err_free_zones:
    free(mm->zones);
err_free_mm:
    free(mm);
    return err;
}

int mm_create(const struct mm_config *cfg, struct mm **out)
{
    struct numa_topology topo;
    int err = os_numa_topology(&topo);

    return err ? err : mm_create_topology(cfg, &topo, out);
}

void mm_destroy(struct mm *mm)
{
    uint32_t id;

    if (!mm)
        return;
    if (mm->nr_writeback)
        mm_log(MM_LOG_ERR, "mm: destroyed with %llu pages under writeback; "
               "their batch was never done", (unsigned long long)mm->nr_writeback);
    while ((id = idr_next(&mm->segments, 0)) != 0)
        segment_destroy(idr_find(&mm->segments, id));
    while ((id = idr_next(&mm->memcgs, 0)) != 0)
        memcg_free(idr_find(&mm->memcgs, id));
    ksm_fini(mm);
    swap_destroy_all(mm);
    idr_destroy(&mm->segments);
    idr_destroy(&mm->memcgs);
    slab_fini(mm);
    unmap_arenas(mm, mm->nr_zones);
    free(mm->memmap);
    free(mm->zones);
    free(mm);
}

void mm_get_stat(const struct mm *mm, struct mm_stat *st)
{
    memset(st, 0, sizeof(*st));
    for (unsigned i = 0; i < mm->nr_zones; i++) {
        const struct zone *zone = &mm->zones[i];

        st->total_pages += zone->managed_pages;
        st->free_pages += zone->free_pages;
        st->data_pages += zone->nr_state[PAGE_DATA];
        st->table_pages += zone->nr_state[PAGE_TABLE];
    }
    for (unsigned i = 0; i < mm->nr_zones; i++) {
        uint64_t pages, reclaimable;

        slab_zone_pages(mm, i, &pages, &reclaimable);
        st->slab_pages += pages;
        st->slab_reclaimable_pages += reclaimable;
    }
    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        const struct lru_head *l = ((const struct memcg *)
                                    idr_find(&mm->memcgs, id))->lruvec.lists;

        st->active_anon_pages += l[LRU_ACTIVE_ANON].nr;
        st->inactive_anon_pages += l[LRU_INACTIVE_ANON].nr;
        st->active_file_pages += l[LRU_ACTIVE_FILE].nr;
        st->inactive_file_pages += l[LRU_INACTIVE_FILE].nr;
    }
    st->writeback_pages = mm->nr_writeback;
    st->segments = mm->segments.count;
    st->swapcache_pages = mm->nr_swapcache;
    st->kvmalloc_pages = mm->kvmalloc_pages;
    st->kvmalloc_heap_bytes = mm->kvmalloc_heap_bytes;
    st->numa_nodes = mm->topo.nr_nodes;
    st->zones = mm->nr_zones;
}

int mm_thp_advised(const struct mm *mm)
{
    return mm->thp_err;
}

int mm_anon_huge_bytes(const struct mm *mm, uint64_t *bytes)
{
    struct iovec arenas[MM_MAX_ZONES];

    for (unsigned z = 0; z < mm->nr_zones; z++) {
        arenas[z].iov_base = mm->zones[z].base;
        arenas[z].iov_len = mm->zones[z].managed_pages * MM_PAGE_SIZE;
    }
    return os_anon_huge_bytes(arenas, mm->nr_zones, bytes);
}

int mm_zone_info(const struct mm *mm, unsigned zone_idx, struct mm_zone_info *zi)
{
    const struct zone *zone;

    if (zone_idx >= mm->nr_zones)
        return -ENOENT;
    zone = &mm->zones[zone_idx];
    memset(zi, 0, sizeof(*zi));
    zi->node = zone->node;
    zi->name = zone->name;
    for (unsigned o = 0; o < MM_NR_ORDERS; o++) {
        zi->nr_free[o] = buddy_nr_free(zone, o);
        for (unsigned t = 0; t < MIGRATE_TYPES; t++)
            zi->nr_free_type[t][o] = zone->free_area[o].nr_free[t];
    }
    for (unsigned t = 0; t < MIGRATE_TYPES; t++)
        zi->nr_pageblocks[t] = zone->nr_pageblocks[t];
    zi->managed_pages = zone->managed_pages;
    zi->free_pages = zone->free_pages;
    zi->min_pages = zone->watermark[WMARK_MIN];
    zi->low_pages = zone->watermark[WMARK_LOW];
    zi->high_pages = zone->watermark[WMARK_HIGH];
    zi->numa_hit = zone->numa_stat[NUMA_numa_hit];
    zi->numa_miss = zone->numa_stat[NUMA_numa_miss];
    zi->numa_foreign = zone->numa_stat[NUMA_numa_foreign];
    zi->interleave_hit = zone->numa_stat[NUMA_interleave_hit];
    zi->local_node = zone->numa_stat[NUMA_local_node];
    zi->other_node = zone->numa_stat[NUMA_other_node];
    zi->start_pfn = zone->start_pfn;
    zi->data_pages = zone->nr_state[PAGE_DATA];
    zi->table_pages = zone->nr_state[PAGE_TABLE];
    slab_zone_pages(mm, zone_idx, &zi->slab_pages, &zi->slab_reclaimable_pages);
    return 0;
}

/* Linux's __zone_watermark_ok() without lowmem reserves: the zone must
 * keep mark pages free after handing out 2^order. */
bool zone_watermark_ok(const struct zone *zone, unsigned order, uint64_t mark)
{
    uint64_t want = 1ull << order;

    return zone->free_pages >= want && zone->free_pages - want >= mark;
}

static unsigned preferred_zone(struct mm *mm)
{
    unsigned z;

    if (mm->cfg.policy == MM_NUMA_INTERLEAVE) {
        z = mm->il_next;
        mm->il_next = (mm->il_next + 1) % mm->nr_zones;
        return z;
    }
    for (z = 0; z < mm->nr_zones; z++)
        if (mm->zones[z].node == mm->topo.local_node)
            return z;
    return 0;
}

/* Linux's zone_statistics(). */
static void count_numa(struct mm *mm, struct zone *pref, struct zone *zone)
{
    if (zone == pref) {
        zone->numa_stat[NUMA_numa_hit]++;
        if (mm->cfg.policy == MM_NUMA_INTERLEAVE)
            zone->numa_stat[NUMA_interleave_hit]++;
    } else {
        zone->numa_stat[NUMA_numa_miss]++;
        pref->numa_stat[NUMA_numa_foreign]++;
    }
    if (zone->node == mm->topo.local_node)
        zone->numa_stat[NUMA_local_node]++;
    else
        zone->numa_stat[NUMA_other_node]++;
}

const char *mm_migratetype_name(unsigned type)
{
    static const char *const names[MIGRATE_TYPES] = { "Unmovable", "Movable" };

    return type < MIGRATE_TYPES ? names[type] : NULL;
}

/* Metadata stays put for as long as what it describes; data pages can be
 * swapped out, so they may share pageblocks among themselves only. */
static const enum migratetype purpose_type[] = {
    [ALLOC_DATA] = MIGRATE_MOVABLE,
    [ALLOC_TABLE] = MIGRATE_UNMOVABLE,
    [ALLOC_SLAB] = MIGRATE_UNMOVABLE,
    [ALLOC_OPTIONAL] = MIGRATE_MOVABLE,
    [ALLOC_KVMALLOC] = MIGRATE_UNMOVABLE,
};

/* Zones are tried from the preferred one round the ring: with the one or
 * two nodes of a memory server that is also the distance order. */
int mm_alloc_pages(struct mm *mm, unsigned order, enum alloc_purpose purpose,
                   pfn_t *pfn)
{
    static const int marks[] = { WMARK_LOW, WMARK_MIN, -1 };
    /* Only what reclaim itself needs (tables, slab) digs below min. */
    unsigned nr_passes = purpose == ALLOC_TABLE || purpose == ALLOC_SLAB ?
                         3 : 2;
    unsigned pref;

    if (order > MM_MAX_ORDER)
        return -EINVAL;
    if (should_fail_alloc(mm))
        return -ENOMEM;
    pref = preferred_zone(mm);
    for (unsigned pass = 0; pass < nr_passes; pass++) {
        /* Before the last pass, empty slabs kept for reuse go back: they
         * are the one memory that can be had without writing anything
         * (Linux's shrink_slab, minus the rest of reclaim). */
        if (pass == nr_passes - 1)
            slab_shrink_all(mm);
        for (unsigned k = 0; k < mm->nr_zones; k++) {
            struct zone *zone = &mm->zones[(pref + k) % mm->nr_zones];
            int err;

            if (marks[pass] >= 0 &&
                !zone_watermark_ok(zone, order, zone->watermark[marks[pass]]))
                continue;
            err = buddy_alloc_pages(zone, order, purpose_type[purpose], pfn);
            if (err == -ENOMEM)
                continue;
            if (err)
                return err;
            count_numa(mm, &mm->zones[pref], zone);
            return 0;
        }
    }
    return -ENOMEM;
}

int mm_free_pages(struct mm *mm, pfn_t pfn, unsigned order)
{
    if (!pfn_valid(mm, pfn)) {
        mm_log(MM_LOG_ERR, "mm: free of invalid pfn %u", (unsigned)pfn);
        return -EINVAL;
    }
    return buddy_free_pages(page_zone(mm, pfn_to_page(mm, pfn)), pfn, order);
}

int mm_split_pages(struct mm *mm, pfn_t pfn, uint64_t nr)
{
    if (!pfn_valid(mm, pfn)) {
        mm_log(MM_LOG_ERR, "mm: split of invalid pfn %u", (unsigned)pfn);
        return -EINVAL;
    }
    return buddy_split_pages(page_zone(mm, pfn_to_page(mm, pfn)), pfn, nr);
}
