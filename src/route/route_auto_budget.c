/* route_auto_budget.c — the cost-target controller of model "auto" (see
 * route_auto_budget.h): a spend target per 1,000 requests becomes the value
 * knob, adjusted per worker from the cost of the choices it made. */
#include "route_auto_budget.h"

#include <math.h>
#include <stdlib.h>

#define DEFAULT_GAIN 0.05
#define DEFAULT_WINDOW 64u

const gr_conf_key gr_conf_routing_cost_controller_keys[] = {
    {"gain", GR_CONF_FRACTION, GR_CONF_F(gr_auto_budget_conf, gain), 0.001, 1, "0.05", NULL,
     "cost-target mode: step of ln(value) per request per unit of ln(spend / target) (higher = faster, noisier)"},
    {"window", GR_CONF_COUNT, GR_CONF_F(gr_auto_budget_conf, window), 4, 100000, "64", NULL,
     "cost-target mode: requests in the moving average of spend the controller compares with the target"},
    GR_CONF_END,
};

void gr_auto_budget_conf_default(gr_auto_budget_conf *c) { *c = (gr_auto_budget_conf){DEFAULT_GAIN, DEFAULT_WINDOW}; }

void gr_auto_budget_conf_parse(const cJSON *sec, gr_auto_budget_conf *c, gr_conf_err *e)
{
    gr_auto_budget_conf_default(c);
    gr_conf_load_keys(sec, "routing.auto.cost_controller", gr_conf_routing_cost_controller_keys, c, e);
}

int gr_auto_budget_parse_policy(gr_str policy, double *per_1k_usd)
{
    if (policy.len < 6 || memcmp(policy.ptr, "auto:$", 6) != 0)
        return 0;
    char buf[32];
    size_t n = policy.len - 6;
    if (n == 0 || n >= sizeof buf)
        return -1;
    for (size_t i = 0; i < n; i++) { /* digits and one decimal point only: no signs, exponents, inf/nan */
        char ch = policy.ptr[6 + i];
        if (!((ch >= '0' && ch <= '9') || ch == '.'))
            return -1;
        buf[i] = ch;
    }
    buf[n] = '\0';
    char *end = NULL;
    double d = strtod(buf, &end);
    if (end != buf + n || !(d >= GR_AUTO_BUDGET_MIN_PER_1K_USD && d <= GR_AUTO_BUDGET_MAX_PER_1K_USD))
        return -1;
    *per_1k_usd = d;
    return 1;
}

gr_auto_budget_slot *gr_auto_budget_slot_for(gr_auto_budget *b, double per_1k_usd)
{
    double target = per_1k_usd / 1000.0;
    gr_auto_budget_slot *victim = NULL;
    b->clock++;
    for (size_t i = 0; i < GR_AUTO_BUDGET_SLOTS; i++) {
        gr_auto_budget_slot *s = &b->slot[i];
        if (s->target_usd == target) {
            s->used = b->clock;
            return s;
        }
        /* a free slot (used 0) before any taken one, else the least recently used */
        if (!victim || s->used < victim->used)
            victim = s;
    }
    *victim = (gr_auto_budget_slot){target, log(GR_AUTO_BUDGET_START_VALUE_USD), target, 0, b->clock};
    return victim;
}

double gr_auto_budget_value(const gr_auto_budget_slot *s) { return exp(s->log_value); }

void gr_auto_budget_bill(gr_auto_budget *b, const gr_auto_budget_conf *c, double per_1k_usd, double expected_usd,
                         double actual_usd)
{
    if (!(expected_usd >= 0.0) || !(actual_usd >= 0.0) || !isfinite(expected_usd) || !isfinite(actual_usd))
        return;
    double target = per_1k_usd / 1000.0;
    for (size_t i = 0; i < GR_AUTO_BUDGET_SLOTS; i++)
        if (b->slot[i].target_usd == target && target > 0.0) {
            b->slot[i].ewma_usd = fmax(0.0, b->slot[i].ewma_usd + (actual_usd - expected_usd) / (double)c->window);
            return;
        }
}

void gr_auto_budget_observe(gr_auto_budget_slot *s, const gr_auto_budget_conf *c, double cost_usd)
{
    if (!(cost_usd >= 0.0) || !isfinite(cost_usd) || !(s->target_usd > 0.0))
        return;
    s->ewma_usd += (cost_usd - s->ewma_usd) / (double)c->window;
    /* ln(ewma / target), with the average floored so a run of free answers moves it a bounded step */
    double err = log(fmax(s->ewma_usd, s->target_usd * 1e-3) / s->target_usd);
    double lv = s->log_value - c->gain * err;
    s->log_value = fmin(log(GR_AUTO_BUDGET_MAX_VALUE_USD), fmax(log(GR_AUTO_BUDGET_MIN_VALUE_USD), lv));
    s->requests++;
}
