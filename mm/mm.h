/* mm.h - what the rest of rmem may call of the memory manager.
 *
 * mm/ is a plain library: no sockets, no event loop, no threads of its own.
 * rmemd calls it from its loop thread only, so nothing here locks.
 * Vocabulary (mm/types.h): a page is 4 KiB of pool memory, a frame number
 * (pfn) names one, an order-n block is 2^n contiguous pages, a segment is a
 * range of page indices backed by scattered pool pages, a tenant's memory
 * cgroup (memcg) is charged for every page its segments hold.
 *
 * Errors: 0 or a negative errno. */
#ifndef RMEM_MM_H
#define RMEM_MM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MM_PAGE_SHIFT 12
#define MM_PAGE_SIZE (1u << MM_PAGE_SHIFT)
#define MM_MAX_ORDER 10                 /* orders 0..MM_MAX_ORDER */
#define MM_NR_ORDERS (MM_MAX_ORDER + 1)
#define MM_MAX_ZONES 64

struct mm;
struct memcg;
struct segment;

enum mm_numa_policy {
    MM_NUMA_INTERLEAVE = 0,             /* pool split evenly over nodes */
    MM_NUMA_LOCAL,                      /* all on the node rmemd runs on */
    MM_NUMA_BIND,                       /* only the nodes in bind_mask */
};

struct mm_config {
    uint64_t pool_bytes;                /* rounded down to whole max-order blocks per node */
    enum mm_numa_policy policy;
    uint64_t bind_mask;                 /* MM_NUMA_BIND: bit n = node n */
};

/* One zone's figures, as /proc/buddyinfo and /proc/zoneinfo show them. */
struct mm_zone_info {
    int node;
    const char *name;                   /* "Normal" */
    uint64_t nr_free[MM_NR_ORDERS];     /* free blocks per order */
    uint64_t managed_pages;
    uint64_t free_pages;
    uint64_t min_pages, low_pages, high_pages;
    /* numastat(8) counters of allocations from this zone */
    uint64_t numa_hit;                  /* on the preferred node */
    uint64_t numa_miss;                 /* here, though another was preferred */
    uint64_t numa_foreign;              /* preferred here, served elsewhere */
    uint64_t interleave_hit;            /* interleave policy, preferred node */
    uint64_t local_node;                /* here, and this is rmemd's node */
    uint64_t other_node;                /* here, rmemd runs on another node */
};

struct mm_stat {
    uint64_t total_pages;               /* pool pages managed by the buddy allocator */
    uint64_t free_pages;
    uint64_t data_pages;                /* pages holding segment contents */
    uint64_t table_pages;               /* pages holding page tables */
    uint64_t segments;
    unsigned numa_nodes;
    unsigned zones;
};

/* Logging: mm/ reports through one hook, by default a line on stderr.
 * level is a syslog priority. */
#define MM_LOG_ERR 3
#define MM_LOG_WARNING 4
#define MM_LOG_INFO 6
#define MM_LOG_DEBUG 7
typedef void (*mm_log_fn)(int level, const char *msg);
void mm_set_log(mm_log_fn fn);          /* NULL restores the default */

/* Pool: arenas per NUMA node, zones, buddy allocator. */
int  mm_create(const struct mm_config *cfg, struct mm **out);
void mm_destroy(struct mm *mm);        /* frees every segment still alive */
void mm_get_stat(const struct mm *mm, struct mm_stat *st);
int  mm_zone_info(const struct mm *mm, unsigned zone, struct mm_zone_info *zi);
/* Walks every invariant (buddy lists, page states, counters); 0 or -EUCLEAN
 * with the first broken one logged.  Tests call it after each operation. */
int  mm_check(const struct mm *mm);

/* Swap, reclaim and the LRU (swap.c, vmscan.c, lru.c).
 *
 * A swap file is handed over as an open descriptor (read-write, at least
 * bytes long) that the caller keeps open until mm_destroy() and closes
 * after it.  Once one is on, a data page that cannot be allocated or
 * charged makes room by writing the coldest pages of the pool (or of the
 * memcg at its limit) to swap; segment_read/segment_write bring them back.
 * The counters are Linux's /proc/vmstat names. */
#define MM_VM_EVENTS(X)                                                       \
    X(pswpin)             /* pages read from swap */                          \
    X(pswpout)            /* pages written to swap */                         \
    X(pgscan_kswapd)      /* pages scanned by background reclaim */           \
    X(pgscan_direct)      /* pages scanned by allocations that reclaimed */    \
    X(pgsteal_kswapd)     /* pages reclaimed in the background */             \
    X(pgsteal_direct)     /* pages reclaimed by allocations */                \
    X(pgactivate)         /* inactive -> active */                            \
    X(pgdeactivate)       /* active -> inactive */                            \
    X(pgrotated)          /* referenced inactive pages given a second chance */ \
    X(allocstall)         /* allocations that had to reclaim first */         \
    X(swap_ra)            /* pages read ahead of a swap-in */                 \
    X(swap_ra_hit)        /* of those, later touched */                       \
    X(swap_io_errors)     /* failed swap-file reads or writes */

enum mm_vm_event {
#define MM_VM_EVENT_ENUM(name) MM_EV_##name,
    MM_VM_EVENTS(MM_VM_EVENT_ENUM)
#undef MM_VM_EVENT_ENUM
    NR_MM_VM_EVENTS
};

struct mm_swap_info {
    char path[256];                     /* as given to mm_swapon */
    uint64_t size_pages;                /* slots */
    uint64_t used_pages;                /* slots in use */
    int prio;                           /* as /proc/swaps: -2, -3, ... */
};

int  mm_swapon(struct mm *mm, int fd, const char *path, uint64_t bytes);
int  mm_swap_info(const struct mm *mm, unsigned type, struct mm_swap_info *si);
unsigned mm_nr_swapfiles(const struct mm *mm);
const char *mm_vm_event_name(unsigned event);
void mm_get_vm_events(const struct mm *mm, uint64_t events[NR_MM_VM_EVENTS]);

/* Background reclaim (kswapd's work, run by the caller's event loop): when
 * a zone is below its low watermark, reclaim at most budget pages toward
 * the high watermark.  Returns the pages reclaimed; mm_reclaim_pending()
 * says whether it should be called again soon. */
uint64_t mm_background_reclaim(struct mm *mm, uint64_t budget);
bool mm_reclaim_pending(const struct mm *mm);

/* Memory cgroup of a tenant: usage and limit in pages, charged when a
 * segment page is first written, uncharged when it is freed. */
int  memcg_create(struct mm *mm, const char *name, struct memcg **out);
void memcg_destroy(struct memcg *cg);  /* its segments must be gone */
void memcg_set_limit(struct memcg *cg, uint64_t limit_bytes);  /* 0 = unlimited */
uint64_t memcg_usage_bytes(const struct memcg *cg);
uint64_t memcg_limit_bytes(const struct memcg *cg); /* unlimited: pool size */
uint64_t memcg_max_usage_bytes(const struct memcg *cg);
uint64_t memcg_failcnt(const struct memcg *cg);
uint64_t memcg_swap_bytes(const struct memcg *cg);  /* its pages in swap */

/* Segments: npages indices, backed lazily; pages never written read as
 * zeros and cost nothing. */
int  segment_create(struct mm *mm, struct memcg *cg, uint64_t npages,
                    struct segment **out);
void segment_destroy(struct segment *seg);  /* frees its pages and tables */
uint64_t segment_npages(const struct segment *seg);
uint64_t segment_resident_pages(const struct segment *seg);
uint64_t segment_swapped_pages(const struct segment *seg);

/* Copy count pages from index first into dst (count * MM_PAGE_SIZE bytes).
 * -ERANGE if the range leaves the segment. */
int  segment_read(struct segment *seg, uint64_t first, uint32_t count, void *dst);

/* Copy count pages from src into the segment, allocating pages (and table
 * pages) as needed and charging the memcg.  -ERANGE outside the segment,
 * -ENOMEM when the pool or the memcg limit is exhausted; on failure pages
 * already written stay written (each page is all-or-nothing). */
int  segment_write(struct segment *seg, uint64_t first, uint32_t count,
                   const void *src);

/* Drop count pages from first (they read as zeros again) and free them. */
int  segment_discard(struct segment *seg, uint64_t first, uint64_t count);

#endif
