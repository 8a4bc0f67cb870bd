/* services.h — the process-wide services the request path uses besides the
 * config: the store (SQLite by default), the live key table (virtual keys with
 * budgets and limits), the async ledger writer, and the admin API context.
 *
 * Created once at start (gr_services_open), refreshed on SIGHUP
 * (gr_services_reload: keys from the store and from config), closed at exit
 * after the workers have stopped (the ledger drains first). Every member is
 * internally thread-safe; workers hold a plain pointer.
 *
 * The store executor (exec, store_exec.h) runs every store call of the
 * request path (admin API, x402 admission, credit and payment bookkeeping)
 * off the worker loops; each of its threads owns a gr_store_conns. Its
 * settings come from the `store:` mapping (threads, queue_max,
 * op_timeout_ms). At shutdown gr_server_run drains it after the workers have
 * stopped and before the worker loops and the services are freed. */
#ifndef GR_SERVICES_H
#define GR_SERVICES_H

#include "admin.h"
#include "config.h"
#include "keys.h"
#include "ledger.h"
#include "store.h"
#include "cluster_state.h"
#include "store_exec.h"
#include "x402_store.h"
#include "responses_store.h"

struct gr_route_learn_sync; /* route_learn_sync.h */

typedef struct gr_pay_x402 gr_pay_x402; /* pay_x402.h: services.c opens it, the request path reads it */

/* One executor thread's own connections (never shared between threads). */
typedef struct gr_store_conns {
    gr_store *store;     /* admin queries and usage */
    gr_x402_store *x402; /* x402 tables; NULL when x402 is off */
    gr_responses_store *responses; /* stored Responses (/v1/responses) */
} gr_store_conns;

typedef struct gr_services {
    gr_store *store;       /* ledger writer's handle */
    gr_store *admin_store; /* admin/usage queries, so they never wait behind a batch */
    gr_keys *keys;
    gr_ledger *ledger;
    gr_admin_ctx admin;
    gr_pay_x402 *x402; /* NULL = x402 disabled */
    gr_shared *shared; /* Redis settings; NULL = single instance (no `redis:`) */
    char *admin_key; /* copy: the admin context outlives config snapshots */
    gr_store_exec *exec; /* store calls of the request path run here */
    char *store_url;     /* copy, for the executor's per-thread connections */
    struct gr_route_learn_sync *learn_sync; /* keeps auto's learned estimates in step with the store */
} gr_services;

GR_MUST_CHECK gr_status gr_services_open(gr_services *s, const gr_config *cfg, char *err, size_t errlen);
void gr_services_reload(gr_services *s, const gr_config *cfg);
void gr_services_close(gr_services *s);

#endif
