/* responses_store_be.h — internal to the response store: the interface
 * between responses_store.c (the API) and a backend that runs one of a fixed
 * set of statements: SQLite (in responses_store.c) and PostgreSQL
 * (responses_store_pg.c, built with GR_HAVE_PG). Parameters are numbered in
 * the order the comments give. Not a public header. */
#ifndef GR_RESPONSES_STORE_BE_H
#define GR_RESPONSES_STORE_BE_H

#include "responses_store.h"
#include "store_param.h"

typedef enum {
    GR_RESP_Q_PUT,   /* id, owner, created_ms, expires_ms, response, input_items, context (upsert) */
    GR_RESP_Q_GET,   /* id, owner, now_ms -> response, input_items, context */
    GR_RESP_Q_DEL,   /* id, owner, now_ms -> changes */
    GR_RESP_Q_PRUNE, /* now_ms: drops expired rows */
    GR_RESP_Q_COUNT
} gr_resp_q;

typedef struct gr_resp_backend gr_resp_backend;
typedef struct gr_resp_backend_ops {
    /* row: GET's columns (GR_ERR_NOT_FOUND without a row); changes: rows changed */
    gr_status (*exec)(gr_resp_backend *b, gr_resp_q which, const gr_store_param *p, int np, gr_stored_response *row,
                      int64_t *changes);
    void (*close)(gr_resp_backend *b);
} gr_resp_backend_ops;

struct gr_resp_backend {
    const gr_resp_backend_ops *ops;
};

gr_status gr_responses_store_pg_open(const char *url, gr_resp_backend **out, char *err, size_t errlen);

#endif
