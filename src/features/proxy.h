/* proxy.h — the model endpoints (chat, completions, embeddings, Messages,
 * Responses, the /v1/route dry run): body validation, routing, the response
 * cache, upstream attempts with retries and fallbacks, and the relay of the
 * answer (streamed or not) back to the client. Admission (budgets, limits,
 * payments) is the ADMIT handlers' of other features (admit_keys.c,
 * pay_x402.c). The files: proxy*.c, sharing proxy_internal.h. */
#ifndef GR_PROXY_H
#define GR_PROXY_H

#include "request.h"

/* Serves r (r->ep set, client authenticated): runs the pipeline's phases
 * from PARSE on (pipeline.h); answers and finishes, usually later from this
 * loop. */
void gr_proxy_handle(gr_request *r);
/* Registers the model endpoints' phase handlers (PARSE, ROUTE, CACHE,
 * UPSTREAM), reply hooks and finish handlers. */
void gr_proxy_register(void);

/* ---- for the auto:verify cascade (verify_cascade.c, the same feature) ---- */
/* A non-streamed chat call of r's canonical body to dep (model m): the
 * adapter's request, or the OpenAI-compatible one with `model` set and the
 * gateway's own fields removed. false: err says why (adapter refusal). */
bool gr_proxy_build_call(gr_request *r, const gr_deployment *dep, const gr_model_conf *m, const cJSON *body,
                         gr_adapter_ctx *actx, const gr_provider_ops **ops, gr_http_request *h, gr_upstream_error *err);
/* Its redacted answer as a canonical chat.completion (*out owned by the
 * caller) and usage (estimated when the upstream reported none). */
GR_MUST_CHECK gr_status gr_proxy_parse_call(gr_request *r, const gr_provider_ops *ops, gr_adapter_ctx *actx,
                                            const char *body, size_t len, cJSON **out, gr_usage *usage,
                                            gr_upstream_error *err);
/* Replies a canonical chat.completion with r->cost_nusd in usage (in the client's format) and finishes r. */
void gr_proxy_reply_response(gr_request *r, cJSON *resp);
/* A stream made by the gateway: begin (status line and headers), events
 * (canonical chunks, translated for a Messages client), end ([DONE], finish). */
void gr_proxy_stream_begin(gr_request *r);
void gr_proxy_stream_event(gr_request *r, const char *data, size_t len);
void gr_proxy_stream_end(gr_request *r);

#endif
