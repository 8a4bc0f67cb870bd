/* log.c — leveled stderr log and the JSON access log sink (unbuffered, or
 * buffered per thread as nginx's access_log buffer=/flush=). */
#include "log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* Process-wide log settings (set at start-up and on reload). */
static atomic_int g_log_level = GR_LOG_INFO;
static atomic_int g_access_fd = 1;

void gr_log_set_level(gr_log_level lvl) { atomic_store(&g_log_level, (int)lvl); }

gr_log_level gr_log_level_parse(const char *s) {
    if (!s) return GR_LOG_INFO;
    if (!strcmp(s, "debug")) return GR_LOG_DEBUG;
    if (!strcmp(s, "warn")) return GR_LOG_WARN;
    if (!strcmp(s, "error")) return GR_LOG_ERROR;
    return GR_LOG_INFO;
}

void gr_log(gr_log_level lvl, const char *fmt, ...) {
    if ((int)lvl < atomic_load_explicit(&g_log_level, memory_order_relaxed)) return;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2) len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

bool gr_access_log_open(const char *target) {
    int fd;
    if (!target || !strcmp(target, "-")) fd = 1;
    else if (!strcmp(target, "off")) fd = -1;
    else {
        fd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0) return false;
    }
    int old = atomic_exchange(&g_access_fd, fd);
    if (old > 2) close(old);
    return true;
}

bool gr_access_log_enabled(void) { return atomic_load_explicit(&g_access_fd, memory_order_relaxed) >= 0; }

/* A thread's buffer of whole access-log lines (gr_access_log_buffer_begin).
 * Only its own thread touches it, so it needs no lock; each flush is one
 * write(2) of whole lines, so lines of different workers never interleave
 * inside a line (O_APPEND). */
static _Thread_local struct {
    char *buf;
    size_t len, cap;
} t_access;

void gr_access_log_buffer_begin(size_t cap) {
    if (t_access.buf || cap == 0) return;
    t_access.buf = gr_xmalloc(cap);
    t_access.cap = cap;
    t_access.len = 0;
}

void gr_access_log_flush(void) {
    if (!t_access.len) return;
    int fd = atomic_load_explicit(&g_access_fd, memory_order_relaxed);
    size_t off = 0;
    while (fd >= 0 && off < t_access.len) { /* a short write (a full disk, a pipe) writes the rest */
        ssize_t w = write(fd, t_access.buf + off, t_access.len - off);
        if (w <= 0) break; /* nothing to do about a failing log: the line is dropped, as unbuffered */
        off += (size_t)w;
    }
    t_access.len = 0;
}

void gr_access_log_buffer_end(void) {
    gr_access_log_flush();
    free(t_access.buf);
    t_access.buf = NULL;
    t_access.cap = t_access.len = 0;
}

void gr_access_log_write(const char *line, size_t len) {
    int fd = atomic_load_explicit(&g_access_fd, memory_order_relaxed);
    if (fd < 0) return;
    if (t_access.buf && len + 1 <= t_access.cap) {
        if (t_access.len + len + 1 > t_access.cap) gr_access_log_flush();
        memcpy(t_access.buf + t_access.len, line, len);
        t_access.buf[t_access.len + len] = '\n';
        t_access.len += len + 1;
        return;
    }
    gr_access_log_flush(); /* a line longer than the buffer: keep the order */
    char stackbuf[4096];
    if (len + 1 <= sizeof(stackbuf)) {
        memcpy(stackbuf, line, len);
        stackbuf[len] = '\n';
        ssize_t w = write(fd, stackbuf, len + 1);
        (void)w;
    } else {
        ssize_t w = write(fd, line, len);
        w = write(fd, "\n", 1);
        (void)w;
    }
}
