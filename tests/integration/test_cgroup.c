/* Tenants and their memory cgroups end to end: a real rmemd, the real
 * rmemctl binary and librmem.  A tenant created with a token and limited
 * through `rmemctl cgroup set` refuses rmem_mmap reservations past its
 * memsw limit with ENOMEM and counts them in memory.failcnt; memory.stat
 * prints as Linux's file; bad input is refused with the right errno and
 * exit status; a limit below usage is EBUSY; tenants never see each
 * other's segments; the admin role needs its token.
 *
 * rmemctl runs as a child with PR_SET_PDEATHSIG, like the server, so a
 * test that fails or times out leaves neither behind. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../client/internal.h"      /* rmem__conn: the raw wire */
#include "harness.h"
#include "rmem.h"

#define MiB (1024ul * 1024)

static struct rmemd srv;

static void start_server(void)
{
    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "128M",
                                 "--session-grace", "0", NULL}), 0);
}

static void stop_server(void)
{
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}

/* build/rmemctl -s SERVER ARGS... (NULL-terminated). */
static struct harness_run *ctl(const char *first, ...)
{
    static struct harness_run r;
    const char *argv[40];
    int n = 0;
    va_list ap;

    argv[n++] = harness_path("rmemctl");
    argv[n++] = "-s";
    argv[n++] = srv.addr;
    argv[n++] = first;
    va_start(ap, first);
    while (n < 39 && (argv[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    argv[n] = NULL;
    ck_assert_int_eq(harness_run(&r, argv), 0);
    return &r;
}

#define ck_ctl_ok(r) \
    ck_assert_msg((r)->status == 0, "rmemctl exit %d: %s", (r)->status, (r)->err)

/* Fails with exit status 1 and `what` in its message. */
#define ck_ctl_fails(r, what)                                                \
    do {                                                                     \
        struct harness_run *r_ = (r);                                                \
        ck_assert_msg(r_->status == 1, "exit %d, want 1: %s", r_->status,    \
                      r_->err);                                              \
        ck_assert_msg(strstr(r_->err, what), "stderr lacks '%s': %s", what,  \
                      r_->err);                                              \
    } while (0)

static uint64_t get_u64(const char *tenant, const char *key)
{
    struct harness_run *r = ctl("cgroup", "get", tenant, key, NULL);

    ck_ctl_ok(r);
    return strtoull(r->out, NULL, 10);
}

static rmem_client *connect_as(const char *tenant, const char *token)
{
    rmem_options o;
    rmem_client *c;

    rmem_options_init(&o);
    o.server = srv.addr;
    o.tenant = tenant;
    o.token = token;
    c = rmem_connect(&o);
    ck_assert_msg(c != NULL, "rmem_connect as %s: %s", tenant, strerror(errno));
    return c;
}

/* ---- the raw wire, for exact page counts ---- */

static void wire_open(struct rmem__conn *cn, const char *tenant, const char *token)
{
    ck_assert_int_eq(rmem__conn_open(cn, &(struct rmem__conn_target){
        srv.addr, tenant, token, "test_cgroup", 0, NULL}), 0);
}

static uint64_t wire_segment(struct rmem__conn *cn, uint64_t bytes, bool reserve)
{
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    sc.name = "";
    sc.size = bytes;
    sc.reserve = reserve;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    ck_assert_int_eq(rmem__conn_rpc(cn, &req, NULL, 0, &resp, NULL, 0, NULL), 0);
    return resp->segment_create->segment;
}

static int wire_write(struct rmem__conn *cn, uint64_t seg, uint64_t first,
                      uint32_t count)
{
    static char pages[64 * 4096];
    Rmem__PageRange range = RMEM__PAGE_RANGE__INIT, *ranges[1] = {&range};
    Rmem__Write w = RMEM__WRITE__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    struct iovec iov = {pages, (size_t)count * 4096};

    ck_assert_uint_le(count, 64);
    memset(pages, 0x77, iov.iov_len);
    range.first = first;
    range.count = count;
    w.segment = seg;
    w.n_ranges = 1;
    w.ranges = ranges;
    req.body_case = RMEM__REQUEST__BODY_WRITE;
    req.write = &w;
    return rmem__conn_rpc(cn, &req, &iov, 1, &resp, NULL, 0, NULL);
}

static int wire_read(struct rmem__conn *cn, uint64_t seg, uint64_t first,
                     uint32_t count)
{
    static char pages[64 * 4096];
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;

    rd.segment = seg;
    rd.first = first;
    rd.count = count;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    return rmem__conn_rpc(cn, &req, NULL, 0, &resp, pages, sizeof(pages), NULL);
}

static void wire_write_all(struct rmem__conn *cn, uint64_t seg, uint64_t pages)
{
    for (uint64_t i = 0; i < pages; i += 64)
        ck_assert_int_eq(wire_write(cn, seg, i, 64), 0);
}

static void *map(rmem_client *c, size_t len, int extra_flags)
{
    return rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, NULL, 0);
}

/* The scenario of the issue: a tenant with a token, limited to 32M of
 * memory + swap; its client's reservation beyond that fails with ENOMEM,
 * counted in memory.failcnt; MAP_NORESERVE skips the reservation. */
START_TEST(test_memsw_limit_refuses_mmap)
{
    rmem_client *c;
    void *a, *b, *n;

    ck_ctl_ok(ctl("tenant", "create", "t", "--token", "s3cret", NULL));
    /* cgroup v1 order: memsw may not go below the memory limit. */
    ck_ctl_fails(ctl("cgroup", "set", "t", "memory.memsw.limit_in_bytes", "32M",
                     NULL), "Invalid argument");
    ck_ctl_ok(ctl("cgroup", "set", "t", "memory.limit_in_bytes", "32M", NULL));
    ck_ctl_ok(ctl("cgroup", "set", "t", "memory.memsw.limit_in_bytes", "32M", NULL));
    ck_assert_uint_eq(get_u64("t", "memory.memsw.limit_in_bytes"), 32 * MiB);

    c = connect_as("t", "s3cret");
    a = map(c, 20 * MiB, 0);
    ck_assert_msg(a != MAP_FAILED, "rmem_mmap 20M: %s", strerror(errno));
    errno = 0;
    b = map(c, 16 * MiB, 0);
    ck_assert_ptr_eq(b, MAP_FAILED);
    ck_assert_int_eq(errno, ENOMEM);
    ck_assert_uint_eq(get_u64("t", "memory.failcnt"), 1);
    ck_assert_uint_eq(get_u64("t", "memory.memsw.usage_in_bytes"), 20 * MiB);
    ck_assert_uint_eq(get_u64("t", "memory.reserved_in_bytes"), 20 * MiB);
    /* Reserved pages written are charged from the reservation (the
     * client's own segment, on a second connection of its session). */
    {
        struct rmem__conn w;

        ck_assert_int_eq(rmem__conn_open(&w, &(struct rmem__conn_target){
            srv.addr, "t", "s3cret", "test_cgroup", c->ctl.session, NULL}), 0);
        wire_write_all(&w, rmem__vma_find(c->vmas, a)->segment, 512);
        rmem__conn_close(&w);
    }
    ck_assert_uint_eq(get_u64("t", "memory.usage_in_bytes"), 2 * MiB);
    ck_assert_uint_eq(get_u64("t", "memory.memsw.usage_in_bytes"), 20 * MiB);
    n = map(c, 16 * MiB, MAP_NORESERVE);
    ck_assert_msg(n != MAP_FAILED, "MAP_NORESERVE: %s", strerror(errno));
    ck_assert_uint_eq(get_u64("t", "memory.failcnt"), 1);
    {
        struct harness_run *r = ctl("segment", "list", "t", NULL);

        ck_ctl_ok(r);
        ck_assert_msg(strstr(r->out, "5120          512         4608            0            0 live"),
                      "segment list:\n%s", r->out);
        ck_assert_msg(strstr(r->out, "4096            0            0            0            0 live"),
                      "segment list:\n%s", r->out);
    }
    /* Unmapping returns the reservation. */
    ck_assert_int_eq(rmem_munmap(c, a, 20 * MiB), 0);
    ck_assert_uint_eq(get_u64("t", "memory.memsw.usage_in_bytes"), 0);
    b = map(c, 24 * MiB, 0);
    ck_assert_msg(b != MAP_FAILED, "rmem_mmap 24M after munmap: %s", strerror(errno));
    ck_ctl_fails(ctl("tenant", "delete", "t", NULL), "Device or resource busy");
    rmem_disconnect(c);
    ck_ctl_ok(ctl("cgroup", "set", "t", "memory.failcnt", "0", NULL));
    ck_assert_uint_eq(get_u64("t", "memory.failcnt"), 0);
    ck_ctl_ok(ctl("tenant", "delete", "t", NULL));
}
END_TEST

/* memory.stat: cgroup v1's `key value` lines, every one in v1's order,
 * then rmem's additions; rss counting the pages a client wrote back,
 * pgfault the pages it read. */
START_TEST(test_stat_format)
{
    static const char *const keys[] = {
        "cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty",
        "writeback", "swap", "pgpgin", "pgpgout", "pgfault", "pgmajfault",
        "inactive_anon", "active_anon", "inactive_file", "active_file",
        "unevictable", "hierarchical_memory_limit", "hierarchical_memsw_limit",
        "total_cache", "total_rss", "total_rss_huge", "total_shmem",
        "total_mapped_file", "total_dirty", "total_writeback", "total_swap",
        "total_pgpgin", "total_pgpgout", "total_pgfault", "total_pgmajfault",
        "total_inactive_anon", "total_active_anon", "total_inactive_file",
        "total_active_file", "total_unevictable",
        "zswap", "zswapped", "ksm_merging_pages",      /* rmem's additions */
    };
    struct rmem__conn cn;
    uint64_t seg;
    char *line;
    struct harness_run *r;
    regex_t re;
    unsigned i = 0;

    wire_open(&cn, "default", NULL);
    seg = wire_segment(&cn, 4 * MiB, true);
    wire_write_all(&cn, seg, 256);
    ck_assert_int_eq(wire_write(&cn, seg, 0, 8), 0);        /* overwrites */
    ck_assert_int_eq(wire_read(&cn, seg, 0, 4), 0);
    r = ctl("cgroup", "get", "default", "memory.stat", NULL);
    ck_ctl_ok(r);
    ck_assert_int_eq(regcomp(&re, "^[a-z_]+ [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
    for (line = strtok(r->out, "\n"); line; line = strtok(NULL, "\n"), i++) {
        char key[64];

        ck_assert_msg(regexec(&re, line, 0, NULL, 0) == 0, "bad line '%s'", line);
        ck_assert_uint_lt(i, sizeof(keys) / sizeof(keys[0]));
        ck_assert_int_eq(sscanf(line, "%63s", key), 1);
        ck_assert_str_eq(key, keys[i]);
        if (strcmp(key, "rss") == 0 || strcmp(key, "total_rss") == 0)
            ck_assert_str_eq(line + strlen(key) + 1, "1048576");
        if (strcmp(key, "pgpgin") == 0)
            ck_assert_str_eq(line + strlen(key) + 1, "256");
        if (strcmp(key, "pgfault") == 0)
            ck_assert_str_eq(line + strlen(key) + 1, "4");
        if (strcmp(key, "hierarchical_memory_limit") == 0)
            ck_assert_str_eq(line + strlen(key) + 1, "9223372036854771712");
    }
    regfree(&re);
    ck_assert_uint_eq(i, sizeof(keys) / sizeof(keys[0]));
    /* JSON: memory.stat an object, a size a number, pressure a string. */
    r = ctl("--json", "cgroup", "get", "default", NULL);
    ck_ctl_ok(r);
    ck_assert_msg(strstr(r->out, "\"memory.stat\": {\"cache\": 0, \"rss\": 1048576,"),
                  "%s", r->out);
    ck_assert_msg(strstr(r->out, "\"memory.usage_in_bytes\": 1048576,"), "%s", r->out);
    ck_assert_msg(strstr(r->out, "\"memory.pressure_level\": \"low\""), "%s", r->out);
    ck_assert_msg(strstr(r->out, "\"memory.oom_control\": {\"oom_kill_disable\": 1, "
                         "\"under_oom\": 0, \"oom_kill\": 0}"), "%s", r->out);
    /* Without a key: every file, as grep . memory.* prints them. */
    r = ctl("cgroup", "get", "default", NULL);
    ck_ctl_ok(r);
    ck_assert_msg(strstr(r->out, "memory.limit_in_bytes:9223372036854771712\n"
                         "memory.failcnt:0\n"), "%s", r->out);
    ck_assert_msg(strstr(r->out, "memory.stat:rss 1048576\n"), "%s", r->out);
    ck_assert_msg(strstr(r->out, "memory.reserved_in_bytes:3145728\n"), "%s", r->out);
    rmem__conn_close(&cn);
}
END_TEST

/* Lowering a limit below what the tenant holds: EBUSY, limit unchanged. */
START_TEST(test_limit_below_usage_ebusy)
{
    struct rmem__conn cn;

    wire_open(&cn, "default", NULL);
    wire_write_all(&cn, wire_segment(&cn, 4 * MiB, false), 512);
    ck_ctl_fails(ctl("cgroup", "set", "default", "memory.limit_in_bytes", "1M", NULL),
                 "Device or resource busy");
    ck_assert_uint_eq(get_u64("default", "memory.limit_in_bytes"),
                      9223372036854771712ull);
    ck_ctl_ok(ctl("cgroup", "set", "default", "memory.limit_in_bytes", "2M", NULL));
    ck_ctl_ok(ctl("cgroup", "set", "default", "memory.max_usage_in_bytes", "0", NULL));
    ck_assert_uint_eq(get_u64("default", "memory.max_usage_in_bytes"), 2 * MiB);
    ck_assert_str_eq(ctl("cgroup", "get", "default", "memory.pressure_level",
                         NULL)->out, "critical\n");
    /* At the limit, with oom_kill_disable 1: the write fails, under_oom. */
    ck_assert_int_eq(wire_write(&cn, wire_segment(&cn, 1 * MiB, false), 0, 1),
                     -ENOMEM);
    ck_assert_str_eq(ctl("cgroup", "get", "default", "memory.oom_control",
                         NULL)->out, "oom_kill_disable 1\nunder_oom 1\noom_kill 0\n");
    rmem__conn_close(&cn);
}
END_TEST

/* Kill mode (oom_control 0): at the limit the largest segment dies, its
 * owner's READ and WRITE get EOWNERDEAD with the reason, oom_kill counts. */
START_TEST(test_oom_kill_marks_segment_dead)
{
    struct rmem__conn cn;
    uint64_t big, small;

    ck_ctl_ok(ctl("cgroup", "set", "default", "memory.limit_in_bytes", "1M", NULL));
    ck_ctl_ok(ctl("cgroup", "set", "default", "memory.oom_control", "0", NULL));
    wire_open(&cn, "default", NULL);
    big = wire_segment(&cn, 1 * MiB, false);
    small = wire_segment(&cn, 1 * MiB, false);
    wire_write_all(&cn, big, 192);
    wire_write_all(&cn, small, 64);
    ck_assert_int_eq(wire_write(&cn, small, 64, 1), 0);     /* big dies */
    ck_assert_int_eq(wire_read(&cn, big, 0, 1), -EOWNERDEAD);
    ck_assert_msg(strstr(cn.error, "killed by the OOM killer"), "%s", cn.error);
    ck_assert_int_eq(wire_write(&cn, big, 0, 1), -EOWNERDEAD);
    ck_assert_int_eq(wire_read(&cn, small, 0, 1), 0);
    ck_assert_str_eq(ctl("cgroup", "get", "default", "memory.oom_control",
                         NULL)->out, "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    ck_assert_uint_eq(get_u64("default", "memory.usage_in_bytes"), 65 * 4096);
    ck_assert_msg(strstr(ctl("segment", "list", NULL)->out, "oom-killed"),
                  "segment list shows no dead segment");
    rmem__conn_close(&cn);
}
END_TEST

/* Every bad input: the errno's text, exit 1; usage errors exit 2. */
START_TEST(test_bad_inputs)
{
    static const struct {
        const char *args[6];
        int status;
        const char *err;
    } cases[] = {
        {{"cgroup", "get", "nope", "memory.stat"}, 1, "No such file or directory"},
        {{"cgroup", "set", "nope", "memory.limit_in_bytes", "1M"}, 1,
         "No such file or directory"},
        {{"cgroup", "get", "default", "memory.bogus"}, 1, "Invalid argument"},
        {{"cgroup", "set", "default", "memory.bogus", "1"}, 1, "Invalid argument"},
        {{"cgroup", "set", "default", "memory.limit_in_bytes", "lots"}, 1,
         "not a size"},
        {{"cgroup", "set", "default", "memory.limit_in_bytes", "12X"}, 1,
         "Invalid argument"},
        {{"cgroup", "set", "default", "memory.usage_in_bytes", "0"}, 1, "read-only"},
        {{"cgroup", "set", "default", "memory.stat", "0"}, 1, "read-only"},
        {{"cgroup", "set", "default", "memory.failcnt", "3"}, 1, "Invalid argument"},
        {{"cgroup", "set", "default", "memory.oom_control", "yes"}, 1,
         "Invalid argument"},
        {{"tenant", "create", "admin"}, 1, "reserved"},
        {{"tenant", "create", "a/b"}, 1, "only letters"},
        {{"tenant", "create", "default"}, 1, "File exists"},
        {{"tenant", "create",
          "a1234567890123456789012345678901234567890123456789012345678901234"},
         1, "longer than 63"},
        {{"tenant", "delete", "nope"}, 1, "No such file or directory"},
        {{"tenant", "delete", "default"}, 1, "built in"},
        {{"segment", "list", "nope"}, 1, "No such file or directory"},
        {{"tenant"}, 2, "usage"},
        {{"tenant", "create", "x", "--token"}, 2, "usage"},
        {{"cgroup", "get"}, 2, "usage"},
        {{"cgroup", "set", "default", "memory.failcnt"}, 2, "usage"},
        {{"segment", "show"}, 2, "usage"},
    };
    const char *const *a = cases[_i].args;
    struct harness_run *r = ctl(a[0], a[1], a[2], a[3], a[4], a[5], NULL);

    ck_assert_msg(r->status == cases[_i].status, "exit %d, want %d: %s", r->status,
                  cases[_i].status, r->err);
    ck_assert_msg(strstr(r->err, cases[_i].err), "stderr lacks '%s': %s",
                  cases[_i].err, r->err);
    ck_assert_str_eq(r->out, "");
}
END_TEST

/* One tenant's segment handle means nothing to another: ENOENT. */
START_TEST(test_other_tenant_segment_enoent)
{
    struct rmem__conn a, b;
    Rmem__SegmentCreate sc = RMEM__SEGMENT_CREATE__INIT;
    Rmem__Read rd = RMEM__READ__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    static char page[4096];
    uint64_t seg;

    ck_ctl_ok(ctl("tenant", "create", "alice", "--token", "a", NULL));
    ck_ctl_ok(ctl("tenant", "create", "bob", "--token", "b", NULL));
    ck_assert_int_eq(rmem__conn_open(&a, &(struct rmem__conn_target){
        srv.addr, "alice", "a", "test", 0, NULL}), 0);
    ck_assert_int_eq(rmem__conn_open(&b, &(struct rmem__conn_target){
        srv.addr, "bob", "b", "test", 0, NULL}), 0);
    sc.name = "";
    sc.size = 1 * MiB;
    sc.reserve = true;
    req.body_case = RMEM__REQUEST__BODY_SEGMENT_CREATE;
    req.segment_create = &sc;
    ck_assert_int_eq(rmem__conn_rpc(&a, &req, NULL, 0, &resp, NULL, 0, NULL), 0);
    seg = resp->segment_create->segment;
    rd.segment = seg;
    rd.count = 1;
    req.body_case = RMEM__REQUEST__BODY_READ;
    req.read = &rd;
    ck_assert_int_eq(rmem__conn_rpc(&a, &req, NULL, 0, &resp, page, sizeof(page),
                                    NULL), 0);
    ck_assert_int_eq(rmem__conn_rpc(&b, &req, NULL, 0, &resp, page, sizeof(page),
                                    NULL), -ENOENT);
    /* A tenant's connection is not the admin role. */
    {
        Rmem__TenantList tl = RMEM__TENANT_LIST__INIT;

        req.body_case = RMEM__REQUEST__BODY_TENANT_LIST;
        req.tenant_list = &tl;
        ck_assert_int_eq(rmem__conn_rpc(&b, &req, NULL, 0, &resp, NULL, 0, NULL),
                         -EACCES);
    }
    ck_assert_uint_eq(get_u64("alice", "memory.reserved_in_bytes"), 1 * MiB);
    ck_assert_uint_eq(get_u64("bob", "memory.reserved_in_bytes"), 0);
    rmem__conn_close(&a);
    rmem__conn_close(&b);
}
END_TEST

/* Tenant list in text and JSON, create with a token, delete. */
START_TEST(test_tenant_list_create_delete)
{
    struct harness_run *r;

    ck_ctl_ok(ctl("tenant", "create", "web", "--token", "tok", NULL));
    ck_ctl_ok(ctl("tenant", "create", "batch", NULL));
    r = ctl("tenant", "list", NULL);
    ck_ctl_ok(r);
    ck_assert_msg(strstr(r->out, "NAME ") == r->out, "%s", r->out);
    ck_assert_msg(strstr(r->out, "\nbatch                no "), "%s", r->out);
    ck_assert_msg(strstr(r->out, "\nweb                  yes "), "%s", r->out);
    ck_assert(strstr(r->out, "batch") < strstr(r->out, "default"));  /* sorted */
    r = ctl("tenant", "list", "--json", NULL);
    ck_ctl_ok(r);
    ck_assert_msg(strstr(r->out, "{\"name\": \"web\", \"token\": true, "
                         "\"usage_bytes\": 0, \"limit_bytes\": 9223372036854771712"),
                  "%s", r->out);
    ck_assert_int_eq(r->out[0], '[');
    r = ctl("--json", "tenant", "delete", "batch", NULL);
    ck_ctl_ok(r);
    ck_assert_str_eq(r->out, "{\"deleted\": \"batch\"}\n");
    r = ctl("--json", "cgroup", "set", "web", "memory.limit_in_bytes", "64M", NULL);
    ck_ctl_ok(r);
    ck_assert_str_eq(r->out, "67108864\n");
    r = ctl("--json", "segment", "list", NULL);
    ck_ctl_ok(r);
    ck_assert_str_eq(r->out, "[]\n");
    r = ctl("tenant", "list", NULL);
    ck_assert_ptr_null(strstr(r->out, "batch"));
    /* The deleted tenant's clients are refused at Hello. */
    {
        rmem_options o;

        rmem_options_init(&o);
        o.server = srv.addr;
        o.tenant = "batch";
        ck_assert_ptr_null(rmem_connect(&o));
        ck_assert_int_eq(errno, EACCES);
    }
}
END_TEST

/* With --admin-token the admin role needs it, from loopback too. */
START_TEST(test_admin_token_required)
{
    struct rmemd d = srv;
    struct harness_run *r;

    ck_assert_int_eq(rmemd_start(&srv, (const char *[]){"--pool", "16M",
                                 "--admin-token", "adm1n", NULL}), 0);
    r = ctl("tenant", "list", NULL);
    ck_ctl_fails(r, "Permission denied");
    r = ctl("--token", "wrong", "tenant", "list", NULL);
    ck_ctl_fails(r, "Permission denied");
    r = ctl("--admin-token", "adm1n", "tenant", "list", NULL);
    ck_ctl_ok(r);
    r = ctl("--token", "adm1n", "cgroup", "get", "default", "memory.failcnt", NULL);
    ck_ctl_ok(r);
    ck_assert_str_eq(r->out, "0\n");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
    srv = d;
}
END_TEST

Suite *cgroup_suite(void)
{
    Suite *s = suite_create("cgroup");
    TCase *tc = tcase_create("rmemctl");

    tcase_add_checked_fixture(tc, start_server, stop_server);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_memsw_limit_refuses_mmap);
    tcase_add_test(tc, test_stat_format);
    tcase_add_test(tc, test_limit_below_usage_ebusy);
    tcase_add_test(tc, test_oom_kill_marks_segment_dead);
    tcase_add_loop_test(tc, test_bad_inputs, 0, 22);
    tcase_add_test(tc, test_other_tenant_segment_enoent);
    tcase_add_test(tc, test_tenant_list_create_delete);
    tcase_add_test(tc, test_admin_token_required);
    suite_add_tcase(s, tc);
    return s;
}
