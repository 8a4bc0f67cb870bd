/* pq_dl.h — libpq loaded on demand (dlopen), not linked.
 *
 * Owns the process-wide table of the libpq functions the PostgreSQL stores
 * (store_pg.c, x402_store_pg.c) call. Only a gateway whose store: URL is
 * postgres:// needs libpq; linking it mapped libpq and its dependencies
 * (libssl, krb5/GSSAPI, LDAP, ...) in every process at exec. So libpq.so.5
 * is dlopen'ed by the first gr_pq_load() (gr_pg_connect calls it).
 *
 * The header still comes from libpq (PGconn, PGresult, ExecStatusType,
 * PG_DIAG_* ...) and every pointer has libpq's own prototype (__typeof__),
 * so the compiler checks each call.
 *
 * Life cycle and threading: the table is filled once (pthread_once) by the
 * first gr_pq_load() on any thread and read-only afterwards; the library is
 * never unloaded. gr_pq() is valid only after a successful gr_pq_load() that
 * happened-before the call (every PGconn is made after one). */
#ifndef GR_PQ_DL_H
#define GR_PQ_DL_H

#include "common.h"

#include <libpq-fe.h>

/* X(member): one per libpq function used; member = name without "PQ". */
#define GR_PQ_FUNCS(X)                                                                                         \
    X(clear) X(cmdTuples) X(connectdbParams) X(errorMessage) X(exec) X(execPrepared) X(finish) X(getisnull)   \
    X(getvalue) X(ntuples) X(parameterStatus) X(prepare) X(reset) X(resultErrorField) X(resultErrorMessage)  \
    X(resultStatus) X(setClientEncoding) X(setNoticeProcessor) X(status)

#define GR_PQ_MEMBER_(name) __typeof__(PQ##name) *name;
typedef struct gr_pq_api {
    GR_PQ_FUNCS(GR_PQ_MEMBER_)
} gr_pq_api;
#undef GR_PQ_MEMBER_

/* Loads libpq once per process; later calls return the first outcome.
 * GR_OK, or GR_ERR_UNSUPPORTED with err set (library or a symbol missing;
 * not logged: the caller reports it, gr_pg_connect as the store-open error).
 * err may be NULL. Thread-safe. */
GR_MUST_CHECK gr_status gr_pq_load(char *err, size_t errlen);

/* The table; only after a successful gr_pq_load(). Calls read
 * gr_pq()->exec(conn, sql). */
const gr_pq_api *gr_pq(void);

#endif
