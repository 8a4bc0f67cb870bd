/* test_body_decode.c — Content-Encoding of request bodies (body_decode.c):
 * which codings are accepted, bounded inflation, corrupt and trailing data. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <zlib.h>

#include "body_decode.h"

/* body-1.x: the header value */
static void test_encoding_of(void **state) {
    assert_int_equal(gr_body_encoding_of(NULL), GR_BODY_IDENTITY);
    assert_int_equal(gr_body_encoding_of("identity"), GR_BODY_IDENTITY);
    assert_int_equal(gr_body_encoding_of(""), GR_BODY_IDENTITY);
    assert_int_equal(gr_body_encoding_of("gzip"), GR_BODY_GZIP);
    assert_int_equal(gr_body_encoding_of(" GZip "), GR_BODY_GZIP);
    assert_int_equal(gr_body_encoding_of("x-gzip"), GR_BODY_GZIP);
    assert_int_equal(gr_body_encoding_of("deflate"), GR_BODY_DEFLATE);
    assert_int_equal(gr_body_encoding_of("br"), GR_BODY_UNSUPPORTED);
    assert_int_equal(gr_body_encoding_of("gzip, br"), GR_BODY_UNSUPPORTED); /* stacked codings */
    assert_int_equal(gr_body_encoding_of("gzipx"), GR_BODY_UNSUPPORTED);
}

/* windowBits: 16+15 gzip, 15 zlib, -15 raw deflate */
static unsigned char *compress_with(const char *text, size_t len, int bits, size_t *out_len) {
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)len);
    unsigned char *out = malloc(cap);
    zs.next_in = (Bytef *)text;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

/* body-2.x: inflation, its cap, bad input */
static void test_inflate(void **state) {
    static const char text[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const struct { const char *id; gr_body_encoding enc; int bits; } ok[] = {
        {"body-2.1", GR_BODY_GZIP, 31}, {"body-2.2", GR_BODY_DEFLATE, 15}, {"body-2.3", GR_BODY_DEFLATE, -15},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t zl = 0, n = 0;
        unsigned char *z = compress_with(text, sizeof text - 1, ok[i].bits, &zl);
        char *out = NULL;
        gr_status rc = gr_body_inflate((const char *)z, zl, ok[i].enc, 1024, &out, &n);
        if (rc != GR_OK) fail_msg("%s: %s", ok[i].id, gr_status_str(rc));
        assert_int_equal(n, sizeof text - 1);
        assert_memory_equal(out, text, n);
        assert_int_equal(out[n], '\0');
        free(out);
        /* body-2.4: one byte under the size is too large */
        rc = gr_body_inflate((const char *)z, zl, ok[i].enc, sizeof text - 2, &out, &n);
        assert_int_equal(rc, GR_ERR_TOO_LARGE);
        assert_null(out);
        free(z);
    }
    /* body-2.5: a bomb stops at the cap, whatever its ratio */
    size_t big = 8u << 20, zl = 0, n = 0;
    char *zeros = calloc(1, big);
    unsigned char *z = compress_with(zeros, big, 31, &zl);
    free(zeros);
    char *out = NULL;
    assert_int_equal(gr_body_inflate((const char *)z, zl, GR_BODY_GZIP, 65536, &out, &n), GR_ERR_TOO_LARGE);
    assert_null(out);
    /* body-2.6: truncated, and body-2.7: bytes after the stream */
    assert_int_equal(gr_body_inflate((const char *)z, zl / 2, GR_BODY_GZIP, big, &out, &n), GR_ERR_PARSE);
    free(z);
    z = compress_with(text, sizeof text - 1, 31, &zl);
    unsigned char *tail = malloc(zl + 3);
    memcpy(tail, z, zl);
    memcpy(tail + zl, "xyz", 3);
    assert_int_equal(gr_body_inflate((const char *)tail, zl + 3, GR_BODY_GZIP, 1024, &out, &n), GR_ERR_PARSE);
    free(tail);
    free(z);
    /* body-2.8: not compressed at all */
    assert_int_equal(gr_body_inflate(text, sizeof text - 1, GR_BODY_GZIP, 1024, &out, &n), GR_ERR_PARSE);
    assert_int_equal(gr_body_inflate(text, sizeof text - 1, GR_BODY_UNSUPPORTED, 1024, &out, &n), GR_ERR_UNSUPPORTED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encoding_of),
        cmocka_unit_test(test_inflate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
