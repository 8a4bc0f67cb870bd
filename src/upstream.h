/* upstream.h — the upstream HTTP client: libcurl multi driven by a worker's
 * libevent loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION), one per worker.
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
 * callbacks may call gr_transfer_cancel/pause/resume on their own transfer.
 * Single-threaded: a gr_upstream and its transfers belong to one loop. */
#ifndef GR_UPSTREAM_H
#define GR_UPSTREAM_H

#include "common.h"
#include "config.h"
#include "provider.h"

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

gr_upstream *gr_upstream_new(struct event_base *base);
void gr_upstream_free(gr_upstream *u);
size_t gr_upstream_active(const gr_upstream *u);

/* The request's strings are copied; the body is referenced until done/cancel. */
gr_transfer *gr_transfer_start(gr_upstream *u, const gr_http_request *req, const gr_timeouts *t,
                               const gr_transfer_cbs *cbs, void *ud);
void gr_transfer_cancel(gr_transfer *t);
void gr_transfer_pause(gr_transfer *t);
void gr_transfer_resume(gr_transfer *t);
uint64_t gr_transfer_first_byte_us(const gr_transfer *t); /* 0 until the first body byte */

#endif
