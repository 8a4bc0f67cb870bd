/* api_messages.h — the inbound Anthropic Messages endpoint (POST /v1/messages)
 * translated onto the canonical OpenAI chat shape, so any model can serve it.
 *
 *   request:  Anthropic Messages request -> canonical chat request
 *   response: canonical chat.completion  -> Anthropic message
 *   stream:   canonical chat.completion.chunk JSON texts -> Anthropic SSE events
 *             (message_start, content_block_start/delta/stop, message_delta,
 *             message_stop; "error" on failure)
 *   errors:   status + message -> {"type":"error","error":{"type","message"}}
 *
 * Everything returned is heap memory owned by the caller (cJSON_Delete / free).
 * A stream translator belongs to one response and one thread. */
#ifndef GR_API_MESSAGES_H
#define GR_API_MESSAGES_H

#include "provider.h"

/* Anthropic request -> canonical request. On bad input returns GR_ERR_INVALID
 * with err filled (400 invalid_request_error). Streams get
 * stream_options.include_usage so usage can be reported in message_delta. */
GR_MUST_CHECK gr_status gr_messages_to_canonical(const cJSON *anthropic_req, cJSON **canonical,
                                                 gr_upstream_error *err);

/* Canonical chat.completion -> Anthropic message object. model may be NULL
 * (the completion's model is used). Only choices[0] is rendered. */
GR_MUST_CHECK gr_status gr_messages_from_canonical(const cJSON *openai_resp, const char *model,
                                                   cJSON **anthropic_msg, gr_upstream_error *err);

/* Emit one Anthropic SSE event: event name and its data JSON (no framing). */
typedef int (*gr_messages_emit_fn)(void *ud, const char *event, const char *data, size_t len);

typedef struct gr_messages_stream gr_messages_stream;

/* model: shown in message_start (NULL = the chunks' model). */
gr_messages_stream *gr_messages_stream_new(const char *model);
void gr_messages_stream_free(gr_messages_stream *s);
/* Feed one canonical chunk (JSON text; "[DONE]" is accepted and ignored).
 * Returns GR_ERR_PARSE on malformed JSON (nothing emitted; call
 * gr_messages_stream_error), GR_ERR_IO if emit returned nonzero. A chunk that
 * carries {"error":{...}} emits an Anthropic "error" event. */
GR_MUST_CHECK gr_status gr_messages_stream_chunk(gr_messages_stream *s, const char *json,
                                                 size_t len, gr_messages_emit_fn emit, void *ud);
/* Same, from a parsed chunk. */
GR_MUST_CHECK gr_status gr_messages_stream_chunk_json(gr_messages_stream *s, const cJSON *chunk,
                                                      gr_messages_emit_fn emit, void *ud);
/* End of the canonical stream: closes the open block and emits message_delta
 * (stop_reason, usage) and message_stop. Idempotent. */
GR_MUST_CHECK gr_status gr_messages_stream_finish(gr_messages_stream *s, gr_messages_emit_fn emit,
                                                  void *ud);
/* Emit an Anthropic "error" event for err (mid-stream failure). */
GR_MUST_CHECK gr_status gr_messages_stream_error(gr_messages_stream *s,
                                                 const gr_upstream_error *err,
                                                 gr_messages_emit_fn emit, void *ud);
/* Input tokens message_start reports before the upstream's usage is known
 * (the gateway's estimate; message_delta carries the upstream's count). */
void gr_messages_stream_set_input_estimate(gr_messages_stream *s, int64_t prompt_tokens);
/* Usage gathered from the chunks so far. */
void gr_messages_stream_usage(const gr_messages_stream *s, gr_usage *out);

/* Anthropic error type for an HTTP status (529/503 -> overloaded_error). */
const char *gr_messages_error_type(int status);
/* {"type":"error","error":{"type":...,"message":...}} as JSON text (free()). */
char *gr_messages_error_json(int status, const char *message);
/* The same with Anthropic's own error type (e.g. one an upstream sent). */
char *gr_messages_error_json_typed(const char *type, const char *message);
/* "event: <name>\ndata: <data>\n\n" (free()); *out_len gets its length. */
char *gr_messages_sse_frame(const char *event, const char *data, size_t len, size_t *out_len);

#endif
