/* idr.c - small integer ids for segments and memcgs.
 *
 * Page descriptors name their segment and owner memcg by a 32-bit id
 * instead of a pointer, which halves the reverse map.  The table is a flat
 * array that doubles when full; ids are reused lowest-first so it stays as
 * small as the number of live objects, and it is freed when the last id
 * goes.  Id 0 is reserved for "none".  The array is server metadata like
 * any other, so it comes from the pool (mm_kvzalloc: kmalloc, then buddy
 * pages) and shows in slabinfo and meminfo - except the table of slab
 * caches, which kmalloc itself needs: a fixed array in struct mm.
 *
 * Identities idr_check() verifies: count == slots in use; slot 0 is
 * never used; every id below hint is in use (the lowest free one is at
 * or above it, which is what makes reuse lowest-first); a table from mm
 * with no id in use holds no array. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define IDR_MIN_CAP 16u
#define IDR_MAX_CAP (1u << 31)

static int idr_grow(struct idr *idr)
{
    uint32_t cap = idr->cap ? idr->cap * 2 : IDR_MIN_CAP;
    void **slots;

    if (idr->cap >= IDR_MAX_CAP || !idr->mm)
        return -ENOSPC;
    slots = mm_kvzalloc(idr->mm, (size_t)cap * sizeof(*slots));
    if (!slots)
        return -ENOMEM;
    if (idr->cap)
        memcpy(slots, idr->slots, (size_t)idr->cap * sizeof(*slots));
    mm_kvfree(idr->mm, idr->slots);
    idr->slots = slots;
    idr->cap = cap;
    return 0;
}

void idr_init(struct idr *idr, struct mm *mm)
{
    memset(idr, 0, sizeof(*idr));
    idr->mm = mm;
}

void idr_init_fixed(struct idr *idr, void **slots, uint32_t cap)
{
    memset(idr, 0, sizeof(*idr));
    memset(slots, 0, (size_t)cap * sizeof(*slots));
    idr->slots = slots;
    idr->cap = cap;
}

int idr_alloc(struct idr *idr, void *ptr, uint32_t *id)
{
    uint32_t i = idr->hint ? idr->hint : 1;
    int err;

    if (!ptr)
        return -EINVAL;
    while (i < idr->cap && idr->slots[i])
        i++;
    if (i >= idr->cap) {
        err = idr_grow(idr);
        if (err)
            return err;
    }
    idr->slots[i] = ptr;
    idr->count++;
    idr->hint = i + 1;
    *id = i;
    return 0;
}

void *idr_find(const struct idr *idr, uint32_t id)
{
    return id && id < idr->cap ? idr->slots[id] : NULL;
}

void idr_remove(struct idr *idr, uint32_t id)
{
    if (!idr_find(idr, id))
        return;
    idr->slots[id] = NULL;
    idr->count--;
    if (!idr->hint || id < idr->hint)
        idr->hint = id;
    if (!idr->count && idr->mm)
        idr_destroy(idr);
}

uint32_t idr_next(const struct idr *idr, uint32_t id)
{
    for (uint32_t i = id ? id : 1; i < idr->cap; i++)
        if (idr->slots[i])
            return i;
    return 0;
}

/* Empty again, and still mm's; a fixed table has nothing to free. */
void idr_destroy(struct idr *idr)
{
    if (!idr->mm)
        return;
    mm_kvfree(idr->mm, idr->slots);
    idr_init(idr, idr->mm);
}

int idr_check(const struct idr *idr)
{
    uint32_t used = 0;

    CHECK(idr->cap == 0 || !idr->slots[0], "idr: id 0 is in use");
    for (uint32_t i = 1; i < idr->cap; i++) {
        CHECK(idr->slots[i] || i >= idr->hint,
              "idr: id %u is free below the hint %u", i, idr->hint);
        used += idr->slots[i] != NULL;
    }
    CHECK(used == idr->count, "idr: %u ids in use, count %u", used, idr->count);
    CHECK(!idr->mm || idr->count || (!idr->cap && !idr->slots),
          "idr: no id in use, still %u slots allocated", idr->cap);
    return 0;
}
