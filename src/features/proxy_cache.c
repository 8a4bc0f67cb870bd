/* proxy_cache.c — the CACHE phase: the exact-match response cache (Redis,
 * opt-in), its key and the answer from a hit. */
#include "proxy_internal.h"

#include "messages_native.h"
#include "cluster_state.h"
#include "metrics.h"

#include <openssl/evp.h>

/* ---- exact-match response cache (Redis, opt-in) ---- */

/* Opt-in: the model's cache_ttl_s, or the request's `x-gaterouter-cache: <ttl>`
 * (`off`/`0` opts out). Never streams, paid (x402) requests, or requests
 * offering tools unless the header asks (a tool call may have side effects). */
static void cache_decide(gr_request *r) {
    /* Responses: every answer has its own id and may be stored: never from the cache */
    if (!r->w->shared || r->stream || r->pay_x402 || !r->model || r->count_tokens || r->responses_out) return;
    const char *h = gr_client_req_header(r->req, "x-gaterouter-cache");
    uint32_t ttl = r->model->cache_ttl_s;
    bool asked = false;
    if (h) {
        char *end = NULL;
        unsigned long v = strtoul(h, &end, 10);
        if (!strcmp(h, "off") || (end && !*end && v == 0)) return;
        if (end && !*end && v <= 2592000) {
            ttl = (uint32_t)v;
            asked = true;
        }
    }
    if (!ttl) return;
    if (!asked && cJSON_GetObjectItemCaseSensitive(r->body, "tools")) return;
    /* normalised: no insignificant whitespace; /v1/messages by the client's own
     * request (its thinking, cache_control... are not in the canonical one) */
    char *norm = cJSON_PrintUnformatted(r->messages_body ? r->messages_body : r->body);
    if (!norm) return;
    /* key = SHA-256(model, output format, endpoint, normalised body) */
    const char *material = gr_pool_printf(r->pool, "%s\n%c\n%s\n%s", r->model->name, r->anthropic_out ? 'a' : 'o',
                                          proxy_endpoint_path(r->ep), norm);
    cJSON_free(norm);
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (!EVP_Digest(material, strlen(material), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) return;
    for (int i = 0; i < 32; i++) snprintf(r->cache_key + 2 * i, 3, "%02x", md[i]);
    r->cache_ttl_s = ttl;
}

static void on_cache(void *ud, bool hit, const char *data, size_t len) {
    gr_request *r = ud;
    r->shared_op = NULL;
    if (r->finished || r->client_gone) return;
    cJSON *j = hit ? cJSON_ParseWithLength(data, len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        gr_request_add_header(r, "x-gaterouter-cache", "miss");
        gr_metrics_add(GR_M_CACHE, "result=\"miss\"", 1);
        gr_pipeline_continue(r, GR_PHASE_NEXT);
        return;
    }
    /* A hit costs nothing upstream: usage.cost is 0 and the ledger says so. */
    r->cache_hit = true;
    gr_metrics_add(GR_M_CACHE, "result=\"hit\"", 1);
    r->route_reason = "cache hit";
    r->usage = (gr_usage){0};
    r->cost_nusd = 0;
    cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
    if (cJSON_IsObject(u)) {
        cJSON_DeleteItemFromObjectCaseSensitive(u, "cost");
        cJSON_AddNumberToObject(u, "cost", 0);
    }
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    gr_request_add_header(r, "x-gaterouter-cache", "hit");
    gr_request_add_header(r, "x-gaterouter-cost", "0");
    gr_request_reply_json(r, 200, out, strlen(out));
    cJSON_free(out);
}

/* CACHE: everything admitted; answer from the cache when allowed. */
gr_phase_rc proxy_phase_cache(gr_request *r) {
    cache_decide(r);
    if (!r->cache_key[0]) return GR_PHASE_NEXT;
    r->shared_op = gr_shared_cache_get(r->w->shared, r->cache_key, on_cache, r);
    return GR_PHASE_STOP; /* continues in on_cache */
}
