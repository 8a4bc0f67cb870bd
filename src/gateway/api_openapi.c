/* api_openapi.c — the OpenAPI 3.1 document of the public API (api_openapi.h).
 * Every exact row of the endpoint table is a path, with its methods, its
 * authentication (client rows: an API key, or with x402 a payment) and, for
 * the model endpoints, request and reply schemas and the 402. Prefix rows
 * (the admin API, the x402 payment lookups) and the unversioned aliases are left out; the
 * admin API is not public. */
#include "api_openapi.h"

#include "api_schemas.h"
#include "doc_cache.h"
#include "endpoints.h"
#include "services.h"

#include <stdio.h>
#include <stdlib.h>

/* What the non-model endpoints do (a row not named here gets its path). */
static const struct {
    const char *path, *summary;
} k_summaries[] = {
    {"/", "liveness (the base URL answers)"},
    {"/health", "liveness"},
    {"/ready", "readiness: 503 while draining or with the store down"},
    {"/metrics", "Prometheus metrics (server.metrics_token: bearer)"},
    {"/v1/models", "the models this key may use (OpenAI shape)"},
    {"/v1/key", "the calling virtual key's budgets and spend"},
    {"/v1/generation", "one request's ledger row by id"},
    {"/v1/feedback", "rate a generation (routing learns from it)"},
    {"/v1/x402/pricing", "x402: prices per model per 1M tokens, networks, assets, the most a request can be charged"},
    {"/v1/x402/credit", "x402: a payer's credit and recent settlements (?address=)"},
    {"/.well-known/x402", "x402 discovery: the paid resources with their bazaar metadata"},
    {"/openapi.json", "this document"},
};

static const char *summary_of(const gr_endpoint_row *row) {
    if (row->ep != GR_EP_OTHER) return gr_api_summary(row->ep);
    for (size_t i = 0; i < GR_ARRAY_LEN(k_summaries); i++)
        if (!strcmp(k_summaries[i].path, row->path)) return k_summaries[i].summary;
    return row->path;
}

static cJSON *json_content(cJSON *schema) {
    cJSON *c = cJSON_CreateObject();
    cJSON *mt = cJSON_AddObjectToObject(c, "application/json");
    cJSON_AddItemToObject(mt, "schema", schema ? schema : cJSON_CreateObject());
    return c;
}

static cJSON *ref(const char *to) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "$ref", to);
    return o;
}

static cJSON *response(const char *description, cJSON *schema) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "description", description);
    cJSON_AddItemToObject(r, "content", json_content(schema));
    return r;
}

static cJSON *operation(const gr_endpoint_row *row, const char *method, bool x402) {
    cJSON *op = cJSON_CreateObject();
    cJSON_AddStringToObject(op, "summary", summary_of(row));
    char id[160];
    size_t k = 0;
    k += (size_t)snprintf(id, sizeof id, "%s", method);
    for (const char *p = row->path; *p && k + 1 < sizeof id; p++)
        id[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ? *p : '_';
    id[k] = 0;
    cJSON_AddStringToObject(op, "operationId", id);
    if (row->auth == GR_ENDPOINT_CLIENT) {
        cJSON *sec = cJSON_AddArrayToObject(op, "security");
        cJSON *bearer = cJSON_CreateObject();
        cJSON_AddItemToObject(bearer, "bearer", cJSON_CreateArray());
        cJSON_AddItemToArray(sec, bearer);
        if (x402 && row->ep != GR_EP_OTHER && row->ep != GR_EP_ROUTE) {
            cJSON *pay = cJSON_CreateObject();
            cJSON_AddItemToObject(pay, "x402", cJSON_CreateArray());
            cJSON_AddItemToArray(sec, pay);
        }
    }
    cJSON *req = !strcmp(method, "post") ? gr_api_request_schema(row->ep) : NULL;
    if (req) {
        cJSON *rb = cJSON_AddObjectToObject(op, "requestBody");
        cJSON_AddTrueToObject(rb, "required");
        cJSON_AddItemToObject(rb, "content", json_content(req));
    }
    cJSON *res = cJSON_AddObjectToObject(op, "responses");
    cJSON_AddItemToObject(res, "200", response(row->ep != GR_EP_OTHER && row->ep != GR_EP_ROUTE
                                                   ? "the reply (text/event-stream with stream: true)"
                                                   : "OK",
                                               gr_api_reply_schema(row->ep)));
    if (x402 && row->auth == GR_ENDPOINT_CLIENT && row->ep != GR_EP_OTHER && row->ep != GR_EP_ROUTE) {
        cJSON *r402 = response("payment required: the PAYMENT-REQUIRED header (base64 JSON, x402 v2) and an x402 "
                               "v1 body name the price and the accepted payments",
                               ref("#/components/schemas/PaymentRequired"));
        cJSON *h = cJSON_AddObjectToObject(r402, "headers");
        cJSON *pr = cJSON_AddObjectToObject(h, "PAYMENT-REQUIRED");
        cJSON_AddStringToObject(pr, "description", "base64 JSON PaymentRequired (x402 v2)");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(pr, "schema"), "type", "string");
        cJSON_AddItemToObject(res, "402", r402);
    }
    cJSON_AddItemToObject(res, "default", response("an error", ref(row->errors == GR_ERRORS_ANTHROPIC
                                                                       ? "#/components/schemas/AnthropicError"
                                                                       : "#/components/schemas/Error")));
    return op;
}

static cJSON *error_schema(bool anthropic) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *e = cJSON_AddObjectToObject(props, "error");
    cJSON_AddStringToObject(e, "type", "object");
    cJSON *ep = cJSON_AddObjectToObject(e, "properties");
    static const char *const oai[] = {"message", "type", "code", "param"}, *const ant[] = {"type", "message"};
    const char *const *f = anthropic ? ant : oai;
    size_t nf = anthropic ? GR_ARRAY_LEN(ant) : GR_ARRAY_LEN(oai);
    for (size_t i = 0; i < nf; i++) cJSON_AddStringToObject(cJSON_AddObjectToObject(ep, f[i]), "type", "string");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"), cJSON_CreateString("error"));
    if (anthropic) cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "type"), "const", "error");
    return s;
}

cJSON *gr_api_openapi(bool x402) {
    cJSON *doc = cJSON_CreateObject();
    cJSON_AddStringToObject(doc, "openapi", "3.1.0");
    cJSON *info = cJSON_AddObjectToObject(doc, "info");
    cJSON_AddStringToObject(info, "title", "GateRouter");
    cJSON_AddStringToObject(info, "version", GR_VERSION);
    cJSON_AddStringToObject(info, "description",
                            x402 ? "An OpenAI- and Anthropic-compatible LLM gateway. Model endpoints take an API key, "
                                   "or an x402 payment (see /.well-known/x402 and /v1/x402/pricing)."
                                 : "An OpenAI- and Anthropic-compatible LLM gateway.");
    cJSON *srv = cJSON_CreateObject();
    cJSON_AddStringToObject(srv, "url", "/");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "servers"), srv);
    cJSON *paths = cJSON_AddObjectToObject(doc, "paths");
    size_t n = 0;
    const gr_endpoint_row *rows = gr_endpoints_rows(&n);
    for (size_t i = 0; i < n; i++) {
        const gr_endpoint_row *row = &rows[i];
        if (row->prefix || !row->metrics_route || strcmp(row->metrics_route, row->path)) continue; /* aliases */
        if (cJSON_GetObjectItemCaseSensitive(paths, row->path)) continue;
        cJSON *item = cJSON_AddObjectToObject(paths, row->path);
        if (!row->methods || (row->methods & GR_METHOD_GET)) cJSON_AddItemToObject(item, "get", operation(row, "get", x402));
        if (row->methods & GR_METHOD_POST) cJSON_AddItemToObject(item, "post", operation(row, "post", x402));
    }
    cJSON *comp = cJSON_AddObjectToObject(doc, "components");
    cJSON *sec = cJSON_AddObjectToObject(comp, "securitySchemes");
    cJSON *bearer = cJSON_AddObjectToObject(sec, "bearer");
    cJSON_AddStringToObject(bearer, "type", "http");
    cJSON_AddStringToObject(bearer, "scheme", "bearer");
    cJSON_AddStringToObject(bearer, "description", "an API key (Authorization: Bearer, or x-api-key)");
    if (x402) {
        cJSON *pay = cJSON_AddObjectToObject(sec, "x402");
        cJSON_AddStringToObject(pay, "type", "apiKey");
        cJSON_AddStringToObject(pay, "in", "header");
        cJSON_AddStringToObject(pay, "name", "PAYMENT-SIGNATURE");
        cJSON_AddStringToObject(pay, "description", "an x402 payment: PAYMENT-SIGNATURE (v2) or X-PAYMENT (v1)");
    }
    cJSON *schemas = cJSON_AddObjectToObject(comp, "schemas");
    cJSON_AddItemToObject(schemas, "Error", error_schema(false));
    cJSON_AddItemToObject(schemas, "AnthropicError", error_schema(true));
    if (x402) {
        cJSON *pr = cJSON_AddObjectToObject(schemas, "PaymentRequired");
        cJSON_AddStringToObject(pr, "type", "object");
        cJSON *props = cJSON_AddObjectToObject(pr, "properties");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "x402Version"), "type", "integer");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "error"), "type", "string");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(props, "accepts"), "type", "array");
        cJSON *req = cJSON_AddArrayToObject(pr, "required");
        cJSON_AddItemToArray(req, cJSON_CreateString("x402Version"));
        cJSON_AddItemToArray(req, cJSON_CreateString("accepts"));
    }
    return doc;
}

static gr_doc_cache g_openapi_cache = GR_DOC_CACHE_INIT;

void gr_api_openapi_serve(gr_request *r) {
    bool x402 = r->w && r->w->svc && r->w->svc->x402;
    const char *variant = x402 ? "x402" : "";
    char *text = gr_doc_cache_get(&g_openapi_cache, r->cfg->generation, variant);
    if (!text) text = gr_doc_cache_render(&g_openapi_cache, r->cfg->generation, variant, gr_api_openapi(x402));
    gr_request_add_header(r, "Cache-Control", "public, max-age=60");
    gr_request_reply_json(r, 200, text, strlen(text));
    free(text);
}
