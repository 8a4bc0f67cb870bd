/* store_param.h — one bound parameter of a statement-table backend (the
 * response store and the x402 payment store each run a fixed set of
 * statements on SQLite or PostgreSQL): text or a 64-bit integer. Borrowed
 * for the duration of the call. */
#ifndef GR_STORE_PARAM_H
#define GR_STORE_PARAM_H

#include "common.h"

typedef struct gr_store_param {
    const char *text; /* NULL = SQL NULL */
    int64_t i64;
    bool is_int;
} gr_store_param;

#define GR_STORE_TEXT(s) ((gr_store_param){.text = (s)})
#define GR_STORE_INT(v) ((gr_store_param){.i64 = (int64_t)(v), .is_int = true})

#endif
