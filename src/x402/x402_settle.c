/* x402_settle.c — the settlement thread: bounded job queue, self-settlement
 * over JSON-RPC (EIP-1559 transferWithAuthorization — or, for `upto`, the
 * x402UptoPermit2Proxy settle() with the metered amount — signed in C) or
 * through a facilitator's POST /settle, retries with backoff, credit and ledger updates
 * (see x402_settle.h). Owns its curl easy handle and per-network relayer
 * nonce cache; nothing here runs on a worker thread except submit(). */
#include "x402_settle.h"
#include "x402_siwx.h"

#include "curl_dl.h"
#include "evm_tx.h"
#include "x402_chain.h"
#include "log.h"
#include "metrics.h"
#include "ops_event.h"
#include "store.h"
#include "x402.h"
#include "x402_upto.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/rand.h>
#include <time.h>

#define RECEIPT_TIMEOUT_MS 60000
#define RECEIPT_POLL_MS 150
/* A job created less than this ago may still see its ledger row committed: wait for it (3 s at most). */
#define LEDGER_WAIT_RECENT_MS 10000

typedef struct net_state {
    bool chain_checked;
    bool nonce_known;
    uint64_t next_nonce;
} net_state;

struct gr_x402_settler {
    gr_x402_settle_mode mode;
    const gr_x402_network_conf *nets;
    size_t nnets;
    net_state *ns;
    gr_x402_store *store;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gr_x402_settle_rec *ring; /* bounded FIFO */
    size_t head, count;
    bool stopping, busy;
    CURL *curl;
    gr_x402_rpc rpc;       /* over curl, bounded by stop_deadline_ms */
    char owner[96];        /* this instance's id: owner of its jobs and sending leases */
    const char *lease_job; /* request id of the job being sent (settler thread only) */
    uint64_t lease_renewed_ms;
    gr_x402_settler_opts opt;
    uint64_t stop_deadline_ms; /* under mu; 0 = none: past it RPCs abort and the queue is left */
    bool unqueued_own;         /* under mu: a pending job of ours is not queued (queue full, or left pending
                                  after its attempts): the next sweep with an idle queue takes it back */
    pthread_t keeper;          /* heartbeat + sweeps */
    bool keeper_started;
};

/* R_EXPIRED: the authorization expired unspent (expired_unsettled). */
typedef enum { R_OK = 0, R_TRANSIENT, R_PERMANENT, R_EXPIRED } outcome;

static bool stopping_now(gr_x402_settler *s) {
    pthread_mutex_lock(&s->mu);
    bool st = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* The stop_by deadline (wall ms), 0 = none; also bounds the RPC calls (x402_rpc.h). */
static uint64_t stop_deadline(void *ud) {
    gr_x402_settler *s = ud;
    pthread_mutex_lock(&s->mu);
    uint64_t d = s->stop_deadline_ms;
    pthread_mutex_unlock(&s->mu);
    return d;
}

/* Past the stop_by deadline: abort what is in flight, leave the rest. */
static bool past_deadline(gr_x402_settler *s) {
    uint64_t d = stop_deadline(s);
    return d && gr_wall_ms() >= d;
}

/* ---- the sending lease (x402_store.h: gr_x402_store_settlement_lease) ----
 * Taken before a job's first transaction is sent, renewed before every
 * attempt and while a receipt is awaited; a job whose lease another live
 * instance holds is left to that instance. */

static bool lease(gr_x402_settler *s, const char *request_id, bool *io_error) {
    if (past_deadline(s)) { /* stopping: send nothing new */
        *io_error = false;
        return false;
    }
    bool held = false;
    uint64_t now = gr_wall_ms();
    *io_error = gr_x402_store_settlement_lease(s->store, request_id, s->owner, (int64_t)now, GR_X402_SETTLE_LEASE_MS,
                                               &held) != GR_OK;
    if (held) s->lease_renewed_ms = now;
    return held;
}

/* In long waits: renew at a third of the lease. */
static void lease_keep(gr_x402_settler *s) {
    if (!s->lease_job || gr_wall_ms() - s->lease_renewed_ms < GR_X402_SETTLE_LEASE_MS / 3) return;
    bool io;
    if (!lease(s, s->lease_job, &io))
        GR_WARN("x402: could not renew the sending lease of %s%s", s->lease_job, io ? " (store error)" : "");
}

/* ---- small helpers ---- */

static void sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* The CLOCK_REALTIME instant ms from now (pthread_cond_timedwait's deadline). */
static struct timespec in_ms(unsigned ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Sleeps up to ms, less when stopping (woken by stop_by / free). */
static void nap(gr_x402_settler *s, unsigned ms) {
    struct timespec ts = in_ms(ms);
    pthread_mutex_lock(&s->mu);
    if (!s->stop_deadline_ms) pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    pthread_mutex_unlock(&s->mu);
}

/* ---- waiters (settle_before_response) ---- */

struct gr_x402_settle_waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    bool known, ended, settled;
    char hash[67];
};

gr_x402_settle_waiter *gr_x402_settle_waiter_new(void) {
    gr_x402_settle_waiter *w = gr_xcalloc(1, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->refs = 2;
    return w;
}

void gr_x402_settle_waiter_release(gr_x402_settle_waiter *w) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (!last) return;
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* The hash is known (final: the job ended, settled or not). */
static void waiter_tell(gr_x402_settle_waiter *w, const char *tx_hash, bool final, bool settled) {
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    if (tx_hash && tx_hash[0] && !w->known) {
        snprintf(w->hash, sizeof w->hash, "%s", tx_hash);
        w->known = true;
    }
    if (final) {
        w->ended = true;
        w->settled = settled;
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void gr_x402_settle_waiter_finish(gr_x402_settle_waiter *w, const char *tx_hash, bool settled) {
    waiter_tell(w, tx_hash, true, settled);
    gr_x402_settle_waiter_release(w);
}

bool gr_x402_settle_waiter_wait(gr_x402_settle_waiter *w, uint64_t deadline_ms, char hash[67], bool *settled) {
    pthread_mutex_lock(&w->mu);
    while (!w->known && !w->ended) {
        uint64_t now = gr_wall_ms();
        if (now >= deadline_ms) break;
        struct timespec ts = in_ms((unsigned)(deadline_ms - now));
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    bool known = w->known;
    if (known) snprintf(hash, 67, "%s", w->hash);
    *settled = w->ended && w->settled;
    pthread_mutex_unlock(&w->mu);
    return known;
}

static const gr_x402_network_conf *find_net(gr_x402_settler *s, uint64_t chain_id, const char *asset, size_t *idx) {
    gr_evm_address a;
    if (gr_evm_address_parse(gr_str_c(asset), false, &a) != GR_OK) return NULL;
    for (size_t i = 0; i < s->nnets; i++)
        if (s->nets[i].chain_id == chain_id && gr_evm_address_eq(&s->nets[i].asset, &a)) {
            *idx = i;
            return &s->nets[i];
        }
    return NULL;
}

/* A JSON-RPC error object is a refusal: permanent for the job. */
static outcome of_rpc(gr_rpc_outcome o) {
    switch (o) {
    case GR_RPC_OK: return R_OK;
    case GR_RPC_TRANSIENT: return R_TRANSIENT;
    case GR_RPC_REFUSED: return R_PERMANENT;
    }
    return R_TRANSIENT;
}

/* The settler's JSON-RPC calls: bounded by its stop deadline (x402_rpc.h). */
static outcome rpc(gr_x402_settler *s, const char *url, const char *method, const char *params, cJSON **root,
                   const cJSON **result, char *err, size_t errlen) {
    return of_rpc(gr_x402_rpc_call(&s->rpc, url, method, params, root, result, err, errlen));
}

static bool contains_ci(const char *hay, const char *needle) { return hay && strcasestr(hay, needle) != NULL; }

/* ---- self-settlement ---- */

/* Receipt of tx: R_OK settled (status 1), R_PERMANENT reverted, R_TRANSIENT not
 * (yet) mined within the wait. */
static outcome wait_receipt(gr_x402_settler *s, const gr_x402_network_conf *n, const char *tx, unsigned wait_ms,
                            char *err, size_t errlen) {
    char params[96];
    snprintf(params, sizeof params, "[\"%s\"]", tx);
    uint64_t deadline = gr_now_us() + (uint64_t)wait_ms * 1000u;
    for (;;) {
        cJSON *root;
        const cJSON *res;
        outcome o = rpc(s, n->rpc_url, "eth_getTransactionReceipt", params, &root, &res, err, errlen);
        if (o == R_OK && cJSON_IsObject(res)) {
            uint64_t status = 0;
            bool ok = gr_x402_parse_qty(cJSON_GetObjectItemCaseSensitive(res, "status"), &status) && status == 1;
            cJSON_Delete(root);
            if (ok) return R_OK;
            snprintf(err, errlen, "transaction %s reverted", tx);
            return R_PERMANENT;
        }
        cJSON_Delete(root);
        lease_keep(s);
        if (stopping_now(s) && deadline > gr_now_us() + 5000000u) deadline = gr_now_us() + 5000000u; /* shutting down */
        if (gr_now_us() >= deadline || past_deadline(s)) {
            if (o == R_OK) snprintf(err, errlen, "no receipt for %s after %u ms", tx, wait_ms);
            return R_TRANSIENT;
        }
        sleep_ms(RECEIPT_POLL_MS);
    }
}

static outcome rpc_qty(gr_x402_settler *s, const char *url, const char *method, const char *params, uint64_t *v,
                       char *err, size_t errlen) {
    return of_rpc(gr_x402_rpc_qty(&s->rpc, url, method, params, v, err, errlen));
}

/* Error code of a reverting settle() simulation (upto: Permit2 / proxy custom
 * errors, by name or by selector in the revert data). */
static const char *upto_revert_code(const char *why) {
    return contains_ci(why, "InvalidNonce") || contains_ci(why, "0x756688fe") ? "permit2_invalid_nonce"
         : contains_ci(why, "SignatureExpired") || contains_ci(why, "0xcd21db4f") ? "permit2_deadline_expired"
         : contains_ci(why, "AmountExceedsPermitted") || contains_ci(why, "0xfe64b4c7") ? "upto_amount_exceeds_permitted"
         : contains_ci(why, "UnauthorizedFacilitator") || contains_ci(why, "0x0f6fae87") ? "upto_unauthorized_facilitator"
         : contains_ci(why, "PaymentTooEarly") || contains_ci(why, "0xa65539fa") ? "permit2_payment_too_early"
         : contains_ci(why, "InvalidSigner") || contains_ci(why, "0x815e1d64") || contains_ci(why, "0x8baa579f")
               ? "invalid_permit2_signature"
         : contains_ci(why, "TRANSFER_FROM_FAILED") ? "permit2_allowance_required" /* or balance: solmate cannot tell */
         : "permit2_simulation_failed";
}

static const char *exact_revert_code(const char *why) {
    return contains_ci(why, "used") || contains_ci(why, "canceled") ? "invalid_exact_evm_nonce_already_used"
         : contains_ci(why, "exceeds balance") || contains_ci(why, "insufficient") ? "invalid_exact_evm_insufficient_balance"
         : contains_ci(why, "expired") || contains_ci(why, "valid before") ? "invalid_exact_evm_payload_authorization_valid_before"
         : contains_ci(why, "not yet valid") || contains_ci(why, "valid after") ? "invalid_exact_evm_payload_authorization_valid_after"
         : contains_ci(why, "signature") ? "invalid_exact_evm_signature"
         : "invalid_exact_evm_transaction_simulation_failed";
}

/* ---- reconciliation with the chain (x402_chain.h) ---- */

/* How far back (blocks) the spending transaction's log is looked for. */
#define LOG_LOOKBACK_BLOCKS 50000u

/* After a permanent failure (or a transaction that can never be mined):
 * what the chain says. Spent by a transaction we can find -> R_OK with its
 * hash in rec (settled: the authorization only ever pays payTo). Unspent and
 * past its validity -> R_EXPIRED. Otherwise R_PERMANENT (err kept), or
 * R_TRANSIENT when the chain could not be asked. */
static outcome reconcile(gr_x402_settler *s, const gr_x402_network_conf *n, gr_x402_settle_rec *rec,
                         const gr_x402_spend *r, char *err, size_t errlen) {
    if (!n || !n->rpc_url) return R_PERMANENT; /* facilitator without an RPC: the facilitator's word stands */
    char why[256];
    bool spent = false;
    if (gr_x402_chain_spent(&s->rpc, n->rpc_url, r, &spent, why, sizeof why) != GR_RPC_OK) {
        snprintf(err + strlen(err), errlen - strlen(err), "; chain state unknown: %.120s", why);
        return R_TRANSIENT;
    }
    if (!spent) {
        if ((uint64_t)(gr_wall_ms() / 1000) >= r->valid_before) {
            snprintf(err, errlen, "authorization expired unspent (valid before %llu)",
                     (unsigned long long)r->valid_before);
            return R_EXPIRED;
        }
        return R_PERMANENT;
    }
    char hash[67];
    if (gr_x402_chain_spending_tx(&s->rpc, n->rpc_url, r, LOG_LOOKBACK_BLOCKS, hash, why, sizeof why) != GR_RPC_OK) {
        snprintf(err + strlen(err), errlen - strlen(err), "; spent on chain, transaction not found yet: %.120s", why);
        return R_TRANSIENT;
    }
    if (!hash[0]) {
        snprintf(err + strlen(err), errlen - strlen(err),
                 "; the authorization is spent or cancelled on chain, by no transaction found in the last %u blocks",
                 LOG_LOOKBACK_BLOCKS);
        return R_PERMANENT;
    }
    GR_INFO("x402: %s: the chain shows the payment spent by tx %s", rec->request_id, hash);
    snprintf(rec->tx_hash, sizeof rec->tx_hash, "%s", hash);
    free(rec->raw_tx);
    rec->raw_tx = NULL;
    err[0] = '\0';
    return R_OK;
}

/* Sends `data` to contract `to` from the relayer and waits for the receipt.
 * upto selects the revert classification. */
static outcome settle_self(gr_x402_settler *s, size_t ni, gr_x402_settle_rec *rec, const gr_evm_address *to,
                           const uint8_t *data, size_t data_len, bool upto, char *err, size_t errlen) {
    const gr_x402_network_conf *n = &s->nets[ni];
    net_state *st = &s->ns[ni];
    if (!n->rpc_url || !n->has_relayer) {
        snprintf(err, errlen, "no rpc_url/relayer_key for eip155:%llu", (unsigned long long)n->chain_id);
        return R_PERMANENT;
    }
    outcome o;
    if (rec->tx_hash[0]) { /* resumed or retried: the tx may already be mined */
        o = wait_receipt(s, n, rec->tx_hash, 2000, err, errlen);
        if (o != R_TRANSIENT) return o;
        cJSON *root;
        const cJSON *res;
        char params[96];
        snprintf(params, sizeof params, "[\"%s\"]", rec->tx_hash);
        o = rpc(s, n->rpc_url, "eth_getTransactionByHash", params, &root, &res, err, errlen);
        bool known = o == R_OK && cJSON_IsObject(res);
        cJSON_Delete(root);
        if (o != R_OK) return R_TRANSIENT;
        if (known) { /* still in the pool: keep waiting on the next attempt */
            snprintf(err, errlen, "transaction %s not mined yet", rec->tx_hash);
            return R_TRANSIENT;
        }
        if (rec->raw_tx) { /* not in the pool (never sent, or dropped): the same signed bytes again */
            size_t plen = strlen(rec->raw_tx) + 8;
            char *p = gr_xmalloc(plen);
            snprintf(p, plen, "[\"%s\"]", rec->raw_tx);
            o = rpc(s, n->rpc_url, "eth_sendRawTransaction", p, &root, &res, err, errlen);
            free(p);
            cJSON_Delete(root);
            if (o == R_OK || contains_ci(err, "already known")) {
                GR_INFO("x402: %s: broadcast its persisted transaction %s", rec->request_id, rec->tx_hash);
                return wait_receipt(s, n, rec->tx_hash, RECEIPT_TIMEOUT_MS, err, errlen);
            }
            if (o == R_TRANSIENT) return R_TRANSIENT;
            /* refused (its relayer nonce was used by another transaction): it can never be mined */
            GR_WARN("x402: %s: its transaction %s cannot be sent again (%s); signing a new one", rec->request_id,
                    rec->tx_hash, err);
            st->nonce_known = false;
        }
        rec->tx_hash[0] = '\0'; /* a new transaction (estimateGas tells if the authorization is still unspent) */
        free(rec->raw_tx);
        rec->raw_tx = NULL;
    }
    if (!st->chain_checked) {
        uint64_t cid = 0;
        o = rpc_qty(s, n->rpc_url, "eth_chainId", "[]", &cid, err, errlen);
        if (o != R_OK) return R_TRANSIENT;
        if (cid != n->chain_id) {
            snprintf(err, errlen, "rpc_url serves chain %llu, not %llu", (unsigned long long)cid,
                     (unsigned long long)n->chain_id);
            return R_PERMANENT;
        }
        st->chain_checked = true;
    }
    char relayer[GR_EVM_ADDR_STR_LEN + 1], target[GR_EVM_ADDR_STR_LEN + 1];
    gr_evm_address_lower(&n->relayer, relayer);
    gr_evm_address_lower(to, target);
    if (!st->nonce_known) {
        char params[96];
        snprintf(params, sizeof params, "[\"%s\",\"pending\"]", relayer);
        if (rpc_qty(s, n->rpc_url, "eth_getTransactionCount", params, &st->next_nonce, err, errlen) != R_OK)
            return R_TRANSIENT;
        st->nonce_known = true;
    }
    uint64_t gas_price = 0, prio = 0;
    if (rpc_qty(s, n->rpc_url, "eth_gasPrice", "[]", &gas_price, err, errlen) != R_OK) return R_TRANSIENT;
    if (rpc_qty(s, n->rpc_url, "eth_maxPriorityFeePerGas", "[]", &prio, err, errlen) != R_OK)
        prio = gas_price / 10 + 1; /* node without the method: a modest tip */
    char *data_hex = gr_xmalloc(2 * data_len + 3);
    gr_evm_hex_encode(data, data_len, data_hex);
    size_t plen = 2 * data_len + 3 + 256;
    char *params = gr_xmalloc(plen);
    snprintf(params, plen, "[{\"from\":\"%s\",\"to\":\"%s\",\"data\":\"%s\"}]", relayer, target, data_hex);
    free(data_hex);
    uint64_t gas = 0;
    o = rpc_qty(s, n->rpc_url, "eth_estimateGas", params, &gas, err, errlen);
    free(params);
    if (o == R_PERMANENT) { /* the call reverts: the payment cannot be settled as is */
        char why[200];
        snprintf(why, sizeof why, "%s", err);
        const char *code = upto ? upto_revert_code(why) : exact_revert_code(why);
        snprintf(err, errlen, "%s (%s)", code, why);
        return R_PERMANENT;
    }
    if (o != R_OK) return R_TRANSIENT;
    gr_evm_tx1559 tx = {
        .chain_id = n->chain_id,
        .nonce = st->next_nonce,
        .gas_limit = gas + gas / 5 + 10000,
        .to = *to,
        .data = data,
        .data_len = data_len,
    };
    gr_u256_from_u64(prio, &tx.max_priority_fee_per_gas);
    uint64_t max_fee = gas_price > (UINT64_MAX - prio) / 2 ? UINT64_MAX : gas_price * 2 + prio;
    gr_u256_from_u64(max_fee, &tx.max_fee_per_gas);
    uint8_t *raw = NULL, hash[32];
    size_t raw_len = 0;
    if (gr_evm_tx1559_sign(&tx, n->relayer_key, &raw, &raw_len, hash) != GR_OK) {
        snprintf(err, errlen, "relayer key cannot sign");
        return R_PERMANENT;
    }
    char *raw_hex = gr_xmalloc(2 * raw_len + 3);
    gr_evm_hex_encode(raw, raw_len, raw_hex);
    free(raw);
    char hash_hex[67];
    gr_evm_hex_encode(hash, 32, hash_hex);
    /* Known before it is sent: the hash and the signed bytes are in the
     * store first, so a crash at any point resumes from them. */
    snprintf(rec->tx_hash, sizeof rec->tx_hash, "%s", hash_hex);
    free(rec->raw_tx);
    rec->raw_tx = raw_hex;
    if (gr_x402_store_settlement_put(s->store, rec) != GR_OK) {
        snprintf(err, errlen, "cannot persist transaction %s before sending it", hash_hex);
        rec->tx_hash[0] = '\0';
        free(rec->raw_tx);
        rec->raw_tx = NULL;
        return R_TRANSIENT;
    }
    waiter_tell(rec->waiter, rec->tx_hash, false, false); /* known before the broadcast */
    plen = strlen(raw_hex) + 8;
    params = gr_xmalloc(plen);
    snprintf(params, plen, "[\"%s\"]", raw_hex);
    cJSON *root;
    const cJSON *res;
    o = rpc(s, n->rpc_url, "eth_sendRawTransaction", params, &root, &res, err, errlen);
    free(params);
    cJSON_Delete(root);
    if (o != R_OK && !contains_ci(err, "already known")) {
        /* nonce trouble (another sender, a dropped tx): refetch; a refused tx is forgotten, one that may
         * have reached the node (transport error) is kept and looked for on the next attempt */
        if (contains_ci(err, "nonce") || contains_ci(err, "underpriced")) st->nonce_known = false;
        if (o == R_PERMANENT) {
            rec->tx_hash[0] = '\0';
            free(rec->raw_tx);
            rec->raw_tx = NULL;
        }
        return R_TRANSIENT;
    }
    st->next_nonce++;
    return wait_receipt(s, n, rec->tx_hash, RECEIPT_TIMEOUT_MS, err, errlen);
}

/* ---- facilitator ---- */

static outcome settle_facilitator(gr_x402_settler *s, size_t ni, gr_x402_settle_rec *rec, char *err, size_t errlen) {
    const gr_x402_network_conf *n = &s->nets[ni];
    if (!n->facilitator_url) {
        snprintf(err, errlen, "no facilitator_url for eip155:%llu", (unsigned long long)n->chain_id);
        return R_PERMANENT;
    }
    char *reply = NULL;
    long st = gr_x402_facilitator_post(&s->rpc, n->facilitator_url, "settle", rec->version, rec->header_b64,
                                       rec->requirement_json, &reply, err, errlen);
    if (st < 0) return R_PERMANENT;
    outcome o = R_TRANSIENT;
    cJSON *j = st ? cJSON_Parse(reply ? reply : "") : NULL;
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "success");
    if (st == 0) {
        /* transport error: err already set */
    } else if (cJSON_IsBool(ok)) {
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(j, "transaction");
        if (cJSON_IsString(tx)) snprintf(rec->tx_hash, sizeof rec->tx_hash, "%s", tx->valuestring);
        if (cJSON_IsTrue(ok)) {
            o = R_OK;
        } else {
            const cJSON *why = cJSON_GetObjectItemCaseSensitive(j, "errorReason");
            snprintf(err, errlen, "facilitator: %s", cJSON_IsString(why) ? why->valuestring : "settle failed");
            o = R_PERMANENT;
        }
    } else {
        snprintf(err, errlen, "facilitator /settle: HTTP %ld", st);
        if (st >= 400 && st < 500 && st != 429) o = R_PERMANENT;
    }
    cJSON_Delete(j);
    free(reply);
    return o;
}

/* ---- the job ---- */

static const char *outcome_state(outcome o) {
    return o == R_OK ? "settled" : o == R_EXPIRED ? "expired_unsettled" : "failed";
}

/* A payment that was served and will not be settled: announced for alerts (ops_event.h). */
static void settle_failed_event(const gr_x402_settle_rec *rec, const char *how) {
    char detail[512];
    snprintf(detail, sizeof detail, "%s after %d attempt(s): %s (payer %s, %s atomic, eip155:%llu)", how,
             rec->attempts, rec->error, rec->payer, rec->amount, (unsigned long long)rec->chain_id);
    gr_ops_event_emit(GR_OPS_SETTLE_FAILED, rec->request_id, detail);
}

static void record_outcome(gr_x402_settler *s, gr_x402_settle_rec *rec, outcome o, bool upto) {
    bool ok = o == R_OK;
    snprintf(rec->state, sizeof rec->state, "%s", outcome_state(o));
    if (ok) rec->error[0] = '\0';
    /* upto settled the metered cost itself: no credit either way */
    int64_t gain = ok && !upto ? rec->paid_nusd + rec->credit_used_nusd - rec->cost_nusd : 0;
    int64_t delta = ok ? (upto ? 0 : rec->paid_nusd - rec->cost_nusd) : -rec->credit_used_nusd;
    /* Exactly once across instances sharing the store, and all at once: the
     * claim, the credit, the ledger row, the upto state and the final row are
     * one transaction. The ledger writer commits the request's row
     * asynchronously (~50 ms): wait for it a little (whoever sees the final
     * state then finds it in the ledger too); the keeper's ledger sync
     * records a row that comes later. */
    bool won = false, in_ledger = false;
    gr_status rc = GR_ERR_NOT_FOUND;
    /* only a recent request's row is on its way (one lost to a crash never comes: no wait for it) */
    bool recent = (int64_t)gr_wall_ms() - rec->created_ms < LEDGER_WAIT_RECENT_MS;
    for (int i = 0; i < 60 && rc == GR_ERR_NOT_FOUND; i++) {
        bool need = recent && !rec->waiter && i < 59 && !past_deadline(s); /* a held reply: no row yet */
        rc = gr_x402_store_settlement_finish(s->store, rec, gain, upto, delta, need, &won, &in_ledger);
        if (rc == GR_ERR_NOT_FOUND) sleep_ms(50);
    }
    if (rc != GR_OK) {
        GR_ERROR("x402: cannot record the settlement of %s (%s); it stays pending and is reconciled with the "
                 "chain when taken up again", rec->request_id, rec->state);
        return;
    }
    if (!won) {
        GR_WARN("x402: settlement of %s was already finished elsewhere; this outcome (%s) is not applied",
                rec->request_id, rec->state);
        return;
    }
    if (!in_ledger)
        GR_INFO("x402: %s ended '%s' before its ledger entry was written (the ledger sync records it)",
                rec->request_id, rec->state);
    if (s->opt.payer_outcome && o != R_EXPIRED) s->opt.payer_outcome(s->opt.outcome_ud, rec->payer, ok);
    int64_t age_ms = (int64_t)gr_wall_ms() - rec->created_ms;
    gr_metrics_observe_us(GR_M_X402_SETTLE_SECONDS,
                          ok ? "result=\"settled\"" : o == R_EXPIRED ? "result=\"expired_unsettled\"" : "result=\"failed\"",
                          age_ms > 0 ? (uint64_t)age_ms * 1000u : 0);
    if (ok) {
        gr_metrics_add(GR_M_X402, "event=\"settled\"", 1);
        GR_INFO("x402: settled %s: %s atomic from %s on eip155:%llu tx %s (credit %+lld nusd)", rec->request_id,
                rec->amount, rec->payer, (unsigned long long)rec->chain_id, rec->tx_hash[0] ? rec->tx_hash : "-",
                (long long)gain);
    } else if (o == R_EXPIRED) {
        gr_metrics_add(GR_M_X402, "event=\"expired_unsettled\"", 1);
        settle_failed_event(rec, "expired unsettled");
        GR_ERROR("x402: ALERT: payment %s EXPIRED UNSETTLED: %s atomic from %s on eip155:%llu was served but its "
                 "authorization expired before it could be settled (%s)", rec->request_id, rec->amount, rec->payer,
                 (unsigned long long)rec->chain_id, rec->error);
    } else {
        gr_metrics_add(GR_M_X402, "event=\"settle_failed\"", 1);
        settle_failed_event(rec, "failed");
        GR_ERROR("x402: settlement of %s FAILED after %d attempt(s): %s (payer %s, %s atomic, eip155:%llu)",
                 rec->request_id, rec->attempts, rec->error, rec->payer, rec->amount,
                 (unsigned long long)rec->chain_id);
    }
}

/* Decodes the job's payment: the call to make when settling ourselves
 * (exact -> token.transferWithAuthorization, upto -> proxy.settle(permit,
 * rec->amount, owner, witness, signature)) and what it spends on chain.
 * false with err set when it cannot be settled at all. */
static bool job_call(gr_x402_settler *s, const gr_x402_network_conf *n, gr_x402_settle_rec *rec, bool *upto,
                     uint8_t *data, size_t *data_len, gr_evm_address *target, gr_x402_spend *sr, char *err,
                     size_t errlen) {
    gr_x402_payment p;
    gr_x402_err perr;
    gr_x402_upto_payment up;
    gr_x402_upto_err uerr;
    (void)s;
    gr_status urc = gr_x402_upto_decode(gr_str_c(rec->header_b64), &up, &uerr);
    *upto = urc != GR_ERR_NOT_FOUND;
    memset(sr, 0, sizeof *sr);
    if (!n) {
        snprintf(err, errlen, "network eip155:%llu / asset %s no longer configured", (unsigned long long)rec->chain_id,
                 rec->asset);
        return false;
    }
    if (*upto) {
        if (urc != GR_OK || !n->has_upto) {
            snprintf(err, errlen, "%s", urc != GR_OK ? gr_x402_upto_err_str(uerr) : "upto no longer configured");
            return false;
        }
        gr_u256 amt;
        *target = n->upto_proxy;
        *data_len = GR_UPTO_SETTLE_CALLDATA_LEN;
        gr_status crc = gr_u256_from_dec(gr_str_c(rec->amount), &amt);
        if (crc == GR_OK) crc = gr_x402_upto_settle_calldata(&up, &amt, data);
        if (crc != GR_OK) { /* above the signed maximum (or 0): refused by construction */
            snprintf(err, errlen, "%s (amount %s)",
                     crc == GR_ERR_INVALID ? gr_x402_upto_err_str(GR_UPTO_SETTLEMENT_EXCEEDS) : "invalid_payload",
                     rec->amount);
            return false;
        }
        (void)gr_x402_spend_from_header(rec->header_b64, &n->permit2, rec->amount, sr);
        return true;
    }
    if (gr_x402_payment_decode(gr_str_c(rec->header_b64), &p, &perr) != GR_OK) {
        snprintf(err, errlen, "invalid_payload");
        return false;
    }
    *target = n->asset;
    *data_len = GR_EVM_TWA_CALLDATA_LEN;
    if (gr_evm_twa_calldata(&p.auth, p.signature, data) != GR_OK) {
        snprintf(err, errlen, "invalid_exact_evm_signature: bad v");
        return false;
    }
    (void)gr_x402_spend_from_header(rec->header_b64, NULL, NULL, sr);
    sr->token = n->asset;
    return true;
}

static void run_job(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    char err[256] = "";
    size_t ni = 0;
    const gr_x402_network_conf *n = find_net(s, rec->chain_id, rec->asset, &ni);
    outcome o = R_PERMANENT;
    uint8_t data[GR_UPTO_SETTLE_CALLDATA_LEN > GR_EVM_TWA_CALLDATA_LEN ? GR_UPTO_SETTLE_CALLDATA_LEN
                                                                      : GR_EVM_TWA_CALLDATA_LEN];
    size_t data_len = 0;
    gr_evm_address target;
    gr_x402_spend sr;
    bool upto = false;
    bool session = rec->header_b64 && !strncmp(rec->header_b64, GR_X402_SIWX_JOB_PREFIX, strlen(GR_X402_SIWX_JOB_PREFIX));
    bool callable = session || job_call(s, n, rec, &upto, data, &data_len, &target, &sr, err, sizeof err);
    if (session || (callable && !upto && gr_u256_eq(&sr.amount, &(gr_u256){{0}}))) {
        /* credit paid it all (a job taken over before its request closed it): nothing to send */
        snprintf(rec->state, sizeof rec->state, session ? "session" : "credit");
        bool won = false;
        bool in_ledger = false;
        if (gr_x402_store_settlement_finish(s->store, rec, 0, false, 0, false, &won, &in_ledger) != GR_OK)
            GR_ERROR("x402: cannot record the settlement of %s", rec->request_id);
        return;
    }
    unsigned backoff = 500;
    while (callable) {
        bool io = false;
        if (!lease(s, rec->request_id, &io)) { /* before every send: never two senders */
            if (io) {
                GR_ERROR("x402: settlement of %s: cannot take its sending lease (store error); left pending "
                         "for a later sweep", rec->request_id);
            } else if (!past_deadline(s)) {
                GR_INFO("x402: settlement of %s is being sent by another instance (lease held); leaving it "
                        "to that instance", rec->request_id);
            }
            s->lease_job = NULL;
            return;
        }
        s->lease_job = rec->request_id;
        rec->attempts++;
        err[0] = '\0';
        o = s->mode == GR_X402_SETTLE_SELF ? settle_self(s, ni, rec, &target, data, data_len, upto, err, sizeof err)
                                           : settle_facilitator(s, ni, rec, err, sizeof err);
        if (o == R_PERMANENT) o = reconcile(s, n, rec, &sr, err, sizeof err); /* never failed when the chain says paid */
        if (o == R_OK) waiter_tell(rec->waiter, rec->tx_hash, true, true); /* a held reply goes now */
        if (o != R_TRANSIENT) break;
        if (rec->attempts >= GR_X402_SETTLE_ATTEMPTS || stopping_now(s)) break;
        gr_metrics_add(GR_M_X402, "event=\"settle_retry\"", 1);
        GR_WARN("x402: settlement of %s: attempt %d failed (%s); retrying in %u ms", rec->request_id, rec->attempts,
                err, backoff);
        gr_store_strlcpy(rec->error, err, sizeof rec->error);
        (void)gr_x402_store_settlement_put(s->store, rec);
        nap(s, backoff);
        backoff *= 2;
    }
    s->lease_job = NULL;
    gr_store_strlcpy(rec->error, err, sizeof rec->error);
    if (o == R_TRANSIENT) {
        /* Not known to have failed: it stays pending (a sweep or the next run takes it up again, and
         * reconciles it with the chain). Only a payment whose authorization can no longer settle ends here. */
        (void)gr_x402_store_settlement_put(s->store, rec);
        GR_WARN("x402: settlement of %s left pending after %d attempt(s): %s", rec->request_id, rec->attempts, err);
        pthread_mutex_lock(&s->mu);
        s->unqueued_own = true; /* retried by a later sweep */
        pthread_mutex_unlock(&s->mu);
        return;
    }
    record_outcome(s, rec, o, upto);
}

static void *settler_main(void *arg) {
    gr_x402_settler *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->count == 0 && !s->stopping) pthread_cond_wait(&s->cv, &s->mu);
        bool give_up = s->stop_deadline_ms && gr_wall_ms() >= s->stop_deadline_ms;
        if (s->count == 0 || give_up) { /* stopping: the rest stays in the store */
            pthread_mutex_unlock(&s->mu);
            break;
        }
        gr_x402_settle_rec job = s->ring[s->head];
        s->head = (s->head + 1) % GR_X402_SETTLE_QUEUE;
        s->count--;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);
        run_job(s, &job);
        gr_x402_settle_waiter_finish(job.waiter, job.tx_hash, !strcmp(job.state, "settled"));
        gr_x402_settle_rec_dispose(&job);
        pthread_mutex_lock(&s->mu);
        s->busy = false;
        pthread_mutex_unlock(&s->mu);
    }
    /* stopped: replies still waiting for a job left in the queue go now (without its hash) */
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->count; i++) {
        gr_x402_settle_rec *r = &s->ring[(s->head + i) % GR_X402_SETTLE_QUEUE];
        gr_x402_settle_waiter_finish(r->waiter, NULL, false);
        r->waiter = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static bool enqueue_at(gr_x402_settler *s, gr_x402_settle_rec *rec, bool first) {
    pthread_mutex_lock(&s->mu);
    bool ok = s->count < GR_X402_SETTLE_QUEUE && !s->stopping;
    if (ok && first) { /* a waiting reply: before the backlog */
        s->head = (s->head + GR_X402_SETTLE_QUEUE - 1) % GR_X402_SETTLE_QUEUE;
        s->ring[s->head] = *rec;
        s->count++;
        pthread_cond_broadcast(&s->cv);
    } else if (ok) {
        s->ring[(s->head + s->count) % GR_X402_SETTLE_QUEUE] = *rec;
        s->count++;
        pthread_cond_broadcast(&s->cv);
    } else if (!s->stopping) {
        s->unqueued_own = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

static bool enqueue(gr_x402_settler *s, gr_x402_settle_rec *rec) { return enqueue_at(s, rec, false); }

/* ---- the keeper: heartbeat, sweeps ---- */

/* Takes over and queues up to the queue's free room of the jobs nobody
 * live is settling: mine = 1 also this instance's own (its previous run:
 * only before anything is served), 2 its own pending ones (after a full
 * queue: only when the queue is empty, so none of them is queued). */
static size_t sweep(gr_x402_settler *s, int mine) {
    pthread_mutex_lock(&s->mu);
    size_t room = GR_X402_SETTLE_QUEUE - s->count;
    pthread_mutex_unlock(&s->mu);
    if (room == 0) return 0;
    int limit = room > 256 ? 256 : (int)room;
    uint64_t now = gr_wall_ms();
    gr_x402_settle_rec *arr = NULL;
    size_t n = 0, took = 0;
    if (gr_x402_store_settlements_orphaned(s->store, s->owner, mine, (int64_t)(now - s->opt.dead_after_ms),
                                           (int64_t)now, limit, &arr, &n) != GR_OK) {
        GR_WARN("x402: sweep for orphaned settlements failed (store error)");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        gr_x402_settle_rec *r = &arr[i];
        if (mine == 2 && !strcmp(r->state, "open")) { /* in flight here */
            gr_x402_settle_rec_dispose(r);
            continue;
        }
        bool taken = false;
        if (gr_x402_store_settlement_take(s->store, r, s->owner, (int64_t)now, GR_X402_SETTLE_LEASE_MS, &taken) ==
                GR_OK &&
            taken) {
            if (strcmp(r->claimed_by, s->owner) != 0)
                GR_INFO("x402: took over settlement %s (%s) from %s", r->request_id, r->state,
                        r->claimed_by[0] ? r->claimed_by : "nobody");
            snprintf(r->state, sizeof r->state, "pending");
            snprintf(r->claimed_by, sizeof r->claimed_by, "%s", s->owner);
            if (enqueue(s, r)) {
                took++;
                continue;
            }
        }
        gr_x402_settle_rec_dispose(r);
    }
    free(arr);
    return took;
}

static void *keeper_main(void *arg) {
    gr_x402_settler *s = arg;
    uint64_t last_sweep = 0, last_prune = 0;
    bool beat_warned = false;
    pthread_mutex_lock(&s->mu);
    while (!s->stopping) {
        pthread_mutex_unlock(&s->mu);
        uint64_t now = gr_wall_ms();
        bool beat = gr_x402_store_heartbeat(s->store, s->owner, (int64_t)now) == GR_OK;
        if (!beat && !beat_warned) GR_WARN("x402: heartbeat of %s failed (store error)", s->owner);
        beat_warned = !beat;
        if (now - last_sweep >= s->opt.sweep_ms) {
            pthread_mutex_lock(&s->mu);
            int mine = s->unqueued_own && s->count == 0 && !s->busy ? 2 : 0;
            if (mine) s->unqueued_own = false;
            pthread_mutex_unlock(&s->mu);
            size_t took = sweep(s, mine);
            if (took) GR_INFO("x402: sweep queued %zu orphaned settlement(s)", took);
            if (gr_x402_store_ledger_sync(s->store, (int64_t)now - 600000, NULL) != GR_OK)
                GR_WARN("x402: ledger sync of ended settlements failed (store error)");
            last_sweep = now;
        }
        if (now - last_prune > 60000) {
            gr_x402_store_nonce_prune(s->store, (int64_t)(now / 1000) - 60);
            last_prune = now;
        }
        struct timespec ts = in_ms(s->opt.heartbeat_ms);
        pthread_mutex_lock(&s->mu);
        if (!s->stopping) pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

gr_status gr_x402_settler_new(gr_x402_settle_mode mode, const gr_x402_network_conf *nets, size_t n,
                              gr_x402_store *store, const gr_x402_settler_opts *opts, gr_x402_settler **out, char *err,
                              size_t errlen) {
    *out = NULL;
    gr_x402_settler *s = gr_xcalloc(1, sizeof *s);
    s->mode = mode;
    s->nets = nets;
    s->nnets = n;
    s->ns = gr_xcalloc(n ? n : 1, sizeof *s->ns);
    s->store = store;
    s->ring = gr_xcalloc(GR_X402_SETTLE_QUEUE, sizeof *s->ring);
    s->opt = *opts;
    s->opt.instance_id = NULL; /* copied into owner */
    if (!s->opt.heartbeat_ms) s->opt.heartbeat_ms = GR_X402_HEARTBEAT_MS;
    if (!s->opt.dead_after_ms) s->opt.dead_after_ms = GR_X402_DEAD_AFTER_MS;
    if (!s->opt.sweep_ms) s->opt.sweep_ms = GR_X402_SWEEP_MS;
    snprintf(s->owner, sizeof s->owner, "%s", opts->instance_id ? opts->instance_id : "");
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    char why[320];
    if (gr_curl_load(why, sizeof why) != GR_OK) { /* libcurl is the JSON-RPC / facilitator client */
        snprintf(err, errlen, "x402: settlement needs libcurl (%s)", why);
        gr_x402_settler_free(s);
        return GR_ERR_UNSUPPORTED;
    }
    s->curl = gr_curl()->easy_init();
    if (!s->curl) {
        snprintf(err, errlen, "x402: cannot create a curl handle for settlement");
        gr_x402_settler_free(s);
        return GR_ERR_NOMEM;
    }
    s->rpc = (gr_x402_rpc){.curl = s->curl, .deadline_fn = stop_deadline, .ud = s};
    if (!s->opt.no_keeper) {
        /* alive first, then this instance's previous run's jobs (nothing is served yet) and the dead ones' */
        if (gr_x402_store_heartbeat(store, s->owner, (int64_t)gr_wall_ms()) != GR_OK)
            GR_WARN("x402: heartbeat of %s failed (store error)", s->owner);
        size_t took = sweep(s, 1);
        if (took) GR_INFO("x402: resuming %zu settlement(s) left by a previous run or a dead instance", took);
    }
    if (pthread_create(&s->thread, NULL, settler_main, s) != 0) {
        snprintf(err, errlen, "x402: cannot start the settlement thread");
        gr_x402_settler_free(s);
        return GR_ERR_IO;
    }
    s->started = true;
    if (!s->opt.no_keeper) {
        if (pthread_create(&s->keeper, NULL, keeper_main, s) != 0) {
            snprintf(err, errlen, "x402: cannot start the settlement keeper thread");
            gr_x402_settler_free(s);
            return GR_ERR_IO;
        }
        s->keeper_started = true;
    }
    GR_INFO("x402: settling as instance %s (heartbeat %u ms, dead after %u ms, sweep %u ms)", s->owner,
            s->opt.heartbeat_ms, s->opt.dead_after_ms, s->opt.sweep_ms);
    *out = s;
    return GR_OK;
}

void gr_x402_settler_stop_by(gr_x402_settler *s, uint64_t deadline_ms) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    if (!s->stop_deadline_ms || deadline_ms < s->stop_deadline_ms) s->stop_deadline_ms = deadline_ms ? deadline_ms : 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void gr_x402_settler_free(gr_x402_settler *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->keeper_started) pthread_join(s->keeper, NULL);
    if (s->started) pthread_join(s->thread, NULL);
    if (s->count)
        GR_INFO("x402: %zu settlement(s) left pending at exit (taken over by another instance or the next run)",
                s->count);
    for (size_t i = 0; i < s->count; i++) {
        gr_x402_settle_rec *r = &s->ring[(s->head + i) % GR_X402_SETTLE_QUEUE];
        gr_x402_settle_waiter_finish(r->waiter, NULL, false);
        gr_x402_settle_rec_dispose(r);
    }
    /* gone: another instance takes over what is left at its next sweep */
    if (s->keeper_started && gr_x402_store_instance_gone(s->store, s->owner) != GR_OK)
        GR_WARN("x402: could not mark instance %s gone (its jobs are taken over once its heartbeat is stale)",
                s->owner);
    if (s->curl) gr_curl()->easy_cleanup(s->curl);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->ring);
    free(s->ns);
    free(s);
}

const char *gr_x402_settler_owner(const gr_x402_settler *s) { return s->owner; }

gr_status gr_x402_settler_submit_first(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    if (enqueue_at(s, rec, true)) return GR_OK;
    gr_x402_settle_waiter_finish(rec->waiter, NULL, false);
    rec->waiter = NULL;
    return gr_x402_settler_submit(s, rec);
}

gr_status gr_x402_settler_submit(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    if (enqueue(s, rec)) return GR_OK;
    GR_WARN("x402: settlement queue full or stopping: %s stays pending in the store (a sweep or the next run "
            "takes it)", rec->request_id);
    gr_x402_settle_rec_dispose(rec);
    return GR_ERR_TOO_LARGE;
}

size_t gr_x402_settler_backlog(gr_x402_settler *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->count + (s->busy ? 1 : 0);
    pthread_mutex_unlock(&s->mu);
    return n;
}

void gr_x402_settler_reconcile(gr_x402_settler *s, bool all, size_t *settled, size_t *failed, size_t *expired,
                               size_t *left) {
    *settled = *failed = *expired = *left = 0;
    uint64_t now = gr_wall_ms();
    gr_x402_settle_rec *arr = NULL;
    size_t n = 0;
    /* all: every instance counts as dead (alive since the future) */
    int64_t alive_since = all ? (int64_t)now + 1 : (int64_t)(now - s->opt.dead_after_ms);
    if (gr_x402_store_settlements_orphaned(s->store, s->owner, 1, alive_since, (int64_t)now, 100000, &arr, &n) !=
        GR_OK) {
        GR_ERROR("x402 reconcile: cannot read the settlement jobs");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        gr_x402_settle_rec *r = &arr[i];
        bool taken = false;
        if (gr_x402_store_settlement_take(s->store, r, s->owner, (int64_t)gr_wall_ms(), GR_X402_SETTLE_LEASE_MS,
                                          &taken) != GR_OK ||
            !taken) {
            (*left)++;
            gr_x402_settle_rec_dispose(r);
            continue;
        }
        snprintf(r->state, sizeof r->state, "pending");
        run_job(s, r);
        if (!strcmp(r->state, "settled")) (*settled)++;
        else if (!strcmp(r->state, "expired_unsettled")) (*expired)++;
        else if (!strcmp(r->state, "failed")) (*failed)++;
        else (*left)++;
        gr_x402_settle_rec_dispose(r);
    }
    free(arr);
}
