/* fail_alloc.c - failure injection for page and slab allocations.
 *
 * Linux's fail_page_alloc and failslab in one knob: mm_fail_alloc_after(mm,
 * n) makes the n-th page or slab allocation from now fail with -ENOMEM /
 * NULL, and every one after it, until it is called again with n = -1 (or
 * 0).  Failing every later allocation too, rather than just the n-th, is
 * what a pool that has run out looks like: a caller's retry, reclaim and
 * OOM paths all see it, so the sweep in the unit tests (n = 1, 2, ...
 * until the operation succeeds) reaches each allocation of an operation
 * and checks that failing there unwinds cleanly.  What is counted: every
 * mm_alloc_pages() call (data, table, slab, kvmalloc and readahead pages)
 * and every slab_alloc() (so kmalloc too) - a slab_alloc that needs a new
 * slab counts twice.  Allocations from the C heap (kvmalloc past a
 * max-order block) are not counted. */
#include "internal.h"

void mm_fail_alloc_after(struct mm *mm, long n)
{
    if (mm)
        mm->fail_alloc_after = n > 0 ? n : 0;
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
    return true;
}
