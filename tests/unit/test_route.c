/* test_route.c — deployment strategies, OpenRouter parameters, fallbacks and
 * capability constraints of gr_route_plan. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "route_fixture.h"

#define CAPS_ALL (GR_CAP_CHAT | GR_CAP_TOOLS | GR_CAP_VISION | GR_CAP_JSON | GR_CAP_STREAM)

static int setup(void **state)
{
    (void)state;
    gr_health_reset_all();
    return 0;
}

static int first_provider_index(const struct gr_route_plan *p)
{
    return p->ncand ? (int)(p->cand[0].dep->provider->name[1] - '1') : -1;
}

static void plan_simple(const gr_config *cfg, const char *json, gr_route_state *st,
                        struct gr_route_plan *plan)
{
    cJSON *doc = NULL;
    (void)fx_plan_json(cfg, json, st, plan, &doc, -1.0);
    cJSON_Delete(doc);
}

/* ---- strategies ---- */

static void test_weighted_distribution(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "gpt", 80, 1000000, 128000, CAPS_ALL, "weighted");
    fx_dep(&f, m, 0, "w1", 1);
    fx_dep(&f, m, 1, "w2", 2);
    fx_dep(&f, m, 2, "w7", 7);
    gr_route_state st;
    gr_route_state_init(&st, 42);
    int count[3] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"gpt\",\"messages\":[]}", &st, &p);
        assert_int_equal(p.result, GR_ROUTE_OK);
        assert_int_equal(p.ncand, 3); /* the others stay as balance candidates */
        count[first_provider_index(&p)]++;
    }
    assert_true(abs(count[0] - N / 10) < N / 50);
    assert_true(abs(count[1] - 2 * N / 10) < N / 50);
    assert_true(abs(count[2] - 7 * N / 10) < N / 50);
}

static void test_weighted_zero_weight_never_first(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "gpt", 80, 1000000, 0, CAPS_ALL, NULL);
    fx_dep(&f, m, 0, "z0", 0);
    fx_dep(&f, m, 1, "z1", 5);
    gr_route_state st;
    gr_route_state_init(&st, 7);
    for (int i = 0; i < 2000; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"gpt\"}", &st, &p);
        assert_int_equal(first_provider_index(&p), 1);
    }
}

static void test_round_robin(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "rr", 80, 1000000, 0, CAPS_ALL, "round-robin");
    fx_dep(&f, m, 0, "a", 1);
    fx_dep(&f, m, 1, "b", 1);
    fx_dep(&f, m, 2, "c", 1);
    gr_route_state st;
    gr_route_state_init(&st, 1);
    int count[3] = {0}, prev = -1;
    for (int i = 0; i < 300; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"rr\"}", &st, &p);
        int k = first_provider_index(&p);
        assert_int_not_equal(k, prev);
        prev = k;
        count[k]++;
    }
    assert_int_equal(count[0], 100);
    assert_int_equal(count[1], 100);
    assert_int_equal(count[2], 100);
}

static void ok_result(gr_health *h, uint64_t ttft, uint64_t total, uint64_t tokens)
{
    gr_outcome o = {GR_OUTCOME_OK, 200, GR_ERRCLASS_NONE, false};
    gr_health_on_start(h, 1);
    gr_health_on_result(h, &o, ttft, total, tokens, 0, 1);
}

static void test_least_latency(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "ll", 80, 1000000, 0, CAPS_ALL, "least-latency");
    fx_dep(&f, m, 0, "ll-a", 1);
    fx_dep(&f, m, 1, "ll-b", 1);
    fx_dep(&f, m, 2, "ll-c", 1);
    for (int i = 0; i < 5; i++) {
        ok_result(gr_health_get("p1/ll-a"), 500000, 900000, 100);
        ok_result(gr_health_get("p2/ll-b"), 100000, 300000, 100);
        ok_result(gr_health_get("p3/ll-c"), 300000, 600000, 100);
    }
    gr_route_state st;
    gr_route_state_init(&st, 3);
    for (int i = 0; i < 50; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"ll\"}", &st, &p);
        assert_int_equal(p.ncand, 3);
        assert_string_equal(p.cand[0].dep->upstream_model, "ll-b");
        assert_string_equal(p.cand[1].dep->upstream_model, "ll-c");
        assert_string_equal(p.cand[2].dep->upstream_model, "ll-a");
    }
    /* a deployment without samples is explored first */
    fx_dep(&f, m, 3, "ll-new", 1);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"ll\"}", &st, &p);
    assert_string_equal(p.cand[0].dep->upstream_model, "ll-new");
}

static void test_least_busy(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "lb", 80, 1000000, 0, CAPS_ALL, "least-busy");
    fx_dep(&f, m, 0, "lb-a", 1);
    fx_dep(&f, m, 1, "lb-b", 1);
    fx_dep(&f, m, 2, "lb-c", 1);
    for (int i = 0; i < 3; i++)
        gr_health_on_start(gr_health_get("p1/lb-a"), 1);
    gr_health_on_start(gr_health_get("p3/lb-c"), 1);
    gr_route_state st;
    gr_route_state_init(&st, 5);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"lb\"}", &st, &p);
    assert_string_equal(p.cand[0].dep->upstream_model, "lb-b");
    assert_string_equal(p.cand[1].dep->upstream_model, "lb-c");
    assert_string_equal(p.cand[2].dep->upstream_model, "lb-a");
    /* ties are broken at random: both idle deployments win sometimes */
    gr_health_on_start(gr_health_get("p2/lb-b"), 1); /* b=1, c=1, a=3 */
    int wins_b = 0, wins_c = 0;
    for (int i = 0; i < 1000; i++) {
        plan_simple(&f.cfg, "{\"model\":\"lb\"}", &st, &p);
        if (strcmp(p.cand[0].dep->upstream_model, "lb-b") == 0)
            wins_b++;
        else if (strcmp(p.cand[0].dep->upstream_model, "lb-c") == 0)
            wins_c++;
    }
    assert_int_equal(wins_b + wins_c, 1000);
    assert_true(wins_b > 400 && wins_c > 400);
}

static void test_least_cost(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *m = fx_model(&f, "lc", 80, 5000000, 0, CAPS_ALL, "least-cost");
    fx_dep(&f, m, 0, "lc-model-price", 1);
    gr_deployment *d2 = fx_dep(&f, m, 1, "lc-cheap", 1);
    d2->prices = (gr_prices){.input_uusd_per_mtok = 100000, .output_uusd_per_mtok = 200000, .set = true};
    gr_deployment *d3 = fx_dep(&f, m, 2, "lc-mid", 1);
    d3->prices = (gr_prices){.input_uusd_per_mtok = 1000000, .output_uusd_per_mtok = 2000000, .set = true};
    gr_route_state st;
    gr_route_state_init(&st, 9);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"lc\"}", &st, &p);
    assert_string_equal(p.cand[0].dep->upstream_model, "lc-cheap");
    assert_string_equal(p.cand[1].dep->upstream_model, "lc-mid");
    assert_string_equal(p.cand[2].dep->upstream_model, "lc-model-price");
    assert_true(p.cand[0].est_cost_uusd < p.cand[1].est_cost_uusd);
}

/* ---- OpenRouter parameters ---- */

static fixture *three_provider_model(fixture *f)
{
    fx_init(f);
    gr_model_conf *m = fx_model(f, "gpt-4o", 90, 5000000, 128000, CAPS_ALL, "weighted");
    f->aliases[0][0] = "gpt4o";
    m->naliases = 1;
    gr_deployment *a = fx_dep(f, m, 0, "gpt-4o", 1);
    gr_deployment *b = fx_dep(f, m, 1, "gpt-4o-b", 1);
    gr_deployment *c = fx_dep(f, m, 2, "gpt-4o-c", 1);
    a->prices = (gr_prices){.input_uusd_per_mtok = 5000000, .output_uusd_per_mtok = 15000000, .set = true};
    b->prices = (gr_prices){.input_uusd_per_mtok = 2000000, .output_uusd_per_mtok = 8000000, .set = true};
    c->prices = (gr_prices){.input_uusd_per_mtok = 3000000, .output_uusd_per_mtok = 9000000, .set = true};
    return f;
}

static void test_provider_order(void **state)
{
    (void)state;
    fixture f;
    three_provider_model(&f);
    gr_route_state st;
    gr_route_state_init(&st, 11);
    for (int i = 0; i < 20; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"order\":[\"p3\",\"P1\"]}}", &st, &p);
        assert_int_equal(p.ncand, 3);
        assert_string_equal(p.cand[0].dep->provider->name, "p3");
        assert_string_equal(p.cand[1].dep->provider->name, "p1");
        assert_string_equal(p.cand[2].dep->provider->name, "p2");
    }
    /* allow_fallbacks=false: only the listed providers */
    struct gr_route_plan p;
    plan_simple(&f.cfg,
                "{\"model\":\"gpt-4o\",\"provider\":{\"order\":[\"p3\",\"p1\"],"
                "\"allow_fallbacks\":false}}",
                &st, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_int_equal(p.ncand, 2);
    assert_string_equal(p.cand[0].dep->provider->name, "p3");
    assert_string_equal(p.cand[1].dep->provider->name, "p1");
    /* provider/upstream form */
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"order\":[\"p2/gpt-4o-b\"]}}", &st, &p);
    assert_string_equal(p.cand[0].dep->provider->name, "p2");
}

static void test_provider_only_ignore(void **state)
{
    (void)state;
    fixture f;
    three_provider_model(&f);
    gr_route_state st;
    gr_route_state_init(&st, 12);
    for (int i = 0; i < 50; i++) {
        struct gr_route_plan p;
        plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"only\":[\"p2\"]}}", &st, &p);
        assert_int_equal(p.ncand, 1);
        assert_string_equal(p.cand[0].dep->provider->name, "p2");
        assert_int_equal(p.rej_provider, 2);
        plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"ignore\":[\"p1\",\"p3\"]}}", &st, &p);
        assert_int_equal(p.ncand, 1);
        assert_string_equal(p.cand[0].dep->provider->name, "p2");
    }
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"only\":[\"nobody\"]}}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_NO_CAPABLE);
    assert_non_null(strstr(p.error, "provider preferences"));
}

static void test_provider_sort_and_suffixes(void **state)
{
    (void)state;
    fixture f;
    three_provider_model(&f);
    gr_route_state st;
    gr_route_state_init(&st, 13);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"sort\":\"price\"}}", &st, &p);
    assert_string_equal(p.cand[0].dep->provider->name, "p2");
    assert_string_equal(p.cand[1].dep->provider->name, "p3");
    assert_string_equal(p.cand[2].dep->provider->name, "p1");
    /* :floor = sort by price, through an alias too */
    plan_simple(&f.cfg, "{\"model\":\"gpt4o:floor\"}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_string_equal(p.cand[0].dep->provider->name, "p2");
    assert_non_null(strstr(p.reason, "sort=price"));
    /* :nitro = sort by throughput (EWMA time per token) */
    ok_result(gr_health_get("p1/gpt-4o"), 100000, 100000 + 100 * 5000, 100);   /* 5 ms/token */
    ok_result(gr_health_get("p2/gpt-4o-b"), 100000, 100000 + 100 * 20000, 100); /* 20 ms/token */
    ok_result(gr_health_get("p3/gpt-4o-c"), 100000, 100000 + 100 * 10000, 100); /* 10 ms/token */
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o:nitro\"}", &st, &p);
    assert_string_equal(p.cand[0].dep->provider->name, "p1");
    assert_string_equal(p.cand[1].dep->provider->name, "p3");
    assert_string_equal(p.cand[2].dep->provider->name, "p2");
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"sort\":\"latency\"}}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    /* invalid sort is a clear 400 */
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"sort\":\"vibes\"}}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_INVALID);
    assert_non_null(strstr(p.error, "provider.sort"));
}

static void test_max_price(void **state)
{
    (void)state;
    fixture f;
    three_provider_model(&f);
    gr_route_state st;
    gr_route_state_init(&st, 14);
    struct gr_route_plan p;
    /* USD per Mtok: prompt <= 3, completion <= 9 -> p2 and p3 */
    plan_simple(&f.cfg,
                "{\"model\":\"gpt-4o\",\"provider\":{\"max_price\":{\"prompt\":3,\"completion\":\"9\"}}}",
                &st, &p);
    assert_int_equal(p.ncand, 2);
    for (size_t i = 0; i < p.ncand; i++)
        assert_string_not_equal(p.cand[i].dep->provider->name, "p1");
    assert_int_equal(p.rej_price, 1);
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"max_price\":{\"prompt\":0.5}}}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_NO_CAPABLE);
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\",\"provider\":{\"max_price\":{\"prompt\":-1}}}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_INVALID);
}

static fixture *chain_fixture(fixture *f)
{
    fx_init(f);
    gr_model_conf *a = fx_model(f, "a", 90, 5000000, 128000, CAPS_ALL, NULL);
    gr_model_conf *b = fx_model(f, "b", 80, 1000000, 128000, CAPS_ALL, NULL);
    gr_model_conf *c = fx_model(f, "c", 70, 500000, 32000, GR_CAP_CHAT, NULL);
    gr_model_conf *d = fx_model(f, "d", 95, 9000000, 1000000, CAPS_ALL, NULL);
    fx_dep(f, a, 0, "a-up", 1);
    fx_dep(f, b, 1, "b-up", 1);
    fx_dep(f, c, 2, "c-up", 1);
    fx_dep(f, d, 3, "d-up", 1);
    fx_fallback(a, "c");
    return f;
}

static void test_models_list_and_fallbacks(void **state)
{
    (void)state;
    fixture f;
    chain_fixture(&f);
    gr_route_state st;
    gr_route_state_init(&st, 15);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"a\",\"models\":[\"b\",\"a\",\"d\"]}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_int_equal(p.ncand, 4); /* a, b, d (models list, deduplicated), then c (config) */
    assert_string_equal(p.cand[0].model->name, "a");
    assert_int_equal(p.cand[0].kind, GR_CAND_PRIMARY);
    assert_string_equal(p.cand[1].model->name, "b");
    assert_int_equal(p.cand[1].kind, GR_CAND_MODELS);
    assert_string_equal(p.cand[2].model->name, "d");
    assert_string_equal(p.cand[3].model->name, "c");
    assert_int_equal(p.cand[3].kind, GR_CAND_FALLBACK);
    /* no model: models[0] is primary */
    plan_simple(&f.cfg, "{\"models\":[\"b\",\"d\"]}", &st, &p);
    assert_string_equal(p.cand[0].model->name, "b");
    /* allow_fallbacks=false drops the config fallbacks, keeps the request's list */
    plan_simple(&f.cfg, "{\"model\":\"a\",\"models\":[\"b\"],\"provider\":{\"allow_fallbacks\":false}}", &st,
                &p);
    assert_int_equal(p.ncand, 2);
    /* unknown models are a clear not-found */
    plan_simple(&f.cfg, "{\"model\":\"nope\"}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_NOT_FOUND);
    assert_int_equal(gr_route_result_http_status(p.result), 404);
    assert_non_null(strstr(p.error, "'nope' not found"));
    plan_simple(&f.cfg, "{\"model\":\"a\",\"models\":[\"b\",\"ghost\"]}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_NOT_FOUND);
    assert_non_null(strstr(p.error, "models[1]"));
    plan_simple(&f.cfg, "{\"messages\":[]}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_INVALID);
}

/* ---- capability constraints ---- */

static void test_capabilities_explicit(void **state)
{
    (void)state;
    fixture f;
    chain_fixture(&f);
    gr_route_state st;
    gr_route_state_init(&st, 16);
    struct gr_route_plan p;
    /* c has no vision: an image request to c fails with a clear message */
    const char *img = "{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                      "\"text\":\"what is this\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"x\"}}]}]}";
    plan_simple(&f.cfg, img, &st, &p);
    assert_int_equal(p.result, GR_ROUTE_NO_CAPABLE);
    assert_non_null(strstr(p.error, "vision"));
    /* a -> fallback c: c is skipped for tools */
    plan_simple(&f.cfg,
                "{\"model\":\"a\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
                "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                &st, &p);
    assert_int_equal(p.ncand, 1);
    assert_string_equal(p.cand[0].model->name, "a");
    assert_int_equal(p.rej_caps, 1);
}

static char *long_prompt_request(const char *model, size_t tokens)
{
    size_t chars = tokens * 4;
    char *buf = malloc(chars + 200);
    int n = snprintf(buf, 200, "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"", model);
    memset(buf + n, 'x', chars);
    /* spaces so the text looks like words */
    for (size_t i = 7; i < chars; i += 8)
        buf[n + i] = ' ';
    strcpy(buf + n + chars, "\"}]}");
    return buf;
}

static void test_context_window(void **state)
{
    (void)state;
    fixture f;
    chain_fixture(&f);
    gr_route_state st;
    gr_route_state_init(&st, 17);
    struct gr_route_plan p;
    char *req = long_prompt_request("a", 150000);
    plan_simple(&f.cfg, req, &st, &p);
    free(req);
    /* a (128k) and its fallback c (32k) cannot take it: upgrade to d (1M) */
    assert_int_equal(p.result, GR_ROUTE_OK);
    for (size_t i = 0; i < p.ncand; i++)
        assert_true(p.cand[i].model->context_window >= 150000);
    assert_string_equal(p.cand[0].model->name, "d");
    assert_non_null(strstr(p.reason, "ctx-upgrade"));
    /* with allow_fallbacks=false it is a clear 400 */
    req = long_prompt_request("c", 50000);
    plan_simple(&f.cfg, req, &st, &p);
    free(req);
    assert_int_equal(p.result, GR_ROUTE_OK); /* c upgrades to a larger one */
    for (size_t i = 0; i < p.ncand; i++)
        assert_true(p.cand[i].model->context_window >= 50000);
}

static void test_auto_capabilities_never_violated(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *cheap = fx_model(&f, "cheap", 60, 100000, 16000, GR_CAP_CHAT, NULL);
    gr_model_conf *mid = fx_model(&f, "mid", 75, 1000000, 128000, GR_CAP_CHAT | GR_CAP_TOOLS, NULL);
    gr_model_conf *vis = fx_model(&f, "vision", 85, 3000000, 128000, GR_CAP_CHAT | GR_CAP_VISION, NULL);
    gr_model_conf *lng = fx_model(&f, "long", 80, 2000000, 1000000, GR_CAP_CHAT, NULL);
    fx_dep(&f, cheap, 0, "cheap", 1);
    fx_dep(&f, mid, 1, "mid", 1);
    fx_dep(&f, vis, 2, "vision", 1);
    fx_dep(&f, lng, 3, "long", 1);
    gr_route_state st;
    gr_route_state_init(&st, 18);
    const double knobs[] = {0.0, 0.25, 0.5, 0.9, 1.0};
    for (size_t k = 0; k < GR_ARRAY_LEN(knobs); k++) {
        struct gr_route_plan p;
        cJSON *doc;
        fx_plan_json(&f.cfg,
                     "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
                     "\"text\",\"text\":\"hi\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]}]}",
                     &st, &p, &doc, knobs[k]);
        cJSON_Delete(doc);
        assert_int_equal(p.result, GR_ROUTE_OK);
        for (size_t i = 0; i < p.ncand; i++)
            assert_true(p.cand[i].model->caps & GR_CAP_VISION);
        char *req = long_prompt_request("auto", 150000);
        fx_plan_json(&f.cfg, req, &st, &p, &doc, knobs[k]);
        cJSON_Delete(doc);
        free(req);
        assert_int_equal(p.result, GR_ROUTE_OK);
        assert_true(p.ncand >= 1);
        for (size_t i = 0; i < p.ncand; i++)
            assert_string_equal(p.cand[i].model->name, "long");
        fx_plan_json(&f.cfg,
                     "{\"model\":\"auto:cheap\",\"tools\":[{\"type\":\"function\"}],\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"call it\"}]}",
                     &st, &p, &doc, knobs[k]);
        cJSON_Delete(doc);
        for (size_t i = 0; i < p.ncand; i++)
            assert_string_equal(p.cand[i].model->name, "mid");
    }
    /* nobody has vision + tools */
    struct gr_route_plan p;
    cJSON *doc;
    fx_plan_json(&f.cfg,
                 "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\"}],\"messages\":[{\"role\":\"user\","
                 "\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]}]}",
                 &st, &p, &doc, -1);
    cJSON_Delete(doc);
    assert_int_equal(p.result, GR_ROUTE_NO_CAPABLE);
    assert_non_null(strstr(p.error, "auto:"));
}

/* ---- health-aware planning ---- */

static void test_health_skips_and_503(void **state)
{
    (void)state;
    fixture f;
    three_provider_model(&f);
    gr_outcome fail = {GR_OUTCOME_CONNECT_ERROR, 0, GR_ERRCLASS_NONE, false};
    gr_health *h1 = gr_health_get("p1/gpt-4o");
    for (int i = 0; i < 5; i++) {
        gr_health_on_start(h1, 1);
        gr_health_on_result(h1, &fail, 0, 0, 0, 0, 1);
    }
    gr_route_state st;
    gr_route_state_init(&st, 19);
    struct gr_route_plan p;
    for (int i = 0; i < 50; i++) {
        plan_simple(&f.cfg, "{\"model\":\"gpt-4o\"}", &st, &p);
        assert_int_equal(p.ncand, 2);
        for (size_t k = 0; k < p.ncand; k++)
            assert_string_not_equal(p.cand[k].dep->provider->name, "p1");
        assert_int_equal(p.rej_health, 1);
    }
    gr_outcome r429 = {GR_OUTCOME_HTTP, 429, GR_ERRCLASS_NONE, false};
    gr_health_on_start(gr_health_get("p2/gpt-4o-b"), 1);
    gr_health_on_result(gr_health_get("p2/gpt-4o-b"), &r429, 0, 0, 0, 60, 1);
    gr_health_on_start(gr_health_get("p3/gpt-4o-c"), 1);
    gr_health_on_result(gr_health_get("p3/gpt-4o-c"), &r429, 0, 0, 0, 60, 1);
    plan_simple(&f.cfg, "{\"model\":\"gpt-4o\"}", &st, &p);
    assert_int_equal(p.result, GR_ROUTE_UNAVAILABLE);
    assert_int_equal(gr_route_result_http_status(p.result), 503);
    assert_non_null(strstr(p.error, "unavailable"));
}

/* ---- explain ---- */

static void test_explain_and_json(void **state)
{
    (void)state;
    fixture f;
    chain_fixture(&f);
    gr_route_state st;
    gr_route_state_init(&st, 20);
    struct gr_route_plan p;
    plan_simple(&f.cfg, "{\"model\":\"a\",\"models\":[\"b\"]}", &st, &p);
    cJSON *j = gr_route_plan_to_json(&p);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "result")->valuestring, "ok");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "candidates")), 3);
    cJSON_Delete(j);
    char hdr[512];
    gr_route_format_header(&p, 1, 2, hdr, sizeof hdr);
    assert_non_null(strstr(hdr, "policy=model"));
    assert_non_null(strstr(hdr, "fallback=1 served=b/p2"));
    assert_non_null(strstr(hdr, "attempts=2"));

    char path[] = "/tmp/gr_route_explain_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *w = fdopen(fd, "w");
    fputs("{\"headers\":{\"x-gaterouter-quality\":\"0.9\"},\"body\":{\"model\":\"a\",\"messages\":[{\"role\":"
          "\"user\",\"content\":\"hello\"}]}}",
          w);
    fclose(w);
    char *outbuf = NULL;
    size_t outlen = 0;
    FILE *out = open_memstream(&outbuf, &outlen);
    assert_int_equal(gr_route_explain_cli(&f.cfg, path, out), 0);
    fclose(out);
    assert_non_null(strstr(outbuf, "decision: ok"));
    assert_non_null(strstr(outbuf, "x-gaterouter-route: policy=model"));
    free(outbuf);
    unlink(path);
    out = open_memstream(&outbuf, &outlen);
    assert_int_equal(gr_route_explain_cli(&f.cfg, "/nonexistent/req.json", out), 2);
    fclose(out);
    free(outbuf);
}

/* ---- the caller's restrictions (gr_route_access) ---- */

/* An allow-list of model names; a model named "free" is unpriced. */
typedef struct {
    const char *allowed[4];
    bool auto_granted;
} fx_access;

static gr_route_refusal fx_refuse(const gr_model_conf *m, gr_str auto_policy, void *arg)
{
    const fx_access *a = arg;
    if (strcmp(m->name, "free") == 0)
        return GR_ROUTE_NOT_PRICED;
    if (auto_policy.len && a->auto_granted)
        return GR_ROUTE_ALLOWED;
    for (int i = 0; i < 4 && a->allowed[i]; i++)
        if (strcmp(a->allowed[i], m->name) == 0)
            return GR_ROUTE_ALLOWED;
    return GR_ROUTE_NOT_ALLOWED;
}

static void plan_with_access(const gr_config *cfg, const char *json, const gr_route_access *acc,
                             struct gr_route_plan *plan)
{
    cJSON *doc = cJSON_Parse(json);
    gr_route_request req;
    char err[256];
    assert_int_equal(gr_route_request_from_json(doc, &req, err, sizeof err), GR_OK);
    req.access = acc;
    req.now_us = 1000000;
    gr_route_state st;
    gr_route_state_init(&st, 3);
    (void)gr_route_plan(cfg, &req, &st, plan);
    cJSON_Delete(doc);
}

static void test_access_every_candidate(void **state)
{
    (void)state;
    fixture f;
    fx_init(&f);
    gr_model_conf *cheap = fx_model(&f, "cheap", 40, 1000000, 0, CAPS_ALL, NULL);
    fx_dep(&f, cheap, 0, "cheap-1", 1);
    fx_fallback(cheap, "pricey");
    fx_fallback(cheap, "free");
    gr_model_conf *pricey = fx_model(&f, "pricey", 90, 9000000, 0, CAPS_ALL, NULL);
    fx_dep(&f, pricey, 1, "pricey-1", 1);
    gr_model_conf *fr = fx_model(&f, "free", 60, 0, 0, CAPS_ALL, NULL);
    fx_dep(&f, fr, 2, "free-1", 1);
    fx_access a = {{"cheap"}, false};
    const gr_route_access acc = {fx_refuse, &a};
    struct gr_route_plan p;

    /* config fallbacks outside the list are skipped and counted */
    plan_with_access(&f.cfg, "{\"model\":\"cheap\"}", &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_int_equal(p.ncand, 1);
    assert_string_equal(p.cand[0].model->name, "cheap");
    assert_int_equal(p.rej_access, 2);
    assert_non_null(strstr(p.reason, "access:2"));

    /* a models[] entry outside the list refuses the request, naming it */
    plan_with_access(&f.cfg, "{\"model\":\"cheap\",\"models\":[\"pricey\"]}", &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_FORBIDDEN);
    assert_int_equal(gr_route_result_http_status(p.result), 403);
    assert_int_equal(p.refusal, GR_ROUTE_NOT_ALLOWED);
    assert_non_null(strstr(p.error, "models[0]"));
    assert_non_null(strstr(p.error, "'pricey'"));

    /* an unpriced named model says so */
    plan_with_access(&f.cfg, "{\"model\":\"free\"}", &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_FORBIDDEN);
    assert_int_equal(p.refusal, GR_ROUTE_NOT_PRICED);

    /* auto:best would pick pricey; restricted, it chooses cheap and nothing else */
    plan_with_access(&f.cfg, "{\"model\":\"auto:best\",\"messages\":[{\"role\":\"user\",\"content\":\"prove it rigorously\"}]}",
                     &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    for (size_t i = 0; i < p.ncand; i++)
        assert_string_equal(p.cand[i].model->name, "cheap");
    /* granted, it uses the whole pool (but never the unpriced model) */
    a.auto_granted = true;
    plan_with_access(&f.cfg, "{\"model\":\"auto:best\",\"messages\":[{\"role\":\"user\",\"content\":\"prove it rigorously\"}]}",
                     &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_string_equal(p.cand[0].model->name, "pricey");
    for (size_t i = 0; i < p.ncand; i++)
        assert_string_not_equal(p.cand[i].model->name, "free");
    /* nothing allowed in the pool: 403, not "no capable model" */
    a.auto_granted = false;
    a.allowed[0] = "elsewhere";
    plan_with_access(&f.cfg, "{\"model\":\"auto\"}", &acc, &p);
    assert_int_equal(p.result, GR_ROUTE_FORBIDDEN);
    assert_int_equal(p.refusal, GR_ROUTE_NOT_ALLOWED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_weighted_distribution, setup),
        cmocka_unit_test_setup(test_weighted_zero_weight_never_first, setup),
        cmocka_unit_test_setup(test_round_robin, setup),
        cmocka_unit_test_setup(test_least_latency, setup),
        cmocka_unit_test_setup(test_least_busy, setup),
        cmocka_unit_test_setup(test_least_cost, setup),
        cmocka_unit_test_setup(test_provider_order, setup),
        cmocka_unit_test_setup(test_provider_only_ignore, setup),
        cmocka_unit_test_setup(test_provider_sort_and_suffixes, setup),
        cmocka_unit_test_setup(test_max_price, setup),
        cmocka_unit_test_setup(test_models_list_and_fallbacks, setup),
        cmocka_unit_test_setup(test_capabilities_explicit, setup),
        cmocka_unit_test_setup(test_context_window, setup),
        cmocka_unit_test_setup(test_auto_capabilities_never_violated, setup),
        cmocka_unit_test_setup(test_health_skips_and_503, setup),
        cmocka_unit_test_setup(test_explain_and_json, setup),
        cmocka_unit_test_setup(test_access_every_candidate, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gr_health_shutdown();
    return rc;
}
