/* SegmentClone: copy-on-write snapshots of a tenant's named segments
 * (mm/clone.c does the sharing).  With a destination name the clone joins
 * the tenant's namespace like a SegmentCreate'd segment (rmem_segment_clone);
 * without one it becomes an anonymous segment of the caller's session, freed
 * with its handle or the session, which is what rmem_mmap(MAP_PRIVATE) of a
 * named segment maps: its writes break shares into pages of its own and
 * never reach the named segment.
 *
 * Names are checked and looked up as every named RPC does, in the caller's
 * tenant only, so another tenant's segment is not there (ENOENT); an
 * unlinked segment has no name any more, whoever still maps it.  The clone
 * is made of what the server holds at this moment: pages clients have not
 * written back are not in it (librmem writes back the caller's own first). */
#include "internal.h"

#include <errno.h>
#include <string.h>

static int bad_name(struct rpc_ctx *ctx, const char *what, const char *name)
{
    const char *why;

    if (!tenant_named_check_name(name, &why))
        return 0;
    return rpc_fail(ctx, -EINVAL, "%s segment name '%.80s' is %s", what, name,
                    why);
}

static int clone_failed(struct rpc_ctx *ctx, int err, const char *src)
{
    const char *tname = ctx->conn->session->tenant->name;

    switch (err) {
    case -EOWNERDEAD:
        return rpc_fail(ctx, err, "segment '%s' was killed by the OOM killer of "
                        "tenant '%s'; unlink it", src, tname);
    case -EMLINK:
        return rpc_fail(ctx, err, "segment '%s' has the most clones a family may "
                        "have (its clones and theirs count)", src);
    case -ENOMEM:
        return rpc_fail(ctx, err, "cannot clone '%s': out of pool or metadata "
                        "memory, or tenant '%s' would exceed "
                        "memory.memsw.limit_in_bytes for the reservation", src,
                        tname);
    default:
        return rpc_fail(ctx, err, "cannot clone '%s': %s", src, strerror(-err));
    }
}

static void reply_clone(struct rpc_ctx *ctx, uint64_t handle, uint64_t pages)
{
    Rmem__SegmentCreateReply *r = &ctx->reply.segment_create;

    rmem__segment_create_reply__init(r);
    r->segment = handle;
    r->pages = pages;
    r->created = true;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_SEGMENT_CLONE;
    ctx->resp.segment_clone = r;
}

/* rmem_segment_clone: a new name for a snapshot of src. */
static int clone_named(struct rpc_ctx *ctx, struct named_segment *src,
                       const char *dst, bool reserve)
{
    struct tenant *t = ctx->conn->session->tenant;
    struct named_segment *n;
    int err;

    err = tenant_named_clone(t, src, dst, reserve, &n);
    if (err == -EEXIST)
        return rpc_fail(ctx, err, "tenant '%s' has a segment named '%s' already",
                        t->name, dst);
    if (err)
        return clone_failed(ctx, err, src->name);
    log_debug("tenant '%s': segment '%s' cloned as '%s' (%llu pages shared)",
              t->name, src->name, dst,
              (unsigned long long)segment_shared_pages(n->seg));
    reply_clone(ctx, 0, segment_npages(n->seg));
    return 0;
}

/* MAP_PRIVATE: a snapshot of src only this session sees. */
static int clone_private(struct rpc_ctx *ctx, struct named_segment *src,
                         bool reserve)
{
    struct session *s = ctx->conn->session;
    struct segment *seg;
    uint64_t id;
    int err;

    err = segment_clone(src->seg, &seg);
    if (err)
        return clone_failed(ctx, err, src->name);
    if (reserve) {
        err = segment_reserve(seg);
        if (err) {
            segment_destroy(seg);
            return rpc_fail(ctx, err, "cannot reserve %llu bytes for a private "
                            "copy of '%s': tenant '%s' would exceed "
                            "memory.memsw.limit_in_bytes (map with "
                            "MAP_NORESERVE to skip the reservation)",
                            (unsigned long long)segment_npages(src->seg) *
                            RMEM_PAGE_SIZE, src->name, s->tenant->name);
        }
    }
    err = session_segment_add(s, seg, &id);
    if (err) {
        segment_destroy(seg);
        return rpc_fail(ctx, err, "cannot register the private copy: %s",
                        strerror(-err));
    }
    reply_clone(ctx, id, segment_npages(seg));
    return 0;
}

int rpc_segment_clone(struct rpc_ctx *ctx)
{
    const Rmem__SegmentClone *sc = ctx->req->segment_clone;
    struct tenant *t = ctx->conn->session->tenant;
    const char *dst = sc->dst ? sc->dst : "";
    struct named_segment *src;
    int err;

    err = bad_name(ctx, "source", sc->src);
    if (!err && dst[0])
        err = bad_name(ctx, "destination", dst);
    if (err)
        return err;
    src = tenant_named_find(t, sc->src);
    if (!src)
        return rpc_fail(ctx, -ENOENT, "no segment named '%s' in tenant '%s'",
                        sc->src, t->name);
    if (dst[0])
        return clone_named(ctx, src, dst, sc->reserve);
    return clone_private(ctx, src, sc->reserve);
}
