/* provider_gemini.c — Google Gemini adapter: canonical (OpenAI chat) request
 * -> POST <base_url>/models/<model>:generateContent (or
 * :streamGenerateContent?alt=sse), GenerateContentResponse (whole or one per
 * SSE event) -> canonical chat.completion / chat.completion.chunk, Google
 * error bodies -> client errors. Mapping decisions: docs/PROVIDERS.md. */
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#define MAX_CANDIDATES 16

/* ---- errors ---- */

static const char *google_codes[] = {
    "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNAUTHENTICATED",
    "PERMISSION_DENIED", "NOT_FOUND", "ALREADY_EXISTS", "RESOURCE_EXHAUSTED", "CANCELLED",
    "DATA_LOSS", "UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "UNIMPLEMENTED",
    "ABORTED",
};

static const char *google_code(const char *s) {
    for (size_t i = 0; s && i < GR_ARRAY_LEN(google_codes); i++)
        if (strcmp(s, google_codes[i]) == 0) return google_codes[i];
    return NULL;
}

static bool has_reason(const cJSON *e, const char *reason) {
    const cJSON *d;
    cJSON_ArrayForEach(d, gr_provider_get(e, "details")) {
        const char *r = gr_provider_get_str(d, "reason");
        if (r && strcmp(r, reason) == 0) return true;
    }
    return false;
}

/* Fill err from {"error":{code,message,status,details}}; http = 0 uses error.code. */
static void error_from_json(const cJSON *root, int http, gr_upstream_error *err) {
    const cJSON *e = gr_provider_get(root, "error");
    const cJSON *code = gr_provider_get(e, "code");
    int st = http ? http : cJSON_IsNumber(code) ? code->valueint : 502; /* saturated */
    if (has_reason(e, "API_KEY_INVALID")) st = 401; /* Google says 400 for a bad key */
    st = gr_provider_upstream_status(st);
    const char *msg = gr_provider_get_str(e, "message");
    gr_provider_error_set(err, st, NULL, "%s", msg && msg[0] ? msg : "Gemini reported an error");
    err->code = google_code(gr_provider_get_str(e, "status"));
}

static void map_error(const gr_adapter_ctx *ctx, int status, const char *body, size_t len,
                      gr_upstream_error *err) {
    (void)ctx;
    cJSON *root = gr_provider_parse_json(body, len);
    if (cJSON_IsArray(root)) { /* some Google front ends wrap the error in an array */
        cJSON *first = cJSON_DetachItemFromArray(root, 0);
        cJSON_Delete(root);
        root = first;
    }
    if (cJSON_IsObject(gr_provider_get(root, "error"))) {
        error_from_json(root, status ? status : 502, err);
    } else {
        int st = gr_provider_upstream_status(status);
        if (body && len)
            gr_provider_error_set(err, st, NULL, "Gemini returned HTTP %d: %.*s", status,
                                  (int)(len > 200 ? 200 : len), body);
        else
            gr_provider_error_set(err, st, NULL, "Gemini returned HTTP %d", status);
    }
    cJSON_Delete(root);
}

/* ---- request: canonical -> Gemini ---- */

/* JSON Schema -> Gemini Schema (an OpenAPI 3.0 subset). Keys outside the
 * subset ($schema, additionalProperties, $ref, $defs, strict, const, ...) are
 * dropped; a type array ["string","null"] becomes type + nullable. */
static cJSON *clean_schema(const cJSON *s) {
    static const char *keep[] = {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems",
        "properties", "required", "minProperties", "maxProperties", "minLength", "maxLength",
        "pattern", "example", "anyOf", "propertyOrdering", "default", "items", "minimum",
        "maximum",
    };
    if (!cJSON_IsObject(s)) return cJSON_Duplicate(s, 1);
    cJSON *o = cJSON_CreateObject();
    const cJSON *kv;
    cJSON_ArrayForEach(kv, s) {
        const char *k = kv->string;
        bool ok = false;
        for (size_t i = 0; i < GR_ARRAY_LEN(keep); i++)
            if (strcmp(k, keep[i]) == 0) ok = true;
        if (!ok) {
            if (strcmp(k, "const") == 0 && cJSON_IsString(kv) && !gr_provider_get(s, "enum")) {
                cJSON *e = cJSON_AddArrayToObject(o, "enum");
                cJSON_AddItemToArray(e, cJSON_CreateString(kv->valuestring));
            }
            continue;
        }
        if (strcmp(k, "type") == 0 && cJSON_IsArray(kv)) {
            const cJSON *t;
            const char *first = NULL;
            bool nullable = false;
            cJSON_ArrayForEach(t, kv) {
                if (!cJSON_IsString(t)) continue;
                if (strcmp(t->valuestring, "null") == 0) nullable = true;
                else if (!first) first = t->valuestring;
            }
            if (first) cJSON_AddStringToObject(o, "type", first);
            if (nullable) cJSON_AddTrueToObject(o, "nullable");
        } else if (strcmp(k, "properties") == 0 && cJSON_IsObject(kv)) {
            cJSON *p = cJSON_AddObjectToObject(o, "properties");
            const cJSON *prop;
            cJSON_ArrayForEach(prop, kv) cJSON_AddItemToObject(p, prop->string, clean_schema(prop));
        } else if (strcmp(k, "items") == 0) {
            cJSON_AddItemToObject(o, "items", clean_schema(kv));
        } else if (strcmp(k, "anyOf") == 0 && cJSON_IsArray(kv)) {
            cJSON *a = cJSON_AddArrayToObject(o, "anyOf");
            const cJSON *x;
            cJSON_ArrayForEach(x, kv) cJSON_AddItemToArray(a, clean_schema(x));
        } else if (strcmp(k, "format") == 0) {
            static const char *fmts[] = {"enum", "date-time", "int32", "int64", "float", "double"};
            for (size_t i = 0; cJSON_IsString(kv) && i < GR_ARRAY_LEN(fmts); i++)
                if (strcmp(kv->valuestring, fmts[i]) == 0)
                    cJSON_AddStringToObject(o, "format", kv->valuestring);
        } else {
            cJSON_AddItemToObject(o, k, cJSON_Duplicate(kv, 1));
        }
    }
    return o;
}

static const char *mime_from_url(const char *url) {
    const char *dot = strrchr(url, '.');
    if (!dot || strchr(dot, '/')) return NULL;
    static const struct { const char *ext, *mime; } m[] = {
        {".png", "image/png"},   {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},   {".webp", "image/webp"},       {".pdf", "application/pdf"},
        {".mp3", "audio/mpeg"},  {".wav", "audio/wav"},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(m); i++)
        if (strncasecmp(dot, m[i].ext, strlen(m[i].ext)) == 0 &&
            (dot[strlen(m[i].ext)] == '\0' || dot[strlen(m[i].ext)] == '?'))
            return m[i].mime;
    return NULL;
}

static cJSON *text_part(const char *t) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", t);
    return p;
}

static bool content_to_parts(const cJSON *content, cJSON *parts, gr_upstream_error *err) {
    if (cJSON_IsString(content)) {
        if (content->valuestring[0]) cJSON_AddItemToArray(parts, text_part(content->valuestring));
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
        const char *type = gr_provider_get_str(part, "type");
        if (type && strcmp(type, "text") == 0) {
            const char *t = gr_provider_get_str(part, "text");
            if (t && t[0]) cJSON_AddItemToArray(parts, text_part(t));
            continue;
        }
        if (type && (strcmp(type, "image_url") == 0 || strcmp(type, "file") == 0)) {
            bool image = type[0] == 'i';
            const cJSON *h = gr_provider_get(part, image ? "image_url" : "file");
            const char *url = cJSON_IsString(h) ? h->valuestring
                                                : gr_provider_get_str(h, image ? "url" : "file_data");
            char *mime = NULL;
            const char *data = NULL;
            cJSON *p = cJSON_CreateObject();
            if (url && gr_provider_parse_data_url(url, &mime, &data)) {
                cJSON *in = cJSON_AddObjectToObject(p, "inlineData");
                cJSON_AddStringToObject(in, "mimeType", mime);
                cJSON_AddStringToObject(in, "data", data);
                free(mime);
            } else if (url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 ||
                               strncmp(url, "gs://", 5) == 0)) {
                cJSON *fd = cJSON_AddObjectToObject(p, "fileData");
                const char *mt = mime_from_url(url);
                if (mt) cJSON_AddStringToObject(fd, "mimeType", mt);
                cJSON_AddStringToObject(fd, "fileUri", url);
            } else {
                cJSON_Delete(p);
                gr_provider_error_set(err, 400, "invalid_request_error",
                                      "unsupported %s URL: expected a base64 data: URL or a URL",
                                      type);
                return false;
            }
            cJSON_AddItemToArray(parts, p);
            continue;
        }
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "content part type '%s' is not supported by Gemini",
                              type ? type : "(none)");
        return false;
    }
    return true;
}

/* Find the function name of tool_call id among assistant messages before `upto`. */
static const char *tool_name_for(const cJSON *messages, const cJSON *upto, const char *id) {
    const char *found = NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        if (m == upto) break;
        const cJSON *tc;
        cJSON_ArrayForEach(tc, gr_provider_get(m, "tool_calls")) {
            const char *tid = gr_provider_get_str(tc, "id");
            if (tid && strcmp(tid, id) == 0)
                found = gr_provider_get_str(gr_provider_get(tc, "function"), "name");
        }
    }
    return found;
}

static void push_turn(cJSON *contents, const char *role, cJSON *parts) { gr_provider_push_turn(contents, role, "parts", parts); }

static bool has_properties(const cJSON *schema) {
    const cJSON *p = gr_provider_get(schema, "properties");
    return cJSON_IsObject(p) && p->child;
}

static cJSON *convert_tools(const cJSON *tools, gr_upstream_error *err) {
    cJSON *out = cJSON_CreateArray();
    cJSON *t0 = cJSON_CreateObject();
    cJSON_AddItemToArray(out, t0);
    cJSON *decls = cJSON_AddArrayToObject(t0, "functionDeclarations");
    const cJSON *t;
    cJSON_ArrayForEach(t, tools) {
        const char *type = gr_provider_get_str(t, "type");
        const cJSON *fn = gr_provider_get(t, "function");
        const char *name = gr_provider_get_str(fn, "name");
        if ((type && strcmp(type, "function") != 0) || !name) {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "only function tools with a name are supported by Gemini");
            cJSON_Delete(out);
            return NULL;
        }
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "name", name);
        const char *desc = gr_provider_get_str(fn, "description");
        if (desc) cJSON_AddStringToObject(d, "description", desc);
        const cJSON *params = gr_provider_get(fn, "parameters");
        /* Gemini rejects an OBJECT schema with no properties: omit it then */
        if (has_properties(params)) cJSON_AddItemToObject(d, "parameters", clean_schema(params));
        cJSON_AddItemToArray(decls, d);
    }
    return out;
}

static cJSON *convert_tool_choice(const cJSON *tc, gr_upstream_error *err) {
    cJSON *cfg = cJSON_CreateObject();
    cJSON *fcc = cJSON_AddObjectToObject(cfg, "functionCallingConfig");
    const char *s = cJSON_IsString(tc) ? tc->valuestring : NULL;
    const char *fname = gr_provider_get_str(gr_provider_get(tc, "function"), "name");
    if (s && strcmp(s, "auto") == 0) {
        cJSON_AddStringToObject(fcc, "mode", "AUTO");
    } else if (s && strcmp(s, "none") == 0) {
        cJSON_AddStringToObject(fcc, "mode", "NONE");
    } else if (s && strcmp(s, "required") == 0) {
        cJSON_AddStringToObject(fcc, "mode", "ANY");
    } else if (fname) {
        cJSON_AddStringToObject(fcc, "mode", "ANY");
        cJSON *a = cJSON_AddArrayToObject(fcc, "allowedFunctionNames");
        cJSON_AddItemToArray(a, cJSON_CreateString(fname));
    } else {
        cJSON_Delete(cfg);
        gr_provider_error_set(err, 400, "invalid_request_error", "unsupported tool_choice");
        return NULL;
    }
    return cfg;
}

static void copy_num(cJSON *dst, const char *dkey, const cJSON *src, const char *skey) {
    const cJSON *v = gr_provider_get(src, skey);
    if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(dst, dkey, v->valuedouble);
}

static const char *model_path(const gr_adapter_ctx *ctx, const cJSON *req) {
    const char *m = ctx && ctx->upstream_model ? ctx->upstream_model
                                               : gr_provider_get_str(req, "model");
    if (!m) return "";
    return strncmp(m, "models/", 7) == 0 ? m + 7 : m;
}

static gr_status build_chat_request(const gr_adapter_ctx *ctx, const cJSON *req,
                                    gr_http_request *out, gr_upstream_error *err) {
    gr_status rc = GR_ERR_INVALID;
    cJSON *body = cJSON_CreateObject();
    memset(out, 0, sizeof(*out));
    const cJSON *messages = gr_provider_get(req, "messages");
    if (!cJSON_IsArray(messages)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "'messages' must be an array");
        goto out;
    }
    cJSON *contents = cJSON_AddArrayToObject(body, "contents");
    cJSON *sys_parts = cJSON_CreateArray();
    const cJSON *m;
    int idx = 0;
    cJSON_ArrayForEach(m, messages) {
        const char *role = gr_provider_get_str(m, "role");
        const cJSON *content = gr_provider_get(m, "content");
        cJSON *parts = cJSON_CreateArray();
        const char *grole = "user";
        bool ok = true;
        if (!role) {
            gr_provider_error_set(err, 400, "invalid_request_error", "messages[%d].role missing",
                                  idx);
            ok = false;
        } else if (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0) {
            char *t = gr_provider_content_text(content);
            if (t && t[0]) cJSON_AddItemToArray(sys_parts, text_part(t));
            free(t);
        } else if (strcmp(role, "user") == 0) {
            ok = content_to_parts(content, parts, err);
        } else if (strcmp(role, "assistant") == 0) {
            grole = "model";
            char *t = gr_provider_content_text(content);
            if (t && t[0]) cJSON_AddItemToArray(parts, text_part(t));
            free(t);
            const cJSON *tc;
            cJSON_ArrayForEach(tc, gr_provider_get(m, "tool_calls")) {
                const cJSON *fn = gr_provider_get(tc, "function");
                const char *name = gr_provider_get_str(fn, "name");
                if (!name) {
                    gr_provider_error_set(err, 400, "invalid_request_error",
                                          "messages[%d].tool_calls entry without function.name",
                                          idx);
                    ok = false;
                    break;
                }
                cJSON *p = gr_gemini_function_call_part(name, gr_provider_get_str(fn, "arguments"));
                /* the signature Gemini gave this call, echoed back as it asks */
                const char *sig = gr_provider_get_str(
                    gr_provider_get(gr_provider_get(tc, "extra_content"), "google"), "thought_signature");
                if (sig) cJSON_AddStringToObject(p, "thoughtSignature", sig);
                cJSON_AddItemToArray(parts, p);
            }
        } else if (strcmp(role, "tool") == 0) {
            const char *id = gr_provider_get_str(m, "tool_call_id");
            const char *name = id ? tool_name_for(messages, m, id) : NULL;
            if (!name) name = gr_provider_get_str(m, "name");
            if (!name) {
                gr_provider_error_set(err, 400, "invalid_request_error",
                                      "messages[%d]: no assistant tool_call matches tool_call_id "
                                      "'%s'",
                                      idx, id ? id : "");
                ok = false;
            } else {
                char *t = gr_provider_content_text(content);
                cJSON *resp = t ? cJSON_Parse(t) : NULL;
                if (!cJSON_IsObject(resp)) { /* Gemini wants an object (google.protobuf.Struct) */
                    cJSON_Delete(resp);
                    resp = cJSON_CreateObject();
                    cJSON_AddStringToObject(resp, "content", t ? t : "");
                }
                free(t);
                cJSON *p = cJSON_CreateObject();
                cJSON *fr = cJSON_AddObjectToObject(p, "functionResponse");
                cJSON_AddStringToObject(fr, "name", name);
                cJSON_AddItemToObject(fr, "response", resp);
                cJSON_AddItemToArray(parts, p);
            }
        } else {
            gr_provider_error_set(err, 400, "invalid_request_error",
                                  "messages[%d]: role '%s' is not supported", idx, role);
            ok = false;
        }
        if (!ok) {
            cJSON_Delete(parts);
            cJSON_Delete(sys_parts);
            goto out;
        }
        push_turn(contents, grole, parts);
        idx++;
    }
    if (cJSON_GetArraySize(sys_parts) > 0) {
        cJSON *si = cJSON_AddObjectToObject(body, "systemInstruction");
        cJSON_AddItemToObject(si, "parts", sys_parts);
    } else {
        cJSON_Delete(sys_parts);
    }
    const cJSON *tools = gr_provider_get(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *t = convert_tools(tools, err);
        if (!t) goto out;
        cJSON_AddItemToObject(body, "tools", t);
        const cJSON *tc = gr_provider_get(req, "tool_choice");
        if (tc && !cJSON_IsNull(tc)) {
            cJSON *c = convert_tool_choice(tc, err);
            if (!c) goto out;
            cJSON_AddItemToObject(body, "toolConfig", c);
        }
    }
    cJSON *gc = cJSON_CreateObject();
    const cJSON *stop = gr_provider_get(req, "stop");
    if (cJSON_IsString(stop)) {
        cJSON *a = cJSON_AddArrayToObject(gc, "stopSequences");
        cJSON_AddItemToArray(a, cJSON_CreateString(stop->valuestring));
    } else if (cJSON_IsArray(stop) && cJSON_GetArraySize(stop) > 0) {
        cJSON_AddItemToObject(gc, "stopSequences", cJSON_Duplicate(stop, 1));
    }
    copy_num(gc, "temperature", req, "temperature");
    copy_num(gc, "topP", req, "top_p");
    copy_num(gc, "topK", req, "top_k");
    const cJSON *mt = gr_provider_get(req, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = gr_provider_get(req, "max_tokens");
    const cJSON *reasoning = gr_provider_get(req, "reasoning");
    bool reasoning_asked = cJSON_IsObject(reasoning) || gr_provider_get_str(req, "reasoning_effort");
    int64_t budget = reasoning_asked ? gr_gemini_thinking_budget(req) : 0;
    if (budget < 0) {
        cJSON_Delete(gc);
        gr_provider_error_set(err, 400, "invalid_request_error",
                              "reasoning_effort / reasoning.effort must be one of none, minimal, low, medium, high");
        goto out;
    }
    if (reasoning_asked) {
        cJSON *tc = cJSON_AddObjectToObject(gc, "thinkingConfig");
        cJSON_AddNumberToObject(tc, "thinkingBudget", (double)budget);
        if (budget > 0 && !cJSON_IsTrue(gr_provider_get(reasoning, "exclude"))) cJSON_AddTrueToObject(tc, "includeThoughts");
    } /* else the model's own default thinking (reserved: gr_gemini_default_thinking) */
    /* thoughts may count against maxOutputTokens: room for the budget and the answer */
    if (cJSON_IsNumber(mt)) cJSON_AddNumberToObject(gc, "maxOutputTokens", mt->valuedouble + (double)budget);
    const cJSON *n = gr_provider_get(req, "n");
    if (cJSON_IsNumber(n) && n->valuedouble > 1) {
        if (n->valuedouble > MAX_CANDIDATES) {
            cJSON_Delete(gc);
            gr_provider_error_set(err, 400, "invalid_request_error", "n must be at most %d",
                                  MAX_CANDIDATES);
            goto out;
        }
        cJSON_AddNumberToObject(gc, "candidateCount", n->valuedouble);
    }
    copy_num(gc, "presencePenalty", req, "presence_penalty");
    copy_num(gc, "frequencyPenalty", req, "frequency_penalty");
    copy_num(gc, "seed", req, "seed");
    const cJSON *rf = gr_provider_get(req, "response_format");
    const char *rft = gr_provider_get_str(rf, "type");
    if (rft && (strcmp(rft, "json_object") == 0 || strcmp(rft, "json_schema") == 0)) {
        cJSON_AddStringToObject(gc, "responseMimeType", "application/json");
        const cJSON *schema = gr_provider_get(gr_provider_get(rf, "json_schema"), "schema");
        if (cJSON_IsObject(schema))
            cJSON_AddItemToObject(gc, "responseSchema", clean_schema(schema));
    }
    if (gc->child) cJSON_AddItemToObject(body, "generationConfig", gc);
    else cJSON_Delete(gc);
    const cJSON *safety = gr_provider_get(req, "safetySettings"); /* Gemini's own field, passed through */
    if (!safety) safety = gr_provider_get(req, "safety_settings");
    if (cJSON_IsArray(safety)) cJSON_AddItemToObject(body, "safetySettings", cJSON_Duplicate(safety, 1));

    if (!gr_provider_set_body(out, body)) {
        gr_provider_error_set(err, 500, "api_error", "could not serialize the Gemini request");
        rc = GR_ERR_NOMEM;
        goto out;
    }
    bool stream = (ctx && ctx->stream) || cJSON_IsTrue(gr_provider_get(req, "stream"));
    const gr_provider_conf *pc = ctx ? ctx->provider : NULL;
    const char *mp = model_path(ctx, req);
    const char *suffix = stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    size_t plen = strlen("/models/") + strlen(mp) + strlen(suffix) + 1;
    char *path = gr_xmalloc(plen);
    snprintf(path, plen, "/models/%s%s", mp, suffix);
    out->url = gr_provider_url(pc && pc->base_url
                                   ? pc->base_url
                                   : "https://generativelanguage.googleapis.com/v1beta",
                               path);
    free(path);
    gr_http_request_add_header(out, "content-type: application/json");
    if (pc && pc->api_key) gr_http_request_add_header(out, "x-goog-api-key: %s", pc->api_key);
    gr_provider_add_conf_headers(pc, out);
    rc = GR_OK;
out:
    if (rc != GR_OK) gr_http_request_free(out);
    cJSON_Delete(body);
    return rc;
}

/* ---- response: Gemini -> canonical ---- */

static bool is_filter_reason(const char *r) {
    return r && (strstr(r, "SAFETY") || strstr(r, "RECITATION") || strstr(r, "PROHIBITED") ||
                 strstr(r, "BLOCKLIST") || strstr(r, "SPII"));
}

static const char *finish_reason_for(const char *r, bool tools) {
    if (!r) return tools ? "tool_calls" : "stop";
    if (strcmp(r, "MAX_TOKENS") == 0) return "length";
    if (is_filter_reason(r)) return "content_filter";
    return tools ? "tool_calls" : "stop"; /* STOP, OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL, ... */
}

static int64_t num0(const cJSON *o, const char *k) {
    const cJSON *v = gr_provider_get(o, k);
    return cJSON_IsNumber(v) && v->valuedouble > 0 ? (v->valuedouble < 1e15 ? (int64_t)v->valuedouble : INT64_C(1000000000000000)) : 0;
}

/* promptTokenCount includes cached tokens; candidatesTokenCount excludes thoughts. */
static void usage_from(const cJSON *um, gr_usage *u) {
    if (!cJSON_IsObject(um)) return;
    u->prompt_tokens = num0(um, "promptTokenCount") + num0(um, "toolUsePromptTokenCount");
    u->cached_tokens = num0(um, "cachedContentTokenCount");
    u->reasoning_tokens = num0(um, "thoughtsTokenCount");
    u->completion_tokens = num0(um, "candidatesTokenCount") + u->reasoning_tokens;
    u->present = true;
}

static void refusal_text(char *buf, size_t n, const cJSON *root, const char *finish) {
    const cJSON *pf = gr_provider_get(root, "promptFeedback");
    const char *br = gr_provider_get_str(pf, "blockReason");
    if (br) {
        const char *bm = gr_provider_get_str(pf, "blockReasonMessage");
        snprintf(buf, n, "The prompt was blocked by Gemini's safety filters (blockReason: %s)%s%s",
                 br, bm ? ": " : "", bm ? bm : "");
    } else {
        snprintf(buf, n, "Gemini stopped the response (finishReason: %s)", finish ? finish : "");
    }
}

/* Collect text / thought / functionCall parts of one candidate. */
typedef struct cand_parts {
    char *text, *thought;
    size_t tlen, thlen;
    cJSON *tool_calls; /* canonical entries with index */
} cand_parts;

static void sb_append(char **b, size_t *len, const char *s) {
    size_t sl = strlen(s);
    *b = gr_xrealloc(*b, *len + sl + 1);
    memcpy(*b + *len, s, sl + 1);
    *len += sl;
}

/* Gemini's function calls carry no id (or one of their own): one is made
 * unique to this reply, from the gateway's id for it, since clients keep a
 * conversation's calls apart by id (the Agents SDK pairs calls and outputs
 * by call_id across turns; OpenAI's ids never repeat). */
static void call_id(char *out, size_t n, const cJSON *fc, const gr_adapter_ctx *ctx, int k) {
    const char *own = gr_provider_get_str(fc, "id");
    if (own && own[0]) snprintf(out, n, "%s", own);
    else if (ctx && ctx->request_id && ctx->request_id[0]) snprintf(out, n, "call_%s_%d", ctx->request_id, k);
    else snprintf(out, n, "call_%d", k);
}

static void collect_parts(const cJSON *cand, cand_parts *cp, int *tool_index, int *id_counter,
                          bool with_index, const gr_adapter_ctx *ctx) {
    const cJSON *p;
    cJSON_ArrayForEach(p, gr_provider_get(gr_provider_get(cand, "content"), "parts")) {
        const char *t = gr_provider_get_str(p, "text");
        const cJSON *fc = gr_provider_get(p, "functionCall");
        if (t) {
            if (!t[0]) continue; /* empty text parts carry nothing */
            if (cJSON_IsTrue(gr_provider_get(p, "thought"))) sb_append(&cp->thought, &cp->thlen, t);
            else sb_append(&cp->text, &cp->tlen, t);
        } else if (cJSON_IsObject(fc)) {
            if (!cp->tool_calls) cp->tool_calls = cJSON_CreateArray();
            cJSON *tc = cJSON_CreateObject();
            if (with_index) cJSON_AddNumberToObject(tc, "index", (*tool_index)++);
            char id[160];
            call_id(id, sizeof(id), fc, ctx, (*id_counter)++);
            cJSON_AddStringToObject(tc, "id", id);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            const char *name = gr_provider_get_str(fc, "name");
            cJSON_AddStringToObject(fn, "name", name ? name : "");
            const cJSON *args = gr_provider_get(fc, "args");
            char *a = args ? cJSON_PrintUnformatted(args) : NULL;
            cJSON_AddStringToObject(fn, "arguments", a ? a : "{}");
            if (a) cJSON_free(a);
            const char *sig = gr_provider_get_str(p, "thoughtSignature"); /* to be echoed back next turn */
            if (sig) {
                cJSON *g = cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "extra_content"), "google");
                cJSON_AddStringToObject(g, "thought_signature", sig);
            }
            cJSON_AddItemToArray(cp->tool_calls, tc);
        }
    }
}

static void cand_parts_free(cand_parts *cp) {
    free(cp->text);
    free(cp->thought);
    cJSON_Delete(cp->tool_calls);
    memset(cp, 0, sizeof(*cp));
}

static const char *pick_model(const gr_adapter_ctx *ctx, const char *up) {
    const char *m = ctx && ctx->public_model ? ctx->public_model
                    : ctx && ctx->upstream_model ? ctx->upstream_model
                                                 : up;
    return m ? m : "";
}

static gr_status parse_chat_response(const gr_adapter_ctx *ctx, const char *body, size_t len,
                                     cJSON **out, gr_usage *usage, gr_upstream_error *err) {
    *out = NULL;
    cJSON *root = gr_provider_parse_json(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Gemini returned a malformed response body");
        return GR_ERR_PARSE;
    }
    if (cJSON_IsObject(gr_provider_get(root, "error"))) {
        error_from_json(root, 0, err);
        cJSON_Delete(root);
        return GR_ERR_INVALID;
    }
    const cJSON *cands = gr_provider_get(root, "candidates");
    const char *block = gr_provider_get_str(gr_provider_get(root, "promptFeedback"), "blockReason");
    if (!block && (!cJSON_IsArray(cands) || cJSON_GetArraySize(cands) == 0)) {
        cJSON_Delete(root);
        gr_provider_bad_upstream(err, "Gemini response has no candidates");
        return GR_ERR_PARSE;
    }
    cJSON *resp = cJSON_CreateObject();
    const char *rid = gr_provider_get_str(root, "responseId");
    cJSON_AddStringToObject(resp, "id", ctx && ctx->request_id ? ctx->request_id
                                        : rid                   ? rid
                                                                : "chatcmpl-gaterouter");
    cJSON_AddStringToObject(resp, "object", "chat.completion");
    cJSON_AddNumberToObject(resp, "created", ctx ? (double)ctx->created : 0);
    cJSON_AddStringToObject(resp, "model",
                            pick_model(ctx, gr_provider_get_str(root, "modelVersion")));
    cJSON *choices = cJSON_AddArrayToObject(resp, "choices");
    char refusal[512];
    if (block && (!cJSON_IsArray(cands) || cJSON_GetArraySize(cands) == 0)) {
        refusal_text(refusal, sizeof(refusal), root, NULL);
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", 0);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddNullToObject(msg, "content");
        cJSON_AddStringToObject(msg, "refusal", refusal);
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", "content_filter");
        cJSON_AddItemToArray(choices, ch);
    }
    int id_counter = 0, pos = 0;
    const cJSON *cand;
    cJSON_ArrayForEach(cand, cands) {
        cand_parts cp = {0};
        int ti = 0;
        collect_parts(cand, &cp, &ti, &id_counter, false, ctx);
        const cJSON *ix = gr_provider_get(cand, "index");
        const char *fr = gr_provider_get_str(cand, "finishReason");
        const char *finish = finish_reason_for(fr, cp.tool_calls != NULL);
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddNumberToObject(ch, "index", cJSON_IsNumber(ix) ? ix->valuedouble : pos);
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        if (cp.text) cJSON_AddStringToObject(msg, "content", cp.text);
        else cJSON_AddNullToObject(msg, "content");
        if (cp.thought && !(ctx && ctx->exclude_reasoning)) cJSON_AddStringToObject(msg, "reasoning_content", cp.thought);
        if (cp.tool_calls) {
            cJSON_AddItemToObject(msg, "tool_calls", cp.tool_calls);
            cp.tool_calls = NULL;
        }
        if (strcmp(finish, "content_filter") == 0 && !cp.text) {
            refusal_text(refusal, sizeof(refusal), root, fr);
            cJSON_AddStringToObject(msg, "refusal", refusal);
        }
        cJSON_AddNullToObject(ch, "logprobs");
        cJSON_AddStringToObject(ch, "finish_reason", finish);
        cJSON_AddItemToArray(choices, ch);
        cand_parts_free(&cp);
        pos++;
    }
    gr_usage u = {0};
    usage_from(gr_provider_get(root, "usageMetadata"), &u);
    cJSON_AddItemToObject(resp, "usage", gr_provider_usage_json(&u));
    if (usage) *usage = u;
    cJSON_Delete(root);
    *out = resp;
    return GR_OK;
}

/* ---- streaming: one GenerateContentResponse per SSE event -> chunks ---- */

typedef struct gemini_stream {
    gr_adapter_ctx ctx;
    char *owned[3]; /* owned copies of ctx strings (gr_provider_ctx_own) */
    char *resp_id, *model;
    int ntools[MAX_CANDIDATES];
    bool role_sent[MAX_CANDIDATES], text_sent[MAX_CANDIDATES], done[MAX_CANDIDATES];
    int id_counter;
    bool finished, failed;
    gr_usage usage;
} gemini_stream;

static gr_stream_translator *stream_new(const gr_adapter_ctx *ctx) {
    gemini_stream *s = gr_xcalloc(1, sizeof(*s));
    gr_provider_ctx_own(&s->ctx, s->owned, ctx);
    return (gr_stream_translator *)s;
}

static void stream_free(gr_stream_translator *st) {
    gemini_stream *s = (gemini_stream *)st;
    if (!s) return;
    gr_provider_ctx_release(s->owned);
    free(s->resp_id);
    free(s->model);
    free(s);
}


static cJSON *new_chunk(gemini_stream *s, int index, cJSON **delta) {
    cJSON *c = gr_provider_chunk_new(&s->ctx, s->resp_id, s->model, index, delta);
    if (!s->role_sent[index]) {
        s->role_sent[index] = true;
        cJSON_AddStringToObject(*delta, "role", "assistant");
    }
    return c;
}

static void set_finish(cJSON *chunk, const char *finish) {
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(ch, "finish_reason", cJSON_CreateString(finish));
}

static gr_status on_candidate(gemini_stream *s, const cJSON *root, const cJSON *cand, int pos,
                              gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err) {
    const cJSON *ix = gr_provider_get(cand, "index");
    int index = cJSON_IsNumber(ix) ? ix->valueint : pos; /* saturated, never UB */
    if (index < 0 || index >= MAX_CANDIDATES) {
        gr_provider_bad_upstream(err, "Gemini sent a candidate index out of range");
        return GR_ERR_PARSE;
    }
    cand_parts cp = {0};
    collect_parts(cand, &cp, &s->ntools[index], &s->id_counter, true, &s->ctx);
    if (s->ctx.exclude_reasoning) { /* reasoning.exclude: thought, billed, not returned */
        free(cp.thought);
        cp.thought = NULL;
    }
    gr_status rc = GR_OK;
    cJSON *delta;
    if (cp.text || cp.thought || cp.tool_calls) {
        cJSON *c = new_chunk(s, index, &delta);
        if (cp.thought) cJSON_AddStringToObject(delta, "reasoning_content", cp.thought);
        if (cp.text) {
            cJSON_AddStringToObject(delta, "content", cp.text);
            s->text_sent[index] = true;
        }
        if (cp.tool_calls) {
            cJSON_AddItemToObject(delta, "tool_calls", cp.tool_calls);
            cp.tool_calls = NULL;
        }
        rc = gr_provider_emit_chunk(c, emit, ud, err);
    }
    const char *fr = gr_provider_get_str(cand, "finishReason");
    if (rc == GR_OK && fr && !s->done[index]) {
        s->done[index] = true;
        s->finished = true;
        const char *finish = finish_reason_for(fr, s->ntools[index] > 0);
        cJSON *c = new_chunk(s, index, &delta);
        if (strcmp(finish, "content_filter") == 0 && !s->text_sent[index]) {
            char refusal[512];
            refusal_text(refusal, sizeof(refusal), root, fr);
            cJSON_AddStringToObject(delta, "refusal", refusal);
        }
        set_finish(c, finish);
        rc = gr_provider_emit_chunk(c, emit, ud, err);
    }
    cand_parts_free(&cp);
    return rc;
}

static gr_status stream_event(gr_stream_translator *st, const gr_sse_event *ev,
                              gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err) {
    gemini_stream *s = (gemini_stream *)st;
    if (!s || !ev) return GR_ERR_INVALID;
    if (s->failed) {
        gr_provider_bad_upstream(err, "Gemini stream already failed");
        return GR_ERR_INVALID;
    }
    cJSON *root = gr_provider_parse_json(ev->data.ptr, ev->data.len);
    gr_status rc = GR_OK;
    if (cJSON_IsArray(root)) { /* tolerate an error wrapped in an array */
        cJSON *first = cJSON_DetachItemFromArray(root, 0);
        cJSON_Delete(root);
        root = first;
    }
    if (!cJSON_IsObject(root)) {
        s->failed = true;
        gr_provider_bad_upstream(err, "Gemini sent a malformed stream event");
        rc = GR_ERR_PARSE;
        goto out;
    }
    if (cJSON_IsObject(gr_provider_get(root, "error"))) {
        s->failed = true;
        error_from_json(root, 0, err);
        rc = GR_ERR_INVALID;
        goto out;
    }
    if (!s->resp_id) s->resp_id = gr_provider_strdup_or_null(gr_provider_get_str(root, "responseId"));
    if (!s->model) s->model = gr_provider_strdup_or_null(gr_provider_get_str(root, "modelVersion"));
    usage_from(gr_provider_get(root, "usageMetadata"), &s->usage);
    const cJSON *cands = gr_provider_get(root, "candidates");
    const char *block = gr_provider_get_str(gr_provider_get(root, "promptFeedback"), "blockReason");
    if (block && !s->done[0] && (!cJSON_IsArray(cands) || cJSON_GetArraySize(cands) == 0)) {
        s->done[0] = true;
        s->finished = true;
        cJSON *delta;
        cJSON *c = new_chunk(s, 0, &delta);
        char refusal[512];
        refusal_text(refusal, sizeof(refusal), root, NULL);
        cJSON_AddStringToObject(delta, "refusal", refusal);
        set_finish(c, "content_filter");
        rc = gr_provider_emit_chunk(c, emit, ud, err);
        goto out;
    }
    int pos = 0;
    const cJSON *cand;
    cJSON_ArrayForEach(cand, cands) {
        rc = on_candidate(s, root, cand, pos++, emit, ud, err);
        if (rc) break;
    }
    if (rc == GR_ERR_PARSE) s->failed = true;
out:
    cJSON_Delete(root);
    return rc;
}

static gr_status stream_finish(gr_stream_translator *st, gr_chunk_emit_fn emit, void *ud,
                               gr_usage *usage, gr_upstream_error *err) {
    gemini_stream *s = (gemini_stream *)st;
    if (!s) return GR_ERR_INVALID;
    return gr_provider_stream_end(&s->ctx, &s->usage, s->failed, s->finished, "Gemini stream failed", "Gemini stream ended before a finishReason", s->resp_id, s->model,
                                  emit, ud, usage, err);
}

cJSON *gr_gemini_function_call_part(const char *name, const char *args) {
    cJSON *a = args ? cJSON_Parse(args) : NULL;
    if (!cJSON_IsObject(a)) {
        cJSON_Delete(a);
        a = cJSON_CreateObject();
    }
    cJSON *p = cJSON_CreateObject();
    cJSON *fc = cJSON_AddObjectToObject(p, "functionCall");
    cJSON_AddStringToObject(fc, "name", name ? name : "");
    cJSON_AddItemToObject(fc, "args", a);
    return p;
}

int64_t gr_gemini_thinking_budget(const cJSON *req) {
    static const gr_reasoning_level levels[] = {
        {"none", 0}, {"minimal", 512}, {"low", 1024}, {"medium", 8192}, {"high", 24576}, {NULL, 0}};
    return gr_provider_reasoning_budget(req, levels, 1);
}

int64_t gr_gemini_default_thinking(const char *model) {
    if (!model) return 0;
    if (!strncmp(model, "models/", 7)) model += 7;
    static const char *const non_thinking[] = {"-image", "-tts", "-live", "-audio", "embedding"};
    for (size_t i = 0; i < GR_ARRAY_LEN(non_thinking); i++)
        if (strstr(model, non_thinking[i])) return 0;
    if (!strncmp(model, "gemini-2.5-flash-lite", 21)) return 0; /* thinks only when asked */
    if (!strncmp(model, "gemini-2.5-pro", 14) || !strncmp(model, "gemini-3", 8)) return 32768;
    if (!strncmp(model, "gemini-2.5-", 11)) return 24576; /* Flash */
    return 0;
}

const gr_provider_ops gr_gemini_ops = {
    .kind = "gemini",
    GR_PROVIDER_TRANSLATOR_OPS,
    .build_embeddings_request = gr_gemini_build_embeddings_request,
    .parse_embeddings_response = gr_gemini_parse_embeddings_response,
};
