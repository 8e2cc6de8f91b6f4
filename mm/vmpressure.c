/* vmpressure.c - memory.pressure_level from the effort reclaim spends.
 *
 * As Linux's vmpressure.c: how hard a memcg is pressed is read from what
 * reclaim does to its lists, not from how full it is - a tenant at its
 * limit whose cold pages go to swap at the first try is under no
 * pressure, one whose every scanned page is in use is.  Each reclaim pass
 * over a memcg's LRU (targeted or global, direct or background: vmscan.c's
 * scan_control is the source) adds the pages it scanned and reclaimed
 * there to the memcg's open window; when a window has VMPRESSURE_WIN
 * scanned pages it closes with
 *     pressure = 100 * (1 - reclaimed / scanned)
 * and the level low (< 60), medium (< 95) or critical.  A targeted pass
 * that gets down to priority VMPRESSURE_CRITICAL_PRIO, or that cannot go
 * on for want of swap (none, full or failing), is scanning too hard to
 * succeed: it closes the window as critical (Linux's vmpressure_prio adds
 * a whole window scanned with nothing reclaimed to the open one, which is
 * critical unless the open one held many successes; rmem makes it
 * critical outright, so the level does not depend on what came before).
 *
 * Linux only sends levels as events; rmem lets memory.pressure_level be
 * read, so a level needs a lifetime.  The level read is the last closed
 * window's, and falls back to low once VMPRESSURE_WIN pages have been
 * charged or uncharged (pgpgin + pgpgout) since reclaim last scanned the
 * memcg: that much memory coming and going without a single reclaim scan
 * means the pressure is gone.  A memcg under_oom (its last charge
 * refused, nothing freed since) reads critical whatever its window says. */
#include "internal.h"

/* Linux's vmpressure_win, SWAP_CLUSTER_MAX * 16. */
#define VMPRESSURE_WIN (SWAP_CLUSTER_MAX * 16)
#define VMPRESSURE_MEDIUM_PCT 60
#define VMPRESSURE_CRITICAL_PCT 95
/* ilog2(100 / 10): the priority at which a tenth of the lists' pages
 * were due to be scanned (Linux's vmpressure_level_critical_prio). */
#define VMPRESSURE_CRITICAL_PRIO 3

static const char *const level_names[NR_VMPRESSURE_LEVELS] = {
    "low", "medium", "critical",
};

static uint64_t charge_events(const struct memcg *cg)
{
    return cg->events[MEMCG_PGPGIN] + cg->events[MEMCG_PGPGOUT];
}

enum vmpressure_level vmpressure_calc_level(uint64_t scanned,
                                            uint64_t reclaimed)
{
    uint64_t pressure;

    if (scanned == 0 || reclaimed >= scanned)
        return VMPRESSURE_LOW;
    pressure = (scanned - reclaimed) * 100 / scanned;
    if (pressure >= VMPRESSURE_CRITICAL_PCT)
        return VMPRESSURE_CRITICAL;
    return pressure >= VMPRESSURE_MEDIUM_PCT ? VMPRESSURE_MEDIUM : VMPRESSURE_LOW;
}

void vmpressure(struct memcg *cg, uint64_t scanned, uint64_t reclaimed)
{
    struct vmpressure *vmpr = &cg->vmpressure;

    /* Nothing scanned says nothing yet: a pass that finds no list to
     * scan reports through vmpressure_prio once it gets deep. */
    if (scanned == 0)
        return;
    vmpr->scanned += scanned;
    vmpr->reclaimed += reclaimed;
    vmpr->scan_events = charge_events(cg);
    if (vmpr->scanned < VMPRESSURE_WIN)
        return;
    vmpr->level = (uint8_t)vmpressure_calc_level(vmpr->scanned, vmpr->reclaimed);
    vmpr->scanned = vmpr->reclaimed = 0;
}

void vmpressure_prio(struct memcg *cg, int priority)
{
    struct vmpressure *vmpr = &cg->vmpressure;

    if (priority > VMPRESSURE_CRITICAL_PRIO)
        return;
    vmpr->scanned = vmpr->reclaimed = 0;
    vmpr->scan_events = charge_events(cg);
    vmpr->level = VMPRESSURE_CRITICAL;
}

enum vmpressure_level vmpressure_level(const struct memcg *cg)
{
    if (cg->under_oom)
        return VMPRESSURE_CRITICAL;
    if (charge_events(cg) - cg->vmpressure.scan_events >= VMPRESSURE_WIN)
        return VMPRESSURE_LOW;
    return (enum vmpressure_level)cg->vmpressure.level;
}

const char *memcg_pressure_level(const struct memcg *cg)
{
    return level_names[vmpressure_level(cg)];
}
