/* test_swap_state.c - the swap cache (swap_state.c): a page swapped in
 * keeps its slot, clean, uncharged to swap; reclaim takes it back with no
 * write and no new slot; a write or a discard frees the slot; memsw stays
 * exact through every move; clones share a cached page and its slot
 * follows the reverse map; KSM takes pages out of the cache; zswap's
 * slots and a swap file over half full keep no cache; the asynchronous
 * swap-in caches as the synchronous one does; the OOM killer leaves no
 * slot behind; mm_check() catches a broken cache.  mm_check() after every
 * step. */
#include "swap_test.h"

enum { N = 64 };

static void reclaim_all(struct swap_fixture *f)
{
    for (int i = 0; i < 16 && f->cg->usage; i++)
        vmscan_try_to_free_pages(f->mm, f->cg, f->cg->usage, false);
    ck_assert_uint_eq(f->cg->usage, 0);
    ck_assert_mm_ok(f->mm);
}

static void read_all(struct segment *seg, uint64_t n, uint64_t seed)
{
    for (uint64_t i = 0; i < n; i++) {
        test_read_stamped(seg, i, seed);
        ck_assert_mm_ok(seg->mm);
    }
}

static struct page *page_at(const struct segment *seg, uint64_t index)
{
    pte_t pte = test_pte(seg, index);

    ck_assert(pte_present(pte));
    return pfn_to_page(seg->mm, pte_pfn(pte));
}

/* N pages written, swapped out, and read back: every one in the cache. */
static struct swap_fixture cached_setup(uint64_t swap_bytes, uint64_t seed)
{
    struct swap_fixture f = swap_setup(8 * MiB, swap_bytes, N);

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, seed);
    reclaim_all(&f);
    read_all(f.seg, N, seed);
    return f;
}

/* Swap-in keeps the slot; reclaim of the unwritten pages writes nothing,
 * takes no new slot and puts back the very entries; memsw never moves. */
START_TEST(test_reclaim_without_write)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, N);
    pte_t entries[N];
    uint64_t out;

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, 1);
    reclaim_all(&f);
    for (uint64_t i = 0; i < N; i++)
        entries[i] = test_pte(f.seg, i);
    out = test_event(f.mm, MM_EV_pswpout);
    ck_assert_uint_eq(out, N);
    read_all(f.seg, N, 1);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, N);
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    ck_assert_uint_eq(f.cg->usage, N);
    ck_assert_uint_eq(f.cg->swap, 0);                   /* counted once */
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), N);
    for (uint64_t i = 0; i < N; i++) {
        struct page *page = page_at(f.seg, i);

        ck_assert(page_test(page, PG_swapcache));
        ck_assert(!page_test(page, PG_dirty));
        ck_assert(!(test_pte(f.seg, i) & PTE_DIRTY));
        ck_assert_uint_eq(swapcache_entry(f.mm, page), entries[i]);
    }
    reclaim_all(&f);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), out);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 0);
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    ck_assert_uint_eq(f.cg->swap, N);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), N);
    for (uint64_t i = 0; i < N; i++)
        ck_assert_uint_eq(test_pte(f.seg, i), entries[i]);
    read_all(f.seg, N, 1);
    swap_teardown(&f);
}
END_TEST

/* A write or a discard ends it: the slot is freed at once; a written page
 * goes to a new slot when reclaimed, with a write. */
START_TEST(test_write_and_discard_free_the_slot)
{
    struct swap_fixture f = cached_setup(8 * MiB, 2);
    uint64_t out = test_event(f.mm, MM_EV_pswpout);
    pte_t old = swapcache_entry(f.mm, page_at(f.seg, 3));
    struct page *page;

    test_write_stamped(f.seg, 3, 3);
    ck_assert_mm_ok(f.mm);
    page = page_at(f.seg, 3);
    ck_assert(!page_test(page, PG_swapcache));
    ck_assert(page_test(page, PG_dirty));
    ck_assert_uint_eq(swap_entry_count(f.mm, old), 0);
    ck_assert_uint_eq(test_swap_used(f.mm), N - 1);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, N - 1);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), N);
    ck_assert_int_eq(segment_discard(f.seg, 10, 5), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_swap_used(f.mm), N - 6);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, N - 6);
    ck_assert_uint_eq(f.cg->usage, N - 5);
    ck_assert_uint_eq(f.cg->swap, 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), N - 5);
    reclaim_all(&f);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), out + 1);   /* page 3 */
    ck_assert_uint_eq(test_swap_used(f.mm), N - 5);
    ck_assert_uint_eq(f.cg->swap, N - 5);
    test_read_stamped(f.seg, 3, 3);
    test_read_stamped(f.seg, 20, 2);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* A clone shares a cached page and, through it, its slot: reclaim unmaps
 * both with the slot given one more user, no write; a CoW break leaves the
 * cached page to the other, and the slot's owner follows the page's
 * reverse map when its mapper goes. */
START_TEST(test_clone_shares_cached_page)
{
    struct swap_fixture f = cached_setup(8 * MiB, 4);
    uint64_t out = test_event(f.mm, MM_EV_pswpout);
    struct segment *c = NULL;
    pte_t e5 = swapcache_entry(f.mm, page_at(f.seg, 5));
    pte_t e6 = swapcache_entry(f.mm, page_at(f.seg, 6));

    ck_assert_int_eq(segment_clone(f.seg, &c), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_ptr_eq(page_at(c, 5), page_at(f.seg, 5));
    ck_assert(page_test(page_at(c, 5), PG_swapcache));
    test_write_stamped(f.seg, 6, 5);            /* CoW break: the clone keeps it */
    ck_assert_mm_ok(f.mm);
    ck_assert(page_test(page_at(c, 6), PG_swapcache));
    ck_assert_uint_eq(swap_entry_owner(f.mm, e6), c->id);
    ck_assert(!page_test(page_at(f.seg, 6), PG_swapcache));
    reclaim_all(&f);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), out + 1);   /* f.seg's 6 */
    ck_assert_uint_eq(test_pte(c, 5), e5);
    ck_assert_uint_eq(test_pte(f.seg, 5), e5);
    ck_assert_uint_eq(swap_entry_count(f.mm, e5), 2);
    ck_assert_uint_eq(f.cg->swap, N + 1);       /* a shared slot once */
    /* Back in, by the clone: a shared slot gives a private copy, no cache. */
    test_read_stamped(c, 5, 4);
    ck_assert_mm_ok(f.mm);
    ck_assert(!page_test(page_at(c, 5), PG_swapcache));
    segment_destroy(c);
    ck_assert_mm_ok(f.mm);
    read_all(f.seg, 6, 4);
    test_read_stamped(f.seg, 6, 5);
    swap_teardown(&f);
}
END_TEST

/* The origin of a shared cached page goes: the clone's page keeps the
 * cache, its slot now owned by the clone. */
START_TEST(test_owner_moves_with_the_page)
{
    struct swap_fixture f = cached_setup(8 * MiB, 6);
    struct segment *c = NULL;
    pte_t e = swapcache_entry(f.mm, page_at(f.seg, 7));

    ck_assert_int_eq(segment_clone(f.seg, &c), 0);
    ck_assert_uint_eq(swap_entry_owner(f.mm, e), f.seg->id);
    segment_destroy(f.seg);
    f.seg = c;
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(swap_entry_owner(f.mm, e), c->id);
    ck_assert(page_test(page_at(c, 7), PG_swapcache));
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, N);
    read_all(c, N, 6);
    swap_teardown(&f);
}
END_TEST

/* KSM makes a cached page a KSM page: out of the cache, slot freed. */
START_TEST(test_ksm_takes_pages_out)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, N);
    uint64_t buf[MM_PAGE_SIZE / 8];

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    memset(buf, 0x5a, sizeof(buf));
    ck_assert_int_eq(segment_write(f.seg, 0, 1, buf), 0);
    ck_assert_int_eq(segment_write(f.seg, 1, 1, buf), 0);
    reclaim_all(&f);
    ck_assert_int_eq(segment_read(f.seg, 0, 1, buf), 0);
    ck_assert_int_eq(segment_read(f.seg, 1, 1, buf), 0);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 2);
    for (int pass = 0; pass < 3; pass++) {
        mm_ksm_scan(f.mm, 16);
        ck_assert_mm_ok(f.mm);
    }
    ck_assert_ptr_eq(page_at(f.seg, 0), page_at(f.seg, 1));
    ck_assert(page_test(page_at(f.seg, 0), PG_ksm));
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 0);
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 1);
    swap_teardown(&f);
}
END_TEST

/* No cache for a slot zswap held, nor with swap over half full; a cached
 * page found in use once swap is over half full gives its slot back. */
START_TEST(test_no_cache_when_short)
{
    struct swap_fixture f = swap_setup(8 * MiB, 2 * N * MM_PAGE_SIZE, N);
    struct memcg *cg = test_memcg(f.mm, "filler");
    struct segment *filler = test_segment(f.mm, cg, N);
    uint64_t page[MM_PAGE_SIZE / 8] = { 7 }, out;

    /* zswap: the compressed copy is dropped, the page is dirty. */
    ck_assert_int_eq(mm_zswap_set(f.mm, true, 50), 0);
    ck_assert_int_eq(segment_write(f.seg, 0, 1, page), 0);
    reclaim_all(&f);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_zswpout), 1);
    ck_assert_int_eq(segment_read(f.seg, 0, 1, page), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert(!page_test(page_at(f.seg, 0), PG_swapcache));
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    ck_assert_int_eq(mm_zswap_set(f.mm, false, 50), 0);
    ck_assert_int_eq(segment_discard(f.seg, 0, 1), 0);
    /* Page 1 cached, then the other tenant's N pages fill the file past
     * half (N + 1 of 2N slots). */
    test_write_stamped(f.seg, 1, 12);
    reclaim_all(&f);
    test_read_stamped(f.seg, 1, 12);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 1);
    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(filler, i, 13);
    for (int i = 0; i < 16 && cg->usage; i++)
        vmscan_try_to_free_pages(f.mm, cg, cg->usage, false);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_swap_used(f.mm), N + 1);
    ck_assert(swap_half_full(f.mm));
    /* Page 1 in use: reclaim frees its slot, then writes it anew. */
    out = test_event(f.mm, MM_EV_pswpout);
    test_read_stamped(f.seg, 1, 12);
    ck_assert_uint_eq(vmscan_try_to_free_pages(f.mm, f.cg, 1, false), 1);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), out + 1);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 0);
    /* Over half: a swap-in frees its slot (N of 2N left: half) ... */
    test_read_stamped(filler, 0, 13);
    ck_assert_mm_ok(f.mm);
    ck_assert(!page_test(page_at(filler, 0), PG_swapcache));
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    /* ... and at half it keeps it. */
    test_read_stamped(filler, 1, 13);
    ck_assert_mm_ok(f.mm);
    ck_assert(page_test(page_at(filler, 1), PG_swapcache));
    ck_assert_uint_eq(test_swap_used(f.mm), N);
    test_read_stamped(f.seg, 1, 12);
    for (uint64_t i = 0; i < N; i++)
        test_read_stamped(filler, i, 13);
    segment_destroy(filler);
    memcg_destroy(cg);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* segment_read_nowait's pages, demand and readahead, are cached too. */
START_TEST(test_async_swapin_caches)
{
    struct swap_fixture f = swap_setup(8 * MiB, 8 * MiB, N);
    static uint8_t buf[16 * MM_PAGE_SIZE];
    struct mm_swapin_req req;
    uint64_t out;
    unsigned nr;

    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, 9);
    reclaim_all(&f);
    out = test_event(f.mm, MM_EV_pswpout);
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 16, buf, &req), -EINPROGRESS);
    nr = req.nr;
    ck_assert_uint_gt(nr, 16);                      /* readahead in it */
    mm_swapin_run(&req);
    ck_assert_int_eq(mm_swapin_done(f.mm, &req), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, nr);
    ck_assert_uint_eq(f.cg->swap, N - nr);
    ck_assert_int_eq(segment_read_nowait(f.seg, 0, 16, buf, &req), 0);
    for (unsigned i = 0; i < 16; i++)
        ck_assert(test_stamp_ok(buf + i * MM_PAGE_SIZE, i, 9));
    reclaim_all(&f);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout), out);
    read_all(f.seg, N, 9);
    swap_teardown(&f);
}
END_TEST

/* An OOM-killed segment keeps no slot, cached or not. */
START_TEST(test_oom_kill_frees_cache)
{
    struct swap_fixture f = cached_setup(8 * MiB, 10);

    test_log_quiet();
    oom_kill_segment(f.seg);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(test_stat(f.mm).swapcache_pages, 0);
    ck_assert_uint_eq(test_swap_used(f.mm), 0);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 0);
    swap_teardown(&f);
}
END_TEST

/* mm_check() notices each kind of damage, and passes once it is undone. */
enum damage { BAD_DIRTY, BAD_COUNT, BAD_NR, BAD_ENTRY, BAD_OWNER, NR_DAMAGE };

START_TEST(test_check_detects)
{
    struct swap_fixture f = cached_setup(8 * MiB, 11);
    struct page *page = page_at(f.seg, 4);
    pte_t e = swapcache_entry(f.mm, page);
    pfn_t other = pte_pfn(test_pte(f.seg, 5));

    test_log_quiet();
    switch (_i) {
    case BAD_DIRTY:
        page_set(page, PG_dirty);
        break;
    case BAD_COUNT:
        ck_assert_int_eq(swap_dup_entry(f.mm, e), 0);
        break;
    case BAD_NR:
        f.mm->nr_swapcache++;
        break;
    case BAD_ENTRY:
        f.mm->swapcache[page_to_pfn(f.mm, page)] = f.mm->swapcache[other];
        break;
    case BAD_OWNER:
        swap_set_owner(f.mm, e, f.seg->id, 5);
        break;
    }
    ck_assert_int_eq(swapcache_check(f.mm), -EUCLEAN);
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    test_log_restore();
    switch (_i) {
    case BAD_DIRTY:
        page_clear(page, PG_dirty);
        break;
    case BAD_COUNT:
        swap_free_entry(f.mm, e);
        break;
    case BAD_NR:
        f.mm->nr_swapcache--;
        break;
    case BAD_ENTRY:
        f.mm->swapcache[page_to_pfn(f.mm, page)] = e;
        break;
    case BAD_OWNER:
        swap_set_owner(f.mm, e, f.seg->id, 4);
        break;
    }
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

Suite *swap_state_suite(void)
{
    Suite *s = suite_create("swap_state");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_reclaim_without_write);
    tcase_add_test(tc, test_write_and_discard_free_the_slot);
    tcase_add_test(tc, test_clone_shares_cached_page);
    tcase_add_test(tc, test_owner_moves_with_the_page);
    tcase_add_test(tc, test_ksm_takes_pages_out);
    tcase_add_test(tc, test_no_cache_when_short);
    tcase_add_test(tc, test_async_swapin_caches);
    tcase_add_test(tc, test_oom_kill_frees_cache);
    tcase_add_loop_test(tc, test_check_detects, 0, NR_DAMAGE);
    suite_add_tcase(s, tc);
    return s;
}
