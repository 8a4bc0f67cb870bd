/* pay_x402_jobs.c — x402's store calls off the loop (store_exec.h): the jobs
 * of admission and the endpoints, their resume on the request's loop, and
 * the fire-and-forget posts. */
#include "pay_x402_internal.h"

#include "log.h"
#include "trace.h"

#include <stdlib.h>

/* ---- store calls off the loop (store_exec.h) ----
 *
 * Admission needs the store twice: the payer's credit (before verifying, to
 * know what the payer must have signed), then the nonce reservation together
 * with the credit take. Each is one job on the store executor; the request
 * continues on its loop in the job's `next` step. At the deadline
 * (store.op_timeout_ms) the request is answered 503 x402_store_unavailable
 * and nothing is served. A reservation that lands after that keeps the nonce
 * reserved (fail closed: that authorization can never be served, the client
 * signs a new one, as the 503 says) and gives back the credit it took, in the
 * job's late step on the executor thread — the take and the refund are one
 * job's work, so credit is neither lost nor applied twice. A job whose
 * deadline passed while it was still queued does not run at all.
 *
 * Post-response bookkeeping (credit refunds, the upto record, handing a
 * settlement to the settler) are fire-and-forget posts: never refused, run
 * in order of submission per thread, drained at shutdown before the store
 * closes. */

gr_x402_store *pay_job_store(void *conn, gr_pay_x402 *p) {
    gr_store_conns *c = conn;
    return c && c->x402 ? c->x402 : p->store;
}

static void x402_job_run(void *conn, void *arg) {
    x402_job *j = arg;
    gr_x402_store *st = pay_job_store(conn, j->p);
    switch (j->kind) {
    case XJ_CREDIT_GET:
        j->rc = gr_x402_store_credit_get(st, j->payer, &j->credit);
        break;
    case XJ_RESERVE: { /* one transaction: nonce, credit, and the job that settles it */
        gr_x402_admit_result res = GR_X402_ADMITTED;
        j->rc = gr_x402_store_admit(st, j->key, j->valid_before, j->payer, j->take, j->has_intent ? &j->intent : NULL,
                                    j->has_upto ? &j->upto : NULL, j->p->owner, GR_X402_SETTLE_LEASE_MS, &res);
        j->take_rc = GR_OK;
        if (j->rc == GR_OK && res == GR_X402_ADMIT_REPLAY) j->rc = GR_ERR_INVALID;
        if (j->rc == GR_OK && res == GR_X402_ADMIT_NO_CREDIT) j->take_rc = GR_ERR_INVALID;
        break;
    }
    case XJ_CREDIT_VIEW:
        /* A signed view (sign-in-with-x) spends its nonce first: a replay sees nothing. */
        if (j->key[0] && (j->rc = gr_x402_store_nonce_reserve(st, j->key, j->valid_before)) != GR_OK) break;
        /* Settlements first, credit second: a job's finishing commits its
         * state and its credit together, so a settlement this view shows as
         * settled always has its credit in the balance read after it (the
         * other order could show "settled" beside the balance from before). */
        j->obj = cJSON_CreateArray();
        (void)gr_x402_store_settlements_recent(st, j->payer, 20, j->obj);
        j->rc = gr_x402_store_credit_get(st, j->payer, &j->credit);
        break;
    case XJ_PAY_ID:
        j->rc = gr_x402_store_pid_begin(st, j->key, j->payer, j->fingerprint, j->rid, j->p->payment_id_ttl_ms, &j->pid);
        j->pid_ran = true;
        break;
    case XJ_PREFLIGHT: /* run on the preflight pool (preflight_job_run, settle_wait_run), never here */
    case XJ_SETTLE_WAIT:
        break;
    case XJ_PAYMENT_GET:
        j->obj = cJSON_CreateObject();
        cJSON_AddStringToObject(j->obj, "object", "x402.payment");
        j->rc = gr_x402_store_payment_get(st, j->rid, j->obj);
        if (j->rc == GR_ERR_NOT_FOUND && conn) { /* the client's X-Request-Id: its request's gateway id */
            gr_ledger_row row;
            gr_store_conns *c = conn;
            if (gr_store_generation_get(c->store, j->rid, &row) == GR_OK && !strcmp(row.client_request_id, j->rid))
                j->rc = gr_x402_store_payment_get(st, row.request_id, j->obj);
        }
        break;
    }
}

/* The request was answered 503 before this job ended. */
static void x402_job_late(void *conn, void *arg) {
    x402_job *j = arg;
    if (j->kind == XJ_PAY_ID && j->rc == GR_OK && j->pid.state == GR_X402_PID_NEW) { /* nothing served: free the id */
        if (gr_x402_store_pid_drop(pay_job_store(conn, j->p), j->key, j->rid) != GR_OK)
            GR_ERROR("x402: payment id %s, taken after its request timed out, stays taken until it expires", j->key);
        j->pid_settled = true;
        return;
    }
    if (j->kind != XJ_RESERVE || j->rc != GR_OK) return;
    GR_WARN("x402: nonce %s reserved after its request timed out: it stays spent (the client was told to sign anew)",
            j->key);
    if (j->take_rc != GR_OK) return; /* nothing was taken nor recorded */
    if (j->has_intent) { /* nothing served: the job ends skipped, and the credit it took goes back, at once */
        bool closed = false;
        snprintf(j->intent.state, sizeof j->intent.state, "skipped");
        if (j->has_upto) snprintf(j->upto.state, sizeof j->upto.state, "skipped");
        if (gr_x402_store_settlement_close(pay_job_store(conn, j->p), &j->intent, j->take, j->has_upto ? &j->upto : NULL,
                                           &closed) != GR_OK)
            GR_ERROR("x402: closing the job of %s (admitted after a timeout, not served) failed: it will be "
                     "settled as if served", j->intent.request_id);
        return;
    }
    if (j->take > 0) {
        if (gr_x402_store_credit_add(pay_job_store(conn, j->p), j->payer, j->take) != GR_OK)
            GR_ERROR("x402: giving back %lld nusd of credit to %s (taken after a timeout) failed",
                     (long long)j->take, j->payer);
    }
}


void pay_x402_job_free(void *arg) {
    x402_job *j = arg;
    if (j->kind == XJ_PAY_ID && j->pid_ran && j->rc == GR_OK && j->pid.state == GR_X402_PID_NEW && !j->pid_settled)
        pay_id_release_orphan(j); /* its request left (client gone) before it could continue */
    gr_x402_settle_waiter_release(j->waiter);
    if (j->then) pay_x402_job_free(j->then);
    free(j->check_header);
    free(j->check_requirement);
    gr_x402_settle_rec_dispose(&j->intent);
    gr_x402_pid_rec_dispose(&j->pid);
    cJSON_Delete(j->obj);
    free(j);
}

void pay_store_unavailable(gr_request *r, const char *why) {
    gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                    "The payment store %s; nothing was served. Retry with a new authorization.", why);
}


void pay_x402_job_resume(gr_request *r, void *arg, const char *err) {
    x402_job *j = arg;
    gr_trace_span_end(r, j->span, err);
    if (err && j->kind == XJ_PREFLIGHT) { /* no answer in time (the check itself may still be running) */
        pay_preflight_unknown(r, j, "no answer in time");
        return;
    }
    if (err && j->kind == XJ_SETTLE_WAIT) { /* the hash did not come in time: reply without it */
        pay_held_reply(r, j, false);
        return;
    }
    if (err) {
        unsigned ms = gr_store_exec_op_timeout_ms(r->w->exec);
        if (j->next == pay_quote_reply) { /* a quote without the hinted payer's credit is still a valid quote */
            pay_quote_reply(r, NULL);
        } else if (j->kind == XJ_CREDIT_VIEW || j->kind == XJ_PAYMENT_GET) {
            gr_request_fail(r, 503, "api_error", "x402_store_unavailable", NULL,
                            "The payment store did not answer within %u ms.", ms);
        } else {
            char why[96];
            snprintf(why, sizeof why, "did not answer within %u ms", ms);
            pay_store_unavailable(r, why);
        }
        return;
    }
    j->next(r, j);
}

x402_job *pay_new_job(gr_request *r, gr_pay_x402 *p, xjob_kind kind, void (*next)(gr_request *, x402_job *)) {
    (void)r;
    x402_job *j = gr_xcalloc(1, sizeof *j);
    j->kind = kind;
    j->p = p;
    j->next = next;
    j->span = -1;
    return j;
}

/* A job's span in r's trace: from its submission to its resume. */
void pay_job_span(gr_request *r, x402_job *j) {
    static const char *const names[] = {[XJ_CREDIT_GET] = "x402.credit", [XJ_RESERVE] = "x402.reserve",
                                        [XJ_CREDIT_VIEW] = "x402.credit_view", [XJ_PAYMENT_GET] = "x402.payment_get",
                                        [XJ_PREFLIGHT] = "x402.preflight", [XJ_SETTLE_WAIT] = "x402.settle",
                                        [XJ_PAY_ID] = "x402.payment_id"};
    /* a kind added without a name still gets a span, never a read past the table */
    const char *name = (size_t)j->kind < GR_ARRAY_LEN(names) && names[j->kind] ? names[j->kind] : "x402.job";
    j->span = gr_trace_span_begin(r, name);
}

/* Fire-and-forget work on the store executor ex (inline without one: tests). */
void pay_post_to(gr_store_exec *ex, void (*run)(void *conn, void *arg), void (*free_arg)(void *arg), void *arg) {
    if (!ex) {
        run(NULL, arg);
        free_arg(arg);
        return;
    }
    gr_store_exec_post(ex, run, free_arg, arg);
}

/* Runs j on the store executor with r suspended; r continues in j->next. */
void pay_submit_job(gr_request *r, x402_job *j) {
    gr_request_job job = {.run = x402_job_run, .late = x402_job_late, .free_arg = pay_x402_job_free,
                          .resume = pay_x402_job_resume, .arg = j};
    pay_job_span(r, j);
    if (gr_request_store_job(r, &job) != GR_OK) pay_store_unavailable(r, "is overloaded (store.queue_max calls waiting)");
}
