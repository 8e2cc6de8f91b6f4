/* test_page.c - the page descriptor: its size, its flags, and the state
 * machine refusing transitions from the wrong predecessor. */
#include "mm_test.h"

START_TEST(test_descriptor_is_small)
{
    uint32_t all = 0;
    const uint32_t flags[] = { PG_buddy, PG_locked, PG_dirty, PG_uptodate,
                               PG_lru, PG_active, PG_referenced, PG_table,
                               PG_slab };

    ck_assert_uint_eq(sizeof(struct page), 32);
    for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        ck_assert_uint_eq(all & flags[i], 0);
        all |= flags[i];
    }
}
END_TEST

/* The whole transition table, pair by pair. */
START_TEST(test_transition_table)
{
    static const struct { enum page_state from, to; bool ok; } cases[] = {
        { PAGE_FREE, PAGE_FREE, false },
        { PAGE_FREE, PAGE_ALLOCATED, true },
        { PAGE_FREE, PAGE_DATA, false },
        { PAGE_FREE, PAGE_TABLE, false },
        { PAGE_FREE, PAGE_SLAB, false },
        { PAGE_FREE, PAGE_KVMALLOC, false },
        { PAGE_FREE, PAGE_TAIL, true },         /* merged into its buddy */
        { PAGE_ALLOCATED, PAGE_FREE, true },
        { PAGE_ALLOCATED, PAGE_ALLOCATED, false },
        { PAGE_ALLOCATED, PAGE_DATA, true },
        { PAGE_ALLOCATED, PAGE_TABLE, true },
        { PAGE_ALLOCATED, PAGE_SLAB, true },
        { PAGE_ALLOCATED, PAGE_KVMALLOC, true }, /* a kvmalloc run's block */
        { PAGE_ALLOCATED, PAGE_TAIL, false },
        { PAGE_DATA, PAGE_FREE, false },
        { PAGE_DATA, PAGE_ALLOCATED, true },
        { PAGE_DATA, PAGE_DATA, false },
        { PAGE_DATA, PAGE_TABLE, false },
        { PAGE_DATA, PAGE_SLAB, false },
        { PAGE_DATA, PAGE_KVMALLOC, false },
        { PAGE_DATA, PAGE_TAIL, false },
        { PAGE_TABLE, PAGE_FREE, false },
        { PAGE_TABLE, PAGE_ALLOCATED, true },
        { PAGE_TABLE, PAGE_DATA, false },
        { PAGE_TABLE, PAGE_TABLE, false },
        { PAGE_TABLE, PAGE_SLAB, false },
        { PAGE_TABLE, PAGE_KVMALLOC, false },
        { PAGE_TABLE, PAGE_TAIL, false },
        { PAGE_SLAB, PAGE_FREE, false },
        { PAGE_SLAB, PAGE_ALLOCATED, true },
        { PAGE_SLAB, PAGE_DATA, false },
        { PAGE_SLAB, PAGE_TABLE, false },
        { PAGE_SLAB, PAGE_SLAB, false },
        { PAGE_SLAB, PAGE_KVMALLOC, false },
        { PAGE_SLAB, PAGE_TAIL, true },         /* a slab's tail given back */
        { PAGE_KVMALLOC, PAGE_FREE, false },
        { PAGE_KVMALLOC, PAGE_ALLOCATED, true },
        { PAGE_KVMALLOC, PAGE_DATA, false },
        { PAGE_KVMALLOC, PAGE_TABLE, false },
        { PAGE_KVMALLOC, PAGE_SLAB, false },
        { PAGE_KVMALLOC, PAGE_KVMALLOC, false },
        { PAGE_KVMALLOC, PAGE_TAIL, false },
        { PAGE_TAIL, PAGE_FREE, true },         /* split off a bigger block */
        { PAGE_TAIL, PAGE_ALLOCATED, true },    /* split off an allocated block */
        { PAGE_TAIL, PAGE_DATA, false },
        { PAGE_TAIL, PAGE_TABLE, false },
        { PAGE_TAIL, PAGE_SLAB, true },         /* a page of a new slab */
        { PAGE_TAIL, PAGE_KVMALLOC, false },    /* a run's tails stay TAIL */
        { PAGE_TAIL, PAGE_TAIL, false },
    };

    ck_assert_uint_eq(sizeof(cases) / sizeof(cases[0]),
                      NR_PAGE_STATES * NR_PAGE_STATES);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(page_state_allowed(cases[i].from, cases[i].to) == cases[i].ok,
                      "%s -> %s", page_state_name(cases[i].from),
                      page_state_name(cases[i].to));
    ck_assert(!page_state_allowed(NR_PAGE_STATES, PAGE_FREE));
    ck_assert(!page_state_allowed(PAGE_FREE, NR_PAGE_STATES));
    ck_assert_str_eq(page_state_name(PAGE_TABLE), "TABLE");
    ck_assert_str_eq(page_state_name(200), "INVALID");
}
END_TEST

/* A refused transition changes neither the page nor any counter. */
static void assert_refused(struct mm *mm, struct page *page, enum page_state to)
{
    struct page before = *page;
    uint64_t counts[NR_PAGE_STATES];

    memcpy(counts, page_zone(mm, page)->nr_state, sizeof(counts));
    test_log_count = 0;
    ck_assert_int_eq(page_set_state(mm, page, to), -EINVAL);
    ck_assert_int_eq(test_log_count, 1);
    ck_assert_mem_eq(&before, page, sizeof(before));
    ck_assert_mem_eq(counts, page_zone(mm, page)->nr_state, sizeof(counts));
    ck_assert_mm_ok(mm);
}

START_TEST(test_wrong_predecessor_refused)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 16);
    char buf[MM_PAGE_SIZE] = { 1 };
    struct page *free_page, *data_page, *table_page;
    pte_t *pte;
    pfn_t pfn;

    test_log_quiet();
    ck_assert_int_eq(segment_write(seg, 3, 1, buf), 0);
    ck_assert_mm_ok(mm);
    pte = pgtable_lookup(&seg->pt, 3);
    ck_assert_ptr_nonnull(pte);
    data_page = pfn_to_page(mm, pte_pfn(*pte));
    table_page = pfn_to_page(mm, seg->pt.root);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_free_pages(mm, pfn, 0), 0);
    ck_assert_mm_ok(mm);
    free_page = pfn_to_page(mm, pfn);
    ck_assert_int_eq(free_page->state, PAGE_FREE);

    assert_refused(mm, free_page, PAGE_DATA);
    assert_refused(mm, free_page, PAGE_TABLE);
    assert_refused(mm, free_page, PAGE_FREE);
    assert_refused(mm, data_page, PAGE_TABLE);
    assert_refused(mm, data_page, PAGE_FREE);
    assert_refused(mm, table_page, PAGE_DATA);
    assert_refused(mm, table_page, PAGE_FREE);
    test_log_restore();

    segment_destroy(seg);
    memcg_destroy(cg);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* States are the heads': an order-2 block split off a max-order one is
 * one ALLOCATED head and three tails, beside one free head per order
 * split off; freeing merges it all back into one free head. */
START_TEST(test_state_counters_follow_transitions)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t pfn;

    ck_assert_uint_eq(zone->nr_state[PAGE_FREE], 1);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL], 1023);
    ck_assert_int_eq(mm_alloc_pages(mm, 2, ALLOC_DATA, &pfn), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], 1);
    ck_assert_uint_eq(zone->nr_state[PAGE_FREE], MM_MAX_ORDER - 2);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL], 1024 - 1 - (MM_MAX_ORDER - 2));
    ck_assert_int_eq(page_set_state(mm, pfn_to_page(mm, pfn), PAGE_TABLE), 0);
    ck_assert_uint_eq(zone->nr_state[PAGE_TABLE], 1);
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], 0);
    /* A table page no segment has: the walker says so. */
    test_log_quiet();
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    test_log_restore();
    ck_assert_int_eq(page_set_state(mm, pfn_to_page(mm, pfn), PAGE_ALLOCATED), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_free_pages(mm, pfn, 2), 0);
    ck_assert_uint_eq(zone->nr_state[PAGE_FREE], 1);
    ck_assert_uint_eq(zone->nr_state[PAGE_TAIL], 1023);
    ck_assert_uint_eq(zone->nr_state[PAGE_ALLOCATED], 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_rmap_index_keeps_36_bits)
{
    struct page page;
    static const uint64_t indices[] = { 0, 1, UINT32_MAX, 1ull << 32,
                                        SEGMENT_MAX_PAGES - 1 };

    memset(&page, 0, sizeof(page));
    for (unsigned i = 0; i < sizeof(indices) / sizeof(indices[0]); i++) {
        page_set_rmap(&page, 7, indices[i]);
        ck_assert_uint_eq(page.seg_id, 7);
        ck_assert_uint_eq(page_index(&page), indices[i]);
    }
    page_clear_rmap(&page);
    ck_assert_uint_eq(page.seg_id, 0);
    ck_assert_uint_eq(page_index(&page), 0);
}
END_TEST

Suite *page_suite(void)
{
    Suite *s = suite_create("page");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_descriptor_is_small);
    tcase_add_test(tc, test_transition_table);
    tcase_add_test(tc, test_wrong_predecessor_refused);
    tcase_add_test(tc, test_state_counters_follow_transitions);
    tcase_add_test(tc, test_rmap_index_keeps_36_bits);
    suite_add_tcase(s, tc);
    return s;
}
