/* kvmalloc.c - metadata objects too big for a kmalloc size class.
 *
 * Linux's kvmalloc() tries physically contiguous pages and falls back to
 * vmalloc, which maps pages found anywhere at contiguous addresses.  rmem
 * cannot remap pool pages, so an object above MM_KMALLOC_MAX takes one run
 * of contiguous pages from the buddy allocator: a block of the smallest
 * order that holds it, whose unused tail goes back at once (Linux's
 * alloc_pages_exact), so that a 2 MiB + 64 KiB receive buffer costs 529
 * pages, not 1024.  The run's pages are in state KVMALLOC, which the zones
 * count and meminfo shows as VmallocUsed; each names the run's first page
 * in ->index_lo, and the first holds the run's length in ->nr_used, so a
 * free needs no size.  A run goes down to the min watermark, as data
 * does, and leaves the reserve below it to slab and table pages, which
 * have nowhere else to go.
 *
 * Where no run can be had - the object is larger than a max-order block
 * (4 MiB: the per-page tables of a pool past 2 GiB, the slot maps of a
 * swap file past 2 GiB), or the pool is too full or too fragmented to hold
 * one (rmem has no compaction) - the object comes from the C heap, as the
 * memmap does: that is rmem's vmalloc, counted in kvmalloc_heap_bytes.
 * mm_kvfree tells kmalloc objects, runs and heap blocks apart by address
 * and page state.  Under AddressSanitizer the bytes of a run past the
 * object are unaddressable.
 *
 * Identities kvmalloc_check() verifies: every KVMALLOC page lies in the
 * run its ->index_lo names, whose first page is KVMALLOC, names itself
 * and counts 1..MAX_ORDER_NR_PAGES pages within one max-order block. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KV_MAX_BYTES ((size_t)MAX_ORDER_NR_PAGES * MM_PAGE_SIZE)

/* A heap block starts with its size, for the count; 16 bytes keep
 * malloc's alignment for the object after it. */
struct kv_heap {
    uint64_t size;
    uint64_t pad;
};

static unsigned order_for(uint64_t nr_pages)
{
    unsigned order = 0;

    while ((1ull << order) < nr_pages)
        order++;
    return order;
}

/* As free_pages_exact(): nr ALLOCATED pages from pfn go back to the buddy
 * allocator in aligned power-of-two pieces, which it merges.  Zones start
 * on max-order boundaries, so pfn alignment is zone alignment. */
static void free_run(struct mm *mm, pfn_t pfn, uint64_t nr)
{
    while (nr) {
        unsigned order = 0;

        while (order < MM_MAX_ORDER && !(pfn & (1u << order)) &&
               (2ull << order) <= nr)
            order++;
        pfn_to_page(mm, pfn)->order = (uint8_t)order;
        pfn_to_page(mm, pfn)->refcount = 1;
        mm_free_pages(mm, pfn, order);
        pfn += 1u << order;
        nr -= 1ull << order;
    }
}

static void *kv_run(struct mm *mm, size_t size)
{
    uint64_t nr = (size + MM_PAGE_SIZE - 1) / MM_PAGE_SIZE;
    unsigned order = order_for(nr);
    pfn_t pfn;
    char *p;

    if (mm_alloc_pages(mm, order, ALLOC_DATA, &pfn))
        return NULL;
    free_run(mm, pfn + (pfn_t)nr, (1ull << order) - nr);
    for (uint64_t i = 0; i < nr; i++) {
        struct page *page = pfn_to_page(mm, pfn + (pfn_t)i);

        page_set_state(mm, page, PAGE_KVMALLOC);
        page->index_lo = pfn;
    }
    pfn_to_page(mm, pfn)->order = 0;
    pfn_to_page(mm, pfn)->nr_used = (uint32_t)nr;
    p = page_address(mm, pfn);
    asan_poison(p + size, nr * MM_PAGE_SIZE - size);
    return p;
}

static void *kv_heap(struct mm *mm, size_t size)
{
    struct kv_heap *h;

    if (size > SIZE_MAX - sizeof(*h))
        return NULL;
    h = malloc(sizeof(*h) + size);
    if (!h)
        return NULL;
    h->size = size;
    mm->kvmalloc_heap_bytes += size;
    return h + 1;
}

void *mm_kvmalloc(struct mm *mm, size_t size)
{
    void *p = NULL;

    if (!mm)
        return NULL;
    if (size <= MM_KMALLOC_MAX)
        return mm_kmalloc(mm, size ? size : 1);
    if (size <= KV_MAX_BYTES)
        p = kv_run(mm, size);
    return p ? p : kv_heap(mm, size);
}

void *mm_kvzalloc(struct mm *mm, size_t size)
{
    void *p = mm_kvmalloc(mm, size);

    if (p)
        memset(p, 0, size);
    return p;
}

char *mm_kvstrdup(struct mm *mm, const char *s)
{
    size_t len = strlen(s) + 1;
    char *p = mm_kvmalloc(mm, len);

    if (p)
        memcpy(p, s, len);
    return p;
}

void mm_kvfree(struct mm *mm, void *p)
{
    struct page *head;
    pfn_t pfn;
    uint32_t nr;

    if (!p || !mm)
        return;
    if (!mm_addr_in_pool(mm, p)) {
        struct kv_heap *h = (struct kv_heap *)p - 1;

        mm->kvmalloc_heap_bytes -= h->size;
        free(h);
        return;
    }
    pool_addr_to_pfn(mm, p, &pfn);
    head = pfn_to_page(mm, pfn);
    if (head->state == PAGE_SLAB) {
        mm_kfree(mm, p);
        return;
    }
    if (head->state != PAGE_KVMALLOC || head->index_lo != pfn ||
        (uintptr_t)p % MM_PAGE_SIZE) {
        dump_page(mm, pfn, "kvfree of an address that is no kvmalloc object");
        return;
    }
    nr = head->nr_used;
    asan_unpoison(p, (size_t)nr * MM_PAGE_SIZE);
    for (uint32_t i = 0; i < nr; i++) {
        struct page *page = pfn_to_page(mm, pfn + i);

        page->index_lo = 0;
        page->nr_used = 0;
        page_set_state(mm, page, PAGE_ALLOCATED);
    }
    free_run(mm, pfn, nr);
}

int kvmalloc_check(const struct mm *mm)
{
    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);
        pfn_t first = page->index_lo;
        const struct page *head;

        if (page->state != PAGE_KVMALLOC)
            continue;
        CHECK(first <= pfn && pfn_valid(mm, first),
              "kvmalloc: pfn %u names pfn %u as its first", (unsigned)pfn,
              (unsigned)first);
        head = pfn_to_page(mm, first);
        CHECK(head->state == PAGE_KVMALLOC && head->index_lo == first &&
              head->nr_used >= 1 && head->nr_used <= MAX_ORDER_NR_PAGES &&
              pfn < first + head->nr_used &&
              first / MAX_ORDER_NR_PAGES ==
              (first + head->nr_used - 1) / MAX_ORDER_NR_PAGES,
              "kvmalloc: pfn %u: its run from pfn %u (%s, %u pages) does not "
              "hold it", (unsigned)pfn, (unsigned)first,
              page_state_name(head->state), head->nr_used);
    }
    return 0;
}
