/* rmap.c - reverse maps of shared pages: clone families.
 *
 * A page mapped by one PTE names it in its descriptor: (segment id,
 * index).  segment_clone (clone.c) makes pages with several mappers, and
 * Linux's answer for anonymous pages, the anon_vma, fits once cut down:
 * a clone maps index i of its origin at index i, so every segment cloned
 * from one origin (directly or through other clones) forms a family, and
 * the PTEs naming a shared page are the family members' PTEs at the
 * page's index that name its pfn.  So a descriptor keeps (one member that
 * maps it, index) and stays 32 bytes; the family is a list of members in
 * a small struct clone_family that lives from the first clone until one
 * member is left.  Swap slots work alike: a slot written for a shared page
 * counts one user per sharer (swap_map) and its owner is one of them.
 *
 * The rules, which rmap_check() verifies:
 *   page refcount == PTEs naming the page; slot count == swap PTEs naming it
 *   a present PTE has PTE_COW iff its page's refcount > 1
 *   a reverse map (page seg_id, slot owner) names a member that maps it;
 *   when that member lets go, it moves to another user
 *   seg->shared == the segment's PTEs naming a page or slot with other users
 *   a page or slot left with one user is that user's own: its PTE loses
 *   PTE_COW - the next write reuses the page without copying, as Linux's
 *   do_wp_page does - and a reserving user gives back the page of
 *   reservation it kept for breaking the sharing (segment.c)
 *   members of a family have the same size and memcg
 * Walking a family costs one table walk per member, and is done only for
 * pages with refcount > 1 (or slots with count > 1). */
#include <errno.h>

#include "internal.h"

static void family_link(struct clone_family *f, struct segment *seg)
{
    seg->family = f;
    seg->family_prev = NULL;
    seg->family_next = f->head;
    if (f->head)
        f->head->family_prev = seg;
    f->head = seg;
    f->nr_members++;
}

static void family_unlink(struct clone_family *f, struct segment *seg)
{
    if (seg->family_prev)
        seg->family_prev->family_next = seg->family_next;
    else
        f->head = seg->family_next;
    if (seg->family_next)
        seg->family_next->family_prev = seg->family_prev;
    seg->family = NULL;
    seg->family_next = seg->family_prev = NULL;
    f->nr_members--;
}

int rmap_family_join(struct segment *src, struct segment *clone)
{
    struct clone_family *f = src->family;

    if (f && f->nr_members >= FAMILY_MAX_MEMBERS)
        return -EMLINK;
    if (!f) {
        f = mm_kzalloc(src->mm, sizeof(*f));
        if (!f)
            return -ENOMEM;
        family_link(f, src);
    }
    family_link(f, clone);
    return 0;
}

/* The segment shares nothing any more (its entries are gone).  The last
 * member left alone shares nothing either: the family goes. */
void rmap_family_leave(struct segment *seg)
{
    struct clone_family *f = seg->family;

    if (!f)
        return;
    if (seg->shared)
        mm_log(MM_LOG_ERR, "rmap: segment %u leaves its family still sharing "
               "%llu entries", seg->id, (unsigned long long)seg->shared);
    family_unlink(f, seg);
    if (f->nr_members == 1) {
        family_unlink(f, f->head);
        mm_kfree(seg->mm, f);
    }
}

bool rmap_same_family(const struct segment *seg, uint32_t seg_id)
{
    const struct segment *other;

    if (seg_id == seg->id)
        return true;
    other = idr_find(&seg->mm->segments, seg_id);
    return other && seg->family && other->family == seg->family;
}

/* pte names what target names: the same pfn if target is present (flag
 * bits differ between sharers), else the very same swap entry. */
static bool pte_names(pte_t pte, pte_t target)
{
    if (pte_present(target))
        return pte_present(pte) && pte_pfn(pte) == pte_pfn(target);
    return pte == target;
}

static pte_t *member_pte(const struct segment *m, uint64_t index, pte_t target)
{
    pte_t *pte = index < m->npages ? pgtable_lookup(&m->pt, index) : NULL;

    return pte && pte_names(*pte, target) ? pte : NULL;
}

unsigned rmap_walk(struct segment *anchor, uint64_t index, pte_t target,
                   rmap_one_fn fn, void *arg)
{
    struct segment *m = anchor->family ? anchor->family->head : anchor;
    unsigned n = 0;

    for (; m; m = anchor->family ? m->family_next : NULL) {
        pte_t *pte = member_pte(m, index, target);

        if (!pte)
            continue;
        if (fn)
            fn(m, pte, arg);
        n++;
    }
    return n;
}

struct segment *page_rmap_segment(const struct mm *mm, const struct page *page)
{
    return idr_find(&mm->segments, page->seg_id);
}

/* Another member than seg whose PTE at index names target. */
static struct segment *other_user(struct segment *seg, uint64_t index,
                                  pte_t target, pte_t **ptep)
{
    for (struct segment *m = seg->family ? seg->family->head : NULL; m;
         m = m->family_next) {
        if (m != seg && (*ptep = member_pte(m, index, target)))
            return m;
    }
    return NULL;
}

/* The entry at index is m's alone now. */
void rmap_make_exclusive(struct segment *m)
{
    m->shared--;
    if (m->reserving && !m->dead) {
        memcg_unreserve(m->memcg, 1);
        m->reserved--;
    }
}

int rmap_drop_page(struct segment *seg, uint64_t index, struct page *page)
{
    struct mm *mm = seg->mm;
    pfn_t pfn = page_to_pfn(mm, page);
    struct segment *other;
    pte_t *other_pte;

    if (page_test(page, PG_ksm))
        return ksm_drop_page(seg, index, page);
    other = page->refcount > 1 ?
            other_user(seg, index, pfn_pte(pfn, 0), &other_pte) : NULL;
    if (!other) {
        dump_page(mm, pfn, "rmap: dropping a share of a page no other "
                  "member maps");
        return -EUCLEAN;
    }
    page->refcount--;
    seg->shared--;
    if (page->seg_id == seg->id) {
        page_set_rmap(page, other->id, index);
        /* A swap-cache slot's owner is its page's reverse map. */
        if (page_test(page, PG_swapcache))
            swap_set_owner(mm, swapcache_entry(mm, page), other->id, index);
    }
    if (page->refcount == 1) {
        *other_pte &= ~PTE_COW;
        rmap_make_exclusive(other);
    }
    return 0;
}

int rmap_drop_swap(struct segment *seg, uint64_t index, pte_t entry)
{
    struct mm *mm = seg->mm;
    unsigned count = swap_entry_count(mm, entry);
    struct segment *other;
    pte_t *other_pte;

    if (ksm_swap_mappers(mm, entry))
        return ksm_drop_swap(seg, index, entry);
    other = count > 1 ? other_user(seg, index, entry, &other_pte) : NULL;
    if (!other) {
        mm_log(MM_LOG_ERR, "rmap: segment %u index %llu: dropping a share of "
               "swap entry %llx (%u users) no other member names", seg->id,
               (unsigned long long)index, (unsigned long long)entry, count);
        return -EUCLEAN;
    }
    swap_free_entry(mm, entry);
    seg->shared--;
    if (swap_entry_owner(mm, entry) == seg->id)
        swap_set_owner(mm, entry, other->id, index);
    if (count == 2)
        rmap_make_exclusive(other);
    return 0;
}

/* ---- invariants ---------------------------------------------------- */

static int check_family(const struct mm *mm, const struct clone_family *f)
{
    const struct segment *head = f->head;
    uint32_t n = 0;

    CHECK(head && f->nr_members >= 2, "rmap: family of %u members, head %u",
          f->nr_members, head ? head->id : 0);
    for (const struct segment *m = head, *prev = NULL; m;
         prev = m, m = m->family_next) {
        CHECK(n < f->nr_members, "rmap: family of segment %u: list longer "
              "than its %u members", head->id, f->nr_members);
        CHECK(idr_find(&mm->segments, m->id) == m && m->family == f &&
              m->family_prev == prev,
              "rmap: family of segment %u: member %u not live or mislinked",
              head->id, m->id);
        CHECK(m->npages == head->npages && m->memcg == head->memcg,
              "rmap: family of segment %u: member %u differs in size or memcg",
              head->id, m->id);
        n++;
    }
    CHECK(n == f->nr_members, "rmap: family of segment %u: %u listed, "
          "nr_members %u", head->id, n, f->nr_members);
    return 0;
}

struct shared_walk {
    const struct segment *seg;
    uint64_t shared;
    uint64_t ksm;                       /* of those, KSM pages and slots */
};

/* PTE_COW iff the page is shared; count entries shared with others. */
static int count_shared(void *arg, uint64_t index, pte_t *pte)
{
    struct shared_walk *w = arg;
    const struct mm *mm = w->seg->mm;
    bool shared;

    if (pte_present(*pte)) {
        shared = pfn_to_page(mm, pte_pfn(*pte))->refcount > 1;
        CHECK(shared == !!(*pte & PTE_COW), "rmap: segment %u index %llu: "
              "PTE_COW %s on a page with refcount %d", w->seg->id,
              (unsigned long long)index, *pte & PTE_COW ? "set" : "clear",
              pfn_to_page(mm, pte_pfn(*pte))->refcount);
        w->ksm += page_test(pfn_to_page(mm, pte_pfn(*pte)), PG_ksm);
    } else {
        shared = swap_entry_count(mm, *pte) > 1;
        w->ksm += ksm_swap_mappers(mm, *pte) > 0;
    }
    w->shared += shared;
    return 0;
}

static int check_segment_shares(const struct segment *seg)
{
    struct shared_walk w = { seg, 0, 0 };
    int err = pgtable_for_each_pte(&seg->pt, count_shared, &w);

    if (err)
        return err;
    CHECK(w.shared == seg->shared, "rmap: segment %u: %llu shared entries, "
          "shared %llu", seg->id, (unsigned long long)w.shared,
          (unsigned long long)seg->shared);
    /* KSM pages and slots have their mappers listed in a stable node. */
    CHECK(seg->shared == w.ksm || seg->family, "rmap: segment %u shares %llu "
          "entries (%llu of them KSM) outside any family", seg->id,
          (unsigned long long)seg->shared, (unsigned long long)w.ksm);
    return 0;
}

/* page -> PTEs: the reverse map names a live segment whose PTE at that
 * index maps this very page, the owner is that segment's memcg, and the
 * family's PTEs naming it are exactly refcount. */
int rmap_check_page(const struct mm *mm, pfn_t pfn)
{
    const struct page *page = pfn_to_page(mm, pfn);
    struct segment *seg = page_rmap_segment(mm, page);
    uint64_t index = page_index(page);
    unsigned users;

    CHECK(seg, "mm: data page %u: rmap names no segment (%u)", (unsigned)pfn,
          page->seg_id);
    CHECK(index < seg->npages, "mm: data page %u: rmap index %llu past segment "
          "%u end %llu", (unsigned)pfn, (unsigned long long)index, seg->id,
          (unsigned long long)seg->npages);
    CHECK(member_pte(seg, index, pfn_pte(pfn, 0)),
          "mm: data page %u: segment %u index %llu does not map it",
          (unsigned)pfn, seg->id, (unsigned long long)index);
    CHECK(page->memcg_id == seg->memcg->id,
          "mm: data page %u: owner memcg %u, segment charges %u", (unsigned)pfn,
          page->memcg_id, seg->memcg->id);
    if (page_test(page, PG_ksm))
        return ksm_check_page(mm, pfn);
    users = rmap_walk(seg, index, pfn_pte(pfn, 0), NULL, NULL);
    CHECK(page->refcount >= 1 && users == (unsigned)page->refcount,
          "mm: data page %u: refcount %d, %u PTEs of segment %u's family map it",
          (unsigned)pfn, page->refcount, users, seg->id);
    return 0;
}

int rmap_check(const struct mm *mm, uint64_t *nr_mapped)
{
    *nr_mapped = 0;
    for (uint32_t id = idr_next(&mm->segments, 0); id;
         id = idr_next(&mm->segments, id + 1)) {
        const struct segment *seg = idr_find(&mm->segments, id);
        int err;

        if (seg->family) {
            CHECK(seg->family_prev ? seg->family_prev->family_next == seg :
                                     seg->family->head == seg,
                  "rmap: segment %u: not on its family's list", seg->id);
            if (seg->family->head == seg) {
                err = check_family(mm, seg->family);
                if (err)
                    return err;
            }
        }
        err = check_segment_shares(seg);
        if (err)
            return err;
    }
    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        int err;

        if (pfn_to_page(mm, pfn)->state != PAGE_DATA)
            continue;
        err = rmap_check_page(mm, pfn);
        if (err)
            return err;
        *nr_mapped += (uint64_t)pfn_to_page(mm, pfn)->refcount;
    }
    return 0;
}
