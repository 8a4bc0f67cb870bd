/* upstream_request.c — the upstream request's owned members (upstream_request.h). */
#include "upstream_request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gr_http_request_free(gr_http_request *r) {
    if (!r) return;
    free(r->url);
    free(r->body);
    for (size_t i = 0; i < r->nheaders; i++) free(r->headers[i]);
    memset(r, 0, sizeof(*r));
}

void gr_http_request_add_header(gr_http_request *r, const char *fmt, ...) {
    if (r->nheaders >= GR_MAX_UPSTREAM_HEADERS) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    char *h = gr_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(h, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->headers[r->nheaders++] = h;
}
