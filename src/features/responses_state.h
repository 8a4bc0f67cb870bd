/* responses_state.h — the Responses API's state on the request path:
 * previous_response_id, `store`, and GET / DELETE /v1/responses/{id}
 * (+ /input_items), backed by responses_store.h on the store executor. */
#ifndef GR_RESPONSES_STATE_H
#define GR_RESPONSES_STATE_H

#include "request.h"

/* GET|DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items: the
 * client's own stored responses only (404 otherwise). */
void gr_responses_state_serve(gr_request *r);
/* Queues the write of r->responses_final (once; nothing without `store`,
 * for x402-paid requests, or with responses.store_ttl 0). proxy.c calls it
 * before the Response's bytes go out — the JSON reply, or a stream's final
 * event — so the client's next call (a store job submitted after it) is
 * ordered after the write by the executor. */
void gr_responses_state_keep(gr_request *r);
/* PARSE (the stored conversation before routing), and the context slot. */
void gr_responses_state_register(void);

#endif
