/* test_x402_upto.c — the x402 `upto` scheme (Permit2 witness): type hashes,
 * selector, domain separator, struct hashes, digest and settle() calldata
 * match viem byte for byte (tests/fixtures/x402/upto_viem_vectors.json, from
 * upto_gen_viem_vectors.mjs); viem-signed headers decode and verify; every
 * rejection yields the reference facilitator's error code; the settle amount
 * rounds up and can never exceed the signed maximum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "evm.h"
#include "keccak.h"
#include "x402_upto.h"
#include "x402_test_util.h"

static cJSON *g_vec;

static cJSON *load_upto_vectors(void) { return load_x402_fixture("upto_viem_vectors.json"); }

static int setup(void **state) {
    (void)state;
    g_vec = load_upto_vectors();
    return g_vec ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    cJSON_Delete(g_vec);
    return 0;
}

static const cJSON *vcase(int i) { return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g_vec, "cases"), i); }
static const char *vs(const cJSON *o, const char *k) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    assert_true(cJSON_IsString(it));
    return it->valuestring;
}
static void hex32(const char *s, uint8_t out[32]) { assert_int_equal(gr_evm_hex_decode(gr_str_c(s), out, 32), GR_OK); }
static void addr(const char *s, gr_evm_address *a) { assert_int_equal(gr_evm_address_parse(gr_str_c(s), false, a), GR_OK); }
static void u256(const char *s, gr_u256 *u) { assert_int_equal(gr_u256_from_dec(gr_str_c(s), u), GR_OK); }

static void decode_case(int i, gr_x402_upto_payment *p) {
    gr_x402_upto_err e = GR_UPTO_INVALID_PAYLOAD;
    assert_int_equal(gr_x402_upto_decode(gr_str_c(vs(vcase(i), "paymentSignature")), p, &e), GR_OK);
    assert_int_equal(e, GR_UPTO_OK);
}

/* The offer a case was signed for; now is inside its window. */
static gr_x402_upto_offer offer_of(int i) {
    const cJSON *c = vcase(i);
    gr_x402_upto_offer o;
    memset(&o, 0, sizeof o);
    o.chain_id = (uint64_t)cJSON_GetObjectItemCaseSensitive(c, "chainId")->valuedouble;
    addr(vs(c, "token"), &o.asset);
    addr(vs(c, "payTo"), &o.pay_to);
    addr(vs(c, "permit2"), &o.permit2);
    addr(vs(c, "spender"), &o.proxy);
    addr(vs(c, "facilitator"), &o.facilitator);
    u256(vs(c, "amount"), &o.amount);
    o.max_timeout_seconds = 300;
    o.extra_name = "USDC";
    o.extra_version = "2";
    return o;
}
#define NOW0 1740672000ULL /* case 0: validAfter 0, deadline 1740672154 */
#define NOW1 1740672100ULL /* case 1: validAfter 1740672089 */
static uint64_t now_of(int i) { return i == 0 ? NOW0 : NOW1; }

/* ---- constants ---- */

static void test_typehash_and_selector(void **state) {
    (void)state;
    uint8_t h[32], want[32];
    gr_keccak256(GR_UPTO_PERMIT_WITNESS_TYPE, strlen(GR_UPTO_PERMIT_WITNESS_TYPE), h);
    hex32(vs(g_vec, "permitWitnessTypehash"), want);
    assert_memory_equal(h, want, 32);
    assert_string_equal(GR_UPTO_PERMIT_WITNESS_TYPE,
                        vs(cJSON_GetObjectItemCaseSensitive(g_vec, "typeStrings"), "permitWitnessTransferFrom"));
    assert_string_equal(GR_PERMIT2_DOMAIN_TYPE, vs(cJSON_GetObjectItemCaseSensitive(g_vec, "typeStrings"), "domain"));
    uint8_t sel[4];
    assert_int_equal(gr_evm_hex_decode(gr_str_c(vs(g_vec, "settleSelector")), sel, 4), GR_OK);
    gr_keccak256(GR_UPTO_SETTLE_SIG, strlen(GR_UPTO_SETTLE_SIG), h);
    assert_memory_equal(h, sel, 4);
}

/* ---- viem vectors: hashes, digest, decode, verify, calldata ---- */

static void test_vectors(void **state) {
    (void)state;
    for (int i = 0; i < 2; i++) {
        const cJSON *c = vcase(i);
        gr_x402_upto_payment p;
        decode_case(i, &p);
        gr_x402_upto_offer o = offer_of(i);
        gr_evm_address a;
        addr(vs(c, "signer"), &a);
        assert_true(gr_evm_address_eq(&p.from, &a));
        assert_true(gr_evm_address_eq(&p.spender, &o.proxy));
        assert_true(gr_evm_address_eq(&p.witness_facilitator, &o.facilitator));
        assert_int_equal(p.chain_id, o.chain_id);
        uint8_t nonce[32];
        hex32(vs(c, "nonceHex"), nonce); /* decimal (case 0) and hex (case 1) wire forms */
        assert_memory_equal(p.nonce.b, nonce, 32);

        uint8_t got[32], want[32];
        gr_x402_upto_domain_separator(p.chain_id, &o.permit2, got);
        hex32(vs(c, "domainSeparator"), want);
        assert_memory_equal(got, want, 32);
        gr_x402_upto_witness_hash(&p, got);
        hex32(vs(c, "witnessHash"), want);
        assert_memory_equal(got, want, 32);
        gr_x402_upto_struct_hash(&p, got);
        hex32(vs(c, "structHash"), want);
        assert_memory_equal(got, want, 32);
        gr_x402_upto_digest(&p, &o.permit2, got);
        hex32(vs(c, "digest"), want);
        assert_memory_equal(got, want, 32);

        gr_x402_upto_result res;
        assert_int_equal(gr_x402_upto_verify(&o, 1, &p, now_of(i), &res), GR_OK);
        assert_int_equal(res.err, GR_UPTO_OK);
        assert_true(gr_evm_address_eq(&res.payer, &a));
        assert_true(gr_u256_eq(&res.max_amount, &o.amount));

        gr_u256 amt;
        u256(vs(c, "settleAmount"), &amt);
        uint8_t cd[GR_UPTO_SETTLE_CALLDATA_LEN], want_cd[GR_UPTO_SETTLE_CALLDATA_LEN];
        assert_int_equal(gr_x402_upto_settle_calldata(&p, &amt, cd), GR_OK);
        assert_int_equal(gr_evm_hex_decode(gr_str_c(vs(c, "settleCalldata")), want_cd, sizeof want_cd), GR_OK);
        assert_memory_equal(cd, want_cd, sizeof cd);
    }
}

/* ---- rejections, each with its code ---- */

static gr_x402_upto_err verify_err(const gr_x402_upto_offer *o, size_t n, const gr_x402_upto_payment *p, uint64_t now) {
    gr_x402_upto_result res;
    gr_status rc = gr_x402_upto_verify(o, n, p, now, &res);
    assert_int_equal(rc == GR_OK, res.err == GR_UPTO_OK);
    return res.err;
}

static void high_s(uint8_t sig[65]) {
    static const uint8_t N[32] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    };
    int borrow = 0;
    for (int i = 31; i >= 0; i--) { /* s' = n - s, v flipped: the same signer, malleated */
        int d = N[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    sig[64] = sig[64] == 27 ? 28 : 27;
}

static void test_rejections(void **state) {
    (void)state;
    gr_x402_upto_payment p0, p;
    decode_case(0, &p0);
    const gr_x402_upto_offer o0 = offer_of(0);
    gr_x402_upto_offer o;
    gr_evm_address other;
    addr("0x1111111111111111111111111111111111111111", &other);
    gr_u256 one;
    gr_u256_from_u64(1, &one);

    o = o0; /* network not offered */
    o.chain_id = 8453;
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_NETWORK_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_NETWORK_MISMATCH), "invalid_upto_evm_network_mismatch");
    o = o0; /* asset not offered on that network */
    o.asset = other;
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_INVALID_REQUIREMENTS);
    o = o0; /* signed for another spender than our upto proxy */
    o.proxy = other;
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_INVALID_SPENDER);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_INVALID_SPENDER), "invalid_permit2_spender");
    o = o0; /* witness.to is not our payTo */
    o.pay_to = other;
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_RECIPIENT_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_RECIPIENT_MISMATCH), "invalid_permit2_recipient_mismatch");
    o = o0; /* bound to another facilitator */
    o.facilitator = other;
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_FACILITATOR_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_FACILITATOR_MISMATCH), "upto_facilitator_mismatch");
    /* deadline: expired, and within the 6 s margin */
    assert_int_equal(verify_err(&o0, 1, &p0, 1740672154ULL + 1), GR_UPTO_DEADLINE_EXPIRED);
    assert_int_equal(verify_err(&o0, 1, &p0, 1740672154ULL - GR_UPTO_DEADLINE_MARGIN + 1), GR_UPTO_DEADLINE_EXPIRED);
    assert_int_equal(verify_err(&o0, 1, &p0, 1740672154ULL - GR_UPTO_DEADLINE_MARGIN), GR_UPTO_OK);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_DEADLINE_EXPIRED), "permit2_deadline_expired");
    { /* validAfter in the future (case 1 starts at 1740672089) */
        gr_x402_upto_payment p1;
        decode_case(1, &p1);
        gr_x402_upto_offer o1 = offer_of(1);
        assert_int_equal(verify_err(&o1, 1, &p1, 1740672088ULL), GR_UPTO_NOT_YET_VALID);
        assert_int_equal(verify_err(&o1, 1, &p1, 1740672089ULL), GR_UPTO_OK);
        assert_string_equal(gr_x402_upto_err_str(GR_UPTO_NOT_YET_VALID), "permit2_not_yet_valid");
    }
    o = o0; /* authorised maximum below the quote */
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("5000001"), &o.amount), GR_OK);
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_AMOUNT_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_AMOUNT_MISMATCH), "permit2_amount_mismatch");
    o = o0; /* a maximum above the quote is fine */
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("4000000"), &o.amount), GR_OK);
    assert_int_equal(verify_err(&o, 1, &p0, NOW0), GR_UPTO_OK);
    p = p0; /* permitted.amount differs from accepted.amount */
    p.accepted_amount = one;
    o = o0;
    o.amount = one;
    assert_int_equal(verify_err(&o, 1, &p, NOW0), GR_UPTO_AMOUNT_MISMATCH);
    p = p0; /* permitted.token is not the asset */
    p.token = other;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_TOKEN_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_TOKEN_MISMATCH), "permit2_token_mismatch");
    p = p0; /* zero owner */
    memset(&p.from, 0, sizeof p.from);
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_OWNER);
    p = p0; /* another claimed owner: the signature recovers to someone else */
    p.from = other;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_INVALID_SIGNATURE), "invalid_permit2_signature");
    p = p0; /* a larger maximum than was signed (accepted raised to match) */
    assert_int_equal(gr_u256_from_dec(GR_STR_LIT("5000001"), &p.amount), GR_OK);
    p.accepted_amount = p.amount;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0; /* a different nonce / deadline / validAfter than was signed */
    p.nonce.b[31] ^= 1;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0;
    p.deadline.b[31] ^= 1;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0; /* the same authorisation on another Permit2 (another domain) */
    o = o0;
    o.permit2 = other;
    assert_int_equal(verify_err(&o, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0; /* malleated high-s twin of viem's signature */
    high_s(p.signature);
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0; /* bit flips */
    p.signature[5] ^= 0x10;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    p = p0;
    p.signature[64] = 29;
    assert_int_equal(verify_err(&o0, 1, &p, NOW0), GR_UPTO_INVALID_SIGNATURE);
    /* two offers: the one that got furthest names the error; a matching one wins */
    gr_x402_upto_offer two[2] = {o0, o0};
    two[0].proxy = other;
    assert_int_equal(verify_err(two, 2, &p0, NOW0), GR_UPTO_OK);
    two[1].facilitator = other;
    assert_int_equal(verify_err(two, 2, &p0, NOW0), GR_UPTO_FACILITATOR_MISMATCH);
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_NONCE_USED), "permit2_invalid_nonce");
    assert_string_equal(gr_x402_upto_err_str(GR_UPTO_SETTLEMENT_EXCEEDS),
                        "invalid_upto_evm_payload_settlement_exceeds_amount");
}

/* ---- decoding ---- */

static char *b64(const char *json) { return gr_evm_b64_encode((const uint8_t *)json, strlen(json), NULL); }

/* case 0's JSON with one substring replaced */
static char *mutated(const char *from, const char *to) {
    uint8_t *json = NULL;
    size_t n = 0;
    assert_int_equal(gr_evm_b64_decode(gr_str_c(vs(vcase(0), "paymentSignature")), 1 << 16, &json, &n), GR_OK);
    const char *at = strstr((const char *)json, from);
    assert_non_null(at);
    size_t pre = (size_t)(at - (const char *)json), fl = strlen(from), tl = strlen(to);
    char *s = malloc(n - fl + tl + 1);
    memcpy(s, json, pre);
    memcpy(s + pre, to, tl);
    memcpy(s + pre + tl, at + fl, n - pre - fl + 1);
    free(json);
    char *h = b64(s);
    free(s);
    return h;
}

static gr_status decode_str(const char *h, gr_x402_upto_err *e) {
    gr_x402_upto_payment p;
    return gr_x402_upto_decode(gr_str_c(h), &p, e);
}

static void expect_mut(const char *from, const char *to, gr_status rc, gr_x402_upto_err err) {
    char *h = mutated(from, to);
    gr_x402_upto_err e = GR_UPTO_OK;
    assert_int_equal(decode_str(h, &e), rc);
    assert_int_equal(e, err);
    free(h);
}

static void test_decode(void **state) {
    (void)state;
    gr_x402_upto_err e = GR_UPTO_OK;
    /* not upto: left to the exact decoder */
    char *h = b64("{\"x402Version\":2,\"accepted\":{\"scheme\":\"exact\"},\"payload\":{}}");
    assert_int_equal(decode_str(h, &e), GR_ERR_NOT_FOUND);
    assert_int_equal(e, GR_UPTO_OK);
    free(h);
    assert_int_equal(decode_str("not base64!", &e), GR_ERR_NOT_FOUND);
    assert_int_equal(decode_str("", &e), GR_ERR_NOT_FOUND);
    h = b64("[1,2]");
    assert_int_equal(decode_str(h, &e), GR_ERR_NOT_FOUND);
    free(h);
    /* upto exists only in v2 */
    h = b64("{\"x402Version\":1,\"scheme\":\"upto\",\"network\":\"base\",\"payload\":{}}");
    assert_int_equal(decode_str(h, &e), GR_ERR_INVALID);
    assert_int_equal(e, GR_UPTO_INVALID_X402_VERSION);
    free(h);
    expect_mut("\"x402Version\":2", "\"x402Version\":3", GR_ERR_INVALID, GR_UPTO_INVALID_X402_VERSION);
    /* missing / malformed fields */
    expect_mut("\"deadline\"", "\"deadlinX\"", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"spender\"", "\"spendeX\"", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"validAfter\":\"0\"", "\"validAfter\":0", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"validAfter\":\"0\"", "\"validAfter\":\"-1\"", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"amount\":\"5000000\"}", "\"amount\":\"5e6\"}", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"nonce\":\"9", "\"nonce\":\"0xZ9", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"permitted\":{", "\"permitted\":[{}],\"x\":{", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
    expect_mut("\"network\":\"eip155:84532\"", "\"network\":\"solana:abc\"", GR_ERR_INVALID, GR_UPTO_NETWORK_MISMATCH);
    /* a nonce beyond 2^256 */
    expect_mut("\"nonce\":\"9", "\"nonce\":\"99999999999999999999999999999999999999999999999999", GR_ERR_PARSE,
               GR_UPTO_INVALID_PAYLOAD);
    /* non-65-byte (smart wallet) signatures cannot be verified locally */
    expect_mut("\"signature\":\"0xb1", "\"signature\":\"0xaaaab1", GR_ERR_INVALID, GR_UPTO_INVALID_SIGNATURE);
    expect_mut("\"signature\":\"0xb1", "\"signature\":\"0xb", GR_ERR_PARSE, GR_UPTO_INVALID_PAYLOAD);
}

/* ---- settlement amount and calldata ---- */

static void test_settle_amount(void **state) {
    (void)state;
    gr_u256 max, out, want;
    gr_u256_from_u64(5000, &max);
    /* USDC: 1 atomic = 1000 nano-USD, rounded up */
    assert_false(gr_x402_upto_settle_amount(1, 6, &max, &out));
    gr_u256_from_u64(1, &want);
    assert_true(gr_u256_eq(&out, &want));
    assert_false(gr_x402_upto_settle_amount(157500, 6, &max, &out));
    gr_u256_from_u64(158, &want);
    assert_true(gr_u256_eq(&out, &want));
    assert_false(gr_x402_upto_settle_amount(158000, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &want));
    /* zero and negative cost: nothing to settle */
    gr_u256 zero = {{0}};
    assert_false(gr_x402_upto_settle_amount(0, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &zero));
    assert_false(gr_x402_upto_settle_amount(-5, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &zero));
    /* exactly the maximum, then above it: clamped, reported */
    assert_false(gr_x402_upto_settle_amount(5000000, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &max));
    assert_true(gr_x402_upto_settle_amount(5000001, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &max));
    assert_true(gr_x402_upto_settle_amount(INT64_MAX, 6, &max, &out));
    assert_true(gr_u256_eq(&out, &max));
    /* other decimals: 9 (1 atomic = 1 nusd), 0 (1 atomic = 1 USD) */
    gr_u256_from_u64(UINT64_MAX, &max);
    assert_false(gr_x402_upto_settle_amount(123, 9, &max, &out));
    gr_u256_from_u64(123, &want);
    assert_true(gr_u256_eq(&out, &want));
    assert_false(gr_x402_upto_settle_amount(1, 0, &max, &out));
    gr_u256_from_u64(1, &want);
    assert_true(gr_u256_eq(&out, &want));
    /* whatever the meter says, the result never exceeds the maximum */
    gr_u256_from_u64(777, &max);
    for (int64_t c = 0; c < 2000000; c += 997) {
        (void)gr_x402_upto_settle_amount(c, 6, &max, &out);
        assert_true(gr_u256_cmp(&out, &max) <= 0);
    }
}

static void test_calldata_guard(void **state) {
    (void)state;
    gr_x402_upto_payment p;
    decode_case(0, &p);
    uint8_t cd[GR_UPTO_SETTLE_CALLDATA_LEN];
    gr_u256 a = p.amount;
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &a, cd), GR_OK); /* the full maximum */
    a.b[31] += 1;                                                       /* 5000001 */
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &a, cd), GR_ERR_INVALID);
    gr_u256 big;
    memset(big.b, 0xff, 32);
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &big, cd), GR_ERR_INVALID);
    gr_u256 zero = {{0}};
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &zero, cd), GR_ERR_INVALID);
    /* v 0/1 is normalised to 27/28 like the signature verifier expects */
    gr_u256 one;
    gr_u256_from_u64(1, &one);
    uint8_t v = p.signature[64];
    p.signature[64] = (uint8_t)(v - 27);
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &one, cd), GR_OK);
    assert_int_equal(cd[4 + 11 * 32 + 64], v);
    assert_int_equal(cd[4 + 9 * 32 + 31], 0x40);  /* signature offset 0x140 */
    assert_int_equal(cd[4 + 9 * 32 + 30], 0x01);
    assert_int_equal(cd[4 + 10 * 32 + 31], 65);   /* bytes length */
    p.signature[64] = 29;
    assert_int_equal(gr_x402_upto_settle_calldata(&p, &one, cd), GR_ERR_PARSE);
}

static void test_nonce_key_and_render(void **state) {
    (void)state;
    gr_x402_upto_payment p;
    decode_case(0, &p);
    gr_x402_upto_offer o = offer_of(0);
    char k[GR_UPTO_NONCE_KEY_MAX];
    gr_x402_upto_nonce_key(&p, &o.permit2, k);
    char want[GR_UPTO_NONCE_KEY_MAX];
    snprintf(want, sizeof want, "permit2:84532:0x000000000022d473030f116ddee9f6b43ac78ba3:"
                                "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266:%s", vs(vcase(0), "nonceHex"));
    assert_string_equal(k, want);

    cJSON *arr = cJSON_CreateArray();
    gr_u256 settled;
    gr_u256_from_u64(2350000, &settled);
    assert_int_equal(gr_x402_upto_render_requirement(&o, NULL, arr), GR_OK);
    assert_int_equal(gr_x402_upto_render_requirement(&o, &settled, arr), GR_OK);
    char *s = cJSON_PrintUnformatted(arr);
    assert_string_equal(s,
        "[{\"scheme\":\"upto\",\"network\":\"eip155:84532\",\"amount\":\"5000000\","
        "\"asset\":\"0x036CbD53842c5426634e7929541eC2318f3dCF7e\",\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"maxTimeoutSeconds\":300,\"extra\":{\"name\":\"USDC\",\"version\":\"2\","
        "\"facilitatorAddress\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"}},"
        "{\"scheme\":\"upto\",\"network\":\"eip155:84532\",\"amount\":\"2350000\","
        "\"asset\":\"0x036CbD53842c5426634e7929541eC2318f3dCF7e\",\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"maxTimeoutSeconds\":300,\"extra\":{\"name\":\"USDC\",\"version\":\"2\","
        "\"facilitatorAddress\":\"0x70997970C51812dc3A010C7d01b50e0d17dc79C8\"}}]");
    cJSON_free(s);
    cJSON_Delete(arr);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typehash_and_selector),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_settle_amount),
        cmocka_unit_test(test_calldata_guard),
        cmocka_unit_test(test_nonce_key_and_render),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
