/* x402_receipt.h — signed receipts of the x402 `offer-receipt` extension
 * (spec: specs/extensions/extension-offer-and-receipt.md, format "eip712"):
 * after a paid request succeeds, the gateway signs
 * Receipt(string network,string resourceUrl,string payer,uint256 issuedAt,string transaction)
 * under the domain {name: "x402 receipt", version: "1", chainId} with its
 * receipt key, so the payer can prove what it bought. Pure (no I/O, no
 * global state besides libsecp256k1's signing context). */
#ifndef GR_X402_RECEIPT_H
#define GR_X402_RECEIPT_H

#include "common.h"
#include "evm.h"

#include <cjson/cJSON.h>

#define GR_X402_RECEIPT_EXT "offer-receipt"

typedef struct gr_x402_receipt {
    uint64_t chain_id;
    const char *resource_url;
    const char *payer;       /* as given (a checksummed or lowercase address) */
    uint64_t issued_at;      /* unix seconds */
    const char *transaction; /* "" when not known yet (privacy-minimal) */
} gr_x402_receipt;

/* The EIP-712 signing digest of a receipt. */
void gr_x402_receipt_digest(const gr_x402_receipt *rc, uint8_t out[32]);

/* Adds extensions["offer-receipt"] = {info: {version: 1, receipt: {format:
 * "eip712", payload, signature}}} to settlement (a SettlementResponse
 * object). GR_ERR_CRYPTO on a bad key. */
GR_MUST_CHECK gr_status gr_x402_receipt_add(cJSON *settlement, const gr_x402_receipt *rc, const uint8_t key[32]);

#endif
