/* cors.h — CORS for browser clients, off unless server.cors.origins lists
 * origins (or "*"). A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) from an allowed origin is answered 204 with
 * the allowed methods, the requested headers and Access-Control-Max-Age; every
 * other response to an allowed origin carries Access-Control-Allow-Origin and
 * Vary: Origin. A disallowed origin gets no CORS headers at all (the browser
 * then blocks the call). */
#ifndef GR_CORS_H
#define GR_CORS_H

#include "request.h"

/* Adds the CORS headers to r's reply, or answers a preflight. Returns true
 * when r has been answered (the caller stops). */
bool gr_cors_handle(gr_request *r);

/* Whether server.cors allows this Origin value (exact match, or "*"). */
bool gr_cors_origin_allowed(const gr_config *cfg, const char *origin);

#endif
