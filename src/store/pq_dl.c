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

/* Written only inside load_once. */
static gr_dl_lib g_pq_lib = {.once = PTHREAD_ONCE_INIT};
static gr_pq_api g_pq_api;

/* On failure only `why` is set: the one caller (gr_pg_connect) fails the
 * store open with it (the store area does not link the logger). */
static void load_once(void) {
    gr_pq_api api;
    if (!gr_dl_fill(GR_PQ_SONAME, k_syms, GR_ARRAY_LEN(k_syms), &api, g_pq_lib.why, sizeof g_pq_lib.why))
        return;
    g_pq_api = api;
    atomic_store(&g_pq_lib.loaded, true);
}

gr_status gr_pq_load(char *err, size_t errlen) {
    return gr_dl_load(&g_pq_lib, load_once, "libpq", err, errlen);
}

const gr_pq_api *gr_pq(void) {
    assert(atomic_load_explicit(&g_pq_lib.loaded, memory_order_relaxed));
    return &g_pq_api;
}
