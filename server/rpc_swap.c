/* SwapInfo: the swap files as /proc/swaps lists them (sizes in bytes on
 * the wire; rmemctl prints KiB) and the reclaim counters under their
 * /proc/vmstat names, and with a swap file the zswap section (Linux's
 * /sys/kernel/debug/zswap names); plus the swap figures Info carries. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>

#define SWAPFILES_MAX 32               /* mm's MAX_SWAPFILES (pgtable.h) */

struct swap_scratch {
    Rmem__ZswapInfo zswap;
    struct mm_swap_info info[SWAPFILES_MAX];
    Rmem__SwapDevice devices[SWAPFILES_MAX];
    Rmem__SwapDevice *device_ptrs[SWAPFILES_MAX];
};

/* The zswap section: its parameters and Linux's debugfs counters. */
static Rmem__ZswapInfo *fill_zswap(const struct mm *mm, Rmem__ZswapInfo *z)
{
    struct mm_zswap_info zi;

    mm_zswap_info(mm, &zi);
    rmem__zswap_info__init(z);
    z->enabled = zi.enabled;
    z->max_pool_percent = zi.max_pool_percent;
    z->max_pool_bytes = zi.max_pool_bytes;
#define ZS(name) z->name = zi.stat[MM_ZSWAP_##name]
    ZS(pool_total_size);
    ZS(stored_pages);
    ZS(same_filled_pages);
    ZS(written_back_pages);
    ZS(reject_compress_poor);
    ZS(reject_alloc_fail);
    ZS(reject_kmemcache_fail);
    ZS(reject_reclaim_fail);
    ZS(pool_limit_hit);
#undef ZS
    return z;
}

int rpc_swap_info(struct rpc_ctx *ctx)
{
    struct mm *mm = ctx->srv->mm;
    Rmem__SwapInfoReply *r = &ctx->reply.swap_info;
    uint64_t ev[NR_MM_VM_EVENTS];
    struct swap_scratch *sc;
    unsigned n = 0;

    sc = mm_kvzalloc(mm, sizeof(*sc));
    if (!sc)
        return rpc_fail(ctx, -ENOMEM, "no memory for the swapinfo reply");
    ctx->scratch = sc;
    rmem__swap_info_reply__init(r);
    for (unsigned t = 0; t < mm_nr_swapfiles(mm) && n < SWAPFILES_MAX; t++) {
        Rmem__SwapDevice *d = &sc->devices[n];

        if (mm_swap_info(mm, t, &sc->info[n]))
            continue;
        rmem__swap_device__init(d);
        d->filename = sc->info[n].path;
        d->type = (char *)"file";
        d->size_bytes = sc->info[n].size_pages * MM_PAGE_SIZE;
        d->used_bytes = sc->info[n].used_pages * MM_PAGE_SIZE;
        d->priority = sc->info[n].prio;
        sc->device_ptrs[n++] = d;
    }
    r->n_devices = n;
    r->devices = sc->device_ptrs;
    mm_get_vm_events(mm, ev);
#define EV(name) r->name = ev[MM_EV_##name]
    EV(pswpin);
    EV(pswpout);
    EV(pgscan_kswapd);
    EV(pgscan_direct);
    EV(pgsteal_kswapd);
    EV(pgsteal_direct);
    EV(pgactivate);
    EV(pgdeactivate);
    EV(pgrotated);
    EV(allocstall);
    EV(swap_ra);
    EV(swap_ra_hit);
    EV(swap_io_errors);
    EV(zswpin);
    EV(zswpout);
    EV(zswpwb);
#undef EV
    if (n > 0)
        r->zswap = fill_zswap(mm, &sc->zswap);
    ctx->resp.body_case = RMEM__RESPONSE__BODY_SWAP_INFO;
    ctx->resp.swap_info = r;
    return 0;
}

void rpc_swap_fill_info(struct server *srv, Rmem__InfoReply *r)
{
    uint64_t ev[NR_MM_VM_EVENTS];
    struct mm_zswap_info zi;
    struct mm_swap_info si;

    for (unsigned t = 0; t < mm_nr_swapfiles(srv->mm); t++) {
        if (mm_swap_info(srv->mm, t, &si))
            continue;
        r->swap_total_bytes += si.size_pages * MM_PAGE_SIZE;
        r->swap_used_bytes += si.used_pages * MM_PAGE_SIZE;
    }
    mm_get_vm_events(srv->mm, ev);
    r->pswpin = ev[MM_EV_pswpin];
    r->pswpout = ev[MM_EV_pswpout];
    mm_zswap_info(srv->mm, &zi);
    r->zswap_bytes = zi.stat[MM_ZSWAP_pool_total_size];
    r->zswapped_bytes = zi.stat[MM_ZSWAP_stored_pages] * MM_PAGE_SIZE;
}
