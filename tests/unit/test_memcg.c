/* test_memcg.c - the per-tenant memory cgroup: limits refuse with -ENOMEM
 * and count failcnt, max_usage keeps the high-water mark, unlimited reads
 * as the pool size, and a memcg outlives its destroy while segments use it;
 * cgroup v1's order of limits; memsw with reservations and the swap hooks.
 * The files themselves are test_memcg_file.c's. */
#include "mm_test.h"

/* Limit of limit_pages: the first limit_pages writes succeed, each one
 * after fails and counts. */
START_TEST(test_limit_enomem_and_failcnt)
{
    static const struct { uint64_t limit_bytes, writes, ok; } cases[] = {
        { 4 * MM_PAGE_SIZE, 6, 4 },
        { 4 * MM_PAGE_SIZE + 100, 6, 4 },       /* rounded down to pages */
        { 1 * MM_PAGE_SIZE, 3, 1 },
        { 100, 2, 0 },                          /* less than a page */
        { 0, 20, 20 },                          /* unlimited */
    };
    uint64_t limit_bytes = cases[_i].limit_bytes, writes = cases[_i].writes;
    uint64_t ok = cases[_i].ok;
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 1024);

    memcg_set_limit(cg, limit_bytes);
    for (uint64_t i = 0; i < writes; i++) {
        ck_assert_int_eq(test_write_pages(seg, i * 3, 1), i < ok ? 0 : -ENOMEM);
        ck_assert_uint_eq(memcg_failcnt(cg), i < ok ? 0 : i - ok + 1);
        ck_assert_mm_ok(mm);
    }
    ck_assert_uint_eq(memcg_usage_bytes(cg), ok * MM_PAGE_SIZE);
    ck_assert_uint_eq(segment_resident_pages(seg), ok);
    /* Overwriting a resident page needs no charge, even at the limit. */
    if (ok)
        ck_assert_int_eq(test_write_pages(seg, 0, 1), 0);
    ck_assert_uint_eq(memcg_failcnt(cg), writes - ok);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_max_usage_tracks_high_water)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 1024);
    static const struct { char op; uint64_t first, n, usage, max; } steps[] = {
        { 'w', 0, 10, 10, 10 },
        { 'd', 0, 6, 4, 10 },
        { 'w', 0, 3, 7, 10 },
        { 'w', 100, 8, 15, 15 },
        { 'd', 0, 1024, 0, 15 },
    };

    for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].op == 'w')
            ck_assert_int_eq(test_write_pages(seg, steps[i].first, steps[i].n), 0);
        else
            ck_assert_int_eq(segment_discard(seg, steps[i].first, steps[i].n), 0);
        ck_assert_uint_eq(memcg_usage_bytes(cg), steps[i].usage * MM_PAGE_SIZE);
        ck_assert_uint_eq(memcg_max_usage_bytes(cg), steps[i].max * MM_PAGE_SIZE);
        ck_assert_mm_ok(mm);
    }
    mm_destroy(mm);
}
END_TEST

START_TEST(test_limit_bytes_reporting)
{
    struct mm *mm = test_mm(16 * MiB);
    struct memcg *cg = test_memcg(mm, "t");

    ck_assert_uint_eq(memcg_limit_bytes(cg), 16 * MiB);       /* unlimited */
    memcg_set_limit(cg, 10000);
    ck_assert_uint_eq(memcg_limit_bytes(cg), 8192);
    memcg_set_limit(cg, 64 * MiB);                           /* above the pool */
    ck_assert_uint_eq(memcg_limit_bytes(cg), 64 * MiB);
    memcg_set_limit(cg, 0);
    ck_assert_uint_eq(memcg_limit_bytes(cg), 16 * MiB);
    ck_assert_uint_eq(memcg_usage_bytes(cg) + memcg_max_usage_bytes(cg) +
                      memcg_failcnt(cg), 0);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_try_charge_all_or_nothing)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "t");

    memcg_set_limit(cg, 5 * MM_PAGE_SIZE);
    ck_assert_int_eq(memcg_try_charge(cg, 3), 0);
    ck_assert_int_eq(memcg_try_charge(cg, 3), -ENOMEM);
    ck_assert_uint_eq(cg->usage, 3);
    ck_assert_uint_eq(cg->failcnt, 1);
    ck_assert_int_eq(memcg_try_charge(cg, UINT64_MAX), -ENOMEM);
    ck_assert_int_eq(memcg_try_charge(cg, 2), 0);
    ck_assert_uint_eq(cg->max_usage, 5);
    ck_assert_int_eq(memcg_check(cg), 0);

    test_log_quiet();
    ck_assert_int_eq(memcg_uncharge(cg, 6), -EINVAL);
    ck_assert_int_eq(test_log_count, 1);
    test_log_restore();
    ck_assert_uint_eq(cg->usage, 5);
    ck_assert_int_eq(memcg_uncharge(cg, 5), 0);
    ck_assert_uint_eq(cg->usage, 0);
    ck_assert_uint_eq(cg->max_usage, 5);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_create_rejects)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = NULL, *again = NULL;
    char long_name[MEMCG_NAME_MAX + 1];

    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[MEMCG_NAME_MAX] = '\0';
    ck_assert_int_eq(memcg_create(mm, NULL, &cg), -EINVAL);
    ck_assert_int_eq(memcg_create(mm, "", &cg), -EINVAL);
    ck_assert_int_eq(memcg_create(NULL, "a", &cg), -EINVAL);
    ck_assert_int_eq(memcg_create(mm, "a", NULL), -EINVAL);
    ck_assert_int_eq(memcg_create(mm, long_name, &cg), -ENAMETOOLONG);
    long_name[MEMCG_NAME_MAX - 1] = '\0';
    ck_assert_int_eq(memcg_create(mm, long_name, &cg), 0);
    ck_assert_str_eq(cg->name, long_name);
    ck_assert_int_eq(memcg_create(mm, long_name, &again), -EEXIST);
    memcg_destroy(cg);
    ck_assert_int_eq(memcg_create(mm, long_name, &again), 0);
    memcg_destroy(NULL);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Destroyed while a segment still charges it: the memcg lingers, dying,
 * its name free at once, and goes with its last segment. */
START_TEST(test_destroy_with_live_segment_is_deferred)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *cg = test_memcg(mm, "t"), *successor;
    struct segment *seg = test_segment(mm, cg, 64), *refused = NULL;

    ck_assert_int_eq(test_write_pages(seg, 0, 3), 0);
    test_log_quiet();
    memcg_destroy(cg);
    test_log_restore();
    ck_assert(cg->dying);
    ck_assert_uint_eq(mm->memcgs.count, 1);
    ck_assert_int_eq(segment_create(mm, cg, 8, &refused), -EINVAL);
    successor = test_memcg(mm, "t");
    ck_assert_int_eq(test_write_pages(seg, 3, 1), 0);     /* still charged */
    ck_assert_uint_eq(memcg_usage_bytes(cg), 4 * MM_PAGE_SIZE);
    ck_assert_mm_ok(mm);
    segment_destroy(seg);               /* frees cg */
    ck_assert_uint_eq(mm->memcgs.count, 1);
    ck_assert_uint_eq(memcg_usage_bytes(successor), 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_tenants_charged_separately)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *a = test_memcg(mm, "a"), *b = test_memcg(mm, "b");
    struct segment *sa = test_segment(mm, a, 64), *sb = test_segment(mm, b, 64);

    memcg_set_limit(a, 2 * MM_PAGE_SIZE);
    ck_assert_int_eq(test_write_pages(sa, 0, 2), 0);
    ck_assert_int_eq(test_write_pages(sa, 2, 1), -ENOMEM);
    ck_assert_int_eq(test_write_pages(sb, 0, 10), 0);
    ck_assert_uint_eq(memcg_usage_bytes(a), 2 * MM_PAGE_SIZE);
    ck_assert_uint_eq(memcg_usage_bytes(b), 10 * MM_PAGE_SIZE);
    ck_assert_uint_eq(memcg_failcnt(a), 1);
    ck_assert_uint_eq(memcg_failcnt(b), 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

#define UNLIMITED "9223372036854771712\n"

/* cgroup v1's order of limits: memory first, then memsw at or above it;
 * neither may drop below what is charged while nothing can be reclaimed. */
START_TEST(test_limits_ebusy_and_order)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 64);

    ck_assert_int_eq(test_write_pages(seg, 0, 10), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "36K"), -EBUSY);
    ck_assert_str_eq(test_memcg_file(cg, "memory.limit_in_bytes"), UNLIMITED);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "40K"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "36K"), -EINVAL);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "40K"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "44K"), -EINVAL);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "-1"), -EINVAL);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "-1"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "-1"), 0);
    ck_assert_int_eq(segment_discard(seg, 0, 5), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "20K"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "20K"), 0);
    ck_assert_int_eq(test_write_pages(seg, 20, 1), -ENOMEM);
    ck_assert_str_eq(test_memcg_file(cg, "memory.failcnt"), "1\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.failcnt"), "0\n");  /* memory's refusal */
    ck_assert_str_eq(test_memcg_file(cg, "memory.max_usage_in_bytes"), "40960\n");
    ck_assert_int_eq(memcg_file_write(cg, "memory.max_usage_in_bytes", "0"), 0);
    ck_assert_str_eq(test_memcg_file(cg, "memory.max_usage_in_bytes"), "20480\n");
    ck_assert_int_eq(memcg_file_write(cg, "memory.failcnt", "0"), 0);
    ck_assert_str_eq(test_memcg_file(cg, "memory.failcnt"), "0\n");
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* A reservation charges memsw for the whole length; pages draw on it and
 * give back to it; past the memsw limit a reservation fails and counts. */
START_TEST(test_reservation)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *a = test_segment(mm, cg, 16), *b = test_segment(mm, cg, 9);
    struct segment *c = test_segment(mm, cg, 4);

    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "96K"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "96K"), 0);
    ck_assert_int_eq(segment_reserve(a), 0);
    ck_assert_int_eq(segment_reserve(a), -EINVAL);          /* once */
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.usage_in_bytes"), "65536\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.reserved_in_bytes"), "65536\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.usage_in_bytes"), "0\n");
    ck_assert_int_eq(segment_reserve(b), -ENOMEM);          /* 16 + 9 > 24 */
    ck_assert_str_eq(test_memcg_file(cg, "memory.failcnt"), "1\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.failcnt"), "1\n");
    ck_assert_int_eq(test_write_pages(a, 0, 10), 0);
    ck_assert_uint_eq(segment_reserved_pages(a), 6);
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.usage_in_bytes"), "65536\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.usage_in_bytes"), "40960\n");
    /* The unreserved b gets only what a's reservation leaves: 8 pages. */
    ck_assert_int_eq(test_write_pages(b, 0, 8), 0);
    ck_assert_int_eq(test_write_pages(c, 0, 1), -ENOMEM);
    /* a's reserved pages still succeed at the memsw limit. */
    ck_assert_int_eq(test_write_pages(a, 10, 6), 0);
    ck_assert_uint_eq(segment_reserved_pages(a), 0);
    ck_assert_int_eq(segment_discard(a, 0, 4), 0);           /* back to a's */
    ck_assert_uint_eq(segment_reserved_pages(a), 4);
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.usage_in_bytes"), "98304\n");
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "84K"), 0);
    /* memsw counts a's 4 reserved pages: 20 + 4 > 22. */
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "88K"), -EBUSY);
    ck_assert_mm_ok(mm);
    segment_destroy(a);
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.usage_in_bytes"), "32768\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.reserved_in_bytes"), "0\n");
    ck_assert_str_eq(test_memcg_file(cg, "memory.memsw.max_usage_in_bytes"), "98304\n");
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* The swap hooks move charges between memory and swap; memsw holds. */
START_TEST(test_swap_hooks)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");

    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", "16K"), 0);
    ck_assert_int_eq(memcg_file_write(cg, "memory.memsw.limit_in_bytes", "24K"), 0);
    ck_assert_int_eq(memcg_try_charge(cg, 4), 0);
    ck_assert_int_eq(memcg_charge_swap(cg, 2), 0);          /* swap-out */
    ck_assert_uint_eq(cg->usage, 2);
    ck_assert_uint_eq(cg->swap, 2);
    ck_assert_uint_eq(memcg_memsw_usage(cg), 4);
    ck_assert_int_eq(memcg_try_charge(cg, 2), 0);
    ck_assert_int_eq(memcg_try_charge(cg, 1), -ENOMEM);     /* memory 4/4 */
    ck_assert_int_eq(memcg_charge_swap(cg, 2), 0);
    ck_assert_int_eq(memcg_try_charge(cg, 1), -ENOMEM);     /* memsw 6/6 */
    ck_assert_uint_eq(cg->memsw_failcnt, 1);
    ck_assert_int_eq(memcg_charge_swapin(cg, 1), 0);        /* memory 3/4 */
    ck_assert_uint_eq(cg->events[MEMCG_PGMAJFAULT], 1);
    ck_assert_int_eq(memcg_charge_swapin(cg, 2), -ENOMEM);
    ck_assert_int_eq(memcg_uncharge_swap(cg, 3), 0);
    test_log_quiet();
    ck_assert_int_eq(memcg_uncharge_swap(cg, 1), -EINVAL);
    ck_assert_int_eq(memcg_charge_swapin(cg, 1), -EINVAL);
    ck_assert_int_eq(memcg_charge_swap(cg, 9), -EINVAL);
    test_log_restore();
    ck_assert_str_eq(test_memcg_file(cg, "memory.stat") + strlen("cache 0\nrss 12288\n"),
                     "rss_huge 0\nshmem 0\nmapped_file 0\ndirty 0\nwriteback 0\n"
                     "swap 0\npgpgin 7\npgpgout 4\npgfault 0\npgmajfault 1\n"
                     "inactive_anon 0\nactive_anon 0\ninactive_file 0\n"
                     "active_file 0\nunevictable 0\nhierarchical_memory_limit 16384\n"
                     "hierarchical_memsw_limit 24576\ntotal_cache 0\n"
                     "total_rss 12288\ntotal_rss_huge 0\ntotal_shmem 0\n"
                     "total_mapped_file 0\ntotal_dirty 0\ntotal_writeback 0\n"
                     "total_swap 0\ntotal_pgpgin 7\n"
                     "total_pgpgout 4\ntotal_pgfault 0\ntotal_pgmajfault 1\n"
                     "total_inactive_anon 0\ntotal_active_anon 0\n"
                     "total_inactive_file 0\ntotal_active_file 0\n"
                     "total_unevictable 0\nzswap 0\nzswapped 0\n"
                     "ksm_merging_pages 0\n");
    ck_assert_int_eq(memcg_check(cg), 0);
    ck_assert_int_eq(memcg_uncharge(cg, 3), 0);
    mm_destroy(mm);
}
END_TEST

Suite *memcg_suite(void)
{
    Suite *s = suite_create("memcg");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_limit_enomem_and_failcnt, 0, 5);
    tcase_add_test(tc, test_max_usage_tracks_high_water);
    tcase_add_test(tc, test_limit_bytes_reporting);
    tcase_add_test(tc, test_try_charge_all_or_nothing);
    tcase_add_test(tc, test_create_rejects);
    tcase_add_test(tc, test_destroy_with_live_segment_is_deferred);
    tcase_add_test(tc, test_tenants_charged_separately);
    tcase_add_test(tc, test_limits_ebusy_and_order);
    tcase_add_test(tc, test_reservation);
    tcase_add_test(tc, test_swap_hooks);
    suite_add_tcase(s, tc);
    return s;
}
