/* provider_anthropic.c — Anthropic Messages adapter: canonical (OpenAI chat)
 * request -> POST <base_url>/messages, Messages response / SSE events ->
 * canonical chat.completion / chat.completion.chunk, Anthropic error bodies ->
 * client errors. Mapping decisions are documented in docs/PROVIDERS.md. */
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- small helpers ---- */

static void sb_append(char **buf, size_t *len, const char *s, const char *sep) {
    size_t sl = strlen(s), pl = (*len && sep) ? strlen(sep) : 0;
    *buf = gr_xrealloc(*buf, *len + pl + sl + 1);
    if (pl) memcpy(*buf + *len, sep, pl);
    memcpy(*buf + *len + pl, s, sl + 1);
    *len += pl + sl;
}

/* Anthropic error type <-> status. Codes are static strings (err->code). */
static const struct {
    const char *type;
    int status;
} anth_errors[] = {
    {"invalid_request_error", 400}, {"authentication_error", 401}, {"billing_error", 402},
    {"permission_error", 403},      {"not_found_error", 404},      {"request_too_large", 413},
    {"rate_limit_error", 429},      {"api_error", 500},            {"timeout_error", 504},
    {"overloaded_error", 529},
};

static const char *anth_error_code(const char *type, int *status) {
    for (size_t i = 0; type && i < GR_ARRAY_LEN(anth_errors); i++)
        if (strcmp(type, anth_errors[i].type) == 0) {
            if (status) *status = anth_errors[i].status;
            return anth_errors[i].type;
        }
    return NULL;
}

/* Fill err from a parsed {"type":"error","error":{type,message}} object. */
static void error_from_json(const cJSON *root, int status, gr_upstream_error *err) {
    const cJSON *e = gr_provider_get(root, "error");
    const char *etype = gr_provider_get_str(e, "type");
    const char *msg = gr_provider_get_str(e, "message");
    int st = status;
    const char *code = anth_error_code(etype, status ? NULL : &st);
    if (!st) st = 502;
    st = gr_provider_upstream_status(st);
    gr_provider_error_set(err, st, gr_error_type_for_status(st), "%s",
                          msg && msg[0] ? msg : "Anthropic reported an error");
    err->code = code;
}

static void map_error(const gr_adapter_ctx *ctx, int status, const char *body, size_t len,
                      gr_upstream_error *err) {
    (void)ctx;
    cJSON *root = gr_provider_parse_json(body, len);
    if (cJSON_IsObject(gr_provider_get(root, "error"))) {
        error_from_json(root, status ? status : 502, err);
    } else {
        int st = gr_provider_upstream_status(status);
        if (body && len)
            gr_provider_error_set(err, st, NULL, "Anthropic returned HTTP %d: %.*s", status,
                                  (int)(len > 200 ? 200 : len), body);
        else
            gr_provider_error_set(err, st, NULL, "Anthropic returned HTTP %d", status);
    }
    cJSON_Delete(root);
}

/* ---- request: canonical -> Anthropic ---- */

/* Anthropic's prompt-cache breakpoint, as OpenRouter and LiteLLM accept it on
 * OpenAI-format parts, messages and tools: copied onto the Anthropic block. */
static void copy_cache_control(const cJSON *from, cJSON *to) {
    const cJSON *cc = gr_provider_get(from, "cache_control");
    if (cJSON_IsObject(cc) && cJSON_IsObject(to) && !gr_provider_get(to, "cache_control"))
        cJSON_AddItemToObject(to, "cache_control", cJSON_Duplicate(cc, 1));
}

static cJSON *part_to_block_plain(const cJSON *part, gr_upstream_error *err);

/* One OpenAI content part -> Anthropic block (NULL + err on unsupported). */
static cJSON *part_to_block(const cJSON *part, gr_upstream_error *err) {
    cJSON *b = part_to_block_plain(part, err);
    copy_cache_control(part, b);
    return b;
}

static cJSON *part_to_block_plain(const cJSON *part, gr_upstream_error *err) {
    const char *type = gr_provider_get_str(part, "type");
    if (!type) {
        gr_provider_error_set(err, 400, "invalid_request_error", "content part without a type");
        return NULL;
    }
    if (strcmp(type, "text") == 0) {
        const char *t = gr_provider_get_str(part, "text");
        if (!t || !t[0]) return cJSON_CreateNull(); /* Anthropic rejects empty text blocks */
        return gr_provider_text_block(t);
    }
    if (strcmp(type, "image_url") == 0 || strcmp(type, "file") == 0) {
        bool image = type[0] == 'i';
        const cJSON *holder = gr_provider_get(part, image ? "image_url" : "file");
        const char *url = cJSON_IsString(holder) ? holder->valuestring
                                                 : gr_provider_get_str(holder, image ? "url" : "file_data");
        if (!url) {
            gr_provider_error_set(err, 400, "invalid_request_error", "%s part without data", type);
            return NULL;
        }
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", image ? "image" : "document");
        cJSON *src = cJSON_AddObjectToObject(b, "source");
        char *mime = NULL;
        const char *data = NULL;
        if (gr_provider_parse_data_url(url, &mime, &data)) {
            cJSON_AddStringToObject(src, "type", "base64");
            cJSON_AddStringToObject(src, "media_type", mime);
            cJSON_AddStringToObject(src, "data", data);
            free(mime);
        } else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
            cJSON_AddStringToObject(src, "type", "url");
            cJSON_AddStringToObject(src, "url", url);
        } else {
            cJSON_Delete(b);
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "unsupported %s URL: expected a base64 data: URL or http(s) URL",
                                  type);
            return NULL;
        }
        return b;
    }
    gr_provider_error_set(err, 400, "invalid_request_error",
                          "content part type '%s' is not supported by Anthropic", type);
    return NULL;
}

/* Append the blocks of an OpenAI content value (string or parts) to arr. */
static bool content_to_blocks(const cJSON *content, cJSON *arr, gr_upstream_error *err) {
    if (cJSON_IsString(content)) {
        if (content->valuestring[0]) {
            cJSON_AddItemToArray(arr, gr_provider_text_block(content->valuestring));
        }
        return true;
    }
    if (!content || cJSON_IsNull(content)) return true;
    if (!cJSON_IsArray(content)) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "message content must be a string or an array of parts");
        return false;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        cJSON *b = part_to_block(part, err);
        if (!b) return false;
        if (cJSON_IsNull(b)) cJSON_Delete(b);
        else cJSON_AddItemToArray(arr, b);
    }
    return true;
}

static bool tool_calls_to_blocks(const cJSON *tcs, cJSON *arr, gr_upstream_error *err) {
    const cJSON *tc;
    cJSON_ArrayForEach(tc, tcs) {
        const cJSON *fn = gr_provider_get(tc, "function");
        const char *name = gr_provider_get_str(fn, "name");
        const char *id = gr_provider_get_str(tc, "id");
        if (!name || !id) {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "tool_calls entries need an id and function.name");
            return false;
        }
        cJSON *input = gr_provider_tool_input(gr_provider_get_str(fn, "arguments"));
        cJSON *b = cJSON_CreateObject();
        cJSON_AddStringToObject(b, "type", "tool_use");
        cJSON_AddStringToObject(b, "id", id);
        cJSON_AddStringToObject(b, "name", name);
        cJSON_AddItemToObject(b, "input", input);
        cJSON_AddItemToArray(arr, b);
    }
    return true;
}

static cJSON *tool_result_block(const cJSON *m, gr_upstream_error *err) {
    const char *id = gr_provider_get_str(m, "tool_call_id");
    if (!id) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "tool message without tool_call_id");
        return NULL;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_result");
    cJSON_AddStringToObject(b, "tool_use_id", id);
    const cJSON *content = gr_provider_get(m, "content");
    if (cJSON_IsArray(content)) {
        cJSON *inner = cJSON_AddArrayToObject(b, "content");
        if (!content_to_blocks(content, inner, err)) {
            cJSON_Delete(b);
            return NULL;
        }
    } else {
        cJSON_AddStringToObject(b, "content", cJSON_IsString(content) ? content->valuestring : "");
    }
    return b;
}

static cJSON *convert_tools(const cJSON *tools, gr_upstream_error *err) {
    cJSON *out = cJSON_CreateArray();
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const char *type = gr_provider_get_str(t, "type");
        const cJSON *fn = gr_provider_get(t, "function");
        const char *name = gr_provider_get_str(fn, "name");
        if ((type && strcmp(type, "function") != 0) || !name) {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "only function tools with a name are supported by Anthropic");
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "name", name);
        const char *desc = gr_provider_get_str(fn, "description");
        if (desc) cJSON_AddStringToObject(a, "description", desc);
        const cJSON *params = gr_provider_get(fn, "parameters");
        if (cJSON_IsObject(params)) {
            cJSON_AddItemToObject(a, "input_schema", cJSON_Duplicate(params, 1));
        } else {
            cJSON *s = cJSON_AddObjectToObject(a, "input_schema");
            cJSON_AddStringToObject(s, "type", "object");
            cJSON_AddObjectToObject(s, "properties");
        }
        copy_cache_control(t, a);
        copy_cache_control(fn, a);
        cJSON_AddItemToArray(out, a);
    }
    return out;
}

static cJSON *convert_tool_choice(const cJSON *tc, bool no_parallel, gr_upstream_error *err) {
    cJSON *o = cJSON_CreateObject();
    const char *s = cJSON_IsString(tc) ? tc->valuestring : NULL;
    if (!tc || cJSON_IsNull(tc) || (s && strcmp(s, "auto") == 0)) {
        cJSON_AddStringToObject(o, "type", "auto");
    } else if (s && strcmp(s, "none") == 0) {
        cJSON_AddStringToObject(o, "type", "none");
    } else if (s && strcmp(s, "required") == 0) {
        cJSON_AddStringToObject(o, "type", "any");
    } else if (cJSON_IsObject(tc) && gr_provider_get_str(gr_provider_get(tc, "function"), "name")) {
        cJSON_AddStringToObject(o, "type", "tool");
        cJSON_AddStringToObject(o, "name",
                                gr_provider_get_str(gr_provider_get(tc, "function"), "name"));
    } else {
        cJSON_Delete(o);
        gr_provider_error_set(err, 400, "invalid_request_error", "unsupported tool_choice");
        return NULL;
    }
    if (no_parallel && strcmp(gr_provider_get_str(o, "type"), "none") != 0)
        cJSON_AddTrueToObject(o, "disable_parallel_tool_use");
    return o;
}

int64_t gr_anthropic_thinking_budget(const cJSON *req) {
    static const gr_reasoning_level levels[] = {
        {"none", 0}, {"minimal", 1024}, {"low", 2048}, {"medium", 8192}, {"high", 24576}, {NULL, 0}};
    return gr_provider_reasoning_budget(req, levels, 1024); /* Anthropic's minimum budget is 1024 */
}

/* Append blocks to the last message when it has the same role, else add one. */
static void push_turn(cJSON *msgs, const char *role, cJSON *blocks) { gr_provider_push_turn(msgs, role, "content", blocks); }

static void copy_num(cJSON *dst, const char *dkey, const cJSON *src, const char *skey) {
    const cJSON *v = gr_provider_get(src, skey);
    if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(dst, dkey, v->valuedouble);
}

static gr_status build_chat_request(const gr_adapter_ctx *ctx, const cJSON *req,
                                    gr_http_request *out, gr_upstream_error *err) {
    gr_status rc = GR_ERR_INVALID;
    char *sys = NULL;
    size_t sys_len = 0;
    cJSON *body = NULL;
    cJSON *sys_blocks = cJSON_CreateArray();
    memset(out, 0, sizeof(*out));
    const cJSON *messages = gr_provider_get(req, "messages");
    if (!cJSON_IsArray(messages)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "'messages' must be an array");
        goto out;
    }
    const cJSON *n = gr_provider_get(req, "n");
    if (cJSON_IsNumber(n) && n->valuedouble > 1) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "n > 1 is not supported by Anthropic models");
        goto out;
    }
    body = cJSON_CreateObject();
    const char *model = ctx && ctx->upstream_model ? ctx->upstream_model
                                                   : gr_provider_get_str(req, "model");
    cJSON_AddStringToObject(body, "model", model ? model : "");
    cJSON *msgs = cJSON_CreateArray();
    const cJSON *m;
    int idx = 0;
    cJSON_ArrayForEach(m, messages) {
        const char *role = gr_provider_get_str(m, "role");
        const cJSON *content = gr_provider_get(m, "content");
        if (!role) {
            gr_provider_error_set(err, 400, "invalid_request_error", "messages[%d].role missing",
                                  idx);
            cJSON_Delete(msgs);
            goto out;
        }
        if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            char *t = gr_provider_content_text(content);
            if (t && t[0]) sb_append(&sys, &sys_len, t, "\n\n");
            free(t);
            /* the same text as blocks, kept in case a cache breakpoint needs them */
            int before = cJSON_GetArraySize(sys_blocks);
            if (!content_to_blocks(content, sys_blocks, err)) {
                cJSON_Delete(msgs);
                goto out;
            }
            int after = cJSON_GetArraySize(sys_blocks);
            if (after > before) copy_cache_control(m, cJSON_GetArrayItem(sys_blocks, after - 1));
            idx++;
            continue;
        }
        cJSON *blocks = cJSON_CreateArray();
        const char *arole = "user";
        bool ok = true;
        if (strcmp(role, "user") == 0) {
            ok = content_to_blocks(content, blocks, err);
        } else if (strcmp(role, "assistant") == 0) {
            arole = "assistant";
            /* thinking that came back signed (reasoning_signature) opens the turn again, as Anthropic
             * requires before the turn's tool_use when thinking is on */
            const char *th = gr_provider_get_str(m, "reasoning_content");
            const char *sig = gr_provider_get_str(m, "reasoning_signature");
            if (th && sig && sig[0]) cJSON_AddItemToArray(blocks, gr_anthropic_thinking_block(th, sig));
            char *t = gr_provider_content_text(content);
            if (t && t[0]) cJSON_AddItemToArray(blocks, gr_provider_text_block(t));
            free(t);
            const cJSON *tcs = gr_provider_get(m, "tool_calls");
            if (cJSON_IsArray(tcs)) ok = tool_calls_to_blocks(tcs, blocks, err);
        } else if (strcmp(role, "tool") == 0) {
            cJSON *b = tool_result_block(m, err);
            if (b) cJSON_AddItemToArray(blocks, b);
            else ok = false;
        } else {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "messages[%d]: role '%s' is not supported", idx, role);
            ok = false;
        }
        if (!ok) {
            cJSON_Delete(blocks);
            cJSON_Delete(msgs);
            goto out;
        }
        int nb = cJSON_GetArraySize(blocks);
        if (nb > 0) copy_cache_control(m, cJSON_GetArrayItem(blocks, nb - 1)); /* message-level breakpoint */
        push_turn(msgs, arole, blocks);
        idx++;
    }
    size_t sys_msgs_len = sys_len;
    /* JSON mode: Anthropic has no response_format; instruct through the system prompt. */
    char *json_mode = gr_provider_json_mode_instruction(req);
    if (json_mode) sb_append(&sys, &sys_len, json_mode, "\n\n");
    free(json_mode);
    bool sys_cached = false;
    const cJSON *sb;
    cJSON_ArrayForEach(sb, sys_blocks) sys_cached = sys_cached || gr_provider_get(sb, "cache_control");
    if (sys_cached) { /* a cache breakpoint in the system prompt: blocks, not one string */
        if (sys_len > sys_msgs_len) {
            cJSON_AddItemToArray(sys_blocks, gr_provider_text_block(sys + sys_msgs_len + (sys_msgs_len ? 2 : 0)));
        }
        cJSON_AddItemToObject(body, "system", sys_blocks);
        sys_blocks = NULL;
    } else if (sys_len) {
        cJSON_AddStringToObject(body, "system", sys);
    }
    cJSON_AddItemToObject(body, "messages", msgs);

    const cJSON *mt = gr_provider_get(req, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = gr_provider_get(req, "max_tokens");
    cJSON_AddNumberToObject(body, "max_tokens",
                            cJSON_IsNumber(mt) && mt->valuedouble >= 1
                                ? mt->valuedouble
                                : GR_ANTHROPIC_DEFAULT_MAX_TOKENS);
    const cJSON *stop = gr_provider_get(req, "stop");
    if (cJSON_IsString(stop)) {
        cJSON *a = cJSON_AddArrayToObject(body, "stop_sequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) {
        cJSON_AddItemToObject(body, "stop_sequences", cJSON_Duplicate(stop, 1));
    }
    const cJSON *temp = gr_provider_get(req, "temperature");
    if (cJSON_IsNumber(temp)) /* OpenAI allows 0..2, Anthropic 0..1 */
        cJSON_AddNumberToObject(body, "temperature", temp->valuedouble > 1 ? 1 : temp->valuedouble);
    copy_num(body, "top_p", req, "top_p");
    copy_num(body, "top_k", req, "top_k");
    const char *user = gr_provider_get_str(req, "user");
    if (user) {
        cJSON *md = cJSON_AddObjectToObject(body, "metadata");
        cJSON_AddStringToObject(md, "user_id", user);
    }
    const cJSON *tools = gr_provider_get(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *t = convert_tools(tools, err);
        if (!t) goto out;
        cJSON_AddItemToObject(body, "tools", t);
        const cJSON *tc = gr_provider_get(req, "tool_choice");
        bool no_par = cJSON_IsFalse(gr_provider_get(req, "parallel_tool_calls"));
        if (tc || no_par) {
            cJSON *c = convert_tool_choice(tc, no_par, err);
            if (!c) goto out;
            cJSON_AddItemToObject(body, "tool_choice", c);
        }
    }
    const cJSON *thinking = gr_provider_get(req, "thinking"); /* Anthropic extension, passed through */
    if (cJSON_IsObject(thinking)) {
        cJSON_AddItemToObject(body, "thinking", cJSON_Duplicate(thinking, 1));
    } else {
        int64_t budget = gr_anthropic_thinking_budget(req);
        if (budget < 0) {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "reasoning_effort / reasoning.effort must be one of none, minimal, low, medium, high");
            goto out;
        }
        if (budget > 0) {
            cJSON *th = cJSON_AddObjectToObject(body, "thinking");
            cJSON_AddStringToObject(th, "type", "enabled");
            cJSON_AddNumberToObject(th, "budget_tokens", (double)budget);
            /* max_tokens counts the thinking too: room for the budget and the answer */
            const cJSON *cur = gr_provider_get(body, "max_tokens");
            double answer = cJSON_IsNumber(cur) ? cur->valuedouble : GR_ANTHROPIC_DEFAULT_MAX_TOKENS;
            cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(body, "max_tokens"), (double)budget + answer);
            /* Anthropic refuses temperature (other than 1) and top_k with thinking */
            cJSON_DeleteItemFromObjectCaseSensitive(body, "temperature");
            cJSON_DeleteItemFromObjectCaseSensitive(body, "top_k");
        }
    }
    bool stream = (ctx && ctx->stream) || cJSON_IsTrue(gr_provider_get(req, "stream"));
    if (stream) cJSON_AddTrueToObject(body, "stream");

    if (!gr_provider_set_body(out, body)) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Anthropic request");
        rc = GR_ERR_NOMEM;
        goto out;
    }
    const gr_provider_conf *pc = ctx ? ctx->provider : NULL;
    out->url = gr_provider_url(pc && pc->base_url ? pc->base_url : "https://api.anthropic.com/v1",
                               "/messages");
    gr_http_request_add_header(out, "content-type: application/json");
    if (pc && pc->api_key) gr_http_request_add_header(out, "x-api-key: %s", pc->api_key);
    gr_http_request_add_header(out, "anthropic-version: %s",
                               pc && pc->api_version ? pc->api_version
                                                     : GR_ANTHROPIC_DEFAULT_VERSION);
    if (stream) gr_http_request_add_header(out, "accept: text/event-stream");
    gr_provider_add_conf_headers(pc, out);
    rc = GR_OK;
out:
    if (rc != GR_OK) gr_http_request_free(out);
    free(sys);
    cJSON_Delete(sys_blocks);
    cJSON_Delete(body);
    return rc;
}

/* ---- response: Anthropic -> canonical ---- */

static const char *finish_reason_for(const char *stop_reason) {
    if (!stop_reason) return "stop";
    if (strcmp(stop_reason, "max_tokens") == 0 ||
        strcmp(stop_reason, "model_context_window_exceeded") == 0)
        return "length";
    if (strcmp(stop_reason, "tool_use") == 0) return "tool_calls";
    if (strcmp(stop_reason, "refusal") == 0) return "content_filter";
    return "stop"; /* end_turn, stop_sequence, pause_turn */
}

static int64_t num0(const cJSON *o, const char *k) {
    const cJSON *v = gr_provider_get(o, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (v->valuedouble < 1e15 ? (int64_t)v->valuedouble : INT64_C(1000000000000000)) : 0;
}

/* Anthropic usage (input excludes cache reads/writes) -> gr_usage (includes). */
void gr_anthropic_usage_merge(const cJSON *au, gr_usage *u) {
    if (!cJSON_IsObject(au)) return;
    if (gr_provider_get(au, "input_tokens")) {
        int64_t in = num0(au, "input_tokens");
        u->cached_tokens = num0(au, "cache_read_input_tokens");
        u->cache_write_tokens = num0(au, "cache_creation_input_tokens");
        u->prompt_tokens = in + u->cached_tokens + u->cache_write_tokens;
    }
    /* the split of the writes by cache lifetime: the 1-hour ones cost more */
    const cJSON *cc = gr_provider_get(au, "cache_creation");
    if (cJSON_IsObject(cc)) u->cache_write_1h_tokens = num0(cc, "ephemeral_1h_input_tokens");
    if (gr_provider_get(au, "output_tokens")) u->completion_tokens = num0(au, "output_tokens");
    u->present = true;
}

static gr_status parse_chat_response(const gr_adapter_ctx *ctx, const char *body, size_t len,
                                     cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    cJSON *root = gr_provider_parse_json(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Anthropic returned a malformed response body");
        return GR_ERR_PARSE;
    }
    const char *type = gr_provider_get_str(root, "type");
    if (type && strcmp(type, "error") == 0) {
        error_from_json(root, 0, err);
        cJSON_Delete(root);
        return GR_ERR_INVALID;
    }
    const cJSON *content = gr_provider_get(root, "content");
    if (!cJSON_IsArray(content)) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Anthropic response has no content array");
        return GR_ERR_PARSE;
    }
    char *text = NULL, *thinking = NULL;
    const char *signature = NULL;
    size_t tlen = 0, thlen = 0;
    cJSON *tool_calls = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *bt = gr_provider_get_str(b, "type");
        if (!bt) continue;
        if (strcmp(bt, "text") == 0 && gr_provider_get_str(b, "text")) {
            sb_append(&text, &tlen, gr_provider_get_str(b, "text"), NULL);
        } else if (strcmp(bt, "thinking") == 0 && gr_provider_get_str(b, "thinking")) {
            sb_append(&thinking, &thlen, gr_provider_get_str(b, "thinking"), NULL);
            if (gr_provider_get_str(b, "signature")) signature = gr_provider_get_str(b, "signature");
        } else if (strcmp(bt, "tool_use") == 0) {
            const char *id = gr_provider_get_str(b, "id");
            const char *name = gr_provider_get_str(b, "name");
            const cJSON *input = gr_provider_get(b, "input");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            cJSON_AddItemToArray(tool_calls, gr_provider_tool_call(-1, id ? id : "", name ? name : "", args ? args : "{}"));
            if (args) cJSON_free(args);
        }
        /* redacted_thinking, server tool blocks: nothing canonical to map to */
    }
    gr_usage u = {0};
    gr_anthropic_usage_merge(gr_provider_get(root, "usage"), &u);
    cJSON *resp = gr_provider_completion(ctx, gr_provider_get_str(root, "id"), gr_provider_get_str(root, "model"), text,
                                         thinking, tool_calls,
                                         finish_reason_for(gr_provider_get_str(root, "stop_reason")), &u);
    if (thinking && signature && ctx && ctx->reasoning_signature && !ctx->exclude_reasoning) {
        /* the Responses API carries it back as encrypted_content */
        cJSON *msg = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(resp, "choices"), 0), "message");
        cJSON_AddStringToObject(msg, "reasoning_signature", signature);
    }
    if (usage) *usage = u;
    free(text);
    free(thinking);
    cJSON_Delete(root);
    *out = resp;
    return GR_OK;
}

/* ---- streaming: Anthropic SSE events -> chunks ---- */

#define MAX_BLOCKS 4096 /* content block indexes beyond this are treated as bad bytes */

typedef struct anth_stream {
    gr_adapter_ctx ctx;
    char *owned[3]; /* owned copies of ctx strings (gr_provider_ctx_own) */
    char *msg_id, *model;
    int *block_tool; /* content block index -> tool_calls index (-1: not a tool) */
    int nblocks;
    int ntools;
    bool started, finished, failed;
    gr_usage usage;
} anth_stream;

static gr_stream_translator *stream_new(const gr_adapter_ctx *ctx) {
    anth_stream *s = gr_xcalloc(1, sizeof(*s));
    gr_provider_ctx_own(&s->ctx, s->owned, ctx);
    return (gr_stream_translator *)s;
}

static void stream_free(gr_stream_translator *st) {
    anth_stream *s = (anth_stream *)st;
    if (!s) return;
    gr_provider_ctx_release(s->owned);
    free(s->msg_id);
    free(s->model);
    free(s->block_tool);
    free(s);
}

static cJSON *new_chunk(anth_stream *s, cJSON **delta) {
    return gr_provider_chunk_new(&s->ctx, s->msg_id, s->model, 0, delta);
}


static gr_status on_block_start(anth_stream *s, const cJSON *data, gr_chunk_emit_fn emit,
                                void *ud, gr_upstream_error *err) {
    const cJSON *ix = gr_provider_get(data, "index");
    const cJSON *cb = gr_provider_get(data, "content_block");
    const char *bt = gr_provider_get_str(cb, "type");
    if (!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= MAX_BLOCKS || !bt) {
        gr_provider_bad_upstream(err, "Anthropic sent a malformed content_block_start event");
        return GR_ERR_PARSE;
    }
    int bi = (int)ix->valuedouble;
    gr_provider_block_map_grow(&s->block_tool, &s->nblocks, bi);
    cJSON *delta;
    if (strcmp(bt, "tool_use") == 0) {
        int ti = s->ntools++;
        s->block_tool[bi] = ti;
        const char *id = gr_provider_get_str(cb, "id");
        const char *name = gr_provider_get_str(cb, "name");
        return gr_provider_emit_chunk(gr_provider_tool_chunk(&s->ctx, s->msg_id, s->model,
                                                             gr_provider_tool_call(ti, id ? id : "", name ? name : "", "")),
                                      emit, ud, err);
    }
    const char *key = strcmp(bt, "text") == 0       ? "text"
                      : strcmp(bt, "thinking") == 0 ? "thinking"
                                                    : NULL;
    const char *initial = key ? gr_provider_get_str(cb, key) : NULL;
    if (key && key[1] == 'h' && s->ctx.exclude_reasoning) return GR_OK;
    if (initial && initial[0]) {
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, key[0] == 't' && key[1] == 'e' ? "content"
                                                                      : "reasoning_content",
                                initial);
        return gr_provider_emit_chunk(c, emit, ud, err);
    }
    return GR_OK;
}

static gr_status on_block_delta(anth_stream *s, const cJSON *data, gr_chunk_emit_fn emit,
                                void *ud, gr_upstream_error *err) {
    const cJSON *ix = gr_provider_get(data, "index");
    const cJSON *d = gr_provider_get(data, "delta");
    const char *dt = gr_provider_get_str(d, "type");
    if (!cJSON_IsNumber(ix) || !dt) {
        gr_provider_bad_upstream(err, "Anthropic sent a malformed content_block_delta event");
        return GR_ERR_PARSE;
    }
    cJSON *delta;
    if (strcmp(dt, "text_delta") == 0 || strcmp(dt, "thinking_delta") == 0) {
        bool text = dt[1] == 'e';
        const char *t = gr_provider_get_str(d, text ? "text" : "thinking");
        if (!t || !t[0] || (!text && s->ctx.exclude_reasoning)) return GR_OK;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, text ? "content" : "reasoning_content", t);
        return gr_provider_emit_chunk(c, emit, ud, err);
    }
    if (strcmp(dt, "input_json_delta") == 0) {
        int bi = ix->valueint; /* cJSON saturates valueint; (int) of a huge double is UB */
        if (bi < 0 || bi >= s->nblocks || s->block_tool[bi] < 0) {
            gr_provider_bad_upstream(err, "Anthropic sent input_json_delta for an unknown block");
            return GR_ERR_PARSE;
        }
        const char *pj = gr_provider_get_str(d, "partial_json");
        if (!pj || !pj[0]) return GR_OK;
        return gr_provider_emit_chunk(
            gr_provider_tool_chunk(&s->ctx, s->msg_id, s->model, gr_provider_tool_call(s->block_tool[bi], NULL, NULL, pj)),
            emit, ud, err);
    }
    if (strcmp(dt, "signature_delta") == 0 && s->ctx.reasoning_signature && !s->ctx.exclude_reasoning) {
        const char *sig = gr_provider_get_str(d, "signature");
        if (!sig || !sig[0]) return GR_OK;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, "reasoning_signature", sig);
        return gr_provider_emit_chunk(c, emit, ud, err);
    }
    return GR_OK; /* citations_delta (and signatures nobody asked for): no canonical equivalent */
}

static gr_status stream_event(gr_stream_translator *st, const gr_sse_event *ev,
                              gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err) {
    anth_stream *s = (anth_stream *)st;
    if (!s || !ev) return GR_ERR_INVALID;
    if (s->failed) {
        gr_provider_bad_upstream(err, "Anthropic stream already failed");
        return GR_ERR_INVALID;
    }
    cJSON *data = gr_provider_parse_json(ev->data.ptr, ev->data.len);
    const char *type = gr_provider_get_str(data, "type");
    gr_status rc = GR_OK;
    if (!type) {
        s->failed = true;
        gr_provider_bad_upstream(err, "Anthropic sent a malformed stream event");
        rc = GR_ERR_PARSE;
        goto out;
    }
    cJSON *delta;
    if (strcmp(type, "message_start") == 0) {
        const cJSON *msg = gr_provider_get(data, "message");
        free(s->msg_id);
        free(s->model);
        s->msg_id = gr_provider_strdup_or_null(gr_provider_get_str(msg, "id"));
        s->model = gr_provider_strdup_or_null(gr_provider_get_str(msg, "model"));
        gr_anthropic_usage_merge(gr_provider_get(msg, "usage"), &s->usage);
        s->started = true;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        rc = gr_provider_emit_chunk(c, emit, ud, err);
    } else if (strcmp(type, "content_block_start") == 0) {
        rc = on_block_start(s, data, emit, ud, err);
    } else if (strcmp(type, "content_block_delta") == 0) {
        rc = on_block_delta(s, data, emit, ud, err);
    } else if (strcmp(type, "message_delta") == 0) {
        gr_anthropic_usage_merge(gr_provider_get(data, "usage"), &s->usage);
        const char *sr = gr_provider_get_str(gr_provider_get(data, "delta"), "stop_reason");
        if (sr && !s->finished) {
            s->finished = true;
            rc = gr_provider_emit_chunk(gr_provider_finish_chunk(&s->ctx, s->msg_id, s->model, finish_reason_for(sr)), emit,
                                        ud, err);
        }
    } else if (strcmp(type, "error") == 0) {
        s->failed = true;
        error_from_json(data, 0, err);
        rc = GR_ERR_INVALID;
    }
    /* ping, content_block_stop, message_stop and unknown event types: nothing to emit */
    if (rc == GR_ERR_PARSE) s->failed = true;
out:
    cJSON_Delete(data);
    return rc;
}

static gr_status stream_finish(gr_stream_translator *st, gr_chunk_emit_fn emit, void *ud,
                               gr_usage *usage, gr_upstream_error *err) {
    anth_stream *s = (anth_stream *)st;
    if (!s) return GR_ERR_INVALID;
    return gr_provider_stream_end(&s->ctx, &s->usage, s->failed, s->finished, "Anthropic stream failed", "Anthropic stream ended before the message was complete", s->msg_id, s->model,
                                  emit, ud, usage, err);
}

const gr_provider_ops gr_anthropic_ops = {
    .kind = "anthropic",
    GR_PROVIDER_TRANSLATOR_OPS,
};
