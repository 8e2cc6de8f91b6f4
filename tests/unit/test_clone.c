/* test_clone.c - copy-on-write clones (clone.c, rmap.c): a clone reads
 * what its origin holds without copying anything, a write on either side
 * copies that one page, a page left with one user is written in place
 * again (PTE_COW gone), clones of clones, destroying members in any order,
 * swapped pages shared and swapped in by each sharer, reclaim of shared
 * pages (written once, every sharer's PTE a swap entry), the charge rule
 * (a shared page or slot costs its memcg one page), reservations, and the
 * OOM killer taking one member and leaving the others whole.  mm_check()
 * runs after every operation. */
#include "swap_test.h"

#define NPAGES 2048u

static struct segment *clone_ok(struct segment *src)
{
    struct segment *c = NULL;

    ck_assert_int_eq(segment_clone(src, &c), 0);
    ck_assert_ptr_nonnull(c);
    ck_assert_mm_ok(src->mm);
    return c;
}

static struct page *page_at(const struct segment *seg, uint64_t index)
{
    pte_t pte = test_pte(seg, index);

    ck_assert(pte_present(pte));
    return pfn_to_page(seg->mm, pte_pfn(pte));
}

static void write_ok(struct segment *seg, uint64_t index, uint64_t seed)
{
    test_write_stamped(seg, index, seed);
    ck_assert_mm_ok(seg->mm);
}

static void read_ok(struct segment *seg, uint64_t index, uint64_t seed)
{
    test_read_stamped(seg, index, seed);
    ck_assert_mm_ok(seg->mm);
}

static void read_zero(struct segment *seg, uint64_t index)
{
    char buf[MM_PAGE_SIZE];

    ck_assert_int_eq(segment_read(seg, index, 1, buf), 0);
    ck_assert(test_is_zero(buf, sizeof(buf)));
}

/* Page-out of every resident page of cg (shared ones included). */
static void reclaim_all(struct mm *mm, struct memcg *cg)
{
    for (int i = 0; i < 16 && cg->usage; i++)
        vmscan_try_to_free_pages(mm, cg, cg->usage, false);
    ck_assert_uint_eq(cg->usage, 0);
    ck_assert_mm_ok(mm);
}

static const uint64_t written[] = { 0, 1, 2, 511, 512, 100000, NPAGES * 64 - 1 };
#define NR_WRITTEN (sizeof(written) / sizeof(written[0]))

/* The origin's pages written with seed 1. */
static struct swap_fixture family_setup(uint64_t swap)
{
    struct swap_fixture f = swap_setup(16 * MiB, swap, NPAGES * 64);

    for (unsigned i = 0; i < NR_WRITTEN; i++)
        write_ok(f.seg, written[i], 1);
    return f;
}

START_TEST(test_clone_reads_equal_copies_nothing)
{
    struct swap_fixture f = family_setup(0);
    uint64_t before = test_stat(f.mm).data_pages, usage = f.cg->usage;
    struct segment *c = clone_ok(f.seg);

    ck_assert_uint_eq(test_stat(f.mm).data_pages, before);
    ck_assert_uint_eq(f.cg->usage, usage);             /* charged once */
    ck_assert_uint_eq(segment_npages(c), segment_npages(f.seg));
    ck_assert_uint_eq(segment_resident_pages(c), NR_WRITTEN);
    ck_assert_uint_eq(segment_shared_pages(c), NR_WRITTEN);
    ck_assert_uint_eq(segment_shared_pages(f.seg), NR_WRITTEN);
    ck_assert_uint_eq(segment_reserved_pages(c), 0);
    ck_assert_uint_eq(memcg_nr_segments(f.cg), 2);
    for (unsigned i = 0; i < NR_WRITTEN; i++) {
        ck_assert_int_eq(page_at(c, written[i])->refcount, 2);
        ck_assert(test_pte(c, written[i]) & PTE_COW);
        ck_assert(test_pte(f.seg, written[i]) & PTE_COW);
        read_ok(c, written[i], 1);
        read_ok(f.seg, written[i], 1);
    }
    read_zero(c, 3);
    read_zero(c, 99999);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before);
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* A write to either side copies that page only; the other keeps the old
 * contents, and, alone with it now, writes it in place (no copy). */
START_TEST(test_cow_write_copies_one_page)
{
    static const struct { const char *name; bool to_clone; } cases[] = {
        { "write to the clone", true },
        { "write to the origin", false },
    };
    struct swap_fixture f = family_setup(0);
    struct segment *c = clone_ok(f.seg);
    struct segment *writer = cases[_i].to_clone ? c : f.seg;
    struct segment *other = cases[_i].to_clone ? f.seg : c;
    uint64_t before = test_stat(f.mm).data_pages, usage = f.cg->usage;
    struct page *old = page_at(other, 511);

    write_ok(writer, 511, 2);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before + 1);
    ck_assert_uint_eq(f.cg->usage, usage + 1);
    read_ok(writer, 511, 2);
    read_ok(other, 511, 1);
    ck_assert_ptr_ne(page_at(writer, 511), old);
    ck_assert_ptr_eq(page_at(other, 511), old);
    /* Refcount back to 1: the survivor's PTE loses PTE_COW. */
    ck_assert_int_eq(old->refcount, 1);
    ck_assert(!(test_pte(other, 511) & PTE_COW));
    ck_assert(!(test_pte(writer, 511) & PTE_COW));
    ck_assert_uint_eq(segment_shared_pages(writer), NR_WRITTEN - 1);
    ck_assert_uint_eq(segment_shared_pages(other), NR_WRITTEN - 1);
    /* ... so its next write reuses the page. */
    write_ok(other, 511, 3);
    ck_assert_ptr_eq(page_at(other, 511), old);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before + 1);
    read_ok(writer, 511, 2);
    /* A second write on the writer's copy copies nothing either. */
    write_ok(writer, 511, 4);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before + 1);
    /* Never-written pages are private at once. */
    write_ok(writer, 7, 5);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before + 2);
    read_zero(other, 7);
    /* Discarding a shared page drops one user only. */
    ck_assert_int_eq(segment_discard(writer, 0, 1), 0);
    ck_assert_mm_ok(f.mm);
    read_zero(writer, 0);
    read_ok(other, 0, 1);
    ck_assert(!(test_pte(other, 0) & PTE_COW));
    ck_assert_uint_eq(test_stat(f.mm).data_pages, before + 2);
    segment_destroy(c);
    if (!cases[_i].to_clone)
        ck_assert_ptr_eq(f.seg->family, NULL);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* origin -> a -> b: one family; destroyed in each order, the others keep
 * their pages, and in the end nothing is left. */
START_TEST(test_clone_of_clone_destroy_orders)
{
    static const unsigned orders[][3] = {
        { 0, 1, 2 }, { 2, 1, 0 }, { 1, 0, 2 }, { 1, 2, 0 },
    };
    struct swap_fixture f = family_setup(0);
    struct segment *seg[3];
    uint64_t seed[3] = { 1, 1, 1 };
    bool alive[3] = { true, true, true };

    seg[0] = f.seg;
    seg[1] = clone_ok(seg[0]);
    write_ok(seg[1], 2, 6);                     /* a's own copy of 2 */
    seg[2] = clone_ok(seg[1]);
    ck_assert_ptr_eq(seg[2]->family, seg[0]->family);
    ck_assert_uint_eq(seg[0]->family->nr_members, 3);
    ck_assert_int_eq(page_at(seg[0], 1)->refcount, 3);
    ck_assert_int_eq(page_at(seg[0], 2)->refcount, 1);
    ck_assert_int_eq(page_at(seg[1], 2)->refcount, 2);
    read_ok(seg[2], 2, 6);
    read_ok(seg[0], 2, 1);
    f.seg = NULL;
    for (unsigned k = 0; k < 3; k++) {
        unsigned victim = orders[_i][k];

        segment_destroy(seg[victim]);
        alive[victim] = false;
        ck_assert_mm_ok(f.mm);
        for (unsigned m = 0; m < 3; m++) {
            if (!alive[m])
                continue;
            for (unsigned i = 0; i < NR_WRITTEN; i++)
                read_ok(seg[m], written[i], written[i] == 2 && m ? 6 : seed[m]);
        }
    }
    swap_teardown(&f);
}
END_TEST

/* Swap entries are shared too: the clone takes a user of each slot; a
 * swap-in gives the faulting side a private page and leaves the slot to
 * the other, whose own it is then. */
START_TEST(test_clone_swapped_pages_read_back)
{
    struct swap_fixture f = family_setup(16 * MiB);
    struct segment *c;
    uint64_t slots;

    reclaim_all(f.mm, f.cg);
    slots = test_swap_used(f.mm);
    ck_assert_uint_eq(slots, NR_WRITTEN);
    c = clone_ok(f.seg);
    ck_assert_uint_eq(test_swap_used(f.mm), slots);
    ck_assert_uint_eq(f.cg->swap, NR_WRITTEN);            /* once */
    ck_assert_uint_eq(segment_swapped_pages(c), NR_WRITTEN);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(c, 1)), 2);
    ck_assert_uint_eq(test_pte(c, 1), test_pte(f.seg, 1));
    for (unsigned i = 0; i < NR_WRITTEN; i++)
        read_ok(c, written[i], 1);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, NR_WRITTEN);
    ck_assert_uint_eq(test_swap_used(f.mm), slots);             /* kept for f.seg */
    ck_assert_uint_eq(segment_shared_pages(f.seg), 0);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(f.seg, 1)), 1);
    for (unsigned i = 0; i < NR_WRITTEN; i++)
        read_ok(f.seg, written[i], 1);
    /* Its own slots now: they stay, as its pages' swap cache, uncharged. */
    ck_assert_uint_eq(test_swap_used(f.mm), NR_WRITTEN);
    ck_assert_uint_eq(f.mm->nr_swapcache, NR_WRITTEN);
    ck_assert_uint_eq(f.cg->swap, 0);
    ck_assert_uint_eq(f.cg->usage, 2 * NR_WRITTEN);
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* Writing over a shared swap entry takes a new page and reads nothing. */
START_TEST(test_write_over_shared_swap_entry)
{
    struct swap_fixture f = family_setup(16 * MiB);
    struct segment *c;
    uint64_t pswpin;

    reclaim_all(f.mm, f.cg);
    c = clone_ok(f.seg);
    pswpin = test_event(f.mm, MM_EV_pswpin);
    write_ok(c, 512, 9);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpin), pswpin);
    ck_assert_uint_eq(f.cg->usage, 1);
    ck_assert_uint_eq(f.cg->swap, NR_WRITTEN);
    read_ok(c, 512, 9);
    read_ok(f.seg, 512, 1);
    ck_assert_int_eq(segment_discard(f.seg, 0, segment_npages(f.seg)), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(f.cg->swap, NR_WRITTEN - 1);       /* c's now */
    for (unsigned i = 0; i < NR_WRITTEN; i++)
        read_ok(c, written[i], written[i] == 512 ? 9 : 1);
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* A family under a memory limit with swap on: pages shared three ways
 * and private ones are paged out and in again and again; a shared page
 * goes out once, and every member reads every page intact. */
START_TEST(test_family_reclaim_under_pressure)
{
    enum { N = 384 };
    struct swap_fixture f = swap_setup(16 * MiB, 16 * MiB, N);
    struct segment *a, *b;
    /* The origin's pages, a's copies of every third, b's of every fifth. */
    const uint64_t distinct = N + (N + 2) / 3 + (N + 4) / 5;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "1M"), 0);
    for (uint64_t i = 0; i < N; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert_mm_ok(f.mm);
    a = clone_ok(f.seg);
    b = clone_ok(a);
    /* One share in three broken in a, one in five in b: more than the
     * limit of new pages, so reclaim takes shared pages too. */
    for (uint64_t i = 0; i < N; i += 3)
        test_write_stamped(a, i, 2);
    for (uint64_t i = 0; i < N; i += 5)
        test_write_stamped(b, i, 3);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_le(f.cg->usage, 256);
    ck_assert_uint_gt(f.cg->swap, 0);
    ck_assert_uint_eq(f.cg->usage + f.cg->swap, distinct);
    reclaim_all(f.mm, f.cg);
    /* A slot per distinct page, a swap PTE per member and index. */
    ck_assert_uint_eq(test_swap_used(f.mm), distinct);
    ck_assert_uint_eq(f.cg->swap, distinct);
    ck_assert_uint_eq(segment_swapped_pages(f.seg) + segment_swapped_pages(a) +
                      segment_swapped_pages(b), 3 * N);
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < N; i++) {
            test_read_stamped(f.seg, i, 1);
            test_read_stamped(a, i, i % 3 == 0 ? 2 : 1);
            test_read_stamped(b, i, i % 5 == 0 ? 3 : 1);
        }
        ck_assert_mm_ok(f.mm);
    }
    segment_destroy(a);
    ck_assert_mm_ok(f.mm);
    for (uint64_t i = 0; i < N; i++)
        test_read_stamped(b, i, i % 5 == 0 ? 3 : 1);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* A shared page is paged out to one slot with a user per sharer; each
 * sharer's PTE is that swap entry, and the figures say one page. */
START_TEST(test_reclaim_shared_page_once)
{
    struct swap_fixture f = swap_setup(16 * MiB, 16 * MiB, 64);
    struct segment *a, *b;
    uint64_t out = test_event(f.mm, MM_EV_pswpout);
    pte_t e;

    write_ok(f.seg, 5, 1);
    a = clone_ok(f.seg);
    b = clone_ok(f.seg);
    reclaim_all(f.mm, f.cg);
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout) - out, 1);
    e = test_pte(f.seg, 5);
    ck_assert(pte_is_swap(e));
    ck_assert_uint_eq(test_pte(a, 5), e);
    ck_assert_uint_eq(test_pte(b, 5), e);
    ck_assert_uint_eq(swap_entry_count(f.mm, e), 3);
    ck_assert_uint_eq(test_swap_used(f.mm), 1);
    ck_assert_uint_eq(f.cg->swap, 1);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 1);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, 0);
    read_ok(a, 5, 1);
    ck_assert_uint_eq(swap_entry_count(f.mm, e), 2);
    segment_destroy(f.seg);
    f.seg = NULL;
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(swap_entry_count(f.mm, e), 1);
    read_ok(b, 5, 1);
    ck_assert_uint_eq(test_swap_used(f.mm), 1);          /* b's swap cache */
    ck_assert_uint_eq(f.mm->nr_swapcache, 1);
    ck_assert_uint_eq(f.cg->swap, 0);
    ck_assert_uint_eq(f.cg->usage, 2);
    segment_destroy(a);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* The charge rule in figures: usage counts distinct pages; a CoW write is
 * a new page; the last user of a page pays nothing more. */
START_TEST(test_memcg_usage_charge_once)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    struct segment *c;

    for (uint64_t i = 0; i < 10; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 10 * MM_PAGE_SIZE);
    c = clone_ok(f.seg);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 10 * MM_PAGE_SIZE);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 10);
    write_ok(c, 0, 2);
    write_ok(c, 1, 2);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 12 * MM_PAGE_SIZE);
    segment_destroy(f.seg);                    /* frees 0 and 1 only */
    f.seg = NULL;
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(memcg_usage_bytes(f.cg), 10 * MM_PAGE_SIZE);
    ck_assert_uint_eq(segment_shared_pages(c), 0);
    ck_assert_ptr_eq(c->family, NULL);
    for (uint64_t i = 2; i < 10; i++) {
        ck_assert(!(test_pte(c, i) & PTE_COW));
        read_ok(c, i, 1);
    }
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* Reservations: the clone has none unless asked; a reserving origin
 * reserves one page for each page it comes to share, so breaking a share
 * draws on it and never fails at the memsw limit, and a share ending
 * gives it back; past the memsw limit the clone fails, origin intact. */
START_TEST(test_clone_reservations)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 16);
    struct segment *c, *d = NULL;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "256K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes", "256K"), 0);
    ck_assert_int_eq(segment_reserve(f.seg), 0);
    for (uint64_t i = 0; i < 4; i++)
        test_write_stamped(f.seg, i, 1);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 12);
    c = clone_ok(f.seg);
    ck_assert_uint_eq(segment_reserved_pages(c), 0);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 16);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 4 + 16);
    /* The origin's CoW break draws on its reservation. */
    write_ok(f.seg, 0, 2);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 15);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 5 + 15);
    /* c writing its copy of 1 leaves the origin alone with 1: that page
     * of reservation goes back. */
    write_ok(c, 1, 3);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 14);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 6 + 14);
    /* c reserves every index but the two it holds alone (0 and 1). */
    ck_assert_int_eq(segment_reserve(c), 0);
    ck_assert_uint_eq(segment_reserved_pages(c), 14);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 6 + 14 + 14);
    ck_assert_mm_ok(f.mm);
    /* Another clone of the origin needs 2 more (0 and 1 are its own):
     * refused at a memsw limit of 35 pages, the origin untouched. */
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "128K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.memsw.limit_in_bytes",
                                      "140K"), 0);
    ck_assert_int_eq(segment_clone(f.seg, &d), -ENOMEM);
    ck_assert_ptr_null(d);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(memcg_nr_segments(f.cg), 2);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 14);
    ck_assert_uint_eq(segment_shared_pages(f.seg), 2);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 34);
    read_ok(f.seg, 0, 2);
    read_ok(f.seg, 1, 1);
    read_ok(c, 1, 3);
    read_ok(c, 0, 1);
    segment_destroy(c);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(segment_reserved_pages(f.seg), 12);
    ck_assert_uint_eq(memcg_memsw_usage(f.cg), 4 + 12);
    swap_teardown(&f);
}
END_TEST

/* The OOM killer takes one member of a family; the others keep every
 * page, and the dead one refuses I/O until destroyed. */
START_TEST(test_oom_kill_family_member)
{
    static const struct { const char *name; bool kill_origin; } cases[] = {
        { "kill the clone", false },
        { "kill the origin", true },
    };
    struct swap_fixture f = family_setup(16 * MiB);
    struct segment *c = clone_ok(f.seg);
    struct segment *victim = cases[_i].kill_origin ? f.seg : c;
    struct segment *survivor = cases[_i].kill_origin ? c : f.seg;
    char buf[MM_PAGE_SIZE];

    write_ok(victim, 100000, 2);               /* a page of its own */
    vmscan_try_to_free_pages(f.mm, f.cg, 3, false);   /* some in swap */
    ck_assert_mm_ok(f.mm);
    test_log_quiet();
    oom_kill_segment(victim);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    ck_assert(segment_is_dead(victim));
    ck_assert_int_eq(segment_read(victim, 0, 1, buf), -EOWNERDEAD);
    ck_assert_int_eq(segment_clone(victim, &victim), -EOWNERDEAD);
    ck_assert_uint_eq(segment_shared_pages(survivor), 0);
    for (unsigned i = 0; i < NR_WRITTEN; i++) {
        read_ok(survivor, written[i], 1);
        ck_assert(!(test_pte(survivor, written[i]) & PTE_COW));
    }
    ck_assert_uint_eq(f.cg->usage, NR_WRITTEN);
    segment_destroy(victim);
    ck_assert_mm_ok(f.mm);
    segment_destroy(survivor);
    f.seg = NULL;
    swap_teardown(&f);
}
END_TEST

/* OOM in kill mode reached through a write: the memcg at its limit kills
 * the largest segment, a clone; the origin is intact. */
START_TEST(test_oom_write_kills_clone_not_origin)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    struct segment *c, *other;
    int err = 0;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "128K"), 0);
    ck_assert_int_eq(memcg_file_write(f.cg, "memory.oom_control", "0"), 0);
    for (uint64_t i = 0; i < 8; i++)
        test_write_stamped(f.seg, i, 1);
    c = clone_ok(f.seg);
    for (uint64_t i = 8; i < 30; i++)          /* c: 8 shared + 22 own */
        write_ok(c, i, 2);
    other = test_segment(f.mm, f.cg, 64);
    test_log_quiet();
    for (uint64_t i = 0; i < 8 && !err; i++)
        err = segment_write(other, i, 1, (char[MM_PAGE_SIZE]){ 0 });
    test_log_restore();
    ck_assert_int_eq(err, 0);
    ck_assert_mm_ok(f.mm);
    ck_assert(segment_is_dead(c));
    ck_assert(!segment_is_dead(f.seg));
    for (uint64_t i = 0; i < 8; i++)
        read_ok(f.seg, i, 1);
    segment_destroy(c);
    segment_destroy(other);
    swap_teardown(&f);
}
END_TEST

START_TEST(test_clone_bad_arguments)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 8);
    struct segment *c = NULL;

    ck_assert_int_eq(segment_clone(NULL, &c), -EINVAL);
    ck_assert_int_eq(segment_clone(f.seg, NULL), -EINVAL);
    c = clone_ok(f.seg);                       /* empty: shares nothing */
    ck_assert_uint_eq(segment_shared_pages(c), 0);
    ck_assert_ptr_nonnull(c->family);
    segment_destroy(f.seg);
    f.seg = c;
    ck_assert_ptr_null(c->family);
    ck_assert_mm_ok(f.mm);
    swap_teardown(&f);
}
END_TEST

/* Random writes, reads, discards, clones, destroys and reclaim over a
 * family under a 128 KiB limit with swap on, checked against a model of
 * what every member should read; mm_check() after every step. */
START_TEST(test_family_random_ops)
{
    enum { NP = 48, MAXM = 6, STEPS = 1500 };
    struct swap_fixture f = swap_setup(16 * MiB, 8 * MiB, NP);
    struct segment *m[MAXM] = { f.seg };
    uint64_t model[MAXM][NP] = { { 0 } };
    unsigned n = 1;
    uint64_t rng = 77, seed = 1;

    ck_assert_int_eq(memcg_file_write(f.cg, "memory.limit_in_bytes", "128K"), 0);
    for (unsigned step = 0; step < STEPS; step++) {
        unsigned who = (unsigned)(test_rand(&rng) % n);
        uint64_t idx = test_rand(&rng) % NP;

        switch (test_rand(&rng) % 10) {
        case 0: case 1: case 2: case 3:
            test_write_stamped(m[who], idx, ++seed);
            model[who][idx] = seed;
            break;
        case 4: case 5:
            if (model[who][idx])
                test_read_stamped(m[who], idx, model[who][idx]);
            else
                read_zero(m[who], idx);
            break;
        case 6:
            ck_assert_int_eq(segment_discard(m[who], idx, 1), 0);
            model[who][idx] = 0;
            break;
        case 7:
            if (n == MAXM)
                break;
            ck_assert_int_eq(segment_clone(m[who], &m[n]), 0);
            memcpy(model[n], model[who], sizeof(model[n]));
            n++;
            break;
        case 8:
            if (n == 1)
                break;
            segment_destroy(m[who]);
            m[who] = m[n - 1];
            memcpy(model[who], model[n - 1], sizeof(model[who]));
            n--;
            break;
        default:
            vmscan_try_to_free_pages(f.mm, f.cg, 8, false);
            break;
        }
        ck_assert_mm_ok(f.mm);
    }
    for (unsigned i = 0; i < n; i++)
        for (uint64_t idx = 0; idx < NP; idx++) {
            if (model[i][idx])
                test_read_stamped(m[i], idx, model[i][idx]);
            else
                read_zero(m[i], idx);
        }
    ck_assert_mm_ok(f.mm);
    for (unsigned i = 1; i < n; i++)
        segment_destroy(m[i]);
    f.seg = m[0];
    swap_teardown(&f);
}
END_TEST

/* rmap_check() catches what a broken share looks like; mm_destroy frees
 * a family still alive. */
START_TEST(test_check_detects_broken_share)
{
    struct swap_fixture f = swap_setup(8 * MiB, 0, 64);
    struct segment *c;
    struct page *page;
    pte_t *pte;

    write_ok(f.seg, 3, 1);
    c = clone_ok(f.seg);
    page = page_at(c, 3);
    pte = pgtable_lookup(&c->pt, 3);
    test_log_quiet();
    page->refcount++;                          /* a user that is not there */
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    page->refcount--;
    *pte &= ~PTE_COW;                          /* a sharer writing in place */
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    *pte |= PTE_COW;
    c->shared++;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    c->shared--;
    c->family->nr_members++;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    c->family->nr_members--;
    ck_assert_int_gt(test_log_count, 0);
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    mm_destroy(f.mm);
}
END_TEST

Suite *clone_suite(void)
{
    Suite *s = suite_create("clone");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_clone_reads_equal_copies_nothing);
    tcase_add_loop_test(tc, test_cow_write_copies_one_page, 0, 2);
    tcase_add_loop_test(tc, test_clone_of_clone_destroy_orders, 0, 4);
    tcase_add_test(tc, test_clone_swapped_pages_read_back);
    tcase_add_test(tc, test_write_over_shared_swap_entry);
    tcase_add_test(tc, test_family_reclaim_under_pressure);
    tcase_add_test(tc, test_reclaim_shared_page_once);
    tcase_add_test(tc, test_memcg_usage_charge_once);
    tcase_add_test(tc, test_clone_reservations);
    tcase_add_loop_test(tc, test_oom_kill_family_member, 0, 2);
    tcase_add_test(tc, test_oom_write_kills_clone_not_origin);
    tcase_add_test(tc, test_clone_bad_arguments);
    tcase_add_test(tc, test_check_detects_broken_share);
    tcase_add_test(tc, test_family_random_ops);
    suite_add_tcase(s, tc);
    return s;
}
