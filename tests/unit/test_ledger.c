/* test_ledger.c — multi-threaded submit, flush, exact rows in the store,
 * spend buckets, queue-full drops, drain on shutdown. SQLite by default,
 * PostgreSQL when GR_TEST_STORE_URL is set (test_ledger_pg, store_test_url.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#include "ledger.h"
#include "store_test_url.h"

#define T0 1700000000000LL

typedef struct fixture {
    char dir[64];
    char url[256];
    gr_store *store;
} fixture;

static int setup(void **st) {
    fixture *f = gr_xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gr_test_ledger_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    gr_test_store_url(f->url, sizeof f->url, f->dir, "ledger.db");
    char err[256];
    if (gr_store_open_migrated(f->url, &f->store, err, sizeof err) != GR_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *st = f;
    return 0;
}

static int teardown(void **st) {
    fixture *f = *st;
    gr_store_close(f->store);
    gr_test_store_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void fill_row(gr_ledger_row *r, int thread, int i) {
    memset(r, 0, sizeof *r);
    snprintf(r->request_id, sizeof r->request_id, "chatcmpl-%d-%d", thread, i);
    r->ts_ms = T0 + i;
    snprintf(r->key_id, sizeof r->key_id, "key_%016d", thread);
    GR_LEDGER_SET(r->model_asked, "auto");
    GR_LEDGER_SET(r->model_served, i % 2 ? "gpt-4o-mini" : "claude-sonnet-4");
    GR_LEDGER_SET(r->provider, i % 2 ? "openai" : "anthropic");
    r->tokens_in = 1000 + i;
    r->tokens_out = 10 + thread;
    r->tokens_cached = i % 7;
    r->tokens_reasoning = i % 3;
    r->cost_nusd = 150000LL * (i + 1);
    r->estimated = i % 5 == 0;
    r->latency_us = 123456 + i;
    r->ttft_us = 2345 + i;
    r->status = i % 10 == 0 ? 502 : 200;
    GR_LEDGER_SET(r->route_reason, "auto:cheap score=0.31");
    if (r->status != 200) GR_LEDGER_SET(r->error_type, "upstream_error");
    if (i % 11 == 0) {
        GR_LEDGER_SET(r->payer, "0x1111111111111111111111111111111111111111");
        GR_LEDGER_SET(r->x402_amount_atomic, "12345");
        r->x402_credit_delta_nusd = -42;
        GR_LEDGER_SET(r->x402_network, "eip155:8453");
        GR_LEDGER_SET(r->x402_tx_hash, "0xabc");
        GR_LEDGER_SET(r->x402_settlement, "settled");
    }
}

#define NTHREADS 8
#define PER_THREAD 1000

typedef struct targ {
    gr_ledger *l;
    int thread;
    int ok;
} targ;

static void *submitter(void *p) {
    targ *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        gr_ledger_row r;
        fill_row(&r, a->thread, i);
        if (gr_ledger_submit(a->l, &r) == GR_OK) a->ok++;
    }
    return NULL;
}

static void threads_flush_exact(void **st) {
    fixture *f = *st;
    gr_ledger *l;
    assert_int_equal(gr_ledger_new(f->store, 0, &l), GR_OK);
    pthread_t th[NTHREADS];
    targ args[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        args[t] = (targ){l, t, 0};
        pthread_create(&th[t], NULL, submitter, &args[t]);
    }
    for (int t = 0; t < NTHREADS; t++) pthread_join(th[t], NULL);
    gr_ledger_flush(l);
    gr_ledger_stats s;
    gr_ledger_stats_get(l, &s);
    assert_int_equal(s.submitted, NTHREADS * PER_THREAD);
    assert_int_equal(s.written, NTHREADS * PER_THREAD);
    assert_int_equal(s.dropped + s.failed, 0);
    assert_int_equal(s.depth, 0);
    assert_true(s.batches < s.written / 4); /* rows share transactions */
    int64_t n = 0;
    assert_int_equal(gr_store_ledger_count(f->store, &n), GR_OK);
    assert_int_equal(n, NTHREADS * PER_THREAD);
    /* every field of a sample of rows round-trips exactly */
    for (int t = 0; t < NTHREADS; t++) {
        for (int i = 0; i < PER_THREAD; i += 37) {
            gr_ledger_row want, got;
            fill_row(&want, t, i);
            assert_int_equal(gr_store_generation_get(f->store, want.request_id, &got), GR_OK);
            assert_memory_equal(&want, &got, sizeof want);
        }
    }
    /* spend buckets equal the sum of the rows' costs */
    gr_key_spend sp;
    assert_int_equal(gr_store_key_spend(f->store, "key_0000000000000003",
                                        gr_store_utc_day(T0), gr_store_utc_month(T0), &sp),
                     GR_OK);
    int64_t want_total = 150000LL * PER_THREAD * (PER_THREAD + 1) / 2;
    assert_int_equal(sp.total_nusd, want_total);
    assert_int_equal(sp.day_nusd, want_total);
    assert_int_equal(sp.month_nusd, want_total);
    assert_int_equal(sp.requests, PER_THREAD);
    /* usage summary by provider */
    gr_usage_query q = {.by = GR_USAGE_BY_PROVIDER};
    gr_usage_group *g;
    size_t ng;
    assert_int_equal(gr_store_usage_summary(f->store, &q, &g, &ng), GR_OK);
    assert_int_equal(ng, 2);
    assert_string_equal(g[0].group, "anthropic");
    assert_int_equal(g[0].requests + g[1].requests, NTHREADS * PER_THREAD);
    assert_int_equal(g[0].errors + g[1].errors, NTHREADS * PER_THREAD / 10);
    assert_int_equal(g[0].cost_nusd + g[1].cost_nusd, NTHREADS * want_total);
    free(g);
    gr_ledger_free(l);
}

static void queue_full_drops(void **st) {
    fixture *f = *st;
    gr_ledger *l;
    assert_int_equal(gr_ledger_new(f->store, 16, &l), GR_OK);
    gr_ledger_pause(l, true);
    int ok = 0, dropped = 0;
    for (int i = 0; i < 20; i++) {
        gr_ledger_row r;
        fill_row(&r, 99, i);
        gr_status rc = gr_ledger_submit(l, &r);
        if (rc == GR_OK) ok++;
        else if (rc == GR_ERR_TOO_LARGE) dropped++;
    }
    assert_int_equal(ok, 16);
    assert_int_equal(dropped, 4);
    gr_ledger_stats s;
    gr_ledger_stats_get(l, &s);
    assert_int_equal(s.dropped, 4);
    assert_int_equal(s.depth, 16);
    assert_int_equal(s.capacity, 16);
    gr_ledger_pause(l, false);
    gr_ledger_flush(l);
    gr_ledger_stats_get(l, &s);
    assert_int_equal(s.written, 16);
    assert_int_equal(s.depth, 0);
    /* accepted rows are the first 16 */
    gr_ledger_row got;
    assert_int_equal(gr_store_generation_get(f->store, "chatcmpl-99-15", &got), GR_OK);
    assert_int_equal(gr_store_generation_get(f->store, "chatcmpl-99-16", &got), GR_ERR_NOT_FOUND);
    gr_ledger_free(l);
}

static void shutdown_drains(void **st) {
    fixture *f = *st;
    gr_ledger *l;
    assert_int_equal(gr_ledger_new(f->store, 4096, &l), GR_OK);
    for (int i = 0; i < 3000; i++) {
        gr_ledger_row r;
        fill_row(&r, 50, i);
        assert_int_equal(gr_ledger_submit(l, &r), GR_OK);
    }
    gr_ledger_free(l); /* no flush: free drains */
    int64_t n = 0;
    assert_int_equal(gr_store_ledger_count(f->store, &n), GR_OK);
    assert_int_equal(n, 3000);
    gr_ledger_flush(NULL);
    gr_ledger_free(NULL);
}

static void linger_small_batches(void **st) {
    fixture *f = *st;
    gr_ledger *l;
    assert_int_equal(gr_ledger_new(f->store, 0, &l), GR_OK);
    gr_ledger_row r;
    fill_row(&r, 60, 1);
    assert_int_equal(gr_ledger_submit(l, &r), GR_OK);
    /* without a flush the row lands within the linger time */
    for (int i = 0; i < 200; i++) {
        gr_ledger_stats s;
        gr_ledger_stats_get(l, &s);
        if (s.written == 1) break;
        usleep(5000);
    }
    gr_ledger_row got;
    assert_int_equal(gr_store_generation_get(f->store, "chatcmpl-60-1", &got), GR_OK);
    /* duplicate request id is ignored, spend not double-counted */
    assert_int_equal(gr_ledger_submit(l, &r), GR_OK);
    gr_ledger_flush(l);
    gr_key_spend sp;
    assert_int_equal(gr_store_key_spend(f->store, r.key_id, gr_store_utc_day(T0),
                                        gr_store_utc_month(T0), &sp),
                     GR_OK);
    assert_int_equal(sp.requests, 1);
    assert_int_equal(sp.total_nusd, r.cost_nusd);
    gr_ledger_free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(threads_flush_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_full_drops, setup, teardown),
        cmocka_unit_test_setup_teardown(shutdown_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(linger_small_batches, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
