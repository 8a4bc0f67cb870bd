/* x402.h — x402 payment protocol codec and local verification (exact scheme,
 * EVM, EIP-3009 TransferWithAuthorization), protocol versions 1 and 2.
 * Wire formats follow x402-notes.md (coinbase/x402 spec + official clients).
 *
 * Owns: the network table (v1 names <-> chain ids <-> CAIP-2 "eip155:<id>"),
 * rendering of the 402 payload (v1 JSON body, v2 base64 PAYMENT-REQUIRED
 * header) and of the settlement header (X-PAYMENT-RESPONSE / PAYMENT-RESPONSE),
 * decoding of the client's X-PAYMENT / PAYMENT-SIGNATURE header into a typed
 * payment, and gr_x402_verify: requirement matching, recipient, time window,
 * amount, EIP-712 digest and signer recovery.
 *
 * Not here: HTTP, the nonce replay guard (the caller spends
 * result.nonce once, atomically, in its store), balance checks and settlement.
 *
 * Memory: requirement/settlement structs only borrow their strings; rendered
 * strings are malloc'd and the caller free()s them. A decoded gr_x402_payment
 * is a flat value (no pointers), safe to copy. All functions are pure and
 * thread-safe. */
#ifndef GR_X402_H
#define GR_X402_H

#include "common.h"
#include "eip712.h"
#include "evm.h"

/* validBefore must be at least this many seconds after "now" (reference
 * facilitators: ~3 blocks of slack so the settlement can still land). */
#define GR_X402_VALID_BEFORE_MARGIN 6
/* Caps on untrusted input. */
#define GR_X402_HEADER_MAX 16384     /* base64 characters */
#define GR_X402_NETWORK_STR_MAX 32   /* "eip155:" + 20 digits + NUL fits */
#define GR_X402_SCHEME_MAX 32
#define GR_X402_EXTRA_MAX 64

/* Verification / decoding outcome. Strings: gr_x402_err_str. */
typedef enum gr_x402_err {
    GR_X402_OK = 0,
    GR_X402_INVALID_PAYLOAD,              /* bad base64 / JSON / missing or malformed field */
    GR_X402_INVALID_X402_VERSION,         /* x402Version not 1 or 2 */
    GR_X402_UNSUPPORTED_SCHEME,           /* scheme other than "exact" */
    GR_X402_INVALID_SCHEME,               /* no offered requirement has the payment's scheme */
    GR_X402_INVALID_NETWORK,              /* unknown network, or none offered on it */
    GR_X402_INVALID_PAYMENT_REQUIREMENTS, /* v2 `accepted` names an asset we did not offer */
    GR_X402_MISSING_EIP712_DOMAIN,        /* requirement lacks extra.name / extra.version */
    GR_X402_RECIPIENT_MISMATCH,           /* authorization.to != payTo */
    GR_X402_AUTHORIZATION_VALUE,          /* v1: value < amount; v2: value != amount */
    GR_X402_VALID_BEFORE,                 /* expired: validBefore < now + margin */
    GR_X402_VALID_AFTER,                  /* not yet valid: validAfter > now */
    GR_X402_SIGNATURE,                    /* bad / high-s / wrong-signer / non-65-byte signature */
} gr_x402_err;

/* Wire string of an error for a protocol version. v1 uses the v1 spec list
 * (e.g. "invalid_exact_evm_payload_signature"); v2 uses the strings of the
 * reference @x402/evm facilitator (e.g. "invalid_exact_evm_signature").
 * GR_X402_OK -> "". Never NULL. */
const char *gr_x402_err_str(gr_x402_err e, int x402_version);

/* ---- networks ---- */

/* Accepts a v1 name ("base-sepolia") or CAIP-2 "eip155:<decimal chain id>"
 * (no leading zeros, non-zero, fits 64 bits). GR_ERR_NOT_FOUND for an unknown
 * v1 name or a non-EVM CAIP-2 namespace, GR_ERR_PARSE for malformed eip155. */
GR_MUST_CHECK gr_status gr_x402_network_parse(gr_str s, uint64_t *chain_id);
/* v1 name of a chain id, or NULL when v1 has no name for it. */
const char *gr_x402_network_v1_name(uint64_t chain_id);
/* "eip155:<id>" into out (GR_X402_NETWORK_STR_MAX bytes). */
void gr_x402_network_caip2(uint64_t chain_id, char out[GR_X402_NETWORK_STR_MAX]);

/* ---- requirements (what the server offers) ---- */

typedef struct gr_x402_requirements {
    const char *scheme;         /* "exact" */
    uint64_t chain_id;          /* rendered as v1 name or "eip155:<id>" */
    gr_u256 amount;             /* atomic units; v1 maxAmountRequired, v2 amount */
    gr_evm_address asset;       /* token contract = EIP-712 verifyingContract */
    gr_evm_address pay_to;
    const char *resource;       /* URL of the paid resource */
    const char *description;    /* may be NULL -> "" */
    const char *mime_type;      /* may be NULL -> "" */
    uint32_t max_timeout_seconds;
    const char *extra_name;     /* token's EIP-712 domain name, e.g. "USD Coin" */
    const char *extra_version;  /* token's EIP-712 domain version, e.g. "2" */
} gr_x402_requirements;

/* The 402 payload as JSON text (malloc'd, caller frees).
 * v1: {"x402Version":1,"error":...,"accepts":[...]} — the HTTP body; error
 *     NULL -> "X-PAYMENT header is required".
 * v2: {"x402Version":2,"error"?,"resource":{url,description,mimeType},
 *     "accepts":[...]} — resource taken from reqs[0]; error omitted if NULL.
 * GR_ERR_INVALID: n == 0, NULL scheme/resource, version not 1/2;
 * GR_ERR_UNSUPPORTED: v1 rendering of a chain with no v1 name;
 * GR_ERR_NOMEM on allocation failure. */
GR_MUST_CHECK gr_status gr_x402_render_payment_required(int version, const gr_x402_requirements *reqs,
                                                        size_t n, const char *error, char **json_out);
/* v2 PAYMENT-REQUIRED header value: base64 of the v2 JSON above. */
GR_MUST_CHECK gr_status gr_x402_render_payment_required_header(const gr_x402_requirements *reqs,
                                                               size_t n, const char *error,
                                                               char **b64_out);

/* ---- settlement response (X-PAYMENT-RESPONSE v1 / PAYMENT-RESPONSE v2) ---- */

typedef struct gr_x402_settlement {
    bool success;
    const char *error_reason;   /* emitted only when !success and non-NULL */
    const char *transaction;    /* tx hash; NULL -> "" */
    uint64_t chain_id;
    bool has_payer;
    gr_evm_address payer;       /* v1 always emits payer ("" if none) */
    bool has_amount;            /* v2 only: settled amount */
    gr_u256 amount;
} gr_x402_settlement;

/* base64(JSON) header value, malloc'd. Same error statuses as above. */
GR_MUST_CHECK gr_status gr_x402_render_settlement(int version, const gr_x402_settlement *s,
                                                  char **b64_out);

/* ---- payments (what the client sends) ---- */

typedef struct gr_x402_accepted {
    uint64_t chain_id;
    gr_u256 amount;
    gr_evm_address asset;
    gr_evm_address pay_to;
    uint64_t max_timeout_seconds;
    char extra_name[GR_X402_EXTRA_MAX];    /* "" when absent */
    char extra_version[GR_X402_EXTRA_MAX];
} gr_x402_accepted;

typedef struct gr_x402_payment {
    int version;                        /* 1 or 2 */
    char scheme[GR_X402_SCHEME_MAX];    /* "exact" */
    uint64_t chain_id;                  /* v1 network, v2 accepted.network */
    uint8_t signature[GR_EVM_SIG_LEN];  /* r || s || v */
    gr_eip3009_auth auth;
    bool has_accepted;                  /* true for v2 */
    gr_x402_accepted accepted;
} gr_x402_payment;

/* Decodes an X-PAYMENT (v1) or PAYMENT-SIGNATURE (v2) header value:
 * base64 -> JSON -> typed payment; the version comes from x402Version. On
 * failure returns GR_ERR_PARSE (or GR_ERR_INVALID for semantic errors such as
 * an unsupported scheme) and sets *err; *out is then unspecified. */
GR_MUST_CHECK gr_status gr_x402_payment_decode(gr_str header, gr_x402_payment *out, gr_x402_err *err);

typedef struct gr_x402_result {
    gr_x402_err err;
    size_t req_index;          /* index into the requirements that matched */
    gr_evm_address payer;      /* recovered signer == authorization.from */
    gr_u256 amount;            /* authorization.value (what the signature moves) */
    uint8_t nonce[32];         /* EIP-3009 nonce: the caller's replay key (with payer+asset+chain) */
    uint64_t valid_before;     /* authorization.validBefore, clamped to UINT64_MAX */
} gr_x402_result;

/* Verifies a decoded payment against the offered requirements at time
 * now_unix. Candidates: same scheme (else invalid_scheme), same chain
 * (else invalid_network), and for v2 the asset named in `accepted`
 * (else invalid_payment_requirements). Each candidate is checked cheap-first:
 * EIP-712 domain present, authorization.to == payTo, validBefore >= now + 6,
 * validAfter <= now, value >= amount (v1) / == amount (v2), then the EIP-712
 * digest (domain {extra.name, extra.version, chainId, asset}) is rebuilt and
 * the recovered signer must equal authorization.from (high-s rejected).
 * The first candidate that passes wins; otherwise the error of the candidate
 * that got furthest is reported. GR_OK or GR_ERR_INVALID (out->err set). */
GR_MUST_CHECK gr_status gr_x402_verify(const gr_x402_requirements *reqs, size_t n,
                                       const gr_x402_payment *p, uint64_t now_unix,
                                       gr_x402_result *out);

#endif
