/* pay_x402.h — x402 payments on the request path (the glue between the
 * HTTP pipeline and the pure x402/EIP-712 modules).
 *
 * Registered handlers (gr_pay_x402_register, pipeline.h), for one request:
 *   AUTHENTICATE  when x402 is enabled and the request carries a payment
 *                 header (X-PAYMENT / PAYMENT-SIGNATURE) or no credential at
 *                 all: paid per request, no API key needed.
 *   ADMIT         after routing (the model and prices are known): without a
 *                 payment, answers 402 with the quote; with one, verifies it
 *                 (locally), reserves the nonce, and may cap generation
 *                 (r->cap_max_tokens) to what was paid. Store calls run on
 *                 the store executor (gr_request_store_job); the pipeline
 *                 continues once admitted. Then, with Redis, the nonce is
 *                 claimed cluster-wide (a replay elsewhere is a 402).
 *   reply hook    just before the response status goes out: the
 *                 settlement/receipt headers.
 *   finish (GR_FINISH_LEDGER_FILL) actual cost -> settlement and credit;
 *                 the x402 fields of the ledger row.
 * Per-request state lives in this module's context slot (request pool).
 * The process-wide state (gr_pay_x402) hangs off gr_services; NULL = disabled. */
#ifndef GR_PAY_X402_H
#define GR_PAY_X402_H

#include "common.h"
#include "config.h"

#include <stdio.h>

typedef struct gr_request gr_request;
typedef struct gr_ledger_row gr_ledger_row;
typedef struct gr_store gr_store;
typedef struct gr_pay_x402 gr_pay_x402;

/* NULL with err[0] == '\0' when the config has no x402 section. */
/* The `x402:` section's parser for the config loader (config_sections.c):
 * validates with the same code gr_pay_x402_new runs; keeps nothing. */
extern const gr_conf_key gr_conf_x402_keys[], gr_conf_x402_network_keys[];
void *gr_pay_x402_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e);

gr_pay_x402 *gr_pay_x402_new(const gr_config *cfg, gr_store *store, char *err, size_t errlen);
void gr_pay_x402_free(gr_pay_x402 *p);
/* SIGTERM: settlement stops queueing and, at deadline_ms (wall clock),
 * aborts its RPC in flight; what is left stays in the store for the next
 * run or another instance. NULL-safe. */
void gr_pay_x402_stop_by(gr_pay_x402 *p, uint64_t deadline_ms);
/* gaterouter x402 reconcile [--all]: takes over the jobs of dead instances
 * (all: of every instance — only when none runs) and settles or reconciles
 * each with the chain now; prints a summary to out. 0 = nothing left pending. */
int gr_pay_x402_reconcile_cli(const gr_config *cfg, bool all, FILE *out);
/* --check-config: the x402 section parses and every limit is valid (err
 * says why not). Opens nothing. */
bool gr_pay_x402_check_config(const gr_config *cfg, char *err, size_t errlen);
/* After the worker loops stopped and before their mailboxes go: the
 * preflight pool finishes. NULL-safe. */
void gr_pay_x402_quiesce(gr_pay_x402 *p);

/* Registers the handlers above and this module's context slot (start-up). */
void gr_pay_x402_register(void);

/* GET /v1/x402/pricing (discovery: accepted networks/assets, schemes, paid
 * resources, prices per model), GET /v1/x402/credit?address=0x… (a payer's
 * credit and recent settlements) and GET /v1/x402/payments?id=<request id>
 * (one payment; for `upto` the authorised maximum and the settled amount). Answers and finishes the request (404 when x402 is
 * disabled). query: the raw query string without '?', may be "". */
void gr_pay_x402_serve(gr_request *r, const char *path, const char *query);

#endif
