/* pay_x402_internal.h — what the files of the x402 feature (pay_x402*.c)
 * share: the feature's state, the per-request context, the store job and
 * post types, and the functions one file calls in another. Private to them:
 * the public face is pay_x402.h. */
#ifndef GR_PAY_X402_INTERNAL_H
#define GR_PAY_X402_INTERNAL_H

#include "pay_x402.h"
#include "pay_svm.h"
#include "pipeline.h"
#include "request.h"
#include "services.h"
#include "keccak.h"
#include "store_exec.h"
#include "x402.h"
#include "x402_preflight.h"
#include "x402_settle.h"
#include "x402_siwx.h"
#include "x402_store.h"
#include "x402_upto.h"

#define DEFAULT_MAX_TOKENS 1024
#define GR_X402_INSTANCE_ID_MAX 90
#define DEFAULT_TIMEOUT_S 300
#define PAYER_HINT_HEADER "X-Payer"
/* payment-identifier: the extension's key and the id's length bounds (its spec) */
#define GR_X402_PAY_ID_EXT "payment-identifier"
#define GR_X402_PAY_ID_MIN 16
#define GR_X402_PAY_ID_MAX 128
#define PAY_ID_REPLAY_HEADER "x-gaterouter-x402-replay"

struct gr_pay_x402 {
    gr_x402_settle_mode mode;
    gr_x402_network_conf *nets;
    size_t nnets;
    int64_t default_max_tokens;
    char *public_url; /* scheme://host[:port] for `resource`; NULL = from Host */
    gr_x402_store *store;
    gr_x402_settler *settler;
    const char *owner; /* the settler's instance id: owner of the jobs admitted here (NULL: settle none) */
    gr_x402_preflight *preflight; /* can the payer pay? (NULL: settle none) */
    bool settle_before_response;  /* hold a non-streamed paid reply until its tx hash is known */
    uint32_t settle_before_response_ms;
    int64_t payment_id_ttl_ms;          /* payment-identifier: how long an id and its reply are kept */
    size_t payment_id_max_reply_bytes;  /* a larger reply is not kept (its retries get 409) */
    bool siwx;                          /* sign-in-with-x: a signed header spends the payer's credit */
    int64_t siwx_max_age_ms;            /* how long a sign-in challenge stays valid */
    bool has_receipt_key;               /* offer-receipt: paid replies carry a signed receipt */
    uint8_t receipt_key[32];
    gr_evm_address receipt_signer;
    gr_pay_svm *svm;                    /* the Solana networks (pay_svm.h), NULL: none */
};

typedef enum { XS_NONE = 0, XS_QUOTED, XS_REJECTED, XS_ADMITTED, XS_REPLAYED, XS_SVM_PAID } x402_phase;

/* Per-request state (r->ctx[g_ctx_slot]), in the request's pool. */
typedef struct x402_req {
    x402_phase phase;
    int version;
    size_t net;
    gr_x402_payment pay;
    char payer[GR_EVM_ADDR_STR_LEN + 1]; /* lowercase 0x… */
    bool has_payer;
    gr_u256 value;
    int64_t max_cost_nusd, paid_nusd, credit_used_nusd;
    int64_t max_out; /* output-token cap of the quote */
    const char *header_b64;
    char *requirement_json;
    const char *desc;
    char nonce_key[200];  /* chain:asset:payer:nonce, spent once (locally and, with Redis, cluster-wide) */
    int64_t valid_before; /* unix seconds */
    /* upto */
    bool upto;
    gr_x402_upto_payment up;
    gr_x402_upto_offer up_offer; /* the offer it matched (amount = the quote) */
    /* settle_before_response */
    bool closed_early;           /* the job was closed (and queued) before the reply went out */
    bool held;                   /* the reply waited for the settlement */
    gr_x402_settle_waiter *waiter_for_close; /* handed to the close at hold time */
    char tx_hash[67];            /* known before the reply: goes into the settlement header */
    bool tx_settled;
    /* payment-identifier (idempotent retries) */
    const char *pay_id;          /* the client's id, or NULL */
    char pay_id_fp[2 * GR_KECCAK256_LEN + 1]; /* fingerprint of method, path and body */
    bool pay_id_held;            /* this request took the id: its end records the reply or frees it */
    bool pay_id_has_spend;
    gr_x402_spend pay_id_spend;  /* for the preflight after the id is taken */
    const char *pay_id_settlement; /* the settlement header sent */
    const char *pay_id_body;     /* the 200 reply sent (pool), NULL: none or too large */
    bool pay_id_replied, pay_id_too_large;
    bool siwx; /* admitted by a SIGN-IN-WITH-X proof: served from credit (state `session`) */
} x402_req;

typedef enum {
    XJ_CREDIT_GET = 0, XJ_RESERVE, XJ_CREDIT_VIEW, XJ_PAYMENT_GET, XJ_PREFLIGHT, XJ_SETTLE_WAIT,
    XJ_PAY_ID, /* take the payment-identifier, or read its stored reply */
} xjob_kind;

typedef struct x402_job x402_job;
struct x402_job {
    xjob_kind kind;
    gr_pay_x402 *p;
    void (*next)(gr_request *r, x402_job *j); /* on the loop, with the result */
    int span;                                 /* its trace span (trace.h), -1 = none */
    char payer[GR_EVM_ADDR_STR_LEN + 1];
    char key[200];
    char rid[80];
    int64_t valid_before, take;
    /* XJ_RESERVE: the payment's settlement job (and upto record), committed with the reservation */
    bool has_intent, has_upto;
    gr_x402_settle_rec intent;
    gr_x402_upto_rec upto;
    /* XJ_PREFLIGHT (on the preflight pool): the check, its copies of the strings it needs, and the
     * reservation to submit once the payer can pay (owned until then) */
    gr_x402_preflight_check check;
    char *check_header, *check_requirement;
    x402_job *then;
    /* XJ_SETTLE_WAIT (on the preflight pool): the held reply waits for its tx hash */
    gr_x402_settle_waiter *waiter;
    int held_status;
    const char *held_body; /* in the request's pool */
    size_t held_len;
    char hash[67];
    bool settled;
    /* XJ_PAY_ID: key = the id; the request that takes it (rid), its fingerprint; the row found */
    char fingerprint[2 * GR_KECCAK256_LEN + 1];
    gr_x402_pid_rec pid;
    bool pid_ran, pid_settled; /* took the id; its request continued with it (or the late step freed it) */
    gr_store_exec *exec;       /* to free an id taken for a request that left meanwhile */
    /* results */
    gr_status rc, take_rc;
    int64_t credit;
    cJSON *obj; /* XJ_CREDIT_VIEW: the settlements array; XJ_PAYMENT_GET: the payment */
};

/* Post-response bookkeeping: fire and forget, never lost. */
typedef struct x402_post {
    gr_pay_x402 *p;
    char payer[GR_EVM_ADDR_STR_LEN + 1];
    int64_t credit_delta; /* != 0: add to the payer's credit (refund) */
    bool has_upto, has_settle;
    bool close;                /* settle is the admitted job to close (its request ended): with
                                  credit_delta and upto in one transaction, then queued if pending */
    gr_x402_upto_rec upto;
    gr_x402_settle_rec settle; /* handed to the settler once closed as pending */
    char what[96];             /* for the error log */
} x402_post;

static inline gr_pay_x402 *px(gr_request *r) { return r->w && r->w->svc ? r->w->svc->x402 : NULL; }

/* This module's context slot (pipeline.h, pay_x402.c): the request's x402_req. */
extern int pay_x402_ctx_slot;
#define XREQ(r) ((x402_req *)(r)->ctx[pay_x402_ctx_slot])

/* ---- shared between the files ---- */
/* pay_x402_quote.c */
const char *pay_in_header(gr_request *r, const char *name);
uint64_t pay_atomic_ceil(int64_t nusd, const gr_x402_network_conf *n);
int64_t pay_atomic_to_nusd(const gr_u256 *v, const gr_x402_network_conf *n);
const char *pay_resource_url(gr_request *r, gr_pay_x402 *p);
const char *pay_describe(gr_request *r, int64_t max_out, int64_t max_cost);
int64_t pay_request_max_out(gr_request *r, gr_pay_x402 *p);
int64_t pay_request_max_cost(gr_request *r, int64_t max_out);
gr_x402_requirements *pay_build_reqs(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, const char *desc);
gr_x402_upto_offer *pay_build_upto_offers(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, size_t *nu);
const gr_x402_network_conf *pay_net_of(gr_pay_x402 *p, uint64_t chain_id, const gr_evm_address *asset);
void pay_reply_402(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, int version,
                   const char *code);
bool pay_reject(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, const char *code);
/* pay_x402_jobs.c */
gr_x402_store *pay_job_store(void *conn, gr_pay_x402 *p);
void pay_x402_job_free(void *arg);
void pay_store_unavailable(gr_request *r, const char *why);
void pay_x402_job_resume(gr_request *r, void *arg, const char *err);
x402_job *pay_new_job(gr_request *r, gr_pay_x402 *p, xjob_kind kind, void (*next)(gr_request *, x402_job *));
void pay_job_span(gr_request *r, x402_job *j);
void pay_post_to(gr_store_exec *ex, void (*run)(void *conn, void *arg), void (*free_arg)(void *arg), void *arg);
void pay_submit_job(gr_request *r, x402_job *j);
/* pay_x402_preflight.c */
void pay_preflight_unknown(gr_request *r, x402_job *j, const char *why);
void pay_preflight_then(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then, const gr_x402_spend *spend);
/* pay_x402_pay_id.c */
void pay_reserve_after_pay_id(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then,
                              const gr_x402_spend *spend);
void pay_id_release_orphan(x402_job *j);
void pay_id_finish(gr_request *r, gr_pay_x402 *p, x402_req *x);
/* pay_x402_admit.c */
void pay_quote_reply(gr_request *r, x402_job *j);
void pay_admit(gr_request *r);
bool pay_claim_info(gr_request *r, const char **token, uint32_t *ttl_s);
void pay_reject_replay(gr_request *r);
/* pay_x402_settle.c */
void pay_held_reply(gr_request *r, x402_job *j, bool answered);
bool pay_hold_reply(gr_request *r, int status, const char *json, size_t len);
x402_post *pay_new_post(gr_pay_x402 *p, const char *payer, const char *what);
void pay_post(gr_request *r, x402_post *o);
void pay_set_intent(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *j, const char *amount,
                    const char *req_json, int64_t paid_nusd, int64_t credit_used_nusd);
void pay_before_reply(gr_request *r);
char *pay_upto_requirement(const gr_x402_upto_offer *offer, const gr_u256 *amount);
void pay_fill_upto_rec(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const gr_u256 *settled,
                       int64_t cost, const char *state, gr_x402_upto_rec *u);
void pay_close_job(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *amount, char *req_json, int64_t paid,
                   int64_t cost, const char *state, int64_t credit_delta, const gr_x402_upto_rec *u);
void pay_finish_paid(gr_request *r, gr_ledger_row *row);
/* pay_x402_siwx.c: sign-in-with-x credit sessions */
void pay_siwx_expect(gr_request *r, gr_pay_x402 *p, const char *uri, gr_x402_siwx_expect *e);
gr_status pay_siwx_challenge(gr_request *r, gr_pay_x402 *p, cJSON *ext);
void pay_siwx_admit(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *hdr,
                    void (*reserved)(gr_request *r, x402_job *j));
void pay_siwx_serve_credit(gr_request *r, gr_pay_x402 *p, const char *hdr, void (*view)(gr_request *r, x402_job *j));
/* pay_x402_serve.c */
void pay_add_usd(cJSON *o, const char *k, int64_t nusd);

#endif
