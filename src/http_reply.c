/* http_reply.c — JSON replies and OpenAI-shaped errors over evhttp. */
#include "http_reply.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/http_struct.h> /* evhttp_request.chunked: the framing evhttp chose */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *gr_http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

char *gr_error_json(const char *message, const char *type, const char *param, const char *code) {
    cJSON *root = cJSON_CreateObject();
    cJSON *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", message ? message : "");
    cJSON_AddStringToObject(e, "type", type ? type : "api_error");
    if (param) cJSON_AddStringToObject(e, "param", param);
    else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code);
    else cJSON_AddNullToObject(e, "code");
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!s) abort();
    return s;
}

void gr_reply_json_text(struct evhttp_request *req, int status, const char *json, size_t len) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_remove_header(h, "Content-Type");
    evhttp_add_header(h, "Content-Type", "application/json");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, json, len);
    evbuffer_add(b, "\n", 1);
    evhttp_send_reply(req, status, gr_http_reason(status), b);
    evbuffer_free(b);
}

void gr_reply_json(struct evhttp_request *req, int status, const cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) abort();
    gr_reply_json_text(req, status, s, strlen(s));
    cJSON_free(s);
}

void gr_reply_error(struct evhttp_request *req, int status, const char *type, const char *code,
                    const char *param, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *s = gr_error_json(msg, type, param, code);
    gr_reply_json_text(req, status, s, strlen(s));
    free(s);
}

bool gr_http_send_chunk(struct evhttp_request *req, struct evbuffer *buf,
                        void (*cb)(struct evhttp_connection *, void *), void *arg, size_t *queued) {
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    struct evbuffer *out = bev ? bufferevent_get_output(bev) : NULL;
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    size_t n = evbuffer_get_length(buf);
    if (!out || fd < 0 || !n || evbuffer_get_length(out)) {
        evhttp_send_reply_chunk_with_cb(req, buf, cb, arg);
        *queued = out ? evbuffer_get_length(out) : 0;
        return true;
    }
    if (req->chunked) {
        char head[24];
        int hl = snprintf(head, sizeof(head), "%zx\r\n", n);
        evbuffer_prepend(buf, head, (size_t)hl);
        evbuffer_add(buf, "\r\n", 2);
    }
    /* A failed write (the client left) leaves the bytes queued: evhttp's own
     * write then fails the same way and closes the connection as usual. */
    (void)evbuffer_write(buf, fd);
    if (evbuffer_get_length(buf)) bufferevent_write_buffer(bev, buf);
    *queued = evbuffer_get_length(out);
    return false;
}
