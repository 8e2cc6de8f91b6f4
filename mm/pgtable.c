/* pgtable.c - a segment's 4-level radix page table.
 *
 * Levels 3 (root) to 0 (PTEs) each resolve 9 bits of the page index, so a
 * table is 512 entries of 8 bytes: exactly one pool page, allocated from
 * the buddy allocator (ALLOC_TABLE) and kept in state TABLE with a reverse
 * map to its segment.  Tables exist only where some entry below them is
 * not none: each table page counts its used entries (page->nr_used) and is
 * freed the moment that count drops to zero, so a sparse 2^36-page segment
 * costs tables only around the pages it holds, and discarding or
 * destroying walks only the populated subtrees.
 *
 * Callers may change an entry that is not none in place (through
 * pgtable_lookup or pgtable_for_each_pte), as long as it stays not none;
 * making an entry none or filling a none one goes through
 * pgtable_clear_range() / pgtable_install(), which keep nr_used. */
#include <errno.h>
#include <string.h>

#include "internal.h"

static inline unsigned level_shift(unsigned level)
{
    return level * PGTABLE_SHIFT;
}

static inline unsigned table_slot(uint64_t index, unsigned level)
{
    return (unsigned)(index >> level_shift(level)) & (PTRS_PER_TABLE - 1);
}

static pte_t *table_entries(const struct pgtable *pt, pfn_t table)
{
    return page_address(pt->mm, table);
}

static struct page *table_page(const struct pgtable *pt, pfn_t table)
{
    return pfn_to_page(pt->mm, table);
}

void pgtable_init(struct pgtable *pt, struct mm *mm, uint32_t seg_id)
{
    pt->mm = mm;
    pt->seg_id = seg_id;
    pt->root = PFN_NONE;
    pt->nr_tables = 0;
}

/* A zeroed table covering the indices from base at this level. */
static int table_alloc(struct pgtable *pt, uint64_t base, pfn_t *out)
{
    struct page *page;
    pfn_t pfn;
    int err;

    err = mm_alloc_pages(pt->mm, 0, ALLOC_TABLE, &pfn);
    if (err)
        return err;
    page = pfn_to_page(pt->mm, pfn);
    err = page_set_state(pt->mm, page, PAGE_TABLE);
    if (err)
        goto err_free_page;
    page_set(page, PG_table);
    page_set_rmap(page, pt->seg_id, base);
    page->nr_used = 0;
    memset(page_address(pt->mm, pfn), 0, MM_PAGE_SIZE);
    pt->nr_tables++;
    *out = pfn;
    return 0;

err_free_page:
    mm_free_pages(pt->mm, pfn, 0);
    return err;
}

static void table_free(struct pgtable *pt, pfn_t table)
{
    struct page *page = table_page(pt, table);

    if (page_set_state(pt->mm, page, PAGE_ALLOCATED))
        return;     /* logged; a page in the wrong state is not ours to free */
    page_clear(page, PG_table);
    page_clear_rmap(page);
    page->nr_used = 0;
    pt->nr_tables--;
    mm_free_pages(pt->mm, table, 0);
}

pte_t *pgtable_lookup(const struct pgtable *pt, uint64_t index)
{
    pfn_t table = pt->root;

    if (index >= SEGMENT_MAX_PAGES || table == PFN_NONE)
        return NULL;
    for (unsigned level = PGTABLE_LEVELS - 1; level > 0; level--) {
        pte_t entry = table_entries(pt, table)[table_slot(index, level)];

        if (!pte_present(entry))
            return NULL;
        table = pte_pfn(entry);
    }
    return &table_entries(pt, table)[table_slot(index, 0)];
}

int pgtable_install(struct pgtable *pt, uint64_t index, pte_t pte)
{
    pfn_t table, child;
    pte_t *slot;
    int err;

    if (index >= SEGMENT_MAX_PAGES || pte_none(pte))
        return -EINVAL;
    if (pt->root == PFN_NONE) {
        err = table_alloc(pt, 0, &pt->root);
        if (err)
            return err;
    }
    table = pt->root;
    for (unsigned level = PGTABLE_LEVELS - 1; level > 0; level--) {
        slot = &table_entries(pt, table)[table_slot(index, level)];
        if (pte_none(*slot)) {
            uint64_t base = index >> level_shift(level) << level_shift(level);

            err = table_alloc(pt, base, &child);
            if (err)
                goto err_trim_tables;
            *slot = pfn_pte(child, 0);
            table_page(pt, table)->nr_used++;
        }
        table = pte_pfn(*slot);
    }
    slot = &table_entries(pt, table)[table_slot(index, 0)];
    if (!pte_none(*slot))
        return -EEXIST;     /* the path existed: nothing to trim */
    *slot = pte;
    table_page(pt, table)->nr_used++;
    return 0;

err_trim_tables:
    /* The tables just added are empty; the clear walk frees exactly those. */
    pgtable_clear_range(pt, index, index, NULL, NULL);
    return err;
}

struct clear_walk {
    struct pgtable *pt;
    uint64_t first, last;
    pte_release_fn release;
    void *arg;
};

/* Drop the entries of table (at level, covering indices from base) that
 * lie in [first, last]; free every child table left empty. */
static int clear_table(struct clear_walk *w, pfn_t table, unsigned level,
                       uint64_t base)
{
    uint64_t span = 1ull << level_shift(level);
    uint64_t lo = w->first > base ? (w->first - base) / span : 0;
    uint64_t hi = (w->last - base) / span;
    pte_t *entries = table_entries(w->pt, table);
    struct page *page = table_page(w->pt, table);
    int err;

    if (hi >= PTRS_PER_TABLE)
        hi = PTRS_PER_TABLE - 1;
    for (uint64_t i = lo; i <= hi; i++) {
        uint64_t index = base + i * span;

        if (pte_none(entries[i]))
            continue;
        if (level == 0) {
            if (w->release) {
                err = w->release(w->arg, index, &entries[i]);
                if (err)
                    return err;
            }
            entries[i] = 0;
            page->nr_used--;
            continue;
        }
        err = clear_table(w, pte_pfn(entries[i]), level - 1, index);
        if (table_page(w->pt, pte_pfn(entries[i]))->nr_used == 0) {
            table_free(w->pt, pte_pfn(entries[i]));
            entries[i] = 0;
            page->nr_used--;
        }
        if (err)
            return err;
    }
    return 0;
}

int pgtable_clear_range(struct pgtable *pt, uint64_t first, uint64_t last,
                        pte_release_fn release, void *arg)
{
    struct clear_walk w = { pt, first, last, release, arg };
    int err;

    if (first > last || last >= SEGMENT_MAX_PAGES)
        return -EINVAL;
    if (pt->root == PFN_NONE)
        return 0;
    err = clear_table(&w, pt->root, PGTABLE_LEVELS - 1, 0);
    if (table_page(pt, pt->root)->nr_used == 0) {
        table_free(pt, pt->root);
        pt->root = PFN_NONE;
    }
    return err;
}

/* Only for trees whose entries need no release (no data pages behind). */
int pgtable_free_tree(struct pgtable *pt)
{
    return pgtable_clear_range(pt, 0, SEGMENT_MAX_PAGES - 1, NULL, NULL);
}

/* Entries of table at or after index first (subtrees wholly before it
 * are not entered). */
static int visit_table(const struct pgtable *pt, pfn_t table, unsigned level,
                       uint64_t base, uint64_t first, pte_release_fn fn,
                       void *arg)
{
    uint64_t span = 1ull << level_shift(level);
    pte_t *entries = table_entries(pt, table);
    unsigned lo = first > base ? (unsigned)((first - base) / span) : 0;

    for (unsigned i = lo; i < PTRS_PER_TABLE; i++) {
        uint64_t index = base + i * span;
        int err;

        if (pte_none(entries[i]))
            continue;
        if (level == 0)
            err = fn(arg, index, &entries[i]);
        else
            err = visit_table(pt, pte_pfn(entries[i]), level - 1, index,
                              first, fn, arg);
        if (err)
            return err;
    }
    return 0;
}

int pgtable_for_each_pte(const struct pgtable *pt, pte_release_fn fn, void *arg)
{
    return pgtable_for_each_pte_from(pt, 0, fn, arg);
}

int pgtable_for_each_pte_from(const struct pgtable *pt, uint64_t first,
                              pte_release_fn fn, void *arg)
{
    if (pt->root == PFN_NONE || first >= SEGMENT_MAX_PAGES)
        return 0;
    return visit_table(pt, pt->root, PGTABLE_LEVELS - 1, 0, first, fn, arg);
}

struct check_walk {
    const struct pgtable *pt;
    uint64_t tables, present, swap;
};

static int check_table(struct check_walk *w, pfn_t table, unsigned level,
                       uint64_t base)
{
    const struct pgtable *pt = w->pt;
    const struct page *page;
    const pte_t *entries;
    uint64_t span = 1ull << level_shift(level);
    uint32_t used = 0;
    int err;

    CHECK(pfn_valid(pt->mm, table), "pgtable: segment %u: table pfn %u invalid",
          pt->seg_id, (unsigned)table);
    page = table_page(pt, table);
    CHECK(page->state == PAGE_TABLE && page_test(page, PG_table),
          "pgtable: segment %u: table pfn %u is %s", pt->seg_id,
          (unsigned)table, page_state_name(page->state));
    CHECK(page->seg_id == pt->seg_id && page_index(page) == base,
          "pgtable: segment %u: table pfn %u maps back to (%u, %llu), not (%u, %llu)",
          pt->seg_id, (unsigned)table, page->seg_id,
          (unsigned long long)page_index(page), pt->seg_id,
          (unsigned long long)base);
    w->tables++;
    entries = table_entries(pt, table);
    for (unsigned i = 0; i < PTRS_PER_TABLE; i++) {
        pte_t pte = entries[i];
        uint64_t index = base + i * span;
        const struct page *data;

        if (pte_none(pte))
            continue;
        used++;
        if (level > 0) {
            CHECK(pte_present(pte) && (pte & PTE_FLAGS_MASK) == PTE_PRESENT,
                  "pgtable: segment %u: level-%u entry %llx is not a table",
                  pt->seg_id, level, (unsigned long long)pte);
            err = check_table(w, pte_pfn(pte), level - 1, index);
            if (err)
                return err;
            continue;
        }
        if (!pte_present(pte)) {
            CHECK(pte_is_swap(pte), "pgtable: segment %u index %llu: pte %llx "
                  "neither present nor swap", pt->seg_id,
                  (unsigned long long)index, (unsigned long long)pte);
            w->swap++;
            continue;
        }
        CHECK(pfn_valid(pt->mm, pte_pfn(pte)),
              "pgtable: segment %u index %llu: pfn %u invalid", pt->seg_id,
              (unsigned long long)index, (unsigned)pte_pfn(pte));
        data = pfn_to_page(pt->mm, pte_pfn(pte));
        /* A shared page (PTE_COW) maps back to one of its sharers, at the
         * same index - a KSM page to one of its mappers at any index:
         * rmap_check() finds the others. */
        CHECK(data->state == PAGE_DATA &&
              (page_index(data) == index || page_test(data, PG_ksm)) &&
              ((pte & PTE_COW) || data->seg_id == pt->seg_id),
              "pgtable: segment %u index %llu: pfn %u is %s mapping back to "
              "(%u, %llu)", pt->seg_id, (unsigned long long)index,
              (unsigned)pte_pfn(pte), page_state_name(data->state),
              data->seg_id, (unsigned long long)page_index(data));
        w->present++;
    }
    CHECK(used == page->nr_used && used > 0,
          "pgtable: segment %u: table pfn %u has %u entries, nr_used %u",
          pt->seg_id, (unsigned)table, used, page->nr_used);
    return 0;
}

/* Every table is a TABLE page of this segment whose nr_used is right and
 * not zero; every present PTE's page is DATA and maps back to (segment,
 * index), or for a PTE_COW one to (a sharer, index).  *nr_present receives
 * the count of present PTEs. */
int pgtable_check(const struct pgtable *pt, uint64_t *nr_present)
{
    return pgtable_check_counts(pt, nr_present, NULL);
}

/* pgtable_check, also counting swap entries into *nr_swap. */
int pgtable_check_counts(const struct pgtable *pt, uint64_t *nr_present,
                         uint64_t *nr_swap)
{
    struct check_walk w = { pt, 0, 0, 0 };
    int err;

    if (pt->root != PFN_NONE) {
        err = check_table(&w, pt->root, PGTABLE_LEVELS - 1, 0);
        if (err)
            return err;
    }
    CHECK(w.tables == pt->nr_tables,
          "pgtable: segment %u: %llu tables in the tree, nr_tables %llu",
          pt->seg_id, (unsigned long long)w.tables,
          (unsigned long long)pt->nr_tables);
    if (nr_present)
        *nr_present = w.present;
    if (nr_swap)
        *nr_swap = w.swap;
    return 0;
}
