/* endpoints.c — the endpoint table and the dispatch that reads it (see
 * endpoints.h). */
#include "endpoints.h"

#include "api_admin.h"
#include "api_feedback.h"
#include "api_models.h"
#include "api_openapi.h"
#include "body_decode.h"
#include "console.h"
#include "console_config.h"
#include "cors.h"
#include "http_server.h"
#include "metrics.h"
#include "pay_x402.h"
#include "proxy.h"
#include "responses_state.h"
#include "services.h"

#include <event2/http.h> /* evhttp_uridecode */
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ---- the small built-in endpoints ---- */

static void serve_health(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_request_reply_body(r, 200, "application/json", "{\"status\":\"ok\"}\n", 16);
}

/* Is the ledger writer keeping up? Not when its queue is full: new rows are dropped. */
static bool ledger_keeps_up(const gr_request *r) {
    if (!r->w->svc || !r->w->svc->ledger) return true;
    gr_ledger_stats ls;
    gr_ledger_stats_get(r->w->svc->ledger, &ls);
    return ls.depth < ls.capacity;
}

static void serve_ready(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    if (atomic_load(&r->w->draining))
        gr_request_reply_body(r, 503, "application/json", "{\"status\":\"draining\"}\n", 22);
    else if (!gr_store_health_up()) /* as last seen by the ledger, the admin API or the keys refresh */
        gr_request_reply_body(r, 503, "application/json", "{\"status\":\"store_unavailable\"}\n", 31);
    else if (r->w->shared && !gr_shared_conn_connected(r->w->shared)) /* this worker's Redis connection is down */
        gr_request_reply_body(r, 503, "application/json", "{\"status\":\"redis_unavailable\"}\n", 31);
    else if (!ledger_keeps_up(r))
        gr_request_reply_body(r, 503, "application/json", "{\"status\":\"ledger_behind\"}\n", 27);
    else gr_request_reply_body(r, 200, "application/json", "{\"status\":\"ready\"}\n", 19);
}

/* GET /metrics: open, or with server.metrics_token a matching bearer token. */
static void serve_metrics(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    const char *want = r->cfg->server.metrics_token;
    if (want && want[0]) {
        const char *authz = gr_client_req_header(r->req, "Authorization");
        const char *tok = authz && !strncasecmp(authz, "Bearer ", 7) ? authz + 7 : NULL;
        if (!tok || !gr_secret_eq(tok, strlen(tok), want, strlen(want))) {
            gr_request_add_header(r, "WWW-Authenticate", "Bearer realm=\"metrics\"");
            gr_request_fail(r, 401, "invalid_request_error", "invalid_metrics_token", NULL,
                            "GET /metrics needs `Authorization: Bearer <server.metrics_token>`.");
            return;
        }
    }
    size_t len;
    char *text = gr_metrics_render(&len);
    gr_ledger_stats ls;
    gr_ledger_stats_get(r->w->svc->ledger, &ls);
    char extra[512];
    int n = snprintf(extra, sizeof extra,
                     "# HELP gaterouter_ledger_conflicts_total Ledger rows whose request id was already stored "
                     "(not written again; logged as an error).\n"
                     "# TYPE gaterouter_ledger_conflicts_total counter\n"
                     "gaterouter_ledger_conflicts_total %llu\n"
                     "# HELP gaterouter_store_up Whether the store answered its last call (0 = unreachable).\n"
                     "# TYPE gaterouter_store_up gauge\n"
                     "gaterouter_store_up %d\n",
                     (unsigned long long)ls.conflicts, gr_store_health_up() ? 1 : 0);
    if (n > 0 && (size_t)n < sizeof extra) {
        text = gr_xrealloc(text, len + (size_t)n + 1);
        memcpy(text + len, extra, (size_t)n + 1);
        len += (size_t)n;
    }
    gr_request_reply_body(r, 200, "text/plain; version=0.0.4", text, len);
    free(text);
}

static const char *query_of(const gr_request *r) {
    const char *q = strchr(gr_client_req_uri(r->req), '?');
    return q ? q + 1 : "";
}

static void serve_x402(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_pay_x402_serve(r, r->path, query_of(r));
}

static void serve_openapi(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_api_openapi_serve(r);
}

static void serve_admin(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_api_admin_handle(r, r->path, query_of(r));
}

static void serve_feedback(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_api_feedback_handle(r);
}

static void serve_models(gr_request *r, const gr_endpoint_row *row) {
    char *id = row->prefix ? evhttp_uridecode(r->path + strlen(row->path), 0, NULL) : NULL;
    gr_models_handle(r, id);
    free(id);
}

static void serve_console(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_console_serve(r, r->path);
}

static void serve_console_config(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_console_config_handle(r, r->path);
}

static void serve_model_api(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_proxy_handle(r);
}

static void serve_responses_state(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    gr_responses_state_serve(r);
}

/* POST /v1/messages/count_tokens: the Messages pipeline, answered with the
 * count (an Anthropic upstream's, else the gateway's estimate). */
static void serve_count_tokens(gr_request *r, const gr_endpoint_row *row) {
    (void)row;
    r->count_tokens = true;
    gr_proxy_handle(r);
}

/* ---- the table ---- */

#define GET GR_METHOD_GET
#define POST GR_METHOD_POST
#define OPEN GR_ENDPOINT_OPEN
#define CLIENT GR_ENDPOINT_CLIENT
#define OAI GR_ERRORS_OPENAI
#define ANT GR_ERRORS_ANTHROPIC

/* Exact rows before prefix rows; the first match wins. */
static const gr_endpoint_row k_endpoints[] = {
    /* path                   prefix method auth    ep                  errors metrics route           handler */
    {"/",                     false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/",                     serve_health}, /* clients probe the base URL (Claude Code: HEAD /) */
    {"/health",               false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/health",               serve_health},
    {"/ready",                false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/ready",                serve_ready},
    {"/metrics",              false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/metrics",              serve_metrics},
    {"/v1/chat/completions",  false, POST, CLIENT, GR_EP_CHAT,        OAI, "/v1/chat/completions",  serve_model_api},
    {"/chat/completions",     false, POST, CLIENT, GR_EP_CHAT,        OAI, "/v1/chat/completions",  serve_model_api},
    {"/v1/completions",       false, POST, CLIENT, GR_EP_COMPLETIONS, OAI, "/v1/completions",       serve_model_api},
    {"/completions",          false, POST, CLIENT, GR_EP_COMPLETIONS, OAI, "/v1/completions",       serve_model_api},
    {"/v1/embeddings",        false, POST, CLIENT, GR_EP_EMBEDDINGS,  OAI, "/v1/embeddings",        serve_model_api},
    {"/embeddings",           false, POST, CLIENT, GR_EP_EMBEDDINGS,  OAI, "/v1/embeddings",        serve_model_api},
    {"/v1/messages",          false, POST, CLIENT, GR_EP_MESSAGES,    ANT, "/v1/messages",          serve_model_api},
    {"/v1/messages/count_tokens", false, POST, CLIENT, GR_EP_MESSAGES, ANT, "/v1/messages/count_tokens", serve_count_tokens},
    {"/v1/responses",         false, POST, CLIENT, GR_EP_RESPONSES,   OAI, "/v1/responses",         serve_model_api},
    {"/responses",            false, POST, CLIENT, GR_EP_RESPONSES,   OAI, "/v1/responses",         serve_model_api},
    {"/v1/route",             false, POST, CLIENT, GR_EP_ROUTE,       OAI, "/v1/route",             serve_model_api},
    {"/v1/models",            false, GET,  CLIENT, GR_EP_OTHER,       OAI, "/v1/models",            serve_models},
    {"/v1/key",               false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/v1/key",               serve_admin},
    {"/v1/generation",        false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/v1/generation",        serve_admin},
    {"/v1/feedback",          false, POST, OPEN,   GR_EP_OTHER,       OAI, "/v1/feedback",          serve_feedback}, /* authenticates itself: admin key or a client key */
    {"/v1/x402/pricing",      false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/v1/x402/pricing",      serve_x402},
    {"/.well-known/x402",     false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/.well-known/x402",     serve_x402},
    {"/openapi.json",         false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/openapi.json",         serve_openapi},
    {"/v1/x402/credit",       false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/v1/x402/credit",       serve_x402},
    {"/ui",                   false, GET,  OPEN,   GR_EP_OTHER,       OAI, "/ui/*",                 serve_console}, /* the web console (console.c) */
    {"/admin/config",         false, 0,    OPEN,   GR_EP_OTHER,       OAI, "/admin/*",              serve_console_config},
    {"/admin/config/check",   false, POST, OPEN,   GR_EP_OTHER,       OAI, "/admin/*",              serve_console_config},
    {"/admin/config/reload",  false, POST, OPEN,   GR_EP_OTHER,       OAI, "/admin/*",              serve_console_config},
    {"/v1/responses/",        true,  0,    CLIENT, GR_EP_OTHER,       OAI, "/v1/responses/{id}",    serve_responses_state},
    {"/v1/models/",           true,  GET,  CLIENT, GR_EP_OTHER,       OAI, "/v1/models/{id}",       serve_models},
    {"/v1/x402/",             true,  0,    OPEN,   GR_EP_OTHER,       OAI, NULL,                    serve_x402},
    {"/admin/",               true,  0,    OPEN,   GR_EP_OTHER,       OAI, "/admin/*",              serve_admin},
    {"/ui/",                  true,  GET,  OPEN,   GR_EP_OTHER,       OAI, "/ui/*",                 serve_console},
};

#undef GET
#undef POST
#undef OPEN
#undef CLIENT
#undef OAI
#undef ANT

const gr_endpoint_row *gr_endpoints_rows(size_t *n) {
    *n = GR_ARRAY_LEN(k_endpoints);
    return k_endpoints;
}

const gr_endpoint_row *gr_endpoints_find(const char *path) {
    for (size_t i = 0; i < GR_ARRAY_LEN(k_endpoints); i++) {
        const gr_endpoint_row *e = &k_endpoints[i];
        if (e->prefix ? !strncmp(path, e->path, strlen(e->path)) : !strcmp(path, e->path)) return e;
    }
    return NULL;
}

const char *gr_endpoints_allow(const gr_endpoint_row *row) {
    switch (row->methods) {
    case GR_METHOD_GET: return "GET, HEAD";
    case GR_METHOD_POST: return "POST";
    case GR_METHOD_GET | GR_METHOD_POST: return "GET, HEAD, POST";
    default: return "GET, HEAD, POST, PATCH, DELETE";
    }
}

static bool method_allowed(const gr_endpoint_row *row, const char *method) {
    if (!row->methods) return true;
    if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) return row->methods & GR_METHOD_GET;
    if (!strcmp(method, "POST")) return row->methods & GR_METHOD_POST;
    return false;
}

/* ---- dispatch ---- */

/* Content-Encoding of the request body: inflated here, once, so every
 * endpoint reads plain bytes; unknown codings are 415. False = answered. */
static bool decode_body(gr_request *r, gr_client_req *req) {
    gr_body_encoding enc = gr_body_encoding_of(gr_client_req_header(req, "Content-Encoding"));
    if (enc == GR_BODY_IDENTITY) return true;
    if (enc == GR_BODY_UNSUPPORTED) {
        gr_request_fail(r, 415, "invalid_request_error", "unsupported_content_encoding", NULL,
                        "Content-Encoding '%s' is not supported: send gzip, deflate or identity.",
                        gr_client_req_header(req, "Content-Encoding"));
        return false;
    }
    size_t len = 0, out_len = 0;
    const char *body = gr_client_req_body(req, &len);
    if (!len) return true;
    char *out = NULL;
    uint64_t max = r->cfg->server.max_decompressed_body_bytes;
    gr_status rc = gr_body_inflate(body, len, enc, (size_t)max, &out, &out_len);
    if (rc == GR_ERR_TOO_LARGE) {
        gr_request_fail(r, 413, "invalid_request_error", "request_too_large", NULL,
                        "The request body inflates to more than %llu bytes (server.max_decompressed_body_bytes).",
                        (unsigned long long)max);
        return false;
    }
    if (rc != GR_OK) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_content_encoding", NULL,
                        "The request body is not valid %s data.", enc == GR_BODY_GZIP ? "gzip" : "deflate");
        return false;
    }
    gr_client_req_set_body(req, out, out_len);
    return true;
}

void gr_endpoints_dispatch(gr_client_req *req, void *arg) {
    gr_worker *w = arg;
    gr_request *r = gr_request_new(w, req);
    r->method = gr_client_req_method(req);
    const char *uri = gr_client_req_uri(req);
    size_t i = 0;
    for (; uri[i] && uri[i] != '?' && i + 1 < sizeof(r->path); i++) r->path[i] = uri[i];
    bool path_fits = !uri[i] || uri[i] == '?';
    r->path[i] = '\0';
    while (i > 1 && r->path[i - 1] == '/') r->path[--i] = '\0';
    const gr_endpoint_row *row = gr_endpoints_find(r->path);
    if (row) {
        r->route_template = row->metrics_route;
        r->errors = row->errors; /* every error from here on in the endpoint's shape */
        r->ep = row->ep;
    }
    const char *code = NULL, *why = NULL;
    int refused = gr_client_req_error(req, &code, &why);
    if (refused) { /* malformed, or over a limit: answered in the API's error shape, then closed */
        gr_request_fail(r, refused, "invalid_request_error", code, NULL, "%s", why);
        return;
    }
    if (gr_cors_handle(r)) return; /* a preflight from an allowed origin */
    if (!decode_body(r, req)) return;
    if (!path_fits || !row) { /* a cut path must never match a shorter route */
        if (path_fits)
            gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %s)", r->method, r->path);
        else
            gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL,
                            "Invalid URL (%s %s...): no route is this long", r->method, r->path);
        return;
    }
    if (!method_allowed(row, r->method)) {
        gr_request_add_header(r, "Allow", gr_endpoints_allow(row));
        gr_request_fail(r, 405, "invalid_request_error", "method_not_allowed", NULL, "Method %s is not allowed for %s",
                        r->method, r->path);
        return;
    }
    if (row->auth == GR_ENDPOINT_CLIENT && !gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE)) return;
    row->handler(r, row);
}
