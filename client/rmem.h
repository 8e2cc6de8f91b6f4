/* rmem.h - librmem, remote memory mapped into this process.
 *
 * Map memory that lives on an rmemd server and use it as ordinary memory:
 * pages arrive on first touch (userfaultfd) and are written back and dropped
 * when the process holds more than its local limit.  Calls mirror their
 * POSIX namesakes: same argument order, same flag constants (MAP_*, PROT_*,
 * MS_*, MADV_*), -1 or MAP_FAILED with errno on failure.
 *
 * Thread safety: every call may be made from any thread; faults on mapped
 * memory are served by the library's own fault thread. */
#ifndef RMEM_H
#define RMEM_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RMEM_VERSION "0.1.0"

typedef struct rmem_client rmem_client;

typedef struct rmem_options {
    const char *server;       /* "host:port"; default RMEM_SERVER or 127.0.0.1:7070 */
    const char *tenant;       /* default RMEM_TENANT or "default" */
    const char *token;        /* default RMEM_TOKEN */
    const char *tls_ca, *tls_cert, *tls_key;   /* PEM files; any set: TLS, the
                               * server verified against tls_ca (NULL: the
                               * system's CAs), tls_cert + tls_key this
                               * client's certificate; all NULL: plain TCP */
    size_t local_limit;       /* resident bytes allowed in this process; 0 = none; RMEM_LOCAL_LIMIT */
    unsigned fault_threads;   /* fault threads, one connection each; default 1, max 16 */
    unsigned prefetch_max;    /* pages; 0 disables readahead */
    unsigned busy_poll;       /* µs a fault thread spins for the next fault or
                               * its reply before sleeping; default RMEM_BUSY_POLL
                               * or 50; 0 = never (no spin on a single CPU) */
} rmem_options;

struct rmem_stat {            /* each counter means exactly this */
    uint64_t total_vm;        /* bytes mapped through this client */
    uint64_t rss;             /* bytes of those resident in this process now */
    uint64_t locked_vm;       /* bytes pinned by rmem_mlock */
    uint64_t faults;          /* userfaults resolved (all kinds below) */
    uint64_t faults_zero;     /* resolved with zeros: page never written */
    uint64_t faults_remote;   /* resolved by fetching from the server (major) */
    uint64_t faults_wp;       /* first writes to clean resident pages */
    uint64_t evictions;       /* pages dropped from this process */
    uint64_t writebacks;      /* pages sent to the server */
    uint64_t prefetched;      /* pages fetched ahead of any fault */
    uint64_t prefetch_hits;   /* prefetched pages later touched */
    uint64_t bytes_in, bytes_out;          /* payload on the wire */
    uint64_t fault_ns_p50, fault_ns_p99;   /* remote-fault service time */
    uint64_t remote_usage;    /* this tenant's bytes on the server */
    uint64_t remote_limit;    /* this tenant's memory.limit_in_bytes */
};

/* Defaults, then the environment: RMEM_SERVER, RMEM_TENANT, RMEM_TOKEN,
 * RMEM_LOCAL_LIMIT (bytes, K/M/G suffixes), RMEM_TLS_CA, RMEM_TLS_CERT,
 * RMEM_TLS_KEY, RMEM_BUSY_POLL (µs). */
void rmem_options_init(rmem_options *o);

/* Connects and completes the Hello exchange; NULL + errno on failure
 * (ECONNREFUSED, EACCES for a refused tenant or token, EPROTO, ...).
 * With TLS: EINVAL unusable TLS files, EPERM the server's certificate not
 * trusted or not naming the address, EACCES our certificate refused,
 * EPROTO any other handshake failure (a server without TLS); a plain
 * client against a TLS server sees ECONNRESET.  The reason goes to stderr. */
rmem_client *rmem_connect(const rmem_options *o);

/* Unmaps everything mapped through c and closes its connections. */
void rmem_disconnect(rmem_client *c);

/* Named segments: POSIX shared memory on the server.  A name is
 * [A-Za-z0-9_.-]{1,63} (no '/': there is no directory), in a namespace of
 * the client's tenant that no other tenant can see.  A segment persists,
 * with its contents, while no client maps it, until it is unlinked.
 *
 * rmem_segment_create: shm_open(name, O_CREAT | O_EXCL) + ftruncate(size),
 * with no descriptor kept: EEXIST if the name exists, whatever its size
 * (map an existing segment with rmem_mmap by name).  size 0: EINVAL; size
 * is rounded up to whole pages.  Pages are charged to the tenant (memory.stat "cache") as
 * they are first written back, not reserved up front.
 * Errors: EINVAL (bad name), ENAMETOOLONG (over 63 bytes),
 * EEXIST, EFBIG (over 2^36 pages), ENOMEM.
 *
 * rmem_segment_unlink: shm_unlink.  The name goes at once (ENOENT for
 * later opens; a new segment may take it); the memory goes when the last
 * mapping of it, in any client, is unmapped.  ENOENT if there is none.
 *
 * rmem_segment_clone: a new named segment dst that is a copy-on-write
 * snapshot of named segment src (same tenant) as the server holds it now:
 * nothing is copied and no page charged again; the first write to a page
 * through either segment copies that page only, so the two evolve apart.
 * Dirty pages of this client's MAP_SHARED mappings of src are written
 * back first (as rmem_msync), so a clone sees what this client wrote;
 * what other clients have not written back yet is not in it.  Unlinking
 * src leaves dst whole.  Errors: ENOENT (no src; an unlinked src has no
 * name), EEXIST (dst exists), EINVAL (bad name), ENAMETOOLONG (over 63
 * bytes), ENOMEM, EMLINK (65,535 segments in src's clone family),
 * EOWNERDEAD (src was OOM-killed). */
int rmem_segment_create(rmem_client *c, const char *name, size_t size);
int rmem_segment_unlink(rmem_client *c, const char *name);
int rmem_segment_clone(rmem_client *c, const char *src, const char *dst);

/* flags MAP_PRIVATE|MAP_ANONYMOUS with segment NULL: private remote memory.
 *
 * flags MAP_SHARED with a segment name: maps [offset, offset+length) of
 * that named segment (offset page-aligned, the range inside the segment:
 * EINVAL otherwise; ENOENT if the tenant has no such segment).
 * MAP_NORESERVE is accepted and means nothing there, as on Linux.
 *
 * flags MAP_PRIVATE with a segment name: a copy-on-write mapping of it.
 * The server clones the segment (as rmem_segment_clone, after writing
 * back this client's own dirty pages of it) into an anonymous segment of
 * this client; writes go to that copy only - never to the named segment,
 * never seen by other clients - and it is freed with the mapping.  The
 * contents are the segment's as of the mmap call (POSIX leaves changes
 * made to the file after it unspecified).  As for anonymous memory, the
 * whole segment's size is reserved against memory.memsw.limit_in_bytes
 * (ENOMEM past it) unless MAP_NORESERVE.  MADV_DONTNEED on such a mapping
 * keeps its contents (Linux would revert the pages to the file's).
 *
 * Coherence of MAP_SHARED, close-to-open as NFS does it: each client
 * caches the pages it touched, so another client's changes are not pushed
 * to it.  A writer's changes reach the server when its pages are evicted,
 * on rmem_msync (MS_SYNC or MS_ASYNC), on rmem_munmap and on
 * rmem_disconnect.  A reader sees the server's copy of every page it
 * faults in; rmem_msync with MS_INVALIDATE drops its cached copies (after
 * writing its own dirty ones back) so that the next access fetches the
 * server's.  So: writer msync, then reader MS_INVALIDATE, then the reader
 * sees the writer's data.  Two writers of the same page without that
 * protocol: the last write-back wins, page by page.  Two mappings of one
 * segment in one process follow the same rule (they do not share pages). */
void *rmem_mmap(rmem_client *c, void *addr, size_t length, int prot, int flags,
                const char *segment, off_t offset);
int rmem_munmap(rmem_client *c, void *addr, size_t length);

/* Write dirty pages of the range back to the server (MS_SYNC or MS_ASYNC;
 * both finish before returning); MS_INVALIDATE also drops resident copies,
 * so the next access of a MAP_SHARED page reads the server's. */
int rmem_msync(rmem_client *c, void *addr, size_t length, int flags);

/* MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM: readahead policy of the
 * mapping.  MADV_WILLNEED: fetch the range's pages now.  MADV_PAGEOUT:
 * write back and drop them now.  MADV_DONTNEED: drop them here and on the
 * server; they read as zeros again - on a mapping of a named segment
 * (MAP_SHARED, or MAP_PRIVATE's copy) only here, after writing them back
 * (the segment keeps its contents).
 * MADV_MERGEABLE / MADV_UNMERGEABLE: KSM on the server may / may not merge
 * this memory's pages with identical ones of the same tenant; the server
 * marks the whole segment the range lies in, and unmergeable gives its
 * merged pages back as private copies (ENOMEM when the tenant has no room
 * for them; the rest stays merged). */
int rmem_madvise(rmem_client *c, void *addr, size_t length, int advice);

/* Keep the range resident (counted in locked_vm, within the local limit;
 * ENOMEM beyond it) / release it to eviction again. */
int rmem_mlock(rmem_client *c, const void *addr, size_t length);
int rmem_munlock(rmem_client *c, const void *addr, size_t length);

/* Fills st; remote_usage/remote_limit ask the server (one round trip). */
int rmem_stat(rmem_client *c, struct rmem_stat *st);

#ifdef __cplusplus
}
#endif

#endif
