/* pay_x402.c — x402 on the request path (see pay_x402.h): the `x402:` config
 * section, the 402 quote (v1 body + v2 PAYMENT-REQUIRED header), payment
 * admission (decode, local verification, credit, nonce replay guard, token
 * cap), the settlement header at reply time, and at request end the hand-off
 * to the settlement thread (x402_settle.c) with the ledger fields; plus the
 * discovery endpoints GET /v1/x402/pricing and GET /v1/x402/credit.
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
#include "pay_x402.h"

#include "http_reply.h"
#include "http_server.h"
#include "log.h"
#include "meter.h"
#include "meter_defaults.h"
#include "meter_hold.h"
#include "metrics.h"
#include "pipeline.h"
#include "request.h"
#include "route.h"
#include "route_verify.h"
#include "services.h"
#include "shared.h"
#include "store_exec.h"
#include "trace.h"
#include "keccak.h"
#include "x402.h"
#include "x402_discovery.h"
#include "x402_receipt.h"
#include "doc_cache.h"
#include "x402_preflight.h"
#include "x402_settle.h"
#include "x402_siwx.h"
#include "x402_store.h"
#include "x402_upto.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
};

typedef enum { XS_NONE = 0, XS_QUOTED, XS_REJECTED, XS_ADMITTED, XS_REPLAYED } x402_phase;

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

/* ---- config ---- */

static const char *scalar(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsNumber(v) && v->valuestring) return v->valuestring; /* numbers keep their YAML text */
    return NULL;
}

static bool uint_field(const cJSON *o, const char *k, uint64_t def, uint64_t max, uint64_t *out) {
    const char *s = scalar(o, k);
    if (!s) {
        *out = def;
        return !cJSON_GetObjectItemCaseSensitive(o, k) || cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, k));
    }
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || v > max) return false;
    *out = v;
    return true;
}

/* x402.<path>: an integer min..max (def when absent); false with err set. */
static bool bounded_field(const cJSON *o, const char *k, const char *path, uint64_t def, uint64_t min, uint64_t max,
                          uint64_t *out, char *err, size_t errlen) {
    if (uint_field(o, k, def, max, out) && *out >= min) return true;
    snprintf(err, errlen, "x402.%s: want %llu..%llu", path, (unsigned long long)min, (unsigned long long)max);
    return false;
}

static char *dup_url(const char *s) {
    if (!s || !*s) return NULL;
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/') n--;
    return gr_xstrndup(s, n);
}

static void free_nets(gr_pay_x402 *p) {
    for (size_t i = 0; i < p->nnets; i++) {
        gr_x402_network_conf *n = &p->nets[i];
        free(n->asset_name);
        free(n->asset_version);
        free(n->rpc_url);
        free(n->facilitator_url);
        memset(n->relayer_key, 0, sizeof n->relayer_key);
    }
    free(p->nets);
    p->nets = NULL;
    p->nnets = 0;
}

/* A 32-byte private key in hex (0x-prefixed or bare) and its address. */
static bool parse_privkey(const char *hex, uint8_t key[32], gr_evm_address *addr) {
    gr_str ks = gr_str_c(hex);
    char buf[67];
    if (ks.len == 64) { /* accept bare hex */
        snprintf(buf, sizeof buf, "0x%s", hex);
        ks = gr_str_c(buf);
    }
    return gr_evm_hex_decode(ks, key, 32) == GR_OK && gr_evm_privkey_to_address(key, addr) == GR_OK;
}

static bool parse_network(const cJSON *o, size_t i, gr_x402_network_conf *n, char *err, size_t errlen) {
    const char *net = scalar(o, "network"), *asset = scalar(o, "asset"), *pay_to = scalar(o, "pay_to");
    const char *name = scalar(o, "name"), *version = scalar(o, "version");
    if (!pay_to) pay_to = scalar(o, "payTo");
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "x402.networks[%zu]: must be a mapping", i);
        return false;
    }
    if (!net || gr_x402_network_parse(gr_str_c(net), &n->chain_id) != GR_OK) {
        snprintf(err, errlen, "x402.networks[%zu].network: want a known v1 name (base, base-sepolia, ...) or eip155:<chain id>",
                 i);
        return false;
    }
    if (!asset || gr_evm_address_parse(gr_str_c(asset), true, &n->asset) != GR_OK) {
        snprintf(err, errlen, "x402.networks[%zu].asset: want the token contract address (0x + 40 hex)", i);
        return false;
    }
    if (!pay_to || gr_evm_address_parse(gr_str_c(pay_to), true, &n->pay_to) != GR_OK ||
        gr_evm_address_is_zero(&n->pay_to)) {
        snprintf(err, errlen, "x402.networks[%zu].pay_to: want the receiving address (0x + 40 hex)", i);
        return false;
    }
    if (!name || !*name || !version || !*version || strlen(name) >= GR_X402_EXTRA_MAX ||
        strlen(version) >= GR_X402_EXTRA_MAX) {
        snprintf(err, errlen, "x402.networks[%zu]: name and version (the token's EIP-712 domain) are required", i);
        return false;
    }
    n->asset_name = gr_xstrdup(name);
    n->asset_version = gr_xstrdup(version);
    n->rpc_url = dup_url(scalar(o, "rpc_url"));
    n->facilitator_url = dup_url(scalar(o, "facilitator_url"));
    uint64_t v;
    if (!uint_field(o, "max_timeout_seconds", DEFAULT_TIMEOUT_S, 86400, &v) || v < 10) {
        snprintf(err, errlen, "x402.networks[%zu].max_timeout_seconds: want 10..86400", i);
        return false;
    }
    n->max_timeout_seconds = (uint32_t)v;
    if (!uint_field(o, "decimals", 6, 9, &v)) {
        snprintf(err, errlen, "x402.networks[%zu].decimals: want 0..9 (USDC/USDT: 6)", i);
        return false;
    }
    n->decimals = (uint32_t)v;
    const char *key = scalar(o, "relayer_key");
    if (key && *key) {
        if (!parse_privkey(key, n->relayer_key, &n->relayer)) {
            snprintf(err, errlen, "x402.networks[%zu].relayer_key: want a 32-byte hex private key", i);
            return false;
        }
        n->has_relayer = true;
    }
    /* upto: both contracts named, else only exact is offered on this network */
    const char *p2 = scalar(o, "permit2"), *proxy = scalar(o, "upto_proxy"), *fac = scalar(o, "facilitator_address");
    if (p2 || proxy) {
        if (!p2 || !proxy || gr_evm_address_parse(gr_str_c(p2), true, &n->permit2) != GR_OK ||
            gr_evm_address_parse(gr_str_c(proxy), true, &n->upto_proxy) != GR_OK) {
            snprintf(err, errlen, "x402.networks[%zu]: upto needs both permit2 and upto_proxy (contract addresses)", i);
            return false;
        }
        if (fac && gr_evm_address_parse(gr_str_c(fac), true, &n->upto_facilitator) != GR_OK) {
            snprintf(err, errlen, "x402.networks[%zu].facilitator_address: want the facilitator's address", i);
            return false;
        }
        n->has_upto = true;
    }
    return true;
}

/* ---- config: the `x402:` section (config_sections.c runs this at load) ---- */

const gr_conf_key gr_conf_x402_keys[] = {
    {"enabled", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "false turns the section off"},
    {"settle", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "self, facilitator or none"},
    {"default_max_tokens", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "price quote when a request has no max_tokens"},
    {"public_url", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "resource URL base in payment requirements"},
    {"networks", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "accepted networks/assets"},
    {"settle_before_response", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "true: a non-streamed paid reply waits (bounded) until the settlement transaction hash is known"},
    {"settle_before_response_timeout_ms", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "how long it may wait, 100..120000 (default 10000)"},
    {"instance_id", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "this instance's settler id (default <hostname>:<port>); unique among live instances, stable across restarts"},
    {"heartbeat_interval_ms", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "liveness heartbeat in the store, 50..60000"},
    {"instance_dead_after_ms", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "an instance silent this long is dead and its jobs are taken over (>= 2 heartbeats)"},
    {"sweep_interval_ms", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "how often orphaned jobs are looked for, 50..3600000"},
    {"preflight", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "payer check before serving: enabled, timeout_ms, cache_ms, threads, queue_max, fail_open"},
    {"payment_id_ttl_s", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "payment-identifier: how long an id and its stored reply are kept, 60..2592000 (default 86400)"},
    {"payment_id_max_reply_bytes", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "payment-identifier: largest reply kept for retries, 1024..67108864 (default 1048576)"},
    {"receipt_key", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "32-byte hex private key that signs offer-receipt receipts of paid replies (optional)"},
    {"siwx", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "sign-in-with-x credit sessions: true advertises the challenge and serves signed requests from credit (default false)"},
    {"siwx_max_age_s", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "sign-in-with-x: how long a challenge (issuedAt) stays valid, 10..3600 (default 300)"},
    GR_CONF_END,
};

const gr_conf_key gr_conf_x402_network_keys[] = {
    {"network", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "v1 name (base, base-sepolia, ...) or eip155:<chain id>; required"},
    {"asset", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "token contract address (0x + 40 hex); required"},
    {"pay_to", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "receiving address; required"},
    {"payTo", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "alias of pay_to"},
    {"name", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "the token's EIP-712 domain name; required"},
    {"version", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "the token's EIP-712 domain version; required"},
    {"rpc_url", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "JSON-RPC endpoint (settle: self)"},
    {"facilitator_url", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "facilitator base URL (settle: facilitator)"},
    {"max_timeout_seconds", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "authorisation lifetime asked of the payer, 10..86400 (default 300)"},
    {"decimals", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "token decimals 0..9 (default 6)"},
    {"relayer_key", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "32-byte hex private key that pays gas (settle: self)"},
    {"permit2", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "Permit2 contract (upto scheme)"},
    {"upto_proxy", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "upto proxy contract (upto scheme)"},
    {"facilitator_address", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "address that calls settle() for upto with a facilitator"},
    GR_CONF_END,
};

/* Liveness of the settling instances (x402_settle.h): instance_id (default
 * <hostname>:<listen port>, unique among live instances and stable across a
 * restart), heartbeat_interval_ms, instance_dead_after_ms, sweep_interval_ms. */
static bool parse_liveness(const cJSON *x, const gr_config *cfg, char id[GR_X402_INSTANCE_ID_MAX],
                           gr_x402_settler_opts *so, char *err, size_t errlen) {
    memset(so, 0, sizeof *so);
    const char *given = scalar(x, "instance_id");
    if (given) {
        size_t n = strlen(given);
        bool ok = n > 0 && n < GR_X402_INSTANCE_ID_MAX;
        for (size_t i = 0; ok && i < n; i++) ok = given[i] > ' ' && given[i] < 0x7f;
        if (!ok) {
            snprintf(err, errlen, "x402.instance_id: want 1..%d printable characters without spaces",
                     GR_X402_INSTANCE_ID_MAX - 1);
            return false;
        }
        snprintf(id, GR_X402_INSTANCE_ID_MAX, "%s", given);
    } else {
        char host[64] = "localhost";
        if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(id, GR_X402_INSTANCE_ID_MAX, "%s:%u", host, (unsigned)cfg->server.port);
    }
    so->instance_id = id;
    uint64_t hb, dead, sweep;
    if (!bounded_field(x, "heartbeat_interval_ms", "heartbeat_interval_ms", GR_X402_HEARTBEAT_MS, 50, 60000, &hb, err,
                       errlen) ||
        !bounded_field(x, "sweep_interval_ms", "sweep_interval_ms", GR_X402_SWEEP_MS, 50, 3600000, &sweep, err,
                       errlen))
        return false;
    if (!uint_field(x, "instance_dead_after_ms", GR_X402_DEAD_AFTER_MS, 3600000, &dead) || dead < 2 * hb) {
        snprintf(err, errlen, "x402.instance_dead_after_ms: want at least twice heartbeat_interval_ms (%llu) and "
                              "at most 3600000", (unsigned long long)(2 * hb));
        return false;
    }
    so->heartbeat_ms = (uint32_t)hb;
    so->dead_after_ms = (uint32_t)dead;
    so->sweep_ms = (uint32_t)sweep;
    return true;
}

/* x402.preflight (x402_preflight.h): enabled (default true), timeout_ms,
 * cache_ms, threads, queue_max, fail_open. */
static bool parse_preflight(const cJSON *x, gr_x402_preflight_opts *o, char *err, size_t errlen) {
    const cJSON *pf = cJSON_GetObjectItemCaseSensitive(x, "preflight");
    *o = (gr_x402_preflight_opts){.enabled = true};
    if (pf && !cJSON_IsNull(pf) && !cJSON_IsObject(pf)) {
        snprintf(err, errlen, "x402.preflight: must be a mapping (enabled, timeout_ms, cache_ms, threads, queue_max, "
                              "fail_open)");
        return false;
    }
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(pf, "enabled"), *fo = cJSON_GetObjectItemCaseSensitive(pf, "fail_open");
    if ((en && !cJSON_IsBool(en)) || (fo && !cJSON_IsBool(fo))) {
        snprintf(err, errlen, "x402.preflight.enabled / fail_open: want true or false");
        return false;
    }
    o->enabled = !cJSON_IsFalse(en);
    o->fail_open = cJSON_IsTrue(fo);
    uint64_t t, c, th, q;
    if (!bounded_field(pf, "timeout_ms", "preflight.timeout_ms", GR_X402_PREFLIGHT_TIMEOUT_MS, 10, 60000, &t, err,
                       errlen) ||
        !bounded_field(pf, "cache_ms", "preflight.cache_ms", GR_X402_PREFLIGHT_CACHE_MS, 0, 3600000, &c, err, errlen) ||
        !bounded_field(pf, "threads", "preflight.threads", GR_X402_PREFLIGHT_THREADS, 1, 64, &th, err, errlen) ||
        !bounded_field(pf, "queue_max", "preflight.queue_max", GR_X402_PREFLIGHT_QUEUE_MAX, 1, 1000000, &q, err,
                       errlen))
        return false;
    o->timeout_ms = (uint32_t)t;
    o->cache_ms = (uint32_t)c;
    o->threads = (unsigned)th;
    o->queue_max = (unsigned)q;
    return true;
}

typedef enum { PAY_SERVE, PAY_RECONCILE, PAY_CHECK } pay_use;
static gr_pay_x402 *pay_new(const gr_config *cfg, pay_use use, char *err, size_t errlen);

bool gr_pay_x402_check_config(const gr_config *cfg, char *err, size_t errlen) {
    gr_pay_x402 *p = pay_new(cfg, PAY_CHECK, err, errlen);
    gr_pay_x402_free(p);
    return !err[0];
}

/* config_sections.c runs this at every load (--check-config, start-up,
 * SIGHUP): the same parser gr_pay_x402_new uses, opening nothing. */
void *gr_pay_x402_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)sec; /* pay_new reads cfg->tree's x402, which is sec */
    char err[512];
    if (!gr_pay_x402_check_config(cfg, err, sizeof err)) gr_conf_fail(e, "%s", err);
    return NULL;
}

void gr_pay_x402_quiesce(gr_pay_x402 *p) {
    if (p) gr_x402_preflight_shutdown(p->preflight);
}

gr_pay_x402 *gr_pay_x402_new(const gr_config *cfg, gr_store *store, char *err, size_t errlen) {
    (void)store; /* the payment tables live in the same database, on a connection of our own */
    return pay_new(cfg, PAY_SERVE, err, errlen);
}

int gr_pay_x402_reconcile_cli(const gr_config *cfg, bool all, FILE *out) {
    char err[1024] = "";
    gr_pay_x402 *p = pay_new(cfg, PAY_RECONCILE, err, sizeof err);
    if (!p) {
        fprintf(stderr, "gaterouter x402 reconcile: %s\n", err[0] ? err : "the config has no x402 section");
        return 1;
    }
    if (!p->settler) {
        fprintf(stderr, "gaterouter x402 reconcile: x402.settle is none: nothing settles here\n");
        gr_pay_x402_free(p);
        return 1;
    }
    size_t settled, failed, expired, left;
    gr_x402_settler_reconcile(p->settler, all, &settled, &failed, &expired, &left);
    fprintf(out, "x402 reconcile: %zu settled, %zu failed, %zu expired_unsettled, %zu still pending\n", settled,
            failed, expired, left);
    gr_pay_x402_free(p);
    return left ? 3 : 0;
}

/* PAY_RECONCILE: gaterouter x402 reconcile (its own instance id, no
 * heartbeat, no sweeps, no preflight). PAY_CHECK: --check-config: the
 * section is parsed and validated, nothing is opened (returns NULL). */
static gr_pay_x402 *pay_new(const gr_config *cfg, pay_use use, char *err, size_t errlen) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(cfg->tree, "x402");
    if (err && errlen) err[0] = '\0';
    if (!x || cJSON_IsNull(x)) return NULL;
    if (!cJSON_IsObject(x)) {
        snprintf(err, errlen, "x402: must be a mapping");
        return NULL;
    }
    gr_conf_err ce = {err, errlen, false};
    gr_conf_check_keys(x, "x402", gr_conf_x402_keys, &ce);
    const cJSON *it;
    size_t idx = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(x, "networks")) {
        if (ce.failed || !cJSON_IsObject(it)) break;
        char path[48];
        snprintf(path, sizeof path, "x402.networks[%zu]", idx++);
        gr_conf_check_keys(it, path, gr_conf_x402_network_keys, &ce);
    }
    if (ce.failed) return NULL;
    const cJSON *en = cJSON_GetObjectItemCaseSensitive(x, "enabled");
    if (en && !cJSON_IsBool(en)) {
        snprintf(err, errlen, "x402.enabled: expected true or false");
        return NULL;
    }
    if (cJSON_IsFalse(en)) return NULL;
    gr_pay_x402 *p = gr_xcalloc(1, sizeof *p);
    const char *mode = scalar(x, "settle");
    if (!mode || !strcmp(mode, "self")) p->mode = GR_X402_SETTLE_SELF;
    else if (!strcmp(mode, "facilitator")) p->mode = GR_X402_SETTLE_FACILITATOR;
    else if (!strcmp(mode, "none")) p->mode = GR_X402_SETTLE_NONE;
    else {
        snprintf(err, errlen, "x402.settle: want self, facilitator or none (got '%s')", mode);
        goto fail;
    }
    uint64_t v;
    if (!uint_field(x, "default_max_tokens", DEFAULT_MAX_TOKENS, 10000000, &v) || v == 0) {
        snprintf(err, errlen, "x402.default_max_tokens: want a positive integer");
        goto fail;
    }
    p->default_max_tokens = (int64_t)v;
    p->public_url = dup_url(scalar(x, "public_url"));
    const cJSON *sbr = cJSON_GetObjectItemCaseSensitive(x, "settle_before_response");
    if (sbr && !cJSON_IsBool(sbr)) {
        snprintf(err, errlen, "x402.settle_before_response: want true or false");
        goto fail;
    }
    p->settle_before_response = cJSON_IsTrue(sbr);
    if (!bounded_field(x, "settle_before_response_timeout_ms", "settle_before_response_timeout_ms", 10000, 100, 120000,
                       &v, err, errlen))
        goto fail;
    p->settle_before_response_ms = (uint32_t)v;
    if (!bounded_field(x, "payment_id_ttl_s", "payment_id_ttl_s", 86400, 60, 2592000, &v, err, errlen)) goto fail;
    p->payment_id_ttl_ms = (int64_t)v * 1000;
    if (!bounded_field(x, "payment_id_max_reply_bytes", "payment_id_max_reply_bytes", 1048576, 1024, 67108864, &v, err,
                       errlen))
        goto fail;
    p->payment_id_max_reply_bytes = (size_t)v;
    const cJSON *sx = cJSON_GetObjectItemCaseSensitive(x, "siwx");
    if (sx && !cJSON_IsBool(sx)) {
        snprintf(err, errlen, "x402.siwx: want true or false");
        goto fail;
    }
    p->siwx = cJSON_IsTrue(sx);
    if (p->siwx && p->mode == GR_X402_SETTLE_NONE) {
        snprintf(err, errlen, "x402.siwx: needs settle: self or facilitator (credit exists only once payments settle)");
        goto fail;
    }
    if (!bounded_field(x, "siwx_max_age_s", "siwx_max_age_s", 300, 10, 3600, &v, err, errlen)) goto fail;
    p->siwx_max_age_ms = (int64_t)v * 1000;
    const char *rk = scalar(x, "receipt_key");
    if (rk && *rk) {
        if (!parse_privkey(rk, p->receipt_key, &p->receipt_signer)) {
            snprintf(err, errlen, "x402.receipt_key: want a 32-byte hex private key");
            goto fail;
        }
        p->has_receipt_key = true;
    }
    const cJSON *nets = cJSON_GetObjectItemCaseSensitive(x, "networks");
    int nn = cJSON_GetArraySize(nets);
    if (!cJSON_IsArray(nets) || nn == 0) {
        snprintf(err, errlen, "x402.networks: list at least one network/asset to accept");
        goto fail;
    }
    p->nets = gr_xcalloc((size_t)nn, sizeof *p->nets);
    for (int i = 0; i < nn; i++) {
        gr_x402_network_conf *n = &p->nets[p->nnets++];
        if (!parse_network(cJSON_GetArrayItem(nets, i), (size_t)i, n, err, errlen)) goto fail;
        if (p->mode == GR_X402_SETTLE_SELF && (!n->rpc_url || !n->has_relayer)) {
            snprintf(err, errlen, "x402.networks[%d]: settle: self needs rpc_url and relayer_key", i);
            goto fail;
        }
        if (p->mode == GR_X402_SETTLE_FACILITATOR && !n->facilitator_url) {
            snprintf(err, errlen, "x402.networks[%d]: settle: facilitator needs facilitator_url", i);
            goto fail;
        }
        /* upto binds the authorisation to whoever calls settle(): our relayer
         * when settling ourselves, else the facilitator's announced address */
        if (n->has_upto && p->mode == GR_X402_SETTLE_SELF) {
            n->upto_facilitator = n->relayer;
        } else if (n->has_upto && gr_evm_address_is_zero(&n->upto_facilitator)) {
            if (!n->has_relayer) {
                snprintf(err, errlen, "x402.networks[%d]: upto with settle: %s needs facilitator_address", i,
                         p->mode == GR_X402_SETTLE_FACILITATOR ? "facilitator" : "none");
                goto fail;
            }
            n->upto_facilitator = n->relayer;
        }
    }
    char instance_id[GR_X402_INSTANCE_ID_MAX];
    gr_x402_settler_opts so;
    if (!parse_liveness(x, cfg, instance_id, &so, err, errlen)) goto fail;
    gr_x402_preflight_opts po;
    if (!parse_preflight(x, &po, err, errlen)) goto fail;
    if (use == PAY_CHECK) {
        gr_pay_x402_free(p);
        return NULL;
    }
    if (use == PAY_RECONCILE) {
        char host[64] = "localhost";
        if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
        host[sizeof host - 1] = '\0';
        snprintf(instance_id, sizeof instance_id, "reconcile:%s:%ld", host, (long)getpid());
        so.no_keeper = true;
    }
    if (gr_x402_store_open(gr_store_url(cfg), &p->store, err, errlen) != GR_OK) goto fail;
    if (p->mode != GR_X402_SETTLE_NONE && use == PAY_SERVE &&
        gr_x402_preflight_new(&po, &p->preflight, err, errlen) != GR_OK)
        goto fail;
    so.payer_outcome = p->preflight ? gr_x402_preflight_payer_outcome : NULL;
    so.outcome_ud = p->preflight;
    if (p->mode != GR_X402_SETTLE_NONE &&
        gr_x402_settler_new(p->mode, p->nets, p->nnets, p->store, &so, &p->settler, err, errlen) != GR_OK)
        goto fail;
    if (p->settler) p->owner = gr_x402_settler_owner(p->settler);
    for (size_t i = 0; i < p->nnets; i++) {
        char a[GR_EVM_ADDR_STR_LEN + 1], to[GR_EVM_ADDR_STR_LEN + 1], rl[GR_EVM_ADDR_STR_LEN + 1] = "-";
        gr_evm_address_checksum(&p->nets[i].asset, a);
        gr_evm_address_checksum(&p->nets[i].pay_to, to);
        if (p->nets[i].has_relayer) gr_evm_address_checksum(&p->nets[i].relayer, rl);
        GR_INFO("x402: accepting %s (%s v%s) on eip155:%llu, payTo %s, relayer %s", a, p->nets[i].asset_name,
                p->nets[i].asset_version, (unsigned long long)p->nets[i].chain_id, to, rl);
        if (p->nets[i].has_upto) {
            char p2[GR_EVM_ADDR_STR_LEN + 1], px[GR_EVM_ADDR_STR_LEN + 1], fa[GR_EVM_ADDR_STR_LEN + 1];
            gr_evm_address_checksum(&p->nets[i].permit2, p2);
            gr_evm_address_checksum(&p->nets[i].upto_proxy, px);
            gr_evm_address_checksum(&p->nets[i].upto_facilitator, fa);
            GR_INFO("x402: upto on eip155:%llu: Permit2 %s, proxy %s, facilitator %s",
                    (unsigned long long)p->nets[i].chain_id, p2, px, fa);
        }
    }
    GR_INFO("x402: enabled, settle=%s, default_max_tokens=%lld, preflight %s", mode ? mode : "self",
            (long long)p->default_max_tokens,
            !p->preflight ? "off (settle: none)" : po.enabled ? "on" : "off (payers whose settlement failed only)");
    return p;
fail:
    if (!err[0]) snprintf(err, errlen, "x402: cannot start");
    gr_pay_x402_free(p);
    return NULL;
}

void gr_pay_x402_stop_by(gr_pay_x402 *p, uint64_t deadline_ms) {
    if (p) gr_x402_settler_stop_by(p->settler, deadline_ms);
}

void gr_pay_x402_free(gr_pay_x402 *p) {
    if (!p) return;
    gr_x402_settler_free(p->settler); /* drains first: it uses nets, store and the preflight's payer memory */
    gr_x402_preflight_free(p->preflight); /* after: its waiting replies were answered by the settler */
    gr_x402_store_close(p->store);
    free_nets(p);
    free(p->public_url);
    memset(p->receipt_key, 0, sizeof p->receipt_key);
    free(p);
}

/* ---- helpers ---- */

static gr_pay_x402 *px(gr_request *r) { return r->w && r->w->svc ? r->w->svc->x402 : NULL; }

/* This module's context slot (pipeline.h): the request's x402_req. */
static int g_ctx_slot = -1;
#define XREQ(r) ((x402_req *)(r)->ctx[g_ctx_slot])

static const char *in_header(gr_request *r, const char *name) {
    return r->req ? gr_client_req_header(r->req, name) : NULL;
}

/* nano-USD per atomic unit: 10^(9 - decimals) */
static int64_t unit_nusd(const gr_x402_network_conf *n) {
    int64_t u = 1;
    for (uint32_t i = n->decimals; i < 9; i++) u *= 10;
    return u;
}

static uint64_t atomic_ceil(int64_t nusd, const gr_x402_network_conf *n) {
    if (nusd <= 0) return 0;
    int64_t u = unit_nusd(n);
    return (uint64_t)(nusd / u + (nusd % u != 0));
}

static int64_t atomic_to_nusd(const gr_u256 *v, const gr_x402_network_conf *n) {
    uint64_t a;
    int64_t u = unit_nusd(n);
    if (gr_u256_to_u64(v, &a) != GR_OK || a > (uint64_t)(INT64_MAX / u)) return INT64_MAX;
    return (int64_t)a * u;
}

static const char *resource_url(gr_request *r, gr_pay_x402 *p) {
    if (p->public_url) return gr_pool_printf(r->pool, "%s%s", p->public_url, r->path);
    const char *host = in_header(r, "Host");
    const char *proto = in_header(r, "X-Forwarded-Proto");
    if (!host || !*host || strpbrk(host, " \"<>\\")) host = "localhost";
    return gr_pool_printf(r->pool, "%s://%s%s", proto && !strcmp(proto, "https") ? "https" : "http", host, r->path);
}

static void usd_per_mtok(int64_t uusd, char out[GR_METER_USD_BUFSZ]) {
    gr_meter_format_usd(uusd * 1000, out, GR_METER_USD_BUFSZ); /* uusd/Mtok -> USD/Mtok */
}

static const char *describe(gr_request *r, int64_t max_out, int64_t max_cost) {
    char in[GR_METER_USD_BUFSZ], out[GR_METER_USD_BUFSZ], tot[GR_METER_USD_BUFSZ];
    usd_per_mtok(r->prices.input_uusd_per_mtok, in);
    usd_per_mtok(r->prices.output_uusd_per_mtok, out);
    gr_meter_format_usd(max_cost, tot, sizeof tot);
    /* what the worst case adds to list prices (meter_hold.h), said in words */
    gr_provider_kind kind = r->deployment ? r->deployment->provider->kind : GR_PROVIDER_OPENAI;
    gr_hold_request q = {.body = r->body, .native_body = r->messages_body, .max_output = max_out, .outputs = 1};
    int64_t thinking = gr_meter_hold_output(kind, &q) - max_out;
    bool writes = gr_meter_hold_cache_writes(r->messages_body && kind == GR_PROVIDER_ANTHROPIC ? r->messages_body : r->body) > 0;
    return gr_pool_printf(r->pool,
                          "GateRouter %s %s: max cost $%s = ~%lld prompt tokens x $%s/Mtok input%s + %lld max output "
                          "tokens%s x $%s/Mtok output; unused value becomes credit for the payer",
                          r->model ? r->model->name : "", r->path, tot, (long long)r->est_prompt_tokens, in,
                          writes ? " (or the prompt-cache write price: the request sets cache_control)" : "",
                          (long long)(max_out + (thinking > 0 ? thinking : 0)),
                          thinking > 0 ? gr_pool_printf(r->pool, " (%lld of them thinking budget)", (long long)thinking) : "",
                          out);
}

/* Output-token cap of the request: what it asked for, else the configured
 * default; 0 for embeddings. */
static int64_t request_max_out(gr_request *r, gr_pay_x402 *p) {
    if (r->ep == GR_EP_EMBEDDINGS) return 0;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->body, "max_completion_tokens");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r->body, "max_tokens");
    bool given = (cJSON_IsNumber(a) && a->valuedouble >= 1) || (cJSON_IsNumber(b) && b->valuedouble >= 1);
    int64_t mo = given ? gr_meter_request_max_output(r->body, 0) : p->default_max_tokens;
    if (r->model && r->model->max_output_tokens && mo > (int64_t)r->model->max_output_tokens)
        mo = r->model->max_output_tokens;
    return mo;
}

/* Worst case over the route's candidates (a fallback may cost more), every
 * output the request asks for (n, best_of: r->outputs) counted, cache writes
 * and the thinking budget an adapter adds included (meter_hold.h). */
typedef struct call_max_arg {
    gr_request *r;
    int64_t max_out; /* the request's output cap per output */
} call_max_arg;

static gr_hold_request hold_request(const call_max_arg *a, int64_t extra_in, int64_t out_cap) {
    const gr_request *r = a->r;
    return (gr_hold_request){.body = r->body,
                             .native_body = r->messages_body,
                             .prompt_tokens = r->est_prompt_tokens + extra_in,
                             .max_output = out_cap > 0 ? out_cap : a->max_out,
                             .outputs = out_cap > 0 ? 1 : r->outputs > 0 ? r->outputs : 1};
}

/* One call's worst case on candidate c (route_verify.h). */
static int64_t call_max_cost(const gr_route_candidate *c, int64_t extra_in, int64_t out_cap, void *arg) {
    gr_prices pr;
    gr_meter_deployment_prices(c->dep, c->model, &pr);
    gr_hold_request q = hold_request(arg, extra_in, out_cap);
    return gr_meter_hold_cost(&pr, c->dep->provider->kind, &q);
}

/* ... plus every call an auto:verify cascade makes before the answer. */
static int64_t request_max_cost(gr_request *r, int64_t max_out) {
    call_max_arg a = {r, max_out};
    gr_hold_request q = hold_request(&a, 0, 0);
    int64_t mc = gr_meter_hold_cost(&r->prices, r->deployment ? r->deployment->provider->kind : GR_PROVIDER_OPENAI, &q);
    if (!r->plan) return mc;
    int64_t m = gr_route_plan_max_cost(r->plan, max_out, call_max_cost, &a);
    return m > mc ? m : mc;
}

/* The offer: one requirement per configured network/asset, each asking
 * quote_nusd in that token's atomic units. */
static gr_x402_requirements *build_reqs(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, const char *desc) {
    gr_x402_requirements *reqs = gr_pool_calloc(r->pool, p->nnets * sizeof *reqs);
    const char *res = resource_url(r, p);
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        reqs[i] = (gr_x402_requirements){
            .scheme = "exact",
            .chain_id = n->chain_id,
            .asset = n->asset,
            .pay_to = n->pay_to,
            .resource = res,
            .description = desc,
            .mime_type = "application/json",
            .max_timeout_seconds = n->max_timeout_seconds,
            .extra_name = n->asset_name,
            .extra_version = n->asset_version,
        };
        gr_u256_from_u64(atomic_ceil(quote_nusd, n), &reqs[i].amount);
    }
    return reqs;
}

/* The upto offers (networks with Permit2 + the upto proxy), each asking
 * quote_nusd as the minimum maximum. *nu = how many. */
static gr_x402_upto_offer *build_upto_offers(gr_request *r, gr_pay_x402 *p, int64_t quote_nusd, size_t *nu) {
    gr_x402_upto_offer *o = gr_pool_calloc(r->pool, p->nnets * sizeof *o);
    *nu = 0;
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        if (!n->has_upto) continue;
        gr_x402_upto_offer *e = &o[(*nu)++];
        *e = (gr_x402_upto_offer){
            .chain_id = n->chain_id,
            .asset = n->asset,
            .pay_to = n->pay_to,
            .permit2 = n->permit2,
            .proxy = n->upto_proxy,
            .facilitator = n->upto_facilitator,
            .max_timeout_seconds = n->max_timeout_seconds,
            .extra_name = n->asset_name,
            .extra_version = n->asset_version,
        };
        gr_u256_from_u64(atomic_ceil(quote_nusd, n), &e->amount);
    }
    return o;
}

static const gr_x402_network_conf *net_of(gr_pay_x402 *p, uint64_t chain_id, const gr_evm_address *asset) {
    for (size_t i = 0; i < p->nnets; i++)
        if (p->nets[i].chain_id == chain_id && gr_evm_address_eq(&p->nets[i].asset, asset)) return &p->nets[i];
    return NULL;
}

/* The payment-identifier extension in a PaymentRequired (root): optional
 * for the client; its schema as the extension's spec gives it. */
static gr_status pay_id_advertise(cJSON *root) {
    cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "extensions");
    if (!ext) ext = cJSON_AddObjectToObject(root, "extensions");
    cJSON *pid = ext ? cJSON_AddObjectToObject(ext, GR_X402_PAY_ID_EXT) : NULL;
    cJSON *info = pid ? cJSON_AddObjectToObject(pid, "info") : NULL;
    cJSON *schema = pid ? cJSON_AddObjectToObject(pid, "schema") : NULL;
    cJSON *props = schema ? cJSON_AddObjectToObject(schema, "properties") : NULL;
    cJSON *req = props ? cJSON_AddObjectToObject(props, "required") : NULL;
    cJSON *id = props ? cJSON_AddObjectToObject(props, "id") : NULL;
    if (!info || !req || !id) return GR_ERR_NOMEM;
    cJSON_AddFalseToObject(info, "required");
    cJSON_AddStringToObject(schema, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(schema, "type", "object");
    cJSON_AddStringToObject(req, "type", "boolean");
    cJSON_AddStringToObject(id, "type", "string");
    cJSON_AddNumberToObject(id, "minLength", GR_X402_PAY_ID_MIN);
    cJSON_AddNumberToObject(id, "maxLength", GR_X402_PAY_ID_MAX);
    cJSON_AddStringToObject(id, "pattern", "^[A-Za-z0-9_-]+$");
    return GR_OK;
}

/* ---- sign-in-with-x (x402_siwx.h): credit sessions, docs/X402.md ---- */

/* What a sign-in for r must match: this host (without the port), the
 * resource's origin, one of the gateway's chains, now. */
static void siwx_expect(gr_request *r, gr_pay_x402 *p, const char *uri, gr_x402_siwx_expect *e) {
    uint64_t *chains = gr_pool_calloc(r->pool, p->nnets * sizeof *chains);
    for (size_t i = 0; i < p->nnets; i++) chains[i] = p->nets[i].chain_id;
    const char *h = strstr(uri, "://");
    h = h ? h + 3 : uri;
    size_t hl = *h == '[' ? strcspn(h, "]") + 1 : strcspn(h, ":/?#"); /* an IPv6 literal keeps its brackets */
    if (hl > strlen(h)) hl = strlen(h);
    *e = (gr_x402_siwx_expect){.domain = gr_pool_strndup(r->pool, h, hl),
                               .uri = uri,
                               .chain_ids = chains,
                               .nchains = p->nnets,
                               .now_ms = (int64_t)gr_wall_ms(),
                               .max_age_ms = p->siwx_max_age_ms};
}

static gr_status siwx_challenge(gr_request *r, gr_pay_x402 *p, cJSON *ext) {
    gr_x402_siwx_expect e;
    siwx_expect(r, p, resource_url(r, p), &e);
    return gr_x402_siwx_challenge(ext, &e, "Sign in to spend your GateRouter x402 credit");
}

/* v2 PaymentRequired JSON: the exact requirements followed by the upto offers. */
static gr_status render_v2(gr_request *r, const gr_x402_requirements *reqs, size_t n, const gr_x402_upto_offer *up,
                           size_t nu, const char *code, char **out) {
    char *json = NULL;
    gr_status rc = gr_x402_render_payment_required(2, reqs, n, code, &json);
    if (rc != GR_OK) {
        *out = json;
        return rc;
    }
    bool offer_pay_id = !r->stream;
    cJSON *root = cJSON_Parse(json);
    free(json);
    cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepts");
    rc = cJSON_IsArray(acc) ? GR_OK : GR_ERR_NOMEM;
    for (size_t i = 0; i < nu && rc == GR_OK; i++) rc = gr_x402_upto_render_requirement(&up[i], NULL, acc);
    if (rc == GR_OK && offer_pay_id) rc = pay_id_advertise(root);
    if (rc == GR_OK) { /* what this endpoint takes and returns (bazaar) */
        cJSON *ext = cJSON_GetObjectItemCaseSensitive(root, "extensions");
        if (!ext) ext = cJSON_AddObjectToObject(root, "extensions");
        x402_req *x = XREQ(r);
        /* /v1/messages and /v1/responses run as chat inside */
        gr_endpoint ep = r->anthropic_out ? GR_EP_MESSAGES : r->responses_out ? GR_EP_RESPONSES : r->ep;
        (void)gr_x402_bazaar_add(ext, ep, r->model ? r->model->name : r->model_asked, x ? x->max_out : 0);
        gr_pay_x402 *p = px(r);
        if (p && p->siwx) rc = siwx_challenge(r, p, ext);
    }
    char *t = rc == GR_OK ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!t) return GR_ERR_NOMEM;
    *out = gr_xstrdup(t);
    cJSON_free(t);
    return GR_OK;
}

static void add_usd(cJSON *o, const char *k, int64_t nusd);

/* The 402 body's `quote`: the most this request can be charged and why, as
 * data (the description says the same in words): the model, the estimated
 * prompt and the output cap, the prices, the maximum. */
static void add_quote(gr_request *r, const x402_req *x, char **body) {
    cJSON *root = cJSON_Parse(*body);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return;
    }
    cJSON *q = cJSON_AddObjectToObject(root, "quote");
    cJSON_AddStringToObject(q, "model", r->model ? r->model->name : r->model_asked ? r->model_asked : "");
    cJSON_AddNumberToObject(q, "prompt_tokens_estimated", (double)r->est_prompt_tokens);
    cJSON_AddNumberToObject(q, "max_output_tokens", (double)x->max_out);
    if (r->outputs > 1) cJSON_AddNumberToObject(q, "outputs", (double)r->outputs);
    add_usd(q, "input_usd_per_mtok", r->prices.input_uusd_per_mtok * 1000);
    add_usd(q, "output_usd_per_mtok", r->prices.output_uusd_per_mtok * 1000);
    if (r->prices.per_request_uusd) add_usd(q, "per_request_usd", r->prices.per_request_uusd * 1000);
    add_usd(q, "max_cost_usd", x->max_cost_nusd);
    cJSON_AddStringToObject(q, "unused", "becomes credit for the payer (exact) or is not charged (upto)");
    char *t = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!t) return;
    free(*body);
    *body = gr_xstrdup(t);
    cJSON_free(t);
}

/* Answers 402: v1 JSON body (or v2 when the client spoke v2) + the v2
 * PAYMENT-REQUIRED header; on a failed payment also the settlement header
 * with success:false. */
static void reply_402(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, int version,
                      const char *code) {
    char *body = NULL, *hdr = NULL;
    gr_pay_x402 *p = px(r);
    size_t nu = 0;
    /* the upto offers ask the same maximum as exact's (credit does not apply to upto) */
    int64_t max_cost = x->max_cost_nusd;
    gr_x402_upto_offer *up = p ? build_upto_offers(r, p, max_cost, &nu) : NULL;
    /* v1 can only name chains that have a v1 network name */
    gr_x402_requirements *v1 = gr_pool_calloc(r->pool, n * sizeof *v1);
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++)
        if (gr_x402_network_v1_name(reqs[i].chain_id)) v1[n1++] = reqs[i];
    if (version == 2 || n1 == 0) {
        if (render_v2(r, reqs, n, up, nu, code, &body) != GR_OK) body = NULL;
    } else if (gr_x402_render_payment_required(1, v1, n1, code, &body) != GR_OK) {
        body = NULL;
    }
    char *v2json = NULL;
    if (render_v2(r, reqs, n, up, nu, code, &v2json) == GR_OK) {
        hdr = gr_evm_b64_encode((const uint8_t *)v2json, strlen(v2json), NULL);
        free(v2json);
        gr_request_add_header(r, "PAYMENT-REQUIRED", hdr);
        free(hdr);
    }
    gr_request_add_header(r, "Cache-Control", "no-store");
    if (code && x->has_payer && !x->siwx) {
        gr_x402_settlement s = {.success = false, .error_reason = code, .transaction = "",
                                .chain_id = x->pay.chain_id, .has_payer = true, .payer = x->pay.auth.from};
        char *sh = NULL;
        if (gr_x402_render_settlement(version, &s, &sh) == GR_OK ||
            (version == 1 && gr_x402_render_settlement(2, &s, &sh) == GR_OK)) {
            gr_request_add_header(r, version == 2 ? "PAYMENT-RESPONSE" : "X-PAYMENT-RESPONSE", sh);
            free(sh);
        }
    }
    r->error_type = code ? code : "payment_required";
    if (body && x->max_cost_nusd > 0) add_quote(r, x, &body);
    if (!body) {
        gr_request_fail(r, 500, "api_error", "x402_render_failed", NULL, "could not render the payment requirements");
        return;
    }
    /* a payer without a Permit2 allowance: 412, as the exact scheme's spec and
     * the reference resource server answer (the same PaymentRequired) */
    int status = code && !strcmp(code, "permit2_allowance_required") ? 412 : 402;
    gr_request_reply_json(r, status, body, strlen(body));
    free(body);
}

static bool reject(gr_request *r, x402_req *x, gr_x402_requirements *reqs, size_t n, const char *code) {
    x->phase = XS_REJECTED;
    gr_metrics_add(GR_M_X402, "event=\"rejected\"", 1);
    GR_INFO("x402: %s rejected: %s (payer %s)", r->id, code, x->has_payer ? x->payer : "?");
    reply_402(r, x, reqs, n, x->version, code);
    return false;
}

/* ---- store calls off the loop (store_exec.h) ----
 *
 * Admission needs the store twice: the payer's credit (before verifying, to
 * know what the payer must have signed), then the nonce reservation together
 * with the credit take. Each is one job on the store executor; the request
 * continues on its loop in the job's `next` step. At the deadline
 * (store.op_timeout_ms) the request is answered 503 x402_store_unavailable
 * and nothing is served. A reservation that lands after that keeps the nonce
 * reserved (fail closed: that authorization can never be served, the client
 * signs a new one, as the 503 says) and gives back the credit it took, in the
 * job's late step on the executor thread — the take and the refund are one
 * job's work, so credit is neither lost nor applied twice. A job whose
 * deadline passed while it was still queued does not run at all.
 *
 * Post-response bookkeeping (credit refunds, the upto record, handing a
 * settlement to the settler) are fire-and-forget posts: never refused, run
 * in order of submission per thread, drained at shutdown before the store
 * closes. */

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

static gr_x402_store *job_store(void *conn, gr_pay_x402 *p) {
    gr_store_conns *c = conn;
    return c && c->x402 ? c->x402 : p->store;
}

static void x402_job_run(void *conn, void *arg) {
    x402_job *j = arg;
    gr_x402_store *st = job_store(conn, j->p);
    switch (j->kind) {
    case XJ_CREDIT_GET:
        j->rc = gr_x402_store_credit_get(st, j->payer, &j->credit);
        break;
    case XJ_RESERVE: { /* one transaction: nonce, credit, and the job that settles it */
        gr_x402_admit_result res = GR_X402_ADMITTED;
        j->rc = gr_x402_store_admit(st, j->key, j->valid_before, j->payer, j->take, j->has_intent ? &j->intent : NULL,
                                    j->has_upto ? &j->upto : NULL, j->p->owner, GR_X402_SETTLE_LEASE_MS, &res);
        j->take_rc = GR_OK;
        if (j->rc == GR_OK && res == GR_X402_ADMIT_REPLAY) j->rc = GR_ERR_INVALID;
        if (j->rc == GR_OK && res == GR_X402_ADMIT_NO_CREDIT) j->take_rc = GR_ERR_INVALID;
        break;
    }
    case XJ_CREDIT_VIEW:
        /* A signed view (sign-in-with-x) spends its nonce first: a replay sees nothing. */
        if (j->key[0] && (j->rc = gr_x402_store_nonce_reserve(st, j->key, j->valid_before)) != GR_OK) break;
        /* Settlements first, credit second: a job's finishing commits its
         * state and its credit together, so a settlement this view shows as
         * settled always has its credit in the balance read after it (the
         * other order could show "settled" beside the balance from before). */
        j->obj = cJSON_CreateArray();
        (void)gr_x402_store_settlements_recent(st, j->payer, 20, j->obj);
        j->rc = gr_x402_store_credit_get(st, j->payer, &j->credit);
        break;
    case XJ_PAY_ID:
        j->rc = gr_x402_store_pid_begin(st, j->key, j->payer, j->fingerprint, j->rid, j->p->payment_id_ttl_ms, &j->pid);
        j->pid_ran = true;
        break;
    case XJ_PREFLIGHT: /* run on the preflight pool (preflight_job_run, settle_wait_run), never here */
    case XJ_SETTLE_WAIT:
        break;
    case XJ_PAYMENT_GET:
        j->obj = cJSON_CreateObject();
        cJSON_AddStringToObject(j->obj, "object", "x402.payment");
        j->rc = gr_x402_store_payment_get(st, j->rid, j->obj);
        if (j->rc == GR_ERR_NOT_FOUND && conn) { /* the client's X-Request-Id: its request's gateway id */
            gr_ledger_row row;
            gr_store_conns *c = conn;
            if (gr_store_generation_get(c->store, j->rid, &row) == GR_OK && !strcmp(row.client_request_id, j->rid))
                j->rc = gr_x402_store_payment_get(st, row.request_id, j->obj);
        }
        break;
    }
}

/* The request was answered 503 before this job ended. */
static void x402_job_late(void *conn, void *arg) {
    x402_job *j = arg;
    if (j->kind == XJ_PAY_ID && j->rc == GR_OK && j->pid.state == GR_X402_PID_NEW) { /* nothing served: free the id */
        if (gr_x402_store_pid_drop(job_store(conn, j->p), j->key, j->rid) != GR_OK)
            GR_ERROR("x402: payment id %s, taken after its request timed out, stays taken until it expires", j->key);
        j->pid_settled = true;
        return;
    }
    if (j->kind != XJ_RESERVE || j->rc != GR_OK) return;
    GR_WARN("x402: nonce %s reserved after its request timed out: it stays spent (the client was told to sign anew)",
            j->key);
    if (j->take_rc != GR_OK) return; /* nothing was taken nor recorded */
    if (j->has_intent) { /* nothing served: the job ends skipped, and the credit it took goes back, at once */
        bool closed = false;
        snprintf(j->intent.state, sizeof j->intent.state, "skipped");
        if (j->has_upto) snprintf(j->upto.state, sizeof j->upto.state, "skipped");
        if (gr_x402_store_settlement_close(job_store(conn, j->p), &j->intent, j->take, j->has_upto ? &j->upto : NULL,
                                           &closed) != GR_OK)
            GR_ERROR("x402: closing the job of %s (admitted after a timeout, not served) failed: it will be "
                     "settled as if served", j->intent.request_id);
        return;
    }
    if (j->take > 0) {
        if (gr_x402_store_credit_add(job_store(conn, j->p), j->payer, j->take) != GR_OK)
            GR_ERROR("x402: giving back %lld nusd of credit to %s (taken after a timeout) failed",
                     (long long)j->take, j->payer);
    }
}

static void pay_id_release_orphan(x402_job *j);

static void x402_job_free(void *arg) {
    x402_job *j = arg;
    if (j->kind == XJ_PAY_ID && j->pid_ran && j->rc == GR_OK && j->pid.state == GR_X402_PID_NEW && !j->pid_settled)
        pay_id_release_orphan(j); /* its request left (client gone) before it could continue */
    gr_x402_settle_waiter_release(j->waiter);
    if (j->then) x402_job_free(j->then);
    free(j->check_header);
    free(j->check_requirement);
    gr_x402_settle_rec_dispose(&j->intent);
    gr_x402_pid_rec_dispose(&j->pid);
    cJSON_Delete(j->obj);
    free(j);
}

static void store_unavailable(gr_request *r, const char *why) {
    gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                    "The payment store %s; nothing was served. Retry with a new authorization.", why);
}

static void quote_reply(gr_request *r, x402_job *j);
static void preflight_unknown(gr_request *r, x402_job *j, const char *why);
static void held_reply(gr_request *r, x402_job *j, bool answered);
static void finish_paid(gr_request *r, gr_ledger_row *row);

static void x402_job_resume(gr_request *r, void *arg, const char *err) {
    x402_job *j = arg;
    gr_trace_span_end(r, j->span, err);
    if (err && j->kind == XJ_PREFLIGHT) { /* no answer in time (the check itself may still be running) */
        preflight_unknown(r, j, "no answer in time");
        return;
    }
    if (err && j->kind == XJ_SETTLE_WAIT) { /* the hash did not come in time: reply without it */
        held_reply(r, j, false);
        return;
    }
    if (err) {
        unsigned ms = gr_store_exec_op_timeout_ms(r->w->exec);
        if (j->next == quote_reply) { /* a quote without the hinted payer's credit is still a valid quote */
            quote_reply(r, NULL);
        } else if (j->kind == XJ_CREDIT_VIEW || j->kind == XJ_PAYMENT_GET) {
            gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                            "The payment store did not answer within %u ms.", ms);
        } else {
            char why[96];
            snprintf(why, sizeof why, "did not answer within %u ms", ms);
            store_unavailable(r, why);
        }
        return;
    }
    j->next(r, j);
}

static x402_job *new_job(gr_request *r, gr_pay_x402 *p, xjob_kind kind, void (*next)(gr_request *, x402_job *)) {
    (void)r;
    x402_job *j = gr_xcalloc(1, sizeof *j);
    j->kind = kind;
    j->p = p;
    j->next = next;
    j->span = -1;
    return j;
}

/* A job's span in r's trace: from its submission to its resume. */
static void job_span(gr_request *r, x402_job *j) {
    static const char *const names[] = {[XJ_CREDIT_GET] = "x402.credit", [XJ_RESERVE] = "x402.reserve",
                                        [XJ_CREDIT_VIEW] = "x402.credit_view", [XJ_PAYMENT_GET] = "x402.payment_get",
                                        [XJ_PREFLIGHT] = "x402.preflight", [XJ_SETTLE_WAIT] = "x402.settle",
                                        [XJ_PAY_ID] = "x402.payment_id"};
    /* a kind added without a name still gets a span, never a read past the table */
    const char *name = (size_t)j->kind < GR_ARRAY_LEN(names) && names[j->kind] ? names[j->kind] : "x402.job";
    j->span = gr_trace_span_begin(r, name);
}

/* Fire-and-forget work on the store executor ex (inline without one: tests). */
static void post_to(gr_store_exec *ex, void (*run)(void *conn, void *arg), void (*free_arg)(void *arg), void *arg) {
    if (!ex) {
        run(NULL, arg);
        free_arg(arg);
        return;
    }
    gr_store_exec_post(ex, run, free_arg, arg);
}

/* Runs j on the store executor with r suspended; r continues in j->next. */
static void submit_job(gr_request *r, x402_job *j) {
    gr_request_job job = {.run = x402_job_run, .late = x402_job_late, .free_arg = x402_job_free,
                          .resume = x402_job_resume, .arg = j};
    job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) store_unavailable(r, "is overloaded (store.queue_max calls waiting)");
}

/* ---- the payer preflight (x402_preflight.h) ----
 * Between verification and the reservation: can the payer pay? The
 * reservation job waits in j->then and is submitted once the answer is yes. */

static void preflight_job_run(void *conn, void *arg) {
    x402_job *j = arg;
    gr_x402_preflight_run(j->p->preflight, &j->check, conn);
}

/* No answer (timeout, RPC or facilitator down): refuse (503, nothing served)
 * unless fail_open. Reads nothing the pool thread may still write. */
static void preflight_unknown(gr_request *r, x402_job *j, const char *why) {
    gr_pay_x402 *p = j->p;
    if (gr_x402_preflight_fail_open(p->preflight)) {
        GR_WARN("x402: %s: payer preflight gave no answer (%s); serving anyway (fail_open)", r->id, why);
        x402_job *then = j->then;
        j->then = NULL;
        submit_job(r, then);
        return;
    }
    gr_metrics_add(GR_M_X402, "event=\"preflight_unavailable\"", 1);
    GR_WARN("x402: %s: payer preflight gave no answer (%s): refused with 503", r->id, why);
    gr_request_fail(r, 503, "api_error", "x402_preflight_unavailable", NULL,
                    "Whether the payer can pay could not be checked (%s); nothing was served. Retry with a new "
                    "authorization.", why);
}

static void preflighted(gr_request *r, x402_job *j) {
    x402_req *x = XREQ(r);
    gr_pay_x402 *p = j->p;
    if (j->check.verdict == GR_PREFLIGHT_OK) {
        x402_job *then = j->then;
        j->then = NULL;
        submit_job(r, then);
        return;
    }
    if (j->check.verdict == GR_PREFLIGHT_UNKNOWN) {
        preflight_unknown(r, j, j->check.why);
        return;
    }
    GR_INFO("x402: %s: payer %s refused before serving: %s (%s)", r->id, x->payer, j->check.code, j->check.why);
    reject(r, x, build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, j->check.code);
}

/* Submits `then` (the reservation) now, or after the preflight says yes. */
static void preflight_then(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then, const gr_x402_spend *spend) {
    if (!p->preflight || !gr_x402_preflight_needed(p->preflight, x->payer)) {
        submit_job(r, then);
        return;
    }
    x402_job *j = new_job(r, p, XJ_PREFLIGHT, preflighted);
    j->then = then;
    j->check_header = gr_xstrdup(x->header_b64);
    j->check_requirement = gr_xstrdup(x->requirement_json ? x->requirement_json : "{}");
    j->check = (gr_x402_preflight_check){.net = &p->nets[x->net], .mode = p->mode, .spend = *spend,
                                         .version = x->version, .header_b64 = j->check_header,
                                         .requirement = j->check_requirement};
    gr_request_job job = {.run = preflight_job_run, .free_arg = x402_job_free, .resume = x402_job_resume, .arg = j,
                          .exec = gr_x402_preflight_exec(p->preflight)};
    job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) { /* j was freed; else continues in x402_job_resume */
        gr_metrics_add(GR_M_X402, "event=\"preflight_unavailable\"", 1);
        gr_request_fail(r, 503, "api_error", "x402_preflight_unavailable", NULL,
                        "The payer preflight is overloaded (x402.preflight.queue_max checks waiting); nothing was "
                        "served. Retry with a new authorization.");
        return;
    }
}

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
        store_unavailable(r, "could not look up the payment id");
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
    x402_job *then = j->then;
    j->then = NULL;
    if (x->pay_id_has_spend) preflight_then(r, p, x, then, &x->pay_id_spend);
    else submit_job(r, then);
}

/* Admission's last step before the reservation `then`: without an id, the
 * preflight (spend != NULL) or the reservation itself; with one, first the
 * id (pay_id_taken continues). */
static void reserve_after_pay_id(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then,
                                 const gr_x402_spend *spend) {
    bool bad = false;
    x->pay_id = x->version == 2 ? pay_id_of(r, x->header_b64, &bad) : NULL;
    if (bad || (x->pay_id && r->stream)) {
        x402_job_free(then);
        gr_request_fail(r, 400, "invalid_request_error", "x402_invalid_payment_id", "payment-identifier",
                        bad ? "The payment-identifier id must be %d to %d characters of A-Z, a-z, 0-9, _ and -."
                            : "A streamed request cannot carry a payment-identifier id (replies of streams are not "
                              "kept); send it without one, or without stream.",
                        GR_X402_PAY_ID_MIN, GR_X402_PAY_ID_MAX);
        return;
    }
    if (!x->pay_id) {
        if (spend) preflight_then(r, p, x, then, spend);
        else submit_job(r, then);
        return;
    }
    if (spend) x->pay_id_spend = *spend;
    x->pay_id_has_spend = spend != NULL;
    pay_id_fingerprint(r, x->pay_id_fp);
    x402_job *j = new_job(r, p, XJ_PAY_ID, pay_id_taken);
    snprintf(j->key, sizeof j->key, "%s", x->pay_id);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    snprintf(j->rid, sizeof j->rid, "%s", r->id);
    snprintf(j->fingerprint, sizeof j->fingerprint, "%s", x->pay_id_fp);
    j->then = then;
    j->exec = r->w->exec;
    submit_job(r, j);
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
    gr_x402_store *st = job_store(conn, o->p);
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
static void pay_id_release_orphan(x402_job *j) {
    pay_id_post *o = gr_xcalloc(1, sizeof *o);
    o->p = j->p;
    snprintf(o->id, sizeof o->id, "%s", j->key);
    snprintf(o->rid, sizeof o->rid, "%s", j->rid);
    post_to(j->exec, pay_id_post_run, pay_id_post_free, o);
}

/* Request end: a served 200 is kept for the retries (its body unless too
 * large); anything else frees the id. */
static void pay_id_finish(gr_request *r, gr_pay_x402 *p, x402_req *x) {
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
    post_to(r->w->exec, pay_id_post_run, pay_id_post_free, o);
}

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

static void held_reply(gr_request *r, x402_job *j, bool answered) {
    x402_req *x = XREQ(r);
    if (answered && j->hash[0]) {
        snprintf(x->tx_hash, sizeof x->tx_hash, "%s", j->hash);
        x->tx_settled = j->settled;
    }
    gr_request_reply_json(r, j->held_status, j->held_body, j->held_len); /* x->held: not held again */
}

static void held_reply_next(gr_request *r, x402_job *j) { held_reply(r, j, true); }

/* settle_before_response: takes over a non-streamed paid 200 reply (true),
 * sends it later with its transaction hash in the settlement header. */
static bool hold_reply(gr_request *r, int status, const char *json, size_t len) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x || !p->settle_before_response || !p->settler || x->held || x->phase != XS_ADMITTED || status != 200 ||
        r->stream || gr_u256_eq(&x->value, &(gr_u256){{0}}))
        return false;
    x->held = true;
    gr_x402_settle_waiter *w = gr_x402_settle_waiter_new(); /* one reference for the close, one for the wait */
    x402_job *j = new_job(r, p, XJ_SETTLE_WAIT, held_reply_next);
    j->waiter = w;
    j->held_status = status;
    j->held_body = gr_pool_strndup(r->pool, json, len);
    j->held_len = len;
    /* close the job now, as at the request's end (the ledger fields are filled again then) */
    x->waiter_for_close = w;
    gr_ledger_row *scratch = gr_pool_calloc(r->pool, sizeof *scratch);
    r->status = status;
    finish_paid(r, scratch);
    if (!x->closed_early) { /* nothing to settle after all */
        gr_x402_settle_waiter_finish(x->waiter_for_close, NULL, false);
        x->waiter_for_close = NULL;
        x402_job_free(j);
        return false;
    }
    gr_request_job job = {.run = settle_wait_run, .free_arg = x402_job_free, .resume = x402_job_resume, .arg = j,
                          .exec = gr_x402_preflight_exec(p->preflight), .timeout_ms = p->settle_before_response_ms + 200};
    job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) return false; /* j was freed: reply now, without the hash */
    return true; /* continues in x402_job_resume */
}

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

static void x402_post_run(void *conn, void *arg) {
    x402_post *o = arg;
    gr_x402_store *st = job_store(conn, o->p);
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

static x402_post *new_post(gr_pay_x402 *p, const char *payer, const char *what) {
    x402_post *o = gr_xcalloc(1, sizeof *o);
    o->p = p;
    snprintf(o->payer, sizeof o->payer, "%s", payer);
    snprintf(o->what, sizeof o->what, "%s", what);
    return o;
}

static void post(gr_request *r, x402_post *o) { post_to(r->w->exec, x402_post_run, x402_post_free, o); }

static char *upto_requirement(const gr_x402_upto_offer *offer, const gr_u256 *amount);
static void fill_upto_rec(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const gr_u256 *settled,
                          int64_t cost, const char *state, gr_x402_upto_rec *u);
static void close_job(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *amount, char *req_json, int64_t paid,
                      int64_t cost, const char *state, int64_t credit_delta, const gr_x402_upto_rec *u);
static void fill_job(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const char *amount,
                     char *req_json, int64_t paid, int64_t credit_used, int64_t cost, const char *state,
                     gr_x402_settle_rec *rec);

/* The settlement job of an admitted payment, committed with its nonce
 * (state `open`, owned by this instance): what settles if the request's end
 * is never recorded because this instance died — exact: the signed value
 * (cost = the maximum, so no credit is lost or granted twice), upto: the
 * authorised maximum. The request's end closes it with the real figures. */
static void set_intent(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *j, const char *amount,
                       const char *req_json, int64_t paid_nusd, int64_t credit_used_nusd) {
    if (!p->settler) return; /* settle: none — nothing to settle */
    fill_job(r, x, &p->nets[x->net], amount, gr_xstrdup(req_json ? req_json : "{}"), paid_nusd, credit_used_nusd,
             x->max_cost_nusd, "open", &j->intent);
    j->has_intent = true;
}

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
        reject(r, x, build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_upto_err_str(uerr));
        return;
    }
    x->pay.version = 2;
    x->pay.chain_id = x->up.chain_id;
    x->pay.auth.from = x->up.from;
    gr_evm_address_lower(&x->up.from, x->payer);
    x->has_payer = true;
    size_t nu = 0;
    gr_x402_upto_offer *offers = build_upto_offers(r, p, max_cost, &nu);
    if (nu == 0) {
        reject(r, x, build_reqs(r, p, max_cost, desc), p->nnets, "unsupported_scheme");
        return;
    }
    gr_x402_upto_result res;
    int vspan = gr_trace_span_begin(r, "x402.verify");
    gr_status vrc = gr_x402_upto_verify(offers, nu, &x->up, (uint64_t)(gr_wall_ms() / 1000), &res);
    gr_trace_span_end(r, vspan, vrc != GR_OK ? gr_x402_upto_err_str(res.err) : NULL);
    if (vrc != GR_OK) {
        reject(r, x, build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_upto_err_str(res.err));
        return;
    }
    x->up_offer = offers[res.offer_index];
    const gr_x402_network_conf *n = net_of(p, x->up_offer.chain_id, &x->up_offer.asset);
    x->net = (size_t)(n - p->nets);
    x->value = res.max_amount; /* the authorised maximum */
    /* Replay guard: Permit2 nonce (per owner), reserved once before serving. */
    gr_x402_upto_nonce_key(&x->up, &x->up_offer.permit2, x->nonce_key);
    x->valid_before = res.deadline > INT64_MAX ? INT64_MAX : (int64_t)res.deadline;
    x402_job *j = new_job(r, p, XJ_RESERVE, upto_reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    if (p->settler) { /* until the request's end says otherwise: the maximum */
        char *req_json = upto_requirement(&x->up_offer, &x->value);
        gr_x402_upto_rec *u = &j->upto;
        fill_upto_rec(r, x, n, &x->value, x->max_cost_nusd, "pending", u);
        set_intent(r, p, x, j, u->settled_amount, req_json, atomic_to_nusd(&x->value, n), 0);
        free(req_json);
        j->has_upto = true;
    }
    gr_x402_spend spend;
    if (!gr_x402_spend_from_header(x->header_b64, &n->permit2, NULL, &spend)) {
        reserve_after_pay_id(r, p, x, j, NULL);
        return;
    }
    reserve_after_pay_id(r, p, x, j, &spend);
}

static void upto_reserved(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (j->rc == GR_ERR_INVALID) {
        reject(r, x, build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, gr_x402_upto_err_str(GR_UPTO_NONCE_USED));
        return;
    }
    if (j->rc != GR_OK) {
        store_unavailable(r, "could not record the payment");
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
static void quote_reply(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    int64_t quote = x->max_cost_nusd;
    if (j && j->rc == GR_OK && j->credit > 0) quote = j->credit >= quote ? 0 : quote - j->credit;
    x->phase = XS_QUOTED;
    gr_metrics_add(GR_M_X402, "event=\"required\"", 1);
    gr_x402_requirements *reqs = build_reqs(r, p, quote, x->desc);
    reply_402(r, x, reqs, p->nnets, 1, NULL);
}

static void exact_with_credit(gr_request *r, x402_job *j);
static void exact_reserved(gr_request *r, x402_job *j);

/* A signed sign-in instead of a payment: verified here (no chain call), then
 * its nonce is spent and the worst-case cost held from the payer's credit in
 * one store transaction (exact_reserved); the request ends by giving back
 * what it did not use (finish_paid: state `session`). */
static void admit_siwx(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *hdr) {
    gr_x402_siwx_expect e;
    gr_x402_siwx_proof pr;
    x->version = 2;
    x->siwx = true;
    siwx_expect(r, p, resource_url(r, p), &e);
    gr_x402_siwx_err se = gr_x402_siwx_verify(hdr, &e, &pr);
    if (se != GR_SIWX_OK) {
        reject(r, x, build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, gr_x402_siwx_err_str(se));
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
    x402_job *j = new_job(r, p, XJ_RESERVE, exact_reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    j->take = x->max_cost_nusd; /* the worst case, held; the unused part comes back at the end */
    set_intent(r, p, x, j, "0", "{}", 0, j->take);
    submit_job(r, j);
}

/* Answers (402 quote or rejection, 503 when the store is unavailable or
 * slower than store.op_timeout_ms) and finishes, or continues the pipeline
 * once the payment is admitted — usually later, from this loop, after its
 * store calls ran on the store executor. */
static void admit(gr_request *r) {
    gr_pay_x402 *p = px(r);
    x402_req *x = gr_pool_calloc(r->pool, sizeof *x);
    r->ctx[g_ctx_slot] = x;
    x->version = 1;
    int64_t max_out = request_max_out(r, p);
    int64_t max_cost = request_max_cost(r, max_out);
    x->max_out = max_out;
    x->max_cost_nusd = max_cost;
    if (max_cost <= 0) {
        gr_request_fail(r, 402, "invalid_request_error", "x402_model_not_priced", "model",
                        "The model `%s` has no price, so it cannot be paid for with x402; use an API key.",
                        r->model ? r->model->name : "");
        return;
    }
    const char *desc = describe(r, max_out, max_cost);
    x->desc = desc;
    const char *h1 = in_header(r, "X-PAYMENT"), *h2 = in_header(r, "PAYMENT-SIGNATURE");
    const char *hdr = h2 ? h2 : h1;
    const char *sx = p->siwx && !hdr ? in_header(r, GR_X402_SIWX_HEADER) : NULL;
    if (sx) {
        admit_siwx(r, p, x, sx);
        return;
    }
    if (!hdr) { /* quote; with a payer hint, net of that payer's credit */
        const char *hint = in_header(r, PAYER_HINT_HEADER);
        gr_evm_address ha;
        if (hint && gr_evm_address_parse(gr_str_c(hint), false, &ha) == GR_OK) {
            x402_job *j = new_job(r, p, XJ_CREDIT_GET, quote_reply);
            gr_evm_address_lower(&ha, j->payer);
            submit_job(r, j);
            return;
        }
        quote_reply(r, NULL);
        return;
    }
    x->version = h2 ? 2 : 1; /* until the payload says otherwise */
    x->header_b64 = gr_pool_strdup(r->pool, hdr);
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
        gr_x402_requirements *reqs = build_reqs(r, p, max_cost, desc);
        reject(r, x, reqs, p->nnets, gr_x402_err_str(perr ? perr : GR_X402_INVALID_PAYLOAD, x->version));
        return;
    }
    x->version = x->pay.version;
    gr_evm_address_lower(&x->pay.auth.from, x->payer);
    x->has_payer = true;
    /* What this payer must pay: the max cost net of the payer's credit. The
     * claimed `from` is only trusted once the signature verifies. */
    x402_job *j = new_job(r, p, XJ_CREDIT_GET, exact_with_credit);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    submit_job(r, j);
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
    gr_x402_requirements *reqs = build_reqs(r, p, need_nusd, desc);
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
        reject(r, x, build_reqs(r, p, max_cost, desc), p->nnets, gr_x402_err_str(res.err, x->version));
        return;
    }
    x->net = res.req_index;
    x->value = res.amount;
    const gr_x402_network_conf *n = &p->nets[x->net];
    x->paid_nusd = atomic_to_nusd(&res.amount, n);
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
    x402_job *j = new_job(r, p, XJ_RESERVE, exact_reserved);
    snprintf(j->key, sizeof j->key, "%s", x->nonce_key);
    snprintf(j->payer, sizeof j->payer, "%s", x->payer);
    j->valid_before = x->valid_before;
    j->take = x->paid_nusd < max_cost ? max_cost - x->paid_nusd : 0; /* the rest comes out of credit, atomically */
    char amount[GR_U256_DEC_MAX + 1];
    gr_u256_to_dec(&x->value, amount);
    set_intent(r, p, x, j, amount, x->requirement_json, x->paid_nusd, j->take);
    gr_x402_spend spend;
    bool zero = gr_u256_eq(&x->value, &(gr_u256){{0}}); /* credit pays it all: nothing moves on chain */
    if (zero || !gr_x402_spend_from_header(x->header_b64, NULL, NULL, &spend)) {
        reserve_after_pay_id(r, p, x, j, NULL);
        return;
    }
    spend.token = n->asset;
    reserve_after_pay_id(r, p, x, j, &spend);
}

static void exact_reserved(gr_request *r, x402_job *j) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    int64_t max_cost = x->max_cost_nusd;
    if (j->rc == GR_ERR_INVALID) {
        reject(r, x, build_reqs(r, p, max_cost, x->desc), p->nnets,
               x->siwx ? "siwx_nonce_used" : x->version == 2 ? "invalid_exact_evm_nonce_already_used" : "duplicate_settlement");
        return;
    }
    if (j->rc != GR_OK) {
        store_unavailable(r, "could not record the payment");
        return;
    }
    if (j->take > 0) {
        if (j->take_rc != GR_OK) {
            reject(r, x, build_reqs(r, p, max_cost, x->desc), p->nnets,
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
static bool claim_info(gr_request *r, const char **token, uint32_t *ttl_s) {
    x402_req *x = XREQ(r);
    if (!px(r) || !x || x->phase != XS_ADMITTED || !x->nonce_key[0]) return false;
    int64_t ttl = x->valid_before - (int64_t)(gr_wall_ms() / 1000) + 300; /* outlive validBefore */
    *token = x->nonce_key;
    *ttl_s = (uint32_t)(ttl < 60 ? 60 : ttl > 2592000 ? 2592000 : ttl);
    return true;
}

/* Another instance already spent this authorization: undo and answer 402. */
static void reject_replay(gr_request *r) {
    gr_pay_x402 *p = px(r);
    x402_req *x = XREQ(r);
    if (!p || !x) return;
    if (p->settler) { /* its admitted job ends skipped, credit back, at once */
        char amount[GR_U256_DEC_MAX + 1];
        gr_u256_to_dec(&x->value, amount);
        gr_x402_upto_rec u;
        if (x->upto) fill_upto_rec(r, x, &p->nets[x->net], &(gr_u256){{0}}, 0, "skipped", &u);
        close_job(r, p, x, x->upto ? "0" : amount, gr_xstrdup(x->requirement_json ? x->requirement_json : "{}"),
                  x->upto ? 0 : x->paid_nusd, 0, "skipped", x->credit_used_nusd, x->upto ? &u : NULL);
    } else if (x->credit_used_nusd) {
        x402_post *o = new_post(p, x->payer, "replay refused");
        o->credit_delta = x->credit_used_nusd;
        post(r, o);
    }
    x->credit_used_nusd = 0;
    reject(r, x, build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets,
           x->upto ? gr_x402_upto_err_str(GR_UPTO_NONCE_USED)
           : x->version == 2 ? "invalid_exact_evm_nonce_already_used" : "duplicate_settlement");
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
    gr_x402_receipt rc = {.chain_id = chain_id, .resource_url = resource_url(r, p), .payer = x->payer,
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

static void before_reply(gr_request *r) {
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
static char *upto_requirement(const gr_x402_upto_offer *offer, const gr_u256 *amount) {
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

static void fill_upto_rec(gr_request *r, const x402_req *x, const gr_x402_network_conf *n, const gr_u256 *settled,
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
static void close_job(gr_request *r, gr_pay_x402 *p, x402_req *x, const char *amount, char *req_json, int64_t paid,
                      int64_t cost, const char *state, int64_t credit_delta, const gr_x402_upto_rec *u) {
    if (x->closed_early) { /* closed before the reply (settle_before_response) */
        free(req_json);
        return;
    }
    x->closed_early = x->waiter_for_close != NULL;
    x402_post *o = new_post(p, x->payer, state);
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
    post(r, o);
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
    fill_upto_rec(r, x, n, &settled, cost, state, &u);
    GR_LEDGER_SET(row->x402_amount_atomic, u.settled_amount);
    GR_LEDGER_SET(row->x402_settlement, state);
    row->x402_credit_delta_nusd = 0;
    if (!p->settler) { /* settle: none — only the record */
        x402_post *o = new_post(p, x->payer, "upto");
        o->upto = u;
        o->has_upto = true;
        post(r, o);
        return;
    }
    /* settle-time requirements: amount = what to settle (facilitator /settle) */
    close_job(r, p, x, u.settled_amount, upto_requirement(&x->up_offer, &settled), atomic_to_nusd(&settled, n), cost,
              state, 0, &u);
}

static void finish_paid(gr_request *r, gr_ledger_row *row) {
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
            close_job(r, p, x, amount, gr_xstrdup(req), x->paid_nusd, cost, "skipped", x->credit_used_nusd, NULL);
        } else if (x->credit_used_nusd) {
            x402_post *o = new_post(p, x->payer, "not served");
            o->credit_delta = x->credit_used_nusd;
            post(r, o);
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
        close_job(r, p, x, amount, gr_xstrdup(req), 0, cost, state, x->credit_used_nusd - cost, NULL);
        row->x402_credit_delta_nusd = -(cost < x->credit_used_nusd ? cost : x->credit_used_nusd);
        GR_LEDGER_SET(row->x402_settlement, state);
        return;
    }
    row->x402_credit_delta_nusd = x->paid_nusd - cost;
    GR_LEDGER_SET(row->x402_settlement, "pending");
    close_job(r, p, x, amount, gr_xstrdup(req), x->paid_nusd, cost, "pending", 0, NULL);
}

/* ---- GET /v1/x402/pricing, GET /v1/x402/credit?address= ---- */

static void add_usd(cJSON *o, const char *k, int64_t nusd) {
    char b[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(nusd, b, sizeof b);
    cJSON_AddStringToObject(o, k, b);
}

static void reply_obj(gr_request *r, int status, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) abort();
    gr_request_reply_json(r, status, s, strlen(s));
    cJSON_free(s);
}

/* The base URL of the discovery documents: x402.public_url, else from the
 * request's Host (pool). */
static const char *public_base(gr_request *r, gr_pay_x402 *p) {
    if (p->public_url) return p->public_url;
    const char *host = in_header(r, "Host");
    const char *proto = in_header(r, "X-Forwarded-Proto");
    if (!host || !*host || strpbrk(host, " \"<>\\")) host = "localhost";
    return gr_pool_printf(r->pool, "%s://%s", proto && !strcmp(proto, "https") ? "https" : "http", host);
}

/* What the gateway offers, from the running config (no secrets): versions,
 * schemes, settlement, networks and assets, extensions, the paid resources
 * under base, and per priced model its prices and the most a request of
 * prompt_tokens and max_tokens (capped by the model's max output) can be
 * charged, in USD and in each asset's atomic units. */
static cJSON *offer_obj(const gr_config *cfg, gr_pay_x402 *p, const char *base, int64_t max_tokens,
                        int64_t prompt_tokens) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "x402.pricing");
    cJSON *vers = cJSON_AddArrayToObject(o, "x402Versions");
    cJSON_AddItemToArray(vers, cJSON_CreateNumber(1));
    cJSON_AddItemToArray(vers, cJSON_CreateNumber(2));
    cJSON_AddStringToObject(o, "scheme", "exact");
    cJSON_AddStringToObject(o, "settle", p->mode == GR_X402_SETTLE_SELF ? "self"
                                         : p->mode == GR_X402_SETTLE_FACILITATOR ? "facilitator" : "none");
    cJSON_AddNumberToObject(o, "default_max_tokens", (double)p->default_max_tokens);
    cJSON_AddStringToObject(o, "quote",
                            "amount = ceil((estimated prompt tokens x input price + max output tokens x output price "
                            "+ per-request price) in atomic units) - the payer's credit (when the request carries "
                            "X-Payer)");
    cJSON_AddStringToObject(o, "payer_hint_header", PAYER_HINT_HEADER);
    cJSON *acc = cJSON_AddArrayToObject(o, "accepts");
    for (size_t i = 0; i < p->nnets; i++) {
        const gr_x402_network_conf *n = &p->nets[i];
        cJSON *a = cJSON_CreateObject();
        cJSON_AddItemToArray(acc, a);
        char net[GR_X402_NETWORK_STR_MAX], addr[GR_EVM_ADDR_STR_LEN + 1];
        gr_x402_network_caip2(n->chain_id, net);
        cJSON_AddStringToObject(a, "scheme", "exact");
        cJSON_AddStringToObject(a, "network", net);
        const char *v1 = gr_x402_network_v1_name(n->chain_id);
        if (v1) cJSON_AddStringToObject(a, "network_v1", v1);
        gr_evm_address_checksum(&n->asset, addr);
        cJSON_AddStringToObject(a, "asset", addr);
        gr_evm_address_checksum(&n->pay_to, addr);
        cJSON_AddStringToObject(a, "payTo", addr);
        cJSON_AddNumberToObject(a, "decimals", n->decimals);
        cJSON_AddNumberToObject(a, "maxTimeoutSeconds", n->max_timeout_seconds);
        cJSON *e = cJSON_AddObjectToObject(a, "extra");
        cJSON_AddStringToObject(e, "name", n->asset_name);
        cJSON_AddStringToObject(e, "version", n->asset_version);
        cJSON *sc = cJSON_AddArrayToObject(a, "schemes");
        cJSON_AddItemToArray(sc, cJSON_CreateString("exact"));
        if (n->has_upto) {
            cJSON_AddItemToArray(sc, cJSON_CreateString("upto"));
            cJSON *u = cJSON_AddObjectToObject(a, "upto");
            gr_evm_address_checksum(&n->permit2, addr);
            cJSON_AddStringToObject(u, "permit2", addr);
            gr_evm_address_checksum(&n->upto_proxy, addr);
            cJSON_AddStringToObject(u, "proxy", addr);
            gr_evm_address_checksum(&n->upto_facilitator, addr);
            cJSON_AddStringToObject(u, "facilitatorAddress", addr);
        }
    }
    cJSON *schemes = cJSON_AddArrayToObject(o, "schemes");
    cJSON_AddItemToArray(schemes, cJSON_CreateString("exact"));
    for (size_t i = 0; i < p->nnets; i++)
        if (p->nets[i].has_upto) {
            cJSON_AddItemToArray(schemes, cJSON_CreateString("upto"));
            break;
        }
    cJSON *exts = cJSON_AddArrayToObject(o, "extensions");
    cJSON_AddItemToArray(exts, cJSON_CreateString(GR_X402_PAY_ID_EXT));
    cJSON_AddItemToArray(exts, cJSON_CreateString("bazaar"));
    if (p->has_receipt_key) {
        char signer[GR_EVM_ADDR_STR_LEN + 1];
        cJSON_AddItemToArray(exts, cJSON_CreateString(GR_X402_RECEIPT_EXT));
        gr_evm_address_checksum(&p->receipt_signer, signer);
        cJSON_AddStringToObject(o, "receipt_signer", signer);
    }
    cJSON *res = cJSON_AddArrayToObject(o, "resources");
    size_t npaid = 0;
    const gr_x402_paid_endpoint *paid = gr_x402_paid_endpoints(&npaid);
    for (size_t i = 0; i < npaid; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(res, e);
        size_t ulen = strlen(base) + strlen(paid[i].path) + 1;
        char *url = gr_xmalloc(ulen);
        snprintf(url, ulen, "%s%s", base, paid[i].path);
        cJSON_AddStringToObject(e, "resource", url);
        free(url);
        cJSON_AddStringToObject(e, "type", "http");
        cJSON_AddStringToObject(e, "method", "POST");
        cJSON_AddStringToObject(e, "mimeType", "application/json");
    }
    cJSON *models = cJSON_AddArrayToObject(o, "models");
    for (size_t i = 0; i < cfg->nmodels; i++) {
        const gr_model_conf *m = &cfg->models[i];
        if (!m->ndeployments) continue;
        gr_prices pr;
        const gr_deployment *d = &m->deployments[0];
        gr_meter_deployment_prices(d, m, &pr);
        if (!pr.input_uusd_per_mtok && !pr.output_uusd_per_mtok && !pr.per_request_uusd) continue;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddItemToArray(models, e);
        cJSON_AddStringToObject(e, "model", m->name);
        add_usd(e, "input_usd_per_mtok", pr.input_uusd_per_mtok * 1000);
        add_usd(e, "output_usd_per_mtok", pr.output_uusd_per_mtok * 1000);
        if (pr.per_request_uusd) add_usd(e, "per_request_usd", pr.per_request_uusd * 1000);
        if (m->max_output_tokens) cJSON_AddNumberToObject(e, "max_output_tokens", m->max_output_tokens);
        int64_t mo = max_tokens;
        if (m->max_output_tokens && mo > (int64_t)m->max_output_tokens) mo = m->max_output_tokens;
        /* the most a plain request of this size is charged (thinking budgets and cache writes add: the 402 names
         * the request's own maximum) */
        int64_t most = gr_meter_max_cost(&pr, prompt_tokens, mo);
        cJSON *mc = cJSON_AddObjectToObject(e, "max_charge");
        cJSON_AddNumberToObject(mc, "prompt_tokens", (double)prompt_tokens);
        cJSON_AddNumberToObject(mc, "max_tokens", (double)mo);
        add_usd(mc, "usd", most);
        cJSON *atomic = cJSON_AddArrayToObject(mc, "amounts");
        for (size_t k = 0; k < p->nnets; k++) {
            char net[GR_X402_NETWORK_STR_MAX], addr[GR_EVM_ADDR_STR_LEN + 1], amt[32];
            gr_x402_network_caip2(p->nets[k].chain_id, net);
            gr_evm_address_checksum(&p->nets[k].asset, addr);
            snprintf(amt, sizeof amt, "%llu", (unsigned long long)atomic_ceil(most, &p->nets[k]));
            cJSON *a = cJSON_CreateObject();
            cJSON_AddItemToArray(atomic, a);
            cJSON_AddStringToObject(a, "network", net);
            cJSON_AddStringToObject(a, "asset", addr);
            cJSON_AddStringToObject(a, "amount", amt);
        }
    }
    return o;
}

/* ?max_tokens=N&prompt_tokens=M (defaults: x402.default_max_tokens, 0). */
#define PRICING_TOKENS_MAX 100000000
static bool pricing_query(const char *query, const char *name, int64_t def, int64_t *out) {
    *out = def;
    size_t nl = strlen(name);
    for (const char *q = query; q && *q;) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        if (len > nl && !strncmp(q, name, nl) && q[nl] == '=') {
            char buf[24];
            size_t vl = len - nl - 1;
            if (vl == 0 || vl >= sizeof buf) return false;
            memcpy(buf, q + nl + 1, vl);
            buf[vl] = 0;
            char *end = NULL;
            long long v = strtoll(buf, &end, 10);
            if (*end || v < 0 || v > PRICING_TOKENS_MAX) return false;
            *out = v;
        }
        q = amp ? amp + 1 : NULL;
    }
    return true;
}

static gr_doc_cache g_pricing_cache = GR_DOC_CACHE_INIT, g_well_known_cache = GR_DOC_CACHE_INIT;

static void reply_cached(gr_request *r, char *text) {
    gr_request_add_header(r, "Cache-Control", "public, max-age=60");
    gr_request_reply_json(r, 200, text, strlen(text));
    free(text);
}

static void serve_pricing(gr_request *r, gr_pay_x402 *p, const char *query) {
    int64_t max_tokens, prompt_tokens;
    if (!pricing_query(query, "max_tokens", p->default_max_tokens, &max_tokens) || max_tokens == 0 ||
        !pricing_query(query, "prompt_tokens", 0, &prompt_tokens)) {
        gr_request_fail(r, 400, "invalid_request_error", "invalid_value", "max_tokens",
                        "max_tokens (1..%d) and prompt_tokens (0..%d) must be integers", PRICING_TOKENS_MAX,
                        PRICING_TOKENS_MAX);
        return;
    }
    const char *base = public_base(r, p);
    bool plain = !*query; /* the default document is cached per config snapshot */
    char *text = plain ? gr_doc_cache_get(&g_pricing_cache, r->cfg->generation, base) : NULL;
    if (!text)
        text = gr_doc_cache_render(plain ? &g_pricing_cache : NULL, r->cfg->generation, base,
                                   offer_obj(r->cfg, p, base, max_tokens, prompt_tokens));
    reply_cached(r, text);
}

/* GET /.well-known/x402: the resources with their bazaar metadata and the
 * offer, cached per config snapshot. */
static void serve_well_known(gr_request *r, gr_pay_x402 *p) {
    const char *base = public_base(r, p);
    char *text = gr_doc_cache_get(&g_well_known_cache, r->cfg->generation, base);
    if (!text) {
        const char *example = "";
        for (size_t i = 0; i < r->cfg->nmodels && !*example; i++) {
            gr_prices pr;
            const gr_model_conf *m = &r->cfg->models[i];
            if (!m->ndeployments) continue;
            gr_meter_deployment_prices(&m->deployments[0], m, &pr);
            if (pr.input_uusd_per_mtok || pr.output_uusd_per_mtok || pr.per_request_uusd) example = m->name;
        }
        cJSON *o = gr_x402_well_known(offer_obj(r->cfg, p, base, p->default_max_tokens, 0), base, example,
                                      p->default_max_tokens);
        text = gr_doc_cache_render(&g_well_known_cache, r->cfg->generation, base, o);
    }
    reply_cached(r, text);
}

static void credit_view(gr_request *r, x402_job *j) {
    if (j->rc == GR_ERR_INVALID && j->key[0]) {
        gr_request_fail(r, 401, "invalid_request_error", "siwx_nonce_used", GR_X402_SIWX_HEADER,
                        "This sign-in was used already: sign a fresh challenge.");
        return;
    }
    if (j->rc != GR_OK) {
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL, "The credit store is unavailable.");
        return;
    }
    gr_evm_address addr;
    char cs[GR_EVM_ADDR_STR_LEN + 1];
    if (gr_evm_address_parse(gr_str_c(j->payer), false, &addr) != GR_OK) abort(); /* parsed before */
    gr_evm_address_checksum(&addr, cs);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "x402.credit");
    cJSON_AddStringToObject(o, "address", cs);
    cJSON_AddNumberToObject(o, "credit_nusd", (double)j->credit);
    add_usd(o, "credit_usd", j->credit);
    cJSON_AddItemToObject(o, "settlements", j->obj);
    j->obj = NULL;
    reply_obj(r, 200, o);
}

/* GET /v1/x402/credit without ?address= and with sign-in-with-x on: the
 * wallet signs in (an auth-only 402: no accepts, the challenge) and sees its
 * own balance and history. */
static void serve_credit_signed(gr_request *r, gr_pay_x402 *p, const char *hdr) {
    gr_x402_siwx_expect e;
    siwx_expect(r, p, resource_url(r, p), &e);
    if (!hdr) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "x402Version", 2);
        cJSON_AddStringToObject(o, "error", "Sign in with your wallet (SIGN-IN-WITH-X) to see your credit");
        cJSON_AddStringToObject(cJSON_AddObjectToObject(o, "resource"), "url", e.uri);
        cJSON_AddArrayToObject(o, "accepts");
        cJSON *ext = cJSON_AddObjectToObject(o, "extensions");
        if (gr_x402_siwx_challenge(ext, &e, "Sign in to see your GateRouter x402 credit") != GR_OK) {
            cJSON_Delete(o);
            gr_request_fail(r, 500, "api_error", "x402_render_failed", NULL, "could not render the sign-in challenge");
            return;
        }
        char *t = cJSON_PrintUnformatted(o);
        char *h = t ? gr_evm_b64_encode((const uint8_t *)t, strlen(t), NULL) : NULL;
        if (h) gr_request_add_header(r, "PAYMENT-REQUIRED", h);
        free(h);
        cJSON_free(t);
        gr_request_add_header(r, "Cache-Control", "no-store");
        reply_obj(r, 402, o);
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
    x402_job *j = new_job(r, p, XJ_CREDIT_VIEW, credit_view);
    gr_evm_address_lower(&pr.address, j->payer);
    snprintf(j->key, sizeof j->key, "siwx:%s", pr.nonce);
    j->valid_before = pr.expires_s;
    submit_job(r, j);
}

static void serve_credit(gr_request *r, gr_pay_x402 *p, const char *query) {
    const char *sx = in_header(r, GR_X402_SIWX_HEADER);
    if (p->siwx && (sx || !query || !strstr(query, "address="))) {
        serve_credit_signed(r, p, sx);
        return;
    }
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    evhttp_parse_query_str(query, &q);
    const char *a = evhttp_find_header(&q, "address");
    gr_evm_address addr;
    if (!a || gr_evm_address_parse(gr_str_c(a), false, &addr) != GR_OK) {
        evhttp_clear_headers(&q);
        gr_request_fail(r, 400, "invalid_request_error", "invalid_address", "address",
                        "Pass ?address=0x… (an EVM address, 40 hex digits).");
        return;
    }
    evhttp_clear_headers(&q);
    x402_job *j = new_job(r, p, XJ_CREDIT_VIEW, credit_view);
    gr_evm_address_lower(&addr, j->payer);
    submit_job(r, j);
}

static void payment_view(gr_request *r, x402_job *j) {
    if (j->rc == GR_ERR_NOT_FOUND) {
        gr_request_fail(r, 404, "invalid_request_error", "payment_not_found", "id", "No x402 payment for request %s.",
                        j->rid);
        return;
    }
    if (j->rc != GR_OK) {
        gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL, "The payment store is unavailable.");
        return;
    }
    cJSON *o = j->obj;
    j->obj = NULL;
    reply_obj(r, 200, o);
}

/* GET /v1/x402/payments?id=<request id>: one payment, either scheme — for
 * upto the authorised maximum and the settled amount (final once the
 * settlement ends; a stream's reply header could not carry it). */
static void serve_payment(gr_request *r, gr_pay_x402 *p, const char *query) {
    struct evkeyvalq q;
    memset(&q, 0, sizeof q);
    evhttp_parse_query_str(query, &q);
    const char *id = evhttp_find_header(&q, "id");
    if (!id || !*id || strlen(id) >= 64) {
        evhttp_clear_headers(&q);
        gr_request_fail(r, 400, "invalid_request_error", "invalid_id", "id",
                        "Pass ?id=<request id> (the x-gaterouter-request-id of the paid request, or the "
                        "x-request-id it was sent with).");
        return;
    }
    x402_job *j = new_job(r, p, XJ_PAYMENT_GET, payment_view);
    snprintf(j->rid, sizeof j->rid, "%s", id);
    evhttp_clear_headers(&q);
    submit_job(r, j);
}

void gr_pay_x402_serve(gr_request *r, const char *path, const char *query) {
    gr_pay_x402 *p = px(r);
    r->key_name = "x402";
    if (!p) {
        gr_request_fail(r, 404, "invalid_request_error", "x402_disabled", NULL, "x402 payments are not enabled here.");
        return;
    }
    bool get = r->method && (!strcmp(r->method, "GET") || !strcmp(r->method, "HEAD"));
    bool known = !strcmp(path, "/v1/x402/pricing") || !strcmp(path, "/v1/x402/credit") ||
                 !strcmp(path, "/v1/x402/payments") || !strcmp(path, "/.well-known/x402");
    if (known && !get) {
        gr_request_add_header(r, "Allow", "GET, HEAD");
        gr_request_fail(r, 405, "invalid_request_error", "method_not_allowed", NULL, "Method %s is not allowed for %s",
                        r->method, path);
        return;
    }
    if (!strcmp(path, "/v1/x402/pricing")) serve_pricing(r, p, query ? query : "");
    else if (!strcmp(path, "/.well-known/x402")) serve_well_known(r, p);
    else if (!strcmp(path, "/v1/x402/credit")) serve_credit(r, p, query ? query : "");
    else if (!strcmp(path, "/v1/x402/payments")) serve_payment(r, p, query ? query : "");
    else gr_request_fail(r, 404, "invalid_request_error", "unknown_url", NULL, "Invalid URL (%s %s)", r->method, path);
}

/* ---- registered handlers (pipeline.h) ---- */

static bool on_reply(gr_request *r, int status, const char *body, size_t len) {
    if (r->pay_x402 && !r->client_gone) before_reply(r);
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
    return body && r->pay_x402 && !r->client_gone && hold_reply(r, status, body, len);
}

/* Actual cost -> settlement and credit; the x402 columns of the ledger row
 * (only for a request that reached a model: f->row is NULL otherwise). */
static void on_ledger_fill(gr_request *r, gr_finish_info *f) {
    if (r->pay_x402 && f->row) finish_paid(r, f->row);
}

/* AUTHENTICATE: with x402 on, a request carrying a payment header
 * (X-PAYMENT / PAYMENT-SIGNATURE), or no credential at all, is paid per
 * request and needs no account; any other goes on to the key check. */
static gr_phase_rc phase_authenticate(gr_request *r) {
    if (!px(r)) return GR_PHASE_NEXT;
    const char *k = gr_request_presented_key(r);
    if (!in_header(r, "X-PAYMENT") && !in_header(r, "PAYMENT-SIGNATURE") && k && *k) return GR_PHASE_NEXT;
    r->pay_x402 = true;
    r->key_name = "x402";
    return GR_PHASE_DONE;
}

/* ADMIT, first: the payment itself (store calls on the executor). */
static gr_phase_rc phase_admit(gr_request *r) {
    if (!r->pay_x402 || !px(r)) return GR_PHASE_NEXT;
    admit(r);
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
        reject_replay(r);
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
    if (!r->pay_x402 || !r->w->shared || !claim_info(r, &token, &ttl)) return GR_PHASE_NEXT;
    r->shared_op = gr_shared_claim(r->w->shared, token, ttl, on_claim, r);
    return GR_PHASE_STOP; /* continues in on_claim */
}

void gr_pay_x402_register(void) {
    g_ctx_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, phase_authenticate);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_admit);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_claim);
    gr_pipeline_on_reply(GR_REPLY_HOLD, on_reply_hold);
    gr_pipeline_on_reply(GR_REPLY_PAYMENT, on_reply);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_FILL, on_ledger_fill);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, on_release);
}
