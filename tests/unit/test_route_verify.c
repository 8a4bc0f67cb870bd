/* test_route_verify.c — the plan side of `auto:verify` (src/route_verify.c):
 * which cheap models are asked first (the cheapest capable ones below the
 * escalation's expected cost, restricted by cheap_models, max_cheap of
 * them), when there is no cascade, the code checker, the worst case
 * admission reserves, and the explanation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "config_load.h"
#include "route.h"
#include "route_verify.h"

#define MODELS                                                                                  \
    "providers: [{name: mock, kind: mock}]\n"                                                   \
    "models:\n"                                                                                 \
    "  - {name: tiny, provider: mock, model: tiny-1, quality: 40, pricing: {input: 0.1, output: 0.2}}\n" \
    "  - {name: small, provider: mock, model: small-1, quality: 50, pricing: {input: 0.2, output: 0.4}}\n" \
    "  - {name: mid, provider: mock, model: mid-1, quality: 60, pricing: {input: 0.5, output: 1}}\n" \
    "  - {name: big, provider: mock, model: big-1, quality: 95, pricing: {input: 10, output: 30}}\n"

static gr_config *load(const char *routing) {
    char yaml[4096], err[512] = "";
    snprintf(yaml, sizeof yaml, "%s%s", MODELS, routing);
    gr_config *cfg = gr_config_load_string(yaml, strlen(yaml), "test", err, sizeof err);
    if (!cfg) fprintf(stderr, "config: %s\n", err);
    return cfg;
}

static void plan(const gr_config *cfg, const char *model, struct gr_route_plan *p) {
    char json[256];
    snprintf(json, sizeof json, "{\"model\":\"%s\",\"max_tokens\":1000,\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"}]}", model);
    cJSON *doc = cJSON_Parse(json);
    gr_route_request req;
    char err[256];
    assert_int_equal(gr_route_request_from_json(doc, &req, err, sizeof err), GR_OK);
    req.now_us = 1000000;
    gr_route_state st;
    gr_route_state_init(&st, 42);
    (void)gr_route_plan(cfg, &req, &st, p);
    cJSON_Delete(doc);
}

static const char *cheap_name(const struct gr_route_plan *p, int i) { return p->cand[p->verify.cheap[i]].model->name; }

/* rv-plan.1: defaults: the two cheapest, escalation = auto:best's choice, the cheap model checks itself */
static void test_default_plan(void **state) {
    (void)state;
    gr_config *cfg = load("");
    assert_non_null(cfg);
    struct gr_route_plan p;
    plan(cfg, "auto:verify", &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_string_equal(p.policy, "auto:verify");
    assert_true(p.verify.asked && p.verify.on);
    assert_string_equal(p.cand[0].model->name, "big");
    assert_int_equal(p.verify.ncheap, 2);
    assert_string_equal(cheap_name(&p, 0), "tiny");
    assert_string_equal(cheap_name(&p, 1), "small");
    assert_int_equal(p.verify.checker, p.verify.cheap[0]);
    assert_false(p.verify.checker_is_verifier);
    assert_int_equal(p.verify.timeout_ms, 30000);
    assert_int_equal(p.verify.check_max_tokens, 16);
    assert_non_null(strstr(p.reason, "policy=auto:verify verify=plan:tiny+small>big "));
    /* auto:best plans no cascade */
    plan(cfg, "auto:best", &p);
    assert_false(p.verify.asked || p.verify.on);
    assert_null(strstr(p.reason, "verify="));
    gr_config_release(cfg);
}

/* rv-plan.2: cheap_models restricts, max_cheap 1, the verifier checks code */
static void test_configured_plan(void **state) {
    (void)state;
    gr_config *cfg = load("routing: {auto: {verify: {cheap_models: [mid, small], max_cheap: 1, verifier: mid, agree: exact}}}\n");
    assert_non_null(cfg);
    struct gr_route_plan p;
    plan(cfg, "auto:verify", &p);
    assert_true(p.verify.on);
    assert_int_equal(p.verify.ncheap, 1);
    assert_string_equal(cheap_name(&p, 0), "small"); /* the cheaper of the listed two */
    assert_string_equal(p.cand[p.verify.checker].model->name, "mid");
    assert_true(p.verify.checker_is_verifier);
    assert_int_equal(p.verify.agree, GR_AGREE_EXACT);
    gr_config_release(cfg);
}

/* rv-plan.3: no cheaper capable model -> no cascade, and the reason says why */
static void test_off(void **state) {
    (void)state;
    gr_config *cfg = load("routing: {auto: {models: [big]}}\n");
    assert_non_null(cfg);
    struct gr_route_plan p;
    plan(cfg, "auto:verify", &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_true(p.verify.asked);
    assert_false(p.verify.on);
    assert_non_null(strstr(p.reason, "verify=off:one-model"));
    gr_config_release(cfg);
    /* the listed cheap models are not cheaper than the escalation */
    cfg = load("routing: {auto: {verify: {cheap_models: [big]}}}\n");
    assert_non_null(cfg);
    plan(cfg, "auto:verify", &p);
    assert_false(p.verify.on);
    assert_non_null(strstr(p.reason, "verify=off:no-cheaper-candidate"));
    gr_config_release(cfg);
}

/* one call's worst case in this test: 1000 per call, 1 per extra prompt token, out_cap as given */
static int64_t fake_call_max(const gr_route_candidate *c, int64_t extra_in, int64_t out_cap, void *arg) {
    int *calls = arg;
    (*calls)++;
    int64_t base = !strcmp(c->model->name, "big") ? 100000 : 1000;
    return base + extra_in + out_cap;
}

/* rv-cost.1: the worst case is the costliest candidate + every cheap call + the check call */
static void test_worst_case(void **state) {
    (void)state;
    gr_config *cfg = load("");
    assert_non_null(cfg);
    struct gr_route_plan p;
    plan(cfg, "auto:verify", &p);
    int calls = 0;
    int64_t w = gr_route_plan_max_cost(&p, 500, fake_call_max, &calls);
    /* big 100000 + tiny 1000 + small 1000 + check on tiny (1000 + 500 + 120 in, 16 out) */
    assert_int_equal(w, 100000 + 1000 + 1000 + 1000 + 500 + GR_VERIFY_CHECK_PROMPT_TOKENS + 16);
    assert_int_equal(calls, (int)p.ncand + 3);
    plan(cfg, "auto:best", &p);
    calls = 0;
    assert_int_equal(gr_route_plan_max_cost(&p, 500, fake_call_max, &calls), 100000);
    assert_int_equal(gr_route_plan_max_cost(NULL, 500, fake_call_max, &calls), 0);
    /* tokens: one call for auto:best; for the cascade the cheap calls and the check too */
    assert_int_equal(gr_route_plan_max_tokens(&p, 30, 1000), 1030);
    plan(cfg, "auto:verify", &p);
    assert_int_equal(gr_route_plan_max_tokens(&p, 30, 1000), 4 * 1030 + GR_VERIFY_CHECK_PROMPT_TOKENS + 16);
    gr_config_release(cfg);
}

/* rv-explain.1: /v1/route's verify object carries the plan in numbers */
static void test_explain(void **state) {
    (void)state;
    gr_config *cfg = load("");
    assert_non_null(cfg);
    struct gr_route_plan p;
    plan(cfg, "auto:verify", &p);
    cJSON *o = gr_route_plan_to_json(&p);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "verify");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "cascade")));
    const cJSON *cheap = cJSON_GetObjectItemCaseSensitive(v, "cheap");
    assert_int_equal(cJSON_GetArraySize(cheap), 2);
    double c0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cheap, 0), "expected_cost_usd")->valuedouble;
    double c1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cheap, 1), "expected_cost_usd")->valuedouble;
    double acc = cJSON_GetObjectItemCaseSensitive(v, "expected_cost_if_accepted_usd")->valuedouble;
    double esc = cJSON_GetObjectItemCaseSensitive(v, "expected_cost_if_escalated_usd")->valuedouble;
    double direct = cJSON_GetObjectItemCaseSensitive(v, "expected_cost_direct_usd")->valuedouble;
    assert_true(c0 > 0 && c1 > c0);
    assert_true(acc == c0 + c1);
    assert_true(esc == acc + direct);
    assert_true(acc < direct);
    double pa = cJSON_GetObjectItemCaseSensitive(v, "p_accept_estimate")->valuedouble;
    double q0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cheap, 0), "predicted_quality")->valuedouble;
    double q1 = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cheap, 1), "predicted_quality")->valuedouble;
    assert_true(pa == q0 * q1 && pa > 0 && pa < 1);
    assert_true(cJSON_GetObjectItemCaseSensitive(v, "expected_cost_usd")->valuedouble == acc + (1 - pa) * direct);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(v, "code_check"), "role")->valuestring,
                        "self-check");
    cJSON_Delete(o);
    gr_config_release(cfg);
}

/* rv-conf.1: routing.auto.verify is validated at load */
static void test_config(void **state) {
    (void)state;
    static const char *const bad[][2] = {
        {"routing: {auto: {verify: {max_cheap: 0}}}\n", "routing.auto.verify.max_cheap"},
        {"routing: {auto: {verify: {max_cheap: 3}}}\n", "routing.auto.verify.max_cheap"},
        {"routing: {auto: {verify: {verifier: ghost}}}\n", "routing.auto.verify.verifier: unknown model 'ghost'"},
        {"routing: {auto: {verify: {cheap_models: []}}}\n", "routing.auto.verify.cheap_models: expected a non-empty list"},
        {"routing: {auto: {verify: {cheap_models: [tiny, 7]}}}\n", "routing.auto.verify.cheap_models[1]"},
        {"routing: {auto: {verify: {agree: fuzzy}}}\n", "routing.auto.verify.agree"},
        {"routing: {auto: {verify: {timeout_ms: 50}}}\n", "routing.auto.verify.timeout_ms"},
        {"routing: {auto: {verify: {check_max_tokens: 1000}}}\n", "routing.auto.verify.check_max_tokens"},
        {"routing: {auto: {verify: {cheap: [tiny]}}}\n", "routing.auto.verify.cheap: unknown key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char yaml[4096], err[512] = "";
        snprintf(yaml, sizeof yaml, "%s%s", MODELS, bad[i][0]);
        gr_config *cfg = gr_config_load_string(yaml, strlen(yaml), "test", err, sizeof err);
        if (cfg || !strstr(err, bad[i][1])) {
            fprintf(stderr, "case %zu: loaded=%d err='%s', want '%s'\n", i, cfg != NULL, err, bad[i][1]);
            gr_config_release(cfg);
            fail();
        }
    }
    gr_config *cfg = load("routing: {auto: {verify: {cheap_models: [tiny], verifier: mid, timeout_ms: 2s, agree: exact, check_max_tokens: 4}}}\n");
    assert_non_null(cfg);
    const gr_verify_conf *vc = gr_verify_conf_of(cfg);
    assert_int_equal(vc->ncheap_models, 1);
    assert_string_equal(vc->cheap_models[0], "tiny");
    assert_string_equal(vc->verifier, "mid");
    assert_int_equal(vc->timeout_ms, 2000);
    assert_int_equal(vc->agree, GR_AGREE_EXACT);
    assert_int_equal(vc->check_max_tokens, 4);
    assert_int_equal(vc->max_cheap, 2);
    gr_config_release(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_plan), cmocka_unit_test(test_configured_plan), cmocka_unit_test(test_off),
        cmocka_unit_test(test_worst_case),   cmocka_unit_test(test_explain),         cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
