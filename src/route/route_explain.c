/* route_explain.c — route explanations: the x-gaterouter-route header, the
 * plan as JSON (/v1/route) and the `route explain` command. */
#include "route_internal.h"
#include "route_auto_explain.h"
#include "route_conf.h"

#include <stdlib.h>

/* ---- explanations ---- */

static const char *kind_name(gr_cand_kind k)
{
    switch (k) {
    case GR_CAND_PRIMARY:
        return "primary";
    case GR_CAND_BALANCE:
        return "balance";
    case GR_CAND_MODELS:
        return "models";
    case GR_CAND_FALLBACK:
        return "fallback";
    case GR_CAND_AUTO_ALT:
        return "auto-alt";
    }
    return "?";
}

size_t gr_route_format_header(const struct gr_route_plan *plan, int served, unsigned attempts, char *buf,
                              size_t len)
{
    if (!buf || len == 0)
        return 0;
    buf[0] = '\0';
    if (!plan)
        return 0;
    route_appendf(buf, len, "%s", plan->reason);
    if (served >= 0 && (size_t)served < plan->ncand) {
        const gr_route_candidate *c = &plan->cand[served];
        if (served > 0)
            route_appendf(buf, len, " fallback=%d served=%s/%s", served,
                          c->model->name ? c->model->name : "?", route_dep_provider_name(c->dep));
    }
    if (attempts > 1)
        route_appendf(buf, len, " attempts=%u", attempts);
    /* header-safe: no CR/LF or control bytes */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return strlen(buf);
}

cJSON *gr_route_plan_to_json(const struct gr_route_plan *plan)
{
    if (!plan)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "result", gr_route_result_name(plan->result));
    cJSON_AddNumberToObject(o, "status", gr_route_result_http_status(plan->result));
    if (plan->result != GR_ROUTE_OK)
        cJSON_AddStringToObject(o, "error", plan->error);
    cJSON_AddStringToObject(o, "policy", plan->policy);
    if (plan->strategy)
        cJSON_AddStringToObject(o, "strategy", plan->strategy);
    if (plan->value_usd >= 0)
        gr_route_auto_to_json(plan, o);
    gr_route_verify_to_json(plan, o);
    cJSON_AddNumberToObject(o, "considered", plan->considered);
    cJSON *rj = cJSON_AddObjectToObject(o, "skipped");
    cJSON_AddNumberToObject(rj, "capabilities", plan->rej_caps);
    cJSON_AddNumberToObject(rj, "context", plan->rej_ctx);
    cJSON_AddNumberToObject(rj, "provider", plan->rej_provider);
    cJSON_AddNumberToObject(rj, "price", plan->rej_price);
    cJSON_AddNumberToObject(rj, "health", plan->rej_health);
    cJSON_AddNumberToObject(rj, "access", plan->rej_access);
    cJSON *arr = cJSON_AddArrayToObject(o, "candidates");
    for (size_t i = 0; i < plan->ncand; i++) {
        const gr_route_candidate *c = &plan->cand[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "model", c->model->name ? c->model->name : "");
        cJSON_AddStringToObject(e, "provider", route_dep_provider_name(c->dep));
        cJSON_AddStringToObject(e, "upstream_model", c->dep->upstream_model ? c->dep->upstream_model : "");
        cJSON_AddStringToObject(e, "kind", kind_name(c->kind));
        cJSON_AddNumberToObject(e, "quality", c->model->quality);
        cJSON_AddNumberToObject(e, "est_cost_usd", (double)c->est_cost_uusd / 1e6);
        gr_health_snapshot hs;
        gr_health_snapshot_get(c->health, &hs);
        cJSON *h = cJSON_AddObjectToObject(e, "health");
        cJSON_AddStringToObject(h, "breaker", gr_breaker_state_name(hs.state));
        cJSON_AddNumberToObject(h, "in_flight", hs.in_flight);
        cJSON_AddNumberToObject(h, "ewma_ttft_ms", hs.ewma_ttft_us / 1000.0);
        cJSON_AddNumberToObject(h, "ewma_ms_per_token", hs.ewma_per_token_us / 1000.0);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddStringToObject(o, "reason", plan->reason);
    cJSON_AddNumberToObject(o, "decide_ns", (double)plan->decide_ns);
    return o;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = gr_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_EXPLAIN_FILE) {
                free(buf);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = gr_xrealloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int gr_route_explain_cli(const gr_config *cfg, const char *request_json_path, FILE *out)
{
    int rc = 2;
    size_t len = 0;
    char *text = NULL, *js = NULL;
    cJSON *doc = NULL, *pj = NULL;
    char err[256] = "";
    if (!out)
        out = stdout;
    text = request_json_path ? read_file(request_json_path, &len) : NULL;
    if (!text) {
        fprintf(out, "route: cannot read %s\n", request_json_path ? request_json_path : "(null)");
        goto out;
    }
    doc = cJSON_ParseWithLength(text, len);
    if (!doc) {
        fprintf(out, "route: %s is not valid JSON\n", request_json_path);
        goto out;
    }
    /* Either a bare request body, or {"headers": {...}, "body": {...}} */
    const cJSON *body = doc;
    const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(doc, "headers");
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "body")))
        body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    gr_route_request req;
    if (gr_route_request_from_json(body, &req, err, sizeof err) != GR_OK) {
        fprintf(out, "route: invalid request: %s\n", err);
        rc = 1;
        goto out;
    }
    const cJSON *qh = NULL;
    const cJSON *h;
    cJSON_ArrayForEach(h, hdrs)
    {
        if (h->string && strcasecmp(h->string, "x-gaterouter-quality") == 0)
            qh = h;
    }
    const cJSON *vh = NULL;
    cJSON_ArrayForEach(h, hdrs)
    {
        if (h->string && strcasecmp(h->string, "x-gaterouter-value-usd") == 0)
            vh = h;
    }
    if (cJSON_IsString(vh))
        req.value_usd = gr_route_auto_parse_value_usd(vh->valuestring);
    else if (cJSON_IsNumber(vh) && vh->valuedouble >= 0 && vh->valuedouble <= GR_AUTO_MAX_VALUE_USD)
        req.value_usd = vh->valuedouble;
    if (cJSON_IsString(qh))
        req.quality = gr_route_parse_quality(qh->valuestring);
    else if (cJSON_IsNumber(qh) && qh->valuedouble >= 0 && qh->valuedouble <= 1)
        req.quality = qh->valuedouble;

    req.dry_run = true; /* an explanation feeds no cost-target controller */
    gr_route_state st;
    gr_route_state_init(&st, 1);
    struct gr_route_plan plan;
    (void)gr_route_plan(cfg, &req, &st, &plan);
    fprintf(out, "decision: %s (HTTP %d)\n", gr_route_result_name(plan.result),
            gr_route_result_http_status(plan.result));
    if (plan.result != GR_ROUTE_OK)
        fprintf(out, "error:    %s\n", plan.error);
    fprintf(out, "request:  model=%.*s prompt~%u tokens max_output=%u caps=%s%s%s%s\n",
            (int)req.model.len, req.model.ptr ? req.model.ptr : "", req.prompt_tokens,
            req.max_output_tokens, (req.need_caps & GR_CAP_TOOLS) ? "tools " : "",
            (req.need_caps & GR_CAP_VISION) ? "vision " : "",
            (req.need_caps & GR_CAP_JSON) ? "json " : "",
            (req.need_caps & (GR_CAP_TOOLS | GR_CAP_VISION | GR_CAP_JSON)) ? "" : "chat");
    if (plan.value_usd >= 0)
        gr_route_auto_explain_print(&plan, out);
    for (size_t i = 0; i < plan.ncand; i++) {
        const gr_route_candidate *c = &plan.cand[i];
        fprintf(out, "  %2zu. %-24s %-12s %-28s %-9s q=%-3u est=$%.6f\n", i + 1,
                c->model->name ? c->model->name : "?", route_dep_provider_name(c->dep),
                c->dep->upstream_model ? c->dep->upstream_model : "", kind_name(c->kind),
                c->model->quality, (double)c->est_cost_uusd / 1e6);
    }
    fprintf(out, "x-gaterouter-route: %s\n", plan.reason);
    fprintf(out, "decision time: %.1f us\n", (double)plan.decide_ns / 1000.0);
    pj = gr_route_plan_to_json(&plan);
    js = pj ? cJSON_Print(pj) : NULL;
    if (js)
        fprintf(out, "%s\n", js);
    rc = plan.result == GR_ROUTE_OK ? 0 : 1;
out:
    free(js);
    cJSON_Delete(pj);
    cJSON_Delete(doc);
    free(text);
    return rc;
}
