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
    const char *tls_ca, *tls_cert, *tls_key;   /* all NULL: plain TCP */
    size_t local_limit;       /* resident bytes allowed in this process; 0 = none; RMEM_LOCAL_LIMIT */
    unsigned fault_threads;   /* fault threads, one connection each; default 1, max 16 */
    unsigned prefetch_max;    /* pages; 0 disables readahead */
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
 * RMEM_TLS_KEY. */
void rmem_options_init(rmem_options *o);

/* Connects and completes the Hello exchange; NULL + errno on failure
 * (ECONNREFUSED, EACCES for a refused tenant or token, EPROTO, ...). */
rmem_client *rmem_connect(const rmem_options *o);

/* Unmaps everything mapped through c and closes its connections. */
void rmem_disconnect(rmem_client *c);

/* MAP_PRIVATE|MAP_ANONYMOUS with segment NULL: private remote memory. */
void *rmem_mmap(rmem_client *c, void *addr, size_t length, int prot, int flags,
                const char *segment, off_t offset);
int rmem_munmap(rmem_client *c, void *addr, size_t length);

/* Write dirty pages of the range back to the server (MS_SYNC or MS_ASYNC;
 * both finish before returning); MS_INVALIDATE also drops resident copies. */
int rmem_msync(rmem_client *c, void *addr, size_t length, int flags);

/* MADV_NORMAL, MADV_SEQUENTIAL, MADV_RANDOM: readahead policy of the
 * mapping.  MADV_WILLNEED: fetch the range's pages now.  MADV_PAGEOUT:
 * write back and drop them now.  MADV_DONTNEED: drop them here and on the
 * server; they read as zeros again. */
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
