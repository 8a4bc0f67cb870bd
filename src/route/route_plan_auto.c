/* route_plan_auto.c — `model: "auto"` in the plan: the policy's knobs, the
 * pool of models it may choose from, and the candidates route_auto.c ranks
 * turned into the plan's order. */
#include "route_internal.h"
#include "route_conf.h"

#include <math.h>

/* ---- auto ---- */

/* Knob of a named policy (0..1), or -1 for plain "auto" (config decides). */
static double policy_knob(gr_str policy, const char *default_policy, const char **name, int depth)
{
    if (gr_str_eq_c(policy, "auto:cheap") || gr_str_eq_c(policy, "auto:floor")) {
        *name = "auto:cheap";
        return 0.25;
    }
    if (gr_str_eq_c(policy, "auto:balanced")) {
        *name = "auto:balanced";
        return 0.5;
    }
    if (gr_str_eq_c(policy, "auto:best")) {
        *name = "auto:best";
        return 1.0;
    }
    if (gr_str_eq_c(policy, "auto:verify")) { /* escalates to what auto:best picks (route_verify.h) */
        *name = "auto:verify";
        return 1.0;
    }
    if (default_policy && depth == 0 && strncmp(default_policy, "auto:", 5) == 0)
        return policy_knob(gr_str_c(default_policy), NULL, name, 1);
    *name = "auto";
    return -1.0;
}

static bool auto_pool_allows(const gr_config *cfg, const gr_model_conf *m)
{
    const gr_route_conf *rc = gr_route_conf_of(cfg);
    if (!rc->has_auto_models)
        return true;
    for (size_t i = 0; i < rc->nauto_models; i++)
        if (m->name && strcmp(rc->auto_models[i], m->name) == 0)
            return true;
    return false;
}

/* The money knob: request value > request quality > named policy or cost
 * target (auto:$0.50) > the key's default (metadata auto_value_usd or
 * auto_cost_per_1k_usd) > config > balanced. A cost target takes the value its
 * controller holds (*budget, fed with the choice's cost by route_plan_auto). */
static double auto_value_usd(const gr_config *cfg, const gr_route_request *req, gr_str policy,
                             struct gr_route_plan *plan, gr_route_state *st, gr_auto_budget_slot **budget)
{
    const char *pname;
    double knob = policy_knob(policy, req->default_policy, &pname, 0);
    double usd, per_1k = -1.0;
    const gr_route_conf *rc = gr_route_conf_of(cfg);
    *budget = NULL;
    if (gr_auto_budget_parse_policy(policy, &per_1k) != 1) {
        per_1k = -1.0;
        if (knob < 0.0 && req->value_usd < 0.0 && !(req->quality >= 0.0 && req->quality <= 1.0))
            per_1k = req->default_value_usd >= 0.0        ? -1.0
                     : req->default_cost_per_1k_usd > 0.0 ? req->default_cost_per_1k_usd
                                                           : rc->auto_cost_per_1k_usd;
    }
    if (per_1k > 0.0 && req->value_usd < 0.0 && !(req->quality >= 0.0 && req->quality <= 1.0)) {
        *budget = gr_auto_budget_slot_for(&st->budget, per_1k);
        usd = gr_auto_budget_value(*budget);
        snprintf(plan->policy, sizeof plan->policy, "auto:$%.4g/1k", per_1k);
    } else if (req->value_usd >= 0.0) {
        usd = req->value_usd;
        snprintf(plan->policy, sizeof plan->policy, "%s($%.3g)", pname, usd);
    } else if (req->quality >= 0.0 && req->quality <= 1.0) {
        knob = req->quality;
        usd = gr_route_auto_knob_to_usd(knob);
        snprintf(plan->policy, sizeof plan->policy, "%s(q=%.2f)", pname, knob);
    } else if (knob < 0.0 && req->default_value_usd >= 0.0) { /* the key's default */
        usd = req->default_value_usd > GR_AUTO_MAX_VALUE_USD ? GR_AUTO_MAX_VALUE_USD : req->default_value_usd;
        snprintf(plan->policy, sizeof plan->policy, "%s(key $%.3g)", pname, usd);
    } else {
        double cfg_usd = knob < 0.0 ? gr_route_conf_of(cfg)->auto_value_usd : -1.0;
        if (knob < 0.0 && cfg_usd < 0.0)
            knob = 0.5;
        usd = knob >= 0.0 ? gr_route_auto_knob_to_usd(knob) : cfg_usd;
        snprintf(plan->policy, sizeof plan->policy, "%s", pname);
    }
    plan->knob = knob;
    return usd;
}

void route_plan_auto(ctx *c, gr_str policy)
{
    const gr_config *cfg = c->cfg;
    const gr_route_request *req = c->req;
    struct gr_route_plan *plan = c->plan;
    const gr_route_conf *rc = gr_route_conf_of(cfg);
    const gr_model_conf *pool[GR_ROUTE_MAX_CANDIDATES];
    gr_auto_ability ab[GR_ROUTE_MAX_CANDIDATES];
    const gr_prices *price[GR_ROUTE_MAX_CANDIDATES];
    size_t n = 0;

    double target_per_1k;
    if (gr_auto_budget_parse_policy(policy, &target_per_1k) < 0) {
        route_set_result(plan, GR_ROUTE_INVALID,
                         "model '%.*s': a cost target is auto:$<USD per 1,000 requests>, e.g. auto:$0.50 "
                         "(%g to %g)",
                         (int)(policy.len > 64 ? 64 : policy.len), policy.ptr, GR_AUTO_BUDGET_MIN_PER_1K_USD,
                         GR_AUTO_BUDGET_MAX_PER_1K_USD);
        return;
    }
    gr_auto_budget_slot *budget;
    double usd = auto_value_usd(cfg, req, policy, plan, c->st, &budget);
    plan->value_usd = usd;

    for (size_t i = 0; i < cfg->nmodels && n < GR_ROUTE_MAX_CANDIDATES; i++) {
        const gr_model_conf *m = &cfg->models[i];
        uint32_t caps = route_model_caps(m);
        if (!(caps & (GR_CAP_CHAT | GR_CAP_COMPLETIONS)) || m->ndeployments == 0 ||
            !auto_pool_allows(cfg, m))
            continue;
        gr_route_refusal why_not = route_refusal_of(c, m, policy);
        if (why_not) { /* auto chooses only among what the caller may use */
            plan->rej_access++;
            if (!plan->refusal)
                plan->refusal = why_not;
            continue;
        }
        int why;
        if (route_model_reject_reason(m, req, &why)) {
            if (why == WHY_CAPS)
                plan->rej_caps++;
            else
                plan->rej_ctx++;
            continue;
        }
        /* cheapest deployment's prices (eligibility is re-checked when ordering) */
        const gr_prices *best = NULL;
        int64_t bc = INT64_MAX;
        for (size_t d = 0; d < m->ndeployments; d++) {
            const gr_prices *pr = route_dep_prices(m, &m->deployments[d]);
            int64_t cs = route_est_cost(pr, req);
            if (cs < bc) {
                bc = cs;
                best = pr;
            }
        }
        pool[n] = m;
        price[n] = best;
        gr_route_conf_auto_ability(rc, cfg, m, &ab[n]);
        n++;
    }
    if (n == 0 && plan->rej_access) {
        route_set_result(plan, GR_ROUTE_FORBIDDEN,
                         "auto: none of the models this API key may use can serve this request (%u refused: %s); "
                         "name a model, or ask for '%.*s' in the key's models list",
                         plan->rej_access,
                         plan->refusal == GR_ROUTE_NOT_PRICED ? "unpriced, and the key has a budget" : "not in the key's models list",
                         (int)policy.len, policy.ptr);
        return;
    }
    plan->refusal = GR_ROUTE_ALLOWED;
    if (n == 0) {
        route_set_result(plan, GR_ROUTE_NO_CAPABLE,
                         "auto: no configured model supports this request (%s%s%s~%u prompt tokens)",
                         (req->need_caps & GR_CAP_VISION) ? "images, " : "",
                         (req->need_caps & GR_CAP_TOOLS) ? "tools, " : "",
                         (req->need_caps & GR_CAP_JSON) ? "JSON mode, " : "", req->prompt_tokens);
        return;
    }

    gr_auto_features f;
    if (!req->body || gr_route_auto_features(req->body, &f) != GR_OK)
        gr_route_auto_features_text("", 0, &f);
    gr_auto_prediction pr;
    gr_route_auto_predict(&f, &pr);
    _Static_assert(GR_ARRAY_LEN(plan->skill_mix) == GR_SKILL_COUNT_, "one mixture weight per skill");
    memcpy(plan->skill_mix, pr.skill, sizeof plan->skill_mix);
    plan->task = gr_route_auto_task_name(f.task);
    plan->skill = gr_route_auto_skill_name(pr.top);
    plan->difficulty = pr.difficulty;
    plan->out_tokens = pr.out_tokens;
    double q[GR_ROUTE_MAX_CANDIDATES], cost[GR_ROUTE_MAX_CANDIDATES];
    for (size_t i = 0; i < n; i++) {
        double prior = gr_route_auto_quality(&pr, ab[i].a, ab[i].bias);
        gr_route_learned learned; /* what users' ratings taught (route_learn.h) */
        q[i] = gr_route_learn_adjust(&rc->learning, pool[i]->name, pr.skill, prior, &learned);
        double knn = req->embed && req->embed->quality ? req->embed->quality[pool[i] - cfg->models] : NAN;
        q[i] = gr_route_embed_blend(q[i], knn, req->embed ? req->embed->weight : 0.0); /* the neighbours' view */
        cost[i] = gr_route_auto_expected_cost(&pr, req->prompt_tokens, req->max_output_tokens,
                                              price[i]->input_uusd_per_mtok, price[i]->output_uusd_per_mtok,
                                              price[i]->per_request_uusd);
        plan->autoc[i] = (gr_route_auto_cand){pool[i], q[i], cost[i], -1.0, (uint8_t)ab[i].from,
                                              prior, learned.observed, learned.expected, learned.ratings, knn};
    }
    plan->nautoc = n;
    plan->embed = req->embed;

    /* Choose among models that still have an available, allowed deployment: the
     * expected-value choice; if its group is empty (health/provider/price), drop
     * it and choose again. */
    bool used[GR_ROUTE_MAX_CANDIDATES] = {false};
    int chosen = -1;
    for (size_t tries = 0; tries < n && chosen < 0; tries++) {
        double qq[GR_ROUTE_MAX_CANDIDATES], cc[GR_ROUTE_MAX_CANDIDATES];
        size_t map[GR_ROUTE_MAX_CANDIDATES], k = 0;
        for (size_t i = 0; i < n; i++)
            if (!used[i]) {
                qq[k] = q[i];
                cc[k] = cost[i];
                map[k++] = i;
            }
        int pick = gr_route_auto_choose(qq, cc, k, usd);
        if (pick < 0)
            break;
        size_t idx = map[pick];
        used[idx] = true;
        const char *sn = NULL;
        if (route_add_group(c, pool[idx], GR_CAND_PRIMARY, NULL, &sn)) {
            chosen = (int)idx;
            plan->strategy = sn;
        }
    }
    plan->auto_chosen = chosen;
    if (chosen < 0) {
        if (plan->rej_health)
            route_set_result(plan, GR_ROUTE_UNAVAILABLE,
                             "auto: every capable model is unavailable (circuit open or rate-limited)");
        else
            route_set_result(plan, GR_ROUTE_NO_CAPABLE,
                             "auto: no deployment matches the provider preferences");
        return;
    }
    plan->score = q[chosen];
    if (budget && !req->dry_run) { /* the cost target's controller learns what this choice costs */
        gr_auto_budget_observe(budget, &rc->cost_controller, cost[chosen]);
        plan->budget_per_1k = budget->target_usd * 1000.0;
        plan->budget_expected_usd = cost[chosen];
    }
    /* the bar: quality another model would need to win at this value */
    for (size_t i = 0; i < n; i++)
        plan->autoc[i].bar = isinf(usd) ? q[chosen]
                             : usd > 0.0 ? q[chosen] + (cost[i] - cost[chosen]) / usd
                                         : (cost[i] < cost[chosen] ? 0.0 : 1.0 + cost[i]);
    if (!req->provider.allow_fallbacks)
        return;
    /* alternatives: the rest by expected value at this knob (best first) */
    size_t order[GR_ROUTE_MAX_CANDIDATES], no = 0;
    for (size_t i = 0; i < n; i++)
        if (!used[i])
            order[no++] = i;
    for (size_t i = 1; i < no; i++)
        for (size_t j = i; j > 0; j--) {
            size_t a = order[j - 1], b = order[j];
            double ua = isinf(usd) ? q[a] : usd * q[a] - cost[a];
            double ub = isinf(usd) ? q[b] : usd * q[b] - cost[b];
            if (ua >= ub)
                break;
            order[j - 1] = b;
            order[j] = a;
        }
    for (size_t i = 0; i < no && plan->ncand < GR_ROUTE_MAX_CANDIDATES; i++)
        route_add_group(c, pool[order[i]], GR_CAND_AUTO_ALT, NULL, NULL);
}

void gr_route_budget_bill(gr_route_state *st, const gr_config *cfg, const struct gr_route_plan *plan, double actual_usd)
{
    if (st && plan && plan->budget_per_1k > 0.0)
        gr_auto_budget_bill(&st->budget, &gr_route_conf_of(cfg)->cost_controller, plan->budget_per_1k,
                            plan->budget_expected_usd, actual_usd);
}
