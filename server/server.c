/* The server: one libuv loop on one thread owns everything - the listener,
 * every connection, the tenants and sessions, and mm/ (which therefore needs
 * no locks).  Stopping is a cascade of uv_close calls; the loop ends when
 * the last handle has closed, and only then is memory handed back to mm. */
#include "internal.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

/* mm/ logs through one hook: its lines join ours, at its syslog level. */
static void log_from_mm(int level, const char *msg)
{
    enum log_level lvl = level <= MM_LOG_ERR ? LL_ERROR :
                         level <= MM_LOG_WARNING ? LL_WARN :
                         level <= MM_LOG_INFO ? LL_INFO : LL_DEBUG;

    log_print(lvl, "mm: %s", msg);
}

static void on_connection(uv_stream_t *listener, int status)
{
    struct server *srv = listener->data;

    if (status < 0) {
        log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    conn_accept(srv);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct server *srv = sig->data;

    if (signum == SIGHUP) {
        unsigned changed;

        log_info("SIGHUP received: reloading the configuration");
        server_reload(srv, &changed);
        return;
    }

    log_info("%s received: closing %llu connections and exiting",
             signum == SIGTERM ? "SIGTERM" : "SIGINT",
             (unsigned long long)srv->stats[SERVER_STAT_connections]);
    server_stop(srv);
}

static int server_create_caches(struct server *srv)
{
    int err = slab_cache_create(srv->mm, "rmem_conn", sizeof(struct conn), 0,
                                &srv->conn_cache);

    if (!err)
        err = slab_cache_create(srv->mm, "rmem_session", sizeof(struct session),
                                0, &srv->session_cache);
    if (!err)
        err = slab_cache_create(srv->mm, "rmem_tenant", sizeof(struct tenant),
                                0, &srv->tenant_cache);
    return err;                         /* mm_destroy takes what was made */
}

/* A cache still holding objects at exit is a leak: say which. */
static void server_destroy_caches(struct server *srv)
{
    struct slab_cache **caches[] = {
        &srv->conn_cache, &srv->session_cache, &srv->tenant_cache,
    };

    for (size_t i = 0; i < sizeof(caches) / sizeof(caches[0]); i++) {
        if (*caches[i] && slab_cache_destroy(*caches[i]))
            log_error("objects leaked at exit: see the slab message above");
        *caches[i] = NULL;
    }
}

static void *pb_alloc(void *data, size_t size)
{
    return mm_kvmalloc(data, size);
}

static void pb_free(void *data, void *p)
{
    mm_kvfree(data, p);
}

void server_pb_allocator(struct server *srv, ProtobufCAllocator *a)
{
    a->alloc = pb_alloc;
    a->free = pb_free;
    a->allocator_data = srv->mm;
}

int server_reload(struct server *srv, unsigned *nr_changed)
{
    struct tenant *def = tenant_find(srv, "default");
    int err = config_reload(srv->cfg, nr_changed);

    if (err)
        return err;
    log_level = srv->cfg->log_level;
    server_ksm_reload(srv);
    if (def && tenant_set_token(def, srv->cfg->default_token))
        log_error("reload: no memory for the default tenant's new token; it "
                  "keeps the old one");
    log_info("reload: done, %u option%s changed", *nr_changed,
             *nr_changed == 1 ? "" : "s");
    return 0;
}

static void on_stop_timer(uv_timer_t *t)
{
    server_stop(t->data);
}

void server_stop_soon(struct server *srv)
{
    if (!srv->stopping)
        uv_timer_start(&srv->stop_timer, on_stop_timer, 0, 0);
}

int server_init(struct server *srv, struct config *cfg, uv_loop_t *loop)
{
    struct mm_config mc = {
        .pool_bytes = cfg->pool_bytes,
        .policy = cfg->numa.policy,
        .bind_mask = cfg->numa.bind_mask,
    };
    struct tenant *t;
    int err;

    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->cfg = cfg;
    srv->start_ns = uv_hrtime();
    srv->next_segment_id = 1;

    mm_set_log(log_from_mm);
    err = mm_create(&mc, &srv->mm);
    if (err) {
        mm_set_log(NULL);
        log_error("cannot create a pool of %llu bytes: %s",
                  (unsigned long long)cfg->pool_bytes, strerror(-err));
        return err;
    }
    err = mm_thp_advised(srv->mm);
    if (err)
        log_info("pool: transparent huge pages refused (MADV_HUGEPAGE: %s); "
                 "4 KiB pages only", strerror(-err));
    else
        log_info("pool: transparent huge pages asked for (MADV_HUGEPAGE)");
    srv->swap.fd = -1;
    err = server_create_caches(srv);
    if (err) {
        log_error("cannot create the slab caches: %s", strerror(-err));
        goto err_destroy_mm;
    }
    err = tenant_create(srv, "default", cfg->default_token, &t);
    if (err) {
        log_error("cannot create the default tenant: %s", strerror(-err));
        goto err_destroy_mm;
    }
    err = server_tls_init(srv);
    if (err)
        goto err_destroy_tenant;
    err = server_swap_init(srv);
    if (err) {
        server_tls_fini(srv);
        goto err_destroy_tenant;
    }
    server_ksm_init(srv);
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    uv_signal_init(loop, &srv->sig_term);
    uv_signal_init(loop, &srv->sig_int);
    uv_signal_init(loop, &srv->sig_hup);
    uv_timer_init(loop, &srv->stop_timer);
    srv->sig_term.data = srv->sig_int.data = srv->sig_hup.data = srv;
    srv->stop_timer.data = srv;
    uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_signal, SIGINT);
    uv_signal_start(&srv->sig_hup, on_signal, SIGHUP);
    return 0;

err_destroy_tenant:
    tenant_destroy(t);
err_destroy_mm:
    mm_destroy(srv->mm);
    srv->mm = NULL;
    mm_set_log(NULL);
    return err;
}

int server_listen(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN];
    int len = sizeof(ss), err, port;

    err = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&cfg->listen.ss, 0);
    if (!err)
        err = uv_listen((uv_stream_t *)&srv->listener, SOMAXCONN, on_connection);
    if (!err)
        err = uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&ss, &len);
    if (err) {
        log_error("cannot listen on %s: %s", cfg->listen.text, uv_strerror(err));
        return err;
    }
    if (ss.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        printf("rmemd: listening on [%s]:%d\n", host, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        printf("rmemd: listening on %s:%d\n", host, port);
    }
    fflush(stdout);
    srv->listening = true;
    log_info("rmemd %s ready: pool %llu bytes, session grace %llus",
             RMEMD_VERSION, (unsigned long long)cfg->pool_bytes,
             (unsigned long long)cfg->session_grace_s);
    return 0;
}

void server_stop(struct server *srv)
{
    struct conn *c, *next;

    if (srv->stopping)
        return;
    srv->stopping = true;
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_hup, NULL);
    uv_close((uv_handle_t *)&srv->stop_timer, NULL);
    server_swap_stop(srv);
    server_ksm_stop(srv);
    /* Sessions of closing connections go with their last close callback
     * (no grace while stopping); idle ones in their grace period go now. */
    for (c = srv->conns; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    for (struct tenant *t = srv->tenants; t; t = t->next)
        session_destroy_idle(t);
}

void server_fini(struct server *srv)
{
    struct tenant *t, *next;

    for (t = srv->tenants; t; t = next) {
        next = t->next;
        tenant_destroy(t);
    }
    srv->tenants = NULL;
    server_destroy_caches(srv);
    if (srv->mm) {
        /* The loop has ended: every write-out is done, this one idle. */
        mm_kfree(srv->mm, srv->swap.spare);
        srv->swap.spare = NULL;
        if (mm_check(srv->mm))
            log_error("memory manager invariants broken at exit");
        mm_destroy(srv->mm);
        srv->mm = NULL;
    }
    server_swap_fini(srv);
    server_tls_fini(srv);
    mm_set_log(NULL);
}

/* Busy polling (--busy-poll): once the loop has read from a client it
 * goes on polling without sleeping for busy-poll µs, yielding the CPU at
 * each turn, so that the next request of a burst - the next fault of a
 * client paging through us - finds it awake.  Waking a sleeping thread is
 * an interrupt to a halted CPU, on a virtual machine as dear as the whole
 * round trip (tests/bench/FAULT-PATH.md).  A loop that may only run on
 * one CPU never spins: whatever it waits for would need that CPU. */
static bool run_busy(struct server *srv, uv_loop_t *loop, uint64_t ns)
{
    uint64_t end = uv_hrtime() + ns;

    do {
        uint64_t seen = srv->stats[SERVER_STAT_bytes_in];

        if (!uv_run(loop, UV_RUN_NOWAIT))
            return false;
        if (srv->stats[SERVER_STAT_bytes_in] != seen)
            end = uv_hrtime() + ns;
        else
            sched_yield();
    } while (uv_hrtime() < end && !srv->stopping);
    return true;
}

static void run_loop(struct server *srv, uv_loop_t *loop)
{
    cpu_set_t cpus;
    bool alive = true, multi_cpu = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 &&
                                   CPU_COUNT(&cpus) > 1;

    while (alive) {
        uint64_t seen = srv->stats[SERVER_STAT_bytes_in];

        alive = uv_run(loop, UV_RUN_ONCE);
        if (alive && multi_cpu && srv->cfg->busy_poll_us &&
            srv->stats[SERVER_STAT_bytes_in] != seen)
            alive = run_busy(srv, loop, srv->cfg->busy_poll_us * 1000u);
    }
}

int server_run(struct config *cfg)
{
    struct server srv;
    uv_loop_t loop;
    int err;

    signal(SIGPIPE, SIG_IGN);
    err = uv_loop_init(&loop);
    if (err) {
        log_error("cannot create the event loop: %s", uv_strerror(err));
        return err;
    }
    err = server_init(&srv, cfg, &loop);
    if (err) {
        uv_loop_close(&loop);
        return err;
    }
    err = server_listen(&srv);
    if (err)
        server_stop(&srv);
    run_loop(&srv, &loop);
    server_fini(&srv);
    if (uv_loop_close(&loop))
        log_warn("event loop closed with handles still open");
    if (!err)
        log_info("exited cleanly");
    return err;
}
