/* fuzz_sse.c — the incremental SSE framer (src/base/sse.c).
 *
 * Input: byte 0 picks max_event (small caps reach GR_ERR_TOO_LARGE), bytes 1-2
 * a split offset; the rest is the stream. The stream is framed four ways —
 * whole, split at the data-derived offset with an empty piece in between,
 * split in three, and (for short inputs) byte by byte — and the event traces
 * must agree: identical when every run ended without error, otherwise the
 * erroring run's events are a prefix of the clean run's (an over-long line
 * may be refused in a split run while the whole run never buffers it). */
#include "fuzz.h"
#include "sse.h"

typedef struct trace {
    char *buf;
    size_t len, cap;
} trace;

static void put(trace *t, const void *p, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t nc = t->cap ? t->cap : 256;
        while (nc < t->len + n + 1) nc *= 2;
        t->buf = realloc(t->buf, nc);
        if (!t->buf) abort();
        t->cap = nc;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static int on_event(void *ud, const gr_sse_event *ev) {
    trace *t = ud;
    GR_FUZZ_ASSERT(ev->data.ptr[ev->data.len] == '\0');
    uint32_t l[3] = {(uint32_t)ev->event.len, (uint32_t)ev->data.len, (uint32_t)ev->id.len};
    put(t, l, sizeof l);
    put(t, ev->event.ptr, ev->event.len);
    put(t, ev->data.ptr, ev->data.len);
    put(t, ev->id.ptr, ev->id.len);
    /* a callback asking to stop: an event whose data is exactly "STOP" */
    return (ev->data.len == 4 && memcmp(ev->data.ptr, "STOP", 4) == 0) ? 1 : 0;
}

/* Feeds the pieces [cuts[i-1], cuts[i]); returns true if no feed errored. */
static bool run(const char *s, size_t n, size_t max_event, const size_t *cuts, size_t ncuts,
                bool empty_pieces, trace *t) {
    gr_sse_parser p;
    gr_sse_init(&p, max_event);
    size_t prev = 0;
    bool ok = true;
    for (size_t i = 0; i <= ncuts && ok; i++) {
        size_t end = i < ncuts ? cuts[i] : n;
        if (end < prev) end = prev;
        gr_status rc = gr_sse_feed(&p, s + prev, end - prev, on_event, t);
        if (rc != GR_OK && rc != GR_AGAIN) ok = false;
        if (ok && empty_pieces) {
            rc = gr_sse_feed(&p, s + end, 0, on_event, t);
            if (rc != GR_OK && rc != GR_AGAIN) ok = false;
        }
        prev = end;
    }
    if (ok) (void)gr_sse_finish(&p);
    put(t, ok ? "K" : "E", 1);
    gr_sse_dispose(&p);
    return ok;
}

static void agree(const trace *a, bool aok, const trace *b, bool bok) {
    if (aok && bok) {
        GR_FUZZ_ASSERT(a->len == b->len && memcmp(a->buf, b->buf, a->len) == 0);
        return;
    }
    /* compare without the final status byte: the shorter is a prefix */
    size_t al = a->len - 1, bl = b->len - 1;
    size_t m = al < bl ? al : bl;
    GR_FUZZ_ASSERT(memcmp(a->buf, b->buf, m) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    static const size_t caps[4] = {16, 100, 4096, 1 << 20};
    size_t max_event = caps[data[0] & 3];
    size_t off = ((size_t)data[1] << 8 | data[2]);
    const char *s = (const char *)data + 3;
    size_t n = size - 3;
    off = n ? off % (n + 1) : 0;

    trace whole = {0}, two = {0}, three = {0}, bytes = {0};
    bool ok1 = run(s, n, max_event, NULL, 0, false, &whole);
    size_t c2[1] = {off};
    bool ok2 = run(s, n, max_event, c2, 1, true, &two);
    size_t c3[2] = {off / 2, off + (n - off) / 2};
    bool ok3 = run(s, n, max_event, c3, 2, false, &three);
    agree(&whole, ok1, &two, ok2);
    agree(&whole, ok1, &three, ok3);
    if (n <= 512) {
        size_t *cb = malloc((n ? n : 1) * sizeof *cb);
        if (!cb) abort();
        for (size_t i = 0; i < n; i++) cb[i] = i + 1;
        bool ok4 = run(s, n, max_event, cb, n ? n - 1 : 0, false, &bytes);
        agree(&whole, ok1, &bytes, ok4);
        free(cb);
    }
    free(whole.buf);
    free(two.buf);
    free(three.buf);
    free(bytes.buf);
    return 0;
}
