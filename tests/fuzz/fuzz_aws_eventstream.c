/* fuzz_aws_eventstream.c — the AWS event-stream decoder (src/aws_eventstream.c).
 *
 * Input: byte 0 picks the message cap (small caps reach GR_ERR_TOO_LARGE),
 * bytes 1-2 a split offset; the rest is the byte stream. It is decoded whole,
 * split at the data-derived offset, and (short inputs) byte by byte; the
 * traces of messages must be identical and so must the final status — the
 * framing is length-prefixed, so no split may change what is decoded.
 * Invariants: data is NUL-terminated; event/id views are never NULL; a
 * message is at least 16 bytes, so there are at most n/16 of them. */
#include "aws_eventstream.h"
#include "fuzz.h"

typedef struct trace {
    char *buf;
    size_t len, cap;
    size_t events;
} trace;

static void put(trace *t, const void *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t nc = t->cap ? t->cap : 256;
        while (nc < t->len + n + 1) nc *= 2;
        t->buf = realloc(t->buf, nc);
        if (!t->buf) abort();
        t->cap = nc;
    }
    if (n) memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static int on_event(void *ud, const gr_sse_event *ev) {
    trace *t = ud;
    GR_FUZZ_ASSERT(ev->data.ptr && ev->data.ptr[ev->data.len] == '\0');
    GR_FUZZ_ASSERT(ev->event.ptr && ev->id.ptr);
    uint32_t l[3] = {(uint32_t)ev->event.len, (uint32_t)ev->data.len, (uint32_t)ev->id.len};
    put(t, l, sizeof l);
    put(t, ev->event.ptr, ev->event.len);
    put(t, ev->data.ptr, ev->data.len);
    put(t, ev->id.ptr, ev->id.len);
    t->events++;
    return 0;
}

static gr_status run(const char *s, size_t n, size_t cap, const size_t *cuts, size_t ncuts, trace *t) {
    gr_evstream d;
    gr_evstream_init(&d, cap);
    size_t prev = 0;
    gr_status rc = GR_OK;
    for (size_t i = 0; i <= ncuts && rc == GR_OK; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        rc = gr_evstream_feed(&d, s + prev, end - prev, on_event, t);
        prev = end;
    }
    if (rc == GR_OK) rc = gr_evstream_finish(&d);
    gr_evstream_dispose(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    static const size_t caps[4] = {16, 64, 4096, 1 << 20};
    size_t cap = caps[data[0] & 3];
    const char *s = (const char *)data + 3;
    size_t n = size - 3;
    size_t split = n ? ((size_t)data[1] << 8 | data[2]) % (n + 1) : 0;
    trace whole = {0}, two = {0}, bytes = {0};
    gr_status rw = run(s, n, cap, NULL, 0, &whole);
    GR_FUZZ_ASSERT(whole.events <= n / 16);
    gr_status r2 = run(s, n, cap, &split, 1, &two);
    GR_FUZZ_ASSERT(rw == r2 && whole.len == two.len && (!whole.len || !memcmp(whole.buf, two.buf, whole.len)));
    if (n <= 512) {
        size_t cuts[512];
        for (size_t i = 0; i + 1 < n; i++) cuts[i] = i + 1;
        gr_status rb = run(s, n, cap, cuts, n ? n - 1 : 0, &bytes);
        GR_FUZZ_ASSERT(rw == rb && whole.len == bytes.len && (!whole.len || !memcmp(whole.buf, bytes.buf, whole.len)));
    }
    free(whole.buf);
    free(two.buf);
    free(bytes.buf);
    return 0;
}
