/* metrics.h — Prometheus metrics: a process-wide, lock-free registry of
 * labelled counters and histograms (g_metrics in metrics.c, the one clearly
 * named process-wide structure of this module).
 *
 * Series are found by (metric, label text) in an open-addressing table whose
 * slots are published with a CAS; values are relaxed atomics, so any worker
 * can update and /metrics can render concurrently without locks. The table
 * has a fixed capacity: once full, new label sets fold into one overflow
 * series per metric (counted in gaterouter_metrics_overflow_total).
 *
 * Labels are built with gr_metrics_label only, from values the gateway
 * controls (route templates, config names, status codes), never from raw
 * request input: the series count stays bounded, and every value is escaped
 * per the exposition format, so the rendered text always parses. */
#ifndef GR_METRICS_H
#define GR_METRICS_H

#include "common.h"

typedef enum {
    GR_M_REQUESTS = 0,        /* counter {route,status,model,provider} */
    GR_M_REQUEST_SECONDS,     /* histogram {route} */
    GR_M_UPSTREAM_SECONDS,    /* histogram {provider,model} */
    GR_M_TTFT_SECONDS,        /* histogram {provider,model} */
    GR_M_UPSTREAM_ERRORS,     /* counter {provider,reason} */
    GR_M_TOKENS,              /* counter {model,kind} */
    GR_M_COST_NUSD,           /* counter {model} (exported in USD) */
    GR_M_INFLIGHT,            /* gauge {} */
    GR_M_STREAMS_CANCELLED,   /* counter {} */
    GR_M_CONFIG_RELOADS,      /* counter {result} */
    GR_M_ROUTE_DECISIONS,     /* counter {policy,model} */
    GR_M_X402,                /* counter {event} */
    GR_M_LEDGER_DROPPED,      /* counter {} */
    GR_M_EXPORT_RECORDS,      /* counter {sink,result}: http_sink.h */
    GR_M_GATEWAY_SECONDS,     /* histogram {route}: request time not spent waiting on an upstream */
    GR_M_CACHE,               /* counter {result}: response-cache lookups, hit | miss */
    GR_M_STORE_JOB_SECONDS,   /* histogram {pool,stage}: executor jobs, queue wait | run */
    GR_M_LEDGER_BATCH_SECONDS,/* histogram {}: one ledger batch, taken to committed */
    GR_M_X402_SETTLE_SECONDS, /* histogram {result}: x402 settlement, queued to final */
    GR_M__COUNT
} gr_metric_id;

/* Appends `name="value"` (preceded by a comma when o > 0) to buf at o and
 * returns the new length; buf stays NUL-terminated within cap. The value is
 * escaped (backslash, double quote, newline; other control bytes become '_')
 * and, when it does not fit, cut at a character boundary with the quote
 * still closed. */
#define GR_METRICS_LABELS_CAP 384 /* a label set's text, NUL included; longer sets are refused */
size_t gr_metrics_label(char *buf, size_t o, size_t cap, const char *name, const char *value);
void gr_metrics_add(gr_metric_id m, const char *labels, int64_t delta);
void gr_metrics_observe_us(gr_metric_id m, const char *labels, uint64_t us);
/* Renders the exposition text (the registry, then the collectors); caller frees. */
char *gr_metrics_render(size_t *len);

/* ---- collectors: values read at scrape time (queue depths, breaker states) ----
 * A collector writes whole families with gr_metrics_text_*; it is registered
 * at start-up (before the workers) and removed before what it reads is
 * freed. At most GR_METRICS_MAX_COLLECTORS. Registration and rendering are
 * serialised by one mutex: a collector must not call back into the registry. */
#define GR_METRICS_MAX_COLLECTORS 8
typedef struct gr_metrics_text gr_metrics_text;
typedef void (*gr_metrics_collector)(gr_metrics_text *out, void *ud);
void gr_metrics_collector_add(gr_metrics_collector fn, void *ud);
void gr_metrics_collector_remove(gr_metrics_collector fn, void *ud);
/* `# HELP` and `# TYPE` of a family, then its samples (labels: gr_metrics_label text or NULL). */
void gr_metrics_text_family(gr_metrics_text *out, const char *name, const char *type, const char *help);
void gr_metrics_text_sample(gr_metrics_text *out, const char *name, const char *labels, double value);

#endif
