/* pay_svm.h — x402 `exact` on Solana on the request path: the Solana
 * entries of `x402.networks[]` (typed and validated at load), their offers in
 * a 402 (v1 names `solana`, `solana-devnet`, `solana-testnet`; v2 CAIP-2
 * `solana:<genesis hash>`; extra.feePayer = the gateway's fee payer), and
 * admission of a payment: local verification (svm_verify.h), the replay
 * guard (the payer's transaction signature, spent once in the payment
 * store), then settlement BEFORE serving (svm_settle.h: the fee payer signs,
 * the transaction is sent and confirmed within confirm_timeout_ms). Nothing
 * is served unless the transfer is confirmed on chain. The x402 feature
 * calls in at five places: config and shutdown (pay_x402_config.c), the 402
 * offer (pay_x402_quote.c), admission (pay_x402_admit.c) and discovery
 * (pay_x402_serve.c). */
#ifndef GR_PAY_SVM_H
#define GR_PAY_SVM_H

#include "common.h"
#include "request.h"
#include "x402_store.h"

#include <cjson/cJSON.h>

typedef struct gr_pay_svm gr_pay_svm;

/* Whether an `x402.networks[]` entry names a Solana network. */
bool gr_pay_svm_is_entry(const cJSON *entry);

/* Reads every Solana entry of `networks`. NULL with err[0] == 0: none; NULL
 * with err set: invalid. self_settle: the section's `settle` is self (the
 * only mode Solana supports). serve: start the settlement pool (false:
 * --check-config, validation only). */
gr_pay_svm *gr_pay_svm_new(const cJSON *networks, bool self_settle, bool serve, char *err, size_t errlen);
void gr_pay_svm_shutdown(gr_pay_svm *s); /* NULL-safe: the pool drains */
void gr_pay_svm_free(gr_pay_svm *s);     /* NULL-safe */

/* Appends one PaymentRequirements per Solana network (v1: those with a v1
 * name) asking quote_nusd, to `accepts`. */
void gr_pay_svm_add_accepts(const gr_pay_svm *s, cJSON *accepts, int version, int64_t quote_nusd,
                            const char *resource, const char *desc);
/* How many Solana offers a v1 / v2 402 has. */
size_t gr_pay_svm_offers(const gr_pay_svm *s, int version);

/* Appends what GET /v1/x402/pricing and /.well-known/x402 say of each
 * Solana network (no amount: the quote depends on the request). */
void gr_pay_svm_describe(const gr_pay_svm *s, cJSON *accepts);

/* Whether a payment header (base64 JSON) pays on a Solana network. */
bool gr_pay_svm_claims(const char *header_b64);

/* What admission needs from pay_x402.c. */
typedef struct gr_pay_svm_admission {
    int version;               /* 1: X-PAYMENT, 2: PAYMENT-SIGNATURE */
    int64_t max_cost_nusd;     /* the quote */
    int64_t max_out;           /* output-token cap of the quote */
    gr_x402_store *store;      /* the replay guard */
    /* answers 402 with the offer and this reason (the settlement header is set already) */
    void (*reject)(gr_request *r, const char *code);
    /* paid and confirmed: serve */
    void (*admitted)(gr_request *r);
} gr_pay_svm_admission;

/* Verifies, guards against replay, settles, then calls a->reject or
 * a->admitted (later, on r's loop) — or answers 503 itself when the store or
 * the settlement pool is unavailable. */
void gr_pay_svm_admit(gr_request *r, gr_pay_svm *s, const gr_pay_svm_admission *a, const char *header_b64);

#endif
