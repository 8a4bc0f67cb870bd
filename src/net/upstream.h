/* upstream.h — the upstream HTTP client, one per worker, on the worker's
 * libevent loop. Two engines behind one API (upstream_engine.h): plain
 * http:// upstreams go through our own HTTP/1.1 client (upstream_h1.c,
 * kept-alive connections, no per-request syscalls beyond send/recv), https://
 * through libcurl multi (upstream_curl.c: TLS, HTTP/2). The choice is by URL,
 * or libcurl for everything with server.upstream_client: curl.
 *
 * A transfer sends one gr_http_request and reports, through callbacks, the
 * response status, body bytes as they arrive (never buffered here), and
 * completion. Timeouts: connect (curl), first byte and idle (our timer, reset
 * on every byte), total (curl). Errors are interned constant strings compared
 * by pointer (NULL = success), mapped to 502/504 by the caller.
 *
 * Life cycle: gr_transfer_start() -> callbacks ... -> on_done exactly once,
 * unless gr_transfer_cancel() is called first, after which no callback runs
 * and the transfer memory is released (deferred if inside a callback). The
 * callbacks may call gr_transfer_cancel/pause/resume on their own transfer
 * and start (or cancel) other transfers; a failure found while starting is
 * reported through on_done from the loop, never before start returns. A
 * request header containing CR or LF is never sent (h1: the transfer fails
 * with gr_err_upstream_io; curl: start returns NULL).
 * Single-threaded: a gr_upstream and its transfers belong to one loop. */
#ifndef GR_UPSTREAM_H
#define GR_UPSTREAM_H

#include "common.h"
#include "config.h"
#include "upstream_request.h"

struct event_base;
typedef struct gr_upstream gr_upstream;
typedef struct gr_transfer gr_transfer;

extern const char gr_err_upstream_connect[];
extern const char gr_err_upstream_timeout_connect[];
extern const char gr_err_upstream_timeout_first_byte[];
extern const char gr_err_upstream_timeout_idle[];
extern const char gr_err_upstream_timeout_total[];
extern const char gr_err_upstream_io[];
extern const char gr_err_upstream_aborted[]; /* on_data asked to stop */

bool gr_upstream_err_is_timeout(const char *err);

typedef struct gr_transfer_cbs {
    /* status line + headers complete; retry_after_s = Retry-After or -1 */
    void (*on_headers)(void *ud, int status, const char *content_type, int retry_after_s);
    /* response body bytes; return 0 to continue, -1 to abort the transfer */
    int (*on_data)(void *ud, const char *data, size_t len);
    /* exactly once (unless cancelled): err NULL on success */
    void (*on_done)(void *ud, const char *err, int status);
} gr_transfer_cbs;

/* Process exit, after every upstream client is freed: releases libcurl's
 * global state if libcurl was ever loaded (curl_dl.h: it is loaded on the
 * first https:// or curl-engine request, so a gateway with only http://
 * upstreams never maps it or initialises the TLS stack). */
void gr_upstream_global_cleanup(void);

typedef struct gr_upstream_opts {
    bool curl_only;            /* server.upstream_client: curl */
    uint32_t keepalive_max;    /* idle connections kept per worker (h1 engine) */
    uint32_t keepalive_ms;     /* an idle connection is closed after this long */
} gr_upstream_opts;

/* opts NULL = defaults (h1 for http://, 256 idle, 30 s) */
gr_upstream *gr_upstream_new(struct event_base *base, const gr_upstream_opts *opts);
void gr_upstream_free(gr_upstream *u);
size_t gr_upstream_active(const gr_upstream *u);
size_t gr_upstream_idle_connections(const gr_upstream *u); /* h1 engine's kept-alive pool */

/* The request's strings are copied; the body is referenced until done/cancel. */
gr_transfer *gr_transfer_start(gr_upstream *u, const gr_http_request *req, const gr_timeouts *t,
                               const gr_transfer_cbs *cbs, void *ud);
void gr_transfer_cancel(gr_transfer *t);
void gr_transfer_pause(gr_transfer *t);
void gr_transfer_resume(gr_transfer *t);
uint64_t gr_transfer_first_byte_us(const gr_transfer *t); /* 0 until the first body byte */

#endif
