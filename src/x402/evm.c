/* evm.c — Ethereum value codecs (hex, EIP-55 addresses, uint256, base64) and
 * secp256k1 sign/recover with the context policy described in evm.h. */
#include "evm.h"

#include "keccak.h"

#include <pthread.h>
#include <stdlib.h>

#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

/* ---- hex ---- */

static const char HEXL[] = "0123456789abcdef";

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t gr_evm_hex_encode(const uint8_t *in, size_t n, char *out) {
    out[0] = '0';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = HEXL[in[i] >> 4];
        out[3 + 2 * i] = HEXL[in[i] & 15];
    }
    out[2 + 2 * n] = '\0';
    return 2 + 2 * n;
}

static gr_status hex_body(const char *p, size_t digits, uint8_t *out) {
    for (size_t i = 0; i < digits / 2; i++) {
        int hi = hexval((unsigned char)p[2 * i]), lo = hexval((unsigned char)p[2 * i + 1]);
        if (hi < 0 || lo < 0) return GR_ERR_PARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return GR_OK;
}

gr_status gr_evm_hex_decode(gr_str s, uint8_t *out, size_t out_len) {
    if (s.len != 2 + 2 * out_len || s.ptr[0] != '0' || s.ptr[1] != 'x') return GR_ERR_PARSE;
    /* validate first so out is untouched on error */
    for (size_t i = 2; i < s.len; i++)
        if (hexval((unsigned char)s.ptr[i]) < 0) return GR_ERR_PARSE;
    return hex_body(s.ptr + 2, 2 * out_len, out);
}

gr_status gr_evm_hex_decode_var(gr_str s, uint8_t *out, size_t cap, size_t *out_len) {
    if (s.len < 2 || s.ptr[0] != '0' || s.ptr[1] != 'x' || (s.len - 2) % 2 != 0) return GR_ERR_PARSE;
    size_t n = (s.len - 2) / 2;
    if (n > cap) return GR_ERR_TOO_LARGE;
    for (size_t i = 2; i < s.len; i++)
        if (hexval((unsigned char)s.ptr[i]) < 0) return GR_ERR_PARSE;
    gr_status rc = hex_body(s.ptr + 2, 2 * n, out);
    if (rc == GR_OK) *out_len = n;
    return rc;
}

/* ---- addresses ---- */

void gr_evm_address_lower(const gr_evm_address *a, char out[GR_EVM_ADDR_STR_LEN + 1]) {
    gr_evm_hex_encode(a->b, GR_EVM_ADDR_LEN, out);
}

void gr_evm_address_checksum(const gr_evm_address *a, char out[GR_EVM_ADDR_STR_LEN + 1]) {
    uint8_t h[32];
    gr_evm_hex_encode(a->b, GR_EVM_ADDR_LEN, out);
    gr_keccak256(out + 2, 40, h); /* EIP-55: hash of the lowercase hex, no 0x */
    for (int i = 0; i < 40; i++) {
        char c = out[2 + i];
        unsigned nib = (h[i / 2] >> (i % 2 ? 0 : 4)) & 15;
        if (c >= 'a' && c <= 'f' && nib >= 8) out[2 + i] = (char)(c - 'a' + 'A');
    }
}

gr_status gr_evm_address_parse(gr_str s, bool strict_checksum, gr_evm_address *out) {
    gr_evm_address a;
    if (gr_evm_hex_decode(s, a.b, GR_EVM_ADDR_LEN) != GR_OK) return GR_ERR_PARSE;
    if (strict_checksum) {
        bool lower = false, upper = false;
        for (size_t i = 2; i < s.len; i++) {
            if (s.ptr[i] >= 'a' && s.ptr[i] <= 'f') lower = true;
            if (s.ptr[i] >= 'A' && s.ptr[i] <= 'F') upper = true;
        }
        if (lower && upper) {
            char cs[GR_EVM_ADDR_STR_LEN + 1];
            gr_evm_address_checksum(&a, cs);
            if (memcmp(cs, s.ptr, GR_EVM_ADDR_STR_LEN) != 0) return GR_ERR_PARSE;
        }
    }
    *out = a;
    return GR_OK;
}

/* ---- uint256 ---- */

gr_status gr_u256_from_dec(gr_str s, gr_u256 *out) {
    if (s.len == 0) return GR_ERR_PARSE;
    if (s.len > 128) return GR_ERR_TOO_LARGE;
    gr_u256 v;
    memset(&v, 0, sizeof(v));
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < '0' || c > '9') return GR_ERR_PARSE;
        unsigned carry = c - '0';
        for (int k = 31; k >= 0; k--) { /* v = v * 10 + digit */
            unsigned t = v.b[k] * 10u + carry;
            v.b[k] = (uint8_t)t;
            carry = t >> 8;
        }
        if (carry) return GR_ERR_TOO_LARGE;
    }
    *out = v;
    return GR_OK;
}

void gr_u256_to_dec(const gr_u256 *v, char out[GR_U256_DEC_MAX + 1]) {
    gr_u256 t = *v;
    char rev[GR_U256_DEC_MAX + 1];
    size_t n = 0;
    for (;;) {
        unsigned rem = 0;
        bool nonzero = false;
        for (int k = 0; k < 32; k++) { /* t = t / 10, rem = t % 10 */
            unsigned cur = rem << 8 | t.b[k];
            t.b[k] = (uint8_t)(cur / 10);
            rem = cur % 10;
            nonzero |= t.b[k] != 0;
        }
        rev[n++] = (char)('0' + rem);
        if (!nonzero) break;
    }
    for (size_t i = 0; i < n; i++) out[i] = rev[n - 1 - i];
    out[n] = '\0';
}

void gr_u256_from_u64(uint64_t x, gr_u256 *out) {
    memset(out, 0, sizeof(*out));
    for (int k = 31; k >= 24; k--, x >>= 8) out->b[k] = (uint8_t)x;
}

gr_status gr_u256_to_u64(const gr_u256 *v, uint64_t *out) {
    for (int k = 0; k < 24; k++)
        if (v->b[k]) return GR_ERR_TOO_LARGE;
    uint64_t x = 0;
    for (int k = 24; k < 32; k++) x = x << 8 | v->b[k];
    *out = x;
    return GR_OK;
}

int gr_u256_cmp(const gr_u256 *a, const gr_u256 *b) {
    int c = memcmp(a->b, b->b, 32);
    return (c > 0) - (c < 0);
}

/* ---- base64 ---- */

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(unsigned char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

gr_status gr_evm_b64_decode(gr_str in, size_t max_out, uint8_t **out, size_t *out_len) {
    if (in.len % 4 != 0) return GR_ERR_PARSE;
    size_t pad = 0;
    if (in.len >= 4 && in.ptr[in.len - 1] == '=') pad = in.ptr[in.len - 2] == '=' ? 2 : 1;
    size_t n = in.len / 4 * 3 - pad;
    if (n > max_out) return GR_ERR_TOO_LARGE;
    uint8_t *buf = malloc(n + 1);
    if (!buf) return GR_ERR_NOMEM;
    size_t o = 0, body = in.len - pad;
    uint32_t acc = 0;
    for (size_t i = 0; i < body; i++) {
        int v = b64val((unsigned char)in.ptr[i]);
        if (v < 0) goto bad; /* includes '=' in the middle */
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            buf[o++] = (uint8_t)(acc >> 16);
            buf[o++] = (uint8_t)(acc >> 8);
            buf[o++] = (uint8_t)acc;
            acc = 0;
        }
    }
    if (pad == 1) { /* 3 symbols = 18 bits -> 2 bytes, low 2 bits must be 0 */
        if (acc & 3) goto bad;
        buf[o++] = (uint8_t)(acc >> 10);
        buf[o++] = (uint8_t)(acc >> 2);
    } else if (pad == 2) { /* 2 symbols = 12 bits -> 1 byte, low 4 bits 0 */
        if (acc & 15) goto bad;
        buf[o++] = (uint8_t)(acc >> 4);
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return GR_OK;
bad:
    free(buf);
    return GR_ERR_PARSE;
}

char *gr_evm_b64_encode(const uint8_t *in, size_t n, size_t *out_len) {
    size_t len = (n + 2) / 3 * 4;
    char *s = gr_xmalloc(len + 1), *p = s;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = '=';
        *p++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *p++ = B64[v >> 18];
        *p++ = B64[(v >> 12) & 63];
        *p++ = B64[(v >> 6) & 63];
        *p++ = '=';
    }
    *p = '\0';
    if (out_len) *out_len = len;
    return s;
}

/* ---- secp256k1 ---- */

/* group order n and floor(n / 2), big-endian */
static const uint8_t SECP_N[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41,
};
static const uint8_t SECP_HALF_N[32] = {
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0,
};

static pthread_once_t g_verify_once = PTHREAD_ONCE_INIT;
static pthread_once_t g_sign_once = PTHREAD_ONCE_INIT;
static secp256k1_context *g_sign_ctx; /* written once under g_sign_once */

static void verify_init(void) { secp256k1_selftest(); }

static void sign_init(void) {
    g_sign_ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    uint8_t seed[32];
    /* Randomization only adds side-channel blinding; signing stays correct
     * (RFC 6979) if the RNG is unavailable. */
    if (g_sign_ctx && RAND_bytes(seed, sizeof(seed)) == 1) {
        if (!secp256k1_context_randomize(g_sign_ctx, seed)) { /* cannot fail for a fresh ctx */ }
    }
    memset(seed, 0, sizeof(seed));
}

static bool scalar_in_range(const uint8_t v[32]) {
    static const uint8_t zero[32];
    return memcmp(v, zero, 32) != 0 && memcmp(v, SECP_N, 32) < 0;
}

void gr_evm_pubkey_to_address(const uint8_t pubkey65[65], gr_evm_address *out) {
    uint8_t h[32];
    gr_keccak256(pubkey65 + 1, 64, h);
    memcpy(out->b, h + 12, GR_EVM_ADDR_LEN);
}

gr_status gr_evm_recover(const uint8_t digest[32], const uint8_t sig[GR_EVM_SIG_LEN],
                         gr_evm_address *signer) {
    int recid;
    switch (sig[64]) {
    case 0: case 27: recid = 0; break;
    case 1: case 28: recid = 1; break;
    default: return GR_ERR_PARSE;
    }
    if (!scalar_in_range(sig) || !scalar_in_range(sig + 32)) return GR_ERR_PARSE;
    if (memcmp(sig + 32, SECP_HALF_N, 32) > 0) return GR_ERR_INVALID; /* EIP-2 high s */

    pthread_once(&g_verify_once, verify_init);
    const secp256k1_context *ctx = secp256k1_context_static;
    secp256k1_ecdsa_recoverable_signature rs;
    secp256k1_pubkey pk;
    if (!secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &rs, sig, recid)) return GR_ERR_PARSE;
    if (!secp256k1_ecdsa_recover(ctx, &pk, &rs, digest)) return GR_ERR_CRYPTO;
    uint8_t ser[65];
    size_t len = sizeof(ser);
    if (!secp256k1_ec_pubkey_serialize(ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED) || len != 65)
        return GR_ERR_CRYPTO;
    gr_evm_pubkey_to_address(ser, signer);
    return GR_OK;
}

gr_status gr_evm_sign(const uint8_t digest[32], const uint8_t privkey[32], uint8_t sig[GR_EVM_SIG_LEN]) {
    pthread_once(&g_sign_once, sign_init);
    if (!g_sign_ctx) return GR_ERR_NOMEM;
    if (!secp256k1_ec_seckey_verify(g_sign_ctx, privkey)) return GR_ERR_CRYPTO;
    secp256k1_ecdsa_recoverable_signature rs;
    if (!secp256k1_ecdsa_sign_recoverable(g_sign_ctx, &rs, digest, privkey, NULL, NULL))
        return GR_ERR_CRYPTO;
    int recid = 0;
    uint8_t out[64];
    if (!secp256k1_ecdsa_recoverable_signature_serialize_compact(g_sign_ctx, out, &recid, &rs))
        return GR_ERR_CRYPTO;
    memcpy(sig, out, 64);
    sig[64] = (uint8_t)(27 + recid);
    return GR_OK;
}

gr_status gr_evm_privkey_to_address(const uint8_t privkey[32], gr_evm_address *out) {
    pthread_once(&g_sign_once, sign_init);
    if (!g_sign_ctx) return GR_ERR_NOMEM;
    secp256k1_pubkey pk;
    if (!secp256k1_ec_pubkey_create(g_sign_ctx, &pk, privkey)) return GR_ERR_CRYPTO;
    uint8_t ser[65];
    size_t len = sizeof(ser);
    if (!secp256k1_ec_pubkey_serialize(g_sign_ctx, ser, &len, &pk, SECP256K1_EC_UNCOMPRESSED))
        return GR_ERR_CRYPTO;
    gr_evm_pubkey_to_address(ser, out);
    return GR_OK;
}
