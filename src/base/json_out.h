/* json_out.h — a JSON string literal appended to a fixed buffer (text_out.h's
 * way: what fits is written, never overrun, no printf), for the lines and
 * documents the gateway writes on every request: the access log, trace
 * exports. Bytes that are not UTF-8 become \ufffd, control bytes \u00XX, so the
 * output always parses. */
#ifndef GR_JSON_OUT_H
#define GR_JSON_OUT_H

#include "common.h"

/* Appends s as a quoted, escaped JSON string (NULL: the literal null) at off
 * and returns the new length. Output that does not fit is cut, and the
 * closing quote may then be missing: a caller that must produce valid JSON
 * checks that it stayed below cap. */
size_t gr_out_json_str(char *buf, size_t off, size_t cap, const char *s);
/* The same escaped characters without the quotes (one string from parts). */
size_t gr_out_json_chars(char *buf, size_t off, size_t cap, const char *s);

#endif
