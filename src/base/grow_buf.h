/* grow_buf.h — a heap text buffer that grows by doubling, kept
 * NUL-terminated: what the SigV4 signer, the CSV writer and the PostgreSQL
 * array literals build their text in. The owner frees p; {0} is empty. */
#ifndef GR_GROW_BUF_H
#define GR_GROW_BUF_H

#include "common.h"

typedef struct gr_grow_buf {
    char *p; /* NULL until the first write */
    size_t len, cap;
} gr_grow_buf;

/* Room for extra more bytes and the terminator. */
void gr_grow_reserve(gr_grow_buf *b, size_t extra);
/* Appends n bytes (p is allocated even when n is 0). */
void gr_grow_put(gr_grow_buf *b, const void *s, size_t n);

#endif
