/* pipeline.c — the registered handler tables (see pipeline.h). */
#include "pipeline.h"

#include "request.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct phase_entry {
    gr_phase phase;
    gr_phase_fn fn;
} phase_entry;

typedef struct finish_entry {
    gr_finish_stage stage;
    gr_finish_fn fn;
} finish_entry;

typedef struct reply_entry {
    gr_reply_stage stage;
    gr_reply_fn fn;
} reply_entry;

static phase_entry g_phase[GR_PIPELINE_MAX_HANDLERS];
static size_t g_nphase;
static int g_nslots;
static finish_entry g_finish[GR_PIPELINE_MAX_HANDLERS];
static size_t g_nfinish;
static reply_entry g_reply[GR_PIPELINE_MAX_HANDLERS];
static size_t g_nreply;

static void table_full(const char *which) {
    fprintf(stderr, "gaterouter: more than %d %s handlers registered (GR_PIPELINE_MAX_HANDLERS)\n",
            GR_PIPELINE_MAX_HANDLERS, which);
    abort(); /* a build-time mistake, found at start-up */
}

/* Insertion keeps each table sorted by phase/stage, registration order within one. */
void gr_pipeline_on_phase(gr_phase phase, gr_phase_fn fn) {
    if (g_nphase == GR_PIPELINE_MAX_HANDLERS) table_full("phase");
    size_t i = g_nphase++;
    for (; i > 0 && g_phase[i - 1].phase > phase; i--) g_phase[i] = g_phase[i - 1];
    g_phase[i] = (phase_entry){phase, fn};
}

int gr_pipeline_ctx_slot(void) {
    if (g_nslots == GR_CTX_SLOTS) table_full("context slot");
    return g_nslots++;
}

void gr_pipeline_on_finish(gr_finish_stage stage, gr_finish_fn fn) {
    if (g_nfinish == GR_PIPELINE_MAX_HANDLERS) table_full("finish");
    size_t i = g_nfinish++;
    for (; i > 0 && g_finish[i - 1].stage > stage; i--) g_finish[i] = g_finish[i - 1];
    g_finish[i] = (finish_entry){stage, fn};
}

void gr_pipeline_on_reply(gr_reply_stage stage, gr_reply_fn fn) {
    if (g_nreply == GR_PIPELINE_MAX_HANDLERS) table_full("reply");
    size_t i = g_nreply++;
    for (; i > 0 && g_reply[i - 1].stage > stage; i--) g_reply[i] = g_reply[i - 1];
    g_reply[i] = (reply_entry){stage, fn};
}

void gr_pipeline_reset(void) {
    g_nphase = 0;
    g_nslots = 0;
    g_nfinish = 0;
    g_nreply = 0;
}

void gr_pipeline_run_finish(gr_request *r, gr_finish_stage from, gr_finish_stage to, gr_finish_info *f) {
    for (size_t i = 0; i < g_nfinish; i++)
        if (g_finish[i].stage >= from && g_finish[i].stage < to) g_finish[i].fn(r, f);
}

void gr_pipeline_run_reply(gr_request *r, int status, const char *body, size_t len) {
    for (size_t i = 0; i < g_nreply; i++) g_reply[i].fn(r, status, body, len);
}

/* ---- the phase engine ---- */

/* From handler index i on, while the phase is below r->phase_end. */
static bool run_from(gr_request *r, size_t i) {
    while (i < g_nphase && g_phase[i].phase < r->phase_end) {
        r->phase_at = i;
        gr_phase_rc rc = g_phase[i].fn(r);
        if (rc == GR_PHASE_STOP) return false; /* r may be gone: not touched again */
        if (rc == GR_PHASE_DONE) {
            gr_phase done = g_phase[i].phase;
            while (i < g_nphase && g_phase[i].phase == done) i++;
            if (done == GR_PHASE_AUTHENTICATE) r->authenticated = true;
            continue;
        }
        i++;
    }
    return true;
}

/* Every authenticator declined: fail closed. */
static bool unauthenticated(gr_request *r) {
    gr_request_fail(r, 401, "invalid_request_error", "missing_api_key", NULL,
                    "You didn't provide an API key. You need to provide your API key in an Authorization header "
                    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).");
    return false;
}

static size_t first_of(gr_phase from) {
    size_t i = 0;
    while (i < g_nphase && g_phase[i].phase < from) i++;
    return i;
}

bool gr_pipeline_run(gr_request *r, gr_phase from, gr_phase to) {
    r->phase_end = to;
    if (!run_from(r, first_of(from))) return false;
    if (from <= GR_PHASE_AUTHENTICATE && to > GR_PHASE_AUTHENTICATE && !r->authenticated) return unauthenticated(r);
    return true;
}

void gr_pipeline_continue(gr_request *r, gr_phase_rc rc) {
    size_t i = r->phase_at;
    if (rc == GR_PHASE_STOP) return;
    if (rc == GR_PHASE_DONE) {
        gr_phase done = g_phase[i].phase;
        if (done == GR_PHASE_AUTHENTICATE) r->authenticated = true;
        while (i < g_nphase && g_phase[i].phase == done) i++;
    } else {
        i++;
    }
    if (!run_from(r, i)) return;
    gr_request_fail(r, 500, "api_error", "pipeline_incomplete", NULL, "No handler answered the request.");
}
