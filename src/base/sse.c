/* sse.c — incremental SSE framing (see sse.h). */
#include "sse.h"

#include <stdlib.h>

void gr_sse_init(gr_sse_parser *p, size_t max_event) {
    memset(p, 0, sizeof(*p));
    p->max_event = max_event ? max_event : (1u << 20);
}

void gr_sse_dispose(gr_sse_parser *p) {
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
}

void gr_sse_reset(gr_sse_parser *p) {
    p->line_len = p->data_len = p->event_len = p->id_len = 0;
    p->have_data = p->have_field = p->last_cr = p->started = false;
}

static gr_status reserve(char **buf, size_t *cap, size_t need, size_t max) {
    if (need > max) return GR_ERR_TOO_LARGE;
    if (need <= *cap) return GR_OK;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < need) ncap *= 2;
    if (ncap > max + 1) ncap = max + 1;
    char *nb = realloc(*buf, ncap);
    if (!nb) return GR_ERR_NOMEM;
    *buf = nb;
    *cap = ncap;
    return GR_OK;
}

static gr_status dispatch(gr_sse_parser *p, gr_sse_event_cb cb, void *ud) {
    bool had = p->have_data;
    if (had) {
        gr_status rc = reserve(&p->data, &p->data_cap, p->data_len + 1, p->max_event + 1);
        if (rc) return rc;
        p->data[p->data_len] = '\0';
        gr_sse_event ev = {
            .event = {p->event, p->event_len},
            .data = {p->data, p->data_len},
            .id = {p->id, p->id_len},
        };
        p->events++;
        if (cb && cb(ud, &ev) != 0) {
            p->data_len = p->event_len = 0;
            p->have_data = p->have_field = false;
            return GR_ERR_INVALID;
        }
    }
    p->data_len = p->event_len = 0;
    p->have_data = p->have_field = false;
    return GR_OK;
}

/* Process one complete line (without its terminator). */
static gr_status process_line(gr_sse_parser *p, const char *l, size_t n, gr_sse_event_cb cb,
                              void *ud) {
    if (n == 0) return dispatch(p, cb, ud);
    if (l[0] == ':') {
        p->comments++;
        return GR_OK;
    }
    const char *colon = memchr(l, ':', n);
    size_t flen = colon ? (size_t)(colon - l) : n;
    const char *val = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - flen - 1 : 0;
    if (vlen && val[0] == ' ') {
        val++;
        vlen--;
    }
    p->have_field = true;
    if (flen == 4 && memcmp(l, "data", 4) == 0) {
        size_t need = p->data_len + (p->have_data ? 1 : 0) + vlen;
        gr_status rc = reserve(&p->data, &p->data_cap, need + 1, p->max_event + 1);
        if (rc) return rc;
        if (need > p->max_event) return GR_ERR_TOO_LARGE;
        if (p->have_data) p->data[p->data_len++] = '\n';
        memcpy(p->data + p->data_len, val, vlen);
        p->data_len += vlen;
        p->have_data = true;
    } else if (flen == 5 && memcmp(l, "event", 5) == 0) {
        if (vlen >= sizeof(p->event)) return GR_ERR_TOO_LARGE;
        memcpy(p->event, val, vlen);
        p->event_len = vlen;
    } else if (flen == 2 && memcmp(l, "id", 2) == 0) {
        if (vlen >= sizeof(p->id)) return GR_ERR_TOO_LARGE;
        memcpy(p->id, val, vlen);
        p->id_len = vlen;
    }
    /* "retry" and unknown fields are ignored, as the spec says. */
    return GR_OK;
}

gr_status gr_sse_feed(gr_sse_parser *p, const char *buf, size_t n, gr_sse_event_cb cb,
                      void *ud) {
    size_t i = 0;
    /* An empty piece changes nothing (in particular it must not forget a CR
     * that ended the previous piece, or a following LF would end a 2nd line). */
    if (n == 0) return (p->line_len || p->have_field) ? GR_AGAIN : GR_OK;
    if (!p->started) {
        /* A leading UTF-8 BOM is skipped per spec, also when it arrives split
         * across pieces: until it is complete, a BOM prefix is held in the line
         * buffer; on a mismatch the held bytes are ordinary line bytes. */
        static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
        size_t have = p->line_len;
        while (have + i < 3 && i < n && (unsigned char)buf[i] == bom[have + i]) i++;
        if (have + i == 3) {
            p->line_len = 0;
            p->started = true;
        } else if (i == n) {
            gr_status rc = reserve(&p->line, &p->line_cap, have + n, p->max_event + 64);
            if (rc) return rc;
            memcpy(p->line + have, buf, n);
            p->line_len = have + n;
            return GR_AGAIN;
        } else {
            p->started = true;
            i = 0;
        }
    }
    if (p->last_cr && i < n && buf[i] == '\n') i++; /* CRLF split across pieces */
    p->last_cr = false;
    while (i < n) {
        /* Find the next line terminator. */
        size_t j = i;
        while (j < n && buf[j] != '\n' && buf[j] != '\r') j++;
        if (j == n) { /* partial line: keep it */
            size_t need = p->line_len + (n - i);
            gr_status rc = reserve(&p->line, &p->line_cap, need, p->max_event + 64);
            if (rc) return rc;
            memcpy(p->line + p->line_len, buf + i, n - i);
            p->line_len = need;
            return GR_AGAIN;
        }
        gr_status rc;
        if (p->line_len) {
            size_t need = p->line_len + (j - i);
            rc = reserve(&p->line, &p->line_cap, need, p->max_event + 64);
            if (rc) return rc;
            memcpy(p->line + p->line_len, buf + i, j - i);
            p->line_len = 0;
            rc = process_line(p, p->line, need, cb, ud);
        } else {
            rc = process_line(p, buf + i, j - i, cb, ud);
        }
        if (rc) return rc;
        if (buf[j] == '\r') {
            if (j + 1 < n) {
                if (buf[j + 1] == '\n') j++;
            } else {
                p->last_cr = true;
            }
        }
        i = j + 1;
    }
    return (p->line_len || p->have_field) ? GR_AGAIN : GR_OK;
}

gr_status gr_sse_finish(gr_sse_parser *p) {
    return (p->line_len || p->have_field) ? GR_AGAIN : GR_OK;
}
