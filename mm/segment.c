/* segment.c - segments: ranges of page indices backed lazily by pool pages.
 *
 * The vmalloc of rmem: an index range that looks contiguous to clients,
 * backed by scattered order-0 pages found through the segment's page table
 * (pgtable.c).  A page is allocated on its first write only, so a segment
 * of 2^36 pages costs nothing until it is written, and never-written pages
 * read as zeros.  A first write allocates the page, charges the memcg,
 * fills it and only then installs the PTE: a failure at any step undoes the
 * ones before it, so no reader ever sees a half-written page and nothing
 * leaks.
 *
 * A segment may reserve its memsw quota up front (segment_reserve): its
 * pages then charge against the reservation and return to it when
 * discarded, so the whole length stays charged until the segment goes.
 *
 * With a swap file on (swap.c), a page may be a swap entry instead: a read
 * swaps it in (segment_read_nowait hands the file reads to its caller
 * instead; the page may keep its slot, swap_state.c, until it is written
 * or discarded), a write replaces it by a new page without reading it (the
 * whole page is overwritten), and a new page that finds the memcg at its
 * limit reclaims that memcg (memcg_reclaim -> vmscan.c), one that finds
 * the pool at its min watermark reclaims every memcg.  Reclaim whose
 * writes were queued for another thread (MM_RECLAIM_ASYNC) fails the
 * write with -EAGAIN, pages before it written, to be run again once
 * they are done.  Only when reclaim frees nothing does the OOM policy
 * (oom.c) run, which may kill a segment:
 * a dead segment holds nothing, neither pages nor swap slots, and refuses
 * all I/O with -EOWNERDEAD until its owner destroys it.  Every resident
 * page is on its memcg's LRU lists and every access marks it (lru.c).
 *
 * A clone (clone.c) shares its origin's pages and swap slots, marked
 * PTE_COW (rmap.c keeps who maps what).  A write to a shared page is
 * Linux's do_wp_page: a new page is allocated and charged, filled (writes
 * are whole pages, so nothing is copied), and replaces this segment's
 * PTE; the old page loses a user, and with one user left it is that
 * user's own again, written in place from then on.  A write over a shared
 * swap entry takes a new page the same way and leaves the slot to the
 * others.  Discarding or destroying drops one user of a shared page or
 * slot; only the last user frees it.
 *
 * Charges: a page is charged once, to the memcg of the segment that first
 * wrote it, however many PTEs name it (Linux charges a shared anonymous
 * page to the memcg that faulted it first); a family lives in one memcg
 * (a clone takes its origin's), so a shared page or slot costs its memcg
 * one page.  The page a CoW write allocates is a new page like any other.
 * A reserving segment keeps one page of reservation for every index it
 * does not hold alone - never written, or shared - so that breaking a
 * share never fails for memsw either:
 *     reserved + resident + swapped - shared == npages
 * and it gives that page back when a share ends with it as the last user. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* A charge or allocation retried after this many OOM kills fails. */
#define OOM_RETRIES 4

int segment_create(struct mm *mm, struct memcg *cg, uint64_t npages,
                   struct segment **out)
{
    struct segment *seg;
    int err;

    if (!mm || !cg || !out || cg->mm != mm || cg->dying)
        return -EINVAL;
    if (npages == 0 || npages > SEGMENT_MAX_PAGES)
        return -EINVAL;
    seg = slab_zalloc(&mm->slab_builtin[SLAB_SEGMENT]);
    if (!seg)
        return -ENOMEM;
    seg->mm = mm;
    seg->memcg = cg;
    seg->npages = npages;
    err = idr_alloc(&mm->segments, seg, &seg->id);
    if (err)
        goto err_free_seg;
    pgtable_init(&seg->pt, mm, seg->id);
    memcg_attach_segment(cg);
    *out = seg;
    return 0;

err_free_seg:
    slab_free(&mm->slab_builtin[SLAB_SEGMENT], seg);
    return err;
}

uint64_t segment_npages(const struct segment *seg)
{
    return seg->npages;
}

uint64_t segment_resident_pages(const struct segment *seg)
{
    return seg->resident;
}

uint64_t segment_reserved_pages(const struct segment *seg)
{
    return seg->reserved;
}

bool segment_is_dead(const struct segment *seg)
{
    return seg->dead;
}

int segment_reserve(struct segment *seg)
{
    /* Pages and slots of its own hold their memsw charge already; shared
     * ones are reserved for, as breaking the share takes a new page. */
    uint64_t nr = seg->npages - (seg->resident + seg->swapped - seg->shared);
    int err;

    if (seg->reserving || seg->dead)
        return -EINVAL;
    err = memcg_reserve(seg->memcg, nr);
    if (err)
        return err;
    seg->reserved = nr;
    seg->reserving = true;
    return 0;
}

uint64_t segment_swapped_pages(const struct segment *seg)
{
    return seg->swapped;
}

int segment_set_file(struct segment *seg)
{
    /* Pages already listed would sit on the wrong lists. */
    if (seg->resident || seg->swapped)
        return -EBUSY;
    seg->file = true;
    return 0;
}

uint64_t segment_shared_pages(const struct segment *seg)
{
    return seg->shared;
}

/* Direct reclaim of the pool is tried this many times, each after some
 * progress, before the OOM killer. */
#define RECLAIM_RETRIES 8

/* Charge one new page as `charge` says: a new page from the reservation if
 * the segment holds one, else against both limits; a page coming back
 * from swap takes over its entry's memsw charge.  A charge refused after
 * memcg reclaim (inside memcg.c) goes to the memcg's OOM policy and is
 * retried after a kill; readahead (optional) takes no such measures. */
static int charge_page(struct segment *seg, enum page_charge charge,
                       bool optional, bool *from_reserve)
{
    struct memcg *cg = seg->memcg;
    int err;

    for (int tries = 0;; tries++) {
        *from_reserve = charge == CHARGE_NEW && seg->reserved > 0;
        if (charge == CHARGE_SWAPIN)
            err = memcg_charge_swapin(cg, 1);
        else if (charge == CHARGE_SWAP)
            err = memcg_charge_from_swap(cg, 1, !optional);
        else
            err = *from_reserve ? memcg_charge_reserved(cg, 1) :
                                  memcg_try_charge(cg, 1);
        if (err != -ENOMEM || optional || tries == OOM_RETRIES)
            break;
        err = oom_memcg(cg, seg);
        if (err)
            return err;
    }
    if (!err && *from_reserve)
        seg->reserved--;
    return err;
}

/* A reserved page's charge goes back to the reservation, unless the OOM
 * killer took the segment (and its reservation) meanwhile. */
static void uncharge_page(struct segment *seg, bool from_reserve)
{
    if (from_reserve && !seg->dead) {
        memcg_uncharge_reserved(seg->memcg, 1);
        seg->reserved++;
    } else {
        memcg_uncharge(seg->memcg, 1);
    }
}

/* Undo charge_page(): a page from swap gives its charge back to the swap
 * entry it did not replace after all. */
static void uncharge_new_page(struct segment *seg, enum page_charge charge,
                              bool from_reserve)
{
    if (charge == CHARGE_NEW)
        uncharge_page(seg, from_reserve);
    else
        memcg_charge_swap(seg->memcg, 1);
}

/* Every zone at min: direct reclaim over every memcg, and when that frees
 * nothing, the pool-wide OOM killer.  Optional allocations do neither. */
static int alloc_page(struct segment *seg, enum alloc_purpose purpose,
                      pfn_t *pfn)
{
    int reclaims = 0, kills = 0;

    for (;;) {
        int err = mm_alloc_pages(seg->mm, 0, purpose, pfn);

        if (err != -ENOMEM || purpose != ALLOC_DATA)
            return err;
        if (reclaims < RECLAIM_RETRIES &&
            vmscan_try_to_free_pages(seg->mm, NULL, SWAP_CLUSTER_MAX, true)) {
            reclaims++;
            continue;
        }
        if (vmscan_direct_should_wait(seg->mm, NULL))
            return -EAGAIN;
        if (kills++ == OOM_RETRIES)
            return -ENOMEM;
        err = oom_global(seg->mm, seg);
        if (err)
            return err;
    }
}

int segment_alloc_page(struct segment *seg, enum alloc_purpose purpose,
                       pfn_t *out)
{
    return alloc_page(seg, purpose, out);
}

int segment_adopt_page(struct segment *seg, pfn_t pfn, uint64_t index,
                       bool optional, enum page_charge charge)
{
    struct page *page = pfn_to_page(seg->mm, pfn);
    bool from_reserve;
    int err;

    err = charge_page(seg, charge, optional, &from_reserve);
    if (err)
        return err;
    err = page_set_state(seg->mm, page, PAGE_DATA);
    if (err) {
        uncharge_new_page(seg, charge, from_reserve);
        return err;
    }
    page_set_rmap(page, seg->id, index);
    page->memcg_id = seg->memcg->id;
    return 0;
}

int segment_get_page(struct segment *seg, uint64_t index,
                     enum alloc_purpose purpose, enum page_charge charge,
                     pfn_t *out)
{
    pfn_t pfn;
    int err;

    /* Allocate, then charge, as Linux's do_anonymous_page(): either may
     * OOM-kill seg itself, and a kill must find no charge of ours in
     * flight, or it would drop the swap charge this page had taken over. */
    err = alloc_page(seg, purpose, &pfn);
    if (err)
        return err;
    err = segment_adopt_page(seg, pfn, index, purpose == ALLOC_OPTIONAL, charge);
    if (err) {
        mm_free_pages(seg->mm, pfn, 0);
        return err;
    }
    *out = pfn;
    return 0;
}

/* Undo segment_get_page() for a page never mapped nor listed.  A new
 * page of a live reserving segment was charged from its reservation
 * (reserved + resident + swapped == npages leaves one for every unmapped
 * index), so its charge goes back there. */
void segment_unget_page(struct segment *seg, pfn_t pfn, enum page_charge charge)
{
    struct page *page = pfn_to_page(seg->mm, pfn);

    page->flags = 0;
    page_clear_rmap(page);
    page->memcg_id = 0;
    if (page_set_state(seg->mm, page, PAGE_ALLOCATED) == 0)
        mm_free_pages(seg->mm, pfn, 0);
    uncharge_new_page(seg, charge, seg->reserving);
}

/* [first, first + count) must lie inside the segment; overflow-safe. */
static int check_range(const struct segment *seg, uint64_t first,
                       uint64_t count)
{
    if (first > seg->npages || count > seg->npages - first)
        return -ERANGE;
    return 0;
}

static int read_one_page(struct segment *seg, uint64_t index, void *dst)
{
    pte_t *pte = pgtable_lookup(&seg->pt, index);
    int err;

    if (!pte || pte_none(*pte)) {
        memset(dst, 0, MM_PAGE_SIZE);
        return 0;
    }
    if (!pte_present(*pte)) {
        /* Swap-in; mapping it marked it accessed already. */
        err = swap_do_page(seg, index, pte);
        if (err)
            return err;
        memcpy(dst, page_address(seg->mm, pte_pfn(*pte)), MM_PAGE_SIZE);
        return 0;
    }
    memcpy(dst, page_address(seg->mm, pte_pfn(*pte)), MM_PAGE_SIZE);
    *pte |= PTE_ACCESSED;
    lru_mark_accessed(seg->mm, pfn_to_page(seg->mm, pte_pfn(*pte)));
    return 0;
}

int segment_read(struct segment *seg, uint64_t first, uint32_t count, void *dst)
{
    int err;

    if (!seg || (count && !dst))
        return -EINVAL;
    if (seg->dead)
        return -EOWNERDEAD;
    err = check_range(seg, first, count);
    if (err)
        return err;
    for (uint32_t i = 0; i < count && !err; i++)
        err = read_one_page(seg, first + i, (char *)dst + (size_t)i * MM_PAGE_SIZE);
    /* A read to be retried (MM_RECLAIM_ASYNC) counts when it is. */
    if (err != -EAGAIN)
        memcg_count_event(seg->memcg, MEMCG_PGFAULT, count);
    return err;
}

int segment_read_nowait(struct segment *seg, uint64_t first, uint32_t count,
                        void *dst, struct mm_swapin_req *req)
{
    int err;

    if (!seg || !req || (count && !dst))
        return -EINVAL;
    req->nr = 0;
    if (seg->dead)
        return -EOWNERDEAD;
    err = check_range(seg, first, count);
    if (err)
        return err;
    /* Nothing is read, copied or marked until no page waits for the
     * file: a read run again after its swap-ins counts and ages once. */
    err = seg->swapped ? swap_read_prepare(seg, first, count, req) : 0;
    if (err > 0)
        return -EINPROGRESS;
    if (err) {
        if (err != -EAGAIN)
            memcg_count_event(seg->memcg, MEMCG_PGFAULT, count);
        return err;
    }
    return segment_read(seg, first, count, dst);
}

static void overwrite_page(struct segment *seg, pte_t *pte, const void *src)
{
    struct page *page = pfn_to_page(seg->mm, pte_pfn(*pte));

    /* The copy in its slot is stale from now on. */
    if (page_test(page, PG_swapcache))
        swapcache_free(seg->mm, page);
    memcpy(page_address(seg->mm, pte_pfn(*pte)), src, MM_PAGE_SIZE);
    *pte |= PTE_DIRTY | PTE_ACCESSED;
    page_set(page, PG_dirty | PG_uptodate);
    lru_mark_accessed(seg->mm, page);
}

static int write_new_page(struct segment *seg, uint64_t index, const void *src)
{
    struct page *page;
    pfn_t pfn;
    int err;

    err = segment_get_page(seg, index, ALLOC_DATA, CHARGE_NEW, &pfn);
    if (err)
        return err;
    page = pfn_to_page(seg->mm, pfn);
    memcpy(page_address(seg->mm, pfn), src, MM_PAGE_SIZE);
    page_set(page, PG_dirty | PG_uptodate);
    err = pgtable_install(&seg->pt, index, pfn_pte(pfn, PTE_DIRTY | PTE_ACCESSED));
    if (err) {
        segment_unget_page(seg, pfn, CHARGE_NEW);
        return err;
    }
    seg->resident++;
    lru_add_page(seg->mm, page);
    return 0;
}

int segment_replace_pte(struct segment *seg, uint64_t index, pte_t *pte,
                        pfn_t pfn)
{
    struct page *page = pfn_to_page(seg->mm, pfn);
    int err = segment_zap_pte(seg, index, pte);

    if (err)
        return err;
    *pte = pfn_pte(pfn, PTE_DIRTY | PTE_ACCESSED);
    seg->resident++;
    page_set(page, PG_dirty | PG_uptodate);
    lru_add_page(seg->mm, page);
    return 0;
}

/* A new page, charged as new, replaces whatever *pte of (seg, index)
 * names: a shared page (the copy-on-write break) or a shared swap slot.
 * Allocating may reclaim or OOM-kill, which may swap the shared page out
 * or leave seg its last user: the PTE is looked at again only after, and
 * the zap deals with whatever it then names. */
static int write_unshared_page(struct segment *seg, uint64_t index,
                               const void *src)
{
    pte_t *pte;
    pfn_t pfn;
    int err;

    err = segment_get_page(seg, index, ALLOC_DATA, CHARGE_NEW, &pfn);
    if (err)
        return err;
    memcpy(page_address(seg->mm, pfn), src, MM_PAGE_SIZE);
    pte = pgtable_lookup(&seg->pt, index);
    err = pte ? segment_replace_pte(seg, index, pte, pfn) : -EUCLEAN;
    if (err)
        segment_unget_page(seg, pfn, CHARGE_NEW);
    return err;
}

/* The whole page is new: the swapped copy is dropped unread, and the new
 * page takes over its memsw charge (no major fault: nothing is read). */
static int write_swapped_page(struct segment *seg, uint64_t index, pte_t *pte,
                              const void *src)
{
    struct page *page;
    pfn_t pfn;
    int err;

    if (swap_entry_count(seg->mm, *pte) > 1)
        return write_unshared_page(seg, index, src);
    err = segment_get_page(seg, index, ALLOC_DATA, CHARGE_SWAP, &pfn);
    if (err)
        return err;             /* an OOM kill of seg freed *pte: leave it */
    page = pfn_to_page(seg->mm, pfn);
    memcpy(page_address(seg->mm, pfn), src, MM_PAGE_SIZE);
    page_set(page, PG_dirty | PG_uptodate);
    swap_free_entry(seg->mm, *pte);
    seg->swapped--;
    *pte = pfn_pte(pfn, PTE_DIRTY | PTE_ACCESSED);
    seg->resident++;
    lru_add_page(seg->mm, page);
    return 0;
}

static int write_one_page(struct segment *seg, uint64_t index, const void *src)
{
    pte_t *pte = pgtable_lookup(&seg->pt, index);

    if (pte && pte_present(*pte)) {
        if (*pte & PTE_COW)
            return write_unshared_page(seg, index, src);
        overwrite_page(seg, pte, src);
        return 0;
    }
    if (pte && pte_is_swap(*pte))
        return write_swapped_page(seg, index, pte, src);
    return write_new_page(seg, index, src);
}

int segment_write(struct segment *seg, uint64_t first, uint32_t count,
                  const void *src)
{
    int err;

    if (!seg || (count && !src))
        return -EINVAL;
    if (seg->dead)
        return -EOWNERDEAD;
    err = check_range(seg, first, count);
    if (err)
        return err;
    for (uint32_t i = 0; i < count; i++) {
        err = write_one_page(seg, first + i,
                             (const char *)src + (size_t)i * MM_PAGE_SIZE);
        if (err)
            return err;
    }
    return 0;
}

/* A swap entry discarded: its slot is freed, and its memsw charge goes
 * back to the reservation of a live reserving segment (as a resident
 * page's does), else it is dropped - also when the OOM killer took the
 * segment, whose swap must not outlive it. */
static void release_swap_entry(struct segment *seg, pte_t entry)
{
    swap_free_entry(seg->mm, entry);
    seg->swapped--;
    if (seg->reserving && !seg->dead) {
        memcg_uncharge_swap_reserved(seg->memcg, 1);
        seg->reserved++;
    } else {
        memcg_uncharge_swap(seg->memcg, 1);
    }
}

/* Discarded while its swap-out write is in flight (vmscan.c): the mapping
 * and the charge go now, the page and its slot when the write is done,
 * since another thread still reads the page and writes the slot. */
static int orphan_writeback_page(struct segment *seg, struct page *page)
{
    int err = page_set_state(seg->mm, page, PAGE_ALLOCATED);

    if (err)
        return err;
    swap_set_owner(seg->mm, page_swap_entry(page), 0, 0);
    page_clear(page, PG_lru | PG_active | PG_referenced | PG_dirty |
                     PG_uptodate | PG_readahead);
    page_clear_rmap(page);
    page->memcg_id = 0;
    seg->resident--;
    seg->memcg->nr_writeback--;
    uncharge_page(seg, seg->reserving);
    return 0;
}

int segment_zap_pte(struct segment *seg, uint64_t index, pte_t *pte)
{
    struct page *page;
    pfn_t pfn;
    int err;

    if (!pte_present(*pte)) {
        if (swap_entry_count(seg->mm, *pte) > 1) {
            err = rmap_drop_swap(seg, index, *pte);
            if (!err)
                seg->swapped--;
            return err;
        }
        release_swap_entry(seg, *pte);
        return 0;
    }
    pfn = pte_pfn(*pte);
    page = pfn_to_page(seg->mm, pfn);
    if (page->refcount > 1) {
        err = rmap_drop_page(seg, index, page);
        if (!err)
            seg->resident--;
        return err;
    }
    if (page->seg_id != seg->id || page_index(page) != index) {
        dump_page(seg->mm, pfn, "discarding a page mapped elsewhere");
        return -EUCLEAN;
    }
    if (page_test(page, PG_writeback))
        return orphan_writeback_page(seg, page);
    if (page_test(page, PG_swapcache))
        swapcache_free(seg->mm, page);  /* uncharged to swap already */
    lru_del_page(seg->mm, page);
    err = page_set_state(seg->mm, page, PAGE_ALLOCATED);
    if (err)
        return err;
    page->flags = 0;
    page_clear_rmap(page);
    page->memcg_id = 0;
    seg->resident--;
    uncharge_page(seg, seg->reserving);
    ksm_forget_page(seg->mm, pfn);
    return mm_free_pages(seg->mm, pfn, 0);
}

/* pte_release_fn for discard: the entry's page or slot loses this user. */
static int release_data_page(void *arg, uint64_t index, pte_t *pte)
{
    return segment_zap_pte(arg, index, pte);
}

int segment_discard(struct segment *seg, uint64_t first, uint64_t count)
{
    int err;

    if (!seg)
        return -EINVAL;
    err = check_range(seg, first, count);
    if (err || count == 0)
        return err;
    return pgtable_clear_range(&seg->pt, first, first + count - 1,
                               release_data_page, seg);
}

void segment_destroy(struct segment *seg)
{
    struct mm *mm;

    if (!seg)
        return;
    mm = seg->mm;
    /* A failure here is a corrupt page already logged: its pages stay
     * allocated rather than being freed while something may map them. */
    if (segment_discard(seg, 0, seg->npages) || seg->pt.root != PFN_NONE)
        mm_log(MM_LOG_ERR, "mm: segment %u destroyed with %llu pages and "
               "%llu tables it could not free", seg->id,
               (unsigned long long)seg->resident,
               (unsigned long long)seg->pt.nr_tables);
    memcg_unreserve(seg->memcg, seg->reserved);
    seg->reserved = 0;
    ksm_segment_gone(seg);
    rmap_family_leave(seg);
    idr_remove(&mm->segments, seg->id);
    memcg_detach_segment(seg->memcg);
    slab_free(&mm->slab_builtin[SLAB_SEGMENT], seg);
}

/* PTE -> page: pgtable_check; and the counts agree. */
int segment_check(const struct segment *seg)
{
    uint64_t present = 0, swap = 0;
    int err = pgtable_check_counts(&seg->pt, &present, &swap);

    if (err)
        return err;
    CHECK(swap == seg->swapped, "segment %u: %llu swap PTEs, swapped %llu",
          seg->id, (unsigned long long)swap, (unsigned long long)seg->swapped);
    CHECK(present == seg->resident,
          "segment %u: %llu present PTEs, resident %llu", seg->id,
          (unsigned long long)present, (unsigned long long)seg->resident);
    CHECK(seg->resident <= seg->npages, "segment %u: resident %llu > npages %llu",
          seg->id, (unsigned long long)seg->resident,
          (unsigned long long)seg->npages);
    CHECK(seg->reserving || seg->reserved == 0,
          "segment %u: %llu pages reserved without a reservation", seg->id,
          (unsigned long long)seg->reserved);
    CHECK(seg->shared <= seg->resident + seg->swapped,
          "segment %u: %llu shared entries of %llu resident + %llu swapped",
          seg->id, (unsigned long long)seg->shared,
          (unsigned long long)seg->resident, (unsigned long long)seg->swapped);
    CHECK(seg->reserved + seg->resident + seg->swapped - seg->shared <=
          seg->npages,
          "segment %u: reserved %llu + resident %llu + swapped %llu - shared "
          "%llu > npages %llu", seg->id, (unsigned long long)seg->reserved,
          (unsigned long long)seg->resident, (unsigned long long)seg->swapped,
          (unsigned long long)seg->shared, (unsigned long long)seg->npages);
    /* A live reservation covers every index not held alone: one charge
     * for each index, and one for breaking each share. */
    CHECK(!seg->reserving || seg->dead ||
          seg->reserved + seg->resident + seg->swapped - seg->shared ==
          seg->npages,
          "segment %u: reserving, but reserved %llu + resident %llu + swapped "
          "%llu - shared %llu != npages %llu", seg->id,
          (unsigned long long)seg->reserved, (unsigned long long)seg->resident,
          (unsigned long long)seg->swapped, (unsigned long long)seg->shared,
          (unsigned long long)seg->npages);
    CHECK(!seg->dead ||
          (seg->resident == 0 && seg->reserved == 0 && seg->swapped == 0),
          "segment %u: dead with %llu resident, %llu reserved, %llu swapped",
          seg->id, (unsigned long long)seg->resident,
          (unsigned long long)seg->reserved, (unsigned long long)seg->swapped);
    return 0;
}
