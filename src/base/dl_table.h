/* dl_table.h — loading a shared library on demand into a table of function
 * pointers (curl_dl.c, pq_dl.c): dlopen once, then dlsym each name into its
 * slot. The callers own their table's type and what runs after the load
 * (curl_global_init); gr_dl_load runs that once per process. */
#ifndef GR_DL_TABLE_H
#define GR_DL_TABLE_H

#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct gr_dl_sym {
    const char *name; /* symbol */
    size_t off;       /* its slot in the table: offsetof(table type, member) */
} gr_dl_sym;

/* dlopen(soname, RTLD_NOW | RTLD_LOCAL) and fill table from syms. On failure
 * returns false with why set ("cannot load …" or "… has no <symbol>"); the
 * table is then partly written and must not be used. A library once loaded
 * stays loaded (a half-used library gains nothing from dlclose). */
bool gr_dl_fill(const char *soname, const gr_dl_sym *syms, size_t n, void *table, char *why, size_t whylen);

/* The once-only state of one library: process-wide, written only inside
 * pthread_once (by the owner's init function), read-only afterwards.
 * Initialise with {.once = PTHREAD_ONCE_INIT}. */
typedef struct gr_dl_lib {
    pthread_once_t once;
    atomic_bool loaded; /* set by init when the table is usable */
    char why[256];      /* init's failure message; empty when loaded */
} gr_dl_lib;

/* Runs init once per process (pthread_once); later calls return the first
 * outcome. GR_OK when init set lib->loaded, else GR_ERR_UNSUPPORTED with
 * "<what> unavailable: <why>" in err (err may be NULL). Thread-safe. */
GR_MUST_CHECK gr_status gr_dl_load(gr_dl_lib *lib, void (*init)(void), const char *what, char *err, size_t errlen);

#endif
