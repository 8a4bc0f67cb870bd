/* provider.h — the provider adapter interface.
 *
 * The canonical request/response is OpenAI's Chat Completions JSON. An adapter
 * translates canonical -> native upstream request, native response ->
 * canonical, and native stream events -> canonical chat.completion.chunk JSON,
 * incrementally. One file per native provider (provider_anthropic.c,
 * provider_gemini.c); OpenAI-compatible services need no adapter (the fast
 * path forwards the body) and their differences are config presets.
 *
 * Ownership: everything an adapter returns is heap memory the caller frees
 * with the matching *_free / cJSON_Delete. Adapters are pure: no I/O, no
 * globals; they are safe to call from any worker thread. */
#ifndef GR_PROVIDER_H
#define GR_PROVIDER_H

#include "common.h"
#include "config.h"
#include "sse.h"
#include "stream_frames.h"
#include "upstream_request.h" /* gr_http_request: what an adapter builds */
#include <cjson/cJSON.h>

/* Token usage as reported by (or estimated for) one response. */
typedef struct gr_usage {
    int64_t prompt_tokens;      /* includes cached tokens */
    int64_t completion_tokens;  /* includes reasoning tokens */
    int64_t cached_tokens;      /* prompt tokens read from cache */
    int64_t cache_write_tokens; /* prompt tokens written to cache (Anthropic) */
    int64_t cache_write_1h_tokens; /* of which written to the 1-hour cache (priced apart) */
    int64_t reasoning_tokens;
    bool present;   /* the upstream reported usage */
    bool estimated; /* counted by the gateway's estimate instead */
} gr_usage;

/* What the adapter needs to know about the call. */
typedef struct gr_adapter_ctx {
    const gr_provider_conf *provider;
    const char *upstream_model; /* provider's model id */
    const char *public_model;   /* name the client asked for / is shown */
    const char *request_id;     /* e.g. "chatcmpl-..." id to use in translated output */
    int64_t created;            /* unix seconds for translated output */
    bool stream;
    bool include_usage;         /* client asked for stream_options.include_usage */
    bool exclude_reasoning;     /* reasoning.exclude: think, but return no reasoning_content */
    bool embeddings_base64;     /* /v1/embeddings with encoding_format: base64 */
    const char *bearer_token;   /* an access token the caller obtained for the provider (Vertex), else NULL */
    bool reasoning_signature;   /* also return Anthropic's thinking signature as `reasoning_signature`
                                 * (message / delta): the Responses API carries it back as encrypted_content */
} gr_adapter_ctx;

/* An upstream error mapped to the client-facing OpenAI error shape. */
typedef struct gr_upstream_error {
    int status;        /* HTTP status to return to the client */
    const char *type;  /* OpenAI error type: invalid_request_error, rate_limit_error, ... */
    const char *code;  /* short code or NULL */
    char message[1024];/* provider's message preserved */
    char code_buf[64]; /* storage for a code copied from the upstream body (code may point here) */
} gr_upstream_error;

/* Emit one translated chunk: data is one JSON object (no "data: " framing). */
typedef int (*gr_chunk_emit_fn)(void *ud, const char *data, size_t len);

typedef struct gr_stream_translator gr_stream_translator;

/* The operations of an adapter, as function types: an adapter file declares
 * its file-local implementations with them (`static gr_map_error_fn
 * map_error;`), so each signature is written once, here. */
/* canonical request -> upstream request */
typedef gr_status gr_build_chat_request_fn(const gr_adapter_ctx *ctx, const cJSON *canonical,
                                           gr_http_request *out, gr_upstream_error *err);
/* upstream 2xx body -> canonical chat.completion (caller frees *out) */
typedef gr_status gr_parse_chat_response_fn(const gr_adapter_ctx *ctx, const char *body, size_t len,
                                            cJSON **out, gr_usage *usage, gr_upstream_error *err);
/* streaming: one translator per response */
typedef gr_stream_translator *gr_stream_new_fn(const gr_adapter_ctx *ctx);
/* feed one upstream SSE event; emits zero or more canonical chunks */
typedef gr_status gr_stream_event_fn(gr_stream_translator *st, const gr_sse_event *ev,
                                     gr_chunk_emit_fn emit, void *ud, gr_upstream_error *err);
/* upstream ended (cleanly or not): emit what must close the stream */
typedef gr_status gr_stream_finish_fn(gr_stream_translator *st, gr_chunk_emit_fn emit, void *ud,
                                      gr_usage *usage, gr_upstream_error *err);
typedef void gr_stream_free_fn(gr_stream_translator *st);
/* non-2xx upstream response -> client error (message preserved) */
typedef void gr_map_error_fn(const gr_adapter_ctx *ctx, int status, const char *body, size_t len,
                             gr_upstream_error *err);

typedef struct gr_provider_ops {
    const char *kind;
    gr_stream_framing framing; /* how the upstream frames a stream (SSE unless said) */
    gr_build_chat_request_fn *build_chat_request;
    gr_parse_chat_response_fn *parse_chat_response;
    gr_stream_new_fn *stream_new;
    gr_stream_event_fn *stream_event;
    gr_stream_finish_fn *stream_finish;
    gr_stream_free_fn *stream_free;
    gr_map_error_fn *map_error;
    /* optional, /v1/embeddings (NULL: the provider kind serves chat only):
     * canonical embeddings request -> upstream request, and its 2xx body ->
     * OpenAI's {"object":"list","data":[…],"usage":…} (caller frees *out) */
    gr_status (*build_embeddings_request)(const gr_adapter_ctx *ctx, const cJSON *canonical,
                                          gr_http_request *out, gr_upstream_error *err);
    gr_status (*parse_embeddings_response)(const gr_adapter_ctx *ctx, const cJSON *canonical, const char *body,
                                           size_t len, cJSON **out, gr_usage *usage, gr_upstream_error *err);
} gr_provider_ops;

/* A native adapter names its implementations after the operations and lists
 * them in its ops table with this (kind, framing and embeddings beside it). */
#define GR_PROVIDER_TRANSLATOR_OPS                                                                        \
    .build_chat_request = build_chat_request, .parse_chat_response = parse_chat_response,                \
    .stream_new = stream_new, .stream_event = stream_event, .stream_finish = stream_finish,               \
    .stream_free = stream_free, .map_error = map_error

/* Adapter for a provider kind; NULL for the OpenAI-compatible fast path. */
const gr_provider_ops *gr_provider_ops_for(gr_provider_kind kind);

/* Shared mapping of an HTTP status to an OpenAI error type (used by all adapters). */
const char *gr_error_type_for_status(int status);

/* Map an OpenAI-shaped error body ({"error":{...}}) from an upstream. */
void gr_map_openai_error(int status, const char *body, size_t len, gr_upstream_error *err);

#endif
