/* svm_verify.c — local verification of an x402 `exact` Solana payment, the
 * fee payer's signature, and associated-token-account derivation (see
 * svm_verify.h). ed25519 and SHA-256 from libsodium; the curve-membership
 * test of a program-derived address with OpenSSL's BIGNUM (libsodium has no
 * "decompresses at all" predicate: its point checks also demand the prime
 * subgroup, which 7 in 8 curve points are not in). */
#include "svm_verify.h"

#include "base58.h"
#include "evm.h"

#include <openssl/bn.h>
#include <sodium.h>
#include <string.h>

#define IX_SET_CU_LIMIT 2
#define IX_SET_CU_PRICE 3
#define IX_TRANSFER_CHECKED 12
#define MIN_IX 3
#define MAX_IX 6

static bool key_is(const uint8_t key[GR_SVM_KEY_LEN], const char *b58) {
    uint8_t k[GR_SVM_KEY_LEN];
    return gr_base58_decode(b58, strlen(b58), k, sizeof k) && memcmp(k, key, sizeof k) == 0;
}

static const uint8_t *program_of(const gr_svm_tx *tx, const gr_svm_ix *ix) { return gr_svm_key_at(tx, ix->program); }

static uint64_t le64(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = v << 8 | p[i];
    return v;
}

static gr_status fail(gr_svm_verdict *v, const char *reason) {
    v->reason = reason;
    return GR_ERR_INVALID;
}

/* The compute-budget instruction `want` (limit or price) with its value. */
static bool compute_budget(const gr_svm_tx *tx, const gr_svm_ix *ix, uint8_t want, uint64_t *value) {
    size_t n = want == IX_SET_CU_LIMIT ? 5 : 9;
    if (!key_is(program_of(tx, ix), GR_SVM_COMPUTE_BUDGET_PROGRAM) || ix->ndata != n || ix->nacc != 0) return false;
    const uint8_t *d = gr_svm_ix_data(tx, ix);
    if (d[0] != want) return false;
    *value = le64(d + 1, n - 1);
    return true;
}

static bool signatures_valid(const gr_svm_tx *tx) {
    for (size_t i = 1; i < tx->num_required_sigs; i++) /* slot 0 is the fee payer's, still empty */
        if (crypto_sign_verify_detached(gr_svm_sig_at(tx, i), gr_svm_msg(tx), gr_svm_msg_len(tx), gr_svm_key_at(tx, i)) != 0)
            return false;
    return true;
}

gr_status gr_svm_verify(const gr_svm_offer *o, const gr_svm_tx *tx, gr_svm_verdict *v) {
    memset(v, 0, sizeof *v);
    if (sodium_init() < 0) return fail(v, "unexpected_verify_error");
    if (tx->nlookups) /* accounts from lookup tables cannot be checked offline */
        return fail(v, "invalid_exact_svm_payload_transaction_could_not_be_decoded");
    if (tx->nix < MIN_IX || tx->nix > MAX_IX) return fail(v, "invalid_exact_svm_payload_transaction_instructions_length");
    if (!compute_budget(tx, &tx->ix[0], IX_SET_CU_LIMIT, &v->cu_limit))
        return fail(v, "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction");
    if (v->cu_limit > o->max_cu_limit)
        return fail(v, "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high");
    if (!compute_budget(tx, &tx->ix[1], IX_SET_CU_PRICE, &v->cu_price))
        return fail(v, "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction");
    if (v->cu_price > o->max_cu_price)
        return fail(v, "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high");
    /* TransferChecked: accounts [source, mint, destination, authority, ...], data [12, amount u64 LE, decimals] */
    const gr_svm_ix *t = &tx->ix[2];
    const uint8_t *prog = program_of(tx, t);
    bool spl = key_is(prog, GR_SVM_TOKEN_PROGRAM), t22 = !spl && key_is(prog, GR_SVM_TOKEN_2022_PROGRAM);
    const uint8_t *d = gr_svm_ix_data(tx, t);
    if ((!spl && !t22) || t->nacc < 4 || t->ndata != 10 || d[0] != IX_TRANSFER_CHECKED)
        return fail(v, "invalid_exact_svm_payload_no_transfer_instruction");
    const uint8_t *mint = gr_svm_key_at(tx, gr_svm_ix_acc(tx, t, 1)), *dest = gr_svm_key_at(tx, gr_svm_ix_acc(tx, t, 2));
    uint8_t authority_idx = gr_svm_ix_acc(tx, t, 3);
    memcpy(v->payer, gr_svm_key_at(tx, authority_idx), GR_SVM_KEY_LEN);
    v->has_payer = true;
    /* Fee-payer safety: it pays fees and nothing else. */
    if (memcmp(gr_svm_key_at(tx, 0), o->fee_payer, GR_SVM_KEY_LEN) != 0)
        return fail(v, "invalid_exact_svm_payload_fee_payer_mismatch");
    if (memcmp(v->payer, o->fee_payer, GR_SVM_KEY_LEN) == 0)
        return fail(v, "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds");
    for (size_t i = 0; i < tx->nix; i++)
        for (size_t k = 0; k < tx->ix[i].nacc; k++)
            if (gr_svm_ix_acc(tx, &tx->ix[i], k) == 0)
                return fail(v, "invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts");
    if (memcmp(mint, o->mint, GR_SVM_KEY_LEN) != 0) return fail(v, "invalid_exact_svm_payload_mint_mismatch");
    uint8_t ata[GR_SVM_KEY_LEN];
    if (!gr_svm_ata(o->pay_to, o->mint, prog, ata) || memcmp(ata, dest, GR_SVM_KEY_LEN) != 0)
        return fail(v, "invalid_exact_svm_payload_recipient_mismatch");
    if (le64(d + 1, 8) != o->amount) return fail(v, "invalid_exact_svm_payload_amount_mismatch");
    if (d[9] != o->decimals) return fail(v, "invalid_exact_svm_payload_decimals_mismatch");
    /* Only wallet protection (Lighthouse) and Memo after the transfer. */
    static const char *const unknown[] = {"invalid_exact_svm_payload_unknown_fourth_instruction",
                                          "invalid_exact_svm_payload_unknown_fifth_instruction",
                                          "invalid_exact_svm_payload_unknown_sixth_instruction"};
    size_t memos = 0;
    const gr_svm_ix *memo = NULL;
    for (size_t i = 3; i < tx->nix; i++) {
        const uint8_t *p = program_of(tx, &tx->ix[i]);
        if (key_is(p, GR_SVM_MEMO_PROGRAM)) {
            memos++;
            memo = &tx->ix[i];
        } else if (!key_is(p, GR_SVM_LIGHTHOUSE_PROGRAM)) {
            return fail(v, unknown[i - 3]);
        }
    }
    if (o->memo) {
        if (memos != 1) return fail(v, "invalid_exact_svm_payload_memo_count");
        size_t ml = strlen(o->memo);
        if (memo->ndata != ml || memcmp(gr_svm_ix_data(tx, memo), o->memo, ml) != 0)
            return fail(v, "invalid_exact_svm_payload_memo_mismatch");
    }
    /* The authority must have signed, and every client signature must hold. */
    int si = gr_svm_signer_index(tx, v->payer);
    if (si <= 0 || !signatures_valid(tx)) return fail(v, "invalid_exact_svm_payload_signature");
    memcpy(v->payer_sig, gr_svm_sig_at(tx, (size_t)si), GR_SVM_SIG_LEN);
    return GR_OK;
}

/* ---- program-derived addresses ---- */

/* y of a compressed point (low 255 bits, little-endian) decompresses iff
 * (y^2 - 1) / (d y^2 + 1) is a square mod p = 2^255 - 19 (or zero), with
 * d = -121665/121666 — the test curve25519-dalek's decompress() makes. */
bool gr_svm_on_curve(const uint8_t key[GR_SVM_KEY_LEN]) {
    uint8_t be[32];
    for (size_t i = 0; i < 32; i++) be[i] = key[31 - i];
    be[0] &= 0x7f; /* the sign bit of x */
    BN_CTX *ctx = BN_CTX_new();
    if (!ctx) return true; /* "on curve" = not a usable address: the caller tries the next bump */
    BN_CTX_start(ctx);
    BIGNUM *p = BN_CTX_get(ctx), *y = BN_CTX_get(ctx), *y2 = BN_CTX_get(ctx), *u = BN_CTX_get(ctx),
           *vv = BN_CTX_get(ctx), *dd = BN_CTX_get(ctx), *t = BN_CTX_get(ctx), *e = BN_CTX_get(ctx);
    bool on = true;
    if (!e) goto out;
    BN_zero(p);
    BN_set_bit(p, 255);
    BN_sub_word(p, 19);
    BN_bin2bn(be, 32, y);
    BN_nnmod(y, y, p, ctx);
    BN_mod_sqr(y2, y, p, ctx);
    BN_copy(u, y2);
    BN_sub_word(u, 1);
    BN_nnmod(u, u, p, ctx);                 /* u = y^2 - 1 */
    BN_set_word(t, 121666);
    BN_mod_inverse(t, t, p, ctx);
    BN_set_word(dd, 121665);
    BN_sub(dd, p, dd);
    BN_mod_mul(dd, dd, t, p, ctx);          /* d = -121665 / 121666 */
    BN_mod_mul(vv, dd, y2, p, ctx);
    BN_add_word(vv, 1);
    BN_nnmod(vv, vv, p, ctx);               /* v = d y^2 + 1 */
    if (BN_is_zero(u)) goto out;            /* x = 0: on the curve */
    if (BN_is_zero(vv)) {
        on = false;
        goto out;
    }
    BN_mod_inverse(t, vv, p, ctx);
    BN_mod_mul(t, u, t, p, ctx);            /* w = u / v */
    BN_copy(e, p);
    BN_sub_word(e, 1);
    BN_rshift1(e, e);                       /* (p - 1) / 2: Euler's criterion */
    BN_mod_exp(t, t, e, p, ctx);
    on = BN_is_one(t);
out:
    BN_CTX_end(ctx);
    BN_CTX_free(ctx);
    return on;
}

bool gr_svm_ata(const uint8_t owner[GR_SVM_KEY_LEN], const uint8_t mint[GR_SVM_KEY_LEN],
                const uint8_t token_program[GR_SVM_KEY_LEN], uint8_t out[GR_SVM_KEY_LEN]) {
    uint8_t ata_program[GR_SVM_KEY_LEN];
    static const char marker[] = "ProgramDerivedAddress";
    if (sodium_init() < 0 ||
        !gr_base58_decode(GR_SVM_ATA_PROGRAM, strlen(GR_SVM_ATA_PROGRAM), ata_program, sizeof ata_program))
        return false;
    for (int bump = 255; bump >= 0; bump--) { /* find_program_address: the first bump off the curve */
        uint8_t b = (uint8_t)bump;
        crypto_hash_sha256_state st;
        crypto_hash_sha256_init(&st);
        crypto_hash_sha256_update(&st, owner, GR_SVM_KEY_LEN);
        crypto_hash_sha256_update(&st, token_program, GR_SVM_KEY_LEN);
        crypto_hash_sha256_update(&st, mint, GR_SVM_KEY_LEN);
        crypto_hash_sha256_update(&st, &b, 1);
        crypto_hash_sha256_update(&st, ata_program, GR_SVM_KEY_LEN);
        crypto_hash_sha256_update(&st, (const uint8_t *)marker, sizeof marker - 1);
        crypto_hash_sha256_final(&st, out);
        if (!gr_svm_on_curve(out)) return true;
    }
    return false;
}

/* ---- the fee payer ---- */

bool gr_svm_keypair_parse(const char *text, uint8_t secret[64], uint8_t pub[GR_SVM_KEY_LEN]) {
    uint8_t kp[64];
    size_t len = text ? strlen(text) : 0;
    if (sodium_init() < 0) return false;
    bool ok = false;
    if (gr_base58_decode(text, len, kp, 64)) { /* seed || public key */
        ok = crypto_sign_seed_keypair(pub, secret, kp) == 0 && memcmp(pub, kp + 32, 32) == 0;
    } else if (gr_base58_decode(text, len, kp, 32)) {
        ok = crypto_sign_seed_keypair(pub, secret, kp) == 0;
    }
    sodium_memzero(kp, sizeof kp);
    return ok;
}

gr_status gr_svm_sign_fee_payer(gr_svm_tx *tx, const uint8_t secret[64], char **b64_out, char *id) {
    uint8_t sig[GR_SVM_SIG_LEN];
    *b64_out = NULL;
    if (sodium_init() < 0 || crypto_sign_detached(sig, NULL, gr_svm_msg(tx), gr_svm_msg_len(tx), secret) != 0)
        return GR_ERR_CRYPTO;
    gr_svm_tx_set_sig(tx, 0, sig);
    if (!gr_base58_encode(sig, sizeof sig, id, GR_BASE58_MAX_64)) return GR_ERR_CRYPTO;
    *b64_out = gr_evm_b64_encode(tx->raw, tx->raw_len, NULL);
    return GR_OK;
}
