/* store_pg.h — the libpq connection helpers shared by the PostgreSQL store
 * backend (store_pg.c) and the PostgreSQL x402 payment store
 * (x402_store_pg.c): connect with GateRouter's defaults and session setup,
 * reconnect after a broken connection, run a named prepared statement with
 * one retry, SQLSTATE -> gr_status mapping, UTF-8 hygiene of text
 * parameters. Built only with GR_HAVE_PG (cmake/area_pg.cmake).
 *
 * A gr_pg_conn is not thread-safe: its owner serializes every call on it
 * (one mutex per connection). */
#ifndef GR_STORE_PG_H
#define GR_STORE_PG_H

#include "common.h"

#include "pq_dl.h" /* libpq-fe.h + the dlopen'ed function table */
#include "store_param.h"

typedef struct gr_pg_conn {
    PGconn *conn;
    bool *prepared;     /* owner's per-statement flags, cleared on every (re)connect */
    size_t nprepared;
    const char *tag;    /* "store" / "x402 store": prefix of log lines */
    uint64_t last_fail_log_us; /* reconnect failures are logged once a second */
    bool suspect;       /* a call failed with libpq's own error (no SQLSTATE): the socket
                         * may be dead while PQstatus still says OK; reset before the next */
} gr_pg_conn;

/* Sets c up for its owner (tag, the owner's nprepared per-statement flags)
 * and connects c->conn to url (defaults: connect_timeout=10,
 * application_name gaterouter, TCP keepalives, statement_timeout 30 s when
 * the server has none) and sets the session up. On failure c->conn is NULL
 * and err holds a message with the password redacted. */
GR_MUST_CHECK gr_status gr_pg_connect(gr_pg_conn *c, const char *tag, bool *prepared, size_t nprepared,
                                      const char *url, char *err, size_t errlen);
void gr_pg_disconnect(gr_pg_conn *c); /* PQfinish; NULL-safe */
/* A usable connection, re-established (PQreset + session setup) if it broke. */
GR_MUST_CHECK gr_status gr_pg_ensure(gr_pg_conn *c);
/* Runs prepared statement `name` (prepared from sql on first use per
 * session; slot indexes c->prepared) with text parameters. Returns the result
 * (tuples or command OK; caller PQclears) or NULL with *rc set. idempotent
 * allows one retry after a lost connection. Constraint violations (class 23)
 * are not logged: they are answers. */
PGresult *gr_pg_run(gr_pg_conn *c, size_t slot, const char *name, const char *sql, int nparams,
                    const char *const *vals, bool idempotent, gr_status *rc);
/* One plain statement (migrations, BEGIN/COMMIT); errors logged as `what`. */
GR_MUST_CHECK gr_status gr_pg_exec(gr_pg_conn *c, const char *what, const char *sql);
/* SQLSTATE class 23/22 -> GR_ERR_INVALID, anything else -> GR_ERR_IO. */
gr_status gr_pg_map_sqlstate(const char *state);
void gr_pg_log(const gr_pg_conn *c, const char *what, const char *msg);
/* A text parameter that is valid UTF-8: s itself, or a copy with invalid
 * bytes replaced by '?' kept in *tmp (caller frees). NULL stays NULL. */
const char *gr_pg_clean_param(const char *s, char **tmp);

/* The text parameters of one statement built from gr_store_params (the x402
 * and responses backends): integers in decimal, text made
 * valid UTF-8 by gr_pg_clean_param. Zero-initialise, set each with
 * gr_pg_arg, pass vals to gr_pg_run, end with gr_pg_args_done. */
#define GR_PG_MAX_ARGS 20
typedef struct gr_pg_args {
    const char *vals[GR_PG_MAX_ARGS];
    char num[GR_PG_MAX_ARGS][24];
    char *tmp[GR_PG_MAX_ARGS]; /* cleaned copies (NULL: the text was valid) */
} gr_pg_args;
/* Sets argument i (0 <= i < GR_PG_MAX_ARGS). */
void gr_pg_arg(gr_pg_args *a, int i, const gr_store_param *p);
/* The end of a statement run with a: *changes (when asked) = the rows the
 * command changed (0 without a result), res cleared (NULL-safe), the
 * cleaned copies freed. */
void gr_pg_args_done(gr_pg_args *a, PGresult *res, int64_t *changes);

#endif
