/* meter_defaults.c — provider-kind defaults for prompt-cache read prices
 * (see meter_defaults.h for the ratios and docs/PROVIDERS.md for sources). */
#include "meter_defaults.h"

#include "meter.h"

const char *gr_meter_cache_read_ratio(gr_provider_kind kind, int64_t *num, int64_t *den) {
    *den = 100;
    switch (kind) {
    case GR_PROVIDER_ANTHROPIC:
        *num = 10;
        return "Anthropic's cache-hit price, 0.1 x input";
    case GR_PROVIDER_GEMINI:
        *num = 25;
        return "Gemini's cached-input price, at most 0.25 x input";
    case GR_PROVIDER_OPENAI:
    case GR_PROVIDER_AZURE:
        *num = 50;
        return "OpenAI's cached-input price, at most 0.5 x input";
    case GR_PROVIDER_MOCK:
    default:
        *num = 100;
        return NULL;
    }
}

/* The ratio is applied to the input price, rounded up (never under-charged). */
static bool apply_cache_read_default(gr_provider_kind kind, gr_prices *p) {
    if (!p->set || p->cached_input_set || p->cached_input_uusd_per_mtok > 0 || p->input_uusd_per_mtok <= 0) return false;
    int64_t num, den;
    if (!gr_meter_cache_read_ratio(kind, &num, &den)) return false;
    int64_t pin = p->input_uusd_per_mtok;
    int64_t c = pin / den * num + ((pin % den) * num + den - 1) / den; /* ceil(pin * num / den), no overflow */
    p->cached_input_uusd_per_mtok = c > 0 ? c : 1;
    return true;
}

void gr_meter_deployment_prices(const gr_deployment *d, const gr_model_conf *m, gr_prices *out) {
    gr_meter_resolve_prices(&d->prices, &m->prices, d->upstream_model, m->name, out);
    (void)apply_cache_read_default(d->provider->kind, out);
}

size_t gr_meter_price_notes(const gr_config *cfg, FILE *out) {
    size_t lines = 0;
    for (size_t i = 0; cfg && i < cfg->nmodels; i++) {
        const gr_model_conf *m = &cfg->models[i];
        for (size_t k = 0; k < m->ndeployments; k++) {
            const gr_deployment *d = &m->deployments[k];
            gr_prices p;
            gr_meter_resolve_prices(&d->prices, &m->prices, d->upstream_model, m->name, &p);
            if (!apply_cache_read_default(d->provider->kind, &p)) continue;
            int64_t num, den;
            const char *why = gr_meter_cache_read_ratio(d->provider->kind, &num, &den);
            char usd[GR_METER_USD_BUFSZ];
            gr_meter_format_usd(p.cached_input_uusd_per_mtok * 1000, usd, sizeof usd);
            fprintf(out,
                    "note: pricing: model '%s' on provider '%s' has no cached_input price; prompt-cache reads are "
                    "billed at %s USD per 1M tokens (%s); set pricing.cached_input to override\n",
                    m->name, d->provider->name, usd, why);
            lines++;
        }
    }
    return lines;
}
