/* log.h — operational log lines (stderr, leveled, one write per line) and the
 * JSON access log (one line per request; stdout, a file, or off). Both are
 * safe from any thread: each line is formatted on the caller's stack and
 * written with a single write(2) — or, for the access log on a thread that
 * called gr_access_log_buffer_begin (the workers, with
 * log.access_log_buffer > 0), appended to that thread's buffer and written
 * with its other lines when the buffer fills, at gr_access_log_flush (the
 * worker's timer, log.access_log_flush_ms) and at gr_access_log_buffer_end.
 * Secrets are never passed here. */
#ifndef GR_LOG_H
#define GR_LOG_H

#include "common.h"

typedef enum { GR_LOG_DEBUG = 0, GR_LOG_INFO, GR_LOG_WARN, GR_LOG_ERROR } gr_log_level;

void gr_log_set_level(gr_log_level lvl);
gr_log_level gr_log_level_parse(const char *s);
void gr_log(gr_log_level lvl, const char *fmt, ...) GR_PRINTF(2, 3);
/* Opens the access log target ("-", "off", or a path); returns false on error. */
bool gr_access_log_open(const char *target);
void gr_access_log_write(const char *line, size_t len); /* line without '\n' */
bool gr_access_log_enabled(void);
/* The calling thread's access-log buffer: cap bytes (0 = stay unbuffered). */
void gr_access_log_buffer_begin(size_t cap);
void gr_access_log_flush(void);      /* writes the calling thread's buffered lines */
void gr_access_log_buffer_end(void); /* flushes and frees the calling thread's buffer */

#define GR_DEBUG(...) gr_log(GR_LOG_DEBUG, __VA_ARGS__)
#define GR_INFO(...) gr_log(GR_LOG_INFO, __VA_ARGS__)
#define GR_WARN(...) gr_log(GR_LOG_WARN, __VA_ARGS__)
#define GR_ERROR(...) gr_log(GR_LOG_ERROR, __VA_ARGS__)

#endif
