/* upstream_curl.c — the libcurl engine of the upstream client (see
 * upstream.h, upstream_engine.h): libcurl multi driven by the worker's
 * libevent loop (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION). Serves https://
 * upstreams (TLS, HTTP/2) and everything when server.upstream_client: curl.
 * Easy handles, their watchdog timers and socket events are reused. libcurl
 * is not linked: the first engine dlopens it (curl_dl.h), and every call goes
 * through gr_curl(). */
#include "upstream_engine.h"

#include "curl_dl.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct curl_xfer curl_xfer;

struct gr_curl_engine {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct event *reaper; /* outside curl callbacks: frees buried transfers, adds pending ones */
    curl_xfer *graveyard;
    curl_xfer *pending; /* started inside a curl callback: added by the reaper */
    curl_xfer *spare;       /* released transfers kept for reuse (easy handle + timer) */
    size_t nspare;
    struct sock_ctx *spare_socks;
    size_t active;
    int in_curl; /* depth of curl_multi_socket_action calls */
};

struct curl_xfer {
    gr_transfer hdr;
    gr_curl_engine *u;
    CURL *easy;
    struct curl_slist *headers;
    gr_transfer_cbs cbs;
    void *ud;
    struct event *watchdog; /* first-byte / idle timer */
    gr_timeouts timeouts;
    uint64_t started_us, first_byte_us;
    int status;
    int retry_after_s;
    char content_type[128];
    bool headers_done, cancelled, paused, done, in_multi;
    curl_xfer *next_dead;
    curl_xfer *next_pending;
};

#define MAX_SPARE_TRANSFERS 256

typedef struct sock_ctx {
    struct event *ev; /* allocated once, re-assigned on reuse */
    curl_socket_t fd;
    struct sock_ctx *next_spare;
} sock_ctx;

/* ---- completion ---- */

/* Hot path: a finished transfer keeps its easy handle and timer for the next
 * request on this worker (no curl_easy_init/event_new per request). */
static void transfer_release(curl_xfer *t) {
    gr_curl_engine *u = t->u;
    if (t->in_multi) {
        gr_curl()->multi_remove_handle(u->multi, t->easy);
        t->in_multi = false;
        u->active--;
    }
    gr_curl()->slist_free_all(t->headers);
    t->headers = NULL;
    if (u->nspare < MAX_SPARE_TRANSFERS && t->easy && t->watchdog) {
        event_del(t->watchdog);
        gr_curl()->easy_reset(t->easy);
        t->next_dead = u->spare;
        u->spare = t;
        u->nspare++;
        return;
    }
    if (t->watchdog) event_free(t->watchdog);
    if (t->easy) gr_curl()->easy_cleanup(t->easy);
    free(t);
}

static void transfer_destroy_spares(gr_curl_engine *u) {
    while (u->spare) {
        curl_xfer *t = u->spare;
        u->spare = t->next_dead;
        event_free(t->watchdog);
        gr_curl()->easy_cleanup(t->easy);
        free(t);
    }
    u->nspare = 0;
    while (u->spare_socks) {
        sock_ctx *sc = u->spare_socks;
        u->spare_socks = sc->next_spare;
        event_free(sc->ev);
        free(sc);
    }
}

static void bury(curl_xfer *t) {
    gr_curl_engine *u = t->u;
    t->next_dead = u->graveyard;
    u->graveyard = t;
    event_active(u->reaper, 0, 0);
}

static void finish(curl_xfer *t, const char *err);

static void reaper_cb(evutil_socket_t fd, short what, void *arg) {
    gr_curl_engine *u = arg;
    /* Transfers started inside curl callbacks, now outside them. One that
     * was cancelled meanwhile is done and in the graveyard below. */
    curl_xfer *p = u->pending;
    u->pending = NULL;
    while (p) {
        curl_xfer *next = p->next_pending;
        if (!p->done) {
            if (gr_curl()->multi_add_handle(u->multi, p->easy) == CURLM_OK) {
                p->in_multi = true;
                u->active++;
            } else {
                finish(p, gr_err_upstream_io); /* from the loop, as the contract asks */
            }
        }
        p = next;
    }
    curl_xfer *t = u->graveyard;
    u->graveyard = NULL;
    while (t) {
        curl_xfer *next = t->next_dead;
        transfer_release(t);
        t = next;
    }
}

static void finish(curl_xfer *t, const char *err) {
    if (t->done) return;
    t->done = true;
    if (t->watchdog) event_del(t->watchdog);
    if (!t->cancelled && t->cbs.on_done) t->cbs.on_done(t->ud, err, t->status);
    bury(t);
}

static const char *map_curl_error(curl_xfer *t, CURLcode rc) {
    switch (rc) {
    case CURLE_OK: return NULL;
    case CURLE_OPERATION_TIMEDOUT:
        return t->headers_done ? gr_err_upstream_timeout_total
                               : (t->first_byte_us || t->status ? gr_err_upstream_timeout_total
                                                                : gr_err_upstream_timeout_connect);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
        return gr_err_upstream_connect;
    case CURLE_WRITE_ERROR:
        return gr_err_upstream_aborted;
    default:
        return gr_err_upstream_io;
    }
}

static void check_multi_info(gr_curl_engine *u) {
    CURLMsg *msg;
    int left;
    while ((msg = gr_curl()->multi_info_read(u->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        curl_xfer *t = NULL;
        gr_curl()->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        CURLcode rc = msg->data.result;
        if (!t || t->done) continue;
        if (t->in_multi) {
            gr_curl()->multi_remove_handle(u->multi, t->easy);
            t->in_multi = false;
            u->active--;
        }
        long code = 0;
        gr_curl()->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code) t->status = (int)code;
        /* A connect-phase timeout is distinguishable by no connection made. */
        const char *err = map_curl_error(t, rc);
        if (rc == CURLE_OPERATION_TIMEDOUT && !t->status) {
            long connected = 0;
            gr_curl()->easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &connected);
            err = connected ? gr_err_upstream_timeout_first_byte : gr_err_upstream_timeout_connect;
        }
        finish(t, err);
    }
}

/* ---- libevent <-> curl glue ---- */

static void socket_action(gr_curl_engine *u, curl_socket_t fd, int flags) {
    int running = 0;
    u->in_curl++;
    gr_curl()->multi_socket_action(u->multi, fd, flags, &running);
    u->in_curl--;
    check_multi_info(u);
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg) {
    gr_curl_engine *u = arg;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    socket_action(u, fd, flags);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg) {
    socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
    gr_curl_engine *u = userp;
    sock_ctx *sc = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (sc) { /* keep the context and its event for the next socket */
            event_del(sc->ev);
            sc->next_spare = u->spare_socks;
            u->spare_socks = sc;
            gr_curl()->multi_assign(u->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!sc) {
        if (u->spare_socks) {
            sc = u->spare_socks;
            u->spare_socks = sc->next_spare;
        } else {
            sc = gr_xcalloc(1, sizeof(*sc));
            sc->ev = event_new(u->base, -1, 0, sock_event_cb, u);
        }
        sc->fd = s;
        gr_curl()->multi_assign(u->multi, s, sc);
    } else {
        event_del(sc->ev);
    }
    event_assign(sc->ev, u->base, s, kind, sock_event_cb, u);
    event_add(sc->ev, NULL);
    return 0;
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp) {
    gr_curl_engine *u = userp;
    if (timeout_ms < 0) {
        evtimer_del(u->timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
    return 0;
}

/* ---- transfer callbacks ---- */

static void arm_watchdog(curl_xfer *t, uint32_t ms) {
    if (!ms || t->paused || t->done) {
        event_del(t->watchdog);
        return;
    }
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(t->watchdog, &tv);
}

static void watchdog_cb(evutil_socket_t fd, short what, void *arg) {
    curl_xfer *t = arg;
    if (t->done) return;
    const char *err = t->first_byte_us ? gr_err_upstream_timeout_idle : gr_err_upstream_timeout_first_byte;
    if (t->in_multi) {
        gr_curl()->multi_remove_handle(t->u->multi, t->easy);
        t->in_multi = false;
        t->u->active--;
    }
    finish(t, err);
}

/* A connection (new or reused) is about to carry the request: first_byte_ms
 * runs from here ("request sent -> first response byte", docs/CONFIG.md).
 * Without this the only deadline was the one armed at start, first_byte_ms +
 * connect_ms, which fired connect_ms late whenever the connect was quick. */
static int prereq_cb(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port) {
    curl_xfer *t = ud;
    if (!t->headers_done) arm_watchdog(t, t->timeouts.first_byte_ms);
    return CURL_PREREQFUNC_OK;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud) {
    curl_xfer *t = ud;
    size_t len = size * n;
    if (t->cancelled || t->done) return 0;
    if (len >= 5 && !memcmp(buf, "HTTP/", 5)) { /* new status line (e.g. after 100) */
        t->headers_done = false;
        t->retry_after_s = -1;
        t->content_type[0] = '\0';
        return len;
    }
    if (len <= 2 && (buf[0] == '\r' || buf[0] == '\n')) {
        long code = 0;
        gr_curl()->easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
        if (code >= 200 || code == 0) { /* final headers */
            t->status = (int)code;
            t->headers_done = true;
            if (t->cbs.on_headers) t->cbs.on_headers(t->ud, t->status, t->content_type, t->retry_after_s);
            if (t->cancelled) return 0;
            arm_watchdog(t, t->timeouts.first_byte_ms);
        }
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (colon)
        gr_upstream_note_header(buf, (size_t)(colon - buf), colon + 1, len - (size_t)(colon - buf) - 1,
                                t->content_type, sizeof(t->content_type), &t->retry_after_s);
    return len;
}

static size_t write_cb(char *buf, size_t size, size_t n, void *ud) {
    curl_xfer *t = ud;
    size_t len = size * n;
    if (t->cancelled || t->done) return 0;
    if (!t->first_byte_us) t->first_byte_us = gr_now_us();
    int rc = t->cbs.on_data ? t->cbs.on_data(t->ud, buf, len) : 0;
    if (rc < 0 || t->cancelled) return 0; /* CURLE_WRITE_ERROR */
    arm_watchdog(t, t->timeouts.idle_ms);
    return len;
}

/* ---- public API ---- */

gr_curl_engine *gr_curl_engine_new(struct event_base *base) {
    /* libcurl is loaded (and globally initialised) by the first engine or
     * settler that needs it; the loader logs why when it cannot be. */
    if (gr_curl_load(NULL, 0) != GR_OK) return NULL;
    gr_curl_engine *u = gr_xcalloc(1, sizeof(*u));
    const gr_curl_api *cu = gr_curl();
    u->base = base;
    u->multi = cu->multi_init();
    if (!u->multi) abort();
    u->timer = evtimer_new(base, timer_event_cb, u);
    u->reaper = event_new(base, -1, 0, reaper_cb, u);
    cu->multi_setopt(u->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    cu->multi_setopt(u->multi, CURLMOPT_SOCKETDATA, u);
    cu->multi_setopt(u->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    cu->multi_setopt(u->multi, CURLMOPT_TIMERDATA, u);
    cu->multi_setopt(u->multi, CURLMOPT_MAXCONNECTS, 1024L);
    return u;
}

void gr_curl_engine_free(gr_curl_engine *u) {
    if (!u) return;
    for (curl_xfer *t = u->pending; t; t = t->next_pending) { /* never added: no callbacks */
        if (t->done) continue;
        t->done = t->cancelled = true;
        bury(t);
    }
    u->pending = NULL;
    reaper_cb(-1, 0, u);
    gr_curl()->multi_cleanup(u->multi);
    transfer_destroy_spares(u);
    event_free(u->timer);
    event_free(u->reaper);
    free(u);
}

size_t gr_curl_engine_active(const gr_curl_engine *u) { return u->active; }

static const gr_engine_ops k_curl_ops;

gr_transfer *gr_curl_transfer_start(gr_curl_engine *u, const gr_http_request *req, const gr_timeouts *to,
                                    const gr_transfer_cbs *cbs, void *ud) {
    curl_xfer *t;
    const gr_curl_api *cu = gr_curl();
    if (u->spare) {
        t = u->spare;
        u->spare = t->next_dead;
        u->nspare--;
        CURL *easy = t->easy;
        struct event *wd = t->watchdog;
        memset(t, 0, sizeof(*t));
        t->easy = easy;
        t->watchdog = wd;
    } else {
        t = gr_xcalloc(1, sizeof(*t));
        t->easy = cu->easy_init();
        if (!t->easy) abort();
        t->watchdog = evtimer_new(u->base, watchdog_cb, t);
    }
    t->hdr.ops = &k_curl_ops;
    t->u = u;
    t->cbs = *cbs;
    t->ud = ud;
    t->timeouts = *to;
    t->retry_after_s = -1;
    for (size_t i = 0; i < req->nheaders; i++) {
        if (strpbrk(req->headers[i], "\r\n")) { /* never split into two headers */
            cu->slist_free_all(t->headers);
            t->headers = NULL;
            t->done = true;
            transfer_release(t);
            return NULL;
        }
        t->headers = cu->slist_append(t->headers, req->headers[i]);
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    t->headers = cu->slist_append(t->headers, "Expect:");
    CURL *e = t->easy;
    cu->easy_setopt(e, CURLOPT_URL, req->url);
    cu->easy_setopt(e, CURLOPT_PRIVATE, t);
    cu->easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    if (req->body) {
        cu->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        cu->easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
    } else {
        cu->easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    cu->easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    cu->easy_setopt(e, CURLOPT_WRITEDATA, t);
    cu->easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    cu->easy_setopt(e, CURLOPT_HEADERDATA, t);
    cu->easy_setopt(e, CURLOPT_PREREQFUNCTION, prereq_cb);
    cu->easy_setopt(e, CURLOPT_PREREQDATA, t);
    cu->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cu->easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    cu->easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    cu->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)to->connect_ms);
    cu->easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)to->total_ms);
    cu->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    cu->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    cu->easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL); /* pass bytes as sent; no gzip surprises */
    cu->easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    t->started_us = gr_now_us();
    arm_watchdog(t, to->first_byte_ms ? to->first_byte_ms + to->connect_ms : 0);
    /* Inside a curl callback (another transfer's on_headers/on_data), libcurl
     * refuses curl_multi_add_handle with CURLM_RECURSIVE_API_CALL, and start
     * returned NULL although callbacks may start transfers: add it from the
     * reaper instead, outside curl, on the next loop turn. */
    if (u->in_curl) {
        t->next_pending = u->pending;
        u->pending = t;
        event_active(u->reaper, 0, 0);
        return &t->hdr;
    }
    if (cu->multi_add_handle(u->multi, e) != CURLM_OK) {
        t->done = true;
        transfer_release(t);
        return NULL;
    }
    t->in_multi = true;
    u->active++;
    return &t->hdr;
}

static void curl_cancel(gr_transfer *h) {
    curl_xfer *t = (curl_xfer *)h;
    if (t->cancelled) return;
    t->cancelled = true;
    if (t->done) return; /* already buried */
    t->done = true;
    event_del(t->watchdog);
    if (t->in_multi && t->u->in_curl == 0) {
        /* Outside curl callbacks: removing closes the connection now, which
         * is what tells the upstream to stop generating. */
        gr_curl()->multi_remove_handle(t->u->multi, t->easy);
        t->in_multi = false;
        t->u->active--;
    }
    bury(t);
}

static void curl_pause(gr_transfer *h) {
    curl_xfer *t = (curl_xfer *)h;
    if (t->paused || t->done) return;
    t->paused = true;
    event_del(t->watchdog);
    gr_curl()->easy_pause(t->easy, CURLPAUSE_RECV);
}

static void curl_resume(gr_transfer *h) {
    curl_xfer *t = (curl_xfer *)h;
    if (!t->paused || t->done) return;
    t->paused = false;
    arm_watchdog(t, t->timeouts.idle_ms);
    t->u->in_curl++;
    gr_curl()->easy_pause(t->easy, CURLPAUSE_CONT);
    t->u->in_curl--;
    /* Kick the state machine: unpausing does not wake the socket by itself. */
    socket_action(t->u, CURL_SOCKET_TIMEOUT, 0);
}

static uint64_t curl_first_byte_us(const gr_transfer *h) { return ((const curl_xfer *)h)->first_byte_us; }

static const gr_engine_ops k_curl_ops = {curl_cancel, curl_pause, curl_resume, curl_first_byte_us};
