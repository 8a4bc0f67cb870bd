/* api_openapi.h — GET /openapi.json: an OpenAPI 3.1 document of the public
 * API, generated from the endpoint table (endpoints.c) and the bodies'
 * schemas (api_schemas.h), cached per config snapshot. */
#ifndef GR_API_OPENAPI_H
#define GR_API_OPENAPI_H

#include "request.h"

#include <cjson/cJSON.h>

/* The document (new tree); x402: whether paid requests (402) are on. */
cJSON *gr_api_openapi(bool x402);
/* Answers GET /openapi.json and finishes. */
void gr_api_openapi_serve(gr_request *r);

#endif
