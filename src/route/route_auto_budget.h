/* route_auto_budget.h — the cost-target mode of model "auto": a spend target
 * in USD per 1,000 requests (`auto:$0.50`, routing.auto.cost_per_1k_usd)
 * turned into the value knob (USD per good answer) by a small controller.
 *
 * The controller keeps, per target, an exponential moving average of the
 * expected cost of the models it chose (window = routing.auto.cost_controller
 * .window requests) and moves the value in log space against the log ratio of
 * that average to the target (integral control, gain .gain per request):
 *   ewma  += (cost - ewma) / window
 *   ln v  -= gain * ln(ewma / target)          clamped to [min_value, max_value]
 * Spending above the target lowers the value (cheaper choices), below raises
 * it. The value is bounded, so a target no model mix can meet settles at the
 * bound (always the cheapest / always the best) instead of running away.
 *
 * Threading: one gr_auto_budget per worker thread (inside gr_route_state), no
 * lock and no atomics; each worker converges on its own share of the traffic.
 * No allocation. */
#ifndef GR_ROUTE_AUTO_BUDGET_H
#define GR_ROUTE_AUTO_BUDGET_H

#include "common.h"
#include "config_schema.h"

#define GR_AUTO_BUDGET_SLOTS 8               /* distinct targets tracked per worker (least recently used goes) */
#define GR_AUTO_BUDGET_MIN_PER_1K_USD 1e-6     /* smallest target (USD per 1,000 requests) */
#define GR_AUTO_BUDGET_MAX_PER_1K_USD 100000.0 /* largest target (USD per 1,000 requests) */
#define GR_AUTO_BUDGET_MIN_VALUE_USD 1e-6   /* value bounds of the controller, USD per good answer */
#define GR_AUTO_BUDGET_MAX_VALUE_USD 1000.0 /* = GR_AUTO_MAX_VALUE_USD */
#define GR_AUTO_BUDGET_START_VALUE_USD 0.03162 /* where a new target starts (auto:balanced's value) */

/* routing.auto.cost_controller */
typedef struct gr_auto_budget_conf {
    double gain;     /* log-value step per request per unit of log spend error */
    uint32_t window; /* requests in the spend average */
} gr_auto_budget_conf;

extern const gr_conf_key gr_conf_routing_cost_controller_keys[];

void gr_auto_budget_conf_default(gr_auto_budget_conf *c);
void gr_auto_budget_conf_parse(const cJSON *sec, gr_auto_budget_conf *c, gr_conf_err *e);

typedef struct gr_auto_budget_slot {
    double target_usd; /* per request; 0 = free slot */
    double log_value;  /* ln(USD per good answer) */
    double ewma_usd;   /* average expected cost per request of the choices */
    uint64_t requests; /* decisions fed */
    uint64_t used;     /* LRU stamp */
} gr_auto_budget_slot;

typedef struct gr_auto_budget {
    gr_auto_budget_slot slot[GR_AUTO_BUDGET_SLOTS];
    uint64_t clock;
} gr_auto_budget;

/* "auto:$0.50" (also "auto:$.5", "auto:$2") -> 0.50 USD per 1,000 requests.
 * Returns 1 and sets *per_1k_usd on a well-formed target in
 * [GR_AUTO_BUDGET_MIN_PER_1K_USD, GR_AUTO_BUDGET_MAX_PER_1K_USD]; 0 when the policy is not of this form;
 * -1 when it starts with "auto:$" but the amount is malformed or out of range. */
int gr_auto_budget_parse_policy(gr_str policy, double *per_1k_usd);

/* The controller of this target (per 1,000 requests); a new target takes a
 * free slot or the least recently used one, starting at
 * GR_AUTO_BUDGET_START_VALUE_USD with its average at the target. */
gr_auto_budget_slot *gr_auto_budget_slot_for(gr_auto_budget *b, double per_1k_usd);

/* The value (USD per good answer) the next decision of this target uses. */
double gr_auto_budget_value(const gr_auto_budget_slot *s);

/* Feed the expected cost (USD) of the model a decision chose. */
void gr_auto_budget_observe(gr_auto_budget_slot *s, const gr_auto_budget_conf *c, double cost_usd);

/* When the request is billed: replace the expected cost it was fed with the
 * actual one (the average moves by (actual - expected) / window), so the
 * target holds for the bill, not for the estimate. Nothing when the target's
 * slot was given to another target meanwhile, or a figure is not a cost. */
void gr_auto_budget_bill(gr_auto_budget *b, const gr_auto_budget_conf *c, double per_1k_usd, double expected_usd,
                         double actual_usd);

#endif
