/* test_segment.c - segments through mm.h: write/read round trips, zeros
 * for pages never written, discard, range checks, and running out of pool
 * pages in the middle of a write without leaking or skewing a counter. */
#include <stdlib.h>

#include "mm_test.h"

struct fixture {
    struct mm *mm;
    struct memcg *cg;
    struct segment *seg;
};

static struct fixture setup(uint64_t pool, uint64_t npages)
{
    struct fixture f;

    f.mm = test_mm(pool);
    f.cg = test_memcg(f.mm, "tenant");
    f.seg = test_segment(f.mm, f.cg, npages);
    ck_assert_mm_ok(f.mm);
    return f;
}

static void teardown(struct fixture *f)
{
    struct mm_stat st;

    segment_destroy(f->seg);
    ck_assert_uint_eq(f->cg->usage, 0);
    memcg_destroy(f->cg);
    ck_assert_mm_ok(f->mm);
    mm_get_stat(f->mm, &st);
    /* What is not free is empty slabs kept for reuse: nothing leaked. */
    ck_assert_uint_eq(st.free_pages + st.slab_reclaimable_pages, st.total_pages);
    ck_assert_uint_eq(st.slab_pages, st.slab_reclaimable_pages);
    ck_assert_uint_eq(st.data_pages + st.table_pages + st.segments, 0);
    mm_destroy(f->mm);
}

START_TEST(test_write_read_roundtrip_random)
{
    struct fixture f = setup(16 * MiB, 1ull << 24);
    enum { NR_WRITES = 40, MAX_RUN = 8 };
    struct { uint64_t first; uint32_t count; uint64_t seed; } w[NR_WRITES];
    char *buf = malloc(MAX_RUN * MM_PAGE_SIZE), *got = malloc(MAX_RUN * MM_PAGE_SIZE);
    uint64_t rng = 2024;

    for (unsigned i = 0; i < NR_WRITES; i++) {
        /* Disjoint runs: run i lives in its own 2^18-page stretch. */
        w[i].first = (uint64_t)i << 18 | (test_rand(&rng) % 4096);
        w[i].count = 1 + (uint32_t)(test_rand(&rng) % MAX_RUN);
        w[i].seed = test_rand(&rng);
        test_fill(buf, (size_t)w[i].count * MM_PAGE_SIZE, w[i].seed);
        ck_assert_int_eq(segment_write(f.seg, w[i].first, w[i].count, buf), 0);
        ck_assert_mm_ok(f.mm);
    }
    for (unsigned i = 0; i < NR_WRITES; i++) {
        size_t len = (size_t)w[i].count * MM_PAGE_SIZE;

        test_fill(buf, len, w[i].seed);
        ck_assert_int_eq(segment_read(f.seg, w[i].first, w[i].count, got), 0);
        ck_assert_mem_eq(buf, got, len);
        ck_assert_mm_ok(f.mm);
    }
    free(buf);
    free(got);
    teardown(&f);
}
END_TEST

START_TEST(test_never_written_reads_zero_and_costs_nothing)
{
    struct fixture f = setup(8 * MiB, SEGMENT_MAX_PAGES);
    char *buf = malloc(8 * MM_PAGE_SIZE);
    static const uint64_t firsts[] = { 0, 1000, 1ull << 32, SEGMENT_MAX_PAGES - 8 };
    struct mm_stat st;

    for (unsigned i = 0; i < 4; i++) {
        memset(buf, 0xa5, 8 * MM_PAGE_SIZE);
        ck_assert_int_eq(segment_read(f.seg, firsts[i], 8, buf), 0);
        ck_assert(test_is_zero(buf, 8 * MM_PAGE_SIZE));
    }
    mm_get_stat(f.mm, &st);
    ck_assert_uint_eq(st.data_pages + st.table_pages, 0);
    ck_assert_uint_eq(segment_resident_pages(f.seg), 0);
    ck_assert_uint_eq(segment_npages(f.seg), SEGMENT_MAX_PAGES);

    /* A written page's neighbours still read as zeros. */
    test_fill(buf, MM_PAGE_SIZE, 5);
    ck_assert_int_eq(segment_write(f.seg, SEGMENT_MAX_PAGES - 1, 1, buf), 0);
    ck_assert_int_eq(segment_read(f.seg, SEGMENT_MAX_PAGES - 8, 8, buf), 0);
    ck_assert(test_is_zero(buf, 7 * MM_PAGE_SIZE));
    ck_assert(!test_is_zero(buf + 7 * MM_PAGE_SIZE, MM_PAGE_SIZE));
    ck_assert_mm_ok(f.mm);
    free(buf);
    teardown(&f);
}
END_TEST

START_TEST(test_write_sets_pte_and_page_state)
{
    struct fixture f = setup(8 * MiB, 64);
    char buf[MM_PAGE_SIZE];
    struct page *page;
    pte_t *pte;

    test_fill(buf, sizeof(buf), 3);
    ck_assert_int_eq(segment_write(f.seg, 9, 1, buf), 0);
    pte = pgtable_lookup(&f.seg->pt, 9);
    ck_assert(pte && pte_present(*pte) && (*pte & PTE_DIRTY));
    page = pfn_to_page(f.mm, pte_pfn(*pte));
    ck_assert_int_eq(page->state, PAGE_DATA);
    ck_assert(page_test(page, PG_uptodate) && page_test(page, PG_dirty));
    ck_assert_uint_eq(page->seg_id, f.seg->id);
    ck_assert_uint_eq(page_index(page), 9);
    ck_assert_uint_eq(page->memcg_id, f.cg->id);
    ck_assert(!page_test(page, PG_referenced));
    ck_assert_int_eq(segment_read(f.seg, 9, 1, buf), 0);
    ck_assert(page_test(page, PG_referenced));
    ck_assert(*pte & PTE_ACCESSED);
    teardown(&f);
}
END_TEST

START_TEST(test_overwrite_reuses_page)
{
    struct fixture f = setup(8 * MiB, 64);
    char a[MM_PAGE_SIZE], b[MM_PAGE_SIZE], got[MM_PAGE_SIZE];
    struct mm_stat st;

    test_fill(a, sizeof(a), 1);
    test_fill(b, sizeof(b), 2);
    ck_assert_int_eq(segment_write(f.seg, 7, 1, a), 0);
    ck_assert_int_eq(segment_write(f.seg, 7, 1, b), 0);
    ck_assert_int_eq(segment_read(f.seg, 7, 1, got), 0);
    ck_assert_mem_eq(b, got, sizeof(got));
    mm_get_stat(f.mm, &st);
    ck_assert_uint_eq(st.data_pages, 1);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), MM_PAGE_SIZE);
    ck_assert_uint_eq(segment_resident_pages(f.seg), 1);
    ck_assert_mm_ok(f.mm);
    teardown(&f);
}
END_TEST

START_TEST(test_discard_frees_and_reads_zero)
{
    struct fixture f = setup(8 * MiB, 1024);
    char *buf = malloc(16 * MM_PAGE_SIZE), *got = malloc(16 * MM_PAGE_SIZE);
    struct mm_stat st;

    test_fill(buf, 16 * MM_PAGE_SIZE, 11);
    ck_assert_int_eq(segment_write(f.seg, 504, 16, buf), 0);    /* spans 2 leaves */
    ck_assert_int_eq(segment_discard(f.seg, 508, 8), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(segment_resident_pages(f.seg), 8);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 8 * MM_PAGE_SIZE);
    ck_assert_int_eq(segment_read(f.seg, 504, 16, got), 0);
    ck_assert_mem_eq(buf, got, 4 * MM_PAGE_SIZE);
    ck_assert(test_is_zero(got + 4 * MM_PAGE_SIZE, 8 * MM_PAGE_SIZE));
    ck_assert_mem_eq(buf + 12 * MM_PAGE_SIZE, got + 12 * MM_PAGE_SIZE,
                     4 * MM_PAGE_SIZE);
    /* Discarding what is not there is not an error. */
    ck_assert_int_eq(segment_discard(f.seg, 0, 100), 0);
    ck_assert_int_eq(segment_discard(f.seg, 0, 1024), 0);
    ck_assert_mm_ok(f.mm);
    mm_get_stat(f.mm, &st);
    ck_assert_uint_eq(st.data_pages + st.table_pages, 0);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 0);
    free(buf);
    free(got);
    teardown(&f);
}
END_TEST

START_TEST(test_discard_whole_huge_segment)
{
    struct fixture f = setup(8 * MiB, SEGMENT_MAX_PAGES);
    char buf[MM_PAGE_SIZE];
    static const uint64_t at[] = { 0, 1ull << 20, 1ull << 33, SEGMENT_MAX_PAGES - 1 };

    test_fill(buf, sizeof(buf), 8);
    for (unsigned i = 0; i < 4; i++)
        ck_assert_int_eq(segment_write(f.seg, at[i], 1, buf), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(segment_discard(f.seg, 0, SEGMENT_MAX_PAGES), 0);
    ck_assert_uint_eq(segment_resident_pages(f.seg), 0);
    ck_assert_uint_eq(f.seg->pt.nr_tables, 0);
    ck_assert_mm_ok(f.mm);
    teardown(&f);
}
END_TEST

START_TEST(test_out_of_range)
{
    static const struct {
        char op;                        /* r, w, d */
        uint64_t first, count;
        int expect;
    } cases[] = {
        { 'r', 0, 100, 0 },
        { 'r', 99, 1, 0 },
        { 'r', 100, 0, 0 },
        { 'r', 100, 1, -ERANGE },
        { 'r', 99, 2, -ERANGE },
        { 'r', 101, 0, -ERANGE },
        { 'r', UINT64_MAX, 1, -ERANGE },
        { 'w', 0, 101, -ERANGE },
        { 'w', 100, 1, -ERANGE },
        { 'w', UINT64_MAX, 2, -ERANGE },
        { 'w', 1ull << 36, 1, -ERANGE },
        { 'w', 98, 2, 0 },
        { 'd', 0, 101, -ERANGE },
        { 'd', 1, UINT64_MAX, -ERANGE },
        { 'd', UINT64_MAX, 1, -ERANGE },
        { 'd', 100, 0, 0 },
        { 'd', 0, 100, 0 },
    };
    struct fixture f = setup(8 * MiB, 100);
    char *buf = calloc(101, MM_PAGE_SIZE);

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int err = 0;

        switch (cases[i].op) {
        case 'r':
            err = segment_read(f.seg, cases[i].first, (uint32_t)cases[i].count, buf);
            break;
        case 'w':
            err = segment_write(f.seg, cases[i].first, (uint32_t)cases[i].count, buf);
            break;
        case 'd':
            err = segment_discard(f.seg, cases[i].first, cases[i].count);
            break;
        }
        ck_assert_msg(err == cases[i].expect, "case %u: %c(%llu, %llu) = %d",
                      i, cases[i].op, (unsigned long long)cases[i].first,
                      (unsigned long long)cases[i].count, err);
        ck_assert_mm_ok(f.mm);
    }
    ck_assert_int_eq(segment_write(f.seg, 0, 1, NULL), -EINVAL);
    ck_assert_int_eq(segment_read(f.seg, 0, 1, NULL), -EINVAL);
    ck_assert_int_eq(segment_read(NULL, 0, 1, buf), -EINVAL);
    free(buf);
    teardown(&f);
}
END_TEST

START_TEST(test_create_rejects)
{
    struct mm *mm = test_mm(4 * MiB), *other = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "a"), *foreign = test_memcg(other, "b");
    struct segment *seg = (struct segment *)&cg;

    ck_assert_int_eq(segment_create(mm, cg, 0, &seg), -EINVAL);
    ck_assert_int_eq(segment_create(mm, cg, SEGMENT_MAX_PAGES + 1, &seg), -EINVAL);
    ck_assert_int_eq(segment_create(mm, NULL, 1, &seg), -EINVAL);
    ck_assert_int_eq(segment_create(mm, foreign, 1, &seg), -EINVAL);
    ck_assert_int_eq(segment_create(NULL, cg, 1, &seg), -EINVAL);
    ck_assert_int_eq(segment_create(mm, cg, 1, NULL), -EINVAL);
    ck_assert_ptr_eq(seg, (struct segment *)&cg);
    ck_assert_int_eq(segment_create(mm, cg, SEGMENT_MAX_PAGES, &seg), 0);
    ck_assert_mm_ok(mm);
    segment_destroy(seg);
    segment_destroy(NULL);
    mm_destroy(mm);
    mm_destroy(other);
}
END_TEST

/* Write until the pool refuses: -ENOMEM, the failed page left no trace,
 * counters agree, and destroying the segment returns every page. */
START_TEST(test_pool_exhaustion_enomem_no_leak)
{
    struct fixture f = setup(8 * MiB, 1ull << 20);
    char buf[MM_PAGE_SIZE];
    uint64_t written = 0;
    struct mm_stat st;
    int err;

    test_fill(buf, sizeof(buf), 4);
    while ((err = segment_write(f.seg, written, 1, buf)) == 0)
        written++;
    ck_assert_int_eq(err, -ENOMEM);
    ck_assert_mm_ok(f.mm);
    mm_get_stat(f.mm, &st);
    ck_assert_uint_eq(st.data_pages, written);
    ck_assert_uint_eq(segment_resident_pages(f.seg), written);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), written * MM_PAGE_SIZE);
    ck_assert_uint_eq(memcg_failcnt(f.cg), 0);  /* the pool refused, not the memcg */
    ck_assert_uint_eq(st.free_pages, f.mm->zones[0].watermark[WMARK_MIN]);
    ck_assert_uint_eq(st.total_pages, st.free_pages + st.data_pages +
                                      st.table_pages + st.slab_pages);
    /* The page that failed still reads as zeros; its predecessors don't. */
    ck_assert_int_eq(segment_read(f.seg, written, 1, buf), 0);
    ck_assert(test_is_zero(buf, sizeof(buf)));
    ck_assert_int_eq(segment_read(f.seg, written - 1, 1, buf), 0);
    ck_assert(!test_is_zero(buf, sizeof(buf)));
    /* A multi-page write stops at the first page it cannot place. */
    ck_assert_int_eq(segment_discard(f.seg, 0, 2), 0);
    {
        char *three = calloc(3, MM_PAGE_SIZE);

        memset(three, 1, 3 * MM_PAGE_SIZE);
        ck_assert_int_eq(segment_write(f.seg, written, 3, three), -ENOMEM);
        free(three);
    }
    ck_assert_uint_eq(segment_resident_pages(f.seg), written);
    ck_assert_mm_ok(f.mm);
    teardown(&f);
}
END_TEST

/* Watermarks off and k pages left: a first write into an empty segment
 * needs 1 data page + 4 tables.  Below 5 it fails, charging nothing and
 * losing nothing; at 5 it succeeds. */
START_TEST(test_write_unwinds_when_tables_fail)
{
    uint64_t keep = (uint64_t)_i;
    struct fixture f = setup(4 * MiB, 1ull << 30);
    struct zone *zone = &f.mm->zones[0];
    pfn_t *taken = calloc(zone->managed_pages, sizeof(*taken));
    char buf[MM_PAGE_SIZE];
    uint64_t n;
    int err;

    test_no_watermarks(f.mm);
    n = test_drain_zone(zone, keep, taken);
    test_fill(buf, sizeof(buf), 6);
    err = segment_write(f.seg, 12345, 1, buf);
    ck_assert_mm_ok(f.mm);
    if (keep < 1 + PGTABLE_LEVELS) {
        ck_assert_int_eq(err, -ENOMEM);
        ck_assert_uint_eq(zone->free_pages, keep);
        ck_assert_uint_eq(memcg_usage_bytes(f.cg), 0);
        /* The page is allocated before it is charged (as Linux's
         * do_anonymous_page): with no page to be had nothing was charged;
         * with the page but not its tables, the high-water mark saw the
         * charge that was then undone. */
        ck_assert_uint_eq(memcg_max_usage_bytes(f.cg), keep ? MM_PAGE_SIZE : 0);
        ck_assert_uint_eq(memcg_failcnt(f.cg), 0);
        ck_assert_uint_eq(segment_resident_pages(f.seg), 0);
        ck_assert_uint_eq(f.seg->pt.nr_tables, 0);
    } else {
        ck_assert_int_eq(err, 0);
        ck_assert_uint_eq(zone->free_pages, keep - 1 - PGTABLE_LEVELS);
    }
    for (uint64_t i = 0; i < n; i++)
        ck_assert_int_eq(buddy_free_pages(zone, taken[i], 0), 0);
    free(taken);
    teardown(&f);
}
END_TEST

START_TEST(test_mm_destroy_frees_live_segments)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *a = test_memcg(mm, "a"), *b = test_memcg(mm, "b");
    char buf[MM_PAGE_SIZE] = { 7 };
    struct mm_stat st;

    for (unsigned i = 0; i < 6; i++) {
        struct segment *seg = test_segment(mm, i % 2 ? a : b, 1ull << 30);

        ck_assert_int_eq(segment_write(seg, (uint64_t)i << 20, 1, buf), 0);
    }
    ck_assert_mm_ok(mm);
    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.segments, 6);
    ck_assert_uint_eq(st.data_pages, 6);
    mm_destroy(mm);         /* valgrind/ASan report anything left behind */
}
END_TEST

START_TEST(test_segment_ids_reused)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "a");
    struct segment *s1 = test_segment(mm, cg, 8), *s2 = test_segment(mm, cg, 8);
    uint32_t id1 = s1->id;

    ck_assert_uint_ne(s1->id, s2->id);
    ck_assert_uint_ne(s1->id, 0);
    segment_destroy(s1);
    s1 = test_segment(mm, cg, 8);
    ck_assert_uint_eq(s1->id, id1);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *segment_suite(void)
{
    Suite *s = suite_create("segment");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_write_read_roundtrip_random);
    tcase_add_test(tc, test_never_written_reads_zero_and_costs_nothing);
    tcase_add_test(tc, test_write_sets_pte_and_page_state);
    tcase_add_test(tc, test_overwrite_reuses_page);
    tcase_add_test(tc, test_discard_frees_and_reads_zero);
    tcase_add_test(tc, test_discard_whole_huge_segment);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_create_rejects);
    tcase_add_test(tc, test_pool_exhaustion_enomem_no_leak);
    tcase_add_loop_test(tc, test_write_unwinds_when_tables_fail, 0, PGTABLE_LEVELS + 2);
    tcase_add_test(tc, test_mm_destroy_frees_live_segments);
    tcase_add_test(tc, test_segment_ids_reused);
    suite_add_tcase(s, tc);
    return s;
}
