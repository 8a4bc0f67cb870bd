/* test_store_exec.c — the store executor (src/store/store_exec.c): jobs run on its
 * threads with their own connection, completions come back on the loop that
 * submitted them, deadlines answer first and the late result is compensated,
 * a full queue refuses at once, shutdown drains every queued job, and every
 * job argument is released exactly once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "store_exec.h"

#include <event2/event.h>
#include <event2/thread.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

/* ---- a fake connection per thread ---- */

static atomic_int g_opened, g_closed;

typedef struct conn {
    int id;
    pthread_t user; /* the one thread that ever used it */
    bool used;
} conn;

static struct conn *g_conns[8];

/* Once every thread has left, a connection may move to the caller's thread. */
static void forget_users(void) {
    for (int i = 0; i < 8 && i < atomic_load(&g_opened); i++) g_conns[i]->used = false;
}

static gr_status open_conn(void *ctx, void **out, char *err, size_t errlen) {
    (void)ctx;
    (void)err;
    (void)errlen;
    conn *c = calloc(1, sizeof *c);
    c->id = atomic_fetch_add(&g_opened, 1);
    if (c->id < 8) g_conns[c->id] = c;
    *out = c;
    return GR_OK;
}

static void close_conn(void *ctx, void *c) {
    (void)ctx;
    atomic_fetch_add(&g_closed, 1);
    free(c);
}

/* ---- a job argument that records what happened to it ---- */

static atomic_int g_freed, g_ran, g_late, g_done_ok, g_done_timeout;

typedef struct targ {
    unsigned sleep_ms;
    pthread_mutex_t *gate; /* held by the test: the job blocks until released */
    pthread_t run_thread, done_thread;
    bool ran, late, done;
    const char *err;
    uint64_t done_us;
    struct event_base *stop_base; /* loopexit after done */
    atomic_int *counter;
} targ;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void t_run(void *cp, void *arg) {
    conn *c = cp;
    targ *a = arg;
    if (c->used) assert_true(pthread_equal(c->user, pthread_self())); /* a connection stays on its thread */
    c->used = true;
    c->user = pthread_self();
    if (a->gate) {
        pthread_mutex_lock(a->gate);
        pthread_mutex_unlock(a->gate);
    }
    if (a->sleep_ms) usleep(a->sleep_ms * 1000u);
    a->run_thread = pthread_self();
    a->ran = true;
    if (a->counter) atomic_fetch_add(a->counter, 1);
    atomic_fetch_add(&g_ran, 1);
}

static void t_late(void *cp, void *arg) {
    (void)cp;
    targ *a = arg;
    assert_true(a->ran);
    a->late = true;
    atomic_fetch_add(&g_late, 1);
}

static void t_done(void *arg, const char *err) {
    targ *a = arg;
    assert_false(a->done); /* exactly once */
    a->done = true;
    a->err = err;
    a->done_thread = pthread_self();
    a->done_us = now_us();
    if (err == gr_err_store_timeout) atomic_fetch_add(&g_done_timeout, 1);
    else atomic_fetch_add(&g_done_ok, 1);
    if (a->stop_base) event_base_loopexit(a->stop_base, NULL);
}

static void t_free(void *arg) {
    atomic_fetch_add(&g_freed, 1);
    free(arg);
}

static targ *new_arg(void) { return calloc(1, sizeof(targ)); }

static int reset(void **state) {
    (void)state;
    atomic_store(&g_opened, 0);
    atomic_store(&g_closed, 0);
    atomic_store(&g_freed, 0);
    atomic_store(&g_ran, 0);
    atomic_store(&g_late, 0);
    atomic_store(&g_done_ok, 0);
    atomic_store(&g_done_timeout, 0);
    return 0;
}

static gr_store_exec *make(unsigned threads, unsigned qmax, uint32_t timeout_ms) {
    gr_store_exec_opts o = {threads, qmax, timeout_ms, NULL};
    gr_store_exec *ex = NULL;
    char err[128];
    assert_int_equal(gr_store_exec_new(&o, open_conn, close_conn, NULL, &ex, err, sizeof err), GR_OK);
    assert_int_equal(atomic_load(&g_opened), (int)threads);
    return ex;
}

static gr_store_job_spec spec(targ *a, uint32_t timeout_ms) {
    return (gr_store_job_spec){.run = t_run, .done = t_done, .late = t_late, .free_arg = t_free, .arg = a,
                               .timeout_ms = timeout_ms};
}

/* Runs base until the flag is set (or 5 s). */
static void loop_until(struct event_base *base, atomic_int *v, int want) {
    uint64_t end = now_us() + 5000000u;
    while (atomic_load(v) < want && now_us() < end) {
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

/* ---- exec-1: completion on the submitting loop, results in arg ---- */

typedef struct loop_thread {
    struct event_base *base;
    pthread_t t;
} loop_thread;

static void *loop_main(void *arg) {
    loop_thread *lt = arg;
    event_base_loop(lt->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

static void test_completion_on_right_loop(void **state) {
    (void)state;
    gr_store_exec *ex = make(2, 16, 0);
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    /* a second loop on its own thread */
    loop_thread lt = {event_base_new(), 0};
    gr_store_mailbox *mb2 = gr_store_mailbox_new(lt.base);
    pthread_create(&lt.t, NULL, loop_main, &lt);

    targ *a = new_arg();
    a->sleep_ms = 20;
    assert_int_equal(gr_store_exec_submit(ex, mb, &(gr_store_job_spec){.run = t_run, .done = t_done, .arg = a}), GR_OK);
    targ *b = new_arg();
    b->stop_base = lt.base;
    assert_int_equal(gr_store_exec_submit(ex, mb2, &(gr_store_job_spec){.run = t_run, .done = t_done, .arg = b}), GR_OK);
    loop_until(base, &g_done_ok, 2);
    pthread_join(lt.t, NULL); /* b's done stops the second loop */
    assert_true(a->ran && a->done && a->err == NULL);
    assert_false(pthread_equal(a->run_thread, pthread_self())); /* ran on an executor thread */
    assert_true(pthread_equal(a->done_thread, pthread_self())); /* completed on this loop */
    assert_true(b->done && b->err == NULL);
    assert_true(pthread_equal(b->done_thread, lt.t)); /* the other loop's thread */
    gr_store_exec_stats st;
    gr_store_exec_get_stats(ex, &st);
    assert_int_equal(st.submitted, 2);
    assert_int_equal(st.delivered, 2);
    free(a); /* no free_arg given: ours */
    free(b);
    gr_store_exec_free(ex);
    assert_int_equal(atomic_load(&g_closed), 2);
    gr_store_mailbox_free(mb);
    gr_store_mailbox_free(mb2);
    event_base_free(base);
    event_base_free(lt.base);
}

/* ---- exec-2: the deadline answers first; the late result is compensated ---- */

static void test_deadline(void **state) {
    (void)state;
    gr_store_exec *ex = make(1, 16, 60);
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    targ *slow = new_arg();
    slow->sleep_ms = 400;
    targ *queued = new_arg(); /* waits behind slow: its deadline passes before it starts */
    uint64_t t0 = now_us();
    gr_store_job_spec s1 = spec(slow, 0); /* 0 = the executor's 60 ms */
    assert_int_equal(gr_store_exec_submit(ex, mb, &s1), GR_OK);
    gr_store_job_spec s2 = spec(queued, 0);
    assert_int_equal(gr_store_exec_submit(ex, mb, &s2), GR_OK);
    loop_until(base, &g_done_timeout, 2);
    uint64_t waited = now_us() - t0;
    assert_int_equal(atomic_load(&g_done_timeout), 2);
    assert_true(waited < 300000u); /* answered at the deadline, not after the 400 ms job */
    assert_true(waited >= 55000u);
    /* the slow job finishes later: its late hook runs, its result is not delivered */
    uint64_t end = now_us() + 3000000u;
    while (atomic_load(&g_freed) < 2 && now_us() < end) usleep(2000);
    assert_int_equal(atomic_load(&g_late), 1);
    assert_int_equal(atomic_load(&g_ran), 1); /* the queued one never ran */
    assert_int_equal(atomic_load(&g_done_ok), 0);
    assert_int_equal(atomic_load(&g_freed), 2);
    gr_store_exec_stats st;
    gr_store_exec_get_stats(ex, &st);
    assert_int_equal(st.timed_out, 2);
    assert_int_equal(st.late, 1);
    assert_int_equal(st.skipped, 1);
    /* a fast job with the same deadline is delivered, not timed out */
    targ *fast = new_arg();
    gr_store_job_spec s3 = spec(fast, 0);
    assert_int_equal(gr_store_exec_submit(ex, mb, &s3), GR_OK);
    loop_until(base, &g_done_ok, 1);
    assert_int_equal(atomic_load(&g_done_ok), 1);
    assert_int_equal(atomic_load(&g_freed), 3);
    gr_store_exec_free(ex);
    gr_store_mailbox_free(mb);
    event_base_free(base);
}

/* ---- exec-3: a full queue refuses at once; nothing is taken ---- */

static void test_queue_full(void **state) {
    (void)state;
    gr_store_exec *ex = make(1, 2, 0);
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    targ *blocker = new_arg();
    blocker->gate = &gate;
    gr_store_job_spec sb = spec(blocker, 0);
    assert_int_equal(gr_store_exec_submit(ex, mb, &sb), GR_OK);
    gr_store_exec_stats st;
    for (int i = 0; i < 500; i++) { /* until the thread holds the blocker */
        gr_store_exec_get_stats(ex, &st);
        if (st.running == 1) break;
        usleep(1000);
    }
    assert_int_equal(st.running, 1);
    targ *q[2];
    for (int i = 0; i < 2; i++) {
        q[i] = new_arg();
        gr_store_job_spec s = spec(q[i], 0);
        assert_int_equal(gr_store_exec_submit(ex, mb, &s), GR_OK);
    }
    targ *over = new_arg();
    uint64_t t0 = now_us();
    gr_store_job_spec so = spec(over, 0);
    assert_int_equal(gr_store_exec_submit(ex, mb, &so), GR_ERR_TOO_LARGE);
    assert_true(now_us() - t0 < 50000u); /* refused at once, never waits */
    free(over);                          /* refused: still ours */
    gr_store_exec_get_stats(ex, &st);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.queued, 2);
    pthread_mutex_unlock(&gate);
    loop_until(base, &g_done_ok, 3);
    assert_int_equal(atomic_load(&g_done_ok), 3);
    assert_int_equal(atomic_load(&g_freed), 3);
    gr_store_exec_free(ex);
    gr_store_mailbox_free(mb);
    event_base_free(base);
    pthread_mutex_destroy(&gate);
}

/* ---- exec-4: shutdown drains every queued job; posts are never lost ---- */

static void test_drain_on_shutdown(void **state) {
    (void)state;
    gr_store_exec *ex = make(2, 4, 0);
    atomic_int count = 0;
    for (int i = 0; i < 200; i++) { /* far beyond queue_max: posts are never refused */
        targ *a = new_arg();
        a->sleep_ms = i % 10 == 0 ? 2 : 0;
        a->counter = &count;
        gr_store_exec_post(ex, t_run, t_free, a);
    }
    gr_store_exec_shutdown(ex); /* returns once every queued job ran */
    assert_int_equal(atomic_load(&count), 200);
    assert_int_equal(atomic_load(&g_freed), 200);
    /* after shutdown: a post still runs (inline), a submit is refused */
    forget_users();
    targ *a = new_arg();
    a->counter = &count;
    gr_store_exec_post(ex, t_run, t_free, a);
    assert_int_equal(atomic_load(&count), 201);
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    targ *b = new_arg();
    gr_store_job_spec sb = spec(b, 0);
    assert_int_equal(gr_store_exec_submit(ex, mb, &sb), GR_ERR_INVALID);
    free(b);
    gr_store_exec_shutdown(ex); /* idempotent */
    gr_store_exec_free(ex);
    gr_store_mailbox_free(mb);
    event_base_free(base);
}

/* ---- exec-5: completions nobody waits for are released with the mailbox ---- */

static void test_undelivered_released(void **state) {
    (void)state;
    gr_store_exec *ex = make(1, 8, 5000);
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    for (int i = 0; i < 3; i++) {
        gr_store_job_spec s = spec(new_arg(), 0);
        assert_int_equal(gr_store_exec_submit(ex, mb, &s), GR_OK);
    }
    gr_store_exec_shutdown(ex); /* they ran; the loop never turned */
    assert_int_equal(atomic_load(&g_ran), 3);
    assert_int_equal(atomic_load(&g_freed), 0);
    gr_store_mailbox_free(mb); /* drops them (and their deadline timers) without done */
    assert_int_equal(atomic_load(&g_freed), 3);
    assert_int_equal(atomic_load(&g_done_ok) + atomic_load(&g_done_timeout), 0);
    gr_store_exec_free(ex);
    event_base_free(base);
}

/* ---- exec-6: a job submitted after a post sees the post's writes ---- */

static atomic_int g_written;

static void slow_write(void *cp, void *arg) {
    (void)cp;
    (void)arg;
    usleep(150000);
    atomic_store(&g_written, 1);
}

static void read_written(void *cp, void *arg) {
    (void)cp;
    targ *a = arg;
    a->ran = atomic_load(&g_written) == 1; /* "ran" = saw the write */
}

static void test_post_then_read(void **state) {
    (void)state;
    atomic_store(&g_written, 0);
    gr_store_exec *ex = make(2, 16, 0); /* two threads: the read could start beside the post */
    struct event_base *base = event_base_new();
    gr_store_mailbox *mb = gr_store_mailbox_new(base);
    gr_store_exec_post(ex, slow_write, NULL, NULL);
    usleep(20000); /* the post is running on one thread; the other is idle */
    targ *a = new_arg();
    assert_int_equal(gr_store_exec_submit(ex, mb, &(gr_store_job_spec){.run = read_written, .done = t_done, .arg = a}),
                     GR_OK);
    loop_until(base, &g_done_ok, 1);
    assert_true(a->done);
    assert_true(a->ran); /* it waited for the post */
    free(a);
    gr_store_exec_free(ex);
    gr_store_mailbox_free(mb);
    event_base_free(base);
}

/* ---- exec-7: bad options ---- */

static void test_bad_options(void **state) {
    (void)state;
    gr_store_exec_opts o = {0, 10, 0, NULL};
    gr_store_exec *ex = (gr_store_exec *)1;
    char err[128];
    assert_int_equal(gr_store_exec_new(&o, open_conn, close_conn, NULL, &ex, err, sizeof err), GR_ERR_INVALID);
    assert_null(ex);
    gr_store_exec_free(NULL);
    gr_store_mailbox_free(NULL);
}

int main(void) {
    evthread_use_pthreads();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_completion_on_right_loop, reset),
        cmocka_unit_test_setup(test_deadline, reset),
        cmocka_unit_test_setup(test_queue_full, reset),
        cmocka_unit_test_setup(test_drain_on_shutdown, reset),
        cmocka_unit_test_setup(test_undelivered_released, reset),
        cmocka_unit_test_setup(test_post_then_read, reset),
        cmocka_unit_test_setup(test_bad_options, reset),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    libevent_global_shutdown();
    return rc;
}
