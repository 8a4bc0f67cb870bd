/* meter_hold.h — the worst case a request can cost on one deployment, before
 * it runs: what budget holds (admit_keys.c) reserve and x402 quotes
 * (pay_x402.c) ask for. It must never be below the final charge for the
 * usage the upstream may report within the request's limits:
 *
 *   prompt  every estimated prompt token at the dearest price it can be
 *           billed at: the input price, the cache-read price when that is
 *           higher, and — when the request sent upstream carries
 *           `cache_control` — the 5-minute cache-write price, or the 1-hour
 *           one when any breakpoint asks for `ttl: "1h"`;
 *   output  (max output + the thinking budget the adapter adds) x outputs:
 *           an Anthropic adapter raises max_tokens by the budget of
 *           reasoning_effort / reasoning (gr_anthropic_thinking_budget), a
 *           Gemini adapter lets thinkingBudget run beside maxOutputTokens
 *           (gr_gemini_thinking_budget); a native /v1/messages relay's
 *           max_tokens already counts its thinking.
 *
 * Pure; safe on any thread. */
#ifndef GR_METER_HOLD_H
#define GR_METER_HOLD_H

#include "config.h"
#include "common.h"

#include <cjson/cJSON.h>

typedef struct gr_hold_request {
    const cJSON *body;        /* the canonical (OpenAI-format) request */
    const cJSON *native_body; /* /v1/messages: the client's own body (relayed as is to Anthropic), else NULL */
    int64_t prompt_tokens;    /* the gateway's estimate */
    int64_t max_output;       /* output tokens per output asked for (0 for embeddings) */
    int64_t outputs;          /* n, best_of, prompts (>= 1) */
    const char *upstream_model; /* the deployment's model id (a Gemini model's default thinking; Vertex's publisher), or NULL */
} gr_hold_request;

/* Worst-case cost (nano-USD, saturating) of q on a deployment of provider
 * kind `kind` billed at prices p (meter_defaults.h's resolved prices). */
int64_t gr_meter_hold_cost(const gr_prices *p, gr_provider_kind kind, const gr_hold_request *q);

/* The output tokens a hold reserves per output on that kind: max_output plus
 * the thinking budget the adapter adds — asked for (reasoning controls), or
 * the most a Gemini thinking model's default thinking can spend
 * (gr_gemini_default_thinking). Vertex counts as its publisher's
 * wire: Anthropic for `claude*` models, else Gemini. */
int64_t gr_meter_hold_output(gr_provider_kind kind, const gr_hold_request *q);

/* The dearest cache write a request asks for: 0 none (no `cache_control`
 * anywhere), 1 the 5-minute cache, 2 the 1-hour cache (`ttl: "1h"`). */
int gr_meter_hold_cache_writes(const cJSON *body);

#endif
