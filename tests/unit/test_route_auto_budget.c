/* test_route_auto_budget.c — the cost-target mode of model "auto"
 * (route_auto_budget.c): the controller converges on its target over a
 * synthetic stream of decisions, stays inside its bounds when a target cannot
 * be met, `auto:$X` parses strictly, a plan with a target feeds this worker's
 * controller (a dry run does not), and routing.auto.cost_per_1k_usd /
 * cost_controller are validated at load. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>

#include "config.h"
#include "config_load.h"
#include "route_auto.h"
#include "route_auto_budget.h"
#include "route_conf.h"
#include "route_config_check.h"
#include "route_fixture.h"

/* A synthetic stream: three models per request (cheap, mid, strong) whose
 * predicted quality and cost vary per prompt (fixed-seed LCG); the decision is
 * the router's own (gr_route_auto_choose) at the controller's value. Returns
 * the mean cost per 1,000 requests over the last `tail` of n requests. */
static uint64_t lcg = 12345;
static double rnd(void)
{
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static double run_stream(double per_1k, size_t n, size_t tail, double *value_out)
{
    gr_auto_budget b = {0};
    gr_auto_budget_conf c;
    gr_auto_budget_conf_default(&c);
    double spent = 0.0;
    for (size_t i = 0; i < n; i++) {
        gr_auto_budget_slot *s = gr_auto_budget_slot_for(&b, per_1k);
        double len = 0.3 + 1.7 * rnd(); /* prompt length factor */
        double d = rnd();               /* difficulty */
        double q[3] = {0.9 - 0.6 * d, 0.93 - 0.4 * d, 0.97 - 0.15 * d};
        double cost[3] = {0.0001 * len, 0.0008 * len, 0.008 * len}; /* $0.1, $0.8, $8 per 1k at len 1 */
        int k = gr_route_auto_choose(q, cost, 3, gr_auto_budget_value(s));
        assert_true(k >= 0);
        gr_auto_budget_observe(s, &c, cost[k]);
        if (i >= n - tail)
            spent += cost[k];
        *value_out = gr_auto_budget_value(s);
    }
    return spent / (double)tail * 1000.0;
}

static void test_controller_converges(void **state)
{
    (void)state;
    static const double targets[] = {0.3, 1.0, 2.5, 5.0};
    for (size_t i = 0; i < GR_ARRAY_LEN(targets); i++) {
        double v;
        double got = run_stream(targets[i], 20000, 10000, &v);
        printf("target $%.2f/1k: spent $%.3f/1k, value $%.5f per good answer\n", targets[i], got, v);
        assert_true(fabs(got - targets[i]) <= 0.1 * targets[i]);
        assert_true(v > GR_AUTO_BUDGET_MIN_VALUE_USD && v < GR_AUTO_BUDGET_MAX_VALUE_USD);
    }
}

static void test_unreachable_targets_stay_bounded(void **state)
{
    (void)state;
    double v;
    /* below the cheapest model's cost: always the cheapest, the value at its floor */
    double got = run_stream(0.01, 5000, 1000, &v);
    assert_true(got < 0.2);
    assert_true(fabs(v - GR_AUTO_BUDGET_MIN_VALUE_USD) < 1e-9);
    /* above always-the-strongest: the value at its ceiling, every request to the strongest */
    got = run_stream(50.0, 5000, 1000, &v);
    assert_true(got > 8.0 && got < 10.5); /* $8 x mean length 1.15 */
    assert_true(fabs(v - GR_AUTO_BUDGET_MAX_VALUE_USD) < 1e-6);
}

static void test_slots_per_target(void **state)
{
    (void)state;
    gr_auto_budget b = {0};
    gr_auto_budget_conf c;
    gr_auto_budget_conf_default(&c);
    gr_auto_budget_slot *a = gr_auto_budget_slot_for(&b, 0.5);
    assert_true(fabs(gr_auto_budget_value(a) - GR_AUTO_BUDGET_START_VALUE_USD) < 1e-9);
    gr_auto_budget_observe(a, &c, 0.01); /* 20x over target: the value falls */
    assert_true(gr_auto_budget_value(a) < GR_AUTO_BUDGET_START_VALUE_USD);
    gr_auto_budget_slot *other = gr_auto_budget_slot_for(&b, 2.0);
    assert_ptr_not_equal(other, a);
    assert_ptr_equal(gr_auto_budget_slot_for(&b, 0.5), a);
    /* more targets than slots: the least recently used one is taken over */
    for (int i = 0; i < GR_AUTO_BUDGET_SLOTS; i++)
        (void)gr_auto_budget_slot_for(&b, 10.0 + i);
    gr_auto_budget_slot *again = gr_auto_budget_slot_for(&b, 0.5);
    assert_true(again->requests == 0 && fabs(gr_auto_budget_value(again) - GR_AUTO_BUDGET_START_VALUE_USD) < 1e-9);
    /* the bill replaces the expected cost in the average */
    gr_auto_budget_observe(again, &c, 0.0005);
    double avg = again->ewma_usd;
    gr_auto_budget_bill(&b, &c, 0.5, 0.0005, 0.0005 + 64 * 0.001);
    assert_true(fabs(again->ewma_usd - (avg + 0.001)) < 1e-12);
    gr_auto_budget_bill(&b, &c, 0.5, 0.0005, NAN);
    gr_auto_budget_bill(&b, &c, 77.0, 0.0005, 1.0); /* no such target: nothing */
    assert_true(fabs(again->ewma_usd - (avg + 0.001)) < 1e-12);
    /* a bad observation changes nothing */
    double before = again->log_value;
    gr_auto_budget_observe(again, &c, NAN);
    gr_auto_budget_observe(again, &c, -1.0);
    assert_true(again->log_value == before && again->requests == 1);
}

static void test_policy_syntax(void **state)
{
    (void)state;
    double v = 0;
    assert_int_equal(gr_auto_budget_parse_policy(gr_str_c("auto:$0.50"), &v), 1);
    assert_true(v == 0.5);
    assert_int_equal(gr_auto_budget_parse_policy(gr_str_c("auto:$2"), &v), 1);
    assert_true(v == 2.0);
    assert_int_equal(gr_auto_budget_parse_policy(gr_str_c("auto:$.25"), &v), 1);
    assert_true(v == 0.25);
    assert_int_equal(gr_auto_budget_parse_policy(gr_str_c("auto:balanced"), &v), 0);
    assert_int_equal(gr_auto_budget_parse_policy(gr_str_c("auto"), &v), 0);
    static const char *const bad[] = {"auto:$", "auto:$0", "auto:$-1", "auto:$1e3", "auto:$abc", "auto:$inf",
                                      "auto:$nan", "auto:$ 1", "auto:$1.2.3", "auto:$100001",
                                      "auto:$0.0000000000000000000000000001"};
    for (size_t i = 0; i < GR_ARRAY_LEN(bad); i++)
        assert_int_equal(gr_auto_budget_parse_policy(gr_str_c(bad[i]), &v), -1);
}

static void three_models(fixture *f)
{
    fx_init(f);
    gr_model_conf *s = fx_model(f, "small", 55, 150000, 128000, GR_CAP_CHAT, NULL);
    gr_model_conf *m = fx_model(f, "medium", 75, 1000000, 128000, GR_CAP_CHAT, NULL);
    gr_model_conf *l = fx_model(f, "large", 95, 10000000, 200000, GR_CAP_CHAT, NULL);
    fx_dep(f, s, 0, "small-up", 1);
    fx_dep(f, m, 1, "medium-up", 1);
    fx_dep(f, l, 2, "large-up", 1);
}

static gr_route_result plan_model(const gr_config *cfg, const char *model, bool dry_run, gr_route_state *st,
                                  struct gr_route_plan *p)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Prove that x^3+y^3=z^3 has no "
             "positive integer solutions.\"}]}",
             model);
    cJSON *body = cJSON_Parse(json);
    gr_route_request req;
    char err[128];
    assert_int_equal(gr_route_request_from_json(body, &req, err, sizeof err), GR_OK);
    req.dry_run = dry_run;
    (void)gr_route_plan(cfg, &req, st, p);
    cJSON_Delete(body);
    return p->result;
}

static void test_plan_feeds_the_workers_controller(void **state)
{
    (void)state;
    fixture f;
    three_models(&f);
    gr_route_state st;
    gr_route_state_init(&st, 1);
    struct gr_route_plan p;
    assert_int_equal(plan_model(&f.cfg, "auto:$0.05", false, &st, &p), GR_ROUTE_OK);
    assert_string_equal(p.policy, "auto:$0.05/1k");
    assert_true(fabs(p.value_usd - GR_AUTO_BUDGET_START_VALUE_USD) < 1e-9);
    gr_auto_budget_slot *s = gr_auto_budget_slot_for(&st.budget, 0.05);
    assert_true(s->requests == 1);
    assert_true(p.budget_per_1k == 0.05 && p.budget_expected_usd > 0);
    /* billed 100x what was expected: the controller's average counts the bill */
    double avg = s->ewma_usd;
    gr_route_budget_bill(&st, &f.cfg, &p, p.budget_expected_usd * 100);
    assert_true(fabs(s->ewma_usd - (avg + p.budget_expected_usd * 99 / 64)) < 1e-12);
    /* a dry run (POST /v1/route) shows the value but does not feed the controller */
    assert_int_equal(plan_model(&f.cfg, "auto:$0.05", true, &st, &p), GR_ROUTE_OK);
    assert_true(s->requests == 1 && p.budget_per_1k == 0);
    /* $0.001 per 1k is below every model's cost for this prompt: repeated
     * decisions drive the value down until the cheapest model is chosen */
    for (int i = 0; i < 400; i++)
        assert_int_equal(plan_model(&f.cfg, "auto:$0.001", false, &st, &p), GR_ROUTE_OK);
    assert_string_equal(p.cand[0].model->name, "small");
    assert_true(p.value_usd < GR_AUTO_BUDGET_START_VALUE_USD / 10);
    /* a generous target drives it up to the strongest */
    for (int i = 0; i < 400; i++)
        assert_int_equal(plan_model(&f.cfg, "auto:$500", false, &st, &p), GR_ROUTE_OK);
    assert_string_equal(p.cand[0].model->name, "large");
    /* malformed targets are the client's error, named */
    assert_int_equal(plan_model(&f.cfg, "auto:$-1", false, &st, &p), GR_ROUTE_INVALID);
    assert_non_null(strstr(p.error, "auto:$<USD per 1,000 requests>"));
    assert_int_equal(plan_model(&f.cfg, "auto:$zero", false, &st, &p), GR_ROUTE_INVALID);
    /* the request's own value still wins over a target */
    cJSON *body = cJSON_Parse("{\"model\":\"auto:$0.05\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    gr_route_request req;
    char err[128];
    assert_int_equal(gr_route_request_from_json(body, &req, err, sizeof err), GR_OK);
    req.value_usd = 0.5;
    (void)gr_route_plan(&f.cfg, &req, &st, &p);
    assert_true(p.value_usd == 0.5);
    /* a key's target applies to plain auto */
    cJSON_ReplaceItemInObject(body, "model", cJSON_CreateString("auto"));
    assert_int_equal(gr_route_request_from_json(body, &req, err, sizeof err), GR_OK);
    req.default_cost_per_1k_usd = 3.0;
    (void)gr_route_plan(&f.cfg, &req, &st, &p);
    assert_string_equal(p.policy, "auto:$3/1k");
    cJSON_Delete(body);
}


#define BASE                                                                                       \
    "providers: [{name: mock, kind: mock}]\n"                                                      \
    "models:\n"                                                                                    \
    "  - {name: fast, provider: mock, model: gpt-4o-mini, pricing: {input: 0.15, output: 0.6}}\n"

static void test_config_validated_at_load(void **state)
{
    (void)state;
    char err[512];
    const char *ok = BASE "routing: {auto: {cost_per_1k_usd: 0.5, cost_controller: {gain: 0.1, window: 32}}}\n";
    gr_config *cfg = gr_config_load_string(ok, strlen(ok), "test", err, sizeof err);
    assert_non_null(cfg);
    const gr_route_conf *rc = gr_route_conf_of(cfg);
    assert_true(rc->auto_cost_per_1k_usd == 0.5 && rc->cost_controller.gain == 0.1 && rc->cost_controller.window == 32);
    gr_config_release(cfg);
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_per_1k_usd: 0}}\n", err, sizeof err), GR_ERR_INVALID);
    assert_non_null(strstr(err, "routing.auto.cost_per_1k_usd"));
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_per_1k_usd: cheap}}\n", err, sizeof err), GR_ERR_INVALID);
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_per_1k_usd: 1, quality: 0.5}}\n", err, sizeof err),
                     GR_ERR_INVALID);
    assert_non_null(strstr(err, "one of quality, value_usd and cost_per_1k_usd"));
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_controller: {gain: 5}}}\n", err, sizeof err), GR_ERR_INVALID);
    assert_non_null(strstr(err, "routing.auto.cost_controller.gain"));
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_controller: {window: 1}}}\n", err, sizeof err), GR_ERR_INVALID);
    assert_int_equal(route_config_check(BASE "routing: {auto: {cost_controller: {windw: 8}}}\n", err, sizeof err), GR_ERR_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_controller_converges),
        cmocka_unit_test(test_unreachable_targets_stay_bounded),
        cmocka_unit_test(test_slots_per_target),
        cmocka_unit_test(test_policy_syntax),
        cmocka_unit_test(test_plan_feeds_the_workers_controller),
        cmocka_unit_test(test_config_validated_at_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
