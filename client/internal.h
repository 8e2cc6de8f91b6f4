/* Declarations shared inside client/ (librmem, rmemctl, rmem-bench),
 * grouped by the file that defines them.  Never installed. */
#ifndef RMEM_CLIENT_INTERNAL_H
#define RMEM_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"
#include "rmem.h"

struct ssl_st;                     /* OpenSSL's SSL and SSL_CTX (tls.c) */
struct ssl_ctx_st;

/* conn.c: one blocking TCP connection to rmemd.  Requests are packed into
 * and responses unpacked from preallocated buffers (a bump arena serves
 * protobuf-c), so a round trip allocates nothing: the fault thread may not
 * need memory to free memory.  A connection is used by one thread at a
 * time. */
#define RMEM__ARENA_SIZE (256u * 1024)

struct rmem__conn {
    int fd;
    struct ssl_st *ssl;            /* tls.c; NULL: plain TCP */
    uint64_t next_id;
    uint64_t session;              /* from HelloReply */
    uint32_t max_io_pages;
    uint64_t busy_poll_ns;         /* spin this long for a reply (busypoll.c) */
    uint8_t *hbuf;                 /* prefix + header, FRAME_MAX_HEADER */
    uint8_t *arena;                /* protobuf-c unpack arena */
    size_t arena_used;
    struct iovec *iov;             /* 1 + FRAME_MAX_IO_PAGES entries */
    char server_version[32];
    char error[128];               /* the server's message for the last failure */
};

struct rmem__conn_target {
    const char *server;            /* "host:port" */
    const char *tenant;
    const char *token;
    const char *client;            /* name for the server's logs */
    uint64_t session;              /* 0 = new session */
    struct ssl_ctx_st *tls;        /* rmem__tls_ctx_new's; NULL: plain TCP */
};

/* Connects (with t->tls, the TLS handshake) and completes Hello: 0 or
 * -errno (-EACCES refused tenant, token or certificate, -EPROTO a peer
 * that does not speak rmem or TLS, -EPERM an untrusted server: tls.c). */
int  rmem__conn_open(struct rmem__conn *cn, const struct rmem__conn_target *t);
void rmem__conn_close(struct rmem__conn *cn);

/* One round trip.  The request's id is assigned here; iov/iovcnt is the
 * raw payload (may be 0).  On return 0, *resp is valid until the next call
 * on cn and its payload (if any) was read into rbuf (at most rcap bytes;
 * *rlen says how many).  Transport failures return -errno and leave the
 * connection unusable; a server-side error is resp->status (positive
 * errno) with resp->message. */
int  rmem__conn_call(struct rmem__conn *cn, Rmem__Request *req,
                     const struct iovec *iov, int iovcnt,
                     Rmem__Response **resp, void *rbuf, size_t rcap,
                     size_t *rlen);

/* As rmem__conn_call, and turns a non-zero status into -status. */
int  rmem__conn_rpc(struct rmem__conn *cn, Rmem__Request *req,
                    const struct iovec *iov, int iovcnt,
                    Rmem__Response **resp, void *rbuf, size_t rcap,
                    size_t *rlen);

/* busypoll.c */
uint64_t rmem__now_ns(void);
/* The spin allowed to a thread started from the calling one: busy_poll_us
 * in ns, or 0 if it could only run on one CPU. */
uint64_t rmem__busy_poll_ns(unsigned busy_poll_us);
/* recv(2) without blocking, retried for up to ns: bytes received (> 0),
 * 0 if nothing came in time, or -errno (-ECONNRESET at end of stream). */
int  rmem__busy_recv(int fd, void *buf, size_t cap, uint64_t ns);
/* As rmem__busy_recv, leaving the bytes in the socket: 1 once there are
 * some, 0 if none came in time, or -errno. */
int  rmem__busy_wait(int fd, uint64_t ns);

/* tls.c: TLS on a connection (OpenSSL); errors as its comment lists. */
/* A client context for the CA / certificate / key files (any may be
 * NULL; all NULL: *out = NULL, plain TCP): 0 or -EINVAL. */
int  rmem__tls_ctx_new(const char *ca, const char *cert, const char *key,
                       struct ssl_ctx_st **out);
void rmem__tls_ctx_free(struct ssl_ctx_st *ctx);
/* Handshake on cn->fd, verifying the server names host: 0 or -errno. */
int  rmem__tls_connect(struct rmem__conn *cn, struct ssl_ctx_st *ctx,
                       const char *host);
void rmem__tls_close(struct rmem__conn *cn);
/* The whole iov, flushed: 0 or -errno. */
int  rmem__tls_write(struct rmem__conn *cn, const struct iovec *iov, int iovcnt);
/* Up to len bytes, blocking for at least one: > 0 or -errno
 * (-ECONNRESET at the end of the stream). */
ssize_t rmem__tls_read(struct rmem__conn *cn, void *buf, size_t len);
/* rmem__busy_recv for a TLS connection. */
int  rmem__tls_busy_recv(struct rmem__conn *cn, void *buf, size_t cap,
                         uint64_t ns);

/* uffd.c: the userfaultfd ioctls, and PAGEMAP_SCAN. */
struct uffd_msg;
int  rmem__uffd_open(bool *wp_async);
int  rmem__uffd_register(int fd, void *addr, size_t len, bool wp);
int  rmem__uffd_unregister(int fd, void *addr, size_t len);
int  rmem__uffd_copy(int fd, void *dst, const void *src, size_t len, bool wp);
int  rmem__uffd_writeprotect(int fd, void *addr, size_t len, bool wp, bool wake);
int  rmem__uffd_wake(int fd, void *addr, size_t len);
int  rmem__uffd_move(int fd, void *dst, void *src, size_t len, size_t *done);
int  rmem__pagemap_open(void);
int  rmem__pagemap_scan_written(int pm, void *addr, size_t len,
                               void (*fn)(void *arg, char *start, size_t len),
                               void *arg);
int  rmem__uffd_read(int fd, struct uffd_msg *msgs, int max);

/* vma.c: mappings and the state of each of their pages.
 *
 * A page is in exactly one of these states:
 *   absent, never written      flags 0: faults in as zeros
 *   absent, on the server      RP_REMOTE: faults in with a READ
 *   resident, clean            RP_RESIDENT (mapped write-protected)
 *   resident, dirty            RP_RESIDENT|RP_DIRTY (mapped writable)
 * RP_REMOTE stays set while a copy of the page is on the server, so a clean
 * resident page with RP_REMOTE is dropped without any transfer.  Every page
 * of a MAP_SHARED mapping of a named segment starts RP_REMOTE and keeps it:
 * another client may have written it, so it is always read from there.
 *
 * With asynchronous write protection (c->wp_async, uffd.c) a store to a
 * clean page makes it writable without telling us, so "dirty" is RP_DIRTY
 * or the page's uffd-wp bit cleared; write-back reads and resets the bits
 * with PAGEMAP_SCAN and folds them into RP_DIRTY (evict.c). */
enum {
    RP_RESIDENT   = 1 << 0,
    RP_DIRTY      = 1 << 1,
    RP_REMOTE     = 1 << 2,
    RP_ACTIVE     = 1 << 3,       /* on the active list, else inactive */
    RP_REFERENCED = 1 << 4,       /* written again since it joined its list */
    RP_WRITEBACK  = 1 << 5,       /* being written back: faults on it wait */
    RP_LOCKED     = 1 << 6,       /* rmem_mlock: resident, off the LRU */
    RP_FETCHING   = 1 << 7,       /* absent, being read and mapped by a fault
                                   * thread without the lock: counted in
                                   * resident, off the LRU; faults on it wait */
};

struct rmem__vma;

/* One sequential access stream of a mapping (fault.c).  Several are kept
 * per mapping so that interleaved scans - a k-way merge - each keep their
 * readahead. */
#define RMEM__RA_STREAMS 16
struct rmem__stream {
    uint64_t last;                    /* index of its last fault + 1; 0: free */
    uint64_t next;                    /* index + 1 of the page just beyond its
                                       * last window in its direction; 0: none */
    uint32_t window;                  /* pages in its last window */
    int dir;                          /* +1 ascending, -1 descending */
};

struct rmem__page {
    struct rmem__page *prev, *next;   /* LRU links while resident */
    struct rmem__vma *vma;
    uint32_t flags;
};

struct rmem__vma {
    struct rmem__vma *next;           /* address order */
    char *start;
    size_t len;
    uint64_t npages;
    int prot, flags;
    uint64_t segment;                 /* server handle */
    uint64_t pgoff;                   /* segment page of the first page */
    char *name;                       /* named segment mapped, else NULL */
    struct rmem__page *pages;
    int advice;                       /* MADV_NORMAL, _SEQUENTIAL or _RANDOM */
    struct rmem__stream ra[RMEM__RA_STREAMS];   /* readahead, fault.c */
    unsigned ra_clock;                /* next stream slot to reuse */
};

struct rmem__vma *rmem__vma_alloc(void *start, size_t len, int prot, int flags,
                                  uint64_t segment);
void rmem__vma_free(struct rmem__vma *vma);
struct rmem__vma *rmem__vma_find(struct rmem__vma *head, const void *addr);
void rmem__vma_insert(struct rmem__vma **head, struct rmem__vma *vma);
void rmem__vma_unlink(struct rmem__vma **head, struct rmem__vma *vma);

static inline uint64_t rmem__page_index(const struct rmem__page *p)
{
    return (uint64_t)(p - p->vma->pages);
}

static inline char *rmem__page_addr(const struct rmem__page *p)
{
    return p->vma->start + rmem__page_index(p) * RMEM_PAGE_SIZE;
}

/* lru.c: active and inactive lists of resident pages.  Only faults tell
 * us of accesses (a write-protect fault is the one reference we can see),
 * so a page is promoted when it is written again and the active list is
 * aged into the inactive one to keep them balanced, as Linux does. */
struct rmem__lru_list {
    struct rmem__page head;           /* sentinel; head.next = newest */
    uint64_t nr;
};

struct rmem__lru {
    struct rmem__lru_list active, inactive;
};

void rmem__lru_init(struct rmem__lru *lru);
void rmem__lru_add(struct rmem__lru *lru, struct rmem__page *p);
void rmem__lru_del(struct rmem__lru *lru, struct rmem__page *p);
void rmem__lru_mark_referenced(struct rmem__lru *lru, struct rmem__page *p);
/* Takes up to max victims off the inactive tail into out[] (promoting
 * referenced pages instead); returns how many. */
size_t rmem__lru_isolate(struct rmem__lru *lru, struct rmem__page **out,
                         size_t max);
/* Every resident page is on exactly one list: 0 or -EUCLEAN. */
int  rmem__lru_check(const struct rmem__lru *lru, uint64_t resident);

/* histogram.c: latency percentiles without keeping samples: log-linear
 * buckets, 8 per power of two (error under 7%). */
#define RMEM__HIST_BUCKETS (64 * 8)
struct rmem__hist {
    uint64_t count;
    uint64_t bucket[RMEM__HIST_BUCKETS];
};
void     rmem__hist_add(struct rmem__hist *h, uint64_t ns);
uint64_t rmem__hist_percentile(const struct rmem__hist *h, double pct);

/* One write-back's resources: the evictor's use econn, the API calls'
 * (msync, MADV_PAGEOUT) ctl under ctl_lock. */
struct rmem__wb {
    struct rmem__conn *conn;
    struct iovec *iov;                /* FRAME_MAX_IO_PAGES entries */
    struct rmem__page **pages;        /* FRAME_MAX_IO_PAGES entries */
    bool *dirty;                      /* pages[k] goes to the server */
};

/* steer.c: a fault thread follows the CPU of the one thread whose faults
 * it serves.  Used by its fault thread only. */
struct rmem__steer {
    pid_t tid;                        /* the thread whose fault came last */
    unsigned run;                     /* its faults in a row */
    int cpu;                          /* pinned to; -1: the home CPUs */
    cpu_set_t home;                   /* the CPUs it was started with */
    bool enabled;
};
void rmem__steer_init(struct rmem__steer *st, bool enabled);
/* Called for each fault message, with the faulting thread's id. */
void rmem__steer_fault(struct rmem__steer *st, pid_t tid);

/* fault.c: one fault thread, with its own connection and page buffer. */
#define RMEM__MAX_FAULT_THREADS 16
struct rmem__fault_worker {
    rmem_client *c;
    struct rmem__conn conn;           /* demand reads */
    void *iobuf;                      /* FRAME_MAX_PAYLOAD, mlocked */
    struct rmem__steer steer;         /* steer.c */
    pthread_t thread;
    bool started;
};

/* client.c: the client handle.
 *
 * Lock order: ctl_lock, then lock.  `lock` guards the mappings, the page
 * states, the LRU and the counters.  A fault thread drops it while a READ
 * is on the wire and its pages are mapped (they are marked RP_FETCHING),
 * and the evictor while a batch is (RP_WRITEBACK); faults on such pages,
 * and range calls that need them settled, wait on room_cond.
 * `ctl_lock` serialises the control connection.  With asynchronous write
 * protection `wb_lock` lets one batch at a time be written back (taken
 * without `lock`: order ctl_lock, wb_lock, lock), so that a PAGEMAP_SCAN,
 * which resets the written bits of every page it covers, never runs while
 * another batch still has to decide what it owes the server. */
struct rmem_client {
    pthread_mutex_t lock;             /* vmas, pages, lru, stat, resident */
    pthread_mutex_t ctl_lock;         /* ctl */
    pthread_mutex_t wb_lock;          /* staging, shadow; the written bits */
    struct rmem__conn ctl;            /* API calls */
    struct rmem__conn econn;          /* evictor: write-back */
    int uffd;
    bool wp_async;                    /* UFFD_FEATURE_WP_ASYNC in use */
    int pagemap;                      /* /proc/self/pagemap, with wp_async */
    int self_pidfd;                   /* process_madvise on ourselves; -1 none */
    char *staging;                    /* FRAME_MAX_PAYLOAD: evicted pages moved here */
    char *shadow;                     /* FRAME_MAX_PAYLOAD: clean victims' bytes */
    int stop_efd;                     /* eventfd that stops the fault thread */
    _Atomic bool fault_stop;          /* ... seen by spinning fault threads */
    uint64_t busy_poll_ns;            /* fault threads' spin (busypoll.c) */
    struct rmem__fault_worker fault[RMEM__MAX_FAULT_THREADS];
    unsigned nfault;                  /* fault threads (rmem_options.fault_threads) */
    pthread_t evict_thread;
    bool evict_started;
    pthread_cond_t evict_cond;        /* wakes the evictor */
    pthread_cond_t room_cond;         /* a batch finished: room or state changed */
    bool evict_stop, evict_urgent, evict_stalled;

    struct rmem__vma *vmas;
    struct rmem__lru lru;
    uint64_t resident;                /* pages, including those under write-back */
    uint64_t writeback;               /* pages under write-back */
    uint64_t fetching;                /* pages RP_FETCHING */
    uint64_t locked;                  /* pages pinned by rmem_mlock */
    uint64_t limit;                   /* pages; 0 = none */
    uint64_t wmark_high, wmark_low;   /* evictor starts above high, stops at low */
    uint32_t prefetch_max;            /* pages; 0 = no readahead */

    struct rmem_stat stat;            /* counters; rss and total_vm derived */
    struct rmem__hist remote_ns;

    void *zeros;                      /* FRAME_MAX_PAYLOAD of zeros */
    void *ctlbuf;                     /* FRAME_MAX_PAYLOAD: MADV_WILLNEED reads */
    struct rmem__wb evict_wb;         /* the evictor's */
    struct rmem__wb range_wb;         /* msync, MADV_PAGEOUT; under ctl_lock */

    char *server, *tenant, *token;
    struct ssl_ctx_st *tls;           /* tls.c; NULL: plain TCP */
};

/* fault.c */
int  rmem__fault_start(rmem_client *c);
/* MADV_WILLNEED: brings the absent server pages of [first, first+count) in
 * on the control connection (caller holds ctl_lock and c->lock). */
int  rmem__prefetch_range(rmem_client *c, struct rmem__vma *vma, uint64_t first,
                          uint64_t count);
void rmem__fault_stop(rmem_client *c);

/* evict.c: the evictor thread; every call but start/stop with c->lock held. */
void rmem__evict_set_limit(rmem_client *c, uint64_t limit_pages);
int  rmem__evict_start(rmem_client *c);
void rmem__evict_stop(rmem_client *c);
/* Wakes the evictor if above the high watermark, or at once if urgent. */
void rmem__evict_kick(rmem_client *c, bool urgent);
/* Waits until a page fits under the limit (or eviction is stuck); returns
 * how many of `count` pages may come in, at least 1. */
uint32_t rmem__evict_wait_room(rmem_client *c, uint32_t count);
/* Writes back the resident dirty pages of vma in [first, first+count)
 * (with `drop`, every resident page, and unmaps them); mlocked pages stay.
 * Holds c->lock on entry and return. */
int  rmem__writeback_range(rmem_client *c, struct rmem__wb *wb,
                           struct rmem__vma *vma, uint64_t first, uint64_t count,
                           bool drop);
/* Waits until no page is under write-back or being fetched. */
void rmem__evict_wait_idle(rmem_client *c);
/* Drops every page of vma from the LRU and the resident count. */
void rmem__evict_forget_vma(rmem_client *c, struct rmem__vma *vma);

/* named.c: named segments (rmem_segment_create/unlink are public).
 * Opens a handle on segment `name` for a mapping: its size in *pages. */
int  rmem__named_open(rmem_client *c, const char *name, uint64_t *segment,
                      uint64_t *pages);
/* What POSIX says shm_open checks itself: -EINVAL for no name,
 * -ENAMETOOLONG over 63 bytes; the server checks the rest. */
int  rmem__named_check_name(const char *name);
/* Closes any segment handle (anonymous: frees the segment). */
int  rmem__segment_free(rmem_client *c, uint64_t segment);
/* A copy-on-write clone of named segment src after writing back this
 * client's dirty pages of it: named dst, or with dst NULL an anonymous
 * segment of this session whose handle goes to *segment (reserve: its
 * whole size charged to memsw now).  *pages: its size.  Takes ctl_lock
 * and c->lock. */
int  rmem__named_clone(rmem_client *c, const char *src, const char *dst,
                       bool reserve, uint64_t *segment, uint64_t *pages);

/* options.c */
/* Parses "123", "64K", "16M", "1G" (also "KiB" style, case-insensitive);
 * 0 or -EINVAL / -ERANGE. */
int  rmem__parse_size(const char *s, uint64_t *out);

#endif
