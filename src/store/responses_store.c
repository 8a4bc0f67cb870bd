/* responses_store.c — stored Responses (see responses_store.h): the API, the
 * `responses:` section, and the SQLite backend; the PostgreSQL one is in
 * responses_store_pg.c (built with GR_HAVE_PG). */
#include "responses_store.h"
#include "responses_store_be.h"

#include "config.h"
#include "store.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

void gr_stored_response_dispose(gr_stored_response *r) {
    if (!r) return;
    free(r->response);
    free(r->input_items);
    free(r->context);
    memset(r, 0, sizeof *r);
}

/* ---- SQLite ---- */

#define RESPONSES_SQLITE_SCHEMA                                                                                              \
    "CREATE TABLE IF NOT EXISTS responses(id TEXT PRIMARY KEY, owner TEXT NOT NULL, created_ms INTEGER NOT NULL," \
    " expires_ms INTEGER NOT NULL, response TEXT NOT NULL, input_items TEXT NOT NULL, context TEXT NOT NULL);"   \
    "CREATE INDEX IF NOT EXISTS responses_expires ON responses(expires_ms);"

static const char *const sqlite_sql[GR_RESP_Q_COUNT] = {
    [GR_RESP_Q_PUT] = "INSERT OR REPLACE INTO responses(id,owner,created_ms,expires_ms,response,input_items,context) VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [GR_RESP_Q_GET] = "SELECT response,input_items,context FROM responses WHERE id=?1 AND owner=?2 AND expires_ms>?3",
    [GR_RESP_Q_DEL] = "DELETE FROM responses WHERE id=?1 AND owner=?2 AND expires_ms>?3",
    [GR_RESP_Q_PRUNE] = "DELETE FROM responses WHERE expires_ms<=?1",
};

typedef struct sqlite_be {
    gr_resp_backend base;
    sqlite3 *db;
    sqlite3_stmt *q[GR_RESP_Q_COUNT];
} sqlite_be;

static gr_status sq_exec(gr_resp_backend *base, gr_resp_q which, const gr_store_param *p, int np,
                         gr_stored_response *row, int64_t *changes) {
    sqlite_be *b = (sqlite_be *)base;
    if (!b->q[which] && sqlite3_prepare_v2(b->db, sqlite_sql[which], -1, &b->q[which], NULL) != SQLITE_OK)
        return GR_ERR_IO;
    sqlite3_stmt *st = b->q[which];
    for (int i = 0; i < np; i++) {
        if (p[i].is_int) sqlite3_bind_int64(st, i + 1, p[i].i64);
        else sqlite3_bind_text(st, i + 1, p[i].text, -1, SQLITE_STATIC);
    }
    gr_status rc = GR_OK;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && row) {
        const char *c[3];
        for (int i = 0; i < 3; i++) c[i] = (const char *)sqlite3_column_text(st, i);
        row->response = gr_xstrdup(c[0] ? c[0] : "null");
        row->input_items = gr_xstrdup(c[1] ? c[1] : "[]");
        row->context = gr_xstrdup(c[2] ? c[2] : "[]");
    } else if (step == SQLITE_ROW) {
        /* not asked for */
    } else if (step == SQLITE_DONE) {
        if (row) rc = GR_ERR_NOT_FOUND;
    } else {
        rc = GR_ERR_IO;
    }
    if (changes) *changes = rc == GR_OK ? sqlite3_changes(b->db) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void sq_close(gr_resp_backend *base) {
    sqlite_be *b = (sqlite_be *)base;
    for (int i = 0; i < GR_RESP_Q_COUNT; i++) sqlite3_finalize(b->q[i]);
    sqlite3_close(b->db);
    free(b);
}

static const gr_resp_backend_ops sqlite_ops = {.exec = sq_exec, .close = sq_close};

static gr_status sqlite_open(const char *url, gr_resp_backend **out, char *err, size_t errlen) {
    const char *rest = url + strlen("sqlite://");
    const char *qm = strchr(rest, '?');
    char *path = qm ? gr_xstrndup(rest, (size_t)(qm - rest)) : gr_xstrdup(rest);
    sqlite_be *b = gr_xcalloc(1, sizeof *b);
    b->base.ops = &sqlite_ops;
    bool memory = !strcmp(path, ":memory:");
    char *msg = NULL;
    int rc = sqlite3_open_v2(path, &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(b->db, 5000);
        const char *pragmas = memory ? "PRAGMA journal_mode=MEMORY;" : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
        if (sqlite3_exec(b->db, pragmas, NULL, NULL, &msg) == SQLITE_OK &&
            sqlite3_exec(b->db, RESPONSES_SQLITE_SCHEMA, NULL, NULL, &msg) == SQLITE_OK) {
            free(path);
            *out = &b->base;
            return GR_OK;
        }
    }
    snprintf(err, errlen, "responses: cannot set up the responses table in '%s': %s", path,
             msg ? msg : b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
    sqlite3_free(msg);
    sqlite3_close(b->db);
    free(b);
    free(path);
    return GR_ERR_IO;
}

/* ---- the API, backend-neutral ---- */

struct gr_responses_store {
    gr_resp_backend *be;
    pthread_mutex_t mu;
};

gr_status gr_responses_store_open(const char *url, gr_responses_store **out, char *err, size_t errlen) {
    *out = NULL;
    gr_resp_backend *be = NULL;
    gr_status rc;
    if (url && !strncmp(url, "sqlite://", 9)) {
        rc = sqlite_open(url, &be, err, errlen);
    } else if (url && (!strncmp(url, "postgres://", 11) || !strncmp(url, "postgresql://", 13))) {
#ifdef GR_HAVE_PG
        rc = gr_responses_store_pg_open(url, &be, err, errlen);
#else
        snprintf(err, errlen, "responses: this binary was built without PostgreSQL (libpq)");
        rc = GR_ERR_UNSUPPORTED;
#endif
    } else {
        snprintf(err, errlen, "responses: the response store needs a sqlite:// or postgres:// store");
        rc = GR_ERR_INVALID;
    }
    if (rc != GR_OK) return rc;
    gr_responses_store *s = gr_xcalloc(1, sizeof *s);
    s->be = be;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return GR_OK;
}

void gr_responses_store_close(gr_responses_store *s) {
    if (!s) return;
    s->be->ops->close(s->be);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static gr_status run(gr_responses_store *s, gr_resp_q which, const gr_store_param *p, int np, gr_stored_response *row,
                     int64_t *changes) {
    pthread_mutex_lock(&s->mu);
    gr_status rc = s->be->ops->exec(s->be, which, p, np, row, changes);
    pthread_mutex_unlock(&s->mu);
    return rc;
}


gr_status gr_responses_store_put(gr_responses_store *s, const char *id, const char *owner, int64_t created_ms,
                                 int64_t expires_ms, const gr_stored_response *r) {
    const gr_store_param prune[] = {GR_STORE_INT(created_ms)};
    (void)run(s, GR_RESP_Q_PRUNE, prune, 1, NULL, NULL); /* best effort: a failed prune is retried by the next put */
    const gr_store_param p[] = {GR_STORE_TEXT(id),         GR_STORE_TEXT(owner),
                                GR_STORE_INT(created_ms),  GR_STORE_INT(expires_ms),
                                GR_STORE_TEXT(r->response), GR_STORE_TEXT(r->input_items),
                                GR_STORE_TEXT(r->context)};
    return run(s, GR_RESP_Q_PUT, p, 7, NULL, NULL);
}

gr_status gr_responses_store_get(gr_responses_store *s, const char *id, const char *owner, int64_t now_ms,
                                 gr_stored_response *out) {
    memset(out, 0, sizeof *out);
    const gr_store_param p[] = {GR_STORE_TEXT(id), GR_STORE_TEXT(owner), GR_STORE_INT(now_ms)};
    return run(s, GR_RESP_Q_GET, p, 3, out, NULL);
}

gr_status gr_responses_store_delete(gr_responses_store *s, const char *id, const char *owner, int64_t now_ms) {
    const gr_store_param p[] = {GR_STORE_TEXT(id), GR_STORE_TEXT(owner), GR_STORE_INT(now_ms)};
    int64_t n = 0;
    gr_status rc = run(s, GR_RESP_Q_DEL, p, 3, NULL, &n);
    return rc != GR_OK ? rc : n > 0 ? GR_OK : GR_ERR_NOT_FOUND;
}

/* ---- the `responses:` section ---- */

const gr_conf_key gr_conf_responses_keys[] = {
    {"store_ttl", GR_CONF_MS, GR_CONF_F(gr_responses_conf, store_ttl_ms), 0, 315360000000.0, "720h", NULL,
     "how long a stored response (`store`, the default) can be retrieved and continued with "
     "`previous_response_id`; 0 = responses are never stored"},
    {"max_stored_bytes", GR_CONF_BYTES, GR_CONF_F(gr_responses_conf, max_stored_bytes), 1024, 1073741824.0, "16MiB",
     NULL, "a response whose stored row (response, input, conversation) would be larger is not stored"},
    GR_CONF_END,
};

static const gr_responses_conf default_conf = {30ull * 24 * 3600 * 1000, 16ull << 20};

void *gr_responses_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    gr_responses_conf *c = gr_xcalloc(1, sizeof *c);
    gr_conf_load_keys(sec, "responses", gr_conf_responses_keys, c, e);
    return c;
}

void gr_responses_conf_free(void *conf) { free(conf); }

const gr_responses_conf *gr_responses_conf_of(const gr_config *cfg) {
    const gr_responses_conf *c = cfg ? cfg->section[GR_CONF_SEC_RESPONSES] : NULL;
    return c ? c : &default_conf;
}
