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
 * mined) are retried with exponential backoff, GR_X402_SETTLE_ATTEMPTS times
 * per round; after a round the job stays pending and a later sweep starts
 * another (nothing is failed because an RPC is down). Permanent ones
 * (revert, facilitator success:false) stop at once, after reconciliation.
 * Every outcome is logged, counted (gaterouter_x402_payments_total{event=
 * "settled"|"settle_failed"|"settle_retry"|"expired_unsettled"}), written to
 * x402_settlements and to the request's ledger row (x402_settlement,
 * x402_tx_hash, x402_credit_delta) in one transaction.
 *
 * Durability (docs/X402.md "Crashes, restarts and several instances"): a job is in the store
 * before its request is served (x402_store.h gr_x402_store_admit, state
 * `open`, owned by this instance), closed to `pending` with its final amount
 * when the request ends, and only then queued here. Self-settlement signs
 * the transaction and persists its hash and raw bytes before broadcasting
 * it; a resumed job polls that receipt, re-broadcasts the same bytes, and
 * reconciles with the chain (authorizationState / the Permit2 nonce bitmap,
 * and the log of the transaction that spent the authorization): a job ends
 * `settled` with the real hash, `failed`, or `expired_unsettled` (its
 * authorization expired unspent: counted, logged as an ALERT) — never
 * `failed` when the chain says paid.
 *
 * Several instances on one database: each has an id (x402.instance_id,
 * stable across its restarts) and a keeper thread that heartbeats in
 * x402_instances and sweeps: it takes over (one compare-and-set UPDATE) the
 * live jobs of instances that stopped beating or stopped cleanly, and
 * pending jobs whose sending lease expired; at start it also takes its own
 * previous run's jobs, at once. A job is sent only under its sending lease
 * (claimed_by, lease_until), taken before the first transaction and renewed
 * while sending; finishing is exactly once (one transaction: the
 * pending -> final claim, credit, upto state, row).
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
/* Defaults of the liveness settings. */
#define GR_X402_HEARTBEAT_MS 1000
#define GR_X402_DEAD_AFTER_MS 5000
#define GR_X402_SWEEP_MS 2000

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

/* Liveness settings (x402: section, docs/CONFIG.md). */
typedef struct gr_x402_settler_opts {
    const char *instance_id;   /* this instance, stable across its restarts (copied) */
    uint32_t heartbeat_ms;     /* x402.heartbeat_interval_ms */
    uint32_t dead_after_ms;    /* x402.instance_dead_after_ms: no heartbeat for this long = dead */
    uint32_t sweep_ms;         /* x402.sweep_interval_ms: how often orphaned jobs are looked for */
    bool no_keeper;            /* one-shot use (gaterouter x402 reconcile): no heartbeat, no sweeps */
    /* told every final outcome of a payer's settlement (settled or failed); may be NULL */
    void (*payer_outcome)(void *ud, const char *payer, bool settled);
    void *outcome_ud;
} gr_x402_settler_opts;

/* Takes over this instance's jobs left by its previous run and those of
 * dead instances, then starts the settlement and keeper threads. */
GR_MUST_CHECK gr_status gr_x402_settler_new(gr_x402_settle_mode mode, const gr_x402_network_conf *nets, size_t n,
                                            gr_x402_store *store, const gr_x402_settler_opts *opts,
                                            gr_x402_settler **out, char *err, size_t errlen);
/* From then on no new job is queued, and at deadline_ms (wall clock) every
 * RPC in flight is aborted and the queue is left in the store (its jobs are
 * taken over by the next run or another instance). Callable from any thread. */
void gr_x402_settler_stop_by(gr_x402_settler *s, uint64_t deadline_ms);
/* Finishes the queued jobs (or stops at the stop_by deadline), stops the
 * threads, marks the instance gone in the store, frees. */
void gr_x402_settler_free(gr_x402_settler *s);

/* The instance id owning the jobs admitted here. */
const char *gr_x402_settler_owner(const gr_x402_settler *s);

/* Queues a job its request closed as `pending` in the store. Never blocks on
 * the network. Takes ownership of rec's heap strings in every case.
 * GR_ERR_TOO_LARGE: queue full or stopping (the job stays pending in the
 * store; a later sweep or the next run takes it). */
gr_status gr_x402_settler_submit(gr_x402_settler *s, gr_x402_settle_rec *rec);

/* settle_before_response: someone waiting for a job's transaction hash.
 * Shared by the waiting thread and the settler (two references). */
typedef struct gr_x402_settle_waiter gr_x402_settle_waiter;
gr_x402_settle_waiter *gr_x402_settle_waiter_new(void); /* two references */
void gr_x402_settle_waiter_release(gr_x402_settle_waiter *w); /* NULL-safe */
/* Waits until the hash is known or the job ended, at most until deadline_ms
 * (wall clock). true with hash (and *settled: the job ended settled) when
 * known. */
bool gr_x402_settle_waiter_wait(gr_x402_settle_waiter *w, uint64_t deadline_ms, char hash[67], bool *settled);
/* The job ended (or will not be run here): wakes the waiter, drops the
 * settler's reference. */
void gr_x402_settle_waiter_finish(gr_x402_settle_waiter *w, const char *tx_hash, bool settled);

/* As submit, at the front of the queue, with rec->waiter told as soon as the
 * transaction hash is known (self: once signed and persisted, before the
 * broadcast; facilitator: when /settle answered). The waiter's settler
 * reference is released in every case. */
gr_status gr_x402_settler_submit_first(gr_x402_settler *s, gr_x402_settle_rec *rec);

/* gaterouter x402 reconcile: takes over every job of a dead instance (and,
 * with all, of any instance: only when none runs) and settles or reconciles
 * each with the chain now. Counts by final state in *settled, *failed,
 * *expired, *left (still pending). */
void gr_x402_settler_reconcile(gr_x402_settler *s, bool all, size_t *settled, size_t *failed, size_t *expired,
                               size_t *left);

/* Test/ops hook: number of jobs queued or in progress. */
size_t gr_x402_settler_backlog(gr_x402_settler *s);

#endif
