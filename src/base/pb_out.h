/* pb_out.h — appending Protocol Buffers wire format to a fixed buffer (the
 * OTLP/HTTP protobuf trace export, otel_trace.c): varints, tags, fixed64,
 * length-delimited strings and nested messages. Same contract as text_out.h:
 * each call appends what fits and returns the new length; past the capacity
 * the output is cut (the offset reaches cap) and the caller drops it.
 *
 * A nested message: off = gr_pb_open(buf, off, cap, field, &mark); … append
 * its fields …; off = gr_pb_close(buf, off, cap, mark). open reserves one
 * length byte; close writes the length as a minimal varint, moving the body
 * right when it needs more than one byte (a message over 127 bytes). */
#ifndef GR_PB_OUT_H
#define GR_PB_OUT_H

#include "common.h"

enum { GR_PB_VARINT = 0, GR_PB_FIXED64 = 1, GR_PB_LEN = 2, GR_PB_FIXED32 = 5 };

static inline size_t gr_pb_varint(char *buf, size_t off, size_t cap, uint64_t v) {
    do {
        if (off >= cap) return cap;
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        buf[off++] = (char)(v ? b | 0x80 : b);
    } while (v);
    return off;
}

static inline size_t gr_pb_tag(char *buf, size_t off, size_t cap, uint32_t field, int wire) {
    return gr_pb_varint(buf, off, cap, ((uint64_t)field << 3) | (uint64_t)wire);
}

static inline size_t gr_pb_uint(char *buf, size_t off, size_t cap, uint32_t field, uint64_t v) {
    return gr_pb_varint(buf, gr_pb_tag(buf, off, cap, field, GR_PB_VARINT), cap, v);
}

static inline size_t gr_pb_fixed64(char *buf, size_t off, size_t cap, uint32_t field, uint64_t v) {
    off = gr_pb_tag(buf, off, cap, field, GR_PB_FIXED64);
    for (int i = 0; i < 8; i++, v >>= 8) {
        if (off >= cap) return cap;
        buf[off++] = (char)(v & 0xff);
    }
    return off;
}

static inline size_t gr_pb_double(char *buf, size_t off, size_t cap, uint32_t field, double d) {
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return gr_pb_fixed64(buf, off, cap, field, v);
}

static inline size_t gr_pb_bytes(char *buf, size_t off, size_t cap, uint32_t field, const void *p, size_t n) {
    off = gr_pb_varint(buf, gr_pb_tag(buf, off, cap, field, GR_PB_LEN), cap, n);
    if (off >= cap || n > cap - off) return cap;
    memcpy(buf + off, p, n);
    return off + n;
}

static inline size_t gr_pb_str(char *buf, size_t off, size_t cap, uint32_t field, const char *s) {
    return gr_pb_bytes(buf, off, cap, field, s, strlen(s));
}

/* Big-endian 8 bytes (an OTLP span id; two make a trace id). */
static inline void gr_pb_be64(unsigned char out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (unsigned char)(v & 0xff);
}

static inline size_t gr_pb_open(char *buf, size_t off, size_t cap, uint32_t field, size_t *mark) {
    off = gr_pb_tag(buf, off, cap, field, GR_PB_LEN);
    *mark = off;
    return off < cap ? off + 1 : cap;
}

size_t gr_pb_close(char *buf, size_t off, size_t cap, size_t mark);

#endif
