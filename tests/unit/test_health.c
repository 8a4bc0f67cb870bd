/* test_health.c — circuit breaker state machine, half-open probe, 429
 * retry-after cooldown, EWMA and in-flight accounting of health.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <pthread.h>
#include <cmocka.h>

#include "health.h"

#define SEC 1000000ull

static const gr_outcome OK = {GR_OUTCOME_OK, 200, GR_ERRCLASS_NONE, false};
static const gr_outcome E500 = {GR_OUTCOME_HTTP, 500, GR_ERRCLASS_NONE, false};
static const gr_outcome E400 = {GR_OUTCOME_HTTP, 400, GR_ERRCLASS_NONE, false};
static const gr_outcome E429 = {GR_OUTCOME_HTTP, 429, GR_ERRCLASS_NONE, false};
static const gr_outcome TMO = {GR_OUTCOME_TIMEOUT, 0, GR_ERRCLASS_NONE, false};
static const gr_outcome CONN = {GR_OUTCOME_CONNECT_ERROR, 0, GR_ERRCLASS_NONE, false};

static int setup(void **state)
{
    (void)state;
    gr_health_configure(NULL);
    gr_health_reset_all();
    return 0;
}

static void result(gr_health *h, const gr_outcome *o, uint64_t now)
{
    gr_health_on_start(h, now);
    gr_health_on_result(h, o, 1000, 2000, 10, 0, now);
}

static gr_breaker_state state_of(gr_health *h)
{
    gr_health_snapshot s;
    gr_health_snapshot_get(h, &s);
    return s.state;
}

static void test_same_key_same_record(void **state)
{
    (void)state;
    gr_health *a = gr_health_get("openai/gpt-4o");
    gr_health *b = gr_health_get2("openai", "gpt-4o");
    assert_ptr_equal(a, b);
    assert_string_equal(gr_health_key(a), "openai/gpt-4o");
    assert_ptr_not_equal(a, gr_health_get("openai/gpt-4o-mini"));
    assert_null(gr_health_get(NULL));
}

static void test_consecutive_failures_open_then_half_open_probe(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/consec");
    uint64_t now = 100 * SEC;
    for (int i = 0; i < 4; i++)
        result(h, &CONN, now);
    assert_int_equal(state_of(h), GR_BREAKER_CLOSED);
    assert_true(gr_health_available(h, now));
    result(h, &TMO, now); /* 5th consecutive failure */
    assert_int_equal(state_of(h), GR_BREAKER_OPEN);
    assert_false(gr_health_available(h, now));
    assert_false(gr_health_available(h, now + 29 * SEC));
    /* cooldown over: half-open admits exactly one probe */
    now += 30 * SEC;
    assert_true(gr_health_available(h, now));
    assert_int_equal(state_of(h), GR_BREAKER_HALF_OPEN);
    assert_true(gr_health_on_start(h, now)); /* this request is the probe */
    assert_false(gr_health_available(h, now));
    /* probe fails -> open again for another cooldown */
    gr_health_on_result(h, &E500, 0, 0, 0, 0, now);
    assert_int_equal(state_of(h), GR_BREAKER_OPEN);
    assert_false(gr_health_available(h, now + SEC));
    now += 31 * SEC;
    assert_true(gr_health_available(h, now));
    assert_true(gr_health_on_start(h, now));
    gr_health_on_result(h, &OK, 1000, 2000, 10, 0, now);
    assert_int_equal(state_of(h), GR_BREAKER_CLOSED);
    assert_true(gr_health_available(h, now));
    assert_false(gr_health_on_start(h, now)); /* closed: not a probe */
    gr_health_on_result(h, &OK, 1000, 2000, 10, 0, now);
}

static void test_lost_probe_is_forgotten(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/lostprobe");
    uint64_t now = 10 * SEC;
    for (int i = 0; i < 5; i++)
        result(h, &CONN, now);
    now += 30 * SEC;
    assert_true(gr_health_available(h, now));
    assert_true(gr_health_on_start(h, now)); /* probe never reports */
    assert_false(gr_health_available(h, now + 10 * SEC));
    assert_true(gr_health_available(h, now + 30 * SEC));
}

static void test_error_rate_opens(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/rate");
    uint64_t now = SEC;
    /* alternate: never 5 in a row, but 50 % of a 20-result window */
    for (int i = 0; i < 9; i++) {
        result(h, &OK, now);
        result(h, &E500, now);
        if (i < 4)
            assert_int_equal(state_of(h), GR_BREAKER_CLOSED); /* fewer than 10 samples */
    }
    assert_int_equal(state_of(h), GR_BREAKER_OPEN);
}

static void test_client_errors_do_not_trip(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/client");
    for (int i = 0; i < 50; i++)
        result(h, &E400, SEC);
    assert_int_equal(state_of(h), GR_BREAKER_CLOSED);
    assert_true(gr_health_available(h, SEC));
}

/* What the request caused is neutral: a 500 saying "context length" never
 * trips the breaker, never resets a run of real failures, and a half-open
 * probe that ends so frees the probe slot. */
static void test_request_faults_are_neutral(void **state)
{
    (void)state;
    const gr_outcome fault = {GR_OUTCOME_HTTP, 500, GR_ERRCLASS_CONTEXT_LENGTH, true};
    gr_health *h = gr_health_get("t/fault");
    uint64_t now = 100 * SEC;
    for (int i = 0; i < 50; i++)
        result(h, &fault, now);
    assert_int_equal(state_of(h), GR_BREAKER_CLOSED);
    gr_health_snapshot s;
    gr_health_snapshot_get(h, &s);
    assert_int_equal(s.failures, 0);
    assert_int_equal(s.in_flight, 0);
    for (int i = 0; i < 4; i++) {
        result(h, &CONN, now);
        result(h, &fault, now); /* does not reset the run of 4 connect errors */
    }
    result(h, &CONN, now);
    assert_int_equal(state_of(h), GR_BREAKER_OPEN);
    now += 31 * SEC;
    assert_true(gr_health_available(h, now)); /* half-open */
    assert_true(gr_health_on_start(h, now));  /* the probe */
    assert_false(gr_health_available(h, now));
    gr_health_on_result(h, &fault, 0, 0, 0, 0, now);
    assert_int_equal(state_of(h), GR_BREAKER_HALF_OPEN); /* neither closed nor re-opened */
    assert_true(gr_health_available(h, now));             /* the next request probes */
}

static void test_retry_after_cooldown(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/429");
    uint64_t now = 50 * SEC;
    gr_health_on_start(h, now);
    gr_health_on_result(h, &E429, 0, 0, 0, 7, now);
    assert_false(gr_health_available(h, now));
    assert_false(gr_health_available(h, now + 6 * SEC));
    assert_true(gr_health_available(h, now + 7 * SEC));
    assert_int_equal(state_of(h), GR_BREAKER_CLOSED); /* 429 does not trip the breaker */
    /* without retry-after: default 5 s; a later shorter one does not shorten it */
    h = gr_health_get("t/429b");
    gr_health_on_start(h, now);
    gr_health_on_result(h, &E429, 0, 0, 0, 0, now);
    gr_health_on_start(h, now);
    gr_health_on_result(h, &E429, 0, 0, 0, 1, now);
    assert_false(gr_health_available(h, now + 4 * SEC));
    assert_true(gr_health_available(h, now + 5 * SEC));
    /* absurd retry-after is capped (300 s) */
    gr_health_on_start(h, now);
    gr_health_on_result(h, &E429, 0, 0, 0, 1000000, now);
    assert_true(gr_health_available(h, now + 301 * SEC));
}

static void test_ewma(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/ewma");
    gr_health_snapshot s;
    gr_health_on_start(h, 1);
    gr_health_on_result(h, &OK, 100000, 1100000, 100, 0, 1); /* ttft 100 ms, 10 ms/token */
    gr_health_snapshot_get(h, &s);
    assert_true(s.ewma_ttft_us > 99999 && s.ewma_ttft_us < 100001);
    assert_true(s.ewma_per_token_us > 9999 && s.ewma_per_token_us < 10001);
    gr_health_on_start(h, 1);
    gr_health_on_result(h, &OK, 200000, 200000, 0, 0, 1); /* no tokens: per-token unchanged */
    gr_health_snapshot_get(h, &s);
    /* 100 + 0.2 * (200 - 100) = 120 ms */
    assert_true(s.ewma_ttft_us > 119999 && s.ewma_ttft_us < 120001);
    assert_true(s.ewma_per_token_us > 9999 && s.ewma_per_token_us < 10001);
    assert_int_equal(s.samples, 2);
    /* a timeout pushes latency up */
    gr_health_on_start(h, 1);
    gr_health_on_result(h, &TMO, 0, 1000000, 0, 0, 1);
    gr_health_snapshot_get(h, &s);
    assert_true(s.ewma_ttft_us > 250000);
    /* custom alpha */
    gr_health_opts o;
    gr_health_opts_default(&o);
    o.ewma_alpha = 0.5;
    gr_health_configure(&o);
    gr_health *g = gr_health_get("t/ewma2");
    gr_health_on_start(g, 1);
    gr_health_on_result(g, &OK, 100, 100, 0, 0, 1);
    gr_health_on_start(g, 1);
    gr_health_on_result(g, &OK, 300, 300, 0, 0, 1);
    gr_health_snapshot_get(g, &s);
    assert_true(s.ewma_ttft_us > 199.9 && s.ewma_ttft_us < 200.1);
}

static void test_in_flight(void **state)
{
    (void)state;
    gr_health *h = gr_health_get("t/inflight");
    gr_health_snapshot s;
    gr_health_on_start(h, 1);
    gr_health_on_start(h, 1);
    gr_health_snapshot_get(h, &s);
    assert_int_equal(s.in_flight, 2);
    gr_health_on_result(h, &OK, 1, 2, 1, 0, 1);
    gr_health_on_result(h, &OK, 1, 2, 1, 0, 1);
    gr_health_on_result(h, &OK, 1, 2, 1, 0, 1); /* unpaired: stays at 0 */
    gr_health_snapshot_get(h, &s);
    assert_int_equal(s.in_flight, 0);
}

static void *hammer(void *arg)
{
    const char *key = arg;
    for (int i = 0; i < 20000; i++) {
        gr_health *h = gr_health_get(key);
        gr_health_on_start(h, 1);
        gr_health_on_result(h, (i % 7) ? &OK : &E500, 1000, 5000, 4, 0, 1);
        (void)gr_health_available(h, 1);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t t[4];
    static char *keys[4] = {"t/mt-a", "t/mt-a", "t/mt-b", "t/mt-b"};
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, keys[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    gr_health_snapshot s;
    gr_health_snapshot_get(gr_health_get("t/mt-a"), &s);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.requests, 40000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_same_key_same_record, setup),
        cmocka_unit_test_setup(test_consecutive_failures_open_then_half_open_probe, setup),
        cmocka_unit_test_setup(test_lost_probe_is_forgotten, setup),
        cmocka_unit_test_setup(test_error_rate_opens, setup),
        cmocka_unit_test_setup(test_client_errors_do_not_trip, setup),
        cmocka_unit_test_setup(test_request_faults_are_neutral, setup),
        cmocka_unit_test_setup(test_retry_after_cooldown, setup),
        cmocka_unit_test_setup(test_ewma, setup),
        cmocka_unit_test_setup(test_in_flight, setup),
        cmocka_unit_test_setup(test_threads, setup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gr_health_shutdown();
    return rc;
}
