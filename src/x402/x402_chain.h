/* x402_chain.h — what the chain says about one x402 payment, over JSON-RPC
 * (x402_rpc.h): whether its authorization is spent (EIP-3009
 * authorizationState, or the bit of its Permit2 nonce), which transaction
 * spent it (the token's AuthorizationUsed log, or for upto its Transfer to
 * payTo of the settled amount), and whether its payer can pay (balanceOf, and
 * for upto the allowance to Permit2). Used by settlement (reconciliation
 * after a crash or a revert) and by the payer preflight before serving. */
#ifndef GR_X402_CHAIN_H
#define GR_X402_CHAIN_H

#include "common.h"
#include "evm.h"
#include "x402_rpc.h"

/* One payment's footprint on chain. */
typedef struct gr_x402_spend {
    bool upto;
    gr_evm_address from, pay_to, token;
    gr_evm_address permit2;  /* upto */
    gr_u256 nonce;           /* EIP-3009 bytes32 nonce, or the Permit2 uint256 nonce */
    gr_u256 amount;          /* exact: the signed value; upto: what settles (or the maximum) */
    uint64_t valid_before;   /* unix s: exact validBefore, upto deadline */
} gr_x402_spend;

/* Decodes a payment header (exact or upto) into its footprint; amount_dec
 * (may be NULL) replaces the amount (upto: the settled amount). false when
 * the header is not a decodable payment. */
bool gr_x402_spend_from_header(const char *header_b64, const gr_evm_address *permit2, const char *amount_dec,
                               gr_x402_spend *out);

/* *spent: the authorization can no longer be used (spent; for EIP-3009 also
 * cancelled). */
gr_rpc_outcome gr_x402_chain_spent(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, bool *spent, char *err,
                                   size_t errlen);
/* The transaction that spent it, looked for in the last `lookback` blocks
 * (hash "" when none was found). */
gr_rpc_outcome gr_x402_chain_spending_tx(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, uint64_t lookback,
                                         char hash[67], char *err, size_t errlen);
/* Whether the authorization is spent and, with funds, the payer's
 * balanceOf (and for upto its allowance to Permit2) — one JSON-RPC batch,
 * one round trip. */
gr_rpc_outcome gr_x402_chain_payer(gr_x402_rpc *c, const char *url, const gr_x402_spend *s, bool funds, bool *spent,
                                   gr_u256 *balance, gr_u256 *allowance, char *err, size_t errlen);

#endif
