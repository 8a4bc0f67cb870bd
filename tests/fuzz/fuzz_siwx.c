/* fuzz_siwx.c — the sign-in-with-x header verifier (x402_siwx.c):
 * gr_x402_siwx_verify (base64 -> JSON -> field checks -> EIP-4361 message ->
 * EIP-191 recovery) against a fixed expectation (api.example.com, chains
 * 84532 and 8453, a clock one minute after the seed's issuedAt, so the viem
 * seed verifies), and gr_x402_siwx_message on the decoded JSON.
 * Input: when it starts with '{' it is JSON and is base64-encoded first;
 * otherwise it is the raw header value (the base64 layer).
 * Invariants: an accepted sign-in has a nonce of 8..64 alphanumerics, one of
 * the expected chains and an expiry after now; every outcome has a code. */
#include "fuzz.h"
#include "x402_siwx.h"

#include <ctype.h>

static const uint64_t CHAINS[] = {84532, 8453};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *hdr = NULL;
    if (size && data[0] == '{') {
        hdr = gr_evm_b64_encode(data, size, NULL);
        GR_FUZZ_ASSERT(hdr);
        cJSON *o = cJSON_ParseWithLength((const char *)data, size);
        char *m = o ? gr_x402_siwx_message(o) : NULL;
        if (m) GR_FUZZ_ASSERT(strstr(m, " wants you to sign in with your Ethereum account:\n"));
        free(m);
        cJSON_Delete(o);
    } else {
        hdr = gr_fuzz_cstr(data, size);
    }
    gr_x402_siwx_expect e = {.domain = "api.example.com",
                             .uri = "https://api.example.com/premium-data",
                             .chain_ids = CHAINS,
                             .nchains = 2,
                             .now_ms = 1705314660000LL,
                             .max_age_ms = 300000};
    gr_x402_siwx_proof pr;
    gr_x402_siwx_err rc = gr_x402_siwx_verify(hdr, &e, &pr);
    GR_FUZZ_ASSERT(gr_x402_siwx_err_str(rc) != NULL);
    if (rc == GR_SIWX_OK) {
        size_t n = strlen(pr.nonce);
        GR_FUZZ_ASSERT(n >= GR_X402_SIWX_NONCE_MIN && n <= GR_X402_SIWX_NONCE_MAX);
        for (size_t i = 0; i < n; i++) GR_FUZZ_ASSERT(isalnum((unsigned char)pr.nonce[i]));
        GR_FUZZ_ASSERT(pr.chain_id == 84532 || pr.chain_id == 8453);
        GR_FUZZ_ASSERT(pr.expires_s * 1000 > e.now_ms);
    }
    free(hdr);
    return 0;
}
