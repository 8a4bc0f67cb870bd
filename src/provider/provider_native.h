/* provider_native.h — native provider adapters (Anthropic Messages, Google
 * Gemini generateContent) and the helpers they share.
 *
 * The adapters themselves are reached through gr_provider_ops_for(); the ops
 * tables are declared here for tests and for the mock upstream. The
 * gr_provider_* helpers below are shared by provider_anthropic.c,
 * provider_gemini.c, api_messages.c and mock_native.c (implemented in
 * provider.c). All returned memory is heap memory owned by the caller. Pure
 * functions: no I/O, no globals, safe on any worker thread. */
#ifndef GR_PROVIDER_NATIVE_H
#define GR_PROVIDER_NATIVE_H

#include "provider.h"

extern const gr_provider_ops gr_anthropic_ops;
extern const gr_provider_ops gr_gemini_ops;
extern const gr_provider_ops gr_bedrock_ops;
extern const gr_provider_ops gr_vertex_ops;

#define GR_VERTEX_ANTHROPIC_VERSION "vertex-2023-10-16"

#define GR_ANTHROPIC_DEFAULT_VERSION "2023-06-01"
#define GR_ANTHROPIC_DEFAULT_MAX_TOKENS 4096

/* Merges an Anthropic usage object (message, message_start's message.usage or
 * message_delta's usage; input_tokens excludes cache reads and writes) into u
 * (prompt_tokens includes them). Fields absent from au are left as they are. */
void gr_anthropic_usage_merge(const cJSON *au, gr_usage *u);

/* Anthropic thinking.budget_tokens for an OpenAI-format request's reasoning
 * controls: reasoning.max_tokens (at least 1024), else reasoning.effort or
 * reasoning_effort (none 0, minimal 1024, low 2048, medium 8192, high 24576),
 * else 8192 when a `reasoning` object is present, else 0 (no thinking);
 * reasoning.enabled:false is 0. Returns -1 for an unknown effort. */
int64_t gr_anthropic_thinking_budget(const cJSON *req);

/* Gemini generationConfig.thinkingConfig.thinkingBudget for the same
 * controls: reasoning.max_tokens as is, else effort none 0, minimal 512,
 * low 1024, medium 8192, high 24576 (Gemini's OpenAI-compatibility mapping),
 * else 8192 for a bare `reasoning` object, else 0 (the model's default);
 * -1 for an unknown effort. */
int64_t gr_gemini_thinking_budget(const cJSON *req);

/* A Gemini functionCall part {"functionCall":{"name","args"}} for an OpenAI
 * tool call: args is its JSON arguments text; anything but a JSON object
 * (absent, invalid, an array) becomes {}. name NULL is "". Caller owns it. */
cJSON *gr_gemini_function_call_part(const char *name, const char *args);

/* The most a Gemini model's default thinking can spend when a request has
 * no reasoning controls (the adapter then sends none, and the model thinks
 * dynamically up to its maximum budget): 32768 for Gemini 2.5 Pro and
 * Gemini 3, 24576 for 2.5 Flash; 0 for 2.5 Flash-Lite (it thinks only when
 * asked) and for models that do not think (older ones, image, TTS, live,
 * embeddings). What a budget hold reserves on top of the output cap. */
int64_t gr_gemini_default_thinking(const char *upstream_model);

/* "<base_url>/v1/projects/<p>/locations/<l>/publishers/<publisher>" of a
 * Vertex AI provider (heap; provider_vertex.c). */
char *gr_vertex_publisher_base(const gr_provider_conf *pc, const char *publisher);

/* Vertex AI embeddings (provider_vertex_embed.c), the ops of /v1/embeddings. */
gr_status gr_vertex_build_embeddings_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                             gr_upstream_error *err);
gr_status gr_vertex_parse_embeddings_response(const gr_adapter_ctx *ctx, const cJSON *canonical, const char *body,
                                              size_t len, cJSON **out, gr_usage *usage, gr_upstream_error *err);

/* The checks of an OpenAI embeddings request both Google APIs share: input
 * a string or a non-empty list of strings (at most max_inputs), dimensions a
 * positive integer; else GR_ERR_INVALID with a 400 naming `who`. */
gr_status gr_google_embed_input(const cJSON *req, const char *who, int max_inputs, bool *batch, int *n,
                                gr_upstream_error *err);

/* A Vertex AI adapter's context: a project, a location and an access token,
 * else GR_ERR_INVALID with the error (provider_vertex.c). */
gr_status gr_vertex_check_ctx(const gr_adapter_ctx *ctx, gr_upstream_error *err);

/* Gemini embeddings (provider_gemini_embed.c), the ops of /v1/embeddings. */
gr_status gr_gemini_build_embeddings_request(const gr_adapter_ctx *ctx, const cJSON *req, gr_http_request *out,
                                             gr_upstream_error *err);
gr_status gr_gemini_parse_embeddings_response(const gr_adapter_ctx *ctx, const cJSON *canonical, const char *body, size_t len, cJSON **out,
                                              gr_usage *usage, gr_upstream_error *err);

/* One row of an effort -> budget table (ends with effort NULL). */
typedef struct gr_reasoning_level {
    const char *effort;
    int64_t budget;
} gr_reasoning_level;
/* The budget an OpenAI-format request's reasoning controls ask for:
 * reasoning.enabled:false 0; reasoning.max_tokens (at least min_budget, at
 * most 1e9); reasoning.effort or reasoning_effort looked up in levels (-1
 * when not there); a `reasoning` object without either: the "medium" row;
 * nothing: 0. */
int64_t gr_provider_reasoning_budget(const cJSON *req, const gr_reasoning_level *levels, int64_t min_budget);

/* ---- errors ---- */
void gr_provider_error_set(gr_upstream_error *err, int status, const char *type,
                           const char *fmt, ...) GR_PRINTF(4, 5);
/* Unusable upstream bytes: 502 api_error with the given message. */
void gr_provider_bad_upstream(gr_upstream_error *err, const char *fmt, ...) GR_PRINTF(2, 3);
/* Upstream 5xx -> client status (500 -> 502, 529 -> 503, 503/504 kept). */
int gr_provider_upstream_status(int status);

/* ---- JSON helpers ---- */
const cJSON *gr_provider_get(const cJSON *obj, const char *key); /* case-sensitive */
const char *gr_provider_get_str(const cJSON *obj, const char *key); /* NULL unless a string */
/* Print obj unformatted and pass it to emit; returns emit's result, -1 if printing failed. */
int gr_provider_emit_json(gr_chunk_emit_fn emit, void *ud, const cJSON *obj);
/* Text of an OpenAI message content (string, or the text parts joined); NULL if none. */
char *gr_provider_content_text(const cJSON *content);
/* "data:<mime>;base64,<data>" -> mime (heap) and a pointer to data inside url. */
bool gr_provider_parse_data_url(const char *url, char **mime, const char **data);
/* Parse a JSON text; NULL when it is not valid JSON. */
cJSON *gr_provider_parse_json(const char *s, size_t len);

/* {"type":"text","text":text}: an Anthropic text block, which is also an
 * OpenAI text content part. */
cJSON *gr_provider_text_block(const char *text);
/* {"type":"thinking","thinking":thinking,"signature":signature}: an
 * Anthropic thinking block. */
cJSON *gr_anthropic_thinking_block(const char *thinking, const char *signature);

/* ---- canonical output ---- */
/* An embedding (array of numbers) as OpenAI's encoding_format "base64": a
 * string of the little-endian float32 values, base64-encoded. */
cJSON *gr_provider_base64_floats(const cJSON *numbers);

/* New chat.completion.chunk with one choice {index, delta:{}, finish_reason:null};
 * *delta points at the (empty) delta object. id/model fall back to the given
 * values when the context has none. */
cJSON *gr_provider_chunk_new(const gr_adapter_ctx *ctx, const char *fallback_id,
                             const char *fallback_model, int index, cJSON **delta);
/* The final usage chunk: choices [] and usage. */
cJSON *gr_provider_usage_chunk(const gr_adapter_ctx *ctx, const char *fallback_id,
                               const char *fallback_model, const gr_usage *u);
/* OpenAI usage object (prompt/completion/total + details) from gr_usage. */
cJSON *gr_provider_usage_json(const gr_usage *u);
/* Read an OpenAI usage object back into gr_usage. */
void gr_provider_usage_from_json(const cJSON *usage, gr_usage *u);

/* ---- upstream request ---- */
/* base_url (trailing slash ignored) + suffix, heap string. */
char *gr_provider_url(const char *base_url, const char *suffix);

/* A stream translator outlives the request buffers its context points into:
 * copy ctx into *dst with request_id/public_model/upstream_model owned
 * (stored in owned[0..2], released by gr_provider_ctx_release). */
void gr_provider_ctx_own(gr_adapter_ctx *dst, char *owned[3], const gr_adapter_ctx *ctx);
void gr_provider_ctx_release(char *owned[3]);
char *gr_provider_strdup_or_null(const char *s);

/* Native APIs want alternating roles: append `items` (an array, consumed) to
 * the last turn of `turns` when it has the same role, else add a new turn
 * {"role": role, <items_key>: items}. Empty `items` adds nothing. */
void gr_provider_push_turn(cJSON *turns, const char *role, const char *items_key, cJSON *items);

/* ---- tool calls and whole responses, as the block-based adapters (Anthropic,
 * Bedrock) build them ---- */
/* A tool call {"id","type":"function","function":{"name","arguments"}}; with
 * index >= 0 an "index" first (a stream delta); id and name are left out when
 * NULL (a later arguments fragment). */
cJSON *gr_provider_tool_call(int index, const char *id, const char *name, const char *arguments);
/* A tool call's arguments text as the native input object: parsed, or {} when
 * it is not a JSON object (models emit bad JSON; the next turn must stay valid). */
cJSON *gr_provider_tool_input(const char *arguments);
/* A chunk whose delta carries this one tool call (consumed). */
cJSON *gr_provider_tool_chunk(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                              cJSON *tool_call);
/* A chunk with an empty delta and finish_reason set. */
cJSON *gr_provider_finish_chunk(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                                const char *finish_reason);
/* The chat.completion of one choice: content (NULL -> null), reasoning_content
 * when given and not excluded, tool_calls when the array (consumed) is not
 * empty, finish_reason and usage. */
cJSON *gr_provider_completion(const gr_adapter_ctx *ctx, const char *fallback_id, const char *fallback_model,
                              const char *text, const char *reasoning, cJSON *tool_calls, const char *finish_reason,
                              const gr_usage *u);
/* Stream block index -> tool_calls index map: grows *map to hold block bi
 * (new slots -1, "not a tool"). */
void gr_provider_block_map_grow(int **map, int *n, int bi);

/* Emits one chunk and frees it; a nonzero emit (client gone) -> GR_ERR_IO. */
gr_status gr_provider_emit_chunk(cJSON *c, gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err);
/* The end of a translated stream, the same for every adapter: report usage,
 * fail a failed or cut-off stream, else emit the usage chunk if asked. */
gr_status gr_provider_stream_end(const gr_adapter_ctx *ctx, const gr_usage *stream_usage, bool failed, bool finished,
                                 const char *failed_msg, const char *incomplete_msg, const char *id,
                                 const char *model, gr_chunk_emit_fn emit, void *ud, gr_usage *usage,
                                 gr_upstream_error *err);
/* JSON mode for an upstream without one (Anthropic, Bedrock): the instruction
 * to append to the system prompt for response_format json_object /
 * json_schema (the schema's text included), heap; NULL for any other format. */
char *gr_provider_json_mode_instruction(const cJSON *req);
/* Add the provider's configured extra headers. */
void gr_provider_add_conf_headers(const gr_provider_conf *p, gr_http_request *out);
/* Serialize body into out->body / body_len; false if printing failed. */
bool gr_provider_set_body(gr_http_request *out, const cJSON *body);

#endif
