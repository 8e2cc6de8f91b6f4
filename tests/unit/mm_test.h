/* mm_test.h - helpers shared by the mm/ unit suites: small pools, fake
 * NUMA topologies, a quiet log hook for tests that provoke errors, and a
 * seeded PRNG so a failing run can be replayed. */
#ifndef RMEM_TESTS_MM_TEST_H
#define RMEM_TESTS_MM_TEST_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MiB (1024ull * 1024)
#define TEST_TIMEOUT 60

#define ck_assert_mm_ok(mm) ck_assert_int_eq(mm_check(mm), 0)

static inline struct mm *test_mm(uint64_t pool_bytes)
{
    struct mm_config cfg = { .pool_bytes = pool_bytes,
                             .policy = MM_NUMA_INTERLEAVE };
    struct mm *mm = NULL;

    ck_assert_int_eq(mm_create(&cfg, &mm), 0);
    ck_assert_ptr_nonnull(mm);
    ck_assert_mm_ok(mm);
    return mm;
}

/* nr_nodes fake nodes 0..nr_nodes-1, arenas not bound to any of them. */
static inline struct numa_topology test_topology(unsigned nr_nodes, int local)
{
    struct numa_topology topo;

    memset(&topo, 0, sizeof(topo));
    topo.nr_nodes = nr_nodes;
    for (unsigned i = 0; i < nr_nodes; i++)
        topo.node_ids[i] = (int)i;
    topo.local_node = local;
    topo.bind_memory = false;
    return topo;
}

static inline struct mm *test_mm_fake_nodes(uint64_t pool_bytes,
                                            enum mm_numa_policy policy,
                                            uint64_t mask, unsigned nr_nodes,
                                            int local)
{
    struct mm_config cfg = { pool_bytes, policy, mask };
    struct numa_topology topo = test_topology(nr_nodes, local);
    struct mm *mm = NULL;

    ck_assert_int_eq(mm_create_topology(&cfg, &topo, &mm), 0);
    ck_assert_mm_ok(mm);
    return mm;
}

static inline struct memcg *test_memcg(struct mm *mm, const char *name)
{
    struct memcg *cg = NULL;

    ck_assert_int_eq(memcg_create(mm, name, &cg), 0);
    return cg;
}

static inline struct segment *test_segment(struct mm *mm, struct memcg *cg,
                                           uint64_t npages)
{
    struct segment *seg = NULL;

    ck_assert_int_eq(segment_create(mm, cg, npages, &seg), 0);
    return seg;
}

/* Watermarks off, so that tests can use every page of a zone. */
static inline void test_no_watermarks(struct mm *mm)
{
    for (unsigned z = 0; z < mm->nr_zones; z++)
        memset(mm->zones[z].watermark, 0, sizeof(mm->zones[z].watermark));
}

/* Take pages straight from the buddy allocator until only keep are left;
 * returns how many order-0 pages were taken into pfns (may be NULL). */
static inline uint64_t test_drain_zone(struct zone *zone, uint64_t keep,
                                       pfn_t *pfns)
{
    uint64_t n = 0;
    pfn_t pfn;

    while (zone->free_pages > keep) {
        ck_assert_int_eq(buddy_alloc_pages(zone, 0, MIGRATE_MOVABLE, &pfn), 0);
        if (pfns)
            pfns[n] = pfn;
        n++;
    }
    return n;
}

static int test_log_count;

static inline void test_quiet_log(int level, const char *msg)
{
    (void)level;
    (void)msg;
    test_log_count++;
}

static inline void test_log_quiet(void)
{
    test_log_count = 0;
    mm_set_log(test_quiet_log);
}

static inline void test_log_restore(void)
{
    mm_set_log(NULL);
}

/* xorshift64*: reproducible across runs and platforms. */
static inline uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static inline void test_fill(void *buf, size_t len, uint64_t seed)
{
    uint64_t state = seed | 1;
    unsigned char *p = buf;

    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)test_rand(&state);
}

static inline int test_is_zero(const void *buf, size_t len)
{
    const unsigned char *p = buf;

    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

static inline void test_shuffle(pfn_t *a, uint64_t n, uint64_t seed)
{
    uint64_t state = seed | 1;

    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = test_rand(&state) % i;
        pfn_t t = a[i - 1];

        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Pages first..first+n-1 written one by one with test_fill(seed = index). */
static inline int test_write_pages(struct segment *seg, uint64_t first,
                                   uint64_t n)
{
    char buf[MM_PAGE_SIZE];

    for (uint64_t i = 0; i < n; i++) {
        int err;

        test_fill(buf, sizeof(buf), first + i);
        err = segment_write(seg, first + i, 1, buf);
        if (err)
            return err;
    }
    return 0;
}

/* A memcg file's text; valid until the next call. */
static inline const char *test_memcg_file(const struct memcg *cg,
                                          const char *name)
{
    static char buf[4096];

    ck_assert_int_eq(memcg_file_read(cg, name, buf, sizeof(buf)), 0);
    return buf;
}

static inline void test_memcg_set(struct memcg *cg, const char *name,
                                  const char *value)
{
    ck_assert_int_eq(memcg_file_write(cg, name, value), 0);
}

/* The value of key in memory.stat. */
static inline uint64_t test_memcg_stat(const struct memcg *cg, const char *key)
{
    const char *text = test_memcg_file(cg, "memory.stat"), *p = text;
    size_t len = strlen(key);

    while (p && *p) {
        if (strncmp(p, key, len) == 0 && p[len] == ' ')
            return strtoull(p + len + 1, NULL, 10);
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    ck_abort_msg("memory.stat has no %s:\n%s", key, text);
    return 0;
}

static inline struct mm_stat test_stat(const struct mm *mm)
{
    struct mm_stat st;

    mm_get_stat(mm, &st);
    return st;
}

/* Swap slots in use, zswap's included. */
static inline uint64_t test_swap_used(const struct mm *mm)
{
    struct mm_swap_info si;

    ck_assert_int_eq(mm_swap_info(mm, 0, &si), 0);
    return si.used_pages;
}

#endif
