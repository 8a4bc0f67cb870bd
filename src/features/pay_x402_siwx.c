/* pay_x402_siwx.c — x402 credit sessions (sign-in-with-x, docs/X402.md
 * "Credit sessions"): the challenge every 402 carries, the admission of a
 * request signed in instead of paid (served from the payer's credit, no
 * chain call), and the signed view of a wallet's own credit. The protocol
 * (message, verification) is x402_siwx.c; this is the request-path glue. */
#include "pay_x402_internal.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a sign-in for r must match: this host (without the port; an IPv6
 * literal keeps its brackets), the resource's origin, one of the gateway's
 * chains, now. */
void pay_siwx_expect(gr_request *r, gr_pay_x402 *p, const char *uri, gr_x402_siwx_expect *e) {
    uint64_t *chains = gr_pool_calloc(r->pool, p->nnets * sizeof *chains);
    for (size_t i = 0; i < p->nnets; i++) chains[i] = p->nets[i].chain_id;
    const char *h = strstr(uri, "://");
    h = h ? h + 3 : uri;
    size_t hl = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#");
    if (hl > strlen(h)) hl = strlen(h);
    *e = (gr_x402_siwx_expect){.domain = gr_pool_strndup(r->pool, h, hl),
                               .uri = uri,
                               .chain_ids = chains,
                               .nchains = p->nnets,
                               .now_ms = (int64_t)gr_wall_ms(),
                               .max_age_ms = p->siwx_max_age_ms};
}

gr_status pay_siwx_challenge(gr_request *r, gr_pay_x402 *p, cJSON *ext) {
    gr_x402_siwx_expect e;
    pay_siwx_expect(r, p, pay_resource_url(r, p), &e);
    return gr_x402_siwx_challenge(ext, &e, "Sign in to spend your GateRouter x402 credit");
}

/* A signed sign-in instead of a payment: verified here (no chain call), then
 * its nonce is spent and the worst-case cost held from the payer's credit in
 * one store transaction (`reserved` continues, as for a payment); the
 * request ends by giving back what it did not use (pay_finish_paid: state
 * `session`). */
void pay_siwx_admit(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *hdr,
                    void (*reserved)(gr_request *r, x402_job *j)) {
    gr_x402_siwx_expect e;
    gr_x402_siwx_proof pr;
    x->version = 2;
    x->siwx = true;
    pay_siwx_expect(r, p, pay_resource_url(r, p), &e);
    gr_x402_siwx_err se = gr_x402_siwx_verify(hdr, &e, &pr);
    if (se != GR_SIWX_OK) {
        pay_reject(r, x, pay_build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, gr_x402_siwx_err_str(se));
        return;
    }
    gr_evm_address_lower(&pr.address, x->payer);
    x->has_payer = true;
    x->pay.chain_id = pr.chain_id;
    x->pay.auth.from = pr.address;
    for (size_t i = 0; i < p->nnets; i++)
        if (p->nets[i].chain_id == pr.chain_id) {
            x->net = i;
            break;
        }
    x->header_b64 = gr_pool_printf(r->pool, "%s%s", GR_X402_SIWX_JOB_PREFIX, hdr);
    snprintf(x->nonce_key, sizeof x->nonce_key, "siwx:%s", pr.nonce);
    x->valid_before = pr.expires_s;
    x402_job *j = pay_new_job(r, p, XJ_RESERVE, reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    j->take = x->max_cost_nusd; /* the worst case, held; the unused part comes back at the end */
    pay_set_intent(r, p, x, j, "0", "{}", 0, j->take);
    pay_submit_job(r, j);
}

/* GET /v1/x402/credit without ?address= and with sign-in-with-x on: the
 * wallet signs in (an auth-only 402: no accepts, the challenge) and sees its
 * own balance and history (`view` renders it). */
void pay_siwx_serve_credit(gr_request *r, gr_pay_x402 *p, const char *hdr, void (*view)(gr_request *r, x402_job *j)) {
    gr_x402_siwx_expect e;
    pay_siwx_expect(r, p, pay_resource_url(r, p), &e);
    if (!hdr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "x402Version", 2);
        cJSON_AddStringToObject(o, "error", "Sign in with your wallet (SIGN-IN-WITH-X) to see your credit");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "resource"), "url", e.uri);
        cJSON_AddArrayToObject(o, "accepts");
        cJSON *ext = cJSON_AddObjectToObject(o, "extensions");
        char *t = gr_x402_siwx_challenge(ext, &e, "Sign in to see your GateRouter x402 credit") == GR_OK
                      ? cJSON_PrintUnformatted(o)
                      : NULL;
        cJSON_Delete(o);
        if (!t) {
            gr_request_fail(r, 500, "api_error", "x402_render_failed", NULL, "could not render the sign-in challenge");
            return;
        }
        char *h = gr_evm_b64_encode((const uint8_t *)t, strlen(t), NULL);
        gr_request_add_header(r, "PAYMENT-REQUIRED", h);
        free(h);
        gr_request_add_header(r, "Cache-Control", "no-store");
        gr_request_reply_json(r, 402, t, strlen(t));
        cJSON_free(t);
        return;
    }
    gr_x402_siwx_proof pr;
    gr_x402_siwx_err se = gr_x402_siwx_verify(hdr, &e, &pr);
    if (se != GR_SIWX_OK) {
        gr_request_fail(r, 401, "invalid_request_error", gr_x402_siwx_err_str(se), GR_X402_SIWX_HEADER,
                        "The sign-in was refused (%s): sign a fresh challenge for this host and path.",
                        gr_x402_siwx_err_str(se));
        return;
    }
    x402_job *j = pay_new_job(r, p, XJ_CREDIT_VIEW, view);
    gr_evm_address_lower(&pr.address, j->payer);
    snprintf(j->key, sizeof j->key, "siwx:%s", pr.nonce);
    j->valid_before = pr.expires_s;
    pay_submit_job(r, j);
}
