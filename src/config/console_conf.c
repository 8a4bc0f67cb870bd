/* console_conf.c — the `console:` config section (see console_conf.h). */
#include "console_conf.h"

#include "config.h"

#include <stdlib.h>

const gr_conf_key gr_conf_console_keys[] = {
    {"max_report_rows", GR_CONF_COUNT, GR_CONF_F(gr_console_conf, max_report_rows), 1, 10000000, "100000", NULL,
     "ledger rows one console report or CSV/JSON export reads at most (newest first; the answer says `truncated`)"},
    {"explorer_tx_url", GR_CONF_STRING, GR_CONF_F(gr_console_conf, explorer_tx_url), 0, 0, NULL, NULL,
     "block explorer link for a settlement's transaction, `{tx}` replaced by its hash (e.g. "
     "`https://sepolia.basescan.org/tx/{tx}`); absent = no link"},
    {"key_rotation_grace", GR_CONF_MS, GR_CONF_F(gr_console_conf, key_rotation_grace_ms), 0, 2592000000.0, "1h", NULL,
     "how long a rotated key's old secret keeps working when `POST /admin/keys/{id}/rotate` names no "
     "`grace_seconds` (0 = it stops at once; at most 30 days)"},
    GR_CONF_END,
};

static const gr_console_conf default_conf = {100000, NULL, 3600000};

void *gr_console_conf_parse(const cJSON *sec, const gr_config *cfg, gr_conf_err *e) {
    (void)cfg;
    gr_console_conf *c = gr_xcalloc(1, sizeof *c);
    gr_conf_load_keys(sec, "console", gr_conf_console_keys, c, e);
    if (!e->failed && c->explorer_tx_url && c->explorer_tx_url[0]) {
        const char *u = c->explorer_tx_url;
        if ((strncmp(u, "https://", 8) && strncmp(u, "http://", 7)) || !strstr(u, "{tx}"))
            gr_conf_fail(e, "console.explorer_tx_url: want an http(s) URL containing {tx}, got '%.80s'", u);
    }
    if (e->failed) {
        gr_console_conf_free(c);
        return NULL;
    }
    return c;
}

void gr_console_conf_free(void *conf) {
    if (!conf) return;
    gr_conf_free_keys(gr_conf_console_keys, conf);
    free(conf);
}

const gr_console_conf *gr_console_conf_of(const gr_config *cfg) {
    const gr_console_conf *c = cfg ? cfg->section[GR_CONF_SEC_CONSOLE] : NULL;
    return c ? c : &default_conf;
}
