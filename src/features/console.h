/* console.h — the web console's static files at /ui and below it (see
 * docs/CONSOLE.md): compiled in (console_assets.h), served with a strict
 * Content-Security-Policy, nosniff, no referrer, ETag revalidation and gzip
 * when the client accepts it. The pages read the admin API with a bearer
 * token; nothing here authenticates (the files hold no data). */
#ifndef GR_CONSOLE_H
#define GR_CONSOLE_H

#include "request.h"

/* The Content-Security-Policy every console file is sent with. */
#define GR_CONSOLE_CSP                                                                                      \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/* Answers GET/HEAD of path ("/ui" is the index page) and finishes r. */
void gr_console_serve(gr_request *r, const char *path);

#endif
