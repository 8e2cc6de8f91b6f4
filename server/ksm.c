/* ksmd without a thread: a libuv timer runs one step of mm's KSM scan
 * (mm_ksm_scan, mm/ksm.c) every --ksm-sleep-ms, of --ksm-pages-to-scan
 * pages, as Linux's ksmd scans pages_to_scan pages and sleeps
 * sleep_millisecs.  The run switch is /sys/kernel/mm/ksm/run's: 0 stops
 * the timer (merged pages stay merged), 1 starts it, 2 unmerges every
 * KSM page and stops.  --ksm sets it at start and, when a reload changes
 * it, again; rmemctl ksm on|off|unmerge sets it in between.  A step runs
 * on the loop thread: it is bounded by pages_to_scan, and each page costs
 * a hash and at most one memcmp and one page free. */
#include "internal.h"

#include <errno.h>
#include <string.h>

static void on_ksm_timer(uv_timer_t *timer)
{
    struct server *srv = timer->data;

    mm_ksm_scan(srv->mm, (unsigned)srv->cfg->ksm_pages_to_scan);
}

static void ksm_timer_apply(struct server *srv)
{
    struct server_ksm *k = &srv->ksm;

    if (!k->started)
        return;
    if (k->run == KSM_RUN_MERGE)
        uv_timer_start(&k->timer, on_ksm_timer, srv->cfg->ksm_sleep_ms,
                       srv->cfg->ksm_sleep_ms);
    else
        uv_timer_stop(&k->timer);
}

int server_ksm_init(struct server *srv)
{
    struct server_ksm *k = &srv->ksm;

    uv_timer_init(srv->loop, &k->timer);
    k->timer.data = srv;
    k->started = true;
    k->cfg_ksm = srv->cfg->ksm;
    k->run = srv->cfg->ksm ? KSM_RUN_MERGE : KSM_RUN_STOP;
    ksm_timer_apply(srv);
    if (k->run == KSM_RUN_MERGE)
        log_info("ksm: on, %llu pages every %llu ms",
                 (unsigned long long)srv->cfg->ksm_pages_to_scan,
                 (unsigned long long)srv->cfg->ksm_sleep_ms);
    return 0;
}

void server_ksm_stop(struct server *srv)
{
    if (!srv->ksm.started)
        return;
    srv->ksm.started = false;
    uv_close((uv_handle_t *)&srv->ksm.timer, NULL);
}

int server_ksm_set_run(struct server *srv, unsigned run)
{
    int err = 0;

    if (run > KSM_RUN_UNMERGE)
        return -EINVAL;
    if (run != srv->ksm.run)
        log_info("ksm: run %u -> %u", srv->ksm.run, run);
    srv->ksm.run = run;
    ksm_timer_apply(srv);
    if (run == KSM_RUN_UNMERGE) {
        err = mm_ksm_unmerge_all(srv->mm);
        if (err)
            log_warn("ksm: unmerge stopped: %s", strerror(-err));
    }
    return err;
}

void server_ksm_reload(struct server *srv)
{
    struct server_ksm *k = &srv->ksm;

    if (srv->cfg->ksm != k->cfg_ksm) {
        k->cfg_ksm = srv->cfg->ksm;
        server_ksm_set_run(srv, srv->cfg->ksm ? KSM_RUN_MERGE : KSM_RUN_STOP);
        return;
    }
    ksm_timer_apply(srv);               /* a new sleep_millisecs */
}
