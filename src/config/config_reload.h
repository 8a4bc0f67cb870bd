/* config_reload.h — the outcome of the last config reload (SIGHUP, or the
 * console's reload button, which raises one), process-wide, for the
 * console's Config page. server.c notes each reload; anyone reads. */
#ifndef GR_CONFIG_RELOAD_H
#define GR_CONFIG_RELOAD_H

#include "common.h"

typedef struct gr_config_reload_result {
    uint64_t count;   /* reloads since start (0 = none yet; the rest is then empty) */
    bool ok;
    int64_t at_ms;    /* wall clock */
    char error[512];  /* the loader's message when !ok */
} gr_config_reload_result;

void gr_config_reload_note(bool ok, const char *error);
void gr_config_reload_last(gr_config_reload_result *out);

#endif
