/* config_sections.c — the table of top-level config sections other areas own.
 * The loader (config.c) parses each at load, in this order, into
 * gr_config.section[id]; adding a section is one row here, an id in
 * config_schema.h, and the area's parse/free pair next to its code. */
#include "config_schema.h"

#include "keys.h"
#include "pay_x402.h"
#include "route_conf.h"
#include "shared.h"
#include "store.h"

const gr_conf_section gr_conf_sections[GR_CONF_NSECTIONS] = {
    [GR_CONF_SEC_STORE] = {"store", gr_store_conf_parse, gr_store_conf_free},
    [GR_CONF_SEC_KEYS] = {"keys", gr_keys_conf_parse, gr_keys_conf_free},
    [GR_CONF_SEC_ROUTING] = {"routing", gr_route_conf_parse, gr_route_conf_free},
    [GR_CONF_SEC_REDIS] = {"redis", gr_redis_conf_parse, gr_redis_conf_free},
    [GR_CONF_SEC_X402] = {"x402", gr_pay_x402_conf_parse, NULL},
};
