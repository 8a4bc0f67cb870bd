/* worker.c — a worker's request accounting for drains (see worker.h). */
#include "worker.h"

#include <event2/event.h>

/* A drain ends when no request is alive AND every reply has reached its
 * socket: exiting at the first condition alone truncates streams that were
 * finished but not yet flushed. */
void gr_worker_maybe_drained(gr_worker *w) {
    if (atomic_load(&w->draining) && atomic_load(&w->inflight) == 0 && atomic_load(&w->unflushed) <= 0)
        event_base_loopexit(w->base, NULL);
}

void gr_worker_request_done(gr_worker *w) {
    atomic_fetch_sub_explicit(&w->inflight, 1, memory_order_relaxed);
    gr_worker_maybe_drained(w);
}

void gr_worker_reply_flushed(gr_worker *w) {
    atomic_fetch_sub_explicit(&w->unflushed, 1, memory_order_relaxed);
    gr_worker_maybe_drained(w);
}
