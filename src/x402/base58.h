/* base58.h — Base58 with the Bitcoin/Solana alphabet (no 0, O, I, l): how
 * Solana writes public keys (32 bytes), signatures (64 bytes) and keypairs.
 * Pure functions, no allocation, thread-safe. */
#ifndef GR_BASE58_H
#define GR_BASE58_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest text of a 64-byte value (a signature or keypair), plus NUL. */
#define GR_BASE58_MAX_64 90

/* Decodes `text` (len bytes, no NUL needed) into exactly `want` bytes.
 * false: a character outside the alphabet, or a value that is not exactly
 * `want` bytes long (leading '1's count as zero bytes). */
bool gr_base58_decode(const char *text, size_t len, uint8_t *out, size_t want);

/* Encodes `len` (<= 64) bytes into `out` (NUL-terminated); `cap` must hold
 * the text: GR_BASE58_MAX_64 always suffices. false if it does not fit. */
bool gr_base58_encode(const uint8_t *in, size_t len, char *out, size_t cap);

#endif
