/* x402_test_util.h — helpers shared by the x402 unit tests: load a vector
 * file from tests/fixtures/x402/ (via $GR_SOURCE_DIR) and decode hex. */
#ifndef GR_X402_TEST_UTIL_H
#define GR_X402_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "evm.h"

static inline cJSON *load_x402_fixture(const char *name) {
    const char *root = getenv("GR_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/x402/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s (set GR_SOURCE_DIR)\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}

static inline cJSON *load_viem_vectors(void) { return load_x402_fixture("viem_vectors.json"); }

static inline const char *jstr(const cJSON *o, const char *path1) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, path1);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

/* decode fixed-size 0x-hex or fail the test */
#define HEX(str, buf) assert_int_equal(gr_evm_hex_decode(gr_str_c(str), (buf), sizeof(buf)), GR_OK)

#endif
