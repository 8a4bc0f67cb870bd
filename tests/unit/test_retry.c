/* test_retry.c — retry / fallback rules: what is retried, backoff bounds, never
 * after the response started, context-length and content-policy fallbacks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "route_fixture.h"

static gr_outcome http(int st) { return (gr_outcome){GR_OUTCOME_HTTP, st, GR_ERRCLASS_NONE, false}; }

static void test_retryable(void **state)
{
    (void)state;
    uint32_t d;
    gr_outcome conn = {GR_OUTCOME_CONNECT_ERROR, 0, GR_ERRCLASS_NONE, false};
    gr_outcome tmo = {GR_OUTCOME_TIMEOUT, 0, GR_ERRCLASS_NONE, false};
    assert_int_equal(gr_route_should_retry(&conn, 0, 0, &d), GR_RETRY_SAME);
    assert_true(d > 0);
    assert_int_equal(gr_route_should_retry(&conn, 1, 0, &d), GR_RETRY_NEXT);
    assert_int_equal(gr_route_should_retry(&tmo, 0, 0, &d), GR_RETRY_NEXT);
    assert_true(d > 0);
    gr_outcome o = http(429);
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NEXT);
    o = http(500);
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_SAME);
    o = http(503);
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NEXT);
    o = http(504);
    assert_int_equal(gr_route_should_retry(&o, 1, 0, &d), GR_RETRY_NEXT);
    o = http(408);
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NEXT);
}

static void test_not_retryable(void **state)
{
    (void)state;
    uint32_t d = 123;
    const int sts[] = {400, 401, 403, 404, 413, 422};
    for (size_t i = 0; i < GR_ARRAY_LEN(sts); i++) {
        gr_outcome o = http(sts[i]);
        assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NONE);
        assert_int_equal(d, 0);
    }
    gr_outcome ok = {GR_OUTCOME_OK, 200, GR_ERRCLASS_NONE, false};
    assert_int_equal(gr_route_should_retry(&ok, 0, 0, &d), GR_RETRY_NONE);
    assert_int_equal(gr_route_should_retry(NULL, 0, 0, &d), GR_RETRY_NONE);
}

static void test_never_after_stream_start(void **state)
{
    (void)state;
    uint32_t d;
    gr_outcome all[] = {
        {GR_OUTCOME_CONNECT_ERROR, 0, GR_ERRCLASS_NONE, false}, {GR_OUTCOME_TIMEOUT, 0, GR_ERRCLASS_NONE, false},
        {GR_OUTCOME_HTTP, 500, GR_ERRCLASS_NONE, false},        {GR_OUTCOME_HTTP, 429, GR_ERRCLASS_NONE, false},
        {GR_OUTCOME_HTTP, 400, GR_ERRCLASS_CONTEXT_LENGTH, false},
        {GR_OUTCOME_HTTP, 400, GR_ERRCLASS_CONTENT_POLICY, false},
    };
    for (size_t i = 0; i < GR_ARRAY_LEN(all); i++) {
        assert_int_equal(gr_route_should_retry(&all[i], 0, 1, &d), GR_RETRY_NONE);
        assert_int_equal(gr_route_should_retry(&all[i], 0, 65536, &d), GR_RETRY_NONE);
    }
}

static void test_attempt_cap_and_backoff(void **state)
{
    (void)state;
    gr_outcome o = http(502);
    uint32_t d;
    assert_int_equal(gr_route_should_retry(&o, GR_ROUTE_MAX_ATTEMPTS - 1, 0, &d), GR_RETRY_NONE);
    for (unsigned a = 0; a < GR_ROUTE_MAX_ATTEMPTS - 1; a++) {
        uint32_t lo = 1000000, hi = 0;
        for (int i = 0; i < 500; i++) {
            (void)gr_route_should_retry(&o, a, 0, &d);
            if (d < lo)
                lo = d;
            if (d > hi)
                hi = d;
        }
        uint32_t cap = 100u << a;
        assert_true(lo > cap / 2);  /* equal jitter: (cap/2, cap] */
        assert_true(hi <= cap);
        assert_true(hi > lo);       /* jittered */
    }
}

static void test_classify_errors(void **state)
{
    (void)state;
    const char *ctx = "{\"error\":{\"message\":\"This model's maximum context length is 8192 tokens\","
                      "\"code\":\"context_length_exceeded\"}}";
    const char *pol = "{\"error\":{\"code\":\"content_filter\",\"message\":\"flagged by the Content "
                      "Management Policy\"}}";
    assert_int_equal(gr_route_classify_error(400, ctx, strlen(ctx)), GR_ERRCLASS_CONTEXT_LENGTH);
    assert_int_equal(gr_route_classify_error(400, pol, strlen(pol)), GR_ERRCLASS_CONTENT_POLICY);
    const char *ant = "{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt "
                      "is too long: 210000 tokens > 200000 maximum\"}}";
    assert_int_equal(gr_route_classify_error(400, ant, strlen(ant)), GR_ERRCLASS_CONTEXT_LENGTH);
    assert_int_equal(gr_route_classify_error(500, ctx, strlen(ctx)), GR_ERRCLASS_NONE);
    assert_int_equal(gr_route_classify_error(400, "{}", 2), GR_ERRCLASS_NONE);
    assert_int_equal(gr_route_classify_error(400, NULL, 0), GR_ERRCLASS_NONE);
    uint32_t d;
    /* request faults: by status for 4xx, by structured code/type only for 5xx */
    bool fault = false;
    assert_int_equal(gr_route_request_fault(500, ctx, strlen(ctx), &fault), GR_ERRCLASS_CONTEXT_LENGTH);
    assert_true(fault);
    assert_int_equal(gr_route_request_fault(500, pol, strlen(pol), &fault), GR_ERRCLASS_CONTENT_POLICY);
    assert_true(fault);
    const char *outage = "{\"error\":{\"message\":\"context window of the GPU pool exhausted\",\"type\":\"server_error\"}}";
    assert_int_equal(gr_route_request_fault(503, outage, strlen(outage), &fault), GR_ERRCLASS_NONE);
    assert_false(fault);
    const char *gem = "{\"error\":{\"code\":500,\"status\":\"INVALID_ARGUMENT\"}}";
    (void)gr_route_request_fault(500, gem, strlen(gem), &fault);
    assert_true(fault);
    (void)gr_route_request_fault(422, "{}", 2, &fault);
    assert_true(fault);
    const int deployment_side[] = {401, 403, 404, 408, 429};
    const char *tpm = "{\"error\":{\"message\":\"Rate limit: too many tokens per minute\",\"code\":\"rate_limit_exceeded\"}}";
    for (size_t i = 0; i < sizeof deployment_side / sizeof deployment_side[0]; i++) {
        (void)gr_route_request_fault(deployment_side[i], "{}", 2, &fault);
        assert_false(fault);
        (void)gr_route_request_fault(deployment_side[i], tpm, strlen(tpm), &fault); /* body never overrides */
        assert_false(fault);
    }
    gr_outcome f500 = {GR_OUTCOME_HTTP, 500, GR_ERRCLASS_NONE, true};
    assert_int_equal(gr_route_should_retry(&f500, 0, 0, &d), GR_RETRY_NONE);
    gr_outcome o = {GR_OUTCOME_HTTP, 400, GR_ERRCLASS_CONTEXT_LENGTH, false};
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NEXT_LARGER_CTX);
    o.err_class = GR_ERRCLASS_CONTENT_POLICY;
    assert_int_equal(gr_route_should_retry(&o, 0, 0, &d), GR_RETRY_NEXT_MODEL);
}

static void test_next_candidate(void **state)
{
    (void)state;
    gr_health_reset_all();
    fixture f;
    fx_init(&f);
    gr_model_conf *a = fx_model(&f, "small", 80, 1000000, 8000, GR_CAP_CHAT, "round-robin");
    gr_model_conf *b = fx_model(&f, "big", 85, 2000000, 200000, GR_CAP_CHAT, NULL);
    gr_model_conf *c = fx_model(&f, "other", 70, 500000, 8000, GR_CAP_CHAT, NULL);
    fx_dep(&f, a, 0, "small-1", 1);
    fx_dep(&f, a, 1, "small-2", 1);
    fx_dep(&f, c, 2, "other-1", 1);
    fx_dep(&f, b, 3, "big-1", 1);
    fx_fallback(a, "other");
    fx_fallback(a, "big");
    gr_route_state st;
    gr_route_state_init(&st, 1);
    struct gr_route_plan p;
    cJSON *doc;
    fx_plan_json(&f.cfg, "{\"model\":\"small\"}", &st, &p, &doc, -1);
    cJSON_Delete(doc);
    assert_int_equal(p.ncand, 4); /* small-1, small-2, other-1, big-1 */
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_SAME), 0);
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_NEXT), 1);
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_NEXT_MODEL), 2);
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_NEXT_LARGER_CTX), 3);
    assert_int_equal(gr_route_next(&p, 3, GR_RETRY_NEXT), -1);
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_NONE), -1);
    /* a candidate that went down meanwhile is skipped */
    gr_outcome r429 = {GR_OUTCOME_HTTP, 429, GR_ERRCLASS_NONE, false};
    gr_health_on_start(p.cand[1].health, gr_now_us());
    gr_health_on_result(p.cand[1].health, &r429, 0, 0, 0, 60, gr_now_us());
    assert_int_equal(gr_route_next(&p, 0, GR_RETRY_NEXT), 2);
    gr_health_shutdown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retryable),
        cmocka_unit_test(test_not_retryable),
        cmocka_unit_test(test_never_after_stream_start),
        cmocka_unit_test(test_attempt_cap_and_backoff),
        cmocka_unit_test(test_classify_errors),
        cmocka_unit_test(test_next_candidate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
