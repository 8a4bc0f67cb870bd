/* test_route_auto.c — the auto router: hand-labelled clearly-easy and
 * clearly-hard prompts route as expected over a 3-model config, the N-tier
 * policy, feature sanity, and a decision-time micro-benchmark (ns/op printed,
 * no timing assertion). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include "route_auto.h"
#include "route_fixture.h"

static const char *const easy[] = {
    "Hi! How are you today?",
    "What is the capital of France?",
    "Thanks, that was helpful!",
    "Translate 'good morning' into Spanish.",
    "Give me a synonym for happy.",
    "What's 2 + 2?",
    "Tell me a joke about cats.",
    "Hello there",
    "What color is the sky?",
    "Say hi to my friend Tom.",
    "Who wrote Romeo and Juliet?",
    "How do you spell 'necessary'?",
    "What day comes after Monday?",
    "Good night!",
    "Is water wet?",
    "Recommend a fun weekend hobby.",
    "What is the plural of mouse?",
    "Name three fruits.",
    "How many days are in a week?",
    "What's your favorite color?",
};

static const char *const hard[] = {
    "Prove that there are infinitely many primes congruent to 3 mod 4, and explain each step of the proof rigorously.",
    "Implement a lock-free multi-producer multi-consumer queue in C11 using atomics. Explain the memory ordering you chose for every operation, how you avoid the ABA problem, and analyze the complexity.",
    "A train leaves city A at 9:15 traveling at 84 km/h. A second train leaves city B, 412 km away, at 10:05 traveling toward A at 96 km/h. A third train leaves A at 11:00 at 120 km/h. At what time and where does the third train pass the second, and how far is the first train from B at that moment?",
    "Derive the closed-form solution of the recurrence T(n) = 3T(n/4) + n log n using the master theorem, then prove it by induction and discuss the edge cases carefully.",
    "Write a Python function that, given a list of intervals with weights, returns the maximum weight subset of non-overlapping intervals, with O(n log n) complexity. Include tests and explain the dynamic programming recurrence.",
    "Explain why the halting problem is undecidable, then show how Rice's theorem follows from it, with a formal argument.",
    "Design a distributed rate limiter for a multi-region API gateway. Compare token bucket, sliding window log and GCRA, analyze consistency trade-offs under network partitions, and propose a concrete architecture.",
    "Solve the integral of x^3 * e^(2x) * sin(x) dx and verify the result by differentiation, showing every step.",
    "Given the following code, find the race condition and fix it:\n```c\nstatic int count;\nvoid *worker(void *arg) { for (int i = 0; i < 1000; i++) count++; return NULL; }\n```\nExplain why the bug happens on x86 and ARM differently.",
    "In a Bayesian network with nodes A -> B -> C and A -> C, with P(A)=0.3, P(B|A)=0.8, P(B|not A)=0.1, P(C|A,B)=0.9, P(C|A,not B)=0.5, P(C|not A,B)=0.4, P(C|not A,not B)=0.05, compute P(A|C) and explain each step.",
    "Write a detailed comparison of the causes of the French Revolution and the Russian Revolution, analyzing economic, social and political factors, and argue which factor was decisive in each case.",
    "Prove or disprove: every continuous function on a closed interval that is differentiable everywhere except at one point attains its maximum at a point where the derivative is zero.",
    "Refactor this JavaScript to use async/await, handle errors properly, and add retries with exponential backoff:\n```js\nfunction load(url, cb){ fetch(url).then(r=>r.json()).then(d=>cb(null,d)).catch(e=>cb(e)) }\n```",
    "A company's revenue grew 12% in year one, fell 7% in year two, and grew 23% in year three. If costs were 64% of revenue in year one and fell by 2 percentage points each year, and the initial revenue was $4.2 million, what was the total profit over the three years?",
    "Analyze the time and space complexity of Dijkstra's algorithm with a Fibonacci heap versus a binary heap, and explain when each is preferable in practice, with a proof sketch of the amortized bounds.",
    "Explain the difference between serializability and linearizability, give an example history that is serializable but not linearizable, and prove your claim.",
    "You are given a 2D grid of 0s and 1s. Write an efficient algorithm in C++ to count the number of distinct island shapes, where two islands are the same if one can be rotated or reflected to match the other. Explain the canonicalization step.",
    "Critique the argument that utilitarianism is incompatible with individual rights, considering rule utilitarianism and Nozick's objections, and reach a reasoned conclusion.",
    "Compute the eigenvalues and eigenvectors of the matrix [[2, -1, 0], [-1, 2, -1], [0, -1, 2]] and explain how they relate to the discrete Laplacian.",
    "Write a SQL query that, for each customer, returns the longest streak of consecutive days with at least one order, then explain how to make it efficient on a table with 500 million rows.",
};

static void three_models(fixture *f)
{
    fx_init(f);
    gr_model_conf *s = fx_model(f, "small", 55, 150000, 128000, GR_CAP_CHAT | GR_CAP_TOOLS, NULL);
    gr_model_conf *m = fx_model(f, "medium", 75, 1000000, 128000, GR_CAP_CHAT | GR_CAP_TOOLS, NULL);
    gr_model_conf *l = fx_model(f, "large", 95, 10000000, 200000, GR_CAP_CHAT | GR_CAP_TOOLS, NULL);
    fx_dep(f, s, 0, "small-up", 1);
    fx_dep(f, m, 1, "medium-up", 1);
    fx_dep(f, l, 2, "large-up", 1);
}

static const char *route_prompt(const gr_config *cfg, const char *model, const char *prompt, double knob,
                                double *pct)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "model", model);
    cJSON *msgs = cJSON_AddArrayToObject(body, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    cJSON_AddStringToObject(m, "content", prompt);
    cJSON_AddItemToArray(msgs, m);
    gr_route_request req;
    char err[128];
    assert_int_equal(gr_route_request_from_json(body, &req, err, sizeof err), GR_OK);
    req.quality = knob;
    gr_route_state st;
    gr_route_state_init(&st, 1);
    struct gr_route_plan p;
    (void)gr_route_plan(cfg, &req, &st, &p);
    assert_int_equal(p.result, GR_ROUTE_OK);
    assert_int_equal(p.ncand, 3); /* chosen + the two alternatives as fallbacks */
    if (pct)
        *pct = p.percentile;
    const char *name = p.cand[0].model->name;
    cJSON_Delete(body);
    return name;
}

static void test_easy_prompts_go_cheap(void **state)
{
    (void)state;
    fixture f;
    three_models(&f);
    for (size_t i = 0; i < GR_ARRAY_LEN(easy); i++) {
        const char *m = route_prompt(&f.cfg, "auto:balanced", easy[i], -1, NULL);
        if (strcmp(m, "small") != 0)
            fail_msg("easy prompt %zu (\"%s\") routed to %s", i, easy[i], m);
        /* also with the plain policy and the cheap one */
        assert_string_equal(route_prompt(&f.cfg, "auto:cheap", easy[i], -1, NULL), "small");
    }
}

static void test_hard_prompts_go_up(void **state)
{
    (void)state;
    fixture f;
    three_models(&f);
    double easy_max = 0, easy_sum = 0, hard_sum = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(easy); i++) {
        double p;
        route_prompt(&f.cfg, "auto", easy[i], -1, &p);
        easy_sum += p;
        if (p > easy_max)
            easy_max = p;
    }
    size_t up_balanced = 0, up_quality = 0, large_best = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(hard); i++) {
        double p;
        if (strcmp(route_prompt(&f.cfg, "auto:balanced", hard[i], -1, &p), "small") != 0)
            up_balanced++;
        hard_sum += p;
        if (strcmp(route_prompt(&f.cfg, "auto", hard[i], 0.8, NULL), "small") != 0)
            up_quality++;
        if (strcmp(route_prompt(&f.cfg, "auto:best", hard[i], -1, NULL), "large") == 0)
            large_best++;
    }
    double easy_mean = easy_sum / GR_ARRAY_LEN(easy), hard_mean = hard_sum / GR_ARRAY_LEN(hard);
    printf("difficulty percentile: easy mean %.3f (max %.3f), hard mean %.3f; hard above the "
           "cheapest tier: %zu/20 balanced, %zu/20 at knob 0.8\n",
           easy_mean, easy_max, hard_mean, up_balanced, up_quality);
    assert_true(hard_mean > easy_mean + 0.35);
    assert_true(up_balanced >= 8);  /* measured 9/20 with the committed weights */
    assert_true(up_quality >= 14);  /* measured 16/20 */
    assert_int_equal(large_best, GR_ARRAY_LEN(hard));
}

static void test_policy_n_tiers(void **state)
{
    (void)state;
    const uint32_t q[4] = {50, 70, 85, 95};
    const int64_t cost[4] = {1, 10, 50, 200};
    double bar;
    /* knob 0: always cheapest; knob 1: always best */
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.99, 0.0, &bar), 0);
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.01, 1.0, &bar), 3);
    /* knob 0.5: lower half of difficulty -> cheapest, then rising tiers */
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.30, 0.5, &bar), 0);
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.65, 0.5, &bar), 1);
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.85, 0.5, &bar), 2);
    assert_int_equal(gr_route_auto_choose(q, cost, 4, 0.99, 0.5, &bar), 3);
    /* monotone in difficulty */
    int prev = 0;
    for (int i = 0; i <= 100; i++) {
        int k = gr_route_auto_choose(q, cost, 4, i / 100.0, 0.5, &bar);
        assert_true(k >= prev);
        prev = k;
    }
    /* a dominated model (pricier and worse) is never chosen */
    const uint32_t q2[3] = {60, 50, 90};
    const int64_t c2[3] = {1, 5, 20};
    for (int i = 0; i <= 100; i++)
        assert_int_not_equal(gr_route_auto_choose(q2, c2, 3, i / 100.0, 0.5, &bar), 1);
    assert_int_equal(gr_route_auto_choose(q, cost, 0, 0.5, 0.5, &bar), -1);
}

static void test_features(void **state)
{
    (void)state;
    cJSON *b = cJSON_Parse("{\"messages\":[{\"role\":\"system\",\"content\":\"be nice\"},"
                           "{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello!\"},"
                           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Translate this into "
                           "French: \\u00e9t\\u00e9\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}]}],"
                           "\"tools\":[{\"type\":\"function\"}],\"response_format\":{\"type\":\"json_object\"}}");
    gr_auto_features f;
    assert_int_equal(gr_route_auto_features(b, &f), GR_OK);
    assert_true(f.tools && f.json_mode);
    assert_int_equal(f.images, 1);
    assert_int_equal(f.task, GR_TASK_TRANSLATION);
    assert_true(f.x[3] > 0);  /* depth */
    assert_true(f.x[4] == 1); /* system */
    assert_true(f.x[8] > 0);  /* non-ASCII */
    double p = gr_route_auto_predict(&f);
    assert_true(p > 0 && p < 1);
    cJSON_Delete(b);
    assert_int_equal(gr_route_auto_features(NULL, &f), GR_ERR_INVALID);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(gr_route_auto_features(arr, &f), GR_ERR_INVALID);
    cJSON_Delete(arr);
    gr_route_auto_features_text("def f(x):\n    return x", 23, &f);
    assert_int_equal(f.task, GR_TASK_CODE);
    gr_route_auto_features_text("A.\nA. one\nB. two\nC. three\nD. four\nAnswer:", 41, &f);
    assert_int_equal(f.task, GR_TASK_KNOWLEDGE);
    assert_true(gr_route_auto_percentile(-1.0) == 0.0);
    assert_true(gr_route_auto_percentile(2.0) == 1.0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_bench_decision(void **state)
{
    (void)state;
    cJSON *body = cJSON_Parse("{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"You "
                              "are a helpful assistant.\"},{\"role\":\"user\",\"content\":\"Write a Python function "
                              "that parses an ISO-8601 date string and returns the weekday. Explain the edge cases "
                              "briefly, and include two unit tests. Keep the answer under 200 words.\"}]}");
    gr_auto_features f;
    const int N = 200000;
    volatile double sink = 0;
    double t0 = now_s();
    for (int i = 0; i < N; i++) {
        if (gr_route_auto_features(body, &f) != GR_OK)
            fail();
        sink += gr_route_auto_percentile(gr_route_auto_predict(&f));
    }
    double t1 = now_s();
    fixture fx;
    three_models(&fx);
    gr_route_request req;
    char err[64];
    assert_int_equal(gr_route_request_from_json(body, &req, err, sizeof err), GR_OK);
    req.now_us = 1;
    gr_route_state st;
    gr_route_state_init(&st, 3);
    struct gr_route_plan p;
    const int M = 50000;
    double t2 = now_s();
    for (int i = 0; i < M; i++)
        (void)gr_route_plan(&fx.cfg, &req, &st, &p);
    double t3 = now_s();
    printf("auto decision (features + model + percentile): %.0f ns/op; full gr_route_plan(auto, 3 "
           "models): %.0f ns/op%s\n",
           (t1 - t0) / N * 1e9, (t3 - t2) / M * 1e9,
#if defined(__SANITIZE_ADDRESS__)
           " (ASan build: expect several times slower than release)"
#else
           ""
#endif
    );
    (void)sink;
    cJSON_Delete(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_easy_prompts_go_cheap),
        cmocka_unit_test(test_hard_prompts_go_up),
        cmocka_unit_test(test_policy_n_tiers),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_bench_decision),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    gr_health_shutdown();
    return rc;
}
