/* common.h — shared vocabulary of GateRouter: the status enum every fallible
 * call returns, string views over untrusted input, branch hints, and the
 * out-of-memory policy (internal allocations abort; input-sized ones use the
 * recoverable path and return GR_ERR_NOMEM / GR_ERR_TOO_LARGE). */
#ifndef GR_COMMON_H
#define GR_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define GR_VERSION "0.1.0"

#if defined(__GNUC__)
#define GR_LIKELY(x) __builtin_expect(!!(x), 1)
#define GR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GR_MUST_CHECK __attribute__((warn_unused_result))
#define GR_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GR_LIKELY(x) (x)
#define GR_UNLIKELY(x) (x)
#define GR_MUST_CHECK
#define GR_PRINTF(a, b)
#endif

#define GR_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Result of every synchronous fallible call; results go in out-parameters. */
typedef enum {
    GR_OK = 0,
    GR_AGAIN,         /* incremental parser: incomplete input, feed more */
    GR_ERR_NOMEM,
    GR_ERR_TOO_LARGE, /* an input-controlled size exceeded its cap */
    GR_ERR_PARSE,     /* malformed input */
    GR_ERR_INVALID,   /* well-formed but semantically invalid */
    GR_ERR_NOT_FOUND,
    GR_ERR_IO,
    GR_ERR_CRYPTO,
    GR_ERR_UNSUPPORTED,
    GR_ERR_UNAVAILABLE, /* a networked store or service cannot be reached */
} gr_status;

const char *gr_status_str(gr_status s);

/* A (pointer, length) view; never owns, never NUL-terminated by contract. */
typedef struct gr_str {
    const char *ptr;
    size_t len;
} gr_str;

#define GR_STR_LIT(s) ((gr_str){(s), sizeof(s) - 1})
static inline gr_str gr_str_c(const char *s) { return (gr_str){s, s ? strlen(s) : 0}; }
static inline bool gr_str_eq(gr_str a, gr_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool gr_str_eq_c(gr_str a, const char *c) { return gr_str_eq(a, gr_str_c(c)); }

/* FNV-1a over n bytes, continuing from h (start from GR_FNV1A64_BASIS or
 * GR_FNV1A32_BASIS): for spreading names over table slots, never for
 * anything an attacker must not predict. */
#define GR_FNV1A64_BASIS 1469598103934665603ull
#define GR_FNV1A32_BASIS 2166136261u
static inline uint64_t gr_fnv1a64(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ull;
    return h;
}
static inline uint32_t gr_fnv1a32(uint32_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 16777619u;
    return h;
}

/* Internal allocations: abort on OOM (Redis/h2o policy). */
void *gr_xmalloc(size_t n);
void *gr_xcalloc(size_t n, size_t m);
void *gr_xrealloc(void *p, size_t n);
char *gr_xstrdup(const char *s);
char *gr_xstrndup(const char *s, size_t n);

/* Constant-time comparison of secrets (API keys, admin key). */
bool gr_secret_eq(const char *a, size_t alen, const char *b, size_t blen);

/* Monotonic clock in microseconds, wall clock in milliseconds. */
uint64_t gr_now_us(void);
uint64_t gr_wall_ms(void);

#endif
