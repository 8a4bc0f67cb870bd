/* cluster_state.h — state shared by every GateRouter instance, kept in Redis:
 * cluster-wide RPM/TPM windows and budget reservations per key (one atomic
 * Lua script per admission), and claims on one-time tokens (x402 nonces:
 * SET NX with an expiry beyond validBefore).
 *
 * Non-blocking: each worker owns a gr_shared_conn, a hiredis async context on
 * the worker's own libevent loop. Every operation has a deadline
 * (redis.timeout_ms); a reply after it is ignored. When Redis is down or slow
 * the callback reports store_down and the caller applies the documented
 * policy (docs/SCALING.md): budgets and payments fail closed (503); rate
 * limits fail open to the local per-process limits only when
 * redis.rate_limits_fail_open is set.
 *
 * Ownership: an operation belongs to this module until its callback ran or
 * gr_shared_op_cancel() was called (then no callback runs). gr_shared_settle
 * is fire-and-forget. Not thread-safe across workers: one conn per loop. */
#ifndef GR_CLUSTER_STATE_H
#define GR_CLUSTER_STATE_H

#include "common.h"
#include "config.h"
#include "keys.h"

struct event_base;
typedef struct gr_shared gr_shared;
typedef struct gr_shared_conn gr_shared_conn;
typedef struct gr_shared_op gr_shared_op;

typedef struct gr_shared_verdict {
    int status;         /* 200 ok; 429 rate; 402 budget; 503 store down; 409 already claimed / need_seed */
    bool store_down;    /* Redis unreachable, slow or in error */
    int retry_after_s;  /* for 429 */
    const char *reason; /* "rpm", "tpm", "budget_total", "budget_day", "budget_month", "claimed", ... */
    bool need_seed;     /* admit: Redis has no spend counter for the key (new
                         * period, or Redis lost its data): read the store's
                         * spend, then admit again with seeds_fresh */
} gr_shared_verdict;

typedef void (*gr_shared_cb)(void *ud, const gr_shared_verdict *v);

/* The `redis:` section's parser and destructor for the config loader
 * (config_sections.c); the snapshot holds a gr_shared with settings only. */
extern const gr_conf_key gr_conf_redis_keys[];
void *gr_redis_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e);
void gr_redis_conf_free(void *conf);

/* A copy of the snapshot's `redis:` settings; NULL with err[0] == '\0' when
 * the config has no `redis:` section. */
gr_shared *gr_shared_new(const gr_config *cfg, char *err, size_t errlen);
void gr_shared_free(gr_shared *s);
bool gr_shared_rate_limits_fail_open(const gr_shared *s);

gr_shared_conn *gr_shared_conn_new(gr_shared *s, struct event_base *base);
void gr_shared_conn_free(gr_shared_conn *c);
bool gr_shared_conn_ready(const gr_shared_conn *c);
/* Connected (not merely connecting): what /ready reports. */
bool gr_shared_conn_connected(const gr_shared_conn *c);

/* redis.reservation_ttl_ms (default 60 s, gr_conf_redis_keys): how long an
 * instance's reservations outlive its last admission, settlement or renewal
 * for the key; a live instance renews them every third of it
 * (gr_shared_renew), so a dead instance's lapse within this. */

/* Admission for one key, atomically: RPM +1, TPM +est_tokens, and a budget
 * reservation of max_cost against this instance's reservations (their own
 * expiry). Spend counters Redis lacks are never seeded from memory: the
 * verdict asks for a store read (need_seed) unless seeds_fresh says lim's
 * committed_* were just read from the store. Existing counters are raised to
 * lim's committed_* when below (reconciliation; never lowered). */
gr_shared_op *gr_shared_admit(gr_shared_conn *c, const char *key_id, const gr_key_limits *lim, int64_t est_tokens,
                              int64_t max_cost_nusd, int64_t now_ms, bool seeds_fresh, gr_shared_cb cb, void *ud);
/* Releases a reservation and books the actual cost and tokens. */
void gr_shared_settle(gr_shared_conn *c, const char *key_id, const gr_key_limits *lim, int64_t reserved_nusd,
                      int64_t actual_nusd, int64_t est_tokens, int64_t actual_tokens, int64_t now_ms);
/* Renews the expiry of this instance's reservations for key_id (fire and
 * forget): run every reservation_ttl_ms / 3 for the keys with live ones
 * (gr_keys_shared_ids), so only a dead instance's lapse. */
void gr_shared_renew(gr_shared_conn *c, const char *key_id);
uint32_t gr_shared_reservation_ttl_ms(const gr_shared *s);
/* Claims a one-time token cluster-wide for ttl_s: 200 first claim, 409 taken. */
gr_shared_op *gr_shared_claim(gr_shared_conn *c, const char *token, uint32_t ttl_s, gr_shared_cb cb, void *ud);
void gr_shared_op_cancel(gr_shared_op *op);

/* Circuit-breaker hints: an instance whose breaker opens for a deployment
 * publishes it for open_ms; every instance polls the hints of its
 * deployments (gr_shared_hints_poll takes ownership of the array) and treats
 * a hinted deployment as unavailable until the hint expires. */
struct gr_health;
void gr_shared_hint_open(gr_shared_conn *c, const char *dep_key, uint64_t open_ms);
void gr_shared_hints_poll(gr_shared_conn *c, struct gr_health **h, size_t n);

/* Exact-match response cache (opt-in): a miss, an error, a timeout or Redis
 * being down all report hit=false, and the request is simply served. */
typedef void (*gr_shared_cache_cb)(void *ud, bool hit, const char *data, size_t len);
gr_shared_op *gr_shared_cache_get(gr_shared_conn *c, const char *key, gr_shared_cache_cb cb, void *ud);
void gr_shared_cache_set(gr_shared_conn *c, const char *key, const char *data, size_t len, uint32_t ttl_s);

#endif
