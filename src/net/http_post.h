/* http_post.h — one blocking HTTP POST with libcurl on a caller-owned easy
 * handle (the exporter threads: http_sink.c batches, features/alerts.c
 * webhooks). Sets what a POST needs (URL, headers, body, timeouts with
 * connect included, no signals, the gateway's User-Agent, the answer body
 * discarded), performs it and reports the transport result and the status.
 * libcurl must be loaded (gr_curl_load). Threading: the handle's owner only. */
#ifndef GR_HTTP_POST_H
#define GR_HTTP_POST_H

#include "curl_dl.h"

/* CURLE_OK with *status the HTTP status, or the transport error (*status 0). */
CURLcode gr_http_post(CURL *c, const char *url, struct curl_slist *headers, const char *body, size_t len,
                      uint32_t timeout_ms, long *status);

#endif
