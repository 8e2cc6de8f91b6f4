/* Named segment RPCs on the wire: SegmentCreate with a name, SegmentOpen
 * and SegmentUnlink sent as raw frames to a real rmemd, with the bad
 * inputs a client library would never send - names of every wrong shape,
 * sizes, another tenant's handles and namespace, the admin role's unlink -
 * and what survives a session. */
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

static uint8_t wire_in[FRAME_MAX_PAYLOAD];
static uint8_t page[4096];

/* One request, one response (payload into wire_in). */
static Rmem__Response *call(int fd, Rmem__Request *req, const void *payload,
                            uint32_t plen)
{
    static uint64_t next_id = 1;
    uint8_t hdr[FRAME_PREFIX_LEN + FRAME_MAX_HEADER], prefix[FRAME_PREFIX_LEN];
    int64_t n;
    uint32_t hlen, rplen;
    Rmem__Response *resp;

    /* Ids start at 1, as librmem's. */
    req->id = next_id++;
    n = frame_pack_request(req, plen, hdr, sizeof(hdr));
    ck_assert_int_gt(n, 0);
    wire_send_all(fd, hdr, (size_t)n);
    if (plen)
        wire_send_all(fd, payload, plen);
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
    h.client = "test_named_wire";
    req.body_case = RMEM__REQUEST__BODY_HELLO;
    req.hello = &h;
    ck_assert_int_eq(status_of(call(fd, &req, NULL, 0)), 0);
    return fd;
}

/* SegmentCreate with a name: status; handle, pages and created on 0. */
static int create(int fd, const char *name, uint64_t size, bool open_existing,
                  uint64_t *seg, uint64_t *pages, bool *created)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Response *resp;
    int status;

    sc.name = (char *)name;
    sc.size = size;
    sc.open_existing = open_existing;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    resp = call(fd, &req, NULL, 0);
    status = resp->status;
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_SEGMENT_CREATE);
        *seg = resp->segment_create->segment;
        *pages = resp->segment_create->pages;
        *created = resp->segment_create->created;
    }
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

static int open_seg(int fd, const char *name, uint64_t *seg, uint64_t *pages)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentOpen so = RMEM__SEGMENT_OPEN__INIT;
    Rmem__Response *resp;
    int status;

    so.name = (char *)name;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_OPEN;
    req.segment_open = &so;
    resp = call(fd, &req, NULL, 0);
    status = resp->status;
    if (status == 0) {
        ck_assert_int_eq(resp->body_case, RMEM__RESPONSE__BODY_SEGMENT_OPEN);
        *seg = resp->segment_open->segment;
        *pages = resp->segment_open->pages;
    }
    rmem__response__free_unpacked(resp, NULL);
    return status;
}

static int unlink_seg(int fd, const char *tenant, const char *name)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentUnlink su = RMEM__SEGMENT_UNLINK__INIT;

    su.name = (char *)name;
    su.tenant = (char *)tenant;
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

static int wr(int fd, uint64_t seg, uint64_t first)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__PageRange r = RMEM__PAGE_RANGE__INIT, *rp = &r;

    r.first = first;
    r.count = 1;
    w.segment = seg;
    w.n_ranges = 1;
    w.ranges = &rp;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    return status_of(call(fd, &req, page, sizeof(page)));
}

static int rd(int fd, uint64_t seg, uint64_t first)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Read r = RMEM__READ__INIT;

    r.segment = seg;
    r.first = first;
    r.count = 1;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &r;
    return status_of(call(fd, &req, NULL, 0));
}

/* Segments the admin role lists for tenant (named ones counted by name). */
static size_t listed(int admin, const char *tenant, const char *name,
                     uint32_t *opens, bool *unlinked)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__SegmentList sl = RMEM__SEGMENT_LIST__INIT;
    Rmem__Response *resp;
    size_t n;

    sl.tenant = (char *)tenant;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_LIST;
    req.segment_list = &sl;
    resp = call(admin, &req, NULL, 0);
    ck_assert_int_eq(resp->status, 0);
    n = resp->segment_list->n_segments;
    for (size_t i = 0; i < n && name; i++) {
        if (strcmp(resp->segment_list->segments[i]->name, name) == 0) {
            *opens = resp->segment_list->segments[i]->opens;
            *unlinked = resp->segment_list->segments[i]->unlinked;
        }
    }
    rmem__response__free_unpacked(resp, NULL);
    return n;
}

static int tenant_create(int admin, const char *name)
{
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__TenantCreate tc = RMEM__TENANT_CREATE__INIT;

    tc.name = (char *)name;
    tc.token = "";
    req.body_case = RMEM__REQUEST__BODY_TENANT_CREATE;
    req.tenant_create = &tc;
    return status_of(call(admin, &req, NULL, 0));
}

static void start(struct rmemd *d)
{
    ck_assert_int_eq(rmemd_start(d, (const char *[]){"--pool", "32M",
                                 "--session-grace", "0", NULL}), 0);
}

static const struct {
    const char *name;
    int status;
} name_cases[] = {
    {"", EINVAL},
    {"a/b", EINVAL},
    {"/x", EINVAL},
    {".", EINVAL},
    {"..", EINVAL},
    {"sp ace", EINVAL},
    {"nl\n", EINVAL},
    {"ümlaut", EINVAL},
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", EINVAL}, /* 64 */
    {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0},      /* 63 */
    {"A-z_0.9", 0},
    {"...", 0},
};

/* Every RPC applies the same name rule; a good name missing is ENOENT. */
START_TEST(names_checked_by_every_rpc)
{
    struct rmemd d;
    uint64_t seg, pages;
    bool created;
    int fd;

    start(&d);
    fd = hello(&d, "default");
    for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
        const char *name = name_cases[i].name;
        int want = name_cases[i].status;

        ck_assert_msg(open_seg(fd, name, &seg, &pages) == (want ? want : ENOENT),
                      "open '%s'", name);
        ck_assert_msg(unlink_seg(fd, "", name) == (want ? want : ENOENT),
                      "unlink '%s'", name);
        if (!name[0]) {
            /* No name is the anonymous kind, not a named one. */
            ck_assert_int_eq(create(fd, name, 4096, false, &seg, &pages, &created), 0);
            ck_assert(!created);
            ck_assert_int_eq(seg_free(fd, seg), 0);
            continue;
        }
        ck_assert_msg(create(fd, name, 4096, false, &seg, &pages, &created) == want,
                      "create '%s'", name);
        if (!want) {
            ck_assert(created);
            ck_assert_int_eq(seg_free(fd, seg), 0);
            ck_assert_int_eq(unlink_seg(fd, "", name), 0);
        }
    }
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* Sizes, EEXIST, open_existing, and the handle's life. */
START_TEST(create_open_and_free)
{
    struct rmemd d;
    uint64_t seg, seg2, seg3, pages;
    bool created;
    int fd;

    start(&d);
    fd = hello(&d, "default");
    ck_assert_int_eq(create(fd, "s", 0, false, &seg, &pages, &created), EINVAL);
    ck_assert_int_eq(create(fd, "s", ((1ull << 36) + 1) * 4096, false, &seg, &pages,
                            &created), EFBIG);
    ck_assert_int_eq(create(fd, "s", 3 * 4096 + 1, false, &seg, &pages, &created), 0);
    ck_assert_uint_eq(pages, 4);
    ck_assert(created);
    ck_assert_int_eq(create(fd, "s", 4096, false, &seg2, &pages, &created), EEXIST);
    ck_assert_int_eq(create(fd, "s", 5 * 4096, true, &seg2, &pages, &created), EINVAL);
    ck_assert_int_eq(create(fd, "s", 4096, true, &seg2, &pages, &created), 0);
    ck_assert(!created);
    ck_assert_uint_eq(pages, 4);
    ck_assert_uint_ne(seg2, seg);
    ck_assert_int_eq(open_seg(fd, "s", &seg3, &pages), 0);
    ck_assert_uint_eq(pages, 4);

    /* Three handles, one segment. */
    memset(page, 0xab, sizeof(page));
    ck_assert_int_eq(wr(fd, seg, 3), 0);
    ck_assert_int_eq(rd(fd, seg3, 3), 0);
    ck_assert_int_eq(wire_in[0], 0xab);
    ck_assert_int_eq(rd(fd, seg2, 4), ERANGE);
    ck_assert_int_eq(seg_free(fd, seg), 0);
    ck_assert_int_eq(seg_free(fd, seg), ENOENT);
    ck_assert_int_eq(rd(fd, seg, 3), ENOENT);
    ck_assert_int_eq(rd(fd, seg2, 3), 0);      /* the others still work */
    ck_assert_int_eq(seg_free(fd, seg2), 0);
    ck_assert_int_eq(seg_free(fd, seg3), 0);
    close(fd);

    /* No session holds it now; a new one finds the data. */
    fd = hello(&d, "default");
    ck_assert_int_eq(open_seg(fd, "s", &seg, &pages), 0);
    ck_assert_int_eq(rd(fd, seg, 3), 0);
    ck_assert_int_eq(wire_in[4095], 0xab);
    close(fd);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

/* Tenants: another tenant's name is not there, its handles are not
 * ours, its namespace not ours to unlink in; the admin role unlinks in
 * any tenant's, naming it; the segment goes at its last close. */
START_TEST(tenants_and_admin_unlink)
{
    struct rmemd d;
    uint64_t seg, oseg, pages;
    uint32_t opens = 0;
    bool created, unlinked = false;
    int fd, other, admin;

    start(&d);
    admin = hello(&d, "admin");
    ck_assert_int_eq(tenant_create(admin, "other"), 0);
    fd = hello(&d, "default");
    other = hello(&d, "other");
    ck_assert_int_eq(create(fd, "mine", 8192, false, &seg, &pages, &created), 0);
    memset(page, 0x11, sizeof(page));
    ck_assert_int_eq(wr(fd, seg, 0), 0);

    ck_assert_int_eq(open_seg(other, "mine", &oseg, &pages), ENOENT);
    ck_assert_int_eq(rd(other, seg, 0), ENOENT);
    ck_assert_int_eq(wr(other, seg, 0), ENOENT);
    ck_assert_int_eq(seg_free(other, seg), ENOENT);
    ck_assert_int_eq(unlink_seg(other, "", "mine"), ENOENT);
    ck_assert_int_eq(unlink_seg(other, "default", "mine"), EACCES);
    /* A tenant may name itself: unlinked (still open), then recreated. */
    ck_assert_int_eq(unlink_seg(fd, "default", "mine"), 0);
    ck_assert_int_eq(seg_free(fd, seg), 0);
    ck_assert_int_eq(create(fd, "mine", 8192, false, &seg, &pages, &created), 0);
    ck_assert(created);

    /* The admin role has no namespace of its own. */
    ck_assert_int_eq(open_seg(admin, "mine", &oseg, &pages), EPERM);
    ck_assert_int_eq(unlink_seg(admin, "", "mine"), EINVAL);
    ck_assert_int_eq(unlink_seg(admin, "nosuch", "mine"), ENOENT);
    ck_assert_int_eq(unlink_seg(admin, "other", "mine"), ENOENT);
    ck_assert_uint_eq(listed(admin, "default", "mine", &opens, &unlinked), 1);
    ck_assert_uint_eq(opens, 1);
    ck_assert(!unlinked);
    ck_assert_int_eq(unlink_seg(admin, "default", "mine"), 0);
    ck_assert_uint_eq(listed(admin, "default", "mine", &opens, &unlinked), 1);
    ck_assert(unlinked);
    ck_assert_int_eq(open_seg(fd, "mine", &oseg, &pages), ENOENT);
    ck_assert_int_eq(wr(fd, seg, 1), 0);        /* the handle still works */
    ck_assert_int_eq(seg_free(fd, seg), 0);     /* last close: freed */
    ck_assert_uint_eq(listed(admin, "default", NULL, NULL, NULL), 0);

    /* A session that ends closes its handles: unlinked, then freed. */
    ck_assert_int_eq(create(other, "x", 4096, false, &oseg, &pages, &created), 0);
    ck_assert_int_eq(unlink_seg(other, "", "x"), 0);
    ck_assert_uint_eq(listed(admin, "other", NULL, NULL, NULL), 1);
    close(other);
    for (int i = 0; i < 100 && listed(admin, "other", NULL, NULL, NULL); i++)
        usleep(10000);
    ck_assert_uint_eq(listed(admin, "other", NULL, NULL, NULL), 0);
    close(fd);
    close(admin);
    ck_assert_int_eq(rmemd_stop(&d), 0);
}
END_TEST

Suite *named_wire_suite(void)
{
    Suite *s = suite_create("named_wire");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, names_checked_by_every_rpc);
    tcase_add_test(tc, create_open_and_free);
    tcase_add_test(tc, tenants_and_admin_unlink);
    suite_add_tcase(s, tc);
    return s;
}
