/* store_pg.c — the PostgreSQL backend of the store interface (store.h), on
 * libpq: one connection per gr_store handle, versioned schema migrations
 * under an advisory lock, named prepared statements, ledger batches as one
 * multi-row statement (arrays + unnest) that also updates the spend buckets.
 *
 * URL: "postgres://user:pass@host:port/db?param=value&..." (or postgresql://),
 * handed to libpq as is, so every libpq URI parameter works (sslmode,
 * connect_timeout, application_name, options=-c%20synchronous_commit%3Doff,
 * ...). Defaults added unless the URL sets them: connect_timeout=10,
 * application_name=gaterouter, TCP keepalives after 30 s idle, and a session
 * statement_timeout of 30 s when the server's is 0 (none).
 *
 * Threading: one PGconn per handle; operations on a handle are serialized by
 * a mutex (a PGconn must never be used by two threads at once). The gateway
 * opens two handles (services.c): the ledger writer's (also used by the key
 * table) and the admin API's, so admin reads never wait behind a batch.
 * Several gateway instances share one database; every operation is one
 * statement or one transaction, so instances need no coordination beyond
 * what PostgreSQL gives (row locks on key_spend, the unique request_id).
 *
 * Failures: a broken connection is re-established (PQreset) at the start of
 * the next operation; idempotent operations (reads, key updates, the ledger
 * insert, which ignores request ids already present) are retried once after
 * a reset. Errors map to gr_status: constraint/data errors (SQLSTATE class
 * 23, 22) -> GR_ERR_INVALID, everything else (connection, timeout, deadlock,
 * missing schema) -> GR_ERR_IO; the server's message is written to stderr.
 *
 * Durability: a row is committed when its statement returns; with the
 * server's default synchronous_commit=on the WAL is flushed to disk by then,
 * so neither a gateway crash nor a server crash loses it.
 *
 * The connection plumbing (connect with defaults, session setup, reconnect,
 * prepared-statement runner with one retry, SQLSTATE mapping, UTF-8 hygiene)
 * is exported through store_pg.h as gr_pg_*: the PostgreSQL x402 payment
 * store (x402_store_pg.c) uses the same code on a connection of its own. */
#include "store.h"
#include "store_alert_sql.h"
#include "store_learn_sql.h"
#include "grow_buf.h"
#include "store_pg.h"
#include "utf8.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

enum {
    PS_KEY_INSERT,
    PS_KEY_UPDATE,
    PS_KEY_GET,
    PS_KEY_LIST,
    PS_SPEND_GET,
    PS_LEDGER_INSERT,
    PS_GEN_GET,
    PS_USAGE_BY_KEY,
    PS_USAGE_BY_MODEL,
    PS_USAGE_BY_PROVIDER,
    PS_USAGE_BY_DAY,
    PS_LEDGER_COUNT,
    PS_FB_LOCK,
    PS_FB_GET,
    PS_FB_PUT,
    PS_LEARNED_ADD,
    PS_LEARNED_LIST,
    PS_LEDGER_SCAN,
    PS_ALERT_PUT,
    PS_ALERT_PENDING,
    PS_ALERT_DONE,
    PS_COUNT
};

typedef struct pg_store {
    gr_store base;
    gr_pg_conn pg;
    pthread_mutex_t mu;
    bool prepared[PS_COUNT]; /* per connection: cleared on every (re)connect */
} pg_store;

#define KEY_COLS                                                                            \
    "id,hash,prefix,name,models,metadata,budget_total,budget_daily,budget_monthly,rpm,tpm," \
    "expires_at,created_at,updated_at,revoked_at,prev_hash,prev_until"

#define LEDGER_COLS                                                                        \
    "request_id,ts_ms,key_id,payer,model_asked,model_served,provider,tokens_in,tokens_out," \
    "tokens_cached,tokens_reasoning,cost_nusd,estimated,latency_us,ttft_us,status,"        \
    "route_reason,error_type,x402_amount,x402_credit_delta,x402_network,x402_tx_hash,"     \
    "x402_settlement,client_request_id,tokens_cache_write,route_learn,attempts"

#define LEDGER_NCOLS 27

/* Usage summaries: ts range plus the equivalent day range (index / partition
 * pruning), optional key. $1 from day, $2 to day (NULL = open), $3 from ms,
 * $4 to ms (0 = open), $5 key id (NULL = all). */
#define USAGE_SQL(group)                                                                      \
    "SELECT (" group ") COLLATE \"C\" AS g, count(*), sum((status >= 400)::int),"           \
    " sum(tokens_in), sum(tokens_out), sum(tokens_cached), sum(cost_nusd),"                  \
    " sum(estimated::int) FROM ledger"                                                       \
    " WHERE day >= $1::bigint AND ($2::bigint IS NULL OR day <= $2::bigint)"                 \
    " AND ts_ms >= $3::bigint AND ($4::bigint = 0 OR ts_ms < $4::bigint)"                    \
    " AND ($5::text IS NULL OR key_id = $5::text) GROUP BY 1 ORDER BY 1"

static const char *const ps_sql[PS_COUNT] = {
    [PS_KEY_INSERT] = "INSERT INTO keys(" KEY_COLS ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,"
                      "$11,$12,$13,$14,$15,$16,$17)",
    [PS_KEY_UPDATE] = "UPDATE keys SET name=$2,models=$3,metadata=$4,budget_total=$5,"
                      "budget_daily=$6,budget_monthly=$7,rpm=$8,tpm=$9,expires_at=$10,"
                      "updated_at=$11,revoked_at=$12,hash=$13,prefix=$14,prev_hash=$15,prev_until=$16"
                      " WHERE id=$1",
    [PS_KEY_GET] = "SELECT " KEY_COLS " FROM keys WHERE id=$1",
    [PS_KEY_LIST] = "SELECT " KEY_COLS " FROM keys ORDER BY created_at, id",
    [PS_SPEND_GET] = "SELECT kind,nusd,requests FROM key_spend WHERE key_id=$1 AND "
                     "((kind=0 AND bucket=0) OR (kind=1 AND bucket=$2) OR (kind=2 AND bucket=$3))",
    /* One statement = one transaction: the rows (duplicates of a request id
     * already present are skipped; the statement returns how many went in)
     * and, from exactly the rows inserted, the total/day/month buckets of each
     * key. Buckets are upserted in key order
     * so concurrent instances cannot deadlock on them. */
    [PS_LEDGER_INSERT] =
        "WITH r AS (SELECT * FROM unnest($1::text[],$2::bigint[],$3::text[],$4::text[],"
        "$5::text[],$6::text[],$7::text[],$8::bigint[],$9::bigint[],$10::bigint[],"
        "$11::bigint[],$12::bigint[],$13::boolean[],$14::bigint[],$15::bigint[],"
        "$16::integer[],$17::text[],$18::text[],$19::text[],$20::bigint[],$21::text[],"
        "$22::text[],$23::text[],$24::text[],$25::bigint[],$26::text[],$27::integer[],$28::integer[]) AS u(" LEDGER_COLS ",day)),"
        " ins AS (INSERT INTO ledger(" LEDGER_COLS ",day) SELECT " LEDGER_COLS ",day FROM r"
        " ON CONFLICT (request_id) DO NOTHING RETURNING key_id, day, cost_nusd),"
        " sp AS (INSERT INTO key_spend(key_id,kind,bucket,nusd,requests)"
        " SELECT ins.key_id, k.kind, CASE k.kind WHEN 0 THEN 0 WHEN 1 THEN ins.day ELSE"
        " (extract(year FROM date '1970-01-01' + ins.day) * 12"
        " + extract(month FROM date '1970-01-01' + ins.day) - 1)::bigint END,"
        " sum(ins.cost_nusd), count(*)"
        " FROM ins CROSS JOIN (VALUES (0::smallint),(1::smallint),(2::smallint)) AS k(kind)"
        " WHERE ins.key_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        " ON CONFLICT (key_id, kind, bucket) DO UPDATE SET nusd = key_spend.nusd + excluded.nusd,"
        " requests = key_spend.requests + excluded.requests)"
        " SELECT count(*) FROM ins",
    [PS_GEN_GET] = "(SELECT " LEDGER_COLS " FROM ledger WHERE request_id=$1) UNION ALL"
                   " (SELECT " LEDGER_COLS " FROM ledger WHERE client_request_id=$1 ORDER BY ts_ms DESC LIMIT 1)"
                   " LIMIT 1",
    [PS_USAGE_BY_KEY] = USAGE_SQL("COALESCE(key_id, 'payer:' || payer, '(none)')"),
    [PS_USAGE_BY_MODEL] = USAGE_SQL("COALESCE(model_served, model_asked, '(none)')"),
    [PS_USAGE_BY_PROVIDER] = USAGE_SQL("COALESCE(provider, '(none)')"),
    [PS_USAGE_BY_DAY] = USAGE_SQL("to_char(date '1970-01-01' + day, 'YYYY-MM-DD')"),
    [PS_LEDGER_COUNT] = "SELECT count(*) FROM ledger",
    /* ratings of one generation take turns (class 18 = route_feedback), so a
     * replaced rating is always seen and taken back exactly once */
    [PS_FB_LOCK] = "SELECT pg_advisory_xact_lock(18, hashtext($1::text))",
    [PS_FB_GET] = GR_SQL_FEEDBACK_GET,
    [PS_FB_PUT] = GR_SQL_FEEDBACK_PUT,
    [PS_LEARNED_ADD] = GR_SQL_LEARNED_ADD,
    [PS_LEARNED_LIST] = GR_SQL_LEARNED_LIST,
    [PS_ALERT_PUT] = GR_SQL_ALERT_PUT,
    [PS_ALERT_PENDING] = GR_SQL_ALERT_PENDING,
    [PS_ALERT_DONE] = GR_SQL_ALERT_DONE,
    [PS_LEDGER_SCAN] = "SELECT " LEDGER_COLS " FROM ledger"
                       " WHERE day >= $1::bigint AND ($2::bigint IS NULL OR day <= $2::bigint)"
                       " AND ts_ms >= $3::bigint AND ($4::bigint = 0 OR ts_ms < $4::bigint)"
                       " AND ($5::text IS NULL OR key_id = $5::text) ORDER BY ts_ms DESC, request_id DESC"
                       " LIMIT $6::bigint",
};

static const char *const ps_name[PS_COUNT] = {
    [PS_KEY_INSERT] = "gr_key_insert",       [PS_KEY_UPDATE] = "gr_key_update",
    [PS_KEY_GET] = "gr_key_get",             [PS_KEY_LIST] = "gr_key_list",
    [PS_SPEND_GET] = "gr_spend_get",         [PS_LEDGER_INSERT] = "gr_ledger_insert",
    [PS_GEN_GET] = "gr_gen_get",             [PS_USAGE_BY_KEY] = "gr_usage_key",
    [PS_USAGE_BY_MODEL] = "gr_usage_model",  [PS_USAGE_BY_PROVIDER] = "gr_usage_provider",
    [PS_USAGE_BY_DAY] = "gr_usage_day",      [PS_LEDGER_COUNT] = "gr_ledger_count",
    [PS_FB_LOCK] = "gr_fb_lock",             [PS_FB_GET] = "gr_fb_get",
    [PS_FB_PUT] = "gr_fb_put",               [PS_LEARNED_ADD] = "gr_learned_add",
    [PS_LEARNED_LIST] = "gr_learned_list",
    [PS_LEDGER_SCAN] = "gr_ledger_scan",
    [PS_ALERT_PUT] = "gr_alert_put",         [PS_ALERT_PENDING] = "gr_alert_pending",
    [PS_ALERT_DONE] = "gr_alert_done",
};

/* ---- schema ---- */

/* Append-only, like store_sqlite.c: migrations[i] brings the schema from
 * version i to i+1. Never edit a shipped entry; add a new one.
 *
 * The ledger is partition-friendly by day: `day` (UTC days since 1970, the
 * same number as the spend day bucket) is stored with every row and every
 * time-range read also filters on it, so a later migration can turn `ledger`
 * into PARTITION BY RANGE (day) (unique key then (request_id, day): a retried
 * row carries the same ts_ms, hence the same day, so idempotence holds) and
 * retention can drop whole days. It is not partitioned yet because a
 * partitioned table cannot have a unique index on request_id alone, and
 * creating partitions on the write path takes locks that would stall the
 * other instances. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE keys("
    " id text COLLATE \"C\" PRIMARY KEY, hash text COLLATE \"C\" NOT NULL UNIQUE,"
    " prefix text NOT NULL, name text, models text, metadata text,"
    " budget_total bigint NOT NULL DEFAULT -1, budget_daily bigint NOT NULL DEFAULT -1,"
    " budget_monthly bigint NOT NULL DEFAULT -1, rpm bigint NOT NULL DEFAULT 0,"
    " tpm bigint NOT NULL DEFAULT 0, expires_at bigint NOT NULL DEFAULT 0,"
    " created_at bigint NOT NULL, updated_at bigint NOT NULL,"
    " revoked_at bigint NOT NULL DEFAULT 0);"
    "CREATE TABLE ledger("
    " request_id text COLLATE \"C\" UNIQUE, day integer NOT NULL, ts_ms bigint NOT NULL,"
    " key_id text COLLATE \"C\", payer text COLLATE \"C\", model_asked text COLLATE \"C\","
    " model_served text COLLATE \"C\", provider text COLLATE \"C\","
    " tokens_in bigint NOT NULL, tokens_out bigint NOT NULL, tokens_cached bigint NOT NULL,"
    " tokens_reasoning bigint NOT NULL, cost_nusd bigint NOT NULL, estimated boolean NOT NULL,"
    " latency_us bigint NOT NULL, ttft_us bigint NOT NULL, status integer NOT NULL,"
    " route_reason text, error_type text, x402_amount text, x402_credit_delta bigint NOT NULL,"
    " x402_network text, x402_tx_hash text, x402_settlement text);"
    "CREATE INDEX ledger_day ON ledger(day, ts_ms);"
    "CREATE INDEX ledger_key_day ON ledger(key_id, day, ts_ms);"
    "CREATE TABLE key_spend("
    " key_id text COLLATE \"C\" NOT NULL, kind smallint NOT NULL, bucket bigint NOT NULL,"
    " nusd bigint NOT NULL, requests bigint NOT NULL,"
    " PRIMARY KEY(key_id, kind, bucket));",
    /* 1 -> 2: request_id becomes the gateway's (unique across instances);
     * the client's X-Request-Id moves beside it, not unique, indexed. Rows
     * written before keep their request_id. */
    "ALTER TABLE ledger ADD COLUMN client_request_id text COLLATE \"C\";"
    "CREATE INDEX ledger_client_request_id ON ledger(client_request_id);",
    /* 2 -> 3: prompt-cache writes (Anthropic cache_creation_input_tokens) */
    "ALTER TABLE ledger ADD COLUMN tokens_cache_write bigint NOT NULL DEFAULT 0;",
    /* 3 -> 4: what the auto router learns from ratings (route_learn.h), as in store_sqlite.c */
    "ALTER TABLE ledger ADD COLUMN route_learn text;"
    "CREATE TABLE route_feedback("
    " request_id text COLLATE \"C\" PRIMARY KEY, key_id text COLLATE \"C\", model text COLLATE \"C\","
    " score double precision NOT NULL, predicted double precision NOT NULL, w0 double precision NOT NULL, w1 double precision NOT NULL,"
    " w2 double precision NOT NULL, w3 double precision NOT NULL, w4 double precision NOT NULL,"
    " w5 double precision NOT NULL, comment text, created_ms bigint NOT NULL, updated_ms bigint NOT NULL);"
    "CREATE TABLE route_learned("
    " model text COLLATE \"C\" PRIMARY KEY,"
    " s0 double precision NOT NULL, s1 double precision NOT NULL, s2 double precision NOT NULL,"
    " s3 double precision NOT NULL, s4 double precision NOT NULL, s5 double precision NOT NULL,"
    " f0 double precision NOT NULL, f1 double precision NOT NULL, f2 double precision NOT NULL,"
    " f3 double precision NOT NULL, f4 double precision NOT NULL, f5 double precision NOT NULL,"
    " e0 double precision NOT NULL, e1 double precision NOT NULL, e2 double precision NOT NULL,"
    " e3 double precision NOT NULL, e4 double precision NOT NULL, e5 double precision NOT NULL,"
    " ratings bigint NOT NULL, updated_ms bigint NOT NULL);",
    /* 4 -> 5: key rotation: the previous secret's hash, valid until prev_until (ms), */
    "ALTER TABLE keys ADD COLUMN prev_hash text COLLATE \"C\";"
    "ALTER TABLE keys ADD COLUMN prev_until bigint NOT NULL DEFAULT 0;"
    /* and the upstream attempts of a request (the console's Requests page); older rows say 1 */
    "ALTER TABLE ledger ADD COLUMN attempts integer NOT NULL DEFAULT 1;",
    /* 5 -> 6: the webhook alerts' outbox (store_alert_sql.h), as in store_sqlite.c */
    "CREATE TABLE alert_outbox("
    " event_key text COLLATE \"C\" PRIMARY KEY, kind text NOT NULL, body text NOT NULL, state smallint NOT NULL,"
    " attempts integer NOT NULL, created_ms bigint NOT NULL, updated_ms bigint NOT NULL);"
    "CREATE INDEX alert_outbox_pending ON alert_outbox(state, created_ms);",
};
#define SCHEMA_VERSION ((int)GR_ARRAY_LEN(migrations))

/* pg_advisory_xact_lock key serializing migrations of concurrent instances
 * ("gaterout" in ASCII). */
#define MIGRATE_LOCK "7449354444534473076"

/* ---- helpers ---- */

static gr_status ensure_conn(pg_store *s) { return gr_pg_ensure(&s->pg); }

/* Runs prepared statement `which` (see gr_pg_run). */
static PGresult *run(pg_store *s, int which, int nparams, const char *const *vals,
                     bool idempotent, gr_status *rc) {
    return gr_pg_run(&s->pg, (size_t)which, ps_name[which], ps_sql[which], nparams, vals,
                     idempotent, rc);
}

/* Plain statement outside the prepared set (migrations, transactions). */
static gr_status exec_sql(pg_store *s, const char *what, const char *sql) {
    return gr_pg_exec(&s->pg, what, sql);
}

static int64_t col_i64(const PGresult *res, int row, int col) {
    return strtoll(gr_pq()->getvalue(res, row, col), NULL, 10);
}

static char *col_dup(const PGresult *res, int row, int col) {
    return gr_pq()->getisnull(res, row, col) ? NULL : gr_xstrdup(gr_pq()->getvalue(res, row, col));
}

static void col_copy(const PGresult *res, int row, int col, char *dst, size_t cap) {
    gr_store_strlcpy(dst, gr_pq()->getvalue(res, row, col), cap);
}

/* ---- growable text buffer and UTF-8 hygiene ---- */

static void buf_putc(gr_grow_buf *b, char c) {
    gr_grow_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void buf_puts(gr_grow_buf *b, const char *s) {
    size_t n = strlen(s);
    gr_grow_reserve(b, n);
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

/* Appends s with every byte of an invalid UTF-8 sequence replaced by '?'
 * (PostgreSQL rejects invalid UTF-8; SQLite stores it; fixed-size fields may
 * also cut a multi-byte character). If `quote`, escapes for an array
 * element. */
static void buf_put_text(gr_grow_buf *b, const char *s, bool quote) {
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    while (*p) {
        size_t n = gr_utf8_seq_len(p, left);
        if (!n) {
            buf_putc(b, '?');
            p++;
            left--;
            continue;
        }
        if (quote && (*p == '"' || *p == '\\')) buf_putc(b, '\\');
        gr_grow_reserve(b, n);
        memcpy(b->p + b->len, p, n);
        b->len += n;
        b->p[b->len] = '\0';
        p += n;
        left -= n;
    }
}

/* ---- libpq helpers shared with x402_store_pg.c (store_pg.h) ---- */

const char *gr_pg_clean_param(const char *s, char **tmp) {
    *tmp = NULL;
    if (!s || gr_utf8_valid(s, strlen(s))) return s;
    gr_grow_buf b = {0};
    buf_put_text(&b, s, false);
    *tmp = b.p;
    return b.p;
}

void gr_pg_arg(gr_pg_args *a, int i, const gr_store_param *p) {
    if (p->is_int) {
        snprintf(a->num[i], sizeof a->num[i], "%" PRId64, p->i64);
        a->vals[i] = a->num[i];
    } else {
        a->vals[i] = gr_pg_clean_param(p->text, &a->tmp[i]); /* PostgreSQL rejects invalid UTF-8 */
    }
}

void gr_pg_args_done(gr_pg_args *a, PGresult *res, int64_t *changes) {
    if (changes) *changes = res ? strtoll(gr_pq()->cmdTuples(res), NULL, 10) : 0;
    if (res) gr_pq()->clear(res);
    for (int i = 0; i < GR_PG_MAX_ARGS; i++) free(a->tmp[i]);
}

void gr_pg_log(const gr_pg_conn *c, const char *what, const char *msg) {
    size_t n = msg ? strlen(msg) : 0;
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) n--;
    fprintf(stderr, "gaterouter: %s: postgres: %s: %.*s\n", c && c->tag ? c->tag : "store", what,
            (int)n, msg ? msg : "");
}

static bool sqlstate_is(const PGresult *res, const char *want) {
    const char *state = gr_pq()->resultErrorField(res, PG_DIAG_SQLSTATE);
    return state && strcmp(state, want) == 0;
}

gr_status gr_pg_map_sqlstate(const char *state) {
    if (state && (strncmp(state, "23", 2) == 0 || strncmp(state, "22", 2) == 0))
        return GR_ERR_INVALID;
    return GR_ERR_IO;
}

/* Notices ("relation already exists, skipping") are not errors. */
static void quiet_notice(void *arg, const char *msg) {
    (void)arg;
    (void)msg;
}

/* Per-connection setup, after the first connect and after every reset. */
static gr_status session_setup(gr_pg_conn *c, char *err, size_t errlen) {
    if (c->prepared) memset(c->prepared, 0, c->nprepared * sizeof *c->prepared);
    gr_pq()->setNoticeProcessor(c->conn, quiet_notice, NULL);
    const char *enc = gr_pq()->parameterStatus(c->conn, "server_encoding");
    if (enc && strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0) {
        snprintf(err, errlen, "%s: the PostgreSQL database must use UTF8 (it uses %s)", c->tag, enc);
        return GR_ERR_UNSUPPORTED;
    }
    if (gr_pq()->setClientEncoding(c->conn, "UTF8") != 0) {
        snprintf(err, errlen, "%s: PostgreSQL: cannot set client_encoding: %s", c->tag,
                 gr_pq()->errorMessage(c->conn));
        return GR_ERR_IO;
    }
    PGresult *res = gr_pq()->exec(c->conn, "SELECT current_setting('statement_timeout')");
    gr_status rc = GR_OK;
    if (gr_pq()->resultStatus(res) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "%s: PostgreSQL: %s", c->tag, gr_pq()->resultErrorMessage(res));
        rc = GR_ERR_IO;
    } else if (strcmp(gr_pq()->getvalue(res, 0, 0), "0") == 0) {
        gr_pq()->clear(res);
        res = gr_pq()->exec(c->conn, "SET statement_timeout = '30s'");
        if (gr_pq()->resultStatus(res) != PGRES_COMMAND_OK) {
            snprintf(err, errlen, "%s: PostgreSQL: %s", c->tag, gr_pq()->resultErrorMessage(res));
            rc = GR_ERR_IO;
        }
    }
    gr_pq()->clear(res);
    return rc;
}

gr_status gr_pg_connect(gr_pg_conn *c, const char *tag, bool *prepared, size_t nprepared,
                        const char *url, char *err, size_t errlen) {
    c->tag = tag;
    c->prepared = prepared;
    c->nprepared = nprepared;
    c->conn = NULL;
    char why[320];
    if (gr_pq_load(why, sizeof why) != GR_OK) { /* libpq is dlopen'ed: pq_dl.h */
        snprintf(err, errlen, "%s: a postgres:// store needs libpq (%s)", c->tag, why);
        return GR_ERR_UNSUPPORTED;
    }
    /* Defaults first: the URL's own parameters (expanded from dbname) win. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "keepalives",
                                "keepalives_idle", "dbname", NULL};
    const char *const vals[] = {"10", "gaterouter", "1", "30", url, NULL};
    c->conn = gr_pq()->connectdbParams(keys, vals, 1);
    char safe[256];
    gr_store_url_redact(url, safe, sizeof safe);
    gr_status rc = GR_ERR_IO;
    if (!c->conn) {
        snprintf(err, errlen, "%s: cannot connect to %s: out of memory", c->tag, safe);
    } else if (gr_pq()->status(c->conn) != CONNECTION_OK) {
        const char *m = gr_pq()->errorMessage(c->conn);
        size_t len = strlen(m);
        while (len && (m[len - 1] == '\n' || m[len - 1] == ' ')) len--;
        snprintf(err, errlen, "%s: cannot connect to %s: %.*s", c->tag, safe, (int)len, m);
    } else {
        rc = session_setup(c, err, errlen);
    }
    if (rc) gr_pg_disconnect(c);
    return rc;
}

void gr_pg_disconnect(gr_pg_conn *c) {
    if (!c || !c->conn) return; /* never connected: libpq may not even be loaded */
    gr_pq()->finish(c->conn);
    c->conn = NULL;
}

gr_status gr_pg_ensure(gr_pg_conn *c) {
    if (!c->conn) return GR_ERR_UNAVAILABLE;
    if (gr_pq()->status(c->conn) == CONNECTION_OK && !c->suspect) return GR_OK;
    c->suspect = false;
    gr_pq()->reset(c->conn);
    if (gr_pq()->status(c->conn) != CONNECTION_OK) {
        uint64_t now = gr_now_us();
        if (now - c->last_fail_log_us >= 1000000) {
            c->last_fail_log_us = now;
            gr_pg_log(c, "reconnect failed", gr_pq()->errorMessage(c->conn));
        }
        return GR_ERR_UNAVAILABLE;
    }
    char err[256];
    gr_status rc = session_setup(c, err, sizeof err);
    if (rc) gr_pg_log(c, "reconnect", err);
    else fprintf(stderr, "gaterouter: %s: postgres: reconnected\n", c->tag);
    return rc;
}

/* Whether a failed call lost the server: PQstatus says so, or the error is
 * libpq's own (no SQLSTATE: e.g. a send on a reset socket), after which the
 * connection is reset before its next use. */
static bool conn_lost(gr_pg_conn *c, const char *sqlstate) {
    if (gr_pq()->status(c->conn) != CONNECTION_OK) return true;
    if (sqlstate) return false;
    c->suspect = true;
    return true;
}

PGresult *gr_pg_run(gr_pg_conn *c, size_t slot, const char *name, const char *sql, int nparams,
                    const char *const *vals, bool idempotent, gr_status *rc) {
    if (slot >= c->nprepared) {
        *rc = GR_ERR_INVALID;
        return NULL;
    }
    for (int attempt = 0;; attempt++) {
        *rc = gr_pg_ensure(c);
        if (*rc) return NULL;
        PGresult *res;
        if (!c->prepared[slot]) {
            res = gr_pq()->prepare(c->conn, name, sql, 0, NULL);
            ExecStatusType st = gr_pq()->resultStatus(res);
            if (st == PGRES_COMMAND_OK) {
                c->prepared[slot] = true;
            } else if (st == PGRES_FATAL_ERROR && sqlstate_is(res, "42P05")) {
                c->prepared[slot] = true; /* already prepared on this session */
            } else {
                const char *state = gr_pq()->resultErrorField(res, PG_DIAG_SQLSTATE);
                gr_pg_log(c, name, gr_pq()->resultErrorMessage(res));
                bool lost = conn_lost(c, state);
                *rc = lost ? GR_ERR_UNAVAILABLE : gr_pg_map_sqlstate(state);
                bool again = attempt == 0 && idempotent && lost;
                gr_pq()->clear(res);
                if (again) continue;
                return NULL;
            }
            gr_pq()->clear(res);
        }
        res = gr_pq()->execPrepared(c->conn, name, nparams, vals, NULL, NULL, 0);
        ExecStatusType st = gr_pq()->resultStatus(res);
        if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
            *rc = GR_OK;
            return res;
        }
        const char *state = gr_pq()->resultErrorField(res, PG_DIAG_SQLSTATE);
        bool lost = conn_lost(c, state);
        bool unprepared = state && strcmp(state, "26000") == 0; /* e.g. a pooler's new session */
        if (unprepared) c->prepared[slot] = false;
        *rc = lost ? GR_ERR_UNAVAILABLE : gr_pg_map_sqlstate(state);
        if (attempt == 0 && (unprepared || (lost && idempotent))) {
            gr_pq()->clear(res);
            continue;
        }
        /* a constraint violation is an answer (duplicate key id), not a fault */
        if (!(state && strncmp(state, "23", 2) == 0))
            gr_pg_log(c, name, lost ? gr_pq()->errorMessage(c->conn) : gr_pq()->resultErrorMessage(res));
        gr_pq()->clear(res);
        return NULL;
    }
}

gr_status gr_pg_exec(gr_pg_conn *c, const char *what, const char *sql) {
    PGresult *res = gr_pq()->exec(c->conn, sql);
    ExecStatusType st = gr_pq()->resultStatus(res);
    gr_status rc = GR_OK;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        gr_pg_log(c, what, gr_pq()->resultErrorMessage(res));
        rc = gr_pg_map_sqlstate(gr_pq()->resultErrorField(res, PG_DIAG_SQLSTATE));
    }
    gr_pq()->clear(res);
    return rc;
}

/* ---- operations ---- */

static void op_close(gr_store *base) {
    pg_store *s = (pg_store *)base;
    gr_pg_disconnect(&s->pg);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static gr_status op_migrate(gr_store *base, int *version_out) {
    pg_store *s = (pg_store *)base;
    int v = 0;
    pthread_mutex_lock(&s->mu);
    gr_status rc = ensure_conn(s);
    if (rc) goto out;
    if ((rc = exec_sql(s, "migrate", "BEGIN"))) goto out;
    /* Instances starting together take turns; the loser sees the new version. */
    if ((rc = exec_sql(s, "migrate lock", "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")")))
        goto rollback;
    /* a migration may rewrite a large ledger: no session timeout for it */
    if ((rc = exec_sql(s, "migrate", "SET LOCAL statement_timeout = 0"))) goto rollback;
    if ((rc = exec_sql(s, "migrate",
                       "CREATE TABLE IF NOT EXISTS schema_version("
                       "version integer PRIMARY KEY, applied_at_ms bigint NOT NULL)")))
        goto rollback;
    PGresult *res = gr_pq()->exec(s->pg.conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (gr_pq()->resultStatus(res) != PGRES_TUPLES_OK) {
        gr_pg_log(&s->pg, "migrate", gr_pq()->resultErrorMessage(res));
        gr_pq()->clear(res);
        rc = GR_ERR_IO;
        goto rollback;
    }
    v = (int)col_i64(res, 0, 0);
    gr_pq()->clear(res);
    if (v > SCHEMA_VERSION) {
        fprintf(stderr, "gaterouter: store: schema version %d is newer than this binary (%d)\n",
                v, SCHEMA_VERSION);
        rc = GR_ERR_UNSUPPORTED;
        goto rollback;
    }
    for (; v < SCHEMA_VERSION; v++) {
        char what[32], sql[128];
        snprintf(what, sizeof what, "migration %d", v + 1);
        if ((rc = exec_sql(s, what, migrations[v]))) goto rollback;
        snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES(%d, %" PRIu64 ")", v + 1,
                 gr_wall_ms());
        if ((rc = exec_sql(s, what, sql))) goto rollback;
    }
    if ((rc = exec_sql(s, "migrate commit", "COMMIT"))) goto out;
    goto out;
rollback:
    gr_pq()->clear(gr_pq()->exec(s->pg.conn, "ROLLBACK"));
out:
    pthread_mutex_unlock(&s->mu);
    if (version_out) *version_out = v;
    return rc;
}

static const char *fmt_i64(char *dst, int64_t v) {
    snprintf(dst, 24, "%" PRId64, v);
    return dst;
}

static gr_status op_key_insert(gr_store *base, const gr_key_record *k) {
    pg_store *s = (pg_store *)base;
    char n[10][24];
    char *t1, *t2, *t3;
    const char *vals[17] = {
        k->id,
        k->hash,
        k->prefix,
        gr_pg_clean_param(k->name, &t1),
        gr_pg_clean_param(k->models_json, &t2),
        gr_pg_clean_param(k->metadata_json, &t3),
        fmt_i64(n[0], k->budget_total_nusd),
        fmt_i64(n[1], k->budget_daily_nusd),
        fmt_i64(n[2], k->budget_monthly_nusd),
        fmt_i64(n[3], k->rpm),
        fmt_i64(n[4], k->tpm),
        fmt_i64(n[5], k->expires_at_ms),
        fmt_i64(n[6], k->created_at_ms),
        fmt_i64(n[7], k->updated_at_ms),
        fmt_i64(n[8], k->revoked_at_ms),
        k->prev_hash[0] ? k->prev_hash : NULL,
        fmt_i64(n[9], k->prev_until_ms),
    };
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    gr_pq()->clear(run(s, PS_KEY_INSERT, 17, vals, false, &rc));
    pthread_mutex_unlock(&s->mu);
    free(t1);
    free(t2);
    free(t3);
    return rc;
}

static gr_status op_key_update(gr_store *base, const gr_key_record *k) {
    pg_store *s = (pg_store *)base;
    char n[9][24];
    char *t1, *t2, *t3;
    const char *vals[16] = {
        k->id,
        gr_pg_clean_param(k->name, &t1),
        gr_pg_clean_param(k->models_json, &t2),
        gr_pg_clean_param(k->metadata_json, &t3),
        fmt_i64(n[0], k->budget_total_nusd),
        fmt_i64(n[1], k->budget_daily_nusd),
        fmt_i64(n[2], k->budget_monthly_nusd),
        fmt_i64(n[3], k->rpm),
        fmt_i64(n[4], k->tpm),
        fmt_i64(n[5], k->expires_at_ms),
        fmt_i64(n[6], k->updated_at_ms),
        fmt_i64(n[7], k->revoked_at_ms),
        k->hash,
        k->prefix,
        k->prev_hash[0] ? k->prev_hash : NULL,
        fmt_i64(n[8], k->prev_until_ms),
    };
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_KEY_UPDATE, 16, vals, true, &rc);
    if (res && strcmp(gr_pq()->cmdTuples(res), "0") == 0) rc = GR_ERR_NOT_FOUND;
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    free(t1);
    free(t2);
    free(t3);
    return rc;
}

/* Reads row `row` of a result into one record (read_key, read_row, …). */
typedef void (*row_reader)(const PGresult *res, int row, void *dst);

/* Statement `which` with one text key under the store's lock: its first row
 * read into out, or GR_ERR_NOT_FOUND. */
static gr_status get_row(pg_store *s, int which, const char *key, row_reader read, void *out) {
    char *t;
    const char *vals[1] = {gr_pg_clean_param(key, &t)};
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, which, 1, vals, true, &rc);
    if (res) {
        if (gr_pq()->ntuples(res) > 0) read(res, 0, out);
        else rc = GR_ERR_NOT_FOUND;
    }
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    free(t);
    return rc;
}

/* Statement `which` under the store's lock: every row read into a new array
 * of elem-sized records (*out, *n; NULL and 0 when there are none). */
static gr_status list_rows(pg_store *s, int which, int np, const char *const *vals, size_t elem, row_reader read,
                           void **out, size_t *n) {
    gr_status rc;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, which, np, vals, true, &rc);
    if (res) {
        size_t cnt = (size_t)gr_pq()->ntuples(res);
        char *arr = cnt ? gr_xcalloc(cnt, elem) : NULL;
        for (size_t i = 0; i < cnt; i++) read(res, (int)i, arr + i * elem);
        *out = arr;
        *n = cnt;
    }
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void read_key(const PGresult *res, int row, void *dst) {
    gr_key_record *k = dst;
    gr_key_record_init(k);
    col_copy(res, row, 0, k->id, sizeof k->id);
    col_copy(res, row, 1, k->hash, sizeof k->hash);
    col_copy(res, row, 2, k->prefix, sizeof k->prefix);
    k->name = col_dup(res, row, 3);
    k->models_json = col_dup(res, row, 4);
    k->metadata_json = col_dup(res, row, 5);
    k->budget_total_nusd = col_i64(res, row, 6);
    k->budget_daily_nusd = col_i64(res, row, 7);
    k->budget_monthly_nusd = col_i64(res, row, 8);
    k->rpm = col_i64(res, row, 9);
    k->tpm = col_i64(res, row, 10);
    k->expires_at_ms = col_i64(res, row, 11);
    k->created_at_ms = col_i64(res, row, 12);
    k->updated_at_ms = col_i64(res, row, 13);
    k->revoked_at_ms = col_i64(res, row, 14);
    col_copy(res, row, 15, k->prev_hash, sizeof k->prev_hash);
    k->prev_until_ms = col_i64(res, row, 16);
}

static gr_status op_key_get(gr_store *base, const char *id, gr_key_record *out) {
    return get_row((pg_store *)base, PS_KEY_GET, id, read_key, out);
}

static gr_status op_key_list(gr_store *base, gr_key_record **out, size_t *n) {
    return list_rows((pg_store *)base, PS_KEY_LIST, 0, NULL, sizeof **out, read_key, (void **)out, n);
}

static gr_status op_key_spend(gr_store *base, const char *key_id, int64_t day, int64_t month,
                              gr_key_spend *out) {
    pg_store *s = (pg_store *)base;
    char d[24], m[24], *t;
    const char *vals[3] = {gr_pg_clean_param(key_id, &t), fmt_i64(d, day), fmt_i64(m, month)};
    gr_status rc;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_SPEND_GET, 3, vals, true, &rc);
    for (int i = 0; res && i < gr_pq()->ntuples(res); i++) {
        int64_t kind = col_i64(res, i, 0), v = col_i64(res, i, 1);
        if (kind == 0) {
            out->total_nusd = v;
            out->requests = col_i64(res, i, 2);
        } else if (kind == 1) {
            out->day_nusd = v;
        } else if (kind == 2) {
            out->month_nusd = v;
        }
    }
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    free(t);
    return rc;
}

/* Array literal builders: {"a",NULL,"b"} / {1,2,3}. */
static void arr_text(gr_grow_buf *b, size_t i, const char *v, bool empty_is_null) {
    buf_putc(b, i ? ',' : '{');
    if (empty_is_null && !*v) {
        buf_puts(b, "NULL");
        return;
    }
    buf_putc(b, '"');
    buf_put_text(b, v, true);
    buf_putc(b, '"');
}

static void arr_i64(gr_grow_buf *b, size_t i, int64_t v) {
    char t[24];
    buf_putc(b, i ? ',' : '{');
    buf_puts(b, fmt_i64(t, v));
}

static gr_status op_ledger_insert(gr_store *base, const gr_ledger_row *rows, size_t n, size_t *conflicts) {
    pg_store *s = (pg_store *)base;
    if (conflicts) *conflicts = 0;
    if (n == 0) return GR_OK;
    gr_grow_buf col[LEDGER_NCOLS + 1];
    memset(col, 0, sizeof col);
    for (size_t i = 0; i < n; i++) {
        const gr_ledger_row *r = &rows[i];
        /* Same NULL mapping as store_sqlite.c (NULLIF(?,'')): model_asked
         * is kept as an empty string. */
        arr_text(&col[0], i, r->request_id, true);
        arr_i64(&col[1], i, r->ts_ms);
        arr_text(&col[2], i, r->key_id, true);
        arr_text(&col[3], i, r->payer, true);
        arr_text(&col[4], i, r->model_asked, false);
        arr_text(&col[5], i, r->model_served, true);
        arr_text(&col[6], i, r->provider, true);
        arr_i64(&col[7], i, r->tokens_in);
        arr_i64(&col[8], i, r->tokens_out);
        arr_i64(&col[9], i, r->tokens_cached);
        arr_i64(&col[10], i, r->tokens_reasoning);
        arr_i64(&col[11], i, r->cost_nusd);
        buf_putc(&col[12], i ? ',' : '{');
        buf_puts(&col[12], r->estimated ? "t" : "f");
        arr_i64(&col[13], i, r->latency_us);
        arr_i64(&col[14], i, r->ttft_us);
        arr_i64(&col[15], i, r->status);
        arr_text(&col[16], i, r->route_reason, true);
        arr_text(&col[17], i, r->error_type, true);
        arr_text(&col[18], i, r->x402_amount_atomic, true);
        arr_i64(&col[19], i, r->x402_credit_delta_nusd);
        arr_text(&col[20], i, r->x402_network, true);
        arr_text(&col[21], i, r->x402_tx_hash, true);
        arr_text(&col[22], i, r->x402_settlement, true);
        arr_text(&col[23], i, r->client_request_id, true);
        arr_i64(&col[24], i, r->tokens_cache_write);
        arr_text(&col[25], i, r->route_learn, true);
        arr_i64(&col[26], i, r->attempts);
        arr_i64(&col[27], i, gr_store_utc_day(r->ts_ms));
    }
    const char *vals[LEDGER_NCOLS + 1];
    for (int c = 0; c <= LEDGER_NCOLS; c++) {
        buf_putc(&col[c], '}');
        vals[c] = col[c].p;
    }
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    /* Idempotent: a retry after a lost connection skips the rows that the
     * lost attempt may have committed (and their spend with them). */
    PGresult *res = run(s, PS_LEDGER_INSERT, LEDGER_NCOLS + 1, vals, true, &rc);
    if (res && conflicts && gr_pq()->ntuples(res) == 1) {
        int64_t inserted = col_i64(res, 0, 0);
        if (inserted >= 0 && (size_t)inserted < n) *conflicts = n - (size_t)inserted;
    }
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    for (int c = 0; c <= LEDGER_NCOLS; c++) free(col[c].p);
    return rc;
}

static void read_row(const PGresult *res, int row, void *dst) {
    gr_ledger_row *r = dst;
    memset(r, 0, sizeof *r);
    col_copy(res, row, 0, r->request_id, sizeof r->request_id);
    r->ts_ms = col_i64(res, row, 1);
    col_copy(res, row, 2, r->key_id, sizeof r->key_id);
    col_copy(res, row, 3, r->payer, sizeof r->payer);
    col_copy(res, row, 4, r->model_asked, sizeof r->model_asked);
    col_copy(res, row, 5, r->model_served, sizeof r->model_served);
    col_copy(res, row, 6, r->provider, sizeof r->provider);
    r->tokens_in = col_i64(res, row, 7);
    r->tokens_out = col_i64(res, row, 8);
    r->tokens_cached = col_i64(res, row, 9);
    r->tokens_reasoning = col_i64(res, row, 10);
    r->cost_nusd = col_i64(res, row, 11);
    r->estimated = gr_pq()->getvalue(res, row, 12)[0] == 't';
    r->latency_us = col_i64(res, row, 13);
    r->ttft_us = col_i64(res, row, 14);
    r->status = (int)col_i64(res, row, 15);
    col_copy(res, row, 16, r->route_reason, sizeof r->route_reason);
    col_copy(res, row, 17, r->error_type, sizeof r->error_type);
    col_copy(res, row, 18, r->x402_amount_atomic, sizeof r->x402_amount_atomic);
    r->x402_credit_delta_nusd = col_i64(res, row, 19);
    col_copy(res, row, 20, r->x402_network, sizeof r->x402_network);
    col_copy(res, row, 21, r->x402_tx_hash, sizeof r->x402_tx_hash);
    col_copy(res, row, 22, r->x402_settlement, sizeof r->x402_settlement);
    col_copy(res, row, 23, r->client_request_id, sizeof r->client_request_id);
    r->tokens_cache_write = col_i64(res, row, 24);
    col_copy(res, row, 25, r->route_learn, sizeof r->route_learn);
    r->attempts = (int)col_i64(res, row, 26);
}

static gr_status op_generation_get(gr_store *base, const char *request_id, gr_ledger_row *out) {
    return get_row((pg_store *)base, PS_GEN_GET, request_id, read_row, out);
}

static void read_usage(const PGresult *res, int row, void *dst) {
    gr_usage_group *g = dst;
    col_copy(res, row, 0, g->group, sizeof g->group);
    g->requests = col_i64(res, row, 1);
    g->errors = col_i64(res, row, 2);
    g->tokens_in = col_i64(res, row, 3);
    g->tokens_out = col_i64(res, row, 4);
    g->tokens_cached = col_i64(res, row, 5);
    g->cost_nusd = col_i64(res, row, 6);
    g->estimated = col_i64(res, row, 7);
}

static gr_status op_usage_summary(gr_store *base, const gr_usage_query *q, gr_usage_group **out,
                                  size_t *n) {
    pg_store *s = (pg_store *)base;
    static const int which[] = {
        [GR_USAGE_BY_KEY] = PS_USAGE_BY_KEY,
        [GR_USAGE_BY_MODEL] = PS_USAGE_BY_MODEL,
        [GR_USAGE_BY_PROVIDER] = PS_USAGE_BY_PROVIDER,
        [GR_USAGE_BY_DAY] = PS_USAGE_BY_DAY,
    };
    *out = NULL;
    *n = 0;
    if ((unsigned)q->by >= GR_ARRAY_LEN(which)) return GR_ERR_INVALID;
    char from_day[24], to_day[24], from_ms[24], to_ms[24], *t;
    const char *vals[5] = {
        fmt_i64(from_day, gr_store_utc_day(q->from_ms)),
        q->to_ms ? fmt_i64(to_day, gr_store_utc_day(q->to_ms - 1)) : NULL,
        fmt_i64(from_ms, q->from_ms),
        fmt_i64(to_ms, q->to_ms),
        gr_pg_clean_param(q->key_id, &t),
    };
    gr_status rc = list_rows(s, which[q->by], 5, vals, sizeof **out, read_usage, (void **)out, n);
    free(t);
    return rc;
}

static gr_status op_ledger_scan(gr_store *base, const gr_ledger_scan *q, gr_ledger_scan_fn fn, void *arg) {
    pg_store *s = (pg_store *)base;
    char from_day[24], to_day[24], from_ms[24], to_ms[24], limit[24], *t;
    const char *vals[6] = {
        fmt_i64(from_day, gr_store_utc_day(q->from_ms)),
        q->to_ms ? fmt_i64(to_day, gr_store_utc_day(q->to_ms - 1)) : NULL,
        fmt_i64(from_ms, q->from_ms),
        fmt_i64(to_ms, q->to_ms),
        gr_pg_clean_param(q->key_id, &t),
        fmt_i64(limit, q->limit),
    };
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_LEDGER_SCAN, 6, vals, true, &rc);
    pthread_mutex_unlock(&s->mu);
    free(t);
    if (res) { /* the rows are this thread's now: no lock while the caller reads them */
        gr_ledger_row *row = gr_xmalloc(sizeof *row);
        int cnt = gr_pq()->ntuples(res);
        for (int i = 0; i < cnt; i++) {
            read_row(res, i, row);
            if (!fn(row, arg)) break;
        }
        free(row);
    }
    gr_pq()->clear(res);
    return rc;
}

static gr_status op_ledger_count(gr_store *base, int64_t *n) {
    pg_store *s = (pg_store *)base;
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_LEDGER_COUNT, 0, NULL, true, &rc);
    if (res) *n = col_i64(res, 0, 0);
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* PostgreSQL guards its own pages (WAL, checksums if enabled); what can
 * disagree is our data: the schema version, and the spend buckets against
 * the ledger rows they were derived from. Each (key, day) present in the
 * ledger must equal its day bucket (days deleted from the ledger by
 * retention keep their buckets, so only ledger-side days are checked). */
static gr_status op_integrity_check(gr_store *base, char *msg, size_t msglen) {
    pg_store *s = (pg_store *)base;
    gr_status rc;
    PGresult *res = NULL;
    pthread_mutex_lock(&s->mu);
    if ((rc = ensure_conn(s))) {
        gr_store_strlcpy(msg, gr_pq()->errorMessage(s->pg.conn), msglen);
        goto out;
    }
    res = gr_pq()->exec(s->pg.conn, "SELECT COALESCE(MAX(version), 0) FROM schema_version");
    if (gr_pq()->resultStatus(res) != PGRES_TUPLES_OK) {
        gr_store_strlcpy(msg, gr_pq()->resultErrorMessage(res), msglen);
        rc = GR_ERR_IO;
        goto out;
    }
    if (col_i64(res, 0, 0) != SCHEMA_VERSION) {
        snprintf(msg, msglen, "schema version %s, expected %d", gr_pq()->getvalue(res, 0, 0),
                 SCHEMA_VERSION);
        rc = GR_ERR_INVALID;
        goto out;
    }
    gr_pq()->clear(res);
    res = gr_pq()->exec(s->pg.conn,
                 "SELECT l.key_id, l.day, l.nusd, l.n, s.nusd, s.requests FROM"
                 " (SELECT key_id, day, sum(cost_nusd) AS nusd, count(*) AS n FROM ledger"
                 "  WHERE key_id IS NOT NULL GROUP BY key_id, day) l"
                 " LEFT JOIN key_spend s ON s.key_id = l.key_id AND s.kind = 1"
                 " AND s.bucket = l.day"
                 " WHERE s.nusd IS DISTINCT FROM l.nusd OR s.requests IS DISTINCT FROM l.n"
                 " LIMIT 1");
    if (gr_pq()->resultStatus(res) != PGRES_TUPLES_OK) {
        gr_store_strlcpy(msg, gr_pq()->resultErrorMessage(res), msglen);
        rc = GR_ERR_IO;
        goto out;
    }
    if (gr_pq()->ntuples(res) > 0) {
        snprintf(msg, msglen,
                 "key_spend disagrees with the ledger: key %s day %s: ledger %s nusd in %s rows,"
                 " bucket %s nusd in %s requests",
                 gr_pq()->getvalue(res, 0, 0), gr_pq()->getvalue(res, 0, 1), gr_pq()->getvalue(res, 0, 2),
                 gr_pq()->getvalue(res, 0, 3), gr_pq()->getisnull(res, 0, 4) ? "none" : gr_pq()->getvalue(res, 0, 4),
                 gr_pq()->getisnull(res, 0, 5) ? "0" : gr_pq()->getvalue(res, 0, 5));
        rc = GR_ERR_INVALID;
        goto out;
    }
    gr_store_strlcpy(msg, "ok", msglen);
out:
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- ratings (route_learn.h) ---- */

static const char *fmt_f64(char *dst, double v) {
    snprintf(dst, 32, "%.17g", v);
    return dst;
}

/* Adds one model's sums (a delta); inside the caller's transaction when it has one. */
static gr_status learned_add_locked(pg_store *s, const gr_learned_rec *d, int64_t now, bool idempotent) {
    char num[GR_LEARN_SKILLS * 3][32], r[24], t[24], *tm;
    const char *vals[21];
    vals[0] = gr_pg_clean_param(d->model, &tm);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        vals[1 + k] = fmt_f64(num[k], d->s[k]);
        vals[7 + k] = fmt_f64(num[GR_LEARN_SKILLS + k], d->f[k]);
        vals[13 + k] = fmt_f64(num[2 * GR_LEARN_SKILLS + k], d->e[k]);
    }
    vals[19] = fmt_i64(r, d->ratings);
    vals[20] = fmt_i64(t, now);
    gr_status rc;
    gr_pq()->clear(run(s, PS_LEARNED_ADD, 21, vals, idempotent, &rc));
    free(tm);
    return rc;
}

static gr_status op_feedback_put(gr_store *base, const gr_feedback_rec *fb, bool *replaced) {
    pg_store *s = (pg_store *)base;
    bool had = false;
    char *t1, *t2, *t3, *t4, num[9][32], at[24];
    const char *id = gr_pg_clean_param(fb->request_id, &t1);
    pthread_mutex_lock(&s->mu);
    gr_status rc = ensure_conn(s);
    if (rc || (rc = exec_sql(s, "feedback", "BEGIN"))) goto out;
    const char *key[1] = {id};
    gr_pq()->clear(run(s, PS_FB_LOCK, 1, key, false, &rc));
    if (rc) goto rollback;
    PGresult *res = run(s, PS_FB_GET, 1, key, false, &rc);
    if (rc) goto rollback;
    if (gr_pq()->ntuples(res) > 0) { /* take the replaced rating back out of its model's sums */
        had = true;
        gr_learned_rec old = {0};
        double mix[GR_LEARN_SKILLS];
        col_copy(res, 0, 0, old.model, sizeof old.model);
        double score = strtod(gr_pq()->getvalue(res, 0, 1), NULL), pred = strtod(gr_pq()->getvalue(res, 0, 2), NULL);
        for (int k = 0; k < GR_LEARN_SKILLS; k++) mix[k] = strtod(gr_pq()->getvalue(res, 0, 3 + k), NULL);
        if (old.model[0]) {
            gr_store_learned_apply(&old, mix, score, pred, -1);
            rc = learned_add_locked(s, &old, fb->at_ms, false);
        }
    }
    gr_pq()->clear(res);
    if (rc) goto rollback;
    const char *vals[13] = {id, gr_pg_clean_param(fb->key_id, &t2), gr_pg_clean_param(fb->model, &t3),
                            fmt_f64(num[0], fb->score), fmt_f64(num[1], fb->predicted)};
    for (int k = 0; k < GR_LEARN_SKILLS; k++) vals[5 + k] = fmt_f64(num[2 + k], fb->mix[k]);
    vals[11] = gr_pg_clean_param(fb->comment, &t4);
    vals[12] = fmt_i64(at, fb->at_ms);
    gr_pq()->clear(run(s, PS_FB_PUT, 13, vals, false, &rc));
    free(t2);
    free(t3);
    free(t4);
    if (rc) goto rollback;
    if (fb->model[0]) {
        gr_learned_rec add = {0};
        gr_store_strlcpy(add.model, fb->model, sizeof add.model);
        gr_store_learned_apply(&add, fb->mix, fb->score, fb->predicted, +1);
        if ((rc = learned_add_locked(s, &add, fb->at_ms, false))) goto rollback;
    }
    rc = exec_sql(s, "feedback commit", "COMMIT");
    goto out;
rollback:
    gr_pq()->clear(gr_pq()->exec(s->pg.conn, "ROLLBACK"));
out:
    pthread_mutex_unlock(&s->mu);
    free(t1);
    if (replaced) *replaced = had;
    return rc;
}

static gr_status op_learned_add(gr_store *base, const gr_learned_rec *delta) {
    pg_store *s = (pg_store *)base;
    pthread_mutex_lock(&s->mu);
    gr_status rc = learned_add_locked(s, delta, (int64_t)gr_wall_ms(), false); /* adds: never retried */
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void read_learned(const PGresult *res, int row, void *dst) {
    gr_learned_rec *d = dst;
    col_copy(res, row, 0, d->model, sizeof d->model);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        d->s[k] = strtod(gr_pq()->getvalue(res, row, 1 + k), NULL);
        d->f[k] = strtod(gr_pq()->getvalue(res, row, 7 + k), NULL);
        d->e[k] = strtod(gr_pq()->getvalue(res, row, 13 + k), NULL);
    }
    d->ratings = col_i64(res, row, 19);
}

static gr_status op_learned_list(gr_store *base, gr_learned_rec **out, size_t *n) {
    return list_rows((pg_store *)base, PS_LEARNED_LIST, 0, NULL, sizeof **out, read_learned, (void **)out, n);
}

/* ---- alert outbox ---- */

static gr_status op_alert_put(gr_store *base, const char *event_key, const char *kind, const char *body,
                              int64_t now_ms, bool *inserted) {
    pg_store *s = (pg_store *)base;
    char now[24], *tb;
    const char *vals[4] = {event_key, kind, gr_pg_clean_param(body, &tb), fmt_i64(now, now_ms)};
    gr_status rc;
    *inserted = false;
    pthread_mutex_lock(&s->mu);
    /* not retried on a lost connection: a retry of a committed insert would read "exists" */
    PGresult *res = run(s, PS_ALERT_PUT, 4, vals, false, &rc);
    if (res && rc == GR_OK) *inserted = strcmp(gr_pq()->cmdTuples(res), "1") == 0;
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    free(tb);
    return rc;
}

static gr_status op_alert_pending(gr_store *base, size_t limit, gr_alert_rec **out, size_t *n) {
    pg_store *s = (pg_store *)base;
    char lim[24];
    const char *vals[1] = {fmt_i64(lim, (int64_t)limit)};
    gr_status rc;
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_ALERT_PENDING, 1, vals, true, &rc);
    if (res && rc == GR_OK) {
        size_t cnt = (size_t)gr_pq()->ntuples(res);
        gr_alert_rec *arr = cnt ? gr_xcalloc(cnt, sizeof *arr) : NULL;
        for (size_t i = 0; i < cnt; i++) {
            col_copy(res, (int)i, 0, arr[i].event_key, sizeof arr[i].event_key);
            col_copy(res, (int)i, 1, arr[i].kind, sizeof arr[i].kind);
            arr[i].body = gr_xstrdup(gr_pq()->getvalue(res, (int)i, 2));
            arr[i].attempts = (int)col_i64(res, (int)i, 3);
        }
        *out = arr;
        *n = cnt;
    }
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static gr_status op_alert_done(gr_store *base, const char *event_key, gr_alert_state state, int attempts,
                               int64_t now_ms) {
    pg_store *s = (pg_store *)base;
    char st[24], at[24], now[24];
    const char *vals[4] = {fmt_i64(st, (int64_t)state), fmt_i64(at, attempts), fmt_i64(now, now_ms), event_key};
    gr_status rc;
    pthread_mutex_lock(&s->mu);
    PGresult *res = run(s, PS_ALERT_DONE, 4, vals, true, &rc);
    gr_pq()->clear(res);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static const gr_store_ops pg_ops = {
    .scheme = "postgres",
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

gr_status gr_store_pg_open(const char *url, gr_store **out, char *err, size_t errlen) {
    *out = NULL;
    pg_store *s = gr_xcalloc(1, sizeof *s);
    s->base.ops = &pg_ops;
    gr_status rc = gr_pg_connect(&s->pg, "store", s->prepared, PS_COUNT, url, err, errlen);
    if (rc) {
        free(s);
        return rc;
    }
    pthread_mutex_init(&s->mu, NULL);
    *out = &s->base;
    return GR_OK;
}
