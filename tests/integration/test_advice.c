/* Range calls through librmem against a real rmemd: rmem_msync,
 * rmem_madvise and rmem_mlock, checked by what rmem_stat and the data
 * say. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

static struct rmemd srv;

static void start_server(void)
{
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "128M", NULL}), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

static rmem_client *client(size_t limit)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = limit;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
}

static char *map(rmem_client *c, size_t len)
{
    char *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    return p;
}

static void fill(char *p, size_t len, int seed)
{
    for (size_t i = 0; i < len; i += PAGE)
        memset(p + i, (int)((i / PAGE + (size_t)seed) % 251 + 1), PAGE);
}

static void verify(const char *p, size_t len, int seed)
{
    for (size_t i = 0; i < len; i += PAGE) {
        char want = (char)((i / PAGE + (size_t)seed) % 251 + 1);

        ck_assert_msg(p[i] == want && p[i + PAGE - 1] == want,
                      "page %zu: %d, want %d", i / PAGE, p[i], want);
    }
}

static struct rmem_stat stat_of(rmem_client *c)
{
    struct rmem_stat st;

    ck_assert_int_eq(rmem_stat(c, &st), 0);
    return st;
}

/* Whether librmem runs with asynchronous write protection here: the
 * kernel offers UFFD_FEATURE_WP_ASYNC and UFFD_FEATURE_MOVE (Linux 6.8). */
static int wp_async(void)
{
    struct uffdio_api api = {.api = UFFD_API, .features = (1u << 15) | (1u << 16)};
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* USER_MODE_ONLY */);
    int ok;

    if (fd < 0)
        return 0;
    ok = ioctl(fd, UFFDIO_API, &api) == 0 && !getenv("RMEM_WP");
    close(fd);
    return ok;
}

/* msync writes dirty pages back and leaves them resident and clean: the
 * next store is seen again - a write-protect fault in synchronous mode,
 * no fault at all in asynchronous mode - and written back by the next
 * msync, alone. */
START_TEST(msync_writes_back_and_keeps_pages)
{
    rmem_client *c = client(0);
    char *p = map(c, 4 * MiB);
    struct rmem_stat a, b;

    fill(p, 4 * MiB, 1);
    a = stat_of(c);
    ck_assert_int_eq(rmem_msync(c, p, 4 * MiB, MS_SYNC), 0);
    b = stat_of(c);
    ck_assert_uint_eq(b.writebacks - a.writebacks, 4 * MiB / PAGE);
    ck_assert_uint_eq(b.rss, 4 * MiB);
    ck_assert_uint_eq(b.remote_usage, 4 * MiB);
    ck_assert_int_eq(rmem_msync(c, p, 4 * MiB, MS_SYNC), 0);
    ck_assert_uint_eq(stat_of(c).writebacks, b.writebacks);   /* all clean */
    p[0] = 9;
    a = stat_of(c);
    ck_assert_uint_eq(a.faults_wp, b.faults_wp + (wp_async() ? 0 : 1));
    ck_assert_uint_eq(a.faults, b.faults + (wp_async() ? 0 : 1));
    ck_assert_int_eq(rmem_msync(c, p, 4 * MiB, MS_SYNC), 0);
    ck_assert_uint_eq(stat_of(c).writebacks, b.writebacks + 1);
    ck_assert_int_eq(rmem_msync(c, p, 4 * MiB, MS_SYNC | MS_INVALIDATE), 0);
    ck_assert_uint_eq(stat_of(c).rss, 0);
    p[0] = 2;                       /* restore the pattern, then check all */
    verify(p, 4 * MiB, 1);
    ck_assert_int_eq(rmem_msync(c, p, PAGE, MS_SYNC | MS_ASYNC), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_msync(c, p + 1, PAGE, MS_SYNC), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_msync(c, p, 8 * MiB, MS_SYNC), -1);
    ck_assert_int_eq(errno, ENOMEM);
    rmem_disconnect(c);
}
END_TEST

/* PAGEOUT drops the range after writing it back; WILLNEED brings it back
 * without a single fault; RANDOM turns readahead off. */
START_TEST(pageout_willneed_random)
{
    rmem_client *c = client(0);
    char *p = map(c, 8 * MiB);
    struct rmem_stat a, b;

    fill(p, 8 * MiB, 2);
    ck_assert_int_eq(rmem_madvise(c, p, 8 * MiB, MADV_PAGEOUT), 0);
    a = stat_of(c);
    ck_assert_uint_eq(a.rss, 0);
    ck_assert_int_eq(rmem_madvise(c, p, 4 * MiB, MADV_WILLNEED), 0);
    b = stat_of(c);
    ck_assert_uint_eq(b.rss, 4 * MiB);
    ck_assert_uint_eq(b.prefetched - a.prefetched, 4 * MiB / PAGE);
    verify(p, 4 * MiB, 2);
    ck_assert_uint_eq(stat_of(c).faults, b.faults);
    ck_assert_int_eq(rmem_madvise(c, p + 4 * MiB, 4 * MiB, MADV_RANDOM), 0);
    verify(p + 4 * MiB, 4 * MiB, 2 + (int)(4 * MiB / PAGE));
    ck_assert_uint_eq(stat_of(c).prefetched, b.prefetched);
    ck_assert_uint_eq(stat_of(c).faults_remote - b.faults_remote, 4 * MiB / PAGE);
    ck_assert_int_eq(rmem_madvise(c, p, PAGE, 12345), -1);
    ck_assert_int_eq(errno, EINVAL);
    rmem_disconnect(c);
}
END_TEST

/* DONTNEED: zeros again, and the server lets the memory go. */
START_TEST(dontneed_reads_zeros_and_frees_server_pages)
{
    rmem_client *c = client(0);
    char *p = map(c, 4 * MiB);

    fill(p, 4 * MiB, 3);
    ck_assert_int_eq(rmem_msync(c, p, 4 * MiB, MS_SYNC), 0);
    ck_assert_uint_eq(stat_of(c).remote_usage, 4 * MiB);
    ck_assert_int_eq(rmem_madvise(c, p, 2 * MiB, MADV_DONTNEED), 0);
    ck_assert_uint_eq(stat_of(c).remote_usage, 2 * MiB);
    for (size_t i = 0; i < 2 * MiB; i += PAGE)
        ck_assert_int_eq(p[i], 0);
    verify(p + 2 * MiB, 2 * MiB, 3 + (int)(2 * MiB / PAGE));
    rmem_disconnect(c);
}
END_TEST

/* Locked pages stay through a stream much larger than the limit. */
START_TEST(mlock_keeps_pages_resident)
{
    rmem_client *c = client(4 * MiB);
    char *hot = map(c, 1 * MiB), *cold = map(c, 32 * MiB);
    struct rmem_stat a;

    fill(hot, 1 * MiB, 4);
    ck_assert_int_eq(rmem_mlock(c, hot, 1 * MiB), 0);
    ck_assert_uint_eq(stat_of(c).locked_vm, 1 * MiB);
    fill(cold, 32 * MiB, 5);
    a = stat_of(c);
    verify(hot, 1 * MiB, 4);
    ck_assert_uint_eq(stat_of(c).faults, a.faults);    /* never left */
    ck_assert_int_eq(rmem_madvise(c, hot, PAGE, MADV_DONTNEED), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_mlock(c, cold, 32 * MiB), -1);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_int_eq(rmem_munlock(c, hot, 1 * MiB), 0);
    ck_assert_uint_eq(stat_of(c).locked_vm, 0);
    verify(cold, 32 * MiB, 5);
    verify(hot, 1 * MiB, 4);
    ck_assert_int_eq(rmem_munmap(c, hot, 1 * MiB), 0);
    rmem_disconnect(c);
}
END_TEST

Suite *advice_suite(void)
{
    Suite *s = suite_create("advice");
    TCase *tc = tcase_create("advice");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, msync_writes_back_and_keeps_pages);
    tcase_add_test(tc, pageout_willneed_random);
    tcase_add_test(tc, dontneed_reads_zeros_and_frees_server_pages);
    tcase_add_test(tc, mlock_keeps_pages_resident);
    suite_add_tcase(s, tc);
    return s;
}
