/* Named segment RPCs: SegmentCreate with a name (shm_open with O_CREAT),
 * SegmentOpen (shm_open without it) and SegmentUnlink (shm_unlink).
 * Create and open answer with a handle in the caller's session, which
 * SegmentFree closes and which READ, WRITE and DISCARD take like an
 * anonymous segment's.  Every name is looked up in the caller's tenant
 * only: another tenant's segment of the same name is not there (ENOENT).
 * The admin role has no namespace but may unlink in any tenant's. */
#include "internal.h"

#include <errno.h>
#include <string.h>

static int bad_name(struct rpc_ctx *ctx, const char *name)
{
    const char *why;

    if (!tenant_named_check_name(name, &why))
        return 0;
    return rpc_fail(ctx, -EINVAL, "segment name '%.80s' is %s", name, why);
}

static int reply_handle(struct rpc_ctx *ctx, struct named_segment *n,
                        bool created, bool open_reply)
{
    Rmem__SegmentCreateReply *r = &ctx->reply.segment_create;
    uint64_t id;
    int err = session_named_open(ctx->conn->session, n, &id);

    if (err)
        return rpc_fail(ctx, err, "cannot open a handle on '%s': %s", n->name,
                        strerror(-err));
    rmem__segment_create_reply__init(r);
    r->segment = id;
    r->pages = segment_npages(n->seg);
    r->created = created;
    if (open_reply) {
        ctx->resp.body_case = RMEM__RESPONSE__BODY_SEGMENT_OPEN;
        ctx->resp.segment_open = r;
    } else {
        ctx->resp.body_case = RMEM__RESPONSE__BODY_SEGMENT_CREATE;
        ctx->resp.segment_create = r;
    }
    return 0;
}

int rpc_named_create(struct rpc_ctx *ctx)
{
    const Rmem__SegmentCreate *sc = ctx->req->segment_create;
    struct tenant *t = ctx->conn->session->tenant;
    struct named_segment *n;
    uint64_t pages;
    int err;

    err = bad_name(ctx, sc->name);
    if (err)
        return err;
    if (sc->size == 0)
        return rpc_fail(ctx, -EINVAL, "segment size 0");
    pages = sc->size / RMEM_PAGE_SIZE + (sc->size % RMEM_PAGE_SIZE != 0);
    if (pages > SERVER_MAX_SEGMENT_PAGES)
        return rpc_fail(ctx, -EFBIG, "segment of %llu pages exceeds the limit of %llu",
                        (unsigned long long)pages, SERVER_MAX_SEGMENT_PAGES);
    n = tenant_named_find(t, sc->name);
    if (n && !sc->open_existing)
        return rpc_fail(ctx, -EEXIST, "tenant '%s' has a segment named '%s' "
                        "already", t->name, sc->name);
    if (n) {
        if (segment_npages(n->seg) < pages)
            return rpc_fail(ctx, -EINVAL, "segment '%s' exists with %llu pages, "
                            "fewer than the %llu asked for", sc->name,
                            (unsigned long long)segment_npages(n->seg),
                            (unsigned long long)pages);
        return reply_handle(ctx, n, false, false);
    }
    err = tenant_named_create(t, sc->name, pages, sc->reserve, &n);
    if (err == -ENOMEM && sc->reserve)
        return rpc_fail(ctx, err, "cannot reserve %llu bytes: tenant '%s' would "
                        "exceed memory.memsw.limit_in_bytes",
                        (unsigned long long)pages * RMEM_PAGE_SIZE, t->name);
    if (err)
        return rpc_fail(ctx, err, "cannot create segment '%s' of %llu pages: %s",
                        sc->name, (unsigned long long)pages, strerror(-err));
    err = reply_handle(ctx, n, true, false);
    if (err) {
        /* Nobody saw it: take it back whole rather than leave it behind. */
        tenant_named_unlink(t, sc->name);
        return err;
    }
    log_debug("tenant '%s': named segment '%s' of %llu pages created", t->name,
              n->name, (unsigned long long)pages);
    return 0;
}

int rpc_segment_open(struct rpc_ctx *ctx)
{
    const char *name = ctx->req->segment_open->name;
    struct tenant *t = ctx->conn->session->tenant;
    struct named_segment *n;
    int err = bad_name(ctx, name);

    if (err)
        return err;
    n = tenant_named_find(t, name);
    if (!n)
        return rpc_fail(ctx, -ENOENT, "no segment named '%s' in tenant '%s'",
                        name, t->name);
    if (segment_is_dead(n->seg))
        return rpc_fail(ctx, -EOWNERDEAD, "segment '%s' was killed by the OOM "
                        "killer of tenant '%s'; unlink it", name, t->name);
    return reply_handle(ctx, n, false, true);
}

int rpc_segment_unlink(struct rpc_ctx *ctx)
{
    const Rmem__SegmentUnlink *u = ctx->req->segment_unlink;
    const char *tname = u->tenant ? u->tenant : "";
    struct tenant *t;
    int err;

    if (ctx->conn->admin) {
        if (!tname[0])
            return rpc_fail(ctx, -EINVAL, "the admin role must name the tenant "
                            "whose segment to unlink");
        t = tenant_find(ctx->srv, tname);
        if (!t)
            return rpc_fail(ctx, -ENOENT, "no tenant '%.80s'", tname);
    } else {
        t = ctx->conn->session->tenant;
        if (tname[0] && strcmp(tname, t->name) != 0)
            return rpc_fail(ctx, -EACCES, "tenant '%s' cannot unlink in another "
                            "tenant's namespace", t->name);
    }
    err = bad_name(ctx, u->name);
    if (err)
        return err;
    err = tenant_named_unlink(t, u->name);
    if (err)
        return rpc_fail(ctx, err, "no segment named '%s' in tenant '%s'",
                        u->name, t->name);
    log_debug("tenant '%s': segment '%s' unlinked by conn %llu", t->name,
              u->name, (unsigned long long)ctx->conn->id);
    return 0;
}
