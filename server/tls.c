/* TLS on the RPC wire (--tls-cert, --tls-key, --tls-ca): why and what.
 *
 * Why: the pages rmemd holds are a process's memory, and a listener
 * beyond loopback carries them over networks that are not ours.  OpenSSL
 * is the library because it is already a fixed dependency of rmem
 * (deploy/install-deps.sh installs libssl-dev, the Makefile links it).
 *
 * What: with a certificate and key the listener speaks TLS only, 1.2 at
 * least; with a CA as well every client must present a certificate that
 * CA signed (mutual TLS).  The loop is libuv's, so the TLS engine never
 * touches the socket: each connection's SSL object sits between two
 * memory BIOs.  Ciphertext read by uv_read goes into the read BIO
 * (server_tls_received); SSL_read drains the plaintext into the
 * connection's frame buffer (server_tls_read), driving the handshake on
 * the way; everything the server sends - replies, errors, the close
 * notification of a drain - goes through SSL_write (server_tls_write)
 * and the write BIO's ciphertext is handed to conn.c's one uv_write path
 * (conn_write_raw).  A handshake that fails (a plaintext client, garbage,
 * a missing or untrusted client certificate) is logged as a warning with
 * OpenSSL's reason and closes that connection only. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Ciphertext of one uv_read: a libuv read callback consumes it whole
 * (into the connection's read BIO), so one buffer serves every TLS
 * connection of the loop. */
#define TLS_READ_BUF (64u * 1024)

/* OpenSSL's error queue as one line: the first reason, which is the cause
 * (later entries say where it surfaced); the queue is emptied. */
static void tls_reason(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();

    if (!e) {
        snprintf(buf, len, "no reason given by OpenSSL");
        return;
    }
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}

static int ctx_fail(const char *what, const char *file)
{
    char why[256];

    tls_reason(why, sizeof(why));
    log_error("TLS: %s %s: %s", what, file, why);
    return -EINVAL;
}

int server_tls_init(struct server *srv)
{
    const struct config *cfg = srv->cfg;
    SSL_CTX *ctx;

    if (!cfg->tls_cert)
        return 0;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return ctx_fail("cannot create a context for", cfg->tls_cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_num_tickets(ctx, 0);    /* no resumption: nothing to send after
                                           the handshake */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
        ctx_fail("cannot load the certificate", cfg->tls_cert);
        goto err;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
        ctx_fail("cannot load the private key", cfg->tls_key);
        goto err;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ctx_fail("the private key does not match the certificate", cfg->tls_key);
        goto err;
    }
    if (cfg->tls_ca) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->tls_ca);

        if (!names || SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
            sk_X509_NAME_pop_free(names, X509_NAME_free);
            ctx_fail("cannot load the client CA", cfg->tls_ca);
            goto err;
        }
        SSL_CTX_set_client_CA_list(ctx, names);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           NULL);
    }
    srv->tls_rbuf = malloc(TLS_READ_BUF);
    if (!srv->tls_rbuf) {
        log_error("TLS: no memory for the read buffer");
        SSL_CTX_free(ctx);
        return -ENOMEM;
    }
    srv->tls_ctx = ctx;
    log_info("TLS: on (certificate %s%s%s)", cfg->tls_cert,
             cfg->tls_ca ? ", client certificates required, CA " : "",
             cfg->tls_ca ? cfg->tls_ca : "");
    return 0;

err:
    SSL_CTX_free(ctx);
    return -EINVAL;
}

void server_tls_fini(struct server *srv)
{
    SSL_CTX_free(srv->tls_ctx);
    srv->tls_ctx = NULL;
    free(srv->tls_rbuf);
    srv->tls_rbuf = NULL;
}

uv_buf_t server_tls_read_buf(struct server *srv)
{
    return uv_buf_init(srv->tls_rbuf, TLS_READ_BUF);
}

int server_tls_accept(struct conn *c)
{
    BIO *rbio, *wbio;

    c->ssl = SSL_new(c->srv->tls_ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (!c->ssl || !rbio || !wbio) {
        BIO_free(rbio);
        BIO_free(wbio);
        SSL_free(c->ssl);
        c->ssl = NULL;
        ERR_clear_error();
        return -ENOMEM;
    }
    /* An empty read BIO means "more to come", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(c->ssl, rbio, wbio);
    SSL_set_accept_state(c->ssl);
    return 0;
}

void server_tls_free(struct conn *c)
{
    SSL_free(c->ssl);                   /* and its BIOs */
    c->ssl = NULL;
}

int server_tls_received(struct conn *c, const void *buf, size_t len)
{
    if (BIO_write(SSL_get_rbio(c->ssl), buf, (int)len) != (int)len) {
        ERR_clear_error();
        log_error("conn %llu (%s): TLS: no memory for %zu received bytes, "
                  "closing", (unsigned long long)c->id, c->peer, len);
        return -ENOMEM;
    }
    return 0;
}

/* Hand the write BIO's ciphertext (handshake messages, records, alerts)
 * to conn.c's write path. */
static int tls_flush(struct conn *c)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    size_t pending = BIO_ctrl_pending(wbio);
    void *out;

    if (!pending)
        return 0;
    out = malloc(pending);
    if (!out) {
        log_error("conn %llu (%s): TLS: no memory for %zu bytes to send, "
                  "closing", (unsigned long long)c->id, c->peer, pending);
        return -ENOMEM;
    }
    if (BIO_read(wbio, out, (int)pending) != (int)pending) {
        free(out);
        ERR_clear_error();
        return -EIO;
    }
    return conn_write_raw(c, out, pending);
}

static void tls_log_established(struct conn *c)
{
    X509 *peer;
    char subject[256] = "";

    if (log_level < LL_DEBUG)
        return;
    peer = SSL_get1_peer_certificate(c->ssl);
    if (peer) {
        X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
        X509_free(peer);
    }
    log_debug("conn %llu (%s): TLS established: %s %s%s%s",
              (unsigned long long)c->id, c->peer, SSL_get_version(c->ssl),
              SSL_get_cipher_name(c->ssl), subject[0] ? ", client " : "",
              subject);
}

ssize_t server_tls_read(struct conn *c, void *buf, size_t cap)
{
    bool was_init = SSL_is_init_finished(c->ssl);
    int n = SSL_read(c->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, n);
    int flushed = tls_flush(c);         /* handshake replies, alerts */

    if (!was_init && SSL_is_init_finished(c->ssl))
        tls_log_established(c);
    if (err == SSL_ERROR_NONE || err == SSL_ERROR_WANT_READ) {
        if (flushed)
            return flushed;
        return n > 0 ? n : 0;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
        log_debug("conn %llu (%s): TLS close notify", (unsigned long long)c->id,
                  c->peer);
        ERR_clear_error();
        return -ECONNRESET;
    }
    if (err == SSL_ERROR_SSL) {
        char why[256];
        long verify = SSL_get_verify_result(c->ssl);

        tls_reason(why, sizeof(why));
        log_warn("conn %llu (%s): TLS %s failed, closing the connection: %s%s%s",
                 (unsigned long long)c->id, c->peer,
                 SSL_is_init_finished(c->ssl) ? "read" : "handshake", why,
                 verify != X509_V_OK ? ": client certificate: " : "",
                 verify != X509_V_OK ? X509_verify_cert_error_string(verify) : "");
        return -EPROTO;
    }
    ERR_clear_error();
    log_warn("conn %llu (%s): TLS error %d, closing the connection",
             (unsigned long long)c->id, c->peer, err);
    return -EPROTO;
}

int server_tls_write(struct conn *c, const uv_buf_t *bufs, unsigned nbufs)
{
    for (unsigned i = 0; i < nbufs; i++) {
        if (!bufs[i].len)
            continue;
        /* Memory BIOs grow as needed: a write is whole or an error. */
        if (SSL_write(c->ssl, bufs[i].base, (int)bufs[i].len) <= 0) {
            char why[256];

            tls_reason(why, sizeof(why));
            log_warn("conn %llu (%s): TLS write failed, closing the "
                     "connection: %s", (unsigned long long)c->id, c->peer, why);
            return -EPROTO;
        }
    }
    return tls_flush(c);
}

int server_tls_shutdown(struct conn *c)
{
    if (SSL_is_init_finished(c->ssl))
        SSL_shutdown(c->ssl);           /* queues close_notify */
    ERR_clear_error();
    return tls_flush(c);
}
