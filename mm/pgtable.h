/* pgtable.h - a segment's page table: PTE encoding and the table API.
 *
 * A PTE is 64 bits laid out like x86-64's: flag bits below bit 12, the pfn
 * from bit 12 up.  An entry of 0 is "none" (never written, reads as zeros).
 * Upper levels hold pfn|PTE_PRESENT of the next table.  A swap entry has
 * PTE_PRESENT clear and PTE_SWAP set, a swap-file type in bits 5..9 and the
 * slot offset from bit 12 (Linux's swp_entry_t, kept in the PTE). */
#ifndef RMEM_MM_PGTABLE_H
#define RMEM_MM_PGTABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "types.h"

typedef uint64_t pte_t;

#define PTE_PRESENT     (1ull << 0)
#define PTE_DIRTY       (1ull << 1)     /* written since last write-back */
#define PTE_ACCESSED    (1ull << 2)     /* read or written since last aged */
#define PTE_COW         (1ull << 3)     /* shared: copy before writing */
#define PTE_SWAP        (1ull << 4)     /* not present: a swap entry */
#define PTE_FLAGS_MASK  0xfffull
#define PTE_PFN_SHIFT   12

#define SWP_TYPE_SHIFT  5
#define SWP_TYPE_BITS   5
#define MAX_SWAPFILES   (1u << SWP_TYPE_BITS)
#define SWP_OFFSET_MAX  ((1ull << (64 - PTE_PFN_SHIFT)) - 1)

#define PGTABLE_LEVELS  4
#define PGTABLE_SHIFT   9               /* index bits resolved per level */
#define PTRS_PER_TABLE  (1u << PGTABLE_SHIFT)

_Static_assert(PGTABLE_LEVELS * PGTABLE_SHIFT == SEGMENT_INDEX_BITS,
               "the table must cover every segment index");
_Static_assert(PTRS_PER_TABLE * sizeof(pte_t) == MM_PAGE_SIZE,
               "one table is one page");

static inline bool pte_none(pte_t pte) { return pte == 0; }
static inline bool pte_present(pte_t pte) { return pte & PTE_PRESENT; }
static inline bool pte_is_swap(pte_t pte)
{
    return !(pte & PTE_PRESENT) && (pte & PTE_SWAP);
}

static inline pte_t pfn_pte(pfn_t pfn, uint64_t flags)
{
    return (uint64_t)pfn << PTE_PFN_SHIFT | (flags & PTE_FLAGS_MASK) | PTE_PRESENT;
}

static inline pfn_t pte_pfn(pte_t pte)
{
    return (pfn_t)(pte >> PTE_PFN_SHIFT);
}

static inline pte_t swp_entry_pte(unsigned type, uint64_t offset)
{
    return offset << PTE_PFN_SHIFT
         | (uint64_t)(type & (MAX_SWAPFILES - 1)) << SWP_TYPE_SHIFT | PTE_SWAP;
}

static inline unsigned pte_swp_type(pte_t pte)
{
    return (unsigned)(pte >> SWP_TYPE_SHIFT) & (MAX_SWAPFILES - 1);
}

static inline uint64_t pte_swp_offset(pte_t pte)
{
    return pte >> PTE_PFN_SHIFT;
}

struct mm;

struct pgtable {
    struct mm *mm;
    uint32_t seg_id;                    /* written into every table page's rmap */
    pfn_t root;                         /* top table, PFN_NONE while empty */
    uint64_t nr_tables;                 /* table pages in the tree */
};

/* Called for each entry that is not none before pgtable_clear_range() drops
 * it; a negative return stops the walk and leaves that entry in place. */
typedef int (*pte_release_fn)(void *arg, uint64_t index, pte_t *pte);

void   pgtable_init(struct pgtable *pt, struct mm *mm, uint32_t seg_id);
pte_t *pgtable_lookup(const struct pgtable *pt, uint64_t index);
int    pgtable_install(struct pgtable *pt, uint64_t index, pte_t pte);
int    pgtable_clear_range(struct pgtable *pt, uint64_t first, uint64_t last,
                           pte_release_fn release, void *arg);
int    pgtable_free_tree(struct pgtable *pt);
/* fn on every entry that is not none, in index order; a negative return
 * stops the walk and is returned.  fn may change an entry's bits but must
 * not make it none (the tree does not change under the walk). */
int    pgtable_for_each_pte(const struct pgtable *pt, pte_release_fn fn,
                            void *arg);
/* The same, over the entries at indices >= first only (any non-zero
 * return stops it: ksm.c stops with a positive one when it has enough). */
int    pgtable_for_each_pte_from(const struct pgtable *pt, uint64_t first,
                                 pte_release_fn fn, void *arg);
int    pgtable_check(const struct pgtable *pt, uint64_t *nr_present);
int    pgtable_check_counts(const struct pgtable *pt, uint64_t *nr_present,
                            uint64_t *nr_swap);

#endif
