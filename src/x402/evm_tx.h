/* evm_tx.h — self-settlement helpers: ABI-encoding of the EIP-3009
 * transferWithAuthorization(v, r, s) call, and EIP-1559 (type 2) transaction
 * RLP serialization + signing, ready for eth_sendRawTransaction.
 *
 * Pure functions; outputs are malloc'd (internal allocations, abort on OOM)
 * and freed by the caller. Signing uses evm.h's shared signing context. */
#ifndef GR_EVM_TX_H
#define GR_EVM_TX_H

#include "common.h"
#include "eip712.h"
#include "evm.h"

/* 4-byte selector + 9 words */
#define GR_EVM_TWA_CALLDATA_LEN (4 + 9 * 32)

/* Selector of transferWithAuthorization(address,address,uint256,uint256,
 * uint256,bytes32,uint8,bytes32,bytes32) = 0xe3ee160e. */
extern const uint8_t gr_evm_twa_selector[4];

/* Calldata for token.transferWithAuthorization(from, to, value, validAfter,
 * validBefore, nonce, v, r, s) from an authorization and its 65-byte
 * signature (v normalized to 27/28). GR_ERR_PARSE if sig's v is invalid. */
GR_MUST_CHECK gr_status gr_evm_twa_calldata(const gr_eip3009_auth *a, const uint8_t sig[GR_EVM_SIG_LEN],
                                            uint8_t out[GR_EVM_TWA_CALLDATA_LEN]);

typedef struct gr_evm_tx1559 {
    uint64_t chain_id;
    uint64_t nonce;
    gr_u256 max_priority_fee_per_gas;
    gr_u256 max_fee_per_gas;
    uint64_t gas_limit;
    gr_evm_address to;      /* contract calls only: no contract creation */
    gr_u256 value;
    const uint8_t *data;    /* borrowed */
    size_t data_len;
    /* access list: always empty */
} gr_evm_tx1559;

/* 0x02 || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to,
 * value, data, accessList]) — the pre-image of the signing hash. */
void gr_evm_tx1559_unsigned(const gr_evm_tx1559 *tx, uint8_t **out, size_t *out_len);

/* Signs and serializes: 0x02 || rlp([... , yParity, r, s]); tx_hash =
 * keccak256 of the raw bytes (may be NULL). GR_ERR_CRYPTO on a bad key. */
GR_MUST_CHECK gr_status gr_evm_tx1559_sign(const gr_evm_tx1559 *tx, const uint8_t privkey[32],
                                           uint8_t **raw, size_t *raw_len, uint8_t tx_hash[32]);

#endif
