/* test_buddy.c - the buddy allocator: split, merge, every order,
 * exhaustion, bad frees refused, buddy_check() catching corruption;
 * migrate types: the fallback stealing the largest block, pageblocks
 * converted or not, merges across types, metadata kept together, the
 * block state kept on the head, and an allocated block split into a row
 * of allocated blocks with the rest given back. */
#include <stdlib.h>

#include "mm_test.h"

static void assert_fully_coalesced(const struct zone *zone)
{
    for (unsigned o = 0; o < MM_MAX_ORDER; o++)
        ck_assert_uint_eq(buddy_nr_free(zone, o), 0);
    ck_assert_uint_eq(buddy_nr_free(zone, MM_MAX_ORDER),
                      zone->managed_pages / MAX_ORDER_NR_PAGES);
    ck_assert_uint_eq(zone->free_pages, zone->managed_pages);
}

START_TEST(test_split_to_order0_and_merge_back)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfn), 0);
    ck_assert_uint_eq(pfn, zone->start_pfn);
    ck_assert_mm_ok(mm);
    /* One max-order block split all the way down: one free block per
     * lower order, as /proc/buddyinfo would show it. */
    for (unsigned o = 0; o < MM_MAX_ORDER; o++)
        ck_assert_uint_eq(buddy_nr_free(zone, o), 1);
    ck_assert_uint_eq(buddy_nr_free(zone, MM_MAX_ORDER), 0);
    ck_assert_uint_eq(zone->free_pages, MAX_ORDER_NR_PAGES - 1);

    ck_assert_int_eq(buddy_free_pages(zone, pfn, 0), 0);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* Loop test over orders 0..MM_MAX_ORDER: fill the zone with blocks of one
 * order, each aligned and disjoint, then free them all. */
START_TEST(test_alloc_each_order)
{
    unsigned order = (unsigned)_i;
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t max = zone->managed_pages >> order, n = 0;
    pfn_t *pfns = calloc(max, sizeof(*pfns));
    unsigned char *seen = calloc(zone->managed_pages, 1);
    pfn_t pfn;

    while (buddy_alloc_pages(zone, order, MIGRATE_MOVABLE, &pfn) == 0) {
        uint64_t off = pfn - zone->start_pfn;

        ck_assert_uint_lt(n, max);
        ck_assert_uint_eq(off & ((1u << order) - 1), 0);
        for (uint64_t i = 0; i < (1u << order); i++) {
            ck_assert_int_eq(seen[off + i], 0);
            seen[off + i] = 1;
        }
        ck_assert_uint_eq(pfn_to_page(mm, pfn)->order, order);
        pfns[n++] = pfn;
        ck_assert_mm_ok(mm);
    }
    ck_assert_uint_eq(n, max);
    ck_assert_uint_eq(zone->free_pages, 0);
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_int_eq(buddy_free_pages(zone, pfns[i], order), 0);
        ck_assert_mm_ok(mm);
    }
    assert_fully_coalesced(zone);
    free(seen);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_alloc_all_free_random_order_coalesces)
{
    struct mm *mm = test_mm(16 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t n = zone->managed_pages;
    pfn_t *pfns = calloc(n, sizeof(*pfns));
    pfn_t pfn;

    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfns[i]), 0);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfn), -ENOMEM);
    ck_assert_mm_ok(mm);
    test_shuffle(pfns, n, 0x5eed);
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_int_eq(buddy_free_pages(zone, pfns[i], 0), 0);
        ck_assert_mm_ok(mm);
    }
    assert_fully_coalesced(zone);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_exhausted_zone_returns_enomem)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    struct mm_stat st;
    pfn_t pfn;

    while (buddy_alloc_pages(zone, MM_MAX_ORDER, MIGRATE_MOVABLE, &pfn) == 0)
        ck_assert_mm_ok(mm);
    for (unsigned o = 0; o <= MM_MAX_ORDER; o++)
        ck_assert_int_eq(buddy_alloc_pages(zone, o, MIGRATE_MOVABLE, &pfn), -ENOMEM);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn), -ENOMEM);
    ck_assert_mm_ok(mm);
    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.free_pages, 0);
    /* The state is the heads': one per block, the rest tails. */
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED],
                      st.total_pages / MAX_ORDER_NR_PAGES);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL] + zone->nr_state[PAGE_ALLOCATED],
                      st.total_pages);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_invalid_order_refused)
{
    struct mm *mm = test_mm(4 * MiB);
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(&mm->zones[0], MM_MAX_ORDER + 1, MIGRATE_MOVABLE, &pfn),
                     -EINVAL);
    ck_assert_int_eq(mm_alloc_pages(mm, 99, ALLOC_DATA, &pfn), -EINVAL);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Each bad free is refused without touching anything. */
enum bad_free { FREE_TWICE, FREE_WRONG_ORDER, FREE_MISALIGNED, FREE_TAIL,
                FREE_OUTSIDE, FREE_ORDER_TOO_BIG, NR_BAD_FREE };

START_TEST(test_bad_free_refused)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    struct mm_zone_info before, after;
    pfn_t block, other;
    int err = 0;

    test_log_quiet();
    ck_assert_int_eq(buddy_alloc_pages(zone, 3, MIGRATE_MOVABLE, &block), 0);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &other), 0);
    ck_assert_int_eq(buddy_free_pages(zone, other, 0), 0);
    ck_assert_int_eq(mm_zone_info(mm, 0, &before), 0);
    switch (_i) {
    case FREE_TWICE:
        err = buddy_free_pages(zone, other, 0);
        break;
    case FREE_WRONG_ORDER:
        err = buddy_free_pages(zone, block, 2);
        break;
    case FREE_MISALIGNED:
        err = buddy_free_pages(zone, block + 1, 1);
        break;
    case FREE_TAIL:
        err = buddy_free_pages(zone, block + 1, 0);
        break;
    case FREE_OUTSIDE:
        err = mm_free_pages(mm, (pfn_t)mm->nr_pages, 0);
        break;
    case FREE_ORDER_TOO_BIG:
        err = buddy_free_pages(zone, block, MM_MAX_ORDER + 1);
        break;
    }
    ck_assert_int_eq(err, -EINVAL);
    ck_assert_int_gt(test_log_count, 0);
    ck_assert_int_eq(mm_zone_info(mm, 0, &after), 0);
    ck_assert_mem_eq(before.nr_free, after.nr_free, sizeof(before.nr_free));
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, block, 3), 0);
    assert_fully_coalesced(zone);
    test_log_restore();
    mm_destroy(mm);
}
END_TEST

START_TEST(test_random_mixed_orders)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    struct { pfn_t pfn; unsigned order; } live[512];
    unsigned nr_live = 0;
    uint64_t rng = 42;

    for (int op = 0; op < 1500; op++) {
        bool do_alloc = nr_live == 0 ||
                        (nr_live < 512 && test_rand(&rng) % 3 != 0);

        if (do_alloc) {
            unsigned order = (unsigned)(test_rand(&rng) % 7);
            pfn_t pfn;
            int err = buddy_alloc_pages(zone, order, MIGRATE_MOVABLE, &pfn);

            if (err) {
                ck_assert_int_eq(err, -ENOMEM);
            } else {
                live[nr_live].pfn = pfn;
                live[nr_live].order = order;
                nr_live++;
            }
        } else {
            unsigned k = (unsigned)(test_rand(&rng) % nr_live);

            ck_assert_int_eq(buddy_free_pages(zone, live[k].pfn, live[k].order), 0);
            live[k] = live[--nr_live];
        }
        ck_assert_mm_ok(mm);
    }
    while (nr_live) {
        nr_live--;
        ck_assert_int_eq(buddy_free_pages(zone, live[nr_live].pfn,
                                          live[nr_live].order), 0);
    }
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* buddy_check() must notice each kind of damage, then pass once it is
 * undone. */
enum corruption { BAD_NR_FREE, BAD_HEAD_FLAG, BAD_TAIL_STATE, BAD_FREE_PAGES,
                  BAD_LIST_LINK, BAD_UNMERGED, BAD_LIST_TYPE, BAD_PAGEBLOCKS,
                  BAD_TAIL_DIRTY, NR_CORRUPTION };

START_TEST(test_buddy_check_detects_corruption)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    struct page *head, *tail, saved_head, saved_tail;
    struct free_area saved_area[MM_NR_ORDERS];
    uint64_t saved_free, saved_pageblocks[MIGRATE_TYPES];
    uint8_t saved_type;
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfn), 0);
    head = pfn_to_page(mm, zone->free_area[5].head[MIGRATE_MOVABLE]);
    tail = head + 1;
    saved_head = *head;
    saved_tail = *tail;
    memcpy(saved_area, zone->free_area, sizeof(saved_area));
    saved_free = zone->free_pages;
    memcpy(saved_pageblocks, zone->nr_pageblocks, sizeof(saved_pageblocks));
    saved_type = zone->pageblock_type[3];

    test_log_quiet();
    switch (_i) {
    case BAD_NR_FREE:
        zone->free_area[3].nr_free[MIGRATE_MOVABLE]++;
        break;
    case BAD_HEAD_FLAG:
        page_clear(head, PG_buddy);
        break;
    case BAD_TAIL_STATE:
        tail->state = PAGE_ALLOCATED;
        break;
    case BAD_FREE_PAGES:
        zone->free_pages--;
        break;
    case BAD_LIST_LINK:
        head->next = zone->free_area[5].head[MIGRATE_MOVABLE];  /* a cycle */
        break;
    case BAD_UNMERGED:
        /* The order-0 buddy of the allocated page, claimed free too. */
        pfn_to_page(mm, pfn)->state = PAGE_FREE;
        break;
    case BAD_LIST_TYPE:
        /* Pageblock 3, all free, relabelled without moving its block. */
        zone->pageblock_type[3] = MIGRATE_UNMOVABLE;
        zone->nr_pageblocks[MIGRATE_MOVABLE]--;
        zone->nr_pageblocks[MIGRATE_UNMOVABLE]++;
        break;
    case BAD_PAGEBLOCKS:
        zone->nr_pageblocks[MIGRATE_UNMOVABLE]++;
        break;
    case BAD_TAIL_DIRTY:
        tail->refcount = 1;
        break;
    }
    ck_assert_int_eq(buddy_check(zone), -EUCLEAN);
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    ck_assert_int_gt(test_log_count, 0);
    test_log_restore();

    *head = saved_head;
    *tail = saved_tail;
    memcpy(zone->free_area, saved_area, sizeof(saved_area));
    zone->free_pages = saved_free;
    memcpy(zone->nr_pageblocks, saved_pageblocks, sizeof(saved_pageblocks));
    zone->pageblock_type[3] = saved_type;
    pfn_to_page(mm, pfn)->state = PAGE_ALLOCATED;
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, pfn, 0), 0);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_buddyinfo_matches_free_lists)
{
    struct mm *mm = test_mm(16 * MiB);
    struct zone *zone = &mm->zones[0];
    struct mm_zone_info zi;
    uint64_t free_pages = 0;
    pfn_t pfn;

    for (unsigned o = 0; o <= MM_MAX_ORDER; o += 3)
        ck_assert_int_eq(buddy_alloc_pages(zone, o, MIGRATE_MOVABLE, &pfn), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_zone_info(mm, 0, &zi), 0);
    ck_assert_str_eq(zi.name, "Normal");
    for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
        ck_assert_uint_eq(zi.nr_free[o], buddy_nr_free(zone, o));
        ck_assert_uint_eq(zi.nr_free[o], zi.nr_free_type[MIGRATE_UNMOVABLE][o] +
                                         zi.nr_free_type[MIGRATE_MOVABLE][o]);
        free_pages += zi.nr_free[o] << o;
    }
    ck_assert_uint_eq(zi.nr_pageblocks[MIGRATE_UNMOVABLE] +
                      zi.nr_pageblocks[MIGRATE_MOVABLE], 4096 / PAGEBLOCK_NR_PAGES);
    ck_assert_str_eq(mm_migratetype_name(MIGRATE_UNMOVABLE), "Unmovable");
    ck_assert_str_eq(mm_migratetype_name(MIGRATE_MOVABLE), "Movable");
    ck_assert_ptr_null(mm_migratetype_name(MIGRATE_TYPES));
    ck_assert_uint_eq(zi.free_pages, free_pages);
    ck_assert_uint_eq(zi.managed_pages, 4096);
    ck_assert_uint_eq(zi.free_pages, 4096 - (1 + 8 + 64 + 512));
    ck_assert_int_eq(mm_zone_info(mm, 1, &zi), -ENOENT);
    mm_destroy(mm);
}
END_TEST

/* ---- migrate types ------------------------------------------------ */

static uint64_t nr_free_type(const struct zone *zone, unsigned order,
                             enum migratetype mt)
{
    return zone->free_area[order].nr_free[mt];
}

/* A 4 MiB zone (two pageblocks) taken page by page as data, then the
 * pages of [first, first + n) freed again, in order. */
static void take_all(struct mm *mm, pfn_t *pfns)
{
    struct zone *zone = &mm->zones[0];

    for (uint64_t i = 0; i < zone->managed_pages; i++) {
        ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfns[i]), 0);
        ck_assert_uint_eq(pfns[i], zone->start_pfn + i);
    }
}

static void give_back(struct mm *mm, uint64_t first, uint64_t n)
{
    struct zone *zone = &mm->zones[0];

    for (uint64_t i = first; i < first + n; i++)
        ck_assert_int_eq(buddy_free_pages(zone, zone->start_pfn + (pfn_t)i, 0), 0);
}

/* The first metadata page of a fresh zone steals the largest data block
 * there is, a whole max-order block: both its pageblocks turn
 * unmovable, and data keeps to the other pageblocks. */
START_TEST(test_fallback_steals_max_order_block)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t meta, data;

    ck_assert_uint_eq(zone->nr_pageblocks[MIGRATE_MOVABLE], 4);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_UNMOVABLE, &meta), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(meta, zone->start_pfn);
    ck_assert_uint_eq(zone->nr_pageblocks[MIGRATE_UNMOVABLE], 2);
    ck_assert_int_eq(pageblock_type(zone, meta), MIGRATE_UNMOVABLE);
    for (unsigned o = 0; o < MM_MAX_ORDER; o++)
        ck_assert_uint_eq(nr_free_type(zone, o, MIGRATE_UNMOVABLE), 1);
    ck_assert_uint_eq(nr_free_type(zone, MM_MAX_ORDER, MIGRATE_MOVABLE), 1);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &data), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(data, zone->start_pfn + MAX_ORDER_NR_PAGES);
    ck_assert_int_eq(pageblock_type(zone, data), MIGRATE_MOVABLE);
    ck_assert_int_eq(buddy_free_pages(zone, meta, 0), 0);
    ck_assert_int_eq(buddy_free_pages(zone, data, 0), 0);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* No unmovable block free, data blocks of orders 3 and 6 in pageblock 0
 * and of order 3 in pageblock 1: the steal takes the order-6 one, the
 * largest; at least half a pageblock's order, it converts pageblock 0
 * with every free block in it, and the page comes from the smallest of
 * those. */
START_TEST(test_fallback_converts_pageblock)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t *pfns = calloc(zone->managed_pages, sizeof(*pfns)), meta;

    take_all(mm, pfns);
    give_back(mm, 0, 8);
    give_back(mm, 64, 64);
    give_back(mm, 512 + 8, 8);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(nr_free_type(zone, 6, MIGRATE_MOVABLE), 1);
    ck_assert_uint_eq(nr_free_type(zone, 3, MIGRATE_MOVABLE), 2);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_UNMOVABLE, &meta), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(meta, zone->start_pfn);
    ck_assert_int_eq(pageblock_type(zone, zone->start_pfn), MIGRATE_UNMOVABLE);
    ck_assert_int_eq(pageblock_type(zone, zone->start_pfn + 512), MIGRATE_MOVABLE);
    ck_assert_uint_eq(nr_free_type(zone, 6, MIGRATE_UNMOVABLE), 1);
    for (unsigned o = 0; o < 3; o++)
        ck_assert_uint_eq(nr_free_type(zone, o, MIGRATE_UNMOVABLE), 1);
    ck_assert_uint_eq(nr_free_type(zone, 3, MIGRATE_MOVABLE), 1);
    ck_assert_uint_eq(nr_free_type(zone, 3, MIGRATE_UNMOVABLE), 0);
    /* Data now stays out of the unmovable pageblock while it can. */
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfns[0]), 0);
    ck_assert_uint_eq(pfns[0], zone->start_pfn + 512 + 8);
    give_back(mm, 8, 64 - 8);
    give_back(mm, 128, 512 + 8 - 128);
    give_back(mm, 512 + 16, 512 - 16);
    ck_assert_int_eq(buddy_free_pages(zone, meta, 0), 0);
    ck_assert_int_eq(buddy_free_pages(zone, pfns[0], 0), 0);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

/* Only data blocks below half a pageblock's order free: one is used
 * where it lies, and its pageblock stays movable, split halves and all. */
START_TEST(test_fallback_small_block_no_convert)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t *pfns = calloc(zone->managed_pages, sizeof(*pfns)), meta;

    take_all(mm, pfns);
    give_back(mm, 512 + 8, 8);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_UNMOVABLE, &meta), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(meta, zone->start_pfn + 512 + 8);
    ck_assert_int_eq(pageblock_type(zone, meta), MIGRATE_MOVABLE);
    ck_assert_uint_eq(zone->nr_pageblocks[MIGRATE_UNMOVABLE], 0);
    for (unsigned o = 0; o < 3; o++)
        ck_assert_uint_eq(nr_free_type(zone, o, MIGRATE_MOVABLE), 1);
    ck_assert_int_eq(buddy_alloc_pages(zone, 2, MIGRATE_UNMOVABLE, &pfns[0]), 0);
    ck_assert_uint_eq(pfns[0], zone->start_pfn + 512 + 12);
    ck_assert_int_eq(buddy_alloc_pages(zone, 2, MIGRATE_UNMOVABLE, &pfns[1]), -ENOMEM);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, pfns[0], 2), 0);
    ck_assert_int_eq(buddy_free_pages(zone, meta, 0), 0);
    give_back(mm, 0, 512 + 8);
    give_back(mm, 512 + 16, 512 - 16);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

/* Two free pageblocks of different types merging: the block freed
 * decides the merged block's type, and the steal back converts both. */
START_TEST(test_merge_across_types)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t data, meta, again;

    ck_assert_int_eq(buddy_alloc_pages(zone, 9, MIGRATE_MOVABLE, &data), 0);
    ck_assert_int_eq(buddy_alloc_pages(zone, 9, MIGRATE_UNMOVABLE, &meta), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(meta, zone->start_pfn + 512);
    ck_assert_int_eq(pageblock_type(zone, meta), MIGRATE_UNMOVABLE);
    ck_assert_int_eq(buddy_free_pages(zone, data, 9), 0);
    ck_assert_uint_eq(nr_free_type(zone, 9, MIGRATE_MOVABLE), 1);
    ck_assert_int_eq(buddy_free_pages(zone, meta, 9), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(nr_free_type(zone, MM_MAX_ORDER, MIGRATE_UNMOVABLE), 1);
    ck_assert_uint_eq(zone->nr_pageblocks[MIGRATE_UNMOVABLE], 2);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &again), 0);
    ck_assert_uint_eq(zone->nr_pageblocks[MIGRATE_MOVABLE], 2);
    ck_assert_int_eq(buddy_free_pages(zone, again, 0), 0);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* What the types are for: one metadata page in every eight, 576 pages in
 * all, in a 4 MiB zone.  The metadata keeps to one pageblock, so freeing
 * the data leaves a whole pageblock free - interleaved without types,
 * they would pin a page in every 8 of 576 and leave order 8 the largest. */
START_TEST(test_metadata_confined)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t meta[72], data[504];
    unsigned nm = 0, nd = 0;

    for (unsigned i = 0; i < 576; i++) {
        if (i % 8 == 0)
            ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_UNMOVABLE,
                                               &meta[nm++]), 0);
        else
            ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE,
                                               &data[nd++]), 0);
    }
    ck_assert_mm_ok(mm);
    for (unsigned i = 0; i < nm; i++)
        ck_assert_int_eq(pageblock_type(zone, meta[i]), MIGRATE_UNMOVABLE);
    for (unsigned i = 0; i < nd; i++)
        ck_assert_int_eq(buddy_free_pages(zone, data[i], 0), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(buddy_nr_free(zone, 9), 1);
    for (unsigned i = 0; i < nm; i++)
        ck_assert_int_eq(buddy_free_pages(zone, meta[i], 0), 0);
    ck_assert_mm_ok(mm);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* Through mm_alloc_pages: table, slab and kvmalloc pages are unmovable,
 * data pages movable, each in pageblocks of their type. */
START_TEST(test_purpose_picks_type)
{
    static const struct { enum alloc_purpose purpose; enum migratetype mt; }
    cases[] = {
        { ALLOC_DATA, MIGRATE_MOVABLE }, { ALLOC_OPTIONAL, MIGRATE_MOVABLE },
        { ALLOC_TABLE, MIGRATE_UNMOVABLE }, { ALLOC_SLAB, MIGRATE_UNMOVABLE },
        { ALLOC_KVMALLOC, MIGRATE_UNMOVABLE },
    };
    struct mm *mm = test_mm(8 * MiB);
    pfn_t pfn;

    ck_assert_int_eq(mm_alloc_pages(mm, 0, cases[_i].purpose, &pfn), 0);
    ck_assert_int_eq(pageblock_type(page_zone(mm, pfn_to_page(mm, pfn)), pfn),
                     cases[_i].mt);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_free_pages(mm, pfn, 0), 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* A max-order allocation touches its head only: its tails stay TAIL and
 * clean, the per-state counts move by one page. */
START_TEST(test_block_state_on_head)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t tails = zone->nr_state[PAGE_TAIL];
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 9, MIGRATE_MOVABLE, &pfn), 0);
    ck_assert_int_eq(pfn_to_page(mm, pfn)->state, PAGE_ALLOCATED);
    for (unsigned i = 1; i < 512; i++)
        ck_assert_int_eq(pfn_to_page(mm, pfn + i)->state, PAGE_TAIL);
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], 1);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL], tails - 1);   /* 512 split off */
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, pfn, 9), 0);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL], tails);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* buddy_split_pages: an allocated block of order o keeps nr pages as
 * allocated blocks, one per bit of nr from the highest, and the rest is
 * free blocks on its pageblock's lists; buddy_check() holds after the
 * split, and freeing the kept blocks coalesces the zone again. */
static const struct { unsigned order; uint64_t nr; } splits[] = {
    { 0, 1 }, { 3, 5 }, { 3, 8 }, { 9, 300 }, { 10, 529 }, { 10, 1023 },
    { 10, 513 }, { 10, 1024 },
};

START_TEST(test_split_keeps_a_row_of_blocks)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    unsigned order = splits[_i].order;
    uint64_t nr = splits[_i].nr, off = 0, free_before;
    pfn_t pfn, kept[MM_NR_ORDERS];
    unsigned orders[MM_NR_ORDERS], nk = 0;

    ck_assert_int_eq(buddy_alloc_pages(zone, order, MIGRATE_UNMOVABLE, &pfn), 0);
    free_before = zone->free_pages;
    ck_assert_int_eq(buddy_split_pages(zone, pfn, nr), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(zone->free_pages, free_before + (1ull << order) - nr);
    for (unsigned k = order + 1; k-- > 0;) {
        const struct page *head = pfn_to_page(mm, pfn + (pfn_t)off);

        if (!(nr & (1ull << k)))
            continue;
        ck_assert_int_eq(head->state, PAGE_ALLOCATED);
        ck_assert_uint_eq(head->order, k);
        ck_assert_int_eq(head->refcount, 1);
        kept[nk] = pfn + (pfn_t)off;
        orders[nk++] = k;
        off += 1ull << k;
    }
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], nk);
    /* The rest sits on the Unmovable lists, where its pageblock is. */
    while (off < (1ull << order)) {
        const struct page *head = pfn_to_page(mm, pfn + (pfn_t)off);

        ck_assert_int_eq(head->state, PAGE_FREE);
        ck_assert_int_eq(pageblock_type(zone, pfn + (pfn_t)off),
                         MIGRATE_UNMOVABLE);
        off += 1ull << head->order;
    }
    for (unsigned i = 0; i < nk; i++) {
        ck_assert_int_eq(buddy_free_pages(zone, kept[i], orders[i]), 0);
        ck_assert_mm_ok(mm);
    }
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

/* A split of anything but a sole-owner allocated head, or to no pages
 * or more than the block has, is refused and changes nothing. */
START_TEST(test_split_refused)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t free_before;
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 2, MIGRATE_MOVABLE, &pfn), 0);
    free_before = zone->free_pages;
    test_log_quiet();
    ck_assert_int_eq(buddy_split_pages(zone, pfn, 0), -EINVAL);
    ck_assert_int_eq(buddy_split_pages(zone, pfn, 5), -EINVAL);
    ck_assert_int_eq(buddy_split_pages(zone, pfn + 1, 1), -EINVAL);   /* a tail */
    ck_assert_int_eq(buddy_split_pages(zone, pfn + 4, 1), -EINVAL);   /* free */
    ck_assert_int_eq(mm_split_pages(mm, (pfn_t)mm->nr_pages, 1), -EINVAL);
    test_log_restore();
    ck_assert_int_eq(test_log_count, 5);
    ck_assert_uint_eq(zone->free_pages, free_before);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, pfn, 2), 0);
    assert_fully_coalesced(zone);
    mm_destroy(mm);
}
END_TEST

Suite *buddy_suite(void)
{
    Suite *s = suite_create("buddy");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_split_to_order0_and_merge_back);
    tcase_add_loop_test(tc, test_alloc_each_order, 0, MM_MAX_ORDER + 1);
    tcase_add_test(tc, test_alloc_all_free_random_order_coalesces);
    tcase_add_test(tc, test_exhausted_zone_returns_enomem);
    tcase_add_test(tc, test_invalid_order_refused);
    tcase_add_loop_test(tc, test_bad_free_refused, 0, NR_BAD_FREE);
    tcase_add_test(tc, test_random_mixed_orders);
    tcase_add_loop_test(tc, test_buddy_check_detects_corruption, 0, NR_CORRUPTION);
    tcase_add_test(tc, test_buddyinfo_matches_free_lists);
    tcase_add_test(tc, test_fallback_steals_max_order_block);
    tcase_add_test(tc, test_fallback_converts_pageblock);
    tcase_add_test(tc, test_fallback_small_block_no_convert);
    tcase_add_test(tc, test_merge_across_types);
    tcase_add_test(tc, test_metadata_confined);
    tcase_add_loop_test(tc, test_purpose_picks_type, 0, 5);
    tcase_add_test(tc, test_block_state_on_head);
    tcase_add_loop_test(tc, test_split_keeps_a_row_of_blocks, 0,
                        sizeof(splits) / sizeof(splits[0]));
    tcase_add_test(tc, test_split_refused);
    suite_add_tcase(s, tc);
    return s;
}
