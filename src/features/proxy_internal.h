/* proxy_internal.h — what the files of the model endpoints (proxy*.c) share;
 * private to them: the public face is proxy.h. */
#ifndef GR_PROXY_INTERNAL_H
#define GR_PROXY_INTERNAL_H

#include "api_responses.h"
#include "pipeline.h"
#include "proxy.h"

/* ---- the phase handlers and reply hooks gr_proxy_register registers ---- */
gr_phase_rc proxy_phase_parse(gr_request *r);    /* proxy_parse.c */
gr_phase_rc proxy_phase_route(gr_request *r);    /* proxy_route.c */
gr_phase_rc proxy_phase_cache(gr_request *r);    /* proxy_cache.c */
gr_phase_rc proxy_phase_upstream(gr_request *r); /* proxy_attempt.c */
bool proxy_add_route_headers(gr_request *r, int status, const char *body, size_t len); /* proxy_route.c */

/* ---- proxy_upstream_request.c: the upstream request, usage and cost ---- */
const char *proxy_endpoint_path(gr_endpoint ep);
void proxy_read_usage(const cJSON *u, gr_usage *out);
/* Final cost from the upstream's usage, or from the gateway's estimate. */
void proxy_compute_cost(gr_request *r);
char *proxy_azure_url(gr_request *r, const gr_provider_conf *p, const gr_deployment *dep);
void proxy_add_common_headers(gr_request *r, const gr_provider_conf *p, gr_http_request *h, bool conf_headers);
/* r->up_req for the current attempt; false: r was answered (an error). */
bool proxy_build_upstream_request(gr_request *r, const char *body, size_t len);

/* ---- proxy_relay.c: the answer relayed to the client ---- */
void proxy_flush_out(gr_request *r);
void proxy_append_event(gr_request *r, const char *data, size_t len);
void proxy_start_stream_reply(gr_request *r);
/* the upstream transfer's callbacks (gr_transfer_cbs; on_done is proxy_attempt.c's) */
void proxy_on_headers(void *ud, int status, const char *ctype, int retry_after_s);
int proxy_on_data(void *ud, const char *raw, size_t raw_len);
int proxy_relay_data(gr_request *r, const char *data, size_t len);
void proxy_finish_stream(gr_request *r, const char *err);
void proxy_reply_upstream_error(gr_request *r);
gr_responses_call proxy_responses_call(gr_request *r);
/* Replies with `usage.cost` added and the x-gaterouter-cost header. */
void proxy_reply_costed(gr_request *r, cJSON *resp);
void proxy_reply_non_stream(gr_request *r);

/* ---- proxy_attempt.c ---- */
/* Seconds until the asked model's first deployment leaves its 429 cooldown (0: not only rate limited). */
unsigned proxy_rate_limited_for(gr_request *r);

#endif
