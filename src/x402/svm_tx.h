/* svm_tx.h — the Solana transaction wire format, parsed without allocation:
 * compact-u16 signature array, the message (legacy, or v0 with its version
 * prefix) — header, static account keys, recent blockhash, compiled
 * instructions, v0 address-table lookups — as offsets into a private copy of
 * the bytes. Plus the two things a fee payer does with it: the message bytes
 * that signatures cover, and putting a signature into its slot.
 *
 * Limits: a transaction is at most GR_SVM_TX_MAX bytes (Solana's packet
 * size), so every count below is bounded by the bytes present. Trailing
 * bytes, out-of-range indices and truncated arrays are parse errors. */
#ifndef GR_SVM_TX_H
#define GR_SVM_TX_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GR_SVM_TX_MAX 1232    /* bytes: the network's packet data limit */
#define GR_SVM_KEY_LEN 32
#define GR_SVM_SIG_LEN 64
#define GR_SVM_MAX_KEYS 64    /* static account keys (1232 / 32 bounds it to 38 anyway) */
#define GR_SVM_MAX_IX 32      /* instructions */

typedef struct gr_svm_ix {
    uint8_t program;          /* index into the account keys */
    size_t acc_off, nacc;     /* account indices: raw[acc_off .. acc_off + nacc) */
    size_t data_off, ndata;   /* instruction data: raw[data_off .. data_off + ndata) */
} gr_svm_ix;

typedef struct gr_svm_tx {
    uint8_t raw[GR_SVM_TX_MAX];
    size_t raw_len;
    size_t nsigs, sigs_off;   /* signature i: raw[sigs_off + 64 i ..] */
    size_t msg_off;           /* the signed message: raw[msg_off .. raw_len) */
    bool versioned;           /* v0 message (prefix 0x80) */
    uint8_t num_required_sigs, num_readonly_signed, num_readonly_unsigned;
    size_t nkeys, keys_off;   /* key i: raw[keys_off + 32 i ..]; key 0 is the fee payer */
    size_t blockhash_off;
    size_t nix;
    gr_svm_ix ix[GR_SVM_MAX_IX];
    size_t nlookups;          /* v0 address-table lookups (their accounts cannot be resolved offline) */
} gr_svm_tx;

/* Parses `len` bytes. GR_ERR_TOO_LARGE above GR_SVM_TX_MAX, GR_ERR_PARSE on a
 * malformed or truncated transaction, GR_ERR_UNSUPPORTED for a message
 * version other than legacy and v0. */
GR_MUST_CHECK gr_status gr_svm_tx_parse(const uint8_t *bytes, size_t len, gr_svm_tx *tx);

/* Decodes the standard base64 text of a transaction, then parses it. */
GR_MUST_CHECK gr_status gr_svm_tx_parse_b64(gr_str b64, gr_svm_tx *tx);

static inline const uint8_t *gr_svm_key_at(const gr_svm_tx *tx, size_t i) { return tx->raw + tx->keys_off + 32 * i; }
static inline const uint8_t *gr_svm_sig_at(const gr_svm_tx *tx, size_t i) { return tx->raw + tx->sigs_off + 64 * i; }
static inline const uint8_t *gr_svm_msg(const gr_svm_tx *tx) { return tx->raw + tx->msg_off; }
static inline size_t gr_svm_msg_len(const gr_svm_tx *tx) { return tx->raw_len - tx->msg_off; }
static inline const uint8_t *gr_svm_ix_data(const gr_svm_tx *tx, const gr_svm_ix *ix) { return tx->raw + ix->data_off; }
/* The key index of account `k` of instruction `ix` (k < ix->nacc). */
static inline uint8_t gr_svm_ix_acc(const gr_svm_tx *tx, const gr_svm_ix *ix, size_t k) { return tx->raw[ix->acc_off + k]; }

/* Index of `key` among the signers (the first num_required_sigs keys), or -1. */
int gr_svm_signer_index(const gr_svm_tx *tx, const uint8_t key[GR_SVM_KEY_LEN]);

/* Writes `sig` into signature slot `i` (< nsigs) of the wire bytes. */
void gr_svm_tx_set_sig(gr_svm_tx *tx, size_t i, const uint8_t sig[GR_SVM_SIG_LEN]);

#endif
