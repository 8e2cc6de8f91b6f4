/* swap_state.c - the swap cache: a page swapped in keeps its slot.
 *
 * As Linux's swap_state.c: a page read back from a swap slot may keep the
 * slot (PG_swapcache, the entry in mm->swapcache by pfn, as Linux keeps it
 * in folio->swap), so that while the page stays unwritten its contents are
 * still in the slot, and reclaim takes it back by pointing the PTEs at the
 * slot again and freeing the page - no write, no new slot.  The first
 * write to the page frees the slot (Linux frees it then only when swap is
 * over half full; rmem always does, so a PG_swapcache page is never
 * dirty and needs no writeback of its own).  Discarding the page frees the
 * slot with it.
 *
 * Which pages keep their slot: one swapped in (or read ahead) from a slot
 * it held alone - not a slot shared by a clone family or a KSM node,
 * whose other users still name it by their PTEs; not one zswap held (the
 * compressed copy is dropped instead of kept beside the page, as Linux's
 * zswap does on load); and not while swap is over half full (Linux's
 * vm_swap_full), when slots are worth more free.  A cached page found in
 * use by reclaim with swap over half full gives its slot back too.  KSM
 * takes a page out of the cache when it makes it a KSM page.
 *
 * Charges, as cgroup v1: the page is charged to memory; its slot is not
 * charged to swap (the swap charge moved to memory at swap-in, Linux's
 * mem_cgroup_swapin_uncharge_swap), so memsw counts the pair once.
 * Reclaim moves the charge back to swap, as for any page swapped out;
 * freeing the slot changes no charge.  The slot's owner is the page's
 * reverse map (segment, index), and moves with it (rmap.c).
 *
 * Identities swapcache_check() verifies: PG_swapcache pages == nr_swapcache;
 * each is DATA, clean, not KSM, not under I/O, and its entry names a slot
 * of one user owned by the page's reverse map; every other page has no
 * entry.  mm_check() adds the cached slots to the slots in use. */
#include <errno.h>

#include "internal.h"

int swapcache_init(struct mm *mm)
{
    if (mm->swapcache)
        return 0;
    mm->swapcache = mm_kvzalloc(mm, mm->nr_pages * sizeof(*mm->swapcache));
    return mm->swapcache ? 0 : -ENOMEM;
}

void swapcache_fini(struct mm *mm)
{
    mm_kvfree(mm, mm->swapcache);
    mm->swapcache = NULL;
}

bool swapcache_may_keep(const struct mm *mm, pte_t entry)
{
    return mm->swapcache && swap_entry_count(mm, entry) == 1 &&
           !ksm_swap_mappers(mm, entry) &&
           !zswap_has(mm, pte_swp_type(entry), pte_swp_offset(entry)) &&
           !swap_half_full(mm);
}

void swapcache_add(struct mm *mm, struct page *page, pte_t entry)
{
    page_set(page, PG_swapcache);
    page_clear(page, PG_dirty);
    mm->swapcache[page_to_pfn(mm, page)] = entry;
    mm->nr_swapcache++;
}

pte_t swapcache_take(struct mm *mm, struct page *page)
{
    pfn_t pfn = page_to_pfn(mm, page);
    pte_t entry = mm->swapcache[pfn];

    mm->swapcache[pfn] = 0;
    page_clear(page, PG_swapcache);
    mm->nr_swapcache--;
    return entry;
}

/* The slot goes; the page is the only copy of its contents again. */
void swapcache_free(struct mm *mm, struct page *page)
{
    swap_free_entry(mm, swapcache_take(mm, page));
    page_set(page, PG_dirty);
}

pte_t swapcache_entry(const struct mm *mm, const struct page *page)
{
    return page_test(page, PG_swapcache) ? mm->swapcache[page_to_pfn(mm, page)] : 0;
}

uint64_t memcg_swapcache_pages(const struct memcg *cg)
{
    const struct mm *mm = cg->mm;
    uint64_t n = 0;

    for (pfn_t pfn = 0; mm->nr_swapcache && pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);

        n += page_test(page, PG_swapcache) && page->memcg_id == cg->id;
    }
    return n;
}

int swapcache_check(const struct mm *mm)
{
    uint64_t n = 0;

    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);
        pte_t entry = mm->swapcache ? mm->swapcache[pfn] : 0;

        if (!page_test(page, PG_swapcache)) {
            CHECK(!entry, "swapcache: page %u has swap entry %llx, no "
                  "PG_swapcache", (unsigned)pfn, (unsigned long long)entry);
            continue;
        }
        CHECK(page->state == PAGE_DATA &&
              !page_test(page, PG_dirty | PG_ksm | PG_writeback | PG_locked),
              "swapcache: page %u in the swap cache is %s, flags %#x",
              (unsigned)pfn, page_state_name(page->state), page->flags);
        CHECK(swap_entry_count(mm, entry) == 1 &&
              swap_entry_owner(mm, entry) == page->seg_id &&
              swap_entry_index(mm, entry) == page_index(page),
              "swapcache: page %u of (%u, %llu): its entry %llx has %u "
              "users, owner %u", (unsigned)pfn, page->seg_id,
              (unsigned long long)page_index(page), (unsigned long long)entry,
              swap_entry_count(mm, entry), swap_entry_owner(mm, entry));
        n++;
    }
    CHECK(n == mm->nr_swapcache, "swapcache: %llu pages, nr_swapcache %llu",
          (unsigned long long)n, (unsigned long long)mm->nr_swapcache);
    return 0;
}
