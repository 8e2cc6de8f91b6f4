/* TLS on librmem's connections (RMEM_TLS_CA, RMEM_TLS_CERT, RMEM_TLS_KEY;
 * rmem_options.tls_*): why and what.
 *
 * Why: pages travel between this process and rmemd; beyond loopback they
 * should be neither readable nor forgeable.  OpenSSL is used because it
 * is already a fixed dependency of rmem (deploy/install-deps.sh, linked by
 * the Makefile).
 *
 * What: one SSL_CTX per client (its CA, its certificate), one SSL per
 * blocking connection (conn.c) - the control connection, each fault
 * thread's and the evictor's.  The server is verified against the CA
 * (the system's trust store without RMEM_TLS_CA) and must name the host
 * connected to: its IP address (X509_VERIFY_PARAM_set1_ip_asc) or DNS
 * name (SSL_set1_host).  Reads come from the socket BIO with read-ahead,
 * so a reply's records arrive in few read(2)s; writes go through a
 * buffering BIO flushed once per request, so a request's records leave in
 * one send(2) as the plain path's sendmsg.  Plain TCP never comes here:
 * conn.c tests cn->ssl and does what it did before.
 *
 * Errors, one errno per cause (README "TLS"):
 *   EINVAL   unusable TLS options: a certificate without its key or the
 *            other way round, a CA, certificate or key file that cannot be
 *            read or parsed, a key not matching its certificate
 *   EPERM    the server's certificate does not verify against the CA or
 *            does not name the host connected to
 *   EACCES   the server refused our certificate (mutual TLS): none given,
 *            or not signed by its CA
 *   EPROTO   any other handshake failure: the server does not speak TLS,
 *            no common protocol version, a corrupted record
 * Each is printed on stderr with OpenSSL's reason. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "internal.h"

/* Records of a request gather here before one send(2). */
#define TLS_WRITE_BUFFER (64 * 1024)

/* The write side's socket BIO: OpenSSL's own writes with write(2), whose
 * SIGPIPE on a peer gone would kill the program; this one sends with
 * MSG_NOSIGNAL and gets EPIPE, as conn.c's plain path does. */
static int nosig_write(BIO *b, const char *data, size_t len, size_t *written)
{
    int fd = (int)(intptr_t)BIO_get_data(b);
    ssize_t n;

    do
        n = send(fd, data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return 0;
    *written = (size_t)n;
    return 1;
}

static long nosig_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == BIO_CTRL_FLUSH;       /* nothing is held back here */
}

static int nosig_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *nosig_meth;
static pthread_once_t nosig_once = PTHREAD_ONCE_INIT;

static void nosig_init(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK,
                                 "rmem socket (MSG_NOSIGNAL)");

    if (m && BIO_meth_set_write_ex(m, nosig_write) == 1 &&
        BIO_meth_set_ctrl(m, nosig_ctrl) == 1 &&
        BIO_meth_set_create(m, nosig_create) == 1)
        nosig_meth = m;
    else
        BIO_meth_free(m);
}

static BIO *nosig_bio(int fd)
{
    BIO *b;

    pthread_once(&nosig_once, nosig_init);
    b = nosig_meth ? BIO_new(nosig_meth) : NULL;
    if (b)
        BIO_set_data(b, (void *)(intptr_t)fd);
    return b;
}

/* OpenSSL's first queued reason (the cause), and the queue emptied. */
static void tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
    ERR_clear_error();
}

static int ctx_fail(SSL_CTX *ctx, const char *what, const char *file)
{
    char why[256];

    tls_reason(why, sizeof(why));
    fprintf(stderr, "librmem: TLS: %s %s: %s\n", what, file, why);
    SSL_CTX_free(ctx);
    return -EINVAL;
}

int rmem__tls_ctx_new(const char *ca, const char *cert, const char *key,
                      struct ssl_ctx_st **out)
{
    SSL_CTX *ctx;

    *out = NULL;
    if (!ca && !cert && !key)
        return 0;
    if (!cert != !key) {
        fprintf(stderr, "librmem: TLS: a client certificate needs its key "
                "(RMEM_TLS_CERT and RMEM_TLS_KEY): only %s is set\n",
                cert ? "the certificate" : "the key");
        return -EINVAL;
    }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return ctx_fail(NULL, "cannot create a context", "");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_read_ahead(ctx, 1);
    if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 :
             SSL_CTX_set_default_verify_paths(ctx) != 1)
        return ctx_fail(ctx, "cannot load the CA", ca ? ca : "(system default)");
    if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
        return ctx_fail(ctx, "cannot load the certificate", cert);
    if (key && SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(ctx, "cannot load the private key", key);
    if (cert && SSL_CTX_check_private_key(ctx) != 1)
        return ctx_fail(ctx, "the private key does not match", cert);
    *out = ctx;
    return 0;
}

void rmem__tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

/* Alerts by which a server says it will not take our certificate. */
static bool refused_our_cert(unsigned long e)
{
    switch (ERR_GET_REASON(e)) {
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
        return true;
    default:
        return false;
    }
}

/* A blocking socket's call interrupted by a signal: SSL asks for a retry. */
static bool tls_again(struct rmem__conn *cn, int ret)
{
    int kind = SSL_get_error(cn->ssl, ret);

    return kind == SSL_ERROR_WANT_READ || kind == SSL_ERROR_WANT_WRITE;
}

/* A failed SSL call on cn (ret its result) as -errno, reported on stderr
 * unless it is the end of the stream after the handshake (-ECONNRESET,
 * as a plain read(2) of 0 is). */
static int tls_fail(struct rmem__conn *cn, int ret, const char *what)
{
    int kind = SSL_get_error(cn->ssl, ret), saved = errno;
    bool established = SSL_is_init_finished(cn->ssl);
    unsigned long e = ERR_peek_error();
    long verify = SSL_get_verify_result(cn->ssl);
    char why[256];
    int err;

    if (kind == SSL_ERROR_ZERO_RETURN ||
        (established && (kind == SSL_ERROR_SYSCALL ||
                         ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))) {
        ERR_clear_error();
        return kind == SSL_ERROR_SYSCALL && saved ? -saved : -ECONNRESET;
    }
    errno = kind == SSL_ERROR_SYSCALL ? saved : 0;
    tls_reason(why, sizeof(why));
    if (!established && verify != X509_V_OK) {
        fprintf(stderr, "librmem: TLS %s: the server's certificate: %s (%s)\n",
                what, X509_verify_cert_error_string(verify), why);
        return -EPERM;
    }
    err = refused_our_cert(e) ? -EACCES : -EPROTO;
    fprintf(stderr, "librmem: TLS %s: %s%s\n", what, why,
            err == -EACCES ? " (the server refused our certificate: "
                             "RMEM_TLS_CERT, RMEM_TLS_KEY)" : "");
    return err;
}

int rmem__tls_connect(struct rmem__conn *cn, struct ssl_ctx_st *ctx,
                      const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];
    bool is_ip = inet_pton(AF_INET, host, addr) == 1 ||
                 inet_pton(AF_INET6, host, addr) == 1;
    BIO *rbio, *sock, *buf;
    int ret;

    cn->ssl = SSL_new(ctx);
    rbio = BIO_new_socket(cn->fd, BIO_NOCLOSE);
    sock = nosig_bio(cn->fd);
    buf = BIO_new(BIO_f_buffer());
    if (!cn->ssl || !rbio || !sock || !buf ||
        BIO_set_write_buffer_size(buf, TLS_WRITE_BUFFER) != 1) {
        BIO_free(rbio);
        BIO_free(sock);
        BIO_free(buf);
        SSL_free(cn->ssl);
        cn->ssl = NULL;
        ERR_clear_error();
        return -ENOMEM;
    }
    SSL_set_bio(cn->ssl, rbio, BIO_push(buf, sock));
    if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(cn->ssl), host) != 1 :
                (SSL_set1_host(cn->ssl, host) != 1 ||
                 SSL_set_tlsext_host_name(cn->ssl, host) != 1)) {
        ERR_clear_error();
        return -EINVAL;
    }
    do
        ret = SSL_connect(cn->ssl);
    while (ret != 1 && tls_again(cn, ret));
    if (ret != 1)
        return tls_fail(cn, ret, "handshake");
    return 0;
}

void rmem__tls_close(struct rmem__conn *cn)
{
    SSL_free(cn->ssl);                  /* and its BIOs; the fd is conn.c's */
    cn->ssl = NULL;
}

int rmem__tls_write(struct rmem__conn *cn, const struct iovec *iov, int iovcnt)
{
    for (int i = 0; i < iovcnt; i++) {
        int ret;

        if (!iov[i].iov_len)
            continue;
        do
            ret = SSL_write(cn->ssl, iov[i].iov_base, (int)iov[i].iov_len);
        while (ret <= 0 && tls_again(cn, ret));
        if (ret <= 0)
            return tls_fail(cn, ret, "write");
    }
    if (BIO_flush(SSL_get_wbio(cn->ssl)) != 1) {
        int err = errno ? -errno : -EIO;

        ERR_clear_error();
        return err;
    }
    return 0;
}

ssize_t rmem__tls_read(struct rmem__conn *cn, void *buf, size_t len)
{
    int ret;

    do
        ret = SSL_read(cn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    while (ret <= 0 && tls_again(cn, ret));
    return ret > 0 ? ret : tls_fail(cn, ret, "read");
}

int rmem__tls_busy_recv(struct rmem__conn *cn, void *buf, size_t cap, uint64_t ns)
{
    /* Bytes already in the engine - decrypted, or read ahead and not yet
     * decrypted - are not in the socket for recv(2) to see. */
    if (!SSL_has_pending(cn->ssl)) {
        int n = rmem__busy_wait(cn->fd, ns);

        if (n <= 0)
            return n;
    }
    return (int)rmem__tls_read(cn, buf, cap);
}
