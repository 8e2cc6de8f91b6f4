/* Server-side swap end to end: rmemd with a 64 MiB pool and a 256 MiB swap
 * file holds 200 MiB that a librmem client (16 MiB local limit) writes
 * back, every page reads back intact, and `rmemctl swapinfo` shows the
 * swap in use exactly as /proc/swaps would; the swap file rmemd created is gone after it exits, one it
 * did not create stays.  A tenant's memory.limit_in_bytes lowered below
 * its usage reclaims to swap, as memory.stat and segment list show, and
 * what the client then only reads back is meminfo's SwapCached.
 * Without swap a full pool answers the client's
 * write-back with ENOMEM and the server keeps serving. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul
#define SWAPS_HEADER "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"

static char dir[64];
static char swap_path[128];
static char swap_arg[160];

static void make_dir(void)
{
    strcpy(dir, "/tmp/rmem-swap-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(swap_path, sizeof(swap_path), "%s/swapfile", dir);
}

/* An unchecked fixture: runs in the runner process after the tests, so
 * also after a test that failed and left a file from a killed rmemd. */
static void remove_dir(void)
{
    unlink(swap_path);
    rmdir(dir);
}

/* Before each test: no file left from the one before. */
static void no_swapfile(void)
{
    unlink(swap_path);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stamp(uint64_t *page, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        page[i] = idx * 0x9e3779b97f4a7c15ull ^ i;
    page[PAGE / 8 - 1] = ~idx;
}

static int stamp_ok(const uint64_t *page, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        if (page[i] != (idx * 0x9e3779b97f4a7c15ull ^ i))
            return 0;
    return page[PAGE / 8 - 1] == ~idx;
}

static rmem_client *connect_limit(const struct rmemd *d, size_t limit)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = d->addr;
    o.local_limit = limit;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
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

START_TEST(test_200m_through_64m_pool_and_swap)
{
    const size_t len = 200 * MiB, npages = len / PAGE;
    struct rmemd d;
    rmem_client *c;
    struct rmem_stat st;
    char out[4096], line[256], want[512];
    unsigned long long size_kib, used_kib;
    double t0, t_write, t_read;
    uint64_t pswpout, pswpin;
    char *p;

    /* The plain file: zswap (test_zswap.c) would keep these pages. */
    snprintf(swap_arg, sizeof(swap_arg), "%s:256M", swap_path);
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "64M", "--swap",
                                                      swap_arg, "--zswap", "off",
                                                      NULL}), 0);
    c = connect_limit(&d, 16 * MiB);
    p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                  NULL, 0);
    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));

    t0 = now_s();
    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i);
    t_write = now_s() - t0;
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_le(st.rss, 16 * MiB);
    /* Everything beyond the limit has gone to the server (the evictor may
     * not have run below the limit yet). */
    ck_assert_uint_ge(st.writebacks, (len - 16 * MiB) / PAGE);

    /* /proc/swaps layout, sizes in KiB. */
    ck_assert_int_eq(ctl(&d, "swapinfo", out, sizeof(out)), 0);
    ck_assert_msg(strncmp(out, SWAPS_HEADER, strlen(SWAPS_HEADER)) == 0, "%s", out);
    ck_assert_int_eq(sscanf(strchr(out, '\n') + 1, "%255s file %llu %llu", line,
                            &size_kib, &used_kib), 3);
    ck_assert_str_eq(line, swap_path);
    ck_assert_uint_eq(size_kib, 256 * 1024);
    ck_assert_uint_gt(used_kib, 100 * 1024);
    /* mm/swapfile.c swap_show()'s line, and nothing after it. */
    snprintf(want, sizeof(want), "%s%s%*sfile\t\t%llu\t\t%llu\t\t-2\n",
             SWAPS_HEADER, swap_path,
             (int)(strlen(swap_path) < 40 ? 40 - strlen(swap_path) : 1), " ",
             size_kib, used_kib);
    ck_assert_str_eq(out, want);

    t0 = now_s();
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i),
                      "page %zu lost its contents", i);
    t_read = now_s() - t0;

    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    pswpout = json_u64(out, "pswpout");
    pswpin = json_u64(out, "pswpin");
    ck_assert_uint_gt(pswpout, 100 * MiB / PAGE);
    ck_assert_uint_gt(pswpin, 0);
    ck_assert_uint_eq(json_u64(out, "swap_io_errors"), 0);
    /* Background reclaim wrote on rmemd's worker threads and freed pages
     * once the writes were done (pgsteal_kswapd counts at completion). */
    ck_assert_uint_gt(json_u64(out, "pgsteal_kswapd"), 0);
    printf("swap: 200 MiB through a 64 MiB pool: write %.2f s (%.0f MiB/s), "
           "read+verify %.2f s (%.0f MiB/s); pswpout %llu, pswpin %llu "
           "(readahead %llu, hits %llu), direct reclaims %llu, "
           "kswapd-stolen %llu\n", t_write, 200 / t_write, t_read, 200 / t_read,
           (unsigned long long)pswpout, (unsigned long long)pswpin,
           (unsigned long long)json_u64(out, "swap_ra"),
           (unsigned long long)json_u64(out, "swap_ra_hit"),
           (unsigned long long)json_u64(out, "allocstall"),
           (unsigned long long)json_u64(out, "pgsteal_kswapd"));

    /* Unmapping frees the segment, its pages and its slots. */
    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "used_bytes"), 0);
    rmem_disconnect(c);
    ck_assert_int_eq(access(swap_path, F_OK), 0);
    ck_assert_int_eq(rmemd_stop(&d), 0);
    ck_assert_int_eq(access(swap_path, F_OK), -1);      /* rmemd made it */
}
END_TEST

/* The value of KEY in `memory.stat` text. */
static uint64_t stat_u64(const char *text, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "\n%s ", key);
    p = strstr(text, pat);
    ck_assert_msg(p != NULL, "no %s in memory.stat:\n%s", key, text);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* rmemd with a POOL pool and a 64 MiB swap file (extra options after
 * them, NULL-terminated), and a client with a LIMIT local limit that
 * stamped every page of a LEN-byte anonymous MAP_NORESERVE mapping (*p);
 * returns the default tenant's memory.usage_in_bytes once the client's
 * evictor is idle: what it wrote back to the server. */
static uint64_t write_through_swap(struct rmemd *d, const char *pool,
                                   const char *const *extra, size_t limit,
                                   size_t len, rmem_client **c, char **p)
{
    const char *argv[16] = {"--pool", pool, "--swap", swap_arg};
    uint64_t usage = 0;
    char out[64];
    int n = 4;

    snprintf(swap_arg, sizeof(swap_arg), "%s:64M", swap_path);
    while (extra && *extra && n < 15)
        argv[n++] = *extra++;
    argv[n] = NULL;
    ck_assert_int_eq(rmemd_start(d, argv), 0);
    *c = connect_limit(d, limit);
    *p = rmem_mmap(*c, NULL, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, NULL, 0);
    ck_assert_msg(*p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    for (size_t i = 0; i < len / PAGE; i++)
        stamp((uint64_t *)(*p + i * PAGE), i);
    for (int tries = 0; tries < 50; tries++) {
        uint64_t before = usage;

        usleep(100 * 1000);
        ck_assert_int_eq(ctl(d, "cgroup get default memory.usage_in_bytes", out,
                             sizeof(out)), 0);
        usage = strtoull(out, NULL, 10);
        if (usage == before)
            break;
    }
    return usage;
}

/* Memory cgroups on swap, through rmemctl: lowering a tenant's
 * memory.limit_in_bytes below what it holds reclaims the difference to
 * swap instead of failing with EBUSY; memory.stat shows the swap, the LRU
 * lists and, after reading everything back, the major faults; segment
 * list shows the swapped pages; memsw usage stays what was written. */
START_TEST(test_cgroup_limit_lowered_reclaims_to_swap)
{
    const size_t len = 24 * MiB, npages = len / PAGE;
    uint64_t written;
    struct rmemd d;
    rmem_client *c;
    char out[8192];
    char *p;

    /* What the evictor wrote back: all but ~4 MiB. */
    written = write_through_swap(&d, "32M", NULL, 4 * MiB, len, &c, &p);
    ck_assert_uint_ge(written, 16 * MiB);
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_eq(stat_u64(out, "rss"), written);
    ck_assert_uint_eq(stat_u64(out, "swap"), 0);

    ck_assert_int_eq(ctl(&d, "cgroup set default memory.limit_in_bytes 8M", out,
                         sizeof(out)), 0);
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_le(stat_u64(out, "rss"), 8 * MiB);
    ck_assert_uint_eq(stat_u64(out, "rss") + stat_u64(out, "swap"), written);
    ck_assert_uint_eq(stat_u64(out, "inactive_anon") + stat_u64(out, "active_anon"),
                      stat_u64(out, "rss"));
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.memsw.usage_in_bytes", out,
                         sizeof(out)), 0);
    ck_assert_uint_eq(strtoull(out, NULL, 10), written);
    ck_assert_int_eq(ctl(&d, "--json segment list default", out, sizeof(out)), 0);
    ck_assert_uint_ge(json_u64(out, "swapped_pages"), (written - 8 * MiB) / PAGE);

    /* Everything reads back; what came from swap counts as major faults. */
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i),
                      "page %zu lost its contents", i);
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_gt(stat_u64(out, "pgmajfault"), 0);
    ck_assert_uint_le(stat_u64(out, "rss"), 8 * MiB);

    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "used_bytes"), 0);
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_eq(stat_u64(out, "swap"), 0);
    rmem_disconnect(c);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* The swap cache (mm/swap_state.c) in meminfo: pages a lowered limit
 * sent to the swap file and the client then only read come back keeping
 * their slots, so SwapCached is not 0 - the same figure in the text, in
 * --json and in info's swap_cached_bytes, within the slots in use and the
 * tenant's anonymous pages - and those slots are no longer the tenant's
 * swap.  Unmapping frees them with their pages.  zswap is off: a page
 * loaded from zswap drops its copy, as Linux's does, and keeps no slot. */
START_TEST(test_meminfo_swapcached_after_read_back)
{
    const size_t len = 16 * MiB, npages = len / PAGE;
    uint64_t written, cached_kb, swap_before;
    struct rmemd d;
    rmem_client *c;
    char out[8192], want[64];
    char *p;

    written = write_through_swap(&d, "64M", (const char *[]){"--zswap", "off",
                                                             NULL},
                                 2 * MiB, len, &c, &p);
    ck_assert_uint_ge(written, 12 * MiB);
    ck_assert_int_eq(ctl(&d, "--json meminfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "SwapCached_kB"), 0);     /* nothing swapped */

    /* To swap, and the limit back up so that reading needs no reclaim
     * (which would take the cached pages' frames again). */
    ck_assert_int_eq(ctl(&d, "cgroup set default memory.limit_in_bytes 4M", out,
                         sizeof(out)), 0);
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    swap_before = stat_u64(out, "swap");
    ck_assert_uint_ge(swap_before, written - 4 * MiB);
    ck_assert_int_eq(ctl(&d, "cgroup set default memory.limit_in_bytes 48M", out,
                         sizeof(out)), 0);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i),
                      "page %zu lost its contents", i);

    ck_assert_int_eq(ctl(&d, "--json meminfo", out, sizeof(out)), 0);
    cached_kb = json_u64(out, "SwapCached_kB");
    ck_assert_uint_gt(cached_kb, 0);
    ck_assert_uint_le(cached_kb, json_u64(out, "AnonPages_kB"));
    ck_assert_uint_le(cached_kb, json_u64(out, "SwapTotal_kB") -
                                 json_u64(out, "SwapFree_kB"));
    ck_assert_int_eq(ctl(&d, "meminfo", out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "\nSwapCached:     %8llu kB\n",
             (unsigned long long)cached_kb);
    ck_assert_msg(strstr(out, want), "no \"%s\" in:\n%s", want + 1, out);
    ck_assert_int_eq(ctl(&d, "--json info", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "swap_cached_bytes"), cached_kb * 1024);
    /* A cached page's slot is charged to memory, not to swap. */
    ck_assert_int_eq(ctl(&d, "cgroup get default memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_le(stat_u64(out, "swap") + cached_kb * 1024, swap_before);

    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(ctl(&d, "--json meminfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "SwapCached_kB"), 0);
    ck_assert_uint_eq(json_u64(out, "SwapFree_kB"), json_u64(out, "SwapTotal_kB"));
    rmem_disconnect(c);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* A file that was there before is truncated and used, and left behind. */
START_TEST(test_existing_file_kept)
{
    struct rmemd d;
    char out[4096];
    struct stat st;
    int fd = open(swap_path, O_CREAT | O_WRONLY, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "old", 3), 3);
    close(fd);
    snprintf(swap_arg, sizeof(swap_arg), "%s:8M", swap_path);
    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "16M", "--swap",
                                                      swap_arg, NULL}), 0);
    ck_assert_int_eq(stat(swap_path, &st), 0);
    ck_assert_int_eq(st.st_size, 8 * MiB);
    ck_assert_int_eq(ctl(&d, "--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_eq(json_u64(out, "size_bytes"), 8 * MiB);
    ck_assert_int_eq(rmemd_stop(&d), 0);
    ck_assert_int_eq(access(swap_path, F_OK), 0);
}
END_TEST

/* The child writes 96 MiB through a 64 MiB pool with no swap; its
 * write-backs fail with ENOMEM (librmem says so on stderr and keeps the
 * pages), every page still reads back, and the server serves on. */
START_TEST(test_no_swap_pool_full_enomem_server_serves)
{
    const size_t len = 96 * MiB, npages = len / PAGE;
    struct rmemd d;
    char out[8192];
    size_t got = 0;
    ssize_t n;
    int pipefd[2], status;
    pid_t pid;

    ck_assert_int_eq(rmemd_start(&d, (const char *[]){"--pool", "64M", NULL}), 0);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rmem_client *c;
        char *p;

        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        c = connect_limit(&d, 16 * MiB);
        p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
        if (p == MAP_FAILED)
            _exit(2);
        for (size_t i = 0; i < npages; i++)
            stamp((uint64_t *)(p + i * PAGE), i);
        for (size_t i = 0; i < npages; i++)
            if (!stamp_ok((uint64_t *)(p + i * PAGE), i))
                _exit(3);
        rmem_disconnect(c);
        _exit(0);
    }
    close(pipefd[1]);
    /* Drain to EOF (a full pipe would block the child), keep the start. */
    for (;;) {
        char scratch[4096];

        if (got < sizeof(out) - 1)
            n = read(pipefd[0], out + got, sizeof(out) - 1 - got);
        else
            n = read(pipefd[0], scratch, sizeof(scratch));
        if (n <= 0)
            break;
        if (got < sizeof(out) - 1)
            got += (size_t)n;
    }
    out[got] = '\0';
    close(pipefd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "client status %d; stderr: %.300s", status, out);
    ck_assert_msg(strstr(out, "write-back failed: Cannot allocate memory"),
                  "stderr: %.300s", out);

    /* The server serves on: a new client round-trips pages. */
    {
        rmem_client *c = connect_limit(&d, 1 * MiB);
        char *p = rmem_mmap(c, NULL, 4 * MiB, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

        ck_assert(p != MAP_FAILED);
        for (size_t i = 0; i < 4 * MiB / PAGE; i++)
            stamp((uint64_t *)(p + i * PAGE), i);
        for (size_t i = 0; i < 4 * MiB / PAGE; i++)
            ck_assert(stamp_ok((uint64_t *)(p + i * PAGE), i));
        rmem_disconnect(c);
    }
    ck_assert_int_eq(ctl(&d, "swapinfo", out, sizeof(out)), 0);
    ck_assert_str_eq(out, SWAPS_HEADER);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(test_bad_swap_option_exits_2)
{
    static const char *const bad[] = {"nosize", "/tmp/x:", "/tmp/x:12Q", ":4M",
                                      "/tmp/x:100"};
    char arg[64];
    int status;
    pid_t pid;

    snprintf(arg, sizeof(arg), "%s", bad[_i]);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        dup2(null, STDERR_FILENO);
        dup2(null, STDOUT_FILENO);
        execl(harness_path("rmemd"), "rmemd", "--listen", "127.0.0.1:0",
              "--swap", arg, (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
}
END_TEST

/* A directory is not a swap file: rmemd refuses it and leaves it alone. */
START_TEST(test_directory_refused)
{
    struct rmemd d;

    snprintf(swap_arg, sizeof(swap_arg), "%s:8M", dir);
    ck_assert_int_ne(rmemd_start(&d, (const char *[]){"--pool", "16M", "--swap",
                                                      swap_arg, NULL}), 0);
    ck_assert_int_eq(access(dir, F_OK), 0);
}
END_TEST

Suite *swapfile_suite(void)
{
    Suite *s = suite_create("swapfile");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_add_checked_fixture(tc, no_swapfile, NULL);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_200m_through_64m_pool_and_swap);
    tcase_add_test(tc, test_cgroup_limit_lowered_reclaims_to_swap);
    tcase_add_test(tc, test_meminfo_swapcached_after_read_back);
    tcase_add_test(tc, test_existing_file_kept);
    tcase_add_test(tc, test_no_swap_pool_full_enomem_server_serves);
    tcase_add_loop_test(tc, test_bad_swap_option_exits_2, 0, 5);
    tcase_add_test(tc, test_directory_refused);
    suite_add_tcase(s, tc);
    return s;
}
