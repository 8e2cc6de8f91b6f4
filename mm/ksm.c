/* ksm.c - kernel same-page merging for the pool, as Linux's mm/ksm.c.
 *
 * Segments opt in (mm_ksm_madvise, MADV_MERGEABLE); mm_ksm_scan() walks
 * their present pages a step at a time from a cursor (segment id, index),
 * as ksmd walks its mm_slots, and a pass over every mergeable segment is
 * a full scan.  For each page, cmp_and_merge_page() does what Linux's
 * does:
 *   1. a page identical to a KSM page of the same memcg (the stable
 *      table) is merged into it at once;
 *   2. otherwise a page whose checksum changed since the last pass is
 *      volatile and left alone (pages_volatile) - it would only be copied
 *      again on its next write;
 *   3. otherwise it is looked up among this pass's unmerged candidates
 *      (the unstable table): a match becomes a new KSM page, the matched
 *      page itself, and this one merges into it; no match, and it becomes
 *      a candidate.  The unstable table is emptied at each full scan.
 * So identical pages merge on the second pass that sees them unchanged.
 *
 * Merging replaces the PTE of the duplicate by the KSM page's pfn with
 * PTE_COW and frees the duplicate: the KSM page stays charged once, to
 * its memcg, whose usage drops by the page freed.  Writing a KSM page is
 * a copy-on-write break like a clone's (segment.c: a new page replaces
 * the PTE, the zap drops the mapper here).  Merging is within one memcg
 * (one tenant) only: the lookup key is (content hash, memcg).
 *
 * A KSM page's mappers sit at any (segment, index), so the clone family's
 * walk (rmap.c) cannot find them: each KSM page has a stable node (Linux's
 * stable_node with its rmap_items in one) listing them, found from the
 * page through a table by pfn, and the page is marked PG_ksm, which tells
 * rmap.c, vmscan.c and clone.c to use the node.  With one mapper left the
 * page is that mapper's own again (no PG_ksm, no PTE_COW, node freed) -
 * unlike Linux, which keeps a KSM page of one mapper: here it then goes
 * back to the ordinary paths (in-place writes, asynchronous swap-out) and
 * a later scan may merge it again.  A node takes at most
 * KSM_MAX_PAGE_SHARING mappers from merging (Linux's max_page_sharing);
 * further identical pages start another KSM page.
 *
 * Eligible pages: present, refcount 1, not under I/O (PG_writeback,
 * PG_locked).  A page shared by a clone family (refcount > 1 without
 * PG_ksm) is skipped and counted (pages_skipped): its sharers are found
 * by the family walk at one index, and a page on both kinds of reverse
 * map would need both kept in step for no gain - its sharers already
 * share it.  A clone of a segment mapping KSM pages becomes one more
 * mapper of each (clone.c calls ksm_clone_page).
 *
 * Reclaim of a KSM page (vmscan.c) is the family's: it is written once to
 * a slot with one user per mapper, every mapper's PTE becomes the swap
 * entry, and the node moves to the swapped table, keyed by that entry,
 * still listing the mappers; the slot's owner is one of them.  A mapper
 * that faults it back gets a private copy (swap.c: a slot of several
 * users is read into a new page), and the last one the slot.
 *
 * Lookup by content is a hash table of a 64-bit content hash plus memcmp
 * rather than Linux's red-black trees sorted by memcmp: mm/ is
 * single-threaded and a page changes only through segment_write between
 * steps, so a hash computed once per page per pass stays valid for a
 * stable page and the checksum Linux computes anyway for volatility is the
 * same pass over the page; a lookup is then one bucket and, on a hit, one
 * memcmp, where a tree takes log n memcmps of pages that mostly share
 * long prefixes (zero-filled tails).  A candidate that changed after it
 * was hashed is simply not found (the memcmp on a hit catches a collision
 * or a stale hash), which costs a merge one pass later, never
 * correctness.  Checksums are kept per pfn (a candidate has refcount 1,
 * so its pfn names it), and reset when an ordinary page is freed.
 *
 * Metadata: per pool page a node pointer and a checksum (12 bytes), the
 * hash buckets, and per KSM page a node and its mapper list, per
 * candidate an rmap item; general_profit subtracts all of it.
 *
 * Identities ksm_check() verifies:
 *   PG_ksm page <=> in a resident stable node (node_of[pfn]);
 *   a resident node's mappers each map its page with PTE_COW, its memcg
 *   is theirs, refcount == mappers >= 2, the page's rmap is one of them;
 *   a swapped node's mappers each name its entry, slot count == mappers;
 *   nr_nodes, nr_mappers, nr_swap_nodes, nr_items and each memcg's
 *   ksm_merging agree with the tables. */
#include <errno.h>
#include <string.h>

#include "internal.h"

#define KSM_SCAN_BATCH 64u              /* indices collected per table walk */
#define KSM_MIN_MAPPERS 4u              /* first mapper list */
/* A swap slot counts its users in 16 bits: no node may outgrow it. */
#define KSM_MAX_MAPPERS SWAP_MAP_MAX

struct ksm_mapper {
    uint32_t seg_id;
    uint64_t index;
};

struct ksm_stable_node {
    struct ksm_stable_node *next;       /* bucket chain */
    uint64_t hash;                      /* of the contents */
    pte_t entry;                        /* in swap: its swap entry */
    pfn_t pfn;                          /* resident: the KSM page; else PFN_NONE */
    uint32_t memcg_id;                  /* every mapper's memcg */
    uint32_t nr_mappers, max_mappers;
    struct ksm_mapper *mappers;         /* kmalloc'd, max_mappers long */
};

struct ksm_rmap_item {
    struct ksm_rmap_item *next;         /* bucket chain */
    uint64_t hash;
    uint64_t index;                     /* (seg_id, index) mapped pfn when */
    uint32_t seg_id;                    /* it was hashed */
    uint32_t memcg_id;
    pfn_t pfn;
};

/* ---- hashing ---------------------------------------------------------- */

/* Four independent multiply-xorshift lanes over the page's words, folded:
 * not cryptographic (memcmp decides), only well spread and cheap. */
static uint64_t hash_page(const void *addr)
{
    const uint64_t *w = addr;
    uint64_t h[4] = { 0x9ae16a3b2f90404full, 0xc3a5c85c97cb3127ull,
                      0xb492b66fbe98f273ull, 0x9e3779b97f4a7c15ull };

    for (size_t i = 0; i < MM_PAGE_SIZE / sizeof(*w); i += 4) {
        for (unsigned l = 0; l < 4; l++) {
            h[l] = (h[l] ^ w[i + l]) * 0xff51afd7ed558ccdull;
            h[l] ^= h[l] >> 32;
        }
    }
    return (h[0] ^ (h[1] << 1 | h[1] >> 63)) * 0xc4ceb9fe1a85ec53ull ^
           (h[2] ^ (h[3] << 7 | h[3] >> 57));
}

static uint32_t checksum_of(uint64_t hash)
{
    uint32_t c = (uint32_t)(hash ^ hash >> 32);

    return c ? c : 1;                   /* 0 means "never seen" */
}

static uint32_t bucket_of(const struct ksm *ksm, uint64_t hash, uint32_t memcg_id)
{
    return (uint32_t)((hash ^ (uint64_t)memcg_id * 0x9e3779b97f4a7c15ull) >> 17) &
           ksm->hash_mask;
}

static uint32_t swap_bucket_of(const struct ksm *ksm, pte_t entry)
{
    return (uint32_t)((entry * 0x9e3779b97f4a7c15ull) >> 33) & ksm->hash_mask;
}

/* ---- tables ----------------------------------------------------------- */

/* Allocated at the first MADV_MERGEABLE, kept until mm_destroy. */
static int ksm_init_tables(struct mm *mm)
{
    struct ksm *ksm = &mm->ksm;
    uint64_t buckets = 16;
    int err;

    if (ksm->ready)
        return 0;
    while (buckets < mm->nr_pages / 4 && buckets < (1u << 24))
        buckets <<= 1;
    err = slab_cache_create(mm, "ksm_stable_node", sizeof(struct ksm_stable_node),
                            0, &ksm->node_cache);
    if (err)
        return err;
    err = slab_cache_create(mm, "ksm_rmap_item", sizeof(struct ksm_rmap_item), 0,
                            &ksm->item_cache);
    if (err)
        goto err_destroy_nodes;
    err = -ENOMEM;
    ksm->node_of = mm_kvzalloc(mm, mm->nr_pages * sizeof(*ksm->node_of));
    if (!ksm->node_of)
        goto err_destroy_items;
    ksm->checksum = mm_kvzalloc(mm, mm->nr_pages * sizeof(*ksm->checksum));
    if (!ksm->checksum)
        goto err_free_node_of;
    ksm->stable = mm_kvzalloc(mm, buckets * sizeof(*ksm->stable));
    if (!ksm->stable)
        goto err_free_checksum;
    ksm->swapped = mm_kvzalloc(mm, buckets * sizeof(*ksm->swapped));
    if (!ksm->swapped)
        goto err_free_stable;
    ksm->unstable = mm_kvzalloc(mm, buckets * sizeof(*ksm->unstable));
    if (!ksm->unstable)
        goto err_free_swapped;
    ksm->hash_mask = (uint32_t)(buckets - 1);
    ksm->meta_bytes = mm->nr_pages * (sizeof(*ksm->node_of) + sizeof(*ksm->checksum)) +
                      3 * buckets * sizeof(void *);
    ksm->ready = true;
    return 0;

err_free_swapped:
    mm_kvfree(mm, ksm->swapped);
err_free_stable:
    mm_kvfree(mm, ksm->stable);
err_free_checksum:
    mm_kvfree(mm, ksm->checksum);
err_free_node_of:
    mm_kvfree(mm, ksm->node_of);
err_destroy_items:
    slab_cache_destroy(ksm->item_cache);
err_destroy_nodes:
    slab_cache_destroy(ksm->node_cache);
    memset(ksm, 0, sizeof(*ksm));
    return err;
}

static void unstable_clear(struct mm *mm)
{
    struct ksm *ksm = &mm->ksm;

    if (!ksm->nr_items)
        return;
    for (uint32_t b = 0; b <= ksm->hash_mask; b++) {
        while (ksm->unstable[b]) {
            struct ksm_rmap_item *item = ksm->unstable[b];

            ksm->unstable[b] = item->next;
            slab_free(ksm->item_cache, item);
        }
    }
    ksm->meta_bytes -= ksm->nr_items * sizeof(struct ksm_rmap_item);
    ksm->nr_items = 0;
}

void ksm_fini(struct mm *mm)
{
    struct ksm *ksm = &mm->ksm;

    if (!ksm->ready)
        return;
    unstable_clear(mm);
    if (ksm->nr_nodes || ksm->nr_swap_nodes)
        mm_log(MM_LOG_ERR, "ksm: destroyed with %llu KSM pages and %llu in swap",
               (unsigned long long)ksm->nr_nodes,
               (unsigned long long)ksm->nr_swap_nodes);
    mm_kvfree(mm, ksm->unstable);
    mm_kvfree(mm, ksm->swapped);
    mm_kvfree(mm, ksm->stable);
    mm_kvfree(mm, ksm->checksum);
    mm_kvfree(mm, ksm->node_of);
    slab_cache_destroy(ksm->item_cache);
    slab_cache_destroy(ksm->node_cache);
    memset(ksm, 0, sizeof(*ksm));
}

static void chain_del(struct ksm_stable_node **head, struct ksm_stable_node *node)
{
    for (struct ksm_stable_node **p = head; *p; p = &(*p)->next) {
        if (*p == node) {
            *p = node->next;
            node->next = NULL;
            return;
        }
    }
}

static struct ksm_stable_node *swap_node(const struct mm *mm, pte_t entry)
{
    const struct ksm *ksm = &mm->ksm;

    if (!ksm->ready || !ksm->nr_swap_nodes || !pte_is_swap(entry))
        return NULL;
    for (struct ksm_stable_node *n = ksm->swapped[swap_bucket_of(ksm, entry)]; n;
         n = n->next)
        if (n->entry == entry)
            return n;
    return NULL;
}

static struct ksm_stable_node *page_node(const struct mm *mm, const struct page *page)
{
    if (!mm->ksm.ready || !page_test(page, PG_ksm))
        return NULL;
    return mm->ksm.node_of[page_to_pfn(mm, page)];
}

/* ---- mapper lists ----------------------------------------------------- */

static size_t mappers_bytes(uint32_t n)
{
    return kmalloc_size_roundup(n * sizeof(struct ksm_mapper));
}

/* Room for one more mapper; -ENOMEM leaves the list as it was. */
static int node_reserve_mapper(struct mm *mm, struct ksm_stable_node *node)
{
    struct ksm_mapper *m;
    uint32_t cap;

    if (node->nr_mappers < node->max_mappers)
        return 0;
    if (node->nr_mappers >= KSM_MAX_MAPPERS)
        return -EMLINK;
    cap = node->max_mappers ? node->max_mappers * 2 : KSM_MIN_MAPPERS;
    if (cap > KSM_MAX_MAPPERS)
        cap = KSM_MAX_MAPPERS;
    m = mm_kvmalloc(mm, cap * sizeof(*m));
    if (!m)
        return -ENOMEM;
    if (node->nr_mappers)
        memcpy(m, node->mappers, node->nr_mappers * sizeof(*m));
    mm->ksm.meta_bytes += mappers_bytes(cap) -
                          (node->max_mappers ? mappers_bytes(node->max_mappers) : 0);
    mm_kvfree(mm, node->mappers);
    node->mappers = m;
    node->max_mappers = cap;
    return 0;
}

static void node_add_mapper(struct ksm_stable_node *node, uint32_t seg_id,
                            uint64_t index)
{
    node->mappers[node->nr_mappers].seg_id = seg_id;
    node->mappers[node->nr_mappers].index = index;
    node->nr_mappers++;
}

static int node_find_mapper(const struct ksm_stable_node *node, uint32_t seg_id,
                            uint64_t index)
{
    for (uint32_t i = 0; i < node->nr_mappers; i++)
        if (node->mappers[i].seg_id == seg_id && node->mappers[i].index == index)
            return (int)i;
    return -1;
}

static void node_del_mapper(struct ksm_stable_node *node, int i)
{
    node->mappers[i] = node->mappers[--node->nr_mappers];
}

static void node_free(struct mm *mm, struct ksm_stable_node *node)
{
    mm->ksm.meta_bytes -= sizeof(*node) +
                          (node->max_mappers ? mappers_bytes(node->max_mappers) : 0);
    mm_kvfree(mm, node->mappers);
    slab_free(mm->ksm.node_cache, node);
}

static struct segment *mapper_segment(const struct mm *mm,
                                      const struct ksm_mapper *m, pte_t **ptep)
{
    struct segment *seg = idr_find(&mm->segments, m->seg_id);

    *ptep = seg && m->index < seg->npages ? pgtable_lookup(&seg->pt, m->index) : NULL;
    return *ptep ? seg : NULL;
}

/* ---- a KSM page or slot with one mapper left goes back to it --------- */

static void dissolve_resident(struct mm *mm, struct ksm_stable_node *node)
{
    struct ksm *ksm = &mm->ksm;
    struct page *page = pfn_to_page(mm, node->pfn);
    struct segment *seg;
    pte_t *pte;

    seg = mapper_segment(mm, &node->mappers[0], &pte);
    if (seg && pte_present(*pte) && pte_pfn(*pte) == node->pfn) {
        *pte &= ~PTE_COW;
        rmap_make_exclusive(seg);
        page_set_rmap(page, seg->id, node->mappers[0].index);
        seg->memcg->ksm_merging--;
    } else {
        dump_page(mm, node->pfn, "ksm: the last mapper of a KSM page does not map it");
    }
    page_clear(page, PG_ksm);
    ksm->node_of[node->pfn] = NULL;
    chain_del(&ksm->stable[bucket_of(ksm, node->hash, node->memcg_id)], node);
    ksm->nr_nodes--;
    ksm->nr_mappers--;
    node_free(mm, node);
}

static void dissolve_swapped(struct mm *mm, struct ksm_stable_node *node)
{
    struct ksm *ksm = &mm->ksm;
    struct segment *seg;
    pte_t *pte;

    seg = mapper_segment(mm, &node->mappers[0], &pte);
    if (seg && *pte == node->entry) {
        rmap_make_exclusive(seg);
        swap_set_owner(mm, node->entry, seg->id, node->mappers[0].index);
    } else {
        mm_log(MM_LOG_ERR, "ksm: the last mapper of swap entry %llx does not "
               "name it", (unsigned long long)node->entry);
    }
    chain_del(&ksm->swapped[swap_bucket_of(ksm, node->entry)], node);
    ksm->nr_swap_nodes--;
    node_free(mm, node);
}

int ksm_drop_page(struct segment *seg, uint64_t index, struct page *page)
{
    struct mm *mm = seg->mm;
    struct ksm_stable_node *node = page_node(mm, page);
    int i = node ? node_find_mapper(node, seg->id, index) : -1;

    if (i < 0 || page->refcount < 2) {
        dump_page(mm, page_to_pfn(mm, page), "ksm: dropping a mapper the "
                  "stable node does not list");
        return -EUCLEAN;
    }
    node_del_mapper(node, i);
    page->refcount--;
    seg->shared--;
    seg->memcg->ksm_merging--;
    mm->ksm.nr_mappers--;
    if (page->seg_id == seg->id && page_index(page) == index)
        page_set_rmap(page, node->mappers[0].seg_id, node->mappers[0].index);
    if (page->refcount == 1)
        dissolve_resident(mm, node);
    return 0;
}

int ksm_drop_swap(struct segment *seg, uint64_t index, pte_t entry)
{
    struct mm *mm = seg->mm;
    struct ksm_stable_node *node = swap_node(mm, entry);
    int i = node ? node_find_mapper(node, seg->id, index) : -1;

    if (i < 0 || swap_entry_count(mm, entry) < 2) {
        mm_log(MM_LOG_ERR, "ksm: segment %u index %llu: dropping swap entry "
               "%llx its stable node does not list", seg->id,
               (unsigned long long)index, (unsigned long long)entry);
        return -EUCLEAN;
    }
    node_del_mapper(node, i);
    swap_free_entry(mm, entry);
    seg->shared--;
    if (swap_entry_owner(mm, entry) == seg->id)
        swap_set_owner(mm, entry, node->mappers[0].seg_id, node->mappers[0].index);
    if (node->nr_mappers == 1)
        dissolve_swapped(mm, node);
    return 0;
}

unsigned ksm_swap_mappers(const struct mm *mm, pte_t entry)
{
    const struct ksm_stable_node *node = swap_node(mm, entry);

    return node ? node->nr_mappers : 0;
}

bool ksm_swap_maps(const struct mm *mm, pte_t entry, uint32_t seg_id,
                   uint64_t index)
{
    const struct ksm_stable_node *node = swap_node(mm, entry);

    return node && node_find_mapper(node, seg_id, index) >= 0;
}

unsigned ksm_rmap_walk(struct mm *mm, struct page *page, rmap_one_fn fn,
                       void *arg)
{
    struct ksm_stable_node *node = page_node(mm, page);
    pfn_t pfn = page_to_pfn(mm, page);
    unsigned n = 0;

    for (uint32_t i = 0; node && i < node->nr_mappers; i++) {
        struct segment *seg;
        pte_t *pte;

        seg = mapper_segment(mm, &node->mappers[i], &pte);
        if (!seg || !pte_present(*pte) || pte_pfn(*pte) != pfn)
            continue;
        if (fn)
            fn(seg, pte, arg);
        n++;
    }
    return n;
}

void ksm_page_swapped(struct mm *mm, struct page *page, pte_t entry)
{
    struct ksm *ksm = &mm->ksm;
    struct ksm_stable_node *node = page_node(mm, page);

    if (!node)
        return;
    ksm->node_of[node->pfn] = NULL;
    chain_del(&ksm->stable[bucket_of(ksm, node->hash, node->memcg_id)], node);
    for (uint32_t i = 0; i < node->nr_mappers; i++) {
        struct segment *seg = idr_find(&mm->segments, node->mappers[i].seg_id);

        if (seg)
            seg->memcg->ksm_merging--;
    }
    ksm->nr_nodes--;
    ksm->nr_mappers -= node->nr_mappers;
    ksm->nr_swap_nodes++;
    ksm->info.pages_swapped++;
    ksm->info.reclaim_unmapped += node->nr_mappers;
    node->pfn = PFN_NONE;
    node->entry = entry;
    node->next = ksm->swapped[swap_bucket_of(ksm, entry)];
    ksm->swapped[swap_bucket_of(ksm, entry)] = node;
    page_clear(page, PG_ksm);
}

int ksm_clone_page(struct segment *clone, uint64_t index, struct page *page)
{
    struct mm *mm = clone->mm;
    struct ksm_stable_node *node = page_node(mm, page);
    int err;

    if (!node)
        return -EUCLEAN;
    err = node_reserve_mapper(mm, node);
    if (err)
        return err;
    node_add_mapper(node, clone->id, index);
    clone->memcg->ksm_merging++;
    mm->ksm.nr_mappers++;
    return 0;
}

int ksm_clone_swap(struct segment *clone, uint64_t index, pte_t entry)
{
    struct ksm_stable_node *node = swap_node(clone->mm, entry);
    int err;

    if (!node)
        return -EUCLEAN;
    err = node_reserve_mapper(clone->mm, node);
    if (err)
        return err;
    node_add_mapper(node, clone->id, index);
    return 0;
}

static void drop_clone_mapper(struct ksm_stable_node *node, uint32_t seg_id,
                              uint64_t index)
{
    int i = node ? node_find_mapper(node, seg_id, index) : -1;

    if (i >= 0)
        node_del_mapper(node, i);
}

void ksm_drop_clone_mapper(struct segment *clone, uint64_t index,
                           struct page *page)
{
    drop_clone_mapper(page_node(clone->mm, page), clone->id, index);
    clone->memcg->ksm_merging--;
    clone->mm->ksm.nr_mappers--;
}

void ksm_drop_clone_swap(struct segment *clone, uint64_t index, pte_t entry)
{
    drop_clone_mapper(swap_node(clone->mm, entry), clone->id, index);
}

void ksm_forget_page(struct mm *mm, pfn_t pfn)
{
    if (mm->ksm.ready)
        mm->ksm.checksum[pfn] = 0;
}

/* ---- merging ---------------------------------------------------------- */

/* A page KSM may merge: an ordinary page of one mapper, not under I/O. */
static bool page_mergeable(const struct page *page)
{
    return page->state == PAGE_DATA && page->refcount == 1 &&
           !page_test(page, PG_ksm | PG_writeback | PG_locked);
}

static struct ksm_stable_node *stable_find(struct mm *mm, uint64_t hash,
                                           uint32_t memcg_id, const void *addr)
{
    struct ksm *ksm = &mm->ksm;

    for (struct ksm_stable_node *n = ksm->stable[bucket_of(ksm, hash, memcg_id)];
         n; n = n->next) {
        if (n->hash != hash || n->memcg_id != memcg_id ||
            n->nr_mappers >= KSM_MAX_PAGE_SHARING)
            continue;
        if (memcmp(page_address(mm, n->pfn), addr, MM_PAGE_SIZE) == 0)
            return n;
    }
    return NULL;
}

/* A candidate of this pass identical to the page at pfn, still what it
 * was when hashed (same mapping, eligible, same contents); unlinked from
 * the table and returned, or NULL. */
static struct ksm_rmap_item *unstable_take(struct mm *mm, uint64_t hash,
                                           uint32_t memcg_id, pfn_t pfn)
{
    struct ksm *ksm = &mm->ksm;
    struct ksm_rmap_item **p = &ksm->unstable[bucket_of(ksm, hash, memcg_id)];

    for (; *p; p = &(*p)->next) {
        struct ksm_rmap_item *item = *p;
        const struct page *page = pfn_to_page(mm, item->pfn);

        if (item->hash != hash || item->memcg_id != memcg_id || item->pfn == pfn ||
            !page_mergeable(page) || page->seg_id != item->seg_id ||
            page_index(page) != item->index || page->memcg_id != memcg_id ||
            memcmp(page_address(mm, item->pfn), page_address(mm, pfn),
                   MM_PAGE_SIZE) != 0)
            continue;
        *p = item->next;
        ksm->nr_items--;
        ksm->pass_unshared--;
        return item;
    }
    return NULL;
}

static void unstable_free(struct mm *mm, struct ksm_rmap_item *item)
{
    mm->ksm.meta_bytes -= sizeof(*item);
    slab_free(mm->ksm.item_cache, item);
}

static int unstable_insert(struct mm *mm, struct segment *seg, uint64_t index,
                           pfn_t pfn, uint64_t hash)
{
    struct ksm *ksm = &mm->ksm;
    struct ksm_rmap_item *item = slab_alloc(ksm->item_cache);
    uint32_t b;

    if (!item)
        return -ENOMEM;
    item->hash = hash;
    item->index = index;
    item->seg_id = seg->id;
    item->memcg_id = seg->memcg->id;
    item->pfn = pfn;
    b = bucket_of(ksm, hash, item->memcg_id);
    item->next = ksm->unstable[b];
    ksm->unstable[b] = item;
    ksm->nr_items++;
    ksm->pass_unshared++;
    ksm->meta_bytes += sizeof(*item);
    return 0;
}

/* The page the candidate names becomes a KSM page with it as its one
 * mapper.  Its segment now shares the entry: a reserving one keeps a
 * page of reservation for breaking the share (segment.c's identity),
 * which may fail at the memsw limit. */
static int stable_node_create(struct mm *mm, const struct ksm_rmap_item *item,
                              struct ksm_stable_node **out)
{
    struct ksm *ksm = &mm->ksm;
    struct segment *seg = idr_find(&mm->segments, item->seg_id);
    pte_t *pte = seg ? pgtable_lookup(&seg->pt, item->index) : NULL;
    struct ksm_stable_node *node;
    uint32_t b;
    int err;

    if (!pte || !pte_present(*pte) || pte_pfn(*pte) != item->pfn || seg->dead)
        return -ESTALE;
    node = slab_zalloc(ksm->node_cache);
    if (!node)
        return -ENOMEM;
    ksm->meta_bytes += sizeof(*node);
    err = node_reserve_mapper(mm, node);
    if (err)
        goto err_free_node;
    if (seg->reserving) {
        err = memcg_reserve(seg->memcg, 1);
        if (err)
            goto err_free_node;
        seg->reserved++;
    }
    /* Its mappers share it by the node from now on: its slot, one
     * user's, would not follow them. */
    if (page_test(pfn_to_page(mm, item->pfn), PG_swapcache))
        swapcache_free(mm, pfn_to_page(mm, item->pfn));
    node->hash = item->hash;
    node->memcg_id = item->memcg_id;
    node->pfn = item->pfn;
    node_add_mapper(node, seg->id, item->index);
    b = bucket_of(ksm, node->hash, node->memcg_id);
    node->next = ksm->stable[b];
    ksm->stable[b] = node;
    ksm->node_of[node->pfn] = node;
    page_set(pfn_to_page(mm, node->pfn), PG_ksm);
    *pte |= PTE_COW;
    seg->shared++;
    seg->memcg->ksm_merging++;
    ksm->nr_nodes++;
    ksm->nr_mappers++;
    *out = node;
    return 0;

err_free_node:
    node_free(mm, node);
    return err;
}

/* Linux's try_to_merge_one_page: (seg, index) maps the eligible page
 * *pte names, identical to node's; it is freed (uncharged - to the
 * reservation of a reserving segment, which keeps it for breaking the
 * share) and the PTE names the KSM page, write-protected. */
static int merge_into_node(struct segment *seg, uint64_t index, pte_t *pte,
                           struct ksm_stable_node *node)
{
    struct mm *mm = seg->mm;
    struct page *kpage = pfn_to_page(mm, node->pfn);
    pte_t bits = *pte & (PTE_ACCESSED | PTE_DIRTY);
    int err;

    err = node_reserve_mapper(mm, node);
    if (err)
        return err;
    err = segment_zap_pte(seg, index, pte);
    if (err)
        return err;
    *pte = pfn_pte(node->pfn, PTE_COW | bits);
    seg->resident++;
    seg->shared++;
    kpage->refcount++;
    node_add_mapper(node, seg->id, index);
    seg->memcg->ksm_merging++;
    mm->ksm.nr_mappers++;
    return 0;
}

/* The node just made for a candidate has one mapper: if the merge that
 * was to follow failed, its page goes back to being ordinary. */
static void stable_node_undo(struct mm *mm, struct ksm_stable_node *node)
{
    struct page *page = pfn_to_page(mm, node->pfn);

    if (node->nr_mappers == 1 && page->refcount == 1)
        dissolve_resident(mm, node);
}

/* One present page of a mergeable segment; 0, or -ENOMEM to end the step. */
static int cmp_and_merge_page(struct segment *seg, uint64_t index, pte_t *pte)
{
    struct mm *mm = seg->mm;
    struct ksm *ksm = &mm->ksm;
    pfn_t pfn = pte_pfn(*pte);
    struct page *page = pfn_to_page(mm, pfn);
    struct ksm_stable_node *node;
    struct ksm_rmap_item *item;
    const void *addr = page_address(mm, pfn);
    uint64_t hash;
    uint32_t sum, old;
    int err;

    ksm->info.pages_scanned++;
    if (page_test(page, PG_ksm))
        return 0;
    if (!page_mergeable(page)) {
        ksm->info.pages_skipped++;
        return 0;
    }
    hash = hash_page(addr);
    node = stable_find(mm, hash, page->memcg_id, addr);
    if (node) {
        err = merge_into_node(seg, index, pte, node);
        return err == -ENOMEM ? err : 0;
    }
    sum = checksum_of(hash);
    old = ksm->checksum[pfn];
    ksm->checksum[pfn] = sum;
    if (old != sum) {
        ksm->pass_volatile += old != 0;
        return 0;
    }
    item = unstable_take(mm, hash, page->memcg_id, pfn);
    if (!item)
        return unstable_insert(mm, seg, index, pfn, hash);
    err = stable_node_create(mm, item, &node);
    unstable_free(mm, item);
    if (err == -ENOMEM)
        return err;
    if (err) {
        /* Its memcg has no memsw left for the reservation, or the
         * candidate went stale: this page waits for the next pass. */
        return unstable_insert(mm, seg, index, pfn, hash);
    }
    err = merge_into_node(seg, index, pte, node);
    if (err)
        stable_node_undo(mm, node);
    return err == -ENOMEM ? err : 0;
}

/* ---- the scan --------------------------------------------------------- */

struct scan_walk {
    uint64_t indices[KSM_SCAN_BATCH];
    unsigned nr, want;
};

static int collect_present(void *arg, uint64_t index, pte_t *pte)
{
    struct scan_walk *w = arg;

    if (!pte_present(*pte))
        return 0;
    w->indices[w->nr++] = index;
    return w->nr == w->want ? 1 : 0;
}

static struct segment *next_mergeable(struct mm *mm, uint32_t from)
{
    for (uint32_t id = idr_next(&mm->segments, from); id;
         id = idr_next(&mm->segments, id + 1)) {
        struct segment *seg = idr_find(&mm->segments, id);

        if (seg->mergeable && !seg->dead)
            return seg;
    }
    return NULL;
}

/* The cursor passed the last mergeable segment: a full scan is done. */
static void end_pass(struct mm *mm)
{
    struct ksm *ksm = &mm->ksm;

    ksm->info.full_scans++;
    ksm->info.pages_unshared = ksm->pass_unshared;
    ksm->info.pages_volatile = ksm->pass_volatile;
    ksm->pass_unshared = ksm->pass_volatile = 0;
    unstable_clear(mm);
    ksm->scan_seg = 0;
    ksm->scan_index = 0;
    ksm->pass_started = false;
}

uint64_t mm_ksm_scan(struct mm *mm, unsigned pages)
{
    struct ksm *ksm;
    uint64_t scanned = 0;

    if (!mm || !mm->ksm.ready || pages == 0)
        return 0;
    ksm = &mm->ksm;
    while (scanned < pages) {
        struct segment *seg = next_mergeable(mm, ksm->scan_seg ? ksm->scan_seg : 1);
        struct scan_walk w = { .nr = 0 };

        if (!seg) {
            /* A step ends with the full scan it completes, so that a
             * step never spans two passes (and over empty segments it
             * ends at all). */
            if (ksm->pass_started)
                end_pass(mm);
            break;
        }
        if (seg->id != ksm->scan_seg) {
            ksm->scan_seg = seg->id;
            ksm->scan_index = 0;
        }
        ksm->pass_started = true;
        w.want = pages - scanned < KSM_SCAN_BATCH ?
                 (unsigned)(pages - scanned) : KSM_SCAN_BATCH;
        pgtable_for_each_pte_from(&seg->pt, ksm->scan_index, collect_present, &w);
        for (unsigned i = 0; i < w.nr; i++) {
            pte_t *pte = pgtable_lookup(&seg->pt, w.indices[i]);

            ksm->scan_index = w.indices[i];
            if (!pte || !pte_present(*pte))
                continue;
            scanned++;
            if (cmp_and_merge_page(seg, w.indices[i], pte))
                return scanned;         /* -ENOMEM: this page again next step */
            ksm->scan_index = w.indices[i] + 1;
        }
        if (w.nr < w.want) {            /* the segment is done */
            ksm->scan_seg = seg->id + 1;
            ksm->scan_index = 0;
        }
    }
    return scanned;
}

/* ---- unmerging -------------------------------------------------------- */

/* Linux's break_ksm: (seg, index) gets a private copy of the KSM page
 * or KSM slot it maps, charged as a new page. */
static int unmerge_one(struct segment *seg, uint64_t index)
{
    struct mm *mm = seg->mm;
    pte_t *pte = pgtable_lookup(&seg->pt, index);
    pfn_t pfn;
    int err;

    if (!pte)
        return 0;
    if (pte_is_swap(*pte))
        return swap_node(mm, *pte) ? swap_do_page(seg, index, pte) : 0;
    if (!pte_present(*pte) || !page_test(pfn_to_page(mm, pte_pfn(*pte)), PG_ksm))
        return 0;
    err = segment_get_page(seg, index, ALLOC_DATA, CHARGE_NEW, &pfn);
    if (err)
        return err;
    /* Allocating may have reclaimed or dissolved it: look again. */
    pte = pgtable_lookup(&seg->pt, index);
    if (!pte || !pte_present(*pte) ||
        !page_test(pfn_to_page(mm, pte_pfn(*pte)), PG_ksm)) {
        segment_unget_page(seg, pfn, CHARGE_NEW);
        return pte && pte_is_swap(*pte) && swap_node(mm, *pte) ?
               swap_do_page(seg, index, pte) : 0;
    }
    memcpy(page_address(mm, pfn), page_address(mm, pte_pfn(*pte)), MM_PAGE_SIZE);
    err = segment_replace_pte(seg, index, pte, pfn);
    if (err)
        segment_unget_page(seg, pfn, CHARGE_NEW);
    return err;
}

struct ksm_collect {
    struct scan_walk w;
    const struct mm *mm;
};

/* Indices of the segment mapping a KSM page or a KSM slot. */
static int collect_merged(void *arg, uint64_t index, pte_t *pte)
{
    struct ksm_collect *c = arg;

    if (pte_present(*pte) ? !page_test(pfn_to_page(c->mm, pte_pfn(*pte)), PG_ksm) :
                            !swap_node(c->mm, *pte))
        return 0;
    c->w.indices[c->w.nr++] = index;
    return c->w.nr == KSM_SCAN_BATCH ? 1 : 0;
}

static int unmerge_segment(struct segment *seg)
{
    uint64_t from = 0;

    if (seg->dead || !seg->mm->ksm.ready)
        return 0;
    for (;;) {
        struct ksm_collect c = { .mm = seg->mm };
        int err;

        pgtable_for_each_pte_from(&seg->pt, from, collect_merged, &c);
        for (unsigned i = 0; i < c.w.nr; i++) {
            err = unmerge_one(seg, c.w.indices[i]);
            if (err)
                return err;
            if (seg->dead)
                return -EOWNERDEAD;
        }
        if (c.w.nr < KSM_SCAN_BATCH)
            return 0;
        from = c.w.indices[c.w.nr - 1] + 1;
    }
}

int mm_ksm_madvise(struct segment *seg, bool mergeable)
{
    int err;

    if (!seg)
        return -EINVAL;
    if (mergeable) {
        if (seg->dead)
            return -EOWNERDEAD;
        err = ksm_init_tables(seg->mm);
        if (err)
            return err;
        if (!seg->mergeable)
            seg->mm->ksm.nr_mergeable++;
        seg->mergeable = true;
        return 0;
    }
    /* As Linux: a failed unmerge leaves the segment mergeable. */
    err = unmerge_segment(seg);
    if (err)
        return err;
    if (seg->mergeable)
        seg->mm->ksm.nr_mergeable--;
    seg->mergeable = false;
    return 0;
}

bool segment_is_mergeable(const struct segment *seg)
{
    return seg->mergeable;
}

/* A segment going away stops counting as mergeable (segment_destroy). */
void ksm_segment_gone(struct segment *seg)
{
    if (seg->mergeable)
        seg->mm->ksm.nr_mergeable--;
    seg->mergeable = false;
}

int mm_ksm_unmerge_all(struct mm *mm)
{
    int first_err = 0;

    if (!mm)
        return -EINVAL;
    for (uint32_t id = idr_next(&mm->segments, 0); id;
         id = idr_next(&mm->segments, id + 1)) {
        int err = unmerge_segment(idr_find(&mm->segments, id));

        if (err && err != -EOWNERDEAD && !first_err)
            first_err = err;
    }
    return first_err;
}

void mm_ksm_info(const struct mm *mm, struct mm_ksm_info *ki)
{
    const struct ksm *ksm = &mm->ksm;

    *ki = ksm->info;
    ki->pages_shared = ksm->nr_nodes;
    ki->pages_sharing = ksm->nr_mappers - ksm->nr_nodes;
    ki->general_profit = (int64_t)(ki->pages_sharing * MM_PAGE_SIZE) -
                         (int64_t)ksm->meta_bytes;
    ki->max_page_sharing = KSM_MAX_PAGE_SHARING;
    ki->mergeable_segments = ksm->nr_mergeable;
}

uint64_t memcg_ksm_merging_pages(const struct memcg *cg)
{
    return cg->ksm_merging;
}

/* ---- invariants ------------------------------------------------------- */

/* For rmap_check_page: a PG_ksm page is its node's, which lists every
 * PTE naming it (ksm_check walks those). */
int ksm_check_page(const struct mm *mm, pfn_t pfn)
{
    const struct page *page = pfn_to_page(mm, pfn);
    const struct ksm_stable_node *node = page_node(mm, page);

    CHECK(node && node->pfn == pfn, "ksm: PG_ksm page %u has no stable node",
          (unsigned)pfn);
    CHECK(page->refcount >= 2 && (uint32_t)page->refcount == node->nr_mappers,
          "ksm: page %u: refcount %d, %u mappers", (unsigned)pfn, page->refcount,
          node->nr_mappers);
    CHECK(node_find_mapper(node, page->seg_id, page_index(page)) >= 0,
          "ksm: page %u: rmap (%u, %llu) is not one of its mappers", (unsigned)pfn,
          page->seg_id, (unsigned long long)page_index(page));
    return 0;
}

static int check_mappers(const struct mm *mm, const struct ksm_stable_node *node)
{
    for (uint32_t i = 0; i < node->nr_mappers; i++) {
        const struct ksm_mapper *m = &node->mappers[i];
        struct segment *seg;
        pte_t *pte;

        seg = mapper_segment(mm, m, &pte);
        CHECK(seg && seg->memcg->id == node->memcg_id,
              "ksm: node of pfn %u entry %llx: mapper (%u, %llu) names no "
              "segment of memcg %u", (unsigned)node->pfn,
              (unsigned long long)node->entry, m->seg_id,
              (unsigned long long)m->index, node->memcg_id);
        if (node->pfn != PFN_NONE) {
            CHECK(pte_present(*pte) && pte_pfn(*pte) == node->pfn &&
                  (*pte & PTE_COW), "ksm: mapper (%u, %llu) of KSM page %u maps "
                  "pte %llx", m->seg_id, (unsigned long long)m->index,
                  (unsigned)node->pfn, (unsigned long long)*pte);
        } else {
            CHECK(*pte == node->entry, "ksm: mapper (%u, %llu) of swap entry "
                  "%llx names %llx", m->seg_id, (unsigned long long)m->index,
                  (unsigned long long)node->entry, (unsigned long long)*pte);
        }
    }
    return 0;
}

static int check_resident_node(const struct mm *mm,
                               const struct ksm_stable_node *node, uint32_t b)
{
    const struct ksm *ksm = &mm->ksm;
    const struct page *page;

    CHECK(pfn_valid(mm, node->pfn), "ksm: stable node with pfn %u",
          (unsigned)node->pfn);
    page = pfn_to_page(mm, node->pfn);
    CHECK(page->state == PAGE_DATA && page_test(page, PG_ksm) &&
          ksm->node_of[node->pfn] == node && page->memcg_id == node->memcg_id,
          "ksm: stable node of page %u: state %s, PG_ksm %d, node_of %s, memcg "
          "%u/%u", (unsigned)node->pfn, page_state_name(page->state),
          page_test(page, PG_ksm), ksm->node_of[node->pfn] == node ? "ok" : "other",
          page->memcg_id, node->memcg_id);
    CHECK(bucket_of(ksm, node->hash, node->memcg_id) == b &&
          hash_page(page_address(mm, node->pfn)) == node->hash,
          "ksm: KSM page %u changed, or is in the wrong bucket", (unsigned)node->pfn);
    CHECK(node->nr_mappers >= 2 && node->nr_mappers <= node->max_mappers,
          "ksm: KSM page %u with %u mappers (room for %u)", (unsigned)node->pfn,
          node->nr_mappers, node->max_mappers);
    return ksm_check_page(mm, node->pfn);
}

static int check_swapped_node(const struct mm *mm,
                              const struct ksm_stable_node *node, uint32_t b)
{
    uint32_t owner = swap_entry_owner(mm, node->entry);

    CHECK(swap_bucket_of(&mm->ksm, node->entry) == b && pte_is_swap(node->entry),
          "ksm: swapped node %llx in the wrong bucket",
          (unsigned long long)node->entry);
    CHECK(node->nr_mappers >= 2 &&
          swap_entry_count(mm, node->entry) == node->nr_mappers,
          "ksm: swap entry %llx: count %u, %u mappers",
          (unsigned long long)node->entry, swap_entry_count(mm, node->entry),
          node->nr_mappers);
    for (uint32_t i = 0; i < node->nr_mappers; i++)
        if (node->mappers[i].seg_id == owner)
            return 0;
    mm_log(MM_LOG_ERR, "ksm: swap entry %llx: owner %u is no mapper",
           (unsigned long long)node->entry, owner);
    return -EUCLEAN;
}

int ksm_check(const struct mm *mm)
{
    const struct ksm *ksm = &mm->ksm;
    uint64_t nodes = 0, mappers = 0, swap_nodes = 0, items = 0, mergeable = 0;
    int err;

    for (uint32_t id = idr_next(&mm->segments, 0); id;
         id = idr_next(&mm->segments, id + 1))
        mergeable += ((const struct segment *)idr_find(&mm->segments, id))->mergeable;
    CHECK(mergeable == ksm->nr_mergeable, "ksm: %llu mergeable segments, "
          "nr_mergeable %llu", (unsigned long long)mergeable,
          (unsigned long long)ksm->nr_mergeable);
    if (!ksm->ready) {
        for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++)
            CHECK(!page_test(pfn_to_page(mm, pfn), PG_ksm),
                  "ksm: page %u is PG_ksm with KSM never used", (unsigned)pfn);
        return 0;
    }
    for (uint32_t b = 0; b <= ksm->hash_mask; b++) {
        for (const struct ksm_stable_node *n = ksm->stable[b]; n; n = n->next) {
            err = check_resident_node(mm, n, b);
            if (!err)
                err = check_mappers(mm, n);
            if (err)
                return err;
            nodes++;
            mappers += n->nr_mappers;
        }
        for (const struct ksm_stable_node *n = ksm->swapped[b]; n; n = n->next) {
            err = check_swapped_node(mm, n, b);
            if (!err)
                err = check_mappers(mm, n);
            if (err)
                return err;
            swap_nodes++;
        }
        for (const struct ksm_rmap_item *it = ksm->unstable[b]; it; it = it->next)
            items++;
    }
    for (pfn_t pfn = 0; pfn < mm->nr_pages; pfn++) {
        const struct page *page = pfn_to_page(mm, pfn);

        CHECK(page_test(page, PG_ksm) == (ksm->node_of[pfn] != NULL),
              "ksm: page %u: PG_ksm %d but stable node %p", (unsigned)pfn,
              page_test(page, PG_ksm), (void *)ksm->node_of[pfn]);
    }
    CHECK(nodes == ksm->nr_nodes && mappers == ksm->nr_mappers &&
          swap_nodes == ksm->nr_swap_nodes && items == ksm->nr_items,
          "ksm: tables hold %llu KSM pages with %llu mappers, %llu in swap, %llu "
          "candidates; counted %llu, %llu, %llu, %llu", (unsigned long long)nodes,
          (unsigned long long)mappers, (unsigned long long)swap_nodes,
          (unsigned long long)items, (unsigned long long)ksm->nr_nodes,
          (unsigned long long)ksm->nr_mappers,
          (unsigned long long)ksm->nr_swap_nodes,
          (unsigned long long)ksm->nr_items);
    for (uint32_t id = idr_next(&mm->memcgs, 0); id;
         id = idr_next(&mm->memcgs, id + 1)) {
        const struct memcg *cg = idr_find(&mm->memcgs, id);
        uint64_t merging = 0;

        for (uint32_t b = 0; b <= ksm->hash_mask; b++)
            for (const struct ksm_stable_node *n = ksm->stable[b]; n; n = n->next)
                merging += n->memcg_id == id ? n->nr_mappers : 0;
        CHECK(cg->ksm_merging == merging, "ksm: memcg %s: ksm_merging %llu, "
              "its segments map KSM pages %llu times", cg->name,
              (unsigned long long)cg->ksm_merging, (unsigned long long)merging);
    }
    return 0;
}
