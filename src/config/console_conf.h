/* console_conf.h — the `console:` config section: what the web console's
 * reports may read and where its transaction links point (docs/CONFIG.md,
 * docs/CONSOLE.md). */
#ifndef GR_CONSOLE_CONF_H
#define GR_CONSOLE_CONF_H

#include "config_schema.h"

typedef struct gr_console_conf {
    uint32_t max_report_rows; /* ledger rows one report or export reads at most */
    char *explorer_tx_url;    /* "https://…/tx/{tx}" or NULL: settlements link their transaction */
    uint32_t key_rotation_grace_ms; /* default grace of a rotated key's old secret */
} gr_console_conf;

struct gr_config;
struct cJSON;
extern const gr_conf_key gr_conf_console_keys[];
void *gr_console_conf_parse(const struct cJSON *sec, const struct gr_config *cfg, gr_conf_err *e);
void gr_console_conf_free(void *conf);
/* The snapshot's console settings (defaults when the section is absent). */
const gr_console_conf *gr_console_conf_of(const struct gr_config *cfg);

#endif
