/* Named segments from the client's side: rmem_segment_create and
 * rmem_segment_unlink, POSIX shared memory's shm_open(O_CREAT|O_EXCL) +
 * ftruncate and shm_unlink, and the handle rmem_mmap(MAP_SHARED) opens on
 * one.  The segment lives in the tenant's namespace on the server, not in
 * this client: creating one opens a handle only to close it again, and
 * the segment stays until it is unlinked and its last mapping anywhere is
 * gone.  Every call here goes over the control connection. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* The server's rule is [A-Za-z0-9_.-]{1,63}; what is checked here is only
 * what POSIX says shm_open checks itself: a name, and its length. */
#define NAMED_NAME_MAX 63

int rmem__named_check_name(const char *name)
{
    if (!name || !name[0])
        return -EINVAL;
    if (strnlen(name, NAMED_NAME_MAX + 1) > NAMED_NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

int rmem__segment_free(rmem_client *c, uint64_t segment)
{
    Rmem__SegmentFree sf = RMEM__SEGMENT_FREE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    sf.segment = segment;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_FREE;
    req.segment_free = &sf;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    pthread_mutex_unlock(&c->ctl_lock);
    return err;
}

int rmem__named_open(rmem_client *c, const char *name, uint64_t *segment,
                     uint64_t *pages)
{
    Rmem__SegmentOpen so = RMEM__SEGMENT_OPEN__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err = rmem__named_check_name(name);

    if (err)
        return err;
    so.name = (char *)name;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_OPEN;
    req.segment_open = &so;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (!err && resp->body_case != RMEM__RESPONSE__BODY_SEGMENT_OPEN)
        err = -EPROTO;
    if (!err) {
        *segment = resp->segment_open->segment;
        *pages = resp->segment_open->pages;
    }
    pthread_mutex_unlock(&c->ctl_lock);
    return err;
}

int rmem_segment_create(rmem_client *c, const char *name, size_t size)
{
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    uint64_t handle = 0;
    int err;

    if (!c || size == 0) {
        errno = EINVAL;
        return -1;
    }
    err = rmem__named_check_name(name);
    if (err) {
        errno = -err;
        return -1;
    }
    sc.name = (char *)name;
    sc.size = size;
    sc.open_existing = false;           /* an existing name is EEXIST */
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (!err && resp->body_case != RMEM__RESPONSE__BODY_SEGMENT_CREATE)
        err = -EPROTO;
    if (!err)
        handle = resp->segment_create->segment;
    pthread_mutex_unlock(&c->ctl_lock);
    if (err) {
        errno = -err;
        return -1;
    }
    /* The segment exists now whatever happens to the handle: a handle
     * left open is closed with the session. */
    if (rmem__segment_free(c, handle) < 0)
        fprintf(stderr, "librmem: handle %llu on segment '%s' not closed; it "
                "goes with the session\n", (unsigned long long)handle, name);
    return 0;
}

int rmem_segment_unlink(rmem_client *c, const char *name)
{
    Rmem__SegmentUnlink su = RMEM__SEGMENT_UNLINK__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    if (!c) {
        errno = EINVAL;
        return -1;
    }
    err = rmem__named_check_name(name);
    if (err) {
        errno = -err;
        return -1;
    }
    su.name = (char *)name;
    su.tenant = "";
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_UNLINK;
    req.segment_unlink = &su;
    pthread_mutex_lock(&c->ctl_lock);
    err = rmem__conn_rpc(&c->ctl, &req, NULL, 0, &resp, NULL, 0, NULL);
    pthread_mutex_unlock(&c->ctl_lock);
    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}
