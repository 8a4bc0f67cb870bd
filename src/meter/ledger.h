/* ledger.h — the asynchronous usage ledger: worker threads submit one row per
 * request; one writer thread batches rows into store transactions.
 *
 * Never blocks a worker: gr_ledger_submit copies the row to the heap outside
 * any lock, then takes the queue mutex only to push one pointer into a
 * bounded ring (capacity fixed at creation) and maybe signal the writer. When
 * the ring is full the row is DROPPED: the dropped counter is incremented and
 * an error is logged (at most once per second); the call still returns at
 * once. Size the capacity for the write rate times the longest stall you
 * accept (default 65536 rows).
 *
 * The writer takes up to GR_LEDGER_BATCH rows (or whatever arrived within
 * GR_LEDGER_LINGER_MS of the first) and inserts them in one transaction.
 * A failed batch is retried (3 attempts, backoff) and then counted as failed
 * and logged; it is never retried forever, so the queue keeps moving.
 *
 * Durability bound (docs/KEYS.md): a crash or kill -9 loses at most the rows
 * still in the ring plus the one batch being written (< capacity +
 * GR_LEDGER_BATCH rows, i.e. what was submitted in roughly the last
 * GR_LEDGER_LINGER_MS plus any backlog). Committed rows are never lost or
 * corrupted by a process crash (SQLite WAL + atomic commit).
 *
 * Life cycle: gr_ledger_new starts the writer; gr_ledger_flush waits until
 * everything submitted before the call is written (or failed); gr_ledger_free
 * drains the queue, stops the writer and frees (the store stays the
 * caller's). */
#ifndef GR_LEDGER_H
#define GR_LEDGER_H

#include "common.h"
#include "store.h"

#define GR_LEDGER_BATCH 256
#define GR_LEDGER_LINGER_MS 50
#define GR_LEDGER_RETRY_WINDOW_MS 30000 /* keep retrying one batch this long (store outage) */
#define GR_LEDGER_DEFAULT_CAPACITY 65536

typedef struct gr_ledger gr_ledger;

typedef struct gr_ledger_stats {
    uint64_t submitted; /* accepted into the queue */
    uint64_t written;   /* committed to the store */
    uint64_t dropped;   /* rejected because the queue was full */
    uint64_t failed;    /* dequeued but the store rejected the batch */
    uint64_t conflicts; /* rows skipped: their request id was already stored (logged) */
    uint64_t batches;   /* committed transactions */
    size_t depth;       /* rows in the queue now */
    size_t capacity;
} gr_ledger_stats;

/* store is borrowed and must outlive the ledger. capacity 0 = default. */
GR_MUST_CHECK gr_status gr_ledger_new(gr_store *store, size_t capacity, gr_ledger **out);
void gr_ledger_free(gr_ledger *l); /* drains; NULL-safe */

/* Thread-safe, never blocks on I/O. Returns GR_OK when queued, GR_ERR_TOO_LARGE
 * when dropped because the queue is full, GR_ERR_INVALID after shutdown began. */
gr_status gr_ledger_submit(gr_ledger *l, const gr_ledger_row *row);

/* Block until every row submitted before this call is committed or failed. */
void gr_ledger_flush(gr_ledger *l);

void gr_ledger_stats_get(gr_ledger *l, gr_ledger_stats *out);

/* Test hook: pause/resume the writer so tests can fill the queue. */
void gr_ledger_pause(gr_ledger *l, bool paused);

#endif
