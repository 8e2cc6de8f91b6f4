/* test_ksm.c - kernel same-page merging (ksm.c): identical pages of one
 * memcg merged after two passes that see them unchanged, at any (segment,
 * index); never across memcgs; volatile pages left alone; a write copies
 * and the others keep the data; discard, destroy and OOM kill of mappers;
 * reclaim of KSM pages to swap and back; clones of segments mapping KSM
 * pages (also in swap); unmerge of a segment and of everything; the
 * max_page_sharing cap; reservations; failure injection during a scan,
 * a CoW break and an unmerge.  mm_check() (ksm_check() among its walkers)
 * runs after every operation. */
#include "swap_test.h"

#define NPAGES 512u

/* Every word of the page derives from pattern p alone: pages written
 * with one pattern are identical wherever they are. */
static void fill_pattern(void *page, uint64_t p)
{
    uint64_t *w = page;

    for (size_t i = 0; i < MM_PAGE_SIZE / sizeof(*w); i++)
        w[i] = (p + 1) * 0x9E3779B97F4A7C15ull ^ (i * 0x100000001B3ull);
}

static void write_pattern(struct segment *seg, uint64_t index, uint64_t p)
{
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];

    fill_pattern(buf, p);
    ck_assert_int_eq(segment_write(seg, index, 1, buf), 0);
    ck_assert_mm_ok(seg->mm);
}

static void read_pattern(struct segment *seg, uint64_t index, uint64_t p)
{
    uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)], want[MM_PAGE_SIZE / sizeof(uint64_t)];

    fill_pattern(want, p);
    ck_assert_int_eq(segment_read(seg, index, 1, buf), 0);
    ck_assert_msg(memcmp(buf, want, sizeof(buf)) == 0,
                  "segment %u page %llu lost pattern %llu", seg->id,
                  (unsigned long long)index, (unsigned long long)p);
}

static struct mm_ksm_info ksm_info(const struct mm *mm)
{
    struct mm_ksm_info ki;

    mm_ksm_info(mm, &ki);
    return ki;
}

/* Steps until one more full scan is done; mm_check after each. */
static void full_scan(struct mm *mm)
{
    uint64_t before = ksm_info(mm).full_scans;

    for (int i = 0; i < 10000 && ksm_info(mm).full_scans == before; i++) {
        mm_ksm_scan(mm, 7);
        ck_assert_mm_ok(mm);
    }
    ck_assert_uint_eq(ksm_info(mm).full_scans, before + 1);
}

static struct segment *mergeable(struct mm *mm, struct memcg *cg, uint64_t npages)
{
    struct segment *seg = test_segment(mm, cg, npages);

    ck_assert_int_eq(mm_ksm_madvise(seg, true), 0);
    ck_assert(segment_is_mergeable(seg));
    ck_assert_mm_ok(mm);
    return seg;
}

static struct page *page_at(const struct segment *seg, uint64_t index)
{
    pte_t pte = test_pte(seg, index);

    ck_assert(pte_present(pte));
    return pfn_to_page(seg->mm, pte_pfn(pte));
}

#define NR_PAT 16u

/* Patterns 0..NR_PAT-1 at indices i of a and i + 100 of b: pairs of
 * identical pages at different indices of two segments. */
static void write_pairs(struct segment *a, struct segment *b)
{
    for (unsigned i = 0; i < NR_PAT; i++) {
        write_pattern(a, i, i);
        write_pattern(b, i + 100, i);
    }
}

static void read_pairs(struct segment *a, struct segment *b)
{
    for (unsigned i = 0; i < NR_PAT; i++) {
        read_pattern(a, i, i);
        read_pattern(b, i + 100, i);
    }
}

/* _i: 0 plain segments, 1 reserving ones (a merge keeps a page of
 * reservation for the copy a later write needs). */
START_TEST(test_merge_after_two_passes)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct segment *b;
    uint64_t usage, data;
    struct mm_ksm_info ki;

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    b = mergeable(f.mm, f.cg, NPAGES);
    if (_i) {
        ck_assert_int_eq(segment_reserve(f.seg), 0);
        ck_assert_int_eq(segment_reserve(b), 0);
    }
    write_pairs(f.seg, b);
    usage = f.cg->usage;
    data = test_stat(f.mm).data_pages;
    ck_assert_uint_eq(usage, 2 * NR_PAT);

    full_scan(f.mm);                    /* checksums only */
    ki = ksm_info(f.mm);
    ck_assert_uint_eq(ki.pages_shared, 0);
    ck_assert_uint_eq(ki.pages_scanned, 2 * NR_PAT);
    ck_assert_uint_eq(f.cg->usage, usage);

    full_scan(f.mm);                    /* unchanged: merged */
    ki = ksm_info(f.mm);
    ck_assert_uint_eq(ki.pages_shared, NR_PAT);
    ck_assert_uint_eq(ki.pages_sharing, NR_PAT);
    ck_assert_uint_eq(ki.pages_volatile, 0);
    ck_assert_uint_eq(ki.full_scans, 2);
    ck_assert_int_gt(ki.general_profit, -(int64_t)(16 * MiB));
    ck_assert_uint_eq(f.cg->usage, usage - NR_PAT);     /* charged once */
    ck_assert_uint_eq(test_stat(f.mm).data_pages, data - NR_PAT);
    ck_assert_uint_eq(memcg_ksm_merging_pages(f.cg), 2 * NR_PAT);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "ksm_merging_pages"), 2 * NR_PAT);
    ck_assert_uint_eq(test_memcg_stat(f.cg, "rss"), (usage - NR_PAT) * MM_PAGE_SIZE);
    for (unsigned i = 0; i < NR_PAT; i++) {
        struct page *p = page_at(f.seg, i);

        ck_assert_ptr_eq(p, page_at(b, i + 100));
        ck_assert(page_test(p, PG_ksm));
        ck_assert_int_eq(p->refcount, 2);
        ck_assert(test_pte(f.seg, i) & PTE_COW);
    }
    ck_assert_uint_eq(segment_shared_pages(f.seg), NR_PAT);
    read_pairs(f.seg, b);

    full_scan(f.mm);                    /* nothing more to do */
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, NR_PAT);
    segment_destroy(b);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_uint_eq(f.cg->usage, NR_PAT);
    for (unsigned i = 0; i < NR_PAT; i++) {
        ck_assert(!page_test(page_at(f.seg, i), PG_ksm));
        ck_assert(!(test_pte(f.seg, i) & PTE_COW));
        read_pattern(f.seg, i, i);
    }
    swap_teardown(&f);
}
END_TEST

/* Identical pages within one segment merge too: one page, many mappers. */
START_TEST(test_merge_within_one_segment)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    for (unsigned i = 0; i < 10; i++)
        write_pattern(f.seg, i * 7, 42);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 1);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 9);
    ck_assert_uint_eq(f.cg->usage, 1);
    for (unsigned i = 0; i < 10; i++)
        read_pattern(f.seg, i * 7, 42);
    swap_teardown(&f);
}
END_TEST

/* The same contents in two memcgs: each merges its own, none shared. */
START_TEST(test_never_across_memcgs)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct memcg *other = test_memcg(f.mm, "other");
    struct segment *b = mergeable(f.mm, other, NPAGES);

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    write_pattern(f.seg, 0, 7);
    write_pattern(b, 0, 7);
    full_scan(f.mm);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_uint_eq(ksm_info(f.mm).pages_unshared, 2);
    ck_assert_ptr_ne(page_at(f.seg, 0), page_at(b, 0));
    /* a second copy in each: one KSM page per memcg, each charged to it */
    write_pattern(f.seg, 1, 7);
    write_pattern(b, 1, 7);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 2);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 2);
    ck_assert_ptr_eq(page_at(f.seg, 0), page_at(f.seg, 1));
    ck_assert_ptr_eq(page_at(b, 0), page_at(b, 1));
    ck_assert_ptr_ne(page_at(f.seg, 0), page_at(b, 0));
    ck_assert_uint_eq(page_at(f.seg, 0)->memcg_id, f.cg->id);
    ck_assert_uint_eq(page_at(b, 0)->memcg_id, other->id);
    ck_assert_uint_eq(f.cg->usage, 1);
    ck_assert_uint_eq(other->usage, 1);
    ck_assert_uint_eq(memcg_ksm_merging_pages(other), 2);
    segment_destroy(b);
    memcg_destroy(other);
    swap_teardown(&f);
}
END_TEST

/* A page that changes between passes is volatile and never merged;
 * once it holds still for a pass it is. */
START_TEST(test_volatile_not_merged)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct segment *b = mergeable(f.mm, f.cg, NPAGES);

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    for (unsigned pass = 0; pass < 4; pass++) {
        write_pattern(f.seg, 3, 100 + pass);
        write_pattern(b, 9, 100 + pass);
        full_scan(f.mm);
        ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
        ck_assert_uint_eq(ksm_info(f.mm).pages_volatile, pass ? 2 : 0);
    }
    full_scan(f.mm);                    /* held still for one pass */
    ck_assert_uint_eq(ksm_info(f.mm).pages_volatile, 0);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 1);
    ck_assert_ptr_eq(page_at(f.seg, 3), page_at(b, 9));
    read_pattern(f.seg, 3, 103);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

static void merge_pairs(struct swap_fixture *f, struct segment **b)
{
    ck_assert_int_eq(mm_ksm_madvise(f->seg, true), 0);
    *b = mergeable(f->mm, f->cg, NPAGES);
    write_pairs(f->seg, *b);
    full_scan(f->mm);
    full_scan(f->mm);
    ck_assert_uint_eq(ksm_info(f->mm).pages_shared, NR_PAT);
}

/* A write copies the KSM page for the writer only; the other mapper, now
 * alone, gets the page back as an ordinary one, written in place. */
START_TEST(test_write_breaks_cow)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    uint64_t usage, data;
    struct page *kpage;
    struct segment *b;

    merge_pairs(&f, &b);
    usage = f.cg->usage;
    kpage = page_at(b, 105);
    write_pattern(f.seg, 5, 999);
    ck_assert_uint_eq(f.cg->usage, usage + 1);
    read_pattern(f.seg, 5, 999);
    read_pattern(b, 105, 5);
    ck_assert_ptr_ne(page_at(f.seg, 5), kpage);
    ck_assert_ptr_eq(page_at(b, 105), kpage);
    ck_assert(!page_test(kpage, PG_ksm));
    ck_assert_int_eq(kpage->refcount, 1);
    ck_assert(!(test_pte(b, 105) & PTE_COW));
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, NR_PAT - 1);
    data = test_stat(f.mm).data_pages;
    write_pattern(b, 105, 1000);        /* its own now: in place */
    ck_assert_ptr_eq(page_at(b, 105), kpage);
    ck_assert_uint_eq(test_stat(f.mm).data_pages, data);
    read_pattern(b, 105, 1000);
    for (unsigned i = 0; i < NR_PAT; i++) {
        if (i == 5)
            continue;
        read_pattern(f.seg, i, i);
        read_pattern(b, i + 100, i);
    }
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* Three mappers of each KSM page; one discards, one is destroyed, one is
 * OOM-killed: each time the others keep the data, and the charge and
 * the page go with the last. */
START_TEST(test_discard_destroy_oom_kill_mappers)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct segment *b, *c;

    merge_pairs(&f, &b);
    c = mergeable(f.mm, f.cg, NPAGES);
    for (unsigned i = 0; i < NR_PAT; i++)
        write_pattern(c, 300 + i, i);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, NR_PAT);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 2 * NR_PAT);
    ck_assert_uint_eq(f.cg->usage, NR_PAT);
    ck_assert_int_eq(page_at(c, 300)->refcount, 3);

    ck_assert_int_eq(segment_discard(f.seg, 0, NR_PAT / 2), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 2 * NR_PAT - NR_PAT / 2);
    for (unsigned i = 0; i < NR_PAT; i++) {
        read_pattern(b, 100 + i, i);
        read_pattern(c, 300 + i, i);
    }
    segment_destroy(b);
    ck_assert_mm_ok(f.mm);
    /* the discarded half now has c alone: back to ordinary pages */
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, NR_PAT / 2);
    ck_assert_uint_eq(f.cg->usage, NR_PAT);
    for (unsigned i = 0; i < NR_PAT; i++)
        read_pattern(c, 300 + i, i);
    oom_kill_segment(c);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_uint_eq(f.cg->usage, NR_PAT / 2);
    for (unsigned i = NR_PAT / 2; i < NR_PAT; i++) {
        read_pattern(f.seg, i, i);
        ck_assert(!page_test(page_at(f.seg, i), PG_ksm));
    }
    segment_destroy(c);
    swap_teardown(&f);
}
END_TEST

/* Reclaim writes a KSM page once, to a slot with a user per mapper; each
 * mapper reads back the data (a private copy), and discarding, writing
 * over and destroying swapped mappers keeps the slot's count right. */
START_TEST(test_reclaim_ksm_pages_to_swap)
{
    struct swap_fixture f = swap_setup(16 * MiB, 16 * MiB, NPAGES);
    struct segment *b, *c;
    struct mm_swap_info si;
    uint64_t pswpout;

    mm_zswap_set(f.mm, false, 0);
    merge_pairs(&f, &b);
    c = mergeable(f.mm, f.cg, NPAGES);
    for (unsigned i = 0; i < NR_PAT; i++)
        write_pattern(c, 300 + i, i);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(f.cg->usage, NR_PAT);
    pswpout = test_event(f.mm, MM_EV_pswpout);
    for (int i = 0; i < 16 && f.cg->usage; i++)
        vmscan_try_to_free_pages(f.mm, f.cg, f.cg->usage, false);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(f.cg->usage, 0);
    ck_assert_uint_eq(f.cg->swap, NR_PAT);              /* once per KSM page */
    ck_assert_uint_eq(test_event(f.mm, MM_EV_pswpout) - pswpout, NR_PAT);
    ck_assert_uint_eq(ksm_info(f.mm).pages_swapped, NR_PAT);
    ck_assert_uint_eq(ksm_info(f.mm).reclaim_unmapped, 3 * NR_PAT);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_int_eq(mm_swap_info(f.mm, 0, &si), 0);
    ck_assert_uint_eq(si.used_pages, NR_PAT);
    ck_assert(pte_is_swap(test_pte(b, 100)));
    ck_assert_uint_eq(test_pte(b, 100), test_pte(c, 300));
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(b, 100)), 3);

    /* MADV_UNMERGEABLE swaps b's KSM entries in as private copies */
    ck_assert_int_eq(mm_ksm_madvise(b, false), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert(pte_present(test_pte(b, 100)));
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(c, 300)), 2);
    read_pattern(b, 100, 0);
    read_pattern(f.seg, 0, 0);          /* a private copy; c the slot's own */
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(c, 300)), 1);
    ck_assert_uint_eq(ksm_info(f.mm).pages_swapped, NR_PAT);
    ck_assert_int_eq(segment_discard(f.seg, 1, 1), 0);   /* drops a user */
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(c, 301)), 1);
    ck_assert_int_eq(segment_discard(b, 101, 1), 0);
    ck_assert_mm_ok(f.mm);
    write_pattern(c, 302, 77);          /* a new page over the slot */
    read_pattern(c, 302, 77);
    read_pattern(b, 102, 2);            /* b the last user: the slot's own */
    ck_assert_mm_ok(f.mm);
    segment_destroy(c);
    ck_assert_mm_ok(f.mm);
    for (unsigned i = 0; i < NR_PAT; i++) {
        if (i != 1) {
            read_pattern(f.seg, i, i);
            read_pattern(b, 100 + i, i);
        }
    }
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* A clone of a segment mapping KSM pages is one more mapper of each, in
 * memory and in swap; a write on any side copies for it alone. */
START_TEST(test_clone_of_ksm_pages)
{
    struct swap_fixture f = swap_setup(16 * MiB, 16 * MiB, NPAGES);
    struct segment *b, *c = NULL, *d = NULL;

    mm_zswap_set(f.mm, false, 0);
    merge_pairs(&f, &b);
    ck_assert_int_eq(segment_clone(f.seg, &c), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_ptr_eq(page_at(c, 0), page_at(b, 100));
    ck_assert_int_eq(page_at(c, 0)->refcount, 3);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 2 * NR_PAT);
    ck_assert_uint_eq(f.cg->usage, NR_PAT);
    write_pattern(c, 0, 500);
    read_pattern(c, 0, 500);
    read_pattern(f.seg, 0, 0);
    read_pattern(b, 100, 0);
    segment_destroy(f.seg);
    f.seg = NULL;
    ck_assert_mm_ok(f.mm);
    for (unsigned i = 1; i < NR_PAT; i++)
        read_pattern(c, i, i);
    /* in swap: the clone of a swapped KSM mapper joins the slot */
    for (int i = 0; i < 16 && f.cg->usage; i++)
        vmscan_try_to_free_pages(f.mm, f.cg, f.cg->usage, false);
    ck_assert_mm_ok(f.mm);
    ck_assert(pte_is_swap(test_pte(c, 1)));
    ck_assert_int_eq(segment_clone(c, &d), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(swap_entry_count(f.mm, test_pte(d, 1)), 3);
    for (unsigned i = 1; i < NR_PAT; i++) {
        read_pattern(d, i, i);
        read_pattern(c, i, i);
        read_pattern(b, 100 + i, i);
    }
    segment_destroy(c);
    segment_destroy(d);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* MADV_UNMERGEABLE gives the segment private copies (charged); the run=2
 * unmerge does it for everyone. */
START_TEST(test_unmerge)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct segment *b;
    uint64_t usage;

    merge_pairs(&f, &b);
    usage = f.cg->usage;
    ck_assert_int_eq(mm_ksm_madvise(f.seg, false), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert(!segment_is_mergeable(f.seg));
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_uint_eq(f.cg->usage, usage + NR_PAT);
    read_pairs(f.seg, b);
    full_scan(f.mm);
    full_scan(f.mm);                    /* f.seg opted out: nothing merges */
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert_uint_eq(ksm_info(f.mm).mergeable_segments, 1);

    /* within b alone, then run = 2 */
    for (unsigned i = 0; i < 4; i++)
        write_pattern(b, 400 + i, 3);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 1);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, 4);
    ck_assert_int_eq(mm_ksm_unmerge_all(f.mm), 0);
    ck_assert_mm_ok(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 0);
    ck_assert(segment_is_mergeable(b));
    for (unsigned i = 0; i < 4; i++)
        read_pattern(b, 400 + i, 3);
    read_pairs(f.seg, b);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

/* More identical pages than one KSM page takes: a second one. */
START_TEST(test_max_page_sharing)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, 1024);
    unsigned n = KSM_MAX_PAGE_SHARING + 44;

    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    for (unsigned i = 0; i < n; i++)
        write_pattern(f.seg, i, 1);
    full_scan(f.mm);
    full_scan(f.mm);
    ck_assert_uint_eq(ksm_info(f.mm).pages_shared, 2);
    ck_assert_uint_eq(ksm_info(f.mm).pages_sharing, n - 2);
    ck_assert_uint_eq(f.cg->usage, 2);
    ck_assert_int_eq(page_at(f.seg, 0)->refcount, KSM_MAX_PAGE_SHARING);
    ck_assert_uint_eq(ksm_info(f.mm).max_page_sharing, KSM_MAX_PAGE_SHARING);
    for (unsigned i = 0; i < n; i += 13)
        read_pattern(f.seg, i, 1);
    swap_teardown(&f);
}
END_TEST

/* Failure injection: the n-th allocation of the merging pass fails, for
 * n = 1, 2, ... until the pass needs fewer: nothing breaks, nothing
 * leaks (swap_teardown checks every page came back), and a later pass
 * merges everything. */
START_TEST(test_fail_alloc_during_scan)
{
    bool clean_pass = false;

    for (long n = 1; n < 64 && !clean_pass; n++) {
        struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
        struct segment *b;

        ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
        b = mergeable(f.mm, f.cg, NPAGES);
        write_pairs(f.seg, b);
        full_scan(f.mm);
        mm_fail_alloc_after(f.mm, n);
        for (int i = 0; i < 64; i++) {
            mm_ksm_scan(f.mm, 5);
            ck_assert_mm_ok(f.mm);
        }
        clean_pass = mm_fail_alloc_injected(f.mm) == 0;
        mm_fail_alloc_after(f.mm, -1);
        read_pairs(f.seg, b);
        full_scan(f.mm);
        full_scan(f.mm);
        ck_assert_uint_eq(ksm_info(f.mm).pages_shared, NR_PAT);
        read_pairs(f.seg, b);
        segment_destroy(b);
        swap_teardown(&f);
    }
    ck_assert(clean_pass);
}
END_TEST

/* ... and during a CoW break of a KSM page and an unmerge: -ENOMEM, the
 * page still shared and intact, nothing leaked. */
START_TEST(test_fail_alloc_during_cow_break)
{
    bool done = false;

    for (long n = 1; n < 32 && !done; n++) {
        struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
        uint64_t buf[MM_PAGE_SIZE / sizeof(uint64_t)];
        struct segment *b;
        int err;

        merge_pairs(&f, &b);
        fill_pattern(buf, 4242);
        mm_fail_alloc_after(f.mm, n);
        err = segment_write(f.seg, 3, 1, buf);
        mm_fail_alloc_after(f.mm, -1);
        ck_assert_mm_ok(f.mm);
        if (err) {
            ck_assert_msg(err == -ENOMEM, "n %ld: err %d", n, err);
            read_pattern(f.seg, 3, 3);
            ck_assert(page_test(page_at(f.seg, 3), PG_ksm));
        } else {
            read_pattern(f.seg, 3, 4242);
        }
        read_pattern(b, 103, 3);
        mm_fail_alloc_after(f.mm, n);
        err = mm_ksm_madvise(b, false);
        mm_fail_alloc_after(f.mm, -1);
        ck_assert_mm_ok(f.mm);
        ck_assert(err == 0 || err == -ENOMEM);
        ck_assert(segment_is_mergeable(b) == (err != 0));
        done = err == 0 && mm_fail_alloc_injected(f.mm) == 0;
        for (unsigned i = 0; i < NR_PAT; i++) {
            read_pattern(b, i + 100, i);
            if (i != 3)
                read_pattern(f.seg, i, i);
        }
        segment_destroy(b);
        swap_teardown(&f);
    }
    ck_assert(done);
}
END_TEST

/* The first MADV_MERGEABLE allocates KSM's tables: failing, it says so
 * and changes nothing. */
START_TEST(test_fail_alloc_madvise)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);

    mm_fail_alloc_after(f.mm, 1);
    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), -ENOMEM);
    mm_fail_alloc_after(f.mm, -1);
    ck_assert(!segment_is_mergeable(f.seg));
    ck_assert_mm_ok(f.mm);
    ck_assert_int_eq(mm_ksm_madvise(f.seg, true), 0);
    ck_assert_int_eq(mm_ksm_madvise(NULL, true), -EINVAL);
    ck_assert_uint_eq(mm_ksm_scan(NULL, 10), 0);
    swap_teardown(&f);
}
END_TEST

/* ksm_check catches a stable node that lost track of a mapper. */
START_TEST(test_check_detects_broken_node)
{
    struct swap_fixture f = swap_setup(16 * MiB, 0, NPAGES);
    struct segment *b;
    struct page *p;

    merge_pairs(&f, &b);
    p = page_at(f.seg, 0);
    test_log_quiet();
    page_clear(p, PG_ksm);
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    page_set(p, PG_ksm);
    p->refcount++;
    ck_assert_int_eq(mm_check(f.mm), -EUCLEAN);
    p->refcount--;
    test_log_restore();
    ck_assert_mm_ok(f.mm);
    segment_destroy(b);
    swap_teardown(&f);
}
END_TEST

Suite *ksm_suite(void)
{
    Suite *s = suite_create("ksm");
    TCase *tc = tcase_create("ksm");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_merge_after_two_passes, 0, 2);
    tcase_add_test(tc, test_merge_within_one_segment);
    tcase_add_test(tc, test_never_across_memcgs);
    tcase_add_test(tc, test_volatile_not_merged);
    tcase_add_test(tc, test_write_breaks_cow);
    tcase_add_test(tc, test_discard_destroy_oom_kill_mappers);
    tcase_add_test(tc, test_reclaim_ksm_pages_to_swap);
    tcase_add_test(tc, test_clone_of_ksm_pages);
    tcase_add_test(tc, test_unmerge);
    tcase_add_test(tc, test_max_page_sharing);
    tcase_add_test(tc, test_fail_alloc_during_scan);
    tcase_add_test(tc, test_fail_alloc_during_cow_break);
    tcase_add_test(tc, test_fail_alloc_madvise);
    tcase_add_test(tc, test_check_detects_broken_node);
    suite_add_tcase(s, tc);
    return s;
}
