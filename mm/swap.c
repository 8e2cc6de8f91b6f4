/* swap.c - swap files: slot allocation, swap-out I/O, swap-in and readahead.
 *
 * A swap file is an array of page-sized slots.  As in Linux's swapfile.c
 * each slot has a use count (swap_map: the swap entries naming it; 0 =
 * free) and slots are grouped in clusters of SWAP_CLUSTER_SLOTS: the
 * allocator fills one cluster front to back before taking the next from a
 * FIFO list of free clusters, so pages reclaimed together land in adjacent
 * slots and come back with one read, and a free cluster is reused as late
 * as possible.  Only when no cluster is free does it scan for a free slot
 * in a partly used one.  Each used slot records its owner (segment id,
 * page index): the reverse map that lets swap-in readahead and swap_check()
 * go from a slot to the PTE that names it.  A slot written for a page
 * shared by a clone family (rmap.c) has one user per sharer; its owner is
 * one of them, and the others are the family's members at that index;
 * one written for a KSM page (ksm.c) has its users listed by the page's
 * stable node, at any (segment, index).
 *
 * A swap-in (the fault on a swap entry, swap_do_page) reads the page into
 * a new data page, maps it and keeps the slot in the swap cache while the
 * page stays unwritten (swap_state.c) or frees it.  A slot with several users
 * is read into a private page of the faulting segment, charged as a new
 * page (a major fault still), and the slot stays for the others with one
 * user less - Linux keeps such a page in the swap cache for all of them;
 * rmem has no swap cache, so each sharer that faults reads its own copy,
 * and a slot left with one user is that user's alone again.  When a
 * swap-in continues the previous one of that file (the slot right after
 * the last one read), up to SWAP_RA_PAGES following slots that have one
 * user, this segment, and are still its swap entries are read in the same
 * system call and mapped as not-yet-touched inactive pages (PG_readahead);
 * a shared slot ends the window.  Readahead takes free pages down to the
 * min watermark but never reclaims for them.
 *
 * The swap_info of a file comes from kmalloc, its per-slot arrays from
 * kvmalloc (slab for a small file, buddy pages past MM_KMALLOC_MAX), like
 * every other piece of mm metadata (slab.c, kvmalloc.c).
 *
 * With zswap on (zswap.c), swap_writepage offers the page to zswap first
 * and writes it only when zswap declines; a swap-in loads from zswap when
 * it holds the slot, and freeing a slot frees its zswap entry.  Readahead
 * reads only slots in the file and stops at one zswap holds.
 *
 * swap_do_page (segment_read) does synchronous preadv (os.c) on the
 * caller's thread, the page under I/O off the LRU and PG_locked, and so
 * does reclaim's swap_writepage without a batch (MM_RECLAIM_SYNC, or a
 * KSM page).  With a batch it queues the write instead (vmscan.c's
 * asynchronous swap-out): the page stays mapped under PG_writeback and its
 * slot's owner names it until the write is done.  segment_read_nowait
 * queues its file reads (swap_read_prepare, below): new pages, unmapped
 * and uncharged, and pinned slots, mapped by mm_swapin_done once read.
 * A slot is pinned as well while zswap writes an entry back to it.
 *
 * Identities swap_check() verifies, per swap file:
 *   cluster count == used slots in the cluster; inuse == sum of counts
 *   free list == exactly the clusters with count 0 that are not current
 *   each used slot's owner is a live segment whose PTE names this slot,
 *   or maps the page being written to it or cached in it, or is 0 (an
 *   orphan: its page was discarded during the write); a slot named by
 *   PTEs has a count ==
 *   the PTEs of the owner's family naming it
 *   (and the caller checks sum of slot counts == sum of segments' swapped
 *   + pages under writeback + pages in the swap cache) */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "internal.h"

#define SWAP_CLUSTER_SLOTS 256u
#define CLUSTER_NONE UINT32_MAX
#define SWAP_RA_PAGES 8u                /* readahead window */

struct swap_cluster {
    uint32_t count;                     /* slots in use */
    uint32_t next;                      /* free-cluster list link */
};

struct swap_owner {
    uint64_t index;
    uint32_t seg_id;                    /* 0: slot free */
    uint32_t pinned;                    /* asynchronous swap-ins reading it */
};

struct swap_info {
    unsigned type;                      /* index in mm->swap_info, PTE type */
    int fd;                             /* owned by the caller of mm_swapon */
    char path[256];
    int prio;
    uint64_t nr_slots;
    uint64_t inuse;                     /* slots with a count */
    uint16_t *map;                      /* swap_map: users of each slot */
    struct swap_owner *owner;           /* reverse map of each used slot */
    struct swap_cluster *clusters;
    uint32_t nr_clusters;
    uint32_t free_head, free_tail;      /* free clusters, FIFO */
    uint32_t nr_free_clusters;
    uint32_t cur;                       /* cluster being filled, or NONE */
    uint64_t cur_next;                  /* next slot to try in cur */
    uint64_t scan_next;                 /* fallback scan resumes here */
    uint64_t ra_expect;                 /* a swap-in here continues a stream */
};

static uint64_t cluster_first(uint32_t c)
{
    return (uint64_t)c * SWAP_CLUSTER_SLOTS;
}

static uint64_t cluster_end(const struct swap_info *si, uint32_t c)
{
    uint64_t end = cluster_first(c) + SWAP_CLUSTER_SLOTS;

    return end < si->nr_slots ? end : si->nr_slots;
}

static void free_cluster_add(struct swap_info *si, uint32_t c)
{
    si->clusters[c].next = CLUSTER_NONE;
    if (si->free_tail != CLUSTER_NONE)
        si->clusters[si->free_tail].next = c;
    else
        si->free_head = c;
    si->free_tail = c;
    si->nr_free_clusters++;
}

static uint32_t free_cluster_pop(struct swap_info *si)
{
    uint32_t c = si->free_head;

    if (c == CLUSTER_NONE)
        return c;
    si->free_head = si->clusters[c].next;
    if (si->free_head == CLUSTER_NONE)
        si->free_tail = CLUSTER_NONE;
    si->clusters[c].next = CLUSTER_NONE;
    si->nr_free_clusters--;
    return c;
}

bool swap_active(const struct mm *mm)
{
    return mm->nr_swapfiles > 0;
}

unsigned mm_nr_swapfiles(const struct mm *mm)
{
    return mm->nr_swapfiles;
}

int mm_swapon(struct mm *mm, int fd, const char *path, uint64_t bytes)
{
    struct swap_info *si;
    int err;

    if (!mm || fd < 0 || !path || strlen(path) >= sizeof(si->path))
        return -EINVAL;
    if (mm->nr_swapfiles >= MAX_SWAPFILES)
        return -EPERM;
    if (bytes / MM_PAGE_SIZE == 0 ||
        bytes / MM_PAGE_SIZE > (uint64_t)CLUSTER_NONE * SWAP_CLUSTER_SLOTS)
        return -EINVAL;
    err = os_swap_check_fd(fd, bytes);
    if (err)
        return err;
    si = mm_kzalloc(mm, sizeof(*si));
    if (!si)
        return -ENOMEM;
    si->type = mm->nr_swapfiles;
    si->fd = fd;
    strcpy(si->path, path);
    si->prio = -2 - (int)si->type;      /* Linux: -2 for the first swapon */
    si->nr_slots = bytes / MM_PAGE_SIZE;
    si->nr_clusters = (uint32_t)((si->nr_slots + SWAP_CLUSTER_SLOTS - 1) /
                                 SWAP_CLUSTER_SLOTS);
    err = -ENOMEM;
    si->map = mm_kvzalloc(mm, si->nr_slots * sizeof(*si->map));
    if (!si->map)
        goto err_free_si;
    si->owner = mm_kvzalloc(mm, si->nr_slots * sizeof(*si->owner));
    if (!si->owner)
        goto err_free_map;
    si->clusters = mm_kvzalloc(mm, si->nr_clusters * sizeof(*si->clusters));
    if (!si->clusters)
        goto err_free_owner;
    err = zswap_swapon(mm, si->type, si->nr_slots);
    if (err)
        goto err_free_clusters;
    err = swapcache_init(mm);
    if (err)
        goto err_zswap_swapoff;
    si->free_head = si->free_tail = CLUSTER_NONE;
    for (uint32_t c = 0; c < si->nr_clusters; c++)
        free_cluster_add(si, c);
    si->cur = CLUSTER_NONE;
    si->ra_expect = UINT64_MAX;
    mm->swap_info[si->type] = si;
    mm->nr_swapfiles++;
    return 0;

err_zswap_swapoff:
    zswap_swapoff(mm, si->type);
err_free_clusters:
    mm_kvfree(mm, si->clusters);
err_free_owner:
    mm_kvfree(mm, si->owner);
err_free_map:
    mm_kvfree(mm, si->map);
err_free_si:
    mm_kfree(mm, si);
    return err;
}

void swap_destroy_all(struct mm *mm)
{
    for (unsigned t = 0; t < mm->nr_swapfiles; t++) {
        struct swap_info *si = mm->swap_info[t];

        if (si->inuse)
            mm_log(MM_LOG_ERR, "swap: %s destroyed with %llu slots in use",
                   si->path, (unsigned long long)si->inuse);
        zswap_swapoff(mm, t);
        mm_kvfree(mm, si->clusters);
        mm_kvfree(mm, si->owner);
        mm_kvfree(mm, si->map);
        mm_kfree(mm, si);
        mm->swap_info[t] = NULL;
    }
    mm->nr_swapfiles = 0;
    swapcache_fini(mm);
}

int mm_swap_info(const struct mm *mm, unsigned type, struct mm_swap_info *out)
{
    const struct swap_info *si;

    if (!mm || !out || type >= mm->nr_swapfiles)
        return -ENOENT;
    si = mm->swap_info[type];
    memset(out, 0, sizeof(*out));
    strcpy(out->path, si->path);
    out->size_pages = si->nr_slots;
    out->used_pages = si->inuse;
    out->prio = si->prio;
    return 0;
}

/* Neither used nor held by a swap-in still reading it. */
static bool slot_free(const struct swap_info *si, uint64_t off)
{
    return si->map[off] == 0 && si->owner[off].pinned == 0;
}

static void take_slot(struct swap_info *si, uint64_t off)
{
    si->map[off] = 1;
    si->inuse++;
    si->clusters[off / SWAP_CLUSTER_SLOTS].count++;
}

/* The current cluster is done with: back on the free list if it emptied
 * while being filled. */
static void drop_cur(struct swap_info *si)
{
    if (si->cur != CLUSTER_NONE && si->clusters[si->cur].count == 0)
        free_cluster_add(si, si->cur);
    si->cur = CLUSTER_NONE;
}

static bool alloc_in_cur(struct swap_info *si, uint64_t *off)
{
    while (si->cur != CLUSTER_NONE) {
        for (; si->cur_next < cluster_end(si, si->cur); si->cur_next++) {
            if (slot_free(si, si->cur_next)) {
                *off = si->cur_next++;
                return true;
            }
        }
        drop_cur(si);
        si->cur = free_cluster_pop(si);
        if (si->cur != CLUSTER_NONE)
            si->cur_next = cluster_first(si->cur);
    }
    return false;
}

/* No free cluster: any free slot, scanning on from the last find. */
static bool alloc_scan(struct swap_info *si, uint64_t *off)
{
    for (uint64_t n = 0; n < si->nr_slots; n++) {
        uint64_t s = (si->scan_next + n) % si->nr_slots;

        if (slot_free(si, s)) {
            *off = s;
            si->scan_next = s + 1;
            return true;
        }
    }
    return false;
}

static int si_alloc_slot(struct swap_info *si, uint64_t *off)
{
    if (si->inuse == si->nr_slots)
        return -ENOSPC;
    if (si->cur == CLUSTER_NONE) {
        si->cur = free_cluster_pop(si);
        if (si->cur != CLUSTER_NONE)
            si->cur_next = cluster_first(si->cur);
    }
    if (!alloc_in_cur(si, off) && !alloc_scan(si, off))
        return -ENOSPC;
    take_slot(si, *off);
    return 0;
}

/* Highest priority first; with one file per type, lowest type first. */
int swap_alloc_slot(struct mm *mm, pte_t *entry)
{
    for (unsigned t = 0; t < mm->nr_swapfiles; t++) {
        uint64_t off;

        if (si_alloc_slot(mm->swap_info[t], &off) == 0) {
            *entry = swp_entry_pte(t, off);
            return 0;
        }
    }
    return -ENOSPC;
}

/* The swap_info and slot an entry names, or NULL if it names none in use. */
static struct swap_info *entry_info(const struct mm *mm, pte_t entry,
                                    uint64_t *off)
{
    unsigned type = pte_swp_type(entry);
    struct swap_info *si;

    if (!pte_is_swap(entry) || type >= mm->nr_swapfiles)
        return NULL;
    si = mm->swap_info[type];
    *off = pte_swp_offset(entry);
    if (*off >= si->nr_slots || si->map[*off] == 0)
        return NULL;
    return si;
}

/* A slot with no user and no pin goes back to the allocator. */
static void release_slot(struct swap_info *si, uint64_t off)
{
    uint32_t c = (uint32_t)(off / SWAP_CLUSTER_SLOTS);

    si->inuse--;
    if (--si->clusters[c].count == 0 && c != si->cur)
        free_cluster_add(si, c);
}

void swap_free_entry(struct mm *mm, pte_t entry)
{
    struct swap_info *si;
    uint64_t off;

    si = entry_info(mm, entry, &off);
    if (!si) {
        mm_log(MM_LOG_ERR, "swap: free of swap entry %llx not in use",
               (unsigned long long)entry);
        return;
    }
    if (--si->map[off])
        return;
    zswap_invalidate(mm, si->type, off);
    si->owner[off].seg_id = 0;
    si->owner[off].index = 0;
    /* Still being read (swap_read_prepare): it is reused only once the
     * read is done, or the read could see another page's contents. */
    if (si->owner[off].pinned)
        return;
    release_slot(si, off);
}

unsigned swap_entry_count(const struct mm *mm, pte_t entry)
{
    uint64_t off;
    const struct swap_info *si = entry_info(mm, entry, &off);

    return si ? si->map[off] : 0;
}

uint32_t swap_entry_owner(const struct mm *mm, pte_t entry)
{
    uint64_t off;
    const struct swap_info *si = entry_info(mm, entry, &off);

    return si ? si->owner[off].seg_id : 0;
}

uint64_t swap_entry_index(const struct mm *mm, pte_t entry)
{
    uint64_t off;
    const struct swap_info *si = entry_info(mm, entry, &off);

    return si ? si->owner[off].index : 0;
}

/* Linux's vm_swap_full(): under half of all slots free. */
bool swap_half_full(const struct mm *mm)
{
    uint64_t used = 0, total = 0;

    for (unsigned t = 0; t < mm->nr_swapfiles; t++) {
        used += mm->swap_info[t]->inuse;
        total += mm->swap_info[t]->nr_slots;
    }
    return used * 2 > total;
}

int swap_dup_entry(struct mm *mm, pte_t entry)
{
    uint64_t off;
    struct swap_info *si = entry_info(mm, entry, &off);

    if (!si || si->map[off] == SWAP_MAP_MAX) {
        mm_log(MM_LOG_ERR, "swap: duplicate of swap entry %llx not in use or "
               "at %u users", (unsigned long long)entry, SWAP_MAP_MAX);
        return -EINVAL;
    }
    si->map[off]++;
    return 0;
}

uint64_t swap_memcg_slots(const struct mm *mm, const struct memcg *cg)
{
    uint64_t n = 0;

    for (unsigned t = 0; t < mm->nr_swapfiles; t++) {
        const struct swap_info *si = mm->swap_info[t];

        for (uint64_t s = 0; s < si->nr_slots; s++) {
            const struct segment *seg;

            if (!si->map[s])
                continue;
            seg = idr_find(&mm->segments, si->owner[s].seg_id);
            n += seg && seg->memcg == cg;
        }
    }
    return n;
}

void swap_set_owner(struct mm *mm, pte_t entry, uint32_t seg_id, uint64_t index)
{
    uint64_t off;
    struct swap_info *si = entry_info(mm, entry, &off);

    if (si) {
        si->owner[off].seg_id = seg_id;
        si->owner[off].index = index;
    }
}

void swap_io_error(struct mm *mm, const char *what, uint64_t pos, int err)
{
    mm->events[MM_EV_swap_io_errors]++;
    mm_log(MM_LOG_ERR, "swap: %s of the page at byte %llu of the swap file: %s",
           what, (unsigned long long)pos, strerror(-err));
}

static int write_slot(struct mm *mm, struct swap_info *si, uint64_t off,
                      const void *page)
{
    int err;

    if (mm->swap_write_latency_us)
        os_delay_us(mm->swap_write_latency_us);
    err = os_swap_write(si->fd, page, off * MM_PAGE_SIZE);
    if (err) {
        swap_io_error(mm, "write", off * MM_PAGE_SIZE, err);
        return err;
    }
    mm->events[MM_EV_pswpout]++;
    return 0;
}

int swap_slot_owner(const struct mm *mm, unsigned type, uint64_t off,
                    uint32_t *seg_id)
{
    uint64_t o;
    struct swap_info *si = type < mm->nr_swapfiles ?
        entry_info(mm, swp_entry_pte(type, off), &o) : NULL;

    if (!si)
        return -ENOENT;
    *seg_id = si->owner[off].seg_id;
    return 0;
}

struct mm_swap_io *swap_batch_add(struct mm *mm, struct mm_swap_batch *b)
{
    struct mm_swap_io *io;

    if (b->nr >= MM_SWAP_IO_BATCH)
        return NULL;
    if (b->nr == 0)
        b->latency_us = mm->swap_write_latency_us;
    io = &b->io[b->nr++];
    memset(io, 0, sizeof(*io));
    return io;
}

int swap_slot_pin(struct mm *mm, unsigned type, uint64_t off,
                  struct mm_swap_io *io)
{
    uint64_t o;
    struct swap_info *si = type < mm->nr_swapfiles ?
        entry_info(mm, swp_entry_pte(type, off), &o) : NULL;

    if (!si)
        return -ENOENT;
    si->owner[off].pinned++;
    io->fd = si->fd;
    io->pos = off * MM_PAGE_SIZE;
    io->entry = swp_entry_pte(type, off);
    return 0;
}

/* Linux's swap_writepage(): zswap first, the file when it says no. */
int swap_writepage(struct mm *mm, pfn_t pfn, pte_t entry,
                   struct mm_swap_batch *b, bool may_write)
{
    uint64_t off;
    struct swap_info *si = entry_info(mm, entry, &off);
    struct mm_swap_io *io;

    if (!si)
        return -EINVAL;
    if (zswap_store(mm, si->type, off, pfn, b, may_write) == 0)
        return 0;
    io = b ? swap_batch_add(mm, b) : NULL;
    if (io) {
        io->fd = si->fd;
        io->pos = off * MM_PAGE_SIZE;
        io->page = page_address(mm, pfn);
        io->pfn = pfn;
        io->entry = entry;
        return 1;
    }
    if (!may_write)
        return -EAGAIN;
    return write_slot(mm, si, off, page_address(mm, pfn));
}

void mm_swap_set_read_latency(struct mm *mm, uint32_t usec)
{
    mm->swap_read_latency_us = usec;
}

void mm_swap_set_write_latency(struct mm *mm, uint32_t usec)
{
    mm->swap_write_latency_us = usec;
}

/* A synchronous read of the file, as slow as mm_swap_set_read_latency says. */
static int swap_readv(struct mm *mm, int fd, const struct iovec *iov,
                      unsigned n, uint64_t pos)
{
    if (mm->swap_read_latency_us)
        os_delay_us(mm->swap_read_latency_us);
    return os_swap_readv(fd, iov, n, pos);
}

/* The new page pfn replaces swap entry *pte of (seg, index), and keeps
 * the slot in the swap cache if it may (swap_state.c): clean, its
 * contents still in the slot.  Otherwise the slot is freed, and the page,
 * with no copy anywhere else, is dirty.  Its memsw charge moved from swap
 * to memory in segment_get_page() either way. */
static void commit_swapin(struct segment *seg, pte_t *pte, pfn_t pfn,
                          uint32_t extra_flags)
{
    struct mm *mm = seg->mm;
    struct page *page = pfn_to_page(mm, pfn);
    pte_t entry = *pte;
    bool cache = swapcache_may_keep(mm, entry);

    if (!cache)
        swap_free_entry(mm, entry);
    seg->swapped--;
    *pte = pfn_pte(pfn, cache ? PTE_ACCESSED : PTE_DIRTY | PTE_ACCESSED);
    seg->resident++;
    page_set(page, PG_dirty | PG_uptodate);
    lru_add_page(mm, page);
    page_set(page, extra_flags);
    if (cache)
        swapcache_add(mm, page, entry);
}

struct ra_candidate {
    uint64_t index;
    pte_t *pte;
    pfn_t pfn;
};

/* Slots after off that hold later pages of the same segment, up to the
 * first one that does not. */
static unsigned ra_collect(struct segment *seg, struct swap_info *si,
                           uint64_t off, struct ra_candidate *ra)
{
    const struct mm *mm = seg->mm;
    unsigned n = 0;

    for (uint64_t s = off + 1; s < si->nr_slots && n < SWAP_RA_PAGES; s++) {
        pte_t *pte;

        /* A zswap entry costs a decompression, no I/O: nothing to batch. */
        if (si->map[s] != 1 || si->owner[s].seg_id != seg->id ||
            zswap_has(mm, si->type, s))
            break;
        pte = pgtable_lookup(&seg->pt, si->owner[s].index);
        if (!pte || *pte != swp_entry_pte(si->type, s))
            break;
        ra[n].index = si->owner[s].index;
        ra[n].pte = pte;
        n++;
    }
    return n;
}

/* Linux's swap_cluster_readahead(), in one preadv; returns pages read. */
static unsigned swapin_readahead(struct segment *seg, struct swap_info *si,
                                 uint64_t off)
{
    struct ra_candidate ra[SWAP_RA_PAGES];
    struct iovec iov[SWAP_RA_PAGES];
    struct mm *mm = seg->mm;
    unsigned n = ra_collect(seg, si, off, ra), got = 0;
    int err;

    for (; got < n; got++) {
        if (segment_get_page(seg, ra[got].index, ALLOC_OPTIONAL, CHARGE_SWAP,
                             &ra[got].pfn))
            break;
        page_set(pfn_to_page(mm, ra[got].pfn), PG_locked);
        iov[got].iov_base = page_address(mm, ra[got].pfn);
        iov[got].iov_len = MM_PAGE_SIZE;
    }
    if (got == 0)
        return 0;
    err = swap_readv(mm, si->fd, iov, got, (off + 1) * MM_PAGE_SIZE);
    for (unsigned i = 0; i < got; i++)
        page_clear(pfn_to_page(mm, ra[i].pfn), PG_locked);
    if (err) {
        /* Readahead is a guess: drop the pages, the faults will retry. */
        mm->events[MM_EV_swap_io_errors]++;
        for (unsigned i = 0; i < got; i++)
            segment_unget_page(seg, ra[i].pfn, CHARGE_SWAP);
        return 0;
    }
    for (unsigned i = 0; i < got; i++)
        commit_swapin(seg, ra[i].pte, ra[i].pfn, PG_readahead);
    mm->events[MM_EV_swap_ra] += got;
    mm->events[MM_EV_pswpin] += got;
    return got;
}

/* Linux's do_swap_page(): *pte of (seg, index) is a swap entry. */
int swap_do_page(struct segment *seg, uint64_t index, pte_t *pte)
{
    struct mm *mm = seg->mm;
    struct swap_info *si;
    struct iovec iov;
    enum page_charge charge;
    uint64_t off;
    bool sequential;
    unsigned ra = 0;
    pfn_t pfn;
    int err;

    si = entry_info(mm, *pte, &off);
    if (!si || (!ksm_swap_maps(mm, *pte, seg->id, index) &&
                (!rmap_same_family(seg, si->owner[off].seg_id) ||
                 si->owner[off].index != index))) {
        mm_log(MM_LOG_ERR, "swap: segment %u index %llu: swap entry %llx names "
               "no slot of it", seg->id, (unsigned long long)index,
               (unsigned long long)*pte);
        return -EIO;
    }
    /* A shared slot stays charged for its other users: ours is a new page. */
    charge = si->map[off] > 1 ? CHARGE_NEW : CHARGE_SWAPIN;
    err = segment_get_page(seg, index, ALLOC_DATA, charge, &pfn);
    if (err)
        return err;
    page_set(pfn_to_page(mm, pfn), PG_locked);
    err = zswap_load(mm, si->type, off, page_address(mm, pfn));
    if (err == -ENOENT) {
        iov.iov_base = page_address(mm, pfn);
        iov.iov_len = MM_PAGE_SIZE;
        err = swap_readv(mm, si->fd, &iov, 1, off * MM_PAGE_SIZE);
        if (err) {
            swap_io_error(mm, "read", off * MM_PAGE_SIZE, err);
        } else {
            mm->events[MM_EV_pswpin]++;
        }
    }
    page_clear(pfn_to_page(mm, pfn), PG_locked);
    if (err) {
        segment_unget_page(seg, pfn, charge);
        return -EIO;
    }
    sequential = off == si->ra_expect;
    if (charge == CHARGE_NEW) {
        /* The slot may have lost its other users meanwhile (an OOM kill
         * while allocating): the zap frees it then, as a discard would. */
        memcg_count_event(seg->memcg, MEMCG_PGMAJFAULT, 1);
        err = segment_replace_pte(seg, index, pte, pfn);
        if (err) {
            segment_unget_page(seg, pfn, charge);
            return err;
        }
        mm->events[MM_EV_pswpin]++;
    } else {
        commit_swapin(seg, pte, pfn, 0);
    }
    lru_mark_accessed(mm, pfn_to_page(mm, pfn));
    if (sequential)
        ra = swapin_readahead(seg, si, off);
    si->ra_expect = off + 1 + ra;
    return 0;
}

/* ---- Asynchronous swap-in (mm.h: segment_read_nowait) ----
 *
 * The read is split as the swap-out is: swap_read_prepare() queues the
 * reads, mm_swapin_run() does them on any thread, mm_swapin_done() maps
 * the pages.  In between, a queued page is ALLOCATED and PG_locked,
 * belongs to no segment and is charged to nobody, and its slot is pinned
 * (Linux's SWAP_HAS_CACHE): whatever happens to the PTEs naming the slot -
 * discard, destroy, an OOM kill, an overwrite, a clone - the slot keeps
 * its place until the read is done, so it is never rewritten under the
 * read nor handed to another page that a stale read would then install.
 * Completion maps a page only if its PTE still names its slot; it is
 * charged then, as swap_do_page would have charged it. */

static bool req_has(const struct mm_swapin_req *req, pte_t entry)
{
    for (unsigned i = 0; i < req->nr; i++)
        if (req->io[i].entry == entry)
            return true;
    return false;
}

static void free_swapin_page(struct mm *mm, pfn_t pfn)
{
    struct page *page = pfn_to_page(mm, pfn);

    page->flags = 0;
    mm_free_pages(mm, pfn, 0);
}

/* The slot named by entry loses a pin; with no user left it is free. */
void swap_unpin_entry(struct mm *mm, pte_t entry)
{
    unsigned type = pte_swp_type(entry);
    struct swap_info *si = type < mm->nr_swapfiles ? mm->swap_info[type] : NULL;
    uint64_t off = pte_swp_offset(entry);

    if (!si || off >= si->nr_slots || si->owner[off].pinned == 0) {
        mm_log(MM_LOG_ERR, "swap: unpin of swap entry %llx not pinned",
               (unsigned long long)entry);
        return;
    }
    if (--si->owner[off].pinned == 0 && si->map[off] == 0)
        release_slot(si, off);
}

/* A page read ahead of a swap-in: the slot's one user is this segment
 * and names it, it is in the file, and nobody else is reading it. */
static bool ra_candidate(const struct segment *seg, const struct swap_info *si,
                         uint64_t s)
{
    const pte_t *pte;

    if (si->map[s] != 1 || si->owner[s].seg_id != seg->id ||
        si->owner[s].pinned || zswap_has(seg->mm, si->type, s))
        return false;
    pte = pgtable_lookup(&seg->pt, si->owner[s].index);
    return pte && *pte == swp_entry_pte(si->type, s);
}

/* Queue the read of slot off of si into a new page for (seg, index).
 * Allocating may reclaim or OOM-kill, so the PTE is looked at again
 * after: a slot it no longer names is not read (0 either way). */
static int swapin_queue(struct segment *seg, struct swap_info *si, uint64_t off,
                        uint64_t index, bool readahead,
                        struct mm_swapin_req *req)
{
    struct mm *mm = seg->mm;
    pte_t entry = swp_entry_pte(si->type, off);
    struct mm_swapin_io *io;
    const pte_t *pte;
    pfn_t pfn;
    int err;

    err = segment_alloc_page(seg, readahead ? ALLOC_OPTIONAL : ALLOC_DATA, &pfn);
    if (err)
        return err;
    if (seg->dead) {
        free_swapin_page(mm, pfn);
        return -EOWNERDEAD;
    }
    pte = pgtable_lookup(&seg->pt, index);
    if (!pte || *pte != entry) {
        free_swapin_page(mm, pfn);
        return 0;
    }
    page_set(pfn_to_page(mm, pfn), PG_locked);
    si->owner[off].pinned++;
    mm->nr_swapin++;
    io = &req->io[req->nr++];
    io->fd = si->fd;
    io->pos = off * MM_PAGE_SIZE;
    io->page = page_address(mm, pfn);
    io->err = 0;
    io->readahead = readahead;
    io->pfn = pfn;
    io->entry = entry;
    io->index = index;
    return 0;
}

/* Slots in file order, so that adjacent ones become one preadv. */
static void sort_req(struct mm_swapin_req *req)
{
    for (unsigned i = 1; i < req->nr; i++) {
        struct mm_swapin_io io = req->io[i];
        unsigned j = i;

        for (; j > 0 && (req->io[j - 1].fd > io.fd ||
                         (req->io[j - 1].fd == io.fd && req->io[j - 1].pos > io.pos));
             j--)
            req->io[j] = req->io[j - 1];
        req->io[j] = io;
    }
}

/* After the range's own pages, the readahead window of each one that
 * continues a stream (off == ra_expect), as swap_do_page does one page at
 * a time: slots already queued fill the window without ending it. */
static void queue_readahead(struct segment *seg, struct mm_swapin_req *req)
{
    unsigned demand = req->nr;

    for (unsigned k = 0; k < demand; k++) {
        pte_t entry = req->io[k].entry;
        struct swap_info *si = seg->mm->swap_info[pte_swp_type(entry)];
        uint64_t off = pte_swp_offset(entry), s = off + 1;

        if (off == si->ra_expect) {
            for (; s < si->nr_slots && s <= off + SWAP_RA_PAGES &&
                   req->nr < MM_SWAPIN_BATCH; s++) {
                if (req_has(req, swp_entry_pte(si->type, s)))
                    continue;
                if (!ra_candidate(seg, si, s) ||
                    swapin_queue(seg, si, s, si->owner[s].index, true, req))
                    break;
            }
        }
        si->ra_expect = s;
    }
}

int swap_read_prepare(struct segment *seg, uint64_t first, uint32_t count,
                      struct mm_swapin_req *req)
{
    struct mm *mm = seg->mm;

    req->seg_id = seg->id;
    req->latency_us = mm->swap_read_latency_us;
    req->nr = 0;
    for (uint64_t index = first; index < first + count &&
                                 req->nr < MM_SWAPIN_BATCH; index++) {
        const pte_t *pte = pgtable_lookup(&seg->pt, index);
        struct swap_info *si;
        uint64_t off;
        int err;

        /* An entry naming no slot is left to swap_do_page to report. */
        if (!pte || !pte_is_swap(*pte))
            continue;
        si = entry_info(mm, *pte, &off);
        if (!si || zswap_has(mm, si->type, off))
            continue;
        err = swapin_queue(seg, si, off, index, false, req);
        if (err) {
            mm_swapin_cancel(mm, req);
            return err;
        }
    }
    if (req->nr)
        queue_readahead(seg, req);
    sort_req(req);
    return (int)req->nr;
}

/* Any thread: one preadv per run of adjacent slots. */
void mm_swapin_run(struct mm_swapin_req *req)
{
    struct iovec iov[MM_SWAPIN_BATCH];

    /* One device round trip for the request: its reads are queued at once. */
    if (req->latency_us && req->nr)
        os_delay_us(req->latency_us);
    for (unsigned i = 0, n; i < req->nr; i += n) {
        int err;

        for (n = 1; i + n < req->nr && req->io[i + n].fd == req->io[i].fd &&
                    req->io[i + n].pos == req->io[i].pos + (uint64_t)n * MM_PAGE_SIZE;
             n++)
            ;
        for (unsigned k = 0; k < n; k++) {
            iov[k].iov_base = req->io[i + k].page;
            iov[k].iov_len = MM_PAGE_SIZE;
        }
        err = os_swap_readv(req->io[i].fd, iov, n, req->io[i].pos);
        for (unsigned k = 0; k < n; k++)
            req->io[i + k].err = err;
    }
}

/* Map one page read: 1, or 0 if its PTE no longer names its slot (the
 * page is freed), or the charge's error (page freed too).  Charged as
 * swap_do_page charges: its own slot's charge moves to the page (a major
 * fault), a shared slot's stays for the others (a new page), readahead
 * takes what the memcg has without reclaiming. */
static int swapin_install(struct mm *mm, struct segment *seg,
                          const struct mm_swapin_io *io)
{
    enum page_charge charge;
    unsigned users;
    pte_t *pte;
    int err;

    pte = seg && !seg->dead ? pgtable_lookup(&seg->pt, io->index) : NULL;
    if (!pte || *pte != io->entry)
        goto out_free;
    users = swap_entry_count(mm, io->entry);
    if (io->readahead && (users != 1 || swap_entry_owner(mm, io->entry) != seg->id))
        goto out_free;
    charge = io->readahead ? CHARGE_SWAP : users > 1 ? CHARGE_NEW : CHARGE_SWAPIN;
    err = segment_adopt_page(seg, io->pfn, io->index, io->readahead, charge);
    if (err) {
        free_swapin_page(mm, io->pfn);
        return io->readahead ? 0 : err;
    }
    /* The charge may have reclaimed or killed: look again. */
    pte = seg->dead ? NULL : pgtable_lookup(&seg->pt, io->index);
    if (!pte || *pte != io->entry) {
        segment_unget_page(seg, io->pfn, charge);
        return seg->dead ? -EOWNERDEAD : 0;
    }
    if (charge == CHARGE_NEW) {
        memcg_count_event(seg->memcg, MEMCG_PGMAJFAULT, 1);
        err = segment_replace_pte(seg, io->index, pte, io->pfn);
        if (err) {
            segment_unget_page(seg, io->pfn, charge);
            return err;
        }
    } else {
        commit_swapin(seg, pte, io->pfn, io->readahead ? PG_readahead : 0);
    }
    return 1;

out_free:
    free_swapin_page(mm, io->pfn);
    return 0;
}

int mm_swapin_done(struct mm *mm, struct mm_swapin_req *req)
{
    /* Destroyed meanwhile, its id may name another segment now: harmless,
     * since a pinned slot still holds what was read, whichever PTE names
     * it. */
    struct segment *seg = idr_find(&mm->segments, req->seg_id);
    int ret = 0;

    for (unsigned i = 0; i < req->nr; i++) {
        const struct mm_swapin_io *io = &req->io[i];
        struct page *page = pfn_to_page(mm, io->pfn);
        int err;

        page_clear(page, PG_locked);
        mm->nr_swapin--;
        if (io->err) {
            swap_io_error(mm, "read", io->pos, io->err);
            free_swapin_page(mm, io->pfn);
            /* Only a page the read still needs fails it. */
            if (!io->readahead && seg && !seg->dead) {
                const pte_t *pte = pgtable_lookup(&seg->pt, io->index);

                if (pte && *pte == io->entry)
                    ret = -EIO;
            }
            swap_unpin_entry(mm, io->entry);
            continue;
        }
        mm->events[MM_EV_pswpin]++;
        if (io->readahead)
            mm->events[MM_EV_swap_ra]++;
        err = swapin_install(mm, seg, io);
        if (err < 0 && !ret)
            ret = err;
        swap_unpin_entry(mm, io->entry);
    }
    req->nr = 0;
    return ret;
}

void mm_swapin_cancel(struct mm *mm, struct mm_swapin_req *req)
{
    for (unsigned i = 0; i < req->nr; i++) {
        free_swapin_page(mm, req->io[i].pfn);
        mm->nr_swapin--;
        swap_unpin_entry(mm, req->io[i].entry);
    }
    req->nr = 0;
}

uint64_t mm_nr_swapin(const struct mm *mm)
{
    return mm->nr_swapin;
}

/* A used slot's owner names it by PTE, or maps a page whose swap-out to
 * it is in flight, or is 0 for a page discarded during that write. */
static bool slot_under_writeback(const struct mm *mm, pte_t entry)
{
    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);

        if (page_test(page, PG_writeback) && page_swap_entry(page) == entry)
            return true;
    }
    return false;
}

static int check_owner(const struct mm *mm, const struct swap_info *si,
                       uint64_t off, uint64_t *orphans)
{
    const struct swap_owner *o = &si->owner[off];
    pte_t entry = swp_entry_pte(si->type, off);
    struct segment *seg;
    const pte_t *pte;
    unsigned users;

    if (o->seg_id == 0) {
        (*orphans)++;
        return 0;
    }
    seg = idr_find(&mm->segments, o->seg_id);
    CHECK(seg, "swap: %s slot %llu: owner names no segment (%u)", si->path,
          (unsigned long long)off, o->seg_id);
    pte = pgtable_lookup(&seg->pt, o->index);
    if (pte && pte_present(*pte)) {
        const struct page *page = pfn_to_page(mm, pte_pfn(*pte));

        if (page_test(page, PG_writeback) && page_swap_entry(page) == entry)
            return 0;
        /* The swap cache's: swapcache_check() knows the rest. */
        if (swapcache_entry(mm, page) == entry)
            return 0;
    } else if (pte && *pte == entry) {
        /* A KSM slot's users are its stable node's mappers (ksm.c
         * checks each names it). */
        users = ksm_swap_mappers(mm, entry);
        if (!users)
            users = rmap_walk(seg, o->index, *pte, NULL, NULL);
        CHECK(users == si->map[off], "swap: %s slot %llu: count %u, %u PTEs "
              "of segment %u's family name it", si->path,
              (unsigned long long)off, si->map[off], users, seg->id);
        return 0;
    }
    /* A page under writeback whose owner broke its share with a clone
     * made meanwhile: another member maps it now.  Rare, so a scan. */
    CHECK(slot_under_writeback(mm, entry),
          "swap: %s slot %llu: segment %u index %llu neither names it nor "
          "maps the page being written to it", si->path,
          (unsigned long long)off, seg->id, (unsigned long long)o->index);
    return 0;
}

static int check_info(const struct mm *mm, const struct swap_info *si,
                      uint64_t *counts, uint64_t *orphans, uint64_t *pins)
{
    uint64_t inuse = 0, nr_free = 0, listed = 0;

    for (uint32_t c = 0; c < si->nr_clusters; c++) {
        uint32_t used = 0;

        for (uint64_t s = cluster_first(c); s < cluster_end(si, c); s++) {
            if (slot_free(si, s))
                continue;
            used++;
            *pins += si->owner[s].pinned;
            if (!si->map[s]) {
                /* Freed while a swap-in reads it: held, owned by none. */
                CHECK(si->owner[s].seg_id == 0, "swap: %s slot %llu: no user, "
                      "but owned by segment %u", si->path,
                      (unsigned long long)s, si->owner[s].seg_id);
                continue;
            }
            *counts += si->map[s];
            if (check_owner(mm, si, s, orphans))
                return -EUCLEAN;
        }
        CHECK(used == si->clusters[c].count, "swap: %s cluster %u: %u slots "
              "used, count %u", si->path, c, used, si->clusters[c].count);
        inuse += used;
        nr_free += used == 0 && c != si->cur;
    }
    CHECK(inuse == si->inuse, "swap: %s: %llu slots used, inuse %llu", si->path,
          (unsigned long long)inuse, (unsigned long long)si->inuse);
    for (uint32_t c = si->free_head; c != CLUSTER_NONE; c = si->clusters[c].next) {
        CHECK(c < si->nr_clusters && listed < si->nr_clusters &&
              si->clusters[c].count == 0 && c != si->cur,
              "swap: %s: free cluster list holds cluster %u (count %u)", si->path,
              c, c < si->nr_clusters ? si->clusters[c].count : 0);
        listed++;
    }
    CHECK(listed == nr_free && listed == si->nr_free_clusters,
          "swap: %s: %llu clusters on the free list, %llu free, nr_free %u",
          si->path, (unsigned long long)listed, (unsigned long long)nr_free,
          si->nr_free_clusters);
    return 0;
}

/* *nr_slots_used receives the sum of all slots' use counts: one for every
 * swap PTE of every segment and every page under writeback. */
int swap_check(const struct mm *mm, uint64_t *nr_slots_used, uint64_t *nr_orphans,
               uint64_t *nr_pins)
{
    *nr_slots_used = *nr_orphans = *nr_pins = 0;
    for (unsigned t = 0; t < mm->nr_swapfiles; t++) {
        int err = check_info(mm, mm->swap_info[t], nr_slots_used, nr_orphans,
                             nr_pins);

        if (err)
            return err;
    }
    return 0;
}
