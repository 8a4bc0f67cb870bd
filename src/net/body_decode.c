/* body_decode.c — Content-Encoding of request bodies: gzip/deflate via zlib,
 * bounded output. */
#include "body_decode.h"

#include <stdlib.h>
#include <strings.h>
#include <zlib.h>

gr_body_encoding gr_body_encoding_of(const char *ce) {
    if (!ce) return GR_BODY_IDENTITY;
    while (*ce == ' ' || *ce == '\t') ce++;
    size_t n = strcspn(ce, " \t,");
    const char *rest = ce + n;
    while (*rest == ' ' || *rest == '\t') rest++;
    if (*rest) return GR_BODY_UNSUPPORTED; /* a list of codings: not supported */
    if (n == 0 || (n == 8 && !strncasecmp(ce, "identity", 8))) return GR_BODY_IDENTITY;
    if ((n == 4 && !strncasecmp(ce, "gzip", 4)) || (n == 6 && !strncasecmp(ce, "x-gzip", 6))) return GR_BODY_GZIP;
    if (n == 7 && !strncasecmp(ce, "deflate", 7)) return GR_BODY_DEFLATE;
    return GR_BODY_UNSUPPORTED;
}

static gr_status inflate_with(const char *in, size_t len, int window_bits, size_t max, char **out, size_t *out_len) {
    z_stream zs = {0};
    if (inflateInit2(&zs, window_bits) != Z_OK) return GR_ERR_NOMEM;
    size_t cap = len * 4 + 256 < max + 1 ? len * 4 + 256 : max + 1, n = 0;
    char *buf = gr_xmalloc(cap + 1);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    gr_status rc = GR_OK;
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                rc = GR_ERR_TOO_LARGE;
                break;
            }
            cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
            buf = gr_xrealloc(buf, cap + 1);
        }
        zs.next_out = (Bytef *)buf + n;
        zs.avail_out = (uInt)(cap - n);
        int z = inflate(&zs, Z_NO_FLUSH);
        n = cap - zs.avail_out;
        if (n > max) {
            rc = GR_ERR_TOO_LARGE;
            break;
        }
        if (z == Z_STREAM_END) {
            if (zs.avail_in) rc = GR_ERR_PARSE; /* bytes after the compressed stream */
            break;
        }
        if (z != Z_OK && !(z == Z_BUF_ERROR && zs.avail_out == 0)) {
            rc = GR_ERR_PARSE; /* corrupt, or truncated (no input left before the end) */
            break;
        }
    }
    inflateEnd(&zs);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return GR_OK;
}

gr_status gr_body_inflate(const char *in, size_t len, gr_body_encoding enc, size_t max, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    if (len > UINT32_MAX) return GR_ERR_TOO_LARGE;
    if (enc == GR_BODY_GZIP) return inflate_with(in, len, 16 + MAX_WBITS, max, out, out_len);
    if (enc != GR_BODY_DEFLATE) return GR_ERR_UNSUPPORTED;
    gr_status rc = inflate_with(in, len, MAX_WBITS, max, out, out_len); /* RFC 9110: zlib format */
    if (rc == GR_ERR_PARSE) rc = inflate_with(in, len, -MAX_WBITS, max, out, out_len); /* what some clients send */
    return rc;
}
