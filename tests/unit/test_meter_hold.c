/* test_meter_hold.c — the worst case a hold or an x402 quote reserves covers
 * the final charge: prompt-cache writes (5-minute and 1-hour), the thinking
 * budget adapters add, n outputs; provider-kind cache-read defaults and the
 * 1-hour cache-write price. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "meter.h"
#include "meter_defaults.h"
#include "meter_hold.h"

/* $1 per Mtok in and out: one token = 1000 nusd. */
static gr_prices flat(void) {
    gr_prices p = {.input_uusd_per_mtok = 1000000, .output_uusd_per_mtok = 1000000, .set = true};
    return p;
}

static gr_hold_request req(cJSON *body, int64_t prompt, int64_t max_out) {
    gr_hold_request q = {.body = body, .prompt_tokens = prompt, .max_output = max_out, .outputs = 1};
    return q;
}

static void plain_request_is_tokens_at_list_price(void **st) {
    (void)st;
    cJSON *b = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    gr_prices p = flat();
    gr_hold_request q = req(b, 1000, 100);
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_ANTHROPIC, &q), (1000 + 100) * 1000);
    q.outputs = 3;
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_OPENAI, &q), (1000 + 300) * 1000);
    cJSON_Delete(b);
}

/* The hold covers the charge when every prompt token is written to the cache
 * the request asks for. */
static void cache_writes_priced_at_their_ttl(void **st) {
    (void)st;
    cJSON *b5 = cJSON_Parse("{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"x\","
                            "\"cache_control\":{\"type\":\"ephemeral\"}}]}]}");
    cJSON *b1 = cJSON_Parse("{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"},"
                            "\"cache_control\":{\"type\":\"ephemeral\",\"ttl\":\"1h\"}}],\"messages\":[]}");
    assert_int_equal(gr_meter_hold_cache_writes(b5), 1);
    assert_int_equal(gr_meter_hold_cache_writes(b1), 2);
    gr_prices p = flat();
    gr_hold_request q = req(b5, 1000, 100);
    int64_t hold5 = gr_meter_hold_cost(&p, GR_PROVIDER_ANTHROPIC, &q);
    assert_int_equal(hold5, 1250 * 1000 + 100 * 1000);
    gr_usage u = {.prompt_tokens = 1000, .cache_write_tokens = 1000, .completion_tokens = 100, .present = true};
    assert_true(hold5 >= gr_meter_cost(&p, &u));
    q.body = b1;
    int64_t hold1 = gr_meter_hold_cost(&p, GR_PROVIDER_OPENAI, &q); /* e.g. OpenRouter relaying to Anthropic */
    u.cache_write_1h_tokens = 1000;
    assert_int_equal(gr_meter_cost(&p, &u), 2000 * 1000 + 100 * 1000);
    assert_int_equal(hold1, gr_meter_cost(&p, &u));
    /* the Gemini adapter drops cache_control: nothing is written there */
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_GEMINI, &q), 1100 * 1000);
    /* a configured write price wins over the multiplier */
    p.cache_write_1h_uusd_per_mtok = 3000000;
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_ANTHROPIC, &q), 3000 * 1000 + 100 * 1000);
    cJSON_Delete(b5);
    cJSON_Delete(b1);
}

/* /v1/messages relayed to Anthropic: the client's body is what is sent, so its
 * cache_control counts even though the canonical translation dropped it. */
static void native_body_is_what_counts_on_anthropic(void **st) {
    (void)st;
    cJSON *canon = cJSON_Parse("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":100}");
    cJSON *native = cJSON_Parse("{\"system\":[{\"type\":\"text\",\"text\":\"s\",\"cache_control\":{\"type\":"
                                "\"ephemeral\",\"ttl\":\"1h\"}}],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":50},"
                                "\"max_tokens\":100,\"messages\":[]}");
    gr_prices p = flat();
    gr_hold_request q = req(canon, 1000, 100);
    q.native_body = native;
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_ANTHROPIC, &q), 2000 * 1000 + 100 * 1000);
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_ANTHROPIC, &q), 100); /* thinking inside max_tokens */
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_OPENAI, &q), 1100 * 1000); /* translated: canonical */
    cJSON_Delete(canon);
    cJSON_Delete(native);
}

/* The Anthropic adapter adds the thinking budget to max_tokens; the hold too. */
static void thinking_budget_reserved(void **st) {
    (void)st;
    cJSON *b = cJSON_Parse("{\"messages\":[],\"max_tokens\":100,\"reasoning_effort\":\"high\"}");
    gr_prices p = flat();
    gr_hold_request q = req(b, 10, 100);
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_ANTHROPIC, &q), 100 + 24576);
    assert_int_equal(gr_meter_hold_cost(&p, GR_PROVIDER_ANTHROPIC, &q), (10 + 100 + 24576) * 1000);
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_GEMINI, &q), 100 + 24576);
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_OPENAI, &q), 100); /* the upstream's own max_tokens bounds it */
    cJSON_Delete(b);
    b = cJSON_Parse("{\"messages\":[],\"reasoning\":{\"max_tokens\":3000}}");
    q.body = b;
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_ANTHROPIC, &q), 100 + 3000);
    cJSON_Delete(b);
    /* an explicit Anthropic `thinking` lives inside max_tokens */
    b = cJSON_Parse("{\"messages\":[],\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":2000},\"reasoning_effort\":\"high\"}");
    q.body = b;
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_ANTHROPIC, &q), 100);
    cJSON_Delete(b);
}

static void cache_read_defaults_by_kind(void **st) {
    (void)st;
    gr_provider_conf anth = {.name = "a", .kind = GR_PROVIDER_ANTHROPIC};
    gr_provider_conf gem = {.name = "g", .kind = GR_PROVIDER_GEMINI};
    gr_provider_conf oai = {.name = "o", .kind = GR_PROVIDER_OPENAI};
    gr_provider_conf mock = {.name = "m", .kind = GR_PROVIDER_MOCK};
    gr_model_conf m = {.name = "my-model", .prices = {.input_uusd_per_mtok = 3000000, .output_uusd_per_mtok = 1, .set = true}};
    gr_deployment d = {.provider = &anth, .upstream_model = "my-model-1"};
    gr_prices out;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 300000);
    d.provider = &gem;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 750000);
    d.provider = &oai;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 1500000);
    d.provider = &mock;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 0); /* = the input price */
    /* an odd input price rounds the cache-read price up */
    m.prices.input_uusd_per_mtok = 7;
    d.provider = &anth;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 1);
    /* explicit wins */
    m.prices.input_uusd_per_mtok = 3000000;
    m.prices.cached_input_uusd_per_mtok = 2000000;
    m.prices.cached_input_set = true;
    gr_meter_deployment_prices(&d, &m, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 2000000);
    /* the bundled table's cached price wins too */
    gr_model_conf bundled = {.name = "claude-sonnet-4"};
    d.upstream_model = "claude-sonnet-4-20250514";
    d.provider = &oai;
    gr_meter_deployment_prices(&d, &bundled, &out);
    assert_int_equal(out.cached_input_uusd_per_mtok, 300000);
}

static void notes_name_each_defaulted_deployment(void **st) {
    (void)st;
    gr_provider_conf anth = {.name = "anth", .kind = GR_PROVIDER_ANTHROPIC};
    gr_deployment deps[2] = {{.provider = &anth, .upstream_model = "x-1"},
                             {.provider = &anth, .upstream_model = "x-2", .prices = {.input_uusd_per_mtok = 1000000, .cached_input_set = true, .set = true}}};
    gr_model_conf models[1] = {{.name = "x", .deployments = deps, .ndeployments = 2,
                                .prices = {.input_uusd_per_mtok = 3000000, .output_uusd_per_mtok = 1, .set = true}}};
    gr_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.models = models;
    cfg.nmodels = 1;
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_int_equal(gr_meter_price_notes(&cfg, f), 1);
    fclose(f);
    assert_non_null(strstr(buf, "model 'x' on provider 'anth' has no cached_input price"));
    assert_non_null(strstr(buf, "0.3 USD per 1M tokens"));
}

/* Gemini thinking models think by default: the most they may is held; the
 * wire of Vertex and Bedrock deployments is their publisher's. */
static void default_thinking_and_publisher_wire(void **st) {
    (void)st;
    cJSON *b = cJSON_Parse("{\"messages\":[],\"max_tokens\":100}");
    gr_hold_request q = req(b, 10, 100);
    static const struct {
        gr_provider_kind kind;
        const char *model;
        int64_t out;
    } cases[] = {
        {GR_PROVIDER_GEMINI, "gemini-2.5-pro", 100 + 32768},
        {GR_PROVIDER_GEMINI, "models/gemini-2.5-flash", 100 + 24576},
        {GR_PROVIDER_GEMINI, "gemini-2.5-flash-lite", 100},
        {GR_PROVIDER_GEMINI, "gemini-2.5-flash-image-preview", 100},
        {GR_PROVIDER_GEMINI, "gemini-3-pro-preview", 100 + 32768},
        {GR_PROVIDER_GEMINI, "gemini-2.0-flash", 100},
        {GR_PROVIDER_GEMINI, NULL, 100},
        {GR_PROVIDER_VERTEX, "gemini-2.5-flash", 100 + 24576},
        {GR_PROVIDER_VERTEX, "claude-sonnet-4@20250514", 100},
        {GR_PROVIDER_ANTHROPIC, "gemini-2.5-pro", 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        q.upstream_model = cases[i].model;
        assert_int_equal(gr_meter_hold_output(cases[i].kind, &q), cases[i].out);
    }
    cJSON_Delete(b);
    /* reasoning asked: the budget asked, not the default */
    b = cJSON_Parse("{\"messages\":[],\"reasoning_effort\":\"low\"}");
    q.body = b;
    q.upstream_model = "gemini-2.5-pro";
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_GEMINI, &q), 100 + 1024);
    q.upstream_model = "claude-sonnet-4@20250514"; /* Claude on Vertex: Anthropic's budget for `low` */
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_VERTEX, &q), 100 + 2048);
    q.upstream_model = "us.anthropic.claude-sonnet-4-20250514-v1:0"; /* and on Bedrock */
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_BEDROCK, &q), 100 + 2048);
    q.upstream_model = "meta.llama3-70b-instruct-v1:0";
    assert_int_equal(gr_meter_hold_output(GR_PROVIDER_BEDROCK, &q), 100);
    cJSON_Delete(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_request_is_tokens_at_list_price),
        cmocka_unit_test(cache_writes_priced_at_their_ttl),
        cmocka_unit_test(native_body_is_what_counts_on_anthropic),
        cmocka_unit_test(thinking_budget_reserved),
        cmocka_unit_test(default_thinking_and_publisher_wire),
        cmocka_unit_test(cache_read_defaults_by_kind),
        cmocka_unit_test(notes_name_each_defaulted_deployment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
