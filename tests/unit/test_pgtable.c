/* test_pgtable.c - the 4-level page table on its own: PTE encoding,
 * populate and lookup at every level up to index 2^36-1, table pages
 * counted and all freed again, unwinding when the pool runs dry, and the
 * checker catching a broken reverse map. */
#include <stdlib.h>

#include "mm_test.h"

#define TEST_SEG_ID 77u

/* Every pgtable test checks the zone and the tree after each step; mm_check
 * would also want a segment behind TEST_SEG_ID, which these tests skip. */
static void assert_tree_ok(const struct pgtable *pt, uint64_t present)
{
    uint64_t n = ~0ull;

    ck_assert_int_eq(buddy_check(&pt->mm->zones[0]), 0);
    ck_assert_int_eq(pgtable_check(pt, &n), 0);
    ck_assert_uint_eq(n, present);
    ck_assert_uint_eq(pt->mm->zones[0].nr_state[PAGE_TABLE], pt->nr_tables);
}

/* A DATA page mapping back to (TEST_SEG_ID, index), as a segment makes. */
static pfn_t make_data_page(struct mm *mm, uint64_t index)
{
    pfn_t pfn;

    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
    ck_assert_int_eq(page_set_state(mm, pfn_to_page(mm, pfn), PAGE_DATA), 0);
    page_set_rmap(pfn_to_page(mm, pfn), TEST_SEG_ID, index);
    return pfn;
}

static int release_data(void *arg, uint64_t index, pte_t *pte)
{
    struct mm *mm = arg;
    struct page *page = pfn_to_page(mm, pte_pfn(*pte));

    ck_assert(pte_present(*pte));
    ck_assert_uint_eq(page_index(page), index);
    page_clear_rmap(page);
    ck_assert_int_eq(page_set_state(mm, page, PAGE_ALLOCATED), 0);
    return mm_free_pages(mm, pte_pfn(*pte), 0);
}

START_TEST(test_pte_encoding)
{
    static const pfn_t pfns[] = { 0, 1, 4095, 1u << 20, PFN_NONE - 1 };
    static const uint64_t flags[] = { 0, PTE_DIRTY, PTE_ACCESSED | PTE_COW,
                                      PTE_DIRTY | PTE_ACCESSED | PTE_COW };

    ck_assert(pte_none(0));
    for (unsigned i = 0; i < sizeof(pfns) / sizeof(pfns[0]); i++) {
        for (unsigned f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
            pte_t pte = pfn_pte(pfns[i], flags[f]);

            ck_assert(pte_present(pte) && !pte_none(pte) && !pte_is_swap(pte));
            ck_assert_uint_eq(pte_pfn(pte), pfns[i]);
            ck_assert_uint_eq(pte & (PTE_DIRTY | PTE_ACCESSED | PTE_COW), flags[f]);
        }
    }
    for (unsigned type = 0; type < MAX_SWAPFILES; type += 7) {
        static const uint64_t offsets[] = { 0, 1, 123456789, SWP_OFFSET_MAX };

        for (unsigned o = 0; o < 4; o++) {
            pte_t pte = swp_entry_pte(type, offsets[o]);

            ck_assert(!pte_present(pte) && pte_is_swap(pte) && !pte_none(pte));
            ck_assert_uint_eq(pte_swp_type(pte), type);
            ck_assert_uint_eq(pte_swp_offset(pte), offsets[o]);
        }
    }
}
END_TEST

/* Indices that exercise each level's first, last and a middle slot. */
static const uint64_t level_indices[] = {
    0, 1, 511, 512, 513, (1ull << 18) - 1, 1ull << 18, (1ull << 27) - 1,
    1ull << 27, 1ull << 35, SEGMENT_MAX_PAGES - 512, SEGMENT_MAX_PAGES - 1,
};
#define NR_LEVEL_INDICES (sizeof(level_indices) / sizeof(level_indices[0]))

START_TEST(test_populate_lookup_one_index)
{
    uint64_t index = level_indices[_i];
    struct mm *mm = test_mm(4 * MiB);
    struct pgtable pt;
    pte_t *pte;
    pfn_t pfn;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    ck_assert_ptr_null(pgtable_lookup(&pt, index));
    pfn = make_data_page(mm, index);
    ck_assert_int_eq(pgtable_install(&pt, index, pfn_pte(pfn, PTE_DIRTY)), 0);
    ck_assert_uint_eq(pt.nr_tables, PGTABLE_LEVELS);
    assert_tree_ok(&pt, 1);
    pte = pgtable_lookup(&pt, index);
    ck_assert_ptr_nonnull(pte);
    ck_assert_uint_eq(pte_pfn(*pte), pfn);
    ck_assert(*pte & PTE_DIRTY);
    /* The neighbour in the same leaf table is none; one in another
     * subtree has no table at all. */
    pte = pgtable_lookup(&pt, index ^ 1);
    ck_assert(pte && pte_none(*pte));
    ck_assert_ptr_null(pgtable_lookup(&pt, index ^ (1ull << 30)));
    ck_assert_ptr_null(pgtable_lookup(&pt, SEGMENT_MAX_PAGES));
    ck_assert_int_eq(pgtable_install(&pt, index, pfn_pte(pfn, 0)), -EEXIST);

    ck_assert_int_eq(pgtable_clear_range(&pt, index, index, release_data, mm), 0);
    ck_assert_uint_eq(pt.nr_tables, 0);
    ck_assert_uint_eq(pt.root, PFN_NONE);
    assert_tree_ok(&pt, 0);
    ck_assert_uint_eq(mm->zones[0].free_pages, mm->zones[0].managed_pages);
    mm_destroy(mm);
}
END_TEST

/* Tables shared by neighbours: one table per distinct index prefix. */
static uint64_t expected_tables(const uint64_t *idx, const bool *live, unsigned n)
{
    uint64_t tables = 0;

    for (unsigned level = 1; level <= PGTABLE_LEVELS; level++) {
        unsigned shift = level * PGTABLE_SHIFT;

        for (unsigned i = 0; i < n; i++) {
            bool first = live[i];

            for (unsigned j = 0; j < i && first; j++)
                if (live[j] && idx[j] >> shift == idx[i] >> shift)
                    first = false;
            tables += first;
        }
    }
    return tables;
}

START_TEST(test_tables_shared_and_freed_when_empty)
{
    struct mm *mm = test_mm(4 * MiB);
    struct pgtable pt;
    bool live[NR_LEVEL_INDICES] = { false };
    pfn_t order[NR_LEVEL_INDICES];
    unsigned nr_live = 0;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    for (unsigned i = 0; i < NR_LEVEL_INDICES; i++) {
        pfn_t pfn = make_data_page(mm, level_indices[i]);

        ck_assert_int_eq(pgtable_install(&pt, level_indices[i], pfn_pte(pfn, 0)), 0);
        live[i] = true;
        assert_tree_ok(&pt, ++nr_live);
        ck_assert_uint_eq(pt.nr_tables,
                          expected_tables(level_indices, live, NR_LEVEL_INDICES));
        order[i] = i;
    }
    test_shuffle(order, NR_LEVEL_INDICES, 7);
    for (unsigned k = 0; k < NR_LEVEL_INDICES; k++) {
        uint64_t index = level_indices[order[k]];

        ck_assert_int_eq(pgtable_clear_range(&pt, index, index, release_data, mm), 0);
        live[order[k]] = false;
        assert_tree_ok(&pt, --nr_live);
        ck_assert_uint_eq(pt.nr_tables,
                          expected_tables(level_indices, live, NR_LEVEL_INDICES));
    }
    ck_assert_uint_eq(pt.root, PFN_NONE);
    ck_assert_uint_eq(mm->zones[0].free_pages, mm->zones[0].managed_pages);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_free_tree_releases_every_table)
{
    struct mm *mm = test_mm(8 * MiB);
    struct pgtable pt;
    uint64_t rng = 99, installed = 0;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    for (unsigned i = 0; i < 300; i++) {
        uint64_t index = test_rand(&rng) % SEGMENT_MAX_PAGES;
        int err = pgtable_install(&pt, index, swp_entry_pte(1, index));

        ck_assert(err == 0 || err == -EEXIST);
        installed += err == 0;
    }
    assert_tree_ok(&pt, 0);         /* swap entries are not present */
    ck_assert_uint_gt(pt.nr_tables, installed);
    ck_assert_int_eq(pgtable_free_tree(&pt), 0);
    ck_assert_uint_eq(pt.nr_tables, 0);
    ck_assert_uint_eq(pt.root, PFN_NONE);
    assert_tree_ok(&pt, 0);
    ck_assert_uint_eq(mm->zones[0].free_pages, mm->zones[0].managed_pages);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_clear_range_walks_only_populated)
{
    struct mm *mm = test_mm(4 * MiB);
    struct pgtable pt;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    ck_assert_int_eq(pgtable_install(&pt, 5, swp_entry_pte(0, 5)), 0);
    ck_assert_int_eq(pgtable_install(&pt, SEGMENT_MAX_PAGES - 5,
                                     swp_entry_pte(0, 6)), 0);
    /* Ranges that miss both entries leave the tree as it is. */
    ck_assert_int_eq(pgtable_clear_range(&pt, 6, SEGMENT_MAX_PAGES - 6, NULL, NULL), 0);
    ck_assert_uint_eq(pt.nr_tables, 7);
    ck_assert_int_eq(pgtable_clear_range(&pt, 0, 4, NULL, NULL), 0);
    ck_assert_uint_eq(pt.nr_tables, 7);
    assert_tree_ok(&pt, 0);
    ck_assert_int_eq(pgtable_clear_range(&pt, 0, SEGMENT_MAX_PAGES - 6, NULL, NULL), 0);
    ck_assert_uint_eq(pt.nr_tables, 4);
    ck_assert_int_eq(pgtable_clear_range(&pt, 1, 0, NULL, NULL), -EINVAL);
    ck_assert_int_eq(pgtable_clear_range(&pt, 0, SEGMENT_MAX_PAGES, NULL, NULL), -EINVAL);
    ck_assert_int_eq(pgtable_free_tree(&pt), 0);
    assert_tree_ok(&pt, 0);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_install_rejects)
{
    struct mm *mm = test_mm(4 * MiB);
    struct pgtable pt;
    uint64_t free_pages = mm->zones[0].free_pages;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    ck_assert_int_eq(pgtable_install(&pt, SEGMENT_MAX_PAGES, swp_entry_pte(0, 1)), -EINVAL);
    ck_assert_int_eq(pgtable_install(&pt, 0, 0), -EINVAL);
    ck_assert_uint_eq(mm->zones[0].free_pages, free_pages);
    assert_tree_ok(&pt, 0);
    mm_destroy(mm);
}
END_TEST

/* With k free pages and 4 tables needed, install fails for k < 4 and
 * leaves neither tables nor lost pages behind. */
START_TEST(test_install_unwinds_on_enomem)
{
    uint64_t keep = (uint64_t)_i;
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    pfn_t *taken = calloc(zone->managed_pages, sizeof(*taken));
    uint64_t n = test_drain_zone(zone, keep, taken);
    struct pgtable pt;
    int err;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    err = pgtable_install(&pt, 1ull << 30, swp_entry_pte(0, 1));
    if (keep < PGTABLE_LEVELS) {
        ck_assert_int_eq(err, -ENOMEM);
        ck_assert_uint_eq(pt.nr_tables, 0);
        ck_assert_uint_eq(pt.root, PFN_NONE);
        ck_assert_uint_eq(zone->free_pages, keep);
    } else {
        ck_assert_int_eq(err, 0);
        ck_assert_uint_eq(pt.nr_tables, PGTABLE_LEVELS);
        ck_assert_int_eq(pgtable_free_tree(&pt), 0);
    }
    assert_tree_ok(&pt, 0);
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(buddy_free_pages(zone, taken[i], 0), 0);
    ck_assert_uint_eq(zone->free_pages, zone->managed_pages);
    free(taken);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_check_detects_broken_rmap)
{
    struct mm *mm = test_mm(4 * MiB);
    struct pgtable pt;
    pfn_t pfn = make_data_page(mm, 1000);
    struct page *page = pfn_to_page(mm, pfn);
    uint64_t n;

    pgtable_init(&pt, mm, TEST_SEG_ID);
    ck_assert_int_eq(pgtable_install(&pt, 1000, pfn_pte(pfn, 0)), 0);
    assert_tree_ok(&pt, 1);
    test_log_quiet();
    page_set_rmap(page, TEST_SEG_ID, 1001);
    ck_assert_int_eq(pgtable_check(&pt, &n), -EUCLEAN);
    page_set_rmap(page, TEST_SEG_ID + 1, 1000);
    ck_assert_int_eq(pgtable_check(&pt, &n), -EUCLEAN);
    page_set_rmap(page, TEST_SEG_ID, 1000);
    pfn_to_page(mm, pt.root)->nr_used++;
    ck_assert_int_eq(pgtable_check(&pt, &n), -EUCLEAN);
    pfn_to_page(mm, pt.root)->nr_used--;
    ck_assert_int_gt(test_log_count, 0);
    test_log_restore();
    assert_tree_ok(&pt, 1);
    ck_assert_int_eq(pgtable_clear_range(&pt, 0, SEGMENT_MAX_PAGES - 1,
                                         release_data, mm), 0);
    assert_tree_ok(&pt, 0);
    mm_destroy(mm);
}
END_TEST

Suite *pgtable_suite(void)
{
    Suite *s = suite_create("pgtable");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_pte_encoding);
    tcase_add_loop_test(tc, test_populate_lookup_one_index, 0, NR_LEVEL_INDICES);
    tcase_add_test(tc, test_tables_shared_and_freed_when_empty);
    tcase_add_test(tc, test_free_tree_releases_every_table);
    tcase_add_test(tc, test_clear_range_walks_only_populated);
    tcase_add_test(tc, test_install_rejects);
    tcase_add_loop_test(tc, test_install_unwinds_on_enomem, 0, PGTABLE_LEVELS + 1);
    tcase_add_test(tc, test_check_detects_broken_rmap);
    suite_add_tcase(s, tc);
    return s;
}
