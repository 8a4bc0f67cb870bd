/* loop_test_util.h — bounded event-loop driving for the unit tests that run
 * real sockets on a libevent loop (test_upstream, test_http_server): run the
 * loop until a predicate holds or a deadline passes, so no test can hang. */
#ifndef GR_LOOP_TEST_UTIL_H
#define GR_LOOP_TEST_UTIL_H

#include <stdbool.h>
#include <event2/event.h>

static inline void gr_test_flag_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    *(bool *)arg = true;
}

/* Runs base until pred(arg) or ms elapsed; returns pred(arg) (false when pred is NULL). */
static inline bool gr_test_run_until(struct event_base *base, bool (*pred)(void *), void *arg, unsigned ms) {
    bool fired = false;
    struct event *ev = evtimer_new(base, gr_test_flag_cb, &fired);
    struct timeval tv = {ms / 1000, (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ev, &tv);
    while (!(pred && pred(arg)) && !fired) event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    return pred && pred(arg);
}

#endif
