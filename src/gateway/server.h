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
#include "worker.h"

typedef struct gr_server gr_server;

/* Loads nothing: takes a validated config (one reference) and runs until a
 * termination signal has drained the workers. Returns the exit code. */
int gr_server_run(gr_config *cfg);

/* Fills base_url of mock providers with the in-process mock's address. */
void gr_server_patch_mock_urls(gr_config *cfg, uint16_t mock_port);

#endif
