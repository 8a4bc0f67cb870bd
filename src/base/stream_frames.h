/* stream_frames.h — the framing of an upstream's streamed response, one
 * front for the two in use: Server-Sent Events (OpenAI, Anthropic, Gemini;
 * sse.h) and AWS's binary event stream (Bedrock ConverseStream;
 * aws_eventstream.h). Either way each complete event reaches the callback as
 * a gr_sse_event, so the relay and the adapters do not care which it was.
 * Life cycle: gr_frames_init per streamed response, gr_frames_dispose once.
 * Not thread-safe; one per request. */
#ifndef GR_STREAM_FRAMES_H
#define GR_STREAM_FRAMES_H

#include "aws_eventstream.h"
#include "common.h"
#include "sse.h"

typedef enum gr_stream_framing {
    GR_FRAMING_SSE = 0,        /* text/event-stream */
    GR_FRAMING_AWS_EVENTSTREAM /* application/vnd.amazon.eventstream */
} gr_stream_framing;

typedef struct gr_frames {
    gr_stream_framing kind;
    gr_sse_parser sse;
    gr_evstream evs;
} gr_frames;

/* max_event caps one event (SSE) or one message (event stream). */
void gr_frames_init(gr_frames *f, gr_stream_framing kind, size_t max_event);
void gr_frames_dispose(gr_frames *f);
/* As gr_sse_feed / gr_evstream_feed: GR_OK (or GR_AGAIN) to go on; GR_ERR_TOO_LARGE,
 * GR_ERR_NOMEM, GR_ERR_PARSE on bad framing; GR_ERR_INVALID when cb stopped. */
GR_MUST_CHECK gr_status gr_frames_feed(gr_frames *f, const char *data, size_t n, gr_sse_event_cb cb, void *ud);
/* End of input: GR_OK, or GR_AGAIN when a partial event was cut off. */
gr_status gr_frames_finish(gr_frames *f);
/* SSE comment lines (": ping" keep-alives) seen so far; 0 for event streams. */
uint64_t gr_frames_comments(const gr_frames *f);
/* Whether an upstream content type is this framing's stream. */
bool gr_frames_is_stream_type(gr_stream_framing kind, const char *content_type);

#endif
