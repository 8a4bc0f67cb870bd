/* base58.c — Base58 (Bitcoin/Solana alphabet) encode/decode of short values
 * (keys, signatures): schoolbook base conversion over a byte buffer. */
#include "base58.h"

#include <string.h>

static const char ALPHABET[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static int digit_of(char c) {
    const char *p = c ? strchr(ALPHABET, c) : NULL;
    return p ? (int)(p - ALPHABET) : -1;
}

bool gr_base58_decode(const char *text, size_t len, uint8_t *out, size_t want) {
    if (!text || want == 0 || want > 64 || len == 0 || len > GR_BASE58_MAX_64) return false;
    uint8_t buf[64] = {0}; /* big-endian value, least significant byte at buf[want-1] */
    size_t zeros = 0;
    while (zeros < len && text[zeros] == '1') zeros++;
    for (size_t i = 0; i < len; i++) {
        int d = digit_of(text[i]);
        if (d < 0) return false;
        unsigned carry = (unsigned)d;
        for (size_t k = want; k-- > 0;) {
            carry += 58u * buf[k];
            buf[k] = (uint8_t)carry;
            carry >>= 8;
        }
        if (carry) return false; /* longer than `want` bytes */
    }
    size_t lead = 0; /* zero bytes the value has at the front */
    while (lead < want && buf[lead] == 0) lead++;
    if (lead != zeros) return false; /* non-canonical: '1's must match the leading zero bytes */
    memcpy(out, buf, want);
    return true;
}

bool gr_base58_encode(const uint8_t *in, size_t len, char *out, size_t cap) {
    if (len > 64 || cap == 0) return false;
    uint8_t dig[GR_BASE58_MAX_64] = {0}; /* base-58 digits, most significant first, `n` used at the end */
    size_t n = 0, zeros = 0;
    while (zeros < len && in[zeros] == 0) zeros++;
    for (size_t i = zeros; i < len; i++) {
        unsigned carry = in[i];
        for (size_t k = 0; k < n; k++) { /* dig holds the digits least significant first while building */
            carry += (unsigned)dig[k] << 8;
            dig[k] = (uint8_t)(carry % 58);
            carry /= 58;
        }
        while (carry) {
            dig[n++] = (uint8_t)(carry % 58);
            carry /= 58;
        }
    }
    if (zeros + n + 1 > cap) return false;
    size_t o = 0;
    for (size_t i = 0; i < zeros; i++) out[o++] = '1';
    for (size_t k = n; k-- > 0;) out[o++] = ALPHABET[dig[k]];
    out[o] = '\0';
    return true;
}
