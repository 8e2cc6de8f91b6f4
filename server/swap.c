/* The swap file of rmemd and the background reclaim it makes possible.
 *
 * `--swap FILE:SIZE` names a regular file that rmemd creates (or
 * truncates) at start and sizes sparsely; mm/ pages out to it through the
 * descriptor.  If rmemd created the file it removes it at exit; an
 * existing file is left in place (only truncated), since someone else
 * made it.  Anything but a regular file is refused: truncating a device
 * or a directory by mistake is not recoverable.
 *
 * Background reclaim is kswapd without a thread: a timer checks every
 * RECLAIM_TICK_MS whether a zone is below its low watermark and then
 * reclaims in steps of at most RECLAIM_STEP_PAGES scanned pages; while a
 * step makes progress and more is wanted, an idle handle runs the next
 * step on the following loop iteration, so client I/O is served between
 * steps.  Allocations that find a zone at min still reclaim directly
 * (mm/segment.c).  zswap (--zswap, on by default) sits in front of the
 * file: turned on with the swap file, since a compressed copy in RAM
 * costs a decompression where the file costs a read, and what a memory
 * service pages out (zeroed, sparse, text) mostly compresses; --zswap off
 * gives the plain file.
 *
 * Writes to the file run off the loop thread, as jobs: mm queues at most
 * MM_SWAP_IO_BATCH writes in a job's batch (pages left mapped under
 * writeback, and zswap's writeback of its oldest entries when its pool is
 * full), a libuv worker writes them (one pwritev per run of adjacent
 * slots), and the completion, back on the loop, frees the pages.
 * Background reclaim has one job, in flight at most once.  Direct reclaim
 * - a READ or WRITE that needs a page now, at a zone's min watermark or
 * its tenant's limit - gets a job of its own per request
 * (server_reclaim_begin: MM_RECLAIM_ASYNC), any number in flight: what
 * needs no I/O (zswap, the swap cache) is reclaimed inline, and a request
 * that must wait for the writes is parked on its job (park.c) - Linux's
 * direct reclaim, which does not block on the writeback it starts but
 * throttles.  Swap-in runs on workers too (swapin.c).  What still writes
 * on the loop thread: KSM pages that reclaim picks (written and unmapped
 * from every mapper at once: KSM may change those at any step), reclaim
 * for a lowered memory limit or a KSM unmerge, direct reclaim when not
 * even a job can be had, and a READ's rare synchronous fallback
 * (rpc_segment.c), whose charges reclaim synchronously. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECLAIM_TICK_MS 10
#define RECLAIM_STEP_PAGES 256

static void on_reclaim_idle(uv_idle_t *idle);

/* A worker: mm_swap_io_run touches only the pages' contents and the file,
 * never mm's state. */
static void writeout_work(uv_work_t *work)
{
    struct server_writeout *job = work->data;

    mm_swap_io_run(&job->batch);
}

/* A direct reclaim job done with: kept for the next request, or freed. */
static void job_put(struct server *srv, struct server_writeout *job)
{
    if (!srv->swap.spare)
        srv->swap.spare = job;
    else
        mm_kfree(srv->mm, job);
}

static void writeout_done(uv_work_t *work, int status)
{
    struct server_writeout *job = work->data;
    struct server *srv = job->srv;
    struct server_swap *sw = &srv->swap;

    if (status) {                       /* never ran: nothing was written */
        for (unsigned i = 0; i < job->batch.nr; i++)
            job->batch.io[i].err = status;
    }
    mm_swap_batch_done(srv->mm, &job->batch);
    if (job == &sw->bg)
        sw->writing = false;
    else
        job_put(srv, job);
    /* Pages are free: what waited for them runs again. */
    server_park_wake(srv, job, true, 0);
    if (sw->started && mm_reclaim_pending(srv->mm) && !sw->writing &&
        !uv_is_active((uv_handle_t *)&sw->idle))
        uv_idle_start(&sw->idle, on_reclaim_idle);
}

/* 0, or the batch could not go to a worker and was written here. */
static int writeout_queue(struct server *srv, struct server_writeout *job)
{
    int err;

    job->srv = srv;
    job->work.data = job;
    err = uv_queue_work(srv->loop, &job->work, writeout_work, writeout_done);
    if (err) {
        /* No worker to be had: write here rather than leave pages hanging. */
        log_warn("swap: cannot queue the write-out (%s); writing inline",
                 uv_strerror(err));
        mm_swap_io_run(&job->batch);
        mm_swap_batch_done(srv->mm, &job->batch);
    }
    return err;
}

/* One step of background reclaim; its file writes go to a worker.  While
 * they are in flight no other step runs: the pages they free are counted
 * as good as free already (mm's background deficit). */
static uint64_t reclaim_step(struct server *srv)
{
    struct server_swap *sw = &srv->swap;
    uint64_t freed;

    if (sw->writing)
        return 0;
    freed = mm_background_reclaim_async(srv->mm, RECLAIM_STEP_PAGES, &sw->bg.batch);
    if (sw->bg.batch.nr && writeout_queue(srv, &sw->bg) == 0)
        sw->writing = true;
    return freed;
}

static void on_reclaim_idle(uv_idle_t *idle)
{
    struct server *srv = idle->data;
    uint64_t freed = reclaim_step(srv);

    if (!freed || srv->swap.writing || !mm_reclaim_pending(srv->mm))
        uv_idle_stop(idle);
}

static void on_reclaim_timer(uv_timer_t *timer)
{
    struct server *srv = timer->data;

    if (srv->swap.writing || !mm_reclaim_pending(srv->mm) ||
        uv_is_active((uv_handle_t *)&srv->swap.idle))
        return;
    if (reclaim_step(srv) && !srv->swap.writing && mm_reclaim_pending(srv->mm))
        uv_idle_start(&srv->swap.idle, on_reclaim_idle);
}

struct server_writeout *server_reclaim_begin(struct server *srv,
                                             enum mm_reclaim_mode mode)
{
    struct server_swap *sw = &srv->swap;
    struct server_writeout *job = NULL;

    if (sw->fd < 0)
        return NULL;                    /* nothing to reclaim to */
    if (mode == MM_RECLAIM_ASYNC) {
        job = sw->spare ? sw->spare : mm_kmalloc(srv->mm, sizeof(*job));
        sw->spare = NULL;
        /* The pool out of even its reserve: reclaim as before, on the
         * loop, rather than fail for want of a job to write with. */
        if (job) {
            job->batch.nr = 0;
        } else {
            log_debug("swap: no memory for a write-out job: direct reclaim "
                      "writes on the loop");
            mode = MM_RECLAIM_SYNC;
        }
    }
    mm_set_direct_reclaim(srv->mm, mode, job ? &job->batch : NULL);
    return job;
}

const void *server_reclaim_end(struct server *srv, struct server_writeout *job)
{
    mm_set_direct_reclaim(srv->mm, MM_RECLAIM_SYNC, NULL);
    if (!job)
        return &server_park_any;
    if (job->batch.nr == 0) {
        job_put(srv, job);
        return &server_park_any;
    }
    if (writeout_queue(srv, job)) {
        job_put(srv, job);
        return NULL;
    }
    return job;
}

static int open_swapfile(const struct config_swap *cfg, bool *created)
{
    struct stat st;
    int fd;

    if (stat(cfg->path, &st) == 0) {
        if (!S_ISREG(st.st_mode)) {
            log_error("swap file %s: not a regular file; refusing to truncate it",
                      cfg->path);
            return -EINVAL;
        }
        *created = false;
    } else if (errno == ENOENT) {
        *created = true;
    } else {
        log_error("swap file %s: %s", cfg->path, strerror(errno));
        return -errno;
    }
    fd = open(cfg->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        log_error("cannot open swap file %s: %s", cfg->path, strerror(errno));
        return -errno;
    }
    if (ftruncate(fd, (off_t)cfg->bytes) != 0) {
        int err = -errno;

        log_error("cannot size swap file %s to %llu bytes: %s", cfg->path,
                  (unsigned long long)cfg->bytes, strerror(errno));
        close(fd);
        if (*created)
            unlink(cfg->path);
        return err;
    }
    return fd;
}

int server_swap_init(struct server *srv)
{
    const struct config_swap *cfg = &srv->cfg->swap;
    struct server_swap *sw = &srv->swap;
    int fd, err;

    sw->fd = -1;
    if (!cfg->path)
        return 0;
    fd = open_swapfile(cfg, &sw->created);
    if (fd < 0)
        return fd;
    err = mm_swapon(srv->mm, fd, cfg->path, cfg->bytes);
    if (err) {
        log_error("cannot use %s as swap: %s", cfg->path, strerror(-err));
        close(fd);
        if (sw->created)
            unlink(cfg->path);
        return err;
    }
    mm_swap_set_read_latency(srv->mm, (uint32_t)(srv->cfg->swap_read_delay_ms * 1000));
    mm_swap_set_write_latency(srv->mm,
                              (uint32_t)(srv->cfg->swap_write_delay_ms * 1000));
    err = mm_zswap_set(srv->mm, srv->cfg->zswap,
                       (unsigned)srv->cfg->zswap_max_pool_percent);
    if (err)
        log_warn("zswap: %s; swapping to %s only", strerror(-err), cfg->path);
    sw->fd = fd;
    uv_timer_init(srv->loop, &sw->timer);
    uv_idle_init(srv->loop, &sw->idle);
    sw->timer.data = sw->idle.data = srv;
    uv_timer_start(&sw->timer, on_reclaim_timer, RECLAIM_TICK_MS, RECLAIM_TICK_MS);
    sw->started = true;
    /* Allocated now, so that direct reclaim, when the pool is short, finds
     * a job without allocating one. */
    sw->spare = mm_kmalloc(srv->mm, sizeof(*sw->spare));
    log_info("swap file %s: %llu bytes%s; zswap %s", cfg->path,
             (unsigned long long)cfg->bytes, sw->created ? " (created)" : "",
             srv->cfg->zswap && !err ? "on" : "off");
    return 0;
}

void server_swap_stop(struct server *srv)
{
    if (!srv->swap.started)
        return;
    srv->swap.started = false;
    uv_close((uv_handle_t *)&srv->swap.timer, NULL);
    uv_close((uv_handle_t *)&srv->swap.idle, NULL);
}

/* After mm_destroy(): nothing reads or writes the file any more. */
void server_swap_fini(struct server *srv)
{
    if (srv->swap.fd < 0)
        return;
    close(srv->swap.fd);
    srv->swap.fd = -1;
    if (srv->swap.created && unlink(srv->cfg->swap.path) != 0)
        log_warn("cannot remove swap file %s: %s", srv->cfg->swap.path,
                 strerror(errno));
}
