/* upstream_h1.c — the upstream client's HTTP/1.1 engine for plain http://
 * upstreams (vLLM, Ollama, llama.cpp, a sidecar, the mock): one per worker, on
 * the worker's libevent loop. https:// stays on libcurl (upstream_curl.c).
 *
 * Why it exists: on the proxy hot path libcurl took ~43 % of a worker's CPU
 * (socket callbacks re-registering epoll interest several times per request,
 * poll() calls, a 16 KiB buffer per handle). Here a kept-alive connection
 * keeps one persistent read event from connect to close, so a request on a
 * warm connection costs one sendmsg and one recv per read event, and no
 * epoll_ctl at all.
 *
 * Parsing: responses are parsed by nodejs/http-parser (libhttp-parser): status
 * line, headers, Content-Length, chunked and read-until-close bodies. Body
 * bytes go to on_data as they are parsed, straight from one per-engine read
 * buffer: never copied, never accumulated here. A pause stops reading the
 * socket; the rest of the current read (at most H1_READ_BUF) is still handed
 * over.
 *
 * Connections: per origin (host:port), idle connections are kept LIFO, at most
 * opts.keepalive_max per engine, and closed after opts.keepalive_ms idle or
 * when the server closes them (the read event sees EOF). A connection goes
 * back to the pool only after a complete response that allows keep-alive,
 * with the whole request written and no byte after the response. A request
 * that fails on a reused connection before any response byte (the server
 * closed it while we wrote) is retried once on a new connection, as libcurl
 * does.
 *
 * Names: numeric IPv4/IPv6 hosts connect directly; other names are resolved
 * by evdns (asynchronous; /etc/hosts, then resolv.conf), cached per origin
 * for H1_DNS_TTL_S.
 *
 * Timeouts, one timer per transfer, re-armed only when a deadline moves
 * earlier (per body chunk only a timestamp is written): connect_ms covers name
 * resolution and TCP connect; first_byte_ms runs from the request being sent
 * to the response headers, and again from the headers to the first body
 * byte; idle_ms between body bytes (not while paused); total_ms from start.
 *
 * Life cycle and re-entrancy: user callbacks may cancel, pause or resume their
 * own transfer and start others. on_headers and on_data run inside the parser;
 * on_done never does (it runs once the parser has returned), and a failure
 * found inside gr_h1_transfer_start is reported from the loop, never before
 * start returns. A transfer is freed (or kept for reuse) once done and no
 * engine frame still uses it. */
#include "upstream_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define H1_READ_BUF (64 * 1024)
#define H1_DNS_TTL_S 60
#define H1_HOST_MAX 256
#define H1_MAX_SPARE 256
#define H1_HNAME_MAX 16  /* longest header name we read: content-type */
#define H1_HVAL_MAX 128

typedef struct h1_origin h1_origin;
typedef struct h1_conn h1_conn;
typedef struct h1_xfer h1_xfer;

typedef enum { PH_RESOLVING, PH_CONNECTING, PH_WAITING, PH_HEADERS, PH_BODY } h1_phase;

struct h1_origin {
    h1_origin *next;
    char host[H1_HOST_MAX]; /* as connected to (no IPv6 brackets) */
    uint16_t port;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    bool numeric;
    uint64_t addr_expires_us; /* resolved names only */
    bool resolving;
    struct evdns_getaddrinfo_request *dns;
    h1_xfer *waiters; /* transfers waiting for the name */
    h1_conn *idle;    /* LIFO */
};

struct h1_conn {
    gr_h1_engine *eng;
    h1_origin *origin;
    int fd;
    struct event *rev; /* persistent read: from connect to close, except while paused */
    struct event *wev; /* connect completion, then a partially written request */
    http_parser parser;
    h1_xfer *x; /* the transfer using it; NULL while idle */
    h1_conn *next_idle;
    uint64_t idle_since_us;
    uint32_t served; /* responses completed on it */
    bool pooled, connected, reading, writing, in_parse, doomed;
};

struct h1_xfer {
    gr_transfer hdr;
    gr_h1_engine *eng;
    h1_origin *origin;
    h1_conn *conn;
    h1_xfer *next, *prev; /* engine's active list, or the spare list */
    h1_xfer *next_waiter;
    gr_transfer_cbs cbs;
    void *ud;
    gr_timeouts to;
    struct event *timer;
    uint64_t armed_us; /* deadline the timer is set for; 0 = not set */
    char *head;        /* request line + headers */
    size_t head_len, head_cap;
    const char *body; /* the caller's, referenced until done */
    size_t body_len, sent;
    uint64_t started_us, phase_us, first_byte_us, last_io_us;
    h1_phase phase;
    int status, retry_after_s;
    const char *pending_err; /* a failure to report from the loop */
    const char *stop_err;    /* a failure decided inside the parser */
    char content_type[128];
    char hname[H1_HNAME_MAX];
    char hval[H1_HVAL_MAX];
    uint8_t hname_len, hval_len;
    bool hname_long, hin_value;
    unsigned busy; /* engine frames using this transfer */
    bool in_start, headers_done, complete, keepalive, got_response, retried, paused, done, cancelled;
};

struct gr_h1_engine {
    struct event_base *base;
    gr_upstream_opts opts;
    h1_origin *origins;
    struct evdns_base *dns;
    struct event *sweeper; /* closes idle connections past keepalive_ms */
    h1_xfer *active;
    h1_xfer *spare;
    size_t nactive, nspare, nidle;
    char rbuf[H1_READ_BUF];
};

static const gr_engine_ops k_h1_ops;
static http_parser_settings k_parser_settings; /* constant after first init */

static void conn_close(h1_conn *c);
static void conn_acquire(h1_xfer *x, bool fresh);
static void name_resolve(h1_xfer *x);
static void xfer_send(h1_xfer *x);
static void xfer_end(h1_xfer *x, const char *err);

/* The idle-connection sweep runs every min(keepalive_ms, 1 s) while any
 * connection is idle. */
static void sweeper_arm(gr_h1_engine *e) {
    uint32_t ms = e->opts.keepalive_ms < 1000 ? e->opts.keepalive_ms : 1000;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(e->sweeper, &tv);
}

/* ---- transfers: life cycle ---- */

static void xfer_release(h1_xfer *x) {
    gr_h1_engine *e = x->eng;
    if (e->nspare < H1_MAX_SPARE) {
        x->next = e->spare;
        e->spare = x;
        e->nspare++;
        return;
    }
    event_free(x->timer);
    free(x->head);
    free(x);
}

static void xfer_unbusy(h1_xfer *x) {
    if (--x->busy == 0 && x->done) xfer_release(x);
}

static void active_unlink(h1_xfer *x) {
    gr_h1_engine *e = x->eng;
    if (x->prev) x->prev->next = x->next;
    else e->active = x->next;
    if (x->next) x->next->prev = x->prev;
    x->next = x->prev = NULL;
    e->nactive--;
}

static void waiter_unlink(h1_xfer *x) {
    for (h1_xfer **p = &x->origin->waiters; *p; p = &(*p)->next_waiter)
        if (*p == x) {
            *p = x->next_waiter;
            return;
        }
}

/* Earliest deadline of the current phase and the error it means. */
static uint64_t xfer_deadline(const h1_xfer *x, const char **err) {
    uint64_t best = UINT64_MAX;
    const char *why = NULL;
#define H1_CAND(at, e)                                                                                         \
    do {                                                                                                       \
        uint64_t at_ = (at);                                                                                   \
        if (at_ < best) best = at_, why = (e);                                                                 \
    } while (0)
    if (x->to.total_ms) H1_CAND(x->started_us + x->to.total_ms * 1000ull, gr_err_upstream_timeout_total);
    switch (x->phase) {
    case PH_RESOLVING:
    case PH_CONNECTING:
        if (x->to.connect_ms) H1_CAND(x->phase_us + x->to.connect_ms * 1000ull, gr_err_upstream_timeout_connect);
        break;
    case PH_WAITING:
    case PH_HEADERS:
        if (x->to.first_byte_ms)
            H1_CAND(x->phase_us + x->to.first_byte_ms * 1000ull, gr_err_upstream_timeout_first_byte);
        break;
    case PH_BODY:
        if (x->to.idle_ms && !x->paused)
            H1_CAND(x->last_io_us + x->to.idle_ms * 1000ull, gr_err_upstream_timeout_idle);
        break;
    }
#undef H1_CAND
    if (err) *err = why;
    return best;
}

/* Sets the timer when the deadline moved earlier than the one armed; a later
 * deadline is found when the timer fires early. */
static void xfer_arm(h1_xfer *x) {
    uint64_t d = xfer_deadline(x, NULL);
    if (d == UINT64_MAX || (x->armed_us && x->armed_us <= d)) return;
    uint64_t now = gr_now_us(), left = d > now ? d - now : 0;
    struct timeval tv = {(time_t)(left / 1000000), (suseconds_t)(left % 1000000)};
    evtimer_add(x->timer, &tv);
    x->armed_us = d;
}

static void xfer_set_phase(h1_xfer *x, h1_phase ph) {
    x->phase = ph;
    x->phase_us = gr_now_us();
    xfer_arm(x);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    h1_xfer *x = arg;
    x->armed_us = 0;
    if (x->done) return;
    x->busy++;
    if (x->pending_err) {
        xfer_end(x, x->pending_err);
    } else {
        const char *err;
        uint64_t d = xfer_deadline(x, &err);
        if (d <= gr_now_us()) xfer_end(x, err);
        else xfer_arm(x);
    }
    xfer_unbusy(x);
}

/* A failure: reported now, or from the loop while start has not returned. */
static void xfer_fail(h1_xfer *x, const char *err) {
    if (x->done) return;
    if (x->in_start) {
        x->pending_err = err;
        evtimer_del(x->timer);
        x->armed_us = 0;
        event_active(x->timer, EV_TIMEOUT, 1);
        return;
    }
    xfer_end(x, err);
}

/* The end of a transfer: its connection goes back to the pool (complete,
 * reusable response) or is closed; then on_done, unless cancelled. */
static void xfer_end(h1_xfer *x, const char *err) {
    if (x->done) return;
    x->done = true;
    evtimer_del(x->timer);
    x->armed_us = 0;
    if (x->phase == PH_RESOLVING) waiter_unlink(x);
    h1_conn *c = x->conn;
    if (c) {
        x->conn = NULL;
        c->x = NULL;
        bool reuse = !err && x->complete && x->keepalive && x->sent == x->head_len + x->body_len && !c->doomed;
        gr_h1_engine *e = x->eng;
        if (reuse && e->nidle < e->opts.keepalive_max) {
            c->served++;
            c->pooled = true;
            c->idle_since_us = gr_now_us();
            c->next_idle = c->origin->idle;
            c->origin->idle = c;
            e->nidle++;
            if (!c->reading) event_add(c->rev, NULL), c->reading = true; /* sees EOF while idle */
            if (!evtimer_pending(e->sweeper, NULL)) sweeper_arm(e);
        } else if (c->in_parse) {
            c->doomed = true; /* the read handler closes it when the parser returns */
        } else {
            conn_close(c);
        }
    }
    active_unlink(x);
    if (!x->cancelled && x->cbs.on_done) {
        x->busy++;
        x->cbs.on_done(x->ud, err, x->status);
        x->busy--;
    }
    if (!x->busy) xfer_release(x);
}

/* ---- response parsing (http-parser callbacks; parser->data = the conn) ---- */

static h1_xfer *parsing(http_parser *p) {
    h1_conn *c = p->data;
    return c->x && !c->x->done && !c->x->stop_err ? c->x : NULL;
}

static void header_flush(h1_xfer *x) {
    if (x->hin_value && !x->hname_long)
        gr_upstream_note_header(x->hname, x->hname_len, x->hval, x->hval_len, x->content_type,
                                sizeof(x->content_type), &x->retry_after_s);
    x->hin_value = false;
    x->hname_len = x->hval_len = 0;
    x->hname_long = false;
}

static int on_message_begin(http_parser *p) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    if (x->complete) { /* bytes after the response: the connection is not reusable */
        ((h1_conn *)p->data)->doomed = true;
        return 1;
    }
    x->content_type[0] = '\0';
    x->retry_after_s = -1;
    x->hin_value = false;
    x->hname_len = x->hval_len = 0;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    if (x->hin_value) header_flush(x);
    if (x->hname_long || x->hname_len + len > H1_HNAME_MAX) {
        x->hname_long = true;
        return 0;
    }
    memcpy(x->hname + x->hname_len, at, len);
    x->hname_len = (uint8_t)(x->hname_len + len);
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    x->hin_value = true;
    if (x->hname_long) return 0;
    size_t room = H1_HVAL_MAX - x->hval_len;
    if (len > room) len = room;
    memcpy(x->hval + x->hval_len, at, len);
    x->hval_len = (uint8_t)(x->hval_len + len);
    return 0;
}

static int on_headers_complete(http_parser *p) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    header_flush(x);
    if (p->status_code < 200) return 0; /* 1xx: the final response follows */
    x->status = p->status_code;
    x->headers_done = true;
    xfer_set_phase(x, PH_HEADERS);
    if (x->cbs.on_headers) x->cbs.on_headers(x->ud, x->status, x->content_type, x->retry_after_s);
    return x->done ? 1 : 0;
}

static int on_body(http_parser *p, const char *at, size_t len) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    uint64_t now = gr_now_us();
    x->last_io_us = now;
    if (!x->first_byte_us) {
        x->first_byte_us = now;
        x->phase = PH_BODY;
        x->phase_us = now;
        xfer_arm(x);
    }
    int rc = x->cbs.on_data ? x->cbs.on_data(x->ud, at, len) : 0;
    if (x->done) return 1; /* cancelled inside on_data */
    if (rc < 0) {
        x->stop_err = gr_err_upstream_aborted;
        return 1;
    }
    return 0;
}

static int on_message_complete(http_parser *p) {
    h1_xfer *x = parsing(p);
    if (!x) return 1;
    if (!x->headers_done) return 0; /* the end of a 1xx */
    x->complete = true;
    x->keepalive = http_should_keep_alive(p);
    return 0;
}

/* ---- connections ---- */

static void conn_free(h1_conn *c) {
    event_free(c->rev);
    event_free(c->wev);
    close(c->fd);
    free(c);
}

static void conn_close(h1_conn *c) {
    if (c->pooled) { /* idle: unlink from the pool */
        for (h1_conn **p = &c->origin->idle; *p; p = &(*p)->next_idle)
            if (*p == c) {
                *p = c->next_idle;
                c->eng->nidle--;
                break;
            }
    }
    conn_free(c);
}

/* The connection failed (EOF, reset, write error) while x used it. A reused
 * connection that had sent nothing back is retried once on a new one. */
static void conn_failed(h1_conn *c, h1_xfer *x) {
    bool stale = c->served > 0 && !x->got_response && !x->retried;
    x->conn = NULL;
    c->x = NULL;
    conn_close(c);
    if (stale) {
        x->retried = true;
        conn_acquire(x, true);
        return;
    }
    xfer_fail(x, x->phase == PH_CONNECTING ? gr_err_upstream_connect : gr_err_upstream_io);
}

/* After the parser returned: the response may be complete, or the parser may
 * have stopped on an error or on the caller's request. */
static void conn_after_parse(h1_conn *c, h1_xfer *x, size_t used, size_t n) {
    if (x->done) { /* cancelled inside a callback */
        if (c->doomed) conn_close(c);
        return;
    }
    if (x->stop_err) {
        c->doomed = true;
        xfer_end(x, x->stop_err);
        return;
    }
    enum http_errno pe = HTTP_PARSER_ERRNO(&c->parser);
    if (x->complete) {
        if (pe != HPE_OK || used != n) c->doomed = true;
        xfer_end(x, NULL);
        return;
    }
    if (pe != HPE_OK) {
        c->doomed = true;
        xfer_end(x, gr_err_upstream_io);
    }
}

static void conn_read_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    h1_conn *c = arg;
    gr_h1_engine *e = c->eng;
    ssize_t n = recv(fd, e->rbuf, sizeof(e->rbuf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    h1_xfer *x = c->x;
    if (!x) { /* idle: the server closed it, or sent what nobody asked for */
        conn_close(c);
        return;
    }
    x->busy++;
    if (n <= 0) {
        if (n == 0 && x->got_response) { /* end of a read-until-close body */
            c->in_parse = true;
            http_parser_execute(&c->parser, &k_parser_settings, NULL, 0);
            c->in_parse = false;
            if (x->complete || x->done || x->stop_err) {
                c->doomed = true;
                conn_after_parse(c, x, 0, 0);
                xfer_unbusy(x);
                return;
            }
        }
        conn_failed(c, x);
        xfer_unbusy(x);
        return;
    }
    x->got_response = true;
    c->in_parse = true;
    size_t used = http_parser_execute(&c->parser, &k_parser_settings, e->rbuf, (size_t)n);
    c->in_parse = false;
    conn_after_parse(c, x, used, (size_t)n);
    xfer_unbusy(x);
}

static void conn_write_cb(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    h1_conn *c = arg;
    h1_xfer *x = c->x;
    if (!x) { /* nothing to write for an idle connection */
        event_del(c->wev);
        c->writing = false;
        return;
    }
    x->busy++;
    if (!c->connected) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) soerr = errno;
        if (soerr) { /* a fresh connection: no retry, reported as a connect failure */
            conn_failed(c, x);
            xfer_unbusy(x);
            return;
        }
        c->connected = true;
        event_add(c->rev, NULL);
        c->reading = true;
        xfer_set_phase(x, PH_WAITING);
    }
    xfer_send(x);
    xfer_unbusy(x);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    gr_h1_engine *e = arg;
    uint64_t now = gr_now_us(), keep = e->opts.keepalive_ms * 1000ull;
    for (h1_origin *o = e->origins; o; o = o->next) {
        h1_conn **p = &o->idle;
        while (*p) {
            h1_conn *c = *p;
            if (now - c->idle_since_us >= keep) {
                *p = c->next_idle;
                e->nidle--;
                conn_free(c);
            } else {
                p = &c->next_idle;
            }
        }
    }
    if (e->nidle) sweeper_arm(e);
}

static void conn_attach(h1_xfer *x, h1_conn *c) {
    x->conn = c;
    c->x = x;
    c->doomed = false;
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    x->sent = 0;
    x->got_response = false;
}

static void conn_open(h1_xfer *x) {
    gr_h1_engine *e = x->eng;
    h1_origin *o = x->origin;
    xfer_set_phase(x, PH_CONNECTING);
    int fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        xfer_fail(x, gr_err_upstream_connect);
        return;
    }
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&o->addr, o->addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        xfer_fail(x, gr_err_upstream_connect);
        return;
    }
    h1_conn *c = gr_xcalloc(1, sizeof(*c));
    c->eng = e;
    c->origin = o;
    c->fd = fd;
    c->rev = event_new(e->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c);
    c->wev = event_new(e->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, c);
    conn_attach(x, c);
    event_add(c->wev, NULL); /* writable = connected (or failed) */
    c->writing = true;
}

/* A connection for x: the most recently used idle one, else a new one. */
static void conn_acquire(h1_xfer *x, bool fresh) {
    gr_h1_engine *e = x->eng;
    h1_origin *o = x->origin;
    if (!fresh && o->idle) {
        h1_conn *c = o->idle;
        o->idle = c->next_idle;
        e->nidle--;
        c->pooled = false;
        conn_attach(x, c);
        xfer_set_phase(x, PH_WAITING);
        xfer_send(x);
        return;
    }
    uint64_t now = gr_now_us();
    if (o->numeric || (o->addrlen && now < o->addr_expires_us)) {
        conn_open(x);
        return;
    }
    name_resolve(x);
}

static void xfer_send(h1_xfer *x) {
    h1_conn *c = x->conn;
    size_t total = x->head_len + x->body_len;
    while (x->sent < total) {
        struct iovec iov[2];
        int n = 0;
        if (x->sent < x->head_len) iov[n++] = (struct iovec){x->head + x->sent, x->head_len - x->sent};
        size_t boff = x->sent > x->head_len ? x->sent - x->head_len : 0;
        if (x->body_len > boff) iov[n++] = (struct iovec){(char *)x->body + boff, x->body_len - boff};
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                if (!c->writing) event_add(c->wev, NULL), c->writing = true;
                return;
            }
            conn_failed(c, x);
            return;
        }
        x->sent += (size_t)w;
    }
    if (c->writing) event_del(c->wev), c->writing = false;
}

/* ---- names ---- */

static void dns_cb(int result, struct evutil_addrinfo *res, void *arg) {
    h1_origin *o = arg;
    o->resolving = false;
    o->dns = NULL;
    if (result == EVUTIL_EAI_CANCEL) {
        if (res) evutil_freeaddrinfo(res);
        return;
    }
    bool ok = result == 0 && res && res->ai_addrlen <= sizeof(o->addr);
    if (ok) {
        memcpy(&o->addr, res->ai_addr, res->ai_addrlen);
        o->addrlen = (socklen_t)res->ai_addrlen;
        o->addr_expires_us = gr_now_us() + H1_DNS_TTL_S * 1000000ull;
    }
    if (res) evutil_freeaddrinfo(res);
    /* Pin every waiter first: a callback may cancel another one. */
    h1_xfer *w = o->waiters;
    o->waiters = NULL;
    for (h1_xfer *x = w; x; x = x->next_waiter) x->busy++;
    while (w) {
        h1_xfer *x = w;
        w = x->next_waiter;
        if (!x->done) {
            x->phase = PH_CONNECTING;
            if (ok) conn_open(x);
            else xfer_fail(x, gr_err_upstream_connect);
        }
        xfer_unbusy(x);
    }
}

static void name_resolve(h1_xfer *x) {
    gr_h1_engine *e = x->eng;
    h1_origin *o = x->origin;
    xfer_set_phase(x, PH_RESOLVING);
    x->next_waiter = o->waiters;
    o->waiters = x;
    if (o->resolving) return;
    if (!e->dns) {
        e->dns = evdns_base_new(e->base, EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (!e->dns) { /* no usable resolv.conf: /etc/hosts only */
            e->dns = evdns_base_new(e->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
            if (e->dns) evdns_base_load_hosts(e->dns, NULL);
        }
    }
    if (!e->dns) {
        o->waiters = x->next_waiter;
        x->phase = PH_CONNECTING;
        xfer_fail(x, gr_err_upstream_connect);
        return;
    }
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)o->port);
    o->resolving = true;
    struct evdns_getaddrinfo_request *rq = evdns_getaddrinfo(e->dns, o->host, port, &hints, dns_cb, o);
    if (o->resolving) o->dns = rq; /* else answered already (hosts file) */
}

/* ---- origins and request heads ---- */

static h1_origin *origin_get(gr_h1_engine *e, const char *host, size_t hlen, uint16_t port) {
    for (h1_origin *o = e->origins; o; o = o->next)
        if (o->port == port && strlen(o->host) == hlen && !strncasecmp(o->host, host, hlen)) return o;
    h1_origin *o = gr_xcalloc(1, sizeof(*o));
    memcpy(o->host, host, hlen);
    o->port = port;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&o->addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&o->addr;
    if (inet_pton(AF_INET, o->host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        o->addrlen = sizeof(*v4);
        o->numeric = true;
    } else if (inet_pton(AF_INET6, o->host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        o->addrlen = sizeof(*v6);
        o->numeric = true;
    }
    o->next = e->origins;
    e->origins = o;
    return o;
}

typedef struct h1_url {
    const char *host, *authority, *path;
    size_t host_len, authority_len;
    uint16_t port;
} h1_url;

/* http://host[:port][/path] or http://[v6][:port][/path] */
static bool url_split(const char *url, h1_url *u) {
    const char *a = url + 7, *end = a + strcspn(a, "/?#");
    if (*end == '#') return false;
    u->authority = a;
    u->authority_len = (size_t)(end - a);
    u->path = *end ? end : "/";
    const char *port = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(end - a));
        if (!rb) return false;
        u->host = a + 1;
        u->host_len = (size_t)(rb - a - 1);
        if (rb + 1 < end) {
            if (rb[1] != ':') return false;
            port = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', (size_t)(end - a));
        u->host = a;
        u->host_len = (size_t)((colon ? colon : end) - a);
        if (colon) port = colon + 1;
    }
    if (!u->host_len || u->host_len >= H1_HOST_MAX || memchr(u->host, '@', u->host_len)) return false;
    unsigned long p = 80;
    if (port) {
        if (port == end) return false;
        p = 0;
        for (const char *s = port; s < end; s++) {
            if (*s < '0' || *s > '9') return false;
            p = p * 10 + (unsigned long)(*s - '0');
            if (p > 65535) return false;
        }
    }
    if (!p) return false;
    u->port = (uint16_t)p;
    /* a path must be plain request-target bytes */
    for (const char *s = u->path; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return false;
    return true;
}

static void head_put(h1_xfer *x, const char *s, size_t n) {
    if (x->head_len + n > x->head_cap) {
        size_t cap = x->head_cap ? x->head_cap : 512;
        while (cap < x->head_len + n) cap *= 2;
        x->head = realloc(x->head, cap);
        if (!x->head) abort();
        x->head_cap = cap;
    }
    memcpy(x->head + x->head_len, s, n);
    x->head_len += n;
}

#define HEAD_LIT(x, s) head_put((x), (s), sizeof(s) - 1)

static bool build_head(h1_xfer *x, const gr_http_request *req, const h1_url *u) {
    x->head_len = 0;
    if (req->body) HEAD_LIT(x, "POST ");
    else HEAD_LIT(x, "GET ");
    if (*u->path != '/') HEAD_LIT(x, "/");
    head_put(x, u->path, strlen(u->path));
    HEAD_LIT(x, " HTTP/1.1\r\nHost: ");
    head_put(x, u->authority, u->authority_len);
    HEAD_LIT(x, "\r\n");
    bool accept = false;
    for (size_t i = 0; i < req->nheaders; i++) {
        const char *h = req->headers[i];
        size_t n = strlen(h);
        if (strpbrk(h, "\r\n") || !memchr(h, ':', n)) return false; /* no header injection */
        if (!strncasecmp(h, "host:", 5) || !strncasecmp(h, "content-length:", 15) ||
            !strncasecmp(h, "transfer-encoding:", 18) || !strncasecmp(h, "expect:", 7))
            continue; /* framing is ours */
        if (!strncasecmp(h, "accept:", 7)) accept = true;
        head_put(x, h, n);
        HEAD_LIT(x, "\r\n");
    }
    if (!accept) HEAD_LIT(x, "Accept: */*\r\n");
    if (req->body) {
        char cl[48];
        int n = snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", req->body_len);
        head_put(x, cl, (size_t)n);
    }
    HEAD_LIT(x, "\r\n");
    return true;
}

/* ---- public (through upstream.c) ---- */

gr_transfer *gr_h1_transfer_start(gr_h1_engine *e, const gr_http_request *req, const gr_timeouts *to,
                                  const gr_transfer_cbs *cbs, void *ud) {
    h1_url u;
    if (!url_split(req->url, &u)) return NULL;
    h1_xfer *x = e->spare;
    if (x) {
        e->spare = x->next;
        e->nspare--;
        struct event *timer = x->timer;
        char *head = x->head;
        size_t cap = x->head_cap;
        memset(x, 0, sizeof(*x));
        x->timer = timer;
        x->head = head;
        x->head_cap = cap;
    } else {
        x = gr_xcalloc(1, sizeof(*x));
        x->timer = evtimer_new(e->base, timer_cb, x);
    }
    x->hdr.ops = &k_h1_ops;
    x->eng = e;
    bool head_ok = build_head(x, req, &u);
    x->body = req->body;
    x->body_len = req->body ? req->body_len : 0;
    x->cbs = *cbs;
    x->ud = ud;
    x->to = *to;
    x->retry_after_s = -1;
    x->started_us = x->last_io_us = gr_now_us();
    x->origin = origin_get(e, u.host, u.host_len, u.port);
    x->next = e->active;
    if (e->active) e->active->prev = x;
    e->active = x;
    e->nactive++;
    x->in_start = true;
    x->busy++;
    if (head_ok) conn_acquire(x, false);
    else xfer_fail(x, gr_err_upstream_io); /* a header with CR/LF: never sent */
    x->in_start = false;
    xfer_unbusy(x);
    return &x->hdr;
}

static void h1_cancel(gr_transfer *t) {
    h1_xfer *x = (h1_xfer *)t;
    if (x->cancelled) return;
    x->cancelled = true;
    if (x->done) return;
    x->complete = false; /* never pool a connection mid-response */
    xfer_end(x, NULL);
}

static void h1_pause(gr_transfer *t) {
    h1_xfer *x = (h1_xfer *)t;
    if (x->paused || x->done) return;
    x->paused = true;
    h1_conn *c = x->conn;
    if (c && c->reading) event_del(c->rev), c->reading = false;
}

static void h1_resume(gr_transfer *t) {
    h1_xfer *x = (h1_xfer *)t;
    if (!x->paused || x->done) return;
    x->paused = false;
    x->last_io_us = gr_now_us();
    h1_conn *c = x->conn;
    if (c && c->connected && !c->reading) event_add(c->rev, NULL), c->reading = true;
    xfer_arm(x);
}

static uint64_t h1_first_byte_us(const gr_transfer *t) { return ((const h1_xfer *)t)->first_byte_us; }

static const gr_engine_ops k_h1_ops = {h1_cancel, h1_pause, h1_resume, h1_first_byte_us};

gr_h1_engine *gr_h1_engine_new(struct event_base *base, const gr_upstream_opts *opts) {
    if (!k_parser_settings.on_body) { /* idempotent: every thread writes the same values */
        http_parser_settings s;
        http_parser_settings_init(&s);
        s.on_message_begin = on_message_begin;
        s.on_header_field = on_header_field;
        s.on_header_value = on_header_value;
        s.on_headers_complete = on_headers_complete;
        s.on_body = on_body;
        s.on_message_complete = on_message_complete;
        k_parser_settings = s;
    }
    gr_h1_engine *e = gr_xcalloc(1, sizeof(*e));
    e->base = base;
    e->opts = *opts;
    if (!e->opts.keepalive_ms) e->opts.keepalive_ms = 1;
    e->sweeper = evtimer_new(base, sweep_cb, e);
    return e;
}

void gr_h1_engine_free(gr_h1_engine *e) {
    if (!e) return;
    while (e->active) { /* the loop is gone: no callbacks */
        h1_xfer *x = e->active;
        x->cancelled = true;
        x->busy = 0;
        xfer_end(x, NULL);
    }
    for (h1_origin *o = e->origins; o;) {
        h1_origin *next = o->next;
        if (o->dns) evdns_getaddrinfo_cancel(o->dns);
        while (o->idle) conn_close(o->idle);
        free(o);
        o = next;
    }
    while (e->spare) {
        h1_xfer *x = e->spare;
        e->spare = x->next;
        event_free(x->timer);
        free(x->head);
        free(x);
    }
    if (e->dns) evdns_base_free(e->dns, 0);
    event_free(e->sweeper);
    free(e);
}

size_t gr_h1_engine_active(const gr_h1_engine *e) { return e->nactive; }
size_t gr_h1_engine_idle(const gr_h1_engine *e) { return e->nidle; }
