/* pipeline.c — the registered handler tables (see pipeline.h). */
#include "pipeline.h"

#include "request.h"
#include "trace.h"

#include <stdio.h>
#include <stdlib.h>

/* One registered handler: its phase (or stage) and the function. */
typedef struct entry {
    int order;
    union {
        gr_phase_fn phase;
        gr_finish_fn finish;
        gr_reply_fn reply;
    } fn;
} entry;

typedef struct table {
    const char *what;
    size_t n;
    entry e[GR_PIPELINE_MAX_HANDLERS];
} table;

static table g_phase = {"phase", 0, {{0, {0}}}};
static table g_finish = {"finish", 0, {{0, {0}}}};
static table g_reply = {"reply", 0, {{0, {0}}}};
static int g_nslots;

static void table_full(const char *which) {
    fprintf(stderr, "gaterouter: more than %d %s handlers registered (GR_PIPELINE_MAX_HANDLERS)\n",
            GR_PIPELINE_MAX_HANDLERS, which);
    abort(); /* a build-time mistake, found at start-up */
}

/* Insertion keeps a table sorted by order, registration order within one. */
static void insert(table *t, entry e) {
    if (t->n == GR_PIPELINE_MAX_HANDLERS) table_full(t->what);
    size_t i = t->n++;
    for (; i > 0 && t->e[i - 1].order > e.order; i--) t->e[i] = t->e[i - 1];
    t->e[i] = e;
}

void gr_pipeline_on_phase(gr_phase phase, gr_phase_fn fn) { insert(&g_phase, (entry){(int)phase, {.phase = fn}}); }
void gr_pipeline_on_finish(gr_finish_stage stage, gr_finish_fn fn) {
    insert(&g_finish, (entry){(int)stage, {.finish = fn}});
}
void gr_pipeline_on_reply(gr_reply_stage stage, gr_reply_fn fn) { insert(&g_reply, (entry){(int)stage, {.reply = fn}}); }

int gr_pipeline_ctx_slot(void) {
    if (g_nslots == GR_CTX_SLOTS) table_full("context slot");
    return g_nslots++;
}

void gr_pipeline_reset(void) {
    g_phase.n = g_finish.n = g_reply.n = 0;
    g_nslots = 0;
}

void gr_pipeline_run_finish(gr_request *r, gr_finish_stage from, gr_finish_stage to, gr_finish_info *f) {
    for (size_t i = 0; i < g_finish.n; i++)
        if (g_finish.e[i].order >= (int)from && g_finish.e[i].order < (int)to) g_finish.e[i].fn.finish(r, f);
}

bool gr_pipeline_run_reply(gr_request *r, int status, const char *body, size_t len) {
    for (size_t i = 0; i < g_reply.n; i++)
        if (g_reply.e[i].fn.reply(r, status, body, len)) return true;
    return false;
}

/* ---- the phase engine ---- */

/* The handler after the phase of handler i (which ended it). */
static size_t past_phase(gr_request *r, size_t i) {
    gr_phase done = (gr_phase)g_phase.e[i].order;
    if (done == GR_PHASE_AUTHENTICATE) r->authenticated = true;
    while (i < g_phase.n && (gr_phase)g_phase.e[i].order == done) i++;
    return i;
}

/* From handler index i on, while the phase is below r->phase_end. */
static bool run_from(gr_request *r, size_t i) {
    while (i < g_phase.n && (gr_phase)g_phase.e[i].order < r->phase_end) {
        r->phase_at = i;
        gr_trace_phase(r->trace, (gr_phase)g_phase.e[i].order);
        gr_phase_rc rc = g_phase.e[i].fn.phase(r);
        if (rc == GR_PHASE_STOP) return false; /* r may be gone: not touched again */
        i = rc == GR_PHASE_DONE ? past_phase(r, i) : i + 1;
    }
    return true;
}

/* Every authenticator declined: fail closed. */
static bool unauthenticated(gr_request *r) {
    gr_request_fail_code(r, GR_EC_MISSING_API_KEY, NULL,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
    return false;
}

static size_t first_of(gr_phase from) {
    size_t i = 0;
    while (i < g_phase.n && (gr_phase)g_phase.e[i].order < from) i++;
    return i;
}

bool gr_pipeline_run(gr_request *r, gr_phase from, gr_phase to) {
    r->phase_end = to;
    if (!run_from(r, first_of(from))) return false;
    if (from <= GR_PHASE_AUTHENTICATE && to > GR_PHASE_AUTHENTICATE && !r->authenticated) return unauthenticated(r);
    return true;
}

void gr_pipeline_continue(gr_request *r, gr_phase_rc rc) {
    if (rc == GR_PHASE_STOP) return;
    if (!run_from(r, rc == GR_PHASE_DONE ? past_phase(r, r->phase_at) : r->phase_at + 1)) return;
    gr_request_fail_code(r, GR_EC_PIPELINE_INCOMPLETE, NULL, "No handler answered the request.");
}
