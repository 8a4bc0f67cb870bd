/* proxy_attempt.c — the UPSTREAM phase: one upstream attempt per route
 * candidate, with retries and fallbacks before the first byte reaches the
 * client, the provider's access token, and the outcome told to the health
 * registry. */
#include "proxy_internal.h"

#include "messages_bedrock.h"
#include "messages_native.h"
#include "meter_defaults.h"
#include "route.h"
#include "cluster_state.h"
#include "metrics.h"
#include "upstream.h"
#include "vertex_token.h"
#include "trace.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>

static void on_done(void *ud, const char *err, int status);

static const gr_transfer_cbs k_proxy_cbs = {proxy_on_headers, proxy_on_data, on_done};

/* ---- attempts: retries and fallbacks before the first byte reaches the client ---- */

static void start_attempt(gr_request *r);
static void reply_token_estimate(gr_request *r);

static void retry_timer_cb(evutil_socket_t fd, short what, void *arg) {
    gr_request *r = arg;
    if (r->finished || r->client_gone) return;
    start_attempt(r);
}

/* gaterouter_upstream_errors_total{provider,reason}: every failed attempt. */
static void count_upstream_error(gr_request *r, const gr_route_candidate *c, const char *err) {
    const char *reason = "http_5xx";
    if (r->failed_midstream) reason = "stream_error"; /* an error event, an oversized event */
    else if (err == gr_err_upstream_aborted) reason = r->error_type ? r->error_type : "aborted"; /* our caps */
    else if (err) reason = gr_upstream_err_is_timeout(err) ? "timeout" : "connect";
    else if (r->up_status == 429) reason = "rate_limited";
    else if (r->up_status >= 400 && r->up_status < 500) reason = "http_4xx";
    else if (r->up_status < 400) reason = "invalid_response";
    char labels[GR_METRICS_LABELS_CAP];
    gr_metrics_label(labels, gr_metrics_label(labels, 0, sizeof(labels), "provider", c->dep->provider->name),
                     sizeof(labels), "reason", reason);
    gr_metrics_add(GR_M_UPSTREAM_ERRORS, labels, 1);
}

/* Reports the attempt's outcome to the health registry and, when the route
 * rules allow (nothing sent to the client yet), schedules the next attempt.
 * Returns true when another attempt was scheduled. */
static bool settle_attempt(gr_request *r, const char *err, bool ok, int retry_after_s) {
    const gr_route_candidate *c = &r->plan->cand[r->cand];
    uint64_t now = gr_now_us();
    gr_outcome o = {.kind = GR_OUTCOME_OK, .http_status = r->up_status};
    if (err) {
        o.kind = gr_upstream_err_is_timeout(err) ? GR_OUTCOME_TIMEOUT : GR_OUTCOME_CONNECT_ERROR;
        /* cut at the gateway's own cap because of what the request asked for */
        o.request_fault = err == gr_err_upstream_aborted && r->error_type &&
                          (!strcmp(r->error_type, "stream_too_long") ||
                           !strcmp(r->error_type, "upstream_response_too_large"));
    } else if (!ok) {
        o.kind = GR_OUTCOME_HTTP;
        size_t len = r->up_body ? evbuffer_get_length(r->up_body) : 0;
        const char *b = len ? (const char *)evbuffer_pullup(r->up_body, -1) : NULL;
        o.err_class = gr_route_request_fault(r->up_status, b, len, &o.request_fault);
    }
    if (!ok) count_upstream_error(r, c, err);
    gr_trace_attempt_end(r, err, ok);
    r->upstream_wait_us += now - r->attempt_start_us;
    uint64_t ttft = r->attempt_first_byte_us ? r->attempt_first_byte_us - r->attempt_start_us : 0;
    gr_health_on_result(c->health, &o, ttft, now - r->attempt_start_us,
                        (uint64_t)(r->usage.completion_tokens > 0 ? r->usage.completion_tokens : 0),
                        retry_after_s > 0 ? (uint32_t)retry_after_s : 0, now);
    if (!ok && r->w->shared) { /* this failure opened the breaker: tell the other instances */
        gr_health_snapshot snap;
        gr_health_snapshot_get(c->health, &snap);
        if (snap.state == GR_BREAKER_OPEN && snap.open_until_us > now)
            gr_shared_hint_open(r->w->shared, gr_health_key(c->health), (snap.open_until_us - now) / 1000u);
    }
    if (ok || r->client_gone || r->reply_started) return false;
    if (err == gr_err_upstream_aborted) return false; /* our own cap, not the upstream's fault */
    uint32_t delay_ms = 0;
    gr_retry_action act = gr_route_should_retry(&o, r->attempts, r->bytes_out, &delay_ms);
    int next = gr_route_next(r->plan, r->cand, act);
    if (next < 0 || r->attempts + 1 >= GR_ROUTE_MAX_ATTEMPTS) return false;
    r->last_failure = gr_pool_printf(r->pool, "%s/%s:%s", c->dep->provider->name, c->dep->upstream_model,
                                     err ? err : gr_pool_printf(r->pool, "HTTP %d", r->up_status));
    r->cand = next;
    r->attempts++;
    if (!r->retry_ev) r->retry_ev = evtimer_new(r->w->base, retry_timer_cb, r);
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    evtimer_add(r->retry_ev, &tv);
    return true;
}

static void on_done(void *ud, const char *err, int status) {
    gr_request *r = ud;
    r->xfer = NULL;
    if (r->client_gone) return; /* the close callback finished the request */
    const char *tail;
    size_t tail_len;
    gr_redactor_finish(&r->redact, &tail, &tail_len); /* bytes held back as a possible key start */
    if (tail_len && (r->streaming || r->up_body) && proxy_relay_data(r, tail, tail_len) < 0 && !err && !r->streaming)
        err = gr_err_upstream_aborted; /* the held tail took the body over its cap */
    if (r->streaming) {
        settle_attempt(r, err, !err && !r->failed_midstream, -1);
        proxy_finish_stream(r, err);
        return;
    }
    bool ok = !err && r->up_status >= 200 && r->up_status < 300;
    if (settle_attempt(r, err, ok, r->retry_after_s)) return;
    if (err) {
        if (r->error_type && !strcmp(r->error_type, "upstream_response_too_large")) {
            gr_request_fail(r, 502, "api_error", "upstream_response_too_large", NULL,
                            "upstream response exceeded server.max_upstream_response_bytes (%llu)",
                            (unsigned long long)r->cfg->server.max_upstream_response_bytes);
            return;
        }
        bool timeout = gr_upstream_err_is_timeout(err);
        gr_request_fail(r, timeout ? 504 : 502, timeout ? "timeout_error" : "api_error",
                        timeout ? "upstream_timeout" : "upstream_unavailable", NULL, "%s (provider %s)", err,
                        r->deployment->provider->name);
        return;
    }
    if (ok) proxy_reply_non_stream(r);
    else proxy_reply_upstream_error(r);
}

/* UPSTREAM: the first attempt; the relay and finish follow from its callbacks. */
gr_phase_rc proxy_phase_upstream(gr_request *r) {
    start_attempt(r);
    return GR_PHASE_STOP;
}

/* Seconds until the first deployment of the asked model leaves its 429
 * cooldown, or 0 when unavailability is not (only) rate limiting. */
unsigned proxy_rate_limited_for(gr_request *r) {
    const gr_model_conf *m = gr_config_find_model(r->cfg, r->model_asked, strlen(r->model_asked));
    if (!m) return 0;
    uint64_t now = gr_now_us(), best = UINT64_MAX;
    for (size_t i = 0; i < m->ndeployments; i++) {
        gr_health_snapshot snap;
        gr_health_snapshot_get(gr_health_get2(m->deployments[i].provider->name, m->deployments[i].upstream_model), &snap);
        if (snap.state != GR_BREAKER_CLOSED || snap.cooldown_until_us <= now) return 0;
        if (snap.cooldown_until_us - now < best) best = snap.cooldown_until_us - now;
    }
    return best == UINT64_MAX ? 0 : (unsigned)((best + 999999u) / 1000000u);
}

/* POST /v1/messages/count_tokens for a model whose provider does not speak
 * Anthropic: the gateway's own estimate, marked as one. */
static void reply_token_estimate(gr_request *r) {
    char buf[64];
    int n = snprintf(buf, sizeof(buf), "{\"input_tokens\":%lld}", (long long)r->est_prompt_tokens);
    gr_request_add_header(r, "x-gaterouter-token-count", "estimated");
    gr_request_reply_json(r, 200, buf, (size_t)n);
}

static void token_timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    gr_request *r = arg;
    if (!r->finished && !r->client_gone) start_attempt(r);
}

#define TOKEN_POLL_MS 10

/* Vertex: the provider's access token into r->actx.bearer_token. The token
 * cache refreshes ahead of expiry, so this is normally immediate; with no
 * valid token yet the attempt is retried from a timer until one arrives, the
 * token endpoint fails (502 with its error) or token_timeout_ms passes (504).
 * False when the attempt does not go on now. */
static bool attempt_token(gr_request *r, const gr_provider_conf *prov) {
    if (prov->kind != GR_PROVIDER_VERTEX) return true;
    gr_vertex_token_src src = {.sa = prov->gcp_sa, .token_url = prov->token_url, .timeout_ms = prov->token_timeout_ms,
                               .refresh_before_ms = prov->token_refresh_before_ms};
    char *token = NULL, err[320] = "";
    gr_status st = gr_vertex_token_get(&src, &token, err, sizeof err);
    if (st == GR_OK) {
        r->actx.bearer_token = gr_pool_strdup(r->pool, token);
        free(token);
        r->token_deadline_us = 0;
        return true;
    }
    uint64_t now = gr_now_us();
    if (!r->token_deadline_us) r->token_deadline_us = now + (uint64_t)prov->token_timeout_ms * 1000u;
    if (st == GR_AGAIN && now < r->token_deadline_us) {
        if (!r->token_ev) r->token_ev = evtimer_new(r->w->base, token_timer_cb, r);
        struct timeval tv = {0, TOKEN_POLL_MS * 1000};
        evtimer_add(r->token_ev, &tv);
        return false;
    }
    r->token_deadline_us = 0;
    if (st == GR_AGAIN)
        gr_request_fail(r, 504, "timeout_error", "upstream_auth_timeout", NULL,
                        "provider %s: no Vertex AI access token within token_timeout_ms (%u ms)", prov->name,
                        prov->token_timeout_ms);
    else
        gr_request_fail(r, 502, "api_error", "upstream_auth_failed", NULL,
                        "provider %s: no Vertex AI access token: %s", prov->name, err);
    return false;
}

/* One upstream attempt on plan->cand[r->cand]. Per-attempt state is reset;
 * what the client sees is decided only once an attempt succeeds or the plan
 * is exhausted. */
static void start_attempt(gr_request *r) {
    const gr_route_candidate *c = &r->plan->cand[r->cand];
    r->model = c->model;
    r->deployment = c->dep;
    gr_meter_deployment_prices(r->deployment, r->model, &r->prices);
    const gr_provider_conf *prov = r->deployment->provider;
    r->ops = gr_provider_ops_for(prov->kind);
    r->native = r->messages_body && (prov->kind == GR_PROVIDER_ANTHROPIC || /* Anthropic in, Anthropic up */
                                     (!r->count_tokens &&
                                      (gr_messages_native_is_vertex_claude(prov, r->deployment->upstream_model) ||
                                       gr_messages_bedrock_is_claude(prov, r->deployment->upstream_model))));
    /* Responses in, Responses up: only requests the gateway keeps no state for */
    r->responses_native = r->responses_out && prov->responses_api &&
                          cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r->responses_body, "store")) &&
                          !cJSON_GetObjectItemCaseSensitive(r->responses_body, "previous_response_id");
    if (r->native || r->responses_native) r->ops = NULL;
    if (r->count_tokens && !r->native) {
        reply_token_estimate(r);
        return;
    }
    if (r->ops && r->ep != GR_EP_CHAT && !(r->ep == GR_EP_EMBEDDINGS && r->ops->build_embeddings_request)) {
        gr_request_fail(r, 400, "invalid_request_error", "unsupported_endpoint", "model",
                        "The model `%s` is served by a %s provider, which does not support this endpoint here.",
                        r->model->name, gr_provider_kind_name(prov->kind));
        return;
    }
    /* reset what a previous attempt left */
    gr_http_request_free(&r->up_req);
    if (r->up_body) {
        evbuffer_free(r->up_body);
        r->up_body = NULL;
    }
    r->up_status = 0;
    r->retry_after_s = -1;
    r->attempt_first_byte_us = 0;
    r->usage = (gr_usage){0};
    gr_redactor_dispose(&r->redact);
    gr_redactor_init(&r->redact, prov);
    r->actx = (gr_adapter_ctx){
        .provider = prov,
        .upstream_model = r->deployment->upstream_model,
        .public_model = r->model->name,
        .request_id = gr_pool_printf(r->pool, "chatcmpl-%s", r->id),
        .created = (int64_t)(gr_wall_ms() / 1000),
        .stream = r->stream,
        .include_usage = r->include_usage_asked,
        .exclude_reasoning = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(r->body, "reasoning"), "exclude")),
        .embeddings_base64 = r->ep == GR_EP_EMBEDDINGS &&
                             cJSON_IsString(cJSON_GetObjectItemCaseSensitive(r->body, "encoding_format")) &&
                             !strcmp(cJSON_GetObjectItemCaseSensitive(r->body, "encoding_format")->valuestring, "base64"),
        .reasoning_signature = r->responses_out && gr_responses_wants_encrypted_reasoning(r->responses_body),
    };
    if (!attempt_token(r, prov)) return;
    if (!proxy_build_upstream_request(r, r->body_text, r->body_len)) return;
    r->attempt_start_us = gr_now_us();
    if (!r->upstream_start_us) r->upstream_start_us = r->attempt_start_us;
    gr_health_on_start(c->health, r->attempt_start_us);
    r->xfer = gr_transfer_start(r->w->up, &r->up_req, &prov->timeouts, &k_proxy_cbs, r);
    if (!r->xfer) gr_request_fail(r, 502, "api_error", "upstream_unavailable", NULL, "could not start the upstream request");
}
