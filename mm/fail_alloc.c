/* fail_alloc.c - failure injection for page and slab allocations.
 *
 * Linux's fail_page_alloc and failslab in one knob, in two modes.
 * mm_fail_alloc_after(mm, n) makes the n-th page or slab allocation from
 * now fail with -ENOMEM / NULL, and every one after it, until it is
 * called again with n = -1 (or 0): what a pool that has run out looks
 * like, so a caller's reclaim and OOM paths see failure wherever they
 * turn.  mm_fail_alloc_nth(mm, n) fails the n-th alone: what a transient
 * shortage looks like, so a retry - reclaim, then the allocation again -
 * gets its chance to succeed.  The unit tests sweep both (n = 1, 2, ...
 * until no allocation fails any more) over each operation and check that
 * failing at each allocation unwinds cleanly or recovers.  What is
 * counted: every mm_alloc_pages() call (data, table, slab, kvmalloc and
 * readahead pages) and every slab_alloc() (so kmalloc too) - a slab_alloc
 * that needs a new slab counts twice, a kvmalloc run once (giving back
 * its unused tail allocates nothing).  The C heap is not counted: it is
 * rmem's vmalloc and does not run out with the pool, so in either mode a
 * kvmalloc whose run fails takes the heap, as it would in a full pool. */
#include "internal.h"

void mm_fail_alloc_after(struct mm *mm, long n)
{
    if (mm) {
        mm->fail_alloc_after = n > 0 ? n : 0;
        mm->fail_alloc_once = false;
    }
}

void mm_fail_alloc_nth(struct mm *mm, long n)
{
    if (mm) {
        mm->fail_alloc_after = n > 0 ? n : 0;
        mm->fail_alloc_once = true;
    }
}

uint64_t mm_fail_alloc_injected(const struct mm *mm)
{
    return mm ? mm->fail_alloc_injected : 0;
}

bool should_fail_alloc(struct mm *mm)
{
    if (mm->fail_alloc_after == 0)
        return false;
    if (mm->fail_alloc_after > 1) {
        mm->fail_alloc_after--;
        return false;
    }
    mm->fail_alloc_injected++;
    if (mm->fail_alloc_once)
        mm->fail_alloc_after = 0;
    return true;
}
