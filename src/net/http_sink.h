/* http_sink.h — a batching HTTP exporter: records handed over by the workers
 * are queued and POSTed in batches to one URL from a thread of the sink's own
 * (OTLP/HTTP traces, log sinks).
 *
 * Never on the request path: gr_http_sink_push only appends to a bounded
 * queue under a mutex held for a few instructions; when the queue is full the
 * record is dropped and counted. The thread wakes when a batch is full or
 * batch_delay_ms after the oldest queued record, joins up to batch_max records
 * into one body (prefix rec sep rec … suffix), and POSTs it with libcurl
 * (dlopen'd, curl_dl.h) under timeout_ms. A dead or slow endpoint therefore
 * costs the sink's thread, never a worker: requests go on and records past
 * queue_max are dropped (counted). No retries: a failed batch is counted and
 * let go (the next batch tries again).
 *
 * Counts go to gaterouter_export_records_total{sink, result} with result
 * exported | dropped (queue full) | failed (the POST failed or answered
 * non-2xx); a record carries a weight (the spans of one request, say) and is
 * counted by it.
 *
 * Life cycle: gr_http_sink_new (start-up; copies the config; starts the
 * thread) → push from any thread → gr_http_sink_free (shutdown: one last
 * flush of what is queued, each batch within timeout_ms, then join). */
#ifndef GR_HTTP_SINK_H
#define GR_HTTP_SINK_H

#include "common.h"

typedef struct gr_http_sink gr_http_sink;

typedef struct gr_http_sink_conf {
    const char *name;         /* the `sink` label and log prefix */
    const char *url;
    const char *content_type; /* "application/json" */
    const char *headers;      /* extra headers, "Name: value" lines separated by '\n'; may be NULL */
    const char *prefix, *separator, *suffix; /* the batch body around the records */
    size_t queue_max;         /* records queued at most */
    size_t batch_max;         /* records per POST */
    uint32_t batch_delay_ms;  /* a record waits at most this long for a batch */
    uint32_t timeout_ms;      /* one POST, connect included */
} gr_http_sink_conf;

/* NULL with err set when libcurl cannot be loaded. */
gr_http_sink *gr_http_sink_new(const gr_http_sink_conf *conf, char *err, size_t errlen);
/* Takes data (malloc'd) in every case: queued, or freed and counted as dropped. */
void gr_http_sink_push(gr_http_sink *s, char *data, size_t len, uint32_t weight);
/* Counts records that never made it to the queue (e.g. too large to encode) as dropped. */
void gr_http_sink_drop(gr_http_sink *s, uint32_t weight);
/* Flushes what is queued (bounded by timeout_ms per batch), stops the thread, frees. NULL is a no-op. */
void gr_http_sink_free(gr_http_sink *s);

#endif
