/* pipeline.h — the request pipeline's tables: what runs when a request
 * finishes, and what runs just before its status line goes out. Each
 * feature registers its own handlers (as nginx modules add theirs to a
 * phase, or h2o's loggers); the request core (request.c) walks the tables
 * and names no feature.
 *
 * Registration happens once at start-up, before any worker runs
 * (feature_list.c's gr_features_register for the server; a test registers what
 * it needs after gr_pipeline_reset). The tables are then read-only and
 * shared by every worker without locks. Handlers of one stage run in
 * registration order; stages run in the order of their enum. */
#ifndef GR_PIPELINE_H
#define GR_PIPELINE_H

#include "common.h"
#include "store.h" /* gr_ledger_row */

typedef struct gr_request gr_request;

/* ---- finish: one table, in this order ---- */
typedef enum {
    GR_FINISH_METER = 0, /* the actual cost from usage (a cut stream is billed for what was produced) */
    GR_FINISH_SETTLE,    /* key budgets, cluster limits: reservations settle at the actual cost */
    GR_FINISH_UPSTREAM,  /* stop what still runs for r (transfer, timers, pending Redis calls) */
    /* — the core then releases a never-answered client request and fixes the status (499, 500) — */
    GR_FINISH_LOG,       /* access-log line, metrics */
    GR_FINISH_LEDGER,    /* builds f->row when the request reached a model (NULL otherwise) */
    GR_FINISH_LEDGER_FILL, /* adds to f->row and settles (x402) */
    GR_FINISH_LEDGER_SUBMIT,
    GR_FINISH_RELEASE,   /* per-feature resources */
    GR_FINISH_NSTAGES
} gr_finish_stage;

typedef struct gr_finish_info {
    gr_ledger_row *row; /* from GR_FINISH_LEDGER on: the row to write (&row_buf), or NULL */
    gr_ledger_row row_buf;
} gr_finish_info;

typedef void (*gr_finish_fn)(gr_request *r, gr_finish_info *f);

/* ---- reply hooks: headers added just before the status line ---- */
typedef enum {
    GR_REPLY_CACHE = 0,    /* a cacheable 200 body is stored */
    GR_REPLY_ROUTE,        /* what served the request and why */
    GR_REPLY_PAYMENT,      /* payment receipt headers */
    GR_REPLY_NSTAGES
} gr_reply_stage;

/* body: the whole JSON reply, or NULL when a stream starts (status 200). */
typedef void (*gr_reply_fn)(gr_request *r, int status, const char *body, size_t len);

/* Register (start-up only). At most GR_PIPELINE_MAX_HANDLERS per table. */
#define GR_PIPELINE_MAX_HANDLERS 32
void gr_pipeline_on_finish(gr_finish_stage stage, gr_finish_fn fn);
void gr_pipeline_on_reply(gr_reply_stage stage, gr_reply_fn fn);
/* Empties every table (tests). */
void gr_pipeline_reset(void);

/* Walks the tables (request.c). */
void gr_pipeline_run_finish(gr_request *r, gr_finish_stage from, gr_finish_stage to, gr_finish_info *f);
void gr_pipeline_run_reply(gr_request *r, int status, const char *body, size_t len);

#endif
