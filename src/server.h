/* server.h — process and worker life cycle.
 *
 * One acceptor socket per worker (SO_REUSEPORT), each worker a thread with its
 * own libevent loop, HTTP server and upstream client; nothing on the hot
 * path is shared but the immutable config snapshot and lock-free metrics. The
 * main thread owns signals: SIGHUP reloads the config (new requests see the
 * new snapshot, in-flight ones finish on theirs), SIGTERM/SIGINT drain: stop
 * accepting, let in-flight requests finish (bounded by drain_timeout_ms), exit. */
#ifndef GR_SERVER_H
#define GR_SERVER_H

#include "common.h"
#include "config.h"

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

/* A non-blocking listening TCP socket (SO_REUSEADDR, TCP_NODELAY inherited by
 * accepted sockets, backlog 4096, SO_REUSEPORT if asked); -1 on error
 * (logged). Used by the workers and the mock upstream. */
int gr_listen_socket(const char *host, uint16_t port, bool reuseport);

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
    gr_store_mailbox *store_mb; /* store executor completions for this loop */
    atomic_int inflight;  /* gr_request objects alive */
    atomic_int unflushed; /* replies not yet completely written (or abandoned) */
    atomic_bool draining;
    uint64_t seq; /* request id counter (worker-local) */
    struct gr_pool *spare_pool; /* one recycled request arena */
    struct gr_json_shard *json_shard; /* blocks for hot-path JSON trees (json_arena.h) */
} gr_worker;

/* Loads nothing: takes a validated config (one reference) and runs until a
 * termination signal has drained the workers. Returns the exit code. */
int gr_server_run(gr_config *cfg);

/* Called by a worker when a request finishes, to complete a drain. */
void gr_worker_request_done(gr_worker *w);
/* Called once per request when its reply is fully written or abandoned. */
void gr_worker_reply_flushed(gr_worker *w);

/* Fills base_url of mock providers with the in-process mock's address. */
void gr_server_patch_mock_urls(gr_config *cfg, uint16_t mock_port);

#endif
