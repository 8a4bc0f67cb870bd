/* store.h — the persistence interface: virtual keys, the usage ledger, per-key
 * spend and usage queries, behind a vtable so SQLite (store_sqlite.c, the
 * default) and PostgreSQL (store_pg.c) are interchangeable.
 *
 * URL: "sqlite:///abs/path.db", "sqlite://./rel/path.db", "sqlite://:memory:",
 * optionally "?synchronous=normal|full" (default normal; see docs/KEYS.md for
 * the durability bound). "postgres://user:pass@host:port/db?params" (or
 * postgresql://) selects the PostgreSQL backend (store_pg.c, libpq; see
 * docs/KEYS.md "PostgreSQL"): one connection per handle.
 *
 * Threading: a gr_store handle may be used from any thread; every operation is
 * self-contained (its own transaction) and operations on one handle are
 * serialized by a per-handle mutex. Open a second handle when readers (admin
 * API, CLI) must not wait behind the ledger writer's batch — SQLite in WAL mode
 * lets one writer and many readers proceed concurrently.
 *
 * Ownership: records returned by the store are heap memory the caller releases
 * with gr_key_record_dispose / gr_key_records_free / free(). */
#ifndef GR_STORE_H
#define GR_STORE_H

#include "common.h"
#include "config_schema.h"

/* ---- data model ---- */

#define GR_KEY_ID_MAX 40
#define GR_KEY_HASH_HEX 65 /* SHA-256 hex + NUL */
#define GR_KEY_PREFIX_MAX 16

/* A virtual API key as persisted. Limits: -1 = no budget; 0 = no rpm/tpm
 * limit; expires_at_ms 0 = never; revoked_at_ms 0 = active. */
typedef struct gr_key_record {
    char id[GR_KEY_ID_MAX];          /* "key_" + 16 hex, stable public id */
    char hash[GR_KEY_HASH_HEX];      /* SHA-256 hex of the plaintext key */
    char prefix[GR_KEY_PREFIX_MAX];  /* "gr-AbCdEf" for listings */
    char *name;                      /* may be NULL */
    char *models_json;               /* JSON array of allowed names, NULL = all */
    char *metadata_json;             /* JSON object, NULL = none */
    int64_t budget_total_nusd;
    int64_t budget_daily_nusd;
    int64_t budget_monthly_nusd;
    int64_t rpm;
    int64_t tpm;
    int64_t expires_at_ms;
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t revoked_at_ms;
    /* the secret before the last rotation, accepted until prev_until_ms
     * (POST /admin/keys/{id}/rotate); "" / 0 = none */
    char prev_hash[GR_KEY_HASH_HEX];
    int64_t prev_until_ms;
} gr_key_record;

void gr_key_record_init(gr_key_record *k); /* zero + "unlimited" budgets */
void gr_key_record_dispose(gr_key_record *k);
void gr_key_record_copy(gr_key_record *dst, const gr_key_record *src); /* deep */
void gr_key_records_free(gr_key_record *arr, size_t n);

/* Persisted spend of one key, from the ledger (maintained in the same
 * transaction as the ledger rows, so it never disagrees with them). */
typedef struct gr_key_spend {
    int64_t total_nusd;
    int64_t day_nusd;   /* in UTC day `day` */
    int64_t month_nusd; /* in UTC month `month` */
    int64_t requests;
} gr_key_spend;

/* One request in the usage ledger. Strings are fixed-size and truncated
 * (set them with GR_LEDGER_SET); empty string = absent. */
typedef struct gr_ledger_row {
    char request_id[64];      /* the gateway's id (instance_id.h): unique */
    char client_request_id[64]; /* the client's X-Request-Id; not unique */
    int64_t ts_ms;            /* wall clock at request start */
    char key_id[GR_KEY_ID_MAX];
    char payer[48];           /* x402 payer address when paid by x402 */
    char model_asked[128];
    char model_served[128];
    char provider[64];
    int64_t tokens_in;        /* prompt tokens, cached included */
    int64_t tokens_out;       /* completion tokens, reasoning included */
    int64_t tokens_cached;
    int64_t tokens_reasoning;
    int64_t tokens_cache_write; /* prompt tokens written to a provider cache (inside tokens_in) */
    int64_t cost_nusd;
    bool estimated;           /* tokens counted by the gateway's estimate */
    int64_t latency_us;
    int64_t ttft_us;          /* 0 = not streamed / no token */
    int status;               /* HTTP status returned to the client */
    int attempts;             /* upstream attempts made (retries and fallbacks included); 0 = none */
    char route_reason[256];
    char error_type[64];
    /* x402 (filled by the x402 module; empty/0 otherwise) */
    char x402_amount_atomic[40];  /* amount paid, token atomic units, decimal */
    int64_t x402_credit_delta_nusd; /* credit added (+) or consumed (-) */
    char x402_network[32];
    char x402_tx_hash[80];
    char x402_settlement[24];     /* "", "verified", "settled", "failed" */
    /* auto decisions: the served model's config name, the prompt's skill
     * mixture and difficulty, so a later rating can be attributed
     * (route_learn.h gr_route_learn_format); "" otherwise */
    char route_learn[256];
} gr_ledger_row;

/* Copy a C string into a fixed ledger field, truncating. */
#define GR_LEDGER_SET(field, src) gr_store_strlcpy((field), (src), sizeof(field))
size_t gr_store_strlcpy(char *dst, const char *src, size_t cap);

typedef enum {
    GR_USAGE_BY_KEY = 0,
    GR_USAGE_BY_MODEL,    /* model served (asked when none was served) */
    GR_USAGE_BY_PROVIDER,
    GR_USAGE_BY_DAY,      /* UTC YYYY-MM-DD */
} gr_usage_group_by;

typedef struct gr_usage_query {
    gr_usage_group_by by;
    int64_t from_ms; /* inclusive; 0 = beginning */
    int64_t to_ms;   /* exclusive; 0 = no end */
    const char *key_id; /* NULL = all keys */
} gr_usage_query;

typedef struct gr_usage_group {
    char group[128];
    int64_t requests;
    int64_t errors; /* status >= 400 */
    int64_t tokens_in;
    int64_t tokens_out;
    int64_t tokens_cached;
    int64_t cost_nusd;
    int64_t estimated; /* rows whose tokens were estimated */
} gr_usage_group;

/* ---- ratings and what the router learns from them (route_learn.h) ---- */

#define GR_LEARN_SKILLS 6 /* the auto router's skills (route_auto.h gr_skill) */

/* Observation sums of one model: ratings weighted by each rated prompt's
 * skill mixture — successes s, failures f, and the successes the router had
 * predicted for those prompts before learning (e) — per skill. */
typedef struct gr_learned_rec {
    char model[128]; /* config name */
    double s[GR_LEARN_SKILLS];
    double f[GR_LEARN_SKILLS];
    double e[GR_LEARN_SKILLS];
    int64_t ratings;
} gr_learned_rec;

/* One rating of one generation (POST /v1/feedback). */
typedef struct gr_feedback_rec {
    char request_id[64];
    char key_id[GR_KEY_ID_MAX]; /* the rated generation's key */
    char model[128];            /* config name of the model that answered; "" = not an auto decision */
    double score;               /* 0..1 */
    double mix[GR_LEARN_SKILLS]; /* the prompt's skill mixture; all 0 = not attributable */
    double predicted;           /* the router's P(good) for it before learning */
    const char *comment;        /* may be NULL */
    int64_t at_ms;
} gr_feedback_rec;
/* A read of raw ledger rows, newest first (the console's reports and
 * exports, admin_report.c). */
typedef struct gr_ledger_scan {
    int64_t from_ms;    /* inclusive; 0 = beginning */
    int64_t to_ms;      /* exclusive; 0 = no end */
    const char *key_id; /* NULL = all keys */
    int64_t limit;      /* at most this many rows (> 0) */
} gr_ledger_scan;

/* Called once per row; false stops the scan. */
typedef bool (*gr_ledger_scan_fn)(const gr_ledger_row *row, void *arg);

/* ---- alert outbox (features/alerts.c; store_alert_sql.h) ---- */

#define GR_ALERT_KEY_MAX 192
#define GR_ALERT_KIND_MAX 32
typedef enum { GR_ALERT_PENDING = 0, GR_ALERT_DELIVERED = 1, GR_ALERT_GAVE_UP = 2 } gr_alert_state;

/* A pending alert as persisted; body is heap (gr_alert_recs_free). */
typedef struct gr_alert_rec {
    char event_key[GR_ALERT_KEY_MAX]; /* the idempotency key: one row per event */
    char kind[GR_ALERT_KIND_MAX];
    char *body;                       /* the JSON delivered */
    int attempts;
} gr_alert_rec;
void gr_alert_recs_free(gr_alert_rec *arr, size_t n);

/* ---- backend vtable ---- */

typedef struct gr_store gr_store;

typedef struct gr_store_ops {
    const char *scheme; /* "sqlite", "postgres" */
    void (*close)(gr_store *s);
    /* Bring the schema to the newest version; idempotent. */
    gr_status (*migrate)(gr_store *s, int *version_out);
    gr_status (*key_insert)(gr_store *s, const gr_key_record *k);
    gr_status (*key_update)(gr_store *s, const gr_key_record *k); /* by id; not hash */
    gr_status (*key_get)(gr_store *s, const char *id, gr_key_record *out);
    gr_status (*key_list)(gr_store *s, gr_key_record **out, size_t *n);
    gr_status (*key_spend)(gr_store *s, const char *key_id, int64_t day, int64_t month,
                           gr_key_spend *out);
    /* Insert rows in one transaction (all or nothing) and add each row's cost
     * to its key's spend buckets. A request_id already present is skipped and
     * counted in *conflicts (may be NULL): with gateway-generated ids that only
     * happens when a retried batch had in fact committed, or when something
     * is wrong (ledger.c logs and counts it). */
    gr_status (*ledger_insert)(gr_store *s, const gr_ledger_row *rows, size_t n, size_t *conflicts);
    /* By the gateway's request id, else the newest row carrying it as the
     * client's X-Request-Id. */
    gr_status (*generation_get)(gr_store *s, const char *request_id, gr_ledger_row *out);
    gr_status (*usage_summary)(gr_store *s, const gr_usage_query *q, gr_usage_group **out,
                               size_t *n);
    gr_status (*ledger_count)(gr_store *s, int64_t *n);
    /* Rows in [from, to) (of key_id), newest first, at most limit. */
    gr_status (*ledger_scan)(gr_store *s, const gr_ledger_scan *q, gr_ledger_scan_fn fn, void *arg);
    gr_status (*integrity_check)(gr_store *s, char *msg, size_t msglen);
    /* In one transaction: stores fb (one row per request id: a second rating
     * replaces the first), takes the replaced rating's contribution back out
     * of its model's sums and adds fb's (route_learn.h gr_route_learn_add).
     * *replaced (may be NULL) says whether a rating existed. */
    gr_status (*feedback_put)(gr_store *s, const gr_feedback_rec *fb, bool *replaced);
    /* Adds delta's sums to its model's row (`route calibrate`). */
    gr_status (*learned_add)(gr_store *s, const gr_learned_rec *delta);
    /* Every model's sums; *out is heap (free()). */
    gr_status (*learned_list)(gr_store *s, gr_learned_rec **out, size_t *n);
    /* A new pending alert; *inserted false when its event key is already
     * stored (raised before: pending, delivered or given up). */
    gr_status (*alert_put)(gr_store *s, const char *event_key, const char *kind, const char *body, int64_t now_ms,
                           bool *inserted);
    /* The oldest pending alerts, at most limit; *out is heap (gr_alert_recs_free). */
    gr_status (*alert_pending)(gr_store *s, size_t limit, gr_alert_rec **out, size_t *n);
    /* Records an alert's state and attempts so far. */
    gr_status (*alert_done)(gr_store *s, const char *event_key, gr_alert_state state, int attempts, int64_t now_ms);
} gr_store_ops;

struct gr_store {
    const gr_store_ops *ops; /* backends embed gr_store first */
};

/* Open by URL (does not migrate). err gets a message on failure. */
GR_MUST_CHECK gr_status gr_store_open(const char *url, gr_store **out, char *err, size_t errlen);
/* Open + migrate; the common case. */
GR_MUST_CHECK gr_status gr_store_open_migrated(const char *url, gr_store **out, char *err,
                                               size_t errlen);
void gr_store_close(gr_store *s); /* NULL-safe */

/* The `store:` section: a URL string or {url, threads, queue_max,
 * op_timeout_ms}, parsed at config load (config_sections.c). */
#define GR_STORE_DEFAULT_URL "sqlite://./data/gaterouter.db"
typedef struct gr_store_conf {
    char *url;
    uint32_t threads;       /* store executor threads */
    uint32_t queue_max;     /* store calls waiting beyond which new ones are refused */
    uint32_t op_timeout_ms; /* deadline of one store call as seen by a request */
} gr_store_conf;

struct gr_config;
struct cJSON;
extern const gr_conf_key gr_conf_store_keys[];
void *gr_store_conf_parse(const struct cJSON *sec, const struct gr_config *cfg, gr_conf_err *e);
void gr_store_conf_free(void *conf);
/* The snapshot's store settings (defaults when the section is absent). */
const gr_store_conf *gr_store_conf_of(const struct gr_config *cfg);
/* The snapshot's store URL. */
const char *gr_store_url(const struct gr_config *cfg);

/* UTC calendar periods used by budgets and spend buckets. */
int64_t gr_store_utc_day(int64_t ms);            /* days since 1970-01-01 */
int64_t gr_store_utc_month(int64_t ms);          /* year*12 + (month-1) */
int64_t gr_store_utc_month_start_ms(int64_t month);
void gr_store_utc_date(int64_t ms, char out[11]); /* "YYYY-MM-DD" */

/* Thin dispatchers. */
static inline gr_status gr_store_migrate(gr_store *s, int *v) { return s->ops->migrate(s, v); }
static inline gr_status gr_store_key_insert(gr_store *s, const gr_key_record *k) {
    return s->ops->key_insert(s, k);
}
static inline gr_status gr_store_key_update(gr_store *s, const gr_key_record *k) {
    return s->ops->key_update(s, k);
}
static inline gr_status gr_store_key_get(gr_store *s, const char *id, gr_key_record *out) {
    return s->ops->key_get(s, id, out);
}
static inline gr_status gr_store_key_list(gr_store *s, gr_key_record **out, size_t *n) {
    return s->ops->key_list(s, out, n);
}
static inline gr_status gr_store_key_spend(gr_store *s, const char *id, int64_t day,
                                           int64_t month, gr_key_spend *out) {
    return s->ops->key_spend(s, id, day, month, out);
}
static inline gr_status gr_store_ledger_insert(gr_store *s, const gr_ledger_row *r, size_t n) {
    return s->ops->ledger_insert(s, r, n, NULL);
}
static inline gr_status gr_store_ledger_insert_counted(gr_store *s, const gr_ledger_row *r, size_t n,
                                                       size_t *conflicts) {
    return s->ops->ledger_insert(s, r, n, conflicts);
}
static inline gr_status gr_store_generation_get(gr_store *s, const char *id, gr_ledger_row *out) {
    return s->ops->generation_get(s, id, out);
}
static inline gr_status gr_store_usage_summary(gr_store *s, const gr_usage_query *q,
                                               gr_usage_group **out, size_t *n) {
    return s->ops->usage_summary(s, q, out, n);
}
static inline gr_status gr_store_ledger_count(gr_store *s, int64_t *n) {
    return s->ops->ledger_count(s, n);
}
static inline gr_status gr_store_ledger_scan(gr_store *s, const gr_ledger_scan *q, gr_ledger_scan_fn fn,
                                             void *arg) {
    return s->ops->ledger_scan(s, q, fn, arg);
}
static inline gr_status gr_store_integrity_check(gr_store *s, char *msg, size_t len) {
    return s->ops->integrity_check(s, msg, len);
}

static inline gr_status gr_store_feedback_put(gr_store *s, const gr_feedback_rec *fb, bool *replaced) {
    return s->ops->feedback_put(s, fb, replaced);
}
static inline gr_status gr_store_learned_add(gr_store *s, const gr_learned_rec *delta) {
    return s->ops->learned_add(s, delta);
}
static inline gr_status gr_store_learned_list(gr_store *s, gr_learned_rec **out, size_t *n) {
    return s->ops->learned_list(s, out, n);
}
/* gr_route_learn_add for the backends (same arithmetic; route_learn.c calls it). */
void gr_store_learned_apply(gr_learned_rec *rec, const double mix[GR_LEARN_SKILLS], double score, double predicted,
                            int sign);

/* Backend constructors (store.c dispatches on the URL scheme). */
gr_status gr_store_sqlite_open(const char *location, const char *options, gr_store **out,
                               char *err, size_t errlen);
/* url: the whole postgres:// URL, handed to libpq (store_pg.c; built when
 * cmake/area_pg.cmake defines GR_HAVE_PG). */
gr_status gr_store_pg_open(const char *url, gr_store **out, char *err, size_t errlen);

/* `gaterouter migrate`: open the store at url (NULL = default), bring its
 * schema to this binary's version, print the version; returns the process
 * exit code (0 = ok, 1 = failed, message on stderr). */
int gr_store_migrate_cli(const char *url);

/* Whether the store answered lately, process-wide: every store call whose
 * result is noted here moves it (GR_ERR_UNAVAILABLE -> down, GR_OK -> up;
 * other results leave it). /ready answers 503 while it is down. */
void gr_store_health_note(gr_status rc);
bool gr_store_health_up(void);

/* url with its password replaced by "***" (for messages). */
void gr_store_url_redact(const char *url, char *out, size_t outlen);

static inline gr_status gr_store_alert_put(gr_store *s, const char *key, const char *kind, const char *body,
                                          int64_t now_ms, bool *inserted) {
    return s->ops->alert_put(s, key, kind, body, now_ms, inserted);
}
static inline gr_status gr_store_alert_pending(gr_store *s, size_t limit, gr_alert_rec **out, size_t *n) {
    return s->ops->alert_pending(s, limit, out, n);
}
static inline gr_status gr_store_alert_done(gr_store *s, const char *key, gr_alert_state state, int attempts,
                                           int64_t now_ms) {
    return s->ops->alert_done(s, key, state, attempts, now_ms);
}

#endif
