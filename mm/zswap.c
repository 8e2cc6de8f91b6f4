/* zswap.c - a compressed cache in front of the swap files, as Linux's zswap.
 *
 * When reclaim swaps a page out (vmscan.c pageout -> swap.c
 * swap_writepage), zswap_store() tries to keep a compressed copy in pool
 * memory instead of writing the page to the file; the page's swap slot
 * stays allocated and its PTE holds the same swap entry either way, so
 * nothing above swap.c can tell where the page went.  A swap-in
 * (swap_do_page) asks zswap_load() first.  Pages are compressed with lz4
 * (liblz4: a well-kept codec rather than one of our own).
 *
 * What is kept, as Linux decides it:
 *   - a page that is one machine word repeated (zeros above all) is stored
 *     as that word, with no compressed buffer (same_filled_pages);
 *   - other pages are compressed into at most ZSWAP_MAX_COMPRESSED bytes,
 *     else rejected (reject_compress_poor) and written to the file.  The
 *     compressed copy lives in a kmalloc object (slab.c), whose power-of-
 *     two size classes leave no saving above half a page: that is the
 *     threshold.  pool_total_size counts the objects' full class sizes,
 *     the memory zswap really takes from the pool;
 *   - the pool holds at most max_pool_percent of the pool's bytes (20 by
 *     default, as Linux).  A store that finds it full (pool_limit_hit)
 *     has the oldest entries written back to their slots in the swap file
 *     (Linux's shrink, LRU order, written_back_pages) until the pool,
 *     counting entries being written back as gone, is below
 *     ZSWAP_ACCEPT_PERCENT of its limit - the hysteresis that keeps every
 *     store from writing one entry back.  With a batch (reclaim off the
 *     caller's thread) the writebacks are queued in it and this store is
 *     refused - its page goes to the file in the same batch - as Linux's
 *     zswap_store refuses and queues its shrink worker; without one they
 *     are written now, at most ZSWAP_WB_BATCH per store, and the store
 *     goes on if that made room (else reject_reclaim_fail).  Same-filled
 *     entries take no pool memory, so they are never written back and
 *     stay off the LRU.
 *
 * An entry being written back is decompressed into a page of its own
 * (taken without reclaim; zs->wb_page for a write done at once) and goes
 * STORED -> WRITEBACK: off the LRU but still in its array, so a load
 * still finds it while the write is in flight, and its slot pinned, so
 * that, freed meanwhile, it is not handed to a page whose write could
 * race this one.  Done: written, the entry is freed and the page is in
 * the file alone; failed, it goes back on the LRU (STORED).  A slot freed
 * during the write (swap-in, discard) frees the entry at once; the write
 * finishes into the pinned slot, which is released after it.
 *
 * A load leaves the entry in place; it goes when its swap slot is freed
 * (swap_free_entry -> zswap_invalidate, Linux's zswap_invalidate), which
 * a swap-in does at once since rmem never shares a slot: so a hit frees
 * the entry, and a discard, overwrite, OOM kill or segment destroy of a
 * page in zswap frees it the same way.
 *
 * Entries are found by swap entry through one array per swap file,
 * indexed by slot offset (mm_kvzalloc'd at swapon: 8 bytes a slot, 0.2 %
 * of the file's size), rather than Linux's tree: the slot count is fixed
 * and a lookup is one load.  Entries come from their own slab cache,
 * created when zswap is first turned on.  Turning zswap off stops new
 * stores; entries already stored are still loaded and freed as usual.
 *
 * Identities zswap_check() verifies:
 *   entries in the arrays == stored_pages == LRU entries + same_filled_pages
 *       + entries under writeback (nr_writeback, writeback_bytes; each a
 *       write in flight of nr_wb_io, whose pins mm_check counts)
 *   sum of the compressed entries' class sizes == pool_total_size
 *   each entry sits at its own (type, offset), whose slot is in use
 *   per memcg: zswap bytes and zswapped pages == its entries' sums */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "internal.h"

#define ZSWAP_ACCEPT_PERCENT 90         /* Linux's accept_threshold_percent */
#define ZSWAP_WB_BATCH 256u             /* entries one store may write back */

_Static_assert(ZSWAP_MAX_COMPRESSED <= SLAB_KMALLOC_MAX_SIZE,
               "a compressed page must fit a kmalloc size class");

struct zswap_entry {
    struct zswap_entry *prev, *next;    /* LRU; head newest; same-filled: none */
    union {
        void *buf;                      /* length > 0: compressed, kmalloc'd */
        uint64_t value;                 /* length == 0: the repeated word */
    };
    uint64_t offset;                    /* swap slot */
    uint32_t length;                    /* compressed bytes; 0: same-filled */
    uint32_t memcg_id;                  /* charged for it in memory.stat */
    uint8_t type;                       /* swap file */
    bool writeback;                     /* being written to its slot: off
                                           the LRU, loaded as ever */
};

static const char *const zswap_stat_names[NR_MM_ZSWAP_STATS] = {
#define ZSWAP_STAT_NAME(name) #name,
    MM_ZSWAP_STATS(ZSWAP_STAT_NAME)
#undef ZSWAP_STAT_NAME
};

const char *mm_zswap_stat_name(unsigned i)
{
    return i < NR_MM_ZSWAP_STATS ? zswap_stat_names[i] : NULL;
}

static uint64_t pool_limit(const struct mm *mm)
{
    return mm->nr_pages * MM_PAGE_SIZE * mm->zswap.max_pool_percent / 100;
}

int mm_zswap_set(struct mm *mm, bool enabled, unsigned max_pool_percent)
{
    struct zswap *zs;
    int err;

    if (!mm || max_pool_percent > 100)
        return -EINVAL;
    zs = &mm->zswap;
    if (enabled && !zs->entry_cache) {
        err = slab_cache_create(mm, "zswap_entry", sizeof(struct zswap_entry),
                                8, &zs->entry_cache);
        if (err)
            return err;
    }
    zs->enabled = enabled;
    zs->max_pool_percent = max_pool_percent;
    return 0;
}

void mm_zswap_info(const struct mm *mm, struct mm_zswap_info *zi)
{
    memset(zi, 0, sizeof(*zi));
    if (!mm)
        return;
    zi->enabled = mm->zswap.enabled;
    zi->max_pool_percent = mm->zswap.max_pool_percent;
    zi->max_pool_bytes = pool_limit(mm);
    memcpy(zi->stat, mm->zswap.stat, sizeof(zi->stat));
}

int zswap_swapon(struct mm *mm, unsigned type, uint64_t nr_slots)
{
    struct zswap *zs = &mm->zswap;

    zs->tree[type] = mm_kvzalloc(mm, nr_slots * sizeof(*zs->tree[type]));
    if (!zs->tree[type])
        return -ENOMEM;
    zs->nr_slots[type] = nr_slots;
    return 0;
}

/* ---- entries ------------------------------------------------------- */

static struct zswap_entry *entry_find(const struct mm *mm, unsigned type,
                                      uint64_t off)
{
    const struct zswap *zs = &mm->zswap;

    if (type >= MAX_SWAPFILES || !zs->tree[type] || off >= zs->nr_slots[type])
        return NULL;
    return zs->tree[type][off];
}

bool zswap_has(const struct mm *mm, unsigned type, uint64_t off)
{
    return entry_find(mm, type, off) != NULL;
}

static void lru_add_entry(struct zswap *zs, struct zswap_entry *e)
{
    e->prev = NULL;
    e->next = zs->lru_head;
    if (zs->lru_head)
        zs->lru_head->prev = e;
    else
        zs->lru_tail = e;
    zs->lru_head = e;
}

static void lru_del_entry(struct zswap *zs, struct zswap_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        zs->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        zs->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

/* Pool bytes an entry takes: its kmalloc object's whole size class. */
static uint64_t entry_bytes(const struct zswap_entry *e)
{
    return e->length ? kmalloc_size_roundup(e->length) : 0;
}

static void account_entry(struct mm *mm, const struct zswap_entry *e, int sign)
{
    struct zswap *zs = &mm->zswap;
    struct memcg *cg = idr_find(&mm->memcgs, e->memcg_id);
    uint64_t bytes = entry_bytes(e);

    if (sign > 0) {
        zs->stat[MM_ZSWAP_stored_pages]++;
        zs->stat[MM_ZSWAP_pool_total_size] += bytes;
        zs->stat[MM_ZSWAP_same_filled_pages] += e->length == 0;
    } else {
        zs->stat[MM_ZSWAP_stored_pages]--;
        zs->stat[MM_ZSWAP_pool_total_size] -= bytes;
        zs->stat[MM_ZSWAP_same_filled_pages] -= e->length == 0;
    }
    if (cg)
        memcg_account_zswap(cg, sign, bytes);
}

static void entry_insert(struct mm *mm, unsigned type, uint64_t off,
                         struct zswap_entry *e)
{
    struct zswap *zs = &mm->zswap;

    e->type = (uint8_t)type;
    e->offset = off;
    zs->tree[type][off] = e;
    if (e->length)
        lru_add_entry(zs, e);
    account_entry(mm, e, 1);
}

static void writeback_end(struct zswap *zs, struct zswap_entry *e)
{
    e->writeback = false;
    zs->nr_writeback--;
    zs->writeback_bytes -= entry_bytes(e);
}

static void entry_free(struct mm *mm, struct zswap_entry *e)
{
    struct zswap *zs = &mm->zswap;

    zs->tree[e->type][e->offset] = NULL;
    if (e->writeback)
        writeback_end(zs, e);
    else if (e->length)
        lru_del_entry(zs, e);
    account_entry(mm, e, -1);
    if (e->length)
        mm_kfree(mm, e->buf);
    slab_free(zs->entry_cache, e);
}

void zswap_invalidate(struct mm *mm, unsigned type, uint64_t off)
{
    struct zswap_entry *e = entry_find(mm, type, off);

    if (e)
        entry_free(mm, e);
}

void zswap_swapoff(struct mm *mm, unsigned type)
{
    struct zswap *zs = &mm->zswap;

    if (!zs->tree[type])
        return;
    for (uint64_t off = 0; off < zs->nr_slots[type]; off++)
        if (zs->tree[type][off])
            entry_free(mm, zs->tree[type][off]);
    mm_kvfree(mm, zs->tree[type]);
    zs->tree[type] = NULL;
    zs->nr_slots[type] = 0;
}

/* ---- store, load, writeback ------------------------------------------ */

/* Linux's page_same_filled(): every word equals the first. */
static bool page_same_filled(const void *page, uint64_t *value)
{
    const uint64_t *w = page;

    for (size_t i = 1; i < MM_PAGE_SIZE / sizeof(*w); i++)
        if (w[i] != w[0])
            return false;
    *value = w[0];
    return true;
}

static void fill_page(void *page, uint64_t value)
{
    uint64_t *w = page;

    for (size_t i = 0; i < MM_PAGE_SIZE / sizeof(*w); i++)
        w[i] = value;
}

/* Decompress e into dst, one page; -EIO if the data does not decode to
 * exactly a page (never, unless memory was corrupted). */
static int entry_decompress(const struct zswap_entry *e, void *dst)
{
    int n;

    if (e->length == 0) {
        fill_page(dst, e->value);
        return 0;
    }
    n = LZ4_decompress_safe(e->buf, dst, (int)e->length, MM_PAGE_SIZE);
    if (n != (int)MM_PAGE_SIZE) {
        mm_log(MM_LOG_ERR, "zswap: swap %u slot %llu: %u compressed bytes "
               "decode to %d, not a page", e->type, (unsigned long long)e->offset,
               e->length, n);
        return -EIO;
    }
    return 0;
}

/* Linux's zswap_writeback_entry(), split in two around the write: queue
 * e's page, decompressed, for its own slot in b.  The entry stays where
 * it is until the write is done - a load still finds it - but leaves the
 * LRU, and its slot is pinned so that, freed meanwhile, it is not handed
 * to another page whose write could race this one.  The page is
 * zs->wb_page for a write done at once, else a pool page taken without
 * reclaim (none to be had: no writeback). */
static int writeback_queue(struct mm *mm, struct zswap_entry *e,
                           struct mm_swap_batch *b, bool now)
{
    struct zswap *zs = &mm->zswap;
    struct mm_swap_io *io;
    pfn_t pfn = PFN_NONE;
    void *page = zs->wb_page;
    int err;

    if (!now) {
        err = mm_alloc_pages(mm, 0, ALLOC_OPTIONAL, &pfn);
        if (err)
            return err;
        page = page_address(mm, pfn);
    }
    err = entry_decompress(e, page);
    io = err ? NULL : swap_batch_add(mm, b);
    if (!io || swap_slot_pin(mm, e->type, e->offset, io)) {
        if (io)
            b->nr--;
        if (pfn != PFN_NONE)
            mm_free_pages(mm, pfn, 0);
        return err ? err : -EINVAL;
    }
    io->page = page;
    io->pfn = pfn;
    io->kind = SWAP_IO_ZSWAP;
    lru_del_entry(zs, e);
    e->writeback = true;
    zs->nr_writeback++;
    zs->writeback_bytes += entry_bytes(e);
    zs->nr_wb_io++;
    return 0;
}

void zswap_writeback_done(struct mm *mm, const struct mm_swap_io *io)
{
    struct zswap *zs = &mm->zswap;
    /* The slot was pinned: an entry there is still the one written. */
    struct zswap_entry *e = entry_find(mm, pte_swp_type(io->entry),
                                       pte_swp_offset(io->entry));

    if (io->pfn != PFN_NONE)
        mm_free_pages(mm, io->pfn, 0);
    zs->nr_wb_io--;
    if (io->err)
        swap_io_error(mm, "zswap writeback", io->pos, io->err);
    else
        mm->events[MM_EV_pswpout]++;
    if (e && e->writeback && io->err) {
        writeback_end(zs, e);
        lru_add_entry(zs, e);           /* kept; tried again later */
    } else if (e && e->writeback) {
        entry_free(mm, e);
        zs->stat[MM_ZSWAP_written_back_pages]++;
        mm->events[MM_EV_zswpwb]++;
    }
    swap_unpin_entry(mm, io->entry);
}

/* Make room for a store of `need` pool bytes by writing back the oldest
 * entries until the pool - counting what is being written back as gone -
 * is below the accept threshold: queued in b, leaving room there for the
 * page being stored, or one by one now (may_write).  0 if need fits now. */
static int shrink_pool(struct mm *mm, uint64_t need, struct mm_swap_batch *b,
                       bool may_write)
{
    struct zswap *zs = &mm->zswap;
    uint64_t limit = pool_limit(mm);
    uint64_t accept = limit / 100 * ZSWAP_ACCEPT_PERCENT;

    for (unsigned n = 0; n < ZSWAP_WB_BATCH && zs->lru_tail; n++) {
        struct mm_swap_batch one;

        if (zs->stat[MM_ZSWAP_pool_total_size] - zs->writeback_bytes + need <=
            accept)
            break;
        if (b) {
            if (b->nr + 1 >= MM_SWAP_IO_BATCH ||
                writeback_queue(mm, zs->lru_tail, b, false))
                break;
            continue;
        }
        if (!may_write)
            break;
        one.nr = 0;
        if (writeback_queue(mm, zs->lru_tail, &one, true))
            break;
        mm_swap_io_run(&one);
        zswap_writeback_done(mm, &one.io[0]);
        if (one.io[0].err)
            break;
    }
    return zs->stat[MM_ZSWAP_pool_total_size] + need <= limit ? 0 : -ENOSPC;
}

int zswap_store(struct mm *mm, unsigned type, uint64_t off, pfn_t pfn,
                struct mm_swap_batch *b, bool may_write)
{
    struct zswap *zs = &mm->zswap;
    const void *src = page_address(mm, pfn);
    struct zswap_entry *e;
    uint64_t value, need;
    int len;

    if (!zs->enabled || type >= MAX_SWAPFILES || !zs->tree[type] ||
        off >= zs->nr_slots[type])
        return -ENOENT;
    if (zs->tree[type][off])            /* Linux's duplicate_entry: stale */
        entry_free(mm, zs->tree[type][off]);
    if (page_same_filled(src, &value)) {
        e = slab_zalloc(zs->entry_cache);
        if (!e) {
            zs->stat[MM_ZSWAP_reject_kmemcache_fail]++;
            return -ENOMEM;
        }
        e->value = value;
        goto insert;
    }
    len = LZ4_compress_default(src, (char *)zs->cbuf, MM_PAGE_SIZE,
                               ZSWAP_MAX_COMPRESSED);
    if (len <= 0) {
        zs->stat[MM_ZSWAP_reject_compress_poor]++;
        return -E2BIG;
    }
    need = kmalloc_size_roundup((size_t)len);
    if (zs->stat[MM_ZSWAP_pool_total_size] + need > pool_limit(mm)) {
        zs->stat[MM_ZSWAP_pool_limit_hit]++;
        if (shrink_pool(mm, need, b, may_write)) {
            /* Writeback under way is no failure: room comes with it. */
            if (!zs->nr_writeback)
                zs->stat[MM_ZSWAP_reject_reclaim_fail]++;
            return -ENOSPC;
        }
    }
    e = slab_zalloc(zs->entry_cache);
    if (!e) {
        zs->stat[MM_ZSWAP_reject_kmemcache_fail]++;
        return -ENOMEM;
    }
    e->buf = mm_kmalloc(mm, (size_t)len);
    if (!e->buf) {
        zs->stat[MM_ZSWAP_reject_alloc_fail]++;
        slab_free(zs->entry_cache, e);
        return -ENOMEM;
    }
    memcpy(e->buf, zs->cbuf, (size_t)len);
    e->length = (uint32_t)len;
insert:
    e->memcg_id = pfn_to_page(mm, pfn)->memcg_id;
    entry_insert(mm, type, off, e);
    mm->events[MM_EV_zswpout]++;
    return 0;
}

int zswap_load(struct mm *mm, unsigned type, uint64_t off, void *dst)
{
    struct zswap_entry *e = entry_find(mm, type, off);
    int err;

    if (!e)
        return -ENOENT;
    err = entry_decompress(e, dst);
    if (err)
        return err;
    mm->events[MM_EV_zswpin]++;
    return 0;
}

/* ---- invariants ------------------------------------------------------ */

static int check_entry(const struct mm *mm, const struct zswap_entry *e,
                       unsigned type, uint64_t off, uint64_t *per_memcg,
                       uint32_t cap)
{
    const struct segment *seg;
    uint32_t seg_id;

    CHECK(e->type == type && e->offset == off,
          "zswap: entry at swap %u slot %llu names swap %u slot %llu", type,
          (unsigned long long)off, e->type, (unsigned long long)e->offset);
    CHECK(swap_slot_owner(mm, type, off, &seg_id) == 0,
          "zswap: entry at swap %u slot %llu: the slot is free", type,
          (unsigned long long)off);
    seg = idr_find(&mm->segments, seg_id);
    CHECK(seg && seg->memcg->id == e->memcg_id,
          "zswap: entry at swap %u slot %llu: charged to memcg %u, its segment "
          "%u to another", type, (unsigned long long)off, e->memcg_id, seg_id);
    CHECK(e->length <= ZSWAP_MAX_COMPRESSED,
          "zswap: entry at swap %u slot %llu: %u compressed bytes", type,
          (unsigned long long)off, e->length);
    CHECK(e->memcg_id && e->memcg_id < cap && idr_find(&mm->memcgs, e->memcg_id),
          "zswap: entry at swap %u slot %llu: memcg %u is gone", type,
          (unsigned long long)off, e->memcg_id);
    CHECK(!e->writeback || e->length,
          "zswap: same-filled entry at swap %u slot %llu under writeback",
          type, (unsigned long long)off);
    per_memcg[2 * e->memcg_id] += entry_bytes(e);
    per_memcg[2 * e->memcg_id + 1]++;
    return 0;
}

static int check_lru(const struct zswap *zs, uint64_t *nr)
{
    const struct zswap_entry *prev = NULL;

    *nr = 0;
    for (const struct zswap_entry *e = zs->lru_head; e; prev = e, e = e->next) {
        CHECK(e->prev == prev && e->length > 0 &&
              *nr < zs->stat[MM_ZSWAP_stored_pages],
              "zswap: LRU broken at swap %u slot %llu", e->type,
              (unsigned long long)e->offset);
        (*nr)++;
    }
    CHECK(zs->lru_tail == prev, "zswap: LRU tail is not its last entry");
    return 0;
}

static int check_memcgs(const struct mm *mm, const uint64_t *per_memcg,
                        uint32_t cap)
{
    for (uint32_t id = idr_next(&mm->memcgs, 0); id && id < cap;
         id = idr_next(&mm->memcgs, id + 1)) {
        const struct memcg *cg = idr_find(&mm->memcgs, id);

        CHECK(cg->zswap_bytes == per_memcg[2 * id] &&
              cg->zswapped == per_memcg[2 * id + 1],
              "memcg %s: zswap %llu bytes, %llu pages; its entries %llu, %llu",
              cg->name, (unsigned long long)cg->zswap_bytes,
              (unsigned long long)cg->zswapped,
              (unsigned long long)per_memcg[2 * id],
              (unsigned long long)per_memcg[2 * id + 1]);
    }
    return 0;
}

int zswap_check(const struct mm *mm)
{
    const struct zswap *zs = &mm->zswap;
    uint64_t entries = 0, bytes = 0, same = 0, on_lru, wb = 0, wb_bytes = 0;
    uint32_t cap = mm->memcgs.cap + 1;
    uint64_t *per_memcg;
    int err = 0;

    per_memcg = calloc(cap, 2 * sizeof(*per_memcg));
    if (!per_memcg)
        return -ENOMEM;
    for (unsigned t = 0; t < MAX_SWAPFILES && !err; t++) {
        for (uint64_t off = 0; zs->tree[t] && off < zs->nr_slots[t]; off++) {
            const struct zswap_entry *e = zs->tree[t][off];

            if (!e)
                continue;
            err = check_entry(mm, e, t, off, per_memcg, cap);
            if (err)
                break;
            entries++;
            bytes += entry_bytes(e);
            same += e->length == 0;
            wb += e->writeback;
            wb_bytes += e->writeback ? entry_bytes(e) : 0;
        }
    }
    if (!err)
        err = check_lru(zs, &on_lru);
    if (!err)
        err = check_memcgs(mm, per_memcg, cap);
    free(per_memcg);
    if (err)
        return err;
    CHECK(entries == zs->stat[MM_ZSWAP_stored_pages],
          "zswap: %llu entries, stored_pages %llu", (unsigned long long)entries,
          (unsigned long long)zs->stat[MM_ZSWAP_stored_pages]);
    CHECK(bytes == zs->stat[MM_ZSWAP_pool_total_size],
          "zswap: entries take %llu bytes, pool_total_size %llu",
          (unsigned long long)bytes,
          (unsigned long long)zs->stat[MM_ZSWAP_pool_total_size]);
    CHECK(same == zs->stat[MM_ZSWAP_same_filled_pages] &&
          on_lru + same + wb == entries,
          "zswap: %llu same-filled entries (counter %llu), %llu on the LRU, "
          "%llu under writeback, %llu in all", (unsigned long long)same,
          (unsigned long long)zs->stat[MM_ZSWAP_same_filled_pages],
          (unsigned long long)on_lru, (unsigned long long)wb,
          (unsigned long long)entries);
    CHECK(wb == zs->nr_writeback && wb_bytes == zs->writeback_bytes &&
          wb <= zs->nr_wb_io,
          "zswap: %llu entries (%llu bytes) under writeback, counted %llu "
          "(%llu bytes), %llu writes in flight", (unsigned long long)wb,
          (unsigned long long)wb_bytes, (unsigned long long)zs->nr_writeback,
          (unsigned long long)zs->writeback_bytes,
          (unsigned long long)zs->nr_wb_io);
    return 0;
}
