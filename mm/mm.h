/* mm.h - what the rest of rmem may call of the memory manager.
 *
 * mm/ is a plain library: no sockets, no event loop, no threads of its own.
 * rmemd calls it from its loop thread only, so nothing here locks; the
 * two exceptions, mm_swap_io_run and mm_swapin_run, touch only the
 * contents of pages mm has set aside for them, and the swap files.
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
struct slab_cache;

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

/* Migrate types, as /proc/pagetypeinfo names them: 0 Unmovable (slab,
 * page-table and kvmalloc pages), 1 Movable (data pages).
 * mm_migratetype_name(). */
#define MM_NR_MIGRATE_TYPES 2

/* One zone's figures, as /proc/buddyinfo, /proc/pagetypeinfo and
 * /proc/zoneinfo show them. */
struct mm_zone_info {
    int node;
    const char *name;                   /* "Normal" */
    uint64_t nr_free[MM_NR_ORDERS];     /* free blocks per order, all types */
    uint64_t nr_free_type[MM_NR_MIGRATE_TYPES][MM_NR_ORDERS];
    uint64_t nr_pageblocks[MM_NR_MIGRATE_TYPES];  /* of 512 pages */
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
    /* pages of this zone by use (/proc/zoneinfo) */
    uint64_t start_pfn;
    uint64_t data_pages;
    uint64_t table_pages;
    uint64_t slab_pages;
    uint64_t slab_reclaimable_pages;    /* empty slabs kept for reuse */
};

struct mm_stat {
    uint64_t total_pages;               /* pool pages managed by the buddy allocator */
    uint64_t free_pages;
    uint64_t data_pages;                /* pages holding segment contents */
    uint64_t table_pages;               /* pages holding page tables */
    uint64_t segments;
    unsigned numa_nodes;
    unsigned zones;
    uint64_t slab_pages;                /* pages holding slabs */
    uint64_t slab_reclaimable_pages;    /* of those, empty slabs kept for reuse */
    uint64_t swapcache_pages;           /* data pages still in the swap slot they
                                           were read from (meminfo's SwapCached) */
    uint64_t kvmalloc_pages;            /* pages of objects above kmalloc's classes */
    uint64_t kvmalloc_heap_bytes;       /* such objects no run could hold: C heap */
    /* the memcgs' LRU lists (lru.c) summed: anonymous segments' pages and
     * named ones' (file) */
    uint64_t active_anon_pages, inactive_anon_pages;
    uint64_t active_file_pages, inactive_file_pages;
    uint64_t writeback_pages;           /* off the LRU, being swapped out */
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
const char *mm_migratetype_name(unsigned type);     /* NULL past the last */
/* Transparent huge pages behind the pool: 0 if every arena took
 * MADV_HUGEPAGE, else the first refusal's -errno; and the bytes of the
 * arenas the kernel holds in huge pages now (meminfo's AnonHugePages),
 * read from /proc/self/smaps, which costs a walk of their page tables. */
int  mm_thp_advised(const struct mm *mm);
int  mm_anon_huge_bytes(const struct mm *mm, uint64_t *bytes);
/* Walks every invariant (buddy lists, page states, counters); 0 or -EUCLEAN
 * with the first broken one logged.  Tests call it after each operation. */
int  mm_check(const struct mm *mm);

/* Slab caches (slab.c): objects of one size carved from buddy pages, for
 * every metadata object of the server.  NULL/-errno on failure, never an
 * abort; a bad free is refused and logged.  Freed objects are poisoned
 * (0x6b) unless mm_slab_set_poison(mm, false), and under AddressSanitizer
 * they are unaddressable until allocated again, so use-after-free shows.
 * At most 63 caches live at once, the built-in ones included (-ENOSPC). */
int   slab_cache_create(struct mm *mm, const char *name, size_t size,
                        size_t align, struct slab_cache **out);
/* -EBUSY (logged, nothing freed) while objects are still allocated. */
int   slab_cache_destroy(struct slab_cache *c);
void *slab_alloc(struct slab_cache *c);            /* NULL: -ENOMEM */
void *slab_zalloc(struct slab_cache *c);
void  slab_free(struct slab_cache *c, void *obj);  /* NULL is a no-op */
/* Return every empty slab of the cache to the buddy allocator. */
void  slab_cache_shrink(struct slab_cache *c);
/* Poisoning of freed objects, every cache, from now on (default on). */
void  mm_slab_set_poison(struct mm *mm, bool on);

/* kmalloc: size classes kmalloc-8 .. kmalloc-8k (powers of two).  A size
 * of 0 or above MM_KMALLOC_MAX gives NULL.  kvmalloc (kvmalloc.c) takes
 * those as a run of whole buddy pages (meminfo's VmallocUsed), from the C
 * heap when no run can be had (above 4 MiB, or a full or fragmented
 * pool); kvfree tells them apart. */
#define MM_KMALLOC_MAX 8192u
void *mm_kmalloc(struct mm *mm, size_t size);
void *mm_kzalloc(struct mm *mm, size_t size);
void  mm_kfree(struct mm *mm, void *p);
void *mm_kvmalloc(struct mm *mm, size_t size);
void *mm_kvzalloc(struct mm *mm, size_t size);
void  mm_kvfree(struct mm *mm, void *p);
char *mm_kvstrdup(struct mm *mm, const char *s);  /* free with mm_kvfree */
bool  mm_addr_in_pool(const struct mm *mm, const void *p);

/* One line of /proc/slabinfo 2.1. */
struct mm_slab_info {
    const char *name;
    uint64_t active_objs, num_objs;
    uint32_t objsize;                   /* stride of an object, bytes */
    uint32_t objperslab, pagesperslab;
    uint64_t active_slabs;              /* slabs with an object in use */
    uint64_t num_slabs;
};
/* The n-th cache, oldest first; -ENOENT past the last. */
int  mm_slab_info(const struct mm *mm, unsigned n, struct mm_slab_info *si);

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
    X(swap_io_errors)     /* failed swap-file reads or writes */        \
    X(zswpin)             /* pages loaded from zswap */                     \
    X(zswpout)            /* pages stored in zswap instead of the file */   \
    X(zswpwb)             /* zswap entries written back to the file */

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

/* zswap (zswap.c): a compressed cache in front of the swap files, as
 * Linux's: a page reclaim swaps out is kept compressed (lz4) in pool
 * memory, same-filled pages as one word, and the oldest entries are
 * written back to the file when the cache reaches max_pool_percent of the
 * pool.  Off until mm_zswap_set() turns it on.  The statistics are Linux's
 * /sys/kernel/debug/zswap files: pool_total_size in bytes, stored_pages and
 * same_filled_pages now, the others counted since mm_create. */
#define MM_ZSWAP_STATS(X)                                                     \
    X(pool_total_size)       /* pool bytes holding compressed pages */       \
    X(stored_pages)          /* pages in zswap, same-filled included */      \
    X(same_filled_pages)     /* of those, one repeated word: no buffer */    \
    X(written_back_pages)    /* entries written back to the swap file */     \
    X(reject_compress_poor)  /* compressed above ZSWAP_MAX_COMPRESSED */     \
    X(reject_alloc_fail)     /* no pool memory for the compressed copy */    \
    X(reject_kmemcache_fail) /* no memory for the entry */                   \
    X(reject_reclaim_fail)   /* full, and writeback made no room */          \
    X(pool_limit_hit)        /* stores that found the cache full */

enum mm_zswap_stat {
#define MM_ZSWAP_STAT_ENUM(name) MM_ZSWAP_##name,
    MM_ZSWAP_STATS(MM_ZSWAP_STAT_ENUM)
#undef MM_ZSWAP_STAT_ENUM
    NR_MM_ZSWAP_STATS
};

/* A page compressing to more than this is written to the file: with
 * kmalloc's power-of-two classes a larger copy saves nothing. */
#define ZSWAP_MAX_COMPRESSED (MM_PAGE_SIZE / 2)
#define ZSWAP_DEFAULT_MAX_POOL_PERCENT 20

struct mm_zswap_info {
    bool enabled;
    unsigned max_pool_percent;
    uint64_t max_pool_bytes;            /* max_pool_percent of the pool */
    uint64_t stat[NR_MM_ZSWAP_STATS];   /* enum mm_zswap_stat */
};

/* -EINVAL for a percent above 100; turning it off keeps what is stored
 * (loaded and freed as usual), only new pages go to the file. */
int  mm_zswap_set(struct mm *mm, bool enabled, unsigned max_pool_percent);
void mm_zswap_info(const struct mm *mm, struct mm_zswap_info *zi);
const char *mm_zswap_stat_name(unsigned i);     /* NULL past the last */

/* Background reclaim (kswapd's work, run by the caller's event loop): when
 * a zone is below its low watermark, reclaim at most budget pages toward
 * the high watermark.  Returns the pages reclaimed; mm_reclaim_pending()
 * says whether it should be called again soon. */
uint64_t mm_background_reclaim(struct mm *mm, uint64_t budget);
bool mm_reclaim_pending(const struct mm *mm);

/* Swap-out off the caller's thread.  mm_background_reclaim_async()
 * picks its victims as mm_background_reclaim() does; a page zswap keeps
 * is freed at once, one bound for the file is left mapped, off the LRU
 * and under writeback (PG_writeback), and its write is queued in b (at
 * most MM_SWAP_IO_BATCH), as are zswap's writebacks of its oldest entries
 * when its pool is full.  The caller runs mm_swap_io_run(b) on any
 * thread - it touches nothing of mm but the pages' contents and the
 * files - and then, on mm's thread, mm_swap_batch_done(), which finishes
 * each page: swapped out and freed; or, if the write failed or the page
 * was read or written meanwhile, back on the LRU with its slot freed; or,
 * if it was discarded meanwhile, freed with its slot.  Any number of
 * batches may be in flight; every one must be done before mm_destroy().
 * Returns the pages freed now plus those queued.
 *
 * Direct reclaim (an allocation or a charge that needs a page now) obeys
 * mm_set_direct_reclaim(), which holds until it is set again:
 *   MM_RECLAIM_SYNC, the default: pages are written to the file on the
 *       caller's thread;
 *   MM_RECLAIM_ASYNC: writes are queued in b as background reclaim queues
 *       them; what needs no I/O (zswap, the swap cache) is freed at once.
 *       An allocation or charge that frees nothing now, while b holds
 *       writes or writeback of the pages it could use is in flight, fails
 *       with -EAGAIN - no failcnt, no OOM kill: the caller runs b as a
 *       batch and tries again once a batch is done;
 *   MM_RECLAIM_NOIO: nothing is written; pages that need a write stay,
 *       and what only they could satisfy fails as when nothing is
 *       reclaimable (-ENOMEM, failcnt, the OOM policy).
 * A batch b holds mm's pages until done: the caller must run and finish
 * it even when the call that filled it succeeded. */
#define MM_SWAP_IO_BATCH 32u
struct mm_swap_io {
    int fd;                             /* the swap file */
    uint64_t pos;                       /* byte offset of the slot */
    const void *page;                   /* MM_PAGE_SIZE bytes to write */
    int err;                            /* set by mm_swap_io_run: 0 or -errno */
    uint32_t pfn;                       /* mm's: the page */
    uint64_t entry;                     /* mm's: its swap entry */
    uint8_t kind;                       /* mm's: whose write (vmscan.c) */
};
struct mm_swap_batch {
    unsigned nr;
    uint32_t latency_us;                /* mm's: mm_swap_set_write_latency */
    struct mm_swap_io io[MM_SWAP_IO_BATCH];
};
uint64_t mm_background_reclaim_async(struct mm *mm, uint64_t budget,
                                     struct mm_swap_batch *b);
enum mm_reclaim_mode { MM_RECLAIM_SYNC, MM_RECLAIM_ASYNC, MM_RECLAIM_NOIO };
void mm_set_direct_reclaim(struct mm *mm, enum mm_reclaim_mode mode,
                           struct mm_swap_batch *b);
void mm_swap_io_run(struct mm_swap_batch *b);
void mm_swap_batch_done(struct mm *mm, struct mm_swap_batch *b);
/* Testing, as mm_swap_set_read_latency: every submission of writes to
 * the swap file - a synchronous pwrite, or a whole batch of
 * mm_swap_io_run - takes usec longer. */
void mm_swap_set_write_latency(struct mm *mm, uint32_t usec);
uint64_t mm_nr_writeback(const struct mm *mm);    /* pages in flight */

/* Swap-in off the caller's thread (swapin.c): a read that would wait for
 * the swap file hands the wait to the caller instead.
 * segment_read_nowait() reads as segment_read() does when none of the
 * range is in the swap file (zswap's pages are decompressed inline);
 * otherwise it changes nothing the reader could see, fills req with the
 * file reads that range needs - its pages in the file (at most
 * MM_SWAPIN_BATCH) and, when they continue a stream, the slots after them
 * (readahead) - and returns -EINPROGRESS.  Each read has a new page,
 * allocated but not mapped nor charged, and pins its slot: the slot is
 * neither freed nor reused until the request is done, whatever happens to
 * the PTEs naming it.  The caller runs mm_swapin_run(req) on any thread
 * (it touches only the new pages and the files), then mm_swapin_done() on
 * mm's thread, which maps each page whose PTE still names its slot
 * (charged then; the others are freed) and unpins the slots, and then
 * calls segment_read_nowait() again: more of the range may have been
 * swapped out meanwhile, so that may return -EINPROGRESS again (a caller
 * that gives up after some rounds calls segment_read()).
 * mm_swapin_done(): 0, or -EIO (a page the range needs could not be
 * read; counted in swap_io_errors), -ENOMEM / -EOWNERDEAD (its charge was
 * refused, or the OOM killer took the segment), or -EAGAIN (its charge
 * waits for direct reclaim's writes, MM_RECLAIM_ASYNC: the page is
 * dropped, its slot still holds it).  Under MM_RECLAIM_ASYNC,
 * segment_read_nowait() and segment_read() may fail with -EAGAIN too.
 * mm_swapin_cancel() undoes a request not run.  Every request must be done or cancelled before
 * mm_destroy(). */
#define MM_SWAPIN_BATCH 32u
struct mm_swapin_io {
    int fd;                             /* the swap file */
    uint64_t pos;                       /* byte offset of the slot */
    void *page;                         /* MM_PAGE_SIZE bytes to read into */
    int err;                            /* set by mm_swapin_run: 0 or -errno */
    bool readahead;                     /* mm's: not in the range read */
    uint32_t pfn;                       /* mm's: the new page */
    uint64_t entry;                     /* mm's: the slot's swap entry */
    uint64_t index;                     /* mm's: the page index it is for */
};
struct mm_swapin_req {
    uint32_t seg_id;                    /* mm's: the segment read */
    uint32_t latency_us;                /* mm's: mm_swap_set_read_latency */
    unsigned nr;
    struct mm_swapin_io io[MM_SWAPIN_BATCH];
};
int  segment_read_nowait(struct segment *seg, uint64_t first, uint32_t count,
                         void *dst, struct mm_swapin_req *req);
void mm_swapin_run(struct mm_swapin_req *req);
int  mm_swapin_done(struct mm *mm, struct mm_swapin_req *req);
void mm_swapin_cancel(struct mm *mm, struct mm_swapin_req *req);
uint64_t mm_nr_swapin(const struct mm *mm);       /* pages being read */
/* Testing, as null_blk's completion_nsec: every submission of reads to
 * the swap file - a synchronous preadv, or a whole request of
 * mm_swapin_run - takes usec longer (a slow device); 0 is off. */
void mm_swap_set_read_latency(struct mm *mm, uint32_t usec);

/* Memory cgroup of a tenant: usage and limit in pages, charged when a
 * segment page is first written, uncharged when it is freed. */
int  memcg_create(struct mm *mm, const char *name, struct memcg **out);
void memcg_destroy(struct memcg *cg);  /* its segments must be gone */
void memcg_set_limit(struct memcg *cg, uint64_t limit_bytes);  /* 0 = unlimited */
uint64_t memcg_usage_bytes(const struct memcg *cg);
uint64_t memcg_limit_bytes(const struct memcg *cg); /* unlimited: pool size */
uint64_t memcg_max_usage_bytes(const struct memcg *cg);
uint64_t memcg_failcnt(const struct memcg *cg);
uint64_t memcg_nr_segments(const struct memcg *cg);
const char *memcg_name(const struct memcg *cg);

/* The cgroup v1 files of a memcg (memcg_file.c), by name:
 * memory.usage_in_bytes, memory.max_usage_in_bytes, memory.limit_in_bytes,
 * memory.failcnt, memory.memsw.{usage_in_bytes,max_usage_in_bytes,
 * limit_in_bytes,failcnt}, memory.stat, memory.pressure_level,
 * memory.oom_control, memory.reserved_in_bytes.  Contents as Linux prints
 * them, newline included.  Read: -EINVAL for an unknown name, -ENOSPC if
 * buf is too small (4 KiB always suffices).  Write: -EINVAL for an unknown
 * or read-only name or a bad value; a limit below what is charged and
 * cannot be reclaimed: -EBUSY; limit > memsw limit: -EINVAL (cgroup v1). */
const char *memcg_file_name(unsigned i);        /* NULL past the last */
bool memcg_file_exists(const char *name);
bool memcg_file_writable(const char *name);
int  memcg_file_read(const struct memcg *cg, const char *name, char *buf,
                     size_t len);
int  memcg_file_write(struct memcg *cg, const char *name, const char *value);
const char *memcg_pressure_level(const struct memcg *cg);  /* low|medium|critical */
uint64_t memcg_swap_bytes(const struct memcg *cg);  /* its pages in swap */

/* Segments: npages indices, backed lazily; pages never written read as
 * zeros and cost nothing. */
int  segment_create(struct mm *mm, struct memcg *cg, uint64_t npages,
                    struct segment **out);
void segment_destroy(struct segment *seg);  /* frees its pages and tables */
uint64_t segment_npages(const struct segment *seg);
uint64_t segment_resident_pages(const struct segment *seg);
uint64_t segment_reserved_pages(const struct segment *seg);
/* Charge the segment's whole length to its memcg's memsw counter now
 * (rmem_mmap without MAP_NORESERVE): -ENOMEM past the memsw limit, which
 * counts in failcnt.  Pages written later draw on the reservation; the
 * segment returns it when destroyed. */
int  segment_reserve(struct segment *seg);
/* Killed by the OOM killer (oom.c): its pages are gone and reads and
 * writes fail with -EOWNERDEAD; only segment_destroy remains to do. */
bool segment_is_dead(const struct segment *seg);
/* A named segment is the "file" of rmem: its pages are listed on the
 * memcg's file LRU lists (active_file/inactive_file, memory.stat cache)
 * instead of the anon ones.  Only before its first write: -EBUSY after. */
int  segment_set_file(struct segment *seg);
uint64_t segment_swapped_pages(const struct segment *seg);

/* Copy count pages from index first into dst (count * MM_PAGE_SIZE bytes).
 * -ERANGE if the range leaves the segment, -EOWNERDEAD if it was killed. */
int  segment_read(struct segment *seg, uint64_t first, uint32_t count, void *dst);

/* Copy count pages from src into the segment, allocating pages (and table
 * pages) as needed and charging the memcg.  -ERANGE outside the segment,
 * -ENOMEM when the pool or the memcg limit is exhausted and the OOM
 * policy (memory.oom_control) kills nothing, -EOWNERDEAD if it killed this
 * very segment, -EAGAIN under MM_RECLAIM_ASYNC when a page must wait for
 * reclaim's writes; on failure pages already written stay written (each
 * page is all-or-nothing). */
int  segment_write(struct segment *seg, uint64_t first, uint32_t count,
                   const void *src);

/* Drop count pages from first (they read as zeros again) and free them;
 * a page or swap slot shared with clones loses this user only. */
int  segment_discard(struct segment *seg, uint64_t first, uint64_t count);

/* Copy-on-write clone (clone.c): a new segment of src's size and memcg
 * sharing every page and swap slot of src; the first write on either side
 * copies that page only.  A shared page is charged once, to the memcg
 * (which clones share); the clone reserves nothing (segment_reserve it if
 * wanted); a reserving src reserves one page more for each page it now
 * shares.  Errors: -EINVAL (NULL, or src's memcg destroyed), -EOWNERDEAD
 * (src OOM-killed), -EMLINK
 * (65535 segments in src's family already), -ENOMEM (pool, slab, or src's
 * memsw limit for that reservation), src unchanged on any failure.
 * segment_shared_pages: the segment's pages and slots that others use too. */
int  segment_clone(struct segment *src, struct segment **out);
uint64_t segment_shared_pages(const struct segment *seg);

/* KSM (ksm.c), Linux's kernel same-page merging for the pool: segments
 * opted in with mm_ksm_madvise(seg, true) (MADV_MERGEABLE) are scanned by
 * mm_ksm_scan(), which the caller runs from a timer (ksmd's work, without
 * a thread); pages of one memcg found identical across two scans are
 * merged into one write-protected KSM page, charged once to the memcg,
 * that each mapper copies on its next write.  Never across memcgs: a
 * shared page between tenants would be a timing side channel.
 * mm_ksm_madvise(seg, false) (MADV_UNMERGEABLE) gives each of the
 * segment's merged pages back as a private copy, charged; -ENOMEM when
 * that fails part way (the rest stays merged), as Linux's unmerge.
 * mm_ksm_unmerge_all() does it for every segment (run = 2).  The counters
 * are Linux's /sys/kernel/mm/ksm files. */
#define KSM_MAX_PAGE_SHARING 256        /* mappers of one KSM page, Linux's default */

struct mm_ksm_info {
    uint64_t pages_shared;              /* KSM pages resident now */
    uint64_t pages_sharing;             /* further mappers of them: pages saved */
    uint64_t pages_unshared;            /* unique pages the last full scan checked */
    uint64_t pages_volatile;            /* pages the last full scan found changed */
    uint64_t pages_skipped;             /* pages not eligible (clone-shared, under I/O) */
    uint64_t pages_scanned;             /* present pages looked at, since start */
    uint64_t full_scans;                /* passes over every mergeable segment */
    int64_t general_profit;             /* bytes saved minus KSM's metadata */
    uint64_t max_page_sharing;          /* KSM_MAX_PAGE_SHARING */
    uint64_t pages_swapped;             /* KSM pages written to swap, slots shared */
    uint64_t reclaim_unmapped;          /* mappers unmapped by reclaim of KSM pages */
    uint64_t mergeable_segments;        /* segments opted in */
};

int  mm_ksm_madvise(struct segment *seg, bool mergeable);
bool segment_is_mergeable(const struct segment *seg);
/* One step of ksmd: at most pages present pages looked at, from where the
 * last step stopped; returns how many.  An allocation failure ends the
 * step early and leaves the page as it was. */
uint64_t mm_ksm_scan(struct mm *mm, unsigned pages);
int  mm_ksm_unmerge_all(struct mm *mm);
void mm_ksm_info(const struct mm *mm, struct mm_ksm_info *ki);
/* The memcg's mappings of KSM pages (Linux's ksm_merging_pages). */
uint64_t memcg_ksm_merging_pages(const struct memcg *cg);

/* Failure injection (fail_alloc.c), Linux's fail_page_alloc/failslab: the
 * n-th page or slab allocation from now fails, and every one after it
 * (_after), or that one alone (_nth), until n = -1 turns it off.
 * _injected: allocations failed so far. */
void mm_fail_alloc_after(struct mm *mm, long n);
void mm_fail_alloc_nth(struct mm *mm, long n);
uint64_t mm_fail_alloc_injected(const struct mm *mm);

#endif
