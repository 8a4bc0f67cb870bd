/* endpoints.h — the endpoint table: every path the gateway serves, one row
 * each (method(s), exact path or prefix, handler, authentication policy,
 * metrics route label, error shape).
 *
 * gr_endpoints_dispatch() is the HTTP server's request callback: it creates
 * the gr_request, refuses what the HTTP layer flagged (in the endpoint's
 * error shape), answers CORS preflights, inflates a compressed body, then
 * finds the row: 404 unknown_url when none matches, 405 with `Allow` when the
 * row does not take the method (GET implies HEAD), else the row's
 * authentication (auth.h) and its handler. Adding an endpoint is one row
 * and, for a new feature, its handler's file. The table is immutable and
 * shared by every worker. */
#ifndef GR_ENDPOINTS_H
#define GR_ENDPOINTS_H

#include "request.h"

typedef struct gr_endpoint_row gr_endpoint_row;

/* Methods a row takes; 0 = the handler decides (it answers its own 405). */
enum { GR_METHOD_GET = 1u << 0, GR_METHOD_POST = 1u << 1 };

typedef enum {
    GR_ENDPOINT_OPEN = 0, /* no credential, or the handler checks its own (admin key, metrics token) */
    GR_ENDPOINT_CLIENT,   /* the authenticate phase: x402 | static key | virtual key (auth.h) */
} gr_endpoint_auth;

struct gr_endpoint_row {
    const char *path;
    bool prefix;           /* path is a prefix ("/admin/"), else exact */
    unsigned methods;      /* GR_METHOD_*; GET also takes HEAD */
    gr_endpoint_auth auth;
    gr_endpoint ep;        /* model endpoints: which API; else GR_EP_OTHER */
    gr_error_shape errors; /* the shape of every error from the first one on */
    const char *metrics_route; /* the `route` label; NULL = "other" */
    void (*handler)(gr_request *r, const gr_endpoint_row *row);
};

/* Every row, in order (the OpenAPI document reads them). */
const gr_endpoint_row *gr_endpoints_rows(size_t *n);
/* The row serving path, or NULL. */
const gr_endpoint_row *gr_endpoints_find(const char *path);
/* The `Allow` header value for a row's methods. */
const char *gr_endpoints_allow(const gr_endpoint_row *row);
/* The HTTP server's request callback (arg: the gr_worker). */
void gr_endpoints_dispatch(gr_client_req *req, void *arg);

#endif
