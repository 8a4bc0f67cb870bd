/* test_route_learn.c — what the auto router learns from ratings
 * (route_learn.c, the store's feedback_put / learned_* on SQLite, and on
 * PostgreSQL as test_route_learn_pg): the Beta
 * posterior and its shrinkage, one rating's contribution and its take-back,
 * the ledger column, the snapshot hook in the decision, replaced ratings
 * counted once, and routing.auto.learning's validation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdlib.h>
#include <cmocka.h>

#include "route_learn.h"
#include "store.h"
#include "store_test_url.h"

#define NEAR(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static const double CODE_MIX[GR_LEARN_SKILLS] = {0.1, 0.0, 0.0, 0.7, 0.2, 0.0};

static void test_posterior_is_prior_without_ratings(void **state) {
    (void)state;
    NEAR(gr_route_learn_posterior(0.8, 20, 0, 0), 0.8);
    NEAR(gr_route_learn_posterior(0.3, 0.5, 0, 0), 0.3);
}

static void test_posterior_shrinks_toward_observations(void **state) {
    (void)state;
    /* Beta(16, 4) + 0 successes, 20 failures -> mean 16 / 40 */
    NEAR(gr_route_learn_posterior(0.8, 20, 0, 20), 0.4);
    /* the prior's weight: a strong prior barely moves, a weak one follows the data */
    double strong = gr_route_learn_posterior(0.8, 1000, 0, 20), weak = gr_route_learn_posterior(0.8, 1, 0, 20);
    assert_true(strong > 0.78 && strong < 0.8);
    assert_true(weak < 0.05);
    /* many observations: the observed rate, whatever the prior */
    NEAR(gr_route_learn_posterior(0.2, 20, 7500, 2500), (4.0 + 7500) / (10020.0));
    /* clamped so logit() stays finite */
    assert_true(gr_route_learn_posterior(0.9, 0.1, 0, 1e9) >= 0.005);
    assert_true(gr_route_learn_posterior(0.1, 0.1, 1e9, 0) <= 0.995);
    /* sums a hair below 0 after take-backs are 0 */
    NEAR(gr_route_learn_posterior(0.6, 10, -1e-12, -1e-12), 0.6);
}

static void test_rating_contribution_by_skill_mix(void **state) {
    (void)state;
    gr_learned_rec r = {0};
    gr_store_learned_apply(&r, CODE_MIX, 0.25, 0.6, +1);
    assert_int_equal(r.ratings, 1);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        NEAR(r.s[k], CODE_MIX[k] * 0.25);
        NEAR(r.f[k], CODE_MIX[k] * 0.75);
        NEAR(r.e[k], CODE_MIX[k] * 0.6);
    }
    /* taking it back restores the sums exactly */
    gr_store_learned_apply(&r, CODE_MIX, 0.25, 0.6, -1);
    assert_int_equal(r.ratings, 0);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        NEAR(r.s[k], 0.0);
        NEAR(r.f[k], 0.0);
        NEAR(r.e[k], 0.0);
    }
    /* no mixture (not an auto decision): nothing learned, no rating counted */
    const double none[GR_LEARN_SKILLS] = {0};
    gr_store_learned_apply(&r, none, 1.0, 0.5, +1);
    assert_int_equal(r.ratings, 0);
    NEAR(r.s[3], 0.0);
}

static void test_ledger_column_round_trip(void **state) {
    (void)state;
    char buf[256], model[128];
    double mix[GR_LEARN_SKILLS], predicted = -1;
    gr_route_learn_format("gpt \"4\"", CODE_MIX, 0.625, 0.4321, buf, sizeof buf);
    assert_non_null(strstr(buf, "\"mix\""));
    assert_int_equal(gr_route_learn_parse(buf, model, sizeof model, mix, &predicted), GR_OK);
    assert_string_equal(model, "gpt \"4\"");
    NEAR(predicted, 0.625);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) NEAR(mix[k], CODE_MIX[k]);
    /* too small a buffer: empty, never a cut JSON */
    char small[16];
    gr_route_learn_format("m", CODE_MIX, 0.5, 0.1, small, sizeof small);
    assert_string_equal(small, "");
    /* refused: empty, not JSON, wrong length, out of range, not summing to 1, no model */
    const char *bad[] = {"", "{", "{\"model\":\"m\",\"mix\":[1],\"predicted\":0.5}",
                         "{\"model\":\"m\",\"mix\":[1.5,-0.5,0,0,0,0],\"predicted\":0.5}",
                         "{\"model\":\"m\",\"mix\":[0.5,0,0,0,0,0],\"predicted\":0.5}",
                         "{\"model\":\"\",\"mix\":[1,0,0,0,0,0],\"predicted\":0.5}",
                         "{\"mix\":[1,0,0,0,0,0],\"predicted\":0.5}",
                         "{\"model\":\"m\",\"mix\":[1,0,0,0,0,0]}",
                         "{\"model\":\"m\",\"mix\":[1,0,0,0,0,0],\"predicted\":1.5}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mix[0] = 9;
        assert_int_equal(gr_route_learn_parse(bad[i], model, sizeof model, mix, &predicted), GR_ERR_INVALID);
        NEAR(mix[0], 0.0);
    }
}

static double logit(double p) { return log(p / (1 - p)); }
static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

static void test_adjust_hook(void **state) {
    (void)state;
    gr_route_learn_conf on;
    gr_route_learn_conf_default(&on);
    on.enabled = true;
    on.prior_strength = 10;
    gr_route_learned shown;
    /* nothing published: unchanged */
    gr_route_learn_clear();
    NEAR(gr_route_learn_adjust(&on, "strong", CODE_MIX, 0.8, &shown), 0.8);
    assert_int_equal(shown.ratings, 0);
    /* 10 bad code-only ratings of answers the router had given 0.8 */
    const double code[GR_LEARN_SKILLS] = {0, 0, 0, 1, 0, 0};
    gr_learned_rec rec = {.model = "strong"};
    for (int i = 0; i < 10; i++) gr_store_learned_apply(&rec, code, 0.0, 0.8, +1);
    gr_route_learn_publish(&rec, 1);
    /* posterior theta = (10 * 0.8 + 0) / (10 + 10) = 0.4; P moves by logit(0.4) - logit(0.8) */
    double shift = logit(0.4) - logit(0.8);
    NEAR(gr_route_learn_adjust(&on, "strong", code, 0.8, &shown), 0.4);
    assert_int_equal(shown.ratings, 10);
    NEAR(shown.prior, 0.8);
    NEAR(shown.observed, 0.0);
    NEAR(shown.expected, 0.8);
    /* a harder prompt of the same skill moves by the same logit shift */
    NEAR(gr_route_learn_adjust(&on, "strong", code, 0.6, &shown), sigmoid(logit(0.6) + shift));
    /* a mixed prompt: only its code share moves it */
    NEAR(gr_route_learn_adjust(&on, "strong", CODE_MIX, 0.8, &shown), sigmoid(logit(0.8) + 0.7 * shift));
    /* a prompt with no code at all: unchanged */
    const double math[GR_LEARN_SKILLS] = {0, 0, 1, 0, 0, 0};
    NEAR(gr_route_learn_adjust(&on, "strong", math, 0.8, &shown), 0.8);
    /* ratings that agree with the prediction change nothing */
    gr_learned_rec fair = {.model = "fair"};
    for (int i = 0; i < 10; i++) gr_store_learned_apply(&fair, code, i < 8 ? 1.0 : 0.0, 0.8, +1);
    gr_learned_rec both[2] = {rec, fair};
    gr_route_learn_publish(both, 2);
    NEAR(gr_route_learn_adjust(&on, "fair", code, 0.8, &shown), 0.8);
    /* another model, or learning off: unchanged */
    NEAR(gr_route_learn_adjust(&on, "cheap", code, 0.7, &shown), 0.7);
    gr_route_learn_conf off = on;
    off.enabled = false;
    NEAR(gr_route_learn_adjust(&off, "strong", code, 0.8, &shown), 0.8);
    assert_int_equal(shown.ratings, 0);
    /* the prior's strength: a strong prior barely moves */
    on.prior_strength = 10000;
    double q = gr_route_learn_adjust(&on, "strong", code, 0.8, &shown);
    assert_true(q < 0.8 && q > 0.79);
    gr_route_learn_clear();
}

/* A fresh, migrated store: SQLite in a temp dir, or a fresh PostgreSQL
 * database under GR_TEST_STORE_URL (CTest test_route_learn_pg). */
static char g_dir[64];

static gr_store *fresh_store(void) {
    char *dir = g_dir;
    if (!dir[0]) {
        snprintf(dir, sizeof g_dir, "/tmp/gr_test_route_learn_XXXXXX");
        assert_non_null(mkdtemp(dir));
    }
    static int n;
    char name[32], url[512], err[256];
    snprintf(name, sizeof name, "learn%d.db", n++);
    gr_test_store_url(url, sizeof url, dir, name);
    gr_store *s = NULL;
    if (gr_store_open_migrated(url, &s, err, sizeof err) != GR_OK) fail_msg("%s", err);
    return s;
}

static const gr_learned_rec *find(const gr_learned_rec *l, size_t n, const char *model) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(l[i].model, model)) return &l[i];
    return NULL;
}

static void test_store_replaced_rating_counts_once(void **state) {
    (void)state;
    gr_store *s = fresh_store();
    gr_feedback_rec fb = {.request_id = "req_1", .key_id = "key_a", .model = "strong", .score = 0.0, .predicted = 0.7,
                          .at_ms = 1};
    memcpy(fb.mix, CODE_MIX, sizeof fb.mix);
    bool replaced = true;
    assert_int_equal(gr_store_feedback_put(s, &fb, &replaced), GR_OK);
    assert_false(replaced);
    fb.score = 1.0;
    fb.comment = "changed my mind";
    fb.at_ms = 2;
    assert_int_equal(gr_store_feedback_put(s, &fb, &replaced), GR_OK);
    assert_true(replaced);
    gr_learned_rec *l = NULL;
    size_t n = 0;
    assert_int_equal(gr_store_learned_list(s, &l, &n), GR_OK);
    const gr_learned_rec *st = find(l, n, "strong");
    assert_non_null(st);
    assert_int_equal(st->ratings, 1);
    for (int k = 0; k < GR_LEARN_SKILLS; k++) {
        NEAR(st->s[k], CODE_MIX[k]);
        NEAR(st->f[k], 0.0);
        NEAR(st->e[k], CODE_MIX[k] * 0.7);
    }
    free(l);
    /* a rating of a non-auto generation is stored but learns nothing */
    gr_feedback_rec plain = {.request_id = "req_2", .key_id = "key_a", .score = 0.0, .at_ms = 3};
    assert_int_equal(gr_store_feedback_put(s, &plain, &replaced), GR_OK);
    assert_false(replaced);
    assert_int_equal(gr_store_learned_list(s, &l, &n), GR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(l[0].ratings, 1);
    free(l);
    /* calibration adds on top */
    gr_learned_rec delta = {.model = "cheap", .s = {1, 0, 0, 2, 0, 0}, .f = {0, 0, 0, 1, 0, 0}, .ratings = 4};
    assert_int_equal(gr_store_learned_add(s, &delta), GR_OK);
    assert_int_equal(gr_store_learned_add(s, &delta), GR_OK);
    assert_int_equal(gr_store_learned_list(s, &l, &n), GR_OK);
    const gr_learned_rec *ch = find(l, n, "cheap");
    assert_non_null(ch);
    assert_int_equal(ch->ratings, 8);
    NEAR(ch->s[3], 4.0);
    NEAR(ch->f[3], 2.0);
    free(l);
    gr_store_close(s);
}

static void test_ledger_row_keeps_the_decision(void **state) {
    (void)state;
    gr_store *s = fresh_store();
    gr_ledger_row row = {0};
    GR_LEDGER_SET(row.request_id, "req_9");
    GR_LEDGER_SET(row.model_asked, "auto");
    row.ts_ms = 1000;
    row.status = 200;
    gr_route_learn_format("strong", CODE_MIX, 0.7, 0.5, row.route_learn, sizeof row.route_learn);
    assert_int_equal(gr_store_ledger_insert(s, &row, 1), GR_OK);
    gr_ledger_row back;
    assert_int_equal(gr_store_generation_get(s, "req_9", &back), GR_OK);
    assert_string_equal(back.route_learn, row.route_learn);
    gr_store_close(s);
}

static void test_conf_validation(void **state) {
    (void)state;
    char ebuf[256];
    gr_conf_err e = {ebuf, sizeof ebuf, false};
    gr_route_learn_conf c;
    gr_route_learn_conf_parse(NULL, &c, &e);
    assert_false(e.failed);
    assert_false(c.enabled);
    NEAR(c.prior_strength, GR_LEARN_DEFAULT_PRIOR_STRENGTH);
    assert_int_equal(c.refresh_ms, GR_LEARN_DEFAULT_REFRESH_MS);

    cJSON *ok = cJSON_Parse("{\"enabled\":true,\"prior_strength\":50,\"refresh_ms\":\"2s\"}");
    gr_route_learn_conf_parse(ok, &c, &e);
    assert_false(e.failed);
    assert_true(c.enabled);
    NEAR(c.prior_strength, 50);
    assert_int_equal(c.refresh_ms, 2000);
    cJSON_Delete(ok);

    const char *bad[] = {"{\"prior_strength\":0}", "{\"prior_strength\":-3}", "{\"refresh_ms\":10}",
                         "{\"enabeld\":true}", "{\"max_comment_bytes\":\"1MiB\"}", "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        gr_conf_err e2 = {ebuf, sizeof ebuf, false};
        ebuf[0] = '\0';
        gr_route_learn_conf_parse(j, &c, &e2);
        assert_true(e2.failed);
        assert_non_null(strstr(ebuf, "routing.auto.learning"));
        cJSON_Delete(j);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posterior_is_prior_without_ratings),
        cmocka_unit_test(test_posterior_shrinks_toward_observations),
        cmocka_unit_test(test_rating_contribution_by_skill_mix),
        cmocka_unit_test(test_ledger_column_round_trip),
        cmocka_unit_test(test_adjust_hook),
        cmocka_unit_test(test_store_replaced_rating_counts_once),
        cmocka_unit_test(test_ledger_row_keeps_the_decision),
        cmocka_unit_test(test_conf_validation),
    };
    int failed = cmocka_run_group_tests_name(gr_test_store_backend(), tests, NULL, NULL);
    gr_test_store_cleanup();
    if (g_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return failed;
}
