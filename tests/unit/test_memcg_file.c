/* test_memcg_file.c - a memcg's cgroup v1 files (memcg_file.c): a fresh
 * memcg reads as a fresh Linux cgroup, each write gets Linux's error and
 * reads back as Linux prints it (memparse, "-1", rounding, read-only
 * files, unknown names), the name table, and memory.stat's keys in
 * Linux's order with the real counts - anonymous pages as rss, a named
 * segment's as cache and the file LRU lists.  mm_check() after each step
 * that changes anything. */
#include <stdio.h>
#include <stdlib.h>

#include "mm_test.h"

#define UNLIMITED "9223372036854771712\n"

/* A fresh memcg reads as a fresh Linux cgroup v1 (save oom_kill_disable,
 * which defaults to 1 here: ENOMEM rather than the killer). */
START_TEST(test_files_fresh)
{
    static const struct { const char *key, *want; } cases[] = {
        { "memory.usage_in_bytes", "0\n" },
        { "memory.max_usage_in_bytes", "0\n" },
        { "memory.limit_in_bytes", UNLIMITED },
        { "memory.failcnt", "0\n" },
        { "memory.memsw.usage_in_bytes", "0\n" },
        { "memory.memsw.max_usage_in_bytes", "0\n" },
        { "memory.memsw.limit_in_bytes", UNLIMITED },
        { "memory.memsw.failcnt", "0\n" },
        { "memory.pressure_level", "low\n" },
        { "memory.oom_control", "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n" },
        { "memory.reserved_in_bytes", "0\n" },
    };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    unsigned n = 0;

    ck_assert_str_eq(test_memcg_file(cg, cases[_i].key), cases[_i].want);
    ck_assert_mm_ok(mm);
    while (memcg_file_name(n))
        ck_assert(memcg_file_exists(memcg_file_name(n++)));
    ck_assert_uint_eq(n, 12);           /* the cases + memory.stat */
    mm_destroy(mm);
}
END_TEST

/* Each write: the error it gets and what a file reads afterwards. */
START_TEST(test_files_write)
{
    static const struct {
        const char *key, *value;
        int err;
        const char *read_key, *want;
    } cases[] = {
        { "memory.limit_in_bytes", "1M", 0, "memory.limit_in_bytes", "1048576\n" },
        { "memory.limit_in_bytes", "4097", 0, "memory.limit_in_bytes", "4096\n" },
        { "memory.limit_in_bytes", "2g\n", 0, "memory.limit_in_bytes", "2147483648\n" },
        { "memory.limit_in_bytes", "-1", 0, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "0", 0, "memory.limit_in_bytes", "0\n" },
        { "memory.limit_in_bytes", "9999999T", 0, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "", -EINVAL, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "12Q", -EINVAL, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "-2", -EINVAL, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "1 M", -EINVAL, "memory.limit_in_bytes", UNLIMITED },
        { "memory.limit_in_bytes", "99999999999999999999", -EINVAL,
          "memory.limit_in_bytes", UNLIMITED },
        { "memory.memsw.limit_in_bytes", "32M", -EINVAL,     /* below limit */
          "memory.memsw.limit_in_bytes", UNLIMITED },
        { "memory.memsw.limit_in_bytes", "-1", 0, "memory.memsw.limit_in_bytes", UNLIMITED },
        { "memory.oom_control", "0", 0, "memory.oom_control",
          "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n" },
        { "memory.oom_control", "2", -EINVAL, "memory.oom_control",
          "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n" },
        { "memory.failcnt", "0", 0, "memory.failcnt", "0\n" },
        { "memory.failcnt", "5", -EINVAL, "memory.failcnt", "0\n" },
        { "memory.max_usage_in_bytes", "0", 0, "memory.max_usage_in_bytes", "0\n" },
        { "memory.memsw.max_usage_in_bytes", "0", 0,
          "memory.memsw.max_usage_in_bytes", "0\n" },
        { "memory.memsw.failcnt", "0", 0, "memory.memsw.failcnt", "0\n" },
        { "memory.usage_in_bytes", "0", -EINVAL, "memory.usage_in_bytes", "0\n" },
        { "memory.stat", "0", -EINVAL, "memory.usage_in_bytes", "0\n" },
        { "memory.pressure_level", "low", -EINVAL, "memory.pressure_level", "low\n" },
        { "memory.nonsense", "0", -EINVAL, "memory.failcnt", "0\n" },
        { "memory.memsw", "0", -EINVAL, "memory.failcnt", "0\n" },
    };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    char buf[64];

    ck_assert_int_eq(memcg_file_write(cg, cases[_i].key, cases[_i].value),
                     cases[_i].err);
    ck_assert_str_eq(test_memcg_file(cg, cases[_i].read_key), cases[_i].want);
    ck_assert_int_eq(memcg_file_read(cg, "memory.bogus", buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(memcg_file_read(cg, "memory.stat", buf, 16), -ENOSPC);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* memory.stat: Linux's key order, bytes and event counts, total_ twins. */
START_TEST(test_stat_counts)
{
    static const char *const keys[] = {
        "cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty",
        "writeback", "swap", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
        "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable",
    };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *seg = test_segment(mm, cg, 64);
    static char buf[MM_PAGE_SIZE * 4];
    char want[4096], *p = want;
    /* LRU (lru.c): pages 0-2 written, rewritten, read: active; page 3
     * written and read once: inactive, referenced; page 4 inactive. */
    const uint64_t vals[] = { 0, 5 * MM_PAGE_SIZE, 0, 0, 0, 0, 0, 0, 7, 2, 4, 0,
                              2 * MM_PAGE_SIZE, 3 * MM_PAGE_SIZE, 0, 0, 0 };

    ck_assert_int_eq(test_write_pages(seg, 0, 7), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(test_write_pages(seg, 0, 3), 0);            /* overwrites */
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(segment_read(seg, 0, 4, buf), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(segment_discard(seg, 5, 2), 0);
    ck_assert_mm_ok(mm);
    for (unsigned i = 0; i < 17; i++)
        p += sprintf(p, "%s %llu\n", keys[i], (unsigned long long)vals[i]);
    p += sprintf(p, "hierarchical_memory_limit 9223372036854771712\n"
                 "hierarchical_memsw_limit 9223372036854771712\n");
    for (unsigned i = 0; i < 17; i++)
        p += sprintf(p, "total_%s %llu\n", keys[i], (unsigned long long)vals[i]);
    p += sprintf(p, "zswap 0\nzswapped 0\nksm_merging_pages 0\n");   /* no swap, zswap, KSM */
    ck_assert_str_eq(test_memcg_file(cg, "memory.stat"), want);
    mm_destroy(mm);
}
END_TEST

/* The name table: every name exists, the read-only ones are those with
 * no writer, anything else is unknown. */
START_TEST(test_file_names)
{
    static const char *const read_only[] = {
        "memory.usage_in_bytes", "memory.memsw.usage_in_bytes", "memory.stat",
        "memory.pressure_level", "memory.reserved_in_bytes",
    };
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    unsigned n, writable = 0;
    static char buf[4096];              /* what any file needs, mm.h says */

    for (n = 0; memcg_file_name(n); n++) {
        const char *name = memcg_file_name(n);
        bool ro = false;

        ck_assert(memcg_file_exists(name));
        for (unsigned i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++)
            ro |= strcmp(name, read_only[i]) == 0;
        ck_assert_int_eq(memcg_file_writable(name), !ro);
        writable += !ro;
        ck_assert_int_eq(memcg_file_read(cg, name, buf, sizeof(buf)), 0);
    }
    ck_assert_uint_eq(n, 12);
    ck_assert_uint_eq(writable, 7);
    ck_assert(!memcg_file_exists("memory.kmem.usage_in_bytes"));
    ck_assert(!memcg_file_exists(NULL));
    ck_assert(!memcg_file_writable("memory.bogus"));
    ck_assert_int_eq(memcg_file_read(NULL, "memory.failcnt", buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(memcg_file_read(cg, NULL, buf, sizeof(buf)), -EINVAL);
    ck_assert_int_eq(memcg_file_read(cg, "memory.failcnt", buf, 0), -EINVAL);
    ck_assert_int_eq(memcg_file_write(cg, "memory.failcnt", NULL), -EINVAL);
    ck_assert_int_eq(memcg_file_write(NULL, "memory.failcnt", "0"), -EINVAL);
    ck_assert_mm_ok(mm);
    mm_destroy(mm);
}
END_TEST

/* A named segment's pages are the tenant's page cache: cache and the
 * file lists, not rss; an anonymous one's the other way round. */
START_TEST(test_stat_file_pages)
{
    struct mm *mm = test_mm(8 * MiB);
    struct memcg *cg = test_memcg(mm, "t");
    struct segment *named = test_segment(mm, cg, 16);
    struct segment *anon = test_segment(mm, cg, 16);
    static char buf[MM_PAGE_SIZE * 2];

    ck_assert_int_eq(segment_set_file(named), 0);
    ck_assert_int_eq(test_write_pages(named, 0, 6), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(test_write_pages(anon, 0, 2), 0);
    ck_assert_mm_ok(mm);
    ck_assert_int_eq(segment_set_file(anon), -EBUSY);     /* written already */
    ck_assert_int_eq(segment_read(named, 0, 2, buf), 0);  /* referenced */
    ck_assert_int_eq(segment_read(named, 0, 2, buf), 0);  /* active */
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(test_memcg_stat(cg, "cache"), 6 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "total_cache"), 6 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "shmem"), 6 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "rss"), 2 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "active_file"), 2 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "inactive_file"), 4 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "inactive_anon"), 2 * MM_PAGE_SIZE);
    ck_assert_uint_eq(test_memcg_stat(cg, "active_anon"), 0);
    ck_assert_int_eq(segment_discard(named, 0, 6), 0);
    ck_assert_mm_ok(mm);
    ck_assert_uint_eq(test_memcg_stat(cg, "cache"), 0);
    ck_assert_uint_eq(test_memcg_stat(cg, "shmem"), 0);
    ck_assert_uint_eq(test_memcg_stat(cg, "rss"), 2 * MM_PAGE_SIZE);
    mm_destroy(mm);
}
END_TEST

Suite *memcg_file_suite(void)
{
    Suite *s = suite_create("memcg_file");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_loop_test(tc, test_files_fresh, 0, 11);
    tcase_add_loop_test(tc, test_files_write, 0, 25);
    tcase_add_test(tc, test_file_names);
    tcase_add_test(tc, test_stat_counts);
    tcase_add_test(tc, test_stat_file_pages);
    suite_add_tcase(s, tc);
    return s;
}
