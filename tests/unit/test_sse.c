/* test_sse.c — SSE framing: every split point, line endings, comments, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sse.h"

typedef struct {
    char out[8192];
    size_t len;
    int events;
} collect;

static int on_event(void *ud, const gr_sse_event *ev) {
    collect *c = ud;
    c->len += (size_t)snprintf(c->out + c->len, sizeof(c->out) - c->len, "[%.*s|%.*s|%.*s]", (int)ev->event.len,
                               ev->event.ptr, (int)ev->data.len, ev->data.ptr, (int)ev->id.len, ev->id.ptr);
    c->events++;
    assert_int_equal(ev->data.ptr[ev->data.len], '\0');
    return 0;
}

static void feed_split(const char *in, size_t n, size_t split, collect *c) {
    gr_sse_parser p;
    gr_sse_init(&p, 4096);
    memset(c, 0, sizeof(*c));
    gr_status rc = gr_sse_feed(&p, in, split, on_event, c);
    assert_true(rc == GR_OK || rc == GR_AGAIN);
    rc = gr_sse_feed(&p, in + split, n - split, on_event, c);
    assert_true(rc == GR_OK || rc == GR_AGAIN);
    gr_sse_dispose(&p);
}

static const char k_stream[] =
    "\xEF\xBB\xBF: ping\r\n"
    "event: message_start\r\ndata: {\"a\":1}\r\n\r\n"
    "data: line1\ndata: line2\nid: 7\n\n"
    "data:nospace\r\r"
    ": comment only\n\n"
    "retry: 100\nunknown: x\ndata: {\"b\":\"c\\nd\"}\n\n"
    "data: [DONE]\n\n";
/* Per the spec the last event id persists across events until changed. */
static const char k_expected[] =
    "[message_start|{\"a\":1}|][|line1\nline2|7][|nospace|7][|{\"b\":\"c\\nd\"}|7][|[DONE]|7]";

/* sse-1.1: the whole stream in one piece */
static void test_whole(void **state) {
    collect c;
    feed_split(k_stream, sizeof(k_stream) - 1, 0, &c);
    assert_string_equal(c.out, k_expected);
    assert_int_equal(c.events, 5);
}

/* sse-1.2: split at every byte offset gives identical output */
static void test_every_split(void **state) {
    size_t n = sizeof(k_stream) - 1;
    for (size_t split = 0; split <= n; split++) {
        collect c;
        feed_split(k_stream, n, split, &c);
        if (strcmp(c.out, k_expected) != 0) fail_msg("split at %zu: got %s", split, c.out);
    }
}

/* sse-1.3: byte by byte */
static void test_byte_by_byte(void **state) {
    gr_sse_parser p;
    gr_sse_init(&p, 4096);
    collect c = {0};
    for (size_t i = 0; i < sizeof(k_stream) - 1; i++) {
        gr_status rc = gr_sse_feed(&p, k_stream + i, 1, on_event, &c);
        assert_true(rc == GR_OK || rc == GR_AGAIN);
    }
    assert_string_equal(c.out, k_expected);
    assert_int_equal(gr_sse_finish(&p), GR_OK);
    gr_sse_dispose(&p);
}

/* sse-1.4: an event over the cap is an error, not an unbounded buffer */
static void test_too_large(void **state) {
    gr_sse_parser p;
    gr_sse_init(&p, 64);
    collect c = {0};
    char big[200];
    memset(big, 'x', sizeof(big));
    gr_status rc = gr_sse_feed(&p, "data: ", 6, on_event, &c);
    assert_int_equal(rc, GR_AGAIN);
    rc = gr_sse_feed(&p, big, sizeof(big), on_event, &c);
    assert_int_equal(rc, GR_ERR_TOO_LARGE);
    gr_sse_dispose(&p);
    /* many small data lines adding up past the cap */
    gr_sse_init(&p, 64);
    rc = GR_OK;
    for (int i = 0; i < 20 && rc != GR_ERR_TOO_LARGE; i++) rc = gr_sse_feed(&p, "data: 0123456789\n", 17, on_event, &c);
    assert_int_equal(rc, GR_ERR_TOO_LARGE);
    assert_int_equal(c.events, 0);
    gr_sse_dispose(&p);
}

/* sse-1.5: a truncated event is reported at finish and not dispatched */
static void test_truncated(void **state) {
    gr_sse_parser p;
    gr_sse_init(&p, 1024);
    collect c = {0};
    assert_int_equal(gr_sse_feed(&p, "data: {\"partial\"", 16, on_event, &c), GR_AGAIN);
    assert_int_equal(gr_sse_finish(&p), GR_AGAIN);
    assert_int_equal(c.events, 0);
    gr_sse_dispose(&p);
}

static int stop_cb(void *ud, const gr_sse_event *ev) { return 1; }

/* sse-1.6: a callback can stop parsing */
static void test_stop(void **state) {
    gr_sse_parser p;
    gr_sse_init(&p, 1024);
    assert_int_equal(gr_sse_feed(&p, "data: a\n\ndata: b\n\n", 18, stop_cb, NULL), GR_ERR_INVALID);
    gr_sse_dispose(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),       cmocka_unit_test(test_every_split), cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_too_large),   cmocka_unit_test(test_truncated),   cmocka_unit_test(test_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
