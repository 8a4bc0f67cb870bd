/* test_mock_upstream.c — the built-in mock upstream (src/mock/mock_upstream.c) on
 * its HTTP server, from raw loopback clients: a stream whose client stops
 * reading resumes and completes (backpressure), the connection is reused
 * afterwards (keep-alive), a client leaving cancels its stream, and stopping
 * the mock with a stream and a delayed reply in flight frees them (the
 * sanitizer and valgrind runs check for leaks). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mock_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static gr_mock *start(void) {
    gr_mock_options o = {.host = "127.0.0.1"};
    gr_mock *m = gr_mock_start(&o);
    assert_non_null(m);
    return m;
}

/* A blocking socket with a receive timeout; rcvbuf > 0 shrinks its buffer. */
static int dial(const gr_mock *m, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(gr_mock_port(m))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

static void send_all(int fd, const char *s) {
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        assert_true(w > 0);
        s += w;
        n -= (size_t)w;
    }
}

static void post_chat(int fd, const char *content, bool stream) {
    char body[512], req[1024];
    snprintf(body, sizeof body, "{\"model\":\"m\",\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
             stream ? "true" : "false", content);
    snprintf(req, sizeof req, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    send_all(fd, req);
}

/* Reads until the bytes read end with `end` (or EOF / timeout); returns the
 * total read, keeping the last bytes in tail. */
static size_t read_until(int fd, const char *end, char *tail, size_t tail_cap) {
    static char buf[1 << 16];
    size_t total = 0, tl = 0, el = strlen(end);
    tail[0] = '\0';
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) break;
        total += (size_t)n;
        size_t keep = (size_t)n < tail_cap - 1 ? (size_t)n : tail_cap - 1;
        if (tl + keep > tail_cap - 1) { /* slide */
            size_t drop = tl + keep - (tail_cap - 1);
            memmove(tail, tail + drop, tl - drop);
            tl -= drop;
        }
        memcpy(tail + tl, buf + (size_t)n - keep, keep);
        tl += keep;
        tail[tl] = '\0';
        if (tl >= el && !memcmp(tail + tl - el, end, el)) break;
    }
    return total;
}

static void get_stats(int fd, char *out, size_t cap) {
    send_all(fd, "GET /mock/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    read_until(fd, "}\n", out, cap);
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ~9 MB of SSE, far more than the socket buffers: the mock must hold back
 * while the client does not read, then finish once it reads again. */
static void test_stream_backpressure_then_keepalive(void **state) {
    (void)state;
    gr_mock *m = start();
    int fd = dial(m, 16384);
    post_chat(fd, "flood [[mock:tokens=40000]]", true);
    char tail[256];
    sleep_ms(300); /* not reading */
    size_t n = read_until(fd, "0\r\n\r\n", tail, sizeof tail);
    assert_true(n > (4u << 20));
    assert_non_null(strstr(tail, "data: [DONE]\n\n\r\n0\r\n\r\n"));
    char stats[512];
    get_stats(fd, stats, sizeof stats); /* the same connection: kept alive */
    assert_non_null(strstr(stats, "\"streams_started\":1,\"streams_completed\":1,\"streams_cancelled\":0"));
    close(fd);
    gr_mock_stop(m);
}

static void test_client_leaving_cancels_stream(void **state) {
    (void)state;
    gr_mock *m = start();
    int fd = dial(m, 0);
    post_chat(fd, "slow [[mock:tps=20]] [[mock:tokens=1000]]", true);
    char tail[256];
    read_until(fd, "\n\n\r\n", tail, sizeof tail); /* the first event */
    close(fd);
    int sfd = dial(m, 0);
    char stats[512] = "";
    for (int i = 0; i < 100 && !strstr(stats, "\"streams_cancelled\":1"); i++) {
        sleep_ms(10);
        get_stats(sfd, stats, sizeof stats);
    }
    assert_non_null(strstr(stats, "\"streams_completed\":0,\"streams_cancelled\":1"));
    close(sfd);
    gr_mock_stop(m);
}

static void test_stop_with_requests_in_flight(void **state) {
    (void)state;
    gr_mock *m = start();
    int s1 = dial(m, 0), s2 = dial(m, 0);
    post_chat(s1, "slow [[mock:tps=1]] [[mock:tokens=100]]", true);
    post_chat(s2, "later [[mock:delay_ms=60000]]", false);
    char tail[256];
    read_until(s1, "\n\n\r\n", tail, sizeof tail); /* the stream is under way */
    sleep_ms(50); /* the delayed request reached the mock */
    gr_mock_stop(m); /* frees both; their clients see the connection close */
    char buf[64];
    struct timeval tv = {2, 0};
    setsockopt(s2, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_true(read(s2, buf, sizeof buf) <= 0);
    close(s1);
    close(s2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_backpressure_then_keepalive),
        cmocka_unit_test(test_client_leaving_cancels_stream),
        cmocka_unit_test(test_stop_with_requests_in_flight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
