/* Hello: protocol version, tenant authentication, and the session the
 * connection belongs to - a new one (session 0) or one the same tenant
 * already holds, whose anonymous segments it then shares.  A failed Hello
 * is answered and the connection closed, so guessing costs a connection. */
#include "internal.h"

#include <errno.h>

int rpc_hello(struct rpc_ctx *ctx)
{
    const Rmem__Hello *h = ctx->req->hello;
    struct conn *c = ctx->conn;
    struct tenant *t;
    struct session *s;
    int err;

    if (c->session)
        return rpc_fail(ctx, -EISCONN, "hello already done: session %llu",
                        (unsigned long long)c->session->id);
    ctx->close = true;                  /* unless it succeeds */
    if (h->version != RMEM_PROTO_VERSION)
        return rpc_fail(ctx, -EPROTONOSUPPORT,
                        "protocol version %u not supported; this server speaks %u",
                        h->version, RMEM_PROTO_VERSION);
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

    rmem__hello_reply__init(&ctx->reply.hello);
    ctx->reply.hello.version = RMEM_PROTO_VERSION;
    ctx->reply.hello.page_size = RMEM_PAGE_SIZE;
    ctx->reply.hello.max_io_pages = FRAME_MAX_IO_PAGES;
    ctx->reply.hello.session = s->id;
    ctx->reply.hello.server = (char *)"rmemd " RMEMD_VERSION;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_HELLO;
    ctx->resp.hello = &ctx->reply.hello;
    return 0;
}
