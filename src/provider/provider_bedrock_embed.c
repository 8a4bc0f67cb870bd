/* provider_bedrock_embed.c — /v1/embeddings on Bedrock through InvokeModel
 * (POST <base_url>/model/<modelId>/invoke, SigV4-signed): Amazon Titan text
 * embeddings (amazon.titan-embed-*: one input per call, inputText /
 * dimensions / normalize -> embedding, inputTextTokenCount) and Cohere
 * (cohere.embed-*: texts / input_type / truncate -> embeddings; it reports
 * no token count, so usage is left to the gateway's estimate). The answer is OpenAI's list of embeddings, floats or
 * (encoding_format "base64", what the openai SDKs ask for) little-endian
 * float32 in base64. Mapping decisions: docs/PROVIDERS.md. */
#include "provider_bedrock.h"

#include <stdio.h>
#include <stdlib.h>

#define COHERE_MAX_TEXTS 96 /* Cohere on Bedrock: at most 96 texts per call */

typedef enum { FAMILY_NONE, FAMILY_TITAN, FAMILY_COHERE } embed_family;

static embed_family family_of(const char *model) {
    if (!model) return FAMILY_NONE;
    if (strstr(model, "amazon.titan-embed")) return FAMILY_TITAN;
    if (strstr(model, "cohere.embed")) return FAMILY_COHERE;
    return FAMILY_NONE;
}

static const char *model_of(const gr_adapter_ctx *ctx, const cJSON *req) {
    return ctx && ctx->upstream_model ? ctx->upstream_model : gr_provider_get_str(req, "model");
}

/* The input as an array of strings (a borrowed string, or the array itself);
 * NULL when it is not text (token arrays cannot be sent to Bedrock). */
static bool input_texts(const cJSON *input, const cJSON **arr, const char **one) {
    *arr = NULL;
    *one = NULL;
    if (cJSON_IsString(input)) {
        *one = input->valuestring;
        return true;
    }
    if (!cJSON_IsArray(input) || cJSON_GetArraySize(input) == 0) return false;
    const cJSON *it;
    cJSON_ArrayForEach(it, input) if (!cJSON_IsString(it)) return false;
    *arr = input;
    return true;
}

gr_status gr_bedrock_build_embeddings(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                      gr_upstream_error *err) {
    memset(out, 0, sizeof(*out));
    const char *model = model_of(ctx, req);
    embed_family fam = family_of(model);
    if (fam == FAMILY_NONE) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "embeddings on Bedrock are served for Amazon Titan (amazon.titan-embed-*) and Cohere "
                              "(cohere.embed-*) models only, not `%s`", model ? model : "");
        return GR_ERR_INVALID;
    }
    const cJSON *arr;
    const char *one;
    if (!input_texts(gr_provider_get(req, "input"), &arr, &one)) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "'input' must be a string or a non-empty array of strings for Bedrock embeddings");
        return GR_ERR_INVALID;
    }
    cJSON *body = cJSON_CreateObject();
    const cJSON *dims = gr_provider_get(req, "dimensions");
    if (fam == FAMILY_TITAN) {
        if (arr && cJSON_GetArraySize(arr) > 1) {
            cJSON_Delete(body);
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "Amazon Titan embeds one input per request: send one string (or an array of one)");
            return GR_ERR_INVALID;
        }
        cJSON_AddStringToObject(body, "inputText", one ? one : cJSON_GetArrayItem(arr, 0)->valuestring);
        if (cJSON_IsNumber(dims)) cJSON_AddNumberToObject(body, "dimensions", dims->valuedouble);
        cJSON_AddTrueToObject(body, "normalize");
    } else {
        if (arr && cJSON_GetArraySize(arr) > COHERE_MAX_TEXTS) {
            cJSON_Delete(body);
            gr_provider_error_set(err, 400, "invalid_request_error", "Cohere on Bedrock embeds at most %d inputs per request",
                                  COHERE_MAX_TEXTS);
            return GR_ERR_INVALID;
        }
        if (one) cJSON_AddItemToArray(cJSON_AddArrayToObject(body, "texts"), cJSON_CreateString(one));
        else cJSON_AddItemToObject(body, "texts", cJSON_Duplicate(arr, 1));
        const char *it = gr_provider_get_str(req, "input_type"); /* Cohere's own field, passed through */
        cJSON_AddStringToObject(body, "input_type", it ? it : "search_document");
        cJSON_AddStringToObject(body, "truncate", "NONE");
    }
    bool ok = gr_provider_set_body(out, body);
    cJSON_Delete(body);
    if (!ok) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Bedrock request");
        return GR_ERR_NOMEM;
    }
    if (!gr_bedrock_finish_request(ctx, model, "invoke", "application/json", out, err)) {
        gr_http_request_free(out);
        return GR_ERR_INVALID;
    }
    return GR_OK;
}

static bool numbers(const cJSON *vec) {
    if (!cJSON_IsArray(vec) || cJSON_GetArraySize(vec) == 0) return false;
    const cJSON *v;
    cJSON_ArrayForEach(v, vec) if (!cJSON_IsNumber(v)) return false;
    return true;
}

static void add_embedding(cJSON *data, int index, const cJSON *vec, bool b64) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "object", "embedding");
    cJSON_AddNumberToObject(e, "index", index);
    cJSON_AddItemToObject(e, "embedding", b64 ? gr_provider_base64_floats(vec) : cJSON_Duplicate(vec, 1));
    cJSON_AddItemToArray(data, e);
}

gr_status gr_bedrock_parse_embeddings(const gr_adapter_ctx *ctx, const cJSON *req, const char *body, size_t len,
                                      cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    const char *model = model_of(ctx, req);
    embed_family fam = family_of(model);
    cJSON *root = gr_provider_parse_json(body, len);
    const char *enc = gr_provider_get_str(req, "encoding_format");
    bool b64 = enc && !strcmp(enc, "base64");
    cJSON *resp = cJSON_CreateObject();
    cJSON_AddStringToObject(resp, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(resp, "data");
    gr_usage u = {0};
    bool ok = false;
    if (fam == FAMILY_TITAN && numbers(gr_provider_get(root, "embedding"))) {
        add_embedding(data, 0, gr_provider_get(root, "embedding"), b64);
        const cJSON *tc = gr_provider_get(root, "inputTextTokenCount");
        if (cJSON_IsNumber(tc) && tc->valuedouble >= 0 && tc->valuedouble < 1e12) {
            u.prompt_tokens = (int64_t)tc->valuedouble;
            u.present = true;
        }
        ok = true;
    } else if (fam == FAMILY_COHERE && cJSON_IsArray(gr_provider_get(root, "embeddings"))) {
        const cJSON *vec;
        int i = 0;
        ok = true;
        cJSON_ArrayForEach(vec, gr_provider_get(root, "embeddings")) {
            if (!numbers(vec)) ok = false;
            else add_embedding(data, i++, vec, b64);
        }
        ok = ok && i > 0;
    }
    if (!ok) {
        cJSON_Delete(resp);
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Bedrock returned a malformed %s embeddings response",
                                 fam == FAMILY_TITAN ? "Titan" : "Cohere");
        return GR_ERR_PARSE;
    }
    const char *pub = ctx && ctx->public_model ? ctx->public_model : model;
    cJSON_AddStringToObject(resp, "model", pub ? pub : "");
    if (u.present) { /* Cohere's has none: the caller estimates */
        cJSON *uj = cJSON_AddObjectToObject(resp, "usage");
        cJSON_AddNumberToObject(uj, "prompt_tokens", (double)u.prompt_tokens);
        cJSON_AddNumberToObject(uj, "total_tokens", (double)u.prompt_tokens);
    }
    if (usage) *usage = u;
    cJSON_Delete(root);
    *out = resp;
    return GR_OK;
}
