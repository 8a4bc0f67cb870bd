/* x402_store_pg.c — the PostgreSQL backend of the x402 payment store
 * (x402_store_be.h; the API and all row handling are in x402_store.c). Built
 * only with GR_HAVE_PG (cmake/area_pg.cmake).
 *
 * One connection of its own (libpq, through the gr_pg_* helpers of
 * store_pg.h: same defaults, reconnect, prepared statements, password-free
 * messages as the main store), to the database of the `store:` URL, so the
 * settlement updates reach the ledger table there. Tables, all prefixed
 * x402_, with a versioned schema of their own (x402_schema_version) migrated
 * at open under a transaction-scoped advisory lock, so instances starting
 * together take turns:
 *
 *   x402_nonces(nonce_key PRIMARY KEY, valid_before, created_ms)
 *       the replay guard. INSERT ... ON CONFLICT DO NOTHING: the primary key
 *       makes the reservation atomic across every instance on the database;
 *       exactly one INSERT of a key reports a row.
 *   x402_credit(payer PRIMARY KEY, nusd CHECK (nusd >= 0), updated_ms)
 *       credit is taken by one conditional UPDATE (... WHERE nusd >= amount):
 *       concurrent takers serialize on the row lock and re-check the
 *       condition (READ COMMITTED), so the balance never goes negative.
 *   x402_settlements(request_id PRIMARY KEY, ...)  settlement jobs (upsert).
 *   x402_upto(request_id PRIMARY KEY, ...)         upto payments (upsert).
 *
 * Statements that are safe to repeat (reads, upserts, state updates, prune)
 * are retried once after a lost connection; the nonce reservation and the
 * credit changes are not (a lost reply may hide a commit): they fail with
 * GR_ERR_IO, which the gateway answers with 503 (fail closed). */
#include "store.h"
#include "store_pg.h"
#include "x402_store_be.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define SET_COLS                                                                                  \
    "request_id,payer,chain_id,asset,amount,version,header_b64,requirement,paid_nusd,"            \
    "credit_used_nusd,cost_nusd,state,tx_hash,attempts,error,created_ms"

static const char *const pg_sql[GR_X402_Q_COUNT] = {
    [GR_X402_Q_NONCE_INS] = "INSERT INTO x402_nonces(nonce_key,valid_before,created_ms) VALUES($1,$2::bigint,$3::bigint)"
                            " ON CONFLICT (nonce_key) DO NOTHING",
    [GR_X402_Q_NONCE_PRUNE] = "DELETE FROM x402_nonces WHERE valid_before < $1::bigint",
    [GR_X402_Q_CREDIT_GET] = "SELECT nusd FROM x402_credit WHERE payer=$1",
    [GR_X402_Q_CREDIT_ADD] = "INSERT INTO x402_credit(payer,nusd,updated_ms) VALUES($1,GREATEST($2::bigint,0),$3::bigint)"
                             " ON CONFLICT (payer) DO UPDATE SET nusd=GREATEST(x402_credit.nusd+$2::bigint,0),"
                             "updated_ms=$3::bigint",
    [GR_X402_Q_CREDIT_TAKE] = "UPDATE x402_credit SET nusd=nusd-$2::bigint,updated_ms=$3::bigint"
                              " WHERE payer=$1 AND nusd>=$2::bigint",
    [GR_X402_Q_SET_PUT] = "INSERT INTO x402_settlements(" SET_COLS ",updated_ms,raw_tx) VALUES($1,$2,$3::bigint,$4,$5,"
                          "$6::integer,$7,$8,$9::bigint,$10::bigint,$11::bigint,$12,$13,$14::integer,$15,$16::bigint,"
                          "$17::bigint,NULLIF($18::text,'')) ON CONFLICT (request_id) DO UPDATE SET payer=excluded.payer,"
                          "chain_id=excluded.chain_id,asset=excluded.asset,amount=excluded.amount,"
                          "version=excluded.version,header_b64=excluded.header_b64,requirement=excluded.requirement,"
                          "paid_nusd=excluded.paid_nusd,credit_used_nusd=excluded.credit_used_nusd,"
                          "cost_nusd=excluded.cost_nusd,state=excluded.state,tx_hash=excluded.tx_hash,"
                          "attempts=excluded.attempts,error=excluded.error,created_ms=excluded.created_ms,"
                          "updated_ms=excluded.updated_ms,raw_tx=excluded.raw_tx",
    [GR_X402_Q_SET_PENDING] = "SELECT " SET_COLS ",raw_tx,claimed_by FROM x402_settlements s"
                              " WHERE s.state IN ('open','pending','finishing') AND ((s.claimed_by=$1 AND ($2::integer=1 OR"
                              " ($2::integer=2 AND s.state<>'open')))"
                              " OR (COALESCE(s.claimed_by,'')<>$1 AND (NOT EXISTS(SELECT 1 FROM x402_instances i WHERE"
                              " i.id=s.claimed_by AND i.heartbeat_ms>=$3::bigint) OR (s.state<>'open' AND"
                              " COALESCE(s.lease_until,0)<$4::bigint)))) ORDER BY s.created_ms LIMIT $5::bigint",
    [GR_X402_Q_SET_RECENT] = "SELECT s.request_id,s.chain_id,s.asset,s.amount,"
                             "CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,s.tx_hash,s.attempts,s.error,"
                             "s.paid_nusd,s.cost_nusd,s.credit_used_nusd,s.created_ms,s.updated_ms,u.max_amount"
                             " FROM x402_settlements s LEFT JOIN x402_upto u ON u.request_id=s.request_id"
                             " WHERE s.payer=$1 AND s.state NOT IN ('skipped','zero','credit') ORDER BY s.created_ms DESC LIMIT $2::bigint",
    [GR_X402_Q_LEDGER_UPD] = "UPDATE ledger SET x402_settlement=$2,x402_tx_hash=NULLIF($3::text,''),"
                             "x402_credit_delta=$4::bigint WHERE request_id=$1",
    [GR_X402_Q_UPTO_PUT] = "INSERT INTO x402_upto(request_id,payer,chain_id,asset,max_amount,settled_amount,cost_nusd,"
                           "state,tx_hash,nonce_key,created_ms,updated_ms) VALUES($1,$2,$3::bigint,$4,$5,$6,$7::bigint,"
                           "$8,$9,$10,$11::bigint,$11::bigint) ON CONFLICT (request_id) DO UPDATE SET "
                           "payer=excluded.payer,chain_id=excluded.chain_id,asset=excluded.asset,"
                           "max_amount=excluded.max_amount,settled_amount=excluded.settled_amount,"
                           "cost_nusd=excluded.cost_nusd,state=excluded.state,tx_hash=excluded.tx_hash,"
                           "nonce_key=excluded.nonce_key,created_ms=excluded.created_ms,updated_ms=excluded.updated_ms",
    [GR_X402_Q_SET_CLAIM] = "UPDATE x402_settlements SET state='finishing',updated_ms=$2::bigint "
                            "WHERE request_id=$1 AND state='pending'",
    [GR_X402_Q_UPTO_STATE] = "UPDATE x402_upto SET state=$2,tx_hash=NULLIF($3::text,''),updated_ms=$4::bigint"
                             " WHERE request_id=$1",
    [GR_X402_Q_SET_LEASE] = "UPDATE x402_settlements SET claimed_by=$2,lease_until=$3::bigint WHERE request_id=$1"
                            " AND state='pending' AND (claimed_by IS NULL OR claimed_by=$2 OR lease_until IS NULL"
                            " OR lease_until<$4::bigint)",
    [GR_X402_Q_PAYMENT_GET] =
        "SELECT u.request_id,u.payer,u.chain_id,u.asset,u.max_amount,u.settled_amount,u.cost_nusd,"
        "COALESCE(CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,u.state),COALESCE(s.tx_hash,u.tx_hash),s.attempts,s.error,u.created_ms,"
        "COALESCE(s.updated_ms,u.updated_ms) FROM x402_upto u "
        "LEFT JOIN x402_settlements s ON s.request_id=u.request_id WHERE u.request_id=$1::text "
        "UNION ALL SELECT s.request_id,s.payer,s.chain_id,s.asset,NULL,s.amount,s.cost_nusd,"
        "CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,s.tx_hash,s.attempts,s.error,s.created_ms,s.updated_ms FROM x402_settlements s "
        "WHERE s.request_id=$1::text AND NOT EXISTS(SELECT 1 FROM x402_upto u WHERE u.request_id=$1::text)",
    [GR_X402_Q_BEGIN] = "BEGIN",
    [GR_X402_Q_COMMIT] = "COMMIT",
    [GR_X402_Q_ROLLBACK] = "ROLLBACK",
    [GR_X402_Q_SET_OPEN] = "INSERT INTO x402_settlements(" SET_COLS ",updated_ms,claimed_by,lease_until) VALUES($1,$2,"
                           "$3::bigint,$4,$5,$6::integer,$7,$8,$9::bigint,$10::bigint,$11::bigint,$12,$13,$14::integer,"
                           "$15,$16::bigint,$17::bigint,$18,$19::bigint)",
    [GR_X402_Q_SET_CLOSE] = "UPDATE x402_settlements SET state=$2,amount=$3,requirement=$4,paid_nusd=$5::bigint,"
                            "credit_used_nusd=$6::bigint,cost_nusd=$7::bigint,updated_ms=$8::bigint"
                            " WHERE request_id=$1 AND state='open'",
    [GR_X402_Q_SET_TAKE] = "UPDATE x402_settlements SET claimed_by=$2,lease_until=$3::bigint,updated_ms=$4::bigint,"
                           "state=CASE WHEN state IN ('open','finishing') THEN 'pending' ELSE state END"
                           " WHERE request_id=$1 AND state=$5 AND COALESCE(claimed_by,'')=$6",
    [GR_X402_Q_HEARTBEAT] = "INSERT INTO x402_instances(id,heartbeat_ms) VALUES($1,$2::bigint) ON CONFLICT (id)"
                            " DO UPDATE SET heartbeat_ms=excluded.heartbeat_ms",
    [GR_X402_Q_INSTANCE_DEL] = "DELETE FROM x402_instances WHERE id=$1",
    [GR_X402_Q_LEDGER_SYNC] = "UPDATE ledger SET x402_settlement=s.state,x402_tx_hash=NULLIF(s.tx_hash,''),"
                              "x402_credit_delta=CASE WHEN EXISTS(SELECT 1 FROM x402_upto u WHERE u.request_id="
                              "s.request_id) THEN 0 WHEN s.state='settled' THEN s.paid_nusd-s.cost_nusd ELSE "
                              "-s.credit_used_nusd END FROM x402_settlements s WHERE s.request_id=ledger.request_id"
                              " AND s.state IN ('settled','failed','expired_unsettled') AND s.updated_ms>=$1::bigint"
                              " AND ledger.x402_settlement='pending'",
    [GR_X402_Q_PID_EXPIRE] = "DELETE FROM x402_payment_ids WHERE id=$1 AND expires_ms<$2::bigint",
    [GR_X402_Q_PID_INS] = "INSERT INTO x402_payment_ids(id,payer,fingerprint,request_id,state,created_ms,expires_ms)"
                          " VALUES($1,$2,$3,$4,'pending',$5::bigint,$6::bigint) ON CONFLICT (id) DO NOTHING",
    [GR_X402_Q_PID_GET] = "SELECT payer,fingerprint,state,request_id,status,settlement,body FROM x402_payment_ids"
                          " WHERE id=$1",
    [GR_X402_Q_PID_DONE] = "UPDATE x402_payment_ids SET state='done',status=$3::integer,settlement=NULLIF($4::text,''),"
                           "body=NULLIF($5::text,''),updated_ms=$6::bigint WHERE id=$1 AND request_id=$2 AND"
                           " state='pending'",
    [GR_X402_Q_PID_DEL] = "DELETE FROM x402_payment_ids WHERE id=$1 AND request_id=$2 AND state='pending'",
    [GR_X402_Q_PID_PRUNE] = "DELETE FROM x402_payment_ids WHERE expires_ms<$1::bigint",
};

static const char *const pg_name[GR_X402_Q_COUNT] = {
    [GR_X402_Q_NONCE_INS] = "gr_x402_nonce_ins",     [GR_X402_Q_NONCE_PRUNE] = "gr_x402_nonce_prune",
    [GR_X402_Q_CREDIT_GET] = "gr_x402_credit_get",   [GR_X402_Q_CREDIT_ADD] = "gr_x402_credit_add",
    [GR_X402_Q_CREDIT_TAKE] = "gr_x402_credit_take", [GR_X402_Q_SET_PUT] = "gr_x402_set_put",
    [GR_X402_Q_SET_PENDING] = "gr_x402_set_pending", [GR_X402_Q_SET_RECENT] = "gr_x402_set_recent",
    [GR_X402_Q_LEDGER_UPD] = "gr_x402_ledger_upd",   [GR_X402_Q_UPTO_PUT] = "gr_x402_upto_put",
    [GR_X402_Q_UPTO_STATE] = "gr_x402_upto_state",   [GR_X402_Q_PAYMENT_GET] = "gr_x402_payment_get",
    [GR_X402_Q_SET_CLAIM] = "gr_x402_set_claim",     [GR_X402_Q_SET_LEASE] = "gr_x402_set_lease",
    [GR_X402_Q_BEGIN] = "gr_x402_begin",             [GR_X402_Q_COMMIT] = "gr_x402_commit",
    [GR_X402_Q_ROLLBACK] = "gr_x402_rollback",       [GR_X402_Q_SET_OPEN] = "gr_x402_set_open",
    [GR_X402_Q_SET_CLOSE] = "gr_x402_set_close",     [GR_X402_Q_SET_TAKE] = "gr_x402_set_take",
    [GR_X402_Q_HEARTBEAT] = "gr_x402_heartbeat",     [GR_X402_Q_INSTANCE_DEL] = "gr_x402_instance_del",
    [GR_X402_Q_LEDGER_SYNC] = "gr_x402_ledger_sync",
    [GR_X402_Q_PID_EXPIRE] = "gr_x402_pid_expire",   [GR_X402_Q_PID_INS] = "gr_x402_pid_ins",
    [GR_X402_Q_PID_GET] = "gr_x402_pid_get",         [GR_X402_Q_PID_DONE] = "gr_x402_pid_done",
    [GR_X402_Q_PID_DEL] = "gr_x402_pid_del",         [GR_X402_Q_PID_PRUNE] = "gr_x402_pid_prune",
};

/* Repeatable after a lost connection (a lost reply may hide a commit). */
static const bool pg_idempotent[GR_X402_Q_COUNT] = {
    [GR_X402_Q_NONCE_PRUNE] = true, [GR_X402_Q_CREDIT_GET] = true, [GR_X402_Q_SET_PUT] = true,
    [GR_X402_Q_SET_PENDING] = true, [GR_X402_Q_SET_RECENT] = true, [GR_X402_Q_LEDGER_UPD] = true,
    [GR_X402_Q_UPTO_PUT] = true,    [GR_X402_Q_UPTO_STATE] = true, [GR_X402_Q_PAYMENT_GET] = true,
    [GR_X402_Q_SET_LEASE] = true, /* the same owner taking its own lease again is harmless */
    [GR_X402_Q_HEARTBEAT] = true, [GR_X402_Q_INSTANCE_DEL] = true, [GR_X402_Q_LEDGER_SYNC] = true,
    [GR_X402_Q_PID_EXPIRE] = true, [GR_X402_Q_PID_GET] = true, [GR_X402_Q_PID_DONE] = true,
    [GR_X402_Q_PID_DEL] = true, [GR_X402_Q_PID_PRUNE] = true,
    /* never inside a transaction (x402_store.c clears the flag there): BEGIN/COMMIT/ROLLBACK are not
     * repeated on a new connection, which would have lost the transaction */
};

/* Append-only: migrations[i] brings the x402 schema from version i to i+1.
 * Never edit a shipped entry; add a new one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE x402_nonces(nonce_key text COLLATE \"C\" PRIMARY KEY, valid_before bigint NOT NULL,"
    " created_ms bigint NOT NULL);"
    "CREATE INDEX x402_nonces_vb ON x402_nonces(valid_before);"
    "CREATE TABLE x402_credit(payer text COLLATE \"C\" PRIMARY KEY, nusd bigint NOT NULL CHECK (nusd >= 0),"
    " updated_ms bigint NOT NULL);"
    "CREATE TABLE x402_settlements(request_id text COLLATE \"C\" PRIMARY KEY, payer text COLLATE \"C\" NOT NULL,"
    " chain_id bigint NOT NULL, asset text NOT NULL, amount text NOT NULL, version integer NOT NULL,"
    " header_b64 text NOT NULL, requirement text NOT NULL, paid_nusd bigint NOT NULL,"
    " credit_used_nusd bigint NOT NULL, cost_nusd bigint NOT NULL, state text NOT NULL, tx_hash text,"
    " attempts integer NOT NULL, error text, created_ms bigint NOT NULL, updated_ms bigint NOT NULL);"
    "CREATE INDEX x402_settlements_payer ON x402_settlements(payer, created_ms);"
    "CREATE INDEX x402_settlements_pending ON x402_settlements(created_ms) WHERE state = 'pending';"
    "CREATE TABLE x402_upto(request_id text COLLATE \"C\" PRIMARY KEY, payer text COLLATE \"C\" NOT NULL,"
    " chain_id bigint NOT NULL, asset text NOT NULL, max_amount text NOT NULL, settled_amount text NOT NULL,"
    " cost_nusd bigint NOT NULL, state text NOT NULL, tx_hash text, nonce_key text NOT NULL,"
    " created_ms bigint NOT NULL, updated_ms bigint NOT NULL);",
    /* 1 -> 2: the sending lease of a settlement job (owner instance, expiry) */
    "ALTER TABLE x402_settlements ADD COLUMN claimed_by text, ADD COLUMN lease_until bigint;",
    /* 2 -> 3: the signed raw tx (persisted before it is sent), the instances' heartbeats, and an
     * index of the live jobs (open: admitted and being served; pending; finishing: older binaries) */
    "ALTER TABLE x402_settlements ADD COLUMN raw_tx text;"
    "CREATE TABLE x402_instances(id text COLLATE \"C\" PRIMARY KEY, heartbeat_ms bigint NOT NULL);"
    "CREATE INDEX x402_settlements_live ON x402_settlements(created_ms)"
    " WHERE state IN ('open', 'pending', 'finishing');",
    /* 3 -> 4: payment-identifier (idempotent retries): one row per id, its reply once served */
    "CREATE TABLE x402_payment_ids(id text COLLATE \"C\" PRIMARY KEY, payer text COLLATE \"C\" NOT NULL,"
    " fingerprint text NOT NULL, request_id text NOT NULL, state text NOT NULL, status integer,"
    " settlement text, body text, created_ms bigint NOT NULL, updated_ms bigint, expires_ms bigint NOT NULL);"
    "CREATE INDEX x402_payment_ids_exp ON x402_payment_ids(expires_ms);",
};
#define X402_SCHEMA_VERSION ((int)GR_ARRAY_LEN(migrations))

/* pg_advisory_xact_lock key serializing x402 migrations of concurrent
 * instances ("x402migr" in ASCII; the main store uses "gaterout"). */
#define X402_MIGRATE_LOCK "8661600976482428786"

typedef struct pg_be {
    gr_x402_backend base;
    gr_pg_conn pg;
    bool prepared[GR_X402_Q_COUNT];
} pg_be;

static const char *pg_text(const gr_x402_row *r, int col) {
    const PGresult *res = r->impl;
    return gr_pq()->getisnull(res, r->index, col) ? NULL : gr_pq()->getvalue(res, r->index, col);
}

static int64_t pg_i64(const gr_x402_row *r, int col) {
    return strtoll(gr_pq()->getvalue((const PGresult *)r->impl, r->index, col), NULL, 10);
}

static gr_status pg_exec(gr_x402_backend *base, gr_x402_q which, const gr_store_param *p, int np,
                         gr_x402_row_fn fn, void *ctx, int64_t *changes) {
    pg_be *b = (pg_be *)base;
    if (np > GR_PG_MAX_ARGS) return GR_ERR_INVALID;
    gr_pg_args args = {0};
    for (int i = 0; i < np; i++) gr_pg_arg(&args, i, &p[i]);
    gr_status rc;
    PGresult *res = gr_pg_run(&b->pg, (size_t)which, pg_name[which], pg_sql[which], np, args.vals,
                              pg_idempotent[which] && !base->in_txn, &rc);
    if (res) {
        gr_x402_row row = {.text = pg_text, .i64 = pg_i64, .impl = res};
        int rows = gr_pq()->resultStatus(res) == PGRES_TUPLES_OK ? gr_pq()->ntuples(res) : 0;
        for (row.index = 0; fn && row.index < rows; row.index++)
            if (!fn(&row, ctx)) break;
    }
    gr_pg_args_done(&args, res, changes);
    return rc;
}

static void pg_close(gr_x402_backend *base) {
    pg_be *b = (pg_be *)base;
    gr_pg_disconnect(&b->pg);
    free(b);
}

static const gr_x402_backend_ops pg_ops = {.name = "postgres", .exec = pg_exec, .close = pg_close};

/* Brings the x402 tables to X402_SCHEMA_VERSION in one transaction. */
static gr_status migrate(pg_be *b, char *err, size_t errlen) {
    gr_pg_conn *c = &b->pg;
    gr_status rc;
    if ((rc = gr_pg_exec(c, "migrate", "BEGIN"))) goto fail;
    if ((rc = gr_pg_exec(c, "migrate lock", "SELECT pg_advisory_xact_lock(" X402_MIGRATE_LOCK ")")) ||
        (rc = gr_pg_exec(c, "migrate", "SET LOCAL statement_timeout = 0")) ||
        (rc = gr_pg_exec(c, "migrate",
                         "CREATE TABLE IF NOT EXISTS x402_schema_version("
                         "version integer PRIMARY KEY, applied_at_ms bigint NOT NULL)")))
        goto rollback;
    PGresult *res = gr_pq()->exec(c->conn, "SELECT COALESCE(MAX(version), 0) FROM x402_schema_version");
    if (gr_pq()->resultStatus(res) != PGRES_TUPLES_OK) {
        gr_pg_log(c, "migrate", gr_pq()->resultErrorMessage(res));
        gr_pq()->clear(res);
        rc = GR_ERR_IO;
        goto rollback;
    }
    int v = atoi(gr_pq()->getvalue(res, 0, 0));
    gr_pq()->clear(res);
    if (v > X402_SCHEMA_VERSION) {
        snprintf(err, errlen, "x402: payment schema version %d is newer than this binary (%d)", v,
                 X402_SCHEMA_VERSION);
        rc = GR_ERR_UNSUPPORTED;
        goto rollback;
    }
    for (; v < X402_SCHEMA_VERSION; v++) {
        char what[40], sql[128];
        snprintf(what, sizeof what, "x402 migration %d", v + 1);
        snprintf(sql, sizeof sql, "INSERT INTO x402_schema_version VALUES(%d, %" PRIu64 ")", v + 1, gr_wall_ms());
        if ((rc = gr_pg_exec(c, what, migrations[v])) || (rc = gr_pg_exec(c, what, sql))) goto rollback;
    }
    if ((rc = gr_pg_exec(c, "migrate commit", "COMMIT"))) goto fail;
    return GR_OK;
rollback:
    gr_pq()->clear(gr_pq()->exec(c->conn, "ROLLBACK"));
fail:
    if (!err[0]) snprintf(err, errlen, "x402: cannot set up the payment tables (see the log above)");
    return rc;
}

gr_status gr_x402_store_pg_open(const char *url, gr_x402_backend **out, char *err, size_t errlen) {
    *out = NULL;
    if (errlen) err[0] = '\0';
    pg_be *b = gr_xcalloc(1, sizeof *b);
    b->base.ops = &pg_ops;
    gr_status rc = gr_pg_connect(&b->pg, "x402 store", b->prepared, GR_X402_Q_COUNT, url, err, errlen);
    if (rc == GR_OK && (rc = migrate(b, err, errlen)) != GR_OK) gr_pg_disconnect(&b->pg);
    if (rc != GR_OK) {
        free(b);
        return rc;
    }
    *out = &b->base;
    return GR_OK;
}
