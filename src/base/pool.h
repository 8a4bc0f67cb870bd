/* pool.h — per-request memory arena with cleanup hooks.
 *
 * A pool is created when a request arrives and destroyed once when it ends.
 * Small objects (header copies, rewritten bodies, route explanations) are
 * bump-allocated from it and never freed one by one. Non-memory resources
 * (cJSON trees, curl handles, timers) register a cleanup that runs, in reverse
 * order of registration, when the pool is destroyed. Not thread-safe: a pool
 * belongs to one worker thread. Internal OOM aborts. */
#ifndef GR_POOL_H
#define GR_POOL_H

#include "common.h"

typedef struct gr_pool gr_pool;
typedef void (*gr_cleanup_fn)(void *arg);

gr_pool *gr_pool_new(size_t chunk_size);
void gr_pool_free(gr_pool *p); /* runs cleanups, releases memory; NULL is a no-op */
void *gr_pool_alloc(gr_pool *p, size_t n);   /* 16-byte aligned */
void *gr_pool_calloc(gr_pool *p, size_t n);
char *gr_pool_strndup(gr_pool *p, const char *s, size_t n);
char *gr_pool_strdup(gr_pool *p, const char *s);
char *gr_pool_printf(gr_pool *p, const char *fmt, ...) GR_PRINTF(2, 3);
void gr_pool_cleanup_add(gr_pool *p, gr_cleanup_fn fn, void *arg);
size_t gr_pool_bytes(const gr_pool *p); /* bytes reserved, for metrics/tests */
/* Runs the cleanups and forgets every allocation, keeping the first chunk
 * for reuse (a worker recycles request pools instead of malloc/free). */
void gr_pool_reset(gr_pool *p);

#endif
