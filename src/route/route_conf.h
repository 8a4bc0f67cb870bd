/* route_conf.h — the `routing:` config section (auto router defaults and the
 * circuit breaker's settings), parsed and validated at config load into the
 * snapshot (config_sections.c), so the request path never reads YAML. */
#ifndef GR_ROUTE_CONF_H
#define GR_ROUTE_CONF_H

#include "config.h"
#include "health.h"
#include "route_auto_budget.h"
#include "route_auto_config.h"
#include "route_embed.h"
#include "route_learn.h"
#include "route_verify.h"

typedef struct gr_route_conf {
    double auto_value_usd; /* USD per good answer of plain "auto" (value_usd or quality); -1 = unset */
    double auto_cost_per_1k_usd; /* cost target of plain "auto" (cost_per_1k_usd), USD per 1k requests; -1 = unset */
    gr_auto_budget_conf cost_controller; /* routing.auto.cost_controller */
    gr_auto_ability *auto_abilities; /* per cfg->models[i], resolved at load (table, config, tier, price) */
    size_t nauto_abilities;
    char **auto_models;   /* routing.auto.models as canonical model names */
    size_t nauto_models;
    bool has_auto_models; /* false: every model with a quality is eligible */
    gr_health_opts health; /* routing.health */
    gr_route_learn_conf learning; /* routing.auto.learning */
    gr_route_embed_conf embed;    /* routing.auto.embeddings (its bank included) */
    gr_verify_conf verify; /* routing.auto.verify */
} gr_route_conf;

/* The declared keys of `routing` and `routing.auto` (routing.health: health.h). */
extern const gr_conf_key gr_conf_routing_keys[], gr_conf_routing_auto_keys[];
/* routing.auto.learning: route_learn.h gr_conf_routing_learning_keys. */

void *gr_route_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e);
void gr_route_conf_free(void *conf);

/* A config list of model names or aliases (path names it in errors) as
 * canonical names: *out (owned, each entry and the array) and *n, also
 * when it fails; false with e set on an empty list or an unknown name. */
bool gr_route_conf_model_list(const cJSON *list, const gr_config *cfg, const char *path, char ***out, size_t *n,
                              gr_conf_err *e);

/* The snapshot's routing settings (defaults when the section is absent). */
const gr_route_conf *gr_route_conf_of(const gr_config *cfg);

/* Abilities of model m of cfg: resolved at load; computed from the bundled
 * table, tier or price for a snapshot built by hand (tests). */
void gr_route_conf_auto_ability(const gr_route_conf *rc, const gr_config *cfg, const gr_model_conf *m,
                                gr_auto_ability *out);

#endif
