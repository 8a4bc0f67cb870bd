/* provider.c — adapter registry and helpers shared by every adapter:
 * upstream request building, HTTP status -> OpenAI error type, mapping of
 * OpenAI-shaped upstream error bodies, and the gr_provider_* JSON helpers the
 * native adapters share (declared in provider_native.h). */
#include "provider.h"
#include "provider_native.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

char *gr_provider_strdup_or_null(const char *s) { return s ? gr_xstrdup(s) : NULL; }

void gr_provider_push_turn(cJSON *turns, const char *role, const char *items_key, cJSON *items) {
    if (cJSON_GetArraySize(items) == 0) {
        cJSON_Delete(items);
        return;
    }
    int n = cJSON_GetArraySize(turns);
    cJSON *last = n ? cJSON_GetArrayItem(turns, n - 1) : NULL;
    const char *lr = gr_provider_get_str(last, "role");
    if (lr && strcmp(lr, role) == 0) {
        cJSON *dst = cJSON_GetObjectItemCaseSensitive(last, items_key);
        cJSON *it;
        while ((it = cJSON_DetachItemFromArray(items, 0)) != NULL) cJSON_AddItemToArray(dst, it);
        cJSON_Delete(items);
        return;
    }
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "role", role);
    cJSON_AddItemToObject(t, items_key, items);
    cJSON_AddItemToArray(turns, t);
}

void gr_provider_ctx_own(gr_adapter_ctx *dst, char *owned[3], const gr_adapter_ctx *ctx) {
    if (ctx) *dst = *ctx;
    owned[0] = gr_provider_strdup_or_null(ctx ? ctx->request_id : NULL);
    owned[1] = gr_provider_strdup_or_null(ctx ? ctx->public_model : NULL);
    owned[2] = gr_provider_strdup_or_null(ctx ? ctx->upstream_model : NULL);
    dst->request_id = owned[0];
    dst->public_model = owned[1];
    dst->upstream_model = owned[2];
}

void gr_provider_ctx_release(char *owned[3]) {
    for (int i = 0; i < 3; i++) {
        free(owned[i]);
        owned[i] = NULL;
    }
}

const gr_provider_ops *gr_provider_ops_for(gr_provider_kind kind) {
    switch (kind) {
    case GR_PROVIDER_OPENAI:
    case GR_PROVIDER_AZURE:
    case GR_PROVIDER_MOCK:
        return NULL; /* OpenAI wire format: fast path */
    case GR_PROVIDER_ANTHROPIC:
        return &gr_anthropic_ops;
    case GR_PROVIDER_GEMINI:
        return &gr_gemini_ops;
    case GR_PROVIDER_BEDROCK:
        return &gr_bedrock_ops;
    case GR_PROVIDER_VERTEX:
        return &gr_vertex_ops;
    }
    return NULL;
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
    const cJSON *code = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "code") : NULL;
    if (cJSON_IsString(code) && code->valuestring[0]) {
        snprintf(err->code_buf, sizeof(err->code_buf), "%s", code->valuestring);
        err->code = err->code_buf;
    }
    if (cJSON_IsString(msg) && msg->valuestring[0])
        snprintf(err->message, sizeof(err->message), "%s", msg->valuestring);
    else if (!root && body && len) /* non-JSON body: keep a readable prefix */
        snprintf(err->message, sizeof(err->message), "upstream returned HTTP %d: %.*s", status,
                 (int)(len > 200 ? 200 : len), body);
    cJSON_Delete(root);
}

/* ---- shared helpers for native adapters (provider_native.h) ---- */

void gr_provider_error_set(gr_upstream_error *err, int status, const char *type,
                           const char *fmt, ...) {
    if (!err) return;
    err->status = status;
    err->type = type ? type : gr_error_type_for_status(status);
    err->code = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

void gr_provider_bad_upstream(gr_upstream_error *err, const char *fmt, ...) {
    if (!err) return;
    err->status = 502;
    err->type = "api_error";
    err->code = NULL;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
}

int gr_provider_upstream_status(int status) {
    if (status == 529) return 503; /* Anthropic "overloaded" */
    if (status == 503 || status == 504) return status;
    if (status >= 500 || status < 400) return 502; /* not an error status (1xx-3xx, garbage): 502 */
    return status;
}

const cJSON *gr_provider_get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

const char *gr_provider_get_str(const cJSON *obj, const char *key) {
    const cJSON *v = gr_provider_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int gr_provider_emit_json(gr_chunk_emit_fn emit, void *ud, const cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) return -1;
    int rc = emit ? emit(ud, s, strlen(s)) : 0;
    cJSON_free(s);
    return rc;
}

gr_status gr_provider_emit_chunk(cJSON *c, gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err) {
    int rc = gr_provider_emit_json(emit, ud, c);
    cJSON_Delete(c);
    if (rc != 0) {
        gr_provider_error_set(err, 499, "api_error", "client stream closed");
        return GR_ERR_IO;
    }
    return GR_OK;
}

gr_status gr_provider_stream_end(const gr_adapter_ctx *ctx, const gr_usage *stream_usage, bool failed, bool finished,
                                 const char *failed_msg, const char *incomplete_msg, const char *id,
                                 const char *model, gr_chunk_emit_fn emit, void *ud, gr_usage *usage,
                                 gr_upstream_error *err) {
    if (usage) *usage = *stream_usage;
    if (failed) {
        gr_provider_bad_upstream(err, "%s", failed_msg);
        return GR_ERR_INVALID;
    }
    if (!finished) {
        gr_provider_bad_upstream(err, "%s", incomplete_msg);
        return GR_ERR_PARSE;
    }
    if (!ctx->include_usage) return GR_OK;
    return gr_provider_emit_chunk(gr_provider_usage_chunk(ctx, id, model, stream_usage), emit, ud, err);
}

char *gr_provider_content_text(const cJSON *content) {
    if (cJSON_IsString(content)) return gr_xstrdup(content->valuestring);
    if (!cJSON_IsArray(content)) return NULL;
    size_t total = 0;
    bool any = false;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *t = gr_provider_get_str(part, "text");
        const char *ty = gr_provider_get_str(part, "type");
        if (t && (!ty || strcmp(ty, "text") == 0)) {
            total += strlen(t);
            any = true;
        }
    }
    if (!any) return NULL;
    char *out = gr_xmalloc(total + 1);
    size_t off = 0;
    cJSON_ArrayForEach(part, content) {
        const char *t = gr_provider_get_str(part, "text");
        const char *ty = gr_provider_get_str(part, "type");
        if (t && (!ty || strcmp(ty, "text") == 0)) {
            size_t n = strlen(t);
            memcpy(out + off, t, n);
            off += n;
        }
    }
    out[off] = '\0';
    return out;
}

bool gr_provider_parse_data_url(const char *url, char **mime, const char **data) {
    if (!url || strncmp(url, "data:", 5) != 0) return false;
    const char *m = url + 5;
    const char *comma = strchr(m, ',');
    if (!comma) return false;
    const char *b64 = strstr(m, ";base64");
    if (!b64 || b64 > comma) return false; /* only base64 payloads are useful upstream */
    const char *semi = strchr(m, ';');
    size_t mlen = (size_t)(semi - m);
    *mime = mlen ? gr_xstrndup(m, mlen) : gr_xstrdup("application/octet-stream");
    *data = comma + 1;
    return true;
}

cJSON *gr_provider_parse_json(const char *s, size_t len) {
    if (!s || !len) return NULL;
    return cJSON_ParseWithLength(s, len);
}

cJSON *gr_provider_text_block(const char *text) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "text");
    cJSON_AddStringToObject(b, "text", text);
    return b;
}

cJSON *gr_anthropic_thinking_block(const char *thinking, const char *signature) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "thinking");
    cJSON_AddStringToObject(b, "thinking", thinking);
    cJSON_AddStringToObject(b, "signature", signature);
    return b;
}

cJSON *gr_provider_base64_floats(const cJSON *numbers) {
    int n = cJSON_GetArraySize(numbers);
    unsigned char *raw = gr_xmalloc((size_t)n * 4 + 1);
    size_t o = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, numbers) {
        float f = (float)v->valuedouble;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        for (int b = 0; b < 4; b++) raw[o++] = (unsigned char)(bits >> (8 * b));
    }
    char *txt = gr_xmalloc(4 * ((o + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)txt, raw, (int)o);
    cJSON *s = cJSON_CreateString(txt);
    free(raw);
    free(txt);
    return s;
}

/* The head every canonical reply object starts with: id, object, created, model. */
static cJSON *reply_head(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                         const char *object) {
    cJSON *o = cJSON_CreateObject();
    const char *id = ctx && ctx->request_id ? ctx->request_id : fallback_id;
    const char *model = ctx && ctx->public_model ? ctx->public_model
                        : ctx && ctx->upstream_model ? ctx->upstream_model
                                                     : fallback_model;
    cJSON_AddStringToObject(o, "id", id ? id : "chatcmpl-gaterouter");
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", ctx ? (double)ctx->created : 0);
    cJSON_AddStringToObject(o, "model", model ? model : "");
    return o;
}

cJSON *gr_provider_chunk_new(const gr_adapter_ctx *ctx, const char *fallback_id,
                             const char *fallback_model, int index, cJSON **delta) {
    cJSON *c = reply_head(ctx, fallback_id, fallback_model, "chat.completion.chunk");
    cJSON *choices = cJSON_AddArrayToObject(c, "choices");
    if (delta) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", index);
        *delta = cJSON_AddObjectToObject(ch, "delta");
        cJSON_AddNullToObject(ch, "finish_reason");
        cJSON_AddItemToArray(choices, ch);
    }
    return c;
}

cJSON *gr_provider_usage_chunk(const gr_adapter_ctx *ctx, const char *fallback_id,
                               const char *fallback_model, const gr_usage *u) {
    cJSON *c = gr_provider_chunk_new(ctx, fallback_id, fallback_model, 0, NULL);
    cJSON_AddItemToObject(c, "usage", gr_provider_usage_json(u));
    return c;
}

cJSON *gr_provider_usage_json(const gr_usage *u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    cJSON *pd = cJSON_AddObjectToObject(o, "prompt_tokens_details");
    cJSON_AddNumberToObject(pd, "cached_tokens", (double)u->cached_tokens);
    if (u->cache_write_tokens) /* OpenRouter's name for Anthropic's cache_creation_input_tokens */
        cJSON_AddNumberToObject(pd, "cache_write_tokens", (double)u->cache_write_tokens);
    cJSON *cd = cJSON_AddObjectToObject(o, "completion_tokens_details");
    cJSON_AddNumberToObject(cd, "reasoning_tokens", (double)u->reasoning_tokens);
    return o;
}

static int64_t num_or0(const cJSON *obj, const char *key) {
    const cJSON *v = gr_provider_get(obj, key);
    /* capped: a cast of an out-of-range double (1e300) is undefined behaviour */
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (v->valuedouble < 1e15 ? (int64_t)v->valuedouble : INT64_C(1000000000000000)) : 0;
}

void gr_provider_usage_from_json(const cJSON *usage, gr_usage *u) {
    if (!cJSON_IsObject(usage)) return;
    u->prompt_tokens = num_or0(usage, "prompt_tokens");
    u->completion_tokens = num_or0(usage, "completion_tokens");
    u->cached_tokens = num_or0(gr_provider_get(usage, "prompt_tokens_details"), "cached_tokens");
    u->cache_write_tokens = num_or0(gr_provider_get(usage, "prompt_tokens_details"), "cache_write_tokens");
    u->reasoning_tokens =
        num_or0(gr_provider_get(usage, "completion_tokens_details"), "reasoning_tokens");
    u->present = true;
}

char *gr_provider_url(const char *base_url, const char *suffix) {
    const char *b = base_url ? base_url : "";
    size_t bl = strlen(b);
    while (bl && b[bl - 1] == '/') bl--;
    size_t sl = strlen(suffix);
    char *u = gr_xmalloc(bl + sl + 1);
    memcpy(u, b, bl);
    memcpy(u + bl, suffix, sl + 1);
    return u;
}

void gr_provider_add_conf_headers(const gr_provider_conf *p, gr_http_request *out) {
    if (!p) return;
    for (size_t i = 0; i < p->nheaders; i++)
        if (p->headers[i].name && p->headers[i].value)
            gr_http_request_add_header(out, "%s: %s", p->headers[i].name, p->headers[i].value);
}

bool gr_provider_set_body(gr_http_request *out, const cJSON *body) {
    char *s = cJSON_PrintUnformatted(body);
    if (!s) return false;
    out->body_len = strlen(s);
    out->body = gr_xstrndup(s, out->body_len); /* body is freed with free() */
    cJSON_free(s);
    return true;
}

int64_t gr_provider_reasoning_budget(const cJSON *req, const gr_reasoning_level *levels, int64_t min_budget) {
    const cJSON *reasoning = gr_provider_get(req, "reasoning");
    const cJSON *mt = gr_provider_get(reasoning, "max_tokens");
    if (cJSON_IsFalse(gr_provider_get(reasoning, "enabled"))) return 0;
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 1)
        return mt->valuedouble < (double)min_budget ? min_budget : mt->valuedouble > 1e9 ? 1000000000 : (int64_t)mt->valuedouble;
    const char *effort = gr_provider_get_str(reasoning, "effort");
    if (!effort) effort = gr_provider_get_str(req, "reasoning_effort");
    if (!effort && !cJSON_IsObject(reasoning)) return 0;
    if (!effort) effort = "medium"; /* `reasoning: {}` turns it on */
    for (size_t i = 0; levels[i].effort; i++)
        if (!strcmp(effort, levels[i].effort)) return levels[i].budget;
    return -1;
}

char *gr_provider_json_mode_instruction(const cJSON *req) {
    const cJSON *rf = gr_provider_get(req, "response_format");
    const char *rft = gr_provider_get_str(rf, "type");
    if (!rft) return NULL;
    static const char base[] = "Respond only with a single valid JSON object, no other text";
    if (strcmp(rft, "json_object") == 0) return gr_xstrdup("Respond only with a single valid JSON object, no other text.");
    if (strcmp(rft, "json_schema") != 0) return NULL;
    const cJSON *schema = gr_provider_get(gr_provider_get(rf, "json_schema"), "schema");
    char *ss = schema ? cJSON_PrintUnformatted(schema) : NULL;
    static const char mid[] = ", that conforms to this JSON Schema: ";
    const char *sch = ss ? ss : "{}";
    size_t n = sizeof(base) - 1 + sizeof(mid) - 1 + strlen(sch);
    char *out = gr_xmalloc(n + 1);
    snprintf(out, n + 1, "%s%s%s", base, mid, sch);
    if (ss) cJSON_free(ss);
    return out;
}

cJSON *gr_provider_tool_call(int index, const char *id, const char *name, const char *arguments) {
    cJSON *tc = cJSON_CreateObject();
    if (index >= 0) cJSON_AddNumberToObject(tc, "index", index);
    if (id) cJSON_AddStringToObject(tc, "id", id);
    if (id || name) cJSON_AddStringToObject(tc, "type", "function");
    cJSON *fn = cJSON_AddObjectToObject(tc, "function");
    if (name) cJSON_AddStringToObject(fn, "name", name);
    cJSON_AddStringToObject(fn, "arguments", arguments ? arguments : "");
    return tc;
}

cJSON *gr_provider_tool_input(const char *arguments) {
    cJSON *input = arguments ? cJSON_Parse(arguments) : NULL;
    if (cJSON_IsObject(input)) return input;
    cJSON_Delete(input);
    return cJSON_CreateObject();
}

cJSON *gr_provider_tool_chunk(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                              cJSON *tool_call) {
    cJSON *delta;
    cJSON *c = gr_provider_chunk_new(ctx, fallback_id, fallback_model, 0, &delta);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tool_call);
    return c;
}

cJSON *gr_provider_finish_chunk(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                                const char *finish_reason) {
    cJSON *delta;
    cJSON *c = gr_provider_chunk_new(ctx, fallback_id, fallback_model, 0, &delta);
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c, "choices"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(ch, "finish_reason", cJSON_CreateString(finish_reason));
    return c;
}

cJSON *gr_provider_completion(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                              const char *text, const char *reasoning, cJSON *tool_calls, const char *finish_reason,
                              const gr_usage *u) {
    cJSON *resp = reply_head(ctx, fallback_id, fallback_model, "chat.completion");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(resp, "choices"), ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *msg = cJSON_AddObjectToObject(ch, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (text) cJSON_AddStringToObject(msg, "content", text);
    else cJSON_AddNullToObject(msg, "content");
    if (reasoning && !(ctx && ctx->exclude_reasoning)) cJSON_AddStringToObject(msg, "reasoning_content", reasoning);
    if (cJSON_GetArraySize(tool_calls) > 0) cJSON_AddItemToObject(msg, "tool_calls", tool_calls);
    else cJSON_Delete(tool_calls);
    cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", finish_reason);
    cJSON_AddItemToObject(resp, "usage", gr_provider_usage_json(u));
    return resp;
}

void gr_provider_block_map_grow(int **map, int *n, int bi) {
    if (bi < *n) return;
    *map = gr_xrealloc(*map, (size_t)(bi + 1) * sizeof(int));
    for (int i = *n; i <= bi; i++) (*map)[i] = -1;
    *n = bi + 1;
}
