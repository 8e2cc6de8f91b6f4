/* rmemd on the wire: a real server started through the harness, driven with
 * raw frames over plain sockets, so what is checked is exactly what any
 * client sees - statuses, payload bytes, and when a connection is closed. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "wire.h"

#define POOL_ARGS "--pool", "64M"

static uint8_t wire_in[FRAME_MAX_PAYLOAD];      /* reply payloads */

/* RMEMD_LOG=debug in the environment shows the server's debug log. */
static void start(struct rmemd *d, const char *grace)
{
    const char *level = getenv("RMEMD_LOG") ? getenv("RMEMD_LOG") : "info";
    const char *args[] = {POOL_ARGS, "--session-grace", grace, "--log-level", level,
                          NULL};

    ck_assert_int_eq(rmemd_start(d, args), 0);
}

static void send_req(int fd, const Rmem__Request *req, const void *payload,
                     uint32_t plen)
{
    uint8_t hdr[FRAME_PREFIX_LEN + FRAME_MAX_HEADER];
    int64_t n = frame_pack_request(req, plen, hdr, sizeof(hdr));

    ck_assert_int_gt(n, 0);
    wire_send_all(fd, hdr, (size_t)n);
    if (plen)
        wire_send_all(fd, payload, plen);
}

/* The next response (payload into wire_in), or NULL if the server closed. */
static Rmem__Response *recv_resp(int fd, uint32_t *plen)
{
    uint8_t prefix[FRAME_PREFIX_LEN], hdr[FRAME_MAX_HEADER];
    uint32_t hlen, p;
    Rmem__Response *resp;

    if (wire_recv_all(fd, prefix, sizeof(prefix)))
        return NULL;
    ck_assert_int_eq(frame_prefix_decode(prefix, &hlen, &p), 0);
    ck_assert_int_eq(wire_recv_all(fd, hdr, hlen), 0);
    if (p)
        ck_assert_int_eq(wire_recv_all(fd, wire_in, p), 0);
    resp = rmem__response__unpack(NULL, hlen, hdr);
    ck_assert_ptr_nonnull(resp);
    if (plen)
        *plen = p;
    return resp;
}

/* One request, one response; returns its status. */
static int call(int fd, Rmem__Request *req, const void *payload, uint32_t plen,
                Rmem__Response **out)
{
    Rmem__Response *resp;
    int status;

    send_req(fd, req, payload, plen);
    resp = recv_resp(fd, NULL);
    ck_assert_msg(resp != NULL, "server closed the connection");
    ck_assert_uint_eq(resp->id, req->id);
    status = resp->status;
    if (out)
        *out = resp;
    else
        rmem__response__free_unpacked(resp, NULL);
    return status;
}

static int hello_token_status(int fd, uint32_t version, const char *tenant,
                              const char *token, uint64_t session,
                              uint64_t *session_out)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Hello h = RMEM__HELLO__INIT;
    Rmem__Response *resp;
    int status;

    h.version = version;
    h.tenant = (char *)tenant;
    h.token = (char *)token;
    h.client = (char *)"test_server_wire";
    h.session = session;
    req.id = 1;
    req.body_case = RMEM__REQUEST__BODY_HELLO;
    req.hello = &h;
    status = call(fd, &req, NULL, 0, &resp);
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_HELLO);
        ck_assert_uint_eq(resp->hello->version, RMEM_PROTO_VERSION);
        ck_assert_uint_eq(resp->hello->page_size, 4096);
        ck_assert_uint_eq(resp->hello->max_io_pages, FRAME_MAX_IO_PAGES);
        ck_assert_uint_ne(resp->hello->session, 0);
        if (session)
            ck_assert_uint_eq(resp->hello->session, session);
        if (session_out)
            *session_out = resp->hello->session;
    }
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

static int hello_status(int fd, uint32_t version, const char *tenant,
                        uint64_t session, uint64_t *session_out)
{
    return hello_token_status(fd, version, tenant, "", session, session_out);
}

/* A connection that has said hello; *session (if given) in/out. */
static int client(const struct rmemd *d, uint64_t *session)
{
    int fd = wire_connect(d);

    ck_assert_int_eq(hello_status(fd, RMEM_PROTO_VERSION, "default",
                                  session ? *session : 0, session), 0);
    return fd;
}

static int create_status(int fd, const char *name, uint64_t size, uint64_t *seg)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Response *resp;
    int status;

    sc.name = (char *)name;
    sc.size = size;
    req.id = 2;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    status = call(fd, &req, NULL, 0, &resp);
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_SEGMENT_CREATE);
        ck_assert_uint_eq(resp->segment_create->pages, (size + 4095) / 4096);
        *seg = resp->segment_create->segment;
    }
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

static uint64_t create(int fd, uint64_t pages)
{
    uint64_t seg = 0;

    ck_assert_int_eq(create_status(fd, "", pages * 4096, &seg), 0);
    return seg;
}

/* READ into wire_in; returns the status. */
static int rd(int fd, uint64_t seg, uint64_t first, uint32_t count)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Read r = RMEM__READ__INIT;
    Rmem__Response *resp;
    uint32_t plen;
    int status;

    r.segment = seg;
    r.first = first;
    r.count = count;
    req.id = 3;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &r;
    send_req(fd, &req, NULL, 0);
    resp = recv_resp(fd, &plen);
    ck_assert_ptr_nonnull(resp);
    status = resp->status;
    ck_assert_uint_eq(plen, status ? 0 : (uint64_t)count * 4096);
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

/* WRITE of the given ranges, pages taken in order from src. */
static int wr_ranges(int fd, uint64_t seg, const uint64_t (*ranges)[2], size_t n,
                     const void *src)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__PageRange pr[8], *prp[8];
    uint32_t pages = 0;

    ck_assert_uint_le(n, 8);
    for (size_t i = 0; i < n; i++) {
        rmem__page_range__init(&pr[i]);
        pr[i].first = ranges[i][0];
        pr[i].count = (uint32_t)ranges[i][1];
        prp[i] = &pr[i];
        pages += pr[i].count;
    }
    w.segment = seg;
    w.n_ranges = n;
    w.ranges = prp;
    req.id = 4;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    return call(fd, &req, src, pages * 4096, NULL);
}

static int wr(int fd, uint64_t seg, uint64_t first, uint32_t count, const void *src)
{
    const uint64_t r[1][2] = {{first, count}};

    return wr_ranges(fd, seg, r, 1, src);
}

static Rmem__InfoReply *info(int fd, Rmem__Response **resp)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Info i = RMEM__INFO__INIT;

    req.id = 5;
    req.body_case = RMEM__REQUEST__BODY_INFO;
    req.info = &i;
    ck_assert_int_eq(call(fd, &req, NULL, 0, resp), 0);
    ck_assert_int_eq((*resp)->body_case, RMEM__RESPONSE__BODY_INFO);
    return (*resp)->info;
}

static uint64_t info_segments(int fd)
{
    Rmem__Response *resp;
    uint64_t n = info(fd, &resp)->segments;

    rmem__response__free_unpacked(resp, NULL);
    return n;
}

static void fill_random(uint8_t *p, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* True once the server has closed fd (EOF or reset). */
static bool closed_by_server(int fd)
{
    uint8_t b;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t n;

    if (poll(&pfd, 1, 10000) != 1)
        return false;
    n = recv(fd, &b, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

START_TEST(write_read_round_trip_random_pages)
{
    static uint8_t src[FRAME_MAX_PAYLOAD], zero[4096];
    const uint64_t ranges[3][2] = {{0, 3}, {10, 5}, {1023, 1}};
    struct rmemd d;
    uint64_t seg;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    seg = create(fd, 1024);

    fill_random(src, 9 * 4096, 1);
    ck_assert_int_eq(wr_ranges(fd, seg, ranges, 3, src), 0);
    ck_assert_int_eq(rd(fd, seg, 0, 3), 0);
    ck_assert_mem_eq(wire_in, src, 3 * 4096);
    ck_assert_int_eq(rd(fd, seg, 10, 5), 0);
    ck_assert_mem_eq(wire_in, src + 3 * 4096, 5 * 4096);
    ck_assert_int_eq(rd(fd, seg, 1023, 1), 0);
    ck_assert_mem_eq(wire_in, src + 8 * 4096, 4096);
    ck_assert_int_eq(rd(fd, seg, 5, 1), 0);      /* never written: zeros */
    ck_assert_mem_eq(wire_in, zero, 4096);

    /* A maximal frame: bigger than the server's initial receive buffer. */
    fill_random(src, sizeof(src), 2);
    ck_assert_int_eq(wr(fd, seg, 100, FRAME_MAX_IO_PAGES, src), 0);
    ck_assert_int_eq(rd(fd, seg, 100, FRAME_MAX_IO_PAGES), 0);
    ck_assert_mem_eq(wire_in, src, sizeof(src));
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(pipelined_requests_answered_in_order)
{
    static uint8_t page[4096];
    Rmem__Request req[3] = {RMEM__REQUEST__INIT, RMEM__REQUEST__INIT, RMEM__REQUEST__INIT};
    Rmem__Read r = RMEM__READ__INIT;
    Rmem__Stat st = RMEM__STAT__INIT;
    Rmem__Response *resp;
    struct rmemd d;
    uint32_t plen;
    uint64_t seg;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    seg = create(fd, 4);
    fill_random(page, sizeof(page), 3);
    ck_assert_int_eq(wr(fd, seg, 2, 1, page), 0);
    r.segment = seg;
    r.first = 2;
    r.count = 1;
    for (int i = 0; i < 3; i++) {
        req[i].id = 100 + (uint64_t)i;
        if (i == 1) {
            req[i].body_case = RMEM__REQUEST__BODY_STAT;
            req[i].stat = &st;
        } else {
            req[i].body_case = RMEM__REQUEST__BODY_READ;
            req[i].read = &r;
        }
        send_req(fd, &req[i], NULL, 0);
    }
    for (int i = 0; i < 3; i++) {
        resp = recv_resp(fd, &plen);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(resp->id, 100 + (uint64_t)i);
        ck_assert_int_eq(resp->status, 0);
        if (i == 1) {
            ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_STAT);
            ck_assert_uint_eq(resp->stat->segments, 1);
            ck_assert_uint_ge(resp->stat->usage, 4096);
            ck_assert_uint_gt(resp->stat->limit, 0);
        } else {
            ck_assert_uint_eq(plen, 4096);
            ck_assert_mem_eq(wire_in, page, 4096);
        }
        rmem__response__free_unpacked(resp, NULL);
    }
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(request_before_hello_is_eperm_and_closed)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Stat st = RMEM__STAT__INIT;
    Rmem__Response *resp;
    struct rmemd d;
    int fd;

    start(&d, "10");
    fd = wire_connect(&d);
    req.id = 9;
    req.body_case = RMEM__REQUEST__BODY_STAT;
    req.stat = &st;
    send_req(fd, &req, NULL, 0);
    resp = recv_resp(fd, NULL);
    ck_assert_ptr_nonnull(resp);
    ck_assert_int_eq(resp->status, EPERM);
    ck_assert_ptr_nonnull(strstr(resp->message, "hello first"));
    rmem__response__free_unpacked(resp, NULL);
    ck_assert(closed_by_server(fd));
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(hello_failures)
{
    struct rmemd d;
    int fd;

    start(&d, "10");
    fd = wire_connect(&d);
    ck_assert_int_eq(hello_status(fd, RMEM_PROTO_VERSION + 1, "default", 0, NULL),
                     EPROTONOSUPPORT);
    ck_assert(closed_by_server(fd));
    close(fd);
    fd = wire_connect(&d);
    ck_assert_int_eq(hello_status(fd, RMEM_PROTO_VERSION, "nobody", 0, NULL), EACCES);
    ck_assert(closed_by_server(fd));
    close(fd);
    fd = wire_connect(&d);
    ck_assert_int_eq(hello_status(fd, RMEM_PROTO_VERSION, "default", 12345, NULL), ENOENT);
    ck_assert(closed_by_server(fd));
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(tenant_token_checked)
{
    const char *args[] = {POOL_ARGS, "--default-token", "s3cret", NULL};
    static const char *const wrong[] = {"", "s3cre", "s3cret!", "S3CRET"};
    struct rmemd d;
    int fd;

    ck_assert_int_eq(rmemd_start(&d, args), 0);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        fd = wire_connect(&d);
        ck_assert_int_eq(hello_token_status(fd, RMEM_PROTO_VERSION, "default",
                                            wrong[i], 0, NULL), EACCES);
        ck_assert(closed_by_server(fd));
        close(fd);
    }
    fd = wire_connect(&d);
    ck_assert_int_eq(hello_token_status(fd, RMEM_PROTO_VERSION, "default", "s3cret",
                                        0, NULL), 0);
    create(fd, 1);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* A client that sends faster than it reads: the server stops reading it
 * (its write backlog is bounded), keeps serving others, and answers every
 * request once the client catches up. */
START_TEST(slow_reader_is_paused_not_dropped)
{
    enum { NREQ = 48 };
    static uint8_t src[FRAME_MAX_PAYLOAD];
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Read r = RMEM__READ__INIT;
    Rmem__Response *resp;
    struct rmemd d;
    uint64_t seg;
    uint32_t plen;
    int fd, other;

    start(&d, "10");
    fd = client(&d, NULL);
    other = client(&d, NULL);
    seg = create(fd, FRAME_MAX_IO_PAGES);
    fill_random(src, sizeof(src), 6);
    ck_assert_int_eq(wr(fd, seg, 0, FRAME_MAX_IO_PAGES, src), 0);
    r.segment = seg;
    r.count = FRAME_MAX_IO_PAGES;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &r;
    for (int i = 0; i < NREQ; i++) {             /* 96 MiB of replies */
        req.id = 1000 + (uint64_t)i;
        send_req(fd, &req, NULL, 0);
    }
    sleep_ms(300);
    ck_assert_uint_eq(info_segments(other), 1);  /* the loop is not stuck */
    for (int i = 0; i < NREQ; i++) {
        resp = recv_resp(fd, &plen);
        ck_assert_ptr_nonnull(resp);
        ck_assert_uint_eq(resp->id, 1000 + (uint64_t)i);
        ck_assert_int_eq(resp->status, 0);
        ck_assert_uint_eq(plen, sizeof(src));
        ck_assert_mem_eq(wire_in, src, sizeof(src));
        rmem__response__free_unpacked(resp, NULL);
    }
    close(fd);
    close(other);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* Malformed frames, each sent on its own connection after Hello. */
enum { BAD_HEADER_LEN, BAD_PAYLOAD_LEN, BAD_EMPTY_HEADER, BAD_PROTOBUF,
       BAD_WRITE_PAYLOAD, BAD_NO_BODY, BAD_NR };

static const char *const bad_names[BAD_NR] = {
    "oversized header length", "oversized payload length", "empty header",
    "garbage protobuf", "WRITE payload length mismatch", "request without body",
};

static void send_bad_frame(int fd, int kind, uint64_t seg)
{
    uint8_t buf[64 + 100];
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__PageRange pr = RMEM__PAGE_RANGE__INIT, *prp = &pr;
    int64_t n;

    memset(buf, 0xff, sizeof(buf));
    switch (kind) {
    case BAD_HEADER_LEN:
        frame_prefix_encode(buf, FRAME_MAX_HEADER + 1, 0);
        wire_send_all(fd, buf, FRAME_PREFIX_LEN);
        break;
    case BAD_PAYLOAD_LEN:
        frame_prefix_encode(buf, 8, FRAME_MAX_PAYLOAD + 1);
        wire_send_all(fd, buf, FRAME_PREFIX_LEN + 8);
        break;
    case BAD_EMPTY_HEADER:
        frame_prefix_encode(buf, 0, 0);
        wire_send_all(fd, buf, FRAME_PREFIX_LEN);
        break;
    case BAD_PROTOBUF:
        frame_prefix_encode(buf, 8, 0);
        wire_send_all(fd, buf, FRAME_PREFIX_LEN + 8);
        break;
    case BAD_WRITE_PAYLOAD:
        pr.first = 0;
        pr.count = 1;
        w.segment = seg;
        w.n_ranges = 1;
        w.ranges = &prp;
        req.id = 7;
        req.body_case = RMEM__REQUEST__BODY_WRITE;
        req.write = &w;
        n = frame_pack_request(&req, 100, buf, 64);     /* 100 != 4096 */
        ck_assert_int_gt(n, 0);
        wire_send_all(fd, buf, (size_t)n + 100);
        break;
    case BAD_NO_BODY:
        req.id = 8;
        n = frame_pack_request(&req, 0, buf, 64);
        ck_assert_int_gt(n, 0);
        wire_send_all(fd, buf, (size_t)n);
        break;
    }
}

START_TEST(malformed_frame_closes_only_that_connection)
{
    static uint8_t page[4096];
    Rmem__Response *resp;
    struct rmemd d;
    uint64_t seg, bad_seg;
    int good, bad;

    start(&d, "10");
    good = client(&d, NULL);
    seg = create(good, 8);
    fill_random(page, sizeof(page), 4 + (unsigned)_i);
    ck_assert_int_eq(wr(good, seg, 7, 1, page), 0);

    bad = client(&d, NULL);
    bad_seg = create(bad, 1);
    send_bad_frame(bad, _i, bad_seg);
    ck_assert_msg(closed_by_server(bad), "%s: connection left open", bad_names[_i]);
    close(bad);

    ck_assert_int_eq(rd(good, seg, 7, 1), 0);
    ck_assert_mem_eq(wire_in, page, 4096);
    ck_assert_uint_eq(info(good, &resp)->bad_frames, 1);
    rmem__response__free_unpacked(resp, NULL);
    close(good);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* A request type from a newer protocol (an unknown oneof field) is answered
 * with EOPNOTSUPP and the connection keeps working. */
START_TEST(unknown_request_type_is_eopnotsupp)
{
    /* Request{id = 5, field 99 (varint) = 1}: tag (99 << 3) = 0x318. */
    static const uint8_t hdr[] = {0x08, 0x05, 0x98, 0x06, 0x01};
    uint8_t buf[FRAME_PREFIX_LEN + sizeof(hdr)];
    Rmem__Response *resp;
    struct rmemd d;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    frame_prefix_encode(buf, sizeof(hdr), 0);
    memcpy(buf + FRAME_PREFIX_LEN, hdr, sizeof(hdr));
    wire_send_all(fd, buf, sizeof(buf));
    uint32_t plen;

    resp = recv_resp(fd, &plen);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->id, 5);
    ck_assert_uint_eq(plen, 0);
    ck_assert_int_eq(resp->status, EOPNOTSUPP);
    rmem__response__free_unpacked(resp, NULL);
    ck_assert_uint_eq(info(fd, &resp)->bad_frames, 0);
    rmem__response__free_unpacked(resp, NULL);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* A bodiless success reply to request id 0 packs to an empty header: it
 * must still go out, and the client must be able to read it. */
START_TEST(request_id_zero_gets_its_reply)
{
    Rmem__SegmentFree sf = RMEM__SEGMENT_FREE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    struct rmemd d;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    sf.segment = create(fd, 4);
    req.id = 0;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_FREE;
    req.segment_free = &sf;
    ck_assert_int_eq(call(fd, &req, NULL, 0, NULL), 0);
    ck_assert_uint_eq(info_segments(fd), 0);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(unknown_and_foreign_segments_are_enoent)
{
    static uint8_t page[4096];
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentFree sf = RMEM__SEGMENT_FREE__INIT;
    struct rmemd d;
    uint64_t seg;
    int a, b;

    start(&d, "10");
    a = client(&d, NULL);
    b = client(&d, NULL);                       /* another session */
    seg = create(a, 4);
    ck_assert_int_eq(rd(a, seg + 1000, 0, 1), ENOENT);
    ck_assert_int_eq(rd(b, seg, 0, 1), ENOENT);
    ck_assert_int_eq(wr(b, seg, 0, 1, page), ENOENT);
    req.id = 11;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_FREE;
    req.segment_free = &sf;
    sf.segment = seg;
    ck_assert_int_eq(call(b, &req, NULL, 0, NULL), ENOENT);
    ck_assert_int_eq(rd(a, seg, 0, 1), 0);      /* untouched by b's attempts */
    ck_assert_int_eq(call(a, &req, NULL, 0, NULL), 0);
    ck_assert_int_eq(rd(a, seg, 0, 1), ENOENT);
    ck_assert_int_eq(call(a, &req, NULL, 0, NULL), ENOENT);
    close(a);
    close(b);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(bad_ranges_and_sizes)
{
    static uint8_t pages[2 * 4096];
    const uint64_t two[2][2] = {{0, 1}, {4, 1}};
    struct rmemd d;
    uint64_t seg, unused;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    seg = create(fd, 4);
    ck_assert_int_eq(rd(fd, seg, 3, 2), ERANGE);
    ck_assert_int_eq(rd(fd, seg, 4, 1), ERANGE);
    ck_assert_int_eq(rd(fd, seg, UINT64_MAX, 1), ERANGE);
    ck_assert_int_eq(rd(fd, seg, 0, 0), EINVAL);
    ck_assert_int_eq(rd(fd, seg, 0, FRAME_MAX_IO_PAGES + 1), EINVAL);
    ck_assert_int_eq(wr(fd, seg, 4, 1, pages), ERANGE);
    ck_assert_int_eq(wr_ranges(fd, seg, two, 2, pages), ERANGE);
    ck_assert_int_eq(rd(fd, seg, 3, 1), 0);     /* still served */

    ck_assert_int_eq(create_status(fd, "", 0, &unused), EINVAL);
    ck_assert_int_eq(create_status(fd, "", ((1ull << 36) + 1) * 4096, &unused), EFBIG);
    ck_assert_int_eq(create_status(fd, "", UINT64_MAX, &unused), EFBIG);
    ck_assert_int_eq(create_status(fd, "bad/name", 4096, &unused), EINVAL);
    ck_assert_int_eq(create_status(fd, "", 1, &unused), 0);    /* rounds up */
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(session_join_shares_segments)
{
    static uint8_t page[4096];
    struct rmemd d;
    uint64_t session = 0, seg;
    int a, b;

    start(&d, "30");
    a = client(&d, &session);
    seg = create(a, 2);
    fill_random(page, sizeof(page), 5);
    ck_assert_int_eq(wr(a, seg, 1, 1, page), 0);
    b = client(&d, &session);                   /* joins a's session */
    ck_assert_int_eq(rd(b, seg, 1, 1), 0);
    ck_assert_mem_eq(wire_in, page, 4096);

    /* The last connection closes; one rejoining within the grace period
     * finds the segment intact. */
    close(a);
    close(b);
    sleep_ms(200);
    a = client(&d, &session);
    ck_assert_int_eq(rd(a, seg, 1, 1), 0);
    ck_assert_mem_eq(wire_in, page, 4096);
    close(a);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(session_grace_frees_segments)
{
    struct rmemd d;
    uint64_t session = 0, n = 1;
    int a, watcher;

    start(&d, "1");
    watcher = client(&d, NULL);
    a = client(&d, &session);
    create(a, 4);
    create(a, 4);
    ck_assert_uint_eq(info_segments(watcher), 2);
    close(a);
    sleep_ms(300);
    ck_assert_uint_eq(info_segments(watcher), 2);   /* within grace */
    for (int i = 0; i < 50 && n; i++) {
        sleep_ms(100);
        n = info_segments(watcher);
    }
    ck_assert_uint_eq(n, 0);
    a = wire_connect(&d);                           /* the session is gone */
    ck_assert_int_eq(hello_status(a, RMEM_PROTO_VERSION, "default", session, NULL),
                     ENOENT);
    close(a);
    close(watcher);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(session_grace_zero_frees_at_once)
{
    struct rmemd d;
    uint64_t n = 1;
    int a, watcher;

    start(&d, "0");
    watcher = client(&d, NULL);
    a = client(&d, NULL);
    create(a, 4);
    close(a);
    for (int i = 0; i < 20 && n; i++) {
        sleep_ms(50);
        n = info_segments(watcher);
    }
    ck_assert_uint_eq(n, 0);
    close(watcher);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(info_reports_pool_zones_and_counters)
{
    static uint8_t page[4096];
    Rmem__Response *resp;
    Rmem__InfoReply *in;
    struct rmemd d;
    uint64_t seg;
    int fd;

    start(&d, "10");
    fd = client(&d, NULL);
    seg = create(fd, 4);
    ck_assert_int_eq(wr(fd, seg, 0, 1, page), 0);
    ck_assert_int_eq(rd(fd, seg, 0, 2), 0);
    in = info(fd, &resp);
    ck_assert_uint_eq(in->page_size, 4096);
    ck_assert_uint_gt(in->pool_bytes, 0);
    ck_assert_uint_le(in->pool_bytes, 64ull << 20);
    ck_assert_uint_eq(in->pool_bytes, in->free_bytes + in->used_bytes);
    ck_assert_uint_ge(in->numa_nodes, 1);
    ck_assert_uint_eq(in->tenants, 1);
    ck_assert_uint_eq(in->segments, 1);
    ck_assert_uint_eq(in->connections, 1);
    ck_assert_uint_eq(in->total_connections, 1);
    ck_assert_uint_eq(in->requests, 5);         /* hello create write read info */
    ck_assert_uint_eq(in->pages_written, 1);
    ck_assert_uint_eq(in->pages_read, 2);
    ck_assert_uint_gt(in->bytes_in, 4096);
    ck_assert_uint_gt(in->bytes_out, 2 * 4096);
    ck_assert_uint_eq(in->bad_frames, 0);
    ck_assert_uint_ge(in->n_zones, 1);
    for (size_t z = 0; z < in->n_zones; z++) {
        uint64_t free_pages = 0;

        ck_assert_uint_eq(in->zones[z]->n_free_per_order, 11);
        for (size_t o = 0; o < in->zones[z]->n_free_per_order; o++)
            free_pages += in->zones[z]->free_per_order[o] << o;
        ck_assert_uint_eq(free_pages, in->zones[z]->free_pages);
    }
    rmem__response__free_unpacked(resp, NULL);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

START_TEST(sigterm_exits_zero_with_clients_connected)
{
    static uint8_t page[4096];
    struct rmemd d;
    uint64_t seg;
    int a, b;

    start(&d, "10");
    a = client(&d, NULL);
    b = wire_connect(&d);                       /* no hello yet */
    seg = create(a, 16);
    ck_assert_int_eq(wr(a, seg, 3, 1, page), 0);
    ck_assert_int_eq(rmemd_stop(&d), 0);
    ck_assert(closed_by_server(a));
    ck_assert(closed_by_server(b));
    close(a);
    close(b);
}
END_TEST

START_TEST(sighup_is_survived_sigint_exits_zero)
{
    struct rmemd d;
    int fd, status;

    start(&d, "10");
    fd = client(&d, NULL);
    ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
    sleep_ms(100);
    create(fd, 1);                              /* still serving */
    ck_assert_int_eq(kill(d.pid, SIGINT), 0);
    ck_assert_int_eq(waitpid(d.pid, &status, 0), d.pid);
    d.pid = 0;
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    close(fd);
}
END_TEST

Suite *server_wire_suite(void)
{
    Suite *s = suite_create("server_wire");
    TCase *tc = tcase_create("wire");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, write_read_round_trip_random_pages);
    tcase_add_test(tc, pipelined_requests_answered_in_order);
    tcase_add_test(tc, request_before_hello_is_eperm_and_closed);
    tcase_add_test(tc, hello_failures);
    tcase_add_test(tc, tenant_token_checked);
    tcase_add_test(tc, slow_reader_is_paused_not_dropped);
    tcase_add_loop_test(tc, malformed_frame_closes_only_that_connection, 0, BAD_NR);
    tcase_add_test(tc, unknown_and_foreign_segments_are_enoent);
    tcase_add_test(tc, unknown_request_type_is_eopnotsupp);
    tcase_add_test(tc, request_id_zero_gets_its_reply);
    tcase_add_test(tc, bad_ranges_and_sizes);
    tcase_add_test(tc, session_join_shares_segments);
    tcase_add_test(tc, session_grace_frees_segments);
    tcase_add_test(tc, session_grace_zero_frees_at_once);
    tcase_add_test(tc, info_reports_pool_zones_and_counters);
    tcase_add_test(tc, sigterm_exits_zero_with_clients_connected);
    tcase_add_test(tc, sighup_is_survived_sigint_exits_zero);
    suite_add_tcase(s, tc);
    return s;
}
