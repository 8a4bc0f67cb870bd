/* test_svm.c — x402 `exact` on Solana, pure parts: base58, the transaction
 * wire format (svm_tx.c) and the scheme's checks (svm_verify.c) against a v0
 * transaction built and partially signed by the official libraries
 * (tests/unit/vectors/svm_vectors.mjs prints these vectors), each rejection
 * reached by changing one thing; associated-token-account addresses (bumps
 * below 255 exercise the curve test); the fee payer's signature; every
 * truncation of the transaction is refused without a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "base58.h"
#include "evm.h"
#include "svm_tx.h"
#include "svm_verify.h"

#define V_PAYER "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9"
#define V_FEE_PAYER "9hSR6S7WPtxmTojgo6GG3k4yDPecgJY292j7xrsUGWBu"
#define V_PAY_TO "GyGKxMyg1p9SsHfm15MkNUu1u9TN2JtTspcdmrtGUdse"
#define V_MINT "EdmxWPmx2WH6WgFfTdu9xfkYf3k1g5wD1zccTVySEEh1"
#define V_DEST_ATA "BW6GAT1EsPR5sPEzLefSBhGSbfpkJmGG1M9ShhQZnQMn" /* bump 252 */
#define V_MEMO "00112233445566778899aabbccddeeff"
#define V_TX                                                                                                           \
    "AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABSbNQTy1uxSTpeB9Tw5CS/"     \
    "nbyWOK+tyQHP8rgEPUWhEeDiNgHymlUDlxh2OXaoo7QUUc4UcYh0zM+jmgnWtuINgAIBBAiBOXcOqH0XX1ajVGbDTH7My42KkbTuN6Jd9g9bj8mz" \
    "lIqI4910CfGV/VLbLTy6XXLKZwm/HZQSG/N0iAG0D29cjCTATLAkL3lyAPIEDtu8U0D/478RpzaJE0jL2WpyHumcCKlumQFtwXOuMOt8bXAll0Hm" \
    "hb8SfKNj2jr/t55mWQMGRm/lIRcy/+ytunLDm+e8jOW7xfcSayxDmzpAAAAAypOsFwUYcHHWe4PH/w7+gQjo7EUwV113JoeTM9vavnwFSlNamSkh" \
    "Bk0k6HFg2jh8fDW13bySu4HkH6hAQQVEjQbd9uHXZaGT2cvhRs7reawctIXtX1s3kTqM9YV+/wCpAqBncqpx3HsaFkjufJ1cpFRZwCKy9EpCAAAA" \
    "AAAAAAAEBAAFAiBOAAAEAAkDAQAAAAAAAAAHBAIFAwEKDDkwAAAAAAAABgYAIDAwMTEyMjMzNDQ1NTY2Nzc4ODk5YWFiYmNjZGRlZWZmAA=="

static void key(const char *b58, uint8_t out[32]) { assert_true(gr_base58_decode(b58, strlen(b58), out, 32)); }

static gr_svm_offer offer(void) {
    gr_svm_offer o = {.amount = 12345, .decimals = 6, .max_cu_price = 5000000, .max_cu_limit = 200000};
    key(V_MINT, o.mint);
    key(V_PAY_TO, o.pay_to);
    key(V_FEE_PAYER, o.fee_payer);
    return o;
}

static gr_svm_tx *vector_tx(void) {
    gr_svm_tx *tx = malloc(sizeof *tx);
    assert_int_equal(gr_svm_tx_parse_b64(gr_str_c(V_TX), tx), GR_OK);
    return tx;
}

static void expect(const gr_svm_offer *o, const gr_svm_tx *tx, const char *reason) {
    gr_svm_verdict v;
    gr_status rc = gr_svm_verify(o, tx, &v);
    if (!reason) {
        assert_int_equal(rc, GR_OK);
        assert_null(v.reason);
        return;
    }
    assert_int_equal(rc, GR_ERR_INVALID);
    assert_non_null(v.reason);
    assert_string_equal(v.reason, reason);
}

static void test_base58(void **state) {
    (void)state;
    uint8_t k[32], back[32];
    char s[GR_BASE58_MAX_64];
    key(V_PAYER, k);
    assert_true(gr_base58_encode(k, 32, s, sizeof s));
    assert_string_equal(s, V_PAYER);
    uint8_t z[32] = {0};
    assert_true(gr_base58_encode(z, 32, s, sizeof s));
    assert_string_equal(s, "11111111111111111111111111111111"); /* the system program */
    assert_true(gr_base58_decode(s, strlen(s), back, 32));
    assert_memory_equal(back, z, 32);
    assert_false(gr_base58_decode("0OIl", 4, back, 32));                      /* outside the alphabet */
    assert_false(gr_base58_decode(V_PAYER, strlen(V_PAYER) - 3, back, 32));    /* 30 bytes' worth */
    assert_false(gr_base58_decode("1" V_PAYER, strlen(V_PAYER) + 1, back, 32)); /* 33 bytes */
    assert_false(gr_base58_decode("", 0, back, 32));
}

static void test_parse(void **state) {
    (void)state;
    gr_svm_tx *tx = vector_tx();
    assert_true(tx->versioned);
    assert_int_equal(tx->nsigs, 2);
    assert_int_equal(tx->num_required_sigs, 2);
    assert_int_equal(tx->nix, 4);
    assert_int_equal(tx->nlookups, 0);
    uint8_t fp[32], payer[32];
    key(V_FEE_PAYER, fp);
    key(V_PAYER, payer);
    assert_memory_equal(gr_svm_key_at(tx, 0), fp, 32);
    assert_int_equal(gr_svm_signer_index(tx, payer), 1);
    /* every truncation and one trailing byte are refused */
    uint8_t *raw = malloc(tx->raw_len + 1);
    memcpy(raw, tx->raw, tx->raw_len);
    size_t len = tx->raw_len;
    gr_svm_tx *t2 = malloc(sizeof *t2);
    for (size_t n = 0; n < len; n++) assert_int_not_equal(gr_svm_tx_parse(raw, n, t2), GR_OK);
    raw[len] = 0;
    assert_int_equal(gr_svm_tx_parse(raw, len + 1, t2), GR_ERR_PARSE);
    /* a v1 message is not a format we know */
    raw[tx->msg_off] = 0x81;
    assert_int_equal(gr_svm_tx_parse(raw, len, t2), GR_ERR_UNSUPPORTED);
    uint8_t big[GR_SVM_TX_MAX + 1] = {0};
    assert_int_equal(gr_svm_tx_parse(big, sizeof big, t2), GR_ERR_TOO_LARGE);
    assert_int_equal(gr_svm_tx_parse_b64(gr_str_c("not base64!"), t2), GR_ERR_PARSE);
    free(raw);
    free(t2);
    free(tx);
}

static void test_verify_valid(void **state) {
    (void)state;
    gr_svm_tx *tx = vector_tx();
    gr_svm_offer o = offer();
    gr_svm_verdict v;
    assert_int_equal(gr_svm_verify(&o, tx, &v), GR_OK);
    uint8_t payer[32];
    key(V_PAYER, payer);
    assert_true(v.has_payer);
    assert_memory_equal(v.payer, payer, 32);
    assert_memory_equal(v.payer_sig, gr_svm_sig_at(tx, 1), 64);
    assert_int_equal(v.cu_limit, 20000);
    assert_int_equal(v.cu_price, 1);
    o.memo = V_MEMO; /* the seller's memo, when offered, must be the one memo */
    expect(&o, tx, NULL);
    o.memo = "pi_other";
    expect(&o, tx, "invalid_exact_svm_payload_memo_mismatch");
    free(tx);
}

static void test_verify_offer_mismatch(void **state) {
    (void)state;
    gr_svm_tx *tx = vector_tx();
    gr_svm_offer o = offer();
    o.amount = 12346;
    expect(&o, tx, "invalid_exact_svm_payload_amount_mismatch");
    o = offer();
    o.amount = 12344;
    expect(&o, tx, "invalid_exact_svm_payload_amount_mismatch");
    o = offer();
    key(V_PAYER, o.mint);
    expect(&o, tx, "invalid_exact_svm_payload_mint_mismatch");
    o = offer();
    key(V_PAYER, o.pay_to);
    expect(&o, tx, "invalid_exact_svm_payload_recipient_mismatch");
    o = offer();
    key(V_PAY_TO, o.fee_payer);
    expect(&o, tx, "invalid_exact_svm_payload_fee_payer_mismatch");
    o = offer();
    o.max_cu_price = 0;
    expect(&o, tx, "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high");
    o = offer();
    o.max_cu_limit = 19999;
    expect(&o, tx, "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high");
    o = offer();
    o.decimals = 9;
    expect(&o, tx, "invalid_exact_svm_payload_decimals_mismatch");
    free(tx);
}

/* One byte of the vector changed, then checked again. */
static void test_verify_tampered(void **state) {
    (void)state;
    gr_svm_offer o = offer();
    gr_svm_tx *tx = vector_tx();
    tx->raw[tx->sigs_off + 64 + 5] ^= 1; /* the payer's signature */
    expect(&o, tx, "invalid_exact_svm_payload_signature");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[3].data_off] ^= 1; /* the memo text: the message no longer matches its signature */
    expect(&o, tx, "invalid_exact_svm_payload_signature");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[0].data_off] = 3; /* compute-unit limit instruction with the price discriminator */
    expect(&o, tx, "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[1].data_off] = 2;
    expect(&o, tx, "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[2].data_off] = 3; /* Transfer, not TransferChecked */
    expect(&o, tx, "invalid_exact_svm_payload_no_transfer_instruction");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[2].acc_off + 3] = 0; /* authority = the fee payer */
    expect(&o, tx, "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[2].acc_off + 0] = 0; /* source = the fee payer */
    expect(&o, tx, "invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts");
    free(tx);
    tx = vector_tx();
    tx->raw[tx->ix[3].acc_off - 1] = tx->ix[2].program; /* 4th instruction: another token instruction */
    tx->ix[3].program = tx->ix[2].program;
    expect(&o, tx, "invalid_exact_svm_payload_unknown_fourth_instruction");
    free(tx);
}

/* A v0 address-table lookup: its accounts cannot be checked offline. */
static void test_verify_lookup_refused(void **state) {
    (void)state;
    gr_svm_tx *tx = vector_tx();
    size_t len = tx->raw_len;
    uint8_t *raw = calloc(1, len + 34);
    memcpy(raw, tx->raw, len);
    raw[len - 1] = 1; /* one lookup: table key, no writable, no readonly indexes */
    gr_svm_tx *t2 = malloc(sizeof *t2);
    assert_int_equal(gr_svm_tx_parse(raw, len + 34, t2), GR_OK);
    assert_int_equal(t2->nlookups, 1);
    gr_svm_offer o = offer();
    expect(&o, t2, "invalid_exact_svm_payload_transaction_could_not_be_decoded");
    free(raw);
    free(t2);
    free(tx);
}

static void test_ata(void **state) {
    (void)state;
    static const char *const v[][2] = {
        {V_PAY_TO, V_DEST_ATA},
        {"AKkzLhjhyFtM9j7WAhbaqYpFe49cXeJBg2kzLRC2PnNa", "HSykyKh1WFyxzjU3wrJ296kXMJBJcyRwNJiNZef3JPTR"},
        {"J2xccRtuG43drESLYznHhLhQkLTdfepcKYbiQ9BsJVaf", "Ch85ZbL4pGZ1Jof9rk823mYWFBFth6rdhFksgBiu8QRW"},
        {"7v54NWdBtkjuAFJrLGsS2SXnuk8nKam81mZJeeYxVFi9", "8btbevLf5uSVYp2yLXH8ZGSwFDg17nYB6EPPiY7XWRFt"},
    };
    uint8_t mint[32], prog[32], owner[32], want[32], got[32];
    key(V_MINT, mint);
    key(GR_SVM_TOKEN_PROGRAM, prog);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        key(v[i][0], owner);
        key(v[i][1], want);
        assert_true(gr_svm_ata(owner, mint, prog, got));
        assert_memory_equal(got, want, 32);
    }
    /* wallet keys are curve points; the derived addresses are not */
    assert_true(gr_svm_on_curve(owner));
    assert_false(gr_svm_on_curve(want));
}

static void test_fee_payer_sign(void **state) {
    (void)state;
    uint8_t seed[32], secret[64], pub[32], fp[32];
    memset(seed, 2, sizeof seed); /* the vector's fee payer */
    char text[GR_BASE58_MAX_64], id[GR_BASE58_MAX_64];
    assert_true(gr_base58_encode(seed, 32, text, sizeof text));
    assert_true(gr_svm_keypair_parse(text, secret, pub));
    key(V_FEE_PAYER, fp);
    assert_memory_equal(pub, fp, 32);
    assert_true(gr_base58_encode(secret, 64, text, sizeof text)); /* the 64-byte keypair form */
    assert_true(gr_svm_keypair_parse(text, secret, pub));
    secret[40] ^= 1; /* halves that do not match */
    assert_true(gr_base58_encode(secret, 64, text, sizeof text));
    assert_false(gr_svm_keypair_parse(text, secret, pub));
    assert_false(gr_svm_keypair_parse("not-base58", secret, pub));
    memset(seed, 2, sizeof seed);
    assert_int_equal(crypto_sign_seed_keypair(pub, secret, seed), 0);
    gr_svm_tx *tx = vector_tx();
    char *b64 = NULL;
    assert_int_equal(gr_svm_sign_fee_payer(tx, secret, &b64, id), GR_OK);
    assert_int_equal(crypto_sign_verify_detached(gr_svm_sig_at(tx, 0), gr_svm_msg(tx), gr_svm_msg_len(tx), fp), 0);
    uint8_t sig[64];
    assert_true(gr_base58_decode(id, strlen(id), sig, 64));
    assert_memory_equal(sig, gr_svm_sig_at(tx, 0), 64);
    gr_svm_tx *t2 = malloc(sizeof *t2); /* the signed wire form parses and still verifies */
    assert_int_equal(gr_svm_tx_parse_b64(gr_str_c(b64), t2), GR_OK);
    gr_svm_offer o = offer();
    expect(&o, t2, NULL);
    free(b64);
    free(t2);
    free(tx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base58),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_verify_valid),
        cmocka_unit_test(test_verify_offer_mismatch),
        cmocka_unit_test(test_verify_tampered),
        cmocka_unit_test(test_verify_lookup_refused),
        cmocka_unit_test(test_ata),
        cmocka_unit_test(test_fee_payer_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
