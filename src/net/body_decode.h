/* body_decode.h — request bodies sent with Content-Encoding: gzip, x-gzip or
 * deflate are inflated (zlib) before any endpoint reads them, up to a
 * decompressed-size cap (server.max_decompressed_body_bytes) so a small bomb
 * cannot become a large allocation; other encodings are refused (415). */
#ifndef GR_BODY_DECODE_H
#define GR_BODY_DECODE_H

#include "common.h"

typedef enum {
    GR_BODY_IDENTITY = 0, /* no Content-Encoding, or "identity" */
    GR_BODY_GZIP,         /* gzip, x-gzip */
    GR_BODY_DEFLATE,      /* deflate (zlib stream; raw deflate is accepted too) */
    GR_BODY_UNSUPPORTED,  /* anything else, or several codings */
} gr_body_encoding;

gr_body_encoding gr_body_encoding_of(const char *content_encoding);

/* Inflates in[0..len) into a malloc'd, NUL-terminated *out. GR_ERR_TOO_LARGE
 * past max bytes, GR_ERR_PARSE for a corrupt or truncated stream (or bytes
 * after its end). *out is NULL on error. */
GR_MUST_CHECK gr_status gr_body_inflate(const char *in, size_t len, gr_body_encoding enc, size_t max, char **out,
                                        size_t *out_len);

#endif
