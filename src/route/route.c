/* route.c — the plan of one request (gr_route_plan): explicit models and
 * their fallbacks, the caller's restrictions, the reasons a candidate was
 * left out, the result's status and name; the PRNG the strategies draw from.
 * The parts: route_input.c (the request's routing fields), route_order.c
 * (deployment ordering within one model group), route_plan_auto.c (the auto
 * policy over N models), route_retry.c (retry/fallback rules, error
 * classes), route_explain.c (the route header, /v1/route, `route explain`). */
#include "route_internal.h"
#include "route.h"
#include "route_auto_explain.h"
#include "route_conf.h"

#include <ctype.h>
#include <stdarg.h>
#include <time.h>

/* ---- prototypes (table of contents) ---- */
static bool str_ieq(gr_str a, const char *b);

/* ---- PRNG: xoroshiro128+ seeded by splitmix64 ---- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void gr_route_state_init(gr_route_state *s, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    uint64_t x = seed;
    s->rng[0] = splitmix(&x);
    s->rng[1] = splitmix(&x);
    if (!s->rng[0] && !s->rng[1])
        s->rng[1] = 1;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t gr_route_rand(gr_route_state *s)
{
    uint64_t s0 = s->rng[0], s1 = s->rng[1];
    uint64_t r = s0 + s1;
    s1 ^= s0;
    s->rng[0] = rotl(s0, 24) ^ s1 ^ (s1 << 16);
    s->rng[1] = rotl(s1, 37);
    return r;
}

double gr_route_rand01(gr_route_state *s) { return (double)(gr_route_rand(s) >> 11) * 0x1.0p-53; }

/* ---- small helpers ---- */

uint64_t route_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool str_ieq(gr_str a, const char *b)
{
    size_t bl = strlen(b);
    if (a.len != bl)
        return false;
    for (size_t i = 0; i < bl; i++)
        if (tolower((unsigned char)a.ptr[i]) != tolower((unsigned char)b[i]))
            return false;
    return true;
}

static bool has_suffix(gr_str s, const char *suf)
{
    size_t l = strlen(suf);
    return s.len > l && memcmp(s.ptr + s.len - l, suf, l) == 0;
}

uint32_t route_model_caps(const gr_model_conf *m)
{
    /* caps unset in config: a plain chat model */
    return m->caps ? m->caps : (GR_CAP_CHAT | GR_CAP_STREAM);
}

const gr_prices *route_dep_prices(const gr_model_conf *m, const gr_deployment *d)
{
    return d->prices.set ? &d->prices : &m->prices;
}

int64_t route_est_cost(const gr_prices *p, const gr_route_request *req)
{
    int64_t out = req->max_output_tokens ? (int64_t)req->max_output_tokens : DEFAULT_OUT_TOKENS;
    if (out > 4096)
        out = 4096;
    /* micro-USD per Mtok * tokens / 1e6 -> micro-USD, rounded up to keep > 0 */
    int64_t c = (p->input_uusd_per_mtok * (int64_t)req->prompt_tokens +
                 p->output_uusd_per_mtok * out + 999999) /
                1000000;
    return c + p->per_request_uusd;
}

const char *route_dep_provider_name(const gr_deployment *d)
{
    return d->provider && d->provider->name ? d->provider->name : "?";
}

static bool dep_matches(const gr_deployment *d, gr_str name)
{
    const char *pn = route_dep_provider_name(d);
    if (str_ieq(name, pn))
        return true;
    /* "provider/upstream_model" */
    size_t pl = strlen(pn);
    const char *um = d->upstream_model ? d->upstream_model : "";
    size_t ul = strlen(um);
    if (name.len == pl + 1 + ul && name.ptr[pl] == '/') {
        gr_str a = {name.ptr, pl}, b = {name.ptr + pl + 1, ul};
        return str_ieq(a, pn) && str_ieq(b, um);
    }
    return false;
}

int route_list_pos(const gr_str *list, size_t n, const gr_deployment *d)
{
    for (size_t i = 0; i < n; i++)
        if (dep_matches(d, list[i]))
            return (int)i;
    return -1;
}

const gr_model_conf *gr_route_find_model(const gr_config *cfg, const char *name, size_t len)
{
    if (!cfg || !name)
        return NULL;
    return gr_model_lookup(cfg->models, cfg->nmodels, name, len);
}

static const char *cap_name(uint32_t bit)
{
    switch (bit) {
    case GR_CAP_TOOLS:
        return "tools";
    case GR_CAP_VISION:
        return "vision (image input)";
    case GR_CAP_JSON:
        return "JSON mode";
    case GR_CAP_EMBEDDINGS:
        return "embeddings";
    case GR_CAP_COMPLETIONS:
        return "completions";
    case GR_CAP_STREAM:
        return "streaming";
    default:
        return "chat";
    }
}

/* NULL if the model can serve the request; else a static reason. */
const char *route_model_reject_reason(const gr_model_conf *m, const gr_route_request *req, int *why)
{
    uint32_t missing = req->need_caps & ~route_model_caps(m);
    if (missing) {
        *why = WHY_CAPS;
        return cap_name(missing & (~missing + 1u));
    }
    uint64_t need = (uint64_t)req->prompt_tokens + req->max_output_tokens;
    if (m->context_window && need > m->context_window) {
        *why = WHY_CTX;
        return "context window";
    }
    *why = WHY_OK;
    return NULL;
}

/* ---- reasons ---- */

void route_appendf(char *buf, size_t cap, const char *fmt, ...)
{
    size_t l = strlen(buf);
    if (l + 1 >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, cap - l, fmt, ap);
    va_end(ap);
}

/* auto part of the reason: the knob in USD per good answer, the prompt's main
 * skill, then per capable model name:quality/$expected-cost/bar, the choice first. */
static void add_rejections(struct gr_route_plan *p)
{
    if (!(p->rej_caps | p->rej_ctx | p->rej_provider | p->rej_price | p->rej_health | p->rej_access))
        return;
    route_appendf(p->reason, sizeof p->reason, " skipped=");
    const char *sep = "";
    if (p->rej_caps) {
        route_appendf(p->reason, sizeof p->reason, "%scaps:%u", sep, p->rej_caps);
        sep = ",";
    }
    if (p->rej_ctx) {
        route_appendf(p->reason, sizeof p->reason, "%sctx:%u", sep, p->rej_ctx);
        sep = ",";
    }
    if (p->rej_provider) {
        route_appendf(p->reason, sizeof p->reason, "%sprovider:%u", sep, p->rej_provider);
        sep = ",";
    }
    if (p->rej_price) {
        route_appendf(p->reason, sizeof p->reason, "%sprice:%u", sep, p->rej_price);
        sep = ",";
    }
    if (p->rej_health) {
        route_appendf(p->reason, sizeof p->reason, "%shealth:%u", sep, p->rej_health);
        sep = ",";
    }
    if (p->rej_access)
        route_appendf(p->reason, sizeof p->reason, "%saccess:%u", sep, p->rej_access);
}

void route_set_result(struct gr_route_plan *p, gr_route_result r, const char *fmt, ...)
{
    p->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
}

/* ---- the caller's restrictions (gr_route_access) ---- */

gr_route_refusal route_refusal_of(const ctx *c, const gr_model_conf *m, gr_str auto_policy)
{
    const gr_route_access *a = c->req->access;
    return a && a->refuse ? a->refuse(m, auto_policy, a->arg) : GR_ROUTE_ALLOWED;
}

/* A model the request named itself is refused outright, never skipped. */
static bool refuse_named(ctx *c, const gr_model_conf *m, const char *where)
{
    gr_route_refusal why = route_refusal_of(c, m, (gr_str){0});
    if (why == GR_ROUTE_ALLOWED)
        return false;
    c->plan->refusal = why;
    if (why == GR_ROUTE_NOT_PRICED)
        route_set_result(c->plan, GR_ROUTE_FORBIDDEN,
                         "%sThe model '%s' has no price, so an API key with a budget cannot use it (its cost "
                         "could not be counted against the budget).",
                         where, m->name);
    else
        route_set_result(c->plan, GR_ROUTE_FORBIDDEN, "%sThis API key is not allowed to use model '%s'.", where,
                         m->name);
    return true;
}

/* ---- explicit models ---- */

static bool chain_has(const gr_model_conf **chain, size_t n, const gr_model_conf *m)
{
    for (size_t i = 0; i < n; i++)
        if (chain[i] == m)
            return true;
    return false;
}

static void plan_models(ctx *c, gr_str primary)
{
    const gr_config *cfg = c->cfg;
    const gr_route_request *req = c->req;
    struct gr_route_plan *plan = c->plan;
    const gr_model_conf *chain[GR_ROUTE_MAX_CANDIDATES];
    gr_cand_kind kinds[GR_ROUTE_MAX_CANDIDATES];
    size_t n = 0;

    const gr_model_conf *pm = gr_route_find_model(cfg, primary.ptr, primary.len);
    if (!pm) {
        route_set_result(plan, GR_ROUTE_NOT_FOUND, "model '%.*s' not found", (int)primary.len,
                         primary.ptr);
        return;
    }
    if (refuse_named(c, pm, ""))
        return;
    chain[n] = pm;
    kinds[n++] = GR_CAND_PRIMARY;
    for (size_t i = 0; i < req->nmodels; i++) {
        const gr_model_conf *m = gr_route_find_model(cfg, req->models[i].ptr, req->models[i].len);
        if (!m) {
            route_set_result(plan, GR_ROUTE_NOT_FOUND, "models[%zu]: model '%.*s' not found", i,
                             (int)req->models[i].len, req->models[i].ptr);
            return;
        }
        char where[32];
        snprintf(where, sizeof where, "models[%zu]: ", i);
        if (refuse_named(c, m, where))
            return;
        if (!chain_has(chain, n, m) && n < GR_ROUTE_MAX_CANDIDATES) {
            chain[n] = m;
            kinds[n++] = GR_CAND_MODELS;
        }
    }
    if (req->provider.allow_fallbacks) {
        size_t base = n;
        for (size_t k = 0; k < base; k++)
            for (size_t f = 0; f < chain[k]->nfallbacks; f++) {
                const char *fn = chain[k]->fallbacks[f];
                const gr_model_conf *m = fn ? gr_route_find_model(cfg, fn, strlen(fn)) : NULL;
                if (m && !chain_has(chain, n, m) && route_refusal_of(c, m, (gr_str){0})) {
                    plan->rej_access++; /* a fallback the caller may not use */
                    continue;
                }
                if (m && !chain_has(chain, n, m) && n < GR_ROUTE_MAX_CANDIDATES) {
                    chain[n] = m;
                    kinds[n++] = GR_CAND_FALLBACK;
                }
            }
    }

    const char *first_reject = NULL, *first_reject_model = NULL;
    uint32_t first_reject_ctx = 0;
    int first_why = WHY_OK;
    bool any_fit = false, primary_ctx = false;
    for (size_t k = 0; k < n; k++) {
        int why;
        const char *rr = route_model_reject_reason(chain[k], req, &why);
        if (rr) {
            if (why == WHY_CAPS)
                plan->rej_caps++;
            else
                plan->rej_ctx++;
            if (k == 0 && why == WHY_CTX)
                primary_ctx = true;
            if (!first_reject) {
                first_reject = rr;
                first_reject_model = chain[k]->name;
                first_reject_ctx = chain[k]->context_window;
                first_why = why;
            }
            continue;
        }
        any_fit = true;
        const char *sn = NULL;
        size_t before = plan->ncand;
        route_add_group(c, chain[k], plan->ncand == 0 ? (k == 0 ? GR_CAND_PRIMARY : kinds[k]) : kinds[k],
                        NULL, &sn);
        if (!plan->strategy && plan->ncand > before)
            plan->strategy = sn;
    }

    /* Context-window fallback: nothing in the chain fits the prompt; try any model
     * with the needed capabilities, a large enough window and no lower quality,
     * cheapest first. */
    if (!any_fit && primary_ctx && req->provider.allow_fallbacks) {
        const gr_model_conf *alts[GR_ROUTE_MAX_CANDIDATES];
        int64_t costs[GR_ROUTE_MAX_CANDIDATES];
        size_t na = 0;
        for (size_t i = 0; i < cfg->nmodels && na < GR_ROUTE_MAX_CANDIDATES; i++) {
            const gr_model_conf *m = &cfg->models[i];
            int why;
            if (chain_has(chain, n, m) || route_model_reject_reason(m, req, &why) ||
                m->quality < pm->quality || m->ndeployments == 0)
                continue;
            if (route_refusal_of(c, m, (gr_str){0})) {
                plan->rej_access++;
                continue;
            }
            int64_t cst = route_est_cost(route_dep_prices(m, &m->deployments[0]), req);
            size_t j = na++;
            while (j > 0 && costs[j - 1] > cst) {
                alts[j] = alts[j - 1];
                costs[j] = costs[j - 1];
                j--;
            }
            alts[j] = m;
            costs[j] = cst;
        }
        for (size_t i = 0; i < na; i++) {
            const char *sn = NULL;
            size_t before = plan->ncand;
            route_add_group(c, alts[i], GR_CAND_FALLBACK, NULL, &sn);
            if (!plan->strategy && plan->ncand > before)
                plan->strategy = sn;
        }
        if (plan->ncand)
            route_appendf(plan->reason, sizeof plan->reason, "ctx-upgrade ");
    }

    if (plan->ncand == 0) {
        if (!any_fit && first_reject) {
            if (first_why == WHY_CTX) {
                route_set_result(plan, GR_ROUTE_NO_CAPABLE,
                                 "prompt (~%u tokens + %u output) exceeds the context window of '%s' "
                                 "and no fallback model fits",
                                 req->prompt_tokens, req->max_output_tokens, first_reject_model);
                plan->ctx_limit = first_reject_ctx;
            }
            else
                route_set_result(plan, GR_ROUTE_NO_CAPABLE,
                                 "model '%s' does not support %s and no fallback model does",
                                 first_reject_model, first_reject);
        } else if (plan->rej_health && !plan->rej_provider && !plan->rej_price) {
            route_set_result(plan, GR_ROUTE_UNAVAILABLE,
                             "all deployments of '%s' are unavailable (circuit open or rate-limited)",
                             pm->name);
        } else if (plan->rej_health) {
            route_set_result(plan, GR_ROUTE_UNAVAILABLE,
                             "no deployment of '%s' allowed by the provider preferences is available",
                             pm->name);
        } else {
            route_set_result(plan, GR_ROUTE_NO_CAPABLE,
                             "no deployment of '%s' matches the provider preferences (order/only/"
                             "ignore/max_price)",
                             pm->name);
        }
    }
}

static bool is_auto(gr_str m)
{
    return gr_str_eq_c(m, "auto") || (m.len > 5 && memcmp(m.ptr, "auto:", 5) == 0);
}

gr_status gr_route_plan(const gr_config *cfg, const gr_route_request *req, gr_route_state *state,
                        struct gr_route_plan *out)
{
    uint64_t t0 = route_mono_ns();
    memset(out, 0, sizeof *out);
    out->score = out->knob = out->value_usd = -1.0;
    out->auto_chosen = -1;
    if (!cfg || !req || !state) {
        route_set_result(out, GR_ROUTE_INVALID, "internal: missing config or request");
        return GR_ERR_INVALID;
    }
    ctx c = {.cfg = cfg, .req = req, .st = state, .plan = out,
             .now = req->now_us ? req->now_us : gr_now_us(), .sort = req->provider.sort};

    gr_str model = req->model;
    if (model.len == 0 && req->nmodels > 0)
        model = req->models[0];
    if (model.len == 0) {
        route_set_result(out, GR_ROUTE_INVALID, "model is required");
        goto done;
    }
    /* OpenRouter suffixes, unless the full name is itself configured */
    if (!gr_route_find_model(cfg, model.ptr, model.len)) {
        if (has_suffix(model, ":floor")) {
            model.len -= 6;
            c.sort = GR_ROUTE_SORT_PRICE;
        } else if (has_suffix(model, ":nitro")) {
            model.len -= 6;
            c.sort = GR_ROUTE_SORT_THROUGHPUT;
        }
    }
    if (is_auto(model) && !gr_route_find_model(cfg, model.ptr, model.len)) {
        route_plan_auto(&c, model);
        if (!strncmp(out->policy, "auto:verify", 11))
            gr_route_verify_choose(cfg, out);
    } else {
        snprintf(out->policy, sizeof out->policy, "model");
        plan_models(&c, model);
    }
    if (out->result == GR_ROUTE_OK && out->ncand == 0)
        route_set_result(out, GR_ROUTE_NO_CAPABLE, "no candidate deployment");

done:
    out->decide_ns = route_mono_ns() - t0;
    {
        char head[sizeof out->reason];
        snprintf(head, sizeof head, "%s", out->reason); /* e.g. "ctx-upgrade " */
        out->reason[0] = '\0';
        route_appendf(out->reason, sizeof out->reason, "policy=%s", out->policy[0] ? out->policy : "-");
        gr_route_verify_reason(out, out->reason, sizeof out->reason);
        if (out->value_usd >= 0)
            gr_route_auto_reason(out, out->reason, sizeof out->reason);
        if (c.sort != GR_ROUTE_SORT_NONE)
            route_appendf(out->reason, sizeof out->reason, " sort=%s",
                          c.sort == GR_ROUTE_SORT_PRICE        ? "price"
                          : c.sort == GR_ROUTE_SORT_THROUGHPUT ? "throughput"
                                                         : "latency");
        else if (out->strategy)
            route_appendf(out->reason, sizeof out->reason, " strategy=%s", out->strategy);
        if (out->ncand)
            route_appendf(out->reason, sizeof out->reason, " chose=%s/%s",
                          out->cand[0].model->name ? out->cand[0].model->name : "?",
                          route_dep_provider_name(out->cand[0].dep));
        route_appendf(out->reason, sizeof out->reason, " considered=%u candidates=%zu", out->considered,
                      out->ncand);
        add_rejections(out);
        if (head[0])
            route_appendf(out->reason, sizeof out->reason, " %.*s", (int)strlen(head) - 1, head);
    }
    return out->result == GR_ROUTE_OK ? GR_OK : GR_ERR_NOT_FOUND;
}

int gr_route_result_http_status(gr_route_result r)
{
    switch (r) {
    case GR_ROUTE_OK:
        return 200;
    case GR_ROUTE_NOT_FOUND:
        return 404;
    case GR_ROUTE_UNAVAILABLE:
        return 503;
    case GR_ROUTE_NO_CAPABLE:
    case GR_ROUTE_INVALID:
        return 400;
    case GR_ROUTE_FORBIDDEN:
        return 403;
    }
    return 500;
}

const char *gr_route_result_name(gr_route_result r)
{
    switch (r) {
    case GR_ROUTE_OK:
        return "ok";
    case GR_ROUTE_NOT_FOUND:
        return "model_not_found";
    case GR_ROUTE_NO_CAPABLE:
        return "no_capable_model";
    case GR_ROUTE_UNAVAILABLE:
        return "all_deployments_unavailable";
    case GR_ROUTE_INVALID:
        return "invalid_routing_parameters";
    case GR_ROUTE_FORBIDDEN:
        return "model_forbidden";
    }
    return "?";
}
