/* Swap-in off rmemd's event loop, end to end: a tenant whose pages are in
 * the swap file reads them while a second tenant keeps asking for its
 * own pages on another connection.  rmemd runs with --swap-read-delay
 * (every swap-in read waits that long on its worker, as a slow disk
 * would), so the first tenant's READ is in flight for a good while: the
 * second tenant's answers keep coming meanwhile - counted, not timed - and
 * the first tenant's two pipelined requests are still answered in order,
 * with every page intact.  With swap-in on the loop thread the second
 * tenant would get no answer at all until the READ was done. */
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

static void stamp(uint64_t *page, uint64_t seed, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i++)
        page[i] = (seed << 48) ^ (idx << 12) ^ i;
}

static int stamp_ok(const uint64_t *page, uint64_t seed, uint64_t idx)
{
    for (size_t i = 0; i < PAGE / 8; i++)
        if (page[i] != ((seed << 48) ^ (idx << 12) ^ i))
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
        srv.addr, tenant, NULL, "test_swapin", 0}), 0);
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

static void wire_write_stamped(struct rmem__conn *cn, uint64_t seg, uint64_t seed,
                               uint32_t pages)
{
    static uint64_t buf[64 * PAGE / 8];
    Rmem__PageRange range = RMEM__PAGE_RANGE__INIT, *ranges[1] = {&range};
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    for (uint32_t first = 0; first < pages; first += 64) {
        struct iovec iov = {buf, 64 * PAGE};

        for (uint32_t i = 0; i < 64; i++)
            stamp(buf + i * PAGE / 8, seed, first + i);
        range.first = first;
        range.count = 64;
        w.segment = seg;
        w.n_ranges = 1;
        w.ranges = ranges;
        req.body_case = RMEM__REQUEST__BODY_WRITE;
        req.write = &w;
        ck_assert_int_eq(rmem__conn_rpc(cn, &req, &iov, 1, &resp, NULL, 0, NULL), 0);
    }
}

/* ---- alice: two requests pipelined on one connection, by hand ---- */

static int send_read(int fd, uint64_t id, uint64_t seg, uint64_t first,
                     uint32_t count)
{
    static uint8_t out[FRAME_PREFIX_LEN + FRAME_MAX_HEADER];
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    int64_t n;

    rd.segment = seg;
    rd.first = first;
    rd.count = count;
    req.id = id;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    n = frame_pack_request(&req, 0, out, sizeof(out));
    return n > 0 && write(fd, out, (size_t)n) == n ? 0 : -1;
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

struct alice {
    struct rmem__conn cn;
    uint64_t seg;
    atomic_bool sent;                   /* both requests are on the wire */
    atomic_bool done;
    uint64_t ids[2];                    /* replies in the order they came */
    uint32_t status[2], plen[2];
    int err;
    uint8_t *pages;                     /* the first READ's payload */
    uint8_t one[PAGE];                  /* the second's */
};

static void *alice_reads(void *arg)
{
    struct alice *a = arg;
    int fd = a->cn.fd;

    /* Her oldest pages, all in the file; then one page that is resident
     * (the last she wrote), on the same connection, without waiting. */
    a->err = send_read(fd, 1001, a->seg, 0, A_READ) ||
             send_read(fd, 1002, a->seg, A_PAGES - 1, 1);
    atomic_store(&a->sent, true);
    a->err = a->err ||
             recv_reply(fd, &a->ids[0], &a->status[0], a->pages,
                        A_READ * PAGE, &a->plen[0]) ||
             recv_reply(fd, &a->ids[1], &a->status[1],
                        a->ids[0] == 1001 ? (void *)a->one : (void *)a->pages,
                        A_READ * PAGE, &a->plen[1]);
    atomic_store(&a->done, true);
    return NULL;
}

START_TEST(test_other_tenant_served_during_swapin)
{
    struct alice *a = calloc(1, sizeof(*a));
    static uint64_t page[PAGE / 8];
    struct rmem__conn bob;
    uint64_t bob_seg, answers = 0, total = 0;
    char out[16384];
    pthread_t t;

    ck_assert_ptr_nonnull(a);
    a->pages = malloc(A_READ * PAGE);
    ck_assert_ptr_nonnull(a->pages);
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", "off", "--swap-read-delay",
                                 "150", "--session-grace", "0", NULL}), 0);
    ck_assert_int_eq(ctl("tenant create alice", out, sizeof(out)), 0);
    ck_assert_int_eq(ctl("cgroup set alice memory.limit_in_bytes 1M", out,
                         sizeof(out)), 0);
    wire_open(&a->cn, "alice");
    a->seg = wire_segment(&a->cn, A_PAGES);
    wire_write_stamped(&a->cn, a->seg, 1, A_PAGES);
    ck_assert_int_eq(ctl("cgroup get alice memory.stat", out, sizeof(out)), 0);
    ck_assert_uint_ge(find_u64(out, "\nswap "), (A_PAGES - 256) * PAGE);

    wire_open(&bob, "default");
    bob_seg = wire_segment(&bob, B_PAGES);
    wire_write_stamped(&bob, bob_seg, 2, B_PAGES);

    ck_assert_int_eq(pthread_create(&t, NULL, alice_reads, a), 0);
    /* Bob reads his own pages, one per request, until alice is answered;
     * the answers that come while she still waits are counted. */
    while (!atomic_load(&a->done)) {
        Rmem__Read rd = RMEM__READ__INIT;
        Rmem__Request req = RMEM__REQUEST__INIT;
        Rmem__Response *resp;
        uint64_t idx = total % B_PAGES;
        bool sent = atomic_load(&a->sent);

        rd.segment = bob_seg;
        rd.first = idx;
        rd.count = 1;
        req.body_case = RMEM__REQUEST__BODY_READ;
        req.read = &rd;
        ck_assert_int_eq(rmem__conn_rpc(&bob, &req, NULL, 0, &resp, page,
                                        sizeof(page), NULL), 0);
        ck_assert_msg(stamp_ok(page, 2, idx), "bob's page %llu lost",
                      (unsigned long long)idx);
        total++;
        /* Sent after alice's READ, answered before it. */
        answers += sent && !atomic_load(&a->done);
        ck_assert_uint_lt(total, 10000000);
    }
    pthread_join(t, NULL);
    printf("swapin: bob got %llu answers while alice's %u-page READ waited "
           "for the swap file\n", (unsigned long long)answers, A_READ);

    /* Alice: both answered, in the order asked, every page intact. */
    ck_assert_int_eq(a->err, 0);
    ck_assert_uint_eq(a->ids[0], 1001);
    ck_assert_uint_eq(a->ids[1], 1002);
    ck_assert_uint_eq(a->status[0], 0);
    ck_assert_uint_eq(a->status[1], 0);
    ck_assert_uint_eq(a->plen[0], A_READ * PAGE);
    for (uint32_t i = 0; i < A_READ; i++)
        ck_assert_msg(stamp_ok((uint64_t *)(a->pages + i * PAGE), 1, i),
                      "alice's page %u lost", i);
    ck_assert(stamp_ok((uint64_t *)a->one, 1, A_PAGES - 1));
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

/* A client that hangs up while its READ waits: rmemd finishes the read by
 * itself, frees what it held, and exits cleanly (mm_check at exit). */
START_TEST(test_close_while_waiting)
{
    struct rmem__conn cn;
    uint64_t seg;
    char out[16384];

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "32M", "--swap",
                                 swap_arg, "--zswap", "off", "--swap-read-delay",
                                 "100", "--session-grace", "0", NULL}), 0);
    ck_assert_int_eq(ctl("cgroup set default memory.limit_in_bytes 1M", out,
                         sizeof(out)), 0);
    wire_open(&cn, "default");
    seg = wire_segment(&cn, A_PAGES);
    wire_write_stamped(&cn, seg, 3, A_PAGES);
    ck_assert_int_eq(send_read(cn.fd, 77, seg, 0, A_READ), 0);
    rmem__conn_close(&cn);
    /* The session goes with its last connection (no grace), its segment
     * and slots with it; the slots being read are held until the read is
     * done, then freed: none is left. */
    for (int tries = 0;; tries++) {
        ck_assert_int_eq(ctl("--json swapinfo", out, sizeof(out)), 0);
        if (find_u64(out, "\"used_bytes\": ") == 0)
            break;
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
    tcase_add_test(tc, test_close_while_waiting);
    tcase_add_test(tc, test_read_larger_than_limit);
    suite_add_tcase(s, tc);
    return s;
}
