/* route_conf.h — the `routing:` config section (auto router defaults and the
 * circuit breaker's settings), parsed and validated at config load into the
 * snapshot (config_sections.c), so the request path never reads YAML. */
#ifndef GR_ROUTE_CONF_H
#define GR_ROUTE_CONF_H

#include "config.h"
#include "health.h"

typedef struct gr_route_conf {
    double auto_quality;  /* routing.auto.quality: the bar of plain "auto", 0..1 */
    char **auto_models;   /* routing.auto.models as canonical model names */
    size_t nauto_models;
    bool has_auto_models; /* false: every model with a quality is eligible */
    gr_health_opts health; /* routing.health */
} gr_route_conf;

/* The declared keys of `routing` and `routing.auto` (routing.health: health.h). */
extern const gr_conf_key gr_conf_routing_keys[], gr_conf_routing_auto_keys[];

void *gr_route_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e);
void gr_route_conf_free(void *conf);

/* The snapshot's routing settings (defaults when the section is absent). */
const gr_route_conf *gr_route_conf_of(const gr_config *cfg);

#endif
