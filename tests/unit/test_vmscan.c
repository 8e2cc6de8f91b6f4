/* test_vmscan.c - reclaim: direct reclaim when the pool is at min, bounded
 * background steps from below low to high, reclaim inside a memcg at its
 * limit (and ENOMEM without swap), hot pages surviving a stream of cold
 * ones, every tenant taking its turn under global pressure, and a full
 * swap file ending in ENOMEM without losing a page. */
#include "swap_test.h"

START_TEST(test_direct_reclaim_at_min)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);

    for (uint64_t i = 0; i < 3000; i++)
        test_write_stamped(f.seg, i, 5);
    ck_assert_uint_gt(test_event(f.mm, MM_EV_allocstall), 0);
    ck_assert_uint_gt(test_event(f.mm, MM_EV_pgsteal_direct), 0);
    ck_assert_uint_ge(test_event(f.mm, MM_EV_pgscan_direct),
                      test_event(f.mm, MM_EV_pgsteal_direct));
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pgsteal_direct), f.seg->swapped);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Fill to just below low, then step: each step scans at most its budget,
 * and the steps end with every zone at or above high. */
START_TEST(test_background_reclaim_low_to_high)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    const struct zone *zone = &f.mm->zones[0];
    uint64_t i = 0, steps = 0, scanned;

    ck_assert(!mm_reclaim_pending(f.mm));
    ck_assert_uint_eq(mm_background_reclaim(f.mm, 64), 0);
    while (zone->free_pages >= zone->watermark[WMARK_LOW])
        test_write_stamped(f.seg, i++, 6);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_allocstall), 0);
    ck_assert(mm_reclaim_pending(f.mm));
    while (mm_reclaim_pending(f.mm) && steps < 1000) {
        scanned = test_event(f.mm, MM_EV_pgscan_kswapd);
        mm_background_reclaim(f.mm, 16);
        ck_assert_uint_le(test_event(f.mm, MM_EV_pgscan_kswapd) - scanned, 16);
        ck_assert_mm_ok(f.mm);
        steps++;
    }
    ck_assert(!mm_reclaim_pending(f.mm));
    ck_assert_uint_ge(zone->free_pages, zone->watermark[WMARK_HIGH]);
    ck_assert_uint_gt(test_event(f.mm, MM_EV_pgsteal_kswapd), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_allocstall), 0);
    for (uint64_t k = 0; k < i; k++)
        test_read_stamped(f.seg, k, 6);
    swap_teardown(&f);
}
END_TEST

/* A memcg at its limit: with swap its own pages make room, without it the
 * write fails with ENOMEM. */
START_TEST(test_memcg_limit_reclaim)
{
    bool with_swap = _i;
    struct swap_fixture f = swap_setup(8 * MiB, with_swap ? 16 * MiB : 0, 4096);
    uint64_t buf[MM_PAGE_SIZE / 8];
    int err = 0;
    uint64_t n;

    memcg_set_limit(f.cg, 1 * MiB);
    for (n = 0; n < 1024; n++) {
        test_stamp(buf, n, 7);
        err = segment_write(f.seg, n, 1, buf);
        if (err)
            break;
        ck_assert_uint_le(memcg_usage_bytes(f.cg), 1 * MiB);
    }
    ck_assert_mm_ok(f.mm);
    if (with_swap) {
        ck_assert_int_eq(err, 0);
        ck_assert_uint_ge(memcg_swap_bytes(f.cg), 3 * MiB);
        ck_assert_uint_eq(memcg_usage_bytes(f.cg) + memcg_swap_bytes(f.cg),
                          1024 * MM_PAGE_SIZE);
    } else {
        ck_assert_int_eq(err, -ENOMEM);
        ck_assert_uint_eq(n, 256);
    }
    for (uint64_t i = 0; i < n; i++)
        test_read_stamped(f.seg, i, 7);
    ck_assert_uint_le(memcg_usage_bytes(f.cg), 1 * MiB);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* 100 hot pages read over and over while 3000 cold ones stream through a
 * 2048-page pool: the hot ones are promoted and never leave. */
START_TEST(test_hot_pages_survive_cold_stream)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    uint64_t resident = 0;

    for (uint64_t i = 0; i < 100; i++)
        test_write_stamped(f.seg, i, 8);
    for (uint64_t c = 0; c < 3000; c++) {
        if (c % 200 == 0)
            for (uint64_t i = 0; i < 100; i++)
                test_read_stamped(f.seg, i, 8);
        test_write_stamped(f.seg, 1000 + c, 8);
    }
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < 100; i++)
        resident += pte_present(test_pte(f.seg, i));
    ck_assert_uint_eq(resident, 100);
    ck_assert_uint_ge(test_event(f.mm, MM_EV_pgactivate), 100);
    ck_assert_uint_gt(f.seg->swapped, 1000);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_global_reclaim_takes_turns)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    struct memcg *cg2 = test_memcg(f.mm, "second");
    struct memcg *cg3 = test_memcg(f.mm, "third");
    struct segment *s2 = test_segment(f.mm, cg2, 8192);
    struct segment *s3 = test_segment(f.mm, cg3, 8192);

    for (uint64_t i = 0; i < 600; i++) {
        test_write_stamped(f.seg, i, 9);
        test_write_stamped(s2, i, 10);
    }
    for (uint64_t i = 0; i < 2000; i++)
        test_write_stamped(s3, i, 11);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_gt(f.cg->swap, 0);
    ck_assert_uint_gt(cg2->swap, 0);
    ck_assert_uint_gt(cg3->swap, 0);
    for (uint64_t i = 0; i < 600; i++) {
        test_read_stamped(f.seg, i, 9);
        test_read_stamped(s2, i, 10);
    }
    segment_destroy(s2);
    segment_destroy(s3);
    memcg_destroy(cg2);
    memcg_destroy(cg3);
    swap_teardown(&f);
}
END_TEST

/* 256 slots: the pool and the swap file fill, the next write gets ENOMEM,
 * and after some room is made everything written reads back. */
START_TEST(test_swap_full_enomem_nothing_lost)
{
    struct swap_fixture f = swap_setup(8 * MiB, 1 * MiB, 8192);
    uint64_t buf[MM_PAGE_SIZE / 8];
    uint64_t n = 0;
    int err = 0;

    while (n < 8192) {
        test_stamp(buf, n, 12);
        err = segment_write(f.seg, n, 1, buf);
        if (err)
            break;
        n++;
    }
    ck_assert_int_eq(err, -ENOMEM);
    ck_assert_uint_eq(f.seg->swapped, 256);
    ck_assert_mm_ok(f.mm);
    /* Make room: discard 200 pages that are resident. */
    ck_assert_int_eq(segment_discard(f.seg, n - 200, 200), 0);
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < n - 200; i++)
        test_read_stamped(f.seg, i, 12);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_no_swap_no_reclaim)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 8192);

    for (uint64_t i = 0; i < 1000; i++)
        test_write_stamped(f.seg, i, 13);
    ck_assert_uint_eq(vmscan_try_to_free_pages(f.mm, NULL, 32, true), 0);
    ck_assert_uint_eq(mm_background_reclaim(f.mm, 64), 0);
    ck_assert(!mm_reclaim_pending(f.mm));
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    swap_teardown(&f);
}
END_TEST

Suite *vmscan_suite(void)
{
    Suite *s = suite_create("vmscan");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_direct_reclaim_at_min);
    tcase_add_test(tc, test_background_reclaim_low_to_high);
    tcase_add_loop_test(tc, test_memcg_limit_reclaim, 0, 2);
    tcase_add_test(tc, test_hot_pages_survive_cold_stream);
    tcase_add_test(tc, test_global_reclaim_takes_turns);
    tcase_add_test(tc, test_swap_full_enomem_nothing_lost);
    tcase_add_test(tc, test_no_swap_no_reclaim);
    suite_add_tcase(s, tc);
    return s;
}
