/* http_reply.h — small helpers to answer an evhttp request with JSON, and the
 * OpenAI error shape {"error":{"message","type","param","code"}} used by every
 * error the gateway itself produces. Shared by the gateway and the mock. */
#ifndef GR_HTTP_REPLY_H
#define GR_HTTP_REPLY_H

#include "common.h"
#include <cjson/cJSON.h>

struct evhttp_request;
struct evhttp_connection;
struct evbuffer;

const char *gr_http_reason(int status);
/* Renders {"error":{...}}; caller frees. message is copied verbatim (escaped). */
char *gr_error_json(const char *message, const char *type, const char *param, const char *code);
void gr_reply_json_text(struct evhttp_request *req, int status, const char *json, size_t len);
void gr_reply_json(struct evhttp_request *req, int status, const cJSON *obj);
void gr_reply_error(struct evhttp_request *req, int status, const char *type, const char *code,
                    const char *param, const char *fmt, ...) GR_PRINTF(6, 7);

/* Sends buf (drained) as the next chunk of a reply started with
 * evhttp_send_reply_start. When nothing is queued on the connection, the
 * chunk (with its chunked framing) goes to the socket at once: one writev,
 * no epoll_ctl, no loop turn, where evhttp would queue it, enable the write
 * event, write on the next turn and disable it again (6 syscalls per chunk
 * instead of 3). Whatever the socket does not take is queued, in order.
 * Otherwise evhttp sends it and calls cb(evcon, arg) once its output drains.
 * Returns true when that cb is armed (the chunk went through evhttp); false
 * when the chunk was written directly (cb will not run for it). *queued is
 * set to the bytes still waiting on the connection. */
bool gr_http_send_chunk(struct evhttp_request *req, struct evbuffer *buf,
                        void (*cb)(struct evhttp_connection *, void *), void *arg, size_t *queued);

#endif
