/* Swap I/O off rmemd's event loop, both directions, end to end.
 *
 * Swap-in: a tenant whose pages are in the swap file reads them while a
 * second tenant keeps asking for its own pages on another connection.
 * rmemd runs with --swap-read-delay (every swap-in read waits that long
 * on its worker, as a slow disk would), so the first tenant's READ is in
 * flight for a good while: the second tenant's answers keep coming
 * meanwhile - counted, not timed - and the first tenant's two pipelined
 * requests are still answered in order, with every page intact.  With
 * swap-in on the loop thread the second tenant would get no answer at all
 * until the READ was done.
 *
 * Swap-out: the same with a WRITE past the tenant's memory limit, whose
 * direct reclaim must write pages out first, under --swap-write-delay;
 * with zswap on and its pool full, that write-out also carries zswap's
 * writeback of its oldest entries.  With direct reclaim writing on the
 * loop thread, the second tenant would wait for every one of those
 * writes. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../client/internal.h"      /* rmem__conn: the raw wire */
#include "frame.h"
#include "harness.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul
#define A_PAGES 1024u                   /* alice writes 4 MiB under a 1 MiB limit */
#define A_READ 128u                     /* and reads back her oldest 512 KiB */
#define A_WRITE 64u                     /* then writes 256 KiB more */
#define B_PAGES 64u

static struct rmemd srv;
static char dir[64], swap_path[128], swap_arg[160];

static void make_dir(void)
{
    strcpy(dir, "/tmp/rmem-swapin-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(swap_path, sizeof(swap_path), "%s/swapfile", dir);
    snprintf(swap_arg, sizeof(swap_arg), "%s:64M", swap_path);
}

/* Unchecked: runs after the tests, also after one that failed. */
static void remove_dir(void)
{
    unlink(swap_path);
    rmdir(dir);
}

/* Words of a page that carry its stamp; the rest are zeros.  Fewer than
 * all make pages zswap keeps (they compress to a quarter page). */
static size_t stamp_words = PAGE / 8;

static void stamp(uint64_t *page, uint64_t seed, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i++)
        page[i] = i < stamp_words ? (seed << 48) ^ (idx << 12) ^ i : 0;
}

static int stamp_ok(const uint64_t *page, uint64_t seed, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i++)
        if (page[i] != (i < stamp_words ? (seed << 48) ^ (idx << 12) ^ i : 0))
            return 0;
    return 1;
}

/* stdout of `rmemctl -s ADDR args...` into out; the exit status. */
static int ctl(const char *args, char *out, size_t cap)
{
    char cmd[512];
    size_t len = 0, n;
    FILE *p;

    snprintf(cmd, sizeof(cmd), "%s -s %s %s", harness_path("rmemctl"), srv.addr,
             args);
    p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    while (len < cap - 1 && (n = fread(out + len, 1, cap - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    return pclose(p);
}

static uint64_t find_u64(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    ck_assert_msg(p != NULL, "no %s in %s", key, text);
    return strtoull(p + strlen(key), NULL, 10);
}

static void wire_open(struct rmem__conn *cn, const char *tenant)
{
    ck_assert_int_eq(rmem__conn_open(cn, &(struct rmem__conn_target){
        srv.addr, tenant, NULL, "test_swapin", 0, NULL}), 0);
}

static uint64_t wire_segment(struct rmem__conn *cn, uint64_t pages)
{
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    sc.name = "";
    sc.size = pages * PAGE;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    ck_assert_int_eq(rmem__conn_rpc(cn, &req, NULL, 0, &resp, NULL, 0, NULL), 0);
    return resp->segment_create->segment;
}

/* A READ or a WRITE of pages [first, first + count), in storage of the
 * caller's: alice's thread and bob's build theirs at the same time. */
struct wire_msg {
    Rmem__Request req;
    Rmem__Read rd;
    Rmem__Write w;
    Rmem__PageRange range, *ranges[1];
};

static Rmem__Request *wire_range(struct wire_msg *m, bool is_write,
                                 uint64_t seg, uint64_t first, uint32_t count)
{
    rmem__request__init(&m->req);
    if (is_write) {
        rmem__page_range__init(&m->range);
        rmem__write__init(&m->w);
        m->range.first = first;
        m->range.count = count;
        m->ranges[0] = &m->range;
        m->w.segment = seg;
        m->w.n_ranges = 1;
        m->w.ranges = m->ranges;
        m->req.body_case = RMEM__REQUEST__BODY_WRITE;
        m->req.write = &m->w;
    } else {
        rmem__read__init(&m->rd);
        m->rd.segment = seg;
        m->rd.first = first;
        m->rd.count = count;
        m->req.body_case = RMEM__REQUEST__BODY_READ;
        m->req.read = &m->rd;
    }
    return &m->req;
}

static void stamp_range(uint64_t *buf, uint64_t seed, uint64_t first,
                        uint32_t count)
{
    for (uint32_t i = 0; i < count; i++)
        stamp(buf + i * PAGE / 8, seed, first + i);
}

static void wire_write_stamped(struct rmem__conn *cn, uint64_t seg, uint64_t seed,
                               uint32_t pages)
{
    static uint64_t buf[64 * PAGE / 8];
    struct wire_msg m;
    Rmem__Response *resp;

    for (uint32_t first = 0; first < pages; first += 64) {
        struct iovec iov = {buf, 64 * PAGE};

        stamp_range(buf, seed, first, 64);
        ck_assert_int_eq(rmem__conn_rpc(cn, wire_range(&m, true, seg, first, 64),
                                        &iov, 1, &resp, NULL, 0, NULL), 0);
    }
}

/* Every page of [0, pages) reads back with its stamp. */
static void wire_check_stamped(struct rmem__conn *cn, uint64_t seg, uint64_t seed,
                               uint32_t pages)
{
    static uint64_t buf[64 * PAGE / 8];
    struct wire_msg m;
    Rmem__Response *resp;
    size_t got;

    for (uint32_t first = 0; first < pages; first += 64) {
        ck_assert_int_eq(rmem__conn_rpc(cn, wire_range(&m, false, seg, first, 64),
                                        NULL, 0, &resp, buf, sizeof(buf), &got), 0);
        ck_assert_uint_eq(got, sizeof(buf));
        for (uint32_t i = 0; i < 64; i++)
            ck_assert_msg(stamp_ok(buf + i * PAGE / 8, seed, first + i),
                          "page %u lost", first + i);
    }
}

/* ---- alice: two requests pipelined on one connection, by hand ---- */

/* A READ, or a WRITE of stamped pages (seed), without waiting. */
static int send_range(int fd, uint64_t id, bool is_write, uint64_t seg,
                      uint64_t first, uint32_t count, uint64_t seed)
{
    static uint8_t out[FRAME_PREFIX_LEN + FRAME_MAX_HEADER];
    static uint64_t pages[64 * PAGE / 8];
    struct wire_msg m;
    Rmem__Request *req = wire_range(&m, is_write, seg, first, count);
    int64_t n;

    if (is_write && count > 64)
        return -1;
    req->id = id;
    n = frame_pack_request(req, is_write ? count * PAGE : 0, out, sizeof(out));
    if (n <= 0 || write(fd, out, (size_t)n) != n)
        return -1;
    if (!is_write)
        return 0;
    stamp_range(pages, seed, first, count);
    return write(fd, pages, count * PAGE) == (ssize_t)(count * PAGE) ? 0 : -1;
}

static int read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, (char *)buf + got, len - got);

        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* One response: its id and status, the payload into buf (cap bytes). */
static int recv_reply(int fd, uint64_t *id, uint32_t *status, void *buf,
                      size_t cap, uint32_t *plen)
{
    uint8_t prefix[FRAME_PREFIX_LEN], hdr[FRAME_MAX_HEADER];
    Rmem__Response *resp;
    uint32_t hlen;

    if (read_all(fd, prefix, sizeof(prefix)) ||
        frame_prefix_decode(prefix, &hlen, plen) || *plen > cap ||
        read_all(fd, hdr, hlen))
        return -1;
    resp = rmem__response__unpack(NULL, hlen, hdr);
    if (!resp)
        return -1;
    *id = resp->id;
    *status = resp->status;
    rmem__response__free_unpacked(resp, NULL);
    return read_all(fd, buf, *plen);
}

/* Alice sends two requests at once on one connection: a READ of her
 * pages in the file, or a WRITE past her memory limit (seed 1); then a
 * one-page READ of a page that is resident. */
struct alice {
    struct rmem__conn cn;
    uint64_t seg;
    bool write;                         /* the first request */
    uint64_t first, second;
    uint32_t count;
    atomic_bool sent;                   /* both requests are on the wire */
    atomic_bool done;
    uint64_t ids[2];                    /* replies in the order they came */
    uint32_t status[2], plen[2];
    int err;
    uint8_t *pages;                     /* the first READ's payload */
    uint8_t one[PAGE];                  /* the second's */
};

static void *alice_sends(void *arg)
{
    struct alice *a = arg;
    int fd = a->cn.fd;

    a->err = send_range(fd, 1001, a->write, a->seg, a->first, a->count, 1) ||
             send_range(fd, 1002, false, a->seg, a->second, 1, 0);
    atomic_store(&a->sent, true);
    a->err = a->err ||
             recv_reply(fd, &a->ids[0], &a->status[0], a->pages,
                        a->count * PAGE, &a->plen[0]) ||
             recv_reply(fd, &a->ids[1], &a->status[1],
                        a->ids[0] == 1001 ? (void *)a->one : (void *)a->pages,
                        a->count * PAGE, &a->plen[1]);
    atomic_store(&a->done, true);
    return NULL;
}

/* Alice (limit 1 MiB) with A_PAGES written, and bob, the default tenant,
 * with B_PAGES of his own. */
static void alice_and_bob(struct alice *a, struct rmem__conn *bob,
                          uint64_t *bob_seg, uint64_t alice_pages)
{
    char out[16384];

    ck_assert_int_eq(ctl("tenant create alice", out, sizeof(out)), 0);
    ck_assert_int_eq(ctl("cgroup set alice memory.limit_in_bytes 1M", out,
                         sizeof(out)), 0);
    wire_open(&a->cn, "alice");
    a->seg = wire_segment(&a->cn, alice_pages);
    wire_write_stamped(&a->cn, a->seg, 1, A_PAGES);
    ck_assert_int_eq(ctl("cgroup get alice memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_ge(find_u64(out, "\nswap "), (A_PAGES - 256) * PAGE);
    wire_open(bob, "default");
    *bob_seg = wire_segment(bob, B_PAGES);
    wire_write_stamped(bob, *bob_seg, 2, B_PAGES);
}

/* Alice's two requests go out; bob reads his own pages, one per request,
 * until she is answered.  Returns the answers he got while she waited:
 * sent after her first request, answered before it. */
static uint64_t bob_served_while_alice_waits(struct alice *a,
                                             struct rmem__conn *bob,
                                             uint64_t bob_seg)
{
    static uint64_t page[PAGE / 8];
    uint64_t answers = 0, total = 0;
    pthread_t t;

    ck_assert_int_eq(pthread_create(&t, NULL, alice_sends, a), 0);
    while (!atomic_load(&a->done)) {
        struct wire_msg m;
        Rmem__Response *resp;
        uint64_t idx = total % B_PAGES;
        bool sent = atomic_load(&a->sent);

        ck_assert_int_eq(rmem__conn_rpc(bob, wire_range(&m, false, bob_seg, idx, 1),
                                        NULL, 0, &resp, page, sizeof(page), NULL), 0);
        ck_assert_msg(stamp_ok(page, 2, idx), "bob's page %llu lost",
                      (unsigned long long)idx);
        total++;
        answers += sent && !atomic_load(&a->done);
        ck_assert_uint_lt(total, 10000000);
    }
    pthread_join(t, NULL);
    /* Alice: both answered, in the order asked. */
    ck_assert_int_eq(a->err, 0);
    ck_assert_uint_eq(a->ids[0], 1001);
    ck_assert_uint_eq(a->ids[1], 1002);
    ck_assert_uint_eq(a->status[0], 0);
    ck_assert_uint_eq(a->status[1], 0);
    ck_assert_uint_eq(a->plen[0], a->write ? 0 : a->count * PAGE);
    ck_assert(stamp_ok((uint64_t *)a->one, 1, a->second));
    return answers;
}

START_TEST(test_other_tenant_served_during_swapin)
{
    struct alice *a = calloc(1, sizeof(*a));
    struct rmem__conn bob;
    uint64_t bob_seg, answers;
    char out[16384];

    ck_assert_ptr_nonnull(a);
    a->pages = malloc(A_READ * PAGE);
    ck_assert_ptr_nonnull(a->pages);
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", "off", "--swap-read-delay",
                                 "150", "--session-grace", "0", NULL}), 0);
    alice_and_bob(a, &bob, &bob_seg, A_PAGES);
    /* Her oldest pages, all in the file; then the last she wrote. */
    a->first = 0;
    a->count = A_READ;
    a->second = A_PAGES - 1;
    answers = bob_served_while_alice_waits(a, &bob, bob_seg);
    printf("swapin: bob got %llu answers while alice's %u-page READ waited "
           "for the swap file\n", (unsigned long long)answers, A_READ);
    for (uint32_t i = 0; i < A_READ; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(a->pages + i * PAGE), 1, i),
                      "alice's page %u lost", i);
    /* Four rounds of reads at least 150 ms each: bob was served through
     * them.  Were swap-in on the loop thread, it would sleep through those
     * reads, and bob would get an answer or two at their edges. */
    ck_assert_uint_ge(answers, 10);

    ck_assert_int_eq(ctl("cgroup get alice memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_ge(find_u64(out, "\npgmajfault "), A_READ);
    ck_assert_int_eq(ctl("--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_ge(find_u64(out, "\"pswpin\": "), A_READ);
    ck_assert_uint_eq(find_u64(out, "\"swap_io_errors\": "), 0);

    rmem__conn_close(&bob);
    rmem__conn_close(&a->cn);
    free(a->pages);
    free(a);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* Alice at her limit writes A_WRITE more pages: direct reclaim must write
 * as many of hers out first, each batch 150 ms on its worker.  Loop 0:
 * zswap off; loop 1: zswap on, its pool (1 %) long full of her quarter-
 * stamped pages, so that the write-out carries zswap's writeback of its
 * oldest entries too.  Bob is served throughout; every page alice wrote -
 * in the pool, in zswap, under writeback or in the file - reads back. */
START_TEST(test_other_tenant_served_during_direct_reclaim)
{
    struct alice *a = calloc(1, sizeof(*a));
    bool zswap = _i == 1;
    struct rmem__conn bob;
    uint64_t bob_seg, answers, pgsteal, failcnt, wb = 0;
    char out[16384];

    ck_assert_ptr_nonnull(a);
    stamp_words = zswap ? 64 : PAGE / 8;
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", zswap ? "on" : "off",
                                 "--zswap-max-pool-percent", "1",
                                 "--swap-write-delay", "150", "--session-grace",
                                 "0", NULL}), 0);
    alice_and_bob(a, &bob, &bob_seg, A_PAGES + A_WRITE);
    ck_assert_int_eq(ctl("--json swapinfo", out, sizeof(out)), 0);
    pgsteal = find_u64(out, "\"pgsteal_direct\": ");
    if (zswap)
        wb = find_u64(out, "\"written_back_pages\": ");
    ck_assert_int_eq(ctl("cgroup get alice memory.failcnt", out, sizeof(out)), 0);
    failcnt = strtoull(out, NULL, 10);
    a->write = true;
    a->first = A_PAGES;
    a->count = A_WRITE;
    a->second = A_PAGES + A_WRITE - 1;
    answers = bob_served_while_alice_waits(a, &bob, bob_seg);
    printf("swapout: bob got %llu answers while alice's %u-page WRITE waited "
           "for direct reclaim's write-out (zswap %s)\n",
           (unsigned long long)answers, A_WRITE, zswap ? "on" : "off");
    /* Two batches at least, 150 ms each.  Were the write-out on the loop
     * thread, bob would wait for every page of it. */
    ck_assert_uint_ge(answers, 10);
    ck_assert_int_eq(ctl("--json swapinfo", out, sizeof(out)), 0);
    ck_assert_uint_gt(find_u64(out, "\"pgsteal_direct\": "), pgsteal);
    ck_assert_uint_eq(find_u64(out, "\"swap_io_errors\": "), 0);
    if (zswap)
        ck_assert_uint_gt(find_u64(out, "\"written_back_pages\": "), wb);
    /* Waiting is no failure. */
    ck_assert_int_eq(ctl("cgroup get alice memory.failcnt", out, sizeof(out)), 0);
    ck_assert_uint_eq(strtoull(out, NULL, 10), failcnt);
    wire_check_stamped(&a->cn, a->seg, 1, A_PAGES + A_WRITE);

    rmem__conn_close(&bob);
    rmem__conn_close(&a->cn);
    free(a);
    stamp_words = PAGE / 8;
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* A client that hangs up while its request waits - loop 0: a READ for
 * its swap-ins, 1: a WRITE for direct reclaim's write-out: rmemd finishes
 * the I/O by itself, frees what it held, and exits cleanly (mm_check at
 * exit). */
START_TEST(test_close_while_waiting)
{
    bool write = _i == 1;
    struct rmem__conn cn;
    uint64_t seg;
    char out[16384];

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", "off", write ?
                                 "--swap-write-delay" : "--swap-read-delay",
                                 "100", "--session-grace", "0", NULL}), 0);
    ck_assert_int_eq(ctl("cgroup set default memory.limit_in_bytes 1M", out,
                         sizeof(out)), 0);
    wire_open(&cn, "default");
    seg = wire_segment(&cn, A_PAGES + A_WRITE);
    wire_write_stamped(&cn, seg, 3, A_PAGES);
    ck_assert_int_eq(send_range(cn.fd, 77, write, seg, write ? A_PAGES : 0,
                                write ? A_WRITE : A_READ, 3), 0);
    rmem__conn_close(&cn);
    /* The session goes with its last connection (no grace), its pages and
     * slots with it; the slots being read or written are held until their
     * I/O is done, then freed: none is left. */
    for (int tries = 0;; tries++) {
        ck_assert_int_eq(ctl("--json swapinfo", out, sizeof(out)), 0);
        if (find_u64(out, "\"used_bytes\": ") == 0) {
            ck_assert_int_eq(ctl("cgroup get default memory.usage_in_bytes", out,
                                 sizeof(out)), 0);
            if (strtoull(out, NULL, 10) == 0)
                break;
        }
        ck_assert_int_lt(tries, 200);
        usleep(50 * 1000);
    }
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* A tenant whose memory limit is smaller than what it reads: each round's
 * pages push the previous round's back out, the rounds run out, and the
 * READ finishes synchronously - every page intact all the same. */
START_TEST(test_read_larger_than_limit)
{
    static uint64_t pages[256 * PAGE / 8];
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    struct rmem__conn cn;
    char out[16384];
    size_t got = 0;

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", "off", "--session-grace",
                                 "0", NULL}), 0);
    ck_assert_int_eq(ctl("cgroup set default memory.limit_in_bytes 128K", out,
                         sizeof(out)), 0);
    wire_open(&cn, "default");
    rd.segment = wire_segment(&cn, 512);
    wire_write_stamped(&cn, rd.segment, 4, 512);
    rd.first = 0;
    rd.count = 256;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    ck_assert_int_eq(rmem__conn_rpc(&cn, &req, NULL, 0, &resp, pages,
                                    sizeof(pages), &got), 0);
    ck_assert_uint_eq(got, sizeof(pages));
    for (uint32_t i = 0; i < 256; i++)
        ck_assert_msg(stamp_ok(pages + i * PAGE / 8, 4, i), "page %u lost", i);
    ck_assert_int_eq(ctl("cgroup get default memory.usage_in_bytes", out,
                         sizeof(out)), 0);
    ck_assert_uint_le(strtoull(out, NULL, 10), 128 * 1024);
    rmem__conn_close(&cn);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

Suite *swapin_integration_suite(void)
{
    Suite *s = suite_create("swapin_integration");
    TCase *tc = tcase_create("core");

    tcase_add_unchecked_fixture(tc, make_dir, remove_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_other_tenant_served_during_swapin);
    tcase_add_loop_test(tc, test_close_while_waiting, 0, 2);
    tcase_add_test(tc, test_read_larger_than_limit);
    tcase_add_loop_test(tc, test_other_tenant_served_during_direct_reclaim, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
