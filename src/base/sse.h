/* sse.h — incremental Server-Sent Events parser (WHATWG EventSource framing).
 *
 * Bytes arrive in arbitrary pieces; gr_sse_feed() frames them into events and
 * calls the callback once per complete event (blank-line terminated). Lines may
 * end in LF, CRLF or CR, including a CR at the end of one piece and the LF at
 * the start of the next. Comment lines (": ping") are counted and dropped.
 * Multiple data lines join with "\n". An event larger than max_event bytes is
 * an error (GR_ERR_TOO_LARGE), never an unbounded realloc. The parser owns its
 * buffers (grown once, reused across events: no allocation per chunk); the
 * event passed to the callback is valid only during the call. */
#ifndef GR_SSE_H
#define GR_SSE_H

#include "common.h"

typedef struct gr_sse_event {
    gr_str event; /* empty when no "event:" field was given */
    gr_str data;  /* NUL-terminated at data.ptr[data.len] */
    gr_str id;
} gr_sse_event;

/* Return 0 to continue, nonzero to stop parsing (feed returns GR_ERR_INVALID). */
typedef int (*gr_sse_event_cb)(void *ud, const gr_sse_event *ev);

typedef struct gr_sse_parser {
    char *line;
    size_t line_len, line_cap;
    char *data;
    size_t data_len, data_cap;
    char event[64];
    size_t event_len;
    char id[128];
    size_t id_len;
    bool have_data, have_field, last_cr, started;
    size_t max_event;
    uint64_t events, comments;
} gr_sse_parser;

void gr_sse_init(gr_sse_parser *p, size_t max_event);
void gr_sse_dispose(gr_sse_parser *p);
void gr_sse_reset(gr_sse_parser *p);
GR_MUST_CHECK gr_status gr_sse_feed(gr_sse_parser *p, const char *buf, size_t n,
                                    gr_sse_event_cb cb, void *ud);
/* End of input: GR_OK if nothing is pending, GR_AGAIN if a partial event was
 * cut off (the caller decides: per spec it is discarded). */
gr_status gr_sse_finish(gr_sse_parser *p);

#endif
