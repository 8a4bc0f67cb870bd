/* x402_upto.c — the x402 `upto` scheme (v2, EVM, Permit2): payload decoding,
 * the Permit2 PermitWitnessTransferFrom digest with the x402 upto witness,
 * local verification, the settle amount and the proxy settle() calldata
 * (see x402_upto.h). Built on eip712.c's generic struct hasher; no I/O. */
#include "x402_upto.h"

#include "eip712.h"
#include "keccak.h"
#include "x402.h"

#include <stdio.h>
#include <stdlib.h>

const char *gr_x402_upto_err_str(gr_x402_upto_err e) {
    switch (e) {
    case GR_UPTO_OK: return "";
    case GR_UPTO_INVALID_PAYLOAD: return "invalid_payload";
    case GR_UPTO_INVALID_X402_VERSION: return "invalid_x402_version";
    case GR_UPTO_INVALID_SCHEME: return "invalid_upto_evm_scheme";
    case GR_UPTO_NETWORK_MISMATCH: return "invalid_upto_evm_network_mismatch";
    case GR_UPTO_INVALID_REQUIREMENTS: return "invalid_payment_requirements";
    case GR_UPTO_INVALID_SPENDER: return "invalid_permit2_spender";
    case GR_UPTO_RECIPIENT_MISMATCH: return "invalid_permit2_recipient_mismatch";
    case GR_UPTO_FACILITATOR_MISMATCH: return "upto_facilitator_mismatch";
    case GR_UPTO_DEADLINE_EXPIRED: return "permit2_deadline_expired";
    case GR_UPTO_NOT_YET_VALID: return "permit2_not_yet_valid";
    case GR_UPTO_AMOUNT_MISMATCH: return "permit2_amount_mismatch";
    case GR_UPTO_TOKEN_MISMATCH: return "permit2_token_mismatch";
    case GR_UPTO_INVALID_OWNER: return "permit2_invalid_owner";
    case GR_UPTO_INVALID_SIGNATURE: return "invalid_permit2_signature";
    case GR_UPTO_NONCE_USED: return "permit2_invalid_nonce";
    case GR_UPTO_SETTLEMENT_EXCEEDS: return "invalid_upto_evm_payload_settlement_exceeds_amount";
    }
    return "unexpected_verify_error";
}

/* ---- decoding ---- */

static const char *get_str(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* uint256 as a decimal string or 0x-hex (at most 32 bytes), as BigInt()
 * accepts them in the reference implementation. */
static gr_status parse_u256(const char *s, gr_u256 *out) {
    if (!s) return GR_ERR_PARSE;
    if (s[0] == '0' && s[1] == 'x') {
        uint8_t buf[32];
        size_t n = 0;
        gr_status rc = gr_evm_hex_decode_var(gr_str_c(s), buf, sizeof buf, &n);
        if (rc != GR_OK || n == 0) return GR_ERR_PARSE;
        memset(out->b, 0, 32);
        memcpy(out->b + 32 - n, buf, n);
        return GR_OK;
    }
    return gr_u256_from_dec(gr_str_c(s), out) == GR_OK ? GR_OK : GR_ERR_PARSE;
}

static gr_status parse_addr(const char *s, gr_evm_address *out) {
    if (!s) return GR_ERR_PARSE;
    return gr_evm_address_parse(gr_str_c(s), false, out) == GR_OK ? GR_OK : GR_ERR_PARSE;
}

/* The body of a v2 upto payload once the scheme is known. */
static gr_status decode_body(const cJSON *root, gr_x402_upto_payment *p, gr_x402_upto_err *err) {
    const cJSON *acc = cJSON_GetObjectItemCaseSensitive(root, "accepted");
    const char *network = get_str(acc, "network");
    *err = GR_UPTO_INVALID_PAYLOAD;
    if (!network || !get_str(acc, "amount") || !get_str(acc, "asset") || !get_str(acc, "payTo"))
        return GR_ERR_PARSE;
    if (gr_x402_network_parse(gr_str_c(network), &p->chain_id) != GR_OK) {
        *err = GR_UPTO_NETWORK_MISMATCH;
        return GR_ERR_INVALID;
    }
    if (gr_u256_from_dec(gr_str_c(get_str(acc, "amount")), &p->accepted_amount) != GR_OK ||
        parse_addr(get_str(acc, "asset"), &p->accepted_asset) != GR_OK ||
        parse_addr(get_str(acc, "payTo"), &p->accepted_pay_to) != GR_OK)
        return GR_ERR_PARSE;
    const cJSON *pl = cJSON_GetObjectItemCaseSensitive(root, "payload");
    const cJSON *au = cJSON_GetObjectItemCaseSensitive(pl, "permit2Authorization");
    const cJSON *pm = cJSON_GetObjectItemCaseSensitive(au, "permitted");
    const cJSON *wi = cJSON_GetObjectItemCaseSensitive(au, "witness");
    const char *sig = get_str(pl, "signature");
    if (!sig || !cJSON_IsObject(au) || !cJSON_IsObject(pm) || !cJSON_IsObject(wi)) return GR_ERR_PARSE;
    if (parse_addr(get_str(au, "from"), &p->from) != GR_OK ||
        parse_addr(get_str(pm, "token"), &p->token) != GR_OK ||
        gr_u256_from_dec(gr_str_c(get_str(pm, "amount")), &p->amount) != GR_OK ||
        parse_addr(get_str(au, "spender"), &p->spender) != GR_OK ||
        parse_u256(get_str(au, "nonce"), &p->nonce) != GR_OK ||
        gr_u256_from_dec(gr_str_c(get_str(au, "deadline")), &p->deadline) != GR_OK ||
        parse_addr(get_str(wi, "to"), &p->witness_to) != GR_OK ||
        parse_addr(get_str(wi, "facilitator"), &p->witness_facilitator) != GR_OK ||
        gr_u256_from_dec(gr_str_c(get_str(wi, "validAfter")), &p->valid_after) != GR_OK)
        return GR_ERR_PARSE;
    /* any even-length hex is well-formed; only 65-byte EOA signatures verify */
    uint8_t sigbuf[GR_EVM_SIG_LEN];
    size_t siglen = 0;
    gr_status rc = gr_evm_hex_decode_var(gr_str_c(sig), sigbuf, sizeof sigbuf, &siglen);
    if (rc == GR_ERR_PARSE) return GR_ERR_PARSE;
    if (rc != GR_OK || siglen != GR_EVM_SIG_LEN) {
        *err = GR_UPTO_INVALID_SIGNATURE;
        return GR_ERR_INVALID;
    }
    memcpy(p->signature, sigbuf, GR_EVM_SIG_LEN);
    *err = GR_UPTO_OK;
    return GR_OK;
}

gr_status gr_x402_upto_decode(gr_str header, gr_x402_upto_payment *out, gr_x402_upto_err *err) {
    memset(out, 0, sizeof *out);
    *err = GR_UPTO_OK;
    if (!header.ptr || header.len > GR_X402_HEADER_MAX) return GR_ERR_NOT_FOUND; /* the exact decoder reports it */
    while (header.len && (header.ptr[0] == ' ' || header.ptr[0] == '\t')) header.ptr++, header.len--;
    while (header.len && (header.ptr[header.len - 1] == ' ' || header.ptr[header.len - 1] == '\t')) header.len--;
    uint8_t *json = NULL;
    size_t json_len = 0;
    if (header.len == 0 || gr_evm_b64_decode(header, GR_X402_HEADER_MAX, &json, &json_len) != GR_OK)
        return GR_ERR_NOT_FOUND;
    cJSON *root = cJSON_ParseWithLength((const char *)json, json_len);
    free(json);
    gr_status rc = GR_ERR_NOT_FOUND;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "x402Version");
    const char *s1 = get_str(root, "scheme");
    const char *s2 = get_str(cJSON_GetObjectItemCaseSensitive(root, "accepted"), "scheme");
    bool upto = (s1 && !strcmp(s1, "upto")) || (s2 && !strcmp(s2, "upto"));
    if (!cJSON_IsObject(root) || !upto) goto out;
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 2.0 || !s2 || strcmp(s2, "upto") != 0) {
        *err = cJSON_IsNumber(ver) && ver->valuedouble != 2.0 ? GR_UPTO_INVALID_X402_VERSION : GR_UPTO_INVALID_PAYLOAD;
        rc = GR_ERR_INVALID;
        goto out;
    }
    rc = decode_body(root, out, err);
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- EIP-712 ---- */

void gr_x402_upto_domain_separator(uint64_t chain_id, const gr_evm_address *permit2, uint8_t out[32]) {
    const gr_eip712_value f[] = {gr_eip712_string(GR_STR_LIT("Permit2")), gr_eip712_uint64(chain_id),
                                 gr_eip712_address(*permit2)};
    if (gr_eip712_hash_struct(GR_STR_LIT(GR_PERMIT2_DOMAIN_TYPE), f, GR_ARRAY_LEN(f), out) != GR_OK) { /* valid */ }
}

void gr_x402_upto_witness_hash(const gr_x402_upto_payment *p, uint8_t out[32]) {
    const gr_eip712_value f[] = {gr_eip712_address(p->witness_to), gr_eip712_address(p->witness_facilitator),
                                 gr_eip712_uint(p->valid_after)};
    if (gr_eip712_hash_struct(GR_STR_LIT(GR_UPTO_WITNESS_TYPE), f, GR_ARRAY_LEN(f), out) != GR_OK) { /* valid */ }
}

void gr_x402_upto_struct_hash(const gr_x402_upto_payment *p, uint8_t out[32]) {
    const gr_eip712_value tp[] = {gr_eip712_address(p->token), gr_eip712_uint(p->amount)};
    uint8_t permitted[32], witness[32];
    if (gr_eip712_hash_struct(GR_STR_LIT(GR_PERMIT2_TOKEN_PERMISSIONS_TYPE), tp, GR_ARRAY_LEN(tp), permitted) !=
        GR_OK) { /* valid */ }
    gr_x402_upto_witness_hash(p, witness);
    const gr_eip712_value f[] = {gr_eip712_b32(GR_EIP712_STRUCT, permitted), gr_eip712_address(p->spender),
                                 gr_eip712_uint(p->nonce), gr_eip712_uint(p->deadline),
                                 gr_eip712_b32(GR_EIP712_STRUCT, witness)};
    if (gr_eip712_hash_struct(GR_STR_LIT(GR_UPTO_PERMIT_WITNESS_TYPE), f, GR_ARRAY_LEN(f), out) != GR_OK) {
        /* valid */
    }
}

void gr_x402_upto_digest(const gr_x402_upto_payment *p, const gr_evm_address *permit2, uint8_t out[32]) {
    uint8_t ds[32], sh[32];
    gr_x402_upto_domain_separator(p->chain_id, permit2, ds);
    gr_x402_upto_struct_hash(p, sh);
    gr_eip712_digest(ds, sh, out);
}

/* ---- verification ---- */

static gr_x402_upto_err check_offer(const gr_x402_upto_offer *o, const gr_x402_upto_payment *p, uint64_t now,
                                    int *stage, gr_evm_address *signer) {
    gr_u256 lim;
    *stage = 0;
    if (!gr_evm_address_eq(&p->spender, &o->proxy)) return GR_UPTO_INVALID_SPENDER;
    *stage = 1;
    if (!gr_evm_address_eq(&p->witness_to, &o->pay_to)) return GR_UPTO_RECIPIENT_MISMATCH;
    *stage = 2;
    if (!gr_evm_address_eq(&p->witness_facilitator, &o->facilitator)) return GR_UPTO_FACILITATOR_MISMATCH;
    *stage = 3;
    uint64_t nb = now > UINT64_MAX - GR_UPTO_DEADLINE_MARGIN ? UINT64_MAX : now + GR_UPTO_DEADLINE_MARGIN;
    gr_u256_from_u64(nb, &lim);
    if (gr_u256_cmp(&p->deadline, &lim) < 0) return GR_UPTO_DEADLINE_EXPIRED;
    *stage = 4;
    gr_u256_from_u64(now, &lim);
    if (gr_u256_cmp(&p->valid_after, &lim) > 0) return GR_UPTO_NOT_YET_VALID;
    *stage = 5;
    if (!gr_u256_eq(&p->amount, &p->accepted_amount) || gr_u256_cmp(&p->amount, &o->amount) < 0)
        return GR_UPTO_AMOUNT_MISMATCH;
    *stage = 6;
    if (!gr_evm_address_eq(&p->token, &o->asset)) return GR_UPTO_TOKEN_MISMATCH;
    *stage = 7;
    if (gr_evm_address_is_zero(&p->from)) return GR_UPTO_INVALID_OWNER;
    *stage = 8;
    uint8_t digest[32];
    gr_x402_upto_digest(p, &o->permit2, digest);
    if (gr_evm_recover(digest, p->signature, signer) != GR_OK || !gr_evm_address_eq(signer, &p->from))
        return GR_UPTO_INVALID_SIGNATURE;
    *stage = 9;
    return GR_UPTO_OK;
}

gr_status gr_x402_upto_verify(const gr_x402_upto_offer *offers, size_t n, const gr_x402_upto_payment *p,
                              uint64_t now_unix, gr_x402_upto_result *out) {
    memset(out, 0, sizeof *out);
    if (!offers || !p) {
        out->err = GR_UPTO_INVALID_PAYLOAD;
        return GR_ERR_INVALID;
    }
    bool any_network = false, any_asset = false;
    for (size_t i = 0; i < n; i++) {
        if (offers[i].chain_id != p->chain_id) continue;
        any_network = true;
        if (gr_evm_address_eq(&offers[i].asset, &p->accepted_asset)) any_asset = true;
    }
    if (!any_network || !any_asset) {
        out->err = !any_network ? GR_UPTO_NETWORK_MISMATCH : GR_UPTO_INVALID_REQUIREMENTS;
        return GR_ERR_INVALID;
    }
    /* the offer echoed in `accepted` (same payTo) first, then the others */
    int best_stage = -1;
    gr_x402_upto_err best = GR_UPTO_INVALID_REQUIREMENTS;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            const gr_x402_upto_offer *o = &offers[i];
            if (o->chain_id != p->chain_id || !gr_evm_address_eq(&o->asset, &p->accepted_asset)) continue;
            if (gr_evm_address_eq(&o->pay_to, &p->accepted_pay_to) != (pass == 0)) continue;
            int stage;
            gr_evm_address signer;
            gr_x402_upto_err e = check_offer(o, p, now_unix, &stage, &signer);
            if (e == GR_UPTO_OK) {
                out->err = GR_UPTO_OK;
                out->offer_index = i;
                out->payer = signer;
                out->max_amount = p->amount;
                if (gr_u256_to_u64(&p->deadline, &out->deadline) != GR_OK) out->deadline = UINT64_MAX;
                return GR_OK;
            }
            if (stage > best_stage) {
                best_stage = stage;
                best = e;
            }
        }
    }
    out->err = best;
    return GR_ERR_INVALID;
}

void gr_x402_upto_nonce_key(const gr_x402_upto_payment *p, const gr_evm_address *permit2,
                            char out[GR_UPTO_NONCE_KEY_MAX]) {
    char p2[GR_EVM_ADDR_STR_LEN + 1], owner[GR_EVM_ADDR_STR_LEN + 1], nonce[67];
    gr_evm_address_lower(permit2, p2);
    gr_evm_address_lower(&p->from, owner);
    gr_evm_hex_encode(p->nonce.b, 32, nonce);
    snprintf(out, GR_UPTO_NONCE_KEY_MAX, "permit2:%llu:%s:%s:%s", (unsigned long long)p->chain_id, p2, owner, nonce);
}

/* ---- settlement ---- */

bool gr_x402_upto_settle_amount(int64_t cost_nusd, uint32_t decimals, const gr_u256 *max, gr_u256 *out) {
    uint64_t unit = 1;
    for (uint32_t i = decimals; i < 9; i++) unit *= 10;
    uint64_t atomic = 0;
    if (cost_nusd > 0) {
        uint64_t c = (uint64_t)cost_nusd;
        atomic = c / unit + (c % unit != 0);
    }
    gr_u256_from_u64(atomic, out);
    if (gr_u256_cmp(out, max) > 0) {
        *out = *max;
        return true;
    }
    return false;
}

static void put_addr(uint8_t *w, const gr_evm_address *a) {
    memset(w, 0, 32);
    memcpy(w + 12, a->b, GR_EVM_ADDR_LEN);
}

static void put_u64(uint8_t *w, uint64_t v) {
    gr_u256 u;
    gr_u256_from_u64(v, &u);
    memcpy(w, u.b, 32);
}

gr_status gr_x402_upto_settle_calldata(const gr_x402_upto_payment *p, const gr_u256 *amount,
                                       uint8_t out[GR_UPTO_SETTLE_CALLDATA_LEN]) {
    static const gr_u256 zero;
    if (gr_u256_cmp(amount, &p->amount) > 0 || gr_u256_eq(amount, &zero)) return GR_ERR_INVALID;
    uint8_t v = p->signature[64];
    if (v < 27) v = (uint8_t)(v + 27);
    if (v != 27 && v != 28) return GR_ERR_PARSE;
    uint8_t sel[32];
    gr_keccak256(GR_UPTO_SETTLE_SIG, sizeof(GR_UPTO_SETTLE_SIG) - 1, sel);
    memset(out, 0, GR_UPTO_SETTLE_CALLDATA_LEN);
    memcpy(out, sel, 4);
    uint8_t *w = out + 4;
    put_addr(w + 0 * 32, &p->token);                /* permit.permitted.token */
    memcpy(w + 1 * 32, p->amount.b, 32);            /* permit.permitted.amount */
    memcpy(w + 2 * 32, p->nonce.b, 32);             /* permit.nonce */
    memcpy(w + 3 * 32, p->deadline.b, 32);          /* permit.deadline */
    memcpy(w + 4 * 32, amount->b, 32);              /* amount */
    put_addr(w + 5 * 32, &p->from);                 /* owner */
    put_addr(w + 6 * 32, &p->witness_to);           /* witness.to */
    put_addr(w + 7 * 32, &p->witness_facilitator);  /* witness.facilitator */
    memcpy(w + 8 * 32, p->valid_after.b, 32);       /* witness.validAfter */
    put_u64(w + 9 * 32, 10 * 32);                   /* offset of signature */
    put_u64(w + 10 * 32, GR_EVM_SIG_LEN);           /* bytes length */
    memcpy(w + 11 * 32, p->signature, 64);
    w[11 * 32 + 64] = v;                            /* + 31 zero bytes of padding */
    return GR_OK;
}

/* ---- rendering ---- */

gr_status gr_x402_upto_render_requirement(const gr_x402_upto_offer *o, const gr_u256 *amount_override, cJSON *arr) {
    char net[GR_X402_NETWORK_STR_MAX], a[GR_EVM_ADDR_STR_LEN + 1], amt[GR_U256_DEC_MAX + 1];
    cJSON *e = cJSON_CreateObject();
    if (!e) return GR_ERR_NOMEM;
    if (!cJSON_AddItemToArray(arr, e)) {
        cJSON_Delete(e);
        return GR_ERR_NOMEM;
    }
    bool ok = cJSON_AddStringToObject(e, "scheme", "upto") != NULL;
    gr_x402_network_caip2(o->chain_id, net);
    ok = ok && cJSON_AddStringToObject(e, "network", net);
    gr_u256_to_dec(amount_override ? amount_override : &o->amount, amt);
    ok = ok && cJSON_AddStringToObject(e, "amount", amt);
    gr_evm_address_checksum(&o->asset, a);
    ok = ok && cJSON_AddStringToObject(e, "asset", a);
    gr_evm_address_checksum(&o->pay_to, a);
    ok = ok && cJSON_AddStringToObject(e, "payTo", a);
    ok = ok && cJSON_AddNumberToObject(e, "maxTimeoutSeconds", o->max_timeout_seconds);
    cJSON *x = ok ? cJSON_AddObjectToObject(e, "extra") : NULL;
    ok = x != NULL;
    ok = ok && cJSON_AddStringToObject(x, "name", o->extra_name ? o->extra_name : "");
    ok = ok && cJSON_AddStringToObject(x, "version", o->extra_version ? o->extra_version : "");
    gr_evm_address_checksum(&o->facilitator, a);
    ok = ok && cJSON_AddStringToObject(x, "facilitatorAddress", a);
    return ok ? GR_OK : GR_ERR_NOMEM;
}
