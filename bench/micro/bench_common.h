/* bench_common.h — tiny ns/op harness for the micro-benchmarks in bench/micro.
 *
 * bench_run() calibrates a batch size so one batch takes about
 * (BENCH_MICRO_SECONDS / 5) seconds (default 0.5 s in total), runs 5 batches
 * and prints the median ns/op as one line:
 *
 *   micro <name> <ns_per_op> ns/op (<ops per batch> x 5)
 *
 * bench/run collects those lines. There are no timing assertions: a benchmark
 * only fails (exit 1) if the operation it measures returns an error. */
#ifndef GR_BENCH_COMMON_H
#define GR_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void (*bench_fn)(void *ctx);

static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double bench_total_seconds(void) {
    const char *s = getenv("BENCH_MICRO_SECONDS");
    double v = s ? atof(s) : 0.5;
    return v > 0 ? v : 0.5;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Returns the median ns/op and prints the "micro" line. */
static inline double bench_run(const char *name, bench_fn fn, void *ctx) { /* name: no spaces */
    double batch_s = bench_total_seconds() / 5.0;
    uint64_t n = 1;
    for (;;) { /* calibrate (also warms caches and the allocator) */
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < n; i++) fn(ctx);
        double el = (double)(bench_now_ns() - t0) / 1e9;
        if (el >= batch_s / 4 || n >= (1ull << 30)) {
            double want = el > 0 ? (double)n * batch_s / el : (double)n * 2;
            n = want < 1 ? 1 : (uint64_t)want;
            break;
        }
        n *= 4;
    }
    double r[5];
    for (int k = 0; k < 5; k++) {
        uint64_t t0 = bench_now_ns();
        for (uint64_t i = 0; i < n; i++) fn(ctx);
        r[k] = (double)(bench_now_ns() - t0) / (double)n;
    }
    qsort(r, 5, sizeof r[0], bench_cmp_double);
    printf("micro %s %.1f ns/op (%llu x 5)\n", name, r[2], (unsigned long long)n);
    fflush(stdout);
    return r[2];
}

static inline void bench_fail(const char *what) {
    fprintf(stderr, "benchmark setup failed: %s\n", what);
    exit(1);
}

/* Defeats dead-code elimination. */
static volatile uint64_t bench_sink;

#endif
