/* api_feedback.h — POST /v1/feedback: a caller rates one of its generations
 * {"id": "<generation id>", "score": 0..1, "comment"?: string}. A virtual or
 * static key rates only generations made with it (any other id is 404, as an
 * unknown one: no existence leak); the admin key rates any. One rating per
 * generation: a second replaces the first and is counted once. Stored on the
 * store executor (store.h feedback_put) with the generation's auto decision
 * (served model, skill mixture) so routing.auto.learning can use it
 * (route_learn.h). Also registers the ledger filler that records that
 * decision with every auto request's ledger row. */
#ifndef GR_API_FEEDBACK_H
#define GR_API_FEEDBACK_H

#include "request.h"

/* The endpoint (endpoints.c row, auth OPEN: this handler authenticates). */
void gr_api_feedback_handle(gr_request *r);
/* The ledger filler (feature_list.c). */
void gr_api_feedback_register(void);

#endif
