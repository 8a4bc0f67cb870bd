/* test_pipeline.c — the request pipeline with a fake worker and no sockets
 * (pipeline.h, request.h, endpoints.h): the phase engine (order, NEXT /
 * DONE / STOP, fail-closed authentication, continue after a suspension),
 * suspend/resume and gr_request_store_job (inline and on a real store
 * executor, with the deadline and the client-gone cases), the finish and
 * reply tables, context slots, the real key authenticator alone, and the
 * endpoint table. Ids: pipe-<area>.<n>. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "config_load.h"
#include "auth.h"
#include "endpoints.h"
#include "pipeline.h"
#include "request.h"
#include "store_exec.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a fake worker and requests without a client connection ---- */

static gr_worker g_w;
static char g_trace[256]; /* handler letters in the order they ran */
static int g_finished_status;
static int g_finishes;

static void trace(char c) {
    size_t n = strlen(g_trace);
    if (n + 1 < sizeof g_trace) g_trace[n] = c, g_trace[n + 1] = '\0';
}

static gr_request *fake_request(void) {
    gr_pool *pool = gr_pool_new(4096);
    gr_request *r = gr_pool_calloc(pool, sizeof(*r));
    r->pool = pool;
    r->w = &g_w;
    r->method = "POST";
    snprintf(r->path, sizeof r->path, "/v1/chat/completions");
    atomic_fetch_add(&g_w.inflight, 1);
    return r;
}

static void record_finish(gr_request *r, gr_finish_info *f) {
    (void)f;
    g_finished_status = r->status;
    g_finishes++;
}

static int setup(void **state) {
    (void)state;
    gr_pipeline_reset();
    g_trace[0] = '\0';
    g_finished_status = 0;
    g_finishes = 0;
    atomic_store(&g_w.inflight, 0);
    if (g_w.spare_pool) gr_pool_free(g_w.spare_pool);
    g_w.spare_pool = NULL;
    gr_pipeline_on_finish(GR_FINISH_LOG, record_finish);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (g_w.spare_pool) gr_pool_free(g_w.spare_pool);
    g_w.spare_pool = NULL;
    gr_pipeline_reset();
    return 0;
}

/* ---- fake phase handlers ---- */

static gr_request *g_suspended;

static gr_phase_rc h_auth_decline(gr_request *r) { (void)r; trace('a'); return GR_PHASE_NEXT; }
static gr_phase_rc h_auth_accept(gr_request *r) { (void)r; trace('A'); return GR_PHASE_DONE; }
static gr_phase_rc h_auth_never(gr_request *r) { (void)r; trace('X'); return GR_PHASE_DONE; }
static gr_phase_rc h_parse(gr_request *r) { (void)r; trace('p'); return GR_PHASE_NEXT; }
static gr_phase_rc h_route(gr_request *r) { (void)r; trace('r'); return GR_PHASE_NEXT; }
static gr_phase_rc h_admit_suspend(gr_request *r) {
    trace('s');
    gr_request_suspend(r);
    g_suspended = r;
    return GR_PHASE_STOP;
}
static gr_phase_rc h_admit_after(gr_request *r) { (void)r; trace('t'); return GR_PHASE_NEXT; }
static gr_phase_rc h_cache(gr_request *r) { (void)r; trace('c'); return GR_PHASE_NEXT; }
static gr_phase_rc h_upstream_answers(gr_request *r) {
    trace('u');
    gr_request_reply_json(r, 200, "{}", 2);
    return GR_PHASE_STOP;
}
static gr_phase_rc h_fail_400(gr_request *r) {
    trace('f');
    gr_request_fail(r, 400, "invalid_request_error", "bad", NULL, "bad");
    return GR_PHASE_STOP;
}

/* pipe-phase.1: phases run in the table's order whatever the registration
 * order; an accepting authenticator ends its phase. */
static void test_phase_order(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, h_upstream_answers);
    gr_pipeline_on_phase(GR_PHASE_CACHE, h_cache);
    gr_pipeline_on_phase(GR_PHASE_ROUTE, h_route);
    gr_pipeline_on_phase(GR_PHASE_PARSE, h_parse);
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, h_auth_decline);
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, h_auth_accept);
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, h_auth_never);
    gr_request *r = fake_request();
    assert_true(gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE));
    assert_true(r->authenticated);
    assert_string_equal(g_trace, "aA");
    assert_false(gr_pipeline_run(r, GR_PHASE_PARSE, GR_PHASE_COUNT)); /* upstream answered */
    assert_string_equal(g_trace, "aAprcu");
    assert_int_equal(g_finished_status, 200);
    assert_int_equal(g_finishes, 1);
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* pipe-phase.2: every authenticator declines: 401, fail closed. */
static void test_auth_fail_closed(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_AUTHENTICATE, h_auth_decline);
    gr_pipeline_on_phase(GR_PHASE_PARSE, h_parse);
    gr_request *r = fake_request();
    assert_false(gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE));
    assert_string_equal(g_trace, "a");
    assert_int_equal(g_finished_status, 401);
}

/* pipe-phase.3: a handler that answers stops the engine: nothing after it runs. */
static void test_stop_on_answer(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_PARSE, h_fail_400);
    gr_pipeline_on_phase(GR_PHASE_ROUTE, h_route);
    gr_request *r = fake_request();
    assert_false(gr_pipeline_run(r, GR_PHASE_PARSE, GR_PHASE_COUNT));
    assert_string_equal(g_trace, "f");
    assert_int_equal(g_finished_status, 400);
}

/* pipe-phase.4: suspended in ADMIT, resumed later: the pipeline goes on
 * with the handler after the one that suspended. */
static void test_continue_after_suspend(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_ADMIT, h_admit_suspend);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, h_admit_after);
    gr_pipeline_on_phase(GR_PHASE_CACHE, h_cache);
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, h_upstream_answers);
    gr_request *r = fake_request();
    assert_false(gr_pipeline_run(r, GR_PHASE_ADMIT, GR_PHASE_COUNT));
    assert_string_equal(g_trace, "s");
    assert_int_equal(g_finishes, 0);
    assert_true(gr_request_resume(g_suspended));
    gr_pipeline_continue(g_suspended, GR_PHASE_NEXT);
    assert_string_equal(g_trace, "stcu");
    assert_int_equal(g_finished_status, 200);
}

/* pipe-phase.5: a resumed handler that ends its phase skips the rest of it. */
static void test_continue_phase_done(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_ADMIT, h_admit_suspend);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, h_admit_after);
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, h_upstream_answers);
    gr_request *r = fake_request();
    assert_false(gr_pipeline_run(r, GR_PHASE_ADMIT, GR_PHASE_COUNT));
    assert_true(gr_request_resume(g_suspended));
    gr_pipeline_continue(g_suspended, GR_PHASE_DONE);
    assert_string_equal(g_trace, "su");
}

/* pipe-phase.6: a range that ends with nobody answering is a 500, never a hang. */
static void test_nobody_answers(void **state) {
    (void)state;
    gr_pipeline_on_phase(GR_PHASE_ADMIT, h_admit_suspend);
    gr_pipeline_on_phase(GR_PHASE_CACHE, h_cache);
    gr_request *r = fake_request();
    assert_false(gr_pipeline_run(r, GR_PHASE_ADMIT, GR_PHASE_COUNT));
    assert_true(gr_request_resume(g_suspended));
    gr_pipeline_continue(g_suspended, GR_PHASE_NEXT);
    assert_string_equal(g_trace, "sc");
    assert_int_equal(g_finished_status, 500);
}

/* ---- suspend / resume ---- */

/* pipe-susp.1: finished while suspended (a deadline answered it): r stays
 * allocated until the completion, whose resume says "do not touch" and
 * frees it (ASan/valgrind see no leak and no use after free). */
static void test_finished_while_suspended(void **state) {
    (void)state;
    gr_request *r = fake_request();
    gr_request_suspend(r);
    gr_request_fail(r, 503, "api_error", "store_unavailable", NULL, "deadline");
    assert_int_equal(g_finished_status, 503);
    assert_int_equal(atomic_load(&g_w.inflight), 1); /* not released yet */
    assert_false(gr_request_resume(r));
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* pipe-susp.2: the client left while suspended: resume ends the request
 * once, as 499, and says "do not touch". */
static void test_client_gone_while_suspended(void **state) {
    (void)state;
    gr_request *r = fake_request();
    gr_request_suspend(r);
    r->client_gone = true; /* what the close callback does while r is suspended */
    assert_int_equal(g_finishes, 0);
    assert_false(gr_request_resume(r));
    assert_int_equal(g_finishes, 1);
    assert_int_equal(g_finished_status, 499);
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* pipe-susp.3: two jobs in flight: only the last completion releases r. */
static void test_two_suspensions(void **state) {
    (void)state;
    gr_request *r = fake_request();
    gr_request_suspend(r);
    gr_request_suspend(r);
    gr_request_fail(r, 503, "api_error", "x", NULL, "x");
    assert_false(gr_request_resume(r));
    assert_int_equal(atomic_load(&g_w.inflight), 1);
    assert_false(gr_request_resume(r));
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* ---- gr_request_store_job ---- */

typedef struct job_arg {
    int ran, resumed, freed_marker;
    const char *err;
    unsigned sleep_ms;
} job_arg;

static int g_job_freed, g_job_late;

static void job_run(void *conn, void *arg) {
    (void)conn;
    job_arg *a = arg;
    if (a->sleep_ms) usleep(a->sleep_ms * 1000);
    a->ran++;
}
static void job_late(void *conn, void *arg) {
    (void)conn;
    (void)arg;
    g_job_late++;
}
static void job_free(void *arg) {
    g_job_freed++;
    free(arg);
}
static int g_resumed;
static const char *g_resume_err;
static void job_resume(gr_request *r, void *arg, const char *err) {
    job_arg *a = arg;
    g_resumed++;
    g_resume_err = err;
    assert_int_equal(a->ran, err ? a->ran : 1);
    if (err) gr_request_fail(r, 503, "api_error", "store_unavailable", NULL, "late");
    else gr_request_reply_json(r, 200, "{}", 2);
}

static gr_request_job make_job(job_arg *a) {
    return (gr_request_job){.run = job_run, .late = job_late, .free_arg = job_free, .resume = job_resume, .arg = a};
}

/* pipe-job.1: without an executor the job runs inline, resumes, is freed. */
static void test_store_job_inline(void **state) {
    (void)state;
    g_job_freed = g_resumed = 0;
    g_w.exec = NULL;
    gr_request *r = fake_request();
    job_arg *a = calloc(1, sizeof *a);
    gr_request_job j = make_job(a);
    assert_int_equal(gr_request_store_job(r, &j), GR_OK);
    assert_int_equal(g_resumed, 1);
    assert_int_equal(g_job_freed, 1);
    assert_int_equal(g_finished_status, 200);
}

static gr_status open_conn(void *ctx, void **conn, char *err, size_t errlen) {
    (void)ctx, (void)err, (void)errlen;
    *conn = NULL;
    return GR_OK;
}
static void close_conn(void *ctx, void *conn) { (void)ctx, (void)conn; }

static void run_until(struct event_base *base, int *v, int want) {
    for (int i = 0; i < 5000 && *v < want; i++) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

typedef struct exec_fixture {
    struct event_base *base;
    gr_store_exec *ex;
} exec_fixture;

static void exec_start(exec_fixture *f, uint32_t timeout_ms) {
    f->base = event_base_new();
    gr_store_exec_opts o = {1, 4, timeout_ms, NULL};
    char err[128];
    assert_int_equal(gr_store_exec_new(&o, open_conn, close_conn, NULL, &f->ex, err, sizeof err), GR_OK);
    g_w.exec = f->ex;
    g_w.base = f->base;
    g_w.store_mb = gr_store_mailbox_new(f->base);
    g_job_freed = g_resumed = g_job_late = 0;
    g_resume_err = NULL;
}

static void exec_stop(exec_fixture *f) {
    gr_store_exec_free(f->ex);
    run_until(f->base, &g_job_freed, 1);
    gr_store_mailbox_free(g_w.store_mb);
    event_base_free(f->base);
    g_w.exec = NULL;
    g_w.store_mb = NULL;
    g_w.base = NULL;
}

/* pipe-job.2: on the executor: r is suspended until the completion comes
 * back on its loop, then resumed there and answered. */
static void test_store_job_executor(void **state) {
    (void)state;
    exec_fixture f;
    exec_start(&f, 0);
    gr_request *r = fake_request();
    job_arg *a = calloc(1, sizeof *a);
    gr_request_job j = make_job(a);
    assert_int_equal(gr_request_store_job(r, &j), GR_OK);
    assert_int_equal(r->suspended, 1);
    assert_int_equal(g_resumed, 0);
    run_until(f.base, &g_resumed, 1);
    assert_int_equal(g_resumed, 1);
    assert_null(g_resume_err);
    assert_int_equal(g_finished_status, 200);
    exec_stop(&f);
    assert_int_equal(g_job_freed, 1);
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* pipe-job.3: the client leaves while the job runs: resume is never called
 * with r, the request ends once (499) and the job's arg is still freed. */
static void test_store_job_client_gone(void **state) {
    (void)state;
    exec_fixture f;
    exec_start(&f, 0);
    gr_request *r = fake_request();
    job_arg *a = calloc(1, sizeof *a);
    a->sleep_ms = 20;
    gr_request_job j = make_job(a);
    assert_int_equal(gr_request_store_job(r, &j), GR_OK);
    r->client_gone = true; /* the close callback, while suspended */
    run_until(f.base, &g_finishes, 1);
    assert_int_equal(g_finishes, 1);
    assert_int_equal(g_finished_status, 499);
    assert_int_equal(g_resumed, 0);
    exec_stop(&f);
    assert_int_equal(g_job_freed, 1);
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* pipe-job.4: past the deadline: resume gets the error (503), the job's late
 * step runs when it completes, and r is freed only after that. */
static void test_store_job_deadline(void **state) {
    (void)state;
    exec_fixture f;
    exec_start(&f, 10);
    gr_request *r = fake_request();
    job_arg *a = calloc(1, sizeof *a);
    a->sleep_ms = 60;
    gr_request_job j = make_job(a);
    assert_int_equal(gr_request_store_job(r, &j), GR_OK);
    run_until(f.base, &g_resumed, 1);
    assert_int_equal(g_resumed, 1);
    assert_non_null(g_resume_err);
    assert_int_equal(g_finished_status, 503);
    exec_stop(&f);
    assert_int_equal(g_job_late, 1);
    assert_int_equal(g_job_freed, 1);
    assert_int_equal(atomic_load(&g_w.inflight), 0);
}

/* ---- finish and reply tables, context slots ---- */

static void fin_a(gr_request *r, gr_finish_info *f) { (void)r, (void)f; trace('1'); }
static void fin_b(gr_request *r, gr_finish_info *f) { (void)r, (void)f; trace('2'); }
static void fin_c(gr_request *r, gr_finish_info *f) {
    (void)f;
    trace(r->status == 499 ? '9' : '3');
}
static bool reply_x(gr_request *r, int status, const char *body, size_t len) {
    (void)r, (void)len;
    trace(status == 200 && body ? 'x' : '?');
    return false;
}
static bool reply_y(gr_request *r, int status, const char *body, size_t len) {
    (void)r, (void)status, (void)body, (void)len;
    trace('y');
    return false;
}

/* pipe-fin.1: stages in enum order, whatever the registration order; the
 * status is final (499 for a client that left) from GR_FINISH_LOG on. */
static void test_finish_order(void **state) {
    (void)state;
    gr_pipeline_on_finish(GR_FINISH_RELEASE, fin_b);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_FILL, fin_c);
    gr_pipeline_on_finish(GR_FINISH_METER, fin_a);
    gr_pipeline_on_reply(GR_REPLY_PAYMENT, reply_y);
    gr_pipeline_on_reply(GR_REPLY_CACHE, reply_x);
    gr_request *r = fake_request();
    gr_request_reply_json(r, 200, "{}", 2);
    assert_string_equal(g_trace, "xy132");
    g_trace[0] = '\0';
    r = fake_request();
    r->client_gone = true;
    gr_request_finish(r);
    assert_string_equal(g_trace, "192");
    assert_int_equal(g_finished_status, 499);
}

/* pipe-fin.2: context slots are distinct, start NULL in every request. */
static void test_ctx_slots(void **state) {
    (void)state;
    int a = gr_pipeline_ctx_slot(), b = gr_pipeline_ctx_slot();
    assert_int_not_equal(a, b);
    assert_in_range(a, 0, GR_CTX_SLOTS - 1);
    assert_in_range(b, 0, GR_CTX_SLOTS - 1);
    gr_request *r = fake_request();
    for (int i = 0; i < GR_CTX_SLOTS; i++) assert_null(r->ctx[i]);
    r->ctx[a] = r;
    gr_request_finish(r);
}

/* ---- a real phase handler alone: the key authenticator ---- */

static gr_config *config(const char *yaml) {
    char err[256];
    gr_config *c = gr_config_load_string(yaml, strlen(yaml), "test", err, sizeof err);
    if (!c) fail_msg("config: %s", err);
    return c;
}

/* pipe-auth.1: auth.mode keys, no credential: 401 missing_api_key. */
static void test_key_auth_missing(void **state) {
    (void)state;
    gr_auth_register();
    gr_request *r = fake_request();
    r->cfg = config("providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\n"
                    "auth: {keys: [{name: k, key: sk-test-123456789}]}\n");
    assert_false(gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE));
    assert_int_equal(g_finished_status, 401);
}

/* pipe-auth.2: auth.mode open admits a request without a credential. */
static void test_key_auth_open(void **state) {
    (void)state;
    gr_auth_register();
    gr_request *r = fake_request();
    r->cfg = config("providers: [{name: a, kind: mock}]\nmodels: [{name: m, provider: a}]\nauth: {mode: open}\n");
    assert_true(gr_pipeline_run(r, GR_PHASE_AUTHENTICATE, GR_PHASE_PARSE));
    assert_string_equal(r->key_name, "open");
    gr_request_finish(r);
    assert_int_equal(g_finished_status, 500); /* never answered */
}

/* ---- the endpoint table ---- */

/* pipe-ep.1: one row per path, aliases share a metrics route, prefixes
 * after exact rows, /v1/messages answers errors in Anthropic's shape. */
static void test_endpoint_table(void **state) {
    (void)state;
    const gr_endpoint_row *e = gr_endpoints_find("/chat/completions");
    assert_non_null(e);
    assert_string_equal(e->metrics_route, "/v1/chat/completions");
    assert_int_equal(e->ep, GR_EP_CHAT);
    assert_string_equal(gr_endpoints_allow(e), "POST");
    e = gr_endpoints_find("/v1/models");
    assert_false(e->prefix);
    assert_string_equal(gr_endpoints_allow(e), "GET, HEAD");
    e = gr_endpoints_find("/v1/models/gpt-4o");
    assert_true(e->prefix);
    assert_string_equal(e->metrics_route, "/v1/models/{id}");
    assert_int_equal(gr_endpoints_find("/v1/messages")->errors, GR_ERRORS_ANTHROPIC);
    assert_int_equal(gr_endpoints_find("/v1/chat/completions")->errors, GR_ERRORS_OPENAI);
    assert_null(gr_endpoints_find("/v1/chat"));
    assert_null(gr_endpoints_find("/v1/modelsx"));
    assert_string_equal(gr_endpoints_find("/admin/keys/k1")->metrics_route, "/admin/*");
    assert_null(gr_endpoints_find("/v1/x402/payments")->metrics_route); /* "other" */
    assert_string_equal(gr_endpoints_find("/v1/x402/pricing")->metrics_route, "/v1/x402/pricing");
    assert_int_equal(gr_endpoints_find("/v1/key")->methods, 0); /* the admin handler answers its own methods */
}

int main(void) {
    evthread_use_pthreads(); /* the store mailbox is signalled from the executor thread */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_phase_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_on_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_after_suspend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_continue_phase_done, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nobody_answers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finished_while_suspended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_while_suspended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_suspensions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_job_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_job_executor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_job_client_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_job_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctx_slots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_auth_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_auth_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_endpoint_table, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
