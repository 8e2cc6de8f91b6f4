/* test_fail_alloc.c - failure injection swept over each allocation of an
 * operation, in both modes: for n = 1, 2, ... until no allocation fails
 * any more, a fresh pool is set up and the n-th page or slab allocation
 * from then on fails - and every one after it (mm_fail_alloc_after, a
 * pool run dry), or that one alone (mm_fail_alloc_nth, a passing
 * shortage that reclaim and retries may get past).  The operation must
 * return 0 or a clean -ENOMEM, leave mm_check() happy and every segment's
 * contents as they were (or as written, for the pages a multi-page write
 * finished), and, once everything is destroyed, leave no page, slab
 * object or swap slot behind.  Operations: segment creation,
 * segment_clone (of an origin, and of a clone), segment_write (a new page
 * needing table pages, a CoW break, a CoW break next to a new page
 * needing a table, a new page the pool must reclaim for) and swap-in
 * (segment_read of swapped pages, also of slots the swap cache kept, and
 * segment_read_nowait's rounds of requests, each alone and shared with a
 * clone, swap file on a tmp file), a clone of pages in the swap
 * cache, and a write whose direct reclaim queues its writes (and zswap's
 * writeback) in a batch and runs again once the batch is done. */
#include "swap_test.h"

#define SWEEP_MAX 400                   /* no operation here needs more */
#define SEG_PAGES (1ull << 28)

struct env {
    struct mm *mm;
    struct memcg *cg;
    struct segment *seg[4];
    unsigned nseg;
    int fd;
    uint64_t objs;                      /* slab objects before the memcg */
    uint64_t filled;                    /* setup_pool_full's pages */
};

static uint64_t slab_objects(const struct mm *mm)
{
    struct mm_slab_info si;
    uint64_t n = 0;

    for (unsigned i = 0; mm_slab_info(mm, i, &si) == 0; i++)
        n += si.active_objs;
    return n;
}

static void env_setup(struct env *e, bool swap)
{
    memset(e, 0, sizeof(*e));
    e->mm = test_mm(8 * MiB);
    e->fd = -1;
    if (swap) {
        e->fd = test_swapfile(4 * MiB);
        ck_assert_int_eq(mm_swapon(e->mm, e->fd, TEST_SWAP_NAME, 4 * MiB), 0);
    }
    e->objs = slab_objects(e->mm);
    e->cg = test_memcg(e->mm, "tenant");
}

static struct segment *env_segment(struct env *e)
{
    struct segment *seg = test_segment(e->mm, e->cg, SEG_PAGES);

    e->seg[e->nseg++] = seg;
    return seg;
}

/* Everything destroyed: no data or table page, no segment, every page
 * free or slab, and the slab objects as before the memcg. */
static void env_teardown(struct env *e)
{
    struct mm_stat st;

    for (unsigned i = 0; i < e->nseg; i++)
        segment_destroy(e->seg[i]);
    ck_assert_uint_eq(e->cg->usage + e->cg->swap + e->cg->reserved, 0);
    memcg_destroy(e->cg);
    ck_assert_mm_ok(e->mm);
    mm_get_stat(e->mm, &st);
    ck_assert_uint_eq(st.data_pages + st.table_pages + st.segments, 0);
    ck_assert_uint_eq(st.free_pages + st.slab_pages + st.kvmalloc_pages,
                      st.total_pages);
    ck_assert_uint_eq(slab_objects(e->mm), e->objs);
    for (unsigned t = 0; t < mm_nr_swapfiles(e->mm); t++) {
        struct mm_swap_info si;

        ck_assert_int_eq(mm_swap_info(e->mm, t, &si), 0);
        ck_assert_uint_eq(si.used_pages, 0);
    }
    mm_destroy(e->mm);
    if (e->fd >= 0)
        close(e->fd);
}

static void swap_out_all(struct env *e)
{
    for (int i = 0; i < 16 && e->cg->usage; i++)
        vmscan_try_to_free_pages(e->mm, e->cg, e->cg->usage, false);
    ck_assert_uint_eq(e->cg->usage, 0);
}

static void read_expect(struct segment *seg, uint64_t index, uint64_t seed)
{
    char buf[MM_PAGE_SIZE];

    if (seed) {
        test_read_stamped(seg, index, seed);
        return;
    }
    ck_assert_int_eq(segment_read(seg, index, 1, buf), 0);
    ck_assert(test_is_zero(buf, sizeof(buf)));
}

/* The last index of a level-0 table: the next one needs a new table. */
#define TABLE_END ((1ull << 18) + 511)

/* Written over several tables of the origin, seed 1. */
static const uint64_t origin_pages[] = { 0, 1, 511, 512, TABLE_END,
                                         (1ull << 27) + 3 };
#define NR_ORIGIN (sizeof(origin_pages) / sizeof(origin_pages[0]))

static void setup_origin(struct env *e)
{
    struct segment *seg = env_segment(e);

    for (unsigned i = 0; i < NR_ORIGIN; i++)
        test_write_stamped(seg, origin_pages[i], 1);
}

static void check_origin(struct segment *seg)
{
    for (unsigned i = 0; i < NR_ORIGIN; i++)
        read_expect(seg, origin_pages[i], 1);
}

/* ---- the operations ------------------------------------------------ */

static void setup_nothing(struct env *e)
{
    (void)e;
}

static int op_create(struct env *e)
{
    struct segment *seg = NULL;
    int err = segment_create(e->mm, e->cg, SEG_PAGES, &seg);

    if (!err)
        e->seg[e->nseg++] = seg;
    return err;
}

static void verify_create(struct env *e, int err)
{
    ck_assert_uint_eq(memcg_nr_segments(e->cg), err ? 0 : 1);
}

/* An origin with pages in several tables, two of them in swap. */
static void setup_clone(struct env *e)
{
    setup_origin(e);
    vmscan_try_to_free_pages(e->mm, e->cg, 2, false);
    vmscan_try_to_free_pages(e->mm, e->cg, 2, false);
}

static int op_clone(struct env *e)
{
    struct segment *src = e->seg[e->nseg - 1], *c = NULL;
    int err = segment_clone(src, &c);

    if (!err)
        e->seg[e->nseg++] = c;
    else
        ck_assert_ptr_null(c);
    return err;
}

static void verify_clone(struct env *e, int err)
{
    struct segment *origin = e->seg[0];

    ck_assert_uint_eq(memcg_nr_segments(e->cg), e->nseg);
    if (err && e->nseg == 1) {
        /* Nothing of the attempt is left: no family, no share. */
        ck_assert_ptr_null(origin->family);
        ck_assert_uint_eq(segment_shared_pages(origin), 0);
    }
    for (unsigned i = 0; i < e->nseg; i++)
        check_origin(e->seg[i]);
}

static void setup_clone_of_clone(struct env *e)
{
    struct segment *c;

    setup_clone(e);
    ck_assert_int_eq(segment_clone(e->seg[0], &c), 0);
    e->seg[e->nseg++] = c;
}

/* A first write far from anything: four table pages and a data page. */
static const uint64_t far_index = (1ull << 27) + (1ull << 20) + 7;

static int op_write_far(struct env *e)
{
    char buf[MM_PAGE_SIZE];

    test_stamp(buf, far_index, 2);
    return segment_write(e->seg[e->nseg - 1], far_index, 1, buf);
}

static void setup_one_segment(struct env *e)
{
    env_segment(e);
}

static void verify_write_far(struct env *e, int err)
{
    read_expect(e->seg[0], far_index, err ? 0 : 2);
}

static void setup_family(struct env *e)
{
    struct segment *c;

    setup_origin(e);
    ck_assert_int_eq(segment_clone(e->seg[0], &c), 0);
    e->seg[e->nseg++] = c;
}

/* The clone writes its copy of page 511. */
static int op_write_cow(struct env *e)
{
    char buf[MM_PAGE_SIZE];

    test_stamp(buf, 511, 3);
    return segment_write(e->seg[1], 511, 1, buf);
}

static void verify_write_cow(struct env *e, int err)
{
    check_origin(e->seg[0]);
    read_expect(e->seg[1], 511, err ? 1 : 3);
    ck_assert_int_eq(!!(test_pte(e->seg[0], 511) & PTE_COW), !!err);
}

/* Two pages of the clone: a CoW break at TABLE_END, then a new page in
 * a table the clone does not have yet.  A page written before a failure
 * stays written (each page is all-or-nothing). */
static int op_write_cow_and_table(struct env *e)
{
    char buf[2 * MM_PAGE_SIZE];

    test_stamp(buf, TABLE_END, 4);
    test_stamp(buf + MM_PAGE_SIZE, TABLE_END + 1, 4);
    return segment_write(e->seg[1], TABLE_END, 2, buf);
}

static bool page_is(struct segment *seg, uint64_t index, uint64_t seed)
{
    char buf[MM_PAGE_SIZE];

    ck_assert_int_eq(segment_read(seg, index, 1, buf), 0);
    return seed ? test_stamp_ok(buf, index, seed) : test_is_zero(buf, sizeof(buf));
}

static void verify_write_cow_and_table(struct env *e, int err)
{
    struct segment *c = e->seg[1];

    check_origin(e->seg[0]);
    if (!err) {
        read_expect(c, TABLE_END, 4);
        read_expect(c, TABLE_END + 1, 4);
        return;
    }
    ck_assert(page_is(c, TABLE_END, 1) || page_is(c, TABLE_END, 4));
    ck_assert(page_is(c, TABLE_END + 1, 0));
}

/* A 16-page run swapped out: reading it back faults, then reads ahead. */
static void setup_swapped_run(struct env *e)
{
    struct segment *seg = env_segment(e);

    for (uint64_t i = 0; i < 16; i++)
        test_write_stamped(seg, i, 5);
    swap_out_all(e);
}

static int op_read_run(struct env *e)
{
    char *buf = malloc(16 * MM_PAGE_SIZE);
    int err;

    ck_assert_ptr_nonnull(buf);
    err = segment_read(e->seg[e->nseg - 1], 0, 16, buf);
    for (uint64_t i = 0; !err && i < 16; i++)
        ck_assert(test_stamp_ok(buf + i * MM_PAGE_SIZE, i, 5));
    free(buf);
    return err;
}

static void verify_read_run(struct env *e, int err)
{
    (void)err;
    for (unsigned s = 0; s < e->nseg; s++)
        for (uint64_t i = 0; i < 16; i++)
            read_expect(e->seg[s], i, 5);
}

/* The run read the asynchronous way: requests prepared (allocating),
 * run and done, round after round, as rmemd's workers do. */
static int op_read_nowait(struct env *e)
{
    struct segment *seg = e->seg[e->nseg - 1];
    char *buf = malloc(16 * MM_PAGE_SIZE);
    struct mm_swapin_req req;
    int err, rounds = 0;

    ck_assert_ptr_nonnull(buf);
    while ((err = segment_read_nowait(seg, 0, 16, buf, &req)) == -EINPROGRESS) {
        ck_assert_mm_ok(e->mm);
        mm_swapin_run(&req);
        err = mm_swapin_done(e->mm, &req);
        ck_assert_mm_ok(e->mm);
        if (err)
            break;
        ck_assert_int_lt(++rounds, 16);
    }
    for (uint64_t i = 0; !err && i < 16; i++)
        ck_assert(test_stamp_ok(buf + i * MM_PAGE_SIZE, i, 5));
    free(buf);
    return err;
}

/* 32 pages swapped out: a read of the first 16 is a stream, and its
 * request reads the slots after them ahead (readahead pages, whose
 * allocation may fail without failing the read). */
static void setup_swapped_stream(struct env *e)
{
    struct segment *seg = env_segment(e);

    for (uint64_t i = 0; i < 32; i++)
        test_write_stamped(seg, i, 5);
    swap_out_all(e);
}

/* The run swapped out, read back (its pages keep their slots in the swap
 * cache) and reclaimed again, without a write: the PTEs name the very
 * slots the cache kept. */
static void setup_recached_run(struct env *e)
{
    setup_swapped_run(e);
    for (uint64_t i = 0; i < 16; i++)
        read_expect(e->seg[0], i, 5);
    ck_assert_uint_eq(e->mm->nr_swapcache, 16);
    swap_out_all(e);
    ck_assert_uint_eq(e->mm->nr_swapcache, 0);
}

/* An origin whose pages are all in the swap cache. */
static void setup_cached_origin(struct env *e)
{
    setup_origin(e);
    swap_out_all(e);
    check_origin(e->seg[0]);
    ck_assert_uint_eq(e->mm->nr_swapcache, NR_ORIGIN);
}

/* A pool with less free than min, and cold pages to swap: a new page's
 * allocation that fails is retried after direct reclaim. */
static void setup_pool_full(struct env *e)
{
    struct segment *seg = env_segment(e);
    uint64_t i = 0;

    for (const struct zone *z = &e->mm->zones[0];
         z->free_pages > z->watermark[WMARK_MIN] + 64; i++)
        test_write_stamped(seg, i, 6);
    e->filled = i;
}

static void verify_pool_full(struct env *e, int err)
{
    read_expect(e->seg[0], far_index, err ? 0 : 2);
    for (uint64_t i = 0; i < e->filled; i++)
        read_expect(e->seg[0], i, 6);
}

/* The far page written as rmemd writes it: direct reclaim queues its
 * writes (MM_RECLAIM_ASYNC), and a write told to wait (-EAGAIN) runs
 * again once the batch is written and done, as a parked request does,
 * until its last round, which may write nothing (MM_RECLAIM_NOIO). */
#define ASYNC_ROUNDS 8

static int op_write_far_async(struct env *e)
{
    struct mm_swap_batch b;
    int err = -EAGAIN;

    for (int round = 0; round <= ASYNC_ROUNDS && err == -EAGAIN; round++) {
        b.nr = 0;
        mm_set_direct_reclaim(e->mm, round < ASYNC_ROUNDS ? MM_RECLAIM_ASYNC :
                                     MM_RECLAIM_NOIO, &b);
        err = op_write_far(e);
        mm_set_direct_reclaim(e->mm, MM_RECLAIM_SYNC, NULL);
        ck_assert_mm_ok(e->mm);
        mm_swap_io_run(&b);
        mm_swap_batch_done(e->mm, &b);
    }
    return err;
}

/* The full pool's pages shared with a clone, which writes the far page:
 * reclaim queues shared pages, mapped in both, for their writes. */
static void setup_pool_full_shared(struct env *e)
{
    struct segment *c;

    setup_pool_full(e);
    ck_assert_int_eq(segment_clone(e->seg[0], &c), 0);
    e->seg[e->nseg++] = c;
}

/* A sample of the shared pages: reading all of them in both segments
 * would take a private copy of each for one of them, more than pool and
 * swap file hold. */
static void verify_pool_full_shared(struct env *e, int err)
{
    read_expect(e->seg[1], far_index, err ? 0 : 2);
    read_expect(e->seg[0], far_index, 0);
    for (uint64_t i = 0; i < e->filled; i += 16) {
        read_expect(e->seg[0], i, 6);
        read_expect(e->seg[1], i, 6);
    }
}

/* Quarter-stamped pages zswap keeps (seed 8), NR_ZSWAPPED of them, the
 * tenant at its limit with them, and zswap's pool (1 %) full: a new page
 * must reclaim, its store is refused, and zswap queues writeback. */
#define NR_ZSWAPPED 160u

static void quarter_stamp(uint64_t *buf, uint64_t index)
{
    test_stamp(buf, index, 8);
    memset(buf + MM_PAGE_SIZE / 32, 0, MM_PAGE_SIZE - MM_PAGE_SIZE / 4);
}

static void setup_zswap_full(struct env *e)
{
    struct segment *seg = env_segment(e);
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];
    struct mm_zswap_info zi;
    uint64_t objs = slab_objects(e->mm);

    /* zswap's entry cache, once made, stays with the pool. */
    ck_assert_int_eq(mm_zswap_set(e->mm, true, 1), 0);
    e->objs += slab_objects(e->mm) - objs;
    for (uint64_t i = 0; i < NR_ZSWAPPED; i++) {
        quarter_stamp(buf, i);
        ck_assert_int_eq(segment_write(seg, i, 1, buf), 0);
    }
    vmscan_try_to_free_pages(e->mm, e->cg, NR_ZSWAPPED - 16, false);
    memcg_set_limit(e->cg, e->cg->usage * MM_PAGE_SIZE);
    mm_zswap_info(e->mm, &zi);
    ck_assert_uint_gt(zi.stat[MM_ZSWAP_written_back_pages], 0);
}

static void verify_zswap_full(struct env *e, int err)
{
    uint64_t want[MM_PAGE_SIZE / sizeof(uint64_t)];
    uint64_t got[MM_PAGE_SIZE / sizeof(uint64_t)];

    read_expect(e->seg[0], far_index, err ? 0 : 2);
    for (uint64_t i = 0; i < NR_ZSWAPPED; i++) {
        quarter_stamp(want, i);
        ck_assert_int_eq(segment_read(e->seg[0], i, 1, got), 0);
        ck_assert_msg(memcmp(want, got, MM_PAGE_SIZE) == 0, "page %llu lost",
                      (unsigned long long)i);
    }
}

/* The same run, then cloned: every slot has two users. */
static void setup_swapped_shared(struct env *e)
{
    struct segment *c;

    setup_swapped_run(e);
    ck_assert_int_eq(segment_clone(e->seg[0], &c), 0);
    e->seg[e->nseg++] = c;
}

static const struct sweep_case {
    const char *name;
    bool swap;
    bool recovers;                      /* one failure alone can be got past */
    void (*setup)(struct env *e);
    int (*op)(struct env *e);
    void (*verify)(struct env *e, int err);
} cases[] = {
    { "segment_create", false, false, setup_nothing, op_create, verify_create },
    { "segment_clone", true, false, setup_clone, op_clone, verify_clone },
    { "segment_clone of a clone", true, false, setup_clone_of_clone, op_clone,
      verify_clone },
    { "segment_write, new page and tables", false, false, setup_one_segment,
      op_write_far, verify_write_far },
    { "segment_write, CoW break", false, false, setup_family, op_write_cow,
      verify_write_cow },
    { "segment_write, CoW break and a new table", false, false, setup_family,
      op_write_cow_and_table, verify_write_cow_and_table },
    { "segment_write, pool reclaimed for the page", true, true, setup_pool_full,
      op_write_far, verify_pool_full },
    { "segment_write, pool reclaimed off the caller's thread", true, true,
      setup_pool_full, op_write_far_async, verify_pool_full },
    { "segment_write, shared pages reclaimed off the caller's thread", true,
      true, setup_pool_full_shared, op_write_far_async, verify_pool_full_shared },
    { "segment_write, zswap full, writeback off the caller's thread", true, true,
      setup_zswap_full, op_write_far_async, verify_zswap_full },
    { "swap-in", true, true, setup_swapped_run, op_read_run, verify_read_run },
    { "swap-in of shared slots", true, true, setup_swapped_shared, op_read_run,
      verify_read_run },
    { "swap-in of slots the swap cache kept", true, true, setup_recached_run,
      op_read_run, verify_read_run },
    { "segment_clone of pages in the swap cache", true, false,
      setup_cached_origin, op_clone, verify_clone },
    { "asynchronous swap-in", true, false, setup_swapped_run, op_read_nowait,
      verify_read_run },
    { "asynchronous swap-in with readahead", true, true, setup_swapped_stream,
      op_read_nowait, verify_read_run },
    { "asynchronous swap-in of shared slots", true, false, setup_swapped_shared,
      op_read_nowait, verify_read_run },
};

#define NR_CASES (sizeof(cases) / sizeof(cases[0]))

/* Loop index: case _i / 2, sticky failures for even _i, one-shot for odd. */
START_TEST(test_fail_alloc_sweep)
{
    const struct sweep_case *c = &cases[_i / 2];
    bool once = _i % 2;
    unsigned failed = 0, recovered = 0;
    long n;

    for (n = 1; n <= SWEEP_MAX; n++) {
        struct env e;
        uint64_t injected;
        bool hit;
        int err;

        env_setup(&e, c->swap);
        c->setup(&e);
        ck_assert_mm_ok(e.mm);
        injected = mm_fail_alloc_injected(e.mm);
        test_log_quiet();
        if (once)
            mm_fail_alloc_nth(e.mm, n);
        else
            mm_fail_alloc_after(e.mm, n);
        err = c->op(&e);
        mm_fail_alloc_after(e.mm, -1);
        test_log_restore();
        hit = mm_fail_alloc_injected(e.mm) > injected;
        ck_assert_msg(err == 0 || err == -ENOMEM, "%s, allocation %ld "
                      "failing%s: %d", c->name, n, once ? " alone" : "", err);
        ck_assert_msg(hit || err == 0, "%s failed with no failure injected",
                      c->name);
        if (once)
            ck_assert_uint_eq(mm_fail_alloc_injected(e.mm), injected + hit);
        ck_assert_mm_ok(e.mm);
        failed += err != 0;
        recovered += hit && err == 0;
        c->verify(&e, err);
        ck_assert_mm_ok(e.mm);
        env_teardown(&e);
        if (!hit)
            break;
    }
    ck_assert_msg(n <= SWEEP_MAX, "%s never ran without a failure", c->name);
    /* The operation allocated: n = 1 hit something. */
    ck_assert_int_gt(n, 1);
    /* Failing every allocation from the first one on fails it... */
    if (!once)
        ck_assert_uint_ge(failed, 1);
    /* ...and where there is a retry, one failure alone is got past. */
    if (once && c->recovers)
        ck_assert_uint_ge(recovered, 1);
}
END_TEST

/* The knob itself: the n-th allocation on fails (sticky), or the n-th
 * alone (one-shot); -1 turns it off. */
START_TEST(test_fail_alloc_counts)
{
    bool once = _i;
    struct mm *mm = test_mm(8 * MiB);
    pfn_t pfn[4];
    void *obj;

    if (once)
        mm_fail_alloc_nth(mm, 3);
    else
        mm_fail_alloc_after(mm, 3);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn[0]), 0);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn[1]), 0);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn[2]), -ENOMEM);
    obj = mm_kmalloc(mm, 64);
    ck_assert(once ? obj != NULL : obj == NULL);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn[3]),
                     once ? 0 : -ENOMEM);
    ck_assert_uint_eq(mm_fail_alloc_injected(mm), once ? 1 : 3);
    mm_fail_alloc_after(mm, -1);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn[2]), 0);
    if (!once)
        ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn[3]), 0);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_int_eq(mm_free_pages(mm, pfn[i], 0), 0);
        ck_assert_mm_ok(mm);
    }
    mm_kfree(mm, obj);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *fail_alloc_suite(void)
{
    Suite *s = suite_create("fail_alloc");
    TCase *tc = tcase_create("sweep");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_fail_alloc_counts, 0, 2);
    tcase_add_loop_test(tc, test_fail_alloc_sweep, 0, 2 * NR_CASES);
    suite_add_tcase(s, tc);
    return s;
}
