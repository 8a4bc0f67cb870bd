/* x402_receipt.c — EIP-712 receipts of the offer-receipt extension
 * (x402_receipt.h). */
#include "x402_receipt.h"

#include "eip712.h"

#include <stdio.h>
#include <stdlib.h>

#define RECEIPT_TYPE "Receipt(string network,string resourceUrl,string payer,uint256 issuedAt,string transaction)"
#define DOMAIN_TYPE "EIP712Domain(string name,string version,uint256 chainId)"

/* NULL signs as "" */
static gr_eip712_value string_value(const char *s) { return gr_eip712_string(gr_str_c(s ? s : "")); }

void gr_x402_receipt_digest(const gr_x402_receipt *rc, uint8_t out[32]) {
    char network[32];
    snprintf(network, sizeof network, "eip155:%llu", (unsigned long long)rc->chain_id);
    const gr_eip712_value dom[] = {string_value("x402 receipt"), string_value("1"), gr_eip712_uint64(rc->chain_id)};
    const gr_eip712_value msg[] = {string_value(network), string_value(rc->resource_url), string_value(rc->payer),
                                   gr_eip712_uint64(rc->issued_at), string_value(rc->transaction)};
    uint8_t ds[32], sh[32];
    /* both types are fixed and well formed: hashing cannot fail */
    if (gr_eip712_hash_struct(gr_str_c(DOMAIN_TYPE), dom, GR_ARRAY_LEN(dom), ds) != GR_OK ||
        gr_eip712_hash_struct(gr_str_c(RECEIPT_TYPE), msg, GR_ARRAY_LEN(msg), sh) != GR_OK)
        abort();
    gr_eip712_digest(ds, sh, out);
}

gr_status gr_x402_receipt_add(cJSON *settlement, const gr_x402_receipt *rc, const uint8_t key[32]) {
    uint8_t digest[32], sig[GR_EVM_SIG_LEN];
    gr_x402_receipt_digest(rc, digest);
    if (gr_evm_sign(digest, key, sig) != GR_OK) return GR_ERR_CRYPTO;
    char sighex[2 * GR_EVM_SIG_LEN + 3], network[32];
    gr_evm_hex_encode(sig, GR_EVM_SIG_LEN, sighex);
    snprintf(network, sizeof network, "eip155:%llu", (unsigned long long)rc->chain_id);
    cJSON *ext = cJSON_GetObjectItemCaseSensitive(settlement, "extensions");
    if (!ext) ext = cJSON_AddObjectToObject(settlement, "extensions");
    cJSON_DeleteItemFromObjectCaseSensitive(ext, GR_X402_RECEIPT_EXT);
    cJSON *info = cJSON_AddObjectToObject(cJSON_AddObjectToObject(ext, GR_X402_RECEIPT_EXT), "info");
    cJSON_AddNumberToObject(info, "version", 1);
    cJSON *r = cJSON_AddObjectToObject(info, "receipt");
    cJSON_AddStringToObject(r, "format", "eip712");
    cJSON *p = cJSON_AddObjectToObject(r, "payload");
    cJSON_AddStringToObject(p, "network", network);
    cJSON_AddStringToObject(p, "resourceUrl", rc->resource_url ? rc->resource_url : "");
    cJSON_AddStringToObject(p, "payer", rc->payer ? rc->payer : "");
    cJSON_AddNumberToObject(p, "issuedAt", (double)rc->issued_at);
    cJSON_AddStringToObject(p, "transaction", rc->transaction ? rc->transaction : "");
    cJSON_AddStringToObject(r, "signature", sighex);
    return GR_OK;
}
