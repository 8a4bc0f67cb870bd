/* pay_x402_admit.c — payment admission (the ADMIT phase's work): the 402
 * quote when unpaid, exact (EIP-3009, with credit) and upto (Permit2)
 * payments verified locally and their nonces reserved, and a replay another
 * instance already spent undone. */
#include "pay_x402_internal.h"

#include "metrics.h"
#include "trace.h"

#include <stdlib.h>

/* ---- upto admission ---- */

/* A PAYMENT-SIGNATURE whose accepted.scheme is "upto": verify the Permit2
 * witness authorisation locally, reserve its nonce (store job), cap
 * generation. No credit is taken or granted. */
static void upto_reserved(gr_request *r, x402_job *j);

static void admit_upto(gr_request *r, gr_pay_x402 *p, x402_req *x, gr_status urc, gr_x402_upto_err uerr) {
    int64_t max_cost = x->max_cost_nusd;
    const char *desc = x->desc;
    x->version = 2;
    x->upto = true;
    if (urc != GR_OK) {
        pay_reject(r, x, pay_build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_upto_err_str(uerr));
        return;
    }
    x->pay.version = 2;
    x->pay.chain_id = x->up.chain_id;
    x->pay.auth.from = x->up.from;
    gr_evm_address_lower(&x->up.from, x->payer);
    x->has_payer = true;
    size_t nu = 0;
    gr_x402_upto_offer *offers = pay_build_upto_offers(r, p, max_cost, &nu);
    if (nu == 0) {
        pay_reject(r, x, pay_build_reqs(r, p, max_cost, desc), p->nnets, "unsupported_scheme");
        return;
    }
    gr_x402_upto_result res;
    int vspan = gr_trace_span_begin(r, "x402.verify");
    gr_status vrc = gr_x402_upto_verify(offers, nu, &x->up, (uint64_t)(gr_wall_ms() / 1000), &res);
    gr_trace_span_end(r, vspan, vrc != GR_OK ? gr_x402_upto_err_str(res.err) : NULL);
    if (vrc != GR_OK) {
        pay_reject(r, x, pay_build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_upto_err_str(res.err));
        return;
    }
    x->up_offer = offers[res.offer_index];
    const gr_x402_network_conf *n = pay_net_of(p, x->up_offer.chain_id, &x->up_offer.asset);
    x->net = (size_t)(n - p->nets);
    x->value = res.max_amount; /* the authorised maximum */
    /* Replay guard: Permit2 nonce (per owner), reserved once before serving. */
    gr_x402_upto_nonce_key(&x->up, &x->up_offer.permit2, x->nonce_key);
    x->valid_before = res.deadline > INT64_MAX ? INT64_MAX : (int64_t)res.deadline;
    x402_job *j = pay_new_job(r, p, XJ_RESERVE, upto_reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    if (p->settler) { /* until the request's end says otherwise: the maximum */
        char *req_json = pay_upto_requirement(&x->up_offer, &x->value);
        gr_x402_upto_rec *u = &j->upto;
        pay_fill_upto_rec(r, x, n, &x->value, x->max_cost_nusd, "pending", u);
        pay_set_intent(r, p, x, j, u->settled_amount, req_json, pay_atomic_to_nusd(&x->value, n), 0);
        free(req_json);
        j->has_upto = true;
    }
    gr_x402_spend spend;
    if (!gr_x402_spend_from_header(x->header_b64, &n->permit2, NULL, &spend)) {
        pay_reserve_after_pay_id(r, p, x, j, NULL);
        return;
    }
    pay_reserve_after_pay_id(r, p, x, j, &spend);
}

static void upto_reserved(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (j->rc == GR_ERR_INVALID) {
        pay_reject(r, x, pay_build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, gr_x402_upto_err_str(GR_UPTO_NONCE_USED));
        return;
    }
    if (j->rc != GR_OK) {
        pay_store_unavailable(r, "could not record the payment");
        return;
    }
    /* Generation stays within the quote, and the quote within the maximum. */
    if (x->max_out > 0) r->cap_max_tokens = x->max_out;
    r->max_cost_nusd = x->max_cost_nusd;
    x->phase = XS_ADMITTED;
    gr_metrics_add(GR_M_X402, "event=\"verified\"", 1);
    gr_pipeline_continue(r, GR_PHASE_NEXT); /* admitted: the rest of the pipeline */
}

/* ---- hooks ---- */

/* 402 with the quote, net of the hinted payer's credit (j: that lookup, or NULL). */
void pay_quote_reply(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    int64_t quote = x->max_cost_nusd;
    if (j && j->rc == GR_OK && j->credit > 0) quote = j->credit >= quote ? 0 : quote - j->credit;
    x->phase = XS_QUOTED;
    gr_metrics_add(GR_M_X402, "event=\"required\"", 1);
    gr_x402_requirements *reqs = pay_build_reqs(r, p, quote, x->desc);
    pay_reply_402(r, x, reqs, p->nnets, 1, NULL);
}

static void exact_with_credit(gr_request *r, x402_job *j);
static void exact_reserved(gr_request *r, x402_job *j);

/* pay_svm.c's answers: refused (402 with the offer), or paid and confirmed. */
static void svm_reject(gr_request *r, const char *code) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    pay_reject(r, x, pay_build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, code);
}

static void svm_admitted(gr_request *r) {
    XREQ(r)->phase = XS_SVM_PAID;
    gr_metrics_add(GR_M_X402, "event=\"verified\"", 1);
    gr_pipeline_continue(r, GR_PHASE_NEXT);
}

/* Answers (402 quote or rejection, 503 when the store is unavailable or
 * slower than store.op_timeout_ms) and finishes, or continues the pipeline
 * once the payment is admitted — usually later, from this loop, after its
 * store calls ran on the store executor. */
void pay_admit(gr_request *r) {
    gr_pay_x402 *p = px(r);
    x402_req *x = gr_pool_calloc(r->pool, sizeof *x);
    r->ctx[pay_x402_ctx_slot] = x;
    x->version = 1;
    int64_t max_out = pay_request_max_out(r, p);
    int64_t max_cost = pay_request_max_cost(r, max_out);
    x->max_out = max_out;
    x->max_cost_nusd = max_cost;
    if (max_cost <= 0) {
        gr_request_fail(r, 402, "invalid_request_error", "x402_model_not_priced", "model",
                        "The model `%s` has no price, so it cannot be paid for with x402; use an API key.",
                        r->model ? r->model->name : "");
        return;
    }
    const char *desc = pay_describe(r, max_out, max_cost);
    x->desc = desc;
    const char *h1 = pay_in_header(r, "X-PAYMENT"), *h2 = pay_in_header(r, "PAYMENT-SIGNATURE");
    const char *hdr = h2 ? h2 : h1;
    const char *sx = p->siwx && !hdr ? pay_in_header(r, GR_X402_SIWX_HEADER) : NULL;
    if (sx) {
        pay_siwx_admit(r, p, x, sx, exact_reserved);
        return;
    }
    if (!hdr) { /* quote; with a payer hint, net of that payer's credit */
        const char *hint = pay_in_header(r, PAYER_HINT_HEADER);
        gr_evm_address ha;
        if (hint && gr_evm_address_parse(gr_str_c(hint), false, &ha) == GR_OK) {
            x402_job *j = pay_new_job(r, p, XJ_CREDIT_GET, pay_quote_reply);
            gr_evm_address_lower(&ha, j->payer);
            pay_submit_job(r, j);
            return;
        }
        pay_quote_reply(r, NULL);
        return;
    }
    x->version = h2 ? 2 : 1; /* until the payload says otherwise */
    x->header_b64 = gr_pool_strdup(r->pool, hdr);
    if (p->svm && gr_pay_svm_claims(hdr)) { /* Solana: settled before serving (pay_svm.c) */
        gr_pay_svm_admission a = {.version = x->version, .max_cost_nusd = max_cost, .max_out = max_out,
                                  .store = p->store, .reject = svm_reject, .admitted = svm_admitted};
        gr_pay_svm_admit(r, p->svm, &a, hdr);
        return;
    }
    if (h2) { /* v2 may be upto */
        gr_x402_upto_err uerr = GR_UPTO_OK;
        gr_status urc = gr_x402_upto_decode(gr_str_c(hdr), &x->up, &uerr);
        if (urc != GR_ERR_NOT_FOUND) {
            admit_upto(r, p, x, urc, uerr);
            return;
        }
    }
    gr_x402_err perr = GR_X402_OK;
    if (gr_x402_payment_decode(gr_str_c(hdr), &x->pay, &perr) != GR_OK) {
        gr_x402_requirements *reqs = pay_build_reqs(r, p, max_cost, desc);
        pay_reject(r, x, reqs, p->nnets, gr_x402_err_str(perr ? perr : GR_X402_INVALID_PAYLOAD, x->version));
        return;
    }
    x->version = x->pay.version;
    gr_evm_address_lower(&x->pay.auth.from, x->payer);
    x->has_payer = true;
    /* What this payer must pay: the max cost net of the payer's credit. The
     * claimed `from` is only trusted once the signature verifies. */
    x402_job *j = pay_new_job(r, p, XJ_CREDIT_GET, exact_with_credit);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    pay_submit_job(r, j);
}

/* The payer's credit is known: verify, then reserve the nonce (and take the
 * credit the payment does not cover) in one store job. */
static void exact_with_credit(gr_request *r, x402_job *cj) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    int64_t max_cost = x->max_cost_nusd;
    const char *desc = x->desc;
    int64_t credit = cj->rc == GR_OK ? cj->credit : 0;
    int64_t need_nusd = credit >= max_cost ? 0 : max_cost - credit;
    gr_x402_requirements *reqs = pay_build_reqs(r, p, need_nusd, desc);
    if (x->pay.has_accepted) /* v2 pays exactly what it accepted: fine if it covers the need */
        for (size_t i = 0; i < p->nnets; i++)
            if (reqs[i].chain_id == x->pay.accepted.chain_id && gr_evm_address_eq(&reqs[i].asset, &x->pay.accepted.asset) &&
                gr_u256_cmp(&x->pay.accepted.amount, &reqs[i].amount) > 0)
                reqs[i].amount = x->pay.accepted.amount;
    gr_x402_result res;
    int vspan = gr_trace_span_begin(r, "x402.verify");
    gr_status vrc = gr_x402_verify(reqs, p->nnets, &x->pay, (uint64_t)(gr_wall_ms() / 1000), &res);
    gr_trace_span_end(r, vspan, vrc != GR_OK ? gr_x402_err_str(res.err, x->version) : NULL);
    if (vrc != GR_OK) {
        pay_reject(r, x, pay_build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_err_str(res.err, x->version));
        return;
    }
    x->net = res.req_index;
    x->value = res.amount;
    const gr_x402_network_conf *n = &p->nets[x->net];
    x->paid_nusd = pay_atomic_to_nusd(&res.amount, n);
    /* Replay guard: the authorization is spent here, once, before serving. */
    char asset[GR_EVM_ADDR_STR_LEN + 1], nonce[67];
    gr_evm_address_lower(&n->asset, asset);
    gr_evm_hex_encode(res.nonce, 32, nonce);
    snprintf(x->nonce_key, sizeof x->nonce_key, "%llu:%s:%s:%s", (unsigned long long)n->chain_id, asset, x->payer,
             nonce);
    x->valid_before = res.valid_before > INT64_MAX ? INT64_MAX : (int64_t)res.valid_before;
    /* Keep the matched requirement for a facilitator's /settle. */
    char *req_json = NULL;
    gr_x402_requirements m = reqs[x->net];
    m.amount = res.amount;
    if (x->version == 1 && !gr_x402_network_v1_name(m.chain_id)) m.chain_id = n->chain_id;
    if (gr_x402_render_payment_required(x->version, &m, 1, NULL, &req_json) == GR_OK) {
        cJSON *jr = cJSON_Parse(req_json);
        cJSON *acc = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(jr, "accepts"), 0);
        char *t = acc ? cJSON_PrintUnformatted(acc) : NULL;
        if (t) {
            x->requirement_json = gr_pool_strdup(r->pool, t);
            cJSON_free(t);
        }
        cJSON_Delete(jr);
        free(req_json);
    }
    x402_job *j = pay_new_job(r, p, XJ_RESERVE, exact_reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    j->take = x->paid_nusd < max_cost ? max_cost - x->paid_nusd : 0; /* the rest comes out of credit, atomically */
    char amount[GR_U256_DEC_MAX + 1];
    gr_u256_to_dec(&x->value, amount);
    pay_set_intent(r, p, x, j, amount, x->requirement_json, x->paid_nusd, j->take);
    gr_x402_spend spend;
    bool zero = gr_u256_eq(&x->value, &(gr_u256){{0}}); /* credit pays it all: nothing moves on chain */
    if (zero || !gr_x402_spend_from_header(x->header_b64, NULL, NULL, &spend)) {
        pay_reserve_after_pay_id(r, p, x, j, NULL);
        return;
    }
    spend.token = n->asset;
    pay_reserve_after_pay_id(r, p, x, j, &spend);
}

static void exact_reserved(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    int64_t max_cost = x->max_cost_nusd;
    if (j->rc == GR_ERR_INVALID) {
        pay_reject(r, x, pay_build_reqs(r, p, max_cost, x->desc), p->nnets,
                   x->siwx ? "siwx_nonce_used" : x->version == 2 ? "invalid_exact_evm_nonce_already_used" : "duplicate_settlement");
        return;
    }
    if (j->rc != GR_OK) {
        pay_store_unavailable(r, "could not record the payment");
        return;
    }
    if (j->take > 0) {
        if (j->take_rc != GR_OK) {
            pay_reject(r, x, pay_build_reqs(r, p, max_cost, x->desc), p->nnets,
                       x->siwx              ? "siwx_insufficient_credit"
                       : x->version == 2    ? "invalid_exact_evm_insufficient_balance"
                                            : "insufficient_funds");
            return;
        }
        x->credit_used_nusd = j->take;
    }
    if (x->max_out > 0) r->cap_max_tokens = x->max_out;
    r->max_cost_nusd = max_cost;
    x->phase = XS_ADMITTED;
    gr_metrics_add(GR_M_X402, x->siwx ? "event=\"session\"" : "event=\"verified\"", 1);
    gr_pipeline_continue(r, GR_PHASE_NEXT); /* admitted: the rest of the pipeline */
}

/* After a successful admit: the one-time token to claim cluster-wide (Redis)
 * and how long the claim must live. false when there is nothing to claim. */
bool pay_claim_info(gr_request *r, const char **token, uint32_t *ttl_s) {
    x402_req *x = XREQ(r);
    if (!px(r) || !x || x->phase != XS_ADMITTED || !x->nonce_key[0]) return false;
    int64_t ttl = x->valid_before - (int64_t)(gr_wall_ms() / 1000) + 300; /* outlive validBefore */
    *token = x->nonce_key;
    *ttl_s = (uint32_t)(ttl < 60 ? 60 : ttl > 2592000 ? 2592000 : ttl);
    return true;
}

/* Another instance already spent this authorization: undo and answer 402. */
void pay_reject_replay(gr_request *r) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x) return;
    if (p->settler) { /* its admitted job ends skipped, credit back, at once */
        char amount[GR_U256_DEC_MAX + 1];
        gr_u256_to_dec(&x->value, amount);
        gr_x402_upto_rec u;
        if (x->upto) pay_fill_upto_rec(r, x, &p->nets[x->net], &(gr_u256){{0}}, 0, "skipped", &u);
        pay_close_job(r, p, x, x->upto ? "0" : amount, gr_xstrdup(x->requirement_json ? x->requirement_json : "{}"),
                      x->upto ? 0 : x->paid_nusd, 0, "skipped", x->credit_used_nusd, x->upto ? &u : NULL);
    } else if (x->credit_used_nusd) {
        x402_post *o = pay_new_post(p, x->payer, "replay refused");
        o->credit_delta = x->credit_used_nusd;
        pay_post(r, o);
    }
    x->credit_used_nusd = 0;
    pay_reject(r, x, pay_build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets,
               x->upto ? gr_x402_upto_err_str(GR_UPTO_NONCE_USED)
               : x->version == 2 ? "invalid_exact_evm_nonce_already_used" : "duplicate_settlement");
}
