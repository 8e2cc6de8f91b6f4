/* The fault thread: reads userfaults and resolves each from the page's
 * state (internal.h).
 *
 *   absent, never written  -> zeros; write-protected unless the fault is a
 *                             write, then writable and dirty at once
 *   absent, on the server  -> READ on this thread's connection, the reply
 *                             lands in the copy buffer, one UFFDIO_COPY
 *   resident, write fault  -> the PTE dirty bit: mark dirty, unprotect
 *   resident, other        -> already resolved by an earlier message: wake
 *
 * A page is made resident only after room was made for it (eviction runs
 * here too, never in a thread that must read events for it to finish).
 * The thread never touches managed memory except pages it knows resident,
 * and all its buffers are allocated and locked before it starts. */
#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define FAULT_BATCH 64

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fetch_remote(rmem_client *c, struct rmem__page *p)
{
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    size_t got;
    int err;

    rd.segment = p->vma->segment;
    rd.first = rmem__page_index(p);
    rd.count = 1;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    err = rmem__conn_rpc(&c->fconn, &req, NULL, 0, &resp, c->iobuf,
                         FRAME_MAX_PAYLOAD, &got);
    if (err)
        return err;
    if (got != RMEM_PAGE_SIZE)
        return -EPROTO;
    c->stat.bytes_in += got;
    return 0;
}

/* Brings an absent page in.  On failure the faulting thread is left
 * blocked only if the page cannot be produced at all; the caller logs. */
static int fault_in(rmem_client *c, struct rmem__page *p, bool write)
{
    const void *src = c->zeros;
    uint64_t t0 = 0;
    int err;

    if (c->limit && c->resident >= c->limit) {
        err = rmem__evict(c, c->limit > c->evict_batch ?
                             c->limit - c->evict_batch : 0);
        if (err && c->resident >= c->limit)
            fprintf(stderr, "librmem: eviction failed (%s); going over the "
                    "local limit\n", strerror(-err));
    }
    if (p->flags & RP_REMOTE) {
        t0 = now_ns();
        err = fetch_remote(c, p);
        if (err)
            return err;
        src = c->iobuf;
    }
    err = rmem__uffd_copy(c->uffd, rmem__page_addr(p), src, RMEM_PAGE_SIZE, !write);
    if (err)
        return err;
    p->flags |= RP_RESIDENT | (write ? RP_DIRTY : 0);
    rmem__lru_add(&c->lru, p);
    c->resident++;
    if (t0) {
        c->stat.faults_remote++;
        rmem__hist_add(&c->remote_ns, now_ns() - t0);
    } else {
        c->stat.faults_zero++;
    }
    c->stat.faults++;
    return 0;
}

static int fault_wp(rmem_client *c, struct rmem__page *p)
{
    int err = rmem__uffd_writeprotect(c->uffd, rmem__page_addr(p), RMEM_PAGE_SIZE,
                                      false, true);
    if (err)
        return err;
    if (!(p->flags & RP_DIRTY)) {
        p->flags |= RP_DIRTY;
        c->stat.faults_wp++;
        c->stat.faults++;
    }
    rmem__lru_mark_referenced(&c->lru, p);
    return 0;
}

static void handle_fault(rmem_client *c, const struct uffd_msg *m)
{
    char *addr = (char *)(uintptr_t)(m->arg.pagefault.address &
                                     ~(uint64_t)(RMEM_PAGE_SIZE - 1));
    bool write = m->arg.pagefault.flags & (UFFD_PAGEFAULT_FLAG_WRITE |
                                           UFFD_PAGEFAULT_FLAG_WP);
    struct rmem__vma *vma;
    struct rmem__page *p;
    int err;

    pthread_mutex_lock(&c->lock);
    vma = rmem__vma_find(c->vmas, addr);
    if (!vma) {
        /* Unmapped while the message was queued: nothing waits on it. */
        pthread_mutex_unlock(&c->lock);
        return;
    }
    p = &vma->pages[(uint64_t)(addr - vma->start) / RMEM_PAGE_SIZE];
    if (!(p->flags & RP_RESIDENT))
        err = fault_in(c, p, write);
    else if (write)
        err = fault_wp(c, p);
    else
        err = rmem__uffd_wake(c->uffd, addr, RMEM_PAGE_SIZE);
    pthread_mutex_unlock(&c->lock);
    if (err)
        fprintf(stderr, "librmem: cannot resolve fault at %p: %s\n",
                (void *)addr, strerror(-err));
}

static void *fault_thread(void *arg)
{
    rmem_client *c = arg;
    struct uffd_msg msgs[FAULT_BATCH];
    struct pollfd pfd[2] = {{.fd = c->uffd, .events = POLLIN},
                            {.fd = c->stop_efd, .events = POLLIN}};

    for (;;) {
        int n;

        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "librmem: fault thread: poll: %s\n", strerror(errno));
            break;
        }
        if (pfd[1].revents)
            break;
        n = rmem__uffd_read(c->uffd, msgs, FAULT_BATCH);
        if (n < 0) {
            fprintf(stderr, "librmem: fault thread: read: %s\n", strerror(-n));
            break;
        }
        for (int i = 0; i < n; i++)
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                handle_fault(c, &msgs[i]);
    }
    return NULL;
}

int rmem__fault_start(rmem_client *c)
{
    int err = pthread_create(&c->fault_thread, NULL, fault_thread, c);

    if (err)
        return -err;
    c->thread_started = true;
    return 0;
}

void rmem__fault_stop(rmem_client *c)
{
    uint64_t one = 1;

    if (!c->thread_started)
        return;
    if (write(c->stop_efd, &one, sizeof(one)) != sizeof(one))
        fprintf(stderr, "librmem: cannot stop fault thread: %s\n", strerror(errno));
    pthread_join(c->fault_thread, NULL);
    c->thread_started = false;
}
