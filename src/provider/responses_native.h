/* responses_native.h — POST /v1/responses relayed to an upstream that speaks
 * OpenAI's Responses API itself (a provider with `responses_api: true`):
 * the request line and headers, and the metering read off the reply. The
 * body is the client's, with only `model` rewritten and the gateway's own
 * fields removed (proxy.c); the reply's events go out as they came, the
 * final one with usage.cost added. */
#ifndef GR_RESPONSES_NATIVE_H
#define GR_RESPONSES_NATIVE_H

#include "provider.h"
#include "sse.h"

/* Sets h's URL (<base_url>/responses) and headers (bearer key, JSON, SSE
 * for streams). */
void gr_responses_native_request(const gr_provider_conf *p, bool stream, gr_http_request *h);

/* A Response's usage (input_tokens, output_tokens and their details) into u. */
void gr_responses_native_usage(const cJSON *usage, gr_usage *u);

typedef enum {
    GR_RESP_EV_OTHER = 0,
    GR_RESP_EV_END,    /* response.completed / response.incomplete: the stream is complete */
    GR_RESP_EV_FAILED, /* response.failed or an error event: the stream ends failed */
} gr_resp_event_kind;

/* Classifies one upstream stream event. For the terminal ones *parsed gets
 * the event's JSON (caller cJSON_Deletes; NULL if it is not JSON) and u the
 * usage of its response. */
gr_resp_event_kind gr_responses_native_event(const gr_sse_event *ev, gr_usage *u, cJSON **parsed);

#endif
