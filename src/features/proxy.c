/* proxy.c — the model endpoints (the rows of endpoints.c that call
 * gr_proxy_handle): the entry, and the registration of their phase handlers
 * PARSE (proxy_parse.c), ROUTE (proxy_route.c), CACHE (proxy_cache.c) and
 * UPSTREAM (proxy_attempt.c), reply hooks and finish handlers. The upstream
 * request is built in proxy_upstream_request.c and the answer relayed in
 * proxy_relay.c; proxy_call.c serves the auto:verify cascade. Admission
 * lives in the features that register ADMIT handlers (pay_x402.c,
 * admit_keys.c). */
#include "proxy_internal.h"
#include "proxy.h"
#include "verify_cascade.h"

#include "cluster_state.h"
#include "upstream.h"

#include <event2/buffer.h>
#include <event2/event.h>

/* ---- entry ---- */

void gr_proxy_handle(gr_request *r) {
    if (gr_pipeline_run(r, GR_PHASE_PARSE, GR_PHASE_COUNT)) /* every phase declined: nobody answered */
        gr_request_fail(r, 500, "api_error", "pipeline_incomplete", NULL, "No handler answered the request.");
}

/* ---- registered handlers (pipeline.h) ---- */

/* A successful non-streamed answer fills the response cache when asked. */
static bool fill_cache(gr_request *r, int status, const char *body, size_t len) {
    if (body && status == 200 && r->cache_key[0] && !r->cache_hit && r->w->shared)
        gr_shared_cache_set(r->w->shared, r->cache_key, body, len, r->cache_ttl_s);
    return false;
}

/* A stream cut by the client is billed for what the upstream produced. */
static void finish_meter(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->deployment && !r->cost_nusd && (r->usage.present || r->stream_data_bytes)) proxy_compute_cost(r);
    if (!r->cost_nusd) r->cost_nusd = gr_verify_cascade_prior_cost(r); /* billed even when the escalation failed */
}

/* A Redis call still pending for r (cluster admission, claim, cache) is
 * cancelled: its callback never comes. */
static void finish_pending(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->shared_op) {
        gr_shared_op_cancel(r->shared_op);
        r->shared_op = NULL;
    }
}

static void finish_upstream(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->xfer) {
        gr_transfer_cancel(r->xfer);
        r->xfer = NULL;
    }
    if (r->retry_ev) event_free(r->retry_ev);
    r->retry_ev = NULL;
    if (r->token_ev) event_free(r->token_ev);
    r->token_ev = NULL;
}

static void finish_release(gr_request *r, gr_finish_info *f) {
    (void)f;
    if (r->st && r->ops) r->ops->stream_free(r->st);
    gr_messages_stream_free(r->msg_stream);
    if (r->sse_ready) gr_frames_dispose(&r->frames);
    if (r->up_body) evbuffer_free(r->up_body);
    if (r->out) evbuffer_free(r->out);
    gr_http_request_free(&r->up_req);
    gr_redactor_dispose(&r->redact);
    cJSON_Delete(r->body);
    r->body = NULL;
    cJSON_Delete(r->messages_body);
    r->messages_body = NULL;
    gr_responses_stream_free(r->resp_stream);
    r->resp_stream = NULL;
    cJSON_Delete(r->responses_body);
    r->responses_body = NULL;
    cJSON_Delete(r->responses_final);
    r->responses_final = NULL;
}

void gr_proxy_register(void) {
    gr_pipeline_on_phase(GR_PHASE_PARSE, proxy_phase_parse);
    gr_pipeline_on_phase(GR_PHASE_ROUTE, proxy_phase_route);
    gr_pipeline_on_phase(GR_PHASE_CACHE, proxy_phase_cache);
    gr_verify_cascade_register(); /* auto:verify: its cheap calls run before proxy_phase_upstream, which escalates */
    gr_pipeline_on_phase(GR_PHASE_UPSTREAM, proxy_phase_upstream);
    gr_pipeline_on_reply(GR_REPLY_CACHE, fill_cache);
    gr_pipeline_on_reply(GR_REPLY_ROUTE, proxy_add_route_headers);
    gr_pipeline_on_finish(GR_FINISH_METER, finish_meter);
    gr_pipeline_on_finish(GR_FINISH_SETTLE, finish_pending);
    gr_pipeline_on_finish(GR_FINISH_UPSTREAM, finish_upstream);
    gr_pipeline_on_finish(GR_FINISH_RELEASE, finish_release);
}
