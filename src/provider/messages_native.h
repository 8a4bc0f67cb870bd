/* messages_native.h — POST /v1/messages (and /v1/messages/count_tokens)
 * relayed as is to an upstream that speaks Anthropic's Messages API: the
 * request line and headers the upstream needs, and the metering read off the
 * reply without changing a byte of it. The body itself is the client's, with
 * only `model` rewritten and the gateway's own fields removed (proxy.c). */
#ifndef GR_MESSAGES_NATIVE_H
#define GR_MESSAGES_NATIVE_H

#include "http_server.h"
#include "provider.h"
#include "sse.h"

/* Client headers forwarded to the Anthropic upstream unchanged (when sent). */
extern const char *const gr_messages_native_forwarded[];
/* Adds those the client sent to h. */
void gr_messages_native_forward(const gr_client_req *client, gr_http_request *h);

/* Sets h's URL (<base_url>/messages or /messages/count_tokens) and headers:
 * the provider's key as x-api-key, the client's anthropic-version (else the
 * provider's api_version, else the default) and anthropic-beta. */
void gr_messages_native_request(const gr_client_req *client, const gr_provider_conf *p, bool count_tokens,
                                gr_http_request *h);

/* Joins every anthropic-beta header line of h (the client's, the provider's
 * configured one) into one, comma-separated, each beta once in the order
 * first seen: Anthropic reads one list, and a repeated header may reach it
 * as either value alone. */
void gr_messages_native_join_betas(gr_http_request *h);

/* Removes from the assistant turns of a /v1/messages body the thinking
 * blocks Anthropic did not sign: an empty signature (the gateway's
 * translation of another upstream's reasoning) or one the gateway carries for
 * Gemini (GR_MESSAGES_GEMINI_SIG_PREFIX). Anthropic would refuse them (it
 * verifies signatures), and they mean nothing to it. Returns true when the
 * body changed (then it must be re-rendered); a body without such blocks is
 * left as it is, byte for byte. */
bool gr_messages_native_drop_foreign_thinking(cJSON *body);
/* Claude on Vertex AI (kind vertex, a claude* model) speaks Anthropic too:
 * the relay goes to <base_url>/v1/projects/<p>/locations/<l>/publishers/
 * anthropic/models/<model>:rawPredict (stream: :streamRawPredict) with the
 * access token as Bearer and the client's anthropic-beta; no x-api-key or
 * anthropic-version header (the version is in the body). */
bool gr_messages_native_is_vertex_claude(const gr_provider_conf *p, const char *upstream_model);
void gr_messages_native_vertex_request(const gr_client_req *client, const gr_provider_conf *p, const char *upstream_model,
                                       bool stream, const char *bearer, gr_http_request *h);
/* The relayed body as Vertex wants it: `model` removed (it is in the URL) and
 * "anthropic_version":"vertex-2023-10-16" first; every other byte as it was. */
void gr_messages_native_vertex_body(gr_http_request *h);

/* What one upstream stream event means to the gateway. */
typedef enum {
    GR_NATIVE_EV_OTHER = 0,
    GR_NATIVE_EV_STOP,  /* message_stop: the stream is complete */
    GR_NATIVE_EV_ERROR, /* an in-band error event */
} gr_native_event_kind;

/* Reads usage from message_start / message_delta into u; classifies ev. */
gr_native_event_kind gr_messages_native_event(const gr_sse_event *ev, gr_usage *u);

/* Writes ev as an SSE frame with the upstream's event name and data, as it
 * arrived ("event: <name>\ndata: <line>\n...\n"). */
void gr_messages_native_frame(struct evbuffer *out, const gr_sse_event *ev);

#endif
