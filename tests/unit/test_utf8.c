/* test_utf8.c — UTF-8 well-formedness and repair (utf8.c): what may reach a
 * JSON error body or access-log line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "utf8.h"

/* utf8-1.x: one sequence at a time (Unicode table 3-7) */
static void test_seq_len(void **state) {
    static const struct {
        const char *id;
        const char *bytes;
        size_t len, want;
    } cases[] = {
        {"utf8-1.1", "A", 1, 1},
        {"utf8-1.2", "\xC3\xA9", 2, 2},           /* é */
        {"utf8-1.3", "\xE2\x82\xAC", 3, 3},       /* € */
        {"utf8-1.4", "\xF0\x9F\x98\x80", 4, 4},   /* U+1F600 */
        {"utf8-1.5", "\xC0\xAF", 2, 0},           /* overlong '/' */
        {"utf8-1.6", "\xE0\x80\xAF", 3, 0},       /* overlong, 3 bytes */
        {"utf8-1.7", "\xED\xA0\x80", 3, 0},       /* surrogate D800 */
        {"utf8-1.8", "\xF4\x90\x80\x80", 4, 0},   /* above U+10FFFF */
        {"utf8-1.9", "\xFF", 1, 0},
        {"utf8-1.10", "\xE2\x82", 2, 0},          /* truncated */
        {"utf8-1.11", "\x80", 1, 0},              /* lone continuation */
        {"utf8-1.12", "\xC3\x28", 2, 0},          /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = gr_utf8_seq_len((const unsigned char *)cases[i].bytes, cases[i].len);
        if (n != cases[i].want) fail_msg("%s: %zu, want %zu", cases[i].id, n, cases[i].want);
    }
    assert_int_equal(gr_utf8_seq_len((const unsigned char *)"", 0), 0);
}

/* utf8-2.x: repair keeps valid text and replaces each bad byte with U+FFFD */
static void test_sanitize(void **state) {
    char *s = gr_utf8_sanitize_dup("caf\xC3\xA9 ok");
    assert_string_equal(s, "caf\xC3\xA9 ok");
    assert_true(gr_utf8_valid(s, strlen(s)));
    free(s);
    s = gr_utf8_sanitize_dup("bad-\xFF\xFE\xC3");
    assert_string_equal(s, "bad-\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_true(gr_utf8_valid(s, strlen(s)));
    free(s);
    assert_false(gr_utf8_valid("\xED\xA0\x80", 3));
    assert_null(gr_utf8_sanitize_dup(NULL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_len),
        cmocka_unit_test(test_sanitize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
