/* stream_frames.c — SSE or AWS event-stream framing behind one front (see stream_frames.h). */
#include "stream_frames.h"

#include <strings.h>

void gr_frames_init(gr_frames *f, gr_stream_framing kind, size_t max_event) {
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    if (kind == GR_FRAMING_AWS_EVENTSTREAM) gr_evstream_init(&f->evs, max_event);
    else gr_sse_init(&f->sse, max_event);
}

void gr_frames_dispose(gr_frames *f) {
    if (f->kind == GR_FRAMING_AWS_EVENTSTREAM) gr_evstream_dispose(&f->evs);
    else gr_sse_dispose(&f->sse);
}

gr_status gr_frames_feed(gr_frames *f, const char *data, size_t n, gr_sse_event_cb cb, void *ud) {
    if (f->kind == GR_FRAMING_AWS_EVENTSTREAM) return gr_evstream_feed(&f->evs, data, n, cb, ud);
    return gr_sse_feed(&f->sse, data, n, cb, ud);
}

gr_status gr_frames_finish(gr_frames *f) {
    if (f->kind == GR_FRAMING_AWS_EVENTSTREAM) return gr_evstream_finish(&f->evs);
    return gr_sse_finish(&f->sse);
}

uint64_t gr_frames_comments(const gr_frames *f) { return f->kind == GR_FRAMING_SSE ? f->sse.comments : 0; }

bool gr_frames_is_stream_type(gr_stream_framing kind, const char *content_type) {
    if (!content_type) return false;
    if (kind == GR_FRAMING_AWS_EVENTSTREAM) return strcasestr(content_type, "application/vnd.amazon.eventstream") != NULL;
    return strstr(content_type, "event-stream") != NULL;
}
