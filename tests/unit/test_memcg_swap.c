/* test_memcg_swap.c - memory cgroups and swap together: swap-out moves a
 * charge from memory to swap inside memsw, swap-in moves it back and counts
 * pgmajfault, memory.stat's swap and LRU keys are the real figures, a
 * lowered limit reclaims to swap (EBUSY only without room in swap), memsw
 * is never reclaimed, reserving segments keep reserved + resident + swapped
 * == npages, and an OOM-killed segment frees its swap slots.  mm_check()
 * runs after every step that changes anything. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "swap_test.h"

static void write_stamped_range(struct segment *seg, uint64_t first,
                                uint64_t count, uint64_t seed)
{
    for (uint64_t i = first; i < first + count; i++)
        test_write_stamped(seg, i, seed);
}

/* 512 pages written under a 1 MiB (256-page) limit: the rest is in swap,
 * memsw counts both, and memory.stat says so with the LRU sizes. */
START_TEST(test_swapout_moves_charge_within_memsw)
{
    struct swap_fixture f = swap_setup(8 * MiB, 16 * MiB, 4096);
    uint64_t memsw_before;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "1M"), 0);
    write_stamped_range(f.seg, 0, 512, 3);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_le(f.cg->usage, 256);
    ck_assert_uint_eq(f.cg->usage + f.cg->swap, 512);
    ck_assert_uint_eq(f.cg->swap, segment_swapped_pages(f.seg));
    ck_assert_uint_eq(f.cg->swap, test_swap_used(f.mm));
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 512);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "swap"), f.cg->swap * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "rss"), f.cg->usage * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "inactive_anon") + test_memcg_stat(f.cg, "active_anon"),
                      f.cg->usage * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "pgmajfault"), 0);
    ck_assert_uint_eq(strtoull(test_memcg_file(f.cg, "memory.memsw.usage_in_bytes"),
                               NULL, 10), 512 * MM_PAGE_SIZE);

    /* Reading everything back: swap-ins are major faults (readahead is
     * not), and memsw does not move. */
    memsw_before = memcg_memsw_usage(f.cg);
    for (uint64_t i = 0; i < 512; i++)
        test_read_stamped(f.seg, i, 3);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), memsw_before);
    ck_assert_uint_gt(test_memcg_stat(f.cg, "pgmajfault"), 0);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "pgmajfault") +
                      test_event(f.mm, MM_EV_swap_ra),
                      test_event(f.mm, MM_EV_pswpin));
    ck_assert_uint_le(f.cg->usage, 256);
    swap_teardown(&f);
}
END_TEST

/* At the memsw limit swapping frees nothing: the write fails without a
 * single page written out for it, and failcnt counts it. */
START_TEST(test_memsw_limit_not_reclaimed)
{
    struct swap_fixture f = swap_setup(8 * MiB, 16 * MiB, 4096);
    uint64_t buf[MM_PAGE_SIZE / 8], pswpout;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "512K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes", "1M"), 0);
    write_stamped_range(f.seg, 0, 256, 5);          /* 128 resident + 128 swap */
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 256);
    pswpout = test_event(f.mm, MM_EV_pswpout);
    test_stamp(buf, 256, 5);
    ck_assert_int_eq(segment_write(f.seg, 256, 1, buf), -ENOMEM);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), pswpout);
    ck_assert_uint_eq(f.cg->failcnt, 1);
    /* Overwriting a swapped page needs no memsw: it takes the entry's. */
    ck_assert_uint_gt(segment_swapped_pages(f.seg), 0);
    write_stamped_range(f.seg, 0, 256, 6);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 256);
    /* A memsw limit below memsw usage cannot be reclaimed to. */
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes", "768K"),
                     -EBUSY);
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < 256; i++)
        test_read_stamped(f.seg, i, 6);
    swap_teardown(&f);
}
END_TEST

/* Lowering memory.limit_in_bytes below usage reclaims to swap; with swap
 * too small for the difference (or none) it is EBUSY and the limit stays. */
START_TEST(test_lower_limit_reclaims_to_swap)
{
    static const struct {
        uint64_t swap;                  /* bytes of swap file, 0 = none */
        const char *limit;
        int err;
    } cases[] = {
        {16 * MiB, "256K", 0},          /* 300 pages -> 64 */
        {16 * MiB, "0", 0},             /* every page to swap */
        {512 * 1024, "256K", -EBUSY},   /* 128 slots < 236 */
        {0, "256K", -EBUSY},
    };
    struct swap_fixture f = swap_setup(8 * MiB, cases[_i].swap, 4096);
    uint64_t limit_before;

    write_stamped_range(f.seg, 0, 300, 9);
    limit_before = f.cg->limit;
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes",
                                      cases[_i].limit), cases[_i].err);
    ck_assert_mm_ok(f.mm);
    if (cases[_i].err == 0) {
        ck_assert_uint_le(f.cg->usage, f.cg->limit);
        ck_assert_uint_eq(f.cg->usage + f.cg->swap, 300);
        ck_assert_uint_eq(test_memcg_stat(f.cg, "swap"), f.cg->swap * MM_PAGE_SIZE);
    } else {
        ck_assert_uint_eq(f.cg->limit, limit_before);
        ck_assert_uint_eq(f.cg->usage + f.cg->swap, 300);
    }
    /* Raise it again so that every page can come back to be checked. */
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "-1"), 0);
    for (uint64_t i = 0; i < 300; i++)
        test_read_stamped(f.seg, i, 9);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A reserving segment: swapped pages keep their share of the reservation,
 * discarding them returns it, and destroying the segment returns the rest. */
START_TEST(test_reservation_with_swapped_pages)
{
    struct swap_fixture f = swap_setup(8 * MiB, 16 * MiB, 512);

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "512K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes", "2M"), 0);
    ck_assert_int_eq(segment_reserve(f.seg), 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 512);
    write_stamped_range(f.seg, 0, 400, 11);
    ck_assert_uint_gt(segment_swapped_pages(f.seg), 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 512);
    ck_assert_uint_eq(segment_reserved_pages(f.seg) + f.seg->resident +
                      segment_swapped_pages(f.seg), 512);
    ck_assert_mm_ok(f.mm);
    /* Pages 0..99 went out first: discarding them frees swap slots and
     * gives their charge back to the reservation. */
    ck_assert_int_eq(segment_discard(f.seg, 0, 100), 0);
    ck_assert_uint_eq(test_swap_used(f.mm), segment_swapped_pages(f.seg));
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 512);
    ck_assert_uint_eq(f.cg->swap, segment_swapped_pages(f.seg));
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 100; i < 400; i++)
        test_read_stamped(f.seg, i, 11);
    ck_assert_mm_ok(f.mm);
    segment_destroy(f.seg);
    f.seg = NULL;
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 0);
    ck_assert_uint_eq(f.cg->reserved, 0);
    swap_teardown(&f);
}
END_TEST

/* Kill mode, memsw full of one segment's swapped pages: the OOM killer
 * takes that segment, and its swap slots go with it. */
START_TEST(test_oom_kill_frees_swap_slots)
{
    struct swap_fixture f = swap_setup(8 * MiB, 16 * MiB, 4096);
    struct segment *other = test_segment(f.mm, f.cg, 64);
    uint64_t buf[MM_PAGE_SIZE / 8];

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "256K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes", "1M"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.oom_control", "0"), 0);
    write_stamped_range(f.seg, 0, 256, 13);         /* memsw full */
    ck_assert_uint_gt(test_swap_used(f.mm), 0);
    ck_assert_mm_ok(f.mm);
    test_stamp(buf, 0, 14);
    ck_assert_int_eq(segment_write(other, 0, 1, buf), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert(segment_is_dead(f.seg));
    ck_assert_uint_eq(segment_swapped_pages(f.seg), 0);
    ck_assert_uint_eq(test_swap_used(f.mm), segment_swapped_pages(other));
    ck_assert_uint_eq(f.cg->oom_kill, 1);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 1);
    ck_assert_int_eq(segment_read(f.seg, 0, 1, buf), -EOWNERDEAD);
    test_read_stamped(other, 0, 14);
    segment_destroy(other);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* In kill mode, reclaim comes first: with room in swap nothing is killed. */
START_TEST(test_reclaim_before_oom_kill)
{
    struct swap_fixture f = swap_setup(8 * MiB, 16 * MiB, 4096);

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "256K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.oom_control", "0"), 0);
    write_stamped_range(f.seg, 0, 512, 15);
    ck_assert_uint_eq(f.cg->oom_kill, 0);
    ck_assert(!segment_is_dead(f.seg));
    for (uint64_t i = 0; i < 512; i++)
        test_read_stamped(f.seg, i, 15);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Regression: a swap-in that finds the pool exhausted and swap full
 * OOM-kills its own segment (the only one in kill mode).  The kill must
 * not find the swap-in's charge half moved, or it drops one swap charge
 * twice: memcg swap must end at 0 with every slot free. */
START_TEST(test_swapin_oom_kills_own_segment)
{
    struct swap_fixture f = swap_setup(8 * MiB, 256 * 1024, 4096);
    struct memcg *other = test_memcg(f.mm, "other");
    struct segment *fill = test_segment(f.mm, other, 1ull << 20);
    uint64_t buf[MM_PAGE_SIZE / 8];
    int err = 0;

    write_stamped_range(f.seg, 0, 100, 17);
    /* Swap it out until the 64 slots are full; the rest cannot go. */
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "0"), -EBUSY);
    ck_assert_uint_eq(test_swap_used(f.mm), 64);
    ck_assert_uint_eq(f.cg->swap, 64);
    /* Another tenant (no kill mode, like f.cg for now) fills the pool. */
    for (uint64_t i = 0; !err; i++) {
        test_stamp(buf, i, 18);
        err = segment_write(fill, i, 1, buf);
    }
    ck_assert_int_eq(err, -ENOMEM);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.oom_control", "0"), 0);
    ck_assert_int_eq(test_pte(f.seg, 0) != 0 && !pte_present(test_pte(f.seg, 0)), 1);
    ck_assert_int_eq(segment_read(f.seg, 0, 1, buf), -EOWNERDEAD);
    ck_assert(segment_is_dead(f.seg));
    ck_assert_uint_eq(f.cg->swap, 0);
    ck_assert_uint_eq(f.cg->usage, 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 0);
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    ck_assert_mm_ok(f.mm);
    segment_destroy(fill);
    memcg_destroy(other);
    swap_teardown(&f);
}
END_TEST

Suite *memcg_swap_suite(void)
{
    Suite *s = suite_create("memcg_swap");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_swapout_moves_charge_within_memsw);
    tcase_add_test(tc, test_memsw_limit_not_reclaimed);
    tcase_add_loop_test(tc, test_lower_limit_reclaims_to_swap, 0, 4);
    tcase_add_test(tc, test_reservation_with_swapped_pages);
    tcase_add_test(tc, test_oom_kill_frees_swap_slots);
    tcase_add_test(tc, test_reclaim_before_oom_kill);
    tcase_add_test(tc, test_swapin_oom_kills_own_segment);
    suite_add_tcase(s, tc);
    return s;
}
