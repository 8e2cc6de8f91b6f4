/* test_numa.c - the pool split over NUMA nodes (with fake topologies, as
 * the build machines have one node), watermarks, zone fallback with its
 * numastat counters, and an arena that commits no memory until used. */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <sys/mman.h>

#include "mm_test.h"

#define BLOCK MAX_ORDER_NR_PAGES

START_TEST(test_split_sums_to_pool)
{
    static const struct {
        unsigned nodes;
        int local;
        enum mm_numa_policy policy;
        uint64_t mask;
        uint64_t pool_mib;
        uint64_t expect[4];             /* pages per node */
    } cases[] = {
        { 1, 0, MM_NUMA_INTERLEAVE, 0, 64, { 16 * BLOCK } },
        { 1, 0, MM_NUMA_INTERLEAVE, 0, 66, { 16 * BLOCK } },   /* rounds down */
        { 2, 0, MM_NUMA_INTERLEAVE, 0, 64, { 8 * BLOCK, 8 * BLOCK } },
        { 2, 0, MM_NUMA_INTERLEAVE, 0, 12, { 2 * BLOCK, 1 * BLOCK } },
        { 3, 0, MM_NUMA_INTERLEAVE, 0, 40, { 4 * BLOCK, 3 * BLOCK, 3 * BLOCK } },
        { 4, 0, MM_NUMA_INTERLEAVE, 0, 4, { BLOCK, 0, 0, 0 } },
        { 4, 2, MM_NUMA_LOCAL, 0, 32, { 0, 0, 8 * BLOCK, 0 } },
        { 4, 9, MM_NUMA_LOCAL, 0, 32, { 8 * BLOCK, 0, 0, 0 } }, /* unknown local */
        { 4, 0, MM_NUMA_BIND, 0xa, 32, { 0, 4 * BLOCK, 0, 4 * BLOCK } },
        { 4, 0, MM_NUMA_BIND, 0x1f, 20, { 2 * BLOCK, BLOCK, BLOCK, BLOCK } },
    };

    for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct mm_config cfg = { cases[c].pool_mib * MiB, cases[c].policy,
                                 cases[c].mask };
        struct numa_topology topo = test_topology(cases[c].nodes, cases[c].local);
        uint64_t pages[MM_MAX_ZONES], sum = 0;

        ck_assert_int_eq(numa_split_pool(cfg.pool_bytes, &cfg, &topo, pages), 0);
        for (unsigned n = 0; n < cases[c].nodes; n++) {
            ck_assert_msg(pages[n] == cases[c].expect[n],
                          "case %u node %u: %llu pages", c, n,
                          (unsigned long long)pages[n]);
            ck_assert_uint_eq(pages[n] % BLOCK, 0);
            sum += pages[n];
        }
        ck_assert_uint_eq(sum, cfg.pool_bytes / (BLOCK * MM_PAGE_SIZE) * BLOCK);
    }
}
END_TEST

START_TEST(test_split_interleave_many_nodes_is_even)
{
    for (unsigned nodes = 1; nodes <= MM_MAX_ZONES; nodes += 7) {
        struct mm_config cfg = { 1024 * MiB + 5 * MiB, MM_NUMA_INTERLEAVE, 0 };
        struct numa_topology topo = test_topology(nodes, 0);
        uint64_t pages[MM_MAX_ZONES], sum = 0, lo = UINT64_MAX, hi = 0;

        ck_assert_int_eq(numa_split_pool(cfg.pool_bytes, &cfg, &topo, pages), 0);
        for (unsigned n = 0; n < nodes; n++) {
            sum += pages[n];
            lo = pages[n] < lo ? pages[n] : lo;
            hi = pages[n] > hi ? pages[n] : hi;
        }
        ck_assert_uint_eq(sum, 257 * BLOCK);
        ck_assert_uint_le(hi - lo, BLOCK);
    }
}
END_TEST

START_TEST(test_split_rejects)
{
    struct numa_topology topo = test_topology(2, 0);
    struct mm_config too_small = { 4 * MiB - 1, MM_NUMA_INTERLEAVE, 0 };
    struct mm_config no_node = { 64 * MiB, MM_NUMA_BIND, 0x4 };
    struct mm_config bad_policy = { 64 * MiB, (enum mm_numa_policy)7, 0 };
    struct numa_topology empty = test_topology(0, 0);
    struct mm_config ok = { 64 * MiB, MM_NUMA_INTERLEAVE, 0 };
    uint64_t pages[MM_MAX_ZONES];

    ck_assert_int_eq(numa_split_pool(too_small.pool_bytes, &too_small, &topo, pages), -EINVAL);
    ck_assert_int_eq(numa_split_pool(no_node.pool_bytes, &no_node, &topo, pages), -EINVAL);
    ck_assert_int_eq(numa_split_pool(bad_policy.pool_bytes, &bad_policy, &topo, pages), -EINVAL);
    ck_assert_int_eq(numa_split_pool(ok.pool_bytes, &ok, &empty, pages), -EINVAL);
}
END_TEST

START_TEST(test_create_rejects_bad_config)
{
    struct mm_config cfgs[] = {
        { 0, MM_NUMA_INTERLEAVE, 0 },
        { 1 * MiB, MM_NUMA_INTERLEAVE, 0 },
        { 8 * MiB, (enum mm_numa_policy)3, 0 },
        { 8 * MiB, MM_NUMA_BIND, 0 },
        { 1ull << 46, MM_NUMA_INTERLEAVE, 0 },      /* 2^34 pages: pfns are 32 bits */
    };
    struct mm *mm = (struct mm *)&cfgs;

    for (unsigned i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        ck_assert_int_eq(mm_create(&cfgs[i], &mm), -EINVAL);
        ck_assert_ptr_eq(mm, (struct mm *)&cfgs);       /* untouched */
    }
    ck_assert_int_eq(mm_create(NULL, &mm), -EINVAL);
    ck_assert_int_eq(mm_create(&cfgs[0], NULL), -EINVAL);
    mm_destroy(NULL);
}
END_TEST

START_TEST(test_create_on_this_machine)
{
    struct mm *mm = test_mm(32 * MiB + 123);
    struct numa_topology topo;
    struct mm_stat st;
    struct mm_zone_info zi;
    uint64_t total = 0;

    ck_assert_int_eq(os_numa_topology(&topo), 0);
    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.total_pages, 8192);
    ck_assert_uint_eq(st.free_pages, 8192);
    ck_assert_uint_eq(st.data_pages + st.table_pages + st.segments, 0);
    ck_assert_uint_eq(st.numa_nodes, topo.nr_nodes);
    ck_assert_uint_ge(st.zones, 1);
    ck_assert_uint_le(st.zones, st.numa_nodes);
    for (unsigned z = 0; z < st.zones; z++) {
        ck_assert_int_eq(mm_zone_info(mm, z, &zi), 0);
        ck_assert_uint_gt(zi.min_pages, 0);
        ck_assert_uint_eq(zi.low_pages, zi.min_pages + zi.min_pages / 4);
        ck_assert_uint_eq(zi.high_pages, zi.min_pages + zi.min_pages / 2);
        total += zi.managed_pages;
    }
    ck_assert_uint_eq(total, st.total_pages);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Linux's min_free_kbytes = sqrt(16 * KiB), clamped to [128 KiB, 256 MiB]. */
START_TEST(test_min_free_pages_like_linux)
{
    static const struct { uint64_t pages, min; } cases[] = {
        { 1, 32 },                      /* clamped up to 128 KiB */
        { 1024, 64 },                   /* 4 MiB: 256 KiB */
        { 262144, 1024 },               /* 1 GiB: 4 MiB */
        { 4194304, 4096 },              /* 16 GiB: 16 MiB */
        { 1ull << 32, 65536 },          /* 16 TiB: clamped to 256 MiB */
    };

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_uint_eq(numa_min_free_pages(cases[i].pages), cases[i].min);
}
END_TEST

/* Data allocations stop at min; page tables and slab may use the reserve
 * below. */
START_TEST(test_data_stops_at_min_tables_use_reserve)
{
    struct mm *mm = test_mm(4 * MiB);
    struct zone *zone = &mm->zones[0];
    uint64_t min = zone->watermark[WMARK_MIN], n = 0;
    pfn_t pfn;

    ck_assert_uint_eq(min, 64);         /* sqrt(16 * 4096 KiB) = 256 KiB */
    while (mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn) == 0) {
        n++;
        ck_assert_mm_ok(mm);
    }
    ck_assert_uint_eq(zone->free_pages, min);
    ck_assert_uint_eq(n, zone->managed_pages - min);
    ck_assert_mm_ok(mm);
    /* Readahead, zswap and big metadata (which has the C heap) stop there too. */
    static const enum alloc_purpose at_min[] = { ALLOC_DATA, ALLOC_OPTIONAL,
                                                 ALLOC_KVMALLOC };
    for (unsigned i = 0; i < sizeof(at_min) / sizeof(at_min[0]); i++)
        ck_assert_int_eq(mm_alloc_pages(mm, 0, at_min[i], &pfn), -ENOMEM);
    ck_assert_uint_eq(zone->free_pages, min);
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_SLAB, &pfn), 0);
    n++;
    while (mm_alloc_pages(mm, 0, ALLOC_TABLE, &pfn) == 0) {
        n++;
        ck_assert_mm_ok(mm);
    }
    ck_assert_uint_eq(zone->free_pages, 0);
    ck_assert_uint_eq(n, zone->managed_pages);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* Two fake nodes, bound to both, rmemd on node 0: zone 0 serves until it
 * reaches its low watermark, then zone 1 (a miss there, foreign for 0). */
START_TEST(test_fallback_counts_numa_miss)
{
    struct mm *mm = test_mm_fake_nodes(8 * MiB, MM_NUMA_BIND, 0x3, 2, 0);
    struct zone *z0 = &mm->zones[0], *z1 = &mm->zones[1];
    struct mm_zone_info i0, i1;
    uint64_t hits = z0->managed_pages - z0->watermark[WMARK_LOW];
    pfn_t pfn;

    ck_assert_uint_eq(mm->nr_zones, 2);
    for (uint64_t i = 0; i < hits; i++) {
        ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
        ck_assert_uint_eq(pfn_to_page(mm, pfn)->zone, 0);
        ck_assert_mm_ok(mm);
    }
    ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
    ck_assert_uint_eq(pfn_to_page(mm, pfn)->zone, 1);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(mm_zone_info(mm, 0, &i0), 0);
    ck_assert_int_eq(mm_zone_info(mm, 1, &i1), 0);
    ck_assert_uint_eq(i0.numa_hit, hits);
    ck_assert_uint_eq(i0.numa_foreign, 1);
    ck_assert_uint_eq(i0.local_node, hits);
    ck_assert_uint_eq(i1.numa_miss, 1);
    ck_assert_uint_eq(i1.numa_hit, 0);
    ck_assert_uint_eq(i1.other_node, 1);
    ck_assert_uint_eq(i0.interleave_hit + i1.interleave_hit, 0);
    ck_assert_uint_eq(z1->free_pages, z1->managed_pages - 1);
    mm_destroy(mm);
}
END_TEST

START_TEST(test_interleave_round_robin)
{
    struct mm *mm = test_mm_fake_nodes(12 * MiB, MM_NUMA_INTERLEAVE, 0, 3, 1);
    struct mm_zone_info zi;
    pfn_t pfn;

    ck_assert_uint_eq(mm->nr_zones, 3);
    for (unsigned i = 0; i < 30; i++) {
        ck_assert_int_eq(mm_alloc_pages(mm, 0, ALLOC_DATA, &pfn), 0);
        ck_assert_uint_eq(pfn_to_page(mm, pfn)->zone, i % 3);
        ck_assert_mm_ok(mm);
    }
    ck_assert_mm_ok(mm);
    for (unsigned z = 0; z < 3; z++) {
        ck_assert_int_eq(mm_zone_info(mm, z, &zi), 0);
        ck_assert_int_eq(zi.node, (int)z);
        ck_assert_uint_eq(zi.numa_hit, 10);
        ck_assert_uint_eq(zi.interleave_hit, 10);
        ck_assert_uint_eq(zi.local_node, z == 1 ? 10 : 0);
        ck_assert_uint_eq(zi.other_node, z == 1 ? 0 : 10);
    }
    mm_destroy(mm);
}
END_TEST

static uint64_t resident_pages(void *base, uint64_t bytes)
{
    uint64_t pages = bytes / MM_PAGE_SIZE, n = 0;
    unsigned char *vec = malloc(pages);

    ck_assert_ptr_nonnull(vec);
    ck_assert_int_eq(mincore(base, bytes, vec), 0);
    for (uint64_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

/* The default 1 GiB pool must not commit RAM before pages are written. */
START_TEST(test_pool_not_committed_until_used)
{
    struct mm *mm = test_mm(1024 * MiB);
    struct memcg *cg;
    struct segment *seg;
    char buf[MM_PAGE_SIZE];
    struct mm_stat st;
    uint64_t total = 0;

    for (unsigned z = 0; z < mm->nr_zones; z++)
        total += resident_pages(mm->zones[z].base,
                                mm->zones[z].managed_pages * MM_PAGE_SIZE);
    ck_assert_uint_eq(total, 0);
    /* The memcg and segment descriptors and their id tables live in slab
     * pages of the pool: those are committed, at most a transparent huge
     * page (512 pages) each, and nothing else. */
    cg = test_memcg(mm, "t");
    ck_assert_mm_ok(mm);
    seg = test_segment(mm, cg, 1024);
    ck_assert_mm_ok(mm);
    mm_get_stat(mm, &st);
    ck_assert_uint_eq(st.slab_pages, 3);
    total = 0;
    for (unsigned z = 0; z < mm->nr_zones; z++)
        total += resident_pages(mm->zones[z].base,
                                mm->zones[z].managed_pages * MM_PAGE_SIZE);
    ck_assert_uint_le(total, 3 * 512);
    test_fill(buf, sizeof(buf), 1);
    ck_assert_int_eq(segment_write(seg, 0, 1, buf), 0);
    ck_assert_mm_ok(mm);
    total = 0;
    for (unsigned z = 0; z < mm->nr_zones; z++)
        total += resident_pages(mm->zones[z].base,
                                mm->zones[z].managed_pages * MM_PAGE_SIZE);
    ck_assert_uint_ge(total, 5);            /* 4 tables + 1 data page */
    ck_assert_uint_le(total, 4 * 512);      /* at most a few huge pages */
    mm_destroy(mm);
}
END_TEST

Suite *numa_suite(void)
{
    Suite *s = suite_create("numa");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_split_sums_to_pool);
    tcase_add_test(tc, test_split_interleave_many_nodes_is_even);
    tcase_add_test(tc, test_split_rejects);
    tcase_add_test(tc, test_create_rejects_bad_config);
    tcase_add_test(tc, test_create_on_this_machine);
    tcase_add_test(tc, test_min_free_pages_like_linux);
    tcase_add_test(tc, test_data_stops_at_min_tables_use_reserve);
    tcase_add_test(tc, test_fallback_counts_numa_miss);
    tcase_add_test(tc, test_interleave_round_robin);
    tcase_add_test(tc, test_pool_not_committed_until_used);
    suite_add_tcase(s, tc);
    return s;
}
