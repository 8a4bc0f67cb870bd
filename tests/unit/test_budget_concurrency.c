/* test_budget_concurrency.c — many threads against one key's small budget and
 * tight RPM: exact admit counts, no overspend, per-key independence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "keys.h"

#define THREADS 200
#define T0 1700000000000LL
#define MAXCOST 43460000LL /* a gpt-4o request: 1000 prompt + 4096 max output */

typedef struct run {
    gr_key_entry *keys[8];
    int nkeys;
    int64_t max_cost;
    int actual_mode; /* 0 = actual == max, 1 = actual in [0, max] pseudo-random */
    pthread_barrier_t start;
    atomic_int admitted[8];
    atomic_int rejected_402, rejected_429, rejected_other;
} run;

typedef struct arg {
    run *r;
    int idx;
} arg;

static void *worker(void *p) {
    arg *a = p;
    run *r = a->r;
    gr_key_entry *k = r->keys[a->idx % r->nkeys];
    gr_key_reservation res;
    gr_key_verdict v;
    pthread_barrier_wait(&r->start);
    if (gr_keys_admit(k, "gpt-4o", r->max_cost, 100, T0, &res, &v)) {
        atomic_fetch_add(&r->admitted[a->idx % r->nkeys], 1);
        struct timespec d = {0, 200000}; /* hold the reservation a little */
        nanosleep(&d, NULL);
        int64_t actual = r->actual_mode ? (r->max_cost * ((a->idx * 7919) % 101)) / 100
                                        : r->max_cost;
        gr_keys_settle(&res, actual, 50, T0);
    } else if (v.status == 402) {
        atomic_fetch_add(&r->rejected_402, 1);
    } else if (v.status == 429) {
        atomic_fetch_add(&r->rejected_429, 1);
    } else {
        atomic_fetch_add(&r->rejected_other, 1);
    }
    return NULL;
}

static void go(run *r) {
    pthread_t th[THREADS];
    arg args[THREADS];
    pthread_barrier_init(&r->start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (arg){r, i};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&r->start);
}

static gr_key_entry *make_key(gr_keys *t, int64_t budget, int64_t rpm) {
    gr_key_record spec;
    gr_key_record_init(&spec);
    spec.budget_total_nusd = budget;
    spec.rpm = rpm;
    char pt[GR_KEY_PLAINTEXT_SIZE];
    gr_key_record created;
    assert_int_equal(gr_keys_create(t, &spec, T0, pt, &created), GR_OK);
    gr_key_entry *e = gr_keys_find_id(t, created.id);
    gr_key_record_dispose(&created);
    assert_non_null(e);
    return e;
}

static int64_t spent(gr_key_entry *e) {
    gr_key_info info;
    gr_keys_info(e, T0, &info);
    gr_key_record_dispose(&info.rec);
    assert_int_equal(info.reserved_nusd, 0);
    return info.spent_total_nusd;
}

static void budget_exact(void **st) {
    (void)st;
    for (int rep = 0; rep < 5; rep++) {
        gr_keys *t = gr_keys_new(NULL);
        const int n = 37;
        run r = {.nkeys = 1, .max_cost = MAXCOST};
        r.keys[0] = make_key(t, n * MAXCOST + MAXCOST - 1, 0); /* fits 37, not 38 */
        go(&r);
        assert_int_equal(atomic_load(&r.admitted[0]), n);
        assert_int_equal(atomic_load(&r.rejected_402), THREADS - n);
        assert_int_equal(atomic_load(&r.rejected_other) + atomic_load(&r.rejected_429), 0);
        assert_int_equal(spent(r.keys[0]), n * MAXCOST);
        gr_keys_free(t);
    }
}

static void budget_no_overspend_variable_cost(void **st) {
    (void)st;
    for (int rep = 0; rep < 5; rep++) {
        gr_keys *t = gr_keys_new(NULL);
        int64_t budget = 20 * MAXCOST;
        run r = {.nkeys = 1, .max_cost = MAXCOST, .actual_mode = 1};
        r.keys[0] = make_key(t, budget, 0);
        go(&r);
        int adm = atomic_load(&r.admitted[0]);
        assert_true(adm >= 20); /* cheaper actuals free room for more */
        assert_int_equal(adm + atomic_load(&r.rejected_402), THREADS);
        assert_true(spent(r.keys[0]) <= budget);
        gr_keys_free(t);
    }
}

static void rpm_exact(void **st) {
    (void)st;
    for (int rep = 0; rep < 5; rep++) {
        gr_keys *t = gr_keys_new(NULL);
        run r = {.nkeys = 1, .max_cost = 0};
        r.keys[0] = make_key(t, -1, 25);
        go(&r);
        assert_int_equal(atomic_load(&r.admitted[0]), 25);
        assert_int_equal(atomic_load(&r.rejected_429), THREADS - 25);
        gr_keys_free(t);
    }
}

static void budget_and_rpm(void **st) {
    (void)st;
    gr_keys *t = gr_keys_new(NULL);
    run r = {.nkeys = 1, .max_cost = MAXCOST};
    r.keys[0] = make_key(t, 20 * MAXCOST, 25); /* budget binds first */
    go(&r);
    assert_int_equal(atomic_load(&r.admitted[0]), 20);
    assert_int_equal(atomic_load(&r.rejected_402), THREADS - 20);
    assert_int_equal(spent(r.keys[0]), 20 * MAXCOST);
    gr_keys_free(t);

    t = gr_keys_new(NULL);
    run r2 = {.nkeys = 1, .max_cost = MAXCOST};
    r2.keys[0] = make_key(t, 30 * MAXCOST, 25); /* rpm binds first */
    go(&r2);
    assert_int_equal(atomic_load(&r2.admitted[0]), 25);
    assert_int_equal(atomic_load(&r2.rejected_402) + atomic_load(&r2.rejected_429),
                     THREADS - 25);
    assert_true(spent(r2.keys[0]) <= 30 * MAXCOST);
    gr_keys_free(t);
}

static void many_keys_independent(void **st) {
    (void)st;
    gr_keys *t = gr_keys_new(NULL);
    run r = {.nkeys = 8, .max_cost = MAXCOST};
    for (int i = 0; i < 8; i++) r.keys[i] = make_key(t, 10 * MAXCOST, 0);
    go(&r); /* 25 threads per key */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(atomic_load(&r.admitted[i]), 10);
        assert_int_equal(spent(r.keys[i]), 10 * MAXCOST);
    }
    assert_int_equal(atomic_load(&r.rejected_402), THREADS - 80);
    gr_keys_free(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budget_exact),
        cmocka_unit_test(budget_no_overspend_variable_cost),
        cmocka_unit_test(rpm_exact),
        cmocka_unit_test(budget_and_rpm),
        cmocka_unit_test(many_keys_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
