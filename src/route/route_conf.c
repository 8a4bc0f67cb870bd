/* route_conf.c — parses `routing:` (auto, health) into gr_route_conf. */
#include "route_conf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    double quality;
} auto_scalars; /* quality's range is checked here; its meaning is in route_auto_config.c */

const gr_conf_key gr_conf_routing_keys[] = {
    {"auto", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "defaults of model \"auto\""},
    {"health", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "circuit breaker and cooldowns"},
    GR_CONF_END,
};

const gr_conf_key gr_conf_routing_auto_keys[] = {
    {"quality", GR_CONF_FRACTION, GR_CONF_F(auto_scalars, quality), 0, 1, "0.5", NULL,
     "the bar of plain \"auto\": 0 = cheapest, 1 = best"},
    {"models", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "models auto may choose from (names or aliases); default: all"},
    {"value_usd", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "USD one more good answer is worth to plain \"auto\" (0..1000 or inf); exclusive with quality"},
    {"abilities", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "per model: {knowledge, reasoning, math, code, instruction, language: 0..1}, overrides the bundled table"},
    {"embeddings", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "the embeddings signal: nearest neighbours in a labelled bank (`route train`); see routing.auto.embeddings"},
    {"learning", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "what auto learns from ratings (POST /v1/feedback, `route calibrate`); see routing.auto.learning"},
    {"verify", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL, "the auto:verify cascade (routing.auto.verify)"},
    {"cost_per_1k_usd", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "cost-target mode of plain \"auto\": USD to spend per 1,000 requests (1e-6..100000); exclusive with quality and value_usd"},
    {"cost_controller", GR_CONF_NESTED, 0, 0, 0, 0, NULL, NULL,
     "the controller that holds a cost target (routing.auto.cost_controller)"},
    GR_CONF_END,
};

/* By name or alias (gr_config_find_model lives in the core; routing links without it). */
static const gr_model_conf *find_model(const gr_config *cfg, const char *name) {
    return gr_model_lookup(cfg->models, cfg->nmodels, name, strlen(name));
}

/* The defaults, for snapshots built by hand (tests): a loaded config always
 * has the section. */
static gr_route_conf g_defaults;
static pthread_once_t g_defaults_once = PTHREAD_ONCE_INIT;

static void defaults_init(void) {
    g_defaults.auto_value_usd = -1.0;
    g_defaults.auto_cost_per_1k_usd = -1.0;
    gr_auto_budget_conf_default(&g_defaults.cost_controller);
    gr_health_opts_default(&g_defaults.health);
    gr_route_learn_conf_default(&g_defaults.learning);
    gr_conf_err e = {0};
    gr_verify_conf_parse(NULL, NULL, &g_defaults.verify, &e); /* the declared defaults */
}

static gr_route_conf *conf_new(void) {
    pthread_once(&g_defaults_once, defaults_init);
    gr_route_conf *c = gr_xcalloc(1, sizeof *c);
    *c = g_defaults;
    return c;
}

static void parse_auto(const cJSON *a, const gr_config *cfg, gr_route_conf *c, gr_conf_err *e) {
    auto_scalars s = {0};
    gr_conf_load_keys(a, "routing.auto", gr_conf_routing_auto_keys, &s, e);
    if (e->failed) return;
    char err[512];
    if (gr_route_auto_config_check(cfg, err, sizeof err) != GR_OK) { /* value_usd, abilities, exclusivity */
        gr_conf_fail(e, "%s", err);
        return;
    }
    const cJSON *section = cJSON_IsObject(a) ? a : NULL;
    gr_route_learn_conf_parse(section ? cJSON_GetObjectItemCaseSensitive(section, "learning") : NULL, &c->learning, e);
    if (e->failed) return;
    gr_route_embed_conf_parse(section ? cJSON_GetObjectItemCaseSensitive(section, "embeddings") : NULL, cfg, &c->embed, e);
    if (e->failed) return;
    gr_verify_conf_parse(section ? cJSON_GetObjectItemCaseSensitive(section, "verify") : NULL, cfg, &c->verify, e);
    if (e->failed) return;
    gr_auto_budget_conf_parse(section ? cJSON_GetObjectItemCaseSensitive(section, "cost_controller") : NULL,
                              &c->cost_controller, e);
    if (e->failed) return;
    c->auto_value_usd = gr_route_auto_config_value_usd(section);
    const cJSON *target = section ? cJSON_GetObjectItemCaseSensitive(section, "cost_per_1k_usd") : NULL;
    c->auto_cost_per_1k_usd = cJSON_IsNumber(target) ? target->valuedouble : -1.0; /* range checked above */
    c->nauto_abilities = cfg->nmodels;
    c->auto_abilities = gr_xcalloc(cfg->nmodels ? cfg->nmodels : 1, sizeof *c->auto_abilities);
    for (size_t i = 0; i < cfg->nmodels; i++) gr_route_auto_ability(section, &cfg->models[i], &c->auto_abilities[i]);
    const cJSON *list = cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, "models") : NULL;
    if (!list || cJSON_IsNull(list)) return;
    c->has_auto_models = gr_route_conf_model_list(list, cfg, "routing.auto.models", &c->auto_models, &c->nauto_models, e);
}

bool gr_route_conf_model_list(const cJSON *list, const gr_config *cfg, const char *path, char ***out, size_t *n,
                              gr_conf_err *e) {
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0) {
        gr_conf_fail(e, "%s: expected a non-empty list of model names", path);
        return false;
    }
    *out = gr_xcalloc((size_t)cJSON_GetArraySize(list) + 1, sizeof(char *));
    const cJSON *it;
    cJSON_ArrayForEach(it, list) {
        const gr_model_conf *m = cJSON_IsString(it) ? find_model(cfg, it->valuestring) : NULL;
        if (!m) {
            gr_conf_fail(e, "%s[%zu]: unknown model '%s'", path, *n, cJSON_IsString(it) ? it->valuestring : "(not a string)");
            return false;
        }
        (*out)[(*n)++] = gr_xstrdup(m->name); /* an alias counts as its model */
    }
    return true;
}

void *gr_route_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    gr_route_conf *c = conf_new();
    gr_conf_check_keys(sec, "routing", gr_conf_routing_keys, e);
    if (!e->failed) /* also without the section: abilities are resolved once, here */
        parse_auto(cJSON_IsObject(sec) ? cJSON_GetObjectItemCaseSensitive(sec, "auto") : NULL, cfg, c, e);
    if (!e->failed && cJSON_IsObject(sec)) {
        char err[256] = "";
        if (gr_health_opts_from_json(cJSON_GetObjectItemCaseSensitive(sec, "health"), &c->health, err, sizeof err) != GR_OK)
            gr_conf_fail(e, "%s", err);
    }
    if (e->failed) {
        gr_route_conf_free(c);
        return NULL;
    }
    return c;
}

void gr_route_conf_free(void *conf) {
    gr_route_conf *c = conf;
    if (!c) return;
    for (size_t i = 0; i < c->nauto_models; i++) free(c->auto_models[i]);
    free(c->auto_models);
    free(c->auto_abilities);
    gr_route_embed_conf_dispose(&c->embed);
    gr_verify_conf_dispose(&c->verify);
    free(c);
}

const gr_route_conf *gr_route_conf_of(const gr_config *cfg) {
    const gr_route_conf *c = cfg ? cfg->section[GR_CONF_SEC_ROUTING] : NULL;
    if (c) return c;
    pthread_once(&g_defaults_once, defaults_init);
    return &g_defaults;
}

void gr_route_conf_auto_ability(const gr_route_conf *rc, const gr_config *cfg, const gr_model_conf *m,
                                gr_auto_ability *out) {
    size_t i = (size_t)(m - cfg->models);
    if (rc->auto_abilities && i < rc->nauto_abilities && rc->nauto_abilities == cfg->nmodels) {
        *out = rc->auto_abilities[i];
        return;
    }
    gr_route_auto_ability(NULL, m, out);
}
