/* upstream_request.h — one HTTP request to an upstream, as the transport sends
 * it (upstream.h) and the adapters build it (provider.h): URL, JSON body and
 * "Name: value" header lines, all heap memory owned by the struct and released
 * by gr_http_request_free. Lives with the transport so the transport needs
 * nothing from the adapter layer. */
#ifndef GR_UPSTREAM_REQUEST_H
#define GR_UPSTREAM_REQUEST_H

#include "common.h"

#define GR_MAX_UPSTREAM_HEADERS 24
typedef struct gr_http_request {
    char *url;  /* full URL */
    char *body; /* request body (JSON) */
    size_t body_len;
    char *headers[GR_MAX_UPSTREAM_HEADERS]; /* "Name: value" lines */
    size_t nheaders;
} gr_http_request;

void gr_http_request_free(gr_http_request *r); /* frees members, not r itself */
/* Appends one formatted header line; beyond GR_MAX_UPSTREAM_HEADERS it is
 * dropped (docs/ARCHITECTURE.md, limits). */
void gr_http_request_add_header(gr_http_request *r, const char *fmt, ...) GR_PRINTF(2, 3);

#endif
