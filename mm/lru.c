/* lru.c - per-memcg active/inactive lists of resident pages.
 *
 * Every DATA page is on exactly one list of its owner memcg's lruvec,
 * linked through page->next/prev (free only while the page is FREE, so the
 * buddy allocator and the LRU share the links), with PG_lru set, and
 * PG_active set iff the list is an active one.  As in Linux, a new page
 * starts at the head of the inactive list; lru_mark_accessed() is the
 * second-chance clock: the first access since the page was last aged sets
 * PG_referenced, a second one on the inactive list promotes it to the
 * active list.  Reclaim (vmscan.c) scans from the tails: a referenced page
 * loses its bit and goes round again, an unreferenced active page is
 * deactivated, an unreferenced inactive page is swapped out.  The active
 * list may be at most as long as the inactive one (lru_inactive_is_low,
 * Linux's inactive_ratio for pools under 1 GiB is 1), which is when
 * reclaim ages it.
 *
 * Pages of named segments (segment_set_file) carry PG_file and use the
 * file pair of lists, the others the anon pair, as Linux splits page cache
 * from anonymous memory; rmem has no backing file, so reclaim swaps both.
 *
 * A page off every list with PG_lru clear while DATA is isolated: under
 * swap I/O, then PG_locked.  page_set_state() refuses to take a page out
 * of DATA while PG_lru or PG_locked is set, so a listed or locked page is
 * never freed.
 *
 * Identities lru_check() verifies, per memcg and list:
 *   list length == nr; links agree both ways; every page is DATA, owned by
 *   this memcg, PG_lru, PG_active iff the list is active, PG_file iff it
 *   is a file list, not PG_locked
 *   sum of nr over all lists == the memcg's usage (its resident pages) */
#include <errno.h>

#include "internal.h"

static const char *const lru_names[NR_LRU_LISTS] = {
    "inactive_anon", "active_anon", "inactive_file", "active_file",
};

static bool lru_is_active(enum lru_list l)
{
    return l == LRU_ACTIVE_ANON || l == LRU_ACTIVE_FILE;
}

void lruvec_init(struct lruvec *lv)
{
    for (unsigned l = 0; l < NR_LRU_LISTS; l++) {
        lv->lists[l].head = lv->lists[l].tail = PFN_NONE;
        lv->lists[l].nr = 0;
    }
}

struct lruvec *page_lruvec(const struct mm *mm, const struct page *page)
{
    struct memcg *cg = idr_find(&mm->memcgs, page->memcg_id);

    return cg ? &cg->lruvec : NULL;
}

/* Linux's folio_lru_list(): the pair by PG_file (a named segment's page,
 * set when the page is listed), the list by PG_active. */
static enum lru_list page_lru_base(const struct page *page)
{
    return page_test(page, PG_file) ? LRU_INACTIVE_FILE : LRU_INACTIVE_ANON;
}

enum lru_list page_lru(const struct page *page)
{
    return page_lru_base(page) + page_test(page, PG_active);
}

enum lru_list page_lru_active(const struct page *page)
{
    return page_lru_base(page) + 1;
}

enum lru_list page_lru_inactive(const struct page *page)
{
    return page_lru_base(page);
}

static void list_add_head(struct mm *mm, struct lru_head *h, pfn_t pfn)
{
    pfn_list_add_head(mm, &h->head, &h->tail, pfn);
    h->nr++;
}

static void list_del(struct mm *mm, struct lru_head *h, pfn_t pfn)
{
    pfn_list_del(mm, &h->head, &h->tail, pfn);
    h->nr--;
}

/* Onto the head of the inactive list of its pair (Linux's lru_cache_add
 * since 5.9: new pages must prove themselves first). */
void lru_add_page(struct mm *mm, struct page *page)
{
    struct lruvec *lv = page_lruvec(mm, page);
    const struct segment *seg;

    if (!lv || page_test(page, PG_lru) || page->state != PAGE_DATA) {
        dump_page(mm, page_to_pfn(mm, page), "lru_add_page: not an unlisted data page");
        return;
    }
    seg = idr_find(&mm->segments, page->seg_id);
    page_clear(page, PG_active | PG_referenced | PG_file);
    if (seg && seg->file)
        page_set(page, PG_file);
    list_add_head(mm, &lv->lists[page_lru_inactive(page)], page_to_pfn(mm, page));
    page_set(page, PG_lru);
}

/* Off its list (isolation or freeing); PG_active/referenced are dropped. */
void lru_del_page(struct mm *mm, struct page *page)
{
    struct lruvec *lv = page_lruvec(mm, page);

    if (!lv || !page_test(page, PG_lru)) {
        dump_page(mm, page_to_pfn(mm, page), "lru_del_page: not on an LRU list");
        return;
    }
    list_del(mm, &lv->lists[page_lru(page)], page_to_pfn(mm, page));
    page_clear(page, PG_lru | PG_active | PG_referenced);
}

/* To the head of list to (its own list: a rotation). */
void lru_move_page(struct mm *mm, struct page *page, enum lru_list to)
{
    struct lruvec *lv = page_lruvec(mm, page);
    pfn_t pfn = page_to_pfn(mm, page);

    if (!lv || !page_test(page, PG_lru)) {
        dump_page(mm, pfn, "lru_move_page: not on an LRU list");
        return;
    }
    list_del(mm, &lv->lists[page_lru(page)], pfn);
    if (lru_is_active(to))
        page_set(page, PG_active);
    else
        page_clear(page, PG_active);
    list_add_head(mm, &lv->lists[to], pfn);
}

/* Linux's mark_page_accessed(): inactive,unreferenced -> inactive,
 * referenced -> active,unreferenced; on the active list it only sets the
 * bit that keeps the page there one more round. */
void lru_mark_accessed(struct mm *mm, struct page *page)
{
    if (page_test(page, PG_readahead)) {
        page_clear(page, PG_readahead);
        mm->events[MM_EV_swap_ra_hit]++;
    }
    if (!page_test(page, PG_lru))
        return;         /* isolated: reclaim decides when it puts it back */
    if (!page_test(page, PG_active) && page_test(page, PG_referenced)) {
        lru_move_page(mm, page, page_lru_active(page));
        page_clear(page, PG_referenced);
        mm->events[MM_EV_pgactivate]++;
        return;
    }
    page_set(page, PG_referenced);
}

/* Linux's inactive_is_low() with inactive_ratio 1 (pools under 1 GiB per
 * memcg) growing as sqrt(10 * GiB) beyond: keep active <= ratio * inactive. */
bool lru_inactive_is_low(const struct lruvec *lv, bool file)
{
    enum lru_list in = file ? LRU_INACTIVE_FILE : LRU_INACTIVE_ANON;
    uint64_t inactive = lv->lists[in].nr, active = lv->lists[in + 1].nr;
    uint64_t gib = (inactive + active) >> (30 - MM_PAGE_SHIFT);
    uint64_t ratio = 1;

    while (gib && (ratio + 1) * (ratio + 1) <= 10 * gib)
        ratio++;
    return inactive * ratio < active;
}

static int check_list(const struct mm *mm, const struct memcg *cg,
                      enum lru_list l)
{
    const struct lru_head *h = &cg->lruvec.lists[l];
    pfn_t prev = PFN_NONE, pfn = h->head;
    uint64_t n = 0;

    while (pfn != PFN_NONE) {
        const struct page *page;

        CHECK(pfn_valid(mm, pfn) && n < h->nr, "lru: memcg %s %s: pfn %u "
              "invalid or list longer than nr %llu", cg->name, lru_names[l],
              (unsigned)pfn, (unsigned long long)h->nr);
        page = pfn_to_page(mm, pfn);
        CHECK(page->state == PAGE_DATA && page->memcg_id == cg->id,
              "lru: memcg %s %s: page %u is %s of memcg %u", cg->name,
              lru_names[l], (unsigned)pfn, page_state_name(page->state),
              page->memcg_id);
        CHECK(page_test(page, PG_lru) && !page_test(page, PG_locked) &&
              page_test(page, PG_active) == lru_is_active(l) &&
              page_test(page, PG_file) == (l >= LRU_INACTIVE_FILE),
              "lru: memcg %s %s: page %u flags %#x", cg->name, lru_names[l],
              (unsigned)pfn, page->flags);
        CHECK(page->prev == prev, "lru: memcg %s %s: page %u prev %u, not %u",
              cg->name, lru_names[l], (unsigned)pfn, (unsigned)page->prev,
              (unsigned)prev);
        prev = pfn;
        pfn = page->next;
        n++;
    }
    CHECK(n == h->nr && h->tail == prev, "lru: memcg %s %s: %llu pages, nr "
          "%llu, tail %u (last %u)", cg->name, lru_names[l],
          (unsigned long long)n, (unsigned long long)h->nr, (unsigned)h->tail,
          (unsigned)prev);
    return 0;
}

/* *nr_on_lru receives the pages on every list of every memcg; mm_check()
 * compares it with the DATA pages of the memmap. */
int lru_check(const struct mm *mm, uint64_t *nr_on_lru)
{
    *nr_on_lru = 0;
    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        const struct memcg *cg = idr_find(&mm->memcgs, id);
        uint64_t listed = 0;

        for (unsigned l = 0; l < NR_LRU_LISTS; l++) {
            int err = check_list(mm, cg, l);

            if (err)
                return err;
            listed += cg->lruvec.lists[l].nr;
        }
        CHECK(listed + cg->nr_writeback == cg->usage, "lru: memcg %s: %llu "
              "pages listed, %llu under writeback, usage %llu", cg->name,
              (unsigned long long)listed, (unsigned long long)cg->nr_writeback,
              (unsigned long long)cg->usage);
        *nr_on_lru += listed;
    }
    return 0;
}
