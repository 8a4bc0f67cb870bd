/* ops_event.h — operational events raised deep in the stack (a breaker
 * opening, a settlement failing) for whoever listens above (features/alerts.c
 * turns them into webhook alerts).
 *
 * The lower layers cannot call a feature, so they call gr_ops_event_emit and
 * the listener installs itself with gr_ops_event_listen at start-up. With no
 * listener an emit is one atomic load. The listener runs on the emitting
 * thread (a worker, the settler) and must only copy and queue: no I/O, no
 * waiting. Emitters call it outside their own locks. */
#ifndef GR_OPS_EVENT_H
#define GR_OPS_EVENT_H

#include "common.h"

typedef enum {
    GR_OPS_BREAKER_OPENED = 0, /* subject: the deployment ("provider/upstream_model") */
    GR_OPS_BREAKER_CLOSED,     /* subject: the deployment; a half-open probe succeeded */
    GR_OPS_SETTLE_FAILED,      /* subject: the request id; detail: what failed */
} gr_ops_event_kind;

typedef void (*gr_ops_event_fn)(gr_ops_event_kind kind, const char *subject, const char *detail);

/* Install (fn) or remove (NULL) the listener. */
void gr_ops_event_listen(gr_ops_event_fn fn);
/* subject and detail are copied by the listener if it keeps them; either may be NULL. */
void gr_ops_event_emit(gr_ops_event_kind kind, const char *subject, const char *detail);

#endif
