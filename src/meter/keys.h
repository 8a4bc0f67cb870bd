/* keys.h — virtual API keys: generation, hashed storage, authentication and
 * atomic admission against budgets and rate limits.
 *
 * Keys. "gr-" + 32 base62 characters from OpenSSL RAND_bytes (~190 bits).
 * Only the SHA-256 hex of the plaintext is stored; the plaintext is returned
 * once by gr_keys_create. Listings show a short prefix ("gr-AbCdEf").
 *
 * Table. gr_keys holds every known key in memory (loaded from the store at
 * start, kept in step by create/update/revoke, refreshed by gr_keys_reload).
 * Lookup is by hash under a read-write lock taken shared and held for one
 * probe; entries are never freed before the table, so a handle
 * (gr_key_entry *) stays valid for the table's life, even after revocation.
 *
 * Admission. Each key has its own mutex (no global lock on the hot path).
 * gr_keys_admit checks, in order: revoked/expired (401), model allowed (403;
 * the router checks every candidate of a request, see gr_keys_model_allowed),
 * budgets total/day/month (402), RPM (429), TPM (429); only when every check
 * passes does it reserve max_cost_nusd against the budgets and count the
 * request and est_tokens in the rate windows, all under the key's mutex.
 * Admitted iff spent + reserved + max_cost <= budget for every budget, so any
 * number of concurrent requests can never overspend as long as each request's
 * actual cost stays <= the max cost it reserved. gr_keys_settle releases the
 * reservation and adds the actual cost/tokens; call it exactly once per
 * admitted request (gr_keys_settle(res, 0, 0, now) for a request that never
 * reached upstream).
 *
 * Periods are UTC calendar days/months (store.h helpers); a period rolls over
 * lazily on the first admit/settle after the boundary. Windows are 60
 * one-second buckets: a request or token counts for 60 s after its second.
 *
 * Persistence. Spend is not written by this module: the caller puts key id +
 * cost into the request's ledger row, and the store adds it to the key's spend
 * buckets in the same transaction as the row. gr_keys_load reads those
 * buckets back, so a restart keeps spend (minus rows lost per the ledger's
 * bound). Clock: every call takes now_ms (wall clock, UTC) so tests inject
 * time. */
#ifndef GR_KEYS_H
#define GR_KEYS_H

#include "common.h"
#include "store.h"
#include <cjson/cJSON.h>

#define GR_KEY_PLAINTEXT_LEN 35 /* "gr-" + 32 */
#define GR_KEY_PLAINTEXT_SIZE (GR_KEY_PLAINTEXT_LEN + 1)

typedef struct gr_keys gr_keys;
typedef struct gr_key_entry gr_key_entry; /* handle; valid for the table's life */

typedef struct gr_key_verdict {
    int status;           /* 200 admitted; 401, 402, 403, 429 */
    const char *type;     /* OpenAI error type */
    const char *code;     /* OpenAI error code */
    int64_t retry_after_s; /* > 0: send Retry-After */
    char message[320];
} gr_key_verdict;

typedef struct gr_key_reservation {
    gr_key_entry *key;
    int64_t reserved_nusd;
    int64_t tokens_est;
    int64_t window_sec; /* the TPM bucket the estimate went into */
    bool active;
} gr_key_reservation;

/* What GET /v1/key and the admin API show. Caller disposes rec. */
typedef struct gr_key_info {
    gr_key_record rec;
    int64_t spent_total_nusd, spent_day_nusd, spent_month_nusd;
    int64_t reserved_nusd;
    int64_t requests;          /* lifetime requests settled */
    int64_t rpm_used, tpm_used; /* in the current 60 s window */
} gr_key_info;

/* store may be NULL (memory only; tests). Borrowed. */
gr_keys *gr_keys_new(gr_store *store);
void gr_keys_free(gr_keys *t);
size_t gr_keys_count(gr_keys *t); /* keys in the table (config + store) */

/* A key's limits and this process's view of its spend (budgets: -1 = none;
 * rpm/tpm: 0 = none), for enforcing the same limits cluster-wide (cluster_state.c):
 * spent_* = the store's spend at load or refresh plus this process's
 * requests since; committed_* = what the store had committed when last read
 * (the floor of Redis' counters); live_reserved = this process's
 * reservations that Redis admitted and that are not settled yet (what Redis
 * should hold for this instance: re-registered if Redis lost it). */
typedef struct gr_key_limits {
    int64_t rpm, tpm;
    int64_t budget_total_nusd, budget_daily_nusd, budget_monthly_nusd;
    int64_t spent_total_nusd, spent_day_nusd, spent_month_nusd;
    int64_t committed_total_nusd, committed_day_nusd, committed_month_nusd;
    int64_t live_reserved_nusd;
} gr_key_limits;
void gr_keys_limits(gr_key_entry *k, gr_key_limits *out);

/* Load every key and its spend for the periods containing now_ms. Existing
 * entries (same id) get their record refreshed (limits, revocation) but keep
 * their in-memory counters; call again on SIGHUP to pick up CLI changes. */
GR_MUST_CHECK gr_status gr_keys_load(gr_keys *t, int64_t now_ms);
#define gr_keys_reload gr_keys_load

/* Raise every key's spend (total, current day and month, request count) to
 * what the store has committed, when that is more than this process knows:
 * with a store shared by several instances this brings in the others'
 * spend, for GET /v1/key, the admin API, local admission and the Redis seed
 * (cluster_state.h). Never lowers a number. One store read per key; run from the
 * periodic keys refresh (server.keys_refresh_ms). */
GR_MUST_CHECK gr_status gr_keys_refresh_spend(gr_keys *t, int64_t now_ms);
/* The same for one key, from a spend read elsewhere (the store executor). */
void gr_keys_note_committed(gr_key_entry *k, const gr_key_spend *sp, int64_t now_ms);

/* Create a key from spec (name, models_json, metadata_json, limits; id, hash
 * and prefix are generated), persist it, add it to the table. plaintext gets
 * the key, to be shown once. created (optional) gets the stored record. */
GR_MUST_CHECK gr_status gr_keys_create(gr_keys *t, const gr_key_record *spec, int64_t now_ms,
                                       char plaintext[GR_KEY_PLAINTEXT_SIZE],
                                       gr_key_record *created);
/* Replace the mutable fields of key rec->id (name, models, metadata, limits,
 * expiry); persists first, then updates the live entry. */
GR_MUST_CHECK gr_status gr_keys_update(gr_keys *t, const gr_key_record *rec, int64_t now_ms);
GR_MUST_CHECK gr_status gr_keys_revoke(gr_keys *t, const char *id, int64_t now_ms);
/* A new secret for key id (same id, limits and spend): written to plaintext
 * (shown once); the old secret keeps working for grace_ms more (0 = stops at
 * once), then answers 401. GR_ERR_INVALID for a revoked key,
 * GR_ERR_UNSUPPORTED for a config key, GR_ERR_NOT_FOUND. */
GR_MUST_CHECK gr_status gr_keys_rotate(gr_keys *t, const char *id, int64_t grace_ms, int64_t now_ms,
                                       char plaintext[GR_KEY_PLAINTEXT_SIZE]);
/* Undoes a rotation nobody saw (its answer was lost): the previous secret
 * becomes the key's secret again, for good. GR_ERR_INVALID when there is no
 * previous secret (rotated with no grace). */
GR_MUST_CHECK gr_status gr_keys_rotate_revert(gr_keys *t, const char *id, int64_t now_ms);

/* Register a key whose plaintext comes from the config file (keys: section);
 * kept in memory only, id "cfg_<name>". */
GR_MUST_CHECK gr_status gr_keys_add_static(gr_keys *t, const char *name, const char *plaintext,
                                           const cJSON *limits, int64_t now_ms, char *err,
                                           size_t errlen);
/* Apply a config `keys:` array: [{name, key, budget_usd, rpm, ...}, ...]. */
/* The `keys:` section's validator for the config loader (config_sections.c). */
struct gr_config;
extern const gr_conf_key gr_conf_key_spec_keys[]; /* admin API, CLI and `keys:` entries */
void *gr_keys_conf_parse(const cJSON *sec, const struct gr_config *cfg, gr_conf_err *e);
void gr_keys_conf_free(void *conf);

GR_MUST_CHECK gr_status gr_keys_load_config(gr_keys *t, const cJSON *tree, int64_t now_ms,
                                            char *err, size_t errlen);

/* Bearer token -> handle. false with a 401 verdict for unknown, revoked or
 * expired keys. */
bool gr_keys_authenticate(gr_keys *t, const char *bearer, size_t len, int64_t now_ms,
                          gr_key_entry **handle, gr_key_verdict *v);

/* See the header comment. true = admitted (v->status 200, *res active).
 * model: the name checked against the key's `models` list (NULL = refused),
 * or gr_keys_models_checked when the router already checked every candidate
 * of the request with gr_keys_model_allowed / gr_keys_auto_allowed. */
bool gr_keys_admit(gr_key_entry *k, const char *model, int64_t max_cost_nusd, int64_t est_tokens,
                   int64_t now_ms, gr_key_reservation *res, gr_key_verdict *v);
extern const char gr_keys_models_checked[];

/* ---- the key's `models` list (allow-list) ----
 * Entries are model names or aliases, "*" (every model), "auto" (plain
 * `auto`), "auto:<policy>" or "auto:*" (every auto policy, plain included).
 * A key is restricted when its list exists and has no "*". */
bool gr_keys_restricted(gr_key_entry *k);
/* Does an entry name this model by its canonical name or one of its aliases? */
bool gr_keys_model_allowed(gr_key_entry *k, const char *name, const char *const *aliases, size_t naliases);
/* Does the list grant the auto policy `policy` ("auto" or "auto:<p>", len
 * bytes) over the router's whole pool? Without it, auto chooses only among
 * the models the list names. */
bool gr_keys_auto_allowed(gr_key_entry *k, const char *policy, size_t len);
/* Release the reservation and add the actual cost and tokens. Idempotent. */
void gr_keys_settle(gr_key_reservation *res, int64_t actual_cost_nusd, int64_t actual_tokens,
                    int64_t now_ms);
/* Undo an admission that a later check refused (the cluster-wide one in
 * Redis): the reservation is released and the request and its tokens leave
 * the rate windows, so a refused request consumes nothing. Idempotent. */
void gr_keys_cancel(gr_key_reservation *res);
/* Track the reservations Redis holds for this process (cluster_state.h): +max_cost
 * when Redis admitted a request, -max_cost when it is settled there. */
void gr_keys_note_shared(gr_key_entry *k, int64_t delta_nusd);
/* Ids of the keys for which Redis holds reservations of this process
 * (*out: heap array the caller frees; NULL when none). */
size_t gr_keys_shared_ids(gr_keys *t, char (**out)[GR_KEY_ID_MAX]);

gr_key_entry *gr_keys_find_id(gr_keys *t, const char *id);
const char *gr_keys_id(const gr_key_entry *k); /* stable for the table's life */
/* The key's default value of a good answer for plain `model: "auto"` (USD), from its
 * metadata {"auto_value_usd": number >= 0}; -1 when unset or not a number. */
double gr_keys_auto_value_usd(gr_key_entry *k);
/* The key's cost target for plain "auto", USD per 1,000 requests: metadata
 * {"auto_cost_per_1k_usd": number > 0}; -1 when unset or not such a number
 * (route_auto_budget.h; auto_value_usd wins when both are set). */
double gr_keys_auto_cost_per_1k_usd(gr_key_entry *k);
void gr_keys_info(gr_key_entry *k, int64_t now_ms, gr_key_info *out);
/* Snapshot of every entry (admin listing). Free with gr_keys_infos_free. */
void gr_keys_list(gr_keys *t, int64_t now_ms, gr_key_info **out, size_t *n);
void gr_keys_infos_free(gr_key_info *arr, size_t n);

/* ---- helpers shared with admin/CLI ---- */

/* Generate plaintext, hash, prefix and id. */
GR_MUST_CHECK gr_status gr_keys_generate(char plaintext[GR_KEY_PLAINTEXT_SIZE],
                                         gr_key_record *rec);
/* SHA-256 hex of a key. */
void gr_keys_hash(const char *key, size_t len, char out[GR_KEY_HASH_HEX]);

/* Parse a key spec from JSON (admin API body, config entry) into rec. Fields:
 * name, models [..] (or "*"), metadata {..}, budget_usd, budget_daily_usd,
 * budget_monthly_usd (decimal string preferred; number accepted; null =
 * unlimited), rpm, tpm (0/null = unlimited), expires_at (unix ms, or ISO date
 * "YYYY-MM-DD[THH:MM:SSZ]", null = never), expires_in_days. With patch=true
 * only present fields change. */
GR_MUST_CHECK gr_status gr_keys_spec_from_json(const cJSON *obj, bool patch, int64_t now_ms,
                                               gr_key_record *rec, char *err, size_t errlen);
/* Key info -> JSON object for the admin API and GET /v1/key. */
cJSON *gr_keys_info_json(const gr_key_info *info, int64_t now_ms);

/* Verdict -> {"error":{message,type,param,code}}; caller frees. */
char *gr_keys_verdict_json(const gr_key_verdict *v);

#endif
