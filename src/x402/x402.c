/* x402.c — x402 v1/v2 codec (402 payloads, settlement headers, payment
 * headers) and local verification of exact/EIP-3009 payments. */
#include "x402.h"

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* ---- error strings ---- */

const char *gr_x402_err_str(gr_x402_err e, int v) {
    bool v2 = v == 2;
    switch (e) {
    case GR_X402_OK: return "";
    case GR_X402_INVALID_PAYLOAD: return "invalid_payload";
    case GR_X402_INVALID_X402_VERSION: return "invalid_x402_version";
    case GR_X402_UNSUPPORTED_SCHEME: return "unsupported_scheme";
    case GR_X402_INVALID_SCHEME: return v2 ? "invalid_exact_evm_scheme" : "invalid_scheme";
    case GR_X402_INVALID_NETWORK: return v2 ? "invalid_exact_evm_network_mismatch" : "invalid_network";
    case GR_X402_INVALID_PAYMENT_REQUIREMENTS: return "invalid_payment_requirements";
    case GR_X402_MISSING_EIP712_DOMAIN:
        return v2 ? "invalid_exact_evm_missing_eip712_domain" : "invalid_payment_requirements";
    case GR_X402_RECIPIENT_MISMATCH:
        return v2 ? "invalid_exact_evm_recipient_mismatch" : "invalid_exact_evm_payload_recipient_mismatch";
    case GR_X402_AUTHORIZATION_VALUE:
        return v2 ? "invalid_exact_evm_authorization_value" : "invalid_exact_evm_payload_authorization_value";
    case GR_X402_VALID_BEFORE: return "invalid_exact_evm_payload_authorization_valid_before";
    case GR_X402_VALID_AFTER: return "invalid_exact_evm_payload_authorization_valid_after";
    case GR_X402_SIGNATURE: return v2 ? "invalid_exact_evm_signature" : "invalid_exact_evm_payload_signature";
    }
    return "unexpected_verify_error";
}

/* ---- networks ---- */

static const struct {
    const char *name;
    uint64_t chain_id;
} NETWORKS[] = {
    /* v1 names known to the official packages (x402 1.x, @x402/evm v1) */
    {"ethereum", 1},
    {"sepolia", 11155111},
    {"base", 8453},
    {"base-sepolia", 84532},
    {"avalanche", 43114},
    {"avalanche-fuji", 43113},
    {"polygon", 137},
    {"polygon-amoy", 80002},
    {"abstract", 2741},
    {"abstract-testnet", 11124},
    {"iotex", 4689},
    {"sei", 1329},
    {"sei-testnet", 1328},
    {"peaq", 3338},
    {"story", 1514},
    {"educhain", 41923},
    {"skale-base-sepolia", 324705682},
    {"megaeth", 4326},
    {"monad", 143},
    {"stable", 988},
    {"stable-testnet", 2201},
    /* convenience names (not in the v1 client enum; v2 uses CAIP-2 anyway) */
    {"arbitrum", 42161},
    {"arbitrum-sepolia", 421614},
};

gr_status gr_x402_network_parse(gr_str s, uint64_t *chain_id) {
    static const char pfx[] = "eip155:";
    size_t pl = sizeof(pfx) - 1;
    if (s.len > pl && memcmp(s.ptr, pfx, pl) == 0) {
        size_t nd = s.len - pl;
        const char *d = s.ptr + pl;
        if (nd > 20 || d[0] == '0') return GR_ERR_PARSE;
        uint64_t v = 0;
        for (size_t i = 0; i < nd; i++) {
            if (d[i] < '0' || d[i] > '9') return GR_ERR_PARSE;
            unsigned dig = (unsigned)(d[i] - '0');
            if (v > (UINT64_MAX - dig) / 10) return GR_ERR_PARSE;
            v = v * 10 + dig;
        }
        *chain_id = v;
        return GR_OK;
    }
    for (size_t i = 0; i < GR_ARRAY_LEN(NETWORKS); i++) {
        if (gr_str_eq_c(s, NETWORKS[i].name)) {
            *chain_id = NETWORKS[i].chain_id;
            return GR_OK;
        }
    }
    return GR_ERR_NOT_FOUND;
}

const char *gr_x402_network_v1_name(uint64_t chain_id) {
    for (size_t i = 0; i < GR_ARRAY_LEN(NETWORKS); i++)
        if (NETWORKS[i].chain_id == chain_id) return NETWORKS[i].name;
    return NULL;
}

void gr_x402_network_caip2(uint64_t chain_id, char out[GR_X402_NETWORK_STR_MAX]) {
    snprintf(out, GR_X402_NETWORK_STR_MAX, "eip155:%llu", (unsigned long long)chain_id);
}

/* ---- rendering ---- */

/* Adders that remember the first allocation failure in *ok. */
static void add_str(cJSON *o, const char *k, const char *v, bool *ok) {
    if (!cJSON_AddStringToObject(o, k, v ? v : "")) *ok = false;
}
static void add_num(cJSON *o, const char *k, double v, bool *ok) {
    if (!cJSON_AddNumberToObject(o, k, v)) *ok = false;
}
static void add_addr(cJSON *o, const char *k, const gr_evm_address *a, bool *ok) {
    char buf[GR_EVM_ADDR_STR_LEN + 1];
    gr_evm_address_checksum(a, buf);
    add_str(o, k, buf, ok);
}
static void add_u256(cJSON *o, const char *k, const gr_u256 *v, bool *ok) {
    char buf[GR_U256_DEC_MAX + 1];
    gr_u256_to_dec(v, buf);
    add_str(o, k, buf, ok);
}

static gr_status network_str(int version, uint64_t chain_id, char out[GR_X402_NETWORK_STR_MAX]) {
    if (version == 1) {
        const char *n = gr_x402_network_v1_name(chain_id);
        if (!n) return GR_ERR_UNSUPPORTED;
        snprintf(out, GR_X402_NETWORK_STR_MAX, "%s", n);
        return GR_OK;
    }
    gr_x402_network_caip2(chain_id, out);
    return GR_OK;
}

static gr_status render_requirement(int version, const gr_x402_requirements *r, cJSON *arr) {
    char net[GR_X402_NETWORK_STR_MAX];
    if (!r->scheme || (version == 1 && !r->resource)) return GR_ERR_INVALID;
    gr_status rc = network_str(version, r->chain_id, net);
    if (rc != GR_OK) return rc;
    cJSON *o = cJSON_CreateObject();
    if (!o) return GR_ERR_NOMEM;
    if (!cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return GR_ERR_NOMEM;
    }
    bool ok = true;
    add_str(o, "scheme", r->scheme, &ok);
    add_str(o, "network", net, &ok);
    add_u256(o, version == 1 ? "maxAmountRequired" : "amount", &r->amount, &ok);
    add_addr(o, "asset", &r->asset, &ok);
    add_addr(o, "payTo", &r->pay_to, &ok);
    if (version == 1) {
        add_str(o, "resource", r->resource, &ok);
        add_str(o, "description", r->description, &ok);
        add_str(o, "mimeType", r->mime_type, &ok);
    }
    add_num(o, "maxTimeoutSeconds", r->max_timeout_seconds, &ok);
    /* v2 types extra as a required record; v1 as optional */
    if (version == 2 || r->extra_name || r->extra_version) {
        cJSON *extra = cJSON_AddObjectToObject(o, "extra");
        if (!extra) return GR_ERR_NOMEM;
        if (r->extra_name) add_str(extra, "name", r->extra_name, &ok);
        if (r->extra_version) add_str(extra, "version", r->extra_version, &ok);
    }
    return ok ? GR_OK : GR_ERR_NOMEM;
}

static gr_status print_json(cJSON *root, char **out) {
    char *s = cJSON_PrintUnformatted(root);
    if (!s) return GR_ERR_NOMEM;
    *out = s;
    return GR_OK;
}

gr_status gr_x402_render_payment_required(int version, const gr_x402_requirements *reqs, size_t n,
                                          const char *error, char **json_out) {
    if ((version != 1 && version != 2) || !reqs || n == 0) return GR_ERR_INVALID;
    if (version == 2 && !reqs[0].resource) return GR_ERR_INVALID;
    gr_status rc = GR_ERR_NOMEM;
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    if (!root) return GR_ERR_NOMEM;
    add_num(root, "x402Version", version, &ok);
    if (version == 1) add_str(root, "error", error ? error : "X-PAYMENT header is required", &ok);
    else if (error) add_str(root, "error", error, &ok);
    if (version == 2) {
        cJSON *res = cJSON_AddObjectToObject(root, "resource");
        if (!res) goto out;
        add_str(res, "url", reqs[0].resource, &ok);
        if (reqs[0].description) add_str(res, "description", reqs[0].description, &ok);
        if (reqs[0].mime_type) add_str(res, "mimeType", reqs[0].mime_type, &ok);
    }
    cJSON *arr = cJSON_AddArrayToObject(root, "accepts");
    if (!arr || !ok) goto out;
    for (size_t i = 0; i < n; i++) {
        rc = render_requirement(version, &reqs[i], arr);
        if (rc != GR_OK) goto out;
    }
    rc = print_json(root, json_out);
out:
    cJSON_Delete(root);
    return rc;
}

static gr_status b64_of(char *json, char **b64_out) {
    *b64_out = gr_evm_b64_encode((const uint8_t *)json, strlen(json), NULL);
    free(json);
    return GR_OK;
}

gr_status gr_x402_render_payment_required_header(const gr_x402_requirements *reqs, size_t n,
                                                 const char *error, char **b64_out) {
    char *json = NULL;
    gr_status rc = gr_x402_render_payment_required(2, reqs, n, error, &json);
    if (rc != GR_OK) return rc;
    return b64_of(json, b64_out);
}

gr_status gr_x402_render_settlement(int version, const gr_x402_settlement *s, char **b64_out) {
    if ((version != 1 && version != 2) || !s) return GR_ERR_INVALID;
    char net[GR_X402_NETWORK_STR_MAX];
    gr_status rc = network_str(version, s->chain_id, net);
    if (rc != GR_OK) return rc;
    bool ok = true;
    cJSON *root = cJSON_CreateObject();
    if (!root) return GR_ERR_NOMEM;
    if (!cJSON_AddBoolToObject(root, "success", s->success)) ok = false;
    if (!s->success && s->error_reason) add_str(root, "errorReason", s->error_reason, &ok);
    add_str(root, "transaction", s->transaction, &ok);
    add_str(root, "network", net, &ok);
    if (s->has_payer) add_addr(root, "payer", &s->payer, &ok);
    else if (version == 1) add_str(root, "payer", "", &ok);
    if (version == 2 && s->has_amount) add_u256(root, "amount", &s->amount, &ok);
    char *json = NULL;
    rc = ok ? print_json(root, &json) : GR_ERR_NOMEM;
    cJSON_Delete(root);
    if (rc != GR_OK) return rc;
    return b64_of(json, b64_out);
}

/* ---- payment decoding ---- */

static const char *get_str(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

static gr_status copy_bounded(char *dst, size_t cap, const char *src) {
    size_t l = strlen(src);
    if (l >= cap) return GR_ERR_TOO_LARGE;
    memcpy(dst, src, l + 1);
    return GR_OK;
}

/* Parses a required string field with parser fn; missing/wrong type/bad value
 * -> invalid_payload. */
#define REQ_FIELD(obj, key, var)                                \
    const char *var = get_str((obj), (key));                    \
    if (!var) {                                                 \
        *err = GR_X402_INVALID_PAYLOAD;                         \
        return GR_ERR_PARSE;                                    \
    }

static gr_status decode_network(const char *s, uint64_t *chain_id, gr_x402_err *err) {
    if (gr_x402_network_parse(gr_str_c(s), chain_id) != GR_OK) {
        *err = GR_X402_INVALID_NETWORK;
        return GR_ERR_INVALID;
    }
    return GR_OK;
}

static gr_status decode_scheme(const char *s, gr_x402_payment *out, gr_x402_err *err) {
    if (strcmp(s, "exact") != 0) {
        *err = GR_X402_UNSUPPORTED_SCHEME;
        return GR_ERR_INVALID;
    }
    memcpy(out->scheme, "exact", sizeof("exact"));
    return GR_OK;
}

static gr_status decode_accepted(const cJSON *acc, gr_x402_payment *out, gr_x402_err *err) {
    gr_x402_accepted *a = &out->accepted;
    if (!cJSON_IsObject(acc)) {
        *err = GR_X402_INVALID_PAYLOAD;
        return GR_ERR_PARSE;
    }
    REQ_FIELD(acc, "scheme", scheme);
    REQ_FIELD(acc, "network", network);
    REQ_FIELD(acc, "amount", amount);
    REQ_FIELD(acc, "asset", asset);
    REQ_FIELD(acc, "payTo", pay_to);
    gr_status rc = decode_scheme(scheme, out, err);
    if (rc != GR_OK) return rc;
    if ((rc = decode_network(network, &a->chain_id, err)) != GR_OK) return rc;
    out->chain_id = a->chain_id;
    *err = GR_X402_INVALID_PAYLOAD;
    if (gr_u256_from_dec(gr_str_c(amount), &a->amount) != GR_OK ||
        gr_evm_address_parse(gr_str_c(asset), false, &a->asset) != GR_OK ||
        gr_evm_address_parse(gr_str_c(pay_to), false, &a->pay_to) != GR_OK)
        return GR_ERR_PARSE;
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(acc, "maxTimeoutSeconds");
    if (mt) {
        if (!cJSON_IsNumber(mt) || mt->valuedouble < 0 || mt->valuedouble > 1e15 ||
            mt->valuedouble != (double)(uint64_t)mt->valuedouble)
            return GR_ERR_PARSE;
        a->max_timeout_seconds = (uint64_t)mt->valuedouble;
    }
    const cJSON *extra = cJSON_GetObjectItemCaseSensitive(acc, "extra");
    if (extra && !cJSON_IsNull(extra)) {
        if (!cJSON_IsObject(extra)) return GR_ERR_PARSE;
        const char *en = get_str(extra, "name"), *ev = get_str(extra, "version");
        if (en && copy_bounded(a->extra_name, sizeof(a->extra_name), en) != GR_OK) return GR_ERR_PARSE;
        if (ev && copy_bounded(a->extra_version, sizeof(a->extra_version), ev) != GR_OK) return GR_ERR_PARSE;
    }
    out->has_accepted = true;
    *err = GR_X402_OK;
    return GR_OK;
}

static gr_status decode_exact_evm(const cJSON *payload, gr_x402_payment *out, gr_x402_err *err) {
    if (!cJSON_IsObject(payload)) {
        *err = GR_X402_INVALID_PAYLOAD;
        return GR_ERR_PARSE;
    }
    REQ_FIELD(payload, "signature", sig);
    const cJSON *auth = cJSON_GetObjectItemCaseSensitive(payload, "authorization");
    if (!cJSON_IsObject(auth)) {
        *err = GR_X402_INVALID_PAYLOAD;
        return GR_ERR_PARSE;
    }
    REQ_FIELD(auth, "from", from);
    REQ_FIELD(auth, "to", to);
    REQ_FIELD(auth, "value", value);
    REQ_FIELD(auth, "validAfter", valid_after);
    REQ_FIELD(auth, "validBefore", valid_before);
    REQ_FIELD(auth, "nonce", nonce);
    gr_eip3009_auth *a = &out->auth;
    *err = GR_X402_INVALID_PAYLOAD;
    if (gr_evm_address_parse(gr_str_c(from), false, &a->from) != GR_OK ||
        gr_evm_address_parse(gr_str_c(to), false, &a->to) != GR_OK ||
        gr_u256_from_dec(gr_str_c(value), &a->value) != GR_OK ||
        gr_u256_from_dec(gr_str_c(valid_after), &a->valid_after) != GR_OK ||
        gr_u256_from_dec(gr_str_c(valid_before), &a->valid_before) != GR_OK ||
        gr_evm_hex_decode(gr_str_c(nonce), a->nonce, 32) != GR_OK)
        return GR_ERR_PARSE;
    /* Signature: any even-length 0x-hex is well-formed (smart-wallet
     * signatures are longer); only 65-byte EOA signatures are verifiable
     * locally, anything else is a signature failure. */
    uint8_t sigbuf[GR_EVM_SIG_LEN];
    size_t siglen = 0;
    gr_status rc = gr_evm_hex_decode_var(gr_str_c(sig), sigbuf, sizeof(sigbuf), &siglen);
    if (rc == GR_ERR_PARSE) return GR_ERR_PARSE;
    if (rc != GR_OK || siglen != GR_EVM_SIG_LEN) {
        *err = GR_X402_SIGNATURE;
        return GR_ERR_INVALID;
    }
    memcpy(out->signature, sigbuf, GR_EVM_SIG_LEN);
    *err = GR_X402_OK;
    return GR_OK;
}

gr_status gr_x402_payment_decode(gr_str header, gr_x402_payment *out, gr_x402_err *err) {
    uint8_t *json = NULL;
    size_t json_len = 0;
    cJSON *root = NULL;
    gr_status rc = GR_ERR_PARSE;
    memset(out, 0, sizeof(*out));
    *err = GR_X402_INVALID_PAYLOAD;
    if (!header.ptr || header.len > GR_X402_HEADER_MAX) return GR_ERR_TOO_LARGE;
    /* tolerate surrounding whitespace the HTTP layer may leave */
    while (header.len && (header.ptr[0] == ' ' || header.ptr[0] == '\t')) header.ptr++, header.len--;
    while (header.len && (header.ptr[header.len - 1] == ' ' || header.ptr[header.len - 1] == '\t'))
        header.len--;
    if (header.len == 0) return GR_ERR_PARSE;
    rc = gr_evm_b64_decode(header, GR_X402_HEADER_MAX, &json, &json_len);
    if (rc != GR_OK) return rc == GR_ERR_NOMEM ? rc : GR_ERR_PARSE;
    rc = GR_ERR_PARSE;
    root = cJSON_ParseWithLength((const char *)json, json_len);
    if (!cJSON_IsObject(root)) goto out;

    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "x402Version");
    if (!cJSON_IsNumber(ver)) goto out;
    if (ver->valuedouble != 1.0 && ver->valuedouble != 2.0) {
        *err = GR_X402_INVALID_X402_VERSION;
        rc = GR_ERR_INVALID;
        goto out;
    }
    out->version = (int)ver->valuedouble;
    if (out->version == 1) {
        const char *scheme = get_str(root, "scheme"), *network = get_str(root, "network");
        if (!scheme || !network) goto out;
        if ((rc = decode_scheme(scheme, out, err)) != GR_OK) goto out;
        if ((rc = decode_network(network, &out->chain_id, err)) != GR_OK) goto out;
    } else {
        rc = decode_accepted(cJSON_GetObjectItemCaseSensitive(root, "accepted"), out, err);
        if (rc != GR_OK) goto out;
    }
    rc = decode_exact_evm(cJSON_GetObjectItemCaseSensitive(root, "payload"), out, err);
out:
    if (rc != GR_OK && *err == GR_X402_OK) *err = GR_X402_INVALID_PAYLOAD;
    if (rc == GR_OK) *err = GR_X402_OK;
    cJSON_Delete(root);
    free(json);
    return rc;
}

/* ---- verification ---- */

/* Checks one candidate requirement; returns GR_X402_OK or the failure, and
 * *stage = how far it got (for picking the most relevant error). */
static gr_x402_err check_candidate(const gr_x402_requirements *r, const gr_x402_payment *p,
                                   uint64_t now, int *stage, gr_evm_address *signer) {
    const gr_eip3009_auth *a = &p->auth;
    *stage = 0;
    if (!r->extra_name || !r->extra_version) return GR_X402_MISSING_EIP712_DOMAIN;
    *stage = 1;
    if (!gr_evm_address_eq(&a->to, &r->pay_to)) return GR_X402_RECIPIENT_MISMATCH;
    *stage = 2;
    gr_u256 lim;
    /* validBefore < now + margin -> expired (now + margin cannot overflow
     * u256; computed in 64 bits with saturation) */
    uint64_t nb = now > UINT64_MAX - GR_X402_VALID_BEFORE_MARGIN ? UINT64_MAX
                                                                 : now + GR_X402_VALID_BEFORE_MARGIN;
    gr_u256_from_u64(nb, &lim);
    if (gr_u256_cmp(&a->valid_before, &lim) < 0) return GR_X402_VALID_BEFORE;
    *stage = 3;
    gr_u256_from_u64(now, &lim);
    if (gr_u256_cmp(&a->valid_after, &lim) > 0) return GR_X402_VALID_AFTER;
    *stage = 4;
    int c = gr_u256_cmp(&a->value, &r->amount);
    if (p->version == 1 ? c < 0 : c != 0) return GR_X402_AUTHORIZATION_VALUE;
    *stage = 5;
    gr_eip712_domain d = {
        .name = gr_str_c(r->extra_name),
        .version = gr_str_c(r->extra_version),
        .chain_id = r->chain_id,
        .verifying_contract = r->asset,
    };
    uint8_t digest[32];
    gr_eip3009_digest(&d, a, digest);
    if (gr_evm_recover(digest, p->signature, signer) != GR_OK) return GR_X402_SIGNATURE;
    if (!gr_evm_address_eq(signer, &a->from)) return GR_X402_SIGNATURE;
    *stage = 6;
    return GR_X402_OK;
}

gr_status gr_x402_verify(const gr_x402_requirements *reqs, size_t n, const gr_x402_payment *p,
                         uint64_t now_unix, gr_x402_result *out) {
    memset(out, 0, sizeof(*out));
    if (!reqs || !p || (p->version != 1 && p->version != 2) || (p->version == 2 && !p->has_accepted)) {
        out->err = GR_X402_INVALID_PAYLOAD;
        return GR_ERR_INVALID;
    }
    /* Candidate filtering: scheme, then network, then (v2) asset. */
    bool any_scheme = false, any_network = false, any_asset = false;
    for (size_t i = 0; i < n; i++) {
        if (!reqs[i].scheme || strcmp(reqs[i].scheme, p->scheme) != 0) continue;
        any_scheme = true;
        if (reqs[i].chain_id != p->chain_id) continue;
        any_network = true;
        if (p->version == 2 && !gr_evm_address_eq(&reqs[i].asset, &p->accepted.asset)) continue;
        any_asset = true;
    }
    if (!any_scheme) out->err = GR_X402_INVALID_SCHEME;
    else if (!any_network) out->err = GR_X402_INVALID_NETWORK;
    else if (!any_asset) out->err = GR_X402_INVALID_PAYMENT_REQUIREMENTS;
    if (out->err != GR_X402_OK) return GR_ERR_INVALID;

    /* v2: try the requirement echoed verbatim first (same payTo and amount),
     * then the others with the same scheme/network/asset. */
    int best_stage = -1;
    gr_x402_err best_err = GR_X402_INVALID_PAYMENT_REQUIREMENTS;
    for (int pass = 0; pass < (p->version == 2 ? 2 : 1); pass++) {
        for (size_t i = 0; i < n; i++) {
            const gr_x402_requirements *r = &reqs[i];
            if (!r->scheme || strcmp(r->scheme, p->scheme) != 0 || r->chain_id != p->chain_id) continue;
            if (p->version == 2) {
                if (!gr_evm_address_eq(&r->asset, &p->accepted.asset)) continue;
                bool echoed = gr_evm_address_eq(&r->pay_to, &p->accepted.pay_to) &&
                              gr_u256_eq(&r->amount, &p->accepted.amount);
                if (echoed != (pass == 0)) continue;
            }
            int stage;
            gr_evm_address signer;
            gr_x402_err e = check_candidate(r, p, now_unix, &stage, &signer);
            if (e == GR_X402_OK) {
                out->err = GR_X402_OK;
                out->req_index = i;
                out->payer = signer;
                out->amount = p->auth.value;
                memcpy(out->nonce, p->auth.nonce, 32);
                if (gr_u256_to_u64(&p->auth.valid_before, &out->valid_before) != GR_OK)
                    out->valid_before = UINT64_MAX;
                return GR_OK;
            }
            if (stage > best_stage) {
                best_stage = stage;
                best_err = e;
            }
        }
    }
    out->err = best_err;
    return GR_ERR_INVALID;
}
