/* test_vmpressure.c - memory.pressure_level from reclaim effort: the
 * level of a window of 512 scanned pages (1 - reclaimed / scanned: 60 %
 * medium, 95 % critical), driven by real reclaim - a limit lowered below
 * usage over pages the tenant does or does not use, with swap, without,
 * and with a full swap file - a deep or impossible pass counting as
 * critical, and the level falling back to low after 512 pages charged or
 * uncharged with no reclaim scan.  mm_check() after every step. */
#include <stdio.h>

#include "swap_test.h"

enum { WIN = 512, N = 1024 };

static const char *level(const struct memcg *cg)
{
    static char buf[32];

    ck_assert_int_eq(memcg_file_read(cg, "memory.pressure_level", buf,
                                     sizeof(buf)), 0);
    return buf;
}

static void set_limit_pages(struct memcg *cg, uint64_t pages, int want)
{
    char v[32];

    snprintf(v, sizeof(v), "%llu", (unsigned long long)pages * MM_PAGE_SIZE);
    ck_assert_int_eq(memcg_file_write(cg, "memory.limit_in_bytes", v), want);
}

/* As a previous scan leaves them: no page accessed since. */
static int clear_accessed(void *arg, uint64_t index, pte_t *pte)
{
    (void)arg;
    (void)index;
    *pte &= ~PTE_ACCESSED;
    return 0;
}

/* The calculation alone, at the edges of each level. */
START_TEST(test_calc_level)
{
    static const struct {
        uint64_t scanned, reclaimed;
        enum vmpressure_level want;
    } cases[] = {
        { 0, 0, VMPRESSURE_LOW },
        { 512, 512, VMPRESSURE_LOW },
        { 512, 600, VMPRESSURE_LOW },           /* more freed than scanned */
        { 512, 205, VMPRESSURE_LOW },           /* 59.96 % */
        { 512, 204, VMPRESSURE_MEDIUM },        /* 60.2 % */
        { 512, 26, VMPRESSURE_MEDIUM },         /* 94.9 % */
        { 512, 25, VMPRESSURE_CRITICAL },       /* 95.1 % */
        { 1000, 0, VMPRESSURE_CRITICAL },
    };

    ck_assert_int_eq(vmpressure_calc_level(cases[_i].scanned,
                                           cases[_i].reclaimed), cases[_i].want);
}
END_TEST

/* A window closes at 512 scanned, not before; the level is the last
 * closed window's. */
START_TEST(test_window)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");

    vmpressure(cg, 300, 0);
    ck_assert_str_eq(level(cg), "low\n");
    vmpressure(cg, 0, 0);                       /* nothing scanned: no news */
    vmpressure(cg, 211, 0);
    ck_assert_str_eq(level(cg), "low\n");
    vmpressure(cg, 1, 0);
    ck_assert_str_eq(level(cg), "critical\n");
    vmpressure(cg, 512, 180);                   /* 64.8 % */
    ck_assert_str_eq(level(cg), "medium\n");
    vmpressure(cg, 500, 500);
    ck_assert_str_eq(level(cg), "medium\n");    /* still open */
    vmpressure(cg, 12, 0);
    ck_assert_str_eq(level(cg), "low\n");
    vmpressure_prio(cg, 4);                     /* not deep yet */
    ck_assert_str_eq(level(cg), "low\n");
    vmpressure(cg, 500, 500);
    vmpressure_prio(cg, 3);                     /* critical, whatever was open */
    ck_assert_str_eq(level(cg), "critical\n");
    vmpressure(cg, 511, 511);
    ck_assert_str_eq(level(cg), "critical\n");
    vmpressure(cg, 1, 1);
    ck_assert_str_eq(level(cg), "low\n");
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* N pages written and aged, then `hot` of every 10 read again (in use);
 * the limit comes down 32 pages at a time until a window has closed.
 * Cold pages go to swap at the first scan; used ones are scanned and kept;
 * without swap nothing can be reclaimed at all. */
START_TEST(test_limit_below_usage)
{
    static const struct {
        unsigned hot;                   /* of every 10 pages */
        bool swap;
        const char *want;
    } cases[] = {
        { 0, true, "low\n" },
        { 5, true, "low\n" },           /* 50 % */
        { 7, true, "medium\n" },        /* 70 % */
        { 10, true, "critical\n" },     /* every scanned page in use */
        { 0, false, "critical\n" },     /* nothing can be reclaimed */
    };
    struct swap_fixture f = swap_setup(16 * MiB, cases[_i].swap ? 16 * MiB : 0, N);
    uint64_t limit = N, scanned = 0;
    char buf[MM_PAGE_SIZE];

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert_int_eq(pgtable_for_each_pte(&f.seg->pt, clear_accessed, NULL), 0);
    for (uint64_t i = 0; i < N; i++)
        if (i % 10 < cases[_i].hot)
            ck_assert_int_eq(segment_read(f.seg, i, 1, buf), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_str_eq(level(f.cg), "low\n");
    while (scanned < WIN) {
        uint64_t before = test_event(f.mm, MM_EV_pgscan_direct);

        limit -= 32;
        set_limit_pages(f.cg, limit, cases[_i].swap ? 0 : -EBUSY);
        ck_assert_mm_ok(f.mm);
        if (!cases[_i].swap)
            break;
        scanned += test_event(f.mm, MM_EV_pgscan_direct) - before;
        ck_assert_uint_le(f.cg->usage, limit);
    }
    ck_assert(!f.cg->under_oom);
    ck_assert_str_eq(level(f.cg), cases[_i].want);
    for (uint64_t i = 0; i < N; i++)
        test_read_stamped(f.seg, i, 1);
    swap_teardown(&f);
}
END_TEST

/* A swap file that fills up: the pass stops short, which is critical, and
 * stays critical after the refusal is over (discarding clears under_oom). */
START_TEST(test_swap_full)
{
    struct swap_fixture f = swap_setup(16 * MiB, 64 * MM_PAGE_SIZE, N);
    uint64_t i, buf[MM_PAGE_SIZE / 8];
    int err = 0;

    set_limit_pages(f.cg, 256, 0);
    for (i = 0; i < N && !err; i++) {
        test_stamp(buf, i, 2);
        err = segment_write(f.seg, i, 1, buf);
    }
    ck_assert_int_eq(err, -ENOMEM);
    ck_assert_uint_eq(f.seg->swapped, 64);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(segment_discard(f.seg, i - 9, 8), 0);   /* resident */
    ck_assert(!f.cg->under_oom);
    ck_assert_str_eq(level(f.cg), "critical\n");
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Critical, then memory comes and goes without reclaim: after 512 pages
 * charged or uncharged the level is low again, not one page earlier; a
 * reclaim scan in between starts the count again. */
START_TEST(test_falls_back_to_low)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, 4 * N);
    int fd = test_swapfile(16 * MiB);
    uint64_t next = 0;

    for (; next < 64; next++)
        test_write_stamped(f.seg, next, 3);
    set_limit_pages(f.cg, 32, -EBUSY);          /* no swap: critical */
    ck_assert_str_eq(level(f.cg), "critical\n");
    for (; next < 64 + WIN - 1; next++)
        test_write_stamped(f.seg, next, 3);
    ck_assert_str_eq(level(f.cg), "critical\n");
    ck_assert_int_eq(segment_discard(f.seg, 0, 1), 0);
    ck_assert_str_eq(level(f.cg), "low\n");
    ck_assert_mm_ok(f.mm);

    set_limit_pages(f.cg, 32, -EBUSY);
    ck_assert_str_eq(level(f.cg), "critical\n");
    for (uint64_t end = next + 300; next < end; next++)
        test_write_stamped(f.seg, next, 3);
    /* Swap arrives, and a small scan of cold pages leaves the window
     * open (32 of 512) but restarts the count. */
    ck_assert_int_eq(mm_swapon(f.mm, fd, TEST_SWAP_NAME, 16 * MiB), 0);
    ck_assert_int_eq(pgtable_for_each_pte(&f.seg->pt, clear_accessed, NULL), 0);
    ck_assert_uint_eq(vmscan_try_to_free_pages(f.mm, f.cg, 32, false), 32);
    ck_assert_str_eq(level(f.cg), "critical\n");
    for (uint64_t end = next + 300; next < end; next++)
        test_write_stamped(f.seg, next, 3);
    ck_assert_str_eq(level(f.cg), "critical\n");
    for (uint64_t end = next + WIN - 300 - 1; next < end; next++)
        test_write_stamped(f.seg, next, 3);
    ck_assert_str_eq(level(f.cg), "critical\n");
    test_write_stamped(f.seg, next++, 3);
    ck_assert_str_eq(level(f.cg), "low\n");
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 1; i < next; i++)
        test_read_stamped(f.seg, i, 3);
    swap_teardown(&f);
    close(fd);
}
END_TEST

/* under_oom is critical whatever the window says. */
START_TEST(test_under_oom_is_critical)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 16);
    char buf[MM_PAGE_SIZE] = { 1 };

    set_limit_pages(cg, 4, 0);
    for (uint64_t i = 0; i < 4; i++)
        ck_assert_int_eq(segment_write(seg, i, 1, buf), 0);
    ck_assert_str_eq(level(cg), "low\n");
    ck_assert_int_eq(segment_write(seg, 4, 1, buf), -ENOMEM);
    ck_assert(cg->under_oom);
    ck_assert_str_eq(level(cg), "critical\n");
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *vmpressure_suite(void)
{
    Suite *s = suite_create("vmpressure");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_calc_level, 0, 8);
    tcase_add_test(tc, test_window);
    tcase_add_loop_test(tc, test_limit_below_usage, 0, 5);
    tcase_add_test(tc, test_swap_full);
    tcase_add_test(tc, test_falls_back_to_low);
    tcase_add_test(tc, test_under_oom_is_critical);
    suite_add_tcase(s, tc);
    return s;
}
