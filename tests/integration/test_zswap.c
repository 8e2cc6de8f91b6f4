/* zswap through rmemd: a librmem client (16 MiB local limit) writes 200 MiB
 * through a 64 MiB pool with a 256 MiB swap file, once with `--zswap off`
 * and once with zswap on (the default), and reads every page back intact.
 * Half-text pages (2 KiB of words, 2 KiB of zeros) mostly stay compressed
 * in the pool: `rmemctl swapinfo` shows zswap's stored pages and the file
 * holds fewer pages than without zswap.  Random pages do not compress and
 * go to the file (reject_compress_poor).  100 MiB of text fits in the
 * pool and zswap, and reads back from zswap (zswpin).  Each run prints its figures
 * (times are printed, never asserted).  Bad zswap options exit 2. */
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
    char out[8192];

    run_through(TEXT, false, 200, &off);
    run_through(TEXT, true, 200, &on);
    ck_assert_uint_gt(on.zswap_pages, 0);
    ck_assert_uint_lt(on.file_pages, off.file_pages);
    ck_assert_uint_lt(on.pswpout, off.pswpout);
    ck_assert_uint_eq(on.reject_poor, 0);

    /* The text view: /proc/swaps, then zswap's section. */
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "16M", "--swap",
                                                      swap_arg, NULL}), 0);
    ck_assert_int_eq(ctl(&d, "swapinfo", out, sizeof(out)), 0);
    ck_assert_msg(strstr(out, "\t-2\n\nzswap\nenabled Y\nmax_pool_percent 20\n"),
                  "%s", out);
    ck_assert_msg(strstr(out, "\nstored_pages 0\n") &&
                  strstr(out, "\nwritten_back_pages 0\n") &&
                  strstr(out, "\nzswpwb 0\n"), "%s", out);
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
