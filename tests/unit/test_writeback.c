/* test_writeback.c - asynchronous swap-out (vmscan.c): background reclaim
 * queues its file writes in a batch and leaves the pages mapped under
 * writeback; the batch is written (here on the test's thread, in rmemd on
 * a worker) and done.  Pages reach the file and are freed; a page read or
 * written in between stays with its new contents and its slot freed; one
 * discarded or destroyed in between is freed with its slot at completion;
 * a failed write loses nothing; a page zswap keeps never enters a batch.
 * Direct reclaim under MM_RECLAIM_ASYNC queues its writes the same way
 * and fails the charge with -EAGAIN (no failcnt) until a batch is done,
 * waits for writeback already in flight, and under MM_RECLAIM_NOIO fails
 * as if nothing were reclaimable.  mm_check() runs in the middle of each
 * flight as well as after it. */
#include "swap_test.h"

/* Fill until background reclaim is wanted; returns pages written. */
static uint64_t fill_below_low(struct swap_fixture *f, uint64_t seed)
{
    const struct zone *zone = &f->mm->zones[0];
    uint64_t i = 0;

    while (zone->free_pages >= zone->watermark[WMARK_LOW])
        test_write_stamped(f->seg, i++, seed);
    ck_assert(mm_reclaim_pending(f->mm));
    return i;
}

/* One step of background reclaim that queues a full batch: the first
 * steps only age (newly written pages are referenced). */
static void queue_batch(struct swap_fixture *f, struct mm_swap_batch *b)
{
    for (int steps = 0; steps < 64; steps++) {
        mm_background_reclaim_async(f->mm, 256, b);
        if (b->nr)
            return;
    }
    ck_abort_msg("background reclaim queued nothing");
}

static uint64_t index_of(const struct swap_fixture *f, const struct mm_swap_io *io)
{
    return page_index(pfn_to_page(f->mm, io->pfn));
}

START_TEST(test_batch_written_then_freed)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    struct mm_swap_batch b;
    uint64_t n = fill_below_low(&f, 1), free_before, resident, nr;

    queue_batch(&f, &b);
    ck_assert_uint_le(b.nr, MM_SWAP_IO_BATCH);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), b.nr);
    /* In flight: mapped, off the LRU, slots taken, nothing written yet. */
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    ck_assert_uint_eq(f.seg->swapped, 0);
    for (unsigned i = 0; i < b.nr; i++) {
        ck_assert(page_test(pfn_to_page(f.mm, b.io[i].pfn), PG_writeback));
        ck_assert(pte_present(test_pte(f.seg, index_of(&f, &b.io[i]))));
    }
    free_before = test_pool_free(f.mm);
    resident = f.seg->resident;
    nr = b.nr;
    mm_swap_io_run(&b);
    for (unsigned i = 0; i < b.nr; i++)
        ck_assert_int_eq(b.io[i].err, 0);
    ck_assert_mm_ok(f.mm);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), nr);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pgsteal_kswapd), nr);
    ck_assert_uint_eq(f.seg->swapped, nr);
    ck_assert_uint_eq(f.seg->resident, resident - nr);
    ck_assert_uint_eq(test_pool_free(f.mm), free_before + nr);
    for (uint64_t i = 0; i < n; i++)
        test_read_stamped(f.seg, i, 1);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* io 0 written over, io 1 read, io 2 discarded, the rest untouched. */
START_TEST(test_used_or_discarded_during_flight)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    uint64_t buf[MM_PAGE_SIZE / 8];
    struct mm_swap_batch b;
    uint64_t n = fill_below_low(&f, 2), written, read, gone, nr;

    queue_batch(&f, &b);
    ck_assert_uint_ge(b.nr, 3);
    written = index_of(&f, &b.io[0]);
    read = index_of(&f, &b.io[1]);
    gone = index_of(&f, &b.io[2]);
    test_write_stamped(f.seg, written, 3);
    test_read_stamped(f.seg, read, 2);
    ck_assert_int_eq(segment_discard(f.seg, gone, 1), 0);
    ck_assert_mm_ok(f.mm);             /* gone is an orphan now */
    ck_assert_uint_eq(mm_nr_writeback(f.mm), b.nr);
    nr = b.nr;
    mm_swap_io_run(&b);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert(pte_present(test_pte(f.seg, written)));
    ck_assert(pte_present(test_pte(f.seg, read)));
    ck_assert(pte_none(test_pte(f.seg, gone)));
    ck_assert_uint_eq(f.seg->swapped, nr - 3);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), nr - 3);
    test_read_stamped(f.seg, written, 3);
    ck_assert_int_eq(segment_read(f.seg, gone, 1, buf), 0);
    ck_assert(test_is_zero(buf, sizeof(buf)));
    for (uint64_t i = 0; i < n; i++)
        if (i != written && i != gone)
            test_read_stamped(f.seg, i, 2);
    swap_teardown(&f);
}
END_TEST

/* The segment goes while its writes are in flight: completion frees the
 * orphans and their slots; nothing is left. */
START_TEST(test_destroy_during_flight)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    struct mm_swap_batch b;
    struct mm_swap_info si;

    fill_below_low(&f, 4);
    queue_batch(&f, &b);
    segment_destroy(f.seg);
    f.seg = NULL;
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(mm_swap_info(f.mm, 0, &si), 0);
    ck_assert_uint_eq(si.used_pages, b.nr);
    ck_assert_uint_eq(f.cg->usage, 0);
    mm_swap_io_run(&b);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    swap_teardown(&f);
}
END_TEST

/* A clone made while writes are in flight shares the pages being
 * written; io 0's owner then breaks its share by writing, so the page
 * under writeback is the clone's alone.  Completion keeps every page that
 * was shared (its slot was taken for one user) and both sides read back
 * their own contents. */
START_TEST(test_clone_during_flight)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    struct mm_swap_batch b;
    struct segment *clone;
    uint64_t n = fill_below_low(&f, 6), broken;

    queue_batch(&f, &b);
    ck_assert_uint_ge(b.nr, 1);
    broken = index_of(&f, &b.io[0]);
    ck_assert_int_eq(segment_clone(f.seg, &clone), 0);
    ck_assert_mm_ok(f.mm);
    test_write_stamped(f.seg, broken, 7);       /* copy on write */
    ck_assert_mm_ok(f.mm);
    mm_swap_io_run(&b);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    for (unsigned i = 0; i < b.nr; i++) {
        uint64_t index = index_of(&f, &b.io[i]);

        ck_assert(pte_present(test_pte(clone, index)));
    }
    for (uint64_t i = 0; i < n; i++) {
        test_read_stamped(f.seg, i, i == broken ? 7 : 6);
        test_read_stamped(clone, i, 6);
    }
    segment_destroy(clone);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Pages shared with a clone wait for their writes mapped in both.  One
 * is written by the clone meanwhile (its copy on write: the shared page
 * itself is untouched), one discarded by its owner (the clone keeps it):
 * both still go to swap for the sharer left; the others for both. */
START_TEST(test_shared_pages_during_flight)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    struct mm_swap_batch b;
    struct segment *clone;
    uint64_t n = fill_below_low(&f, 6), written, dropped, nr;

    ck_assert_int_eq(segment_clone(f.seg, &clone), 0);
    queue_batch(&f, &b);
    ck_assert_uint_ge(b.nr, 2);
    for (unsigned i = 0; i < b.nr; i++)
        ck_assert_int_eq(pfn_to_page(f.mm, b.io[i].pfn)->refcount, 2);
    ck_assert_mm_ok(f.mm);
    written = index_of(&f, &b.io[0]);
    dropped = index_of(&f, &b.io[1]);
    test_write_stamped(clone, written, 7);      /* copy on write */
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(segment_discard(f.seg, dropped, 1), 0);
    ck_assert_mm_ok(f.mm);
    nr = b.nr;
    mm_swap_io_run(&b);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), nr);
    ck_assert(pte_is_swap(test_pte(f.seg, written)));
    ck_assert(pte_is_swap(test_pte(clone, dropped)));
    for (uint64_t i = 0; i < n; i++) {
        if (i == dropped) {
            char buf[MM_PAGE_SIZE];

            ck_assert_int_eq(segment_read(f.seg, i, 1, buf), 0);
            ck_assert(test_is_zero(buf, sizeof(buf)));
        } else {
            test_read_stamped(f.seg, i, 6);
        }
        test_read_stamped(clone, i, i == written ? 7 : 6);
    }
    ck_assert_mm_ok(f.mm);
    segment_destroy(clone);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A read-only swap file: every write fails, every page stays. */
START_TEST(test_write_error_restores_pages)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 8192);
    int fd = test_swapfile_mode(32 * MiB, O_RDONLY);
    struct mm_swap_batch b;
    uint64_t n, nr;

    ck_assert_int_eq(mm_swapon(f.mm, fd, TEST_SWAP_NAME, 32 * MiB), 0);
    n = fill_below_low(&f, 5);
    queue_batch(&f, &b);
    nr = b.nr;
    mm_swap_io_run(&b);
    for (unsigned i = 0; i < b.nr; i++)
        ck_assert_int_lt(b.io[i].err, 0);
    test_log_quiet();
    mm_swap_batch_done(f.mm, &b);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_io_errors), nr);
    ck_assert_uint_eq(f.seg->swapped, 0);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    for (uint64_t i = 0; i < n; i++)
        test_read_stamped(f.seg, i, 5);
    swap_teardown(&f);
    close(fd);
}
END_TEST

/* Zero pages go to zswap at once: nothing to write, nothing queued. */
START_TEST(test_zswap_pages_never_queued)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);
    const struct zone *zone = &f.mm->zones[0];
    static const uint64_t zero[MM_PAGE_SIZE / 8];
    struct mm_swap_batch b;
    uint64_t i = 0, freed = 0;

    ck_assert_int_eq(mm_zswap_set(f.mm, true, 20), 0);
    while (zone->free_pages >= zone->watermark[WMARK_LOW])
        ck_assert_int_eq(segment_write(f.seg, i++, 1, zero), 0);
    for (int steps = 0; steps < 64 && !freed; steps++) {
        freed = mm_background_reclaim_async(f.mm, 256, &b);
        ck_assert_uint_eq(b.nr, 0);
    }
    ck_assert_uint_gt(freed, 0);
    ck_assert_uint_eq(f.seg->swapped, freed);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpout), freed);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A tenant at its limit of `limit` pages, all written (seed 7). */
static struct swap_fixture at_limit(uint64_t limit)
{
    struct swap_fixture f = swap_setup(8 * MiB, 32 * MiB, 8192);

    memcg_set_limit(f.cg, limit * MM_PAGE_SIZE);
    for (uint64_t i = 0; i < limit; i++)
        test_write_stamped(f.seg, i, 7);
    ck_assert_mm_ok(f.mm);
    return f;
}

/* One write under mode, with b as its batch. */
static int write_under(struct swap_fixture *f, enum mm_reclaim_mode mode,
                       struct mm_swap_batch *b, uint64_t index)
{
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];
    int err;

    test_stamp(buf, index, 7);
    b->nr = 0;
    mm_set_direct_reclaim(f->mm, mode, b);
    err = segment_write(f->seg, index, 1, buf);
    mm_set_direct_reclaim(f->mm, MM_RECLAIM_SYNC, NULL);
    ck_assert_mm_ok(f->mm);
    return err;
}

START_TEST(test_direct_async_queues_then_retries)
{
    struct swap_fixture f = at_limit(64);
    struct mm_swap_batch b;
    uint64_t nr;

    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b, 64), -EAGAIN);
    /* Refused for now, not for good: no failcnt, nothing written yet. */
    ck_assert_uint_gt(b.nr, 0);
    ck_assert_uint_eq(f.cg->failcnt, 0);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), b.nr);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    ck_assert(pte_none(test_pte(f.seg, 64)));
    for (unsigned i = 0; i < b.nr; i++)
        ck_assert_uint_eq(b.io[i].kind, SWAP_IO_DIRECT);
    nr = b.nr;
    mm_swap_io_run(&b);
    mm_swap_batch_done(f.mm, &b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pgsteal_direct), nr);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), nr);
    ck_assert_uint_eq(f.cg->usage, 64 - nr);
    /* Run again, it fits, and writes nothing more. */
    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b, 64), 0);
    ck_assert_uint_eq(b.nr, 0);
    ck_assert_uint_eq(f.cg->failcnt, 0);
    for (uint64_t i = 0; i <= 64; i++)
        test_read_stamped(f.seg, i, 7);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Every page of the tenant under writeback already: a second request's
 * reclaim finds nothing to queue, and waits for the first's batch. */
START_TEST(test_direct_async_waits_for_writeback)
{
    struct swap_fixture f = at_limit(SWAP_CLUSTER_MAX);
    struct mm_swap_batch b1, b2;

    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b1, 40), -EAGAIN);
    ck_assert_uint_eq(b1.nr, SWAP_CLUSTER_MAX);
    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b2, 41), -EAGAIN);
    ck_assert_uint_eq(b2.nr, 0);
    ck_assert_uint_eq(f.cg->failcnt, 0);
    mm_swap_io_run(&b1);
    mm_swap_batch_done(f.mm, &b1);
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b2, 41), 0);
    ck_assert_int_eq(write_under(&f, MM_RECLAIM_ASYNC, &b2, 40), 0);
    for (uint64_t i = 0; i < SWAP_CLUSTER_MAX; i++)
        test_read_stamped(f.seg, i, 7);
    test_read_stamped(f.seg, 40, 7);
    test_read_stamped(f.seg, 41, 7);
    swap_teardown(&f);
}
END_TEST

/* No write allowed: the charge fails as it would with nothing to
 * reclaim - failcnt, -ENOMEM - and nothing is queued or lost. */
START_TEST(test_direct_noio_fails_like_no_swap)
{
    struct swap_fixture f = at_limit(64);
    struct mm_swap_batch b;

    ck_assert_int_eq(write_under(&f, MM_RECLAIM_NOIO, &b, 64), -ENOMEM);
    ck_assert_uint_eq(b.nr, 0);
    ck_assert_uint_eq(f.cg->failcnt, 1);
    ck_assert_uint_eq(mm_nr_writeback(f.mm), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    for (uint64_t i = 0; i < 64; i++)
        test_read_stamped(f.seg, i, 7);
    swap_teardown(&f);
}
END_TEST

Suite *writeback_suite(void)
{
    Suite *s = suite_create("writeback");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_batch_written_then_freed);
    tcase_add_test(tc, test_used_or_discarded_during_flight);
    tcase_add_test(tc, test_destroy_during_flight);
    tcase_add_test(tc, test_clone_during_flight);
    tcase_add_test(tc, test_shared_pages_during_flight);
    tcase_add_test(tc, test_write_error_restores_pages);
    tcase_add_test(tc, test_zswap_pages_never_queued);
    tcase_add_test(tc, test_direct_async_queues_then_retries);
    tcase_add_test(tc, test_direct_async_waits_for_writeback);
    tcase_add_test(tc, test_direct_noio_fails_like_no_swap);
    suite_add_tcase(s, tc);
    return s;
}
