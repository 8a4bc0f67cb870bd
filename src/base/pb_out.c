/* pb_out.c — the length of a nested Protocol Buffers message (pb_out.h). */
#include "pb_out.h"

size_t gr_pb_close(char *buf, size_t off, size_t cap, size_t mark) {
    if (off >= cap || mark >= cap) return cap;
    size_t len = off - mark - 1, need = 1;
    for (size_t v = len >> 7; v; v >>= 7) need++;
    if (need > 1) {
        if (off + need - 1 > cap) return cap;
        memmove(buf + mark + need, buf + mark + 1, len);
    }
    gr_pb_varint(buf, mark, cap, len);
    return mark + need + len;
}
