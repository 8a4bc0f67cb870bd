/* pay_x402_config.c — the `x402:` config section parsed into typed
 * structures (config_sections.c runs it at load; --check-config and SIGHUP
 * run the same code), and the feature's life cycle: new, stop, free, the
 * reconcile command. */
#include "pay_x402_internal.h"

#include "log.h"

#include <stdlib.h>
#include <unistd.h>

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
    {"solana_settle_threads", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: threads that send and confirm payments before serving, 1..64 (default 4)"},
    {"solana_settle_queue_max", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: settlements waiting beyond which a paid request gets 503, 1..1000000 (default 256)"},
    GR_CONF_END,
};

const gr_conf_key gr_conf_x402_network_keys[] = {
    {"network", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "v1 name (base, base-sepolia, solana, solana-devnet, ...), eip155:<chain id> or solana:<genesis hash>; required"},
    {"asset", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "token contract address (0x + 40 hex), on Solana the mint (base58); required"},
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
    {"fee_payer_key", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: base58 keypair (64 bytes) or seed (32) of the fee payer that signs and pays each payment's fee; required"},
    {"max_compute_unit_price", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: highest compute-unit price a payment may set, micro-lamports, 0..5000000 (default 5000000)"},
    {"max_compute_unit_limit", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: highest compute-unit limit a payment may set, 1000..1400000 (default 50000)"},
    {"confirm_timeout_ms", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "Solana: how long a payment may take to confirm before the request is refused, 1000..120000 (default 30000)"},
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
    if (!p) return;
    gr_x402_preflight_shutdown(p->preflight);
    gr_pay_svm_shutdown(p->svm);
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
    p->svm = gr_pay_svm_new(x, p->mode == GR_X402_SETTLE_SELF, use == PAY_SERVE, err, errlen);
    if (!p->svm && err[0]) goto fail;
    p->nets = gr_xcalloc((size_t)nn, sizeof *p->nets);
    for (int i = 0; i < nn; i++) {
        if (gr_pay_svm_is_entry(cJSON_GetArrayItem(nets, i))) continue; /* pay_svm.c has it */
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
    gr_pay_svm_free(p->svm); /* its pool was drained by quiesce (or never served) */
    gr_x402_store_close(p->store);
    free_nets(p);
    free(p->public_url);
    memset(p->receipt_key, 0, sizeof p->receipt_key);
    free(p);
}
