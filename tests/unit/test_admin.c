/* test_admin.c — admin API (auth, key CRUD, usage), GET /v1/key,
 * GET /v1/generation, error shapes, and the keys/usage CLI on the same store.
 * SQLite by default, PostgreSQL when GR_TEST_STORE_URL is set (test_admin_pg,
 * store_test_url.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "admin.h"
#include "cli_admin.h"
#include "store_test_url.h"

#define T0 1700000000000LL
#define ADMIN "admin-secret-0123456789"

static int64_t fake_now(void) { return T0 + 1000; }

typedef struct fx {
    char dir[64], url[256];
    gr_store *store;
    gr_keys *keys;
    gr_admin_ctx ctx;
} fx;

static int setup(void **st) {
    fx *f = gr_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gr_test_admin_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    gr_test_store_url(f->url, sizeof f->url, f->dir, "gr.db");
    char err[256];
    if (gr_store_open_migrated(f->url, &f->store, err, sizeof err)) return -1;
    f->keys = gr_keys_new(f->store);
    f->ctx = (gr_admin_ctx){.keys = f->keys, .store = f->store, .admin_key = ADMIN, .now_ms = fake_now};
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

static char last_raw[16384]; /* exact text of the last response */
#define assert_raw(needle) assert_non_null(strstr(last_raw, needle))

/* Call and parse; returns status, *json owned by caller. */
static int call(fx *f, const char *method, const char *path, const char *query,
                const char *body, const char *bearer, cJSON **json) {
    char *out = NULL;
    int st = gr_admin_handle(&f->ctx, method, path, query, body, body ? strlen(body) : 0, bearer,
                             &out);
    assert_non_null(out);
    snprintf(last_raw, sizeof last_raw, "%s", out);
    *json = cJSON_Parse(out);
    assert_non_null(*json);
    cJSON_free(out);
    return st;
}

static const char *err_code(const cJSON *j) {
    const cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_non_null(cJSON_GetObjectItem(e, "message"));
    assert_non_null(cJSON_GetObjectItem(e, "type"));
    assert_true(cJSON_HasObjectItem(e, "param"));
    const cJSON *c = cJSON_GetObjectItem(e, "code");
    return cJSON_IsString(c) ? c->valuestring : "";
}

static const char *sget(const cJSON *o, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = buf, *dot; tok; tok = dot ? dot + 1 : NULL) {
        dot = strchr(tok, '.');
        if (dot) *dot = '\0';
        cur = cJSON_GetObjectItem(cur, tok);
    }
    if (cJSON_IsString(cur)) return cur->valuestring;
    static char num[64];
    if (cJSON_IsRaw(cur)) return cur->valuestring;
    if (cJSON_IsNumber(cur)) {
        snprintf(num, sizeof num, "%.17g", cur->valuedouble);
        return num;
    }
    if (cJSON_IsNull(cur)) return "null";
    return "";
}

static void admin_auth(void **st) {
    fx *f = *st;
    cJSON *j;
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, NULL, &j), 401);
    assert_string_equal(err_code(j), "invalid_admin_key");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, "Bearer wrong", &j), 401);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, "Bearer " ADMIN "x", &j), 401);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, "Bearer " ADMIN, &j), 200);
    cJSON_Delete(j);
    f->ctx.admin_key = NULL;
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, "Bearer " ADMIN, &j), 404);
    cJSON_Delete(j);
    f->ctx.admin_key = "";
    assert_int_equal(call(f, "POST", "/admin/keys", NULL, "{}", ADMIN, &j), 404);
    cJSON_Delete(j);
    f->ctx.admin_key = ADMIN;
    assert_int_equal(call(f, "GET", "/admin/nothing", NULL, NULL, ADMIN, &j), 404);
    cJSON_Delete(j);
    assert_int_equal(call(f, "PUT", "/admin/keys", NULL, NULL, ADMIN, &j), 405);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v2/else", NULL, NULL, ADMIN, &j), 404);
    cJSON_Delete(j);
    assert_true(gr_admin_owns_path("/admin/keys/x"));
    assert_true(gr_admin_owns_path("/v1/key"));
    assert_false(gr_admin_owns_path("/v1/chat/completions"));
}

static void key_lifecycle(void **st) {
    fx *f = *st;
    cJSON *j;
    assert_int_equal(call(f, "POST", "/admin/keys", NULL, "{\"rpm\":-3}", ADMIN, &j), 400);
    assert_string_equal(err_code(j), "invalid_key_spec");
    cJSON_Delete(j);
    assert_int_equal(call(f, "POST", "/admin/keys", NULL, "not json", ADMIN, &j), 400);
    cJSON_Delete(j);
    assert_int_equal(
        call(f, "POST", "/admin/keys", NULL,
             "{\"name\":\"bob\",\"budget_usd\":\"2.50\",\"budget_daily_usd\":\"1\",\"rpm\":10,"
             "\"models\":[\"gpt-4o-mini\"],\"metadata\":{\"team\":\"red\"}}",
             "Bearer " ADMIN, &j),
        201);
    char key[64], id[64];
    snprintf(key, sizeof key, "%s", sget(j, "key"));
    snprintf(id, sizeof id, "%s", sget(j, "id"));
    assert_int_equal(strlen(key), GR_KEY_PLAINTEXT_LEN);
    assert_string_equal(sget(j, "name"), "bob");
    assert_string_equal(sget(j, "limits.budget_usd"), "2.5");
    assert_string_equal(sget(j, "limits.budget_monthly_usd"), "null");
    assert_string_equal(sget(j, "remaining.total_usd"), "2.5");
    assert_string_equal(sget(j, "metadata.team"), "red");
    assert_string_equal(sget(j, "status"), "active");
    assert_null(cJSON_GetObjectItem(j, "hash"));
    cJSON_Delete(j);

    /* listing never shows the plaintext */
    assert_int_equal(call(f, "GET", "/admin/keys", NULL, NULL, ADMIN, &j), 200);
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 1);
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "key"));
    cJSON_Delete(j);

    char path[96];
    snprintf(path, sizeof path, "/admin/keys/%s", id);
    assert_int_equal(call(f, "GET", path, NULL, NULL, ADMIN, &j), 200);
    assert_string_equal(sget(j, "id"), id);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/keys/key_nope", NULL, NULL, ADMIN, &j), 404);
    cJSON_Delete(j);
    assert_int_equal(call(f, "PATCH", path, NULL, "{\"rpm\":99,\"budget_usd\":null}", ADMIN, &j),
                     200);
    assert_string_equal(sget(j, "limits.rpm"), "99");
    assert_string_equal(sget(j, "limits.budget_usd"), "null");
    assert_string_equal(sget(j, "limits.budget_daily_usd"), "1");
    assert_string_equal(sget(j, "name"), "bob");
    cJSON_Delete(j);
    assert_int_equal(call(f, "PATCH", path, NULL, "{\"tpm\":\"x\"}", ADMIN, &j), 400);
    cJSON_Delete(j);

    /* spend some, then GET /v1/key as the key holder */
    gr_key_entry *e;
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(f->keys, key, strlen(key), T0, &e, &v));
    gr_key_reservation r;
    assert_true(gr_keys_admit(e, "gpt-4o-mini", 250000000, 10, T0 + 1000, &r, &v));
    gr_keys_settle(&r, 200000000, 10, T0 + 1000);
    char bearer[80];
    snprintf(bearer, sizeof bearer, "Bearer %s", key);
    assert_int_equal(call(f, "GET", "/v1/key", NULL, NULL, bearer, &j), 200);
    assert_raw("\"total_usd\":0.2,");
    assert_raw("\"daily_usd\":0.8,");
    assert_string_equal(sget(j, "data.remaining.total_usd"), "null");
    assert_string_equal(sget(j, "data.rate_window.requests_last_minute"), "1");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v1/key", NULL, NULL, "Bearer gr-nope", &j), 401);
    assert_string_equal(err_code(j), "invalid_api_key");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v1/key", NULL, NULL, ADMIN, &j), 401);
    cJSON_Delete(j);
    assert_int_equal(call(f, "POST", "/v1/key", NULL, NULL, bearer, &j), 405);
    cJSON_Delete(j);

    /* revoke */
    assert_int_equal(call(f, "DELETE", path, NULL, NULL, ADMIN, &j), 200);
    assert_string_equal(sget(j, "status"), "revoked");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v1/key", NULL, NULL, bearer, &j), 401);
    assert_string_equal(err_code(j), "key_revoked");
    cJSON_Delete(j);
    /* a fresh table from the store agrees */
    gr_keys *t2 = gr_keys_new(f->store);
    assert_int_equal(gr_keys_load(t2, T0 + 2000), GR_OK);
    assert_false(gr_keys_authenticate(t2, key, strlen(key), T0 + 2000, &e, &v));
    assert_string_equal(v.code, "key_revoked");
    gr_keys_free(t2);
}

static void usage_and_generation(void **st) {
    fx *f = *st;
    cJSON *j;
    char key_a[GR_KEY_PLAINTEXT_SIZE], key_b[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record spec, ca, cb;
    gr_key_record_init(&spec);
    assert_int_equal(gr_keys_create(f->keys, &spec, T0, key_a, &ca), GR_OK);
    assert_int_equal(gr_keys_create(f->keys, &spec, T0, key_b, &cb), GR_OK);
    gr_ledger_row rows[3];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 3; i++) {
        snprintf(rows[i].request_id, sizeof rows[i].request_id, "gen-%d", i);
        rows[i].ts_ms = T0 + i * 86400000LL;
        GR_LEDGER_SET(rows[i].key_id, i < 2 ? ca.id : cb.id);
        GR_LEDGER_SET(rows[i].model_asked, "auto");
        GR_LEDGER_SET(rows[i].model_served, i ? "gpt-4o-mini" : "gpt-4o");
        GR_LEDGER_SET(rows[i].provider, "openai");
        rows[i].tokens_in = 100;
        rows[i].tokens_out = 20;
        rows[i].cost_nusd = 1500 * (i + 1);
        rows[i].latency_us = 250000;
        rows[i].ttft_us = 90000;
        rows[i].status = 200;
        rows[i].estimated = i == 2;
    }
    assert_int_equal(gr_store_ledger_insert(f->store, rows, 3), GR_OK);

    assert_int_equal(call(f, "GET", "/admin/usage", "group_by=model", NULL, ADMIN, &j), 200);
    const cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    assert_string_equal(sget(cJSON_GetArrayItem(data, 0), "group"), "gpt-4o");
    assert_raw("\"cost_usd\":0.0000075,");
    assert_raw("\"cost_usd\":0.000009}");
    assert_string_equal(sget(j, "total.requests"), "3");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/usage", "group_by=day&from=2023-11-15&to=2023-11-16",
                          NULL, ADMIN, &j),
                     200);
    data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    assert_string_equal(sget(cJSON_GetArrayItem(data, 0), "group"), "2023-11-15");
    cJSON_Delete(j);
    char q[96];
    snprintf(q, sizeof q, "group_by=key&key_id=%s", cb.id);
    assert_int_equal(call(f, "GET", "/admin/usage", q, NULL, ADMIN, &j), 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")), 1);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/usage", "group_by=color", NULL, ADMIN, &j), 400);
    assert_string_equal(err_code(j), "invalid_group_by");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/usage", "from=yesterday", NULL, ADMIN, &j), 400);
    cJSON_Delete(j);

    char bearer_a[80], bearer_b[80];
    snprintf(bearer_a, sizeof bearer_a, "Bearer %s", key_a);
    snprintf(bearer_b, sizeof bearer_b, "Bearer %s", key_b);
    assert_int_equal(call(f, "GET", "/v1/generation", "id=gen-1", NULL, bearer_a, &j), 200);
    assert_string_equal(sget(j, "data.id"), "gen-1");
    assert_string_equal(sget(j, "data.model_served"), "gpt-4o-mini");
    assert_raw("\"total_cost\":0.000003,");
    assert_string_equal(sget(j, "data.latency_ms"), "250");
    cJSON_Delete(j);
    /* someone else's generation is invisible */
    assert_int_equal(call(f, "GET", "/v1/generation", "id=gen-1", NULL, bearer_b, &j), 404);
    assert_string_equal(err_code(j), "generation_not_found");
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v1/generation", "id=gen%2D2", NULL, bearer_b, &j), 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "data"),
                                                 "usage_estimated")));
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/v1/generation", NULL, NULL, bearer_a, &j), 400);
    cJSON_Delete(j);
    assert_int_equal(call(f, "GET", "/admin/generation", "id=gen-2", NULL, ADMIN, &j), 200);
    cJSON_Delete(j);
    gr_key_record_dispose(&ca);
    gr_key_record_dispose(&cb);
    gr_key_record_dispose(&spec);
}

static char *slurp(FILE *fp) {
    fflush(fp);
    long n = ftell(fp);
    rewind(fp);
    char *buf = gr_xcalloc(1, (size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, fp);
    buf[got] = '\0';
    return buf;
}

static void cli(void **st) {
    fx *f = *st;
    FILE *out = tmpfile(), *err = tmpfile();
    char *argv_create[] = {"create", "--name", "cli-key", "--budget", "5", "--rpm", "7",
                           "--models", "gpt-4o,gpt-4o-mini", "--json"};
    assert_int_equal(gr_cli_keys_fp(10, argv_create, f->url, out, err), 0);
    char *txt = slurp(out);
    cJSON *j = cJSON_Parse(txt);
    assert_non_null(j);
    char id[64], key[64];
    snprintf(id, sizeof id, "%s", sget(j, "id"));
    snprintf(key, sizeof key, "%s", sget(j, "key"));
    assert_string_equal(sget(j, "limits.rpm"), "7");
    assert_string_equal(sget(j, "limits.budget_usd"), "5");
    cJSON_Delete(j);
    free(txt);
    /* the running server's table sees it after a reload */
    assert_int_equal(gr_keys_reload(f->keys, T0), GR_OK);
    gr_key_entry *e;
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(f->keys, key, strlen(key), T0, &e, &v));

    rewind(out);
    char *argv_list[] = {"list"};
    assert_int_equal(gr_cli_keys_fp(1, argv_list, f->url, out, err), 0);
    txt = slurp(out);
    assert_non_null(strstr(txt, id));
    assert_null(strstr(txt, key));
    free(txt);
    rewind(out);
    char *argv_show[] = {"show", id};
    assert_int_equal(gr_cli_keys_fp(2, argv_show, f->url, out, err), 0);
    rewind(out);
    char *argv_revoke[] = {"revoke", id};
    assert_int_equal(gr_cli_keys_fp(2, argv_revoke, f->url, out, err), 0);
    assert_int_equal(gr_keys_reload(f->keys, T0), GR_OK);
    assert_false(gr_keys_authenticate(f->keys, key, strlen(key), T0, &e, &v));
    char *argv_bad[] = {"create", "--rpm"};
    assert_int_equal(gr_cli_keys_fp(2, argv_bad, f->url, out, err), 2);
    char *argv_bad2[] = {"frobnicate"};
    assert_int_equal(gr_cli_keys_fp(1, argv_bad2, f->url, out, err), 2);
    char *argv_missing[] = {"show", "key_missing"};
    assert_int_equal(gr_cli_keys_fp(2, argv_missing, f->url, out, err), 1);

    gr_ledger_row r;
    memset(&r, 0, sizeof r);
    GR_LEDGER_SET(r.request_id, "cli-1");
    r.ts_ms = T0;
    GR_LEDGER_SET(r.provider, "anthropic");
    r.cost_nusd = 123456789;
    r.status = 200;
    assert_int_equal(gr_store_ledger_insert(f->store, &r, 1), GR_OK);
    rewind(out);
    char *argv_usage[] = {"--by", "provider", "--from", "2023-11-14", "--to", "2023-11-14"};
    assert_int_equal(gr_cli_usage_fp(6, argv_usage, f->url, out, err), 0);
    txt = slurp(out);
    assert_non_null(strstr(txt, "anthropic"));
    assert_non_null(strstr(txt, "0.123456789"));
    free(txt);
    rewind(out);
    char *argv_usage_json[] = {"--by", "day", "--json"};
    assert_int_equal(gr_cli_usage_fp(3, argv_usage_json, f->url, out, err), 0);
    txt = slurp(out);
    j = cJSON_Parse(txt);
    assert_non_null(j);
    assert_string_equal(sget(j, "group_by"), "day");
    cJSON_Delete(j);
    free(txt);
    char *argv_usage_bad[] = {"--by", "weather"};
    assert_int_equal(gr_cli_usage_fp(2, argv_usage_bad, f->url, out, err), 2);
    fclose(out);
    fclose(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(admin_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(key_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(usage_and_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(cli, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
