/* SegmentClone on the wire: raw frames to a real rmemd with what a client
 * library would never send - names of every wrong shape on either side,
 * another tenant's source, an unlinked source still open, the admin role,
 * no Hello - and what the anonymous (MAP_PRIVATE) kind gives: a handle in
 * the caller's session only, its own pages after a write, a reservation
 * when asked, freed by SegmentFree or with the session. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "frame.h"
#include "wire.h"

#define PAGE 4096u

static uint8_t wire_in[FRAME_MAX_PAYLOAD];
static uint8_t page[PAGE];

/* One request, one response (its payload into wire_in). */
static Rmem__Response *call(int fd, Rmem__Request *req, const void *payload,
                            uint32_t plen)
{
    static uint64_t next_id = 1;
    uint8_t hdr[FRAME_PREFIX_LEN + FRAME_MAX_HEADER], prefix[FRAME_PREFIX_LEN];
    uint32_t hlen, rplen;
    Rmem__Response *resp;
    int64_t n;

    req->id = next_id++;
    n = frame_pack_request(req, plen, hdr, sizeof(hdr));
    ck_assert_int_gt(n, 0);
    wire_send_all(fd, hdr, (size_t)n);
    if (plen)
        wire_send_all(fd, (void *)payload, plen);
    ck_assert_int_eq(wire_recv_all(fd, prefix, sizeof(prefix)), 0);
    ck_assert_int_eq(frame_prefix_decode(prefix, &hlen, &rplen), 0);
    ck_assert_int_eq(wire_recv_all(fd, hdr, hlen), 0);
    if (rplen)
        ck_assert_int_eq(wire_recv_all(fd, wire_in, rplen), 0);
    resp = rmem__response__unpack(NULL, hlen, hdr);
    ck_assert_ptr_nonnull(resp);
    ck_assert_uint_eq(resp->id, req->id);
    return resp;
}

static int status_of(Rmem__Response *resp)
{
    int status = resp->status;

    rmem__response__free_unpacked(resp, NULL);
    return status;
}

static int hello(const struct rmemd *d, const char *tenant)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Hello h = RMEM__HELLO__INIT;
    int fd = wire_connect(d);

    h.version = RMEM_PROTO_VERSION;
    h.tenant = (char *)tenant;
    h.token = "";
    h.client = "test_clone_wire";
    req.body_case = RMEM__REQUEST__BODY_HELLO;
    req.hello = &h;
    ck_assert_int_eq(status_of(call(fd, &req, NULL, 0)), 0);
    return fd;
}

/* SegmentClone: the status; on 0 the reply's handle and pages. */
static int clone_seg(int fd, const char *src, const char *dst, bool reserve,
                     uint64_t *seg, uint64_t *pages)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentClone sc = RMEM__SEGMENT_CLONE__INIT;
    Rmem__Response *resp;
    int status;

    sc.src = (char *)src;
    sc.dst = (char *)dst;
    sc.reserve = reserve;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CLONE;
    req.segment_clone = &sc;
    resp = call(fd, &req, NULL, 0);
    status = resp->status;
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_SEGMENT_CLONE);
        *seg = resp->segment_clone->segment;
        *pages = resp->segment_clone->pages;
    } else {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY__NOT_SET);
    }
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

/* A named segment of npages, a handle on it in *seg. */
static void create_named(int fd, const char *name, uint64_t npages, uint64_t *seg)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Response *resp;

    sc.name = (char *)name;
    sc.size = npages * PAGE;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    resp = call(fd, &req, NULL, 0);
    ck_assert_int_eq(resp->status, 0);
    *seg = resp->segment_create->segment;
    rmem__response__free_unpacked(resp, NULL);
}

static int unlink_seg(int fd, const char *name)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentUnlink su = RMEM__SEGMENT_UNLINK__INIT;

    su.name = (char *)name;
    su.tenant = "";
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_UNLINK;
    req.segment_unlink = &su;
    return status_of(call(fd, &req, NULL, 0));
}

static int seg_free(int fd, uint64_t seg)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentFree sf = RMEM__SEGMENT_FREE__INIT;

    sf.segment = seg;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_FREE;
    req.segment_free = &sf;
    return status_of(call(fd, &req, NULL, 0));
}

/* One page of byte value v at index first. */
static int wr(int fd, uint64_t seg, uint64_t first, int v)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__PageRange r = RMEM__PAGE_RANGE__INIT, *rp = &r;

    memset(page, v, sizeof(page));
    r.first = first;
    r.count = 1;
    w.segment = seg;
    w.n_ranges = 1;
    w.ranges = &rp;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    return status_of(call(fd, &req, page, sizeof(page)));
}

/* The first byte of page first, or -status. */
static int rd(int fd, uint64_t seg, uint64_t first)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Read r = RMEM__READ__INIT;
    int status;

    r.segment = seg;
    r.first = first;
    r.count = 1;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &r;
    status = status_of(call(fd, &req, NULL, 0));
    return status ? -status : wire_in[0];
}

/* The admin role's listing of tenant: how many segments, and of the one
 * with handle seg (0: the named one called name) its figures. */
struct listed {
    size_t n;
    uint64_t shared, reserved, resident;
};

static struct listed list(int admin, const char *tenant, uint64_t seg,
                          const char *name)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentList sl = RMEM__SEGMENT_LIST__INIT;
    Rmem__Response *resp;
    struct listed l = {0};

    sl.tenant = (char *)tenant;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_LIST;
    req.segment_list = &sl;
    resp = call(admin, &req, NULL, 0);
    ck_assert_int_eq(resp->status, 0);
    l.n = resp->segment_list->n_segments;
    for (size_t i = 0; i < l.n; i++) {
        const Rmem__SegmentInfo *si = resp->segment_list->segments[i];

        if ((seg && si->segment == seg) || (name && strcmp(si->name, name) == 0)) {
            l.shared = si->shared_pages;
            l.reserved = si->reserved_pages;
            l.resident = si->resident_pages;
        }
    }
    rmem__response__free_unpacked(resp, NULL);
    return l;
}

static void start(struct rmemd *d)
{
    ck_assert_int_eq(rmemd_start(d, (const char *[]){"--pool", "32M",
                                 "--session-grace", "0", NULL}), 0);
}

static const char *const bad_names[] = {
    "", "a/b", "/x", ".", "..", "sp ace", "nl\n", "\xc3\xbcmlaut",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", /* 64 */
};

/* Bad names on either side are EINVAL (an empty destination is the
 * anonymous kind, not a bad name); a missing source ENOENT, an existing
 * destination EEXIST; nothing is made by a failure. */
START_TEST(clone_names_checked)
{
    struct rmemd d;
    uint64_t h, seg, pages;
    int fd, admin;

    start(&d);
    fd = hello(&d, "default");
    admin = hello(&d, "admin");
    create_named(fd, "src", 4, &h);
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        ck_assert_msg(clone_seg(fd, bad_names[i], "dst", false, &seg, &pages) == EINVAL,
                      "src '%s'", bad_names[i]);
        if (bad_names[i][0])
            ck_assert_msg(clone_seg(fd, "src", bad_names[i], false, &seg, &pages) ==
                          EINVAL, "dst '%s'", bad_names[i]);
    }
    ck_assert_int_eq(clone_seg(fd, "nope", "dst", false, &seg, &pages), ENOENT);
    ck_assert_int_eq(clone_seg(fd, "nope", "", false, &seg, &pages), ENOENT);
    ck_assert_int_eq(clone_seg(fd, "src", "src", false, &seg, &pages), EEXIST);
    ck_assert_uint_eq(list(admin, "default", 0, NULL).n, 1);

    /* The longest name is fine; the named kind's reply has no handle. */
    ck_assert_int_eq(clone_seg(fd, "src", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                               "xxxxxxxxxxxxxxxxxxxxxxxx", false, &seg, &pages), 0);
    ck_assert_uint_eq(seg, 0);
    ck_assert_uint_eq(pages, 4);
    ck_assert_int_eq(unlink_seg(fd, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                "xxxxxxxxxxxxxxxxxxxxxxxx"), 0);
    ck_assert_int_eq(seg_free(fd, h), 0);
    ck_assert_int_eq(unlink_seg(fd, "src"), 0);
    ck_assert_uint_eq(list(admin, "default", 0, NULL).n, 0);
    close(admin);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* Only a tenant clones, after Hello, in its own namespace: another
 * tenant's segment is not there, nor is an unlinked one still open. */
START_TEST(clone_who_and_what)
{
    struct rmemd d;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentClone sc = RMEM__SEGMENT_CLONE__INIT;
    Rmem__TenantCreate tc = RMEM__TENANT_CREATE__INIT;
    uint64_t h, seg, pages;
    int fd, other, admin, raw;

    start(&d);
    raw = wire_connect(&d);
    sc.src = "src";
    sc.dst = "dst";
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CLONE;
    req.segment_clone = &sc;
    ck_assert_int_eq(status_of(call(raw, &req, NULL, 0)), EPERM);   /* no Hello */
    close(raw);

    fd = hello(&d, "default");
    admin = hello(&d, "admin");
    tc.name = "other";
    tc.token = "";
    memset(&req, 0, sizeof(req));
    rmem__request__init(&req);
    req.body_case = RMEM__REQUEST__BODY_TENANT_CREATE;
    req.tenant_create = &tc;
    ck_assert_int_eq(status_of(call(admin, &req, NULL, 0)), 0);
    other = hello(&d, "other");

    create_named(fd, "src", 8, &h);
    ck_assert_int_eq(wr(fd, h, 0, 0x5a), 0);
    ck_assert_int_eq(clone_seg(admin, "src", "dst", false, &seg, &pages), EPERM);
    ck_assert_int_eq(clone_seg(other, "src", "dst", false, &seg, &pages), ENOENT);
    ck_assert_int_eq(clone_seg(other, "src", "", false, &seg, &pages), ENOENT);
    ck_assert_uint_eq(list(admin, "other", 0, NULL).n, 0);

    /* Unlinked, a handle still open: no name to clone by. */
    ck_assert_int_eq(unlink_seg(fd, "src"), 0);
    ck_assert_int_eq(clone_seg(fd, "src", "dst", false, &seg, &pages), ENOENT);
    ck_assert_int_eq(clone_seg(fd, "src", "", false, &seg, &pages), ENOENT);
    ck_assert_int_eq(rd(fd, h, 0), 0x5a);
    ck_assert_int_eq(seg_free(fd, h), 0);
    ck_assert_uint_eq(list(admin, "", 0, NULL).n, 0);
    close(other);
    close(admin);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* The anonymous kind: a handle of this session only, reading the source's
 * pages, its writes its own; reserved when asked; SegmentFree frees it
 * once, the end of the session frees what is left. */
START_TEST(clone_private_handle)
{
    struct rmemd d;
    uint64_t h, priv, priv2, pages;
    struct listed l;
    int fd, fd2, admin;

    start(&d);
    fd = hello(&d, "default");
    fd2 = hello(&d, "default");             /* another session, same tenant */
    admin = hello(&d, "admin");
    create_named(fd, "src", 8, &h);
    ck_assert_int_eq(wr(fd, h, 0, 1), 0);
    ck_assert_int_eq(wr(fd, h, 1, 2), 0);

    ck_assert_int_eq(clone_seg(fd, "src", "", false, &priv, &pages), 0);
    ck_assert_uint_ne(priv, 0);
    ck_assert_uint_ne(priv, h);
    ck_assert_uint_eq(pages, 8);
    l = list(admin, "default", priv, NULL);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_uint_eq(l.shared, 2);
    ck_assert_uint_eq(l.resident, 2);
    ck_assert_uint_eq(l.reserved, 0);
    ck_assert_uint_eq(list(admin, "default", 0, "src").shared, 2);
    ck_assert_int_eq(rd(fd, priv, 0), 1);
    ck_assert_int_eq(rd(fd, priv, 1), 2);
    ck_assert_int_eq(rd(fd, priv, 2), 0);
    ck_assert_int_eq(rd(fd2, priv, 0), -ENOENT);        /* not its session's */

    /* A write to the copy breaks the share on that page only. */
    ck_assert_int_eq(wr(fd, priv, 0, 9), 0);
    ck_assert_int_eq(rd(fd, priv, 0), 9);
    ck_assert_int_eq(rd(fd, h, 0), 1);
    ck_assert_uint_eq(list(admin, "default", priv, NULL).shared, 1);
    ck_assert_int_eq(wr(fd, h, 1, 7), 0);
    ck_assert_int_eq(rd(fd, priv, 1), 2);
    ck_assert_uint_eq(list(admin, "default", 0, "src").shared, 0);

    /* reserve: its whole size charged to memsw up front. */
    ck_assert_int_eq(clone_seg(fd, "src", "", true, &priv2, &pages), 0);
    ck_assert_uint_eq(list(admin, "default", priv2, NULL).reserved, 8);
    ck_assert_int_eq(seg_free(fd, priv), 0);
    ck_assert_int_eq(seg_free(fd, priv), ENOENT);
    ck_assert_int_eq(rd(fd, priv, 0), -ENOENT);
    ck_assert_uint_eq(list(admin, "default", 0, NULL).n, 2);

    /* The session goes: its private copy with it, the named one stays. */
    ck_assert_int_eq(unlink_seg(fd2, "src"), 0);
    close(fd);
    for (int i = 0; i < 100 && list(admin, "default", 0, NULL).n; i++)
        usleep(10000);
    ck_assert_uint_eq(list(admin, "default", 0, NULL).n, 0);
    close(fd2);
    close(admin);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

Suite *clone_wire_suite(void)
{
    Suite *s = suite_create("clone_wire");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, clone_names_checked);
    tcase_add_test(tc, clone_who_and_what);
    tcase_add_test(tc, clone_private_handle);
    suite_add_tcase(s, tc);
    return s;
}
