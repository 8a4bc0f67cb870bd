/* api_admin.h — the admin API and GET /v1/key on the request path: the glue
 * between a gr_request and admin.c's handler, which runs on the store
 * executor (store_exec.h) so no store call blocks a worker loop. */
#ifndef GR_API_ADMIN_H
#define GR_API_ADMIN_H

#include "request.h"

/* Answers path (one of gr_admin_owns_path's) and finishes, usually later
 * from this loop once the store job is done. query: without '?', may be "". */
void gr_api_admin_handle(gr_request *r, const char *path, const char *query);

#endif
