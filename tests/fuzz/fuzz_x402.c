/* fuzz_x402.c — the x402 payment header decoder and verifier:
 * gr_x402_payment_decode (base64 -> JSON -> typed payment) then gr_x402_verify
 * against two offered requirements (a decoy on chain 1 and the one matching
 * case 0 of tests/fixtures/x402/viem_vectors.json, so a valid seed reaches
 * signer recovery and verifies).
 * Input: when it starts with '{' it is JSON and is base64-encoded first (so
 * the fuzzer mutates the JSON layer efficiently); otherwise it is the raw
 * header value (exercising the base64 layer).
 * Invariants: decode fails <=> err != OK; verify returns GR_OK <=> result.err
 * is OK, and then req_index < n, the payer is authorization.from and the
 * amount is the authorization's value. */
#include "fuzz.h"
#include "x402.h"

#define NOW 1740672099ULL

static void addr(const char *s, gr_evm_address *a) {
    GR_FUZZ_ASSERT(gr_evm_address_parse(gr_str_c(s), false, a) == GR_OK);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *b64 = NULL;
    gr_str hdr;
    if (size && data[0] == '{') {
        b64 = gr_evm_b64_encode(data, size, NULL);
        GR_FUZZ_ASSERT(b64);
        hdr = gr_str_c(b64);
    } else {
        hdr = (gr_str){(const char *)data, size};
    }
    gr_x402_payment p;
    gr_x402_err err = GR_X402_OK;
    gr_status rc = gr_x402_payment_decode(hdr, &p, &err);
    if (rc != GR_OK) {
        GR_FUZZ_ASSERT(err != GR_X402_OK);
        GR_FUZZ_ASSERT(gr_x402_err_str(err, 1) && gr_x402_err_str(err, 2));
        free(b64);
        return 0;
    }
    GR_FUZZ_ASSERT(err == GR_X402_OK);
    GR_FUZZ_ASSERT(p.version == 1 || p.version == 2);
    GR_FUZZ_ASSERT(memchr(p.scheme, '\0', sizeof p.scheme) != NULL);

    gr_x402_requirements r[2];
    for (int i = 0; i < 2; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].scheme = "exact";
        r[i].resource = "https://api.example.com/v1/chat/completions";
        r[i].max_timeout_seconds = 60;
        r[i].extra_name = "USD Coin";
        r[i].extra_version = "2";
        addr("0x036cbd53842c5426634e7929541ec2318f00dcf7", &r[i].asset);
        addr("0x209693Bc6afc0C5328bA36FaF03C514EF312287C", &r[i].pay_to);
        GR_FUZZ_ASSERT(gr_u256_from_dec(gr_str_c("10000"), &r[i].amount) == GR_OK);
    }
    r[0].chain_id = 1;
    r[1].chain_id = 84532;
    gr_x402_result res;
    memset(&res, 0, sizeof res);
    rc = gr_x402_verify(r, 2, &p, NOW, &res);
    GR_FUZZ_ASSERT((rc == GR_OK) == (res.err == GR_X402_OK));
    if (rc == GR_OK) {
        GR_FUZZ_ASSERT(res.req_index < 2);
        GR_FUZZ_ASSERT(gr_evm_address_eq(&res.payer, &p.auth.from));
        GR_FUZZ_ASSERT(gr_u256_eq(&res.amount, &p.auth.value));
        GR_FUZZ_ASSERT(gr_u256_cmp(&p.auth.value, &r[res.req_index].amount) >= 0);
    }
    /* also with no candidates and at a time far in the future */
    rc = gr_x402_verify(r, 1, &p, UINT64_MAX - 1, &res);
    GR_FUZZ_ASSERT((rc == GR_OK) == (res.err == GR_X402_OK));
    free(b64);
    return 0;
}
