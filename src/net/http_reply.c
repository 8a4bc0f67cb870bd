/* http_reply.c — reason phrases, OpenAI-shaped error bodies, and JSON replies
 * on a gr_client_req (see http_reply.h). */
#include "http_reply.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *gr_http_reason(int status) {
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
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
    char *clean = gr_utf8_sanitize_dup(message ? message : ""); /* a client's bytes may be quoted in it */
    cJSON_AddStringToObject(e, "message", clean);
    free(clean);
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

void gr_reply_json_text(gr_client_req *req, int status, const char *json, size_t len) {
    char small[4096]; /* most replies: no allocation */
    char *b = len < sizeof(small) ? small : gr_xmalloc(len + 1);
    memcpy(b, json, len);
    b[len] = '\n';
    gr_client_req_reply(req, status, "application/json", b, len + 1); /* copies what the socket does not take */
    if (b != small) free(b);
}

void gr_reply_json(gr_client_req *req, int status, const cJSON *obj) {
    char *s = cJSON_PrintUnformatted(obj);
    if (!s) abort();
    gr_reply_json_text(req, status, s, strlen(s));
    cJSON_free(s);
}

void gr_reply_error(gr_client_req *req, int status, const char *type, const char *code, const char *param,
                    const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char *s = gr_error_json(msg, type, param, code);
    gr_reply_json_text(req, status, s, strlen(s));
    free(s);
}
