/* test_slab.c - slab caches and kmalloc: geometry per size, alloc/free
 * patterns with the invariant walker after each operation, empty slabs
 * going back to buddy, exhaustion without leaks, bad frees refused, and
 * poison that shows a write after free. */
#include <stdlib.h>

#include "mm_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

/* Pages of slabs other than kmem_cache's (which holds the cache structs). */
static uint64_t cache_pages(const struct mm *mm)
{
    const struct slab_cache *k = &mm->slab_builtin[SLAB_KMEM_CACHE];

    return test_stat(mm).slab_pages - ((k->full.nr + k->partial.nr + k->empty.nr) << k->order);
}

static void assert_cache_ok(const struct mm *mm, const struct slab_cache *c)
{
    ck_assert_int_eq(slab_cache_check(c), 0);
    ck_assert_mm_ok(mm);
}

/* Table of sizes and alignments: stride, order, objects per slab. */
static const struct geometry_case {
    size_t size, align;
    uint32_t stride, objs;
    unsigned order;
} geometry[] = {
    { 1, 0, 8, 512, 0 },
    { 8, 0, 8, 512, 0 },
    { 24, 0, 24, 170, 0 },
    { 64, 0, 64, 64, 0 },
    { 100, 0, 104, 39, 0 },
    { 100, 64, 128, 32, 0 },
    { 256, 0, 256, 16, 0 },
    { 500, 0, 504, 8, 0 },
    { 1000, 0, 1000, 8, 1 },
    { 3000, 0, 3000, 10, 3 },
    { 4096, 0, 4096, 8, 3 },
    { 4096, 4096, 4096, 8, 3 },
    { 8192, 0, 8192, 4, 3 },
    { 32768, 0, 32768, 1, 3 },
};

#define NR_GEOMETRY (sizeof(geometry) / sizeof(geometry[0]))

START_TEST(test_geometry_per_size)
{
    const struct geometry_case *g = &geometry[_i];
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *c = NULL;

    ck_assert_int_eq(slab_cache_create(mm, "geom", g->size, g->align, &c), 0);
    ck_assert_uint_eq(c->size, g->stride);
    ck_assert_uint_eq(c->objs_per_slab, g->objs);
    ck_assert_uint_eq(c->order, g->order);
    /* Waste is at most 1/8 whenever the order cap allows it. */
    if (c->objs_per_slab >= 8)
        ck_assert_uint_le(((size_t)MM_PAGE_SIZE << c->order) -
                          (size_t)c->objs_per_slab * c->size,
                          ((size_t)MM_PAGE_SIZE << c->order) / 8);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Per size: fill three slabs and one object more, every object aligned,
 * disjoint and holding its own pattern; free odd then even ones; the
 * walker runs after every operation. */
START_TEST(test_alloc_free_pattern_per_size)
{
    const struct geometry_case *g = &geometry[_i];
    struct mm *mm = test_mm(8 * MiB);
    uint64_t before = test_stat(mm).free_pages;
    struct slab_cache *c = NULL;
    uint32_t n;
    unsigned char **objs;
    size_t align = g->align ? g->align : 8;

    ck_assert_int_eq(slab_cache_create(mm, "pattern", g->size, g->align, &c), 0);
    n = 3 * c->objs_per_slab + 1;
    objs = calloc(n, sizeof(*objs));
    for (uint32_t i = 0; i < n; i++) {
        objs[i] = slab_alloc(c);
        ck_assert_ptr_nonnull(objs[i]);
        ck_assert_uint_eq((uintptr_t)objs[i] % align, 0);
        memset(objs[i], (int)(i & 0xff), g->size);
        ck_assert_uint_eq(c->active_objs, i + 1);
        assert_cache_ok(mm, c);
    }
    ck_assert_uint_eq(c->full.nr, c->objs_per_slab == 1 ? 4 : 3);
    ck_assert_uint_eq(c->partial.nr + c->full.nr, n / c->objs_per_slab +
                      (n % c->objs_per_slab != 0));
    ck_assert_uint_eq(cache_pages(mm), (uint64_t)(c->full.nr + c->partial.nr) << c->order);
    for (uint32_t i = 0; i < n; i++)
        for (size_t b = 0; b < g->size; b++)
            ck_assert_uint_eq(objs[i][b], i & 0xff);
    for (uint32_t pass = 0; pass < 2; pass++) {
        for (uint32_t i = 1 - pass; i < n; i += 2) {
            slab_free(c, objs[i]);
            assert_cache_ok(mm, c);
        }
    }
    ck_assert_uint_eq(c->active_objs, 0);
    ck_assert_uint_eq(c->full.nr + c->partial.nr, 0);
    /* One empty slab is kept for reuse; the others went back to buddy. */
    ck_assert_uint_eq(c->empty.nr, 1);
    ck_assert_uint_eq(cache_pages(mm), 1ull << c->order);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    ck_assert_mm_ok(mm);
    /* Only kmem_cache's slab (holding the cache struct) remains. */
    ck_assert_uint_eq(test_stat(mm).free_pages + test_stat(mm).slab_pages, before);
    slab_cache_shrink(&mm->slab_builtin[SLAB_KMEM_CACHE]);
    ck_assert_uint_eq(test_stat(mm).free_pages, before);
    free(objs);
    mm_destroy(mm);
}
END_TEST

/* A freed object is reused first (LIFO), and a slab that empties while
 * one empty slab is already kept goes straight back to buddy. */
START_TEST(test_empty_slab_returns_to_buddy)
{
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *c = NULL;
    void *a[16], *b[16], *again;
    uint64_t free0;

    ck_assert_int_eq(slab_cache_create(mm, "ret", 256, 0, &c), 0);
    ck_assert_uint_eq(c->objs_per_slab, 16);
    free0 = test_stat(mm).free_pages;
    for (int i = 0; i < 16; i++)
        a[i] = slab_alloc(c);
    for (int i = 0; i < 16; i++)
        b[i] = slab_alloc(c);
    ck_assert_uint_eq(c->full.nr, 2);
    ck_assert_uint_eq(test_stat(mm).free_pages, free0 - 2);
    slab_free(c, a[3]);
    again = slab_alloc(c);
    ck_assert_ptr_eq(again, a[3]);
    for (int i = 0; i < 16; i++)
        slab_free(c, a[i]);
    assert_cache_ok(mm, c);
    ck_assert_uint_eq(c->empty.nr, 1);              /* kept */
    ck_assert_uint_eq(test_stat(mm).free_pages, free0 - 2);
    for (int i = 0; i < 16; i++)
        slab_free(c, b[i]);
    assert_cache_ok(mm, c);
    ck_assert_uint_eq(c->empty.nr, 1);              /* the second went back */
    ck_assert_uint_eq(test_stat(mm).free_pages, free0 - 1);
    slab_cache_shrink(c);
    assert_cache_ok(mm, c);
    ck_assert_uint_eq(test_stat(mm).free_pages, free0);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    mm_destroy(mm);
}
END_TEST

/* With the pool gone, allocation fails cleanly and nothing leaks; with
 * pages back, it works again. */
START_TEST(test_exhaustion_null_without_leak)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    struct slab_cache *c = NULL;
    pfn_t *pfns = calloc(zone->managed_pages, sizeof(*pfns));
    void *obj;
    uint64_t taken, allocs;

    ck_assert_int_eq(slab_cache_create(mm, "exh", 512, 0, &c), 0);
    taken = test_drain_zone(zone, 0, pfns);
    allocs = c->nr_allocs;
    ck_assert_ptr_null(slab_alloc(c));
    ck_assert_ptr_null(mm_kmalloc(mm, 100));
    ck_assert_uint_eq(c->nr_fails, 1);
    ck_assert_uint_eq(c->nr_allocs, allocs);
    ck_assert_uint_eq(cache_pages(mm), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(buddy_free_pages(zone, pfns[taken - 1], 0), 0);
    obj = slab_alloc(c);
    ck_assert_ptr_nonnull(obj);
    assert_cache_ok(mm, c);
    slab_free(c, obj);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    for (uint64_t i = 0; i + 1 < taken; i++)
        ck_assert_int_eq(buddy_free_pages(zone, pfns[i], 0), 0);
    ck_assert_mm_ok(mm);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

/* Empty slabs kept by caches are given back when the pool runs short. */
START_TEST(test_empty_slabs_reclaimed_under_pressure)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    struct slab_cache *c = NULL;
    pfn_t *pfns = calloc(zone->managed_pages, sizeof(*pfns));
    uint64_t taken;
    pfn_t pfn;
    void *obj;

    ck_assert_int_eq(slab_cache_create(mm, "kept", 2048, 0, &c), 0);
    obj = slab_alloc(c);
    slab_free(c, obj);
    ck_assert_uint_eq(c->empty.nr, 1);
    taken = test_drain_zone(zone, 0, pfns);
    /* The pool is dry but the kept slab is not: the allocator takes it. */
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn), 0);
    ck_assert_uint_eq(c->empty.nr, 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_free_pages(mm, pfn, 0), 0);
    for (uint64_t i = 0; i < taken; i++)
        ck_assert_int_eq(buddy_free_pages(zone, pfns[i], 0), 0);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    ck_assert_mm_ok(mm);
    free(pfns);
    mm_destroy(mm);
}
END_TEST

/* kmalloc: each size goes to the smallest class that holds it. */
START_TEST(test_kmalloc_size_classes)
{
    static const struct { size_t size; const char *cache; } cases[] = {
        { 1, "kmalloc-8" }, { 8, "kmalloc-8" }, { 9, "kmalloc-16" },
        { 33, "kmalloc-64" }, { 128, "kmalloc-128" }, { 129, "kmalloc-256" },
        { 1000, "kmalloc-1k" }, { 2048, "kmalloc-2k" }, { 4097, "kmalloc-8k" },
        { 8192, "kmalloc-8k" },
    };
    struct mm *mm = test_mm(8 * MiB);
    void *p[sizeof(cases) / sizeof(cases[0])];

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct slab_cache *c = NULL;

        p[i] = mm_kzalloc(mm, cases[i].size);
        ck_assert_ptr_nonnull(p[i]);
        ck_assert(test_is_zero(p[i], cases[i].size));
        ck_assert_int_eq(slab_lookup(mm, p[i], &c), 0);
        ck_assert_str_eq(c->name, cases[i].cache);
        ck_assert_mm_ok(mm);
    }
    ck_assert_ptr_null(mm_kmalloc(mm, 0));
    ck_assert_ptr_null(mm_kmalloc(mm, MM_KMALLOC_MAX + 1));
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mm_kfree(mm, p[i]);
        ck_assert_mm_ok(mm);
    }
    for (unsigned i = 0; i < SLAB_NR_KMALLOC; i++)
        ck_assert_uint_eq(mm->slab_builtin[SLAB_KMALLOC + i].active_objs, 0);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_kvmalloc_and_kvstrdup)
{
    struct mm *mm = test_mm(8 * MiB);
    char *small = mm_kvzalloc(mm, 100), *big = mm_kvzalloc(mm, 100000);
    char *s = mm_kvstrdup(mm, "tenant-a");

    ck_assert(mm_addr_in_pool(mm, small));
    ck_assert(mm_addr_in_pool(mm, big));         /* kvmalloc pages */
    ck_assert(test_is_zero(big, 100000));
    ck_assert(mm_addr_in_pool(mm, s));
    ck_assert_str_eq(s, "tenant-a");
    mm_kvfree(mm, small);
    mm_kvfree(mm, big);
    mm_kvfree(mm, s);
    mm_kvfree(mm, NULL);
    mm_kfree(mm, NULL);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(mm->slab_builtin[SLAB_KMALLOC + 4].active_objs, 0);
    mm_destroy(mm);
}
END_TEST

/* Every wrong free is refused, logged, and changes nothing. */
START_TEST(test_bad_frees_refused)
{
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *a = NULL, *b = NULL;
    char *x, *y, heap[64];
    pfn_t pfn;

    ck_assert_int_eq(slab_cache_create(mm, "a", 64, 0, &a), 0);
    ck_assert_int_eq(slab_cache_create(mm, "b", 64, 0, &b), 0);
    x = slab_alloc(a);
    y = slab_alloc(a);
    test_log_quiet();
    slab_free(a, x);
    slab_free(a, x);                    /* double free */
    ck_assert_int_eq(test_log_count, 1);
    ck_assert_uint_eq(a->active_objs, 1);
    slab_free(b, y);                    /* wrong cache */
    ck_assert_int_eq(test_log_count, 2);
    slab_free(a, y + 8);                /* inside an object */
    ck_assert_int_eq(test_log_count, 3);
    slab_free(a, heap);                 /* not pool memory */
    ck_assert_int_eq(test_log_count, 4);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
    mm_kfree(mm, page_address(mm, pfn));    /* a page that is no slab */
    ck_assert_int_gt(test_log_count, 4);
    ck_assert_int_eq(slab_cache_destroy(a), -EBUSY);   /* y is alive */
    test_log_restore();
    ck_assert_uint_eq(a->active_objs, 1);
    ck_assert_uint_eq(b->active_objs, 0);
    ck_assert_int_eq(mm_free_pages(mm, pfn, 0), 0);
    assert_cache_ok(mm, a);
    slab_free(a, y);
    ck_assert_int_eq(slab_cache_destroy(a), 0);
    ck_assert_int_eq(slab_cache_destroy(b), 0);
    ck_assert_int_eq(slab_cache_create(mm, "", 64, 0, &a), -EINVAL);
    ck_assert_int_eq(slab_cache_create(mm, "x", 0, 0, &a), -EINVAL);
    ck_assert_int_eq(slab_cache_create(mm, "x", 64, 3, &a), -EINVAL);
    ck_assert_int_eq(slab_cache_create(mm, "x", SLAB_MAX_SIZE + 1, 0, &a), -EINVAL);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* A write into a freed object: under ASan the object is unaddressable;
 * otherwise the poison check in slab_cache_check() reports it. */
START_TEST(test_write_after_free_detected)
{
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *c = NULL;
    char *obj, *other;

    ck_assert_int_eq(slab_cache_create(mm, "uaf", 128, 0, &c), 0);
    obj = slab_alloc(c);
    other = slab_alloc(c);
    slab_free(c, obj);
    assert_cache_ok(mm, c);
#ifdef TEST_ASAN
    ck_assert(__asan_address_is_poisoned(obj + 64));
    ASAN_UNPOISON_MEMORY_REGION(obj, 128);
#endif
    obj[64] = 42;
#ifdef TEST_ASAN
    ASAN_POISON_MEMORY_REGION(obj, 128);
#endif
    test_log_quiet();
    ck_assert_int_eq(slab_cache_check(c), -EUCLEAN);
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    test_log_restore();
    slab_free(c, other);
    mm_destroy(mm);
}
END_TEST

/* The walker catches broken counters and a free list that loops. */
START_TEST(test_check_catches_corruption)
{
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *c = NULL;
    struct page *head;
    char *a, *b;

    ck_assert_int_eq(slab_cache_create(mm, "corrupt", 64, 0, &c), 0);
    a = slab_alloc(c);
    b = slab_alloc(c);
    (void)a;
    test_log_quiet();
    c->active_objs++;
    ck_assert_int_eq(slab_cache_check(c), -EUCLEAN);
    c->active_objs--;
    head = pfn_to_page(mm, c->partial.head);
    head->nr_used++;
    ck_assert_int_eq(slab_cache_check(c), -EUCLEAN);
    head->nr_used--;
    c->partial.nr++;
    ck_assert_int_eq(mm_check(mm), -EUCLEAN);
    c->partial.nr--;
    test_log_restore();
    assert_cache_ok(mm, c);
    slab_free(c, b);
    slab_free(c, a);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    mm_destroy(mm);
}
END_TEST

/* Random allocs and frees over several caches and kmalloc classes, seeded;
 * the walker after each operation and the contents intact at the end. */
START_TEST(test_random_mix)
{
    enum { NR_OPS = 3000, NR_LIVE = 400 };
    static const size_t sizes[] = { 8, 40, 64, 200, 256, 1024, 3000, 4096, 8192 };
    struct mm *mm = test_mm(16 * MiB);
    struct { unsigned char *p; size_t size; unsigned char tag; } live[NR_LIVE];
    unsigned nr_live = 0;
    uint64_t rng = 77;

    for (unsigned op = 0; op < NR_OPS; op++) {
        bool alloc = nr_live == 0 || (nr_live < NR_LIVE && test_rand(&rng) % 3 != 0);

        if (alloc) {
            size_t size = sizes[test_rand(&rng) % (sizeof(sizes) / sizeof(sizes[0]))];

            size -= test_rand(&rng) % (size / 2 + 1);
            live[nr_live].p = mm_kmalloc(mm, size);
            ck_assert_ptr_nonnull(live[nr_live].p);
            live[nr_live].size = size;
            live[nr_live].tag = (unsigned char)op;
            memset(live[nr_live].p, (unsigned char)op, size);
            nr_live++;
        } else {
            unsigned k = (unsigned)(test_rand(&rng) % nr_live);

            for (size_t b = 0; b < live[k].size; b++)
                ck_assert_uint_eq(live[k].p[b], live[k].tag);
            mm_kfree(mm, live[k].p);
            live[k] = live[--nr_live];
        }
        if (op % 10 == 0)
            ck_assert_mm_ok(mm);
    }
    while (nr_live)
        mm_kfree(mm, live[--nr_live].p);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* mm_slab_info: the /proc/slabinfo figures, oldest cache first. */
START_TEST(test_slab_info_figures)
{
    struct mm *mm = test_mm(8 * MiB);
    struct slab_cache *c = NULL;
    struct mm_slab_info si;
    void *objs[20];
    unsigned n = 0;
    bool found = false;

    ck_assert_int_eq(slab_cache_create(mm, "info", 200, 0, &c), 0);
    for (int i = 0; i < 20; i++)
        objs[i] = slab_alloc(c);
    while (mm_slab_info(mm, n, &si) == 0) {
        if (n == 0)
            ck_assert_str_eq(si.name, "kmem_cache");
        if (strcmp(si.name, "info") == 0) {
            found = true;
            ck_assert_uint_eq(si.active_objs, 20);
            ck_assert_uint_eq(si.objsize, 200);
            ck_assert_uint_eq(si.objperslab, 20);
            ck_assert_uint_eq(si.pagesperslab, 1);
            ck_assert_uint_eq(si.num_slabs, 1);
            ck_assert_uint_eq(si.active_slabs, 1);
            ck_assert_uint_eq(si.num_objs, 20);
        }
        n++;
    }
    ck_assert(found);
    ck_assert_uint_eq(n, NR_SLAB_BUILTIN + 1);
    for (int i = 0; i < 20; i++)
        slab_free(c, objs[i]);
    ck_assert_int_eq(mm_slab_info(mm, n - 1, &si), 0);
    ck_assert_uint_eq(si.active_slabs, 0);
    ck_assert_uint_eq(si.num_slabs, 1);
    ck_assert_int_eq(slab_cache_destroy(c), 0);
    ck_assert_int_eq(mm_slab_info(mm, n - 1, &si), -ENOENT);
    mm_destroy(mm);
}
END_TEST

/* Turning poisoning off and on again keeps the walker's promise. */
START_TEST(test_poison_toggle)
{
    struct mm *mm = test_mm(8 * MiB);
    void *a = mm_kmalloc(mm, 64), *b = mm_kmalloc(mm, 64);

    mm_slab_set_poison(mm, false);
    mm_kfree(mm, a);
    ck_assert_mm_ok(mm);
    mm_slab_set_poison(mm, true);
    ck_assert_mm_ok(mm);
    mm_kfree(mm, b);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

Suite *slab_suite(void)
{
    Suite *s = suite_create("slab");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_geometry_per_size, 0, NR_GEOMETRY);
    tcase_add_loop_test(tc, test_alloc_free_pattern_per_size, 0, NR_GEOMETRY);
    tcase_add_test(tc, test_empty_slab_returns_to_buddy);
    tcase_add_test(tc, test_exhaustion_null_without_leak);
    tcase_add_test(tc, test_empty_slabs_reclaimed_under_pressure);
    tcase_add_test(tc, test_kmalloc_size_classes);
    tcase_add_test(tc, test_kvmalloc_and_kvstrdup);
    tcase_add_test(tc, test_bad_frees_refused);
    tcase_add_test(tc, test_write_after_free_detected);
    tcase_add_test(tc, test_check_catches_corruption);
    tcase_add_test(tc, test_random_mix);
    tcase_add_test(tc, test_slab_info_figures);
    tcase_add_test(tc, test_poison_toggle);
    suite_add_tcase(s, tc);
    return s;
}
