/* test_x402.c — x402 codec and verification: viem-signed v1/v2 headers verify;
 * every rejection path yields its specific error code; 402 / settlement
 * rendering is byte-exact; plus a decode+verify micro-benchmark. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "eip712.h"
#include "evm.h"
#include "evm_tx.h"
#include "keccak.h"
#include "x402.h"
#include "x402_test_util.h"

static cJSON *g_vec;

static int setup(void **state) {
    (void)state;
    g_vec = load_viem_vectors();
    return g_vec ? 0 : -1;
}
static int teardown(void **state) {
    (void)state;
    cJSON_Delete(g_vec);
    return 0;
}

static const cJSON *vcase(int i) {
    return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(g_vec, "cases"), i);
}

/* ---- fixtures: case 0 of viem_vectors.json ---- */

#define KEY0 "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define KEY1 "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
#define ADDR0 "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
#define PAY_TO "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
#define OTHER "0x70997970C51812dc3A010C7d01b50e79d01693C8"
#define ASSET0 "0x036cbd53842c5426634e7929541ec2318f00dcf7"
#define USDC_BASE_SEPOLIA "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
#define NONCE0 "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"
#define VALID_AFTER 1740672089ULL
#define VALID_BEFORE 1740672154ULL
#define NOW (VALID_AFTER + 10)

static void addr(const char *s, gr_evm_address *a) {
    assert_int_equal(gr_evm_address_parse(gr_str_c(s), false, a), GR_OK);
}

/* requirement matching case 0 */
static gr_x402_requirements req0(void) {
    gr_x402_requirements r = {
        .scheme = "exact",
        .chain_id = 84532,
        .resource = "https://api.example.com/v1/chat/completions",
        .description = "chat",
        .mime_type = "application/json",
        .max_timeout_seconds = 60,
        .extra_name = "USD Coin",
        .extra_version = "2",
    };
    gr_u256_from_u64(10000, &r.amount);
    addr(ASSET0, &r.asset);
    addr(PAY_TO, &r.pay_to);
    return r;
}

/* A payment description the builder signs with our signer (byte-identical to
 * viem's, see test_eip712) so single fields can be varied with a valid sig. */
typedef struct spec {
    int version;
    const char *scheme, *network;
    const char *key; /* signing key */
    const char *from, *to, *value, *valid_after, *valid_before, *nonce;
    const char *d_name, *d_version, *d_contract; /* domain actually signed */
    uint64_t d_chain;
    const char *acc_asset, *acc_amount, *acc_pay_to; /* v2 accepted */
    void (*mutate)(uint8_t sig[65]);
} spec;

static spec spec0(int version) {
    spec s = {
        .version = version, .scheme = "exact", .network = version == 1 ? "base-sepolia" : "eip155:84532",
        .key = KEY0, .from = ADDR0, .to = PAY_TO, .value = "10000", .valid_after = "1740672089",
        .valid_before = "1740672154", .nonce = NONCE0, .d_name = "USD Coin", .d_version = "2",
        .d_contract = ASSET0, .d_chain = 84532, .acc_asset = ASSET0, .acc_amount = "10000",
        .acc_pay_to = PAY_TO,
    };
    return s;
}

static void sign_spec(const spec *s, char sighex[133]) {
    gr_eip712_domain d = {.name = gr_str_c(s->d_name), .version = gr_str_c(s->d_version), .chain_id = s->d_chain};
    gr_eip3009_auth a;
    addr(s->d_contract, &d.verifying_contract);
    addr(s->from, &a.from);
    addr(s->to, &a.to);
    assert_int_equal(gr_u256_from_dec(gr_str_c(s->value), &a.value), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(s->valid_after), &a.valid_after), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(s->valid_before), &a.valid_before), GR_OK);
    HEX(s->nonce, a.nonce);
    uint8_t dg[32], priv[32], sig[65];
    gr_eip3009_digest(&d, &a, dg);
    HEX(s->key, priv);
    assert_int_equal(gr_evm_sign(dg, priv, sig), GR_OK);
    if (s->mutate) s->mutate(sig);
    gr_evm_hex_encode(sig, 65, sighex);
}

static cJSON *build(const spec *s) {
    char sighex[133];
    sign_spec(s, sighex);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "x402Version", s->version);
    if (s->version == 1) {
        cJSON_AddStringToObject(root, "scheme", s->scheme);
        cJSON_AddStringToObject(root, "network", s->network);
    } else {
        cJSON *res = cJSON_AddObjectToObject(root, "resource");
        cJSON_AddStringToObject(res, "url", "https://api.example.com/v1/chat/completions");
        cJSON *acc = cJSON_AddObjectToObject(root, "accepted");
        cJSON_AddStringToObject(acc, "scheme", s->scheme);
        cJSON_AddStringToObject(acc, "network", s->network);
        cJSON_AddStringToObject(acc, "amount", s->acc_amount);
        cJSON_AddStringToObject(acc, "asset", s->acc_asset);
        cJSON_AddStringToObject(acc, "payTo", s->acc_pay_to);
        cJSON_AddNumberToObject(acc, "maxTimeoutSeconds", 60);
        cJSON *ex = cJSON_AddObjectToObject(acc, "extra");
        cJSON_AddStringToObject(ex, "name", s->d_name);
        cJSON_AddStringToObject(ex, "version", s->d_version);
    }
    cJSON *p = cJSON_AddObjectToObject(root, "payload");
    cJSON_AddStringToObject(p, "signature", sighex);
    cJSON *a = cJSON_AddObjectToObject(p, "authorization");
    cJSON_AddStringToObject(a, "from", s->from);
    cJSON_AddStringToObject(a, "to", s->to);
    cJSON_AddStringToObject(a, "value", s->value);
    cJSON_AddStringToObject(a, "validAfter", s->valid_after);
    cJSON_AddStringToObject(a, "validBefore", s->valid_before);
    cJSON_AddStringToObject(a, "nonce", s->nonce);
    if (s->version == 2) cJSON_AddObjectToObject(root, "extensions");
    return root;
}

static char *b64_json(cJSON *root) {
    char *txt = cJSON_PrintUnformatted(root);
    char *b = gr_evm_b64_encode((const uint8_t *)txt, strlen(txt), NULL);
    free(txt);
    cJSON_Delete(root);
    return b;
}

static char *b64_text(const char *txt) {
    return gr_evm_b64_encode((const uint8_t *)txt, strlen(txt), NULL);
}

/* decode + verify against reqs; returns the x402 error (OK on success) */
static gr_x402_err run(const char *hdr, const gr_x402_requirements *reqs, size_t n, uint64_t now,
                       gr_x402_result *res) {
    gr_x402_payment p;
    gr_x402_err err = GR_X402_OK;
    gr_status rc = gr_x402_payment_decode(gr_str_c(hdr), &p, &err);
    if (rc != GR_OK) {
        assert_int_not_equal(err, GR_X402_OK);
        return err;
    }
    assert_int_equal(err, GR_X402_OK);
    gr_x402_result r;
    rc = gr_x402_verify(reqs, n, &p, now, res ? res : &r);
    gr_x402_err e = (res ? res : &r)->err;
    assert_int_equal(rc == GR_OK, e == GR_X402_OK);
    return e;
}

static gr_x402_err run_spec(const spec *s, const gr_x402_requirements *reqs, size_t n, uint64_t now) {
    char *h = b64_json(build(s));
    gr_x402_err e = run(h, reqs, n, now, NULL);
    free(h);
    return e;
}

/* ---- positive vectors ---- */

/* x402-1: viem-signed X-PAYMENT (v1) and PAYMENT-SIGNATURE (v2) for every case */
static void test_viem_headers_verify(void **state) {
    (void)state;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(g_vec, "cases")) {
        const cJSON *dom = cJSON_GetObjectItemCaseSensitive(c, "domain");
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
        gr_x402_requirements r = req0();
        r.chain_id = (uint64_t)cJSON_GetObjectItemCaseSensitive(dom, "chainId")->valuedouble;
        r.extra_name = jstr(dom, "name");
        r.extra_version = jstr(dom, "version");
        addr(jstr(dom, "verifyingContract"), &r.asset);
        addr(jstr(msg, "to"), &r.pay_to);
        assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "value")), &r.amount), GR_OK);
        gr_u256 va;
        uint64_t now;
        assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "validAfter")), &va), GR_OK);
        assert_int_equal(gr_u256_to_u64(&va, &now), GR_OK);
        now += 1;
        gr_evm_address signer;
        addr(jstr(c, "signer"), &signer);
        uint8_t nonce[32];
        HEX(jstr(msg, "nonce"), nonce);

        const char *hdrs[2] = {jstr(c, "xPaymentV1"), jstr(c, "paymentSignatureV2")};
        for (int v = 0; v < 2; v++) {
            gr_x402_payment p;
            gr_x402_err err;
            assert_int_equal(gr_x402_payment_decode(gr_str_c(hdrs[v]), &p, &err), GR_OK);
            assert_int_equal(p.version, v + 1);
            assert_string_equal(p.scheme, "exact");
            assert_true(p.chain_id == r.chain_id);
            assert_int_equal(p.has_accepted, v == 1);
            gr_x402_requirements list[2] = {req0(), r}; /* decoy first */
            list[0].chain_id = 1;
            gr_x402_result res;
            assert_int_equal(gr_x402_verify(list, 2, &p, now, &res), GR_OK);
            assert_int_equal(res.err, GR_X402_OK);
            assert_int_equal(res.req_index, 1);
            assert_true(gr_evm_address_eq(&res.payer, &signer));
            assert_true(gr_u256_eq(&res.amount, &r.amount));
            assert_memory_equal(res.nonce, nonce, 32);
        }
    }
}

/* x402-2: end to end: render v2 PAYMENT-REQUIRED, "client" signs the echoed
 * accepts[0], server decodes and verifies */
static void test_roundtrip_v2(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    char *hdr = NULL;
    assert_int_equal(gr_x402_render_payment_required_header(&r, 1, NULL, &hdr), GR_OK);
    uint8_t *json;
    size_t n;
    assert_int_equal(gr_evm_b64_decode(gr_str_c(hdr), 65536, &json, &n), GR_OK);
    free(hdr);
    cJSON *pr = cJSON_Parse((char *)json);
    free(json);
    cJSON *acc = cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(pr, "accepts"), 0);
    spec s = spec0(2);
    cJSON *pay = build(&s);
    cJSON_ReplaceItemInObjectCaseSensitive(pay, "accepted", acc);
    char *ps = b64_json(pay);
    cJSON_Delete(pr);
    gr_x402_result res;
    assert_int_equal(run(ps, &r, 1, NOW, &res), GR_X402_OK);
    free(ps);
}

/* ---- rejections ---- */

/* x402-3: transport-level garbage -> invalid_payload / invalid_x402_version */
static void test_reject_encoding(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    assert_int_equal(run("not base64!!", &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
    assert_int_equal(run("eyJ4", &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD); /* b64 of '{"x' */
    assert_int_equal(run("", &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
    static const char *bad_json[] = {"{not json", "[]", "\"str\"", "{\"x402Version\":\"1\"}", "{}",
                                     "{\"x402Version\":1}", "{\"x402Version\":1,\"scheme\":\"exact\",\"network\":\"base-sepolia\"}",
                                     "{\"x402Version\":1,\"scheme\":\"exact\",\"network\":\"base-sepolia\",\"payload\":[]}",
                                     "{\"x402Version\":2,\"payload\":{}}"};
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        char *h = b64_text(bad_json[i]);
        assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
        free(h);
    }
    static const char *bad_ver[] = {"{\"x402Version\":3}", "{\"x402Version\":0}", "{\"x402Version\":1.5}"};
    for (size_t i = 0; i < 3; i++) {
        char *h = b64_text(bad_ver[i]);
        assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_INVALID_X402_VERSION);
        free(h);
    }
    /* oversize header */
    char *big = malloc(GR_X402_HEADER_MAX + 8);
    memset(big, 'A', GR_X402_HEADER_MAX + 4);
    big[GR_X402_HEADER_MAX + 4] = '\0';
    gr_x402_payment p;
    gr_x402_err err;
    assert_int_equal(gr_x402_payment_decode(gr_str_c(big), &p, &err), GR_ERR_TOO_LARGE);
    assert_int_equal(err, GR_X402_INVALID_PAYLOAD);
    free(big);
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_PAYLOAD, 1), "invalid_payload");
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_X402_VERSION, 2), "invalid_x402_version");
}

/* x402-4: every required field missing, or of the wrong type */
static void test_reject_missing_fields(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    static const char *paths[][3] = {
        {"x402Version", NULL, NULL}, {"payload", NULL, NULL}, {"payload", "signature", NULL},
        {"payload", "authorization", NULL}, {"payload", "authorization", "from"},
        {"payload", "authorization", "to"}, {"payload", "authorization", "value"},
        {"payload", "authorization", "validAfter"}, {"payload", "authorization", "validBefore"},
        {"payload", "authorization", "nonce"}, {"scheme", NULL, NULL}, {"network", NULL, NULL},
        {"accepted", NULL, NULL}, {"accepted", "scheme", NULL}, {"accepted", "network", NULL},
        {"accepted", "amount", NULL}, {"accepted", "asset", NULL}, {"accepted", "payTo", NULL},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        for (int v = 1; v <= 2; v++) {
            spec s = spec0(v);
            cJSON *root = build(&s), *o = root;
            const char *const *pth = paths[i];
            int depth = pth[2] ? 2 : pth[1] ? 1 : 0;
            for (int k = 0; k < depth; k++) o = cJSON_GetObjectItemCaseSensitive(o, pth[k]);
            if (!o || !cJSON_GetObjectItemCaseSensitive(o, pth[depth])) { /* field not in this version */
                cJSON_Delete(root);
                continue;
            }
            /* (a) missing */
            cJSON *dup = cJSON_Duplicate(root, 1), *od = dup;
            for (int k = 0; k < depth; k++) od = cJSON_GetObjectItemCaseSensitive(od, pth[k]);
            cJSON_DeleteItemFromObjectCaseSensitive(od, pth[depth]);
            char *h = b64_json(dup);
            assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
            free(h);
            /* (b) wrong type: a number (x402Version gets a string) */
            cJSON_ReplaceItemInObjectCaseSensitive(o, pth[depth],
                strcmp(pth[depth], "x402Version") == 0 ? cJSON_CreateString("1") : cJSON_CreateNumber(10000));
            h = b64_json(root);
            assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
            free(h);
        }
    }
    /* malformed values */
    static const struct {
        const char *field, *val;
    } bad[] = {
        {"from", "0x1234"}, {"to", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}, {"value", "-1"},
        {"value", "1e4"}, {"value", ""}, {"value", "0x2710"}, {"validAfter", "1.5"}, {"validBefore", " 1"},
        {"nonce", "0x1234"}, {"nonce", NONCE0 "00"},
        {"value", "115792089237316195423570985008687907853269984665640564039457584007913129639936"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec s = spec0(1);
        cJSON *root = build(&s);
        cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "payload"), "authorization");
        cJSON_ReplaceItemInObjectCaseSensitive(a, bad[i].field, cJSON_CreateString(bad[i].val));
        char *h = b64_json(root);
        assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_INVALID_PAYLOAD);
        free(h);
    }
    /* signature: not hex -> invalid_payload; wrong length -> signature error */
    static const struct {
        const char *sig;
        gr_x402_err want;
    } sigs[] = {
        {"0xzz", GR_X402_INVALID_PAYLOAD}, {"1234", GR_X402_INVALID_PAYLOAD}, {"0x123", GR_X402_INVALID_PAYLOAD},
        {"0x", GR_X402_SIGNATURE}, {"0x1234", GR_X402_SIGNATURE},
    };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        spec s = spec0(1);
        cJSON *root = build(&s);
        cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "payload"), "signature",
                                               cJSON_CreateString(sigs[i].sig));
        char *h = b64_json(root);
        assert_int_equal(run(h, &r, 1, NOW, NULL), sigs[i].want);
        free(h);
    }
    /* 66-byte / 100-byte smart-wallet style signatures are not verifiable locally */
    char longsig[2 + 2 * 100 + 1] = "0x";
    memset(longsig + 2, 'a', 200);
    longsig[202] = '\0';
    spec s = spec0(1);
    cJSON *root = build(&s);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "payload"), "signature",
                                           cJSON_CreateString(longsig));
    char *h = b64_json(root);
    assert_int_equal(run(h, &r, 1, NOW, NULL), GR_X402_SIGNATURE);
    free(h);
}

/* x402-5: scheme */
static void test_reject_scheme(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    for (int v = 1; v <= 2; v++) {
        spec s = spec0(v);
        s.scheme = "upto";
        assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_UNSUPPORTED_SCHEME);
        s.scheme = "EXACT";
        assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_UNSUPPORTED_SCHEME);
    }
    /* payment is exact, server offers only another scheme */
    gr_x402_requirements up = req0();
    up.scheme = "upto";
    spec s = spec0(1);
    assert_int_equal(run_spec(&s, &up, 1, NOW), GR_X402_INVALID_SCHEME);
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_SCHEME, 1), "invalid_scheme");
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_SCHEME, 2), "invalid_exact_evm_scheme");
    assert_string_equal(gr_x402_err_str(GR_X402_UNSUPPORTED_SCHEME, 1), "unsupported_scheme");
}

/* x402-6: network unknown, or known but not offered */
static void test_reject_network(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    static const char *unknown[] = {"base-goerli", "Base", "eip155:", "eip155:0", "eip155:084532",
                                    "eip155:84532x", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", ""};
    for (int v = 1; v <= 2; v++)
        for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
            spec s = spec0(v);
            s.network = unknown[i];
            assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_INVALID_NETWORK);
        }
    spec s = spec0(1);
    s.network = "base"; /* v1 name, valid, not offered */
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_INVALID_NETWORK);
    s = spec0(2);
    s.network = "eip155:8453";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_INVALID_NETWORK);
    /* v1 clients may also send the CAIP-2 form: same chain, accepted */
    s = spec0(1);
    s.network = "eip155:84532";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_OK);
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_NETWORK, 1), "invalid_network");
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_NETWORK, 2), "invalid_exact_evm_network_mismatch");
}

/* x402-7: asset. v1 payloads do not name the asset: a signature over another
 * token's domain simply does not verify. v2 `accepted.asset` must be offered. */
static void test_reject_asset(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    spec s = spec0(1);
    s.d_contract = USDC_BASE_SEPOLIA;
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    s = spec0(2);
    s.d_contract = s.acc_asset = USDC_BASE_SEPOLIA;
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_INVALID_PAYMENT_REQUIREMENTS);
    assert_string_equal(gr_x402_err_str(GR_X402_INVALID_PAYMENT_REQUIREMENTS, 2), "invalid_payment_requirements");
    /* v2 echoing our asset but signed over another domain */
    s = spec0(2);
    s.d_contract = USDC_BASE_SEPOLIA;
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    /* wrong EIP-712 name / version in the signed domain */
    s = spec0(1);
    s.d_name = "USDC";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    s = spec0(1);
    s.d_version = "1";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    s = spec0(1);
    s.d_chain = 8453;
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    /* v1 with two offers on one chain (two tokens): the signature picks one */
    gr_x402_requirements two[2] = {req0(), req0()};
    addr(USDC_BASE_SEPOLIA, &two[0].asset);
    two[0].extra_name = "USDC";
    gr_x402_result res;
    spec s1 = spec0(1);
    char *h = b64_json(build(&s1));
    assert_int_equal(run(h, two, 2, NOW, &res), GR_X402_OK);
    assert_int_equal(res.req_index, 1);
    free(h);
    /* requirement without EIP-712 domain */
    gr_x402_requirements nod = req0();
    nod.extra_name = NULL;
    for (int v = 1; v <= 2; v++) {
        s = spec0(v);
        assert_int_equal(run_spec(&s, &nod, 1, NOW), GR_X402_MISSING_EIP712_DOMAIN);
    }
    assert_string_equal(gr_x402_err_str(GR_X402_MISSING_EIP712_DOMAIN, 2), "invalid_exact_evm_missing_eip712_domain");
    assert_string_equal(gr_x402_err_str(GR_X402_MISSING_EIP712_DOMAIN, 1), "invalid_payment_requirements");
}

/* x402-8: payTo */
static void test_reject_pay_to(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    for (int v = 1; v <= 2; v++) {
        spec s = spec0(v);
        s.to = OTHER; /* validly signed transfer to someone else */
        assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_RECIPIENT_MISMATCH);
    }
    /* v2 echoing a different payTo in accepted but paying us: the money path
     * (authorization.to) is what counts */
    spec s = spec0(2);
    s.acc_pay_to = OTHER;
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_OK);
    /* payTo compare is case-insensitive (bytes) */
    s = spec0(1);
    s.to = "0x209693bc6afc0c5328ba36faf03c514ef312287c";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_OK);
    assert_string_equal(gr_x402_err_str(GR_X402_RECIPIENT_MISMATCH, 1), "invalid_exact_evm_payload_recipient_mismatch");
    assert_string_equal(gr_x402_err_str(GR_X402_RECIPIENT_MISMATCH, 2), "invalid_exact_evm_recipient_mismatch");
}

/* x402-9: amount — v1 value >= required, v2 value == required */
static void test_reject_amount(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    spec s = spec0(1);
    s.value = "9999";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_AUTHORIZATION_VALUE);
    s.value = "0";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_AUTHORIZATION_VALUE);
    s.value = "10001"; /* v1 overpayment is accepted */
    gr_x402_result res;
    char *h = b64_json(build(&s));
    assert_int_equal(run(h, &r, 1, NOW, &res), GR_X402_OK);
    gr_u256 want;
    gr_u256_from_u64(10001, &want);
    assert_true(gr_u256_eq(&res.amount, &want));
    free(h);
    s = spec0(2);
    s.value = "9999";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_AUTHORIZATION_VALUE);
    s.value = "10001"; /* v2: exact means exact */
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_AUTHORIZATION_VALUE);
    s.acc_amount = "10001";
    assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_AUTHORIZATION_VALUE);
    assert_string_equal(gr_x402_err_str(GR_X402_AUTHORIZATION_VALUE, 1), "invalid_exact_evm_payload_authorization_value");
    assert_string_equal(gr_x402_err_str(GR_X402_AUTHORIZATION_VALUE, 2), "invalid_exact_evm_authorization_value");
    /* value altered after signing (requirement raised to match): signature fails */
    s = spec0(1);
    cJSON *root = build(&s);
    cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "payload"), "authorization");
    cJSON_ReplaceItemInObjectCaseSensitive(a, "value", cJSON_CreateString("20000"));
    h = b64_json(root);
    gr_x402_requirements hi = req0();
    gr_u256_from_u64(20000, &hi.amount);
    assert_int_equal(run(h, &hi, 1, NOW, NULL), GR_X402_SIGNATURE);
    free(h);
}

/* x402-10: time window, including the 6 s validBefore margin boundaries */
static void test_reject_time(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    for (int v = 1; v <= 2; v++) {
        spec s = spec0(v);
        assert_int_equal(run_spec(&s, &r, 1, VALID_AFTER), GR_X402_OK);      /* validAfter <= now */
        assert_int_equal(run_spec(&s, &r, 1, VALID_AFTER - 1), GR_X402_VALID_AFTER);
        assert_int_equal(run_spec(&s, &r, 1, 0), GR_X402_VALID_AFTER);
        assert_int_equal(run_spec(&s, &r, 1, VALID_BEFORE - 6), GR_X402_OK); /* exactly the margin */
        assert_int_equal(run_spec(&s, &r, 1, VALID_BEFORE - 5), GR_X402_VALID_BEFORE);
        assert_int_equal(run_spec(&s, &r, 1, VALID_BEFORE), GR_X402_VALID_BEFORE);
        assert_int_equal(run_spec(&s, &r, 1, VALID_BEFORE + 3600), GR_X402_VALID_BEFORE);
        assert_int_equal(run_spec(&s, &r, 1, UINT64_MAX), GR_X402_VALID_BEFORE);
    }
    /* huge validBefore (u256) is fine; result clamps to 64 bits */
    spec s = spec0(1);
    s.valid_before = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
    gr_x402_result res;
    char *h = b64_json(build(&s));
    assert_int_equal(run(h, &r, 1, NOW, &res), GR_X402_OK);
    assert_true(res.valid_before == UINT64_MAX);
    free(h);
    assert_string_equal(gr_x402_err_str(GR_X402_VALID_BEFORE, 1), "invalid_exact_evm_payload_authorization_valid_before");
    assert_string_equal(gr_x402_err_str(GR_X402_VALID_AFTER, 2), "invalid_exact_evm_payload_authorization_valid_after");
}

static void flip_r_bit(uint8_t sig[65]) { sig[7] ^= 0x01; }
static void flip_s_bit(uint8_t sig[65]) { sig[40] ^= 0x80; }
static void flip_v(uint8_t sig[65]) { sig[64] = sig[64] == 27 ? 28 : 27; }
static void bad_v(uint8_t sig[65]) { sig[64] = 29; }
static void zero_r(uint8_t sig[65]) { memset(sig, 0, 32); }
static void high_s(uint8_t sig[65]) {
    static const uint8_t N[32] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
        0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
    };
    int borrow = 0;
    for (int i = 31; i >= 0; i--) { /* s' = n - s */
        int d = N[i] - sig[32 + i] - borrow;
        borrow = d < 0;
        sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
    }
    flip_v(sig);
}

/* x402-11: forged, foreign, malleated signatures */
static void test_reject_signature(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    void (*muts[])(uint8_t *) = {flip_r_bit, flip_s_bit, flip_v, bad_v, zero_r, high_s};
    for (int v = 1; v <= 2; v++) {
        for (size_t i = 0; i < sizeof(muts) / sizeof(muts[0]); i++) {
            spec s = spec0(v);
            s.mutate = muts[i];
            assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
        }
        spec s = spec0(v);
        s.key = KEY1; /* valid signature, by somebody else than `from` */
        assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
        s = spec0(v);
        s.from = OTHER; /* claims to be OTHER, signed by KEY0 */
        assert_int_equal(run_spec(&s, &r, 1, NOW), GR_X402_SIGNATURE);
    }
    /* the high-s twin of a *viem* signature is rejected though mathematically valid */
    const char *hdr = jstr(vcase(0), "xPaymentV1");
    gr_x402_payment p;
    gr_x402_err err;
    assert_int_equal(gr_x402_payment_decode(gr_str_c(hdr), &p, &err), GR_OK);
    high_s(p.signature);
    gr_x402_result res;
    assert_int_equal(gr_x402_verify(&r, 1, &p, NOW, &res), GR_ERR_INVALID);
    assert_int_equal(res.err, GR_X402_SIGNATURE);
    assert_string_equal(gr_x402_err_str(GR_X402_SIGNATURE, 1), "invalid_exact_evm_payload_signature");
    assert_string_equal(gr_x402_err_str(GR_X402_SIGNATURE, 2), "invalid_exact_evm_signature");
    /* no requirements at all */
    assert_int_equal(gr_x402_verify(&r, 0, &p, NOW, &res), GR_ERR_INVALID);
    assert_int_equal(res.err, GR_X402_INVALID_SCHEME);
}

/* ---- networks and rendering ---- */

/* x402-12: network table */
static void test_networks(void **state) {
    (void)state;
    uint64_t id;
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("base"), &id), GR_OK);
    assert_true(id == 8453);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("base-sepolia"), &id), GR_OK);
    assert_true(id == 84532);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("polygon"), &id), GR_OK);
    assert_true(id == 137);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("arbitrum"), &id), GR_OK);
    assert_true(id == 42161);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("avalanche-fuji"), &id), GR_OK);
    assert_true(id == 43113);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("eip155:10"), &id), GR_OK);
    assert_true(id == 10);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("eip155:18446744073709551615"), &id), GR_OK);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("eip155:18446744073709551616"), &id), GR_ERR_PARSE);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("eip155:-1"), &id), GR_ERR_PARSE);
    assert_int_equal(gr_x402_network_parse(GR_STR_LIT("mainnet"), &id), GR_ERR_NOT_FOUND);
    assert_string_equal(gr_x402_network_v1_name(84532), "base-sepolia");
    assert_string_equal(gr_x402_network_v1_name(1), "ethereum");
    assert_null(gr_x402_network_v1_name(10));
    char c[GR_X402_NETWORK_STR_MAX];
    gr_x402_network_caip2(84532, c);
    assert_string_equal(c, "eip155:84532");
}

static char *unb64(const char *b) {
    uint8_t *d;
    size_t n;
    assert_int_equal(gr_evm_b64_decode(gr_str_c(b), 1 << 20, &d, &n), GR_OK);
    return (char *)d;
}

/* x402-13: 402 payloads, byte-exact */
static void test_render_402(void **state) {
    (void)state;
    gr_x402_requirements r[2] = {req0(), req0()};
    r[1].chain_id = 8453;
    r[1].extra_name = NULL;
    r[1].extra_version = NULL;
    r[1].description = NULL;
    r[1].mime_type = NULL;
    gr_u256_from_u64(123, &r[1].amount);
    addr("0x833589fcd6edb6e08f4c7c32d4f71b54bda02913", &r[1].asset);
    char *j = NULL;
    assert_int_equal(gr_x402_render_payment_required(1, r, 2, NULL, &j), GR_OK);
    assert_string_equal(j,
        "{\"x402Version\":1,\"error\":\"X-PAYMENT header is required\",\"accepts\":["
        "{\"scheme\":\"exact\",\"network\":\"base-sepolia\",\"maxAmountRequired\":\"10000\","
        "\"asset\":\"0x036Cbd53842C5426634e7929541Ec2318f00dCF7\"," /* EIP-55 per viem getAddress */
        "\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"resource\":\"https://api.example.com/v1/chat/completions\",\"description\":\"chat\","
        "\"mimeType\":\"application/json\",\"maxTimeoutSeconds\":60,\"extra\":{\"name\":\"USD Coin\",\"version\":\"2\"}},"
        "{\"scheme\":\"exact\",\"network\":\"base\",\"maxAmountRequired\":\"123\","
        "\"asset\":\"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913\","
        "\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\","
        "\"resource\":\"https://api.example.com/v1/chat/completions\",\"description\":\"\","
        "\"mimeType\":\"\",\"maxTimeoutSeconds\":60}]}");
    free(j);

    char *h = NULL;
    assert_int_equal(gr_x402_render_payment_required_header(r, 1, "insufficient_funds", &h), GR_OK);
    j = unb64(h);
    assert_string_equal(j,
        "{\"x402Version\":2,\"error\":\"insufficient_funds\",\"resource\":{\"url\":\"https://api.example.com/v1/chat/completions\","
        "\"description\":\"chat\",\"mimeType\":\"application/json\"},\"accepts\":["
        "{\"scheme\":\"exact\",\"network\":\"eip155:84532\",\"amount\":\"10000\","
        "\"asset\":\"0x036Cbd53842C5426634e7929541Ec2318f00dCF7\"," /* EIP-55 per viem getAddress */
        "\"payTo\":\"0x209693Bc6afc0C5328bA36FaF03C514EF312287C\",\"maxTimeoutSeconds\":60,"
        "\"extra\":{\"name\":\"USD Coin\",\"version\":\"2\"}}]}");
    free(j);
    free(h);
    /* v2 without error, extra always present */
    assert_int_equal(gr_x402_render_payment_required(2, &r[1], 1, NULL, &j), GR_OK);
    assert_non_null(strstr(j, "\"extra\":{}"));
    assert_null(strstr(j, "\"error\""));
    free(j);
    /* failures */
    j = NULL;
    assert_int_equal(gr_x402_render_payment_required(1, r, 0, NULL, &j), GR_ERR_INVALID);
    assert_int_equal(gr_x402_render_payment_required(3, r, 1, NULL, &j), GR_ERR_INVALID);
    gr_x402_requirements op = req0();
    op.chain_id = 10; /* no v1 name */
    assert_int_equal(gr_x402_render_payment_required(1, &op, 1, NULL, &j), GR_ERR_UNSUPPORTED);
    assert_int_equal(gr_x402_render_payment_required(2, &op, 1, NULL, &j), GR_OK);
    assert_non_null(strstr(j, "\"network\":\"eip155:10\""));
    free(j);
}

/* x402-14: settlement headers, byte-exact */
static void test_render_settlement(void **state) {
    (void)state;
    gr_x402_settlement s = {.success = true, .transaction = "0xabc", .chain_id = 84532, .has_payer = true};
    addr(ADDR0, &s.payer);
    char *h = NULL, *j;
    assert_int_equal(gr_x402_render_settlement(1, &s, &h), GR_OK);
    j = unb64(h);
    assert_string_equal(j, "{\"success\":true,\"transaction\":\"0xabc\",\"network\":\"base-sepolia\","
                           "\"payer\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\"}");
    free(j);
    free(h);
    s.has_amount = true;
    gr_u256_from_u64(2350000, &s.amount);
    assert_int_equal(gr_x402_render_settlement(2, &s, &h), GR_OK);
    j = unb64(h);
    assert_string_equal(j, "{\"success\":true,\"transaction\":\"0xabc\",\"network\":\"eip155:84532\","
                           "\"payer\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"amount\":\"2350000\"}");
    free(j);
    free(h);
    gr_x402_settlement f = {.success = false, .error_reason = "insufficient_funds", .chain_id = 8453};
    assert_int_equal(gr_x402_render_settlement(1, &f, &h), GR_OK);
    j = unb64(h);
    assert_string_equal(j, "{\"success\":false,\"errorReason\":\"insufficient_funds\",\"transaction\":\"\","
                           "\"network\":\"base\",\"payer\":\"\"}");
    free(j);
    free(h);
    assert_int_equal(gr_x402_render_settlement(2, &f, &h), GR_OK);
    j = unb64(h);
    assert_string_equal(j, "{\"success\":false,\"errorReason\":\"insufficient_funds\",\"transaction\":\"\","
                           "\"network\":\"eip155:8453\"}");
    free(j);
    free(h);
    f.chain_id = 10;
    assert_int_equal(gr_x402_render_settlement(1, &f, &h), GR_ERR_UNSUPPORTED);
}

/* x402-15: micro-benchmark, full verify = decode (base64 + JSON) + digest + recover */
static void test_bench_verify(void **state) {
    (void)state;
    gr_x402_requirements r = req0();
    const char *hdr = jstr(vcase(0), "xPaymentV1");
    const int iters = getenv("GR_BENCH_ITERS") ? atoi(getenv("GR_BENCH_ITERS")) : 200;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iters; i++) {
        gr_x402_payment p;
        gr_x402_err err;
        gr_x402_result res;
        if (gr_x402_payment_decode(gr_str_c(hdr), &p, &err) != GR_OK ||
            gr_x402_verify(&r, 1, &p, NOW, &res) != GR_OK)
            fail_msg("verify failed in benchmark");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
    printf("x402 verify (decode+digest+recover): %.0f ns/op over %d iterations\n", ns, iters);
}

/* x402-16: self-settlement — transferWithAuthorization calldata and a signed
 * EIP-1559 transaction, byte-identical to viem's */
static void test_tx1559(void **state) {
    (void)state;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(g_vec, "tx1559");
    const cJSON *c = vcase(0), *msg = cJSON_GetObjectItemCaseSensitive(c, "message");
    uint8_t sel[32];
    const char *proto = "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)";
    gr_keccak256(proto, strlen(proto), sel);
    assert_memory_equal(sel, gr_evm_twa_selector, 4);

    gr_eip3009_auth a;
    addr(jstr(msg, "from"), &a.from);
    addr(jstr(msg, "to"), &a.to);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "value")), &a.value), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "validAfter")), &a.valid_after), GR_OK);
    assert_int_equal(gr_u256_from_dec(gr_str_c(jstr(msg, "validBefore")), &a.valid_before), GR_OK);
    HEX(jstr(msg, "nonce"), a.nonce);
    uint8_t sig[65], cd[GR_EVM_TWA_CALLDATA_LEN];
    HEX(jstr(c, "signature"), sig);
    assert_int_equal(gr_evm_twa_calldata(&a, sig, cd), GR_OK);
    char hex[2 * 1024 + 3];
    gr_evm_hex_encode(cd, sizeof(cd), hex);
    assert_string_equal(hex, jstr(t, "calldata"));
    sig[64] -= 27; /* 0/1 form gives the same calldata */
    assert_int_equal(gr_evm_twa_calldata(&a, sig, cd), GR_OK);
    gr_evm_hex_encode(cd, sizeof(cd), hex);
    assert_string_equal(hex, jstr(t, "calldata"));
    sig[64] = 5;
    assert_int_equal(gr_evm_twa_calldata(&a, sig, cd), GR_ERR_PARSE);

    gr_evm_tx1559 tx = {.chain_id = 84532, .nonce = 7, .gas_limit = 120000, .data = cd, .data_len = sizeof(cd)};
    gr_evm_hex_encode(cd, 0, hex);
    HEX(jstr(c, "signature"), sig);
    assert_int_equal(gr_evm_twa_calldata(&a, sig, cd), GR_OK);
    gr_u256_from_u64(1000000, &tx.max_priority_fee_per_gas);
    gr_u256_from_u64(2000000000, &tx.max_fee_per_gas);
    gr_u256_from_u64(0, &tx.value);
    addr(jstr(t, "to"), &tx.to);
    uint8_t *raw = NULL, priv[32], h[32];
    size_t n = 0;
    gr_evm_tx1559_unsigned(&tx, &raw, &n);
    gr_evm_hex_encode(raw, n, hex);
    assert_string_equal(hex, jstr(t, "unsignedSerialized"));
    free(raw);
    HEX(jstr(t, "privateKey"), priv);
    assert_int_equal(gr_evm_tx1559_sign(&tx, priv, &raw, &n, h), GR_OK);
    gr_evm_hex_encode(raw, n, hex);
    assert_string_equal(hex, jstr(t, "signedSerialized"));
    gr_evm_hex_encode(h, 32, hex);
    assert_string_equal(hex, jstr(t, "hash"));
    free(raw);
    uint8_t zero[32] = {0};
    raw = NULL;
    assert_int_equal(gr_evm_tx1559_sign(&tx, zero, &raw, &n, h), GR_ERR_CRYPTO);
    assert_null(raw);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_viem_headers_verify),
        cmocka_unit_test(test_roundtrip_v2),
        cmocka_unit_test(test_reject_encoding),
        cmocka_unit_test(test_reject_missing_fields),
        cmocka_unit_test(test_reject_scheme),
        cmocka_unit_test(test_reject_network),
        cmocka_unit_test(test_reject_asset),
        cmocka_unit_test(test_reject_pay_to),
        cmocka_unit_test(test_reject_amount),
        cmocka_unit_test(test_reject_time),
        cmocka_unit_test(test_reject_signature),
        cmocka_unit_test(test_networks),
        cmocka_unit_test(test_render_402),
        cmocka_unit_test(test_render_settlement),
        cmocka_unit_test(test_tx1559),
        cmocka_unit_test(test_bench_verify),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
