/* store_sqlite.c — the SQLite backend of the store interface (store.h): WAL
 * journal, versioned schema migrations, prepared statements, one mutex per
 * handle.
 *
 * Durability: journal_mode=WAL with synchronous=NORMAL (default) or FULL
 * (URL option ?synchronous=full). In WAL mode a committed transaction is in
 * the WAL file (OS page cache) when COMMIT returns, so a process crash or
 * kill -9 never loses or corrupts it, with either setting. NORMAL skips the
 * fsync at commit: after a power loss / kernel crash the most recent commits
 * (since the last checkpoint fsync) may roll back, but the database stays
 * consistent. FULL fsyncs the WAL on every commit and survives power loss
 * too, at the price of one fsync per ledger batch (batches amortize it). */
#include "store.h"
#include "store_alert_sql.h"
#include "store_learn_sql.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <strings.h>
#include <sys/stat.h>

enum {
    ST_KEY_INSERT,
    ST_KEY_UPDATE,
    ST_KEY_GET,
    ST_KEY_LIST,
    ST_SPEND_GET,
    ST_LEDGER_INSERT,
    ST_SPEND_ADD,
    ST_GEN_GET,
    ST_FB_GET,
    ST_FB_PUT,
    ST_LEARNED_ADD,
    ST_LEARNED_LIST,
    ST_LEDGER_SCAN,
    ST_ALERT_PUT,
    ST_ALERT_PENDING,
    ST_ALERT_DONE,
    ST_COUNT
};

typedef struct sqlite_store {
    gr_store base;
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *st[ST_COUNT];
} sqlite_store;

#define KEY_COLS                                                                            \
    "id,hash,prefix,name,models,metadata,budget_total,budget_daily,budget_monthly,rpm,tpm," \
    "expires_at,created_at,updated_at,revoked_at,prev_hash,prev_until"

#define LEDGER_COLS                                                                        \
    "request_id,ts_ms,key_id,payer,model_asked,model_served,provider,tokens_in,tokens_out," \
    "tokens_cached,tokens_reasoning,cost_nusd,estimated,latency_us,ttft_us,status,"        \
    "route_reason,error_type,x402_amount,x402_credit_delta,x402_network,x402_tx_hash,"     \
    "x402_settlement,client_request_id,tokens_cache_write,route_learn,attempts"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_KEY_INSERT] = "INSERT INTO keys(" KEY_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULLIF(?16,''),?17)",
    [ST_KEY_UPDATE] = "UPDATE keys SET name=?4,models=?5,metadata=?6,budget_total=?7,"
                      "budget_daily=?8,budget_monthly=?9,rpm=?10,tpm=?11,expires_at=?12,"
                      "updated_at=?14,revoked_at=?15,hash=?2,prefix=?3,prev_hash=NULLIF(?16,''),"
                      "prev_until=?17 WHERE id=?1",
    [ST_KEY_GET] = "SELECT " KEY_COLS " FROM keys WHERE id=?",
    [ST_KEY_LIST] = "SELECT " KEY_COLS " FROM keys ORDER BY created_at, id",
    [ST_SPEND_GET] = "SELECT kind,nusd,requests FROM key_spend WHERE key_id=?1 AND "
                     "((kind=0 AND bucket=0) OR (kind=1 AND bucket=?2) OR (kind=2 AND bucket=?3))",
    [ST_LEDGER_INSERT] = "INSERT OR IGNORE INTO ledger(" LEDGER_COLS ") VALUES("
                         "NULLIF(?1,''),?2,NULLIF(?3,''),NULLIF(?4,''),?5,NULLIF(?6,''),"
                         "NULLIF(?7,''),?8,?9,?10,?11,?12,?13,?14,?15,?16,NULLIF(?17,''),"
                         "NULLIF(?18,''),NULLIF(?19,''),?20,NULLIF(?21,''),NULLIF(?22,''),"
                          "NULLIF(?23,''),NULLIF(?24,''),?25,NULLIF(?26,''),?27)",
    [ST_SPEND_ADD] = "INSERT INTO key_spend(key_id,kind,bucket,nusd,requests) VALUES(?,?,?,?,1) "
                     "ON CONFLICT(key_id,kind,bucket) DO UPDATE SET nusd=nusd+excluded.nusd,"
                     "requests=requests+1",
    [ST_GEN_GET] = "SELECT " LEDGER_COLS " FROM ledger WHERE request_id=?1 UNION ALL SELECT * FROM"
                   " (SELECT " LEDGER_COLS " FROM ledger WHERE client_request_id=?1 ORDER BY ts_ms DESC, seq DESC"
                   " LIMIT 1) LIMIT 1",
    [ST_FB_GET] = GR_SQL_FEEDBACK_GET,
    [ST_FB_PUT] = GR_SQL_FEEDBACK_PUT,
    [ST_LEARNED_ADD] = GR_SQL_LEARNED_ADD,
    [ST_LEARNED_LIST] = GR_SQL_LEARNED_LIST,
    [ST_LEDGER_SCAN] = "SELECT " LEDGER_COLS " FROM ledger WHERE ts_ms >= ?1 AND (?2 = 0 OR ts_ms < ?2)"
                       " AND (?3 IS NULL OR key_id = ?3) ORDER BY ts_ms DESC, seq DESC LIMIT ?4",
    [ST_ALERT_PUT] = GR_SQL_ALERT_PUT,
    [ST_ALERT_PENDING] = GR_SQL_ALERT_PENDING,
    [ST_ALERT_DONE] = GR_SQL_ALERT_DONE,
};

/* ---- schema ---- */

/* Append-only: migrations[i] brings the schema from version i to i+1. Never
 * edit a shipped entry; add a new one. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE keys("
    " id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL, name TEXT,"
    " models TEXT, metadata TEXT,"
    " budget_total INTEGER NOT NULL DEFAULT -1, budget_daily INTEGER NOT NULL DEFAULT -1,"
    " budget_monthly INTEGER NOT NULL DEFAULT -1, rpm INTEGER NOT NULL DEFAULT 0,"
    " tpm INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL DEFAULT 0,"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
    " revoked_at INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE ledger("
    " seq INTEGER PRIMARY KEY, request_id TEXT UNIQUE, ts_ms INTEGER NOT NULL, key_id TEXT,"
    " payer TEXT, model_asked TEXT, model_served TEXT, provider TEXT,"
    " tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, tokens_cached INTEGER NOT NULL,"
    " tokens_reasoning INTEGER NOT NULL, cost_nusd INTEGER NOT NULL, estimated INTEGER NOT NULL,"
    " latency_us INTEGER NOT NULL, ttft_us INTEGER NOT NULL, status INTEGER NOT NULL,"
    " route_reason TEXT, error_type TEXT, x402_amount TEXT, x402_credit_delta INTEGER NOT NULL,"
    " x402_network TEXT, x402_tx_hash TEXT, x402_settlement TEXT);"
    "CREATE INDEX ledger_ts ON ledger(ts_ms);"
    "CREATE INDEX ledger_key_ts ON ledger(key_id, ts_ms);"
    "CREATE TABLE key_spend("
    " key_id TEXT NOT NULL, kind INTEGER NOT NULL, bucket INTEGER NOT NULL,"
    " nusd INTEGER NOT NULL, requests INTEGER NOT NULL,"
    " PRIMARY KEY(key_id, kind, bucket)) WITHOUT ROWID;",
    /* 1 -> 2: request_id becomes the gateway's (unique across instances);
     * the client's X-Request-Id moves beside it, not unique, indexed. Rows
     * written before keep their request_id (a client's or an old id). */
    "ALTER TABLE ledger ADD COLUMN client_request_id TEXT;"
    "CREATE INDEX ledger_client_request_id ON ledger(client_request_id);",
    /* 2 -> 3: prompt-cache writes (Anthropic cache_creation_input_tokens) */
    "ALTER TABLE ledger ADD COLUMN tokens_cache_write INTEGER NOT NULL DEFAULT 0;",
    /* 3 -> 4: what the auto router learns from ratings (route_learn.h): the
     * skill mixture of an auto decision with its ledger row, one rating per
     * generation, and per model the ratings' sums */
    "ALTER TABLE ledger ADD COLUMN route_learn TEXT;"
    "CREATE TABLE route_feedback("
    " request_id TEXT PRIMARY KEY, key_id TEXT, model TEXT, score REAL NOT NULL, predicted REAL NOT NULL,"
    " w0 REAL NOT NULL, w1 REAL NOT NULL, w2 REAL NOT NULL, w3 REAL NOT NULL, w4 REAL NOT NULL, w5 REAL NOT NULL,"
    " comment TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE route_learned("
    " model TEXT PRIMARY KEY,"
    " s0 REAL NOT NULL, s1 REAL NOT NULL, s2 REAL NOT NULL, s3 REAL NOT NULL, s4 REAL NOT NULL, s5 REAL NOT NULL,"
    " f0 REAL NOT NULL, f1 REAL NOT NULL, f2 REAL NOT NULL, f3 REAL NOT NULL, f4 REAL NOT NULL, f5 REAL NOT NULL,"
    " e0 REAL NOT NULL, e1 REAL NOT NULL, e2 REAL NOT NULL, e3 REAL NOT NULL, e4 REAL NOT NULL, e5 REAL NOT NULL,"
    " ratings INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;",
    /* 4 -> 5: key rotation: the previous secret's hash, valid until prev_until (ms), */
    "ALTER TABLE keys ADD COLUMN prev_hash TEXT;"
    "ALTER TABLE keys ADD COLUMN prev_until INTEGER NOT NULL DEFAULT 0;"
    /* and the upstream attempts of a request (the console's Requests page); older rows say 1 */
    "ALTER TABLE ledger ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;",
    /* 5 -> 6: the webhook alerts' outbox (store_alert_sql.h): one row per
     * event key, so a restart neither loses a pending alert nor repeats a
     * delivered one */
    "CREATE TABLE alert_outbox("
    " event_key TEXT PRIMARY KEY, kind TEXT NOT NULL, body TEXT NOT NULL, state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX alert_outbox_pending ON alert_outbox(state, created_ms);",
};
#define SCHEMA_VERSION ((int)GR_ARRAY_LEN(migrations))

/* ---- helpers ---- */

static sqlite3_stmt *stmt(sqlite_store *s, int which) {
    if (!s->st[which]) {
        if (sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                               &s->st[which], NULL) != SQLITE_OK) {
            fprintf(stderr, "gaterouter: store: prepare failed: %s\n", sqlite3_errmsg(s->db));
            return NULL;
        }
    }
    return s->st[which];
}

static void done(sqlite3_stmt *st) {
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static int exec(sqlite_store *s, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "gaterouter: store: %s: %s\n", sql[0] == 'C' ? "schema" : sql,
                msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    if (v) sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

static char *col_dup(sqlite3_stmt *st, int i) {
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? gr_xstrdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    gr_store_strlcpy(dst, (const char *)sqlite3_column_text(st, i), cap);
}

static void bind_key(sqlite3_stmt *st, const gr_key_record *k) {
    bind_text(st, 1, k->id);
    bind_text(st, 2, k->hash);
    bind_text(st, 3, k->prefix);
    bind_text(st, 4, k->name);
    bind_text(st, 5, k->models_json);
    bind_text(st, 6, k->metadata_json);
    sqlite3_bind_int64(st, 7, k->budget_total_nusd);
    sqlite3_bind_int64(st, 8, k->budget_daily_nusd);
    sqlite3_bind_int64(st, 9, k->budget_monthly_nusd);
    sqlite3_bind_int64(st, 10, k->rpm);
    sqlite3_bind_int64(st, 11, k->tpm);
    sqlite3_bind_int64(st, 12, k->expires_at_ms);
    sqlite3_bind_int64(st, 13, k->created_at_ms);
    sqlite3_bind_int64(st, 14, k->updated_at_ms);
    sqlite3_bind_int64(st, 15, k->revoked_at_ms);
    bind_text(st, 16, k->prev_hash);
    sqlite3_bind_int64(st, 17, k->prev_until_ms);
}

static void read_key(sqlite3_stmt *st, gr_key_record *k) {
    gr_key_record_init(k);
    col_copy(st, 0, k->id, sizeof k->id);
    col_copy(st, 1, k->hash, sizeof k->hash);
    col_copy(st, 2, k->prefix, sizeof k->prefix);
    k->name = col_dup(st, 3);
    k->models_json = col_dup(st, 4);
    k->metadata_json = col_dup(st, 5);
    k->budget_total_nusd = sqlite3_column_int64(st, 6);
    k->budget_daily_nusd = sqlite3_column_int64(st, 7);
    k->budget_monthly_nusd = sqlite3_column_int64(st, 8);
    k->rpm = sqlite3_column_int64(st, 9);
    k->tpm = sqlite3_column_int64(st, 10);
    k->expires_at_ms = sqlite3_column_int64(st, 11);
    k->created_at_ms = sqlite3_column_int64(st, 12);
    k->updated_at_ms = sqlite3_column_int64(st, 13);
    k->revoked_at_ms = sqlite3_column_int64(st, 14);
    col_copy(st, 15, k->prev_hash, sizeof k->prev_hash);
    k->prev_until_ms = sqlite3_column_int64(st, 16);
}

static void read_row(sqlite3_stmt *st, gr_ledger_row *r) {
    memset(r, 0, sizeof *r);
    col_copy(st, 0, r->request_id, sizeof r->request_id);
    r->ts_ms = sqlite3_column_int64(st, 1);
    col_copy(st, 2, r->key_id, sizeof r->key_id);
    col_copy(st, 3, r->payer, sizeof r->payer);
    col_copy(st, 4, r->model_asked, sizeof r->model_asked);
    col_copy(st, 5, r->model_served, sizeof r->model_served);
    col_copy(st, 6, r->provider, sizeof r->provider);
    r->tokens_in = sqlite3_column_int64(st, 7);
    r->tokens_out = sqlite3_column_int64(st, 8);
    r->tokens_cached = sqlite3_column_int64(st, 9);
    r->tokens_reasoning = sqlite3_column_int64(st, 10);
    r->cost_nusd = sqlite3_column_int64(st, 11);
    r->estimated = sqlite3_column_int64(st, 12) != 0;
    r->latency_us = sqlite3_column_int64(st, 13);
    r->ttft_us = sqlite3_column_int64(st, 14);
    r->status = (int)sqlite3_column_int64(st, 15);
    col_copy(st, 16, r->route_reason, sizeof r->route_reason);
    col_copy(st, 17, r->error_type, sizeof r->error_type);
    col_copy(st, 18, r->x402_amount_atomic, sizeof r->x402_amount_atomic);
    r->x402_credit_delta_nusd = sqlite3_column_int64(st, 19);
    col_copy(st, 20, r->x402_network, sizeof r->x402_network);
    col_copy(st, 21, r->x402_tx_hash, sizeof r->x402_tx_hash);
    col_copy(st, 22, r->x402_settlement, sizeof r->x402_settlement);
    col_copy(st, 23, r->client_request_id, sizeof r->client_request_id);
    r->tokens_cache_write = sqlite3_column_int64(st, 24);
    col_copy(st, 25, r->route_learn, sizeof r->route_learn);
    r->attempts = sqlite3_column_int(st, 26);
}

/* ---- operations ---- */

static void op_close(gr_store *base) {
    sqlite_store *s = (sqlite_store *)base;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(s->st[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static gr_status op_migrate(gr_store *base, int *version_out) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    int v = 0;
    pthread_mutex_lock(&s->mu);
    if (exec(s, "BEGIN IMMEDIATE")) goto out;
    if (exec(s, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)"))
        goto rollback;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT MAX(version) FROM schema_version", -1, &q, NULL))
        goto rollback;
    if (sqlite3_step(q) == SQLITE_ROW) v = (int)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (v > SCHEMA_VERSION) {
        fprintf(stderr, "gaterouter: store: schema version %d is newer than this binary (%d)\n",
                v, SCHEMA_VERSION);
        rc = GR_ERR_UNSUPPORTED;
        goto rollback;
    }
    for (; v < SCHEMA_VERSION; v++)
        if (exec(s, migrations[v])) goto rollback;
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM schema_version; INSERT INTO schema_version VALUES(%d)",
             v);
    if (exec(s, sql)) goto rollback;
    if (exec(s, "COMMIT")) goto rollback;
    rc = GR_OK;
    goto out;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&s->mu);
    if (version_out) *version_out = v;
    return rc;
}

static gr_status run_key_write(gr_store *base, int which, const gr_key_record *k) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    if (!st) goto out;
    bind_key(st, k);
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) {
        rc = (which == ST_KEY_UPDATE && sqlite3_changes(s->db) == 0) ? GR_ERR_NOT_FOUND : GR_OK;
    } else if ((r & 0xff) == SQLITE_CONSTRAINT) {
        rc = GR_ERR_INVALID;
    }
    done(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_key_insert(gr_store *s, const gr_key_record *k) {
    return run_key_write(s, ST_KEY_INSERT, k);
}
static gr_status op_key_update(gr_store *s, const gr_key_record *k) {
    return run_key_write(s, ST_KEY_UPDATE, k);
}

/* One row by its text key: GR_OK (read into out), GR_ERR_NOT_FOUND or GR_ERR_IO. */
static gr_status get_one(sqlite_store *s, int which, const char *key, void (*read)(sqlite3_stmt *, void *),
                         void *out) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    if (!st) goto out;
    bind_text(st, 1, key);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
        read(st, out);
        rc = GR_OK;
    } else if (r == SQLITE_DONE) {
        rc = GR_ERR_NOT_FOUND;
    }
    done(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void read_key_any(sqlite3_stmt *st, void *out) { read_key(st, out); }
static void read_row_any(sqlite3_stmt *st, void *out) { read_row(st, out); }

static gr_status op_key_get(gr_store *base, const char *id, gr_key_record *out) {
    return get_one((sqlite_store *)base, ST_KEY_GET, id, read_key_any, out);
}

/* Every row of parameterless statement `which`, read by `read` into a grown
 * array of `elem`-byte records; on failure `dispose` frees what was read. */
static gr_status list_all(sqlite_store *s, int which, size_t elem, void (*read)(sqlite3_stmt *, void *),
                          void (*dispose)(void *arr, size_t n), void **out, size_t *n) {
    gr_status rc = GR_ERR_IO;
    char *arr = NULL;
    size_t cnt = 0, cap = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, which);
    if (!st) goto out;
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = gr_xrealloc(arr, cap * elem);
        }
        read(st, arr + elem * cnt++);
    }
    done(st);
    if (r != SQLITE_DONE) {
        dispose(arr, cnt);
        goto out;
    }
    *out = arr;
    *n = cnt;
    rc = GR_OK;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void dispose_keys(void *arr, size_t n) { gr_key_records_free(arr, n); }

static gr_status op_key_list(gr_store *base, gr_key_record **out, size_t *n) {
    return list_all((sqlite_store *)base, ST_KEY_LIST, sizeof **out, read_key_any, dispose_keys, (void **)out, n);
}

static gr_status op_key_spend(gr_store *base, const char *key_id, int64_t day, int64_t month,
                              gr_key_spend *out) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_SPEND_GET);
    if (!st) goto out;
    bind_text(st, 1, key_id);
    sqlite3_bind_int64(st, 2, day);
    sqlite3_bind_int64(st, 3, month);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(st, 0);
        int64_t v = sqlite3_column_int64(st, 1);
        if (kind == 0) {
            out->total_nusd = v;
            out->requests = sqlite3_column_int64(st, 2);
        } else if (kind == 1) {
            out->day_nusd = v;
        } else if (kind == 2) {
            out->month_nusd = v;
        }
    }
    done(st);
    if (r == SQLITE_DONE) rc = GR_OK;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int insert_one(sqlite_store *s, sqlite3_stmt *ins, sqlite3_stmt *sp,
                      const gr_ledger_row *r, size_t *conflicts) {
    bind_text(ins, 1, r->request_id);
    sqlite3_bind_int64(ins, 2, r->ts_ms);
    bind_text(ins, 3, r->key_id);
    bind_text(ins, 4, r->payer);
    bind_text(ins, 5, r->model_asked);
    bind_text(ins, 6, r->model_served);
    bind_text(ins, 7, r->provider);
    sqlite3_bind_int64(ins, 8, r->tokens_in);
    sqlite3_bind_int64(ins, 9, r->tokens_out);
    sqlite3_bind_int64(ins, 10, r->tokens_cached);
    sqlite3_bind_int64(ins, 11, r->tokens_reasoning);
    sqlite3_bind_int64(ins, 12, r->cost_nusd);
    sqlite3_bind_int(ins, 13, r->estimated ? 1 : 0);
    sqlite3_bind_int64(ins, 14, r->latency_us);
    sqlite3_bind_int64(ins, 15, r->ttft_us);
    sqlite3_bind_int(ins, 16, r->status);
    bind_text(ins, 17, r->route_reason);
    bind_text(ins, 18, r->error_type);
    bind_text(ins, 19, r->x402_amount_atomic);
    sqlite3_bind_int64(ins, 20, r->x402_credit_delta_nusd);
    bind_text(ins, 21, r->x402_network);
    bind_text(ins, 22, r->x402_tx_hash);
    bind_text(ins, 23, r->x402_settlement);
    bind_text(ins, 24, r->client_request_id);
    sqlite3_bind_int64(ins, 25, r->tokens_cache_write);
    bind_text(ins, 26, r->route_learn);
    sqlite3_bind_int(ins, 27, r->attempts);
    int rc = sqlite3_step(ins);
    bool inserted = rc == SQLITE_DONE && sqlite3_changes(s->db) == 1;
    done(ins);
    if (rc != SQLITE_DONE) return rc;
    if (!inserted) (*conflicts)++;
    if (!inserted || !r->key_id[0]) return SQLITE_OK;
    const int64_t buckets[3][2] = {
        {0, 0}, {1, gr_store_utc_day(r->ts_ms)}, {2, gr_store_utc_month(r->ts_ms)}};
    for (int i = 0; i < 3; i++) {
        bind_text(sp, 1, r->key_id);
        sqlite3_bind_int64(sp, 2, buckets[i][0]);
        sqlite3_bind_int64(sp, 3, buckets[i][1]);
        sqlite3_bind_int64(sp, 4, r->cost_nusd);
        rc = sqlite3_step(sp);
        done(sp);
        if (rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
}

static gr_status op_ledger_insert(gr_store *base, const gr_ledger_row *rows, size_t n,
                                  size_t *conflicts_out) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    size_t conflicts = 0;
    if (conflicts_out) *conflicts_out = 0;
    if (n == 0) return GR_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *ins = stmt(s, ST_LEDGER_INSERT), *sp = stmt(s, ST_SPEND_ADD);
    if (!ins || !sp) goto out;
    if (exec(s, "BEGIN IMMEDIATE")) goto out;
    for (size_t i = 0; i < n; i++) {
        int r = insert_one(s, ins, sp, &rows[i], &conflicts);
        if (r != SQLITE_OK && r != SQLITE_DONE) {
            fprintf(stderr, "gaterouter: store: ledger insert: %s\n", sqlite3_errmsg(s->db));
            goto rollback;
        }
    }
    if (exec(s, "COMMIT")) goto rollback;
    if (conflicts_out) *conflicts_out = conflicts;
    rc = GR_OK;
    goto out;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_generation_get(gr_store *base, const char *request_id, gr_ledger_row *out) {
    return get_one((sqlite_store *)base, ST_GEN_GET, request_id, read_row_any, out);
}

static gr_status op_usage_summary(gr_store *base, const gr_usage_query *q, gr_usage_group **out,
                                  size_t *n) {
    sqlite_store *s = (sqlite_store *)base;
    static const char *const group_expr[] = {
        [GR_USAGE_BY_KEY] = "COALESCE(key_id, 'payer:' || payer, '(none)')",
        [GR_USAGE_BY_MODEL] = "COALESCE(model_served, model_asked, '(none)')",
        [GR_USAGE_BY_PROVIDER] = "COALESCE(provider, '(none)')",
        [GR_USAGE_BY_DAY] = "strftime('%Y-%m-%d', ts_ms / 1000, 'unixepoch')",
    };
    *out = NULL;
    *n = 0;
    if ((unsigned)q->by >= GR_ARRAY_LEN(group_expr)) return GR_ERR_INVALID;
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT %s AS g, COUNT(*), SUM(status >= 400), SUM(tokens_in), SUM(tokens_out),"
             " SUM(tokens_cached), SUM(cost_nusd), SUM(estimated) FROM ledger"
             " WHERE ts_ms >= ?1 AND (?2 = 0 OR ts_ms < ?2) AND (?3 IS NULL OR key_id = ?3)"
             " GROUP BY g ORDER BY g",
             group_expr[q->by]);
    gr_status rc = GR_ERR_IO;
    gr_usage_group *arr = NULL;
    size_t cnt = 0, cap = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) goto out;
    sqlite3_bind_int64(st, 1, q->from_ms);
    sqlite3_bind_int64(st, 2, q->to_ms);
    bind_text(st, 3, q->key_id);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            arr = gr_xrealloc(arr, cap * sizeof *arr);
        }
        gr_usage_group *g = &arr[cnt++];
        memset(g, 0, sizeof *g);
        col_copy(st, 0, g->group, sizeof g->group);
        g->requests = sqlite3_column_int64(st, 1);
        g->errors = sqlite3_column_int64(st, 2);
        g->tokens_in = sqlite3_column_int64(st, 3);
        g->tokens_out = sqlite3_column_int64(st, 4);
        g->tokens_cached = sqlite3_column_int64(st, 5);
        g->cost_nusd = sqlite3_column_int64(st, 6);
        g->estimated = sqlite3_column_int64(st, 7);
    }
    if (r != SQLITE_DONE) {
        free(arr);
        goto out;
    }
    *out = arr;
    *n = cnt;
    rc = GR_OK;
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_ledger_scan(gr_store *base, const gr_ledger_scan *q, gr_ledger_scan_fn fn, void *arg) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    gr_ledger_row *row = gr_xmalloc(sizeof *row);
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_LEDGER_SCAN);
    if (!st) goto out;
    sqlite3_bind_int64(st, 1, q->from_ms);
    sqlite3_bind_int64(st, 2, q->to_ms);
    bind_text(st, 3, q->key_id);
    sqlite3_bind_int64(st, 4, q->limit);
    int r;
    while ((r = sqlite3_step(st)) == SQLITE_ROW) {
        read_row(st, row);
        if (!fn(row, arg)) {
            r = SQLITE_DONE;
            break;
        }
    }
    if (r == SQLITE_DONE) rc = GR_OK;
    done(st);
out:
    pthread_mutex_unlock(&s->mu);
    free(row);
    return rc;
}

static gr_status op_ledger_count(gr_store *base, int64_t *n) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT COUNT(*) FROM ledger", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int64(st, 0);
        rc = GR_OK;
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_integrity_check(gr_store *base, char *msg, size_t msglen) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        gr_store_strlcpy(msg, t ? t : "", msglen);
        rc = (t && strcmp(t, "ok") == 0) ? GR_OK : GR_ERR_INVALID;
    } else {
        gr_store_strlcpy(msg, sqlite3_errmsg(s->db), msglen);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- ratings (route_learn.h) ---- */

/* Adds one model's sums (a delta) inside the caller's transaction. */
static int learned_add_locked(sqlite_store *s, const gr_learned_rec *d, int64_t now) {
    sqlite3_stmt *st = stmt(s, ST_LEARNED_ADD);
    if (!st) return SQLITE_ERROR;
    bind_text(st, 1, d->model);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        sqlite3_bind_double(st, 2 + k, d->s[k]);
        sqlite3_bind_double(st, 8 + k, d->f[k]);
        sqlite3_bind_double(st, 14 + k, d->e[k]);
    }
    sqlite3_bind_int64(st, 20, d->ratings);
    sqlite3_bind_int64(st, 21, now);
    int r = sqlite3_step(st);
    done(st);
    return r == SQLITE_DONE ? SQLITE_OK : r;
}

static gr_status op_feedback_put(gr_store *base, const gr_feedback_rec *fb, bool *replaced) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    bool had = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *get = stmt(s, ST_FB_GET), *put = stmt(s, ST_FB_PUT);
    if (!get || !put || exec(s, "BEGIN IMMEDIATE")) goto out;
    /* take the replaced rating back out of its model's sums */
    bind_text(get, 1, fb->request_id);
    int r = sqlite3_step(get);
    gr_learned_rec old = {0};
    double old_mix[GR_LEARN_SKILLS] = {0}, old_score = 0.0, old_pred = 0.0;
    if (r == SQLITE_ROW) {
        had = true;
        col_copy(get, 0, old.model, sizeof old.model);
        old_score = sqlite3_column_double(get, 1);
        old_pred = sqlite3_column_double(get, 2);
        for (int k = 0; k < GR_LEARN_SKILLS; k++) old_mix[k] = sqlite3_column_double(get, 3 + k);
    }
    done(get);
    if (r != SQLITE_ROW && r != SQLITE_DONE) goto rollback;
    int64_t now = fb->at_ms;
    if (had && old.model[0]) {
        gr_store_learned_apply(&old, old_mix, old_score, old_pred, -1);
        if (learned_add_locked(s, &old, now)) goto rollback;
    }
    bind_text(put, 1, fb->request_id);
    bind_text(put, 2, fb->key_id);
    bind_text(put, 3, fb->model);
    sqlite3_bind_double(put, 4, fb->score);
    sqlite3_bind_double(put, 5, fb->predicted);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) sqlite3_bind_double(put, 6 + k, fb->mix[k]);
    bind_text(put, 12, fb->comment);
    sqlite3_bind_int64(put, 13, now);
    r = sqlite3_step(put);
    done(put);
    if (r != SQLITE_DONE) goto rollback;
    if (fb->model[0]) {
        gr_learned_rec add = {0};
        gr_store_strlcpy(add.model, fb->model, sizeof add.model);
        gr_store_learned_apply(&add, fb->mix, fb->score, fb->predicted, +1);
        if (learned_add_locked(s, &add, now)) goto rollback;
    }
    if (exec(s, "COMMIT")) goto rollback;
    rc = GR_OK;
    goto out;
rollback:
    fprintf(stderr, "gaterouter: store: feedback: %s\n", sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
out:
    pthread_mutex_unlock(&s->mu);
    if (replaced) *replaced = had;
    return rc;
}

static gr_status op_learned_add(gr_store *base, const gr_learned_rec *delta) {
    sqlite_store *s = (sqlite_store *)base;
    pthread_mutex_lock(&s->mu);
    int r = learned_add_locked(s, delta, (int64_t)gr_wall_ms());
    pthread_mutex_unlock(&s->mu);
    return r == SQLITE_OK ? GR_OK : GR_ERR_IO;
}

static void read_learned(sqlite3_stmt *st, void *out) {
    gr_learned_rec *l = out;
    memset(l, 0, sizeof *l);
    col_copy(st, 0, l->model, sizeof l->model);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        l->s[k] = sqlite3_column_double(st, 1 + k);
        l->f[k] = sqlite3_column_double(st, 7 + k);
        l->e[k] = sqlite3_column_double(st, 13 + k);
    }
    l->ratings = sqlite3_column_int64(st, 19);
}

static void dispose_flat(void *arr, size_t n) {
    (void)n;
    free(arr);
}

static gr_status op_learned_list(gr_store *base, gr_learned_rec **out, size_t *n) {
    return list_all((sqlite_store *)base, ST_LEARNED_LIST, sizeof **out, read_learned, dispose_flat, (void **)out, n);
}

/* ---- alert outbox ---- */

static gr_status op_alert_put(gr_store *base, const char *event_key, const char *kind, const char *body,
                              int64_t now_ms, bool *inserted) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    *inserted = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ALERT_PUT);
    if (!st) goto out;
    bind_text(st, 1, event_key);
    bind_text(st, 2, kind);
    bind_text(st, 3, body);
    sqlite3_bind_int64(st, 4, now_ms);
    if (sqlite3_step(st) == SQLITE_DONE) {
        *inserted = sqlite3_changes(s->db) == 1;
        rc = GR_OK;
    }
    done(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_alert_pending(gr_store *base, size_t limit, gr_alert_rec **out, size_t *n) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    gr_alert_rec *arr = NULL;
    size_t cnt = 0;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ALERT_PENDING);
    if (!st) goto out;
    sqlite3_bind_int64(st, 1, (int64_t)limit);
    arr = limit ? gr_xcalloc(limit, sizeof *arr) : NULL;
    int r = SQLITE_DONE;
    while (cnt < limit && (r = sqlite3_step(st)) == SQLITE_ROW) {
        col_copy(st, 0, arr[cnt].event_key, sizeof arr[cnt].event_key);
        col_copy(st, 1, arr[cnt].kind, sizeof arr[cnt].kind);
        arr[cnt].body = col_dup(st, 2);
        arr[cnt].attempts = sqlite3_column_int(st, 3);
        if (!arr[cnt].body) arr[cnt].body = gr_xstrdup("{}");
        cnt++;
    }
    if (cnt < limit && r != SQLITE_DONE) {
        done(st);
        gr_alert_recs_free(arr, cnt);
        goto out;
    }
    done(st);
    *out = arr;
    *n = cnt;
    rc = GR_OK;
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_alert_done(gr_store *base, const char *event_key, gr_alert_state state, int attempts,
                               int64_t now_ms) {
    sqlite_store *s = (sqlite_store *)base;
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = stmt(s, ST_ALERT_DONE);
    if (!st) goto out;
    sqlite3_bind_int(st, 1, (int)state);
    sqlite3_bind_int(st, 2, attempts);
    sqlite3_bind_int64(st, 3, now_ms);
    bind_text(st, 4, event_key);
    if (sqlite3_step(st) == SQLITE_DONE) rc = GR_OK;
    done(st);
out:
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static const gr_store_ops sqlite_ops = {
    .scheme = "sqlite",
    .close = op_close,
    .migrate = op_migrate,
    .key_insert = op_key_insert,
    .key_update = op_key_update,
    .key_get = op_key_get,
    .key_list = op_key_list,
    .key_spend = op_key_spend,
    .ledger_insert = op_ledger_insert,
    .generation_get = op_generation_get,
    .usage_summary = op_usage_summary,
    .ledger_scan = op_ledger_scan,
    .ledger_count = op_ledger_count,
    .integrity_check = op_integrity_check,
    .feedback_put = op_feedback_put,
    .learned_add = op_learned_add,
    .learned_list = op_learned_list,
    .alert_put = op_alert_put,
    .alert_pending = op_alert_pending,
    .alert_done = op_alert_done,
};

/* ---- open ---- */

/* mkdir -p of the directory part of path. */
static int make_parent_dirs(const char *path) {
    char *p = gr_xstrdup(path);
    int rc = 0;
    char *slash = strrchr(p, '/');
    if (slash && slash != p) {
        *slash = '\0';
        for (char *c = p + 1; *c; c++) {
            if (*c != '/') continue;
            *c = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
            *c = '/';
        }
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = -1;
    }
    free(p);
    return rc;
}

gr_status gr_store_sqlite_open(const char *location, const char *options, gr_store **out,
                               char *err, size_t errlen) {
    const char *sync = "NORMAL";
    if (options && *options) {
        if (strcasecmp(options, "synchronous=full") == 0) sync = "FULL";
        else if (strcasecmp(options, "synchronous=normal") == 0) sync = "NORMAL";
        else {
            snprintf(err, errlen, "store: unknown sqlite option '%s'", options);
            return GR_ERR_INVALID;
        }
    }
    bool memory = strcmp(location, ":memory:") == 0;
    if (!memory && make_parent_dirs(location) != 0) {
        snprintf(err, errlen, "store: cannot create the directory of '%s': %s", location,
                 strerror(errno));
        return GR_ERR_IO;
    }
    sqlite_store *s = gr_xcalloc(1, sizeof *s);
    s->base.ops = &sqlite_ops;
    pthread_mutex_init(&s->mu, NULL);
    int r = sqlite3_open_v2(location, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (r != SQLITE_OK) {
        snprintf(err, errlen, "store: cannot open '%s': %s", location,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(r));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char pragmas[160];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode=%s; PRAGMA synchronous=%s;",
             memory ? "MEMORY" : "WAL", sync);
    /* Switching a new file to WAL needs an exclusive lock, and SQLite returns
     * BUSY at once (no busy handler, to avoid a deadlock) when another
     * connection opening the same file holds a shared one: retry a while. */
    int rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    for (int tries = 0; (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && tries < 200; tries++) {
        struct timespec ts = {0, 25 * 1000000L};
        nanosleep(&ts, NULL);
        rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "store: cannot set up '%s': %s", location, sqlite3_errmsg(s->db));
        goto fail;
    }
    *out = &s->base;
    return GR_OK;
fail:
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return GR_ERR_IO;
}
