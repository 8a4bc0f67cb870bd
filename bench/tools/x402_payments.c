/* x402_payments.c — writes N distinct, validly signed x402 v1 "exact"
 * payments (X-PAYMENT header values, one per line) for bench/run's
 * x402-verified request scenario: every request must carry a fresh EIP-3009
 * nonce (the gateway's replay guard rejects a reused one), so they are signed
 * ahead of time, in-process, with gr_evm_sign over gr_eip3009_digest.
 *
 *   bench_x402_payments N NETWORK CHAIN_ID ASSET PAY_TO NAME VERSION VALUE > payments.txt
 *
 * The signing key is a well-known development key (anvil account #0), never
 * funded on a real chain; the benchmark's gateway runs with `settle: none`. */
#include "eip712.h"
#include "evm.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

int main(int argc, char **argv) {
    if (argc != 9) {
        fprintf(stderr, "usage: %s N NETWORK CHAIN_ID ASSET PAY_TO NAME VERSION VALUE\n", argv[0]);
        return 2;
    }
    long n = atol(argv[1]);
    const char *network = argv[2], *name = argv[6], *version = argv[7], *value = argv[8];
    uint64_t chain = strtoull(argv[3], NULL, 10);
    uint8_t priv[32];
    gr_eip3009_auth a;
    memset(&a, 0, sizeof a);
    gr_eip712_domain d = {gr_str_c(name), gr_str_c(version), chain, {{0}}};
    if (gr_evm_hex_decode(gr_str_c(KEY), priv, sizeof priv) || gr_evm_privkey_to_address(priv, &a.from) ||
        gr_evm_address_parse(gr_str_c(argv[4]), false, &d.verifying_contract) ||
        gr_evm_address_parse(gr_str_c(argv[5]), false, &a.to) || gr_u256_from_dec(gr_str_c(value), &a.value)) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    uint64_t now = (uint64_t)time(NULL);
    char va[24], vb[24], from[GR_EVM_ADDR_STR_LEN + 1], to[GR_EVM_ADDR_STR_LEN + 1];
    snprintf(va, sizeof va, "%llu", (unsigned long long)(now - 60));
    snprintf(vb, sizeof vb, "%llu", (unsigned long long)(now + 3600));
    gr_u256_from_u64(now - 60, &a.valid_after);
    gr_u256_from_u64(now + 3600, &a.valid_before);
    gr_evm_address_checksum(&a.from, from);
    gr_evm_address_checksum(&a.to, to);
    uint64_t salt = now ^ ((uint64_t)clock() << 32);
    for (long i = 0; i < n; i++) {
        memcpy(a.nonce, &salt, 8);
        uint64_t k = (uint64_t)i;
        memcpy(a.nonce + 24, &k, 8);
        uint8_t dg[32], sig[65];
        gr_eip3009_digest(&d, &a, dg);
        if (gr_evm_sign(dg, priv, sig)) return 1;
        char sighex[133], nonce[67];
        gr_evm_hex_encode(sig, 65, sighex);
        gr_evm_hex_encode(a.nonce, 32, nonce);
        cJSON *root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "x402Version", 1);
        cJSON_AddStringToObject(root, "scheme", "exact");
        cJSON_AddStringToObject(root, "network", network);
        cJSON *pl = cJSON_AddObjectToObject(root, "payload");
        cJSON_AddStringToObject(pl, "signature", sighex);
        cJSON *au = cJSON_AddObjectToObject(pl, "authorization");
        cJSON_AddStringToObject(au, "from", from);
        cJSON_AddStringToObject(au, "to", to);
        cJSON_AddStringToObject(au, "value", value);
        cJSON_AddStringToObject(au, "validAfter", va);
        cJSON_AddStringToObject(au, "validBefore", vb);
        cJSON_AddStringToObject(au, "nonce", nonce);
        char *json = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        char *b64 = gr_evm_b64_encode((const uint8_t *)json, strlen(json), NULL);
        puts(b64);
        free(b64);
        cJSON_free(json);
    }
    return 0;
}
