/* pq_dl.c — loads libpq.so.5 on first use and fills the function table of
 * pq_dl.h (why it is not linked: see there). */
#include "pq_dl.h"

#include "dl_table.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef GR_PQ_SONAME
#define GR_PQ_SONAME "libpq.so.5"
#endif

#define GR_PQ_SYM_(name) {"PQ" #name, offsetof(gr_pq_api, name)},
static const gr_dl_sym k_syms[] = {GR_PQ_FUNCS(GR_PQ_SYM_)};
#undef GR_PQ_SYM_

/* Process-wide, written only inside pthread_once (load_once), read-only
 * afterwards. */
static struct {
    pthread_once_t once;
    atomic_bool loaded;
    gr_pq_api api;
    char why[256]; /* failure message; empty when loaded */
} g_pq_dl = {.once = PTHREAD_ONCE_INIT};

/* On failure only `why` is set: the one caller (gr_pg_connect) fails the
 * store open with it (the store area does not link the logger). */
static void load_once(void) {
    gr_pq_api api;
    if (!gr_dl_fill(GR_PQ_SONAME, k_syms, sizeof k_syms / sizeof k_syms[0], &api, g_pq_dl.why, sizeof g_pq_dl.why))
        return;
    g_pq_dl.api = api;
    atomic_store(&g_pq_dl.loaded, true);
}

gr_status gr_pq_load(char *err, size_t errlen) {
    pthread_once(&g_pq_dl.once, load_once);
    if (atomic_load(&g_pq_dl.loaded)) return GR_OK;
    if (err && errlen) snprintf(err, errlen, "libpq unavailable: %s", g_pq_dl.why);
    return GR_ERR_UNSUPPORTED;
}

const gr_pq_api *gr_pq(void) {
    assert(atomic_load_explicit(&g_pq_dl.loaded, memory_order_relaxed));
    return &g_pq_dl.api;
}
