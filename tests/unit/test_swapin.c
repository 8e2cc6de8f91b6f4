/* test_swapin.c - asynchronous swap-in (swap.c, segment_read_nowait): a
 * read of pages in the swap file returns -EINPROGRESS with a request
 * whose pages are allocated and whose slots are pinned; the request is
 * run (here on the test's thread, in rmemd on a worker) and done, and the
 * read run again returns the pages intact.  In between, the segment may
 * be discarded, destroyed, overwritten, cloned or OOM-killed, the file may
 * fail, and allocations may fail while the request is prepared: every
 * case ends with the right contents, no page, slot or charge leaked, and
 * mm_check() clean in the middle of each flight as well as after it. */
#include <fcntl.h>

#include "swap_test.h"

enum { N = 64 };

/* A segment of N stamped pages, every one of them swapped out to the
 * file (zswap is off until turned on). */
static struct swap_fixture swapped_setup(uint64_t seed)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, N);

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, seed);
    for (int i = 0; i < 16 && f.cg->usage; i++)
        vmscan_try_to_free_pages(f.mm, f.cg, f.cg->usage, false);
    ck_assert_uint_eq(f.cg->usage, 0);
    ck_assert_uint_eq(f.seg->swapped, N);
    ck_assert_mm_ok(f.mm);
    return f;
}

/* Run and complete requests until the read is done; returns the rounds. */
static int read_all(struct mm *mm, struct segment *seg, uint64_t first,
                    uint32_t count, void *buf)
{
    struct mm_swapin_req req;
    int rounds = 0, err;

    while ((err = segment_read_nowait(seg, first, count, buf, &req)) ==
           -EINPROGRESS) {
        ck_assert_uint_gt(req.nr, 0);
        ck_assert_mm_ok(mm);
        mm_swapin_run(&req);
        ck_assert_int_eq(mm_swapin_done(mm, &req), 0);
        ck_assert_mm_ok(mm);
        ck_assert_int_lt(++rounds, 16);
    }
    ck_assert_int_eq(err, 0);
    return rounds;
}

/* Every page not free is slab or a page table: no data page, no page
 * locked for a read, left behind. */
static void assert_no_data_pages(const struct mm *mm)
{
    struct mm_stat st;

    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.data_pages, 0);
    ck_assert_uint_eq(st.free_pages + st.slab_pages + st.table_pages +
                      st.kvmalloc_pages, st.total_pages);
    ck_assert_uint_eq(mm_nr_swapin(mm), 0);
}

static void check_stamps(const void *buf, uint64_t first, uint32_t count,
                         uint64_t seed)
{
    for (uint32_t i = 0; i < count; i++)
        ck_assert_msg(test_stamp_ok((const char *)buf + (size_t)i * MM_PAGE_SIZE,
                                    first + i, seed),
                      "page %llu lost its contents",
                      (unsigned long long)(first + i));
}

START_TEST(test_read_in_flight_then_intact)
{
    struct swap_fixture f = swapped_setup(1);
    static uint8_t buf[16 * MM_PAGE_SIZE];
    struct mm_swapin_req req;
    uint64_t free_before = test_pool_free(f.mm);
    unsigned demand = 0, ra = 0;

    memset(buf, 0xee, sizeof(buf));
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 16, buf, &req), -EINPROGRESS);
    ck_assert_uint_ge(req.nr, 16);
    ck_assert_uint_le(req.nr, MM_SWAPIN_BATCH);
    for (unsigned i = 0; i < req.nr; i++) {
        demand += !req.io[i].readahead;
        ra += req.io[i].readahead;
        if (i)                          /* file order, for one preadv */
            ck_assert_uint_gt(req.io[i].pos, req.io[i - 1].pos);
    }
    ck_assert_uint_eq(demand, 16);
    ck_assert_uint_gt(ra, 0);           /* the stream went on past page 0 */
    /* Nothing the reader sees has changed; pages and pins are held. */
    ck_assert_uint_eq(buf[0], 0xee);
    ck_assert_uint_eq(f.seg->swapped, N);
    ck_assert_uint_eq(f.cg->usage, 0);
    ck_assert_uint_eq(mm_nr_swapin(f.mm), req.nr);
    ck_assert_uint_eq(test_pool_free(f.mm), free_before - req.nr);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), 0);
    ck_assert_mm_ok(f.mm);
    mm_swapin_run(&req);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(mm_swapin_done(f.mm, &req), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_swapin(f.mm), 0);
    ck_assert_uint_eq(f.seg->swapped, N - demand - ra);
    ck_assert_uint_eq(f.cg->usage, demand + ra);
    /* Every page read keeps its slot in the swap cache, uncharged. */
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    ck_assert_uint_eq(f.mm->nr_swapcache, demand + ra);
    ck_assert_uint_eq(f.cg->swap, N - demand - ra);
    /* The counters mean what they meant: pages read from the file, of
     * those read ahead, and the tenant's reads served from swap. */
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), demand + ra);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_ra), ra);
    ck_assert_uint_eq(f.cg->events[MEMCG_PGMAJFAULT], demand);
    ck_assert_uint_eq(f.cg->events[MEMCG_PGFAULT], 0);
    /* Run again: everything is resident now. */
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 16, buf, &req), 0);
    ck_assert_uint_eq(req.nr, 0);
    check_stamps(buf, 0, 16, 1);
    ck_assert_uint_eq(f.cg->events[MEMCG_PGFAULT], 16);
    /* The pages read ahead are hits when read next. */
    ck_assert_int_eq(read_all(f.mm, f.seg, 16, (uint32_t)ra, buf), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_ra_hit), ra);
    check_stamps(buf, 16, (uint32_t)ra, 1);
    swap_teardown(&f);
}
END_TEST

/* More swapped pages than one request holds: rounds until done. */
START_TEST(test_long_read_takes_rounds)
{
    struct swap_fixture f = swapped_setup(2);
    static uint8_t buf[N * MM_PAGE_SIZE];

    ck_assert_int_ge(read_all(f.mm, f.seg, 0, N, buf), 2);
    check_stamps(buf, 0, N, 2);
    ck_assert_uint_eq(f.seg->swapped, 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), N);
    ck_assert_uint_eq(f.cg->events[MEMCG_PGMAJFAULT] +
                      test_event(f.mm, MM_EV_swap_ra), N);
    swap_teardown(&f);
}
END_TEST

/* What happens to the segment while the read is in flight. */
enum flight_event { DISCARD, DESTROY, OVERWRITE, OOM_KILL, CLONE };

static void flight_case(enum flight_event ev)
{
    struct swap_fixture f = swapped_setup(3);
    static uint8_t buf[8 * MM_PAGE_SIZE];
    struct mm_swapin_req req;
    struct segment *clone = NULL;

    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 8, buf, &req), -EINPROGRESS);
    switch (ev) {
    case DISCARD:
        ck_assert_int_eq(segment_discard(f.seg, 0, N), 0);
        /* The freed slots stay held by their pins, owned by none. */
        ck_assert_uint_eq(test_swap_used(f.mm), req.nr);
        break;
    case DESTROY:
        segment_destroy(f.seg);
        f.seg = NULL;
        break;
    case OVERWRITE:
        for (uint64_t i = 0; i < 8; i++)
            test_write_stamped(f.seg, i, 4);
        break;
    case OOM_KILL:
        test_log_quiet();
        oom_kill_segment(f.seg);
        test_log_restore();
        break;
    case CLONE:
        ck_assert_int_eq(segment_clone(f.seg, &clone), 0);
        break;
    }
    ck_assert_mm_ok(f.mm);
    mm_swapin_run(&req);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(mm_swapin_done(f.mm, &req), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_swapin(f.mm), 0);
    switch (ev) {
    case DISCARD:
        ck_assert_uint_eq(test_swap_used(f.mm), 0);
        assert_no_data_pages(f.mm);
        ck_assert_int_eq(read_all(f.mm, f.seg, 0, 8, buf), 0);
        ck_assert(test_is_zero(buf, sizeof(buf)));
        break;
    case DESTROY:
        ck_assert_uint_eq(test_swap_used(f.mm), 0);
        assert_no_data_pages(f.mm);
        break;
    case OVERWRITE:
        ck_assert_int_eq(read_all(f.mm, f.seg, 0, 8, buf), 0);
        check_stamps(buf, 0, 8, 4);
        ck_assert_uint_eq(f.cg->events[MEMCG_PGMAJFAULT], 0);
        break;
    case OOM_KILL:
        ck_assert_uint_eq(test_swap_used(f.mm), 0);
        assert_no_data_pages(f.mm);
        ck_assert_int_eq(segment_read_nowait(f.seg, 0, 8, buf, &req),
                         -EOWNERDEAD);
        ck_assert_uint_eq(req.nr, 0);
        break;
    case CLONE:
        /* seg got private copies; the clone keeps the shared slots. */
        ck_assert_int_eq(read_all(f.mm, f.seg, 0, 8, buf), 0);
        check_stamps(buf, 0, 8, 3);
        ck_assert_uint_eq(segment_swapped_pages(clone), N);
        ck_assert_int_eq(read_all(f.mm, clone, 0, 8, buf), 1);
        check_stamps(buf, 0, 8, 3);
        segment_destroy(clone);
        break;
    }
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}

START_TEST(test_discard_during_flight) { flight_case(DISCARD); }
END_TEST
START_TEST(test_destroy_during_flight) { flight_case(DESTROY); }
END_TEST
START_TEST(test_overwrite_during_flight) { flight_case(OVERWRITE); }
END_TEST
START_TEST(test_oom_kill_during_flight) { flight_case(OOM_KILL); }
END_TEST
START_TEST(test_clone_during_flight) { flight_case(CLONE); }
END_TEST

/* Shared slots: a clone reads its own copy, the origin's slot stays. */
START_TEST(test_shared_slots_read_by_both)
{
    struct swap_fixture f = swapped_setup(5);
    static uint8_t buf[N * MM_PAGE_SIZE];
    struct segment *c = NULL;

    ck_assert_int_eq(segment_clone(f.seg, &c), 0);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(c, 0)), 2);
    ck_assert_int_eq(read_all(f.mm, c, 0, N, buf), N / MM_SWAPIN_BATCH);
    check_stamps(buf, 0, N, 5);
    /* Nothing read ahead of a shared slot; every page a major fault. */
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_ra), 0);
    ck_assert_uint_eq(f.cg->events[MEMCG_PGMAJFAULT], N);
    ck_assert_uint_eq(f.seg->swapped, N);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(f.seg, 0)), 1);
    ck_assert_uint_eq(f.mm->nr_swapcache, 0);        /* private copies */
    memset(buf, 0, sizeof(buf));
    read_all(f.mm, f.seg, 0, N, buf);
    check_stamps(buf, 0, N, 5);
    /* The origin's own slots now: kept as its swap cache. */
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    ck_assert_uint_eq(f.mm->nr_swapcache, N);
    ck_assert_uint_eq(f.cg->swap, 0);
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* Two readers of the same pages in flight at once: the first maps them,
 * the second finds them mapped and drops its copies. */
START_TEST(test_two_requests_same_slots)
{
    struct swap_fixture f = swapped_setup(6);
    static uint8_t buf[4 * MM_PAGE_SIZE];
    struct mm_swapin_req a, b;

    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 4, buf, &a), -EINPROGRESS);
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 4, buf, &b), -EINPROGRESS);
    ck_assert_uint_eq(mm_nr_swapin(f.mm), a.nr + b.nr);
    ck_assert_mm_ok(f.mm);
    mm_swapin_run(&b);
    mm_swapin_run(&a);
    ck_assert_int_eq(mm_swapin_done(f.mm, &a), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(mm_swapin_done(f.mm, &b), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(read_all(f.mm, f.seg, 0, 4, buf), 0);
    check_stamps(buf, 0, 4, 6);
    /* The synchronous read of a slot being read asynchronously. */
    ck_assert_int_eq(segment_read_nowait(f.seg, 40, 1, buf, &a), -EINPROGRESS);
    test_read_stamped(f.seg, 40, 6);
    mm_swapin_run(&a);
    ck_assert_int_eq(mm_swapin_done(f.mm, &a), 0);
    test_read_stamped(f.seg, 40, 6);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* The file fails: the read fails with EIO, counted; nothing is lost and
 * the next read, with the file back, finds every page. */
START_TEST(test_read_error)
{
    struct swap_fixture f = swapped_setup(7);
    static uint8_t buf[8 * MM_PAGE_SIZE];
    struct mm_swapin_req req;
    int wronly = open("/dev/null", O_WRONLY);
    unsigned nr;

    ck_assert_int_ge(wronly, 0);
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 8, buf, &req), -EINPROGRESS);
    nr = req.nr;
    for (unsigned i = 0; i < req.nr; i++)
        req.io[i].fd = wronly;          /* preadv: EBADF */
    mm_swapin_run(&req);
    ck_assert_int_ne(req.io[0].err, 0);
    test_log_quiet();
    ck_assert_int_eq(mm_swapin_done(f.mm, &req), -EIO);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_io_errors), nr);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), 0);
    ck_assert_uint_eq(f.seg->swapped, N);
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    ck_assert_uint_eq(f.cg->usage, 0);
    ck_assert_int_eq(read_all(f.mm, f.seg, 0, 8, buf), 1);
    check_stamps(buf, 0, 8, 7);
    close(wronly);
    swap_teardown(&f);
}
END_TEST

/* Every allocation of the preparation failing in turn (n = 1 fails the
 * first): a demand page's is a clean ENOMEM, nothing held, nothing
 * leaked; a readahead page's only shortens the request. */
START_TEST(test_prepare_alloc_failure)
{
    struct swap_fixture f = swapped_setup(8);
    static uint8_t buf[8 * MM_PAGE_SIZE];
    struct mm_swapin_req req;
    uint64_t free_before = test_pool_free(f.mm), injected;
    long n;

    for (n = 1; n <= 8 + MM_SWAPIN_BATCH; n++) {
        int err;

        injected = mm_fail_alloc_injected(f.mm);
        mm_fail_alloc_after(f.mm, n);
        err = segment_read_nowait(f.seg, 0, 8, buf, &req);
        mm_fail_alloc_after(f.mm, -1);
        ck_assert_mm_ok(f.mm);
        if (n <= 8) {
            ck_assert_int_eq(err, -ENOMEM);
            ck_assert_uint_eq(req.nr, 0);
            ck_assert_uint_eq(mm_nr_swapin(f.mm), 0);
            ck_assert_uint_eq(test_pool_free(f.mm), free_before);
            ck_assert_uint_eq(test_swap_used(f.mm), N);
            continue;
        }
        ck_assert_int_eq(err, -EINPROGRESS);
        ck_assert_uint_ge(req.nr, 8);
        ck_assert_uint_le(req.nr, (unsigned)n - 1);
        if (mm_fail_alloc_injected(f.mm) == injected)
            break;                      /* the whole request fitted */
        mm_swapin_cancel(f.mm, &req);
        ck_assert_mm_ok(f.mm);
        ck_assert_uint_eq(mm_nr_swapin(f.mm), 0);
        ck_assert_uint_eq(test_pool_free(f.mm), free_before);
        ck_assert_uint_eq(test_swap_used(f.mm), N);
    }
    ck_assert_int_le(n, 8 + MM_SWAPIN_BATCH);
    ck_assert_uint_gt(req.nr, 8);       /* readahead was in it */
    mm_swapin_run(&req);
    ck_assert_int_eq(mm_swapin_done(f.mm, &req), 0);
    ck_assert_int_eq(read_all(f.mm, f.seg, 0, 8, buf), 0);
    check_stamps(buf, 0, 8, 8);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* zswap's pages are decompressed inline: no request, no file read. */
START_TEST(test_zswap_read_inline)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, N);
    static uint8_t buf[N * MM_PAGE_SIZE];
    struct mm_swapin_req req;

    uint64_t page[MM_PAGE_SIZE / 8] = { 0 };

    ck_assert_int_eq(mm_zswap_set(f.mm, true, 50), 0);
    for (uint64_t i = 0; i < N; i++) {
        page[0] = page[511] = i + 1;    /* compresses well */
        ck_assert_int_eq(segment_write(f.seg, i, 1, page), 0);
    }
    for (int i = 0; i < 16 && f.cg->usage; i++)
        vmscan_try_to_free_pages(f.mm, f.cg, f.cg->usage, false);
    ck_assert_uint_eq(f.seg->swapped, N);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpout), N);
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, N, buf, &req), 0);
    ck_assert_uint_eq(req.nr, 0);
    for (uint64_t i = 0; i < N; i++) {
        page[0] = page[511] = i + 1;
        ck_assert(memcmp(buf + i * MM_PAGE_SIZE, page, MM_PAGE_SIZE) == 0);
    }
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin), N);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

Suite *swapin_suite(void)
{
    Suite *s = suite_create("swapin");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_read_in_flight_then_intact);
    tcase_add_test(tc, test_long_read_takes_rounds);
    tcase_add_test(tc, test_discard_during_flight);
    tcase_add_test(tc, test_destroy_during_flight);
    tcase_add_test(tc, test_overwrite_during_flight);
    tcase_add_test(tc, test_oom_kill_during_flight);
    tcase_add_test(tc, test_clone_during_flight);
    tcase_add_test(tc, test_shared_slots_read_by_both);
    tcase_add_test(tc, test_two_requests_same_slots);
    tcase_add_test(tc, test_read_error);
    tcase_add_test(tc, test_prepare_alloc_failure);
    tcase_add_test(tc, test_zswap_read_inline);
    suite_add_tcase(s, tc);
    return s;
}
