/* Admin RPCs: tenants, their memory cgroups and the segments they hold,
 * for a connection that said Hello as the admin role (rpc.c lets no one
 * else in).  Every input is checked here before anything changes: an
 * unknown tenant is ENOENT, a bad name, key or value EINVAL, a tenant still
 * in use EBUSY.  The cgroup files themselves (names, formats, parsing) are
 * mm/memcg_file.c's; this file only finds the tenant and passes strings.
 *
 * Lists are sorted (tenants by name, segments by tenant then handle) and
 * cut where the reply would outgrow a frame header, saying so in the
 * message; each reply is built in one scratch allocation. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Room left in a reply header for list entries, under FRAME_MAX_HEADER. */
#define ADMIN_LIST_BYTES (FRAME_MAX_HEADER - 1024)
#define CGROUP_FILE_MAX 4096            /* memcg_file_read's largest */

static struct tenant *find_tenant(struct rpc_ctx *ctx, const char *name)
{
    struct tenant *t = tenant_find(ctx->srv, name);

    if (!t)
        rpc_fail(ctx, -ENOENT, "no tenant '%.64s'", name);
    return t;
}

/* ---- tenant list / create / delete ----------------------------------- */

static uint64_t file_u64(const struct memcg *cg, const char *key)
{
    char buf[32];

    return memcg_file_read(cg, key, buf, sizeof(buf)) ? 0 : strtoull(buf, NULL, 10);
}

static int cmp_tenant_info(const void *a, const void *b)
{
    const Rmem__TenantInfo *x = *(Rmem__TenantInfo *const *)a;
    const Rmem__TenantInfo *y = *(Rmem__TenantInfo *const *)b;

    return strcmp(x->name, y->name);
}

int rpc_tenant_list(struct rpc_ctx *ctx)
{
    struct server *srv = ctx->srv;
    Rmem__TenantListReply *r = &ctx->reply.tenant_list;
    Rmem__TenantInfo *infos, **ptrs;
    size_t n = 0;

    infos = mm_kvzalloc(srv->mm, (srv->ntenants + 1) * (sizeof(*infos) + sizeof(*ptrs)));
    if (!infos)
        return rpc_fail(ctx, -ENOMEM, "no memory for the tenant list");
    ctx->scratch = infos;
    ptrs = (Rmem__TenantInfo **)(infos + srv->ntenants + 1);
    for (struct tenant *t = srv->tenants; t && n < srv->ntenants; t = t->next) {
        Rmem__TenantInfo *ti = &infos[n];

        rmem__tenant_info__init(ti);
        ti->name = t->name;
        ti->has_token = t->token != NULL;
        ti->usage = file_u64(t->memcg, "memory.usage_in_bytes");
        ti->limit = file_u64(t->memcg, "memory.limit_in_bytes");
        ti->memsw_usage = file_u64(t->memcg, "memory.memsw.usage_in_bytes");
        ti->memsw_limit = file_u64(t->memcg, "memory.memsw.limit_in_bytes");
        ti->segments = tenant_nr_segments(t);
        ti->sessions = t->sessions.len;
        ptrs[n++] = ti;
    }
    qsort(ptrs, n, sizeof(*ptrs), cmp_tenant_info);
    rmem__tenant_list_reply__init(r);
    r->n_tenants = n;
    r->tenants = ptrs;
    /* Tenant names are short: 200 of them fit in any header. */
    while (rmem__tenant_list_reply__get_packed_size(r) > ADMIN_LIST_BYTES)
        r->n_tenants--;
    if (r->n_tenants < n)
        snprintf(ctx->msg, sizeof(ctx->msg), "truncated: %zu of %zu tenants",
                 r->n_tenants, n);
    ctx->resp.body_case = RMEM__RESPONSE__BODY_TENANT_LIST;
    ctx->resp.tenant_list = r;
    return 0;
}

int rpc_tenant_create(struct rpc_ctx *ctx)
{
    const Rmem__TenantCreate *tc = ctx->req->tenant_create;
    const struct config *cfg = ctx->srv->cfg;
    const char *token = tc->token && tc->token[0] ? tc->token : NULL;
    const char *why;
    struct tenant *t;
    int err;

    if (tenant_check_name(tc->name, &why))
        return rpc_fail(ctx, -EINVAL, "bad tenant name '%.64s': %s", tc->name, why);
    if (tenant_find(ctx->srv, tc->name))
        return rpc_fail(ctx, -EEXIST, "tenant '%s' exists", tc->name);
    /* Protected mode holds for tenants made at run time too. */
    if (!token && !config_addr_is_loopback((const struct sockaddr *)&cfg->listen.ss))
        return rpc_fail(ctx, -EPERM, "protected mode: rmemd listens on %s, beyond "
                        "loopback, so a tenant needs a token", cfg->listen.text);
    err = tenant_create(ctx->srv, tc->name, token, &t);
    if (err)
        return rpc_fail(ctx, err, "cannot create tenant '%s': %s", tc->name,
                        strerror(-err));
    log_info("tenant '%s' created%s by conn %llu (%s)", t->name,
             token ? " with a token" : ", loopback only",
             (unsigned long long)ctx->conn->id, ctx->conn->peer);
    return 0;
}

int rpc_tenant_delete(struct rpc_ctx *ctx)
{
    const char *name = ctx->req->tenant_delete->name;
    struct tenant *t = find_tenant(ctx, name);
    uint64_t segs;

    if (!t)
        return -ENOENT;
    if (strcmp(t->name, "default") == 0)
        return rpc_fail(ctx, -EPERM, "tenant 'default' is built in; it cannot "
                        "be deleted");
    segs = tenant_nr_segments(t);
    if (segs)
        return rpc_fail(ctx, -EBUSY, "tenant '%s' still has %llu segments",
                        t->name, (unsigned long long)segs);
    if (t->sessions.len)
        return rpc_fail(ctx, -EBUSY, "tenant '%s' still has %u sessions (clients "
                        "connected, or gone less than session-grace ago)",
                        t->name, t->sessions.len);
    log_info("tenant '%s' deleted by conn %llu (%s)", t->name,
             (unsigned long long)ctx->conn->id, ctx->conn->peer);
    tenant_destroy(t);
    return 0;
}

/* ---- cgroup get / set ------------------------------------------------ */

struct cgroup_scratch {
    Rmem__CgroupFile files[32];
    Rmem__CgroupFile *ptrs[32];
    char values[32][CGROUP_FILE_MAX];
};

int rpc_cgroup_get(struct rpc_ctx *ctx)
{
    const Rmem__CgroupGet *g = ctx->req->cgroup_get;
    Rmem__CgroupGetReply *r = &ctx->reply.cgroup_get;
    struct tenant *t = find_tenant(ctx, g->tenant);
    struct cgroup_scratch *sc;
    bool all = !g->key || !g->key[0];
    size_t n = 0;

    if (!t)
        return -ENOENT;
    if (!all && !memcg_file_exists(g->key))
        return rpc_fail(ctx, -EINVAL, "no cgroup file '%.64s' (memory.limit_in_bytes, "
                        "memory.stat, ... : rmemctl cgroup get %s lists them)",
                        g->key, t->name);
    sc = mm_kvzalloc(ctx->srv->mm, sizeof(*sc));
    if (!sc)
        return rpc_fail(ctx, -ENOMEM, "no memory for the cgroup reply");
    ctx->scratch = sc;
    for (unsigned i = 0; memcg_file_name(i) && n < 32; i++) {
        const char *key = memcg_file_name(i);
        int err;

        if (!all && strcmp(key, g->key) != 0)
            continue;
        err = memcg_file_read(t->memcg, key, sc->values[n], CGROUP_FILE_MAX);
        if (err)
            return rpc_fail(ctx, err, "cannot read %s: %s", key, strerror(-err));
        rmem__cgroup_file__init(&sc->files[n]);
        sc->files[n].key = (char *)key;
        sc->files[n].value = sc->values[n];
        sc->ptrs[n] = &sc->files[n];
        n++;
    }
    rmem__cgroup_get_reply__init(r);
    r->n_files = n;
    r->files = sc->ptrs;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_CGROUP_GET;
    ctx->resp.cgroup_get = r;
    return 0;
}

/* A limit refused with EINVAL: a bad size, or cgroup v1's order of limits
 * (memory <= memsw) broken; say which with the current values. */
static int limit_order_fail(struct rpc_ctx *ctx, const struct tenant *t,
                            const Rmem__CgroupSet *cs)
{
    char mem[32] = "", memsw[32] = "";

    memcg_file_read(t->memcg, "memory.limit_in_bytes", mem, sizeof(mem));
    memcg_file_read(t->memcg, "memory.memsw.limit_in_bytes", memsw, sizeof(memsw));
    mem[strcspn(mem, "\n")] = memsw[strcspn(memsw, "\n")] = '\0';
    return rpc_fail(ctx, -EINVAL, "%s %.32s: not a size (bytes, K/M/G/T, -1 for "
                    "none), or it breaks memory.limit_in_bytes (%s) <= "
                    "memory.memsw.limit_in_bytes (%s); set memory.limit_in_bytes "
                    "first when lowering both", cs->key, cs->value, mem, memsw);
}

int rpc_cgroup_set(struct rpc_ctx *ctx)
{
    const Rmem__CgroupSet *cs = ctx->req->cgroup_set;
    struct tenant *t = find_tenant(ctx, cs->tenant);
    int err;

    if (!t)
        return -ENOENT;
    if (!memcg_file_exists(cs->key))
        return rpc_fail(ctx, -EINVAL, "no cgroup file '%.64s'", cs->key);
    if (!memcg_file_writable(cs->key))
        return rpc_fail(ctx, -EINVAL, "%s is read-only", cs->key);
    err = memcg_file_write(t->memcg, cs->key, cs->value);
    if (err == -EBUSY)
        return rpc_fail(ctx, err, "%s %.32s: tenant '%s' uses more (%llu bytes "
                        "resident) and nothing can be reclaimed", cs->key,
                        cs->value, t->name,
                        (unsigned long long)memcg_usage_bytes(t->memcg));
    if (err == -EINVAL && strstr(cs->key, "limit_in_bytes"))
        return limit_order_fail(ctx, t, cs);
    if (err)
        return rpc_fail(ctx, err, "%s %.32s: %s", cs->key, cs->value,
                        err == -EINVAL ? "bad value (0 resets a counter; "
                        "memory.oom_control takes 0 or 1)" : strerror(-err));
    log_info("tenant '%s': %s set to %.32s", t->name, cs->key, cs->value);
    return 0;
}

/* ---- segment list ---------------------------------------------------- */

static int cmp_segment_info(const void *a, const void *b)
{
    const Rmem__SegmentInfo *x = *(Rmem__SegmentInfo *const *)a;
    const Rmem__SegmentInfo *y = *(Rmem__SegmentInfo *const *)b;
    int c = strcmp(x->tenant, y->tenant);

    if (c)
        return c;
    return x->segment < y->segment ? -1 : x->segment > y->segment;
}

static size_t count_segments(const struct tenant *t)
{
    size_t n = 0;

    for (uint32_t i = 0; i < t->sessions.cap; i++)
        if (t->sessions.keys[i])
            n += ((struct session *)t->sessions.vals[i])->segments.len;
    return n + tenant_named_count(t);
}

static void fill_segment_info(Rmem__SegmentInfo *si, const struct tenant *t,
                              uint64_t id, const struct segment *seg)
{
    rmem__segment_info__init(si);
    si->tenant = t->name;
    si->segment = id;
    si->pages = segment_npages(seg);
    si->resident_pages = segment_resident_pages(seg);
    si->reserved_pages = segment_reserved_pages(seg);
    si->swapped_pages = segment_swapped_pages(seg);
    si->dead = segment_is_dead(seg);
    si->shared_pages = segment_shared_pages(seg);
}

static size_t fill_segments(struct tenant *t, Rmem__SegmentInfo *infos,
                            Rmem__SegmentInfo **ptrs, size_t n)
{
    for (uint32_t i = 0; i < t->sessions.cap; i++) {
        const struct session *s = t->sessions.vals[i];

        if (!t->sessions.keys[i])
            continue;
        for (uint32_t j = 0; j < s->segments.cap; j++) {
            const struct segment *seg = s->segments.vals[j];
            Rmem__SegmentInfo *si = &infos[n];

            if (!s->segments.keys[j])
                continue;
            fill_segment_info(si, t, s->segments.keys[j], seg);
            ptrs[n++] = si;
        }
    }
    /* Named ones once each, whoever holds handles on them. */
    for (struct named_segment *ns = t->named; ns; ns = ns->next) {
        Rmem__SegmentInfo *si = &infos[n];

        fill_segment_info(si, t, ns->id, ns->seg);
        si->name = ns->name;
        si->opens = ns->opens;
        si->unlinked = ns->unlinked;
        ptrs[n++] = si;
    }
    return n;
}

int rpc_segment_list(struct rpc_ctx *ctx)
{
    const char *name = ctx->req->segment_list->tenant;
    Rmem__SegmentListReply *r = &ctx->reply.segment_list;
    struct tenant *only = NULL;
    Rmem__SegmentInfo *infos, **ptrs;
    size_t total = 0, n = 0, bytes = 0, kept = 0;

    if (name && name[0] && !(only = find_tenant(ctx, name)))
        return -ENOENT;
    for (struct tenant *t = ctx->srv->tenants; t; t = t->next)
        if (!only || t == only)
            total += count_segments(t);
    infos = mm_kvzalloc(ctx->srv->mm, (total + 1) * (sizeof(*infos) + sizeof(*ptrs)));
    if (!infos)
        return rpc_fail(ctx, -ENOMEM, "no memory for a list of %zu segments", total);
    ctx->scratch = infos;
    ptrs = (Rmem__SegmentInfo **)(infos + total + 1);
    for (struct tenant *t = ctx->srv->tenants; t; t = t->next)
        if (!only || t == only)
            n = fill_segments(t, infos, ptrs, n);
    qsort(ptrs, n, sizeof(*ptrs), cmp_segment_info);
    /* An entry costs its packed size plus a tag and a length byte or two. */
    for (; kept < n; kept++) {
        bytes += rmem__segment_info__get_packed_size(ptrs[kept]) + 4;
        if (bytes > ADMIN_LIST_BYTES)
            break;
    }
    if (kept < n)
        snprintf(ctx->msg, sizeof(ctx->msg), "truncated: %zu of %zu segments "
                 "(ask for one tenant)", kept, n);
    rmem__segment_list_reply__init(r);
    r->n_segments = kept;
    r->segments = ptrs;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_SEGMENT_LIST;
    ctx->resp.segment_list = r;
    return 0;
}

/* ---- shutdown / reload: SIGTERM and SIGHUP over the wire -------------- */

int rpc_shutdown(struct rpc_ctx *ctx)
{
    log_info("conn %llu (%s): shutdown requested by the admin role",
             (unsigned long long)ctx->conn->id, ctx->conn->peer);
    server_stop_soon(ctx->srv);         /* after this reply is queued */
    return 0;
}

int rpc_reload(struct rpc_ctx *ctx)
{
    Rmem__ReloadReply *r = &ctx->reply.reload;
    unsigned changed;

    log_info("conn %llu (%s): reload requested by the admin role",
             (unsigned long long)ctx->conn->id, ctx->conn->peer);
    if (server_reload(ctx->srv, &changed))
        return rpc_fail(ctx, -EINVAL, "the configuration has errors (see rmemd's "
                        "log); the running one is kept");
    rmem__reload_reply__init(r);
    r->changed = changed;
    ctx->resp.body_case = RMEM__RESPONSE__BODY_RELOAD;
    ctx->resp.reload = r;
    return 0;
}
