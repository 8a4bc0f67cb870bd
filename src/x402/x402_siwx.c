/* x402_siwx.c — sign-in-with-x for EVM wallets: the 402's challenge and the
 * local verification of a signed EIP-4361 message (see x402_siwx.h). */
#include "x402_siwx.h"
#include "keccak.h"
#include "x402.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *gr_x402_siwx_err_str(gr_x402_siwx_err e) {
    switch (e) {
    case GR_SIWX_OK: return "ok";
    case GR_SIWX_MALFORMED: return "siwx_invalid_payload";
    case GR_SIWX_DOMAIN: return "siwx_domain_mismatch";
    case GR_SIWX_URI: return "siwx_uri_mismatch";
    case GR_SIWX_CHAIN: return "siwx_unsupported_chain";
    case GR_SIWX_EXPIRED: return "siwx_expired";
    case GR_SIWX_NOT_YET: return "siwx_not_yet_valid";
    case GR_SIWX_SMART_WALLET: return "siwx_smart_wallet_unsupported";
    case GR_SIWX_SIGNATURE: return "siwx_invalid_signature";
    }
    return "siwx_invalid_payload";
}

/* ---- fields ---- */

static const char *str_field(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* No control characters: a field cannot add lines to the signed message. */
static bool one_line(const char *s) {
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
    return true;
}

/* RFC 3339 UTC with optional fraction: YYYY-MM-DDTHH:MM:SS[.f+](Z|+00:00) -> unix ms. */
static bool parse_time(const char *s, int64_t *ms) {
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p) return false;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3) frac = frac * 10 + (*p - '0');
        if (digits == 0) return false;
        for (; digits < 3; digits++) frac *= 10;
    }
    if (strcmp(p, "Z") && strcmp(p, "+00:00")) return false;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return false;
    *ms = (int64_t)t * 1000 + frac;
    return true;
}

static void format_time(int64_t ms, char out[32]) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

/* "eip155:<n>" -> n */
static bool evm_chain(const char *s, uint64_t *id) {
    if (!s || strncmp(s, "eip155:", 7) || !isdigit((unsigned char)s[7])) return false;
    char *end = NULL;
    unsigned long long v = strtoull(s + 7, &end, 10);
    if (*end || v == 0) return false;
    *id = v;
    return true;
}

/* scheme://host[:port] of a URL: its length (0 = not a URL). */
static size_t origin_len(const char *url) {
    const char *p = url ? strstr(url, "://") : NULL;
    if (!p) return 0;
    p += 3;
    size_t n = strcspn(p, "/?#");
    return n ? (size_t)(p - url) + n : 0;
}

/* ---- the EIP-4361 message ---- */

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void put(sbuf *b, const char *a, const char *c) {
    size_t la = strlen(a), lc = c ? strlen(c) : 0;
    if (b->len + la + lc + 1 > b->cap) {
        b->cap = (b->len + la + lc + 1) * 2;
        b->s = gr_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, a, la);
    if (lc) memcpy(b->s + b->len + la, c, lc);
    b->len += la + lc;
    b->s[b->len] = '\0';
}

char *gr_x402_siwx_message(const cJSON *f) {
    const char *domain = str_field(f, "domain"), *address = str_field(f, "address"), *uri = str_field(f, "uri");
    const char *version = str_field(f, "version"), *chain = str_field(f, "chainId"), *nonce = str_field(f, "nonce");
    const char *issued = str_field(f, "issuedAt"), *statement = str_field(f, "statement");
    uint64_t chain_id = 0;
    if (!domain || !address || !uri || !version || !nonce || !issued || !evm_chain(chain, &chain_id)) return NULL;
    const char *opt[] = {str_field(f, "expirationTime"), str_field(f, "notBefore"), str_field(f, "requestId")};
    const char *opt_label[] = {"\nExpiration Time: ", "\nNot Before: ", "\nRequest ID: "};
    const cJSON *res = cJSON_GetObjectItemCaseSensitive(f, "resources");
    const char *all[] = {domain, address, uri, version, nonce, issued, statement, opt[0], opt[1], opt[2]};
    for (size_t i = 0; i < GR_ARRAY_LEN(all); i++)
        if (!one_line(all[i])) return NULL;
    if (res && !cJSON_IsArray(res)) return NULL;
    char cid[24];
    snprintf(cid, sizeof cid, "%llu", (unsigned long long)chain_id);
    sbuf b = {0};
    put(&b, domain, " wants you to sign in with your Ethereum account:\n");
    put(&b, address, "\n\n");
    if (statement && *statement) put(&b, statement, "\n\n");
    put(&b, "URI: ", uri);
    put(&b, "\nVersion: ", version);
    put(&b, "\nChain ID: ", cid);
    put(&b, "\nNonce: ", nonce);
    put(&b, "\nIssued At: ", issued);
    for (size_t i = 0; i < GR_ARRAY_LEN(opt); i++)
        if (opt[i]) put(&b, opt_label[i], opt[i]);
    if (cJSON_GetArraySize(res) > 0) {
        put(&b, "\nResources:", NULL);
        const cJSON *it;
        cJSON_ArrayForEach(it, res) {
            if (!cJSON_IsString(it) || !one_line(it->valuestring)) {
                free(b.s);
                return NULL;
            }
            put(&b, "\n- ", it->valuestring);
        }
    }
    return b.s;
}

/* EIP-191 personal_sign digest of msg. */
static void personal_digest(const char *msg, uint8_t out[32]) {
    char prefix[64];
    size_t len = strlen(msg);
    int n = snprintf(prefix, sizeof prefix, "\x19" "Ethereum Signed Message:\n%zu", len);
    gr_keccak_ctx c;
    gr_keccak_init(&c);
    gr_keccak_update(&c, prefix, (size_t)n);
    gr_keccak_update(&c, msg, len);
    gr_keccak_final(&c, out);
}

/* ---- verification ---- */

static gr_x402_siwx_err check_fields(const cJSON *f, const gr_x402_siwx_expect *e, gr_x402_siwx_proof *out) {
    const char *domain = str_field(f, "domain"), *uri = str_field(f, "uri"), *version = str_field(f, "version");
    const char *nonce = str_field(f, "nonce"), *type = str_field(f, "type"), *address = str_field(f, "address");
    if (!domain || !uri || !version || !nonce || !address || strcmp(version, "1")) return GR_SIWX_MALFORMED;
    if (type && strcmp(type, "eip191")) return GR_SIWX_CHAIN;
    size_t nl = strlen(nonce);
    if (nl < GR_X402_SIWX_NONCE_MIN || nl > GR_X402_SIWX_NONCE_MAX) return GR_SIWX_MALFORMED;
    for (size_t i = 0; i < nl; i++)
        if (!isalnum((unsigned char)nonce[i])) return GR_SIWX_MALFORMED;
    memcpy(out->nonce, nonce, nl + 1);
    if (gr_evm_address_parse(gr_str_c(address), false, &out->address) != GR_OK) return GR_SIWX_MALFORMED;
    if (strcmp(domain, e->domain)) return GR_SIWX_DOMAIN;
    size_t ol = origin_len(e->uri);
    if (!ol || strncmp(uri, e->uri, ol) || (uri[ol] && uri[ol] != '/')) return GR_SIWX_URI;
    if (!evm_chain(str_field(f, "chainId"), &out->chain_id)) return GR_SIWX_CHAIN;
    bool known = false;
    for (size_t i = 0; i < e->nchains; i++) known |= e->chain_ids[i] == out->chain_id;
    if (!known) return GR_SIWX_CHAIN;
    int64_t issued, t;
    if (!parse_time(str_field(f, "issuedAt"), &issued)) return GR_SIWX_MALFORMED;
    if (issued > e->now_ms + GR_X402_SIWX_SKEW_MS) return GR_SIWX_NOT_YET;
    int64_t expires = issued + e->max_age_ms;
    if (e->now_ms > expires) return GR_SIWX_EXPIRED;
    const char *exp = str_field(f, "expirationTime"), *nbf = str_field(f, "notBefore");
    if (exp) {
        if (!parse_time(exp, &t)) return GR_SIWX_MALFORMED;
        if (t <= e->now_ms) return GR_SIWX_EXPIRED;
        if (t < expires) expires = t;
    }
    if (nbf) {
        if (!parse_time(nbf, &t)) return GR_SIWX_MALFORMED;
        if (t > e->now_ms) return GR_SIWX_NOT_YET;
    }
    out->expires_s = expires / 1000 + 1;
    return GR_SIWX_OK;
}

gr_x402_siwx_err gr_x402_siwx_verify(const char *header_b64, const gr_x402_siwx_expect *e, gr_x402_siwx_proof *out) {
    memset(out, 0, sizeof *out);
    if (!header_b64 || strlen(header_b64) > GR_X402_HEADER_MAX) return GR_SIWX_MALFORMED;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (gr_evm_b64_decode(gr_str_c(header_b64), GR_X402_HEADER_MAX, &raw, &raw_len) != GR_OK) return GR_SIWX_MALFORMED;
    cJSON *f = cJSON_ParseWithLength((const char *)raw, raw_len);
    free(raw);
    gr_x402_siwx_err rc = cJSON_IsObject(f) ? check_fields(f, e, out) : GR_SIWX_MALFORMED;
    char *msg = rc == GR_SIWX_OK ? gr_x402_siwx_message(f) : NULL;
    if (rc == GR_SIWX_OK && !msg) rc = GR_SIWX_MALFORMED;
    if (rc == GR_SIWX_OK) {
        const char *sig_hex = str_field(f, "signature");
        uint8_t sig[GR_EVM_SIG_LEN];
        size_t sl = sig_hex ? strlen(sig_hex) : 0;
        if (!sig_hex || sl < 4 || strncmp(sig_hex, "0x", 2)) rc = GR_SIWX_MALFORMED;
        else if (sl != 2 + 2 * GR_EVM_SIG_LEN) rc = GR_SIWX_SMART_WALLET;
        else if (gr_evm_hex_decode(gr_str_c(sig_hex), sig, sizeof sig) != GR_OK) rc = GR_SIWX_MALFORMED;
        if (rc == GR_SIWX_OK) {
            uint8_t digest[32];
            gr_evm_address signer;
            personal_digest(msg, digest);
            if (gr_evm_recover(digest, sig, &signer) != GR_OK || !gr_evm_address_eq(&signer, &out->address))
                rc = GR_SIWX_SIGNATURE;
        }
    }
    free(msg);
    cJSON_Delete(f);
    return rc;
}

/* ---- the challenge ---- */

static cJSON *schema_obj(void) {
    static const char *const props[] = {"domain", "address", "statement", "uri", "version", "chainId", "type",
                                        "nonce", "issuedAt", "expirationTime", "notBefore", "requestId",
                                        "signature"};
    static const char *const required[] = {"domain", "address", "uri", "version", "chainId",
                                           "type", "nonce", "issuedAt", "signature"};
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "$schema", "https://json-schema.org/draft/2020-12/schema");
    cJSON_AddStringToObject(s, "type", "object");
    cJSON *p = cJSON_AddObjectToObject(s, "properties");
    for (size_t i = 0; i < GR_ARRAY_LEN(props); i++)
        cJSON_AddStringToObject(cJSON_AddObjectToObject(p, props[i]), "type", "string");
    cJSON *res = cJSON_AddObjectToObject(p, "resources");
    cJSON_AddStringToObject(res, "type", "array");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(res, "items"), "type", "string");
    cJSON_AddItemToObject(s, "required", cJSON_CreateStringArray(required, (int)GR_ARRAY_LEN(required)));
    return s;
}

gr_status gr_x402_siwx_challenge(cJSON *extensions, const gr_x402_siwx_expect *e, const char *statement) {
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1) return GR_ERR_CRYPTO;
    char nonce[2 * sizeof rnd + 3], issued[32], expires[32];
    gr_evm_hex_encode(rnd, sizeof rnd, nonce); /* "0x…": the nonce is the hex digits */
    format_time(e->now_ms, issued);
    format_time(e->now_ms + e->max_age_ms, expires);
    cJSON *ext = cJSON_AddObjectToObject(extensions, GR_X402_SIWX_EXT);
    cJSON *info = ext ? cJSON_AddObjectToObject(ext, "info") : NULL;
    cJSON *chains = ext ? cJSON_AddArrayToObject(ext, "supportedChains") : NULL;
    if (!info || !chains) return GR_ERR_NOMEM;
    cJSON_AddStringToObject(info, "domain", e->domain);
    cJSON_AddStringToObject(info, "uri", e->uri);
    cJSON_AddStringToObject(info, "version", "1");
    cJSON_AddStringToObject(info, "nonce", nonce + 2);
    cJSON_AddStringToObject(info, "issuedAt", issued);
    cJSON_AddStringToObject(info, "expirationTime", expires);
    if (statement && *statement) cJSON_AddStringToObject(info, "statement", statement);
    cJSON_AddItemToObject(info, "resources", cJSON_CreateStringArray(&e->uri, 1));
    for (size_t i = 0; i < e->nchains; i++) {
        bool dup = false;
        for (size_t k = 0; k < i; k++) dup |= e->chain_ids[k] == e->chain_ids[i];
        if (dup) continue;
        char cid[32];
        snprintf(cid, sizeof cid, "eip155:%llu", (unsigned long long)e->chain_ids[i]);
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "chainId", cid);
        cJSON_AddStringToObject(c, "type", "eip191");
        cJSON_AddStringToObject(c, "signatureScheme", "eip191");
        cJSON_AddItemToArray(chains, c);
    }
    cJSON_AddItemToObject(ext, "schema", schema_obj());
    return GR_OK;
}
