/* x402_store.c — SQLite persistence of the x402 replay guard, per-payer
 * credit and settlement jobs (see x402_store.h). Owns its own connection to
 * the store's database file and three tables created on open (IF NOT EXISTS:
 * they live beside the store's versioned schema without touching it). */
#include "x402_store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    Q_NONCE_INS,
    Q_NONCE_PRUNE,
    Q_CREDIT_GET,
    Q_CREDIT_ADD,
    Q_CREDIT_TAKE,
    Q_SET_PUT,
    Q_SET_PENDING,
    Q_SET_RECENT,
    Q_LEDGER_UPD,
    Q_UPTO_PUT,
    Q_UPTO_STATE,
    Q_PAYMENT_GET,
    Q_COUNT
};

static const char *const q_sql[Q_COUNT] = {
    [Q_NONCE_INS] = "INSERT OR IGNORE INTO x402_nonces(nonce_key,valid_before,created_ms) VALUES(?1,?2,?3)",
    [Q_NONCE_PRUNE] = "DELETE FROM x402_nonces WHERE valid_before < ?1",
    [Q_CREDIT_GET] = "SELECT nusd FROM x402_credit WHERE payer=?1",
    [Q_CREDIT_ADD] = "INSERT INTO x402_credit(payer,nusd,updated_ms) VALUES(?1,MAX(?2,0),?3) "
                     "ON CONFLICT(payer) DO UPDATE SET nusd=MAX(nusd+?2,0),updated_ms=?3",
    [Q_CREDIT_TAKE] = "UPDATE x402_credit SET nusd=nusd-?2,updated_ms=?3 WHERE payer=?1 AND nusd>=?2",
    [Q_SET_PUT] = "INSERT OR REPLACE INTO x402_settlements(request_id,payer,chain_id,asset,amount,version,"
                  "header_b64,requirement,paid_nusd,credit_used_nusd,cost_nusd,state,tx_hash,attempts,error,"
                  "created_ms,updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)",
    [Q_SET_PENDING] = "SELECT request_id,payer,chain_id,asset,amount,version,header_b64,requirement,paid_nusd,"
                      "credit_used_nusd,cost_nusd,state,tx_hash,attempts,error,created_ms FROM x402_settlements "
                      "WHERE state='pending' ORDER BY created_ms",
    [Q_SET_RECENT] = "SELECT s.request_id,s.chain_id,s.asset,s.amount,s.state,s.tx_hash,s.attempts,s.error,s.paid_nusd,"
                     "s.cost_nusd,s.credit_used_nusd,s.created_ms,s.updated_ms,u.max_amount FROM x402_settlements s "
                     "LEFT JOIN x402_upto u ON u.request_id=s.request_id WHERE s.payer=?1 "
                     "ORDER BY s.created_ms DESC LIMIT ?2",
    [Q_LEDGER_UPD] = "UPDATE ledger SET x402_settlement=?2,x402_tx_hash=NULLIF(?3,''),x402_credit_delta=?4 "
                     "WHERE request_id=?1",
    [Q_UPTO_PUT] = "INSERT OR REPLACE INTO x402_upto(request_id,payer,chain_id,asset,max_amount,settled_amount,cost_nusd,"
                   "state,tx_hash,nonce_key,created_ms,updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11)",
    [Q_UPTO_STATE] = "UPDATE x402_upto SET state=?2,tx_hash=NULLIF(?3,''),updated_ms=?4 WHERE request_id=?1",
    [Q_PAYMENT_GET] = "SELECT u.request_id,u.payer,u.chain_id,u.asset,u.max_amount,u.settled_amount,u.cost_nusd,"
                      "COALESCE(s.state,u.state),COALESCE(s.tx_hash,u.tx_hash),s.attempts,s.error,u.created_ms,"
                      "COALESCE(s.updated_ms,u.updated_ms) FROM x402_upto u "
                      "LEFT JOIN x402_settlements s ON s.request_id=u.request_id WHERE u.request_id=?1 "
                      "UNION ALL SELECT s.request_id,s.payer,s.chain_id,s.asset,NULL,s.amount,s.cost_nusd,s.state,"
                      "s.tx_hash,s.attempts,s.error,s.created_ms,s.updated_ms FROM x402_settlements s "
                      "WHERE s.request_id=?1 AND NOT EXISTS(SELECT 1 FROM x402_upto u WHERE u.request_id=?1)",
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
    /* upto: the authorised maximum beside the settled amount (one row per
     * admitted upto payment, also those settled at zero or not served) */
    "CREATE TABLE IF NOT EXISTS x402_upto(request_id TEXT PRIMARY KEY, payer TEXT NOT NULL,"
    " chain_id INTEGER NOT NULL, asset TEXT NOT NULL, max_amount TEXT NOT NULL, settled_amount TEXT NOT NULL,"
    " cost_nusd INTEGER NOT NULL, state TEXT NOT NULL, tx_hash TEXT, nonce_key TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);";

struct gr_x402_store {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *q[Q_COUNT];
};

static sqlite3_stmt *q(gr_x402_store *s, int which) {
    if (!s->q[which] &&
        sqlite3_prepare_v3(s->db, q_sql[which], -1, SQLITE_PREPARE_PERSISTENT, &s->q[which], NULL) != SQLITE_OK) {
        fprintf(stderr, "gaterouter: x402 store: prepare failed: %s\n", sqlite3_errmsg(s->db));
        return NULL;
    }
    return s->q[which];
}

static void q_done(sqlite3_stmt *st) {
    if (st) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

static void bind_text(sqlite3_stmt *st, int i, const char *v) {
    sqlite3_bind_text(st, i, v ? v : "", -1, SQLITE_TRANSIENT);
}

static void col_copy(sqlite3_stmt *st, int i, char *dst, size_t cap) {
    const char *t = (const char *)sqlite3_column_text(st, i);
    snprintf(dst, cap, "%s", t ? t : "");
}

/* "sqlite://<path>[?opts]" -> path (malloc'd) */
static char *sqlite_path(const char *url, char *err, size_t errlen) {
    static const char pfx[] = "sqlite://";
    if (!url || strncmp(url, pfx, sizeof pfx - 1) != 0) {
        snprintf(err, errlen, "x402: the payment store needs a sqlite:// store (got '%s')", url ? url : "");
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

gr_status gr_x402_store_open(const char *store_url, gr_x402_store **out, char *err, size_t errlen) {
    *out = NULL;
    char *path = sqlite_path(store_url, err, errlen);
    if (!path) return GR_ERR_INVALID;
    gr_x402_store *s = gr_xcalloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    bool memory = strcmp(path, ":memory:") == 0;
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "x402: cannot open '%s': %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char *msg = NULL;
    const char *pragmas = memory ? "PRAGMA journal_mode=MEMORY;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "x402: cannot set up the payment tables in '%s': %s", path,
                 msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        goto fail;
    }
    if (memory) /* a private in-memory database has no ledger table: give it one to update */
        sqlite3_exec(s->db,
                     "CREATE TABLE IF NOT EXISTS ledger(request_id TEXT UNIQUE, x402_settlement TEXT,"
                     " x402_tx_hash TEXT, x402_credit_delta INTEGER)",
                     NULL, NULL, NULL);
    free(path);
    *out = s;
    return GR_OK;
fail:
    free(path);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
    return GR_ERR_IO;
}

void gr_x402_store_close(gr_x402_store *s) {
    if (!s) return;
    for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->q[i]);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

gr_status gr_x402_store_nonce_reserve(gr_x402_store *s, const char *key, int64_t valid_before) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_NONCE_INS);
    if (st) {
        bind_text(st, 1, key);
        sqlite3_bind_int64(st, 2, valid_before);
        sqlite3_bind_int64(st, 3, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(s->db) == 1 ? GR_OK : GR_ERR_INVALID;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void gr_x402_store_nonce_prune(gr_x402_store *s, int64_t now_unix) {
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_NONCE_PRUNE);
    if (st) {
        sqlite3_bind_int64(st, 1, now_unix);
        (void)sqlite3_step(st);
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
}

gr_status gr_x402_store_credit_get(gr_x402_store *s, const char *payer, int64_t *nusd) {
    gr_status rc = GR_ERR_IO;
    *nusd = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_CREDIT_GET);
    if (st) {
        bind_text(st, 1, payer);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) *nusd = sqlite3_column_int64(st, 0);
        if (r == SQLITE_ROW || r == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_credit_add(gr_x402_store *s, const char *payer, int64_t delta) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_CREDIT_ADD);
    if (st) {
        bind_text(st, 1, payer);
        sqlite3_bind_int64(st, 2, delta);
        sqlite3_bind_int64(st, 3, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_credit_take(gr_x402_store *s, const char *payer, int64_t amount) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_CREDIT_TAKE);
    if (st) {
        bind_text(st, 1, payer);
        sqlite3_bind_int64(st, 2, amount);
        sqlite3_bind_int64(st, 3, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = sqlite3_changes(s->db) == 1 ? GR_OK : GR_ERR_INVALID;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void gr_x402_settle_rec_dispose(gr_x402_settle_rec *r) {
    if (!r) return;
    free(r->header_b64);
    free(r->requirement_json);
    r->header_b64 = r->requirement_json = NULL;
}

gr_status gr_x402_store_settlement_put(gr_x402_store *s, const gr_x402_settle_rec *r) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_SET_PUT);
    if (st) {
        bind_text(st, 1, r->request_id);
        bind_text(st, 2, r->payer);
        sqlite3_bind_int64(st, 3, (int64_t)r->chain_id);
        bind_text(st, 4, r->asset);
        bind_text(st, 5, r->amount);
        sqlite3_bind_int(st, 6, r->version);
        bind_text(st, 7, r->header_b64);
        bind_text(st, 8, r->requirement_json);
        sqlite3_bind_int64(st, 9, r->paid_nusd);
        sqlite3_bind_int64(st, 10, r->credit_used_nusd);
        sqlite3_bind_int64(st, 11, r->cost_nusd);
        bind_text(st, 12, r->state);
        bind_text(st, 13, r->tx_hash);
        sqlite3_bind_int(st, 14, r->attempts);
        bind_text(st, 15, r->error);
        sqlite3_bind_int64(st, 16, r->created_ms);
        sqlite3_bind_int64(st, 17, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_settlements_pending(gr_x402_store *s, gr_x402_settle_rec **arr, size_t *n) {
    *arr = NULL;
    *n = 0;
    gr_status rc = GR_ERR_IO;
    size_t cap = 0;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_SET_PENDING);
    if (st) {
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *arr = gr_xrealloc(*arr, cap * sizeof **arr);
            }
            gr_x402_settle_rec *e = &(*arr)[(*n)++];
            memset(e, 0, sizeof *e);
            col_copy(st, 0, e->request_id, sizeof e->request_id);
            col_copy(st, 1, e->payer, sizeof e->payer);
            e->chain_id = (uint64_t)sqlite3_column_int64(st, 2);
            col_copy(st, 3, e->asset, sizeof e->asset);
            col_copy(st, 4, e->amount, sizeof e->amount);
            e->version = sqlite3_column_int(st, 5);
            const char *h = (const char *)sqlite3_column_text(st, 6);
            const char *rq = (const char *)sqlite3_column_text(st, 7);
            e->header_b64 = gr_xstrdup(h ? h : "");
            e->requirement_json = gr_xstrdup(rq ? rq : "");
            e->paid_nusd = sqlite3_column_int64(st, 8);
            e->credit_used_nusd = sqlite3_column_int64(st, 9);
            e->cost_nusd = sqlite3_column_int64(st, 10);
            col_copy(st, 11, e->state, sizeof e->state);
            col_copy(st, 12, e->tx_hash, sizeof e->tx_hash);
            e->attempts = sqlite3_column_int(st, 13);
            col_copy(st, 14, e->error, sizeof e->error);
            e->created_ms = sqlite3_column_int64(st, 15);
        }
        if (r == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != GR_OK) {
        for (size_t i = 0; i < *n; i++) gr_x402_settle_rec_dispose(&(*arr)[i]);
        free(*arr);
        *arr = NULL;
        *n = 0;
    }
    return rc;
}

gr_status gr_x402_store_settlements_recent(gr_x402_store *s, const char *payer, int limit, cJSON *arr) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_SET_RECENT);
    if (st) {
        bind_text(st, 1, payer);
        sqlite3_bind_int(st, 2, limit);
        int r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *o = cJSON_CreateObject();
            if (!o) break;
            cJSON_AddItemToArray(arr, o);
            const char *t;
            cJSON_AddStringToObject(o, "request_id", (t = (const char *)sqlite3_column_text(st, 0)) ? t : "");
            char net[32];
            snprintf(net, sizeof net, "eip155:%lld", (long long)sqlite3_column_int64(st, 1));
            cJSON_AddStringToObject(o, "network", net);
            cJSON_AddStringToObject(o, "asset", (t = (const char *)sqlite3_column_text(st, 2)) ? t : "");
            cJSON_AddStringToObject(o, "amount", (t = (const char *)sqlite3_column_text(st, 3)) ? t : "");
            cJSON_AddStringToObject(o, "state", (t = (const char *)sqlite3_column_text(st, 4)) ? t : "");
            cJSON_AddStringToObject(o, "transaction", (t = (const char *)sqlite3_column_text(st, 5)) ? t : "");
            cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(st, 6));
            t = (const char *)sqlite3_column_text(st, 7);
            if (t && *t) cJSON_AddStringToObject(o, "error", t);
            cJSON_AddNumberToObject(o, "paid_nusd", (double)sqlite3_column_int64(st, 8));
            cJSON_AddNumberToObject(o, "cost_nusd", (double)sqlite3_column_int64(st, 9));
            cJSON_AddNumberToObject(o, "credit_used_nusd", (double)sqlite3_column_int64(st, 10));
            cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 11));
            cJSON_AddNumberToObject(o, "updated_ms", (double)sqlite3_column_int64(st, 12));
            t = (const char *)sqlite3_column_text(st, 13);
            cJSON_AddStringToObject(o, "scheme", t ? "upto" : "exact");
            if (t) cJSON_AddStringToObject(o, "max_amount", t);
        }
        if (r == SQLITE_DONE || r == SQLITE_ROW) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_ledger_update(gr_x402_store *s, const char *request_id, const char *state,
                                      const char *tx_hash, int64_t credit_delta_nusd, bool *changed) {
    gr_status rc = GR_ERR_IO;
    *changed = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_LEDGER_UPD);
    if (st) {
        bind_text(st, 1, request_id);
        bind_text(st, 2, state);
        bind_text(st, 3, tx_hash);
        sqlite3_bind_int64(st, 4, credit_delta_nusd);
        if (sqlite3_step(st) == SQLITE_DONE) {
            rc = GR_OK;
            *changed = sqlite3_changes(s->db) > 0;
        }
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_upto_put(gr_x402_store *s, const gr_x402_upto_rec *r) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_UPTO_PUT);
    if (st) {
        bind_text(st, 1, r->request_id);
        bind_text(st, 2, r->payer);
        sqlite3_bind_int64(st, 3, (int64_t)r->chain_id);
        bind_text(st, 4, r->asset);
        bind_text(st, 5, r->max_amount);
        bind_text(st, 6, r->settled_amount);
        sqlite3_bind_int64(st, 7, r->cost_nusd);
        bind_text(st, 8, r->state);
        if (r->tx_hash[0]) bind_text(st, 9, r->tx_hash);
        else sqlite3_bind_null(st, 9);
        bind_text(st, 10, r->nonce_key);
        sqlite3_bind_int64(st, 11, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_upto_state(gr_x402_store *s, const char *request_id, const char *state, const char *tx_hash) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_UPTO_STATE);
    if (st) {
        bind_text(st, 1, request_id);
        bind_text(st, 2, state);
        bind_text(st, 3, tx_hash);
        sqlite3_bind_int64(st, 4, (int64_t)gr_wall_ms());
        if (sqlite3_step(st) == SQLITE_DONE) rc = GR_OK;
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

gr_status gr_x402_store_payment_get(gr_x402_store *s, const char *request_id, cJSON *o) {
    gr_status rc = GR_ERR_IO;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = q(s, Q_PAYMENT_GET);
    if (st) {
        bind_text(st, 1, request_id);
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW) {
            const char *t;
#define COL_TEXT(i) ((t = (const char *)sqlite3_column_text(st, (i))) ? t : "")
            bool upto = sqlite3_column_type(st, 4) != SQLITE_NULL;
            cJSON_AddStringToObject(o, "request_id", COL_TEXT(0));
            cJSON_AddStringToObject(o, "scheme", upto ? "upto" : "exact");
            cJSON_AddStringToObject(o, "payer", COL_TEXT(1));
            char net[32];
            snprintf(net, sizeof net, "eip155:%lld", (long long)sqlite3_column_int64(st, 2));
            cJSON_AddStringToObject(o, "network", net);
            cJSON_AddStringToObject(o, "asset", COL_TEXT(3));
            if (upto) cJSON_AddStringToObject(o, "max_amount", COL_TEXT(4));
            cJSON_AddStringToObject(o, "amount", COL_TEXT(5));
            cJSON_AddNumberToObject(o, "cost_nusd", (double)sqlite3_column_int64(st, 6));
            cJSON_AddStringToObject(o, "state", COL_TEXT(7));
            cJSON_AddStringToObject(o, "transaction", COL_TEXT(8));
            cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(st, 9));
            if (*COL_TEXT(10)) cJSON_AddStringToObject(o, "error", t);
            cJSON_AddNumberToObject(o, "created_ms", (double)sqlite3_column_int64(st, 11));
            cJSON_AddNumberToObject(o, "updated_ms", (double)sqlite3_column_int64(st, 12));
#undef COL_TEXT
            rc = GR_OK;
        } else if (r == SQLITE_DONE) {
            rc = GR_ERR_NOT_FOUND;
        }
        q_done(st);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
