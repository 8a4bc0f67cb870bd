/* x402_upto.h — the x402 `upto` scheme on EVM (protocol v2 only): the client
 * signs a Permit2 PermitWitnessTransferFrom for a MAXIMUM amount, with the
 * x402 upto witness {to, facilitator, validAfter} and the x402UptoPermit2Proxy
 * as spender; the server settles the actual amount (<= the maximum, possibly
 * zero = no transaction) by calling the proxy's
 *   settle(((address token,uint256 amount) permitted,uint256 nonce,uint256 deadline) permit,
 *          uint256 amount, address owner,
 *          (address to,address facilitator,uint256 validAfter) witness, bytes signature)
 * (specs/schemes/upto/scheme_upto_evm.md and contracts/evm/src/
 * x402UptoPermit2Proxy.sol in coinbase/x402; Permit2's SignatureTransfer /
 * PermitHash / EIP712 in Uniswap/permit2).
 *
 * Owns: decoding a PAYMENT-SIGNATURE whose accepted.scheme is "upto", the
 * Permit2 EIP-712 digest (domain {name:"Permit2", chainId, verifyingContract:
 * Permit2} — no version), local verification against the offers, the settle
 * amount (cost rounded up to atomic units, clamped to the signed maximum),
 * the proxy settle() calldata (which refuses an amount above the maximum:
 * over-settlement is impossible by construction), and rendering of an upto
 * `accepts` entry.
 *
 * Not here: HTTP, the replay guard (the caller reserves
 * gr_x402_upto_nonce_key once, atomically, in its store), balances/allowances
 * and sending transactions. Pure functions over the pure crypto modules
 * (keccak, evm, eip712) and cJSON; thread-safe; a decoded payment is a flat
 * value. */
#ifndef GR_X402_UPTO_H
#define GR_X402_UPTO_H

#include "common.h"
#include "evm.h"

#include <cjson/cJSON.h>

/* keccak256 type strings, exactly as Permit2 / the upto proxy hash them. */
#define GR_PERMIT2_DOMAIN_TYPE "EIP712Domain(string name,uint256 chainId,address verifyingContract)"
#define GR_PERMIT2_TOKEN_PERMISSIONS_TYPE "TokenPermissions(address token,uint256 amount)"
#define GR_UPTO_WITNESS_TYPE "Witness(address to,address facilitator,uint256 validAfter)"
/* Permit2's _PERMIT_TRANSFER_FROM_WITNESS_TYPEHASH_STUB + the proxy's
 * WITNESS_TYPE_STRING */
#define GR_UPTO_PERMIT_WITNESS_TYPE                                                                   \
    "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline," \
    "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator," \
    "uint256 validAfter)"
#define GR_UPTO_SETTLE_SIG                                                                     \
    "settle(((address,uint256),uint256,uint256),uint256,address,(address,address,uint256),bytes)"

/* selector + 10 head words + bytes length word + 65 bytes padded to 96 */
#define GR_UPTO_SETTLE_CALLDATA_LEN (4 + 10 * 32 + 32 + 96)
/* deadline must be at least this far in the future (reference facilitator: 6 s) */
#define GR_UPTO_DEADLINE_MARGIN 6
#define GR_UPTO_NONCE_KEY_MAX 200

typedef enum gr_x402_upto_err {
    GR_UPTO_OK = 0,
    GR_UPTO_INVALID_PAYLOAD,       /* invalid_payload */
    GR_UPTO_INVALID_X402_VERSION,  /* invalid_x402_version (upto is v2 only) */
    GR_UPTO_INVALID_SCHEME,        /* invalid_upto_evm_scheme */
    GR_UPTO_NETWORK_MISMATCH,      /* invalid_upto_evm_network_mismatch */
    GR_UPTO_INVALID_REQUIREMENTS,  /* invalid_payment_requirements (asset not offered) */
    GR_UPTO_INVALID_SPENDER,       /* invalid_permit2_spender */
    GR_UPTO_RECIPIENT_MISMATCH,    /* invalid_permit2_recipient_mismatch */
    GR_UPTO_FACILITATOR_MISMATCH,  /* upto_facilitator_mismatch */
    GR_UPTO_DEADLINE_EXPIRED,      /* permit2_deadline_expired */
    GR_UPTO_NOT_YET_VALID,         /* permit2_not_yet_valid */
    GR_UPTO_AMOUNT_MISMATCH,       /* permit2_amount_mismatch (!= accepted, or below the quote) */
    GR_UPTO_TOKEN_MISMATCH,        /* permit2_token_mismatch */
    GR_UPTO_INVALID_OWNER,         /* permit2_invalid_owner (from = 0) */
    GR_UPTO_INVALID_SIGNATURE,     /* invalid_permit2_signature (bad, other signer, high-s, not 65 bytes) */
    GR_UPTO_NONCE_USED,            /* permit2_invalid_nonce (replay; set by the caller's guard) */
    GR_UPTO_SETTLEMENT_EXCEEDS,    /* invalid_upto_evm_payload_settlement_exceeds_amount */
} gr_x402_upto_err;

/* Wire string (the reference @x402/evm upto facilitator's), never NULL. */
const char *gr_x402_upto_err_str(gr_x402_upto_err e);

/* What the server offers for upto on one (network, asset). */
typedef struct gr_x402_upto_offer {
    uint64_t chain_id;
    gr_evm_address asset;
    gr_evm_address pay_to;
    gr_evm_address permit2;      /* Permit2 = EIP-712 verifyingContract */
    gr_evm_address proxy;        /* x402UptoPermit2Proxy = the permit's spender */
    gr_evm_address facilitator;  /* who calls settle(): witness.facilitator */
    gr_u256 amount;              /* the quote: the minimum maximum to authorise */
    uint32_t max_timeout_seconds;
    const char *extra_name;      /* token EIP-712 name / version, echoed in extra */
    const char *extra_version;
} gr_x402_upto_offer;

/* A decoded v2 upto PaymentPayload. */
typedef struct gr_x402_upto_payment {
    uint64_t chain_id;            /* accepted.network */
    gr_u256 accepted_amount;
    gr_evm_address accepted_asset;
    gr_evm_address accepted_pay_to;
    uint8_t signature[GR_EVM_SIG_LEN];
    /* permit2Authorization */
    gr_evm_address from;
    gr_evm_address token;         /* permitted.token */
    gr_u256 amount;               /* permitted.amount = the authorised maximum */
    gr_evm_address spender;
    gr_u256 nonce;                /* decimal or 0x-hex on the wire */
    gr_u256 deadline;
    gr_evm_address witness_to;
    gr_evm_address witness_facilitator;
    gr_u256 valid_after;
} gr_x402_upto_payment;

/* Decodes a PAYMENT-SIGNATURE value (base64 JSON). GR_ERR_NOT_FOUND (err
 * untouched = GR_UPTO_OK) when the header is well-formed JSON whose
 * accepted.scheme is not "upto" — the caller then tries the exact decoder.
 * Otherwise GR_OK, or GR_ERR_PARSE / GR_ERR_INVALID / GR_ERR_TOO_LARGE with
 * *err set. */
GR_MUST_CHECK gr_status gr_x402_upto_decode(gr_str header, gr_x402_upto_payment *out, gr_x402_upto_err *err);

/* Permit2 domain separator and the full PermitWitnessTransferFrom digest
 * (spender, nonce, deadline, permitted and witness from p). */
void gr_x402_upto_domain_separator(uint64_t chain_id, const gr_evm_address *permit2, uint8_t out[32]);
void gr_x402_upto_witness_hash(const gr_x402_upto_payment *p, uint8_t out[32]);
void gr_x402_upto_struct_hash(const gr_x402_upto_payment *p, uint8_t out[32]);
void gr_x402_upto_digest(const gr_x402_upto_payment *p, const gr_evm_address *permit2, uint8_t out[32]);

typedef struct gr_x402_upto_result {
    gr_x402_upto_err err;
    size_t offer_index;
    gr_evm_address payer;          /* recovered == permit2Authorization.from */
    gr_u256 max_amount;            /* permitted.amount */
    uint64_t deadline;             /* clamped to UINT64_MAX */
} gr_x402_upto_result;

/* Verifies p against the offers at now_unix, in the reference facilitator's
 * order: network (an offer on accepted.network), asset (an offer for
 * accepted.asset), spender == proxy, witness.to == payTo, witness.facilitator
 * == ours, deadline >= now + 6, validAfter <= now, permitted.amount ==
 * accepted.amount and >= the offer's quote, permitted.token == asset,
 * from != 0, then the EIP-712 digest recovers (low-s only) to from.
 * GR_OK or GR_ERR_INVALID (out->err set). */
GR_MUST_CHECK gr_status gr_x402_upto_verify(const gr_x402_upto_offer *offers, size_t n,
                                            const gr_x402_upto_payment *p, uint64_t now_unix,
                                            gr_x402_upto_result *out);

/* Replay-guard key of an authorisation: Permit2 nonces are per owner (any
 * spender), so "permit2:<chain>:<permit2>:<owner>:<nonce hex>" — a namespace
 * distinct from the exact scheme's EIP-3009 keys. out: GR_UPTO_NONCE_KEY_MAX. */
void gr_x402_upto_nonce_key(const gr_x402_upto_payment *p, const gr_evm_address *permit2,
                            char out[GR_UPTO_NONCE_KEY_MAX]);

/* Amount to settle for a metered cost: ceil(cost_nusd / 10^(9 - decimals))
 * atomic units (0 for cost <= 0), clamped to max. Returns true when it had to
 * clamp (the meter said more than the client authorised: the gateway absorbs
 * the difference). decimals 0..9. */
bool gr_x402_upto_settle_amount(int64_t cost_nusd, uint32_t decimals, const gr_u256 *max, gr_u256 *out);

/* Calldata of proxy.settle(permit, amount, owner, witness, signature), v
 * normalised to 27/28. GR_ERR_INVALID when amount > permitted.amount (the one
 * way to build a settlement cannot over-settle) or amount == 0 (the proxy
 * reverts on 0: a zero settlement sends no transaction); GR_ERR_PARSE on a
 * bad v. */
GR_MUST_CHECK gr_status gr_x402_upto_settle_calldata(const gr_x402_upto_payment *p, const gr_u256 *amount,
                                                     uint8_t out[GR_UPTO_SETTLE_CALLDATA_LEN]);

/* Appends one v2 `accepts` entry {scheme:"upto", network, amount, asset,
 * payTo, maxTimeoutSeconds, extra:{name, version, facilitatorAddress}} to
 * arr; amount_override (may be NULL) replaces o->amount (settle-time
 * requirements carry the actual amount). GR_ERR_NOMEM on allocation failure. */
GR_MUST_CHECK gr_status gr_x402_upto_render_requirement(const gr_x402_upto_offer *o, const gr_u256 *amount_override,
                                                        cJSON *arr);

#endif
