/* Hello: protocol version, tenant authentication, and the session the
 * connection belongs to - a new one (session 0) or one the same tenant
 * already holds, whose anonymous segments it then shares.  The tenant name
 * "admin" asks for the admin role instead: rmemd's --admin-token (or
 * loopback when none is set), no session, the admin RPCs.  A failed Hello
 * is answered and the connection closed, so guessing costs a connection. */
#include "internal.h"

#include <errno.h>
#include <string.h>

static int hello_reply(struct rpc_ctx *ctx, uint64_t session)
{
    rmem__hello_reply__init(&ctx->reply.hello);
    ctx->reply.hello.version = RMEM_PROTO_VERSION;
    ctx->reply.hello.page_size = RMEM_PAGE_SIZE;
    ctx->reply.hello.max_io_pages = FRAME_MAX_IO_PAGES;
    ctx->reply.hello.session = session;
    ctx->reply.hello.server = (char *)"rmemd " RMEMD_VERSION;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_HELLO;
    ctx->resp.hello = &ctx->reply.hello;
    return 0;
}

static int hello_admin(struct rpc_ctx *ctx)
{
    const Rmem__Hello *h = ctx->req->hello;
    struct conn *c = ctx->conn;

    if (tenant_authenticate_admin(ctx->srv->cfg, h->token, c->loopback)) {
        log_info("conn %llu (%s): hello for the admin role refused: %s",
                 (unsigned long long)c->id, c->peer, ctx->srv->cfg->admin_token ?
                 "bad token" : "no admin-token configured and not loopback");
        return rpc_fail(ctx, -EACCES, "unknown tenant or bad token");
    }
    if (h->session)
        return rpc_fail(ctx, -EINVAL, "the admin role has no sessions to join");
    c->admin = true;
    ctx->close = false;
    log_debug("conn %llu (%s): hello from '%.64s' as the admin role",
              (unsigned long long)c->id, c->peer, h->client);
    return hello_reply(ctx, 0);
}

int rpc_hello(struct rpc_ctx *ctx)
{
    const Rmem__Hello *h = ctx->req->hello;
    struct conn *c = ctx->conn;
    struct tenant *t;
    struct session *s;
    int err;

    if (c->session || c->admin)
        return rpc_fail(ctx, -EISCONN, "hello already done");
    ctx->close = true;                  /* unless it succeeds */
    if (h->version != RMEM_PROTO_VERSION)
        return rpc_fail(ctx, -EPROTONOSUPPORT,
                        "protocol version %u not supported; this server speaks %u",
                        h->version, RMEM_PROTO_VERSION);
    if (strcmp(h->tenant, TENANT_ADMIN) == 0)
        return hello_admin(ctx);
    t = tenant_find(ctx->srv, h->tenant);
    if (!t) {
        log_info("conn %llu (%s): hello for unknown tenant '%.64s'",
                 (unsigned long long)c->id, c->peer, h->tenant);
        return rpc_fail(ctx, -EACCES, "unknown tenant or bad token");
    }
    err = tenant_authenticate(t, h->token, c->loopback);
    if (err) {
        log_info("conn %llu (%s): hello for tenant '%s' refused: %s",
                 (unsigned long long)c->id, c->peer, t->name,
                 t->token ? "bad token" : "no token configured and not loopback");
        return rpc_fail(ctx, err, "unknown tenant or bad token");
    }
    if (h->session) {
        s = session_find(t, h->session);
        if (!s)
            return rpc_fail(ctx, -ENOENT, "no session %llu for tenant '%s' "
                            "(expired after its grace period?)",
                            (unsigned long long)h->session, t->name);
    } else {
        err = session_create(t, &s);
        if (err)
            return rpc_fail(ctx, err, "cannot create a session");
    }
    session_attach(s);
    c->session = s;
    ctx->close = false;
    log_debug("conn %llu (%s): hello from '%.64s', tenant '%s', session %llu%s",
              (unsigned long long)c->id, c->peer, h->client, t->name,
              (unsigned long long)s->id, h->session ? " (joined)" : "");

    return hello_reply(ctx, s->id);
}
