/* api_responses.h — the inbound OpenAI Responses endpoint (POST /v1/responses)
 * translated onto the canonical OpenAI chat shape, so any model can serve it
 * (field mapping in docs/PROVIDERS.md, "Responses API").
 *
 *   request:  Responses request (+ the items of the previous response) ->
 *             canonical chat request
 *   response: canonical chat.completion -> Response object
 *   stream:   canonical chat.completion.chunk JSON texts -> the typed
 *             Responses SSE events (response.created ... response.completed
 *             | response.incomplete | response.failed), sequence-numbered
 *
 * Everything returned is heap memory owned by the caller (cJSON_Delete /
 * free). A stream translator belongs to one response and one thread. */
#ifndef GR_API_RESPONSES_H
#define GR_API_RESPONSES_H

#include "provider.h"

/* Tool types a Responses request may carry that no upstream here can run
 * (hosted tools: web_search, file_search, ...; Codex's namespace, custom and
 * local_shell): dropped from the canonical request, never refused. NULL-ended. */
extern const char *const gr_responses_dropped_tools[];

/* What a Response object names and echoes: the client's request, the
 * response's id ("resp_..."), the model shown and the creation time. */
typedef struct gr_responses_call {
    const cJSON *request;
    const char *id;
    const char *model;
    int64_t created_at; /* unix seconds */
} gr_responses_call;

/* Responses request -> canonical request. history: the conversation so far
 * as Responses items (previous_response_id's stored context), or NULL; the
 * request's own `input` follows it. On bad input returns GR_ERR_INVALID with
 * err filled (400 invalid_request_error, err->code_buf names the param).
 * Streams get stream_options.include_usage. */
GR_MUST_CHECK gr_status gr_responses_to_canonical(const cJSON *req, const cJSON *history, cJSON **canonical,
                                                  gr_upstream_error *err);

/* The id of the response that stored an item the gateway handed out
 * ("msg_<base>...", "fc_<base>_<n>": "resp_<base>", base in hex) into out;
 * false for ids of any other shape (the gateway never stored them). */
#define GR_RESPONSES_ID_MAX 96
bool gr_responses_ref_response_id(const char *item_id, char *out, size_t cap);
/* req's input holds an item_reference to such an item (resolved later). */
bool gr_responses_has_stored_refs(const cJSON *req);

/* The request's `input` as a list of Responses items (a string becomes one
 * user message item), each with an id ("<prefix>_<n>" when it had none).
 * NULL when input is neither a string nor an array. */
cJSON *gr_responses_input_items(const cJSON *req, const char *id_prefix);

/* include carries "reasoning.encrypted_content": reasoning items then carry
 * the reasoning (and Anthropic's thinking signature) in encrypted_content,
 * read back when they return in `input`, so thinking round-trips. */
bool gr_responses_wants_encrypted_reasoning(const cJSON *req);

/* Canonical chat.completion -> Response object (usage.cost copied when the
 * completion's usage carries one). Only choices[0] is rendered. */
GR_MUST_CHECK gr_status gr_responses_from_canonical(const cJSON *chat, const gr_responses_call *call,
                                                    cJSON **response, gr_upstream_error *err);

/* Emit one SSE event: event name and its data JSON (no framing). */
typedef int (*gr_responses_emit_fn)(void *ud, const char *event, const char *data, size_t len);

typedef struct gr_responses_stream gr_responses_stream;

/* call->request is copied as far as the Response object echoes it. */
gr_responses_stream *gr_responses_stream_new(const gr_responses_call *call);
void gr_responses_stream_free(gr_responses_stream *s);
/* Feed one canonical chunk (JSON text; "[DONE]" is ignored). GR_ERR_PARSE on
 * malformed JSON (nothing emitted), GR_ERR_IO if emit returned nonzero. A
 * chunk that carries {"error":{...}} fails the response (response.failed). */
GR_MUST_CHECK gr_status gr_responses_stream_chunk(gr_responses_stream *s, const char *json, size_t len,
                                                  gr_responses_emit_fn emit, void *ud);
/* End of the canonical stream: closes the open item and emits
 * response.completed (or response.incomplete after a length / content-filter
 * stop) with the whole Response and its usage. Idempotent. */
GR_MUST_CHECK gr_status gr_responses_stream_finish(gr_responses_stream *s, gr_responses_emit_fn emit, void *ud);
/* Mid-stream failure: response.failed with error {code, message}. */
GR_MUST_CHECK gr_status gr_responses_stream_fail(gr_responses_stream *s, const char *code, const char *message,
                                                 gr_responses_emit_fn emit, void *ud);
/* The Response as it stands (complete after finish); owned by s. */
const cJSON *gr_responses_stream_response(const gr_responses_stream *s);

#endif
