/* meter_defaults.h — the prices a deployment is billed at, with the provider
 * kind's documented prompt-cache ratios filled in where the config and the
 * bundled table leave them open.
 *
 * Cache reads (cached_input): when neither the config nor the bundled table
 * gives a price, reads are billed at the provider kind's documented ratio of
 * the input price (sources in docs/PROVIDERS.md, "Prompt-cache prices"):
 *   anthropic        0.10 x input (cache hits)
 *   gemini           0.25 x input (the largest documented cached-input ratio)
 *   openai, azure    0.50 x input (the largest documented cached-input ratio)
 *   mock             1 x input (no documented cache)
 * Cache writes keep meter.h's defaults (1.25 x input for the 5-minute cache,
 * 2 x for the 1-hour cache). An explicit pricing.cached_input always wins.
 *
 * Pure functions over the config snapshot; safe on any thread. */
#ifndef GR_METER_DEFAULTS_H
#define GR_METER_DEFAULTS_H

#include "config.h"

#include <stdio.h>

/* Cache-read price as a ratio of the input price for a provider kind:
 * *num / *den (1/1 when the kind documents no discount). The text names the
 * ratio's source for notes and docs. */
const char *gr_meter_cache_read_ratio(gr_provider_kind kind, int64_t *num, int64_t *den);

/* The prices deployment d of model m is billed at: gr_meter_resolve_prices
 * (deployment override, model, bundled table) and then, when cached_input is
 * still open, the provider kind's cache-read ratio. */
void gr_meter_deployment_prices(const gr_deployment *d, const gr_model_conf *m, gr_prices *out);

/* `--check-config` notes: one line per priced deployment whose cache-read
 * price comes from the provider kind's default ratio. Returns the lines
 * written. */
size_t gr_meter_price_notes(const gr_config *cfg, FILE *out);

#endif
