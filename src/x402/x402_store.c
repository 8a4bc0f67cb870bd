/* x402_store.c — persistence of the x402 replay guard, per-payer credit,
 * settlement jobs and upto records (see x402_store.h).
 *
 * Two layers:
 *  - the public API: parameters, row decoding, JSON, the mutex that
 *    serializes a store's calls; written once for every backend;
 *  - a backend (x402_store_be.h) that runs one of a fixed set of statements
 *    in its dialect: SQLite, here (its own connection to the store's file,
 *    tables created IF NOT EXISTS beside the store's versioned schema), or
 *    PostgreSQL (x402_store_pg.c, built with GR_HAVE_PG: its own connection
 *    and versioned x402_ schema). The backend follows the `store:` URL. */
#include "x402_store.h"
#include "store.h"
#include "x402_store_be.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- SQLite backend ---- */

/* WAL auto-checkpoint threshold (pages) of the x402 connections. These run on
 * the store executor, i.e. on the paid request's path, and SQLite runs an
 * auto-checkpoint inside the COMMIT that crosses the threshold: with
 * synchronous=NORMAL that is the only place a commit fsyncs (WAL, then the
 * database file: two fdatasync of several ms each on this machine). The
 * ledger writer's connection keeps SQLite's default (1000 pages) and commits
 * for every served request, so in practice it does the checkpoints, off the
 * request path; this threshold is only the backstop for a WAL that nothing
 * else checkpoints. Durability is unchanged: a commit is in the WAL either way. */
#define X402_SQLITE_WAL_AUTOCHECKPOINT 16384

#define SET_COLS                                                                                  \
    "request_id,payer,chain_id,asset,amount,version,header_b64,requirement,paid_nusd,"            \
    "credit_used_nusd,cost_nusd,state,tx_hash,attempts,error,created_ms"

static const char *const sqlite_sql[GR_X402_Q_COUNT] = {
    [GR_X402_Q_NONCE_INS] = "INSERT OR IGNORE INTO x402_nonces(nonce_key,valid_before,created_ms) VALUES(?1,?2,?3)",
    [GR_X402_Q_NONCE_PRUNE] = "DELETE FROM x402_nonces WHERE valid_before < ?1",
    [GR_X402_Q_CREDIT_GET] = "SELECT nusd FROM x402_credit WHERE payer=?1",
    [GR_X402_Q_CREDIT_ADD] = "INSERT INTO x402_credit(payer,nusd,updated_ms) VALUES(?1,MAX(?2,0),?3) "
                     "ON CONFLICT(payer) DO UPDATE SET nusd=MAX(nusd+?2,0),updated_ms=?3",
    [GR_X402_Q_CREDIT_TAKE] = "UPDATE x402_credit SET nusd=nusd-?2,updated_ms=?3 WHERE payer=?1 AND nusd>=?2",
    /* an upsert, not a REPLACE: the sending lease (claimed_by, lease_until) survives re-puts */
    [GR_X402_Q_SET_PUT] = "INSERT INTO x402_settlements(" SET_COLS ",updated_ms,raw_tx) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,"
                  "?9,?10,?11,?12,?13,?14,?15,?16,?17,NULLIF(?18,'')) "
                  "ON CONFLICT(request_id) DO UPDATE SET payer=excluded.payer,chain_id=excluded.chain_id,"
                  "asset=excluded.asset,amount=excluded.amount,version=excluded.version,"
                  "header_b64=excluded.header_b64,requirement=excluded.requirement,paid_nusd=excluded.paid_nusd,"
                  "credit_used_nusd=excluded.credit_used_nusd,cost_nusd=excluded.cost_nusd,state=excluded.state,"
                  "tx_hash=excluded.tx_hash,attempts=excluded.attempts,error=excluded.error,"
                  "created_ms=excluded.created_ms,updated_ms=excluded.updated_ms,raw_tx=excluded.raw_tx",
    [GR_X402_Q_SET_PENDING] = "SELECT " SET_COLS ",raw_tx,claimed_by FROM x402_settlements s "
                      "WHERE s.state IN ('open','pending','finishing') AND ((s.claimed_by=?1 AND (?2=1 OR (?2=2 AND s.state<>'open'))) OR "
                      "(COALESCE(s.claimed_by,'')<>?1 AND (NOT EXISTS(SELECT 1 FROM x402_instances i WHERE "
                      "i.id=s.claimed_by AND i.heartbeat_ms>=?3) OR (s.state<>'open' AND "
                      "COALESCE(s.lease_until,0)<?4)))) ORDER BY s.created_ms LIMIT ?5",
    [GR_X402_Q_SET_RECENT] = "SELECT s.request_id,s.chain_id,s.asset,s.amount,"
                     "CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,s.tx_hash,s.attempts,s.error,s.paid_nusd,"
                     "s.cost_nusd,s.credit_used_nusd,s.created_ms,s.updated_ms,u.max_amount FROM x402_settlements s "
                     "LEFT JOIN x402_upto u ON u.request_id=s.request_id WHERE s.payer=?1 AND s.state NOT IN ('skipped','zero','credit') "
                     "ORDER BY s.created_ms DESC LIMIT ?2",
    [GR_X402_Q_LEDGER_UPD] = "UPDATE ledger SET x402_settlement=?2,x402_tx_hash=NULLIF(?3,''),x402_credit_delta=?4 "
                     "WHERE request_id=?1",
    [GR_X402_Q_UPTO_PUT] = "INSERT OR REPLACE INTO x402_upto(request_id,payer,chain_id,asset,max_amount,settled_amount,cost_nusd,"
                   "state,tx_hash,nonce_key,created_ms,updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11)",
    [GR_X402_Q_UPTO_STATE] = "UPDATE x402_upto SET state=?2,tx_hash=NULLIF(?3,''),updated_ms=?4 WHERE request_id=?1",
    [GR_X402_Q_SET_CLAIM] = "UPDATE x402_settlements SET state='finishing',updated_ms=?2 WHERE request_id=?1 AND state='pending'",
    [GR_X402_Q_SET_LEASE] = "UPDATE x402_settlements SET claimed_by=?2,lease_until=?3 WHERE request_id=?1 AND "
                    "state='pending' AND (claimed_by IS NULL OR claimed_by=?2 OR lease_until IS NULL OR lease_until<?4)",
    [GR_X402_Q_PAYMENT_GET] = "SELECT u.request_id,u.payer,u.chain_id,u.asset,u.max_amount,u.settled_amount,u.cost_nusd,"
                      "COALESCE(CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,u.state),COALESCE(s.tx_hash,u.tx_hash),s.attempts,s.error,u.created_ms,"
                      "COALESCE(s.updated_ms,u.updated_ms) FROM x402_upto u "
                      "LEFT JOIN x402_settlements s ON s.request_id=u.request_id WHERE u.request_id=?1 "
                      "UNION ALL SELECT s.request_id,s.payer,s.chain_id,s.asset,NULL,s.amount,s.cost_nusd,"
                      "CASE WHEN s.state IN ('open','finishing') THEN 'pending' ELSE s.state END,s.tx_hash,s.attempts,s.error,s.created_ms,s.updated_ms FROM x402_settlements s "
                      "WHERE s.request_id=?1 AND NOT EXISTS(SELECT 1 FROM x402_upto u WHERE u.request_id=?1)",
    [GR_X402_Q_BEGIN] = "BEGIN IMMEDIATE",
    [GR_X402_Q_COMMIT] = "COMMIT",
    [GR_X402_Q_ROLLBACK] = "ROLLBACK",
    [GR_X402_Q_SET_OPEN] = "INSERT INTO x402_settlements(" SET_COLS ",updated_ms,claimed_by,lease_until) VALUES(?1,?2,?3,"
                   "?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)",
    [GR_X402_Q_SET_CLOSE] = "UPDATE x402_settlements SET state=?2,amount=?3,requirement=?4,paid_nusd=?5,credit_used_nusd=?6,"
                    "cost_nusd=?7,updated_ms=?8 WHERE request_id=?1 AND state='open'",
    [GR_X402_Q_SET_TAKE] = "UPDATE x402_settlements SET claimed_by=?2,lease_until=?3,updated_ms=?4,state=CASE WHEN state IN "
                   "('open','finishing') THEN 'pending' ELSE state END WHERE request_id=?1 AND state=?5 AND "
                   "COALESCE(claimed_by,'')=?6",
    [GR_X402_Q_HEARTBEAT] = "INSERT INTO x402_instances(id,heartbeat_ms) VALUES(?1,?2) ON CONFLICT(id) DO UPDATE SET "
                    "heartbeat_ms=excluded.heartbeat_ms",
    [GR_X402_Q_INSTANCE_DEL] = "DELETE FROM x402_instances WHERE id=?1",
    [GR_X402_Q_LEDGER_SYNC] = "UPDATE ledger SET x402_settlement=s.state,x402_tx_hash=NULLIF(s.tx_hash,''),x402_credit_delta="
                      "CASE WHEN EXISTS(SELECT 1 FROM x402_upto u WHERE u.request_id=s.request_id) THEN 0 WHEN "
                      "s.state='settled' THEN s.paid_nusd-s.cost_nusd ELSE -s.credit_used_nusd END FROM "
                      "x402_settlements s WHERE s.request_id=ledger.request_id AND s.state IN ('settled','failed',"
                      "'expired_unsettled') AND s.updated_ms>=?1 AND ledger.x402_settlement='pending'",
    [GR_X402_Q_PID_EXPIRE] = "DELETE FROM x402_payment_ids WHERE id=?1 AND expires_ms<?2",
    [GR_X402_Q_PID_INS] = "INSERT OR IGNORE INTO x402_payment_ids(id,payer,fingerprint,request_id,state,created_ms,"
                          "expires_ms) VALUES(?1,?2,?3,?4,'pending',?5,?6)",
    [GR_X402_Q_PID_GET] = "SELECT payer,fingerprint,state,request_id,status,settlement,body FROM x402_payment_ids "
                          "WHERE id=?1",
    [GR_X402_Q_PID_DONE] = "UPDATE x402_payment_ids SET state='done',status=?3,settlement=NULLIF(?4,''),"
                           "body=NULLIF(?5,''),updated_ms=?6 WHERE id=?1 AND request_id=?2 AND state='pending'",
    [GR_X402_Q_PID_DEL] = "DELETE FROM x402_payment_ids WHERE id=?1 AND request_id=?2 AND state='pending'",
    [GR_X402_Q_PID_PRUNE] = "DELETE FROM x402_payment_ids WHERE expires_ms<?1",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS x402_nonces(nonce_key TEXT PRIMARY KEY, valid_before INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS x402_nonces_vb ON x402_nonces(valid_before);"
    "CREATE TABLE IF NOT EXISTS x402_credit(payer TEXT PRIMARY KEY, nusd INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS x402_settlements(request_id TEXT PRIMARY KEY, payer TEXT NOT NULL,"
    " chain_id INTEGER NOT NULL, asset TEXT NOT NULL, amount TEXT NOT NULL, version INTEGER NOT NULL,"
    " header_b64 TEXT NOT NULL, requirement TEXT NOT NULL, paid_nusd INTEGER NOT NULL,"
    " credit_used_nusd INTEGER NOT NULL, cost_nusd INTEGER NOT NULL, state TEXT NOT NULL, tx_hash TEXT,"
    " attempts INTEGER NOT NULL, error TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS x402_settlements_payer ON x402_settlements(payer, created_ms);"
    "CREATE INDEX IF NOT EXISTS x402_settlements_state ON x402_settlements(state);"
    /* the instances settling jobs, each with its last heartbeat (wall clock ms) */
    "CREATE TABLE IF NOT EXISTS x402_instances(id TEXT PRIMARY KEY, heartbeat_ms INTEGER NOT NULL) WITHOUT ROWID;"
    /* upto: the authorised maximum beside the settled amount (one row per
     * admitted upto payment, also those settled at zero or not served) */
    "CREATE TABLE IF NOT EXISTS x402_upto(request_id TEXT PRIMARY KEY, payer TEXT NOT NULL,"
    " chain_id INTEGER NOT NULL, asset TEXT NOT NULL, max_amount TEXT NOT NULL, settled_amount TEXT NOT NULL,"
    " cost_nusd INTEGER NOT NULL, state TEXT NOT NULL, tx_hash TEXT, nonce_key TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    /* payment-identifier: one row per idempotency id (pending while its request runs, then its reply) */
    "CREATE TABLE IF NOT EXISTS x402_payment_ids(id TEXT PRIMARY KEY, payer TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, request_id TEXT NOT NULL, state TEXT NOT NULL, status INTEGER,"
    " settlement TEXT, body TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER,"
    " expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS x402_payment_ids_exp ON x402_payment_ids(expires_ms);";

/* Columns added after the first release, as (table, column, type): added by
 * ALTER TABLE when missing, under one write transaction (processes sharing
 * the file take turns). */
static const char *const SQLITE_ADDED[][3] = {
    {"x402_settlements", "claimed_by", "TEXT"},    /* sending lease: owner (instance id) */
    {"x402_settlements", "lease_until", "INTEGER"}, /* sending lease: expiry, wall clock ms */
    {"x402_settlements", "raw_tx", "TEXT"},        /* self-settlement: the signed tx, persisted before it is sent */
};

static bool sqlite_has_column(sqlite3 *db, const char *table, const char *col) {
    sqlite3_stmt *st = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name=?2", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, col, -1, SQLITE_STATIC);
        has = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return has;
}

static int sqlite_add_columns(sqlite3 *db, char **msg) {
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, msg);
    for (size_t i = 0; rc == SQLITE_OK && i < GR_ARRAY_LEN(SQLITE_ADDED); i++) {
        if (sqlite_has_column(db, SQLITE_ADDED[i][0], SQLITE_ADDED[i][1])) continue;
        char sql[160];
        snprintf(sql, sizeof sql, "ALTER TABLE %s ADD COLUMN %s %s", SQLITE_ADDED[i][0], SQLITE_ADDED[i][1],
                 SQLITE_ADDED[i][2]);
        rc = sqlite3_exec(db, sql, NULL, NULL, msg);
    }
    if (rc == SQLITE_OK) return sqlite3_exec(db, "COMMIT", NULL, NULL, msg);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

typedef struct sqlite_be {
    gr_x402_backend base;
    sqlite3 *db;
    sqlite3_stmt *q[GR_X402_Q_COUNT];
} sqlite_be;

static sqlite3_stmt *sq_stmt(sqlite_be *b, gr_x402_q which) {
    if (!b->q[which] &&
        sqlite3_prepare_v3(b->db, sqlite_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &b->q[which], NULL) != SQLITE_OK) {
        fprintf(stderr, "gaterouter: x402 store: prepare failed: %s\n", sqlite3_errmsg(b->db));
        return NULL;
    }
    return b->q[which];
}

static const char *sq_text(const gr_x402_row *r, int col) {
    return (const char *)sqlite3_column_text((sqlite3_stmt *)r->impl, col);
}

static int64_t sq_i64(const gr_x402_row *r, int col) { return sqlite3_column_int64((sqlite3_stmt *)r->impl, col); }

static gr_status sq_exec(gr_x402_backend *base, gr_x402_q which, const gr_store_param *p, int np, gr_x402_row_fn fn,
                         void *ctx, int64_t *changes) {
    sqlite_be *b = (sqlite_be *)base;
    sqlite3_stmt *st = sq_stmt(b, which);
    if (!st) return GR_ERR_IO;
    for (int i = 0; i < np; i++) {
        if (p[i].is_int) sqlite3_bind_int64(st, i + 1, p[i].i64);
        else if (p[i].text) sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_TRANSIENT);
        else sqlite3_bind_null(st, i + 1);
    }
    gr_x402_row row = {.text = sq_text, .i64 = sq_i64, .impl = st};
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn && !fn(&row, ctx)) break;
        row.index++;
    }
    gr_status rc = r == SQLITE_DONE || r == SQLITE_ROW ? GR_OK : GR_ERR_IO;
    if (changes) *changes = rc == GR_OK ? sqlite3_changes(b->db) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void sq_close(gr_x402_backend *base) {
    sqlite_be *b = (sqlite_be *)base;
    for (int i = 0; i < GR_X402_Q_COUNT; i++) sqlite3_finalize(b->q[i]);
    sqlite3_close(b->db);
    free(b);
}

static const gr_x402_backend_ops sqlite_ops = {.name = "sqlite", .exec = sq_exec, .close = sq_close};

/* "sqlite://<path>[?opts]" -> path (malloc'd) */
static char *sqlite_path(const char *url, char *err, size_t errlen) {
    static const char pfx[] = "sqlite://";
    if (!url || strncmp(url, pfx, sizeof pfx - 1) != 0) {
        char safe[256];
        gr_store_url_redact(url, safe, sizeof safe);
        snprintf(err, errlen, "x402: the payment store needs a sqlite:// or postgres:// store (got '%s')", safe);
        return NULL;
    }
    const char *rest = url + sizeof pfx - 1;
    const char *qm = strchr(rest, '?');
    char *p = qm ? gr_xstrndup(rest, (size_t)(qm - rest)) : gr_xstrdup(rest);
    if (!*p) {
        free(p);
        snprintf(err, errlen, "x402: empty sqlite path in '%s'", url);
        return NULL;
    }
    return p;
}

static gr_status sqlite_open(const char *url, gr_x402_backend **out, char *err, size_t errlen) {
    *out = NULL;
    char *path = sqlite_path(url, err, errlen);
    if (!path) return GR_ERR_INVALID;
    sqlite_be *b = gr_xcalloc(1, sizeof *b);
    b->base.ops = &sqlite_ops;
    bool memory = strcmp(path, ":memory:") == 0;
    int rc = sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "x402: cannot open '%s': %s", path, b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(b->db, 5000);
    char *msg = NULL;
    const char *pragmas = memory ? "PRAGMA journal_mode=MEMORY;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    if (sqlite3_exec(b->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(b->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK || sqlite_add_columns(b->db, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "x402: cannot set up the payment tables in '%s': %s", path,
                 msg ? msg : sqlite3_errmsg(b->db));
        sqlite3_free(msg);
        goto fail;
    }
    if (!memory) sqlite3_wal_autocheckpoint(b->db, X402_SQLITE_WAL_AUTOCHECKPOINT);
    if (memory) /* a private in-memory database has no ledger table: give it one to update */
        sqlite3_exec(b->db,
                     "CREATE TABLE IF NOT EXISTS ledger(request_id TEXT UNIQUE, x402_settlement TEXT,"
                     " x402_tx_hash TEXT, x402_credit_delta INTEGER)",
                     NULL, NULL, NULL);
    free(path);
    *out = &b->base;
    return GR_OK;
fail:
    free(path);
    sqlite3_close(b->db);
    free(b);
    return GR_ERR_IO;
}

/* ---- the API, backend-neutral ---- */

struct gr_x402_store {
    gr_x402_backend *be;
    pthread_mutex_t mu;
};

/* One statement; the caller holds the store's mutex. */
static gr_status exec_locked(gr_x402_store *s, gr_x402_q which, const gr_store_param *p, int np, gr_x402_row_fn fn,
                             void *ctx, int64_t *changes) {
    return s->be->ops->exec(s->be, which, p, np, fn, ctx, changes);
}

/* One statement under the store's mutex. */
static gr_status run(gr_x402_store *s, gr_x402_q which, const gr_store_param *p, int np, gr_x402_row_fn fn,
                     void *ctx, int64_t *changes) {
    pthread_mutex_lock(&s->mu);
    gr_status rc = exec_locked(s, which, p, np, fn, ctx, changes);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* A write transaction: takes the mutex and begins; txn_end commits (ok) or
 * rolls back, and releases the mutex. */
static gr_status txn_begin(gr_x402_store *s) {
    pthread_mutex_lock(&s->mu);
    gr_status rc = exec_locked(s, GR_X402_Q_BEGIN, NULL, 0, NULL, NULL, NULL);
    if (rc != GR_OK) {
        pthread_mutex_unlock(&s->mu);
        return GR_ERR_IO;
    }
    s->be->in_txn = true;
    return GR_OK;
}

static gr_status txn_end(gr_x402_store *s, bool ok) {
    gr_status rc = GR_ERR_IO;
    if (ok) rc = exec_locked(s, GR_X402_Q_COMMIT, NULL, 0, NULL, NULL, NULL);
    if (rc != GR_OK) (void)exec_locked(s, GR_X402_Q_ROLLBACK, NULL, 0, NULL, NULL, NULL);
    s->be->in_txn = false;
    pthread_mutex_unlock(&s->mu);
    return ok && rc == GR_OK ? GR_OK : GR_ERR_IO;
}

/* A text parameter; NULL binds as '' like the columns' NOT NULL wants. */
#define P_TEXT(v) GR_STORE_TEXT((v) ? (v) : "")
#define P_INT(v) GR_STORE_INT(v)

static const char *row_text(const gr_x402_row *r, int col) {
    const char *t = r->text(r, col);
    return t ? t : "";
}

static void row_copy(const gr_x402_row *r, int col, char *dst, size_t cap) {
    snprintf(dst, cap, "%s", row_text(r, col));
}

static bool is_pg_url(const char *url) {
    return url && (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0);
}

gr_status gr_x402_store_open(const char *store_url, gr_x402_store **out, char *err, size_t errlen) {
    *out = NULL;
    gr_x402_backend *be = NULL;
    gr_status rc;
    if (is_pg_url(store_url)) {
#ifdef GR_HAVE_PG
        rc = gr_x402_store_pg_open(store_url, &be, err, errlen);
#else
        snprintf(err, errlen, "x402: this binary was built without PostgreSQL (libpq)");
        rc = GR_ERR_UNSUPPORTED;
#endif
    } else {
        rc = sqlite_open(store_url, &be, err, errlen);
    }
    if (rc != GR_OK) return rc;
    gr_x402_store *s = gr_xcalloc(1, sizeof *s);
    s->be = be;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return GR_OK;
}

void gr_x402_store_close(gr_x402_store *s) {
    if (!s) return;
    s->be->ops->close(s->be);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

gr_status gr_x402_store_nonce_reserve(gr_x402_store *s, const char *key, int64_t valid_before) {
    const gr_store_param p[] = {P_TEXT(key), P_INT(valid_before), P_INT(gr_wall_ms())};
    int64_t n = 0;
    gr_status rc = run(s, GR_X402_Q_NONCE_INS, p, 3, NULL, NULL, &n);
    if (rc == GR_OK) return n == 1 ? GR_OK : GR_ERR_INVALID;
    return GR_ERR_IO; /* never mistaken for a replay: the caller fails closed with 503 */
}

void gr_x402_store_nonce_prune(gr_x402_store *s, int64_t now_unix) {
    const gr_store_param p[] = {P_INT(now_unix)};
    (void)run(s, GR_X402_Q_NONCE_PRUNE, p, 1, NULL, NULL, NULL);
    const gr_store_param pp[] = {P_INT(gr_wall_ms())};
    (void)run(s, GR_X402_Q_PID_PRUNE, pp, 1, NULL, NULL, NULL);
}

static bool read_i64(const gr_x402_row *r, void *ctx) {
    *(int64_t *)ctx = r->i64(r, 0);
    return false;
}

gr_status gr_x402_store_credit_get(gr_x402_store *s, const char *payer, int64_t *nusd) {
    *nusd = 0;
    const gr_store_param p[] = {P_TEXT(payer)};
    int64_t v = 0;
    gr_status rc = run(s, GR_X402_Q_CREDIT_GET, p, 1, read_i64, &v, NULL);
    if (rc != GR_OK) return GR_ERR_IO;
    *nusd = v;
    return GR_OK;
}

void gr_x402_pid_rec_dispose(gr_x402_pid_rec *r) {
    if (!r) return;
    free(r->settlement);
    free(r->body);
    r->settlement = r->body = NULL;
}

static bool read_pid(const gr_x402_row *r, void *ctx) {
    gr_x402_pid_rec *o = ctx;
    const char *state = r->text(r, 2);
    snprintf(o->payer, sizeof o->payer, "%s", r->text(r, 0) ? r->text(r, 0) : "");
    snprintf(o->fingerprint, sizeof o->fingerprint, "%s", r->text(r, 1) ? r->text(r, 1) : "");
    o->state = state && !strcmp(state, "done") ? GR_X402_PID_DONE : GR_X402_PID_PENDING;
    snprintf(o->request_id, sizeof o->request_id, "%s", r->text(r, 3) ? r->text(r, 3) : "");
    o->status = (int)r->i64(r, 4);
    o->settlement = r->text(r, 5) ? gr_xstrdup(r->text(r, 5)) : NULL;
    o->body = r->text(r, 6) ? gr_xstrdup(r->text(r, 6)) : NULL;
    return false;
}

gr_status gr_x402_store_pid_begin(gr_x402_store *s, const char *id, const char *payer, const char *fingerprint,
                                  const char *request_id, int64_t ttl_ms, gr_x402_pid_rec *rec) {
    *rec = (gr_x402_pid_rec){.state = GR_X402_PID_NEW};
    if (txn_begin(s) != GR_OK) return GR_ERR_IO;
    int64_t now = (int64_t)gr_wall_ms(), n = 0;
    const gr_store_param ep[] = {P_TEXT(id), P_INT(now)};
    const gr_store_param ip[] = {P_TEXT(id), P_TEXT(payer), P_TEXT(fingerprint), P_TEXT(request_id), P_INT(now),
                                P_INT(now + ttl_ms)};
    const gr_store_param gp[] = {P_TEXT(id)};
    bool ok = exec_locked(s, GR_X402_Q_PID_EXPIRE, ep, 2, NULL, NULL, NULL) == GR_OK &&
              exec_locked(s, GR_X402_Q_PID_INS, ip, 6, NULL, NULL, &n) == GR_OK;
    if (ok && n != 1) ok = exec_locked(s, GR_X402_Q_PID_GET, gp, 1, read_pid, rec, NULL) == GR_OK;
    if (txn_end(s, ok) != GR_OK) {
        gr_x402_pid_rec_dispose(rec);
        return GR_ERR_IO;
    }
    return GR_OK;
}

gr_status gr_x402_store_pid_done(gr_x402_store *s, const char *id, const char *request_id, int status,
                                 const char *settlement, const char *body) {
    const gr_store_param p[] = {P_TEXT(id), P_TEXT(request_id), P_INT(status), P_TEXT(settlement ? settlement : ""),
                               P_TEXT(body ? body : ""), P_INT(gr_wall_ms())};
    return run(s, GR_X402_Q_PID_DONE, p, 6, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_pid_drop(gr_x402_store *s, const char *id, const char *request_id) {
    const gr_store_param p[] = {P_TEXT(id), P_TEXT(request_id)};
    return run(s, GR_X402_Q_PID_DEL, p, 2, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_credit_add(gr_x402_store *s, const char *payer, int64_t delta) {
    const gr_store_param p[] = {P_TEXT(payer), P_INT(delta), P_INT(gr_wall_ms())};
    return run(s, GR_X402_Q_CREDIT_ADD, p, 3, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_credit_take(gr_x402_store *s, const char *payer, int64_t amount) {
    const gr_store_param p[] = {P_TEXT(payer), P_INT(amount), P_INT(gr_wall_ms())};
    int64_t n = 0;
    if (run(s, GR_X402_Q_CREDIT_TAKE, p, 3, NULL, NULL, &n) != GR_OK) return GR_ERR_IO;
    return n == 1 ? GR_OK : GR_ERR_INVALID;
}

void gr_x402_settle_rec_dispose(gr_x402_settle_rec *r) {
    if (!r) return;
    free(r->header_b64);
    free(r->requirement_json);
    free(r->raw_tx);
    r->header_b64 = r->requirement_json = r->raw_tx = NULL;
}

/* The 16 settlement columns of r, in SET_PUT / SET_OPEN order, then updated_ms. */
#define SETTLE_PARAMS(r)                                                                                       \
    P_TEXT((r)->request_id), P_TEXT((r)->payer), P_INT((int64_t)(r)->chain_id), P_TEXT((r)->asset),          \
        P_TEXT((r)->amount), P_INT((r)->version), P_TEXT((r)->header_b64), P_TEXT((r)->requirement_json),    \
        P_INT((r)->paid_nusd), P_INT((r)->credit_used_nusd), P_INT((r)->cost_nusd), P_TEXT((r)->state),      \
        P_TEXT((r)->tx_hash), P_INT((r)->attempts), P_TEXT((r)->error), P_INT((r)->created_ms), P_INT(gr_wall_ms())

gr_status gr_x402_store_settlement_put(gr_x402_store *s, const gr_x402_settle_rec *r) {
    const gr_store_param p[] = {SETTLE_PARAMS(r), P_TEXT(r->raw_tx)};
    return run(s, GR_X402_Q_SET_PUT, p, (int)GR_ARRAY_LEN(p), NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

typedef struct pending_ctx {
    gr_x402_settle_rec *arr;
    size_t n, cap;
} pending_ctx;

static bool read_pending(const gr_x402_row *r, void *ctx) {
    pending_ctx *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->arr = gr_xrealloc(c->arr, c->cap * sizeof *c->arr);
    }
    gr_x402_settle_rec *e = &c->arr[c->n++];
    memset(e, 0, sizeof *e);
    row_copy(r, 0, e->request_id, sizeof e->request_id);
    row_copy(r, 1, e->payer, sizeof e->payer);
    e->chain_id = (uint64_t)r->i64(r, 2);
    row_copy(r, 3, e->asset, sizeof e->asset);
    row_copy(r, 4, e->amount, sizeof e->amount);
    e->version = (int)r->i64(r, 5);
    e->header_b64 = gr_xstrdup(row_text(r, 6));
    e->requirement_json = gr_xstrdup(row_text(r, 7));
    e->paid_nusd = r->i64(r, 8);
    e->credit_used_nusd = r->i64(r, 9);
    e->cost_nusd = r->i64(r, 10);
    row_copy(r, 11, e->state, sizeof e->state);
    row_copy(r, 12, e->tx_hash, sizeof e->tx_hash);
    e->attempts = (int)r->i64(r, 13);
    row_copy(r, 14, e->error, sizeof e->error);
    e->created_ms = r->i64(r, 15);
    const char *raw = r->text(r, 16);
    e->raw_tx = raw && *raw ? gr_xstrdup(raw) : NULL;
    row_copy(r, 17, e->claimed_by, sizeof e->claimed_by);
    return true;
}

gr_status gr_x402_store_settlements_orphaned(gr_x402_store *s, const char *me, int mine,
                                             int64_t alive_since_ms, int64_t now_ms, int limit,
                                             gr_x402_settle_rec **arr, size_t *n) {
    *arr = NULL;
    *n = 0;
    pending_ctx c = {0};
    const gr_store_param p[] = {P_TEXT(me), P_INT(mine), P_INT(alive_since_ms), P_INT(now_ms),
                               P_INT(limit)};
    gr_status rc = run(s, GR_X402_Q_SET_PENDING, p, (int)GR_ARRAY_LEN(p), read_pending, &c, NULL);
    if (rc != GR_OK) {
        for (size_t i = 0; i < c.n; i++) gr_x402_settle_rec_dispose(&c.arr[i]);
        free(c.arr);
        return GR_ERR_IO;
    }
    *arr = c.arr;
    *n = c.n;
    return GR_OK;
}

static void add_network(cJSON *o, int64_t chain_id) {
    char net[32];
    snprintf(net, sizeof net, "eip155:%lld", (long long)chain_id);
    cJSON_AddStringToObject(o, "network", net);
}

static bool read_recent(const gr_x402_row *r, void *ctx) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return false;
    cJSON_AddItemToArray((cJSON *)ctx, o);
    cJSON_AddStringToObject(o, "request_id", row_text(r, 0));
    add_network(o, r->i64(r, 1));
    cJSON_AddStringToObject(o, "asset", row_text(r, 2));
    cJSON_AddStringToObject(o, "amount", row_text(r, 3));
    cJSON_AddStringToObject(o, "state", row_text(r, 4));
    cJSON_AddStringToObject(o, "transaction", row_text(r, 5));
    cJSON_AddNumberToObject(o, "attempts", (double)r->i64(r, 6));
    const char *t = r->text(r, 7);
    if (t && *t) cJSON_AddStringToObject(o, "error", t);
    cJSON_AddNumberToObject(o, "paid_nusd", (double)r->i64(r, 8));
    cJSON_AddNumberToObject(o, "cost_nusd", (double)r->i64(r, 9));
    cJSON_AddNumberToObject(o, "credit_used_nusd", (double)r->i64(r, 10));
    cJSON_AddNumberToObject(o, "created_ms", (double)r->i64(r, 11));
    cJSON_AddNumberToObject(o, "updated_ms", (double)r->i64(r, 12));
    t = r->text(r, 13);
    cJSON_AddStringToObject(o, "scheme", t ? "upto" : "exact");
    if (t) cJSON_AddStringToObject(o, "max_amount", t);
    return true;
}

gr_status gr_x402_store_settlements_recent(gr_x402_store *s, const char *payer, int limit, cJSON *arr) {
    const gr_store_param p[] = {P_TEXT(payer), P_INT(limit)};
    return run(s, GR_X402_Q_SET_RECENT, p, 2, read_recent, arr, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_ledger_update(gr_x402_store *s, const char *request_id, const char *state,
                                      const char *tx_hash, int64_t credit_delta_nusd, bool *changed) {
    *changed = false;
    const gr_store_param p[] = {P_TEXT(request_id), P_TEXT(state), P_TEXT(tx_hash), P_INT(credit_delta_nusd)};
    int64_t n = 0;
    if (run(s, GR_X402_Q_LEDGER_UPD, p, 4, NULL, NULL, &n) != GR_OK) return GR_ERR_IO;
    *changed = n > 0;
    return GR_OK;
}

static gr_status upto_put_locked(gr_x402_store *s, const gr_x402_upto_rec *r);

gr_status gr_x402_store_admit(gr_x402_store *s, const char *nonce_key, int64_t valid_before, const char *payer,
                              int64_t take, const gr_x402_settle_rec *job, const gr_x402_upto_rec *upto,
                              const char *owner, int64_t lease_ms, gr_x402_admit_result *out) {
    *out = GR_X402_ADMIT_REPLAY;
    if (txn_begin(s) != GR_OK) return GR_ERR_IO;
    int64_t n = 0;
    const gr_store_param np[] = {P_TEXT(nonce_key), P_INT(valid_before), P_INT(gr_wall_ms())};
    bool ok = exec_locked(s, GR_X402_Q_NONCE_INS, np, 3, NULL, NULL, &n) == GR_OK;
    if (ok && n != 1) { /* a replay: nothing to write */
        (void)txn_end(s, false);
        return GR_OK;
    }
    if (ok && take > 0) {
        const gr_store_param cp[] = {P_TEXT(payer), P_INT(take), P_INT(gr_wall_ms())};
        ok = exec_locked(s, GR_X402_Q_CREDIT_TAKE, cp, 3, NULL, NULL, &n) == GR_OK;
        if (ok && n != 1) { /* the credit is gone: neither the nonce nor anything else is kept */
            (void)txn_end(s, false);
            *out = GR_X402_ADMIT_NO_CREDIT;
            return GR_OK;
        }
    }
    if (ok && job) {
        const gr_store_param jp[] = {SETTLE_PARAMS(job), P_TEXT(owner), P_INT(gr_wall_ms() + (uint64_t)lease_ms)};
        ok = exec_locked(s, GR_X402_Q_SET_OPEN, jp, (int)GR_ARRAY_LEN(jp), NULL, NULL, NULL) == GR_OK;
    }
    if (ok && upto) ok = upto_put_locked(s, upto) == GR_OK;
    if (txn_end(s, ok) != GR_OK) return GR_ERR_IO;
    *out = GR_X402_ADMITTED;
    return GR_OK;
}

gr_status gr_x402_store_settlement_close(gr_x402_store *s, const gr_x402_settle_rec *job, int64_t credit_delta,
                                         const gr_x402_upto_rec *upto, bool *closed) {
    *closed = false;
    if (txn_begin(s) != GR_OK) return GR_ERR_IO;
    const gr_store_param p[] = {P_TEXT(job->request_id), P_TEXT(job->state), P_TEXT(job->amount),
                               P_TEXT(job->requirement_json), P_INT(job->paid_nusd), P_INT(job->credit_used_nusd),
                               P_INT(job->cost_nusd), P_INT(gr_wall_ms())};
    int64_t n = 0;
    bool ok = exec_locked(s, GR_X402_Q_SET_CLOSE, p, (int)GR_ARRAY_LEN(p), NULL, NULL, &n) == GR_OK;
    if (ok && n == 1 && credit_delta) {
        const gr_store_param cp[] = {P_TEXT(job->payer), P_INT(credit_delta), P_INT(gr_wall_ms())};
        ok = exec_locked(s, GR_X402_Q_CREDIT_ADD, cp, 3, NULL, NULL, NULL) == GR_OK;
    }
    if (ok && n == 1 && upto) ok = upto_put_locked(s, upto) == GR_OK;
    if (txn_end(s, ok) != GR_OK) return GR_ERR_IO;
    *closed = n == 1;
    return GR_OK;
}

gr_status gr_x402_store_settlement_finish(gr_x402_store *s, const gr_x402_settle_rec *job, int64_t credit_gain,
                                          bool upto, int64_t ledger_delta, bool need_ledger, bool *won, bool *in_ledger) {
    *won = *in_ledger = false;
    if (txn_begin(s) != GR_OK) return GR_ERR_IO;
    const gr_store_param cl[] = {P_TEXT(job->request_id), P_INT(gr_wall_ms())};
    int64_t n = 0, rows = 0;
    bool ok = exec_locked(s, GR_X402_Q_SET_CLAIM, cl, 2, NULL, NULL, &n) == GR_OK;
    if (ok && n == 1) {
        const gr_store_param lp[] = {P_TEXT(job->request_id), P_TEXT(job->state), P_TEXT(job->tx_hash),
                                    P_INT(ledger_delta)};
        ok = exec_locked(s, GR_X402_Q_LEDGER_UPD, lp, 4, NULL, NULL, &rows) == GR_OK;
        if (ok && rows == 0 && need_ledger) { /* the ledger writer has not committed the row yet */
            (void)txn_end(s, false);
            return GR_ERR_NOT_FOUND;
        }
    }
    if (ok && n == 1 && credit_gain) {
        const gr_store_param cp[] = {P_TEXT(job->payer), P_INT(credit_gain), P_INT(gr_wall_ms())};
        ok = exec_locked(s, GR_X402_Q_CREDIT_ADD, cp, 3, NULL, NULL, NULL) == GR_OK;
    }
    if (ok && n == 1 && upto) {
        const gr_store_param up[] = {P_TEXT(job->request_id), P_TEXT(job->state), P_TEXT(job->tx_hash),
                                    P_INT(gr_wall_ms())};
        ok = exec_locked(s, GR_X402_Q_UPTO_STATE, up, 4, NULL, NULL, NULL) == GR_OK;
    }
    if (ok && n == 1) {
        const gr_store_param jp[] = {SETTLE_PARAMS(job), P_TEXT(job->raw_tx)};
        ok = exec_locked(s, GR_X402_Q_SET_PUT, jp, (int)GR_ARRAY_LEN(jp), NULL, NULL, NULL) == GR_OK;
    }
    if (txn_end(s, ok) != GR_OK) return GR_ERR_IO;
    *won = n == 1;
    *in_ledger = rows > 0;
    return GR_OK;
}

gr_status gr_x402_store_settlement_take(gr_x402_store *s, const gr_x402_settle_rec *seen, const char *me,
                                        int64_t now_ms, int64_t lease_ms, bool *taken) {
    *taken = false;
    const gr_store_param p[] = {P_TEXT(seen->request_id), P_TEXT(me),          P_INT(now_ms + lease_ms),
                               P_INT(now_ms),            P_TEXT(seen->state), P_TEXT(seen->claimed_by)};
    int64_t n = 0;
    if (run(s, GR_X402_Q_SET_TAKE, p, (int)GR_ARRAY_LEN(p), NULL, NULL, &n) != GR_OK) return GR_ERR_IO;
    *taken = n == 1;
    return GR_OK;
}

gr_status gr_x402_store_heartbeat(gr_x402_store *s, const char *id, int64_t now_ms) {
    const gr_store_param p[] = {P_TEXT(id), P_INT(now_ms)};
    return run(s, GR_X402_Q_HEARTBEAT, p, 2, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_instance_gone(gr_x402_store *s, const char *id) {
    const gr_store_param p[] = {P_TEXT(id)};
    return run(s, GR_X402_Q_INSTANCE_DEL, p, 1, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_ledger_sync(gr_x402_store *s, int64_t since_ms, int64_t *changed) {
    const gr_store_param p[] = {P_INT(since_ms)};
    int64_t n = 0;
    gr_status rc = run(s, GR_X402_Q_LEDGER_SYNC, p, 1, NULL, NULL, &n);
    if (changed) *changed = rc == GR_OK ? n : 0;
    return rc == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_settlement_lease(gr_x402_store *s, const char *request_id, const char *owner, int64_t now_ms,
                                         int64_t lease_ms, bool *held) {
    *held = false;
    const gr_store_param p[] = {P_TEXT(request_id), P_TEXT(owner), P_INT(now_ms + lease_ms), P_INT(now_ms)};
    int64_t n = 0;
    if (run(s, GR_X402_Q_SET_LEASE, p, (int)GR_ARRAY_LEN(p), NULL, NULL, &n) != GR_OK) return GR_ERR_IO;
    *held = n > 0;
    return GR_OK;
}

static gr_status upto_put_locked(gr_x402_store *s, const gr_x402_upto_rec *r) {
    const gr_store_param p[] = {
        P_TEXT(r->request_id), P_TEXT(r->payer),      P_INT((int64_t)r->chain_id),
        P_TEXT(r->asset),      P_TEXT(r->max_amount), P_TEXT(r->settled_amount),
        P_INT(r->cost_nusd),   P_TEXT(r->state),      GR_STORE_TEXT(r->tx_hash[0] ? r->tx_hash : NULL),
        P_TEXT(r->nonce_key),  P_INT(gr_wall_ms()),
    };
    return exec_locked(s, GR_X402_Q_UPTO_PUT, p, (int)GR_ARRAY_LEN(p), NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

gr_status gr_x402_store_upto_put(gr_x402_store *s, const gr_x402_upto_rec *r) {
    pthread_mutex_lock(&s->mu);
    gr_status rc = upto_put_locked(s, r);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_upto_state(gr_x402_store *s, const char *request_id, const char *state, const char *tx_hash) {
    const gr_store_param p[] = {P_TEXT(request_id), P_TEXT(state), P_TEXT(tx_hash), P_INT(gr_wall_ms())};
    return run(s, GR_X402_Q_UPTO_STATE, p, 4, NULL, NULL, NULL) == GR_OK ? GR_OK : GR_ERR_IO;
}

typedef struct payment_ctx {
    cJSON *o;
    bool found;
} payment_ctx;

static bool read_payment(const gr_x402_row *r, void *ctx) {
    payment_ctx *c = ctx;
    cJSON *o = c->o;
    c->found = true;
    bool upto = r->text(r, 4) != NULL;
    cJSON_AddStringToObject(o, "request_id", row_text(r, 0));
    cJSON_AddStringToObject(o, "scheme", upto ? "upto" : "exact");
    cJSON_AddStringToObject(o, "payer", row_text(r, 1));
    add_network(o, r->i64(r, 2));
    cJSON_AddStringToObject(o, "asset", row_text(r, 3));
    if (upto) cJSON_AddStringToObject(o, "max_amount", row_text(r, 4));
    cJSON_AddStringToObject(o, "amount", row_text(r, 5));
    cJSON_AddNumberToObject(o, "cost_nusd", (double)r->i64(r, 6));
    cJSON_AddStringToObject(o, "state", row_text(r, 7));
    cJSON_AddStringToObject(o, "transaction", row_text(r, 8));
    cJSON_AddNumberToObject(o, "attempts", (double)r->i64(r, 9));
    if (*row_text(r, 10)) cJSON_AddStringToObject(o, "error", row_text(r, 10));
    cJSON_AddNumberToObject(o, "created_ms", (double)r->i64(r, 11));
    cJSON_AddNumberToObject(o, "updated_ms", (double)r->i64(r, 12));
    return false;
}

gr_status gr_x402_store_payment_get(gr_x402_store *s, const char *request_id, cJSON *o) {
    const gr_store_param p[] = {P_TEXT(request_id)};
    payment_ctx c = {.o = o};
    if (run(s, GR_X402_Q_PAYMENT_GET, p, 1, read_payment, &c, NULL) != GR_OK) return GR_ERR_IO;
    return c.found ? GR_OK : GR_ERR_NOT_FOUND;
}
