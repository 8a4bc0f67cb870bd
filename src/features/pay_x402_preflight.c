/* pay_x402_preflight.c — the payer preflight (x402_preflight.h): can the
 * payer pay, checked on chain before the reservation. */
#include "pay_x402_internal.h"

#include "log.h"
#include "metrics.h"


/* ---- the payer preflight (x402_preflight.h) ----
 * Between verification and the reservation: can the payer pay? The
 * reservation job waits in j->then and is submitted once the answer is yes. */

static void preflight_job_run(void *conn, void *arg) {
    x402_job *j = arg;
    gr_x402_preflight_run(j->p->preflight, &j->check, conn);
}

/* No answer (timeout, RPC or facilitator down): refuse (503, nothing served)
 * unless fail_open. Reads nothing the pool thread may still write. */
void pay_preflight_unknown(gr_request *r, x402_job *j, const char *why) {
    gr_pay_x402 *p = j->p;
    if (gr_x402_preflight_fail_open(p->preflight)) {
        GR_WARN("x402: %s: payer preflight gave no answer (%s); serving anyway (fail_open)", r->id, why);
        x402_job *then = j->then;
        j->then = NULL;
        pay_submit_job(r, then);
        return;
    }
    gr_metrics_add(GR_M_X402, "event=\"preflight_unavailable\"", 1);
    GR_WARN("x402: %s: payer preflight gave no answer (%s): refused with 503", r->id, why);
    gr_request_fail(r, 503, "api_error", "x402_preflight_unavailable", NULL,
                    "Whether the payer can pay could not be checked (%s); nothing was served. Retry with a new "
                    "authorization.", why);
}

static void preflighted(gr_request *r, x402_job *j) {
    x402_req *x = XREQ(r);
    gr_pay_x402 *p = j->p;
    if (j->check.verdict == GR_PREFLIGHT_OK) {
        x402_job *then = j->then;
        j->then = NULL;
        pay_submit_job(r, then);
        return;
    }
    if (j->check.verdict == GR_PREFLIGHT_UNKNOWN) {
        pay_preflight_unknown(r, j, j->check.why);
        return;
    }
    GR_INFO("x402: %s: payer %s refused before serving: %s (%s)", r->id, x->payer, j->check.code, j->check.why);
    pay_reject(r, x, pay_build_reqs(r, p, x->max_cost_nusd, x->desc), p->nnets, j->check.code);
}

/* Submits `then` (the reservation) now, or after the preflight says yes. */
void pay_preflight_then(gr_request *r, gr_pay_x402 *p, x402_req *x, x402_job *then, const gr_x402_spend *spend) {
    if (!p->preflight || !gr_x402_preflight_needed(p->preflight, x->payer)) {
        pay_submit_job(r, then);
        return;
    }
    x402_job *j = pay_new_job(r, p, XJ_PREFLIGHT, preflighted);
    j->then = then;
    j->check_header = gr_xstrdup(x->header_b64);
    j->check_requirement = gr_xstrdup(x->requirement_json ? x->requirement_json : "{}");
    j->check = (gr_x402_preflight_check){.net = &p->nets[x->net], .mode = p->mode, .spend = *spend,
                                         .version = x->version, .header_b64 = j->check_header,
                                         .requirement = j->check_requirement};
    gr_request_job job = {.run = preflight_job_run, .free_arg = pay_x402_job_free, .resume = pay_x402_job_resume, .arg = j,
                          .exec = gr_x402_preflight_exec(p->preflight)};
    pay_job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) { /* j was freed; else continues in x402_job_resume */
        gr_metrics_add(GR_M_X402, "event=\"preflight_unavailable\"", 1);
        gr_request_fail(r, 503, "api_error", "x402_preflight_unavailable", NULL,
                        "The payer preflight is overloaded (x402.preflight.queue_max checks waiting); nothing was "
                        "served. Retry with a new authorization.");
        return;
    }
}
