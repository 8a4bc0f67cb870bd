/* http_server.h — the gateway's HTTP/1.1 server: accepts client connections
 * on one listening socket of one worker's libevent loop, parses requests with
 * nodejs/http-parser, hands each complete request to the application, and
 * writes its reply (fixed-length or chunked stream) straight to the socket.
 *
 * Why not evhttp: evhttp costs four epoll_ctl and a FIONREAD per request,
 * strdups every header into a malloc'd queue, and does not read from a
 * connection while its request is served (a client hang-up goes unnoticed).
 * Here a keep-alive request on a warm connection costs one read and one
 * writev: the read interest is registered once per connection, write interest
 * only while a reply is queued, headers live in one reused per-connection
 * arena, and an EOF while a request is being served reaches the application
 * at once (the close callback), so it can stop the upstream.
 *
 * Model: one request at a time per connection (pipelined requests wait in
 * the input buffer until the previous reply is queued, and are answered in
 * order). The application owns a gr_client_req from its on_request callback
 * until it ends the reply: gr_client_req_reply(), gr_client_req_reply_end()
 * after gr_client_req_reply_start(), or gr_client_req_release(). If the
 * connection dies meanwhile, the close callback runs (from the loop, never
 * from inside a call into this module) and the request stays valid but
 * detached: replying to it only releases it. The done callback, set once per
 * request, runs exactly once after the reply was ended: when its last byte
 * reached the socket, or when the connection died before that (flushed =
 * false) — drain accounting rests on it. It may run inside the call that
 * ends the reply (everything was written at once, or the client was gone).
 *
 * Limits (gr_http_server_limits): request line + headers over max_header_bytes
 * → 431 and close; a body over max_body_bytes → 413 (before reading it when
 * Content-Length says so; "Expect: 100-continue" is answered accordingly) and
 * close; malformed requests → 400 and close. These errors reach the
 * application like any request (gr_client_req_error() tells them apart), so
 * they are answered in the API's error shape and logged. client_timeout_ms
 * bounds: an idle keep-alive connection; the request line and headers, from
 * their first byte (a client trickling header lines — slowloris — is cut);
 * a body that stops arriving; and a reply the client stops reading. While the application
 * works on a request there is no read timeout (a long generation is bounded
 * by the upstream timeouts). A connection closed after an error or with
 * "Connection: close" is shut down for writing first and its unread input
 * drained for up to linger_ms, so the client sees the reply, not a reset.
 * body_timeout_ms bounds the whole request, from its first byte to the end of
 * its body, however steadily it trickles: past it → 408, refused like the
 * errors above.
 *
 * Accepting: at max_connections open connections the server stops accepting
 * (new connections wait in the kernel's listen backlog) and resumes when one
 * closes. When accept() fails for want of resources (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM: at the descriptor limit) accepting pauses for
 * accept_backoff_ms instead of spinning on the still-readable
 * listening socket, and one warning per pause says how many accepts failed
 * since the previous warning (at most one line per second). */
#ifndef GR_HTTP_SERVER_H
#define GR_HTTP_SERVER_H

#include "common.h"
#include "error_catalogue.h"

struct event_base;
struct evbuffer;
typedef struct gr_http_server gr_http_server;
typedef struct gr_client_req gr_client_req;

typedef struct gr_http_server_limits {
    size_t max_header_bytes;    /* request line + header block */
    size_t max_body_bytes;      /* decoded request body */
    uint32_t client_timeout_ms; /* idle, slow request, stalled reply */
    uint32_t linger_ms;         /* draining input before a close (0 = 2000) */
    uint32_t body_timeout_ms;   /* a request, first byte to end of body, must arrive within this (0 = no limit) */
    uint32_t max_connections;   /* open client connections; at the cap, accepting pauses (0 = no cap) */
    uint32_t accept_backoff_ms; /* accepting pauses this long after EMFILE/ENFILE/ENOBUFS/ENOMEM (0 = 500, as nginx) */
} gr_http_server_limits;

/* Called once per complete request (or per request the server refuses, see
 * gr_client_req_error). The application owns req from here. */
typedef void (*gr_http_on_request)(gr_client_req *req, void *arg);

/* Serves listen_fd (non-blocking, listening; the server closes it) on base.
 * NULL on allocation failure. */
gr_http_server *gr_http_server_new(struct event_base *base, int listen_fd, const gr_http_server_limits *limits,
                                   gr_http_on_request on_request, void *arg);
/* Stops accepting (closes the listening socket), closes idle keep-alive
 * connections now and every other one once its current reply is done
 * (replies then say "Connection: close"). */
void gr_http_server_drain(gr_http_server *s);
/* Closes every connection (requests the application still owns become
 * detached) and frees the server. */
void gr_http_server_free(gr_http_server *s);
/* Open client connections (for tests and metrics). */
size_t gr_http_server_connections(const gr_http_server *s);

/* ---- the request ---- */

/* "GET", "POST", …; "" for a refused request whose request line and
 * headers could not be read (400, 431). A 413 keeps its method and target. */
const char *gr_client_req_method(const gr_client_req *req);
const char *gr_client_req_uri(const gr_client_req *req);    /* request target as sent: path?query */
/* First header of that name (case-insensitive), NUL-terminated; NULL if absent. */
const char *gr_client_req_header(const gr_client_req *req, const char *name);
/* Calls fn for each request header in order; stops when fn returns false. */
void gr_client_req_each_header(const gr_client_req *req, bool (*fn)(const char *name, const char *value, void *arg),
                               void *arg);
/* The decoded body (chunked transfer-coding removed); "" and 0 when none.
 * Valid until the reply is ended. */
const char *gr_client_req_body(const gr_client_req *req, size_t *len);
/* Replaces the body with a malloc'd one (NUL at body[len]) the server then
 * owns, e.g. after decoding a Content-Encoding. */
void gr_client_req_set_body(gr_client_req *req, char *body, size_t len);
/* Non-zero for a request the server refused: 400 (malformed), 408 (not
 * received within body_timeout_ms), 413 (body too large) or 431 (headers too large); *ec (the
 * catalogue's row, error_catalogue.def) and *message (a static string) say why. The
 * application answers it (the connection closes after the reply). */
int gr_client_req_error(const gr_client_req *req, gr_error_code *ec, const char **message);
/* False once the client has gone (the close callback has run or is due). */
bool gr_client_req_connected(const gr_client_req *req);

/* ---- the reply ---- */

/* Adds a response header (copied). CR or LF in name or value are refused
 * (header injection): the header is dropped and false returned. */
bool gr_client_req_add_header(gr_client_req *req, const char *name, const char *value);
/* A complete reply with Content-Length; ends the request. content_type may be
 * NULL (no Content-Type header). HEAD requests get the headers only. */
void gr_client_req_reply(gr_client_req *req, int status, const char *content_type, const void *body, size_t len);
/* Starts a streamed reply: chunked on HTTP/1.1, close-delimited on 1.0. */
void gr_client_req_reply_start(gr_client_req *req, int status, const char *content_type);
/* Sends buf's bytes (drained from buf) as the next chunk: straight to the
 * socket when nothing is queued, else queued in order. Returns the bytes
 * still queued on the connection afterwards (the application pauses its
 * producer when that passes its allowance, see gr_client_req_on_drain). */
size_t gr_client_req_send_chunk(gr_client_req *req, struct evbuffer *buf);
/* Ends a streamed reply (the terminating chunk) and the request. */
void gr_client_req_reply_end(gr_client_req *req);
/* Ends the request without (further) reply: for a detached request, or to
 * abort a live one (the connection is closed). */
void gr_client_req_release(gr_client_req *req);
/* Bytes of reply queued on the connection, not yet taken by the socket. */
size_t gr_client_req_queued(const gr_client_req *req);

/* ---- callbacks (arg is the application's) ---- */

/* The client went away (EOF, reset, write error or write timeout) before the
 * request was ended. Runs from the loop, at most once; the request is then
 * detached. */
void gr_client_req_on_close(gr_client_req *req, void (*cb)(gr_client_req *req, void *arg), void *arg);
/* Runs once, from the loop, when the bytes queued fall to low_water or below
 * (at once — on the next loop turn — if they already are). Replaces an
 * earlier one; cb NULL cancels. */
void gr_client_req_on_drain(gr_client_req *req, size_t low_water, void (*cb)(gr_client_req *req, void *arg),
                            void *arg);
/* Runs exactly once after the request was ended (see the top of this file);
 * req is gone by then, hence only arg. */
void gr_client_req_on_done(gr_client_req *req, void (*cb)(void *arg, bool flushed), void *arg);

#endif
