/* route_auto.h — the `model: "auto"` per-prompt model: feature extraction from
 * a canonical OpenAI chat request (the last user question, few-shot scaffolding
 * stripped), a per-skill mixture, a difficulty and an expected answer length
 * predicted by linear models whose weights are trained offline
 * (tools/route/train.mjs -> src/route/route_auto_weights.h), and the per-model
 * success probability built from a model's per-skill abilities
 * (route_auto_abilities.h, overridable in config, see route_auto_config.h).
 *
 * Predicted quality of model m on prompt x:
 *   P(good | m, x) = sigmoid(alpha * sum_k skill_k(x) * logit(ability_{m,k}) + bias_m - difficulty(x))
 * The decision (gr_route_auto_choose) maximises value * P - expected cost.
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

#define GR_AUTO_NFEAT 40   /* dense structure / lexicon features */
#define GR_AUTO_NHASH 1024 /* hashed word 1-2-gram and char 3-gram buckets */

/* Skills of the ability table and of the per-prompt mixture. */
typedef enum {
    GR_SKILL_KNOWLEDGE = 0, /* MMLU-like */
    GR_SKILL_REASONING,     /* ARC-Challenge-like */
    GR_SKILL_MATH,          /* GSM8K-like */
    GR_SKILL_CODE,          /* HumanEval-like */
    GR_SKILL_INSTRUCTION,   /* MT-Bench-like open instructions, writing, extraction */
    GR_SKILL_LANGUAGE,      /* non-English (C-Eval / CMMLU-like) */
    GR_SKILL_COUNT_
} gr_skill;

/* Outputs of the linear model: skill logits, difficulty, log(1 + output tokens). */
enum { GR_AUTO_OUT_DIFFICULTY = GR_SKILL_COUNT_, GR_AUTO_OUT_LOGLEN, GR_AUTO_NOUT };

/* Task types recognised from lexical cues (argmax of cue counts); shown in the reason. */
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
    /* hashed n-grams of the question: nh distinct buckets hidx[i] with value hval[i] */
    uint16_t hidx[GR_AUTO_NHASH];
    float hval[GR_AUTO_NHASH];
    uint32_t nh;
    gr_task_type task;
    uint32_t prompt_chars;   /* characters of text across all messages */
    uint32_t question_chars; /* characters of the question scored (after stripping) */
    uint32_t images;
    bool tools;
    bool json_mode;
} gr_auto_features;

typedef struct gr_auto_prediction {
    double skill[GR_SKILL_COUNT_]; /* mixture, sums to 1 */
    double difficulty;             /* logit units, subtracted from the ability logit */
    double out_tokens;             /* expected answer length in tokens */
    gr_skill top;                  /* argmax skill */
} gr_auto_prediction;

/* Extract features from a canonical chat request ({"messages": [...], ...}).
 * A request without messages (or with a "prompt" string, legacy completions)
 * is accepted. GR_ERR_INVALID only when body is not an object. */
GR_MUST_CHECK gr_status gr_route_auto_features(const cJSON *body, gr_auto_features *f);

/* Same from a plain user prompt (tests, tools). */
void gr_route_auto_features_text(const char *text, size_t len, gr_auto_features *f);

/* Offset of the actual question in a user message: after the last answered
 * few-shot example ("...Answer: B\n\n", "A: ...\n\n"), else 0. */
size_t gr_route_auto_question_start(const char *text, size_t len);

/* The fixed prior added to the learned difficulty (see route_auto.c). */
double gr_route_auto_prior(const gr_auto_features *f);

/* Skill mixture, difficulty and expected answer length for this prompt. */
void gr_route_auto_predict(const gr_auto_features *f, gr_auto_prediction *p);

/* P(good answer) of a model with per-skill abilities (0..1 benchmark accuracy)
 * and a logit calibration bias (route_auto_abilities.h; 0 when unknown). */
double gr_route_auto_quality(const gr_auto_prediction *p, const float ability[GR_SKILL_COUNT_], double bias);

/* Expected cost in USD: prompt tokens x input price + expected output tokens
 * (capped by max_output_tokens when set) x output price + per-request fee;
 * prices in micro-USD per Mtok / per request. */
double gr_route_auto_expected_cost(const gr_auto_prediction *p, uint32_t prompt_tokens,
                                   uint32_t max_output_tokens, int64_t in_uusd_per_mtok,
                                   int64_t out_uusd_per_mtok, int64_t per_request_uusd);

/* The knob: willingness to pay, in USD, for one more good answer (+1.0 of
 * quality on one request). The 0..1 quality knob maps onto it on a log
 * scale: 0 -> 0 (always the cheapest), 1 -> infinity (the best model), else
 * 10^(4k - 3.5) USD (auto:cheap 0.25 -> $0.0032, auto:balanced 0.5 -> $0.032). */
double gr_route_auto_knob_to_usd(double knob);

/* Choose among n candidates with predicted quality q[i] and expected cost
 * cost_usd[i]: the argmax of usd_per_quality * q - cost (ties: cheaper, then
 * earlier); usd_per_quality = INFINITY -> the highest q, cheapest among equals.
 * Returns the index, or -1 if n == 0. */
int gr_route_auto_choose(const double *q, const double *cost_usd, size_t n, double usd_per_quality);

const char *gr_route_auto_task_name(gr_task_type t);
const char *gr_route_auto_skill_name(gr_skill s);
const char *gr_route_auto_feature_name(size_t i);

#endif
