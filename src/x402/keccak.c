/* keccak.c — Keccak-256 (Ethereum flavour): the keccak-f[1600] permutation
 * written from its definition (theta, rho, pi, chi, iota over 5x5 lanes of
 * 64 bits, 24 rounds) plus a byte-oriented sponge with pad10*1 and domain
 * byte 0x01. */
#include "keccak.h"

#include <string.h>

/* Round constants RC[i] (iota) and rotation offsets r[x + 5y] (rho) as
 * defined by the Keccak reference: RC from the LFSR x^8+x^6+x^5+x^4+1,
 * r from the (x, y) -> (y, 2x + 3y) walk with offsets (t+1)(t+2)/2 mod 64. */
static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL,
    0x8000000080008000ULL, 0x000000000000808BULL, 0x0000000080000001ULL,
    0x8000000080008081ULL, 0x8000000000008009ULL, 0x000000000000008AULL,
    0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL,
    0x8000000000008003ULL, 0x8000000000008002ULL, 0x8000000000000080ULL,
    0x000000000000800AULL, 0x800000008000000AULL, 0x8000000080008081ULL,
    0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

static const unsigned ROT[25] = {
    /* y = 0 */ 0, 1, 62, 28, 27,
    /* y = 1 */ 36, 44, 6, 55, 20,
    /* y = 2 */ 3, 10, 43, 25, 39,
    /* y = 3 */ 41, 45, 15, 21, 8,
    /* y = 4 */ 18, 2, 61, 56, 14,
};

static inline uint64_t rotl64(uint64_t v, unsigned n) {
    return n ? (v << n) | (v >> (64 - n)) : v;
}

/* pi destination of lane i = x + 5y: B[y + 5 * ((2x + 3y) % 5)] */
static const uint8_t PI_DST[25] = {
    0, 10, 20, 5, 15,
    16, 1, 11, 21, 6,
    7, 17, 2, 12, 22,
    23, 8, 18, 3, 13,
    14, 24, 9, 19, 4,
};

void gr_keccak_f1600(uint64_t a[25]) {
    uint64_t b[25];
    for (int round = 0; round < 24; round++) {
        /* theta: xor each lane with the parities of two neighbouring columns */
        uint64_t c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        uint64_t c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        uint64_t c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        uint64_t c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        uint64_t c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
        uint64_t d[5] = {
            c4 ^ rotl64(c1, 1), c0 ^ rotl64(c2, 1), c1 ^ rotl64(c3, 1),
            c2 ^ rotl64(c4, 1), c3 ^ rotl64(c0, 1),
        };
        /* theta apply + rho (rotate by r[x, y]) + pi (move to (y, 2x+3y)) */
        for (int i = 0; i < 25; i++) b[PI_DST[i]] = rotl64(a[i] ^ d[i % 5], ROT[i]);
        /* chi: A[x, y] = B[x, y] ^ (~B[x+1, y] & B[x+2, y]) */
        for (int y = 0; y < 25; y += 5) {
            uint64_t b0 = b[y], b1 = b[y + 1], b2 = b[y + 2], b3 = b[y + 3], b4 = b[y + 4];
            a[y + 0] = b0 ^ (~b1 & b2);
            a[y + 1] = b1 ^ (~b2 & b3);
            a[y + 2] = b2 ^ (~b3 & b4);
            a[y + 3] = b3 ^ (~b4 & b0);
            a[y + 4] = b4 ^ (~b0 & b1);
        }
        /* iota */
        a[0] ^= RC[round];
    }
}

static inline uint64_t load64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

void gr_keccak_init(gr_keccak_ctx *c) { memset(c, 0, sizeof(*c)); }

void gr_keccak_update(gr_keccak_ctx *c, const void *data, size_t len) {
    const uint8_t *p = data;
    /* finish a partial block byte by byte */
    while (len > 0 && c->pos != 0) {
        c->st[c->pos / 8] ^= (uint64_t)*p << (8 * (c->pos % 8));
        p++, len--;
        if (++c->pos == GR_KECCAK256_RATE) {
            gr_keccak_f1600(c->st);
            c->pos = 0;
        }
    }
    /* whole blocks lane by lane */
    while (len >= GR_KECCAK256_RATE) {
        for (int i = 0; i < GR_KECCAK256_RATE / 8; i++) c->st[i] ^= load64_le(p + 8 * i);
        gr_keccak_f1600(c->st);
        p += GR_KECCAK256_RATE;
        len -= GR_KECCAK256_RATE;
    }
    /* tail */
    for (; len > 0; p++, len--) {
        c->st[c->pos / 8] ^= (uint64_t)*p << (8 * (c->pos % 8));
        c->pos++;
    }
}

void gr_keccak_final(gr_keccak_ctx *c, uint8_t out[GR_KECCAK256_LEN]) {
    /* pad10*1 with Keccak's domain bit: first pad byte 0x01, last 0x80
     * (they share a byte when only one is left: 0x81). */
    c->st[c->pos / 8] ^= (uint64_t)0x01 << (8 * (c->pos % 8));
    c->st[(GR_KECCAK256_RATE - 1) / 8] ^= (uint64_t)0x80 << (8 * ((GR_KECCAK256_RATE - 1) % 8));
    gr_keccak_f1600(c->st);
    for (int i = 0; i < GR_KECCAK256_LEN; i++) out[i] = (uint8_t)(c->st[i / 8] >> (8 * (i % 8)));
    memset(c, 0, sizeof(*c));
}

void gr_keccak256(const void *data, size_t len, uint8_t out[GR_KECCAK256_LEN]) {
    gr_keccak_ctx c;
    gr_keccak_init(&c);
    gr_keccak_update(&c, data, len);
    gr_keccak_final(&c, out);
}
