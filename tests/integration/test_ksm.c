/* KSM through rmemd, librmem and rmemctl: a client writes 1000 identical
 * pages into a MADV_MERGEABLE mapping and writes them back to the server
 * (msync MS_INVALIDATE); `rmemctl ksm on`; once `rmemctl --json ksm stat`
 * shows two full scans the pages are merged (pages_sharing) and the
 * tenant's memory.usage_in_bytes dropped by exactly the pages saved.  The
 * client then writes other data over some pages and everything reads
 * back right; a second tenant with the same pattern merges among its own
 * pages only, each tenant charged for itself; MADV_UNMERGEABLE and
 * `rmemctl ksm unmerge` give private copies back; `ksm off` stops the
 * scan.  Options: --ksm on starts it with the step sizes given, a
 * reload applies changed ones; bad values exit 2.  Waits are bounded polls; nothing times anything. */
#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define PAGE 4096ul
#define NPAGES 1000ul
#define KSM_MAX_SHARING 256ul           /* rmemd's max_page_sharing */

static struct rmemd srv;

/* build/rmemctl -s SERVER ARGS... (NULL-terminated). */
static struct harness_run *ctl(const char *first, ...)
{
    static struct harness_run r;
    const char *argv[40];
    int n = 0;
    va_list ap;

    argv[n++] = harness_path("rmemctl");
    argv[n++] = "-s";
    argv[n++] = srv.addr;
    argv[n++] = first;
    va_start(ap, first);
    while (n < 39 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(&r, argv), 0);
    ck_assert_msg(r.status == 0, "rmemctl %s: exit %d: %s", first, r.status, r.err);
    return &r;
}

static int64_t json_i64(const char *json, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, json);
    return strtoll(p + strlen(pat), NULL, 10);
}

/* One counter of `rmemctl --json ksm stat`. */
static uint64_t ksm_stat(const char *key)
{
    struct harness_run *r = ctl("--json", "ksm", "stat", NULL);

    return (uint64_t)json_i64(r->out, key);
}

/* Waits (bounded) until `more` further full scans are done. */
static void wait_full_scans(uint64_t more)
{
    uint64_t want = ksm_stat("full_scans") + more;

    for (int i = 0; i < 600 && ksm_stat("full_scans") < want; i++)
        usleep(50 * 1000);
    ck_assert_uint_ge(ksm_stat("full_scans"), want);
}

static uint64_t cgroup_u64(const char *tenant, const char *key)
{
    return strtoull(ctl("cgroup", "get", tenant, key, NULL)->out, NULL, 10);
}

/* ksm_merging_pages of the tenant's memory.stat. */
static uint64_t merging_pages(const char *tenant)
{
    const char *out = ctl("cgroup", "get", tenant, "memory.stat", NULL)->out;
    const char *p = strstr(out, "ksm_merging_pages ");

    ck_assert_msg(p != NULL, "memory.stat lacks ksm_merging_pages: %s", out);
    return strtoull(p + strlen("ksm_merging_pages "), NULL, 10);
}

static rmem_client *connect_as(const char *tenant)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.tenant = tenant;
    o.token = NULL;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect as %s: %s", tenant, strerror(errno));
    return c;
}

/* The pattern every page of the test shares; page i of "other" data. */
static void fill_pattern(char *page)
{
    for (size_t i = 0; i < PAGE; i++)
        page[i] = (char)("rmem-ksm"[i % 8] ^ (i / 8));
}

static void fill_other(char *page, size_t i)
{
    memset(page, 0, PAGE);
    snprintf(page, PAGE, "page %zu was written after merging", i);
}

/* n pages of the pattern in a new mergeable mapping, written back to the
 * server and dropped here. */
static char *map_pattern(rmem_client *c, size_t n)
{
    char *p = rmem_mmap(c, NULL, n * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

    ck_assert_ptr_ne(p, MAP_FAILED);
    ck_assert_int_eq(rmem_madvise(c, p, n * PAGE, MADV_MERGEABLE), 0);
    for (size_t i = 0; i < n; i++)
        fill_pattern(p + i * PAGE);
    ck_assert_int_eq(rmem_msync(c, p, n * PAGE, MS_SYNC | MS_INVALIDATE), 0);
    return p;
}

static void check_pages(rmem_client *c, char *p, size_t n, size_t changed)
{
    char want[PAGE];

    ck_assert_int_eq(rmem_msync(c, p, n * PAGE, MS_SYNC | MS_INVALIDATE), 0);
    for (size_t i = 0; i < n; i++) {
        if (i < changed)
            fill_other(want, i);
        else
            fill_pattern(want);
        ck_assert_msg(memcmp(p + i * PAGE, want, PAGE) == 0,
                      "page %zu reads back wrong", i);
    }
}

START_TEST(test_ksm_merges_a_tenants_pages)
{
    const size_t changed = 10;
    uint64_t usage0, shared, sharing, usage;
    rmem_client *c, *c2;
    char *p, *p2;

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "64M",
                                 "--session-grace", "0", NULL}), 0);
    ck_assert_uint_eq(ksm_stat("run"), 0);              /* off, as Linux */
    c = connect_as("default");
    p = map_pattern(c, NPAGES);
    usage0 = cgroup_u64("default", "memory.usage_in_bytes");
    ck_assert_uint_ge(usage0, NPAGES * PAGE);
    ck_assert_uint_eq(ksm_stat("mergeable_segments"), 1);

    ck_assert_str_eq(ctl("ksm", "on", NULL)->out, "run 1\n");
    wait_full_scans(2);
    shared = ksm_stat("pages_shared");
    sharing = ksm_stat("pages_sharing");
    printf("ksm: %lu identical pages -> pages_shared %llu, pages_sharing %llu, "
           "general_profit %lld\n", NPAGES, (unsigned long long)shared,
           (unsigned long long)sharing,
           (long long)json_i64(ctl("--json", "ksm", "stat", NULL)->out,
                               "general_profit"));
    ck_assert_uint_gt(sharing, 0);
    ck_assert_uint_eq(shared + sharing, NPAGES);
    ck_assert_uint_eq(shared, (NPAGES + KSM_MAX_SHARING - 1) / KSM_MAX_SHARING);
    usage = cgroup_u64("default", "memory.usage_in_bytes");
    ck_assert_uint_eq(usage, usage0 - sharing * PAGE);
    ck_assert_uint_eq(merging_pages("default"), NPAGES);

    /* different data over some pages: copies for those, the rest intact */
    for (size_t i = 0; i < changed; i++)
        fill_other(p + i * PAGE, i);
    check_pages(c, p, NPAGES, changed);
    ck_assert_uint_eq(ksm_stat("pages_shared") + ksm_stat("pages_sharing"),
                      NPAGES - changed);
    ck_assert_uint_eq(cgroup_u64("default", "memory.usage_in_bytes"),
                      usage + changed * PAGE);

    /* another tenant, the same pattern: merged among its own pages only */
    ck_assert_int_eq(ctl("tenant", "create", "other", NULL)->status, 0);
    c2 = connect_as("other");
    p2 = map_pattern(c2, 100);
    wait_full_scans(2);
    ck_assert_uint_eq(ksm_stat("pages_shared"), shared + 1);
    ck_assert_uint_eq(cgroup_u64("other", "memory.usage_in_bytes"), PAGE);
    ck_assert_uint_eq(merging_pages("other"), 100);
    ck_assert_uint_eq(merging_pages("default"), NPAGES - changed);
    ck_assert_uint_eq(cgroup_u64("default", "memory.usage_in_bytes"),
                      usage + changed * PAGE);
    check_pages(c2, p2, 100, 0);

    /* MADV_UNMERGEABLE: that tenant's pages are its own again, charged */
    ck_assert_int_eq(rmem_madvise(c2, p2, 100 * PAGE, MADV_UNMERGEABLE), 0);
    ck_assert_uint_eq(merging_pages("other"), 0);
    ck_assert_uint_eq(cgroup_u64("other", "memory.usage_in_bytes"), 100 * PAGE);
    ck_assert_uint_eq(ksm_stat("pages_shared"), shared);
    check_pages(c2, p2, 100, 0);

    /* off: the scan stops, merged pages stay merged */
    ck_assert_str_eq(ctl("ksm", "off", NULL)->out, "run 0\n");
    ck_assert(strstr(ctl("ksm", "stat", NULL)->out, "\nrun 0\n") != NULL);
    ck_assert_uint_eq(ksm_stat("pages_shared"), shared);
    /* unmerge: every page private again */
    ck_assert_str_eq(ctl("ksm", "unmerge", NULL)->out, "run 2\n");
    ck_assert_uint_eq(ksm_stat("pages_shared"), 0);
    ck_assert_uint_eq(ksm_stat("pages_sharing"), 0);
    ck_assert_uint_eq(merging_pages("default"), 0);
    ck_assert_uint_ge(cgroup_u64("default", "memory.usage_in_bytes"),
                      NPAGES * PAGE);
    check_pages(c, p, NPAGES, changed);

    rmem_disconnect(c2);
    rmem_disconnect(c);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* --ksm on runs from the start with the step sizes given; `ksm stat`
 * prints one `name value` line per counter. */
START_TEST(test_ksm_options)
{
    const char *out;

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "16M", "--ksm",
                                 "on", "--ksm-pages-to-scan", "500",
                                 "--ksm-sleep-ms", "5", NULL}), 0);
    out = ctl("ksm", "stat", NULL)->out;
    ck_assert_msg(strstr(out, "\nrun 1\n") && strstr(out, "pages_to_scan 500\n") &&
                  strstr(out, "sleep_millisecs 5\n") &&
                  strstr(out, "max_page_sharing 256\n") &&
                  strncmp(out, "full_scans ", 11) == 0 &&
                  strstr(out, "\ngeneral_profit "), "ksm stat: %s", out);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

static char conf[] = "/tmp/rmem-ksm-conf-XXXXXX";

/* Unchecked fixtures run in the runner's process: the file goes even
 * when a test dies. */
static void conf_create(void)
{
    int fd = mkstemp(conf);

    ck_assert_int_ge(fd, 0);
    close(fd);
}

static void conf_remove(void)
{
    unlink(conf);
}

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* The three options reload: a changed --ksm switches the run state, the
 * step sizes apply; an unchanged --ksm leaves what rmemctl set. */
START_TEST(test_ksm_options_reload)
{
    write_conf("pool 16M\nksm off\n");
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"-c", conf, NULL}), 0);
    ck_assert_uint_eq(ksm_stat("run"), 0);
    ck_assert_uint_eq(ksm_stat("pages_to_scan"), 100);
    ck_assert_uint_eq(ksm_stat("sleep_millisecs"), 20);
    write_conf("pool 16M\nksm on\nksm-pages-to-scan 300\nksm-sleep-ms 7\n");
    ck_assert_str_eq(ctl("reload", NULL)->out, "reloaded: 3 options changed\n");
    ck_assert_uint_eq(ksm_stat("run"), 1);
    ck_assert_uint_eq(ksm_stat("pages_to_scan"), 300);
    ck_assert_uint_eq(ksm_stat("sleep_millisecs"), 7);
    ctl("ksm", "off", NULL);
    ctl("reload", NULL);                /* --ksm unchanged: stays off */
    ck_assert_uint_eq(ksm_stat("run"), 0);
    ctl("ksm", "on", NULL);
    write_conf("pool 16M\nksm off\nksm-pages-to-scan 300\nksm-sleep-ms 7\n");
    ctl("reload", NULL);
    ck_assert_uint_eq(ksm_stat("run"), 0);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

static int rmemd_exit_status(const char *const *argv)
{
    struct harness_run r;

    ck_assert_int_eq(harness_run(&r, argv), 0);
    return r.status;
}

START_TEST(test_ksm_bad_options)
{
    const char *rmemd = harness_path("rmemd");

    ck_assert_int_eq(rmemd_exit_status((const char *[]){rmemd, "--ksm", "maybe",
                                                        NULL}), 2);
    ck_assert_int_eq(rmemd_exit_status((const char *[]){rmemd, "--ksm-sleep-ms",
                                                        "0", NULL}), 2);
    ck_assert_int_eq(rmemd_exit_status((const char *[]){rmemd,
                                                        "--ksm-pages-to-scan",
                                                        "x", NULL}), 2);
}
END_TEST

Suite *ksm_integration_suite(void)
{
    Suite *s = suite_create("ksm_integration");
    TCase *tc = tcase_create("ksm");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ksm_merges_a_tenants_pages);
    tcase_add_test(tc, test_ksm_options);
    tcase_add_test(tc, test_ksm_bad_options);
    suite_add_tcase(s, tc);
    tc = tcase_create("reload");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, conf_create, conf_remove);
    tcase_add_test(tc, test_ksm_options_reload);
    suite_add_tcase(s, tc);
    return s;
}
