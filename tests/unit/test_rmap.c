/* test_rmap.c - rmap.c called directly: families joined and left
 * (capped at FAMILY_MAX_MEMBERS), rmap_same_family, rmap_walk over the
 * PTEs naming a shared page or swap slot, page_rmap_segment, dropping one
 * user of a shared page or slot (the reverse map moving on, the last user
 * getting its page back without PTE_COW and a reserving one its
 * reservation), refusals of drops no other member could take, and
 * rmap_check() catching each kind of broken reverse map.  mm_check()
 * after every step. */
#include "swap_test.h"

enum { NPAGES = 64 };

struct fixture {
    struct swap_fixture f;
    struct segment *c1, *c2;            /* clones of f.seg, and of c1 */
};

static struct segment *clone_ok(struct segment *src)
{
    struct segment *c = NULL;

    ck_assert_int_eq(segment_clone(src, &c), 0);
    ck_assert_mm_ok(src->mm);
    return c;
}

/* An origin with pages 0..7, cloned, and the clone cloned: every page is
 * mapped three times. */
static struct fixture family_setup(bool reserve)
{
    struct fixture x;

    x.f = swap_setup(8 * MiB, 8 * MiB, NPAGES);
    if (reserve)
        ck_assert_int_eq(segment_reserve(x.f.seg), 0);
    for (uint64_t i = 0; i < 8; i++)
        test_write_stamped(x.f.seg, i, 1);
    x.c1 = clone_ok(x.f.seg);
    x.c2 = clone_ok(x.c1);
    return x;
}

static void family_teardown(struct fixture *x)
{
    segment_destroy(x->c2);
    ck_assert_mm_ok(x->f.mm);
    segment_destroy(x->c1);
    ck_assert_mm_ok(x->f.mm);
    swap_teardown(&x->f);
}

struct collect {
    struct segment *segs[4];
    unsigned n;
};

static void collect_one(struct segment *seg, pte_t *pte, void *arg)
{
    struct collect *c = arg;

    ck_assert(pte_present(*pte) || pte_is_swap(*pte));
    ck_assert_uint_lt(c->n, 4);
    c->segs[c->n++] = seg;
}

static bool collected(const struct collect *c, const struct segment *seg)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->segs[i] == seg)
            return true;
    return false;
}

/* What segment_zap_pte does for a shared entry, with rmap.c's part called
 * directly: one user less, then the PTE goes. */
static int drop_shared(void *arg, uint64_t index, pte_t *pte)
{
    struct segment *seg = arg;
    int err;

    if (pte_present(*pte)) {
        err = rmap_drop_page(seg, index, pfn_to_page(seg->mm, pte_pfn(*pte)));
        seg->resident -= err == 0;
    } else {
        err = rmap_drop_swap(seg, index, *pte);
        seg->swapped -= err == 0;
    }
    return err;
}

static int drop_index(struct segment *seg, uint64_t index)
{
    return pgtable_clear_range(&seg->pt, index, index, drop_shared, seg);
}

/* Families built and taken apart by hand: the last member alone leaves
 * no family; the cap refuses one more. */
START_TEST(test_family_join_leave)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *a = test_segment(mm, cg, 16), *b = test_segment(mm, cg, 16);
    struct segment *c = test_segment(mm, cg, 16);
    uint32_t saved;

    ck_assert(rmap_same_family(a, a->id));
    ck_assert(!rmap_same_family(a, b->id));
    ck_assert_int_eq(rmap_family_join(a, b), 0);
    ck_assert_mm_ok(mm);
    ck_assert_ptr_eq(a->family, b->family);
    ck_assert_uint_eq(a->family->nr_members, 2);
    ck_assert(rmap_same_family(a, b->id) && rmap_same_family(b, a->id));
    ck_assert(!rmap_same_family(a, c->id));
    ck_assert(!rmap_same_family(a, 9999));
    ck_assert_int_eq(rmap_family_join(b, c), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(c->family->nr_members, 3);
    ck_assert(rmap_same_family(c, a->id));
    saved = a->family->nr_members;
    a->family->nr_members = FAMILY_MAX_MEMBERS;
    ck_assert_int_eq(rmap_family_join(a, test_segment(mm, cg, 16)), -EMLINK);
    a->family->nr_members = saved;
    ck_assert_mm_ok(mm);
    rmap_family_leave(b);
    ck_assert_mm_ok(mm);
    ck_assert_ptr_null(b->family);
    ck_assert_uint_eq(a->family->nr_members, 2);
    rmap_family_leave(a);
    ck_assert_ptr_null(a->family);
    ck_assert_ptr_null(c->family);        /* alone: no family */
    rmap_family_leave(c);                 /* a no-op */
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* rmap_walk finds every PTE naming a page, from any member, and only
 * those; a CoW break takes one away; after reclaim it finds the three
 * PTEs naming the slot. */
START_TEST(test_walk)
{
    struct fixture x = family_setup(false);
    struct mm *mm = x.f.mm;
    struct collect c = { .n = 0 };
    pte_t pte = test_pte(x.f.seg, 3), slot;
    struct page *page = pfn_to_page(mm, pte_pfn(pte));

    ck_assert_uint_eq(rmap_walk(x.c2, 3, pte, collect_one, &c), 3);
    ck_assert(collected(&c, x.f.seg) && collected(&c, x.c1) && collected(&c, x.c2));
    ck_assert_uint_eq(rmap_walk(x.f.seg, 3, pte, NULL, NULL), 3);
    ck_assert_uint_eq(rmap_walk(x.f.seg, 4, pte, NULL, NULL), 0);  /* other page */
    ck_assert_uint_eq(rmap_walk(x.f.seg, NPAGES + 5, pte, NULL, NULL), 0);
    ck_assert_ptr_nonnull(page_rmap_segment(mm, page));
    ck_assert_uint_eq(page->refcount, 3);
    test_write_stamped(x.c1, 3, 2);       /* c1's copy */
    ck_assert_mm_ok(mm);
    c.n = 0;
    ck_assert_uint_eq(rmap_walk(x.f.seg, 3, pte, collect_one, &c), 2);
    ck_assert(!collected(&c, x.c1));
    ck_assert_uint_eq(page->refcount, 2);
    ck_assert_int_eq(rmap_check_page(mm, pte_pfn(pte)), 0);
    for (int i = 0; i < 16 && x.f.cg->usage; i++)
        vmscan_try_to_free_pages(mm, x.f.cg, x.f.cg->usage, false);
    ck_assert_mm_ok(mm);
    slot = test_pte(x.f.seg, 5);
    ck_assert(pte_is_swap(slot));
    ck_assert_uint_eq(rmap_walk(x.c1, 5, slot, NULL, NULL), 3);
    ck_assert_uint_eq(rmap_walk(x.c1, 5, test_pte(x.f.seg, 6), NULL, NULL), 0);
    ck_assert_uint_eq(swap_entry_count(mm, slot), 3);
    family_teardown(&x);
}
END_TEST

/* Dropping users of a shared page one at a time: the reverse map leaves
 * a member that lets go, and the last user's PTE loses PTE_COW. */
START_TEST(test_drop_page)
{
    struct fixture x = family_setup(false);
    struct mm *mm = x.f.mm;
    pfn_t pfn = pte_pfn(test_pte(x.f.seg, 2));
    struct page *page = pfn_to_page(mm, pfn);
    struct segment *owner = page_rmap_segment(mm, page), *other;

    ck_assert_ptr_nonnull(owner);
    ck_assert_uint_eq(owner->shared, 8);
    ck_assert_int_eq(drop_index(owner, 2), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(page->refcount, 2);
    ck_assert_uint_eq(owner->shared, 7);
    ck_assert(!pte_present(test_pte(owner, 2)));
    other = page_rmap_segment(mm, page);
    ck_assert_ptr_nonnull(other);
    ck_assert_ptr_ne(other, owner);
    ck_assert(test_pte(other, 2) & PTE_COW);
    ck_assert_int_eq(drop_index(other, 2), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(page->refcount, 1);
    other = page_rmap_segment(mm, page);
    ck_assert(!(test_pte(other, 2) & PTE_COW));   /* its own again */
    ck_assert_uint_eq(other->shared, 7);
    /* The last user is no share: rmap.c refuses, the caller frees it. */
    test_log_quiet();
    ck_assert_int_eq(rmap_drop_page(other, 2, page), -EUCLEAN);
    test_log_restore();
    ck_assert_uint_eq(page->refcount, 1);
    ck_assert_mm_ok(mm);
    test_read_stamped(other, 2, 1);
    family_teardown(&x);
}
END_TEST

/* The same for a slot three members name after reclaim. */
START_TEST(test_drop_swap)
{
    struct fixture x = family_setup(false);
    struct mm *mm = x.f.mm;
    pte_t slot;

    for (int i = 0; i < 16 && x.f.cg->usage; i++)
        vmscan_try_to_free_pages(mm, x.f.cg, x.f.cg->usage, false);
    ck_assert_mm_ok(mm);
    slot = test_pte(x.c1, 4);
    ck_assert(pte_is_swap(slot));
    ck_assert_uint_eq(swap_entry_count(mm, slot), 3);
    ck_assert_int_eq(drop_index(x.c1, 4), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(swap_entry_count(mm, slot), 2);
    ck_assert_uint_eq(x.c1->shared, 7);
    ck_assert_int_eq(drop_index(x.f.seg, 4), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(swap_entry_count(mm, slot), 1);
    ck_assert_uint_eq(swap_entry_owner(mm, slot), x.c2->id);
    ck_assert_uint_eq(x.c2->shared, 7);
    test_log_quiet();
    ck_assert_int_eq(rmap_drop_swap(x.c2, 4, slot), -EUCLEAN);
    test_log_restore();
    ck_assert_uint_eq(swap_entry_count(mm, slot), 1);
    ck_assert_mm_ok(mm);
    test_read_stamped(x.c2, 4, 1);
    ck_assert_mm_ok(mm);
    family_teardown(&x);
}
END_TEST

/* A reserving origin keeps a page of reservation for each page it
 * shares; when a share ends with it as the last user the page comes
 * back (rmap_make_exclusive), and the identity holds throughout. */
START_TEST(test_make_exclusive_returns_reservation)
{
    struct fixture x = family_setup(true);
    struct mm *mm = x.f.mm;
    struct segment *o = x.f.seg;
    uint64_t reserved = o->reserved, cg_reserved = x.f.cg->reserved;

    ck_assert_uint_eq(reserved, NPAGES - 8 + 8);  /* unwritten + shared */
    ck_assert_int_eq(drop_index(x.c1, 0), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(o->reserved, reserved);     /* still shared with c2 */
    ck_assert_int_eq(drop_index(x.c2, 0), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(o->reserved, reserved - 1);
    ck_assert_uint_eq(x.f.cg->reserved, cg_reserved - 1);
    ck_assert(!(test_pte(o, 0) & PTE_COW));
    /* Called alone on the count it keeps: shared and reservation go
     * down by one, which mm_check() then finds one short. */
    rmap_make_exclusive(o);
    test_log_quiet();
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    test_log_restore();
    o->shared++;
    o->reserved++;
    x.f.cg->reserved++;
    ck_assert_mm_ok(mm);
    family_teardown(&x);
}
END_TEST

/* rmap_check() notices each broken rule, and passes once it is undone. */
enum rmap_damage { BAD_REFCOUNT, BAD_COW, BAD_SHARED, BAD_RMAP_SEG,
                   BAD_RMAP_INDEX, BAD_MEMBERS, NR_DAMAGE };

START_TEST(test_check_detects)
{
    struct fixture x = family_setup(false);
    struct mm *mm = x.f.mm;
    pte_t *pte = pgtable_lookup(&x.c1->pt, 1), saved_pte = *pte;
    struct page *page = pfn_to_page(mm, pte_pfn(*pte)), saved_page = *page;
    uint64_t mapped;

    switch (_i) {
    case BAD_REFCOUNT:
        page->refcount++;
        break;
    case BAD_COW:
        *pte &= ~PTE_COW;
        break;
    case BAD_SHARED:
        x.c2->shared--;
        break;
    case BAD_RMAP_SEG:
        page->seg_id = x.f.cg->id + 1000;
        break;
    case BAD_RMAP_INDEX:
        page_set_rmap(page, page->seg_id, 7);   /* a page of another index */
        break;
    case BAD_MEMBERS:
        x.c1->family->nr_members++;
        break;
    }
    test_log_quiet();
    ck_assert_int_eq(rmap_check(mm, &mapped), -EUCLEAN);
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    ck_assert_int_gt(test_log_count, 0);
    test_log_restore();
    *pte = saved_pte;
    *page = saved_page;
    if (_i == BAD_SHARED)
        x.c2->shared++;
    if (_i == BAD_MEMBERS)
        x.c1->family->nr_members--;
    ck_assert_int_eq(rmap_check(mm, &mapped), 0);
    ck_assert_uint_eq(mapped, 3 * 8);
    ck_assert_mm_ok(mm);
    family_teardown(&x);
}
END_TEST

Suite *rmap_suite(void)
{
    Suite *s = suite_create("rmap");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_family_join_leave);
    tcase_add_test(tc, test_walk);
    tcase_add_test(tc, test_drop_page);
    tcase_add_test(tc, test_drop_swap);
    tcase_add_test(tc, test_make_exclusive_returns_reservation);
    tcase_add_loop_test(tc, test_check_detects, 0, NR_DAMAGE);
    suite_add_tcase(s, tc);
    return s;
}
