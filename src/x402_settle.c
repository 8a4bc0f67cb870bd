/* x402_settle.c — the settlement thread: bounded job queue, self-settlement
 * over JSON-RPC (EIP-1559 transferWithAuthorization — or, for `upto`, the
 * x402UptoPermit2Proxy settle() with the metered amount — signed in C) or
 * through a facilitator's POST /settle, retries with backoff, credit and ledger updates
 * (see x402_settle.h). Owns its curl easy handle and per-network relayer
 * nonce cache; nothing here runs on a worker thread except submit(). */
#include "x402_settle.h"

#include "curl_dl.h"
#include "evm_tx.h"
#include "log.h"
#include "metrics.h"
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
#define HTTP_BODY_MAX (1u << 20)

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
    char owner[96];        /* this instance's lease owner id: gr-<16 random hex> */
    const char *lease_job; /* request id of the job being sent (settler thread only) */
    uint64_t lease_renewed_ms;
};

typedef enum { R_OK = 0, R_TRANSIENT, R_PERMANENT } outcome;

/* ---- the sending lease (x402_store.h: gr_x402_store_settlement_lease) ----
 * Taken before a job's first transaction is sent, renewed before every
 * attempt and while a receipt is awaited; a job whose lease another live
 * instance holds is left to that instance. */

static bool lease(gr_x402_settler *s, const char *request_id, bool *io_error) {
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

typedef struct membuf {
    char *p;
    size_t len;
    bool overflow;
} membuf;

static size_t on_write(char *d, size_t sz, size_t nm, void *ud) {
    membuf *b = ud;
    size_t n = sz * nm;
    if (b->len + n > HTTP_BODY_MAX) {
        b->overflow = true;
        return 0;
    }
    b->p = gr_xrealloc(b->p, b->len + n + 1);
    memcpy(b->p + b->len, d, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* POST JSON; returns the HTTP status (0 on transport failure) and the body. */
static long http_post_json(gr_x402_settler *s, const char *url, const char *body, long timeout_ms, membuf *out,
                           char *err, size_t errlen) {
    CURL *c = s->curl;
    const gr_curl_api *cu = gr_curl();
    cu->easy_reset(c);
    struct curl_slist *h = cu->slist_append(NULL, "Content-Type: application/json");
    h = cu->slist_append(h, "Accept: application/json");
    cu->easy_setopt(c, CURLOPT_URL, url);
    cu->easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cu->easy_setopt(c, CURLOPT_POSTFIELDS, body);
    cu->easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    cu->easy_setopt(c, CURLOPT_WRITEDATA, out);
    cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    cu->easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(c, CURLOPT_USERAGENT, "gaterouter-x402/" GR_VERSION);
    CURLcode rc = cu->easy_perform(c);
    long status = 0;
    if (rc == CURLE_OK) cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else snprintf(err, errlen, "%s", cu->easy_strerror(rc));
    cu->slist_free_all(h);
    return status;
}

/* JSON-RPC call. R_OK: *result (caller deletes the returned root via *root).
 * R_TRANSIENT: transport/HTTP trouble. R_PERMANENT: an RPC error object
 * (message copied to err). */
static outcome rpc(gr_x402_settler *s, const char *url, const char *method, const char *params, cJSON **root,
                   const cJSON **result, char *err, size_t errlen) {
    *root = NULL;
    *result = NULL;
    size_t n = strlen(method) + strlen(params) + 64;
    char *body = gr_xmalloc(n);
    snprintf(body, n, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}", method, params);
    membuf b = {0};
    long st = http_post_json(s, url, body, 10000, &b, err, errlen);
    free(body);
    outcome o = R_TRANSIENT;
    if (st == 0) goto out;
    if (st != 200) {
        snprintf(err, errlen, "%s: HTTP %ld", method, st);
        goto out;
    }
    cJSON *j = cJSON_Parse(b.p ? b.p : "");
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        snprintf(err, errlen, "%s: unparsable JSON-RPC reply", method);
        goto out;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    if (e && !cJSON_IsNull(e)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(e, "data"); /* revert data: custom error selector */
        snprintf(err, errlen, "%s: %s%s%.74s", method, cJSON_IsString(m) ? m->valuestring : "error",
                 cJSON_IsString(d) ? " data=" : "", cJSON_IsString(d) ? d->valuestring : "");
        cJSON_Delete(j);
        o = R_PERMANENT;
        goto out;
    }
    *root = j;
    *result = cJSON_GetObjectItemCaseSensitive(j, "result");
    o = R_OK;
out:
    free(b.p);
    return o;
}

/* "0x1a" -> 26; false when not a quantity fitting 64 bits. */
static bool parse_qty(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsString(v)) return false;
    const char *p = v->valuestring;
    if (p[0] != '0' || (p[1] != 'x' && p[1] != 'X') || !p[2]) return false;
    uint64_t x = 0;
    size_t nd = 0;
    for (p += 2; *p; p++, nd++) {
        int d = (*p >= '0' && *p <= '9') ? *p - '0' : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
              : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
        if (d < 0 || nd >= 16) return false;
        x = (x << 4) | (uint64_t)d;
    }
    *out = x;
    return true;
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
            bool ok = parse_qty(cJSON_GetObjectItemCaseSensitive(res, "status"), &status) && status == 1;
            cJSON_Delete(root);
            if (ok) return R_OK;
            snprintf(err, errlen, "transaction %s reverted", tx);
            return R_PERMANENT;
        }
        cJSON_Delete(root);
        lease_keep(s);
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping && deadline > gr_now_us() + 5000000u) deadline = gr_now_us() + 5000000u; /* shutting down */
        if (gr_now_us() >= deadline) {
            if (o == R_OK) snprintf(err, errlen, "no receipt for %s after %u ms", tx, wait_ms);
            return R_TRANSIENT;
        }
        sleep_ms(RECEIPT_POLL_MS);
    }
}

static outcome rpc_qty(gr_x402_settler *s, const char *url, const char *method, const char *params, uint64_t *v,
                       char *err, size_t errlen) {
    cJSON *root;
    const cJSON *res;
    outcome o = rpc(s, url, method, params, &root, &res, err, errlen);
    if (o == R_OK && !parse_qty(res, v)) {
        snprintf(err, errlen, "%s: bad quantity", method);
        o = R_TRANSIENT;
    }
    cJSON_Delete(root);
    return o;
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
        rec->tx_hash[0] = '\0'; /* dropped: submit again (the authorization is still unused) */
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
    plen = strlen(raw_hex) + 8;
    params = gr_xmalloc(plen);
    snprintf(params, plen, "[\"%s\"]", raw_hex);
    free(raw_hex);
    cJSON *root;
    const cJSON *res;
    o = rpc(s, n->rpc_url, "eth_sendRawTransaction", params, &root, &res, err, errlen);
    free(params);
    cJSON_Delete(root);
    char hash_hex[67];
    gr_evm_hex_encode(hash, 32, hash_hex);
    if (o != R_OK) {
        /* nonce trouble (another sender, a dropped tx): refetch and retry */
        if (contains_ci(err, "nonce") || contains_ci(err, "already known") || contains_ci(err, "underpriced"))
            st->nonce_known = false;
        if (contains_ci(err, "already known")) snprintf(rec->tx_hash, sizeof rec->tx_hash, "%s", hash_hex);
        return R_TRANSIENT;
    }
    st->next_nonce++;
    snprintf(rec->tx_hash, sizeof rec->tx_hash, "%s", hash_hex);
    (void)gr_x402_store_settlement_put(s->store, rec); /* a restart resumes from the receipt */
    return wait_receipt(s, n, rec->tx_hash, RECEIPT_TIMEOUT_MS, err, errlen);
}

/* ---- facilitator ---- */

static outcome settle_facilitator(gr_x402_settler *s, size_t ni, gr_x402_settle_rec *rec, char *err, size_t errlen) {
    const gr_x402_network_conf *n = &s->nets[ni];
    if (!n->facilitator_url) {
        snprintf(err, errlen, "no facilitator_url for eip155:%llu", (unsigned long long)n->chain_id);
        return R_PERMANENT;
    }
    uint8_t *payload = NULL;
    size_t plen = 0;
    if (gr_evm_b64_decode(gr_str_c(rec->header_b64), GR_X402_HEADER_MAX, &payload, &plen) != GR_OK) {
        snprintf(err, errlen, "invalid_payload");
        return R_PERMANENT;
    }
    cJSON *pp = cJSON_ParseWithLength((const char *)payload, plen);
    free(payload);
    cJSON *req = cJSON_Parse(rec->requirement_json);
    if (!pp || !req) {
        cJSON_Delete(pp);
        cJSON_Delete(req);
        snprintf(err, errlen, "invalid_payload");
        return R_PERMANENT;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "x402Version", rec->version);
    cJSON_AddItemToObject(body, "paymentPayload", pp);
    cJSON_AddItemToObject(body, "paymentRequirements", req);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) abort();
    size_t ul = strlen(n->facilitator_url) + 16;
    char *url = gr_xmalloc(ul);
    snprintf(url, ul, "%s/settle", n->facilitator_url);
    membuf b = {0};
    long st = http_post_json(s, url, text, 60000, &b, err, errlen);
    free(url);
    free(text);
    outcome o = R_TRANSIENT;
    cJSON *j = st ? cJSON_Parse(b.p ? b.p : "") : NULL;
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
    free(b.p);
    return o;
}

/* ---- the job ---- */

static void record_outcome(gr_x402_settler *s, gr_x402_settle_rec *rec, bool ok, bool upto) {
    snprintf(rec->state, sizeof rec->state, "%s", ok ? "settled" : "failed");
    if (ok) rec->error[0] = '\0';
    /* Exactly once across instances sharing the store (a job resumed by
     * another instance's start-up may be finishing here too): only the
     * caller that claims the job grants credit and records the outcome. */
    bool won = false;
    if (gr_x402_store_settlement_claim(s->store, rec->request_id, &won) != GR_OK) {
        GR_ERROR("x402: cannot record the settlement of %s", rec->request_id);
        return;
    }
    if (!won) {
        GR_WARN("x402: settlement of %s was already finished elsewhere; this outcome (%s) is not applied",
                rec->request_id, rec->state);
        return;
    }
    int64_t delta;
    if (ok) {
        /* upto settled the metered cost itself: no credit either way */
        int64_t gain = upto ? 0 : rec->paid_nusd + rec->credit_used_nusd - rec->cost_nusd;
        if (gain != 0 && gr_x402_store_credit_add(s->store, rec->payer, gain) != GR_OK)
            GR_ERROR("x402: credit for %s not recorded (%lld nusd)", rec->payer, (long long)gain);
        delta = upto ? 0 : rec->paid_nusd - rec->cost_nusd;
        gr_metrics_add(GR_M_X402, "event=\"settled\"", 1);
        GR_INFO("x402: settled %s: %s atomic from %s on eip155:%llu tx %s (credit %+lld nusd)", rec->request_id,
                rec->amount, rec->payer, (unsigned long long)rec->chain_id, rec->tx_hash[0] ? rec->tx_hash : "-",
                (long long)gain);
    } else {
        delta = -rec->credit_used_nusd;
        gr_metrics_add(GR_M_X402, "event=\"settle_failed\"", 1);
        GR_ERROR("x402: settlement of %s FAILED after %d attempt(s): %s (payer %s, %s atomic, eip155:%llu)",
                 rec->request_id, rec->attempts, rec->error, rec->payer, rec->amount,
                 (unsigned long long)rec->chain_id);
    }
    /* The ledger writer commits the request's row asynchronously (~50 ms):
     * wait for it a little. */
    bool changed = false;
    for (int i = 0; i < 60 && !changed; i++) {
        if (gr_x402_store_ledger_update(s->store, rec->request_id, rec->state, rec->tx_hash, delta, &changed) != GR_OK)
            break;
        if (!changed) sleep_ms(50);
    }
    if (!changed) GR_WARN("x402: ledger row %s not found to record settlement '%s'", rec->request_id, rec->state);
    if (upto && gr_x402_store_upto_state(s->store, rec->request_id, rec->state, rec->tx_hash) != GR_OK)
        GR_ERROR("x402: cannot record the upto settlement state of %s", rec->request_id);
    /* written last: whoever sees the final state here also finds it in the ledger */
    if (gr_x402_store_settlement_put(s->store, rec) != GR_OK)
        GR_ERROR("x402: cannot record the settlement of %s", rec->request_id);
}

static void run_job(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    char err[256] = "";
    size_t ni = 0;
    const gr_x402_network_conf *n = find_net(s, rec->chain_id, rec->asset, &ni);
    gr_x402_payment p;
    gr_x402_err perr;
    gr_x402_upto_payment up;
    gr_x402_upto_err uerr;
    outcome o = R_PERMANENT;
    /* The call to make when settling ourselves: exact -> token.transferWithAuthorization,
     * upto -> proxy.settle(permit, rec->amount, owner, witness, signature). */
    uint8_t data[GR_UPTO_SETTLE_CALLDATA_LEN > GR_EVM_TWA_CALLDATA_LEN ? GR_UPTO_SETTLE_CALLDATA_LEN
                                                                      : GR_EVM_TWA_CALLDATA_LEN];
    size_t data_len = 0;
    gr_evm_address target;
    gr_status urc = gr_x402_upto_decode(gr_str_c(rec->header_b64), &up, &uerr);
    bool upto = urc != GR_ERR_NOT_FOUND;
    if (!n) {
        snprintf(err, sizeof err, "network eip155:%llu / asset %s no longer configured",
                 (unsigned long long)rec->chain_id, rec->asset);
    } else if (upto && (urc != GR_OK || !n->has_upto)) {
        snprintf(err, sizeof err, "%s", urc != GR_OK ? gr_x402_upto_err_str(uerr) : "upto no longer configured");
    } else if (!upto && gr_x402_payment_decode(gr_str_c(rec->header_b64), &p, &perr) != GR_OK) {
        snprintf(err, sizeof err, "invalid_payload");
    } else {
        gr_status crc = GR_OK;
        if (upto) {
            gr_u256 amt;
            target = n->upto_proxy;
            data_len = GR_UPTO_SETTLE_CALLDATA_LEN;
            crc = gr_u256_from_dec(gr_str_c(rec->amount), &amt);
            if (crc == GR_OK) crc = gr_x402_upto_settle_calldata(&up, &amt, data);
            if (crc != GR_OK) /* above the signed maximum (or 0): refused by construction */
                snprintf(err, sizeof err, "%s (amount %s)",
                         crc == GR_ERR_INVALID ? gr_x402_upto_err_str(GR_UPTO_SETTLEMENT_EXCEEDS) : "invalid_payload",
                         rec->amount);
        } else {
            target = n->asset;
            data_len = GR_EVM_TWA_CALLDATA_LEN;
            crc = gr_evm_twa_calldata(&p.auth, p.signature, data);
            if (crc != GR_OK) snprintf(err, sizeof err, "invalid_exact_evm_signature: bad v");
        }
        unsigned backoff = 500;
        for (; crc == GR_OK;) {
            bool io = false;
            if (!lease(s, rec->request_id, &io)) { /* before every send: never two senders */
                if (io) {
                    GR_ERROR("x402: settlement of %s: cannot take its sending lease (store error); left pending "
                             "for the next start", rec->request_id);
                } else {
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
            if (o != R_TRANSIENT) break;
            pthread_mutex_lock(&s->mu);
            bool stopping = s->stopping;
            pthread_mutex_unlock(&s->mu);
            if (rec->attempts >= GR_X402_SETTLE_ATTEMPTS || stopping) break;
            gr_metrics_add(GR_M_X402, "event=\"settle_retry\"", 1);
            GR_WARN("x402: settlement of %s: attempt %d failed (%s); retrying in %u ms", rec->request_id,
                    rec->attempts, err, backoff);
            gr_store_strlcpy(rec->error, err, sizeof rec->error);
            (void)gr_x402_store_settlement_put(s->store, rec);
            sleep_ms(backoff);
            backoff *= 2;
        }
    }
    if (o == R_TRANSIENT) {
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stopping && rec->attempts < GR_X402_SETTLE_ATTEMPTS) { /* shutting down: resume at next start */
            gr_store_strlcpy(rec->error, err, sizeof rec->error);
            (void)gr_x402_store_settlement_put(s->store, rec);
            GR_WARN("x402: settlement of %s left pending for the next start", rec->request_id);
            s->lease_job = NULL;
            return;
        }
    }
    s->lease_job = NULL;
    gr_store_strlcpy(rec->error, err, sizeof rec->error);
    record_outcome(s, rec, o == R_OK, upto);
}

static void *settler_main(void *arg) {
    gr_x402_settler *s = arg;
    uint64_t last_prune = 0;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        while (s->count == 0 && !s->stopping) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 30;
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            if (s->count == 0) break; /* timeout: housekeeping below */
        }
        if (s->count == 0 && s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        gr_x402_settle_rec job;
        bool have = s->count > 0;
        if (have) {
            job = s->ring[s->head];
            s->head = (s->head + 1) % GR_X402_SETTLE_QUEUE;
            s->count--;
            s->busy = true;
        }
        pthread_mutex_unlock(&s->mu);
        if (have) {
            run_job(s, &job);
            gr_x402_settle_rec_dispose(&job);
            pthread_mutex_lock(&s->mu);
            s->busy = false;
            pthread_mutex_unlock(&s->mu);
        }
        uint64_t now = gr_wall_ms();
        if (now - last_prune > 60000) {
            gr_x402_store_nonce_prune(s->store, (int64_t)(now / 1000) - 60);
            last_prune = now;
        }
    }
    return NULL;
}

static bool enqueue(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    pthread_mutex_lock(&s->mu);
    bool ok = s->count < GR_X402_SETTLE_QUEUE && !s->stopping;
    if (ok) {
        s->ring[(s->head + s->count) % GR_X402_SETTLE_QUEUE] = *rec;
        s->count++;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}

gr_status gr_x402_settler_new(gr_x402_settle_mode mode, const gr_x402_network_conf *nets, size_t n,
                              gr_x402_store *store, gr_x402_settler **out, char *err, size_t errlen) {
    *out = NULL;
    gr_x402_settler *s = gr_xcalloc(1, sizeof *s);
    s->mode = mode;
    s->nets = nets;
    s->nnets = n;
    s->ns = gr_xcalloc(n ? n : 1, sizeof *s->ns);
    s->store = store;
    s->ring = gr_xcalloc(GR_X402_SETTLE_QUEUE, sizeof *s->ring);
    uint8_t rnd[8] = {0};
    if (RAND_bytes(rnd, sizeof rnd) != 1) abort(); /* no randomness: nothing else would work either */
    char hex[17];
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
    snprintf(s->owner, sizeof s->owner, "gr-%s", hex);
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
    gr_x402_settle_rec *pend = NULL;
    size_t np = 0;
    if (gr_x402_store_settlements_pending(store, &pend, &np) == GR_OK && np) {
        GR_INFO("x402: resuming %zu pending settlement(s) from the previous run", np);
        for (size_t i = 0; i < np; i++)
            if (!enqueue(s, &pend[i])) gr_x402_settle_rec_dispose(&pend[i]);
    }
    free(pend);
    if (pthread_create(&s->thread, NULL, settler_main, s) != 0) {
        snprintf(err, errlen, "x402: cannot start the settlement thread");
        gr_x402_settler_free(s);
        return GR_ERR_IO;
    }
    s->started = true;
    *out = s;
    return GR_OK;
}

void gr_x402_settler_free(gr_x402_settler *s) {
    if (!s) return;
    if (s->started) {
        pthread_mutex_lock(&s->mu);
        s->stopping = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    for (size_t i = 0; i < s->count; i++) gr_x402_settle_rec_dispose(&s->ring[(s->head + i) % GR_X402_SETTLE_QUEUE]);
    if (s->curl) gr_curl()->easy_cleanup(s->curl);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->ring);
    free(s->ns);
    free(s);
}

gr_status gr_x402_settler_submit(gr_x402_settler *s, gr_x402_settle_rec *rec) {
    snprintf(rec->state, sizeof rec->state, "pending");
    if (gr_x402_store_settlement_put(s->store, rec) != GR_OK)
        GR_ERROR("x402: cannot persist the settlement job of %s (it is still queued)", rec->request_id);
    if (enqueue(s, rec)) return GR_OK;
    GR_ERROR("x402: settlement queue full: %s stays pending until the next start", rec->request_id);
    gr_x402_settle_rec_dispose(rec);
    return GR_ERR_TOO_LARGE;
}

size_t gr_x402_settler_backlog(gr_x402_settler *s) {
    pthread_mutex_lock(&s->mu);
    size_t n = s->count + (s->busy ? 1 : 0);
    pthread_mutex_unlock(&s->mu);
    return n;
}
