/* test_swap.c - swap files: the cluster slot allocator (sequential within
 * a cluster, free clusters reused FIFO, a scan for holes when none is
 * free, ENOSPC when full), round trips through a pool far smaller than the
 * data, writes over swapped pages, readahead only for sequential swap-ins,
 * injected read and write failures that lose nothing, swapon's argument
 * checks, and swap_check() catching a PTE that names the wrong slot.
 * mm_check() runs after every step that changes anything. */
#include <stdio.h>

#include "swap_test.h"

/* A swap entry at index without any page behind it, as pageout leaves it. */
static uint64_t install_swap(struct swap_fixture *f, uint64_t index)
{
    pte_t e;

    ck_assert_int_eq(swap_alloc_slot(f->mm, &e), 0);
    swap_set_owner(f->mm, e, f->seg->id, index);
    ck_assert_int_eq(pgtable_install(&f->seg->pt, index, e), 0);
    f->seg->swapped++;
    /* As a written page swapped out: charged, then moved to swap. */
    ck_assert_int_eq(memcg_try_charge(f->cg, 1), 0);
    ck_assert_int_eq(memcg_charge_swap(f->cg, 1), 0);
    return pte_swp_offset(e);
}

START_TEST(test_slot_allocator_clusters)
{
    /* 1024 slots: 4 clusters of 256. */
    struct swap_fixture f = swap_setup(8 * MiB, 4 * MiB, 4096);
    pte_t e;

    for (uint64_t i = 0; i < 300; i++)
        ck_assert_uint_eq(install_swap(&f, i), i);      /* front to back */
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(segment_discard(f.seg, 0, 256), 0); /* cluster 0 empties */
    ck_assert_uint_eq(test_swap_used(f.mm), 44);
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 300; i < 512; i++)
        ck_assert_uint_eq(install_swap(&f, i), i);      /* cluster 1 first */
    /* Free clusters are reused oldest first: 2, 3, then 0. */
    ck_assert_uint_eq(install_swap(&f, 512), 512);
    for (uint64_t i = 513; i < 768; i++)
        install_swap(&f, i);
    ck_assert_uint_eq(install_swap(&f, 768), 768);
    for (uint64_t i = 769; i < 1024; i++)
        install_swap(&f, i);
    ck_assert_uint_eq(install_swap(&f, 1024), 0);
    for (uint64_t i = 1025; i < 1280; i++)
        install_swap(&f, i);
    ck_assert_uint_eq(test_swap_used(f.mm), 1024);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(swap_alloc_slot(f.mm, &e), -ENOSPC);
    /* No free cluster: holes are found by scanning. */
    ck_assert_int_eq(segment_discard(f.seg, 700, 1), 0);
    ck_assert_int_eq(segment_discard(f.seg, 1030, 1), 0);   /* slot 6 */
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(install_swap(&f, 2000) + install_swap(&f, 2001), 700 + 6);
    ck_assert_int_eq(swap_alloc_slot(f.mm, &e), -ENOSPC);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* 8 MiB pool, 6000 pages written: most of them live in swap. */
START_TEST(test_roundtrip_through_small_pool)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    enum { N = 6000 };
    uint64_t rng = 7;

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(f.seg->resident + f.seg->swapped, N);
    ck_assert_uint_gt(f.seg->swapped, N / 2);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), f.seg->swapped);
    ck_assert_uint_eq(memcg_swap_bytes(f.cg), f.seg->swapped * MM_PAGE_SIZE);
    for (uint64_t k = 0; k < N; k++) {
        uint64_t i = test_rand(&rng) % N;

        test_read_stamped(f.seg, i, 1);
    }
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < N; i++)
        test_read_stamped(f.seg, i, 1);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_gt(test_event(f.mm, MM_EV_pswpin), N / 2);
    ck_assert_uint_eq(f.seg->resident + f.seg->swapped, N);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_write_over_swapped_page_reads_nothing)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    uint64_t pswpin;

    for (uint64_t i = 0; i < 3000; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert(pte_is_swap(test_pte(f.seg, 0)));
    pswpin = test_event(f.mm, MM_EV_pswpin);
    test_write_stamped(f.seg, 0, 2);
    ck_assert(pte_present(test_pte(f.seg, 0)));
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), pswpin);
    ck_assert_mm_ok(f.mm);
    test_read_stamped(f.seg, 0, 2);
    test_read_stamped(f.seg, 1, 1);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_discard_and_destroy_free_slots)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    uint64_t swapped;

    for (uint64_t i = 0; i < 3000; i++)
        test_write_stamped(f.seg, i, 1);
    swapped = f.seg->swapped;
    ck_assert_uint_gt(swapped, 500);
    ck_assert_int_eq(segment_discard(f.seg, 0, 500), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_swap_used(f.mm), f.seg->swapped);
    ck_assert_uint_lt(f.seg->swapped, swapped);
    /* teardown destroys the segment and checks every slot came back */
    swap_teardown(&f);
}
END_TEST

/* Sequential swap-ins read ahead; a stride of two never does. */
START_TEST(test_readahead_only_when_sequential)
{
    static const struct { unsigned stride; bool ra; } cases[] = {
        {1, true}, {2, false},
    };
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    uint64_t ra;

    for (uint64_t i = 0; i < 5000; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert(pte_is_swap(test_pte(f.seg, 0)));
    for (uint64_t i = 0; i < 1000; i += cases[_i].stride) {
        test_read_stamped(f.seg, i, 1);
        if (i % 100 == 0)
            ck_assert_mm_ok(f.mm);
    }
    ra = test_event(f.mm, MM_EV_swap_ra);
    if (cases[_i].ra) {
        ck_assert_uint_gt(ra, 500);
        ck_assert_uint_gt(test_event(f.mm, MM_EV_swap_ra_hit), 500);
    } else {
        ck_assert_uint_eq(ra, 0);
    }
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A swap file that cannot be written: reclaim fails, the write that needed
 * it gets ENOMEM, every page written before is still there. */
START_TEST(test_write_error_loses_nothing)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 8192);
    int fd = test_swapfile_mode(32 * MiB, O_RDONLY);
    uint64_t n = 0;
    int err = 0;
    uint64_t buf[MM_PAGE_SIZE / 8];

    ck_assert_int_eq(mm_swapon(f.mm, fd, TEST_SWAP_NAME, 32 * MiB), 0);
    test_log_quiet();
    while (n < 4000) {
        test_stamp(buf, n, 3);
        err = segment_write(f.seg, n, 1, buf);
        if (err)
            break;
        n++;
    }
    test_log_restore();
    ck_assert_int_eq(err, -ENOMEM);
    ck_assert_uint_gt(n, 1500);
    ck_assert_uint_gt(test_event(f.mm, MM_EV_swap_io_errors), 0);
    ck_assert_uint_eq(f.seg->swapped, 0);
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < n; i++)
        test_read_stamped(f.seg, i, 3);
    swap_teardown(&f);
    close(fd);
}
END_TEST

/* A swap-in whose read fails: -EIO, the entry stays, and once the file
 * reads again the page comes back intact. */
START_TEST(test_read_error_keeps_entry)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    char path[64];
    int saved, wronly;
    uint64_t buf[MM_PAGE_SIZE / 8];

    for (uint64_t i = 0; i < 3000; i++)
        test_write_stamped(f.seg, i, 4);
    ck_assert(pte_is_swap(test_pte(f.seg, 0)));
    snprintf(path, sizeof(path), "/proc/self/fd/%d", f.fd);
    saved = dup(f.fd);
    wronly = open(path, O_WRONLY);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(wronly, 0);
    ck_assert_int_ge(dup2(wronly, f.fd), 0);
    test_log_quiet();
    ck_assert_int_eq(segment_read(f.seg, 0, 1, buf), -EIO);
    test_log_restore();
    ck_assert(pte_is_swap(test_pte(f.seg, 0)));
    ck_assert_uint_gt(test_event(f.mm, MM_EV_swap_io_errors), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_ge(dup2(saved, f.fd), 0);
    close(saved);
    close(wronly);
    for (uint64_t i = 0; i < 3000; i++)
        test_read_stamped(f.seg, i, 4);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_swapon_rejects)
{
    struct mm *mm = test_mm(8 * MiB);
    int small = test_swapfile(1 * MiB), dir = open("/tmp", O_RDONLY);
    struct mm_swap_info si;

    ck_assert_int_eq(mm_swapon(mm, -1, "x", MiB), -EINVAL);
    ck_assert_int_eq(mm_swapon(mm, small, NULL, MiB), -EINVAL);
    ck_assert_int_eq(mm_swapon(mm, small, "x", 2 * MiB), -EINVAL);  /* file too short */
    ck_assert_int_eq(mm_swapon(mm, small, "x", 100), -EINVAL);      /* no whole page */
    ck_assert_int_eq(mm_swapon(mm, dir, "x", MiB), -EINVAL);
    ck_assert_uint_eq(mm_nr_swapfiles(mm), 0);
    ck_assert_int_eq(mm_swap_info(mm, 0, &si), -ENOENT);
    ck_assert_int_eq(mm_swapon(mm, small, "/tmp/small", MiB), 0);
    ck_assert_int_eq(mm_swap_info(mm, 0, &si), 0);
    ck_assert_str_eq(si.path, "/tmp/small");
    ck_assert_uint_eq(si.size_pages, 256);
    ck_assert_int_eq(si.prio, -2);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
    close(small);
    close(dir);
}
END_TEST

START_TEST(test_check_catches_wrong_slot)
{
    struct swap_fixture f = swap_setup(8 * MiB, 4 * MiB, 4096);
    pte_t *pte, saved;

    install_swap(&f, 10);
    install_swap(&f, 11);
    ck_assert_mm_ok(f.mm);
    pte = pgtable_lookup(&f.seg->pt, 10);
    saved = *pte;
    *pte = swp_entry_pte(0, 500);           /* a free slot */
    test_log_quiet();
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    *pte = swp_entry_pte(0, 1);             /* index 11's slot */
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    test_log_restore();
    *pte = saved;
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

Suite *swap_suite(void)
{
    Suite *s = suite_create("swap");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_slot_allocator_clusters);
    tcase_add_test(tc, test_roundtrip_through_small_pool);
    tcase_add_test(tc, test_write_over_swapped_page_reads_nothing);
    tcase_add_test(tc, test_discard_and_destroy_free_slots);
    tcase_add_loop_test(tc, test_readahead_only_when_sequential, 0, 2);
    tcase_add_test(tc, test_write_error_loses_nothing);
    tcase_add_test(tc, test_read_error_keeps_entry);
    tcase_add_test(tc, test_swapon_rejects);
    tcase_add_test(tc, test_check_catches_wrong_slot);
    suite_add_tcase(s, tc);
    return s;
}
