/* test_text_out.c — printf-free formatting (text_out.h) against snprintf's
 * output for the same values, exact decimals, and truncation at the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "text_out.h"

static void check_u64(uint64_t v) {
    char a[32], b[32];
    size_t n = gr_out_u64(a, 0, sizeof a, v);
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    a[n] = '\0';
    assert_string_equal(a, b);
}

static void check_i64(int64_t v) {
    char a[32], b[32];
    size_t n = gr_out_i64(a, 0, sizeof a, v);
    snprintf(b, sizeof b, "%lld", (long long)v);
    a[n] = '\0';
    assert_string_equal(a, b);
}

static void check_hex(uint64_t v) {
    char a[32], b[32];
    size_t n = gr_out_hex(a, 0, sizeof a, v);
    snprintf(b, sizeof b, "%llx", (unsigned long long)v);
    a[n] = '\0';
    assert_string_equal(a, b);
}

static void test_integers_match_printf(void **state) {
    (void)state;
    uint64_t u[] = {0, 1, 9, 10, 99, 100, 4095, 4096, 1234567890123ull, UINT64_MAX};
    for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) check_u64(u[i]), check_hex(u[i]);
    int64_t s[] = {0, -1, 1, -10, 499, INT64_MAX, INT64_MIN};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) check_i64(s[i]);
}

static void test_fixed_decimals(void **state) {
    (void)state;
    char a[64];
    size_t n = gr_out_fixed(a, 0, sizeof a, 1, 9);
    a[n] = '\0';
    assert_string_equal(a, "0.000000001");
    n = gr_out_fixed(a, 0, sizeof a, 12345678901ull, 9);
    a[n] = '\0';
    assert_string_equal(a, "12.345678901");
    n = gr_out_fixed(a, 0, sizeof a, 3729, 3);
    a[n] = '\0';
    assert_string_equal(a, "3.729");
    n = gr_out_fixed(a, 0, sizeof a, 0, 3);
    a[n] = '\0';
    assert_string_equal(a, "0.000");
}

static void test_truncates_at_cap(void **state) {
    (void)state;
    char a[8];
    memset(a, 'x', sizeof a);
    size_t n = GR_OUT_LIT(a, 0, 5, "abc");
    n = gr_out_u64(a, n, 5, 12345);
    assert_int_equal(n, 5);
    assert_memory_equal(a, "abc12", 5);
    assert_int_equal(a[5], 'x'); /* nothing written past the cap */
    assert_int_equal(gr_out_str(a, 5, 5, "more"), 5);
    assert_int_equal(gr_out_hex(a, 7, 5, 255), 7); /* already past the cap: unchanged */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integers_match_printf),
        cmocka_unit_test(test_fixed_decimals),
        cmocka_unit_test(test_truncates_at_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
