/* otel_trace.h — OpenTelemetry traces of requests, exported over OTLP/HTTP
 * with the JSON encoding (otel_trace.c).
 *
 * A finish handler (GR_FINISH_LOG) turns a request's gr_trace (trace.h) into
 * OTLP spans — the SERVER span of the request, children for routing,
 * admission, each upstream attempt (CLIENT, with its first byte as an event)
 * and the relay — with GenAI semantic-convention attributes, and hands them to
 * a batching exporter (http_sink.h) whose thread POSTs them to the collector.
 * The worker only encodes into a per-thread buffer and appends to a bounded
 * queue: a dead or slow collector never slows a request; what cannot be
 * queued is dropped and counted in
 * gaterouter_export_records_total{sink="otlp_traces"}.
 *
 * The exporter is started once with the start-up config (gr_otel_trace_start,
 * before the workers) and stopped after they are joined (gr_otel_trace_stop:
 * one last flush). Its endpoint, headers, limits and resource need a restart
 * to change; the sampler follows the snapshot of each request. */
#ifndef GR_OTEL_TRACE_H
#define GR_OTEL_TRACE_H

#include "request.h"

void gr_otel_trace_register(void);
/* GR_OK when tracing is off or its exporter started; else err says why. */
GR_MUST_CHECK gr_status gr_otel_trace_start(const gr_config *cfg, char *err, size_t errlen);
void gr_otel_trace_stop(void);

#endif
