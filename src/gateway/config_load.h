/* config_load.h — loading the whole configuration: the core keys (config.h)
 * plus every section the areas above the config layer own, from the table in
 * config_sections.c. main, the server's start-up and SIGHUP, --check-config
 * and the tests load through here; the config layer gets the table as an
 * argument and never links up to the areas that parse it. */
#ifndef GR_CONFIG_LOAD_H
#define GR_CONFIG_LOAD_H

#include "config.h"

#include <stdio.h>

/* Every top-level section other areas own, by gr_conf_section_id. */
extern const gr_conf_section gr_conf_sections[GR_CONF_NSECTIONS];

/* gr_config_parse_file/_string with gr_conf_sections: see config.h. */
gr_config *gr_config_load_file(const char *path, char *err, size_t errlen);
gr_config *gr_config_load_string(const char *yaml, size_t len, const char *origin, char *err, size_t errlen);

/* Writes every declared key (type, range, default, meaning) as the Markdown
 * tables docs/CONFIG.md embeds; a unit test keeps the two equal. */
void gr_conf_write_reference(FILE *f);

#endif
