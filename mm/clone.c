/* clone.c - segment_clone: copy-on-write snapshots of a segment.
 *
 * A clone is a new segment of its origin's size and memcg that shares
 * every page and swap slot of it at the moment of the clone, as fork()
 * shares a private anonymous mapping: each present page gains a user
 * (refcount + 1) and PTE_COW in both segments, each swap entry gains a
 * user of its slot (swap_map + 1), and nothing is copied or charged - a
 * shared page stays charged once, to its memcg (segment.c has the charge
 * rule, rmap.c the reverse map that finds every sharer).  The first write
 * on either side copies (segment.c).
 *
 * The clone walks the origin's table and installs each entry into the
 * clone's; the only allocations are the clone's descriptor, its family
 * (on the first clone of an origin) and its table pages, and a failure of
 * any of them undoes the clone by destroying it, which drops every share
 * already taken: the origin is left as it was.
 *
 * Reservations: the clone has none (segment_reserve asks for one).  A
 * reserving origin keeps a page of reservation for each page it shares
 * (segment.c), so cloning it reserves one page for every page and slot it
 * held alone - like the commit charge fork() takes for a private writable
 * mapping - and fails with -ENOMEM, counted in failcnt, past the memsw
 * limit. */
#include <errno.h>

#include "internal.h"

struct clone_walk {
    struct segment *src, *clone;
    uint64_t pending;                   /* reserved up front, not yet shared */
};

/* An entry of src that it held alone is shared from now on. */
static void start_sharing(struct clone_walk *w)
{
    w->src->shared++;
    if (w->src->reserving && w->pending) {
        w->pending--;
        w->src->reserved++;
    }
}

static int clone_present(struct clone_walk *w, uint64_t index, pte_t *pte)
{
    struct page *page = pfn_to_page(w->src->mm, pte_pfn(*pte));
    int err;

    /* A KSM page's mappers are its stable node's list: one more. */
    if (page_test(page, PG_ksm)) {
        err = ksm_clone_page(w->clone, index, page);
        if (err)
            return err;
    }
    err = pgtable_install(&w->clone->pt, index, pfn_pte(pte_pfn(*pte), PTE_COW));
    if (err) {
        if (page_test(page, PG_ksm))
            ksm_drop_clone_mapper(w->clone, index, page);
        return err;
    }
    if (page->refcount == 1)
        start_sharing(w);
    /* Its swap-out was for one user: completion must keep it (vmscan.c). */
    if (page_test(page, PG_writeback))
        page_set(page, PG_dirty);
    page->refcount++;
    *pte |= PTE_COW;
    w->clone->resident++;
    w->clone->shared++;
    return 0;
}

static int clone_swap(struct clone_walk *w, uint64_t index, pte_t *pte)
{
    struct mm *mm = w->src->mm;
    bool was_own = swap_entry_count(mm, *pte) == 1;
    bool ksm = ksm_swap_mappers(mm, *pte) > 0;
    int err;

    if (ksm) {
        err = ksm_clone_swap(w->clone, index, *pte);
        if (err)
            return err;
    }
    err = swap_dup_entry(mm, *pte);
    if (err)
        goto err_drop_ksm;
    err = pgtable_install(&w->clone->pt, index, *pte);
    if (err) {
        swap_free_entry(mm, *pte);
        goto err_drop_ksm;
    }
    if (was_own)
        start_sharing(w);
    w->clone->swapped++;
    w->clone->shared++;
    return 0;

err_drop_ksm:
    if (ksm)
        ksm_drop_clone_swap(w->clone, index, *pte);
    return err;
}

static int clone_pte(void *arg, uint64_t index, pte_t *pte)
{
    if (pte_present(*pte))
        return clone_present(arg, index, pte);
    return clone_swap(arg, index, pte);
}

int segment_clone(struct segment *src, struct segment **out)
{
    struct clone_walk w = { .src = src };
    uint64_t own;
    int err;

    if (!src || !out)
        return -EINVAL;
    if (src->dead)
        return -EOWNERDEAD;
    if (src->family && src->family->nr_members >= FAMILY_MAX_MEMBERS)
        return -EMLINK;
    err = segment_create(src->mm, src->memcg, src->npages, &w.clone);
    if (err)
        return err;
    w.clone->file = src->file;          /* a named segment's pages stay file */
    own = src->resident + src->swapped - src->shared;
    if (src->reserving) {
        err = memcg_reserve(src->memcg, own);
        if (err)
            goto err_destroy_clone;
        w.pending = own;
    }
    err = rmap_family_join(src, w.clone);
    if (err)
        goto err_unreserve;
    err = pgtable_for_each_pte(&src->pt, clone_pte, &w);
    if (err)
        goto err_unreserve;
    if (w.pending) {
        mm_log(MM_LOG_ERR, "clone: segment %u: %llu pages reserved for "
               "sharing were not shared", src->id,
               (unsigned long long)w.pending);
        memcg_unreserve(src->memcg, w.pending);
    }
    *out = w.clone;
    return 0;

err_unreserve:
    memcg_unreserve(src->memcg, w.pending);
err_destroy_clone:
    /* Drops every share taken so far: the origin's pages are its own
     * again, and their reservation goes back with them. */
    segment_destroy(w.clone);
    return err;
}
