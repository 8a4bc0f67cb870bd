/* mock_upstream.h — the built-in mock provider: a small HTTP server that speaks
 * OpenAI's wire format (chat completions incl. streaming and tool calls,
 * completions, embeddings incl. base64, models), with configurable latency and
 * token rate, so the gateway runs, demos and is tested with no API keys.
 *
 * It also speaks the native formats the gateway's adapters produce, so they
 * are testable end to end offline (point a provider's base_url at the mock):
 *   POST [/v1]/messages                                   Anthropic Messages
 *        (stream or not; needs x-api-key, anthropic-version, max_tokens)
 *   POST [/v1beta]/models/<model>:generateContent          Gemini
 *   POST [/v1beta]/models/<model>:streamGenerateContent?alt=sse
 *        (needs x-goog-api-key or ?key=)
 * Native requests are decoded to the canonical chat request and answered by
 * the same plan and chunk generator as OpenAI ones, then re-encoded
 * (mock_native.h); directives work the same, [[mock:status=N]] answers with
 * the provider's own error body (Anthropic 529 -> overloaded_error, Google
 * 429 -> RESOURCE_EXHAUSTED), and native streams count in /mock/stats.
 *
 * Runs on its own thread and event loop (started in-process for providers of
 * kind "mock", or standalone with `gaterouter mock`), served by the gateway's
 * own HTTP/1.1 server (http_server.h). A stream stops producing while its
 * client does not read (256 KiB queued) and resumes as it drains; a client
 * that leaves stops its stream at once. Behaviour can be steered
 * per request by directives in the last user message:
 *   [[mock:status=429]]     reply with that HTTP status and an error body
 *   [[mock:tokens=N]]       generate N tokens
 *   [[mock:delay_ms=N]]     wait N ms before the first byte
 *   [[mock:tps=N]]          stream at N tokens per second (native streams open
 *                           and close in one burst each, like the real services)
 *   [[mock:cut]]            drop the connection half-way through a stream
 *   [[mock:parallel_tools]] call every offered tool at once
 * GET /mock/stats reports streams started/completed/cancelled (the cancelled
 * count proves a client abort reached the upstream). */
#ifndef GR_MOCK_UPSTREAM_H
#define GR_MOCK_UPSTREAM_H

#include "common.h"

typedef struct gr_mock gr_mock;

typedef struct gr_mock_options {
    const char *host;
    uint16_t port;           /* 0 = ephemeral */
    uint32_t latency_ms;     /* default delay before the first token */
    uint32_t tokens_per_sec; /* default stream pace; 0 = no pacing */
} gr_mock_options;

/* Starts the server thread; returns NULL (with a log line) on failure. */
gr_mock *gr_mock_start(const gr_mock_options *opt);
uint16_t gr_mock_port(const gr_mock *m);
void gr_mock_stop(gr_mock *m); /* joins the thread and frees */
/* Standalone: serve in the calling thread until SIGINT/SIGTERM. */
int gr_mock_run_forever(const gr_mock_options *opt);

#endif
