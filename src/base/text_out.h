/* text_out.h — appending text to a fixed buffer without printf, for lines
 * built on every request (the access log, response heads). snprintf costs
 * ~1 µs per call in format parsing and stdio set-up; these are a memcpy or a
 * digit loop. Each call appends what fits (the output is truncated, never
 * overrun) and returns the new length; the buffer is not NUL-terminated. */
#ifndef GR_TEXT_OUT_H
#define GR_TEXT_OUT_H

#include "common.h"

static inline size_t gr_out_mem(char *buf, size_t off, size_t cap, const char *s, size_t n) {
    if (off >= cap) return off;
    if (n > cap - off) n = cap - off;
    memcpy(buf + off, s, n);
    return off + n;
}

static inline size_t gr_out_str(char *buf, size_t off, size_t cap, const char *s) {
    return gr_out_mem(buf, off, cap, s, strlen(s));
}

#define GR_OUT_LIT(buf, off, cap, lit) gr_out_mem((buf), (off), (cap), (lit), sizeof(lit) - 1)

static inline size_t gr_out_u64(char *buf, size_t off, size_t cap, uint64_t v) {
    char tmp[20];
    size_t n = 0;
    do tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    char rev[20];
    for (size_t i = 0; i < n; i++) rev[i] = tmp[n - 1 - i];
    return gr_out_mem(buf, off, cap, rev, n);
}

static inline size_t gr_out_i64(char *buf, size_t off, size_t cap, int64_t v) {
    if (v < 0) {
        off = GR_OUT_LIT(buf, off, cap, "-");
        return gr_out_u64(buf, off, cap, (uint64_t)0 - (uint64_t)v);
    }
    return gr_out_u64(buf, off, cap, (uint64_t)v);
}

static inline size_t gr_out_hex(char *buf, size_t off, size_t cap, uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char rev[16];
    size_t n = 0;
    do rev[15 - n++] = digits[v & 15];
    while ((v >>= 4) != 0);
    return gr_out_mem(buf, off, cap, rev + 16 - n, n);
}

/* v / 10^places as an exact decimal with `places` fraction digits
 * (v >= 0): e.g. µs -> ms with 3 places, nano-USD -> USD with 9. */
static inline size_t gr_out_fixed(char *buf, size_t off, size_t cap, uint64_t v, unsigned places) {
    uint64_t div = 1;
    for (unsigned i = 0; i < places; i++) div *= 10;
    off = gr_out_u64(buf, off, cap, v / div);
    off = GR_OUT_LIT(buf, off, cap, ".");
    char frac[20];
    uint64_t f = v % div;
    for (unsigned i = places; i-- > 0;) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    return gr_out_mem(buf, off, cap, frac, places);
}

#endif
