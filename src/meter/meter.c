/* meter.c — exact integer cost arithmetic, token estimates, USD formatting and
 * the bundled default price table. */
#include "meter.h"

#include <math.h>

#include <ctype.h>
#include <stdio.h>
#include <strings.h>

/* ---- bundled list prices ----
 * USD per 1M tokens written as micro-USD integers (2.50 USD -> 2500000).
 * Sources (provider list prices, standard tier, checked 2025 for this table):
 *   OpenAI     platform.openai.com/docs/pricing
 *   Anthropic  platform.claude.com/docs/en/about-claude/pricing ("cache hits")
 *   Google     ai.google.dev/gemini-api/docs/pricing (2.5-pro: <=200k tier)
 *   DeepSeek   api-docs.deepseek.com/quick_start/pricing-details-usd
 *              (cache hit = cached price, cache miss = input price)
 *   Mistral    mistral.ai/pricing (mistral-large 2, mistral-small 3.x)
 *   Llama 3.1  Groq list prices (llama-3.1-8b-instant, llama-3.1-70b-versatile);
 *              open-weight models have no single list price — override per
 *              deployment in config.
 * Prices change: config (models[].prices / deployments[].prices) always wins.
 * Long-context tiers (Gemini >200k) are not modelled; cache writes use the
 * multipliers in gr_meter_cache_write_price, and a row without a cached price
 * gets the provider kind's ratio (meter_defaults.c). Keep docs/KEYS.md in
 * step with this table. */
typedef struct {
    const char *name;
    int64_t in, out, cached;
} price_row;

static const price_row default_prices[] = {
    /* OpenAI */
    {"gpt-4o", 2500000, 10000000, 1250000},
    {"gpt-4o-mini", 150000, 600000, 75000},
    {"gpt-4.1", 2000000, 8000000, 500000},
    {"gpt-4.1-mini", 400000, 1600000, 100000},
    {"gpt-4.1-nano", 100000, 400000, 25000},
    {"o1", 15000000, 60000000, 7500000},
    {"o3", 2000000, 8000000, 500000},
    {"o3-mini", 1100000, 4400000, 550000},
    {"o4-mini", 1100000, 4400000, 275000},
    /* Anthropic */
    {"claude-3-5-haiku", 800000, 4000000, 80000},
    {"claude-3-7-sonnet", 3000000, 15000000, 300000},
    {"claude-haiku-4-5", 1000000, 5000000, 100000},
    {"claude-sonnet-4", 3000000, 15000000, 300000},
    {"claude-opus-4", 15000000, 75000000, 1500000},
    {"claude-opus-4-1", 15000000, 75000000, 1500000},
    {"claude-opus-4-5", 5000000, 25000000, 500000},
    /* Google */
    {"gemini-2.0-flash", 100000, 400000, 25000},
    {"gemini-2.0-flash-lite", 75000, 300000, 0},
    {"gemini-2.5-pro", 1250000, 10000000, 125000},
    {"gemini-2.5-flash", 300000, 2500000, 30000},
    {"gemini-2.5-flash-lite", 100000, 400000, 10000},
    /* DeepSeek */
    {"deepseek-chat", 270000, 1100000, 70000},
    {"deepseek-reasoner", 550000, 2190000, 140000},
    /* Meta Llama (Groq list prices) */
    {"llama-3.1-8b", 50000, 80000, 0},
    {"llama-3.1-70b", 590000, 790000, 0},
    /* Mistral */
    {"mistral-large", 2000000, 6000000, 0},
    {"mistral-small", 100000, 300000, 0},
};

size_t gr_meter_default_count(void) { return GR_ARRAY_LEN(default_prices); }

static void row_to_prices(const price_row *r, gr_prices *out) {
    out->input_uusd_per_mtok = r->in;
    out->output_uusd_per_mtok = r->out;
    out->cached_input_uusd_per_mtok = r->cached;
    out->cached_input_set = r->cached > 0; /* else the provider kind's default ratio (meter_defaults.c) */
    out->cache_write_uusd_per_mtok = 0;
    out->cache_write_1h_uusd_per_mtok = 0;
    out->per_request_uusd = 0;
    out->set = true;
}

const char *gr_meter_default_at(size_t i, gr_prices *out) {
    if (i >= GR_ARRAY_LEN(default_prices)) return NULL;
    if (out) row_to_prices(&default_prices[i], out);
    return default_prices[i].name;
}

bool gr_meter_default_prices(const char *model, gr_prices *out) {
    memset(out, 0, sizeof *out);
    if (!model) return false;
    const char *slash = strrchr(model, '/');
    const char *m = slash ? slash + 1 : model;
    size_t mlen = strlen(m);
    const price_row *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < GR_ARRAY_LEN(default_prices); i++) {
        const price_row *r = &default_prices[i];
        size_t n = strlen(r->name);
        if (n > mlen || strncasecmp(m, r->name, n) != 0) continue;
        if (n == mlen) { best = r; break; }
        if (m[n] == '-' && n > best_len) { best = r; best_len = n; }
    }
    if (!best) return false;
    row_to_prices(best, out);
    return true;
}

void gr_meter_resolve_prices(const gr_prices *deployment, const gr_prices *model,
                             const char *upstream_model, const char *public_model,
                             gr_prices *out) {
    if (deployment && deployment->set) { *out = *deployment; return; }
    if (model && model->set) { *out = *model; return; }
    if (gr_meter_default_prices(upstream_model, out)) return;
    if (gr_meter_default_prices(public_model, out)) return;
    memset(out, 0, sizeof *out);
}

/* ---- cost arithmetic ---- */

static inline int64_t nonneg(int64_t v) { return v > 0 ? v : 0; }

static int64_t saturate(__int128 v) {
    if (v > (__int128)INT64_MAX) return INT64_MAX;
    if (v < 0) return 0;
    return (int64_t)v;
}

/* ceil(numerator / 1000) for numerator >= 0, plus per-request nusd. Each token
 * term is < 2^63 * 2^63 = 2^126, and three of them fit in a signed 128-bit
 * integer only if each is < 2^125: clamp tokens and prices to 2^62 first, which
 * no real value approaches, so the sum is at most 3 * 2^124 < 2^127. */
#define CLAMP62(v) ((v) > (INT64_C(1) << 62) ? (INT64_C(1) << 62) : (v))

static int64_t finish(__int128 num, int64_t per_request_uusd) {
    __int128 c = (num + 999) / 1000;
    c += (__int128)CLAMP62(nonneg(per_request_uusd)) * 1000;
    return saturate(c);
}

int64_t gr_meter_cache_write_price(const gr_prices *p, bool one_hour) {
    int64_t pin = CLAMP62(nonneg(p->input_uusd_per_mtok));
    if (one_hour) {
        if (p->cache_write_1h_uusd_per_mtok > 0) return CLAMP62(p->cache_write_1h_uusd_per_mtok);
        return pin > (INT64_C(1) << 61) ? (INT64_C(1) << 62) : 2 * pin; /* 2 x input, within the clamp */
    }
    return p->cache_write_uusd_per_mtok > 0 ? CLAMP62(p->cache_write_uusd_per_mtok) : pin + pin / 4;
}

int64_t gr_meter_cached_price(const gr_prices *p) {
    int64_t pin = CLAMP62(nonneg(p->input_uusd_per_mtok));
    return p->cached_input_uusd_per_mtok > 0 ? CLAMP62(p->cached_input_uusd_per_mtok) : pin;
}

int64_t gr_meter_cost(const gr_prices *p, const gr_usage *u) {
    int64_t prompt = CLAMP62(nonneg(u->prompt_tokens));
    int64_t cached = CLAMP62(nonneg(u->cached_tokens));
    int64_t written = CLAMP62(nonneg(u->cache_write_tokens));
    int64_t written_1h = CLAMP62(nonneg(u->cache_write_1h_tokens));
    int64_t out = CLAMP62(nonneg(u->completion_tokens));
    if (cached > prompt) cached = prompt;
    if (written > prompt - cached) written = prompt - cached;
    if (written_1h > written) written_1h = written;
    int64_t pin = CLAMP62(nonneg(p->input_uusd_per_mtok));
    int64_t pout = CLAMP62(nonneg(p->output_uusd_per_mtok));
    __int128 num = (__int128)(prompt - cached - written) * pin + (__int128)cached * gr_meter_cached_price(p) +
                   (__int128)(written - written_1h) * gr_meter_cache_write_price(p, false) +
                   (__int128)written_1h * gr_meter_cache_write_price(p, true) + (__int128)out * pout;
    return finish(num, p->per_request_uusd);
}

int64_t gr_meter_max_cost(const gr_prices *p, int64_t prompt_tokens, int64_t max_output_tokens) {
    int64_t prompt = CLAMP62(nonneg(prompt_tokens));
    int64_t out = CLAMP62(nonneg(max_output_tokens));
    __int128 num = (__int128)prompt * CLAMP62(nonneg(p->input_uusd_per_mtok)) +
                   (__int128)out * CLAMP62(nonneg(p->output_uusd_per_mtok));
    return finish(num, p->per_request_uusd);
}

/* ---- token estimates ---- */

int64_t gr_meter_estimate_text(const char *s, size_t len) {
    int64_t ascii = 0, other = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) ascii++;
        else if ((c & 0xC0) != 0x80) other++; /* count lead bytes = codepoints */
    }
    return (ascii + 3) / 4 + other;
}

static int64_t est_str(const cJSON *j) {
    if (cJSON_IsString(j) && j->valuestring)
        return gr_meter_estimate_text(j->valuestring, strlen(j->valuestring));
    return 0;
}

static int64_t est_json(const cJSON *j) {
    if (!j) return 0;
    char *txt = cJSON_PrintUnformatted(j);
    if (!txt) return 0;
    int64_t n = gr_meter_estimate_text(txt, strlen(txt));
    cJSON_free(txt);
    return n;
}

#define EST_IMAGE_TOKENS 85
#define EST_MSG_OVERHEAD 4
#define EST_REPLY_PRIMING 3

static int64_t est_content(const cJSON *content) {
    if (cJSON_IsString(content)) return est_str(content);
    if (!cJSON_IsArray(content)) return 0;
    int64_t n = 0;
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        if (strcmp(t, "text") == 0) n += est_str(cJSON_GetObjectItemCaseSensitive(part, "text"));
        else if (strcmp(t, "image_url") == 0 || strcmp(t, "image") == 0) n += EST_IMAGE_TOKENS;
        else n += est_json(part);
    }
    return n;
}

int64_t gr_meter_estimate_request(const cJSON *req) {
    if (!req) return 0;
    int64_t n = EST_REPLY_PRIMING;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        n += EST_MSG_OVERHEAD;
        n += est_str(cJSON_GetObjectItemCaseSensitive(m, "role"));
        n += est_str(cJSON_GetObjectItemCaseSensitive(m, "name"));
        n += est_content(cJSON_GetObjectItemCaseSensitive(m, "content"));
        const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
        if (tc) n += est_json(tc);
    }
    const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(req, "prompt"); /* legacy completions */
    if (prompt) n += cJSON_IsString(prompt) ? est_str(prompt) : est_json(prompt);
    n += est_json(cJSON_GetObjectItemCaseSensitive(req, "tools"));
    n += est_json(cJSON_GetObjectItemCaseSensitive(req, "functions"));
    return n;
}

int64_t gr_meter_request_max_output(const cJSON *req, uint32_t model_max_output) {
    static const char *const fields[] = {"max_completion_tokens", "max_tokens", "max_output_tokens"};
    for (size_t i = 0; req && i < GR_ARRAY_LEN(fields); i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, fields[i]);
        if (cJSON_IsNumber(v) && v->valuedouble >= 1) {
            if (v->valuedouble > 1e15) return INT64_C(1000000000000000);
            return (int64_t)v->valuedouble;
        }
    }
    return model_max_output ? (int64_t)model_max_output : GR_METER_DEFAULT_MAX_OUTPUT;
}

/* An optional count field: absent or null = 1; else an integer >= 1 (0 = invalid). */
static double count_field(const cJSON *req, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
    if (!v || cJSON_IsNull(v)) return 1;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1) || v->valuedouble != floor(v->valuedouble)) return 0;
    return v->valuedouble;
}

int64_t gr_meter_request_outputs(const cJSON *req, bool completions, const char **bad_field) {
    double n = count_field(req, "n");
    if (n == 0) {
        *bad_field = "n";
        return 0;
    }
    if (completions) {
        double best_of = count_field(req, "best_of");
        if (best_of == 0) {
            *bad_field = "best_of";
            return 0;
        }
        if (best_of > n) n = best_of;
        /* a list of prompts (strings or token lists) gets its own completions each */
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(req, "prompt");
        const cJSON *first = cJSON_IsArray(p) ? cJSON_GetArrayItem(p, 0) : NULL;
        if (first && (cJSON_IsString(first) || cJSON_IsArray(first))) n *= (double)cJSON_GetArraySize(p);
    }
    return n >= 9.2e18 ? INT64_MAX : (int64_t)n;
}

int64_t gr_meter_mul_sat(int64_t a, int64_t b) {
    if (a <= 0 || b <= 0) return 0;
    return a > INT64_MAX / b ? INT64_MAX : a * b;
}

/* ---- USD text ---- */

size_t gr_meter_format_usd(int64_t nusd, char *buf, size_t buflen) {
    char tmp[GR_METER_USD_BUFSZ];
    uint64_t mag = nusd < 0 ? (uint64_t)0 - (uint64_t)nusd : (uint64_t)nusd;
    uint64_t whole = mag / 1000000000u, frac = mag % 1000000000u;
    int n;
    if (frac == 0) {
        n = snprintf(tmp, sizeof tmp, "%s%llu", nusd < 0 ? "-" : "", (unsigned long long)whole);
    } else {
        int digits = 9;
        while (frac % 10 == 0) { frac /= 10; digits--; }
        n = snprintf(tmp, sizeof tmp, "%s%llu.%0*llu", nusd < 0 ? "-" : "",
                     (unsigned long long)whole, digits, (unsigned long long)frac);
    }
    if (buflen == 0) return 0;
    size_t len = (size_t)n < buflen ? (size_t)n : buflen - 1;
    memcpy(buf, tmp, len);
    buf[len] = '\0';
    return len;
}

void gr_meter_add_usd_json(cJSON *o, const char *name, int64_t nusd) {
    char buf[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(nusd, buf, sizeof buf);
    cJSON_AddRawToObject(o, name, buf);
}

void gr_meter_annotate_response(cJSON *response, int64_t cost_nusd, bool estimated) {
    if (!cJSON_IsObject(response)) return;
    cJSON *usage = cJSON_GetObjectItemCaseSensitive(response, "usage");
    if (!cJSON_IsObject(usage)) {
        cJSON_DeleteItemFromObjectCaseSensitive(response, "usage");
        usage = cJSON_AddObjectToObject(response, "usage");
    }
    char buf[GR_METER_USD_BUFSZ];
    gr_meter_format_usd(cost_nusd, buf, sizeof buf);
    cJSON_DeleteItemFromObjectCaseSensitive(usage, "cost");
    cJSON_AddRawToObject(usage, "cost", buf);
    cJSON_DeleteItemFromObjectCaseSensitive(usage, "cost_estimated");
    if (estimated) cJSON_AddTrueToObject(usage, "cost_estimated");
}

gr_status gr_meter_parse_usd(const char *s, int64_t *nusd_out) {
    if (!s || !*s) return GR_ERR_PARSE;
    int64_t whole = 0, frac = 0;
    int fdigits = 0;
    const char *p = s;
    bool any = false;
    while (isdigit((unsigned char)*p)) {
        if (whole > (INT64_MAX / GR_NUSD_PER_USD - 9) / 10) return GR_ERR_TOO_LARGE;
        whole = whole * 10 + (*p - '0');
        p++;
        any = true;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (fdigits == 9) return GR_ERR_INVALID; /* finer than 1 nano-USD */
            frac = frac * 10 + (*p - '0');
            fdigits++;
            p++;
            any = true;
        }
    }
    if (!any || *p) return GR_ERR_PARSE;
    for (int i = fdigits; i < 9; i++) frac *= 10;
    *nusd_out = whole * GR_NUSD_PER_USD + frac;
    return GR_OK;
}
