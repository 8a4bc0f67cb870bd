/* route_auto.h — the `model: "auto"` difficulty model: cheap lexical feature
 * extraction from a canonical OpenAI chat request and a logistic-regression
 * score whose weights are trained offline (tools/route/train.mjs) and compiled
 * in from the generated src/route_auto_weights.h.
 *
 * The score is P(the strong model is needed) = P(a weak model's answer is
 * worse than a strong model's) for this prompt. gr_route_auto_percentile()
 * maps it to the difficulty percentile over the (benchmark-balanced) training
 * prompts, which the policy in route.c turns into a quality bar.
 *
 * Train/serve parity: tools/route/route_features.c calls exactly these
 * functions to produce the training features.
 *
 * Threading: pure functions over the caller's request; the keyword table is
 * built once (pthread_once) and read-only afterwards. No allocation. */
#ifndef GR_ROUTE_AUTO_H
#define GR_ROUTE_AUTO_H

#include "common.h"
#include <cjson/cJSON.h>

#define GR_AUTO_NFEAT 38

/* Task types recognised from lexical cues (argmax of cue counts). */
typedef enum {
    GR_TASK_GENERAL = 0,
    GR_TASK_CODE,
    GR_TASK_MATH,
    GR_TASK_REASONING,
    GR_TASK_EXTRACTION,
    GR_TASK_SUMMARIZATION,
    GR_TASK_TRANSLATION,
    GR_TASK_CHITCHAT,
    GR_TASK_WRITING,
    GR_TASK_ROLEPLAY,
    GR_TASK_KNOWLEDGE, /* STEM / humanities / multiple-choice knowledge questions */
    GR_TASK_COUNT_
} gr_task_type;

typedef struct gr_auto_features {
    float x[GR_AUTO_NFEAT];
    gr_task_type task;
    uint32_t prompt_chars; /* characters of text across all messages */
    uint32_t images;
    bool tools;
    bool json_mode;
} gr_auto_features;

/* Extract features from a canonical chat request ({"messages": [...], ...}).
 * A request without messages (or with a "prompt" string, legacy completions)
 * is accepted. GR_ERR_INVALID only when body is not an object. */
GR_MUST_CHECK gr_status gr_route_auto_features(const cJSON *body, gr_auto_features *f);

/* Same from a plain user prompt (tests, tools). */
void gr_route_auto_features_text(const char *text, size_t len, gr_auto_features *f);

/* The fixed prior logit added to the learned one (see route_auto.c). */
double gr_route_auto_prior(const gr_auto_features *f);

/* P(strong model needed) in (0,1). */
double gr_route_auto_predict(const gr_auto_features *f);

/* Difficulty percentile in [0,1] of a predicted score over the training prompts. */
double gr_route_auto_percentile(double p);

const char *gr_route_auto_task_name(gr_task_type t);
const char *gr_route_auto_feature_name(size_t i);

/* The policy: among n candidate models with quality tiers q[i] (0..100) and
 * estimated costs cost[i] (any unit), choose the cheapest one whose
 * normalised quality meets the bar set by the difficulty percentile and the
 * quality knob (0 = cheapest, 1 = best). Returns the chosen index, or -1 if
 * n == 0. *bar receives the normalised bar (0..1). */
int gr_route_auto_choose(const uint32_t *q, const int64_t *cost, size_t n, double percentile,
                         double knob, double *bar);

#endif
