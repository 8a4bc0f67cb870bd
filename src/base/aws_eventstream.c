/* aws_eventstream.c — incremental AWS event-stream decoder (see aws_eventstream.h). */
#include "aws_eventstream.h"

#include <stdlib.h>
#include <zlib.h>

void gr_evstream_init(gr_evstream *d, size_t max_message) {
    memset(d, 0, sizeof(*d));
    d->max_message = max_message >= GR_EVSTREAM_MIN_MESSAGE ? max_message : (1u << 20);
}

void gr_evstream_dispose(gr_evstream *d) {
    free(d->buf);
    d->buf = NULL;
    d->len = d->cap = d->need = 0;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t crc(const unsigned char *p, size_t n) {
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

static gr_status reserve(gr_evstream *d, size_t need) {
    if (need <= d->cap) return GR_OK;
    if (need > d->max_message + 1) return GR_ERR_TOO_LARGE;
    size_t cap = d->cap ? d->cap : 1024;
    while (cap < need) cap *= 2;
    if (cap > d->max_message + 1) cap = d->max_message + 1;
    unsigned char *nb = realloc(d->buf, cap);
    if (!nb) return GR_ERR_NOMEM;
    d->buf = nb;
    d->cap = cap;
    return GR_OK;
}

/* A string-valued header (type 7) by name; false when absent or not a string. */
typedef struct headers {
    gr_str message_type, event_type, exception_type, error_code, error_message;
} headers;

static gr_status parse_headers(const unsigned char *p, size_t n, headers *h) {
    static const size_t fixed[10] = {0, 0, 1, 2, 4, 8, 0, 0, 8, 16};
    size_t i = 0;
    while (i < n) {
        size_t nl = p[i++];
        if (nl == 0 || n - i < nl + 1) return GR_ERR_PARSE;
        gr_str name = {(const char *)p + i, nl};
        i += nl;
        unsigned type = p[i++];
        if (type > 9) return GR_ERR_PARSE;
        if (type == 6 || type == 7) {
            if (n - i < 2) return GR_ERR_PARSE;
            size_t vl = (size_t)p[i] << 8 | p[i + 1];
            i += 2;
            if (n - i < vl) return GR_ERR_PARSE;
            gr_str v = {(const char *)p + i, vl};
            i += vl;
            if (type != 7) continue;
            if (gr_str_eq_c(name, ":message-type")) h->message_type = v;
            else if (gr_str_eq_c(name, ":event-type")) h->event_type = v;
            else if (gr_str_eq_c(name, ":exception-type")) h->exception_type = v;
            else if (gr_str_eq_c(name, ":error-code")) h->error_code = v;
            else if (gr_str_eq_c(name, ":error-message")) h->error_message = v;
            continue;
        }
        if (n - i < fixed[type]) return GR_ERR_PARSE;
        i += fixed[type];
    }
    return GR_OK;
}

/* d->buf holds one whole message (d->need bytes, CRCs not yet checked). */
static gr_status deliver(gr_evstream *d, gr_sse_event_cb cb, void *ud) {
    const unsigned char *m = d->buf;
    size_t total = d->need;
    if (crc(m, total - 4) != be32(m + total - 4)) return GR_ERR_PARSE;
    size_t hl = be32(m + 4);
    headers h = {0};
    if (parse_headers(m + GR_EVSTREAM_PRELUDE, hl, &h) != GR_OK) return GR_ERR_PARSE;
    char *payload = (char *)d->buf + GR_EVSTREAM_PRELUDE + hl;
    size_t plen = total - GR_EVSTREAM_PRELUDE - hl - 4;
    gr_sse_event ev = {0};
    if (h.message_type.len == 0 || gr_str_eq_c(h.message_type, "event")) {
        ev.event = h.event_type;
        ev.data = (gr_str){payload, plen};
    } else if (gr_str_eq_c(h.message_type, "exception")) {
        ev.event = GR_STR_LIT(":exception");
        ev.id = h.exception_type;
        ev.data = (gr_str){payload, plen};
    } else if (gr_str_eq_c(h.message_type, "error")) {
        ev.event = GR_STR_LIT(":error");
        ev.id = h.error_code;
        ev.data = h.error_message; /* copied below: it must be NUL-terminated */
    } else {
        return GR_ERR_PARSE;
    }
    if (ev.data.ptr != payload) { /* an error's message header, copied to be NUL-terminated */
        size_t el = ev.data.len < sizeof(d->text) - 1 ? ev.data.len : sizeof(d->text) - 1;
        if (el) memcpy(d->text, ev.data.ptr, el);
        d->text[el] = '\0';
        ev.data = (gr_str){d->text, el};
    } else { /* the payload is followed by the (checked) message CRC: that byte is ours */
        payload[plen] = '\0';
    }
    if (!ev.event.ptr) ev.event = GR_STR_LIT(""); /* views are never NULL, as the SSE parser's */
    if (!ev.id.ptr) ev.id = GR_STR_LIT("");
    d->messages++;
    return cb && cb(ud, &ev) != 0 ? GR_ERR_INVALID : GR_OK;
}

gr_status gr_evstream_feed(gr_evstream *d, const char *data, size_t n, gr_sse_event_cb cb, void *ud) {
    if (d->failed) return GR_ERR_PARSE;
    const unsigned char *p = (const unsigned char *)data;
    gr_status rc = GR_OK;
    while (n) {
        size_t want = d->need ? d->need : GR_EVSTREAM_PRELUDE;
        size_t take = want - d->len < n ? want - d->len : n;
        rc = reserve(d, d->len + take);
        if (rc != GR_OK) goto fail_rc;
        memcpy(d->buf + d->len, p, take);
        d->len += take;
        p += take;
        n -= take;
        if (d->len < want) break;
        if (!d->need) { /* the prelude is in */
            uint32_t total = be32(d->buf), hl = be32(d->buf + 4);
            if (crc(d->buf, 8) != be32(d->buf + 8) || total < GR_EVSTREAM_MIN_MESSAGE ||
                hl > total - GR_EVSTREAM_MIN_MESSAGE) {
                rc = GR_ERR_PARSE;
                goto fail_rc;
            }
            if (total > d->max_message) {
                rc = GR_ERR_TOO_LARGE;
                goto fail_rc;
            }
            d->need = total;
            if (reserve(d, total + 1) != GR_OK) {
                rc = GR_ERR_NOMEM;
                goto fail_rc;
            }
            continue;
        }
        rc = deliver(d, cb, ud);
        d->len = d->need = 0;
        if (rc == GR_ERR_INVALID) return rc; /* the callback stopped: not a framing failure */
        if (rc != GR_OK) goto fail_rc;
    }
    return GR_OK;
fail_rc:
    d->failed = true;
    return rc;
}

gr_status gr_evstream_finish(const gr_evstream *d) { return d->len ? GR_AGAIN : GR_OK; }
