/* dl_table.h — loading a shared library on demand into a table of function
 * pointers (curl_dl.c, pq_dl.c): dlopen once, then dlsym each name into its
 * slot. The callers own the once-only logic and their table's types. */
#ifndef GR_DL_TABLE_H
#define GR_DL_TABLE_H

#include "common.h"

typedef struct gr_dl_sym {
    const char *name; /* symbol */
    size_t off;       /* its slot in the table: offsetof(table type, member) */
} gr_dl_sym;

/* dlopen(soname, RTLD_NOW | RTLD_LOCAL) and fill table from syms. On failure
 * returns false with why set ("cannot load …" or "… has no <symbol>"); the
 * table is then partly written and must not be used. A library once loaded
 * stays loaded (a half-used library gains nothing from dlclose). */
bool gr_dl_fill(const char *soname, const gr_dl_sym *syms, size_t n, void *table, char *why, size_t whylen);

#endif
