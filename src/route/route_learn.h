/* route_learn.h — what the auto router learns from its users: per (model,
 * skill) Beta posteriors of a good answer, seeded from the model's ability
 * prior, updated by ratings (POST /v1/feedback, `gaterouter route calibrate`).
 *
 * Model. Each rating r in [0, 1] of a generation whose prompt had the skill
 * mixture w (sums to 1) and for which the router predicted P(good) = p before
 * learning adds, for every skill k, w_k * r successes, w_k * (1 - r) failures
 * and w_k * p predicted successes to the model's sums (s_k, f_k, e_k;
 * n_k = s_k + f_k). Per (model, skill) the prior is a Beta with mean
 * ebar_k = e_k / n_k — what the router itself expected on those prompts,
 * i.e. the ability table through the per-prompt model — and strength
 * n0 = prior_strength, so the posterior mean of a good answer is
 *     theta_k = (n0 * ebar_k + s_k) / (n0 + n_k)
 * (shrinkage: prior and observations weighted by their counts). The hook in
 * the decision moves P(good) of a new prompt x in logit space by the
 * mixture of the skills' corrections:
 *     logit P'(x) = logit P(x) + sum_k w_k(x) * (logit theta_k - logit ebar_k)
 * No ratings: no change. Many: the prompts' average P' matches the observed
 * rate, whatever the table, its bias or the difficulty term got wrong.
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

/* One rating's contribution is added by gr_store_learned_apply (store.h);
 * sign -1 takes a replaced rating back. A mixture summing to 0 (no auto
 * decision) contributes nothing and counts no rating. */

/* ---- the ledger column ---- */

/* {"model":"<config name>","mix":[6 numbers],"predicted":p,"difficulty":d}
 * into buf (cap bytes, NUL-terminated); "" when it does not fit. predicted is
 * the served model's P(good) before learning. */
void gr_route_learn_format(const char *model, const double mix[GR_LEARN_SKILLS], double predicted, double difficulty,
                           char *buf, size_t cap);
/* Parses it back: GR_OK, or GR_ERR_INVALID (empty, malformed, a mixture
 * outside [0,1] or not summing to 1 +- 0.01, predicted outside [0,1]; mix is
 * then all 0). model gets the config name. */
GR_MUST_CHECK gr_status gr_route_learn_parse(const char *text, char *model, size_t model_cap,
                                             double mix[GR_LEARN_SKILLS], double *predicted);

/* ---- the process-wide snapshot ---- */

/* Replaces the snapshot by a copy of recs (n rows); thread-safe. */
void gr_route_learn_publish(const gr_learned_rec *recs, size_t n);
/* The observation sums of model (config name): true when it has any. */
bool gr_route_learn_lookup(const char *model, gr_learned_rec *out);
/* Drops the snapshot (exit, tests). */
void gr_route_learn_clear(void);

/* What the decision shows per model. */
typedef struct gr_route_learned {
    double quality;  /* P'(good) for this prompt */
    double prior;    /* P(good) before learning */
    double observed; /* success rate of the rated answers, in this prompt's skills */
    double expected; /* what the router had predicted for them */
    int64_t ratings; /* 0 = nothing learned: quality == prior */
} gr_route_learned;

/* The hook in the auto decision: P(good) = q of model for a prompt with
 * skill mixture mix, moved by what the ratings taught (see above) when
 * learning is enabled and the model has ratings. Returns the adjusted P. */
double gr_route_learn_adjust(const gr_route_learn_conf *c, const char *model, const double mix[GR_LEARN_SKILLS], double q,
                             gr_route_learned *shown);

#endif
