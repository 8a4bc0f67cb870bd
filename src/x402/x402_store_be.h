/* x402_store_be.h — internal to the x402 payment store: the interface between
 * x402_store.c (the public API, all of its logic: parameters, row decoding,
 * JSON) and a backend that only knows how to run one of a fixed set of
 * statements: SQLite (in x402_store.c) and PostgreSQL (x402_store_pg.c, built
 * with GR_HAVE_PG). A backend supplies the SQL text of every gr_x402_q in its
 * dialect, parameters numbered in the order given here, and result columns in
 * the order the comments list. Not a public header. */
#ifndef GR_X402_STORE_BE_H
#define GR_X402_STORE_BE_H

#include "common.h"
#include "store_param.h"

/* The statements. Parameters (1-based) -> result columns. */
typedef enum {
    GR_X402_Q_NONCE_INS,   /* key, valid_before, now_ms -> changes 1 = reserved, 0 = taken */
    GR_X402_Q_NONCE_PRUNE, /* now_unix */
    GR_X402_Q_CREDIT_GET,  /* payer -> nusd */
    GR_X402_Q_CREDIT_ADD,  /* payer, delta, now_ms (floor 0) */
    GR_X402_Q_CREDIT_TAKE, /* payer, amount, now_ms -> changes 1 = taken */
    GR_X402_Q_SET_PUT,     /* the 16 settlement columns + updated_ms + raw_tx ('' = NULL) (upsert) */
    GR_X402_Q_SET_PENDING, /* me, mine (0 | 1 all of mine | 2 my pending ones), alive_since_ms, now_ms, limit -> the jobs to take over:
                              live (open, pending, finishing) and owned by nobody, by a dead instance
                              (no heartbeat since alive_since_ms), or (pending only) under an expired lease;
                              with mine also this instance's own (see x402_store.h).
                              Columns: the 16 of SET_PUT without updated_ms, then raw_tx, claimed_by */
    GR_X402_Q_SET_RECENT,  /* payer, limit -> request_id, chain_id, asset, amount, state, tx_hash,
                              attempts, error, paid, cost, credit_used, created, updated, max_amount */
    GR_X402_Q_LEDGER_UPD,  /* request_id, state, tx_hash ('' = NULL), credit_delta -> changes */
    GR_X402_Q_UPTO_PUT,    /* request_id .. nonce_key (10 columns), now_ms (upsert) */
    GR_X402_Q_UPTO_STATE,  /* request_id, state, tx_hash ('' = NULL), now_ms */
    GR_X402_Q_SET_CLAIM,   /* request_id, now_ms -> changes: 1 = this caller moved the job from
                              'pending' to 'finishing' (and alone finishes it), 0 = someone else did */
    GR_X402_Q_PAYMENT_GET, /* request_id -> request_id, payer, chain_id, asset, max_amount (NULL
                              unless upto), amount, cost, state, tx_hash, attempts, error,
                              created, updated */
    GR_X402_Q_SET_LEASE,   /* request_id, owner, lease_until_ms, now_ms -> changes: 1 = owner holds the
                              sending lease of this pending job (it was free, expired or already
                              owner's), 0 = another owner holds an unexpired one (or not pending) */
    GR_X402_Q_BEGIN,       /* a write transaction (SQLite: BEGIN IMMEDIATE) */
    GR_X402_Q_COMMIT,
    GR_X402_Q_ROLLBACK,
    GR_X402_Q_SET_OPEN,    /* the 16 settlement columns (state 'open') + updated_ms, claimed_by,
                              lease_until: the job of an admitted payment (plain INSERT: a duplicate
                              request id fails) */
    GR_X402_Q_SET_CLOSE,   /* request_id, state, amount, requirement, paid, credit_used, cost, now_ms
                              -> changes: 1 = the job was 'open' (this request's end closes it) */
    GR_X402_Q_SET_TAKE,    /* request_id, me, lease_until, now_ms, seen_state, seen_owner ('' = none)
                              -> changes: 1 = this instance took the job over (open/finishing become
                              pending); 0 = someone changed it since it was seen */
    GR_X402_Q_HEARTBEAT,   /* id, now_ms (upsert) */
    GR_X402_Q_INSTANCE_DEL, /* id: a clean exit (survivors take its jobs over at once) */
    GR_X402_Q_LEDGER_SYNC, /* since_ms: ledger rows still 'pending' whose job ended since then get
                              the job's final state, tx hash and credit delta (repairs an update
                              lost to a crash or to a late ledger writer) */
    /* payment-identifier (idempotent retries) */
    GR_X402_Q_PID_EXPIRE,  /* id, now_ms: drops that id's row when it expired */
    GR_X402_Q_PID_INS,     /* id, payer, fingerprint, request_id, now_ms, expires_ms -> changes 1 = new
                              ('pending'), 0 = the id is taken */
    GR_X402_Q_PID_GET,     /* id -> payer, fingerprint, state, request_id, status, settlement, body */
    GR_X402_Q_PID_DONE,    /* id, request_id, status, settlement, body ('' = none), now_ms -> changes */
    GR_X402_Q_PID_DEL,     /* id, request_id: a pending id whose request did not succeed */
    GR_X402_Q_PID_PRUNE,   /* now_ms: every expired id */
    GR_X402_Q_COUNT
} gr_x402_q;


/* One result row, valid during the row callback only. */
typedef struct gr_x402_row gr_x402_row;
struct gr_x402_row {
    const char *(*text)(const gr_x402_row *r, int col); /* NULL for SQL NULL */
    int64_t (*i64)(const gr_x402_row *r, int col);      /* 0 for SQL NULL */
    void *impl;
    int index;
};

/* Called per row; return false to stop reading (the statement still
 * succeeds). */
typedef bool (*gr_x402_row_fn)(const gr_x402_row *row, void *ctx);

typedef struct gr_x402_backend gr_x402_backend;
typedef struct gr_x402_backend_ops {
    const char *name; /* "sqlite" | "postgres" */
    /* Runs statement q with params; fn (may be NULL) gets every row;
     * *changes (may be NULL) the rows the statement inserted/updated/deleted.
     * GR_OK, or GR_ERR_IO (GR_ERR_INVALID for a rejected value). Called with
     * the store's mutex held: never concurrently on one backend. */
    gr_status (*exec)(gr_x402_backend *b, gr_x402_q q, const gr_store_param *p, int np,
                      gr_x402_row_fn fn, void *ctx, int64_t *changes);
    void (*close)(gr_x402_backend *b);
} gr_x402_backend_ops;

struct gr_x402_backend {
    const gr_x402_backend_ops *ops;
    bool in_txn; /* between BEGIN and COMMIT/ROLLBACK: nothing may be retried on a new connection */
};

#ifdef GR_HAVE_PG
/* url: postgres:// or postgresql://. Connects and migrates the x402 schema. */
GR_MUST_CHECK gr_status gr_x402_store_pg_open(const char *url, gr_x402_backend **out, char *err,
                                              size_t errlen);
#endif

#endif
