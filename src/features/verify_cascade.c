/* verify_cascade.c — `model: "auto:verify"` on the request path: cheap calls
 * first, accept when their answers agree (or a check passes), else escalate
 * (see verify_cascade.h). */
#include "verify_cascade.h"

#include "health.h"
#include "ledger.h"
#include "meter.h"
#include "meter_defaults.h"
#include "metrics.h"
#include "output_cap.h"
#include "proxy.h"
#include "route.h"
#include "route_verify.h"
#include "services.h"
#include "upstream.h"
#include "verify_agree.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- state ---- */

typedef enum { CALL_CHEAP = 0, CALL_CHECK } call_role;

typedef struct cascade cascade;

typedef struct side_call {
    cascade *cs;
    call_role role;
    int cand; /* index into r->plan->cand */
    const gr_model_conf *model;
    const gr_deployment *dep;
    const gr_provider_ops *ops;
    gr_adapter_ctx actx;
    gr_http_request req;
    gr_redactor redact;
    gr_transfer *xfer;
    struct evbuffer *body;
    int status;
    bool started, done, ok, too_large;
    uint64_t start_us, first_byte_us, end_us;
    gr_usage usage;
    gr_prices prices;
    int64_t cost_nusd;
    cJSON *resp;      /* the canonical chat.completion (owned) */
    const char *text; /* its first choice's content (inside resp), or NULL */
    const char *result; /* answered, agreed, pass, fail, failed:<why>, timeout */
} side_call;

#define MAX_CALLS (GR_ROUTE_VERIFY_MAX_CHEAP + 1) /* the cheap calls and one check */

struct cascade {
    gr_request *r;
    side_call calls[MAX_CALLS];
    size_t ncalls, pending;
    struct event *timer;
    bool decided;
    int served;          /* index of the call whose answer is returned; -1 = the escalation */
    int subject;         /* the cheap call a check call judges */
    const char *outcome; /* "accepted" | "escalated"; NULL until decided */
    char why[80];        /* header-safe, no spaces */
};

static int g_slot = -1;
#define CS(r) ((cascade *)(r)->ctx[g_slot])

static void decide(cascade *cs);
static void escalate(cascade *cs, const char *why);
static void on_call_headers(void *ud, int status, const char *ctype, int retry_after_s);
static int on_call_data(void *ud, const char *data, size_t len);
static void on_call_done(void *ud, const char *err, int status);

static const gr_transfer_cbs k_call_cbs = {on_call_headers, on_call_data, on_call_done};

/* ---- helpers ---- */

static void set_why(cascade *cs, const char *why) {
    size_t n = 0;
    for (const char *p = why; *p && n + 1 < sizeof cs->why; p++)
        cs->why[n++] = (*p == ' ' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) ? '-' : *p;
    cs->why[n] = '\0';
}

static int64_t calls_cost(const cascade *cs) {
    int64_t sum = 0;
    for (size_t i = 0; i < cs->ncalls; i++) sum += cs->calls[i].cost_nusd;
    return sum;
}

/* The text of the last user message (string content or its text parts). */
static const char *last_user_text(gr_request *r) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(r->body, "messages");
    for (int i = cJSON_GetArraySize(msgs) - 1; i >= 0; i--) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!cJSON_IsString(role) || strcmp(role->valuestring, "user")) continue;
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsString(c)) return c->valuestring;
        const char *acc = "";
        const cJSON *part;
        cJSON_ArrayForEach(part, c) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
            if (cJSON_IsString(t)) acc = gr_pool_printf(r->pool, "%s%s%s", acc, *acc ? "\n" : "", t->valuestring);
        }
        return acc;
    }
    return "";
}

/* "PASS" (or "yes") as the reply's first word. */
static bool verdict_pass(const char *text) {
    if (!text) return false;
    while (*text && !isalpha((unsigned char)*text)) text++;
    char w[8];
    size_t n = 0;
    while (isalpha((unsigned char)text[n]) && n + 1 < sizeof w) w[n] = (char)toupper((unsigned char)text[n]), n++;
    w[n] = '\0';
    return !strcmp(w, "PASS") || !strcmp(w, "YES");
}

/* Every on_start is paired with one on_result; a call the gateway stopped
 * (cascade timeout, request finished) is neutral for the breaker. */
static void report_health(side_call *c, const gr_outcome *o) {
    uint64_t now = gr_now_us();
    gr_health *h = c->cs->r->plan->cand[c->cand].health;
    uint64_t ttft = c->first_byte_us ? c->first_byte_us - c->start_us : 0;
    gr_health_on_result(h, o, ttft, now - c->start_us,
                        (uint64_t)(c->usage.completion_tokens > 0 ? c->usage.completion_tokens : 0), 0, now);
}

/* A call stopped before its answer: its prompt is billed as estimated (the provider may have read it). */
static void stop_call(side_call *c, const char *result) {
    if (!c->xfer) return;
    gr_transfer_cancel(c->xfer);
    c->xfer = NULL;
    c->done = true;
    c->end_us = gr_now_us();
    c->result = result;
    c->usage = (gr_usage){.prompt_tokens = c->cs->r->est_prompt_tokens, .estimated = true};
    c->cost_nusd = gr_meter_cost(&c->prices, &c->usage);
    gr_outcome o = {.kind = GR_OUTCOME_TIMEOUT, .request_fault = true};
    report_health(c, &o);
    if (c->cs->pending) c->cs->pending--;
}

/* ---- calls ---- */

/* body: the request to send (the caller keeps it). false: nothing started (c->result says why). */
static bool start_call(cascade *cs, call_role role, int cand, const cJSON *body) {
    gr_request *r = cs->r;
    side_call *c = &cs->calls[cs->ncalls++];
    c->cs = cs;
    c->role = role;
    c->cand = cand;
    c->model = r->plan->cand[cand].model;
    c->dep = r->plan->cand[cand].dep;
    gr_meter_deployment_prices(c->dep, c->model, &c->prices); /* the same prices (and defaults) as the main call */
    gr_upstream_error err = {0};
    if (!gr_proxy_build_call(r, c->dep, c->model, body, &c->actx, &c->ops, &c->req, &err)) {
        c->done = true;
        c->result = "failed:request";
        return false;
    }
    gr_redactor_init(&c->redact, c->dep->provider);
    c->body = evbuffer_new();
    c->start_us = gr_now_us();
    gr_health_on_start(r->plan->cand[cand].health, c->start_us);
    c->xfer = gr_transfer_start(r->w->up, &c->req, &c->dep->provider->timeouts, &k_call_cbs, c);
    c->started = true;
    if (!c->xfer) {
        c->done = true;
        c->result = "failed:start";
        gr_outcome o = {.kind = GR_OUTCOME_CONNECT_ERROR};
        report_health(c, &o);
        return false;
    }
    cs->pending++;
    return true;
}

/* The request's canonical body for a cheap call to model: not streamed,
 * capped like the request (output_cap.h: x402's cap, or the model's maximum
 * a key's hold reserved for it). */
static cJSON *cheap_body(gr_request *r, const gr_model_conf *model) {
    cJSON *b = cJSON_Duplicate(r->body, 1);
    cJSON_DeleteItemFromObjectCaseSensitive(b, "stream");
    cJSON_DeleteItemFromObjectCaseSensitive(b, "stream_options");
    (void)gr_output_cap_apply_for(r, model, b, NULL);
    return b;
}

/* The check: the task and a cheap answer to the checker (verifier, or the cheap model itself). */
static bool start_check(cascade *cs, int subject) {
    gr_request *r = cs->r;
    const gr_route_verify_plan *v = &r->plan->verify;
    const side_call *s = &cs->calls[subject];
    if (!s->text || v->checker < 0) return false;
    cs->subject = subject;
    const char *prompt = gr_pool_printf(
        r->pool,
        "You check another model's answer.\n\nTask:\n<<<\n%s\n>>>\n\nCandidate answer:\n<<<\n%s\n>>>\n\n"
        "If the candidate answer fully and correctly solves the task (for code: it runs and does what is asked), "
        "reply PASS; otherwise reply FAIL. Reply with that one word only.",
        last_user_text(r), s->text);
    cJSON *b = cJSON_CreateObject();
    cJSON *msgs = cJSON_AddArrayToObject(b, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(msgs, m);
    cJSON_AddNumberToObject(b, "max_tokens", v->check_max_tokens);
    cJSON_AddNumberToObject(b, "temperature", 0);
    bool ok = start_call(cs, CALL_CHECK, v->checker, b);
    cJSON_Delete(b);
    return ok;
}

static void on_call_headers(void *ud, int status, const char *ctype, int retry_after_s) {
    (void)ctype;
    (void)retry_after_s;
    side_call *c = ud;
    c->status = status;
}

static int on_call_data(void *ud, const char *raw, size_t len) {
    side_call *c = ud;
    if (!c->first_byte_us) c->first_byte_us = gr_now_us();
    const char *d;
    size_t n;
    gr_redactor_feed(&c->redact, raw, len, &d, &n); /* the provider's credentials out first */
    if (evbuffer_get_length(c->body) + n > c->cs->r->cfg->server.max_upstream_response_bytes) {
        c->too_large = true;
        return -1;
    }
    evbuffer_add(c->body, d, n);
    return 0;
}

static void on_call_done(void *ud, const char *err, int status) {
    (void)status;
    side_call *c = ud;
    cascade *cs = c->cs;
    gr_request *r = cs->r;
    c->xfer = NULL;
    c->done = true;
    c->end_us = gr_now_us();
    if (cs->pending) cs->pending--;
    const char *tail;
    size_t tail_len;
    gr_redactor_finish(&c->redact, &tail, &tail_len);
    if (tail_len && !c->too_large) evbuffer_add(c->body, tail, tail_len);
    size_t len = evbuffer_get_length(c->body);
    const char *body = len ? (const char *)evbuffer_pullup(c->body, -1) : "";
    gr_outcome o = {.kind = GR_OUTCOME_OK, .http_status = c->status};
    if (c->too_large) {
        o.kind = GR_OUTCOME_CONNECT_ERROR;
        o.request_fault = true; /* the gateway's own cap */
        c->result = "failed:too-large";
    } else if (err) {
        bool timeout = gr_upstream_err_is_timeout(err);
        o.kind = timeout ? GR_OUTCOME_TIMEOUT : GR_OUTCOME_CONNECT_ERROR;
        c->result = timeout ? "failed:upstream-timeout" : "failed:connect";
    } else if (c->status < 200 || c->status >= 300) {
        o.kind = GR_OUTCOME_HTTP;
        o.err_class = gr_route_request_fault(c->status, body, len, &o.request_fault);
        c->result = gr_pool_printf(r->pool, "failed:HTTP-%d", c->status);
    } else {
        gr_upstream_error e = {0};
        if (gr_proxy_parse_call(r, c->ops, &c->actx, body, len, &c->resp, &c->usage, &e) != GR_OK || !c->resp) {
            c->result = "failed:invalid-answer";
        } else {
            c->ok = true;
            c->result = "answered";
            c->cost_nusd = gr_meter_cost(&c->prices, &c->usage);
            const cJSON *msg = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c->resp, "choices"), 0), "message");
            const cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
            c->text = cJSON_IsString(content) ? content->valuestring : NULL;
        }
    }
    if (!c->ok) {
        char labels[GR_METRICS_LABELS_CAP];
        gr_metrics_label(labels, gr_metrics_label(labels, 0, sizeof(labels), "provider", c->dep->provider->name),
                         sizeof(labels), "reason", "verify_call");
        gr_metrics_add(GR_M_UPSTREAM_ERRORS, labels, 1);
    }
    report_health(c, &o);
    if (!cs->pending && !cs->decided) decide(cs); /* may finish r: nothing of r or c is touched after */
}

static void on_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    cascade *cs = arg;
    if (cs->decided || cs->r->finished) return;
    for (size_t i = 0; i < cs->ncalls; i++) stop_call(&cs->calls[i], "timeout");
    cs->pending = 0;
    escalate(cs, "timeout"); /* routing.auto.verify.timeout_ms */
}

/* ---- outcome ---- */

/* The route header's " verify=plan:..." token becomes what happened. */
static void set_reason(cascade *cs) {
    gr_request *r = cs->r;
    char *reason = r->plan->reason;
    char *at = strstr(reason, " verify=");
    if (!at) return;
    char *end = strchr(at + 1, ' ');
    char rest[sizeof r->plan->reason];
    snprintf(rest, sizeof rest, "%s", end ? end : "");
    *at = '\0';
    size_t cap = sizeof r->plan->reason, n = strlen(reason);
    n += (size_t)snprintf(reason + n, n < cap ? cap - n : 0, " verify=%s:%s calls=", cs->outcome, cs->why);
    for (size_t i = 0; i < cs->ncalls && n < cap; i++) {
        const side_call *c = &cs->calls[i];
        if (!c->started) continue;
        char usd[GR_METER_USD_BUFSZ];
        gr_meter_format_usd(c->cost_nusd, usd, sizeof usd);
        n += (size_t)snprintf(reason + n, cap - n, "%s%s%s:%lld+%lldtok/$%s/%s", i ? "," : "",
                              c->role == CALL_CHECK ? "check@" : "", c->model->name ? c->model->name : "?",
                              (long long)c->usage.prompt_tokens, (long long)c->usage.completion_tokens, usd, c->result);
    }
    if (!strcmp(cs->outcome, "escalated") && n < cap)
        n += (size_t)snprintf(reason + n, cap - n, " then=%s", r->plan->cand[0].model->name ? r->plan->cand[0].model->name : "?");
    if (n < cap) snprintf(reason + n, cap - n, "%s", rest);
}

static void escalate(cascade *cs, const char *why) {
    gr_request *r = cs->r;
    cs->decided = true;
    cs->served = -1;
    cs->outcome = "escalated";
    set_why(cs, why);
    for (size_t i = 0; i < cs->ncalls; i++) stop_call(&cs->calls[i], "stopped");
    if (cs->timer) evtimer_del(cs->timer);
    r->cand = 0;
    r->model = r->plan->cand[0].model;
    r->deployment = r->plan->cand[0].dep;
    set_reason(cs);
    gr_pipeline_continue(r, GR_PHASE_NEXT); /* the proxy's UPSTREAM: attempts on cand[0] and its fallbacks */
}

/* The accepted answer as SSE chunks in the client's format (held until now). */
static void replay_stream(gr_request *r, const side_call *c) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(c->resp, "id");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(c->resp, "model");
    const cJSON *choice = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c->resp, "choices"), 0);
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    const char *sid = cJSON_IsString(id) ? id->valuestring : gr_pool_printf(r->pool, "chatcmpl-%s", r->id);
    const char *smodel = cJSON_IsString(model) ? model->valuestring : c->model->name;
    int64_t created = (int64_t)(gr_wall_ms() / 1000);
    gr_proxy_stream_begin(r);
    for (int step = 0; step < 3; step++) {
        cJSON *ch = cJSON_CreateObject();
        cJSON_AddStringToObject(ch, "id", sid);
        cJSON_AddStringToObject(ch, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(ch, "created", (double)created);
        cJSON_AddStringToObject(ch, "model", smodel);
        cJSON *choices = cJSON_AddArrayToObject(ch, "choices");
        cJSON *cc = cJSON_CreateObject();
        cJSON_AddItemToArray(choices, cc);
        cJSON_AddNumberToObject(cc, "index", 0);
        cJSON *delta = cJSON_AddObjectToObject(cc, "delta");
        if (step == 0) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
        } else if (step == 1) {
            cJSON_AddStringToObject(delta, "content", c->text ? c->text : "");
        }
        if (step == 2) cJSON_AddStringToObject(cc, "finish_reason", cJSON_IsString(finish) ? finish->valuestring : "stop");
        else cJSON_AddNullToObject(cc, "finish_reason");
        char *s = cJSON_PrintUnformatted(ch);
        gr_proxy_stream_event(r, s, strlen(s));
        cJSON_free(s);
        cJSON_Delete(ch);
    }
    if (r->include_usage_asked || r->anthropic_out) { /* the usage chunk, as an upstream would send it */
        cJSON *u = cJSON_CreateObject();
        cJSON_AddStringToObject(u, "id", sid);
        cJSON_AddStringToObject(u, "object", "chat.completion.chunk");
        cJSON_AddNumberToObject(u, "created", (double)created);
        cJSON_AddStringToObject(u, "model", smodel);
        cJSON_AddArrayToObject(u, "choices");
        cJSON *usage = cJSON_AddObjectToObject(u, "usage");
        cJSON_AddNumberToObject(usage, "prompt_tokens", (double)r->usage.prompt_tokens);
        cJSON_AddNumberToObject(usage, "completion_tokens", (double)r->usage.completion_tokens);
        cJSON_AddNumberToObject(usage, "total_tokens", (double)(r->usage.prompt_tokens + r->usage.completion_tokens));
        gr_meter_annotate_response(u, r->cost_nusd, r->usage.estimated);
        gr_verify_cascade_annotate(r, usage);
        char *s = cJSON_PrintUnformatted(u);
        gr_proxy_stream_event(r, s, strlen(s));
        cJSON_free(s);
        cJSON_Delete(u);
    }
    gr_proxy_stream_end(r);
}

static void accept_answer(cascade *cs, int idx, const char *why) {
    gr_request *r = cs->r;
    side_call *c = &cs->calls[idx];
    cs->decided = true;
    cs->served = idx;
    cs->outcome = "accepted";
    set_why(cs, why);
    if (cs->timer) evtimer_del(cs->timer);
    r->cand = (unsigned)c->cand;
    r->model = c->model;
    r->deployment = c->dep;
    r->prices = c->prices;
    r->usage = c->usage;
    r->cost_nusd = calls_cost(cs);
    r->upstream_start_us = c->start_us;
    set_reason(cs);
    if (r->stream) replay_stream(r, c);
    else gr_proxy_reply_response(r, c->resp);
}

/* Every call of this step has ended: accept, check, or escalate. */
static void decide(cascade *cs) {
    gr_request *r = cs->r;
    const gr_route_verify_plan *v = &r->plan->verify;
    side_call *last = &cs->calls[cs->ncalls - 1];
    if (last->role == CALL_CHECK) {
        if (last->ok && verdict_pass(last->text)) {
            last->result = "pass";
            accept_answer(cs, cs->subject, v->checker_is_verifier ? "verifier-pass" : "self-check-pass");
        } else {
            if (last->ok) last->result = "fail";
            escalate(cs, last->ok ? "check-fail" : "check-call-failed");
        }
        return;
    }
    side_call *a = &cs->calls[0], *b = cs->ncalls > 1 ? &cs->calls[1] : NULL;
    if (!a->ok || (b && !b->ok)) {
        escalate(cs, "cheap-call-failed");
        return;
    }
    char why[64] = "single-answer";
    if (b) {
        bool same = gr_verify_agree(a->text, a->text ? strlen(a->text) : 0, b->text, b->text ? strlen(b->text) : 0,
                                    (gr_agree_mode)v->agree, why, sizeof why);
        if (same) {
            a->result = b->result = "agreed";
            accept_answer(cs, 0, why);
            return;
        }
        if (strcmp(why, "code")) {
            escalate(cs, why);
            return;
        }
    }
    /* code, or one cheap answer: a check call judges it */
    if (!a->text || !*a->text) {
        escalate(cs, "empty-answer");
        return;
    }
    if (!start_check(cs, 0)) escalate(cs, "check-call-failed");
}

/* ---- pipeline ---- */

/* The planned token when no cascade runs after all (completions, token counts): says so. */
static void reason_off(gr_request *r, const char *why) {
    char *reason = r->plan->reason, *at = strstr(reason, " verify=plan:");
    if (!at) return;
    char *end = strchr(at + 1, ' ');
    char rest[sizeof r->plan->reason];
    snprintf(rest, sizeof rest, "%s", end ? end : "");
    snprintf(at, sizeof r->plan->reason - (size_t)(at - reason), " verify=off:%s%s", why, rest);
}

static gr_phase_rc phase_cascade(gr_request *r) {
    const gr_route_verify_plan *v = r->plan ? &r->plan->verify : NULL;
    if (!v || !v->on || r->cache_hit) return GR_PHASE_NEXT;
    if (r->ep != GR_EP_CHAT || r->count_tokens) { /* only chat answers can be compared */
        reason_off(r, r->count_tokens ? "token-count" : "not-chat");
        return GR_PHASE_NEXT;
    }
    cascade *cs = gr_pool_calloc(r->pool, sizeof *cs);
    cs->r = r;
    cs->served = -1;
    cs->subject = -1;
    r->ctx[g_slot] = cs;
    for (uint8_t i = 0; i < v->ncheap; i++) {
        cJSON *body = cheap_body(r, r->plan->cand[v->cheap[i]].model);
        (void)start_call(cs, CALL_CHEAP, v->cheap[i], body);
        cJSON_Delete(body);
    }
    if (!cs->pending) { /* nothing could start: straight to the escalation */
        cs->decided = true;
        cs->outcome = "escalated";
        set_why(cs, "cheap-call-failed");
        set_reason(cs);
        return GR_PHASE_NEXT;
    }
    cs->timer = evtimer_new(r->w->base, on_timeout, cs);
    struct timeval tv = {v->timeout_ms / 1000, (v->timeout_ms % 1000) * 1000};
    evtimer_add(cs->timer, &tv);
    return GR_PHASE_STOP; /* decide() replies or continues the pipeline */
}

bool gr_verify_cascade_ran(const gr_request *r) { return g_slot >= 0 && CS(r) != NULL; }

bool gr_verify_cascade_accepted(const gr_request *r) { return gr_verify_cascade_ran(r) && CS(r)->served >= 0; }

int64_t gr_verify_cascade_prior_cost(const gr_request *r) {
    if (g_slot < 0 || !CS(r)) return 0;
    const cascade *cs = CS(r);
    int64_t sum = calls_cost(cs);
    return cs->served >= 0 ? sum - cs->calls[cs->served].cost_nusd : sum;
}

static cJSON *usd_raw(int64_t nusd) {
    char usd[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(nusd, usd, sizeof usd);
    return cJSON_CreateRaw(usd);
}

void gr_verify_cascade_annotate(gr_request *r, cJSON *usage) {
    if (g_slot < 0 || !CS(r) || !cJSON_IsObject(usage)) return;
    const cascade *cs = CS(r);
    cJSON_DeleteItemFromObjectCaseSensitive(usage, "verify");
    cJSON *v = cJSON_AddObjectToObject(usage, "verify");
    cJSON_AddStringToObject(v, "outcome", cs->outcome ? cs->outcome : "pending");
    cJSON_AddStringToObject(v, "reason", cs->why);
    cJSON *calls = cJSON_AddArrayToObject(v, "calls");
    for (size_t i = 0; i < cs->ncalls; i++) {
        const side_call *c = &cs->calls[i];
        if (!c->started) continue;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", c->model->name ? c->model->name : "?");
        cJSON_AddStringToObject(o, "role", c->role == CALL_CHECK ? "check" : "cheap");
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)c->usage.prompt_tokens);
        cJSON_AddNumberToObject(o, "completion_tokens", (double)c->usage.completion_tokens);
        cJSON_AddItemToObject(o, "cost", usd_raw(c->cost_nusd));
        if (c->usage.estimated) cJSON_AddTrueToObject(o, "cost_estimated");
        cJSON_AddStringToObject(o, "result", c->result ? c->result : "pending");
        cJSON_AddBoolToObject(o, "served", (int)i == cs->served);
        cJSON_AddItemToArray(calls, o);
    }
    if (cs->served < 0 && r->model) { /* the escalation, as far as it went */
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", r->model->name ? r->model->name : "?");
        cJSON_AddStringToObject(o, "role", "escalation");
        cJSON_AddNumberToObject(o, "prompt_tokens", (double)r->usage.prompt_tokens);
        cJSON_AddNumberToObject(o, "completion_tokens", (double)r->usage.completion_tokens);
        int64_t own = r->cost_nusd - gr_verify_cascade_prior_cost(r);
        cJSON_AddItemToObject(o, "cost", usd_raw(own > 0 ? own : 0));
        cJSON_AddStringToObject(o, "result", "served");
        cJSON_AddBoolToObject(o, "served", 1);
        cJSON_AddItemToArray(calls, o);
    }
}

/* Before the cost is settled: calls still running stop (billed their
 * prompt), and the other calls' tokens count for the key's TPM. */
static void finish_meter(gr_request *r, gr_finish_info *f) {
    (void)f;
    cascade *cs = CS(r);
    if (!cs) return;
    for (size_t i = 0; i < cs->ncalls; i++) stop_call(&cs->calls[i], "stopped");
    r->side_tokens = 0;
    for (size_t i = 0; i < cs->ncalls; i++)
        if ((int)i != cs->served) r->side_tokens += cs->calls[i].usage.prompt_tokens + cs->calls[i].usage.completion_tokens;
}

/* The timer stops with the request (the transfers did at METER). */
static void finish_upstream(gr_request *r, gr_finish_info *f) {
    (void)f;
    cascade *cs = CS(r);
    if (!cs) return;
    for (size_t i = 0; i < cs->ncalls; i++) stop_call(&cs->calls[i], "stopped");
    if (cs->timer) event_free(cs->timer);
    cs->timer = NULL;
}

/* The request's row is the served call's; the cascade's other calls get their own. */
static void ledger_fill(gr_request *r, gr_finish_info *f) {
    cascade *cs = CS(r);
    if (!cs || !f->row) return;
    int64_t own = r->cost_nusd - gr_verify_cascade_prior_cost(r);
    f->row->cost_nusd = own > 0 ? own : 0;
}

static void ledger_rows(gr_request *r, gr_finish_info *f) {
    cascade *cs = CS(r);
    if (!cs || !f->row || !r->w->svc || !r->w->svc->ledger) return;
    unsigned cheap_no = 0;
    for (size_t i = 0; i < cs->ncalls; i++) {
        const side_call *c = &cs->calls[i];
        if (c->role == CALL_CHEAP) cheap_no++;
        if (!c->started || (int)i == cs->served) continue;
        gr_ledger_row row = *f->row;
        char id[sizeof r->id + 8];
        snprintf(id, sizeof id, "%s.%s", r->id, c->role == CALL_CHECK ? "chk" : cheap_no == 1 ? "v1" : "v2");
        GR_LEDGER_SET(row.request_id, id);
        GR_LEDGER_SET(row.model_served, c->dep->upstream_model);
        GR_LEDGER_SET(row.provider, c->dep->provider->name);
        row.tokens_in = c->usage.prompt_tokens;
        row.tokens_out = c->usage.completion_tokens;
        row.tokens_cached = c->usage.cached_tokens;
        row.tokens_reasoning = c->usage.reasoning_tokens;
        row.tokens_cache_write = c->usage.cache_write_tokens;
        row.cost_nusd = c->cost_nusd;
        row.estimated = c->usage.estimated;
        row.latency_us = (int64_t)((c->end_us ? c->end_us : gr_now_us()) - c->start_us);
        row.ttft_us = 0;
        row.status = c->ok ? 200 : c->status ? c->status : 502;
        char reason[sizeof row.route_reason];
        snprintf(reason, sizeof reason, "auto:verify %s call of %s: %s (%s)", c->role == CALL_CHECK ? "check" : "cheap",
                 r->id, c->result ? c->result : "?", cs->outcome ? cs->outcome : "not decided");
        GR_LEDGER_SET(row.route_reason, reason);
        GR_LEDGER_SET(row.error_type, c->ok ? "" : c->result ? c->result : "");
        /* the payment (x402) is the request's: on its own row only */
        row.x402_amount_atomic[0] = row.x402_network[0] = row.x402_tx_hash[0] = row.x402_settlement[0] = '\0';
        row.x402_credit_delta_nusd = 0;
        if (gr_ledger_submit(r->w->svc->ledger, &row) != GR_OK) gr_metrics_add(GR_M_LEDGER_DROPPED, NULL, 1);
    }
}

static void finish_release(gr_request *r, gr_finish_info *f) {
    (void)f;
    cascade *cs = CS(r);
    if (!cs) return;
    for (size_t i = 0; i < cs->ncalls; i++) {
        side_call *c = &cs->calls[i];
        cJSON_Delete(c->resp);
        c->resp = NULL;
        c->text = NULL;
        if (c->body) evbuffer_free(c->body);
        c->body = NULL;
        gr_http_request_free(&c->req);
        if (c->started) gr_redactor_dispose(&c->redact);
    }
    r->ctx[g_slot] = NULL;
}

void gr_verify_cascade_register(void) {
    g_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, phase_cascade);
    gr_pipeline_on_finish(GR_FINISH_METER, finish_meter); /* before the proxy's, which adds the prior cost */
    gr_pipeline_on_finish(GR_FINISH_UPSTREAM, finish_upstream);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_FILL, ledger_fill);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_SUBMIT, ledger_rows);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, finish_release);
}
