/* fuzz_http_server.c — the client-facing HTTP/1.1 server (src/net/http_server.c)
 * fed arbitrary bytes by a raw client over loopback TCP, one fresh event_base,
 * listener and server per input.
 *
 * Input: byte 0 is a flag byte, the rest goes to the connection.
 *   bit 0     small header cap (max_header_bytes 256, else 8192)
 *   bit 1     small body cap (max_body_bytes 64, else 65536)
 *   bits 2-3  how the application answers: 0 at once (Content-Length reply),
 *             1 a stream (reply_start, two chunks, reply_end), 2 on the next
 *             round of the loop, 3 alternating between the three
 *   bit 4     half-close the client (shutdown SHUT_WR) after writing
 *   bit 5     free the server while a deferred request is still owned, then
 *             answer it (a detached request outliving its server)
 *   bits 6-7  writes: whole, three pieces, 61-byte pieces, byte by byte for
 *             the first 64 bytes then the rest (a loop round between writes)
 * After the writes the loop runs until quiet: rounds of a non-blocking loop
 * pass, the client reading everything, until 4 rounds in a row change
 * nothing (at most 4000 rounds).
 *
 * Invariants: the application answers every request it gets (refused ones
 * too); a refused request has code 400, 413 or 431, non-empty code/message
 * strings and method "" (413: its method, the headers were read); an accepted one has a non-empty method and URI and a
 * body no longer than max_body_bytes; gr_client_req_header(name) returns the
 * first value each_header gave for that name (case-insensitive); on_close
 * runs at most once, on_done exactly once per request once all are ended and
 * the server is freed; whatever the client received starts with "HTTP/1.";
 * no leak (libFuzzer/ASan) and no crash. */
#include "fuzz.h"
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_RECS 512
#define MAX_HDRS 32

typedef struct frec {
    gr_client_req *req; /* owned until answered; NULL then */
    int err;
    int nclose, ndone;
} frec;

typedef struct fctx {
    struct event_base *base;
    gr_http_server *s;
    gr_http_server_limits lim;
    int mode;
    frec recs[MAX_RECS];
    int n, overflow, events;
    unsigned checksum;
    int deferred[MAX_RECS]; /* indexes of requests answered next round */
    int ndeferred;
} fctx;

static void on_close_cb(gr_client_req *req, void *arg) {
    (void)req;
    ((frec *)arg)->nclose++;
}

static void on_done_cb(void *arg, bool flushed) {
    (void)flushed;
    ((frec *)arg)->ndone++;
}

typedef struct hdr_seen {
    const gr_client_req *req;
    const char *names[MAX_HDRS];
    const char *values[MAX_HDRS];
    int n;
} hdr_seen;

static bool each_fn(const char *name, const char *value, void *arg) {
    hdr_seen *h = arg;
    GR_FUZZ_ASSERT(name && value);
    (void)strlen(name);
    (void)strlen(value);
    for (int i = 0; i < h->n; i++)
        if (strcasecmp(h->names[i], name) == 0) return true; /* not the first of its name */
    if (h->n < MAX_HDRS) {
        h->names[h->n] = name;
        h->values[h->n] = value;
        h->n++;
    }
    return true;
}

static void answer(frec *r, int err, int how) {
    gr_client_req *req = r->req;
    r->req = NULL;
    if (how == 1 && !err) {
        gr_client_req_reply_start(req, 200, "text/plain");
        struct evbuffer *b = evbuffer_new();
        evbuffer_add(b, "first", 5);
        (void)gr_client_req_send_chunk(req, b);
        GR_FUZZ_ASSERT(evbuffer_get_length(b) == 0);
        evbuffer_add(b, "second", 6);
        (void)gr_client_req_send_chunk(req, b);
        evbuffer_free(b);
        gr_client_req_reply_end(req);
    } else {
        (void)gr_client_req_add_header(req, "X-Fuzz", "1");
        gr_client_req_reply(req, err ? err : 200, "text/plain", "ok", 2);
    }
}

static void on_request(gr_client_req *req, void *arg) {
    fctx *x = arg;
    x->events++;
    gr_error_code ec = GR_EC_COUNT;
    const char *code = NULL, *msg = NULL;
    int err = gr_client_req_error(req, &ec, &msg);
    if (err) code = gr_error_catalogue_row(ec)->code;
    const char *method = gr_client_req_method(req), *uri = gr_client_req_uri(req);
    GR_FUZZ_ASSERT(method && uri);
    if (err) {
        GR_FUZZ_ASSERT(err == 400 || err == 413 || err == 431);
        GR_FUZZ_ASSERT(code && msg && code[0] && msg[0]);
        GR_FUZZ_ASSERT(err == 413 ? method[0] != '\0' : method[0] == '\0'); /* 413: headers were read */
    } else {
        GR_FUZZ_ASSERT(method[0] != '\0' && uri[0] != '\0');
        size_t bl = 0;
        const char *b = gr_client_req_body(req, &bl);
        GR_FUZZ_ASSERT(b != NULL);
        GR_FUZZ_ASSERT(bl <= x->lim.max_body_bytes);
        unsigned sum = 0; /* every byte readable (ASan) */
        for (size_t i = 0; i < bl; i++) sum += (unsigned char)b[i];
        x->checksum += sum;
        hdr_seen h = {.req = req};
        gr_client_req_each_header(req, each_fn, &h);
        for (int i = 0; i < h.n; i++) {
            const char *v = gr_client_req_header(req, h.names[i]);
            GR_FUZZ_ASSERT(v && strcmp(v, h.values[i]) == 0);
        }
    }
    if (x->n >= MAX_RECS) { /* more requests than records: answer, unrecorded */
        x->overflow++;
        gr_client_req_reply(req, err ? err : 200, NULL, "", 0);
        return;
    }
    int idx = x->n++;
    frec *r = &x->recs[idx];
    r->req = req;
    r->err = err;
    gr_client_req_on_close(req, on_close_cb, r);
    gr_client_req_on_done(req, on_done_cb, r);
    int how = x->mode == 3 ? idx % 3 : x->mode;
    if (how == 2) x->deferred[x->ndeferred++] = idx;
    else answer(r, err, how);
}

static int answer_deferred(fctx *x) {
    int n = x->ndeferred;
    x->ndeferred = 0;
    for (int i = 0; i < n; i++) {
        frec *r = &x->recs[x->deferred[i]];
        if (r->req) answer(r, r->err, 0);
    }
    return n;
}

typedef struct client {
    int fd;
    size_t got;
    char first[8];
    bool eof;
} client;

static int client_read(client *c) {
    int progress = 0;
    char buf[16384];
    while (!c->eof) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            for (ssize_t i = 0; i < n && c->got + (size_t)i < sizeof(c->first); i++) c->first[c->got + (size_t)i] = buf[i];
            c->got += (size_t)n;
            progress = 1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            c->eof = true; /* EOF or reset */
            progress = 1;
        }
    }
    return progress;
}

/* one round: the server's events, the client's reads, deferred answers */
static int round_once(fctx *x, client *c) {
    int before = x->events;
    event_base_loop(x->base, EVLOOP_NONBLOCK);
    int p = client_read(c);
    p |= answer_deferred(x) > 0;
    return p || x->events != before;
}

static void pump(fctx *x, client *c, int max_rounds) {
    int quiet = 0;
    for (int i = 0; i < max_rounds && quiet < 4; i++) quiet = round_once(x, c) ? 0 : quiet + 1;
}

/* writes all of p, pumping the loop when the socket is full */
static void client_write(fctx *x, client *c, const uint8_t *p, size_t n) {
    int spins = 0;
    while (n && spins < 4000) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w, n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            (void)round_once(x, c);
            spins++;
        } else {
            return; /* the server closed: the rest is not wanted */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool init;
    if (!init) {
        signal(SIGPIPE, SIG_IGN); /* as the gateway process does (server.c) */
        init = true;
    }
    if (size < 1) return 0;
    uint8_t flags = data[0];
    data++, size--;

    fctx *x = calloc(1, sizeof(*x));
    GR_FUZZ_ASSERT(x);
    x->lim.max_header_bytes = (flags & 1) ? 256 : 8192;
    x->lim.max_body_bytes = (flags & 2) ? 64 : 65536;
    x->lim.client_timeout_ms = 5000;
    x->lim.linger_ms = 50;
    x->mode = (flags >> 2) & 3;
    x->base = event_base_new();
    GR_FUZZ_ASSERT(x->base);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    GR_FUZZ_ASSERT(lfd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    GR_FUZZ_ASSERT(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
    GR_FUZZ_ASSERT(listen(lfd, 8) == 0);
    socklen_t al = sizeof(a);
    GR_FUZZ_ASSERT(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
    x->s = gr_http_server_new(x->base, lfd, &x->lim, on_request, x);
    GR_FUZZ_ASSERT(x->s);

    client c = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    GR_FUZZ_ASSERT(c.fd >= 0);
    GR_FUZZ_ASSERT(connect(c.fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    GR_FUZZ_ASSERT(fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK) == 0);
    pump(x, &c, 50); /* accepted */

    switch (flags >> 6) {
    case 0:
        client_write(x, &c, data, size);
        break;
    case 1: {
        size_t a1 = size / 3, a2 = 2 * size / 3;
        client_write(x, &c, data, a1);
        pump(x, &c, 20);
        client_write(x, &c, data + a1, a2 - a1);
        pump(x, &c, 20);
        client_write(x, &c, data + a2, size - a2);
        break;
    }
    case 2:
        for (size_t off = 0; off < size; off += 61) {
            client_write(x, &c, data + off, size - off < 61 ? size - off : 61);
            pump(x, &c, 10);
        }
        break;
    default: {
        size_t head = size < 64 ? size : 64;
        for (size_t off = 0; off < head; off++) {
            client_write(x, &c, data + off, 1);
            (void)round_once(x, &c);
        }
        client_write(x, &c, data + head, size - head);
        break;
    }
    }
    if (flags & 0x10) (void)shutdown(c.fd, SHUT_WR);
    pump(x, &c, 4000);

    /* bit 5: a deferred request still owned when the server goes */
    bool free_first = (flags & 0x20) && x->ndeferred > 0;
    if (!free_first) {
        (void)answer_deferred(x);
        pump(x, &c, 200);
    }
    size_t conns = gr_http_server_connections(x->s);
    GR_FUZZ_ASSERT(conns <= 1);
    gr_http_server_free(x->s);
    x->s = NULL;
    for (int i = 0; i < x->n; i++)
        if (x->recs[i].req) {
            GR_FUZZ_ASSERT(!gr_client_req_connected(x->recs[i].req));
            answer(&x->recs[i], x->recs[i].err, 0);
        }
    x->ndeferred = 0;
    for (int i = 0; i < 8; i++) event_base_loop(x->base, EVLOOP_NONBLOCK);
    (void)client_read(&c);

    for (int i = 0; i < x->n; i++) {
        GR_FUZZ_ASSERT(x->recs[i].req == NULL);
        GR_FUZZ_ASSERT(x->recs[i].ndone == 1);
        GR_FUZZ_ASSERT(x->recs[i].nclose <= 1);
    }
    if (c.got) GR_FUZZ_ASSERT(memcmp(c.first, "HTTP/1.", c.got < 7 ? c.got : 7) == 0);

    close(c.fd);
    event_base_free(x->base);
    free(x);
    return 0;
}
