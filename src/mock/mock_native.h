/* mock_native.h — native wire formats for the built-in mock upstream.
 *
 * The mock answers in the canonical OpenAI shape; these functions re-encode
 * its answers as Anthropic Messages / Gemini generateContent bytes (whole
 * bodies and SSE streams, incrementally) and decode native requests into the
 * canonical request, reusing the adapters' translators (api_messages.c for
 * Anthropic). kind is GR_PROVIDER_ANTHROPIC or GR_PROVIDER_GEMINI; other kinds
 * return NULL / GR_ERR_UNSUPPORTED. Returned strings are heap memory (free()). */
#ifndef GR_MOCK_NATIVE_H
#define GR_MOCK_NATIVE_H

#include "provider.h"

/* Canonical chat.completion -> native response body (JSON text). */
char *gr_mock_native_response(gr_provider_kind kind, const cJSON *completion, size_t *len);

/* Native error body for a status ({"type":"error",...} / {"error":{code,...}}). */
char *gr_mock_native_error(gr_provider_kind kind, int status, const char *message, size_t *len);

/* Streaming: canonical chunks in, native SSE bytes out (Anthropic: "event:" +
 * "data:" LF framing, a ping after the first content_block_start as Anthropic
 * sends it; Gemini: "data: {...}\r\n\r\n"). Each call returns the bytes to
 * write now (possibly empty, never NULL for a valid stream). The closing
 * events (Anthropic message_delta + message_stop, Gemini finishReason +
 * usageMetadata) come from _finish, so a paced caller writes the finish chunk,
 * the usage chunk and _finish's bytes in one go (mock_upstream.c does). */
typedef struct gr_mock_stream gr_mock_stream;
/* prompt_tokens: the mock's count of the request's input, reported in
 * Anthropic's message_start as the real service does (0: unknown). */
gr_mock_stream *gr_mock_native_stream_new(gr_provider_kind kind, const char *model, int64_t prompt_tokens);
char *gr_mock_native_stream_chunk(gr_mock_stream *s, const cJSON *chunk, size_t *len);
char *gr_mock_native_stream_finish(gr_mock_stream *s, size_t *len);
void gr_mock_native_stream_free(gr_mock_stream *s);
/* Whole stream at once: chunks is a JSON array of chat.completion.chunk objects. */
char *gr_mock_native_sse(gr_provider_kind kind, const cJSON *chunks, size_t *len);

/* Native request -> canonical chat request. For Gemini the model and the
 * stream flag come from the URL (models/<model>:streamGenerateContent). */
GR_MUST_CHECK gr_status gr_mock_native_request(gr_provider_kind kind, const cJSON *native_req,
                                               const char *model, bool stream, cJSON **canonical,
                                               gr_upstream_error *err);

#endif
