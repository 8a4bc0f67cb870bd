/* bench_x402.c — x402 payment verification cost: gr_x402_verify on a v1
 * "exact" EIP-3009 payment signed in-process (gr_evm_sign over the
 * gr_eip3009_digest), i.e. requirement matching + EIP-712 digest + secp256k1
 * public-key recovery. Also times the pieces (digest, recover) and the header
 * decode (base64 + JSON) that precedes verification on the request path. */
#include "bench_common.h"
#include "eip712.h"
#include "evm.h"
#include "x402.h"

#include <cjson/cJSON.h>
#include <string.h>

/* A well-known development key (anvil/hardhat account #0): never funded on a real chain. */
#define KEY "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#define PAY_TO "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
#define ASSET "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
#define NOW 1740672099ULL

typedef struct {
    gr_x402_requirements req;
    gr_x402_payment pay;
    gr_eip712_domain dom;
    uint8_t digest[32];
    char *header;
} ctx_t;

static void must(gr_status rc, const char *what) {
    if (rc != GR_OK) bench_fail(what);
}

static void verify(void *p) {
    ctx_t *c = p;
    gr_x402_result res;
    if (gr_x402_verify(&c->req, 1, &c->pay, NOW, &res) != GR_OK || res.err != GR_X402_OK) bench_fail("verify");
    bench_sink += res.payer.b[0];
}

static void digest_only(void *p) {
    ctx_t *c = p;
    uint8_t d[32];
    gr_eip3009_digest(&c->dom, &c->pay.auth, d);
    bench_sink += d[0];
}

static void recover_only(void *p) {
    ctx_t *c = p;
    gr_evm_address a;
    must(gr_evm_recover(c->digest, c->pay.signature, &a), "recover");
    bench_sink += a.b[0];
}

static void decode_header(void *p) {
    ctx_t *c = p;
    gr_x402_payment out;
    gr_x402_err err;
    must(gr_x402_payment_decode(gr_str_c(c->header), &out, &err), "decode");
    bench_sink += out.signature[0];
}

int main(void) {
    ctx_t c;
    memset(&c, 0, sizeof c);
    c.req.scheme = "exact";
    c.req.chain_id = 84532; /* base-sepolia */
    c.req.resource = "http://127.0.0.1:8080/v1/chat/completions";
    c.req.description = "chat";
    c.req.mime_type = "application/json";
    c.req.max_timeout_seconds = 60;
    c.req.extra_name = "USDC";
    c.req.extra_version = "2";
    gr_u256_from_u64(10000, &c.req.amount);
    must(gr_evm_address_parse(gr_str_c(ASSET), false, &c.req.asset), "asset");
    must(gr_evm_address_parse(gr_str_c(PAY_TO), false, &c.req.pay_to), "payTo");

    uint8_t priv[32];
    must(gr_evm_hex_decode(gr_str_c(KEY), priv, sizeof priv), "key");
    c.pay.version = 1;
    strcpy(c.pay.scheme, "exact");
    c.pay.chain_id = 84532;
    must(gr_evm_privkey_to_address(priv, &c.pay.auth.from), "address");
    c.pay.auth.to = c.req.pay_to;
    gr_u256_from_u64(10000, &c.pay.auth.value);
    gr_u256_from_u64(NOW - 10, &c.pay.auth.valid_after);
    gr_u256_from_u64(NOW + 600, &c.pay.auth.valid_before);
    for (int i = 0; i < 32; i++) c.pay.auth.nonce[i] = (uint8_t)(i * 7 + 1);
    c.dom = (gr_eip712_domain){gr_str_c("USDC"), gr_str_c("2"), 84532, c.req.asset};
    gr_eip3009_digest(&c.dom, &c.pay.auth, c.digest);
    must(gr_evm_sign(c.digest, priv, c.pay.signature), "sign");

    /* the same payment as an X-PAYMENT v1 header value */
    char from[GR_EVM_ADDR_STR_LEN + 1], to[GR_EVM_ADDR_STR_LEN + 1], sig[133], nonce[67];
    gr_evm_address_checksum(&c.pay.auth.from, from);
    gr_evm_address_checksum(&c.pay.auth.to, to);
    gr_evm_hex_encode(c.pay.signature, 65, sig);
    gr_evm_hex_encode(c.pay.auth.nonce, 32, nonce);
    char va[32], vb[32];
    snprintf(va, sizeof va, "%llu", (unsigned long long)(NOW - 10));
    snprintf(vb, sizeof vb, "%llu", (unsigned long long)(NOW + 600));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "x402Version", 1);
    cJSON_AddStringToObject(root, "scheme", "exact");
    cJSON_AddStringToObject(root, "network", "base-sepolia");
    cJSON *pl = cJSON_AddObjectToObject(root, "payload");
    cJSON_AddStringToObject(pl, "signature", sig);
    cJSON *au = cJSON_AddObjectToObject(pl, "authorization");
    cJSON_AddStringToObject(au, "from", from);
    cJSON_AddStringToObject(au, "to", to);
    cJSON_AddStringToObject(au, "value", "10000");
    cJSON_AddStringToObject(au, "validAfter", va);
    cJSON_AddStringToObject(au, "validBefore", vb);
    cJSON_AddStringToObject(au, "nonce", nonce);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    c.header = gr_evm_b64_encode((const uint8_t *)json, strlen(json), NULL);
    cJSON_free(json);

    verify(&c); /* correctness check before timing */
    bench_run("x402_verify_eip3009", verify, &c);
    bench_run("eip712_eip3009_digest", digest_only, &c);
    bench_run("secp256k1_ecrecover", recover_only, &c);
    bench_run("x402_payment_header_decode_v1", decode_header, &c);
    free(c.header);
    return 0;
}
