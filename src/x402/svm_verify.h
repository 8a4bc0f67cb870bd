/* svm_verify.h — the x402 `exact` scheme on Solana (SVM), checked locally as
 * the scheme spec (specs/schemes/exact/scheme_exact_svm.md) tells a
 * facilitator: the instruction layout (compute-unit limit, compute-unit
 * price within bounds, one SPL Token / Token-2022 TransferChecked of the
 * offered mint and exact amount to payTo's associated token account, then
 * only Memo / Lighthouse instructions), fee-payer safety (the gateway's fee
 * payer signs only as fee payer: in no instruction's accounts, not the
 * transfer's authority), and every client signature valid (ed25519 over the
 * message, libsodium). Plus the fee payer's own signature for settlement and
 * the associated-token-account address (a program-derived address).
 *
 * Reason strings are the reference facilitator's (@x402/svm), so a client
 * sees the same codes whoever verifies; the gateway's stricter checks
 * (compute-unit limit cap, decimals, fee payer identity, signatures before
 * simulation) have codes in the same style. Pure, thread-safe. */
#ifndef GR_SVM_VERIFY_H
#define GR_SVM_VERIFY_H

#include "svm_tx.h"

#define GR_SVM_MAX_MEMO 256 /* bytes of extra.memo (the spec's limit) */

typedef struct gr_svm_offer {
    uint8_t mint[GR_SVM_KEY_LEN];
    uint8_t pay_to[GR_SVM_KEY_LEN];
    uint8_t fee_payer[GR_SVM_KEY_LEN];
    uint64_t amount;        /* atomic units; the transfer must equal it */
    uint8_t decimals;       /* the mint's decimals (TransferChecked carries them) */
    uint64_t max_cu_price;  /* micro-lamports per compute unit (reference: 5000000) */
    uint32_t max_cu_limit;  /* compute units the fee payer sponsors at most */
    const char *memo;       /* extra.memo, or NULL: then any Memo content is fine */
} gr_svm_offer;

typedef struct gr_svm_verdict {
    const char *reason;                    /* NULL when valid */
    bool has_payer;
    uint8_t payer[GR_SVM_KEY_LEN];         /* the transfer's authority (the client's wallet) */
    uint8_t payer_sig[GR_SVM_SIG_LEN];     /* its signature: unique per transaction (replay key) */
    uint64_t cu_limit, cu_price;
} gr_svm_verdict;

/* GR_OK: the transaction pays exactly the offer; GR_ERR_INVALID: v->reason
 * says why not (v->payer is set once the transfer was found). */
GR_MUST_CHECK gr_status gr_svm_verify(const gr_svm_offer *o, const gr_svm_tx *tx, gr_svm_verdict *v);

/* The associated token account of (owner, mint) under `token_program`
 * (SPL Token or Token-2022). false only if no bump seed gives an address off
 * the curve (never in practice). */
bool gr_svm_ata(const uint8_t owner[GR_SVM_KEY_LEN], const uint8_t mint[GR_SVM_KEY_LEN],
                const uint8_t token_program[GR_SVM_KEY_LEN], uint8_t out[GR_SVM_KEY_LEN]);

/* Whether 32 bytes decompress to a point of the ed25519 curve (program-
 * derived addresses are exactly the ones that do not). */
bool gr_svm_on_curve(const uint8_t key[GR_SVM_KEY_LEN]);

/* A fee payer key from config: base58 of the 64-byte keypair (secret seed ||
 * public key, as `solana-keygen` and wallets export it) or of the 32-byte
 * seed. Fills the 64-byte libsodium secret key and the public key; false on
 * bad text or a keypair whose halves do not match. */
bool gr_svm_keypair_parse(const char *text, uint8_t secret[64], uint8_t pub[GR_SVM_KEY_LEN]);

/* Signs the message as the fee payer (signature slot 0) and writes the
 * complete transaction's base64 (malloc'd) and its id — the fee payer's
 * signature in base58 — into id (GR_BASE58_MAX_64 bytes). */
GR_MUST_CHECK gr_status gr_svm_sign_fee_payer(gr_svm_tx *tx, const uint8_t secret[64], char **b64_out, char *id);

/* The well-known program ids (base58). */
#define GR_SVM_TOKEN_PROGRAM "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
#define GR_SVM_TOKEN_2022_PROGRAM "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
#define GR_SVM_COMPUTE_BUDGET_PROGRAM "ComputeBudget111111111111111111111111111111"
#define GR_SVM_MEMO_PROGRAM "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
#define GR_SVM_LIGHTHOUSE_PROGRAM "L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95"
#define GR_SVM_ATA_PROGRAM "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"

#endif
