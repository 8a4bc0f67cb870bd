/* route_verify.h — the plan side of the `auto:verify` cascade: its config
 * (`routing.auto.verify`, parsed and validated at load), which cheap models
 * are asked first and which model checks code (chosen when the route is
 * planned, so admission can reserve for them), the worst case a cascade may
 * spend, and the plan in numbers for /v1/route and the route header. The
 * calls themselves are made by verify_cascade.c; the accept rule is
 * verify_agree.h.
 *
 * Policy: `auto:verify` chooses the escalation model as `auto:best` does
 * (or at the request's money knob: x-gaterouter-quality, x-gaterouter-value-usd),
 * and asks first the `max_cheap` capable models with the lowest expected
 * cost that are cheaper than it (`cheap_models` restricts the choice). When
 * no capable model is cheaper, there is no cascade: the escalation model
 * answers directly ("verify=off:..." in the reason).
 *
 * Pure functions over a plan and a snapshot; no allocation on the request
 * path (the config is allocated at load, freed with the snapshot). */
#ifndef GR_ROUTE_VERIFY_H
#define GR_ROUTE_VERIFY_H

#include "config.h"
#include "config_schema.h"
#include "route.h"
#include "verify_agree.h"

/* routing.auto.verify */
typedef struct gr_verify_conf {
    char **cheap_models;  /* canonical names; none = any capable model */
    size_t ncheap_models;
    uint32_t max_cheap;   /* cheap calls per request: 1 or 2 */
    char *verifier;       /* canonical model name checking code answers; NULL = the cheap model checks itself */
    int agree;            /* gr_agree_mode */
    uint32_t timeout_ms;  /* the cheap phase (calls and check) must end by then, else escalate */
    uint32_t check_max_tokens; /* output cap of the code check call */
} gr_verify_conf;

extern const gr_conf_key gr_conf_routing_auto_verify_keys[];

/* Parses routing.auto.verify (sec may be NULL: defaults) into out; errors name the key. */
void gr_verify_conf_parse(const cJSON *sec, const gr_config *cfg, gr_verify_conf *out, gr_conf_err *e);
void gr_verify_conf_dispose(gr_verify_conf *c);
/* The snapshot's settings (defaults without a routing section). */
const gr_verify_conf *gr_verify_conf_of(const gr_config *cfg);

/* Prompt tokens the check call adds to the question and the answer (its instructions). */
#define GR_VERIFY_CHECK_PROMPT_TOKENS 120

/* After plan_auto chose at the policy's knob: picks the cheap candidates and
 * the checker into plan->verify (on = false with a reason when no cascade). */
void gr_route_verify_choose(const gr_config *cfg, struct gr_route_plan *plan);

/* One call's worst case on candidate c: extra_in prompt tokens more than
 * the request, output capped at out_cap tokens (0: the request's own cap). */
typedef int64_t (*gr_route_call_max_fn)(const gr_route_candidate *c, int64_t extra_in, int64_t out_cap, void *arg);

/* The most the request may spend on this plan, in nano-USD: the costliest
 * candidate (a fallback may serve), plus for a cascade every cheap call and
 * the code check (prompt + an answer of up to answer_max tokens). */
int64_t gr_route_plan_max_cost(const struct gr_route_plan *plan, int64_t answer_max, gr_route_call_max_fn fn,
                               void *arg);

/* The most tokens the plan's calls may use: one call of prompt + out_max
 * tokens, plus for a cascade every cheap call and the check call. */
int64_t gr_route_plan_max_tokens(const struct gr_route_plan *plan, int64_t prompt, int64_t out_max);

/* Appends " verify=..." (the plan, or why it is off) to buf. */
void gr_route_verify_reason(const struct gr_route_plan *plan, char *buf, size_t cap);
/* Adds the "verify" object (cheap models, checker, escalation, expected costs) to a plan's JSON. */
void gr_route_verify_to_json(const struct gr_route_plan *plan, cJSON *o);

#endif
