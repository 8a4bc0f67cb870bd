/* route_embed_call.h — the embeddings signal on the request path
 * (route_embed_call.c): for `auto` requests with routing.auto.embeddings,
 * the question's embedding (cached per worker thread, else asked of the
 * embeddings model asynchronously with a deadline) and its neighbours'
 * per-model estimate, left on the request for the decision. */
#ifndef GR_ROUTE_EMBED_CALL_H
#define GR_ROUTE_EMBED_CALL_H

#include "request.h"

/* Registers the ROUTE-phase handler (before the decision's) and its finish step. */
void gr_route_embed_call_register(void);

#endif
