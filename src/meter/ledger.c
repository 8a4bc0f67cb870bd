/* ledger.c — bounded MPSC queue of ledger rows and the single writer thread
 * that commits them to the store in batches. Row buffers the writer is done
 * with are kept (up to LEDGER_SPARE_MAX) and handed back to submitters, so a
 * row costs no malloc/free pair — and no free on another thread's arena. */
#include "ledger.h"
#include "metrics.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct gr_ledger {
    gr_store *store;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* writer waits: rows, flush or stop */
    pthread_cond_t idle;  /* flushers wait: processed advanced */
    gr_ledger_row **ring; /* capacity slots */
    gr_ledger_row **spare; /* recycled row buffers, under mu */
    size_t nspare;
    size_t capacity, head, count;
    uint64_t accepted;  /* rows ever pushed (sequence), under mu */
    uint64_t processed; /* rows popped and written or failed, under mu */
    int flushers;       /* threads waiting in gr_ledger_flush */
    bool stopping, paused;
    bool writer_idle; /* the writer runs SCHED_IDLE (see writer_main), under mu */
    _Atomic uint64_t dropped, failed, written, batches, conflicts;
    _Atomic int64_t last_drop_log_ms;
};

static void *writer_main(void *arg);

#define LEDGER_SPARE_MAX (2 * GR_LEDGER_BATCH)

/* Scheduling. A batch commit takes milliseconds of CPU (≈10 µs a row on
 * SQLite); on a core shared with a worker that was the gateway's p99 at
 * concurrency 1 (+1.6 ms, measured: gone when the writer runs elsewhere). So
 * the writer runs as SCHED_IDLE — only when its core has nothing else to do —
 * while its backlog is small. It is switched to SCHED_OTHER as soon as rows
 * pile up (LEDGER_IDLE_BACKLOG, by the submitter that crosses it), someone
 * waits in gr_ledger_flush, or the ledger stops (by that thread: an idle-class
 * writer may not get the CPU to notice by itself), so a saturated machine
 * still never drops rows for lack of CPU; the writer goes back to idle itself
 * once the backlog is small again. Used only if the writer may switch back
 * (root, or RLIMIT_NICE allows it); else it stays SCHED_OTHER throughout. */
#define LEDGER_IDLE_BACKLOG (4 * GR_LEDGER_BATCH)

static bool sched_set(pthread_t t, bool idle) {
    struct sched_param sp = {0};
    return pthread_setschedparam(t, idle ? SCHED_IDLE : SCHED_OTHER, &sp) == 0;
}

/* Under mu: the writer back to normal scheduling now. */
static void writer_wake_up(gr_ledger *l) {
    if (l->writer_idle && sched_set(l->writer, false)) l->writer_idle = false;
}


gr_status gr_ledger_new(gr_store *store, size_t capacity, gr_ledger **out) {
    *out = NULL;
    if (!store) return GR_ERR_INVALID;
    gr_ledger *l = gr_xcalloc(1, sizeof *l);
    l->store = store;
    l->capacity = capacity ? capacity : GR_LEDGER_DEFAULT_CAPACITY;
    l->ring = gr_xcalloc(l->capacity, sizeof *l->ring);
    l->spare = gr_xcalloc(LEDGER_SPARE_MAX, sizeof *l->spare);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&l->idle, NULL);
    if (pthread_create(&l->writer, NULL, writer_main, l) != 0) {
        pthread_cond_destroy(&l->work);
        pthread_cond_destroy(&l->idle);
        pthread_mutex_destroy(&l->mu);
        free(l->ring);
        free(l->spare);
        free(l);
        return GR_ERR_IO;
    }
    *out = l;
    return GR_OK;
}

gr_status gr_ledger_submit(gr_ledger *l, const gr_ledger_row *row) {
    gr_ledger_row *copy = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->nspare) copy = l->spare[--l->nspare];
    pthread_mutex_unlock(&l->mu);
    if (!copy) copy = gr_xmalloc(sizeof *copy); /* outside the lock */
    *copy = *row;
    bool wake = false;
    gr_status rc = GR_OK;
    pthread_mutex_lock(&l->mu);
    if (GR_UNLIKELY(l->stopping)) {
        rc = GR_ERR_INVALID;
    } else if (GR_UNLIKELY(l->count == l->capacity)) {
        rc = GR_ERR_TOO_LARGE;
    } else {
        l->ring[(l->head + l->count) % l->capacity] = copy;
        l->count++;
        l->accepted++;
        if (GR_UNLIKELY(l->count >= LEDGER_IDLE_BACKLOG)) writer_wake_up(l);
        wake = l->count == 1 || l->count == GR_LEDGER_BATCH;
        copy = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (wake) pthread_cond_signal(&l->work);
    if (GR_UNLIKELY(copy != NULL)) {
        free(copy);
        if (rc == GR_ERR_TOO_LARGE) {
            uint64_t n = atomic_fetch_add(&l->dropped, 1) + 1;
            int64_t now = (int64_t)gr_now_us() / 1000;
            int64_t last = atomic_load(&l->last_drop_log_ms);
            if (now - last >= 1000 &&
                atomic_compare_exchange_strong(&l->last_drop_log_ms, &last, now))
                fprintf(stderr,
                        "gaterouter: ledger: queue full (%zu rows), dropped request %s "
                        "(%llu dropped so far)\n",
                        l->capacity, row->request_id, (unsigned long long)n);
        }
    }
    return rc;
}

static void deadline_after_ms(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Request ids are the gateway's and unique by construction (instance_id.h),
 * so a row the store skipped as already present is never expected: it is
 * counted (gaterouter_ledger_conflicts_total) and logged as an error every
 * time. After a retry (attempt > 0) it is most likely the earlier attempt's
 * commit whose acknowledgement was lost, and the log says so. */
static void report_conflicts(gr_ledger *l, const gr_ledger_row *rows, size_t n, size_t conflicts, int attempt) {
    uint64_t total = atomic_fetch_add(&l->conflicts, conflicts) + conflicts;
    fprintf(stderr,
            "gaterouter: ledger: ERROR: %zu of %zu rows had a request id already in the ledger and were not "
            "written again (batch %s .. %s; %llu conflicts so far)%s\n",
            conflicts, n, rows[0].request_id, rows[n - 1].request_id, (unsigned long long)total,
            attempt ? "; this batch was a retry, so its first attempt had probably committed" : "");
}

/* A networked store (PostgreSQL) can be down for seconds: keep retrying one
 * batch with exponential backoff for up to GR_LEDGER_RETRY_WINDOW_MS while new
 * rows wait in the bounded ring (dropped and counted only when it is full).
 * Rows the store refuses as data (GR_ERR_INVALID) are not retried; at
 * shutdown the window shrinks to three tries so exit is never held hostage. */
static bool write_batch(gr_ledger *l, gr_ledger_row *rows, size_t n) {
    uint64_t start = gr_now_us();
    long delay_ms = 50;
    gr_status rc = GR_OK;
    for (int attempt = 0;; attempt++) {
        size_t conflicts = 0;
        rc = gr_store_ledger_insert_counted(l->store, rows, n, &conflicts);
        gr_store_health_note(rc);
        if (rc == GR_OK) {
            if (GR_UNLIKELY(conflicts)) report_conflicts(l, rows, n, conflicts, attempt);
            return true;
        }
        if (rc == GR_ERR_INVALID) break;
        pthread_mutex_lock(&l->mu);
        bool stopping = l->stopping;
        pthread_mutex_unlock(&l->mu);
        if ((stopping && attempt >= 2) || gr_now_us() - start > (uint64_t)GR_LEDGER_RETRY_WINDOW_MS * 1000u) break;
        if (attempt == 0) fprintf(stderr, "gaterouter: ledger: store write failed (%s); retrying\n", gr_status_str(rc));
        struct timespec d = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&d, NULL);
        delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
    }
    fprintf(stderr, "gaterouter: ledger: a batch of %zu rows could not be written (%s); rows lost\n", n,
            gr_status_str(rc));
    return false;
}

static void *writer_main(void *arg) {
    gr_ledger *l = arg;
    gr_ledger_row *batch = gr_xmalloc(GR_LEDGER_BATCH * sizeof *batch);
    gr_ledger_row *taken[GR_LEDGER_BATCH];
    bool can_idle = sched_set(pthread_self(), true) && sched_set(pthread_self(), false);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while ((l->count == 0 || l->paused) && !l->stopping)
            pthread_cond_wait(&l->work, &l->mu);
        if (l->count == 0 && l->stopping) break;
        if (can_idle) {
            bool want_idle = l->count < LEDGER_IDLE_BACKLOG && !l->flushers && !l->stopping;
            if (want_idle != l->writer_idle && sched_set(pthread_self(), want_idle)) l->writer_idle = want_idle;
        }
        /* Linger so a trickle of rows shares one transaction, unless someone
         * is waiting for the data or we are shutting down. */
        if (l->count < GR_LEDGER_BATCH && !l->stopping && l->flushers == 0) {
            struct timespec dl;
            deadline_after_ms(&dl, GR_LEDGER_LINGER_MS);
            while (l->count < GR_LEDGER_BATCH && !l->stopping && l->flushers == 0)
                if (pthread_cond_timedwait(&l->work, &l->mu, &dl) == ETIMEDOUT) break;
        }
        /* Only pointers move under the lock (submitters wait on it); the
         * rows are copied out after it is released. */
        size_t n = l->count < GR_LEDGER_BATCH ? l->count : GR_LEDGER_BATCH;
        for (size_t i = 0; i < n; i++) {
            taken[i] = l->ring[l->head];
            l->ring[l->head] = NULL;
            l->head = (l->head + 1) % l->capacity;
        }
        l->count -= n;
        pthread_mutex_unlock(&l->mu);

        for (size_t i = 0; i < n; i++) batch[i] = *taken[i];
        uint64_t t0 = gr_now_us();
        bool wrote = write_batch(l, batch, n);
        gr_metrics_observe_us(GR_M_LEDGER_BATCH_SECONDS, NULL, gr_now_us() - t0);
        if (wrote) {
            atomic_fetch_add(&l->written, n);
            atomic_fetch_add(&l->batches, 1);
        } else {
            atomic_fetch_add(&l->failed, n);
        }

        pthread_mutex_lock(&l->mu);
        size_t keep = LEDGER_SPARE_MAX - l->nspare < n ? LEDGER_SPARE_MAX - l->nspare : n;
        memcpy(l->spare + l->nspare, taken, keep * sizeof *taken);
        l->nspare += keep;
        l->processed += n;
        if (keep < n) {
            pthread_mutex_unlock(&l->mu);
            for (size_t i = keep; i < n; i++) free(taken[i]);
            pthread_mutex_lock(&l->mu);
        }
        if (l->flushers) pthread_cond_broadcast(&l->idle);
    }
    pthread_mutex_unlock(&l->mu);
    free(batch);
    return NULL;
}

void gr_ledger_flush(gr_ledger *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    uint64_t target = l->accepted;
    l->flushers++;
    writer_wake_up(l);
    pthread_cond_signal(&l->work);
    while (l->processed < target && !(l->paused && l->count > 0))
        pthread_cond_wait(&l->idle, &l->mu);
    l->flushers--;
    pthread_mutex_unlock(&l->mu);
}

void gr_ledger_pause(gr_ledger *l, bool paused) {
    pthread_mutex_lock(&l->mu);
    l->paused = paused;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->idle);
}

void gr_ledger_stats_get(gr_ledger *l, gr_ledger_stats *out) {
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&l->mu);
    out->submitted = l->accepted;
    out->depth = l->count;
    out->capacity = l->capacity;
    pthread_mutex_unlock(&l->mu);
    out->dropped = atomic_load(&l->dropped);
    out->failed = atomic_load(&l->failed);
    out->conflicts = atomic_load(&l->conflicts);
    out->written = atomic_load(&l->written);
    out->batches = atomic_load(&l->batches);
}

void gr_ledger_free(gr_ledger *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    l->paused = false;
    writer_wake_up(l);
    pthread_mutex_unlock(&l->mu);
    pthread_cond_broadcast(&l->work);
    pthread_join(l->writer, NULL);
    for (size_t i = 0; i < l->count; i++) free(l->ring[(l->head + i) % l->capacity]);
    for (size_t i = 0; i < l->nspare; i++) free(l->spare[i]);
    free(l->spare);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->idle);
    pthread_mutex_destroy(&l->mu);
    free(l->ring);
    free(l);
}
