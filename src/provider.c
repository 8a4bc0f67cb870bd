/* provider.c — adapter registry and helpers shared by every adapter:
 * upstream request building, HTTP status -> OpenAI error type, and mapping of
 * OpenAI-shaped upstream error bodies. */
#include "provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const gr_provider_ops *gr_provider_ops_for(gr_provider_kind kind) {
    switch (kind) {
    case GR_PROVIDER_OPENAI:
    case GR_PROVIDER_AZURE:
    case GR_PROVIDER_MOCK:
        return NULL; /* OpenAI wire format: fast path */
    case GR_PROVIDER_ANTHROPIC:
    case GR_PROVIDER_GEMINI:
        return NULL; /* native adapters register here */
    }
    return NULL;
}

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

const char *gr_error_type_for_status(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "payment_required";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 408: return "timeout_error";
    case 409: return "conflict_error";
    case 413: return "request_too_large";
    case 422: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    default: break;
    }
    return status >= 500 ? "api_error" : "invalid_request_error";
}

void gr_map_openai_error(int status, const char *body, size_t len, gr_upstream_error *err) {
    err->status = status;
    err->type = gr_error_type_for_status(status);
    err->code = NULL;
    snprintf(err->message, sizeof(err->message), "upstream returned HTTP %d", status);
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *e = root ? cJSON_GetObjectItemCaseSensitive(root, "error") : NULL;
    const cJSON *msg = NULL;
    if (cJSON_IsObject(e)) msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    else if (cJSON_IsString(e)) msg = e; /* some servers send {"error":"text"} */
    if (cJSON_IsString(msg) && msg->valuestring[0])
        snprintf(err->message, sizeof(err->message), "%s", msg->valuestring);
    else if (!root && body && len) /* non-JSON body: keep a readable prefix */
        snprintf(err->message, sizeof(err->message), "upstream returned HTTP %d: %.*s", status,
                 (int)(len > 200 ? 200 : len), body);
    cJSON_Delete(root);
}
