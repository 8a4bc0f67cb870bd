/* trace.c — the `tracing:` section with the OTEL_* environment, W3C trace
 * context, sampling and the spans of one request (trace.h). */
#include "trace.h"

#include "config.h"
#include "conf_kv.h"
#include "json_out.h"
#include "request.h"
#include "text_out.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- config ---- */

/* What the key table fills; env fallbacks and derived fields follow in parse. */
typedef struct tracing_scalars {
    bool enabled;
    char *endpoint, *headers, *service_name, *resource_attributes;
    int sampler, protocol;
    double sample_ratio;
    bool sample_errors;
    uint32_t queue_max, batch_max, batch_delay_ms, export_timeout_ms, max_spans;
} tracing_scalars;

static const char *const k_protocol_names[] = {"http/json", "http/protobuf", NULL};

static const char *const k_sampler_names[] = {"parentbased_traceidratio", "parentbased_always_on",
                                              "parentbased_always_off",   "traceidratio",
                                              "always_on",                "always_off",
                                              NULL};

#define T(f) GR_CONF_F(tracing_scalars, f)
const gr_conf_key gr_conf_tracing_keys[] = {
    {"enabled", GR_CONF_BOOL, T(enabled), 0, 1, "true", NULL,
     "false turns tracing off even when an endpoint is set (here or in OTEL_EXPORTER_OTLP_*)"},
    {"endpoint", GR_CONF_STRING, T(endpoint), 0, 0, NULL, NULL,
     "OTLP/HTTP traces URL (http[s]://host:4318/v1/traces); default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else "
     "OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces; none = tracing off"},
    {"protocol", GR_CONF_ENUM, T(protocol), 0, 0, NULL, k_protocol_names,
     "the OTLP/HTTP encoding: `http/protobuf` (about half the bytes and the encoding work) or `http/json`; "
     "default OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / _PROTOCOL, else http/json"},
    {"headers", GR_CONF_STRING, T(headers), 0, 0, NULL, NULL,
     "exporter headers as `k=v,k2=v2` (values %-encoded); default OTEL_EXPORTER_OTLP_TRACES_HEADERS / _HEADERS"},
    {"service_name", GR_CONF_STRING, T(service_name), 0, 0, NULL, NULL,
     "resource service.name; default OTEL_SERVICE_NAME, else service.name of the resource attributes, else gaterouter"},
    {"resource_attributes", GR_CONF_STRING, T(resource_attributes), 0, 0, NULL, NULL,
     "resource attributes `k=v,k2=v2`, added to (and overriding) OTEL_RESOURCE_ATTRIBUTES"},
    {"sampler", GR_CONF_ENUM, T(sampler), 0, 0, NULL, k_sampler_names,
     "head sampler; default OTEL_TRACES_SAMPLER, else parentbased_traceidratio"},
    {"sample_ratio", GR_CONF_FRACTION, T(sample_ratio), 0, 1, NULL, NULL,
     "ratio of the traceidratio samplers; default OTEL_TRACES_SAMPLER_ARG, else 1"},
    {"sample_errors", GR_CONF_BOOL, T(sample_errors), 0, 1, "true", NULL,
     "export a request that failed (status >= 500, a failed upstream attempt) even when the head sampler said no"},
    {"queue_max", GR_CONF_COUNT, T(queue_max), 1, 1000000, NULL, NULL,
     "traces (requests) queued for export at most; past it they are dropped and counted; default "
     "OTEL_BSP_MAX_QUEUE_SIZE, else 2048"},
    {"batch_max", GR_CONF_COUNT, T(batch_max), 1, 100000, NULL, NULL,
     "traces per export POST (<= queue_max); default OTEL_BSP_MAX_EXPORT_BATCH_SIZE, else 512"},
    {"batch_delay_ms", GR_CONF_MS, T(batch_delay_ms), 1, 600000, NULL, NULL,
     "a trace waits at most this long for its batch; default OTEL_BSP_SCHEDULE_DELAY, else 5 s"},
    {"export_timeout_ms", GR_CONF_MS, T(export_timeout_ms), 1, 600000, NULL, NULL,
     "one export POST, connect included; default OTEL_EXPORTER_OTLP_TRACES_TIMEOUT / _TIMEOUT, else 10 s"},
    {"max_spans", GR_CONF_COUNT, T(max_spans), 4, 256, "16", NULL,
     "child spans recorded per request at most (upstream attempts, x402 steps); the rest are not recorded"},
    GR_CONF_END,
};
#undef T

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static bool has_key(const cJSON *sec, const char *name) {
    return cJSON_IsObject(sec) && cJSON_GetObjectItemCaseSensitive(sec, name) != NULL;
}

/* A numeric OTEL_* variable into *out when the section did not set the key. */
static void env_uint(const cJSON *sec, const char *key, const char *var, uint64_t min, uint64_t max, uint32_t dflt,
                     uint32_t *out, gr_conf_err *e) {
    if (has_key(sec, key)) return;
    *out = dflt;
    const char *v = env(var);
    if (!v) return;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || n < min || n > max) {
        gr_conf_fail(e, "tracing.%s: %s=%s is not a whole number in %llu..%llu", key, var, v, (unsigned long long)min,
                     (unsigned long long)max);
        return;
    }
    *out = (uint32_t)n;
}

static char *render_resource(const char *service, char **keys, char **vals, int n) {
    size_t cap = 256 + strlen(service) * 6;
    for (int i = 0; i < n; i++) cap += (strlen(keys[i]) + strlen(vals[i])) * 6 + 64;
    char *out = gr_xmalloc(cap);
    size_t o = GR_OUT_LIT(out, 0, cap, "[{\"key\":\"service.name\",\"value\":{\"stringValue\":");
    o = gr_out_json_str(out, o, cap, service);
    o = GR_OUT_LIT(out, o, cap, "}},{\"key\":\"service.version\",\"value\":{\"stringValue\":\"" GR_VERSION "\"}}");
    for (int i = 0; i < n; i++) {
        if (!strcmp(keys[i], "service.name") || !strcmp(keys[i], "service.version")) continue;
        o = GR_OUT_LIT(out, o, cap, ",{\"key\":");
        o = gr_out_json_str(out, o, cap, keys[i]);
        o = GR_OUT_LIT(out, o, cap, ",\"value\":{\"stringValue\":");
        o = gr_out_json_str(out, o, cap, vals[i]);
        o = GR_OUT_LIT(out, o, cap, "}}");
    }
    o = GR_OUT_LIT(out, o, cap, "]");
    out[o < cap ? o : cap - 1] = '\0';
    return out;
}

static void conf_free(gr_trace_conf *t) {
    if (!t) return;
    free(t->endpoint), free(t->headers), free(t->service_name), free(t->resource_json);
    free(t);
}

void gr_trace_conf_free(void *conf) { conf_free(conf); }

void *gr_trace_conf_parse(const cJSON *sec, const struct gr_config *c, gr_conf_err *e) {
    (void)c;
    tracing_scalars sc = {0};
    gr_conf_load_keys(sec, "tracing", gr_conf_tracing_keys, &sc, e);
    gr_trace_conf *t = NULL;
    char *hk[GR_CONF_KV_MAX], *hv[GR_CONF_KV_MAX], *rk[GR_CONF_KV_MAX], *rv[GR_CONF_KV_MAX];
    int nh = 0, nr = 0;
    if (e->failed || !sc.enabled) goto out;
    /* the endpoint: the section, else the traces variable as is, else the base + /v1/traces */
    char *endpoint = NULL;
    if (sc.endpoint && *sc.endpoint) endpoint = gr_xstrdup(sc.endpoint);
    else if (env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) endpoint = gr_xstrdup(env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"));
    else if (env("OTEL_EXPORTER_OTLP_ENDPOINT")) {
        const char *b = env("OTEL_EXPORTER_OTLP_ENDPOINT");
        size_t bl = strlen(b);
        endpoint = gr_xmalloc(bl + 12);
        snprintf(endpoint, bl + 12, "%s%s", b, bl && b[bl - 1] == '/' ? "v1/traces" : "/v1/traces");
    }
    if (!endpoint) goto out; /* tracing off */
    t = gr_xcalloc(1, sizeof(*t));
    t->endpoint = endpoint;
    if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)) {
        gr_conf_fail(e, "tracing.endpoint: '%s' is not an http:// or https:// URL", endpoint);
        goto out;
    }
    const char *proto = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ? env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                                                                  : env("OTEL_EXPORTER_OTLP_PROTOCOL");
    if (has_key(sec, "protocol")) t->protobuf = sc.protocol == 1;
    else if (proto && !strcmp(proto, "http/protobuf")) t->protobuf = true;
    else if (proto && strcmp(proto, "http/json")) {
        gr_conf_fail(e, "tracing: OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported (the exporter speaks OTLP/HTTP: "
                        "http/protobuf or http/json, which a collector's :4318 receiver takes; not grpc)", proto);
        goto out;
    }
    /* headers: the environment's, then the section's (which override) */
    const char *eh = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS") ? env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
                                                              : env("OTEL_EXPORTER_OTLP_HEADERS");
    if (!has_key(sec, "headers") && eh && (nh = gr_conf_parse_kv(eh, "tracing.headers (OTEL_EXPORTER_OTLP_HEADERS)", hk, hv, 0, e)) < 0)
        goto out;
    if (sc.headers && (nh = gr_conf_parse_kv(sc.headers, "tracing.headers", hk, hv, nh, e)) < 0) goto out;
    t->headers = gr_conf_render_headers(hk, hv, nh);
    /* resource: OTEL_RESOURCE_ATTRIBUTES, then the section's on top */
    if (env("OTEL_RESOURCE_ATTRIBUTES") &&
        (nr = gr_conf_parse_kv(env("OTEL_RESOURCE_ATTRIBUTES"), "tracing.resource_attributes (OTEL_RESOURCE_ATTRIBUTES)", rk, rv,
                       0, e)) < 0)
        goto out;
    if (sc.resource_attributes &&
        (nr = gr_conf_parse_kv(sc.resource_attributes, "tracing.resource_attributes", rk, rv, nr, e)) < 0)
        goto out;
    const char *service = sc.service_name && *sc.service_name ? sc.service_name : env("OTEL_SERVICE_NAME");
    for (int i = 0; !service && i < nr; i++)
        if (!strcmp(rk[i], "service.name")) service = rv[i];
    t->service_name = gr_xstrdup(service ? service : "gaterouter");
    t->resource_json = render_resource(t->service_name, rk, rv, nr);
    /* sampler */
    t->sampler = GR_SAMPLER_PARENT_RATIO;
    if (has_key(sec, "sampler")) t->sampler = sc.sampler;
    else if (env("OTEL_TRACES_SAMPLER")) {
        const char *s = env("OTEL_TRACES_SAMPLER");
        int i = 0;
        while (k_sampler_names[i] && strcmp(k_sampler_names[i], s)) i++;
        if (!k_sampler_names[i]) {
            gr_conf_fail(e, "tracing.sampler: OTEL_TRACES_SAMPLER=%s is not one of always_on, always_off, traceidratio, "
                            "parentbased_always_on, parentbased_always_off, parentbased_traceidratio", s);
            goto out;
        }
        t->sampler = i;
    }
    t->sample_ratio = 1.0;
    if (has_key(sec, "sample_ratio")) t->sample_ratio = sc.sample_ratio;
    else if (env("OTEL_TRACES_SAMPLER_ARG") &&
             (t->sampler == GR_SAMPLER_RATIO || t->sampler == GR_SAMPLER_PARENT_RATIO)) {
        char *end = NULL;
        double d = strtod(env("OTEL_TRACES_SAMPLER_ARG"), &end);
        if (*end || !(d >= 0 && d <= 1)) {
            gr_conf_fail(e, "tracing.sample_ratio: OTEL_TRACES_SAMPLER_ARG=%s is not a number in 0..1",
                         env("OTEL_TRACES_SAMPLER_ARG"));
            goto out;
        }
        t->sample_ratio = d;
    }
    t->sample_errors = sc.sample_errors;
    t->queue_max = sc.queue_max, t->batch_max = sc.batch_max, t->batch_delay_ms = sc.batch_delay_ms;
    t->export_timeout_ms = sc.export_timeout_ms;
    env_uint(sec, "queue_max", "OTEL_BSP_MAX_QUEUE_SIZE", 1, 1000000, 2048, &t->queue_max, e);
    env_uint(sec, "batch_max", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 1, 100000, 512, &t->batch_max, e);
    env_uint(sec, "batch_delay_ms", "OTEL_BSP_SCHEDULE_DELAY", 1, 600000, 5000, &t->batch_delay_ms, e);
    env_uint(sec, "export_timeout_ms",
             env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" : "OTEL_EXPORTER_OTLP_TIMEOUT",
             1, 600000, 10000, &t->export_timeout_ms, e);
    if (!e->failed && t->batch_max > t->queue_max)
        gr_conf_fail(e, "tracing.batch_max: %u is more than tracing.queue_max (%u)", t->batch_max, t->queue_max);
    t->max_spans = sc.max_spans;
out:
    gr_conf_free_kv(hk, hv, nh > 0 ? nh : 0);
    gr_conf_free_kv(rk, rv, nr > 0 ? nr : 0);
    gr_conf_free_keys(gr_conf_tracing_keys, &sc);
    if (e->failed) {
        conf_free(t);
        return NULL;
    }
    return t;
}

const gr_trace_conf *gr_trace_conf_of(const struct gr_config *c) { return c->section[GR_CONF_SEC_TRACING]; }

/* ---- ids ---- */

/* Per-thread xoshiro256** seeded from the OS generator: span and trace ids
 * need to be unique and unpredictable enough, not secret, and RAND_bytes per
 * id would cost a lock per span. */
static uint64_t rnd64(void) {
    static _Thread_local uint64_t s[4];
    static _Thread_local bool seeded;
    if (!seeded) {
        if (RAND_bytes((unsigned char *)s, sizeof s) != 1) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            s[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32), s[1] = (uint64_t)(uintptr_t)&s, s[2] = 0x9e3779b97f4a7c15u;
            s[3] = gr_now_us();
        }
        seeded = true;
    }
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

static uint64_t nonzero_id(void) {
    uint64_t v;
    while (!(v = rnd64())) {
    }
    return v;
}

static bool hex_field(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

bool gr_traceparent_parse(const char *s, uint64_t *trace_hi, uint64_t *trace_lo, uint64_t *span, uint8_t *flags) {
    if (!s) return false;
    size_t len = strlen(s);
    uint64_t ver, fl;
    if (len < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-') return false;
    if (!hex_field(s, 2, &ver) || ver == 0xff) return false;
    if (ver == 0 && len != 55) return false;
    if (ver != 0 && len > 55 && s[55] != '-') return false;
    if (!hex_field(s + 3, 16, trace_hi) || !hex_field(s + 19, 16, trace_lo) || !hex_field(s + 36, 16, span) ||
        !hex_field(s + 53, 2, &fl))
        return false;
    if ((!*trace_hi && !*trace_lo) || !*span) return false;
    *flags = (uint8_t)fl;
    return true;
}

/* tracestate is kept only when it is short and printable (W3C allows 512 bytes, 32 members). */
static bool tracestate_sane(const char *s) {
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || n >= 512) return false;
    return n > 0;
}

/* ---- per request ---- */

static bool ratio_says_yes(const gr_trace_conf *tc, uint64_t trace_lo) {
    if (tc->sample_ratio >= 1.0) return true;
    if (tc->sample_ratio <= 0.0) return false;
    /* the lower 56 bits of the trace id, the part W3C random trace ids make random */
    return (double)(trace_lo & ((1ull << 56) - 1)) < tc->sample_ratio * (double)(1ull << 56);
}

gr_trace *gr_trace_begin(gr_request *r, const char *traceparent, const char *tracestate) {
    const gr_trace_conf *tc = gr_trace_conf_of(r->cfg);
    if (!tc) return NULL;
    gr_trace *t = gr_pool_calloc(r->pool, sizeof(*t));
    t->max_spans = tc->max_spans;
    t->spans = gr_pool_alloc(r->pool, sizeof(gr_span) * t->max_spans);
    t->attempt = -1;
    uint64_t parent = 0;
    uint8_t flags = 0;
    bool has_parent = gr_traceparent_parse(traceparent, &t->trace_hi, &t->trace_lo, &parent, &flags);
    if (has_parent) {
        t->parent_id = parent;
        if (tracestate && tracestate_sane(tracestate)) t->tracestate = gr_pool_strdup(r->pool, tracestate);
    } else {
        t->trace_hi = rnd64();
        t->trace_lo = nonzero_id();
    }
    t->root_id = nonzero_id();
    bool parent_sampled = flags & 1;
    switch ((gr_sampler)tc->sampler) {
    case GR_SAMPLER_ON: t->sampled = true; break;
    case GR_SAMPLER_OFF: t->sampled = false; break;
    case GR_SAMPLER_RATIO: t->sampled = ratio_says_yes(tc, t->trace_lo); break;
    case GR_SAMPLER_PARENT_ON: t->sampled = has_parent ? parent_sampled : true; break;
    case GR_SAMPLER_PARENT_OFF: t->sampled = has_parent ? parent_sampled : false; break;
    case GR_SAMPLER_PARENT_RATIO: t->sampled = has_parent ? parent_sampled : ratio_says_yes(tc, t->trace_lo); break;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    t->wall_offset_us = ((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000) - (int64_t)gr_now_us();
    return t;
}

int gr_trace_span_begin(gr_request *r, const char *name) {
    gr_trace *t = r->trace;
    if (!t || t->nspans == t->max_spans) return -1;
    gr_span *s = &t->spans[t->nspans];
    *s = (gr_span){.name = name, .kind = GR_SPAN_INTERNAL, .id = nonzero_id(), .start_us = gr_now_us()};
    return (int)t->nspans++;
}

void gr_trace_span_end(gr_request *r, int span, const char *error) {
    gr_trace *t = r->trace;
    if (!t || span < 0 || (unsigned)span >= t->nspans || t->spans[span].end_us) return;
    t->spans[span].end_us = gr_now_us();
    t->spans[span].error = error;
}

static size_t put_hex(char *out, uint64_t v) {
    static const char d[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, v >>= 4) out[i] = d[v & 15];
    return 16;
}

bool gr_trace_attempt_begin(gr_request *r, char traceparent[56], const char **tracestate) {
    gr_trace *t = r->trace;
    if (!t) return false;
    if (t->attempt >= 0) gr_trace_attempt_end(r, "abandoned", false); /* a retry rebuilt the request */
    int i = gr_trace_span_begin(r, NULL);
    uint64_t id;
    if (i >= 0) {
        gr_span *s = &t->spans[i];
        s->kind = GR_SPAN_CLIENT; /* named "{operation} {model}" by the exporter */
        s->provider = r->deployment->provider->name;
        s->provider_kind = gr_provider_kind_name(r->deployment->provider->kind);
        s->model = r->deployment->upstream_model;
        id = s->id;
        t->attempt = i;
    } else id = nonzero_id(); /* over the span cap: still a fresh id upstream */
    memcpy(traceparent, "00-", 3);
    put_hex(traceparent + 3, t->trace_hi);
    put_hex(traceparent + 19, t->trace_lo);
    traceparent[35] = '-';
    put_hex(traceparent + 36, id);
    memcpy(traceparent + 52, t->sampled ? "-01" : "-00", 3);
    traceparent[55] = '\0';
    *tracestate = t->tracestate;
    return true;
}

void gr_trace_attempt_end(gr_request *r, const char *err, bool ok) {
    gr_trace *t = r->trace;
    if (!t || t->attempt < 0) return;
    gr_span *s = &t->spans[t->attempt];
    t->attempt = -1;
    s->end_us = gr_now_us();
    s->first_byte_us = r->attempt_first_byte_us;
    s->http_status = r->up_status;
    if (!ok) {
        s->error = err ? err : r->up_status ? "http_error" : "failed";
        t->failed_attempt = true;
    }
    if (s->start_us < r->attempt_start_us) s->start_us = r->attempt_start_us; /* from the send, not the build */
}

bool gr_trace_export_wanted(const gr_request *r) {
    const gr_trace *t = r->trace;
    if (!t) return false;
    if (t->sampled) return true;
    const gr_trace_conf *tc = gr_trace_conf_of(r->cfg);
    return tc->sample_errors && (r->status >= 500 || t->failed_attempt);
}
