/* route.h — the routing engine: turns a request (model name or "auto", the
 * OpenRouter-style `models` / `provider` parameters, needed capabilities, a
 * quality knob) into an ordered list of candidate deployments with a short
 * reason, and decides what to do when an attempt fails.
 *
 * Request path (the gateway core calls, in order):
 *   1. gr_route_request_from_json(body, &req, err)   parse routing inputs (borrowed
 *      pointers into body; body must outlive req and the plan)
 *      then set req.quality from x-gaterouter-quality, req.default_policy per key
 *   2. gr_route_plan(cfg, &req, &state, &plan)        plan.result != GR_ROUTE_OK ->
 *      gr_route_result_http_status() + plan.error
 *   3. for each attempt: c = &plan.cand[i]; gr_health_on_start(c->health, now);
 *      ... send ...; gr_health_on_result(c->health, &outcome, ...);
 *      act = gr_route_should_retry(&outcome, attempt, bytes_sent, &delay_ms);
 *      i = gr_route_next(&plan, i, act) (or stop) after delay_ms
 *   4. gr_route_format_header(&plan, i, attempts, buf) -> x-gaterouter-route
 *
 * Ownership: a plan is a plain value (fixed arrays, no heap); its pointers
 * reference the gr_config snapshot (keep the config reference until the
 * request ends) and process-lifetime health records. gr_route_state is
 * per worker thread (PRNG + round-robin counters), never shared. */
#ifndef GR_ROUTE_H
#define GR_ROUTE_H

#include "common.h"
#include "config.h"
#include "health.h"
#include "route_auto_budget.h"
#include <cjson/cJSON.h>
#include <stdio.h>

#define GR_ROUTE_MAX_CANDIDATES 16
#define GR_ROUTE_MAX_LIST 8 /* entries kept from models[] / provider.order|only|ignore */
#define GR_ROUTE_RR_SLOTS 64
#define GR_ROUTE_MAX_ATTEMPTS 4 /* upstream attempts per client request */

typedef enum {
    GR_ROUTE_SORT_NONE = 0,
    GR_ROUTE_SORT_PRICE,
    GR_ROUTE_SORT_THROUGHPUT,
    GR_ROUTE_SORT_LATENCY,
} gr_route_sort;

/* OpenRouter `provider` object. Names match gr_provider_conf.name
 * (case-insensitive) or "provider/upstream_model". */
typedef struct gr_route_provider_prefs {
    gr_str order[GR_ROUTE_MAX_LIST];
    size_t norder;
    gr_str only[GR_ROUTE_MAX_LIST];
    size_t nonly;
    gr_str ignore[GR_ROUTE_MAX_LIST];
    size_t nignore;
    gr_route_sort sort;
    bool allow_fallbacks;         /* default true */
    int64_t max_prompt_uusd;      /* max_price.prompt, micro-USD per Mtok; -1 = none */
    int64_t max_completion_uusd;  /* max_price.completion */
    int64_t max_request_uusd;     /* max_price.request (per request) */
} gr_route_provider_prefs;

/* Why a caller may not use a model (gr_route_access.refuse). */
typedef enum {
    GR_ROUTE_ALLOWED = 0,
    GR_ROUTE_NOT_ALLOWED, /* not in the API key's `models` list -> 403 model_not_allowed */
    GR_ROUTE_NOT_PRICED,  /* unpriced, and the key has a budget -> 403 model_not_priced */
} gr_route_refusal;

/* Restrictions of the caller (an API key), applied to EVERY candidate: the
 * requested model and the request's models[] (refused -> GR_ROUTE_FORBIDDEN
 * naming the model), config fallbacks and context upgrades (skipped,
 * counted as skipped=access:n) and the `auto` pool (chooses among the
 * allowed models only). auto_policy is the auto policy being planned
 * ("auto", "auto:best"), empty for a model named explicitly. */
typedef struct gr_route_access {
    gr_route_refusal (*refuse)(const gr_model_conf *m, gr_str auto_policy, void *arg);
    void *arg;
} gr_route_access;

typedef struct gr_route_request {
    gr_str model;                        /* as requested, suffix included; may be empty */
    gr_str models[GR_ROUTE_MAX_LIST];    /* OpenRouter fallback list */
    size_t nmodels;
    gr_route_provider_prefs provider;
    uint32_t need_caps;                  /* GR_CAP_* */
    uint32_t prompt_tokens;              /* estimate */
    uint32_t max_output_tokens;          /* max_tokens / max_completion_tokens; 0 = unset */
    double quality;                      /* 0..1 knob; < 0 = unset */
    double value_usd;                    /* auto: USD per good answer (x-gaterouter-value-usd); < 0 = unset */
    double default_cost_per_1k_usd;      /* per-key cost target of plain "auto" (USD per 1k requests); < 0 = unset */
    bool dry_run;                        /* POST /v1/route, --explain: a cost target's controller is not fed */
    const char *default_policy;          /* per-key default for plain "auto"; NULL */
    double default_value_usd;            /* per-key default value for plain "auto"; < 0 = unset */
    const cJSON *body;                   /* for the auto router; may be NULL */
    const struct gr_route_embed_signal *embed; /* auto: the embeddings signal; NULL = none */
    const gr_route_access *access;       /* NULL = every model */
    uint64_t now_us;                     /* 0 = gr_now_us() */
} gr_route_request;

typedef struct gr_route_state {
    uint64_t rng[2]; /* xoroshiro128+ */
    uint32_t rr[GR_ROUTE_RR_SLOTS];
    gr_auto_budget budget; /* auto cost targets (route_auto_budget.h), this worker's */
} gr_route_state;

typedef enum {
    GR_ROUTE_OK = 0,
    GR_ROUTE_NOT_FOUND,   /* unknown model -> 404 model_not_found */
    GR_ROUTE_NO_CAPABLE,  /* no model/deployment satisfies caps, context, provider or price -> 400 */
    GR_ROUTE_UNAVAILABLE, /* all candidates are open-circuit or cooling down -> 503 */
    GR_ROUTE_INVALID,     /* malformed routing parameters -> 400 */
    GR_ROUTE_FORBIDDEN,   /* the caller may not use a model it asked for -> 403 (plan.refusal says why) */
} gr_route_result;

typedef enum {
    GR_CAND_PRIMARY = 0, /* first choice */
    GR_CAND_BALANCE,     /* another deployment of the same model */
    GR_CAND_MODELS,      /* from the request's models[] list */
    GR_CAND_FALLBACK,    /* from the config's fallbacks */
    GR_CAND_AUTO_ALT,    /* auto: next-best model */
} gr_cand_kind;

/* auto: the embeddings signal of one request (route_embed.h), filled by the
 * request path (route_embed_call.c) before the decision. */
typedef struct gr_route_embed_signal {
    const char *status;     /* "ok", "cached", "timeout", "error" */
    double wait_ms;         /* time the request waited for the embedding */
    const double *quality;  /* per cfg->models index, NAN = no neighbour outcome; NULL unless ok/cached */
    double weight;          /* routing.auto.embeddings.weight */
} gr_route_embed_signal;

/* auto: one capable model as the expected-value choice saw it. */
typedef struct gr_route_auto_cand {
    const gr_model_conf *model;
    double quality;   /* predicted P(good answer) for this prompt */
    double cost_usd;  /* expected cost of this request (cheapest deployment) */
    double bar;       /* quality this model needs to be chosen over the choice at this value */
    uint8_t ability_from; /* gr_auto_ability_from (route_auto_config.h) */
    /* routing.auto.learning (route_learn.h): quality before learning, the
     * rated answers' success rate in this prompt's skills against what was
     * predicted for them, and the ratings (0 = nothing learned) */
    double prior_quality;
    double learned_observed, learned_expected;
    int64_t learned_ratings;
    double embed_quality; /* routing.auto.embeddings: the neighbours' estimate; NAN = none */
} gr_route_auto_cand;

/* auto:verify: the cascade planned by route_verify.c — cheap calls first
 * (indexes into cand), escalation to cand[0] when their answers disagree. */
#define GR_ROUTE_VERIFY_MAX_CHEAP 2
typedef struct gr_route_verify_plan {
    bool asked;        /* the policy is auto:verify */
    bool on;           /* a cascade will run (asked, and a cheaper capable model exists) */
    uint8_t ncheap;
    int8_t cheap[GR_ROUTE_VERIFY_MAX_CHEAP];
    int8_t checker;    /* cand index of the code check: the configured verifier, else cheap[0] */
    bool checker_is_verifier;
    uint32_t check_max_tokens; /* output cap of the check call */
    uint32_t timeout_ms;       /* of the cheap phase */
    uint8_t agree;             /* gr_agree_mode (verify_agree.h) */
    const char *off;   /* asked but off: why */
} gr_route_verify_plan;

typedef struct gr_route_candidate {
    const gr_model_conf *model; /* public model this deployment belongs to */
    const gr_deployment *dep;
    gr_health *health;
    gr_cand_kind kind;
    int64_t est_cost_uusd; /* estimated cost of this request there */
} gr_route_candidate;

struct gr_route_plan {
    gr_route_result result;
    gr_route_candidate cand[GR_ROUTE_MAX_CANDIDATES];
    size_t ncand;
    char policy[24];      /* "model", "auto:balanced", ... */
    const char *strategy; /* of the primary model group */
    const char *task;     /* auto: detected task type, else NULL */
    const char *skill;    /* auto: main skill of the prompt, else NULL */
    double score;         /* auto: predicted quality of the choice; else -1 */
    double difficulty;    /* auto: predicted difficulty (logit units) */
    double out_tokens;    /* auto: expected answer length in tokens */
    double skill_mix[6];  /* auto: the prompt's skill mixture (route_auto.h gr_skill order), sums to 1 */
    double knob;          /* quality knob used; -1 if not auto */
    double value_usd;     /* auto: the knob in USD per good answer (inf = best); -1 if not auto */
    gr_route_auto_cand autoc[GR_ROUTE_MAX_CANDIDATES]; /* auto: every capable model */
    size_t nautoc;
    int auto_chosen;      /* index into autoc of the first choice; -1 */
    double budget_per_1k; /* auto cost target that was fed this choice (USD per 1k requests); 0 = none */
    double budget_expected_usd; /* the expected cost it was fed (gr_route_budget_bill replaces it with the bill) */
    const gr_route_embed_signal *embed; /* auto: the embeddings signal used, or NULL */
    uint32_t considered;  /* deployments examined */
    uint32_t rej_caps, rej_ctx, rej_provider, rej_price, rej_health, rej_access;
    gr_route_refusal refusal; /* GR_ROUTE_FORBIDDEN: why */
    uint64_t decide_ns;   /* time spent in gr_route_plan() */
    char reason[512];     /* x-gaterouter-route */
    char error[256];      /* client-facing message when result != OK */
    uint32_t ctx_limit;   /* GR_ROUTE_NO_CAPABLE for the context: the window that was too small, else 0 */
    gr_route_verify_plan verify; /* auto:verify (route_verify.h) */
};

/* The request was billed actual_usd: an auto cost target's controller of
 * this worker (route_auto_budget.h) counts the bill instead of the expected
 * cost its decision was fed. Nothing for a plan without a target. Call on the
 * thread that owns st. */
void gr_route_budget_bill(gr_route_state *st, const gr_config *cfg, const struct gr_route_plan *plan, double actual_usd);

/* ---- setup ---- */
void gr_route_state_init(gr_route_state *s, uint64_t seed);
uint64_t gr_route_rand(gr_route_state *s);
double gr_route_rand01(gr_route_state *s); /* [0,1) */

/* ---- inputs ---- */
/* Top-level request fields that only the gateway reads (models, provider, and
 * OpenRouter's route / transforms, accepted and ignored): NULL-terminated.
 * They are removed from every body sent upstream — real APIs answer 400 to
 * parameters they do not know. */
extern const char *const gr_route_gateway_fields[];

void gr_route_request_init(gr_route_request *r);
/* Parse model, models[], provider{}, caps (tools, image parts, response_format),
 * a prompt-token estimate and max_tokens from a chat request. GR_ERR_INVALID
 * with a message in err for malformed routing parameters. */
GR_MUST_CHECK gr_status gr_route_request_from_json(const cJSON *body, gr_route_request *r,
                                                   char *err, size_t errlen);
/* Quality knob from the x-gaterouter-quality header value ("0.7"); -1 if absent/bad. */
double gr_route_parse_quality(const char *value);

/* ---- planning ---- */
gr_status gr_route_plan(const gr_config *cfg, const gr_route_request *req, gr_route_state *state,
                        struct gr_route_plan *out);
int gr_route_result_http_status(gr_route_result r);
const char *gr_route_result_name(gr_route_result r);
/* Model lookup by name or alias (no suffix handling). */
const gr_model_conf *gr_route_find_model(const gr_config *cfg, const char *name, size_t len);

/* ---- failures ---- */
typedef enum {
    GR_RETRY_NONE = 0,      /* give the error to the client */
    GR_RETRY_SAME,          /* same candidate again after delay */
    GR_RETRY_NEXT,          /* next candidate after delay */
    GR_RETRY_NEXT_LARGER_CTX, /* next candidate with a larger context window */
    GR_RETRY_NEXT_MODEL,    /* next candidate of a different model (content policy) */
} gr_retry_action;

/* attempt = 0 for the first try of this request; bytes_sent_to_client > 0 means
 * the response has started (never retried). delay_ms gets the backoff. */
gr_retry_action gr_route_should_retry(const gr_outcome *o, unsigned attempt,
                                      uint64_t bytes_sent_to_client, uint32_t *delay_ms);
/* Index of the candidate to try after `cur` for the action; -1 if none. */
int gr_route_next(const struct gr_route_plan *plan, int cur, gr_retry_action act);
/* Recognise context-length and content-policy errors in an upstream error body. */
gr_error_class gr_route_classify_error(int http_status, const char *body, size_t len);
/* The class as above, and *fault = the request caused the error: a 4xx other
 * than 401/403/404/408/429 (those are about the deployment), or a 5xx
 * whose JSON error carries code context_length_exceeded / content_filter /
 * content_policy_violation / string_above_max_length, type
 * invalid_request_error or status INVALID_ARGUMENT (gr_outcome.request_fault). */
gr_error_class gr_route_request_fault(int http_status, const char *body, size_t len, bool *fault);
const char *gr_retry_action_name(gr_retry_action a);

/* ---- explain ---- */
/* x-gaterouter-route value for the candidate that served (index), after `attempts`. */
size_t gr_route_format_header(const struct gr_route_plan *plan, int served, unsigned attempts, char *buf,
                              size_t len);
cJSON *gr_route_plan_to_json(const struct gr_route_plan *plan);
/* `gaterouter route --explain FILE`: plan the request in FILE and print the
 * decision; returns 0 on a routable request, 1 otherwise, 2 on I/O/parse error. */
int gr_route_explain_cli(const gr_config *cfg, const char *request_json_path, FILE *out);

#endif
