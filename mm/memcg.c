/* memcg.c - the memory cgroup of a tenant: its counters and limits.
 *
 * Two page counters in the manner of cgroup v1 (Linux's page_counter.c
 * under memcontrol-v1.c): `memory` counts the tenant's resident pool pages
 * against memory.limit_in_bytes, `memsw` counts memory + swap against
 * memory.memsw.limit_in_bytes.  rmem adds one thing Linux has no need of:
 * a reservation.  A segment created with a reservation (rmem_mmap without
 * MAP_NORESERVE) charges its whole length to memsw at once; its pages then
 * draw their memsw charge from it, so writing them back can never fail for
 * lack of quota.  So, in pages:
 *
 *     memsw usage = usage + swap + reserved     (always <= memsw max_usage)
 *
 * and the limits keep Linux's invariant limit <= memsw_limit.  A charge is
 * all or nothing; refused by the memory limit, it asks memcg_reclaim() -
 * vmscan.c writing the memcg's coldest pages to swap - for room first (the
 * bounded retry of Linux's try_charge) and counts failcnt.  Refused by
 * memsw it does not: swapping a page out leaves memsw as it was (Linux's
 * noswap reclaim, which for anonymous memory frees nothing).  Reclaim
 * that queued writes for another thread (MM_RECLAIM_ASYNC) refuses with
 * -EAGAIN instead, counting no failure: the charge is to be retried.  swap.c,
 * vmscan.c and segment.c move charges between memory and swap through the
 * swap hooks below, so `swap` here is the one count of a memcg's pages in
 * swap.  The OOM policy on top of a refused charge lives in oom.c; the
 * cgroup files in memcg_file.c.
 *
 * A memcg destroyed while segments still charge it stays alive, marked
 * dying, until the last one goes (Linux's offline-but-not-released memcg);
 * its name is free for reuse at once. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* Linux's MAX_RECLAIM_RETRIES for a limit change (memcontrol-v1.c uses 5
 * for memsw, 16 in v2); the loop ends early when reclaim finds nothing. */
#define MEMCG_RECLAIM_RETRIES 5

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
    cg = slab_zalloc(&mm->slab_builtin[SLAB_MEMCG]);
    if (!cg)
        return -ENOMEM;
    cg->mm = mm;
    strcpy(cg->name, name);
    cg->limit = MEMCG_UNLIMITED;
    cg->memsw_limit = MEMCG_UNLIMITED;
    /* Unlike Linux (default 0, kill): a tenant's write fails with ENOMEM
     * unless its operator opted into the killer, which throws data away. */
    cg->oom_kill_disable = true;
    lruvec_init(&cg->lruvec);
    err = idr_alloc(&mm->memcgs, cg, &cg->id);
    if (err)
        goto err_free_cg;
    *out = cg;
    return 0;

err_free_cg:
    slab_free(&mm->slab_builtin[SLAB_MEMCG], cg);
    return err;
}

void memcg_free(struct memcg *cg)
{
    idr_remove(&cg->mm->memcgs, cg->id);
    slab_free(&cg->mm->slab_builtin[SLAB_MEMCG], cg);
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

uint64_t memcg_nr_segments(const struct memcg *cg)
{
    return cg->nr_segments;
}

const char *memcg_name(const struct memcg *cg)
{
    return cg->name;
}

/* As cgroup v1, the limit is rounded down to whole pages.  A raw setter
 * for tests and the server's own use: no reclaim, no invariant check (the
 * cgroup file goes through memcg_resize_limit). */
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

uint64_t memcg_swap_bytes(const struct memcg *cg)
{
    return cg->swap * MM_PAGE_SIZE;
}

uint64_t memcg_memsw_usage(const struct memcg *cg)
{
    return cg->usage + cg->swap + cg->reserved;
}

static void note_memsw_peak(struct memcg *cg)
{
    uint64_t memsw = memcg_memsw_usage(cg);

    if (memsw > cg->memsw_max_usage)
        cg->memsw_max_usage = memsw;
}

static void note_memory_peak(struct memcg *cg)
{
    if (cg->usage > cg->max_usage)
        cg->max_usage = cg->usage;
}

/* Reclaim at least nr_pages of cg's resident pages (a SWAP_CLUSTER_MAX
 * batch at least, as Linux's try_to_free_mem_cgroup_pages) to make room
 * under its memory limit; returns the pages freed.  Reclaim means writing
 * a page to swap and freeing it (vmscan.c), so without a swap file it
 * frees nothing, and a resident page, the only copy of a tenant's data,
 * stays.  Every caller loops on it, boundedly. */
uint64_t memcg_reclaim(struct memcg *cg, uint64_t nr_pages)
{
    if (nr_pages < SWAP_CLUSTER_MAX)
        nr_pages = SWAP_CLUSTER_MAX;
    return vmscan_try_to_free_pages(cg->mm, cg, nr_pages, true);
}

static bool fits(uint64_t used, uint64_t nr_pages, uint64_t limit)
{
    return nr_pages <= limit && used <= limit - nr_pages;
}

/* Room for nr_pages more under the memory limit and, unless the memsw
 * charge is already held (a reservation or a swap entry), under memsw. */
static bool charge_fits(const struct memcg *cg, uint64_t nr_pages, bool memsw)
{
    if (!fits(cg->usage, nr_pages, cg->limit))
        return false;
    return !memsw || fits(memcg_memsw_usage(cg), nr_pages, cg->memsw_limit);
}

/* Reclaim helps only when the memory limit alone refuses: swap-out moves
 * a page's charge within memsw, so at the memsw limit it frees nothing. */
static int do_charge(struct memcg *cg, uint64_t nr_pages, bool memsw,
                     bool may_reclaim)
{
    for (int tries = 0; !charge_fits(cg, nr_pages, memsw); tries++) {
        bool memsw_short = memsw && !fits(memcg_memsw_usage(cg), nr_pages,
                                          cg->memsw_limit);

        if (tries == MEMCG_RECLAIM_RETRIES || !may_reclaim || memsw_short ||
            !memcg_reclaim(cg, nr_pages)) {
            if (may_reclaim && !memsw_short &&
                vmscan_direct_should_wait(cg->mm, cg))
                return -EAGAIN;         /* not refused: to be retried */
            cg->failcnt++;
            if (memsw_short && fits(cg->usage, nr_pages, cg->limit))
                cg->memsw_failcnt++;
            return -ENOMEM;
        }
    }
    cg->usage += nr_pages;
    cg->events[MEMCG_PGPGIN] += nr_pages;
    cg->under_oom = false;
    note_memory_peak(cg);
    return 0;
}

/* Linux's try_charge(): all of nr_pages or nothing, against both limits. */
int memcg_try_charge(struct memcg *cg, uint64_t nr_pages)
{
    int err = do_charge(cg, nr_pages, true, true);

    if (!err)
        note_memsw_peak(cg);
    return err;
}

/* A page of a reserving segment: its memsw charge moves from the
 * reservation, only the memory limit is checked. */
int memcg_charge_reserved(struct memcg *cg, uint64_t nr_pages)
{
    int err;

    if (nr_pages > cg->reserved) {
        mm_log(MM_LOG_ERR, "mm: memcg %s: %llu pages charged from a "
               "reservation of %llu", cg->name, (unsigned long long)nr_pages,
               (unsigned long long)cg->reserved);
        return -EINVAL;
    }
    err = do_charge(cg, nr_pages, false, true);
    if (!err)
        cg->reserved -= nr_pages;
    return err;
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
    cg->events[MEMCG_PGPGOUT] += nr_pages;
    if (nr_pages)
        cg->under_oom = false;
    return 0;
}

/* The reverse of memcg_charge_reserved: a page of a reserving segment
 * freed, its memsw charge goes back to the reservation. */
int memcg_uncharge_reserved(struct memcg *cg, uint64_t nr_pages)
{
    int err = memcg_uncharge(cg, nr_pages);

    if (!err)
        cg->reserved += nr_pages;
    return err;
}

int memcg_reserve(struct memcg *cg, uint64_t nr_pages)
{
    if (!fits(memcg_memsw_usage(cg), nr_pages, cg->memsw_limit)) {
        cg->failcnt++;
        cg->memsw_failcnt++;
        return -ENOMEM;
    }
    cg->reserved += nr_pages;
    note_memsw_peak(cg);
    return 0;
}

int memcg_unreserve(struct memcg *cg, uint64_t nr_pages)
{
    if (nr_pages > cg->reserved) {
        mm_log(MM_LOG_ERR, "mm: memcg %s: unreserve of %llu pages, reserved "
               "%llu", cg->name, (unsigned long long)nr_pages,
               (unsigned long long)cg->reserved);
        return -EINVAL;
    }
    cg->reserved -= nr_pages;
    return 0;
}

/* Swap hooks.  Swap-out moves a page's charge from memory to swap; memsw
 * is unchanged, so it never fails for a limit. */
int memcg_charge_swap(struct memcg *cg, uint64_t nr_pages)
{
    int err = memcg_uncharge(cg, nr_pages);

    if (!err)
        cg->swap += nr_pages;
    return err;
}

/* A swap slot freed without coming back (its page discarded). */
int memcg_uncharge_swap(struct memcg *cg, uint64_t nr_pages)
{
    if (nr_pages > cg->swap) {
        mm_log(MM_LOG_ERR, "mm: memcg %s: swap uncharge of %llu pages, swap "
               "%llu", cg->name, (unsigned long long)nr_pages,
               (unsigned long long)cg->swap);
        return -EINVAL;
    }
    cg->swap -= nr_pages;
    return 0;
}

/* A swap entry freed with its page discarded, in a reserving segment:
 * the memsw charge goes back to the reservation it came from. */
int memcg_uncharge_swap_reserved(struct memcg *cg, uint64_t nr_pages)
{
    int err = memcg_uncharge_swap(cg, nr_pages);

    if (!err)
        cg->reserved += nr_pages;
    return err;
}

/* What memory.stat shows as zswap and zswapped: the compressed copies
 * live in pool memory no tenant is charged for (their pages keep the swap
 * charge of their slots), as with Linux without memory.zswap.max. */
void memcg_account_zswap(struct memcg *cg, int sign, uint64_t bytes)
{
    if (sign > 0) {
        cg->zswap_bytes += bytes;
        cg->zswapped++;
    } else {
        cg->zswap_bytes -= bytes;
        cg->zswapped--;
    }
}

/* The page's memsw charge moves from its swap entry back to memory; only
 * the memory limit is checked. */
int memcg_charge_from_swap(struct memcg *cg, uint64_t nr_pages,
                           bool may_reclaim)
{
    int err;

    if (nr_pages > cg->swap)
        return memcg_uncharge_swap(cg, nr_pages);       /* logs, -EINVAL */
    err = do_charge(cg, nr_pages, false, may_reclaim);
    if (!err)
        cg->swap -= nr_pages;
    return err;
}

/* Swap-in on a read: a major fault, server-side. */
int memcg_charge_swapin(struct memcg *cg, uint64_t nr_pages)
{
    int err = memcg_charge_from_swap(cg, nr_pages, true);

    if (!err)
        cg->events[MEMCG_PGMAJFAULT] += nr_pages;
    return err;
}

void memcg_count_event(struct memcg *cg, enum memcg_event ev, uint64_t n)
{
    cg->events[ev] += n;
}

/* Linux's mem_cgroup_resize_max(): the new limit keeps limit <= memsw
 * limit (-EINVAL), and usage must fit under it, reclaiming to swap if need
 * be; what cannot be reclaimed fails the change with -EBUSY.  Reclaim
 * cannot lower memsw usage, so a memsw limit below it is -EBUSY at once. */
int memcg_resize_limit(struct memcg *cg, bool memsw, uint64_t pages)
{
    for (int tries = 0;; tries++) {
        uint64_t used = memsw ? memcg_memsw_usage(cg) : cg->usage;

        if (memsw ? pages < cg->limit : pages > cg->memsw_limit)
            return -EINVAL;
        if (used <= pages)
            break;
        if (memsw || tries == MEMCG_RECLAIM_RETRIES ||
            !memcg_reclaim(cg, used - pages))
            return -EBUSY;
    }
    if (memsw)
        cg->memsw_limit = pages;
    else
        cg->limit = pages;
    return 0;
}

/* usage <= max_usage and memsw usage <= its max_usage.  Usage may exceed
 * a limit, but only one lowered by the raw memcg_set_limit. */
int memcg_check(const struct memcg *cg)
{
    if (cg->usage > cg->max_usage) {
        mm_log(MM_LOG_ERR, "memcg %s: usage %llu above max_usage %llu", cg->name,
               (unsigned long long)cg->usage, (unsigned long long)cg->max_usage);
        return -EUCLEAN;
    }
    if (memcg_memsw_usage(cg) > cg->memsw_max_usage) {
        mm_log(MM_LOG_ERR, "memcg %s: memsw usage %llu above its max_usage %llu",
               cg->name, (unsigned long long)memcg_memsw_usage(cg),
               (unsigned long long)cg->memsw_max_usage);
        return -EUCLEAN;
    }
    return 0;
}
