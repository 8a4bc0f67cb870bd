/* route_learn_sync.h — keeps the process's learned-estimates snapshot
 * (route_learn.h) in step with the store: one thread with its own store
 * connection re-reads every model's observation sums each
 * routing.auto.learning.refresh_ms (read from the current config snapshot
 * every second, so SIGHUP changes it within one) and publishes them whole. The request path never
 * reads the store for them. With PostgreSQL every instance sharing the
 * database sees the others' ratings within one period.
 *
 * A rating stored by this instance kicks the thread (gr_route_learn_sync_kick)
 * so the instance that took it reflects it at once. A store that does not
 * answer keeps the last snapshot (logged once per outage). */
#ifndef GR_ROUTE_LEARN_SYNC_H
#define GR_ROUTE_LEARN_SYNC_H

#include "common.h"
#include "store.h"

typedef struct gr_route_learn_sync gr_route_learn_sync;

/* Reads the sums once from s and publishes them. */
GR_MUST_CHECK gr_status gr_route_learn_sync_once(gr_store *s);

/* Opens its connection to store_url, loads once (a failure there is logged,
 * not fatal) and starts the thread. */
GR_MUST_CHECK gr_status gr_route_learn_sync_start(const char *store_url, gr_route_learn_sync **out, char *err,
                                                  size_t errlen);
/* Refresh now (any thread; NULL-safe). */
void gr_route_learn_sync_kick(gr_route_learn_sync *s);
/* Stops and joins the thread, closes its connection (NULL-safe). */
void gr_route_learn_sync_stop(gr_route_learn_sync *s);

#endif
