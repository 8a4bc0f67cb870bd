/* store_test_url.h — which store a store-dependent unit test runs against.
 *
 * By default SQLite files in the test's temp dir. When GR_TEST_STORE_URL is a
 * postgres:// URL (the CTest *_pg variants, see cmake/area_pg.cmake and
 * tests/pg/with_pg.sh) every gr_test_store_url() call creates a fresh, empty
 * database on that server and returns its URL, so the same test code sees an
 * empty store on both backends. gr_test_store_cleanup() drops the databases
 * created by this process. Header-only (static inline), for tests only. */
#ifndef GR_STORE_TEST_URL_H
#define GR_STORE_TEST_URL_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef GR_HAVE_PG
#include "pq_dl.h" /* libpq is dlopen'ed, here as in the gateway */
#endif

static inline const char *gr_test_store_base(void) {
    const char *u = getenv("GR_TEST_STORE_URL");
    return u && *u ? u : NULL;
}

static inline bool gr_test_store_is_pg(void) {
    const char *u = gr_test_store_base();
    return u && (strncmp(u, "postgres://", 11) == 0 || strncmp(u, "postgresql://", 13) == 0);
}

static inline const char *gr_test_store_backend(void) {
    return gr_test_store_is_pg() ? "postgres" : "sqlite";
}

/* [start, end) of the database name in a postgres URL. */
static inline void gr_test_pg_dbname(const char *url, const char **start, const char **end) {
    const char *auth = strstr(url, "://") + 3;
    const char *slash = auth + strcspn(auth, "/?");
    *start = *slash == '/' ? slash + 1 : slash;
    *end = *start + strcspn(*start, "?");
}

#define GR_TEST_MAX_DBS 64
static char gr_test_dbs[GR_TEST_MAX_DBS][64];
static int gr_test_ndbs;

/* Runs one SQL text on the store at url (sqlite file or postgres). 0 = ok. */
static inline int gr_test_store_exec(const char *url, const char *sql) {
    if (strncmp(url, "sqlite://", 9) == 0) {
        char path[512];
        snprintf(path, sizeof path, "%.*s", (int)strcspn(url + 9, "?"), url + 9);
        sqlite3 *db = NULL;
        int rc = sqlite3_open(path, &db) == SQLITE_OK &&
                         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                     ? 0
                     : -1;
        if (rc) fprintf(stderr, "test store exec: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return rc;
    }
#ifdef GR_HAVE_PG
    char err[320];
    if (gr_pq_load(err, sizeof err) != GR_OK) {
        fprintf(stderr, "test store exec: %s\n", err);
        return -1;
    }
    const gr_pq_api *pq = gr_pq();
    const char *const keys[] = {"dbname", NULL}, *const vals[] = {url, NULL};
    PGconn *c = pq->connectdbParams(keys, vals, 1); /* = PQconnectdb(url) */
    int rc = -1;
    if (pq->status(c) == CONNECTION_OK) {
        PGresult *r = pq->exec(c, sql);
        ExecStatusType st = pq->resultStatus(r);
        rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
        if (rc) fprintf(stderr, "test store exec: %s", pq->resultErrorMessage(r));
        pq->clear(r);
    } else {
        fprintf(stderr, "test store exec: %s", pq->errorMessage(c));
    }
    pq->finish(c);
    return rc;
#else
    return -1;
#endif
}

/* A fresh, empty store named `name`: sqlite://<dir>/<name> or a new
 * PostgreSQL database. Aborts the test binary when the server is unusable:
 * the *_pg variants must fail, not skip. */
static inline void gr_test_store_url(char *out, size_t n, const char *dir, const char *name) {
    const char *base = gr_test_store_base();
    if (!base) {
        snprintf(out, n, "sqlite://%s/%s", dir, name);
        return;
    }
    if (!gr_test_store_is_pg()) {
        fprintf(stderr, "GR_TEST_STORE_URL must be a postgres:// URL (got %s)\n", base);
        abort();
    }
#ifndef GR_HAVE_PG
    fprintf(stderr, "GR_TEST_STORE_URL is postgres:// but this build has no PostgreSQL\n");
    abort();
#else
    static int counter;
    char db[64];
    int len = snprintf(db, sizeof db, "gr_t_%ld_%d_", (long)getpid(), ++counter);
    for (const char *p = name; *p && len < (int)sizeof db - 1; p++)
        db[len++] = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ? *p : '_';
    db[len] = '\0';
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\"", db);
    if (gr_test_store_exec(base, sql) != 0) {
        fprintf(stderr, "cannot create the test database %s on %s\n", db, base);
        abort();
    }
    if (gr_test_ndbs < GR_TEST_MAX_DBS) snprintf(gr_test_dbs[gr_test_ndbs++], 64, "%s", db);
    const char *s, *e;
    gr_test_pg_dbname(base, &s, &e);
    snprintf(out, n, "%.*s%s%s%s", (int)(s - base), base, s == e && *s != '/' && s[-1] != '/' ? "/" : "",
             db, e);
#endif
}

/* Removes what gr_test_store_url created (files are the caller's temp dir). */
static inline void gr_test_store_cleanup(void) {
    const char *base = gr_test_store_base();
    for (int i = 0; base && i < gr_test_ndbs; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", gr_test_dbs[i]);
        (void)gr_test_store_exec(base, sql);
    }
    gr_test_ndbs = 0;
}

#endif
