/* Frame prefix encoding and the bounds both peers check before they
 * allocate: a header never exceeds FRAME_MAX_HEADER and a payload never
 * exceeds FRAME_MAX_PAYLOAD, so a hostile length costs nothing. */
#include "frame.h"

#include <errno.h>
#include <string.h>

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void frame_prefix_encode(uint8_t prefix[FRAME_PREFIX_LEN], uint32_t header_len,
                         uint32_t payload_len)
{
    put_le32(prefix, header_len);
    put_le32(prefix + 4, payload_len);
}

int frame_prefix_decode(const uint8_t prefix[FRAME_PREFIX_LEN],
                        uint32_t *header_len, uint32_t *payload_len)
{
    uint32_t h = get_le32(prefix), p = get_le32(prefix + 4);

    if (h > FRAME_MAX_HEADER || p > FRAME_MAX_PAYLOAD)
        return -EMSGSIZE;
    *header_len = h;
    *payload_len = p;
    return 0;
}

int64_t frame_request_payload_len(const Rmem__Request *req)
{
    const Rmem__Write *w;
    uint64_t pages = 0;

    if (req->body_case != RMEM__REQUEST__BODY_WRITE)
        return 0;
    w = req->write;
    if (w->n_ranges == 0)
        return -EINVAL;
    for (size_t i = 0; i < w->n_ranges; i++) {
        uint32_t count = w->ranges[i]->count;

        if (count == 0)
            return -EINVAL;
        if (count > FRAME_MAX_IO_PAGES)
            return -EMSGSIZE;
        pages += count;
        if (pages > FRAME_MAX_IO_PAGES)
            return -EMSGSIZE;
    }
    return (int64_t)(pages * RMEM_PAGE_SIZE);
}

static int64_t pack(const ProtobufCMessage *msg, uint32_t payload_len,
                    uint8_t *buf, size_t cap)
{
    size_t len = protobuf_c_message_get_packed_size(msg);

    if (len > FRAME_MAX_HEADER || payload_len > FRAME_MAX_PAYLOAD ||
        len + FRAME_PREFIX_LEN > cap)
        return -EMSGSIZE;
    protobuf_c_message_pack(msg, buf + FRAME_PREFIX_LEN);
    frame_prefix_encode(buf, (uint32_t)len, payload_len);
    return (int64_t)(len + FRAME_PREFIX_LEN);
}

int64_t frame_pack_request(const Rmem__Request *req, uint32_t payload_len,
                           uint8_t *buf, size_t cap)
{
    return pack(&req->base, payload_len, buf, cap);
}

int64_t frame_pack_response(const Rmem__Response *resp, uint32_t payload_len,
                            uint8_t *buf, size_t cap)
{
    return pack(&resp->base, payload_len, buf, cap);
}

/* The oneof's field name ("segment_create"), from the generated descriptor,
 * so a new request type needs no entry here. */
const char *frame_request_name(const Rmem__Request *req)
{
    const ProtobufCFieldDescriptor *f;

    if (req->body_case == RMEM__REQUEST__BODY__NOT_SET)
        return "unknown";
    f = protobuf_c_message_descriptor_get_field(&rmem__request__descriptor,
                                                (unsigned)req->body_case);
    return f ? f->name : "unknown";
}
