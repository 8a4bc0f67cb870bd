/* config_reload.c — the last reload's outcome (see config_reload.h). */
#include "config_reload.h"

#include <pthread.h>
#include <stdio.h>

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static gr_config_reload_result g_last;

void gr_config_reload_note(bool ok, const char *error) {
    pthread_mutex_lock(&g_mu);
    g_last.count++;
    g_last.ok = ok;
    g_last.at_ms = (int64_t)gr_wall_ms();
    snprintf(g_last.error, sizeof g_last.error, "%s", ok || !error ? "" : error);
    pthread_mutex_unlock(&g_mu);
}

void gr_config_reload_last(gr_config_reload_result *out) {
    pthread_mutex_lock(&g_mu);
    *out = g_last;
    pthread_mutex_unlock(&g_mu);
}
