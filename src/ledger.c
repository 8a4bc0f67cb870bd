/* ledger.c — bounded MPSC queue of ledger rows and the single writer thread
 * that commits them to the store in batches. */
#include "ledger.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct gr_ledger {
    gr_store *store;
    pthread_t writer;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* writer waits: rows, flush or stop */
    pthread_cond_t idle;  /* flushers wait: processed advanced */
    gr_ledger_row **ring; /* capacity slots */
    size_t capacity, head, count;
    uint64_t accepted;  /* rows ever pushed (sequence), under mu */
    uint64_t processed; /* rows popped and written or failed, under mu */
    int flushers;       /* threads waiting in gr_ledger_flush */
    bool stopping, paused;
    _Atomic uint64_t dropped, failed, written, batches;
    _Atomic int64_t last_drop_log_ms;
};

static void *writer_main(void *arg);

gr_status gr_ledger_new(gr_store *store, size_t capacity, gr_ledger **out) {
    *out = NULL;
    if (!store) return GR_ERR_INVALID;
    gr_ledger *l = gr_xcalloc(1, sizeof *l);
    l->store = store;
    l->capacity = capacity ? capacity : GR_LEDGER_DEFAULT_CAPACITY;
    l->ring = gr_xcalloc(l->capacity, sizeof *l->ring);
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
        free(l);
        return GR_ERR_IO;
    }
    *out = l;
    return GR_OK;
}

gr_status gr_ledger_submit(gr_ledger *l, const gr_ledger_row *row) {
    gr_ledger_row *copy = gr_xmalloc(sizeof *copy); /* outside the lock */
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
        rc = gr_store_ledger_insert(l->store, rows, n);
        if (rc == GR_OK) return true;
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
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while ((l->count == 0 || l->paused) && !l->stopping)
            pthread_cond_wait(&l->work, &l->mu);
        if (l->count == 0 && l->stopping) break;
        /* Linger so a trickle of rows shares one transaction, unless someone
         * is waiting for the data or we are shutting down. */
        if (l->count < GR_LEDGER_BATCH && !l->stopping && l->flushers == 0) {
            struct timespec dl;
            deadline_after_ms(&dl, GR_LEDGER_LINGER_MS);
            while (l->count < GR_LEDGER_BATCH && !l->stopping && l->flushers == 0)
                if (pthread_cond_timedwait(&l->work, &l->mu, &dl) == ETIMEDOUT) break;
        }
        size_t n = l->count < GR_LEDGER_BATCH ? l->count : GR_LEDGER_BATCH;
        for (size_t i = 0; i < n; i++) {
            gr_ledger_row *r = l->ring[l->head];
            l->ring[l->head] = NULL;
            l->head = (l->head + 1) % l->capacity;
            batch[i] = *r;
            free(r);
        }
        l->count -= n;
        pthread_mutex_unlock(&l->mu);

        if (write_batch(l, batch, n)) {
            atomic_fetch_add(&l->written, n);
            atomic_fetch_add(&l->batches, 1);
        } else {
            atomic_fetch_add(&l->failed, n);
        }

        pthread_mutex_lock(&l->mu);
        l->processed += n;
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
    out->written = atomic_load(&l->written);
    out->batches = atomic_load(&l->batches);
}

void gr_ledger_free(gr_ledger *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stopping = true;
    l->paused = false;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_broadcast(&l->work);
    pthread_join(l->writer, NULL);
    for (size_t i = 0; i < l->count; i++) free(l->ring[(l->head + i) % l->capacity]);
    pthread_cond_destroy(&l->work);
    pthread_cond_destroy(&l->idle);
    pthread_mutex_destroy(&l->mu);
    free(l->ring);
    free(l);
}
