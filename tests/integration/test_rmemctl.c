/* rmemctl end to end: the real binary against a real rmemd, checked on
 * what an operator sees — /proc/buddyinfo's exact format, free blocks that
 * add up to the pool's free bytes, INFO keys, JSON that parses, and errors
 * that say why and exit non-zero.
 *
 * rmemctl runs as a child with PR_SET_PDEATHSIG, like the server, so a test
 * that fails or times out leaves neither behind. */
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


static struct rmemd srv;

static void start_server(void)
{
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "64M", NULL}), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}


/* Runs build/rmemctl with the given arguments (NULL-terminated). */
static void run_ctl(struct harness_run *r, ...)
{
    const char *argv[32];
    int n = 0;
    va_list ap;

    argv[n++] = harness_path("rmemctl");
    va_start(ap, r);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(r, argv), 0);
}

/* The value of "key: value" in INFO text; fails the test when absent. */
static uint64_t info_u64(const char *text, const char *key)
{
    char pat[128];
    const char *p;
    size_t klen;

    klen = (size_t)snprintf(pat, sizeof(pat), "%s: ", key);
    for (p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, pat, klen) == 0)
            return strtoull(p + klen, NULL, 10);
    ck_abort_msg("info has no key %s:\n%s", key, text);
    return 0;
}

/* Parses buddyinfo text, checks every line is byte for byte what Linux's
 * frag_show_print() would print for the same numbers, and returns the free
 * bytes it describes.  *zones counts the lines. */
static uint64_t buddyinfo_free_bytes(const char *text, uint64_t page_size,
                                     int *zones)
{
    uint64_t bytes = 0;
    const char *line = text;

    *zones = 0;
    while (*line) {
        const char *nl = strchr(line, '\n');
        char zone[32], again[512], *end;
        unsigned long long cnt[32];
        int node, off = 0, orders = 0;
        size_t len;

        ck_assert_msg(nl != NULL, "buddyinfo: unterminated line: %s", line);
        len = (size_t)(nl - line);
        ck_assert_msg(sscanf(line, "Node %d, zone %31s%n", &node, zone, &off) == 2,
                      "not a buddyinfo line: %.*s", (int)len, line);
        end = (char *)line + off;
        while (end < nl) {
            char *p = end;

            cnt[orders] = strtoull(p, &end, 10);
            if (end == p)
                break;
            ck_assert_int_lt(++orders, 32);
        }
        ck_assert_msg(orders >= 11, "%d counts, want 11: %.*s", orders, (int)len, line);

        /* mm/vmstat.c: "Node %d, zone %8s " then "%6lu " per order. */
        off = snprintf(again, sizeof(again), "Node %d, zone %8s ", node, zone);
        for (int o = 0; o < orders; o++) {
            off += snprintf(again + off, sizeof(again) - (size_t)off, "%6llu ", cnt[o]);
            bytes += cnt[o] * (page_size << o);
        }
        ck_assert_msg(strlen(again) == len && strncmp(again, line, len) == 0,
                      "buddyinfo line differs from /proc/buddyinfo format:\n"
                      "got  '%.*s'\nwant '%s'", (int)len, line, again);
        (*zones)++;
        line = nl + 1;
    }
    return bytes;
}

/* JSON-ish: one value starting with { or [, brackets balanced outside
 * strings, nothing after it but whitespace. */
static void assert_json(const char *s, char open)
{
    int depth = 0;
    bool in_str = false, done = false;

    while (*s == ' ' || *s == '\n')
        s++;
    ck_assert_msg(*s == open, "JSON should start with %c: %s", open, s);
    for (; *s; s++) {
        if (done) {
            ck_assert_msg(*s == ' ' || *s == '\n', "text after the JSON value: %s", s);
            continue;
        }
        if (in_str) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                in_str = false;
            continue;
        }
        switch (*s) {
        case '"': in_str = true; break;
        case '{': case '[': depth++; break;
        case '}': case ']':
            ck_assert_int_gt(depth, 0);
            if (--depth == 0)
                done = true;
            break;
        }
    }
    ck_assert_msg(done && !in_str, "unbalanced JSON");
}

START_TEST(test_buddyinfo_is_proc_format_and_sums_to_free_bytes)
{
    static struct harness_run info, bud;
    uint64_t page_size = 0, free_bytes = 0, listed = 0, pool;
    int zones = 0;

    /* The first connection may allocate server metadata; after it the
     * pool stands still, but allow two retries for a moving figure. */
    run_ctl(&info, "-s", srv.addr, "info", NULL);
    ck_assert_msg(info.status == 0, "info: %s", info.err);
    for (int attempt = 0; attempt < 3; attempt++) {
        run_ctl(&bud, "-s", srv.addr, "buddyinfo", NULL);
        ck_assert_msg(bud.status == 0, "buddyinfo exited %d: %s", bud.status, bud.err);
        run_ctl(&info, "-s", srv.addr, "info", NULL);
        ck_assert_msg(info.status == 0, "info: %s", info.err);
        page_size = info_u64(info.out, "page_size_bytes");
        free_bytes = info_u64(info.out, "free_bytes");
        listed = buddyinfo_free_bytes(bud.out, page_size, &zones);
        if (listed == free_bytes)
            break;
    }
    ck_assert_uint_eq(page_size, 4096);
    ck_assert_int_ge(zones, 1);
    ck_assert_uint_eq((uint64_t)zones, info_u64(info.out, "zones"));
    ck_assert_msg(listed == free_bytes, "buddyinfo lists %" PRIu64 " free bytes, "
                  "info says free_bytes: %" PRIu64 "\n%s", listed, free_bytes, bud.out);
    pool = info_u64(info.out, "pool_bytes");
    ck_assert_uint_eq(pool, 64ull << 20);
    ck_assert_uint_le(free_bytes, pool);
}
END_TEST

START_TEST(test_info_has_every_key)
{
    static const char *const keys[] = {
        "uptime_seconds", "page_size_bytes", "numa_nodes", "zones", "pool_bytes",
        "free_bytes", "used_bytes", "table_bytes", "tenants", "segments",
        "connections", "total_connections", "requests", "pages_read",
        "pages_written", "bytes_in", "bytes_out", "bad_frames",
    };
    static struct harness_run r;
    const char *line;

    run_ctl(&r, "-s", srv.addr, "info", NULL);
    ck_assert_msg(r.status == 0, "info exited %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.out, "version: ") != NULL, "no version:\n%s", r.out);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        (void)info_u64(r.out, keys[i]);
    ck_assert_uint_ge(info_u64(r.out, "connections"), 1);   /* this one */
    ck_assert_uint_ge(info_u64(r.out, "numa_nodes"), 1);
    /* Every line is a "# Section", blank, or "key: value". */
    for (line = r.out; *line; line = strchr(line, '\n') + 1) {
        const char *colon = strchr(line, ':');
        const char *nl = strchr(line, '\n');

        ck_assert_ptr_nonnull(nl);
        if (*line == '#' || *line == '\n')
            continue;
        ck_assert_msg(colon && colon < nl && colon[1] == ' ',
                      "not a key: value line: %.*s", (int)(nl - line), line);
    }
}
END_TEST

START_TEST(test_json_output_parses)
{
    static struct harness_run r;

    run_ctl(&r, "-s", srv.addr, "--json", "info", NULL);
    ck_assert_msg(r.status == 0, "--json info exited %d: %s", r.status, r.err);
    assert_json(r.out, '{');
    ck_assert_ptr_nonnull(strstr(r.out, "\"pool_bytes\": 67108864"));
    ck_assert_ptr_nonnull(strstr(r.out, "\"version\": \""));
    ck_assert_ptr_nonnull(strstr(r.out, "\"bad_frames\": "));

    run_ctl(&r, "-s", srv.addr, "buddyinfo", "--json", NULL);
    ck_assert_msg(r.status == 0, "buddyinfo --json exited %d: %s", r.status, r.err);
    assert_json(r.out, '[');
    ck_assert_ptr_nonnull(strstr(r.out, "\"free_per_order\": ["));
    ck_assert_ptr_nonnull(strstr(r.out, "\"zone\": \""));
}
END_TEST

START_TEST(test_errors_exit_nonzero_with_reason)
{
    static struct harness_run r;
    char dead[64];

    /* Nothing listens on the server's port once it is stopped. */
    snprintf(dead, sizeof(dead), "%s", srv.addr);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
    run_ctl(&r, "-s", dead, "info", NULL);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "refused") != NULL, "no reason given: '%s'", r.err);
    ck_assert_str_eq(r.out, "");
    start_server();             /* for the fixture's stop */

    run_ctl(&r, "-s", "no-port-here", "info", NULL);
    ck_assert_int_ne(r.status, 0);
    ck_assert_msg(strstr(r.err, "no-port-here") != NULL, "stderr: '%s'", r.err);

    run_ctl(&r, "-s", srv.addr, "frobnicate", NULL);
    ck_assert_int_eq(r.status, 2);
    ck_assert_msg(strstr(r.err, "unknown command") != NULL, "stderr: '%s'", r.err);

    run_ctl(&r, "-s", srv.addr, NULL);
    ck_assert_int_eq(r.status, 2);

    run_ctl(&r, "--no-such-option", "info", NULL);
    ck_assert_int_eq(r.status, 2);

    run_ctl(&r, "-s", srv.addr, "info", "extra", NULL);
    ck_assert_int_eq(r.status, 2);

    run_ctl(&r, "--help", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "buddyinfo"));
}
END_TEST

Suite *rmemctl_suite(void)
{
    Suite *s = suite_create("rmemctl");
    TCase *tc = tcase_create("rmemctl");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_buddyinfo_is_proc_format_and_sums_to_free_bytes);
    tcase_add_test(tc, test_info_has_every_key);
    tcase_add_test(tc, test_json_output_parses);
    tcase_add_test(tc, test_errors_exit_nonzero_with_reason);
    suite_add_tcase(s, tc);
    return s;
}
