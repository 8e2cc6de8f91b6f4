/* TLS on the wire, end to end: rmemd with --tls-cert/--tls-key (and
 * --tls-ca), librmem and rmemctl against it.  The certificates are made
 * here, with OpenSSL's API, in a temporary directory that the unchecked
 * fixture (run by the runner's own process, whatever the tests do)
 * removes again:
 *   ca      the CA the server and the good client certificates come from
 *   other   another CA, trusted by nobody here
 *   srv     the server, IP SAN 127.0.0.1, by ca
 *   badip   a server certificate for 127.0.0.2, by ca
 *   cli     a client certificate by ca; stranger: one by other */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../client/internal.h"      /* rmem__conn: the raw wire */
#include "harness.h"
#include "rmem.h"
#include "wire.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

static char dir[64];                    /* "" when the fixture failed */
static char why_not[256];               /* ... and why */

static const char *file(const char *name)
{
    static __thread char path[2][sizeof(dir) + NAME_MAX + 2];
    static __thread int turn;
    char *p = path[turn ^= 1];

    snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
    return p;
}

/* ---- certificates ------------------------------------------------------ */

static bool add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509_EXTENSION *e;
    bool ok;

    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

/* A certificate for key named cn: a CA's (self-signed when issuer is
 * NULL), or an end entity's by issuer with an IP SAN if ip is set. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, const char *ip)
{
    static long serial = 1;
    X509 *x = X509_new();
    X509_NAME *name;
    char san[64];
    bool ok;

    if (!x)
        return NULL;
    name = X509_get_subject_name(x);
    ok = X509_set_version(x, X509_VERSION_3) == 1 &&
         ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) == 1 &&
         X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
         X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
         X509_set_pubkey(x, key) == 1 &&
         X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                    (const unsigned char *)cn, -1, -1, 0) == 1 &&
         X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) == 1;
    if (ok && !issuer)
        ok = add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") &&
             add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (ok && issuer)
        ok = add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
    if (ok && ip) {
        snprintf(san, sizeof(san), "IP:%s", ip);
        ok = add_ext(x, issuer, NID_subject_alt_name, san);
    }
    if (ok)
        ok = X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static bool write_pem(const char *name, X509 *x, EVP_PKEY *key)
{
    FILE *f = fopen(file(name), "w");
    bool ok;

    if (!f)
        return false;
    ok = x ? PEM_write_X509(f, x) == 1 :
             PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) == 1;
    return fclose(f) == 0 && ok;
}

/* An EC P-256 key and a certificate for it, written as NAME.pem and
 * NAME.key; *cert_out keeps the certificate (a CA's) if not NULL. */
static bool make_pair(const char *name, X509 *issuer, EVP_PKEY *issuer_key,
                      const char *ip, X509 **cert_out, EVP_PKEY **key_out)
{
    char pem[32], keyname[32];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = key ? make_cert(key, name, issuer, issuer_key, ip) : NULL;
    bool ok;

    snprintf(pem, sizeof(pem), "%s.pem", name);
    snprintf(keyname, sizeof(keyname), "%s.key", name);
    ok = x && write_pem(pem, x, NULL) && write_pem(keyname, NULL, key);
    if (ok && cert_out) {
        *cert_out = x;
        *key_out = key;
        return true;
    }
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

static void remove_dir(void)
{
    DIR *d;
    struct dirent *e;

    if (!dir[0])
        return;
    d = opendir(dir);
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(file(e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
    dir[0] = '\0';
}

static void make_certs(void)
{
    X509 *ca = NULL, *other = NULL;
    EVP_PKEY *ca_key = NULL, *other_key = NULL;
    bool ok;

    snprintf(dir, sizeof(dir), "/tmp/rmem-tls-XXXXXX");
    if (!mkdtemp(dir)) {
        snprintf(why_not, sizeof(why_not), "mkdtemp: %s", strerror(errno));
        dir[0] = '\0';
        return;
    }
    ok = make_pair("ca", NULL, NULL, NULL, &ca, &ca_key) &&
         make_pair("other", NULL, NULL, NULL, &other, &other_key) &&
         make_pair("srv", ca, ca_key, "127.0.0.1", NULL, NULL) &&
         make_pair("badip", ca, ca_key, "127.0.0.2", NULL, NULL) &&
         make_pair("cli", ca, ca_key, NULL, NULL, NULL) &&
         make_pair("stranger", other, other_key, NULL, NULL, NULL);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    if (!ok) {
        snprintf(why_not, sizeof(why_not), "could not make the test certificates");
        remove_dir();
    }
}

/* ---- servers and clients ---------------------------------------------- */

static struct rmemd srv;

/* rmemd with the server certificate `cert` (and with --tls-ca ca.pem when
 * mutual). */
static void start_tls(const char *cert, bool mutual)
{
    char pem[32], key[32];
    const char *args[] = {"--pool", "128M", "--tls-cert", NULL, "--tls-key", NULL,
                          mutual ? "--tls-ca" : NULL, NULL, NULL};

    ck_assert_msg(dir[0], "no certificates: %s", why_not);
    snprintf(pem, sizeof(pem), "%s.pem", cert);
    snprintf(key, sizeof(key), "%s.key", cert);
    args[3] = strdup(file(pem));
    args[5] = strdup(file(key));
    args[7] = strdup(file("ca.pem"));
    ck_assert_int_eq(rmemd_start(&srv, args), 0);
    free((char *)args[3]);
    free((char *)args[5]);
    free((char *)args[7]);
}

/* rmem_connect with these TLS files (NULL: unset): the client, or NULL
 * with errno. */
static rmem_client *connect_tls(const char *ca, const char *cert, const char *key,
                                size_t limit)
{
    rmem_options o;
    char paths[3][sizeof(dir) + NAME_MAX + 2];

    rmem_options_init(&o);
    o.server = srv.addr;
    o.local_limit = limit;
    o.fault_threads = 2;
    if (ca)
        o.tls_ca = strcpy(paths[0], file(ca));
    if (cert)
        o.tls_cert = strcpy(paths[1], file(cert));
    if (key)
        o.tls_key = strcpy(paths[2], file(key));
    return rmem_connect(&o);
}

/* A round trip that needs the server: map, write, read back, unmap. */
static void check_serves(rmem_client *c)
{
    struct rmem_stat st;
    char *p = rmem_mmap(c, NULL, 64 * PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);

    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    for (size_t i = 0; i < 64; i++)
        p[i * PAGE] = (char)(i + 1);
    ck_assert_int_eq(rmem_madvise(c, p, 64 * PAGE, MADV_PAGEOUT), 0);
    for (size_t i = 0; i < 64; i++)
        ck_assert_int_eq(p[i * PAGE], (char)(i + 1));
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_gt(st.faults_remote, 0);
    ck_assert_int_eq(rmem_munmap(c, p, 64 * PAGE), 0);
}

/* A client with these TLS files is served. */
static void expect_served(const char *ca, const char *cert, const char *key,
                          const char *what)
{
    rmem_client *c = connect_tls(ca, cert, key, 0);

    ck_assert_msg(c, "%s: rmem_connect: %s", what, strerror(errno));
    check_serves(c);
    rmem_disconnect(c);
}

static void expect_refused(rmem_client *c, int want, const char *what)
{
    int got = errno;

    if (c)
        rmem_disconnect(c);
    ck_assert_msg(!c, "%s: rmem_connect succeeded", what);
    ck_assert_msg(got == want, "%s: errno %d (%s), want %d (%s)", what, got,
                  strerror(got), want, strerror(want));
}

/* A page's words: its index and the word's, so that a lost, torn or
 * misplaced page shows. */
static uint64_t word(size_t page, size_t i)
{
    return (page + 1) * 0x100000001b3ull ^ (i << 40);
}

/* ---- tests --------------------------------------------------------------- */

START_TEST(test_tls_paging_through_eviction)
{
    const size_t len = 48 * MiB, npages = len / PAGE;
    rmem_client *c;
    struct rmem_stat st;
    uint64_t *p;

    start_tls("srv", false);
    setenv("RMEM_TLS_CA", file("ca.pem"), 1);  /* the environment's way in */
    c = connect_tls(NULL, NULL, NULL, 8 * MiB);
    unsetenv("RMEM_TLS_CA");
    ck_assert_msg(c, "rmem_connect over TLS: %s", strerror(errno));
    p = rmem_mmap(c, NULL, len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, NULL, 0);
    ck_assert_msg(p != MAP_FAILED, "rmem_mmap: %s", strerror(errno));
    for (size_t pg = 0; pg < npages; pg++)
        for (size_t i = 0; i < PAGE / 8; i += 32)
            p[pg * PAGE / 8 + i] = word(pg, i);
    for (size_t pg = 0; pg < npages; pg++)
        for (size_t i = 0; i < PAGE / 8; i += 32)
            ck_assert_msg(p[pg * PAGE / 8 + i] == word(pg, i),
                          "page %zu word %zu lost", pg, i);
    ck_assert_int_eq(rmem_stat(c, &st), 0);
    ck_assert_uint_le(st.rss, 8 * MiB);
    ck_assert_uint_gt(st.evictions, npages / 2);
    ck_assert_uint_ge(st.writebacks, npages - 8 * MiB / PAGE);
    ck_assert_uint_gt(st.faults_remote, 0);
    ck_assert_uint_ge(st.faults_remote + st.prefetched, npages - 8 * MiB / PAGE);
    ck_assert_int_eq(rmem_munmap(c, p, len), 0);
    rmem_disconnect(c);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* Untrusted servers: EPERM.  Plain TCP against TLS: ECONNRESET. */
START_TEST(test_tls_untrusted_server)
{
    start_tls("srv", false);
    expect_refused(connect_tls("other.pem", NULL, NULL, 0), EPERM, "wrong CA");
    expect_refused(connect_tls("nonexistent.pem", NULL, NULL, 0), EINVAL,
                   "unreadable CA file");
    expect_refused(connect_tls("ca.pem", "cli.pem", NULL, 0), EINVAL,
                   "certificate without its key");
    ck_assert_int_eq(rmemd_stop(&srv), 0);

    start_tls("badip", false);          /* names 127.0.0.2, not us */
    expect_refused(connect_tls("ca.pem", NULL, NULL, 0), EPERM, "wrong IP SAN");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

START_TEST(test_tls_plaintext_client_refused)
{
    start_tls("srv", false);
    expect_refused(connect_tls(NULL, NULL, NULL, 0), ECONNRESET,
                   "plain TCP client");
    expect_served("ca.pem", NULL, NULL, "TLS client after a plain one");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* A TLS client against a plain server: the server does not speak TLS. */
START_TEST(test_tls_client_against_plain_server)
{
    const char *args[] = {"--pool", "64M", NULL};

    ck_assert_msg(dir[0], "no certificates: %s", why_not);
    ck_assert_int_eq(rmemd_start(&srv, args), 0);
    expect_refused(connect_tls("ca.pem", NULL, NULL, 0), EPROTO,
                   "TLS client, plain server");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

START_TEST(test_tls_garbage_keeps_server_up)
{
    static const unsigned char hello_then_junk[] = {
        0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03,
        0xde, 0xad, 0xbe, 0xef};        /* a ClientHello's start, cut short */
    unsigned char junk[8192], byte;
    rmem_client *c = NULL;
    int fd;

    start_tls("srv", false);
    c = connect_tls("ca.pem", NULL, NULL, 0);   /* connected before */
    ck_assert_msg(c, "rmem_connect: %s", strerror(errno));
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 131 + 7);
    fd = wire_connect(&srv);                    /* random bytes */
    wire_send_all(fd, junk, sizeof(junk));
    ck_assert_int_eq(wire_recv_all(fd, &byte, 1) == -1 || byte == 0x15, 1);
    close(fd);
    fd = wire_connect(&srv);                    /* a cut handshake, then junk */
    wire_send_all(fd, hello_then_junk, sizeof(hello_then_junk));
    wire_send_all(fd, junk, 512);
    close(fd);
    fd = wire_connect(&srv);                    /* nothing at all */
    close(fd);
    check_serves(c);                            /* the old one still served */
    rmem_disconnect(c);
    expect_served("ca.pem", NULL, NULL, "after garbage");   /* and new ones */
    ck_assert_int_eq(kill(srv.pid, 0), 0);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

START_TEST(test_mutual_tls)
{
    start_tls("srv", true);
    expect_refused(connect_tls("ca.pem", NULL, NULL, 0), EACCES,
                   "no client certificate");
    expect_refused(connect_tls("ca.pem", "stranger.pem", "stranger.key", 0),
                   EACCES, "client certificate of another CA");
    expect_served("ca.pem", "cli.pem", "cli.key", "with a client certificate");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

START_TEST(test_rmemctl_info_over_tls)
{
    struct harness_run *r = malloc(sizeof(*r));
    char ca[sizeof(dir) + NAME_MAX + 2], cert[sizeof(ca)], key[sizeof(ca)];

    ck_assert_ptr_nonnull(r);
    start_tls("srv", true);
    snprintf(ca, sizeof(ca), "%s", file("ca.pem"));
    snprintf(cert, sizeof(cert), "%s", file("cli.pem"));
    snprintf(key, sizeof(key), "%s", file("cli.key"));
    ck_assert_int_eq(harness_run(r, (const char *[]){harness_path("rmemctl"), "-s",
        srv.addr, "--tls-ca", ca, "--tls-cert", cert, "--tls-key", key, "info",
        NULL}), 0);
    ck_assert_msg(r->status == 0, "rmemctl info over TLS: %d: %s", r->status, r->err);
    ck_assert_ptr_nonnull(strstr(r->out, "version: "));
    ck_assert_int_eq(harness_run(r, (const char *[]){harness_path("rmemctl"), "-s",
        srv.addr, "--tls-ca", ca, "info", NULL}), 0);
    ck_assert_int_eq(r->status, 1);             /* no client certificate */
    ck_assert_ptr_nonnull(strstr(r->err, "Permission denied"));
    ck_assert_int_eq(harness_run(r, (const char *[]){harness_path("rmemctl"), "-s",
        srv.addr, "info", NULL}), 0);
    ck_assert_int_eq(r->status, 1);             /* plain TCP */
    free(r);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

/* A connection whose peer is gone fails a call with EPIPE, plain or TLS,
 * and does not raise SIGPIPE, whose default action would kill the
 * program: the write side is shut here, which makes the next write fail
 * as a vanished peer's does. */
static void expect_epipe(struct ssl_ctx_st *tls)
{
    Rmem__Info info = RMEM__INFO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    struct rmem__conn cn;

    ck_assert_int_eq(rmem__conn_open(&cn, &(struct rmem__conn_target){
        srv.addr, "default", NULL, "test_tls", 0, tls}), 0);
    req.body_case = RMEM__REQUEST__BODY_INFO;
    req.info = &info;
    ck_assert_int_eq(rmem__conn_rpc(&cn, &req, NULL, 0, &resp, NULL, 0, NULL), 0);
    ck_assert_int_eq(shutdown(cn.fd, SHUT_WR), 0);
    ck_assert_int_eq(rmem__conn_call(&cn, &req, NULL, 0, &resp, NULL, 0, NULL),
                     -EPIPE);
    rmem__conn_close(&cn);
}

START_TEST(test_peer_gone_is_epipe_not_sigpipe)
{
    const char *plain[] = {"--pool", "64M", NULL};
    struct sigaction dfl = { .sa_handler = SIG_DFL }, old;
    struct ssl_ctx_st *tls;

    ck_assert_int_eq(sigaction(SIGPIPE, &dfl, &old), 0);
    ck_assert_int_eq(rmemd_start(&srv, plain), 0);
    expect_epipe(NULL);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
    start_tls("srv", false);
    ck_assert_int_eq(rmem__tls_ctx_new(file("ca.pem"), NULL, NULL, &tls), 0);
    expect_epipe(tls);
    rmem__tls_ctx_free(tls);
    ck_assert_int_eq(rmemd_stop(&srv), 0);
    sigaction(SIGPIPE, &old, NULL);
}
END_TEST

/* The config file's keys, and a half TLS configuration refused. */
START_TEST(test_tls_config_file)
{
    const char *half[] = {"--tls-cert", NULL, NULL};
    const char *conf[] = {"-c", NULL, NULL};
    char path[sizeof(dir) + NAME_MAX + 2];
    FILE *f;

    ck_assert_msg(dir[0], "no certificates: %s", why_not);
    half[1] = file("srv.pem");
    ck_assert_int_ne(rmemd_start(&srv, half), 0);
    snprintf(path, sizeof(path), "%s", file("rmemd.conf"));
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "pool 64M\ntls-cert %s\n", file("srv.pem"));
    fprintf(f, "tls-key \"%s\"\n", file("srv.key"));
    ck_assert_int_eq(fclose(f), 0);
    conf[1] = path;
    ck_assert_int_eq(rmemd_start(&srv, conf), 0);
    expect_refused(connect_tls(NULL, NULL, NULL, 0), ECONNRESET, "plain TCP");
    expect_served("ca.pem", NULL, NULL, "configured by file");
    ck_assert_int_eq(rmemd_stop(&srv), 0);
}
END_TEST

Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");

    tcase_add_unchecked_fixture(tc, make_certs, remove_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_tls_paging_through_eviction);
    tcase_add_test(tc, test_tls_untrusted_server);
    tcase_add_test(tc, test_tls_plaintext_client_refused);
    tcase_add_test(tc, test_tls_client_against_plain_server);
    tcase_add_test(tc, test_tls_garbage_keeps_server_up);
    tcase_add_test(tc, test_mutual_tls);
    tcase_add_test(tc, test_rmemctl_info_over_tls);
    tcase_add_test(tc, test_tls_config_file);
    tcase_add_test(tc, test_peer_gone_is_epipe_not_sigpipe);
    suite_add_tcase(s, tc);
    return s;
}
