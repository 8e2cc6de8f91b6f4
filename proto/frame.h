/* Framing shared by rmemd and librmem: the 8-byte length prefix, the bounds
 * both sides enforce before allocating anything, and the payload size each
 * request or response must carry. */
#ifndef RMEM_FRAME_H
#define RMEM_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "rmem.pb-c.h"

#define RMEM_PROTO_VERSION 1u
#define RMEM_PAGE_SHIFT 12
#define RMEM_PAGE_SIZE (1u << RMEM_PAGE_SHIFT)

#define FRAME_PREFIX_LEN 8u
#define FRAME_MAX_HEADER (64u * 1024)       /* protobuf header bytes */
#define FRAME_MAX_IO_PAGES 512u             /* one order-9 block: 2 MiB */
#define FRAME_MAX_PAYLOAD (FRAME_MAX_IO_PAGES * RMEM_PAGE_SIZE)

/* Encode the prefix; lengths must already be within bounds. */
void frame_prefix_encode(uint8_t prefix[FRAME_PREFIX_LEN], uint32_t header_len,
                         uint32_t payload_len);

/* Decode and bound-check the prefix: -EMSGSIZE when a length is over its
 * bound.  An empty header is a message with every field at its default (a
 * bodiless reply to request id 0), so it passes here; an empty request has
 * no body and is refused as such by the server. */
int frame_prefix_decode(const uint8_t prefix[FRAME_PREFIX_LEN],
                        uint32_t *header_len, uint32_t *payload_len);

/* Payload bytes a well-formed request carries (WRITE: its pages; everything
 * else: none).  -EINVAL if the request's ranges are malformed, -EMSGSIZE if
 * they exceed FRAME_MAX_IO_PAGES. */
int64_t frame_request_payload_len(const Rmem__Request *req);

/* Packs prefix + header into buf (capacity cap) for a frame whose payload
 * is payload_len bytes sent separately.  Returns the bytes written or
 * -EMSGSIZE. */
int64_t frame_pack_request(const Rmem__Request *req, uint32_t payload_len,
                           uint8_t *buf, size_t cap);
int64_t frame_pack_response(const Rmem__Response *resp, uint32_t payload_len,
                            uint8_t *buf, size_t cap);

/* Name of a request body for logs ("read", "write", ...). */
const char *frame_request_name(const Rmem__Request *req);

#endif
