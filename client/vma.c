/* Mappings: one rmem__vma per rmem_mmap, kept in address order, with a
 * descriptor per page saying where its contents are (see internal.h).
 * A process maps few, large regions, so a sorted list is enough; the fault
 * path caches nothing that munmap could leave dangling. */
#include <stdlib.h>

#include "internal.h"

struct rmem__vma *rmem__vma_alloc(void *start, size_t len, int prot, int flags,
                                  uint64_t segment)
{
    struct rmem__vma *vma = calloc(1, sizeof(*vma));

    if (!vma)
        return NULL;
    vma->start = start;
    vma->len = len;
    vma->npages = len / RMEM_PAGE_SIZE;
    vma->prot = prot;
    vma->flags = flags;
    vma->segment = segment;
    vma->pages = calloc(vma->npages, sizeof(*vma->pages));
    if (!vma->pages) {
        free(vma);
        return NULL;
    }
    for (uint64_t i = 0; i < vma->npages; i++)
        vma->pages[i].vma = vma;
    return vma;
}

void rmem__vma_free(struct rmem__vma *vma)
{
    if (!vma)
        return;
    free(vma->pages);
    free(vma->name);
    free(vma);
}

struct rmem__vma *rmem__vma_find(struct rmem__vma *head, const void *addr)
{
    const char *a = addr;

    for (struct rmem__vma *v = head; v && v->start <= a; v = v->next)
        if (a < v->start + v->len)
            return v;
    return NULL;
}

void rmem__vma_insert(struct rmem__vma **head, struct rmem__vma *vma)
{
    struct rmem__vma **pp = head;

    while (*pp && (*pp)->start < vma->start)
        pp = &(*pp)->next;
    vma->next = *pp;
    *pp = vma;
}

void rmem__vma_unlink(struct rmem__vma **head, struct rmem__vma *vma)
{
    for (struct rmem__vma **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == vma) {
            *pp = vma->next;
            vma->next = NULL;
            return;
        }
    }
}
