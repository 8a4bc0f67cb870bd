/* provider_vertex_embed.c — OpenAI /v1/embeddings on Vertex AI's text
 * embedding models (text-embedding-005, text-multilingual-embedding-002,
 * gemini-embedding-001, …): POST
 *   <base>/v1/projects/<p>/locations/<l>/publishers/google/models/<m>:predict
 *   {"instances":[{"content":"<text>"}, …], "parameters":{"outputDimensionality":N}}
 * answered by
 *   {"predictions":[{"embeddings":{"values":[…],"statistics":{"token_count":n,"truncated":false}}}, …]}
 * gemini-embedding-001 takes one input per request, the others at most 250
 * (more is a 400 from the gateway, before any call). The reply becomes the
 * OpenAI list the Gemini adapter builds (floats, or base64 when asked), with
 * usage the sum of the token counts. Auth as for chat: the bearer token. */
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERTEX_EMBED_INSTANCES_MAX 250 /* Vertex's limit per :predict call */

/* gemini-embedding-001 on Vertex embeds one text per request. */
static int max_instances(const char *model) { return strstr(model, "gemini-embedding") ? 1 : VERTEX_EMBED_INSTANCES_MAX; }

gr_status gr_vertex_build_embeddings_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                             gr_upstream_error *err) {
    memset(out, 0, sizeof(*out));
    if (gr_vertex_check_ctx(ctx, err) != GR_OK) return GR_ERR_INVALID;
    const gr_provider_conf *pc = ctx->provider;
    const char *model = ctx->upstream_model ? ctx->upstream_model : "";
    const cJSON *input = gr_provider_get(req, "input");
    const cJSON *dims = gr_provider_get(req, "dimensions");
    char who[160];
    snprintf(who, sizeof who, "Vertex AI model %s", model);
    bool batch;
    int n;
    if (gr_google_embed_input(req, who, max_instances(model), &batch, &n, err) != GR_OK) return GR_ERR_INVALID;
    const cJSON *it;
    cJSON *body = cJSON_CreateObject();
    cJSON *instances = cJSON_AddArrayToObject(body, "instances");
    for (it = batch ? input->child : input; it; it = batch ? it->next : NULL) {
        cJSON *inst = cJSON_CreateObject();
        cJSON_AddStringToObject(inst, "content", it->valuestring);
        cJSON_AddItemToArray(instances, inst);
    }
    if (cJSON_IsNumber(dims))
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(body, "parameters"), "outputDimensionality", dims->valuedouble);
    bool ok = gr_provider_set_body(out, body);
    cJSON_Delete(body);
    if (!ok) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Vertex AI request");
        return GR_ERR_NOMEM;
    }
    char *base = gr_vertex_publisher_base(pc, "google");
    size_t ulen = strlen(base) + strlen(model) + 32;
    out->url = gr_xmalloc(ulen);
    snprintf(out->url, ulen, "%s/models/%s:predict", base, model);
    free(base);
    gr_http_request_add_header(out, "content-type: application/json");
    gr_http_request_add_header(out, "authorization: Bearer %s", ctx->bearer_token);
    return GR_OK;
}

gr_status gr_vertex_parse_embeddings_response(const gr_adapter_ctx *ctx, const cJSON *canonical, const char *body,
                                              size_t len, cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    cJSON *root = gr_provider_parse_json(body, len);
    const cJSON *preds = gr_provider_get(root, "predictions");
    if (!cJSON_IsArray(preds) || cJSON_GetArraySize(preds) < 1) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Vertex AI returned a malformed embeddings response");
        return GR_ERR_PARSE;
    }
    /* as Gemini's batchEmbedContents reply: {"embeddings":[{"values":…}],"usageMetadata":{"promptTokenCount":n}} */
    cJSON *gem = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(gem, "embeddings");
    double tokens = 0;
    bool counted = false;
    const cJSON *p;
    cJSON_ArrayForEach(p, preds) {
        const cJSON *e = gr_provider_get(p, "embeddings");
        cJSON *item = cJSON_CreateObject();
        const cJSON *values = gr_provider_get(e, "values");
        if (values) cJSON_AddItemToObject(item, "values", cJSON_Duplicate(values, 1));
        cJSON_AddItemToArray(list, item);
        const cJSON *tc = gr_provider_get(gr_provider_get(e, "statistics"), "token_count");
        if (cJSON_IsNumber(tc) && tc->valuedouble >= 0 && tc->valuedouble < 1e12) tokens += tc->valuedouble, counted = true;
    }
    if (counted) cJSON_AddNumberToObject(cJSON_AddObjectToObject(gem, "usageMetadata"), "promptTokenCount", tokens);
    cJSON_Delete(root);
    char *txt = cJSON_PrintUnformatted(gem);
    cJSON_Delete(gem);
    if (!txt) abort();
    gr_status rc = gr_gemini_parse_embeddings_response(ctx, canonical, txt, strlen(txt), out, usage, err);
    cJSON_free(txt);
    if (rc != GR_OK) gr_provider_bad_upstream(err, "Vertex AI returned an embedding without numeric values");
    return rc;
}
