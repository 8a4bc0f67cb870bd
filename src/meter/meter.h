/* meter.h — metering: tokens -> cost in exact integer nano-USD.
 *
 * Units. Prices are gr_prices (config.h): micro-USD per 1M tokens, exact
 * int64. Costs are int64 nano-USD (1 USD = 1e9 nusd). One token at P
 * uusd/Mtok costs P/1000 nusd, so
 *
 *   cost = ceil((uncached_in*Pin + cached_in*Pcached + out*Pout) / 1000)
 *          + per_request_uusd*1000
 *
 * computed with 128-bit intermediates and ONE ceiling over the whole token
 * sum (never per component), saturating at INT64_MAX. No floating point
 * anywhere: the same usage always yields the same nusd on every platform.
 *
 * Cached input tokens (prompt tokens read from a provider cache) are billed at
 * cached_input_uusd_per_mtok, or at the input price when that is 0 (the
 * provider kind's documented ratio fills it when the config gives none:
 * meter_defaults.h). Cache WRITE tokens (Anthropic; inside prompt_tokens) are
 * billed at cache_write_uusd_per_mtok (5-minute cache), or 1.25 x the input
 * price when that is 0; the 1-hour part of them (cache_write_1h_tokens) at
 * cache_write_1h_uusd_per_mtok, or 2 x the input price when that is 0.
 * Reasoning tokens are inside completion_tokens, billed at the output price.
 *
 * Estimates. When a stream ends without usage, the caller estimates with
 * gr_meter_estimate_request / gr_meter_estimate_text and sets
 * gr_usage.estimated. The heuristic (documented in docs/KEYS.md):
 *   text tokens   = ceil(ascii_bytes / 4) + non_ascii_codepoints
 *   chat request  = 3 (reply priming) + per message (4 + text(role) +
 *                   text(content parts) + text(name) + text(tool_calls JSON))
 *                   + 85 per image part + text(JSON of "tools"/"functions")
 * It over-counts non-Latin scripts rather than under-counts.
 *
 * Threading: every function here is pure (the default table is const). */
#ifndef GR_METER_H
#define GR_METER_H

#include "common.h"
#include "config.h"
#include "provider.h"
#include <cjson/cJSON.h>

#define GR_NUSD_PER_USD INT64_C(1000000000)

/* Output tokens assumed when the request has no max_tokens and the model
 * declares no max_output_tokens. */
#define GR_METER_DEFAULT_MAX_OUTPUT 4096

/* Exact cost of a finished request (nano-USD, >= 0, saturating). */
int64_t gr_meter_cost(const gr_prices *p, const gr_usage *u);

/* Per-Mtok prices of prompt-cache writes (one_hour: the 1-hour cache) and
 * reads, defaults applied (see above). */
int64_t gr_meter_cache_write_price(const gr_prices *p, bool one_hour);
int64_t gr_meter_cached_price(const gr_prices *p);

/* Every prompt token at the input price, max_output_tokens at the output
 * price, plus the per-request price. Budget holds and x402 quotes use
 * gr_meter_hold_cost (meter_hold.h), which builds on this with the dearest
 * prompt price and the thinking budget. */
int64_t gr_meter_max_cost(const gr_prices *p, int64_t prompt_tokens, int64_t max_output_tokens);

/* Token estimates (see the heuristic above). */
int64_t gr_meter_estimate_text(const char *s, size_t len);
int64_t gr_meter_estimate_request(const cJSON *chat_request);

/* max_completion_tokens, else max_tokens, else model_max_output, else
 * GR_METER_DEFAULT_MAX_OUTPUT. */
int64_t gr_meter_request_max_output(const cJSON *chat_request, uint32_t model_max_output);

/* How many outputs the request makes the upstream generate (and bill): n,
 * and on /v1/completions (completions = true) best_of when larger, times the
 * number of prompts when `prompt` is a list of prompts. Absent/null counts
 * are 1. Returns 0 with *bad_field set when n or best_of is not an integer
 * >= 1. Saturates at INT64_MAX. Worst cases (budgets, x402 quotes) multiply
 * the output tokens by it. */
int64_t gr_meter_request_outputs(const cJSON *chat_request, bool completions, const char **bad_field);
/* a * b for non-negative a, b, saturating at INT64_MAX. */
int64_t gr_meter_mul_sat(int64_t a, int64_t b);

/* nano-USD -> decimal USD text, trailing zeros trimmed ("0.00015", "2",
 * "-0.5", "0"). Always NUL-terminates; returns the length written. A buffer
 * of GR_METER_USD_BUFSZ bytes always suffices. Valid as a JSON number. */
#define GR_METER_USD_BUFSZ 32
size_t gr_meter_format_usd(int64_t nusd, char *buf, size_t buflen);
/* o[name] = nusd as a JSON number in USD (gr_meter_format_usd), as every
 * admin and report reply writes money. */
void gr_meter_add_usd_json(cJSON *o, const char *name, int64_t nusd);

/* Put the cost into a response's "usage" object (chat.completion body or the
 * final stream chunk): usage.cost = decimal USD as a JSON number (exact text,
 * e.g. 0.00045), and usage.cost_estimated = true when the tokens were
 * estimated. Creates "usage" on the response when absent. The same text goes
 * into the x-gaterouter-cost header (gr_meter_format_usd), plus
 * x-gaterouter-cost-estimated: true when estimated. */
void gr_meter_annotate_response(cJSON *response, int64_t cost_nusd, bool estimated);

/* Exact decimal USD text ("1.25", "0.000001", "10") -> nano-USD. At most 9
 * fractional digits; no sign, exponent or spaces. */
GR_MUST_CHECK gr_status gr_meter_parse_usd(const char *s, int64_t *nusd_out);

/* Bundled list prices for well-known models (see meter.c for sources and
 * date). Matching: text after the last '/', case-insensitive, exact name or
 * longest table name followed by '-' (dated snapshots such as
 * "gpt-4o-2024-08-06"). Returns false (and *out zeroed) when unknown. */
bool gr_meter_default_prices(const char *model, gr_prices *out);

/* Effective prices for a call: deployment override, else model config, else
 * the bundled table by upstream model id, else by public name; else all zero
 * (unpriced; *out->set == false). */
void gr_meter_resolve_prices(const gr_prices *deployment, const gr_prices *model,
                             const char *upstream_model, const char *public_model,
                             gr_prices *out);

/* Number of entries in the bundled table and access by index (docs, tests,
 * `gaterouter models`). */
size_t gr_meter_default_count(void);
const char *gr_meter_default_at(size_t i, gr_prices *out);

#endif
