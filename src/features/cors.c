/* cors.c — CORS preflight and response headers (see cors.h). */
#include "cors.h"

#include "http_server.h"

#include <stdio.h>
#include <string.h>

bool gr_cors_origin_allowed(const gr_config *cfg, const char *origin) {
    if (!origin || !*origin || !cfg->server.ncors_origins) return false;
    for (size_t i = 0; i < cfg->server.ncors_origins; i++) {
        const char *o = cfg->server.cors_origins[i];
        if (!strcmp(o, "*") || !strcmp(o, origin)) return true;
    }
    return false;
}

/* A header list a browser asks for: tokens, commas and spaces only. */
static bool header_list_ok(const char *s) {
    if (strlen(s) > 1024) return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == ',' || c == ' '))
            return false;
    }
    return true;
}

bool gr_cors_handle(gr_request *r) {
    const char *origin = gr_client_req_header(r->req, "Origin");
    if (!gr_cors_origin_allowed(r->cfg, origin)) return false;
    gr_request_add_header(r, "Access-Control-Allow-Origin", origin);
    gr_request_add_header(r, "Vary", "Origin");
    const char *want_method = gr_client_req_header(r->req, "Access-Control-Request-Method");
    if (strcmp(r->method, "OPTIONS") || !want_method) {
        gr_request_add_header(r, "Access-Control-Expose-Headers", "x-request-id, retry-after, x-gaterouter-route");
        return false;
    }
    /* preflight */
    gr_request_add_header(r, "Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS");
    const char *want_headers = gr_client_req_header(r->req, "Access-Control-Request-Headers");
    gr_request_add_header(r, "Access-Control-Allow-Headers",
                          want_headers && *want_headers && header_list_ok(want_headers)
                              ? want_headers
                              : "authorization, content-type, x-api-key, anthropic-version");
    char age[24];
    snprintf(age, sizeof age, "%u", r->cfg->server.cors_max_age_ms / 1000);
    gr_request_add_header(r, "Access-Control-Max-Age", age);
    gr_request_reply_body(r, 204, NULL, "", 0);
    return true;
}
