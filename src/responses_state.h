/* responses_state.h — the Responses API's state on the request path:
 * previous_response_id, `store`, and GET / DELETE /v1/responses/{id}
 * (+ /input_items), backed by responses_store.h on the store executor. */
#ifndef GR_RESPONSES_STATE_H
#define GR_RESPONSES_STATE_H

#include "request.h"

/* GET|DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: the
 * client's own stored responses only (404 otherwise). */
void gr_responses_state_serve(gr_request *r);
/* PARSE (the stored conversation before routing), the reply hook and finish
 * handler that store the answered Response, and the context slot. */
void gr_responses_state_register(void);

#endif
