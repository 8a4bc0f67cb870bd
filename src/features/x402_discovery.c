/* x402_discovery.c — the bazaar extension and /.well-known/x402
 * (x402_discovery.h). The endpoints' bodies come from api_schemas.h. */
#include "x402_discovery.h"

#include "api_schemas.h"

#include <stdio.h>
#include <stdlib.h>

static const gr_x402_paid_endpoint k_paid[] = {
    {"/v1/chat/completions", GR_EP_CHAT},
    {"/v1/completions", GR_EP_COMPLETIONS},
    {"/v1/embeddings", GR_EP_EMBEDDINGS},
    {"/v1/messages", GR_EP_MESSAGES},
    {"/v1/responses", GR_EP_RESPONSES},
};

const gr_x402_paid_endpoint *gr_x402_paid_endpoints(size_t *n) {
    *n = GR_ARRAY_LEN(k_paid);
    return k_paid;
}

static cJSON *string_const(const char *v) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "string");
    cJSON_AddStringToObject(o, "const", v);
    return o;
}

/* The JSON Schema of the bazaar info for a POST JSON endpoint: input.body
 * must match the endpoint's request schema; output.schema (in the info) is
 * the reply's schema. */
static cJSON *bazaar_schema(gr_endpoint ep) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *props = cJSON_AddObjectToObject(s, "properties");
    cJSON *in = cJSON_AddObjectToObject(props, "input");
    cJSON_AddStringToObject(in, "type", "object");
    cJSON *ip = cJSON_AddObjectToObject(in, "properties");
    cJSON_AddItemToObject(ip, "type", string_const("http"));
    cJSON_AddItemToObject(ip, "method", string_const("POST"));
    cJSON_AddItemToObject(ip, "bodyType", string_const("json"));
    cJSON_AddItemToObject(ip, "body", gr_api_request_schema(ep));
    cJSON *hdr = cJSON_AddObjectToObject(ip, "headers");
    cJSON_AddStringToObject(hdr, "type", "object");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(hdr, "additionalProperties"), "type", "string");
    cJSON *ir = cJSON_AddArrayToObject(in, "required");
    static const char *const req[] = {"type", "method", "bodyType", "body"};
    for (size_t i = 0; i < GR_ARRAY_LEN(req); i++) cJSON_AddItemToArray(ir, cJSON_CreateString(req[i]));
    cJSON_AddFalseToObject(in, "additionalProperties");
    cJSON *out = cJSON_AddObjectToObject(props, "output");
    cJSON_AddStringToObject(out, "type", "object");
    cJSON *op = cJSON_AddObjectToObject(out, "properties");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(op, "type"), "type", "string");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(op, "format"), "type", "string");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(op, "schema"), "type", "object"); /* the reply's JSON Schema */
    cJSON_AddItemToArray(cJSON_AddArrayToObject(out, "required"), cJSON_CreateString("type"));
    cJSON_AddItemToArray(cJSON_AddArrayToObject(s, "required"), cJSON_CreateString("input"));
    return s;
}

static cJSON *bazaar_info(gr_endpoint ep, const char *model, int64_t max_tokens) {
    cJSON *info = cJSON_CreateObject();
    cJSON *in = cJSON_AddObjectToObject(info, "input");
    cJSON_AddStringToObject(in, "type", "http");
    cJSON_AddStringToObject(in, "method", "POST");
    cJSON_AddStringToObject(in, "bodyType", "json");
    cJSON_AddItemToObject(in, "body", gr_api_request_example(ep, model, ep == GR_EP_EMBEDDINGS ? 0 : max_tokens));
    cJSON *out = cJSON_AddObjectToObject(info, "output");
    cJSON_AddStringToObject(out, "type", "json");
    cJSON_AddStringToObject(out, "format", ep == GR_EP_MESSAGES ? "anthropic.message"
                                           : ep == GR_EP_RESPONSES ? "openai.response"
                                           : ep == GR_EP_EMBEDDINGS ? "openai.embeddings"
                                           : ep == GR_EP_COMPLETIONS ? "openai.text_completion"
                                                                     : "openai.chat.completion");
    cJSON_AddItemToObject(out, "schema", gr_api_reply_schema(ep));
    return info;
}

bool gr_x402_bazaar_add(cJSON *extensions, gr_endpoint ep, const char *model, int64_t max_tokens) {
    if (!extensions || ep == GR_EP_OTHER || ep == GR_EP_ROUTE) return false;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddItemToObject(b, "info", bazaar_info(ep, model, max_tokens));
    cJSON_AddItemToObject(b, "schema", bazaar_schema(ep));
    cJSON_DeleteItemFromObjectCaseSensitive(extensions, "bazaar");
    cJSON_AddItemToObject(extensions, "bazaar", b);
    return true;
}

cJSON *gr_x402_well_known(cJSON *offer, const char *base, const char *example_model, int64_t max_tokens) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddNumberToObject(o, "x402Version", 2);
    cJSON *urls = cJSON_AddArrayToObject(o, "resources");
    cJSON *items = cJSON_AddArrayToObject(o, "items");
    for (size_t i = 0; i < GR_ARRAY_LEN(k_paid); i++) {
        size_t n = strlen(base) + strlen(k_paid[i].path) + 1;
        char *url = gr_xmalloc(n);
        snprintf(url, n, "%s%s", base, k_paid[i].path);
        cJSON_AddItemToArray(urls, cJSON_CreateString(url));
        cJSON *it = cJSON_CreateObject();
        cJSON_AddItemToArray(items, it);
        cJSON_AddStringToObject(it, "resource", url);
        cJSON_AddStringToObject(it, "type", "http");
        cJSON_AddStringToObject(it, "method", "POST");
        cJSON_AddStringToObject(it, "mimeType", "application/json");
        cJSON_AddStringToObject(it, "description", gr_api_summary(k_paid[i].ep));
        if (!gr_x402_bazaar_add(cJSON_AddObjectToObject(it, "extensions"), k_paid[i].ep, example_model, max_tokens))
            cJSON_DeleteItemFromObjectCaseSensitive(it, "extensions");
        free(url);
    }
    cJSON_AddStringToObject(o, "instructions",
                            "POST a model request to a resource without credentials: the 402 names the price and "
                            "the accepted payments (PAYMENT-REQUIRED header, x402 v1 body). Prices per model: "
                            "GET /v1/x402/pricing. The whole API: GET /openapi.json.");
    size_t n = strlen(base) + 32;
    char *u = gr_xmalloc(n);
    snprintf(u, n, "%s/v1/x402/pricing", base);
    cJSON_AddStringToObject(o, "pricing", u);
    snprintf(u, n, "%s/openapi.json", base);
    cJSON_AddStringToObject(o, "openapi", u);
    free(u);
    cJSON_AddItemToObject(o, "offer", offer);
    return o;
}
