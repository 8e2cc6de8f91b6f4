/* memcg.c - the memory cgroup of a tenant.
 *
 * A page counter in the manner of Linux's page_counter.c: usage and limit
 * in pages, the high-water mark, and failcnt, the number of charges the
 * limit refused.  A segment page is charged before it is allocated and
 * uncharged when it is freed; page tables are not charged (Linux charges
 * them only with kmem accounting).  The names follow cgroup v1's
 * memory.* files, which later work will fill out (memsw, stat, pressure,
 * oom_control) in this one file.
 *
 * A memcg destroyed while segments still charge it stays alive, marked
 * dying, until the last one goes (Linux's offline-but-not-released memcg);
 * its name is free for reuse at once. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct memcg *memcg_find_name(const struct mm *mm, const char *name)
{
    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        struct memcg *cg = idr_find(&mm->memcgs, id);

        if (!cg->dying && strcmp(cg->name, name) == 0)
            return cg;
    }
    return NULL;
}

int memcg_create(struct mm *mm, const char *name, struct memcg **out)
{
    struct memcg *cg;
    int err;

    if (!mm || !name || !out || !name[0])
        return -EINVAL;
    if (strlen(name) >= MEMCG_NAME_MAX)
        return -ENAMETOOLONG;
    if (memcg_find_name(mm, name))
        return -EEXIST;
    cg = calloc(1, sizeof(*cg));
    if (!cg)
        return -ENOMEM;
    cg->mm = mm;
    strcpy(cg->name, name);
    cg->limit = MEMCG_UNLIMITED;
    lruvec_init(&cg->lruvec);
    err = idr_alloc(&mm->memcgs, cg, &cg->id);
    if (err)
        goto err_free_cg;
    *out = cg;
    return 0;

err_free_cg:
    free(cg);
    return err;
}

void memcg_free(struct memcg *cg)
{
    idr_remove(&cg->mm->memcgs, cg->id);
    free(cg);
}

void memcg_destroy(struct memcg *cg)
{
    if (!cg)
        return;
    if (cg->nr_segments) {
        mm_log(MM_LOG_WARNING, "mm: memcg %s destroyed with %llu segments; "
               "freed with the last of them", cg->name,
               (unsigned long long)cg->nr_segments);
        cg->dying = true;
        return;
    }
    memcg_free(cg);
}

void memcg_attach_segment(struct memcg *cg)
{
    cg->nr_segments++;
}

void memcg_detach_segment(struct memcg *cg)
{
    if (--cg->nr_segments == 0 && cg->dying)
        memcg_free(cg);
}

/* As cgroup v1, the limit is rounded down to whole pages. */
void memcg_set_limit(struct memcg *cg, uint64_t limit_bytes)
{
    cg->limit = limit_bytes ? limit_bytes / MM_PAGE_SIZE : MEMCG_UNLIMITED;
}

uint64_t memcg_usage_bytes(const struct memcg *cg)
{
    return cg->usage * MM_PAGE_SIZE;
}

uint64_t memcg_limit_bytes(const struct memcg *cg)
{
    if (cg->limit == MEMCG_UNLIMITED)
        return cg->mm->nr_pages * MM_PAGE_SIZE;
    return cg->limit * MM_PAGE_SIZE;
}

uint64_t memcg_max_usage_bytes(const struct memcg *cg)
{
    return cg->max_usage * MM_PAGE_SIZE;
}

uint64_t memcg_failcnt(const struct memcg *cg)
{
    return cg->failcnt;
}

/* Linux's page_counter_try_charge(): all of nr_pages or nothing. */
int memcg_try_charge(struct memcg *cg, uint64_t nr_pages)
{
    if (nr_pages > cg->limit || cg->usage > cg->limit - nr_pages) {
        cg->failcnt++;
        return -ENOMEM;
    }
    cg->usage += nr_pages;
    if (cg->usage > cg->max_usage)
        cg->max_usage = cg->usage;
    return 0;
}

int memcg_uncharge(struct memcg *cg, uint64_t nr_pages)
{
    if (nr_pages > cg->usage) {
        mm_log(MM_LOG_ERR, "mm: memcg %s: uncharge of %llu pages, usage %llu",
               cg->name, (unsigned long long)nr_pages,
               (unsigned long long)cg->usage);
        return -EINVAL;
    }
    cg->usage -= nr_pages;
    return 0;
}

/* usage <= max_usage; usage may exceed a limit lowered below it. */
int memcg_check(const struct memcg *cg)
{
    if (cg->usage > cg->max_usage) {
        mm_log(MM_LOG_ERR, "memcg %s: usage %llu above max_usage %llu", cg->name,
               (unsigned long long)cg->usage, (unsigned long long)cg->max_usage);
        return -EUCLEAN;
    }
    return 0;
}
