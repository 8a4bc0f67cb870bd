/* route.c — deployment selection, OpenRouter routing parameters, the auto
 * policy over N models, retry/fallback rules and route explanations. */
#include "route.h"
#include "route_auto.h"
#include "route_auto_config.h"
#include "route_auto_explain.h"
#include "route_conf.h"

#include <ctype.h>
#include <stdarg.h>
#include <strings.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#define MAX_GROUP 64          /* deployments considered per model */
#define DEFAULT_OUT_TOKENS 512 /* output estimate when max_tokens is unset */
#define IMAGE_TOKENS 1000      /* prompt-token estimate per image part */
#define MAX_EXPLAIN_FILE (16u << 20)

/* ---- prototypes (table of contents) ---- */
static uint64_t mono_ns(void);
static bool str_ieq(gr_str a, const char *b);
static uint32_t model_caps(const gr_model_conf *m);
static const gr_prices *dep_prices(const gr_model_conf *m, const gr_deployment *d);
static int64_t est_cost(const gr_prices *p, const gr_route_request *req);
static const char *model_reject_reason(const gr_model_conf *m, const gr_route_request *req, int *why);

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

static uint64_t mono_ns(void)
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

static uint32_t model_caps(const gr_model_conf *m)
{
    /* caps unset in config: a plain chat model */
    return m->caps ? m->caps : (GR_CAP_CHAT | GR_CAP_STREAM);
}

static const gr_prices *dep_prices(const gr_model_conf *m, const gr_deployment *d)
{
    return d->prices.set ? &d->prices : &m->prices;
}

static int64_t est_cost(const gr_prices *p, const gr_route_request *req)
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

static const char *dep_provider_name(const gr_deployment *d)
{
    return d->provider && d->provider->name ? d->provider->name : "?";
}

static bool dep_matches(const gr_deployment *d, gr_str name)
{
    const char *pn = dep_provider_name(d);
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

static int list_pos(const gr_str *list, size_t n, const gr_deployment *d)
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

enum { WHY_OK = 0, WHY_CAPS, WHY_CTX };

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
static const char *model_reject_reason(const gr_model_conf *m, const gr_route_request *req, int *why)
{
    uint32_t missing = req->need_caps & ~model_caps(m);
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

/* ---- inputs ---- */

const char *const gr_route_gateway_fields[] = {"models", "provider", "route", "transforms", NULL};

void gr_route_request_init(gr_route_request *r)
{
    memset(r, 0, sizeof *r);
    r->provider.allow_fallbacks = true;
    r->provider.max_prompt_uusd = -1;
    r->provider.max_completion_uusd = -1;
    r->provider.max_request_uusd = -1;
    r->quality = -1.0;
    r->value_usd = -1.0;
    r->default_value_usd = -1.0;
    r->default_cost_per_1k_usd = -1.0;
}

double gr_route_parse_quality(const char *value)
{
    if (!value || !*value)
        return -1.0;
    char *end = NULL;
    errno = 0;
    double v = strtod(value, &end);
    while (end && (*end == ' ' || *end == '\t'))
        end++;
    if (errno || !end || *end || !(v >= 0.0 && v <= 1.0))
        return -1.0;
    return v;
}

static gr_status fail(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
    return GR_ERR_INVALID;
}

static gr_status parse_str_list(const cJSON *arr, gr_str *out, size_t *n, const char *what,
                                char *err, size_t errlen)
{
    *n = 0;
    if (!arr || cJSON_IsNull(arr))
        return GR_OK;
    if (!cJSON_IsArray(arr)) {
        char m[96];
        snprintf(m, sizeof m, "%s must be an array of strings", what);
        return fail(err, errlen, m);
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        if (!cJSON_IsString(e) || !e->valuestring) {
            char m[96];
            snprintf(m, sizeof m, "%s must be an array of strings", what);
            return fail(err, errlen, m);
        }
        if (*n < GR_ROUTE_MAX_LIST)
            out[(*n)++] = gr_str_c(e->valuestring);
    }
    return GR_OK;
}

/* USD per Mtok (number or decimal string) -> micro-USD per Mtok. */
static gr_status parse_price(const cJSON *v, int64_t *out, const char *what, char *err,
                             size_t errlen)
{
    double d;
    if (!v || cJSON_IsNull(v))
        return GR_OK;
    if (cJSON_IsNumber(v))
        d = v->valuedouble;
    else if (cJSON_IsString(v) && v->valuestring) {
        char *end = NULL;
        d = strtod(v->valuestring, &end);
        if (!end || *end)
            d = -1;
    } else
        d = -1;
    if (!(d >= 0.0 && d < 1e9)) {
        char m[96];
        snprintf(m, sizeof m, "provider.max_price.%s must be a non-negative number", what);
        return fail(err, errlen, m);
    }
    *out = (int64_t)llround(d * 1e6);
    return GR_OK;
}

static uint32_t text_tokens(const char *s)
{
    size_t l = s ? strlen(s) : 0;
    return (uint32_t)((l + 3) / 4);
}

gr_status gr_route_request_from_json(const cJSON *body, gr_route_request *r, char *err,
                                     size_t errlen)
{
    gr_status rc;
    gr_route_request_init(r);
    if (!cJSON_IsObject(body))
        return fail(err, errlen, "request body must be a JSON object");
    r->body = body;

    const cJSON *model = cJSON_GetObjectItemCaseSensitive(body, "model");
    if (model && !cJSON_IsNull(model)) {
        if (!cJSON_IsString(model) || !model->valuestring)
            return fail(err, errlen, "model must be a string");
        r->model = gr_str_c(model->valuestring);
    }
    rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(body, "models"), r->models, &r->nmodels,
                        "models", err, errlen);
    if (rc)
        return rc;

    const cJSON *prov = cJSON_GetObjectItemCaseSensitive(body, "provider");
    if (prov && !cJSON_IsNull(prov)) {
        if (!cJSON_IsObject(prov))
            return fail(err, errlen, "provider must be an object");
        gr_route_provider_prefs *p = &r->provider;
        rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "order"), p->order, &p->norder,
                            "provider.order", err, errlen);
        if (!rc)
            rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "only"), p->only,
                                &p->nonly, "provider.only", err, errlen);
        if (!rc)
            rc = parse_str_list(cJSON_GetObjectItemCaseSensitive(prov, "ignore"), p->ignore,
                                &p->nignore, "provider.ignore", err, errlen);
        if (rc)
            return rc;
        const cJSON *sort = cJSON_GetObjectItemCaseSensitive(prov, "sort");
        if (sort && !cJSON_IsNull(sort)) {
            const char *sv = cJSON_IsString(sort) ? sort->valuestring : NULL;
            if (sv && strcmp(sv, "price") == 0)
                p->sort = GR_ROUTE_SORT_PRICE;
            else if (sv && strcmp(sv, "throughput") == 0)
                p->sort = GR_ROUTE_SORT_THROUGHPUT;
            else if (sv && strcmp(sv, "latency") == 0)
                p->sort = GR_ROUTE_SORT_LATENCY;
            else
                return fail(err, errlen,
                            "provider.sort must be one of \"price\", \"throughput\", \"latency\"");
        }
        const cJSON *af = cJSON_GetObjectItemCaseSensitive(prov, "allow_fallbacks");
        if (af && !cJSON_IsNull(af)) {
            if (!cJSON_IsBool(af))
                return fail(err, errlen, "provider.allow_fallbacks must be a boolean");
            p->allow_fallbacks = cJSON_IsTrue(af);
        }
        const cJSON *mp = cJSON_GetObjectItemCaseSensitive(prov, "max_price");
        if (mp && !cJSON_IsNull(mp)) {
            if (!cJSON_IsObject(mp))
                return fail(err, errlen, "provider.max_price must be an object");
            rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "prompt"), &p->max_prompt_uusd,
                             "prompt", err, errlen);
            if (!rc)
                rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "completion"),
                                 &p->max_completion_uusd, "completion", err, errlen);
            if (!rc)
                rc = parse_price(cJSON_GetObjectItemCaseSensitive(mp, "request"),
                                 &p->max_request_uusd, "request", err, errlen);
            if (rc)
                return rc;
        }
    }

    /* capabilities and a cheap token estimate (4 bytes/token, images fixed) */
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(body, "tools");
    const cJSON *functions = cJSON_GetObjectItemCaseSensitive(body, "functions");
    if ((cJSON_IsArray(tools) && cJSON_GetArraySize(tools) > 0) ||
        (cJSON_IsArray(functions) && cJSON_GetArraySize(functions) > 0)) {
        r->need_caps |= GR_CAP_TOOLS;
        char *t = cJSON_PrintUnformatted(cJSON_IsArray(tools) ? tools : functions);
        r->prompt_tokens += text_tokens(t);
        free(t);
    }
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(body, "response_format");
    const cJSON *rft = cJSON_GetObjectItemCaseSensitive(rf, "type");
    if (cJSON_IsString(rft) && rft->valuestring &&
        (strcmp(rft->valuestring, "json_object") == 0 ||
         strcmp(rft->valuestring, "json_schema") == 0))
        r->need_caps |= GR_CAP_JSON;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        r->prompt_tokens += 4;
        if (cJSON_IsString(content)) {
            r->prompt_tokens += text_tokens(content->valuestring);
        } else if (cJSON_IsArray(content)) {
            const cJSON *part;
            cJSON_ArrayForEach(part, content)
            {
                const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
                const char *ts = cJSON_IsString(type) ? type->valuestring : "";
                if (strcmp(ts, "image_url") == 0 || strcmp(ts, "image") == 0 ||
                    strcmp(ts, "input_image") == 0) {
                    r->need_caps |= GR_CAP_VISION;
                    r->prompt_tokens += IMAGE_TOKENS;
                } else {
                    const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
                    if (cJSON_IsString(text))
                        r->prompt_tokens += text_tokens(text->valuestring);
                }
            }
        }
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (cJSON_IsArray(tc) && cJSON_GetArraySize(tc) > 0)
            r->need_caps |= GR_CAP_TOOLS;
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(body, "prompt");
    if (cJSON_IsString(prompt))
        r->prompt_tokens += text_tokens(prompt->valuestring);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(body, "max_completion_tokens");
    if (!cJSON_IsNumber(mt))
        mt = cJSON_GetObjectItemCaseSensitive(body, "max_tokens");
    if (cJSON_IsNumber(mt) && mt->valuedouble > 0)
        r->max_output_tokens =
            mt->valuedouble > 4e9 ? 4000000000u : (uint32_t)mt->valuedouble;
    if (msgs || prompt)
        r->need_caps |= GR_CAP_CHAT;
    return GR_OK;
}

/* ---- deployment ordering within one model group ---- */

typedef enum {
    STRAT_WEIGHTED = 0,
    STRAT_ROUND_ROBIN,
    STRAT_LEAST_LATENCY,
    STRAT_LEAST_BUSY,
    STRAT_LEAST_COST,
} strategy;

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

typedef struct {
    const gr_config *cfg;
    const gr_route_request *req;
    gr_route_state *st;
    struct gr_route_plan *plan;
    uint64_t now;
    gr_route_sort sort;
} ctx;

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
static size_t add_group(ctx *c, const gr_model_conf *m, gr_cand_kind kind, size_t *eligible_out,
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
        if ((pp->nonly && list_pos(pp->only, pp->nonly, d) < 0) ||
            list_pos(pp->ignore, pp->nignore, d) >= 0 ||
            (!pp->allow_fallbacks && pp->norder && list_pos(pp->order, pp->norder, d) < 0)) {
            plan->rej_provider++;
            continue;
        }
        const gr_prices *pr = dep_prices(m, d);
        if ((pp->max_prompt_uusd >= 0 && pr->input_uusd_per_mtok > pp->max_prompt_uusd) ||
            (pp->max_completion_uusd >= 0 && pr->output_uusd_per_mtok > pp->max_completion_uusd) ||
            (pp->max_request_uusd >= 0 && pr->per_request_uusd > pp->max_request_uusd)) {
            plan->rej_price++;
            continue;
        }
        eligible++;
        gr_health *h = gr_health_get2(dep_provider_name(d), d->upstream_model);
        if (!gr_health_available(h, c->now)) {
            plan->rej_health++;
            continue;
        }
        s[n].dep = d;
        s[n].h = h;
        s[n].cost = est_cost(pr, req);
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
            int pos = list_pos(pp->order, pp->norder, s[i].dep);
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

/* ---- reasons ---- */

static void appendf(char *buf, size_t cap, const char *fmt, ...) GR_PRINTF(3, 4);
static void appendf(char *buf, size_t cap, const char *fmt, ...)
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
    appendf(p->reason, sizeof p->reason, " skipped=");
    const char *sep = "";
    if (p->rej_caps) {
        appendf(p->reason, sizeof p->reason, "%scaps:%u", sep, p->rej_caps);
        sep = ",";
    }
    if (p->rej_ctx) {
        appendf(p->reason, sizeof p->reason, "%sctx:%u", sep, p->rej_ctx);
        sep = ",";
    }
    if (p->rej_provider) {
        appendf(p->reason, sizeof p->reason, "%sprovider:%u", sep, p->rej_provider);
        sep = ",";
    }
    if (p->rej_price) {
        appendf(p->reason, sizeof p->reason, "%sprice:%u", sep, p->rej_price);
        sep = ",";
    }
    if (p->rej_health) {
        appendf(p->reason, sizeof p->reason, "%shealth:%u", sep, p->rej_health);
        sep = ",";
    }
    if (p->rej_access)
        appendf(p->reason, sizeof p->reason, "%saccess:%u", sep, p->rej_access);
}

static void set_result(struct gr_route_plan *p, gr_route_result r, const char *fmt, ...) GR_PRINTF(3, 4);
static void set_result(struct gr_route_plan *p, gr_route_result r, const char *fmt, ...)
{
    p->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof p->error, fmt, ap);
    va_end(ap);
}

/* ---- the caller's restrictions (gr_route_access) ---- */

static gr_route_refusal refusal_of(const ctx *c, const gr_model_conf *m, gr_str auto_policy)
{
    const gr_route_access *a = c->req->access;
    return a && a->refuse ? a->refuse(m, auto_policy, a->arg) : GR_ROUTE_ALLOWED;
}

/* A model the request named itself is refused outright, never skipped. */
static bool refuse_named(ctx *c, const gr_model_conf *m, const char *where)
{
    gr_route_refusal why = refusal_of(c, m, (gr_str){0});
    if (why == GR_ROUTE_ALLOWED)
        return false;
    c->plan->refusal = why;
    if (why == GR_ROUTE_NOT_PRICED)
        set_result(c->plan, GR_ROUTE_FORBIDDEN,
                   "%sThe model '%s' has no price, so an API key with a budget cannot use it (its cost "
                   "could not be counted against the budget).",
                   where, m->name);
    else
        set_result(c->plan, GR_ROUTE_FORBIDDEN, "%sThis API key is not allowed to use model '%s'.", where,
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
        set_result(plan, GR_ROUTE_NOT_FOUND, "model '%.*s' not found", (int)primary.len,
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
            set_result(plan, GR_ROUTE_NOT_FOUND, "models[%zu]: model '%.*s' not found", i,
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
                if (m && !chain_has(chain, n, m) && refusal_of(c, m, (gr_str){0})) {
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
        const char *rr = model_reject_reason(chain[k], req, &why);
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
        add_group(c, chain[k], plan->ncand == 0 ? (k == 0 ? GR_CAND_PRIMARY : kinds[k]) : kinds[k],
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
            if (chain_has(chain, n, m) || model_reject_reason(m, req, &why) ||
                m->quality < pm->quality || m->ndeployments == 0)
                continue;
            if (refusal_of(c, m, (gr_str){0})) {
                plan->rej_access++;
                continue;
            }
            int64_t cst = est_cost(dep_prices(m, &m->deployments[0]), req);
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
            add_group(c, alts[i], GR_CAND_FALLBACK, NULL, &sn);
            if (!plan->strategy && plan->ncand > before)
                plan->strategy = sn;
        }
        if (plan->ncand)
            appendf(plan->reason, sizeof plan->reason, "ctx-upgrade ");
    }

    if (plan->ncand == 0) {
        if (!any_fit && first_reject) {
            if (first_why == WHY_CTX) {
                set_result(plan, GR_ROUTE_NO_CAPABLE,
                           "prompt (~%u tokens + %u output) exceeds the context window of '%s' "
                           "and no fallback model fits",
                           req->prompt_tokens, req->max_output_tokens, first_reject_model);
                plan->ctx_limit = first_reject_ctx;
            }
            else
                set_result(plan, GR_ROUTE_NO_CAPABLE,
                           "model '%s' does not support %s and no fallback model does",
                           first_reject_model, first_reject);
        } else if (plan->rej_health && !plan->rej_provider && !plan->rej_price) {
            set_result(plan, GR_ROUTE_UNAVAILABLE,
                       "all deployments of '%s' are unavailable (circuit open or rate-limited)",
                       pm->name);
        } else if (plan->rej_health) {
            set_result(plan, GR_ROUTE_UNAVAILABLE,
                       "no deployment of '%s' allowed by the provider preferences is available",
                       pm->name);
        } else {
            set_result(plan, GR_ROUTE_NO_CAPABLE,
                       "no deployment of '%s' matches the provider preferences (order/only/"
                       "ignore/max_price)",
                       pm->name);
        }
    }
}

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
 * controller holds (*budget, fed with the choice's cost by plan_auto). */
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
            per_1k = req->default_value_usd >= 0.0   ? -1.0
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

static void plan_auto(ctx *c, gr_str policy)
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
        set_result(plan, GR_ROUTE_INVALID,
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
        uint32_t caps = model_caps(m);
        if (!(caps & (GR_CAP_CHAT | GR_CAP_COMPLETIONS)) || m->ndeployments == 0 ||
            !auto_pool_allows(cfg, m))
            continue;
        gr_route_refusal why_not = refusal_of(c, m, policy);
        if (why_not) { /* auto chooses only among what the caller may use */
            plan->rej_access++;
            if (!plan->refusal)
                plan->refusal = why_not;
            continue;
        }
        int why;
        if (model_reject_reason(m, req, &why)) {
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
            const gr_prices *pr = dep_prices(m, &m->deployments[d]);
            int64_t cs = est_cost(pr, req);
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
        set_result(plan, GR_ROUTE_FORBIDDEN,
                   "auto: none of the models this API key may use can serve this request (%u refused: %s); "
                   "name a model, or ask for '%.*s' in the key's models list",
                   plan->rej_access,
                   plan->refusal == GR_ROUTE_NOT_PRICED ? "unpriced, and the key has a budget" : "not in the key's models list",
                   (int)policy.len, policy.ptr);
        return;
    }
    plan->refusal = GR_ROUTE_ALLOWED;
    if (n == 0) {
        set_result(plan, GR_ROUTE_NO_CAPABLE,
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
        if (add_group(c, pool[idx], GR_CAND_PRIMARY, NULL, &sn)) {
            chosen = (int)idx;
            plan->strategy = sn;
        }
    }
    plan->auto_chosen = chosen;
    if (chosen < 0) {
        if (plan->rej_health)
            set_result(plan, GR_ROUTE_UNAVAILABLE,
                       "auto: every capable model is unavailable (circuit open or rate-limited)");
        else
            set_result(plan, GR_ROUTE_NO_CAPABLE,
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
        add_group(c, pool[order[i]], GR_CAND_AUTO_ALT, NULL, NULL);
}

void gr_route_budget_bill(gr_route_state *st, const gr_config *cfg, const struct gr_route_plan *plan, double actual_usd)
{
    if (st && plan && plan->budget_per_1k > 0.0)
        gr_auto_budget_bill(&st->budget, &gr_route_conf_of(cfg)->cost_controller, plan->budget_per_1k,
                            plan->budget_expected_usd, actual_usd);
}

static bool is_auto(gr_str m)
{
    return gr_str_eq_c(m, "auto") || (m.len > 5 && memcmp(m.ptr, "auto:", 5) == 0);
}

gr_status gr_route_plan(const gr_config *cfg, const gr_route_request *req, gr_route_state *state,
                        struct gr_route_plan *out)
{
    uint64_t t0 = mono_ns();
    memset(out, 0, sizeof *out);
    out->score = out->knob = out->value_usd = -1.0;
    out->auto_chosen = -1;
    if (!cfg || !req || !state) {
        set_result(out, GR_ROUTE_INVALID, "internal: missing config or request");
        return GR_ERR_INVALID;
    }
    ctx c = {.cfg = cfg, .req = req, .st = state, .plan = out,
             .now = req->now_us ? req->now_us : gr_now_us(), .sort = req->provider.sort};

    gr_str model = req->model;
    if (model.len == 0 && req->nmodels > 0)
        model = req->models[0];
    if (model.len == 0) {
        set_result(out, GR_ROUTE_INVALID, "model is required");
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
        plan_auto(&c, model);
        if (!strncmp(out->policy, "auto:verify", 11))
            gr_route_verify_choose(cfg, out);
    } else {
        snprintf(out->policy, sizeof out->policy, "model");
        plan_models(&c, model);
    }
    if (out->result == GR_ROUTE_OK && out->ncand == 0)
        set_result(out, GR_ROUTE_NO_CAPABLE, "no candidate deployment");

done:
    out->decide_ns = mono_ns() - t0;
    {
        char head[sizeof out->reason];
        snprintf(head, sizeof head, "%s", out->reason); /* e.g. "ctx-upgrade " */
        out->reason[0] = '\0';
        appendf(out->reason, sizeof out->reason, "policy=%s", out->policy[0] ? out->policy : "-");
        gr_route_verify_reason(out, out->reason, sizeof out->reason);
        if (out->value_usd >= 0)
            gr_route_auto_reason(out, out->reason, sizeof out->reason);
        if (c.sort != GR_ROUTE_SORT_NONE)
            appendf(out->reason, sizeof out->reason, " sort=%s",
                    c.sort == GR_ROUTE_SORT_PRICE        ? "price"
                    : c.sort == GR_ROUTE_SORT_THROUGHPUT ? "throughput"
                                                         : "latency");
        else if (out->strategy)
            appendf(out->reason, sizeof out->reason, " strategy=%s", out->strategy);
        if (out->ncand)
            appendf(out->reason, sizeof out->reason, " chose=%s/%s",
                    out->cand[0].model->name ? out->cand[0].model->name : "?",
                    dep_provider_name(out->cand[0].dep));
        appendf(out->reason, sizeof out->reason, " considered=%u candidates=%zu", out->considered,
                out->ncand);
        add_rejections(out);
        if (head[0])
            appendf(out->reason, sizeof out->reason, " %.*s", (int)strlen(head) - 1, head);
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

/* ---- retries ---- */

static _Thread_local uint64_t retry_rng;

static uint32_t backoff_ms(unsigned attempt)
{
    if (!retry_rng)
        retry_rng = (mono_ns() ^ (uint64_t)(uintptr_t)&retry_rng) | 1;
    retry_rng ^= retry_rng << 13;
    retry_rng ^= retry_rng >> 7;
    retry_rng ^= retry_rng << 17;
    uint32_t cap = 100u << (attempt > 4 ? 4 : attempt); /* 100, 200, 400, 800, 1600 ms */
    if (cap > 2000)
        cap = 2000;
    /* "equal jitter": half fixed, half random -> (cap/2, cap] */
    return cap / 2 + 1 + (uint32_t)(retry_rng % (cap / 2));
}

gr_retry_action gr_route_should_retry(const gr_outcome *o, unsigned attempt,
                                      uint64_t bytes_sent_to_client, uint32_t *delay_ms)
{
    uint32_t dummy;
    if (!delay_ms)
        delay_ms = &dummy;
    *delay_ms = 0;
    if (!o || o->kind == GR_OUTCOME_OK)
        return GR_RETRY_NONE;
    if (bytes_sent_to_client > 0) /* the client already has part of a response */
        return GR_RETRY_NONE;
    if (attempt + 1 >= GR_ROUTE_MAX_ATTEMPTS)
        return GR_RETRY_NONE;
    switch (o->kind) {
    case GR_OUTCOME_CONNECT_ERROR: /* often transient: once more on the same, then move on */
        *delay_ms = backoff_ms(attempt);
        return attempt == 0 ? GR_RETRY_SAME : GR_RETRY_NEXT;
    case GR_OUTCOME_TIMEOUT: /* a slow deployment stays slow: move on */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    case GR_OUTCOME_HTTP:
        break;
    default:
        return GR_RETRY_NONE;
    }
    int st = o->http_status;
    if (o->err_class == GR_ERRCLASS_CONTEXT_LENGTH)
        return GR_RETRY_NEXT_LARGER_CTX;
    if (o->err_class == GR_ERRCLASS_CONTENT_POLICY)
        return GR_RETRY_NEXT_MODEL;
    if (o->request_fault) /* the same request fails the same way anywhere */
        return GR_RETRY_NONE;
    if (st == 429 || st == 408) { /* the deployment is cooling down (health) */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    }
    if (st == 500 || st == 502) {
        *delay_ms = backoff_ms(attempt);
        return attempt == 0 ? GR_RETRY_SAME : GR_RETRY_NEXT;
    }
    if (st >= 500) { /* 503, 504, 529 overloaded ... */
        *delay_ms = backoff_ms(attempt);
        return GR_RETRY_NEXT;
    }
    return GR_RETRY_NONE; /* other 4xx: the request itself is wrong */
}

int gr_route_next(const struct gr_route_plan *plan, int cur, gr_retry_action act)
{
    if (!plan || cur < 0 || (size_t)cur >= plan->ncand)
        return -1;
    const gr_route_candidate *c = &plan->cand[cur];
    uint64_t now = gr_now_us();
    switch (act) {
    case GR_RETRY_NONE:
        return -1;
    case GR_RETRY_SAME:
        return cur;
    case GR_RETRY_NEXT:
    case GR_RETRY_NEXT_LARGER_CTX:
    case GR_RETRY_NEXT_MODEL:
        break;
    }
    for (size_t j = (size_t)cur + 1; j < plan->ncand; j++) {
        const gr_route_candidate *n = &plan->cand[j];
        if (act == GR_RETRY_NEXT_LARGER_CTX &&
            !(n->model->context_window > c->model->context_window && c->model->context_window))
            continue;
        if (act == GR_RETRY_NEXT_MODEL && n->model == c->model)
            continue;
        if (!gr_health_available(n->health, now))
            continue;
        return (int)j;
    }
    return -1;
}

static bool icontains(const char *h, size_t hl, const char *needle)
{
    size_t nl = strlen(needle);
    if (nl == 0 || nl > hl)
        return false;
    for (size_t i = 0; i + nl <= hl; i++) {
        size_t k = 0;
        while (k < nl && tolower((unsigned char)h[i + k]) == needle[k])
            k++;
        if (k == nl)
            return true;
    }
    return false;
}

gr_error_class gr_route_classify_error(int http_status, const char *body, size_t len)
{
    static const char *const ctx_pat[] = {
        "context_length_exceeded", "maximum context length", "context length", "context window",
        "prompt is too long",      "input is too long",      "too many tokens", "string_above_max_length",
    };
    static const char *const pol_pat[] = {
        "content_policy", "content_filter", "content management policy", "responsibleaipolicy",
        "safety",         "content policy", "flagged",
    };
    if (!body || http_status < 400 || http_status >= 500)
        return GR_ERRCLASS_NONE;
    if (len > 65536)
        len = 65536;
    for (size_t i = 0; i < GR_ARRAY_LEN(ctx_pat); i++)
        if (icontains(body, len, ctx_pat[i]))
            return GR_ERRCLASS_CONTEXT_LENGTH;
    for (size_t i = 0; i < GR_ARRAY_LEN(pol_pat); i++)
        if (icontains(body, len, pol_pat[i]))
            return GR_ERRCLASS_CONTENT_POLICY;
    return GR_ERRCLASS_NONE;
}

/* Codes and types by which an upstream says "your request is at fault",
 * whatever HTTP status it chose (some servers answer 500 for a prompt that is
 * too long). Read from the parsed error object, never from free text: a 5xx
 * is an outage unless the upstream says otherwise in a structured field. */
static gr_error_class structured_fault(const char *body, size_t len, bool *fault)
{
    *fault = false;
    if (!body || len == 0 || len > 65536)
        return GR_ERRCLASS_NONE;
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
    const cJSON *status = cJSON_GetObjectItemCaseSensitive(e, "status"); /* Gemini */
    const char *c = cJSON_IsString(code) ? code->valuestring : "";
    gr_error_class cls = GR_ERRCLASS_NONE;
    if (!strcmp(c, "context_length_exceeded") || !strcmp(c, "string_above_max_length"))
        cls = GR_ERRCLASS_CONTEXT_LENGTH;
    else if (!strcmp(c, "content_filter") || !strcmp(c, "content_policy_violation"))
        cls = GR_ERRCLASS_CONTENT_POLICY;
    *fault = cls != GR_ERRCLASS_NONE ||
             (cJSON_IsString(type) && !strcmp(type->valuestring, "invalid_request_error")) ||
             (cJSON_IsString(status) && !strcmp(status->valuestring, "INVALID_ARGUMENT"));
    cJSON_Delete(j);
    return cls;
}

gr_error_class gr_route_request_fault(int http_status, const char *body, size_t len, bool *fault)
{
    gr_error_class cls = gr_route_classify_error(http_status, body, len);
    *fault = false;
    if (http_status >= 400 && http_status < 500) {
        /* 401/403 (our credentials), 404 (our model id), 408 and 429 (load) are
         * about the deployment, whatever their body says */
        *fault = http_status != 401 && http_status != 403 && http_status != 404 && http_status != 408 &&
                 http_status != 429;
        return cls;
    }
    if (http_status >= 500)
        return structured_fault(body, len, fault);
    return cls;
}

const char *gr_retry_action_name(gr_retry_action a)
{
    switch (a) {
    case GR_RETRY_NONE:
        return "none";
    case GR_RETRY_SAME:
        return "retry-same";
    case GR_RETRY_NEXT:
        return "next";
    case GR_RETRY_NEXT_LARGER_CTX:
        return "next-larger-context";
    case GR_RETRY_NEXT_MODEL:
        return "next-model";
    }
    return "?";
}

/* ---- explanations ---- */

static const char *kind_name(gr_cand_kind k)
{
    switch (k) {
    case GR_CAND_PRIMARY:
        return "primary";
    case GR_CAND_BALANCE:
        return "balance";
    case GR_CAND_MODELS:
        return "models";
    case GR_CAND_FALLBACK:
        return "fallback";
    case GR_CAND_AUTO_ALT:
        return "auto-alt";
    }
    return "?";
}

size_t gr_route_format_header(const struct gr_route_plan *plan, int served, unsigned attempts, char *buf,
                              size_t len)
{
    if (!buf || len == 0)
        return 0;
    buf[0] = '\0';
    if (!plan)
        return 0;
    appendf(buf, len, "%s", plan->reason);
    if (served >= 0 && (size_t)served < plan->ncand) {
        const gr_route_candidate *c = &plan->cand[served];
        if (served > 0)
            appendf(buf, len, " fallback=%d served=%s/%s", served,
                    c->model->name ? c->model->name : "?", dep_provider_name(c->dep));
    }
    if (attempts > 1)
        appendf(buf, len, " attempts=%u", attempts);
    /* header-safe: no CR/LF or control bytes */
    for (char *p = buf; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return strlen(buf);
}

cJSON *gr_route_plan_to_json(const struct gr_route_plan *plan)
{
    if (!plan)
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "result", gr_route_result_name(plan->result));
    cJSON_AddNumberToObject(o, "status", gr_route_result_http_status(plan->result));
    if (plan->result != GR_ROUTE_OK)
        cJSON_AddStringToObject(o, "error", plan->error);
    cJSON_AddStringToObject(o, "policy", plan->policy);
    if (plan->strategy)
        cJSON_AddStringToObject(o, "strategy", plan->strategy);
    if (plan->value_usd >= 0)
        gr_route_auto_to_json(plan, o);
    gr_route_verify_to_json(plan, o);
    cJSON_AddNumberToObject(o, "considered", plan->considered);
    cJSON *rj = cJSON_AddObjectToObject(o, "skipped");
    cJSON_AddNumberToObject(rj, "capabilities", plan->rej_caps);
    cJSON_AddNumberToObject(rj, "context", plan->rej_ctx);
    cJSON_AddNumberToObject(rj, "provider", plan->rej_provider);
    cJSON_AddNumberToObject(rj, "price", plan->rej_price);
    cJSON_AddNumberToObject(rj, "health", plan->rej_health);
    cJSON_AddNumberToObject(rj, "access", plan->rej_access);
    cJSON *arr = cJSON_AddArrayToObject(o, "candidates");
    for (size_t i = 0; i < plan->ncand; i++) {
        const gr_route_candidate *c = &plan->cand[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "model", c->model->name ? c->model->name : "");
        cJSON_AddStringToObject(e, "provider", dep_provider_name(c->dep));
        cJSON_AddStringToObject(e, "upstream_model", c->dep->upstream_model ? c->dep->upstream_model : "");
        cJSON_AddStringToObject(e, "kind", kind_name(c->kind));
        cJSON_AddNumberToObject(e, "quality", c->model->quality);
        cJSON_AddNumberToObject(e, "est_cost_usd", (double)c->est_cost_uusd / 1e6);
        gr_health_snapshot hs;
        gr_health_snapshot_get(c->health, &hs);
        cJSON *h = cJSON_AddObjectToObject(e, "health");
        cJSON_AddStringToObject(h, "breaker", gr_breaker_state_name(hs.state));
        cJSON_AddNumberToObject(h, "in_flight", hs.in_flight);
        cJSON_AddNumberToObject(h, "ewma_ttft_ms", hs.ewma_ttft_us / 1000.0);
        cJSON_AddNumberToObject(h, "ewma_ms_per_token", hs.ewma_per_token_us / 1000.0);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddStringToObject(o, "reason", plan->reason);
    cJSON_AddNumberToObject(o, "decide_ns", (double)plan->decide_ns);
    return o;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = gr_xmalloc(cap + 1);
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_EXPLAIN_FILE) {
                free(buf);
                fclose(f);
                return NULL;
            }
            cap *= 2;
            buf = gr_xrealloc(buf, cap + 1);
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int gr_route_explain_cli(const gr_config *cfg, const char *request_json_path, FILE *out)
{
    int rc = 2;
    size_t len = 0;
    char *text = NULL, *js = NULL;
    cJSON *doc = NULL, *pj = NULL;
    char err[256] = "";
    if (!out)
        out = stdout;
    text = request_json_path ? read_file(request_json_path, &len) : NULL;
    if (!text) {
        fprintf(out, "route: cannot read %s\n", request_json_path ? request_json_path : "(null)");
        goto out;
    }
    doc = cJSON_ParseWithLength(text, len);
    if (!doc) {
        fprintf(out, "route: %s is not valid JSON\n", request_json_path);
        goto out;
    }
    /* Either a bare request body, or {"headers": {...}, "body": {...}} */
    const cJSON *body = doc;
    const cJSON *hdrs = cJSON_GetObjectItemCaseSensitive(doc, "headers");
    if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(doc, "body")))
        body = cJSON_GetObjectItemCaseSensitive(doc, "body");
    gr_route_request req;
    if (gr_route_request_from_json(body, &req, err, sizeof err) != GR_OK) {
        fprintf(out, "route: invalid request: %s\n", err);
        rc = 1;
        goto out;
    }
    const cJSON *qh = NULL;
    const cJSON *h;
    cJSON_ArrayForEach(h, hdrs)
    {
        if (h->string && strcasecmp(h->string, "x-gaterouter-quality") == 0)
            qh = h;
    }
    const cJSON *vh = NULL;
    cJSON_ArrayForEach(h, hdrs)
    {
        if (h->string && strcasecmp(h->string, "x-gaterouter-value-usd") == 0)
            vh = h;
    }
    if (cJSON_IsString(vh))
        req.value_usd = gr_route_auto_parse_value_usd(vh->valuestring);
    else if (cJSON_IsNumber(vh) && vh->valuedouble >= 0 && vh->valuedouble <= GR_AUTO_MAX_VALUE_USD)
        req.value_usd = vh->valuedouble;
    if (cJSON_IsString(qh))
        req.quality = gr_route_parse_quality(qh->valuestring);
    else if (cJSON_IsNumber(qh) && qh->valuedouble >= 0 && qh->valuedouble <= 1)
        req.quality = qh->valuedouble;

    req.dry_run = true; /* an explanation feeds no cost-target controller */
    gr_route_state st;
    gr_route_state_init(&st, 1);
    struct gr_route_plan plan;
    (void)gr_route_plan(cfg, &req, &st, &plan);
    fprintf(out, "decision: %s (HTTP %d)\n", gr_route_result_name(plan.result),
            gr_route_result_http_status(plan.result));
    if (plan.result != GR_ROUTE_OK)
        fprintf(out, "error:    %s\n", plan.error);
    fprintf(out, "request:  model=%.*s prompt~%u tokens max_output=%u caps=%s%s%s%s\n",
            (int)req.model.len, req.model.ptr ? req.model.ptr : "", req.prompt_tokens,
            req.max_output_tokens, (req.need_caps & GR_CAP_TOOLS) ? "tools " : "",
            (req.need_caps & GR_CAP_VISION) ? "vision " : "",
            (req.need_caps & GR_CAP_JSON) ? "json " : "",
            (req.need_caps & (GR_CAP_TOOLS | GR_CAP_VISION | GR_CAP_JSON)) ? "" : "chat");
    if (plan.value_usd >= 0)
        gr_route_auto_explain_print(&plan, out);
    for (size_t i = 0; i < plan.ncand; i++) {
        const gr_route_candidate *c = &plan.cand[i];
        fprintf(out, "  %2zu. %-24s %-12s %-28s %-9s q=%-3u est=$%.6f\n", i + 1,
                c->model->name ? c->model->name : "?", dep_provider_name(c->dep),
                c->dep->upstream_model ? c->dep->upstream_model : "", kind_name(c->kind),
                c->model->quality, (double)c->est_cost_uusd / 1e6);
    }
    fprintf(out, "x-gaterouter-route: %s\n", plan.reason);
    fprintf(out, "decision time: %.1f us\n", (double)plan.decide_ns / 1000.0);
    pj = gr_route_plan_to_json(&plan);
    js = pj ? cJSON_Print(pj) : NULL;
    if (js)
        fprintf(out, "%s\n", js);
    rc = plan.result == GR_ROUTE_OK ? 0 : 1;
out:
    free(js);
    cJSON_Delete(pj);
    cJSON_Delete(doc);
    free(text);
    return rc;
}
