/* redact.c — removes a provider's credentials from upstream bytes and
 * strings before they are parsed, relayed, cut or logged (see redact.h). */
#include "redact.h"

#include <stdlib.h>

/* ---- which configured values are secrets ---- */

static bool name_has(const char *name, const char *part) { return strcasestr(name, part) != NULL; }

static bool credential_header(const char *name) {
    return name && (name_has(name, "auth") || name_has(name, "key") || name_has(name, "token") ||
                    name_has(name, "secret") || name_has(name, "cookie") || name_has(name, "signature"));
}

bool gr_redact_credential_name(const char *name) {
    return credential_header(name) || (name && (name_has(name, "password") || name_has(name, "private") ||
                                                name_has(name, "mnemonic")));
}

static void add_secret(gr_redactor *rd, const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n < GR_REDACT_MIN_LEN || rd->n == GR_REDACT_MAX_SECRETS) return;
    for (size_t i = 0; i < rd->n; i++)
        if (rd->len[i] == n && !memcmp(rd->secret[i], s, n)) return;
    rd->secret[rd->n] = s;
    rd->len[rd->n++] = n;
}

void gr_redactor_init(gr_redactor *rd, const gr_provider_conf *p) {
    memset(rd, 0, sizeof(*rd));
    if (!p) return;
    add_secret(rd, p->api_key);
    /* AWS (bedrock): the secret key is never sent, but an echo of the signing
     * material must not reach a client either; the session token is sent */
    add_secret(rd, p->secret_access_key);
    add_secret(rd, p->session_token);
    add_secret(rd, p->access_key_id);
    for (size_t i = 0; i < p->nheaders; i++) {
        const char *v = p->headers[i].value;
        if (!v || !credential_header(p->headers[i].name)) continue;
        add_secret(rd, v);
        const char *sp = strchr(v, ' '); /* "Bearer <token>": the token alone too */
        if (sp) add_secret(rd, sp + 1);
    }
}

void gr_redactor_dispose(gr_redactor *rd) {
    free(rd->held);
    free(rd->buf);
    memset(rd, 0, sizeof(*rd));
}

/* ---- matching ---- */

static size_t anchor_len(const gr_redactor *rd, size_t k) { return rd->len[k] < GR_REDACT_ANCHOR ? rd->len[k] : GR_REDACT_ANCHOR; }

/* The earliest occurrence in w[from..n) of a secret's anchor; *mlen is how
 * much of that secret follows from there (within w). False when none. */
static bool find_match(const gr_redactor *rd, const char *w, size_t n, size_t from, size_t *at, size_t *mlen,
                       size_t *slen) {
    bool found = false;
    for (size_t k = 0; k < rd->n; k++) {
        size_t a = anchor_len(rd, k);
        if (n - from < a) continue;
        const char *p = memmem(w + from, n - from, rd->secret[k], a);
        if (!p) continue;
        size_t i = (size_t)(p - w), m = a;
        while (m < rd->len[k] && i + m < n && w[i + m] == rd->secret[k][m]) m++;
        if (!found || i < *at || (i == *at && m > *mlen)) {
            *at = i;
            *mlen = m;
            *slen = rd->len[k];
            found = true;
        }
    }
    return found;
}

/* Where w[from..n) ends with a proper start of a secret's anchor (shorter
 * than the anchor), the earliest such position; n when none. */
static size_t tail_start(const gr_redactor *rd, const char *w, size_t n, size_t from) {
    size_t best = n;
    for (size_t k = 0; k < rd->n; k++) {
        size_t a = anchor_len(rd, k);
        size_t lo = n - from > a - 1 ? n - (a - 1) : from;
        for (size_t i = lo; i < best; i++)
            if (w[i] == rd->secret[k][0] && !memcmp(w + i, rd->secret[k], n - i)) {
                best = i;
                break;
            }
    }
    return best;
}

typedef struct {
    char *p;
    size_t len, cap;
} outbuf;

static void put(outbuf *o, const char *s, size_t n) {
    if (!n) return;
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2 + 64;
        o->p = gr_xrealloc(o->p, o->cap);
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* Redacts w[0..n) into o (when o is NULL, only reports whether anything
 * changes); returns where the held-back tail starts (n when none; never
 * anything held when final). */
static size_t scan(const gr_redactor *rd, const char *w, size_t n, bool final, outbuf *o, bool *changed) {
    size_t pos = 0, end = n, at = 0, m = 0, slen = 0;
    *changed = false;
    while (pos < n && find_match(rd, w, n, pos, &at, &m, &slen)) {
        if (!final && at + m == n && m < slen) { /* may go on in the next piece: hold it */
            end = at;
            break;
        }
        *changed = true;
        if (!o) return n;
        put(o, w + pos, at - pos);
        put(o, GR_REDACT_MARK, sizeof(GR_REDACT_MARK) - 1);
        pos = at + m;
    }
    if (!final && end == n) end = tail_start(rd, w, n, pos);
    if (o && (*changed || end < n)) put(o, w + pos, end - pos);
    return end;
}

/* ---- the stream ---- */

static void hold(gr_redactor *rd, const char *s, size_t n) {
    rd->held_len = n;
    if (!n) return;
    if (n > rd->held_cap) {
        rd->held_cap = n;
        rd->held = gr_xrealloc(rd->held, n);
    }
    memmove(rd->held, s, n);
}

static void feed(gr_redactor *rd, const char *data, size_t len, bool final, const char **out, size_t *out_len) {
    *out = data;
    *out_len = len;
    if (!rd->n) return;
    const char *w = data;
    size_t n = len;
    if (rd->held_len) { /* the held bytes go first: work on held + data */
        size_t need = rd->held_len + len;
        if (need > rd->held_cap) {
            rd->held_cap = need;
            rd->held = gr_xrealloc(rd->held, need);
        }
        if (len) memcpy(rd->held + rd->held_len, data, len);
        w = rd->held;
        n = need;
        rd->held_len = 0;
    }
    bool changed;
    size_t end = scan(rd, w, n, final, NULL, &changed);
    if (!changed && w == data) { /* the common case: passed on as is, maybe a tail held */
        hold(rd, w + end, n - end);
        *out_len = end;
        return;
    }
    outbuf o = {rd->buf, 0, rd->buf_cap};
    if (changed) end = scan(rd, w, n, final, &o, &changed);
    else put(&o, w, end);
    rd->buf = o.p, rd->buf_cap = o.cap;
    hold(rd, w + end, n - end); /* w may be held itself: a suffix moves to its front */
    *out = o.len ? rd->buf : data; /* never NULL, even when everything is held */
    *out_len = o.len;
}

void gr_redactor_feed(gr_redactor *rd, const char *data, size_t len, const char **out, size_t *out_len) {
    feed(rd, data, len, false, out, out_len);
}

void gr_redactor_finish(gr_redactor *rd, const char **out, size_t *out_len) {
    feed(rd, "", 0, true, out, out_len);
}

void gr_redact_str(const gr_redactor *rd, char *s, size_t cap) {
    if (!rd || !rd->n || !s || !cap) return;
    size_t n = strlen(s);
    bool changed;
    scan(rd, s, n, true, NULL, &changed);
    if (!changed) return;
    outbuf o = {0};
    scan(rd, s, n, true, &o, &changed);
    size_t keep = o.len < cap - 1 ? o.len : cap - 1;
    memcpy(s, o.p, keep);
    s[keep] = '\0';
    free(o.p);
}
