/* test_pb_out.c — the Protocol Buffers writer (pb_out.h): varints against
 * their known encodings, nested messages whose length needs 1, 2 and 3
 * varint bytes (the body moved right, minimal lengths), and output cut at
 * the capacity never overrunning the buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "pb_out.h"

static void varints(void **st) {
    (void)st;
    static const struct { uint64_t v; const char *enc; size_t n; } cases[] = {
        {0, "\x00", 1}, {1, "\x01", 1}, {127, "\x7f", 1}, {128, "\x80\x01", 2}, {300, "\xac\x02", 2},
        {16383, "\xff\x7f", 2}, {16384, "\x80\x80\x01", 3},
        {UINT64_MAX, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char b[16];
        size_t n = gr_pb_varint(b, 0, sizeof b, cases[i].v);
        assert_int_equal(n, cases[i].n);
        assert_memory_equal(b, cases[i].enc, n);
    }
    char b[8];
    assert_int_equal(gr_pb_fixed64(b, 0, sizeof b, 7, 1), sizeof b); /* tag + 8 bytes > 8: cut */
}

/* A message (field 2) holding one bytes field (field 1) of n bytes: the
 * decoded lengths must be minimal and consistent. */
static void nested(size_t n, size_t want_len_bytes) {
    size_t cap = n + 64;
    char *buf = malloc(cap), *payload = malloc(n);
    for (size_t i = 0; i < n; i++) payload[i] = (char)('a' + i % 26);
    size_t mark, o = gr_pb_open(buf, 0, cap, 2, &mark);
    o = gr_pb_bytes(buf, o, cap, 1, payload, n);
    o = gr_pb_close(buf, o, cap, mark);
    /* outer: tag 0x12, varint length L, then tag 0x0a, varint n, payload */
    assert_int_equal((unsigned char)buf[0], 0x12);
    uint64_t len = 0;
    size_t p = 1;
    for (int shift = 0;; shift += 7) {
        unsigned char c = (unsigned char)buf[p++];
        len |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) break;
    }
    assert_int_equal(p - 1, want_len_bytes);
    assert_int_equal(o, p + len);
    assert_int_equal((unsigned char)buf[p], 0x0a);
    assert_memory_equal(buf + o - n, payload, n);
    free(buf);
    free(payload);
}

static void nested_lengths(void **st) {
    (void)st;
    nested(10, 1);     /* 12-byte body: one length byte, nothing moved */
    nested(200, 2);    /* 203-byte body */
    nested(20000, 3);  /* 20003-byte body */
}

static void cut_at_cap(void **st) {
    (void)st;
    char buf[40];
    memset(buf, 0x55, sizeof buf);
    size_t mark, o = gr_pb_open(buf, 0, 32, 2, &mark);
    o = gr_pb_str(buf, o, 32, 1, "a string far longer than the thirty-two bytes allowed");
    assert_int_equal(o, 32);
    assert_int_equal(gr_pb_close(buf, o, 32, mark), 32); /* stays cut */
    for (size_t i = 32; i < sizeof buf; i++) assert_int_equal((unsigned char)buf[i], 0x55); /* nothing past cap */
    /* a body that fits but whose length would need a second byte past the cap */
    char b2[131];
    o = gr_pb_open(b2, 0, sizeof b2, 2, &mark);
    o = gr_pb_bytes(b2, o, sizeof b2, 1, buf, 32);
    while (o < sizeof b2) o = gr_pb_uint(b2, o, sizeof b2, 3, 1);
    assert_int_equal(gr_pb_close(b2, o, sizeof b2, mark), sizeof b2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(varints),
        cmocka_unit_test(nested_lengths),
        cmocka_unit_test(cut_at_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
