/* rmem-bench end to end: the real binary against a real rmemd.  --floor
 * reports both halves of the floor; the workloads compute the same
 * checksum on rmem, on plain memory and through the memcached pager, the
 * last one against a small memcached stand-in served by a thread of the
 * test (the text protocol's set/get/delete), so no test needs memcached.
 *
 * rmem-bench runs as a child with PR_SET_PDEATHSIG, so a test that fails
 * or times out leaves nothing behind. */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define OUT_CAP (16 * 1024)
#define MC_PAGES 1024               /* the workloads map 4 MiB */
#define PAGE 4096

static struct rmemd srv;

static void start_server(void)
{
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "64M", NULL}), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

/* Runs build/rmem-bench with the arguments (NULL-terminated); returns its
 * exit status with its stdout in out (stderr goes to the test's). */
static int run_bench(char *out, ...)
{
    const char *argv[32];
    int pfd[2], n = 0, status;
    size_t len = 0;
    ssize_t got;
    pid_t pid;
    va_list ap;

    argv[n++] = harness_path("rmem-bench");
    va_start(ap, out);
    while (n < 31 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pfd[1], STDOUT_FILENO);
        close(pfd[0]);
        close(pfd[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    while ((got = read(pfd[0], out + len, OUT_CAP - 1 - len)) > 0)
        len += (size_t)got;
    out[len] = '\0';
    close(pfd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The value of key=VALUE on the line that starts with `line_prefix`. */
static uint64_t field(const char *out, const char *line_prefix, const char *key,
                      int base)
{
    char pat[64];
    const char *line = strstr(out, line_prefix), *p, *nl;

    ck_assert_msg(line != NULL, "no line '%s' in:\n%s", line_prefix, out);
    nl = strchr(line, '\n');
    snprintf(pat, sizeof(pat), " %s=", key);
    p = strstr(line, pat);
    ck_assert_msg(p && (!nl || p < nl), "no %s on line '%s' in:\n%s", key,
                  line_prefix, out);
    return strtoull(p + strlen(pat), NULL, base);
}

START_TEST(test_floor_reports_fault_and_round_trip)
{
    static char out[OUT_CAP];
    uint64_t uffd, rtt;

    ck_assert_int_eq(run_bench(out, "--floor", "-s", srv.addr, "--samples", "200",
                               NULL), 0);
    ck_assert_uint_eq(field(out, "floor ", "samples", 10), 200);
    uffd = field(out, "floor ", "uffd_p50_ns", 10);
    rtt = field(out, "floor ", "rtt_p50_ns", 10);
    ck_assert_uint_gt(uffd, 0);
    ck_assert_uint_gt(rtt, 0);
    ck_assert_uint_le(uffd, field(out, "floor ", "uffd_p99_ns", 10));
    ck_assert_uint_eq(field(out, "floor ", "floor_p50_ns", 10), uffd + rtt);
    /* The window: rmem_options' default prefetch_max, 64 pages; moving
     * 256 KiB costs more than moving 4 KiB. */
    ck_assert_uint_eq(field(out, "floor ", "window", 10), 64);
    uffd = field(out, "floor ", "win_uffd_p50_ns", 10);
    rtt = field(out, "floor ", "win_rtt_p50_ns", 10);
    ck_assert_uint_gt(rtt, field(out, "floor ", "rtt_p50_ns", 10));
    ck_assert_uint_eq(field(out, "floor ", "win_floor_p50_ns", 10), uffd + rtt);
}
END_TEST

static const char *const workloads[] = {"seq", "random", "zipf", "sort"};

static void line_prefix(char *buf, size_t cap, const char *wl, const char *backend)
{
    snprintf(buf, cap, "result workload=%s backend=%s ", wl, backend);
}

/* Every workload on `backend` (extra arguments in a, b) computes what it
 * computes on plain memory, and pages through the 1 MiB limit. */
static void same_as_local(const char *backend, const char *a, const char *b)
{
    static char local[OUT_CAP], out[OUT_CAP];
    char pl[96], pb[96];

    ck_assert_int_eq(run_bench(local, "--workload", "all", "--backend", "local",
                               "--size", "4M", "--limit", "1M", NULL), 0);
    ck_assert_int_eq(run_bench(out, "--workload", "all", "--backend", backend,
                               "--size", "4M", "--limit", "1M", a, b, NULL), 0);
    for (size_t i = 0; i < sizeof(workloads) / sizeof(*workloads); i++) {
        line_prefix(pl, sizeof(pl), workloads[i], "local");
        line_prefix(pb, sizeof(pb), workloads[i], backend);
        ck_assert_msg(field(out, pb, "checksum", 16) == field(local, pl, "checksum", 16),
                      "%s: checksum differs from plain memory's:\n%s\n%s",
                      workloads[i], out, local);
        ck_assert_uint_gt(field(out, pb, "seconds", 10) + 1, 0);
        ck_assert_uint_gt(field(out, pb, "touches", 10), 0);
    }
    /* 4 MiB through 1 MiB: the random accesses must have paged. */
    line_prefix(pb, sizeof(pb), "random", backend);
    ck_assert_uint_gt(field(out, pb, "remote_faults", 10), 0);
    ck_assert_uint_gt(field(out, pb, "writebacks", 10), 0);
}

START_TEST(test_workloads_on_rmem_match_plain_memory)
{
    same_as_local("rmem", "-s", srv.addr);
}
END_TEST

/* ---- a memcached stand-in ------------------------------------------------ */

struct fake_mc {
    int lfd, port;
    pthread_t thread;
    char (*pages)[PAGE];
    unsigned char stored[MC_PAGES];
    char in[PAGE + 256];
    size_t have;
};

static int fill(struct fake_mc *m, int fd, size_t want)
{
    while (m->have < want) {
        ssize_t n = read(fd, m->in + m->have, sizeof(m->in) - m->have);

        if (n <= 0)
            return -1;
        m->have += (size_t)n;
    }
    return 0;
}

static void consume(struct fake_mc *m, size_t n)
{
    memmove(m->in, m->in + n, m->have - n);
    m->have -= n;
}

static int send_str(int fd, const void *p, size_t len)
{
    return write(fd, p, len) == (ssize_t)len ? 0 : -1;
}

/* Serves one connection: "set rbPID:IDX 0 0 4096", "get rbPID:IDX",
 * "delete rbPID:IDX noreply". */
static void fake_mc_conn(struct fake_mc *m, int fd)
{
    m->have = 0;
    for (;;) {
        char *nl, key[64], reply[128];
        unsigned idx;
        size_t line;

        while (!(nl = memchr(m->in, '\n', m->have)))
            if (fill(m, fd, m->have + 1))
                goto out;
        line = (size_t)(nl - m->in) + 1;
        if (sscanf(m->in, "set %63s", key) == 1 &&
            sscanf(strchr(key, ':') + 1, "%u", &idx) == 1 && idx < MC_PAGES) {
            if (fill(m, fd, line + PAGE + 2))
                goto out;
            memcpy(m->pages[idx], m->in + line, PAGE);
            m->stored[idx] = 1;
            consume(m, line + PAGE + 2);
            if (send_str(fd, "STORED\r\n", 8))
                goto out;
        } else if (sscanf(m->in, "get %63s", key) == 1 &&
                   sscanf(strchr(key, ':') + 1, "%u", &idx) == 1 && idx < MC_PAGES) {
            consume(m, line);
            if (!m->stored[idx]) {
                if (send_str(fd, "END\r\n", 5))
                    goto out;
                continue;
            }
            /* One writev: three writes would meet Nagle and the client's
             * delayed ACK, 40 ms a reply. */
            snprintf(reply, sizeof(reply), "VALUE %s 0 %d\r\n", key, PAGE);
            struct iovec iov[3] = {{reply, strlen(reply)}, {m->pages[idx], PAGE},
                                   {"\r\nEND\r\n", 7}};
            if (writev(fd, iov, 3) != (ssize_t)(strlen(reply) + PAGE + 7))
                goto out;
        } else if (strncmp(m->in, "delete ", 7) == 0) {
            consume(m, line);
        } else {
            break;
        }
    }
out:
    close(fd);
}

/* Connections one after the other (each workload has its own pager) until
 * the listening socket is shut down. */
static void *fake_mc_serve(void *arg)
{
    struct fake_mc *m = arg;
    int fd;

    while ((fd = accept(m->lfd, NULL, NULL)) >= 0)
        fake_mc_conn(m, fd);
    return NULL;
}

static void fake_mc_start(struct fake_mc *m)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    m->pages = calloc(MC_PAGES, PAGE);
    ck_assert_ptr_nonnull(m->pages);
    m->lfd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(m->lfd, 0);
    ck_assert_int_eq(bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(m->lfd, 8), 0);
    ck_assert_int_eq(getsockname(m->lfd, (struct sockaddr *)&sa, &len), 0);
    m->port = ntohs(sa.sin_port);
}

START_TEST(test_workloads_through_memcached_pager_match_plain_memory)
{
    static struct fake_mc m;
    char addr[32];

    fake_mc_start(&m);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", m.port);
    ck_assert_int_eq(pthread_create(&m.thread, NULL, fake_mc_serve, &m), 0);
    same_as_local("memcached", "--memcached", addr);
    shutdown(m.lfd, SHUT_RDWR);
    pthread_join(m.thread, NULL);
    close(m.lfd);
    free(m.pages);
}
END_TEST

START_TEST(test_bad_workload_exits_2_with_reason)
{
    static char out[OUT_CAP];

    ck_assert_int_eq(run_bench(out, "--workload", "bogus", NULL), 2);
    ck_assert_int_eq(run_bench(out, "--workload", "seq", "--backend", "swap", NULL), 2);
}
END_TEST

Suite *bench_suite(void)
{
    Suite *s = suite_create("bench");
    TCase *tc = tcase_create("bench");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_floor_reports_fault_and_round_trip);
    tcase_add_test(tc, test_workloads_on_rmem_match_plain_memory);
    tcase_add_test(tc, test_workloads_through_memcached_pager_match_plain_memory);
    tcase_add_test(tc, test_bad_workload_exits_2_with_reason);
    suite_add_tcase(s, tc);
    return s;
}
