/* doc_cache.h — one rendered document (JSON text) cached per config
 * snapshot: the discovery documents (/.well-known/x402, /v1/x402/pricing,
 * /openapi.json) are generated from the running config, and rendered again
 * only when the snapshot (its generation) or the base URL they name changes.
 * One entry, guarded by a mutex (workers are threads); statically
 * initialised with GR_DOC_CACHE_INIT. */
#ifndef GR_DOC_CACHE_H
#define GR_DOC_CACHE_H

#include "common.h"

#include <cjson/cJSON.h>

#include <pthread.h>

typedef struct gr_doc_cache {
    pthread_mutex_t mu;
    uint64_t generation;
    char *base; /* the base URL the text names ("" when none) */
    char *text;
} gr_doc_cache;

#define GR_DOC_CACHE_INIT {PTHREAD_MUTEX_INITIALIZER, 0, NULL, NULL}

/* A malloc'd copy of the cached text for (generation, base), or NULL. */
char *gr_doc_cache_get(gr_doc_cache *c, uint64_t generation, const char *base);
/* Keeps a copy of text for (generation, base), replacing the entry. */
void gr_doc_cache_put(gr_doc_cache *c, uint64_t generation, const char *base, const char *text);
/* Renders doc (taken over) unformatted, keeps it for (generation, base)
 * when c is not NULL, and returns the text (malloc'd; aborts on OOM). */
char *gr_doc_cache_render(gr_doc_cache *c, uint64_t generation, const char *base, cJSON *doc);
/* Frees the entry (tests, exit). */
void gr_doc_cache_clear(gr_doc_cache *c);

#endif
