/* pay_svm.c — x402 `exact` on Solana on the request path (see pay_svm.h):
 * config, offers, admission (verify → replay guard → sign, send, confirm →
 * serve). */
#include "pay_svm.h"

#include "base58.h"
#include "evm.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "services.h"
#include "svm_settle.h"
#include "svm_verify.h"
#include "trace.h"
#include "x402.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_S 60
#define DEFAULT_CONFIRM_MS 30000
#define DEFAULT_CU_PRICE 5000000ULL /* micro-lamports per compute unit: the reference facilitator's cap */
#define DEFAULT_CU_LIMIT 50000
#define MAX_CU_LIMIT 1400000        /* a transaction's most compute units */
#define DEFAULT_THREADS 4
#define DEFAULT_QUEUE 256
#define REPLAY_MARGIN_S 150         /* a blockhash lives ~60-90 s: the signed transaction is dead by then */

/* The v1 names and their CAIP-2 ids (genesis hash prefixes). */
static const struct {
    const char *v1, *caip2;
} KNOWN[] = {
    {"solana", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp"},
    {"solana-devnet", "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1"},
    {"solana-testnet", "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z"},
};

typedef struct svm_net {
    const char *v1;              /* NULL: a network without a v1 name */
    char caip2[48];
    uint8_t mint[32], pay_to[32], fee_payer[32], secret[64];
    char mint_b58[48], pay_to_b58[48], fee_payer_b58[48];
    uint32_t decimals, max_timeout_seconds, confirm_timeout_ms, max_cu_limit;
    uint64_t max_cu_price;
    char *rpc_url;
} svm_net;

struct gr_pay_svm {
    svm_net *nets;
    size_t n;
    gr_svm_settler *settler;
};

/* ---- config ---- */

static const char *str_of(const cJSON *o, const char *k) { return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k)); }

/* A decimal digit string that fits 64 bits. */
static bool dec_u64(const char *t, uint64_t *out) {
    uint64_t v = 0;
    if (!t || !*t) return false;
    for (; *t; t++) {
        if (*t < '0' || *t > '9' || v > (UINT64_MAX - (uint64_t)(*t - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(*t - '0');
    }
    *out = v;
    return true;
}

/* An unsigned integer field (number or digit string) in [min, max], def when absent. */
static bool uint_of(const cJSON *o, const char *k, uint64_t def, uint64_t min, uint64_t max, uint64_t *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v) {
        *out = def;
        return true;
    }
    uint64_t x = 0;
    if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
        v->valuedouble == (double)(uint64_t)v->valuedouble) {
        x = (uint64_t)v->valuedouble;
    } else if (cJSON_IsString(v) && !dec_u64(v->valuestring, &x)) {
        return false;
    } else if (!cJSON_IsNumber(v) && !cJSON_IsString(v)) {
        return false;
    }
    *out = x;
    return x >= min && x <= max;
}

static bool network_of(const char *name, svm_net *n) {
    for (size_t i = 0; i < GR_ARRAY_LEN(KNOWN); i++)
        if (!strcmp(name, KNOWN[i].v1) || !strcmp(name, KNOWN[i].caip2)) {
            n->v1 = KNOWN[i].v1;
            snprintf(n->caip2, sizeof n->caip2, "%s", KNOWN[i].caip2);
            return true;
        }
    /* solana:<genesis hash, base58, at most 32 characters> */
    size_t len = strlen(name);
    if (strncmp(name, "solana:", 7) != 0 || len == 7 || len > 7 + 32) return false;
    for (const char *c = name + 7; *c; c++)
        if (!strchr("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", *c)) return false;
    n->v1 = NULL;
    snprintf(n->caip2, sizeof n->caip2, "%s", name);
    return true;
}

static bool key_of(const cJSON *o, const char *k, uint8_t out[32], char b58[48]) {
    const char *s = str_of(o, k);
    if (!s || !gr_base58_decode(s, strlen(s), out, 32)) return false;
    return gr_base58_encode(out, 32, b58, 48);
}

bool gr_pay_svm_is_entry(const cJSON *entry) {
    const char *net = str_of(entry, "network");
    return net && (!strcmp(net, "solana") || !strncmp(net, "solana-", 7) || !strncmp(net, "solana:", 7));
}

static bool parse_net(const cJSON *o, size_t i, bool self_settle, svm_net *n, char *err, size_t errlen) {
    const char *net = str_of(o, "network");
    uint64_t v;
    if (!net || !network_of(net, n)) {
        snprintf(err, errlen, "x402.networks[%zu].network: want solana, solana-devnet, solana-testnet or solana:<genesis hash>",
                 i);
        return false;
    }
    if (!key_of(o, "asset", n->mint, n->mint_b58)) {
        snprintf(err, errlen, "x402.networks[%zu].asset: want the token mint (a base58 Solana address)", i);
        return false;
    }
    if (!key_of(o, "pay_to", n->pay_to, n->pay_to_b58) && !key_of(o, "payTo", n->pay_to, n->pay_to_b58)) {
        snprintf(err, errlen, "x402.networks[%zu].pay_to: want the receiving wallet (a base58 Solana address)", i);
        return false;
    }
    if (str_of(o, "name") || str_of(o, "version") || cJSON_GetObjectItemCaseSensitive(o, "relayer_key") ||
        cJSON_GetObjectItemCaseSensitive(o, "permit2") || cJSON_GetObjectItemCaseSensitive(o, "upto_proxy")) {
        snprintf(err, errlen, "x402.networks[%zu]: name, version, relayer_key, permit2 and upto_proxy are EVM settings; "
                 "a Solana network takes fee_payer_key", i);
        return false;
    }
    if (!uint_of(o, "decimals", 6, 0, 9, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].decimals: want the mint's decimals, 0..9 (USDC: 6)", i);
        return false;
    }
    n->decimals = (uint32_t)v;
    if (!uint_of(o, "max_timeout_seconds", DEFAULT_TIMEOUT_S, 10, 86400, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].max_timeout_seconds: want 10..86400", i);
        return false;
    }
    n->max_timeout_seconds = (uint32_t)v;
    if (!uint_of(o, "max_compute_unit_price", DEFAULT_CU_PRICE, 0, DEFAULT_CU_PRICE, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].max_compute_unit_price: want 0..5000000 micro-lamports", i);
        return false;
    }
    n->max_cu_price = v;
    if (!uint_of(o, "max_compute_unit_limit", DEFAULT_CU_LIMIT, 1000, MAX_CU_LIMIT, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].max_compute_unit_limit: want 1000..1400000 compute units", i);
        return false;
    }
    n->max_cu_limit = (uint32_t)v;
    if (!uint_of(o, "confirm_timeout_ms", DEFAULT_CONFIRM_MS, 1000, 120000, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].confirm_timeout_ms: want 1000..120000", i);
        return false;
    }
    n->confirm_timeout_ms = (uint32_t)v;
    const char *fk = str_of(o, "fee_payer_key"), *url = str_of(o, "rpc_url");
    if (!fk || !gr_svm_keypair_parse(fk, n->secret, n->fee_payer)) {
        snprintf(err, errlen, "x402.networks[%zu].fee_payer_key: want the fee payer's key (base58 of its 64-byte "
                 "keypair or 32-byte seed)", i);
        return false;
    }
    gr_base58_encode(n->fee_payer, 32, n->fee_payer_b58, sizeof n->fee_payer_b58);
    if (!memcmp(n->fee_payer, n->pay_to, 32)) {
        snprintf(err, errlen, "x402.networks[%zu]: the fee payer must not be pay_to (it would sign for its own funds)", i);
        return false;
    }
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        snprintf(err, errlen, "x402.networks[%zu].rpc_url: a Solana network needs its JSON-RPC URL (http:// or https://)", i);
        return false;
    }
    if (!self_settle) {
        snprintf(err, errlen, "x402.networks[%zu]: Solana payments settle themselves (settle: self)", i);
        return false;
    }
    n->rpc_url = gr_xstrdup(url);
    return true;
}

gr_pay_svm *gr_pay_svm_new(const cJSON *x, bool self_settle, bool serve, char *err, size_t errlen) {
    const cJSON *nets = cJSON_GetObjectItemCaseSensitive(x, "networks"), *it;
    size_t count = 0, i = 0;
    err[0] = '\0';
    cJSON_ArrayForEach(it, nets) count += gr_pay_svm_is_entry(it);
    if (!count) return NULL;
    uint64_t threads, queue;
    if (!uint_of(x, "solana_settle_threads", DEFAULT_THREADS, 1, 64, &threads) ||
        !uint_of(x, "solana_settle_queue_max", DEFAULT_QUEUE, 1, 1000000, &queue)) {
        snprintf(err, errlen, "x402.solana_settle_threads: want 1..64; x402.solana_settle_queue_max: want 1..1000000");
        return NULL;
    }
    gr_pay_svm *s = gr_xcalloc(1, sizeof *s);
    s->nets = gr_xcalloc(count, sizeof *s->nets);
    cJSON_ArrayForEach(it, nets) {
        if (gr_pay_svm_is_entry(it) && !parse_net(it, i, self_settle, &s->nets[s->n++], err, errlen)) goto fail;
        i++;
    }
    for (size_t a = 0; a < s->n; a++)
        for (size_t b = 0; b < a; b++)
            if (!strcmp(s->nets[a].caip2, s->nets[b].caip2) && !memcmp(s->nets[a].mint, s->nets[b].mint, 32)) {
                snprintf(err, errlen, "x402.networks: %s with mint %s is listed twice", s->nets[a].caip2, s->nets[a].mint_b58);
                goto fail;
            }
    if (serve && gr_svm_settler_new((unsigned)threads, (unsigned)queue, &s->settler, err, errlen) != GR_OK) goto fail;
    for (size_t k = 0; serve && k < s->n; k++)
        GR_INFO("x402: accepting %s on %s (%s), payTo %s, fee payer %s", s->nets[k].mint_b58, s->nets[k].caip2,
                s->nets[k].v1 ? s->nets[k].v1 : "v2 only", s->nets[k].pay_to_b58, s->nets[k].fee_payer_b58);
    return s;
fail:
    gr_pay_svm_free(s);
    return NULL;
}

void gr_pay_svm_shutdown(gr_pay_svm *s) {
    if (s) gr_svm_settler_shutdown(s->settler);
}

void gr_pay_svm_free(gr_pay_svm *s) {
    if (!s) return;
    gr_svm_settler_free(s->settler);
    for (size_t i = 0; i < s->n; i++) {
        free(s->nets[i].rpc_url);
        memset(s->nets[i].secret, 0, sizeof s->nets[i].secret);
    }
    free(s->nets);
    free(s);
}

/* ---- the offer ---- */

static uint64_t quote_atomic(int64_t nusd, const svm_net *n) {
    int64_t unit = 1;
    for (uint32_t d = n->decimals; d < 9; d++) unit *= 10; /* nano-USD per atomic unit */
    return nusd <= 0 ? 0 : (uint64_t)((nusd + unit - 1) / unit);
}

size_t gr_pay_svm_offers(const gr_pay_svm *s, int version) {
    size_t k = 0;
    for (size_t i = 0; s && i < s->n; i++) k += version == 2 || s->nets[i].v1;
    return k;
}

void gr_pay_svm_add_accepts(const gr_pay_svm *s, cJSON *accepts, int version, int64_t quote_nusd,
                            const char *resource, const char *desc) {
    for (size_t i = 0; s && i < s->n; i++) {
        const svm_net *n = &s->nets[i];
        if (version == 1 && !n->v1) continue;
        char amount[24];
        snprintf(amount, sizeof amount, "%llu", (unsigned long long)quote_atomic(quote_nusd, n));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "scheme", "exact");
        cJSON_AddStringToObject(o, "network", version == 1 ? n->v1 : n->caip2);
        cJSON_AddStringToObject(o, version == 1 ? "maxAmountRequired" : "amount", amount);
        if (version == 1) {
            cJSON_AddStringToObject(o, "resource", resource ? resource : "");
            cJSON_AddStringToObject(o, "description", desc ? desc : "");
            cJSON_AddStringToObject(o, "mimeType", "application/json");
        }
        cJSON_AddStringToObject(o, "asset", n->mint_b58);
        cJSON_AddStringToObject(o, "payTo", n->pay_to_b58);
        cJSON_AddNumberToObject(o, "maxTimeoutSeconds", n->max_timeout_seconds);
        cJSON *extra = cJSON_AddObjectToObject(o, "extra");
        cJSON_AddStringToObject(extra, "feePayer", n->fee_payer_b58);
        cJSON_AddItemToArray(accepts, o);
    }
}

void gr_pay_svm_describe(const gr_pay_svm *s, cJSON *accepts) {
    for (size_t i = 0; s && i < s->n; i++) {
        const svm_net *n = &s->nets[i];
        cJSON *a = cJSON_CreateObject();
        cJSON_AddStringToObject(a, "scheme", "exact");
        cJSON_AddStringToObject(a, "network", n->caip2);
        if (n->v1) cJSON_AddStringToObject(a, "network_v1", n->v1);
        cJSON_AddStringToObject(a, "asset", n->mint_b58);
        cJSON_AddStringToObject(a, "payTo", n->pay_to_b58);
        cJSON_AddNumberToObject(a, "decimals", n->decimals);
        cJSON_AddNumberToObject(a, "maxTimeoutSeconds", n->max_timeout_seconds);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(a, "extra"), "feePayer", n->fee_payer_b58);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(a, "schemes"), cJSON_CreateString("exact"));
        cJSON_AddStringToObject(a, "settlement", "before the reply: sent and confirmed, then served");
        cJSON_AddItemToArray(accepts, a);
    }
}

/* ---- admission ---- */

static cJSON *decode_header(const char *b64) {
    uint8_t *json = NULL;
    size_t len = 0;
    if (!b64 || gr_evm_b64_decode(gr_str_c(b64), GR_X402_HEADER_MAX, &json, &len) != GR_OK) return NULL;
    cJSON *root = cJSON_ParseWithLength((const char *)json, len);
    free(json);
    return root;
}

/* The network a payment names: v2 accepted.network, v1 network. */
static const char *network_in(const cJSON *root) {
    const char *n = str_of(cJSON_GetObjectItemCaseSensitive(root, "accepted"), "network");
    return n ? n : str_of(root, "network");
}

bool gr_pay_svm_claims(const char *header_b64) {
    cJSON *root = decode_header(header_b64);
    const char *n = network_in(root);
    bool svm = n && (!strcmp(n, "solana") || !strncmp(n, "solana-", 7) || !strncmp(n, "solana:", 7));
    cJSON_Delete(root);
    return svm;
}

/* Per-request state, in r's pool. */
typedef struct svm_req {
    gr_pay_svm *s;
    gr_pay_svm_admission a;
    const svm_net *net;
    const char *network; /* as the payment named it */
    char payer[48];
    char signature[GR_BASE58_MAX_64];
    int span;
} svm_req;

/* PAYMENT-RESPONSE (v2) / X-PAYMENT-RESPONSE (v1): the SettlementResponse. */
static void settlement_header(gr_request *r, const svm_req *q, bool ok, const char *reason, const char *tx) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", ok);
    if (reason) cJSON_AddStringToObject(o, "errorReason", reason);
    cJSON_AddStringToObject(o, "transaction", tx ? tx : "");
    cJSON_AddStringToObject(o, "network", q->network ? q->network : "");
    if (q->payer[0]) cJSON_AddStringToObject(o, "payer", q->payer); /* unknown before the transfer was found */
    char *t = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!t) return;
    char *b64 = gr_evm_b64_encode((const uint8_t *)t, strlen(t), NULL);
    cJSON_free(t);
    gr_request_add_header(r, q->a.version == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE", b64);
    free(b64);
}

static void refuse(gr_request *r, svm_req *q, const char *code, const char *tx) {
    settlement_header(r, q, false, code, tx);
    q->a.reject(r, code);
}

typedef struct reserve_job {
    gr_x402_store *store;
    char key[200], payer[48];
    int64_t valid_before;
    gr_status rc;
    gr_x402_admit_result res;
    char *signed_b64; /* the signed transaction: owned here until handed to the settle job */
    svm_req *q;
} reserve_job;

static void reserve_run(void *conn, void *arg) {
    reserve_job *j = arg;
    gr_store_conns *c = conn;
    gr_x402_store *st = c && c->x402 ? c->x402 : j->store;
    j->rc = gr_x402_store_admit(st, j->key, j->valid_before, j->payer, 0, NULL, NULL, NULL, 0, &j->res);
}

/* The settle job and the request state it reports to. */
typedef struct settle_arg {
    gr_svm_settle_job job; /* first: settle_run takes it as the job */
    svm_req *q;            /* in r's pool: read only in the resume, on r's loop */
} settle_arg;

static void settle_run(void *conn, void *arg) { gr_svm_settle_run(conn, &((settle_arg *)arg)->job); }

static void settle_free(void *arg) {
    settle_arg *a = arg;
    free(a->job.tx_b64);
    free(a);
}

static void settled(gr_request *r, void *arg, const char *err) {
    settle_arg *sa = arg;
    svm_req *q = sa->q;
    gr_svm_settle_job *j = &sa->job;
    gr_trace_span_end(r, q->span, err ? err : j->outcome == GR_SVM_SETTLED ? NULL : j->error);
    if (err || j->outcome == GR_SVM_UNKNOWN) { /* sent, maybe: never served, the signature says where to look */
        GR_WARN("x402: %s Solana transaction %s unconfirmed: %s", r->id, q->signature, err ? err : j->error);
        gr_metrics_add(GR_M_X402, "event=\"svm_unconfirmed\"", 1);
        settlement_header(r, q, false, "transaction_confirmation_timeout", q->signature);
        gr_request_fail(r, 503, "api_error", "x402_settlement_unconfirmed", NULL,
                        "The payment transaction %s was sent but not confirmed in time; nothing was served. "
                        "Look it up before paying again.", q->signature);
        return;
    }
    if (j->outcome != GR_SVM_SETTLED) {
        GR_INFO("x402: %s Solana transaction %s not settled: %s", r->id, q->signature, j->error);
        refuse(r, q, j->outcome == GR_SVM_FAILED ? "transaction_failed" : "transaction_simulation_failed",
               j->outcome == GR_SVM_FAILED ? q->signature : "");
        return;
    }
    GR_INFO("x402: %s settled on %s: %s (payer %s, %llu ms)", r->id, q->network, q->signature, q->payer,
            (unsigned long long)j->settle_ms);
    gr_metrics_add(GR_M_X402, "event=\"settled\"", 1);
    settlement_header(r, q, true, NULL, q->signature);
    gr_request_add_header(r, "x-gaterouter-x402-settlement", "settled");
    gr_request_add_header(r, "x-gaterouter-x402-payer", q->payer);
    if (q->a.max_out > 0) r->cap_max_tokens = q->a.max_out;
    r->max_cost_nusd = q->a.max_cost_nusd;
    q->a.admitted(r);
}

static void reserved(gr_request *r, void *arg, const char *err) {
    reserve_job *rj = arg;
    svm_req *q = rj->q;
    if (err || rj->rc != GR_OK) {
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                        "The payment store could not record the payment; nothing was served or sent.");
        return;
    }
    if (rj->res == GR_X402_ADMIT_REPLAY) {
        refuse(r, q, "duplicate_settlement", "");
        return;
    }
    settle_arg *sa = gr_xcalloc(1, sizeof *sa);
    sa->q = q;
    sa->job.tx_b64 = rj->signed_b64;
    rj->signed_b64 = NULL;
    snprintf(sa->job.signature, sizeof sa->job.signature, "%s", q->signature);
    sa->job.rpc_url = q->net->rpc_url;
    sa->job.confirm_timeout_ms = q->net->confirm_timeout_ms;
    gr_request_job job = {.run = settle_run, .free_arg = settle_free, .resume = settled, .arg = sa,
                          .exec = gr_svm_settler_exec(q->s->settler), .timeout_ms = q->net->confirm_timeout_ms + 5000};
    q->span = gr_trace_span_begin(r, "x402.svm_settle");
    if (gr_request_store_job(r, &job) != GR_OK) {
        settle_free(sa);
        gr_trace_span_end(r, q->span, "overloaded");
        gr_request_fail(r, 503, "api_error", "x402_settlement_overloaded", NULL,
                        "Too many Solana settlements are waiting (x402.solana_settle_queue_max); nothing was sent.");
    }
}

static void reserve_free(void *arg) {
    reserve_job *rj = arg;
    free(rj->signed_b64);
    free(rj);
}

static const svm_net *net_named(const gr_pay_svm *s, const char *name) {
    for (size_t i = 0; name && i < s->n; i++)
        if (!strcmp(name, s->nets[i].caip2) || (s->nets[i].v1 && !strcmp(name, s->nets[i].v1))) return &s->nets[i];
    return NULL;
}

void gr_pay_svm_admit(gr_request *r, gr_pay_svm *s, const gr_pay_svm_admission *a, const char *header_b64) {
    svm_req *q = gr_pool_calloc(r->pool, sizeof *q);
    q->s = s;
    q->a = *a;
    cJSON *root = decode_header(header_b64);
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "x402Version");
    if (cJSON_IsNumber(ver) && (ver->valueint == 1 || ver->valueint == 2)) q->a.version = ver->valueint;
    const char *scheme = str_of(acc ? acc : root, "scheme");
    const char *tx_b64 = str_of(cJSON_GetObjectItemCaseSensitive(root, "payload"), "transaction");
    q->net = net_named(s, network_in(root));
    q->network = q->net ? gr_pool_strdup(r->pool, network_in(root)) : NULL;
    const char *code = NULL;
    gr_svm_offer o = {0};
    gr_svm_tx *tx = gr_xmalloc(sizeof *tx);
    if (!root || !scheme || !tx_b64) code = "invalid_payload";
    else if (strcmp(scheme, "exact") != 0) code = "unsupported_scheme";
    else if (!q->net) code = "invalid_network";
    else if (gr_svm_tx_parse_b64(gr_str_c(tx_b64), tx) != GR_OK)
        code = "invalid_exact_svm_payload_transaction_could_not_be_decoded";
    if (!code) { /* what it must pay: the quote (v2: the amount it accepted, if not less) */
        const svm_net *n = q->net;
        o = (gr_svm_offer){.amount = quote_atomic(a->max_cost_nusd, n), .decimals = (uint8_t)n->decimals,
                           .max_cu_price = n->max_cu_price, .max_cu_limit = n->max_cu_limit};
        memcpy(o.mint, n->mint, 32);
        memcpy(o.pay_to, n->pay_to, 32);
        memcpy(o.fee_payer, n->fee_payer, 32);
        uint64_t accepted = 0;
        if (acc && (!dec_u64(str_of(acc, "amount"), &accepted) || accepted < o.amount))
            code = "invalid_exact_svm_payload_amount_mismatch";
        else if (acc)
            o.amount = accepted;
    }
    cJSON_Delete(root);
    gr_svm_verdict v = {0};
    if (!code) {
        int vspan = gr_trace_span_begin(r, "x402.verify");
        if (gr_svm_verify(&o, tx, &v) != GR_OK) code = v.reason;
        gr_trace_span_end(r, vspan, code);
    }
    if (v.has_payer) gr_base58_encode(v.payer, 32, q->payer, sizeof q->payer);
    if (code) {
        free(tx);
        refuse(r, q, code, "");
        return;
    }
    /* The replay guard: this signed transaction is spent once, here, before it is sent. */
    char ps[GR_BASE58_MAX_64];
    gr_base58_encode(v.payer_sig, 64, ps, sizeof ps);
    reserve_job *rj = gr_xcalloc(1, sizeof *rj);
    rj->store = a->store;
    rj->q = q;
    snprintf(rj->key, sizeof rj->key, "svm:%s:%s", q->net->caip2, ps);
    snprintf(rj->payer, sizeof rj->payer, "%s", q->payer);
    rj->valid_before = (int64_t)(gr_wall_ms() / 1000) + q->net->max_timeout_seconds + REPLAY_MARGIN_S;
    gr_status src = gr_svm_sign_fee_payer(tx, q->net->secret, &rj->signed_b64, q->signature);
    free(tx);
    if (src != GR_OK) {
        reserve_free(rj);
        gr_request_fail(r, 500, "api_error", "x402_sign_failed", NULL, "could not sign as the fee payer");
        return;
    }
    gr_request_job job = {.run = reserve_run, .free_arg = reserve_free, .resume = reserved, .arg = rj};
    if (gr_request_store_job(r, &job) != GR_OK) {
        reserve_free(rj);
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                        "The payment store is overloaded (store.queue_max calls waiting); nothing was served.");
    }
}
