/* pay_x402_pay_id.c — the payment-identifier extension: idempotent retries
 * of a paid request (docs/X402.md). */
#include "pay_x402_internal.h"

#include "http_server.h"
#include "log.h"
#include "metrics.h"

#include <stdlib.h>

/* ---- payment-identifier: idempotent retries (docs/X402.md) ----
 * A v2 payment may carry the extension's `id`. Once the payment verifies
 * (the payer is known), one store job takes the id for this request or finds
 * its row: the same payer and request (method, path, body) replayed after a
 * success gets the stored reply — no reservation, no upstream call, no
 * charge; a different request or payer gets 409; a request still running
 * with that id gets 409 (the client retries later). The request that took
 * the id records its 200 reply at its end, or frees the id when it did not
 * succeed. Streams are not idempotent: a stream carrying an id gets 400. */

/* The id in a PaymentPayload's extensions (NULL: none). *bad: an id that is
 * not a string of 16..128 [A-Za-z0-9_-]. */
static const char *pay_id_of(gr_request *r, const char *header_b64, bool *bad) {
    *bad = false;
    uint8_t *raw = NULL;
    size_t n = 0;
    if (gr_evm_b64_decode(gr_str_c(header_b64), GR_X402_HEADER_MAX, &raw, &n) != GR_OK) return NULL;
    cJSON *root = cJSON_ParseWithLength((const char *)raw, n);
    free(raw);
    const cJSON *ext = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "extensions"),
                                                        GR_X402_PAY_ID_EXT);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(ext, "info"), "id");
    const char *out = NULL;
    if (id) {
        const char *v = cJSON_GetStringValue(id);
        size_t len = v ? strlen(v) : 0;
        *bad = len < GR_X402_PAY_ID_MIN || len > GR_X402_PAY_ID_MAX || strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                                 "abcdefghijklmnopqrstuvwxyz"
                                                                                 "0123456789_-") != len;
        if (!*bad) out = gr_pool_strdup(r->pool, v);
    }
    cJSON_Delete(root);
    return out;
}

/* keccak256(method \n path \n body), hex: what "the same request" means. */
static void pay_id_fingerprint(gr_request *r, char out[2 * GR_KECCAK256_LEN + 1]) {
    size_t len = r->body_len;
    const char *body = r->body_text;
    if (!body && r->req) body = gr_client_req_body(r->req, &len);
    gr_keccak_ctx c;
    uint8_t h[GR_KECCAK256_LEN];
    gr_keccak_init(&c);
    gr_keccak_update(&c, r->method ? r->method : "", r->method ? strlen(r->method) : 0);
    gr_keccak_update(&c, "\n", 1);
    gr_keccak_update(&c, r->path, strlen(r->path));
    gr_keccak_update(&c, "\n", 1);
    if (body) gr_keccak_update(&c, body, len);
    gr_keccak_final(&c, h);
    for (size_t i = 0; i < sizeof h; i++) snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void pay_id_conflict(gr_request *r, const char *code, const char *why) {
    gr_metrics_add(GR_M_X402, "event=\"payment_id_conflict\"", 1);
    gr_request_fail(r, 409, "invalid_request_error", code, NULL, "%s", why);
}

/* The stored reply of a retry: as first sent, marked with the request that paid for it. */
static void pay_id_replay(gr_request *r, x402_req *x, const gr_x402_pid_rec *rec) {
    if (!rec->body) {
        pay_id_conflict(r, "x402_payment_id_reply_not_kept",
                        "This payment id was served, but its reply was larger than x402.payment_id_max_reply_bytes "
                        "and was not kept; it is not charged again. Use a new id for a new request.");
        return;
    }
    x->phase = XS_REPLAYED;
    gr_metrics_add(GR_M_X402, "event=\"payment_id_replayed\"", 1);
    GR_INFO("x402: %s: payment id %s replays the reply of %s (payer %s), nothing charged", r->id, x->pay_id,
            rec->request_id, x->payer);
    if (rec->settlement) gr_request_add_header(r, x->version == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE",
                                               rec->settlement);
    gr_request_add_header(r, PAY_ID_REPLAY_HEADER, rec->request_id);
    gr_request_add_header(r, "x-gaterouter-x402-payer", x->payer);
    gr_request_reply_json(r, rec->status ? rec->status : 200, rec->body, strlen(rec->body));
}

static void pay_id_taken(gr_request *r, x402_job *j) {
    x402_req *x = XREQ(r);
    gr_pay_x402 *p = j->p;
    j->pid_settled = true; /* from here the request frees or completes the id (on_release) */
    if (j->rc != GR_OK) {
        pay_store_unavailable(r, "could not look up the payment id");
        return;
    }
    const gr_x402_pid_rec *rec = &j->pid;
    if (rec->state != GR_X402_PID_NEW) {
        if (strcmp(rec->payer, x->payer) || strcmp(rec->fingerprint, x->pay_id_fp))
            pay_id_conflict(r, "x402_payment_id_conflict",
                            "This payment id was already used for a different request; use a new id.");
        else if (rec->state == GR_X402_PID_PENDING)
            pay_id_conflict(r, "x402_payment_id_in_progress",
                            "A request with this payment id is still being served; retry it once that one ended.");
        else pay_id_replay(r, x, rec);
        return;
    }
    x->pay_id_held = true;
    /* From here a client that leaves (a dropped connection: the case the id
     * exists for) does not cut the request: it is served to its end and paid
     * once, and the retry with the same id gets the kept reply. */
    r->outlive_client = true;
    x402_job *then = j->then;
    j->then = NULL;
    if (x->pay_id_has_spend) pay_preflight_then(r, p, x, then, &x->pay_id_spend);
    else pay_submit_job(r, then);
}

/* Admission's last step before the reservation `then`: without an id, the
 * preflight (spend != NULL) or the reservation itself; with one, first the
 * id (pay_id_taken continues). */
void pay_reserve_after_pay_id(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then,
                              const gr_x402_spend *spend) {
    bool bad = false;
    x->pay_id = x->version == 2 ? pay_id_of(r, x->header_b64, &bad) : NULL;
    if (bad || (x->pay_id && r->stream)) {
        pay_x402_job_free(then);
        gr_request_fail(r, 400, "invalid_request_error", "x402_invalid_payment_id", "payment-identifier",
                        bad ? "The payment-identifier id must be %d to %d characters of A-Z, a-z, 0-9, _ and -."
                            : "A streamed request cannot carry a payment-identifier id (replies of streams are not "
                              "kept); send it without one, or without stream.",
                        GR_X402_PAY_ID_MIN, GR_X402_PAY_ID_MAX);
        return;
    }
    if (!x->pay_id) {
        if (spend) pay_preflight_then(r, p, x, then, spend);
        else pay_submit_job(r, then);
        return;
    }
    if (spend) x->pay_id_spend = *spend;
    x->pay_id_has_spend = spend != NULL;
    pay_id_fingerprint(r, x->pay_id_fp);
    x402_job *j = pay_new_job(r, p, XJ_PAY_ID, pay_id_taken);
    snprintf(j->key, sizeof j->key, "%s", x->pay_id);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    snprintf(j->rid, sizeof j->rid, "%s", r->id);
    snprintf(j->fingerprint, sizeof j->fingerprint, "%s", x->pay_id_fp);
    j->then = then;
    j->exec = r->w->exec;
    pay_submit_job(r, j);
}

/* The record of the id this request took, after its end. */
typedef struct pay_id_post {
    gr_pay_x402 *p;
    char id[200], rid[80]; /* id: as the job key (at most GR_X402_PAY_ID_MAX used) */
    bool done;
    int status;
    char *settlement, *body;
} pay_id_post;

static void pay_id_post_run(void *conn, void *arg) {
    pay_id_post *o = arg;
    gr_x402_store *st = pay_job_store(conn, o->p);
    if (o->done ? gr_x402_store_pid_done(st, o->id, o->rid, o->status, o->settlement, o->body) != GR_OK
                : gr_x402_store_pid_drop(st, o->id, o->rid) != GR_OK)
        GR_ERROR("x402: cannot record the end of payment id %s (request %s): its retries get 409 in progress until "
                 "it expires", o->id, o->rid);
}

static void pay_id_post_free(void *arg) {
    pay_id_post *o = arg;
    free(o->settlement);
    free(o->body);
    free(o);
}

/* An id taken for a request that was gone before it could go on: freed. */
void pay_id_release_orphan(x402_job *j) {
    pay_id_post *o = gr_xcalloc(1, sizeof *o);
    o->p = j->p;
    snprintf(o->id, sizeof o->id, "%s", j->key);
    snprintf(o->rid, sizeof o->rid, "%s", j->rid);
    pay_post_to(j->exec, pay_id_post_run, pay_id_post_free, o);
}

/* Request end: a served 200 is kept for the retries (its body unless too
 * large); anything else frees the id. */
void pay_id_finish(gr_request *r, gr_pay_x402 *p, x402_req *x) {
    pay_id_post *o = gr_xcalloc(1, sizeof *o);
    o->p = p;
    snprintf(o->id, sizeof o->id, "%s", x->pay_id);
    snprintf(o->rid, sizeof o->rid, "%s", r->id);
    o->done = x->phase == XS_ADMITTED && x->pay_id_replied && r->status == 200;
    o->status = 200;
    o->settlement = o->done && x->pay_id_settlement ? gr_xstrdup(x->pay_id_settlement) : NULL;
    o->body = o->done && x->pay_id_body ? gr_xstrdup(x->pay_id_body) : NULL;
    if (o->done && x->pay_id_too_large)
        GR_WARN("x402: %s: reply larger than x402.payment_id_max_reply_bytes: payment id %s is kept without it",
                r->id, x->pay_id);
    pay_post_to(r->w->exec, pay_id_post_run, pay_id_post_free, o);
}
