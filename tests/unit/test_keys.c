/* test_keys.c — key generation/hashing/auth, expiry, revocation, allowed
 * models, budgets with UTC day/month resets (injected clock), RPM/TPM
 * windows, spec parsing, persistence of keys and spend through the store. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "keys.h"
#include "meter.h"
#include "store_test_url.h"

#define USD(x) ((int64_t)((x) * 1000000000.0 + 0.5))
/* 2025-01-31T23:59:59.999Z and the next midnight */
#define JAN31_LAST_MS 1738367999999LL
#define FEB1_MS 1738368000000LL
#define T0 1700000000000LL /* a whole second */

static gr_keys *mk(const char *json, char plaintext[GR_KEY_PLAINTEXT_SIZE], gr_key_entry **e) {
    gr_keys *t = gr_keys_new(NULL);
    gr_key_record spec;
    gr_key_record_init(&spec);
    cJSON *o = cJSON_Parse(json);
    char err[256];
    assert_int_equal(gr_keys_spec_from_json(o, false, T0, &spec, err, sizeof err), GR_OK);
    cJSON_Delete(o);
    gr_key_record created;
    assert_int_equal(gr_keys_create(t, &spec, T0, plaintext, &created), GR_OK);
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(t, plaintext, strlen(plaintext), T0, e, &v));
    assert_string_equal(gr_keys_id(*e), created.id);
    gr_key_record_dispose(&created);
    gr_key_record_dispose(&spec);
    return t;
}

static void hash_vector(void **st) {
    (void)st;
    char hex[GR_KEY_HASH_HEX];
    gr_keys_hash("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void create_and_auth(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"name\":\"alice\"}", pt, &e);
    assert_int_equal(strlen(pt), GR_KEY_PLAINTEXT_LEN);
    assert_memory_equal(pt, "gr-", 3);
    for (int i = 3; i < GR_KEY_PLAINTEXT_LEN; i++)
        assert_non_null(strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                               pt[i]));
    gr_key_info info;
    gr_keys_info(e, T0, &info);
    char hex[GR_KEY_HASH_HEX];
    gr_keys_hash(pt, strlen(pt), hex);
    assert_string_equal(info.rec.hash, hex);
    assert_memory_equal(info.rec.prefix, pt, 9);
    assert_string_equal(info.rec.name, "alice");
    assert_int_equal(info.rec.budget_total_nusd, -1);
    gr_key_record_dispose(&info.rec);

    gr_key_verdict v;
    gr_key_entry *h;
    char bad[GR_KEY_PLAINTEXT_SIZE];
    memcpy(bad, pt, sizeof bad);
    bad[10] = bad[10] == 'a' ? 'b' : 'a';
    assert_false(gr_keys_authenticate(t, bad, strlen(bad), T0, &h, &v));
    assert_null(h);
    assert_int_equal(v.status, 401);
    assert_string_equal(v.code, "invalid_api_key");
    assert_false(gr_keys_authenticate(t, "", 0, T0, &h, &v));
    assert_int_equal(v.status, 401);
    assert_false(gr_keys_authenticate(t, pt, strlen(pt) - 1, T0, &h, &v));
    /* two keys differ */
    char pt2[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record spec;
    gr_key_record_init(&spec);
    assert_int_equal(gr_keys_create(t, &spec, T0, pt2, NULL), GR_OK);
    assert_string_not_equal(pt, pt2);
    assert_true(gr_keys_authenticate(t, pt2, strlen(pt2), T0, &h, &v));
    assert_ptr_not_equal(h, e);
    char *json = gr_keys_verdict_json(&v);
    assert_non_null(strstr(json, "\"error\""));
    cJSON_free(json);
    gr_keys_free(t);
}

static void expiry_and_revoke(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e, *h;
    gr_keys *t = mk("{\"expires_at\":1700000100000}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation r;
    assert_true(gr_keys_authenticate(t, pt, strlen(pt), 1700000099999LL, &h, &v));
    assert_false(gr_keys_authenticate(t, pt, strlen(pt), 1700000100000LL, &h, &v));
    assert_int_equal(v.status, 401);
    assert_string_equal(v.code, "key_expired");
    assert_false(gr_keys_admit(e, "m", 0, 0, 1700000100000LL, &r, &v));
    assert_int_equal(v.status, 401);
    assert_false(r.active);
    gr_keys_free(t);

    t = mk("{}", pt, &e);
    assert_true(gr_keys_admit(e, "m", 0, 0, T0, &r, &v));
    assert_int_equal(gr_keys_revoke(t, gr_keys_id(e), T0 + 5), GR_OK);
    assert_false(gr_keys_authenticate(t, pt, strlen(pt), T0 + 6, &h, &v));
    assert_string_equal(v.code, "key_revoked");
    gr_key_reservation r2;
    assert_false(gr_keys_admit(e, "m", 0, 0, T0 + 6, &r2, &v)); /* held handle */
    assert_int_equal(v.status, 401);
    gr_keys_settle(&r, 0, 0, T0 + 7); /* in-flight request still settles */
    assert_int_equal(gr_keys_revoke(t, "key_nope", T0), GR_ERR_NOT_FOUND);
    gr_keys_free(t);
}

static void allowed_models(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"models\":[\"gpt-4o\",\"auto\"]}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation r;
    assert_true(gr_keys_admit(e, "gpt-4o", 0, 0, T0, &r, &v));
    gr_keys_settle(&r, 0, 0, T0);
    assert_true(gr_keys_admit(e, "auto", 0, 0, T0, &r, &v));
    gr_keys_settle(&r, 0, 0, T0);
    assert_false(gr_keys_admit(e, "gpt-4o-mini", 0, 0, T0, &r, &v));
    assert_int_equal(v.status, 403);
    assert_string_equal(v.code, "model_not_allowed");
    assert_non_null(strstr(v.message, "gpt-4o-mini"));
    assert_false(gr_keys_admit(e, NULL, 0, 0, T0, &r, &v));
    /* update to "*" */
    gr_key_info info;
    gr_keys_info(e, T0, &info);
    free(info.rec.models_json);
    info.rec.models_json = gr_xstrdup("[\"*\"]");
    assert_int_equal(gr_keys_update(t, &info.rec, T0), GR_OK);
    gr_key_record_dispose(&info.rec);
    assert_true(gr_keys_admit(e, "anything", 0, 0, T0, &r, &v));
    gr_keys_settle(&r, 0, 0, T0);
    gr_keys_free(t);
}

static void total_budget(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"budget_usd\":\"1.00\"}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation a, b, c;
    assert_true(gr_keys_admit(e, "m", USD(0.4), 0, T0, &a, &v));
    assert_true(gr_keys_admit(e, "m", USD(0.4), 0, T0, &b, &v));
    assert_false(gr_keys_admit(e, "m", USD(0.4), 0, T0, &c, &v)); /* 0.8 reserved */
    assert_int_equal(v.status, 402);
    assert_string_equal(v.type, "insufficient_quota");
    assert_int_equal(v.retry_after_s, 0); /* total budget never resets */
    assert_non_null(strstr(v.message, "in-flight"));
    gr_keys_settle(&a, USD(0.3), 10, T0);
    gr_keys_settle(&a, USD(0.3), 10, T0); /* idempotent */
    gr_keys_settle(&b, USD(0.3), 10, T0);
    gr_key_info info;
    gr_keys_info(e, T0, &info);
    assert_int_equal(info.spent_total_nusd, USD(0.6));
    assert_int_equal(info.reserved_nusd, 0);
    gr_key_record_dispose(&info.rec);
    assert_true(gr_keys_admit(e, "m", USD(0.4), 0, T0, &c, &v)); /* exactly fits */
    gr_keys_settle(&c, USD(0.4), 0, T0);
    assert_false(gr_keys_admit(e, "m", 0, 0, T0, &c, &v)); /* exhausted, even free */
    assert_int_equal(v.status, 402);
    assert_non_null(strstr(v.message, "exhausted"));
    gr_keys_free(t);
}

static void daily_reset(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"budget_daily_usd\":1}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation r;
    assert_true(gr_keys_admit(e, "m", USD(0.6), 0, JAN31_LAST_MS - 1000, &r, &v));
    gr_keys_settle(&r, USD(0.6), 0, JAN31_LAST_MS - 1000);
    assert_false(gr_keys_admit(e, "m", USD(0.5), 0, JAN31_LAST_MS, &r, &v));
    assert_int_equal(v.status, 402);
    assert_int_equal(v.retry_after_s, 1); /* 1 ms to midnight rounds up to 1 s */
    assert_true(gr_keys_admit(e, "m", USD(0.5), 0, FEB1_MS, &r, &v));
    gr_keys_settle(&r, USD(0.5), 0, FEB1_MS);
    gr_key_info info;
    gr_keys_info(e, FEB1_MS, &info);
    assert_int_equal(info.spent_day_nusd, USD(0.5));
    assert_int_equal(info.spent_month_nusd, USD(0.5)); /* month rolled too */
    assert_int_equal(info.spent_total_nusd, USD(1.1));
    gr_key_record_dispose(&info.rec);
    /* mid-day retry-after: noon -> 12 h */
    assert_true(gr_keys_admit(e, "m", USD(0.5), 0, FEB1_MS + 43200000, &r, &v));
    gr_keys_settle(&r, USD(0.5), 0, FEB1_MS + 43200000);
    assert_false(gr_keys_admit(e, "m", 1, 0, FEB1_MS + 43200000, &r, &v));
    assert_int_equal(v.retry_after_s, 43200);
    gr_keys_free(t);
}

static void monthly_reset(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"budget_monthly_usd\":\"2\",\"budget_usd\":\"3\"}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation r;
    int64_t jan15 = FEB1_MS - 17LL * 86400000;
    assert_true(gr_keys_admit(e, "m", USD(2), 0, jan15, &r, &v));
    gr_keys_settle(&r, USD(2), 0, jan15);
    assert_false(gr_keys_admit(e, "m", 1, 0, JAN31_LAST_MS, &r, &v));
    assert_int_equal(v.retry_after_s, 1);
    assert_false(gr_keys_admit(e, "m", 1, 0, jan15 + 1000, &r, &v));
    assert_int_equal(v.retry_after_s, 17 * 86400 - 1);
    assert_true(gr_keys_admit(e, "m", USD(1), 0, FEB1_MS, &r, &v));
    gr_keys_settle(&r, USD(1), 0, FEB1_MS);
    /* total budget (3) is now spent: no reset */
    assert_false(gr_keys_admit(e, "m", 1, 0, FEB1_MS + 86400000LL * 40, &r, &v));
    assert_int_equal(v.retry_after_s, 0);
    /* month start arithmetic incl. leap years and December */
    assert_int_equal(gr_store_utc_month_start_ms(gr_store_utc_month(FEB1_MS) + 1),
                     1740787200000LL); /* 2025-03-01 */
    assert_int_equal(gr_store_utc_month(951782400000LL), 2000 * 12 + 1); /* 2000-02-29 */
    assert_int_equal(gr_store_utc_month_start_ms(2024 * 12 + 12), 1735689600000LL);
    char d[11];
    gr_store_utc_date(JAN31_LAST_MS, d);
    assert_string_equal(d, "2025-01-31");
    gr_keys_free(t);
}

static void rpm_window(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"rpm\":3}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation r;
    for (int i = 0; i < 3; i++) {
        assert_true(gr_keys_admit(e, "m", 0, 0, T0, &r, &v));
        gr_keys_settle(&r, 0, 0, T0);
    }
    assert_false(gr_keys_admit(e, "m", 0, 0, T0, &r, &v));
    assert_int_equal(v.status, 429);
    assert_string_equal(v.type, "rate_limit_error");
    assert_int_equal(v.retry_after_s, 60);
    assert_false(gr_keys_admit(e, "m", 0, 0, T0 + 59999, &r, &v));
    assert_int_equal(v.retry_after_s, 1);
    assert_true(gr_keys_admit(e, "m", 0, 0, T0 + 60000, &r, &v));
    gr_keys_settle(&r, 0, 0, T0 + 60000);
    gr_keys_free(t);

    /* spread requests age out one by one */
    t = mk("{\"rpm\":3}", pt, &e);
    int64_t s = T0;
    for (int i = 0; i < 3; i++) {
        assert_true(gr_keys_admit(e, "m", 0, 0, s + i * 10000, &r, &v));
        gr_keys_settle(&r, 0, 0, s + i * 10000);
    }
    assert_false(gr_keys_admit(e, "m", 0, 0, s + 30000, &r, &v));
    assert_int_equal(v.retry_after_s, 30);
    assert_true(gr_keys_admit(e, "m", 0, 0, s + 60000, &r, &v));
    assert_false(gr_keys_admit(e, "m", 0, 0, s + 60000, &r, &v));
    assert_int_equal(v.retry_after_s, 10);
    gr_key_info info;
    gr_keys_info(e, s + 60000, &info);
    assert_int_equal(info.rpm_used, 3);
    gr_key_record_dispose(&info.rec);
    gr_keys_free(t);

    /* an admission refused afterwards (cluster-wide) and cancelled consumes
     * nothing: neither the window nor the reservation */
    t = mk("{\"rpm\":1,\"tpm\":100,\"budget_usd\":\"1\"}", pt, &e);
    assert_true(gr_keys_admit(e, "m", USD(0.6), 100, T0, &r, &v));
    gr_keys_cancel(&r);
    gr_keys_cancel(&r); /* idempotent */
    gr_keys_info(e, T0, &info);
    assert_int_equal(info.rpm_used, 0);
    assert_int_equal(info.tpm_used, 0);
    assert_int_equal(info.reserved_nusd, 0);
    assert_int_equal(info.requests, 0);
    gr_key_record_dispose(&info.rec);
    assert_true(gr_keys_admit(e, "m", USD(0.6), 100, T0, &r, &v));
    gr_keys_settle(&r, 0, 0, T0);
    gr_keys_free(t);
}

static void tpm_window(void **st) {
    (void)st;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_entry *e;
    gr_keys *t = mk("{\"tpm\":1000}", pt, &e);
    gr_key_verdict v;
    gr_key_reservation a, b;
    assert_true(gr_keys_admit(e, "m", 0, 600, T0, &a, &v));
    assert_false(gr_keys_admit(e, "m", 0, 600, T0 + 1000, &b, &v));
    assert_int_equal(v.status, 429);
    assert_int_equal(v.retry_after_s, 59);
    gr_keys_settle(&a, 0, 100, T0 + 1500); /* actual 100: the estimate is corrected */
    assert_true(gr_keys_admit(e, "m", 0, 600, T0 + 2000, &b, &v));
    gr_key_info info;
    gr_keys_info(e, T0 + 2000, &info);
    assert_int_equal(info.tpm_used, 700);
    gr_key_record_dispose(&info.rec);
    gr_keys_settle(&b, 0, 600, T0 + 2000);
    assert_false(gr_keys_admit(e, "m", 0, 1001, T0 + 2000, &b, &v));
    assert_string_equal(v.code, "tokens_exceed_limit");
    assert_int_equal(v.retry_after_s, 0);
    gr_keys_free(t);
}

static void spec_parsing(void **st) {
    (void)st;
    gr_key_record k;
    gr_key_record_init(&k);
    char err[256];
    cJSON *o = cJSON_Parse("{\"name\":\"n\",\"budget_usd\":10.5,\"budget_daily_usd\":\"0.1\","
                           "\"budget_monthly_usd\":null,\"rpm\":60,\"tpm\":null,"
                           "\"models\":[\"a\",\"b\"],\"metadata\":{\"team\":\"x\"},"
                           "\"expires_at\":\"2025-02-01\"}");
    assert_int_equal(gr_keys_spec_from_json(o, false, T0, &k, err, sizeof err), GR_OK);
    assert_int_equal(k.budget_total_nusd, 10500000000LL);
    assert_int_equal(k.budget_daily_nusd, 100000000);
    assert_int_equal(k.budget_monthly_nusd, -1);
    assert_int_equal(k.rpm, 60);
    assert_int_equal(k.tpm, 0);
    assert_int_equal(k.expires_at_ms, FEB1_MS);
    assert_string_equal(k.models_json, "[\"a\",\"b\"]");
    assert_string_equal(k.metadata_json, "{\"team\":\"x\"}");
    cJSON_Delete(o);
    /* patch changes only present fields */
    o = cJSON_Parse("{\"rpm\":5,\"expires_in_days\":1}");
    assert_int_equal(gr_keys_spec_from_json(o, true, T0, &k, err, sizeof err), GR_OK);
    assert_int_equal(k.rpm, 5);
    assert_int_equal(k.budget_total_nusd, 10500000000LL);
    assert_int_equal(k.expires_at_ms, T0 + 86400000);
    assert_string_equal(k.name, "n");
    cJSON_Delete(o);
    static const char *const bad[] = {
        "{\"budget_usd\":\"-1\"}", "{\"budget_usd\":\"abc\"}", "{\"rpm\":-1}", "{\"rpm\":1.5}",
        "{\"models\":[1]}",        "{\"metadata\":[]}",        "{\"expires_at\":\"tomorrow\"}",
        "{\"name\":5}",            "[]",
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(bad); i++) {
        o = cJSON_Parse(bad[i]);
        assert_int_not_equal(gr_keys_spec_from_json(o, false, T0, &k, err, sizeof err), GR_OK);
        assert_true(strlen(err) > 0);
        cJSON_Delete(o);
    }
    gr_key_record_dispose(&k);
}

static void persistence(void **st) {
    (void)st;
    /* SQLite here, or PostgreSQL with GR_TEST_STORE_URL (test_keys_pg) */
    char dir[] = "/tmp/gr_test_keys_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[300];
    gr_test_store_url(url, sizeof url, dir, "keys.db");
    char err[256];
    gr_store *s;
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_keys *t = gr_keys_new(s);
    gr_key_record spec;
    gr_key_record_init(&spec);
    spec.budget_daily_nusd = USD(5);
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record created;
    assert_int_equal(gr_keys_create(t, &spec, T0, pt, &created), GR_OK);
    /* two ledger rows for the key: spend reaches the key's buckets */
    gr_ledger_row rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        snprintf(rows[i].request_id, sizeof rows[i].request_id, "req-%d", i);
        GR_LEDGER_SET(rows[i].key_id, created.id);
        rows[i].ts_ms = T0 + i;
        rows[i].cost_nusd = USD(1.25);
        rows[i].status = 200;
    }
    assert_int_equal(gr_store_ledger_insert(s, rows, 2), GR_OK);
    assert_int_equal(gr_store_ledger_insert(s, rows, 2), GR_OK); /* idempotent */
    /* spend this table never settled (another instance's) shows after a
     * refresh, and becomes the floor of the cluster-wide counters */
    gr_key_entry *mine = gr_keys_find_id(t, created.id);
    gr_key_limits lim;
    gr_keys_limits(mine, &lim);
    assert_int_equal(lim.spent_total_nusd, 0);
    assert_int_equal(gr_keys_refresh_spend(t, T0 + 5), GR_OK);
    gr_keys_limits(mine, &lim);
    assert_int_equal(lim.spent_total_nusd, USD(2.5));
    assert_int_equal(lim.committed_total_nusd, USD(2.5));
    assert_int_equal(lim.committed_day_nusd, USD(2.5));
    gr_key_spend less = {.total_nusd = USD(1), .day_nusd = USD(1), .month_nusd = USD(1), .requests = 1};
    gr_keys_note_committed(mine, &less, T0 + 6); /* never lowered */
    gr_keys_limits(mine, &lim);
    assert_int_equal(lim.committed_total_nusd, USD(2.5));
    assert_int_equal(lim.spent_day_nusd, USD(2.5));
    gr_keys_free(t);
    gr_store_close(s);

    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    t = gr_keys_new(s);
    assert_int_equal(gr_keys_load(t, T0 + 10), GR_OK);
    gr_key_entry *e;
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(t, pt, strlen(pt), T0 + 10, &e, &v));
    gr_key_info info;
    gr_keys_info(e, T0 + 10, &info);
    assert_int_equal(info.spent_total_nusd, USD(2.5));
    assert_int_equal(info.spent_day_nusd, USD(2.5));
    assert_int_equal(info.requests, 2);
    assert_int_equal(info.rec.budget_daily_nusd, USD(5));
    gr_key_record_dispose(&info.rec);
    /* next day: the day bucket is empty, total is kept */
    gr_keys *t2 = gr_keys_new(s);
    assert_int_equal(gr_keys_load(t2, T0 + 86400000), GR_OK);
    gr_keys_info(gr_keys_find_id(t2, created.id), T0 + 86400000, &info);
    assert_int_equal(info.spent_day_nusd, 0);
    assert_int_equal(info.spent_total_nusd, USD(2.5));
    gr_key_record_dispose(&info.rec);
    /* revoke persists */
    assert_int_equal(gr_keys_revoke(t, created.id, T0 + 20), GR_OK);
    assert_int_equal(gr_keys_reload(t2, T0 + 30), GR_OK);
    assert_false(gr_keys_authenticate(t2, pt, strlen(pt), T0 + 30, &e, &v));
    assert_string_equal(v.code, "key_revoked");
    gr_keys_free(t2);
    gr_keys_free(t);
    gr_store_close(s);
    gr_key_record_dispose(&created);
    gr_key_record_dispose(&spec);
    gr_test_store_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* Rotation: same id and spend, a new secret; the old one works for the
 * grace only; both persist (a second table sharing the store sees them, as
 * another instance would after its keys refresh); a revert brings the old
 * secret back; a revoked key is not rotated. */
static void rotation(void **st) {
    (void)st;
    char dir[] = "/tmp/gr_test_keys_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char url[300], err[256];
    gr_test_store_url(url, sizeof url, dir, "rot.db");
    gr_store *s;
    assert_int_equal(gr_store_open_migrated(url, &s, err, sizeof err), GR_OK);
    gr_keys *t = gr_keys_new(s), *other = gr_keys_new(s);
    gr_key_record spec;
    gr_key_record_init(&spec);
    spec.rpm = 7;
    char old[GR_KEY_PLAINTEXT_SIZE], fresh[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record created;
    assert_int_equal(gr_keys_create(t, &spec, T0, old, &created), GR_OK);
    for (int i = 0; i < 40; i++) { /* enough keys that the index grows while a rotated one sits in it */
        char pt[GR_KEY_PLAINTEXT_SIZE];
        assert_int_equal(gr_keys_create(t, &spec, T0, pt, NULL), GR_OK);
    }
    assert_int_equal(gr_keys_rotate(t, created.id, 60000, T0 + 1000, fresh), GR_OK);
    assert_string_not_equal(old, fresh);
    assert_int_equal(gr_keys_load(other, T0 + 1000), GR_OK);
    gr_keys *both[2] = {t, other};
    for (int i = 0; i < 2; i++) {
        gr_key_entry *e;
        gr_key_verdict v;
        assert_true(gr_keys_authenticate(both[i], fresh, strlen(fresh), T0 + 2000, &e, &v));
        assert_string_equal(gr_keys_id(e), created.id);
        assert_true(gr_keys_authenticate(both[i], old, strlen(old), T0 + 60999, &e, &v));
        assert_string_equal(gr_keys_id(e), created.id);
        assert_false(gr_keys_authenticate(both[i], old, strlen(old), T0 + 61000, &e, &v));
        assert_string_equal(v.code, "key_rotated");
        assert_true(gr_keys_authenticate(both[i], fresh, strlen(fresh), T0 + 61000, &e, &v));
        gr_key_limits lim;
        gr_keys_limits(e, &lim);
        assert_int_equal(lim.rpm, 7);
    }
    /* the rotation nobody saw is undone: the old secret is the key's again, for good */
    assert_int_equal(gr_keys_rotate_revert(t, created.id, T0 + 3000), GR_OK);
    gr_key_entry *e;
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(t, old, strlen(old), T0 + 999999, &e, &v));
    assert_false(gr_keys_authenticate(t, fresh, strlen(fresh), T0 + 3001, &e, &v));
    assert_int_equal(gr_keys_reload(other, T0 + 3002), GR_OK);
    assert_true(gr_keys_authenticate(other, old, strlen(old), T0 + 999999, &e, &v));
    assert_false(gr_keys_authenticate(other, fresh, strlen(fresh), T0 + 3003, &e, &v));
    /* no grace: at once; nothing to revert to */
    assert_int_equal(gr_keys_rotate(t, created.id, 0, T0 + 4000, fresh), GR_OK);
    assert_false(gr_keys_authenticate(t, old, strlen(old), T0 + 4000, &e, &v));
    assert_int_equal(gr_keys_rotate_revert(t, created.id, T0 + 4001), GR_ERR_INVALID);
    assert_int_equal(gr_keys_revoke(t, created.id, T0 + 5000), GR_OK);
    assert_int_equal(gr_keys_rotate(t, created.id, 1000, T0 + 6000, fresh), GR_ERR_INVALID);
    assert_int_equal(gr_keys_rotate(t, "key_nope", 1000, T0 + 6000, fresh), GR_ERR_NOT_FOUND);
    gr_keys_free(other);
    gr_keys_free(t);
    gr_store_close(s);
    gr_key_record_dispose(&created);
    gr_key_record_dispose(&spec);
    gr_test_store_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void config_keys(void **st) {
    (void)st;
    gr_keys *t = gr_keys_new(NULL);
    cJSON *tree = cJSON_Parse("{\"keys\":[{\"name\":\"ci\",\"key\":\"sk-test-0123456789abcdef\","
                              "\"rpm\":1,\"models\":[\"gpt-4o\"]}]}");
    char err[256];
    assert_int_equal(gr_keys_load_config(t, tree, T0, err, sizeof err), GR_OK);
    gr_key_entry *e;
    gr_key_verdict v;
    assert_true(gr_keys_authenticate(t, "sk-test-0123456789abcdef", 24, T0, &e, &v));
    assert_string_equal(gr_keys_id(e), "cfg_ci");
    gr_key_reservation r;
    assert_true(gr_keys_admit(e, "gpt-4o", 0, 0, T0, &r, &v));
    gr_keys_settle(&r, 0, 0, T0);
    assert_false(gr_keys_admit(e, "gpt-4o", 0, 0, T0, &r, &v));
    assert_int_equal(v.status, 429);
    assert_int_equal(gr_keys_revoke(t, "cfg_ci", T0), GR_ERR_UNSUPPORTED);
    cJSON_Delete(tree);
    tree = cJSON_Parse("{\"keys\":[{\"name\":\"short\",\"key\":\"abc\"}]}");
    assert_int_not_equal(gr_keys_load_config(t, tree, T0, err, sizeof err), GR_OK);
    assert_non_null(strstr(err, "keys[0]"));
    cJSON_Delete(tree);
    gr_keys_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_vector),    cmocka_unit_test(create_and_auth),
        cmocka_unit_test(expiry_and_revoke), cmocka_unit_test(allowed_models),
        cmocka_unit_test(total_budget),   cmocka_unit_test(daily_reset),
        cmocka_unit_test(monthly_reset),  cmocka_unit_test(rpm_window),
        cmocka_unit_test(tpm_window),     cmocka_unit_test(spec_parsing),
        cmocka_unit_test(persistence),    cmocka_unit_test(config_keys),
        cmocka_unit_test(rotation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
