/* pipeline.h — the request pipeline's tables: the phases a model request
 * goes through, what runs just before a status line goes out, and what runs
 * when a request finishes. Each feature registers its own handlers (as
 * nginx modules add theirs to a phase, or h2o's handlers and loggers) and
 * its per-request context slot (nginx's r->ctx[]); the request core walks
 * the tables and names no feature.
 *
 * Phases, in this order (one table; dispatch runs AUTHENTICATE for the
 * endpoints that need a client, the model endpoints then run PARSE to the
 * end):
 *   AUTHENTICATE  x402 payment | static key | virtual key: the first handler
 *                 that accepts ends the phase (GR_PHASE_DONE); when every
 *                 handler declines the request is refused 401 (fail closed);
 *                 authenticators never suspend
 *   PARSE         the body: JSON, the endpoint's required fields
 *   ROUTE         the ordered candidates (before admission: admission prices
 *                 the candidates the route may reach)
 *   ADMIT         payment verification, key budgets and limits, cluster-wide
 *                 limits and replay guards
 *   CACHE         the exact-match response cache
 *   UPSTREAM      starts the first attempt; relay (upstream callbacks) and
 *                 finish (the finish table below) follow from there
 * A handler returns GR_PHASE_NEXT (go on with the next handler),
 * GR_PHASE_DONE (skip the rest of this phase) or GR_PHASE_STOP (r is no
 * longer the engine's: it was answered, or it is suspended and its
 * completion calls gr_pipeline_continue on r's loop).
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

/* ---- phases ---- */
typedef enum {
    GR_PHASE_AUTHENTICATE = 0,
    GR_PHASE_PARSE,
    GR_PHASE_ROUTE,
    GR_PHASE_ADMIT,
    GR_PHASE_CACHE,
    GR_PHASE_UPSTREAM,
    GR_PHASE_COUNT
} gr_phase;

typedef enum { GR_PHASE_NEXT = 0, GR_PHASE_DONE, GR_PHASE_STOP } gr_phase_rc;

typedef gr_phase_rc (*gr_phase_fn)(gr_request *r);

/* ---- per-request context slots (r->ctx[slot]) ---- */
#define GR_CTX_SLOTS 8

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
    GR_REPLY_HOLD,         /* a hook may take the reply over and send it later (x402 settle_before_response) */
    GR_REPLY_ROUTE,        /* what served the request and why */
    GR_REPLY_PAYMENT,      /* payment receipt headers */
    GR_REPLY_NSTAGES
} gr_reply_stage;

/* body: the whole JSON reply, or NULL when a stream starts (status 200).
 * true: the hook took the reply over (only for a body; it sends it later
 * with gr_request_reply_json, and must not take it twice). */
typedef bool (*gr_reply_fn)(gr_request *r, int status, const char *body, size_t len);

/* Register (start-up only). At most GR_PIPELINE_MAX_HANDLERS per table. */
#define GR_PIPELINE_MAX_HANDLERS 32
void gr_pipeline_on_phase(gr_phase phase, gr_phase_fn fn);
void gr_pipeline_on_finish(gr_finish_stage stage, gr_finish_fn fn);
void gr_pipeline_on_reply(gr_reply_stage stage, gr_reply_fn fn);
/* A context slot of its own for a feature (start-up; aborts past
 * GR_CTX_SLOTS). The slot starts NULL in every request; the feature owns
 * what it puts there (pool memory, or freed by its finish handler). */
int gr_pipeline_ctx_slot(void);
/* Empties every table and frees the slots (tests). */
void gr_pipeline_reset(void);

/* Runs r's phase handlers from the first of phase `from` on, up to (not
 * including) phase `to`. true: every phase ran and r is still the caller's
 * (for AUTHENTICATE: the client was accepted); false: a handler stopped
 * (r answered, or suspended). */
GR_MUST_CHECK bool gr_pipeline_run(gr_request *r, gr_phase from, gr_phase to);
/* A suspended handler's completion, on r's loop with r alive and its client
 * there (gr_request_resume said so): rc is what the handler would have
 * returned had it not suspended. Runs the rest; a range that ends with
 * nobody answering is a 500. */
void gr_pipeline_continue(gr_request *r, gr_phase_rc rc);

/* Walks the tables (request.c). */
void gr_pipeline_run_finish(gr_request *r, gr_finish_stage from, gr_finish_stage to, gr_finish_info *f);
/* true when a reply hook took the reply over (the rest did not run). */
bool gr_pipeline_run_reply(gr_request *r, int status, const char *body, size_t len);

#endif
