/* buddy.c - the binary buddy allocator of one zone.
 *
 * As Linux's page_alloc.c: a free block of order n is 2^n pages aligned to
 * 2^n within the zone; its buddy is the block whose zone offset differs in
 * bit n.  Allocation takes the smallest free block that fits and splits off
 * the unused halves (expand); freeing merges with the buddy for as long as
 * the buddy is a free block of the same order (__free_one_page).  Free
 * lists are doubly linked through the descriptors by pfn, so a block can be
 * unlinked from the middle of its list when its buddy frees.
 *
 * Identities buddy_check() verifies, per zone:
 *   nr_free[o] == length of free list o == free heads of order o in the memmap
 *   free_pages == sum(nr_free[o] << o) == pages in state FREE
 *   every free block is aligned, inside the zone, not overlapping another,
 *   and not mergeable with its buddy (fully coalesced)
 *
 * Not locked: mm/ runs on rmemd's loop thread only (mm.h). */
#include <errno.h>
#include <string.h>

#include "internal.h"

static struct page *zone_page(const struct zone *zone, uint64_t offset)
{
    return pfn_to_page(zone->mm, zone->start_pfn + (pfn_t)offset);
}

static void free_list_add(struct zone *zone, pfn_t pfn, unsigned order)
{
    struct free_area *area = &zone->free_area[order];
    struct page *page = pfn_to_page(zone->mm, pfn);

    pfn_list_add_head(zone->mm, &area->head, NULL, pfn);
    area->nr_free++;
    page_set(page, PG_buddy);
    page->order = (uint8_t)order;
}

static void free_list_del(struct zone *zone, pfn_t pfn, unsigned order)
{
    struct free_area *area = &zone->free_area[order];
    struct page *page = pfn_to_page(zone->mm, pfn);

    pfn_list_del(zone->mm, &area->head, NULL, pfn);
    area->nr_free--;
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

void buddy_init_zone(struct zone *zone)
{
    for (uint64_t off = 0; off < zone->managed_pages; off++) {
        struct page *page = zone_page(zone, off);

        memset(page, 0, sizeof(*page));
        page->state = PAGE_FREE;
        page->zone = zone->id;
        page->next = page->prev = PFN_NONE;
    }
    for (unsigned o = 0; o < MM_NR_ORDERS; o++) {
        zone->free_area[o].head = PFN_NONE;
        zone->free_area[o].nr_free = 0;
    }
    /* Added high to low so the first allocations come from the start. */
    for (uint64_t off = zone->managed_pages; off >= MAX_ORDER_NR_PAGES;) {
        off -= MAX_ORDER_NR_PAGES;
        free_list_add(zone, zone->start_pfn + (pfn_t)off, MM_MAX_ORDER);
    }
    memset(zone->nr_state, 0, sizeof(zone->nr_state));
    zone->nr_state[PAGE_FREE] = zone->managed_pages;
    zone->free_pages = zone->managed_pages;
}

/* Give back the upper halves of a 2^high block until 2^low is left. */
static void expand(struct zone *zone, pfn_t pfn, unsigned low, unsigned high)
{
    while (high > low) {
        high--;
        free_list_add(zone, pfn + (1u << high), high);
    }
}

/* A block taken off a free list holds a page that is not FREE: the memmap
 * is corrupt.  Like Linux's bad_page(), keep the block out of circulation
 * rather than hand it out, and let mm_check() report the damage. */
static int check_new_block(struct zone *zone, pfn_t pfn, unsigned order)
{
    for (uint32_t i = 0; i < (1u << order); i++) {
        struct page *page = pfn_to_page(zone->mm, pfn + i);

        if (page->state != PAGE_FREE) {
            dump_page(zone->mm, pfn + i, "allocating a block that is not free");
            return -EUCLEAN;
        }
    }
    return 0;
}

int buddy_alloc_pages(struct zone *zone, unsigned order, pfn_t *pfn)
{
    struct page *head;
    pfn_t block;
    unsigned o;
    int err;

    if (order > MM_MAX_ORDER)
        return -EINVAL;
    for (o = order; o < MM_NR_ORDERS; o++)
        if (zone->free_area[o].head != PFN_NONE)
            break;
    if (o == MM_NR_ORDERS)
        return -ENOMEM;

    block = zone->free_area[o].head;
    free_list_del(zone, block, o);
    expand(zone, block, order, o);
    zone->free_pages -= 1ull << order;
    err = check_new_block(zone, block, order);
    if (err)
        return err;
    for (uint32_t i = 0; i < (1u << order); i++)
        page_set_state(zone->mm, pfn_to_page(zone->mm, block + i), PAGE_ALLOCATED);
    head = pfn_to_page(zone->mm, block);
    head->order = (uint8_t)order;
    head->refcount = 1;
    *pfn = block;
    return 0;
}

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
    if (off & ((1ull << order) - 1) || head->order != order) {
        mm_log(MM_LOG_ERR, "mm: free of pfn %u with order %u, allocated as %u",
               (unsigned)pfn, order, head->order);
        return -EINVAL;
    }
    /* Only the head of an allocation holds the reference: this also
     * refuses a tail page passed as an order-0 block. */
    if (head->refcount != 1) {
        dump_page(zone->mm, pfn, "freeing a page that is not a sole-owner head");
        return -EINVAL;
    }
    for (uint32_t i = 0; i < (1u << order); i++) {
        if (zone_page(zone, off + i)->state != PAGE_ALLOCATED) {
            dump_page(zone->mm, pfn + i, "freeing a page that is not allocated");
            return -EINVAL;
        }
    }
    return 0;
}

static void __free_one_page(struct zone *zone, pfn_t pfn, unsigned order)
{
    uint64_t off = pfn - zone->start_pfn;

    while (order < MM_MAX_ORDER) {
        uint64_t buddy = off ^ (1ull << order);

        if (!page_is_buddy(zone, buddy, order))
            break;
        free_list_del(zone, zone->start_pfn + (pfn_t)buddy, order);
        off &= buddy;
        order++;
    }
    free_list_add(zone, zone->start_pfn + (pfn_t)off, order);
}

int buddy_free_pages(struct zone *zone, pfn_t pfn, unsigned order)
{
    int err = check_free_block(zone, pfn, order);

    if (err)
        return err;
    for (uint32_t i = 0; i < (1u << order); i++) {
        struct page *page = pfn_to_page(zone->mm, pfn + i);

        page_set_state(zone->mm, page, PAGE_FREE);
        page->flags = 0;
        page->order = 0;
        page->refcount = 0;
        page->next = page->prev = PFN_NONE;
        page_clear_rmap(page);
        page->memcg_id = 0;
    }
    zone->free_pages += 1ull << order;
    __free_one_page(zone, pfn, order);
    return 0;
}

static int check_free_lists(const struct zone *zone)
{
    for (unsigned o = 0; o < MM_NR_ORDERS; o++) {
        const struct free_area *area = &zone->free_area[o];
        pfn_t prev = PFN_NONE, pfn = area->head;
        uint64_t len = 0;

        while (pfn != PFN_NONE) {
            const struct page *page;

            CHECK(len < area->nr_free,
                  "buddy: zone %u order %u: list longer than nr_free %llu",
                  zone->id, o, (unsigned long long)area->nr_free);
            CHECK(pfn >= zone->start_pfn &&
                  pfn - zone->start_pfn < zone->managed_pages,
                  "buddy: zone %u order %u: pfn %u outside the zone",
                  zone->id, o, (unsigned)pfn);
            page = pfn_to_page(zone->mm, pfn);
            CHECK(page->prev == prev,
                  "buddy: zone %u order %u: pfn %u prev link broken",
                  zone->id, o, (unsigned)pfn);
            CHECK(page->state == PAGE_FREE && page_test(page, PG_buddy) &&
                  page->order == o,
                  "buddy: zone %u order %u: pfn %u listed but is %s order %u%s",
                  zone->id, o, (unsigned)pfn, page_state_name(page->state),
                  page->order, page_test(page, PG_buddy) ? "" : " !PG_buddy");
            CHECK(((pfn - zone->start_pfn) & ((1u << o) - 1)) == 0,
                  "buddy: zone %u order %u: pfn %u misaligned",
                  zone->id, o, (unsigned)pfn);
            prev = pfn;
            pfn = page->next;
            len++;
        }
        CHECK(len == area->nr_free,
              "buddy: zone %u order %u: list has %llu blocks, nr_free %llu",
              zone->id, o, (unsigned long long)len,
              (unsigned long long)area->nr_free);
    }
    return 0;
}

/* One pass over the memmap: every FREE page lies in exactly one free block
 * whose head is on a list (the counts per order match the lists, and the
 * lists hold only heads of their order), no block could still merge, and
 * the per-state counts agree with page_set_state()'s. */
static int check_memmap(const struct zone *zone)
{
    uint64_t heads[MM_NR_ORDERS] = { 0 };
    uint64_t count[NR_PAGE_STATES] = { 0 };
    uint64_t off = 0, free_pages = 0;

    while (off < zone->managed_pages) {
        const struct page *page = zone_page(zone, off);
        pfn_t pfn = zone->start_pfn + (pfn_t)off;
        unsigned o;

        CHECK(page->zone == zone->id, "buddy: pfn %u: zone %u, lies in zone %u",
              (unsigned)pfn, page->zone, zone->id);
        CHECK(page->state < NR_PAGE_STATES, "buddy: pfn %u: bad state %u",
              (unsigned)pfn, page->state);
        if (page->state != PAGE_FREE) {
            CHECK(!page_test(page, PG_buddy), "buddy: pfn %u: %s with PG_buddy",
                  (unsigned)pfn, page_state_name(page->state));
            count[page->state]++;
            off++;
            continue;
        }
        CHECK(page_test(page, PG_buddy) && page->order <= MM_MAX_ORDER,
              "buddy: pfn %u: free page outside any free block", (unsigned)pfn);
        o = page->order;
        CHECK((off & ((1ull << o) - 1)) == 0 &&
              off + (1ull << o) <= zone->managed_pages,
              "buddy: pfn %u: free block of order %u misaligned or past the zone",
              (unsigned)pfn, o);
        for (uint64_t i = 1; i < (1ull << o); i++) {
            const struct page *tail = zone_page(zone, off + i);

            CHECK(tail->state == PAGE_FREE && !page_test(tail, PG_buddy),
                  "buddy: pfn %u: page %llu of a free order-%u block is %s%s",
                  (unsigned)pfn, (unsigned long long)i, o,
                  page_state_name(tail->state),
                  page_test(tail, PG_buddy) ? " (overlapping block)" : "");
        }
        CHECK(o == MM_MAX_ORDER || !page_is_buddy(zone, off ^ (1ull << o), o),
              "buddy: pfn %u: order-%u block not merged with its free buddy",
              (unsigned)pfn, o);
        heads[o]++;
        free_pages += 1ull << o;
        off += 1ull << o;
    }
    count[PAGE_FREE] = free_pages;
    for (unsigned o = 0; o < MM_NR_ORDERS; o++)
        CHECK(heads[o] == zone->free_area[o].nr_free,
              "buddy: zone %u order %u: %llu free blocks in memmap, nr_free %llu",
              zone->id, o, (unsigned long long)heads[o],
              (unsigned long long)zone->free_area[o].nr_free);
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
