/* json_out.c — JSON string literals for hand-assembled output (json_out.h). */
#include "json_out.h"

#include "utf8.h"

#include <stdio.h>

size_t gr_out_json_str(char *buf, size_t off, size_t cap, const char *s) {
    if (off + 2 >= cap) return off;
    if (!s) {
        if (off + 4 < cap) {
            memcpy(buf + off, "null", 4);
            return off + 4;
        }
        return off;
    }
    buf[off++] = '"';
    off = gr_out_json_chars(buf, off, cap, s);
    buf[off++] = '"';
    return off;
}

size_t gr_out_json_chars(char *buf, size_t off, size_t cap, const char *s) {
    size_t left = strlen(s);
    for (; *s && off + 7 < cap; s++, left--) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[off++] = '\\';
            buf[off++] = (char)c;
        } else if (c < 0x20) {
            off += (size_t)snprintf(buf + off, cap - off, "\\u%04x", c);
        } else if (c < 0x80) {
            buf[off++] = (char)c;
        } else { /* a whole valid sequence, or \ufffd for a byte that is not UTF-8 */
            size_t n = gr_utf8_seq_len((const unsigned char *)s, left);
            if (!n) {
                memcpy(buf + off, "\\ufffd", 6);
                off += 6;
                continue;
            }
            memcpy(buf + off, s, n);
            off += n;
            s += n - 1;
            left -= n - 1;
        }
    }
    return off;
}
