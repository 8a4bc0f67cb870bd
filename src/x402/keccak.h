/* keccak.h — Keccak-256 as used by Ethereum (original Keccak padding 0x01,
 * not FIPS-202 SHA3's 0x06). Rate 136 bytes, capacity 512 bits, 32-byte
 * output.
 *
 * Life cycle: a gr_keccak_ctx lives on the caller's stack; init, update any
 * number of times, final once (final leaves the context wiped; init again to
 * reuse). No allocation, no global state: safe from any thread. */
#ifndef GR_KECCAK_H
#define GR_KECCAK_H

#include <stddef.h>
#include <stdint.h>

#define GR_KECCAK256_LEN 32
#define GR_KECCAK256_RATE 136

typedef struct gr_keccak_ctx {
    uint64_t st[25];  /* lane (x, y) at index x + 5*y, little-endian bytes */
    size_t pos;       /* bytes absorbed into the current block, < RATE */
} gr_keccak_ctx;

void gr_keccak_init(gr_keccak_ctx *c);
void gr_keccak_update(gr_keccak_ctx *c, const void *data, size_t len);
void gr_keccak_final(gr_keccak_ctx *c, uint8_t out[GR_KECCAK256_LEN]);

/* One-shot: out = keccak256(data[0..len)). */
void gr_keccak256(const void *data, size_t len, uint8_t out[GR_KECCAK256_LEN]);

/* The bare permutation keccak-f[1600], exposed for tests. */
void gr_keccak_f1600(uint64_t st[25]);

#endif
