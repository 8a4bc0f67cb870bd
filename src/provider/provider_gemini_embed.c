/* provider_gemini_embed.c — OpenAI /v1/embeddings on Gemini: one text ->
 * models/<m>:embedContent, a list of texts -> models/<m>:batchEmbedContents;
 * the vectors come back as an OpenAI embedding list (floats, or base64 of
 * little-endian float32 when the client asked encoding_format: base64, as the
 * official SDKs do by default). Gemini's embed responses carry no token
 * counts (usageMetadata.promptTokenCount is read when present), so usage is
 * usually the gateway's estimate (proxy.c). */
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gemini's batchEmbedContents takes at most 100 requests. */
#define GEMINI_EMBED_BATCH_MAX 100

static cJSON *embed_request(const char *model, const char *text, const cJSON *dims) {
    cJSON *r = cJSON_CreateObject();
    char *m = gr_xmalloc(strlen(model) + sizeof "models/");
    sprintf(m, "models/%s", model);
    cJSON_AddStringToObject(r, "model", m);
    free(m);
    cJSON *parts = cJSON_AddArrayToObject(cJSON_AddObjectToObject(r, "content"), "parts");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddItemToArray(parts, p);
    if (cJSON_IsNumber(dims)) cJSON_AddNumberToObject(r, "outputDimensionality", dims->valuedouble);
    return r;
}

gr_status gr_google_embed_input(const cJSON *req, const char *who, int max_inputs, bool *batch, int *n,
                                gr_upstream_error *err) {
    const cJSON *input = gr_provider_get(req, "input");
    const cJSON *dims = gr_provider_get(req, "dimensions");
    if (dims && !(cJSON_IsNumber(dims) && dims->valuedouble >= 1 && dims->valuedouble <= 100000)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "'dimensions' must be a positive integer");
        return GR_ERR_INVALID;
    }
    *batch = cJSON_IsArray(input);
    *n = *batch ? cJSON_GetArraySize(input) : 1;
    bool texts = *batch ? *n >= 1 : cJSON_IsString(input);
    const cJSON *it;
    if (*batch) cJSON_ArrayForEach(it, input) texts = texts && cJSON_IsString(it);
    if (!texts) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "%s embeddings take text: 'input' must be a string or a non-empty list of strings", who);
        return GR_ERR_INVALID;
    }
    if (*n > max_inputs) {
        gr_provider_error_set(err, 400, "invalid_request_error", "%s embeds at most %d input%s per request", who,
                              max_inputs, max_inputs == 1 ? "" : "s");
        return GR_ERR_INVALID;
    }
    return GR_OK;
}

gr_status gr_gemini_build_embeddings_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                             gr_upstream_error *err) {
    memset(out, 0, sizeof(*out));
    const cJSON *input = gr_provider_get(req, "input");
    const cJSON *dims = gr_provider_get(req, "dimensions");
    const char *model = ctx && ctx->upstream_model ? ctx->upstream_model : gr_provider_get_str(req, "model");
    if (!model) model = "";
    if (!strncmp(model, "models/", 7)) model += 7;
    bool batch;
    int n;
    gr_status vrc = gr_google_embed_input(req, "Gemini", GEMINI_EMBED_BATCH_MAX, &batch, &n, err);
    if (vrc != GR_OK) return vrc;
    const cJSON *it;
    cJSON *body;
    if (batch) {
        body = cJSON_CreateObject();
        cJSON *reqs = cJSON_AddArrayToObject(body, "requests");
        cJSON_ArrayForEach(it, input) cJSON_AddItemToArray(reqs, embed_request(model, it->valuestring, dims));
    } else {
        body = embed_request(model, input->valuestring, dims);
    }
    bool ok = gr_provider_set_body(out, body);
    cJSON_Delete(body);
    if (!ok) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Gemini request");
        return GR_ERR_NOMEM;
    }
    const gr_provider_conf *pc = ctx ? ctx->provider : NULL;
    const char *suffix = batch ? ":batchEmbedContents" : ":embedContent";
    size_t plen = strlen("/models/") + strlen(model) + strlen(suffix) + 1;
    char *path = gr_xmalloc(plen);
    snprintf(path, plen, "/models/%s%s", model, suffix);
    out->url = gr_provider_url(pc && pc->base_url ? pc->base_url : "https://generativelanguage.googleapis.com/v1beta", path);
    free(path);
    gr_http_request_add_header(out, "content-type: application/json");
    if (pc && pc->api_key) gr_http_request_add_header(out, "x-goog-api-key: %s", pc->api_key);
    gr_provider_add_conf_headers(pc, out);
    return GR_OK;
}

static bool numbers(const cJSON *values) {
    if (!cJSON_IsArray(values)) return false;
    const cJSON *v;
    cJSON_ArrayForEach(v, values) if (!cJSON_IsNumber(v)) return false;
    return true;
}

gr_status gr_gemini_parse_embeddings_response(const gr_adapter_ctx *ctx, const cJSON *canonical, const char *body, size_t len, cJSON **out,
                                              gr_usage *usage, gr_upstream_error *err) {
    (void)canonical; /* the reply carries all it needs; base64 is in ctx */
    *out = NULL;
    cJSON *root = gr_provider_parse_json(body, len);
    const cJSON *one = gr_provider_get(root, "embedding");
    const cJSON *many = gr_provider_get(root, "embeddings");
    if (!cJSON_IsObject(root) || (!cJSON_IsObject(one) && !cJSON_IsArray(many))) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Gemini returned a malformed embeddings response");
        return GR_ERR_PARSE;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(o, "data");
    int i = 0;
    const cJSON *e = one;
    const cJSON *next = cJSON_IsArray(many) ? many->child : NULL;
    if (!one) e = next;
    for (; e; e = one ? NULL : e->next) {
        const cJSON *values = gr_provider_get(e, "values");
        if (!numbers(values)) {
            cJSON_Delete(o);
            cJSON_Delete(root);
            gr_provider_bad_upstream(err, "Gemini returned an embedding without numeric values");
            return GR_ERR_PARSE;
        }
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "object", "embedding");
        cJSON_AddNumberToObject(d, "index", i++);
        cJSON_AddItemToObject(d, "embedding", ctx && ctx->embeddings_base64 ? gr_provider_base64_floats(values) : cJSON_Duplicate(values, 1));
        cJSON_AddItemToArray(data, d);
    }
    const char *model = ctx && ctx->public_model ? ctx->public_model : ctx && ctx->upstream_model ? ctx->upstream_model : "";
    cJSON_AddStringToObject(o, "model", model);
    memset(usage, 0, sizeof *usage);
    const cJSON *pt = gr_provider_get(gr_provider_get(root, "usageMetadata"), "promptTokenCount");
    if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e15) {
        usage->prompt_tokens = (int64_t)pt->valuedouble;
        usage->present = true;
    }
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)usage->prompt_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)usage->prompt_tokens);
    cJSON_Delete(root);
    *out = o;
    return GR_OK;
}
