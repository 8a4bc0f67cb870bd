/* worker.h — one worker thread's state as the request path sees it: its
 * loop, HTTP server, upstream client, the process-wide services, and the
 * counters a drain waits on. server.c creates and runs workers; everything
 * on a worker's loop reaches it through gr_request.w. Only the counters are
 * touched from other threads (atomics). */
#ifndef GR_WORKER_H
#define GR_WORKER_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

struct event_base;
typedef struct gr_http_server gr_http_server;
struct event;
typedef struct gr_upstream gr_upstream;
typedef struct gr_server gr_server;
typedef struct gr_services gr_services;
struct gr_route_state;
typedef struct gr_shared_conn gr_shared_conn;
typedef struct gr_store_mailbox gr_store_mailbox;
typedef struct gr_store_exec gr_store_exec;

typedef struct gr_worker {
    int id;
    pthread_t thread;
    gr_server *srv;
    struct event_base *base;
    gr_http_server *http; /* client connections (http_server.h) */
    gr_upstream *up;
    gr_services *svc; /* process-wide: store, keys, ledger, admin */
    struct gr_route_state *route_state; /* worker-local PRNG and round-robin counters */
    gr_shared_conn *shared; /* this worker's Redis connection, NULL = single instance */
    struct event *hints;    /* polls other instances' circuit-breaker hints */
    struct event *renew;    /* worker 0: renews this instance's live Redis reservations */
    struct event *wake; /* main thread -> worker: drain */
    struct event *log_flush;  /* writes this worker's buffered access-log lines (log.access_log_flush_ms) */
    size_t access_log_buffer; /* log.access_log_buffer at start; 0 = unbuffered */
    gr_store_exec *exec;        /* the store executor (= svc->exec), NULL = none */
    gr_store_mailbox *store_mb; /* store executor completions for this loop */
    atomic_int inflight;  /* gr_request objects alive */
    atomic_int unflushed; /* replies not yet completely written (or abandoned) */
    atomic_bool draining;
    uint64_t seq; /* request id counter (worker-local) */
    struct gr_pool *spare_pool; /* one recycled request arena */
    struct gr_json_shard *json_shard; /* blocks for hot-path JSON trees (json_arena.h) */
} gr_worker;

/* Called by a worker when a request finishes, to complete a drain. */
void gr_worker_request_done(gr_worker *w);
/* Called once per request when its reply is fully written or abandoned. */
void gr_worker_reply_flushed(gr_worker *w);
/* Ends the loop when draining and nothing is alive or unflushed. */
void gr_worker_maybe_drained(gr_worker *w);

#endif
