/* internal.h - declarations shared inside mm/, grouped by defining file.
 * Nothing outside mm/ includes this except the unit tests. */
#ifndef RMEM_MM_INTERNAL_H
#define RMEM_MM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mm.h"
#include "page.h"
#include "pgtable.h"
#include "types.h"

/* ---- debug.c ---- */

void mm_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* For the invariant walkers (*_check): log the first broken identity and
 * fail with -EUCLEAN. */
#define CHECK(cond, ...)                                \
    do {                                                \
        if (!(cond)) {                                  \
            mm_log(MM_LOG_ERR, __VA_ARGS__);            \
            return -EUCLEAN;                            \
        }                                               \
    } while (0)
void dump_page(const struct mm *mm, pfn_t pfn, const char *reason);

/* ---- os.c ---- */

struct numa_topology {
    unsigned nr_nodes;
    int node_ids[MM_MAX_ZONES];         /* configured nodes, ascending */
    int local_node;                     /* node of the CPU mm_create ran on */
    bool bind_memory;                   /* mbind arenas to their node */
};

int  os_numa_topology(struct numa_topology *topo);
int  os_arena_map(uint64_t bytes, int node, bool bind, void **out);
int  os_arena_advise_huge(void *base, uint64_t bytes);
struct iovec;                           /* <sys/uio.h> */
int  os_anon_huge_bytes(const struct iovec *ranges, unsigned n, uint64_t *bytes);
void os_arena_unmap(void *base, uint64_t bytes);
int  os_swap_check_fd(int fd, uint64_t bytes);
int  os_swap_write(int fd, const void *page, uint64_t pos);
int  os_swap_readv(int fd, const struct iovec *iov, unsigned n, uint64_t pos);
void os_delay_us(uint64_t us);          /* mm_swap_set_read_latency */
int  os_swap_writev(int fd, const struct iovec *iov, unsigned n, uint64_t pos);

/* ---- idr.c ---- */

/* Small integer ids for pointers, so that a page descriptor can name its
 * segment and memcg in 32 bits.  Id 0 is never handed out.  The table is
 * mm_kvzalloc'd from mm (idr_init), or a fixed array (idr_init_fixed:
 * -ENOSPC when full). */
struct idr {
    struct mm *mm;                      /* NULL: a fixed table */
    void **slots;                       /* slots[id], NULL when free */
    uint32_t cap;                       /* slots allocated */
    uint32_t count;                     /* ids in use */
    uint32_t hint;                      /* lowest id that may be free */
};

void  idr_init(struct idr *idr, struct mm *mm);
void  idr_init_fixed(struct idr *idr, void **slots, uint32_t cap);
int   idr_alloc(struct idr *idr, void *ptr, uint32_t *id);
void *idr_find(const struct idr *idr, uint32_t id);
void  idr_remove(struct idr *idr, uint32_t id);
void  idr_destroy(struct idr *idr);
/* Next id in use at or after *id, 0 when there is none. */
uint32_t idr_next(const struct idr *idr, uint32_t id);
int   idr_check(const struct idr *idr);

/* ---- page.c ---- */

/* The memmap's intrusive list: pages linked through page->next/prev by
 * pfn, as buddy free lists, slab lists and LRU lists all are.  `tail` may
 * be NULL for a list that keeps none; counts stay with the caller. */
void pfn_list_add_head(struct mm *mm, pfn_t *head, pfn_t *tail, pfn_t pfn);
void pfn_list_del(struct mm *mm, pfn_t *head, pfn_t *tail, pfn_t pfn);

/* page_set_state() (below, inline: the allocator's split and merge run
 * it on every level) checks against this table; a refused transition
 * goes to page_state_refused(), which logs it. */
extern const unsigned page_allowed_from[NR_PAGE_STATES];
int  page_state_refused(const struct mm *mm, const struct page *page,
                        enum page_state to);
bool page_state_allowed(enum page_state from, enum page_state to);
const char *page_state_name(unsigned state);

/* ---- numa.c ---- */

enum zone_watermarks { WMARK_MIN, WMARK_LOW, WMARK_HIGH, NR_WMARK };

/* The counters numastat(8) prints, kept per zone. */
#define NUMA_STATS(X)   \
    X(numa_hit)         \
    X(numa_miss)        \
    X(numa_foreign)     \
    X(interleave_hit)   \
    X(local_node)       \
    X(other_node)

enum numa_stat_item {
#define NUMA_STAT_ENUM(s) NUMA_##s,
    NUMA_STATS(NUMA_STAT_ENUM)
#undef NUMA_STAT_ENUM
    NR_NUMA_STAT
};

/* buddy.c's migrate types: what may share a pageblock (Linux's names). */
enum migratetype {
    MIGRATE_UNMOVABLE,                  /* slab, page-table, kvmalloc pages */
    MIGRATE_MOVABLE,                    /* data pages: reclaim can free them */
    MIGRATE_TYPES
};

_Static_assert(MIGRATE_TYPES == MM_NR_MIGRATE_TYPES, "mm.h's count");

#define PAGEBLOCK_ORDER 9
#define PAGEBLOCK_NR_PAGES (1u << PAGEBLOCK_ORDER)

struct free_area {
    pfn_t head[MIGRATE_TYPES];          /* first free block of this order, per type */
    uint64_t nr_free[MIGRATE_TYPES];    /* blocks on each list */
};

struct zone {
    struct mm *mm;
    const char *name;                   /* "Normal" */
    int node;
    uint8_t id;                         /* index in mm->zones */
    char *base;                         /* arena: managed_pages pages */
    pfn_t start_pfn;                    /* pfn of the arena's first page */
    uint64_t managed_pages;             /* whole max-order blocks */
    uint64_t free_pages;                /* sum of nr_free[o] << o */
    uint64_t watermark[NR_WMARK];
    struct free_area free_area[MM_NR_ORDERS];
    uint8_t *pageblock_type;            /* enum migratetype of each pageblock */
    uint64_t nr_pageblocks[MIGRATE_TYPES];
    uint64_t nr_state[NR_PAGE_STATES];  /* pages per state, by page_set_state */
    uint64_t numa_stat[NR_NUMA_STAT];
};

/* ---- slab.c (the cache struct; struct mm embeds the built-in ones) ---- */

/* Under AddressSanitizer, slab.c and kvmalloc.c mark what no live object
 * covers as unaddressable. */
#if defined(__SANITIZE_ADDRESS__)
#define MM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MM_ASAN 1
#endif
#endif

#ifdef MM_ASAN
#include <sanitizer/asan_interface.h>
#define asan_poison(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define asan_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#define asan_is_poisoned(p) __asan_address_is_poisoned(p)
#else
#define asan_poison(p, n) ((void)(p), (void)(n))
#define asan_unpoison(p, n) ((void)(p), (void)(n))
#define asan_is_poisoned(p) ((void)(p), 0)
#endif

#define SLAB_NAME_MAX 32
#define SLAB_MAX_CACHES 64              /* ids 1..63; built-in ones included */
#define SLAB_MAX_ORDER 3                /* slabs of at most 8 pages */
#define SLAB_MAX_SIZE (MM_PAGE_SIZE << SLAB_MAX_ORDER)
#define SLAB_NR_KMALLOC 11              /* kmalloc-8 .. kmalloc-8k */
#define SLAB_KMALLOC_MIN_SHIFT 3
#define SLAB_KMALLOC_MAX_SIZE (8u << (SLAB_NR_KMALLOC - 1))
#define SLAB_POISON_FREE 0x6b           /* Linux's POISON_FREE */

/* A list of slabs linked through their first pages' ->next/->prev. */
struct slab_list {
    pfn_t head;
    uint64_t nr;
};

struct slab_cache {
    struct mm *mm;
    char name[SLAB_NAME_MAX];
    uint32_t id;                        /* in mm->slab_caches: slab pages' owner */
    uint32_t object_size;               /* what the creator asked for */
    uint32_t size;                      /* stride: object_size rounded to align */
    uint32_t align;
    unsigned order;                     /* a slab is 2^order pages */
    uint32_t objs_per_slab;
    struct slab_list full, partial, empty;
    uint64_t active_objs;               /* == sum of the slabs' nr_used */
    uint64_t keep_empty;                /* empty slabs kept; more go to buddy */
    uint64_t nr_allocs, nr_frees, nr_fails;
    bool poison;                        /* fill freed objects, check in slab_cache_check */
    bool builtin;                       /* embedded in struct mm, not from kmem_cache */
    bool dead;                          /* destroyed; never handed out again */
};

enum slab_builtin {
    SLAB_KMEM_CACHE,                    /* the caches slab_cache_create makes */
    SLAB_SEGMENT,                       /* struct segment */
    SLAB_MEMCG,                         /* struct memcg */
    SLAB_KMALLOC,                       /* first of SLAB_NR_KMALLOC size classes */
    NR_SLAB_BUILTIN = SLAB_KMALLOC + SLAB_NR_KMALLOC
};

/* zswap.c's state (its entries are private to it). */
struct zswap_entry;
struct zswap {
    bool enabled;                       /* new pages are stored */
    unsigned max_pool_percent;
    struct slab_cache *entry_cache;     /* created when first enabled */
    struct zswap_entry **tree[MAX_SWAPFILES];   /* by swap type, by slot */
    uint64_t nr_slots[MAX_SWAPFILES];
    struct zswap_entry *lru_head, *lru_tail;    /* compressed ones; head newest */
    uint64_t stat[NR_MM_ZSWAP_STATS];   /* enum mm_zswap_stat */
    uint64_t nr_writeback;              /* entries being written to their slot */
    uint64_t writeback_bytes;           /* their pool bytes, soon free */
    uint64_t nr_wb_io;                  /* writes in flight, of entries freed
                                           meanwhile too: each pins its slot */
    uint8_t cbuf[ZSWAP_MAX_COMPRESSED]; /* compression output */
    uint8_t wb_page[MM_PAGE_SIZE];      /* a page decompressed for writeback */
};

/* ksm.c's state: its stable nodes and unstable items are private to it. */
struct ksm_stable_node;
struct ksm_rmap_item;
struct ksm {
    bool ready;                         /* tables allocated (first MADV_MERGEABLE) */
    struct slab_cache *node_cache;      /* struct ksm_stable_node */
    struct slab_cache *item_cache;      /* struct ksm_rmap_item */
    struct ksm_stable_node **node_of;   /* by pfn: a PG_ksm page's stable node */
    uint32_t *checksum;                 /* by pfn: at its last scan, 0 = none */
    struct ksm_stable_node **stable;    /* by content hash: resident KSM pages */
    struct ksm_stable_node **swapped;   /* by swap entry: KSM pages in swap */
    struct ksm_rmap_item **unstable;    /* by content hash: this pass's candidates */
    uint32_t hash_mask;                 /* buckets - 1, a power of two less one */
    uint32_t scan_seg;                  /* cursor: segment id ... */
    uint64_t scan_index;                /* ... and index the next step starts at */
    bool pass_started;                  /* the cursor has left the start */
    uint64_t nr_nodes, nr_mappers;      /* resident KSM pages, their mappers */
    uint64_t nr_swap_nodes;             /* KSM pages in swap */
    uint64_t nr_items;                  /* in the unstable table */
    uint64_t nr_mergeable;              /* segments with mergeable set */
    uint64_t meta_bytes;                /* tables, nodes, mapper lists, items */
    uint64_t pass_unshared, pass_volatile;  /* counting in this pass */
    struct mm_ksm_info info;            /* published counters */
};

struct mm {
    struct mm_config cfg;
    struct numa_topology topo;
    struct zone *zones;
    unsigned nr_zones;
    struct page *memmap;                /* nr_pages descriptors */
    uint64_t nr_pages;
    unsigned il_next;                   /* MM_NUMA_INTERLEAVE: next zone */
    struct idr segments;
    struct idr memcgs;
    struct idr slab_caches;             /* every live cache, by id */
    void *slab_cache_slots[SLAB_MAX_CACHES];    /* slab_caches' table */
    bool slab_no_poison;                /* mm_slab_set_poison(mm, false) */
    struct slab_cache slab_builtin[NR_SLAB_BUILTIN];
    /* lru.c, swap.c, vmscan.c */
    struct swap_info *swap_info[MAX_SWAPFILES]; /* by swap type; NULL = none */
    unsigned nr_swapfiles;              /* types 0..nr_swapfiles-1 in use */
    uint32_t reclaim_next;              /* memcg id global reclaim starts at */
    bool kswapd_awake;                  /* a zone fell below low, not yet high */
    uint64_t events[NR_MM_VM_EVENTS];   /* enum mm_vm_event */
    uint64_t nr_writeback;              /* PG_writeback pages, orphans too */
    uint64_t kvmalloc_pages;            /* kvmalloc.c: pages of its runs */
    uint64_t kvmalloc_heap_bytes;       /* kvmalloc.c: objects on the C heap */
    int thp_err;                        /* MADV_HUGEPAGE on the arenas: 0 or
                                           the first refusal's -errno */
    uint64_t nr_swapin;                 /* pages of asynchronous swap-ins */
    pte_t *swapcache;                   /* by pfn: a PG_swapcache page's entry */
    uint64_t nr_swapcache;              /* PG_swapcache pages (swap_state.c) */
    uint32_t swap_read_latency_us;      /* testing: mm_swap_set_read_latency */
    uint32_t swap_write_latency_us;     /* testing: mm_swap_set_write_latency */
    enum mm_reclaim_mode direct_mode;   /* mm_set_direct_reclaim */
    struct mm_swap_batch *direct_batch; /* MM_RECLAIM_ASYNC: writes go here */
    struct zswap zswap;                 /* zswap.c */
    struct ksm ksm;                     /* ksm.c */
    /* fail_alloc.c */
    long fail_alloc_after;              /* allocations until injected failures; 0 = off */
    bool fail_alloc_once;               /* the one it counts down to fails, no more */
    uint64_t fail_alloc_injected;       /* allocations failed on purpose */
};

/* What a page is for decides how deep into the reserves it may dig. */
enum alloc_purpose {
    ALLOC_DATA,                         /* segment contents: down to min */
    ALLOC_TABLE,                        /* page tables: may use the reserve */
    ALLOC_SLAB,                         /* metadata: may use the reserve */
    ALLOC_OPTIONAL,                     /* readahead: as data, never reclaims */
    ALLOC_KVMALLOC,                     /* big metadata: down to min, as data,
                                           for it has the C heap to go to */
};

int  numa_split_pool(uint64_t pool_bytes, const struct mm_config *cfg,
                     const struct numa_topology *topo, uint64_t *node_pages);
uint64_t numa_min_free_pages(uint64_t total_pages);
int  mm_create_topology(const struct mm_config *cfg,
                        const struct numa_topology *topo, struct mm **out);
bool zone_watermark_ok(const struct zone *zone, unsigned order, uint64_t mark);
int  mm_alloc_pages(struct mm *mm, unsigned order, enum alloc_purpose purpose,
                    pfn_t *pfn);
int  mm_free_pages(struct mm *mm, pfn_t pfn, unsigned order);
/* Keep the first nr pages of an allocated block, as allocated blocks
 * largest first, and give the rest back (buddy_split_pages). */
int  mm_split_pages(struct mm *mm, pfn_t pfn, uint64_t nr);

static inline struct page *pfn_to_page(const struct mm *mm, pfn_t pfn)
{
    return &mm->memmap[pfn];
}

static inline pfn_t page_to_pfn(const struct mm *mm, const struct page *page)
{
    return (pfn_t)(page - mm->memmap);
}

static inline struct zone *page_zone(const struct mm *mm,
                                     const struct page *page)
{
    return &mm->zones[page->zone];
}

static inline bool pfn_valid(const struct mm *mm, pfn_t pfn)
{
    return pfn < mm->nr_pages;
}

static inline void *page_address(const struct mm *mm, pfn_t pfn)
{
    const struct zone *zone = page_zone(mm, pfn_to_page(mm, pfn));

    return zone->base + (uint64_t)(pfn - zone->start_pfn) * MM_PAGE_SIZE;
}

/* The one function that changes page->state (page.c has the rules): a
 * transition from the wrong predecessor, or out of DATA while the page
 * is listed, locked or holding a swap-cache slot, is refused; the zone's
 * per-state counts follow. */
static inline int page_set_state(struct mm *mm, struct page *page,
                                 enum page_state to)
{
    struct zone *zone = page_zone(mm, page);

    if ((unsigned)to >= NR_PAGE_STATES || page->state >= NR_PAGE_STATES ||
        !(page_allowed_from[to] & (1u << page->state)) ||
        (page->state == PAGE_DATA &&
         page_test(page, PG_lru | PG_locked | PG_swapcache)))
        return page_state_refused(mm, page, to);
    zone->nr_state[page->state]--;
    zone->nr_state[to]++;
    page->state = (uint8_t)to;
    return 0;
}

/* ---- buddy.c ---- */

int  buddy_init_zone(struct zone *zone);
void buddy_fini_zone(struct zone *zone);
int  buddy_alloc_pages(struct zone *zone, unsigned order, enum migratetype mt,
                       pfn_t *pfn);
int  buddy_free_pages(struct zone *zone, pfn_t pfn, unsigned order);
int  buddy_split_pages(struct zone *zone, pfn_t pfn, uint64_t nr);
int  buddy_check(const struct zone *zone);
static inline enum migratetype pageblock_type(const struct zone *zone,
                                              pfn_t pfn)
{
    return (enum migratetype)
        zone->pageblock_type[(pfn - zone->start_pfn) >> PAGEBLOCK_ORDER];
}
/* Free blocks of this order, every type (what /proc/buddyinfo shows). */
uint64_t buddy_nr_free(const struct zone *zone, unsigned order);

/* ---- slab.c ---- */

int  slab_init(struct mm *mm);         /* the built-in caches; no pages yet */
void slab_fini(struct mm *mm);         /* every cache, objects or not */
void slab_shrink_all(struct mm *mm);   /* empty slabs of every cache to buddy */
int  slab_cache_check(const struct slab_cache *c);
/* The size of the kmalloc object a request of size gets (Linux's
 * kmalloc_size_roundup); 0 above MM_KMALLOC_MAX. */
size_t kmalloc_size_roundup(size_t size);
/* Every cache, and their slab pages == the memmap's SLAB pages. */
int  slab_check_all(const struct mm *mm, uint64_t slab_pages);
/* Pages of slabs in zone z (all, and those of empty slabs). */
void slab_zone_pages(const struct mm *mm, unsigned z, uint64_t *pages,
                     uint64_t *reclaimable);
/* The cache and slab head of an object, or -EINVAL (logged) if p is not
 * an object of a live slab. */
int  slab_lookup(const struct mm *mm, const void *p, struct slab_cache **c);
/* The pfn of the pool page holding p, or -EINVAL if p is not pool memory. */
int  pool_addr_to_pfn(const struct mm *mm, const void *p, pfn_t *pfn);

/* ---- kvmalloc.c ---- */

/* Every KVMALLOC head is a block of a run that starts at a KVMALLOC head
 * naming itself, within one max-order block; heads is how many the zones
 * count, and the runs' pages are kvmalloc_pages. */
int  kvmalloc_check(const struct mm *mm, uint64_t heads);

/* ---- segment.c ---- */

struct segment {
    struct mm *mm;
    struct memcg *memcg;                /* charged for every data page */
    uint32_t id;                        /* in mm->segments, the rmap's name */
    uint64_t npages;
    uint64_t resident;                  /* data pages, == present PTEs */
    uint64_t reserved;                  /* memsw reserved for unwritten pages */
    uint64_t swapped;                   /* == swap PTEs */
    uint64_t shared;                    /* PTEs naming a page or slot others use too */
    bool reserving;                     /* created with a reservation */
    bool dead;                          /* OOM-killed: pages gone, I/O refused */
    bool file;                          /* named: its pages go on the file LRU */
    bool mergeable;                     /* MADV_MERGEABLE: KSM scans it */
    struct pgtable pt;
    struct clone_family *family;        /* NULL: shares nothing (rmap.c) */
    struct segment *family_next, *family_prev;  /* members of family */
};

/* How a new data page is charged to the segment's memcg. */
enum page_charge {
    CHARGE_NEW,                         /* first write: memsw or reservation */
    CHARGE_SWAPIN,                      /* a read of a swap entry: pgmajfault */
    CHARGE_SWAP,                        /* takes a swap entry's place unread */
};

/* A new data page for seg: allocate (reclaiming the pool below min), then
 * charge (reclaiming the memcg at its limit) - the OOM policy when reclaim
 * frees nothing, except for ALLOC_OPTIONAL, which never reclaims - and set
 * DATA and the reverse map.  The caller fills it and maps it; segment_unget_page()
 * with the same charge undoes this. */
int  segment_get_page(struct segment *seg, uint64_t index,
                      enum alloc_purpose purpose, enum page_charge charge,
                      pfn_t *out);
/* segment_get_page() in two steps, for a page filled before it is
 * charged (asynchronous swap-in): the allocation, left ALLOCATED, then
 * the charge (optional: no reclaim, no OOM) that makes it seg's DATA page
 * at index.  A failed adopt leaves the page allocated for the caller. */
int  segment_alloc_page(struct segment *seg, enum alloc_purpose purpose,
                        pfn_t *out);
int  segment_adopt_page(struct segment *seg, pfn_t pfn, uint64_t index,
                        bool optional, enum page_charge charge);
void segment_unget_page(struct segment *seg, pfn_t pfn, enum page_charge charge);

/* seg stops naming *pte (index): a page or swap entry of its own is
 * freed and uncharged (back to the reservation of a live reserving
 * segment), a shared one loses one user (rmap_drop_page/_swap).  *pte
 * itself is left for the caller to clear or replace. */
int  segment_zap_pte(struct segment *seg, uint64_t index, pte_t *pte);
/* *pte (index) is replaced by the new, filled, charged page pfn: what it
 * named is zapped, the page mapped dirty and put on the LRU. */
int  segment_replace_pte(struct segment *seg, uint64_t index, pte_t *pte,
                         pfn_t pfn);
int segment_check(const struct segment *seg);

/* ---- rmap.c ---- */

/* Segments cloned from one origin, and the clones of those: each maps
 * index i of a shared page or swap slot at index i, so the PTEs naming a
 * shared page are found by looking at that index in every member. */
struct clone_family {
    struct segment *head;               /* members, linked by family_next */
    uint32_t nr_members;
};

/* A swap slot counts its users in 16 bits: no family may outgrow it. */
#define FAMILY_MAX_MEMBERS 0xffffu

typedef void (*rmap_one_fn)(struct segment *seg, pte_t *pte, void *arg);

int  rmap_family_join(struct segment *src, struct segment *clone);
void rmap_family_leave(struct segment *seg);
bool rmap_same_family(const struct segment *seg, uint32_t seg_id);
/* Every member of anchor's family (anchor alone if it has none) whose PTE
 * at index names what target names (a present pfn, or a swap entry);
 * fn (may be NULL) is called on each; returns how many. */
unsigned rmap_walk(struct segment *anchor, uint64_t index, pte_t target,
                   rmap_one_fn fn, void *arg);
/* The segment a DATA page's reverse map names (one of its mappers). */
struct segment *page_rmap_segment(const struct mm *mm, const struct page *page);
/* seg (index) stops using a page with refcount > 1 / a swap slot with
 * count > 1: one user less, the reverse map moves off seg, and a page or
 * slot left with one user becomes that user's own (PTE_COW cleared, its
 * reservation shrinks by the page it no longer shares). */
int  rmap_drop_page(struct segment *seg, uint64_t index, struct page *page);
int  rmap_drop_swap(struct segment *seg, uint64_t index, pte_t entry);
/* The families, and every DATA page: its reverse map names a live
 * segment mapping it, refcount == PTEs naming it, PTE_COW iff shared;
 * each segment's shared count.  *nr_mapped receives the sum of refcounts. */
int  rmap_check(const struct mm *mm, uint64_t *nr_mapped);
int  rmap_check_page(const struct mm *mm, pfn_t pfn);
/* The entry of m at some index is its alone now: shared count and the
 * reservation kept for breaking the share go down by one. */
void rmap_make_exclusive(struct segment *m);

/* ---- ksm.c ---- */

/* rmap.c's drop of a KSM page's / KSM slot's mapper (seg, index): the
 * stable node loses it; with one mapper left the page or slot is that
 * mapper's own again. */
int  ksm_drop_page(struct segment *seg, uint64_t index, struct page *page);
int  ksm_drop_swap(struct segment *seg, uint64_t index, pte_t entry);
/* Mappers of a swap entry written for a KSM page; 0: not such an entry. */
unsigned ksm_swap_mappers(const struct mm *mm, pte_t entry);
bool ksm_swap_maps(const struct mm *mm, pte_t entry, uint32_t seg_id,
                   uint64_t index);
/* fn on every mapper's PTE of the PG_ksm page; returns how many. */
unsigned ksm_rmap_walk(struct mm *mm, struct page *page, rmap_one_fn fn,
                       void *arg);
/* Reclaim wrote the PG_ksm page to entry: the node follows it to swap. */
void ksm_page_swapped(struct mm *mm, struct page *page, pte_t entry);
/* clone.c: the clone maps the KSM page / KSM slot at index too. */
int  ksm_clone_page(struct segment *clone, uint64_t index, struct page *page);
int  ksm_clone_swap(struct segment *clone, uint64_t index, pte_t entry);
/* Undo those two when the clone's PTE could not be installed. */
void ksm_drop_clone_mapper(struct segment *clone, uint64_t index,
                           struct page *page);
void ksm_drop_clone_swap(struct segment *clone, uint64_t index, pte_t entry);
/* An ordinary page is freed: its checksum is no one's any more. */
void ksm_forget_page(struct mm *mm, pfn_t pfn);
void ksm_segment_gone(struct segment *seg);     /* segment_destroy */
int  ksm_check_page(const struct mm *mm, pfn_t pfn);
int  ksm_check(const struct mm *mm);
void ksm_fini(struct mm *mm);

/* ---- lru.c ---- */

/* Lists of a memcg's resident pages, as Linux's enum lru_list.  Anonymous
 * segments use the anon pair; the file pair is for named shared segments. */
enum lru_list {
    LRU_INACTIVE_ANON,
    LRU_ACTIVE_ANON,
    LRU_INACTIVE_FILE,
    LRU_ACTIVE_FILE,
    NR_LRU_LISTS
};

struct lru_head {
    pfn_t head, tail;                   /* head: most recently added */
    uint64_t nr;
};

struct lruvec {
    struct lru_head lists[NR_LRU_LISTS];
};

void lruvec_init(struct lruvec *lv);
struct lruvec *page_lruvec(const struct mm *mm, const struct page *page);
enum lru_list page_lru(const struct page *page);
/* The active / inactive list of the page's pair (anon, or file by PG_file). */
enum lru_list page_lru_active(const struct page *page);
enum lru_list page_lru_inactive(const struct page *page);
void lru_add_page(struct mm *mm, struct page *page);
void lru_del_page(struct mm *mm, struct page *page);
void lru_move_page(struct mm *mm, struct page *page, enum lru_list to);
void lru_mark_accessed(struct mm *mm, struct page *page);
bool lru_inactive_is_low(const struct lruvec *lv, bool file);
int  lru_check(const struct mm *mm, uint64_t *nr_on_lru);

/* ---- swap.c ---- */

struct swap_info;

#define SWAP_MAP_MAX 0xffffu            /* users of one slot */

int  swap_alloc_slot(struct mm *mm, pte_t *entry);
void swap_free_entry(struct mm *mm, pte_t entry);
void swap_set_owner(struct mm *mm, pte_t entry, uint32_t seg_id, uint64_t index);
/* Users of an entry's slot (0: not in use) and its owner, the segment of
 * the family whose (segment, index) the slot's reverse map names. */
unsigned swap_entry_count(const struct mm *mm, pte_t entry);
uint32_t swap_entry_owner(const struct mm *mm, pte_t entry);
uint64_t swap_entry_index(const struct mm *mm, pte_t entry);
bool swap_half_full(const struct mm *mm);       /* Linux's vm_swap_full() */
/* One more user (Linux's swap_duplicate); -EINVAL if none or full. */
int  swap_dup_entry(struct mm *mm, pte_t entry);
/* Slots whose owner segment charges cg (each charged once, to cg). */
uint64_t swap_memcg_slots(const struct mm *mm, const struct memcg *cg);
/* Linux's swap_writepage(): zswap first (its own writeback obeying b and
 * may_write as below), else the file: queued in b if b has room (1),
 * written now if may_write (0), or -EAGAIN: neither is allowed.  0 also
 * when zswap took the page. */
int  swap_writepage(struct mm *mm, pfn_t pfn, pte_t entry,
                    struct mm_swap_batch *b, bool may_write);
/* A failed read or write of a swap file at byte pos: counted
 * (swap_io_errors) and logged. */
void swap_io_error(struct mm *mm, const char *what, uint64_t pos, int err);
/* Whose write an mm_swap_io is: its completion differs (vmscan.c). */
enum swap_io_kind {
    SWAP_IO_KSWAPD,                     /* a page, background reclaim's */
    SWAP_IO_DIRECT,                     /* a page, direct reclaim's */
    SWAP_IO_ZSWAP,                      /* a zswap entry written back */
};
/* The next io of b, cleared, b's latency set: NULL when b is full. */
struct mm_swap_io *swap_batch_add(struct mm *mm, struct mm_swap_batch *b);
/* Fault on a swap entry: *pte becomes present, the slot is freed unless
 * others still use it; may read neighbouring slots ahead. */
int  swap_do_page(struct segment *seg, uint64_t index, pte_t *pte);
bool swap_active(const struct mm *mm);
void swap_destroy_all(struct mm *mm);
/* Asynchronous swap-in (segment_read_nowait): the reads [first, first +
 * count) of seg needs from the swap file, queued in req with their
 * pages and pins (mm.h); returns how many, 0 if none, or a negative
 * errno with nothing left queued. */
int  swap_read_prepare(struct segment *seg, uint64_t first, uint32_t count,
                       struct mm_swapin_req *req);
/* *nr_slots_used: the sum of the slots' use counts; *nr_orphans: slots of
 * pages discarded under writeback (owner 0); *nr_pins: swap-ins reading
 * slots, the freed ones held by them included. */
int  swap_check(const struct mm *mm, uint64_t *nr_slots_used,
                uint64_t *nr_orphans, uint64_t *nr_pins);

/* Slot helpers for zswap.c: the segment a used slot belongs to (-ENOENT
 * for a free one); an io's file position for slot (type, off), the slot
 * pinned - neither freed nor handed out - until swap_unpin_entry(). */
int  swap_slot_owner(const struct mm *mm, unsigned type, uint64_t off,
                     uint32_t *seg_id);
int  swap_slot_pin(struct mm *mm, unsigned type, uint64_t off,
                   struct mm_swap_io *io);
void swap_unpin_entry(struct mm *mm, pte_t entry);

/* ---- swap_state.c ---- */

int  swapcache_init(struct mm *mm);    /* mm_swapon: the entries by pfn */
void swapcache_fini(struct mm *mm);
/* A page swapped in from entry may keep its slot. */
bool swapcache_may_keep(const struct mm *mm, pte_t entry);
/* The page keeps entry's slot, clean; take: it leaves the cache, the
 * slot stays (reclaim's); free: it leaves the cache, the slot goes. */
void swapcache_add(struct mm *mm, struct page *page, pte_t entry);
pte_t swapcache_take(struct mm *mm, struct page *page);
void swapcache_free(struct mm *mm, struct page *page);
pte_t swapcache_entry(const struct mm *mm, const struct page *page); /* 0: none */
uint64_t memcg_swapcache_pages(const struct memcg *cg);
int  swapcache_check(const struct mm *mm);

/* ---- zswap.c ---- */

/* Per swap file: the entry array (mm_swapon), freed with what it holds. */
int  zswap_swapon(struct mm *mm, unsigned type, uint64_t nr_slots);
void zswap_swapoff(struct mm *mm, unsigned type);
/* Keep page pfn, swapped out to (type, off), compressed: 0, or a negative
 * errno (counted in the reject_* stats) and the page goes to the file.
 * With the pool full, the oldest entries are written back: queued in b
 * (the store is then refused: room comes when b is done), written now
 * if may_write, or not at all. */
int  zswap_store(struct mm *mm, unsigned type, uint64_t off, pfn_t pfn,
                 struct mm_swap_batch *b, bool may_write);
/* The write of a zswap entry to its slot is done (mm_swap_batch_done). */
void zswap_writeback_done(struct mm *mm, const struct mm_swap_io *io);
/* The page of (type, off) into dst: 0, -ENOENT if zswap has none, -EIO. */
int  zswap_load(struct mm *mm, unsigned type, uint64_t off, void *dst);
bool zswap_has(const struct mm *mm, unsigned type, uint64_t off);
/* The slot is freed: so is its entry, if any. */
void zswap_invalidate(struct mm *mm, unsigned type, uint64_t off);
int  zswap_check(const struct mm *mm);

/* ---- vmscan.c ---- */

#define SWAP_CLUSTER_MAX 32u            /* pages a reclaim pass aims for */
#define DEF_PRIORITY 12                 /* first pass scans lru_size >> 12 */

/* Linux's try_to_free_pages() / try_to_free_mem_cgroup_pages(): reclaim
 * up to nr_pages, globally (cg NULL) or from one memcg; returns pages
 * reclaimed. */
uint64_t vmscan_try_to_free_pages(struct mm *mm, struct memcg *cg,
                                  uint64_t nr_pages, bool direct);
/* Direct reclaim under MM_RECLAIM_ASYNC freed nothing: true when the
 * caller is to fail with -EAGAIN and retry once a batch is done (writes
 * it queued, or writeback in flight that may free what cg - NULL: the
 * pool - needs); false when only -ENOMEM is left. */
bool vmscan_direct_should_wait(const struct mm *mm, const struct memcg *cg);

/* ---- vmpressure.c ---- */

enum vmpressure_level {
    VMPRESSURE_LOW,
    VMPRESSURE_MEDIUM,
    VMPRESSURE_CRITICAL,
    NR_VMPRESSURE_LEVELS
};

/* A memcg's reclaim effort: the open window and the last closed one. */
struct vmpressure {
    uint64_t scanned, reclaimed;        /* the open window's pages */
    uint64_t scan_events;               /* pgpgin + pgpgout at the last scan */
    uint8_t level;                      /* enum vmpressure_level, last window */
};

/* A reclaim pass scanned and reclaimed this many pages of cg's lists. */
void vmpressure(struct memcg *cg, uint64_t scanned, uint64_t reclaimed);
/* A pass targeting cg starts at priority: deep ones count as critical. */
void vmpressure_prio(struct memcg *cg, int priority);
enum vmpressure_level vmpressure_calc_level(uint64_t scanned,
                                            uint64_t reclaimed);
enum vmpressure_level vmpressure_level(const struct memcg *cg);

/* ---- memcg.c ---- */

/* Events counted per memcg, as memory.stat names them. */
enum memcg_event {
    MEMCG_PGPGIN,                       /* pages charged */
    MEMCG_PGPGOUT,                      /* pages uncharged */
    MEMCG_PGFAULT,                      /* pages served to clients (READ) */
    MEMCG_PGMAJFAULT,                   /* of those, brought in from swap */
    NR_MEMCG_EVENTS
};

struct memcg {
    struct mm *mm;
    uint32_t id;                        /* in mm->memcgs, the owner in pages */
    char name[MEMCG_NAME_MAX];
    uint64_t usage;                     /* pages charged (resident) */
    uint64_t swap;                      /* pages in swap (swap.c's hooks) */
    uint64_t reserved;                  /* memsw reserved, not yet charged */
    uint64_t limit;                     /* pages; MEMCG_UNLIMITED if none */
    uint64_t memsw_limit;               /* pages; >= limit, as cgroup v1 */
    uint64_t max_usage;                 /* high-water mark of usage */
    uint64_t memsw_max_usage;           /* of usage + swap + reserved */
    uint64_t failcnt;                   /* charges refused by either limit */
    uint64_t memsw_failcnt;             /* of those, refused by memsw */
    uint64_t events[NR_MEMCG_EVENTS];
    uint64_t oom_kill;                  /* segments the OOM killer freed */
    uint64_t nr_segments;               /* segments charging this memcg */
    bool oom_kill_disable;              /* memory.oom_control: ENOMEM, no kill */
    bool under_oom;                     /* last charge refused, nothing freed since */
    struct lruvec lruvec;               /* its resident pages (lru.c) */
    uint64_t nr_writeback;              /* of usage: under writeback, off the LRU */
    uint64_t zswap_bytes;               /* pool bytes of its zswap entries */
    uint64_t zswapped;                  /* its pages in zswap */
    uint64_t ksm_merging;               /* its mappings of resident KSM pages */
    struct vmpressure vmpressure;       /* memory.pressure_level (vmpressure.c) */
    bool dying;                         /* destroyed, waits for its segments */
};

#define MEMCG_UNLIMITED UINT64_MAX

int  memcg_try_charge(struct memcg *cg, uint64_t nr_pages);
int  memcg_charge_reserved(struct memcg *cg, uint64_t nr_pages);
int  memcg_uncharge(struct memcg *cg, uint64_t nr_pages);
int  memcg_uncharge_reserved(struct memcg *cg, uint64_t nr_pages);
int  memcg_reserve(struct memcg *cg, uint64_t nr_pages);
int  memcg_unreserve(struct memcg *cg, uint64_t nr_pages);
uint64_t memcg_memsw_usage(const struct memcg *cg);
uint64_t memcg_reclaim(struct memcg *cg, uint64_t nr_pages);
int  memcg_resize_limit(struct memcg *cg, bool memsw, uint64_t pages);
void memcg_count_event(struct memcg *cg, enum memcg_event ev, uint64_t n);
void memcg_attach_segment(struct memcg *cg);
void memcg_detach_segment(struct memcg *cg);
void memcg_free(struct memcg *cg);
int  memcg_check(const struct memcg *cg);

/* Swap hooks for swap.c: swap-out moves nr_pages' charge from memory to
 * swap (memsw unchanged, never refused); swap-in moves it back, checked
 * against the memory limit only, and counts pgmajfault; uncharge_swap
 * drops swap entries that will not come back. */
int  memcg_charge_swap(struct memcg *cg, uint64_t nr_pages);
int  memcg_uncharge_swap(struct memcg *cg, uint64_t nr_pages);
int  memcg_charge_swapin(struct memcg *cg, uint64_t nr_pages);
/* Swap-in without a fault (readahead, may_reclaim false; or a swapped page
 * overwritten whole): as memcg_charge_swapin, no pgmajfault. */
int  memcg_charge_from_swap(struct memcg *cg, uint64_t nr_pages,
                            bool may_reclaim);
/* A swap entry of a reserving segment discarded: its charge goes back to
 * the reservation. */
int  memcg_uncharge_swap_reserved(struct memcg *cg, uint64_t nr_pages);
/* zswap.c: an entry of this memcg stored (sign 1) or freed (-1). */
void memcg_account_zswap(struct memcg *cg, int sign, uint64_t bytes);

/* ---- fail_alloc.c ---- */

/* True when this page or slab allocation is to fail (mm_fail_alloc_after,
 * mm_fail_alloc_nth). */
bool should_fail_alloc(struct mm *mm);

/* ---- oom.c ---- */

#define OOM_SCORE_SCALE 1000            /* badness of a memcg at its limit */

uint64_t oom_badness(const struct memcg *cg);
struct memcg *oom_select_memcg(const struct mm *mm);
struct segment *oom_select_segment(const struct memcg *cg);
void oom_kill_segment(struct segment *seg);
/* A charge of seg's memcg was refused: -ENOMEM (no kill), 0 (a segment
 * was killed, retry) or -EOWNERDEAD (seg itself was the victim). */
int  oom_memcg(struct memcg *cg, struct segment *seg);
/* The pool is exhausted allocating for seg: the same outcomes. */
int  oom_global(struct mm *mm, struct segment *seg);

#endif
