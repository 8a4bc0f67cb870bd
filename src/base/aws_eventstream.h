/* aws_eventstream.h — incremental decoder of AWS's binary event-stream
 * framing (content type application/vnd.amazon.eventstream: Bedrock's
 * ConverseStream / InvokeModelWithResponseStream, Transcribe, S3 Select).
 *
 * A message is: a 12-byte prelude (total length, headers length — both
 * big-endian uint32 — and the CRC-32 of those 8 bytes), the headers (name
 * length byte, name, type byte, value: bool true/false carry no value,
 * byte/short/int/long 1/2/4/8 bytes, bytes/string a uint16 length and the
 * bytes, timestamp 8 bytes, uuid 16 bytes), the payload, and the CRC-32 of
 * everything before it. Both CRCs are checked (zlib's crc32); any damage —
 * a bad CRC, a length below 16 or above the cap, headers that overrun their
 * block, an unknown header type — is GR_ERR_PARSE and the decoder stays
 * failed. Bytes arrive in any pieces (one byte at a time included); a
 * message larger than max_message is GR_ERR_TOO_LARGE, never an unbounded
 * realloc. The decoder owns one buffer, grown up to the cap and reused.
 *
 * Each message is handed to the callback as a gr_sse_event, so an adapter
 * reads it like an SSE event (valid only during the call):
 *   :message-type event      -> event = the :event-type header, data = payload
 *   :message-type exception  -> event = ":exception", id = the :exception-type
 *                               header, data = payload (JSON {"message": …})
 *   :message-type error      -> event = ":error", id = the :error-code header,
 *                               data = the :error-message header
 * (a name starting with ':' is never an event type). data is NUL-terminated. */
#ifndef GR_AWS_EVENTSTREAM_H
#define GR_AWS_EVENTSTREAM_H

#include "common.h"
#include "sse.h"

#define GR_EVSTREAM_PRELUDE 12
#define GR_EVSTREAM_MIN_MESSAGE 16

typedef struct gr_evstream {
    unsigned char *buf; /* the message being assembled */
    size_t len, cap;
    size_t need;        /* total length of the current message once the prelude is in, else 0 */
    size_t max_message;
    bool failed;
    char text[512]; /* an error message header, NUL-terminated (cut at 511 bytes) */
    uint64_t messages;
} gr_evstream;

void gr_evstream_init(gr_evstream *d, size_t max_message);
void gr_evstream_dispose(gr_evstream *d);
/* GR_OK after consuming every byte (a partial message is kept for the next
 * piece); GR_ERR_PARSE / GR_ERR_TOO_LARGE on bad framing; GR_ERR_INVALID
 * when the callback returned nonzero. */
GR_MUST_CHECK gr_status gr_evstream_feed(gr_evstream *d, const char *data, size_t n, gr_sse_event_cb cb, void *ud);
/* End of input: GR_OK if no partial message is pending, else GR_AGAIN. */
gr_status gr_evstream_finish(const gr_evstream *d);

#endif
