/* fuzz.h — shared bits of the fuzz targets (libFuzzer entry point
 * LLVMFuzzerTestOneInput). Built two ways (cmake/area_fuzz.cmake):
 *   clang -fsanitize=fuzzer,address,undefined   real fuzzing (build-fuzz)
 *   gcc + tests/fuzz/driver.c (+ ASan/UBSan)    corpus replay in CI (CTest label "fuzz")
 * A target must be deterministic and must not leak: every allocation of one
 * input is freed before it returns. Invariants a target checks call
 * GR_FUZZ_ASSERT, which aborts (a finding) when violated. */
#ifndef GR_FUZZ_H
#define GR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GR_FUZZ_ASSERT(cond)                                                                  \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

/* NUL-terminated heap copy of the input (most parsers want C strings). */
static inline char *gr_fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
