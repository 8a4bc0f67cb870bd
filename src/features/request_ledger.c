/* request_ledger.c — one ledger row per request that reached a model,
 * written by the ledger's own thread. The row is built at GR_FINISH_LEDGER,
 * features add their columns at GR_FINISH_LEDGER_FILL (x402), and it is
 * submitted at GR_FINISH_LEDGER_SUBMIT (pipeline.h). */
#include "request_log.h"

#include "ledger.h"
#include "metrics.h"
#include "pipeline.h"
#include "services.h"

/* One ledger row per model request, written by the ledger's own thread. */
static void build_row(gr_request *r, gr_finish_info *f) {
    gr_services *svc = r->w->svc;
    if (!svc || !svc->ledger || !r->model) return;
    gr_ledger_row *row = &f->row_buf;
    memset(row, 0, sizeof(*row));
    f->row = row;
    GR_LEDGER_SET(row->request_id, r->id);
    GR_LEDGER_SET(row->client_request_id, r->client_id);
    row->ts_ms = (int64_t)gr_wall_ms() - (int64_t)((r->end_us - r->start_us) / 1000);
    if (r->key) GR_LEDGER_SET(row->key_id, gr_keys_id(r->key));
    else if (r->key_name) GR_LEDGER_SET(row->key_id, r->key_name);
    GR_LEDGER_SET(row->model_asked, r->model_asked);
    GR_LEDGER_SET(row->model_served, r->deployment ? r->deployment->upstream_model : "");
    GR_LEDGER_SET(row->provider, r->deployment ? r->deployment->provider->name : "");
    row->tokens_in = r->usage.prompt_tokens;
    row->tokens_out = r->usage.completion_tokens;
    row->tokens_cached = r->usage.cached_tokens;
    row->tokens_reasoning = r->usage.reasoning_tokens;
    row->tokens_cache_write = r->usage.cache_write_tokens;
    row->cost_nusd = r->cost_nusd;
    row->estimated = r->usage.estimated;
    row->latency_us = (int64_t)(r->end_us - r->start_us);
    row->ttft_us = r->first_token_us ? (int64_t)(r->first_token_us - r->start_us) : 0;
    row->status = r->status;
    GR_LEDGER_SET(row->route_reason, r->route_reason ? r->route_reason : "");
    GR_LEDGER_SET(row->error_type, r->error_type ? r->error_type : "");
}

static void submit_row(gr_request *r, gr_finish_info *f) {
    if (f->row && gr_ledger_submit(r->w->svc->ledger, f->row) != GR_OK) gr_metrics_add(GR_M_LEDGER_DROPPED, NULL, 1);
}

void gr_request_ledger_register(void) {
    gr_pipeline_on_finish(GR_FINISH_LEDGER, build_row);
    gr_pipeline_on_finish(GR_FINISH_LEDGER_SUBMIT, submit_row);
}
