/* route_learn.h — what the auto router learns from its users: per (model,
 * skill) Beta posteriors of a good answer, seeded from the model's ability
 * prior, updated by ratings (POST /v1/feedback, `gaterouter route calibrate`).
 *
 * Model. For model m and skill k the prior is Beta(n0 * a_mk, n0 * (1 - a_mk)):
 * a_mk the model's ability (route_auto_config.h), n0 = prior_strength
 * (routing.auto.learning). A rating r in [0, 1] of a generation whose prompt
 * had the skill mixture w (sums to 1) adds w_k * r successes and
 * w_k * (1 - r) failures to every skill k. The posterior mean
 *     theta_mk = (n0 * a_mk + s_mk) / (n0 + s_mk + f_mk)
 * replaces a_mk in P(good) (route_auto.h): with no ratings it is a_mk exactly
 * (shrinkage: prior and observations weighted by their counts).
 *
 * Persisted as observation sums (s, f, ratings) per model (store.h
 * gr_learned_rec), never as posteriors, so a changed prior or table applies at
 * once. The process keeps one read-only snapshot of those sums, replaced
 * whole by the refresher thread (route_learn_sync.h) off the request path;
 * the request path reads it under a shared lock, copying a few numbers.
 *
 * The skill mixture of an auto decision travels with its ledger row (column
 * route_learn, gr_route_learn_format) so a later rating is attributed to it. */
#ifndef GR_ROUTE_LEARN_H
#define GR_ROUTE_LEARN_H

#include "config_schema.h"
#include "route_auto_config.h"
#include "store.h"

/* routing.auto.learning */
typedef struct gr_route_learn_conf {
    bool enabled;           /* ratings adjust auto's predictions */
    double prior_strength;  /* n0: pseudo-ratings the ability prior is worth */
    uint64_t refresh_ms;    /* snapshot refresh period (each instance, from the store) */
    uint64_t max_comment_bytes; /* POST /v1/feedback comment cap */
} gr_route_learn_conf;

#define GR_LEARN_DEFAULT_PRIOR_STRENGTH 20.0
#define GR_LEARN_DEFAULT_REFRESH_MS 10000
#define GR_LEARN_DEFAULT_MAX_COMMENT_BYTES 4096

extern const gr_conf_key gr_conf_routing_learning_keys[];

/* Fills c from routing.auto.learning (NULL = defaults). Errors go to e. */
void gr_route_learn_conf_parse(const cJSON *sec, gr_route_learn_conf *c, gr_conf_err *e);
void gr_route_learn_conf_default(gr_route_learn_conf *c);

/* ---- Beta arithmetic (pure) ---- */

/* The posterior mean of Beta(n0*prior + s, n0*(1-prior) + f), clamped to
 * [0.005, 0.995] so its logit stays finite. */
double gr_route_learn_posterior(double prior, double n0, double s, double f);

/* One rating's contribution is added by gr_store_learned_apply (store.h):
 * s_k += sign * w_k * score, f_k += sign * w_k * (1 - score), ratings += sign
 * (sign -1 takes a replaced rating back); a mixture summing to 0 (no auto
 * decision) contributes nothing and counts no rating. */

/* ---- the ledger column ---- */

/* {"model":"<config name>","mix":[6 numbers],"difficulty":d} into buf (cap
 * bytes, NUL-terminated); "" when it does not fit. */
void gr_route_learn_format(const char *model, const double mix[GR_LEARN_SKILLS], double difficulty, char *buf,
                           size_t cap);
/* Parses it back: GR_OK, or GR_ERR_INVALID (empty, malformed, a mixture
 * outside [0,1] or not summing to 1 +- 0.01). model gets the config name. */
GR_MUST_CHECK gr_status gr_route_learn_parse(const char *text, char *model, size_t model_cap,
                                             double mix[GR_LEARN_SKILLS]);

/* ---- the process-wide snapshot ---- */

/* Replaces the snapshot by a copy of recs (n rows); thread-safe. */
void gr_route_learn_publish(const gr_learned_rec *recs, size_t n);
/* The observation sums of model (config name): true when it has any. */
bool gr_route_learn_lookup(const char *model, gr_learned_rec *out);
/* Drops the snapshot (exit, tests). */
void gr_route_learn_clear(void);

/* What the decision shows per model: the posterior mean for this prompt's
 * mixture and the ratings behind it (0 = prior only). */
typedef struct gr_route_learned {
    double mean;     /* sum_k w_k * theta_k */
    double prior;    /* sum_k w_k * a_k (before learning) */
    int64_t ratings;
} gr_route_learned;

/* The hook in the auto decision: when learning is enabled and model has
 * ratings, replaces ab->a[k] by the posteriors and fills shown for mix;
 * otherwise leaves ab alone and shown->ratings = 0. */
void gr_route_learn_adjust(const gr_route_learn_conf *c, const char *model, const double mix[GR_LEARN_SKILLS],
                           gr_auto_ability *ab, gr_route_learned *shown);

#endif
