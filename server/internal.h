/* internal.h - declarations shared inside server/, grouped by the file that
 * defines them.  Every symbol here carries a server prefix (server_, conn_,
 * rpc_, session_, tenant_, config_, log_): the test runner links these
 * objects next to the client library. */
#ifndef RMEM_SERVER_INTERNAL_H
#define RMEM_SERVER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <uv.h>

#include "../mm/mm.h"
#include "frame.h"
#include "idmap.h"

#define RMEMD_VERSION "0.1.0"

/* Largest anonymous segment: 2^36 pages (256 TiB). */
#define SERVER_MAX_SEGMENT_PAGES (1ull << 36)

struct server;
struct conn;
struct session;
struct tenant;
struct ssl_st;                          /* OpenSSL's SSL and SSL_CTX, for */
struct ssl_ctx_st;                      /* tls.c's fields below */

/* ---- log.c: "rmemd[pid]: <level>: message" on stderr ---- */

enum log_level { LL_ERROR, LL_WARN, LL_INFO, LL_DEBUG };

extern enum log_level log_level;
const char *log_level_name(enum log_level lvl);
void log_print(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_print(LL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_print(LL_WARN, __VA_ARGS__)
#define log_info(...)  log_print(LL_INFO, __VA_ARGS__)
#define log_debug(...)                                                        \
    do {                                                                      \
        if (log_level >= LL_DEBUG)                                            \
            log_print(LL_DEBUG, __VA_ARGS__);                                 \
    } while (0)

/* ---- config.c: the one option table (config file and long flags) ---- */

struct config_addr {
    struct sockaddr_storage ss;
    char text[64];                      /* as given: "127.0.0.1:7070" */
};

struct config_numa {
    enum mm_numa_policy policy;
    uint64_t bind_mask;                 /* MM_NUMA_BIND: bit n = node n */
};

struct config_swap {
    char *path;                         /* NULL: no swap file */
    uint64_t bytes;
};

struct config {
    struct config_addr listen;
    uint64_t pool_bytes;
    enum log_level log_level;
    char *admin_token;                  /* NULL: no admin credential */
    char *default_token;                /* NULL: default tenant loopback only */
    struct config_numa numa;
    uint64_t session_grace_s;
    uint64_t busy_poll_us;              /* spin of the loop after a read */
    struct config_swap swap;
    bool zswap;                         /* --zswap: compressed cache before swap */
    uint64_t zswap_max_pool_percent;
    bool ksm;                           /* --ksm: KSM runs from start */
    uint64_t ksm_pages_to_scan;         /* pages per KSM step */
    uint64_t ksm_sleep_ms;              /* between KSM steps */
    uint64_t swap_read_delay_ms;        /* testing: a slow swap device */
    uint64_t swap_write_delay_ms;       /* testing: slow swap writes */
    char *tls_cert;                     /* NULL: plain TCP (tls.c) */
    char *tls_key;
    char *tls_ca;                       /* NULL: no client certificates */
    int argc;                           /* the command line, for reloads */
    char **argv;
};

/* Outcome of config_parse_args besides errors. */
#define CONFIG_EXIT 1                   /* --help / --version printed */

int  config_init(struct config *cfg);   /* every option at its default */
void config_free(struct config *cfg);
/* name = value from source ("--pool", "rmemd.conf:3"); -EINVAL + message. */
int  config_set(struct config *cfg, const char *name, const char *value,
                const char *source);
int  config_load_file(struct config *cfg, const char *path);
/* -c FILE first, then the long flags over it; 0, CONFIG_EXIT or -EINVAL. */
int  config_parse_args(struct config *cfg, int argc, char **argv);
/* Protected mode: -EPERM with the reason logged; -EINVAL for a TLS key
 * without its certificate or the other way round. */
int  config_check(const struct config *cfg);
/* SIGHUP: read the same command line and config file again; apply the
 * options marked reloadable, log the others as needing a restart.  A
 * configuration with any error changes nothing: -EINVAL. */
int  config_reload(struct config *cur, unsigned *nr_changed);
bool config_addr_is_loopback(const struct sockaddr *sa);
void config_print_help(FILE *f);

/* ---- swap.c: the swap file, background reclaim, and the write-out of
 * both background and direct reclaim on libuv workers ---- */

/* One batch of writes to the swap file, run on a worker. */
struct server_writeout {
    uv_work_t work;
    struct server *srv;
    struct mm_swap_batch batch;
};

struct server_swap {
    int fd;                             /* -1: no swap file */
    bool created;                       /* rmemd made the file: remove at exit */
    uv_timer_t timer;                   /* wakes background reclaim */
    uv_idle_t idle;                     /* keeps it going while it progresses */
    bool started;                       /* handles initialised */
    struct server_writeout bg;          /* background reclaim's writes */
    bool writing;                       /* bg in flight: no new step */
    struct server_writeout *spare;      /* a direct reclaim job kept for reuse */
};

/* ---- ksm.c: ksmd, a timer running mm's KSM scan ---- */

enum server_ksm_run { KSM_RUN_STOP = 0, KSM_RUN_MERGE = 1, KSM_RUN_UNMERGE = 2 };

struct server_ksm {
    uv_timer_t timer;                   /* one scan step per tick */
    bool started;                       /* handle initialised */
    unsigned run;                       /* enum server_ksm_run */
    bool cfg_ksm;                       /* --ksm as last applied */
};

struct server;
int  server_ksm_init(struct server *srv);   /* after mm; --ksm on starts it */
void server_ksm_stop(struct server *srv);   /* close the handle */
/* /sys/kernel/mm/ksm/run: 0, 1 or 2 (unmerge all, then stopped); 0 or
 * -EINVAL, or the unmerge's -ENOMEM (run is 2 anyway, as Linux's). */
int  server_ksm_set_run(struct server *srv, unsigned run);
/* After a reload: a changed --ksm switches, the step sizes apply. */
void server_ksm_reload(struct server *srv);

struct rpc_ctx;
int  server_swap_init(struct server *srv);  /* after mm exists; logs failures */
void server_swap_stop(struct server *srv);  /* close the handles */
void server_swap_fini(struct server *srv);  /* after mm_destroy: close, remove */
/* Direct reclaim of the mm calls that follow, until server_reclaim_end():
 * MM_RECLAIM_ASYNC queues its writes in a job of its own (SYNC when no
 * job can be had), the other modes as mm_set_direct_reclaim says.
 * server_reclaim_end() puts mm back to synchronous, runs the job's writes
 * on a worker if it has any, and returns what a request that got -EAGAIN
 * is to wait for (server_park): that job, or any write-out in flight; NULL
 * when there is nothing to wait for (no worker: the writes were done). */
struct server_writeout *server_reclaim_begin(struct server *srv,
                                             enum mm_reclaim_mode mode);
const void *server_reclaim_end(struct server *srv, struct server_writeout *job);

/* ---- park.c: requests waiting for swap I/O on a worker ---- */

/* Park the request being handled until `on` - a swap-in (swapin.c) or a
 * write-out (swap.c) - is done: it is not answered now, its frame stays
 * first in the connection's buffer, and the connection parses nothing
 * more and stops reading; then the frame runs again from the start. */
void server_park(struct rpc_ctx *ctx, const void *on);
/* `on` is done: its requests run again (err, if any, is their answer:
 * conn's park_err); a write-out also wakes those waiting for any. */
void server_park_wake(struct server *srv, const void *on, bool writeout,
                      int err);
/* The requests parked on `from` wait for `to` instead. */
void server_park_move(struct server *srv, const void *from, const void *to);
void server_park_conn_closed(struct conn *c);
/* What server_reclaim_end() hands out to wait for any write-out. */
extern const char server_park_any;

/* ---- swapin.c: READs that wait for the swap file on a libuv worker ---- */

struct server_swapin {
    uv_work_t work;
    struct server *srv;
    struct mm_swapin_req req;           /* mm's, being read */
};

/* segment_read_nowait() gave -EINPROGRESS into srv->swapin_req: read on
 * a worker and park the READ on it (0), or -errno with mm's request
 * cancelled. */
int  server_swapin_start(struct rpc_ctx *ctx);

/* ---- server.c: the loop, listener, signals and server-wide counters ---- */

#define SERVER_STATS(X)                                                       \
    X(connections)                                                            \
    X(total_connections)                                                      \
    X(requests)                                                               \
    X(pages_read)                                                             \
    X(pages_written)                                                          \
    X(bytes_in)                                                               \
    X(bytes_out)                                                              \
    X(bad_frames)

enum server_stat {
#define X(name) SERVER_STAT_##name,
    SERVER_STATS(X)
#undef X
    SERVER_STAT_NR
};

struct server {
    uv_loop_t *loop;
    struct config *cfg;                 /* SIGHUP may change reloadable options */
    struct mm *mm;
    uv_tcp_t listener;
    uv_signal_t sig_term, sig_int, sig_hup;
    uv_timer_t stop_timer;              /* a stop asked for over RPC */
    struct conn *conns;                 /* every open connection */
    /* Every metadata object comes from the pool's slab caches (mm.h):
     * these three, and kmalloc for strings, writes and requests. */
    struct slab_cache *conn_cache;      /* struct conn */
    struct slab_cache *session_cache;   /* struct session */
    struct slab_cache *tenant_cache;    /* struct tenant */
    struct tenant *tenants;
    unsigned ntenants;
    uint64_t next_segment_id;
    uint64_t start_ns;
    uint64_t stats[SERVER_STAT_NR];
    bool listening;
    bool stopping;                      /* no grace periods, no new conns */
    struct server_swap swap;            /* swap.c */
    struct server_ksm ksm;              /* ksm.c */
    struct mm_swapin_req swapin_req;    /* swapin.c: a READ's, until it waits */
    struct conn *parked;                /* park.c: connections waiting */
    struct ssl_ctx_st *tls_ctx;         /* tls.c; NULL: plain TCP */
    char *tls_rbuf;                     /* tls.c: one uv_read's ciphertext */
};

int  server_init(struct server *srv, struct config *cfg, uv_loop_t *loop);
/* protobuf-c allocations of unpacked requests, from kmalloc. */
void server_pb_allocator(struct server *srv, ProtobufCAllocator *a);
int  server_listen(struct server *srv); /* prints the "listening on" line */
void server_stop(struct server *srv);   /* close everything; loop then ends */
/* server_stop once the current request's reply is queued (rmemctl shutdown). */
void server_stop_soon(struct server *srv);
/* Reread the configuration (SIGHUP, rmemctl reload); 0 or -EINVAL. */
int  server_reload(struct server *srv, unsigned *nr_changed);
void server_fini(struct server *srv);   /* after the loop has ended */
int  server_run(struct config *cfg);  /* the whole life of rmemd */

/* ---- conn.c: one client connection, plain or TLS (tls.c) ---- */

#define CONN_RBUF_INITIAL MM_KMALLOC_MAX     /* grows to CONN_MAX_FRAME */
#define CONN_MAX_FRAME (FRAME_PREFIX_LEN + FRAME_MAX_HEADER + FRAME_MAX_PAYLOAD)
#define CONN_WRITE_HIGH (8u * 1024 * 1024)  /* stop reading above this backlog */
#define CONN_WRITE_LOW (1u * 1024 * 1024)   /* resume below this */

struct conn {
    uv_tcp_t tcp;                       /* first: handle -> conn */
    struct server *srv;
    struct conn *prev, *next;           /* srv->conns */
    struct session *session;            /* NULL until Hello succeeds */
    bool admin;                         /* Hello as the admin role: no session */
    uint64_t id;
    uint8_t *rbuf;                      /* received, not yet handled bytes */
    size_t rlen, rcap;
    uv_shutdown_t shutdown_req;
    bool loopback;                      /* peer is 127.0.0.0/8 or ::1 */
    bool paused;                        /* reading stopped: write backlog */
    bool draining;                      /* answer sent, closing after flush */
    bool closing;                       /* uv_close called */
    const void *park_on;                /* park.c: what the request first in
                                           rbuf waits for; NULL: none */
    struct conn *park_next;             /* srv->parked */
    unsigned park_rounds;               /* its runs after the first (a WRITE:
                                           since it last made progress) */
    uint64_t park_progress;             /* a WRITE: its pages already written */
    int park_err;                       /* its answer, from the I/O waited for */
    struct ssl_st *ssl;                 /* tls.c; NULL: plain TCP */
    char peer[64];
};

int  conn_accept(struct server *srv);
/* Queue one response frame; payload (malloc'd or NULL) is owned from here
 * on and freed once written.  The frame header goes in a kmalloc'd write
 * request (mm_kvmalloc beyond the largest size class). */
int  conn_send(struct conn *c, const Rmem__Response *resp, void *payload,
               uint32_t payload_len);
/* Queue len bytes of buf (malloc'd, owned from here on) as they are:
 * tls.c's ciphertext.  0, or -errno with the connection closing. */
int  conn_write_raw(struct conn *c, void *buf, size_t len);
void conn_close(struct conn *c);
void conn_close_after_flush(struct conn *c);
/* Its parked request may run again: handle it and the frames behind it,
 * then read on. */
void conn_park_done(struct conn *c);
/* Log a malformed frame, count it, close the connection. */
void conn_bad_frame(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- tls.c: TLS on a connection, over memory BIOs ---- */

/* With cfg->tls_cert: the server's context (0, or -EINVAL with OpenSSL's
 * reason logged).  Without: nothing, 0. */
int  server_tls_init(struct server *srv);
void server_tls_fini(struct server *srv);
/* Where uv_read puts a TLS connection's ciphertext. */
uv_buf_t server_tls_read_buf(struct server *srv);
/* c's engine, server side: 0 or -ENOMEM. */
int  server_tls_accept(struct conn *c);
void server_tls_free(struct conn *c);
/* Ciphertext received on c: 0 or -ENOMEM. */
int  server_tls_received(struct conn *c, const void *buf, size_t len);
/* Up to cap bytes of plaintext into buf (the handshake progresses, its
 * messages queued): > 0 bytes, 0 none yet, or -errno after which c must
 * close (a failed handshake or record logged with the reason). */
ssize_t server_tls_read(struct conn *c, void *buf, size_t cap);
/* Encrypt the bufs and queue the ciphertext: 0 or -errno (c must close). */
int  server_tls_write(struct conn *c, const uv_buf_t *bufs, unsigned nbufs);
/* Queue close_notify: 0 or -errno. */
int  server_tls_shutdown(struct conn *c);

/* ---- rpc.c: request dispatch; handlers in rpc_<area>.c ---- */

struct rpc_ctx {
    struct server *srv;
    struct conn *conn;
    const Rmem__Request *req;
    const uint8_t *payload;             /* WRITE pages, already length-checked */
    uint32_t payload_len;
    Rmem__Response resp;
    union {
        Rmem__HelloReply hello;
        Rmem__SegmentCreateReply segment_create;
        Rmem__StatReply stat;
        Rmem__InfoReply info;
        Rmem__TenantListReply tenant_list;
        Rmem__CgroupGetReply cgroup_get;
        Rmem__SegmentListReply segment_list;
        Rmem__SlabInfoReply slab_info;
        Rmem__SwapInfoReply swap_info;
        Rmem__ReloadReply reload;
        Rmem__KsmInfoReply ksm_info;
    } reply;
    void *out_payload;                  /* response payload, malloc'd */
    uint32_t out_len;
    void *scratch;                      /* mm_kvzalloc'd: kmalloc or buddy
                                           pages; freed after the reply */
    bool close;                         /* close the connection after replying */
    bool deferred;                      /* not answered now (park.c) */
    char msg[256];
};

/* Handle one complete frame; malformed frames close the connection. */
void rpc_handle_frame(struct conn *c, const uint8_t *hdr, uint32_t hdr_len,
                      const uint8_t *payload, uint32_t payload_len);
/* A context for answering request id on c (rpc_handle_frame's own, or a
 * deferred answer's), and the answer: status from err (0 or a negative
 * errno), ctx's body and payload; what names the request in logs. */
void rpc_ctx_init(struct rpc_ctx *ctx, struct conn *c, uint64_t id);
void rpc_reply(struct rpc_ctx *ctx, int err, const char *what);
/* Set the reply message; returns err (a negative errno) for tail calls. */
int  rpc_fail(struct rpc_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int rpc_hello(struct rpc_ctx *ctx);             /* rpc_session.c */
int rpc_segment_create(struct rpc_ctx *ctx);    /* rpc_segment.c */
int rpc_segment_free(struct rpc_ctx *ctx);
int rpc_discard(struct rpc_ctx *ctx);
int rpc_read(struct rpc_ctx *ctx);
int rpc_write(struct rpc_ctx *ctx);
int rpc_stat(struct rpc_ctx *ctx);              /* rpc_info.c */
int rpc_info(struct rpc_ctx *ctx);
int rpc_tenant_list(struct rpc_ctx *ctx);       /* rpc_admin.c */
int rpc_shutdown(struct rpc_ctx *ctx);
int rpc_reload(struct rpc_ctx *ctx);
int rpc_tenant_create(struct rpc_ctx *ctx);
int rpc_tenant_delete(struct rpc_ctx *ctx);
int rpc_cgroup_get(struct rpc_ctx *ctx);
int rpc_cgroup_set(struct rpc_ctx *ctx);
int rpc_segment_list(struct rpc_ctx *ctx);
int rpc_slab_info(struct rpc_ctx *ctx);         /* rpc_mem.c */
void rpc_mem_info(struct server *srv, Rmem__InfoReply *r);
void rpc_mem_zone_stat(const struct mm_zone_info *zi, Rmem__MemZoneStat *m);
int rpc_swap_info(struct rpc_ctx *ctx);         /* rpc_swap.c */
void rpc_swap_fill_info(struct server *srv, Rmem__InfoReply *r);
int rpc_named_create(struct rpc_ctx *ctx);      /* rpc_named.c */
int rpc_segment_open(struct rpc_ctx *ctx);
int rpc_segment_unlink(struct rpc_ctx *ctx);
int rpc_segment_clone(struct rpc_ctx *ctx);     /* rpc_clone.c */
int rpc_ksm_madvise(struct rpc_ctx *ctx);       /* rpc_ksm.c */
int rpc_ksm_set(struct rpc_ctx *ctx);
int rpc_ksm_info(struct rpc_ctx *ctx);

/* ---- tenant.c: tenants and their memory cgroups ---- */

struct tenant {
    struct tenant *next;                /* srv->tenants */
    struct server *srv;
    char *name;
    char *token;                        /* NULL: loopback clients only */
    struct memcg *memcg;
    struct idmap sessions;              /* session id -> struct session */
    struct named_segment *named;        /* named.c: its namespace */
};

int  tenant_create(struct server *srv, const char *name, const char *token,
                   struct tenant **out);
void tenant_destroy(struct tenant *t);  /* its sessions must be gone */
struct tenant *tenant_find(struct server *srv, const char *name);
/* Replace the token (NULL: none, loopback only); sessions already open stay. */
int  tenant_set_token(struct tenant *t, const char *token);
/* 0, or -EACCES: wrong token, or no token configured and peer not loopback. */
int  tenant_authenticate(const struct tenant *t, const char *token,
                         bool loopback);
/* Constant-time comparison of two secrets of any length. */
bool tenant_secret_equal(const char *want, const char *got);
/* The name Hello uses for the admin role; no tenant may take it. */
#define TENANT_ADMIN "admin"
#define TENANT_NAME_MAX 64               /* mm's MEMCG_NAME_MAX, NUL included */
/* 0, or -EINVAL with why in *why: [A-Za-z0-9_.-], 1..TENANT_NAME_MAX-1
 * bytes, not TENANT_ADMIN. */
int  tenant_check_name(const char *name, const char **why);
/* The admin role: --admin-token, or loopback when none is set. */
int  tenant_authenticate_admin(const struct config *cfg, const char *token,
                               bool loopback);
uint64_t tenant_nr_segments(const struct tenant *t);

/* ---- named.c: a tenant's named segments (POSIX shared memory) ---- */

#define NAMED_NAME_MAX 64               /* NUL included, as TENANT_NAME_MAX */

struct named_segment {
    struct named_segment *next;         /* tenant->named */
    struct tenant *tenant;
    struct segment *seg;                /* file-backed (segment_set_file) */
    uint64_t id;                        /* its number in segment listings */
    uint32_t opens;                     /* handles sessions hold */
    bool unlinked;                      /* nameless: freed at the last close */
    char name[NAMED_NAME_MAX];
};

/* 0, or -EINVAL with why in *why: [A-Za-z0-9_.-], 1..63 bytes, not . or .. */
int  tenant_named_check_name(const char *name, const char **why);
/* The live (not unlinked) segment of that name, or NULL. */
struct named_segment *tenant_named_find(struct tenant *t, const char *name);
/* A new named segment with no handle open: -EEXIST, or an mm error
 * (reserve: its whole size charged to memsw now). */
int  tenant_named_create(struct tenant *t, const char *name, uint64_t pages,
                         bool reserve, struct named_segment **out);
/* A new named segment that is a copy-on-write clone of src (mm/clone.c),
 * no handle open: -EEXIST, segment_clone's errors, or -ENOMEM for the
 * reservation (reserve: its whole size charged to memsw now). */
int  tenant_named_clone(struct tenant *t, struct named_segment *src,
                        const char *name, bool reserve,
                        struct named_segment **out);
void tenant_named_get(struct named_segment *n);   /* a handle opens */
void tenant_named_put(struct named_segment *n);   /* one closes: maybe freed */
/* The name goes now, the segment with its last handle: 0 or -ENOENT. */
int  tenant_named_unlink(struct tenant *t, const char *name);
unsigned tenant_named_count(const struct tenant *t);  /* unlinked included */
void tenant_named_destroy_all(struct tenant *t);      /* tenant_destroy */

/* ---- session.c: a client's connections, its anonymous segments and its
 * handles on named ones ---- */

struct session {
    uint64_t id;
    struct tenant *tenant;
    unsigned nconns;
    uv_timer_t grace;                   /* frees the session when it fires */
    struct idmap segments;              /* segment id -> struct segment */
    struct idmap named;                 /* handle -> struct named_segment */
};

int  session_create(struct tenant *t, struct session **out);
struct session *session_find(struct tenant *t, uint64_t id);
void session_attach(struct session *s);     /* a connection joins */
void session_detach(struct session *s);     /* one leaves: grace or free */
void session_destroy(struct session *s);    /* frees its segments now */
void session_destroy_idle(struct tenant *t); /* those with no connection */
int  session_segment_add(struct session *s, struct segment *seg, uint64_t *id);
struct segment *session_segment_find(struct session *s, uint64_t id);
int  session_segment_free(struct session *s, uint64_t id);   /* or close */
/* A new handle on a named segment in this session (opens + 1). */
int  session_named_open(struct session *s, struct named_segment *n,
                        uint64_t *id);

#endif
