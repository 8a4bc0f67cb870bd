/* provider_bedrock.c — AWS Bedrock Converse adapter: canonical (OpenAI chat)
 * request -> POST <base_url>/model/<modelId>/converse (or /converse-stream),
 * SigV4-signed (aws_sigv4.h); Converse response / ConverseStream events (AWS
 * binary event stream, decoded by aws_eventstream.c before they get here) ->
 * canonical chat.completion / chat.completion.chunk; Bedrock error bodies and
 * stream exceptions -> client errors. Mapping decisions are documented in
 * docs/PROVIDERS.md ("AWS Bedrock"). */
#include "aws_sigv4.h"
#include "provider_bedrock.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define BEDROCK_SERVICE "bedrock"

/* ---- errors ---- */

/* Bedrock exception name -> the HTTP status Bedrock uses for it (then mapped
 * by client_status). A body without __type is named by its status: the first
 * row with that status, so the most common exception comes first. */
static const struct {
    const char *name;
    int status;
} bedrock_errors[] = {
    {"ValidationException", 400},       {"AccessDeniedException", 403},         {"ResourceNotFoundException", 404},
    {"ModelTimeoutException", 408},     {"ThrottlingException", 429},           {"ModelNotReadyException", 429},
    {"ServiceQuotaExceededException", 429}, {"ModelErrorException", 424},       {"ModelStreamErrorException", 424},
    {"InternalServerException", 500},   {"ServiceUnavailableException", 503},
};

/* "throttlingException" (stream exception header) or
 * "com.amazon...#ThrottlingException" (__type) -> the table's name. */
static const char *error_name(const char *raw, size_t n, int *status) {
    const char *hash = memchr(raw, '#', n);
    if (hash) {
        n -= (size_t)(hash + 1 - raw);
        raw = hash + 1;
    }
    const char *colon = memchr(raw, ':', n); /* x-amzn-ErrorType: "Name:http://..." */
    if (colon) n = (size_t)(colon - raw);
    for (size_t i = 0; i < GR_ARRAY_LEN(bedrock_errors); i++)
        if (strlen(bedrock_errors[i].name) == n && !strncasecmp(raw, bedrock_errors[i].name, n)) {
            if (status) *status = bedrock_errors[i].status;
            return bedrock_errors[i].name;
        }
    return NULL;
}

/* Bedrock's statuses: 424 (the model failed) -> 502, 408 (model timeout) -> 504. */
static int client_status(int status) {
    if (status == 424) return 502;
    if (status == 408) return 504;
    return gr_provider_upstream_status(status);
}

static void set_error(gr_upstream_error *err, int status, const char *name, const char *msg) {
    int st = client_status(status);
    gr_provider_error_set(err, st, gr_error_type_for_status(st), "%s", msg && msg[0] ? msg : "Bedrock reported an error");
    err->code = name;
}

static const char *message_of(const cJSON *j) {
    const char *m = gr_provider_get_str(j, "message");
    return m ? m : gr_provider_get_str(j, "Message");
}

static void map_error(const gr_adapter_ctx *ctx, int status, const char *body, size_t len, gr_upstream_error *err) {
    (void)ctx;
    cJSON *root = gr_provider_parse_json(body, len);
    const char *msg = message_of(root);
    if (cJSON_IsObject(root) && msg) {
        const char *type = gr_provider_get_str(root, "__type");
        int st = status;
        const char *name = type ? error_name(type, strlen(type), NULL) : NULL;
        if (!name) /* no __type: the status says which exception it was */
            for (size_t i = 0; i < GR_ARRAY_LEN(bedrock_errors) && !name; i++)
                if (bedrock_errors[i].status == status) name = bedrock_errors[i].name;
        set_error(err, st, name, msg);
    } else {
        int st = client_status(status);
        if (body && len)
            gr_provider_error_set(err, st, NULL, "Bedrock returned HTTP %d: %.*s", status, (int)(len > 200 ? 200 : len),
                                  body);
        else
            gr_provider_error_set(err, st, NULL, "Bedrock returned HTTP %d", status);
    }
    cJSON_Delete(root);
}

/* ---- request: canonical -> Converse ---- */

static cJSON *text_block(const char *t) {
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "text", t);
    return b;
}

/* A prompt-cache breakpoint (OpenRouter/LiteLLM `cache_control` on a part,
 * message or tool) becomes a Bedrock cachePoint block right after it. */
static void add_cache_point(cJSON *arr, const cJSON *from) {
    if (!cJSON_IsObject(gr_provider_get(from, "cache_control"))) return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(cJSON_AddObjectToObject(b, "cachePoint"), "type", "default");
    cJSON_AddItemToArray(arr, b);
}

/* image/png -> "png"; NULL when Bedrock has no such image format. */
static const char *image_format(const char *mime) {
    static const char *const fmts[][2] = {
        {"image/png", "png"}, {"image/jpeg", "jpeg"}, {"image/jpg", "jpeg"}, {"image/gif", "gif"}, {"image/webp", "webp"}};
    for (size_t i = 0; i < GR_ARRAY_LEN(fmts); i++)
        if (!strcasecmp(mime, fmts[i][0])) return fmts[i][1];
    return NULL;
}

static const char *document_format(const char *mime) {
    static const char *const fmts[][2] = {{"application/pdf", "pdf"}, {"text/csv", "csv"},   {"text/plain", "txt"},
                                          {"text/html", "html"},      {"text/markdown", "md"}};
    for (size_t i = 0; i < GR_ARRAY_LEN(fmts); i++)
        if (!strcasecmp(mime, fmts[i][0])) return fmts[i][1];
    return NULL;
}

/* image_url / file part -> image / document block (base64 data: URLs only:
 * Converse takes bytes or an S3 location, never an http URL). */
static cJSON *media_block(const char *type, const cJSON *part, int *ndocs, gr_upstream_error *err) {
    bool image = type[0] == 'i';
    const cJSON *holder = gr_provider_get(part, image ? "image_url" : "file");
    const char *url = cJSON_IsString(holder) ? holder->valuestring : gr_provider_get_str(holder, image ? "url" : "file_data");
    char *mime = NULL;
    const char *data = NULL;
    if (!url || !gr_provider_parse_data_url(url, &mime, &data)) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "Bedrock takes %s content only as a base64 data: URL (no http(s) URLs)", type);
        return NULL;
    }
    const char *fmt = image ? image_format(mime) : document_format(mime);
    if (!fmt) {
        gr_provider_error_set(err, 400, "invalid_request_error", "Bedrock does not accept %s content of type %s", type,
                              mime);
        free(mime);
        return NULL;
    }
    free(mime);
    cJSON *b = cJSON_CreateObject();
    cJSON *m = cJSON_AddObjectToObject(b, image ? "image" : "document");
    cJSON_AddStringToObject(m, "format", fmt);
    if (!image) { /* Converse requires a document name, unique in the request */
        char name[32]; /* not the client's filename: Bedrock refuses many characters in it */
        snprintf(name, sizeof name, "document-%d", ++*ndocs);
        cJSON_AddStringToObject(m, "name", name);
    }
    cJSON_AddStringToObject(cJSON_AddObjectToObject(m, "source"), "bytes", data);
    return b;
}

/* Appends the blocks of an OpenAI content value (string or parts). */
static bool content_to_blocks(const cJSON *content, cJSON *arr, int *ndocs, gr_upstream_error *err) {
    if (cJSON_IsString(content)) {
        if (content->valuestring[0]) cJSON_AddItemToArray(arr, text_block(content->valuestring));
        return true;
    }
    if (!content || cJSON_IsNull(content)) return true;
    if (!cJSON_IsArray(content)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "message content must be a string or an array of parts");
        return false;
    }
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const char *type = gr_provider_get_str(part, "type");
        if (!type) {
            gr_provider_error_set(err, 400, "invalid_request_error", "content part without a type");
            return false;
        }
        if (!strcmp(type, "text")) {
            const char *t = gr_provider_get_str(part, "text");
            if (t && t[0]) cJSON_AddItemToArray(arr, text_block(t)); /* Bedrock refuses blank text blocks */
        } else if (!strcmp(type, "image_url") || !strcmp(type, "file")) {
            cJSON *b = media_block(type, part, ndocs, err);
            if (!b) return false;
            cJSON_AddItemToArray(arr, b);
        } else {
            gr_provider_error_set(err, 400, "invalid_request_error", "content part type '%s' is not supported by Bedrock",
                                  type);
            return false;
        }
        add_cache_point(arr, part);
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
            gr_provider_error_set(err, 400, "invalid_request_error", "tool_calls entries need an id and function.name");
            return false;
        }
        cJSON *input = gr_provider_tool_input(gr_provider_get_str(fn, "arguments"));
        cJSON *b = cJSON_CreateObject();
        cJSON *tu = cJSON_AddObjectToObject(b, "toolUse");
        cJSON_AddStringToObject(tu, "toolUseId", id);
        cJSON_AddStringToObject(tu, "name", name);
        cJSON_AddItemToObject(tu, "input", input);
        cJSON_AddItemToArray(arr, b);
    }
    return true;
}

static cJSON *tool_result_block(const cJSON *m, gr_upstream_error *err) {
    const char *id = gr_provider_get_str(m, "tool_call_id");
    if (!id) {
        gr_provider_error_set(err, 400, "invalid_request_error", "tool message without tool_call_id");
        return NULL;
    }
    cJSON *b = cJSON_CreateObject();
    cJSON *tr = cJSON_AddObjectToObject(b, "toolResult");
    cJSON_AddStringToObject(tr, "toolUseId", id);
    cJSON *content = cJSON_AddArrayToObject(tr, "content");
    char *t = gr_provider_content_text(gr_provider_get(m, "content"));
    cJSON_AddItemToArray(content, text_block(t ? t : ""));
    free(t);
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
            gr_provider_error_set(err, 400, "invalid_request_error", "only function tools with a name are supported by Bedrock");
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *spec = cJSON_CreateObject();
        cJSON *ts = cJSON_AddObjectToObject(spec, "toolSpec");
        cJSON_AddStringToObject(ts, "name", name);
        const char *desc = gr_provider_get_str(fn, "description");
        if (desc && desc[0]) cJSON_AddStringToObject(ts, "description", desc);
        cJSON *schema = cJSON_AddObjectToObject(ts, "inputSchema");
        const cJSON *params = gr_provider_get(fn, "parameters");
        if (cJSON_IsObject(params)) {
            cJSON_AddItemToObject(schema, "json", cJSON_Duplicate(params, 1));
        } else {
            cJSON *s = cJSON_AddObjectToObject(schema, "json");
            cJSON_AddStringToObject(s, "type", "object");
            cJSON_AddObjectToObject(s, "properties");
        }
        cJSON_AddItemToArray(out, spec);
        add_cache_point(out, t);
        add_cache_point(out, fn);
    }
    return out;
}

/* tool_choice -> toolConfig.toolChoice; *none set for "none" (Converse has
 * no such choice: the tools are left out instead). */
static bool convert_tool_choice(const cJSON *tc, cJSON **out, bool *none, gr_upstream_error *err) {
    const char *s = cJSON_IsString(tc) ? tc->valuestring : NULL;
    *out = NULL;
    *none = false;
    if (!tc || cJSON_IsNull(tc)) return true;
    const char *fname = gr_provider_get_str(gr_provider_get(tc, "function"), "name");
    if (s && !strcmp(s, "none")) {
        *none = true;
        return true;
    }
    cJSON *o = cJSON_CreateObject();
    if (s && !strcmp(s, "auto")) {
        cJSON_AddObjectToObject(o, "auto");
    } else if (s && !strcmp(s, "required")) {
        cJSON_AddObjectToObject(o, "any");
    } else if (cJSON_IsObject(tc) && fname) {
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "tool"), "name", fname);
    } else {
        cJSON_Delete(o);
        gr_provider_error_set(err, 400, "invalid_request_error", "unsupported tool_choice");
        return false;
    }
    *out = o;
    return true;
}

static bool has_tool_blocks(const cJSON *msgs) {
    const cJSON *m, *b;
    cJSON_ArrayForEach(m, msgs) {
        cJSON_ArrayForEach(b, gr_provider_get(m, "content")) {
            if (gr_provider_get(b, "toolUse") || gr_provider_get(b, "toolResult")) return true;
        }
    }
    return false;
}

/* Anthropic models on Bedrock take `thinking` through additionalModelRequestFields. */
static bool is_anthropic_model(const char *model) { return model && strstr(model, "anthropic.") != NULL; }

/* Percent-encodes a model id (or inference-profile ARN) for the URL path:
 * everything but unreserved bytes, so ':' and '/' are escaped. */
static char *encode_model_id(const char *id) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(id);
    char *o = gr_xmalloc(3 * n + 1), *p = o;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
            c == '_' || c == '~') {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return o;
}

/* Signs out (url, body and the headers below) for the provider's credentials. */
static bool sign_request(const gr_adapter_ctx *ctx, gr_http_request *out, const char *accept) {
    const gr_provider_conf *pc = ctx->provider;
    const char *after_scheme = strstr(out->url, "://");
    const char *host = after_scheme ? after_scheme + 3 : out->url;
    const char *slash = strchr(host, '/');
    if (!slash) return false;
    char *host_s = gr_xstrndup(host, (size_t)(slash - host));
    const char *q = strchr(slash, '?');
    char *path = q ? gr_xstrndup(slash, (size_t)(q - slash)) : gr_xstrdup(slash);
    char amz_date[17];
    gr_sigv4_amz_date(ctx->created, amz_date);
    gr_sigv4_header h[5] = {{"content-type", "application/json"}, {"accept", accept}, {"host", host_s},
                            {"x-amz-date", amz_date}, {"x-amz-security-token", pc->session_token}};
    size_t nh = pc->session_token && pc->session_token[0] ? 5 : 4;
    gr_sigv4_request sr = {
        .method = "POST", .path = path, .query = q ? q + 1 : NULL, .headers = h, .nheaders = nh,
        .body = out->body, .body_len = out->body_len, .region = pc->region ? pc->region : "",
        .service = BEDROCK_SERVICE, .access_key_id = pc->access_key_id, .secret_access_key = pc->secret_access_key,
        .amz_date = amz_date,
    };
    char *auth = gr_sigv4_authorization(&sr);
    if (auth) {
        /* host is not added: the transport sends the URL's authority, which is what was signed */
        for (size_t i = 0; i < nh; i++)
            if (strcmp(h[i].name, "host") != 0) gr_http_request_add_header(out, "%s: %s", h[i].name, h[i].value);
        gr_http_request_add_header(out, "authorization: %s", auth);
    }
    free(auth);
    free(host_s);
    free(path);
    return auth != NULL;
}

bool gr_bedrock_finish_request(const gr_adapter_ctx *ctx, const char *model, const char *operation,
                               const char *accept, gr_http_request *out, gr_upstream_error *err) {
    const gr_provider_conf *pc = ctx ? ctx->provider : NULL;
    if (!pc || !pc->access_key_id || !pc->secret_access_key || !pc->base_url) {
        gr_provider_error_set(err, 500, "api_error", "the Bedrock provider has no AWS credentials");
        return false;
    }
    char *model_path = encode_model_id(model ? model : "");
    size_t n = strlen(model_path) + strlen(operation) + 9;
    char *suffix = gr_xmalloc(n);
    snprintf(suffix, n, "/model/%s/%s", model_path, operation);
    out->url = gr_provider_url(pc->base_url, suffix);
    free(suffix);
    free(model_path);
    if (!sign_request(ctx, out, accept)) {
        gr_provider_error_set(err, 500, "api_error", "could not sign the Bedrock request");
        return false;
    }
    return true;
}

static void copy_num(cJSON *dst, const char *dkey, const cJSON *src, const char *skey) {
    const cJSON *v = gr_provider_get(src, skey);
    if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(dst, dkey, v->valuedouble);
}

/* messages -> Converse messages + system blocks. */
static bool convert_messages(const cJSON *messages, cJSON *msgs, cJSON *system, gr_upstream_error *err) {
    const cJSON *m;
    int idx = 0, ndocs = 0;
    cJSON_ArrayForEach(m, messages) {
        const char *role = gr_provider_get_str(m, "role");
        const cJSON *content = gr_provider_get(m, "content");
        if (!role) {
            gr_provider_error_set(err, 400, "invalid_request_error", "messages[%d].role missing", idx);
            return false;
        }
        cJSON *blocks = cJSON_CreateArray();
        const char *brole = "user";
        bool ok = true;
        if (!strcmp(role, "system") || !strcmp(role, "developer")) { /* text parts, cache points kept */
            if (cJSON_IsString(content) && content->valuestring[0]) cJSON_AddItemToArray(system, text_block(content->valuestring));
            const cJSON *part;
            const cJSON *parts = cJSON_IsArray(content) ? content : NULL;
            cJSON_ArrayForEach(part, parts) {
                const char *t = gr_provider_get_str(part, "text");
                const char *pt = gr_provider_get_str(part, "type");
                if (!t || !t[0] || (pt && strcmp(pt, "text") != 0)) continue;
                cJSON_AddItemToArray(system, text_block(t));
                add_cache_point(system, part);
            }
            add_cache_point(system, m);
            cJSON_Delete(blocks);
            idx++;
            continue;
        }
        if (!strcmp(role, "user")) {
            ok = content_to_blocks(content, blocks, &ndocs, err);
        } else if (!strcmp(role, "assistant")) {
            brole = "assistant";
            char *t = gr_provider_content_text(content);
            if (t && t[0]) cJSON_AddItemToArray(blocks, text_block(t));
            free(t);
            const cJSON *tcs = gr_provider_get(m, "tool_calls");
            if (cJSON_IsArray(tcs)) ok = tool_calls_to_blocks(tcs, blocks, err);
        } else if (!strcmp(role, "tool")) {
            cJSON *b = tool_result_block(m, err);
            if (b) cJSON_AddItemToArray(blocks, b);
            else ok = false;
        } else {
            gr_provider_error_set(err, 400, "invalid_request_error", "messages[%d]: role '%s' is not supported", idx, role);
            ok = false;
        }
        if (!ok) {
            cJSON_Delete(blocks);
            return false;
        }
        if (cJSON_GetArraySize(blocks) > 0) add_cache_point(blocks, m);
        gr_provider_push_turn(msgs, brole, "content", blocks);
        idx++;
    }
    return true;
}

static gr_status build_chat_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                    gr_upstream_error *err) {
    gr_status rc = GR_ERR_INVALID;
    memset(out, 0, sizeof(*out));
    cJSON *body = cJSON_CreateObject();
    const cJSON *messages = gr_provider_get(req, "messages");
    if (!cJSON_IsArray(messages)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "'messages' must be an array");
        goto out;
    }
    const cJSON *n = gr_provider_get(req, "n");
    if (cJSON_IsNumber(n) && n->valuedouble > 1) {
        gr_provider_error_set(err, 400, "invalid_request_error", "n > 1 is not supported by Bedrock models");
        goto out;
    }
    cJSON *msgs = cJSON_AddArrayToObject(body, "messages");
    cJSON *system = cJSON_CreateArray();
    if (!convert_messages(messages, msgs, system, err)) {
        cJSON_Delete(system);
        goto out;
    }
    char *json_mode = gr_provider_json_mode_instruction(req); /* Converse has no JSON mode */
    if (json_mode) cJSON_AddItemToArray(system, text_block(json_mode));
    free(json_mode);
    if (cJSON_GetArraySize(system) > 0) cJSON_AddItemToObject(body, "system", system);
    else cJSON_Delete(system);

    const char *model = ctx->upstream_model ? ctx->upstream_model : gr_provider_get_str(req, "model");
    cJSON *inf = cJSON_CreateObject();
    const cJSON *mt = gr_provider_get(req, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = gr_provider_get(req, "max_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 1) cJSON_AddNumberToObject(inf, "maxTokens", mt->valuedouble);
    copy_num(inf, "temperature", req, "temperature");
    copy_num(inf, "topP", req, "top_p");
    const cJSON *stop = gr_provider_get(req, "stop");
    if (cJSON_IsString(stop)) cJSON_AddItemToArray(cJSON_AddArrayToObject(inf, "stopSequences"), cJSON_CreateString(stop->valuestring));
    else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) cJSON_AddItemToObject(inf, "stopSequences", cJSON_Duplicate(stop, 1));

    const cJSON *tools = gr_provider_get(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *choice = NULL;
        bool none = false;
        if (!convert_tool_choice(gr_provider_get(req, "tool_choice"), &choice, &none, err)) {
            cJSON_Delete(inf);
            goto out;
        }
        /* Converse refuses toolUse/toolResult blocks without a toolConfig, so
         * tool_choice "none" keeps the tools when the history has tool turns */
        if (!none || has_tool_blocks(msgs)) {
            cJSON *t = convert_tools(tools, err);
            if (!t) {
                cJSON_Delete(choice);
                cJSON_Delete(inf);
                goto out;
            }
            cJSON *tc = cJSON_AddObjectToObject(body, "toolConfig");
            cJSON_AddItemToObject(tc, "tools", t);
            if (choice) cJSON_AddItemToObject(tc, "toolChoice", choice);
            choice = NULL;
        }
        cJSON_Delete(choice);
    }

    /* reasoning: Anthropic models on Bedrock think through additionalModelRequestFields.thinking */
    const cJSON *thinking = gr_provider_get(req, "thinking");
    int64_t budget = cJSON_IsObject(thinking) ? 0 : gr_anthropic_thinking_budget(req);
    if (budget < 0) {
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "reasoning_effort / reasoning.effort must be one of none, minimal, low, medium, high");
        cJSON_Delete(inf);
        goto out;
    }
    if (is_anthropic_model(model) && (cJSON_IsObject(thinking) || budget > 0)) {
        cJSON *amf = cJSON_AddObjectToObject(body, "additionalModelRequestFields");
        if (cJSON_IsObject(thinking)) {
            cJSON_AddItemToObject(amf, "thinking", cJSON_Duplicate(thinking, 1));
        } else {
            cJSON *th = cJSON_AddObjectToObject(amf, "thinking");
            cJSON_AddStringToObject(th, "type", "enabled");
            cJSON_AddNumberToObject(th, "budget_tokens", (double)budget);
            const cJSON *cur = gr_provider_get(inf, "maxTokens"); /* room for the budget and the answer */
            double answer = cJSON_IsNumber(cur) ? cur->valuedouble : GR_ANTHROPIC_DEFAULT_MAX_TOKENS;
            cJSON_DeleteItemFromObjectCaseSensitive(inf, "maxTokens");
            cJSON_AddNumberToObject(inf, "maxTokens", (double)budget + answer);
            cJSON_DeleteItemFromObjectCaseSensitive(inf, "temperature"); /* refused with thinking */
        }
    }
    if (cJSON_GetArraySize(inf) > 0) cJSON_AddItemToObject(body, "inferenceConfig", inf);
    else cJSON_Delete(inf);

    if (!gr_provider_set_body(out, body)) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Bedrock request");
        rc = GR_ERR_NOMEM;
        goto out;
    }
    bool stream = ctx->stream || cJSON_IsTrue(gr_provider_get(req, "stream"));
    if (!gr_bedrock_finish_request(ctx, model, stream ? "converse-stream" : "converse",
                                   stream ? "application/vnd.amazon.eventstream" : "application/json", out, err))
        goto out;
    rc = GR_OK;
out:
    if (rc != GR_OK) gr_http_request_free(out);
    cJSON_Delete(body);
    return rc;
}

/* ---- response: Converse -> canonical ---- */

static const char *finish_reason_for(const char *stop_reason) {
    if (!stop_reason) return "stop";
    if (!strcmp(stop_reason, "max_tokens") || !strcmp(stop_reason, "model_context_window_exceeded")) return "length";
    if (!strcmp(stop_reason, "tool_use")) return "tool_calls";
    if (!strcmp(stop_reason, "guardrail_intervened") || !strcmp(stop_reason, "content_filtered")) return "content_filter";
    return "stop"; /* end_turn, stop_sequence */
}

static int64_t num0(const cJSON *o, const char *k) {
    const cJSON *v = gr_provider_get(o, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (v->valuedouble < 1e15 ? (int64_t)v->valuedouble : INT64_C(1000000000000000)) : 0;
}

/* Converse usage (inputTokens excludes cache reads and writes) -> gr_usage. */
static void usage_merge(const cJSON *bu, gr_usage *u) {
    if (!cJSON_IsObject(bu)) return;
    u->cached_tokens = num0(bu, "cacheReadInputTokens");
    u->cache_write_tokens = num0(bu, "cacheWriteInputTokens");
    u->prompt_tokens = num0(bu, "inputTokens") + u->cached_tokens + u->cache_write_tokens;
    u->completion_tokens = num0(bu, "outputTokens");
    u->present = true;
}

static void sb_append(char **buf, size_t *len, const char *s) {
    size_t sl = strlen(s);
    *buf = gr_xrealloc(*buf, *len + sl + 1);
    memcpy(*buf + *len, s, sl + 1);
    *len += sl;
}

static gr_status parse_chat_response(const gr_adapter_ctx *ctx, const char *body, size_t len, cJSON **out,
                                     gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    cJSON *root = gr_provider_parse_json(body, len);
    const cJSON *content = gr_provider_get(gr_provider_get(gr_provider_get(root, "output"), "message"), "content");
    if (!cJSON_IsArray(content)) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Bedrock returned a malformed Converse response");
        return GR_ERR_PARSE;
    }
    char *text = NULL, *reasoning = NULL;
    size_t tlen = 0, rlen = 0;
    cJSON *tool_calls = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *t = gr_provider_get_str(b, "text");
        const cJSON *tu = gr_provider_get(b, "toolUse");
        const cJSON *rc = gr_provider_get(b, "reasoningContent");
        if (t) {
            sb_append(&text, &tlen, t);
        } else if (cJSON_IsObject(tu)) {
            const cJSON *input = gr_provider_get(tu, "input");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            const char *id = gr_provider_get_str(tu, "toolUseId");
            const char *name = gr_provider_get_str(tu, "name");
            cJSON_AddItemToArray(tool_calls, gr_provider_tool_call(-1, id ? id : "", name ? name : "", args ? args : "{}"));
            if (args) cJSON_free(args);
        } else if (cJSON_IsObject(rc)) {
            const char *rt = gr_provider_get_str(gr_provider_get(rc, "reasoningText"), "text");
            if (rt) sb_append(&reasoning, &rlen, rt);
        }
        /* image, document, guardContent, citations: nothing canonical to map to */
    }
    gr_usage u = {0};
    usage_merge(gr_provider_get(root, "usage"), &u);
    cJSON *resp = gr_provider_completion(ctx, NULL, NULL, text, reasoning, tool_calls,
                                         finish_reason_for(gr_provider_get_str(root, "stopReason")), &u);
    if (usage) *usage = u;
    free(text);
    free(reasoning);
    cJSON_Delete(root);
    *out = resp;
    return GR_OK;
}

/* ---- streaming: ConverseStream events -> chunks ---- */

#define MAX_BLOCKS 4096 /* content block indexes beyond this are treated as bad bytes */

typedef struct bedrock_stream {
    gr_adapter_ctx ctx;
    char *owned[3];
    int *block_tool; /* content block index -> tool_calls index (-1: not a tool) */
    int nblocks, ntools;
    bool started, finished, failed;
    gr_usage usage;
} bedrock_stream;

static gr_stream_translator *stream_new(const gr_adapter_ctx *ctx) {
    bedrock_stream *s = gr_xcalloc(1, sizeof(*s));
    gr_provider_ctx_own(&s->ctx, s->owned, ctx);
    return (gr_stream_translator *)s;
}

static void stream_free(gr_stream_translator *st) {
    bedrock_stream *s = (bedrock_stream *)st;
    if (!s) return;
    gr_provider_ctx_release(s->owned);
    free(s->block_tool);
    free(s);
}

static cJSON *new_chunk(bedrock_stream *s, cJSON **delta) { return gr_provider_chunk_new(&s->ctx, NULL, NULL, 0, delta); }

/* The block index of an event, or -1 when absent / out of range. */
static int block_index(const cJSON *data) {
    const cJSON *ix = gr_provider_get(data, "contentBlockIndex");
    if (!cJSON_IsNumber(ix) || ix->valuedouble < 0 || ix->valuedouble >= MAX_BLOCKS) return -1;
    return (int)ix->valuedouble;
}

static gr_status on_block_start(bedrock_stream *s, const cJSON *data, gr_chunk_emit_fn emit, void *ud,
                                gr_upstream_error *err) {
    int bi = block_index(data);
    const cJSON *tu = gr_provider_get(gr_provider_get(data, "start"), "toolUse");
    if (bi < 0) {
        gr_provider_bad_upstream(err, "Bedrock sent a malformed contentBlockStart event");
        return GR_ERR_PARSE;
    }
    gr_provider_block_map_grow(&s->block_tool, &s->nblocks, bi);
    if (!cJSON_IsObject(tu)) return GR_OK;
    int ti = s->ntools++;
    s->block_tool[bi] = ti;
    const char *id = gr_provider_get_str(tu, "toolUseId");
    const char *name = gr_provider_get_str(tu, "name");
    return gr_provider_emit_chunk(
        gr_provider_tool_chunk(&s->ctx, NULL, NULL, gr_provider_tool_call(ti, id ? id : "", name ? name : "", "")), emit,
        ud, err);
}

static gr_status on_block_delta(bedrock_stream *s, const cJSON *data, gr_chunk_emit_fn emit, void *ud,
                                gr_upstream_error *err) {
    int bi = block_index(data);
    const cJSON *d = gr_provider_get(data, "delta");
    if (bi < 0 || !cJSON_IsObject(d)) {
        gr_provider_bad_upstream(err, "Bedrock sent a malformed contentBlockDelta event");
        return GR_ERR_PARSE;
    }
    cJSON *delta;
    const char *t = gr_provider_get_str(d, "text");
    const cJSON *tu = gr_provider_get(d, "toolUse");
    const char *rt = gr_provider_get_str(gr_provider_get(d, "reasoningContent"), "text");
    if (t) {
        if (!t[0]) return GR_OK;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, "content", t);
        return gr_provider_emit_chunk(c, emit, ud, err);
    }
    if (rt) {
        if (!rt[0] || s->ctx.exclude_reasoning) return GR_OK;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, "reasoning_content", rt);
        return gr_provider_emit_chunk(c, emit, ud, err);
    }
    if (cJSON_IsObject(tu)) {
        if (bi >= s->nblocks || s->block_tool[bi] < 0) {
            gr_provider_bad_upstream(err, "Bedrock sent toolUse input for a block that is not a tool call");
            return GR_ERR_PARSE;
        }
        const char *in = gr_provider_get_str(tu, "input");
        if (!in || !in[0]) return GR_OK;
        return gr_provider_emit_chunk(
            gr_provider_tool_chunk(&s->ctx, NULL, NULL, gr_provider_tool_call(s->block_tool[bi], NULL, NULL, in)), emit, ud,
            err);
    }
    return GR_OK; /* reasoning signature / redactedContent, citations: no canonical equivalent */
}

/* An exception message (":exception", exception type in ev->id) or an error
 * message (":error", code in ev->id, text in data): the stream failed. */
static gr_status on_exception(bedrock_stream *s, const gr_sse_event *ev, gr_upstream_error *err) {
    s->failed = true;
    int status = 502;
    const char *name = error_name(ev->id.ptr, ev->id.len, &status);
    if (ev->event.len == 6) { /* ":error" */
        set_error(err, 502, NULL, ev->data.ptr);
    } else {
        cJSON *j = gr_provider_parse_json(ev->data.ptr, ev->data.len);
        set_error(err, status, name, message_of(j));
        cJSON_Delete(j);
    }
    if (!name && ev->id.len) { /* an exception we do not know: keep its name */
        snprintf(err->code_buf, sizeof err->code_buf, "%.*s", (int)ev->id.len, ev->id.ptr);
        err->code = err->code_buf;
    }
    return GR_ERR_INVALID;
}

static gr_status stream_event(gr_stream_translator *st, const gr_sse_event *ev, gr_chunk_emit_fn emit, void *ud,
                              gr_upstream_error *err) {
    bedrock_stream *s = (bedrock_stream *)st;
    if (!s || !ev) return GR_ERR_INVALID;
    if (s->failed) {
        gr_provider_bad_upstream(err, "Bedrock stream already failed");
        return GR_ERR_INVALID;
    }
    if (ev->event.len && ev->event.ptr[0] == ':') return on_exception(s, ev, err);
    cJSON *data = gr_provider_parse_json(ev->data.ptr, ev->data.len);
    gr_status rc = GR_OK;
    if (!cJSON_IsObject(data)) {
        gr_provider_bad_upstream(err, "Bedrock sent a malformed stream event");
        rc = GR_ERR_PARSE;
        goto out;
    }
    cJSON *delta;
    if (gr_str_eq_c(ev->event, "messageStart")) {
        s->started = true;
        cJSON *c = new_chunk(s, &delta);
        cJSON_AddStringToObject(delta, "role", "assistant");
        cJSON_AddStringToObject(delta, "content", "");
        rc = gr_provider_emit_chunk(c, emit, ud, err);
    } else if (gr_str_eq_c(ev->event, "contentBlockStart")) {
        rc = on_block_start(s, data, emit, ud, err);
    } else if (gr_str_eq_c(ev->event, "contentBlockDelta")) {
        rc = on_block_delta(s, data, emit, ud, err);
    } else if (gr_str_eq_c(ev->event, "messageStop")) {
        if (!s->finished) {
            s->finished = true;
            rc = gr_provider_emit_chunk(
                gr_provider_finish_chunk(&s->ctx, NULL, NULL, finish_reason_for(gr_provider_get_str(data, "stopReason"))),
                emit, ud, err);
        }
    } else if (gr_str_eq_c(ev->event, "metadata")) {
        usage_merge(gr_provider_get(data, "usage"), &s->usage);
    }
    /* contentBlockStop and event types added later: nothing to emit */
out:
    if (rc == GR_ERR_PARSE) s->failed = true;
    cJSON_Delete(data);
    return rc;
}

static gr_status stream_finish(gr_stream_translator *st, gr_chunk_emit_fn emit, void *ud, gr_usage *usage,
                               gr_upstream_error *err) {
    bedrock_stream *s = (bedrock_stream *)st;
    if (!s) return GR_ERR_INVALID;
    return gr_provider_stream_end(&s->ctx, &s->usage, s->failed, s->finished, "Bedrock stream failed",
                                  "Bedrock stream ended before the message was complete", NULL, NULL, emit, ud, usage,
                                  err);
}

const gr_provider_ops gr_bedrock_ops = {
    .kind = "bedrock",
    .framing = GR_FRAMING_AWS_EVENTSTREAM,
    GR_PROVIDER_TRANSLATOR_OPS,
    .build_embeddings_request = gr_bedrock_build_embeddings,
    .parse_embeddings_response = gr_bedrock_parse_embeddings,
};
