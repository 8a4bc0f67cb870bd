/* pay_x402.c — x402 on the request path (see pay_x402.h): the phase
 * handlers, reply hooks and finish handlers the feature registers. The parts:
 * pay_x402_config.c (the `x402:` section into typed structures),
 * pay_x402_quote.c (the price quote and the 402 reply), pay_x402_admit.c
 * (payment admission: decode, local verification, credit, nonce replay
 * guard, token cap), pay_x402_jobs.c (its store calls off the loop),
 * pay_x402_preflight.c (the payer preflight), pay_x402_pay_id.c
 * (payment-identifier: idempotent retries), pay_x402_settle.c (the settlement
 * header at reply time and, at request end, the hand-off to the settlement
 * thread, x402_settle.c, with the ledger fields), pay_x402_serve.c (GET
 * /v1/x402/pricing, /credit, /payment, /.well-known/x402).
 *
 * Price quote: max cost = every estimated prompt token at the input price +
 * the output cap (max_tokens / max_completion_tokens, else x402.
 * default_max_tokens, clamped to the model's max output) at the output price
 * (+ per-request price), the worst case over the route's fallback candidates;
 * in token atomic units, rounded up (1 atomic USDC = 1000 nano-USD).
 *
 * Credit (docs/X402.md): a payer's credit (paid - actual cost of earlier
 * requests, recorded only once their payment SETTLED) lowers the amount that
 * payer must sign. The quote in a 402 subtracts it only when the request
 * names the payer in an `X-Payer: 0x…` header (a hint, never trusted: the
 * admission recomputes everything for the address that actually signed).
 * Every request needs a valid signed EIP-3009 authorization from the payer
 * to payTo (amount 0 when credit covers it all); its nonce is reserved before
 * serving, and the credit used is taken atomically, so credit can neither be
 * spent by someone else nor twice.
 *
 * `upto` (v2, Permit2; x402_upto.h): on networks configured with `permit2` and
 * `upto_proxy`, the v2 offer also lists scheme "upto" for the same maximum
 * (credit is not used: the payer authorises the full maximum and pays exactly
 * the metered cost). A PAYMENT-SIGNATURE whose accepted.scheme is "upto" is
 * verified locally (Permit2 witness signature, spender, witness.to,
 * facilitator, deadline, validAfter, maximum >= quote), its Permit2 nonce is
 * reserved in the same replay guard (key namespace "permit2:…"), generation is
 * capped at the quoted output, and at the end ceil(cost) atomic units —
 * clamped to the signed maximum — are settled (none at zero cost). */
#include "pay_x402_internal.h"
#include "pay_x402.h"



/* This module's context slot (pipeline.h): the request's x402_req. */
int pay_x402_ctx_slot = -1;

/* ---- registered handlers (pipeline.h) ---- */

static bool on_reply(gr_request *r, int status, const char *body, size_t len) {
    if (r->pay_x402 && !r->client_gone) pay_before_reply(r);
    x402_req *x = r->pay_x402 && px(r) ? XREQ(r) : NULL;
    if (x && x->pay_id_held && x->phase == XS_ADMITTED && status == 200 && body) { /* kept for the retries */
        x->pay_id_replied = true;
        x->pay_id_too_large = len > px(r)->payment_id_max_reply_bytes;
        x->pay_id_body = x->pay_id_too_large ? NULL : gr_pool_strndup(r->pool, body, len);
    }
    return false;
}

/* payment-identifier: the id this request took records its reply, or is freed. */
static void on_release(gr_request *r, gr_finish_info *f) {
    (void)f;
    x402_req *x = r->pay_x402 && px(r) ? XREQ(r) : NULL;
    if (x && x->pay_id_held) pay_id_finish(r, px(r), x);
}

/* settle_before_response: a non-streamed paid 200 waits for its transaction hash. */
static bool on_reply_hold(gr_request *r, int status, const char *body, size_t len) {
    return body && r->pay_x402 && !r->client_gone && pay_hold_reply(r, status, body, len);
}

/* Actual cost -> settlement and credit; the x402 columns of the ledger row
 * (only for a request that reached a model: f->row is NULL otherwise). */
static void on_ledger_fill(gr_request *r, gr_finish_info *f) {
    if (r->pay_x402 && f->row) pay_finish_paid(r, f->row);
}

/* AUTHENTICATE: with x402 on, a request carrying a payment header
 * (X-PAYMENT / PAYMENT-SIGNATURE), or no credential at all, is paid per
 * request and needs no account; any other goes on to the key check. */
static gr_phase_rc phase_authenticate(gr_request *r) {
    if (!px(r)) return GR_PHASE_NEXT;
    const char *k = gr_request_presented_key(r);
    if (!pay_in_header(r, "X-PAYMENT") && !pay_in_header(r, "PAYMENT-SIGNATURE") && k && *k) return GR_PHASE_NEXT;
    r->pay_x402 = true;
    r->key_name = "x402";
    return GR_PHASE_DONE;
}

/* ADMIT, first: the payment itself (store calls on the executor). */
static gr_phase_rc phase_admit(gr_request *r) {
    if (!r->pay_x402 || !px(r)) return GR_PHASE_NEXT;
    pay_admit(r);
    return GR_PHASE_STOP;
}

static void on_claim(void *ud, const gr_shared_verdict *v) {
    gr_request *r = ud;
    r->shared_op = NULL;
    if (r->finished || r->client_gone) return;
    if (v->status == 200) {
        gr_pipeline_continue(r, GR_PHASE_NEXT);
        return;
    }
    if (v->status == 409) {
        pay_reject_replay(r);
        return;
    }
    /* Payments fail closed: without the shared guard a replay could be served twice. */
    gr_request_fail(r, 503, "api_error", "shared_store_unavailable", NULL,
                    "The payment replay guard (Redis) is unavailable (%s); nothing was served. Retry with a new authorization.", v->reason);
}

/* ADMIT, second: with several instances (Redis), the payment's nonce is
 * spent once across all of them. */
static gr_phase_rc phase_claim(gr_request *r) {
    const char *token = NULL;
    uint32_t ttl = 0;
    if (!r->pay_x402 || !r->w->shared || !pay_claim_info(r, &token, &ttl)) return GR_PHASE_NEXT;
    r->shared_op = gr_shared_claim(r->w->shared, token, ttl, on_claim, r);
    return GR_PHASE_STOP; /* continues in on_claim */
}

void gr_pay_x402_register(void) {
    pay_x402_ctx_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, phase_authenticate);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_admit);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_claim);
    gr_pipeline_on_reply(GR_REPLY_HOLD, on_reply_hold);
    gr_pipeline_on_reply(GR_REPLY_PAYMENT, on_reply);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_FILL, on_ledger_fill);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, on_release);
}
