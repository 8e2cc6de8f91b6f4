/* debug.c - logging, page dumps and mm_check(), the walker of walkers.
 *
 * mm_check() verifies, in this order, and logs the first identity broken:
 *   each zone: buddy_check() (free lists, free blocks, per-state counts)
 *   the id tables of segments, memcgs and slab caches: idr_check()
 *   each segment: segment_check() (PTE -> page reverse map, resident count)
 *   rmap_check(): clone families, each segment's shared entries, each
 *               DATA page (page -> PTEs, refcount == PTEs naming it)
 *   sum of DATA pages' refcounts == sum of segments' resident pages
 *   table pages == sum of segments' table pages
 *   each memcg: usage == DATA pages it owns (a shared page counts once),
 *               reserved == the reservations its segments hold,
 *               swap == swap slots its segments own (a shared slot
 *               once) but those of its pages in the swap cache
 *   pages under writeback (PG_writeback): DATA or discarded (ALLOCATED),
 *               as many as nr_writeback
 *   lru_check(): the LRU lists hold exactly the DATA pages not under
 *               writeback
 *   pages locked for an asynchronous swap-in: ALLOCATED, as many as
 *               nr_swapin
 *   swapcache_check(): PG_swapcache pages, clean, each with a slot of
 *               its own that it owns
 *   swap_check(): slot use counts == swap PTEs of all segments + pages
 *               under writeback + pages in the swap cache; slots owned
 *               by none == discarded ones; slot pins == nr_swapin +
 *               zswap's writebacks in flight
 *   zswap_check(): entries, sizes and memcg sums == the counters
 *   ksm_check(): stable nodes == PG_ksm pages, their mappers' PTEs,
 *               refcounts and slot counts, the KSM counters
 *   each slab cache: slab_cache_check(); their pages == SLAB pages
 *   kvmalloc_check(): every KVMALLOC head lies in a whole run of
 *               blocks; the runs' pages == kvmalloc_pages
 *   total pages == free heads + data + table + slab + kvmalloc heads +
 *               allocated-without-a-role + tails (each page in exactly
 *               one state)
 * It is O(pool pages): for tests and for rmemctl's debug command, not for
 * the write path. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static void log_stderr(int level, const char *msg)
{
    static const char *const names[8] = {
        "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"
    };

    fprintf(stderr, "rmem %s: %s\n", names[level & 7], msg);
}

/* Set once by rmemd at start-up (and by tests around a test), like libuv's
 * allocator hooks. */
static mm_log_fn log_hook = log_stderr;

void mm_set_log(mm_log_fn fn)
{
    log_hook = fn ? fn : log_stderr;
}

void mm_log(int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_hook(level, msg);
}

void dump_page(const struct mm *mm, pfn_t pfn, const char *reason)
{
    static const char *const flag_names[NR_PAGE_FLAGS] = {
#define PAGE_FLAG_NAME(f) #f,
        PAGE_FLAGS(PAGE_FLAG_NAME)
#undef PAGE_FLAG_NAME
    };
    const struct page *page;
    char flags[128] = "";
    size_t len = 0;

    if (!pfn_valid(mm, pfn)) {
        mm_log(MM_LOG_ERR, "mm: pfn %u (invalid): %s", (unsigned)pfn, reason);
        return;
    }
    page = pfn_to_page(mm, pfn);
    for (unsigned f = 0; f < NR_PAGE_FLAGS && len < sizeof(flags); f++)
        if (page->flags & (1u << f))
            len += (size_t)snprintf(flags + len, sizeof(flags) - len, "%s%s",
                                    len ? "|" : "", flag_names[f]);
    mm_log(MM_LOG_ERR, "mm: page %u: %s; state %s flags %s order %u zone %u "
           "refcount %d rmap (%u, %llu) %s %u", (unsigned)pfn, reason,
           page_state_name(page->state), len ? flags : "-", page->order,
           page->zone, page->refcount, page->seg_id,
           (unsigned long long)page_index(page),
           page->state == PAGE_TABLE || page->state == PAGE_SLAB ||
           page->state == PAGE_KVMALLOC ? "nr_used" :
           "memcg", page->memcg_id);
}

static int check_segments(const struct mm *mm, uint64_t *resident,
                          uint64_t *tables, uint64_t *swapped)
{
    *resident = *tables = *swapped = 0;
    for (uint32_t id = idr_next(&mm->segments, 0); id;
         id = idr_next(&mm->segments, id + 1)) {
        const struct segment *seg = idr_find(&mm->segments, id);
        int err = segment_check(seg);

        if (err)
            return err;
        CHECK(seg->id == id, "mm: segment %u filed under id %u", seg->id, id);
        *resident += seg->resident;
        *tables += seg->pt.nr_tables;
        *swapped += seg->swapped;
    }
    return 0;
}

static int check_memcgs(const struct mm *mm)
{
    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        const struct memcg *cg = idr_find(&mm->memcgs, id);
        uint64_t resident = 0, reserved = 0, swapped = 0, nr_segments = 0;
        uint64_t owned = 0, slots, cached;
        int err = memcg_check(cg);

        if (err)
            return err;
        for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
            const struct page *page = pfn_to_page(mm, pfn);

            owned += page->state == PAGE_DATA && page->memcg_id == cg->id;
        }
        for (uint32_t sid = idr_next(&mm->segments, 0); sid;
             sid = idr_next(&mm->segments, sid + 1)) {
            const struct segment *seg = idr_find(&mm->segments, sid);

            if (seg->memcg == cg) {
                resident += seg->resident;
                reserved += seg->reserved;
                swapped += seg->swapped;
                nr_segments++;
            }
        }
        CHECK(resident >= owned,
              "memcg %s: its segments map %llu pages, it owns %llu", cg->name,
              (unsigned long long)resident, (unsigned long long)owned);
        CHECK(cg->usage == owned,
              "memcg %s: usage %llu pages, it owns %llu", cg->name,
              (unsigned long long)cg->usage, (unsigned long long)owned);
        CHECK(cg->reserved == reserved,
              "memcg %s: reserved %llu pages, its segments hold %llu", cg->name,
              (unsigned long long)cg->reserved, (unsigned long long)reserved);
        /* A page under writeback owns its slot before it is charged;
         * a page in the swap cache has its slot uncharged. */
        slots = swap_memcg_slots(mm, cg);
        cached = memcg_swapcache_pages(cg);
        CHECK(cg->swap + cg->nr_writeback + cached == slots &&
              swapped + cg->nr_writeback + cached >= slots,
              "memcg %s: swap %llu pages + %llu under writeback + %llu in the "
              "swap cache, its segments own %llu slots and name %llu", cg->name,
              (unsigned long long)cg->swap, (unsigned long long)cg->nr_writeback,
              (unsigned long long)cached, (unsigned long long)slots,
              (unsigned long long)swapped);
        CHECK(cg->nr_segments == nr_segments,
              "memcg %s: nr_segments %llu, %llu segments charge it", cg->name,
              (unsigned long long)cg->nr_segments,
              (unsigned long long)nr_segments);
    }
    return 0;
}

int mm_check(const struct mm *mm)
{
    uint64_t count[NR_PAGE_STATES] = { 0 };
    uint64_t resident, tables, swapped, listed, slots, mapped, total = 0;
    uint64_t data_wb = 0, orphans = 0, orphan_slots, locked = 0, pins;
    int err;

    if (!mm)
        return -EINVAL;
    for (unsigned z = 0; z < mm->nr_zones; z++) {
        err = buddy_check(&mm->zones[z]);
        if (err)
            return err;
        for (unsigned s = 0; s < NR_PAGE_STATES; s++)
            count[s] += mm->zones[z].nr_state[s];
        total += mm->zones[z].managed_pages;
    }
    CHECK(total == mm->nr_pages, "mm: zones manage %llu pages, memmap has %llu",
          (unsigned long long)total, (unsigned long long)mm->nr_pages);
    err = idr_check(&mm->segments);
    if (!err)
        err = idr_check(&mm->memcgs);
    if (!err)
        err = idr_check(&mm->slab_caches);
    if (err)
        return err;
    err = check_segments(mm, &resident, &tables, &swapped);
    if (err)
        return err;
    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);

        if (page_test(page, PG_writeback)) {
            CHECK(page->state == PAGE_DATA || page->state == PAGE_ALLOCATED,
                  "mm: page %u under writeback in state %s", (unsigned)pfn,
                  page_state_name(page->state));
            if (page->state == PAGE_DATA)
                data_wb++;
            else
                orphans++;
        }
        if (page_test(page, PG_locked)) {
            CHECK(page->state == PAGE_ALLOCATED && !page_test(page, PG_writeback),
                  "mm: page %u locked for a swap-in in state %s", (unsigned)pfn,
                  page_state_name(page->state));
            locked++;
        }
    }
    CHECK(locked == mm->nr_swapin, "mm: %llu pages locked for swap-in, "
          "nr_swapin %llu", (unsigned long long)locked,
          (unsigned long long)mm->nr_swapin);
    CHECK(data_wb + orphans == mm->nr_writeback,
          "mm: %llu pages under writeback (%llu discarded), nr_writeback %llu",
          (unsigned long long)(data_wb + orphans), (unsigned long long)orphans,
          (unsigned long long)mm->nr_writeback);
    err = rmap_check(mm, &mapped);
    if (err)
        return err;
    CHECK(mapped == resident,
          "mm: data pages mapped %llu times, segments map %llu",
          (unsigned long long)mapped, (unsigned long long)resident);
    CHECK(count[PAGE_TABLE] == tables,
          "mm: %llu table pages, segments have %llu",
          (unsigned long long)count[PAGE_TABLE], (unsigned long long)tables);
    err = check_memcgs(mm);
    if (err)
        return err;
    err = slab_check_all(mm, count[PAGE_SLAB]);
    if (err)
        return err;
    err = lru_check(mm, &listed);
    if (err)
        return err;
    CHECK(listed + data_wb == count[PAGE_DATA], "mm: %llu pages on LRU lists "
          "and %llu under writeback, %llu data pages", (unsigned long long)listed,
          (unsigned long long)data_wb, (unsigned long long)count[PAGE_DATA]);
    err = swap_check(mm, &slots, &orphan_slots, &pins);
    if (err)
        return err;
    CHECK(pins == mm->nr_swapin + mm->zswap.nr_wb_io, "mm: swap slots pinned "
          "%llu times, %llu pages being swapped in, %llu zswap writebacks",
          (unsigned long long)pins, (unsigned long long)mm->nr_swapin,
          (unsigned long long)mm->zswap.nr_wb_io);
    err = swapcache_check(mm);
    if (err)
        return err;
    CHECK(slots == swapped + mm->nr_writeback + mm->nr_swapcache &&
          orphan_slots == orphans,
          "mm: swap slots used %llu times (%llu by discarded pages), segments "
          "have %llu swap entries, %llu pages under writeback (%llu discarded), "
          "%llu in the swap cache",
          (unsigned long long)slots, (unsigned long long)orphan_slots,
          (unsigned long long)swapped, (unsigned long long)mm->nr_writeback,
          (unsigned long long)orphans, (unsigned long long)mm->nr_swapcache);
    err = zswap_check(mm);
    if (err)
        return err;
    err = ksm_check(mm);
    if (err)
        return err;
    err = kvmalloc_check(mm, count[PAGE_KVMALLOC]);
    if (err)
        return err;
    CHECK(total == count[PAGE_FREE] + count[PAGE_DATA] + count[PAGE_TABLE] +
                   count[PAGE_SLAB] + count[PAGE_KVMALLOC] +
                   count[PAGE_ALLOCATED] + count[PAGE_TAIL],
          "mm: total %llu != free heads %llu + data %llu + table %llu + "
          "slab %llu + kvmalloc heads %llu + allocated %llu + tail %llu",
          (unsigned long long)total, (unsigned long long)count[PAGE_FREE],
          (unsigned long long)count[PAGE_DATA],
          (unsigned long long)count[PAGE_TABLE],
          (unsigned long long)count[PAGE_SLAB],
          (unsigned long long)count[PAGE_KVMALLOC],
          (unsigned long long)count[PAGE_ALLOCATED],
          (unsigned long long)count[PAGE_TAIL]);
    return 0;
}
