/* store_exec.c — the store executor (see store_exec.h): a bounded job queue
 * served by dedicated threads with their own store connections, completions
 * delivered back to the submitting event loop, per-job deadlines. */
#include "store_exec.h"

#include "log.h"
#include "metrics.h"

#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

const char gr_err_store_timeout[] = "store_timeout";

enum { JOB_PENDING = 0, JOB_DONE, JOB_TIMED_OUT };

typedef struct job {
    struct job *next;
    gr_store_job_spec spec;
    gr_store_exec *ex;
    gr_store_mailbox *mb; /* NULL: fire and forget */
    struct event *timer;  /* deadline, on mb's loop; only that loop touches it */
    atomic_int state;
    atomic_int refs; /* 2 for a submitted job (loop side + executor side), 1 for a post */
    uint64_t seq;    /* order of enqueueing */
    uint64_t queued_us; /* when it was queued (gr_now_us), for the wait/run histograms */
} job;

struct gr_store_mailbox {
    struct event_base *base;
    struct event *ev;
    pthread_mutex_t mu;
    job *head, *tail;
};

typedef struct exec_thread {
    gr_store_exec *ex;
    pthread_t thread;
    void *conn;
    bool started;
    uint64_t post_seq; /* seq of the post this thread runs now, 0 = none (under ex->mu) */
} exec_thread;

struct gr_store_exec {
    gr_store_exec_opts o;
    gr_store_exec_close_fn close;
    void *ctx;
    exec_thread *th;
    unsigned nth;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t post_done; /* a post finished: jobs waiting behind it re-check */
    uint64_t seq;
    job *head, *tail;
    unsigned queued, running, live; /* live: threads still serving the queue */
    bool stopping, shut;
    pthread_mutex_t inline_mu; /* posts run inline after shutdown, one at a time */
    atomic_uint_least64_t submitted, posted, rejected, delivered, timed_out, late, skipped;
    char labels_wait[GR_METRICS_LABELS_CAP], labels_run[GR_METRICS_LABELS_CAP];
};

/* ---- jobs ---- */

static void job_release(job *j, int n) {
    if (atomic_fetch_sub(&j->refs, n) != n) return;
    if (j->spec.free_arg) j->spec.free_arg(j->spec.arg);
    free(j);
}

/* Deadline on the submitting loop: answer without the result, unless the
 * executor finished first (then the completion is on its way). */
static void on_deadline(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    job *j = arg;
    int expect = JOB_PENDING;
    if (!atomic_compare_exchange_strong(&j->state, &expect, JOB_TIMED_OUT)) return;
    atomic_fetch_add(&j->ex->timed_out, 1);
    event_free(j->timer);
    j->timer = NULL;
    j->spec.done(j->spec.arg, gr_err_store_timeout);
    job_release(j, 1);
}

/* ---- mailbox (loop side) ---- */

static void on_mail(evutil_socket_t fd, short what, void *arg) {
    (void)fd;
    (void)what;
    gr_store_mailbox *mb = arg;
    pthread_mutex_lock(&mb->mu);
    job *list = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->mu);
    while (list) {
        job *j = list;
        list = j->next;
        if (j->timer) {
            event_free(j->timer);
            j->timer = NULL;
        }
        j->spec.done(j->spec.arg, NULL);
        job_release(j, 2);
    }
}

gr_store_mailbox *gr_store_mailbox_new(struct event_base *base) {
    gr_store_mailbox *mb = gr_xcalloc(1, sizeof *mb);
    mb->base = base;
    pthread_mutex_init(&mb->mu, NULL);
    mb->ev = event_new(base, -1, 0, on_mail, mb);
    if (!mb->ev) abort();
    return mb;
}

void gr_store_mailbox_free(gr_store_mailbox *mb) {
    if (!mb) return;
    event_free(mb->ev);
    job *list = mb->head;
    while (list) { /* completions nobody will wait for any more: drop them */
        job *j = list;
        list = j->next;
        if (j->timer) event_free(j->timer);
        j->timer = NULL;
        job_release(j, 2);
    }
    pthread_mutex_destroy(&mb->mu);
    free(mb);
}

static void mailbox_put(gr_store_mailbox *mb, job *j) {
    j->next = NULL;
    pthread_mutex_lock(&mb->mu);
    if (mb->tail) mb->tail->next = j;
    else mb->head = j;
    mb->tail = j;
    pthread_mutex_unlock(&mb->mu);
    event_active(mb->ev, EV_TIMEOUT, 0);
}

/* ---- executor threads ---- */

/* The job's run, timed: gaterouter_store_job_duration_seconds{stage}. */
static void run_timed(exec_thread *t, job *j) {
    uint64_t start = gr_now_us();
    gr_metrics_observe_us(GR_M_STORE_JOB_SECONDS, t->ex->labels_wait, start - j->queued_us);
    j->spec.run(t->conn, j->spec.arg);
    gr_metrics_observe_us(GR_M_STORE_JOB_SECONDS, t->ex->labels_run, gr_now_us() - start);
}

static void run_one(exec_thread *t, job *j) {
    gr_store_exec *ex = t->ex;
    if (!j->mb) { /* fire and forget */
        run_timed(t, j);
        job_release(j, 1);
        return;
    }
    if (atomic_load(&j->state) == JOB_TIMED_OUT) { /* answered already; nothing happened: do nothing */
        atomic_fetch_add(&ex->skipped, 1);
        job_release(j, 1);
        return;
    }
    run_timed(t, j);
    int expect = JOB_PENDING;
    if (atomic_compare_exchange_strong(&j->state, &expect, JOB_DONE)) {
        atomic_fetch_add(&ex->delivered, 1);
        mailbox_put(j->mb, j); /* the loop drops both references */
        return;
    }
    atomic_fetch_add(&ex->late, 1);
    if (j->spec.late) j->spec.late(t->conn, j->spec.arg);
    job_release(j, 1);
}

/* Is a post enqueued before seq still running on some thread? (ex->mu held) */
static bool older_post_running(gr_store_exec *ex, uint64_t seq) {
    for (unsigned i = 0; i < ex->nth; i++)
        if (ex->th[i].post_seq && ex->th[i].post_seq < seq) return true;
    return false;
}

static void *exec_main(void *arg) {
    exec_thread *t = arg;
    gr_store_exec *ex = t->ex;
    for (;;) {
        pthread_mutex_lock(&ex->mu);
        while (!ex->head && !ex->stopping) pthread_cond_wait(&ex->cv, &ex->mu);
        job *j = ex->head;
        if (!j) { /* stopping and drained */
            ex->live--;
            pthread_mutex_unlock(&ex->mu);
            break;
        }
        ex->head = j->next;
        if (!ex->head) ex->tail = NULL;
        ex->queued--;
        ex->running++;
        bool is_post = !j->mb;
        if (is_post) t->post_seq = j->seq;
        else /* read-your-writes: never start before the posts queued ahead of it have finished */
            while (older_post_running(ex, j->seq)) pthread_cond_wait(&ex->post_done, &ex->mu);
        pthread_mutex_unlock(&ex->mu);
        j->next = NULL;
        run_one(t, j);
        pthread_mutex_lock(&ex->mu);
        ex->running--;
        if (is_post) {
            t->post_seq = 0;
            pthread_cond_broadcast(&ex->post_done);
        }
        pthread_mutex_unlock(&ex->mu);
    }
    return NULL;
}

gr_status gr_store_exec_new(const gr_store_exec_opts *o, gr_store_exec_open_fn open, gr_store_exec_close_fn close,
                            void *ctx, gr_store_exec **out, char *err, size_t errlen) {
    *out = NULL;
    if (!o->threads || o->threads > 64 || !o->queue_max) {
        snprintf(err, errlen, "store executor: threads must be 1..64 and queue_max > 0");
        return GR_ERR_INVALID;
    }
    gr_store_exec *ex = gr_xcalloc(1, sizeof *ex);
    ex->o = *o;
    const char *pool = o->pool ? o->pool : "store";
    size_t lo = gr_metrics_label(ex->labels_wait, 0, sizeof ex->labels_wait, "pool", pool);
    gr_metrics_label(ex->labels_wait, lo, sizeof ex->labels_wait, "stage", "wait");
    gr_metrics_label(ex->labels_run, gr_metrics_label(ex->labels_run, 0, sizeof ex->labels_run, "pool", pool),
                     sizeof ex->labels_run, "stage", "run");
    ex->close = close;
    ex->ctx = ctx;
    pthread_mutex_init(&ex->mu, NULL);
    pthread_mutex_init(&ex->inline_mu, NULL);
    pthread_cond_init(&ex->cv, NULL);
    pthread_cond_init(&ex->post_done, NULL);
    ex->th = gr_xcalloc(o->threads, sizeof *ex->th);
    ex->nth = o->threads;
    gr_status rc = GR_OK;
    for (unsigned i = 0; i < ex->nth && rc == GR_OK; i++) {
        ex->th[i].ex = ex;
        if (open) rc = open(ctx, &ex->th[i].conn, err, errlen);
    }
    /* Executor threads take no process signals (the main loop owns them). */
    sigset_t set, old;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    for (unsigned i = 0; i < ex->nth && rc == GR_OK; i++) {
        pthread_mutex_lock(&ex->mu);
        ex->live++;
        pthread_mutex_unlock(&ex->mu);
        if (pthread_create(&ex->th[i].thread, NULL, exec_main, &ex->th[i]) != 0) {
            snprintf(err, errlen, "store executor: cannot start a thread");
            pthread_mutex_lock(&ex->mu);
            ex->live--;
            pthread_mutex_unlock(&ex->mu);
            rc = GR_ERR_IO;
        } else {
            ex->th[i].started = true;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != GR_OK) {
        gr_store_exec_free(ex);
        return rc;
    }
    *out = ex;
    return GR_OK;
}

uint32_t gr_store_exec_op_timeout_ms(const gr_store_exec *ex) { return ex->o.op_timeout_ms; }

void gr_store_exec_shutdown(gr_store_exec *ex) {
    if (!ex) return;
    pthread_mutex_lock(&ex->mu);
    bool again = ex->shut;
    ex->stopping = true;
    ex->shut = true;
    pthread_cond_broadcast(&ex->cv);
    pthread_mutex_unlock(&ex->mu);
    if (again) return;
    for (unsigned i = 0; i < ex->nth; i++)
        if (ex->th[i].started) pthread_join(ex->th[i].thread, NULL);
}

void gr_store_exec_free(gr_store_exec *ex) {
    if (!ex) return;
    gr_store_exec_shutdown(ex);
    for (unsigned i = 0; i < ex->nth; i++)
        if (ex->th[i].conn && ex->close) ex->close(ex->ctx, ex->th[i].conn);
    free(ex->th);
    pthread_mutex_destroy(&ex->inline_mu);
    pthread_cond_destroy(&ex->cv);
    pthread_cond_destroy(&ex->post_done);
    pthread_mutex_destroy(&ex->mu);
    free(ex);
}

static void enqueue_locked(gr_store_exec *ex, job *j) {
    j->next = NULL;
    j->seq = ++ex->seq;
    j->queued_us = gr_now_us();
    if (ex->tail) ex->tail->next = j;
    else ex->head = j;
    ex->tail = j;
    ex->queued++;
    pthread_cond_signal(&ex->cv);
}

gr_status gr_store_exec_submit(gr_store_exec *ex, gr_store_mailbox *mb, const gr_store_job_spec *s) {
    job *j = gr_xcalloc(1, sizeof *j);
    j->spec = *s;
    j->ex = ex;
    j->mb = mb;
    atomic_init(&j->state, JOB_PENDING);
    atomic_init(&j->refs, 2);
    uint32_t ms = s->timeout_ms ? s->timeout_ms : ex->o.op_timeout_ms;
    if (ms) { /* armed before a thread can see the job; it fires on this loop, after we return */
        j->timer = evtimer_new(mb->base, on_deadline, j);
        if (!j->timer) abort();
        struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(j->timer, &tv);
    }
    gr_status rc = GR_OK;
    pthread_mutex_lock(&ex->mu);
    if (ex->stopping || ex->live == 0) rc = GR_ERR_INVALID;
    else if (ex->queued >= ex->o.queue_max) rc = GR_ERR_TOO_LARGE;
    else enqueue_locked(ex, j);
    pthread_mutex_unlock(&ex->mu);
    if (rc != GR_OK) { /* nothing taken: the caller still owns arg */
        if (j->timer) event_free(j->timer);
        free(j);
        if (rc == GR_ERR_TOO_LARGE) atomic_fetch_add(&ex->rejected, 1);
        return rc;
    }
    atomic_fetch_add(&ex->submitted, 1);
    return GR_OK;
}

void gr_store_exec_post(gr_store_exec *ex, gr_store_job_run_fn run, gr_store_job_free_fn free_arg, void *arg) {
    job *j = gr_xcalloc(1, sizeof *j);
    j->ex = ex;
    j->spec.run = run;
    j->spec.free_arg = free_arg;
    j->spec.arg = arg;
    atomic_init(&j->refs, 1);
    atomic_fetch_add(&ex->posted, 1);
    pthread_mutex_lock(&ex->mu);
    if (ex->live > 0) { /* a thread still drains the queue (also while shutting down) */
        enqueue_locked(ex, j);
        pthread_mutex_unlock(&ex->mu);
        return;
    }
    pthread_mutex_unlock(&ex->mu);
    /* Every thread has left: nothing else uses the connections; run it here. */
    pthread_mutex_lock(&ex->inline_mu);
    run(ex->nth ? ex->th[0].conn : NULL, arg);
    pthread_mutex_unlock(&ex->inline_mu);
    job_release(j, 1);
}

void gr_store_exec_get_stats(gr_store_exec *ex, gr_store_exec_stats *out) {
    memset(out, 0, sizeof *out);
    out->submitted = atomic_load(&ex->submitted);
    out->posted = atomic_load(&ex->posted);
    out->rejected = atomic_load(&ex->rejected);
    out->delivered = atomic_load(&ex->delivered);
    out->timed_out = atomic_load(&ex->timed_out);
    out->late = atomic_load(&ex->late);
    out->skipped = atomic_load(&ex->skipped);
    pthread_mutex_lock(&ex->mu);
    out->queued = ex->queued;
    out->running = ex->running;
    pthread_mutex_unlock(&ex->mu);
}
