/* http_server.c — the gateway's HTTP/1.1 server (see http_server.h): accept,
 * parse (nodejs/http-parser), dispatch one request at a time per connection,
 * write replies straight to the socket, timeouts, limits, lingering close.
 *
 * One struct conn per client connection; the gr_client_req handed to the
 * application is embedded in it, so the conn outlives its socket while the
 * application still owns the request (detached). Input is read into a fixed
 * buffer the parser consumes at once: header bytes are copied into a reused
 * per-connection arena ("name\0value\0…"), the body into a reused body
 * buffer, so nothing but pipelined bytes stays in the input buffer. Output
 * goes out with writev when nothing is queued; what the socket does not take
 * waits in an evbuffer with write interest enabled until it drains.
 *
 * Re-entrancy: application callbacks run inside enter()/leave(); a conn that
 * must be freed while a frame still uses it is freed by the outermost leave(). */
#include "http_server.h"

#include "http_reply.h"
#include "log.h"
#include "text_out.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define IN_CAP 16384u           /* input buffer: only unparsed bytes live here */
#define ACCEPTS_PER_WAKEUP 1024 /* a burst is accepted at once: measured, 64 per wakeup left 1,000 simultaneous streams queued behind the first ones (TTFT stalls) */
#define KEEP_BUF_BYTES 65536u   /* buffers larger than this are freed between requests */
#define LINGER_MAX_BYTES (1u << 20)

typedef enum {
    ST_READING,    /* waiting for (the rest of) a request */
    ST_APP,        /* the application owns the request, nothing sent yet */
    ST_STREAMING,  /* the application owns it, a streamed reply is open */
    ST_FLUSHING,   /* the reply was ended; its bytes are still queued */
    ST_LINGER,     /* shut down for writing, discarding input until EOF */
} conn_state;

typedef struct hdr_ref {
    uint32_t name, value; /* offsets into the arena, NUL-terminated */
} hdr_ref;

typedef struct conn conn;

struct gr_client_req {
    conn *c;
};

struct conn {
    gr_http_server *srv; /* NULL once the server is gone (a detached request outlived it) */
    conn *prev, *next;
    int fd;
    conn_state state;
    struct event *rev, *wev, *tick;
    bool reading, writing, dead, close_after, head, http10, chunked_reply, refused, line_ok;
    bool broken;                 /* a write failed: closed on the next tick, writes are dropped */
    bool tick_close, tick_drain; /* deferred work for the next tick */
    unsigned busy;               /* frames using this conn (enter/leave) */
    bool free_pending;
    bool parsing;                /* inside parse(): it resumes after a synchronous reply */
    http_parser parser;
    bool last_was_value, in_headers;
    bool msg_begun; /* the parser saw the first byte of a request since the last reply */
    uint64_t last_read_us, last_write_us, linger_until_us;
    uint64_t req_start_us; /* first byte of the request being read: headers must be complete within the timeout */
    size_t linger_bytes;

    char *in; /* unparsed input kept between reads (pipelined or partial); NULL when none */
    size_t in_len;

    char *arena; /* url\0 name\0value\0 … */
    size_t ar_len, ar_cap;
    hdr_ref *hdrs;
    size_t nhdrs, hdrs_cap;
    size_t header_bytes;
    char *body;
    size_t body_len, body_cap;

    char *oh; /* response headers added by the application */
    size_t oh_len, oh_cap;
    struct evbuffer *out;

    int err_status;
    gr_error_code err_code; /* why it was refused (err_status != 0) */
    const char *err_msg;

    gr_client_req req;
    void (*close_cb)(gr_client_req *, void *);
    void *close_arg;
    void (*drain_cb)(gr_client_req *, void *);
    void *drain_arg;
    size_t drain_low;
    void (*done_cb)(void *, bool);
    void *done_arg;
};

struct gr_http_server {
    struct event_base *base;
    int listen_fd;
    struct event *accept_ev;
    bool accepting;           /* accept_ev is added */
    struct event *backoff_ev; /* re-enables accepting after a resource failure */
    bool backing_off;
    uint64_t accept_failures; /* failed accepts since the last warning */
    uint64_t accept_warned_us;
    gr_http_server_limits lim;
    gr_http_on_request on_request;
    void *arg;
    conn *conns;
    size_t nconns;
    bool draining;
    char scratch[IN_CAP]; /* every read lands here first; only unparsed bytes are copied out */
    time_t date_sec;
    char date_line[48]; /* "Date: Wed, 25 Nov 2026 22:05:00 GMT\r\n" */
};

static void conn_close(conn *c);
static void request_complete(conn *c);
static void set_accepting(gr_http_server *s, bool on);
static void tick_arm(conn *c, uint64_t in_us);

/* ---- growable buffers ---- */

static void grow(char **buf, size_t *cap, size_t need) {
    if (need <= *cap) return;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    *buf = gr_xrealloc(*buf, n);
    *cap = n;
}

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    grow(buf, cap, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* ---- lifetime ---- */

static void enter(conn *c) { c->busy++; }

static void conn_free(conn *c) {
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->tick) event_free(c->tick);
    if (c->out) evbuffer_free(c->out);
    free(c->in);
    free(c->arena);
    free(c->hdrs);
    free(c->body);
    free(c->oh);
    free(c);
}

static void leave(conn *c) {
    if (--c->busy == 0 && c->free_pending) conn_free(c);
}

static void unlink_conn(conn *c) {
    gr_http_server *s = c->srv;
    if (!s) return;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconns--;
    c->srv = NULL;
    if (!s->accepting) set_accepting(s, true); /* below the cap again */
}

static void release_conn(conn *c) {
    unlink_conn(c);
    if (c->busy) c->free_pending = true;
    else conn_free(c);
}

static bool app_owns(const conn *c) { return c->state == ST_APP || c->state == ST_STREAMING; }

static void fire_done(conn *c, bool flushed) {
    void (*cb)(void *, bool) = c->done_cb;
    c->done_cb = NULL;
    if (cb) cb(c->done_arg, flushed);
}

/* The socket is gone (EOF, error, timeout, or the server closing). */
static void socket_close(conn *c) {
    if (c->fd < 0) return;
    if (c->rev) event_del(c->rev);
    if (c->wev) event_del(c->wev);
    if (c->tick) event_del(c->tick);
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    c->reading = c->writing = false;
    if (c->out) evbuffer_drain(c->out, evbuffer_get_length(c->out));
}

/* Closes the connection. A request the application owns becomes detached
 * (its close callback runs on the next tick — or, if set later, on the tick
 * after gr_client_req_on_close); otherwise the conn is freed. */
static void conn_close(conn *c) {
    socket_close(c);
    if (app_owns(c)) {
        if (c->close_cb) {
            c->tick_close = true;
            if (c->tick) event_active(c->tick, EV_TIMEOUT, 1);
        }
        unlink_conn(c); /* the server no longer tracks it; the app releases it */
        return;
    }
    if (c->state == ST_FLUSHING) fire_done(c, false);
    release_conn(c);
}

/* ---- timers and deferred work ---- */

static void tick_arm(conn *c, uint64_t in_us) {
    if (!c->tick || c->fd < 0) return;
    struct timeval tv = {(time_t)(in_us / 1000000), (suseconds_t)(in_us % 1000000)};
    event_add(c->tick, &tv);
}

static uint64_t timeout_us(const conn *c) {
    return (uint64_t)(c->srv ? c->srv->lim.client_timeout_ms : 60000) * 1000;
}

static size_t queued(const conn *c) { return c->out ? evbuffer_get_length(c->out) : 0; }

/* While a body is being read: when the whole request must have arrived
 * (body_timeout_ms from its first byte); 0 = no such deadline. */
static uint64_t body_deadline_us(const conn *c) {
    if (!c->srv || !c->srv->lim.body_timeout_ms || !c->msg_begun || c->in_headers || c->state != ST_READING) return 0;
    return c->req_start_us + (uint64_t)c->srv->lim.body_timeout_ms * 1000;
}

static void dispatch(conn *c);
static void refuse(conn *c, gr_error_code ec, const char *msg);

/* The body did not arrive in time: a 408 the application answers in the
 * API's shape, then the connection closes (the rest of the body is drained
 * while lingering). */
static void body_timed_out(conn *c) {
    refuse(c, GR_EC_REQUEST_TIMEOUT, "The request body was not received within server.body_timeout_ms.");
    c->refused = true;
    c->body_len = 0;
    dispatch(c);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    conn *c = arg;
    enter(c);
    if (c->broken && !c->dead) conn_close(c);
    if (c->tick_close) {
        c->tick_close = false;
        void (*cb)(gr_client_req *, void *) = c->close_cb;
        c->close_cb = NULL;
        c->drain_cb = NULL;
        if (cb && app_owns(c)) cb(&c->req, c->close_arg);
        leave(c);
        return;
    }
    if (c->tick_drain) {
        c->tick_drain = false;
        void (*cb)(gr_client_req *, void *) = c->drain_cb;
        if (cb && !c->dead && queued(c) <= c->drain_low) {
            c->drain_cb = NULL;
            cb(&c->req, c->drain_arg);
        }
    }
    if (c->dead || c->free_pending) {
        leave(c);
        return;
    }
    uint64_t now = gr_now_us(), to = timeout_us(c);
    switch (c->state) {
    case ST_READING: {
        /* Idle, or a body that stopped arriving: no byte for the timeout.
         * Headers: all of them within the timeout from the first byte, so a
         * client trickling a header line now and then (slowloris) is cut. */
        uint64_t since = c->in_headers ? c->req_start_us : c->last_read_us;
        uint64_t deadline = since + to, body_deadline = body_deadline_us(c);
        if (body_deadline && now >= body_deadline) {
            body_timed_out(c);
            break;
        }
        if (now - since >= to) {
            conn_close(c);
            break;
        }
        if (body_deadline && body_deadline < deadline) deadline = body_deadline;
        tick_arm(c, deadline - now);
        break;
    }
    case ST_APP:
    case ST_STREAMING:
    case ST_FLUSHING:
        if (queued(c)) { /* a reply the client stopped reading */
            if (now - c->last_write_us >= to) {
                GR_DEBUG("http: client stopped reading for %u ms; closing", (unsigned)(to / 1000));
                conn_close(c);
                break;
            }
            tick_arm(c, c->last_write_us + to - now);
        } else if (c->state == ST_APP || c->state == ST_STREAMING) {
            /* no read timeout while the application works: nothing to arm */
        }
        break;
    case ST_LINGER:
        if (now >= c->linger_until_us) conn_close(c);
        else tick_arm(c, c->linger_until_us - now);
        break;
    }
    leave(c);
}

static void defer(conn *c) {
    if (c->tick && c->fd >= 0) event_active(c->tick, EV_TIMEOUT, 1);
}

/* ---- writing ---- */

static void mark_broken(conn *c) {
    /* A write failed: the client is gone. Never close synchronously inside a
     * call from the application: mark, and let the next tick close it. */
    c->broken = true;
    if (c->out) evbuffer_drain(c->out, evbuffer_get_length(c->out));
    defer(c);
}

static void want_write(conn *c) {
    if (!c->writing && c->fd >= 0) {
        event_add(c->wev, NULL);
        c->writing = true;
        c->last_write_us = gr_now_us();
        tick_arm(c, timeout_us(c));
    }
}

/* Writes iov (all of it, in order): straight to the socket when nothing is
 * queued, the rest queued. */
static void write_iov(conn *c, struct iovec *iov, int n) {
    if (c->fd < 0 || c->broken) return;
    size_t skip = 0;
    if (!queued(c)) {
        ssize_t w;
        do w = writev(c->fd, iov, n);
        while (w < 0 && errno == EINTR);
        if (w < 0) {
            if (errno != EAGAIN) {
                mark_broken(c);
                return;
            }
            w = 0;
        }
        skip = (size_t)w;
        c->last_write_us = gr_now_us();
    }
    bool rest = false;
    for (int i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        if (!c->out) c->out = evbuffer_new();
        evbuffer_add(c->out, (const char *)iov[i].iov_base + skip, iov[i].iov_len - skip);
        skip = 0;
        rest = true;
    }
    if (rest) want_write(c);
}

static void check_drain(conn *c) {
    if (c->drain_cb && queued(c) <= c->drain_low) {
        c->tick_drain = true;
        defer(c);
    }
}

static void write_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    conn *c = arg;
    enter(c);
    while (queued(c)) {
        int w = evbuffer_write(c->out, fd);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN) {
                conn_close(c);
                leave(c);
                return;
            }
            break;
        }
        if (w == 0) break;
        c->last_write_us = gr_now_us();
    }
    if (!queued(c)) {
        event_del(c->wev);
        c->writing = false;
        if (c->state == ST_FLUSHING) request_complete(c);
    }
    if (!c->dead && c->drain_cb && queued(c) <= c->drain_low) {
        void (*cb)(gr_client_req *, void *) = c->drain_cb;
        c->drain_cb = NULL;
        cb(&c->req, c->drain_arg);
    }
    leave(c);
}

/* ---- reading and parsing ---- */

static conn *of(http_parser *p) { return p->data; }

static void refuse(conn *c, gr_error_code ec, const char *msg) {
    if (!c->err_status) {
        c->err_status = gr_error_catalogue_row(ec)->status;
        c->err_code = ec;
        c->err_msg = msg;
        c->line_ok = c->msg_begun && !c->in_headers; /* method and target known */
    }
}

/* Request line and header bytes count against max_header_bytes. */
static int count_header_bytes(conn *c, size_t n) {
    c->header_bytes += n;
    if (c->srv && c->header_bytes > c->srv->lim.max_header_bytes) {
        refuse(c, GR_EC_HEADERS_TOO_LARGE, "The request line and headers exceed server.max_header_bytes.");
        return -1;
    }
    return 0;
}

/* The arena holds "" at offset 0, the request target at 1, then each header
 * as name\0value\0. Pieces split across reads simply append. */
static void arena_put(conn *c, const char *at, size_t n) { append(&c->arena, &c->ar_len, &c->ar_cap, at, n); }

static void arena_end_piece(conn *c) {
    grow(&c->arena, &c->ar_cap, c->ar_len + 2);
    c->arena[c->ar_len++] = '\0';
    c->arena[c->ar_len] = '\0';
}

static void arena_reset(conn *c) {
    c->ar_len = 0;
    c->nhdrs = 0;
    arena_end_piece(c); /* offset 0: "" */
}

static int on_message_begin(http_parser *p) {
    conn *c = of(p);
    arena_reset(c);
    c->req_start_us = gr_now_us();
    c->header_bytes = 0;
    c->body_len = 0;
    c->last_was_value = false;
    c->in_headers = true;
    c->msg_begun = true;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
    conn *c = of(p);
    if (count_header_bytes(c, n)) return -1;
    arena_put(c, at, n);
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
    conn *c = of(p);
    if (c->last_was_value || c->nhdrs == 0) { /* a new header */
        if (count_header_bytes(c, 4)) return -1; /* ": " and CRLF */
        if (c->nhdrs == c->hdrs_cap) {
            c->hdrs_cap = c->hdrs_cap ? c->hdrs_cap * 2 : 16;
            c->hdrs = gr_xrealloc(c->hdrs, c->hdrs_cap * sizeof(*c->hdrs));
        }
        arena_end_piece(c); /* ends the target or the previous value */
        c->hdrs[c->nhdrs].name = (uint32_t)c->ar_len;
        c->hdrs[c->nhdrs].value = 0;
        c->nhdrs++;
        c->last_was_value = false;
    }
    if (count_header_bytes(c, n)) return -1;
    arena_put(c, at, n);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
    conn *c = of(p);
    if (count_header_bytes(c, n)) return -1;
    if (!c->nhdrs) return 0;
    if (!c->last_was_value) {
        arena_end_piece(c); /* ends the name */
        c->hdrs[c->nhdrs - 1].value = (uint32_t)c->ar_len;
        c->last_was_value = true;
    }
    arena_put(c, at, n);
    return 0;
}

static const char *arena_str(const conn *c, uint32_t off) { return c->arena + off; }

static const char *find_header(const conn *c, const char *name) {
    for (size_t i = 0; i < c->nhdrs; i++)
        if (c->hdrs[i].value && !strcasecmp(arena_str(c, c->hdrs[i].name), name)) return arena_str(c, c->hdrs[i].value);
    return NULL;
}

static int on_headers_complete(http_parser *p) {
    conn *c = of(p);
    if (c->nhdrs && !c->last_was_value) { /* a name without a value */
        arena_end_piece(c);
        c->hdrs[c->nhdrs - 1].value = (uint32_t)c->ar_len;
    }
    arena_end_piece(c);
    c->in_headers = false;
    c->head = p->method == HTTP_HEAD;
    c->http10 = p->http_major == 1 && p->http_minor == 0;
    /* RFC 9112 §3.2: an HTTP/1.1 request without Host, or with more than one, is answered 400 */
    size_t hosts = 0;
    for (size_t i = 0; i < c->nhdrs; i++) hosts += !strcasecmp(arena_str(c, c->hdrs[i].name), "Host");
    if (hosts > 1 || (hosts == 0 && p->http_major == 1 && p->http_minor >= 1)) {
        refuse(c, GR_EC_INVALID_HOST_HEADER,
               hosts ? "The request has more than one Host header." : "HTTP/1.1 requests must carry a Host header.");
        return -1;
    }
    const gr_http_server_limits *lim = c->srv ? &c->srv->lim : NULL;
    if (lim && (p->flags & F_CONTENTLENGTH) && p->content_length > lim->max_body_bytes) {
        refuse(c, GR_EC_REQUEST_TOO_LARGE, "The request body exceeds server.max_body_bytes.");
        return -1; /* the body is not read: the connection closes after the 413 */
    }
    const char *expect = find_header(c, "Expect");
    if (expect && !strcasecmp(expect, "100-continue") && !c->http10 && !queued(c)) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov = {(void *)cont, sizeof cont - 1};
        write_iov(c, &iov, 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n) {
    conn *c = of(p);
    if (c->srv && c->body_len + n > c->srv->lim.max_body_bytes) {
        refuse(c, GR_EC_REQUEST_TOO_LARGE, "The request body exceeds server.max_body_bytes.");
        return -1;
    }
    grow(&c->body, &c->body_cap, c->body_len + n + 1);
    memcpy(c->body + c->body_len, at, n);
    c->body_len += n;
    c->body[c->body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p) {
    http_parser_pause(p, 1); /* one request at a time: the rest waits */
    return 0;
}

static const http_parser_settings k_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

static void dispatch(conn *c) {
    c->state = ST_APP;
    c->close_after = c->close_after || c->refused || !http_should_keep_alive(&c->parser) ||
                     (c->srv && c->srv->draining);
    gr_http_server *s = c->srv;
    if (s) s->on_request(&c->req, s->arg);
}

/* Parses data; dispatches each complete request, and goes on with the next
 * (pipelined) one while the application answers synchronously. Returns the
 * bytes consumed: the rest waits for the current request's reply. */
static size_t parse(conn *c, const char *data, size_t len) {
    size_t off = 0;
    c->parsing = true;
    while (off < len && c->state == ST_READING && !c->dead && !c->free_pending) {
        size_t used = http_parser_execute(&c->parser, &k_settings, data + off, len - off);
        enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
        off += used < len - off ? used : len - off;
        if (err == HPE_PAUSED) {
            http_parser_pause(&c->parser, 0);
            if (c->parser.upgrade) c->close_after = true; /* no protocol switch here */
            dispatch(c);
            continue;
        }
        if (err != HPE_OK) {
            if (!c->err_status) {
                if (err == HPE_HEADER_OVERFLOW)
                    refuse(c, GR_EC_HEADERS_TOO_LARGE, "The request line and headers exceed the server's limit.");
                else
                    refuse(c, GR_EC_INVALID_HTTP, "The request is not valid HTTP/1.1.");
            }
            c->refused = true;
            if (!c->line_ok) arena_reset(c), arena_end_piece(c);
            c->body_len = 0;
            off = len; /* nothing after a refused request is read */
            dispatch(c);
            break;
        }
        if (!used) break;
    }
    c->parsing = false;
    return off;
}

/* Keeps the unparsed tail of data (not already in c->in) for later. */
static void keep_input(conn *c, const char *data, size_t len) {
    if (!len || c->dead || c->free_pending) return;
    if (!c->in) c->in = gr_xmalloc(IN_CAP);
    memcpy(c->in + c->in_len, data, len);
    c->in_len += len;
}

/* Parses what c->in holds (pipelined input), keeping what is not consumed. */
static void parse_kept(conn *c) {
    size_t used = parse(c, c->in, c->in_len);
    if (c->dead || c->free_pending) return;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    if (!c->in_len) {
        free(c->in);
        c->in = NULL;
    }
}

static void read_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    conn *c = arg;
    enter(c);
    if (c->state == ST_LINGER) {
        char sink[4096];
        ssize_t n;
        while ((n = read(fd, sink, sizeof sink)) > 0) c->linger_bytes += (size_t)n;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) || c->linger_bytes > LINGER_MAX_BYTES)
            conn_close(c);
        leave(c);
        return;
    }
    if (c->in_len && c->state == ST_READING) parse_kept(c); /* pipelined input first */
    bool eof = false;
    while (!c->dead && !c->free_pending) {
        bool direct = !c->in_len && c->state == ST_READING && c->srv;
        char *dst = direct ? c->srv->scratch : NULL;
        size_t room = IN_CAP;
        if (!direct) {
            if (c->in_len >= IN_CAP) { /* pipelined bytes fill the buffer: stop reading until it empties */
                if (c->reading) event_del(c->rev);
                c->reading = false;
                break;
            }
            if (!c->in) c->in = gr_xmalloc(IN_CAP);
            dst = c->in + c->in_len;
            room = IN_CAP - c->in_len;
        }
        ssize_t n = read(fd, dst, room);
        if (n > 0) {
            c->last_read_us = gr_now_us();
            if (direct) {
                size_t used = parse(c, dst, (size_t)n);
                keep_input(c, dst + used, (size_t)n - used);
            } else {
                c->in_len += (size_t)n;
                if (c->state == ST_READING) parse_kept(c);
            }
            if ((size_t)n < room) break; /* the socket had no more */
            continue;
        }
        if (n == 0) eof = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN) eof = true;
        break;
    }
    if (c->in && !c->in_len) {
        free(c->in);
        c->in = NULL;
    }
    uint64_t body_deadline = body_deadline_us(c); /* a body still arriving: only then a timer to move */
    if (body_deadline && !c->dead && !c->free_pending) {
        uint64_t now = gr_now_us(), idle = c->last_read_us + timeout_us(c);
        uint64_t at = body_deadline < idle ? body_deadline : idle;
        tick_arm(c, at > now ? at - now : 0);
    }
    if (eof && !c->dead && !c->free_pending) {
        if (c->state == ST_FLUSHING) { /* half-closed after its request: finish writing, then close */
            c->close_after = true;
            if (c->reading) event_del(c->rev);
            c->reading = false;
        } else {
            conn_close(c); /* idle, mid-request, or a request being served: the application hears of it */
        }
    }
    leave(c);
}

/* ---- after a reply ---- */

static void start_linger(conn *c) {
    shutdown(c->fd, SHUT_WR);
    c->state = ST_LINGER;
    c->linger_bytes = 0;
    uint32_t ms = c->srv && c->srv->lim.linger_ms ? c->srv->lim.linger_ms : 2000;
    c->linger_until_us = gr_now_us() + (uint64_t)ms * 1000;
    if (!c->reading) {
        event_add(c->rev, NULL);
        c->reading = true;
    }
    tick_arm(c, (uint64_t)ms * 1000);
}

static void reset_for_next(conn *c) {
    c->state = ST_READING;
    c->refused = false;
    c->in_headers = false;
    c->msg_begun = false;
    c->err_status = 0;
    c->oh_len = 0;
    c->chunked_reply = false;
    c->close_cb = NULL;
    c->drain_cb = NULL;
    c->tick_drain = false;
    if (c->body_cap > KEEP_BUF_BYTES) {
        free(c->body);
        c->body = NULL;
        c->body_cap = 0;
    }
    if (c->ar_cap > KEEP_BUF_BYTES) {
        free(c->arena);
        c->arena = NULL;
        c->ar_cap = 0;
    }
    c->body_len = 0;
    c->last_read_us = gr_now_us(); /* the idle timeout counts from the reply */
}

/* The reply's last byte reached the socket. */
static void request_complete(conn *c) {
    fire_done(c, true);
    if (c->dead) return;
    if (c->close_after || c->broken) {
        start_linger(c);
        return;
    }
    reset_for_next(c);
    if (!c->reading) {
        event_add(c->rev, NULL);
        c->reading = true;
    }
    tick_arm(c, timeout_us(c));
    if (c->in_len && !c->parsing) event_active(c->rev, EV_READ, 1); /* a pipelined request waits */
}

/* The application ended the request. */
static void request_ended(conn *c) {
    c->drain_cb = NULL;
    if (c->dead) { /* detached: nothing to send */
        c->state = ST_FLUSHING;
        fire_done(c, false);
        release_conn(c);
        return;
    }
    c->state = ST_FLUSHING;
    if (!queued(c)) request_complete(c);
}

/* ---- accepting ---- */

/* server.max_connections (this worker's share) reached; 0 = no cap. */
static bool at_conn_cap(const gr_http_server *s) {
    return s->lim.max_connections && s->nconns >= s->lim.max_connections;
}

/* Accepting on or off. Off at the connection cap, while backing off after a
 * resource failure and once draining; on again when none of these holds. */
static void set_accepting(gr_http_server *s, bool on) {
    if (!s->accept_ev) return;
    if (on && (s->draining || s->backing_off || at_conn_cap(s))) on = false;
    if (on == s->accepting) return;
    if (on) event_add(s->accept_ev, NULL);
    else event_del(s->accept_ev);
    s->accepting = on;
}

static void backoff_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    gr_http_server *s = arg;
    s->backing_off = false;
    set_accepting(s, true);
}

/* accept() failed for want of a descriptor or memory: the pending connection
 * stays in the backlog and the socket stays readable, so retrying at once
 * would spin. Pause, and warn at most once a second with a count. */
static void accept_backoff(gr_http_server *s, int err) {
    uint32_t backoff_ms = s->lim.accept_backoff_ms ? s->lim.accept_backoff_ms : 500;
    s->accept_failures++;
    uint64_t now = gr_now_us();
    if (!s->accept_warned_us || now - s->accept_warned_us >= 1000000) {
        GR_WARN("http: accept: %s; accepting paused for %d ms (%llu failed accepts since the last warning, %zu connections open)",
                strerror(err), backoff_ms, (unsigned long long)s->accept_failures, s->nconns);
        s->accept_failures = 0;
        s->accept_warned_us = now;
    }
    s->backing_off = true;
    set_accepting(s, false);
    struct timeval tv = {backoff_ms / 1000, (backoff_ms % 1000) * 1000};
    evtimer_add(s->backoff_ev, &tv);
}

static void accept_cb(evutil_socket_t lfd, short what, void *arg) {
    (void)what;
    gr_http_server *s = arg;
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        if (at_conn_cap(s)) {
            set_accepting(s, false); /* the rest wait in the backlog until a connection closes */
            return;
        }
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) accept_backoff(s, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK) GR_WARN("http: accept: %s", strerror(errno));
            return;
        }
        conn *c = gr_xcalloc(1, sizeof *c);
        c->srv = s;
        c->fd = fd;
        c->req.c = c;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        c->rev = event_new(s->base, fd, EV_READ | EV_PERSIST, read_cb, c);
        c->wev = event_new(s->base, fd, EV_WRITE | EV_PERSIST, write_cb, c);
        c->tick = evtimer_new(s->base, tick_cb, c);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        s->nconns++;
        c->last_read_us = gr_now_us();
        event_add(c->rev, NULL);
        c->reading = true;
        tick_arm(c, timeout_us(c));
    }
}

gr_http_server *gr_http_server_new(struct event_base *base, int listen_fd, const gr_http_server_limits *limits,
                                   gr_http_on_request on_request, void *arg) {
    gr_http_server *s = gr_xcalloc(1, sizeof *s);
    s->base = base;
    s->listen_fd = listen_fd;
    s->lim = *limits;
    if (!s->lim.client_timeout_ms) s->lim.client_timeout_ms = 60000;
    s->on_request = on_request;
    s->arg = arg;
    s->accept_ev = event_new(base, listen_fd, EV_READ | EV_PERSIST, accept_cb, s);
    s->backoff_ev = evtimer_new(base, backoff_cb, s);
    if (!s->accept_ev || !s->backoff_ev || event_add(s->accept_ev, NULL)) {
        if (s->accept_ev) event_free(s->accept_ev);
        if (s->backoff_ev) event_free(s->backoff_ev);
        free(s);
        return NULL;
    }
    s->accepting = true;
    return s;
}

static void stop_accepting(gr_http_server *s) {
    if (s->accept_ev) {
        event_free(s->accept_ev);
        s->accept_ev = NULL;
    }
    if (s->backoff_ev) {
        event_free(s->backoff_ev);
        s->backoff_ev = NULL;
    }
    s->accepting = false;
    if (s->listen_fd >= 0) close(s->listen_fd);
    s->listen_fd = -1;
}

void gr_http_server_drain(gr_http_server *s) {
    s->draining = true;
    stop_accepting(s);
    conn *c = s->conns;
    while (c) {
        conn *next = c->next;
        if (c->state == ST_READING && !c->in_len && !c->msg_begun && !c->busy) conn_close(c); /* idle keep-alive */
        else c->close_after = true;
        c = next;
    }
}

void gr_http_server_free(gr_http_server *s) {
    if (!s) return;
    stop_accepting(s);
    while (s->conns) {
        conn *c = s->conns;
        bool owned = app_owns(c);
        socket_close(c);
        unlink_conn(c);
        if (!owned) {
            if (c->state == ST_FLUSHING) fire_done(c, false);
            if (c->busy) c->free_pending = true;
            else conn_free(c);
        } else {
            /* detached; the application's release frees it. Its events
             * belong to the base that is going away: drop them now. */
            event_free(c->rev), c->rev = NULL;
            event_free(c->wev), c->wev = NULL;
            event_free(c->tick), c->tick = NULL;
        }
    }
    free(s);
}

size_t gr_http_server_connections(const gr_http_server *s) { return s->nconns; }

/* ---- request accessors ---- */

const char *gr_client_req_method(const gr_client_req *req) {
    const conn *c = req->c;
    if (c->refused && !c->line_ok) return "";
    return http_method_str((enum http_method)c->parser.method);
}

const char *gr_client_req_uri(const gr_client_req *req) {
    const conn *c = req->c;
    return c->ar_len > 1 ? c->arena + 1 : "";
}

const char *gr_client_req_header(const gr_client_req *req, const char *name) { return find_header(req->c, name); }

void gr_client_req_each_header(const gr_client_req *req, bool (*fn)(const char *name, const char *value, void *arg),
                               void *arg) {
    const conn *c = req->c;
    for (size_t i = 0; i < c->nhdrs; i++)
        if (c->hdrs[i].value && !fn(arena_str(c, c->hdrs[i].name), arena_str(c, c->hdrs[i].value), arg)) return;
}

const char *gr_client_req_body(const gr_client_req *req, size_t *len) {
    const conn *c = req->c;
    *len = c->body_len;
    return c->body_len ? c->body : "";
}

void gr_client_req_set_body(gr_client_req *req, char *body, size_t len) {
    conn *c = req->c;
    free(c->body);
    c->body = body;
    c->body_len = len;
    c->body_cap = len + 1;
}

int gr_client_req_error(const gr_client_req *req, gr_error_code *ec, const char **message) {
    const conn *c = req->c;
    if (!c->refused) return 0;
    if (ec) *ec = c->err_code;
    if (message) *message = c->err_msg;
    return c->err_status;
}

bool gr_client_req_connected(const gr_client_req *req) {
    const conn *c = req->c;
    return !c->dead && !c->broken;
}

size_t gr_client_req_queued(const gr_client_req *req) { return queued(req->c); }

/* ---- replies ---- */

static bool header_safe(const char *s) {
    for (; *s; s++)
        if (*s == '\r' || *s == '\n') return false;
    return true;
}

bool gr_client_req_add_header(gr_client_req *req, const char *name, const char *value) {
    conn *c = req->c;
    if (!header_safe(name) || !header_safe(value) || !*name) {
        GR_WARN("http: response header %s dropped: CR/LF in it", name);
        return false;
    }
    size_t nl = strlen(name), vl = strlen(value);
    grow(&c->oh, &c->oh_cap, c->oh_len + nl + vl + 5);
    memcpy(c->oh + c->oh_len, name, nl);
    c->oh_len += nl;
    c->oh[c->oh_len++] = ':';
    c->oh[c->oh_len++] = ' ';
    memcpy(c->oh + c->oh_len, value, vl);
    c->oh_len += vl;
    c->oh[c->oh_len++] = '\r';
    c->oh[c->oh_len++] = '\n';
    return true;
}

static const char *date_line(gr_http_server *s) {
    time_t now = time(NULL);
    if (now != s->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(s->date_line, sizeof s->date_line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
        s->date_sec = now;
    }
    return s->date_line;
}

/* Status line and fixed headers into buf; returns its length. body_len < 0:
 * a streamed reply. */
static size_t head_into(conn *c, char *buf, size_t cap, int status, const char *ctype, long long body_len) {
    size_t o = GR_OUT_LIT(buf, 0, cap, "HTTP/1.1 ");
    o = gr_out_i64(buf, o, cap, status);
    o = GR_OUT_LIT(buf, o, cap, " ");
    o = gr_out_str(buf, o, cap, gr_http_reason(status));
    o = GR_OUT_LIT(buf, o, cap, "\r\n");
    if (c->srv) o = gr_out_str(buf, o, cap, date_line(c->srv));
    if (ctype && *ctype && header_safe(ctype)) {
        o = GR_OUT_LIT(buf, o, cap, "Content-Type: ");
        o = gr_out_str(buf, o, cap, ctype);
        o = GR_OUT_LIT(buf, o, cap, "\r\n");
    }
    if (status == 204 || status == 304) { /* RFC 9110 §8.6: no Content-Length on a 204; a 304 has no body */
    } else if (body_len >= 0) {
        o = GR_OUT_LIT(buf, o, cap, "Content-Length: ");
        o = gr_out_u64(buf, o, cap, (uint64_t)body_len);
        o = GR_OUT_LIT(buf, o, cap, "\r\n");
    } else if (!c->http10) {
        o = GR_OUT_LIT(buf, o, cap, "Transfer-Encoding: chunked\r\n");
    }
    bool close = c->close_after || (body_len < 0 && c->http10);
    if (close) o = GR_OUT_LIT(buf, o, cap, "Connection: close\r\n");
    else if (c->http10) o = GR_OUT_LIT(buf, o, cap, "Connection: keep-alive\r\n");
    if (close) c->close_after = true;
    return o;
}

void gr_client_req_reply(gr_client_req *req, int status, const char *content_type, const void *body, size_t len) {
    conn *c = req->c;
    if (c->state != ST_APP) { /* already replied (a bug) or streaming */
        if (c->state == ST_STREAMING) gr_client_req_reply_end(req);
        return;
    }
    if (!c->dead) {
        char head[512];
        size_t hl = head_into(c, head, sizeof head, status, content_type, (long long)len);
        struct iovec iov[4] = {{head, hl}, {c->oh, c->oh_len}, {(void *)"\r\n", 2}, {(void *)body, c->head ? 0 : len}};
        write_iov(c, iov, 4);
    }
    enter(c);
    request_ended(c);
    leave(c);
}

void gr_client_req_reply_start(gr_client_req *req, int status, const char *content_type) {
    conn *c = req->c;
    if (c->state != ST_APP) return;
    c->state = ST_STREAMING;
    c->chunked_reply = !c->http10;
    if (c->dead) return;
    char head[512];
    size_t hl = head_into(c, head, sizeof head, status, content_type, -1);
    struct iovec iov[3] = {{head, hl}, {c->oh, c->oh_len}, {(void *)"\r\n", 2}};
    write_iov(c, iov, 3);
}

size_t gr_client_req_send_chunk(gr_client_req *req, struct evbuffer *buf) {
    conn *c = req->c;
    size_t n = evbuffer_get_length(buf);
    if (c->state != ST_STREAMING || c->dead || c->broken || c->head || !n) {
        evbuffer_drain(buf, n);
        return queued(c);
    }
    if (c->chunked_reply) {
        char hx[24];
        size_t hl = gr_out_hex(hx, 0, sizeof hx, n);
        hl = GR_OUT_LIT(hx, hl, sizeof hx, "\r\n");
        evbuffer_prepend(buf, hx, hl);
        evbuffer_add(buf, "\r\n", 2);
    }
    if (!queued(c)) {
        int w;
        do w = evbuffer_write(buf, c->fd);
        while (w < 0 && errno == EINTR);
        if (w < 0 && errno != EAGAIN) {
            evbuffer_drain(buf, evbuffer_get_length(buf));
            mark_broken(c);
            return 0;
        }
        c->last_write_us = gr_now_us();
    }
    if (evbuffer_get_length(buf)) {
        if (!c->out) c->out = evbuffer_new();
        evbuffer_add_buffer(c->out, buf);
        want_write(c);
    }
    return queued(c);
}

void gr_client_req_reply_end(gr_client_req *req) {
    conn *c = req->c;
    if (c->state == ST_APP) { /* ended before it started: an empty 200 would lie; send nothing */
        gr_client_req_release(req);
        return;
    }
    if (c->state != ST_STREAMING) return;
    if (!c->dead && !c->broken && !c->head && c->chunked_reply) {
        struct iovec iov = {(void *)"0\r\n\r\n", 5};
        write_iov(c, &iov, 1);
    }
    enter(c);
    request_ended(c);
    leave(c);
}

void gr_client_req_release(gr_client_req *req) {
    conn *c = req->c;
    if (!app_owns(c)) return;
    enter(c);
    if (!c->dead) {
        c->close_after = true;
        socket_close(c);
        unlink_conn(c);
    }
    request_ended(c);
    leave(c);
}

/* ---- callbacks ---- */

void gr_client_req_on_close(gr_client_req *req, void (*cb)(gr_client_req *, void *), void *arg) {
    conn *c = req->c;
    c->close_cb = cb;
    c->close_arg = arg;
    if (cb && c->dead && app_owns(c)) { /* already gone: tell on the next tick */
        c->tick_close = true;
        if (c->tick) event_active(c->tick, EV_TIMEOUT, 1);
    }
}

void gr_client_req_on_drain(gr_client_req *req, size_t low_water, void (*cb)(gr_client_req *, void *), void *arg) {
    conn *c = req->c;
    c->drain_cb = cb;
    c->drain_arg = arg;
    c->drain_low = low_water;
    if (cb) check_drain(c);
}

void gr_client_req_on_done(gr_client_req *req, void (*cb)(void *, bool), void *arg) {
    conn *c = req->c;
    c->done_cb = cb;
    c->done_arg = arg;
}
