/* x402_store.h — persistence of x402 payment state in the gateway's store
 * database (the `store:` URL: sqlite://… or, in builds with libpq,
 * postgres://…), through a connection of its own:
 *
 *   x402_nonces       (nonce_key PRIMARY KEY)  the replay guard: one row per
 *                     EIP-3009 authorization ever accepted, keyed by
 *                     "chain:asset:from:nonce"; reserved with INSERT OR IGNORE
 *                     / INSERT ... ON CONFLICT DO NOTHING (the UNIQUE key
 *                     makes the reservation atomic, also across processes
 *                     sharing the database); pruned once validBefore has
 *                     passed (an expired authorization is rejected by
 *                     verification anyway).
 *   x402_credit       (payer PRIMARY KEY, nusd) per-payer credit in nano-USD.
 *   x402_settlements  (request_id PRIMARY KEY) one row per settlement job,
 *                     inserted (state `open`) in the transaction that
 *                     reserves the nonce, before anything is served: the
 *                     payment header and requirement needed to settle it
 *                     after a crash, its state, tx hash and signed raw tx
 *                     (self-settlement: persisted before it is sent),
 *                     attempts, error, and its owner and sending lease
 *                     (claimed_by, lease_until).
 *   x402_instances    (id PRIMARY KEY, heartbeat_ms) the settling instances'
 *                     heartbeats: a job whose owner stopped beating is taken
 *                     over by another instance.
 *   x402_upto         (request_id PRIMARY KEY) one row per admitted `upto`
 *                     payment: the authorised maximum beside the settled
 *                     amount, the metered cost, state and tx hash.
 * and it updates the x402_* columns of the ledger row once a settlement ends.
 *
 * SQLite: short local-disk transactions (WAL, no fsync at commit with the
 * default synchronous=normal), no network I/O. PostgreSQL (x402_store_pg.c):
 * one round trip per call to the server, on the calling thread; the tables
 * have a versioned schema (x402_schema_version) migrated at open. Calls on a
 * store are serialized by one mutex. Thread-safe. */
#ifndef GR_X402_STORE_H
#define GR_X402_STORE_H

#include "common.h"

#include <cjson/cJSON.h>

typedef struct gr_x402_store gr_x402_store;

GR_MUST_CHECK gr_status gr_x402_store_open(const char *store_url, gr_x402_store **out, char *err,
                                           size_t errlen);
void gr_x402_store_close(gr_x402_store *s); /* NULL-safe */

/* GR_OK: reserved now. GR_ERR_INVALID: already reserved (a replay). */
GR_MUST_CHECK gr_status gr_x402_store_nonce_reserve(gr_x402_store *s, const char *key, int64_t valid_before);
/* Drops reservations whose validBefore is older than now_unix (and expired payment ids). */
void gr_x402_store_nonce_prune(gr_x402_store *s, int64_t now_unix);

/* ---- payment-identifier: idempotent retries (docs/X402.md) ---- */
typedef enum {
    GR_X402_PID_NEW = 0,  /* the id was free: now 'pending' for this request */
    GR_X402_PID_PENDING,  /* another request with this id is running */
    GR_X402_PID_DONE,     /* served before: rec holds its reply */
} gr_x402_pid_state;

/* The stored row of an id (strings malloc'd; gr_x402_pid_rec_dispose). */
typedef struct gr_x402_pid_rec {
    gr_x402_pid_state state;
    char payer[64], fingerprint[80], request_id[80];
    int status;
    char *settlement; /* the settlement header's value, or NULL */
    char *body;       /* the reply's body, or NULL (not kept: too large) */
} gr_x402_pid_rec;
void gr_x402_pid_rec_dispose(gr_x402_pid_rec *r);

/* One transaction: an expired row of id is dropped; then the id is taken
 * for request_id (state NEW, until now_ms + ttl_ms) or the row found is
 * returned in *rec. */
GR_MUST_CHECK gr_status gr_x402_store_pid_begin(gr_x402_store *s, const char *id, const char *payer,
                                                const char *fingerprint, const char *request_id, int64_t ttl_ms,
                                                gr_x402_pid_rec *rec);
/* The request that holds id was served: its reply (body NULL: not kept). */
GR_MUST_CHECK gr_status gr_x402_store_pid_done(gr_x402_store *s, const char *id, const char *request_id, int status,
                                               const char *settlement, const char *body);
/* The request that holds id did not succeed: the id is free again. */
GR_MUST_CHECK gr_status gr_x402_store_pid_drop(gr_x402_store *s, const char *id, const char *request_id);

/* Credit in nano-USD (0 when the payer has none). */
GR_MUST_CHECK gr_status gr_x402_store_credit_get(gr_x402_store *s, const char *payer, int64_t *nusd);
/* Adds delta (may be negative); the balance never goes below 0. */
GR_MUST_CHECK gr_status gr_x402_store_credit_add(gr_x402_store *s, const char *payer, int64_t delta);
/* Atomically takes amount (> 0) if the balance covers it: GR_OK, or
 * GR_ERR_INVALID when it does not (nothing taken). */
GR_MUST_CHECK gr_status gr_x402_store_credit_take(gr_x402_store *s, const char *payer, int64_t amount);

/* One settlement job as persisted. */
typedef struct gr_x402_settle_rec {
    char request_id[64];
    char payer[43];
    uint64_t chain_id;
    char asset[43];
    char amount[80];        /* atomic units, decimal */
    int version;
    char *header_b64;       /* the client's payment header (heap) */
    char *requirement_json; /* the matched requirement, rendered (heap) */
    int64_t paid_nusd, credit_used_nusd, cost_nusd;
    char state[20];         /* open | pending | settled | failed | expired_unsettled | skipped | credit | zero */
    char tx_hash[67];
    int attempts;
    char error[128];
    int64_t created_ms;
    char *raw_tx;           /* self-settlement: the signed tx (hex), persisted before it is sent (heap, may be NULL) */
    char claimed_by[96];    /* as read: the owning instance ('' = none) */
    struct gr_x402_settle_waiter *waiter; /* runtime only (x402_settle.h): told when the tx hash is known */
} gr_x402_settle_rec;

void gr_x402_settle_rec_dispose(gr_x402_settle_rec *r);
/* Insert or replace by request_id. */
gr_status gr_x402_store_settlement_put(gr_x402_store *s, const gr_x402_settle_rec *r);
/* The jobs to take over (up to limit, oldest first): live ones (open,
 * pending, finishing) owned by nobody, by an instance with no heartbeat
 * since alive_since_ms (dead), or — pending only — under a lease expired at
 * now_ms; with mine = 1 also every live job of `me` (its previous run), with
 * mine = 2 its pending ones (not its open ones: their requests are in flight). Take each with gr_x402_store_settlement_take before working on it.
 * Caller frees with gr_x402_settle_rec_dispose on each and free(arr). */
GR_MUST_CHECK gr_status gr_x402_store_settlements_orphaned(gr_x402_store *s, const char *me, int mine,
                                                           int64_t alive_since_ms, int64_t now_ms, int limit,
                                                           gr_x402_settle_rec **arr, size_t *n);
/* Takes over a job returned by settlements_orphaned, if nobody changed it
 * since (compare-and-set on its state and owner): *taken true when `me` now
 * owns it under a lease until now_ms + lease_ms; an `open` job (its request's
 * instance died before recording the end) or a `finishing` one (left by an
 * older binary) becomes `pending`. */
GR_MUST_CHECK gr_status gr_x402_store_settlement_take(gr_x402_store *s, const gr_x402_settle_rec *seen, const char *me,
                                                      int64_t now_ms, int64_t lease_ms, bool *taken);
/* Liveness of the settling instances: `id` is alive at now_ms. */
GR_MUST_CHECK gr_status gr_x402_store_heartbeat(gr_x402_store *s, const char *id, int64_t now_ms);
/* `id` stopped cleanly: other instances take its jobs over at their next sweep. */
GR_MUST_CHECK gr_status gr_x402_store_instance_gone(gr_x402_store *s, const char *id);
/* Ledger rows still 'pending' whose job ended (settled, failed,
 * expired_unsettled) at or after since_ms get its outcome; *changed = rows
 * repaired (may be NULL). */
GR_MUST_CHECK gr_status gr_x402_store_ledger_sync(gr_x402_store *s, int64_t since_ms, int64_t *changed);

/* Admission, in one transaction: reserve nonce_key, take `take` nano-USD of
 * the payer's credit (0 = none) and, with job, insert the payment's
 * settlement job in state `open` owned by `owner` (lease until now +
 * lease_ms) plus its upto record (may be NULL). All of it commits, or none:
 * a served paid request always has its job. *out says which. */
typedef enum { GR_X402_ADMITTED = 0, GR_X402_ADMIT_REPLAY, GR_X402_ADMIT_NO_CREDIT } gr_x402_admit_result;
typedef struct gr_x402_upto_rec gr_x402_upto_rec;
GR_MUST_CHECK gr_status gr_x402_store_admit(gr_x402_store *s, const char *nonce_key, int64_t valid_before,
                                            const char *payer, int64_t take, const gr_x402_settle_rec *job,
                                            const gr_x402_upto_rec *upto, const char *owner, int64_t lease_ms,
                                            gr_x402_admit_result *out);
/* The request of an `open` job ended, in one transaction: the job takes
 * job->state (pending: to settle; skipped | credit | zero | verified: nothing
 * to send), amount, requirement, paid, credit used and cost; credit_delta
 * goes to the payer; upto (may be NULL) is recorded. *closed is false when
 * the job was no longer open (another instance took it over): nothing changes. */
GR_MUST_CHECK gr_status gr_x402_store_settlement_close(gr_x402_store *s, const gr_x402_settle_rec *job,
                                                       int64_t credit_delta, const gr_x402_upto_rec *upto,
                                                       bool *closed);

/* Appends up to limit recent settlements of payer (newest first) to arr as
 * JSON objects. */
gr_status gr_x402_store_settlements_recent(gr_x402_store *s, const char *payer, int limit,
                                                         cJSON *arr);
/* Finishes a pending job exactly once across every instance sharing the
 * store, in one transaction: *won is true only for the caller that claimed
 * it (pending -> job->state); that caller's credit_gain goes to the payer,
 * the request's ledger row takes the outcome (ledger_delta: its credit
 * delta), the upto record the state (upto), and the job row its final
 * values. A crash leaves either all of it or none (no job stuck
 * half-finished). With need_ledger and no ledger row yet (its writer is
 * asynchronous), nothing is written and GR_ERR_NOT_FOUND asks to retry;
 * without, a missing row is left to gr_x402_store_ledger_sync (*in_ledger). */
GR_MUST_CHECK gr_status gr_x402_store_settlement_finish(gr_x402_store *s, const gr_x402_settle_rec *job,
                                                        int64_t credit_gain, bool upto, int64_t ledger_delta,
                                                        bool need_ledger, bool *won, bool *in_ledger);
/* The sending lease of a pending job: *held is true when owner now holds it
 * until now_ms + lease_ms (it was free, expired, or owner's already: a
 * renewal), false when another owner's lease is still running (or the job
 * is no longer pending). Taken before a transaction is sent and renewed
 * while sending, so an instance resuming pending jobs at start never sends
 * one another live instance is sending. */
GR_MUST_CHECK gr_status gr_x402_store_settlement_lease(gr_x402_store *s, const char *request_id, const char *owner,
                                                       int64_t now_ms, int64_t lease_ms, bool *held);
/* UPDATE ledger SET x402_settlement, x402_tx_hash, x402_credit_delta WHERE
 * request_id. *changed = whether the row existed (the ledger writer may not
 * have committed it yet). */
GR_MUST_CHECK gr_status gr_x402_store_ledger_update(gr_x402_store *s, const char *request_id, const char *state,
                                                    const char *tx_hash, int64_t credit_delta_nusd, bool *changed);

/* One admitted `upto` payment (authorised maximum vs settled amount). */
struct gr_x402_upto_rec {
    char request_id[64];
    char payer[43];
    uint64_t chain_id;
    char asset[43];
    char max_amount[80];     /* atomic units, decimal: permitted.amount */
    char settled_amount[80]; /* atomic units, decimal: what settles (<= max) */
    int64_t cost_nusd;
    char state[16];          /* pending | settled | failed | zero | skipped | verified */
    char tx_hash[67];
    char nonce_key[200];
};

/* Insert or replace by request_id. */
GR_MUST_CHECK gr_status gr_x402_store_upto_put(gr_x402_store *s, const gr_x402_upto_rec *r);
/* Final state of an upto payment's settlement (no-op for other schemes). */
GR_MUST_CHECK gr_status gr_x402_store_upto_state(gr_x402_store *s, const char *request_id, const char *state,
                                                 const char *tx_hash);
/* Adds the payment of request_id (either scheme) to o: scheme, payer,
 * network, asset, max_amount (upto), amount, cost_nusd, state, transaction,
 * attempts, error. GR_ERR_NOT_FOUND when there is none. */
GR_MUST_CHECK gr_status gr_x402_store_payment_get(gr_x402_store *s, const char *request_id, cJSON *o);

#endif
