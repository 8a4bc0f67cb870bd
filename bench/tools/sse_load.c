/* sse_load.c — streaming load client for bench/run (loopback only).
 *
 * Opens up to --concurrency HTTP/1.1 streaming POSTs at once (--streams in
 * total) on one epoll loop, decodes chunked / length / close-delimited
 * bodies, frames SSE events ("\n\n" or "\r\n\r\n") and timestamps every event
 * when the read that completed it returns. Per stream it records the time to
 * the first event (from the moment the request was fully written), the gaps
 * between consecutive events, the number of data events and whether
 * "data: [DONE]" arrived. It prints one JSON object:
 *
 *   streams, ok, errors (connect/io), non2xx, incomplete (no [DONE] or cut),
 *   dropped_frames (sum over streams of max(0, expect - events)),
 *   stalls (TTFT or an inter-event gap > 10 x pace), max_open,
 *   ttft_us {p50,p90,p99,max}, gap_us {p50,p90,p99,p999,max}, wall_s
 *
 * Every run is bounded: --timeout-s ends it (open streams count as
 * incomplete), and only 127.0.0.0/8 targets are accepted.
 *
 *   sse_load --url http://127.0.0.1:8080/v1/chat/completions --body-file B
 *            [--header "K: V"]... [--streams N] [--concurrency C]
 *            [--connect-batch K] [--expect E] [--pace-ms P] [--timeout-s T]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { ST_FREE, ST_CONNECTING, ST_SENDING, ST_HEAD, ST_BODY };
enum { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER, CH_NONE };

typedef struct conn {
    int fd, state;
    size_t sent;
    uint64_t t_sent, t_last;
    size_t head_len;
    int status;
    bool chunked, has_len;
    uint64_t remaining; /* content-length left, or chunk bytes left */
    int ch_state;
    size_t ch_line_len;
    size_t ev_len;
    int nl_run; /* consecutive newlines seen (CR ignored) */
    uint32_t events;
    bool done_seen, first;
    /* buffers last: open_one() zeroes everything before `ch_line` */
    char ch_line[64];
    char head[16384];
    char ev[65536]; /* current SSE event bytes (truncated if larger: only the start matters) */
} conn;

static struct {
    struct sockaddr_in addr;
    char *req;
    size_t req_len;
    long streams, concurrency, connect_batch, expect;
    double pace_ms, timeout_s;
    uint64_t stagger_us;
} g;

static struct {
    long started, finished, ok, errors, non2xx, incomplete, stalls, ttft_stalls, max_open, open,
        connecting;
    uint64_t dropped;
    uint64_t *ttft;
    size_t nttft;
    uint64_t *gaps;
    size_t ngaps, gaps_cap;
} R;

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *m) {
    fprintf(stderr, "sse_load: %s\n", m);
    exit(2);
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open body file");
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)len + 1);
    if (!b || fread(b, 1, (size_t)len, f) != (size_t)len) die("cannot read body file");
    fclose(f);
    b[len] = 0;
    *n = (size_t)len;
    return b;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t pct(const uint64_t *v, size_t n, double p) {
    if (!n) return 0;
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    if (i >= n) i = n - 1;
    return v[i];
}

static void add_gap(uint64_t gap) {
    if (R.ngaps == R.gaps_cap) {
        R.gaps_cap = R.gaps_cap ? R.gaps_cap * 2 : 65536;
        R.gaps = realloc(R.gaps, R.gaps_cap * sizeof *R.gaps);
        if (!R.gaps) die("oom");
    }
    R.gaps[R.ngaps++] = gap;
}

static void finish(int ep, conn *c, bool io_error) {
    R.finished++;
    if (c->state == ST_CONNECTING) R.connecting--;
    if (io_error && c->status == 0) R.errors++;
    else if (c->status && (c->status < 200 || c->status > 299)) R.non2xx++;
    else if (!c->done_seen) R.incomplete++;
    else R.ok++;
    if (c->status >= 200 && c->status <= 299) {
        if (c->events < (uint32_t)g.expect) R.dropped += (uint64_t)g.expect - c->events;
    } else if (c->status == 0 && !io_error) {
        R.dropped += (uint64_t)g.expect;
    }
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = ST_FREE;
    R.open--;
}

static void on_event(conn *c, uint64_t t) {
    /* data lines: "data:" or "data: "; [DONE] ends the stream */
    const char *d = NULL;
    for (size_t i = 0; i + 5 <= c->ev_len; i++) {
        if ((i == 0 || c->ev[i - 1] == '\n') && memcmp(c->ev + i, "data:", 5) == 0) {
            d = c->ev + i + 5;
            break;
        }
    }
    c->ev_len = 0;
    if (!d) return; /* comment / event-only frame */
    if (*d == ' ') d++;
    if (strncmp(d, "[DONE]", 6) == 0) {
        c->done_seen = true;
        return;
    }
    uint64_t stall = (uint64_t)(g.pace_ms * 10000.0);
    if (!c->first) {
        c->first = true;
        uint64_t ttft = t - c->t_sent;
        R.ttft[R.nttft++] = ttft;
        if (g.pace_ms > 0 && ttft > stall) R.stalls++, R.ttft_stalls++;
    } else {
        uint64_t gap = t - c->t_last;
        add_gap(gap);
        if (g.pace_ms > 0 && gap > stall) R.stalls++;
    }
    c->t_last = t;
    c->events++;
}

/* SSE framing over decoded body bytes. */
static void feed_sse(conn *c, const char *p, size_t n, uint64_t t) {
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\r') continue;
        if (ch == '\n') {
            if (++c->nl_run == 2) {
                c->nl_run = 0;
                if (c->ev_len < sizeof c->ev) c->ev[c->ev_len] = 0;
                else c->ev[sizeof c->ev - 1] = 0;
                on_event(c, t);
                continue;
            }
        } else {
            c->nl_run = 0;
        }
        if (c->ev_len < sizeof c->ev - 1) c->ev[c->ev_len++] = ch;
        else c->ev_len = sizeof c->ev - 1;
    }
}

/* Body decoding; returns true when the body is complete. */
static bool feed_body(conn *c, const char *p, size_t n, uint64_t t) {
    if (!c->chunked) {
        if (c->has_len) {
            size_t take = n < c->remaining ? n : (size_t)c->remaining;
            feed_sse(c, p, take, t);
            c->remaining -= take;
            return c->remaining == 0;
        }
        feed_sse(c, p, n, t);
        return false; /* until EOF */
    }
    size_t i = 0;
    while (i < n) {
        switch (c->ch_state) {
        case CH_SIZE:
            if (p[i] == '\n') {
                c->ch_line[c->ch_line_len] = 0;
                c->remaining = strtoull(c->ch_line, NULL, 16);
                c->ch_line_len = 0;
                c->ch_state = c->remaining ? CH_DATA : CH_TRAILER;
            } else if (c->ch_line_len < sizeof c->ch_line - 1) {
                c->ch_line[c->ch_line_len++] = p[i];
            }
            i++;
            break;
        case CH_DATA: {
            size_t take = n - i < c->remaining ? n - i : (size_t)c->remaining;
            feed_sse(c, p + i, take, t);
            i += take;
            c->remaining -= take;
            if (!c->remaining) c->ch_state = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF:
            if (p[i] == '\n') c->ch_state = CH_SIZE;
            i++;
            break;
        case CH_TRAILER:
            /* "0\r\n" then optional trailers then "\r\n": accept the first empty line */
            if (p[i] == '\n') {
                if (c->ch_line_len == 0) return true;
                c->ch_line_len = 0;
            } else if (p[i] != '\r') {
                c->ch_line_len = 1;
            }
            i++;
            break;
        default: i++;
        }
    }
    return false;
}

static bool parse_head(conn *c, const char *p, size_t n, uint64_t t, bool *complete) {
    size_t room = sizeof c->head - 1 - c->head_len;
    size_t take = n < room ? n : room;
    memcpy(c->head + c->head_len, p, take);
    c->head_len += take;
    c->head[c->head_len] = 0;
    char *end = strstr(c->head, "\r\n\r\n");
    if (!end) return c->head_len < sizeof c->head - 1; /* need more, or too large */
    size_t hlen = (size_t)(end - c->head) + 4;
    if (sscanf(c->head, "HTTP/1.%*d %d", &c->status) != 1) return false;
    for (char *l = strstr(c->head, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (strncasecmp(h, "transfer-encoding:", 18) == 0) {
            char *v = h + 18;
            while (*v == ' ') v++;
            if (strncasecmp(v, "chunked", 7) == 0) c->chunked = true;
        } else if (strncasecmp(h, "content-length:", 15) == 0) {
            c->has_len = true;
            c->remaining = strtoull(h + 15, NULL, 10);
        }
    }
    c->ch_state = c->chunked ? CH_SIZE : CH_NONE;
    c->state = ST_BODY;
    /* the rest of this read, past the header block, is body */
    size_t consumed_from_p = hlen - (c->head_len - take);
    if (!c->chunked && c->has_len && c->remaining == 0) *complete = true;
    else if (consumed_from_p < n) *complete = feed_body(c, p + consumed_from_p, n - consumed_from_p, t);
    return true;
}

static bool open_one(int ep, conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(c, 0, offsetof(conn, ch_line));
    c->fd = fd;
    c->state = ST_CONNECTING;
    R.started++;
    R.open++;
    R.connecting++;
    if (R.open > R.max_open) R.max_open = R.open;
    int rc = connect(fd, (struct sockaddr *)&g.addr, sizeof g.addr);
    if (rc < 0 && errno != EINPROGRESS) {
        struct epoll_event ev = {.events = 0, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        finish(ep, c, true);
        return true;
    }
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return true;
}

static void on_writable(int ep, conn *c) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            finish(ep, c, true);
            return;
        }
        R.connecting--;
        c->state = ST_SENDING;
    }
    if (c->state != ST_SENDING) return;
    while (c->sent < g.req_len) {
        ssize_t w = send(c->fd, g.req + c->sent, g.req_len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) return;
            finish(ep, c, true);
            return;
        }
        c->sent += (size_t)w;
    }
    c->t_sent = now_us();
    c->state = ST_HEAD;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_readable(int ep, conn *c) {
    static char buf[262144];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r < 0) {
            if (errno == EAGAIN) return;
            finish(ep, c, true);
            return;
        }
        if (r == 0) {
            /* EOF: fine for close-delimited bodies, else the stream was cut */
            finish(ep, c, c->state != ST_BODY);
            return;
        }
        uint64_t t = now_us();
        bool complete = false;
        if (c->state == ST_HEAD) {
            if (!parse_head(c, buf, (size_t)r, t, &complete)) {
                finish(ep, c, true);
                return;
            }
        } else if (c->state == ST_BODY) {
            complete = feed_body(c, buf, (size_t)r, t);
        }
        if (complete) {
            finish(ep, c, false);
            return;
        }
    }
}

static void usage(void) {
    fprintf(stderr,
            "usage: sse_load --url http://127.0.0.1:PORT/PATH --body-file F [--header 'K: V']...\n"
            "  [--streams N] [--concurrency C] [--connect-batch K] [--expect E] [--pace-ms P] [--timeout-s T]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *url = NULL, *body_file = NULL;
    char *headers = calloc(1, 1);
    size_t hlen = 0;
    g.streams = 1;
    g.concurrency = 0;
    g.connect_batch = 64;
    g.expect = 0;
    g.pace_ms = 20;
    g.timeout_s = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--url")) url = v;
        else if (!strcmp(a, "--body-file")) body_file = v;
        else if (!strcmp(a, "--header")) {
            size_t n = strlen(v);
            headers = realloc(headers, hlen + n + 3);
            memcpy(headers + hlen, v, n);
            memcpy(headers + hlen + n, "\r\n", 3);
            hlen += n + 2;
        } else if (!strcmp(a, "--streams")) g.streams = atol(v);
        else if (!strcmp(a, "--concurrency")) g.concurrency = atol(v);
        else if (!strcmp(a, "--connect-batch")) g.connect_batch = atol(v);
        else if (!strcmp(a, "--expect")) g.expect = atol(v);
        else if (!strcmp(a, "--pace-ms")) g.pace_ms = atof(v);
        else if (!strcmp(a, "--timeout-s")) g.timeout_s = atof(v);
        else if (!strcmp(a, "--stagger-us")) g.stagger_us = (uint64_t)atoll(v);
        else usage();
        i++;
    }
    if (!url || !body_file || g.streams < 1) usage();
    if (g.concurrency <= 0 || g.concurrency > g.streams) g.concurrency = g.streams;
    if (g.connect_batch < 1) g.connect_batch = 1;

    char host[64];
    int port = 0;
    char path[1024];
    if (sscanf(url, "http://%63[^:/]:%d%1023s", host, &port, path) != 3) die("bad --url (http://HOST:PORT/PATH)");
    g.addr.sin_family = AF_INET;
    g.addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &g.addr.sin_addr) != 1) die("--url host must be an IPv4 literal");
    if ((ntohl(g.addr.sin_addr.s_addr) >> 24) != 127) die("loopback (127.0.0.0/8) targets only");

    size_t blen;
    char *body = read_file(body_file, &blen);
    size_t cap = blen + hlen + 1024;
    g.req = malloc(cap);
    g.req_len = (size_t)snprintf(g.req, cap,
                                 "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                                 "Accept: text/event-stream\r\nContent-Length: %zu\r\n%s\r\n",
                                 path, host, port, blen, headers);
    memcpy(g.req + g.req_len, body, blen);
    g.req_len += blen;

    R.ttft = calloc((size_t)g.streams, sizeof *R.ttft);
    conn *conns = calloc((size_t)g.concurrency, sizeof *conns);
    if (!R.ttft || !conns) die("oom");
    for (long i = 0; i < g.concurrency; i++) conns[i].fd = -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event *evs = calloc(4096, sizeof *evs);

    uint64_t t0 = now_us(), deadline = t0 + (uint64_t)(g.timeout_s * 1e6);
    long next_free = 0;
    uint64_t next_start = t0;
    while (R.finished < g.streams) {
        /* top up: keep `concurrency` streams open, at most connect_batch connecting,
         * starts at least stagger_us apart */
        for (long scanned = 0; R.started < g.streams && R.open < g.concurrency &&
                               R.connecting < g.connect_batch && scanned < g.concurrency;
             scanned++) {
            conn *c = &conns[next_free];
            if (c->state != ST_FREE) {
                next_free = (next_free + 1) % g.concurrency;
                continue;
            }
            if (g.stagger_us) {
                uint64_t t = now_us();
                if (t < next_start) break;
                next_start = t + g.stagger_us;
            }
            next_free = (next_free + 1) % g.concurrency;
            open_one(ep, c);
        }
        uint64_t now = now_us();
        if (now >= deadline) break;
        int ms = (int)((deadline - now) / 1000) + 1;
        if (ms > 100) ms = 100;
        if (g.stagger_us && R.started < g.streams && next_start > now && (int)((next_start - now) / 1000) < ms)
            ms = (int)((next_start - now) / 1000);
        int n = epoll_wait(ep, evs, 4096, ms);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->state == ST_FREE) continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR)) on_writable(ep, c);
            if (c->state != ST_FREE && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                on_readable(ep, c);
        }
    }
    double wall = (double)(now_us() - t0) / 1e6;
    long cut = 0;
    for (long i = 0; i < g.concurrency; i++) {
        if (conns[i].state != ST_FREE) {
            cut++;
            finish(ep, &conns[i], false);
        }
    }
    long never = g.streams - R.started;
    R.incomplete += never;
    R.dropped += (uint64_t)never * (uint64_t)g.expect;

    qsort(R.ttft, R.nttft, sizeof *R.ttft, cmp_u64);
    qsort(R.gaps, R.ngaps, sizeof *R.gaps, cmp_u64);
    printf("{\"streams\":%ld,\"ok\":%ld,\"errors\":%ld,\"non2xx\":%ld,\"incomplete\":%ld,\"timed_out\":%ld,"
           "\"dropped_frames\":%llu,\"stalls\":%ld,\"ttft_stalls\":%ld,\"max_open\":%ld,\"events\":%zu,"
           "\"ttft_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu},"
           "\"gap_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p999\":%llu,\"max\":%llu},\"wall_s\":%.3f}\n",
           g.streams, R.ok, R.errors, R.non2xx, R.incomplete, cut + never, (unsigned long long)R.dropped,
           R.stalls, R.ttft_stalls, R.max_open, R.ngaps + R.nttft,
           (unsigned long long)pct(R.ttft, R.nttft, 50), (unsigned long long)pct(R.ttft, R.nttft, 90),
           (unsigned long long)pct(R.ttft, R.nttft, 99),
           (unsigned long long)(R.nttft ? R.ttft[R.nttft - 1] : 0),
           (unsigned long long)pct(R.gaps, R.ngaps, 50), (unsigned long long)pct(R.gaps, R.ngaps, 90),
           (unsigned long long)pct(R.gaps, R.ngaps, 99), (unsigned long long)pct(R.gaps, R.ngaps, 99.9),
           (unsigned long long)(R.ngaps ? R.gaps[R.ngaps - 1] : 0), wall);
    close(ep);
    free(evs);
    free(conns);
    free(R.ttft);
    free(R.gaps);
    free(g.req);
    free(body);
    free(headers);
    return 0;
}
