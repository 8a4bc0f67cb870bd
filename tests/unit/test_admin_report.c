/* test_admin_report.c — the console's reports (src/admin_report.c) on a real
 * store: exact sums per two dimensions, nearest-rank percentiles per time
 * bucket, the row cap and its "truncated" flag, who may read what (admin,
 * a virtual key's own rows only, 403/401), CSV rows. SQLite by default,
 * PostgreSQL when GR_TEST_STORE_URL is set (store_test_url.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "admin_report.h"
#include "store_test_url.h"

#define HOUR 3600000LL
#define NOW (1700000000000LL / HOUR * HOUR + 30 * 60000) /* half past an hour */
#define ADMIN "admin-secret-0123456789"

static int64_t fake_now(void) { return NOW; }

typedef struct fx {
    char dir[64], url[256];
    gr_store *store;
    gr_keys *keys;
    gr_admin_ctx ctx;
    char key_a[GR_KEY_PLAINTEXT_SIZE], key_b[GR_KEY_PLAINTEXT_SIZE];
    char id_a[GR_KEY_ID_MAX], id_b[GR_KEY_ID_MAX];
} fx;

static void make_key(fx *f, const char *name, char *plain, char *id) {
    gr_key_record spec, made;
    gr_key_record_init(&spec);
    spec.name = gr_xstrdup(name);
    assert_int_equal(gr_keys_create(f->keys, &spec, NOW - 10 * HOUR, plain, &made), GR_OK);
    snprintf(id, GR_KEY_ID_MAX, "%s", made.id);
    gr_key_record_dispose(&made);
    gr_key_record_dispose(&spec);
}

/* Key A: 10 requests this hour, latency 1..10 ms, model m1 on p1 (the 10th
 * an error); key B: 2 requests two hours ago, model m2 on p2. */
static int setup(void **st) {
    fx *f = gr_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gr_test_report_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    gr_test_store_url(f->url, sizeof f->url, f->dir, "gr.db");
    char err[256];
    if (gr_store_open_migrated(f->url, &f->store, err, sizeof err)) return -1;
    f->keys = gr_keys_new(f->store);
    f->ctx = (gr_admin_ctx){.keys = f->keys, .store = f->store, .admin_key = ADMIN, .now_ms = fake_now};
    make_key(f, "a", f->key_a, f->id_a);
    make_key(f, "b", f->key_b, f->id_b);
    gr_ledger_row rows[12];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 12; i++) {
        gr_ledger_row *r = &rows[i];
        snprintf(r->request_id, sizeof r->request_id, "req-%02d", i);
        bool a = i < 10;
        GR_LEDGER_SET(r->key_id, a ? f->id_a : f->id_b);
        GR_LEDGER_SET(r->model_asked, a ? "=m1" : "m2");
        GR_LEDGER_SET(r->model_served, a ? "m1" : "m2");
        GR_LEDGER_SET(r->provider, a ? "p1" : "p2");
        r->ts_ms = a ? NOW - 60000 * (i + 1) : NOW - 2 * HOUR;
        r->latency_us = (int64_t)(i + 1) * 1000;
        r->ttft_us = a ? 500 : 0;
        r->tokens_in = 10;
        r->tokens_out = 5;
        r->cost_nusd = 1000 * (i + 1);
        r->status = i == 9 ? 500 : 200;
        r->attempts = 1;
    }
    if (gr_store_ledger_insert(f->store, rows, 12)) return -1;
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fx *f = *st;
    gr_keys_free(f->keys);
    gr_store_close(f->store);
    gr_test_store_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* GET path?query as bearer; returns the status, *out the body (JSON parsed when json). */
static int get(fx *f, const char *path, const char *query, const char *bearer, char **text, cJSON **json) {
    char *out = NULL;
    size_t len = 0;
    const char *ctype = NULL;
    char authz[128];
    snprintf(authz, sizeof authz, "Bearer %s", bearer);
    int st = gr_admin_report_handle(&f->ctx, "GET", path, query, authz, &out, &len, &ctype);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    if (json) {
        *json = cJSON_Parse(out);
        assert_non_null(*json);
    }
    if (text) *text = out;
    else free(out);
    return st;
}

static double num(const cJSON *o, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void usage_two_dims(void **st) {
    fx *f = *st;
    cJSON *j;
    assert_int_equal(get(f, "/admin/report/usage", "by=key,provider", ADMIN, NULL, &j), 200);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    const cJSON *g;
    cJSON_ArrayForEach(g, data) {
        bool a = !strcmp(cJSON_GetObjectItemCaseSensitive(g, "key")->valuestring, f->id_a);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "provider")->valuestring, a ? "p1" : "p2");
        assert_int_equal((int)num(g, "requests"), a ? 10 : 2);
        assert_int_equal((int)num(g, "errors"), a ? 1 : 0);
        assert_int_equal((int64_t)num(g, "cost_nusd"), a ? 55000 : 23000); /* 1+..+10, 11+12 (thousands) */
    }
    assert_int_equal((int)num(cJSON_GetObjectItemCaseSensitive(j, "total"), "requests"), 12);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/usage", "by=day&status=error", ADMIN, NULL, &j), 200);
    assert_int_equal((int)num(cJSON_GetObjectItemCaseSensitive(j, "total"), "requests"), 1);
    cJSON_Delete(j);
}

static void timeseries_percentiles(void **st) {
    fx *f = *st;
    cJSON *j;
    assert_int_equal(get(f, "/admin/report/timeseries", "range=day", ADMIN, NULL, &j), 200);
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(j, "requests");
    assert_int_equal(cJSON_GetArraySize(req), 24);
    /* the last bucket is this hour: A's 10 rows (minutes 1..10 before half past) */
    assert_int_equal(cJSON_GetArrayItem(req, 23)->valueint, 10);
    assert_int_equal(cJSON_GetArrayItem(req, 21)->valueint, 2); /* B, two hours ago */
    const cJSON *p50 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "latency_p50_ms"), 23);
    const cJSON *p99 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "latency_p99_ms"), 23);
    assert_true(p50->valuedouble == 5.0);  /* nearest rank: ceil(0.5 * 10) = 5th of 1..10 ms */
    assert_true(p99->valuedouble == 10.0); /* ceil(0.99 * 10) = 10th */
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "ttft_p50_ms"), 21)));
    assert_true(cJSON_IsNull(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "latency_p50_ms"), 0)));
    cJSON_Delete(j);
}

static void row_cap_truncates(void **st) {
    fx *f = *st;
    f->ctx.report_max_rows = 3;
    cJSON *j;
    assert_int_equal(get(f, "/admin/report/usage", "by=model", ADMIN, NULL, &j), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "truncated")));
    assert_int_equal((int)num(j, "rows_read"), 3);
    assert_int_equal((int)num(cJSON_GetObjectItemCaseSensitive(j, "total"), "requests"), 3); /* the newest three */
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/rows", "limit=4", ADMIN, NULL, &j), 400); /* above the cap */
    cJSON_Delete(j);
    f->ctx.report_max_rows = 0; /* the default */
    assert_int_equal(get(f, "/admin/report/usage", "by=model", ADMIN, NULL, &j), 200);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "truncated")));
    cJSON_Delete(j);
}

static void who_reads_what(void **st) {
    fx *f = *st;
    cJSON *j;
    char q[96];
    assert_int_equal(get(f, "/admin/report/rows", "", f->key_b, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "data")), 2);
    cJSON_Delete(j);
    snprintf(q, sizeof q, "key_id=%s", f->id_a);
    assert_int_equal(get(f, "/admin/report/rows", q, f->key_b, NULL, &j), 403);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/usage", q, f->key_b, NULL, &j), 403);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/routing", "", f->key_b, NULL, &j), 403);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/payments", "", f->key_b, NULL, &j), 403);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/rows", "", "gr-unknown", NULL, &j), 401);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/nope", "", ADMIN, NULL, &j), 404);
    cJSON_Delete(j);
    assert_int_equal(gr_keys_revoke(f->keys, f->id_b, NOW), GR_OK);
    assert_int_equal(get(f, "/admin/report/rows", "", f->key_b, NULL, &j), 401); /* revoked */
    cJSON_Delete(j);
    /* with no admin key configured, a virtual key still reads its own rows */
    f->ctx.admin_key = NULL;
    assert_int_equal(get(f, "/admin/report/rows", "", f->key_a, NULL, &j), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "data")), 10);
    cJSON_Delete(j);
    assert_int_equal(get(f, "/admin/report/rows", "", ADMIN, NULL, &j), 401);
    cJSON_Delete(j);
}

static void csv_rows(void **st) {
    fx *f = *st;
    char *text;
    assert_int_equal(get(f, "/admin/report/rows", "format=csv&provider=p1", ADMIN, &text, NULL), 200);
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "\r\n")) != NULL; p += 2) lines++;
    assert_int_equal(lines, 11); /* header + A's ten */
    assert_true(strncmp(text, "request_id,client_request_id,ts_ms,key_id,", 42) == 0);
    assert_non_null(strstr(text, ",\"'=m1\",m1,p1,")); /* the asked name is a formula: neutralised */
    free(text);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(usage_two_dims, setup, teardown),
        cmocka_unit_test_setup_teardown(timeseries_percentiles, setup, teardown),
        cmocka_unit_test_setup_teardown(row_cap_truncates, setup, teardown),
        cmocka_unit_test_setup_teardown(who_reads_what, setup, teardown),
        cmocka_unit_test_setup_teardown(csv_rows, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
