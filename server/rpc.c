/* Request dispatch: unpack a frame's header, check it against the frame
 * (payload size, known body), gate everything behind Hello, and call the one
 * handler the table below names for its body.  Handlers fill ctx->reply and
 * return 0 or a negative errno (message via rpc_fail); the status goes back
 * as a positive errno.  A frame that cannot be trusted closes the
 * connection; a request that is merely wrong gets an error status. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Who may call a handler once Hello is done: a tenant's connection (the
 * zero default), the admin role's, or either. */
enum rpc_role { RPC_TENANT = 0, RPC_ADMIN, RPC_ANY };

static const struct rpc_handler {
    int (*fn)(struct rpc_ctx *ctx);
    bool before_hello;                  /* allowed without a session */
    enum rpc_role role;
} rpc_table[] = {
    [RMEM__REQUEST__BODY_HELLO]          = {rpc_hello, true},
    [RMEM__REQUEST__BODY_SEGMENT_CREATE] = {rpc_segment_create, false},
    [RMEM__REQUEST__BODY_SEGMENT_FREE]   = {rpc_segment_free, false},
    [RMEM__REQUEST__BODY_DISCARD]        = {rpc_discard, false},
    [RMEM__REQUEST__BODY_READ]           = {rpc_read, false},
    [RMEM__REQUEST__BODY_WRITE]          = {rpc_write, false},
    [RMEM__REQUEST__BODY_STAT]           = {rpc_stat, false},
    [RMEM__REQUEST__BODY_INFO]           = {rpc_info, false, RPC_ANY},
    /* the admin role: tenants, their cgroups, segments (rpc_admin.c) */
    [RMEM__REQUEST__BODY_TENANT_LIST]    = {rpc_tenant_list, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_TENANT_CREATE]  = {rpc_tenant_create, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_TENANT_DELETE]  = {rpc_tenant_delete, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_CGROUP_GET]     = {rpc_cgroup_get, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_CGROUP_SET]     = {rpc_cgroup_set, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_SEGMENT_LIST]   = {rpc_segment_list, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_SLAB_INFO]      = {rpc_slab_info, false, RPC_ANY},
    [RMEM__REQUEST__BODY_SWAP_INFO]      = {rpc_swap_info, false, RPC_ANY},
    [RMEM__REQUEST__BODY_SHUTDOWN]       = {rpc_shutdown, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_RELOAD]         = {rpc_reload, false, RPC_ADMIN},
    /* named segments (rpc_named.c); unlink: a tenant its own, admin any */
    [RMEM__REQUEST__BODY_SEGMENT_OPEN]   = {rpc_segment_open, false},
    [RMEM__REQUEST__BODY_SEGMENT_UNLINK] = {rpc_segment_unlink, false, RPC_ANY},
    /* copy-on-write clones of named segments (rpc_clone.c) */
    [RMEM__REQUEST__BODY_SEGMENT_CLONE]  = {rpc_segment_clone, false},
    /* KSM (rpc_ksm.c): a tenant marks its segments, the admin runs it */
    [RMEM__REQUEST__BODY_KSM_MADVISE]    = {rpc_ksm_madvise, false},
    [RMEM__REQUEST__BODY_KSM_SET]        = {rpc_ksm_set, false, RPC_ADMIN},
    [RMEM__REQUEST__BODY_KSM_INFO]       = {rpc_ksm_info, false, RPC_ADMIN},
};

#define RPC_TABLE_LEN (sizeof(rpc_table) / sizeof(rpc_table[0]))

int rpc_fail(struct rpc_ctx *ctx, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    va_end(ap);
    return err;
}

static void rpc_reply_unsupported(struct conn *c, const Rmem__Request *req)
{
    Rmem__Response resp = RMEM__RESPONSE__INIT;
    char msg[128];

    snprintf(msg, sizeof(msg), "request %llu: unknown request type; this server "
             "speaks protocol %u", (unsigned long long)req->id, RMEM_PROTO_VERSION);
    resp.id = req->id;
    resp.status = EOPNOTSUPP;
    resp.message = msg;
    if (conn_send(c, &resp, NULL, 0) < 0)
        log_debug("conn %llu: cannot send the unsupported reply",
                  (unsigned long long)c->id);
}

void rpc_ctx_init(struct rpc_ctx *ctx, struct conn *c, uint64_t id)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->srv = c->srv;
    ctx->conn = c;
    rmem__response__init(&ctx->resp);
    ctx->resp.id = id;
}

void rpc_reply(struct rpc_ctx *ctx, int err, const char *what)
{
    struct conn *c = ctx->conn;

    if (err) {
        ctx->resp.status = -err;
        ctx->resp.body_case = RMEM__RESPONSE__BODY__NOT_SET;
        free(ctx->out_payload);
        ctx->out_payload = NULL;
        ctx->out_len = 0;
        if (!ctx->msg[0])
            snprintf(ctx->msg, sizeof(ctx->msg), "%s", strerror(-err));
        log_debug("conn %llu: %s request %llu: %s", (unsigned long long)c->id,
                  what, (unsigned long long)ctx->resp.id, ctx->msg);
    }
    ctx->resp.message = ctx->msg;
    err = conn_send(c, &ctx->resp, ctx->out_payload, ctx->out_len);
    if (err && err != -ECANCELED)
        log_warn("conn %llu (%s): cannot send the %s reply: %s",
                 (unsigned long long)c->id, c->peer, what, strerror(-err));
    mm_kvfree(c->srv->mm, ctx->scratch);
    if (ctx->close)
        conn_close_after_flush(c);
}

void rpc_handle_frame(struct conn *c, const uint8_t *hdr, uint32_t hdr_len,
                      const uint8_t *payload, uint32_t payload_len)
{
    ProtobufCAllocator pba;
    Rmem__Request *req;
    const struct rpc_handler *h;
    struct rpc_ctx ctx;
    int64_t want;
    int err;

    server_pb_allocator(c->srv, &pba);
    req = rmem__request__unpack(&pba, hdr_len, hdr);
    if (!req) {
        conn_bad_frame(c, "header of %u bytes is not a protobuf Request", hdr_len);
        return;
    }
    if (req->body_case == RMEM__REQUEST__BODY__NOT_SET &&
        req->base.n_unknown_fields > 0 && payload_len == 0) {
        /* A request from a newer protocol: say so and keep serving. */
        rpc_reply_unsupported(c, req);
        goto out_free_req;
    }
    if ((unsigned)req->body_case >= RPC_TABLE_LEN || !rpc_table[req->body_case].fn) {
        conn_bad_frame(c, "request %llu has no known body (case %d)",
                       (unsigned long long)req->id, (int)req->body_case);
        goto out_free_req;
    }
    want = frame_request_payload_len(req);
    if (want < 0 || (uint64_t)want != payload_len) {
        conn_bad_frame(c, "%s request %llu carries %u payload bytes, %s",
                       frame_request_name(req), (unsigned long long)req->id,
                       payload_len, want < 0 ? "its ranges are malformed" :
                       "not what its ranges need");
        goto out_free_req;
    }
    h = &rpc_table[req->body_case];
    /* Once, not again when it runs after being parked (park.c). */
    if (!c->park_rounds && !c->park_progress)
        c->srv->stats[SERVER_STAT_requests]++;

    rpc_ctx_init(&ctx, c, req->id);
    ctx.req = req;
    ctx.payload = payload;
    ctx.payload_len = payload_len;

    if (!c->session && !c->admin && !h->before_hello) {
        err = rpc_fail(&ctx, -EPERM, "hello first: %s before a successful Hello",
                       frame_request_name(req));
        ctx.close = true;
    } else if (!h->before_hello && h->role == RPC_ADMIN && !c->admin) {
        err = rpc_fail(&ctx, -EACCES, "%s is for the admin role: connect as "
                       "tenant \"admin\" with rmemd's admin token",
                       frame_request_name(req));
    } else if (!h->before_hello && h->role == RPC_TENANT && c->admin) {
        err = rpc_fail(&ctx, -EPERM, "%s needs a tenant; the admin role has no "
                       "memory of its own", frame_request_name(req));
    } else {
        err = h->fn(&ctx);
    }
    /* Parked: run again, and answered, later. */
    if (!ctx.deferred)
        rpc_reply(&ctx, err, frame_request_name(req));
out_free_req:
    rmem__request__free_unpacked(req, &pba);
}
