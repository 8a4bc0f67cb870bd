/* http_reply.h — the OpenAI error shape {"error":{"message","type","param",
 * "code"}} used by every error the gateway itself produces, status reason
 * phrases, and small helpers that answer a gr_client_req (http_server.h) with
 * a JSON body. Shared by the gateway and the mock upstream. */
#ifndef GR_HTTP_REPLY_H
#define GR_HTTP_REPLY_H

#include "common.h"
#include "http_server.h"
#include <cjson/cJSON.h>

const char *gr_http_reason(int status);
/* Renders {"error":{...}}; caller frees. message is copied verbatim (escaped). */
char *gr_error_json(const char *message, const char *type, const char *param, const char *code);

/* Replies "Content-Type: application/json" with json plus a trailing newline
 * as the body; ends the request (see gr_client_req_reply). */
void gr_reply_json_text(gr_client_req *req, int status, const char *json, size_t len);
void gr_reply_json(gr_client_req *req, int status, const cJSON *obj);
/* An error reply in the OpenAI shape; the message is formatted (truncated at
 * 1 KiB). */
void gr_reply_error(gr_client_req *req, int status, const char *type, const char *code, const char *param,
                    const char *fmt, ...) GR_PRINTF(6, 7);

#endif
