/* slab.c - slab caches: objects of one size carved out of buddy blocks.
 *
 * As Linux's slab allocators: a cache hands out objects of one size from
 * slabs, each slab one buddy block of 2^order pages chosen per object size
 * (the smallest order holding SLAB_MIN_OBJECTS with at most 1/8 wasted,
 * up to SLAB_MAX_ORDER).  A cache keeps its slabs on three lists, full,
 * partial and empty; allocation takes from the first partial slab, then an
 * empty one, then a new one; an empty slab beyond keep_empty goes back to
 * the buddy allocator at once.  kmalloc is a table of caches, one per
 * power of two from 8 to 8192 bytes; bigger objects are kvmalloc.c's.
 *
 * The slab descriptor is the memmap itself, as in SLUB: the first page of
 * a slab (PG_slab) links the lists by pfn and holds the free list head
 * (an object index) and the count in use; the free list runs through the
 * free objects' first 4 bytes.  So a slab costs no memory beyond its pages
 * and any pointer finds its cache in O(zones): address -> pfn -> first
 * page -> cache id.
 *
 * Freed objects are filled with 0x6b (the link word aside) and
 * slab_cache_check() verifies that, catching writes after free.  Under
 * AddressSanitizer a free object and the padding after each live object
 * are poisoned, so a use after free is reported where it happens, and a
 * second free is refused as one.  Without it a second free of the most
 * recently freed object is refused, and others break the counts that
 * slab_cache_check() compares.
 *
 * Identities slab_cache_check() verifies, per cache:
 *   full.nr + partial.nr + empty.nr == slabs on the lists
 *   a full slab has objs_per_slab in use, a partial one some, an empty none
 *   free list of each slab: in range, no repeats, objs - nr_used long
 *   active_objs == sum of nr_used
 *   every page of every slab is SLAB, owned by this cache
 * and slab_check_all(): the caches' pages == the memmap's SLAB pages.
 *
 * Not locked: mm/ runs on rmemd's loop thread only (mm.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SLAB_MIN_OBJECTS 8
#define SLAB_KEEP_EMPTY 1
#define OBJ_NONE UINT32_MAX             /* ends a free list */
#define LINK_BYTES sizeof(uint32_t)

/* ---- slab pages ---------------------------------------------------- */

static char *slab_base(const struct slab_cache *c, pfn_t head)
{
    return page_address(c->mm, head);
}

static char *slab_obj(const struct slab_cache *c, pfn_t head, uint32_t idx)
{
    return slab_base(c, head) + (size_t)idx * c->size;
}

static uint32_t obj_link_get(const void *obj)
{
    uint32_t next;

    memcpy(&next, obj, LINK_BYTES);
    return next;
}

static void obj_link_set(void *obj, uint32_t next)
{
    memcpy(obj, &next, LINK_BYTES);
}

static void slab_list_add(struct slab_cache *c, struct slab_list *l, pfn_t pfn)
{
    pfn_list_add_head(c->mm, &l->head, NULL, pfn);
    l->nr++;
}

static void slab_list_del(struct slab_cache *c, struct slab_list *l, pfn_t pfn)
{
    pfn_list_del(c->mm, &l->head, NULL, pfn);
    l->nr--;
}

static void slab_list_move(struct slab_cache *c, struct slab_list *from,
                           struct slab_list *to, pfn_t pfn)
{
    slab_list_del(c, from, pfn);
    slab_list_add(c, to, pfn);
}

/* Fill a free object: link word, then poison; ASan marks it unaddressable. */
static void obj_make_free(const struct slab_cache *c, char *obj, uint32_t next)
{
    asan_unpoison(obj, c->size);
    obj_link_set(obj, next);
    if (c->poison)
        memset(obj + LINK_BYTES, SLAB_POISON_FREE, c->size - LINK_BYTES);
    asan_poison(obj, c->size);
}

static void poison_free_objects(const struct slab_cache *c, pfn_t pfn)
{
    uint32_t idx = pfn_to_page(c->mm, pfn)->index_lo;

    while (idx != OBJ_NONE && idx < c->objs_per_slab) {
        char *obj = slab_obj(c, pfn, idx);

        asan_unpoison(obj, c->size);
        idx = obj_link_get(obj);
        memset(obj + LINK_BYTES, SLAB_POISON_FREE, c->size - LINK_BYTES);
        asan_poison(obj, c->size);
    }
}

static int slab_new(struct slab_cache *c)
{
    struct mm *mm = c->mm;
    uint32_t nr_pages = 1u << c->order;
    struct page *head;
    pfn_t pfn;
    int err;

    err = mm_alloc_pages(mm, c->order, ALLOC_SLAB, &pfn);
    if (err)
        return err;
    for (uint32_t i = 0; i < nr_pages; i++) {
        struct page *page = pfn_to_page(mm, pfn + i);

        page_set_state(mm, page, PAGE_SLAB);   /* the head, and its tails */
        page->seg_id = c->id;
        page->index_lo = pfn;           /* tails name the first page */
    }
    head = pfn_to_page(mm, pfn);
    page_set(head, PG_slab);
    head->index_lo = 0;                 /* first free object */
    head->nr_used = 0;
    for (uint32_t i = 0; i < c->objs_per_slab; i++)
        obj_make_free(c, slab_obj(c, pfn, i),
                      i + 1 < c->objs_per_slab ? i + 1 : OBJ_NONE);
    /* The tail end no object covers is never addressable. */
    asan_poison(slab_obj(c, pfn, c->objs_per_slab),
                ((size_t)nr_pages * MM_PAGE_SIZE) - (size_t)c->objs_per_slab * c->size);
    slab_list_add(c, &c->empty, pfn);
    return 0;
}

/* Back to the buddy allocator: the slab is off every list. */
static void slab_release(struct slab_cache *c, pfn_t pfn)
{
    struct mm *mm = c->mm;
    uint32_t nr_pages = 1u << c->order;

    asan_unpoison(slab_base(c, pfn), (size_t)nr_pages * MM_PAGE_SIZE);
    for (uint32_t i = 0; i < nr_pages; i++) {
        struct page *page = pfn_to_page(mm, pfn + i);

        page_clear(page, PG_slab);
        page->seg_id = 0;
        page->index_lo = 0;
        page->nr_used = 0;
        /* The buddy allocator takes its tails back clean and TAIL. */
        page_set_state(mm, page, i ? PAGE_TAIL : PAGE_ALLOCATED);
    }
    mm_free_pages(mm, pfn, c->order);
}

static void slab_release_list(struct slab_cache *c, struct slab_list *l)
{
    while (l->head != PFN_NONE) {
        pfn_t pfn = l->head;

        slab_list_del(c, l, pfn);
        slab_release(c, pfn);
    }
}

/* ---- caches -------------------------------------------------------- */

/* SLUB's calculate_order(), simplified: the smallest order that holds
 * SLAB_MIN_OBJECTS objects and wastes at most 1/8 of the slab. */
static unsigned slab_order_for(uint32_t size)
{
    for (unsigned order = 0; order <= SLAB_MAX_ORDER; order++) {
        size_t bytes = (size_t)MM_PAGE_SIZE << order;
        size_t objs = bytes / size;

        if (objs >= SLAB_MIN_OBJECTS && (bytes - objs * size) * 8 <= bytes)
            return order;
    }
    return SLAB_MAX_ORDER;
}

/* The stride for size and align, or -EINVAL before anything is touched. */
static int cache_geometry(const char *name, size_t size, size_t *align,
                          size_t *stride)
{
    if (!name || !name[0] || strlen(name) >= SLAB_NAME_MAX)
        return -EINVAL;
    if (*align == 0)
        *align = sizeof(uint64_t);
    if (*align & (*align - 1) || *align > MM_PAGE_SIZE)
        return -EINVAL;
    if (size == 0 || size > SLAB_MAX_SIZE)
        return -EINVAL;
    /* A free object holds its link; ASan poisons 8-byte granules. */
    if (*align < sizeof(uint64_t))
        *align = sizeof(uint64_t);
    *stride = (size + *align - 1) & ~(*align - 1);
    return *stride > SLAB_MAX_SIZE ? -EINVAL : 0;
}

static int cache_init(struct mm *mm, struct slab_cache *c, const char *name,
                      size_t size, size_t align)
{
    size_t stride;
    int err = cache_geometry(name, size, &align, &stride);

    if (err)
        return err;
    memset(c, 0, sizeof(*c));
    c->mm = mm;
    strcpy(c->name, name);
    c->object_size = (uint32_t)size;
    c->size = (uint32_t)stride;
    c->align = (uint32_t)align;
    c->order = slab_order_for(c->size);
    c->objs_per_slab = (uint32_t)(((size_t)MM_PAGE_SIZE << c->order) / c->size);
    c->full.head = c->partial.head = c->empty.head = PFN_NONE;
    c->keep_empty = SLAB_KEEP_EMPTY;
    c->poison = !mm->slab_no_poison;
    return idr_alloc(&mm->slab_caches, c, &c->id);
}

int slab_init(struct mm *mm)
{
    static const struct { const char *name; size_t size; } fixed[] = {
        [SLAB_KMEM_CACHE] = { "kmem_cache", sizeof(struct slab_cache) },
        [SLAB_SEGMENT] = { "mm_segment", sizeof(struct segment) },
        [SLAB_MEMCG] = { "mm_memcg", sizeof(struct memcg) },
    };
    int err;

    for (unsigned i = 0; i < NR_SLAB_BUILTIN; i++) {
        char name[SLAB_NAME_MAX];
        size_t size;

        if (i < SLAB_KMALLOC) {
            snprintf(name, sizeof(name), "%s", fixed[i].name);
            size = fixed[i].size;
        } else {
            size = (size_t)1 << (SLAB_KMALLOC_MIN_SHIFT + i - SLAB_KMALLOC);
            if (size >= 1024)
                snprintf(name, sizeof(name), "kmalloc-%zuk", size / 1024);
            else
                snprintf(name, sizeof(name), "kmalloc-%zu", size);
        }
        err = cache_init(mm, &mm->slab_builtin[i], name, size, 0);
        if (err)
            return err;
        mm->slab_builtin[i].builtin = true;
    }
    return 0;
}

int slab_cache_create(struct mm *mm, const char *name, size_t size,
                      size_t align, struct slab_cache **out)
{
    struct slab_cache *c;
    size_t stride, al = align;
    int err;

    if (!mm || !out)
        return -EINVAL;
    /* Validate before taking an object, so a bad request allocates nothing. */
    err = cache_geometry(name, size, &al, &stride);
    if (err)
        return err;
    c = slab_alloc(&mm->slab_builtin[SLAB_KMEM_CACHE]);
    if (!c)
        return -ENOMEM;
    err = cache_init(mm, c, name, size, align);
    if (err) {
        slab_free(&mm->slab_builtin[SLAB_KMEM_CACHE], c);
        return err;
    }
    *out = c;
    return 0;
}

static void cache_release_all(struct slab_cache *c)
{
    slab_release_list(c, &c->full);
    slab_release_list(c, &c->partial);
    slab_release_list(c, &c->empty);
    idr_remove(&c->mm->slab_caches, c->id);
    c->dead = true;
}

int slab_cache_destroy(struct slab_cache *c)
{
    struct mm *mm;

    if (!c)
        return 0;
    mm = c->mm;
    if (c->active_objs) {
        mm_log(MM_LOG_ERR, "slab: cache %s destroyed with %llu objects in use; "
               "kept", c->name, (unsigned long long)c->active_objs);
        return -EBUSY;
    }
    if (c->builtin) {
        mm_log(MM_LOG_ERR, "slab: cache %s is built in", c->name);
        return -EINVAL;
    }
    cache_release_all(c);
    slab_free(&mm->slab_builtin[SLAB_KMEM_CACHE], c);
    return 0;
}

/* At mm_destroy: objects still allocated are leaks of the caller; their
 * memory goes with the arena either way. */
void slab_fini(struct mm *mm)
{
    uint32_t id;

    while ((id = idr_next(&mm->slab_caches, 0)) != 0) {
        struct slab_cache *c = idr_find(&mm->slab_caches, id);

        if (c == &mm->slab_builtin[SLAB_KMEM_CACHE] &&
            idr_next(&mm->slab_caches, id + 1)) {
            /* kmem_cache holds the others: it goes last. */
            id = idr_next(&mm->slab_caches, id + 1);
            c = idr_find(&mm->slab_caches, id);
        }
        if (c->active_objs && !c->builtin)
            mm_log(MM_LOG_WARNING, "slab: cache %s has %llu objects in use at "
                   "teardown", c->name, (unsigned long long)c->active_objs);
        cache_release_all(c);
    }
}

/* A cache that stops poisoning keeps old poison in its free objects,
 * which slab_cache_check() then no longer reads; one that starts poisons
 * every slab's free objects now, so the check holds from here on. */
void mm_slab_set_poison(struct mm *mm, bool on)
{
    mm->slab_no_poison = !on;
    for (uint32_t id = idr_next(&mm->slab_caches, 0); id;
         id = idr_next(&mm->slab_caches, id + 1)) {
        struct slab_cache *c = idr_find(&mm->slab_caches, id);
        const struct slab_list *lists[] = { &c->partial, &c->empty };

        if (on && !c->poison)
            for (unsigned l = 0; l < 2; l++)
                for (pfn_t pfn = lists[l]->head; pfn != PFN_NONE;
                     pfn = pfn_to_page(mm, pfn)->next)
                    poison_free_objects(c, pfn);
        c->poison = on;
    }
}

void slab_cache_shrink(struct slab_cache *c)
{
    if (c)
        slab_release_list(c, &c->empty);
}

void slab_shrink_all(struct mm *mm)
{
    for (uint32_t id = idr_next(&mm->slab_caches, 0); id;
         id = idr_next(&mm->slab_caches, id + 1))
        slab_cache_shrink(idr_find(&mm->slab_caches, id));
}

/* ---- objects ------------------------------------------------------- */

void *slab_alloc(struct slab_cache *c)
{
    struct slab_list *from;
    struct page *head;
    pfn_t pfn;
    char *obj;

    if (!c || c->dead)
        return NULL;
    if (should_fail_alloc(c->mm)) {
        c->nr_fails++;
        return NULL;
    }
    if (c->partial.head == PFN_NONE && c->empty.head == PFN_NONE &&
        slab_new(c) != 0) {
        c->nr_fails++;
        return NULL;
    }
    from = c->partial.head != PFN_NONE ? &c->partial : &c->empty;
    pfn = from->head;
    head = pfn_to_page(c->mm, pfn);
    obj = slab_obj(c, pfn, head->index_lo);
    asan_unpoison(obj, LINK_BYTES);
    head->index_lo = obj_link_get(obj);
    head->nr_used++;
    if (head->nr_used == c->objs_per_slab)
        slab_list_move(c, from, &c->full, pfn);
    else if (from == &c->empty)
        slab_list_move(c, from, &c->partial, pfn);
    /* Exactly the object: the padding up to the stride stays poisoned. */
    asan_unpoison(obj, c->object_size);
    c->active_objs++;
    c->nr_allocs++;
    return obj;
}

void *slab_zalloc(struct slab_cache *c)
{
    void *obj = slab_alloc(c);

    if (obj)
        memset(obj, 0, c->object_size);
    return obj;
}

bool mm_addr_in_pool(const struct mm *mm, const void *p)
{
    for (unsigned z = 0; mm && z < mm->nr_zones; z++) {
        const struct zone *zone = &mm->zones[z];
        const char *cp = p;

        if (cp >= zone->base && cp < zone->base + zone->managed_pages * MM_PAGE_SIZE)
            return true;
    }
    return false;
}

int pool_addr_to_pfn(const struct mm *mm, const void *p, pfn_t *pfn)
{
    for (unsigned z = 0; z < mm->nr_zones; z++) {
        const struct zone *zone = &mm->zones[z];
        const char *cp = p;

        if (cp >= zone->base && cp < zone->base + zone->managed_pages * MM_PAGE_SIZE) {
            *pfn = zone->start_pfn + (pfn_t)((uint64_t)(cp - zone->base) / MM_PAGE_SIZE);
            return 0;
        }
    }
    return -EINVAL;
}

static int slab_lookup_head(const struct mm *mm, const void *p,
                            struct slab_cache **cp, pfn_t *headp, uint32_t *idxp)
{
    const struct page *page;
    struct slab_cache *c;
    pfn_t pfn, head;
    uint64_t off;

    if (pool_addr_to_pfn(mm, p, &pfn)) {
        mm_log(MM_LOG_ERR, "slab: free of %p, which is not pool memory", p);
        return -EINVAL;
    }
    page = pfn_to_page(mm, pfn);
    if (page->state != PAGE_SLAB) {
        dump_page(mm, pfn, "freeing an object from a page that is no slab");
        return -EINVAL;
    }
    head = page_test(page, PG_slab) ? pfn : page->index_lo;
    c = idr_find(&mm->slab_caches, page->seg_id);
    if (!c || !pfn_valid(mm, head) ||
        !page_test(pfn_to_page(mm, head), PG_slab)) {
        dump_page(mm, pfn, "slab page with no cache or first page");
        return -EINVAL;
    }
    off = (uint64_t)((const char *)p - slab_base(c, head));
    if (off % c->size || off / c->size >= c->objs_per_slab) {
        mm_log(MM_LOG_ERR, "slab: %s: free of %p, inside an object or past the "
               "last", c->name, p);
        return -EINVAL;
    }
    *cp = c;
    *headp = head;
    *idxp = (uint32_t)(off / c->size);
    return 0;
}

int slab_lookup(const struct mm *mm, const void *p, struct slab_cache **c)
{
    pfn_t head;
    uint32_t idx;

    return slab_lookup_head(mm, p, c, &head, &idx);
}

static void __slab_free(struct slab_cache *c, pfn_t pfn, uint32_t idx, void *obj)
{
    struct page *head = pfn_to_page(c->mm, pfn);
    bool was_full = head->nr_used == c->objs_per_slab;

    if (asan_is_poisoned(obj) || head->index_lo == idx || head->nr_used == 0) {
        mm_log(MM_LOG_ERR, "slab: %s: double free of %p", c->name, obj);
        return;
    }
    obj_make_free(c, obj, head->index_lo);
    head->index_lo = idx;
    head->nr_used--;
    c->active_objs--;
    c->nr_frees++;
    if (head->nr_used == 0) {
        slab_list_del(c, was_full ? &c->full : &c->partial, pfn);
        if (c->empty.nr < c->keep_empty)
            slab_list_add(c, &c->empty, pfn);
        else
            slab_release(c, pfn);
    } else if (was_full) {
        slab_list_move(c, &c->full, &c->partial, pfn);
    }
}

void slab_free(struct slab_cache *c, void *obj)
{
    struct slab_cache *owner;
    pfn_t head;
    uint32_t idx;

    if (!c || !obj)
        return;
    if (slab_lookup_head(c->mm, obj, &owner, &head, &idx))
        return;
    if (owner != c) {
        mm_log(MM_LOG_ERR, "slab: free of %p to cache %s; it belongs to %s",
               obj, c->name, owner->name);
        return;
    }
    __slab_free(c, head, idx, obj);
}

/* ---- kmalloc ------------------------------------------------------- */

static struct slab_cache *kmalloc_cache(struct mm *mm, size_t size)
{
    unsigned i = 0;

    if (!mm || size == 0 || size > SLAB_KMALLOC_MAX_SIZE)
        return NULL;
    while (((size_t)1 << (SLAB_KMALLOC_MIN_SHIFT + i)) < size)
        i++;
    return &mm->slab_builtin[SLAB_KMALLOC + i];
}

size_t kmalloc_size_roundup(size_t size)
{
    size_t obj = (size_t)1 << SLAB_KMALLOC_MIN_SHIFT;

    if (size > SLAB_KMALLOC_MAX_SIZE)
        return 0;
    while (obj < size)
        obj <<= 1;
    return obj;
}

void *mm_kmalloc(struct mm *mm, size_t size)
{
    return slab_alloc(kmalloc_cache(mm, size));
}

void *mm_kzalloc(struct mm *mm, size_t size)
{
    void *p = mm_kmalloc(mm, size);

    if (p)
        memset(p, 0, size);
    return p;
}

void mm_kfree(struct mm *mm, void *p)
{
    struct slab_cache *c;
    pfn_t head;
    uint32_t idx;

    if (!mm || !p)
        return;
    if (slab_lookup_head(mm, p, &c, &head, &idx))
        return;
    __slab_free(c, head, idx, p);
}

/* ---- figures ------------------------------------------------------- */

static uint64_t cache_slabs(const struct slab_cache *c)
{
    return c->full.nr + c->partial.nr + c->empty.nr;
}

int mm_slab_info(const struct mm *mm, unsigned n, struct mm_slab_info *si)
{
    uint32_t id = idr_next(&mm->slab_caches, 0);
    const struct slab_cache *c;

    for (; id && n; n--)
        id = idr_next(&mm->slab_caches, id + 1);
    if (!id)
        return -ENOENT;
    c = idr_find(&mm->slab_caches, id);
    memset(si, 0, sizeof(*si));
    si->name = c->name;
    si->active_objs = c->active_objs;
    si->num_slabs = cache_slabs(c);
    si->num_objs = si->num_slabs * c->objs_per_slab;
    si->objsize = c->size;
    si->objperslab = c->objs_per_slab;
    si->pagesperslab = 1u << c->order;
    si->active_slabs = c->full.nr + c->partial.nr;
    return 0;
}

static void list_zone_pages(const struct slab_cache *c, const struct slab_list *l,
                            unsigned z, uint64_t *pages)
{
    for (pfn_t pfn = l->head; pfn != PFN_NONE; pfn = pfn_to_page(c->mm, pfn)->next)
        if (pfn_to_page(c->mm, pfn)->zone == z)
            *pages += 1ull << c->order;
}

void slab_zone_pages(const struct mm *mm, unsigned z, uint64_t *pages,
                     uint64_t *reclaimable)
{
    *pages = z < mm->nr_zones ? mm->zones[z].nr_state[PAGE_SLAB] : 0;
    *reclaimable = 0;
    for (uint32_t id = idr_next(&mm->slab_caches, 0); id;
         id = idr_next(&mm->slab_caches, id + 1)) {
        const struct slab_cache *c = idr_find(&mm->slab_caches, id);

        list_zone_pages(c, &c->empty, z, reclaimable);
    }
}

/* ---- invariants ---------------------------------------------------- */

static int check_slab_pages(const struct slab_cache *c, pfn_t pfn)
{
    const struct page *head = pfn_to_page(c->mm, pfn);

    CHECK(head->state == PAGE_SLAB && page_test(head, PG_slab) &&
          head->seg_id == c->id && head->order == c->order,
          "slab: %s: pfn %u on its lists is %s%s, cache %u, order %u",
          c->name, (unsigned)pfn, page_state_name(head->state),
          page_test(head, PG_slab) ? "" : " !PG_slab", head->seg_id, head->order);
    for (uint32_t i = 1; i < (1u << c->order); i++) {
        const struct page *tail = pfn_to_page(c->mm, pfn + i);

        CHECK(tail->state == PAGE_SLAB && !page_test(tail, PG_slab) &&
              tail->seg_id == c->id && tail->index_lo == pfn,
              "slab: %s: page %u of slab %u is %s, cache %u, first %u",
              c->name, i, (unsigned)pfn, page_state_name(tail->state),
              tail->seg_id, tail->index_lo);
    }
    return 0;
}

static int check_poison(const struct slab_cache *c, const char *obj, pfn_t pfn,
                        uint32_t idx)
{
    for (uint32_t b = LINK_BYTES; b < c->size; b++)
        CHECK((unsigned char)obj[b] == SLAB_POISON_FREE,
              "slab: %s: free object %u of slab %u written after free "
              "(byte %u is 0x%02x)", c->name, idx, (unsigned)pfn, b,
              (unsigned char)obj[b]);
    return 0;
}

/* Walk the free list: in range, no repeats, as long as the count says,
 * and (poisoning) untouched since its free. */
static int check_free_list(const struct slab_cache *c, pfn_t pfn)
{
    const struct page *head = pfn_to_page(c->mm, pfn);
    uint8_t seen[(SLAB_MAX_SIZE / sizeof(uint64_t) + 7) / 8] = { 0 };
    uint32_t idx = head->index_lo, nr_free = 0;

    while (idx != OBJ_NONE) {
        char *obj;
        int err = 0;

        CHECK(idx < c->objs_per_slab, "slab: %s: slab %u free list names object "
              "%u of %u", c->name, (unsigned)pfn, idx, c->objs_per_slab);
        CHECK(!(seen[idx / 8] & (1u << idx % 8)), "slab: %s: slab %u free list "
              "loops at object %u", c->name, (unsigned)pfn, idx);
        seen[idx / 8] |= (uint8_t)(1u << idx % 8);
        nr_free++;
        obj = slab_obj(c, pfn, idx);
        asan_unpoison(obj, c->size);
        if (c->poison)
            err = check_poison(c, obj, pfn, idx);
        idx = obj_link_get(obj);
        asan_poison(obj, c->size);
        if (err)
            return err;
    }
    CHECK(nr_free + head->nr_used == c->objs_per_slab,
          "slab: %s: slab %u has %u free objects and %u in use, holds %u",
          c->name, (unsigned)pfn, nr_free, head->nr_used, c->objs_per_slab);
    return 0;
}

enum list_kind { LIST_FULL, LIST_PARTIAL, LIST_EMPTY };

static int check_list(const struct slab_cache *c, const struct slab_list *l,
                      enum list_kind kind, uint64_t *used)
{
    static const char *const names[] = { "full", "partial", "empty" };
    pfn_t prev = PFN_NONE, pfn = l->head;
    uint64_t len = 0;
    int err;

    while (pfn != PFN_NONE) {
        const struct page *head;
        bool ok;

        CHECK(len < l->nr, "slab: %s: %s list longer than %llu", c->name,
              names[kind], (unsigned long long)l->nr);
        CHECK(pfn_valid(c->mm, pfn), "slab: %s: %s list names pfn %u", c->name,
              names[kind], (unsigned)pfn);
        err = check_slab_pages(c, pfn);
        if (err)
            return err;
        head = pfn_to_page(c->mm, pfn);
        CHECK(head->prev == prev, "slab: %s: %s list: pfn %u prev link broken",
              c->name, names[kind], (unsigned)pfn);
        ok = kind == LIST_FULL ? head->nr_used == c->objs_per_slab :
             kind == LIST_EMPTY ? head->nr_used == 0 :
             head->nr_used > 0 && head->nr_used < c->objs_per_slab;
        CHECK(ok, "slab: %s: slab %u on the %s list has %u of %u objects in use",
              c->name, (unsigned)pfn, names[kind], head->nr_used, c->objs_per_slab);
        err = check_free_list(c, pfn);
        if (err)
            return err;
        *used += head->nr_used;
        prev = pfn;
        pfn = head->next;
        len++;
    }
    CHECK(len == l->nr, "slab: %s: %s list has %llu slabs, count says %llu",
          c->name, names[kind], (unsigned long long)len, (unsigned long long)l->nr);
    return 0;
}

int slab_cache_check(const struct slab_cache *c)
{
    uint64_t used = 0;
    int err;

    if (!c)
        return -EINVAL;
    CHECK(c->size >= c->object_size && c->size % c->align == 0 &&
          c->objs_per_slab == ((size_t)MM_PAGE_SIZE << c->order) / c->size,
          "slab: %s: geometry size %u object %u align %u objs %u order %u",
          c->name, c->size, c->object_size, c->align, c->objs_per_slab, c->order);
    err = check_list(c, &c->full, LIST_FULL, &used);
    if (!err)
        err = check_list(c, &c->partial, LIST_PARTIAL, &used);
    if (!err)
        err = check_list(c, &c->empty, LIST_EMPTY, &used);
    if (err)
        return err;
    CHECK(used == c->active_objs, "slab: %s: %llu objects in use on the slabs, "
          "active_objs %llu", c->name, (unsigned long long)used,
          (unsigned long long)c->active_objs);
    CHECK(c->nr_allocs - c->nr_frees == c->active_objs,
          "slab: %s: %llu allocs - %llu frees != %llu active", c->name,
          (unsigned long long)c->nr_allocs, (unsigned long long)c->nr_frees,
          (unsigned long long)c->active_objs);
    return 0;
}

int slab_check_all(const struct mm *mm, uint64_t slab_pages)
{
    uint64_t pages = 0;

    for (uint32_t id = idr_next(&mm->slab_caches, 0); id;
         id = idr_next(&mm->slab_caches, id + 1)) {
        const struct slab_cache *c = idr_find(&mm->slab_caches, id);
        int err = slab_cache_check(c);

        if (err)
            return err;
        CHECK(c->id == id, "slab: cache %s filed under id %u", c->name, id);
        pages += cache_slabs(c) << c->order;
    }
    CHECK(pages == slab_pages, "slab: caches hold %llu pages, memmap has %llu "
          "SLAB pages", (unsigned long long)pages, (unsigned long long)slab_pages);
    return 0;
}
