/* route_auto_config.c — routing.auto validation, the money knob and model
 * abilities (see route_auto_config.h). */
#include "route_auto_config.h"
#include "route.h"
#include "route_auto_abilities.h"
#include "route_auto_budget.h"
#include "route_conf.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <strings.h>

_Static_assert(sizeof gr_auto_ability_table[0].a / sizeof(float) == GR_SKILL_COUNT_,
               "route_auto_abilities.h is stale: re-run tools/route/train.mjs");

const cJSON *gr_route_auto_section(const gr_config *cfg)
{
    if (!cfg || !cfg->tree)
        return NULL;
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(cfg->tree, "routing");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "auto");
    return cJSON_IsObject(a) ? a : NULL;
}

/* ---- table lookup: every id of every row in a small open-addressing index ---- */

#define ID_SLOTS 512u /* > 2x the table's ids */
#define ID_MAX 96u

typedef struct {
    const char *id; /* points into the row's ids string */
    uint8_t len;
    int16_t row; /* -1 = empty */
} id_slot;

static id_slot id_index[ID_SLOTS];
static pthread_once_t id_once = PTHREAD_ONCE_INIT;

static void id_build(void)
{
    for (size_t i = 0; i < ID_SLOTS; i++)
        id_index[i].row = -1;
    for (size_t r = 0; r < GR_ARRAY_LEN(gr_auto_ability_table); r++) {
        const char *p = gr_auto_ability_table[r].ids;
        while (*p) {
            const char *e = strchr(p, ' ');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            if (l > 0 && l < ID_MAX) {
                uint32_t k = gr_fnv1a32(GR_FNV1A32_BASIS, p, l) & (ID_SLOTS - 1);
                while (id_index[k].row >= 0)
                    k = (k + 1) & (ID_SLOTS - 1);
                id_index[k] = (id_slot){p, (uint8_t)l, (int16_t)r};
            }
            p += l;
            while (*p == ' ')
                p++;
        }
    }
}

/* The row for a model name or upstream id: lower-cased, after the last '/'. */
static const gr_auto_ability_row *table_find(const char *name)
{
    if (!name || !*name)
        return NULL;
    pthread_once(&id_once, id_build);
    const char *slash = strrchr(name, '/');
    if (slash)
        name = slash + 1;
    char id[ID_MAX];
    size_t n = 0;
    for (; name[n]; n++) {
        if (n + 1 >= ID_MAX)
            return NULL;
        id[n] = (char)tolower((unsigned char)name[n]);
    }
    uint32_t k = gr_fnv1a32(GR_FNV1A32_BASIS, id, n) & (ID_SLOTS - 1);
    for (; id_index[k].row >= 0; k = (k + 1) & (ID_SLOTS - 1))
        if (id_index[k].len == n && memcmp(id_index[k].id, id, n) == 0)
            return &gr_auto_ability_table[id_index[k].row];
    return NULL;
}

static int skill_index(const char *s)
{
    for (int k = 0; k < GR_SKILL_COUNT_; k++)
        if (strcmp(s, gr_route_auto_skill_name((gr_skill)k)) == 0)
            return k;
    return -1;
}

static const cJSON *override_for(const cJSON *section, const gr_model_conf *m)
{
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(section, "abilities");
    if (!cJSON_IsObject(ab) || !m->name)
        return NULL;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(ab, m->name);
    return cJSON_IsObject(o) ? o : NULL;
}

void gr_route_auto_ability(const cJSON *section, const gr_model_conf *m, gr_auto_ability *out)
{
    memset(out, 0, sizeof *out);
    const gr_auto_ability_row *row = table_find(m->name);
    for (size_t d = 0; !row && d < m->ndeployments; d++)
        row = table_find(m->deployments[d].upstream_model);
    if (row) {
        memcpy(out->a, row->a, sizeof out->a);
        out->bias = row->bias;
        out->from = GR_AUTO_ABILITY_TABLE;
        out->table_id = row->ids;
    } else if (m->quality) {
        for (int k = 0; k < GR_SKILL_COUNT_; k++)
            out->a[k] = (float)m->quality / 100.0f;
        out->from = GR_AUTO_ABILITY_TIER;
    } else {
        int64_t op = m->prices.output_uusd_per_mtok;
        if (!op && m->ndeployments)
            op = m->deployments[0].prices.output_uusd_per_mtok;
        double usd = (double)op / 1e6;
        double z = GR_AUTO_PRICE_P0 + GR_AUTO_PRICE_P1 * log10(usd > 0.01 ? usd : 0.01);
        for (int k = 0; k < GR_SKILL_COUNT_; k++)
            out->a[k] = (float)(1.0 / (1.0 + exp(-z)));
        out->from = GR_AUTO_ABILITY_PRICE;
    }
    const cJSON *o = override_for(section, m);
    if (o) {
        int set = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, o)
        {
            int k = e->string ? skill_index(e->string) : -1;
            if (k >= 0 && cJSON_IsNumber(e)) {
                out->a[k] = (float)e->valuedouble;
                set++;
            }
        }
        if (set == GR_SKILL_COUNT_) {
            out->from = GR_AUTO_ABILITY_CONFIG;
            out->bias = 0.0f;
        }
    }
}

const char *gr_route_auto_ability_from_name(gr_auto_ability_from f)
{
    switch (f) {
    case GR_AUTO_ABILITY_TABLE:
        return "table";
    case GR_AUTO_ABILITY_CONFIG:
        return "config";
    case GR_AUTO_ABILITY_TIER:
        return "tier";
    case GR_AUTO_ABILITY_PRICE:
        return "price";
    }
    return "?";
}

static const gr_model_conf *find_model(const gr_config *cfg, const char *name)
{
    return gr_route_find_model(cfg, name, strlen(name));
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return GR_ERR_INVALID;                                                                     \
    } while (0)

gr_status gr_route_auto_config_check(const gr_config *cfg, char *err, size_t errlen)
{
    const cJSON *r = cfg && cfg->tree ? cJSON_GetObjectItemCaseSensitive(cfg->tree, "routing") : NULL;
    const cJSON *sec = cJSON_GetObjectItemCaseSensitive(r, "auto");
    if (!sec || cJSON_IsNull(sec))
        return GR_OK;
    if (!cJSON_IsObject(sec))
        FAIL("routing.auto: expected a mapping");
    static const char *const keys[] = {"models", "quality", "value_usd", "abilities", "learning", "embeddings", "verify",
                                       "cost_per_1k_usd", "cost_controller"};
    const cJSON *e;
    cJSON_ArrayForEach(e, sec)
    {
        bool known = false;
        for (size_t i = 0; i < GR_ARRAY_LEN(keys); i++)
            known = known || (e->string && strcmp(e->string, keys[i]) == 0);
        if (!known)
            FAIL("routing.auto.%s: unknown key (known: models, quality, value_usd, abilities, learning, embeddings, "
                 "verify, cost_per_1k_usd, cost_controller)",
                 e->string ? e->string : "?");
    }
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(sec, "models");
    if (models) {
        if (!cJSON_IsArray(models) || cJSON_GetArraySize(models) == 0)
            FAIL("routing.auto.models: expected a non-empty list of model names");
        int i = 0;
        cJSON_ArrayForEach(e, models)
        {
            if (!cJSON_IsString(e) || !e->valuestring)
                FAIL("routing.auto.models[%d]: expected a model name", i);
            if (!find_model(cfg, e->valuestring))
                FAIL("routing.auto.models[%d]: unknown model '%s'", i, e->valuestring);
            int j = 0;
            const cJSON *f;
            cJSON_ArrayForEach(f, models)
            {
                if (j++ >= i)
                    break;
                if (cJSON_IsString(f) && strcmp(f->valuestring, e->valuestring) == 0)
                    FAIL("routing.auto.models[%d]: '%s' is listed twice", i, e->valuestring);
            }
            i++;
        }
    }
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(sec, "quality");
    if (q && (!cJSON_IsNumber(q) || !(q->valuedouble >= 0.0 && q->valuedouble <= 1.0)))
        FAIL("routing.auto.quality: expected a number in [0, 1]");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(sec, "value_usd");
    if (v && (!cJSON_IsNumber(v) || !(v->valuedouble >= 0.0 && v->valuedouble <= GR_AUTO_MAX_VALUE_USD)))
        FAIL("routing.auto.value_usd: expected USD per good answer in [0, %g]", GR_AUTO_MAX_VALUE_USD);
    if (q && v)
        FAIL("routing.auto: set either quality or value_usd, not both");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(sec, "cost_per_1k_usd");
    if (t && (!cJSON_IsNumber(t) || !(t->valuedouble >= GR_AUTO_BUDGET_MIN_PER_1K_USD && t->valuedouble <= GR_AUTO_BUDGET_MAX_PER_1K_USD)))
        FAIL("routing.auto.cost_per_1k_usd: expected USD per 1,000 requests in [%g, %g]", GR_AUTO_BUDGET_MIN_PER_1K_USD,
             GR_AUTO_BUDGET_MAX_PER_1K_USD);
    if (t && (q || v))
        FAIL("routing.auto: set one of quality, value_usd and cost_per_1k_usd");
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(sec, "abilities");
    if (ab) {
        if (!cJSON_IsObject(ab))
            FAIL("routing.auto.abilities: expected a mapping of model name to skills");
        cJSON_ArrayForEach(e, ab)
        {
            const gr_model_conf *m = e->string ? find_model(cfg, e->string) : NULL;
            if (!m || strcmp(m->name, e->string) != 0)
                FAIL("routing.auto.abilities.%s: unknown model (use its configured name)",
                     e->string ? e->string : "?");
            if (!cJSON_IsObject(e) || cJSON_GetArraySize(e) == 0)
                FAIL("routing.auto.abilities.%s: expected a mapping of skill to 0..1", e->string);
            const cJSON *s;
            cJSON_ArrayForEach(s, e)
            {
                if (!s->string || skill_index(s->string) < 0)
                    FAIL("routing.auto.abilities.%s.%s: unknown skill (knowledge, reasoning, math, code, "
                         "instruction, language)",
                         e->string, s->string ? s->string : "?");
                if (!cJSON_IsNumber(s) || !(s->valuedouble > 0.0 && s->valuedouble < 1.0))
                    FAIL("routing.auto.abilities.%s.%s: expected a number in (0, 1)", e->string, s->string);
            }
        }
    }
    return GR_OK;
}

size_t gr_route_auto_config_notes(const gr_config *cfg, FILE *out)
{
    const cJSON *sec = gr_route_auto_section(cfg);
    const cJSON *models = cJSON_GetObjectItemCaseSensitive(sec, "models");
    const gr_route_conf *rc = gr_route_conf_of(cfg);
    size_t lines = 0;
    for (size_t i = 0; cfg && i < cfg->nmodels; i++) {
        const gr_model_conf *m = &cfg->models[i];
        if (!(m->caps & (GR_CAP_CHAT | GR_CAP_COMPLETIONS)) || m->ndeployments == 0)
            continue;
        if (cJSON_IsArray(models)) {
            bool in = false;
            const cJSON *e;
            cJSON_ArrayForEach(e, models)
            {
                in = in || (cJSON_IsString(e) && find_model(cfg, e->valuestring) == m);
            }
            if (!in)
                continue;
        }
        gr_auto_ability ab;
        gr_route_conf_auto_ability(rc, cfg, m, &ab); /* resolved at load (route_conf.c) */
        if (ab.from == GR_AUTO_ABILITY_TABLE || ab.from == GR_AUTO_ABILITY_CONFIG)
            continue;
        if (ab.from == GR_AUTO_ABILITY_TIER)
            fprintf(out, "note: auto: model '%s' is not in the ability table; placed from its quality tier %u "
                         "(ability %.2f per skill); set routing.auto.abilities.%s to override\n",
                    m->name, m->quality, (double)ab.a[0], m->name);
        else
            fprintf(out, "note: auto: model '%s' is not in the ability table and has no quality tier; placed "
                         "from its output price (ability %.2f per skill); set routing.auto.abilities.%s or "
                         "quality to override\n",
                    m->name, (double)ab.a[0], m->name);
        lines++;
    }
    return lines;
}

double gr_route_auto_config_value_usd(const cJSON *section)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(section, "value_usd");
    if (cJSON_IsNumber(v) && v->valuedouble >= 0.0 && v->valuedouble <= GR_AUTO_MAX_VALUE_USD)
        return v->valuedouble;
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(section, "quality");
    if (cJSON_IsNumber(q) && q->valuedouble >= 0.0 && q->valuedouble <= 1.0)
        return gr_route_auto_knob_to_usd(q->valuedouble);
    return -1.0;
}

double gr_route_auto_parse_value_usd(const char *v)
{
    if (!v)
        return -1.0;
    while (*v == ' ')
        v++;
    if (strcasecmp(v, "inf") == 0)
        return INFINITY;
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || (*end && *end != ' ') || !(d >= 0.0 && d <= GR_AUTO_MAX_VALUE_USD))
        return -1.0;
    return d;
}
