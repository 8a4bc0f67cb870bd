/* log_sink.h — per-request records shipped in batches to an HTTP endpoint
 * (log_sink.c): a generic JSON array of records, or Langfuse's ingestion API
 * shape (a trace and a generation per request).
 *
 * Metadata always (ids, route, status, key name, models, provider, tokens,
 * cost, latency, TTFT, error). Prompts and completions only when
 * `log_sink.content` says so: `none` (default) leaves them out, `redacted`
 * sends only their size, `full` sends the text (the request's messages /
 * prompt / input as JSON text, and a non-streamed reply body), each cut at
 * `max_content_bytes`.
 *
 * Like the trace exporter: a finish handler (GR_FINISH_LOG) encodes into a
 * per-thread buffer and queues one record; the exporter thread (http_sink.h)
 * POSTs batches; a full queue drops and counts
 * (gaterouter_export_records_total{sink="log_sink"}). Started with the
 * start-up config, stopped after the workers (a last flush). */
#ifndef GR_LOG_SINK_H
#define GR_LOG_SINK_H

#include "config_schema.h"
#include "request.h"

extern const gr_conf_key gr_conf_log_sink_keys[];
void *gr_log_sink_conf_parse(const cJSON *sec, const gr_config *c, gr_conf_err *e);
void gr_log_sink_conf_free(void *conf);

void gr_log_sink_register(void);
GR_MUST_CHECK gr_status gr_log_sink_start(const gr_config *cfg, char *err, size_t errlen);
void gr_log_sink_stop(void);

#endif
