/* common.c — allocation wrappers (abort on internal OOM), status names, clocks,
 * and constant-time secret comparison. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void oom(size_t n) {
    fprintf(stderr, "gaterouter: out of memory allocating %zu bytes\n", n);
    abort();
}

void *gr_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (GR_UNLIKELY(!p)) oom(n);
    return p;
}

void *gr_xcalloc(size_t n, size_t m) {
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (GR_UNLIKELY(!p)) oom(n * m);
    return p;
}

void *gr_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (GR_UNLIKELY(!q)) oom(n);
    return q;
}

char *gr_xstrndup(const char *s, size_t n) {
    char *d = gr_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *gr_xstrdup(const char *s) { return gr_xstrndup(s, strlen(s)); }

const char *gr_status_str(gr_status s) {
    switch (s) {
    case GR_OK: return "ok";
    case GR_AGAIN: return "incomplete input";
    case GR_ERR_NOMEM: return "out of memory";
    case GR_ERR_TOO_LARGE: return "too large";
    case GR_ERR_PARSE: return "parse error";
    case GR_ERR_INVALID: return "invalid";
    case GR_ERR_NOT_FOUND: return "not found";
    case GR_ERR_IO: return "i/o error";
    case GR_ERR_CRYPTO: return "cryptographic check failed";
    case GR_ERR_UNSUPPORTED: return "unsupported";
    case GR_ERR_UNAVAILABLE: return "unavailable";
    }
    return "unknown status";
}

bool gr_secret_eq(const char *a, size_t alen, const char *b, size_t blen) {
    /* Compare over the longer length so timing does not reveal a prefix. */
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = i < alen ? (unsigned char)a[i] : 0;
        unsigned char y = i < blen ? (unsigned char)b[i] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

uint64_t gr_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t gr_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
