/* page.h - the memmap: one descriptor per pool page.
 *
 * A descriptor is 32 bytes (Linux's struct page is 64): links and the
 * reverse map are 32-bit pfns and ids instead of pointers.  Its life is a
 * small state machine; page_set_state() (page.c) is the only code that
 * changes ->state, and it refuses a transition from the wrong predecessor.
 *
 *   FREE  --buddy alloc-->  ALLOCATED  --segment write-->  DATA
 *   ^  |                      |   ^  <--discard / destroy--'
 *   |  '-----buddy free-------'   |--> TABLE (page-table page) --'
 *   |                             |--> SLAB (slab of a cache) ---'
 *   |                             '--> KVMALLOC (a big object) --'
 *   '--merge / split-->  TAIL  <--slab's own pages--> SLAB
 *                         '--split of an allocated block--> ALLOCATED
 *
 * The state of a buddy block lives on its first page, its head (buddy.c):
 * FREE, ALLOCATED and the roles after ALLOCATED are heads' states; the
 * other pages of a block are TAIL and clean (every field 0) while it is
 * free or allocated, and only a slab gives them a role (SLAB) for as long
 * as it holds the block, because kfree takes any address in a slab and
 * must find the slab from the page.  A kvmalloc object is freed by its
 * first address alone, so its tails stay TAIL: the run is split
 * (buddy_split_pages, Linux's split_page) into allocated blocks, largest
 * first, whose heads turn KVMALLOC - a few descriptors, not one per page.
 *
 * Which fields mean what depends on the state:
 *   FREE       the head of a free buddy block: PG_buddy, ->order and
 *              ->next/->prev on its zone's free list of its pageblock's
 *              migrate type.
 *   TAIL       any other page of a buddy block, free or allocated.
 *   ALLOCATED  the head of a block handed out by the buddy allocator, no
 *              role yet; it keeps ->order = n for an order-n block.
 *   DATA       holds page index ->index of segment ->seg_id, charged to
 *              memcg ->memcg_id; ->refcount PTEs name it.  With refcount
 *              > 1 it is shared by a clone family (rmap.c): every
 *              sharer's PTE has PTE_COW, (->seg_id, ->index) is one of
 *              them, and the others map it at the same index.  It leaves
 *              DATA only when its last PTE goes, with refcount back at 1.
 *              With PG_ksm it is a KSM page (ksm.c): identical pages of
 *              one memcg merged, its mappers at any (segment, index),
 *              listed by its stable node; (->seg_id, ->index) is one
 *              of them, and refcount is how many.
 *              Under asynchronous swap-out (PG_writeback, off the LRU)
 *              ->next/->prev hold the swap entry being written, as
 *              Linux's page->private.  With PG_swapcache it still has
 *              the slot it was swapped in from (swap_state.c), whose
 *              entry mm->swapcache keeps by pfn.
 *   ALLOCATED  with PG_writeback: a page discarded while its swap-out
 *              write was in flight; it and its slot are freed when the
 *              write completes (vmscan.c).
 *   TABLE      a page-table page of segment ->seg_id covering indices from
 *              ->index; ->nr_used entries are not none.
 *   SLAB       a page of a slab of cache ->seg_id (slab.c).  The slab's
 *              first page has PG_slab, keeps ->order, links the cache's
 *              slab lists through ->next/->prev, holds the index of its
 *              first free object in ->index_lo and its objects in use in
 *              ->nr_used; every other page names the first in ->index_lo.
 *   KVMALLOC   the head of one block of a run holding an object too big for
 *              kmalloc (kvmalloc.c): ->order is its block's, ->refcount
 *              1; each names the run's first page in ->index_lo, and the
 *              first holds the run's length in pages in ->nr_used.  The
 *              blocks' other pages are TAIL. */
#ifndef RMEM_MM_PAGE_H
#define RMEM_MM_PAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"

#define PAGE_STATES(X)  \
    X(FREE)             \
    X(ALLOCATED)        \
    X(DATA)             \
    X(TABLE)            \
    X(SLAB)             \
    X(KVMALLOC)         \
    X(TAIL)

enum page_state {
#define PAGE_STATE_ENUM(s) PAGE_##s,
    PAGE_STATES(PAGE_STATE_ENUM)
#undef PAGE_STATE_ENUM
    NR_PAGE_STATES
};

/* Page flags, as Linux names them.  PG_lru/active/referenced are kept by
 * the LRU code (lru.c), PG_locked marks a page under swap I/O,
 * PG_swapcache one holding its swap slot (swap_state.c); a DATA page with
 * any of PG_lru, PG_locked or PG_swapcache cannot change state (page.c). */
#define PAGE_FLAGS(X)   \
    X(buddy)            \
    X(locked)           \
    X(dirty)            \
    X(uptodate)         \
    X(lru)              \
    X(active)           \
    X(referenced)       \
    X(table)            \
    X(slab)             \
    X(readahead)        \
    X(file)              \
    X(writeback)        \
    X(ksm)              \
    X(swapcache)

enum pageflag_bits {
#define PAGE_FLAG_ENUM(f) PG_##f##_bit,
    PAGE_FLAGS(PAGE_FLAG_ENUM)
#undef PAGE_FLAG_ENUM
    NR_PAGE_FLAGS
};

#define PG_buddy      (1u << PG_buddy_bit)
#define PG_locked     (1u << PG_locked_bit)
#define PG_dirty      (1u << PG_dirty_bit)
#define PG_uptodate   (1u << PG_uptodate_bit)
#define PG_lru        (1u << PG_lru_bit)
#define PG_active     (1u << PG_active_bit)
#define PG_referenced (1u << PG_referenced_bit)
#define PG_table      (1u << PG_table_bit)
#define PG_slab       (1u << PG_slab_bit)   /* first page of a slab */
#define PG_readahead  (1u << PG_readahead_bit)  /* read ahead of a swap-in, not yet touched */
#define PG_file       (1u << PG_file_bit)   /* on the file LRU lists: a named segment's page */
#define PG_writeback  (1u << PG_writeback_bit)  /* its swap-out write is in flight */
#define PG_ksm        (1u << PG_ksm_bit)    /* merged by KSM: a stable node lists its mappers */
#define PG_swapcache  (1u << PG_swapcache_bit)  /* keeps the slot it was swapped in from */

struct page {
    uint32_t flags;                     /* PG_* */
    uint8_t state;                      /* enum page_state, via page_set_state() */
    uint8_t order;                      /* a block's head: the block's order */
    uint8_t zone;                       /* index in mm->zones */
    uint8_t index_hi;                   /* bits 32..35 of the reverse-map index */
    int32_t refcount;                   /* users of an allocated block's head;
                                           DATA: PTEs naming it */
    pfn_t next, prev;                   /* free list or LRU list links */
    uint32_t seg_id;                    /* DATA/TABLE: reverse map, segment
                                           (DATA shared: one of its sharers) */
    uint32_t index_lo;                  /* DATA/TABLE: reverse map, index bits 0..31 */
    union {
        uint32_t memcg_id;              /* DATA: owner memcg */
        uint32_t nr_used;               /* TABLE: entries that are not none;
                                           SLAB head: objects in use;
                                           KVMALLOC first: its run's pages */
    };
};

_Static_assert(sizeof(struct page) == 32, "struct page grew");

static inline bool page_test(const struct page *page, uint32_t flag)
{
    return (page->flags & flag) != 0;
}

static inline void page_set(struct page *page, uint32_t flag)
{
    page->flags |= flag;
}

static inline void page_clear(struct page *page, uint32_t flag)
{
    page->flags &= ~flag;
}

static inline uint64_t page_index(const struct page *page)
{
    return (uint64_t)page->index_hi << 32 | page->index_lo;
}

static inline void page_set_rmap(struct page *page, uint32_t seg_id,
                                 uint64_t index)
{
    page->seg_id = seg_id;
    page->index_lo = (uint32_t)index;
    page->index_hi = (uint8_t)(index >> 32);
}

static inline void page_clear_rmap(struct page *page)
{
    page_set_rmap(page, 0, 0);
}

/* The swap entry a PG_writeback page is being written to. */
static inline void page_set_swap_entry(struct page *page, uint64_t entry)
{
    page->next = (pfn_t)entry;
    page->prev = (pfn_t)(entry >> 32);
}

static inline uint64_t page_swap_entry(const struct page *page)
{
    return (uint64_t)page->prev << 32 | page->next;
}

#endif
