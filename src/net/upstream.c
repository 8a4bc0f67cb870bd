/* upstream.c — the upstream client's front: the public gr_transfer API of
 * upstream.h, the engine choice per request (http:// -> our HTTP/1.1 engine,
 * anything else or server.upstream_client: curl -> libcurl), the error
 * strings, and the response-header reading both engines share. */
#include "upstream_engine.h"

#include "curl_dl.h"

#include <stdlib.h>
#include <strings.h>

const char gr_err_upstream_connect[] = "upstream connection failed";
const char gr_err_upstream_timeout_connect[] = "upstream connect timeout";
const char gr_err_upstream_timeout_first_byte[] = "upstream first-byte timeout";
const char gr_err_upstream_timeout_idle[] = "upstream idle timeout";
const char gr_err_upstream_timeout_total[] = "upstream total timeout";
const char gr_err_upstream_io[] = "upstream transfer failed";
const char gr_err_upstream_aborted[] = "upstream transfer aborted";

bool gr_upstream_err_is_timeout(const char *err) {
    return err == gr_err_upstream_timeout_connect || err == gr_err_upstream_timeout_first_byte ||
           err == gr_err_upstream_timeout_idle || err == gr_err_upstream_timeout_total;
}

struct gr_upstream {
    struct event_base *base;
    gr_upstream_opts opts;
    gr_curl_engine *curl; /* created on first https:// (or curl-only) request */
    gr_h1_engine *h1;
};

gr_upstream *gr_upstream_new(struct event_base *base, const gr_upstream_opts *opts) {
    gr_upstream *u = gr_xcalloc(1, sizeof(*u));
    u->base = base;
    u->opts = opts ? *opts : (gr_upstream_opts){.keepalive_max = 256, .keepalive_ms = 30000};
    if (!u->opts.curl_only) u->h1 = gr_h1_engine_new(base, &u->opts);
    return u;
}

void gr_upstream_free(gr_upstream *u) {
    if (!u) return;
    if (u->h1) gr_h1_engine_free(u->h1);
    if (u->curl) gr_curl_engine_free(u->curl);
    free(u);
}

size_t gr_upstream_active(const gr_upstream *u) {
    return (u->h1 ? gr_h1_engine_active(u->h1) : 0) + (u->curl ? gr_curl_engine_active(u->curl) : 0);
}

size_t gr_upstream_idle_connections(const gr_upstream *u) { return u->h1 ? gr_h1_engine_idle(u->h1) : 0; }

gr_transfer *gr_transfer_start(gr_upstream *u, const gr_http_request *req, const gr_timeouts *t,
                               const gr_transfer_cbs *cbs, void *ud) {
    if (u->h1 && !strncasecmp(req->url, "http://", 7)) {
        gr_transfer *x = gr_h1_transfer_start(u->h1, req, t, cbs, ud);
        if (x) return x; /* else a URL form the h1 engine does not take (userinfo, ...) */
    }
    if (!u->curl) u->curl = gr_curl_engine_new(u->base);
    if (!u->curl) return NULL; /* libcurl could not be loaded (logged once) */
    return gr_curl_transfer_start(u->curl, req, t, cbs, ud);
}

void gr_upstream_global_cleanup(void) { gr_curl_global_cleanup(); }

void gr_transfer_cancel(gr_transfer *t) {
    if (t) t->ops->cancel(t);
}

void gr_transfer_pause(gr_transfer *t) {
    if (t) t->ops->pause(t);
}

void gr_transfer_resume(gr_transfer *t) {
    if (t) t->ops->resume(t);
}

uint64_t gr_transfer_first_byte_us(const gr_transfer *t) { return t->ops->first_byte_us(t); }

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void gr_upstream_note_header(const char *name, size_t nlen, const char *value, size_t vlen, char *ctype,
                             size_t ctype_cap, int *retry_after_s) {
    while (vlen && is_space(*value)) value++, vlen--;
    while (vlen && is_space(value[vlen - 1])) vlen--;
    if (nlen == 12 && !strncasecmp(name, "content-type", 12)) {
        if (vlen >= ctype_cap) vlen = ctype_cap - 1;
        memcpy(ctype, value, vlen);
        ctype[vlen] = '\0';
    } else if (nlen == 11 && !strncasecmp(name, "retry-after", 11)) {
        long s = 0;
        size_t i = 0;
        for (; i < vlen && i < 6 && value[i] >= '0' && value[i] <= '9'; i++) s = s * 10 + (value[i] - '0');
        if (i == vlen && s > 0 && s < 86400) *retry_after_s = (int)s;
    }
}
