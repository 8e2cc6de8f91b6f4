/* kvmalloc.c - metadata objects too big for a kmalloc size class.
 *
 * Linux's kvmalloc() tries physically contiguous pages and falls back to
 * vmalloc, which maps pages found anywhere at contiguous addresses.  rmem
 * cannot remap pool pages, so an object above MM_KMALLOC_MAX takes one run
 * of contiguous pages from the buddy allocator: a block of the smallest
 * order that holds it, whose unused tail goes back at once (Linux's
 * alloc_pages_exact), so that a 2 MiB + 64 KiB receive buffer costs 529
 * pages, not 1024.  The block is split (buddy_split_pages) into a row of
 * allocated blocks, largest first, 512 + 16 + 1 pages for that buffer;
 * their heads are KVMALLOC and their tails stay TAIL, as a buddy block's
 * do, so a run costs a few descriptors, not one per page: a kvmalloc
 * object is freed by its address, which is its first page's, so no tail
 * needs to know its run (a slab's do: kfree takes any address in it).
 * Each head names the run's first page in ->index_lo, and the first holds
 * the run's length in ->nr_used, so a free needs no size; the pages are
 * counted in kvmalloc_pages, which meminfo shows as VmallocUsed.  The run
 * is metadata that never moves, UNMOVABLE like slab and table pages, but
 * it goes down to the min watermark only, as data does, and leaves the
 * reserve below it to slab and table pages, which have nowhere else to
 * go (ALLOC_KVMALLOC).
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
 * Identities kvmalloc_check() verifies: a run's first page is a KVMALLOC
 * head naming itself and counts 1..MAX_ORDER_NR_PAGES pages within one
 * max-order block; its blocks follow it without a gap, KVMALLOC heads
 * naming it, of falling orders, ending where the count says; every
 * KVMALLOC head is one of some run's; the runs' pages == kvmalloc_pages.
 * (buddy_check() sees to the blocks' alignment and clean tails.) */
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

static void *kv_run(struct mm *mm, size_t size)
{
    uint64_t nr = (size + MM_PAGE_SIZE - 1) / MM_PAGE_SIZE;
    unsigned order = order_for(nr);
    pfn_t pfn;
    char *p;

    if (mm_alloc_pages(mm, order, ALLOC_KVMALLOC, &pfn))
        return NULL;
    if (mm_split_pages(mm, pfn, nr)) {
        mm_free_pages(mm, pfn, order);          /* logged; still whole */
        return NULL;
    }
    for (pfn_t block = pfn; block < pfn + nr;) {
        struct page *head = pfn_to_page(mm, block);

        page_set_state(mm, head, PAGE_KVMALLOC);
        head->index_lo = pfn;
        block += (pfn_t)1 << head->order;
    }
    pfn_to_page(mm, pfn)->nr_used = (uint32_t)nr;
    mm->kvmalloc_pages += nr;
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
    mm->kvmalloc_pages -= nr;
    for (pfn_t block = pfn; block < pfn + nr;) {
        struct page *page = pfn_to_page(mm, block);
        unsigned order = page->order;   /* the free may merge it away */

        page->index_lo = 0;
        page->nr_used = 0;
        page_set_state(mm, page, PAGE_ALLOCATED);
        mm_free_pages(mm, block, order);
        block += (pfn_t)1 << order;
    }
}

int kvmalloc_check(const struct mm *mm, uint64_t heads)
{
    uint64_t seen = 0, pages = 0;

    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *first = pfn_to_page(mm, pfn);
        unsigned last = MM_MAX_ORDER + 1;
        uint64_t nr = first->nr_used, off = 0;

        if (first->state != PAGE_KVMALLOC || first->index_lo != pfn)
            continue;
        CHECK(nr >= 1 && nr <= MAX_ORDER_NR_PAGES &&
              pfn % MAX_ORDER_NR_PAGES + nr <= MAX_ORDER_NR_PAGES,
              "kvmalloc: run at pfn %u counts %llu pages past its max-order "
              "block", (unsigned)pfn, (unsigned long long)nr);
        while (off < nr) {
            const struct page *block = pfn_to_page(mm, pfn + (pfn_t)off);

            CHECK(block->state == PAGE_KVMALLOC && block->index_lo == pfn &&
                  block->order < last && block->refcount == 1 &&
                  (!off || !block->nr_used),
                  "kvmalloc: run at pfn %u: pfn %u is %s order %u naming pfn "
                  "%u, not its next block", (unsigned)pfn,
                  (unsigned)(pfn + off), page_state_name(block->state),
                  block->order, block->index_lo);
            last = block->order;
            off += 1ull << block->order;
            seen++;
        }
        CHECK(off == nr, "kvmalloc: run at pfn %u: its blocks hold %llu "
              "pages, it counts %llu", (unsigned)pfn, (unsigned long long)off,
              (unsigned long long)nr);
        pages += nr;
    }
    CHECK(seen == heads, "kvmalloc: %llu KVMALLOC heads, runs hold %llu",
          (unsigned long long)heads, (unsigned long long)seen);
    CHECK(pages == mm->kvmalloc_pages, "kvmalloc: runs hold %llu pages, "
          "kvmalloc_pages %llu", (unsigned long long)pages,
          (unsigned long long)mm->kvmalloc_pages);
    return 0;
}
