/* Named segments: a tenant's namespace of segments that outlive sessions,
 * as POSIX shared memory (shm_open / shm_unlink) is a namespace of files.
 *
 * Each tenant keeps its own list, so another tenant's names are not merely
 * refused but invisible.  A named segment is referenced by the handles
 * sessions hold on it (`opens`), not by the name: unlinking takes the name
 * away at once (a new segment may take it), and the segment itself is
 * freed when its last handle closes - or at once if none is open.  Without
 * an unlink it stays, with no session at all, until the tenant is
 * destroyed at shutdown.  Its pages are charged to the tenant's memcg like
 * any others, and listed on the memcg's file LRU lists (segment_set_file).
 * A name may also be given to a copy-on-write clone of another named
 * segment (tenant_named_clone, for SegmentClone): it shares its origin's
 * pages and is from then on a named segment like any other.
 *
 * A tenant has few names, so a list is enough; lookups walk it. */
#include "internal.h"

#include <errno.h>
#include <string.h>

int tenant_named_check_name(const char *name, const char **why)
{
    size_t len = strlen(name);

    *why = NULL;
    if (len == 0)
        *why = "empty";
    else if (len >= NAMED_NAME_MAX)
        *why = "longer than 63 bytes";
    else if (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_.-") != len)
        *why = "only letters, digits, '_', '.' and '-' are allowed";
    else if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        *why = "'.' and '..' are not names";
    return *why ? -EINVAL : 0;
}

struct named_segment *tenant_named_find(struct tenant *t, const char *name)
{
    for (struct named_segment *n = t->named; n; n = n->next)
        if (!n->unlinked && strcmp(n->name, name) == 0)
            return n;
    return NULL;
}

/* Gives seg the name: the namespace owns it from here on. */
static void named_link(struct tenant *t, struct named_segment *n,
                       const char *name, struct segment *seg)
{
    n->seg = seg;
    snprintf(n->name, sizeof(n->name), "%s", name);
    n->tenant = t;
    n->id = t->srv->next_segment_id++;
    n->next = t->named;
    t->named = n;
}

int tenant_named_create(struct tenant *t, const char *name, uint64_t pages,
                        bool reserve, struct named_segment **out)
{
    struct server *srv = t->srv;
    struct named_segment *n;
    struct segment *seg;
    int err;

    if (tenant_named_find(t, name))
        return -EEXIST;
    n = mm_kzalloc(srv->mm, sizeof(*n));
    if (!n)
        return -ENOMEM;
    err = segment_create(srv->mm, t->memcg, pages, &seg);
    if (err)
        goto err_free_named;
    err = segment_set_file(seg);
    if (!err && reserve)
        err = segment_reserve(seg);
    if (err)
        goto err_destroy_segment;
    named_link(t, n, name, seg);
    *out = n;
    return 0;

err_destroy_segment:
    segment_destroy(seg);
err_free_named:
    mm_kfree(srv->mm, n);
    return err;
}

int tenant_named_clone(struct tenant *t, struct named_segment *src,
                       const char *name, bool reserve, struct named_segment **out)
{
    struct server *srv = t->srv;
    struct named_segment *n;
    struct segment *seg;
    int err;

    if (tenant_named_find(t, name))
        return -EEXIST;
    n = mm_kzalloc(srv->mm, sizeof(*n));
    if (!n)
        return -ENOMEM;
    /* The clone is file-backed like its origin (segment_clone keeps it). */
    err = segment_clone(src->seg, &seg);
    if (err)
        goto err_free_named;
    if (reserve) {
        err = segment_reserve(seg);
        if (err)
            goto err_destroy_segment;
    }
    named_link(t, n, name, seg);
    *out = n;
    return 0;

err_destroy_segment:
    segment_destroy(seg);
err_free_named:
    mm_kfree(srv->mm, n);
    return err;
}

static void named_destroy(struct named_segment *n)
{
    struct tenant *t = n->tenant;

    for (struct named_segment **pp = &t->named; *pp; pp = &(*pp)->next) {
        if (*pp == n) {
            *pp = n->next;
            break;
        }
    }
    log_debug("tenant '%s': named segment '%s' (%llu pages) freed", t->name,
              n->name, (unsigned long long)segment_npages(n->seg));
    segment_destroy(n->seg);
    mm_kfree(t->srv->mm, n);
}

void tenant_named_get(struct named_segment *n)
{
    n->opens++;
}

void tenant_named_put(struct named_segment *n)
{
    if (--n->opens == 0 && n->unlinked)
        named_destroy(n);
}

int tenant_named_unlink(struct tenant *t, const char *name)
{
    struct named_segment *n = tenant_named_find(t, name);

    if (!n)
        return -ENOENT;
    n->unlinked = true;
    if (n->opens == 0)
        named_destroy(n);
    return 0;
}

unsigned tenant_named_count(const struct tenant *t)
{
    unsigned nr = 0;

    for (const struct named_segment *n = t->named; n; n = n->next)
        nr++;
    return nr;
}

void tenant_named_destroy_all(struct tenant *t)
{
    while (t->named) {
        if (t->named->opens)
            log_error("tenant '%s': named segment '%s' freed with %u handles "
                      "open", t->name, t->named->name, t->named->opens);
        named_destroy(t->named);
    }
}
