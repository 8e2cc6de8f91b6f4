/* A client connection: receive buffer, framing, and response writes.
 *
 * Bytes are received into one per-connection buffer and frames are handled
 * in place, so a WRITE's pages go from that buffer straight into the
 * segment.  The buffer is pool memory like all server metadata: one
 * kmalloc-8k object, which holds any request but a WRITE of more than one
 * page, so that an idle or admin connection costs no page of its own;
 * grown, on kvmalloc pages, to the next frame's size when that is bigger,
 * at most one maximal frame.  Both lengths of a frame prefix are
 * bounds-checked before the buffer grows for it.  Each
 * response is one uv_write of two buffers, prefix+header and payload, freed
 * in the write callback.  A connection whose peer stops reading stops being
 * read (CONN_WRITE_HIGH) until its backlog drains.  A connection is freed
 * only in its close callback.
 *
 * With TLS (tls.c) the socket carries ciphertext: what uv_read brings goes
 * to the connection's TLS engine, whose plaintext fills the same buffer
 * (conn_input), and every byte sent - replies and the close notification
 * of a drain - is encrypted first and then queued by conn_queue, the one
 * place that writes to a connection's stream. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct conn_write {
    uv_write_t req;
    struct conn *conn;
    void *payload;
    size_t bytes;
    uint8_t hdr[];                      /* prefix + packed Response */
};

static void conn_process(struct conn *c);
static void conn_input(struct conn *c);

static void on_close(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;
    struct server *srv = c->srv;

    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->stats[SERVER_STAT_connections]--;
    log_debug("conn %llu (%s) closed", (unsigned long long)c->id, c->peer);
    server_park_conn_closed(c);         /* its I/O finishes by itself */
    if (c->session)
        session_detach(c->session);
    if (c->ssl)
        server_tls_free(c);
    mm_kvfree(srv->mm, c->rbuf);
    slab_free(srv->conn_cache, c);
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

void conn_close_after_flush(struct conn *c)
{
    if (c->closing || c->draining)
        return;
    c->draining = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (c->ssl && server_tls_shutdown(c)) {
        conn_close(c);
        return;
    }
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown))
        conn_close(c);
}

void conn_bad_frame(struct conn *c, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    c->srv->stats[SERVER_STAT_bad_frames]++;
    log_warn("conn %llu (%s): malformed frame, closing the connection: %s",
             (unsigned long long)c->id, c->peer, why);
    conn_close(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = (struct conn *)h;

    (void)suggested;
    if (c->ssl) {                       /* ciphertext, consumed by on_read */
        *buf = server_tls_read_buf(c->srv);
        return;
    }
    /* conn_process leaves room: a partial frame never fills the buffer. */
    *buf = uv_buf_init((char *)c->rbuf + c->rlen, (unsigned)(c->rcap - c->rlen));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct conn *c = (struct conn *)s;

    if (n > 0) {
        c->srv->stats[SERVER_STAT_bytes_in] += (uint64_t)n;
        if (!c->ssl) {
            c->rlen += (size_t)n;
            conn_process(c);
        } else if (server_tls_received(c, buf->base, (size_t)n) == 0) {
            conn_input(c);
        } else {
            conn_close(c);
        }
    } else if (n < 0) {
        if (n != UV_EOF)
            log_debug("conn %llu (%s): read: %s", (unsigned long long)c->id,
                      c->peer, uv_strerror((int)n));
        conn_close(c);
    }
}

/* Reading goes on unless the peer lags behind its replies, a request is
 * parked on swap I/O, or the connection is going. */
static bool conn_may_read(const struct conn *c)
{
    return !c->paused && !c->park_on && !c->closing && !c->draining;
}

static void conn_resume(struct conn *c)
{
    if (!c->paused || c->closing || c->draining)
        return;
    c->paused = false;
    log_debug("conn %llu (%s): backlog drained, resuming", (unsigned long long)c->id,
              c->peer);
    conn_input(c);                      /* frames already buffered first */
    if (conn_may_read(c))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

void conn_park_done(struct conn *c)
{
    conn_input(c);                      /* it, then the frames behind it */
    if (conn_may_read(c))
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Handle every complete frame in the buffer, then keep the remainder at its
 * start, growing the buffer if the next frame is bigger than it.  A
 * request parked on swap I/O (park.c) stays there, first, and stops this
 * until it runs again, so that replies keep the order of their requests;
 * reading stops too, the frames behind it staying in the buffer (or the
 * socket). */
static void conn_process(struct conn *c)
{
    size_t pos = 0, need = 0;

    while (!c->closing && !c->draining && !c->park_on) {
        size_t avail = c->rlen - pos;
        uint32_t hlen, plen;
        int err;

        if (uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) > CONN_WRITE_HIGH) {
            if (!c->paused) {
                c->paused = true;
                uv_read_stop((uv_stream_t *)&c->tcp);
                log_debug("conn %llu (%s): peer is not reading its replies, "
                          "pausing", (unsigned long long)c->id, c->peer);
            }
            break;
        }
        if (avail < FRAME_PREFIX_LEN)
            break;
        err = frame_prefix_decode(c->rbuf + pos, &hlen, &plen);
        if (err) {
            const uint8_t *p = c->rbuf + pos;

            conn_bad_frame(c, "frame prefix header_len %u payload_len %u: %s "
                           "(limits %u and %u)",
                           (unsigned)(p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24),
                           (unsigned)(p[4] | p[5] << 8 | p[6] << 16 | (uint32_t)p[7] << 24),
                           strerror(-err), FRAME_MAX_HEADER, FRAME_MAX_PAYLOAD);
            return;
        }
        if (avail < FRAME_PREFIX_LEN + (size_t)hlen + plen) {
            need = FRAME_PREFIX_LEN + (size_t)hlen + plen;
            break;
        }
        rpc_handle_frame(c, c->rbuf + pos + FRAME_PREFIX_LEN, hlen,
                         c->rbuf + pos + FRAME_PREFIX_LEN + hlen, plen);
        if (c->park_on)
            break;
        c->park_rounds = 0;
        c->park_progress = 0;
        c->park_err = 0;
        pos += FRAME_PREFIX_LEN + (size_t)hlen + plen;
    }
    if (c->closing)
        return;
    if (c->park_on)
        uv_read_stop((uv_stream_t *)&c->tcp);
    if (pos) {
        memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
        c->rlen -= pos;
    }
    if (need > c->rcap) {               /* need <= CONN_MAX_FRAME: checked */
        uint8_t *nb = mm_kvmalloc(c->srv->mm, need);

        if (!nb) {
            log_error("conn %llu (%s): no memory for a %zu-byte frame, closing",
                      (unsigned long long)c->id, c->peer, need);
            conn_close(c);
            return;
        }
        memcpy(nb, c->rbuf, c->rlen);
        mm_kvfree(c->srv->mm, c->rbuf);
        c->rbuf = nb;
        c->rcap = need;
    }
}

/* Handle what has been received.  Plain TCP: the frames uv_read put into
 * the buffer.  TLS: the plaintext the engine holds, one buffer's room at a
 * time, until it has no more or the connection stops parsing (a parked
 * request, a peer not reading, a drain): what it still holds waits there
 * for the next call, as unread bytes wait in the socket. */
static void conn_input(struct conn *c)
{
    if (!c->ssl) {
        conn_process(c);
        return;
    }
    for (;;) {
        bool room = c->rlen < c->rcap;
        ssize_t n = 0;

        if (room) {
            n = server_tls_read(c, c->rbuf + c->rlen, c->rcap - c->rlen);
            if (n < 0) {
                conn_close(c);
                return;
            }
            c->rlen += (size_t)n;
        }
        /* A full buffer holds a whole frame or grows: room next time. */
        conn_process(c);
        if ((room && n == 0) || c->closing || c->draining || c->park_on || c->paused)
            return;
    }
}

static void free_unlisted(uv_handle_t *h)
{
    struct conn *c = (struct conn *)h;  /* tcp is its first member */

    slab_free(c->srv->conn_cache, c);
}

int conn_accept(struct server *srv)
{
    struct conn *c = slab_zalloc(srv->conn_cache);
    struct sockaddr_storage ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int len = sizeof(ss), err, port = 0;

    if (!c) {
        log_error("no memory for a new connection");
        return -ENOMEM;
    }
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    err = uv_accept((uv_stream_t *)&srv->listener, (uv_stream_t *)&c->tcp);
    if (err) {
        log_warn("accept: %s", uv_strerror(err));
        goto err_close;
    }
    c->rbuf = mm_kvmalloc(srv->mm, CONN_RBUF_INITIAL);
    if (!c->rbuf) {
        log_error("no memory for a connection buffer");
        err = -ENOMEM;
        goto err_close;
    }
    c->rcap = CONN_RBUF_INITIAL;
    if (srv->tls_ctx && server_tls_accept(c)) {
        log_error("no memory for a TLS connection");
        err = -ENOMEM;
        goto err_close;
    }
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        c->loopback = config_addr_is_loopback((struct sockaddr *)&ss);
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
    uv_tcp_nodelay(&c->tcp, 1);
    c->id = ++srv->stats[SERVER_STAT_total_connections];
    srv->stats[SERVER_STAT_connections]++;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    err = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (err) {
        log_warn("conn %llu (%s): read: %s", (unsigned long long)c->id, c->peer,
                 uv_strerror(err));
        conn_close(c);
        return err;
    }
    log_debug("conn %llu from %s", (unsigned long long)c->id, c->peer);
    return 0;

err_close:
    /* Not yet on the list: the close callback must not unlink it. */
    if (c->ssl)
        server_tls_free(c);
    mm_kvfree(srv->mm, c->rbuf);
    c->rbuf = NULL;
    c->closing = true;
    uv_close((uv_handle_t *)&c->tcp, free_unlisted);
    return err;
}

static void on_write(uv_write_t *req, int status)
{
    struct conn_write *w = (struct conn_write *)req;
    struct conn *c = w->conn;

    if (status == 0) {
        c->srv->stats[SERVER_STAT_bytes_out] += w->bytes;
    } else if (status != UV_ECANCELED) {
        log_debug("conn %llu (%s): write: %s", (unsigned long long)c->id, c->peer,
                  uv_strerror(status));
        conn_close(c);
    }
    free(w->payload);
    mm_kvfree(c->srv->mm, w);
    if (c->paused &&
        uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) < CONN_WRITE_LOW)
        conn_resume(c);
}

/* The one place bytes are queued on a connection's stream: w's bufs, w
 * (with its payload) freed in on_write.  An error closes the connection. */
static int conn_queue(struct conn *c, struct conn_write *w, uv_buf_t *bufs,
                      unsigned nbufs)
{
    int err = uv_write(&w->req, (uv_stream_t *)&c->tcp, bufs, nbufs, on_write);

    if (err) {
        log_debug("conn %llu (%s): write: %s", (unsigned long long)c->id, c->peer,
                  uv_strerror(err));
        free(w->payload);
        mm_kvfree(c->srv->mm, w);
        conn_close(c);
    }
    return err;
}

int conn_write_raw(struct conn *c, void *buf, size_t len)
{
    struct conn_write *w = mm_kvmalloc(c->srv->mm, sizeof(*w));
    uv_buf_t b = uv_buf_init(buf, (unsigned)len);

    if (!w) {
        free(buf);
        return -ENOMEM;
    }
    w->conn = c;
    w->payload = buf;
    w->bytes = len;
    return conn_queue(c, w, &b, 1);
}

int conn_send(struct conn *c, const Rmem__Response *resp, void *payload,
              uint32_t payload_len)
{
    size_t hlen = rmem__response__get_packed_size(resp);
    struct conn_write *w;
    uv_buf_t bufs[2];
    int64_t n;
    int err;

    if (c->closing) {
        free(payload);
        return -ECANCELED;
    }
    w = mm_kvmalloc(c->srv->mm, sizeof(*w) + FRAME_PREFIX_LEN + hlen);
    if (!w) {
        free(payload);
        return -ENOMEM;
    }
    n = frame_pack_response(resp, payload_len, w->hdr, FRAME_PREFIX_LEN + hlen);
    if (n < 0) {
        mm_kvfree(c->srv->mm, w);
        free(payload);
        return (int)n;
    }
    w->conn = c;
    w->payload = payload;
    w->bytes = (size_t)n + payload_len;
    bufs[0] = uv_buf_init((char *)w->hdr, (unsigned)n);
    bufs[1] = uv_buf_init(payload, payload_len);
    if (!c->ssl)
        return conn_queue(c, w, bufs, payload_len ? 2 : 1);
    /* TLS: encrypted into the engine's write BIO, queued from there. */
    err = server_tls_write(c, bufs, 2);
    free(payload);
    mm_kvfree(c->srv->mm, w);
    if (err)
        conn_close(c);
    return err;
}
