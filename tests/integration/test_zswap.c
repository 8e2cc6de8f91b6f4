/* zswap through rmemd: a librmem client (16 MiB local limit) writes 200 MiB
 * through a 64 MiB pool with a 256 MiB swap file, once with `--zswap off`
 * and once with zswap on (the default), and reads every page back intact.
 * Half-text pages (2 KiB of words, 2 KiB of zeros) mostly stay compressed
 * in the pool: `rmemctl swapinfo --json` shows zswap's stored pages, the
 * file holds fewer pages than without zswap, and meminfo's Zswap and
 * Zswapped agree with zswapinfo's figures.  Random pages do not compress
 * and go to the file (reject_compress_poor).  100 MiB of text fits in the
 * pool and zswap, and reads back from zswap (zswpin).  The text views:
 * swapinfo is /proc/swaps and nothing more, zswapinfo the debugfs files,
 * meminfo the swap keys.  Each run prints its figures (times are printed,
 * never asserted).  Bad zswap options exit 2. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

enum content { TEXT, RANDOM };

static char dir[64];
static char swap_path[128];
static char swap_arg[160];

static void make_dir(void)
{
    strcpy(dir, "/tmp/rmem-zswap-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(swap_path, sizeof(swap_path), "%s/swapfile", dir);
}

/* Unchecked: runs after a failed test too, when rmemd left its file. */
static void remove_dir(void)
{
    unlink(swap_path);
    rmdir(dir);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Page idx of a kind, the same every time it is asked for. */
static void fill(char *page, uint64_t idx, enum content kind)
{
    static const char *const words[] = {
        "memory ", "page ", "the ", "swap ", "of ", "tenant ", "a ", "zone ",
    };
    uint64_t s = idx * 0x9e3779b97f4a7c15ull + 1;
    size_t len;

    if (kind == RANDOM) {
        for (size_t i = 0; i < PAGE; i += 8) {
            uint64_t v = next_rand(&s);

            memcpy(page + i, &v, 8);
        }
        return;
    }
    len = (size_t)snprintf(page, PAGE / 2, "page %llu:", (unsigned long long)idx);
    while (len < PAGE / 2 - 8) {
        const char *w = words[next_rand(&s) % 8];

        memcpy(page + len, w, strlen(w));
        len += strlen(w);
    }
    memset(page + len, 0, PAGE - len);
}

/* stdout of `rmemctl -s ADDR args...` into out. */
static int ctl(const struct rmemd *d, const char *args, char *out, size_t cap)
{
    char cmd[512];
    size_t len = 0, n;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "%s -s %s %s", harness_path("rmemctl"), d->addr, args);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (len < cap - 1 && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    return pclose(p);
}

static uint64_t json_u64(const char *json, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    p = strstr(json, pat);
    ck_assert_msg(p != NULL, "no %s in %s", key, json);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* "Key:   N kB" of meminfo text, in kB. */
static uint64_t meminfo_kb(const char *text, const char *key)
{
    size_t klen = strlen(key);

    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, key, klen) == 0 && p[klen] == ':')
            return strtoull(p + klen + 1, NULL, 10);
    ck_abort_msg("no %s in:\n%s", key, text);
    return 0;
}

/* meminfo's Zswap and Zswapped are zswapinfo's pool_total_size and
 * stored_pages; read between two meminfos that agree, as background
 * reclaim may still be storing. */
static void assert_meminfo_zswap(const struct rmemd *d)
{
    char mem1[4096], mem2[4096], zs[4096];

    for (int attempt = 0; attempt < 20; attempt++) {
        ck_assert_int_eq(ctl(d, "meminfo", mem1, sizeof(mem1)), 0);
        ck_assert_int_eq(ctl(d, "--json zswapinfo", zs, sizeof(zs)), 0);
        ck_assert_int_eq(ctl(d, "meminfo", mem2, sizeof(mem2)), 0);
        if (strcmp(mem1, mem2) == 0)
            break;
        usleep(50000);
    }
    ck_assert_str_eq(mem1, mem2);
    ck_assert_uint_eq(meminfo_kb(mem1, "Zswap"), json_u64(zs, "pool_total_size") / 1024);
    ck_assert_uint_eq(meminfo_kb(mem1, "Zswapped"), json_u64(zs, "stored_pages") * PAGE / 1024);
    ck_assert_uint_eq(meminfo_kb(mem1, "SwapTotal"), 256 * 1024);
}

struct run {
    uint64_t slots_used;        /* swap slots taken after the writes */
    uint64_t zswap_pages;       /* of those, held by zswap */
    uint64_t file_pages;        /* of those, held by the file */
    uint64_t pswpout, reject_poor, written_back, zswpin;
    double t_write, t_read;
};

/* mib MiB of kind through rmemd --pool 64M --swap FILE:256M --zswap on|off. */
static void run_through(enum content kind, bool zswap, size_t mib, struct run *r)
{
    const size_t len = mib * MiB, npages = len / PAGE;
    static char want[PAGE];
    char out[8192];
    struct rmemd d;
    rmem_options o;
    rmem_client *c;
    double t0;
    char *p;

    snprintf(swap_arg, sizeof(swap_arg), "%s:256M", swap_path);
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "64M", "--swap",
                                                      swap_arg, "--zswap",
                                                      zswap ? "on" : "off",
                                                      NULL}), 0);
    rmem_options_init(&o);
    o.server = d.addr;
    o.local_limit = 16 * MiB;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  NULL, 0);
    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));

    t0 = now_s();
    for (size_t i = 0; i < npages; i++)
        fill(p + i * PAGE, i, kind);
    r->t_write = now_s() - t0;

    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    r->slots_used = json_u64(out, "used_bytes") / PAGE;
    r->zswap_pages = json_u64(out, "stored_pages");
    r->file_pages = r->slots_used - r->zswap_pages;
    r->reject_poor = json_u64(out, "reject_compress_poor");
    ck_assert_uint_gt(r->slots_used, 0);
    ck_assert_uint_le(json_u64(out, "pool_total_size"),
                      json_u64(out, "max_pool_bytes"));
    ck_assert(strstr(out, zswap ? "\"enabled\": true" : "\"enabled\": false"));
    if (!zswap)
        ck_assert_uint_eq(r->zswap_pages, 0);
    assert_meminfo_zswap(&d);

    t0 = now_s();
    for (size_t i = 0; i < npages; i++) {
        fill(want, i, kind);
        ck_assert_msg(memcmp(p + i * PAGE, want, PAGE) == 0,
                      "page %zu lost its contents", i);
    }
    r->t_read = now_s() - t0;

    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    r->pswpout = json_u64(out, "pswpout");
    r->written_back = json_u64(out, "written_back_pages");
    r->zswpin = json_u64(out, "zswpin");
    ck_assert_uint_eq(json_u64(out, "swap_io_errors"), 0);
    ck_assert_uint_eq(json_u64(out, "zswpwb"), r->written_back);
    printf("zswap %s, %s pages: %zu MiB through a 64 MiB pool: write %.2f s, "
           "read+verify %.2f s; after the writes %llu slots used, %llu in zswap "
           "(pool_total_size %llu KiB), %llu in the file; pswpout %llu, "
           "written back %llu, reject_compress_poor %llu, zswpin %llu, "
           "pswpin %llu\n", zswap ? "on" : "off", kind == TEXT ? "half-text" :
           "random", mib, r->t_write, r->t_read, (unsigned long long)r->slots_used,
           (unsigned long long)r->zswap_pages,
           (unsigned long long)json_u64(out, "pool_total_size") / 1024,
           (unsigned long long)r->file_pages, (unsigned long long)r->pswpout,
           (unsigned long long)r->written_back, (unsigned long long)r->reject_poor,
           (unsigned long long)json_u64(out, "zswpin"),
           (unsigned long long)json_u64(out, "pswpin"));

    /* Unmapping frees every slot and every zswap entry. */
    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "used_bytes"), 0);
    ck_assert_uint_eq(json_u64(out, "stored_pages"), 0);
    ck_assert_uint_eq(json_u64(out, "pool_total_size"), 0);
    rmem_disconnect(c);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}

START_TEST(test_text_pages_stay_compressed)
{
    struct run off, on;
    struct rmemd d;
    char out[8192], want[512];

    run_through(TEXT, false, 200, &off);
    run_through(TEXT, true, 200, &on);
    ck_assert_uint_gt(on.zswap_pages, 0);
    ck_assert_uint_lt(on.file_pages, off.file_pages);
    ck_assert_uint_lt(on.pswpout, off.pswpout);
    ck_assert_uint_eq(on.reject_poor, 0);

    /* The text views: /proc/swaps and nothing else; zswap's files as
     * debugfs has them (ls order), its parameters and events; meminfo's
     * swap keys. */
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "16M", "--swap",
                                                      swap_arg, NULL}), 0);
    ck_assert_int_eq(ctl(&d, "swapinfo", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "Filename\t\t\t\tType\t\tSize\t\tUsed\t\t"
             "Priority\n%s%*sfile\t\t262144\t\t0\t\t-2\n", swap_path,
             (int)(strlen(swap_path) < 40 ? 40 - strlen(swap_path) : 1), " ");
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(ctl(&d, "zswapinfo", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "pool_limit_hit 0\npool_total_size 0\n"
                     "reject_alloc_fail 0\nreject_compress_poor 0\n"
                     "reject_kmemcache_fail 0\nreject_reclaim_fail 0\n"
                     "same_filled_pages 0\nstored_pages 0\n"
                     "written_back_pages 0\nenabled Y\nmax_pool_percent 20\n"
                     "max_pool_bytes 3355443\nzswpin 0\nzswpout 0\nzswpwb 0\n");
    ck_assert_int_eq(ctl(&d, "--json zswapinfo", out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "{\"enabled\": true, \"max_pool_percent\": 20, ") == out &&
                  strstr(out, ", \"zswpwb\": 0}\n"), "%s", out);
    ck_assert_int_eq(ctl(&d, "meminfo", out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "\nSwapTotal:        262144 kB\n"
                         "SwapFree:         262144 kB\n"
                         "Zswap:                 0 kB\n"
                         "Zswapped:              0 kB\n"), "%s", out);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(test_random_pages_go_to_file)
{
    struct run r;

    run_through(RANDOM, _i == 1, 200, &r);
    ck_assert_uint_eq(r.zswap_pages, 0);
    if (_i == 1)
        ck_assert_uint_gt(r.reject_poor, 0);
    else
        ck_assert_uint_eq(r.reject_poor, 0);
}
END_TEST

/* 100 MiB: what the pool does not hold fits in zswap, and the forward
 * read-back finds it there (200 MiB read forward finds every early page
 * written back: zswap keeps the newest). */
START_TEST(test_reads_come_from_zswap)
{
    struct run r;

    run_through(TEXT, true, 100, &r);
    ck_assert_uint_gt(r.zswap_pages, 0);
    ck_assert_uint_gt(r.zswpin, 0);
}
END_TEST

static int rmemd_exit_status(const char *const *args)
{
    const char *argv[16] = {harness_path("rmemd"), "--listen", "127.0.0.1:0"};
    struct harness_run *r = malloc(sizeof(*r));
    unsigned n = 3;
    int status;

    ck_assert_ptr_nonnull(r);
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(r, argv), 0);
    status = r->status;
    free(r);
    return status;
}

START_TEST(test_bad_zswap_options_exit_2)
{
    ck_assert_int_eq(rmemd_exit_status((const char *[]){"--zswap", "maybe", NULL}), 2);
    ck_assert_int_eq(rmemd_exit_status((const char *[]){"--zswap-max-pool-percent",
                                                        "101", NULL}), 2);
}
END_TEST

START_TEST(test_options_shown_and_no_swap_no_zswap)
{
    struct rmemd d;
    char out[4096];
    int status;

    snprintf(swap_arg, sizeof(swap_arg), "%s:8M", swap_path);
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "16M", "--swap",
                                                      swap_arg, "--zswap", "off",
                                                      "--zswap-max-pool-percent",
                                                      "5", NULL}), 0);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "\"zswap\": {\"enabled\": false, "
                         "\"max_pool_percent\": 5, "), "%s", out);
    ck_assert_int_eq(rmemd_stop(&d), 0);
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "16M", NULL}), 0);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_msg(!strstr(out, "zswap"), "%s", out);
    status = ctl(&d, "zswapinfo 2>/dev/null", out, sizeof(out));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1 && !out[0],
                  "zswapinfo without a swap file: status %d, %s", status, out);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

Suite *zswap_integration_suite(void)
{
    Suite *s = suite_create("zswap_integration");
    TCase *tc = tcase_create("rmemd");

    tcase_set_timeout(tc, 300);
    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, test_text_pages_stay_compressed);
    tcase_add_loop_test(tc, test_random_pages_go_to_file, 0, 2);
    tcase_add_test(tc, test_reads_come_from_zswap);
    tcase_add_test(tc, test_bad_zswap_options_exit_2);
    tcase_add_test(tc, test_options_shown_and_no_swap_no_zswap);
    suite_add_tcase(s, tc);
    return s;
}
