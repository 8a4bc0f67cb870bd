/* utf8.h — UTF-8 validation for text that reaches JSON output (error bodies,
 * access-log lines): a client can put any byte in a model name or path, and
 * a JSON document must stay valid UTF-8, so invalid bytes become U+FFFD. */
#ifndef GR_UTF8_H
#define GR_UTF8_H

#include "common.h"

/* Length (1..4) of the well-formed UTF-8 sequence at s (at most avail bytes:
 * no overlongs, no surrogates, nothing above U+10FFFF); 0 if invalid. */
size_t gr_utf8_seq_len(const unsigned char *s, size_t avail);

/* True when all len bytes are well-formed UTF-8. */
bool gr_utf8_valid(const char *s, size_t len);

/* A malloc'd, NUL-terminated copy of s with each invalid byte replaced by
 * U+FFFD; NULL for NULL. */
char *gr_utf8_sanitize_dup(const char *s);

#endif
