/* mock_upstream.c — built-in mock provider speaking OpenAI's wire format and
 * Anthropic's / Gemini's native ones (see mock_upstream.h). Deterministic
 * output derived from the request. */
#include "mock_upstream.h"

#include "listen.h"

#include "http_reply.h"
#include "http_server.h"
#include "log.h"
#include "mock_native.h"
#include "api_responses.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h> /* evhttp_uridecode */
#include <event2/thread.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

/* The server's limits. evhttp, which served the mock before, had none; these
 * are far above anything the gateway forwards (its defaults: 8 MiB bodies,
 * 64 KiB of headers). The timeout (idle keep-alive, a stalled request or
 * reply) is close to evhttp's 50 s read/write timeouts. */
#define MOCK_MAX_HEADER_BYTES (1u << 20)
#define MOCK_MAX_BODY_BYTES (64u << 20)
#define MOCK_CLIENT_TIMEOUT_MS 60000u

typedef struct pending pending;

struct gr_mock {
    gr_mock_options opt;
    struct event_base *base;
    gr_http_server *http;
    pending *pending; /* streams and delayed replies in flight */
    uint16_t port;
    pthread_t thread;
    bool threaded;
    atomic_uint_fast64_t streams_started, streams_completed, streams_cancelled, requests;
    uint64_t next_id;
};

/* ---- request plan ---- */

typedef struct plan {
    int status;
    uint32_t delay_ms, tps;
    bool cut, parallel_tools, stream, include_usage, json_mode;
    int n;
    char *model;
    char **tokens; /* content tokens */
    size_t ntokens;
    size_t tokens_cap; /* allocated slots of tokens (grows geometrically) */
    cJSON *tool_calls; /* array of {id,type,function:{name,arguments}} or NULL */
    const char *finish;
    int64_t prompt_tokens;
    char *reasoning; /* [[mock:reasoning]]: reasoning_content before the answer */
} plan;

static void plan_free(plan *p) {
    for (size_t i = 0; i < p->ntokens; i++) free(p->tokens[i]);
    free(p->tokens);
    free(p->model);
    free(p->reasoning);
    cJSON_Delete(p->tool_calls);
}

static uint32_t directive(const char *text, const char *name, uint32_t dflt) {
    char pat[64];
    snprintf(pat, sizeof(pat), "[[mock:%s=", name);
    const char *p = text ? strstr(text, pat) : NULL;
    if (!p) return dflt;
    return (uint32_t)strtoul(p + strlen(pat), NULL, 10);
}

static bool has_flag(const char *text, const char *name) {
    char pat[64];
    snprintf(pat, sizeof(pat), "[[mock:%s]]", name);
    return text && strstr(text, pat);
}

/* [[mock:NAME:MODEL=VALUE]] for this upstream model, else [[mock:NAME=VALUE]]:
 * VALUE (up to "]]", newlines included) into out. */
static bool model_directive(const char *text, const char *name, const char *model, char *out, size_t cap) {
    char pat[192];
    const char *p = NULL;
    if (!text) return false;
    if (model) {
        snprintf(pat, sizeof(pat), "[[mock:%s:%s=", name, model);
        p = strstr(text, pat);
    }
    if (!p) {
        snprintf(pat, sizeof(pat), "[[mock:%s=", name);
        p = strstr(text, pat);
    }
    if (!p) return false;
    p += strlen(pat);
    const char *e = strstr(p, "]]");
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n >= cap) n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

static void add_token(plan *p, const char *s, size_t n) {
    if (p->ntokens == p->tokens_cap) {
        p->tokens_cap = p->tokens_cap ? p->tokens_cap * 2 : 16;
        p->tokens = gr_xrealloc(p->tokens, p->tokens_cap * sizeof(char *));
    }
    p->tokens[p->ntokens++] = gr_xstrndup(s, n);
}

static void tokenize_into(plan *p, const char *text, size_t max) {
    const char *s = text;
    while (*s && p->ntokens < max) {
        const char *e = s;
        while (*e && *e != ' ') e++;
        while (*e == ' ') e++;
        add_token(p, s, (size_t)(e - s));
        s = e;
    }
}

/* Text of a message's content (string or array of text parts). */
static const char *content_text(const cJSON *msg, char *buf, size_t cap) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(msg, "content");
    if (cJSON_IsString(c)) return c->valuestring;
    buf[0] = '\0';
    if (cJSON_IsArray(c)) {
        size_t len = 0;
        const cJSON *part;
        cJSON_ArrayForEach(part, c) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) {
                int n = snprintf(buf + len, cap - len, "%s%s", len ? " " : "", t->valuestring);
                if (n < 0 || (size_t)n >= cap - len) break;
                len += (size_t)n;
            }
        }
    }
    return buf;
}

static void fill_args(cJSON *args, const cJSON *params) {
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(params, "properties");
    const cJSON *prop;
    cJSON_ArrayForEach(prop, props) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(prop, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "string";
        if (!strcmp(t, "number") || !strcmp(t, "integer")) cJSON_AddNumberToObject(args, prop->string, 1);
        else if (!strcmp(t, "boolean")) cJSON_AddTrueToObject(args, prop->string);
        else if (!strcmp(t, "array")) cJSON_AddArrayToObject(args, prop->string);
        else if (!strcmp(t, "object")) cJSON_AddObjectToObject(args, prop->string);
        else {
            const cJSON *en = cJSON_GetObjectItemCaseSensitive(prop, "enum");
            if (cJSON_IsArray(en) && cJSON_IsString(cJSON_GetArrayItem(en, 0)))
                cJSON_AddStringToObject(args, prop->string, cJSON_GetArrayItem(en, 0)->valuestring);
            else cJSON_AddStringToObject(args, prop->string, "mock");
        }
    }
}

/* [[mock:args={...}]]: the arguments of the tool call, as given (a JSON
 * object up to the closing brackets); NULL when absent or not an object. */
static cJSON *directive_args(const char *text) {
    static const char pat[] = "[[mock:args=";
    const char *p = text ? strstr(text, pat) : NULL;
    const char *e = p ? strstr(p, "]]") : NULL;
    while (e && e[2] == ']') e++; /* the JSON may end in ']' */
    if (!e) return NULL;
    p += sizeof(pat) - 1;
    cJSON *j = cJSON_ParseWithLength(p, (size_t)(e - p));
    if (cJSON_IsObject(j)) return j;
    cJSON_Delete(j);
    return NULL;
}

/* [[mock:tool=NAME]]: the tool to call (like a forced tool_choice). */
static bool directive_tool(const char *text, char *out, size_t cap) {
    static const char pat[] = "[[mock:tool=";
    const char *p = text ? strstr(text, pat) : NULL;
    const char *e = p ? strstr(p, "]]") : NULL;
    if (!e) return false;
    p += sizeof(pat) - 1;
    snprintf(out, cap, "%.*s", (int)(e - p), p);
    return true;
}

static int64_t estimate_prompt_tokens(const cJSON *messages) {
    int64_t chars = 0, n = 0;
    const cJSON *m;
    char buf[8192];
    cJSON_ArrayForEach(m, messages) {
        chars += (int64_t)strlen(content_text(m, buf, sizeof(buf)));
        n++;
    }
    return chars / 4 + 4 * n + 3;
}

static void build_plan(gr_mock *mk, const cJSON *req, plan *p, bool chat) {
    memset(p, 0, sizeof(*p));
    p->status = 200;
    p->delay_ms = mk->opt.latency_ms;
    p->tps = mk->opt.tokens_per_sec;
    p->finish = "stop";
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(req, "model");
    p->model = gr_xstrdup(cJSON_IsString(model) ? model->valuestring : "mock");
    p->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream"));
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    p->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
    const cJSON *nn = cJSON_GetObjectItemCaseSensitive(req, "n");
    p->n = cJSON_IsNumber(nn) && nn->valueint > 1 && nn->valueint <= 8 ? nn->valueint : 1;
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    p->json_mode = cJSON_IsString(rft) && strcmp(rft->valuestring, "text") != 0;

    uint32_t max_tokens = 1u << 30;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(req, "max_completion_tokens");
    if (!cJSON_IsNumber(mt)) mt = cJSON_GetObjectItemCaseSensitive(req, "max_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble >= 0) max_tokens = (uint32_t)mt->valuedouble;

    char buf[8192];
    const char *last_text = "";
    const cJSON *last = NULL;
    if (chat) {
        const cJSON *messages = cJSON_GetObjectItemCaseSensitive(req, "messages");
        last = cJSON_GetArrayItem(messages, cJSON_GetArraySize(messages) - 1);
        for (int i = cJSON_GetArraySize(messages) - 1; i >= 0; i--) {
            const cJSON *m = cJSON_GetArrayItem(messages, i);
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (cJSON_IsString(role) && !strcmp(role->valuestring, "user")) {
                last_text = content_text(m, buf, sizeof(buf));
                break;
            }
        }
        p->prompt_tokens = estimate_prompt_tokens(messages);
    } else {
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(req, "prompt");
        if (cJSON_IsString(pr)) last_text = pr->valuestring;
        p->prompt_tokens = (int64_t)strlen(last_text) / 4 + 1;
    }
    char status_v[16];
    p->status = model_directive(last_text, "status", p->model, status_v, sizeof(status_v)) ? (int)strtoul(status_v, NULL, 10) : 200;
    char delay_v[16];
    if (model_directive(last_text, "delay_ms", p->model, delay_v, sizeof(delay_v))) p->delay_ms = (uint32_t)strtoul(delay_v, NULL, 10);
    p->tps = directive(last_text, "tps", p->tps);
    p->cut = has_flag(last_text, "cut");
    p->parallel_tools = has_flag(last_text, "parallel_tools");
    uint32_t ntok = directive(last_text, "tokens", 0);
    if (has_flag(last_text, "reasoning")) {
        char rb[160];
        snprintf(rb, sizeof(rb), "Reasoning about the request: %.80s", last_text);
        p->reasoning = gr_xstrdup(rb);
    }

    /* Tool calls: offered tools, last turn from the user, tool_choice not "none". */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(req, "tools");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(req, "tool_choice");
    const cJSON *last_role = cJSON_GetObjectItemCaseSensitive(last, "role");
    bool last_is_user = cJSON_IsString(last_role) && !strcmp(last_role->valuestring, "user");
    uint32_t tool_turns = directive(last_text, "tool_turns", 0); /* an agent loop: call tools until N results */
    if (tool_turns && chat) {
        uint32_t results = 0;
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(req, "messages")) {
            const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
            if (cJSON_IsString(role) && !strcmp(role->valuestring, "tool")) results++;
        }
        if (results < tool_turns) last_is_user = true;
    }
    if (chat && cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0 && last_is_user &&
        !(cJSON_IsString(tc) && !strcmp(tc->valuestring, "none"))) {
        const char *forced = NULL;
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tc, "function"), "name");
        if (cJSON_IsString(fn)) forced = fn->valuestring;
        char named[128];
        if (directive_tool(last_text, named, sizeof(named))) forced = named;
        p->tool_calls = cJSON_CreateArray();
        const cJSON *tool;
        int idx = 0;
        cJSON_ArrayForEach(tool, tools) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(tool, "function");
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
            if (!cJSON_IsString(name)) continue;
            if (forced && strcmp(forced, name->valuestring)) continue;
            cJSON *call = cJSON_CreateObject();
            char id[48];
            snprintf(id, sizeof(id), "call_mock_%d_%llu", idx, (unsigned long long)mk->next_id);
            cJSON_AddStringToObject(call, "id", id);
            cJSON_AddStringToObject(call, "type", "function");
            cJSON *cf = cJSON_AddObjectToObject(call, "function");
            cJSON_AddStringToObject(cf, "name", name->valuestring);
            cJSON *args = directive_args(last_text);
            if (!args) {
                args = cJSON_CreateObject();
                fill_args(args, cJSON_GetObjectItemCaseSensitive(f, "parameters"));
            }
            char *as = cJSON_PrintUnformatted(args);
            cJSON_AddStringToObject(cf, "arguments", as);
            cJSON_free(as);
            cJSON_Delete(args);
            cJSON_AddItemToArray(p->tool_calls, call);
            idx++;
            if (!p->parallel_tools) break;
        }
        if (idx == 0) {
            cJSON_Delete(p->tool_calls);
            p->tool_calls = NULL;
        } else {
            p->finish = "tool_calls";
            return;
        }
    }

    char text[1024];
    if (chat && model_directive(last_text, "answer", p->model, text, sizeof(text))) { /* a scripted reply */
        tokenize_into(p, text, max_tokens);
        return;
    }
    if (ntok) {
        static const char *const words[] = {"lorem ", "ipsum ", "dolor ", "sit ", "amet ", "consectetur ",
                                            "adipiscing ", "elit "};
        for (uint32_t i = 0; i < ntok && i < max_tokens; i++) add_token(p, words[i % 8], strlen(words[i % 8]));
        if (ntok > max_tokens) p->finish = "length";
        return;
    }
    const cJSON *lr = cJSON_GetObjectItemCaseSensitive(last, "role");
    if (chat && cJSON_IsString(lr) && !strcmp(lr->valuestring, "tool")) {
        char tb[2048];
        snprintf(text, sizeof(text), "The tool returned: %.900s", content_text(last, tb, sizeof(tb)));
    } else if (p->json_mode) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddBoolToObject(o, "mock", 1);
        cJSON_AddStringToObject(o, "echo", last_text);
        char *s = cJSON_PrintUnformatted(o);
        snprintf(text, sizeof(text), "%s", s);
        cJSON_free(s);
        cJSON_Delete(o);
        add_token(p, text, strlen(text)); /* one token: keep JSON intact */
        return;
    } else {
        snprintf(text, sizeof(text), "Hello from the GateRouter mock model %s. You said: %.600s", p->model, last_text);
    }
    tokenize_into(p, text, max_tokens);
    size_t total_words = 0;
    for (const char *s = text; *s;) {
        while (*s == ' ') s++;
        if (!*s) break;
        total_words++;
        while (*s && *s != ' ') s++;
    }
    if (total_words > max_tokens) p->finish = "length";
}

/* ---- rendering: one plan, canonical objects, per-wire encoding ----
 *
 * Every reply is first built in the canonical OpenAI shape (chat.completion,
 * chat.completion.chunk, text_completion) from the plan; the "wire" then
 * decides the bytes: GR_PROVIDER_OPENAI sends the canonical JSON / SSE as is,
 * GR_PROVIDER_ANTHROPIC and GR_PROVIDER_GEMINI re-encode it with mock_native.c
 * (whole bodies, error bodies, and SSE streams chunk by chunk). */

static char *make_id(gr_mock *mk, const char *prefix) {
    char buf[64];
    snprintf(buf, sizeof(buf), "%s-mock%llu", prefix, (unsigned long long)++mk->next_id);
    return gr_xstrdup(buf);
}

static char *joined_content(const plan *p) {
    size_t len = 0;
    for (size_t i = 0; i < p->ntokens; i++) len += strlen(p->tokens[i]);
    char *s = gr_xmalloc(len + 1);
    s[0] = '\0';
    size_t off = 0;
    for (size_t i = 0; i < p->ntokens; i++) {
        size_t n = strlen(p->tokens[i]);
        memcpy(s + off, p->tokens[i], n);
        off += n;
    }
    s[off] = '\0';
    return s;
}

static cJSON *usage_json(const plan *p) {
    cJSON *u = cJSON_CreateObject();
    int64_t completion = (int64_t)p->ntokens * p->n;
    if (p->tool_calls) completion = 10 * cJSON_GetArraySize(p->tool_calls);
    int64_t reasoning = p->reasoning ? (int64_t)strlen(p->reasoning) / 4 : 0;
    completion += reasoning;
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)p->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)completion);
    cJSON_AddNumberToObject(u, "total_tokens", (double)(p->prompt_tokens + completion));
    if (reasoning)
        cJSON_AddNumberToObject(cJSON_AddObjectToObject(u, "completion_tokens_details"), "reasoning_tokens",
                                (double)reasoning);
    return u;
}

/* An error reply in the wire's own shape (Anthropic {"type":"error",...} with
 * e.g. overloaded_error for 529; Google {"error":{code,message,status}}). */
static void reply_wire_error(gr_client_req *req, gr_provider_kind wire, int status,
                             const char *type, const char *code, const char *message) {
    if (wire == GR_PROVIDER_OPENAI) {
        gr_reply_error(req, status, type, code, NULL, "%s", message);
        return;
    }
    size_t n = 0;
    char *body = gr_mock_native_error(wire, status, message, &n);
    if (!body) abort();
    gr_reply_json_text(req, status, body, n);
    free(body);
}

/* [[mock:status=N]] */
static void reply_status_error(gr_client_req *req, gr_provider_kind wire, int status) {
    char msg[96];
    snprintf(msg, sizeof(msg), "mock upstream error: simulated HTTP %d", status);
    const char *type = status == 429 ? "rate_limit_error" : status >= 500 ? "server_error" : "invalid_request_error";
    reply_wire_error(req, wire, status, type, status == 429 ? "rate_limit_exceeded" : NULL, msg);
}

/* The canonical chat.completion / text_completion for a plan. */
static cJSON *render_completion(gr_mock *mk, const plan *p, bool chat) {
    cJSON *r = cJSON_CreateObject();
    char *id = make_id(mk, chat ? "chatcmpl" : "cmpl");
    cJSON_AddStringToObject(r, "id", id);
    free(id);
    cJSON_AddStringToObject(r, "object", chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(r, "created", (double)(gr_wall_ms() / 1000));
    cJSON_AddStringToObject(r, "model", p->model);
    cJSON *choices = cJSON_AddArrayToObject(r, "choices");
    char *content = joined_content(p);
    for (int i = 0; i < p->n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", i);
        if (chat) {
            cJSON *m = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            if (p->reasoning) cJSON_AddStringToObject(m, "reasoning_content", p->reasoning);
            if (p->tool_calls) {
                cJSON_AddNullToObject(m, "content");
                cJSON_AddItemToObject(m, "tool_calls", cJSON_Duplicate(p->tool_calls, 1));
            } else {
                cJSON_AddStringToObject(m, "content", content);
            }
            cJSON_AddNullToObject(m, "refusal");
        } else {
            cJSON_AddStringToObject(c, "text", content);
        }
        cJSON_AddNullToObject(c, "logprobs");
        cJSON_AddStringToObject(c, "finish_reason", p->finish);
        cJSON_AddItemToArray(choices, c);
    }
    free(content);
    cJSON_AddItemToObject(r, "usage", usage_json(p));
    cJSON_AddStringToObject(r, "system_fingerprint", "fp_mock");
    return r;
}

/* ---- requests the mock keeps after its handler returns ----
 *
 * A stream or a delayed reply owns its gr_client_req until it ends it. Each
 * is linked in mk->pending (so stopping the mock frees what is still in
 * flight) and has one timer; the client leaving (on_close) stops the timer
 * and frees it at once. */

struct pending {
    gr_mock *mk;
    pending *prev, *next;
    gr_client_req *req;
    struct event *timer;
    void (*dispose)(pending *); /* frees the owner; the request was ended before */
};

static void pending_init(gr_mock *mk, pending *pj, gr_client_req *req, event_callback_fn fire,
                         void (*dispose)(pending *)) {
    pj->mk = mk;
    pj->req = req;
    pj->dispose = dispose;
    pj->timer = evtimer_new(mk->base, fire, pj);
    if (!pj->timer) abort();
    pj->next = mk->pending;
    if (mk->pending) mk->pending->prev = pj;
    mk->pending = pj;
}

static void pending_dispose(pending *pj) {
    if (pj->prev) pj->prev->next = pj->next;
    else pj->mk->pending = pj->next;
    if (pj->next) pj->next->prev = pj->prev;
    event_free(pj->timer);
}

static void pending_arm(pending *pj, uint64_t us) {
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(pj->timer, &tv);
}

/* ---- streaming ---- */

/* Backpressure: a stream stops producing while more than this is queued on
 * its connection (a client that does not read), and resumes at the low mark. */
#define STREAM_QUEUE_HIGH (256u << 10)
#define STREAM_QUEUE_LOW (64u << 10)

typedef struct mstream {
    pending pj; /* first: the timer's and the list's view of the stream */
    plan p;
    char *id;
    bool chat;
    gr_mock_stream *enc; /* native encoder; NULL = OpenAI "data: {...}" framing */
    gr_responses_stream *renc; /* POST /v1/responses: canonical chunks -> Responses events */
    size_t next;         /* next token index; ntokens = finish chunk, +1 = usage + end */
    int64_t created;
    bool role_sent;
    size_t queued;       /* bytes queued on the connection after the last chunk */
    struct evbuffer *out; /* one chunk at a time (drained by each send) */
} mstream;

static void mstream_dispose(pending *pj) {
    mstream *s = (mstream *)pj;
    pending_dispose(pj);
    plan_free(&s->p);
    gr_mock_native_stream_free(s->enc);
    gr_responses_stream_free(s->renc);
    evbuffer_free(s->out);
    free(s->id);
    free(s);
}

/* The client went away mid-stream: stop generating. */
static void stream_client_gone(gr_client_req *req, void *arg) {
    mstream *s = arg;
    atomic_fetch_add(&s->pj.mk->streams_cancelled, 1);
    gr_client_req_release(req);
    mstream_dispose(&s->pj);
}

static void stream_send(mstream *s) {
    s->queued = gr_client_req_send_chunk(s->pj.req, s->out);
}

static void stream_write(mstream *s, const char *data, size_t len) {
    if (!data || !len) return;
    evbuffer_add(s->out, data, len);
    stream_send(s);
}

static int emit_responses_event(void *ud, const char *event, const char *data, size_t len) {
    mstream *s = ud;
    evbuffer_add_printf(s->out, "event: %s\ndata: %.*s\n\n", event, (int)len, data);
    stream_send(s);
    return 0;
}

/* One canonical chunk out, encoded for the stream's wire. */
static void send_chunk_json(mstream *s, const cJSON *obj) {
    if (s->renc) {
        char *js = cJSON_PrintUnformatted(obj);
        if (gr_responses_stream_chunk(s->renc, js, strlen(js), emit_responses_event, s) != GR_OK) abort();
        cJSON_free(js);
        return;
    }
    if (s->enc) {
        size_t n = 0;
        char *bytes = gr_mock_native_stream_chunk(s->enc, obj, &n);
        stream_write(s, bytes, n);
        free(bytes);
        return;
    }
    char *js = cJSON_PrintUnformatted(obj);
    evbuffer_add_printf(s->out, "data: %s\n\n", js);
    stream_send(s);
    cJSON_free(js);
}

static cJSON *chunk_base(mstream *s) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", s->id);
    cJSON_AddStringToObject(c, "object", s->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(c, "created", (double)s->created);
    cJSON_AddStringToObject(c, "model", s->p.model);
    cJSON_AddStringToObject(c, "system_fingerprint", "fp_mock");
    return c;
}

static void stream_finish(mstream *s) {
    if (s->renc) {
        if (gr_responses_stream_finish(s->renc, emit_responses_event, s) != GR_OK) abort();
    } else if (s->enc) {
        size_t n = 0;
        char *bytes = gr_mock_native_stream_finish(s->enc, &n);
        stream_write(s, bytes, n);
        free(bytes);
    } else {
        static const char done[] = "data: [DONE]\n\n";
        stream_write(s, done, sizeof(done) - 1);
    }
    gr_client_req_reply_end(s->pj.req);
    atomic_fetch_add(&s->pj.mk->streams_completed, 1);
    mstream_dispose(&s->pj);
}

static void emit_tool_call_chunks(mstream *s) {
    int i = 0;
    const cJSON *call;
    cJSON_ArrayForEach(call, s->p.tool_calls) {
        const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
        const char *args = cJSON_GetObjectItemCaseSensitive(fn, "arguments")->valuestring;
        size_t half = strlen(args) / 2;
        for (int piece = 0; piece < 3; piece++) { /* name first, arguments in two pieces */
            cJSON *c = chunk_base(s);
            cJSON *choice = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), choice);
            cJSON_AddNumberToObject(choice, "index", 0);
            cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
            if (!s->role_sent) {
                cJSON_AddStringToObject(delta, "role", "assistant");
                s->role_sent = true;
            }
            cJSON *tc = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(delta, "tool_calls"), tc);
            cJSON_AddNumberToObject(tc, "index", i);
            cJSON *f = cJSON_CreateObject();
            if (piece == 0) {
                cJSON_AddStringToObject(tc, "id", cJSON_GetObjectItemCaseSensitive(call, "id")->valuestring);
                cJSON_AddStringToObject(tc, "type", "function");
                cJSON_AddStringToObject(f, "name", cJSON_GetObjectItemCaseSensitive(fn, "name")->valuestring);
                cJSON_AddStringToObject(f, "arguments", "");
            } else {
                char *part = piece == 1 ? gr_xstrndup(args, half) : gr_xstrdup(args + half);
                cJSON_AddStringToObject(f, "arguments", part);
                free(part);
            }
            cJSON_AddItemToObject(tc, "function", f);
            cJSON_AddNullToObject(choice, "finish_reason");
            send_chunk_json(s, c);
            cJSON_Delete(c);
        }
        i++;
    }
}

/* [[mock:reasoning]]: the reasoning in one chunk, before anything else. */
static void emit_reasoning_chunk(mstream *s) {
    cJSON *c = chunk_base(s);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), choice);
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
    cJSON_AddStringToObject(delta, "role", "assistant");
    cJSON_AddStringToObject(delta, "reasoning_content", s->p.reasoning);
    cJSON_AddNullToObject(choice, "finish_reason");
    send_chunk_json(s, c);
    cJSON_Delete(c);
    s->role_sent = true;
}

/* States: next < ntokens: one content token; next == ntokens: the finish
 * chunk; next == ntokens + 1: usage chunk (if asked) and [DONE]. */
static void emit_step(mstream *s) {
    plan *p = &s->p;
    if (s->next <= p->ntokens) {
        if (s->next == 0 && s->chat && p->reasoning) emit_reasoning_chunk(s);
        if (s->next == 0 && p->tool_calls) emit_tool_call_chunks(s);
        for (int ci = 0; ci < p->n; ci++) {
            cJSON *c = chunk_base(s);
            cJSON *choice = cJSON_CreateObject();
            cJSON_AddItemToArray(cJSON_AddArrayToObject(c, "choices"), choice);
            cJSON_AddNumberToObject(choice, "index", ci);
            bool last = s->next == p->ntokens;
            if (s->chat) {
                cJSON *delta = cJSON_AddObjectToObject(choice, "delta");
                if (!s->role_sent || (ci > 0 && s->next == 0)) cJSON_AddStringToObject(delta, "role", "assistant");
                if (!last) cJSON_AddStringToObject(delta, "content", p->tokens[s->next]);
                cJSON_AddNullToObject(choice, "logprobs");
            } else {
                cJSON_AddStringToObject(choice, "text", last ? "" : p->tokens[s->next]);
            }
            if (last) cJSON_AddStringToObject(choice, "finish_reason", p->finish);
            else cJSON_AddNullToObject(choice, "finish_reason");
            if (p->include_usage) cJSON_AddNullToObject(c, "usage");
            send_chunk_json(s, c);
            cJSON_Delete(c);
        }
        s->role_sent = true;
        s->next++;
        return;
    }
    if (p->include_usage) {
        cJSON *c = chunk_base(s);
        cJSON_AddArrayToObject(c, "choices");
        cJSON_AddItemToObject(c, "usage", usage_json(p));
        send_chunk_json(s, c);
        cJSON_Delete(c);
    }
    s->next++;
}

static void stream_schedule(mstream *s) {
    uint32_t tps = s->p.tps;
    pending_arm(&s->pj, tps ? 1000000u / tps : 0);
}

/* The client read enough of what was queued: go on. */
static void stream_drained(gr_client_req *req, void *arg) {
    (void)req;
    stream_schedule(arg);
}

static void stream_tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    mstream *s = arg;
    plan *p = &s->p;
    s->queued = gr_client_req_queued(s->pj.req); /* the client may have read since the last chunk */
    /* Unpaced: as fast as possible, in slices of 256 tokens so one huge
     * stream never holds the loop (others' requests, its own first bytes). */
    size_t batch = p->tps ? 1 : 256;
    for (size_t k = 0; k < batch && s->next <= p->ntokens + 1 && s->queued <= STREAM_QUEUE_HIGH; k++) {
        if (p->cut && s->next > 0 && s->next >= (p->ntokens + 1) / 2) {
            /* Simulated upstream crash: drop the connection without [DONE]. */
            gr_client_req_release(s->pj.req);
            mstream_dispose(&s->pj);
            return;
        }
        emit_step(s);
        /* Native wires close in one burst, like the real services: Anthropic
         * sends content_block_stop, message_delta (stop_reason + usage) and
         * message_stop together, Gemini one last chunk with finishReason and
         * usageMetadata. Their encoders need both the finish chunk and the
         * usage step for that, so those two steps share a tick here instead
         * of going out one pace apart (which left a 2-pace gap in every
         * translated stream; OpenAI's wire keeps its own finish chunk). */
        if (s->enc && s->next == p->ntokens + 1) emit_step(s);
    }
    if (s->next > p->ntokens + 1) {
        stream_finish(s);
        return;
    }
    if (s->queued > STREAM_QUEUE_HIGH) gr_client_req_on_drain(s->pj.req, STREAM_QUEUE_LOW, stream_drained, s);
    else stream_schedule(s);
}

/* ---- non-streamed replies (possibly delayed) ---- */

typedef struct delayed {
    pending pj;
    char *body;
    int status;
    gr_provider_kind wire;
} delayed;

static void delayed_dispose(pending *pj) {
    delayed *d = (delayed *)pj;
    pending_dispose(pj);
    free(d->body);
    free(d);
}

static void reply_now(gr_client_req *req, gr_provider_kind wire, int status, const char *body) {
    if (status != 200 || !body) reply_status_error(req, wire, status != 200 ? status : 500);
    else gr_reply_json_text(req, 200, body, strlen(body));
}

static void delayed_fire(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    delayed *d = arg;
    reply_now(d->pj.req, d->wire, d->status, d->body);
    delayed_dispose(&d->pj);
}

static void delayed_client_gone(gr_client_req *req, void *arg) {
    gr_client_req_release(req);
    delayed_dispose(arg);
}

static void reply_later(gr_mock *mk, gr_client_req *req, gr_provider_kind wire, int status, char *body,
                        uint32_t delay_ms) {
    if (!delay_ms) {
        reply_now(req, wire, status, body);
        free(body);
        return;
    }
    delayed *d = gr_xcalloc(1, sizeof(*d));
    d->body = body;
    d->status = status;
    d->wire = wire;
    pending_init(mk, &d->pj, req, delayed_fire, delayed_dispose);
    gr_client_req_on_close(req, delayed_client_gone, d);
    pending_arm(&d->pj, (uint64_t)delay_ms * 1000);
}

static cJSON *parse_body(gr_client_req *req) {
    size_t len = 0;
    const char *data = gr_client_req_body(req, &len);
    return cJSON_ParseWithLength(data, len);
}

/* Serve a plan on a wire: the status directive, a stream, or a whole body;
 * resp_req: the Responses request when the plan answers POST /v1/responses.
 * Takes ownership of *p. */
static void serve_plan(gr_mock *mk, gr_client_req *req, plan *p, bool chat, gr_provider_kind wire,
                       const cJSON *resp_req) {
    char *resp_id = resp_req ? make_id(mk, "resp_mock") : NULL;
    gr_responses_call call = {.request = resp_req, .id = resp_id, .model = p->model,
                              .created_at = (int64_t)(gr_wall_ms() / 1000)};
    if (p->status != 200) {
        reply_later(mk, req, wire, p->status, NULL, p->delay_ms);
        plan_free(p);
        free(resp_id);
        return;
    }
    if (p->stream) {
        mstream *s = gr_xcalloc(1, sizeof(*s));
        s->p = *p;
        s->chat = chat;
        s->id = make_id(mk, chat ? "chatcmpl" : "cmpl");
        s->created = (int64_t)(gr_wall_ms() / 1000);
        s->out = evbuffer_new();
        if (!s->out) abort();
        if (wire != GR_PROVIDER_OPENAI) s->enc = gr_mock_native_stream_new(wire, p->model, p->prompt_tokens);
        if (resp_req) s->renc = gr_responses_stream_new(&call);
        free(resp_id);
        pending_init(mk, &s->pj, req, stream_tick, mstream_dispose);
        atomic_fetch_add(&mk->streams_started, 1);
        gr_client_req_add_header(req, "Cache-Control", "no-cache");
        gr_client_req_reply_start(req, 200, "text/event-stream");
        gr_client_req_on_close(req, stream_client_gone, s);
        pending_arm(&s->pj, (uint64_t)p->delay_ms * 1000);
        return;
    }
    cJSON *r = render_completion(mk, p, chat);
    char *out;
    if (resp_req) {
        cJSON *resp = NULL;
        gr_upstream_error e = {0};
        if (gr_responses_from_canonical(r, &call, &resp, &e) != GR_OK) abort();
        char *js = cJSON_PrintUnformatted(resp);
        out = gr_xstrdup(js);
        cJSON_free(js);
        cJSON_Delete(resp);
    } else if (wire == GR_PROVIDER_OPENAI) {
        char *js = cJSON_PrintUnformatted(r);
        out = gr_xstrdup(js);
        cJSON_free(js);
    } else {
        out = gr_mock_native_response(wire, r, NULL);
    }
    cJSON_Delete(r);
    free(resp_id);
    uint32_t delay = p->delay_ms;
    plan_free(p);
    if (!out) {
        reply_wire_error(req, wire, 500, "server_error", NULL, "mock: could not encode the response");
        return;
    }
    reply_later(mk, req, wire, 200, out, delay);
}

static void handle_generate(gr_mock *mk, gr_client_req *req, bool chat) {
    cJSON *body = parse_body(req);
    if (!cJSON_IsObject(body) || (chat && !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(body, "messages")))) {
        gr_reply_error(req, 400, "invalid_request_error", NULL, NULL, "mock: invalid request body");
        cJSON_Delete(body);
        return;
    }
    plan p;
    build_plan(mk, body, &p, chat);
    cJSON_Delete(body);
    serve_plan(mk, req, &p, chat, GR_PROVIDER_OPENAI, NULL);
}

/* POST /v1/responses: OpenAI's Responses API, planned like the chat request
 * it translates to (api_responses.c) and answered as a Response or its
 * event stream; ids start with resp_mock. */
static void handle_responses(gr_mock *mk, gr_client_req *req) {
    cJSON *body = parse_body(req);
    cJSON *canon = NULL;
    gr_upstream_error e = {0};
    if (!cJSON_IsObject(body) || gr_responses_to_canonical(body, NULL, &canon, &e) != GR_OK) {
        gr_reply_error(req, 400, "invalid_request_error", NULL, NULL, "mock: %s",
                       e.message[0] ? e.message : "invalid request body");
        cJSON_Delete(canon);
        cJSON_Delete(body);
        return;
    }
    plan p;
    build_plan(mk, canon, &p, true);
    cJSON_Delete(canon);
    serve_plan(mk, req, &p, true, GR_PROVIDER_OPENAI, body);
    cJSON_Delete(body);
}

/* Native endpoints: Anthropic POST /v1/messages, Gemini POST
 * /v1beta/models/<model>:generateContent | :streamGenerateContent?alt=sse.
 * The native request is decoded to canonical, planned and rendered exactly
 * like an OpenAI one, then re-encoded. Like the real services, the mock
 * insists on the credentials header (and anthropic-version / max_tokens), so
 * an adapter that forgets them fails here too. */
static void handle_native(gr_mock *mk, gr_client_req *req, gr_provider_kind kind, const char *model,
                          bool stream) {
    if (kind == GR_PROVIDER_ANTHROPIC) {
        if (!gr_client_req_header(req, "x-api-key") && !gr_client_req_header(req, "authorization")) {
            reply_wire_error(req, kind, 401, NULL, NULL, "x-api-key header is required");
            return;
        }
        if (!gr_client_req_header(req, "anthropic-version")) {
            reply_wire_error(req, kind, 400, NULL, NULL, "anthropic-version: header is required");
            return;
        }
    } else if (!gr_client_req_header(req, "x-goog-api-key") && !strstr(gr_client_req_uri(req), "key=")) {
        reply_wire_error(req, kind, 403, NULL, NULL,
                         "Method doesn't allow unregistered callers (callers without established identity). "
                         "Please use API Key or other form of API consumer identity to call this API.");
        return;
    }
    cJSON *body = parse_body(req);
    if (!cJSON_IsObject(body)) {
        reply_wire_error(req, kind, 400, NULL, NULL, "mock: invalid request body (expected a JSON object)");
        cJSON_Delete(body);
        return;
    }
    if (kind == GR_PROVIDER_ANTHROPIC && !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(body, "max_tokens"))) {
        reply_wire_error(req, kind, 400, NULL, NULL, "max_tokens: Field required");
        cJSON_Delete(body);
        return;
    }
    cJSON *canonical = NULL;
    gr_upstream_error err;
    memset(&err, 0, sizeof(err));
    gr_status rc = gr_mock_native_request(kind, body, model, stream, &canonical, &err);
    cJSON_Delete(body);
    if (rc != GR_OK || !canonical) {
        reply_wire_error(req, kind, err.status ? err.status : 400, NULL, NULL,
                         err.message[0] ? err.message : "mock: cannot decode the request");
        cJSON_Delete(canonical);
        return;
    }
    plan p;
    build_plan(mk, canonical, &p, true);
    cJSON_Delete(canonical);
    serve_plan(mk, req, &p, true, kind, NULL);
}

/* Gemini: "/models/<model>:<method>" (after any version prefix). Returns false
 * if path is not a Gemini generate or embed call; *embed: 1 embedContent,
 * 2 batchEmbedContents, 0 a generate call. */
static bool gemini_route(const char *path, const char *query, char **model, bool *stream, bool *bad_alt, int *embed) {
    const char *m = strstr(path, "/models/");
    if (!m || (m != path && strncmp(path, "/v1beta/", 8) && strncmp(path, "/v1/", 4) && strncmp(path, "/v1alpha/", 9)))
        return false;
    m += strlen("/models/");
    const char *colon = strrchr(m, ':');
    if (!colon || colon == m) return false;
    const char *method = colon + 1;
    *embed = !strcmp(method, "embedContent") ? 1 : !strcmp(method, "batchEmbedContents") ? 2 : 0;
    if (*embed) *stream = false;
    else if (!strcmp(method, "generateContent")) *stream = false;
    else if (!strcmp(method, "streamGenerateContent")) *stream = true;
    else return false;
    *bad_alt = false;
    if (*stream) {
        /* Only the SSE variant is spoken (without alt=sse Google streams a JSON array). */
        bool sse = false;
        for (const char *q = query; q && *q;) {
            const char *e = strchr(q, '&');
            size_t len = e ? (size_t)(e - q) : strlen(q);
            if (len == 7 && !strncmp(q, "alt=sse", 7)) sse = true;
            q = e ? e + 1 : NULL;
        }
        *bad_alt = !sse;
    }
    char *raw = gr_xstrndup(m, (size_t)(colon - m));
    size_t n = 0;
    char *dec = evhttp_uridecode(raw, 0, &n);
    free(raw);
    *model = gr_xstrdup(dec ? dec : "");
    free(dec);
    return true;
}

/* A bag of hashed word unigrams and bigrams (lower-cased letters and digits),
 * signed by a second hash: texts sharing words get similar vectors. */
static void embed_ngrams(float *v, const char *text, size_t len, int dims) {
    memset(v, 0, sizeof(float) * (size_t)dims);
    uint64_t prev = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && !isalnum((unsigned char)text[i])) i++;
        uint64_t w = 1469598103934665603ull;
        size_t start = i;
        for (; i < len && isalnum((unsigned char)text[i]); i++) w = (w ^ (unsigned char)tolower((unsigned char)text[i])) * 1099511628211ull;
        if (i == start) break;
        uint64_t grams[2] = {w, prev ? (prev * 0x9E3779B97F4A7C15ull) ^ w : 0};
        for (int g = 0; g < 2; g++)
            if (grams[g]) v[(grams[g] >> 7) % (uint64_t)dims] += (grams[g] >> 63) ? -1.0f : 1.0f;
        prev = w;
    }
}

static void embed_one(cJSON *data, int index, const char *text, size_t len, int dims, bool b64, bool ngrams) {
    float *v = gr_xmalloc(sizeof(float) * (size_t)dims);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    double norm = 0;
    if (ngrams) embed_ngrams(v, text, len, dims);
    for (int i = 0; i < dims; i++) {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        if (!ngrams) v[i] = (float)((double)(h % 2000) / 1000.0 - 1.0);
        norm += (double)v[i] * v[i];
    }
    norm = norm > 0 ? 1.0 / __builtin_sqrt(norm) : 1;
    for (int i = 0; i < dims; i++) v[i] = (float)(v[i] * norm);
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "object", "embedding");
    cJSON_AddNumberToObject(e, "index", index);
    if (b64) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *in = (const unsigned char *)v;
        size_t n = sizeof(float) * (size_t)dims, o = 0;
        char *out = gr_xmalloc(4 * ((n + 2) / 3) + 1);
        for (size_t i = 0; i < n; i += 3) {
            uint32_t x = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
            out[o++] = tbl[(x >> 18) & 63];
            out[o++] = tbl[(x >> 12) & 63];
            out[o++] = i + 1 < n ? tbl[(x >> 6) & 63] : '=';
            out[o++] = i + 2 < n ? tbl[x & 63] : '=';
        }
        out[o] = '\0';
        cJSON_AddStringToObject(e, "embedding", out);
        free(out);
    } else {
        cJSON *arr = cJSON_AddArrayToObject(e, "embedding");
        for (int i = 0; i < dims; i++) cJSON_AddItemToArray(arr, cJSON_CreateNumber(v[i]));
    }
    cJSON_AddItemToArray(data, e);
    free(v);
}

/* Gemini embedContent (batch false) / batchEmbedContents: the same vectors as
 * /v1/embeddings gives for the same text, in Gemini's shape, without token
 * counts (as Gemini answers). */
static void handle_gemini_embed(gr_client_req *req, bool batch) {
    if (!gr_client_req_header(req, "x-goog-api-key") && !strstr(gr_client_req_uri(req), "key=")) {
        reply_wire_error(req, GR_PROVIDER_GEMINI, 403, NULL, NULL, "Method doesn't allow unregistered callers.");
        return;
    }
    cJSON *body = parse_body(req);
    const cJSON *reqs = batch ? cJSON_GetObjectItemCaseSensitive(body, "requests") : NULL;
    if (!cJSON_IsObject(body) || (batch && !cJSON_IsArray(reqs))) {
        reply_wire_error(req, GR_PROVIDER_GEMINI, 400, NULL, NULL, "mock: invalid embed request");
        cJSON_Delete(body);
        return;
    }
    cJSON *vectors = cJSON_CreateArray(); /* OpenAI-shaped, then moved into Gemini's */
    const cJSON *one = body;
    const cJSON *it = batch ? reqs->child : one;
    for (int i = 0; it; it = batch ? it->next : NULL, i++) {
        const cJSON *part = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(it, "content"), "parts"), 0);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "outputDimensionality");
        int dims = cJSON_IsNumber(d) && d->valueint > 0 && d->valueint <= 4096 ? d->valueint : 16;
        const char *t = cJSON_IsString(text) ? text->valuestring : "";
        embed_one(vectors, i, t, strlen(t), dims, false, strstr(gr_client_req_uri(req), "ngram") != NULL);
    }
    cJSON *r = cJSON_CreateObject();
    cJSON *list = batch ? cJSON_AddArrayToObject(r, "embeddings") : NULL;
    cJSON *v;
    cJSON_ArrayForEach(v, vectors) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToObject(e, "values", cJSON_DetachItemFromObjectCaseSensitive(v, "embedding"));
        if (batch) cJSON_AddItemToArray(list, e);
        else cJSON_AddItemToObject(r, "embedding", e);
    }
    gr_reply_json(req, 200, r);
    cJSON_Delete(r);
    cJSON_Delete(vectors);
    cJSON_Delete(body);
}

static void handle_embeddings(gr_mock *mk, gr_client_req *req) {
    cJSON *body = parse_body(req);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(body, "input");
    if (!cJSON_IsObject(body) || !input) {
        gr_reply_error(req, 400, "invalid_request_error", NULL, "input", "mock: 'input' is required");
        cJSON_Delete(body);
        return;
    }
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(body, "dimensions");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    /* a model id with "ngram" in it: hashed word n-grams (similar texts, similar
     * vectors; 256 dimensions by default); otherwise a hash of the whole text */
    bool ngrams = cJSON_IsString(model) && strstr(model->valuestring, "ngram");
    int dims = cJSON_IsNumber(d) && d->valueint > 0 && d->valueint <= 4096 ? d->valueint : ngrams ? 256 : 16;
    const cJSON *ef = cJSON_GetObjectItemCaseSensitive(body, "encoding_format");
    bool b64 = cJSON_IsString(ef) && !strcmp(ef->valuestring, "base64");
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(r, "data");
    int64_t tokens = 0;
    if (cJSON_IsString(input)) {
        embed_one(data, 0, input->valuestring, strlen(input->valuestring), dims, b64, ngrams);
        tokens += (int64_t)strlen(input->valuestring) / 4 + 1;
    } else {
        int i = 0;
        const cJSON *it;
        cJSON_ArrayForEach(it, input) {
            char *txt = cJSON_IsString(it) ? gr_xstrdup(it->valuestring) : cJSON_PrintUnformatted(it);
            embed_one(data, i++, txt, strlen(txt), dims, b64, ngrams);
            tokens += (int64_t)strlen(txt) / 4 + 1;
            if (cJSON_IsString(it)) free(txt);
            else cJSON_free(txt);
        }
    }
    cJSON_AddStringToObject(r, "model", cJSON_IsString(model) ? model->valuestring : "mock-embed");
    cJSON *u = cJSON_AddObjectToObject(r, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)tokens);
    gr_reply_json(req, 200, r);
    cJSON_Delete(r);
    cJSON_Delete(body);
}

static void handle_request(gr_client_req *req, void *arg) {
    gr_mock *mk = arg;
    const char *code = NULL, *why = NULL;
    int refused = gr_client_req_error(req, &code, &why);
    if (refused) { /* malformed or over a limit: the connection closes after this */
        gr_reply_error(req, refused, "invalid_request_error", code, NULL, "mock: %s", why);
        return;
    }
    const char *method = gr_client_req_method(req);
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!get && !post) { /* as evhttp answered methods outside its allowed set */
        gr_reply_error(req, 501, "invalid_request_error", NULL, NULL, "mock: method %s is not supported", method);
        return;
    }
    atomic_fetch_add(&mk->requests, 1);
    const char *uri = gr_client_req_uri(req);
    char path[256];
    size_t i = 0;
    for (; uri[i] && uri[i] != '?' && i + 1 < sizeof(path); i++) path[i] = uri[i];
    path[i] = '\0';
    const char *query = uri[i] == '?' ? uri + i + 1 : NULL;
    const char *p = path;
    if (!strncmp(p, "/v1/", 4)) p += 3; /* accept with or without /v1 */
    char *gmodel = NULL;
    bool gstream = false, bad_alt = false;
    int gembed = 0;
    if (post && !strcmp(p, "/messages")) handle_native(mk, req, GR_PROVIDER_ANTHROPIC, NULL, false);
    else if (post && gemini_route(path, query, &gmodel, &gstream, &bad_alt, &gembed)) {
        if (gembed) handle_gemini_embed(req, gembed == 2);
        else if (bad_alt)
            reply_wire_error(req, GR_PROVIDER_GEMINI, 400, NULL, NULL,
                             "mock: streamGenerateContent is only served with ?alt=sse");
        else handle_native(mk, req, GR_PROVIDER_GEMINI, gmodel, gstream);
        free(gmodel);
    } else if (post && !strcmp(p, "/chat/completions")) handle_generate(mk, req, true);
    else if (post && !strcmp(p, "/responses")) handle_responses(mk, req);
    else if (post && !strcmp(p, "/completions")) handle_generate(mk, req, false);
    else if (post && !strcmp(p, "/embeddings")) handle_embeddings(mk, req);
    else if (get && !strcmp(p, "/models")) {
        const char *body = "{\"object\":\"list\",\"data\":[{\"id\":\"mock\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"gaterouter\"}]}";
        gr_reply_json_text(req, 200, body, strlen(body));
    } else if (get && !strcmp(path, "/mock/stats")) {
        char body[256];
        int n = snprintf(body, sizeof(body),
                         "{\"requests\":%llu,\"streams_started\":%llu,\"streams_completed\":%llu,\"streams_cancelled\":%llu}",
                         (unsigned long long)atomic_load(&mk->requests), (unsigned long long)atomic_load(&mk->streams_started),
                         (unsigned long long)atomic_load(&mk->streams_completed),
                         (unsigned long long)atomic_load(&mk->streams_cancelled));
        gr_reply_json_text(req, 200, body, (size_t)n);
    } else {
        gr_reply_error(req, 404, "invalid_request_error", "unknown_url", NULL, "mock: unknown path %s", path);
    }
}

/* ---- life cycle ---- */

static bool mock_bind(gr_mock *mk) {
    mk->base = event_base_new();
    if (!mk->base) return false;
    /* Our own listener: backlog 4096 (a small backlog drops SYNs when
     * thousands of streams connect at once, as the benchmark does). */
    int fd = gr_listen_socket(mk->opt.host ? mk->opt.host : "127.0.0.1", (uint16_t)mk->opt.port, false);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        mk->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                  : ((struct sockaddr_in *)&ss)->sin_port);
        gr_http_server_limits lim = {.max_header_bytes = MOCK_MAX_HEADER_BYTES,
                                     .max_body_bytes = MOCK_MAX_BODY_BYTES,
                                     .client_timeout_ms = MOCK_CLIENT_TIMEOUT_MS};
        mk->http = gr_http_server_new(mk->base, fd, &lim, handle_request, mk);
    }
    if (!mk->http) {
        GR_ERROR("mock: cannot listen on %s:%u", mk->opt.host ? mk->opt.host : "127.0.0.1", mk->opt.port);
        if (fd >= 0) close(fd);
        return false;
    }
    return true;
}

/* After the loop stopped: what is still in flight is dropped (its client
 * sees the connection close), then the server and the loop go. */
static void mock_free(gr_mock *mk) {
    while (mk->pending) {
        pending *pj = mk->pending;
        gr_client_req_release(pj->req);
        pj->dispose(pj); /* unlinks it */
    }
    gr_http_server_free(mk->http);
    if (mk->base) event_base_free(mk->base);
    free(mk);
}

static void *mock_thread(void *arg) {
    gr_mock *mk = arg;
    event_base_loop(mk->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

gr_mock *gr_mock_start(const gr_mock_options *opt) {
    /* gr_mock_stop's loopexit comes from another thread: only a base made
     * after evthread_use_pthreads() has the lock and the notify pipe that let
     * it reach (and wake) a loop asleep in epoll_wait. Without them the exit
     * timer waited for the next socket event, and the join stalled now and
     * then in test_mock_upstream. Idempotent; the server calls it too. */
    evthread_use_pthreads();
    gr_mock *mk = gr_xcalloc(1, sizeof(*mk));
    mk->opt = *opt;
    if (!mock_bind(mk)) {
        mock_free(mk);
        return NULL;
    }
    mk->threaded = true;
    if (pthread_create(&mk->thread, NULL, mock_thread, mk) != 0) {
        mock_free(mk);
        return NULL;
    }
    return mk;
}

uint16_t gr_mock_port(const gr_mock *m) { return m->port; }

void gr_mock_stop(gr_mock *m) {
    if (!m) return;
    if (m->threaded) {
        /* loopexit, not loopbreak: event_base_loop clears the break flag when
         * it starts, so a break sent before the thread got there (a start-up
         * failure right after gr_mock_start) was lost and the join hung.
         * loopexit queues a zero-delay timer that the loop always runs. */
        event_base_loopexit(m->base, NULL);
        pthread_join(m->thread, NULL);
    }
    mock_free(m);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) { event_base_loopbreak(arg); }

int gr_mock_run_forever(const gr_mock_options *opt) {
    gr_mock *mk = gr_xcalloc(1, sizeof(*mk));
    mk->opt = *opt;
    if (!mock_bind(mk)) {
        mock_free(mk);
        return 1;
    }
    struct event *si = evsignal_new(mk->base, SIGINT, on_signal, mk->base);
    struct event *st = evsignal_new(mk->base, SIGTERM, on_signal, mk->base);
    evsignal_add(si, NULL);
    evsignal_add(st, NULL);
    GR_INFO("mock upstream listening on %s:%u", opt->host ? opt->host : "127.0.0.1", mk->port);
    event_base_dispatch(mk->base);
    event_free(si);
    event_free(st);
    mock_free(mk);
    return 0;
}
