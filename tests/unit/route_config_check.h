/* route_config_check.h — for the auto router's config tests: loads a YAML
 * config as the gateway does and says whether it was accepted (err holds why
 * not). */
#ifndef GR_ROUTE_CONFIG_CHECK_H
#define GR_ROUTE_CONFIG_CHECK_H

#include "config.h"
#include "config_load.h"

#include <string.h>

static inline gr_status route_config_check(const char *yaml, char *err, size_t errlen)
{
    gr_config *cfg = gr_config_load_string(yaml, strlen(yaml), "test", err, errlen);
    if (!cfg)
        return GR_ERR_INVALID;
    gr_config_release(cfg);
    return GR_OK;
}

#endif
