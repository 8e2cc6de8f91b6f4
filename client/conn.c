/* A blocking connection to rmemd: connect, Hello, and request/response
 * round trips over the shared framing.
 *
 * Every buffer is allocated once at open: the request header is packed into
 * hbuf, the response header is read into it and unpacked with a bump arena,
 * and a response payload goes straight into the caller's buffer (for a
 * READ, the page buffer UFFDIO_COPY maps from).  The reply is read with
 * one read of up to hbuf's size, which picks up the prefix, the header
 * and usually a one-page payload too (copied out, 4 KiB); only what did
 * not arrive with it is read straight into the caller's buffer.  That is
 * safe because the server answers one request at a time: nothing after
 * this reply can be in the socket.  A round trip therefore allocates
 * nothing and costs one sendmsg and, for most replies, one read.
 *
 * With TLS (tls.c) the same calls go through the connection's SSL object
 * instead: the only cost to plain TCP is the test of cn->ssl. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static void *arena_alloc(void *data, size_t size)
{
    struct rmem__conn *cn = data;
    size_t off = (cn->arena_used + 15) & ~(size_t)15;

    if (off + size > RMEM__ARENA_SIZE)
        return NULL;
    cn->arena_used = off + size;
    return cn->arena + off;
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;          /* the arena is reset wholesale at the next call */
}

static int split_host_port(const char *server, char *host, size_t hcap,
                           const char **port)
{
    const char *colon = strrchr(server, ':');
    size_t len;

    if (!colon || colon == server || !colon[1])
        return -EINVAL;
    len = (size_t)(colon - server);
    if (server[0] == '[' && colon[-1] == ']') {     /* [::1]:7070 */
        server++;
        len -= 2;
    }
    if (len >= hcap)
        return -EINVAL;
    memcpy(host, server, len);
    host[len] = '\0';
    *port = colon + 1;
    return 0;
}

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
    int fd = -1, err, one = 1;

    err = getaddrinfo(host, port, &hints, &res);
    if (err)
        return -EHOSTUNREACH;
    err = -ECONNREFUSED;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        err = -errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return err;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int write_full(struct rmem__conn *cn, struct iovec *iov, int iovcnt)
{
    if (cn->ssl)
        return rmem__tls_write(cn, iov, iovcnt);
    while (iovcnt > 0) {
        /* A peer gone raises SIGPIPE from writev, killing the program:
         * a library must get EPIPE instead (MSG_NOSIGNAL). */
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
        ssize_t n = sendmsg(cn->fd, &msg, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* One read(2) - or, with TLS, SSL_read - of up to len bytes: > 0, or
 * -errno (-ECONNRESET at the end of the stream). */
static ssize_t read_once(struct rmem__conn *cn, void *buf, size_t len)
{
    ssize_t n;

    if (cn->ssl)
        return rmem__tls_read(cn, buf, len);
    do
        n = read(cn->fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n > 0 ? n : n == 0 ? -ECONNRESET : -errno;
}

/* Reads into buf until it holds at least min bytes and at most cap;
 * *got says how many, and may be non-zero on entry. */
static int read_some(struct rmem__conn *cn, void *buf, size_t min, size_t cap,
                     size_t *got)
{
    char *p = buf;

    while (*got < min) {
        ssize_t n = read_once(cn, p + *got, cap - *got);

        if (n < 0)
            return (int)n;
        *got += (size_t)n;
    }
    return 0;
}

static int read_full(struct rmem__conn *cn, void *buf, size_t len)
{
    size_t got = 0;

    return read_some(cn, buf, len, len, &got);
}

/* Closes the socket (and its TLS engine): the connection is unusable. */
static void conn_drop(struct rmem__conn *cn)
{
    if (cn->ssl)
        rmem__tls_close(cn);
    if (cn->fd >= 0)
        close(cn->fd);
    cn->fd = -1;
}

/* Reads and discards n bytes, so a payload too big for the caller's buffer
 * still leaves the stream in step. */
static int skip_bytes(struct rmem__conn *cn, void *scratch, size_t cap, size_t n)
{
    while (n > 0) {
        size_t chunk = n < cap ? n : cap;
        int err = read_full(cn, scratch, chunk);

        if (err)
            return err;
        n -= chunk;
    }
    return 0;
}

int rmem__conn_call(struct rmem__conn *cn, Rmem__Request *req,
                    const struct iovec *iov, int iovcnt,
                    Rmem__Response **resp, void *rbuf, size_t rcap,
                    size_t *rlen)
{
    ProtobufCAllocator alloc = {arena_alloc, arena_free, cn};
    struct iovec *out = cn->iov;
    uint32_t hlen, plen;
    size_t payload = 0, got, early;
    int64_t n;
    int err;

    if (cn->fd < 0)
        return -ENOTCONN;
    if (iovcnt < 0 || iovcnt > (int)FRAME_MAX_IO_PAGES)
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++)
        payload += iov[i].iov_len;
    req->id = ++cn->next_id;
    n = frame_pack_request(req, (uint32_t)payload, cn->hbuf,
                           FRAME_PREFIX_LEN + FRAME_MAX_HEADER);
    if (n < 0 || payload > FRAME_MAX_PAYLOAD)
        return -EMSGSIZE;
    out[0] = (struct iovec){cn->hbuf, (size_t)n};
    for (int i = 0; i < iovcnt; i++)
        out[i + 1] = iov[i];
    err = write_full(cn, out, iovcnt + 1);
    if (err)
        goto err_broken;

    got = 0;
    if (cn->busy_poll_ns) {
        n = cn->ssl ? rmem__tls_busy_recv(cn, cn->hbuf,
                                          FRAME_PREFIX_LEN + FRAME_MAX_HEADER,
                                          cn->busy_poll_ns) :
                      rmem__busy_recv(cn->fd, cn->hbuf,
                                      FRAME_PREFIX_LEN + FRAME_MAX_HEADER,
                                      cn->busy_poll_ns);
        if (n < 0) {
            err = (int)n;
            goto err_broken;
        }
        got = (size_t)n;
    }
    err = read_some(cn, cn->hbuf, FRAME_PREFIX_LEN,
                    FRAME_PREFIX_LEN + FRAME_MAX_HEADER, &got);
    if (err)
        goto err_broken;
    err = frame_prefix_decode(cn->hbuf, &hlen, &plen);
    if (err || got > FRAME_PREFIX_LEN + (size_t)hlen + plen)
        goto err_protocol;
    if (got < FRAME_PREFIX_LEN + (size_t)hlen) {
        err = read_full(cn, cn->hbuf + got, FRAME_PREFIX_LEN + hlen - got);
        if (err)
            goto err_broken;
        got = FRAME_PREFIX_LEN + hlen;
    }
    early = got - FRAME_PREFIX_LEN - hlen;      /* payload bytes already here */
    cn->arena_used = 0;
    *resp = rmem__response__unpack(&alloc, hlen, cn->hbuf + FRAME_PREFIX_LEN);
    if (!*resp || (*resp)->id != req->id)
        goto err_protocol;
    if (plen > rcap) {
        /* Keep the stream in step, then report the mismatch.  The arena,
         * not hbuf, holds the unpacked reply, so hbuf may be reused. */
        err = skip_bytes(cn, cn->hbuf, FRAME_MAX_HEADER, plen - early);
        if (err)
            goto err_broken;
        return -EMSGSIZE;
    }
    if (early)
        memcpy(rbuf, cn->hbuf + FRAME_PREFIX_LEN + hlen, early);
    if (plen > early) {
        err = read_full(cn, (char *)rbuf + early, plen - early);
        if (err)
            goto err_broken;
    }
    if (rlen)
        *rlen = plen;
    return 0;

err_protocol:
    err = -EPROTO;
err_broken:
    conn_drop(cn);
    return err;
}

int rmem__conn_rpc(struct rmem__conn *cn, Rmem__Request *req,
                   const struct iovec *iov, int iovcnt,
                   Rmem__Response **resp, void *rbuf, size_t rcap,
                   size_t *rlen)
{
    int err = rmem__conn_call(cn, req, iov, iovcnt, resp, rbuf, rcap, rlen);

    if (err)
        return err;
    if ((*resp)->status == 0)
        return 0;
    snprintf(cn->error, sizeof(cn->error), "%s",
             (*resp)->message ? (*resp)->message : "");
    return -(*resp)->status;
}

static int conn_hello(struct rmem__conn *cn, const struct rmem__conn_target *t)
{
    Rmem__Hello hello = RMEM__HELLO__INIT;
    Rmem__Request req = RMEM__REQUEST__INIT;
    Rmem__Response *resp;
    int err;

    hello.version = RMEM_PROTO_VERSION;
    hello.tenant = (char *)(t->tenant ? t->tenant : "default");
    hello.token = (char *)(t->token ? t->token : "");
    hello.client = (char *)(t->client ? t->client : "librmem");
    hello.session = t->session;
    req.body_case = RMEM__REQUEST__BODY_HELLO;
    req.hello = &hello;
    err = rmem__conn_rpc(cn, &req, NULL, 0, &resp, NULL, 0, NULL);
    if (err)
        return err;
    if (resp->body_case != RMEM__RESPONSE__BODY_HELLO ||
        resp->hello->page_size != RMEM_PAGE_SIZE || resp->hello->max_io_pages == 0)
        return -EPROTO;
    cn->session = resp->hello->session;
    cn->max_io_pages = resp->hello->max_io_pages < FRAME_MAX_IO_PAGES ?
                       resp->hello->max_io_pages : FRAME_MAX_IO_PAGES;
    snprintf(cn->server_version, sizeof(cn->server_version), "%s",
             resp->hello->server ? resp->hello->server : "");
    return 0;
}

int rmem__conn_open(struct rmem__conn *cn, const struct rmem__conn_target *t)
{
    const char *port;
    char host[256];
    int err;

    memset(cn, 0, sizeof(*cn));
    cn->fd = -1;
    cn->hbuf = calloc(1, FRAME_PREFIX_LEN + FRAME_MAX_HEADER);
    cn->arena = calloc(1, RMEM__ARENA_SIZE);
    cn->iov = calloc(1 + FRAME_MAX_IO_PAGES, sizeof(*cn->iov));
    if (!cn->hbuf || !cn->arena || !cn->iov) {
        err = -ENOMEM;
        goto err_free;
    }
    /* The fault thread uses these buffers while memory is short: keep
     * them resident.  Failing to lock is not fatal (RLIMIT_MEMLOCK). */
    mlock(cn->hbuf, FRAME_PREFIX_LEN + FRAME_MAX_HEADER);
    mlock(cn->arena, RMEM__ARENA_SIZE);
    err = split_host_port(t->server, host, sizeof(host), &port);
    if (err)
        goto err_free;
    err = tcp_connect(host, port);
    if (err < 0)
        goto err_free;
    cn->fd = err;
    err = t->tls ? rmem__tls_connect(cn, t->tls, host) : 0;
    if (!err)
        err = conn_hello(cn, t);
    if (err)
        goto err_close;
    return 0;

err_close:
    conn_drop(cn);
err_free:
    free(cn->hbuf);
    free(cn->arena);
    free(cn->iov);
    cn->hbuf = cn->arena = NULL;
    cn->iov = NULL;
    cn->fd = -1;
    return err;
}

void rmem__conn_close(struct rmem__conn *cn)
{
    conn_drop(cn);
    free(cn->hbuf);
    free(cn->arena);
    free(cn->iov);
    memset(cn, 0, sizeof(*cn));
    cn->fd = -1;
}
