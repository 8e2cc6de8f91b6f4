/* Declarations shared inside client/ (librmem, rmemctl, rmem-bench),
 * grouped by the file that defines them.  Never installed. */
#ifndef RMEM_CLIENT_INTERNAL_H
#define RMEM_CLIENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "frame.h"
#include "rmem.h"

/* conn.c: one blocking TCP connection to rmemd.  Requests are packed into
 * and responses unpacked from preallocated buffers (a bump arena serves
 * protobuf-c), so a round trip allocates nothing: the fault thread may not
 * need memory to free memory.  A connection is used by one thread at a
 * time. */
#define RMEM__ARENA_SIZE (256u * 1024)

struct rmem__conn {
    int fd;
    uint64_t next_id;
    uint64_t session;              /* from HelloReply */
    uint32_t max_io_pages;
    uint8_t *hbuf;                 /* prefix + header, FRAME_MAX_HEADER */
    uint8_t *arena;                /* protobuf-c unpack arena */
    size_t arena_used;
    char server_version[32];
};

struct rmem__conn_target {
    const char *server;            /* "host:port" */
    const char *tenant;
    const char *token;
    const char *client;            /* name for the server's logs */
    uint64_t session;              /* 0 = new session */
};

/* Connects and completes Hello: 0 or -errno (-EACCES refused tenant or
 * token, -EPROTO a peer that does not speak rmem). */
int  rmem__conn_open(struct rmem__conn *cn, const struct rmem__conn_target *t);
void rmem__conn_close(struct rmem__conn *cn);

/* One round trip.  The request's id is assigned here; iov/iovcnt is the
 * raw payload (may be 0).  On return 0, *resp is valid until the next call
 * on cn and its payload (if any) was read into rbuf (at most rcap bytes;
 * *rlen says how many).  Transport failures return -errno and leave the
 * connection unusable; a server-side error is resp->status (positive
 * errno) with resp->message. */
int  rmem__conn_call(struct rmem__conn *cn, Rmem__Request *req,
                     const struct iovec *iov, int iovcnt,
                     Rmem__Response **resp, void *rbuf, size_t rcap,
                     size_t *rlen);

/* As rmem__conn_call, and turns a non-zero status into -status. */
int  rmem__conn_rpc(struct rmem__conn *cn, Rmem__Request *req,
                    const struct iovec *iov, int iovcnt,
                    Rmem__Response **resp, void *rbuf, size_t rcap,
                    size_t *rlen);

/* options.c */
/* Parses "123", "64K", "16M", "1G" (also "KiB" style, case-insensitive);
 * 0 or -EINVAL / -ERANGE. */
int  rmem__parse_size(const char *s, uint64_t *out);

#endif
