/* store_exec.h — the store executor: store calls (SQLite or PostgreSQL) run
 * here, never on a worker's event loop, so a slow or dead database cannot
 * stall the loop and the other connections it serves.
 *
 * What it owns: a bounded FIFO of jobs, `threads` dedicated threads and one
 * connection context per thread (opened by the caller's open function on the
 * creating thread before the threads start, closed by gr_store_exec_free; a
 * context is only ever used by its own thread: libpq connections are never
 * shared).
 *
 * A job: run(conn, arg) on an executor thread, then — for a job submitted
 * with gr_store_exec_submit — done(arg, err) on the submitting loop, through
 * that loop's mailbox (a mutex-protected completion list and one event made
 * active from the executor thread; needs evthread_use_pthreads() before the
 * loop's event_base was created). done runs exactly once:
 *   err == NULL                  run() finished; its results are in arg
 *   err == gr_err_store_timeout  the deadline (timeout_ms) passed first; the
 *                                submitter answers without the result.
 * The deadline and the executor race on one atomic state (pending -> done |
 * timed_out), so exactly one of these happens for a job that ran:
 *   - its result is delivered to done(arg, NULL), or
 *   - done(arg, gr_err_store_timeout) was called and late(conn, arg) runs on
 *     the executor thread right after run() (compensation, e.g. give back a
 *     credit that was taken for a request that was answered 503).
 * A job whose deadline passed while it was still queued is not run at all
 * (neither run nor late).
 *
 * Order: jobs start in submission order (one FIFO). A submitted job never
 * starts while a post queued before it is still running on another thread,
 * so a post's writes are visible to every job submitted after it (a payer's
 * credit refund posted at the end of one request is seen by that payer's
 * next credit lookup, as when the refund was synchronous). Posts may run
 * concurrently with each other.
 *
 * Bounds: submit refuses (GR_ERR_TOO_LARGE) when queue_max jobs are waiting:
 * the caller answers 503 at once; nothing queues without bound on that path.
 * gr_store_exec_post (fire and forget: post-response bookkeeping such as a
 * credit refund or a payment record) is never refused, so such work is never
 * lost; its volume is bounded by the requests admitted (at most one post per
 * finished paid request).
 *
 * Life cycle: gr_store_exec_new at start. gr_store_exec_shutdown (the drain
 * on SIGTERM, after the worker loops stopped) refuses new submits, lets the
 * threads run every job still queued (posts queued meanwhile included), then
 * joins them; gr_store_exec_free closes the connections. A post after shutdown runs inline on the caller's thread with
 * the first connection (nothing else uses it any more). Mailboxes must be
 * freed after the executor was shut down (undelivered completions are then
 * dropped without calling done) and before their event_base.
 *
 * Ownership: arg belongs to the job from a successful submit/post until
 * free_arg(arg) at its last release (on the loop or on an executor thread).
 * When submit fails, nothing was taken: the caller still owns arg. */
#ifndef GR_STORE_EXEC_H
#define GR_STORE_EXEC_H

#include "common.h"

struct event_base;

typedef struct gr_store_exec gr_store_exec;
typedef struct gr_store_mailbox gr_store_mailbox;

extern const char gr_err_store_timeout[];

#define GR_STORE_EXEC_DEFAULT_THREADS 2
#define GR_STORE_EXEC_DEFAULT_QUEUE_MAX 1024
#define GR_STORE_EXEC_DEFAULT_OP_TIMEOUT_MS 2000

typedef struct gr_store_exec_opts {
    unsigned threads;       /* 1..64 */
    unsigned queue_max;     /* waiting jobs beyond which submit refuses */
    uint32_t op_timeout_ms; /* default deadline of a submitted job; 0 = none */
    const char *pool;       /* the `pool` label of its metrics (a constant); NULL = "store" */
} gr_store_exec_opts;

/* Opens one thread's connection context (called `threads` times). */
typedef gr_status (*gr_store_exec_open_fn)(void *ctx, void **conn, char *err, size_t errlen);
typedef void (*gr_store_exec_close_fn)(void *ctx, void *conn);

typedef void (*gr_store_job_run_fn)(void *conn, void *arg);      /* executor thread */
typedef void (*gr_store_job_done_fn)(void *arg, const char *err); /* submitting loop */
typedef void (*gr_store_job_late_fn)(void *conn, void *arg);      /* executor thread */
typedef void (*gr_store_job_free_fn)(void *arg);                  /* any thread */

typedef struct gr_store_job_spec {
    gr_store_job_run_fn run;
    gr_store_job_done_fn done;
    gr_store_job_late_fn late;     /* may be NULL */
    gr_store_job_free_fn free_arg; /* may be NULL */
    void *arg;
    uint32_t timeout_ms; /* 0 = the executor's op_timeout_ms */
} gr_store_job_spec;

typedef struct gr_store_exec_stats {
    uint64_t submitted, posted, rejected; /* rejected: queue full */
    uint64_t delivered;                   /* done(arg, NULL) */
    uint64_t timed_out;                   /* done(arg, gr_err_store_timeout) */
    uint64_t late;                        /* ran after its deadline: late() called */
    uint64_t skipped;                     /* deadline passed while queued: not run */
    unsigned queued, running;
} gr_store_exec_stats;

GR_MUST_CHECK gr_status gr_store_exec_new(const gr_store_exec_opts *o, gr_store_exec_open_fn open,
                                          gr_store_exec_close_fn close, void *ctx, gr_store_exec **out, char *err,
                                          size_t errlen);
void gr_store_exec_shutdown(gr_store_exec *ex); /* idempotent; NULL-safe */
void gr_store_exec_free(gr_store_exec *ex);     /* shutdown + close; NULL-safe */
uint32_t gr_store_exec_op_timeout_ms(const gr_store_exec *ex);

/* From the loop that owns mb. GR_OK: queued (done will run on mb's loop).
 * GR_ERR_TOO_LARGE: queue full. GR_ERR_INVALID: shut down. */
GR_MUST_CHECK gr_status gr_store_exec_submit(gr_store_exec *ex, gr_store_mailbox *mb, const gr_store_job_spec *j);
/* Fire and forget, from any thread; never refused, never lost. */
void gr_store_exec_post(gr_store_exec *ex, gr_store_job_run_fn run, gr_store_job_free_fn free_arg, void *arg);
void gr_store_exec_get_stats(gr_store_exec *ex, gr_store_exec_stats *out);

gr_store_mailbox *gr_store_mailbox_new(struct event_base *base);
void gr_store_mailbox_free(gr_store_mailbox *mb); /* NULL-safe; see life cycle */

#endif
