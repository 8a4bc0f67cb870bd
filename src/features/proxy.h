/* proxy.h — the model endpoints (chat, completions, embeddings, Messages,
 * the /v1/route dry run): body validation, routing, admission, the response
 * cache, upstream attempts with retries and fallbacks, and the relay of the
 * answer (streamed or not) back to the client. */
#ifndef GR_PROXY_H
#define GR_PROXY_H

#include "request.h"

/* Serves r (r->ep set, client authenticated): runs the pipeline's phases
 * from PARSE on (pipeline.h); answers and finishes, usually later from this
 * loop. */
void gr_proxy_handle(gr_request *r);
/* Registers the model endpoints' phase handlers (PARSE, ROUTE, the key's
 * ADMIT, CACHE, UPSTREAM), reply hooks and finish handlers. */
void gr_proxy_register(void);

#endif
