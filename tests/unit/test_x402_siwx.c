/* test_x402_siwx.c — sign-in-with-x (x402_siwx.c): the EIP-4361 message is
 * byte-identical to viem's createSiweMessage, a viem-signed sign-in (EIP-191
 * personal_sign) verifies, and every refusal has its own code: domain, uri
 * (also an origin that only shares a prefix), chain, time window, tampered
 * field, smart-wallet signature, line injection, malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evm.h"
#include "x402_siwx.h"

/* Signed by viem (privateKeyToAccount(KEY0).signMessage(createSiweMessage(...))). */
static const char VIEM_SIGNED[] =
    "{\"domain\":\"api.example.com\",\"address\":\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\","
    "\"statement\":\"Sign in to access premium data\",\"uri\":\"https://api.example.com/premium-data\","
    "\"version\":\"1\",\"chainId\":\"eip155:8453\",\"type\":\"eip191\",\"nonce\":\"a1b2c3d4e5f67890a1b2c3d4e5f67890\","
    "\"issuedAt\":\"2024-01-15T10:30:00.000Z\",\"expirationTime\":\"2024-01-15T10:35:00.000Z\","
    "\"resources\":[\"https://api.example.com/premium-data\"],\"signature\":\"0x4c261c7acf140d1a136a34d486f56f787ce8"
    "c5a25624809f0aa6382aa842b8b65dab28ceb6f8b1f92c2738e0d5e8c09a09c09b6432d1c8fd904bac587a0b35d11c\"}";
static const char VIEM_MESSAGE[] =
    "api.example.com wants you to sign in with your Ethereum account:\n0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\n"
    "Sign in to access premium data\n\nURI: https://api.example.com/premium-data\nVersion: 1\nChain ID: 8453\n"
    "Nonce: a1b2c3d4e5f67890a1b2c3d4e5f67890\nIssued At: 2024-01-15T10:30:00.000Z\n"
    "Expiration Time: 2024-01-15T10:35:00.000Z\nResources:\n- https://api.example.com/premium-data";
#define ISSUED_MS 1705314600000LL

static const uint64_t CHAINS[] = {84532, 8453};

static gr_x402_siwx_expect expect_at(int64_t now_ms) {
    return (gr_x402_siwx_expect){.domain = "api.example.com",
                                 .uri = "https://api.example.com/premium-data",
                                 .chain_ids = CHAINS,
                                 .nchains = 2,
                                 .now_ms = now_ms,
                                 .max_age_ms = 300000};
}

/* base64 of the signed JSON with field k set to v (NULL: removed). */
static char *header_with(const char *k, const char *v) {
    cJSON *o = cJSON_Parse(VIEM_SIGNED);
    if (k) {
        cJSON_DeleteItemFromObjectCaseSensitive(o, k);
        if (v) cJSON_AddStringToObject(o, k, v);
    }
    char *t = cJSON_PrintUnformatted(o);
    char *b = gr_evm_b64_encode((const uint8_t *)t, strlen(t), NULL);
    cJSON_free(t);
    cJSON_Delete(o);
    return b;
}

static gr_x402_siwx_err verify_with(const char *k, const char *v, const gr_x402_siwx_expect *e) {
    char *h = header_with(k, v);
    gr_x402_siwx_proof pr;
    gr_x402_siwx_err rc = gr_x402_siwx_verify(h, e, &pr);
    free(h);
    return rc;
}

static void test_message_matches_viem(void **state) {
    (void)state;
    cJSON *o = cJSON_Parse(VIEM_SIGNED);
    char *m = gr_x402_siwx_message(o);
    assert_non_null(m);
    assert_string_equal(m, VIEM_MESSAGE);
    free(m);
    cJSON_DeleteItemFromObjectCaseSensitive(o, "statement"); /* no statement: no statement paragraph */
    m = gr_x402_siwx_message(o);
    assert_non_null(strstr(m, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\n\nURI: "));
    free(m);
    cJSON_Delete(o);
}

static void test_viem_signature_verifies(void **state) {
    (void)state;
    gr_x402_siwx_expect e = expect_at(ISSUED_MS + 60000);
    char *h = header_with(NULL, NULL);
    gr_x402_siwx_proof pr;
    assert_int_equal(gr_x402_siwx_verify(h, &e, &pr), GR_SIWX_OK);
    free(h);
    char addr[GR_EVM_ADDR_STR_LEN + 1];
    gr_evm_address_checksum(&pr.address, addr);
    assert_string_equal(addr, "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
    assert_int_equal(pr.chain_id, 8453);
    assert_string_equal(pr.nonce, "a1b2c3d4e5f67890a1b2c3d4e5f67890");
    assert_int_equal(pr.expires_s, (ISSUED_MS + 300000) / 1000 + 1);
}

static void test_refusals(void **state) {
    (void)state;
    gr_x402_siwx_expect e = expect_at(ISSUED_MS + 60000);
    assert_int_equal(verify_with("statement", "Sign in to access premium data!", &e), GR_SIWX_SIGNATURE);
    assert_int_equal(verify_with("address", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", &e), GR_SIWX_SIGNATURE);
    assert_int_equal(verify_with("domain", "evil.example", &e), GR_SIWX_DOMAIN);
    assert_int_equal(verify_with("uri", "https://evil.example/premium-data", &e), GR_SIWX_URI);
    assert_int_equal(verify_with("chainId", "eip155:1", &e), GR_SIWX_CHAIN);
    assert_int_equal(verify_with("chainId", "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", &e), GR_SIWX_CHAIN);
    assert_int_equal(verify_with("type", "ed25519", &e), GR_SIWX_CHAIN);
    assert_int_equal(verify_with("version", "2", &e), GR_SIWX_MALFORMED);
    assert_int_equal(verify_with("nonce", "abc", &e), GR_SIWX_MALFORMED);
    assert_int_equal(verify_with("nonce", "a1b2c3d4-e5f6", &e), GR_SIWX_MALFORMED);
    assert_int_equal(verify_with("issuedAt", "yesterday", &e), GR_SIWX_MALFORMED);
    assert_int_equal(verify_with("statement", "ok\nURI: https://evil.example", &e), GR_SIWX_MALFORMED);
    assert_int_equal(verify_with("signature", NULL, &e), GR_SIWX_MALFORMED);
    /* EIP-6492 / EIP-1271 signatures are longer than 65 bytes: refused, not mistaken */
    char longsig[2 + 2 * 100 + 1] = "0x";
    memset(longsig + 2, 'a', 200);
    longsig[202] = '\0';
    assert_int_equal(verify_with("signature", longsig, &e), GR_SIWX_SMART_WALLET);
    /* an origin that only shares a prefix with ours */
    gr_x402_siwx_expect p = e;
    p.uri = "https://api.example.co/premium-data";
    p.domain = "api.example.com";
    assert_int_equal(verify_with(NULL, NULL, &p), GR_SIWX_URI);
    /* chains: not one of ours */
    gr_x402_siwx_expect c = e;
    c.nchains = 1;
    assert_int_equal(verify_with(NULL, NULL, &c), GR_SIWX_CHAIN);
    gr_x402_siwx_proof pr;
    assert_int_equal(gr_x402_siwx_verify("%%%", &e, &pr), GR_SIWX_MALFORMED);
    assert_int_equal(gr_x402_siwx_verify("bnVsbA==", &e, &pr), GR_SIWX_MALFORMED); /* "null" */
}

static void test_time_window(void **state) {
    (void)state;
    gr_x402_siwx_expect e = expect_at(ISSUED_MS + 300001); /* past expirationTime and max age */
    assert_int_equal(verify_with(NULL, NULL, &e), GR_SIWX_EXPIRED);
    e = expect_at(ISSUED_MS + 120000);
    e.max_age_ms = 60000; /* issuedAt older than the gateway's limit */
    assert_int_equal(verify_with(NULL, NULL, &e), GR_SIWX_EXPIRED);
    e = expect_at(ISSUED_MS - GR_X402_SIWX_SKEW_MS - 1); /* issued in the future */
    assert_int_equal(verify_with(NULL, NULL, &e), GR_SIWX_NOT_YET);
    e = expect_at(ISSUED_MS + 60000);
    assert_int_equal(verify_with("notBefore", "2024-01-15T10:32:00.000Z", &e), GR_SIWX_NOT_YET);
    assert_int_equal(verify_with("expirationTime", "2024-01-15T10:30:30Z", &e), GR_SIWX_EXPIRED);
}

static void test_challenge(void **state) {
    (void)state;
    uint64_t chains[] = {84532, 84532, 8453};
    gr_x402_siwx_expect e = expect_at(ISSUED_MS);
    e.chain_ids = chains;
    e.nchains = 3;
    cJSON *ext = cJSON_CreateObject();
    assert_int_equal(gr_x402_siwx_challenge(ext, &e, "Sign in"), GR_OK);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(ext, GR_X402_SIWX_EXT);
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(s, "info");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(info, "domain")->valuestring, "api.example.com");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(info, "uri")->valuestring, e.uri);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(info, "issuedAt")->valuestring, "2024-01-15T10:30:00.000Z");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(info, "expirationTime")->valuestring,
                        "2024-01-15T10:35:00.000Z");
    const char *nonce = cJSON_GetObjectItemCaseSensitive(info, "nonce")->valuestring;
    assert_int_equal(strlen(nonce), 32);
    assert_int_equal(strspn(nonce, "0123456789abcdef"), 32);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(s, "supportedChains");
    assert_int_equal(cJSON_GetArraySize(sc), 2); /* one entry per chain */
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(sc, 1), "chainId")->valuestring,
                        "eip155:8453");
    assert_non_null(cJSON_GetObjectItemCaseSensitive(s, "schema"));
    cJSON_Delete(ext);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_matches_viem), cmocka_unit_test(test_viem_signature_verifies),
        cmocka_unit_test(test_refusals), cmocka_unit_test(test_time_window), cmocka_unit_test(test_challenge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
