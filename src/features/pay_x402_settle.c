/* pay_x402_settle.c — settlement on the request path: the reply held until
 * its transaction hash is known (settle_before_response), the settlement
 * header (with its receipt) at reply time, the post-response bookkeeping,
 * and at request end the settlement job closed with the actual cost and the
 * ledger's x402 columns. */
#include "pay_x402_internal.h"

#include "log.h"
#include "x402_receipt.h"

#include <stdlib.h>

/* ---- settle_before_response ----
 * A non-streamed paid reply is held until its transaction hash is known:
 * the job is closed and queued first in the settler (the same close as at
 * the request's end, with a waiter), and a pool thread waits for the hash
 * (self: signed and persisted, before the broadcast; facilitator: /settle
 * answered) at most settle_before_response_timeout_ms. The reply then goes
 * out with the hash in its settlement header (or without it, pending). */

static void settle_wait_run(void *conn, void *arg) {
    (void)conn;
    x402_job *j = arg;
    uint64_t deadline = gr_wall_ms() + j->p->settle_before_response_ms;
    (void)gr_x402_settle_waiter_wait(j->waiter, deadline, j->hash, &j->settled);
}

void pay_held_reply(gr_request *r, x402_job *j, bool answered) {
    x402_req *x = XREQ(r);
    if (answered && j->hash[0]) {
        snprintf(x->tx_hash, sizeof x->tx_hash, "%s", j->hash);
        x->tx_settled = j->settled;
    }
    gr_request_reply_json(r, j->held_status, j->held_body, j->held_len); /* x->held: not held again */
}

static void held_reply_next(gr_request *r, x402_job *j) { pay_held_reply(r, j, true); }

/* settle_before_response: takes over a non-streamed paid 200 reply (true),
 * sends it later with its transaction hash in the settlement header. */
bool pay_hold_reply(gr_request *r, int status, const char *json, size_t len) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x || !p->settle_before_response || !p->settler || x->held || x->phase != XS_ADMITTED || status != 200 ||
        r->stream || gr_u256_eq(&x->value, &(gr_u256){{0}}))
        return false;
    x->held = true;
    gr_x402_settle_waiter *w = gr_x402_settle_waiter_new(); /* one reference for the close, one for the wait */
    x402_job *j = pay_new_job(r, p, XJ_SETTLE_WAIT, held_reply_next);
    j->waiter = w;
    j->held_status = status;
    j->held_body = gr_pool_strndup(r->pool, json, len);
    j->held_len = len;
    /* close the job now, as at the request's end (the ledger fields are filled again then) */
    x->waiter_for_close = w;
    gr_ledger_row *scratch = gr_pool_calloc(r->pool, sizeof *scratch);
    r->status = status;
    pay_finish_paid(r, scratch);
    if (!x->closed_early) { /* nothing to settle after all */
        gr_x402_settle_waiter_finish(x->waiter_for_close, NULL, false);
        x->waiter_for_close = NULL;
        pay_x402_job_free(j);
        return false;
    }
    gr_request_job job = {.run = settle_wait_run, .free_arg = pay_x402_job_free, .resume = pay_x402_job_resume, .arg = j,
                          .exec = gr_x402_preflight_exec(p->preflight), .timeout_ms = p->settle_before_response_ms + 200};
    pay_job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) return false; /* j was freed: reply now, without the hash */
    return true; /* continues in x402_job_resume */
}

static void x402_post_run(void *conn, void *arg) {
    x402_post *o = arg;
    gr_x402_store *st = pay_job_store(conn, o->p);
    if (o->close) {
        bool closed = false;
        if (gr_x402_store_settlement_close(st, &o->settle, o->credit_delta, o->has_upto ? &o->upto : NULL,
                                           &closed) != GR_OK) {
            GR_ERROR("x402: cannot record the end of %s (%s): its job stays open and settles as admitted once "
                     "this instance restarts", o->settle.request_id, o->what);
        } else if (!closed) {
            GR_WARN("x402: the job of %s was taken over by another instance before its end was recorded",
                    o->settle.request_id);
        } else if (o->has_settle && !strcmp(o->settle.state, "pending")) {
            o->has_settle = false;
            if (o->settle.waiter) (void)gr_x402_settler_submit_first(o->p->settler, &o->settle); /* a reply waits */
            else (void)gr_x402_settler_submit(o->p->settler, &o->settle); /* takes the strings */
        }
        return;
    }
    if (o->credit_delta && gr_x402_store_credit_add(st, o->payer, o->credit_delta) != GR_OK)
        GR_ERROR("x402: credit refund for %s failed (%s)", o->payer, o->what);
    if (o->has_upto && gr_x402_store_upto_put(st, &o->upto) != GR_OK)
        GR_ERROR("x402: cannot record the upto payment of %s", o->upto.request_id);
    if (o->has_settle) {
        o->has_settle = false;
        (void)gr_x402_settler_submit(o->p->settler, &o->settle); /* takes the strings */
    }
}

static void x402_post_free(void *arg) {
    x402_post *o = arg;
    if (o->has_settle) {
        gr_x402_settle_waiter_finish(o->settle.waiter, NULL, false); /* not queued: nobody waits for it */
        gr_x402_settle_rec_dispose(&o->settle);
    }
    free(o);
}

x402_post *pay_new_post(gr_pay_x402 *p, const char *payer, const char *what) {
    x402_post *o = gr_xcalloc(1, sizeof *o);
    o->p = p;
    snprintf(o->payer, sizeof o->payer, "%s", payer);
    snprintf(o->what, sizeof o->what, "%s", what);
    return o;
}

void pay_post(gr_request *r, x402_post *o) { pay_post_to(r->w->exec, x402_post_run, x402_post_free, o); }

static void fill_job(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const char *amount,
                     char *req_json, int64_t paid, int64_t credit_used, int64_t cost, const char *state,
                     gr_x402_settle_rec *rec);

/* The settlement job of an admitted payment, committed with its nonce
 * (state `open`, owned by this instance): what settles if the request's end
 * is never recorded because this instance died — exact: the signed value
 * (cost = the maximum, so no credit is lost or granted twice), upto: the
 * authorised maximum. The request's end closes it with the real figures. */
void pay_set_intent(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *j, const char *amount,
                    const char *req_json, int64_t paid_nusd, int64_t credit_used_nusd) {
    if (!p->settler) return; /* settle: none — nothing to settle */
    fill_job(r, x, &p->nets[x->net], amount, gr_xstrdup(req_json ? req_json : "{}"), paid_nusd, credit_used_nusd,
             x->max_cost_nusd, "open", &j->intent);
    j->has_intent = true;
}

/* offer-receipt: the settlement header (base64 JSON, malloc'd) with a
 * signed receipt added; b64 itself when there is no receipt key or it
 * cannot be added. */
static char *with_receipt(gr_request *r, gr_pay_x402 *p, x402_req *x, uint64_t chain_id, char *b64) {
    if (!p->has_receipt_key || !b64) return b64;
    uint8_t *raw = NULL;
    size_t n = 0;
    if (gr_evm_b64_decode(gr_str_c(b64), GR_X402_HEADER_MAX, &raw, &n) != GR_OK) return b64;
    cJSON *s = cJSON_ParseWithLength((const char *)raw, n);
    free(raw);
    gr_x402_receipt rc = {.chain_id = chain_id, .resource_url = pay_resource_url(r, p), .payer = x->payer,
                          .issued_at = (uint64_t)(gr_wall_ms() / 1000), .transaction = x->tx_hash};
    char *t = cJSON_IsObject(s) && gr_x402_receipt_add(s, &rc, p->receipt_key) == GR_OK ? cJSON_PrintUnformatted(s)
                                                                                      : NULL;
    cJSON_Delete(s);
    if (!t) return b64;
    char *out = gr_evm_b64_encode((const uint8_t *)t, strlen(t), NULL);
    cJSON_free(t);
    free(b64);
    return out;
}

void pay_before_reply(gr_request *r) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x || x->phase != XS_ADMITTED || r->status >= 400) return;
    if (x->upto) {
        /* A non-streamed reply goes out once the cost is known: the header
         * carries the amount that will settle. A stream's headers precede the
         * generation: the amount is pending (final: GET /v1/x402/payments?id=). */
        const gr_x402_network_conf *n = &p->nets[x->net];
        gr_x402_settlement su = {.success = true, .transaction = x->tx_hash, .chain_id = x->up.chain_id,
                                 .has_payer = true, .payer = x->up.from, .has_amount = !r->stream};
        if (su.has_amount) (void)gr_x402_upto_settle_amount(r->cost_nusd, n->decimals, &x->value, &su.amount);
        char *hu = NULL;
        if (gr_x402_render_settlement(2, &su, &hu) == GR_OK) {
            hu = with_receipt(r, p, x, x->up.chain_id, hu);
            gr_request_add_header(r, "PAYMENT-RESPONSE", hu);
            if (x->pay_id_held) x->pay_id_settlement = gr_pool_strdup(r->pool, hu);
            free(hu);
        }
        char mx[GR_U256_DEC_MAX + 1];
        gr_u256_to_dec(&x->value, mx);
        bool nothing = su.has_amount && gr_u256_eq(&su.amount, &(gr_u256){{0}});
        gr_request_add_header(r, "x-gaterouter-x402-scheme", "upto");
        gr_request_add_header(r, "x-gaterouter-x402-max-amount", mx);
        gr_request_add_header(r, "x-gaterouter-x402-settlement",
                              p->mode == GR_X402_SETTLE_NONE ? "none"
                              : nothing                      ? "zero"
                              : x->tx_settled                ? "settled"
                              : x->tx_hash[0]                ? "sent"
                                                             : "pending");
        gr_request_add_header(r, "x-gaterouter-x402-payer", x->payer);
        return;
    }
    /* Settlement happens after the response: the header says the payment was
     * verified and accepted; the tx hash is not known yet ("") — unless the
     * reply waited for it (settle_before_response). */
    gr_x402_settlement s = {.success = true, .transaction = x->tx_hash, .chain_id = x->pay.chain_id, .has_payer = true,
                            .payer = x->pay.auth.from, .has_amount = true, .amount = x->value};
    char *sh = NULL;
    int v = x->version;
    if (gr_x402_render_settlement(v, &s, &sh) != GR_OK) sh = NULL;
    if (!sh && v == 1 && gr_x402_render_settlement(2, &s, &sh) != GR_OK) sh = NULL; /* chain without a v1 name */
    if (sh) {
        sh = with_receipt(r, p, x, x->pay.chain_id, sh);
        gr_request_add_header(r, v == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE", sh);
        if (x->pay_id_held) x->pay_id_settlement = gr_pool_strdup(r->pool, sh);
        free(sh);
    }
    bool zero = gr_u256_cmp(&x->value, &(gr_u256){{0}}) == 0;
    gr_request_add_header(r, "x-gaterouter-x402-settlement",
                          p->mode == GR_X402_SETTLE_NONE ? "none"
                          : x->siwx                      ? "session"
                          : zero                         ? "credit"
                          : x->tx_settled                ? "settled"
                          : x->tx_hash[0]                ? "sent"
                                                         : "pending");
    gr_request_add_header(r, "x-gaterouter-x402-payer", x->payer);
}

/* The settle-time requirement of an upto payment (amount = what settles), as
 * JSON (malloc'd; "{}" when it cannot be rendered). */
char *pay_upto_requirement(const gr_x402_upto_offer *offer, const gr_u256 *amount) {
    char *req_json = NULL;
    cJSON *arr = cJSON_CreateArray();
    if (arr && gr_x402_upto_render_requirement(offer, amount, arr) == GR_OK) {
        char *t = cJSON_PrintUnformatted(cJSON_GetArrayItem(arr, 0));
        if (t) {
            req_json = gr_xstrdup(t);
            cJSON_free(t);
        }
    }
    cJSON_Delete(arr);
    return req_json ? req_json : gr_xstrdup("{}");
}

void pay_fill_upto_rec(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const gr_u256 *settled,
                       int64_t cost, const char *state, gr_x402_upto_rec *u) {
    memset(u, 0, sizeof *u);
    gr_store_strlcpy(u->request_id, r->id, sizeof u->request_id);
    snprintf(u->payer, sizeof u->payer, "%s", x->payer);
    u->chain_id = n->chain_id;
    gr_evm_address_lower(&n->asset, u->asset);
    gr_u256_to_dec(&x->value, u->max_amount);
    gr_u256_to_dec(settled, u->settled_amount);
    u->cost_nusd = cost;
    snprintf(u->nonce_key, sizeof u->nonce_key, "%s", x->nonce_key);
    snprintf(u->state, sizeof u->state, "%s", state);
}

/* The settlement job of this request with its final figures (the heap
 * strings are the post's until the settler takes them). */
static void fill_job(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const char *amount,
                     char *req_json, int64_t paid, int64_t credit_used, int64_t cost, const char *state,
                     gr_x402_settle_rec *rec) {
    memset(rec, 0, sizeof *rec);
    gr_store_strlcpy(rec->request_id, r->id, sizeof rec->request_id);
    snprintf(rec->payer, sizeof rec->payer, "%s", x->payer);
    rec->chain_id = n->chain_id;
    gr_evm_address_lower(&n->asset, rec->asset);
    snprintf(rec->amount, sizeof rec->amount, "%s", amount);
    rec->version = x->version;
    rec->header_b64 = gr_xstrdup(x->header_b64);
    rec->requirement_json = req_json;
    rec->paid_nusd = paid;
    rec->credit_used_nusd = credit_used;
    rec->cost_nusd = cost;
    snprintf(rec->state, sizeof rec->state, "%s", state);
    rec->created_ms = (int64_t)gr_wall_ms();
}

/* Closes the request's admitted job (x402_post_run): state, credit back,
 * upto record in one transaction; a `pending` job is then queued. */
void pay_close_job(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *amount, char *req_json, int64_t paid,
                   int64_t cost, const char *state, int64_t credit_delta, const gr_x402_upto_rec *u) {
    if (x->closed_early) { /* closed before the reply (settle_before_response) */
        free(req_json);
        return;
    }
    x->closed_early = x->waiter_for_close != NULL;
    x402_post *o = pay_new_post(p, x->payer, state);
    fill_job(r, x, &p->nets[x->net], amount, req_json, paid, x->credit_used_nusd, cost, state, &o->settle);
    o->has_settle = true;
    o->close = true;
    o->settle.waiter = x->waiter_for_close; /* its settler reference */
    x->waiter_for_close = NULL;
    o->credit_delta = credit_delta;
    if (u) {
        o->upto = *u;
        o->has_upto = true;
    }
    pay_post(r, o);
}

/* End of an upto request: settle exactly the metered cost (rounded up to an
 * atomic unit, never above the signed maximum), nothing at zero cost; record
 * maximum vs settled amount. */
static void finish_upto(gr_request *r, gr_pay_x402 *p, x402_req *x, gr_ledger_row *row) {
    const gr_x402_network_conf *n = &p->nets[x->net];
    char net[GR_X402_NETWORK_STR_MAX];
    gr_x402_network_caip2(n->chain_id, net);
    GR_LEDGER_SET(row->x402_network, net);
    int64_t cost = r->cost_nusd;
    bool served = r->status < 400 || cost > 0;
    gr_u256 settled = {{0}};
    if (served && gr_x402_upto_settle_amount(cost, n->decimals, &x->value, &settled))
        GR_WARN("x402: %s: metered cost %lld nusd exceeds the authorised maximum; settling the maximum", r->id,
                (long long)cost);
    bool zero = gr_u256_eq(&settled, &(gr_u256){{0}});
    const char *state = !served ? "skipped" : p->mode == GR_X402_SETTLE_NONE ? "verified" : zero ? "zero" : "pending";
    gr_x402_upto_rec u;
    pay_fill_upto_rec(r, x, n, &settled, cost, state, &u);
    GR_LEDGER_SET(row->x402_amount_atomic, u.settled_amount);
    GR_LEDGER_SET(row->x402_settlement, state);
    row->x402_credit_delta_nusd = 0;
    if (!p->settler) { /* settle: none — only the record */
        x402_post *o = pay_new_post(p, x->payer, "upto");
        o->upto = u;
        o->has_upto = true;
        pay_post(r, o);
        return;
    }
    /* settle-time requirements: amount = what to settle (facilitator /settle) */
    pay_close_job(r, p, x, u.settled_amount, pay_upto_requirement(&x->up_offer, &settled), pay_atomic_to_nusd(&settled, n), cost,
                  state, 0, &u);
}

void pay_finish_paid(gr_request *r, gr_ledger_row *row) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x) return;
    if (x->has_payer) GR_LEDGER_SET(row->payer, x->payer);
    if (x->phase == XS_QUOTED) return;
    if (x->phase == XS_REJECTED) {
        GR_LEDGER_SET(row->x402_settlement, "rejected");
        return;
    }
    if (x->phase != XS_ADMITTED) return;
    if (x->upto) {
        finish_upto(r, p, x, row);
        return;
    }
    const gr_x402_network_conf *n = &p->nets[x->net];
    char amount[GR_U256_DEC_MAX + 1], net[GR_X402_NETWORK_STR_MAX];
    gr_u256_to_dec(&x->value, amount);
    gr_x402_network_caip2(n->chain_id, net);
    GR_LEDGER_SET(row->x402_amount_atomic, amount);
    GR_LEDGER_SET(row->x402_network, net);
    int64_t cost = r->cost_nusd;
    bool served = r->status < 400 || cost > 0;
    bool zero = x->paid_nusd == 0;
    const char *req = x->requirement_json ? x->requirement_json : "{}";
    if (!served) { /* nothing delivered: nothing settled, credit back */
        if (p->settler) {
            pay_close_job(r, p, x, amount, gr_xstrdup(req), x->paid_nusd, cost, "skipped", x->credit_used_nusd, NULL);
        } else if (x->credit_used_nusd) {
            x402_post *o = pay_new_post(p, x->payer, "not served");
            o->credit_delta = x->credit_used_nusd;
            pay_post(r, o);
        }
        GR_LEDGER_SET(row->x402_settlement, "skipped");
        return;
    }
    if (p->mode == GR_X402_SETTLE_NONE) { /* verify-only: no money moves, no credit is granted */
        GR_LEDGER_SET(row->x402_settlement, "verified");
        return;
    }
    if (zero) { /* fully covered by credit: no transfer; unused credit back */
        const char *state = x->siwx ? "session" : "credit";
        pay_close_job(r, p, x, amount, gr_xstrdup(req), 0, cost, state, x->credit_used_nusd - cost, NULL);
        row->x402_credit_delta_nusd = -(cost < x->credit_used_nusd ? cost : x->credit_used_nusd);
        GR_LEDGER_SET(row->x402_settlement, state);
        return;
    }
    row->x402_credit_delta_nusd = x->paid_nusd - cost;
    GR_LEDGER_SET(row->x402_settlement, "pending");
    pay_close_job(r, p, x, amount, gr_xstrdup(req), x->paid_nusd, cost, "pending", 0, NULL);
}
