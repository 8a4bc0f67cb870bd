/* services.h — the process-wide services the request path uses besides the
 * config: the store (SQLite by default), the live key table (virtual keys with
 * budgets and limits), the async ledger writer, and the admin API context.
 *
 * Created once at start (gr_services_open), refreshed on SIGHUP
 * (gr_services_reload: keys from the store and from config), closed at exit
 * after the workers have stopped (the ledger drains first). Every member is
 * internally thread-safe; workers hold a plain pointer. */
#ifndef GR_SERVICES_H
#define GR_SERVICES_H

#include "admin.h"
#include "config.h"
#include "keys.h"
#include "ledger.h"
#include "store.h"
#include "pay_x402.h"
#include "shared.h"

typedef struct gr_services {
    gr_store *store;       /* ledger writer's handle */
    gr_store *admin_store; /* admin/usage queries, so they never wait behind a batch */
    gr_keys *keys;
    gr_ledger *ledger;
    gr_admin_ctx admin;
    gr_pay_x402 *x402; /* NULL = x402 disabled */
    gr_shared *shared; /* Redis settings; NULL = single instance (no `redis:`) */
    char *admin_key; /* copy: the admin context outlives config snapshots */
} gr_services;

GR_MUST_CHECK gr_status gr_services_open(gr_services *s, const gr_config *cfg, char *err, size_t errlen);
void gr_services_reload(gr_services *s, const gr_config *cfg);
void gr_services_close(gr_services *s);

#endif
