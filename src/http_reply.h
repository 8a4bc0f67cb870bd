/* http_reply.h — small helpers to answer an evhttp request with JSON, and the
 * OpenAI error shape {"error":{"message","type","param","code"}} used by every
 * error the gateway itself produces. Shared by the gateway and the mock. */
#ifndef GR_HTTP_REPLY_H
#define GR_HTTP_REPLY_H

#include "common.h"
#include <cjson/cJSON.h>

struct evhttp_request;

const char *gr_http_reason(int status);
/* Renders {"error":{...}}; caller frees. message is copied verbatim (escaped). */
char *gr_error_json(const char *message, const char *type, const char *param, const char *code);
void gr_reply_json_text(struct evhttp_request *req, int status, const char *json, size_t len);
void gr_reply_json(struct evhttp_request *req, int status, const cJSON *obj);
void gr_reply_error(struct evhttp_request *req, int status, const char *type, const char *code,
                    const char *param, const char *fmt, ...) GR_PRINTF(6, 7);

#endif
