/* x402_siwx.h — the `sign-in-with-x` extension (CAIP-122 / EIP-4361) for
 * EVM wallets: the challenge a 402 advertises and the verification of the
 * signed `SIGN-IN-WITH-X` header, locally (EIP-191 personal_sign recovered
 * with libsecp256k1; no chain call).
 *
 * What this module checks: the header's shape, the domain (== the expected
 * host), the uri (starts with the expected origin), version "1", the chain
 * (one of the gateway's networks), the nonce's form, the time window
 * (issuedAt recent and not in the future, expirationTime and notBefore) and
 * the signature over the EIP-4361 message rebuilt from the header's fields.
 * What it does not: a nonce's single use (the caller spends it in the
 * x402 store, cluster-wide) and smart-wallet signatures (EIP-1271 / 6492
 * need a chain call: refused with GR_SIWX_SMART_WALLET).
 *
 * Pure functions, no global state; thread-safe. */
#ifndef GR_X402_SIWX_H
#define GR_X402_SIWX_H

#include "common.h"
#include "evm.h"

#include <cjson/cJSON.h>

#define GR_X402_SIWX_EXT "sign-in-with-x"
#define GR_X402_SIWX_HEADER "SIGN-IN-WITH-X"
#define GR_X402_SIWX_NONCE_MIN 8   /* EIP-4361: at least 8 alphanumerics */
#define GR_X402_SIWX_NONCE_MAX 64
/* A settlement job admitted by a sign-in stores its header behind this
 * prefix: nothing to send on chain, whoever finishes the job. */
#define GR_X402_SIWX_JOB_PREFIX "siwx:"
#define GR_X402_SIWX_SKEW_MS 5000 /* issuedAt may be this far ahead of our clock (instances' clocks differ) */

typedef struct gr_x402_siwx_expect {
    const char *domain;        /* the host the client called, without the port */
    const char *uri;           /* the resource URL; the message's uri must start with its origin */
    const uint64_t *chain_ids; /* the gateway's networks */
    size_t nchains;
    int64_t now_ms;            /* wall clock */
    int64_t max_age_ms;        /* how old issuedAt may be */
} gr_x402_siwx_expect;

typedef enum {
    GR_SIWX_OK = 0,
    GR_SIWX_MALFORMED,    /* bad base64 / JSON / missing or malformed field */
    GR_SIWX_DOMAIN,       /* domain is not this host */
    GR_SIWX_URI,          /* uri is not under this origin */
    GR_SIWX_CHAIN,        /* chainId is not one of the gateway's networks, or not EVM */
    GR_SIWX_EXPIRED,      /* issuedAt too old, or expirationTime passed */
    GR_SIWX_NOT_YET,      /* issuedAt in the future, or notBefore not reached */
    GR_SIWX_SMART_WALLET, /* a signature that is not 65 bytes (EIP-1271 / EIP-6492): not supported */
    GR_SIWX_SIGNATURE,    /* does not recover to `address` */
} gr_x402_siwx_err;

/* The verified sign-in. */
typedef struct gr_x402_siwx_proof {
    gr_evm_address address;
    uint64_t chain_id;
    char nonce[GR_X402_SIWX_NONCE_MAX + 1];
    int64_t expires_s; /* unix seconds after which the proof is refused anyway (nonce kept until then) */
} gr_x402_siwx_proof;

/* Error code for the reply (snake_case, stable). */
const char *gr_x402_siwx_err_str(gr_x402_siwx_err e);

/* Verifies a SIGN-IN-WITH-X header value (base64 JSON, at most
 * GR_X402_HEADER_MAX characters). */
gr_x402_siwx_err gr_x402_siwx_verify(const char *header_b64, const gr_x402_siwx_expect *e, gr_x402_siwx_proof *out);

/* Adds extensions["sign-in-with-x"] (info with a fresh nonce, issuedAt and
 * expirationTime = issuedAt + max_age, supportedChains, schema) to a 402's
 * `extensions` object. */
GR_MUST_CHECK gr_status gr_x402_siwx_challenge(cJSON *extensions, const gr_x402_siwx_expect *e,
                                               const char *statement);

/* The EIP-4361 message for the fields of a header (JSON object), into a
 * malloc'd string; NULL when a required field is missing. For tests too. */
char *gr_x402_siwx_message(const cJSON *fields);

#endif
