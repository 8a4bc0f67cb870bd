/* x402_settle.h — settlement of accepted x402 payments, off the request path:
 * one dedicated thread with a bounded queue and its own libcurl easy handles
 * (blocking I/O is fine there; no worker loop ever waits on it).
 *
 * Modes:
 *   self        the gateway submits EIP-3009 transferWithAuthorization (exact)
 *               or x402UptoPermit2Proxy.settle(…, actual amount, …) (upto) itself
 *               with its relayer key over JSON-RPC: eth_chainId (checked once),
 *               eth_getTransactionCount(pending) for the relayer nonce (kept
 *               locally afterwards, refetched on nonce errors), eth_gasPrice +
 *               eth_maxPriorityFeePerGas, eth_estimateGas (a revert here is a
 *               permanent failure: used nonce, expired, insufficient balance),
 *               a signed EIP-1559 tx via eth_sendRawTransaction, then
 *               eth_getTransactionReceipt polling.
 *   facilitator POST {facilitator_url}/settle {x402Version, paymentPayload,
 *               paymentRequirements} (x402 facilitator API).
 *   none        verify only; nothing is settled.
 *
 * Failure handling: transient errors (transport, RPC hiccups, receipt not yet
 * mined) are retried with exponential backoff, at most GR_X402_SETTLE_ATTEMPTS
 * times; permanent ones (revert, facilitator success:false) stop at once.
 * Every outcome is logged, counted (gaterouter_x402_payments_total{event=
 * "settled"|"settle_failed"|"settle_retry"}), written to x402_settlements
 * and to the request's ledger row (x402_settlement, x402_tx_hash,
 * x402_credit_delta). A job is persisted as "pending" before it is queued, so
 * a restart (or a full queue) resumes it at the next start; a job whose tx was
 * already sent resumes by polling that tx's receipt.
 *
 * Several instances on one database: a job is sent only under its sending
 * lease (claimed_by = this instance's random id, lease_until),
 * taken atomically before the first transaction and renewed while sending.
 * An instance resuming `pending` jobs at start skips those whose lease
 * another live instance still holds (it takes only free or expired ones), so
 * a job is not sent twice; finishing is exactly once anyway (the
 * pending -> finishing claim).
 *
 * Credit: on success the payer's credit grows by paid + credit_used - cost
 * (never below zero) — exact scheme only; an upto payment settles the
 * metered cost itself and grants no credit. */
#ifndef GR_X402_SETTLE_H
#define GR_X402_SETTLE_H

#include "common.h"
#include "evm.h"
#include "x402_store.h"

#define GR_X402_SETTLE_ATTEMPTS 5
#define GR_X402_SETTLE_QUEUE 4096
/* The sending lease of a job (owner + expiry in x402_settlements), renewed
 * before every attempt and every third of it while a receipt is awaited. */
#define GR_X402_SETTLE_LEASE_MS 60000

typedef enum { GR_X402_SETTLE_NONE = 0, GR_X402_SETTLE_SELF, GR_X402_SETTLE_FACILITATOR } gr_x402_settle_mode;

/* One accepted (network, asset) pair from config. Strings are owned by the
 * pay_x402 module and outlive the settler. */
typedef struct gr_x402_network_conf {
    uint64_t chain_id;
    gr_evm_address asset;
    gr_evm_address pay_to;
    char *asset_name;      /* EIP-712 domain name, e.g. "USD Coin" */
    char *asset_version;   /* EIP-712 domain version, e.g. "2" */
    char *rpc_url;         /* may be NULL */
    char *facilitator_url; /* may be NULL; no trailing slash */
    bool has_relayer;
    uint8_t relayer_key[32];
    gr_evm_address relayer;
    uint32_t max_timeout_seconds;
    uint32_t decimals;     /* token decimals (6 for USDC/USDT) */
    /* `upto` scheme (Permit2): offered when both addresses are configured */
    bool has_upto;
    gr_evm_address permit2;          /* Permit2 (EIP-712 verifyingContract) */
    gr_evm_address upto_proxy;       /* x402UptoPermit2Proxy: spender, settle() target */
    gr_evm_address upto_facilitator; /* witness.facilitator: the relayer (self) or the facilitator */
} gr_x402_network_conf;

typedef struct gr_x402_settler gr_x402_settler;

/* Starts the thread and re-queues jobs left pending by a previous run. */
GR_MUST_CHECK gr_status gr_x402_settler_new(gr_x402_settle_mode mode, const gr_x402_network_conf *nets, size_t n,
                                            gr_x402_store *store, gr_x402_settler **out, char *err, size_t errlen);
/* Finishes the queued jobs (bounded: a few seconds each at most), stops the
 * thread, frees. Jobs it could not finish stay pending in the store. */
void gr_x402_settler_free(gr_x402_settler *s);

/* Never blocks on the network (one local store write). Takes ownership of
 * rec's heap strings in every case. GR_ERR_TOO_LARGE: queue full (the job
 * stays pending in the store and resumes at the next start). */
gr_status gr_x402_settler_submit(gr_x402_settler *s, gr_x402_settle_rec *rec);

/* Test/ops hook: number of jobs queued or in progress. */
size_t gr_x402_settler_backlog(gr_x402_settler *s);

#endif
