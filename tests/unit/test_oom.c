/* test_oom.c - the OOM policy: a tenant at its limit gets ENOMEM, or in
 * kill mode loses its largest segment (which then refuses I/O with
 * EOWNERDEAD); the pool exhausted picks the victim tenant by badness. */
#include "mm_test.h"

/* Badness: (usage + swap) * 1000 / min(memory limit, pool). */
START_TEST(test_badness_score)
{
    static const struct {
        uint64_t usage, swap;
        const char *memsw;              /* NULL: unlimited */
        uint64_t want;
    } cases[] = {
        { 0, 0, "400K", 0 },
        { 50, 0, "400K", 500 },         /* half of a 100-page limit */
        { 50, 25, "400K", 750 },        /* swap counts */
        { 100, 50, "400K", 1500 },      /* swapped beyond the limit */
        { 100, 0, "400K", 1000 },
        { 1, 0, "4K", 1000 },
        { 0, 0, "0", 0 },
        { 256, 0, NULL, 125 },          /* unlimited: share of 2048 pages */
        { 256, 0, "1T", 125 },          /* a limit beyond the pool: the pool */
    };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");

    if (cases[_i].memsw) {
        test_memcg_set(cg, "memory.limit_in_bytes", cases[_i].memsw);
        test_memcg_set(cg, "memory.memsw.limit_in_bytes", cases[_i].memsw);
    }
    /* Set the counters directly: the score reads nothing else. */
    cg->usage = cases[_i].usage;
    cg->swap = cases[_i].swap;
    ck_assert_uint_eq(oom_badness(cg), cases[_i].want);
    cg->usage = cg->swap = 0;
    mm_destroy(mm);
}
END_TEST

/* The victim: highest badness among tenants in kill mode with an
 * anonymous segment holding pages; ties to the larger usage, then the
 * older tenant.  The scores come from usage set directly (each tenant
 * has one real page, so a victim exists). */
START_TEST(test_select_memcg)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *a = test_memcg(mm, "a"), *b = test_memcg(mm, "b");
    struct memcg *c = test_memcg(mm, "c");
    struct segment *named = test_segment(mm, c, 4);

    ck_assert_int_eq(segment_set_file(named), 0);
    ck_assert_int_eq(test_write_pages(named, 0, 1), 0);
    ck_assert_ptr_null(oom_select_memcg(mm));      /* all opted out */
    test_memcg_set(a, "memory.oom_control", "0");
    test_memcg_set(b, "memory.oom_control", "0");
    test_memcg_set(c, "memory.oom_control", "0");
    ck_assert_ptr_null(oom_select_memcg(mm));      /* nothing anonymous */
    ck_assert_int_eq(test_write_pages(test_segment(mm, a, 4), 0, 1), 0);
    ck_assert_int_eq(test_write_pages(test_segment(mm, b, 4), 0, 1), 0);
    ck_assert_ptr_eq(oom_select_memcg(mm), a);     /* tie: the older */
    a->usage = 1000;                               /* 488 of the pool */
    b->usage = 60;
    test_memcg_set(b, "memory.limit_in_bytes", "400K");  /* 600 of its limit */
    ck_assert_ptr_eq(oom_select_memcg(mm), b);
    c->usage = 1000;
    test_memcg_set(c, "memory.limit_in_bytes", "4000K"); /* 1000, but only named */
    ck_assert_ptr_eq(oom_select_memcg(mm), b);
    c->usage = 1;
    ck_assert_int_eq(test_write_pages(test_segment(mm, c, 4), 0, 1), 0);
    c->usage = 1000;
    ck_assert_ptr_eq(oom_select_memcg(mm), c);
    test_memcg_set(c, "memory.oom_control", "1");        /* opted out again */
    ck_assert_ptr_eq(oom_select_memcg(mm), b);
    test_memcg_set(b, "memory.limit_in_bytes", "-1");    /* b: 29 of the pool */
    ck_assert_ptr_eq(oom_select_memcg(mm), a);
    b->usage = 1000;                               /* tie on score and usage */
    ck_assert_ptr_eq(oom_select_memcg(mm), a);
    b->usage = 1001;
    ck_assert_ptr_eq(oom_select_memcg(mm), b);
    a->usage = b->usage = 1;
    c->usage = 2;
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* A tenant's named segment is its shared file, not a victim: the kill
 * takes the smaller anonymous one, at the memory limit and, with the
 * named segment's reservation filling memsw, at the memsw limit. */
START_TEST(test_memcg_oom_spares_named)
{
    static const struct {
        const char *memsw;
        bool reserve;
    } cases[] = { { "-1", false }, { "96K", true } };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *named = test_segment(mm, cg, 16);
    struct segment *anon = test_segment(mm, cg, 16);
    struct segment *cur = test_segment(mm, cg, 16);
    uint64_t i = 0;
    int err;

    ck_assert_int_eq(segment_set_file(named), 0);
    test_memcg_set(cg, "memory.limit_in_bytes", "96K");
    test_memcg_set(cg, "memory.memsw.limit_in_bytes", cases[_i].memsw);
    test_memcg_set(cg, "memory.oom_control", "0");
    if (cases[_i].reserve)
        ck_assert_int_eq(segment_reserve(named), 0);
    ck_assert_int_eq(test_write_pages(named, 0, 14), 0);
    ck_assert_int_eq(test_write_pages(anon, 0, 6), 0);
    ck_assert_int_eq(test_write_pages(cur, 0, 2), 0);
    ck_assert_mm_ok(mm);
    test_log_quiet();
    /* Fills the limit (24 pages, or memsw 16 reserved + 8), then kills. */
    ck_assert_int_eq(test_write_pages(cur, 2, 3), 0);
    test_log_restore();
    ck_assert(!segment_is_dead(named));
    ck_assert(segment_is_dead(anon));
    ck_assert(!segment_is_dead(cur));
    ck_assert_uint_eq(segment_resident_pages(named), 14);
    ck_assert_uint_eq(cg->oom_kill, 1);
    ck_assert_mm_ok(mm);
    /* Only the named one and the writer's are left: the writer dies. */
    test_log_quiet();
    for (i = 5; (err = test_write_pages(cur, i, 1)) == 0; i++)
        ck_assert_uint_lt(i, 16);
    test_log_restore();
    ck_assert_int_eq(err, -EOWNERDEAD);
    ck_assert(!segment_is_dead(named));
    ck_assert(segment_is_dead(cur));
    ck_assert_uint_eq(cg->oom_kill, 2);
    ck_assert_mm_ok(mm);
    /* Nothing anonymous with pages: ENOMEM, the named segment intact. */
    anon = test_segment(mm, cg, 16);
    test_memcg_set(cg, "memory.limit_in_bytes", "56K");
    test_log_quiet();
    ck_assert_int_eq(test_write_pages(named, 14, 1), -ENOMEM);
    test_log_restore();
    ck_assert(!segment_is_dead(named));
    ck_assert_uint_eq(segment_resident_pages(named), 14);
    ck_assert(cg->under_oom);
    ck_assert_uint_eq(cg->oom_kill, 2);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Kill mode at the memory limit: the largest other segment dies, the
 * write goes through, oom_kill counts; the dead one refuses I/O. */
START_TEST(test_memcg_oom_kills_largest)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *small = test_segment(mm, cg, 16);
    struct segment *big = test_segment(mm, cg, 16);
    struct segment *cur = test_segment(mm, cg, 16);
    char buf[MM_PAGE_SIZE];

    test_memcg_set(cg, "memory.limit_in_bytes", "64K");
    test_memcg_set(cg, "memory.oom_control", "0");
    ck_assert_int_eq(test_write_pages(small, 0, 4), 0);
    ck_assert_int_eq(test_write_pages(big, 0, 8), 0);
    ck_assert_int_eq(test_write_pages(cur, 0, 4), 0);
    test_log_quiet();
    ck_assert_int_eq(test_write_pages(cur, 4, 1), 0);
    test_log_restore();
    ck_assert(segment_is_dead(big));
    ck_assert(!segment_is_dead(small));
    ck_assert_uint_eq(segment_resident_pages(big), 0);
    ck_assert_uint_eq(memcg_usage_bytes(cg), 9 * MM_PAGE_SIZE);
    ck_assert_int_eq(segment_read(big, 0, 1, buf), -EOWNERDEAD);
    ck_assert_int_eq(segment_write(big, 0, 1, buf), -EOWNERDEAD);
    ck_assert_int_eq(segment_read(small, 0, 1, buf), 0);
    /* The kill ended the refusal, not the pressure: reclaim found
     * nothing it could free (no swap), and the level says so. */
    ck_assert_str_eq(memcg_pressure_level(cg), "critical");
    {
        char f[128];

        ck_assert_int_eq(memcg_file_read(cg, "memory.oom_control", f, sizeof(f)), 0);
        ck_assert_str_eq(f, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
        ck_assert_int_eq(memcg_file_read(cg, "memory.failcnt", f, sizeof(f)), 0);
        ck_assert_str_eq(f, "1\n");
    }
    ck_assert_mm_ok(mm);
    segment_destroy(big);                          /* the owner frees it */
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* The writer's own segment is the largest: it dies, the write says so. */
START_TEST(test_memcg_oom_kills_writer)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *other = test_segment(mm, cg, 16);
    struct segment *cur = test_segment(mm, cg, 16);

    test_memcg_set(cg, "memory.limit_in_bytes", "32K");
    test_memcg_set(cg, "memory.memsw.limit_in_bytes", "32K");
    test_memcg_set(cg, "memory.oom_control", "0");
    ck_assert_int_eq(segment_reserve(cur), -ENOMEM);
    ck_assert_int_eq(test_write_pages(other, 0, 2), 0);
    ck_assert_int_eq(test_write_pages(cur, 0, 6), 0);
    test_log_quiet();
    ck_assert_int_eq(test_write_pages(cur, 6, 1), -EOWNERDEAD);
    test_log_restore();
    ck_assert(segment_is_dead(cur));
    ck_assert_uint_eq(memcg_usage_bytes(cg), 2 * MM_PAGE_SIZE);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Kill mode at the memsw limit: a reservation is worth killing too. */
START_TEST(test_memcg_oom_frees_reservation)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *reserved = test_segment(mm, cg, 12);
    struct segment *cur = test_segment(mm, cg, 16);

    test_memcg_set(cg, "memory.limit_in_bytes", "64K");
    test_memcg_set(cg, "memory.memsw.limit_in_bytes", "64K");
    test_memcg_set(cg, "memory.oom_control", "0");
    ck_assert_int_eq(segment_reserve(reserved), 0);
    ck_assert_int_eq(test_write_pages(cur, 0, 4), 0);
    test_log_quiet();
    ck_assert_int_eq(test_write_pages(cur, 4, 1), 0);
    test_log_restore();
    ck_assert(segment_is_dead(reserved));
    ck_assert_uint_eq(segment_reserved_pages(reserved), 0);
    ck_assert_uint_eq(memcg_memsw_usage(cg), 5);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Kill mode with nothing to kill: ENOMEM, under_oom. */
START_TEST(test_memcg_oom_nothing_to_kill)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 4);

    test_memcg_set(cg, "memory.limit_in_bytes", "0");
    test_memcg_set(cg, "memory.oom_control", "0");
    ck_assert_int_eq(test_write_pages(seg, 0, 1), -ENOMEM);
    ck_assert(!segment_is_dead(seg));
    ck_assert(cg->under_oom);
    ck_assert_uint_eq(cg->oom_kill, 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Pool exhausted: the tenant with the worst badness loses its largest
 * segment, and the allocation that ran out succeeds. */
START_TEST(test_global_oom_picks_by_badness)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *hog = test_memcg(mm, "hog"), *tight = test_memcg(mm, "tight");
    struct memcg *safe = test_memcg(mm, "safe"), *cur = test_memcg(mm, "cur");
    struct segment *h1, *h2, *t1, *s1, *c1;
    uint64_t room;

    test_no_watermarks(mm);
    h1 = test_segment(mm, hog, 1024);
    h2 = test_segment(mm, hog, 1024);
    t1 = test_segment(mm, tight, 1024);
    s1 = test_segment(mm, safe, 1024);
    c1 = test_segment(mm, cur, 1024);
    test_memcg_set(hog, "memory.oom_control", "0");
    test_memcg_set(tight, "memory.oom_control", "0");
    test_memcg_set(tight, "memory.limit_in_bytes", "400K");   /* 100 pages */
    ck_assert_int_eq(test_write_pages(h1, 0, 300), 0);
    ck_assert_int_eq(test_write_pages(h2, 0, 200), 0);       /* hog: 500/1024 = 488 */
    ck_assert_int_eq(test_write_pages(t1, 0, 90), 0);        /* tight: 900 */
    ck_assert_int_eq(test_write_pages(s1, 0, 400), 0);       /* safe: opted out */
    room = mm->zones[0].free_pages;
    for (unsigned z = 1; z < mm->nr_zones; z++)
        room += mm->zones[z].free_pages;
    ck_assert_uint_gt(100, room);       /* cur's 100 pages need a kill */
    test_log_quiet();
    ck_assert_int_eq(test_write_pages(c1, 0, 100), 0);
    test_log_restore();
    ck_assert(segment_is_dead(t1));
    ck_assert(!segment_is_dead(h1) && !segment_is_dead(s1) && !segment_is_dead(c1));
    ck_assert_uint_eq(tight->oom_kill, 1);
    ck_assert_uint_eq(segment_resident_pages(c1), 100);
    ck_assert_mm_ok(mm);
    test_log_quiet();
    /* Next victim: tight has nothing left, hog's bigger segment goes. */
    ck_assert_int_eq(oom_global(mm, NULL), 0);
    test_log_restore();
    ck_assert(segment_is_dead(h1));
    ck_assert(!segment_is_dead(h2));
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Nobody in kill mode: the pool's ENOMEM stands. */
START_TEST(test_global_oom_none_eligible)
{
    struct mm *mm = test_mm(4 * MiB);
    struct memcg *a = test_memcg(mm, "a");
    struct segment *seg;

    test_no_watermarks(mm);
    seg = test_segment(mm, a, 2048);
    ck_assert_int_eq(test_write_pages(seg, 0, 2048), -ENOMEM);
    ck_assert(!segment_is_dead(seg));
    ck_assert_int_eq(oom_global(mm, seg), -ENOMEM);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_badness_score, 0, 9);
    tcase_add_test(tc, test_select_memcg);
    tcase_add_test(tc, test_memcg_oom_kills_largest);
    tcase_add_test(tc, test_memcg_oom_kills_writer);
    tcase_add_loop_test(tc, test_memcg_oom_spares_named, 0, 2);
    tcase_add_test(tc, test_memcg_oom_frees_reservation);
    tcase_add_test(tc, test_memcg_oom_nothing_to_kill);
    tcase_add_test(tc, test_global_oom_picks_by_badness);
    tcase_add_test(tc, test_global_oom_none_eligible);
    suite_add_tcase(s, tc);
    return s;
}
