/* svm_settle.h — settlement of an x402 `exact` Solana payment before the
 * request is served: the transaction, complete with the fee payer's
 * signature (gr_svm_sign_fee_payer, so its id is known before it is sent), is sent to the network's JSON-RPC (`sendTransaction`, with the
 * node's preflight simulation), and `getSignatureStatuses` is polled until
 * the transaction is confirmed or failed, or the deadline passes.
 *
 * Runs on a pool of its own (store_exec.h: `threads` threads, one libcurl
 * handle each, a bounded queue), never on a worker's event loop. */
#ifndef GR_SVM_SETTLE_H
#define GR_SVM_SETTLE_H

#include "base58.h"
#include "common.h"

struct gr_store_exec;
typedef struct gr_svm_settler gr_svm_settler;

#define GR_SVM_POLL_MS 200 /* between two getSignatureStatuses */

typedef enum {
    GR_SVM_SETTLED = 0,   /* confirmed without error */
    GR_SVM_REFUSED,       /* the node refused it (simulation failed, blockhash expired, ...): nothing moved */
    GR_SVM_FAILED,        /* landed with an error: nothing moved but the fee */
    GR_SVM_UNKNOWN,       /* no answer in time: it may still land */
} gr_svm_outcome;

/* One settlement: inputs set by the caller, results by gr_svm_settle_run. */
typedef struct gr_svm_settle_job {
    char *tx_b64;                  /* the signed transaction (heap, owned by the job) */
    char signature[GR_BASE58_MAX_64]; /* its id: the fee payer's signature */
    const char *rpc_url;           /* owned by the config */
    uint32_t confirm_timeout_ms;
    gr_svm_outcome outcome;
    char error[160];
    uint64_t settle_ms;            /* send to confirmation */
} gr_svm_settle_job;

GR_MUST_CHECK gr_status gr_svm_settler_new(unsigned threads, unsigned queue_max, gr_svm_settler **out, char *err,
                                           size_t errlen);
void gr_svm_settler_shutdown(gr_svm_settler *s); /* NULL-safe; before the loops' mailboxes go */
void gr_svm_settler_free(gr_svm_settler *s);     /* NULL-safe */
struct gr_store_exec *gr_svm_settler_exec(gr_svm_settler *s);

/* On one of the pool's threads (conn = its connection): send, confirm. */
void gr_svm_settle_run(void *conn, gr_svm_settle_job *j);

#endif
