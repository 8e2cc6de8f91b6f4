/* segment.c - segments: ranges of page indices backed lazily by pool pages.
 *
 * The vmalloc of rmem: an index range that looks contiguous to clients,
 * backed by scattered order-0 pages found through the segment's page table
 * (pgtable.c).  A page is allocated on its first write only, so a segment
 * of 2^36 pages costs nothing until it is written, and never-written pages
 * read as zeros.  A first write charges the memcg, allocates the page,
 * fills it and only then installs the PTE: a failure at any step undoes the
 * ones before it, so no reader ever sees a half-written page and nothing
 * leaks.
 *
 * With a swap file on (swap.c), a page may be a swap entry instead: a read
 * swaps it in, a write replaces it by a new page without reading it (the
 * whole page is overwritten), and a new page that finds the memcg at its
 * limit or the pool at its min watermark reclaims first (vmscan.c).  Every
 * resident page is on its memcg's LRU lists and every access marks it
 * (lru.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            mm_log(MM_LOG_ERR, __VA_ARGS__);            \
            return -EUCLEAN;                            \
        }                                               \
    } while (0)

int segment_create(struct mm *mm, struct memcg *cg, uint64_t npages,
                   struct segment **out)
{
    struct segment *seg;
    int err;

    if (!mm || !cg || !out || cg->mm != mm || cg->dying)
        return -EINVAL;
    if (npages == 0 || npages > SEGMENT_MAX_PAGES)
        return -EINVAL;
    seg = calloc(1, sizeof(*seg));
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
    free(seg);
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

uint64_t segment_swapped_pages(const struct segment *seg)
{
    return seg->swapped;
}

/* Reclaim is tried this many times, each after some progress. */
#define RECLAIM_RETRIES 8

static int charge_page(struct segment *seg, enum alloc_purpose purpose)
{
    int err = memcg_try_charge(seg->memcg, 1);

    /* At the limit: make room inside this memcg (memcg reclaim). */
    for (unsigned i = 0; err == -ENOMEM && purpose == ALLOC_DATA &&
                         i < RECLAIM_RETRIES; i++) {
        if (!vmscan_try_to_free_pages(seg->mm, seg->memcg, SWAP_CLUSTER_MAX, true))
            break;
        err = memcg_try_charge(seg->memcg, 1);
    }
    return err;
}

static int alloc_page(struct segment *seg, enum alloc_purpose purpose,
                      pfn_t *pfn)
{
    int err = mm_alloc_pages(seg->mm, 0, purpose, pfn);

    /* Every zone at min: direct reclaim over every memcg. */
    for (unsigned i = 0; err == -ENOMEM && purpose == ALLOC_DATA &&
                         i < RECLAIM_RETRIES; i++) {
        if (!vmscan_try_to_free_pages(seg->mm, NULL, SWAP_CLUSTER_MAX, true))
            break;
        err = mm_alloc_pages(seg->mm, 0, purpose, pfn);
    }
    return err;
}

int segment_get_page(struct segment *seg, uint64_t index,
                     enum alloc_purpose purpose, pfn_t *out)
{
    struct page *page;
    pfn_t pfn;
    int err;

    err = charge_page(seg, purpose);
    if (err)
        return err;
    err = alloc_page(seg, purpose, &pfn);
    if (err)
        goto err_uncharge;
    page = pfn_to_page(seg->mm, pfn);
    err = page_set_state(seg->mm, page, PAGE_DATA);
    if (err)
        goto err_free_page;
    page_set_rmap(page, seg->id, index);
    page->memcg_id = seg->memcg->id;
    *out = pfn;
    return 0;

err_free_page:
    mm_free_pages(seg->mm, pfn, 0);
err_uncharge:
    memcg_uncharge(seg->memcg, 1);
    return err;
}

/* Undo segment_get_page() for a page never mapped nor listed. */
void segment_unget_page(struct segment *seg, pfn_t pfn)
{
    struct page *page = pfn_to_page(seg->mm, pfn);

    page->flags = 0;
    page_clear_rmap(page);
    page->memcg_id = 0;
    if (page_set_state(seg->mm, page, PAGE_ALLOCATED) == 0)
        mm_free_pages(seg->mm, pfn, 0);
    memcg_uncharge(seg->memcg, 1);
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
    err = check_range(seg, first, count);
    if (err)
        return err;
    for (uint32_t i = 0; i < count; i++) {
        err = read_one_page(seg, first + i, (char *)dst + (size_t)i * MM_PAGE_SIZE);
        if (err)
            return err;
    }
    return 0;
}

static void overwrite_page(struct segment *seg, pte_t *pte, const void *src)
{
    struct page *page = pfn_to_page(seg->mm, pte_pfn(*pte));

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

    err = segment_get_page(seg, index, ALLOC_DATA, &pfn);
    if (err)
        return err;
    page = pfn_to_page(seg->mm, pfn);
    memcpy(page_address(seg->mm, pfn), src, MM_PAGE_SIZE);
    page_set(page, PG_dirty | PG_uptodate);
    err = pgtable_install(&seg->pt, index, pfn_pte(pfn, PTE_DIRTY | PTE_ACCESSED));
    if (err) {
        segment_unget_page(seg, pfn);
        return err;
    }
    seg->resident++;
    lru_add_page(seg->mm, page);
    return 0;
}

/* The whole page is new: the swapped copy is dropped unread. */
static int write_swapped_page(struct segment *seg, uint64_t index, pte_t *pte,
                              const void *src)
{
    struct page *page;
    pfn_t pfn;
    int err;

    err = segment_get_page(seg, index, ALLOC_DATA, &pfn);
    if (err)
        return err;
    page = pfn_to_page(seg->mm, pfn);
    memcpy(page_address(seg->mm, pfn), src, MM_PAGE_SIZE);
    page_set(page, PG_dirty | PG_uptodate);
    swap_free_entry(seg->mm, *pte);
    seg->swapped--;
    seg->memcg->swap--;
    *pte = pfn_pte(pfn, PTE_DIRTY | PTE_ACCESSED);
    seg->resident++;
    lru_add_page(seg->mm, page);
    return 0;
}

static int write_one_page(struct segment *seg, uint64_t index, const void *src)
{
    pte_t *pte = pgtable_lookup(&seg->pt, index);

    if (pte && pte_present(*pte)) {
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

/* pte_release_fn for discard: the data page goes back to the buddy
 * allocator and its charge back to the memcg. */
static int release_data_page(void *arg, uint64_t index, pte_t *pte)
{
    struct segment *seg = arg;
    struct page *page;
    pfn_t pfn;
    int err;

    if (!pte_present(*pte)) {
        swap_free_entry(seg->mm, *pte);
        seg->swapped--;
        seg->memcg->swap--;
        return 0;
    }
    pfn = pte_pfn(*pte);
    page = pfn_to_page(seg->mm, pfn);
    if (page->seg_id != seg->id || page_index(page) != index) {
        dump_page(seg->mm, pfn, "discarding a page mapped elsewhere");
        return -EUCLEAN;
    }
    lru_del_page(seg->mm, page);
    err = page_set_state(seg->mm, page, PAGE_ALLOCATED);
    if (err)
        return err;
    page->flags = 0;
    page_clear_rmap(page);
    page->memcg_id = 0;
    seg->resident--;
    memcg_uncharge(seg->memcg, 1);
    return mm_free_pages(seg->mm, pfn, 0);
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
    idr_remove(&mm->segments, seg->id);
    memcg_detach_segment(seg->memcg);
    free(seg);
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
    return 0;
}

/* page -> PTE: a DATA page's reverse map names a live segment whose PTE at
 * that index maps this very page, and the owner is the segment's memcg. */
int segment_check_data_page(const struct mm *mm, pfn_t pfn)
{
    const struct page *page = pfn_to_page(mm, pfn);
    const struct segment *seg = idr_find(&mm->segments, page->seg_id);
    uint64_t index = page_index(page);
    const pte_t *pte;

    CHECK(seg, "mm: data page %u: rmap names no segment (%u)", (unsigned)pfn,
          page->seg_id);
    CHECK(index < seg->npages, "mm: data page %u: rmap index %llu past segment "
          "%u end %llu", (unsigned)pfn, (unsigned long long)index, seg->id,
          (unsigned long long)seg->npages);
    pte = pgtable_lookup(&seg->pt, index);
    CHECK(pte && pte_present(*pte) && pte_pfn(*pte) == pfn,
          "mm: data page %u: segment %u index %llu does not map it", (unsigned)pfn,
          seg->id, (unsigned long long)index);
    CHECK(page->memcg_id == seg->memcg->id,
          "mm: data page %u: owner memcg %u, segment charges %u", (unsigned)pfn,
          page->memcg_id, seg->memcg->id);
    return 0;
}
