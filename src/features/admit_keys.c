/* admit_keys.c — the ADMIT phase for a virtual key (keys.h): its budgets,
 * rate limits and models reserved here for the worst case over every
 * candidate the route may reach, then the same limits cluster-wide (Redis,
 * cluster_state.h; a missing spend counter is seeded from the store on the store
 * executor); at finish, both reservations settle at the actual cost. The
 * per-request state lives in this feature's context slot (pipeline.h). */
#include "admit_keys.h"

#include "meter.h"
#include "meter_defaults.h"
#include "meter_hold.h"
#include "output_cap.h"
#include "pipeline.h"
#include "route.h"
#include "route_verify.h"
#include "services.h"
#include "cluster_state.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>

/* One admitted key request (request pool). */
typedef struct key_admission {
    gr_key_reservation reservation; /* this instance's windows and budgets */
    int64_t shared_reserved;        /* > 0: reserved in Redis, settle at finish */
    bool shared_seeds_fresh;        /* the pending admission carries seeds just read from the store */
    int64_t est_total_tokens;
} key_admission;

static int g_ctx_slot = -1;
#define KA(r) ((key_admission *)(r)->ctx[g_ctx_slot])

static bool admit_shared(gr_request *r, bool seeds_fresh);
static void on_shared_admit(void *ud, const gr_shared_verdict *v);

/* What a hold prices for one call on candidate c: the request's prompt (+
 * extra_in), its output cap (or out_cap, one output) times its outputs. */
static gr_hold_request hold_request(const gr_request *r, const gr_route_candidate *c, int64_t extra_in, int64_t out_cap) {
    return (gr_hold_request){
        .body = r->body,
        .native_body = r->messages_body,
        .prompt_tokens = r->est_prompt_tokens + extra_in,
        .outputs = out_cap > 0 ? 1 : r->outputs, /* n choices: n outputs */
        .upstream_model = c->dep->upstream_model,
        .max_output = out_cap > 0                  ? out_cap
                      : r->ep == GR_EP_EMBEDDINGS ? 0
                                                  : gr_meter_request_max_output(r->body, c->model->max_output_tokens)};
}

/* One call's worst case on candidate c (route_verify.h), cache writes and
 * the thinking budget an adapter adds included (meter_hold.h). */
static int64_t call_max_cost(const gr_route_candidate *c, int64_t extra_in, int64_t out_cap, void *arg) {
    const gr_request *r = arg;
    gr_prices pr;
    gr_meter_deployment_prices(c->dep, c->model, &pr);
    gr_hold_request q = hold_request(r, c, extra_in, out_cap);
    return gr_meter_hold_cost(&pr, c->dep->provider->kind, &q);
}

static gr_phase_rc phase_key_admit(gr_request *r) {
    if (r->key) {
        key_admission *ka = gr_pool_calloc(r->pool, sizeof *ka);
        r->ctx[g_ctx_slot] = ka;
        /* Reserve the worst case over every candidate a fallback could reach,
         * plus every call an auto:verify cascade makes before it; cache writes
         * and thinking budgets counted (meter_hold.h). */
        int64_t answer_max = 0; /* the longest cheap answer a check call may quote */
        for (uint8_t i = 0; r->ep != GR_EP_EMBEDDINGS && i < r->plan->verify.ncheap; i++) {
            int64_t mo = gr_meter_request_max_output(r->body, r->plan->cand[r->plan->verify.cheap[i]].model->max_output_tokens);
            if (mo > answer_max) answer_max = mo;
        }
        r->max_cost_nusd = gr_route_plan_max_cost(r->plan, answer_max, call_max_cost, r);
        /* no cap of the client's: the hold reserved each model's max output,
         * and each attempt sends it, so no upstream default can exceed it */
        r->default_output_cap = r->ep != GR_EP_EMBEDDINGS && !gr_output_cap_named(r->body) &&
                                !gr_output_cap_named(r->responses_body);
        int64_t out_tokens = 0;
        for (size_t i = 0; i < r->plan->ncand; i++) {
            const gr_route_candidate *c = &r->plan->cand[i];
            gr_hold_request q = hold_request(r, c, 0, 0);
            int64_t ot = gr_meter_mul_sat(gr_meter_hold_output(c->dep->provider->kind, &q), q.outputs);
            if (ot > out_tokens) out_tokens = ot;
        }
        KA(r)->est_total_tokens = gr_route_plan_max_tokens(r->plan, r->est_prompt_tokens, out_tokens); /* + a cascade's calls */
        gr_key_verdict v = {0};
        /* the router checked every candidate against the key's models list (key_refuses) */
        if (!gr_keys_admit(r->key, gr_keys_models_checked, r->max_cost_nusd, KA(r)->est_total_tokens, (int64_t)gr_wall_ms(),
                           &KA(r)->reservation, &v)) {
            if (v.retry_after_s > 0) {
                char ra[24];
                snprintf(ra, sizeof(ra), "%lld", (long long)v.retry_after_s);
                gr_request_add_header(r, "Retry-After", ra);
            }
            gr_request_fail(r, v.status, v.type, v.code, NULL, "%s", v.message);
            return GR_PHASE_STOP;
        }
    }
    return GR_PHASE_NEXT;
}

static gr_phase_rc phase_cluster_admit(gr_request *r) {
    if (r->key && r->w->shared && admit_shared(r, false)) return GR_PHASE_STOP; /* continues in on_shared_admit */
    return GR_PHASE_NEXT;
}

/* The same limits, cluster-wide (Redis); false when the key has none. */
static bool admit_shared(gr_request *r, bool seeds_fresh) {
    gr_key_limits lim;
    gr_keys_limits(r->key, &lim);
    if (!(lim.rpm > 0 || lim.tpm > 0 || lim.budget_total_nusd >= 0 || lim.budget_daily_nusd >= 0 ||
          lim.budget_monthly_nusd >= 0))
        return false;
    KA(r)->shared_seeds_fresh = seeds_fresh;
    r->shared_op = gr_shared_admit(r->w->shared, gr_keys_id(r->key), &lim, KA(r)->est_total_tokens, r->max_cost_nusd,
                                   (int64_t)gr_wall_ms(), seeds_fresh, on_shared_admit, r);
    return true;
}

/* Redis has no spend counter for the key (a new period, or Redis lost its
 * data): the seed comes from the store's committed spend, read on the store
 * executor, never from this process's memory alone. */
typedef struct seed_job {
    char key_id[GR_KEY_ID_MAX];
    int64_t now_ms;
    gr_key_spend sp;
    gr_status rc;
} seed_job;

static void seed_run(void *conn, void *arg) {
    seed_job *j = arg;
    gr_store_conns *c = conn;
    j->rc = gr_store_key_spend(c->store, j->key_id, gr_store_utc_day(j->now_ms), gr_store_utc_month(j->now_ms),
                               &j->sp);
    gr_store_health_note(j->rc);
}

static void seed_fail(gr_request *r, const char *why) {
    gr_keys_cancel(&KA(r)->reservation);
    gr_request_fail(r, 503, "api_error", "store_unavailable", NULL,
                    "This key's cluster-wide spend could not be read from the store (%s); nothing was served.", why);
}

static void seed_resume(gr_request *r, void *arg, const char *err) {
    seed_job *j = arg;
    if (err || j->rc != GR_OK) {
        seed_fail(r, err ? "timeout" : gr_status_str(j->rc));
        return;
    }
    gr_keys_note_committed(r->key, &j->sp, j->now_ms);
    if (!admit_shared(r, true)) gr_pipeline_continue(r, GR_PHASE_NEXT); /* the key's limits changed meanwhile */
}

static void seed_from_store(gr_request *r) {
    if (!r->w->exec) { /* the seed needs an executor thread's own store connection */
        seed_fail(r, "no store executor");
        return;
    }
    seed_job *j = gr_xcalloc(1, sizeof *j);
    gr_store_strlcpy(j->key_id, gr_keys_id(r->key), sizeof j->key_id);
    j->now_ms = (int64_t)gr_wall_ms();
    gr_request_job job = {.run = seed_run, .free_arg = free, .resume = seed_resume, .arg = j};
    if (gr_request_store_job(r, &job) != GR_OK) seed_fail(r, "the store executor is full"); /* else seed_resume */
}

static void on_shared_admit(void *ud, const gr_shared_verdict *v) {
    gr_request *r = ud;
    r->shared_op = NULL;
    if (r->finished || r->client_gone) return;
    if (v->status == 200) {
        KA(r)->shared_reserved = r->max_cost_nusd > 0 ? r->max_cost_nusd : 1;
        gr_keys_note_shared(r->key, r->max_cost_nusd);
        gr_pipeline_continue(r, GR_PHASE_NEXT);
        return;
    }
    if (v->need_seed) { /* after a fresh seed only if Redis lost the counter again meanwhile */
        if (!KA(r)->shared_seeds_fresh) seed_from_store(r);
        else seed_fail(r, "Redis lost the counter again");
        return;
    }
    if (v->store_down) {
        gr_key_limits lim;
        gr_keys_limits(r->key, &lim);
        bool budgets = lim.budget_total_nusd >= 0 || lim.budget_daily_nusd >= 0 || lim.budget_monthly_nusd >= 0;
        if (!budgets && gr_shared_rate_limits_fail_open(r->w->svc->shared)) {
            gr_pipeline_continue(r, GR_PHASE_NEXT); /* rate limits fall back to this instance's own windows */
            return;
        }
        gr_keys_cancel(&KA(r)->reservation); /* a refused request consumes nothing (KEYS.md) */
        gr_request_fail(r, 503, "api_error", "shared_store_unavailable", NULL,
                        "The shared limit store (Redis) is unavailable (%s); requests with budgets fail closed.", v->reason);
        return;
    }
    gr_keys_cancel(&KA(r)->reservation); /* a refused request consumes nothing (KEYS.md) */
    if (v->status == 429) {
        char ra[16];
        snprintf(ra, sizeof(ra), "%d", v->retry_after_s > 0 ? v->retry_after_s : 1);
        gr_request_add_header(r, "Retry-After", ra);
        gr_request_fail(r, 429, "rate_limit_error", "rate_limit_exceeded", NULL,
                        "Rate limit reached for this key across all instances (%s); retry after %s s.", v->reason, ra);
        return;
    }
    gr_request_fail(r, 402, "insufficient_quota", "budget_exceeded", NULL,
                    "This key's budget is exhausted across all instances (%s).", v->reason);
}

/* Reservations settle at the actual cost, here and in Redis. */
static void finish_settle(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (!KA(r)) return;
    if (KA(r)->reservation.active)
        gr_keys_settle(&KA(r)->reservation, r->cost_nusd, r->usage.prompt_tokens + r->usage.completion_tokens + r->side_tokens,
                       (int64_t)gr_wall_ms());
    if (KA(r)->shared_reserved && r->key && r->w->shared) {
        gr_keys_note_shared(r->key, -r->max_cost_nusd);
        gr_key_limits lim;
        gr_keys_limits(r->key, &lim);
        gr_shared_settle(r->w->shared, gr_keys_id(r->key), &lim, KA(r)->shared_reserved, r->cost_nusd, KA(r)->est_total_tokens,
                         r->usage.prompt_tokens + r->usage.completion_tokens + r->side_tokens, (int64_t)gr_wall_ms());
    }
}

void gr_admit_keys_register(void) {
    g_ctx_slot = gr_pipeline_ctx_slot();
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_key_admit);
    gr_pipeline_on_phase(GR_PHASE_ADMIT, phase_cluster_admit);
    gr_pipeline_on_finish(GR_FINISH_SETTLE, finish_settle);
}
