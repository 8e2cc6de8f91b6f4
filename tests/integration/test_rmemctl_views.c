/* rmemctl's /proc views end to end: slabinfo, meminfo, zoneinfo and
 * numastat from the real binary against a real rmemd, each line rebuilt
 * from the numbers it carries in the Linux format and compared byte for
 * byte, and the numbers checked against `info`, `buddyinfo --json` and
 * each other; meminfo also after a librmem client wrote anonymous and
 * named pages, its big Writes growing the connection's receive buffer
 * into a kvmalloc run (VmallocUsed) and the pool's touched arena showing
 * in huge pages (AnonHugePages) unless THP is off.  --session-grace 0 so that each
 * rmemctl's session goes with its connection and the pool stands still
 * between commands.
 *
 * rmemctl runs as a child with PR_SET_PDEATHSIG, like the server, so a
 * failing test leaves neither behind. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)


static struct rmemd srv;


static void start_server(void)
{
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "64M",
                                 "--session-grace", "0", NULL}), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

/* Runs build/rmemctl -s ADDR ARGS... (NULL-terminated); fails the test
 * unless it exits 0. */
static void view(struct harness_run *r, ...)
{
    const char *argv[16];
    int n = 0;
    va_list ap;

    argv[n++] = harness_path("rmemctl");
    argv[n++] = "-s";
    argv[n++] = srv.addr;
    va_start(ap, r);
    while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(r, argv), 0);
    ck_assert_msg(r->status == 0, "rmemctl %s exited %d: %s", argv[3], r->status,
                  r->err);
}

/* "key: value" of info text. */
static uint64_t info_u64(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return strtoull(p + klen + 1, NULL, 10);
    ck_abort_msg("no key %s in:\n%s", key, text);
    return 0;
}

/* "Key:   N kB" of meminfo text, in kB. */
static uint64_t meminfo_kb(const char *text, const char *key)
{
    return info_u64(text, key);
}

/* "name": N in JSON text, the first after from. */
static uint64_t json_u64(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, text);
    return strtoull(p + strlen(pat), NULL, 10);
}

static void assert_line(const char *got, size_t len, const char *want)
{
    ck_assert_msg(strlen(want) == len && strncmp(want, got, len) == 0,
                  "line differs from the Linux format:\ngot  '%.*s'\nwant '%s'",
                  (int)len, got, want);
}

/* Balanced brackets outside strings, one value, nothing after it. */
static void assert_json(const char *s, char open)
{
    int depth = 0;
    bool in_str = false, done = false;

    ck_assert_msg(*s == open, "JSON should start with %c: %s", open, s);
    for (; *s; s++) {
        if (done) {
            ck_assert_msg(*s == '\n' || *s == ' ', "text after JSON: %s", s);
            continue;
        }
        if (in_str) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_str = false;
            continue;
        }
        if (*s == '"')
            in_str = true;
        else if (*s == '{' || *s == '[')
            depth++;
        else if ((*s == '}' || *s == ']') && --depth == 0)
            done = true;
    }
    ck_assert_msg(done && !in_str, "unbalanced JSON");
}

static const char SLABINFO_HEADER[] =
    "slabinfo - version: 2.1\n"
    "# name            <active_objs> <num_objs> <objsize> <objperslab> "
    "<pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata "
    "<active_slabs> <num_slabs> <sharedavail>\n";

/* Checks every cache line and returns the pages the caches hold. */
static uint64_t slabinfo_pages(const char *text, int *nr_caches, bool *seen_conn)
{
    const char *line = text + strlen(SLABINFO_HEADER);
    uint64_t pages = 0;

    ck_assert_msg(strncmp(text, SLABINFO_HEADER, strlen(SLABINFO_HEADER)) == 0,
                  "slabinfo header differs:\n%s", text);
    *nr_caches = 0;
    *seen_conn = false;
    for (; *line; line = strchr(line, '\n') + 1) {
        const char *nl = strchr(line, '\n');
        char name[64], want[256];
        unsigned long long act, num, size, per, pps, t1, t2, t3, as, ns, sa;
        int fields;

        ck_assert_ptr_nonnull(nl);
        fields = sscanf(line, "%63s %llu %llu %llu %llu %llu : tunables %llu %llu "
                        "%llu : slabdata %llu %llu %llu", name, &act, &num, &size,
                        &per, &pps, &t1, &t2, &t3, &as, &ns, &sa);
        ck_assert_msg(fields == 12, "%d columns, want 12: %.*s", fields,
                      (int)(nl - line), line);
        snprintf(want, sizeof(want), "%-17s %6llu %6llu %6llu %4llu %4llu : "
                 "tunables %4llu %4llu %4llu : slabdata %6llu %6llu %6llu", name,
                 act, num, size, per, pps, t1, t2, t3, as, ns, sa);
        assert_line(line, (size_t)(nl - line), want);
        ck_assert_uint_eq(num, ns * per);
        ck_assert_uint_le(act, num);
        ck_assert_uint_le(as, ns);
        ck_assert_uint_le(per * size, pps * 4096);
        if (strcmp(name, "rmem_conn") == 0) {
            *seen_conn = true;
            ck_assert_uint_ge(act, 1);      /* rmemctl's own connection */
        }
        pages += ns * pps;
        (*nr_caches)++;
    }
    return pages;
}

START_TEST(test_slabinfo_format_and_pages_match_meminfo)
{
    static struct harness_run slab, mem;
    uint64_t pages = 0, slab_kb = 0;
    int nr_caches = 0;
    bool seen_conn = false;

    view(&slab, "info", NULL);          /* the first client's metadata */
    for (int attempt = 0; attempt < 3; attempt++) {
        view(&slab, "slabinfo", NULL);
        view(&mem, "meminfo", NULL);
        pages = slabinfo_pages(slab.out, &nr_caches, &seen_conn);
        slab_kb = meminfo_kb(mem.out, "Slab");
        if (pages * 4 == slab_kb)
            break;
    }
    ck_assert_msg(pages * 4 == slab_kb, "slabinfo caches hold %" PRIu64 " pages, "
                  "meminfo Slab %" PRIu64 " kB\n%s", pages, slab_kb, slab.out);
    ck_assert_int_ge(nr_caches, 17);    /* kmem_cache, mm_*, kmalloc-*, rmem_* */
    ck_assert(seen_conn);
    ck_assert_ptr_nonnull(strstr(slab.out, "\nkmalloc-8k "));
    ck_assert_ptr_nonnull(strstr(slab.out, "\nkmem_cache "));
    ck_assert_ptr_nonnull(strstr(slab.out, "\nrmem_session "));

    view(&slab, "slabinfo", "--json", NULL);
    assert_json(slab.out, '[');
    ck_assert_ptr_nonnull(strstr(slab.out, "{\"name\": \"rmem_tenant\", "
                                 "\"active_objs\": 1, "));
}
END_TEST

/* This machine's /proc/meminfo has them all, in this order. */
static const char *const MEMINFO_KEYS[] = {
    "MemTotal", "MemFree", "MemAvailable", "Cached", "SwapCached", "Active",
    "Inactive", "Active(anon)", "Inactive(anon)", "Active(file)",
    "Inactive(file)", "SwapTotal", "SwapFree", "Zswap", "Zswapped",
    "Writeback", "AnonPages", "Shmem", "KReclaimable", "Slab",
    "SReclaimable", "SUnreclaim", "PageTables", "VmallocUsed",
    "AnonHugePages",
};

#define NR_MEMINFO_KEYS (sizeof(MEMINFO_KEYS) / sizeof(MEMINFO_KEYS[0]))

/* Every line in the Linux format, the keys those above in their order,
 * and --json with the same keys in the same order and the same values -
 * but AnonHugePages', which khugepaged may change between the two. */
static void assert_meminfo_format(const char *text, const char *json)
{
    const char *line, *at = json;
    size_t k = 0;

    for (line = text; *line; line = strchr(line, '\n') + 1, k++) {
        const char *nl = strchr(line, '\n');
        char key[32], label[40], want[80];
        unsigned long long kb;

        ck_assert_ptr_nonnull(nl);
        ck_assert_uint_lt(k, sizeof(MEMINFO_KEYS) / sizeof(MEMINFO_KEYS[0]));
        ck_assert_msg(sscanf(line, "%31[^:]: %llu kB", key, &kb) == 2,
                      "not a meminfo line: %.*s", (int)(nl - line), line);
        ck_assert_str_eq(key, MEMINFO_KEYS[k]);
        /* fs/proc/meminfo.c: the name and colon padded to 16, 8 wide. */
        snprintf(label, sizeof(label), "%s:", key);
        snprintf(want, sizeof(want), "%-16s%8llu kB", label, kb);
        assert_line(line, (size_t)(nl - line), want);
    }
    ck_assert_uint_eq(k, NR_MEMINFO_KEYS);
    assert_json(json, '{');
    for (k = 0; k < NR_MEMINFO_KEYS; k++) {
        char pat[48];
        int n = snprintf(pat, sizeof(pat), "\"%s_kB\": ", MEMINFO_KEYS[k]);

        if (strcmp(MEMINFO_KEYS[k], "AnonHugePages") != 0)
            snprintf(pat + n, sizeof(pat) - (size_t)n, "%" PRIu64,
                     meminfo_kb(text, MEMINFO_KEYS[k]));
        at = strstr(at, pat);
        ck_assert_msg(at != NULL, "no %s, or out of order, in %s", pat, json);
    }
}

/* /proc/meminfo has the keys of MEMINFO_KEYS in that order too. */
static void assert_linux_order(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    size_t k = 0;

    ck_assert_ptr_nonnull(f);
    while (k < NR_MEMINFO_KEYS && fgets(line, sizeof(line), f))
        if (strncmp(line, MEMINFO_KEYS[k], strlen(MEMINFO_KEYS[k])) == 0 &&
            line[strlen(MEMINFO_KEYS[k])] == ':')
            k++;
    fclose(f);
    ck_assert_msg(k == NR_MEMINFO_KEYS, "/proc/meminfo lacks %s after the "
                  "keys before it", MEMINFO_KEYS[k]);
}

START_TEST(test_meminfo_format_and_agrees_with_info)
{
    static struct harness_run mem, info1, info2, js;
    uint64_t total, mfree, avail, slab, srec, sun, kv;

    assert_linux_order();
    view(&info1, "info", NULL);
    view(&mem, "meminfo", NULL);
    view(&info2, "info", NULL);
    view(&js, "--json", "meminfo", NULL);
    assert_meminfo_format(mem.out, js.out);

    total = meminfo_kb(mem.out, "MemTotal");
    mfree = meminfo_kb(mem.out, "MemFree");
    avail = meminfo_kb(mem.out, "MemAvailable");
    slab = meminfo_kb(mem.out, "Slab");
    srec = meminfo_kb(mem.out, "SReclaimable");
    sun = meminfo_kb(mem.out, "SUnreclaim");
    ck_assert_uint_eq(total * 1024, info_u64(info1.out, "pool_bytes"));
    ck_assert_uint_eq(total, 64 * 1024);
    ck_assert_msg(mfree * 1024 == info_u64(info1.out, "free_bytes") ||
                  mfree * 1024 == info_u64(info2.out, "free_bytes"),
                  "MemFree %" PRIu64 " kB, info free_bytes %" PRIu64 " / %" PRIu64,
                  mfree, info_u64(info1.out, "free_bytes"),
                  info_u64(info2.out, "free_bytes"));
    ck_assert_uint_eq(meminfo_kb(mem.out, "PageTables") * 1024,
                      info_u64(info2.out, "table_bytes"));
    ck_assert_uint_eq(meminfo_kb(mem.out, "AnonPages"), 0);    /* no segment yet */
    ck_assert_uint_eq(meminfo_kb(mem.out, "Shmem"), 0);
    ck_assert_uint_eq(meminfo_kb(mem.out, "SwapTotal"), 0);    /* no --swap */
    ck_assert_uint_eq(slab, srec + sun);
    ck_assert_uint_eq(meminfo_kb(mem.out, "KReclaimable"), srec);
    ck_assert_uint_gt(slab, 0);         /* the server's own metadata */
    /* Nothing but metadata is in use: every page is free, slab or a
     * kvmalloc run. */
    kv = meminfo_kb(mem.out, "VmallocUsed");
    ck_assert_uint_eq(mfree + slab + kv, total);
    ck_assert_uint_le(avail, mfree + srec);
    ck_assert_uint_gt(avail, 0);
}
END_TEST

/* THP mode as /sys/kernel/mm/transparent_hugepage/enabled marks it
 * ("[madvise]"), or "none" without THP in the kernel. */
static void thp_mode(char *mode, size_t len)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "", *open, *close;

    snprintf(mode, len, "none");
    if (!f)
        return;
    if (fgets(line, sizeof(line), f) && (open = strchr(line, '[')) &&
        (close = strchr(open, ']'))) {
        *close = '\0';
        snprintf(mode, len, "%s", open + 1);
    }
    fclose(f);
}

static rmem_client *client(void)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
}

static char *map_written(rmem_client *c, size_t len, int flags, const char *name)
{
    char *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE, flags, name, 0);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    memset(p, 0x5a, len);
    ck_assert_int_eq(rmem_msync(c, p, len, MS_SYNC), 0);
    return p;
}

/* 4 MiB anonymous and 2 MiB named on the server: AnonPages and Shmem (and
 * Cached), the LRU lists holding exactly them, and the 2 MiB Writes that
 * carried them in a receive buffer counted as VmallocUsed until the
 * client goes. */
START_TEST(test_meminfo_counts_pages_by_kind)
{
    static struct harness_run mem, js;
    rmem_client *c = client();
    uint64_t anon, shmem, total, huge, kv = 0;
    char *a, *n, mode[32];

    ck_assert_int_eq(rmem_segment_create(c, "views", 2 * MiB), 0);
    a = map_written(c, 4 * MiB, MAP_PRIVATE | MAP_ANONYMOUS, NULL);
    n = map_written(c, 2 * MiB, MAP_SHARED, "views");
    view(&mem, "meminfo", NULL);
    view(&js, "--json", "meminfo", NULL);
    assert_meminfo_format(mem.out, js.out);
    anon = meminfo_kb(mem.out, "AnonPages");
    shmem = meminfo_kb(mem.out, "Shmem");
    total = meminfo_kb(mem.out, "MemTotal");
    ck_assert_uint_eq(anon, 4096);
    ck_assert_uint_eq(shmem, 2048);
    ck_assert_uint_eq(meminfo_kb(mem.out, "Cached"), shmem);
    ck_assert_uint_eq(meminfo_kb(mem.out, "Active(anon)") +
                      meminfo_kb(mem.out, "Inactive(anon)"), anon);
    ck_assert_uint_eq(meminfo_kb(mem.out, "Active(file)") +
                      meminfo_kb(mem.out, "Inactive(file)"), shmem);
    ck_assert_uint_eq(meminfo_kb(mem.out, "Active"),
                      meminfo_kb(mem.out, "Active(anon)") +
                      meminfo_kb(mem.out, "Active(file)"));
    ck_assert_uint_eq(meminfo_kb(mem.out, "Inactive"),
                      meminfo_kb(mem.out, "Inactive(anon)") +
                      meminfo_kb(mem.out, "Inactive(file)"));
    ck_assert_uint_eq(meminfo_kb(mem.out, "Writeback"), 0);     /* no swap */
    /* The client's receive buffer grew to one 2 MiB Write frame. */
    ck_assert_uint_ge(meminfo_kb(mem.out, "VmallocUsed"), 2048);
    ck_assert_uint_eq(meminfo_kb(mem.out, "MemFree") + anon + shmem +
                      meminfo_kb(mem.out, "Slab") +
                      meminfo_kb(mem.out, "PageTables") +
                      meminfo_kb(mem.out, "VmallocUsed"), total);
    /* The arena is MADV_HUGEPAGE and 2 MiB aligned: with THP on for such
     * mappings, its written part is in huge pages. */
    huge = meminfo_kb(mem.out, "AnonHugePages");
    thp_mode(mode, sizeof(mode));
    ck_assert_uint_le(huge, total);
    ck_assert_uint_eq(huge % 2048, 0);
    if (strcmp(mode, "always") == 0 || strcmp(mode, "madvise") == 0)
        ck_assert_msg(huge > 0, "THP %s, and no huge page in the pool", mode);
    else
        ck_assert_uint_eq(huge, 0);

    ck_assert_int_eq(rmem_munmap(c, a, 4 * MiB), 0);
    ck_assert_int_eq(rmem_munmap(c, n, 2 * MiB), 0);
    rmem_disconnect(c);
    /* The connection closes on the server's own time. */
    for (int attempt = 0; attempt < 50; attempt++) {
        view(&mem, "meminfo", NULL);
        kv = meminfo_kb(mem.out, "VmallocUsed");
        if (kv == 0)
            break;
        usleep(20000);
    }
    ck_assert_uint_eq(kv, 0);
    ck_assert_uint_eq(meminfo_kb(mem.out, "AnonPages"), 0);
    ck_assert_uint_eq(meminfo_kb(mem.out, "Shmem"), 2048);     /* named: kept */
}
END_TEST

/* One zone's block: every line rebuilt from its numbers. */
START_TEST(test_zoneinfo_format_and_agrees_with_buddyinfo)
{
    static struct harness_run zone, bud, mem, js;
    static const char *const stat_keys[] = {
        "nr_free_pages", "numa_hit", "numa_miss", "numa_foreign",
        "numa_interleave", "numa_local", "numa_other",
    };
    const char *p;
    char want[512];
    unsigned long long free_pages, mn, lo, hi, sp, pr, ma, v;
    int node, zones = 0, nr_lines;
    char name[32];
    uint64_t managed_total = 0;

    view(&zone, "zoneinfo", NULL);
    view(&bud, "buddyinfo", "--json", NULL);
    view(&mem, "meminfo", NULL);
    for (p = zone.out; *p; zones++) {
        ck_assert_msg(sscanf(p, "Node %d, zone %31s\n", &node, name) == 2,
                      "zone block starts with: %.60s", p);
        snprintf(want, sizeof(want), "Node %d, zone %8s", node, name);
        assert_line(p, (size_t)(strchr(p, '\n') - p), want);
        p = strchr(p, '\n') + 1;
        if (strncmp(p, "  per-node stats\n", 17) == 0) {
            p += 17;
            for (nr_lines = 0; strncmp(p, "      ", 6) == 0; nr_lines++) {
                char key[40];

                ck_assert(sscanf(p, " %39s %llu", key, &v) == 2);
                snprintf(want, sizeof(want), "      %-12s %llu", key, v);
                assert_line(p, (size_t)(strchr(p, '\n') - p), want);
                if (strcmp(key, "nr_page_table_pages") == 0)
                    ck_assert_uint_eq(v * 4, meminfo_kb(mem.out, "PageTables"));
                p = strchr(p, '\n') + 1;
            }
            ck_assert_int_eq(nr_lines, 4);
        }
        ck_assert_int_eq(sscanf(p, "  pages free     %llu\n        boost    0\n"
                                "        min      %llu\n        low      %llu\n"
                                "        high     %llu\n        spanned  %llu\n"
                                "        present  %llu\n        managed  %llu\n",
                                &free_pages, &mn, &lo, &hi, &sp, &pr, &ma), 7);
        snprintf(want, sizeof(want), "  pages free     %llu\n        boost    0\n"
                 "        min      %llu\n        low      %llu\n"
                 "        high     %llu\n        spanned  %llu\n"
                 "        present  %llu\n        managed  %llu\n"
                 "        cma      0\n        protection: (0)\n",
                 free_pages, mn, lo, hi, sp, pr, ma);
        ck_assert_msg(strncmp(p, want, strlen(want)) == 0, "got:\n%.400s\nwant:\n%s",
                      p, want);
        p += strlen(want);
        ck_assert(mn <= lo && lo <= hi && hi < ma);
        ck_assert_uint_eq(json_u64(bud.out, "min_pages"), mn);
        ck_assert_uint_eq(json_u64(bud.out, "high_pages"), hi);
        ck_assert_uint_eq(json_u64(bud.out, "managed_pages"), ma);
        managed_total += ma;
        for (size_t i = 0; i < sizeof(stat_keys) / sizeof(stat_keys[0]); i++) {
            char key[40];

            ck_assert_msg(sscanf(p, " %39s %llu", key, &v) == 2, "at %.60s", p);
            ck_assert_str_eq(key, stat_keys[i]);
            snprintf(want, sizeof(want), "      %-12s %llu", key, v);
            assert_line(p, (size_t)(strchr(p, '\n') - p), want);
            if (i == 0)
                ck_assert_uint_eq(v, free_pages);
            p = strchr(p, '\n') + 1;
        }
        ck_assert_int_eq(sscanf(p, "  node_unreclaimable:  0\n  start_pfn:           "
                                "%llu\n", &v), 1);
        p = strchr(strchr(p, '\n') + 1, '\n') + 1;
    }
    ck_assert_int_ge(zones, 1);
    ck_assert_uint_eq(managed_total * 4, meminfo_kb(mem.out, "MemTotal"));

    view(&js, "zoneinfo", "--json", NULL);
    assert_json(js.out, '[');
    ck_assert_uint_eq(json_u64(js.out, "managed"), json_u64(bud.out, "managed_pages"));
}
END_TEST

START_TEST(test_numastat_table_and_identities)
{
    static struct harness_run num, zone, js;
    static const char *const rows[] = {
        "numa_hit", "numa_miss", "numa_foreign", "interleave_hit",
        "local_node", "other_node",
    };
    unsigned long long v[6][64];
    const char *p = NULL;
    char want[1200];
    int nodes = 0, off;

    for (int attempt = 0; attempt < 3; attempt++) {
        view(&num, "numastat", NULL);
        view(&zone, "zoneinfo", NULL);
        view(&num, "numastat", NULL);
        /* The count of allocations must not move between the two. */
        if (strstr(zone.out, "numa_hit") &&
            strtoull(strstr(zone.out, "numa_hit") + 8, NULL, 10) ==
            strtoull(strstr(num.out, "numa_hit") + 8, NULL, 10))
            break;
    }
    /* Header: 16 blanks, then "nodeN" right-aligned in 16 per node. */
    off = snprintf(want, sizeof(want), "%-16s", "");
    for (p = num.out; (p = strstr(p, "node")) && p < strchr(num.out, '\n'); p += 4) {
        char nm[16];
        int id;

        ck_assert_int_eq(sscanf(p, "node%d", &id), 1);
        snprintf(nm, sizeof(nm), "node%d", id);
        off += snprintf(want + off, sizeof(want) - (size_t)off, "%16s", nm);
        nodes++;
    }
    ck_assert_int_ge(nodes, 1);
    assert_line(num.out, (size_t)(strchr(num.out, '\n') - num.out), want);
    p = strchr(num.out, '\n') + 1;
    for (int r = 0; r < 6; r++) {
        char *end;

        ck_assert_msg(strncmp(p, rows[r], strlen(rows[r])) == 0, "row %d: %.40s", r, p);
        end = (char *)p + strlen(rows[r]);
        off = snprintf(want, sizeof(want), "%-16s", rows[r]);
        for (int n = 0; n < nodes; n++) {
            v[r][n] = strtoull(end, &end, 10);
            off += snprintf(want + off, sizeof(want) - (size_t)off, "%16llu", v[r][n]);
        }
        assert_line(p, (size_t)(strchr(p, '\n') - p), want);
        p = strchr(p, '\n') + 1;
    }
    ck_assert_str_eq(p, "");
    for (int n = 0; n < nodes; n++) {
        /* Each allocation is a hit or a miss, and local or other. */
        ck_assert_uint_eq(v[0][n] + v[1][n], v[4][n] + v[5][n]);
        ck_assert_uint_gt(v[0][n] + v[1][n], 0);    /* the metadata's slabs */
    }
    ck_assert_uint_eq(v[0][0], strtoull(strstr(zone.out, "numa_hit") + 8, NULL, 10));

    view(&js, "numastat", "--json", NULL);
    assert_json(js.out, '[');
    ck_assert_ptr_nonnull(strstr(js.out, "\"interleave_hit\": "));
}
END_TEST

START_TEST(test_views_refuse_arguments)
{
    static const char *const cmds[] = { "slabinfo", "meminfo", "zoneinfo", "numastat" };

    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char cmd[256];
        int rc;

        snprintf(cmd, sizeof(cmd), "%s -s %s %s extra >/dev/null 2>&1",
                 harness_path("rmemctl"), srv.addr, cmds[i]);
        rc = system(cmd);
        ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s extra: %d",
                      cmds[i], rc);
    }
}
END_TEST

Suite *rmemctl_views_suite(void)
{
    Suite *s = suite_create("rmemctl_views");
    TCase *tc = tcase_create("views");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_slabinfo_format_and_pages_match_meminfo);
    tcase_add_test(tc, test_meminfo_format_and_agrees_with_info);
    tcase_add_test(tc, test_meminfo_counts_pages_by_kind);
    tcase_add_test(tc, test_zoneinfo_format_and_agrees_with_buddyinfo);
    tcase_add_test(tc, test_numastat_table_and_identities);
    tcase_add_test(tc, test_views_refuse_arguments);
    suite_add_tcase(s, tc);
    return s;
}
