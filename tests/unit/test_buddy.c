/* test_buddy.c - the buddy allocator: split, merge, every order,
 * exhaustion, bad frees refused, and buddy_check() catching corruption. */
#include <stdlib.h>

#include "mm_test.h"

static void assert_fully_coalesced(const struct zone *zone)
{
    for (unsigned o = 0; o < MM_MAX_ORDER; o++)
        ck_assert_uint_eq(zone->free_area[o].nr_free, 0);
    ck_assert_uint_eq(zone->free_area[MM_MAX_ORDER].nr_free,
                      zone->managed_pages / MAX_ORDER_NR_PAGES);
    ck_assert_uint_eq(zone->free_pages, zone->managed_pages);
}

START_TEST(test_split_to_order0_and_merge_back)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 0, &pfn), 0);
    ck_assert_uint_eq(pfn, zone->start_pfn);
    ck_assert_mm_ok(mm);
    /* One max-order block split all the way down: one free block per
     * lower order, as /proc/buddyinfo would show it. */
    for (unsigned o = 0; o < MM_MAX_ORDER; o++)
        ck_assert_uint_eq(zone->free_area[o].nr_free, 1);
    ck_assert_uint_eq(zone->free_area[MM_MAX_ORDER].nr_free, 0);
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

    while (buddy_alloc_pages(zone, order, &pfn) == 0) {
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
        ck_assert_int_eq(buddy_alloc_pages(zone, 0, &pfns[i]), 0);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, &pfn), -ENOMEM);
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

    while (buddy_alloc_pages(zone, MM_MAX_ORDER, &pfn) == 0)
        ck_assert_mm_ok(mm);
    for (unsigned o = 0; o <= MM_MAX_ORDER; o++)
        ck_assert_int_eq(buddy_alloc_pages(zone, o, &pfn), -ENOMEM);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn), -ENOMEM);
    ck_assert_mm_ok(mm);
    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.free_pages, 0);
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], st.total_pages);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_invalid_order_refused)
{
    struct mm *mm = test_mm(4 * MiB);
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(&mm->zones[0], MM_MAX_ORDER + 1, &pfn),
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
    ck_assert_int_eq(buddy_alloc_pages(zone, 3, &block), 0);
    ck_assert_int_eq(buddy_alloc_pages(zone, 0, &other), 0);
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
            int err = buddy_alloc_pages(zone, order, &pfn);

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
                  BAD_LIST_LINK, BAD_UNMERGED, NR_CORRUPTION };

START_TEST(test_buddy_check_detects_corruption)
{
    struct mm *mm = test_mm(8 * MiB);
    struct zone *zone = &mm->zones[0];
    struct page *head, *tail, saved_head, saved_tail;
    struct free_area saved_area[MM_NR_ORDERS];
    uint64_t saved_free;
    pfn_t pfn;

    ck_assert_int_eq(buddy_alloc_pages(zone, 0, &pfn), 0);
    head = pfn_to_page(mm, zone->free_area[5].head);
    tail = head + 1;
    saved_head = *head;
    saved_tail = *tail;
    memcpy(saved_area, zone->free_area, sizeof(saved_area));
    saved_free = zone->free_pages;

    test_log_quiet();
    switch (_i) {
    case BAD_NR_FREE:
        zone->free_area[3].nr_free++;
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
        head->next = zone->free_area[5].head;     /* a cycle */
        break;
    case BAD_UNMERGED:
        /* The order-0 buddy of the allocated page, claimed free too. */
        pfn_to_page(mm, pfn)->state = PAGE_FREE;
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
        ck_assert_int_eq(buddy_alloc_pages(zone, o, &pfn), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_zone_info(mm, 0, &zi), 0);
    ck_assert_str_eq(zi.name, "Normal");
    for (unsigned o = 0; o <= MM_MAX_ORDER; o++) {
        ck_assert_uint_eq(zi.nr_free[o], zone->free_area[o].nr_free);
        free_pages += zi.nr_free[o] << o;
    }
    ck_assert_uint_eq(zi.free_pages, free_pages);
    ck_assert_uint_eq(zi.managed_pages, 4096);
    ck_assert_uint_eq(zi.free_pages, 4096 - (1 + 8 + 64 + 512));
    ck_assert_int_eq(mm_zone_info(mm, 1, &zi), -ENOENT);
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
    suite_add_tcase(s, tc);
    return s;
}
