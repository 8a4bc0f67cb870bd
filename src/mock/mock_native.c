/* mock_native.c — the mock upstream's native voices: canonical responses and
 * chunks re-encoded as Anthropic / Gemini bytes, native requests decoded to
 * canonical (see mock_native.h). Anthropic reuses api_messages.c. */
#include "mock_native.h"
#include "api_messages.h"
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>

#define MAX_CHOICES 16
#define MAX_TOOLS 64

/* ---- byte buffer ---- */

typedef struct buf {
    char *p;
    size_t len;
} buf;

static void buf_add(buf *b, const char *s, size_t n) {
    b->p = gr_xrealloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static char *buf_take(buf *b, size_t *len) {
    if (!b->p) buf_add(b, "", 0);
    if (len) *len = b->len;
    char *p = b->p;
    b->p = NULL;
    b->len = 0;
    return p;
}

static char *print_dup(const cJSON *o, size_t *len) {
    char *s = cJSON_PrintUnformatted(o);
    if (!s) return NULL;
    char *r = gr_xstrdup(s);
    cJSON_free(s);
    if (len) *len = strlen(r);
    return r;
}

/* ---- Gemini encoding ---- */

static const char *gemini_finish(const char *f) {
    if (!f) return "STOP";
    if (strcmp(f, "length") == 0) return "MAX_TOKENS";
    if (strcmp(f, "content_filter") == 0) return "SAFETY";
    return "STOP";
}

static cJSON *gemini_usage(const gr_usage *u) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "promptTokenCount", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "candidatesTokenCount",
                            (double)(u->completion_tokens - u->reasoning_tokens));
    cJSON_AddNumberToObject(o, "totalTokenCount", (double)(u->prompt_tokens + u->completion_tokens));
    if (u->cached_tokens)
        cJSON_AddNumberToObject(o, "cachedContentTokenCount", (double)u->cached_tokens);
    if (u->reasoning_tokens)
        cJSON_AddNumberToObject(o, "thoughtsTokenCount", (double)u->reasoning_tokens);
    return o;
}

static cJSON *text_part(const char *t, bool thought) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "text", t);
    if (thought) cJSON_AddTrueToObject(p, "thought");
    return p;
}

static cJSON *gemini_envelope(const char *id, const char *model) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddArrayToObject(o, "candidates");
    if (model) cJSON_AddStringToObject(o, "modelVersion", model);
    if (id) cJSON_AddStringToObject(o, "responseId", id);
    return o;
}

static cJSON *gemini_candidate(cJSON *env, int index, cJSON **parts) {
    cJSON *c = cJSON_CreateObject();
    cJSON *content = cJSON_AddObjectToObject(c, "content");
    cJSON_AddStringToObject(content, "role", "model");
    *parts = cJSON_AddArrayToObject(content, "parts");
    cJSON_AddNumberToObject(c, "index", index);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(env, "candidates"), c);
    return c;
}

static char *gemini_response(const cJSON *completion, size_t *len) {
    cJSON *env = gemini_envelope(gr_provider_get_str(completion, "id"),
                                 gr_provider_get_str(completion, "model"));
    const cJSON *ch;
    cJSON_ArrayForEach(ch, gr_provider_get(completion, "choices")) {
        const cJSON *msg = gr_provider_get(ch, "message");
        const cJSON *ix = gr_provider_get(ch, "index");
        cJSON *parts;
        cJSON *c = gemini_candidate(env, cJSON_IsNumber(ix) ? ix->valueint : 0, &parts);
        const char *r = gr_provider_get_str(msg, "reasoning_content");
        if (r && r[0]) cJSON_AddItemToArray(parts, text_part(r, true));
        char *t = gr_provider_content_text(gr_provider_get(msg, "content"));
        if (t && t[0]) cJSON_AddItemToArray(parts, text_part(t, false));
        free(t);
        const cJSON *tc;
        cJSON_ArrayForEach(tc, gr_provider_get(msg, "tool_calls")) {
            const cJSON *fn = gr_provider_get(tc, "function");
            cJSON_AddItemToArray(parts, gr_gemini_function_call_part(gr_provider_get_str(fn, "name"),
                                                                     gr_provider_get_str(fn, "arguments")));
        }
        if (!parts->child) cJSON_AddItemToArray(parts, text_part("", false));
        cJSON_AddStringToObject(c, "finishReason",
                                gemini_finish(gr_provider_get_str(ch, "finish_reason")));
    }
    gr_usage u = {0};
    gr_provider_usage_from_json(gr_provider_get(completion, "usage"), &u);
    cJSON_AddItemToObject(env, "usageMetadata", gemini_usage(&u));
    char *s = print_dup(env, len);
    cJSON_Delete(env);
    return s;
}

static const char *google_status(int st) {
    switch (st) {
    case 400: return "INVALID_ARGUMENT";
    case 401: return "UNAUTHENTICATED";
    case 403: return "PERMISSION_DENIED";
    case 404: return "NOT_FOUND";
    case 429: return "RESOURCE_EXHAUSTED";
    case 503: return "UNAVAILABLE";
    case 504: return "DEADLINE_EXCEEDED";
    default: break;
    }
    return st >= 500 ? "INTERNAL" : "INVALID_ARGUMENT";
}

char *gr_mock_native_response(gr_provider_kind kind, const cJSON *completion, size_t *len) {
    if (kind == GR_PROVIDER_GEMINI) return gemini_response(completion, len);
    if (kind != GR_PROVIDER_ANTHROPIC) return NULL;
    cJSON *m = NULL;
    gr_upstream_error err;
    if (gr_messages_from_canonical(completion, NULL, &m, &err) != GR_OK) return NULL;
    char *s = print_dup(m, len);
    cJSON_Delete(m);
    return s;
}

char *gr_mock_native_error(gr_provider_kind kind, int status, const char *message, size_t *len) {
    if (kind == GR_PROVIDER_ANTHROPIC) {
        char *s = gr_messages_error_json(status, message);
        if (s && len) *len = strlen(s);
        return s;
    }
    if (kind != GR_PROVIDER_GEMINI) return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddNumberToObject(e, "code", status);
    cJSON_AddStringToObject(e, "message", message ? message : "");
    cJSON_AddStringToObject(e, "status", google_status(status));
    char *s = print_dup(o, len);
    cJSON_Delete(o);
    return s;
}

/* ---- streams ---- */

typedef struct pending_tool {
    char *name;
    buf args;
} pending_tool;

struct gr_mock_stream {
    gr_provider_kind kind;
    gr_messages_stream *anth; /* Anthropic: the inbound translator does the work */
    buf out;
    /* Gemini state */
    char *model, *id;
    pending_tool tools[MAX_CHOICES][MAX_TOOLS];
    int ntools[MAX_CHOICES];
    const char *finish[MAX_CHOICES];
    bool have_finish[MAX_CHOICES];
    gr_usage usage;
    bool have_usage, done;
    bool pinged; /* Anthropic: the ping after the first content_block_start is out */
};

static void anth_frame(gr_mock_stream *s, const char *event, const char *data, size_t len) {
    size_t n;
    char *f = gr_messages_sse_frame(event, data, len, &n);
    buf_add(&s->out, f, n);
    free(f);
}

/* Anthropic's own order: message_start, content_block_start, ping, deltas. */
static int anth_emit(void *ud, const char *event, const char *data, size_t len) {
    gr_mock_stream *s = ud;
    anth_frame(s, event, data, len);
    if (!s->pinged && strcmp(event, "content_block_start") == 0) {
        static const char ping[] = "{\"type\":\"ping\"}";
        anth_frame(s, "ping", ping, sizeof(ping) - 1);
        s->pinged = true;
    }
    return 0;
}

gr_mock_stream *gr_mock_native_stream_new(gr_provider_kind kind, const char *model, int64_t prompt_tokens) {
    if (kind != GR_PROVIDER_ANTHROPIC && kind != GR_PROVIDER_GEMINI) return NULL;
    gr_mock_stream *s = gr_xcalloc(1, sizeof(*s));
    s->kind = kind;
    if (kind == GR_PROVIDER_ANTHROPIC) {
        s->anth = gr_messages_stream_new(model);
        /* Anthropic counts the input up front: message_start carries it */
        gr_messages_stream_set_input_estimate(s->anth, prompt_tokens);
    }
    s->model = model ? gr_xstrdup(model) : NULL;
    return s;
}

void gr_mock_native_stream_free(gr_mock_stream *s) {
    if (!s) return;
    gr_messages_stream_free(s->anth);
    free(s->out.p);
    free(s->model);
    free(s->id);
    for (int c = 0; c < MAX_CHOICES; c++)
        for (int t = 0; t < s->ntools[c]; t++) {
            free(s->tools[c][t].name);
            free(s->tools[c][t].args.p);
        }
    free(s);
}

static void gemini_write(gr_mock_stream *s, cJSON *env) {
    char *t = cJSON_PrintUnformatted(env);
    cJSON_Delete(env);
    if (!t) return;
    buf_add(&s->out, "data: ", 6);
    buf_add(&s->out, t, strlen(t));
    buf_add(&s->out, "\r\n\r\n", 4);
    cJSON_free(t);
}

static void gemini_chunk(gr_mock_stream *s, const cJSON *chunk) {
    if (!s->id && gr_provider_get_str(chunk, "id")) s->id = gr_xstrdup(gr_provider_get_str(chunk, "id"));
    if (!s->model && gr_provider_get_str(chunk, "model"))
        s->model = gr_xstrdup(gr_provider_get_str(chunk, "model"));
    const cJSON *usage = gr_provider_get(chunk, "usage");
    if (cJSON_IsObject(usage)) {
        gr_provider_usage_from_json(usage, &s->usage);
        s->have_usage = true;
    }
    const cJSON *ch;
    cJSON_ArrayForEach(ch, gr_provider_get(chunk, "choices")) {
        const cJSON *ix = gr_provider_get(ch, "index");
        int i = cJSON_IsNumber(ix) ? ix->valueint : 0; /* saturated, never UB */
        if (i < 0 || i >= MAX_CHOICES) continue;
        const cJSON *d = gr_provider_get(ch, "delta");
        const char *r = gr_provider_get_str(d, "reasoning_content");
        const char *t = gr_provider_get_str(d, "content");
        if ((r && r[0]) || (t && t[0])) {
            cJSON *env = gemini_envelope(s->id, s->model);
            cJSON *parts;
            gemini_candidate(env, i, &parts);
            if (r && r[0]) cJSON_AddItemToArray(parts, text_part(r, true));
            if (t && t[0]) cJSON_AddItemToArray(parts, text_part(t, false));
            gemini_write(s, env);
        }
        const cJSON *tc;
        cJSON_ArrayForEach(tc, gr_provider_get(d, "tool_calls")) {
            const cJSON *ti = gr_provider_get(tc, "index");
            int k = cJSON_IsNumber(ti) ? ti->valueint : 0;
            if (k < 0 || k >= MAX_TOOLS) continue;
            while (s->ntools[i] <= k) s->ntools[i]++;
            pending_tool *pt = &s->tools[i][k];
            const cJSON *fn = gr_provider_get(tc, "function");
            const char *name = gr_provider_get_str(fn, "name");
            if (name && !pt->name) pt->name = gr_xstrdup(name);
            const char *a = gr_provider_get_str(fn, "arguments");
            if (a) buf_add(&pt->args, a, strlen(a));
        }
        const char *f = gr_provider_get_str(ch, "finish_reason");
        if (f) {
            s->have_finish[i] = true;
            s->finish[i] = gemini_finish(f);
        }
    }
}

/* Gemini sends function calls whole and puts finishReason + usage last. */
static void gemini_finish_stream(gr_mock_stream *s) {
    if (s->done) return;
    s->done = true;
    cJSON *env = gemini_envelope(s->id, s->model);
    for (int i = 0; i < MAX_CHOICES; i++) {
        if (!s->have_finish[i] && !s->ntools[i]) continue;
        cJSON *parts;
        cJSON *c = gemini_candidate(env, i, &parts);
        for (int k = 0; k < s->ntools[i]; k++)
            cJSON_AddItemToArray(parts, gr_gemini_function_call_part(s->tools[i][k].name, s->tools[i][k].args.p));
        if (!parts->child) cJSON_AddItemToArray(parts, text_part("", false));
        cJSON_AddStringToObject(c, "finishReason", s->have_finish[i] ? s->finish[i] : "STOP");
    }
    if (s->have_usage) cJSON_AddItemToObject(env, "usageMetadata", gemini_usage(&s->usage));
    gemini_write(s, env);
}

char *gr_mock_native_stream_chunk(gr_mock_stream *s, const cJSON *chunk, size_t *len) {
    if (!s) return NULL;
    if (s->kind == GR_PROVIDER_ANTHROPIC) {
        if (gr_messages_stream_chunk_json(s->anth, chunk, anth_emit, s) != GR_OK) return NULL;
    } else {
        gemini_chunk(s, chunk);
    }
    return buf_take(&s->out, len);
}

char *gr_mock_native_stream_finish(gr_mock_stream *s, size_t *len) {
    if (!s) return NULL;
    if (s->kind == GR_PROVIDER_ANTHROPIC) {
        if (gr_messages_stream_finish(s->anth, anth_emit, s) != GR_OK) return NULL;
    } else {
        gemini_finish_stream(s);
    }
    return buf_take(&s->out, len);
}

char *gr_mock_native_sse(gr_provider_kind kind, const cJSON *chunks, size_t *len) {
    /* the input count is known up front, as it is to the real service */
    int64_t prompt_tokens = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, chunks) {
        const cJSON *pt = gr_provider_get(gr_provider_get(c, "usage"), "prompt_tokens");
        if (cJSON_IsNumber(pt)) prompt_tokens = (int64_t)pt->valuedouble;
    }
    gr_mock_stream *s = gr_mock_native_stream_new(kind, NULL, prompt_tokens);
    if (!s) return NULL;
    buf all = {0};
    cJSON_ArrayForEach(c, chunks) {
        size_t n;
        char *p = gr_mock_native_stream_chunk(s, c, &n);
        if (p) buf_add(&all, p, n);
        free(p);
    }
    size_t n;
    char *p = gr_mock_native_stream_finish(s, &n);
    if (p) buf_add(&all, p, n);
    free(p);
    gr_mock_native_stream_free(s);
    return buf_take(&all, len);
}

/* ---- Gemini request -> canonical ---- */

typedef struct call_ref {
    char name[128];
    char id[32];
    bool answered;
} call_ref;

static void add_media(cJSON *parts, const char *mime, const char *data, const char *uri) {
    cJSON *p = cJSON_CreateObject();
    bool image = mime && strncmp(mime, "image/", 6) == 0;
    char *url;
    if (data) {
        size_t n = strlen(mime ? mime : "") + strlen(data) + 16;
        url = gr_xmalloc(n);
        snprintf(url, n, "data:%s;base64,%s", mime ? mime : "application/octet-stream", data);
    } else {
        url = gr_xstrdup(uri);
        image = image || !mime;
    }
    if (image) {
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "image_url"), "url", url);
    } else {
        cJSON_AddStringToObject(p, "type", "file");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, "file"), "file_data", url);
    }
    free(url);
    cJSON_AddItemToArray(parts, p);
}

static gr_status gemini_request(const cJSON *req, const char *model, bool stream, cJSON **canonical,
                                gr_upstream_error *err) {
    const cJSON *contents = gr_provider_get(req, "contents");
    if (!cJSON_IsArray(contents)) {
        gr_provider_error_set(err, 400, "invalid_request_error", "contents must be an array");
        return GR_ERR_INVALID;
    }
    call_ref calls[256];
    int ncalls = 0;
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", model ? model : "");
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    char *sys = gr_provider_content_text(gr_provider_get(gr_provider_get(req, "systemInstruction"), "parts"));
    if (sys) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "system");
        cJSON_AddStringToObject(m, "content", sys);
        cJSON_AddItemToArray(msgs, m);
        free(sys);
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, contents) {
        const char *role = gr_provider_get_str(c, "role");
        bool model_turn = role && strcmp(role, "model") == 0;
        cJSON *parts = cJSON_CreateArray();
        cJSON *tcs = NULL;
        char *text = NULL;
        size_t tl = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, gr_provider_get(c, "parts")) {
            const char *t = gr_provider_get_str(p, "text");
            const cJSON *in = gr_provider_get(p, "inlineData");
            const cJSON *fd = gr_provider_get(p, "fileData");
            const cJSON *fc = gr_provider_get(p, "functionCall");
            const cJSON *fr = gr_provider_get(p, "functionResponse");
            if (t && cJSON_IsTrue(gr_provider_get(p, "thought"))) continue;
            if (t && model_turn) {
                size_t n = strlen(t);
                text = gr_xrealloc(text, tl + n + 1);
                memcpy(text + tl, t, n + 1);
                tl += n;
            } else if (t) {
                cJSON_AddItemToArray(parts, gr_provider_text_block(t));
            } else if (in) {
                add_media(parts, gr_provider_get_str(in, "mimeType"), gr_provider_get_str(in, "data"),
                          NULL);
            } else if (fd && gr_provider_get_str(fd, "fileUri")) {
                add_media(parts, gr_provider_get_str(fd, "mimeType"), NULL,
                          gr_provider_get_str(fd, "fileUri"));
            } else if (fc && ncalls < (int)GR_ARRAY_LEN(calls)) {
                const char *name = gr_provider_get_str(fc, "name");
                call_ref *cr = &calls[ncalls];
                snprintf(cr->name, sizeof(cr->name), "%s", name ? name : "");
                snprintf(cr->id, sizeof(cr->id), "call_%d", ncalls);
                cr->answered = false;
                ncalls++;
                if (!tcs) tcs = cJSON_CreateArray();
                cJSON *tc = cJSON_CreateObject();
                cJSON_AddStringToObject(tc, "id", cr->id);
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(tc, "function");
                cJSON_AddStringToObject(fn, "name", cr->name);
                const cJSON *args = gr_provider_get(fc, "args");
                char *a = args ? cJSON_PrintUnformatted(args) : NULL;
                cJSON_AddStringToObject(fn, "arguments", a ? a : "{}");
                if (a) cJSON_free(a);
                cJSON_AddItemToArray(tcs, tc);
            } else if (fr) {
                const char *name = gr_provider_get_str(fr, "name");
                const char *id = "call_unknown";
                for (int i = 0; name && i < ncalls; i++)
                    if (!calls[i].answered && strcmp(calls[i].name, name) == 0) {
                        calls[i].answered = true;
                        id = calls[i].id;
                        break;
                    }
                cJSON *m = cJSON_CreateObject();
                cJSON_AddStringToObject(m, "role", "tool");
                cJSON_AddStringToObject(m, "tool_call_id", id);
                const cJSON *resp = gr_provider_get(fr, "response");
                char *rs = resp ? cJSON_PrintUnformatted(resp) : NULL;
                cJSON_AddStringToObject(m, "content", rs ? rs : "");
                if (rs) cJSON_free(rs);
                cJSON_AddItemToArray(msgs, m);
            }
        }
        if (model_turn) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "assistant");
            if (text) cJSON_AddStringToObject(m, "content", text);
            else cJSON_AddNullToObject(m, "content");
            if (tcs) cJSON_AddItemToObject(m, "tool_calls", tcs);
            cJSON_AddItemToArray(msgs, m);
            cJSON_Delete(parts);
        } else if (parts->child) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "user");
            cJSON_AddItemToObject(m, "content", parts);
            cJSON_AddItemToArray(msgs, m);
            cJSON_Delete(tcs);
        } else {
            cJSON_Delete(parts);
            cJSON_Delete(tcs);
        }
        free(text);
    }
    const cJSON *gc = gr_provider_get(req, "generationConfig");
    static const struct { const char *g, *o; } nums[] = {
        {"temperature", "temperature"}, {"topP", "top_p"}, {"maxOutputTokens", "max_tokens"},
        {"candidateCount", "n"}, {"seed", "seed"},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(nums); i++) {
        const cJSON *v = gr_provider_get(gc, nums[i].g);
        if (cJSON_IsNumber(v)) cJSON_AddNumberToObject(out, nums[i].o, v->valuedouble);
    }
    const cJSON *ss = gr_provider_get(gc, "stopSequences");
    if (cJSON_IsArray(ss)) cJSON_AddItemToObject(out, "stop", cJSON_Duplicate(ss, 1));
    const char *rmt = gr_provider_get_str(gc, "responseMimeType");
    if (rmt && strcmp(rmt, "application/json") == 0) {
        cJSON *rf = cJSON_AddObjectToObject(out, "response_format");
        const cJSON *schema = gr_provider_get(gc, "responseSchema");
        if (schema) {
            cJSON_AddStringToObject(rf, "type", "json_schema");
            cJSON *js = cJSON_AddObjectToObject(rf, "json_schema");
            cJSON_AddStringToObject(js, "name", "response");
            cJSON_AddItemToObject(js, "schema", cJSON_Duplicate(schema, 1));
        } else {
            cJSON_AddStringToObject(rf, "type", "json_object");
        }
    }
    const cJSON *t;
    cJSON *tools = NULL;
    cJSON_ArrayForEach(t, gr_provider_get(req, "tools")) {
        const cJSON *d;
        cJSON_ArrayForEach(d, gr_provider_get(t, "functionDeclarations")) {
            if (!tools) tools = cJSON_AddArrayToObject(out, "tools");
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(f, "function");
            const char *name = gr_provider_get_str(d, "name");
            cJSON_AddStringToObject(fn, "name", name ? name : "");
            const char *desc = gr_provider_get_str(d, "description");
            if (desc) cJSON_AddStringToObject(fn, "description", desc);
            const cJSON *params = gr_provider_get(d, "parameters");
            if (params) cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(params, 1));
            cJSON_AddItemToArray(tools, f);
        }
    }
    const cJSON *fcc = gr_provider_get(gr_provider_get(req, "toolConfig"), "functionCallingConfig");
    const char *mode = gr_provider_get_str(fcc, "mode");
    if (mode) {
        const cJSON *allowed = cJSON_GetArrayItem(gr_provider_get(fcc, "allowedFunctionNames"), 0);
        if (strcmp(mode, "ANY") == 0 && cJSON_IsString(allowed)) {
            cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
            cJSON_AddStringToObject(o, "type", "function");
            cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "function"), "name",
                                    allowed->valuestring);
        } else {
            cJSON_AddStringToObject(out, "tool_choice", strcmp(mode, "ANY") == 0    ? "required"
                                                        : strcmp(mode, "NONE") == 0 ? "none"
                                                                                    : "auto");
        }
    }
    if (stream) {
        cJSON_AddTrueToObject(out, "stream");
        cJSON_AddTrueToObject(cJSON_AddObjectToObject(out, "stream_options"), "include_usage");
    }
    *canonical = out;
    return GR_OK;
}

gr_status gr_mock_native_request(gr_provider_kind kind, const cJSON *native_req, const char *model,
                                 bool stream, cJSON **canonical, gr_upstream_error *err) {
    *canonical = NULL;
    if (kind == GR_PROVIDER_ANTHROPIC) {
        gr_status rc = gr_messages_to_canonical(native_req, canonical, err);
        /* JSON mode reaches Anthropic as the adapter's system instruction: the
         * mock follows it like a model would */
        const cJSON *first = cJSON_GetArrayItem(gr_provider_get(*canonical, "messages"), 0);
        const char *sys = gr_provider_get_str(first, "content");
        if (rc == GR_OK && sys && strstr(sys, "Respond only with a single valid JSON object"))
            cJSON_AddStringToObject(cJSON_AddObjectToObject(*canonical, "response_format"), "type", "json_object");
        return rc;
    }
    if (kind == GR_PROVIDER_GEMINI) return gemini_request(native_req, model, stream, canonical, err);
    gr_provider_error_set(err, 400, "invalid_request_error", "no native format for this provider");
    return GR_ERR_UNSUPPORTED;
}
