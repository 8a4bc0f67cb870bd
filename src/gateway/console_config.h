/* console_config.h — the admin endpoints behind the console's Config page
 * (docs/KEYS.md §6), answered on the worker (no store call):
 *   GET  /admin/config          the running config, secrets masked, and the
 *                               last reload's outcome
 *   POST /admin/config/check    --check-config of the body (YAML or JSON):
 *                               {"ok", "summary" | "error"}
 *   POST /admin/config/reload   a reload, as SIGHUP does (202; the outcome
 *                               then shows in GET /admin/config)
 * Admin key only (404 when none is configured, 401 otherwise). */
#ifndef GR_CONSOLE_CONFIG_H
#define GR_CONSOLE_CONFIG_H

#include "request.h"

void gr_console_config_handle(gr_request *r, const char *path);
/* A copy of cfg's tree with credential-named values and URL passwords
 * masked (caller deletes). */
cJSON *gr_console_config_masked(const gr_config *cfg);

#endif
