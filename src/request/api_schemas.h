/* api_schemas.h — JSON Schemas (draft 2020-12) of the public model API's
 * request and reply bodies, per endpoint, with an example request: one
 * source for the x402 `bazaar` metadata (features/x402_discovery.c) and the
 * OpenAPI document (gateway/api_openapi.c). The schemas name the fields a
 * client must or commonly sends; every endpoint also takes the provider's
 * other fields (additionalProperties). */
#ifndef GR_API_SCHEMAS_H
#define GR_API_SCHEMAS_H

#include "request.h"

#include <cjson/cJSON.h>

/* The request body's schema of a model endpoint (new tree), NULL for GR_EP_OTHER. */
cJSON *gr_api_request_schema(gr_endpoint ep);
/* Its reply's schema (new tree), NULL for GR_EP_OTHER. */
cJSON *gr_api_reply_schema(gr_endpoint ep);
/* An example request body for model (new tree; max_tokens > 0: set). */
cJSON *gr_api_request_example(gr_endpoint ep, const char *model, int64_t max_tokens);
/* One line on what the endpoint does ("" for GR_EP_OTHER). */
const char *gr_api_summary(gr_endpoint ep);

#endif
