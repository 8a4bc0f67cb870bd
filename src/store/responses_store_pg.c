/* responses_store_pg.c — the PostgreSQL backend of the response store
 * (responses_store_be.h). Built only with GR_HAVE_PG (cmake/area_pg.cmake).
 * One connection of its own (the gr_pg_* helpers of store_pg.h: defaults,
 * reconnect, prepared statements) to the database of the `store:` URL. The
 * table `responses` is created at open (CREATE TABLE IF NOT EXISTS, under a
 * transaction-scoped advisory lock so instances starting together take
 * turns). Every statement is safe to repeat after a lost connection. */
#include "responses_store_be.h"
#include "store_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const pg_sql[GR_RESP_Q_COUNT] = {
    [GR_RESP_Q_PUT] = ("INSERT INTO responses(id,owner,created_ms,expires_ms,response,input_items,context)"
                      " VALUES($1,$2,$3::bigint,$4::bigint,$5,$6,$7) ON CONFLICT (id) DO UPDATE SET"
                      " owner=excluded.owner,created_ms=excluded.created_ms,expires_ms=excluded.expires_ms,"
                      "response=excluded.response,input_items=excluded.input_items,context=excluded.context"),
    [GR_RESP_Q_GET] = ("SELECT response,input_items,context FROM responses WHERE id=$1 AND owner=$2"
                      " AND expires_ms>$3::bigint"),
    [GR_RESP_Q_DEL] = "DELETE FROM responses WHERE id=$1 AND owner=$2 AND expires_ms>$3::bigint",
    [GR_RESP_Q_PRUNE] = "DELETE FROM responses WHERE expires_ms<=$1::bigint",
};

static const char *const pg_name[GR_RESP_Q_COUNT] = {
    [GR_RESP_Q_PUT] = "gr_resp_put", [GR_RESP_Q_GET] = "gr_resp_get",
    [GR_RESP_Q_DEL] = "gr_resp_del", [GR_RESP_Q_PRUNE] = "gr_resp_prune",
};

/* pg_advisory_xact_lock key serializing the table's creation ("respmigr"). */
#define RESP_MIGRATE_LOCK "8243124858007284082"

typedef struct pg_be {
    gr_resp_backend base;
    gr_pg_conn pg;
    bool prepared[GR_RESP_Q_COUNT];
} pg_be;

static gr_status pg_exec(gr_resp_backend *base, gr_resp_q which, const gr_store_param *p, int np,
                         gr_stored_response *row, int64_t *changes) {
    pg_be *b = (pg_be *)base;
    if (np > GR_PG_MAX_ARGS) return GR_ERR_INVALID;
    gr_pg_args args = {0};
    for (int i = 0; i < np; i++) gr_pg_arg(&args, i, &p[i]);
    gr_status rc;
    PGresult *res = gr_pg_run(&b->pg, (size_t)which, pg_name[which], pg_sql[which], np, args.vals, true, &rc);
    if (res && row) {
        if (gr_pq()->resultStatus(res) == PGRES_TUPLES_OK && gr_pq()->ntuples(res) > 0) {
            row->response = gr_xstrdup(gr_pq()->getvalue(res, 0, 0));
            row->input_items = gr_xstrdup(gr_pq()->getvalue(res, 0, 1));
            row->context = gr_xstrdup(gr_pq()->getvalue(res, 0, 2));
        } else {
            rc = GR_ERR_NOT_FOUND;
        }
    }
    gr_pg_args_done(&args, res, changes);
    return rc;
}

static void pg_close(gr_resp_backend *base) {
    pg_be *b = (pg_be *)base;
    gr_pg_disconnect(&b->pg);
    free(b);
}

static const gr_resp_backend_ops pg_ops = {.exec = pg_exec, .close = pg_close};

static gr_status create_table(pg_be *b) {
    gr_pg_conn *c = &b->pg;
    gr_status rc;
    if ((rc = gr_pg_exec(c, "responses table", "BEGIN"))) return rc;
    if ((rc = gr_pg_exec(c, "responses table lock", "SELECT pg_advisory_xact_lock(" RESP_MIGRATE_LOCK ")")) ||
        (rc = gr_pg_exec(c, "responses table",
                         "CREATE TABLE IF NOT EXISTS responses(id text COLLATE \"C\" PRIMARY KEY,"
                         " owner text COLLATE \"C\" NOT NULL, created_ms bigint NOT NULL, expires_ms bigint NOT NULL,"
                         " response text NOT NULL, input_items text NOT NULL, context text NOT NULL);"
                         "CREATE INDEX IF NOT EXISTS responses_expires ON responses(expires_ms)")) ||
        (rc = gr_pg_exec(c, "responses table commit", "COMMIT"))) {
        gr_pq()->clear(gr_pq()->exec(c->conn, "ROLLBACK"));
        return rc;
    }
    return GR_OK;
}

gr_status gr_responses_store_pg_open(const char *url, gr_resp_backend **out, char *err, size_t errlen) {
    *out = NULL;
    if (errlen) err[0] = '\0';
    pg_be *b = gr_xcalloc(1, sizeof *b);
    b->base.ops = &pg_ops;
    gr_status rc = gr_pg_connect(&b->pg, "responses store", b->prepared, GR_RESP_Q_COUNT, url, err, errlen);
    if (rc == GR_OK && (rc = create_table(b)) != GR_OK) {
        snprintf(err, errlen, "responses: cannot set up the responses table (see the log above)");
        gr_pg_disconnect(&b->pg);
    }
    if (rc != GR_OK) {
        free(b);
        return rc;
    }
    *out = &b->base;
    return GR_OK;
}
