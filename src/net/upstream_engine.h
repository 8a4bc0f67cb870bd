/* upstream_engine.h — the internal interface between the upstream client's
 * front (upstream.c: the public gr_transfer API, engine choice by URL) and its
 * two engines: upstream_h1.c (our HTTP/1.1 client for http:// upstreams, the
 * hot path) and upstream_curl.c (libcurl multi for https://: TLS, HTTP/2).
 *
 * Every engine transfer starts with a gr_transfer header naming its engine's
 * operations, so the public calls dispatch without knowing the engine. The
 * callback and life-cycle contract is the one in upstream.h, for both. */
#ifndef GR_UPSTREAM_ENGINE_H
#define GR_UPSTREAM_ENGINE_H

#include "upstream.h"

struct event_base;

typedef struct gr_engine_ops {
    void (*cancel)(gr_transfer *t);
    void (*pause)(gr_transfer *t);
    void (*resume)(gr_transfer *t);
    uint64_t (*first_byte_us)(const gr_transfer *t);
} gr_engine_ops;

struct gr_transfer {
    const gr_engine_ops *ops; /* first member of every engine's transfer */
};

/* libcurl engine (upstream_curl.c) */
typedef struct gr_curl_engine gr_curl_engine;
/* NULL when libcurl cannot be loaded (curl_dl.h; logged once). */
gr_curl_engine *gr_curl_engine_new(struct event_base *base);
void gr_curl_engine_free(gr_curl_engine *e);
size_t gr_curl_engine_active(const gr_curl_engine *e);
gr_transfer *gr_curl_transfer_start(gr_curl_engine *e, const gr_http_request *req, const gr_timeouts *t,
                                    const gr_transfer_cbs *cbs, void *ud);

/* HTTP/1.1 engine (upstream_h1.c) */
typedef struct gr_h1_engine gr_h1_engine;
gr_h1_engine *gr_h1_engine_new(struct event_base *base, const gr_upstream_opts *opts);
void gr_h1_engine_free(gr_h1_engine *e);
size_t gr_h1_engine_active(const gr_h1_engine *e);
size_t gr_h1_engine_idle(const gr_h1_engine *e); /* kept-alive connections */
gr_transfer *gr_h1_transfer_start(gr_h1_engine *e, const gr_http_request *req, const gr_timeouts *t,
                                  const gr_transfer_cbs *cbs, void *ud);

/* Shared by both engines: note one response header. Keeps Content-Type
 * (trimmed, truncated to ctype_cap-1) and a Retry-After in seconds (0 < s <
 * 86400); other headers are ignored. */
void gr_upstream_note_header(const char *name, size_t nlen, const char *value, size_t vlen, char *ctype,
                             size_t ctype_cap, int *retry_after_s);

#endif
