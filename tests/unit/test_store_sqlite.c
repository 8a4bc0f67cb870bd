/* test_store_sqlite.c — URL handling, idempotent versioned migrations, key
 * CRUD, usage queries, and crash safety: a child killed with SIGKILL in the
 * middle of ledger writes leaves a database that passes integrity_check and
 * holds every row the child saw committed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ledger.h"
#include "store.h"

#define T0 1700000000000LL

static char tmpdir[64];

static int setup(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/gr_test_store_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **st) {
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void url_for(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "sqlite://%s/%s", tmpdir, name);
}

static void urls(void **st) {
    (void)st;
    gr_store *s = NULL;
    char err[256], url[200];
    snprintf(url, sizeof url, "sqlite://%s/a/b/c/x.db", tmpdir); /* directories created */
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_store_close(s);
    snprintf(url, sizeof url, "sqlite://%s/y.db?synchronous=full", tmpdir);
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_store_close(s);
    assert_int_equal(gr_store_open("sqlite://:memory:", &s, err, sizeof err), GR_OK);
    gr_store_close(s);
    assert_int_equal(gr_store_open("mysql://x", &s, err, sizeof err), GR_ERR_INVALID);
    assert_non_null(strstr(err, "unknown URL scheme"));
    assert_int_equal(gr_store_open("postgres://h/db", &s, err, sizeof err), GR_ERR_UNSUPPORTED);
    assert_int_equal(gr_store_open("sqlite://", &s, err, sizeof err), GR_ERR_INVALID);
    snprintf(url, sizeof url, "sqlite://%s/z.db?journal=off", tmpdir);
    assert_int_equal(gr_store_open(url, &s, err, sizeof err), GR_ERR_INVALID);
    gr_store_close(NULL);
    cJSON *tree = cJSON_Parse("{\"store\":\"sqlite:///var/lib/gr.db\"}");
    assert_string_equal(gr_store_url_from_config(tree), "sqlite:///var/lib/gr.db");
    cJSON_Delete(tree);
    tree = cJSON_Parse("{\"store\":{\"url\":\"sqlite://b.db\"}}");
    assert_string_equal(gr_store_url_from_config(tree), "sqlite://b.db");
    cJSON_Delete(tree);
    assert_string_equal(gr_store_url_from_config(NULL), GR_STORE_DEFAULT_URL);
}

static void migrations(void **st) {
    (void)st;
    char url[200], err[256];
    url_for(url, sizeof url, "m.db");
    gr_store *s;
    assert_int_equal(gr_store_open(url, &s, err, sizeof err), GR_OK);
    int v1 = -1, v2 = -1;
    assert_int_equal(gr_store_migrate(s, &v1), GR_OK);
    assert_int_equal(gr_store_migrate(s, &v2), GR_OK);
    assert_true(v1 >= 1);
    assert_int_equal(v1, v2);
    gr_store_close(s);
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    assert_int_equal(gr_store_migrate(s, &v2), GR_OK);
    assert_int_equal(v1, v2);
    char msg[64];
    assert_int_equal(gr_store_integrity_check(s, msg, sizeof msg), GR_OK);
    assert_string_equal(msg, "ok");
    gr_store_close(s);
    /* a database from a newer binary is refused, not damaged */
    sqlite3 *db;
    char path[160];
    snprintf(path, sizeof path, "%s/m.db", tmpdir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET version=99", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_ERR_UNSUPPORTED);
    assert_null(s);
    /* WAL is on */
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void key_crud(void **st) {
    (void)st;
    char url[200], err[256];
    url_for(url, sizeof url, "k.db");
    gr_store *s;
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_key_record k;
    gr_key_record_init(&k);
    strcpy(k.id, "key_0123456789abcdef");
    memset(k.hash, 'a', 64);
    strcpy(k.prefix, "gr-abcdef");
    k.name = gr_xstrdup("team-a");
    k.models_json = gr_xstrdup("[\"gpt-4o\"]");
    k.budget_total_nusd = 5;
    k.rpm = 60;
    k.created_at_ms = k.updated_at_ms = T0;
    assert_int_equal(gr_store_key_insert(s, &k), GR_OK);
    assert_int_equal(gr_store_key_insert(s, &k), GR_ERR_INVALID); /* duplicate */
    gr_key_record got;
    assert_int_equal(gr_store_key_get(s, k.id, &got), GR_OK);
    assert_string_equal(got.name, "team-a");
    assert_string_equal(got.models_json, "[\"gpt-4o\"]");
    assert_null(got.metadata_json);
    assert_int_equal(got.budget_total_nusd, 5);
    assert_int_equal(got.budget_daily_nusd, -1);
    assert_int_equal(got.rpm, 60);
    assert_string_equal(got.hash, k.hash);
    gr_key_record_dispose(&got);
    k.revoked_at_ms = T0 + 1;
    free(k.name);
    k.name = NULL;
    assert_int_equal(gr_store_key_update(s, &k), GR_OK);
    assert_int_equal(gr_store_key_get(s, k.id, &got), GR_OK);
    assert_null(got.name);
    assert_int_equal(got.revoked_at_ms, T0 + 1);
    gr_key_record_dispose(&got);
    gr_key_record *all;
    size_t n;
    assert_int_equal(gr_store_key_list(s, &all, &n), GR_OK);
    assert_int_equal(n, 1);
    gr_key_records_free(all, n);
    assert_int_equal(gr_store_key_get(s, "key_missing", &got), GR_ERR_NOT_FOUND);
    strcpy(k.id, "key_missing");
    assert_int_equal(gr_store_key_update(s, &k), GR_ERR_NOT_FOUND);
    gr_ledger_row r;
    assert_int_equal(gr_store_generation_get(s, "nope", &r), GR_ERR_NOT_FOUND);
    gr_key_record_dispose(&k);
    gr_store_close(s);
}

static void usage_queries(void **st) {
    (void)st;
    char url[200], err[256];
    url_for(url, sizeof url, "u.db");
    gr_store *s;
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_ledger_row rows[6];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 6; i++) {
        snprintf(rows[i].request_id, sizeof rows[i].request_id, "r%d", i);
        rows[i].ts_ms = T0 + (int64_t)(i / 2) * 86400000; /* two per day */
        GR_LEDGER_SET(rows[i].key_id, i % 2 ? "key_a" : "key_b");
        GR_LEDGER_SET(rows[i].model_asked, "auto");
        if (i != 5) GR_LEDGER_SET(rows[i].model_served, i < 3 ? "m1" : "m2");
        GR_LEDGER_SET(rows[i].provider, "p");
        rows[i].tokens_in = 10;
        rows[i].tokens_out = 1;
        rows[i].cost_nusd = 100 * (i + 1);
        rows[i].status = i == 4 ? 500 : 200;
    }
    GR_LEDGER_SET(rows[5].payer, "0xpayer"); /* x402 row: no key */
    rows[5].key_id[0] = '\0';
    assert_int_equal(gr_store_ledger_insert(s, rows, 6), GR_OK);
    gr_usage_group *g;
    size_t n;
    gr_usage_query q = {.by = GR_USAGE_BY_DAY};
    assert_int_equal(gr_store_usage_summary(s, &q, &g, &n), GR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(g[0].group, "2023-11-14");
    assert_int_equal(g[0].cost_nusd, 300);
    free(g);
    q.by = GR_USAGE_BY_KEY;
    assert_int_equal(gr_store_usage_summary(s, &q, &g, &n), GR_OK);
    assert_int_equal(n, 3);
    assert_string_equal(g[0].group, "key_a");
    assert_int_equal(g[0].requests, 2);
    assert_int_equal(g[0].cost_nusd, 200 + 400);
    assert_string_equal(g[2].group, "payer:0xpayer");
    free(g);
    q.by = GR_USAGE_BY_MODEL;
    q.from_ms = T0 + 86400000;
    q.to_ms = T0 + 2 * 86400000; /* day 2 only: rows 2, 3 */
    assert_int_equal(gr_store_usage_summary(s, &q, &g, &n), GR_OK);
    assert_int_equal(n, 2);
    assert_string_equal(g[0].group, "m1");
    assert_string_equal(g[1].group, "m2");
    free(g);
    q.from_ms = q.to_ms = 0;
    q.key_id = "key_b"; /* rows 0, 2, 4 */
    assert_int_equal(gr_store_usage_summary(s, &q, &g, &n), GR_OK);
    int64_t req = 0, errs = 0;
    for (size_t i = 0; i < n; i++) {
        req += g[i].requests;
        errs += g[i].errors;
    }
    assert_int_equal(req, 3);
    assert_int_equal(errs, 1);
    free(g);
    q.key_id = NULL;
    q.by = (gr_usage_group_by)42;
    assert_int_equal(gr_store_usage_summary(s, &q, &g, &n), GR_ERR_INVALID);
    gr_store_close(s);
}

/* ---- crash safety ---- */

#define CHUNK 100

/* Child: submit CHUNK rows, flush (now they are committed), report the number
 * of committed rows on the pipe; forever, until killed. If self_kill_after > 0
 * it SIGKILLs itself in the middle of an unflushed chunk after that many acks. */
static void child_main(const char *url, int wfd, int self_kill_after) {
    gr_store *s;
    char err[256];
    if (gr_store_open_migrated(url, &s, err, sizeof err) != GR_OK) _exit(3);
    gr_ledger *l;
    if (gr_ledger_new(s, 4096, &l) != GR_OK) _exit(4);
    uint32_t seq = 0;
    for (int acks = 0;; acks++) {
        for (int i = 0; i < CHUNK; i++, seq++) {
            gr_ledger_row r;
            memset(&r, 0, sizeof r);
            snprintf(r.request_id, sizeof r.request_id, "crash-%08u", seq);
            r.ts_ms = T0 + seq;
            GR_LEDGER_SET(r.key_id, "key_crash");
            r.cost_nusd = 1000;
            r.status = 200;
            GR_LEDGER_SET(r.route_reason, "crash test row with some text to make pages fill");
            gr_ledger_submit(l, &r);
            if (self_kill_after && acks == self_kill_after && i == CHUNK / 2)
                kill(getpid(), SIGKILL);
        }
        gr_ledger_flush(l);
        if (write(wfd, &seq, sizeof seq) != sizeof seq) _exit(5);
    }
}

static void check_after_crash(const char *url, uint32_t acked) {
    gr_store *s;
    char err[256], msg[128];
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    assert_int_equal(gr_store_integrity_check(s, msg, sizeof msg), GR_OK);
    assert_string_equal(msg, "ok");
    int64_t n = 0;
    assert_int_equal(gr_store_ledger_count(s, &n), GR_OK);
    assert_true(n >= (int64_t)acked);
    /* one submitter + ordered batches: committed rows are a prefix */
    char id[32];
    gr_ledger_row r;
    for (uint32_t i = 0; i < (uint32_t)n; i++) {
        snprintf(id, sizeof id, "crash-%08u", i);
        assert_int_equal(gr_store_generation_get(s, id, &r), GR_OK);
    }
    snprintf(id, sizeof id, "crash-%08u", (uint32_t)n);
    assert_int_equal(gr_store_generation_get(s, id, &r), GR_ERR_NOT_FOUND);
    /* spend buckets agree with the rows (same transaction) */
    gr_key_spend sp;
    assert_int_equal(gr_store_key_spend(s, "key_crash", 0, 0, &sp), GR_OK);
    assert_int_equal(sp.total_nusd, n * 1000);
    assert_int_equal(sp.requests, n);
    gr_store_close(s);
}

static void crash_kill9(void **st) {
    (void)st;
    for (int variant = 0; variant < 2; variant++) {
        char url[200];
        url_for(url, sizeof url, variant ? "crash_self.db" : "crash_parent.db");
        int p[2];
        assert_int_equal(pipe(p), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_main(url, p[1], variant ? 15 : 0);
            _exit(0);
        }
        close(p[1]);
        uint32_t acked = 0, v;
        while (read(p[0], &v, sizeof v) == sizeof v) {
            acked = v;
            if (!variant && acked >= 20 * CHUNK) {
                kill(pid, SIGKILL); /* mid-load: the child is writing the next chunk */
                break;
            }
        }
        int status = 0;
        waitpid(pid, &status, 0);
        close(p[0]);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        assert_true(acked >= (variant ? 15u : 20u) * CHUNK);
        check_after_crash(url, acked);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls),          cmocka_unit_test(migrations),
        cmocka_unit_test(key_crud),      cmocka_unit_test(usage_queries),
        cmocka_unit_test(crash_kill9),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
