/* pipeline.c — the registered handler tables (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct finish_entry {
    gr_finish_stage stage;
    gr_finish_fn fn;
} finish_entry;

typedef struct reply_entry {
    gr_reply_stage stage;
    gr_reply_fn fn;
} reply_entry;

static finish_entry g_finish[GR_PIPELINE_MAX_HANDLERS];
static size_t g_nfinish;
static reply_entry g_reply[GR_PIPELINE_MAX_HANDLERS];
static size_t g_nreply;

static void table_full(const char *which) {
    fprintf(stderr, "gaterouter: more than %d %s handlers registered (GR_PIPELINE_MAX_HANDLERS)\n",
            GR_PIPELINE_MAX_HANDLERS, which);
    abort(); /* a build-time mistake, found at start-up */
}

/* Insertion keeps the table sorted by stage, registration order within one. */
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
