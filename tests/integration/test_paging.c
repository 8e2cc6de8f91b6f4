/* Paging end to end: librmem against a real rmemd on loopback, with local
 * limits far below the working set, checking every byte that comes back. */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

static struct rmemd srv;

static void start_server(void)
{
    const char *args[] = {"--pool", "256M", NULL};

    ck_assert_int_eq(rmemd_start(&srv, args), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

static rmem_client *connect_prefetch(size_t limit, unsigned prefetch_max)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = limit;
    o.prefetch_max = prefetch_max;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
}

static rmem_client *connect_limit(size_t limit)
{
    return connect_prefetch(limit, 64);
}

static void *map_anon(rmem_client *c, size_t len)
{
    void *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    return p;
}

/* A page's expected contents: its index and a generation, spread over the
 * page so a torn or misplaced page shows. */
static void stamp(uint64_t *page, uint64_t idx, uint64_t gen)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        page[i] = idx * 0x9e3779b97f4a7c15ull ^ gen ^ i;
    page[PAGE / 8 - 1] = idx ^ (gen << 32);
}

static int stamp_ok(const uint64_t *page, uint64_t idx, uint64_t gen)
{
    for (size_t i = 0; i < PAGE / 8; i += 64)
        if (page[i] != (idx * 0x9e3779b97f4a7c15ull ^ gen ^ i))
            return 0;
    return page[PAGE / 8 - 1] == (idx ^ (gen << 32));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

START_TEST(test_fill_rewrite_verify_128m_through_16m)
{
    const size_t len = 128 * MiB, npages = len / PAGE;
    rmem_client *c = connect_limit(16 * MiB);
    uint32_t *gen = calloc(npages, sizeof(*gen));
    struct rmem_stat st;
    uint64_t seed = 42;
    char *p = map_anon(c, len);

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 0);
    for (size_t k = 0; k < npages / 2; k++) {
        size_t i = xorshift(&seed) % npages;

        stamp((uint64_t *)(p + i * PAGE), i, ++gen[i]);
    }
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, gen[i]),
                      "page %zu lost its contents", i);

    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.total_vm, len);
    ck_assert_uint_le(st.rss, 16 * MiB);
    ck_assert_uint_gt(st.evictions, npages);
    ck_assert_uint_gt(st.writebacks, npages);
    ck_assert_uint_gt(st.faults_remote, 0);
    ck_assert_uint_eq(st.faults, st.faults_zero + st.faults_remote + st.faults_wp);
    ck_assert_uint_gt(st.remote_usage, 64 * MiB);
    ck_assert_uint_gt(st.fault_ns_p50, 0);
    ck_assert_uint_ge(st.fault_ns_p99, st.fault_ns_p50);
    ck_assert_uint_eq(st.bytes_out, st.writebacks * PAGE);
    ck_assert_uint_eq(st.bytes_in % PAGE, 0);
    ck_assert_uint_ge(st.bytes_in, st.faults_remote * PAGE);

    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.total_vm, 0);
    ck_assert_uint_eq(st.rss, 0);
    ck_assert_uint_eq(st.remote_usage, 0);
    rmem_disconnect(c);
    free(gen);
}
END_TEST

/* A page first read maps the zero page write-protected; the store that
 * follows must mark it dirty, or eviction would drop it as clean. */
START_TEST(test_read_zero_then_write_survives_eviction)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_client *c = connect_limit(4 * MiB);
    volatile char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++) {
        ck_assert_int_eq(p[i * PAGE + 100], 0);
        p[i * PAGE + 100] = (char)(i % 251 + 1);
    }
    for (size_t i = 0; i < npages; i++)
        ck_assert_int_eq(p[i * PAGE + 100], (char)(i % 251 + 1));
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    /* Most stores hit a resident zero page (one WP fault each); a page the
     * evictor dropped in between faults in writable instead. */
    ck_assert_uint_ge(st.faults_zero, npages);
    ck_assert_uint_gt(st.faults_wp, npages / 2);
    rmem_disconnect(c);
}
END_TEST

/* The first store to never-written memory costs one fault, not a missing
 * fault followed by a write-protect fault. */
START_TEST(test_first_write_is_one_fault)
{
    const size_t len = 8 * MiB, npages = len / PAGE;
    rmem_client *c = connect_prefetch(0, 0);
    char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++)
        p[i * PAGE] = 1;
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_eq(st.faults, npages);
    ck_assert_uint_eq(st.faults_zero, npages);
    ck_assert_uint_eq(st.faults_wp, 0);
    ck_assert_uint_eq(st.rss, len);
    rmem_disconnect(c);
}
END_TEST

/* With readahead, a stream of first writes maps zero pages in windows:
 * fewer faults than pages, still no write-protect fault, and the data
 * survives eviction. */
START_TEST(test_sequential_streams_use_readahead)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_client *c = connect_prefetch(4 * MiB, 64);
    char *p = map_anon(c, len);
    struct rmem_stat st;

    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(p + i * PAGE), i, 3);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_lt(st.faults, npages / 8);
    ck_assert_uint_eq(st.faults_wp, 0);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(p + i * PAGE), i, 3), "page %zu", i);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_lt(st.faults_remote, npages / 8);
    ck_assert_uint_gt(st.prefetched, npages / 2);
    ck_assert_uint_gt(st.prefetch_hits, npages / 2);
    rmem_disconnect(c);
}
END_TEST

/* The kernel itself faults on rmem pages in read(2) and write(2). */
START_TEST(test_read_write_syscalls_on_nonresident_pages)
{
    const size_t len = 16 * MiB, npages = len / PAGE;
    rmem_client *c = connect_limit(2 * MiB);
    char *src = map_anon(c, len), *dst = map_anon(c, len);
    char path[] = "/tmp/rmem-test-XXXXXX";
    int fd = mkstemp(path);

    ck_assert_int_ge(fd, 0);
    unlink(path);
    for (size_t i = 0; i < npages; i++)
        stamp((uint64_t *)(src + i * PAGE), i, 7);
    /* src is now mostly evicted: write(2) must fault it back in. */
    ck_assert_int_eq(write(fd, src, len), (ssize_t)len);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    /* dst was never touched: read(2) fills it through zero-page faults. */
    ck_assert_int_eq(read(fd, dst, len), (ssize_t)len);
    for (size_t i = 0; i < npages; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(dst + i * PAGE), i, 7),
                      "page %zu wrong after read(2)", i);
    close(fd);
    rmem_disconnect(c);
}
END_TEST

static int client_process(const char *addr, uint64_t tag)
{
    const size_t len = 32 * MiB, npages = len / PAGE;
    rmem_options o;
    rmem_client *c;
    char *p;

    rmem_options_init(&o);
    o.server = addr;
    o.local_limit = 4 * MiB;
    c = rmem_connect(&o);
    if (!c)
        return 2;
    p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    if (p == MAP_FAILED)
        return 3;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < npages; i++) {
            if (pass == 0)
                stamp((uint64_t *)(p + i * PAGE), i, tag);
            else if (!stamp_ok((uint64_t *)(p + i * PAGE), i, tag))
                return 4;
        }
    rmem_disconnect(c);
    return 0;
}

START_TEST(test_two_clients_at_once)
{
    pid_t pids[2];

    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        ck_assert_int_ge(pids[i], 0);
        if (pids[i] == 0)
            _exit(client_process(srv.addr, 1000 + (uint64_t)i));
    }
    for (int i = 0; i < 2; i++) {
        int status;

        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "client %d failed with status %#x", i, status);
    }
}
END_TEST

START_TEST(test_killed_client_does_not_stop_server)
{
    int ready[2];
    char b;
    pid_t pid;

    ck_assert_int_eq(pipe(ready), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rmem_client *c = connect_limit(1 * MiB);
        char *p = map_anon(c, 8 * MiB);

        memset(p, 0x5a, 8 * MiB);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        for (;;)                /* keep faulting until killed */
            memset(p, 0x11, 8 * MiB);
    }
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    ck_assert_int_eq(client_process(srv.addr, 77), 0);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

/* A page that can no longer be fetched is a bus error for the thread that
 * touches it, not a hang. */
START_TEST(test_server_gone_faults_raise_sigbus)
{
    int ready[2], go[2], status;
    char b;
    pid_t pid;

    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        rmem_client *c = connect_limit(1 * MiB);
        volatile char *p = map_anon(c, 8 * MiB);

        for (size_t i = 0; i < 8 * MiB; i += PAGE)
            p[i] = 1;               /* the first pages are now on the server */
        if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
            _exit(1);
        (void)p[0];
        _exit(0);                   /* should not get here */
    }
    ck_assert_int_eq(read(ready[0], &b, 1), 1);
    rmemd_kill(&srv);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS,
                  "child status %#x, expected SIGBUS", status);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    start_server();                 /* for the fixture's stop */
}
END_TEST

START_TEST(test_bad_arguments)
{
    rmem_client *c = connect_limit(0);
    rmem_options o;

    errno = 0;
    ck_assert_ptr_eq(rmem_mmap(c, NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
                               NULL, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(c, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
                               NULL, 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(c, NULL, PAGE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, NULL, PAGE), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_munmap(c, (void *)(uintptr_t)PAGE, PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    rmem_disconnect(c);

    rmem_options_init(&o);
    o.server = "127.0.0.1:1";
    ck_assert_ptr_null(rmem_connect(&o));
    ck_assert_int_eq(errno, ECONNREFUSED);
}
END_TEST

Suite *paging_suite(void)
{
    Suite *s = suite_create("paging");
    TCase *tc = tcase_create("paging");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_fill_rewrite_verify_128m_through_16m);
    tcase_add_test(tc, test_read_zero_then_write_survives_eviction);
    tcase_add_test(tc, test_first_write_is_one_fault);
    tcase_add_test(tc, test_sequential_streams_use_readahead);
    tcase_add_test(tc, test_read_write_syscalls_on_nonresident_pages);
    tcase_add_test(tc, test_two_clients_at_once);
    tcase_add_test(tc, test_killed_client_does_not_stop_server);
    tcase_add_test(tc, test_server_gone_faults_raise_sigbus);
    tcase_add_test(tc, test_bad_arguments);
    suite_add_tcase(s, tc);
    return s;
}
