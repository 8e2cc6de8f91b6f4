/* Copy-on-write clones of named segments through librmem and rmemctl
 * against a real rmemd: rmem_segment_clone (a snapshot that then evolves
 * apart from its source, survives its unlink, clones again), what a clone
 * costs the tenant (pages charged once, one page per page written after),
 * rmem_mmap(MAP_PRIVATE) of a named segment (writes private, contents as
 * of the mmap, the copy gone with the mapping, reservations as anonymous
 * memory), and the errors. */
#include <check.h>
#include <errno.h>
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

static char *map(rmem_client *c, int flags, const char *name, size_t len,
                 off_t off)
{
    char *p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE, flags, name, off);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap(%s): %s", name, strerror(errno));
    return p;
}

static char page_byte(size_t index, int seed)
{
    return (char)((index + (size_t)seed) % 251 + 1);
}

static void fill(char *p, size_t len, int seed)
{
    for (size_t i = 0; i < len; i += PAGE)
        memset(p + i, page_byte(i / PAGE, seed), PAGE);
}

/* Pages of p hold seed's pattern, counting page indices from first. */
static void verify_from(const char *p, size_t len, size_t first, int seed)
{
    for (size_t i = 0; i < len; i += PAGE) {
        char want = page_byte(first + i / PAGE, seed);

        ck_assert_msg(p[i] == want && p[i + PAGE - 1] == want,
                      "page %zu: %d, want %d", i / PAGE, p[i], want);
    }
}

static void verify(const char *p, size_t len, int seed)
{
    verify_from(p, len, 0, seed);
}

/* A named segment of len bytes holding seed's pattern, not mapped. */
static void create_filled(rmem_client *c, const char *name, size_t len, int seed)
{
    char *p;

    ck_assert_int_eq(rmem_segment_create(c, name, len), 0);
    p = map(c, MAP_SHARED, name, len, 0);
    fill(p, len, seed);
    ck_assert_int_eq(rmem_munmap(c, p, len), 0);       /* writes back */
}

static uint64_t usage(const char *tenant)
{
    struct harness_run *r = ctl("cgroup", "get", tenant, "memory.usage_in_bytes",
                                NULL);

    ck_assert_int_eq(r->status, 0);
    return strtoull(r->out, NULL, 10);
}

/* Key of the `segment list --json` entry that contains `needle` (its
 * name, say); the entry must exist. */
static uint64_t listed(const char *needle, const char *key)
{
    struct harness_run *r = ctl("--json", "segment", "list", NULL);
    const char *at = strstr(r->out, needle), *start, *k;
    char pat[64];

    ck_assert_msg(at, "no %s in %s", needle, r->out);
    for (start = at; start > r->out && *start != '{'; start--)
        ;
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    k = strstr(start, pat);
    ck_assert_msg(k && k < strchr(at, '}'), "no %s for %s in %s", key, needle,
                  r->out);
    return strtoull(k + strlen(pat), NULL, 10);
}

static unsigned count(const char *text, const char *needle)
{
    unsigned n = 0;

    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The clone reads as its source did; writes on either side, written back
 * and read again by the other, stay on their side.  This client's dirty
 * pages of the source go into the clone; another client's do not. */
START_TEST(clone_is_a_snapshot)
{
    rmem_client *a = client_of("default"), *b = client_of("default");
    const size_t len = 64 * PAGE;
    char *p, *q, *r, *pb;

    ck_assert_int_eq(rmem_segment_create(a, "orig", len), 0);
    p = map(a, MAP_SHARED, "orig", len, 0);
    fill(p, len, 1);
    ck_assert_int_eq(rmem_msync(a, p, len, MS_SYNC), 0);
    ck_assert_int_eq(rmem_segment_clone(a, "orig", "snap"), 0);
    q = map(a, MAP_SHARED, "snap", len, 0);
    verify(q, len, 1);

    /* Write to the clone: the source keeps its page. */
    memset(q, 0xaa, PAGE);
    ck_assert_int_eq(rmem_msync(a, q, PAGE, MS_SYNC), 0);
    ck_assert_int_eq(rmem_msync(a, p, len, MS_INVALIDATE), 0);
    verify(p, len, 1);
    /* And the other way round. */
    memset(p + PAGE, 0xbb, PAGE);
    ck_assert_int_eq(rmem_msync(a, p + PAGE, PAGE, MS_SYNC), 0);
    ck_assert_int_eq(rmem_msync(a, q, len, MS_INVALIDATE), 0);
    ck_assert_int_eq(q[0], (char)0xaa);
    verify_from(q + PAGE, len - PAGE, 1, 1);

    /* Not written back: this client's write is in a new clone (librmem
     * writes it back first), another client's is not. */
    memset(p + 2 * PAGE, 0xcc, PAGE);
    pb = map(b, MAP_SHARED, "orig", len, 0);
    memset(pb + 3 * PAGE, 0xdd, PAGE);
    ck_assert_int_eq(rmem_segment_clone(a, "orig", "snap2"), 0);
    r = map(a, MAP_SHARED, "snap2", len, 0);
    ck_assert_int_eq(r[PAGE], (char)0xbb);
    ck_assert_int_eq(r[2 * PAGE + 17], (char)0xcc);
    verify_from(r + 3 * PAGE, len - 3 * PAGE, 3, 1);
    verify(r, PAGE, 1);

    ck_assert_int_eq(rmem_munmap(b, pb, len), 0);
    ck_assert_int_eq(rmem_munmap(a, r, len), 0);
    ck_assert_int_eq(rmem_munmap(a, q, len), 0);
    ck_assert_int_eq(rmem_munmap(a, p, len), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "orig"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "snap"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "snap2"), 0);
    ck_assert_str_eq(ctl("--json", "segment", "list", NULL)->out, "[]\n");
    rmem_disconnect(b);
    rmem_disconnect(a);
}
END_TEST

/* A clone outlives its unlinked source; a clone of a clone takes the
 * middle one's contents, changes included. */
START_TEST(clone_of_clone_outlives_unlink)
{
    rmem_client *a = client_of("default");
    const size_t len = 32 * PAGE;
    char *p;

    create_filled(a, "gen0", len, 5);
    ck_assert_int_eq(rmem_segment_clone(a, "gen0", "gen1"), 0);
    p = map(a, MAP_SHARED, "gen1", len, 0);
    memset(p, 0x42, PAGE);
    ck_assert_int_eq(rmem_munmap(a, p, len), 0);
    ck_assert_int_eq(rmem_segment_clone(a, "gen1", "gen2"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "gen0"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "gen1"), 0);
    ck_assert_uint_eq(count(ctl("segment", "list", NULL)->out, " named "), 1);

    p = map(a, MAP_SHARED, "gen2", len, 0);
    ck_assert_int_eq(p[0], 0x42);
    verify_from(p + PAGE, len - PAGE, 1, 5);
    fill(p, PAGE, 9);
    ck_assert_int_eq(rmem_msync(a, p, PAGE, MS_SYNC | MS_INVALIDATE), 0);
    verify(p, PAGE, 9);
    ck_assert_int_eq(rmem_munmap(a, p, len), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "gen2"), 0);
    ck_assert_uint_eq(usage("default"), 0);
    ck_assert_str_eq(ctl("--json", "segment", "list", NULL)->out, "[]\n");
    rmem_disconnect(a);
}
END_TEST

/* Pages are charged once: a clone of 4 MiB written costs nothing, each
 * page written through it one page; rmemctl shows the sharing. */
START_TEST(clone_is_charged_once)
{
    rmem_client *a = client_of("default");
    struct harness_run *r;
    char *p;

    create_filled(a, "big", 4 * MiB, 3);
    ck_assert_uint_eq(usage("default"), 4 * MiB);
    ck_assert_uint_eq(listed("\"name\": \"big\"", "shared_pages"), 0);
    ck_assert_int_eq(rmem_segment_clone(a, "big", "big2"), 0);
    ck_assert_uint_eq(usage("default"), 4 * MiB);
    ck_assert_uint_eq(listed("\"name\": \"big\"", "shared_pages"), 1024);
    ck_assert_uint_eq(listed("\"name\": \"big2\"", "shared_pages"), 1024);
    ck_assert_uint_eq(listed("\"name\": \"big2\"", "resident_pages"), 1024);
    r = ctl("segment", "list", "default", NULL);
    ck_assert_msg(strstr(r->out, "SWAPPED       SHARED STATE"), "%s", r->out);
    ck_assert_uint_eq(count(r->out, "            0         1024 live       named"), 2);

    p = map(a, MAP_SHARED, "big2", 4 * MiB, 0);
    memset(p + 10 * PAGE, 1, 3 * PAGE);
    ck_assert_int_eq(rmem_msync(a, p, 4 * MiB, MS_SYNC), 0);
    ck_assert_uint_eq(usage("default"), 4 * MiB + 3 * PAGE);
    ck_assert_uint_eq(listed("\"name\": \"big\"", "shared_pages"), 1021);
    ck_assert_uint_eq(listed("\"name\": \"big2\"", "shared_pages"), 1021);
    /* Written again: its own page now, written in place. */
    memset(p + 10 * PAGE, 2, PAGE);
    ck_assert_int_eq(rmem_msync(a, p, 4 * MiB, MS_SYNC), 0);
    ck_assert_uint_eq(usage("default"), 4 * MiB + 3 * PAGE);
    ck_assert_int_eq(rmem_munmap(a, p, 4 * MiB), 0);

    /* The source goes: the clone keeps every page, now all its own. */
    ck_assert_int_eq(rmem_segment_unlink(a, "big"), 0);
    ck_assert_uint_eq(usage("default"), 4 * MiB);
    ck_assert_uint_eq(listed("\"name\": \"big2\"", "shared_pages"), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "big2"), 0);
    ck_assert_uint_eq(usage("default"), 0);
    rmem_disconnect(a);
}
END_TEST

/* MAP_PRIVATE of a named segment: a private copy as of the mmap; its
 * writes reach the server (they survive MADV_PAGEOUT) but never the named
 * segment, and the copy goes with the mapping. */
START_TEST(map_private_is_private)
{
    rmem_client *a = client_of("default"), *b = client_of("default");
    const size_t len = 16 * PAGE;
    char *pv, *pv2, *pb;

    create_filled(a, "base", len, 7);
    pv = map(a, MAP_PRIVATE, "base", len, 0);
    pv2 = map(a, MAP_PRIVATE, "base", 8 * PAGE, 4 * PAGE);   /* pages 4..11 */
    ck_assert_uint_eq(count(ctl("segment", "list", NULL)->out, " anon "), 2);
    verify(pv, len, 7);
    memset(pv, 0x11, 4 * PAGE);
    ck_assert_int_eq(rmem_madvise(a, pv, len, MADV_PAGEOUT), 0);
    ck_assert_int_eq(pv[0], 0x11);              /* from the private copy */
    ck_assert_int_eq(pv[3 * PAGE + 5], 0x11);
    verify_from(pv + 4 * PAGE, len - 4 * PAGE, 4, 7);
    /* MADV_DONTNEED keeps a private copy's contents too. */
    ck_assert_int_eq(rmem_madvise(a, pv, PAGE, MADV_DONTNEED), 0);
    ck_assert_int_eq(pv[0], 0x11);

    /* Another client sees the named segment unchanged, and its later
     * writes are not in the copies. */
    pb = map(b, MAP_SHARED, "base", len, 0);
    verify(pb, len, 7);
    memset(pb + 8 * PAGE, 0x22, PAGE);
    ck_assert_int_eq(rmem_msync(b, pb, len, MS_SYNC), 0);
    verify_from(pv2, 8 * PAGE, 4, 7);
    ck_assert_int_eq(rmem_msync(a, pv, len, MS_INVALIDATE), 0);
    verify_from(pv + 8 * PAGE, PAGE, 8, 7);
    ck_assert_int_eq(pv[0], 0x11);

    /* Gone with the mapping: a new one is the segment's data again. */
    ck_assert_int_eq(rmem_munmap(a, pv, len), 0);
    ck_assert_int_eq(rmem_munmap(a, pv2, 8 * PAGE), 0);
    ck_assert_uint_eq(count(ctl("segment", "list", NULL)->out, " anon "), 0);
    pv = map(a, MAP_PRIVATE | MAP_NORESERVE, "base", len, 0);
    ck_assert_int_eq(pv[0], page_byte(0, 7));
    ck_assert_int_eq(pv[8 * PAGE], 0x22);
    ck_assert_int_eq(rmem_munmap(a, pv, len), 0);

    ck_assert_int_eq(rmem_munmap(b, pb, len), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "base"), 0);
    ck_assert_str_eq(ctl("--json", "segment", "list", NULL)->out, "[]\n");
    rmem_disconnect(b);
    rmem_disconnect(a);
}
END_TEST

/* A private copy reserves its size as anonymous memory does, unless
 * MAP_NORESERVE; at the memsw limit the mapping fails with ENOMEM. */
START_TEST(map_private_reserves)
{
    rmem_client *a = client_of("default"), *t;
    char *pv;

    create_filled(a, "res", 64 * PAGE, 2);
    pv = map(a, MAP_PRIVATE, "res", 64 * PAGE, 0);
    ck_assert_uint_eq(listed("\"kind\": \"anon\"", "reserved_pages"), 64);
    ck_assert_uint_eq(listed("\"kind\": \"anon\"", "shared_pages"), 64);
    ck_assert_int_eq(rmem_munmap(a, pv, 64 * PAGE), 0);
    pv = map(a, MAP_PRIVATE | MAP_NORESERVE, "res", 64 * PAGE, 0);
    ck_assert_uint_eq(listed("\"kind\": \"anon\"", "reserved_pages"), 0);
    ck_assert_int_eq(rmem_munmap(a, pv, 64 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "res"), 0);

    ck_assert_int_eq(ctl("tenant", "create", "tight", NULL)->status, 0);
    ck_assert_int_eq(ctl("cgroup", "set", "tight", "memory.limit_in_bytes", "1M",
                         NULL)->status, 0);
    ck_assert_int_eq(ctl("cgroup", "set", "tight", "memory.memsw.limit_in_bytes",
                         "1M", NULL)->status, 0);
    t = client_of("tight");
    ck_assert_int_eq(rmem_segment_create(t, "wide", 4 * MiB), 0);
    ck_assert_ptr_eq(rmem_mmap(t, NULL, 4 * MiB, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE, "wide", 0), MAP_FAILED);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(count(ctl("segment", "list", "tight", NULL)->out, " anon "), 0);
    pv = map(t, MAP_PRIVATE | MAP_NORESERVE, "wide", 4 * MiB, 0);
    memset(pv, 1, PAGE);
    ck_assert_int_eq(rmem_munmap(t, pv, 4 * MiB), 0);
    ck_assert_int_eq(rmem_segment_unlink(t, "wide"), 0);
    rmem_disconnect(t);
    rmem_disconnect(a);
}
END_TEST

START_TEST(clone_errors)
{
    rmem_client *a = client_of("default"), *o;
    char long_name[80];
    char *p;

    memset(long_name, 'x', 64);
    long_name[64] = '\0';
    ck_assert_int_eq(ctl("tenant", "create", "other", NULL)->status, 0);
    o = client_of("other");
    ck_assert_int_eq(rmem_segment_create(a, "e1", 4 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_create(a, "e2", 4 * PAGE), 0);

    struct { rmem_client *c; const char *src, *dst; int err; } cases[] = {
        {a, "nope", "x", ENOENT},
        {a, "e1", "e2", EEXIST},
        {a, "e1", "e1", EEXIST},
        {a, "e1", "", EINVAL},
        {a, "", "x", EINVAL},
        {a, NULL, "x", EINVAL},
        {a, "e1", NULL, EINVAL},
        {a, "e1", "a/b", EINVAL},
        {a, "e1", "..", EINVAL},
        {a, "e/1", "x", EINVAL},
        {a, "e1", long_name, ENAMETOOLONG},
        {a, long_name, "x", ENAMETOOLONG},
        {NULL, "e1", "x", EINVAL},
        {o, "e1", "x", ENOENT},                 /* another tenant's */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        errno = 0;
        ck_assert_msg(rmem_segment_clone(cases[i].c, cases[i].src, cases[i].dst) == -1 &&
                      errno == cases[i].err, "case %zu: errno %d, want %d", i,
                      errno, cases[i].err);
    }
    ck_assert_ptr_eq(rmem_mmap(o, NULL, PAGE, PROT_READ, MAP_PRIVATE, "e1", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_PRIVATE, "e1", 100),
                     MAP_FAILED);
    ck_assert_int_eq(errno, EINVAL);

    /* Unlinked but still mapped: it has no name to clone by. */
    p = map(a, MAP_SHARED, "e1", 4 * PAGE, 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "e1"), 0);
    ck_assert_int_eq(rmem_segment_clone(a, "e1", "x"), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, PAGE, PROT_READ, MAP_PRIVATE, "e1", 0),
                     MAP_FAILED);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_ptr_eq(rmem_mmap(a, NULL, 8 * PAGE, PROT_READ, MAP_PRIVATE, "e2", 0),
                     MAP_FAILED);                /* past its end: copy freed */
    ck_assert_int_eq(errno, EINVAL);
    /* Nothing was made by any failure. */
    ck_assert_uint_eq(count(ctl("segment", "list", NULL)->out, "\n"), 1 + 2);
    ck_assert_int_eq(rmem_munmap(a, p, 4 * PAGE), 0);
    ck_assert_int_eq(rmem_segment_unlink(a, "e2"), 0);
    ck_assert_str_eq(ctl("--json", "segment", "list", NULL)->out, "[]\n");
    rmem_disconnect(o);
    rmem_disconnect(a);
}
END_TEST

Suite *segment_clone_suite(void)
{
    Suite *s = suite_create("segment_clone");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_add_test(tc, clone_is_a_snapshot);
    tcase_add_test(tc, clone_of_clone_outlives_unlink);
    tcase_add_test(tc, clone_is_charged_once);
    tcase_add_test(tc, map_private_is_private);
    tcase_add_test(tc, map_private_reserves);
    tcase_add_test(tc, clone_errors);
    suite_add_tcase(s, tc);
    return s;
}
