/* api_messages.c — inbound Anthropic Messages API: request, response, stream
 * and error translation to and from the canonical OpenAI chat shape (see
 * api_messages.h; field mapping in docs/PROVIDERS.md). */
#include "api_messages.h"
#include "utf8.h"
#include "provider_native.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- errors ---- */

const char *gr_messages_error_type(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503:
    case 529: return "overloaded_error";
    case 504: return "timeout_error";
    default: break;
    }
    return status >= 500 ? "api_error" : "invalid_request_error";
}

static cJSON *error_obj(const char *type, const char *message) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", "error");
    cJSON *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "type", type);
    cJSON_AddStringToObject(e, "message", message ? message : "");
    return o;
}

static char *print_free(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return NULL;
    char *r = gr_xstrdup(s); /* callers free() */
    cJSON_free(s);
    return r;
}

char *gr_messages_error_json_typed(const char *type, const char *message) {
    char *clean = gr_utf8_sanitize_dup(message ? message : ""); /* a client's bytes may be quoted in it */
    char *s = print_free(error_obj(type, clean));
    free(clean);
    return s;
}

char *gr_messages_error_json(int status, const char *message) {
    return gr_messages_error_json_typed(gr_messages_error_type(status), message);
}

char *gr_messages_sse_frame(const char *event, const char *data, size_t len, size_t *out_len) {
    size_t el = strlen(event);
    size_t n = 7 + el + 7 + len + 2; /* "event: " e "\ndata: " d "\n\n" */
    char *f = gr_xmalloc(n + 1);
    memcpy(f, "event: ", 7);
    memcpy(f + 7, event, el);
    memcpy(f + 7 + el, "\ndata: ", 7);
    memcpy(f + 14 + el, data, len);
    memcpy(f + 14 + el + len, "\n\n", 3);
    if (out_len) *out_len = n;
    return f;
}

/* ---- request: Anthropic -> canonical ---- */

static void bad(gr_upstream_error *err, const char *fmt, const char *arg) {
    gr_provider_error_set(err, 400, "invalid_request_error", fmt, arg ? arg : "");
}

/* Anthropic image/document block -> OpenAI content part; NULL if unsupported. */
static cJSON *media_part(const cJSON *b, gr_upstream_error *err) {
    const char *bt = gr_provider_get_str(b, "type");
    const cJSON *src = gr_provider_get(b, "source");
    const char *st = gr_provider_get_str(src, "type");
    char *url = NULL;
    if (st && strcmp(st, "base64") == 0) {
        const char *mt = gr_provider_get_str(src, "media_type");
        const char *data = gr_provider_get_str(src, "data");
        if (!mt || !data) {
            bad(err, "%s.source needs media_type and data", bt);
            return NULL;
        }
        size_t n = strlen(mt) + strlen(data) + 16;
        url = gr_xmalloc(n);
        snprintf(url, n, "data:%s;base64,%s", mt, data);
    } else if (st && strcmp(st, "url") == 0 && gr_provider_get_str(src, "url")) {
        url = gr_xstrdup(gr_provider_get_str(src, "url"));
    } else {
        bad(err, "unsupported %s source", bt);
        return NULL;
    }
    cJSON *p = cJSON_CreateObject();
    if (strcmp(bt, "image") == 0) {
        cJSON_AddStringToObject(p, "type", "image_url");
        cJSON *iu = cJSON_AddObjectToObject(p, "image_url");
        cJSON_AddStringToObject(iu, "url", url);
    } else {
        cJSON_AddStringToObject(p, "type", "file");
        cJSON *f = cJSON_AddObjectToObject(p, "file");
        cJSON_AddStringToObject(f, "file_data", url);
    }
    free(url);
    return p;
}

/* Text of an Anthropic content value (string or blocks), text blocks joined. */
static char *blocks_text(const cJSON *content) {
    return gr_provider_content_text(content);
}

static gr_status user_turn(const cJSON *content, cJSON *out, gr_upstream_error *err) {
    cJSON *parts = cJSON_CreateArray();
    const cJSON *b;
    cJSON_ArrayForEach(b, content) {
        const char *bt = gr_provider_get_str(b, "type");
        if (!bt) {
            cJSON_Delete(parts);
            bad(err, "content block without a type%s", NULL);
            return GR_ERR_INVALID;
        }
        if (strcmp(bt, "text") == 0) {
            const char *t = gr_provider_get_str(b, "text");
            cJSON_AddItemToArray(parts, gr_provider_text_block(t ? t : ""));
        } else if (strcmp(bt, "image") == 0 || strcmp(bt, "document") == 0) {
            cJSON *p = media_part(b, err);
            if (!p) {
                cJSON_Delete(parts);
                return GR_ERR_INVALID;
            }
            cJSON_AddItemToArray(parts, p);
        } else if (strcmp(bt, "tool_result") == 0) {
            const char *id = gr_provider_get_str(b, "tool_use_id");
            if (!id) {
                cJSON_Delete(parts);
                bad(err, "tool_result without tool_use_id%s", NULL);
                return GR_ERR_INVALID;
            }
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "role", "tool");
            cJSON_AddStringToObject(m, "tool_call_id", id);
            char *t = blocks_text(gr_provider_get(b, "content"));
            cJSON_AddStringToObject(m, "content", t ? t : "");
            free(t);
            cJSON_AddItemToArray(out, m);
        } else if (strcmp(bt, "thinking") == 0 || strcmp(bt, "redacted_thinking") == 0) {
            continue;
        } else {
            cJSON_Delete(parts);
            bad(err, "content block type '%s' is not supported", bt);
            return GR_ERR_INVALID;
        }
    }
    int n = cJSON_GetArraySize(parts);
    if (n > 0) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "user");
        cJSON *first = cJSON_GetArrayItem(parts, 0);
        if (n == 1 && strcmp(gr_provider_get_str(first, "type"), "text") == 0) {
            cJSON_AddStringToObject(m, "content", gr_provider_get_str(first, "text"));
            cJSON_Delete(parts);
        } else {
            cJSON_AddItemToObject(m, "content", parts);
        }
        cJSON_AddItemToArray(out, m);
    } else {
        cJSON_Delete(parts);
    }
    return GR_OK;
}

/* Appends `t` to the heap string *buf of length *len. */
static void append_text(char **buf, size_t *len, const char *t) {
    size_t n = strlen(t);
    *buf = gr_xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, t, n + 1);
    *len += n;
}

static gr_status assistant_turn(const cJSON *content, cJSON *out, gr_upstream_error *err) {
    char *text = NULL, *reasoning = NULL;
    size_t tl = 0, rl = 0;
    cJSON *tcs = NULL;
    const char *pending_sig = NULL; /* a carried Gemini signature for the next tool_use */
    const cJSON *b;
    size_t plen = strlen(GR_MESSAGES_GEMINI_SIG_PREFIX);
    cJSON_ArrayForEach(b, content) {
        const char *bt = gr_provider_get_str(b, "type");
        const char *bsig = gr_provider_get_str(b, "signature");
        if (bt && strcmp(bt, "thinking") == 0 && bsig && !strncmp(bsig, GR_MESSAGES_GEMINI_SIG_PREFIX, plen)) {
            pending_sig = bsig + plen;
        } else if (bt && strcmp(bt, "thinking") == 0 && gr_provider_get_str(b, "thinking")) {
            /* the turn's reasoning, as reasoning_content: what DeepSeek wants back on
             * tool-call turns; the fast path removes it for every other upstream */
            append_text(&reasoning, &rl, gr_provider_get_str(b, "thinking"));
        } else if (bt && strcmp(bt, "text") == 0 && gr_provider_get_str(b, "text")) {
            append_text(&text, &tl, gr_provider_get_str(b, "text"));
        } else if (bt && strcmp(bt, "tool_use") == 0) {
            const char *id = gr_provider_get_str(b, "id");
            const char *name = gr_provider_get_str(b, "name");
            if (!id || !name) {
                free(text);
                free(reasoning);
                cJSON_Delete(tcs);
                bad(err, "tool_use block needs id and name%s", NULL);
                return GR_ERR_INVALID;
            }
            if (!tcs) tcs = cJSON_CreateArray();
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddStringToObject(tc, "id", id);
            cJSON_AddStringToObject(tc, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(tc, "function");
            cJSON_AddStringToObject(fn, "name", name);
            const cJSON *input = gr_provider_get(b, "input");
            char *args = input ? cJSON_PrintUnformatted(input) : NULL;
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            if (args) cJSON_free(args);
            if (pending_sig) {
                cJSON *g = cJSON_AddObjectToObject(cJSON_AddObjectToObject(tc, "extra_content"), "google");
                cJSON_AddStringToObject(g, "thought_signature", pending_sig);
                pending_sig = NULL;
            }
            cJSON_AddItemToArray(tcs, tc);
        }
        /* redacted_thinking: dropped (no canonical input field) */
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (text) cJSON_AddStringToObject(m, "content", text);
    else cJSON_AddNullToObject(m, "content");
    if (rl) cJSON_AddStringToObject(m, "reasoning_content", reasoning);
    if (tcs) cJSON_AddItemToObject(m, "tool_calls", tcs);
    cJSON_AddItemToArray(out, m);
    free(text);
    free(reasoning);
    return GR_OK;
}

/* Appends the text of a system value (a string, or text blocks — their
 * cache_control is Anthropic-only and dropped here) to *text, paragraphs
 * separated by a newline. */
static void fold_system(const cJSON *v, char **text, size_t *len) {
    if (cJSON_IsArray(v)) { /* text blocks, one paragraph each */
        const cJSON *b;
        cJSON_ArrayForEach(b, v) fold_system(gr_provider_get(b, "text"), text, len);
        return;
    }
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    if (!n) return;
    *text = gr_xrealloc(*text, *len + n + 2);
    if (*len) (*text)[(*len)++] = '\n';
    memcpy(*text + *len, v->valuestring, n + 1);
    *len += n;
}

gr_status gr_messages_to_canonical(const cJSON *req, cJSON **canonical, gr_upstream_error *err) {
    *canonical = NULL;
    if (!cJSON_IsObject(req)) {
        bad(err, "request body must be a JSON object%s", NULL);
        return GR_ERR_INVALID;
    }
    const char *model = gr_provider_get_str(req, "model");
    const cJSON *messages = gr_provider_get(req, "messages");
    if (!model) {
        bad(err, "model: field required%s", NULL);
        return GR_ERR_INVALID;
    }
    if (!cJSON_IsArray(messages)) {
        bad(err, "messages: field required (an array)%s", NULL);
        return GR_ERR_INVALID;
    }
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "model", model);
    cJSON *msgs = cJSON_AddArrayToObject(out, "messages");
    /* The system prompt: top-level `system`, then every role "system" message
     * (Claude Code sends them mid-conversation), folded in order into one
     * leading system message — not every provider accepts system messages
     * after the first turn. */
    char *sys_text = NULL;
    size_t sys_len = 0;
    fold_system(gr_provider_get(req, "system"), &sys_text, &sys_len);
    const cJSON *m;
    cJSON_ArrayForEach(m, messages) {
        const char *role = gr_provider_get_str(m, "role");
        if (role && !strcmp(role, "system")) fold_system(gr_provider_get(m, "content"), &sys_text, &sys_len);
    }
    if (sys_len) {
        cJSON *sm = cJSON_CreateObject();
        cJSON_AddStringToObject(sm, "role", "system");
        cJSON_AddStringToObject(sm, "content", sys_text);
        cJSON_AddItemToArray(msgs, sm);
    }
    free(sys_text);
    cJSON_ArrayForEach(m, messages) {
        const char *role = gr_provider_get_str(m, "role");
        const cJSON *content = gr_provider_get(m, "content");
        gr_status rc = GR_OK;
        if (role && !strcmp(role, "system")) {
            continue; /* folded above */
        } else if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0)) {
            bad(err, "messages: role must be 'user', 'assistant' or 'system'%s", NULL);
            rc = GR_ERR_INVALID;
        } else if (cJSON_IsString(content)) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "role", role);
            cJSON_AddStringToObject(c, "content", content->valuestring);
            cJSON_AddItemToArray(msgs, c);
        } else if (!cJSON_IsArray(content)) {
            bad(err, "messages: content must be a string or an array of blocks%s", NULL);
            rc = GR_ERR_INVALID;
        } else if (role[0] == 'u') {
            rc = user_turn(content, msgs, err);
        } else {
            rc = assistant_turn(content, msgs, err);
        }
        if (rc) {
            cJSON_Delete(out);
            return rc;
        }
    }
    const cJSON *mt = gr_provider_get(req, "max_tokens");
    if (cJSON_IsNumber(mt)) cJSON_AddNumberToObject(out, "max_tokens", mt->valuedouble);
    const cJSON *ss = gr_provider_get(req, "stop_sequences");
    if (cJSON_IsArray(ss) && cJSON_GetArraySize(ss) > 0)
        cJSON_AddItemToObject(out, "stop", cJSON_Duplicate(ss, 1));
    const cJSON *v;
    if (cJSON_IsNumber(v = gr_provider_get(req, "temperature")))
        cJSON_AddNumberToObject(out, "temperature", v->valuedouble);
    if (cJSON_IsNumber(v = gr_provider_get(req, "top_p")))
        cJSON_AddNumberToObject(out, "top_p", v->valuedouble);
    const char *uid = gr_provider_get_str(gr_provider_get(req, "metadata"), "user_id");
    if (uid) cJSON_AddStringToObject(out, "user", uid);
    const cJSON *tools = gr_provider_get(req, "tools");
    if (cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) {
        cJSON *ot = cJSON_AddArrayToObject(out, "tools");
        const cJSON *t;
        cJSON_ArrayForEach(t, tools) {
            const char *ty = gr_provider_get_str(t, "type");
            const char *name = gr_provider_get_str(t, "name");
            if ((ty && strcmp(ty, "custom") != 0) || !name) {
                bad(err, "tool type '%s' is not supported (only custom tools with a name)", ty);
                cJSON_Delete(out);
                return GR_ERR_INVALID;
            }
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "type", "function");
            cJSON *fn = cJSON_AddObjectToObject(f, "function");
            cJSON_AddStringToObject(fn, "name", name);
            const char *d = gr_provider_get_str(t, "description");
            if (d) cJSON_AddStringToObject(fn, "description", d);
            const cJSON *schema = gr_provider_get(t, "input_schema");
            if (schema) cJSON_AddItemToObject(fn, "parameters", cJSON_Duplicate(schema, 1));
            cJSON_AddItemToArray(ot, f);
        }
        const cJSON *tc = gr_provider_get(req, "tool_choice");
        const char *tct = gr_provider_get_str(tc, "type");
        if (tct) {
            if (strcmp(tct, "auto") == 0) cJSON_AddStringToObject(out, "tool_choice", "auto");
            else if (strcmp(tct, "any") == 0) cJSON_AddStringToObject(out, "tool_choice", "required");
            else if (strcmp(tct, "none") == 0) cJSON_AddStringToObject(out, "tool_choice", "none");
            else if (strcmp(tct, "tool") == 0 && gr_provider_get_str(tc, "name")) {
                cJSON *o = cJSON_AddObjectToObject(out, "tool_choice");
                cJSON_AddStringToObject(o, "type", "function");
                cJSON *fn = cJSON_AddObjectToObject(o, "function");
                cJSON_AddStringToObject(fn, "name", gr_provider_get_str(tc, "name"));
            } else {
                bad(err, "unsupported tool_choice type '%s'", tct);
                cJSON_Delete(out);
                return GR_ERR_INVALID;
            }
            if (cJSON_IsTrue(gr_provider_get(tc, "disable_parallel_tool_use")))
                cJSON_AddFalseToObject(out, "parallel_tool_calls");
        }
    }
    if (cJSON_IsTrue(gr_provider_get(req, "stream"))) {
        cJSON_AddTrueToObject(out, "stream");
        cJSON *so = cJSON_AddObjectToObject(out, "stream_options");
        cJSON_AddTrueToObject(so, "include_usage");
    }
    *canonical = out;
    return GR_OK;
}

/* ---- response: canonical -> Anthropic ---- */

static const char *stop_reason_for(const char *finish) {
    if (!finish) return "end_turn";
    if (strcmp(finish, "length") == 0) return "max_tokens";
    if (strcmp(finish, "tool_calls") == 0 || strcmp(finish, "function_call") == 0)
        return "tool_use";
    if (strcmp(finish, "content_filter") == 0) return "refusal";
    return "end_turn";
}

static char *msg_id(const char *id) {
    if (!id) return gr_xstrdup("msg_gaterouter");
    if (strncmp(id, "msg_", 4) == 0) return gr_xstrdup(id);
    size_t n = strlen(id) + 5;
    char *r = gr_xmalloc(n);
    snprintf(r, n, "msg_%s", id);
    return r;
}

static cJSON *anth_usage(const gr_usage *u, bool with_input) {
    cJSON *o = cJSON_CreateObject();
    int64_t in = u->prompt_tokens - u->cached_tokens - u->cache_write_tokens;
    if (with_input) {
        cJSON_AddNumberToObject(o, "input_tokens", (double)(in > 0 ? in : 0));
        cJSON_AddNumberToObject(o, "cache_creation_input_tokens", (double)u->cache_write_tokens);
        cJSON_AddNumberToObject(o, "cache_read_input_tokens", (double)u->cached_tokens);
    }
    cJSON_AddNumberToObject(o, "output_tokens", (double)u->completion_tokens);
    return o;
}

/* Gemini's thoughtSignature for a tool call (canonical
 * tool_calls[].extra_content.google.thought_signature), or NULL. */
static const char *gemini_signature(const cJSON *tc) {
    return gr_provider_get_str(gr_provider_get(gr_provider_get(tc, "extra_content"), "google"), "thought_signature");
}

/* The thinking block that carries a Gemini signature through an Anthropic
 * client: it precedes its tool_use block, and the client echoes both back
 * on the next turn (assistant_turn() restores the signature). */
static char *carried_signature(const char *sig) {
    size_t n = strlen(GR_MESSAGES_GEMINI_SIG_PREFIX) + strlen(sig) + 1;
    char *out = gr_xmalloc(n);
    snprintf(out, n, "%s%s", GR_MESSAGES_GEMINI_SIG_PREFIX, sig);
    return out;
}

static cJSON *signature_block(const char *sig) {
    char *carried = carried_signature(sig);
    cJSON *b = gr_anthropic_thinking_block("", carried);
    free(carried);
    return b;
}

static cJSON *tool_use_block(const cJSON *tc) {
    const cJSON *fn = gr_provider_get(tc, "function");
    const char *args = gr_provider_get_str(fn, "arguments");
    cJSON *input = args ? cJSON_Parse(args) : NULL;
    if (!cJSON_IsObject(input)) {
        cJSON_Delete(input);
        input = cJSON_CreateObject();
    }
    const char *id = gr_provider_get_str(tc, "id");
    const char *name = gr_provider_get_str(fn, "name");
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "tool_use");
    cJSON_AddStringToObject(b, "id", id ? id : "");
    cJSON_AddStringToObject(b, "name", name ? name : "");
    cJSON_AddItemToObject(b, "input", input);
    return b;
}

gr_status gr_messages_from_canonical(const cJSON *resp, const char *model, cJSON **anthropic_msg,
                                     gr_upstream_error *err) {
    *anthropic_msg = NULL;
    const cJSON *ch = cJSON_GetArrayItem(gr_provider_get(resp, "choices"), 0);
    const cJSON *msg = gr_provider_get(ch, "message");
    if (!cJSON_IsObject(msg)) {
        gr_provider_bad_upstream(err, "upstream response has no choices[0].message");
        return GR_ERR_PARSE;
    }
    cJSON *o = cJSON_CreateObject();
    char *id = msg_id(gr_provider_get_str(resp, "id"));
    cJSON_AddStringToObject(o, "id", id);
    free(id);
    cJSON_AddStringToObject(o, "type", "message");
    cJSON_AddStringToObject(o, "role", "assistant");
    const char *m = model ? model : gr_provider_get_str(resp, "model");
    cJSON_AddStringToObject(o, "model", m ? m : "");
    cJSON *content = cJSON_AddArrayToObject(o, "content");
    const char *reasoning = gr_provider_get_str(msg, "reasoning_content");
    if (reasoning && reasoning[0]) cJSON_AddItemToArray(content, gr_anthropic_thinking_block(reasoning, ""));
    char *text = gr_provider_content_text(gr_provider_get(msg, "content"));
    const char *refusal = gr_provider_get_str(msg, "refusal");
    const char *shown = text && text[0] ? text : refusal;
    if (shown && shown[0]) cJSON_AddItemToArray(content, gr_provider_text_block(shown));
    free(text);
    const cJSON *tc;
    cJSON_ArrayForEach(tc, gr_provider_get(msg, "tool_calls")) {
        const char *sig = gemini_signature(tc);
        if (sig) cJSON_AddItemToArray(content, signature_block(sig));
        cJSON_AddItemToArray(content, tool_use_block(tc));
    }
    cJSON_AddStringToObject(o, "stop_reason",
                            stop_reason_for(gr_provider_get_str(ch, "finish_reason")));
    cJSON_AddNullToObject(o, "stop_sequence");
    gr_usage u = {0};
    gr_provider_usage_from_json(gr_provider_get(resp, "usage"), &u);
    cJSON_AddItemToObject(o, "usage", anth_usage(&u, true));
    *anthropic_msg = o;
    return GR_OK;
}

/* ---- stream: canonical chunks -> Anthropic events ---- */

enum { BLK_NONE, BLK_TEXT, BLK_THINKING, BLK_TOOL };

struct gr_messages_stream {
    char *model, *id;
    bool started, stopped, errored;
    int next_block, open, open_tool;
    const char *stop_reason;
    gr_usage usage;
};

gr_messages_stream *gr_messages_stream_new(const char *model) {
    gr_messages_stream *s = gr_xcalloc(1, sizeof(*s));
    s->model = model ? gr_xstrdup(model) : NULL;
    s->open_tool = -1;
    return s;
}

void gr_messages_stream_free(gr_messages_stream *s) {
    if (!s) return;
    free(s->model);
    free(s->id);
    free(s);
}

void gr_messages_stream_set_input_estimate(gr_messages_stream *s, int64_t prompt_tokens) {
    if (s && !s->usage.present && prompt_tokens > 0) s->usage.prompt_tokens = prompt_tokens;
}

void gr_messages_stream_usage(const gr_messages_stream *s, gr_usage *out) {
    if (s && out) *out = s->usage;
}

static gr_status send(gr_messages_emit_fn emit, void *ud, const char *event, cJSON *data) {
    char *t = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    if (!t) return GR_ERR_NOMEM;
    int rc = emit ? emit(ud, event, t, strlen(t)) : 0;
    cJSON_free(t);
    return rc ? GR_ERR_IO : GR_OK;
}

static cJSON *typed(const char *type) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    return o;
}

static gr_status start_message(gr_messages_stream *s, const cJSON *chunk, gr_messages_emit_fn emit,
                               void *ud) {
    s->started = true;
    if (!s->id) s->id = msg_id(gr_provider_get_str(chunk, "id"));
    if (!s->model) {
        const char *m = gr_provider_get_str(chunk, "model");
        s->model = gr_xstrdup(m ? m : "");
    }
    cJSON *d = typed("message_start");
    cJSON *msg = cJSON_AddObjectToObject(d, "message");
    cJSON_AddStringToObject(msg, "id", s->id);
    cJSON_AddStringToObject(msg, "type", "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    cJSON_AddStringToObject(msg, "model", s->model);
    cJSON_AddArrayToObject(msg, "content");
    cJSON_AddNullToObject(msg, "stop_reason");
    cJSON_AddNullToObject(msg, "stop_sequence");
    cJSON_AddItemToObject(msg, "usage", anth_usage(&s->usage, true));
    return send(emit, ud, "message_start", d);
}

static gr_status close_block(gr_messages_stream *s, gr_messages_emit_fn emit, void *ud) {
    if (s->open == BLK_NONE) return GR_OK;
    s->open = BLK_NONE;
    s->open_tool = -1;
    cJSON *d = typed("content_block_stop");
    cJSON_AddNumberToObject(d, "index", s->next_block - 1);
    return send(emit, ud, "content_block_stop", d);
}

static gr_status open_block(gr_messages_stream *s, int kind, const cJSON *tc,
                            gr_messages_emit_fn emit, void *ud) {
    gr_status rc = close_block(s, emit, ud);
    if (rc) return rc;
    cJSON *d = typed("content_block_start");
    cJSON_AddNumberToObject(d, "index", s->next_block++);
    cJSON *cb = cJSON_AddObjectToObject(d, "content_block");
    if (kind == BLK_TEXT) {
        cJSON_AddStringToObject(cb, "type", "text");
        cJSON_AddStringToObject(cb, "text", "");
    } else if (kind == BLK_THINKING) {
        cJSON_AddStringToObject(cb, "type", "thinking");
        cJSON_AddStringToObject(cb, "thinking", "");
        cJSON_AddStringToObject(cb, "signature", "");
    } else {
        const char *id = gr_provider_get_str(tc, "id");
        const char *name = gr_provider_get_str(gr_provider_get(tc, "function"), "name");
        cJSON_AddStringToObject(cb, "type", "tool_use");
        cJSON_AddStringToObject(cb, "id", id ? id : "");
        cJSON_AddStringToObject(cb, "name", name ? name : "");
        cJSON_AddObjectToObject(cb, "input");
    }
    s->open = kind;
    return send(emit, ud, "content_block_start", d);
}

static gr_status block_delta(gr_messages_stream *s, const char *dtype, const char *key,
                             const char *val, gr_messages_emit_fn emit, void *ud) {
    cJSON *d = typed("content_block_delta");
    cJSON_AddNumberToObject(d, "index", s->next_block - 1);
    cJSON *dd = cJSON_AddObjectToObject(d, "delta");
    cJSON_AddStringToObject(dd, "type", dtype);
    cJSON_AddStringToObject(dd, key, val);
    return send(emit, ud, "content_block_delta", d);
}

static gr_status text_like(gr_messages_stream *s, int kind, const char *t,
                           gr_messages_emit_fn emit, void *ud) {
    if (!t || !t[0]) return GR_OK;
    gr_status rc = GR_OK;
    if (s->open != kind) rc = open_block(s, kind, NULL, emit, ud);
    if (rc) return rc;
    return kind == BLK_TEXT ? block_delta(s, "text_delta", "text", t, emit, ud)
                            : block_delta(s, "thinking_delta", "thinking", t, emit, ud);
}

gr_status gr_messages_stream_error(gr_messages_stream *s, const gr_upstream_error *err,
                                   gr_messages_emit_fn emit, void *ud) {
    if (s) s->errored = true;
    int st = err ? err->status : 502;
    return send(emit, ud, "error",
                error_obj(gr_messages_error_type(st), err ? err->message : "upstream error"));
}

gr_status gr_messages_stream_chunk_json(gr_messages_stream *s, const cJSON *chunk,
                                        gr_messages_emit_fn emit, void *ud) {
    if (!s || !cJSON_IsObject(chunk)) return GR_ERR_PARSE;
    if (s->stopped || s->errored) return GR_OK;
    const cJSON *e = gr_provider_get(chunk, "error");
    if (cJSON_IsObject(e)) {
        s->errored = true;
        const char *ty = gr_provider_get_str(e, "type");
        const char *msg = gr_provider_get_str(e, "message");
        static const char *same[] = {"invalid_request_error", "authentication_error",
                                     "permission_error",      "not_found_error",
                                     "rate_limit_error",      "overloaded_error"};
        const char *at = "api_error";
        for (size_t i = 0; ty && i < GR_ARRAY_LEN(same); i++)
            if (strcmp(ty, same[i]) == 0) at = same[i];
        return send(emit, ud, "error", error_obj(at, msg ? msg : "upstream error"));
    }
    gr_status rc = GR_OK;
    if (!s->started && (rc = start_message(s, chunk, emit, ud))) return rc;
    const cJSON *usage = gr_provider_get(chunk, "usage");
    if (cJSON_IsObject(usage)) gr_provider_usage_from_json(usage, &s->usage);
    const cJSON *ch = cJSON_GetArrayItem(gr_provider_get(chunk, "choices"), 0);
    const cJSON *ix = gr_provider_get(ch, "index");
    if (!ch || (cJSON_IsNumber(ix) && ix->valuedouble != 0)) return GR_OK; /* choice 0 only */
    const cJSON *delta = gr_provider_get(ch, "delta");
    if ((rc = text_like(s, BLK_THINKING, gr_provider_get_str(delta, "reasoning_content"), emit, ud)))
        return rc;
    if ((rc = text_like(s, BLK_TEXT, gr_provider_get_str(delta, "content"), emit, ud))) return rc;
    if ((rc = text_like(s, BLK_TEXT, gr_provider_get_str(delta, "refusal"), emit, ud))) return rc;
    const cJSON *tc;
    cJSON_ArrayForEach(tc, gr_provider_get(delta, "tool_calls")) {
        const cJSON *ti = gr_provider_get(tc, "index");
        int tix = cJSON_IsNumber(ti) ? ti->valueint : 0; /* saturated, never UB */
        if (s->open != BLK_TOOL || s->open_tool != tix) {
            const char *sig = gemini_signature(tc);
            if (sig) { /* its own thinking block, before the tool_use (see signature_block) */
                if ((rc = open_block(s, BLK_THINKING, NULL, emit, ud))) return rc;
                char *carried = carried_signature(sig);
                rc = block_delta(s, "signature_delta", "signature", carried, emit, ud);
                free(carried);
                if (rc) return rc;
            }
            if ((rc = open_block(s, BLK_TOOL, tc, emit, ud))) return rc;
            s->open_tool = tix;
        }
        const char *args = gr_provider_get_str(gr_provider_get(tc, "function"), "arguments");
        if (args && args[0] &&
            (rc = block_delta(s, "input_json_delta", "partial_json", args, emit, ud)))
            return rc;
    }
    const char *fr = gr_provider_get_str(ch, "finish_reason");
    if (fr) {
        s->stop_reason = stop_reason_for(fr);
        rc = close_block(s, emit, ud);
    }
    return rc;
}

gr_status gr_messages_stream_chunk(gr_messages_stream *s, const char *json, size_t len,
                                   gr_messages_emit_fn emit, void *ud) {
    if (len == 6 && memcmp(json, "[DONE]", 6) == 0) return GR_OK;
    cJSON *c = gr_provider_parse_json(json, len);
    if (!cJSON_IsObject(c)) {
        cJSON_Delete(c);
        return GR_ERR_PARSE;
    }
    gr_status rc = gr_messages_stream_chunk_json(s, c, emit, ud);
    cJSON_Delete(c);
    return rc;
}

gr_status gr_messages_stream_finish(gr_messages_stream *s, gr_messages_emit_fn emit, void *ud) {
    if (!s) return GR_ERR_INVALID;
    if (s->stopped || s->errored) return GR_OK;
    gr_status rc = GR_OK;
    if (!s->started && (rc = start_message(s, NULL, emit, ud))) return rc;
    if ((rc = close_block(s, emit, ud))) return rc;
    s->stopped = true;
    cJSON *d = typed("message_delta");
    cJSON *dd = cJSON_AddObjectToObject(d, "delta");
    cJSON_AddStringToObject(dd, "stop_reason", s->stop_reason ? s->stop_reason : "end_turn");
    cJSON_AddNullToObject(dd, "stop_sequence");
    cJSON_AddItemToObject(d, "usage", anth_usage(&s->usage, true));
    if ((rc = send(emit, ud, "message_delta", d))) return rc;
    return send(emit, ud, "message_stop", typed("message_stop"));
}
