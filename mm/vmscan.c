/* vmscan.c - page reclaim: from the LRU tails to the swap file.
 *
 * As Linux's vmscan.c, one context struct (scan_control) carries a reclaim
 * pass: how much to free, what was scanned and freed, the priority, and
 * the target (one memcg at its limit, or every memcg round robin when the
 * pool runs low).  A pass walks priorities DEF_PRIORITY..0, scanning at
 * each lru_size >> priority pages per list (at least a SWAP_CLUSTER_MAX
 * batch), so it starts gentle and grows; it stops as soon as enough is
 * freed, the swap file is full or failing, or the scan budget is spent: every loop
 * here is bounded.  Per memcg (shrink_lruvec): when the inactive list is
 * low the active tail is aged first (referenced pages go round again,
 * the others drop to the inactive list), then the inactive tail is
 * scanned (referenced pages get a second chance, the others are paged
 * out).  Paging out (pageout) takes a slot, writes the page, replaces its
 * PTE, found through the page's reverse map, by the swap entry, moves the
 * charge from the memcg's usage to its swap count (memcg_charge_swap) and
 * frees the page; a page in the swap cache (swap_state.c) is not written
 * at all, its PTEs point at its slot again.  A page shared by a clone
 * family (rmap.c) is written once, to a slot with one user per sharer,
 * and every sharer's PTE becomes
 * that swap entry (Linux's try_to_unmap over the anon_vma); it was
 * referenced if any sharer's PTE was accessed.  A KSM page (PG_ksm,
 * ksm.c) is reclaimed the same way, its sharers found through its stable
 * node instead of the family, which follows it into swap.
 *
 * Each pass tells vmpressure.c what it scanned and reclaimed of every
 * memcg it worked on, and a pass for one memcg how deep it had to go:
 * that is memory.pressure_level.
 *
 * Three callers: allocations (direct reclaim, segment.c, when a zone is at
 * its min watermark), memcg_reclaim() (a charge refused at, or a limit
 * lowered below, a memcg's usage) and mm_background_reclaim(),
 * which rmemd runs from its event loop while a zone is between low and
 * high watermarks (kswapd's job, without a thread: mm/ has none).
 *
 * Reclaim may swap out asynchronously (mm_background_reclaim_async, and
 * direct reclaim under MM_RECLAIM_ASYNC): a page bound for the file - but
 * a KSM page - is not written but queued in the caller's batch, left
 * mapped in every sharer, off the LRU and PG_writeback, its swap entry in
 * the descriptor and its slot owned; the caller writes the batch on
 * another thread and mm_swap_batch_done() finishes each page.  A page read or written
 * meanwhile stays (its slot is freed), one discarded meanwhile becomes an
 * orphan (ALLOCATED + PG_writeback, its slot's owner 0) that completion
 * frees.  An allocation that needs a page now cannot wait for another
 * thread, and mm/ has none: direct reclaim that freed nothing inline but
 * queued writes, or finds writeback in flight that will free some, makes
 * its caller fail with -EAGAIN (vmscan_direct_should_wait, Linux's
 * reclaim_throttle) and the caller retries once a batch is done. */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

struct scan_control {
    uint64_t nr_to_reclaim;             /* stop once this many are freed */
    uint64_t nr_scanned;                /* inactive pages looked at */
    uint64_t nr_reclaimed;              /* pages paged out and freed */
    uint64_t max_scan;                  /* budget of nr_scanned */
    int priority;                       /* scan lru_size >> priority */
    struct memcg *target;               /* NULL: every memcg */
    uint64_t nr_queued;                 /* pages left under writeback in batch */
    bool direct;                        /* for the counters */
    bool swap_stop;                     /* no slot left, or the file fails */
    struct mm_swap_batch *batch;        /* asynchronous: file writes go here */
    bool may_writepage;                 /* a page batch cannot take is written
                                           now (else it stays) */
};

static bool scan_done(const struct scan_control *sc)
{
    return sc->nr_reclaimed + sc->nr_queued >= sc->nr_to_reclaim ||
           sc->swap_stop ||
           sc->nr_scanned >= sc->max_scan ||
           (sc->batch && sc->batch->nr == MM_SWAP_IO_BATCH);
}

/* The PTE that maps a data page, through its reverse map; NULL (logged)
 * if the reverse map is broken. */
static pte_t *page_pte(struct mm *mm, struct page *page, struct segment **segp)
{
    pfn_t pfn = page_to_pfn(mm, page);
    struct segment *seg = idr_find(&mm->segments, page->seg_id);
    pte_t *pte = seg ? pgtable_lookup(&seg->pt, page_index(page)) : NULL;

    if (!pte || !pte_present(*pte) || pte_pfn(*pte) != pfn) {
        dump_page(mm, pfn, "reclaim: reverse map names no PTE of this page");
        return NULL;
    }
    *segp = seg;
    return pte;
}

static void clear_young(struct segment *seg, pte_t *pte, void *arg)
{
    bool *young = arg;

    (void)seg;
    *young |= (*pte & PTE_ACCESSED) != 0;
    *pte &= ~PTE_ACCESSED;
}

/* Linux's folio_referenced() + TestClearPageReferenced in one: the page
 * was used, through any of its PTEs, since it was last looked at; every
 * bit starts over. */
static bool test_clear_referenced(struct mm *mm, struct page *page)
{
    struct segment *seg;
    pte_t *pte = page_pte(mm, page, &seg);
    bool young = false;
    bool referenced = page_test(page, PG_referenced);

    if (pte && page_test(page, PG_ksm))
        ksm_rmap_walk(mm, page, clear_young, &young);
    else if (pte)
        rmap_walk(seg, page_index(page), *pte, clear_young, &young);
    page_clear(page, PG_referenced);
    return referenced || young;
}

struct unmap_walk {
    pte_t entry;
    unsigned nr;
};

/* One sharer's PTE becomes the swap entry: Linux's try_to_unmap_one. */
static void unmap_one(struct segment *seg, pte_t *pte, void *arg)
{
    struct unmap_walk *w = arg;

    *pte = w->entry;
    seg->resident--;
    seg->swapped++;
    w->nr++;
}

/* The page's contents are in its slot (or in zswap): every sharer's PTE
 * becomes the swap entry (one user of the slot each), the charge moves to
 * swap once, the page is freed. */
static int unmap_and_free(struct mm *mm, struct page *page, struct segment *seg,
                          pte_t *pte, pte_t entry)
{
    struct unmap_walk w = { entry, 0 };
    uint64_t index = page_index(page);
    pfn_t pfn = page_to_pfn(mm, page);

    /* The family caps its members below the slot's maximum count, and
     * ksm.c its mappers. */
    for (int32_t i = 1; i < page->refcount; i++)
        swap_dup_entry(mm, entry);
    swap_set_owner(mm, entry, seg->id, index);
    if (page_test(page, PG_ksm)) {
        ksm_rmap_walk(mm, page, unmap_one, &w);
        ksm_page_swapped(mm, page, entry);     /* its node follows it */
    } else {
        rmap_walk(seg, index, *pte, unmap_one, &w);
    }
    memcg_charge_swap(seg->memcg, 1);   /* memory -> swap, memsw as it was */
    page->refcount = 1;                 /* as the buddy allocator handed it out */
    page->flags = 0;
    page_clear_rmap(page);
    page->memcg_id = 0;
    if (page_set_state(mm, page, PAGE_ALLOCATED))
        return -EUCLEAN;        /* logged; the page stays out of circulation */
    ksm_forget_page(mm, pfn);
    return mm_free_pages(mm, pfn, 0);
}

/* Asynchronous swap-out: the page stays mapped and readable, off the LRU,
 * until mm_swap_batch_done(); a write in between re-dirties it. */
static void start_writeback(struct mm *mm, struct segment *seg,
                            struct page *page, pte_t entry)
{
    page_set(page, PG_writeback);
    page_clear(page, PG_dirty);
    page_set_swap_entry(page, entry);
    mm->nr_writeback++;
    seg->memcg->nr_writeback++;
}

/* Swap one isolated-to-be page out and free it: 0; or, with sc->batch,
 * queue its write: 1; or -EAGAIN (it needs a write this pass may not
 * do), -ENOSPC (no slot), -EIO (write failed) or -EUCLEAN, with the page
 * left on its list.  A page shared by a clone family waits for its write
 * mapped in every sharer, as a page of one user does; a KSM page, whose
 * sharers KSM may change at any step, is written and unmapped at once. */
static int pageout(struct scan_control *sc, struct mm *mm, struct page *page)
{
    pfn_t pfn = page_to_pfn(mm, page);
    struct segment *seg;
    pte_t *pte, entry;
    uint64_t index = page_index(page);
    bool queue = sc->batch && !page_test(page, PG_ksm);
    int err;

    pte = page_pte(mm, page, &seg);
    if (!pte)
        return -EUCLEAN;
    if ((page_test(page, PG_ksm) ? ksm_rmap_walk(mm, page, NULL, NULL) :
                                   rmap_walk(seg, index, *pte, NULL, NULL)) !=
        (unsigned)page->refcount) {
        dump_page(mm, pfn, "reclaim: refcount is not the PTEs mapping it");
        return -EUCLEAN;
    }
    /* Unwritten since it came from its slot: the slot has it already. */
    if (page_test(page, PG_swapcache)) {
        lru_del_page(mm, page);
        return unmap_and_free(mm, page, seg, pte, swapcache_take(mm, page));
    }
    err = swap_alloc_slot(mm, &entry);
    if (err)
        return err;
    swap_set_owner(mm, entry, seg->id, index);
    lru_del_page(mm, page);
    page_set(page, PG_locked);
    err = swap_writepage(mm, pfn, entry, queue ? sc->batch : NULL,
                         !queue && sc->may_writepage);
    page_clear(page, PG_locked);
    if (err == 1) {
        sc->batch->io[sc->batch->nr - 1].kind =
            sc->direct ? SWAP_IO_DIRECT : SWAP_IO_KSWAPD;
        start_writeback(mm, seg, page, entry);
        return 1;
    }
    if (err) {
        swap_free_entry(mm, entry);
        lru_add_page(mm, page);
        return err;
    }
    return unmap_and_free(mm, page, seg, pte, entry);
}

/* A page reclaim found in use stays resident: with swap over half full
 * its swap-cache slot is worth more free (Linux's activate_locked). */
static void keep_page(struct mm *mm, struct page *page)
{
    if (page_test(page, PG_swapcache) && swap_half_full(mm))
        swapcache_free(mm, page);
}

/* in: the inactive list of the pair (anon or file) to work on; in + 1 is
 * its active list. */
static void shrink_active_list(struct mm *mm, struct lruvec *lv,
                               enum lru_list in, uint64_t nr_to_scan)
{
    for (uint64_t i = 0; i < nr_to_scan; i++) {
        pfn_t pfn = lv->lists[in + 1].tail;
        struct page *page;

        if (pfn == PFN_NONE)
            break;
        page = pfn_to_page(mm, pfn);
        if (test_clear_referenced(mm, page)) {
            keep_page(mm, page);
            lru_move_page(mm, page, in + 1);
            continue;
        }
        lru_move_page(mm, page, in);
        mm->events[MM_EV_pgdeactivate]++;
    }
}

static void shrink_inactive_list(struct scan_control *sc, struct mm *mm,
                                 struct lruvec *lv, enum lru_list in,
                                 uint64_t nr_to_scan)
{
    for (uint64_t i = 0; i < nr_to_scan && !scan_done(sc); i++) {
        pfn_t pfn = lv->lists[in].tail;
        struct page *page;
        int err;

        if (pfn == PFN_NONE)
            break;
        page = pfn_to_page(mm, pfn);
        sc->nr_scanned++;
        mm->events[sc->direct ? MM_EV_pgscan_direct : MM_EV_pgscan_kswapd]++;
        if (test_clear_referenced(mm, page)) {
            keep_page(mm, page);
            lru_move_page(mm, page, in);
            mm->events[MM_EV_pgrotated]++;
            continue;
        }
        err = pageout(sc, mm, page);
        if (err == 1) {
            sc->nr_queued++;            /* pgsteal counts it once written */
            continue;
        }
        if (err == -EAGAIN)
            continue;                   /* back on its list: others may do */
        if (err && err != -EUCLEAN) {
            /* Swap is full or failing: this pass cannot free anything
             * more, and hammering a failing file helps no one. */
            if (page_test(page, PG_lru))
                lru_move_page(mm, page, in);
            sc->swap_stop = true;
            break;
        }
        if (err) {
            /* A broken reverse map (logged): skip the page. */
            lru_move_page(mm, page, in);
            continue;
        }
        sc->nr_reclaimed++;
        mm->events[sc->direct ? MM_EV_pgsteal_direct : MM_EV_pgsteal_kswapd]++;
    }
}

static uint64_t scan_size(uint64_t lru_size, int priority)
{
    uint64_t nr = lru_size >> priority;
    uint64_t batch = lru_size < SWAP_CLUSTER_MAX ? lru_size : SWAP_CLUSTER_MAX;

    return nr > batch ? nr : batch;
}

static void shrink_lruvec(struct scan_control *sc, struct mm *mm,
                          struct memcg *cg)
{
    struct lruvec *lv = &cg->lruvec;
    uint64_t scanned = sc->nr_scanned;
    uint64_t reclaimed = sc->nr_reclaimed + sc->nr_queued;

    /* Both pairs alike: every page goes to swap, named or not (Linux's
     * swappiness balance has no cheaper file writeback to weigh here). */
    for (int file = 0; file <= 1 && !scan_done(sc); file++) {
        enum lru_list in = file ? LRU_INACTIVE_FILE : LRU_INACTIVE_ANON;

        if (lru_inactive_is_low(lv, file))
            shrink_active_list(mm, lv, in, scan_size(lv->lists[in + 1].nr,
                                                     sc->priority));
        shrink_inactive_list(sc, mm, lv, in,
                             scan_size(lv->lists[in].nr, sc->priority));
    }
    vmpressure(cg, sc->nr_scanned - scanned,
               sc->nr_reclaimed + sc->nr_queued - reclaimed);
}

/* Every memcg once, from where the last global pass stopped, so that no
 * tenant is always the first victim. */
static void shrink_all_memcgs(struct scan_control *sc, struct mm *mm)
{
    uint32_t start = mm->reclaim_next, id = idr_next(&mm->memcgs, start);
    bool wrapped = false;

    for (;;) {
        if (id == 0) {
            if (wrapped || start <= 1)
                break;
            wrapped = true;
            id = idr_next(&mm->memcgs, 1);
            continue;
        }
        if (wrapped && id >= start)
            break;
        shrink_lruvec(sc, mm, idr_find(&mm->memcgs, id));
        mm->reclaim_next = id + 1;
        if (scan_done(sc))
            break;
        id = idr_next(&mm->memcgs, id + 1);
    }
}

static void do_try_to_free_pages(struct scan_control *sc, struct mm *mm)
{
    for (sc->priority = DEF_PRIORITY; sc->priority >= 0; sc->priority--) {
        if (sc->target) {
            vmpressure_prio(sc->target, sc->priority);
            shrink_lruvec(sc, mm, sc->target);
        } else {
            shrink_all_memcgs(sc, mm);
        }
        if (scan_done(sc))
            break;
    }
    /* Stopped short for want of swap: Linux's pass would have gone on
     * down to priority 0, finding nothing it may reclaim. */
    if (sc->target && sc->swap_stop &&
        sc->nr_reclaimed + sc->nr_queued < sc->nr_to_reclaim)
        vmpressure_prio(sc->target, 0);
}

void mm_set_direct_reclaim(struct mm *mm, enum mm_reclaim_mode mode,
                           struct mm_swap_batch *b)
{
    if (!mm)
        return;
    if (mode == MM_RECLAIM_ASYNC && !b)
        mode = MM_RECLAIM_NOIO;
    mm->direct_mode = mode;
    mm->direct_batch = mode == MM_RECLAIM_ASYNC ? b : NULL;
}

/* Direct reclaim as mm_set_direct_reclaim() says; background reclaim
 * passes its own batch to mm_background_reclaim_async(). */
uint64_t vmscan_try_to_free_pages(struct mm *mm, struct memcg *cg,
                                  uint64_t nr_pages, bool direct)
{
    struct scan_control sc = {
        .nr_to_reclaim = nr_pages,
        .max_scan = UINT64_MAX,
        .target = cg,
        .direct = direct,
        .batch = direct ? mm->direct_batch : NULL,
        .may_writepage = !direct || mm->direct_mode != MM_RECLAIM_NOIO,
    };

    if (nr_pages == 0)
        return 0;
    if (!swap_active(mm)) {
        /* Nothing can be reclaimed at all: as deep as a pass goes. */
        if (cg)
            vmpressure_prio(cg, 0);
        return 0;
    }
    if (direct)
        mm->events[MM_EV_allocstall]++;
    do_try_to_free_pages(&sc, mm);
    return sc.nr_reclaimed;
}

/* Linux's reclaim_throttle(VMSCAN_THROTTLE_WRITEBACK), left to the
 * caller: direct reclaim freed nothing now, but writes it queued, or
 * writeback of pages cg (or, NULL, anyone) could use, will free some. */
bool vmscan_direct_should_wait(const struct mm *mm, const struct memcg *cg)
{
    if (mm->direct_mode != MM_RECLAIM_ASYNC)
        return false;
    if (mm->direct_batch->nr > 0)
        return true;
    /* zswap's memory is nobody's charge: only the pool gains by it. */
    return cg ? cg->nr_writeback > 0 :
                mm->nr_writeback > 0 || mm->zswap.nr_writeback > 0;
}

/* Pages to free until every zone is above high; 0 when none is below low
 * and background reclaim is not already running. */
static uint64_t background_deficit(const struct mm *mm)
{
    uint64_t deficit = 0;
    bool below_low = false;

    for (unsigned z = 0; z < mm->nr_zones; z++) {
        const struct zone *zone = &mm->zones[z];

        if (zone->free_pages < zone->watermark[WMARK_LOW])
            below_low = true;
        if (zone->free_pages < zone->watermark[WMARK_HIGH])
            deficit += zone->watermark[WMARK_HIGH] - zone->free_pages;
    }
    /* Pages under writeback will be free soon: no need to take more. */
    deficit = deficit > mm->nr_writeback ? deficit - mm->nr_writeback : 0;
    return below_low || mm->kswapd_awake ? deficit : 0;
}

bool mm_reclaim_pending(const struct mm *mm)
{
    return mm && swap_active(mm) && background_deficit(mm) > 0;
}

/* One bounded step of kswapd's balance_pgdat(): wakes below low, works
 * toward high, sleeps when there or when nothing more can be freed. */
uint64_t mm_background_reclaim_async(struct mm *mm, uint64_t budget,
                                     struct mm_swap_batch *b)
{
    struct scan_control sc = { .max_scan = budget, .batch = b,
                               .may_writepage = true };
    uint64_t deficit;

    if (b)
        b->nr = 0;
    if (!mm || !swap_active(mm) || budget == 0)
        return 0;
    deficit = background_deficit(mm);
    if (deficit == 0) {
        mm->kswapd_awake = false;
        return 0;
    }
    mm->kswapd_awake = true;
    sc.nr_to_reclaim = deficit;
    do_try_to_free_pages(&sc, mm);
    if (background_deficit(mm) == 0 || sc.swap_stop || sc.nr_scanned == 0)
        mm->kswapd_awake = false;
    return sc.nr_reclaimed + sc.nr_queued;
}

uint64_t mm_background_reclaim(struct mm *mm, uint64_t budget)
{
    return mm_background_reclaim_async(mm, budget, NULL);
}

uint64_t mm_nr_writeback(const struct mm *mm)
{
    return mm->nr_writeback;
}

/* Any thread: the batch's writes, one pwritev per run of adjacent slots
 * (the cluster allocator hands out adjacent slots to pages reclaimed
 * together). */
void mm_swap_io_run(struct mm_swap_batch *b)
{
    struct iovec iov[MM_SWAP_IO_BATCH];

    /* One device round trip for the batch: its writes are queued at once.
     * An empty batch's latency was never set. */
    if (b->nr && b->latency_us)
        os_delay_us(b->latency_us);
    for (unsigned i = 0, n; i < b->nr; i += n) {
        int err;

        for (n = 1; i + n < b->nr && b->io[i + n].fd == b->io[i].fd &&
                    b->io[i + n].pos == b->io[i].pos + (uint64_t)n * MM_PAGE_SIZE;
             n++)
            ;
        for (unsigned k = 0; k < n; k++) {
            iov[k].iov_base = (void *)b->io[i + k].page;
            iov[k].iov_len = MM_PAGE_SIZE;
        }
        err = os_swap_writev(b->io[i].fd, iov, n, b->io[i].pos);
        for (unsigned k = 0; k < n; k++)
            b->io[i + k].err = err;
    }
}

/* A page discarded while its write was in flight: it and its slot go. */
static void free_orphan(struct mm *mm, struct page *page, pte_t entry)
{
    swap_free_entry(mm, entry);
    page->flags = 0;
    page->next = page->prev = PFN_NONE;
    mm_free_pages(mm, page_to_pfn(mm, page), 0);
}

static void test_young(struct segment *seg, pte_t *pte, void *arg)
{
    (void)seg;
    *(bool *)arg |= (*pte & PTE_ACCESSED) != 0;
}

static void finish_writeback(struct mm *mm, const struct mm_swap_io *io)
{
    struct page *page = pfn_to_page(mm, io->pfn);
    struct segment *seg;
    bool young = false;
    pte_t *pte;

    if (!pfn_valid(mm, io->pfn) || !page_test(page, PG_writeback) ||
        page_swap_entry(page) != io->entry) {
        dump_page(mm, io->pfn, "swap-out completion of a page not under writeback");
        return;
    }
    mm->nr_writeback--;
    if (page->state == PAGE_ALLOCATED) {
        free_orphan(mm, page, io->entry);
        return;
    }
    page_clear(page, PG_writeback);
    page->next = page->prev = PFN_NONE;
    pte = page_pte(mm, page, &seg);
    if (!pte)
        return;                 /* logged; the page stays out of circulation */
    seg->memcg->nr_writeback--;
    if (io->err) {
        swap_io_error(mm, "write", io->pos, io->err);
        page_set(page, PG_dirty);
    }
    /* Written or read, through any sharer, meanwhile: not cold after all,
     * and a written page's slot may hold a torn copy.  Cloned meanwhile
     * (clone.c dirtied it): in use by more than the slot was taken for.
     * It stays; the slot goes. */
    rmap_walk(seg, page_index(page), *pte, test_young, &young);
    if (io->err || page_test(page, PG_dirty) || young) {
        swap_free_entry(mm, io->entry);
        lru_add_page(mm, page);
        return;
    }
    mm->events[MM_EV_pswpout]++;
    mm->events[io->kind == SWAP_IO_DIRECT ? MM_EV_pgsteal_direct :
                                            MM_EV_pgsteal_kswapd]++;
    unmap_and_free(mm, page, seg, pte, io->entry);
}

void mm_swap_batch_done(struct mm *mm, struct mm_swap_batch *b)
{
    for (unsigned i = 0; i < b->nr; i++) {
        if (b->io[i].kind == SWAP_IO_ZSWAP)
            zswap_writeback_done(mm, &b->io[i]);
        else
            finish_writeback(mm, &b->io[i]);
    }
    b->nr = 0;
}

static const char *const vm_event_names[NR_MM_VM_EVENTS] = {
#define MM_VM_EVENT_NAME(name) #name,
    MM_VM_EVENTS(MM_VM_EVENT_NAME)
#undef MM_VM_EVENT_NAME
};

const char *mm_vm_event_name(unsigned event)
{
    return event < NR_MM_VM_EVENTS ? vm_event_names[event] : "unknown";
}

void mm_get_vm_events(const struct mm *mm, uint64_t events[NR_MM_VM_EVENTS])
{
    for (unsigned e = 0; e < NR_MM_VM_EVENTS; e++)
        events[e] = mm->events[e];
}
