/* test_zswap.c - the compressed cache in front of the swap file: pages
 * that compress are kept in the pool and never reach the file, pages that
 * do not go to the file, same-filled pages take no pool memory, a full
 * cache writes its oldest entries back and every page still reads back,
 * a swap-in, discard or segment destroy frees entries, zswap turned off
 * keeps what it holds, memory.stat shows it per tenant, and zswap_check()
 * catches a counter that lies.  mm_check() runs after every step. */
#include <stdio.h>

#include "swap_test.h"

#define NPAGES 400u

enum content { TEXT, RANDOM, ZERO, SAME };

/* Page index of a kind, different for every index and seed: TEXT is half
 * a page of words from a small vocabulary and half zeros (compresses to
 * about a quarter), RANDOM does not compress, ZERO and SAME are one word
 * repeated. */
static void fill(void *page, uint64_t index, enum content kind)
{
    static const char *const words[] = {
        "page ", "swap ", "slot ", "zone ", "memory ", "reclaim ", "tenant ",
        "the ", "of ", "a ", "cgroup ", "segment ", "buddy ", "slab ", "lru ",
        "fault ",
    };
    uint64_t state = index * 2654435761u + 1, *w = page;
    char *p = page;
    size_t len = 0;

    switch (kind) {
    case TEXT:
        memset(page, 0, MM_PAGE_SIZE);
        len = (size_t)snprintf(p, MM_PAGE_SIZE / 2, "page %llu: ",
                               (unsigned long long)index);
        while (len < MM_PAGE_SIZE / 2 - 16) {
            const char *word = words[test_rand(&state) % 16];

            memcpy(p + len, word, strlen(word));
            len += strlen(word);
        }
        break;
    case RANDOM:
        test_fill(page, MM_PAGE_SIZE, index + 1);
        break;
    case ZERO:
        memset(page, 0, MM_PAGE_SIZE);
        break;
    case SAME:
        for (size_t i = 0; i < MM_PAGE_SIZE / 8; i++)
            w[i] = 0x5a5a5a5a00000000ull | index;
        break;
    }
}

static void write_pages(struct swap_fixture *f, uint64_t first, uint64_t n,
                        enum content kind)
{
    static uint8_t page[MM_PAGE_SIZE];

    for (uint64_t i = first; i < first + n; i++) {
        fill(page, i, kind);
        ck_assert_int_eq(segment_write(f->seg, i, 1, page), 0);
    }
}

static void read_pages(struct swap_fixture *f, uint64_t first, uint64_t n,
                       enum content kind)
{
    static uint8_t want[MM_PAGE_SIZE], got[MM_PAGE_SIZE];

    for (uint64_t i = first; i < first + n; i++) {
        fill(want, i, kind);
        ck_assert_int_eq(segment_read(f->seg, i, 1, got), 0);
        ck_assert_msg(memcmp(want, got, MM_PAGE_SIZE) == 0,
                      "page %llu lost its contents", (unsigned long long)i);
    }
}

/* Reclaim the segment's every page (all of them are cold by now). */
static void swap_out_all(struct swap_fixture *f)
{
    for (int tries = 0; f->seg->resident && tries < 16; tries++)
        vmscan_try_to_free_pages(f->mm, f->cg, f->seg->resident, false);
    ck_assert_uint_eq(f->seg->resident, 0);
}

static struct swap_fixture zswap_setup(unsigned percent)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, 4096);

    ck_assert_int_eq(mm_zswap_set(f.mm, true, percent), 0);
    ck_assert_mm_ok(f.mm);
    return f;
}

static uint64_t zstat(const struct mm *mm, enum mm_zswap_stat s)
{
    struct mm_zswap_info zi;

    mm_zswap_info(mm, &zi);
    return zi.stat[s];
}

static bool in_zswap(const struct swap_fixture *f, uint64_t index)
{
    pte_t pte = test_pte(f->seg, index);

    ck_assert(pte_is_swap(pte));
    return zswap_has(f->mm, pte_swp_type(pte), pte_swp_offset(pte));
}

START_TEST(test_compressible_stored_not_written)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);
    uint64_t pool;

    write_pages(&f, 0, NPAGES, TEXT);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), NPAGES);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_same_filled_pages), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpout), NPAGES);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    /* The slots stay taken, the PTEs are swap entries as without zswap. */
    ck_assert_uint_eq(test_swap_used(f.mm), NPAGES);
    ck_assert_uint_eq(f.seg->swapped, NPAGES);
    ck_assert_uint_eq(f.cg->swap, NPAGES);
    pool = zstat(f.mm, MM_ZSWAP_pool_total_size);
    ck_assert_uint_gt(pool, 0);
    ck_assert_uint_le(pool, NPAGES * MM_PAGE_SIZE / 2);
    ck_assert(in_zswap(&f, 0) && in_zswap(&f, NPAGES - 1));

    read_pages(&f, 0, NPAGES, TEXT);
    ck_assert_mm_ok(f.mm);
    /* Every hit freed its entry with its slot; the file was never read. */
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin), NPAGES);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), 0);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_pool_total_size), 0);
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_incompressible_goes_to_file)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);

    write_pages(&f, 0, NPAGES, RANDOM);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_reject_compress_poor), NPAGES);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), NPAGES);
    ck_assert_uint_eq(test_swap_used(f.mm), NPAGES);
    read_pages(&f, 0, NPAGES, RANDOM);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), NPAGES);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_same_filled_take_no_pool)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);

    write_pages(&f, 0, 100, ZERO);
    write_pages(&f, 100, 100, SAME);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 200);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_same_filled_pages), 200);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_pool_total_size), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 0);
    read_pages(&f, 0, 100, ZERO);
    read_pages(&f, 100, 100, SAME);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_same_filled_pages), 0);
    swap_teardown(&f);
}
END_TEST

/* 1 % of an 8 MiB pool holds far fewer than NPAGES text pages: the
 * oldest are written back to their slots, the newest stay compressed,
 * and every page reads back from wherever it is. */
START_TEST(test_pool_limit_writes_back_oldest)
{
    struct swap_fixture f = zswap_setup(1);
    struct mm_zswap_info zi;

    write_pages(&f, 0, NPAGES, TEXT);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    mm_zswap_info(f.mm, &zi);
    ck_assert_uint_eq(zi.max_pool_bytes, 8 * MiB / 100);
    ck_assert_uint_gt(zi.stat[MM_ZSWAP_pool_limit_hit], 0);
    ck_assert_uint_gt(zi.stat[MM_ZSWAP_written_back_pages], 0);
    ck_assert_uint_le(zi.stat[MM_ZSWAP_pool_total_size], zi.max_pool_bytes);
    ck_assert_uint_eq(zi.stat[MM_ZSWAP_stored_pages] +
                      zi.stat[MM_ZSWAP_written_back_pages], NPAGES);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout),
                      zi.stat[MM_ZSWAP_written_back_pages]);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpwb),
                      zi.stat[MM_ZSWAP_written_back_pages]);
    ck_assert_uint_eq(test_swap_used(f.mm), NPAGES);
    /* Reclaim took the pages oldest first, zswap wrote back oldest first. */
    ck_assert(!in_zswap(&f, 0));
    ck_assert(in_zswap(&f, NPAGES - 1));

    read_pages(&f, 0, NPAGES, TEXT);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin),
                      zi.stat[MM_ZSWAP_stored_pages]);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin),
                      zi.stat[MM_ZSWAP_written_back_pages]);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_discard_and_destroy_free_entries)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);

    write_pages(&f, 0, NPAGES, TEXT);
    write_pages(&f, NPAGES, 50, ZERO);
    swap_out_all(&f);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), NPAGES + 50);
    ck_assert_int_eq(segment_discard(f.seg, 0, NPAGES / 2), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), NPAGES / 2 + 50);
    /* A whole-page write over a page in zswap drops its entry unread. */
    write_pages(&f, NPAGES / 2, 1, RANDOM);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), NPAGES / 2 + 49);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin), 0);
    segment_destroy(f.seg);
    f.seg = NULL;
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_same_filled_pages), 0);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_pool_total_size), 0);
    ck_assert_uint_eq(f.cg->zswap_bytes + f.cg->zswapped, 0);
    swap_teardown(&f);
}
END_TEST

/* Off: new pages go to the file; what zswap holds still loads. */
START_TEST(test_off_keeps_what_it_holds)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);

    write_pages(&f, 0, 100, TEXT);
    swap_out_all(&f);
    ck_assert_int_eq(mm_zswap_set(f.mm, false, ZSWAP_DEFAULT_MAX_POOL_PERCENT), 0);
    write_pages(&f, 100, 100, TEXT);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 100);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 100);
    ck_assert(in_zswap(&f, 99) && !in_zswap(&f, 100));
    read_pages(&f, 0, 200, TEXT);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpin), 100);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    ck_assert_int_eq(mm_zswap_set(f.mm, true, 101), -EINVAL);
    swap_teardown(&f);
}
END_TEST

/* Without mm_zswap_set nothing changes: every page goes to the file. */
START_TEST(test_off_by_default)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, 4096);
    struct mm_zswap_info zi;

    mm_zswap_info(f.mm, &zi);
    ck_assert(!zi.enabled);
    write_pages(&f, 0, 100, ZERO);
    swap_out_all(&f);
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_stored_pages), 0);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), 100);
    read_pages(&f, 0, 100, ZERO);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

static uint64_t stat_key(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\n%s ", key);
    p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in:\n%s", key, text);
    return strtoull(p + strlen(pat), NULL, 10);
}

START_TEST(test_memory_stat_zswap)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);
    char buf[4096];

    write_pages(&f, 0, 100, TEXT);
    write_pages(&f, 100, 10, ZERO);
    swap_out_all(&f);
    ck_assert_int_ge(memcg_file_read(f.cg, "memory.stat", buf, sizeof(buf)), 0);
    ck_assert_uint_eq(stat_key(buf, "zswapped"), 110 * MM_PAGE_SIZE);
    ck_assert_uint_eq(stat_key(buf, "zswap"),
                      zstat(f.mm, MM_ZSWAP_pool_total_size));
    ck_assert_uint_eq(stat_key(buf, "swap"), 110 * MM_PAGE_SIZE);
    read_pages(&f, 0, 100, TEXT);
    read_pages(&f, 100, 10, ZERO);
    ck_assert_int_ge(memcg_file_read(f.cg, "memory.stat", buf, sizeof(buf)), 0);
    ck_assert_uint_eq(stat_key(buf, "zswapped"), 0);
    ck_assert_uint_eq(stat_key(buf, "zswap"), 0);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_check_catches_lying_counter)
{
    struct swap_fixture f = zswap_setup(ZSWAP_DEFAULT_MAX_POOL_PERCENT);

    write_pages(&f, 0, 10, TEXT);
    swap_out_all(&f);
    ck_assert_mm_ok(f.mm);
    test_log_quiet();
    f.mm->zswap.stat[MM_ZSWAP_pool_total_size] += 8;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    f.mm->zswap.stat[MM_ZSWAP_pool_total_size] -= 8;
    f.mm->zswap.stat[MM_ZSWAP_stored_pages]++;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    f.mm->zswap.stat[MM_ZSWAP_stored_pages]--;
    f.cg->zswapped++;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    f.cg->zswapped--;
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    read_pages(&f, 0, 10, TEXT);
    swap_teardown(&f);
}
END_TEST

/* Direct reclaim passes under MM_RECLAIM_ASYNC until one queues zswap's
 * writeback (the pool is full); the batches before it are done.  That
 * batch is returned unrun, and the index of each of its zswap writes. */
static unsigned queue_zswap_writeback(struct swap_fixture *f,
                                      struct mm_swap_batch *b, uint64_t *idx)
{
    for (int pass = 0; pass < 64; pass++) {
        unsigned nz = 0;

        b->nr = 0;
        mm_set_direct_reclaim(f->mm, MM_RECLAIM_ASYNC, b);
        vmscan_try_to_free_pages(f->mm, f->cg, SWAP_CLUSTER_MAX, true);
        mm_set_direct_reclaim(f->mm, MM_RECLAIM_SYNC, NULL);
        ck_assert_mm_ok(f->mm);
        for (unsigned i = 0; i < b->nr; i++)
            if (b->io[i].kind == SWAP_IO_ZSWAP)
                idx[nz++] = swap_entry_index(f->mm, b->io[i].entry);
        if (nz)
            return nz;
        mm_swap_io_run(b);
        mm_swap_batch_done(f->mm, b);
    }
    ck_abort_msg("zswap never wrote back");
    return 0;
}

/* zswap's writeback in a batch, as rmemd runs it on a worker: the entries
 * stay in zswap, off its LRU, until the writes are done, and a store that
 * finds the pool full meanwhile is refused, not failed.  One entry's page
 * is read meanwhile (from zswap: its slot is freed, but stays pinned until
 * the write is done), one discarded, one's write fails (it stays in
 * zswap); the others leave zswap for the file. */
START_TEST(test_writeback_in_flight)
{
    struct swap_fixture f = zswap_setup(1);
    struct mm_swap_batch b;
    uint64_t idx[MM_SWAP_IO_BATCH], used;
    unsigned nz;
    struct mm_zswap_info zi;

    write_pages(&f, 0, NPAGES, TEXT);
    nz = queue_zswap_writeback(&f, &b, idx);
    ck_assert_uint_ge(nz, 3);
    mm_zswap_info(f.mm, &zi);
    ck_assert_uint_eq(zi.stat[MM_ZSWAP_written_back_pages], 0);
    ck_assert_uint_eq(f.mm->zswap.nr_writeback, nz);
    for (unsigned k = 0; k < nz; k++)
        ck_assert(in_zswap(&f, idx[k]));

    read_pages(&f, idx[0], 1, TEXT);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(f.mm->zswap.nr_writeback, nz - 1);
    ck_assert_int_eq(segment_discard(f.seg, idx[1], 1), 0);
    ck_assert_mm_ok(f.mm);
    used = test_swap_used(f.mm);
    mm_swap_io_run(&b);
    for (unsigned i = 0; i < b.nr; i++)
        if (b.io[i].kind == SWAP_IO_ZSWAP &&
            swap_entry_index(f.mm, b.io[i].entry) == idx[2])
            b.io[i].err = -EIO;
    test_log_quiet();
    mm_swap_batch_done(f.mm, &b);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    /* The freed slots were held until their writes were done. */
    ck_assert_uint_lt(test_swap_used(f.mm), used);
    ck_assert_uint_eq(f.mm->zswap.nr_writeback, 0);
    ck_assert_uint_eq(f.mm->zswap.nr_wb_io, 0);
    ck_assert(in_zswap(&f, idx[2]));
    for (unsigned k = 3; k < nz; k++)
        ck_assert(!in_zswap(&f, idx[k]));
    ck_assert_uint_eq(zstat(f.mm, MM_ZSWAP_written_back_pages), nz - 3);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_swap_io_errors), 1);

    for (uint64_t i = 0; i < NPAGES; i++) {
        if (i == idx[1]) {
            static uint8_t zero[MM_PAGE_SIZE], got[MM_PAGE_SIZE];

            ck_assert_int_eq(segment_read(f.seg, i, 1, got), 0);
            ck_assert(memcmp(got, zero, MM_PAGE_SIZE) == 0);
            continue;
        }
        read_pages(&f, i, 1, TEXT);
    }
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

Suite *zswap_suite(void)
{
    Suite *s = suite_create("zswap");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_compressible_stored_not_written);
    tcase_add_test(tc, test_incompressible_goes_to_file);
    tcase_add_test(tc, test_same_filled_take_no_pool);
    tcase_add_test(tc, test_pool_limit_writes_back_oldest);
    tcase_add_test(tc, test_writeback_in_flight);
    tcase_add_test(tc, test_discard_and_destroy_free_entries);
    tcase_add_test(tc, test_off_keeps_what_it_holds);
    tcase_add_test(tc, test_off_by_default);
    tcase_add_test(tc, test_memory_stat_zswap);
    tcase_add_test(tc, test_check_catches_lying_counter);
    suite_add_tcase(s, tc);
    return s;
}
