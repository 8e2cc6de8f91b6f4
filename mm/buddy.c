/* buddy.c - the binary buddy allocator of one zone, with migrate types.
 *
 * As Linux's page_alloc.c: a free block of order n is 2^n pages aligned to
 * 2^n within the zone; its buddy is the block whose zone offset differs in
 * bit n.  Allocation takes the smallest free block that fits and splits off
 * the unused halves (expand); freeing merges with the buddy for as long as
 * the buddy is a free block of the same order (__free_one_page).  Free
 * lists are doubly linked through the descriptors by pfn, so a block can be
 * unlinked from the middle of its list when its buddy frees.
 *
 * Fragmentation (Linux's migrate types): metadata pages - slab, page
 * tables, kvmalloc runs - never move and live as long as what they
 * describe, data pages can always be swapped out.  Mixed in one region, a
 * few long-lived metadata pages keep every large block from forming
 * again.  So the zone is cut in pageblocks of 2^PAGEBLOCK_ORDER pages, each
 * UNMOVABLE or MOVABLE (all MOVABLE at first), with a free list per order
 * per type; a free block sits on the list of its pageblock's type, and one
 * spanning pageblocks has them all of one type.  An allocation takes from
 * its own type's lists; only when they are empty does it fall back to the
 * other type, stealing the largest free block there is (Linux's
 * __rmqueue_fallback: one big steal instead of many small ones that would
 * scatter it over many pageblocks).  A stolen block of a pageblock or more
 * changes its pageblocks' type; one of at least half a pageblock's order
 * changes its whole pageblock, taking the pageblock's other free blocks
 * along; a smaller one is used where it lies, its pageblock keeping its
 * type.  Two free blocks merging into one of more than a pageblock give the
 * merged block the type of the one being freed.
 *
 * Page states are kept on block heads, as Linux keeps the order on the
 * head page: every page of a block other than the first is TAIL, free or
 * allocated, and stays untouched - clean - while the block is allocated,
 * freed, split or merged; only the one head that appears or disappears
 * changes.  So allocating and freeing cost O(orders), not O(pages).  A
 * user that gives tails a role (slab.c) makes them TAIL and clean again
 * before freeing the block.  An allocated block can be split
 * (buddy_split_pages, Linux's split_page with alloc_pages_exact's give-
 * back): its first nr pages stay allocated as a row of blocks, largest
 * first, the rest goes back as free blocks - again only the heads that
 * appear change, so a kvmalloc run of 529 pages costs three allocated
 * heads and eight free ones, each on the list of its pageblock's type.
 *
 * Identities buddy_check() verifies, per zone:
 *   nr_free[o][t] == length of free list (o, t) == free heads of order o
 *   in pageblocks of type t in the memmap
 *   every free block is aligned, inside the zone, on the list of its
 *   pageblock's type (all of them of one type if it spans several), and
 *   not mergeable with its buddy (fully coalesced)
 *   every page is a block head (any state but TAIL) or a page of one
 *   (TAIL and clean, a KVMALLOC head's too; SLAB for a slab's);
 *   free_pages == pages of free blocks; the per-state counts == the
 *   memmap's
 *   nr_pageblocks[t] == pageblocks of type t
 *
 * Not locked: mm/ runs on rmemd's loop thread only (mm.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct page *zone_page(const struct zone *zone, uint64_t offset)
{
    return pfn_to_page(zone->mm, zone->start_pfn + (pfn_t)offset);
}

static uint64_t pageblock_of(const struct zone *zone, pfn_t pfn)
{
    return (pfn - zone->start_pfn) >> PAGEBLOCK_ORDER;
}

static void set_pageblock_type(struct zone *zone, uint64_t pb,
                               enum migratetype mt)
{
    zone->nr_pageblocks[zone->pageblock_type[pb]]--;
    zone->nr_pageblocks[mt]++;
    zone->pageblock_type[pb] = (uint8_t)mt;
}

/* Every pageblock of a block of order >= PAGEBLOCK_ORDER. */
static void set_block_type(struct zone *zone, pfn_t pfn, unsigned order,
                           enum migratetype mt)
{
    uint64_t first = pageblock_of(zone, pfn);

    for (uint64_t pb = first; pb < first + (1u << (order - PAGEBLOCK_ORDER)); pb++)
        set_pageblock_type(zone, pb, mt);
}

static void free_list_add(struct zone *zone, pfn_t pfn, unsigned order)
{
    enum migratetype mt = pageblock_type(zone, pfn);
    struct free_area *area = &zone->free_area[order];
    struct page *page = pfn_to_page(zone->mm, pfn);

    pfn_list_add_head(zone->mm, &area->head[mt], NULL, pfn);
    area->nr_free[mt]++;
    page_set(page, PG_buddy);
    page->order = (uint8_t)order;
}

static void free_list_del(struct zone *zone, pfn_t pfn, unsigned order)
{
    enum migratetype mt = pageblock_type(zone, pfn);
    struct free_area *area = &zone->free_area[order];
    struct page *page = pfn_to_page(zone->mm, pfn);

    pfn_list_del(zone->mm, &area->head[mt], NULL, pfn);
    area->nr_free[mt]--;
    page_clear(page, PG_buddy);
    page->order = 0;
}

static bool page_is_buddy(const struct zone *zone, uint64_t offset,
                          unsigned order)
{
    const struct page *page;

    if (offset + (1ull << order) > zone->managed_pages)
        return false;
    page = zone_page(zone, offset);
    return page->state == PAGE_FREE && page_test(page, PG_buddy) &&
           page->order == order;
}

int buddy_init_zone(struct zone *zone)
{
    uint64_t nr_pageblocks = zone->managed_pages >> PAGEBLOCK_ORDER;

    /* Not from the pool: it describes the pool, as the memmap does. */
    zone->pageblock_type = malloc(nr_pageblocks);
    if (!zone->pageblock_type)
        return -ENOMEM;
    memset(zone->pageblock_type, MIGRATE_MOVABLE, nr_pageblocks);
    memset(zone->nr_pageblocks, 0, sizeof(zone->nr_pageblocks));
    zone->nr_pageblocks[MIGRATE_MOVABLE] = nr_pageblocks;
    memset(zone->nr_state, 0, sizeof(zone->nr_state));
    for (uint64_t off = 0; off < zone->managed_pages; off++) {
        struct page *page = zone_page(zone, off);

        memset(page, 0, sizeof(*page));
        page->state = off % MAX_ORDER_NR_PAGES ? PAGE_TAIL : PAGE_FREE;
        page->zone = zone->id;
        page->next = page->prev = PFN_NONE;
        zone->nr_state[page->state]++;
    }
    memset(zone->free_area, 0, sizeof(zone->free_area));
    for (unsigned o = 0; o < MM_NR_ORDERS; o++)
        for (unsigned t = 0; t < MIGRATE_TYPES; t++)
            zone->free_area[o].head[t] = PFN_NONE;
    /* Added high to low so the first allocations come from the start. */
    for (uint64_t off = zone->managed_pages; off >= MAX_ORDER_NR_PAGES;) {
        off -= MAX_ORDER_NR_PAGES;
        free_list_add(zone, zone->start_pfn + (pfn_t)off, MM_MAX_ORDER);
    }
    zone->free_pages = zone->managed_pages;
    return 0;
}

void buddy_fini_zone(struct zone *zone)
{
    free(zone->pageblock_type);
    zone->pageblock_type = NULL;
}

/* Give back the upper halves of a 2^high block until 2^low is left: each
 * half's first page, a tail until now, heads a free block. */
static void expand(struct zone *zone, pfn_t pfn, unsigned low, unsigned high)
{
    while (high > low) {
        pfn_t half;

        high--;
        half = pfn + (1u << high);
        page_set_state(zone->mm, pfn_to_page(zone->mm, half), PAGE_FREE);
        free_list_add(zone, half, high);
    }
}

/* The smallest free block of type mt that holds 2^order, split down. */
static pfn_t rmqueue_smallest(struct zone *zone, unsigned order,
                              enum migratetype mt)
{
    for (unsigned o = order; o < MM_NR_ORDERS; o++) {
        pfn_t block = zone->free_area[o].head[mt];

        if (block == PFN_NONE)
            continue;
        free_list_del(zone, block, o);
        expand(zone, block, order, o);
        return block;
    }
    return PFN_NONE;
}

/* The free blocks of a pageblock change lists with its type. */
static void steal_pageblock(struct zone *zone, pfn_t pfn, enum migratetype mt)
{
    uint64_t pb = pageblock_of(zone, pfn);
    uint64_t off = pb << PAGEBLOCK_ORDER, end = off + PAGEBLOCK_NR_PAGES;
    enum migratetype old = (enum migratetype)zone->pageblock_type[pb];

    while (off < end) {
        struct page *page = zone_page(zone, off);
        pfn_t head = zone->start_pfn + (pfn_t)off;
        unsigned o = page->order;

        if (page->state == PAGE_FREE) {
            pfn_list_del(zone->mm, &zone->free_area[o].head[old], NULL, head);
            zone->free_area[o].nr_free[old]--;
            pfn_list_add_head(zone->mm, &zone->free_area[o].head[mt], NULL, head);
            zone->free_area[o].nr_free[mt]++;
        }
        off += 1ull << o;       /* every head carries its block's order */
    }
    set_pageblock_type(zone, pb, mt);
}

/* Linux's __rmqueue_fallback: the largest free block of the other type. */
static pfn_t rmqueue_fallback(struct zone *zone, unsigned order,
                              enum migratetype mt)
{
    enum migratetype other = mt == MIGRATE_MOVABLE ? MIGRATE_UNMOVABLE :
                                                     MIGRATE_MOVABLE;
    pfn_t block = PFN_NONE;
    unsigned o;

    for (o = MM_MAX_ORDER + 1; o-- > order;) {
        block = zone->free_area[o].head[other];
        if (block != PFN_NONE)
            break;
    }
    if (block == PFN_NONE)
        return PFN_NONE;
    if (o >= PAGEBLOCK_ORDER) {
        free_list_del(zone, block, o);
        set_block_type(zone, block, o, mt);
        free_list_add(zone, block, o);
    } else if (o >= PAGEBLOCK_ORDER / 2) {
        steal_pageblock(zone, block, mt);
    } else {
        /* Too small to be worth a pageblock: used where it lies. */
        free_list_del(zone, block, o);
        expand(zone, block, order, o);
        return block;
    }
    return rmqueue_smallest(zone, order, mt);
}

/* A block taken off a free list whose head is not a free head: the
 * memmap is corrupt.  Like Linux's bad_page(), keep the block out of
 * circulation rather than hand it out, and let mm_check() report it. */
static int check_new_block(struct zone *zone, pfn_t pfn)
{
    const struct page *head = pfn_to_page(zone->mm, pfn);

    if (head->state != PAGE_FREE || head->refcount != 0) {
        dump_page(zone->mm, pfn, "allocating a block that is not free");
        return -EUCLEAN;
    }
    return 0;
}

int buddy_alloc_pages(struct zone *zone, unsigned order, enum migratetype mt,
                      pfn_t *pfn)
{
    struct page *head;
    pfn_t block;
    int err;

    if (order > MM_MAX_ORDER || (unsigned)mt >= MIGRATE_TYPES)
        return -EINVAL;
    block = rmqueue_smallest(zone, order, mt);
    if (block == PFN_NONE)
        block = rmqueue_fallback(zone, order, mt);
    if (block == PFN_NONE)
        return -ENOMEM;
    zone->free_pages -= 1ull << order;
    err = check_new_block(zone, block);
    if (err)
        return err;
    head = pfn_to_page(zone->mm, block);
    page_set_state(zone->mm, head, PAGE_ALLOCATED);
    head->order = (uint8_t)order;
    head->refcount = 1;
    *pfn = block;
    return 0;
}

/* The head of an allocation of this order, held by its allocator alone;
 * its tails' cleanliness is buddy_check()'s to verify, not the free's. */
static int check_free_block(const struct zone *zone, pfn_t pfn, unsigned order)
{
    const struct page *head;
    uint64_t off;

    if (order > MM_MAX_ORDER || pfn < zone->start_pfn ||
        pfn - zone->start_pfn >= zone->managed_pages) {
        mm_log(MM_LOG_ERR, "mm: free of pfn %u order %u outside zone %u",
               (unsigned)pfn, order, zone->id);
        return -EINVAL;
    }
    off = pfn - zone->start_pfn;
    head = zone_page(zone, off);
    if (head->state != PAGE_ALLOCATED) {
        dump_page(zone->mm, pfn, "freeing a page that is not an allocated head");
        return -EINVAL;
    }
    if (off & ((1ull << order) - 1) || head->order != order) {
        mm_log(MM_LOG_ERR, "mm: free of pfn %u with order %u, allocated as %u",
               (unsigned)pfn, order, head->order);
        return -EINVAL;
    }
    if (head->refcount != 1) {
        dump_page(zone->mm, pfn, "freeing a page that is not a sole-owner head");
        return -EINVAL;
    }
    return 0;
}

/* Merge upward; the head that stops being one becomes a tail.  Past a
 * pageblock the buddy's pageblocks take the type of the block freed. */
static void __free_one_page(struct zone *zone, pfn_t pfn, unsigned order)
{
    enum migratetype mt = pageblock_type(zone, pfn);
    uint64_t off = pfn - zone->start_pfn;

    while (order < MM_MAX_ORDER) {
        uint64_t buddy = off ^ (1ull << order);
        pfn_t buddy_pfn = zone->start_pfn + (pfn_t)buddy;

        if (!page_is_buddy(zone, buddy, order))
            break;
        free_list_del(zone, buddy_pfn, order);
        if (order >= PAGEBLOCK_ORDER)
            set_block_type(zone, buddy_pfn, order, mt);
        page_set_state(zone->mm, zone_page(zone, off > buddy ? off : buddy),
                       PAGE_TAIL);
        off &= buddy;
        order++;
    }
    free_list_add(zone, zone->start_pfn + (pfn_t)off, order);
}

int buddy_free_pages(struct zone *zone, pfn_t pfn, unsigned order)
{
    struct page *head;
    int err = check_free_block(zone, pfn, order);

    if (err)
        return err;
    head = pfn_to_page(zone->mm, pfn);
    page_set_state(zone->mm, head, PAGE_FREE);
    head->flags = 0;
    head->order = 0;
    head->refcount = 0;
    head->next = head->prev = PFN_NONE;
    page_clear_rmap(head);
    head->memcg_id = 0;
    zone->free_pages += 1ull << order;
    __free_one_page(zone, pfn, order);
    return 0;
}

/* The allocated block at pfn keeps its first nr pages as allocated
 * blocks, one per bit of nr from the highest: pfn is aligned to the
 * block, so each lies aligned after the ones before it.  Past nr, each
 * piece is as big as its offset's alignment allows (smallest first), and
 * goes back to the list of its pageblock's type as a freed block would,
 * merging where it can (it cannot, inside the block: each piece's buddy
 * lies before it, allocated or smaller). */
int buddy_split_pages(struct zone *zone, pfn_t pfn, uint64_t nr)
{
    struct page *head;
    unsigned order;
    uint64_t off = 0;
    int err;

    if (pfn < zone->start_pfn || pfn - zone->start_pfn >= zone->managed_pages) {
        mm_log(MM_LOG_ERR, "mm: split of pfn %u outside zone %u",
               (unsigned)pfn, zone->id);
        return -EINVAL;
    }
    head = pfn_to_page(zone->mm, pfn);
    order = head->order;
    err = check_free_block(zone, pfn, order);
    if (err)
        return err;
    if (nr == 0 || nr > (1ull << order)) {
        mm_log(MM_LOG_ERR, "mm: split of pfn %u order %u to %llu pages",
               (unsigned)pfn, order, (unsigned long long)nr);
        return -EINVAL;
    }
    for (unsigned k = order + 1; k-- > 0;) {
        struct page *piece;

        if (!(nr & (1ull << k)))
            continue;
        piece = pfn_to_page(zone->mm, pfn + (pfn_t)off);
        if (off)
            page_set_state(zone->mm, piece, PAGE_ALLOCATED);
        piece->order = (uint8_t)k;
        piece->refcount = 1;
        off += 1ull << k;
    }
    while (off < (1ull << order)) {
        unsigned k = 0;

        while (!(off & (1ull << k)))
            k++;
        page_set_state(zone->mm, pfn_to_page(zone->mm, pfn + (pfn_t)off),
                       PAGE_FREE);
        zone->free_pages += 1ull << k;
        __free_one_page(zone, pfn + (pfn_t)off, k);
        off += 1ull << k;
    }
    return 0;
}

/* ---- invariants ---------------------------------------------------- */

/* A free block lies in pageblocks of type t only. */
static bool block_of_type(const struct zone *zone, pfn_t pfn, unsigned order,
                          unsigned t)
{
    uint64_t first = pageblock_of(zone, pfn);
    uint64_t n = order > PAGEBLOCK_ORDER ? 1ull << (order - PAGEBLOCK_ORDER) : 1;

    for (uint64_t pb = first; pb < first + n; pb++)
        if (zone->pageblock_type[pb] != t)
            return false;
    return true;
}

static int check_free_list(const struct zone *zone, unsigned o, unsigned t)
{
    const struct free_area *area = &zone->free_area[o];
    pfn_t prev = PFN_NONE, pfn = area->head[t];
    uint64_t len = 0;

    while (pfn != PFN_NONE) {
        const struct page *page;

        CHECK(len < area->nr_free[t],
              "buddy: zone %u order %u type %u: list longer than nr_free %llu",
              zone->id, o, t, (unsigned long long)area->nr_free[t]);
        CHECK(pfn >= zone->start_pfn &&
              pfn - zone->start_pfn < zone->managed_pages,
              "buddy: zone %u order %u type %u: pfn %u outside the zone",
              zone->id, o, t, (unsigned)pfn);
        page = pfn_to_page(zone->mm, pfn);
        CHECK(page->prev == prev,
              "buddy: zone %u order %u type %u: pfn %u prev link broken",
              zone->id, o, t, (unsigned)pfn);
        CHECK(page->state == PAGE_FREE && page_test(page, PG_buddy) &&
              page->order == o,
              "buddy: zone %u order %u type %u: pfn %u listed but is %s "
              "order %u%s", zone->id, o, t, (unsigned)pfn,
              page_state_name(page->state), page->order,
              page_test(page, PG_buddy) ? "" : " !PG_buddy");
        CHECK(((pfn - zone->start_pfn) & ((1u << o) - 1)) == 0,
              "buddy: zone %u order %u type %u: pfn %u misaligned",
              zone->id, o, t, (unsigned)pfn);
        CHECK(block_of_type(zone, pfn, o, t),
              "buddy: zone %u order %u: pfn %u on the type %u list, its "
              "pageblock is type %u", zone->id, o, (unsigned)pfn, t,
              zone->pageblock_type[pageblock_of(zone, pfn)]);
        prev = pfn;
        pfn = page->next;
        len++;
    }
    CHECK(len == area->nr_free[t],
          "buddy: zone %u order %u type %u: list has %llu blocks, nr_free %llu",
          zone->id, o, t, (unsigned long long)len,
          (unsigned long long)area->nr_free[t]);
    return 0;
}

static int check_free_lists(const struct zone *zone)
{
    uint64_t pageblocks[MIGRATE_TYPES] = { 0 };

    for (unsigned o = 0; o < MM_NR_ORDERS; o++)
        for (unsigned t = 0; t < MIGRATE_TYPES; t++) {
            int err = check_free_list(zone, o, t);

            if (err)
                return err;
        }
    for (uint64_t pb = 0; pb < zone->managed_pages >> PAGEBLOCK_ORDER; pb++) {
        CHECK(zone->pageblock_type[pb] < MIGRATE_TYPES,
              "buddy: zone %u pageblock %llu: type %u", zone->id,
              (unsigned long long)pb, zone->pageblock_type[pb]);
        pageblocks[zone->pageblock_type[pb]]++;
    }
    for (unsigned t = 0; t < MIGRATE_TYPES; t++)
        CHECK(pageblocks[t] == zone->nr_pageblocks[t],
              "buddy: zone %u: %llu pageblocks of type %u, counted %llu",
              zone->id, (unsigned long long)pageblocks[t], t,
              (unsigned long long)zone->nr_pageblocks[t]);
    return 0;
}

/* The pages after a head of order o: TAIL and clean, or a slab's. */
static int check_tails(const struct zone *zone, uint64_t off, unsigned o)
{
    const struct page *head = zone_page(zone, off);
    bool slab = head->state == PAGE_SLAB;

    for (uint64_t i = 1; i < (1ull << o); i++) {
        const struct page *tail = zone_page(zone, off + i);

        if (slab && tail->state == PAGE_SLAB && !page_test(tail, PG_slab))
            continue;           /* slab_cache_check() knows the rest */
        CHECK(tail->state == PAGE_TAIL && tail->flags == 0 &&
              tail->order == 0 && tail->refcount == 0 && tail->seg_id == 0 &&
              page_index(tail) == 0 && tail->memcg_id == 0,
              "buddy: pfn %u: page %llu of an order-%u %s block is %s, flags "
              "%#x refcount %d rmap (%u, %llu)%s",
              (unsigned)(zone->start_pfn + off), (unsigned long long)i, o,
              page_state_name(head->state), page_state_name(tail->state),
              tail->flags, tail->refcount, tail->seg_id,
              (unsigned long long)page_index(tail),
              page_test(tail, PG_buddy) ? " (overlapping block)" : "");
    }
    return 0;
}

/* One pass over the memmap, block by block: every page is a head or a
 * page of one; free heads are as the lists say and fully coalesced; the
 * per-state counts agree with page_set_state()'s. */
static int check_memmap(const struct zone *zone)
{
    uint64_t heads[MM_NR_ORDERS][MIGRATE_TYPES] = { { 0 } };
    uint64_t count[NR_PAGE_STATES] = { 0 };
    uint64_t off = 0, free_pages = 0;

    while (off < zone->managed_pages) {
        const struct page *page = zone_page(zone, off);
        pfn_t pfn = zone->start_pfn + (pfn_t)off;
        unsigned o = page->order;
        int err;

        CHECK(page->zone == zone->id, "buddy: pfn %u: zone %u, lies in zone %u",
              (unsigned)pfn, page->zone, zone->id);
        CHECK(page->state < NR_PAGE_STATES && page->state != PAGE_TAIL,
              "buddy: pfn %u: %s, heading no block", (unsigned)pfn,
              page_state_name(page->state));
        CHECK(page_test(page, PG_buddy) == (page->state == PAGE_FREE),
              "buddy: pfn %u: %s %s PG_buddy", (unsigned)pfn,
              page_state_name(page->state),
              page_test(page, PG_buddy) ? "with" : "without");
        CHECK(o <= MM_MAX_ORDER && (off & ((1ull << o) - 1)) == 0 &&
              off + (1ull << o) <= zone->managed_pages,
              "buddy: pfn %u: %s block of order %u misaligned or past the zone",
              (unsigned)pfn, page_state_name(page->state), o);
        err = check_tails(zone, off, o);
        if (err)
            return err;
        count[page->state]++;
        count[page->state == PAGE_SLAB ? PAGE_SLAB : PAGE_TAIL] += (1ull << o) - 1;
        if (page->state == PAGE_FREE) {
            CHECK(o == MM_MAX_ORDER || !page_is_buddy(zone, off ^ (1ull << o), o),
                  "buddy: pfn %u: order-%u block not merged with its free buddy",
                  (unsigned)pfn, o);
            heads[o][pageblock_type(zone, pfn)]++;
            free_pages += 1ull << o;
        }
        off += 1ull << o;
    }
    for (unsigned o = 0; o < MM_NR_ORDERS; o++)
        for (unsigned t = 0; t < MIGRATE_TYPES; t++)
            CHECK(heads[o][t] == zone->free_area[o].nr_free[t],
                  "buddy: zone %u order %u type %u: %llu free blocks in "
                  "memmap, nr_free %llu", zone->id, o, t,
                  (unsigned long long)heads[o][t],
                  (unsigned long long)zone->free_area[o].nr_free[t]);
    CHECK(free_pages == zone->free_pages,
          "buddy: zone %u: %llu free pages in memmap, free_pages %llu",
          zone->id, (unsigned long long)free_pages,
          (unsigned long long)zone->free_pages);
    for (unsigned s = 0; s < NR_PAGE_STATES; s++)
        CHECK(count[s] == zone->nr_state[s],
              "buddy: zone %u: %llu %s pages in memmap, counter says %llu",
              zone->id, (unsigned long long)count[s], page_state_name(s),
              (unsigned long long)zone->nr_state[s]);
    return 0;
}

int buddy_check(const struct zone *zone)
{
    int err = check_free_lists(zone);

    return err ? err : check_memmap(zone);
}

uint64_t buddy_nr_free(const struct zone *zone, unsigned order)
{
    uint64_t n = 0;

    for (unsigned t = 0; t < MIGRATE_TYPES; t++)
        n += zone->free_area[order].nr_free[t];
    return n;
}
