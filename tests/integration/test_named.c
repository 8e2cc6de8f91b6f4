/* Named segments through librmem and rmemctl against a real rmemd: data
 * that outlives its writer's connection, per-tenant namespaces, unlink
 * while mapped, the argument checks, the close-to-open coherence of two
 * clients mapping one segment MAP_SHARED, and the tenant's memory.stat
 * counting named pages as "cache". */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

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

static struct harness_run *ctl(const char *first, ...)
{
    static struct harness_run r;
    const char *argv[16];
    int n = 0;
    va_list ap;

    argv[n++] = harness_path("rmemctl");
    argv[n++] = "-s";
    argv[n++] = srv.addr;
    argv[n++] = first;
    va_start(ap, first);
    while (n < 15 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(&r, argv), 0);
    return &r;
}

static rmem_client *client_of(const char *tenant)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.tenant = tenant;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect: %s", strerror(errno));
    return c;
}

static char *map_shared(rmem_client *c, const char *name, size_t len, off_t off)
{
    char *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, name, off);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap(%s): %s", name, strerror(errno));
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

/* A byte value of memory.stat / a cgroup file of tenant t. */
static uint64_t stat_key(const char *tenant, const char *key)
{
    struct harness_run *r = ctl("cgroup", "get", tenant, "memory.stat", NULL);
    char pat[64];
    const char *at;

    ck_assert_int_eq(r->status, 0);
    snprintf(pat, sizeof(pat), "\n%s ", key);
    if (strncmp(r->out, pat + 1, strlen(pat + 1)) == 0)
        at = r->out + strlen(pat + 1);
    else if ((at = strstr(r->out, pat)) != NULL)
        at += strlen(pat);
    ck_assert_msg(at, "no %s in:\n%s", key, r->out);
    return strtoull(at, NULL, 10);
}

static unsigned count_lines_with(const char *text, const char *needle)
{
    unsigned n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Client A writes and syncs, writes more and disconnects without a sync
 * (disconnect writes back like munmap); client B, on a new connection of
 * the same tenant after A's session is gone, reads everything.  The
 * pages are "cache" and "shmem" in the tenant's memory.stat, not rss. */
START_TEST(data_outlives_the_writer)
{
    rmem_client *a = client_of("default"), *b;
    char *p;

    ck_assert_int_eq(rmem_segment_create(a, "shared", 2 * MiB), 0);
    p = map_shared(a, "shared", 2 * MiB, 0);
    fill(p, MiB, 3);
    ck_assert_int_eq(rmem_msync(a, p, MiB, MS_SYNC), 0);
    fill(p + MiB, MiB, 4);
    rmem_disconnect(a);

    ck_assert_uint_eq(stat_key("default", "cache"), 2 * MiB);
    ck_assert_uint_eq(stat_key("default", "shmem"), 2 * MiB);
    ck_assert_uint_eq(stat_key("default", "rss"), 0);
    ck_assert_uint_eq(stat_key("default", "inactive_file") +
                      stat_key("default", "active_file"), 2 * MiB);
    b = client_of("default");
    p = map_shared(b, "shared", 2 * MiB, 0);
    verify(p, MiB, 3);
    verify(p + MiB, MiB, 4);
    ck_assert_int_eq(rmem_munmap(b, p, 2 * MiB), 0);
    /* Still there with nobody mapping it: it persists until unlinked. */
    ck_assert_uint_eq(count_lines_with(ctl("segment", "list", NULL)->out,
                                       " named "), 1);
    ck_assert_int_eq(rmem_segment_unlink(b, "shared"), 0);
    ck_assert_uint_eq(stat_key("default", "cache"), 0);
    ck_assert_uint_eq(stat_key("default", "shmem"), 0);
    rmem_disconnect(b);
}
END_TEST

/* Another tenant cannot open, map, or unlink the name; its own segment of
 * the same name is a different one. */
START_TEST(other_tenant_cannot_see_it)
{
    rmem_client *a = client_of("default"), *o;
    char *p, *q;

    ck_assert_int_eq(ctl("tenant", "create", "other", NULL)->status, 0);
    o = client_of("other");
    ck_assert_int_eq(rmem_segment_create(a, "secret", MiB), 0);
    p = map_shared(a, "secret", MiB, 0);
    fill(p, MiB, 9);
    ck_assert_int_eq(rmem_msync(a, p, MiB, MS_SYNC), 0);

    ck_assert_ptr_eq(rmem_mmap(o, NULL, MiB, PROT_READ, MAP_SHARED, "secret", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_int_eq(rmem_segment_unlink(o, "secret"), -1);
    ck_assert_int_eq(errno, ENOENT);
    /* Its own "secret": created afresh (no EEXIST), zeros, not a's data. */
    ck_assert_int_eq(rmem_segment_create(o, "secret", MiB), 0);
    q = map_shared(o, "secret", MiB, 0);
    for (size_t i = 0; i < MiB; i += PAGE)
        ck_assert_int_eq(q[i], 0);
    fill(q, PAGE, 50);
    ck_assert_int_eq(rmem_munmap(o, q, MiB), 0);
    ck_assert_int_eq(rmem_segment_unlink(o, "secret"), 0);
    /* a's is untouched. */
    ck_assert_int_eq(rmem_msync(a, p, MiB, MS_INVALIDATE), 0);
    verify(p, MiB, 9);
    ck_assert_int_eq(rmem_munmap(a, p, MiB), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "secret"), 0);
    rmem_disconnect(o);
    rmem_disconnect(a);
}
END_TEST

/* shm_unlink semantics: the name goes at once, the mapping keeps working
 * (also refetching from the server), the memory goes with the last
 * unmap. */
START_TEST(unlink_while_mapped)
{
    rmem_client *a = client_of("default");
    struct harness_run *r;
    struct rmem_stat st;
    char *p, *q;

    ck_assert_int_eq(rmem_segment_create(a, "tmp", MiB), 0);
    p = map_shared(a, "tmp", MiB, 0);
    fill(p, MiB, 21);
    ck_assert_int_eq(rmem_msync(a, p, MiB, MS_SYNC), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "tmp"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "tmp"), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, MiB, PROT_READ, MAP_SHARED, "tmp", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, ENOENT);
    r = ctl("segment", "list", "default", NULL);
    ck_assert_msg(strstr(r->out, "unlinked   named     1 tmp"), "%s", r->out);

    /* Still usable: drop the local copies and read the server's again. */
    ck_assert_int_eq(rmem_msync(a, p, MiB, MS_INVALIDATE), 0);
    verify(p, MiB, 21);
    fill(p, PAGE, 22);
    ck_assert_int_eq(rmem_msync(a, p, PAGE, MS_SYNC | MS_INVALIDATE), 0);
    verify(p, PAGE, 22);
    ck_assert_int_eq(rmem_stat(a, &st), 0);
    ck_assert_uint_eq(st.remote_usage, MiB);

    /* The name is free for a new segment meanwhile. */
    ck_assert_int_eq(rmem_segment_create(a, "tmp", PAGE), 0);
    q = map_shared(a, "tmp", PAGE, 0);
    ck_assert_int_eq(q[0], 0);
    ck_assert_int_eq(rmem_munmap(a, q, PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "tmp"), 0);

    ck_assert_int_eq(rmem_munmap(a, p, MiB), 0);
    ck_assert_int_eq(rmem_stat(a, &st), 0);
    ck_assert_uint_eq(st.remote_usage, 0);
    r = ctl("--json", "segment", "list", NULL);
    ck_assert_str_eq(r->out, "[]\n");
    rmem_disconnect(a);
}
END_TEST

/* What POSIX shm_open/mmap would refuse, refused with its errno. */
START_TEST(bad_arguments)
{
    rmem_client *a = client_of("default");
    char long_name[80];
    char *p;

    memset(long_name, 'x', 64);
    long_name[64] = '\0';
    ck_assert_int_eq(rmem_segment_create(a, "", PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_create(a, NULL, PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_create(a, long_name, PAGE), -1);
    ck_assert_int_eq(errno, ENAMETOOLONG);
    long_name[63] = '\0';                       /* 63 bytes: the longest */
    ck_assert_int_eq(rmem_segment_create(a, long_name, PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, long_name), 0);
    ck_assert_int_eq(rmem_segment_create(a, "a/b", PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_create(a, "/shm", PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_create(a, "..", PAGE), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_create(a, "ok", 0), -1);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_int_eq(rmem_segment_unlink(a, "a/b"), -1);
    ck_assert_int_eq(errno, EINVAL);

    ck_assert_int_eq(rmem_segment_create(a, "four", 4 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_create(a, "four", 4 * PAGE), -1);
    ck_assert_int_eq(errno, EEXIST);            /* as mkdir, shm_open(O_EXCL) */
    ck_assert_int_eq(rmem_segment_create(a, "four", 2 * PAGE), -1);
    ck_assert_int_eq(errno, EEXIST);            /* whatever the size */

    /* offsets and lengths beyond the 4 pages, unaligned, and flags */
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED, "four",
                               4 * PAGE), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, 2 * PAGE, PROT_READ, MAP_SHARED, "four",
                               3 * PAGE), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, 5 * PAGE, PROT_READ, MAP_SHARED, "four",
                               0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED, "four", 100),
                     MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED, "four", -PAGE),
                     MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED, NULL, 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS,
                               "four", 0), MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    /* A private copy is checked the same way (and freed again). */
    ck_assert_ptr_eq(rmem_mmap(a, NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE, "four", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_SHARED, "nope", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, ENOENT);
    /* A failed mmap leaves no handle open. */
    ck_assert_msg(strstr(ctl("segment", "list", NULL)->out, "live       named     0 four"),
                  "%s", ctl("segment", "list", NULL)->out);

    /* An offset maps the right pages: the last two of four. */
    p = map_shared(a, "four", 4 * PAGE, 0);
    fill(p, 4 * PAGE, 30);
    ck_assert_int_eq(rmem_munmap(a, p, 4 * PAGE), 0);
    p = map_shared(a, "four", 2 * PAGE, 2 * PAGE);
    verify(p, 2 * PAGE, 32);
    ck_assert_int_eq(rmem_munmap(a, p, 2 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "four"), 0);
    rmem_disconnect(a);
}
END_TEST

/* Two clients, one segment: B's cached copy stays stale until B
 * invalidates it, and then shows what A synced; the same the other way;
 * MADV_DONTNEED on a shared mapping writes back and keeps the data. */
START_TEST(two_clients_close_to_open)
{
    rmem_client *a = client_of("default"), *b = client_of("default");
    char *pa, *pb;

    ck_assert_int_eq(rmem_segment_create(a, "both", 16 * PAGE), 0);
    pa = map_shared(a, "both", 16 * PAGE, 0);
    pb = map_shared(b, "both", 16 * PAGE, 0);
    ck_assert_int_eq(pb[0], 0);                 /* B caches page 0: zeros */

    fill(pa, 16 * PAGE, 40);
    ck_assert_int_eq(rmem_msync(a, pa, 16 * PAGE, MS_SYNC), 0);
    ck_assert_int_eq(pb[0], 0);                 /* stale until invalidated */
    ck_assert_int_eq(rmem_msync(b, pb, 16 * PAGE, MS_INVALIDATE), 0);
    verify(pb, 16 * PAGE, 40);

    /* B writes back the other way, with MS_ASYNC; A sees it after its
     * own invalidate. */
    fill(pb + 4 * PAGE, 2 * PAGE, 60);
    ck_assert_int_eq(rmem_msync(b, pb, 16 * PAGE, MS_ASYNC), 0);
    ck_assert_int_eq(rmem_msync(a, pa, 16 * PAGE, MS_INVALIDATE), 0);
    verify(pa + 4 * PAGE, 2 * PAGE, 60);
    verify(pa, 4 * PAGE, 40);

    /* DONTNEED on a shared mapping: written back, contents kept. */
    memset(pa + 8 * PAGE, 0x5a, PAGE);
    ck_assert_int_eq(rmem_madvise(a, pa + 8 * PAGE, PAGE, MADV_DONTNEED), 0);
    ck_assert_int_eq(pa[8 * PAGE], 0x5a);
    ck_assert_int_eq(rmem_msync(b, pb, 16 * PAGE, MS_INVALIDATE), 0);
    ck_assert_int_eq(pb[8 * PAGE], 0x5a);

    /* munmap writes back too. */
    memset(pa + 15 * PAGE, 0x77, PAGE);
    ck_assert_int_eq(rmem_munmap(a, pa, 16 * PAGE), 0);
    ck_assert_int_eq(rmem_msync(b, pb, 16 * PAGE, MS_INVALIDATE), 0);
    ck_assert_int_eq(pb[15 * PAGE + 100], 0x77);
    ck_assert_int_eq(rmem_munmap(b, pb, 16 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(b, "both"), 0);
    rmem_disconnect(a);
    rmem_disconnect(b);
}
END_TEST

/* The operator's view: named segments with their open counts, JSON keys,
 * and unlink in a tenant's namespace by the admin role. */
START_TEST(rmemctl_lists_and_unlinks)
{
    rmem_client *a = client_of("default");
    struct harness_run *r;
    char *p, *q;

    ck_assert_int_eq(rmem_segment_create(a, "ops", 8 * PAGE), 0);
    p = map_shared(a, "ops", 8 * PAGE, 0);
    q = map_shared(a, "ops", 4 * PAGE, 4 * PAGE);
    r = ctl("segment", "list", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strstr(r->out, "KIND  OPENS NAME"), "%s", r->out);
    ck_assert_msg(strstr(r->out, "live       named     2 ops\n"), "%s", r->out);
    r = ctl("--json", "segment", "list", "default", NULL);
    ck_assert_msg(strstr(r->out, "\"kind\": \"named\", \"name\": \"ops\", "
                         "\"opens\": 2, \"unlinked\": false}"), "%s", r->out);

    r = ctl("segment", "unlink", "default", "nope", NULL);
    ck_assert_int_eq(r->status, 1);
    ck_assert_msg(strstr(r->err, "No such file"), "%s", r->err);
    r = ctl("segment", "unlink", "nosuchtenant", "ops", NULL);
    ck_assert_int_eq(r->status, 1);
    r = ctl("--json", "segment", "unlink", "default", "ops", NULL);
    ck_assert_int_eq(r->status, 0);
    ck_assert_str_eq(r->out, "{\"tenant\": \"default\", \"unlinked\": \"ops\"}\n");
    ck_assert_msg(strstr(ctl("segment", "list", NULL)->out, "unlinked   named     2 ops"),
                  "%s", ctl("segment", "list", NULL)->out);
    ck_assert_int_eq(rmem_munmap(a, q, 4 * PAGE), 0);
    ck_assert_int_eq(rmem_munmap(a, p, 8 * PAGE), 0);
    ck_assert_str_eq(ctl("--json", "segment", "list", NULL)->out, "[]\n");
    rmem_disconnect(a);
}
END_TEST

Suite *named_suite(void)
{
    Suite *s = suite_create("named");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_add_test(tc, data_outlives_the_writer);
    tcase_add_test(tc, other_tenant_cannot_see_it);
    tcase_add_test(tc, unlink_while_mapped);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, two_clients_close_to_open);
    tcase_add_test(tc, rmemctl_lists_and_unlinks);
    suite_add_tcase(s, tc);
    return s;
}
