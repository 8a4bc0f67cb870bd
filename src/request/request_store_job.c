/* request_store_job.c — a store call for a request on the store executor,
 * with the request suspended while it runs (see gr_request_store_job in
 * request.h). The one place that pairs store_exec.h's job with
 * gr_request_suspend/resume; the admin API and x402 admission use it. */
#include "request.h"

#include "store_exec.h"

#include <stdlib.h>

typedef struct held_job {
    gr_request *r; /* touched on r's loop only */
    gr_request_job job;
} held_job;

static void held_run(void *conn, void *arg) {
    held_job *h = arg;
    h->job.run(conn, h->job.arg);
}

static void held_late(void *conn, void *arg) {
    held_job *h = arg;
    if (h->job.late) h->job.late(conn, h->job.arg);
}

static void held_done(void *arg, const char *err) {
    held_job *h = arg;
    if (gr_request_resume(h->r)) h->job.resume(h->r, h->job.arg, err);
}

static void held_free(void *arg) {
    held_job *h = arg;
    h->job.free_arg(h->job.arg);
    free(h);
}

gr_status gr_request_store_job(gr_request *r, const gr_request_job *job) {
    gr_store_exec *ex = job->exec ? job->exec : r->w->exec;
    if (!ex) { /* no executor (never in the server): inline */
        job->run(NULL, job->arg);
        job->resume(r, job->arg, NULL);
        job->free_arg(job->arg);
        return GR_OK;
    }
    held_job *h = gr_xcalloc(1, sizeof *h);
    h->r = r;
    h->job = *job;
    gr_store_job_spec js = {.run = held_run, .done = held_done, .late = held_late, .free_arg = held_free, .arg = h,
                            .timeout_ms = job->timeout_ms};
    gr_status rc = gr_store_exec_submit(ex, r->w->store_mb, &js);
    if (rc != GR_OK) {
        held_free(h);
        return rc;
    }
    gr_request_suspend(r);
    return GR_OK;
}
