/* test_kvmalloc.c - objects above kmalloc's largest class: one run of
 * whole pool pages, its unused tail back in the buddy allocator at once,
 * counted as kvmalloc pages until freed and coalesced again; the C heap,
 * counted in bytes, past a max-order block or when no run is free (an
 * injected failure, one-shot or sticky, a fragmented pool).  A run is a
 * row of KVMALLOC blocks with TAIL pages behind their heads, in Unmovable
 * pageblocks.  Bad frees are refused, kvmalloc_check() catches a broken
 * run, and id tables grow from kmalloc into such runs.  mm_check() runs
 * after every operation. */
#include <stdlib.h>

#include "mm_test.h"

/* A run is a row of allocated blocks, one per bit of its length from the
 * highest: KVMALLOC heads naming the first, clean TAIL pages behind
 * them, in Unmovable pageblocks as all metadata. */
static void assert_run_blocks(const struct mm *mm, pfn_t pfn, uint64_t pages)
{
    const struct zone *zone = page_zone(mm, pfn_to_page(mm, pfn));
    uint64_t off = 0;

    ck_assert_uint_eq(pfn_to_page(mm, pfn)->nr_used, pages);
    for (unsigned k = MM_MAX_ORDER + 1; k-- > 0;) {
        const struct page *head = pfn_to_page(mm, pfn + (pfn_t)off);

        if (!(pages & (1ull << k)))
            continue;
        ck_assert_uint_eq(head->state, PAGE_KVMALLOC);
        ck_assert_uint_eq(head->order, k);
        ck_assert_uint_eq(head->index_lo, pfn);
        ck_assert_uint_eq(pageblock_type(zone, pfn + (pfn_t)off),
                          MIGRATE_UNMOVABLE);
        for (uint64_t i = 1; i < (1ull << k); i++)
            ck_assert_uint_eq(pfn_to_page(mm, pfn + (pfn_t)(off + i))->state,
                              PAGE_TAIL);
        off += 1ull << k;
    }
    ck_assert_uint_eq(off, pages);
}

/* Size asked for, pages of the run it gets. */
static const struct { size_t size; uint64_t pages; } runs[] = {
    { MM_KMALLOC_MAX + 1, 3 },
    { 3 * MM_PAGE_SIZE, 3 },
    { 3 * MM_PAGE_SIZE + 1, 4 },
    { 100000, 25 },
    { 256 * 1024, 64 },
    { 2 * MiB + 64 * 1024 + 8, 529 },
    { 4 * MiB, 1024 },
};

START_TEST(test_run_is_exact_and_goes_back_whole)
{
    struct mm *mm = test_mm(16 * MiB);
    uint64_t before = test_stat(mm).free_pages;
    uint64_t max_blocks = buddy_nr_free(&mm->zones[0], MM_MAX_ORDER);
    size_t size = runs[_i].size;
    unsigned char *p = mm_kvmalloc(mm, size);
    pfn_t pfn;

    ck_assert_ptr_nonnull(p);
    ck_assert(mm_addr_in_pool(mm, p));
    ck_assert_uint_eq((uintptr_t)p % MM_PAGE_SIZE, 0);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, runs[_i].pages);
    ck_assert_uint_eq(test_stat(mm).free_pages, before - runs[_i].pages);
    ck_assert_int_eq(pool_addr_to_pfn(mm, p, &pfn), 0);
    assert_run_blocks(mm, pfn, runs[_i].pages);
    ck_assert_mm_ok(mm);
    memset(p, 0xa5, size);                          /* every byte is ours */
    ck_assert_uint_eq(p[0] & p[size - 1], 0xa5);
#ifdef MM_ASAN
    if (size % MM_PAGE_SIZE)
        ck_assert(asan_is_poisoned(p + size));      /* the run's slack */
#endif
    mm_kvfree(mm, p);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    /* The tail given back at allocation and the run merge again. */
    ck_assert_uint_eq(buddy_nr_free(&mm->zones[0], MM_MAX_ORDER), max_blocks);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_small_from_kmalloc_huge_from_heap)
{
    struct mm *mm = test_mm(16 * MiB);
    uint64_t before = test_stat(mm).free_pages;
    void *small = mm_kvmalloc(mm, MM_KMALLOC_MAX);
    char *huge = mm_kvzalloc(mm, 4 * MiB + 1);
    struct slab_cache *c;

    ck_assert_ptr_nonnull(small);
    ck_assert_int_eq(slab_lookup(mm, small, &c), 0);
    ck_assert_str_eq(c->name, "kmalloc-8k");
    ck_assert_ptr_nonnull(huge);
    ck_assert(!mm_addr_in_pool(mm, huge));          /* more than a block */
    ck_assert(test_is_zero(huge, 4 * MiB + 1));
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 4 * MiB + 1);
    mm_kvfree(mm, small);
    mm_kvfree(mm, huge);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 0);
    ck_assert_uint_eq(c->active_objs, 0);
    ck_assert_uint_eq(test_stat(mm).free_pages, before - (1ull << c->order)); /* kept empty */
    ck_assert_ptr_null(mm_kvmalloc(NULL, 100000));
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_kvzalloc_zeroes_reused_pages)
{
    struct mm *mm = test_mm(8 * MiB);
    size_t size = 40000;
    unsigned char *p = mm_kvmalloc(mm, size), *q;

    ck_assert_ptr_nonnull(p);
    memset(p, 0xff, size);
    mm_kvfree(mm, p);
    q = mm_kvzalloc(mm, size);
    ck_assert_ptr_eq(q, p);                         /* the same pages */
    ck_assert(test_is_zero(q, size));
    mm_kvfree(mm, q);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_bad_frees_refused)
{
    struct mm *mm = test_mm(8 * MiB);
    char *p = mm_kvmalloc(mm, 5 * MM_PAGE_SIZE);
    uint64_t before;

    ck_assert_ptr_nonnull(p);
    before = test_stat(mm).free_pages;
    test_log_quiet();
    mm_kvfree(mm, p + MM_PAGE_SIZE);                /* a page inside the run */
    mm_kvfree(mm, p + 8);                           /* inside the first page */
    mm_kvfree(mm, (char *)mm->zones[0].base +       /* a free page */
              (mm->zones[0].managed_pages - 1) * MM_PAGE_SIZE);
    test_log_restore();
    ck_assert_int_eq(test_log_count, 3);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 5);
    ck_assert_mm_ok(mm);
    mm_kvfree(mm, p);
    test_log_quiet();
    mm_kvfree(mm, p);                               /* twice */
    test_log_restore();
    ck_assert_int_eq(test_log_count, 1);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* No run to be had: the heap, counted, and nothing taken from the pool. */
START_TEST(test_no_run_falls_back_to_heap)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t before = test_stat(mm).free_pages, taken;
    pfn_t *pfns = calloc(zone->managed_pages, sizeof(*pfns));
    char *p;

    mm_fail_alloc_after(mm, 1);
    p = mm_kvmalloc(mm, 64 * 1024);
    mm_fail_alloc_after(mm, -1);
    ck_assert_uint_eq(mm_fail_alloc_injected(mm), 1);
    ck_assert_ptr_nonnull(p);
    ck_assert(!mm_addr_in_pool(mm, p));
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 64 * 1024);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    mm_kvfree(mm, p);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 0);
    ck_assert_mm_ok(mm);

    /* Free pages enough, but no 4 contiguous ones. */
    taken = test_drain_zone(zone, 0, pfns);
    for (uint64_t i = 0; i < taken; i++)
        if (pfns[i] % 2 == 0)
            ck_assert_int_eq(buddy_free_pages(zone, pfns[i], 0), 0);
    p = mm_kvzalloc(mm, 3 * MM_PAGE_SIZE + 1);
    ck_assert(p && !mm_addr_in_pool(mm, p) && test_is_zero(p, 3 * MM_PAGE_SIZE + 1));
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_mm_ok(mm);
    mm_kvfree(mm, p);
    for (uint64_t i = 0; i < taken; i++)
        if (pfns[i] % 2)
            ck_assert_int_eq(buddy_free_pages(zone, pfns[i], 0), 0);
    p = mm_kvmalloc(mm, 3 * MM_PAGE_SIZE + 1);
    ck_assert(mm_addr_in_pool(mm, p));
    mm_kvfree(mm, p);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 0);
    ck_assert_mm_ok(mm);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

/* A run's page allocation is one that fail_alloc counts, in either mode;
 * the heap is not.  One-shot: the failed run takes the heap, the next
 * kvmalloc gets a run.  Sticky: every kvmalloc takes the heap until the
 * injection stops. */
START_TEST(test_injected_failure_modes_take_the_heap)
{
    struct mm *mm = test_mm(4 * MiB);
    uint64_t before = test_stat(mm).free_pages;
    bool once = _i == 0;
    char *p[3];

    if (once)
        mm_fail_alloc_nth(mm, 2);
    else
        mm_fail_alloc_after(mm, 2);
    for (unsigned i = 0; i < 3; i++) {
        p[i] = mm_kvzalloc(mm, 5 * MM_PAGE_SIZE);
        ck_assert(p[i] && test_is_zero(p[i], 5 * MM_PAGE_SIZE));
        ck_assert_mm_ok(mm);
    }
    ck_assert(mm_addr_in_pool(mm, p[0]));            /* the first, counted */
    ck_assert(!mm_addr_in_pool(mm, p[1]));           /* the second failed */
    ck_assert(mm_addr_in_pool(mm, p[2]) == once);
    ck_assert_uint_eq(mm_fail_alloc_injected(mm), once ? 1 : 2);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, (once ? 1 : 2) * 5 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, (once ? 2 : 1) * 5);
    mm_fail_alloc_after(mm, -1);
    for (unsigned i = 0; i < 3; i++)
        mm_kvfree(mm, p[i]);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_heap_bytes, 0);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* kvmalloc_check() notices a run broken each way, and passes once it is
 * undone: a later block naming another run, a length its blocks do not
 * hold, the page count off. */
START_TEST(test_check_detects_broken_run)
{
    struct mm *mm = test_mm(8 * MiB);
    char *p = mm_kvmalloc(mm, 21 * MM_PAGE_SIZE);  /* 16 + 4 + 1 pages */
    struct page *first, *second;
    struct page saved_first, saved_second;
    uint64_t saved_pages;
    pfn_t pfn;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(pool_addr_to_pfn(mm, p, &pfn), 0);
    first = pfn_to_page(mm, pfn);
    second = pfn_to_page(mm, pfn + 16);
    saved_first = *first;
    saved_second = *second;
    saved_pages = mm->kvmalloc_pages;
    switch (_i) {
    case 0:
        second->index_lo = pfn + 16;
        break;
    case 1:
        first->nr_used = 22;
        break;
    case 2:
        mm->kvmalloc_pages++;
        break;
    }
    test_log_quiet();
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    test_log_restore();
    ck_assert_int_eq(test_log_count, 1);
    *first = saved_first;
    *second = saved_second;
    mm->kvmalloc_pages = saved_pages;
    ck_assert_mm_ok(mm);
    mm_kvfree(mm, p);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* An id table outgrows kmalloc-8k at 1024 slots and moves to a run; it is
 * freed when its last id goes. */
START_TEST(test_id_table_grows_into_a_run)
{
    static int objs[1100];
    struct mm *mm = test_mm(8 * MiB);
    struct idr idr = { .mm = mm };
    uint32_t id;

    for (unsigned i = 0; i < 1100; i++)
        ck_assert_int_eq(idr_alloc(&idr, &objs[i], &id), 0);
    ck_assert_uint_eq(idr.cap, 2048);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 4);             /* 2048 pointers */
    ck_assert_ptr_eq(idr_find(&idr, 1100), &objs[1099]);
    ck_assert_mm_ok(mm);
    for (uint32_t i = 1; i <= 1100; i++)
        idr_remove(&idr, i);
    ck_assert_uint_eq(idr.cap, 0);
    ck_assert_uint_eq(test_stat(mm).kvmalloc_pages, 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *kvmalloc_suite(void)
{
    Suite *s = suite_create("kvmalloc");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_run_is_exact_and_goes_back_whole, 0,
                        sizeof(runs) / sizeof(runs[0]));
    tcase_add_test(tc, test_small_from_kmalloc_huge_from_heap);
    tcase_add_test(tc, test_kvzalloc_zeroes_reused_pages);
    tcase_add_test(tc, test_bad_frees_refused);
    tcase_add_test(tc, test_no_run_falls_back_to_heap);
    tcase_add_loop_test(tc, test_injected_failure_modes_take_the_heap, 0, 2);
    tcase_add_loop_test(tc, test_check_detects_broken_run, 0, 3);
    tcase_add_test(tc, test_id_table_grows_into_a_run);
    suite_add_tcase(s, tc);
    return s;
}
