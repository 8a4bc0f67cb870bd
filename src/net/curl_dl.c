/* curl_dl.c — loads libcurl.so.4 on first use and fills the function table
 * of curl_dl.h (why it is not linked: see there). */
#include "curl_dl.h"

#include "dl_table.h"
#include "log.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#ifndef GR_CURL_SONAME
#define GR_CURL_SONAME "libcurl.so.4"
#endif

#define GR_CURL_SYM_(name) {"curl_" #name, offsetof(gr_curl_api, name)},
static const gr_dl_sym k_syms[] = {GR_CURL_FUNCS(GR_CURL_SYM_)};
#undef GR_CURL_SYM_

/* Written only inside load_once; `lib.loaded` is also read by
 * gr_curl_global_cleanup without triggering a load. */
static gr_dl_lib g_curl_lib = {.once = PTHREAD_ONCE_INIT};
static gr_curl_api g_curl_api;

static void load_once(void) {
    gr_curl_api api;
    if (!gr_dl_fill(GR_CURL_SONAME, k_syms, GR_ARRAY_LEN(k_syms), &api, g_curl_lib.why, sizeof g_curl_lib.why))
        goto fail;
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(g_curl_lib.why, sizeof g_curl_lib.why, "curl_global_init failed: %s", api.easy_strerror(rc));
        goto fail;
    }
    g_curl_api = api;
    atomic_store(&g_curl_lib.loaded, true);
    return;
fail:
    GR_ERROR("libcurl unavailable (%s): https:// upstreams and x402 settlement cannot work", g_curl_lib.why);
}

gr_status gr_curl_load(char *err, size_t errlen) {
    return gr_dl_load(&g_curl_lib, load_once, "libcurl", err, errlen);
}

const gr_curl_api *gr_curl(void) {
    assert(atomic_load_explicit(&g_curl_lib.loaded, memory_order_relaxed));
    return &g_curl_api;
}

void gr_curl_global_cleanup(void) {
    if (atomic_load(&g_curl_lib.loaded)) g_curl_api.global_cleanup();
}
