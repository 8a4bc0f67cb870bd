/* feature_list.c — the features registered into the request pipeline, in the
 * order their handlers run within one stage (see feature_list.h). */
#include "feature_list.h"

#include "admit_keys.h"
#include "alerts.h"
#include "api_feedback.h"
#include "route_budget_bill.h"
#include "route_embed_call.h"
#include "auth.h"
#include "log_sink.h"
#include "otel_trace.h"
#include "pay_x402.h"
#include "proxy.h"
#include "request_log.h"
#include "responses_state.h"

#include <pthread.h>

static void register_all(void) {
    gr_pay_x402_register();      /* pays instead of a key: authenticates first; admission, receipts, settlement */
    gr_auth_register();          /* static and virtual keys, auth.mode: the last authenticator */
    gr_admit_keys_register();    /* a virtual key's budgets and limits, here and cluster-wide */
    gr_route_embed_call_register(); /* auto's embeddings signal: a ROUTE handler before the decision's */
    gr_proxy_register();         /* the model endpoints' phases, cost, settlement, route headers, response cache */
    gr_responses_state_register(); /* /v1/responses: previous_response_id after PARSE, `store`, GET/DELETE */
    gr_request_log_register();   /* access log, metrics */
    gr_otel_trace_register();    /* OpenTelemetry spans to the OTLP exporter */
    gr_log_sink_register();      /* request records to an HTTP endpoint / Langfuse */
    gr_alerts_register();        /* webhook alerts: a key crossing a budget threshold */
    gr_request_ledger_register(); /* the ledger row */
    gr_api_feedback_register();  /* the auto decision in the ledger row, for ratings (POST /v1/feedback) */
    gr_route_budget_bill_register(); /* an auto cost target counts each request's bill */
}

void gr_features_register(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_all);
}
