/* test_aws_eventstream.c — the AWS event-stream decoder: messages built here
 * byte by byte (prelude, typed headers, payload, CRC-32s), decoded whole, at
 * every split and byte by byte; damaged CRCs, lengths and headers refused;
 * the size cap; exception and error messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <zlib.h>

#include "aws_eventstream.h"

typedef struct msgbuf {
    unsigned char b[4096];
    size_t n;
} msgbuf;

static void be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends one message; hdrs is a pre-encoded header block. */
static void add_message(msgbuf *m, const unsigned char *hdrs, size_t hl, const char *payload) {
    size_t pl = strlen(payload), total = 12 + hl + pl + 4;
    unsigned char *p = m->b + m->n;
    be32(p, (uint32_t)total);
    be32(p + 4, (uint32_t)hl);
    be32(p + 8, (uint32_t)crc32(0, p, 8));
    memcpy(p + 12, hdrs, hl);
    memcpy(p + 12 + hl, payload, pl);
    be32(p + total - 4, (uint32_t)crc32(0, p, (uInt)(total - 4)));
    m->n += total;
}

/* A string header (type 7). */
static size_t hstr(unsigned char *h, const char *name, const char *value) {
    size_t nl = strlen(name), vl = strlen(value), i = 0;
    h[i++] = (unsigned char)nl;
    memcpy(h + i, name, nl);
    i += nl;
    h[i++] = 7;
    h[i++] = (unsigned char)(vl >> 8);
    h[i++] = (unsigned char)vl;
    memcpy(h + i, value, vl);
    return i + vl;
}

static size_t event_headers(unsigned char *h, const char *event_type) {
    size_t n = hstr(h, ":event-type", event_type);
    n += hstr(h + n, ":content-type", "application/json");
    n += hstr(h + n, ":message-type", "event");
    /* headers of the other types are skipped by length */
    static const unsigned char other[] = {1, 'b', 0, 1, 'c', 1, 1, 'y', 2, 9, 1, 's', 3, 0, 1,
                                          1, 'i', 4, 0, 0, 0, 1, 1, 'l', 5, 0, 0, 0, 0, 0, 0, 0, 1,
                                          1, 'a', 6, 0, 2, 0xff, 0xfe, 1, 't', 8, 0, 0, 0, 0, 0, 0, 0, 1,
                                          1, 'u', 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    memcpy(h + n, other, sizeof other);
    return n + sizeof other;
}

typedef struct collect {
    char out[4096];
    size_t len;
    int events;
} collect;

static int on_event(void *ud, const gr_sse_event *ev) {
    collect *c = ud;
    assert_int_equal(ev->data.ptr[ev->data.len], '\0');
    c->len += (size_t)snprintf(c->out + c->len, sizeof(c->out) - c->len, "[%.*s|%.*s|%.*s]", (int)ev->event.len,
                               ev->event.ptr ? ev->event.ptr : "", (int)ev->id.len, ev->id.ptr ? ev->id.ptr : "",
                               (int)ev->data.len, ev->data.ptr);
    c->events++;
    return 0;
}

static gr_status feed_cuts(const msgbuf *m, const size_t *cuts, size_t ncuts, size_t cap, collect *c) {
    gr_evstream d;
    gr_evstream_init(&d, cap);
    memset(c, 0, sizeof(*c));
    size_t prev = 0;
    gr_status rc = GR_OK;
    for (size_t i = 0; i <= ncuts && rc == GR_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : m->n;
        rc = gr_evstream_feed(&d, (const char *)m->b + prev, end - prev, on_event, c);
        prev = end;
    }
    if (rc == GR_OK) rc = gr_evstream_finish(&d);
    gr_evstream_dispose(&d);
    return rc;
}

static void sample(msgbuf *m) {
    unsigned char h[512];
    memset(m, 0, sizeof(*m));
    add_message(m, h, event_headers(h, "messageStart"), "{\"role\":\"assistant\"}");
    add_message(m, h, event_headers(h, "contentBlockDelta"), "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
    add_message(m, h, event_headers(h, "messageStop"), ""); /* empty payload */
}

static const char k_sample_out[] = "[messageStart||{\"role\":\"assistant\"}]"
                                   "[contentBlockDelta||{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}]"
                                   "[messageStop||]";

static void test_whole_and_every_split(void **state) {
    (void)state;
    msgbuf m;
    sample(&m);
    collect c;
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_OK);
    assert_string_equal(c.out, k_sample_out);
    for (size_t cut = 1; cut < m.n; cut++) {
        assert_int_equal(feed_cuts(&m, &cut, 1, 1 << 16, &c), GR_OK);
        assert_string_equal(c.out, k_sample_out);
    }
    size_t cuts[4096];
    for (size_t i = 0; i + 1 < m.n; i++) cuts[i] = i + 1;
    assert_int_equal(feed_cuts(&m, cuts, m.n - 1, 1 << 16, &c), GR_OK);
    assert_string_equal(c.out, k_sample_out);
}

static void test_truncated_is_pending(void **state) {
    (void)state;
    msgbuf m;
    sample(&m);
    m.n -= 3;
    collect c;
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_AGAIN);
    assert_int_equal(c.events, 2);
}

static void test_every_flipped_byte_is_refused(void **state) {
    (void)state;
    msgbuf m;
    unsigned char h[512];
    memset(&m, 0, sizeof m);
    add_message(&m, h, event_headers(h, "metadata"), "{\"usage\":{}}");
    for (size_t i = 0; i < m.n; i++) {
        msgbuf bad = m;
        bad.b[i] ^= 0x40;
        collect c;
        gr_status rc = feed_cuts(&bad, NULL, 0, 1 << 16, &c);
        /* a damaged length may also just leave the message incomplete */
        assert_true(rc == GR_ERR_PARSE || rc == GR_ERR_TOO_LARGE || rc == GR_AGAIN);
        assert_int_equal(c.events, 0);
    }
}

static void test_bad_framing(void **state) {
    (void)state;
    collect c;
    msgbuf m;
    memset(&m, 0, sizeof m);
    /* total length below the minimum, with a valid prelude CRC */
    be32(m.b, 8);
    be32(m.b + 4, 0);
    be32(m.b + 8, (uint32_t)crc32(0, m.b, 8));
    m.n = 12;
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_ERR_PARSE);
    /* headers longer than the message */
    be32(m.b, 20);
    be32(m.b + 4, 10);
    be32(m.b + 8, (uint32_t)crc32(0, m.b, 8));
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_ERR_PARSE);
    /* a header that overruns its block, CRCs right */
    unsigned char h[] = {11, ':', 'e', 'v', 'e', 'n', 't', '-', 't', 'y', 'p', 'e', 7, 0, 50, 'x'};
    memset(&m, 0, sizeof m);
    add_message(&m, h, sizeof h, "{}");
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_ERR_PARSE);
    /* an unknown header type */
    unsigned char h2[] = {1, 'x', 10};
    memset(&m, 0, sizeof m);
    add_message(&m, h2, sizeof h2, "{}");
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_ERR_PARSE);
    /* after a failure the decoder stays failed */
    gr_evstream d;
    gr_evstream_init(&d, 1 << 16);
    assert_int_equal(gr_evstream_feed(&d, (const char *)m.b, m.n, on_event, &c), GR_ERR_PARSE);
    sample(&m);
    assert_int_equal(gr_evstream_feed(&d, (const char *)m.b, m.n, on_event, &c), GR_ERR_PARSE);
    gr_evstream_dispose(&d);
}

static void test_cap(void **state) {
    (void)state;
    msgbuf m;
    sample(&m);
    collect c;
    /* the first message is larger than 64 bytes */
    assert_int_equal(feed_cuts(&m, NULL, 0, 64, &c), GR_ERR_TOO_LARGE);
    assert_int_equal(c.events, 0);
}

static void test_exception_and_error(void **state) {
    (void)state;
    msgbuf m;
    unsigned char h[512];
    memset(&m, 0, sizeof m);
    size_t n = hstr(h, ":exception-type", "throttlingException");
    n += hstr(h + n, ":content-type", "application/json");
    n += hstr(h + n, ":message-type", "exception");
    add_message(&m, h, n, "{\"message\":\"Too many requests\"}");
    n = hstr(h, ":error-code", "InternalFailure");
    n += hstr(h + n, ":error-message", "something broke");
    n += hstr(h + n, ":message-type", "error");
    add_message(&m, h, n, "");
    collect c;
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_OK);
    assert_string_equal(c.out, "[:exception|throttlingException|{\"message\":\"Too many requests\"}]"
                               "[:error|InternalFailure|something broke]");
    /* an unknown message type is refused */
    memset(&m, 0, sizeof m);
    n = hstr(h, ":message-type", "gossip");
    add_message(&m, h, n, "{}");
    assert_int_equal(feed_cuts(&m, NULL, 0, 1 << 16, &c), GR_ERR_PARSE);
}

static int stop_cb(void *ud, const gr_sse_event *ev) {
    (void)ev;
    (*(int *)ud)++;
    return 1;
}

static void test_callback_stops(void **state) {
    (void)state;
    msgbuf m;
    sample(&m);
    gr_evstream d;
    gr_evstream_init(&d, 1 << 16);
    int calls = 0;
    assert_int_equal(gr_evstream_feed(&d, (const char *)m.b, m.n, stop_cb, &calls), GR_ERR_INVALID);
    assert_int_equal(calls, 1);
    gr_evstream_dispose(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_and_every_split), cmocka_unit_test(test_truncated_is_pending),
        cmocka_unit_test(test_every_flipped_byte_is_refused), cmocka_unit_test(test_bad_framing),
        cmocka_unit_test(test_cap), cmocka_unit_test(test_exception_and_error),
        cmocka_unit_test(test_callback_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
