/* messages_bedrock.h — /v1/messages relayed natively to Claude on AWS
 * Bedrock (kind bedrock, a model id holding "anthropic."): InvokeModel
 * (POST <base_url>/model/<id>/invoke) and InvokeModelWithResponseStream
 * (…/invoke-with-response-stream), SigV4-signed like the Converse adapter.
 * The body is the client's with `model` and `stream` removed,
 * "anthropic_version":"bedrock-2023-05-31" first and the anthropic-beta
 * header's betas as `anthropic_beta` (Bedrock reads them from the body, not a
 * header); every other byte as the client sent it. A non-streamed reply is
 * an Anthropic message as is; a stream is application/vnd.amazon.eventstream
 * whose `chunk` events carry {"bytes": base64 of one Anthropic event}, turned
 * back into that SSE event here; an exception frame becomes Anthropic's
 * `error` event. */
#ifndef GR_MESSAGES_BEDROCK_H
#define GR_MESSAGES_BEDROCK_H

#include "provider.h"
#include "sse.h"

#define GR_BEDROCK_ANTHROPIC_VERSION "bedrock-2023-05-31"

bool gr_messages_bedrock_is_claude(const gr_provider_conf *p, const char *upstream_model);

/* Turns h (the relayed body in h->body, the anthropic-beta header line if
 * any) into the signed InvokeModel request; false with err set on failure. */
bool gr_messages_bedrock_request(const gr_adapter_ctx *ctx, bool stream, gr_http_request *h, gr_upstream_error *err);

/* One decoded event-stream message -> the Anthropic SSE event it carries:
 * *out points into *owned (heap, the caller frees it). 0: an Anthropic
 * event; 1: an exception, as Anthropic's `error` event; -1: not one (an
 * unknown event type is skipped: *owned stays NULL). */
int gr_messages_bedrock_event(const gr_sse_event *in, gr_sse_event *out, char **owned);

#endif
