/* trace.h — a request's W3C trace context and the spans recorded while it is
 * served (OpenTelemetry; the OTLP export is features/otel_trace.c).
 *
 * Owns: the `tracing:` config section (gr_trace_conf: the OTLP endpoint,
 * sampler, resource, exporter limits; the standard OTEL_* environment
 * variables fill what the section does not set), and per request a gr_trace
 * in the request's pool (r->trace), created by gr_request_new only when
 * tracing is configured — with tracing off every call here is a NULL check.
 *
 * Trace context: a valid `traceparent` from the client is continued (same
 * trace id, its span id becomes the parent of the request's root span, its
 * `tracestate` is kept); otherwise a new trace id is drawn. Each upstream
 * attempt is a child span whose id goes upstream in a new `traceparent`
 * (with the client's `tracestate`).
 *
 * Sampling: decided at the head (gr_trace_begin) by the sampler — parent
 * based by default, so a client's sampled flag is followed and a root trace is
 * kept with probability `sample_ratio`; the flag sent upstream says so. With
 * `sample_errors` a request that ends in an error (status >= 500 or a failed
 * upstream attempt) is exported even when the head said no: its spans are
 * recorded for every request anyway, and the exporter decides at finish.
 *
 * Spans are recorded on r's loop only (no locks); at most max_spans per
 * request (further spans are not recorded). */
#ifndef GR_TRACE_H
#define GR_TRACE_H

#include "common.h"
#include "config_schema.h"
#include "pipeline.h"

typedef struct gr_request gr_request;

/* ---- the `tracing:` section ---- */
typedef enum {
    GR_SAMPLER_PARENT_RATIO = 0, /* parentbased_traceidratio */
    GR_SAMPLER_PARENT_ON,        /* parentbased_always_on */
    GR_SAMPLER_PARENT_OFF,       /* parentbased_always_off */
    GR_SAMPLER_RATIO,            /* traceidratio */
    GR_SAMPLER_ON,               /* always_on */
    GR_SAMPLER_OFF,              /* always_off */
} gr_sampler;

typedef struct gr_trace_conf {
    char *endpoint;          /* OTLP/HTTP traces URL (…/v1/traces) */
    char *headers;           /* "Name: value" lines, '\n'-separated, for the exporter; "" = none */
    char *service_name;
    char *resource_json;     /* the resource's attributes as an OTLP JSON array (service.name included) */
    bool protobuf;           /* OTLP/HTTP protobuf encoding, else JSON */
    int sampler;             /* gr_sampler */
    double sample_ratio;
    bool sample_errors;
    uint32_t queue_max, batch_max, batch_delay_ms, export_timeout_ms, max_spans;
} gr_trace_conf;

extern const gr_conf_key gr_conf_tracing_keys[];
/* The section parser (config_sections.c): NULL when tracing is off (no
 * endpoint from the section or the environment, or `enabled: false`). */
void *gr_trace_conf_parse(const cJSON *sec, const struct gr_config *c, gr_conf_err *e);
void gr_trace_conf_free(void *conf);
/* The running snapshot's tracing settings, or NULL. */
const gr_trace_conf *gr_trace_conf_of(const struct gr_config *c);

/* ---- one request's trace ---- */
typedef enum { GR_SPAN_INTERNAL = 1, GR_SPAN_SERVER = 2, GR_SPAN_CLIENT = 3 } gr_span_kind;

typedef struct gr_span {
    const char *name;  /* NULL for an upstream attempt: "{gen_ai.operation.name} {model}" */
    gr_span_kind kind;
    uint64_t id;
    uint64_t start_us, end_us, first_byte_us; /* monotonic (gr_now_us); first_byte_us: an attempt's TTFT, 0 = none */
    const char *provider, *provider_kind, *model; /* an upstream attempt: where it went */
    int http_status;
    const char *error;                            /* NULL = ok */
} gr_span;

typedef struct gr_trace {
    uint64_t trace_hi, trace_lo;   /* the 128-bit trace id */
    uint64_t root_id, parent_id;   /* the request's span; the client's span (0 = none) */
    bool sampled;                  /* the head decision */
    const char *tracestate;        /* the client's, when sane (pool), or NULL */
    int64_t wall_offset_us;        /* wall clock - monotonic clock, for the export's unix times */
    uint64_t phase_us[GR_PHASE_COUNT]; /* when each phase's first handler started, 0 = not reached */
    gr_span *spans;
    unsigned nspans, max_spans;
    int attempt;                   /* the open upstream attempt's span, -1 = none */
    bool failed_attempt;
} gr_trace;

/* gr_request_new: r->trace, or NULL when tracing is off. */
gr_trace *gr_trace_begin(gr_request *r, const char *traceparent, const char *tracestate);
/* Pipeline: phase `p`'s first handler starts now (the first call per phase counts). */
static inline void gr_trace_phase(gr_trace *t, gr_phase p) {
    if (t && !t->phase_us[p]) t->phase_us[p] = gr_now_us();
}
/* A child span of the root starting now; its index, or -1 (tracing off, span cap reached). */
int gr_trace_span_begin(gr_request *r, const char *name);
void gr_trace_span_end(gr_request *r, int span, const char *error);
/* An upstream attempt starts (proxy.c, as it builds the request): records its
 * CLIENT span and writes the `traceparent` (and `tracestate`) to send
 * upstream. false: nothing to send (tracing off). */
bool gr_trace_attempt_begin(gr_request *r, char traceparent[56], const char **tracestate);
/* The attempt ended (err: the upstream error, NULL = answered; ok: it served). */
void gr_trace_attempt_end(gr_request *r, const char *err, bool ok);
/* The export decision at finish: the head's, or an error with sample_errors. */
bool gr_trace_export_wanted(const gr_request *r);

/* Parses a W3C traceparent (version 00, or a later one by its first four
 * fields); true with the ids and flags when valid (ids not all zero, lower-case hex). */
bool gr_traceparent_parse(const char *s, uint64_t *trace_hi, uint64_t *trace_lo, uint64_t *span, uint8_t *flags);

#endif
