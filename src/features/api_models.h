/* api_models.h — GET /v1/models and GET /v1/models/{id} (OpenAI's shape). */
#ifndef GR_API_MODELS_H
#define GR_API_MODELS_H

#include "request.h"

/* model_id NULL = the list. Answers and finishes. */
void gr_models_handle(gr_request *r, const char *model_id);

#endif
