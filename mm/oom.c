/* oom.c - what happens when memory runs out: per tenant and server-wide.
 *
 * A tenant's charge refused at its limit (memcg OOM): with
 * memory.oom_control's oom_kill_disable set (rmem's default) the write
 * fails with -ENOMEM and the memcg is marked under_oom; with it clear (kill
 * mode, Linux's default) the tenant's largest live anonymous segment is
 * killed.  Named segments are never victims: they are rmem's files, shared
 * by whoever opens them and meant to outlive their writers, and Linux's
 * OOM killer does not throw page cache away either - it kills the owner
 * of anonymous memory.
 * Killing a segment frees its pages, its swap slots and its reservation
 * and marks it dead: its owner's READ and WRITE then fail with -EOWNERDEAD
 * until the owner frees it.  A segment, not a process, is the unit: it is what the server
 * can take back, and what a client can be told about.
 *
 * The pool exhausted (global OOM): the victim tenant is the one with the
 * highest badness among those in kill mode that have an anonymous segment
 * to kill, and its largest resident one dies.  Badness is oom_badness()'s rule, documented there. */
#include <errno.h>

#include "internal.h"

/* Badness of a memcg: its usage + swap relative to its limit, in
 * thousandths, like Linux's oom_badness() which scales rss + swap against
 * the memory available to the task.  The limit is memory.limit_in_bytes
 * (the smaller of the two: cgroup v1 keeps it <= memsw), and a limit above
 * the pool, or none, counts as the pool, so an unlimited tenant is scored
 * by its share of the server.  1000 = at its limit; above 1000 = swapped
 * beyond it, or over a lowered limit. */
uint64_t oom_badness(const struct memcg *cg)
{
    uint64_t points = cg->usage + cg->swap;
    uint64_t limit = cg->limit;

    if (limit > cg->mm->nr_pages)
        limit = cg->mm->nr_pages;
    if (limit == 0)
        limit = 1;
    return points * OOM_SCORE_SCALE / limit;
}

/* Largest live anonymous segment of cg: by resident pages only (when what is short
 * is pool pages or the memory limit), or resident + swapped + reserved
 * (the memsw limit, which swap and reservations count against).  NULL if
 * killing would free nothing.  A page shared by clones counts in each
 * sharer's resident pages, as Linux counts a shared anonymous page in
 * every mm's rss: killing one sharer frees only the pages it held alone,
 * and leaves the others every page (rmap.c drops its shares). */
static struct segment *largest_segment(const struct memcg *cg,
                                       bool resident_only)
{
    const struct mm *mm = cg->mm;
    struct segment *best = NULL;
    uint64_t best_size = 0;

    for (uint32_t id = idr_next(&mm->segments, 0); id;
         id = idr_next(&mm->segments, id + 1)) {
        struct segment *seg = idr_find(&mm->segments, id);
        uint64_t size = seg->resident +
                        (resident_only ? 0 : seg->swapped + seg->reserved);

        if (seg->memcg != cg || seg->dead || seg->file)
            continue;
        /* Ties go to the older segment (lower id): first found. */
        if (size > best_size) {
            best = seg;
            best_size = size;
        }
    }
    return best;
}

struct segment *oom_select_segment(const struct memcg *cg)
{
    return largest_segment(cg, true);
}

/* Highest badness among memcgs in kill mode that have a segment whose
 * death would free something; ties go to the larger usage + swap, then to
 * the lower id. */
struct memcg *oom_select_memcg(const struct mm *mm)
{
    struct memcg *best = NULL;
    uint64_t best_score = 0, best_points = 0;

    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        struct memcg *cg = idr_find(&mm->memcgs, id);
        uint64_t score, points;

        if (cg->oom_kill_disable || !largest_segment(cg, true))
            continue;
        score = oom_badness(cg);
        points = cg->usage + cg->swap;
        if (!best || score > best_score ||
            (score == best_score && points > best_points)) {
            best = cg;
            best_score = score;
            best_points = points;
        }
    }
    return best;
}

void oom_kill_segment(struct segment *seg)
{
    struct memcg *cg = seg->memcg;

    mm_log(MM_LOG_WARNING, "oom: killed segment %u of memcg %s: %llu pages "
           "resident, %llu swapped, %llu reserved; usage %llu, memsw usage "
           "%llu pages", seg->id, cg->name, (unsigned long long)seg->resident,
           (unsigned long long)seg->swapped, (unsigned long long)seg->reserved,
           (unsigned long long)cg->usage,
           (unsigned long long)memcg_memsw_usage(cg));
    /* Dead first: discarded pages and swap entries must not return to the
     * reservation. */
    seg->dead = true;
    if (segment_discard(seg, 0, seg->npages))
        mm_log(MM_LOG_ERR, "oom: segment %u: pages could not all be freed",
               seg->id);
    memcg_unreserve(cg, seg->reserved);
    seg->reserved = 0;
    cg->oom_kill++;
}

int oom_memcg(struct memcg *cg, struct segment *seg)
{
    struct segment *victim;

    if (cg->oom_kill_disable) {
        cg->under_oom = true;
        return -ENOMEM;
    }
    /* At the memory limit only resident pages help; at memsw, both. */
    victim = largest_segment(cg, cg->usage >= cg->limit);
    if (!victim) {
        cg->under_oom = true;
        return -ENOMEM;
    }
    oom_kill_segment(victim);
    return victim == seg ? -EOWNERDEAD : 0;
}

int oom_global(struct mm *mm, struct segment *seg)
{
    struct memcg *cg = oom_select_memcg(mm);
    struct segment *victim = cg ? largest_segment(cg, true) : NULL;

    if (!victim)
        return -ENOMEM;
    mm_log(MM_LOG_WARNING, "oom: pool exhausted; memcg %s chosen, badness %llu",
           cg->name, (unsigned long long)oom_badness(cg));
    oom_kill_segment(victim);
    return victim == seg ? -EOWNERDEAD : 0;
}
