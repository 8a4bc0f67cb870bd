/* route_order.c — deployment ordering within one model group: the
 * strategies (weighted, round robin, least latency / busy / cost), health
 * and the caller's provider order applied. */
#include "route_internal.h"

#include <math.h>

/* ---- deployment ordering within one model group ---- */

/* What each name models[].strategy accepts selects, in the order of
 * gr_route_strategy_names (config.c, which validates against it). */
static const strategy strategy_of_name[GR_ROUTE_NSTRATEGY_NAMES] = {STRAT_WEIGHTED,      STRAT_WEIGHTED,      STRAT_WEIGHTED,
                                            STRAT_ROUND_ROBIN,   STRAT_LEAST_LATENCY, STRAT_LEAST_LATENCY,
                                            STRAT_LEAST_BUSY,    STRAT_LEAST_COST,    STRAT_LEAST_COST};

static strategy parse_strategy(const char *s, const char **name)
{
    for (size_t i = 0; s && gr_route_strategy_names[i]; i++)
        if (strcmp(s, gr_route_strategy_names[i]) == 0) {
            *name = gr_route_strategy_names[i];
            return strategy_of_name[i];
        }
    *name = "weighted";
    return STRAT_WEIGHTED;
}

typedef struct {
    const gr_deployment *dep;
    gr_health *h;
    double key;
    int64_t cost;
} slot;

/* stable insertion sort by key ascending */
static void sort_slots(slot *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        slot x = s[i];
        size_t j = i;
        while (j > 0 && s[j - 1].key > x.key) {
            s[j] = s[j - 1];
            j--;
        }
        s[j] = x;
    }
}

/* Weighted random permutation (sampling without replacement by weight). */
static void weighted_shuffle(slot *s, size_t n, gr_route_state *st)
{
    for (size_t i = 0; i + 1 < n; i++) {
        double total = 0.0;
        for (size_t j = i; j < n; j++)
            total += s[j].dep->weight;
        size_t pick = i;
        if (total > 0.0) {
            double r = gr_route_rand01(st) * total;
            for (size_t j = i; j < n; j++) {
                r -= s[j].dep->weight;
                if (r < 0.0) {
                    pick = j;
                    break;
                }
                pick = j;
            }
            /* skip zero-weight picks while positive weight remains */
            while (s[pick].dep->weight == 0 && pick > i)
                pick--;
        } else {
            pick = i + (size_t)(gr_route_rand(st) % (n - i));
        }
        slot t = s[i];
        s[i] = s[pick];
        s[pick] = t;
    }
}

/* Filter and order the deployments of model m; append to the plan.
 * Returns the number appended; *avail_out = eligible before the health check. */
size_t route_add_group(ctx *c, const gr_model_conf *m, gr_cand_kind kind, size_t *eligible_out,
                       const char **strat_name)
{
    const gr_route_request *req = c->req;
    const gr_route_provider_prefs *pp = &req->provider;
    struct gr_route_plan *plan = c->plan;
    slot s[MAX_GROUP];
    size_t n = 0, eligible = 0;
    size_t nd = m->ndeployments < MAX_GROUP ? m->ndeployments : MAX_GROUP;
    for (size_t i = 0; i < nd; i++) {
        const gr_deployment *d = &m->deployments[i];
        plan->considered++;
        if ((pp->nonly && route_list_pos(pp->only, pp->nonly, d) < 0) ||
            route_list_pos(pp->ignore, pp->nignore, d) >= 0 ||
            (!pp->allow_fallbacks && pp->norder && route_list_pos(pp->order, pp->norder, d) < 0)) {
            plan->rej_provider++;
            continue;
        }
        const gr_prices *pr = route_dep_prices(m, d);
        if ((pp->max_prompt_uusd >= 0 && pr->input_uusd_per_mtok > pp->max_prompt_uusd) ||
            (pp->max_completion_uusd >= 0 && pr->output_uusd_per_mtok > pp->max_completion_uusd) ||
            (pp->max_request_uusd >= 0 && pr->per_request_uusd > pp->max_request_uusd)) {
            plan->rej_price++;
            continue;
        }
        eligible++;
        gr_health *h = gr_health_get2(route_dep_provider_name(d), d->upstream_model);
        if (!gr_health_available(h, c->now)) {
            plan->rej_health++;
            continue;
        }
        s[n].dep = d;
        s[n].h = h;
        s[n].cost = route_est_cost(pr, req);
        s[n].key = 0.0;
        n++;
    }
    if (eligible_out)
        *eligible_out = eligible;
    const char *sname;
    strategy strat = parse_strategy(m->strategy, &sname);
    if (strat_name)
        *strat_name = sname;
    if (n == 0)
        return 0;

    if (pp->norder) {
        /* listed providers first, in the listed order; the rest by strategy after */
        weighted_shuffle(s, n, c->st);
        for (size_t i = 0; i < n; i++) {
            int pos = route_list_pos(pp->order, pp->norder, s[i].dep);
            s[i].key = pos >= 0 ? pos : (double)GR_ROUTE_MAX_LIST + 1.0;
        }
        sort_slots(s, n);
    } else if (c->sort != GR_ROUTE_SORT_NONE) {
        weighted_shuffle(s, n, c->st);
        for (size_t i = 0; i < n; i++) {
            gr_health_snapshot hs;
            gr_health_snapshot_get(s[i].h, &hs);
            switch (c->sort) {
            case GR_ROUTE_SORT_PRICE:
                s[i].key = (double)s[i].cost;
                break;
            case GR_ROUTE_SORT_THROUGHPUT: /* unknown speed sorts last */
                s[i].key = hs.ewma_per_token_us > 0 ? hs.ewma_per_token_us : HUGE_VAL;
                break;
            default:
                s[i].key = hs.ewma_ttft_us > 0 ? hs.ewma_ttft_us : HUGE_VAL;
                break;
            }
        }
        sort_slots(s, n);
    } else {
        switch (strat) {
        case STRAT_ROUND_ROBIN: {
            const char *name = m->name ? m->name : "";
            uint32_t *ctr = &c->st->rr[gr_fnv1a32(GR_FNV1A32_BASIS, name, strlen(name)) % GR_ROUTE_RR_SLOTS];
            size_t start = (*ctr)++ % n;
            slot tmp[MAX_GROUP];
            for (size_t i = 0; i < n; i++)
                tmp[i] = s[(start + i) % n];
            memcpy(s, tmp, n * sizeof *s);
            break;
        }
        case STRAT_LEAST_LATENCY:
        case STRAT_LEAST_BUSY:
        case STRAT_LEAST_COST:
            weighted_shuffle(s, n, c->st); /* random tie-breaking */
            for (size_t i = 0; i < n; i++) {
                gr_health_snapshot hs;
                gr_health_snapshot_get(s[i].h, &hs);
                double out = req->max_output_tokens ? req->max_output_tokens : DEFAULT_OUT_TOKENS;
                if (strat == STRAT_LEAST_LATENCY) /* no sample yet: try it (0) */
                    s[i].key = hs.ewma_ttft_us + hs.ewma_per_token_us * out;
                else if (strat == STRAT_LEAST_BUSY)
                    s[i].key = hs.in_flight;
                else
                    s[i].key = (double)s[i].cost;
            }
            sort_slots(s, n);
            break;
        default:
            weighted_shuffle(s, n, c->st);
            break;
        }
    }
    if (!pp->allow_fallbacks && !pp->norder)
        n = 1; /* exactly the chosen deployment, no provider fallback */

    size_t added = 0;
    for (size_t i = 0; i < n && plan->ncand < GR_ROUTE_MAX_CANDIDATES; i++) {
        gr_route_candidate *cd = &plan->cand[plan->ncand++];
        cd->model = m;
        cd->dep = s[i].dep;
        cd->health = s[i].h;
        cd->kind = i == 0 ? kind : GR_CAND_BALANCE;
        cd->est_cost_uusd = s[i].cost;
        added++;
    }
    return added;
}
