/* ops_event.c — the one listener of operational events (ops_event.h). */
#include "ops_event.h"

#include <stdatomic.h>

static _Atomic(gr_ops_event_fn) g_listener;

void gr_ops_event_listen(gr_ops_event_fn fn) { atomic_store_explicit(&g_listener, fn, memory_order_release); }

void gr_ops_event_emit(gr_ops_event_kind kind, const char *subject, const char *detail) {
    gr_ops_event_fn fn = atomic_load_explicit(&g_listener, memory_order_acquire);
    if (fn) fn(kind, subject, detail);
}
