/* pay_x402_quote.c — the price quote of a paid request (its maximum cost over
 * the route's candidates), the offers (exact, upto) it becomes, and the 402
 * reply (v1 body + v2 PAYMENT-REQUIRED header) or rejection that carries
 * them. */
#include "pay_x402_internal.h"

#include "http_server.h"
#include "log.h"
#include "meter.h"
#include "meter_defaults.h"
#include "meter_hold.h"
#include "metrics.h"
#include "route_verify.h"
#include "x402_discovery.h"

#include <stdlib.h>

/* ---- helpers ---- */

const char *pay_in_header(gr_request *r, const char *name) {
    return r->req ? gr_client_req_header(r->req, name) : NULL;
}

/* nano-USD per atomic unit: 10^(9 - decimals) */
static int64_t unit_nusd(const gr_x402_network_conf *n) {
    int64_t u = 1;
    for (uint32_t i = n->decimals; i < 9; i++) u *= 10;
    return u;
}

uint64_t pay_atomic_ceil(int64_t nusd, const gr_x402_network_conf *n) {
    if (nusd <= 0) return 0;
    int64_t u = unit_nusd(n);
    return (uint64_t)(nusd / u + (nusd % u != 0));
}

int64_t pay_atomic_to_nusd(const gr_u256 *v, const gr_x402_network_conf *n) {
    uint64_t a;
    int64_t u = unit_nusd(n);
    if (gr_u256_to_u64(v, &a) != GR_OK || a > (uint64_t)(INT64_MAX / u)) return INT64_MAX;
    return (int64_t)a * u;
}

const char *pay_resource_url(gr_request *r, gr_pay_x402 *p) {
    if (p->public_url) return gr_pool_printf(r->pool, "%s%s", p->public_url, r->path);
    const char *host = pay_in_header(r, "Host");
    const char *proto = pay_in_header(r, "X-Forwarded-Proto");
    if (!host || !*host || strpbrk(host, " \"<>\\")) host = "localhost";
    return gr_pool_printf(r->pool, "%s://%s%s", proto && !strcmp(proto, "https") ? "https" : "http", host, r->path);
}

static void usd_per_mtok(int64_t uusd, char out[GR_METER_USD_BUFSZ]) {
    gr_meter_format_usd(uusd * 1000, out, GR_METER_USD_BUFSZ); /* uusd/Mtok -> USD/Mtok */
}

const char *pay_describe(gr_request *r, int64_t max_out, int64_t max_cost) {
    char in[GR_METER_USD_BUFSZ], out[GR_METER_USD_BUFSZ], tot[GR_METER_USD_BUFSZ];
    usd_per_mtok(r->prices.input_uusd_per_mtok, in);
    usd_per_mtok(r->prices.output_uusd_per_mtok, out);
    gr_meter_format_usd(max_cost, tot, sizeof tot);
    /* what the worst case adds to list prices (meter_hold.h), said in words */
    gr_provider_kind kind = r->deployment ? r->deployment->provider->kind : GR_PROVIDER_OPENAI;
    gr_hold_request q = {.body = r->body, .native_body = r->messages_body, .max_output = max_out, .outputs = 1,
                         .upstream_model = r->deployment ? r->deployment->upstream_model : NULL};
    int64_t thinking = gr_meter_hold_output(kind, &q) - max_out;
    bool writes = gr_meter_hold_cache_writes(r->messages_body && kind == GR_PROVIDER_ANTHROPIC ? r->messages_body : r->body) > 0;
    return gr_pool_printf(r->pool,
                          "GateRouter %s %s: max cost $%s = ~%lld prompt tokens x $%s/Mtok input%s + %lld max output "
                          "tokens%s x $%s/Mtok output; unused value becomes credit for the payer",
                          r->model ? r->model->name : "", r->path, tot, (long long)r->est_prompt_tokens, in,
                          writes ? " (or the prompt-cache write price: the request sets cache_control)" : "",
                          (long long)(max_out + (thinking > 0 ? thinking : 0)),
                          thinking > 0 ? gr_pool_printf(r->pool, " (%lld of them thinking budget)", (long long)thinking) : "",
                          out);
}

/* Output-token cap of the request: what it asked for, else the configured
 * default; 0 for embeddings. */
int64_t pay_request_max_out(gr_request *r, gr_pay_x402 *p) {
    if (r->ep == GR_EP_EMBEDDINGS) return 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->body, "max_completion_tokens");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r->body, "max_tokens");
    bool given = (cJSON_IsNumber(a) && a->valuedouble >= 1) || (cJSON_IsNumber(b) && b->valuedouble >= 1);
    int64_t mo = given ? gr_meter_request_max_output(r->body, 0) : p->default_max_tokens;
    if (r->model && r->model->max_output_tokens && mo > (int64_t)r->model->max_output_tokens)
        mo = r->model->max_output_tokens;
    return mo;
}

/* Worst case over the route's candidates (a fallback may cost more), every
 * output the request asks for (n, best_of: r->outputs) counted, cache writes
 * and the thinking budget an adapter adds included (meter_hold.h). */
typedef struct call_max_arg {
    gr_request *r;
    int64_t max_out; /* the request's output cap per output */
} call_max_arg;

static gr_hold_request hold_request(const call_max_arg *a, int64_t extra_in, int64_t out_cap) {
    const gr_request *r = a->r;
    return (gr_hold_request){.body = r->body,
                             .native_body = r->messages_body,
                             .prompt_tokens = r->est_prompt_tokens + extra_in,
                             .max_output = out_cap > 0 ? out_cap : a->max_out,
                             .outputs = out_cap > 0 ? 1 : r->outputs > 0 ? r->outputs : 1};
}

/* One call's worst case on candidate c (route_verify.h). */
static int64_t call_max_cost(const gr_route_candidate *c, int64_t extra_in, int64_t out_cap, void *arg) {
    gr_prices pr;
    gr_meter_deployment_prices(c->dep, c->model, &pr);
    gr_hold_request q = hold_request(arg, extra_in, out_cap);
    q.upstream_model = c->dep->upstream_model;
    return gr_meter_hold_cost(&pr, c->dep->provider->kind, &q);
}

/* ... plus every call an auto:verify cascade makes before the answer. */
int64_t pay_request_max_cost(gr_request *r, int64_t max_out) {
    call_max_arg a = {r, max_out};
    gr_hold_request q = hold_request(&a, 0, 0);
    q.upstream_model = r->deployment ? r->deployment->upstream_model : NULL;
    int64_t mc = gr_meter_hold_cost(&r->prices, r->deployment ? r->deployment->provider->kind : GR_PROVIDER_OPENAI, &q);
    if (!r->plan) return mc;
    int64_t m = gr_route_plan_max_cost(r->plan, max_out, call_max_cost, &a);
    return m > mc ? m : mc;
}

/* The offer: one requirement per configured network/asset, each asking
 * quote_nusd in that token's atomic units. */
gr_x402_requirements *pay_build_reqs(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, const char *desc) {
    /* at least one slot: with only Solana networks it carries the resource (render_required) */
    gr_x402_requirements *reqs = gr_pool_calloc(r->pool, (p->nnets ? p->nnets : 1) * sizeof *reqs);
    const char *res = pay_resource_url(r, p);
    reqs[0] = (gr_x402_requirements){.scheme = "exact", .resource = res, .description = desc,
                                     .mime_type = "application/json"};
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        reqs[i] = (gr_x402_requirements){
            .scheme = "exact",
            .chain_id = n->chain_id,
            .asset = n->asset,
            .pay_to = n->pay_to,
            .resource = res,
            .description = desc,
            .mime_type = "application/json",
            .max_timeout_seconds = n->max_timeout_seconds,
            .extra_name = n->asset_name,
            .extra_version = n->asset_version,
        };
        gr_u256_from_u64(pay_atomic_ceil(quote_nusd, n), &reqs[i].amount);
    }
    return reqs;
}

/* The upto offers (networks with Permit2 + the upto proxy), each asking
 * quote_nusd as the minimum maximum. *nu = how many. */
gr_x402_upto_offer *pay_build_upto_offers(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, size_t *nu) {
    gr_x402_upto_offer *o = gr_pool_calloc(r->pool, p->nnets * sizeof *o);
    *nu = 0;
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        if (!n->has_upto) continue;
        gr_x402_upto_offer *e = &o[(*nu)++];
        *e = (gr_x402_upto_offer){
            .chain_id = n->chain_id,
            .asset = n->asset,
            .pay_to = n->pay_to,
            .permit2 = n->permit2,
            .proxy = n->upto_proxy,
            .facilitator = n->upto_facilitator,
            .max_timeout_seconds = n->max_timeout_seconds,
            .extra_name = n->asset_name,
            .extra_version = n->asset_version,
        };
        gr_u256_from_u64(pay_atomic_ceil(quote_nusd, n), &e->amount);
    }
    return o;
}

const gr_x402_network_conf *pay_net_of(gr_pay_x402 *p, uint64_t chain_id, const gr_evm_address *asset) {
    for (size_t i = 0; i < p->nnets; i++)
        if (p->nets[i].chain_id == chain_id && gr_evm_address_eq(&p->nets[i].asset, asset)) return &p->nets[i];
    return NULL;
}

/* The payment-identifier extension in a PaymentRequired (root): optional
 * for the client; its schema as the extension's spec gives it. */
static gr_status pay_id_advertise(cJSON *root) {
    cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "extensions");
    if (!ext) ext = cJSON_AddObjectToObject(root, "extensions");
    cJSON *pid = ext ? cJSON_AddObjectToObject(ext, GR_X402_PAY_ID_EXT) : NULL;
    cJSON *info = pid ? cJSON_AddObjectToObject(pid, "info") : NULL;
    cJSON *schema = pid ? cJSON_AddObjectToObject(pid, "schema") : NULL;
    cJSON *props = schema ? cJSON_AddObjectToObject(schema, "properties") : NULL;
    cJSON *req = props ? cJSON_AddObjectToObject(props, "required") : NULL;
    cJSON *id = props ? cJSON_AddObjectToObject(props, "id") : NULL;
    if (!info || !req || !id) return GR_ERR_NOMEM;
    cJSON_AddFalseToObject(info, "required");
    cJSON_AddStringToObject(schema, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(schema, "type", "object");
    cJSON_AddStringToObject(req, "type", "boolean");
    cJSON_AddStringToObject(id, "type", "string");
    cJSON_AddNumberToObject(id, "minLength", GR_X402_PAY_ID_MIN);
    cJSON_AddNumberToObject(id, "maxLength", GR_X402_PAY_ID_MAX);
    cJSON_AddStringToObject(id, "pattern", "^[A-Za-z0-9_-]+$");
    return GR_OK;
}

/* The PaymentRequired JSON of n EVM requirements; with none (only Solana
 * networks, whose offers pay_svm.c appends) the same document with empty
 * accepts, its v2 resource from reqs[0]. */
static gr_status render_required(int version, const gr_x402_requirements *reqs, size_t n, const char *code,
                                 char **out) {
    if (n > 0) return gr_x402_render_payment_required(version, reqs, n, code, out);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "x402Version", version);
    if (version == 1 || code) cJSON_AddStringToObject(root, "error", code ? code : "X-PAYMENT header is required");
    if (version == 2) {
        cJSON *res = cJSON_AddObjectToObject(root, "resource");
        cJSON_AddStringToObject(res, "url", reqs[0].resource ? reqs[0].resource : "");
        if (reqs[0].description) cJSON_AddStringToObject(res, "description", reqs[0].description);
        cJSON_AddStringToObject(res, "mimeType", "application/json");
    }
    cJSON_AddArrayToObject(root, "accepts");
    char *t = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!t) return GR_ERR_NOMEM;
    *out = gr_xstrdup(t);
    cJSON_free(t);
    return GR_OK;
}

/* v2 PaymentRequired JSON: the exact requirements followed by the upto offers. */
static gr_status render_v2(gr_request *r, const gr_x402_requirements *reqs, size_t n, const gr_x402_upto_offer *up,
                           size_t nu, const char *code, char **out) {
    char *json = NULL;
    gr_status rc = render_required(2, reqs, n, code, &json);
    if (rc != GR_OK) {
        *out = json;
        return rc;
    }
    bool offer_pay_id = !r->stream;
    cJSON *root = cJSON_Parse(json);
    free(json);
    cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepts");
    rc = cJSON_IsArray(acc) ? GR_OK : GR_ERR_NOMEM;
    for (size_t i = 0; i < nu && rc == GR_OK; i++) rc = gr_x402_upto_render_requirement(&up[i], NULL, acc);
    x402_req *xs = XREQ(r);
    if (rc == GR_OK && px(r)) gr_pay_svm_add_accepts(px(r)->svm, acc, 2, xs ? xs->max_cost_nusd : 0, NULL, NULL);
    if (rc == GR_OK && offer_pay_id) rc = pay_id_advertise(root);
    if (rc == GR_OK) { /* what this endpoint takes and returns (bazaar) */
        cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "extensions");
        if (!ext) ext = cJSON_AddObjectToObject(root, "extensions");
        x402_req *x = XREQ(r);
        /* /v1/messages and /v1/responses run as chat inside */
        gr_endpoint ep = r->anthropic_out ? GR_EP_MESSAGES : r->responses_out ? GR_EP_RESPONSES : r->ep;
        (void)gr_x402_bazaar_add(ext, ep, r->model ? r->model->name : r->model_asked, x ? x->max_out : 0);
        gr_pay_x402 *p = px(r);
        if (p && p->siwx) rc = pay_siwx_challenge(r, p, ext);
    }
    char *t = rc == GR_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!t) return GR_ERR_NOMEM;
    *out = gr_xstrdup(t);
    cJSON_free(t);
    return GR_OK;
}


/* The 402 body's `quote`: the most this request can be charged and why, as
 * data (the description says the same in words): the model, the estimated
 * prompt and the output cap, the prices, the maximum. */
static void add_quote(gr_request *r, const x402_req *x, char **body) {
    cJSON *root = cJSON_Parse(*body);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return;
    }
    cJSON *q = cJSON_AddObjectToObject(root, "quote");
    cJSON_AddStringToObject(q, "model", r->model ? r->model->name : r->model_asked ? r->model_asked : "");
    cJSON_AddNumberToObject(q, "prompt_tokens_estimated", (double)r->est_prompt_tokens);
    cJSON_AddNumberToObject(q, "max_output_tokens", (double)x->max_out);
    if (r->outputs > 1) cJSON_AddNumberToObject(q, "outputs", (double)r->outputs);
    pay_add_usd(q, "input_usd_per_mtok", r->prices.input_uusd_per_mtok * 1000);
    pay_add_usd(q, "output_usd_per_mtok", r->prices.output_uusd_per_mtok * 1000);
    if (r->prices.per_request_uusd) pay_add_usd(q, "per_request_usd", r->prices.per_request_uusd * 1000);
    pay_add_usd(q, "max_cost_usd", x->max_cost_nusd);
    cJSON_AddStringToObject(q, "unused", "becomes credit for the payer (exact) or is not charged (upto)");
    char *t = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!t) return;
    free(*body);
    *body = gr_xstrdup(t);
    cJSON_free(t);
}

/* Answers 402: v1 JSON body (or v2 when the client spoke v2) + the v2
 * PAYMENT-REQUIRED header; on a failed payment also the settlement header
 * with success:false. */
void pay_reply_402(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, int version,
                   const char *code) {
    char *body = NULL, *hdr = NULL;
    gr_pay_x402 *p = px(r);
    size_t nu = 0;
    /* the upto offers ask the same maximum as exact's (credit does not apply to upto) */
    int64_t max_cost = x->max_cost_nusd;
    gr_x402_upto_offer *up = p ? pay_build_upto_offers(r, p, max_cost, &nu) : NULL;
    /* v1 can only name chains that have a v1 network name */
    gr_x402_requirements *v1 = gr_pool_calloc(r->pool, n * sizeof *v1);
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++)
        if (gr_x402_network_v1_name(reqs[i].chain_id)) v1[n1++] = reqs[i];
    size_t svm1 = p ? gr_pay_svm_offers(p->svm, 1) : 0;
    if (version == 2 || n1 + svm1 == 0) {
        if (render_v2(r, reqs, n, up, nu, code, &body) != GR_OK) body = NULL;
    } else if (render_required(1, v1, n1, code, &body) != GR_OK) {
        body = NULL;
    } else if (svm1) { /* the Solana networks with a v1 name */
        cJSON *root = cJSON_Parse(body);
        cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepts");
        if (cJSON_IsArray(acc)) gr_pay_svm_add_accepts(p->svm, acc, 1, x->max_cost_nusd, pay_resource_url(r, p), x->desc);
        char *t = root ? cJSON_PrintUnformatted(root) : NULL;
        cJSON_Delete(root);
        free(body);
        body = t ? gr_xstrdup(t) : NULL;
        cJSON_free(t);
    }
    char *v2json = NULL;
    if (render_v2(r, reqs, n, up, nu, code, &v2json) == GR_OK) {
        hdr = gr_evm_b64_encode((const uint8_t *)v2json, strlen(v2json), NULL);
        free(v2json);
        gr_request_add_header(r, "PAYMENT-REQUIRED", hdr);
        free(hdr);
    }
    gr_request_add_header(r, "Cache-Control", "no-store");
    if (code && x->has_payer && !x->siwx) {
        gr_x402_settlement s = {.success = false, .error_reason = code, .transaction = "",
                                .chain_id = x->pay.chain_id, .has_payer = true, .payer = x->pay.auth.from};
        char *sh = NULL;
        if (gr_x402_render_settlement(version, &s, &sh) == GR_OK ||
            (version == 1 && gr_x402_render_settlement(2, &s, &sh) == GR_OK)) {
            gr_request_add_header(r, version == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE", sh);
            free(sh);
        }
    }
    r->error_type = code ? code : "payment_required";
    if (body && x->max_cost_nusd > 0) add_quote(r, x, &body);
    if (!body) {
        gr_request_fail(r, 500, "api_error", "x402_render_failed", NULL, "could not render the payment requirements");
        return;
    }
    /* a payer without a Permit2 allowance: 412, as the exact scheme's spec and
     * the reference resource server answer (the same PaymentRequired) */
    int status = code && !strcmp(code, "permit2_allowance_required") ? 412 : 402;
    gr_request_reply_json(r, status, body, strlen(body));
    free(body);
}

bool pay_reject(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, const char *code) {
    x->phase = XS_REJECTED;
    gr_metrics_add(GR_M_X402, "event=\"rejected\"", 1);
    GR_INFO("x402: %s rejected: %s (payer %s)", r->id, code, x->has_payer ? x->payer : "?");
    pay_reply_402(r, x, reqs, n, x->version, code);
    return false;
}
