/* grow_buf.c — the doubling NUL-terminated text buffer (see grow_buf.h). */
#include "grow_buf.h"

#include <string.h>

void gr_grow_reserve(gr_grow_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    b->p = gr_xrealloc(b->p, cap);
    b->cap = cap;
}

void gr_grow_put(gr_grow_buf *b, const void *s, size_t n) {
    gr_grow_reserve(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
