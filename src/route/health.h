/* health.h — process-wide live health of upstream deployments.
 *
 * Owns: one gr_health record per deployment key "provider/upstream_model":
 * in-flight count, EWMA of time-to-first-token and per-token time, passive
 * error tracking, a circuit breaker and the 429 retry-after cooldown.
 *
 * Life cycle: records are created on first gr_health_get() and never freed
 * while the process runs, so pointers stay valid across config reloads (a
 * reloaded config that keeps "provider/upstream_model" keeps its history).
 * gr_health_shutdown() frees everything at exit (tests, leak checkers).
 *
 * Threading: lookup is lock-free (a fixed array of buckets whose chain heads
 * are inserted with compare-and-swap; records are immutable-keyed and never
 * unlinked). Counters and EWMAs are atomics. Breaker transitions take a
 * per-record mutex; gr_health_available() takes no lock while the breaker is
 * closed (the common case). There is no global lock on the hot path.
 *
 * Breaker: CLOSED --(N consecutive failures, or error rate >= R over the last
 * W results with at least M samples)--> OPEN --(cooldown)--> HALF_OPEN: one
 * probe request is admitted (claimed by gr_health_on_start) --success-->
 * CLOSED, --failure--> OPEN again. A probe that never reports is forgotten
 * after another cooldown. 429 does not trip the breaker; it sets a per
 * deployment cooldown (retry-after, or a default) during which the deployment
 * is unavailable. Outcomes the request caused (gr_outcome.request_fault) are
 * neutral: they change no counter but in_flight. Other client errors
 * (401/403/404) count as success: the upstream is up. */
#ifndef GR_HEALTH_H
#define GR_HEALTH_H

#include "common.h"
#include "config_schema.h"

typedef enum {
    GR_OUTCOME_OK = 0,        /* 2xx, response delivered */
    GR_OUTCOME_HTTP,          /* upstream answered with a non-2xx status */
    GR_OUTCOME_TIMEOUT,       /* connect / first byte / idle / total timeout */
    GR_OUTCOME_CONNECT_ERROR, /* DNS, TCP, TLS failure, connection reset before response */
} gr_outcome_kind;

/* Error classes recognised in an upstream error body (gr_route_classify_error). */
typedef enum {
    GR_ERRCLASS_NONE = 0,
    GR_ERRCLASS_CONTEXT_LENGTH, /* prompt too long for the model */
    GR_ERRCLASS_CONTENT_POLICY, /* refused by a safety / content filter */
} gr_error_class;

typedef struct gr_outcome {
    gr_outcome_kind kind;
    int http_status;          /* for GR_OUTCOME_HTTP (and OK: 200) */
    gr_error_class err_class; /* for GR_OUTCOME_HTTP */
    /* The request itself caused this outcome (a 400/413/422, a context-length
     * or content-filter refusal whatever its status, a response cut at the
     * gateway's own cap): neutral for health — it neither fails nor
     * succeeds, so one client's bad requests never open (or close) the
     * breaker everyone shares. */
    bool request_fault;
} gr_outcome;

typedef enum {
    GR_BREAKER_CLOSED = 0,
    GR_BREAKER_OPEN = 1,
    GR_BREAKER_HALF_OPEN = 2,
} gr_breaker_state;

/* Tunables (process-wide; gr_health_configure may be called at config load). */
typedef struct gr_health_opts {
    uint32_t consecutive_failures; /* open after this many failures in a row (5) */
    uint32_t window;               /* error-rate window in results, <= 64 (20) */
    uint32_t min_samples;          /* minimum results in window before the rate counts (10) */
    double error_rate;             /* open at this failure share of the window (0.5) */
    uint64_t cooldown_us;          /* open -> half-open after this long (30 s) */
    uint64_t default_429_cooldown_us; /* 429 without retry-after (5 s) */
    uint64_t max_retry_after_us;   /* cap on an upstream's retry-after (300 s) */
    double ewma_alpha;             /* weight of the newest sample (0.2) */
} gr_health_opts;

typedef struct gr_health gr_health;

/* Read-only snapshot for routing, metrics and tests. */
typedef struct gr_health_snapshot {
    int32_t in_flight;
    double ewma_ttft_us;      /* 0 = no sample yet */
    double ewma_per_token_us; /* 0 = no sample yet */
    uint64_t samples;         /* successful results folded into the EWMAs */
    uint64_t requests, failures;
    uint32_t consecutive_failures;
    gr_breaker_state state;
    uint64_t open_until_us;     /* breaker cooldown end (OPEN) */
    uint64_t cooldown_until_us; /* 429 cooldown end */
} gr_health_snapshot;

void gr_health_opts_default(gr_health_opts *o);
void gr_health_configure(const gr_health_opts *o); /* NULL = defaults */
/* Reads `routing.health` (NULL section = defaults); the error names the key. */
struct cJSON;
/* The declared keys of `routing.health` (config_schema.h). */
extern const gr_conf_key gr_conf_health_keys[];
GR_MUST_CHECK gr_status gr_health_opts_from_json(const struct cJSON *section, gr_health_opts *o, char *err,
                                                size_t errlen);

/* The record for "provider/upstream_model" (created on first use; never NULL
 * for a non-NULL key; the pointer stays valid until gr_health_shutdown). */
gr_health *gr_health_get(const char *key);
/* Same, from the two parts (no allocation when the record exists). */
gr_health *gr_health_get2(const char *provider, const char *upstream_model);
const char *gr_health_key(const gr_health *h);

/* Can a request be sent now? False while OPEN, in a 429 cooldown, or
 * HALF_OPEN with its probe already taken. Lock-free when CLOSED. */
bool gr_health_available(gr_health *h, uint64_t now_us);

/* A request is being sent to this deployment. Returns true if it is the
 * half-open probe. Every on_start must be paired with one on_result. */
bool gr_health_on_start(gr_health *h, uint64_t now_us);

/* The request finished. ttft_us / total_us measured from send; tokens =
 * completion tokens (0 if unknown); retry_after_s from a 429 (0 = none). */
void gr_health_on_result(gr_health *h, const gr_outcome *o, uint64_t ttft_us, uint64_t total_us,
                         uint64_t tokens, uint32_t retry_after_s, uint64_t now_us);

void gr_health_snapshot_get(gr_health *h, gr_health_snapshot *out);
/* Another instance reported this deployment's breaker open until until_us
 * (monotonic clock here): treat it as unavailable until then. */
void gr_health_hint_open(gr_health *h, uint64_t until_us);
const char *gr_breaker_state_name(gr_breaker_state s);

/* Is this outcome a failure of the upstream (for breaker and retry)? */
bool gr_health_outcome_is_failure(const gr_outcome *o);

/* Calls fn for every record (deployments seen since start), in no set order. */
void gr_health_each(void (*fn)(gr_health *h, void *ud), void *ud);

/* Forget all statistics (records stay allocated); for tests. */
void gr_health_reset_all(void);
/* Free every record; only when no other thread can touch them (exit, tests). */
void gr_health_shutdown(void);

#endif
