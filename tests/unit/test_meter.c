/* test_meter.c — exact cost arithmetic, rounding, cached pricing, saturation,
 * USD text, estimates and the bundled price table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "meter.h"

static gr_prices P(int64_t in, int64_t out, int64_t cached, int64_t per_req) {
    gr_prices p = {.input_uusd_per_mtok = in, .output_uusd_per_mtok = out, .cached_input_uusd_per_mtok = cached,
                   .per_request_uusd = per_req, .set = true};
    return p;
}

static gr_usage U(int64_t prompt, int64_t completion, int64_t cached) {
    gr_usage u;
    memset(&u, 0, sizeof u);
    u.prompt_tokens = prompt;
    u.completion_tokens = completion;
    u.cached_tokens = cached;
    u.present = true;
    return u;
}

static void cost_basic(void **st) {
    (void)st;
    gr_prices mini = P(150000, 600000, 75000, 0); /* gpt-4o-mini */
    gr_usage u = U(1000, 500, 0);
    /* 1000 * $0.15/M + 500 * $0.60/M = $0.00045 = 450000 nusd */
    assert_int_equal(gr_meter_cost(&mini, &u), 450000);
    u = U(0, 0, 0);
    assert_int_equal(gr_meter_cost(&mini, &u), 0);
}

static void cost_cached(void **st) {
    (void)st;
    gr_prices mini = P(150000, 600000, 75000, 0);
    gr_usage u = U(1000, 0, 400); /* 600 uncached + 400 cached */
    assert_int_equal(gr_meter_cost(&mini, &u), 90000 + 30000);
    /* no cached price -> cached tokens at the input price */
    gr_prices nocache = P(150000, 600000, 0, 0);
    assert_int_equal(gr_meter_cost(&nocache, &u), 150000);
    /* cached > prompt is clamped to prompt */
    u = U(100, 0, 500);
    assert_int_equal(gr_meter_cost(&mini, &u), 100 * 75);
}

/* Prompt-cache writes (Anthropic cache_creation_input_tokens, inside
 * prompt_tokens): the cache-write price, else 1.25 x input. */
static void cost_cache_write(void **st) {
    (void)st;
    gr_prices sonnet = P(3000000, 15000000, 300000, 0);
    gr_usage u = U(120 + 2000 + 8000, 40, 8000);
    u.cache_write_tokens = 2000;
    /* (120*3 + 2000*3.75 + 8000*0.30 + 40*15) USD/M = 0.01086 USD */
    assert_int_equal(gr_meter_cost(&sonnet, &u), 10860000);
    sonnet.cache_write_uusd_per_mtok = 6000000; /* the 1-hour cache: 2 x */
    assert_int_equal(gr_meter_cost(&sonnet, &u), 360000 + 12000000 + 2400000 + 600000);
    /* writes beyond the uncached prompt are clamped to it */
    u = U(100, 0, 60);
    u.cache_write_tokens = 500;
    sonnet.cache_write_uusd_per_mtok = 0;
    assert_int_equal(gr_meter_cost(&sonnet, &u), 40 * 3750 + 60 * 300);
}

static void cost_rounding(void **st) {
    (void)st;
    gr_prices one = P(1, 999, 0, 0);
    gr_usage u = U(1, 0, 0); /* 0.001 nusd -> ceil -> 1 */
    assert_int_equal(gr_meter_cost(&one, &u), 1);
    u = U(1000, 0, 0); /* exactly 1 */
    assert_int_equal(gr_meter_cost(&one, &u), 1);
    u = U(1001, 0, 0);
    assert_int_equal(gr_meter_cost(&one, &u), 2);
    /* one ceiling over the sum: 1*1 + 1*999 = 1000 -> 1 nusd, not 2 */
    u = U(1, 1, 0);
    assert_int_equal(gr_meter_cost(&one, &u), 1);
    /* per-request price in uusd -> nusd */
    gr_prices req = P(0, 0, 0, 5);
    u = U(0, 0, 0);
    assert_int_equal(gr_meter_cost(&req, &u), 5000);
}

static void cost_no_drift(void **st) {
    (void)st;
    /* a million 1-token requests at $0.15/M sum to exactly $0.15 */
    gr_prices mini = P(150000, 600000, 75000, 0);
    gr_usage u = U(1, 0, 0);
    int64_t sum = 0;
    for (int i = 0; i < 1000000; i++) sum += gr_meter_cost(&mini, &u);
    assert_int_equal(sum, 150000000);
    char buf[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(sum, buf, sizeof buf);
    assert_string_equal(buf, "0.15");
}

static void cost_huge(void **st) {
    (void)st;
    gr_prices opus = P(15000000, 75000000, 1500000, 0);
    /* 1e12 output tokens: 1e12 * 75e6 = 7.5e19 overflows int64 before /1000 */
    gr_usage u = U(0, 1000000000000LL, 0);
    assert_int_equal(gr_meter_cost(&opus, &u), 75000000000000000LL);
    gr_prices maxp = P(INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX);
    u = U(INT64_MAX, INT64_MAX, INT64_MAX / 2);
    assert_int_equal(gr_meter_cost(&maxp, &u), INT64_MAX);
    assert_int_equal(gr_meter_max_cost(&maxp, INT64_MAX, INT64_MAX), INT64_MAX);
    /* negative inputs are treated as 0 */
    u = U(-5, -5, -5);
    assert_int_equal(gr_meter_cost(&opus, &u), 0);
    gr_prices neg = P(-1, -1, -1, -1);
    u = U(100, 100, 0);
    assert_int_equal(gr_meter_cost(&neg, &u), 0);
}

static void max_cost(void **st) {
    (void)st;
    gr_prices gpt4o = P(2500000, 10000000, 1250000, 0);
    /* 1000 * 2.5 + 4096 * 10 = 43460 uusd... per token /1e6: 43460000 nusd */
    assert_int_equal(gr_meter_max_cost(&gpt4o, 1000, 4096), 43460000);
    /* the bound holds for any usage within it */
    gr_usage u = U(1000, 4096, 800);
    assert_true(gr_meter_cost(&gpt4o, &u) <= gr_meter_max_cost(&gpt4o, 1000, 4096));
    gr_prices req = P(100, 100, 0, 7);
    assert_int_equal(gr_meter_max_cost(&req, 0, 0), 7000);
}

static void format_usd(void **st) {
    (void)st;
    char b[GR_METER_USD_BUFSZ];
    static const struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0"},
        {1, "0.000000001"},
        {450000, "0.00045"},
        {1000000000, "1"},
        {1500000000, "1.5"},
        {-500000000, "-0.5"},
        {12345678901, "12.345678901"},
        {INT64_MAX, "9223372036.854775807"},
        {INT64_MIN, "-9223372036.854775808"},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(cases); i++) {
        size_t n = gr_meter_format_usd(cases[i].v, b, sizeof b);
        assert_string_equal(b, cases[i].s);
        assert_int_equal(n, strlen(cases[i].s));
    }
    char small[4];
    gr_meter_format_usd(1500000000, small, sizeof small);
    assert_string_equal(small, "1.5");
    gr_meter_format_usd(12345678901, small, sizeof small);
    assert_string_equal(small, "12.");
}

static void parse_usd(void **st) {
    (void)st;
    int64_t v = 0;
    assert_int_equal(gr_meter_parse_usd("1.25", &v), GR_OK);
    assert_int_equal(v, 1250000000);
    assert_int_equal(gr_meter_parse_usd("0.000000001", &v), GR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(gr_meter_parse_usd("10", &v), GR_OK);
    assert_int_equal(v, 10000000000LL);
    assert_int_equal(gr_meter_parse_usd(".5", &v), GR_OK);
    assert_int_equal(v, 500000000);
    assert_int_equal(gr_meter_parse_usd("0.1", &v), GR_OK);
    assert_int_equal(v, 100000000);
    assert_int_not_equal(gr_meter_parse_usd("1.0000000001", &v), GR_OK);
    assert_int_not_equal(gr_meter_parse_usd("", &v), GR_OK);
    assert_int_not_equal(gr_meter_parse_usd("-1", &v), GR_OK);
    assert_int_not_equal(gr_meter_parse_usd("1e5", &v), GR_OK);
    assert_int_not_equal(gr_meter_parse_usd(".", &v), GR_OK);
    assert_int_not_equal(gr_meter_parse_usd("99999999999999999999", &v), GR_OK);
    /* round trip */
    char b[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(123456789012345LL, b, sizeof b);
    assert_int_equal(gr_meter_parse_usd(b, &v), GR_OK);
    assert_int_equal(v, 123456789012345LL);
}

static void default_table(void **st) {
    (void)st;
    gr_prices p;
    assert_true(gr_meter_default_prices("gpt-4o", &p));
    assert_int_equal(p.input_uusd_per_mtok, 2500000);
    assert_int_equal(p.output_uusd_per_mtok, 10000000);
    assert_true(gr_meter_default_prices("gpt-4o-mini-2024-07-18", &p));
    assert_int_equal(p.input_uusd_per_mtok, 150000);
    assert_true(gr_meter_default_prices("openai/gpt-4o-2024-08-06", &p));
    assert_int_equal(p.input_uusd_per_mtok, 2500000);
    assert_true(gr_meter_default_prices("GPT-4.1-MINI", &p));
    assert_int_equal(p.input_uusd_per_mtok, 400000);
    assert_true(gr_meter_default_prices("claude-sonnet-4-20250514", &p));
    assert_int_equal(p.output_uusd_per_mtok, 15000000);
    assert_int_equal(p.cached_input_uusd_per_mtok, 300000);
    assert_true(gr_meter_default_prices("claude-opus-4-20250514", &p));
    assert_int_equal(p.input_uusd_per_mtok, 15000000);
    assert_true(gr_meter_default_prices("claude-opus-4-5-20251101", &p));
    assert_int_equal(p.input_uusd_per_mtok, 5000000);
    assert_true(gr_meter_default_prices("gemini-2.5-flash", &p));
    assert_int_equal(p.input_uusd_per_mtok, 300000);
    assert_true(gr_meter_default_prices("gemini-2.5-flash-lite", &p));
    assert_int_equal(p.input_uusd_per_mtok, 100000);
    assert_true(gr_meter_default_prices("deepseek-reasoner", &p));
    assert_int_equal(p.output_uusd_per_mtok, 2190000);
    assert_true(gr_meter_default_prices("llama-3.1-8b-instant", &p));
    assert_true(gr_meter_default_prices("mistral-large-latest", &p));
    assert_int_equal(p.input_uusd_per_mtok, 2000000);
    assert_false(gr_meter_default_prices("gpt-4", &p)); /* no partial-word matches */
    assert_false(gr_meter_default_prices("o3x", &p));
    assert_false(gr_meter_default_prices("some-unknown-model", &p));
    assert_false(p.set);
    assert_false(gr_meter_default_prices(NULL, &p));
    /* sanity of every row */
    assert_true(gr_meter_default_count() >= 20);
    for (size_t i = 0; i < gr_meter_default_count(); i++) {
        const char *name = gr_meter_default_at(i, &p);
        assert_non_null(name);
        assert_true(p.input_uusd_per_mtok > 0);
        assert_true(p.output_uusd_per_mtok > 0);
        assert_true(p.cached_input_uusd_per_mtok <= p.input_uusd_per_mtok);
        gr_prices q;
        assert_true(gr_meter_default_prices(name, &q));
        assert_int_equal(q.input_uusd_per_mtok, p.input_uusd_per_mtok);
    }
    assert_null(gr_meter_default_at(gr_meter_default_count(), &p));
}

static void resolve(void **st) {
    (void)st;
    gr_prices dep = P(1, 2, 0, 0), model = P(3, 4, 0, 0), none = {0}, out;
    gr_meter_resolve_prices(&dep, &model, "gpt-4o", "x", &out);
    assert_int_equal(out.input_uusd_per_mtok, 1);
    gr_meter_resolve_prices(&none, &model, "gpt-4o", "x", &out);
    assert_int_equal(out.input_uusd_per_mtok, 3);
    gr_meter_resolve_prices(&none, &none, "gpt-4o-2024-11-20", "x", &out);
    assert_int_equal(out.input_uusd_per_mtok, 2500000);
    gr_meter_resolve_prices(NULL, NULL, "my-finetune", "gpt-4o-mini", &out);
    assert_int_equal(out.input_uusd_per_mtok, 150000);
    gr_meter_resolve_prices(NULL, NULL, "a", "b", &out);
    assert_false(out.set);
    assert_int_equal(out.input_uusd_per_mtok, 0);
}

static void estimates(void **st) {
    (void)st;
    assert_int_equal(gr_meter_estimate_text("", 0), 0);
    assert_int_equal(gr_meter_estimate_text("abcd", 4), 1);
    assert_int_equal(gr_meter_estimate_text("abcde", 5), 2);
    assert_int_equal(gr_meter_estimate_text("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 9), 3);
    cJSON *req = cJSON_Parse(
        "{\"model\":\"gpt-4o\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"You are terse.\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Describe this\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/y.png\"}}]}],"
        "\"max_tokens\":100}");
    assert_non_null(req);
    /* 3 + (4 + 2 "system" + 4 "You are terse.") + (4 + 1 "user" + 4 text + 85 image) */
    assert_int_equal(gr_meter_estimate_request(req), 3 + 10 + 94);
    assert_int_equal(gr_meter_request_max_output(req, 8192), 100);
    cJSON_AddNumberToObject(req, "max_completion_tokens", 50);
    assert_int_equal(gr_meter_request_max_output(req, 8192), 50);
    cJSON_Delete(req);
    req = cJSON_Parse("{\"messages\":[]}");
    assert_int_equal(gr_meter_estimate_request(req), 3);
    assert_int_equal(gr_meter_request_max_output(req, 8192), 8192);
    assert_int_equal(gr_meter_request_max_output(req, 0), GR_METER_DEFAULT_MAX_OUTPUT);
    cJSON_Delete(req);
    assert_int_equal(gr_meter_estimate_request(NULL), 0);
}

static void annotate(void **st) {
    (void)st;
    cJSON *resp = cJSON_Parse("{\"id\":\"x\",\"usage\":{\"prompt_tokens\":10,\"cost\":1}}");
    gr_meter_annotate_response(resp, 450000, false);
    char *txt = cJSON_PrintUnformatted(resp);
    assert_string_equal(txt, "{\"id\":\"x\",\"usage\":{\"prompt_tokens\":10,\"cost\":0.00045}}");
    cJSON_free(txt);
    cJSON_Delete(resp);
    resp = cJSON_Parse("{\"id\":\"y\"}");
    gr_meter_annotate_response(resp, 2000000000, true);
    txt = cJSON_PrintUnformatted(resp);
    assert_string_equal(txt, "{\"id\":\"y\",\"usage\":{\"cost\":2,\"cost_estimated\":true}}");
    cJSON_free(txt);
    cJSON_Delete(resp);
    gr_meter_annotate_response(NULL, 1, false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cost_basic),    cmocka_unit_test(cost_cached), cmocka_unit_test(cost_cache_write),
        cmocka_unit_test(cost_rounding), cmocka_unit_test(cost_no_drift),
        cmocka_unit_test(cost_huge),     cmocka_unit_test(max_cost),
        cmocka_unit_test(format_usd),    cmocka_unit_test(parse_usd),
        cmocka_unit_test(default_table), cmocka_unit_test(resolve),
        cmocka_unit_test(estimates),     cmocka_unit_test(annotate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
