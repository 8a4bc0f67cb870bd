/* proxy_route.c — the ROUTE phase: an ordered candidate list with the reason
 * for each, the API key's restrictions applied to every candidate, and the
 * x-gaterouter-* headers naming what served the request. */
#include "proxy_internal.h"
#include "verify_cascade.h"

#include "messages_native.h"
#include "meter.h"
#include "meter_defaults.h"
#include "route.h"
#include "route_auto_config.h"
#include "metrics.h"


/* ---- the API key's restrictions, applied by the router to every candidate ---- */

typedef struct key_access {
    gr_key_entry *key;
    bool budget; /* the key has a budget: every candidate must be priced */
} key_access;

static gr_route_refusal key_refuses(const gr_model_conf *m, gr_str auto_policy, void *arg) {
    const key_access *ka = arg;
    bool auto_granted = auto_policy.len && gr_keys_auto_allowed(ka->key, auto_policy.ptr, auto_policy.len);
    if (!auto_granted && !gr_keys_model_allowed(ka->key, m->name, (const char *const *)m->aliases, m->naliases))
        return GR_ROUTE_NOT_ALLOWED;
    for (size_t i = 0; ka->budget && i < m->ndeployments; i++) { /* never served free under a budget */
        const gr_deployment *d = &m->deployments[i];
        gr_prices pr;
        gr_meter_deployment_prices(d, m, &pr);
        if (!pr.set) return GR_ROUTE_NOT_PRICED;
    }
    return GR_ROUTE_ALLOWED;
}

/* ---- ROUTE: an ordered candidate list with the reason for each ---- */

gr_phase_rc proxy_phase_route(gr_request *r) {
    size_t len = r->body_len;
    gr_route_request rq;
    char rerr[256];
    if (gr_route_request_from_json(r->body, &rq, rerr, sizeof(rerr)) != GR_OK) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_routing", NULL, "%s", rerr);
        return GR_PHASE_STOP;
    }
    rq.need_caps |= r->ep == GR_EP_EMBEDDINGS ? GR_CAP_EMBEDDINGS : r->ep == GR_EP_COMPLETIONS ? GR_CAP_COMPLETIONS : GR_CAP_CHAT;
    rq.quality = gr_route_parse_quality(gr_client_req_header(r->req, "x-gaterouter-quality"));
    key_access ka = {.key = r->key};
    const gr_route_access access = {key_refuses, &ka};
    if (r->key) { /* the key's models list and budget apply to every candidate */
        gr_key_limits lim;
        gr_keys_limits(r->key, &lim);
        ka.budget = lim.budget_total_nusd >= 0 || lim.budget_daily_nusd >= 0 || lim.budget_monthly_nusd >= 0;
        if (ka.budget || gr_keys_restricted(r->key)) rq.access = &access;
    }
    rq.value_usd = gr_route_auto_parse_value_usd(gr_client_req_header(r->req, "x-gaterouter-value-usd"));
    if (r->key) rq.default_value_usd = gr_keys_auto_value_usd(r->key);
    if (r->key) rq.default_cost_per_1k_usd = gr_keys_auto_cost_per_1k_usd(r->key);
    rq.dry_run = r->ep == GR_EP_ROUTE; /* /v1/route feeds no cost-target controller */
    r->est_prompt_tokens = r->ep == GR_EP_CHAT ? gr_meter_estimate_request(r->body) : (int64_t)(len / 4);
    gr_messages_stream_set_input_estimate(r->msg_stream, r->est_prompt_tokens); /* message_start's input_tokens */
    if (!rq.prompt_tokens) rq.prompt_tokens = (uint32_t)(r->est_prompt_tokens > UINT32_MAX ? UINT32_MAX : r->est_prompt_tokens);
    rq.embed = r->route_embed; /* routing.auto.embeddings, from an earlier ROUTE handler */
    r->plan = gr_pool_calloc(r->pool, sizeof(*r->plan));
    (void)gr_route_plan(r->cfg, &rq, r->w->route_state, r->plan);
    char mlabels[GR_METRICS_LABELS_CAP];
    gr_metrics_label(mlabels, gr_metrics_label(mlabels, 0, sizeof(mlabels), "policy", r->plan->policy), sizeof(mlabels),
                     "model", r->plan->result == GR_ROUTE_OK ? r->plan->cand[0].model->name : gr_route_result_name(r->plan->result));
    gr_metrics_add(GR_M_ROUTE_DECISIONS, mlabels, 1);
    if (r->ep == GR_EP_ROUTE) { /* dry run */
        cJSON *j = gr_route_plan_to_json(r->plan);
        char *txt = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        gr_request_reply_json(r, r->plan->result == GR_ROUTE_OK ? 200 : gr_route_result_http_status(r->plan->result), txt, strlen(txt));
        cJSON_free(txt);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_UNAVAILABLE && proxy_rate_limited_for(r) > 0) {
        /* Every deployment is cooling down after the provider's 429: pass the
         * rate limit on (with its wait), rather than a 503. */
        char ra[24];
        snprintf(ra, sizeof(ra), "%u", proxy_rate_limited_for(r));
        gr_request_add_header(r, "Retry-After", ra);
        gr_request_fail(r, 429, "rate_limit_error", "upstream_rate_limited", NULL,
                        "Every deployment of `%s` is rate-limited by its provider; retry after %s s.", r->model_asked, ra);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_FORBIDDEN) {
        gr_request_fail(r, 403, "permission_error",
                        r->plan->refusal == GR_ROUTE_NOT_PRICED ? "model_not_priced" : "model_not_allowed", "model", "%s",
                        r->plan->error);
        return GR_PHASE_STOP;
    }
    if (r->plan->result == GR_ROUTE_NO_CAPABLE && r->plan->ctx_limit && r->anthropic_out) {
        /* Anthropic's own wording: Claude Code reads the numbers from it and
         * retries with a max_tokens that fits */
        gr_request_fail(r, 400, "invalid_request_error", "context_length_exceeded", NULL,
                        "input length and `max_tokens` exceed context limit: %u + %u > %u, decrease input length or "
                        "`max_tokens` and try again",
                        rq.prompt_tokens, rq.max_output_tokens, r->plan->ctx_limit);
        return GR_PHASE_STOP;
    }
    if (r->plan->result != GR_ROUTE_OK) {
        int st = gr_route_result_http_status(r->plan->result);
        const char *code = r->plan->result == GR_ROUTE_NOT_FOUND ? "model_not_found"
                         : r->plan->result == GR_ROUTE_UNAVAILABLE ? "no_healthy_deployment" : "no_capable_model";
        gr_request_fail(r, st, st == 503 ? "api_error" : "invalid_request_error", code,
                        r->plan->result == GR_ROUTE_NOT_FOUND ? "model" : NULL, "%s", r->plan->error);
        return GR_PHASE_STOP;
    }
    r->route_reason = r->plan->reason;
    r->cand = 0;
    r->model = r->plan->cand[0].model;
    r->deployment = r->plan->cand[0].dep;
    gr_meter_deployment_prices(r->deployment, r->model, &r->prices);
    return GR_PHASE_NEXT;
}

/* Headers naming what served the request and why; set just before the status
 * line goes out, so they describe the attempt that answered. */
bool proxy_add_route_headers(gr_request *r, int status, const char *body, size_t len) {
    (void)status;
    (void)body;
    (void)len;
    if (!r->deployment || !r->plan || r->client_gone) return false;
    gr_request_add_header(r, "x-gaterouter-model", r->model->name);
    gr_request_add_header(r, "x-gaterouter-upstream-model", r->deployment->upstream_model);
    gr_request_add_header(r, "x-gaterouter-provider", r->deployment->provider->name);
    if (r->cache_hit) { /* answered from the response cache: no upstream attempt */
        gr_request_add_header(r, "x-gaterouter-route", "cache hit");
        return false;
    }
    char buf[512];
    /* an accepted auto:verify answer is no fallback: its verify= token names the calls */
    gr_route_format_header(r->plan, gr_verify_cascade_accepted(r) ? -1 : (int)r->cand, r->attempts + 1, buf, sizeof(buf));
    if (r->last_failure) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, "; after %s", r->last_failure);
    }
    r->route_reason = gr_pool_strdup(r->pool, buf);
    gr_request_add_header(r, "x-gaterouter-route", r->route_reason);
    if (r->attempts) {
        char a[16];
        snprintf(a, sizeof(a), "%u", r->attempts + 1);
        gr_request_add_header(r, "x-gaterouter-attempts", a);
    }
    return false;
}
