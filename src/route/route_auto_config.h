/* route_auto_config.h — the `routing.auto` config section of the auto router:
 * validation at load (unknown keys, unknown model names, out-of-range knobs
 * and abilities are errors), the money knob it sets, and per-model abilities:
 * config override > bundled table (route_auto_abilities.h) > placed from the
 * model's quality tier > placed from its output price. `--check-config`
 * prints which models were placed (gr_route_auto_config_notes).
 *
 * Section:
 *   routing.auto.models:    [names]   restrict the pool (configured names/aliases)
 *   routing.auto.quality:   0..1      knob for plain "auto" (log scale of value_usd)
 *   routing.auto.value_usd: >= 0      USD one more good answer is worth (exclusive with quality)
 *   routing.auto.abilities: {model: {knowledge|reasoning|math|code|instruction|language: 0..1}}
 * Kept self-contained so it can move onto the typed config schema. */
#ifndef GR_ROUTE_AUTO_CONFIG_H
#define GR_ROUTE_AUTO_CONFIG_H

#include "config.h"
#include "route_auto.h"

#include <stdio.h>

#define GR_AUTO_MAX_VALUE_USD 1000.0 /* routing.auto.value_usd and x-gaterouter-value-usd cap */

typedef enum {
    GR_AUTO_ABILITY_TABLE = 0, /* bundled public-benchmark table */
    GR_AUTO_ABILITY_CONFIG,    /* routing.auto.abilities (complete) */
    GR_AUTO_ABILITY_TIER,      /* not in the table: quality tier / 100 */
    GR_AUTO_ABILITY_PRICE,     /* not in the table, no tier: from the output price */
} gr_auto_ability_from;

typedef struct gr_auto_ability {
    float a[GR_SKILL_COUNT_];
    float bias; /* logit calibration of the table row; 0 otherwise */
    gr_auto_ability_from from;
    const char *table_id; /* the matched table row's first id, or NULL */
} gr_auto_ability;

/* The routing.auto mapping of a config tree, or NULL. */
const cJSON *gr_route_auto_section(const gr_config *cfg);

/* Abilities of model m (section may be NULL). */
void gr_route_auto_ability(const cJSON *section, const gr_model_conf *m, gr_auto_ability *out);
const char *gr_route_auto_ability_from_name(gr_auto_ability_from f);

/* Validates the routing.auto section sec (NULL: absent) against the models of
 * cfg, at load. GR_ERR_INVALID with a message naming the key on the first
 * problem. */
GR_MUST_CHECK gr_status gr_route_auto_config_check(const cJSON *sec, const gr_config *cfg, char *err, size_t errlen);

/* One line per auto-pool model not found in the table (placed from tier or
 * price), for `--check-config`. Returns the number of lines. */
size_t gr_route_auto_config_notes(const gr_config *cfg, FILE *out);

/* USD per good answer set by the section for plain "auto": value_usd, else
 * quality mapped by gr_route_auto_knob_to_usd; -1 if neither is set. */
double gr_route_auto_config_value_usd(const cJSON *section);

/* Parses a request's x-gaterouter-value-usd (a number in 0..GR_AUTO_MAX_VALUE_USD
 * or "inf"); -1 if absent or malformed. */
double gr_route_auto_parse_value_usd(const char *v);

#endif
