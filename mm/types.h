/* types.h - the vocabulary of mm/, defined once.
 *
 *   page     4 KiB of pool memory (MM_PAGE_SIZE), described by a struct page
 *            in the memmap (page.h).
 *   pfn      page frame number: the index of a page in the memmap, counted
 *            over every zone of one mm.  32 bits: a pool holds < 2^32 pages
 *            (16 TiB), which keeps descriptors and links small.
 *   order    an order-n block is 2^n pages, contiguous and aligned to 2^n
 *            within its zone; orders run 0..MM_MAX_ORDER (a 4 MiB block).
 *   zone     a range of pfns backed by one arena on one NUMA node, with its
 *            own buddy allocator and watermarks.
 *   segment  a range of page indices (0..npages-1, npages <= 2^36) backed
 *            lazily by scattered pool pages through a 4-level page table.
 *   tenant   an account on the server; its pages are charged to its memory
 *            cgroup (memcg).
 *
 * Segments and memcgs are named inside a page descriptor by a 32-bit id
 * rather than a pointer (idr.c); id 0 means "none". */
#ifndef RMEM_MM_TYPES_H
#define RMEM_MM_TYPES_H

#include <stdint.h>

#include "mm.h"

typedef uint32_t pfn_t;
#define PFN_NONE UINT32_MAX             /* ends lists, marks "no page" */
#define MM_MAX_PFNS ((uint64_t)PFN_NONE) /* pfns 0..PFN_NONE-1 */

#define MAX_ORDER_NR_PAGES (1u << MM_MAX_ORDER)

/* A segment's page indices fit in 4 levels of 9 bits. */
#define SEGMENT_INDEX_BITS 36
#define SEGMENT_MAX_PAGES (1ull << SEGMENT_INDEX_BITS)

#define MEMCG_NAME_MAX 64               /* including the NUL */

#endif
