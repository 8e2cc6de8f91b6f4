/* Sessions: the unit a client's connections share.  A session belongs to
 * one tenant and owns the anonymous segments created through any of its
 * connections, in a handle table private to it, and holds handles on the
 * tenant's named segments (named.c) in a second table: the two share one
 * id space, so a handle names one or the other.  When its last connection
 * closes, a timer of session-grace seconds starts; a connection that
 * rejoins stops it, otherwise the segments are freed when it fires.  The
 * session struct itself is freed in the timer's close callback. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Session ids are random: joining one gives access to its segments. */
static uint64_t new_session_id(struct tenant *t)
{
    uint64_t id = 0;

    for (int tries = 0; tries < 16; tries++) {
        if (getrandom(&id, sizeof(id), 0) != sizeof(id))
            id = uv_hrtime() ^ ((uint64_t)rand() << 32) ^ (uint64_t)rand();
        if (id && !idmap_get(&t->sessions, id))
            return id;
    }
    return 0;
}

int session_create(struct tenant *t, struct session **out)
{
    struct session *s = slab_zalloc(t->srv->session_cache);
    int err;

    if (!s)
        return -ENOMEM;
    s->tenant = t;
    idmap_init(&s->segments, t->srv->mm);
    idmap_init(&s->named, t->srv->mm);
    s->id = new_session_id(t);
    if (!s->id) {
        slab_free(t->srv->session_cache, s);
        return -EAGAIN;
    }
    err = idmap_put(&t->sessions, s->id, s);
    if (err) {
        slab_free(t->srv->session_cache, s);
        return err;
    }
    uv_timer_init(t->srv->loop, &s->grace);
    s->grace.data = s;
    *out = s;
    return 0;
}

struct session *session_find(struct tenant *t, uint64_t id)
{
    return idmap_get(&t->sessions, id);
}

void session_attach(struct session *s)
{
    s->nconns++;
    uv_timer_stop(&s->grace);
}

static void on_grace(uv_timer_t *timer)
{
    struct session *s = timer->data;

    log_info("session %llu of tenant '%s': no connection for %llus, freeing "
             "its %u segments", (unsigned long long)s->id, s->tenant->name,
             (unsigned long long)s->tenant->srv->cfg->session_grace_s,
             s->segments.len);
    session_destroy(s);
}

void session_detach(struct session *s)
{
    uint64_t grace = s->tenant->srv->cfg->session_grace_s;

    if (--s->nconns > 0)
        return;
    if (grace == 0 || s->tenant->srv->stopping) {
        session_destroy(s);
        return;
    }
    log_debug("session %llu: last connection closed, segments kept %llus",
              (unsigned long long)s->id, (unsigned long long)grace);
    uv_timer_start(&s->grace, on_grace, grace * 1000, 0);
}

static void on_timer_close(uv_handle_t *h)
{
    struct session *s = h->data;

    slab_free(s->tenant->srv->session_cache, s);
}

void session_destroy(struct session *s)
{
    for (uint32_t i = 0; i < s->segments.cap; i++)
        if (s->segments.keys[i])
            segment_destroy(s->segments.vals[i]);
    idmap_free(&s->segments);
    for (uint32_t i = 0; i < s->named.cap; i++)
        if (s->named.keys[i])
            tenant_named_put(s->named.vals[i]);
    idmap_free(&s->named);
    idmap_del(&s->tenant->sessions, s->id);
    uv_close((uv_handle_t *)&s->grace, on_timer_close);
}

void session_destroy_idle(struct tenant *t)
{
    bool again = true;

    /* Restart the walk after each destroy: it edits the table.  Only run
     * at shutdown, so the quadratic walk is fine and allocates nothing. */
    while (again) {
        again = false;
        for (uint32_t i = 0; i < t->sessions.cap; i++) {
            struct session *s = t->sessions.vals[i];

            if (t->sessions.keys[i] && s->nconns == 0) {
                session_destroy(s);
                again = true;
                break;
            }
        }
    }
}

int session_segment_add(struct session *s, struct segment *seg, uint64_t *id)
{
    struct server *srv = s->tenant->srv;
    uint64_t sid = srv->next_segment_id;
    int err = idmap_put(&s->segments, sid, seg);

    if (err)
        return err;
    srv->next_segment_id++;
    *id = sid;
    return 0;
}

int session_named_open(struct session *s, struct named_segment *n, uint64_t *id)
{
    struct server *srv = s->tenant->srv;
    uint64_t sid = srv->next_segment_id;
    int err = idmap_put(&s->named, sid, n);

    if (err)
        return err;
    srv->next_segment_id++;
    tenant_named_get(n);
    *id = sid;
    return 0;
}

struct segment *session_segment_find(struct session *s, uint64_t id)
{
    struct named_segment *n;
    struct segment *seg = idmap_get(&s->segments, id);

    if (seg)
        return seg;
    n = idmap_get(&s->named, id);
    return n ? n->seg : NULL;
}

int session_segment_free(struct session *s, uint64_t id)
{
    struct segment *seg = idmap_del(&s->segments, id);
    struct named_segment *n;

    if (seg) {
        segment_destroy(seg);
        return 0;
    }
    n = idmap_del(&s->named, id);
    if (!n)
        return -ENOENT;
    tenant_named_put(n);
    return 0;
}
