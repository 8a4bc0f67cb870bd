/* route_budget_bill.c — an auto cost target (`auto:$0.50`, route_auto_budget.h)
 * holds for what requests are billed: at finish, after metering, the worker's
 * controller counts the request's actual cost instead of the expected cost its
 * decision was fed. Runs on the request's worker thread, which owns that
 * controller (no lock). */
#include "route_budget_bill.h"

#include "pipeline.h"
#include "request.h"
#include "route.h"
#include "worker.h"

static void bill(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (!r->plan || r->plan->budget_per_1k <= 0.0 || !r->w || r->cost_nusd < 0) return;
    gr_route_budget_bill(r->w->route_state, r->cfg, r->plan, (double)r->cost_nusd / 1e9);
}

void gr_route_budget_bill_register(void) { gr_pipeline_on_finish(GR_FINISH_LOG, bill); }
