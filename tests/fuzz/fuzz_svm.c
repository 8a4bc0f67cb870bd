/* fuzz_svm.c — the Solana transaction parser and the x402 `exact` SVM
 * checks: gr_svm_tx_parse on the raw wire bytes, then gr_svm_verify against
 * the offer of tests/unit/test_svm.c's vector (so the seed, a transaction
 * built by the official libraries, reaches the signature check and
 * verifies), then the fee payer's signature and a re-parse.
 * Invariants: a parsed transaction's every index is in range (signatures,
 * keys, instruction programs and static accounts); verify returns GR_OK <=>
 * no reason, and then the payer is a required signer other than the fee
 * payer; the signed transaction parses again to the same shape and still
 * verifies. */
#include "fuzz.h"
#include "base58.h"
#include "svm_verify.h"

#include <sodium.h>

static void key(const char *b58, uint8_t out[32]) { GR_FUZZ_ASSERT(gr_base58_decode(b58, strlen(b58), out, 32)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static gr_svm_tx tx, again;
    if (gr_svm_tx_parse(data, size, &tx) != GR_OK) return 0;
    GR_FUZZ_ASSERT(tx.nsigs == tx.num_required_sigs && tx.nsigs >= 1 && tx.nkeys >= tx.nsigs);
    GR_FUZZ_ASSERT(tx.sigs_off + 64 * tx.nsigs <= tx.msg_off && tx.keys_off + 32 * tx.nkeys <= tx.raw_len);
    for (size_t i = 0; i < tx.nix; i++) {
        GR_FUZZ_ASSERT(tx.ix[i].program > 0 && tx.ix[i].program < tx.nkeys);
        GR_FUZZ_ASSERT(tx.ix[i].data_off + tx.ix[i].ndata <= tx.raw_len && tx.ix[i].acc_off + tx.ix[i].nacc <= tx.raw_len);
    }
    gr_svm_offer o = {.amount = 12345, .decimals = 6, .max_cu_price = 5000000, .max_cu_limit = 200000};
    key("EdmxWPmx2WH6WgFfTdu9xfkYf3k1g5wD1zccTVySEEh1", o.mint);
    key("GyGKxMyg1p9SsHfm15MkNUu1u9TN2JtTspcdmrtGUdse", o.pay_to);
    key("9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu", o.fee_payer);
    gr_svm_verdict v;
    gr_status rc = gr_svm_verify(&o, &tx, &v);
    GR_FUZZ_ASSERT((rc == GR_OK) == (v.reason == NULL));
    if (rc != GR_OK) return 0;
    int si = gr_svm_signer_index(&tx, v.payer);
    GR_FUZZ_ASSERT(si > 0);
    uint8_t seed[32], pub[32], secret[64];
    memset(seed, 2, sizeof seed); /* the vector's fee payer */
    GR_FUZZ_ASSERT(crypto_sign_seed_keypair(pub, secret, seed) == 0);
    char *b64 = NULL, id[GR_BASE58_MAX_64];
    GR_FUZZ_ASSERT(gr_svm_sign_fee_payer(&tx, secret, &b64, id) == GR_OK);
    GR_FUZZ_ASSERT(gr_svm_tx_parse_b64(gr_str_c(b64), &again) == GR_OK);
    GR_FUZZ_ASSERT(again.raw_len == tx.raw_len && memcmp(again.raw, tx.raw, tx.raw_len) == 0);
    GR_FUZZ_ASSERT(gr_svm_verify(&o, &again, &v) == GR_OK);
    free(b64);
    return 0;
}
