/* conf_kv.h — the `k=v,k2=v2` lists the OpenTelemetry environment uses
 * (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES: W3C baggage style,
 * values %-encoded), parsed at config load for the exporters' headers and
 * resource attributes. Keys and values are malloc'd; the caller frees them
 * with gr_conf_free_kv. */
#ifndef GR_CONF_KV_H
#define GR_CONF_KV_H

#include "config_schema.h"

#define GR_CONF_KV_MAX 64 /* entries in one list */

/* Parses text into keys[n..], vals[n..] (a later entry with the same key
 * replaces the earlier one) and returns the new count, or -1 with e set
 * (what: the key or variable named in the error). */
int gr_conf_parse_kv(const char *text, const char *what, char **keys, char **vals, int n, gr_conf_err *e);
void gr_conf_free_kv(char **keys, char **vals, int n);
/* "Name: value\n" lines for an HTTP client (malloc'd). */
char *gr_conf_render_headers(char **keys, char **vals, int n);

#endif
