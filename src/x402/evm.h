/* evm.h — Ethereum value vocabulary: 0x-hex, 20-byte addresses (EIP-55),
 * uint256 as 32 big-endian bytes, strict base64, and secp256k1 signing and
 * public-key recovery (libsecp256k1 + recovery module).
 *
 * All parsers take untrusted gr_str views and never assert on input; they
 * return GR_ERR_PARSE for malformed text and write their output only on GR_OK.
 *
 * secp256k1 contexts (libsecp256k1 >= 0.2.0, Debian 12 ships 0.2.0):
 *  - recovery uses the built-in read-only secp256k1_context_static (0.2.0 has
 *    static ecmult tables, so verification/recovery need no allocated context);
 *    secp256k1_selftest() runs once before first use.
 *  - signing uses one process-wide context created and randomized exactly once
 *    (pthread_once) and only used through const pointers afterwards, which the
 *    library documents as safe to share between threads without locking.
 *  Both are therefore safe from any worker thread; nothing is ever destroyed
 *  (the signing context lives until exit). */
#ifndef GR_EVM_H
#define GR_EVM_H

#include "common.h"

#define GR_EVM_ADDR_LEN 20
#define GR_EVM_SIG_LEN 65
#define GR_EVM_ADDR_STR_LEN 42 /* "0x" + 40 hex, without NUL */
#define GR_U256_DEC_MAX 78     /* 2^256-1 has 78 decimal digits */

typedef struct gr_evm_address {
    uint8_t b[GR_EVM_ADDR_LEN];
} gr_evm_address;

/* Unsigned 256-bit integer, big-endian (ABI word layout). */
typedef struct gr_u256 {
    uint8_t b[32];
} gr_u256;

/* ---- hex ---- */

/* Writes "0x" + 2n lowercase hex digits + NUL into out (size >= 2n + 3).
 * Returns the number of characters written, excluding the NUL. */
size_t gr_evm_hex_encode(const uint8_t *in, size_t n, char *out);

/* Strict: "0x" prefix (lowercase x), hex digits of either case, and exactly
 * 2*out_len digits. */
GR_MUST_CHECK gr_status gr_evm_hex_decode(gr_str s, uint8_t *out, size_t out_len);

/* Variable length: "0x" + even number of digits, decoded length <= cap
 * (GR_ERR_TOO_LARGE otherwise). */
GR_MUST_CHECK gr_status gr_evm_hex_decode_var(gr_str s, uint8_t *out, size_t cap,
                                              size_t *out_len);

/* ---- addresses ---- */

/* Parses "0x" + 40 hex digits. With strict_checksum, a mixed-case address
 * must carry a valid EIP-55 checksum (all-lower and all-upper are accepted
 * as "no checksum"), like viem's isAddress(strict). */
GR_MUST_CHECK gr_status gr_evm_address_parse(gr_str s, bool strict_checksum,
                                             gr_evm_address *out);

/* out must hold GR_EVM_ADDR_STR_LEN + 1 bytes. */
void gr_evm_address_lower(const gr_evm_address *a, char out[GR_EVM_ADDR_STR_LEN + 1]);
void gr_evm_address_checksum(const gr_evm_address *a, char out[GR_EVM_ADDR_STR_LEN + 1]);
static inline bool gr_evm_address_eq(const gr_evm_address *a, const gr_evm_address *b) {
    return memcmp(a->b, b->b, GR_EVM_ADDR_LEN) == 0;
}
static inline bool gr_evm_address_is_zero(const gr_evm_address *a) {
    static const gr_evm_address zero;
    return gr_evm_address_eq(a, &zero);
}

/* ---- uint256 ---- */

/* Strict decimal: one or more ASCII digits, nothing else (no sign, spaces,
 * "0x"); leading zeros allowed; > 2^256-1 is GR_ERR_TOO_LARGE; more than 128
 * characters is GR_ERR_TOO_LARGE as well (bounds the work). */
GR_MUST_CHECK gr_status gr_u256_from_dec(gr_str s, gr_u256 *out);
/* out must hold GR_U256_DEC_MAX + 1 bytes; writes minimal decimal ("0" for 0). */
void gr_u256_to_dec(const gr_u256 *v, char out[GR_U256_DEC_MAX + 1]);
void gr_u256_from_u64(uint64_t v, gr_u256 *out);
/* GR_ERR_TOO_LARGE if v does not fit in 64 bits. */
GR_MUST_CHECK gr_status gr_u256_to_u64(const gr_u256 *v, uint64_t *out);
/* -1, 0, 1 */
int gr_u256_cmp(const gr_u256 *a, const gr_u256 *b);
static inline bool gr_u256_eq(const gr_u256 *a, const gr_u256 *b) {
    return memcmp(a->b, b->b, 32) == 0;
}

/* ---- base64 (RFC 4648 standard alphabet, '=' padding) ---- */

/* Strict decode: length a multiple of 4, only A-Z a-z 0-9 + /, '=' only as
 * the last one or two characters, unused trailing bits must be zero (one
 * canonical encoding per byte string). Empty input decodes to 0 bytes.
 * On GR_OK *out is a NUL-terminated malloc'd buffer (NUL not counted in
 * *out_len) that the caller frees. Decoded size > max_out: GR_ERR_TOO_LARGE. */
GR_MUST_CHECK gr_status gr_evm_b64_decode(gr_str in, size_t max_out, uint8_t **out,
                                          size_t *out_len);
/* Encode with padding; returns a malloc'd NUL-terminated string (internal
 * allocation: aborts on OOM). out_len may be NULL. */
char *gr_evm_b64_encode(const uint8_t *in, size_t n, size_t *out_len);

/* ---- secp256k1 ---- */

/* Recovers the signer of a 32-byte digest from sig = r(32) || s(32) || v(1).
 * v in {27, 28, 0, 1}; r, s in [1, n-1]; s <= n/2 (EIP-2 low-s) else
 * GR_ERR_INVALID for high s, GR_ERR_PARSE for bad v / out of range r, s;
 * GR_ERR_CRYPTO when no key recovers. */
GR_MUST_CHECK gr_status gr_evm_recover(const uint8_t digest[32], const uint8_t sig[GR_EVM_SIG_LEN],
                                       gr_evm_address *signer);

/* Signs a 32-byte digest (RFC 6979 nonce, low s) -> r || s || v with v in
 * {27, 28}. GR_ERR_CRYPTO if the private key is invalid (0 or >= n). */
GR_MUST_CHECK gr_status gr_evm_sign(const uint8_t digest[32], const uint8_t privkey[32],
                                    uint8_t sig[GR_EVM_SIG_LEN]);

/* Address of a private key: keccak256(uncompressed pubkey[1..65])[12..32]. */
GR_MUST_CHECK gr_status gr_evm_privkey_to_address(const uint8_t privkey[32], gr_evm_address *out);

/* Address of a 65-byte uncompressed public key (0x04 || X || Y). */
void gr_evm_pubkey_to_address(const uint8_t pubkey65[65], gr_evm_address *out);

#endif
