/* pay_x402_serve.c — the x402 discovery and account endpoints: GET
 * /v1/x402/pricing, /v1/x402/credit?address=, /v1/x402/payment and
 * /.well-known/x402. */
#include "pay_x402_internal.h"

#include "meter.h"
#include "meter_defaults.h"
#include "x402_discovery.h"
#include "x402_receipt.h"
#include "doc_cache.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>

/* ---- GET /v1/x402/pricing, GET /v1/x402/credit?address= ---- */

void pay_add_usd(cJSON *o, const char *k, int64_t nusd) {
    char b[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(nusd, b, sizeof b);
    cJSON_AddStringToObject(o, k, b);
}

static void reply_obj(gr_request *r, int status, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    gr_request_reply_json(r, status, s, strlen(s));
    cJSON_free(s);
}

/* The base URL of the discovery documents: x402.public_url, else from the
 * request's Host (pool). */
static const char *public_base(gr_request *r, gr_pay_x402 *p) {
    if (p->public_url) return p->public_url;
    const char *host = pay_in_header(r, "Host");
    const char *proto = pay_in_header(r, "X-Forwarded-Proto");
    if (!host || !*host || strpbrk(host, " \"<>\\")) host = "localhost";
    return gr_pool_printf(r->pool, "%s://%s", proto && !strcmp(proto, "https") ? "https" : "http", host);
}

/* What the gateway offers, from the running config (no secrets): versions,
 * schemes, settlement, networks and assets, extensions, the paid resources
 * under base, and per priced model its prices and the most a request of
 * prompt_tokens and max_tokens (capped by the model's max output) can be
 * charged, in USD and in each asset's atomic units. */
static cJSON *offer_obj(const gr_config *cfg, gr_pay_x402 *p, const char *base, int64_t max_tokens,
                        int64_t prompt_tokens) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "x402.pricing");
    cJSON *vers = cJSON_AddArrayToObject(o, "x402Versions");
    cJSON_AddItemToArray(vers, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(vers, cJSON_CreateNumber(2));
    cJSON_AddStringToObject(o, "scheme", "exact");
    cJSON_AddStringToObject(o, "settle", p->mode == GR_X402_SETTLE_SELF ? "self"
                                         : p->mode == GR_X402_SETTLE_FACILITATOR ? "facilitator" : "none");
    cJSON_AddNumberToObject(o, "default_max_tokens", (double)p->default_max_tokens);
    cJSON_AddStringToObject(o, "quote",
                            "amount = ceil((estimated prompt tokens x input price + max output tokens x output price "
                            "+ per-request price) in atomic units) - the payer's credit (when the request carries "
                            "X-Payer)");
    cJSON_AddStringToObject(o, "payer_hint_header", PAYER_HINT_HEADER);
    cJSON *acc = cJSON_AddArrayToObject(o, "accepts");
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToArray(acc, a);
        char net[GR_X402_NETWORK_STR_MAX], addr[GR_EVM_ADDR_STR_LEN + 1];
        gr_x402_network_caip2(n->chain_id, net);
        cJSON_AddStringToObject(a, "scheme", "exact");
        cJSON_AddStringToObject(a, "network", net);
        const char *v1 = gr_x402_network_v1_name(n->chain_id);
        if (v1) cJSON_AddStringToObject(a, "network_v1", v1);
        gr_evm_address_checksum(&n->asset, addr);
        cJSON_AddStringToObject(a, "asset", addr);
        gr_evm_address_checksum(&n->pay_to, addr);
        cJSON_AddStringToObject(a, "payTo", addr);
        cJSON_AddNumberToObject(a, "decimals", n->decimals);
        cJSON_AddNumberToObject(a, "maxTimeoutSeconds", n->max_timeout_seconds);
        cJSON *e = cJSON_AddObjectToObject(a, "extra");
        cJSON_AddStringToObject(e, "name", n->asset_name);
        cJSON_AddStringToObject(e, "version", n->asset_version);
        cJSON *sc = cJSON_AddArrayToObject(a, "schemes");
        cJSON_AddItemToArray(sc, cJSON_CreateString("exact"));
        if (n->has_upto) {
            cJSON_AddItemToArray(sc, cJSON_CreateString("upto"));
            cJSON *u = cJSON_AddObjectToObject(a, "upto");
            gr_evm_address_checksum(&n->permit2, addr);
            cJSON_AddStringToObject(u, "permit2", addr);
            gr_evm_address_checksum(&n->upto_proxy, addr);
            cJSON_AddStringToObject(u, "proxy", addr);
            gr_evm_address_checksum(&n->upto_facilitator, addr);
            cJSON_AddStringToObject(u, "facilitatorAddress", addr);
        }
    }
    gr_pay_svm_describe(p->svm, acc);
    cJSON *schemes = cJSON_AddArrayToObject(o, "schemes");
    cJSON_AddItemToArray(schemes, cJSON_CreateString("exact"));
    for (size_t i = 0; i < p->nnets; i++)
        if (p->nets[i].has_upto) {
            cJSON_AddItemToArray(schemes, cJSON_CreateString("upto"));
            break;
        }
    cJSON *exts = cJSON_AddArrayToObject(o, "extensions");
    cJSON_AddItemToArray(exts, cJSON_CreateString(GR_X402_PAY_ID_EXT));
    cJSON_AddItemToArray(exts, cJSON_CreateString("bazaar"));
    if (p->has_receipt_key) {
        char signer[GR_EVM_ADDR_STR_LEN + 1];
        cJSON_AddItemToArray(exts, cJSON_CreateString(GR_X402_RECEIPT_EXT));
        gr_evm_address_checksum(&p->receipt_signer, signer);
        cJSON_AddStringToObject(o, "receipt_signer", signer);
    }
    cJSON *res = cJSON_AddArrayToObject(o, "resources");
    size_t npaid = 0;
    const gr_x402_paid_endpoint *paid = gr_x402_paid_endpoints(&npaid);
    for (size_t i = 0; i < npaid; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(res, e);
        size_t ulen = strlen(base) + strlen(paid[i].path) + 1;
        char *url = gr_xmalloc(ulen);
        snprintf(url, ulen, "%s%s", base, paid[i].path);
        cJSON_AddStringToObject(e, "resource", url);
        free(url);
        cJSON_AddStringToObject(e, "type", "http");
        cJSON_AddStringToObject(e, "method", "POST");
        cJSON_AddStringToObject(e, "mimeType", "application/json");
    }
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const gr_model_conf *m = &cfg->models[i];
        if (!m->ndeployments) continue;
        gr_prices pr;
        const gr_deployment *d = &m->deployments[0];
        gr_meter_deployment_prices(d, m, &pr);
        if (!pr.input_uusd_per_mtok && !pr.output_uusd_per_mtok && !pr.per_request_uusd) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(models, e);
        cJSON_AddStringToObject(e, "model", m->name);
        pay_add_usd(e, "input_usd_per_mtok", pr.input_uusd_per_mtok * 1000);
        pay_add_usd(e, "output_usd_per_mtok", pr.output_uusd_per_mtok * 1000);
        if (pr.per_request_uusd) pay_add_usd(e, "per_request_usd", pr.per_request_uusd * 1000);
        if (m->max_output_tokens) cJSON_AddNumberToObject(e, "max_output_tokens", m->max_output_tokens);
        int64_t mo = max_tokens;
        if (m->max_output_tokens && mo > (int64_t)m->max_output_tokens) mo = m->max_output_tokens;
        /* the most a plain request of this size is charged (thinking budgets and cache writes add: the 402 names
         * the request's own maximum) */
        int64_t most = gr_meter_max_cost(&pr, prompt_tokens, mo);
        cJSON *mc = cJSON_AddObjectToObject(e, "max_charge");
        cJSON_AddNumberToObject(mc, "prompt_tokens", (double)prompt_tokens);
        cJSON_AddNumberToObject(mc, "max_tokens", (double)mo);
        pay_add_usd(mc, "usd", most);
        cJSON *atomic = cJSON_AddArrayToObject(mc, "amounts");
        for (size_t k = 0; k < p->nnets; k++) {
            char net[GR_X402_NETWORK_STR_MAX], addr[GR_EVM_ADDR_STR_LEN + 1], amt[32];
            gr_x402_network_caip2(p->nets[k].chain_id, net);
            gr_evm_address_checksum(&p->nets[k].asset, addr);
            snprintf(amt, sizeof amt, "%llu", (unsigned long long)pay_atomic_ceil(most, &p->nets[k]));
            cJSON *a = cJSON_CreateObject();
            cJSON_AddItemToArray(atomic, a);
            cJSON_AddStringToObject(a, "network", net);
            cJSON_AddStringToObject(a, "asset", addr);
            cJSON_AddStringToObject(a, "amount", amt);
        }
    }
    return o;
}

/* ?max_tokens=N&prompt_tokens=M (defaults: x402.default_max_tokens, 0). */
#define PRICING_TOKENS_MAX 100000000
static bool pricing_query(const char *query, const char *name, int64_t def, int64_t *out) {
    *out = def;
    size_t nl = strlen(name);
    for (const char *q = query; q && *q;) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=') {
            char buf[24];
            size_t vl = len - nl - 1;
            if (vl == 0 || vl >= sizeof buf) return false;
            memcpy(buf, q + nl + 1, vl);
            buf[vl] = 0;
            char *end = NULL;
            long long v = strtoll(buf, &end, 10);
            if (*end || v < 0 || v > PRICING_TOKENS_MAX) return false;
            *out = v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return true;
}

static gr_doc_cache g_pricing_cache = GR_DOC_CACHE_INIT, g_well_known_cache = GR_DOC_CACHE_INIT;

static void reply_cached(gr_request *r, char *text) {
    gr_request_add_header(r, "Cache-Control", "public, max-age=60");
    gr_request_reply_json(r, 200, text, strlen(text));
    free(text);
}

static void serve_pricing(gr_request *r, gr_pay_x402 *p, const char *query) {
    int64_t max_tokens, prompt_tokens;
    if (!pricing_query(query, "max_tokens", p->default_max_tokens, &max_tokens) || max_tokens == 0 ||
        !pricing_query(query, "prompt_tokens", 0, &prompt_tokens)) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_value", "max_tokens",
                        "max_tokens (1..%d) and prompt_tokens (0..%d) must be integers", PRICING_TOKENS_MAX,
                        PRICING_TOKENS_MAX);
        return;
    }
    const char *base = public_base(r, p);
    bool plain = !*query; /* the default document is cached per config snapshot */
    char *text = plain ? gr_doc_cache_get(&g_pricing_cache, r->cfg->generation, base) : NULL;
    if (!text)
        text = gr_doc_cache_render(plain ? &g_pricing_cache : NULL, r->cfg->generation, base,
                                   offer_obj(r->cfg, p, base, max_tokens, prompt_tokens));
    reply_cached(r, text);
}

/* GET /.well-known/x402: the resources with their bazaar metadata and the
 * offer, cached per config snapshot. */
static void serve_well_known(gr_request *r, gr_pay_x402 *p) {
    const char *base = public_base(r, p);
    char *text = gr_doc_cache_get(&g_well_known_cache, r->cfg->generation, base);
    if (!text) {
        const char *example = "";
        for (size_t i = 0; i < r->cfg->nmodels && !*example; i++) {
            gr_prices pr;
            const gr_model_conf *m = &r->cfg->models[i];
            if (!m->ndeployments) continue;
            gr_meter_deployment_prices(&m->deployments[0], m, &pr);
            if (pr.input_uusd_per_mtok || pr.output_uusd_per_mtok || pr.per_request_uusd) example = m->name;
        }
        cJSON *o = gr_x402_well_known(offer_obj(r->cfg, p, base, p->default_max_tokens, 0), base, example,
                                      p->default_max_tokens);
        text = gr_doc_cache_render(&g_well_known_cache, r->cfg->generation, base, o);
    }
    reply_cached(r, text);
}

static void credit_view(gr_request *r, x402_job *j) {
    if (j->rc == GR_ERR_INVALID && j->key[0]) {
        gr_request_fail(r, 401, "invalid_request_error", "siwx_nonce_used", GR_X402_SIWX_HEADER,
                        "This sign-in was used already: sign a fresh challenge.");
        return;
    }
    if (j->rc != GR_OK) {
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL, "The credit store is unavailable.");
        return;
    }
    gr_evm_address addr;
    char cs[GR_EVM_ADDR_STR_LEN + 1];
    if (gr_evm_address_parse(gr_str_c(j->payer), false, &addr) != GR_OK) abort(); /* parsed before */
    gr_evm_address_checksum(&addr, cs);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "x402.credit");
    cJSON_AddStringToObject(o, "address", cs);
    cJSON_AddNumberToObject(o, "credit_nusd", (double)j->credit);
    pay_add_usd(o, "credit_usd", j->credit);
    cJSON_AddItemToObject(o, "settlements", j->obj);
    j->obj = NULL;
    reply_obj(r, 200, o);
}

static void serve_credit(gr_request *r, gr_pay_x402 *p, const char *query) {
    const char *sx = pay_in_header(r, GR_X402_SIWX_HEADER);
    if (p->siwx && (sx || !query || !strstr(query, "address="))) { /* the wallet's own view, signed */
        pay_siwx_serve_credit(r, p, sx, credit_view);
        return;
    }
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    evhttp_parse_query_str(query, &q);
    const char *a = evhttp_find_header(&q, "address");
    gr_evm_address addr;
    if (!a || gr_evm_address_parse(gr_str_c(a), false, &addr) != GR_OK) {
        evhttp_clear_headers(&q);
        gr_request_fail(r, 400, "invalid_request_error", "invalid_address", "address",
                        "Pass ?address=0x… (an EVM address, 40 hex digits).");
        return;
    }
    evhttp_clear_headers(&q);
    x402_job *j = pay_new_job(r, p, XJ_CREDIT_VIEW, credit_view);
    gr_evm_address_lower(&addr, j->payer);
    pay_submit_job(r, j);
}

static void payment_view(gr_request *r, x402_job *j) {
    if (j->rc == GR_ERR_NOT_FOUND) {
        gr_request_fail(r, 404, "invalid_request_error", "payment_not_found", "id", "No x402 payment for request %s.",
                        j->rid);
        return;
    }
    if (j->rc != GR_OK) {
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL, "The payment store is unavailable.");
        return;
    }
    cJSON *o = j->obj;
    j->obj = NULL;
    reply_obj(r, 200, o);
}

/* GET /v1/x402/payments?id=<request id>: one payment, either scheme — for
 * upto the authorised maximum and the settled amount (final once the
 * settlement ends; a stream's reply header could not carry it). */
static void serve_payment(gr_request *r, gr_pay_x402 *p, const char *query) {
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    evhttp_parse_query_str(query, &q);
    const char *id = evhttp_find_header(&q, "id");
    if (!id || !*id || strlen(id) >= 64) {
        evhttp_clear_headers(&q);
        gr_request_fail(r, 400, "invalid_request_error", "invalid_id", "id",
                        "Pass ?id=<request id> (the x-gaterouter-request-id of the paid request, or the "
                        "x-request-id it was sent with).");
        return;
    }
    x402_job *j = pay_new_job(r, p, XJ_PAYMENT_GET, payment_view);
    snprintf(j->rid, sizeof j->rid, "%s", id);
    evhttp_clear_headers(&q);
    pay_submit_job(r, j);
}

void gr_pay_x402_serve(gr_request *r, const char *path, const char *query) {
    gr_pay_x402 *p = px(r);
    r->key_name = "x402";
    if (!p) {
        gr_request_fail(r, 404, "invalid_request_error", "x402_disabled", NULL, "x402 payments are not enabled here.");
        return;
    }
    bool get = r->method && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"));
    bool known = !strcmp(path, "/v1/x402/pricing") || !strcmp(path, "/v1/x402/credit") ||
                 !strcmp(path, "/v1/x402/payments") || !strcmp(path, "/.well-known/x402");
    if (known && !get) {
        gr_request_add_header(r, "Allow", "GET, HEAD");
        gr_request_fail(r, 405, "invalid_request_error", "method_not_allowed", NULL, "Method %s is not allowed for %s",
                        r->method, path);
        return;
    }
    if (!strcmp(path, "/v1/x402/pricing")) serve_pricing(r, p, query ? query : "");
    else if (!strcmp(path, "/.well-known/x402")) serve_well_known(r, p);
    else if (!strcmp(path, "/v1/x402/credit")) serve_credit(r, p, query ? query : "");
    else if (!strcmp(path, "/v1/x402/payments")) serve_payment(r, p, query ? query : "");
    else gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %s)", r->method, path);
}
